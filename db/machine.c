/*
 * Machines and their slots as configured by admins.  Whether a machine is
 * online is not stored: the server's machine registry knows that.
 */
#include <string.h>

#include "db-int.h"

int
db_machines(struct db *db, cJSON *array)
{
	sqlite3 *h = db_read_begin(db);
	sqlite3_stmt *st;
	cJSON *m;
	int r = -1;

	st = db_prep(h, "SELECT name, display, enabled, temperature"
	    " FROM machines ORDER BY name", "");
	while (st != NULL && (r = db_step(st)) == 1) {
		m = cJSON_CreateObject();
		db_col_json(m, "machine", st, 0);
		db_col_json(m, "name", st, 1);
		cJSON_AddBoolToObject(m, "online", 0);
		cJSON_AddBoolToObject(m, "enabled", sqlite3_column_int(st, 2));
		db_col_json(m, "temperature", st, 3);
		cJSON_AddItemToArray(array, m);
	}
	sqlite3_finalize(st);
	db_read_end(db, h);
	return r == 0 ? ERR_NONE : ERR_INTERNAL;
}

/* Finish a one-statement write: no row changed means no such machine. */
static int
db_machine_changed(struct db *db, sqlite3 *h, int ran)
{
	int rc = ERR_INTERNAL;

	if (ran == 0) {
		rc = sqlite3_changes(h) > 0 ? ERR_NONE : ERR_NO_SUCH_MACHINE;
	}
	return db_write_end(db, rc);
}

/* A machine's name may be neither a machine's nor a user's already. */
int
db_machine_add(struct db *db, const char *name, const char *display)
{
	sqlite3 *h;
	int rc = ERR_INTERNAL;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	if (db_name_taken(h, name) != NULL) {
		rc = ERR_EXISTS;
	} else if (db_run(h, "INSERT INTO machines (name, display, created)"
	    " VALUES (?, ?, ?)", "ttl", name, display, db_now()) == 0) {
		rc = ERR_NONE;
	}
	return db_write_end(db, rc);
}

int
db_machine_mod(struct db *db, const char *name, const char *display,
    int enabled)
{
	sqlite3 *h;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	return db_machine_changed(db, h, db_run(h, "UPDATE machines SET"
	    " display = coalesce(?, display), enabled = CASE WHEN ? < 0"
	    " THEN enabled ELSE ? END WHERE name = ?", "tiit", display,
	    enabled, enabled, name));
}

int
db_machine_del(struct db *db, const char *name)
{
	sqlite3 *h;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	return db_machine_changed(db, h, db_run(h,
	    "DELETE FROM machines WHERE name = ?", "t", name));
}

static cJSON *
db_slot_json(sqlite3_stmt *st)
{
	cJSON *s = cJSON_CreateObject();

	db_col_json(s, "slot", st, 0);
	db_col_json(s, "item", st, 1);
	db_col_json(s, "price", st, 2);
	db_col_json(s, "stock", st, 3);
	cJSON_AddBoolToObject(s, "enabled", sqlite3_column_int(st, 4));
	return s;
}

static int
db_machine_exists(sqlite3 *h, const char *machine)
{
	sqlite3_stmt *st;
	int r;

	st = db_prep(h, "SELECT 1 FROM machines WHERE name = ?", "t", machine);
	r = st != NULL ? db_step(st) : -1;
	sqlite3_finalize(st);
	return r;
}

int
db_slots(struct db *db, const char *machine, cJSON *array)
{
	sqlite3 *h = db_read_begin(db);
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = db_machine_exists(h, machine)) != 1) {
		db_read_end(db, h);
		return r == 0 ? ERR_NO_SUCH_MACHINE : ERR_INTERNAL;
	}
	st = db_prep(h, "SELECT slot, item, price, stock, enabled FROM slots"
	    " WHERE machine = ? ORDER BY slot", "t", machine);
	r = -1;
	while (st != NULL && (r = db_step(st)) == 1) {
		cJSON_AddItemToArray(array, db_slot_json(st));
	}
	sqlite3_finalize(st);
	db_read_end(db, h);
	return r == 0 ? ERR_NONE : ERR_INTERNAL;
}

int
db_slot_set(struct db *db, const char *machine, int slot, const char *item,
    int64_t price, int64_t stock, int enabled, cJSON *out)
{
	sqlite3 *h;
	sqlite3_stmt *st = NULL;
	cJSON *s, *c;
	int rc = ERR_INTERNAL, r;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	if ((r = db_machine_exists(h, machine)) != 1) {
		rc = r == 0 ? ERR_NO_SUCH_MACHINE : ERR_INTERNAL;
		goto out;
	}
	/*
	 * A new slot is set up whole, with what it sells and for how much:
	 * one without would be listed, and dropped from, as nothing for
	 * nothing.  Checked in the write, so a slot made meanwhile counts.
	 */
	if (item == NULL || price < 0) {
		st = db_prep(h, "SELECT 1 FROM slots WHERE machine = ? AND"
		    " slot = ?", "ti", machine, slot);
		r = st != NULL ? db_step(st) : -1;
		sqlite3_finalize(st);
		st = NULL;
		if (r != 1) {
			rc = r == 0 ? ERR_BAD_REQUEST : ERR_INTERNAL;
			goto out;
		}
	}
	if (db_run(h, "INSERT INTO slots (machine, slot, item, price, stock,"
	    " enabled) VALUES (?1, ?2, coalesce(?3, ''), max(?4, 0),"
	    " max(?5, 0), CASE WHEN ?6 < 0 THEN 1 ELSE ?6 END)"
	    " ON CONFLICT (machine, slot) DO UPDATE SET"
	    " item = coalesce(?3, item),"
	    " price = CASE WHEN ?4 < 0 THEN price ELSE ?4 END,"
	    " stock = CASE WHEN ?5 < 0 THEN stock ELSE ?5 END,"
	    " enabled = CASE WHEN ?6 < 0 THEN enabled ELSE ?6 END",
	    "titlli", machine, slot, item, price, stock, enabled) != 0) {
		goto out;
	}
	st = db_prep(h, "SELECT slot, item, price, stock, enabled FROM slots"
	    " WHERE machine = ? AND slot = ?", "ti", machine, slot);
	if (st == NULL || db_step(st) != 1) {
		goto out;
	}
	s = db_slot_json(st);
	while ((c = s->child) != NULL) {
		cJSON_AddItemToObject(out, c->string,
		    cJSON_DetachItemViaPointer(s, c));
	}
	cJSON_Delete(s);
	rc = ERR_NONE;
out:
	sqlite3_finalize(st);
	return db_write_end(db, rc);
}

int
db_machine_allowed(struct db *db, const char *name)
{
	sqlite3 *h = db_read_begin(db);
	sqlite3_stmt *st;
	int rc = ERR_INTERNAL, r;

	st = db_prep(h, "SELECT enabled FROM machines WHERE name = ?", "t",
	    name);
	if (st != NULL && (r = db_step(st)) >= 0) {
		rc = r == 0 ? ERR_NO_SUCH_MACHINE :
		    sqlite3_column_int(st, 0) ? ERR_NONE : ERR_FORBIDDEN;
	}
	sqlite3_finalize(st);
	db_read_end(db, h);
	return rc;
}

int
db_stock_count(const cJSON *e, int *slot, int64_t *stock)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "slot");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "stock");

	if (!cJSON_IsNumber(n) || !cJSON_IsNumber(c) ||
	    n->valuedouble < 1 || n->valuedouble > 255 ||
	    c->valuedouble < 0 || c->valuedouble > PROTO_MAX_AMOUNT) {
		return 0;
	}
	*slot = (int)n->valuedouble;
	*stock = (int64_t)c->valuedouble;
	return 1;
}

int
db_machine_stock(struct db *db, const char *name, const cJSON *slots)
{
	const cJSON *e;
	int64_t stock;
	sqlite3 *h;
	int slot, rc = ERR_INTERNAL;

	/* Checked before the write: a bad report is bad, storage or not. */
	cJSON_ArrayForEach(e, slots) {
		if (!db_stock_count(e, &slot, &stock)) {
			return ERR_BAD_REQUEST;
		}
	}
	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	cJSON_ArrayForEach(e, slots) {
		(void)db_stock_count(e, &slot, &stock);
		if (db_run(h, "UPDATE slots SET stock = ? WHERE machine = ?"
		    " AND slot = ?", "lti", stock, name, slot) != 0) {
			goto out;
		}
	}
	rc = ERR_NONE;
out:
	return db_write_end(db, rc);
}

/* A vend of slot, inside an open write: 0, or -1 on error. */
int
machine_vended(sqlite3 *h, const char *name, int slot, int64_t stock)
{
	return stock >= 0 ?
	    db_run(h, "UPDATE slots SET stock = ? WHERE machine = ?"
	    " AND slot = ?", "lti", stock, name, slot) :
	    db_run(h, "UPDATE slots SET stock = max(stock - 1, 0)"
	    " WHERE machine = ? AND slot = ?", "ti", name, slot);
}

int
db_machine_vended(struct db *db, const char *name, int slot, int64_t stock)
{
	sqlite3 *h;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	return db_write_end(db, machine_vended(h, name, slot, stock) == 0 ?
	    ERR_NONE : ERR_INTERNAL);
}

int
db_machine_temperature(struct db *db, const char *name, double celsius)
{
	sqlite3 *h;
	int rc = ERR_INTERNAL;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	if (db_run(h, "UPDATE machines SET temperature = ?, temp_time = ?"
	    " WHERE name = ?", "dlt", celsius, db_now(), name) == 0 &&
	    db_run(h, "INSERT INTO temperatures (machine, time, celsius)"
	    " VALUES (?, ?, ?)", "tld", name, db_now(), celsius) == 0) {
		rc = ERR_NONE;
	}
	return db_write_end(db, rc);
}

int
db_machine_legacy_set(struct db *db, const char *name, const char *hash)
{
	sqlite3 *h;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	return db_machine_changed(db, h, db_run(h, "UPDATE machines SET"
	    " legacy_hash = ? WHERE name = ?", "tt", hash, name));
}

int
db_machine_legacy_get(struct db *db, const char *name, char *hash,
    size_t len)
{
	sqlite3 *h = db_read_begin(db);
	sqlite3_stmt *st;
	int rc = ERR_INTERNAL, r;

	st = db_prep(h, "SELECT legacy_hash FROM machines WHERE name = ?",
	    "t", name);
	if (st != NULL && (r = db_step(st)) >= 0) {
		rc = r == 1 ? ERR_NONE : ERR_NO_SUCH_MACHINE;
		hash[0] = '\0';
		if (r == 1 && sqlite3_column_type(st, 0) != SQLITE_NULL) {
			snprintf(hash, len, "%s", db_col_text(st, 0));
		}
	}
	sqlite3_finalize(st);
	db_read_end(db, h);
	return rc;
}

int
db_machine_slot_state(struct db *db, const char *name, int slot,
    int stocked)
{
	sqlite3 *h;
	int rc = ERR_INTERNAL;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	if (db_run(h, "UPDATE slots SET stock = CASE WHEN ? = 0 THEN 0"
	    " WHEN stock = 0 THEN 1 ELSE stock END"
	    " WHERE machine = ? AND slot = ?", "iti", stocked, name,
	    slot) == 0) {
		rc = sqlite3_changes(h) == 1 ? ERR_NONE : ERR_NO_SUCH_SLOT;
	}
	return db_write_end(db, rc);
}
