/*
 * Code shared by drinkd, drink and drink-machine: logging, allocation,
 * clocks, TLS contexts, the line-framed TLS connection and the protocol
 * helpers (error codes, name/amount rules, the raw request scanner).
 */
#ifndef DRINK_COMMON_H
#define DRINK_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>
#include <cjson/cJSON.h>

#define DRINK_VERSION "0.1.0"
#define DRINK_PROTO 1

#define PRINTFLIKE(f, a) __attribute__((format(printf, f, a)))
#define NORETURN __attribute__((noreturn))

/* log.c */
enum log_level {
	LOG_LEVEL_ERR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};
void log_init(const char *ident, int to_stderr, int level);
void log_set_level(int level);
/* While on, a daemon logging to syslog also writes to stderr (startup). */
void log_stderr_too(int on);
int log_level_parse(const char *name);
void log_msg(int level, const char *fmt, ...) PRINTFLIKE(2, 3);
void fatal(const char *fmt, ...) PRINTFLIKE(1, 2) NORETURN;
#define log_err(...) log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
/*
 * ASSERT: an invariant that guards money or locking (a lock held, a legal
 * state move, a transaction's entries summing to zero, a balance never
 * negative).  Unlike assert(3) it stays on in release builds: continuing
 * past a broken invariant could move money wrongly, so it logs file:line
 * and the expression, then aborts.
 */
#define ASSERT(e) ((e) ? (void)0 : assert_fail(#e, __FILE__, __LINE__))
void assert_fail(const char *expr, const char *file, int line) NORETURN;

/* xmalloc.c: allocation that cannot fail (fatal on exhaustion). */
void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) PRINTFLIKE(1, 2);
int64_t now_ms(void); /* monotonic milliseconds */

/* str.c */
/* Strip blanks and line endings at both ends, in place; returns the start. */
char *str_trim(char *s);
/*
 * How many bytes of s, at most max, end on a character boundary of UTF-8
 * text: for "%.*s", so that cutting never splits a character.
 */
int str_utf8_prefix(const char *s, int max);

/* tls.c */
enum tls_role {
	TLS_MEMBER_SERVER,  /* TLS 1.2-1.3, optional client certificates */
	TLS_MACHINE_SERVER, /* TLS 1.3 only, client certificate required */
	TLS_CLIENT,	    /* TLS 1.2-1.3, verifies the server */
};
/*
 * Build an SSL_CTX for one role.  cert/key may be NULL for a client without
 * a certificate; ca is the trust anchor for the peer (NULL on a member server
 * means no certificate login); crl is optional.  On failure returns NULL and
 * writes a one-line reason into err.
 */
SSL_CTX *tls_ctx_new(enum tls_role role, const char *cert, const char *key,
    const char *ca, const char *crl, char *err, size_t errlen);
/* Which port a member-context connection is on, for ALPN (tls.c). */
enum tls_port {
	TLS_PORT_MEMBER,	/* the protocol: takes ALPN "drink/1" */
	TLS_PORT_WEB,		/* HTTPS: "http/1.1", or the handshake fails */
	TLS_PORT_LEGACY,	/* Sunday: no ALPN */
};
/* Mark a server connection's port before its handshake. */
void tls_port_mark(SSL *ssl, enum tls_port port);
/* A client context offers ALPN "drink/1"; 0, or -1. */
int tls_ctx_offer_drink(SSL_CTX *ctx);
/* The latest OpenSSL error as text, or fallback when the queue is empty. */
const char *tls_error_string(char *buf, size_t len, const char *fallback);
/* Copy the verified peer certificate's subject CN into buf; -1 if none. */
int tls_peer_cn(SSL *ssl, char *buf, size_t len);
/* 1 when the peer certificate names clientAuth in extendedKeyUsage. */
int tls_peer_client_eku(SSL *ssl);
/*
 * 1 when the peer's certificate failed to verify because no trusted CA
 * issued it (the CA file names another CA): the usual set-up slip.
 */
int tls_verify_issuer_unknown(SSL *ssl);
/*
 * 1 when the peer's certificate failed to verify because it is not for
 * the name or address connected to; names gets the DNS names and
 * addresses it is for (subjectAltName), comma-separated.  0 otherwise.
 */
int tls_verify_name_mismatch(SSL *ssl, char *names, size_t len);
/*
 * 1 when the two PEM files hold a certificate in common (one CA trusted
 * for two roles), 0 when not, -1 when either cannot be read.
 */
int tls_same_ca(const char *a, const char *b);
/*
 * Seconds until the CRL file's earliest nextUpdate (negative once past);
 * -1 when the file cannot be read or no CRL in it has a nextUpdate.
 */
int tls_crl_expiry(const char *path, int64_t *seconds_left);
/*
 * Seconds until the earliest notAfter of the certificates in the PEM file
 * (negative once past), that certificate's subject into name; -1 when the
 * file holds no certificate that can be read.
 */
int tls_cert_expiry(const char *path, int64_t *seconds_left, char *name,
    size_t namelen);
/*
 * The same certificate's notAfter as "YYYY-MM-DD HH:MM UTC" into until,
 * its subject into name; -1 as for tls_cert_expiry().
 */
int tls_cert_until(const char *path, char *until, size_t untillen, char *name,
    size_t namelen);
/*
 * How many CA certificates in ca_path have no CRL of theirs (issuer =
 * the CA's subject) in crl_path; the first one's subject into name.
 * With CRL checking on every certificate of a chain, each of them makes
 * every certificate it signed fail.  -1 when either file cannot be read.
 */
int tls_crl_uncovered(const char *crl_path, const char *ca_path, char *name,
    size_t namelen);
/* -1 when a private key file may be read by others or a foreign group. */
int tls_key_file_private(const char *path, char *err, size_t errlen);

/* conn.c: one TLS connection read as lines, every wait with a deadline. */
enum conn_status {
	CONN_OK = 0,
	CONN_EOF = -1,	   /* peer closed */
	CONN_TIMEOUT = -2, /* deadline passed */
	CONN_TOO_LONG = -3, /* line exceeded max_line */
	CONN_ERROR = -4,   /* socket or TLS failure; see conn_error() */
	CONN_WAKE = -5,	   /* the wake descriptor became readable */
};
struct conn;
/* Takes ownership of fd (closed by conn_free); ssl made from ctx. */
struct conn *conn_new(int fd, SSL_CTX *ctx, size_t max_line);
void conn_free(struct conn *c);
int conn_fd(const struct conn *c);
SSL *conn_ssl(struct conn *c);
const char *conn_error(const struct conn *c);
/*
 * 1 when the last failure was the peer's TLS alert refusing the
 * certificate we presented (revoked, expired, unknown CA, ...).
 */
int conn_cert_refused(const struct conn *c);
/* Server side handshake, finished before deadline (now_ms() clock). */
int conn_accept(struct conn *c, int64_t deadline);
/* Client side handshake; host is checked against the certificate. */
int conn_connect(struct conn *c, const char *host, int64_t deadline);
/*
 * Read one line.  The first byte must arrive before idle_deadline; once a
 * line has started it must be complete within line_ms.  On CONN_OK *line
 * points at the line without its "\n" (and "\r"), NUL-terminated, valid
 * until the next read; *len is its length.
 */
int conn_read_line(struct conn *c, char **line, size_t *len,
    int64_t idle_deadline, int64_t line_ms);
/*
 * While a read waits, a readable fd (an eventfd another thread signals)
 * ends the wait with CONN_WAKE; -1 turns that off.  Partial lines keep
 * their deadline across the interruption.
 */
void conn_set_wake_fd(struct conn *c, int fd);
/*
 * fn is called when a read has waited CONN_IDLE_MS for bytes: the
 * connection is idle, and its thread may give back what it holds for
 * nothing (a client that reads its answer and leaves never gets there);
 * with no partial line, the line buffer is given back meanwhile.
 */
#define CONN_IDLE_MS 50
void conn_set_idle(struct conn *c, void (*fn)(void));
/*
 * Raw bytes (the line buffer first): CONN_OK with *got > 0, or a status.
 * deadline 0 means do not wait: CONN_TIMEOUT with *got 0 when nothing is
 * ready.  For a conn read only this way (the web port).
 */
int conn_read(struct conn *c, char *buf, size_t cap, size_t *got,
    int64_t deadline);
/*
 * One non-blocking write: CONN_OK with *done bytes taken, CONN_TIMEOUT
 * when the socket cannot take any now, or a final status.  The caller
 * retries with the same bytes (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
 */
int conn_write_some(struct conn *c, const char *buf, size_t len,
    size_t *done);
/*
 * 1 when received bytes wait inside OpenSSL (a decrypted record, or raw
 * bytes read ahead) that a read may use without poll() first: not once a
 * read found them to be only part of a record, until the socket has more.
 */
int conn_tls_pending(const struct conn *c);
/* 1 when received bytes wait to be read, here or inside OpenSSL. */
int conn_buffered(const struct conn *c);
/* 1 when a complete line is already buffered (pipelined requests). */
int conn_line_buffered(const struct conn *c);
int conn_write(struct conn *c, const char *buf, size_t len, int64_t deadline);
/* Best-effort close_notify; never blocks past deadline. */
void conn_shutdown(struct conn *c, int64_t deadline);
/* Open a TCP connection to host:port before deadline; -1 with err set. */
int conn_dial(const char *host, const char *port, int64_t deadline, char *err,
    size_t errlen);

/* proto.c */
enum proto_err {
	ERR_NONE = 0,
	ERR_BAD_REQUEST,
	ERR_LINE_TOO_LONG,
	ERR_UNKNOWN_COMMAND,
	ERR_AUTH_REQUIRED,
	ERR_FORBIDDEN,
	ERR_BAD_CREDENTIALS,
	ERR_LOCKED_OUT,
	ERR_NO_SUCH_USER,
	ERR_NO_SUCH_MACHINE,
	ERR_NO_SUCH_SLOT,
	ERR_NO_SUCH_TRANSACTION,
	ERR_EXISTS,
	ERR_INVALID_AMOUNT,
	ERR_INSUFFICIENT_FUNDS,
	ERR_SLOT_EMPTY,
	ERR_SLOT_DISABLED,
	ERR_MACHINE_OFFLINE,
	ERR_DROP_IN_PROGRESS,
	ERR_DROP_FAILED,
	ERR_DROP_TIMEOUT,
	ERR_CONFLICT,
	ERR_SERVER_BUSY,
	ERR_UNAVAILABLE,	/* storage failing: not applied, retry_after */
	ERR_INTERNAL,
	ERR_COUNT
};
#define PROTO_MAX_AMOUNT 1000000000LL
#define PROTO_NAME_MAX 32
#define PROTO_NOTE_MAX 200
#define PROTO_KEY_MAX 64
#define PROTO_CARD_MIN 4	/* hex digits of a card UID */
#define PROTO_CARD_MAX 32
#define PROTO_MAX_DEPTH 32 /* nesting inside a request's values */
/* The largest max_line drinkd takes: no string argument may need more. */
#define PROTO_LINE_MAX (64 * 1024 * 1024)
const char *proto_err_code(enum proto_err e);
const char *proto_err_message(enum proto_err e);
int proto_err_parse(const char *code); /* -1 if unknown */
int proto_valid_name(const char *s);
/* 1 for a card UID: PROTO_CARD_MIN..PROTO_CARD_MAX hex digits. */
int proto_valid_card(const char *s);
/*
 * What the raw text of a request says that cJSON cannot: for each top-level
 * member, in order, where its key and value lie in the line and whether a
 * number was written as a plain integer; and whether anything in it must
 * be refused before cJSON sees it (deep nesting, raw control characters,
 * "\u0000" escapes, strings that are not UTF-8).
 */
struct proto_member {
	size_t key_off, key_len;  /* key's raw text, quotes included */
	size_t off, len;	  /* value's raw text */
	int integer;		  /* number literal without fraction/exponent */
	int clean;		  /* value holds no raw control character */
};
struct proto_scan {
	struct proto_member *m;
	size_t n;
	int has_nul;	  /* a "\u0000" escape somewhere in a string */
	int has_ctl;	  /* a raw control character inside a string */
	int bad_utf8;	  /* a string that is not well-formed UTF-8 */
	int escaped_key;  /* a top-level member name written with escapes */
	int too_deep;	  /* nesting deeper than PROTO_MAX_DEPTH */
};
/* 0 when line is a JSON object the scanner could walk; -1 otherwise. */
int proto_scan(const char *line, size_t len, struct proto_scan *ps);
void proto_scan_free(struct proto_scan *ps);
/* The first member whose raw key is "name" (unescaped), or NULL. */
const struct proto_member *proto_scan_find(const struct proto_scan *ps,
    const char *line, const char *name);
/*
 * Serialise obj as cJSON_PrintUnformatted does (faster for integers);
 * NULL for an item JSON cannot hold.  *len (if not NULL) is its length.
 */
char *proto_print(const cJSON *obj, size_t *len);
/* Serialise obj as one line ending in "\n"; caller frees. */
char *proto_line(const cJSON *obj, size_t *len);
/* Write obj as one line on c by deadline; conn_write's CONN_* status. */
int proto_write(struct conn *c, const cJSON *obj, int64_t deadline);

/*
 * spec.c: the command specification shared by drinkd's dispatcher and
 * drink's parser, usage and completion (see the top of spec.c for how to
 * add a command).
 */
enum spec_role {
	SPEC_ANYONE,	/* any session */
	SPEC_MEMBER,	/* a logged-in member or admin */
	SPEC_ADMIN,	/* an admin; recorded in the audit table */
};
enum spec_type {
	SPEC_T_STRING,	/* any text, at most max bytes */
	SPEC_T_NAME,	/* user or machine name: proto_valid_name() */
	SPEC_T_TEXT,	/* free text, min..max bytes */
	SPEC_T_KEY,	/* idempotency key, min..max bytes */
	SPEC_T_SECRET,	/* password, min..max bytes, never logged */
	SPEC_T_ROLE,	/* one of spec_roles */
	SPEC_T_KIND,	/* one of spec_kinds */
	SPEC_T_AMOUNT,	/* credits, integer min..max; invalid_amount */
	SPEC_T_INT,	/* integer min..max */
	SPEC_T_TIME,	/* unix seconds min..max; drink also takes dates */
	SPEC_T_BOOL,
	SPEC_T_CARD,	/* card UID: proto_valid_card() */
	SPEC_T_ARRAY,	/* a JSON array; the handler checks its items */
	SPEC_T_BOARD_PW,	/* a tini board's password; never logged */
};
/* How drink's command line gives an argument. */
enum spec_form {
	SPEC_F_WORD,	/* a positional word, shown as meta */
	SPEC_F_REST,	/* positional: this word and all later, joined */
	SPEC_F_OPTION,	/* --opt META; .on, when set, is a shorthand switch */
	SPEC_F_SWITCH,	/* a bool: --on sets true, --off false */
	SPEC_F_SECRET,	/* asked on the terminal; optional ones need --opt */
	SPEC_F_HIDDEN,	/* not on the command line (drink fills it in) */
};
/* What drink's shell offers when completing the argument. */
enum spec_complete {
	SPEC_C_NONE,
	SPEC_C_USER,
	SPEC_C_MACHINE,
	SPEC_C_SLOT,	/* slots of the machine given before it */
	SPEC_C_KIND,
	SPEC_C_ROLE,
};
#define SPEC_A_REQ 0x1	/* the request must have it */
#define SPEC_A_END 0x2	/* TIME: a date alone means the end of that day */
/*
 * SECRET: the session user's own password, which a session logged in by a
 * login token must give for the command (spec_cmd.own_for says why):
 * drinkd checks it as a login's; drink asks for it after a kept login.
 */
#define SPEC_A_OWN 0x4
struct spec_arg {
	const char *field;	/* JSON member name */
	enum spec_type type;
	int flags;		/* SPEC_A_* */
	int64_t min, max;	/* integers: value; strings: length in bytes */
	enum spec_form form;
	const char *opt;	/* OPTION, optional SECRET: the name after -- */
	const char *meta;	/* WORD, REST, OPTION: what the value is */
	const char *on, *off;	/* SWITCH (and OPTION's shorthand) */
	enum spec_complete complete;
	const char *help;	/* one line for drink CMD --help */
	/*
	 * INT, TIME: the argument that ends the range this one starts; when
	 * both are given, this one may not be greater (the range would hold
	 * nothing).
	 */
	const char *upto;
};
#define SPEC_MAX_ARGS 8
#define SPEC_CMD_NOCLI 0x1	/* not a drink command (login is -u) */
#define SPEC_CMD_CONFIRM 0x2	/* destructive: drink asks, or --yes */
/* drink asks for at least one optional argument (the protocol does not). */
#define SPEC_CMD_SOME 0x4
/* A "user" argument naming someone else needs an admin. */
#define SPEC_CMD_OWNER 0x8
/* Changes money or users: drink always sends a key (one it makes up). */
#define SPEC_CMD_KEYED 0x10
struct spec_cmd {
	const char *name;	/* protocol name; drink shows "_" as "-" */
	enum spec_role role;
	int flags;		/* SPEC_CMD_* */
	const char *summary;
	struct spec_arg args[SPEC_MAX_ARGS];	/* ended by a NULL field */
	const char *cli;	/* drink's name when not the protocol's */
	/*
	 * What the command does that a stolen login token must not do (it
	 * would outlive the token's revocation), in words after "to": "bind
	 * a card".  Set exactly when an argument is SPEC_A_OWN.
	 */
	const char *own_for;
};
#define PROTO_PASSWORD_MAX 1024	/* bytes */
extern const struct spec_cmd spec_table[];
extern const size_t spec_count;
extern const char *const spec_kinds[];	/* NULL-ended */
extern const char *const spec_roles[];	/* NULL-ended */
const struct spec_cmd *spec_find(const char *name);
size_t spec_nargs(const struct spec_cmd *c);
const struct spec_arg *spec_arg_find(const struct spec_cmd *c,
    const char *field);
/* The command's SPEC_A_OWN argument, or NULL. */
const struct spec_arg *spec_own(const struct spec_cmd *c);
/*
 * Check one argument's value (integer: the raw literal was a plain
 * integer); ERR_NONE, or the error code with the rule in plain words in
 * why (may be NULL).
 */
int spec_check(const struct spec_arg *a, const cJSON *v, int integer,
    char *why, size_t len);
/*
 * Check the arguments of c given in args (numbers, or drink's raw integer
 * literals) against each other: ERR_NONE, or ERR_BAD_REQUEST with *lo and
 * *hi the start and end of a range given the wrong way round, and their
 * values in *lo_v and *hi_v.
 */
int spec_check_order(const struct spec_cmd *c, const cJSON *args,
    const struct spec_arg **lo, const struct spec_arg **hi, int64_t *lo_v,
    int64_t *hi_v);
/* 1 for the types whose values are never logged or stored in clear. */
int spec_secret(const struct spec_arg *a);
/* The rule an argument's value must follow, in plain words, in buf. */
const char *spec_rule(const struct spec_arg *a, char *buf, size_t len);
/* The command's name as drink shows it ("user-add"). */
void spec_cli_name(const struct spec_cmd *c, char *buf, size_t len);

#endif
