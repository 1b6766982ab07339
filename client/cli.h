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
	CLI_EXIT_OUTPUT = 4,	/* the output could not be written */
};
#define CLI_EXIT_TIMEOUT (-1)	/* internal: cli_session_next waited out */
#define CLI_EXIT_BAD_TOKEN (-2) /* internal: the server knows no such token */
#define CLI_EXIT_INTERRUPTED (-3) /* internal: cli_session_next woken */

/* Deadlines, in milliseconds. */
#define CLI_CONNECT_MS 10000	/* dial + handshake; again: greeting */
#define CLI_REPLY_MS 30000	/* any ordinary request */
#define CLI_DROP_MS 390000	/* drop: the 300 s delay cap, vend_timeout
				 * (30 s by default) in the queue and again
				 * at the machine, and 30 s for the outcome
				 * to be recorded (retried while storage
				 * fails) */
#define CLI_QUIT_MS 1000	/* the parting "quit" and close_notify */
/* Replies are not bounded by the server's max_line: "who" may be huge. */
#define CLI_MAX_LINE (64u << 20)

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
/*
 * After a command: flush standard output; when writing it failed, say so
 * and return CLI_EXIT_OUTPUT (and clear the error, for the shell's next
 * command), else st.
 */
int cli_output_check(int st);

/* cli-session.c: one connection, made on first use, remade after a loss. */
struct cli_session;
struct cli_cmd_run;
/* cfg is borrowed and must outlive the session. */
struct cli_session *cli_session_new(const struct cli_config *cfg);
void cli_session_free(struct cli_session *s);
const struct cli_config *cli_session_config(const struct cli_session *s);
/* Connect and read the greeting unless already connected; CLI_EXIT_*. */
int cli_session_open(struct cli_session *s);
/* Log in as -u USER with a password; CLI_EXIT_*, refusals reported. */
int cli_session_login(struct cli_session *s);
int cli_session_logged_in(const struct cli_session *s);
int cli_session_connected(const struct cli_session *s);
/* The user logged in, or NULL. */
const char *cli_session_user(const struct cli_session *s);
/* Their role ("member", "admin"), or NULL when not known. */
const char *cli_session_role(const struct cli_session *s);
int cli_session_has_user(const struct cli_session *s);
/* The password this session logged in with, or NULL. */
const char *cli_session_password(const struct cli_session *s);
/*
 * Whether the login was by a kept token and the server has not been shown
 * the password since (then card_add, user_add and user_mod need it, and a
 * right one shows it).
 */
int cli_session_by_token(const struct cli_session *s);
void cli_session_password_shown(struct cli_session *s);
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
/*
 * cli_session_request with the client's reply timeout that deletes req and
 * answers for run: CLI_EXIT_OK with *reply the ok reply (caller deletes),
 * CLI_EXIT_REFUSED with the refusal printed and *reply NULL, or the
 * request's own failure with *reply NULL.
 */
int cli_session_call(struct cli_session *s, const struct cli_cmd_run *run,
    cJSON *req, cJSON **reply);
/*
 * Log in with a token: CLI_EXIT_BAD_TOKEN (quiet) when the server knows
 * no such token (bad_credentials: expired, revoked or never made), or
 * CLI_EXIT_REFUSED with any other refusal printed, or CLI_EXIT_*.
 */
int cli_session_token_login(struct cli_session *s, const char *token);
/*
 * Log this connection out (the shell's "logout" without a kept login) and
 * forget its password, so that no reconnection logs in again unasked;
 * says who was logged out.  CLI_EXIT_*.
 */
int cli_session_logout(struct cli_session *s);
/* Send req (an "id" is added) without waiting for the reply. */
int cli_session_send(struct cli_session *s, cJSON *req);
/*
 * The next message of any kind (event or reply) within timeout_ms: *obj
 * and *raw (caller frees both); CLI_EXIT_TIMEOUT when none came.
 */
int cli_session_next(struct cli_session *s, int64_t timeout_ms, cJSON **obj,
    char **raw);
/*
 * While fd is readable, cli_session_next returns CLI_EXIT_INTERRUPTED
 * instead of waiting; -1 turns that off.
 */
void cli_session_set_wake(struct cli_session *s, int fd);
/* Say "quit" and close, best effort and bounded. */
void cli_session_close(struct cli_session *s);
/*
 * While the next request waits, count seconds down on the terminal from
 * secs (a drop's delay), shown once the request is written.  The line is
 * erased when the reply (or a failure) arrives, before anything else is
 * printed; 0 stops the countdown.
 */
void cli_session_countdown(struct cli_session *s, int secs);
/*
 * A note for the shell when the server has closed the connection since
 * the last command (kick, idle timeout, shutdown); NULL when it has not.
 * Checking drops a closed connection, so the next command reconnects.
 */
const char *cli_session_lost(struct cli_session *s);
/* The logged-in user and balance for a prompt: -1 when unknown. */
int cli_session_whoami(struct cli_session *s, char *user, size_t len,
    long long *balance);

/* cli-tty.c */
/*
 * Fill buf with a password: from the environment variable env when set,
 * else read from /dev/tty without echo; a new password (confirm set) is
 * asked twice.  -1 with a message printed when there is no way to get one.
 */
int cli_tty_password(const char *env, const char *prompt, int confirm,
    char *buf, size_t len);
void cli_tty_wipe(void *buf, size_t len);
/*
 * Ask on the terminal whether to run a destructive command ("name words");
 * CLI_EXIT_OK for yes, CLI_EXIT_USAGE (reported) for no or no terminal.
 */
int cli_tty_confirm(const char *name, const char *words);
/*
 * From hold to release, the first SIGINT (Ctrl-C) only prints first; a
 * second prints second and then takes its usual effect.  For a request
 * that cannot be taken back once sent (a drop): quitting would not stop
 * it, only hide its outcome.
 */
void cli_tty_hold_interrupt(const char *first, const char *second);
void cli_tty_release_interrupt(void);
/*
 * The interactive shell sets this: Ctrl-C at a password prompt or a
 * confirmation then ends that command ("interrupted; nothing done", or
 * "not confirmed") instead of drink.
 */
void cli_tty_set_shell(int shell);
/*
 * For "watch" in the shell: from here to release, Ctrl-C makes the
 * returned descriptor readable instead of ending drink.  -1 outside the
 * shell (Ctrl-C ends drink) or when it cannot be arranged.
 */
int cli_tty_watch_interrupt(void);
void cli_tty_watch_release(void);

/* cli-cmd.c */
/*
 * An error code and what to say about it.  {field} is filled from the
 * reply, else the request, else cli_cmd_run.info; a text naming a field that is
 * absent is passed over for the next one with the same code.  A text that
 * does not quote {message} replaces only the code's default message: a
 * server that said more is quoted as it said it (cli_print_refusal).
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
	const struct spec_cmd *spec;
	cJSON *req;	/* the request */
	cJSON *info;	/* facts gathered before the request (drop: item) */
	unsigned given;	/* bit i set: spec argument i was given */
	int yes;	/* --yes: no confirmation asked */
	int json;
	const char *done;	/* success text, without a print function */
	const struct cli_cmd_text *errors;	/* refusals; NULL-ended */
};
/* Run one command given as words (argv[0] is its name); CLI_EXIT_*. */
int cli_cmd_execute(struct cli_session *s, int argc, char **argv);
/* The command list, for --help, "drink help" and the shell's "help". */
void cli_cmd_usage(FILE *fp);
/* Whether drink offers the command (login, logout, quit it does not). */
int cli_cmd_visible(const struct spec_cmd *c);
/*
 * The command a word names (exact, or the only one it is a prefix of);
 * NULL with *ambiguous set when several match, their names in cands.
 */
const struct spec_cmd *cli_cmd_find(const char *word, int *ambiguous,
    char *cands, size_t len);
/* "drop MACHINE SLOT [--delay SECONDS] [--key KEY]" into buf. */
void cli_cmd_synopsis(const struct spec_cmd *c, char *buf, size_t len);
/* A time as drink takes it (see drink(1)) into unix seconds; -1 if bad. */
int cli_cmd_parse_time(const char *s, int end, long long *out);
/* One command's usage and help; -1 (reported) when name is unknown. */
int cli_cmd_usage_one(FILE *fp, const char *name);
/*
 * "help [COMMAND]" (argv[0] is "help"): one command's usage, else the
 * whole list as list() prints it for the place it is asked in; CLI_EXIT_*.
 */
int cli_cmd_help_words(int argc, char **argv, void (*list)(FILE *));
/*
 * Commands are read by the shell, not from drink's command line: usage
 * lines and hints then spell them as typed there ("help drop", not
 * "drink help drop").
 */
void cli_cmd_set_shell(int shell);
/* "drink " on the command line, "" in the shell. */
const char *cli_cmd_prefix(void);

/* cli-print.c */
/* Terminal columns taken by UTF-8 text (wide characters count 2). */
size_t cli_print_width(const char *s);
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
/* A reply's fields, one "name: value" per line (commands without a look). */
void cli_print_fields(const struct cli_cmd_run *run, const cJSON *reply);

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

#endif
