-- Schema version 3: login tokens (PROTOCOL.md section 10).  Only a
-- SHA-256 of each token is stored; a revoked token is deleted.
CREATE TABLE tokens (
	id		INTEGER PRIMARY KEY,
	user		TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	hash		TEXT NOT NULL UNIQUE,
	label		TEXT NOT NULL DEFAULT '',
	created		INTEGER NOT NULL,
	last_used	INTEGER,
	expires		INTEGER NOT NULL
);
CREATE INDEX tokens_user ON tokens (user);
