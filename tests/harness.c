/*
 * The integration-test harness (see harness.h): drinkd processes in
 * private temp directories, TLS clients over loopback, and read-only SQL
 * against the server's database.
 *
 * Processes: every child is started with PR_SET_PDEATHSIG, so a drinkd
 * dies with the forked test that started it even when a failed assertion
 * ends that test with _exit().  Children are spawned with fork() and
 * execv() only, so a test with many threads can still start them safely.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "harness.h"
#include "run.h"

#define HARNESS_START_MS 10000	 /* ports file written by then */
#define HARNESS_STOP_MS 20000	 /* SIGTERM honoured by then */
#define HARNESS_WRAPPED_MS 60000 /* both, under DRINKD_WRAPPER */
#define HARNESS_WRAPPER_FAIL 99	 /* the wrapper's --error-exitcode */
#define HARNESS_CMD_MS 60000	 /* a drinkd subcommand finishes by then */
#define HARNESS_DIAL_MS 10000	 /* TCP connect and TLS handshake */
#define HARNESS_GREETING_MS 10000
#define HARNESS_MAX_LINE (64UL * 1024 * 1024)
#define HARNESS_MAX_ARGS 32
#define HARNESS_CTXS 16

static char *harness_root;	/* temp root of this test binary */
static char *harness_certs;	/* ROOT/certs */
static char *harness_drinkd;	/* absolute path of drinkd */
static pthread_mutex_t harness_tmp_lock = PTHREAD_MUTEX_INITIALIZER;

/* Client TLS contexts by certificate name ("" for none), made on demand. */
static struct {
	char *cert;
	SSL_CTX *ctx;
} harness_ctxs[HARNESS_CTXS];
static int harness_nctxs;
static pthread_mutex_t harness_ctx_lock = PTHREAD_MUTEX_INITIALIZER;

static void harness_die(const char *fmt, ...) PRINTFLIKE(1, 2)
    __attribute__((noreturn));

/* Set-up failures outside any test: say why and stop the binary. */
static void
harness_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "harness: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

char *
h_slurp(const char *path, size_t max)
{
	char *buf = xmalloc(max + 1);
	size_t n = 0;
	FILE *f;

	buf[0] = '\0';
	if ((f = fopen(path, "r")) == NULL) {
		return buf;
	}
	n = fread(buf, 1, max, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The last bytes of a log, for failure messages; caller frees. */
static char *
harness_tail(const char *path)
{
	char *all = h_slurp(path, 1024 * 1024), *out;
	size_t n = strlen(all);

	out = xstrdup(n > 3000 ? all + n - 3000 : all);
	free(all);
	return out;
}

static int
harness_rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
harness_rmtree(const char *dir)
{
	(void)nftw(dir, harness_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Start argv[0] with stdin from stdin_fd (-1: /dev/null) and stdout and
 * stderr appended to out, and RLIMIT_NOFILE set to *nofile unless it is
 * NULL.  The child dies with the calling thread's process
 * (PR_SET_PDEATHSIG).  Only async-signal-safe calls (and setrlimit, a
 * bare system call) after fork.
 */
static pid_t
harness_spawn(char *const argv[], int stdin_fd, const char *out,
    const struct rlimit *nofile)
{
	pid_t parent = getpid(), pid;
	sigset_t none;
	int fd;

	if ((pid = fork()) != 0) {
		return pid;
	}
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) {
		_exit(127);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (stdin_fd == -1) {
		stdin_fd = open("/dev/null", O_RDONLY);
	}
	if (stdin_fd == -1 || dup2(stdin_fd, 0) == -1) {
		_exit(127);
	}
	if ((fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600)) == -1 ||
	    dup2(fd, 1) == -1 || dup2(fd, 2) == -1) {
		_exit(127);
	}
	if (fd > 2) {
		close(fd);
	}
	if (nofile != NULL && setrlimit(RLIMIT_NOFILE, nofile) != 0) {
		_exit(127);
	}
	execv(argv[0], argv);
	_exit(127);
}

/* Wait for pid; SIGKILL it at the deadline.  Exit code or 128 + signal. */
static int
harness_wait(pid_t pid, int64_t timeout_ms)
{
	int rc = run_wait(pid, timeout_ms);

	if (rc == -2) {
		kill(pid, SIGKILL);
		rc = run_wait(pid, HARNESS_STOP_MS);
	}
	return rc == -2 ? -1 : rc;
}

/* Run argv to completion with stdin_text; its exit code or -1. */
static int
harness_run(char *const argv[], const char *stdin_text, const char *out,
    int64_t timeout_ms)
{
	size_t len = stdin_text != NULL ? strlen(stdin_text) : 0;
	int p[2] = { -1, -1 };
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0) {
		return -1;
	}
	pid = harness_spawn(argv, p[0], out, NULL);
	close(p[0]);
	if (pid == -1) {
		close(p[1]);
		return -1;
	}
	while (len > 0 && (n = write(p[1], stdin_text, len)) > 0) {
		stdin_text += n;
		len -= (size_t)n;
	}
	close(p[1]);
	return harness_wait(pid, timeout_ms);
}

int
h_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed;
}

TCase *
h_tcase(Suite *s, const char *name, void (*setup)(void),
    void (*teardown)(void), int timeout)
{
	TCase *tc = tcase_create(name);

	if (setup != NULL || teardown != NULL) {
		tcase_add_checked_fixture(tc, setup, teardown);
	}
	tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
	return tc;
}

void
h_init(void)
{
	const char *build = getenv("BUILD"), *tmp = getenv("TMPDIR");
	char cwd[4096], *mkcerts, *log;
	char *argv[3];
	struct rlimit rl;

	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (build == NULL || build[0] == '\0') {
		build = "build";
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		harness_die("getcwd: %s", strerror(errno));
	}
	harness_drinkd = build[0] == '/' ? xasprintf("%s/drinkd", build) :
	    xasprintf("%s/%s/drinkd", cwd, build);
	if (access(harness_drinkd, X_OK) != 0) {
		harness_die("%s: %s (run the tests from the repository root "
		    "after make)", harness_drinkd, strerror(errno));
	}
	harness_root = xasprintf("%s/drink-check.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(harness_root) == NULL) {
		harness_die("mkdtemp %s: %s", harness_root, strerror(errno));
	}
	harness_certs = xasprintf("%s/certs", harness_root);
	mkcerts = xasprintf("%s/tests/mkcerts-bad", cwd);
	log = xasprintf("%s/mkcerts.log", harness_root);
	argv[0] = mkcerts;
	argv[1] = harness_certs;
	argv[2] = NULL;
	if (harness_run(argv, NULL, log, 120000) != 0) {
		char *tail = harness_tail(log);

		harness_die("%s %s failed:\n%s", mkcerts, harness_certs, tail);
	}
	free(mkcerts);
	free(log);
}

int
h_finish(int failed)
{
	if (harness_root != NULL) {
		if (failed) {
			fprintf(stderr, "harness: %d failure(s); server "
			    "directories kept in %s\n", failed, harness_root);
		} else {
			harness_rmtree(harness_root);
		}
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

char *
h_cert_path(const char *file)
{
	return xasprintf("%s/%s", harness_certs, file);
}

/* ---- servers ---------------------------------------------------------- */

int
h_conf_sets(const char *extra, const char *key)
{
	const char *line = extra;
	size_t n = strlen(key);

	while (line != NULL && *line != '\0') {
		line += strspn(line, " \t");
		if (strncmp(line, key, n) == 0 &&
		    line[n + strspn(line + n, " \t")] == '=') {
			return 1;
		}
		if ((line = strchr(line, '\n')) != NULL) {
			line++;
		}
	}
	return 0;
}

/*
 * The base configuration, less the keys extra sets: drinkd warns of a key
 * set twice.
 */
static void
harness_write_conf(struct h_server *s)
{
	FILE *f = fopen(s->conf, "w");
	char *cert = xasprintf("%s/server.crt", harness_certs);
	char *key = xasprintf("%s/server.key", harness_certs);
	const char *base[][2] = {
		{ "listen", "127.0.0.1:0" },
		{ "machine_listen", "127.0.0.1:0" },
		{ "database", s->db },
		{ "cert", cert },
		{ "key", key },
		{ "ports_file", s->ports_file },
	};
	size_t i;

	ck_assert_msg(f != NULL, "cannot write %s: %s", s->conf,
	    strerror(errno));
	fprintf(f, "# drinkd configuration written by the test harness\n");
	for (i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
		if (s->extra == NULL ||
		    !h_conf_sets(s->extra, base[i][0])) {
			fprintf(f, "%s = %s\n", base[i][0], base[i][1]);
		}
	}
	if (s->extra != NULL) {
		fprintf(f, "%s\n", s->extra);
	}
	ck_assert_int_eq(fclose(f), 0);
	free(cert);
	free(key);
}

/* The ports file, once complete: 0 with the ports, -1 until then. */
static int
harness_read_ports(struct h_server *s)
{
	char *text = h_slurp(s->ports_file, 4096);
	cJSON *o = cJSON_Parse(text), *l, *m;
	int rc = -1;

	free(text);
	l = cJSON_GetObjectItemCaseSensitive(o, "listen");
	m = cJSON_GetObjectItemCaseSensitive(o, "machine_listen");
	if (cJSON_IsNumber(l) && l->valueint > 0 &&
	    (cJSON_IsNumber(m) || cJSON_IsNull(m))) {
		s->port = l->valueint;
		s->machine_port = cJSON_IsNumber(m) ? m->valueint : 0;
		rc = 0;
	}
	cJSON_Delete(o);
	return rc;
}

/*
 * Where execv() finds prog: itself when it names a path, else the first
 * executable of that name on $PATH (execvp() is not async-signal-safe, so
 * the search happens before fork).  Caller frees.
 */
static char *
harness_which(const char *prog)
{
	const char *path = getenv("PATH"), *p, *colon;
	char *cand;
	size_t n;

	if (strchr(prog, '/') != NULL) {
		return xstrdup(prog);
	}
	for (p = path != NULL ? path : "/usr/bin:/bin"; ; p = colon + 1) {
		colon = strchr(p, ':');
		n = colon != NULL ? (size_t)(colon - p) : strlen(p);
		cand = xasprintf("%.*s/%s", (int)n, n > 0 ? p : ".", prog);
		if (access(cand, X_OK) == 0) {
			return cand;
		}
		free(cand);
		if (colon == NULL) {
			return xstrdup(prog);
		}
	}
}

/*
 * DRINKD_WRAPPER's words with "%s" replaced by DIR/drinkd, into argv from
 * index 0; the number of words.  Each word is allocated; caller frees.
 */
static int
harness_wrapper_argv(struct h_server *s, const char *wrapper, char **argv,
    int max)
{
	char *copy = xstrdup(wrapper), *save, *w, *pct, *word;
	int n = 0;

	for (w = strtok_r(copy, " ", &save); w != NULL && n < max;
	    w = strtok_r(NULL, " ", &save)) {
		if ((pct = strstr(w, "%s")) != NULL) {
			word = xasprintf("%.*s%s/drinkd%s", (int)(pct - w), w,
			    s->dir, pct + 2);
		} else {
			word = xstrdup(w);
		}
		if (n == 0) {
			argv[n++] = harness_which(word);
			free(word);
		} else {
			argv[n++] = word;
		}
	}
	free(copy);
	return n;
}

/* Start drinkd in the foreground and wait for its ports file. */
static void
harness_launch(struct h_server *s)
{
	const char *wrapper = getenv("DRINKD_WRAPPER");
	char *argv[HARNESS_MAX_ARGS + 8];
	int64_t limit, deadline;
	int n = 0, nwrap = 0, status, i;

	if (wrapper != NULL && wrapper[0] != '\0') {
		nwrap = harness_wrapper_argv(s, wrapper, argv,
		    HARNESS_MAX_ARGS);
	}
	s->wrapped = nwrap > 0;
	n = nwrap;
	argv[n++] = harness_drinkd;
	argv[n++] = "-f";
	argv[n++] = s->conf;
	argv[n++] = "-d";
	argv[n] = NULL;
	limit = s->wrapped ? HARNESS_WRAPPED_MS : HARNESS_START_MS;
	deadline = now_ms() + limit;

	(void)unlink(s->ports_file);
	s->port = s->machine_port = 0;
	s->pid = harness_spawn(argv, -1, s->log, s->nofile.rlim_cur > 0 ?
	    &s->nofile : NULL);
	for (i = 0; i < nwrap; i++) {
		free(argv[i]);
	}
	ck_assert_msg(s->pid > 0, "fork: %s", strerror(errno));
	while (harness_read_ports(s) != 0) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			ck_abort_msg("drinkd exited (status %d) before writing "
			    "%s; log:\n%s", status, s->ports_file,
			    harness_tail(s->log));
		}
		if (now_ms() > deadline) {
			ck_abort_msg("drinkd wrote no ports file within %lld "
			    "ms; log:\n%s", (long long)limit,
			    harness_tail(s->log));
		}
		usleep(5 * 1000);
	}
}

/* 1 when text matches the extended regular expression re. */
static int
harness_matches(const char *text, const char *re, regmatch_t *m)
{
	regex_t rx;
	int found;

	ck_assert_msg(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE) == 0,
	    "bad regex %s", re);
	found = regexec(&rx, text, 1, m, 0) == 0;
	regfree(&rx);
	return found;
}

/*
 * After a wrapped server ended (status: its exit code, or 128 + signal):
 * fail the test when the wrapper's log reports memory errors or definite
 * leaks, or the wrapper exited with its error status.  The log is then
 * renamed (drinkd.valgrind.N), so that a restart cannot overwrite what it
 * said and a later check does not count it twice.
 */
static void
harness_check_wrapper(struct h_server *s, int status)
{
	static const char *const reports[] = {
		"ERROR SUMMARY: [1-9]",
		"definitely lost: [1-9]",
		"are definitely lost in loss record",
		/* memcheck's error headings, for a server killed before
		 * it could print its summary */
		"== (Invalid (read|write|free)|Mismatched free"
		    "|Conditional jump|Use of uninitialised"
		    "|Syscall param|Source and destination overlap"
		    "|Process terminating)",
	};
	char *path, *kept, *text;
	regmatch_t m;
	size_t i;

	if (!s->wrapped) {
		return;
	}
	path = xasprintf("%s/drinkd.valgrind", s->dir);
	kept = xasprintf("%s/drinkd.valgrind.%d", s->dir, ++s->wrapped_runs);
	text = h_slurp(path, 16 * 1024 * 1024);
	(void)rename(path, kept);
	for (i = 0; i < sizeof(reports) / sizeof(reports[0]); i++) {
		if (harness_matches(text, reports[i], &m)) {
			size_t from = (size_t)m.rm_so > 1500 ?
			    (size_t)m.rm_so - 1500 : 0;

			ck_abort_msg("drinkd under DRINKD_WRAPPER: %s "
			    "reports:\n%.3000s", kept, text + from);
		}
	}
	ck_assert_msg(status != HARNESS_WRAPPER_FAIL, "drinkd under "
	    "DRINKD_WRAPPER exited %d (errors found); see %s:\n%.3000s",
	    status, kept, text);
	free(text);
	free(path);
	free(kept);
}

struct h_server *
h_server_start(const char *extra_conf)
{
	return h_server_start_nofile(extra_conf, 0, 0);
}

struct h_server *
h_server_start_nofile(const char *extra_conf, long soft, long hard)
{
	static const char *const users[][2] = {
		{ "useradd admin --admin --balance 1000", "adminpw\n" },
		{ "useradd alice --balance 100", "alicepw\n" },
		{ "useradd bob", "bobpw\n" },
	};
	struct h_server *s = xcalloc(1, sizeof(*s));
	size_t i;
	int rc;

	s->dir = xasprintf("%s/srv.XXXXXX", harness_root);
	ck_assert_msg(mkdtemp(s->dir) != NULL, "mkdtemp: %s", strerror(errno));
	s->conf = xasprintf("%s/drinkd.conf", s->dir);
	s->db = xasprintf("%s/drink.db", s->dir);
	s->log = xasprintf("%s/drinkd.log", s->dir);
	s->ports_file = xasprintf("%s/ports.json", s->dir);
	s->extra = extra_conf != NULL ? xstrdup(extra_conf) : NULL;
	s->nofile.rlim_cur = (rlim_t)soft;
	s->nofile.rlim_max = (rlim_t)hard;
	harness_write_conf(s);
	rc = h_server_cmd(s, "init", NULL);
	ck_assert_msg(rc == 0, "drinkd init exited %d; log:\n%s", rc,
	    harness_tail(s->log));
	for (i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		rc = h_server_cmd(s, users[i][0], users[i][1]);
		ck_assert_msg(rc == 0, "drinkd %s exited %d; log:\n%s",
		    users[i][0], rc, harness_tail(s->log));
	}
	harness_launch(s);
	return s;
}

struct h_server *
h_machine_server_start(const char *extra_conf)
{
	char *ca = h_cert_path("ca.crt");
	char *conf = xasprintf("machine_ca = %s\n%s", ca,
	    extra_conf != NULL ? extra_conf : "");
	struct h_server *s = h_server_start(conf);

	free(conf);
	free(ca);
	ck_assert_int_gt(s->machine_port, 0);
	return s;
}

int
h_machine_online(struct h_server *s, const char *machine)
{
	struct h_client *c = h_connect(s, NULL);
	cJSON *r = h_call(c, "{\"cmd\":\"machines\"}"), *m;
	int online = -1;

	cJSON_ArrayForEach(m, h_array(r, "machines")) {
		if (strcmp(h_str(m, "machine"), machine) == 0) {
			online = cJSON_IsTrue(cJSON_GetObjectItem(m, "online"));
		}
	}
	cJSON_Delete(r);
	h_close(c);
	return online;
}

void
h_admin(struct h_server *s, ...)
{
	struct h_client *a = h_connect_as(s, "admin", "adminpw");
	const char *line;
	va_list ap;

	va_start(ap, s);
	while ((line = va_arg(ap, const char *)) != NULL) {
		h_expect(a, NULL, line);
	}
	va_end(ap);
	h_close(a);
}

int
h_server_stop(struct h_server *s)
{
	int rc;

	if (s->pid <= 0) {
		return -1;
	}
	kill(s->pid, SIGTERM);
	rc = harness_wait(s->pid, s->wrapped ? HARNESS_WRAPPED_MS :
	    HARNESS_STOP_MS);
	s->pid = 0;
	harness_check_wrapper(s, rc);
	return rc;
}

void
h_server_kill(struct h_server *s)
{
	if (s->pid <= 0) {
		return;
	}
	kill(s->pid, SIGKILL);
	(void)harness_wait(s->pid, HARNESS_STOP_MS);
	s->pid = 0;
	harness_check_wrapper(s, 128 + SIGKILL);
}

void
h_server_restart(struct h_server *s)
{
	if (s->pid > 0) {
		(void)h_server_stop(s);
	}
	harness_launch(s);
}

/*
 * Fail the test when a sanitizer in a sanitized drinkd reported anything:
 * memory errors abort the server, but leaks and data races only show in
 * its log.  The directory is kept for a look.
 */
static void
harness_check_log(struct h_server *s)
{
	static const char *const reports[] = {
		"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
		"WARNING: ThreadSanitizer", "runtime error:",
	};
	char *text = h_slurp(s->log, 64 * 1024 * 1024), *p;
	size_t i;

	for (i = 0; i < sizeof(reports) / sizeof(reports[0]); i++) {
		if ((p = strstr(text, reports[i])) != NULL) {
			ck_abort_msg("drinkd log %s reports:\n%.2000s", s->log,
			    p);
		}
	}
	free(text);
}

void
h_server_free(struct h_server *s)
{
	if (s == NULL) {
		return;
	}
	/* A clean stop, so that leak checkers in the server get to run. */
	(void)h_server_stop(s);
	harness_check_log(s);
	harness_rmtree(s->dir);
	free(s->dir);
	free(s->conf);
	free(s->db);
	free(s->log);
	free(s->ports_file);
	free(s->extra);
	free(s);
}

int
h_server_cmd(struct h_server *s, const char *args, const char *stdin_text)
{
	char *argv[HARNESS_MAX_ARGS + 4], *copy = xstrdup(args), *save, *w;
	int n = 0, rc;

	argv[n++] = harness_drinkd;
	argv[n++] = "-f";
	argv[n++] = s->conf;
	for (w = strtok_r(copy, " ", &save); w != NULL &&
	    n < HARNESS_MAX_ARGS; w = strtok_r(NULL, " ", &save)) {
		argv[n++] = w;
	}
	argv[n] = NULL;
	rc = harness_run(argv, stdin_text, s->log, HARNESS_CMD_MS);
	free(copy);
	return rc;
}

int
h_server_log_contains(struct h_server *s, const char *needle)
{
	char *text = h_slurp(s->log, 64 * 1024 * 1024);
	int found = strstr(text, needle) != NULL;

	free(text);
	return found;
}

int
h_file_wait(const char *path, const char *needle, int64_t timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	char *text;
	int found;

	for (;;) {
		text = h_slurp(path, 64 * 1024 * 1024);
		found = text != NULL && strstr(text, needle) != NULL;
		free(text);
		if (found || now_ms() >= deadline) {
			return found;
		}
		usleep(20 * 1000);
	}
}

int
h_server_log_wait(struct h_server *s, const char *needle, int64_t timeout_ms)
{
	return h_file_wait(s->log, needle, timeout_ms);
}

int
h_server_log_count(struct h_server *s, const char *needle)
{
	char *text = h_slurp(s->log, 64 * 1024 * 1024), *p = text;
	size_t n = strlen(needle);
	int count = 0;

	while (n > 0 && (p = strstr(p, needle)) != NULL) {
		count++;
		p += n;
	}
	free(text);
	return count;
}

/* Run program (an absolute path) with args split at spaces. */
static int
harness_run_words(const char *program, const char *args, const char *out,
    int64_t timeout_ms)
{
	char *argv[HARNESS_MAX_ARGS + 2], *copy = xstrdup(args), *save, *w;
	int n = 0, rc;

	argv[n++] = (char *)(uintptr_t)program;
	for (w = strtok_r(copy, " ", &save); w != NULL &&
	    n < HARNESS_MAX_ARGS; w = strtok_r(NULL, " ", &save)) {
		argv[n++] = w;
	}
	argv[n] = NULL;
	(void)unlink(out);
	rc = harness_run(argv, NULL, out, timeout_ms);
	free(copy);
	return rc;
}

int
h_drinkd_run(const char *args, const char *out, int64_t timeout_ms)
{
	return harness_run_words(harness_drinkd, args, out, timeout_ms);
}

int
h_drink_run(const char *args, const char *out, int64_t timeout_ms)
{
	size_t n = strlen(harness_drinkd);
	char *drink = xstrdup(harness_drinkd);
	int rc;

	drink[n - 1] = '\0';	/* ".../drinkd" -> ".../drink" */
	rc = harness_run_words(drink, args, out, timeout_ms);
	free(drink);
	return rc;
}

/* ---- the server process, from /proc ------------------------------------ */

/* The number after "field:" in /proc/PID/status (kB for Vm* fields). */
static long
harness_status_field(struct h_server *s, const char *field)
{
	char path[64], line[256];
	size_t n = strlen(field);
	long v = -1;
	FILE *f;

	ck_assert_msg(s->pid > 0, "the server is not running");
	snprintf(path, sizeof(path), "/proc/%d/status", (int)s->pid);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	ck_assert_msg(v >= 0, "no %s in %s", field, path);
	return v;
}

int
h_server_threads(struct h_server *s)
{
	return (int)harness_status_field(s, "Threads");
}

long
h_server_rss_kib(struct h_server *s)
{
	return harness_status_field(s, "VmRSS");
}

long
h_server_hwm_kib(struct h_server *s)
{
	return harness_status_field(s, "VmHWM");
}

int64_t
h_server_cpu_ms(struct h_server *s)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	ck_assert_msg(s->pid > 0, "the server is not running");
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)s->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd != -1, "%s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_msg(n > 0, "%s: nothing read", path);
	buf[n] = '\0';
	/* After "(comm)": state is field 3, utime 14 and stime 15. */
	ck_assert_ptr_nonnull(p = strrchr(buf, ')'));
	ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
	    "%*u %*u %llu %llu", &ut, &st), 2);
	return (int64_t)((ut + st) * 1000 / (unsigned long long)
	    sysconf(_SC_CLK_TCK));
}

int
h_server_fds(struct h_server *s)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	ck_assert_msg(s->pid > 0, "the server is not running");
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)s->pid);
	d = opendir(path);
	ck_assert_msg(d != NULL, "%s: %s", path, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.') {
			n++;
		}
	}
	closedir(d);
	return n;
}

int
h_server_instrumented(struct h_server *s)
{
	static const char *const runtimes[] = {
		"libasan", "libtsan", "liblsan", "libubsan", "libmsan",
		"vgpreload",
	};
	char path[64], *maps;
	size_t i;
	int found = s->wrapped;

	ck_assert_msg(s->pid > 0, "the server is not running");
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)s->pid);
	maps = h_slurp(path, 16 * 1024 * 1024);
	for (i = 0; !found && i < sizeof(runtimes) / sizeof(runtimes[0]);
	    i++) {
		found = strstr(maps, runtimes[i]) != NULL;
	}
	free(maps);
	return found;
}

/* ---- files ------------------------------------------------------------- */

char *
h_tmpdir(void)
{
	static int seq;
	char *dir;
	int n;

	/* mkdtemp is thread-safe; the counter only makes names readable. */
	pthread_mutex_lock(&harness_tmp_lock);
	n = ++seq;
	pthread_mutex_unlock(&harness_tmp_lock);
	dir = xasprintf("%s/tmp%d.XXXXXX", harness_root, n);
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir,
	    strerror(errno));
	return dir;
}

/* Write text to a /proc/self file of the namespace set-up. */
static void
h_write_proc(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

void
h_own_mounts(const char *why)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];

	if (unshare(CLONE_NEWNS) != 0) {
		ck_assert_msg(unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0,
		    "%s needs a mount namespace: not root, and no user "
		    "namespace either: %s", why, strerror(errno));
		h_write_proc("/proc/self/setgroups", "deny");
		snprintf(map, sizeof(map), "0 %ld 1", (long)uid);
		h_write_proc("/proc/self/uid_map", map);
		snprintf(map, sizeof(map), "0 %ld 1", (long)gid);
		h_write_proc("/proc/self/gid_map", map);
	}
	ck_assert_msg(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0,
	    "make mounts private: %s", strerror(errno));
}

void
h_copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in, out;
	ssize_t n;

	in = open(from, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(in != -1, "open %s: %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(out != -1, "open %s: %s", to, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		ck_assert_msg(write(out, buf, (size_t)n) == n, "write %s: %s",
		    to, strerror(errno));
	}
	ck_assert_msg(n == 0, "read %s: %s", from, strerror(errno));
	ck_assert_msg(fchmod(out, mode) == 0, "chmod %s: %s", to,
	    strerror(errno));
	close(in);
	ck_assert_msg(close(out) == 0, "close %s: %s", to, strerror(errno));
}

/* ---- clients ---------------------------------------------------------- */

/* A new client context trusting the test CA, presenting cert if set. */
static SSL_CTX *
harness_ctx_new(const char *cert, char *err, size_t errlen)
{
	char *crt = NULL, *key = NULL, *ca = h_cert_path("ca.crt");
	SSL_CTX *ctx;

	if (cert != NULL) {
		crt = xasprintf("%s/%s.crt", harness_certs, cert);
		key = xasprintf("%s/%s.key", harness_certs, cert);
	}
	ctx = tls_ctx_new(TLS_CLIENT, crt, key, ca, NULL, err, errlen);
	free(ca);
	free(crt);
	free(key);
	return ctx;
}

/* The client context for cert (NULL: none), shared by all threads. */
static SSL_CTX *
harness_ctx(const char *cert, char *err, size_t errlen)
{
	const char *name = cert != NULL ? cert : "";
	SSL_CTX *ctx = NULL;
	int i;

	pthread_mutex_lock(&harness_ctx_lock);
	for (i = 0; i < harness_nctxs; i++) {
		if (strcmp(harness_ctxs[i].cert, name) == 0) {
			ctx = harness_ctxs[i].ctx;
			goto out;
		}
	}
	ctx = harness_ctx_new(cert, err, errlen);
	if (ctx != NULL && harness_nctxs < HARNESS_CTXS) {
		harness_ctxs[harness_nctxs].cert = xstrdup(name);
		harness_ctxs[harness_nctxs].ctx = ctx;
		harness_nctxs++;
	}
out:
	pthread_mutex_unlock(&harness_ctx_lock);
	return ctx;
}

static int
harness_local_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &sl) != 0) {
		return 0;
	}
	return ntohs(sin.sin_port);
}

struct h_client *
h_tls_dial_ctx(int port, SSL_CTX *ctx, char *err, size_t errlen)
{
	int64_t deadline = now_ms() + HARNESS_DIAL_MS;
	struct h_client *c;
	char portstr[16];
	int fd;

	snprintf(portstr, sizeof(portstr), "%d", port);
	if ((fd = conn_dial("127.0.0.1", portstr, deadline, err, errlen)) ==
	    -1) {
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->port = harness_local_port(fd);
	if ((c->conn = conn_new(fd, ctx, HARNESS_MAX_LINE)) == NULL) {
		snprintf(err, errlen, "cannot set up TLS");
		free(c);
		return NULL;
	}
	if (conn_connect(c->conn, "localhost", deadline) != CONN_OK) {
		snprintf(err, errlen, "TLS handshake: %s",
		    conn_error(c->conn));
		h_close(c);
		return NULL;
	}
	return c;
}

SSL_CTX *
h_tls_ctx(const char *cert)
{
	char err[512];
	SSL_CTX *ctx = harness_ctx_new(cert, err, sizeof(err));

	ck_assert_msg(ctx != NULL, "client TLS context for %s: %s",
	    cert != NULL ? cert : "(no certificate)", err);
	return ctx;
}

struct h_client *
h_tls_dial(int port, const char *cert, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if ((ctx = harness_ctx(cert, err, errlen)) == NULL) {
		return NULL;
	}
	return h_tls_dial_ctx(port, ctx, err, errlen);
}

struct h_client *
h_connect_raw(struct h_server *s, const char *cert, char *err, size_t errlen)
{
	struct h_client *c;
	int rc;

	if ((c = h_tls_dial(s->port, cert, err, errlen)) == NULL) {
		return NULL;
	}
	if ((rc = h_read_line(c, HARNESS_GREETING_MS)) != CONN_OK) {
		snprintf(err, errlen, "no greeting: %s", rc == CONN_EOF ?
		    "connection closed" : conn_error(c->conn));
		h_close(c);
		return NULL;
	}
	if ((c->greeting = cJSON_ParseWithOpts(c->line, NULL, 1)) == NULL) {
		snprintf(err, errlen, "greeting is not JSON: %.200s", c->line);
		h_close(c);
		return NULL;
	}
	return c;
}

struct h_client *
h_connect(struct h_server *s, const char *cert)
{
	struct h_client *c;
	char err[512];
	const cJSON *ev;

	c = h_connect_raw(s, cert, err, sizeof(err));
	ck_assert_msg(c != NULL, "connect to port %d as %s: %s", s->port,
	    cert != NULL ? cert : "(no certificate)", err);
	ev = cJSON_GetObjectItemCaseSensitive(c->greeting, "event");
	ck_assert_msg(cJSON_IsString(ev) && strcmp(ev->valuestring, "hello") ==
	    0, "expected a hello greeting, got %s", c->line);
	return c;
}

struct h_client *
h_connect_as(struct h_server *s, const char *user, const char *password)
{
	struct h_client *c = h_connect(s, NULL);

	h_login(c, user, password);
	return c;
}

char *
h_token_make(struct h_client *c, const char *label, int64_t *id)
{
	cJSON *r = h_callf(c, "{\"cmd\":\"token_create\",\"label\":\"%s\"}",
	    label);
	char *token;

	H_ASSERT_OK(r);
	token = xstrdup(h_str(r, "token"));
	ck_assert_uint_eq(strlen(token), 64);
	*id = h_num(r, "token_id");
	ck_assert_int_gt(h_num(r, "expires"), (int64_t)time(NULL) + 89 * 86400);
	cJSON_Delete(r);
	return token;
}

struct h_client *
h_connect_by_token(struct h_server *s, const char *token)
{
	struct h_client *c = h_connect(s, NULL);

	h_expectf(c, NULL, "{\"cmd\":\"login\",\"token\":\"%s\"}", token);
	return c;
}

char *
h_fault_shim(void)
{
	const char *build = getenv("BUILD"), *asan = getenv("ASAN_OPTIONS");
	char *dir = h_tmpdir(), *shim, *flag, *opts;
	char cwd[4096];

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	if (build == NULL || build[0] == '\0') {
		build = "build";
	}
	shim = build[0] == '/' ? xasprintf("%s/tests/fault.so", build) :
	    xasprintf("%s/%s/tests/fault.so", cwd, build);
	ck_assert_msg(access(shim, R_OK) == 0, "%s missing", shim);
	flag = xasprintf("%s/fault", dir);
	setenv("LD_PRELOAD", shim, 1);
	setenv("DRINK_FAULT_FILE", flag, 1);
	opts = xasprintf("%s%sverify_asan_link_order=0:handle_sigbus=0:"
	    "allow_user_segv_handler=1",
	    asan != NULL ? asan : "", asan != NULL && asan[0] != '\0' ?
	    ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	free(opts);
	free(shim);
	free(dir);
	return flag;
}

void
h_hold_writes(const char *flag, const struct h_client *c, int hold)
{
	char *path = xasprintf("%s.hold", flag), *held;
	FILE *f;

	if (hold) {
		/* A mark left by an earlier hold says nothing of this one. */
		held = xasprintf("%s.held", flag);
		(void)unlink(held);
		free(held);
		ck_assert_ptr_nonnull(f = fopen(path, "w"));
		fprintf(f, "%d\n", c->port);
		ck_assert_int_eq(fclose(f), 0);
	} else {
		ck_assert_int_eq(unlink(path), 0);
	}
	free(path);
}

int
h_writes_held(const char *flag)
{
	char *path = xasprintf("%s.held", flag);
	int held = access(path, F_OK) == 0;

	free(path);
	return held;
}

void
h_close(struct h_client *c)
{
	if (c == NULL) {
		return;
	}
	if (c->conn != NULL) {
		conn_shutdown(c->conn, now_ms() + 200);
		conn_free(c->conn);
	}
	cJSON_Delete(c->greeting);
	free(c->line);
	free(c);
}

int
h_tcp_dial(int port)
{
	char portstr[16], err[256];
	int fd;

	snprintf(portstr, sizeof(portstr), "%d", port);
	fd = conn_dial("127.0.0.1", portstr, now_ms() + HARNESS_DIAL_MS, err,
	    sizeof(err));
	ck_assert_msg(fd != -1, "%s", err);
	return fd;
}

int
h_tcp_closed(int fd, int64_t timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms, left;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[4096];
	ssize_t n;

	while ((left = deadline - now_ms()) > 0) {
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
			return 0;
		}
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			return 1;
		}
	}
	return 0;
}

int
h_send_raw(struct h_client *c, const void *buf, size_t len)
{
	return conn_write(c->conn, buf, len, now_ms() + H_DEADLINE_MS);
}

void
h_send_partial_record(struct h_client *c, const char *text)
{
	SSL *ssl = conn_ssl(c->conn);
	BIO *mem = BIO_new(BIO_s_mem());
	size_t done;
	char *rec;
	long n;

	ck_assert_ptr_nonnull(mem);
	/* The record goes to memory (the SSL owns it now), half to the wire. */
	SSL_set0_wbio(ssl, mem);
	ck_assert_int_eq(SSL_write_ex(ssl, text, strlen(text), &done), 1);
	n = BIO_get_mem_data(mem, &rec);
	ck_assert_int_gt(n, 5);
	ck_assert_int_eq(write(conn_fd(c->conn), rec, (size_t)n / 2), n / 2);
}

void
h_send(struct h_client *c, const char *line)
{
	size_t n = strlen(line);
	char *buf = xmalloc(n + 1);
	int rc;

	memcpy(buf, line, n);
	buf[n] = '\n';
	rc = h_send_raw(c, buf, n + 1);
	free(buf);
	ck_assert_msg(rc == CONN_OK, "send failed: %s", conn_error(c->conn));
}

int
h_read_line(struct h_client *c, int64_t timeout_ms)
{
	char *line;
	size_t len;
	int rc;

	rc = conn_read_line(c->conn, &line, &len, now_ms() + timeout_ms,
	    timeout_ms);
	if (rc == CONN_OK) {
		free(c->line);
		c->line = xmalloc(len + 1);
		memcpy(c->line, line, len);
		c->line[len] = '\0';
	}
	return rc;
}

cJSON *
h_read(struct h_client *c)
{
	cJSON *r;
	int rc;

	rc = h_read_line(c, H_DEADLINE_MS);
	ck_assert_msg(rc == CONN_OK, "no reply within %d ms: %s",
	    H_DEADLINE_MS, rc == CONN_EOF ? "connection closed" :
	    conn_error(c->conn));
	r = cJSON_ParseWithOpts(c->line, NULL, 1);
	ck_assert_msg(r != NULL && cJSON_IsObject(r),
	    "reply is not one JSON object: %.300s", c->line);
	return r;
}

cJSON *
h_ctl_read(struct h_client *c)
{
	char line[128];
	cJSON *m;

	for (;;) {
		m = h_read(c);
		if (!cJSON_IsString(cJSON_GetObjectItem(m, "cmd")) ||
		    strcmp(h_str(m, "cmd"), "ping") != 0) {
			return m;
		}
		snprintf(line, sizeof(line), "{\"id\":\"%.60s\",\"ok\":true}",
		    h_str(m, "id"));
		h_send(c, line);
		cJSON_Delete(m);
	}
}

cJSON *
h_call(struct h_client *c, const char *json_line)
{
	h_send(c, json_line);
	return h_read(c);
}

cJSON *
h_callf(struct h_client *c, const char *fmt, ...)
{
	va_list ap;
	char *line;
	cJSON *r;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&line, fmt, ap), 0);
	va_end(ap);
	r = h_call(c, line);
	free(line);
	return r;
}

void
h_expect(struct h_client *c, const char *code, const char *line)
{
	cJSON *r = h_call(c, line);

	if (code == NULL) {
		ck_assert_msg(h_ok(r), "%.300s: expected ok, got %.300s", line,
		    c->line);
	} else {
		ck_assert_msg(h_error(r) != NULL &&
		    strcmp(h_error(r), code) == 0,
		    "%.300s: expected %s, got %.300s", line, code, c->line);
	}
	cJSON_Delete(r);
}

void
h_expect_refused(struct h_client *c, const char *code, const char *message,
    const char *line)
{
	cJSON *r = h_call(c, line);

	ck_assert_msg(h_error(r) != NULL && strcmp(h_error(r), code) == 0,
	    "%.300s: expected %s, got %.300s", line, code, c->line);
	ck_assert_str_eq(h_str(r, "message"), message);
	cJSON_Delete(r);
}

void
h_expectf(struct h_client *c, const char *code, const char *fmt, ...)
{
	va_list ap;
	char *line;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&line, fmt, ap), 0);
	va_end(ap);
	h_expect(c, code, line);
	free(line);
}

void
h_login(struct h_client *c, const char *user, const char *password)
{
	cJSON *r;

	r = h_callf(c, "{\"cmd\":\"login\",\"user\":\"%s\","
	    "\"password\":\"%s\"}", user, password);
	ck_assert_msg(h_ok(r), "login as %s: %s", user, h_text(r));
	cJSON_Delete(r);
}

int64_t
h_wait_closed(struct h_client *c, int64_t timeout_ms)
{
	int64_t start = now_ms();
	int rc;

	rc = h_read_line(c, timeout_ms);
	if (rc == CONN_EOF || rc == CONN_ERROR) {
		return now_ms() - start;
	}
	return -1;
}

int
h_closed(struct h_client *c)
{
	return h_wait_closed(c, H_CLOSE_MS) >= 0;
}

/* ---- replies ---------------------------------------------------------- */

int
h_ok(const cJSON *reply)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok"));
}

const char *
h_error(const cJSON *reply)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(reply, "message");

	/* A failure carries ok:false, a code and a human message. */
	if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(reply, "ok")) ||
	    !cJSON_IsString(e) || !cJSON_IsString(m) ||
	    m->valuestring[0] == '\0') {
		return NULL;
	}
	return e->valuestring;
}

int64_t
h_num(const cJSON *reply, const char *field)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(reply, field);

	ck_assert_msg(cJSON_IsNumber(v) &&
	    v->valuedouble == (double)(int64_t)v->valuedouble,
	    "field \"%s\" is not an integer in %s", field, h_text(reply));
	return (int64_t)v->valuedouble;
}

const char *
h_str(const cJSON *reply, const char *field)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(reply, field);

	ck_assert_msg(cJSON_IsString(v), "field \"%s\" is not a string in %s",
	    field, h_text(reply));
	return v->valuestring;
}

cJSON *
h_array(const cJSON *reply, const char *field)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(reply, field);

	ck_assert_msg(cJSON_IsArray(v), "field \"%s\" is not an array in %s",
	    field, h_text(reply));
	return v;
}

const char *
h_text(const cJSON *reply)
{
	char *s;

	if (reply == NULL) {
		return "(no reply)";
	}
	/* Only used on the way to a failed assertion: never freed. */
	s = cJSON_PrintUnformatted(reply);
	return s != NULL ? s : "(unprintable)";
}

/* ---- the database ------------------------------------------------------ */

/* First column of the first row of sql; H_SQL_NULL when there is none. */
static int64_t
harness_sql_int(struct h_server *s, const char *sql, int *found)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = H_SQL_NULL;
	int rc;

	rc = sqlite3_open_v2(s->db, &h, SQLITE_OPEN_READONLY, NULL);
	ck_assert_msg(rc == SQLITE_OK, "open %s: %s", s->db,
	    h != NULL ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
	sqlite3_busy_timeout(h, 10000);
	rc = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(h));
	rc = sqlite3_step(st);
	ck_assert_msg(rc == SQLITE_ROW || rc == SQLITE_DONE, "%s: %s", sql,
	    sqlite3_errmsg(h));
	*found = rc == SQLITE_ROW;
	if (*found && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		v = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

int64_t
h_sql_int(struct h_server *s, const char *fmt, ...)
{
	va_list ap;
	char *sql;
	int64_t v;
	int found;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&sql, fmt, ap), 0);
	va_end(ap);
	v = harness_sql_int(s, sql, &found);
	ck_assert_msg(found, "%s: no row", sql);
	free(sql);
	return v;
}

int64_t
h_sql_wait(struct h_server *s, int64_t want, const char *fmt, ...)
{
	int64_t deadline = now_ms() + H_CLOSE_MS, v;
	va_list ap;
	char *sql;
	int found;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&sql, fmt, ap), 0);
	va_end(ap);
	while ((v = harness_sql_int(s, sql, &found)) != want &&
	    now_ms() < deadline) {
		usleep(20 * 1000);
	}
	free(sql);
	return v;
}

void
h_sql_exec(struct h_server *s, const char *sql)
{
	sqlite3 *h = NULL;
	char *err = NULL;
	int rc;

	rc = sqlite3_open_v2(s->db, &h, SQLITE_OPEN_READWRITE, NULL);
	ck_assert_msg(rc == SQLITE_OK, "open %s: %s", s->db,
	    h != NULL ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
	sqlite3_busy_timeout(h, 10000);
	rc = sqlite3_exec(h, sql, NULL, NULL, &err);
	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, err != NULL ? err :
	    sqlite3_errstr(rc));
	sqlite3_close(h);
}

int64_t
h_balance(struct h_server *s, const char *user)
{
	return h_sql_int(s, "SELECT balance FROM accounts WHERE name = '%s'",
	    user);
}

int
h_check_ledger(struct h_server *s)
{
	return h_server_cmd(s, "check-ledger", NULL);
}

void
h_ledger_settled(struct h_server *s)
{
	ck_assert_int_eq(h_sql_int(s, "SELECT count(*) FROM tx WHERE state"
	    " = 'pending'"), 0);
	ck_assert_int_eq(h_sql_int(s, "SELECT balance FROM accounts"
	    " WHERE name = '@holds'"), 0);
	ck_assert_int_eq(h_check_ledger(s), 0);
}

char **
h_machine_argv(struct h_server *s, const char *cert,
    const char *const *words)
{
	size_t dirlen = strlen(harness_drinkd) - strlen("drinkd"), n = 0, i;
	char **argv = xcalloc(HARNESS_MAX_ARGS + 12, sizeof(*argv));
	char *file;

	argv[n++] = xasprintf("%.*sdrink-machine", (int)dirlen,
	    harness_drinkd);
	argv[n++] = xstrdup("-H");
	argv[n++] = xstrdup("localhost");
	argv[n++] = xstrdup("-p");
	argv[n++] = xasprintf("%d", s->machine_port);
	argv[n++] = xstrdup("--ca");
	argv[n++] = h_cert_path("ca.crt");
	argv[n++] = xstrdup("--cert");
	file = xasprintf("%s.crt", cert);
	argv[n++] = h_cert_path(file);
	free(file);
	argv[n++] = xstrdup("--key");
	file = xasprintf("%s.key", cert);
	argv[n++] = h_cert_path(file);
	free(file);
	for (i = 0; words[i] != NULL; i++) {
		ck_assert_msg(i < HARNESS_MAX_ARGS, "more than %d words",
		    HARNESS_MAX_ARGS);
		argv[n++] = xstrdup(words[i]);
	}
	return argv;
}

void
h_argv_free(char **argv)
{
	size_t i;

	if (argv == NULL) {
		return;
	}
	for (i = 0; argv[i] != NULL; i++) {
		free(argv[i]);
	}
	free(argv);
}

pid_t
h_machine_start(struct h_server *s, const char *name, const char *args)
{
	const char *words[HARNESS_MAX_ARGS + 1];
	char *copy = xstrdup(args), *save, *w, *cert, **argv;
	int n = 0;
	pid_t pid;

	for (w = strtok_r(copy, " ", &save); w != NULL &&
	    n < HARNESS_MAX_ARGS; w = strtok_r(NULL, " ", &save)) {
		words[n++] = w;
	}
	words[n] = NULL;
	cert = xasprintf("machine-%s", name);
	argv = h_machine_argv(s, cert, words);
	pid = harness_spawn(argv, -1, s->log, NULL);
	ck_assert_msg(pid > 0, "cannot start %s", argv[0]);
	h_argv_free(argv);
	free(copy);
	free(cert);
	return pid;
}

int
h_machine_stop(pid_t pid)
{
	kill(pid, SIGTERM);
	return harness_wait(pid, 10000);
}
