/*
 * The recorded client list and the audit trail.  Session ids continue
 * from this table, so they stay unique across restarts.
 */
#include <errno.h>
#include <time.h>

#include "db-int.h"

/*
 * How long bookkeeping records gather before they are written, and how
 * many at most: a burst of connections then costs one commit (one fsync)
 * per interval, not one per handful of connections.
 */
#define DB_BOOK_GATHER_MS 50
#define DB_BOOK_GATHER_MAX 512

/* Finish a one-statement write transaction. */
static int
db_session_done(struct db *db, int ran)
{
	return db_write_end(db, ran == 0 ? ERR_NONE : ERR_INTERNAL);
}

/*
 * Session bookkeeping (sessions rows opened, named and closed; users'
 * last_seen) is never money, and writing it on a connection's path cost
 * every connection two durable commits.  Instead it is queued here and a
 * bookkeeping thread writes whatever has queued up in one transaction,
 * once the records have gathered for DB_BOOK_GATHER_MS (at once for a
 * flush, a stop or a full batch).  A crash may lose the last moments of
 * it, nothing else.  Session ids are handed out from memory,
 * after the largest id in the table, so they stay unique across restarts
 * (a session whose row a crash lost may see its id used again).
 */
enum db_book_kind {
	DB_BOOK_OPEN,
	DB_BOOK_NAME,
	DB_BOOK_CLOSE,
	DB_BOOK_SEEN,
};

struct db_book {
	enum db_book_kind kind;
	int64_t id;			/* session */
	int64_t time;
	char what[8];			/* OPEN: "member" or "machine" */
	char address[64];
	int port;
	char user[PROTO_NAME_MAX + 1];	/* NAME, SEEN; "" for NULL */
	char machine[PROTO_NAME_MAX + 1];
	struct db_book *next;
};

static const char *
db_book_null(const char *s)
{
	return s[0] != '\0' ? s : NULL;
}

/* Write one record inside the writer's transaction; 0 or -1 (logged). */
static int
db_book_write(sqlite3 *h, const struct db_book *b)
{
	switch (b->kind) {
	case DB_BOOK_OPEN:
		return db_run(h, "INSERT INTO sessions (id, kind, address,"
		    " port, started) VALUES (?, ?, ?, ?, ?)", "lttil", b->id,
		    b->what, b->address, b->port, b->time);
	case DB_BOOK_NAME:
		return db_run(h, "UPDATE sessions SET user = ?, machine = ?"
		    " WHERE id = ?", "ttl", db_book_null(b->user),
		    db_book_null(b->machine), b->id);
	case DB_BOOK_CLOSE:
		return db_run(h, "UPDATE sessions SET ended = ? WHERE id = ?",
		    "ll", b->time, b->id);
	case DB_BOOK_SEEN:
		return db_run(h, "UPDATE users SET last_seen = ? WHERE name = ?",
		    "lt", b->time, b->user);
	}
	return -1;
}

/*
 * Wait (book_lock held, a record queued) until DB_BOOK_GATHER_MS have
 * passed, DB_BOOK_GATHER_MAX records are queued, someone flushes, or the
 * thread is stopped.
 */
static void
db_book_gather(struct db *db)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += DB_BOOK_GATHER_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (!db->book_stop && db->book_hurry == 0 &&
	    db->book_seq - db->book_done < DB_BOOK_GATHER_MAX &&
	    pthread_cond_timedwait(&db->book_cond, &db->book_lock, &ts) !=
	    ETIMEDOUT) {
		;
	}
}

static void *
db_book_main(void *arg)
{
	struct db *db = arg;
	struct db_book *list, *b;
	uint64_t seq;
	sqlite3 *h;

	(void)pthread_setname_np(pthread_self(), DB_BOOK_THREAD_NAME);
	db_set_op("recording sessions");
	pthread_mutex_lock(&db->book_lock);
	for (;;) {
		while (db->book_head == NULL && !db->book_stop) {
			pthread_cond_wait(&db->book_cond, &db->book_lock);
		}
		if (db->book_head == NULL) {
			break;
		}
		db_book_gather(db);
		list = db->book_head;
		db->book_head = db->book_tail = NULL;
		seq = db->book_seq;
		pthread_mutex_unlock(&db->book_lock);
		if ((h = db_write_begin(db)) != NULL) {
			for (b = list; b != NULL; b = b->next) {
				(void)db_book_write(h, b);
			}
			if (db_write_end(db, ERR_NONE) != ERR_NONE) {
				log_err("database: session records lost");
			}
		}
		while ((b = list) != NULL) {
			list = b->next;
			free(b);
		}
		pthread_mutex_lock(&db->book_lock);
		db->book_done = seq;
		pthread_cond_broadcast(&db->book_cond);
	}
	pthread_mutex_unlock(&db->book_lock);
	return NULL;
}

/*
 * Queue b (copied) for the bookkeeping thread, starting it if need be;
 * with no thread to be had, write it at once.
 */
static void
db_book_add(struct db *db, const struct db_book *b)
{
	struct db_book *c = xmalloc(sizeof(*c));
	sqlite3 *h;

	*c = *b;
	c->next = NULL;
	pthread_mutex_lock(&db->book_lock);
	if (!db->book_started && !db->book_stop &&
	    db_thread_start(&db->book_thread, db_book_main, db) == 0) {
		db->book_started = 1;
	}
	if (db->book_started && !db->book_stop) {
		if (db->book_tail != NULL) {
			db->book_tail->next = c;
		} else {
			db->book_head = c;
		}
		db->book_tail = c;
		db->book_seq++;
		/* Wake the thread for a first record or a full batch only. */
		if (db->book_head == c ||
		    db->book_seq - db->book_done >= DB_BOOK_GATHER_MAX) {
			pthread_cond_broadcast(&db->book_cond);
		}
		pthread_mutex_unlock(&db->book_lock);
		return;
	}
	pthread_mutex_unlock(&db->book_lock);
	if ((h = db_write_begin(db)) != NULL) {
		db_session_done(db, db_book_write(h, c));
	}
	free(c);
}

void
db_book_flush(struct db *db)
{
	uint64_t want;

	pthread_mutex_lock(&db->book_lock);
	want = db->book_seq;
	db->book_hurry++;
	pthread_cond_broadcast(&db->book_cond);
	while (db->book_started && db->book_done < want) {
		pthread_cond_wait(&db->book_cond, &db->book_lock);
	}
	db->book_hurry--;
	pthread_mutex_unlock(&db->book_lock);
}

void
db_book_stop(struct db *db)
{
	int started;

	pthread_mutex_lock(&db->book_lock);
	db->book_stop = 1;
	started = db->book_started;
	pthread_cond_broadcast(&db->book_cond);
	pthread_mutex_unlock(&db->book_lock);
	if (started) {
		pthread_join(db->book_thread, NULL);
	}
}

int
db_session_open(struct db *db, const char *kind, const char *address,
    int port, int64_t *id)
{
	struct db_book b = { .kind = DB_BOOK_OPEN, .port = port,
		.time = db_now() };
	sqlite3_stmt *st;
	sqlite3 *h;
	int rc = ERR_NONE;

	pthread_mutex_lock(&db->book_lock);
	if (db->book_next_id == 0) {
		h = db_read_begin(db);
		if ((st = db_prep(h, "SELECT coalesce(max(id), 0) FROM sessions",
		    "")) != NULL && db_step(st) == 1) {
			db->book_next_id = sqlite3_column_int64(st, 0) + 1;
		} else {
			rc = ERR_INTERNAL;
		}
		sqlite3_finalize(st);
		db_read_end(db, h);
	}
	b.id = *id = db->book_next_id++;
	pthread_mutex_unlock(&db->book_lock);
	if (rc != ERR_NONE) {
		return rc;
	}
	snprintf(b.what, sizeof(b.what), "%s", kind);
	snprintf(b.address, sizeof(b.address), "%s", address);
	db_book_add(db, &b);
	return ERR_NONE;
}

int
db_session_name(struct db *db, int64_t id, const char *user,
    const char *machine)
{
	struct db_book b = { .kind = DB_BOOK_NAME, .id = id };

	snprintf(b.user, sizeof(b.user), "%s", user != NULL ? user : "");
	snprintf(b.machine, sizeof(b.machine), "%s",
	    machine != NULL ? machine : "");
	db_book_add(db, &b);
	return ERR_NONE;
}

int
db_session_close(struct db *db, int64_t id)
{
	struct db_book b = { .kind = DB_BOOK_CLOSE, .id = id,
		.time = db_now() };

	db_book_add(db, &b);
	return ERR_NONE;
}

int
db_user_seen(struct db *db, const char *name)
{
	struct db_book b = { .kind = DB_BOOK_SEEN, .time = db_now() };

	snprintf(b.user, sizeof(b.user), "%s", name);
	db_book_add(db, &b);
	return ERR_NONE;
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
