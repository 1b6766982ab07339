/*
 * Checkpoints off the writers' path.  SQLite's automatic checkpoint runs
 * inside the COMMIT that takes the WAL past 1000 frames: that commit, and
 * every write of its batch waiting to be told it is durable, waits for
 * the checkpoint's page copies and its fsync of the database file (two
 * to ten milliseconds, the slowest drops measured).  Here the commit only
 * notes the WAL's length; past DB_CKPT_FRAMES a thread of our own runs a
 * PASSIVE checkpoint on its own connection, which never holds the write
 * lock, while the writers go on appending.
 *
 * If that thread cannot keep up (or cannot be started), the writer falls
 * back to checkpointing in the commit, as SQLite would, once the WAL
 * reaches DB_CKPT_HARD frames: the WAL stays bounded.  Nothing is
 * checkpointed once the WAL index was lost (shm.c): the index no longer
 * describes the file other processes see.
 */
#include <stdlib.h>

#include "db-int.h"

#define DB_CKPT_FRAMES 1000	/* frames that wake the checkpointer */
#define DB_CKPT_HARD 20000	/* frames from which the writer does it */

/* The reserve holds them, as 4 KiB pages with their 24-byte headers. */
_Static_assert(32 + (DB_CKPT_HARD + DB_CKPT_FRAMES) * (4096 + 24) <=
    DB_WAL_BYTES, "DB_WAL_BYTES is smaller than the WAL grows");

struct db_ckpt {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* due or stop */
	int due;		/* guarded by lock */
	int stop;		/* guarded by lock */
	int started;		/* guarded by lock */
	int dead;		/* it could not open its connection; lock */
	int done_at;		/* WAL frames its last checkpoint saw; lock */
	pthread_t thread;
};

/*
 * One PASSIVE checkpoint on h; logs a failure once per run of them.
 * Returns the WAL's length in frames it saw, 0 when it did nothing.
 */
static int
db_ckpt_run(struct db *db, sqlite3 *h, int *failing)
{
	int ok, rc, frames = 0;

	pthread_mutex_lock(&db->wlock);
	ok = !db_shm_lost();
	db->ckpt_busy = ok;
	pthread_mutex_unlock(&db->wlock);
	if (!ok) {
		return 0;
	}
	rc = sqlite3_wal_checkpoint_v2(h, NULL, SQLITE_CHECKPOINT_PASSIVE,
	    &frames, NULL);
	pthread_mutex_lock(&db->wlock);
	db->ckpt_busy = 0;
	pthread_mutex_unlock(&db->wlock);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY && !*failing) {
		log_warn("database: checkpoint of %s-wal failed: %s; the WAL "
		    "grows until one succeeds", db->path, sqlite3_errmsg(h));
	}
	*failing = rc != SQLITE_OK && rc != SQLITE_BUSY;
	return rc == SQLITE_OK && frames > 0 ? frames : 0;
}

static void *
db_ckpt_main(void *arg)
{
	struct db *db = arg;
	struct db_ckpt *c = db->ckpt;
	char err[256];
	sqlite3 *h;
	int failing = 0, frames;

	(void)pthread_setname_np(pthread_self(), DB_CKPT_THREAD_NAME);
	h = db_connect(db->path, 0, err, sizeof(err));
	pthread_mutex_lock(&c->lock);
	if (h == NULL) {
		log_warn("database: no checkpoint connection (%s): commits "
		    "checkpoint %s-wal themselves", err, db->path);
		c->dead = 1;
		pthread_mutex_unlock(&c->lock);
		return NULL;
	}
	for (;;) {
		while (!c->due && !c->stop) {
			pthread_cond_wait(&c->cond, &c->lock);
		}
		if (c->stop) {
			break;
		}
		c->due = 0;
		pthread_mutex_unlock(&c->lock);
		frames = db_ckpt_run(db, h, &failing);
		pthread_mutex_lock(&c->lock);
		c->done_at = frames;
	}
	pthread_mutex_unlock(&c->lock);
	db_connection_close(h);
	return NULL;
}

/*
 * SQLite's WAL hook on the writer, after each COMMIT that wrote to the
 * WAL (the writer's thread): note it (db_batch_commit), and wake the
 * checkpointer, starting it the first time.
 */
static int
db_ckpt_hook(void *arg, sqlite3 *h, const char *name, int frames)
{
	struct db *db = arg;
	struct db_ckpt *c = db->ckpt;
	int started;

	db->commit_wrote = 1;
	if (frames < DB_CKPT_FRAMES) {
		return SQLITE_OK;
	}
	pthread_mutex_lock(&c->lock);
	/* Every DB_CKPT_FRAMES new frames; the WAL may have restarted. */
	if (frames < c->done_at) {
		c->done_at = 0;
	}
	if (frames < c->done_at + DB_CKPT_FRAMES && frames < DB_CKPT_HARD) {
		pthread_mutex_unlock(&c->lock);
		return SQLITE_OK;
	}
	if (!c->started && !c->stop &&
	    db_thread_start(&c->thread, db_ckpt_main, db) == 0) {
		c->started = 1;
	}
	started = c->started && !c->dead;
	c->due = 1;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if ((!started || frames >= DB_CKPT_HARD) && !db_shm_lost()) {
		(void)sqlite3_wal_checkpoint_v2(h, name,
		    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	}
	return SQLITE_OK;
}

void
db_ckpt_init(struct db *db)
{
	struct db_ckpt *c = xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	db->ckpt = c;
	sqlite3_wal_hook(db->writer, db_ckpt_hook, db);
}

void
db_ckpt_stop(struct db *db)
{
	struct db_ckpt *c = db->ckpt;
	int started;

	if (c == NULL) {
		return;
	}
	pthread_mutex_lock(&c->lock);
	c->stop = 1;
	started = c->started;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (started) {
		pthread_join(c->thread, NULL);
	}
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
	db->ckpt = NULL;
}
