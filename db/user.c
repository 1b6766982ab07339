/*
 * Users: each is a row in `users` and its own account in `accounts`.
 */
#include <stdio.h>
#include <string.h>

#include "db-int.h"

/*
 * User and machine names share one namespace: a certificate's CN, the
 * session list and the audit log name either, so a name must say which.
 */
const char *
db_name_taken(sqlite3 *h, const char *name)
{
	sqlite3_stmt *st;
	const char *owner = NULL;
	int r;

	st = db_prep(h, "SELECT 'user' FROM users WHERE name = ?1"
	    " UNION ALL SELECT 'machine' FROM machines WHERE name = ?1", "t",
	    name);
	if (st != NULL && (r = db_step(st)) == 1) {
		owner = strcmp(db_col_text(st, 0), "user") == 0 ? "user" :
		    "machine";
	}
	sqlite3_finalize(st);
	return owner;
}

const char *
db_name_owner(struct db *db, const char *name)
{
	sqlite3 *h = db_read_begin(db);
	const char *owner = db_name_taken(h, name);

	db_read_end(db, h);
	return owner;
}

/*
 * A database made before names became one namespace may hold a user and a
 * machine of the same name.  Each still logs in only on its own port and
 * each command says which kind it names, so the server starts; but
 * sessions and the audit log cannot tell the two apart, so each such name
 * is logged, with the way out.  How many there are, or -1.
 */
int
db_name_clashes(struct db *db)
{
	sqlite3 *h = db_read_begin(db);
	sqlite3_stmt *st;
	int n = 0;

	st = db_prep(h, "SELECT u.name FROM users u JOIN machines m"
	    " ON m.name = u.name ORDER BY u.name", "");
	while (st != NULL && db_step(st) == 1) {
		log_warn("database: \"%s\" is both a user and a machine (made "
		    "before user and machine names became one namespace); "
		    "sessions and the audit log cannot tell them apart: "
		    "rename the machine (machine_del, then machine_add under "
		    "a new name with a certificate of that name)",
		    db_col_text(st, 0));
		n++;
	}
	sqlite3_finalize(st);
	db_read_end(db, h);
	return st == NULL ? -1 : n;
}

static int
db_user_insert(sqlite3 *h, struct db_move *m, int64_t actor, cJSON *res,
    int64_t *tx)
{
	struct ledger_tx t = { .kind = "credit", .state = "completed",
		.note = "initial balance" };
	int64_t account;

	if (db_name_taken(h, m->user) != NULL ||
	    ledger_account_id(h, m->user, NULL) != 0) {
		return ERR_EXISTS;
	}
	if (db_run(h, "INSERT INTO accounts (name) VALUES (?)", "t",
	    m->user) != 0) {
		return ERR_INTERNAL;
	}
	account = sqlite3_last_insert_rowid(h);
	if (db_run(h, "INSERT INTO users (account, name, role, hash, created)"
	    " VALUES (?, ?, ?, ?, ?)", "ltttl", account, m->user, m->role,
	    m->hash, db_now()) != 0) {
		return ERR_INTERNAL;
	}
	if (m->amount > 0) {
		t.account = account;
		t.amount = m->amount;
		t.actor = actor > 0 ? actor : account;
		t.from = ledger_account_id(h, "@deposits", NULL);
		t.to = account;
		t.moved = m->amount;
		if (t.from <= 0 || (*tx = ledger_post(h, &t)) < 0) {
			return ERR_INTERNAL;
		}
	}
	cJSON_AddStringToObject(res, "user", m->user);
	return ERR_NONE;
}

int
db_user_create(struct db *db, struct db_move *m, cJSON *reply)
{
	return ledger_apply(db, m, db_user_insert, reply);
}

int
db_user_add(struct db *db, const char *actor, const char *name,
    const char *hash, const char *role, int64_t balance)
{
	struct db_move m = { .actor = actor, .user = name, .amount = balance,
		.role = role, .hash = hash };
	cJSON *reply = cJSON_CreateObject();
	int rc = db_user_create(db, &m, reply);

	cJSON_Delete(reply);
	return rc;
}

int
db_user_get(struct db *db, const char *name, struct db_user *u)
{
	sqlite3 *h = db_read_begin(db);
	sqlite3_stmt *st;
	int rc = ERR_INTERNAL, r;

	st = db_prep(h, "SELECT u.name, u.role, u.hash, u.disabled, a.balance"
	    " FROM users u JOIN accounts a ON a.id = u.account"
	    " WHERE u.name = ?", "t", name);
	if (st != NULL && (r = db_step(st)) >= 0) {
		rc = ERR_NO_SUCH_USER;
		if (r == 1) {
			memset(u, 0, sizeof(*u));
			snprintf(u->name, sizeof(u->name), "%s",
			    db_col_text(st, 0));
			snprintf(u->role, sizeof(u->role), "%s",
			    db_col_text(st, 1));
			snprintf(u->hash, sizeof(u->hash), "%s",
			    db_col_text(st, 2));
			u->disabled = sqlite3_column_int(st, 3);
			u->balance = sqlite3_column_int64(st, 4);
			rc = ERR_NONE;
		}
	}
	sqlite3_finalize(st);
	db_read_end(db, h);
	return rc;
}

/*
 * 1 when name is the only enabled admin, 0 when not, -1 on error.  Asked
 * inside the write that would demote or disable them: writes are one at a
 * time, so two admins demoting each other cannot both pass.
 */
static int
db_user_last_admin(sqlite3 *h, const char *name)
{
	sqlite3_stmt *st;
	int r, last = -1;

	st = db_prep(h, "SELECT EXISTS (SELECT 1 FROM users WHERE name = ?1"
	    " AND role = 'admin' AND disabled = 0) AND NOT EXISTS (SELECT 1"
	    " FROM users WHERE name <> ?1 AND role = 'admin'"
	    " AND disabled = 0)", "t", name);
	if (st != NULL && (r = db_step(st)) == 1) {
		last = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	return last;
}

int
db_user_mod(struct db *db, const char *name, const char *role, int disabled,
    const char *hash, int keep_admin)
{
	sqlite3 *h;
	int rc = ERR_INTERNAL, last = 0;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	/* The club keeps at least one enabled admin. */
	if (keep_admin && ((role != NULL && strcmp(role, "admin") != 0) ||
	    disabled == 1)) {
		if ((last = db_user_last_admin(h, name)) != 0) {
			rc = last == 1 ? ERR_CONFLICT : ERR_INTERNAL;
			goto out;
		}
	}
	if (db_run(h, "UPDATE users SET role = coalesce(?, role),"
	    " disabled = CASE WHEN ? < 0 THEN disabled ELSE ? END,"
	    " hash = coalesce(?, hash) WHERE name = ?", "tiitt", role,
	    disabled, disabled, hash, name) != 0) {
		goto out;
	}
	rc = sqlite3_changes(h) == 1 ? ERR_NONE : ERR_NO_SUCH_USER;
	/* A disabled user or a new password ends every login token. */
	if (rc == ERR_NONE && (disabled == 1 || hash != NULL) &&
	    db_run(h, "DELETE FROM tokens WHERE user = ?", "t", name) != 0) {
		rc = ERR_INTERNAL;
	}
out:
	return db_write_end(db, rc);
}

int
db_users(struct db *db, cJSON *array)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	cJSON *u;
	int r = -1;

	db_book_flush(db);	/* last_seen as of now */
	h = db_read_begin(db);
	st = db_prep(h, "SELECT u.name, u.role, a.balance, u.disabled,"
	    " u.last_seen FROM users u JOIN accounts a ON a.id = u.account"
	    " ORDER BY u.name", "");
	while (st != NULL && (r = db_step(st)) == 1) {
		u = cJSON_CreateObject();
		db_col_json(u, "user", st, 0);
		db_col_json(u, "role", st, 1);
		db_col_json(u, "balance", st, 2);
		cJSON_AddBoolToObject(u, "disabled",
		    sqlite3_column_int(st, 3));
		db_col_json(u, "last_seen", st, 4);
		cJSON_AddItemToArray(array, u);
	}
	sqlite3_finalize(st);
	db_read_end(db, h);
	return r == 0 ? ERR_NONE : ERR_INTERNAL;
}
