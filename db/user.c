/*
 * Users: each is a row in `users` and its own account in `accounts`.
 */
#include <stdio.h>
#include <string.h>

#include "db-int.h"

int
db_user_add(struct db *db, const char *actor, const char *name,
    const char *hash, const char *role, int64_t balance)
{
	sqlite3 *h;
	int64_t account, deposits, actor_id = 0;
	int rc = ERR_INTERNAL;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	if (ledger_account_id(h, name, NULL) > 0) {
		rc = ERR_EXISTS;
		goto out;
	}
	if (actor != NULL && (actor_id = ledger_account_id(h, actor, NULL)) <
	    0) {
		goto out;
	}
	if (db_run(h, "INSERT INTO accounts (name) VALUES (?)", "t", name) !=
	    0) {
		goto out;
	}
	account = sqlite3_last_insert_rowid(h);
	if (db_run(h, "INSERT INTO users (account, name, role, hash, created)"
	    " VALUES (?, ?, ?, ?, ?)", "ltttl", account, name, role, hash,
	    db_now()) != 0) {
		goto out;
	}
	if (balance > 0) {
		deposits = ledger_account_id(h, "@deposits", NULL);
		struct ledger_tx t = { .kind = "credit", .state = "completed",
			.account = account, .amount = balance,
			.actor = actor_id > 0 ? actor_id : account,
			.note = "initial balance", .to = account,
			.moved = balance };

		t.from = deposits;
		if (deposits <= 0 || ledger_post(h, &t) < 0) {
			goto out;
		}
	}
	rc = ERR_NONE;
out:
	return db_write_end(db, rc);
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

int
db_user_mod(struct db *db, const char *name, const char *role, int disabled,
    const char *hash)
{
	sqlite3 *h;
	int rc = ERR_INTERNAL;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
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
db_user_seen(struct db *db, const char *name)
{
	sqlite3 *h;
	int rc = ERR_INTERNAL;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	if (db_run(h, "UPDATE users SET last_seen = ? WHERE name = ?", "lt",
	    db_now(), name) == 0) {
		rc = ERR_NONE;
	}
	return db_write_end(db, rc);
}

int
db_users(struct db *db, cJSON *array)
{
	sqlite3 *h = db_read_begin(db);
	sqlite3_stmt *st;
	cJSON *u;
	int r = -1;

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

int
db_balance(struct db *db, const char *name, int64_t *balance)
{
	sqlite3 *h = db_read_begin(db);
	sqlite3_stmt *st;
	int rc = ERR_INTERNAL, r;

	st = db_prep(h, "SELECT a.balance FROM users u JOIN accounts a"
	    " ON a.id = u.account WHERE u.name = ?", "t", name);
	if (st != NULL && (r = db_step(st)) >= 0) {
		rc = r == 1 ? ERR_NONE : ERR_NO_SUCH_USER;
		if (r == 1) {
			*balance = sqlite3_column_int64(st, 0);
		}
	}
	sqlite3_finalize(st);
	db_read_end(db, h);
	return rc;
}
