/*
 * The database: the only interface to SQLite.  Nothing outside db/ includes
 * sqlite3.h; SQLite result codes are translated here into protocol error
 * codes (enum proto_err, ERR_NONE on success) or 0/-1.
 *
 * Concurrency: one writer connection behind a mutex (every change is one
 * BEGIN IMMEDIATE ... COMMIT while holding it) and a small pool of
 * read-only connections.  WAL, synchronous=FULL, foreign keys on.
 *
 * Functions that fill a cJSON object or array add to what the caller
 * passed; the caller owns it.
 */
#ifndef DRINK_DB_H
#define DRINK_DB_H

#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#define DB_SCHEMA_VERSION 7

struct db;

struct db_user {
	char name[33];
	char role[8];
	char hash[160];
	int disabled;
	int64_t balance;
};

/*
 * A change to money or users requested by a client; unused fields
 * zero/NULL.  A key makes it idempotent (ledger.c): the same actor, key and
 * request return the first result and never apply twice.
 */
struct db_move {
	const char *actor;	/* logged-in user making the request */
	const char *user;	/* account concerned (send: the recipient;
				 * user_add: the new user) */
	int64_t amount;		/* send/credit/debit amount; set_balance target;
				 * user_add: initial balance */
	const char *role;	/* user_add: "member" or "admin" */
	const char *hash;	/* user_add: the password's hash */
	int64_t tx;		/* refund: the drop to refund */
	const char *note;
	const char *key;	/* idempotency key, or NULL */
	const char *request;	/* canonical arguments, for key conflicts */
	int64_t balance;	/* out: balance shown on insufficient_funds */
	const char *message;	/* out: a refusal's own words, or NULL */
};

/* A drop on its way through hold and settlement. */
struct db_drop {
	const char *user, *machine;
	int slot;
	const char *key;	/* idempotency key, or NULL */
	const char *request;	/* canonical arguments, for key conflicts */
	int64_t tx;		/* out: the drop's transaction */
	int64_t price;		/* out */
	int64_t balance;	/* out: after the hold; on insufficient_funds,
				 * the balance that fell short */
	char item[256];		/* out */
	char message[160];	/* out: text for an error, when specific */
	int replayed;		/* out: reply is the key's first result */
};

struct db_log_filter {
	const char *user, *machine, *kind;
	int64_t since, until;	/* -1 when absent */
	int64_t before;		/* history: tx id upper bound, -1 absent */
	int limit;
};

/*
 * Called after each COMMIT that changed a member's balance, with the
 * writer lock still held, so calls come in commit order.  It must not use
 * the database.
 */
typedef void (*db_balance_hook_fn)(const char *user, int64_t balance,
    int64_t tx);

/* db.c */
void db_set_balance_hook(struct db *db, db_balance_hook_fn fn);
/* Open (creating mode 0600) and migrate; NULL with err set on failure. */
struct db *db_open(const char *path, int readers, char *err, size_t errlen);
/* Like db_open, but a missing file is an error naming the path: for every
 * command that must not create a database by mistake. */
struct db *db_open_existing(const char *path, int readers, char *err,
    size_t errlen);
/* An existing database opens read-only and its schema is not too new. */
int db_probe(const char *path, char *err, size_t errlen);
void db_close(struct db *db);
int db_schema_version(struct db *db);

/* backup.c */
/*
 * Copy the database at src_path (live or not) to dst_path with SQLite's
 * online backup API, through DST.tmp renamed into place once the copy
 * opens, passes quick_check and the ledger check (breaches printed to
 * out).  -1 with err set on failure; dst_path is then left as it was.
 */
int db_backup(const char *src_path, const char *dst_path, FILE *out,
    char *err, size_t errlen);
/*
 * Replace the contents of db_path (created if missing) with a verified
 * copy of backup_path, in one write transaction.  No server may be using
 * db_path.  The backup file itself is not modified.
 */
int db_restore(const char *backup_path, const char *db_path, FILE *out,
    char *err, size_t errlen);

/* prune.c */
/*
 * Delete up to batch temperature rows older than temps_before and up to
 * batch closed session rows that ended before sessions_before (Unix
 * seconds), in one short transaction.  Rows deleted, or -1.
 */
int db_prune(struct db *db, int64_t temps_before, int64_t sessions_before,
    int batch);

/*
 * db.c: storage faults.  While storage fails, writes are refused up
 * front (the caller sees ERR_INTERNAL or ERR_UNAVAILABLE from db_*);
 * db_take_refused says whether this thread's last write was refused
 * without being tried (so nothing was applied), db_retry_after when to
 * try again (seconds, at least 1).  db_set_op names what the thread is
 * writing, for the one log line of an episode.
 */
void db_set_op(const char *op);
int db_take_refused(void);
int64_t db_retry_after(struct db *db);
/* 1 once writes are refused until a restart (a failed sync, a lost index). */
int db_writes_stopped(struct db *db);

/* lock.c */
/*
 * Take the exclusive lock of the database at path, held until db_unlock
 * or the process ends; the locked descriptor, -2 when the database's
 * directory does not exist, or -1 with err set (another drinkd holds it:
 * "database PATH is in use by drinkd (pid N)").
 */
int db_lock(const char *path, char *err, size_t errlen);
void db_unlock(int fd);

/*
 * answer.c: machines' answers kept outside SQLite until their drop is
 * settled, so a restart after a storage fault captures what was vended.
 */
int db_answer_open(struct db *db);
/*
 * Record that the machine answered tx with outcome (ERR_NONE: vended),
 * and the stock its capture sets (as db_drop_capture).  sensed (>= 0,
 * for a vend) is a count for the drop's slot being stored since, that
 * may be kept though its write failed: the capture leaves the slot
 * alone if it holds that count; -1: none.
 */
int db_answer_put(struct db *db, int64_t tx, int outcome, int64_t stock,
    int64_t sensed);
/* 1, *outcome, *stock and *sensed when an answer for tx is recorded. */
int db_answer_get(struct db *db, int64_t tx, int *outcome, int64_t *stock,
    int64_t *sensed);
/* Forget every answer (all pending drops are settled). */
int db_answer_reset(struct db *db);

/* shm.c */
/*
 * Survive the loss of the database's WAL index mapping (DB-shm truncated
 * or made immutable): a SIGBUS there is taken, reads go on, writes are
 * refused with unavailable until a restart.  Process-wide; 0 or -1.
 */
int db_shm_guard(struct db *db);

/* user.c */
/*
 * Create m->user (role, hash, initial balance m->amount) honouring m->key;
 * adds "user" to reply.  ERR_EXISTS when the name is a user's or a
 * machine's (one namespace: see db_name_owner).
 */
int db_user_create(struct db *db, struct db_move *m, cJSON *reply);
/* db_user_create without a key or a reply (offline useradd, tests). */
int db_user_add(struct db *db, const char *actor, const char *name,
    const char *hash, const char *role, int64_t balance);
/* "user", "machine" or NULL: who holds name in the shared namespace. */
const char *db_name_owner(struct db *db, const char *name);
/* Log each name that is both a user's and a machine's (an old database);
 * how many, or -1. */
int db_name_clashes(struct db *db);
int db_user_get(struct db *db, const char *name, struct db_user *u);
/*
 * role NULL, disabled -1 and hash NULL leave that field alone.  With
 * keep_admin, ERR_CONFLICT when it would demote or disable the last
 * enabled admin (the server's commands; drinkd usermod, run by whoever
 * runs the server, may).
 */
int db_user_mod(struct db *db, const char *name, const char *role,
    int disabled, const char *hash, int keep_admin);
int db_user_seen(struct db *db, const char *name);
int db_users(struct db *db, cJSON *array);

/* balance.c: members' balances, kept in memory as commits report them. */
/* user's balance as of the latest commit reported (ERR_NO_SUCH_USER). */
int db_balance(struct db *db, const char *name, int64_t *balance);
/* How many members' balances are held in memory now (at most 3072). */
int db_balances_count(struct db *db);
/*
 * Forget every balance held in memory, so each is read afresh: the
 * database changed without the writer reporting it (a restore, a failed
 * COMMIT, a rebuilt WAL index).
 */
void db_balances_forget(struct db *db);
/*
 * Tests only: fn runs in every fill of a balance not in memory, after its
 * read and before its install (NULL: nothing).  Process-wide.
 */
typedef void (*db_balances_fill_fn)(struct db *db, const char *user);
void db_balances_fill_hook(db_balances_fill_fn fn);

/* ledger.c: each adds "tx" and "balance" to reply on success. */
int db_send(struct db *db, struct db_move *m, cJSON *reply);
int db_credit(struct db *db, struct db_move *m, cJSON *reply);
int db_debit(struct db *db, struct db_move *m, cJSON *reply);
int db_set_balance(struct db *db, struct db_move *m, cJSON *reply);
int db_refund(struct db *db, struct db_move *m, cJSON *reply);
/* history: f->user is the member whose view is shown. */
int db_history(struct db *db, const struct db_log_filter *f, cJSON *array);
int db_log(struct db *db, const struct db_log_filter *f, cJSON *array);
/* Print each breach to out; 0 when the ledger is sound, -1 otherwise. */
int db_check_ledger(struct db *db, FILE *out);
/*
 * The same on the file at path, opened read-only, which is left exactly
 * as it was: 0 sound, -1 breaches (printed), -2 not checked (err says).
 */
int db_check_ledger_file(const char *path, FILE *out, char *err,
    size_t errlen);

/* drop.c */
/*
 * Validate and hold the price (tx pending, member -> @holds); online says
 * whether the machine's controller is connected.  With a key already used,
 * nothing is held: the first result is replayed into reply (d->replayed),
 * or its error returned, or drop_in_progress while it is still pending.
 */
int db_drop_hold(struct db *db, struct db_drop *d, int online, cJSON *reply);
/* Move every field of the object from into the object to. */
void ledger_json_move(cJSON *to, cJSON *from);
/*
 * The machine vended: @holds -> @sales, and in the same write the drop's
 * slot gets stock (as db_machine_vended; -2 leaves it alone), only if the
 * drop is captured now: a capture found made before (its write reported
 * lost, yet kept) moved the stock then.  Adds the result, *captured 1.
 * A drop found released stays released (the member is not charged, the
 * stock is left alone): ERR_NONE all the same, for that is the recorded
 * outcome, with *captured 0 and nothing added.
 */
int db_drop_capture(struct db *db, int64_t tx, int64_t stock, cJSON *reply,
    int *captured);
/*
 * A write made on one thread whose durability another awaits: it is the
 * outcome of the write, ERR_NONE once durable, ERR_INTERNAL when its batch
 * was lost.  Frees t; every ticket is waited for exactly once.
 */
struct db_ticket;
int db_ticket_wait(struct db *db, struct db_ticket *t);
/*
 * The machine's "ok" for drop tx, in one write queued by the machine's
 * thread, in the order of its messages: the slot's stock (as
 * db_machine_vended; stock -2 leaves it alone) and, while the drop is
 * still pending, its capture.  A drop a timeout already released stays
 * released.  On an error nothing is recorded.  The caller goes on at
 * once: with ERR_NONE, *later is for db_drop_vended_wait; ERR_INTERNAL
 * (and *later NULL) when writes are refused.
 */
int db_drop_vended(struct db *db, int64_t tx, const char *machine, int slot,
    int64_t stock, struct db_ticket **later);
/*
 * Wait for a db_drop_vended write (as db_ticket_wait, which it frees):
 * ERR_NONE once durable; then *captured says whether it captured the
 * drop, whose result it adds to reply.
 */
int db_drop_vended_wait(struct db *db, struct db_ticket *later, cJSON *reply,
    int *captured);
/*
 * The vend failed: @holds -> member; err and message kept for the key.
 * A drop its machine's thread captured first (its "ok" crossed a timeout
 * or a disconnect) stays captured: its result is added to reply and
 * *captured set to 1.
 */
int db_drop_release(struct db *db, int64_t tx, int err, const char *message,
    cJSON *reply, int *captured);
/* 1 when user has a drop pending, 0 when not, -1 on error. */
int db_drop_pending(struct db *db, const char *user);
/*
 * At startup: settle every pending drop, capturing those whose machine
 * answered ok (answer.c) and releasing the rest; *count says how many.
 */
int db_drop_release_pending(struct db *db, int *count);

/* machine.c */
int db_machines(struct db *db, cJSON *array);
int db_machine_add(struct db *db, const char *name, const char *display);
/* display NULL and enabled -1 leave that field alone. */
int db_machine_mod(struct db *db, const char *name, const char *display,
    int enabled);
int db_machine_del(struct db *db, const char *name);
int db_slots(struct db *db, const char *machine, cJSON *array);
/* ERR_NONE when the machine exists and is enabled. */
int db_machine_allowed(struct db *db, const char *name);
/* Sensed stock from a controller: [{slot, stock}] for configured slots. */
int db_machine_stock(struct db *db, const char *name, const cJSON *slots);
/*
 * One count of a machine's slots report, if well-formed (a slot 1-255, a
 * stock 0 to PROTO_MAX_AMOUNT): 1 with *slot and *stock, else 0.
 */
int db_stock_count(const cJSON *e, int *slot, int64_t *stock);
/*
 * A vend of slot succeeded: stock >= 0 is the count the machine sensed,
 * -1 means one item less (never below 0).
 */
int db_machine_vended(struct db *db, const char *name, int slot,
    int64_t stock);
int db_machine_temperature(struct db *db, const char *name, double celsius);
/*
 * item NULL and price/stock/enabled -1 leave that field alone; a slot
 * not set up yet needs item and price (ERR_BAD_REQUEST without).
 */
int db_slot_set(struct db *db, const char *machine, int slot,
    const char *item, int64_t price, int64_t stock, int enabled,
    cJSON *out);

/* machine.c: legacy boards (LEGACY.md section 3). */
/* hash NULL clears the board password. */
int db_machine_legacy_set(struct db *db, const char *name, const char *hash);
/* The board password's hash into hash ("" when none is set). */
int db_machine_legacy_get(struct db *db, const char *name, char *hash,
    size_t len);
/* A tini slot state: 0 empties the slot, 1 makes an empty one hold 1. */
int db_machine_slot_state(struct db *db, const char *name, int slot,
    int stocked);

/* card.c: uid is 4-32 hex digits (proto_valid_card), any case. */
#define DB_CARDS_MAX 32		/* cards one user may bind */
/*
 * ERR_BAD_REQUEST when user already has DB_CARDS_MAX cards (checked
 * first), else ERR_EXISTS when the card is bound to anyone.
 */
int db_card_add(struct db *db, const char *user, const char *uid,
    const char *label, int64_t *id);
/* [{card_id, label, created, last_used}] of user's cards. */
int db_cards(struct db *db, const char *user, cJSON *array);
/* ERR_BAD_REQUEST when user has no card with that id. */
int db_card_del(struct db *db, const char *user, int64_t id);
/*
 * The enabled owner of a card, into *u, marking the card used;
 * ERR_BAD_CREDENTIALS for an unknown card or a disabled owner.
 */
int db_card_owner(struct db *db, const char *uid, struct db_user *u);

/* token.c: login tokens (only a SHA-256 of each is stored). */
/* A new token for user; *id and *expires (unix seconds) are set. */
int db_token_add(struct db *db, const char *user, const char *hash,
    const char *label, int days, int64_t *id, int64_t *expires);
/* user's live tokens, oldest first. */
int db_tokens(struct db *db, const char *user, cJSON *array);
/* ERR_BAD_REQUEST when user has no live token with that id. */
int db_token_revoke(struct db *db, const char *user, int64_t id);
/*
 * The user a live token hash belongs to (name copied into user, which has
 * PROTO_NAME_MAX + 1 bytes), its token_id in *id and when it expires (unix
 * seconds) in *expires, stamping last_use; ERR_BAD_CREDENTIALS when the
 * token is unknown, expired or revoked.
 */
int db_token_use(struct db *db, const char *hash, char *user, size_t len,
    int64_t *id, int64_t *expires);
/*
 * ERR_NONE when token id is still live (not revoked, not expired),
 * ERR_BAD_CREDENTIALS when not.  Read in the writer's order, so a
 * revocation that has returned is seen.
 */
int db_token_live(struct db *db, int64_t id);

/* session.c */
int db_session_open(struct db *db, const char *kind, const char *address,
    int port, int64_t *id);
int db_session_name(struct db *db, int64_t id, const char *user,
    const char *machine);
int db_session_close(struct db *db, int64_t id);
/* At startup: close sessions a previous run left open. */
int db_session_close_stale(struct db *db);
int db_audit(struct db *db, int64_t session, const char *actor,
    const char *cmd, const char *args, const char *result);

#endif
