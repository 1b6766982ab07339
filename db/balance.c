/*
 * Members' balances in memory, so that `balance` costs no SQLite read.
 *
 * The single writer tells this table the new balance of every member a
 * write changed, in commit order and only once the write's batch is
 * durable (db_report_balances in db.c), so a value here is never one a
 * client could not also have been told.  A member not in the table yet is
 * read once from a reader and installed, unless a commit was reported
 * meanwhile that the table could not keep: every report and every
 * forgetting bumps a generation, and a fill only installs a value read
 * after the last generation that forgot something, into a slot that is
 * still empty (a report for that member since would have filled it).
 *
 * Invariant: a member present in the table has the balance of the latest
 * commit reported for them, or of the database when none was reported
 * since they were installed.  Nothing writes the database behind the
 * writer while drinkd runs (db_lock); what may (a restore, a batch whose
 * COMMIT failed, a rebuilt WAL index) forgets the whole table.
 *
 * Bounded: at most DB_BALANCES_MAX members, after which the others are
 * read from SQLite each time, as before.  Users are never deleted or
 * renamed, so an entry never needs to go.
 */
#include <stdlib.h>
#include <string.h>

#include "db-int.h"

#define DB_BALANCES_MAX 3072		/* members kept (db.h says so too) */
#define DB_BALANCES_SLOTS 4096		/* hash slots, a power of two */

struct db_balance_entry {
	char user[PROTO_NAME_MAX + 1];
	int64_t balance;
	uint64_t gen;			/* of the report or fill that set it */
};

struct db_balances {
	pthread_mutex_t lock;		/* guards everything below */
	uint64_t gen;			/* reports and forgettings so far */
	uint64_t forgot;		/* gen of the last one not kept */
	int n;				/* entries in use */
	uint16_t slot[DB_BALANCES_SLOTS];	/* entry index + 1; 0: empty */
	struct db_balance_entry e[DB_BALANCES_MAX];
};

struct db_balances *
db_balances_new(void)
{
	struct db_balances *b = xcalloc(1, sizeof(*b));

	pthread_mutex_init(&b->lock, NULL);
	return b;
}

void
db_balances_free(struct db_balances *b)
{
	if (b == NULL) {
		return;
	}
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static uint32_t
db_balances_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++) {
		h = (h ^ (unsigned char)*s) * 16777619u;
	}
	return h;
}

/*
 * The slot of user (lock held): the one holding it, or the empty slot
 * where it would go.  Never full: entries are capped below the slots.
 */
static uint16_t *
db_balances_slot(struct db_balances *b, const char *user)
{
	uint32_t i = db_balances_hash(user) & (DB_BALANCES_SLOTS - 1);
	uint16_t *s;

	for (;; i = (i + 1) & (DB_BALANCES_SLOTS - 1)) {
		s = &b->slot[i];
		if (*s == 0 || strcmp(b->e[*s - 1].user, user) == 0) {
			return s;
		}
	}
}

/* Put user's balance into an empty slot (lock held); 0, or -1 when full. */
static int
db_balances_install(struct db_balances *b, uint16_t *s, const char *user,
    int64_t balance)
{
	struct db_balance_entry *e;

	ASSERT(*s == 0);
	if (b->n == DB_BALANCES_MAX || strlen(user) > PROTO_NAME_MAX) {
		return -1;
	}
	e = &b->e[b->n++];
	snprintf(e->user, sizeof(e->user), "%s", user);
	e->balance = balance;
	e->gen = b->gen;
	*s = (uint16_t)b->n;
	return 0;
}

void
db_balances_put(struct db *db, const char *user, int64_t balance)
{
	struct db_balances *b = db->balances;
	uint16_t *s;

	/* Reports come from db_sync, in commit order (wlock held). */
	ASSERT(db->reporting);
	ASSERT(balance >= 0);	/* a member's balance never goes negative */
	pthread_mutex_lock(&b->lock);
	b->gen++;
	s = db_balances_slot(b, user);
	if (*s != 0) {
		ASSERT(b->e[*s - 1].gen < b->gen);
		b->e[*s - 1].balance = balance;
		b->e[*s - 1].gen = b->gen;
	} else if (db_balances_install(b, s, user, balance) != 0) {
		b->forgot = b->gen;	/* not kept: no fill may install */
	}
	pthread_mutex_unlock(&b->lock);
}

void
db_balances_forget(struct db *db)
{
	struct db_balances *b = db->balances;

	pthread_mutex_lock(&b->lock);
	b->forgot = ++b->gen;
	b->n = 0;
	memset(b->slot, 0, sizeof(b->slot));
	pthread_mutex_unlock(&b->lock);
}

/* Tests only: what a fill does between its read and its install. */
static db_balances_fill_fn db_balances_fill_test;

void
db_balances_fill_hook(db_balances_fill_fn fn)
{
	db_balances_fill_test = fn;
}

/* Members kept in memory now (for tests). */
int
db_balances_count(struct db *db)
{
	int n;

	pthread_mutex_lock(&db->balances->lock);
	n = db->balances->n;
	pthread_mutex_unlock(&db->balances->lock);
	return n;
}

/* user's balance from SQLite: ERR_NONE, ERR_NO_SUCH_USER, ERR_INTERNAL. */
static int
db_balance_read(struct db *db, const char *name, int64_t *balance)
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

/*
 * From memory when the member is there; else one read, installed when
 * nothing was forgotten since before it began (see the top of the file).
 * The read's snapshot starts after gen0 is taken, so it holds every
 * commit reported up to gen0: a reply sent before this request began is
 * reflected either way.
 */
int
db_balance(struct db *db, const char *name, int64_t *balance)
{
	struct db_balances *b = db->balances;
	uint64_t gen0;
	uint16_t *s;
	int rc;

	pthread_mutex_lock(&b->lock);
	s = db_balances_slot(b, name);
	if (*s != 0) {
		*balance = b->e[*s - 1].balance;
		pthread_mutex_unlock(&b->lock);
		return ERR_NONE;
	}
	gen0 = b->gen;
	pthread_mutex_unlock(&b->lock);
	if ((rc = db_balance_read(db, name, balance)) != ERR_NONE) {
		return rc;
	}
	if (db_balances_fill_test != NULL) {
		db_balances_fill_test(db, name);
	}
	pthread_mutex_lock(&b->lock);
	s = db_balances_slot(b, name);
	if (*s != 0) {
		/* Reported or filled meanwhile: as new as ours, or newer. */
		ASSERT(b->e[*s - 1].gen >= gen0);
		*balance = b->e[*s - 1].balance;
	} else if (b->forgot <= gen0) {
		ASSERT(gen0 <= b->gen);
		(void)db_balances_install(b, s, name, *balance);
	}
	pthread_mutex_unlock(&b->lock);
	return ERR_NONE;
}
