/*
 * drink, the member and admin client.  One invocation (or one line of the
 * interactive shell) is one command from the table in cli-cmd.c, which maps
 * to one protocol request on a session (cli-session.c); the reply is shown
 * by cli-print.c as text for people or passed through as JSON for scripts.
 */
#ifndef DRINK_CLI_H
#define DRINK_CLI_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "common.h"

/* Exit statuses: part of the command line's contract (see drink(1)). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_REFUSED = 1,	/* the server answered ok:false */
	CLI_EXIT_USAGE = 2,	/* bad command line, config file or input */
	CLI_EXIT_CONN = 3,	/* connection, TLS or framing failure */
};
#define CLI_EXIT_TIMEOUT (-1)	/* internal: cli_session_next waited out */

/* Deadlines, in milliseconds. */
#define CLI_CONNECT_MS 10000	/* dial + handshake; again: greeting */
#define CLI_REPLY_MS 30000	/* any ordinary request */
#define CLI_DROP_MS 330000	/* drop: the 300 s delay cap + vend_timeout */
#define CLI_QUIT_MS 1000	/* the parting "quit" and close_notify */
/* Replies are not bounded by the server's max_line: "who" may be huge. */
#define CLI_MAX_LINE (64u << 20)
#define CLI_PASSWORD_MAX 1024

/* Where to connect and as whom. */
struct cli_config {
	char *host;
	char *port;
	char *ca;
	char *cert;
	char *key;
	char *user;
	int json;
};

/* cli.c */
void cli_error(const char *fmt, ...) PRINTFLIKE(1, 2);

/* cli-session.c: one connection, made on first use, remade after a loss. */
struct cli_session;
/* cfg is borrowed and must outlive the session. */
struct cli_session *cli_session_new(const struct cli_config *cfg);
void cli_session_free(struct cli_session *s);
const struct cli_config *cli_session_config(const struct cli_session *s);
/* Connect and read the greeting unless already connected; CLI_EXIT_*. */
int cli_session_open(struct cli_session *s);
/* Log in as -u USER with a password; CLI_EXIT_*, refusals reported. */
int cli_session_login(struct cli_session *s);
int cli_session_logged_in(const struct cli_session *s);
int cli_session_has_user(const struct cli_session *s);
/* The password this session logged in with, or NULL. */
const char *cli_session_password(const struct cli_session *s);
/*
 * Send req (an "id" is added) and wait up to timeout_ms for its reply.
 * CLI_EXIT_OK with *reply set (caller deletes) and, when raw is not NULL,
 * *raw the reply line exactly as received (caller frees).  Whether the
 * reply says ok is the caller's business.  On CLI_EXIT_CONN the message has
 * been printed and the connection dropped; cli_session_open() makes a new
 * one (and the login must be made again).
 */
int cli_session_request(struct cli_session *s, cJSON *req, int64_t timeout_ms,
    cJSON **reply, char **raw);
/* Log in with a token; CLI_EXIT_REFUSED (quiet) for bad_credentials. */
int cli_session_token_login(struct cli_session *s, const char *token);
/* Send req (an "id" is added) without waiting for the reply. */
int cli_session_send(struct cli_session *s, cJSON *req);
/*
 * The next message of any kind (event or reply) within timeout_ms: *obj
 * and *raw (caller frees both); CLI_EXIT_TIMEOUT when none came.
 */
int cli_session_next(struct cli_session *s, int64_t timeout_ms, cJSON **obj,
    char **raw);
/* Say "quit" and close, best effort and bounded. */
void cli_session_close(struct cli_session *s);

/* cli-tty.c */
/*
 * Fill buf with a password: from the environment variable env when set,
 * else read from /dev/tty without echo; a new password (confirm set) is
 * asked twice.  -1 with a message printed when there is no way to get one.
 */
int cli_tty_password(const char *env, const char *prompt, int confirm,
    char *buf, size_t len);
void cli_tty_wipe(void *buf, size_t len);

/* cli-cmd.c */
struct cli_cmd_entry;
/*
 * An error code and what to say about it.  {field} is filled from the
 * reply, else the request, else cli_cmd_run.info; a text naming a field that is
 * absent is passed over for the next one with the same code.
 */
struct cli_cmd_text {
	const char *code;
	const char *text;
};
/*
 * The state of one command while it runs: the request it sends and what it
 * learnt on the way.  Owned by cli_cmd_execute(); print functions only read it.
 */
struct cli_cmd_run {
	const struct cli_cmd_entry *entry;
	cJSON *req;	/* the request */
	cJSON *info;	/* facts gathered before the request (drop: item) */
	unsigned seen;	/* bit i set: option i of the entry was given */
	int json;
	const char *done;	/* success text, without a print function */
	const struct cli_cmd_text *errors;	/* refusals; NULL-ended */
};
/* Run one command given as words (argv[0] is its name); CLI_EXIT_*. */
int cli_cmd_execute(struct cli_session *s, int argc, char **argv);
/* The command list, for --help and the shell's "help". */
void cli_cmd_usage(FILE *fp);
/* One command's usage and help; -1 (reported) when name is unknown. */
int cli_cmd_usage_one(FILE *fp, const char *name);

/* cli-print.c */
/* A whole number field as an integer; -1 when absent or not one. */
int cli_print_int(const cJSON *obj, const char *field, long long *out);
/* Report an ok:false reply on stderr; run may be NULL (the login). */
void cli_print_refusal(const struct cli_cmd_run *run, const cJSON *reply);
/* The line shown before a drop is sent. */
void cli_print_dropping(const struct cli_cmd_run *run);
void cli_print_pong(const struct cli_cmd_run *run, const cJSON *reply);
void cli_print_machines(const struct cli_cmd_run *run, const cJSON *reply);
void cli_print_slots(const struct cli_cmd_run *run, const cJSON *reply);
void cli_print_history(const struct cli_cmd_run *run, const cJSON *reply);
void cli_print_log(const struct cli_cmd_run *run, const cJSON *reply);
void cli_print_who(const struct cli_cmd_run *run, const cJSON *reply);
void cli_print_users(const struct cli_cmd_run *run, const cJSON *reply);
void cli_print_cards(const struct cli_cmd_run *run, const cJSON *reply);
void cli_print_slot_set(const struct cli_cmd_run *run, const cJSON *reply);
void cli_print_done(const struct cli_cmd_run *run, const cJSON *reply);

/* cli-token.c: the kept login token, and "watch". */
char *cli_token_path(const struct cli_config *cfg);
cJSON *cli_token_load(const struct cli_config *cfg);
void cli_token_forget(const struct cli_config *cfg);
int cli_token_use(struct cli_session *s);
int cli_token_login(struct cli_cmd_run *run, struct cli_session *s);
int cli_token_logout(struct cli_cmd_run *run, struct cli_session *s);
int cli_token_watch(struct cli_cmd_run *run, struct cli_session *s);

/* cli-shell.c */
/* Read commands from stdin until quit or EOF; the last command's status. */
int cli_shell_run(struct cli_session *s);
/* "help [COMMAND]": the command list, or one command's usage. */
int cli_shell_help(int argc, char **argv);

#endif
