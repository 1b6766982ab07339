/*
 * Login tokens (PROTOCOL.md section 10).  The secret itself is never
 * stored: the server keeps a SHA-256 of it, so a copy of the database does
 * not log anyone in.  A revoked token is deleted; an expired one is
 * refused and pruned when its owner next creates one.
 */
#include <stdio.h>
#include <string.h>

#include "db-int.h"

int
db_token_add(struct db *db, const char *user, const char *hash,
    const char *label, int days, int64_t *id, int64_t *expires)
{
	sqlite3 *h;
	int64_t now = db_now();
	int rc = ERR_INTERNAL;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	*expires = now + (int64_t)days * 86400;
	if (db_run(h, "DELETE FROM tokens WHERE user = ? AND expires <= ?",
	    "tl", user, now) != 0 ||
	    db_run(h, "INSERT INTO tokens (user, hash, label, created, expires)"
	    " VALUES (?, ?, ?, ?, ?)", "tttll", user, hash,
	    label != NULL ? label : "", now, *expires) != 0) {
		goto out;
	}
	*id = sqlite3_last_insert_rowid(h);
	rc = ERR_NONE;
out:
	return db_write_end(db, rc);
}

int
db_tokens(struct db *db, const char *user, cJSON *array)
{
	sqlite3 *h = db_read_begin(db);
	sqlite3_stmt *st;
	cJSON *t;
	int r = -1;

	st = db_prep(h, "SELECT id, label, created, last_used, expires"
	    " FROM tokens WHERE user = ? AND expires > ? ORDER BY id", "tl",
	    user, db_now());
	while (st != NULL && (r = db_step(st)) == 1) {
		t = cJSON_CreateObject();
		db_col_json(t, "token_id", st, 0);
		db_col_json(t, "label", st, 1);
		db_col_json(t, "created", st, 2);
		db_col_json(t, "last_used", st, 3);
		db_col_json(t, "expires", st, 4);
		cJSON_AddItemToArray(array, t);
	}
	sqlite3_finalize(st);
	db_read_end(db, h);
	return r == 0 ? ERR_NONE : ERR_INTERNAL;
}

int
db_token_revoke(struct db *db, const char *user, int64_t id)
{
	sqlite3 *h;
	int rc = ERR_INTERNAL;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	if (db_run(h, "DELETE FROM tokens WHERE id = ? AND user = ?", "lt", id,
	    user) == 0) {
		rc = sqlite3_changes(h) == 1 ? ERR_NONE : ERR_BAD_REQUEST;
	}
	return db_write_end(db, rc);
}

int
db_token_use(struct db *db, const char *hash, char *user, size_t len,
    int64_t *id, int64_t *expires)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int rc = ERR_INTERNAL, r;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	st = db_prep(h, "UPDATE tokens SET last_used = ?"
	    " WHERE hash = ? AND expires > ? RETURNING user, id, expires",
	    "ltl",
	    db_now(),
	    hash, db_now());
	if (st != NULL && (r = db_step(st)) >= 0) {
		rc = ERR_BAD_CREDENTIALS;
		if (r == 1) {
			snprintf(user, len, "%s", db_col_text(st, 0));
			*id = sqlite3_column_int64(st, 1);
			*expires = sqlite3_column_int64(st, 2);
			rc = ERR_NONE;
		}
		/* RETURNING: the row is written when the statement ends. */
		while (r == 1) {
			r = db_step(st);
		}
		if (r < 0) {
			rc = ERR_INTERNAL;
		}
	}
	sqlite3_finalize(st);
	return db_write_end(db, rc);
}

int
db_token_live(struct db *db, int64_t id)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int rc = ERR_INTERNAL, r;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	st = db_prep(h, "SELECT 1 FROM tokens WHERE id = ? AND expires > ?",
	    "ll", id, db_now());
	if (st != NULL && (r = db_step(st)) >= 0) {
		rc = r == 1 ? ERR_NONE : ERR_BAD_CREDENTIALS;
	}
	sqlite3_finalize(st);
	return db_write_end(db, rc);
}
