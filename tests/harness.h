/*
 * Integration-test harness: real drinkd processes on ephemeral loopback
 * ports, TLS clients that speak the line protocol, and read-only looks at
 * the server's database.  Every helper that waits has a deadline, and a
 * helper that cannot do its job fails the running Check test rather than
 * returning an error the caller might forget to look at; the *_raw and
 * *_try variants return failures for tests that provoke them.
 *
 * A test binary calls h_init() before srunner_run_all() and h_finish()
 * after it.  Tests run forked (CK_FORK); a drinkd started by a test is
 * killed when that test's process ends, however it ends.
 *
 * DRINKD_WRAPPER in the environment (make check-valgrind) runs every
 * server that h_server_start/h_server_restart launch under that command:
 * its words, split at spaces and with "%s" replaced by DIR/drinkd, come
 * before drinkd's own.  Startup may then take 60 s, and stopping or
 * killing the server fails the test when the wrapper's log
 * (DIR/drinkd.valgrind, kept as drinkd.valgrind.N after each run) reports
 * errors or definite leaks, or the wrapper exited with status 99.
 */
#ifndef DRINK_HARNESS_H
#define DRINK_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "common.h"

#define H_DEADLINE_MS 30000	/* a reply must arrive by then */
#define H_CLOSE_MS 10000	/* h_closed: the server must close by then */
#define H_SQL_NULL INT64_MIN	/* h_sql_int for an SQL NULL */

struct h_server {
	char *dir;		/* private temp directory, removed by free */
	char *conf;		/* DIR/drinkd.conf */
	char *db;		/* DIR/drink.db */
	char *log;		/* DIR/drinkd.log: the server's stderr */
	char *ports_file;
	char *extra;		/* extra configuration lines, or NULL */
	pid_t pid;		/* 0 when not running */
	int port;		/* member port */
	int machine_port;	/* 0 when the machine port is not open */
	int wrapped;		/* running under DRINKD_WRAPPER (valgrind) */
	int wrapped_runs;	/* wrapper logs already checked */
	struct rlimit nofile;	/* drinkd's RLIMIT_NOFILE; rlim_cur 0: ours */
};

struct h_client {
	struct conn *conn;
	cJSON *greeting;	/* first line from the server, parsed */
	char *line;		/* last line read, raw, without "\n" */
	int port;		/* local port of this connection */
};

/* harness.c: process-wide set-up, from main(). */
/* Run suite s (forking per test) and return how many tests failed. */
int h_run(Suite *s);
/*
 * A test case named name in s, with a checked fixture (setup/teardown may
 * be NULL) and a timeout in seconds.
 */
TCase *h_tcase(Suite *s, const char *name, void (*setup)(void),
    void (*teardown)(void), int timeout);
/*
 * Make the temp root and the test certificates (tests/mkcerts-bad), raise
 * RLIMIT_NOFILE to the hard limit and ignore SIGPIPE.  Exits on failure.
 */
void h_init(void);
/* Remove the temp root unless tests failed; returns main()'s exit code. */
int h_finish(int failed);
/* Path of a file in the certificate directory; caller frees. */
char *h_cert_path(const char *file);

/* harness.c: servers. */
/*
 * A fresh server: new directory, configuration (listen 127.0.0.1:0, the
 * test certificates, extra_conf lines appended, so they override), a new
 * database with admin/adminpw (admin, 1000), alice/alicepw (100) and
 * bob/bobpw (0), then `drinkd -f CONF -d` once the ports file is written.
 * Caller frees with h_server_free().
 */
struct h_server *h_server_start(const char *extra_conf);
/*
 * h_server_start with drinkd (and its restarts) started under the given
 * soft and hard RLIMIT_NOFILE (the database is made under ours).
 */
struct h_server *h_server_start_nofile(const char *extra_conf, long soft,
    long hard);
/*
 * h_server_start with machine_ca (the test CA) ahead of extra_conf (may be
 * NULL), so controllers holding the test certificates can register; fails
 * the test unless the machine port is open.
 */
struct h_server *h_machine_server_start(const char *extra_conf);
/*
 * Log in as admin on a new connection, send each line of the NULL-ended
 * list and fail the test, naming the line, unless every reply is ok.
 */
void h_admin(struct h_server *s, ...) __attribute__((sentinel));
/*
 * Whether `machines`, asked on a new anonymous connection, shows machine
 * online: 1, 0, or -1 when it is not listed.
 */
int h_machine_online(struct h_server *s, const char *machine);
/* SIGTERM, wait (then SIGKILL); exit status, or 128 + signal. */
int h_server_stop(struct h_server *s);
void h_server_kill(struct h_server *s);
/* Stop if running, then start again on the same database and config. */
void h_server_restart(struct h_server *s);
/*
 * Stop if running (SIGTERM), fail the test if the server's log holds a
 * sanitizer report, then remove the directory and free.
 */
void h_server_free(struct h_server *s);
/*
 * Run `drinkd -f CONF ARGS` (ARGS split at spaces) with stdin_text (may be
 * NULL) on its standard input; its exit code, or -1.
 */
int h_server_cmd(struct h_server *s, const char *args, const char *stdin_text);
/* 1 when the server's log contains needle. */
int h_server_log_contains(struct h_server *s, const char *needle);
/* Poll the file at path until it holds needle: 1, or 0 after timeout_ms. */
int h_file_wait(const char *path, const char *needle, int64_t timeout_ms);
/* Poll the log until it contains needle: 1, or 0 after timeout_ms. */
int h_server_log_wait(struct h_server *s, const char *needle,
    int64_t timeout_ms);
/* How many times needle occurs in the server's log. */
int h_server_log_count(struct h_server *s, const char *needle);
/*
 * Run drinkd (the binary under test, without the wrapper) with ARGS split
 * at spaces, an empty standard input, stdout and stderr written to out
 * (replaced); its exit code, 128 + signal when it was killed (as it is
 * after timeout_ms), or -1.  For command lines that need no h_server.
 */
int h_drinkd_run(const char *args, const char *out, int64_t timeout_ms);
/* h_drinkd_run for the client, drink (environment inherited). */
int h_drink_run(const char *args, const char *out, int64_t timeout_ms);

/*
 * Start the reference controller, build/drink-machine, as machine name
 * (certificate machine-NAME) against s's machine port, with args split at
 * spaces (e.g. "--simulate 3:2 --vend-ms 50"); it logs into s's log.
 */
pid_t h_machine_start(struct h_server *s, const char *name, const char *args);
/* SIGTERM and wait; its exit status (128 + signal if killed). */
int h_machine_stop(pid_t pid);
/*
 * The command line of build/drink-machine as the controller holding
 * certificate cert (CERT.crt/.key, e.g. "machine-m1"), trusting the test
 * CA, against s's machine port, then the NULL-ended words; for callers
 * that run it their own way.  NULL-ended; free with h_argv_free().
 */
char **h_machine_argv(struct h_server *s, const char *cert,
    const char *const *words);
void h_argv_free(char **argv);

/*
 * harness.c: the running server seen from /proc (Linux).  Each fails the
 * test when the server is not running or /proc cannot be read.
 */
int h_server_threads(struct h_server *s);	/* "Threads:" */
int h_server_fds(struct h_server *s);		/* entries of /proc/PID/fd */
long h_server_rss_kib(struct h_server *s);	/* "VmRSS:" */
long h_server_hwm_kib(struct h_server *s);	/* "VmHWM:", the peak RSS */
/* CPU time the server has used, user and system, in milliseconds. */
int64_t h_server_cpu_ms(struct h_server *s);
/*
 * 1 when the server runs under a sanitizer runtime or valgrind (its
 * memory figures then say little about drinkd itself).
 */
int h_server_instrumented(struct h_server *s);

/* harness.c: files. */
/*
 * A new private directory under the harness's temp root (removed with it
 * when all tests pass); caller frees the path.
 */
char *h_tmpdir(void);
/*
 * Put the storage-fault shim (tests/shim/fault.c, BUILD/tests/fault.so)
 * under every drinkd started from now on: LD_PRELOAD, and ASAN_OPTIONS
 * that let an instrumented drinkd load it first and keep its own SIGBUS
 * handler.  Returns the flag file (in a new temporary directory; caller
 * frees) into which a test writes a fault's kind to make writes fail.
 */
char *h_fault_shim(void);
/*
 * With the shim (flag from h_fault_shim): while hold, the drinkd thread
 * that writes to c waits just after each write (fault_hold_peer); it is
 * let go when hold is 0.  h_writes_held: 1 once a write was held.
 */
void h_hold_writes(const char *flag, const struct h_client *c, int hold);
int h_writes_held(const char *flag);
/*
 * A file's first max bytes (H_SLURP_MAX suits the logs and outputs tests
 * read back), NUL-terminated; "" when it cannot be opened.  Caller frees.
 */
#define H_SLURP_MAX (1024 * 1024)
char *h_slurp(const char *path, size_t max);
/* Copy a file and set its mode; fails the test on any error. */
void h_copy_file(const char *from, const char *to, mode_t mode);
/*
 * Put this test process (and the drinkd it starts later) in a mount
 * namespace of its own with private mounts, so that what it mounts
 * vanishes with it: as root directly, else inside a user namespace
 * mapping it to root.  Neither possible fails the test (never skipped);
 * why names what it is for.
 */
void h_own_mounts(const char *why);
/* Whether conf (drinkd.conf lines) has a line setting key. */
int h_conf_sets(const char *conf, const char *key);

/* harness.c: clients. */
/*
 * TLS to 127.0.0.1:port verifying the server as "localhost" against the
 * test CA, presenting cert (e.g. "member-alice": member-alice.crt/.key)
 * unless NULL.  No line is read.  NULL with err set on failure.
 */
struct h_client *h_tls_dial(int port, const char *cert, char *err,
    size_t errlen);
/* h_tls_dial with a context of the caller's (e.g. pinned TLS versions). */
struct h_client *h_tls_dial_ctx(int port, SSL_CTX *ctx, char *err,
    size_t errlen);
/*
 * A new client context like the one h_tls_dial uses for cert (trusting the
 * test CA), for the caller to adjust; caller SSL_CTX_free()s it.
 */
SSL_CTX *h_tls_ctx(const char *cert);
/*
 * h_tls_dial to the member port, then read the first line into greeting.
 * NULL with err set when the handshake fails or no line arrives (a client
 * certificate is refused after the handshake under TLS 1.3).
 */
struct h_client *h_connect_raw(struct h_server *s, const char *cert,
    char *err, size_t errlen);
/* h_connect_raw that fails the test unless it is greeted with hello. */
struct h_client *h_connect(struct h_server *s, const char *cert);
/* Connect and log in with a password; fails the test unless ok. */
struct h_client *h_connect_as(struct h_server *s, const char *user,
    const char *password);
/*
 * A login token made on c's session (token_create with label): the token
 * (caller frees), its id in *id.  Fails the test unless it is 64 hex
 * digits lasting the default 90 days.
 */
char *h_token_make(struct h_client *c, const char *label, int64_t *id);
/* Connect and log in by token; fails the test unless ok. */
struct h_client *h_connect_by_token(struct h_server *s, const char *token);
void h_close(struct h_client *c);
/* Plain TCP to 127.0.0.1:port, non-blocking; caller closes the fd. */
int h_tcp_dial(int port);
/*
 * 1 when the peer of a plain socket closes within timeout_ms (bytes that
 * arrive first, such as a TLS alert, are skipped).
 */
int h_tcp_closed(int fd, int64_t timeout_ms);

/* Write bytes as they are; CONN_OK or the conn_status, never fails. */
int h_send_raw(struct h_client *c, const void *buf, size_t len);
/*
 * Send the first half of the TLS record that would carry text, and never
 * the rest: the server holds part of a record.  c can only be closed
 * after this.
 */
void h_send_partial_record(struct h_client *c, const char *text);
/* Write a line; "\n" is appended. */
void h_send(struct h_client *c, const char *line);
/*
 * Read one line within timeout_ms into c->line.  Returns CONN_OK, or the
 * conn_status (CONN_EOF, CONN_TIMEOUT, CONN_ERROR) without failing.
 */
int h_read_line(struct h_client *c, int64_t timeout_ms);
/* The next line, parsed; fails the test on timeout, close or bad JSON. */
cJSON *h_read(struct h_client *c);
/* On a controller's connection: the next message that is not the
 * server's ping, each ping answered ok. */
cJSON *h_ctl_read(struct h_client *c);
/* Send json_line and return the next reply (caller cJSON_Delete()s). */
cJSON *h_call(struct h_client *c, const char *json_line);
cJSON *h_callf(struct h_client *c, const char *fmt, ...) PRINTFLIKE(2, 3);
/*
 * Send line; fail the test unless the reply is ok (code NULL) or the error
 * code, naming the request in the failure.
 */
void h_expect(struct h_client *c, const char *code, const char *line);
void h_expectf(struct h_client *c, const char *code, const char *fmt, ...)
    PRINTFLIKE(3, 4);
/* As h_expect for an error code, whose message must be message. */
void h_expect_refused(struct h_client *c, const char *code,
    const char *message, const char *line);
/* Log in; fails the test unless the reply is ok. */
void h_login(struct h_client *c, const char *user, const char *password);
/* ms until the server closed the connection, or -1 (a line or timeout). */
int64_t h_wait_closed(struct h_client *c, int64_t timeout_ms);
/* 1 when the server closes the connection within H_CLOSE_MS. */
int h_closed(struct h_client *c);

/* harness.c: replies. */
int h_ok(const cJSON *reply);	/* "ok" is true */
/* The "error" code of a failure reply, or NULL. */
const char *h_error(const cJSON *reply);
/* Integer field; fails the test when absent or not an integer. */
int64_t h_num(const cJSON *reply, const char *field);
/* String field; fails the test when absent or not a string. */
const char *h_str(const cJSON *reply, const char *field);
/* Array field; fails the test when absent or not an array. */
cJSON *h_array(const cJSON *reply, const char *field);
/* Compact text of a reply for failure messages (never freed). */
const char *h_text(const cJSON *reply);

/* harness.c: the server's database, read-only. */
/* First column of the first row; fails the test when there is no row. */
int64_t h_sql_int(struct h_server *s, const char *fmt, ...) PRINTFLIKE(2, 3);
/*
 * Poll the first column of the first row (H_SQL_NULL while there is no
 * row) until it equals want, for up to H_CLOSE_MS; the last value read.
 * For session records, which drinkd writes shortly after the fact.
 */
int64_t h_sql_wait(struct h_server *s, int64_t want, const char *fmt, ...)
    PRINTFLIKE(3, 4);
/*
 * Run one SQL statement on the database as another writer would, for a
 * state drinkd itself no longer makes (one an older version left).
 */
void h_sql_exec(struct h_server *s, const char *sql);
int64_t h_balance(struct h_server *s, const char *user);
/* `drinkd check-ledger` exit code. */
int h_check_ledger(struct h_server *s);
/* Nothing pending, nothing held (@holds at 0), and check-ledger passes. */
void h_ledger_settled(struct h_server *s);

/*
 * Poll until cond holds, every 10 ms; fail the test naming cond after
 * H_WAIT_MS.  For waits on another process, instead of a fixed sleep.
 */
#define H_WAIT_MS 10000
#define H_WAIT_UNTIL(cond)                                                 \
	do {                                                               \
		int64_t h_wait_deadline_ = now_ms() + H_WAIT_MS;           \
		while (!(cond)) {                                          \
			ck_assert_msg(now_ms() < h_wait_deadline_,         \
			    "never became true: %s", #cond);               \
			usleep(10 * 1000);                                 \
		}                                                          \
	} while (0)

/* Reply assertions that name the caller's line and show the reply. */
#define H_ASSERT_OK(r)                                                     \
	ck_assert_msg(h_ok(r), "expected ok, got %s", h_text(r))
#define H_ASSERT_ERROR(r, code)                                            \
	ck_assert_msg(h_error(r) != NULL && strcmp(h_error(r), (code)) == 0, \
	    "expected error %s, got %s", (code), h_text(r))

#endif
