/*
 * Opening the database, migrations, the writer lock and the reader pool,
 * and the statement helpers every other file in db/ uses.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db-int.h"
#include "schema.h"
#include "cards-sql.h"
#include "tokens-sql.h"
#include "entries-sql.h"
#include "idem-sql.h"
#include "txcheck-sql.h"
#include "ids-sql.h"


/*
 * Migrations, indexed by the version they produce.  Version 1 is the whole
 * schema; a later change appends an ALTER script here and bumps
 * DB_SCHEMA_VERSION, and databases of any older version catch up in order.
 * A script that edits a table's stored text (writable_schema) names a
 * query that is true once the edit took: the text it replaces must have
 * been the one the schema wrote.
 */
struct db_migration {
	const char *sql;
	const char *edited;
};

static const struct db_migration db_migrations[DB_SCHEMA_VERSION + 1] = {
	[1] = { db_schema_sql, NULL },
	[2] = { db_cards_sql, NULL },
	/* Login tokens: a SHA-256 of the secret, never the secret. */
	[3] = { db_tokens_sql, NULL },
	/* No indexes on entries: only check-ledger reads them, whole. */
	[4] = { db_entries_sql, NULL },
	/* A keyed drop's settlement finds its key by tx. */
	[5] = { db_idem_sql, NULL },
	/* tx's CHECKs without IN lists: no temporary b-tree per write. */
	[6] = { db_txcheck_sql, "SELECT instr(sql, 'CHECK (kind = ''drop'' OR')"
	    " > 0 AND instr(sql, 'CHECK (state = ''pending''') > 0"
	    " FROM sqlite_schema WHERE type = 'table' AND name = 'tx'" },
	/* Token and card ids are never handed out again. */
	[7] = { db_ids_sql, NULL },
};

/* SQLite's update hook on the writer: remember what a write touched. */
static void
db_update_hook(void *arg, int op, const char *dbname, const char *table,
    sqlite3_int64 rowid)
{
	struct db *db = arg;
	int i;

	(void)op;
	(void)dbname;
	if (strcmp(table, "tx") == 0) {
		db->touched_tx = rowid;
		return;
	}
	/*
	 * Only users' balances are reported (db_touched_read); the system
	 * accounts, ids 1 to 4 (ledger_check_system), belong to no user, and
	 * each drop moves money through two of them.
	 */
	if (strcmp(table, "accounts") != 0 || rowid <= LEDGER_ADJUSTMENTS) {
		return;
	}
	for (i = 0; i < db->ntouched; i++) {
		if (db->touched[i] == rowid) {
			return;
		}
	}
	if (db->ntouched < DB_MAX_TOUCHED) {
		db->touched[db->ntouched++] = rowid;
	} else {
		db->touched_lost = 1;
	}
}

void
db_set_balance_hook(struct db *db, db_balance_hook_fn fn)
{
	pthread_mutex_lock(&db->wlock);
	db->balance_hook = fn;
	pthread_mutex_unlock(&db->wlock);
}

/*
 * A write that reached its end: its waiter on the batch, and the member
 * balances it changed, read before its savepoint is released and told to
 * the balance hook once the batch is durable.
 */
struct db_balance {
	char user[PROTO_NAME_MAX + 1];
	int64_t balance;
};

struct db_waiter {
	int done;
	int rc;
	pthread_cond_t cond;		/* signalled when done */
	struct db_balance bal[DB_MAX_TOUCHED];
	int nbal;
	int lost;			/* a changed balance is not in bal */
	int64_t tx;			/* the last tx row it wrote */
	const char *op;			/* what it wrote (db_set_op) */
	uint64_t seq;			/* its batch, once committed */
	int sleeping;			/* its thread waits on cond */
	int wanted;			/* someone waits, or will at once */
	int queued;			/* cond was made when its job was queued */
	int made;			/* the write was made (db_write_close) */
	int refusal;			/* kept to wait, the refusal it gives */
	struct db_waiter *next;
};

/*
 * A write handed to whichever thread holds the writer connection when its
 * turn comes (db_write_run): that thread runs it, and every other write
 * queued meanwhile, without giving the connection up in between.  Waking
 * the next thread to take the connection was a third of each write's
 * time on it under load.
 */
struct db_job {
	db_write_fn fn;
	void *arg;
	const char *op;		/* the submitter's db_op */
	int later;		/* db_write_queue's: the submitter went on */
	int rc;			/* once w.made: the outcome before its sync */
	int refused;		/* then: refused without trying (db_refused) */
	struct db_waiter w;	/* in the batch, when kept */
	struct db_job *next;
};

/* Before RELEASE (connection held): note the balances the write changed. */
static void
db_touched_read(struct db *db, struct db_waiter *w)
{
	sqlite3_stmt *st;
	int i, r;

	w->nbal = 0;
	w->lost = db->touched_lost;
	w->tx = db->touched_tx;
	for (i = 0; i < db->ntouched; i++) {
		st = db_prep(db->writer, "SELECT u.name, a.balance FROM users u"
		    " JOIN accounts a ON a.id = u.account WHERE a.id = ?", "l",
		    (int64_t)db->touched[i]);
		r = st != NULL ? db_step(st) : -1;
		if (r == 1) {
			snprintf(w->bal[w->nbal].user, sizeof(w->bal[0].user),
			    "%s", db_col_text(st, 0));
			w->bal[w->nbal++].balance = sqlite3_column_int64(st, 1);
		} else if (r < 0) {
			w->lost = 1;
		}
		sqlite3_finalize(st);
	}
	db->ntouched = 0;
	db->touched_lost = 0;
	db->touched_tx = 0;
}

/*
 * After the batch's COMMIT (wlock held): tell the balances in memory
 * (balance.c) and the hook, in commit order.  A change that could not be
 * read back makes the memory forget everything instead.
 */
static void
db_report_balances(struct db *db, struct db_waiter *first)
{
	struct db_waiter *w;
	int i;

	db->reporting = 1;
	for (w = first; w != NULL; w = w->next) {
		/* Commit order: a batch's writers, then the next batch's. */
		ASSERT(w->seq >= db->reported_seq);
		db->reported_seq = w->seq;
		for (i = 0; i < w->nbal; i++) {
			db_balances_put(db, w->bal[i].user, w->bal[i].balance);
			if (db->balance_hook != NULL) {
				db->balance_hook(w->bal[i].user,
				    w->bal[i].balance, w->tx);
			}
		}
		if (w->lost) {
			db_balances_forget(db);
		}
	}
	db->reporting = 0;
}

int64_t
db_now(void)
{
	return (int64_t)time(NULL);
}

static int
db_bind(sqlite3_stmt *st, const char *types, va_list ap)
{
	int i, rc = SQLITE_OK;
	const char *s;

	for (i = 0; types[i] != '\0' && rc == SQLITE_OK; i++) {
		switch (types[i]) {
		case 'i':
			rc = sqlite3_bind_int(st, i + 1, va_arg(ap, int));
			break;
		case 'l':
			rc = sqlite3_bind_int64(st, i + 1,
			    va_arg(ap, int64_t));
			break;
		case 'd':
			rc = sqlite3_bind_double(st, i + 1,
			    va_arg(ap, double));
			break;
		case 't':
			s = va_arg(ap, const char *);
			rc = s == NULL ? sqlite3_bind_null(st, i + 1) :
			    sqlite3_bind_text(st, i + 1, s, -1,
			    SQLITE_TRANSIENT);
			break;
		default:
			fatal("db_bind: bad type letter '%c'", types[i]);
		}
	}
	return rc == SQLITE_OK ? 0 : -1;
}

/*
 * Prepared statements are kept per connection and reused: preparing is
 * most of the CPU a short transaction costs.  A connection is only ever
 * used by one thread at a time (the writer under its lock, a reader while
 * borrowed), so its cache needs no lock of its own; only finding the
 * cache of a connection does (db_caches is changed at open and close).
 *
 * Every statement's text is a string constant of its caller: a statement
 * is found by the address its caller passed, and by comparing texts only
 * when that fails (comparing texts was 2% of a drop's CPU).  So a
 * statement lent out remembers that address until it is given back.
 */
#define DB_LENT_MAX 8

struct db_cache {
	sqlite3 *h;
	sqlite3_stmt *idle[DB_CACHE_MAX];	/* reset, ready to reuse */
	const char *idle_sql[DB_CACHE_MAX];	/* the text its caller passed */
	int nidle;
	sqlite3_stmt *lent[DB_LENT_MAX];	/* in use (the first ones) */
	const char *lent_sql[DB_LENT_MAX];
	int nlent;
	struct db_cache *next;
};

static struct db_cache *db_caches;
static pthread_rwlock_t db_caches_lock = PTHREAD_RWLOCK_INITIALIZER;
static unsigned long db_caches_gen;	/* bumped by every add and drop */

/*
 * Each thread remembers the cache it found last, valid while no cache
 * was added or dropped since: a read takes no lock of the cache list.
 */
static __thread sqlite3 *db_memo_h;
static __thread struct db_cache *db_memo_c;
static __thread unsigned long db_memo_gen;

static struct db_cache *
db_cache_of(sqlite3 *h)
{
	unsigned long gen = __atomic_load_n(&db_caches_gen, __ATOMIC_ACQUIRE);
	struct db_cache *c;

	if (h == db_memo_h && gen == db_memo_gen) {
		return db_memo_c;
	}
	pthread_rwlock_rdlock(&db_caches_lock);
	gen = __atomic_load_n(&db_caches_gen, __ATOMIC_RELAXED);
	for (c = db_caches; c != NULL && c->h != h; c = c->next) {
		;
	}
	pthread_rwlock_unlock(&db_caches_lock);
	db_memo_h = h;
	db_memo_c = c;
	db_memo_gen = gen;
	return c;
}

static void
db_cache_add(sqlite3 *h)
{
	struct db_cache *c = xcalloc(1, sizeof(*c));

	c->h = h;
	pthread_rwlock_wrlock(&db_caches_lock);
	c->next = db_caches;
	db_caches = c;
	__atomic_add_fetch(&db_caches_gen, 1, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&db_caches_lock);
}

/* Finalize h's idle statements and forget its cache, before closing h. */
static void
db_cache_drop(sqlite3 *h)
{
	struct db_cache **pp, *c = NULL;

	pthread_rwlock_wrlock(&db_caches_lock);
	for (pp = &db_caches; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->h == h) {
			c = *pp;
			*pp = c->next;
			break;
		}
	}
	__atomic_add_fetch(&db_caches_gen, 1, __ATOMIC_RELEASE);
	pthread_rwlock_unlock(&db_caches_lock);
	if (c != NULL) {
		while (c->nidle > 0) {
			(sqlite3_finalize)(c->idle[--c->nidle]);
		}
		free(c);
	}
}

void
db_stmt_done(sqlite3_stmt *st)
{
	struct db_cache *c;
	const char *sql = NULL;
	int i;

	if (st == NULL) {
		return;
	}
	c = db_cache_of(sqlite3_db_handle(st));
	(void)sqlite3_reset(st);
	for (i = 0; c != NULL && i < c->nlent; i++) {
		if (c->lent[i] == st) {
			sql = c->lent_sql[i];
			c->nlent--;
			c->lent[i] = c->lent[c->nlent];
			c->lent_sql[i] = c->lent_sql[c->nlent];
			break;
		}
	}
	if (c == NULL || c->nidle == DB_CACHE_MAX) {
		(sqlite3_finalize)(st);
		return;
	}
	sqlite3_clear_bindings(st);
	c->idle[c->nidle] = st;
	c->idle_sql[c->nidle++] = sql != NULL ? sql : sqlite3_sql(st);
}

/* The idle statement whose text is sql, taken out of c: -1 if none. */
static int
db_cache_find(const struct db_cache *c, const char *sql)
{
	int i;

	for (i = 0; i < c->nidle; i++) {
		if (c->idle_sql[i] == sql) {
			return i;
		}
	}
	for (i = 0; i < c->nidle; i++) {
		if (strcmp(sqlite3_sql(c->idle[i]), sql) == 0) {
			return i;
		}
	}
	return -1;
}

/*
 * A statement for sql on h: from h's cache, else prepared (SQLite's code
 * in *rc on failure, and NULL).  Lent until db_stmt_done.
 */
static sqlite3_stmt *
db_stmt_get(sqlite3 *h, const char *sql, int *rc)
{
	struct db_cache *c = db_cache_of(h);
	sqlite3_stmt *st = NULL;
	int i;

	if (c != NULL && (i = db_cache_find(c, sql)) >= 0) {
		st = c->idle[i];
		c->nidle--;
		c->idle[i] = c->idle[c->nidle];
		c->idle_sql[i] = c->idle_sql[c->nidle];
	} else if ((*rc = sqlite3_prepare_v3(h, sql, -1,
	    SQLITE_PREPARE_PERSISTENT, &st, NULL)) != SQLITE_OK) {
		return NULL;
	}
	if (c != NULL && c->nlent < DB_LENT_MAX) {
		c->lent[c->nlent] = st;
		c->lent_sql[c->nlent++] = sql;
	}
	return st;
}

static sqlite3_stmt *
db_vprep(sqlite3 *h, const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = db_stmt_get(h, sql, &rc)) == NULL) {
		log_err("sqlite prepare: %s: %.60s", sqlite3_errmsg(h), sql);
		return NULL;
	}
	if (db_bind(st, types, ap) != 0) {
		log_err("sqlite bind: %s: %.60s", sqlite3_errmsg(h), sql);
		db_stmt_done(st);
		return NULL;
	}
	return st;
}

sqlite3_stmt *
db_prep(sqlite3 *h, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;

	va_start(ap, types);
	st = db_vprep(h, sql, types, ap);
	va_end(ap);
	return st;
}

int
db_step(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		return 1;
	}
	if (rc == SQLITE_DONE) {
		return 0;
	}
	log_err("sqlite step: %s: %.60s", sqlite3_errmsg(sqlite3_db_handle(st)),
	    sqlite3_sql(st));
	return -1;
}

int
db_run(sqlite3 *h, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	va_start(ap, types);
	st = db_vprep(h, sql, types, ap);
	va_end(ap);
	if (st == NULL) {
		return -1;
	}
	while ((rc = db_step(st)) == 1) {
		;
	}
	sqlite3_finalize(st);
	return rc;
}

const char *
db_col_text(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s != NULL ? (const char *)s : "";
}

void
db_col_json(cJSON *obj, const char *name, sqlite3_stmt *st, int col)
{
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_INTEGER:
		cJSON_AddNumberToObject(obj, name,
		    (double)sqlite3_column_int64(st, col));
		break;
	case SQLITE_FLOAT:
		cJSON_AddNumberToObject(obj, name,
		    sqlite3_column_double(st, col));
		break;
	case SQLITE_NULL:
		cJSON_AddNullToObject(obj, name);
		break;
	default:
		cJSON_AddStringToObject(obj, name, db_col_text(st, col));
		break;
	}
}

/*
 * Set before SQLite's first use, by whichever open comes first: no memory
 * statistics.  Debian's SQLite has no lookaside allocator, so a statement
 * step allocates, and with statistics on every allocation and free takes
 * one mutex that all connections share (about 2% of the instructions of a
 * drop).  Nothing here reads them.
 */
static void
db_sqlite_config(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int
db_sqlite_open(const char *path, sqlite3 **h, int flags)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, db_sqlite_config);
	return sqlite3_open_v2(path, h, flags, NULL);
}

/*
 * Open name (a path, or a URI with SQLITE_OPEN_URI) for the database at
 * path, with its statement cache and busy timeout; NULL with err set.
 */
static sqlite3 *
db_handle(const char *name, const char *path, int flags, char *err,
    size_t errlen)
{
	sqlite3 *h = NULL;

	if (db_sqlite_open(name, &h, flags | SQLITE_OPEN_NOMUTEX) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s: %s", path,
		    h ? sqlite3_errmsg(h) : "out of memory");
		sqlite3_close(h);
		return NULL;
	}
	db_cache_add(h);
	sqlite3_busy_timeout(h, DB_BUSY_MS);
	return h;
}

sqlite3 *
db_connect(const char *path, int readonly, char *err, size_t errlen)
{
	/*
	 * A new database gets 1 KiB pages (before WAL mode, which fixes the
	 * size): a commit appends every page it changed to the WAL, and a
	 * drop changes a row or two on each of about ten pages, so 4 KiB
	 * pages made the WAL, and the bytes each fsync waits for, four times
	 * larger.  An existing database keeps the size it has.
	 */
	static const char pragmas[] =
	    "PRAGMA page_size = " DB_STR(DB_PAGE_SIZE) ";"
	    "PRAGMA journal_mode = WAL;"
	    "PRAGMA synchronous = FULL;"
	    "PRAGMA foreign_keys = ON;"
	    /* A WAL restarts over its reserve, cut back to that size. */
	    "PRAGMA journal_size_limit = " DB_STR(DB_WAL_BYTES) ";";
	sqlite3 *h;

	if ((h = db_handle(path, path, readonly ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err, errlen)) ==
	    NULL) {
		return NULL;
	}
	sqlite3_extended_result_codes(h, 1);
	if (!readonly && sqlite3_exec(h, pragmas, NULL, NULL, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot configure database %s: %s", path,
		    sqlite3_errmsg(h));
		db_cache_drop(h);
		sqlite3_close(h);
		return NULL;
	}
	if (readonly && sqlite3_exec(h, "PRAGMA foreign_keys = ON;", NULL,
	    NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot configure database %s: %s", path,
		    sqlite3_errmsg(h));
		db_cache_drop(h);
		sqlite3_close(h);
		return NULL;
	}
	return h;
}

/*
 * After a script edited stored schema text: 1 when the edit did not take
 * (check is false), else move the schema cookie on so that every
 * connection reads the new text (as SQLite documents for such edits): 0,
 * or -1 when SQLite refused.
 */
static int
db_schema_edited(sqlite3 *h, const char *check)
{
	sqlite3_stmt *st;
	char *sql;
	int took, cookie, rc;

	st = db_prep(h, check, "");
	took = st != NULL && db_step(st) == 1 && sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (!took) {
		return 1;
	}
	st = db_prep(h, "PRAGMA schema_version", "");
	if (st == NULL || db_step(st) != 1) {
		sqlite3_finalize(st);
		return -1;
	}
	cookie = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sql = xasprintf("PRAGMA schema_version = %d", cookie + 1);
	rc = sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
	free(sql);
	return rc;
}

/* One migration, in one transaction (rolled back by the caller). */
static int
db_migrate_to(sqlite3 *h, int v, char *err, size_t errlen)
{
	const struct db_migration *m = &db_migrations[v];
	char *msg = NULL, *sql;
	int rc, edit;

	sql = xasprintf("BEGIN IMMEDIATE; %s", m->sql);
	rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
	free(sql);
	if (rc == SQLITE_OK && m->edited != NULL &&
	    (edit = db_schema_edited(h, m->edited)) != 0) {
		if (edit > 0) {
			snprintf(err, errlen, "migration to version %d: the "
			    "schema is not the one drinkd wrote; not edited",
			    v);
		} else {
			snprintf(err, errlen, "migration to version %d: "
			    "cannot advance the schema cookie: %s", v,
			    sqlite3_errmsg(h));
		}
		return -1;
	}
	if (rc == SQLITE_OK) {
		sql = xasprintf("PRAGMA user_version = %d; COMMIT;", v);
		rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
		free(sql);
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "migration to version %d: %s", v,
		    msg != NULL ? msg : "failed");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
db_migrate(struct db *db, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int version, v;

	if ((st = db_prep(db->writer, "PRAGMA user_version", "")) == NULL ||
	    db_step(st) != 1) {
		sqlite3_finalize(st);
		snprintf(err, errlen, "cannot read the schema version of %s",
		    db->path);
		return -1;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	db->created = version == 0;
	/* As db_probe says it: init and the subcommands come here. */
	if (version > DB_SCHEMA_VERSION) {
		snprintf(err, errlen, "database %s has schema version %d, "
		    "newer than this drinkd (%d)", db->path, version,
		    DB_SCHEMA_VERSION);
		return -1;
	}
	for (v = version + 1; v <= DB_SCHEMA_VERSION; v++) {
		if (db_migrate_to(db->writer, v, err, errlen) != 0) {
			sqlite3_exec(db->writer, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	}
	/* One line: a new database is not "migrated" six times. */
	if (version == 0) {
		log_info("database %s created (schema version %d)", db->path,
		    DB_SCHEMA_VERSION);
	} else if (version < DB_SCHEMA_VERSION) {
		log_info("database %s migrated from schema version %d to %d",
		    db->path, version, DB_SCHEMA_VERSION);
	}
	if (ledger_check_system(db->writer) != 0) {
		snprintf(err, errlen, "%s: the system accounts are not the "
		    "ones the schema creates", db->path);
		return -1;
	}
	return 0;
}

/*
 * From here on the writer commits without syncing, and db_sync syncs
 * the WAL on a descriptor of its own (SQLite never deletes the WAL while
 * a connection of ours is open).  The WAL is where SQLite keeps it, by
 * the database's real path (a symbolic link resolved).  Its directory
 * entry is made durable once, here, as SQLite would at the WAL's first
 * sync.
 */
static int
db_wal_open(struct db *db, char *err, size_t errlen)
{
	sqlite3_filename main = sqlite3_db_filename(db->writer, "main");
	const char *wal = sqlite3_filename_wal(main);
	char *dir, *slash;
	int fd;

	db->walfd = open(wal, O_RDWR | O_CLOEXEC);
	if (db->walfd == -1) {
		snprintf(err, errlen, "cannot open %s: %s", wal,
		    strerror(errno));
		return -1;
	}
	/*
	 * Its blocks reserved (DB_WAL_BYTES; data already there is kept):
	 * commits write over them instead of growing the file.  SQLite
	 * reads a WAL only as far as its last valid frame.
	 */
	if (fallocate(db->walfd, 0, 0, DB_WAL_BYTES) != 0 &&
	    errno != EOPNOTSUPP) {
		log_warn("database: cannot reserve %d MiB for %s: %s; commits "
		    "are slower while it grows", DB_WAL_BYTES >> 20, wal,
		    strerror(errno));
	}
	dir = xstrdup(main);
	if ((slash = strrchr(dir, '/')) != NULL) {
		slash[slash == dir] = '\0';
	} else {
		strcpy(dir, ".");
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
	if (sqlite3_exec(db->writer, "PRAGMA synchronous = NORMAL", NULL,
	    NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot configure database %s: %s",
		    db->path, sqlite3_errmsg(db->writer));
		return -1;
	}
	return 0;
}

static void db_syncer_stop(struct db *db);
static int db_syncer_start(struct db *db);
static void db_sync_kick(struct db *db);

/*
 * An SQLite file another program made: schema version 0 with tables in it
 * (drinkd sets the version in the transaction that makes its tables, so a
 * file of its own never looks so).  Taken for drinkd's, it would be
 * switched to WAL mode and given drinkd's tables beside its own: a typo in
 * database, say /var/lib/grafana/grafana.db.  -1 with err when so.
 */
static int
db_foreign(int version, int objects, const char *path, char *err,
    size_t errlen)
{
	if (version != 0 || objects == 0) {
		return 0;
	}
	snprintf(err, errlen, "%s is an SQLite database of another program "
	    "(schema version 0 and %d schema objects, none of them drinkd's): "
	    "left as it is; point database at drinkd's own file, or at a new "
	    "one", path, objects);
	return -1;
}

/* db_foreign() for the file at path, before anything writes to it. */
static int
db_foreign_file(const char *path, char *err, size_t errlen)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int rc = 0;

	/* Unreadable or not SQLite: the open that follows says so. */
	if (db_sqlite_open(path, &h, SQLITE_OPEN_READWRITE) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, "SELECT (SELECT user_version FROM "
	    "pragma_user_version), (SELECT count(*) FROM sqlite_master)", -1,
	    &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		rc = db_foreign(sqlite3_column_int(st, 0),
		    sqlite3_column_int(st, 1), path, err, errlen);
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	return rc;
}

struct db *
db_open(const char *path, int readers, char *err, size_t errlen)
{
	struct db *db;
	int fd, i, rc;

	/* Create the file ourselves so that it is never world-readable. */
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "cannot open database %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	close(fd);
	if (db_foreign_file(path, err, errlen) != 0) {
		return NULL;
	}
	db = xcalloc(1, sizeof(*db));
	db->path = xstrdup(path);
	db->balances = db_balances_new();
	db->answers = -1;
	db->walfd = -1;
	db->ans_next = 1;
	pthread_mutex_init(&db->ans_lock, NULL);
	pthread_cond_init(&db->ans_cond, NULL);
	pthread_mutex_init(&db->wlock, NULL);
	pthread_cond_init(&db->wfree, NULL);
	pthread_cond_init(&db->durable, NULL);
	pthread_cond_init(&db->sync_cond, NULL);
	pthread_mutex_init(&db->book_lock, NULL);
	pthread_cond_init(&db->book_cond, NULL);
	pthread_mutex_init(&db->rlock, NULL);
	pthread_cond_init(&db->rcond, NULL);
	if ((db->writer = db_connect(path, 0, err, errlen)) == NULL ||
	    db_migrate(db, err, errlen) != 0) {
		db_close(db);
		return NULL;
	}
	sqlite3_update_hook(db->writer, db_update_hook, db);
	db_ckpt_init(db);
	if (readers > DB_MAX_READERS) {
		readers = DB_MAX_READERS;
	}
	for (i = 0; i < readers; i++) {
		if ((db->readers[i] = db_connect(path, 1, err, errlen)) ==
		    NULL) {
			db_close(db);
			return NULL;
		}
		db->nreaders++;
	}
	/*
	 * A reader opens the WAL and shm files at its first read; do that
	 * now, so that a read never needs a descriptor later (when they may
	 * have run out).
	 */
	for (i = 0; i < db->nreaders; i++) {
		if (db_run(db->readers[i], "SELECT count(*) FROM sqlite_master",
		    "") != 0) {
			snprintf(err, errlen, "cannot read database %s", path);
			db_close(db);
			return NULL;
		}
	}
	if (db_wal_open(db, err, errlen) != 0) {
		db_close(db);
		return NULL;
	}
	if ((rc = db_syncer_start(db)) != 0) {
		snprintf(err, errlen, "cannot start the sync thread of %s: %s",
		    path, strerror(rc));
		db_close(db);
		return NULL;
	}
	return db;
}

struct db *
db_open_existing(const char *path, int readers, char *err, size_t errlen)
{
	if (access(path, F_OK) != 0) {
		snprintf(err, errlen, "database %s: %s (make it with "
		    "\"drinkd init\")", path, strerror(errno));
		return NULL;
	}
	return db_open(path, readers, err, errlen);
}

/* "file:PATH?immutable=1", with the characters a URI gives meaning to
 * percent-encoded. */
static char *
db_probe_uri(const char *path)
{
	char *uri = xmalloc(strlen(path) * 3 + 32), *p = uri;

	p += sprintf(p, "file:");
	for (; *path != '\0'; path++) {
		if (*path == '?' || *path == '#' || *path == '%') {
			p += sprintf(p, "%%%02X", (unsigned char)*path);
		} else {
			*p++ = *path;
		}
	}
	strcpy(p, "?immutable=1");
	return uri;
}

static int
db_probe_has_wal(const char *path)
{
	char *wal = xasprintf("%s-wal", path);
	struct stat sb;
	int rc = stat(wal, &sb) == 0 && sb.st_size > 0;

	free(wal);
	return rc;
}

/* 1 when a WAL with frames or a DB-shm lies beside the database. */
int
db_snapshot_busy(const char *path)
{
	char *shm = xasprintf("%s-shm", path);
	int rc = db_probe_has_wal(path) || access(shm, F_OK) == 0;

	free(shm);
	return rc;
}

sqlite3 *
db_connect_snapshot(const char *path, int *quiet, char *err, size_t errlen)
{
	sqlite3 *h = NULL;
	char *uri;

	*quiet = !db_snapshot_busy(path);
	if (!*quiet) {
		return db_connect(path, 1, err, errlen);
	}
	uri = db_probe_uri(path);
	h = db_handle(uri, path, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, err,
	    errlen);
	free(uri);
	return h;
}

/* The 16 bytes every SQLite 3 database file starts with. */
int
db_probe_header(const char *path, char *err, size_t errlen)
{
	static const char magic[16] = "SQLite format 3";
	char head[16];
	int fd;
	ssize_t n;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot open database %s: %s", path,
		    strerror(errno));
		return -1;
	}
	n = read(fd, head, sizeof(head));
	close(fd);
	/* Empty: everything is still in the WAL. */
	if (n != 0 && (n != (ssize_t)sizeof(head) ||
	    memcmp(head, magic, sizeof(magic)) != 0)) {
		snprintf(err, errlen, "%s is not a usable SQLite database: "
		    "not an SQLite 3 file", path);
		return -1;
	}
	return 0;
}

int
db_probe(const char *path, char *err, size_t errlen)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	char *uri;
	int rc, version, objects;

	/*
	 * A non-empty DB-wal means the last run did not checkpoint (a crash,
	 * or a server running now): the main file alone may be half written
	 * back and only the WAL makes it whole.  An immutable open ignores
	 * the WAL, so it would call a sound database malformed.  Check the
	 * file's header only; the real open recovers the WAL.
	 */
	if (db_probe_has_wal(path)) {
		return db_probe_header(path, err, errlen);
	}

	/*
	 * immutable: no locks, no DB-shm.  A probe run by root must not leave
	 * root-owned files beside the server's database.
	 */
	uri = db_probe_uri(path);
	rc = db_sqlite_open(uri, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
	free(uri);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s: %s", path,
		    h ? sqlite3_errmsg(h) : "out of memory");
		rc = -1;
		goto out;
	}
	rc = -1;
	sqlite3_busy_timeout(h, DB_BUSY_MS);
	if (sqlite3_prepare_v2(h, "SELECT count(*) FROM sqlite_master",
	    -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "%s is not a usable SQLite database: %s",
		    path, sqlite3_errmsg(h));
		goto out;
	}
	objects = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "cannot read the schema version of %s",
		    path);
		goto out;
	}
	version = sqlite3_column_int(st, 0);
	if (version > DB_SCHEMA_VERSION) {
		snprintf(err, errlen, "database %s has schema version %d, newer "
		    "than this drinkd (%d)", path, version, DB_SCHEMA_VERSION);
		goto out;
	}
	if (db_foreign(version, objects, path, err, errlen) != 0) {
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(h);
	return rc;
}

void
db_connection_close(sqlite3 *h)
{
	db_cache_drop(h);
	sqlite3_close(h);
}

static int db_batch_due(const struct db *db);
static void db_batch_commit_now(struct db *db);
static void db_wait_durable(struct db *db, uint64_t seq);
static void db_writer_release(struct db *db);
static int db_jobs_make(struct db *db);

void
db_close(struct db *db)
{
	int i;

	if (db == NULL) {
		return;
	}
	db_book_stop(db);
	db_ckpt_stop(db);
	/* Writes whose tickets were never waited for are kept all the same. */
	if (db->writer != NULL) {
		pthread_mutex_lock(&db->wlock);
		(void)db_jobs_make(db);
		if (db->in_batch && !db->wbusy && !db->wcommitting) {
			db_batch_commit_now(db);
		}
		db_wait_durable(db, db->commit_seq);
		pthread_mutex_unlock(&db->wlock);
	}
	db_syncer_stop(db);
	for (i = 0; i < db->nreaders; i++) {
		db_cache_drop(db->readers[i]);
		sqlite3_close(db->readers[i]);
	}
	db_cache_drop(db->writer);
	sqlite3_close(db->writer);
	if (db->answers != -1) {
		close(db->answers);
	}
	pthread_mutex_destroy(&db->ans_lock);
	pthread_cond_destroy(&db->ans_cond);
	if (db->walfd != -1) {
		close(db->walfd);
	}
	pthread_mutex_destroy(&db->wlock);
	pthread_cond_destroy(&db->wfree);
	pthread_cond_destroy(&db->durable);
	pthread_cond_destroy(&db->sync_cond);
	pthread_mutex_destroy(&db->book_lock);
	pthread_cond_destroy(&db->book_cond);
	pthread_mutex_destroy(&db->rlock);
	pthread_cond_destroy(&db->rcond);
	db_balances_free(db->balances);
	free(db->path);
	free(db);
}

int
db_schema_version(struct db *db)
{
	sqlite3 *h = db_read_begin(db);
	sqlite3_stmt *st;
	int v = -1;

	if ((st = db_prep(h, "PRAGMA user_version", "")) != NULL &&
	    db_step(st) == 1) {
		v = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	db_read_end(db, h);
	return v;
}

/*
 * Storage faults.  An episode starts with the first write that fails for
 * a storage reason (I/O error, disk full, read-only, cannot open) and
 * ends once a batch whose COMMIT wrote to the WAL (an empty one succeeds
 * without the disk) is synced, no write having failed meanwhile.
 * Meanwhile writes are refused up front, without touching the disk,
 * except one probe every DB_FAULT_PROBE_MS; the log gets one line when
 * it starts (naming the operation, from db_set_op) and one when it ends.
 */
#define DB_FAULT_PROBE_MS 2000
#define DB_SHM_RETRY_MS 60000	/* retry_after once DB-shm is lost */

static __thread const char *db_op;	/* what this thread is writing */
static __thread int db_refused;		/* a write refused without trying */

void
db_set_op(const char *op)
{
	db_op = op;
}

int
db_take_refused(void)
{
	int r = db_refused;

	db_refused = 0;
	return r;
}

int
db_writes_stopped(struct db *db)
{
	int stopped;

	pthread_mutex_lock(&db->wlock);
	stopped = db->sync_failed || db_shm_lost();
	pthread_mutex_unlock(&db->wlock);
	return stopped;
}

int64_t
db_retry_after(struct db *db)
{
	int64_t ms;

	pthread_mutex_lock(&db->wlock);
	ms = db->fault_since != 0 ? db->fault_until - now_ms() : 0;
	pthread_mutex_unlock(&db->wlock);
	return ms > 1000 ? (ms + 999) / 1000 : 1;
}

/* 1 when the writer's last error is the storage's doing (connection held). */
static int
db_storage_error(struct db *db)
{
	switch (sqlite3_extended_errcode(db->writer) & 0xff) {
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
		return 1;
	default:
		return 0;
	}
}

/*
 * A write of op (NULL: unnamed) failed for a storage reason, SQLite said
 * why (wlock held).
 */
static void
db_fault(struct db *db, const char *op, const char *what, const char *why)
{
	int64_t now = now_ms();

	if (db->fault_since == 0) {
		db->fault_since = now;
		db->fault_refused = 0;
		log_err("storage is failing: %s: %s failed: %s; writes are "
		    "refused with unavailable until it recovers",
		    op != NULL ? op : "a write", what, why);
	}
	db->fault_until = now + DB_FAULT_PROBE_MS;
	db->recover_seq = 0;
}

/*
 * A batch that wrote to the WAL is synced (wlock held): a fault episode,
 * if any, is over.  (One that wrote nothing, its writes all refused or
 * rolled back, never touched the disk, and a COMMIT whose sync fails
 * did not reach it: they tell nothing.)
 */
static void
db_recovered(struct db *db)
{
	db->recover_seq = 0;
	if (db->fault_since != 0) {
		log_warn("storage recovered after %lld s; %ld write(s) were "
		    "refused meanwhile",
		    (long long)((now_ms() - db->fault_since) / 1000),
		    db->fault_refused);
		db->fault_since = 0;
	}
}

/*
 * A transaction-control statement (BEGIN, SAVEPOINT, RELEASE, COMMIT)
 * from the statement cache: parsing them anew was a tenth of a drop's
 * CPU.  Returns SQLite's code; sqlite3_errmsg() still tells why.
 */
static int
db_exec_ctl(sqlite3 *h, const char *sql)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = db_stmt_get(h, sql, &rc)) == NULL) {
		return rc;
	}
	rc = sqlite3_step(st);
	db_stmt_done(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * Group commit.  Every write is a SAVEPOINT inside one outer BEGIN
 * IMMEDIATE transaction (the batch) on the single writer connection.  A
 * writer that finishes while others wait for the connection hands it on
 * and waits; the last one (no one waiting, or DB_BATCH_MAX writes in the
 * batch) COMMITs for all of them.  Writers that arrive during a COMMIT
 * wait for it and form the next batch.
 *
 * A write made as a function (db_write_run: the drop's hold and capture)
 * is queued instead, and made by whichever thread holds the connection
 * before that thread gives it up, or by its own thread when the
 * connection is free: the connection goes from one write to the next
 * without waking a thread in between, and the caller sleeps once, until
 * its write is durable.  A write queued by a thread that goes on
 * (db_write_queue: the capture) is made by the thread that waits for it
 * when no one holds the connection.
 *
 * The COMMIT runs with synchronous=NORMAL: it appends the batch to the
 * WAL without syncing it, and the connection goes at once to the next
 * batch.  Then the sync thread (db_syncer_main) syncs the WAL (db_sync)
 * for every batch committed before the sync began, while the connection
 * is busy with the next, and syncs again as soon as the sync ends if a
 * batch was committed meanwhile: the disk's flushes follow each other
 * without waiting for a writer's thread to be woken to start the next.
 * db_write_end() returns only once the caller's own batch is synced, or
 * reports ERR_INTERNAL when it was lost: a reply is still sent only
 * after its data is durable, as with synchronous=FULL, but the disk's
 * flush no longer stops the writer.
 *
 * What is committed is visible before it is durable, so a read waits
 * (db_read_end) until every batch that may have been visible to it is
 * synced: nothing is answered from data a crash could take back.  A
 * failed sync may have lost any write since the last good one, and the
 * WAL goes on from them, so it stops writes until a restart (which
 * reads what the disk kept).
 *
 * A write that fails rolls back to its own savepoint and leaves the batch
 * as it was; if SQLite rolled the whole transaction back instead (some
 * I/O errors do), every write already in the batch fails with it, and
 * nothing of theirs was applied.
 */

static void db_jobs_run(struct db *db);
static void db_job_wait_made(struct db *db, struct db_waiter *w);

/*
 * Wait (wlock held) until the writer connection is ours.  Writes queued
 * before (db_write_run) are made first, in their order.
 */
static void
db_writer_acquire(struct db *db)
{
	db->wwaiting++;
	while (db->wbusy || db->wcommitting) {
		pthread_cond_wait(&db->wfree, &db->wlock);
	}
	db->wwaiting--;
	db->wbusy = 1;
	db_jobs_run(db);
}

/*
 * Complete the writers on the list first (oldest first) with rc (wlock
 * held); when they are durable, the balance hook hears of their changes
 * first, in order.
 */
static void
db_waiters_finish(struct db *db, struct db_waiter *first, int rc)
{
	struct db_waiter *w, *next;

	if (rc == ERR_NONE) {
		db_report_balances(db, first);
	} else {
		/* A failed COMMIT may yet be on disk: read afresh. */
		db_balances_forget(db);
	}
	/* Each writer alone is woken, not the next batch's. */
	for (w = first; w != NULL; w = next) {
		next = w->next;
		w->rc = rc;
		w->done = 1;
		pthread_cond_signal(&w->cond);
	}
}

/* The batch's writers, oldest first, and the batch emptied (wlock held). */
static struct db_waiter *
db_batch_take(struct db *db)
{
	struct db_waiter *w, *next, *first = NULL;

	/* The batch list is newest first. */
	for (w = db->batch; w != NULL; w = next) {
		next = w->next;
		w->next = first;
		first = w;
	}
	db->batch = NULL;
	db->batch_size = 0;
	db->batch_wanted = 0;
	db->in_batch = 0;
	return first;
}

/* A batch that did not commit: its writers fail with rc (wlock held). */
static void
db_batch_finish(struct db *db, int rc)
{
	db_waiters_finish(db, db_batch_take(db), rc);
}

/*
 * The batch committed as number seq (wlock held): its writers wait for
 * the sync, after those of earlier batches.  After a failed sync there
 * is none: they fail at once.
 */
static void
db_batch_committed(struct db *db, uint64_t seq)
{
	struct db_waiter *w, *first = db_batch_take(db);

	if (db->sync_failed) {
		db_waiters_finish(db, first, ERR_INTERNAL);
		return;
	}
	for (w = first; w != NULL; w = w->next) {
		w->seq = seq;
		if (w->next == NULL) {
			break;
		}
	}
	if (first == NULL) {
		return;
	}
	if (db->sync_tail != NULL) {
		db->sync_tail->next = first;
	} else {
		db->sync_head = first;
	}
	db->sync_tail = w;
}

/*
 * What the batch was writing, for the log: its first named write (the
 * committing thread may only have been recording sessions).
 */
static const char *
db_batch_op(struct db *db)
{
	struct db_waiter *w;
	const char *op = db_op;

	for (w = db->batch; w != NULL; w = w->next) {
		if (w->op != NULL) {
			op = w->op;	/* newest first: the last seen is first */
		}
	}
	return op;
}

/* What the writers on the list wrote, for the log: the first named. */
static const char *
db_waiters_op(const struct db_waiter *first)
{
	for (; first != NULL; first = first->next) {
		if (first->op != NULL) {
			return first->op;
		}
	}
	return "a write";
}

/*
 * COMMIT the batch (wlock held, and the caller holds the connection or
 * has set wcommitting), with the lock released meanwhile.  A failed
 * COMMIT may or may not have reached the disk: its writes are answered
 * internal (outcome unknown).
 */
static void
db_batch_commit(struct db *db)
{
	char why[256] = "";
	uint64_t seq = db->commit_seq + 1;
	int rc, storage = 0;

	/* After a failed sync nothing more is written (db_sync). */
	if (db->sync_failed) {
		sqlite3_exec(db->writer, "ROLLBACK", NULL, NULL, NULL);
		db_batch_finish(db, ERR_INTERNAL);
		return;
	}
	/* Before the COMMIT: a read that may see it waits for its sync. */
	__atomic_store_n(&db->commit_seq, seq, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&db->wlock);
	db->commit_wrote = 0;
	rc = db_exec_ctl(db->writer, "COMMIT");
	if (rc != SQLITE_OK) {
		storage = db_storage_error(db);
		snprintf(why, sizeof(why), "%s", sqlite3_errmsg(db->writer));
		if (!storage) {
			log_err("database: commit failed: %s", why);
		}
		if (sqlite3_get_autocommit(db->writer) == 0) {
			sqlite3_exec(db->writer, "ROLLBACK", NULL, NULL, NULL);
		}
	}
	pthread_mutex_lock(&db->wlock);
	db->committed_seq = seq;
	if (storage) {
		db_fault(db, db_batch_op(db), "commit", why);
	} else if (rc == SQLITE_OK && db->commit_wrote &&
	    db->fault_since != 0 && db->recover_seq == 0) {
		/* Its sync ends the episode (db_sync). */
		db->recover_seq = seq;
	}
	if (rc == SQLITE_OK) {
		db_batch_committed(db, seq);
	} else {
		db_batch_finish(db, ERR_INTERNAL);
	}
	/* committed_seq moved on, whatever the outcome. */
	db_sync_kick(db);
}

/*
 * Whether the open batch is to be committed now, the connection being
 * free (wlock held): when full, or else when no sync runs (the batch
 * grows meanwhile; db_sync commits it after).  A write made for a ticket
 * is waited for later (db_ticket_wait): a batch of only such writes waits
 * for that, and writes made meanwhile join it.
 */
static int
db_batch_due(const struct db *db)
{
	if (!db->in_batch || db->wbusy || db->wcommitting) {
		return 0;
	}
	/* A batch of nothing but tickets' writes waits for one of them. */
	if (db->batch_size > 0 && db->batch_wanted == 0) {
		return db->batch_size >= DB_BATCH_MAX;
	}
	return db->batch_size >= DB_BATCH_MAX || !db->syncing;
}

/* Commit the open batch, the connection being free (wlock held). */
static void
db_batch_commit_now(struct db *db)
{
	assert(db->in_batch && !db->wbusy && !db->wcommitting);
	db->wcommitting = 1;
	db_batch_commit(db);
	db->wcommitting = 0;
	/* Writes queued during the COMMIT: the first one's thread makes them. */
	if (db->jobs_head != NULL && !db->wbusy) {
		pthread_cond_signal(&db->jobs_head->w.cond);
	}
}

/* fdatasync the WAL: 0, or -1 with why (no lock held). */
static int
db_wal_sync(struct db *db, char *why, size_t whylen)
{
	if (fdatasync(db->walfd) != 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Whether the sync thread has a sync to run (wlock held). */
static int
db_sync_due(const struct db *db)
{
	return !db->syncing && !db->sync_failed &&
	    db->committed_seq > db->durable_seq;
}

/*
 * A batch was committed (wlock held): wake the sync thread if it sleeps.
 * While it runs, it looks again before it sleeps.
 */
static void
db_sync_kick(struct db *db)
{
	if (db->sync_idle && db_sync_due(db)) {
		db->sync_idle = 0;
		pthread_cond_signal(&db->sync_cond);
	}
}

/*
 * Sync the WAL for every batch committed so far (wlock held, on the sync
 * thread, one batch at least not yet durable), the lock released
 * meanwhile.  Then their writers are answered in commit order, and a
 * batch left open during the sync is committed, for the next.
 */
static void
db_sync(struct db *db)
{
	struct db_waiter *first, *last = NULL, *w;
	uint64_t target = db->committed_seq;
	char why[256] = "";
	int rc;

	assert(!db->syncing && !db->sync_failed);
	assert(target > db->durable_seq);
	db->syncing = 1;
	pthread_mutex_unlock(&db->wlock);
	rc = db_wal_sync(db, why, sizeof(why));
	pthread_mutex_lock(&db->wlock);
	db->syncing = 0;
	/* The list is in commit order: those this sync covers come first. */
	first = db->sync_head;
	for (w = first; w != NULL && w->seq <= target; w = w->next) {
		last = w;
	}
	if (last == NULL) {
		first = NULL;
	} else {
		db->sync_head = last->next;
		last->next = NULL;
		if (db->sync_head == NULL) {
			db->sync_tail = NULL;
		}
	}
	if (rc == 0) {
		assert(db->durable_seq < target);
		/* Before the reports: a writer told it is durable sees it. */
		if (db->recover_seq != 0 && db->recover_seq <= target) {
			db_recovered(db);
		}
		db_waiters_finish(db, first, ERR_NONE);
		/* After the reports: a read that sees it finds them made. */
		__atomic_store_n(&db->durable_seq, target, __ATOMIC_SEQ_CST);
	} else {
		/*
		 * Pages the kernel could not write may be gone, and later
		 * commits are built on them: stop writing (db_write_begin).
		 */
		db->sync_failed = 1;
		db->recover_seq = 0;
		db->fault_since = now_ms();
		db->fault_until = db->fault_since + DB_SHM_RETRY_MS;
		db->fault_refused = 0;
		log_err("storage is failing: %s: the sync of %s-wal failed: "
		    "%s; what was written since the last sync may not be on "
		    "disk, so writes are refused with unavailable until "
		    "drinkd is restarted", db_waiters_op(first), db->path,
		    why);
		db_waiters_finish(db, first, ERR_INTERNAL);
		db_waiters_finish(db, db->sync_head, ERR_INTERNAL);
		db->sync_head = db->sync_tail = NULL;
	}
	/*
	 * A batch left open while this sync ran is committed now, unless
	 * a writer holds the connection (it commits on release).
	 */
	if (db_batch_due(db)) {
		db_batch_commit_now(db);
		pthread_cond_broadcast(&db->wfree);
	}
	if (db->durable_waiting > 0) {
		pthread_cond_broadcast(&db->durable);
	}
}

/*
 * The sync thread: one sync after another while batches are committed,
 * asleep when every committed batch is durable (db_sync_kick wakes it).
 * Writers' threads only wait: the one that finished a sync is already
 * running when the next is due.
 */
static void *
db_syncer_main(void *arg)
{
	struct db *db = arg;

	/* Named for top -H and the like, and for the tests to find it. */
	(void)pthread_setname_np(pthread_self(), DB_SYNC_THREAD_NAME);
	pthread_mutex_lock(&db->wlock);
	for (;;) {
		if (db_sync_due(db)) {
			db_sync(db);
		} else if (db->sync_stop) {
			break;
		} else {
			db->sync_idle = 1;
			pthread_cond_wait(&db->sync_cond, &db->wlock);
			db->sync_idle = 0;
		}
	}
	pthread_mutex_unlock(&db->wlock);
	return NULL;
}

int
db_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	static const int faults[] = { SIGBUS, SIGSEGV, SIGFPE, SIGILL };
	sigset_t all, old;
	size_t i;
	int rc;

	sigfillset(&all);
	for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		sigdelset(&all, faults[i]);
	}
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* Start the sync thread (db_thread_start); 0, or the error number. */
static int
db_syncer_start(struct db *db)
{
	int rc;

	rc = db_thread_start(&db->sync_thread, db_syncer_main, db);
	db->sync_started = rc == 0;
	return rc;
}

/* Stop the sync thread once nothing committed waits for it. */
static void
db_syncer_stop(struct db *db)
{
	if (!db->sync_started) {
		return;
	}
	pthread_mutex_lock(&db->wlock);
	db->sync_stop = 1;
	pthread_cond_signal(&db->sync_cond);
	pthread_mutex_unlock(&db->wlock);
	pthread_join(db->sync_thread, NULL);
	db->sync_started = 0;
}

/*
 * Wait (wlock held) until batch seq is durable or a sync has failed: the
 * sync thread syncs it.
 */
static void
db_wait_durable(struct db *db, uint64_t seq)
{
	while (db->durable_seq < seq && !db->sync_failed) {
		ASSERT(db->sync_started);
		db->durable_waiting++;
		pthread_cond_wait(&db->durable, &db->wlock);
		db->durable_waiting--;
	}
}

/* If SQLite rolled the whole batch back on an error, its writers fail. */
static void
db_batch_check(struct db *db)
{
	if (db->in_batch && sqlite3_get_autocommit(db->writer)) {
		log_err("database: a write batch was rolled back");
		db_batch_finish(db, ERR_INTERNAL);
	}
}

/*
 * Give the writer connection back (wlock held), after making the writes
 * queued for it.  If SQLite rolled the whole batch back on an error, its
 * writers fail.  Then either the next
 * waiting thread takes the connection and adds to the batch, or this one
 * commits the batch.
 */
static void
db_writer_release(struct db *db)
{
	assert(db->wbusy);
	db_batch_check(db);
	/* The writes queued meanwhile are made before it goes. */
	db_jobs_run(db);
	db->wbusy = 0;
	if (db->wwaiting > 0 && (!db->in_batch ||
	    db->batch_size < DB_BATCH_MAX)) {
		pthread_cond_signal(&db->wfree);
		return;
	}
	/* While a sync runs, the batch grows: db_sync commits it after. */
	if (db_batch_due(db)) {
		db_batch_commit_now(db);
	}
	pthread_cond_broadcast(&db->wfree);
}

/* SQLite's count of changes to the database file, by anyone. */
static unsigned
db_data_version(sqlite3 *h)
{
	unsigned v = 0;

	(void)sqlite3_file_control(h, "main", SQLITE_FCNTL_DATA_VERSION, &v);
	return v;
}

sqlite3 *
db_writer_lock(struct db *db)
{
	pthread_mutex_lock(&db->wlock);
	db_writer_acquire(db);
	if (db->in_batch) {
		db_batch_commit(db);
	}
	pthread_mutex_unlock(&db->wlock);
	db->wversion = db_data_version(db->writer);
	return db->writer;
}

/*
 * What the caller committed on its own is synced before it goes on, as a
 * batch of its own; a read (no readers configured) waits for what it
 * may have seen.
 */
void
db_writer_unlock(struct db *db)
{
	int changed = db_data_version(db->writer) != db->wversion;

	pthread_mutex_lock(&db->wlock);
	if (changed) {
		__atomic_store_n(&db->commit_seq, db->commit_seq + 1,
		    __ATOMIC_SEQ_CST);
		db->committed_seq = db->commit_seq;
		db_sync_kick(db);
	}
	db_writer_release(db);
	db_wait_durable(db, db->commit_seq);
	pthread_mutex_unlock(&db->wlock);
}

/*
 * Whether writes are refused now, without trying (wlock held): then
 * db_refused is set for db_take_refused.
 */
static int
db_write_refused(struct db *db)
{
	/* A sync failed (db_sync), which only a restart can tell about. */
	if (db->sync_failed) {
		db->fault_until = now_ms() + DB_SHM_RETRY_MS;
	}
	/* The WAL index is private now (shm.c): no write until a restart. */
	if (db_shm_lost()) {
		if (db->fault_since == 0) {
			db->fault_since = now_ms();
			log_err("storage is failing: %s: the WAL index "
			    "%s-shm was truncated or made unwritable "
			    "underneath drinkd; writes are refused with "
			    "unavailable until drinkd is restarted with the "
			    "file repaired", db_op != NULL ? db_op : "a write",
			    db->path);
		}
		db->fault_until = now_ms() + DB_SHM_RETRY_MS;
		db->recover_seq = 0;
	}
	if (db->fault_since != 0 && now_ms() < db->fault_until) {
		db->fault_refused++;
		db_refused = 1;
		return 1;
	}
	return 0;
}

/*
 * Open a write on the connection this thread holds (wlock not held): a
 * savepoint in the batch, BEGIN IMMEDIATE first when none is open.  -1
 * on failure, logged, with wlock held (a storage fault sets db_refused);
 * the connection is still held.
 */
static int
db_write_open(struct db *db)
{
	const char *what = "begin";
	char why[256];
	int open;

	pthread_mutex_lock(&db->wlock);
	open = db->in_batch;
	pthread_mutex_unlock(&db->wlock);
	/* The connection's holder owns what the update hook fills. */
	db->ntouched = 0;
	db->touched_lost = 0;
	db->touched_tx = 0;
	if (!open && db_exec_ctl(db->writer, "BEGIN IMMEDIATE") != SQLITE_OK) {
		goto err;
	}
	/* Only the connection's holder changes in_batch from 0 to 1. */
	pthread_mutex_lock(&db->wlock);
	db->in_batch = 1;
	pthread_mutex_unlock(&db->wlock);
	if (db_exec_ctl(db->writer, "SAVEPOINT w") != SQLITE_OK) {
		what = "savepoint";
		goto err;
	}
	return 0;
err:
	snprintf(why, sizeof(why), "%s", sqlite3_errmsg(db->writer));
	pthread_mutex_lock(&db->wlock);
	if (db_storage_error(db)) {
		db_fault(db, db_op, what, why);
		db_refused = 1;
	} else {
		log_err("database: cannot begin a write: %s", why);
	}
	return -1;
}

sqlite3 *
db_write_begin(struct db *db)
{
	pthread_mutex_lock(&db->wlock);
	if (db_write_refused(db)) {
		pthread_mutex_unlock(&db->wlock);
		return NULL;
	}
	db_writer_acquire(db);
	pthread_mutex_unlock(&db->wlock);
	if (db_write_open(db) != 0) {
		db_writer_release(db);
		pthread_mutex_unlock(&db->wlock);
		return NULL;
	}
	return db->writer;
}

/*
 * End the open write, keeping the connection; wlock is held on return.
 * Kept (rc ERR_NONE), w joins the batch; so does a refusal that may
 * have seen writes not yet durable, to wait for them.  A failed
 * statement rolls back its savepoint: nothing was applied, and a storage
 * fault there is unavailable.  A failed RELEASE or COMMIT may or may not
 * have reached the disk, so it stays internal (outcome unknown).  A
 * savepoint that cannot be rolled back to, its transaction still open,
 * would leave the write in the batch for the next COMMIT: the whole
 * batch is rolled back instead, and its writers fail with this one.
 */
static int
db_write_close(struct db *db, int rc, struct db_waiter *w, int wanted)
{
	const char *what = NULL;
	char why[256] = "", undo[256] = "";
	int storage = 0;

	if (rc == ERR_NONE) {
		db_touched_read(db, w);
		if (db_exec_ctl(db->writer, "RELEASE w") != SQLITE_OK) {
			what = "commit";
			rc = ERR_INTERNAL;
		}
	} else if (rc == ERR_INTERNAL && db_storage_error(db)) {
		what = "a statement";
		rc = ERR_UNAVAILABLE;
	}
	if (what != NULL) {
		storage = db_storage_error(db);
		snprintf(why, sizeof(why), "%s", sqlite3_errmsg(db->writer));
	}
	if (rc != ERR_NONE && sqlite3_get_autocommit(db->writer) == 0) {
		if (db_exec_ctl(db->writer, "ROLLBACK TO w") == SQLITE_OK) {
			(void)db_exec_ctl(db->writer, "RELEASE w");
		} else if (sqlite3_get_autocommit(db->writer) == 0) {
			snprintf(undo, sizeof(undo), "%s",
			    sqlite3_errmsg(db->writer));
			sqlite3_exec(db->writer, "ROLLBACK", NULL, NULL, NULL);
		}
	}
	db->ntouched = 0;
	db->touched_lost = 0;
	pthread_mutex_lock(&db->wlock);
	if (storage) {
		db_fault(db, db_op, what, why);
	} else if (what != NULL) {
		log_err("database: cannot finish a write: %s", why);
	}
	if (undo[0] != '\0') {
		log_err("database: cannot undo a failed write: %s; its batch "
		    "is rolled back", undo);
		/* A refusal read from the lost batch is no answer either. */
		if (rc != ERR_UNAVAILABLE) {
			rc = ERR_INTERNAL;
		}
		db_batch_check(db);
	}
	w->made = 1;
	/* A queued write whose ticket is waited for already is wanted. */
	if (w->queued && w->sleeping) {
		wanted = 1;
	}
	/*
	 * A refusal is an answer read from the batch before it, and from
	 * batches committed but maybe not yet synced: like a read
	 * (db_read_end), it is given only once they are durable.  So it
	 * joins the batch, empty, and gives its refusal once that is
	 * durable, or internal if it is lost (db_waiter_wait).
	 */
	if (rc != ERR_NONE && rc != ERR_INTERNAL && rc != ERR_UNAVAILABLE &&
	    db->in_batch && (db->batch_size > 0 ||
	    db->durable_seq < db->committed_seq)) {
		w->refusal = rc;
		rc = ERR_NONE;
	}
	if (rc == ERR_NONE) {
		w->op = db_op;
		if (!w->queued) {
			pthread_cond_init(&w->cond, NULL);
		}
		w->next = db->batch;
		db->batch = w;
		db->batch_size++;
		w->wanted = wanted;
		db->batch_wanted += wanted;
	}
	return rc;
}

/* db_write_close, then the connection given back. */
static int
db_write_finish(struct db *db, int rc, struct db_waiter *w, int wanted)
{
	rc = db_write_close(db, rc, w, wanted);
	db_writer_release(db);
	pthread_mutex_unlock(&db->wlock);
	return rc;
}

/*
 * Wait until w's batch is durable or lost: its outcome (for a refusal
 * kept to wait, the refusal once durable).
 */
static int
db_waiter_wait(struct db *db, struct db_waiter *w)
{
	pthread_mutex_lock(&db->wlock);
	/* A queued write not made yet is made first, wanted (db_jobs_run). */
	db_job_wait_made(db, w);
	/* A write for a ticket, still in the open batch: it is wanted now. */
	if (!w->done && !w->wanted && w->seq == 0) {
		w->wanted = 1;
		db->batch_wanted++;
		if (db_batch_due(db)) {
			db_batch_commit_now(db);
			pthread_cond_broadcast(&db->wfree);
		}
	}
	while (!w->done) {
		w->sleeping = 1;
		pthread_cond_wait(&w->cond, &db->wlock);
		w->sleeping = 0;
	}
	pthread_mutex_unlock(&db->wlock);
	pthread_cond_destroy(&w->cond);
	return w->rc != ERR_NONE ? w->rc : w->refusal;
}

int
db_write_end(struct db *db, int rc)
{
	struct db_waiter w = { 0 };

	if ((rc = db_write_finish(db, rc, &w, 1)) != ERR_NONE) {
		return rc;
	}
	return db_waiter_wait(db, &w);
}

/* A write whose durability another thread waits for. */
struct db_ticket {
	struct db_job job;
};

int
db_ticket_wait(struct db *db, struct db_ticket *t)
{
	int rc = db_waiter_wait(db, &t->job.w);

	free(t);
	return rc;
}

/*
 * Make the queued writes (wlock held, the connection held by this thread),
 * each as its submitter would have: its savepoint, fn, and its end.  What
 * the batch can take goes in it; a full batch is committed between two.
 * A write whose caller went on (db_write_queue) is wanted when its ticket
 * is already waited for.
 */
static void
db_jobs_run(struct db *db)
{
	struct db_job *j;
	const char *op;
	int refused, rc;

	assert(db->wbusy);
	while ((j = db->jobs_head) != NULL) {
		if (db->in_batch && db->batch_size >= DB_BATCH_MAX) {
			db_batch_commit(db);
		}
		if ((db->jobs_head = j->next) == NULL) {
			db->jobs_tail = NULL;
		}
		pthread_mutex_unlock(&db->wlock);
		/* What the write is, and whether it was refused: its own. */
		op = db_op;
		refused = db_refused;
		db_op = j->op;
		db_refused = 0;
		if (db_write_open(db) != 0) {
			rc = ERR_INTERNAL;
			j->w.made = 1;
		} else {
			rc = db_write_close(db, j->fn(db->writer, j->arg), &j->w,
			    !j->later);
		}
		j->refused = db_refused;
		db_op = op;
		db_refused = refused;
		j->rc = rc;
		/* A kept write's waiter sleeps on until it is durable. */
		if (rc != ERR_NONE) {
			j->w.rc = rc;
			j->w.done = 1;
			pthread_cond_signal(&j->w.cond);
		}
		/*
		 * If SQLite rolled the batch back, its writers fail now: the
		 * next write, maybe another thread's, must begin a new one,
		 * not run unbatched and be told it failed once committed.
		 */
		db_batch_check(db);
	}
}

/*
 * With the connection free and writes queued (wlock held): make them on
 * this thread and give the connection back.  1 when it did.
 */
static int
db_jobs_make(struct db *db)
{
	if (db->jobs_head == NULL || db->wbusy || db->wcommitting) {
		return 0;
	}
	db->wbusy = 1;
	db_writer_release(db);
	return 1;
}

/*
 * Wait (wlock held) until w's write was made, making the queue whenever
 * the connection is free: nothing else may be left to make it.
 */
static void
db_job_wait_made(struct db *db, struct db_waiter *w)
{
	while (!w->made) {
		if (db_jobs_make(db)) {
			continue;
		}
		w->sleeping = 1;
		pthread_cond_wait(&w->cond, &db->wlock);
		w->sleeping = 0;
	}
}

/*
 * Queue j (wlock held): ERR_NONE, or ERR_INTERNAL refused up front
 * (db_write_refused), not queued.  When the connection is free, a thread
 * that waits for its write makes the queue at once.  One that goes on
 * (j->later: the machine's thread with a capture) leaves it to the
 * connection's holder or to the ticket's waiter: the machine's thread is
 * the one thread a machine's vends pass through in turn, so the write's
 * work is better done on the member's thread, which is woken next anyway
 * and waits for that write (db_job_wait_made makes the queue).  Under
 * the load of `make bench`'s drops/s figure (loadgen drop, 16 members on
 * 4 instant-ack machines) this made 6% more drops/s, median of 8 runs
 * interleaved with the build before.
 */
static int
db_job_queue(struct db *db, struct db_job *j)
{
	if (db_write_refused(db)) {
		return ERR_INTERNAL;
	}
	j->op = db_op;
	j->w.queued = 1;
	pthread_cond_init(&j->w.cond, NULL);
	if (db->jobs_tail != NULL) {
		db->jobs_tail->next = j;
	} else {
		db->jobs_head = j;
	}
	db->jobs_tail = j;
	if (!j->later) {
		(void)db_jobs_make(db);
	}
	return ERR_NONE;
}

int
db_write_run(struct db *db, db_write_fn fn, void *arg)
{
	struct db_job j = { .fn = fn, .arg = arg };
	int rc;

	pthread_mutex_lock(&db->wlock);
	if ((rc = db_job_queue(db, &j)) == ERR_NONE) {
		db_job_wait_made(db, &j.w);
		if (j.refused) {
			db_refused = 1;
		}
		if ((rc = j.rc) != ERR_NONE) {
			pthread_cond_destroy(&j.w.cond);
		}
	}
	pthread_mutex_unlock(&db->wlock);
	return rc != ERR_NONE ? rc : db_waiter_wait(db, &j.w);
}

int
db_write_queue(struct db *db, db_write_fn fn, void *arg,
    struct db_ticket **later)
{
	struct db_ticket *t = xcalloc(1, sizeof(*t));
	int rc;

	t->job.fn = fn;
	t->job.arg = arg;
	t->job.later = 1;
	pthread_mutex_lock(&db->wlock);
	rc = db_job_queue(db, &t->job);
	pthread_mutex_unlock(&db->wlock);
	if (rc != ERR_NONE) {
		free(t);
		t = NULL;
	}
	*later = t;
	return rc;
}

void *
db_ticket_arg(const struct db_ticket *t)
{
	return t->job.arg;
}

/*
 * Borrow a reader.  With no reader configured (tools, tests) the writer
 * serves reads under its lock.  Readers are taken and given back with
 * one atomic operation each (a thread tries the one it used last first),
 * so reads do not queue on a mutex; only when all are lent does a
 * reader wait, on rlock.
 */
static __thread int db_reader_hint;

/* Claim a free reader: its index, or -1 when all are lent. */
static int
db_reader_claim(struct db *db)
{
	int k, i, free_;

	for (k = 0; k < db->nreaders; k++) {
		i = (db_reader_hint + k) % db->nreaders;
		free_ = 0;
		if (__atomic_load_n(&db->rbusy[i], __ATOMIC_SEQ_CST) == 0 &&
		    __atomic_compare_exchange_n(&db->rbusy[i], &free_, 1, 0,
		    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
			db_reader_hint = i;
			return i;
		}
	}
	return -1;
}

/*
 * Once the WAL index was lost (shm.c) and nobody holds a connection,
 * clear the private index so the next transaction rebuilds it from the
 * WAL.  Every reader is claimed and the writer lock taken for the
 * moment of the rebuild; if any is busy, a later read tries again.
 */
static void
db_shm_maybe_rebuild(struct db *db)
{
	int i = 0, all = 1, zero;

	if (!db_shm_lost() ||
	    __atomic_load_n(&db->shm_rebuilt, __ATOMIC_SEQ_CST)) {
		return;
	}
	pthread_mutex_lock(&db->rlock);
	if (__atomic_load_n(&db->shm_rebuilt, __ATOMIC_SEQ_CST) ||
	    pthread_mutex_trylock(&db->wlock) != 0) {
		pthread_mutex_unlock(&db->rlock);
		return;
	}
	/* The writer connection must be outside any transaction too. */
	if (db->wbusy || db->wcommitting || db->in_batch || db->ckpt_busy) {
		all = 0;
		i = 0;
	}
	for (; all && i < db->nreaders; i++) {
		zero = 0;
		if (!__atomic_compare_exchange_n(&db->rbusy[i], &zero, 1, 0,
		    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
			all = 0;
			break;
		}
	}
	if (all) {
		db_shm_rebuild();
		db_balances_forget(db);	/* the WAL may say more than we knew */
		__atomic_store_n(&db->shm_rebuilt, 1, __ATOMIC_SEQ_CST);
		log_warn("database: the WAL index is rebuilt from %s-wal in "
		    "private memory; reads go on", db->path);
	}
	while (i-- > 0) {
		__atomic_store_n(&db->rbusy[i], 0, __ATOMIC_SEQ_CST);
	}
	/* A reader that found them all claimed waits on rcond. */
	pthread_cond_broadcast(&db->rcond);
	pthread_mutex_unlock(&db->wlock);
	pthread_mutex_unlock(&db->rlock);
}

sqlite3 *
db_read_begin(struct db *db)
{
	int i;

	if (db->nreaders == 0) {
		return db_writer_lock(db);
	}
	db_shm_maybe_rebuild(db);
	if ((i = db_reader_claim(db)) < 0) {
		pthread_mutex_lock(&db->rlock);
		__atomic_add_fetch(&db->rwaiting, 1, __ATOMIC_SEQ_CST);
		while ((i = db_reader_claim(db)) < 0) {
			pthread_cond_wait(&db->rcond, &db->rlock);
		}
		__atomic_sub_fetch(&db->rwaiting, 1, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&db->rlock);
	}
	return db->readers[i];
}

void
db_read_end(struct db *db, sqlite3 *h)
{
	/* Every batch the read may have seen had begun its COMMIT by now. */
	uint64_t seen = __atomic_load_n(&db->commit_seq, __ATOMIC_SEQ_CST);
	int i = db_reader_hint;

	if (db->nreaders == 0) {
		db_writer_unlock(db);
		return;
	}
	if (i >= db->nreaders || db->readers[i] != h) {
		for (i = 0; i < db->nreaders && db->readers[i] != h; i++) {
			;
		}
	}
	assert(i < db->nreaders);
	__atomic_store_n(&db->rbusy[i], 0, __ATOMIC_SEQ_CST);
	/* A waiter counted itself before its last look: it is woken. */
	if (__atomic_load_n(&db->rwaiting, __ATOMIC_SEQ_CST) > 0) {
		pthread_mutex_lock(&db->rlock);
		pthread_cond_broadcast(&db->rcond);
		pthread_mutex_unlock(&db->rlock);
	}
	/* What is answered from the read is durable first. */
	if (__atomic_load_n(&db->durable_seq, __ATOMIC_SEQ_CST) < seen) {
		pthread_mutex_lock(&db->wlock);
		db_wait_durable(db, seen);
		pthread_mutex_unlock(&db->wlock);
	}
}
