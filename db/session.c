/*
 * The recorded client list and the audit trail.  Session ids come from
 * this table, so they stay unique across restarts.
 */
#include "db-int.h"

/* Finish a one-statement write transaction. */
static int
db_session_done(struct db *db, int ran)
{
	return db_write_end(db, ran == 0 ? ERR_NONE : ERR_INTERNAL);
}

int
db_session_open(struct db *db, const char *kind, const char *address,
    int port, int64_t *id)
{
	sqlite3 *h;
	int rc = ERR_INTERNAL;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	if (db_run(h, "INSERT INTO sessions (kind, address, port, started)"
	    " VALUES (?, ?, ?, ?)", "ttil", kind, address, port,
	    db_now()) == 0) {
		*id = sqlite3_last_insert_rowid(h);
		rc = ERR_NONE;
	}
	return db_write_end(db, rc);
}

int
db_session_name(struct db *db, int64_t id, const char *user,
    const char *machine)
{
	sqlite3 *h;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	return db_session_done(db, db_run(h, "UPDATE sessions SET user = ?,"
	    " machine = ? WHERE id = ?", "ttl", user, machine, id));
}

int
db_session_close(struct db *db, int64_t id)
{
	sqlite3 *h;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	return db_session_done(db, db_run(h, "UPDATE sessions SET ended = ?"
	    " WHERE id = ?", "ll", db_now(), id));
}

int
db_session_close_stale(struct db *db)
{
	sqlite3 *h;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	return db_session_done(db, db_run(h, "UPDATE sessions SET ended = ?"
	    " WHERE ended IS NULL", "l", db_now()));
}

int
db_audit(struct db *db, int64_t session, const char *actor, const char *cmd,
    const char *args, const char *result)
{
	sqlite3 *h;
	int rc = ERR_INTERNAL;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	if (db_run(h, "INSERT INTO audit (time, session, actor, cmd, args,"
	    " result) VALUES (?, nullif(?, 0), ?, ?, ?, ?)", "llttt" "t",
	    db_now(), session, actor, cmd, args, result) == 0) {
		rc = ERR_NONE;
	}
	return db_write_end(db, rc);
}
