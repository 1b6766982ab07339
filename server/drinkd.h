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
	long max_clients;
	long max_clients_per_ip;
	long max_line;
	long ping_interval;
	long keep_temperatures_days;	/* retention, see db_prune() */
	long keep_sessions_days;
	char *log_level;
	/* Where each key's value came from ("FILE:LINE", "--key"), NULL for
	 * a default; indexed like the key table. */
	char *origin[CONFIG_MAX_KEYS];
	char *file;		/* the file loaded, if any */
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
 * What the server would load: required keys set, certificate and key parse
 * and match, CA and CRL files parse, database and ports_file directories
 * usable.  -1 with one line per refusal in err ("WHERE: KEY: reason",
 * joined by newlines).
 */
int config_check_server(const struct config *cfg, char *err, size_t errlen);
/* Split a listen address; -1 with err when it is not a numeric
 * IPv4:PORT, [IPv6]:PORT or *:PORT with a port from 0 to 65535. */
int config_addr_split(const char *spec, char *host, size_t hostlen,
    char *port, size_t portlen, char *err, size_t errlen);
/* The i-th key's name and default (NULL past the end / for no default). */
const char *config_key_name(size_t i);
const char *config_key_default(size_t i);

/* client.c: the live client list (PROTOCOL.md section 5). */
enum client_kind {
	CLIENT_MEMBER,
	CLIENT_MACHINE,
};
struct client {
	int64_t session;	/* database session id; 0 until handshake */
	enum client_kind kind;
	char name[PROTO_NAME_MAX + 1];	/* user or machine; "" for none */
	char address[64];
	int port;
	int64_t since;
	int fd;
	int visible;		/* handshake done: listed by who */
	struct client *prev, *next;
};
/* Add c unless a limit is reached; -1 when the client must be refused. */
int client_admit(struct client *c, long max_total, long max_per_ip);
void client_remove(struct client *c);
void client_show(struct client *c, int64_t session);
void client_set_name(struct client *c, const char *name);
/* Fill array with the list; full adds session, address and port. */
void client_list(cJSON *array, int full);
/* Shut the socket of a session (or every session of a user) down. */
int client_kick(int64_t session);
int client_kick_user(const char *user);
void client_kick_all(void);
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
void auth_succeeded(const char *user, const char *address);

/* server.c */
struct server {
	struct config *cfg;
	struct db *db;
	pthread_mutex_t ctx_lock;
	SSL_CTX *member_ctx;
	SSL_CTX *machine_ctx;	/* NULL when the machine port is off */
	int stopping;		/* set once by SIGTERM; use server_stopping() */
};
extern struct server *server;
int server_run(struct server *srv);
/* 1 once shutdown has begun; safe from any thread. */
int server_stopping(void);
/* The current SSL_CTX for a port, with a reference the caller frees. */
SSL_CTX *server_member_ctx(void);
SSL_CTX *server_machine_ctx(void);
int server_reload(void);

/* retention.c: the thread that prunes old history (db_prune). */
int retention_start(struct server *srv);
/* Wake the thread, let it finish its batch, join it. */
void retention_stop(void);
/* One pass over everything due; rows deleted, or -1. */
int retention_prune(struct db *db, const struct config *cfg);

/* session.c: one member connection. */
struct session {
	struct client client;
	struct conn *conn;
	int logged_in;
	int admin;
	char user[PROTO_NAME_MAX + 1];
	int quit;
};
void *session_main(void *arg);
/* Requests in progress (handled or being answered) in all sessions. */
int session_busy(void);
int session_login(struct session *s, const char *user, struct db_user *u);
void session_logout(struct session *s);

/* machine.c: online controllers and the vends queued for them. */
struct mach;
void *machine_main(void *arg);
/* A registry entry for a controller on fd (not yet online); NULL on error. */
struct mach *machine_new(const char *name, int fd);
void machine_free(struct mach *m);
/* Handle one controller line; *reply (caller frees) is the answer or NULL. */
void machine_handle(struct mach *m, const char *line, size_t len,
    cJSON **reply);
int machine_online(const char *name);
/* Shut a machine's controller connection down; 1 if it was online. */
int machine_kick(const char *name);
int machine_vend(const char *name, int64_t tx, int slot, int delay,
    int64_t timeout_ms, char *message, size_t len);
int machine_vends_in_flight(void);

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

#endif
