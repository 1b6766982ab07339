-- drink ledger schema, version 1.
--
-- Money is an integer number of credits.  Every movement is a row in `tx`
-- with two or more `entries` summing to zero; `accounts.balance` is a cache
-- of the entries, updated in the same transaction and re-derived by
-- `drinkd check-ledger`.  System accounts (names starting with '@') absorb
-- the other side of money entering and leaving the club, so the sum of
-- all balances is always zero.

CREATE TABLE accounts (
	id	INTEGER PRIMARY KEY,
	name	TEXT NOT NULL UNIQUE,
	system	INTEGER NOT NULL DEFAULT 0 CHECK (system IN (0, 1)),
	balance	INTEGER NOT NULL DEFAULT 0,
	CHECK (system = 1 OR balance >= 0)
);

INSERT INTO accounts (name, system) VALUES
	('@deposits', 1), ('@sales', 1), ('@holds', 1), ('@adjustments', 1);

CREATE TABLE users (
	account		INTEGER PRIMARY KEY REFERENCES accounts (id),
	name		TEXT NOT NULL UNIQUE,
	role		TEXT NOT NULL CHECK (role IN ('member', 'admin')),
	hash		TEXT NOT NULL,
	disabled	INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
	created		INTEGER NOT NULL,
	last_seen	INTEGER
);

CREATE TABLE machines (
	name		TEXT PRIMARY KEY,
	display		TEXT NOT NULL,
	enabled		INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
	temperature	REAL,
	temp_time	INTEGER,
	created		INTEGER NOT NULL
);

CREATE TABLE slots (
	machine	TEXT NOT NULL REFERENCES machines (name) ON DELETE CASCADE,
	slot	INTEGER NOT NULL CHECK (slot BETWEEN 1 AND 255),
	item	TEXT NOT NULL DEFAULT '',
	price	INTEGER NOT NULL DEFAULT 0 CHECK (price >= 0),
	stock	INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0),
	enabled	INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
	PRIMARY KEY (machine, slot)
);

-- One row per money movement.  `amount` is signed from the point of view
-- of `account` (the member it concerns): a drop is -price, a credit +n.
-- For a transfer `account` is the sender and `counterparty` the recipient.
-- Machine and item are copied, not referenced: history outlives machines.
CREATE TABLE tx (
	id		INTEGER PRIMARY KEY,
	kind		TEXT NOT NULL CHECK (kind IN
			    ('drop', 'refund', 'transfer', 'credit', 'debit',
			     'adjust')),
	state		TEXT NOT NULL CHECK (state IN
			    ('pending', 'completed', 'failed')),
	account		INTEGER NOT NULL REFERENCES accounts (id),
	counterparty	INTEGER REFERENCES accounts (id),
	actor		INTEGER REFERENCES accounts (id),
	amount		INTEGER NOT NULL,
	machine		TEXT,
	slot		INTEGER,
	item		TEXT,
	note		TEXT,
	refund_of	INTEGER REFERENCES tx (id),
	created		INTEGER NOT NULL,
	settled		INTEGER
);
CREATE INDEX tx_account ON tx (account, id);
CREATE INDEX tx_counterparty ON tx (counterparty, id)
	WHERE counterparty IS NOT NULL;
CREATE INDEX tx_pending ON tx (state) WHERE state = 'pending';
CREATE UNIQUE INDEX tx_refund_of ON tx (refund_of)
	WHERE refund_of IS NOT NULL;

CREATE TABLE entries (
	id	INTEGER PRIMARY KEY,
	tx	INTEGER NOT NULL REFERENCES tx (id),
	account	INTEGER NOT NULL REFERENCES accounts (id),
	amount	INTEGER NOT NULL
);
-- (Both dropped in schema version 4, entries.sql.)
CREATE INDEX entries_tx ON entries (tx);
CREATE INDEX entries_account ON entries (account);

-- Idempotency keys: the first successful reply to (user, key) is kept and
-- replayed verbatim; `request` is the canonical form of the arguments, so
-- a reuse with different arguments is recognised as a conflict.
CREATE TABLE idem (
	account	INTEGER NOT NULL REFERENCES accounts (id),
	key	TEXT NOT NULL,
	request	TEXT NOT NULL,
	reply	TEXT NOT NULL,
	tx	INTEGER REFERENCES tx (id),
	created	INTEGER NOT NULL,
	PRIMARY KEY (account, key)
);

-- Every connection on either port: who, from where, when, until when.
CREATE TABLE sessions (
	id	INTEGER PRIMARY KEY,
	kind	TEXT NOT NULL CHECK (kind IN ('member', 'machine')),
	user	TEXT,
	machine	TEXT,
	address	TEXT NOT NULL,
	port	INTEGER NOT NULL,
	started	INTEGER NOT NULL,
	ended	INTEGER
);

-- Every admin command, with its arguments (passwords removed).
CREATE TABLE audit (
	id	INTEGER PRIMARY KEY,
	time	INTEGER NOT NULL,
	session	INTEGER,
	actor	TEXT NOT NULL,
	cmd	TEXT NOT NULL,
	args	TEXT NOT NULL,
	result	TEXT NOT NULL
);

CREATE TABLE temperatures (
	machine	TEXT NOT NULL,
	time	INTEGER NOT NULL,
	celsius	REAL NOT NULL
);
CREATE INDEX temperatures_machine ON temperatures (machine, time);
