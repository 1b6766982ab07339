/*
 * drinkd: the server.  One acceptor thread per listening socket, one
 * detached thread per connection; the client registry and the database
 * are the shared state.
 */
#ifndef DRINKD_H
#define DRINKD_H

#include <pthread.h>
#include <stdint.h>

#include "common.h"
#include "db.h"

/* config.c */
#define CONFIG_MAX_KEYS 64
struct config {
	char *listen;
	char *machine_listen;
	char *database;
	char *cert;
	char *key;
	char *member_ca;
	char *machine_ca;
	char *crl;
	char *ports_file;
	long vend_timeout;
	long handshake_timeout;
	long idle_timeout;
	long line_timeout;	/* a started request line must end within */
	long max_clients;	/* connections at once, on each port */
	long max_clients_per_ip; /* logged-in member sessions per address */
	long max_unauth_per_ip;	/* per address and port, not logged in */
	long login_timeout;	/* a member connection must log in within */
	long thread_cache;	/* finished connection threads kept idle */
	long max_line;
	long ping_interval;
	long keep_temperatures_days;	/* retention, see db_prune() */
	long keep_sessions_days;
	long crl_warn_days;	/* warn when the CRL expires sooner; 0: never */
	char *log_level;
	char *web_listen;	/* NULL: no web port */
	char *web_origins;	/* more origins allowed to open /ws */
	char *sunday_listen;		/* LEGACY.md: off when NULL */
	char *sunday_default_machine;
	char *sunday_ibutton;		/* "any", "cert" or "off" */
	char *tini_listen;		/* LEGACY.md: off when NULL */
	long tini_silence;		/* seconds a board may stay silent */
	/* Where each key's value came from ("FILE:LINE", "--key"), NULL for
	 * a default; indexed like the key table. */
	char *origin[CONFIG_MAX_KEYS];
	char *file;		/* the file loaded, if any */
	char **repeats;		/* a key set twice in the file, one each */
	int nrepeats;
};
void config_init(struct config *cfg);
void config_free(struct config *cfg);
/* Set one key from text; -1 with err set on unknown key or bad value. */
int config_set(struct config *cfg, const char *key, const char *value,
    char *err, size_t errlen);
/* Read "key = value" lines; -1 with err naming file:line. */
int config_load(struct config *cfg, const char *path, char *err,
    size_t errlen);
/*
 * The keys whose values differ between the running configuration and
 * now (the file loaded again), leaving out those the command line set:
 * how many, their names in out joined by ", ".
 */
int config_changed(const struct config *run, const struct config *now,
    char *out, size_t len);
/* now takes the values run's command line set (--KEY=VALUE), which win
 * over the file at every start. */
void config_keep_options(struct config *now, const struct config *run);
/* What the loaded file did that works but may not be meant: a key set
 * twice.  say() gets each warning; returns how many there were. */
int config_warnings(const struct config *cfg, void (*say)(const char *));
/*
 * What the server would load: required keys set, certificate and key parse
 * and match, CA and CRL files parse, database and ports_file directories
 * usable.  -1 with one line per refusal in err ("WHERE: KEY: reason",
 * joined by newlines).
 */
int config_check_server(const struct config *cfg, char *err, size_t errlen);
/* The same checks of cert, key, member_ca, machine_ca and crl alone: the
 * files a reload (SIGHUP) reads again. */
int config_check_tls(const struct config *cfg, char *err, size_t errlen);
/* Split a listen address; -1 with err when it is not a numeric
 * IPv4:PORT, [IPv6]:PORT or *:PORT with a port from 0 to 65535. */
int config_addr_split(const char *spec, char *host, size_t hostlen,
    char *port, size_t portlen, char *err, size_t errlen);
/* The i-th key's name and default (NULL past the end / for no default). */
const char *config_key_name(size_t i);
/* Where key's value came from ("FILE:LINE", "--key"); NULL: the default. */
const char *config_origin(const struct config *cfg, const char *key);
const char *config_key_default(size_t i);

/* client.c: the live client list (PROTOCOL.md section 5). */
enum client_kind {
	CLIENT_MEMBER,
	CLIENT_MACHINE,
};
/*
 * Admission is counted per pool: max_clients and max_unauth_per_ip apply
 * to each on its own, so a flood on one port cannot lock another out.
 */
enum client_pool {
	CLIENT_POOL_MEMBER,	/* member port and Sunday listener */
	CLIENT_POOL_MACHINE,	/* machine port and tini listener */
	CLIENT_POOL_WEB,	/* web port */
	CLIENT_POOLS,
};
/* Every field is guarded by the client list's lock (client.c). */
struct client {
	int64_t session;	/* database session id; 0 until handshake */
	enum client_kind kind;
	enum client_pool pool;	/* set before client_admit, then fixed */
	char name[PROTO_NAME_MAX + 1];	/* user or machine; "" for none */
	int64_t token_id;	/* the login token it logged in by; 0: none */
	char address[64];
	int port;
	int64_t since;
	int fd;
	int visible;		/* handshake done: listed by who */
	const char *closed_by;	/* a kick shut it down: why, for the log */
	int evicted;		/* closed to make room for a newer one */
	int made_room;		/* its admission closed an older connection */
	struct client *prev, *next;
	/* Admission bookkeeping, kept by client.c alone. */
	struct client_addr *addr;	/* its address's counts */
	uint64_t seq;			/* admission order */
	int unauth_linked;		/* in addr's unauthenticated list */
	struct client *unauth_prev, *unauth_next;
};
/*
 * Add c unless its pool already has max_port connections (-1: refuse
 * it).  When c's address already has max_unauth_per_ip connections in
 * that pool that have not logged in, the oldest of them is shut down to
 * make room (c->made_room is set).
 */
int client_admit(struct client *c, long max_port, long max_unauth_per_ip);
/*
 * Where a client address is, as limits and throttles count it: an IPv4
 * address as it is, an IPv6 address as its /64 ("2001:db8:1:2::/64"),
 * since a host or a site is given a /64 whole and can speak from any
 * address in it.
 */
#define CLIENT_PLACE_MAX 64
void client_place(const char *address, char *out, size_t len);
void client_remove(struct client *c);
void client_show(struct client *c, int64_t session);
/*
 * Name (or with NULL unname) a connection: the user or machine.  Its
 * login token, if any, is forgotten: client_set_token says it again.
 */
void client_set_name(struct client *c, const char *name);
/* A member connection is logged in by login token token_id. */
void client_set_token(struct client *c, int64_t token_id);
/*
 * A member connection logs in as name, unless its address already has
 * max_per_ip logged-in member sessions: -1, and it stays as it was.
 */
int client_login(struct client *c, const char *name, long max_per_ip);
/* Fill array with the list; full adds session, address and port. */
void client_list(cJSON *array, int full);
/*
 * Shut the socket of a session (or every session of a user but except,
 * which may be NULL; or every session a user's login token token_id
 * logged in, but except) down; why is for the log.
 */
int client_kick(int64_t session);
int client_kick_user(const char *user, const struct client *except,
    const char *why);
int client_kick_token(const char *user, int64_t token_id,
    const struct client *except);
/* Shut every connection down at shutdown. */
void client_kick_all(void);
/* Why the server shut c's socket down (kick, shutdown), or NULL. */
const char *client_closed_by(struct client *c);
int client_count(void);

/* auth.c */
int auth_init(void);
/* Argon2id PHC string of password; caller frees; NULL on failure. */
char *auth_hash(const char *password);
/* 1 when password matches hash; hash NULL spends the time of a check. */
int auth_verify(const char *hash, const char *password);
/* Seconds until user/address may try again; 0 when allowed. */
int64_t auth_throttled(const char *user, const char *address);
void auth_failed(const char *user, const char *address);
/*
 * auth_failed for user, an account that exists: its record is never
 * reused for another key, so a flood of other failures cannot end its
 * lock.  (A name that is no account gets auth_failed: its records are
 * bounded, the accounts' by the accounts.)
 */
void auth_account_failed(const char *user, const char *address);
void auth_succeeded(const char *user, const char *address);
/* Token logins: the address alone is throttled (user NULL above). */
/*
 * Throttling by a key of the caller's (a board's password, asked only of
 * a registered machine: kept apart like an account's record).
 */
int64_t auth_key_throttled(const char *key);
void auth_key_failed(const char *key);
void auth_key_succeeded(const char *key);
/*
 * Card guesses, counted per kind: per user (NULL: none) and per place
 * (an address, or a machine for AUTH_CARD_TAP).  A guess is an answer
 * that told whether a card is bound: an unknown card, any card_add.  No
 * success clears them; a record lapses an hour after its last guess.
 */
enum auth_card {
	AUTH_CARD_ADD,		/* card_add on a member session */
	AUTH_CARD_IBUTTON,	/* Sunday's IBUTTON */
	AUTH_CARD_TAP,		/* card_drop at a machine's reader */
};
/* Seconds until user/place may guess again; 0 when allowed. */
int64_t auth_card_throttled(enum auth_card kind, const char *user,
    const char *place);
/*
 * Count one guess.  user is logged in, and a tap's place is a registered
 * machine: their records are kept apart like an account's.
 */
void auth_card_guess(enum auth_card kind, const char *user,
    const char *place);
/* Tests: the clock throttling reads (NULL: now_ms again). */
void auth_set_clock(int64_t (*clock)(void));

/* server.c */
struct vend_reg;
struct drop_backlog;
struct server {
	struct config *cfg;	/* read-only while running */
	struct db *db;
	struct vend_reg *vends;	/* machines online and their vends (vend.c) */
	struct drop_backlog *backlog; /* settlements being retried (drop.c) */
	pthread_mutex_t ctx_lock;
	SSL_CTX *member_ctx;	/* guarded by ctx_lock */
	SSL_CTX *machine_ctx;	/* guarded by ctx_lock; NULL: no machine port */
	int web_port;		/* bound web port, 0 when off */
	int stopping;		/* set once by SIGTERM; use server_stopping() */
	int64_t started;	/* unix seconds, for Sunday's UPTIME */
};
/*
 * Serve until a signal stops it: 0.  -1: it could not start and may on
 * another try (a port in use, TLS or database failure).
 * SERVER_RUN_CONFIG: it can never start as configured (the descriptor
 * limit its unit or shell set leaves no room for clients).
 */
#define SERVER_RUN_CONFIG (-2)
int server_run(struct server *srv);
/* 1 once shutdown has begun; safe from any thread. */
int server_stopping(struct server *srv);
/* The current SSL_CTX for a port, with a reference the caller frees. */
SSL_CTX *server_member_ctx(struct server *srv);
/*
 * conn_set_idle's function for a connection thread: give back what only
 * work needs (stack pages below the caller, OpenSSL's per-thread state).
 */
void server_conn_idle(void);
SSL_CTX *server_machine_ctx(struct server *srv);
int server_reload(void);
/* Log-worthy certificate set-ups (shared CA, CRL near nextUpdate). */
int server_cert_warnings(const struct config *cfg, void (*say)(const char *));

/* retention.c: the thread that prunes old history (db_prune). */
int retention_start(struct server *srv);
/* Wake the thread, let it finish its batch, join it. */
void retention_stop(void);
/* One pass over everything due; rows deleted, or -1. */
int retention_prune(struct db *db, const struct config *cfg);

/*
 * One accepted connection, member or controller: what every connection
 * thread owns.  The acceptor fills srv and client; the thread makes conn
 * and alone uses it.  Member sessions and controller connections both
 * start with this struct.
 */
struct peer {
	struct server *srv;
	struct client client;	/* in the client list from accept to close */
	struct conn *conn;	/* owned by the connection's thread */
};

/*
 * session.c: one member connection, on the member port or a WebSocket;
 * only its own thread touches it.
 */
struct session {
	struct peer peer;	/* first: the acceptor allocates a session */
	int logged_in;
	int admin;
	char user[PROTO_NAME_MAX + 1];
	int quit;
	struct event_queue *events;	/* NULL until the first subscribe */
	int64_t anon_since;	/* ms: accepted, or last logged out */
	const char *what;	/* "member", "web" or "Sunday": session_open */
	const char *ending;	/* set by a handler: the session ends once
				 * this reply is sent; why, for the log */
	int64_t token_id;	/* the login token it logged in by; 0: none */
	int64_t token_expires;	/* unix s: when that token expires */
	int token_only;		/* logged in by token_id, and has not shown
				 * the password since: makes no token, and
				 * binds no card nor adds or changes a user
				 * without it (SPEC_A_OWN) */
};
#define SESSION_LOGIN_BUSY (-2)	/* session_login: address at its cap */
void *session_main(void *arg);
/*
 * After the handshake, on every member transport (member port, web,
 * Sunday): record the session (when storage allows: a member is served
 * unrecorded during a storage fault), certificate login, "open" event.
 */
int session_open(struct session *s, const char *what);
/* The greeting event; caller deletes. */
cJSON *session_hello(struct session *s);
/* Log the end, close the session's record; why is for the log. */
void session_close(struct session *s, const char *why);
/* Answer one request; the reply line is the caller's to free. */
char *session_request(struct session *s, const char *line, size_t len,
    size_t *outlen);
/* Make s's event queue if it has none; -1 on failure. */
int session_events(struct session *s);
/*
 * This thread serves s and writes its waiting events with fn (0 or -1);
 * session_pump() calls it while a request waits (a drop at its machine).
 */
void session_set_pump(struct session *s, int (*fn)(struct session *));
void session_pump(void);
/* Requests in progress (handled or being answered) in all sessions. */
int session_busy(void);
/* A request being answered outside session.c (the web port). */
void session_busy_add(int delta);
int session_login(struct session *s, const char *user, struct db_user *u);
void session_logout(struct session *s);
/*
 * s, logged in, is so by login token token_id, which expires at expires
 * (unix seconds): the login ends then, and with the token's revocation.
 * token_id 0: by password (or certificate), which ends neither way.
 */
void session_set_token(struct session *s, int64_t token_id,
    int64_t expires);
/*
 * s, logged in, has shown its member's password: it may do what only a
 * login by password may, though a login by token still ends with it.
 */
void session_password_shown(struct session *s);
/*
 * When s's login token expires, on the now_ms() clock (INT64_MAX when s
 * is not logged in by a token): its connection is closed then.
 */
int64_t session_token_deadline(const struct session *s);
#define SESSION_TOKEN_EXPIRED "closed by the server: login token expired"

/*
 * vend.c: the vend queue and machine registry; no I/O, injectable clock.
 * A machine's and a vend's state only change through one transition
 * function each, which asserts the move is legal.
 */
enum mach_state {
	MACH_STATE_NEW,		/* made, not yet online */
	MACH_STATE_IDLE,	/* online, nothing at the machine */
	MACH_STATE_VENDING,	/* one vend sent, its member waiting */
	MACH_STATE_ABANDONED,	/* the vend sent timed out; nothing else is
				 * sent until its late answer or the end of
				 * abandon_ms, so two vends never overlap;
				 * with a fixed pause (vend_mach_pause) until
				 * the pause ends, the late answer or not
				 * (abandoned.id is "" once it came) */
	MACH_STATE_GONE,	/* offline for good; its vends failed */
	MACH_STATE_COUNT
};
enum vend_state {
	VEND_STATE_NEW,		/* filled in by the member, not submitted */
	VEND_STATE_QUEUED,	/* in its machine's FIFO */
	VEND_STATE_SENT,	/* at the machine */
	VEND_STATE_ANSWERED,	/* the machine said ok and is free again; its
				 * thread records the capture, then makes
				 * it DONE (no deadline applies meanwhile) */
	VEND_STATE_DONE,	/* outcome known; the settlement is running */
	VEND_STATE_FINISHED,	/* settled; out of the registry */
	VEND_STATE_COUNT
};
/* Who took a machine offline, for the log line of its connection. */
enum mach_close {
	MACH_CLOSE_NONE,	/* the server did not: the peer, or the
				 * transport itself (silence, error) */
	MACH_CLOSE_SHUTDOWN,	/* drinkd is stopping */
	MACH_CLOSE_KICK,	/* an admin's kick */
	MACH_CLOSE_DISABLED,	/* machine_mod enabled=false */
	MACH_CLOSE_DELETED,	/* machine_del */
	MACH_CLOSE_REPLACED,	/* a newer connection for the same machine */
};
/* How the registry reaches a machine's transport thread; may be NULL. */
struct vend_ops {
	void (*wake)(void *arg);	/* look at the queue again */
	void (*hangup)(void *arg);	/* close the connection */
};
/* A vend, on the member's stack from submit to finish. */
struct vend {
	/* Filled in by the member before vend_submit; read-only after. */
	int64_t tx;
	int slot;
	int delay;
	int64_t timeout_ms;	/* vend_timeout: the longest wait in the
				 * queue, and for the machine's answer once
				 * sent (plus the delay, where the machine
				 * waits it out) */
	char user[PROTO_NAME_MAX + 1];
	/* Guarded by the registry's lock. */
	enum vend_state state;
	int64_t due;		/* registry clock, ms: when it may be sent
				 * (after its delay, where the registry
				 * waits it out) */
	int64_t deadline;	/* registry clock, ms: in the queue, from
				 * due; once sent, from the send */
	char id[40];		/* "v<tx>.<n>", sent to the controller */
	struct mach *machine;	/* while QUEUED or SENT */
	struct vend *next;	/* the machine's FIFO, while QUEUED */
	struct vend *anext;	/* the registry's active list */
	int sensed;		/* a sensed report for slot arrived since SENT */
	int result;		/* enum proto_err, once DONE */
	char message[160];	/* text for a failure, once DONE */
	pthread_cond_t cond;	/* signalled once DONE; from submit to finish */
	/*
	 * DONE ok: the write of its capture and stock, queued by the
	 * machine's thread and made and durable once the member's thread
	 * has waited for it (db_drop_vended_wait); the stock that write
	 * sets, for a retry.
	 */
	struct db_ticket *capture;
	int64_t ok_stock;
};
/* What to send to the machine next. */
struct vend_cmd {
	char id[40];
	int64_t tx;
	int slot;
	int delay;
};
/* The vend an answer belongs to. */
struct vend_abandoned {
	char id[40];
	int64_t tx;
	int slot;
	int sensed;	/* a sensed report for slot arrived since it was sent */
};
enum vend_match {
	VEND_MATCH_NONE,	/* no such vend at this machine */
	VEND_MATCH_INFLIGHT,	/* the vend at the machine; member waiting */
	VEND_MATCH_LATE,	/* a vend whose member already timed out */
};
struct vend_reg {
	pthread_mutex_t lock;	/* guards everything in the registry */
	pthread_cond_t cond;	/* a vend got done or finished */
	pthread_t owner;	/* holder of lock, when locked (assertions) */
	int locked;
	int64_t abandon_ms;	/* immutable */
	int64_t (*clock)(void *); /* immutable; NULL: now_ms */
	void *clock_arg;
	struct mach *machines;	/* online machines; guarded by lock */
	struct vend *active;	/* submitted, not finished; guarded by lock */
	int nactive;		/* guarded by lock */
	unsigned long seq;	/* vend ids; guarded by lock */
	int draining;		/* no new vends; guarded by lock */
};
/* abandon_ms: how long a vend whose member timed out keeps its machine. */
struct vend_reg *vend_reg_new(int64_t abandon_ms, int64_t (*clock)(void *),
    void *clock_arg);
void vend_reg_free(struct vend_reg *reg);
int vend_locked(struct vend_reg *reg);
/* Transport side. */
struct mach *vend_mach_new(const char *name, const struct vend_ops *ops,
    void *arg);
/*
 * Before attaching: after a vend times out, m gets no vend for exactly ms,
 * whether or not a late answer comes meanwhile (a tini board, whose
 * answers carry no id: LEGACY.md section 3.3).
 */
void vend_mach_pause(struct mach *m, int64_t ms);
void vend_mach_free(struct mach *m);
const char *vend_mach_name(const struct mach *m);
enum mach_state vend_mach_state(struct vend_reg *reg, struct mach *m);
/* Put m online; an older connection of the same machine is replaced. */
void vend_attach(struct vend_reg *reg, struct mach *m);
/* m's connection ended: offline, its vends failed (no-op if already). */
void vend_detach(struct vend_reg *reg, struct mach *m);
/* The server closes a machine's connection; 1 when it was online. */
int vend_close(struct vend_reg *reg, const char *name, enum mach_close why);
void vend_close_all(struct vend_reg *reg, enum mach_close why);
enum mach_close vend_closed_by(struct vend_reg *reg, struct mach *m);
/*
 * m's transport knows no delay (a tini board): the registry waits a
 * vend's delay out before the vend joins m's queue, and sends it with
 * delay 0.
 */
void vend_mach_hold_delay(struct mach *m);
/* 1 and *cmd filled when a vend must be sent to m now. */
int vend_next(struct vend_reg *reg, struct mach *m, struct vend_cmd *cmd);
/* When vend_next may have something again without a wake (or INT64_MAX). */
int64_t vend_next_due(struct vend_reg *reg, struct mach *m);
/* Which vend an answer with id belongs to (nothing changes). */
enum vend_match vend_match(struct vend_reg *reg, struct mach *m,
    const char *id, struct vend_abandoned *info);
/* The answer to id: the member (if still waiting) gets result/message. */
enum vend_match vend_complete(struct vend_reg *reg, struct mach *m,
    const char *id, int result, const char *message);
/*
 * An "ok" for the vend at the machine (id): the machine is free for the
 * next vend and the vend, ANSWERED, is returned for the machine's thread
 * to settle; NULL (nothing changes) when id is not the vend in flight.
 */
struct vend *vend_take(struct vend_reg *reg, struct mach *m, const char *id,
    struct vend_abandoned *info);
/*
 * An ANSWERED vend is DONE with result, and capture (the write queued to
 * record it, for its member to wait for; may be NULL).  The member may
 * free v as soon as this returns.
 */
void vend_settle(struct vend_reg *reg, struct vend *v, int result,
    struct db_ticket *capture);
/* The machine reported sensed stock for slot. */
void vend_sensed(struct vend_reg *reg, struct mach *m, int slot);
/* Member side. */
int vend_online(struct vend_reg *reg, const char *name);
/* Queue v (state NEW); ERR_NONE, ERR_MACHINE_OFFLINE, ERR_DROP_IN_PROGRESS. */
int vend_submit(struct vend_reg *reg, struct vend *v, const char *machine);
/* 1 once v is DONE; times it out when its deadline has passed. */
int vend_poll(struct vend_reg *reg, struct vend *v);
/* Block until v is DONE (by its answer, a failure or its deadline). */
void vend_wait(struct vend_reg *reg, struct vend *v);
/* vend_wait for at most max_ms; 1 once v is DONE. */
int vend_wait_for(struct vend_reg *reg, struct vend *v, int64_t max_ms);
/* v is settled: it leaves the registry (its user may drop again). */
void vend_finish(struct vend_reg *reg, struct vend *v);
/*
 * Shutdown: refuse new vends, send no more, and fail those still queued
 * (nothing charged); vends already at a machine run on until answered,
 * timed out or closed, and their number is returned.  A vend sent now
 * could be cut off at the machine when the machines are closed, and drop
 * for nothing.
 */
int vend_drain(struct vend_reg *reg);
/* Vends submitted and not finished. */
int vend_active(struct vend_reg *reg);
/* Wait until no vend is active or deadline; returns how many are left. */
int vend_wait_idle(struct vend_reg *reg, int64_t deadline);

/*
 * drop.c: the drop, start to end (hold, queue, vend, capture or release,
 * release at startup), and what a machine transport reports about it.
 */
struct drop_req {
	const char *user, *machine;
	int slot;
	int delay;		/* seconds the machine waits before vending */
	const char *key;	/* idempotency key, or NULL */
	const char *request;	/* canonical arguments, for key conflicts */
	int64_t balance;	/* out: on insufficient_funds */
	char message[160];	/* out: text for an error, when specific */
};
/* The whole drop; result fields go into reply.  Returns enum proto_err. */
int drop_run(struct server *srv, struct drop_req *d, cJSON *reply);
/* At startup, before accepting: settle what a previous run left pending. */
int drop_recover(struct server *srv);
/* The settler thread, for settlements the database refused for a while. */
int drop_start(struct server *srv);
/* At exit, after the vends drained: stop it; the rest waits for a start. */
void drop_stop(struct server *srv);
/* Vended or failed drops the settler has yet to record. */
int drop_deferred(struct server *srv);
/* The capture of an "ok" still to record (v NULL: none). */
struct drop_vended {
	struct vend *v;		/* ANSWERED; its member waits */
	int64_t tx;
	int slot;
	int64_t stock;		/* sensed count, -1: one less, -2: unchanged */
	char id[40];
};
/*
 * A machine answered vend id; stock >= 0 is a sensed count it sent.  An
 * "ok" for the vend in flight is left in *later for drop_vended (with
 * later NULL, recorded before this returns).
 */
void drop_answer(struct server *srv, struct mach *m, const char *id, int ok,
    int64_t stock, const char *why, struct drop_vended *later);
/* Record a capture drop_answer left (no-op when none); wakes its member. */
void drop_vended(struct server *srv, struct mach *m, struct drop_vended *p);
/*
 * A machine reported sensed stock: [{slot, stock}].  ERR_NONE when
 * stored, ERR_BAD_REQUEST when malformed, else storage's error.
 */
int drop_sensed(struct server *srv, struct mach *m, const cJSON *slots);

/* machine.c: a JSON controller on the machine port (PROTOCOL.md section 4). */
struct card_box;
struct machine_conn {
	struct peer peer;	/* first: the acceptor allocates one */
	struct mach *mach;	/* in the registry once registered */
	int wake[2];		/* registry -> this thread (vend_ops.wake) */
	struct card_box *cards;	/* card_drop replies -> this thread */
	struct drop_vended vended; /* an "ok" whose capture is not recorded */
};

/* card.c: card_drop on the machine port (PROTOCOL.md section 11). */
/* A mailbox for card_drop replies; wake_fd is written when one is ready. */
struct card_box *card_box_new(int wake_fd);
/* The connection is gone (NULL is fine): replies still due are dropped. */
void card_box_close(struct card_box *b);
/* The reply line ready to be written (caller frees), or NULL. */
char *card_box_take(struct card_box *b);
/* Start a card_drop for machine; *reply set when refused at once. */
void card_drop_start(struct server *srv, struct card_box *box,
    const char *machine, const cJSON *msg, cJSON **reply);

/* sunday.c: one Sunday-dialect client connection (LEGACY.md section 2). */
void *sunday_main(void *arg);

/* tini.c: one tini board behind its TLS wrapper (LEGACY.md section 3). */
void *tini_main(void *arg);
/* How much the acceptor allocates for a board connection. */
size_t tini_conn_size(void);

void *machine_main(void *arg);
/* Set up the registry entry of a registered controller; -1 on error. */
int machine_setup(struct machine_conn *mc, const char *name);
void machine_teardown(struct machine_conn *mc);
/* Handle one controller line; *reply (caller frees) is the answer or NULL. */
void machine_handle(struct machine_conn *mc, const char *line, size_t len,
    cJSON **reply);

/* event.c: live events (PROTOCOL.md section 8). */
#define EVENT_T_MACHINES 0x01
#define EVENT_T_SLOTS 0x02
#define EVENT_T_BALANCE 0x04
#define EVENT_T_DROPS 0x08
#define EVENT_T_SESSIONS 0x10
#define EVENT_QUEUE_MAX 1000	/* waiting events before overflow */
struct event_queue;
struct event_queue *event_queue_new(void);
void event_queue_free(struct event_queue *q);
int event_queue_fd(const struct event_queue *q);
void event_queue_who(struct event_queue *q, const char *user, int admin);
int event_topics_parse(const cJSON *list, int logged_in, int admin,
    unsigned *bits, const char **why);
unsigned event_queue_topics(struct event_queue *q, unsigned bits, int add);
void event_topics_list(unsigned bits, cJSON *array);
char *event_queue_take(struct event_queue *q, size_t *len, int *overflow);
int event_queue_waiting(struct event_queue *q);
void event_publish(unsigned topic, const char *user, const cJSON *ev);
/* Caller deletes; NULL when the machine is not in the table. */
cJSON *event_machine_now(struct server *srv, const char *machine);
void event_machine(struct server *srv, const char *machine);
void event_machine_deleted(const char *machine, const cJSON *last);
cJSON *event_slots_before(struct server *srv, const char *machine);
void event_slots(struct server *srv, const char *machine, cJSON *before,
    int slot);
void event_balance(const char *user, int64_t balance, int64_t tx);
void event_drop(int64_t tx, const char *user, const char *machine, int slot,
    const char *state, const char *error);
void event_session(const struct client *c, const char *state);

/* cmd-live.c */
#define TOKEN_HASH_LEN 65	/* SHA-256 in hex, NUL included */
void token_hash(const char *token, char out[TOKEN_HASH_LEN]);

/* web.c: the web port (PROTOCOL.md section 9). */
void *web_main(void *arg);
/*
 * A web connection refused at admission: after the handshake (done by
 * the caller), read what the browser sends of its request until
 * deadline, answer 503 with Retry-After, and shut the TLS down.
 */
void web_refuse(struct conn *c, int64_t deadline);

/* cmd.c: the command table and dispatcher. */
struct req {
	cJSON *msg;		/* the parsed request */
	cJSON *args;		/* its declared arguments only; req_*() */
	cJSON *reply;		/* result fields go here */
	const char *message;	/* error text overriding the default */
	int64_t balance;	/* >= 0: sent with insufficient_funds */
	int64_t retry_after;	/* > 0: sent with locked_out */
	char *request;		/* canonical arguments (idempotency) */
	char msgbuf[160];	/* storage for a handler's message */
};
/*
 * Handle one request line (line[len] must be NUL); returns the reply line
 * with its newline, which the caller frees.
 */
char *cmd_dispatch(struct session *s, const char *line, size_t len,
    size_t *outlen);
/* -1 with err set when spec_table and the handlers do not match. */
int cmd_table_check(char *err, size_t len);
/* Reply for a line that was too long. */
char *cmd_line_too_long(size_t *outlen);
const char *req_str(const struct req *r, const char *name);
int64_t req_int(const struct req *r, const char *name, int64_t dflt);
int req_bool(const struct req *r, const char *name);

/* cmd-member.c: a ledger movement from the request's fields. */
int cmd_move(struct session *s, struct req *r, const char *user_field,
    const char *amount_field,
    int (*fn)(struct db *, struct db_move *, cJSON *));

/* cmd-member.c, cmd-admin.c: handlers, each returning enum proto_err. */
#define CMD_HANDLER(n) int n(struct session *, struct req *)
CMD_HANDLER(cmd_login);
CMD_HANDLER(cmd_logout);
CMD_HANDLER(cmd_ping);
CMD_HANDLER(cmd_machines);
CMD_HANDLER(cmd_slots);
CMD_HANDLER(cmd_quit);
CMD_HANDLER(cmd_whoami);
CMD_HANDLER(cmd_balance);
CMD_HANDLER(cmd_drop);
CMD_HANDLER(cmd_send);
CMD_HANDLER(cmd_history);
CMD_HANDLER(cmd_who);
CMD_HANDLER(cmd_passwd);
CMD_HANDLER(cmd_user_add);
CMD_HANDLER(cmd_user_mod);
CMD_HANDLER(cmd_users);
CMD_HANDLER(cmd_credit);
CMD_HANDLER(cmd_debit);
CMD_HANDLER(cmd_set_balance);
CMD_HANDLER(cmd_refund);
CMD_HANDLER(cmd_machine_add);
CMD_HANDLER(cmd_machine_mod);
CMD_HANDLER(cmd_machine_del);
CMD_HANDLER(cmd_slot_set);
CMD_HANDLER(cmd_log);
CMD_HANDLER(cmd_kick);
CMD_HANDLER(cmd_card_add);
CMD_HANDLER(cmd_cards);
CMD_HANDLER(cmd_card_del);
CMD_HANDLER(cmd_subscribe);
CMD_HANDLER(cmd_unsubscribe);
CMD_HANDLER(cmd_token_create);
CMD_HANDLER(cmd_tokens);
CMD_HANDLER(cmd_token_revoke);

#endif
