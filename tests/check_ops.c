/*
 * Operating drinkd: the strict configuration check, errors where the
 * operator looks, commands that must not create a database, key
 * permissions, backup and restore, the offline recovery commands, history
 * retention, certificates for real host names, the systemd units and the
 * installed layout.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "drinkd.h"
#include "harness.h"

#define OPS_TIMEOUT 120
#define OPS_CMD_MS 60000
#define OPS_DAY (24 * 3600)

static void
ops_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "cannot write %s", path);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* A working configuration in dir with a private copy of the server key;
 * more is appended, and replaces the base lines of keys it sets.  Caller
 * frees. */
static char *
ops_conf(const char *dir, const char *more)
{
	char *conf = xasprintf("%s/drinkd.conf", dir);
	char *key = xasprintf("%s/server.key", dir), *src, *crt, *db, *ports;
	char *text, *line;
	const char *base[][2] = {
		{ "listen", "127.0.0.1:0" },
		{ "machine_listen", "127.0.0.1:0" },
		{ "database", NULL },
		{ "cert", NULL },
		{ "key", key },
		{ "ports_file", NULL },
	};
	size_t i;

	if (access(key, F_OK) != 0) {
		src = h_cert_path("server.key");
		h_copy_file(src, key, 0600);
		free(src);
	}
	base[2][1] = db = xasprintf("%s/drink.db", dir);
	base[3][1] = crt = h_cert_path("server.crt");
	base[5][1] = ports = xasprintf("%s/ports.json", dir);
	text = xstrdup("");
	for (i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
		/* A key more sets is left out (drinkd warns of a key set
		 * twice), as a comment, so that lines keep their numbers. */
		line = xasprintf("%s%s%s = %s\n", text, more != NULL &&
		    h_conf_sets(more, base[i][0]) ? "# " : "", base[i][0],
		    base[i][1]);
		free(text);
		text = line;
	}
	line = xasprintf("%s%s\n", text, more != NULL ? more : "");
	free(text);
	ops_write(conf, line);
	free(line);
	free(crt);
	free(db);
	free(ports);
	free(key);
	return conf;
}

/* Run drinkd ARGS; its exit code, output in *text (caller frees). */
static int
ops_run(const char *dir, char **text, const char *fmt, ...)
    PRINTFLIKE(3, 4);
static int
ops_run(const char *dir, char **text, const char *fmt, ...)
{
	char *args, *out = xasprintf("%s/out.log", dir);
	va_list ap;
	int rc;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&args, fmt, ap), 0);
	va_end(ap);
	rc = h_drinkd_run(args, out, OPS_CMD_MS);
	*text = h_slurp(out, H_SLURP_MAX);
	free(args);
	free(out);
	return rc;
}

/* Run a shell command; its exit status, output in *text. */
static int
ops_sh(char **text, const char *fmt, ...) PRINTFLIKE(2, 3);
static int
ops_sh(char **text, const char *fmt, ...)
{
	char *cmd, *dir = h_tmpdir(), *out = xasprintf("%s/sh.log", dir);
	char *full;
	va_list ap;
	int st;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&cmd, fmt, ap), 0);
	va_end(ap);
	full = xasprintf("(%s) >%s 2>&1", cmd, out);
	st = system(full);
	*text = h_slurp(out, H_SLURP_MAX);
	/* The end says what failed; Check refuses very long messages. */
	if (strlen(*text) > 3000) {
		memmove(*text, *text + strlen(*text) - 3000, 3001);
	}
	free(full);
	free(cmd);
	free(out);
	free(dir);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/*
 * For drinkd run as nobody: a directory outside the tests' private one
 * (which nobody cannot enter) with a configuration (*conf) naming its own
 * server certificate, and a copy of drinkd (*abs: the tree under test may
 * be in a home nobody cannot enter).  Caller frees all three.
 */
static char *
ops_nobody_dir(const char *build, char **conf, char **abs)
{
	char *dir = xstrdup("/tmp/drink-ops-XXXXXX"), *text, *crt;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	text = h_cert_path("server.crt");
	crt = xasprintf("%s/server.crt", dir);
	h_copy_file(text, crt, 0644);
	free(text);
	text = xasprintf("cert = %s", crt);
	free(crt);
	*conf = ops_conf(dir, text);
	free(text);
	ck_assert_int_eq(chmod(*conf, 0644), 0);
	text = xasprintf("%s/drinkd", build);
	*abs = xasprintf("%s/drinkd", dir);
	h_copy_file(text, *abs, 0755);
	free(text);
	return dir;
}

/* ---- drinkd -n ----------------------------------------------------------- */

START_TEST(ops_check_refuses_each_bad_value_naming_file_line_and_key)
{
	static const struct {
		const char *line;	/* line 7 of the file */
		const char *expect;	/* after "drinkd.conf:7: " */
	} cases[] = {
		{ "listen = localhost:4242",
		    "listen: \"localhost\" is not a numeric IPv4 address" },
		{ "listen = 4242", "listen: \"4242\" is not IPv4:PORT" },
		{ "listen = 127.0.0.1:99999",
		    "listen: port 99999 is out of range (0 to 65535)" },
		{ "machine_listen = [::1]:70000",
		    "machine_listen: port 70000 is out of range" },
		{ "cert = @DIR@/garbage.pem",
		    "cert: not a PEM certificate chain" },
		{ "key = @DIR@/other.key",
		    "key: does not match the certificate" },
		{ "key = @DIR@/garbage.pem", "key: not a PEM private key" },
		{ "member_ca = @DIR@/garbage.pem",
		    "member_ca: no PEM CA certificate in it" },
		{ "machine_ca = @DIR@/missing.crt",
		    "machine_ca: cannot read @DIR@/missing.crt: No such file" },
		{ "crl = @DIR@/garbage.pem", "crl: no PEM CRL in it" },
		{ "database = @DIR@/no/such/dir/drink.db",
		    "database: directory @DIR@/no/such/dir: No such file" },
		{ "database = @DIR@/garbage.pem",
		    "database: @DIR@/garbage.pem is not a usable SQLite" },
		{ "ports_file = @DIR@/nodir/ports.json",
		    "ports_file: directory @DIR@/nodir: No such file" },
		{ "ports_file = @DIR@/garbage.pem/ports.json",
		    "ports_file: @DIR@/garbage.pem is not a directory" },
		{ "vend_timeout = 0",
		    "vend_timeout: expected an integer from 1 to 3600" },
		{ "keep_sessions_days = 0",
		    "keep_sessions_days: expected an integer from 1 to" },
		{ "log_level = loud", "log_level: expected error, warning" },
	};
	char *dir = h_tmpdir(), *conf, *text, *garbage, *other, *src;
	char *line, *expect, *p;
	size_t i;
	int rc;

	garbage = xasprintf("%s/garbage.pem", dir);
	ops_write(garbage, "-----BEGIN NONSENSE-----\nxyz\n");
	chmod(garbage, 0600);
	other = xasprintf("%s/other.key", dir);
	src = h_cert_path("member-alice.key");
	h_copy_file(src, other, 0600);
	conf = ops_conf(dir, NULL);
	rc = ops_run(dir, &text, "-f %s -n", conf);
	ck_assert_msg(rc == 0 && strstr(text, "configuration OK") != NULL,
	    "the good configuration: %d %s", rc, text);
	free(text);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* @DIR@ stands for dir, in the line and the expectation. */
		line = xstrdup(cases[i].line);
		if ((p = strstr(line, "@DIR@")) != NULL) {
			*p = '\0';
			p = xasprintf("%s%s%s", line, dir, p + 5);
			free(line);
			line = p;
		}
		expect = xstrdup(cases[i].expect);
		while ((p = strstr(expect, "@DIR@")) != NULL) {
			*p = '\0';
			p = xasprintf("%s%s%s", expect, dir, p + 5);
			free(expect);
			expect = p;
		}
		free(conf);
		conf = ops_conf(dir, line);
		p = xasprintf("drinkd: %s:7: %s", conf, expect);
		rc = ops_run(dir, &text, "-f %s -n", conf);
		ck_assert_msg(rc == EX_CONFIG, "%s: -n exited %d: %s", line,
		    rc, text);
		ck_assert_msg(strstr(text, p) != NULL, "%s: want \"%s\" in:\n%s",
		    line, p, text);
		ck_assert_msg(strstr(text, "configuration OK") == NULL, "%s",
		    text);
		free(text);
		free(p);
		free(line);
		free(expect);
	}
	/* Nothing was created by the checks. */
	p = xasprintf("%s/drink.db", dir);
	ck_assert_int_ne(access(p, F_OK), 0);
	free(p);
	free(conf);
	free(src);
	free(other);
	free(garbage);
	free(dir);
}
END_TEST

/*
 * Several mistakes in one file: -n names every one in one run (a typo'd
 * key, bad values, a missing file), each on its line, and so does the
 * server, which does not start.
 */
START_TEST(ops_check_names_every_mistake_at_once)
{
	char *dir = h_tmpdir(), *conf, *text, *want;
	int rc;
	size_t i;
	const char *const expect[] = {
		":7: unknown configuration key \"vend_timout\"",
		":8: listen: port 99999 is out of range",
		":9: max_clients: expected an integer from 1 to",
		":10: machine_ca: cannot read /nonexistent/ca.crt: No such file",
	};

	conf = ops_conf(dir, "vend_timout = 3\nlisten = 127.0.0.1:99999\n"
	    "max_clients = 0\nmachine_ca = /nonexistent/ca.crt");
	rc = ops_run(dir, &text, "-f %s -n", conf);
	ck_assert_msg(rc == EX_CONFIG &&
	    strstr(text, "configuration OK") == NULL, "%d %s", rc, text);
	for (i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		want = xasprintf("drinkd: %s%s", conf, expect[i]);
		ck_assert_msg(strstr(text, want) != NULL, "no \"%s\" in:\n%s",
		    want, text);
		free(want);
	}
	free(text);
	/* The server: the same load refusals, and no start. */
	rc = ops_run(dir, &text, "-f %s -d", conf);
	ck_assert_msg(rc == EX_CONFIG && strstr(text, "ready") == NULL,
	    "%d %s", rc, text);
	for (i = 0; i < 3; i++) {
		want = xasprintf("drinkd: %s%s", conf, expect[i]);
		ck_assert_msg(strstr(text, want) != NULL, "no \"%s\" in:\n%s",
		    want, text);
		free(want);
	}
	free(text);
	/* A file that cannot be opened is the one mistake: no refusals of
	 * the defaults that stand in for it. */
	rc = ops_run(dir, &text, "-f %s/missing.conf -n", dir);
	want = xasprintf("drinkd: cannot open %s/missing.conf: No such file "
	    "or directory\n", dir);
	ck_assert_msg(rc == EX_CONFIG && strcmp(text, want) == 0, "%d %s", rc,
	    text);
	free(want);
	free(text);
	free(conf);
	free(dir);
}
END_TEST

/*
 * A key set twice works (the last value) but is said: by -n on stdout,
 * and in the log of a server started with it.
 */
START_TEST(ops_key_set_twice_is_warned_by_n_and_in_the_log)
{
	char *dir = h_tmpdir(), *conf, *text, *want;
	struct h_server *s;
	int rc;

	conf = ops_conf(dir, "vend_timeout = 5\nvend_timeout = 7");
	rc = ops_run(dir, &text, "-f %s -n", conf);
	want = xasprintf("warning: %s:8: vend_timeout is set again (line 7 "
	    "set it before); the last value is used\n", conf);
	ck_assert_msg(rc == 0 && strstr(text, want) != NULL &&
	    strstr(text, "configuration OK") != NULL, "%d %s", rc, text);
	free(want);
	free(text);
	/* The harness's own base lines are not repeats. */
	s = h_server_start("vend_timeout = 5\nvend_timeout = 7\n"
	    "listen = 127.0.0.1:0");
	ck_assert_msg(h_server_log_wait(s, "vend_timeout is set again",
	    H_DEADLINE_MS), "no warning in the log");
	/* (once per drinkd run on it: the harness's init, useradd...) */
	ck_assert_int_eq(h_server_log_count(s, "is set again"),
	    h_server_log_count(s, "vend_timeout is set again"));
	h_server_free(s);
	free(conf);
	free(dir);
}
END_TEST

START_TEST(ops_check_lists_every_refusal_and_unset_required_keys)
{
	char *dir = h_tmpdir(), *conf, *text;
	int rc;

	conf = ops_conf(dir, "cert =\nkey =\ndatabase = /nonexistent/x.db");
	rc = ops_run(dir, &text, "-f %s -n", conf);
	ck_assert_int_eq(rc, EX_CONFIG);
	ck_assert_msg(strstr(text, ":7: cert: not set (required)") != NULL &&
	    strstr(text, ":8: key: not set (required)") != NULL &&
	    strstr(text, ":9: database: directory /nonexistent: ") != NULL,
	    "%s", text);
	free(text);
	/* A bad --KEY=VALUE is a usage error naming the key. */
	rc = ops_run(dir, &text, "-f %s -n --listen=127.0.0.1:65536", conf);
	ck_assert_msg(rc == 2 && strstr(text, "listen: port 65536 is out of "
	    "range") != NULL, "%d %s", rc, text);
	free(text);
	/* Still 2 when the file has mistakes of its own: those alone are
	 * a configuration error, 78. */
	free(conf);
	conf = ops_conf(dir, "bogus = 1");
	rc = ops_run(dir, &text, "-f %s -n --listen=127.0.0.1:65536", conf);
	ck_assert_msg(rc == 2 && strstr(text, "bogus") != NULL &&
	    strstr(text, "listen: port 65536 is out of range") != NULL,
	    "%d %s", rc, text);
	free(text);
	rc = ops_run(dir, &text, "-f %s -n", conf);
	ck_assert_msg(rc == EX_CONFIG && strstr(text, "bogus") != NULL,
	    "%d %s", rc, text);
	free(text);
	/* -n with words after it is a usage error, not "configuration OK". */
	rc = ops_run(dir, &text, "-f %s -n useradd zed", conf);
	ck_assert_msg(rc == 2 && strstr(text, "-n checks the configuration "
	    "and takes no subcommand (\"useradd\")") != NULL &&
	    strstr(text, "configuration OK") == NULL, "%d %s", rc, text);
	free(text);
	/* -f with nothing after it says what it needs. */
	rc = ops_run(dir, &text, "-f");
	ck_assert_msg(rc == 2 && strstr(text, "drinkd: -f needs a FILE") !=
	    NULL, "%d %s", rc, text);
	free(text);
	free(conf);
	free(dir);
}
END_TEST

/* ---- errors where the operator looks ------------------------------------- */

START_TEST(ops_start_failures_reach_stderr_without_d)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	char *dir = h_tmpdir(), *conf, *text, *more;
	struct h_server *srv;
	int fd, rc;

	/*
	 * Not started with -d (syslog), and the certificate is missing: a
	 * configuration error, 78, on which drinkd.service does not restart.
	 */
	conf = ops_conf(dir, "cert = /nonexistent/server.crt");
	rc = ops_run(dir, &text, "-f %s", conf);
	ck_assert_msg(rc == EX_CONFIG && strstr(text, "drinkd: ") != NULL &&
	    strstr(text, ":7: cert: cannot read /nonexistent/server.crt") !=
	    NULL, "%d: %s", rc, text);
	free(text);
	free(conf);
	/* So is a port that cannot be parsed. */
	conf = ops_conf(dir, "machine_listen = 127.0.0.1:http");
	rc = ops_run(dir, &text, "-f %s", conf);
	ck_assert_msg(rc == EX_CONFIG && strstr(text, ":7: machine_listen: ")
	    != NULL && strstr(text, "ready") == NULL, "%d: %s", rc, text);
	free(text);
	free(conf);
	/* The port is taken: 1, a failure that may pass (systemd retries). */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	more = xasprintf("listen = 127.0.0.1:%d", ntohs(sa.sin_port));
	conf = ops_conf(dir, more);
	rc = ops_run(dir, &text, "-f %s", conf);
	ck_assert_msg(rc == 1 && strstr(text, "cannot listen on 127.0.0.1:") !=
	    NULL && strstr(text, "Address already in use") != NULL, "%d: %s",
	    rc, text);
	/* It names the key to change, where it was set, and what to do. */
	ck_assert_msg(strstr(text, "(listen, ") != NULL &&
	    strstr(text, "drinkd.conf:7): ") != NULL &&
	    strstr(text, "another program (or another drinkd) holds the port")
	    != NULL, "%s", text);
	free(text);
	close(fd);
	free(more);
	free(conf);
	/* The database in use by another drinkd: 1 too. */
	srv = h_server_start(NULL);
	conf = ops_conf(dir, NULL);
	rc = ops_run(dir, &text, "-f %s --database=%s", conf, srv->db);
	ck_assert_msg(rc == 1 && strstr(text, "is in use by drinkd") != NULL,
	    "%d: %s", rc, text);
	free(text);
	h_server_free(srv);
	free(conf);
	free(dir);
}
END_TEST

/*
 * A descriptor limit too low for any client: the server does not start,
 * exits as for a configuration error, and says how far to raise it and
 * where.
 */
START_TEST(ops_server_says_how_far_to_raise_a_low_fd_limit)
{
	const char *build = getenv("BUILD") != NULL ? getenv("BUILD") :
	    "build";
	char *dir = h_tmpdir(), *conf = ops_conf(dir, NULL), *text, *want;
	long need = 0;
	const char *p;
	int rc;

	rc = ops_run(dir, &text, "-f %s init", conf);
	ck_assert_msg(rc == 0, "%s", text);
	free(text);
	rc = ops_sh(&text, "ulimit -n 64 && %s/drinkd -f %s -d", build, conf);
	/* A configuration error (78): drinkd.service does not restart. */
	ck_assert_msg(rc == 78 && (p = strstr(text, "the descriptor limit "
	    "(ulimit -n 64) leaves no room for clients: drinkd holds "))
	    != NULL && (p = strstr(p, "raise it to at least ")) != NULL &&
	    strstr(p, "(LimitNOFILE= in the unit, or ulimit -n)") != NULL,
	    "%d %s", rc, text);
	need = strtol(p + strlen("raise it to at least "), NULL, 10);
	free(text);
	ck_assert_msg(need > 64 && need < 1024, "%ld", need);
	/* The number given is enough: the server starts and serves. */
	rc = ops_sh(&text, "(ulimit -n %ld && exec %s/drinkd -f %s -d) "
	    ">%s/d.log 2>&1 & for i in $(seq 300); do grep -q ready "
	    "%s/d.log && break; sleep 0.1; done; kill $!; wait $!; "
	    "cat %s/d.log", need, build, conf, dir, dir, dir);
	ck_assert_msg(strstr(text, "leaves no room") == NULL &&
	    strstr(text, "ready") != NULL, "%d %s", rc, text);
	/*
	 * The start says what took effect, to check a LimitNOFILE= by: the
	 * limit, and max_clients as lowered to fit it.
	 */
	ck_assert_msg((p = strstr(text, "serving at most ")) != NULL, "%s",
	    text);
	want = xasprintf("info: limits: up to %ld connections on each port "
	    "(max_clients; the member, machine and web ports count apart), "
	    "descriptor limit %ld (ulimit -n)", strtol(p + strlen("serving "
	    "at most "), NULL, 10), need);
	ck_assert_msg(strstr(text, want) != NULL, "%s", text);
	free(want);
	free(text);
	free(conf);
	free(dir);
}
END_TEST

/*
 * A key drinkd's user may not read (installed by root with mode 600):
 * drinkd -n names the user it runs as and how to let it read the file.
 */
START_TEST(ops_unreadable_key_says_how_to_let_drinkd_read_it)
{
	const char *build = getenv("BUILD") != NULL ? getenv("BUILD") :
	    "build";
	char *dir, *conf, *text, *want, *abs;	/* abs: drinkd's copy */
	int rc;

	if (geteuid() != 0) {
		return;	/* it takes root to run drinkd as another user */
	}
	dir = ops_nobody_dir(build, &conf, &abs);
	rc = ops_sh(&text, "setpriv --reuid=65534 --regid=65534 "
	    "--clear-groups %s -f %s -n", abs, conf);
	want = xasprintf("key: cannot read %s/server.key: Permission denied; "
	    "drinkd runs as nobody: let it read the file, e.g. chgrp nogroup "
	    "%s/server.key and chmod g+r %s/server.key (a private key: mode "
	    "640)", dir, dir, dir);
	ck_assert_msg(rc == EX_CONFIG && strstr(text, want) != NULL, "%d %s",
	    rc, text);
	free(want);
	free(text);
	/*
	 * Set up for another group already (root:drinkd, 640) and checked
	 * by someone else: the chgrp above would take the key from the
	 * server, so -n says whom to run as instead.
	 */
	want = xasprintf("%s/server.key", dir);
	ck_assert_int_eq(chown(want, 0, 1), 0);
	ck_assert_int_eq(chmod(want, 0640), 0);
	free(want);
	rc = ops_sh(&text, "setpriv --reuid=65534 --regid=65534 "
	    "--clear-groups %s -f %s -n", abs, conf);
	/* Group 1 is Debian's daemon, which has a user of that name too. */
	ck_assert_ptr_nonnull(getgrgid(1));
	want = xasprintf("key: cannot read %s/server.key: Permission denied; "
	    "it is for group %s (mode 640), and drinkd runs as nobody, "
	    "who is not in it: run drinkd as the server's user", dir,
	    getgrgid(1)->gr_name);
	ck_assert_msg(rc == EX_CONFIG && strstr(text, want) != NULL &&
	    strstr(text, "chgrp") == NULL, "%d %s", rc, text);
	free(want);
	free(text);
	want = xasprintf("rm -rf %s", dir);
	ck_assert_int_eq(system(want), 0);
	free(want);
	free(abs);
	free(conf);
	free(dir);
}
END_TEST

/*
 * A database drinkd's user cannot write (left root's by an init run as
 * root, or made read-only) is refused by -n and at start as configuration
 * (exit 78, which drinkd.service does not retry), naming whom drinkd runs
 * as and how to give it the file; -n used to call it OK, and the start
 * then exited 1, retried every 5 s.
 */
START_TEST(ops_database_drinkd_cannot_write_says_how_to_give_it)
{
	const char *build = getenv("BUILD") != NULL ? getenv("BUILD") :
	    "build";
	static const struct {
		uid_t owner;
		mode_t mode;
		const char *who;
	} cases[] = {
		{ 65534, 0400, "owner nobody, mode 400" },
		{ 0, 0600, "owner root, mode 600" },
	};
	char *dir, *conf, *text, *want, *abs, *db, *p;
	size_t i;
	int rc;

	if (geteuid() != 0) {
		return;	/* it takes root to run drinkd as another user */
	}
	dir = ops_nobody_dir(build, &conf, &abs);
	ck_assert_int_eq(chown(dir, 65534, 65534), 0);
	p = xasprintf("%s/server.key", dir);
	ck_assert_int_eq(chown(p, 65534, 65534), 0);
	free(p);
	db = xasprintf("%s/drink.db", dir);
	/* A directory left root's (install -d without -o): named, and who. */
	ck_assert_int_eq(chown(dir, 0, 0), 0);
	rc = ops_sh(&text, "setpriv --reuid=65534 --regid=65534 "
	    "--clear-groups %s -f %s -n", abs, conf);
	want = xasprintf("%s:3: database: directory %s is not writable: "
	    "Permission denied; drinkd runs as nobody, who may not create "
	    "files in it", conf, dir);
	ck_assert_msg(rc == EX_CONFIG && strstr(text, want) != NULL,
	    "-n: %d %s", rc, text);
	free(want);
	free(text);
	ck_assert_int_eq(chown(dir, 65534, 65534), 0);
	rc = ops_sh(&text, "setpriv --reuid=65534 --regid=65534 "
	    "--clear-groups %s -f %s init", abs, conf);
	ck_assert_msg(rc == 0 && access(db, F_OK) == 0, "init: %d %s", rc,
	    text);
	free(text);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(chown(db, cases[i].owner, cases[i].owner), 0);
		ck_assert_int_eq(chmod(db, cases[i].mode), 0);
		want = xasprintf("%s:3: database: cannot write %s: Permission "
		    "denied (%s); drinkd runs as nobody: give it the file, "
		    "e.g. chown nobody %s and chmod 600 %s", conf, db,
		    cases[i].who, db, db);
		rc = ops_sh(&text, "setpriv --reuid=65534 --regid=65534 "
		    "--clear-groups %s -f %s -n", abs, conf);
		ck_assert_msg(rc == EX_CONFIG && strstr(text, want) != NULL,
		    "-n: %d %s", rc, text);
		free(text);
		rc = ops_sh(&text, "setpriv --reuid=65534 --regid=65534 "
		    "--clear-groups %s -f %s -d", abs, conf);
		ck_assert_msg(rc == EX_CONFIG && strstr(text, want) != NULL,
		    "start: %d %s", rc, text);
		free(text);
		free(want);
	}
	/* Given back, it serves again. */
	ck_assert_int_eq(chown(db, 65534, 65534), 0);
	ck_assert_int_eq(chmod(db, 0600), 0);
	rc = ops_sh(&text, "setpriv --reuid=65534 --regid=65534 "
	    "--clear-groups %s -f %s -n", abs, conf);
	ck_assert_msg(rc == 0 && strstr(text, "configuration OK") != NULL,
	    "%d %s", rc, text);
	free(text);
	want = xasprintf("rm -rf %s", dir);
	ck_assert_int_eq(system(want), 0);
	free(want);
	free(db);
	free(abs);
	free(conf);
	free(dir);
}
END_TEST

START_TEST(ops_commands_never_create_a_missing_database)
{
	static const char *const cmds[] = {
		"check-ledger", "useradd carol", "usermod admin --admin",
		"passwd admin", "backup @DIR@/copy.db", "restore @DIR@/copy.db",
	};
	char *dir = h_tmpdir(), *conf, *text, *db, *cmd, *p;
	size_t i;
	int rc;

	db = xasprintf("%s/mistyped.db", dir);
	p = xasprintf("database = %s", db);
	conf = ops_conf(dir, p);
	free(p);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		cmd = xstrdup(cmds[i]);
		if ((p = strstr(cmd, "@DIR@")) != NULL) {
			*p = '\0';
			p = xasprintf("%s%s%s", cmd, dir, p + 5);
			free(cmd);
			cmd = p;
		}
		rc = ops_run(dir, &text, "-f %s %s", conf, cmd);
		ck_assert_msg(rc == 1, "%s exited %d: %s", cmd, rc, text);
		ck_assert_msg(strstr(text, i < 5 ? db : "copy.db") != NULL &&
		    strstr(text, "No such file") != NULL, "%s: %s", cmd, text);
		/* A mistyped path is found where it was typed. */
		p = xasprintf("; the path comes from %s:7\n", conf);
		ck_assert_msg(i == 4 || i == 5 || strstr(text, p) != NULL,
		    "%s: %s", cmd, text);
		free(p);
		ck_assert_msg(access(db, F_OK) != 0, "%s created %s", cmd, db);
		free(text);
		free(cmd);
	}
	/* init is the command that makes one, and says so in one line. */
	rc = ops_run(dir, &text, "-f %s init", conf);
	ck_assert_msg(rc == 0 && access(db, F_OK) == 0, "%s", text);
	p = xasprintf("database %s created (schema version %d)", db,
	    DB_SCHEMA_VERSION);
	ck_assert_msg(strstr(text, p) != NULL && strstr(text, "migrated") ==
	    NULL, "%s", text);
	free(p);
	free(text);
	rc = ops_run(dir, &text, "-f %s check-ledger", conf);
	ck_assert_msg(rc == 0 && strstr(text, "ledger OK") != NULL, "%s",
	    text);
	free(text);
	/* -n looks at an existing database without leaving files beside it
	 * (DB-shm made by root would lock drinkd's user out). */
	rc = ops_run(dir, &text, "-f %s -n", conf);
	ck_assert_msg(rc == 0, "%s", text);
	free(text);
	p = xasprintf("%s-shm", db);
	ck_assert_msg(access(p, F_OK) != 0, "-n left %s", p);
	free(p);
	/* Root does not touch a database that belongs to drinkd's user. */
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(db, 1, 1), 0);
		rc = ops_run(dir, &text, "-f %s usermod admin --admin", conf);
		ck_assert_msg(rc == 1 && strstr(text, "run this as that user")
		    != NULL, "%d %s", rc, text);
		free(text);
		/*
		 * Nor does the server: run as root it would leave root-owned
		 * DB-wal, DB-shm and DB.answers that drinkd's user cannot
		 * open at its next start.
		 */
		rc = ops_run(dir, &text, "-f %s -d", conf);
		ck_assert_msg(rc == 1 && strstr(text, "run this as that user")
		    != NULL, "%d %s", rc, text);
		free(text);
		/*
		 * -n says what the server would, not that a key of mode 640
		 * for drinkd's group is wrong because root's group is not it.
		 */
		p = xasprintf("%s/server.key", dir);
		ck_assert_int_eq(chown(p, 0, 1), 0);
		ck_assert_int_eq(chmod(p, 0640), 0);
		free(p);
		rc = ops_run(dir, &text, "-f %s -n", conf);
		ck_assert_msg(rc == 1 && strstr(text, "run this as that user")
		    != NULL && strstr(text, "key") == NULL, "%d %s", rc, text);
		free(text);
		p = xasprintf("%s-wal", db);
		ck_assert_int_ne(access(p, F_OK), 0);
		free(p);
		p = xasprintf("%s.answers", db);
		ck_assert_int_ne(access(p, F_OK), 0);
		free(p);
	}
	free(conf);
	free(db);
	free(dir);
}
END_TEST

/*
 * NAME --help is NAME's usage, and nothing is done: not "backup --help"
 * writing a backup named --help, not useradd waiting for a password.
 */
START_TEST(ops_subcommand_help_is_its_usage_and_does_nothing)
{
	static const char *const cmds[] = {
		"init --help", "useradd carol --help", "usermod carol -h",
		"passwd --help", "check-ledger --help", "backup --help",
		"restore -h",
	};
	char *dir = h_tmpdir(), *conf, *text, *db, *p, want[64];
	size_t i;
	int rc;

	db = xasprintf("%s/drink.db", dir);
	p = xasprintf("database = %s", db);
	conf = ops_conf(dir, p);
	free(p);
	rc = ops_run(dir, &text, "-f %s init", conf);
	ck_assert_msg(rc == 0, "%s", text);
	free(text);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		rc = ops_run(dir, &text, "-f %s %s", conf, cmds[i]);
		snprintf(want, sizeof(want), "usage: drinkd [-f drinkd.conf] "
		    "[--KEY=VALUE ...] %.*s", (int)strcspn(cmds[i], " "),
		    cmds[i]);
		ck_assert_msg(rc == 0 && strstr(text, want) != NULL, "%s: %d %s",
		    cmds[i], rc, text);
		free(text);
	}
	ck_assert_msg(access("--help", F_OK) != 0, "backup wrote ./--help");
	rc = ops_run(dir, &text, "-f %s usermod carol --admin", conf);
	ck_assert_msg(rc == 1 && strstr(text, "no such user") != NULL, "%s",
	    text);
	free(text);
	/* An option where a FILE goes is a usage error, and says how. */
	rc = ops_run(dir, &text, "-f %s backup -q", conf);
	ck_assert_msg(rc == 2 && strstr(text, "./-q") != NULL &&
	    access("-q", F_OK) != 0, "%d %s", rc, text);
	free(text);
	free(conf);
	free(db);
	free(dir);
}
END_TEST

/* ---- keys ---------------------------------------------------------------- */

/*
 * The CRL is checked for every certificate of a chain: a CA with no CRL
 * in the file fails every certificate it signed ("unable to get
 * certificate CRL") while drinkd -n said OK.  Now -n names that CA.
 */
START_TEST(ops_crl_without_a_cas_crl_is_warned)
{
	char *dir = h_tmpdir(), *conf, *text, *more;
	char *ca = h_cert_path("ca.crt"), *other = h_cert_path("other-ca.crt");
	char *crl = h_cert_path("crl-empty.pem");
	int rc;

	/* The CRL is the good CA's; the controllers' CA has none in it. */
	more = xasprintf("member_ca = %s\nmachine_ca = %s\ncrl = %s", ca,
	    other, crl);
	conf = ops_conf(dir, more);
	rc = ops_run(dir, &text, "-f %s -n", conf);
	ck_assert_msg(rc == 0 && strstr(text, "holds no CRL from") != NULL &&
	    strstr(text, "(in machine_ca ") != NULL && strstr(text,
	    "(in member_ca ") == NULL && strstr(text, "configuration OK") !=
	    NULL, "%d %s", rc, text);
	free(text);
	free(conf);
	free(more);
	/* Every CA covered: nothing to say. */
	more = xasprintf("member_ca = %s\nmachine_ca = %s\ncrl = %s", ca, ca,
	    crl);
	conf = ops_conf(dir, more);
	rc = ops_run(dir, &text, "-f %s -n", conf);
	ck_assert_msg(rc == 0 && strstr(text, "holds no CRL") == NULL, "%d %s",
	    rc, text);
	free(text);
	free(conf);
	free(more);
	free(crl);
	free(other);
	free(ca);
	free(dir);
}
END_TEST

START_TEST(ops_key_readable_by_drinkds_group_is_accepted)
{
	static const struct {
		mode_t mode;
		int own_group;
		const char *refusal;	/* NULL: accepted */
	} cases[] = {
		{ 0600, 1, NULL },
		{ 0640, 1, NULL },
		{ 0440, 1, NULL },
		{ 0640, 0, "not drinkd's group" },
		{ 0644, 1, "accessible by others" },
		{ 0604, 1, "accessible by others" },
		{ 0660, 1, "writable by its group" },
	};
	char *dir = h_tmpdir(), *conf, *text, *key;
	gid_t other = getegid() == 0 ? 1 : 0;
	size_t i;
	int rc;

	conf = ops_conf(dir, NULL);
	key = xasprintf("%s/server.key", dir);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(chown(key, (uid_t)-1, cases[i].own_group ?
		    getegid() : other), 0);
		ck_assert_int_eq(chmod(key, cases[i].mode), 0);
		rc = ops_run(dir, &text, "-f %s -n", conf);
		if (cases[i].refusal == NULL) {
			ck_assert_msg(rc == 0, "mode %03o: %d %s",
			    (unsigned)cases[i].mode, rc, text);
		} else {
			ck_assert_msg(rc == EX_CONFIG &&
			    strstr(text, ":5: key: key ") != NULL &&
			    strstr(text, cases[i].refusal) != NULL,
			    "mode %03o group %s: %d %s",
			    (unsigned)cases[i].mode, cases[i].own_group ?
			    "own" : "other", rc, text);
		}
		free(text);
	}
	free(key);
	free(conf);
	free(dir);
}
END_TEST

/* ---- backup and restore --------------------------------------------------- */

/* The whole file at path (its length in *len); NULL if unreadable. */
static char *
ops_read_all(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	FILE *f;

	if (stat(path, &st) != 0 || (f = fopen(path, "rb")) == NULL) {
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	*len = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	return buf;
}

static int64_t
ops_file_int(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	ck_assert_msg(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK, "open %s", db);
	ck_assert_msg(sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(h));
	if (sqlite3_step(st) == SQLITE_ROW) {
		v = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static void
ops_exec(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	char *msg = NULL;

	ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL),
	    SQLITE_OK);
	sqlite3_busy_timeout(h, 10000);
	ck_assert_msg(sqlite3_exec(h, sql, NULL, NULL, &msg) == SQLITE_OK,
	    "%s: %s", sql, msg != NULL ? msg : "");
	sqlite3_close(h);
}

/*
 * A database a newer drinkd has migrated (a downgrade): init, and the
 * subcommands that open it, name the file and both schema versions, and
 * leave it as it was.
 */
START_TEST(ops_init_names_a_database_newer_than_it)
{
	static const char *const cmds[] = { "init", "usermod admin --admin" };
	char *dir = h_tmpdir(), *conf, *text, *db, *sql, *want;
	size_t i;
	int rc;

	conf = ops_conf(dir, NULL);
	db = xasprintf("%s/drink.db", dir);
	rc = ops_run(dir, &text, "-f %s init", conf);
	ck_assert_msg(rc == 0, "%s", text);
	free(text);
	sql = xasprintf("PRAGMA user_version = %d", DB_SCHEMA_VERSION + 1);
	ops_exec(db, sql);
	want = xasprintf("error: database %s has schema version %d, newer "
	    "than this drinkd (%d)\n", db, DB_SCHEMA_VERSION + 1,
	    DB_SCHEMA_VERSION);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		rc = ops_run(dir, &text, "-f %s %s", conf, cmds[i]);
		ck_assert_msg(rc == 1 && strstr(text, want) != NULL, "%s: %d "
		    "%s", cmds[i], rc, text);
		free(text);
		ck_assert_int_eq(ops_file_int(db, "PRAGMA user_version"),
		    DB_SCHEMA_VERSION + 1);
	}
	free(want);
	free(sql);
	free(db);
	free(conf);
	free(dir);
}
END_TEST

/*
 * database naming another program's SQLite file (a typo, say the
 * neighbour's /var/lib/grafana/grafana.db): -n, init and the server
 * refuse it and leave it as it was, not switched to WAL mode and without
 * drinkd's tables added beside its own.
 */
START_TEST(ops_another_programs_database_is_left_alone)
{
	static const struct {
		const char *args;
		int rc;
	} runs[] = {
		{ "-n", EX_CONFIG },
		{ "init", 1 },
		{ "-d", EX_CONFIG },
		{ "usermod admin --admin", 1 },
	};
	char *dir = h_tmpdir(), *conf, *text, *db, *p, *want, *head;
	sqlite3 *h = NULL;
	size_t i, len = 0;
	int rc;

	db = xasprintf("%s/grafana.db", dir);
	ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(h, "CREATE TABLE dashboard (id INTEGER "
	    "PRIMARY KEY, title TEXT); INSERT INTO dashboard (title) VALUES "
	    "('hosts')", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	p = xasprintf("database = %s", db);
	conf = ops_conf(dir, p);
	free(p);
	want = xasprintf("%s is an SQLite database of another program (schema "
	    "version 0 and 1 schema objects, none of them drinkd's): left as "
	    "it is; point database at drinkd's own file, or at a new one", db);
	for (i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		rc = ops_run(dir, &text, "-f %s %s", conf, runs[i].args);
		ck_assert_msg(rc == runs[i].rc && strstr(text, want) != NULL,
		    "%s: %d %s", runs[i].args, rc, text);
		free(text);
	}
	ck_assert_int_eq(ops_file_int(db, "SELECT count(*) FROM "
	    "sqlite_master"), 1);
	ck_assert_int_eq(ops_file_int(db, "SELECT count(*) FROM dashboard"),
	    1);
	/* Bytes 18 and 19 of the header: 1, a rollback journal; 2, WAL. */
	head = ops_read_all(db, &len);
	ck_assert_msg(head != NULL && len >= 20 && head[18] == 1 &&
	    head[19] == 1, "the file was switched to WAL mode");
	free(head);
	free(want);
	free(conf);
	free(db);
	free(dir);
}
END_TEST

START_TEST(ops_backup_of_a_live_database_is_a_verified_copy)
{
	struct h_server *s = h_server_start(NULL);
	struct h_client *c = h_connect_as(s, "alice", "alicepw");
	char *copy = xasprintf("%s/backup.db", s->dir), *args, *text, *p;
	struct stat st;
	int i, rc;

	for (i = 0; i < 20; i++) {
		h_expect(c, NULL, "{\"cmd\":\"send\",\"to\":\"bob\","
		    "\"amount\":1}");
	}
	/* While the server runs and has just committed. */
	args = xasprintf("backup %s", copy);
	rc = h_server_cmd(s, args, NULL);
	ck_assert_msg(rc == 0, "backup exited %d", rc);
	ck_assert_int_eq(stat(copy, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	/* No temporary file or WAL left beside it. */
	p = xasprintf("%s.tmp", copy);
	ck_assert_int_ne(access(p, F_OK), 0);
	free(p);
	p = xasprintf("%s-wal", copy);
	ck_assert_int_ne(access(p, F_OK), 0);
	free(p);
	ck_assert_int_eq(ops_file_int(copy, "SELECT balance FROM accounts"
	    " WHERE name = 'alice'"), 80);
	ck_assert_int_eq(ops_file_int(copy, "SELECT balance FROM accounts"
	    " WHERE name = 'bob'"), 20);
	ck_assert_int_eq(ops_file_int(copy, "SELECT count(*) FROM tx"),
	    h_sql_int(s, "SELECT count(*) FROM tx"));
	/* The copy is a database drinkd accepts; checking changes nothing. */
	{
		size_t n0 = 0, n1 = 0;
		char *before = ops_read_all(copy, &n0), *after;

		ck_assert_ptr_nonnull(before);
		rc = ops_run(s->dir, &text, "--database=%s check-ledger",
		    copy);
		ck_assert_msg(rc == 0 && strstr(text, "ledger OK") != NULL,
		    "%s", text);
		free(text);
		after = ops_read_all(copy, &n1);
		ck_assert_ptr_nonnull(after);
		ck_assert_msg(n0 == n1 && memcmp(before, after, n0) == 0,
		    "check-ledger changed %s (%zu bytes, then %zu)", copy, n0,
		    n1);
		p = xasprintf("%s-wal", copy);
		ck_assert_int_ne(access(p, F_OK), 0);
		free(p);
		free(before);
		free(after);
	}
	/* An older schema is not migrated by a check: it says so. */
	p = xasprintf("PRAGMA user_version = %d", DB_SCHEMA_VERSION - 1);
	ops_exec(copy, p);
	free(p);
	rc = ops_run(s->dir, &text, "--database=%s check-ledger", copy);
	p = xasprintf("has schema version %d and this drinkd checks version "
	    "%d: start this drinkd on it once", DB_SCHEMA_VERSION - 1,
	    DB_SCHEMA_VERSION);
	ck_assert_msg(rc == 1 && strstr(text, p) != NULL, "%d %s", rc, text);
	free(p);
	free(text);
	ck_assert_int_eq(ops_file_int(copy, "PRAGMA user_version"),
	    DB_SCHEMA_VERSION - 1);
	/* Not a database, and an empty file: one line each, saying so. */
	p = xasprintf("%s/notes.db", s->dir);
	ops_write(p, "drink club notes, not a database\n");
	rc = ops_run(s->dir, &text, "--database=%s check-ledger", p);
	ck_assert_msg(rc == 1 && strstr(text, "notes.db is not a usable "
	    "SQLite database: file is not a database\n") != NULL &&
	    strstr(text, "schema version") == NULL &&
	    strstr(text, "ledger OK") == NULL, "%d %s", rc, text);
	free(text);
	ops_write(p, "");
	rc = ops_run(s->dir, &text, "--database=%s check-ledger", p);
	ck_assert_msg(rc == 1 && strstr(text, "notes.db holds no drinkd "
	    "ledger (it is empty, or another program's)") != NULL &&
	    strstr(text, "start this drinkd") == NULL, "%d %s", rc, text);
	free(text);
	free(p);
	/* Into a directory that is not there: 1, nothing written. */
	rc = ops_run(s->dir, &text, "-f %s backup %s/nodir/b.db", s->conf,
	    s->dir);
	ck_assert_msg(rc == 1 && strstr(text, "nodir/b.db.tmp") != NULL,
	    "%d %s", rc, text);
	free(text);
	/* The server never noticed. */
	h_expect(c, NULL, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1}");
	ck_assert_int_eq(h_check_ledger(s), 0);
	h_close(c);
	free(args);
	free(copy);
	h_server_free(s);
}
END_TEST

/*
 * With no server running, a backup reads the database without leaving
 * DB-wal or DB-shm beside it (made by whoever ran the backup, root
 * perhaps, they would outlive it), nor anything beside the copy: the
 * database is as it was found, the backup one file.
 */
START_TEST(ops_backup_of_a_stopped_database_leaves_it_as_it_was)
{
	static const char *const side[] = { "-wal", "-shm", ".tmp",
		".answers" };
	struct h_server *s = h_server_start(NULL);
	struct h_client *c = h_connect_as(s, "alice", "alicepw");
	char *copy = xasprintf("%s/backup.db", s->dir), *text, *p;
	char *before, *after;
	size_t i, n0 = 0, n1 = 0;
	int rc;

	h_expect(c, NULL, "{\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":7}");
	h_close(c);
	ck_assert_int_eq(h_server_stop(s), 0);
	for (i = 0; i < 2; i++) {
		p = xasprintf("%s%s", s->db, side[i]);
		ck_assert_msg(access(p, F_OK) != 0, "%s left by a clean stop",
		    p);
		free(p);
	}
	before = ops_read_all(s->db, &n0);
	ck_assert_ptr_nonnull(before);
	rc = ops_run(s->dir, &text, "-f %s backup %s", s->conf, copy);
	ck_assert_msg(rc == 0 && strstr(text, "(ledger OK)") != NULL,
	    "%d %s", rc, text);
	free(text);
	for (i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
		p = xasprintf("%s%s", s->db, side[i]);
		ck_assert_msg(i >= 2 || access(p, F_OK) != 0, "backup left %s",
		    p);
		free(p);
		p = xasprintf("%s%s", copy, side[i]);
		ck_assert_msg(access(p, F_OK) != 0, "backup left %s", p);
		free(p);
	}
	after = ops_read_all(s->db, &n1);
	ck_assert_ptr_nonnull(after);
	ck_assert_msg(n0 == n1 && memcmp(before, after, n0) == 0,
	    "backup changed %s", s->db);
	ck_assert_int_eq(ops_file_int(copy, "SELECT balance FROM accounts"
	    " WHERE name = 'bob'"), 7);
	/* The server starts on it as before. */
	h_server_restart(s);
	ck_assert_int_eq(h_balance(s, "bob"), 7);
	free(before);
	free(after);
	free(copy);
	h_server_free(s);
}
END_TEST

/*
 * A backup is renamed over its FILE: over the live database, the server's
 * later commits would go to the unlinked file.  Refused, by any name.
 */
START_TEST(ops_backup_never_replaces_the_database_or_its_files)
{
	struct h_server *s = h_server_start(NULL);
	struct h_client *c = h_connect_as(s, "alice", "alicepw");
	char *link = xasprintf("%s/link.db", s->dir), *text;
	char *wal = xasprintf("%s-wal", s->db);
	char *lock = xasprintf("%s/./drink.db.lock", s->dir);
	const char *dst[4];
	struct stat before, after;
	size_t i;
	int rc;

	ck_assert_int_eq(symlink(s->db, link), 0);
	dst[0] = s->db;
	dst[1] = link;
	dst[2] = wal;
	dst[3] = lock;
	ck_assert_int_eq(stat(s->db, &before), 0);
	for (i = 0; i < sizeof(dst) / sizeof(dst[0]); i++) {
		rc = ops_run(s->dir, &text, "-f %s backup %s", s->conf,
		    dst[i]);
		ck_assert_msg(rc == 1 && strstr(text, "is the database") !=
		    NULL && strstr(text, "write the backup to another file")
		    != NULL, "%s: %d %s", dst[i], rc, text);
		free(text);
	}
	ck_assert_int_eq(stat(s->db, &after), 0);
	ck_assert_uint_eq(before.st_ino, after.st_ino);
	/* What the server commits next is in the file drinkd.conf names. */
	h_expect(c, NULL, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":3}");
	h_close(c);
	h_server_stop(s);
	ck_assert_int_eq(ops_file_int(s->db, "SELECT balance FROM accounts"
	    " WHERE name = 'bob'"), 3);
	ck_assert_int_eq(h_check_ledger(s), 0);
	free(link);
	free(wal);
	free(lock);
	h_server_free(s);
}
END_TEST

/*
 * A backup replaces an earlier backup (the nightly rotation of drinkd(8))
 * or an empty file, and nothing else: a typo such as "backup
 * /etc/drink/drinkd.conf" used to put a database where the configuration
 * was.
 */
START_TEST(ops_backup_replaces_only_an_earlier_backup)
{
	struct h_server *s = h_server_start(NULL);
	char *old = xasprintf("%s/drink-Mon.db", s->dir);
	char *notes = xasprintf("%s/notes.txt", s->dir);
	char *empty = xasprintf("%s/empty.db", s->dir);
	char *text, *conf, *want;
	const char *keep[2];
	size_t i;
	int rc;

	/* Written, then written again over itself a week later. */
	for (i = 0; i < 2; i++) {
		rc = ops_run(s->dir, &text, "-f %s backup %s", s->conf, old);
		ck_assert_msg(rc == 0 && strstr(text, "(ledger OK)") != NULL,
		    "%d %s", rc, text);
		free(text);
	}
	ops_write(empty, "");
	rc = ops_run(s->dir, &text, "-f %s backup %s", s->conf, empty);
	ck_assert_msg(rc == 0, "%d %s", rc, text);
	free(text);
	ck_assert_int_gt(ops_file_int(empty, "PRAGMA user_version"), 0);
	ops_write(notes, "the club's notes\n");
	conf = h_slurp(s->conf, H_SLURP_MAX);
	keep[0] = notes;
	keep[1] = s->conf;
	for (i = 0; i < 2; i++) {
		rc = ops_run(s->dir, &text, "-f %s backup %s", s->conf,
		    keep[i]);
		want = xasprintf("backup: %s exists and is not a drinkd "
		    "database (a backup only replaces an earlier one): left as "
		    "it is; remove it, or name another file", keep[i]);
		ck_assert_msg(rc == 1 && strstr(text, want) != NULL, "%d %s",
		    rc, text);
		free(want);
		free(text);
	}
	text = h_slurp(notes, H_SLURP_MAX);
	ck_assert_msg(text != NULL && strcmp(text, "the club's notes\n") == 0,
	    "notes.txt was replaced");
	free(text);
	text = h_slurp(s->conf, H_SLURP_MAX);
	ck_assert_msg(text != NULL && conf != NULL && strcmp(text, conf) == 0,
	    "drinkd.conf was replaced");
	free(text);
	free(conf);
	h_server_free(s);
	free(empty);
	free(notes);
	free(old);
}
END_TEST

/*
 * A directory for FILE (drinkd backup /var/backups/drink/) is named as
 * such, before any work: not "Is a directory" or "Not a directory" from
 * the final rename, nor "disk I/O error" from SQLite for a restore.
 */
START_TEST(ops_backup_and_restore_name_a_directory_given_for_a_file)
{
	struct h_server *s = h_server_start(NULL);
	char *dir = xasprintf("%s/backups", s->dir), *text, *want;
	int rc;

	ck_assert_int_eq(mkdir(dir, 0700), 0);
	rc = ops_run(s->dir, &text, "-f %s backup %s", s->conf, dir);
	want = xasprintf("%s is a directory; name a file in it, e.g. "
	    "%s/drink-backup.db", dir, dir);
	ck_assert_msg(rc == 1 && strstr(text, want) != NULL, "%d %s", rc,
	    text);
	free(want);
	free(text);
	rc = ops_run(s->dir, &text, "-f %s backup %s/", s->conf, dir);
	want = xasprintf("%s/ is a directory; name a file in it, e.g. "
	    "%s/drink-backup.db", dir, dir);
	ck_assert_msg(rc == 1 && strstr(text, want) != NULL, "%d %s", rc,
	    text);
	free(want);
	free(text);
	/* Nothing was left in it, or beside it. */
	rc = ops_sh(&text, "ls -A %s; ls %s | grep -c tmp", dir, s->dir);
	ck_assert_msg(strcmp(text, "0\n") == 0, "%d %s", rc, text);
	free(text);
	h_server_stop(s);
	rc = ops_run(s->dir, &text, "-f %s restore %s/", s->conf, dir);
	want = xasprintf("%s/ is a directory, not a database file", dir);
	ck_assert_msg(rc == 1 && strstr(text, want) != NULL, "%d %s", rc,
	    text);
	free(want);
	free(text);
	ck_assert_int_eq(h_check_ledger(s), 0);
	free(dir);
	h_server_free(s);
}
END_TEST

START_TEST(ops_backup_refuses_a_broken_ledger)
{
	struct h_server *s = h_server_start(NULL);
	char *copy = xasprintf("%s/backup.db", s->dir), *text;
	int rc;

	h_server_stop(s);
	/* A balance that no entry explains. */
	ops_exec(s->db, "UPDATE accounts SET balance = balance + 5"
	    " WHERE name = 'bob'");
	rc = ops_run(s->dir, &text, "-f %s backup %s", s->conf, copy);
	ck_assert_msg(rc == 1 && strstr(text, "breach") != NULL &&
	    strstr(text, "ledger") != NULL, "%d %s", rc, text);
	ck_assert_int_ne(access(copy, F_OK), 0);
	free(text);
	free(copy);
	h_server_free(s);
}
END_TEST

START_TEST(ops_restore_puts_a_backup_back)
{
	struct h_server *s = h_server_start(NULL);
	struct h_client *c = h_connect_as(s, "alice", "alicepw");
	char *copy = xasprintf("%s/backup.db", s->dir), *text, *garbage, *p;
	int rc;

	h_expect(c, NULL, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":30}");
	rc = ops_run(s->dir, &text, "-f %s backup %s", s->conf, copy);
	ck_assert_msg(rc == 0, "%s", text);
	free(text);
	h_expect(c, NULL, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":50}");
	h_close(c);
	ck_assert_int_eq(h_balance(s, "alice"), 20);
	/* Not under a running server: it holds the database's lock. */
	rc = ops_run(s->dir, &text, "-f %s restore %s", s->conf, copy);
	ck_assert_msg(rc == 1 && strstr(text, "is in use by drinkd") != NULL &&
	    strstr(text, "): stop it first\n") != NULL, "%d %s", rc, text);
	free(text);
	ck_assert_int_eq(h_balance(s, "alice"), 20);
	h_server_stop(s);

	/* A file that is not a database: refused, nothing changed. */
	garbage = xasprintf("%s/garbage.db", s->dir);
	ops_write(garbage, "this is not SQLite\n");
	rc = ops_run(s->dir, &text, "-f %s restore %s", s->conf, garbage);
	p = xasprintf("restore: %s is not a usable SQLite database: not an "
	    "SQLite 3 file\n", garbage);
	ck_assert_msg(rc == 1 && strstr(text, p) != NULL, "%d %s", rc, text);
	free(p);
	free(text);
	ck_assert_int_eq(h_balance(s, "alice"), 20);

	rc = ops_run(s->dir, &text, "-f %s restore %s", s->conf, copy);
	ck_assert_msg(rc == 0 && strstr(text, "restored from") != NULL,
	    "%d %s", rc, text);
	free(text);
	ck_assert_int_eq(h_balance(s, "alice"), 70);
	ck_assert_int_eq(h_balance(s, "bob"), 30);
	ck_assert_int_eq(h_check_ledger(s), 0);
	/* The server runs on the restored database. */
	h_server_restart(s);
	c = h_connect_as(s, "alice", "alicepw");
	h_expect(c, NULL, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":5}");
	h_close(c);
	ck_assert_int_eq(h_balance(s, "alice"), 65);
	ck_assert_int_eq(h_check_ledger(s), 0);
	free(garbage);
	free(copy);
	h_server_free(s);
}
END_TEST

/* ---- usermod and passwd ---------------------------------------------------- */

/*
 * A checkpoint killed half-way: the main file's page 1 torn (its b-tree
 * zeroed after the 100-byte header) while DB-wal still holds the page
 * whole.  SQLite recovers that from the WAL; drinkd's start-up check must
 * not call the database malformed, and what the WAL holds is there.
 */
START_TEST(ops_start_after_a_torn_checkpoint_recovers_the_wal)
{
	struct h_server *s = h_server_start(NULL);
	struct h_client *a = h_connect_as(s, "admin", "adminpw");
	char *wal = xasprintf("%s-wal", s->db), *text, zero[4096];
	unsigned char head[18];
	sqlite3 *h = NULL;
	struct stat st;
	size_t pgsz;
	int fd, version;

	h_expect(a, NULL, "{\"cmd\":\"user_add\",\"user\":\"carol\","
	    "\"password\":\"carolpw\"}");
	h_expect(a, NULL, "{\"cmd\":\"set_balance\",\"user\":\"carol\","
	    "\"balance\":77,\"note\":\"start\"}");
	h_close(a);
	h_server_kill(s);
	/* Page 1 into the WAL too (a schema-cookie-like header write),
	 * without a checkpoint when this connection closes. */
	version = (int)h_sql_int(s, "PRAGMA user_version");
	ck_assert_int_eq(sqlite3_open_v2(s->db, &h, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_db_config(h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
	    1, NULL), SQLITE_OK);
	text = xasprintf("PRAGMA wal_autocheckpoint = 0;"
	    "PRAGMA user_version = %d;", version);
	ck_assert_int_eq(sqlite3_exec(h, text, NULL, NULL, NULL), SQLITE_OK);
	free(text);
	ck_assert_int_eq(sqlite3_close(h), SQLITE_OK);
	ck_assert_int_eq(stat(wal, &st), 0);
	ck_assert_int_gt(st.st_size, 0);
	/* Tear page 1 of the main file as an interrupted write-back would. */
	ck_assert_int_ge(fd = open(s->db, O_RDWR), 0);
	ck_assert_int_eq(pread(fd, head, sizeof(head), 0), sizeof(head));
	pgsz = (size_t)head[16] << 8 | head[17];
	pgsz = pgsz == 1 ? 65536 : pgsz;
	ck_assert_uint_le(pgsz, sizeof(zero) + 100);
	memset(zero, 0, sizeof(zero));
	ck_assert_int_eq(pwrite(fd, zero, pgsz - 100, 100),
	    (ssize_t)(pgsz - 100));
	ck_assert_int_eq(close(fd), 0);
	/* The main file alone is broken: that is the state to start from. */
	text = xasprintf("file:%s?immutable=1", s->db);
	ck_assert_int_eq(sqlite3_open_v2(text, &h, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_URI, NULL), SQLITE_OK);
	ck_assert_int_ne(sqlite3_exec(h, "SELECT count(*) FROM sqlite_master",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	free(text);
	/* The configuration check passes it (it checks the header only). */
	ck_assert_msg(ops_run(s->dir, &text, "-f %s -n", s->conf) == 0, "%s",
	    text);
	free(text);
	h_server_restart(s);
	ck_assert_int_eq(h_balance(s, "carol"), 77);
	a = h_connect_as(s, "carol", "carolpw");
	h_expect(a, NULL, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":7}");
	h_close(a);
	ck_assert_int_eq(h_balance(s, "bob"), 7);
	ck_assert_int_eq(h_check_ledger(s), 0);
	free(wal);
	h_server_free(s);
}
END_TEST

START_TEST(ops_usermod_gives_the_last_admin_a_way_back)
{
	struct h_server *s = h_server_start(NULL);
	struct h_client *c;
	cJSON *r;
	char *text;
	int rc;

	h_server_stop(s);
	rc = ops_run(s->dir, &text, "-f %s usermod admin --disable --member",
	    s->conf);
	ck_assert_msg(rc == 0 && strstr(text, "user admin: member, disabled")
	    != NULL, "%d %s", rc, text);
	free(text);
	ck_assert_int_eq(h_sql_int(s, "SELECT disabled FROM users"
	    " WHERE name = 'admin'"), 1);
	h_server_restart(s);
	c = h_connect(s, NULL);
	r = h_call(c, "{\"cmd\":\"login\",\"user\":\"admin\","
	    "\"password\":\"adminpw\"}");
	ck_assert_msg(!h_ok(r), "a disabled admin logged in: %s", h_text(r));
	cJSON_Delete(r);
	h_close(c);

	/* Back in, offline. */
	rc = ops_run(s->dir, &text, "-f %s usermod admin --enable --admin",
	    s->conf);
	ck_assert_msg(rc == 0 && strstr(text, "user admin: admin, enabled") !=
	    NULL, "%d %s", rc, text);
	free(text);
	c = h_connect_as(s, "admin", "adminpw");
	h_expect(c, NULL, "{\"cmd\":\"users\"}");
	h_close(c);

	/* Usage errors and unknown users. */
	rc = ops_run(s->dir, &text, "-f %s usermod admin --admin --member",
	    s->conf);
	ck_assert_msg(rc == 2 && strstr(text, "contradicts") != NULL, "%s",
	    text);
	free(text);
	rc = ops_run(s->dir, &text, "-f %s usermod admin", s->conf);
	ck_assert_msg(rc == 2 && strstr(text, "nothing to change") != NULL,
	    "%s", text);
	free(text);
	rc = ops_run(s->dir, &text, "-f %s usermod nobody --enable", s->conf);
	ck_assert_msg(rc == 1 && strstr(text, "usermod nobody") != NULL, "%s",
	    text);
	free(text);
	rc = ops_run(s->dir, &text, "-f %s usermod admin --root", s->conf);
	ck_assert_int_eq(rc, 2);
	free(text);
	h_server_free(s);
}
END_TEST

START_TEST(ops_passwd_sets_a_password_from_stdin)
{
	struct h_server *s = h_server_start(NULL);
	struct h_client *c;
	cJSON *r;
	char *text;
	int rc;

	/* Safe while the server runs: one write transaction. */
	rc = h_server_cmd(s, "passwd alice", "a new secret\n");
	ck_assert_int_eq(rc, 0);
	c = h_connect(s, NULL);
	r = h_call(c, "{\"cmd\":\"login\",\"user\":\"alice\","
	    "\"password\":\"alicepw\"}");
	ck_assert_msg(!h_ok(r), "the old password still works");
	cJSON_Delete(r);
	h_close(c);
	c = h_connect_as(s, "alice", "a new secret");
	h_close(c);
	/* No password, no user, no name. */
	ck_assert_int_eq(h_server_cmd(s, "passwd alice", ""), 2);
	ck_assert_int_eq(h_server_cmd(s, "passwd alice", "\n"), 2);
	rc = ops_run(s->dir, &text, "-f %s passwd nobody", s->conf);
	ck_assert_msg(rc == 1 && strstr(text, "passwd nobody") != NULL, "%s",
	    text);
	free(text);
	ck_assert_int_eq(h_server_cmd(s, "passwd", "x\n"), 2);
	c = h_connect_as(s, "alice", "a new secret");
	h_close(c);
	h_server_free(s);
}
END_TEST

/* ---- retention ------------------------------------------------------------ */

START_TEST(ops_retention_prunes_old_history_never_money)
{
	struct h_server *s = h_server_start(NULL);
	struct h_client *c = h_connect_as(s, "alice", "alicepw");
	int64_t now = (int64_t)time(NULL), tx, entries;
	char *sql;

	h_expect(c, NULL, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":7}");
	h_close(c);
	h_server_stop(s);
	/* 1200 old and 3 recent temperatures, 1100 old closed sessions; the
	 * money rows are backdated too: they must all stay. */
	sql = xasprintf(
	    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
	    " WHERE i < 1200)"
	    " INSERT INTO temperatures (machine, time, celsius)"
	    " SELECT 'm1', %lld - i, 4.0 FROM n;"
	    "INSERT INTO temperatures VALUES ('m1', %lld, 4), ('m1', %lld, 4),"
	    " ('m1', %lld, 4);"
	    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
	    " WHERE i < 1100)"
	    " INSERT INTO sessions (kind, address, port, started, ended)"
	    " SELECT 'member', '127.0.0.1', i, %lld, %lld FROM n;"
	    "UPDATE tx SET created = %lld;",
	    (long long)(now - 500LL * OPS_DAY), (long long)now,
	    (long long)(now - 10LL * OPS_DAY), (long long)(now - 399LL * OPS_DAY),
	    (long long)(now - 600LL * OPS_DAY), (long long)(now - 500LL * OPS_DAY),
	    (long long)(now - 900LL * OPS_DAY));
	ops_exec(s->db, sql);
	free(sql);
	tx = h_sql_int(s, "SELECT count(*) FROM tx");
	entries = h_sql_int(s, "SELECT count(*) FROM entries");
	ck_assert_int_ge(h_sql_int(s, "SELECT count(*) FROM sessions"), 1100);
	h_server_restart(s);
	ck_assert_msg(h_server_log_wait(s, "pruned 2300 row(s)", 30000),
	    "no pruning logged");
	ck_assert_int_eq(h_sql_int(s, "SELECT count(*) FROM temperatures"), 3);
	ck_assert_int_eq(h_sql_int(s, "SELECT count(*) FROM sessions"
	    " WHERE ended < %lld", (long long)(now - 400LL * OPS_DAY)), 0);
	ck_assert_int_ge(h_sql_int(s, "SELECT count(*) FROM sessions"), 1);
	ck_assert_int_eq(h_sql_int(s, "SELECT count(*) FROM tx"), tx);
	ck_assert_int_eq(h_sql_int(s, "SELECT count(*) FROM entries"),
	    entries);
	ck_assert_int_eq(h_balance(s, "bob"), 7);
	ck_assert_int_eq(h_check_ledger(s), 0);
	h_server_free(s);
}
END_TEST

START_TEST(ops_retention_keys_set_the_age)
{
	struct h_server *s = h_server_start("keep_temperatures_days = 2\n"
	    "keep_sessions_days = 5");
	int64_t now = (int64_t)time(NULL);
	char *sql;

	h_server_stop(s);
	sql = xasprintf("INSERT INTO temperatures VALUES ('m1', %lld, 4),"
	    " ('m1', %lld, 4);"
	    "INSERT INTO sessions (kind, address, port, started, ended)"
	    " VALUES ('member', '::1', 1, %lld, %lld),"
	    " ('member', '::1', 2, %lld, %lld);",
	    (long long)(now - 3 * OPS_DAY), (long long)(now - OPS_DAY),
	    (long long)(now - 9 * OPS_DAY), (long long)(now - 6 * OPS_DAY),
	    (long long)(now - 9 * OPS_DAY), (long long)(now - 4 * OPS_DAY));
	ops_exec(s->db, sql);
	free(sql);
	h_server_restart(s);
	ck_assert_msg(h_server_log_wait(s, "pruned 2 row(s)", 30000),
	    "no pruning logged");
	ck_assert_int_eq(h_sql_int(s, "SELECT count(*) FROM temperatures"), 1);
	ck_assert_int_eq(h_sql_int(s, "SELECT count(*) FROM sessions"
	    " WHERE address = '::1'"), 1);
	ck_assert_int_eq(h_sql_int(s, "SELECT port FROM sessions"
	    " WHERE address = '::1'"), 2);
	h_server_free(s);
}
END_TEST

/* ---- close reasons -------------------------------------------------------- */

static int64_t
ops_session_of(struct h_server *s, const char *user)
{
	int64_t id;

	/* The record is written moments after the login. */
	H_WAIT_UNTIL((id = h_sql_int(s, "SELECT max(id) FROM sessions"
	    " WHERE user = '%s'", user)) != H_SQL_NULL);
	return id;
}

START_TEST(ops_member_close_reasons_say_who_closed)
{
	struct h_server *s = h_server_start("idle_timeout = 3");
	struct h_client *a, *c, *idle;
	int64_t id;

	/* Kicked by an admin. */
	c = h_connect_as(s, "alice", "alicepw");
	id = ops_session_of(s, "alice");
	a = h_connect_as(s, "admin", "adminpw");
	h_expectf(a, NULL, "{\"cmd\":\"kick\",\"session\":%lld}",
	    (long long)id);
	ck_assert(h_closed(c));
	h_close(c);
	ck_assert_msg(h_server_log_wait(s, "closed (closed by the server: "
	    "kicked by an admin), user alice", 10000), "no kick reason");
	/* Disabled by an admin while logged in. */
	c = h_connect_as(s, "bob", "bobpw");
	h_expect(a, NULL, "{\"cmd\":\"user_mod\",\"user\":\"bob\","
	    "\"disabled\":true}");
	ck_assert(h_closed(c));
	h_close(c);
	ck_assert_msg(h_server_log_wait(s, "closed (closed by the server: "
	    "user disabled or changed), user bob", 10000),
	    "no disable reason");
	h_close(a);
	/* The client closed. */
	c = h_connect_as(s, "alice", "alicepw");
	h_close(c);
	ck_assert_msg(h_server_log_wait(s, "closed (closed by the client), "
	    "user alice", 10000), "no client close reason");
	/* Silent past idle_timeout. */
	idle = h_connect(s, NULL);
	ck_assert(h_closed(idle));
	h_close(idle);
	ck_assert_msg(h_server_log_wait(s, "closed (closed by the server: "
	    "idle timeout)", 10000), "no idle reason");
	/* The kicked session was not blamed on the client. */
	ck_assert_int_eq(h_server_log_count(s, "closed (closed by the client), "
	    "user alice"), 1);
	/* Shutdown. */
	c = h_connect_as(s, "alice", "alicepw");
	ck_assert_int_eq(h_server_stop(s), 0);
	h_close(c);
	ck_assert_msg(h_server_log_contains(s, "closed (closed by the server: "
	    "shutting down), user alice"), "no shutdown reason");
	h_server_free(s);
}
END_TEST

/* ---- certificates, units, install ---------------------------------------- */

START_TEST(ops_mkcerts_makes_a_server_certificate_for_real_names)
{
	char *dir = h_tmpdir(), *text;
	int rc;

	rc = ops_sh(&text, "certs/mkcerts %s/ca server drink.club.example "
	    "192.0.2.7 2001:db8::7", dir);
	ck_assert_msg(rc == 0, "%s", text);
	free(text);
	rc = ops_sh(&text, "cd %s/ca && X='openssl x509 -in server.crt "
	    "-noout' && $X -checkhost drink.club.example && "
	    "$X -checkip 192.0.2.7 && $X -checkip 2001:db8::7 && $X -subject "
	    "&& openssl verify -CAfile ca.crt -purpose sslserver server.crt",
	    dir);
	ck_assert_msg(rc == 0 &&
	    strstr(text, "Hostname drink.club.example does match") != NULL &&
	    strstr(text, "IP 192.0.2.7 does match") != NULL &&
	    strstr(text, "IP 2001:db8::7 does match") != NULL &&
	    strstr(text, "CN = drink.club.example") != NULL &&
	    strstr(text, "server.crt: OK") != NULL, "%s", text);
	free(text);
	rc = ops_sh(&text, "openssl x509 -in %s/ca/server.crt -noout "
	    "-checkhost localhost", dir);
	ck_assert_msg(strstr(text, "does NOT match") != NULL, "%s", text);
	free(text);
	/* An existing certificate for other names is not silently kept. */
	rc = ops_sh(&text, "certs/mkcerts %s/ca server other.example", dir);
	ck_assert_msg(rc == 1 && strstr(text, "not valid for other.example") !=
	    NULL, "%d %s", rc, text);
	free(text);
	rc = ops_sh(&text, "certs/mkcerts %s/ca server 'bad name'", dir);
	ck_assert_int_eq(rc, 2);
	free(text);
	rc = ops_sh(&text, "certs/mkcerts %s/ca server", dir);
	ck_assert_int_eq(rc, 2);
	free(text);
	/* Each CA has a name of its own: CRLs are matched to CAs by name. */
	rc = ops_sh(&text, "certs/mkcerts %s/ca2 member m >/dev/null && "
	    "for d in ca ca2; do openssl x509 -in %s/$d/ca.crt -noout "
	    "-subject; done", dir, dir);
	{
		const char *a = strstr(text, "CN = drink CA "), *b;

		ck_assert_msg(rc == 0 && a != NULL &&
		    (b = strstr(a + 1, "CN = drink CA ")) != NULL &&
		    strncmp(a, b, 22) != 0, "%d %s", rc, text);
	}
	free(text);
	free(dir);
}
END_TEST

/*
 * One CA for members and controllers lets a member certificate register
 * as a machine: mkcerts warns, whichever kind came first, and keeps quiet
 * in a CA directory of controllers only.
 */
START_TEST(ops_mkcerts_warns_of_one_ca_for_members_and_controllers)
{
	char *dir = h_tmpdir(), *text;
	int rc;

	rc = ops_sh(&text, "certs/mkcerts %s/a member alice >/dev/null && "
	    "certs/mkcerts %s/a machine m1 >/dev/null", dir, dir);
	ck_assert_msg(rc == 0 && strstr(text, "a's CA also signs members: "
	    "give controllers a CA of their own") != NULL, "%d %s", rc, text);
	free(text);
	rc = ops_sh(&text, "certs/mkcerts %s/b machine m1 >/dev/null && "
	    "certs/mkcerts %s/b member alice >/dev/null", dir, dir);
	ck_assert_msg(rc == 0 && strstr(text, "b's CA also signs controllers")
	    != NULL, "%d %s", rc, text);
	free(text);
	rc = ops_sh(&text, "certs/mkcerts %s/c server drink.example "
	    ">/dev/null && certs/mkcerts %s/c machine m1 >/dev/null", dir,
	    dir);
	ck_assert_msg(rc == 0 && strstr(text, "c's CA also signs the server")
	    != NULL, "%d %s", rc, text);
	free(text);
	rc = ops_sh(&text, "certs/mkcerts %s/d machine m1 >/dev/null && "
	    "certs/mkcerts %s/d machine m2 >/dev/null", dir, dir);
	ck_assert_msg(rc == 0 && text[0] == '\0', "%d %s", rc, text);
	free(text);
	free(dir);
}
END_TEST

START_TEST(ops_make_certs_makes_the_whole_demo_set)
{
	/* Controllers have a CA of their own, in machines/. */
	static const char *const files[] = {
		"ca.crt", "server.crt", "server.key", "member-alice.crt",
		"machines/ca.crt", "machines/machine-bigdrink.crt",
		"machines/machine-snacks.key", "machines/machine-coffee.crt",
		"machines/machine-d.crt", "machines/machine-d.key",
	};
	char *dir = h_tmpdir(), *text, *p;
	size_t i;
	int rc;

	/* make certs in a copy of the tree's Makefile, scripts and certs. */
	rc = ops_sh(&text, "mkdir -p %s/t && cp -r Makefile scripts certs %s/t/ "
	    "&& make -s --no-print-directory -C %s/t certs", dir, dir, dir);
	ck_assert_msg(rc == 0, "%s", text);
	ck_assert_msg(strstr(text, "made development certificates") != NULL,
	    "%s", text);
	free(text);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		p = xasprintf("%s/t/run/certs/%s", dir, files[i]);
		ck_assert_msg(access(p, F_OK) == 0, "%s missing", p);
		free(p);
	}
	/* Again: nothing to make, nothing said. */
	rc = ops_sh(&text, "make -s --no-print-directory -C %s/t certs", dir);
	ck_assert_msg(rc == 0 && text[0] == '\0', "%d %s", rc, text);
	free(text);
	free(dir);
}
END_TEST

START_TEST(ops_install_layout_and_units_verify)
{
	static const char *const files[] = {
		"usr/sbin/drinkd", "usr/bin/drink", "usr/bin/drink-machine",
		"usr/bin/drink-mkcerts", "usr/share/man/man8/drinkd.8",
		"usr/share/man/man1/drink.1", "usr/share/man/man1/drink-mkcerts.1",
		"usr/share/man/man1/drink-machine.1",
		"usr/share/doc/drink/README.md",
		"usr/share/doc/drink/protocol.md",
		"usr/share/doc/drink/legacy.md",
		"usr/share/doc/drink/examples/drinkd.conf",
		"etc/drink/drinkd.conf",
		"usr/lib/systemd/system/drinkd.service",
		"usr/lib/systemd/system/drink-machine@.service",
		"usr/lib/sysusers.d/drink.conf",
	};
	const char *build = getenv("BUILD");
	char *dir = h_tmpdir(), *text, *p, *conf, *block, *end, *want;
	struct config cfg;
	char err[512];
	size_t i;
	int rc;

	rc = ops_sh(&text, "make -s --no-print-directory -o all install BUILD=%s DESTDIR=%s/root "
	    "PREFIX=/usr", build != NULL ? build : "build", dir);
	ck_assert_msg(rc == 0, "make install: %s", text);
	free(text);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		p = xasprintf("%s/root/%s", dir, files[i]);
		ck_assert_msg(access(p, F_OK) == 0, "%s not installed", p);
		free(p);
	}
	p = xasprintf("%s/root/usr/bin/drinkd", dir);
	ck_assert_msg(access(p, F_OK) != 0, "drinkd is in bin, not sbin");
	free(p);
	/* The units name the installed programs and pass systemd's check. */
	rc = ops_sh(&text, "cd %s/root/usr/lib/systemd/system && "
	    "grep -x 'ExecStart=/usr/sbin/drinkd -f /etc/drink/drinkd.conf' "
	    "drinkd.service && grep -x 'User=drinkd' drinkd.service && "
	    "grep -x 'Type=notify' drinkd.service && "
	    "grep -x 'StateDirectory=drink' drinkd.service && "
	    "grep -x 'ConfigurationDirectory=drink' drinkd.service && "
	    "grep -x 'CapabilityBoundingSet=' drinkd.service && "
	    "grep -x 'ProtectSystem=strict' drinkd.service && "
	    "grep '^LimitNOFILE=' drinkd.service && "
	    "grep -x 'Restart=on-failure' drinkd.service && "
	    "grep -x 'RestartPreventExitStatus=2 78' drinkd.service && "
	    "grep -x 'Restart=on-failure' drink-machine@.service && "
	    "grep -F '/usr/bin/drink-machine' drink-machine@.service", dir);
	ck_assert_msg(rc == 0, "%s", text);
	free(text);
	/*
	 * systemd-analyze verify checks that the programs exist, so it runs
	 * on a second install whose PREFIX is real (no DESTDIR).
	 */
	rc = ops_sh(&text, "command -v systemd-analyze >/dev/null || "
	    "apt-get install -y -qq systemd >/dev/null; "
	    "make -s --no-print-directory -o all install BUILD=%s PREFIX=%s/p SYSCONFDIR=%s/p/etc && "
	    "cd %s/p/lib/systemd/system && grep -q '^ExecStart=%s/p/sbin/drinkd "
	    "-f %s/p/etc/drink/drinkd.conf$' drinkd.service && "
	    "SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "
	    "drinkd.service drink-machine@bigdrink.service",
	    build != NULL ? build : "build", dir, dir, dir, dir, dir);
	ck_assert_msg(rc == 0 && text[0] == '\0',
	    "systemd-analyze verify: %d\n%s", rc, text);
	free(text);

	/* The example names every key with its default, and loads. */
	conf = xasprintf("%s/root/etc/drink/drinkd.conf", dir);
	text = h_slurp(conf, H_SLURP_MAX);
	for (i = 0; config_key_name(i) != NULL; i++) {
		p = xasprintf("\n# %s: ", config_key_name(i));
		block = strstr(text, p);
		ck_assert_msg(block != NULL, "example lacks %s", p + 1);
		end = strstr(block, "\n\n");
		if (end != NULL) {
			*end = '\0';
		}
		want = xasprintf("\n# Default: %s\n", config_key_default(i) !=
		    NULL ? config_key_default(i) : "none");
		ck_assert_msg(strstr(block, want) != NULL, "%s: want %s in %s",
		    config_key_name(i), want + 1, block);
		free(want);
		want = xasprintf("\n%s = ", config_key_name(i));
		ck_assert_msg(strstr(block, want) != NULL ||
		    strstr(block, want + 1) != NULL, "%s: no setting line",
		    config_key_name(i));
		free(want);
		if (end != NULL) {
			*end = '\n';
		}
		free(p);
	}
	free(text);
	config_init(&cfg);
	ck_assert_msg(config_load(&cfg, conf, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_str_eq(cfg.database, "/var/lib/drink/drink.db");
	config_free(&cfg);
	/* A second install keeps the operator's file. */
	ops_write(conf, "# mine\n");
	rc = ops_sh(&text, "make -s --no-print-directory -o all install BUILD=%s DESTDIR=%s/root "
	    "PREFIX=/usr", build != NULL ? build : "build", dir);
	ck_assert_msg(rc == 0 && strstr(text, "kept ") != NULL, "%s", text);
	free(text);
	text = h_slurp(conf, H_SLURP_MAX);
	ck_assert_str_eq(text, "# mine\n");
	free(text);
	free(conf);
	free(dir);
}
END_TEST

/*
 * make uninstall takes away every file make install wrote and leaves what
 * is not its own: another program's file in the same directories, and an
 * /etc/drink/drinkd.conf the operator has changed.
 */
START_TEST(ops_uninstall_removes_what_install_put_there)
{
	const char *build = getenv("BUILD");
	char *dir = h_tmpdir(), *text;
	int rc;

	if (build == NULL) {
		build = "build";
	}
	rc = ops_sh(&text, "make -s --no-print-directory -o all install "
	    "BUILD=%s DESTDIR=%s/root PREFIX=/usr && "
	    "echo other >%s/root/usr/bin/other && "
	    "make -s --no-print-directory uninstall BUILD=%s DESTDIR=%s/root "
	    "PREFIX=/usr >/dev/null && cd %s/root && find . ! -type d | sort && "
	    "find . -name '*drink*'", build, dir, dir, build, dir, dir);
	ck_assert_msg(rc == 0 && strcmp(text, "./usr/bin/other\n") == 0,
	    "%d\n%s", rc, text);
	free(text);
	/* An edited drinkd.conf is the operator's: kept, and said so. */
	rc = ops_sh(&text, "make -s --no-print-directory -o all install "
	    "BUILD=%s DESTDIR=%s/root PREFIX=/usr && "
	    "echo 'listen = *:4242' >>%s/root/etc/drink/drinkd.conf && "
	    "make -s --no-print-directory uninstall BUILD=%s DESTDIR=%s/root "
	    "PREFIX=/usr && cd %s/root && find . ! -type d | sort",
	    build, dir, dir, build, dir, dir);
	ck_assert_msg(rc == 0 && strstr(text, "kept ") != NULL &&
	    strstr(text, "./etc/drink/drinkd.conf\n./usr/bin/other\n") !=
	    NULL, "%d\n%s", rc, text);
	free(text);
	free(dir);
}
END_TEST

/* One datagram from the notify socket, within ms; "" when none came. */
static char *
ops_notify_recv(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
		.tv_usec = (ms % 1000) * 1000 };
	char buf[256];
	ssize_t n;

	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)), 0);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return xstrdup(buf);
}

/*
 * Under drinkd.service (Type=notify) systemd learns that the start
 * succeeded only from READY=1, sent once the server serves, so that a
 * start that fails (here: another drinkd holds the database) fails
 * "systemctl start" too instead of passing and dying just after.
 */
/*
 * A SIGHUP while drinkd is still starting (a certificate hook's reload
 * right after a restart; here the start waits for a database another
 * program holds) used to end it, "Hangup", exit 129, with nothing in the
 * log.  It is a reload, done once the server serves.
 */
START_TEST(ops_sighup_during_the_start_is_a_reload_once_serving)
{
	const char *build = getenv("BUILD") != NULL ? getenv("BUILD") :
	    "build";
	char *dir = h_tmpdir(), *conf, *text, *log, *pidf, *db;
	sqlite3 *h = NULL;
	long pid;
	int rc;

	conf = ops_conf(dir, NULL);
	db = xasprintf("%s/drink.db", dir);
	log = xasprintf("%s/start.log", dir);
	pidf = xasprintf("%s/start.pid", dir);
	rc = ops_run(dir, &text, "-f %s init", conf);
	ck_assert_msg(rc == 0, "%s", text);
	free(text);
	/* Held, the start waits at its first write (after binding). */
	ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(h, "BEGIN EXCLUSIVE; SELECT count(*) "
	    "FROM users", NULL, NULL, NULL), SQLITE_OK);
	rc = ops_sh(&text, "%s/drinkd -f %s -d >%s 2>&1 </dev/null & "
	    "echo $! >%s", build, conf, log, pidf);
	ck_assert_msg(rc == 0, "%s", text);
	free(text);
	ck_assert_msg(h_file_wait(log, "member port: listening", 20000),
	    "never bound");
	text = h_slurp(pidf, H_SLURP_MAX);
	pid = strtol(text, NULL, 10);
	free(text);
	ck_assert_int_gt(pid, 1);
	ck_assert_int_eq(kill((pid_t)pid, SIGHUP), 0);
	usleep(200 * 1000);
	ck_assert_int_eq(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(h);
	ck_assert_msg(h_file_wait(log, "reloaded certificates", 20000),
	    "the SIGHUP was no reload (see %s)", log);
	ck_assert(h_file_wait(log, "ready", 1000));
	ck_assert_int_eq(kill((pid_t)pid, SIGTERM), 0);
	ck_assert(h_file_wait(log, "info: stopped", 20000));
	free(pidf);
	free(log);
	free(db);
	free(conf);
	free(dir);
}
END_TEST

START_TEST(ops_systemd_is_told_ready_and_stopping)
{
	char *dir = h_tmpdir(), *text, *got;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct h_server *s;
	int fd, rc;

	ck_assert_int_lt(snprintf(addr.sun_path, sizeof(addr.sun_path),
	    "%s/notify", dir), (int)sizeof(addr.sun_path));
	ck_assert_int_ge(fd = socket(AF_UNIX, SOCK_DGRAM, 0), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", addr.sun_path, 1), 0);
	s = h_server_start(NULL);
	got = ops_notify_recv(fd, 10000);
	ck_assert_str_eq(got, "READY=1");
	free(got);
	ck_assert(h_server_log_contains(s, "ready"));
	/* A second drinkd on the database never gets that far. */
	rc = ops_run(s->dir, &text, "-f %s", s->conf);
	ck_assert_msg(rc == 1 && strstr(text, "is in use by drinkd") != NULL,
	    "%d %s", rc, text);
	free(text);
	got = ops_notify_recv(fd, 500);
	ck_assert_str_eq(got, "");
	free(got);
	ck_assert_int_eq(h_server_stop(s), 0);
	got = ops_notify_recv(fd, 1000);
	ck_assert_str_eq(got, "STOPPING=1");
	free(got);
	ck_assert_int_eq(unsetenv("NOTIFY_SOCKET"), 0);
	close(fd);
	h_server_free(s);
	free(dir);
}
END_TEST

/*
 * A NOTIFY_SOCKET nobody listens on (systemd gone, a stale environment)
 * is warned of, naming it, and the server serves all the same.
 */
START_TEST(ops_systemd_unreachable_is_warned_of)
{
	char *dir = h_tmpdir(), *path = xasprintf("%s/nobody", dir);
	struct h_server *s;
	struct h_client *c;

	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
	s = h_server_start(NULL);
	ck_assert_int_eq(unsetenv("NOTIFY_SOCKET"), 0);
	H_WAIT_UNTIL(h_server_log_contains(s, "cannot tell systemd READY=1"));
	ck_assert(h_server_log_contains(s, path));
	c = h_connect(s, NULL);
	h_expect(c, NULL, "{\"cmd\":\"ping\"}");
	h_close(c);
	ck_assert_int_eq(h_server_stop(s), 0);
	h_server_free(s);
	free(path);
	free(dir);
}
END_TEST

/*
 * Start a server with GLIBC_TUNABLES set to given (NULL: unset) and check
 * that the process the harness started serves, running with tunables
 * want, and that glibc gives freed 200-byte blocks back to the shared
 * heap (cached 0) or keeps them in the thread's cache (cached 1), as the
 * server reports from mallinfo2() at start.  Instrumented (sanitizer or
 * valgrind), malloc is not glibc's: the server must leave it alone.
 */
static void
ops_tunables_case(const char *given, const char *want, int cached)
{
	struct h_server *s;
	struct h_client *c;
	char *line;

	if (given != NULL) {
		ck_assert_int_eq(setenv("GLIBC_TUNABLES", given, 1), 0);
	} else {
		ck_assert_int_eq(unsetenv("GLIBC_TUNABLES"), 0);
	}
	s = h_server_start(NULL);
	/* The process the harness started (same pid) is the one serving. */
	c = h_connect(s, NULL);
	h_expect(c, NULL, "{\"cmd\":\"ping\"}");
	h_close(c);
	/* Run again, it keeps its name (ps -C drinkd, the journal). */
	{
		char path[64], *comm;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)s->pid);
		comm = h_slurp(path, 64);
		ck_assert_str_eq(comm, "drinkd\n");
		free(comm);
	}
	line = xasprintf("memory: %s (GLIBC_TUNABLES=%s%s\n", cached ?
	    "each thread keeps freed blocks of 200 bytes for itself, so an "
	    "idle connection holds some more" : "idle connections stay "
	    "small: threads do not keep freed blocks of 200 bytes for "
	    "themselves", want, cached ? "; see drinkd(8), ENVIRONMENT)" :
	    ")");
	if (h_server_instrumented(s)) {
		ck_assert_msg(!h_server_log_contains(s, "memory: "), "an "
		    "instrumented server reports on glibc's malloc");
	} else {
		ck_assert_msg(h_server_log_contains(s, line), "GLIBC_TUNABLES "
		    "%s: no \"%s\" in the log", given != NULL ? given :
		    "(unset)", line);
	}
	ck_assert_int_eq(h_server_stop(s), 0);
	free(line);
	h_server_free(s);
}

START_TEST(ops_server_limits_the_per_thread_malloc_cache)
{
	ops_tunables_case(NULL, "glibc.malloc.tcache_max=128", 0);
	ops_tunables_case("", "glibc.malloc.tcache_max=128", 0);
	ops_tunables_case("glibc.malloc.arena_max=4",
	    "glibc.malloc.arena_max=4:glibc.malloc.tcache_max=128", 0);
}
END_TEST

START_TEST(ops_an_operators_malloc_cache_setting_is_kept)
{
	/* glibc's own default: the server's limit is not added. */
	ops_tunables_case("glibc.malloc.tcache_max=1032",
	    "glibc.malloc.tcache_max=1032", 1);
	ops_tunables_case("glibc.malloc.arena_max=2:glibc.malloc.tcache_count=0",
	    "glibc.malloc.arena_max=2:glibc.malloc.tcache_count=0", 0);
}
END_TEST

static Suite *
ops_suite(void)
{
	Suite *s = suite_create("ops");
	TCase *tc;

	tc = h_tcase(s, "drinkd -n refuses what the server could not load",
	    NULL, NULL, OPS_TIMEOUT);
	tcase_add_test(tc,
	    ops_check_refuses_each_bad_value_naming_file_line_and_key);
	tcase_add_test(tc, ops_check_names_every_mistake_at_once);
	tcase_add_test(tc, ops_check_lists_every_refusal_and_unset_required_keys);
	tcase_add_test(tc, ops_key_set_twice_is_warned_by_n_and_in_the_log);
	tcase_add_test(tc, ops_start_failures_reach_stderr_without_d);
	tcase_add_test(tc, ops_commands_never_create_a_missing_database);
	tcase_add_test(tc, ops_init_names_a_database_newer_than_it);
	tcase_add_test(tc, ops_another_programs_database_is_left_alone);
	tcase_add_test(tc, ops_subcommand_help_is_its_usage_and_does_nothing);
	tcase_add_test(tc, ops_server_says_how_far_to_raise_a_low_fd_limit);
	tcase_add_test(tc, ops_unreadable_key_says_how_to_let_drinkd_read_it);
	tcase_add_test(tc,
	    ops_database_drinkd_cannot_write_says_how_to_give_it);
	tcase_add_test(tc, ops_key_readable_by_drinkds_group_is_accepted);
	tcase_add_test(tc, ops_crl_without_a_cas_crl_is_warned);

	tc = h_tcase(s, "backup and restore, verified by the ledger", NULL,
	    NULL, OPS_TIMEOUT);
	tcase_add_test(tc, ops_backup_of_a_live_database_is_a_verified_copy);
	tcase_add_test(tc,
	    ops_backup_of_a_stopped_database_leaves_it_as_it_was);
	tcase_add_test(tc, ops_backup_refuses_a_broken_ledger);
	tcase_add_test(tc, ops_backup_never_replaces_the_database_or_its_files);
	tcase_add_test(tc, ops_backup_replaces_only_an_earlier_backup);
	tcase_add_test(tc,
	    ops_backup_and_restore_name_a_directory_given_for_a_file);
	tcase_add_test(tc, ops_restore_puts_a_backup_back);
	tcase_add_test(tc, ops_start_after_a_torn_checkpoint_recovers_the_wal);

	tc = h_tcase(s, "offline recovery: usermod and passwd", NULL, NULL,
	    OPS_TIMEOUT);
	tcase_add_test(tc, ops_usermod_gives_the_last_admin_a_way_back);
	tcase_add_test(tc, ops_passwd_sets_a_password_from_stdin);

	tc = h_tcase(s, "retention prunes history, never money", NULL, NULL,
	    OPS_TIMEOUT);
	tcase_add_test(tc, ops_retention_prunes_old_history_never_money);
	tcase_add_test(tc, ops_retention_keys_set_the_age);

	tc = h_tcase(s, "member close reasons say who closed", NULL, NULL,
	    OPS_TIMEOUT);
	tcase_add_test(tc, ops_member_close_reasons_say_who_closed);

	tc = h_tcase(s, "certificates, units and the installed layout", NULL,
	    NULL, OPS_TIMEOUT);
	tcase_add_test(tc, ops_mkcerts_makes_a_server_certificate_for_real_names);
	tcase_add_test(tc,
	    ops_mkcerts_warns_of_one_ca_for_members_and_controllers);
	tcase_add_test(tc, ops_make_certs_makes_the_whole_demo_set);
	tcase_add_test(tc, ops_install_layout_and_units_verify);
	tcase_add_test(tc, ops_uninstall_removes_what_install_put_there);
	tcase_add_test(tc, ops_systemd_is_told_ready_and_stopping);
	tcase_add_test(tc,
	    ops_sighup_during_the_start_is_a_reload_once_serving);
	tcase_add_test(tc, ops_systemd_unreachable_is_warned_of);

	tc = h_tcase(s, "glibc's per-thread malloc cache is limited", NULL,
	    NULL, OPS_TIMEOUT);
	tcase_add_test(tc, ops_server_limits_the_per_thread_malloc_cache);
	tcase_add_test(tc, ops_an_operators_malloc_cache_setting_is_kept);
	return s;
}

int
main(void)
{
	int failed;

	h_init();
	failed = h_run(ops_suite());
	return h_finish(failed);
}
