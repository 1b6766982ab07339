/*
 * Internals shared by the files of db/: the connection pool and the
 * statement helpers.  Only db/ includes this header.
 */
#ifndef DRINK_DB_INT_H
#define DRINK_DB_INT_H

#include <pthread.h>
#include <stdio.h>
#include <sqlite3.h>

#include "common.h"
#include "db.h"

#define DB_MAX_READERS 16
#define DB_BUSY_MS 10000	/* wait for another connection's lock */
#define DB_MAX_TOUCHED 8	/* a movement touches two or three accounts */
#define DB_CACHE_MAX 64		/* idle prepared statements per connection */

/*
 * Every statement in db/ comes from db_prep() or db_run(), which take it
 * from the connection's cache of prepared statements.  Finalizing one
 * means "done with it": it is reset and goes back to that cache, so the
 * files of db/ keep calling sqlite3_finalize() and prepare each distinct
 * statement once per connection.  (sqlite3_finalize)(st), in parentheses,
 * still reaches SQLite's own.
 */
#define sqlite3_finalize(st) db_stmt_done(st)

#define DB_BATCH_MAX 64		/* writes committed together, at most */

/*
 * The WAL's size in bytes, reserved on disk at open (db_wal_open) and
 * kept across its restarts (journal_size_limit): more than the
 * DB_CKPT_HARD frames (ckpt.c) it reaches under load before a commit
 * checkpoints it.  A sync of frames written over blocks the file already
 * has is about twice as fast as one that also grows the file.
 */
#define DB_WAL_BYTES 100663296	/* 96 MiB */
#define DB_SYNC_THREAD_NAME "drink-sync"	/* db_syncer_main's */
#define DB_CKPT_THREAD_NAME "drink-ckpt"	/* db_ckpt_main's */
#define DB_BOOK_THREAD_NAME "drink-book"	/* db_book_main's */
#define DB_PAGE_SIZE 1024	/* of a new database (db_connect) */
#define DB_STR_(x) #x
#define DB_STR(x) DB_STR_(x)	/* a number as a string literal */

struct db_waiter;
struct db_job;
struct db_ticket;

struct db {
	char *path;
	sqlite3 *writer;
	/* The writer connection and its batch (db.c), all under wlock. */
	pthread_mutex_t wlock;
	pthread_cond_t wfree;		/* the connection may be free */
	int wbusy;			/* a thread holds the connection */
	int wwaiting;			/* threads waiting for it */
	int wcommitting;		/* COMMIT in progress */
	int in_batch;			/* the outer transaction is open */
	int batch_size;			/* writes released into it */
	int batch_wanted;		/* of them, those waited for now */
	struct db_waiter *batch;	/* their waiters, for the commit */
	/*
	 * Durability apart from the connection (db.c): the writer commits
	 * with synchronous=NORMAL, which appends to the WAL without syncing
	 * it, and the sync thread then syncs the WAL while the connection
	 * serves the next batch.  Sequence numbers count batches: commit_seq
	 * those whose COMMIT began, committed_seq those whose COMMIT ended,
	 * durable_seq those known on disk.  All under wlock; commit_seq and
	 * durable_seq are also read atomically by readers (db_read_end).
	 */
	uint64_t commit_seq, committed_seq, durable_seq;
	struct db_waiter *sync_head, *sync_tail; /* committed, oldest first */
	int syncing;			/* the sync thread is syncing the WAL */
	int sync_failed;		/* a sync failed: no writes until restart */
	pthread_t sync_thread;		/* db_syncer_main */
	pthread_cond_t sync_cond;	/* wakes it: a batch was committed */
	int sync_started;		/* it runs */
	int sync_idle;			/* it waits on sync_cond */
	int sync_stop;			/* it is to exit once idle */
	int durable_waiting;		/* threads waiting on durable */
	pthread_cond_t durable;		/* durable_seq moved, or a sync failed */
	int walfd;			/* the WAL file, for its syncs */
	unsigned wversion;		/* data version at db_writer_lock */
	int reporting;			/* db_report_balances runs; wlock */
	uint64_t reported_seq;		/* the last batch it reported; wlock */
	sqlite3 *readers[DB_MAX_READERS];
	int nreaders;
	int rbusy[DB_MAX_READERS];	/* lent (atomic) */
	int rwaiting;			/* threads waiting for one (atomic) */
	pthread_mutex_t rlock;		/* for those waits */
	pthread_cond_t rcond;
	/*
	 * Accounts whose balance the open write changed, and the last tx row
	 * it wrote (SQLite's update hook fills them); reported to balance.c
	 * and balance_hook after COMMIT.  Guarded by wlock.
	 */
	int64_t touched[DB_MAX_TOUCHED];
	int ntouched;
	int touched_lost;	/* more accounts than DB_MAX_TOUCHED */
	int64_t touched_tx;
	db_balance_hook_fn balance_hook;
	struct db_balances *balances;	/* members' balances (balance.c) */
	int created;		/* db_open made the schema from nothing */
	struct db_ckpt *ckpt;	/* the checkpointer (ckpt.c) */
	int ckpt_busy;		/* it is checkpointing; wlock */
	/*
	 * The writer's COMMIT wrote to the WAL (ckpt.c's hook sets it; an
	 * empty transaction writes nothing).  The connection's holder's.
	 */
	int commit_wrote;
	int64_t fault_since;	/* storage episode start (ms), 0: none; wlock */
	int64_t fault_until;	/* writes refused until then; wlock */
	long fault_refused;	/* writes refused this episode; wlock */
	uint64_t recover_seq;	/* the batch whose sync ends it, 0; wlock */
	int answers;		/* answer.c's file, or -1 */
	/* Its fdatasync, shared by the callers that wait together. */
	pthread_mutex_t ans_lock;
	pthread_cond_t ans_cond;	/* a sync finished */
	uint64_t ans_next;		/* generation the next sync covers */
	uint64_t ans_done;		/* last generation synced */
	uint64_t ans_failed;		/* last generation whose sync failed */
	int ans_syncing;
	/* Session bookkeeping queue (session.c), all under book_lock. */
	pthread_mutex_t book_lock;
	pthread_cond_t book_cond;	/* queued, written, or stopping */
	struct db_book *book_head, *book_tail;
	uint64_t book_seq;		/* records queued so far */
	uint64_t book_done;		/* records written so far */
	int64_t book_next_id;		/* next session id; 0 until read */
	pthread_t book_thread;
	int book_started, book_stop;
	int book_hurry;			/* flushers waiting: write at once */
	int shm_rebuilt;	/* after db_shm_lost(): header cleared; atomic */
	struct db_job *jobs_head, *jobs_tail;	/* db_write_run's; wlock */
};

/* db.c */
/*
 * Take the writer connection and open a write: a savepoint in the
 * current batch (BEGIN IMMEDIATE when it starts one).  NULL on failure.
 */
sqlite3 *db_write_begin(struct db *db);
/*
 * The writer connection for the caller alone, outside any write (the
 * open batch committed first): for tools and restore.
 */
sqlite3 *db_writer_lock(struct db *db);
void db_writer_unlock(struct db *db);
/*
 * Keep the write when rc is ERR_NONE, else roll it back; give the
 * connection back.  With ERR_NONE, returns only once the write is
 * committed and durable (ERR_NONE) or lost with its batch (ERR_INTERNAL).
 */
int db_write_end(struct db *db, int rc);
/*
 * A write as a function: fn makes it on h, inside the write's savepoint,
 * and returns ERR_NONE to keep it (as the rc given to db_write_end).  It
 * is queued, and made by whichever thread holds the writer connection
 * when its turn comes, with the other writes queued meanwhile, so fn
 * touches only h, arg and what arg points to.  db_write_run returns what
 * db_write_end would.
 */
typedef int (*db_write_fn)(sqlite3 *h, void *arg);
int db_write_run(struct db *db, db_write_fn fn, void *arg);
/*
 * db_write_run without waiting: the write is made in its turn, by the
 * thread holding the connection or else by the one that waits for
 * *later (db_ticket_wait, db.h), never by the caller, which goes on at
 * once; arg must live until then.  ERR_INTERNAL and *later NULL when
 * writes are refused up front.
 */
int db_write_queue(struct db *db, db_write_fn fn, void *arg,
    struct db_ticket **later);
/* The arg a ticket's write was queued with. */
void *db_ticket_arg(const struct db_ticket *t);
sqlite3 *db_read_begin(struct db *db);
void db_read_end(struct db *db, sqlite3 *h);
/*
 * Prepare sql and bind arguments described by types, one letter each:
 * 'i' int, 'l' int64_t, 't' const char * (NULL binds NULL), 'd' double.
 * NULL on error (logged).  sql must never change while the process runs
 * (a string constant): the statement cache knows it by its address.
 */
sqlite3_stmt *db_prep(sqlite3 *h, const char *sql, const char *types, ...);
/* Reset st and return it to its connection's cache; NULL is ignored. */
void db_stmt_done(sqlite3_stmt *st);
/* Prepare, bind, step to completion, finalize: 0 or -1 (logged). */
int db_run(sqlite3 *h, const char *sql, const char *types, ...);
/* Step once: 1 for a row, 0 when done, -1 on error (logged). */
int db_step(sqlite3_stmt *st);
const char *db_col_text(sqlite3_stmt *st, int col);
/* Add column col to obj under name, as number, string or null. */
void db_col_json(cJSON *obj, const char *name, sqlite3_stmt *st, int col);
int64_t db_now(void);

/* balance.c */
struct db_balances *db_balances_new(void);
void db_balances_free(struct db_balances *b);
/*
 * A committed write left user with balance: called by the writer in
 * commit order, once the write's batch is durable (wlock held).
 */
void db_balances_put(struct db *db, const char *user, int64_t balance);

/* session.c */
/* Wait until every session record queued so far is written. */
void db_book_flush(struct db *db);
/* Write what is queued and stop the bookkeeping thread (db_close). */
void db_book_stop(struct db *db);
/* ckpt.c: checkpoints off the commit path, from db_open to db_close. */
void db_ckpt_init(struct db *db);
void db_ckpt_stop(struct db *db);
/*
 * pthread_create for the database's own threads (db.c), with the signals
 * a process is sent blocked in the new thread: it may be started before
 * drinkd's main thread blocks them for its sigwait, or from a thread that
 * never did, and one of them landing there would end drinkd.  Faults its
 * own accesses raise stay deliverable.  0, or the error number.
 */
int db_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
/* sqlite3_open_v2, after SQLite's one-time settings (db.c). */
int db_sqlite_open(const char *path, sqlite3 **h, int flags);
/* A connection of our own (db.c), and its closing with its statements. */
sqlite3 *db_connect(const char *path, int readonly, char *err,
    size_t errlen);
void db_connection_close(sqlite3 *h);
/*
 * A read-only connection that leaves the database and its directory as
 * they are.  With no WAL or DB-shm beside it (no server has it open) the
 * file is read as immutable, creating nothing, and *quiet is 1: if
 * db_snapshot_busy() is true afterwards, a server started meanwhile and
 * what was read may be torn.  Else it reads beside the server.
 */
sqlite3 *db_connect_snapshot(const char *path, int *quiet, char *err,
    size_t errlen);
int db_snapshot_busy(const char *path);
/* -1 with err when path opens and is not an SQLite 3 file (empty is). */
int db_probe_header(const char *path, char *err, size_t errlen);

/* shm.c */
/* 1 once the DB-shm mapping was lost and replaced by private memory. */
int db_shm_lost(void);
/* Clear the private WAL index's header, so that the next transaction
 * rebuilds it from DB-wal (every connection idle). */
void db_shm_rebuild(void);

/* ledger.c */
/*
 * The system accounts, as schema.sql creates them, in this order; the
 * writer checks them when it opens the database (ledger_check_system).
 */
enum {
	LEDGER_DEPOSITS = 1,
	LEDGER_SALES = 2,
	LEDGER_HOLDS = 3,
	LEDGER_ADJUSTMENTS = 4,
};
/* 0 when the system accounts have the ids above. */
int ledger_check_system(sqlite3 *h);
/* Account id of a user or system account (-1 error, 0 none). */
int64_t ledger_account_id(sqlite3 *h, const char *name, int64_t *balance);
struct ledger_tx {
	const char *kind, *state;
	int64_t account, counterparty, actor; /* 0 for none */
	int64_t amount;			      /* signed, account's view */
	const char *machine, *item, *note;
	int slot;			      /* 0 for none */
	int64_t refund_of;		      /* 0 for none */
	int64_t from, to, moved;	      /* the entries: moved from -> to */
};
/*
 * Insert the tx row and its two entries, keeping cached balances in step.
 * Runs inside the caller's write transaction.  Returns the tx id or -1.
 */
int64_t ledger_post(sqlite3 *h, const struct ledger_tx *t);
/*
 * Move amount from one account to another under tx: the two entries and
 * the cached balances, inside the caller's write transaction; asserts
 * that no user balance went negative.  -1 when an account is missing.
 */
int ledger_move(sqlite3 *h, int64_t tx, int64_t from, int64_t to,
    int64_t amount);
/* Move every member of object from into object to. */
/* machine.c: a vend of slot inside an open write (db_machine_vended). */
int machine_vended(sqlite3 *h, const char *name, int slot, int64_t stock);
/* An idempotency key already used: its stored reply (caller frees). */
struct ledger_idem {
	int found;
	int64_t tx;
	char *reply;
};
/*
 * Look up account's key: ERR_NONE (found->found says whether it was
 * used), ERR_CONFLICT when it was used for another request, ERR_INTERNAL.
 */
int ledger_idem_find(sqlite3 *h, int64_t account, const char *key,
    const char *request, struct ledger_idem *found);
int ledger_idem_store(sqlite3 *h, int64_t account, const char *key,
    const char *request, const char *reply, int64_t tx);
/*
 * One change inside the writer's transaction: fills res with the result
 * and *tx with the transaction it posted (0 for none); returns enum
 * proto_err.  actor is the requesting user's account id (0: none).
 */
typedef int (*ledger_fn)(sqlite3 *h, struct db_move *m, int64_t actor,
    cJSON *res, int64_t *tx);
/*
 * Run fn in one write transaction, honouring m->key: every keyed change to
 * money or users goes through here, so a retry can never apply twice.
 */
int ledger_apply(struct db *db, struct db_move *m, ledger_fn fn,
    cJSON *reply);

/* user.c, machine.c: the one namespace of user and machine names. */
/* "user", "machine" or NULL (also on error) inside a transaction. */
const char *db_name_taken(sqlite3 *h, const char *name);

#endif
