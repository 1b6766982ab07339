-- Schema version 2: cards at the machine, and legacy board passwords.
--
-- A card is known only by a keyed hash of its UID (HMAC-SHA256 under
-- settings.card_key, lower-case hex UID as the message), so the table
-- never holds a UID that could be copied onto a blank card.  The key is
-- made here, once, from SQLite's CSPRNG and lives with the data it
-- protects: a backup restores working cards.
CREATE TABLE settings (
	name	TEXT PRIMARY KEY,
	value	TEXT NOT NULL
);
INSERT INTO settings (name, value)
	VALUES ('card_key', lower(hex(randomblob(32))));

CREATE TABLE cards (
	id		INTEGER PRIMARY KEY,
	hash		TEXT NOT NULL UNIQUE,
	account		INTEGER NOT NULL REFERENCES accounts (id),
	label		TEXT NOT NULL DEFAULT '',
	created		INTEGER NOT NULL,
	last_used	INTEGER
);
CREATE INDEX cards_account ON cards (account);

-- A tini board's login password (LEGACY.md), hashed like user passwords.
ALTER TABLE machines ADD COLUMN legacy_hash TEXT;
