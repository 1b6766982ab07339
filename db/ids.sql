-- Schema version 7: a login token's or a card's id is never given again.
-- A client keeps the id it was given to revoke or unbind that one later
-- (drink keeps its token's, the web app its browser's); a plain INTEGER
-- PRIMARY KEY hands the highest id out again once its row is deleted, so
-- revoking a token elsewhere and logging in on a third device gave the
-- new token the old id, and the first client's revocation then ended the
-- third device's login.  AUTOINCREMENT never reuses an id; the tables are
-- rebuilt with it, rows and ids kept (nothing refers to them).
CREATE TABLE tokens_v7 (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	user		TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	hash		TEXT NOT NULL UNIQUE,
	label		TEXT NOT NULL DEFAULT '',
	created		INTEGER NOT NULL,
	last_used	INTEGER,
	expires		INTEGER NOT NULL
);
INSERT INTO tokens_v7 (id, user, hash, label, created, last_used, expires)
	SELECT id, user, hash, label, created, last_used, expires FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_v7 RENAME TO tokens;
CREATE INDEX tokens_user ON tokens (user);

CREATE TABLE cards_v7 (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	hash		TEXT NOT NULL UNIQUE,
	account		INTEGER NOT NULL REFERENCES accounts (id),
	label		TEXT NOT NULL DEFAULT '',
	created		INTEGER NOT NULL,
	last_used	INTEGER
);
INSERT INTO cards_v7 (id, hash, account, label, created, last_used)
	SELECT id, hash, account, label, created, last_used FROM cards;
DROP TABLE cards;
ALTER TABLE cards_v7 RENAME TO cards;
CREATE INDEX cards_account ON cards (account);
