/*
 * Configuration: defaults, the key table shared by the file and the
 * --KEY=VALUE flags, and the errors an operator sees for a bad file.
 */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "drinkd.h"
#include "harness.h"

static char path[] = "/tmp/drink-config-XXXXXX";

static const char *
write_conf(const char *text)
{
	int fd;

	strcpy(path, "/tmp/drink-config-XXXXXX");
	ck_assert_int_ge(fd = mkstemp(path), 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

START_TEST(defaults_match_the_design)
{
	struct config c;

	config_init(&c);
	ck_assert_str_eq(c.listen, "127.0.0.1:4242");
	ck_assert_str_eq(c.machine_listen, "127.0.0.1:4343");
	ck_assert_str_eq(c.database, "drink.db");
	ck_assert_ptr_null(c.cert);
	ck_assert_ptr_null(c.member_ca);
	ck_assert_ptr_null(c.ports_file);
	ck_assert_int_eq(c.vend_timeout, 30);
	ck_assert_int_eq(c.handshake_timeout, 10);
	ck_assert_int_eq(c.idle_timeout, 300);
	ck_assert_int_eq(c.line_timeout, 30);
	ck_assert_int_eq(c.ping_interval, 30);
	ck_assert_int_eq(c.max_clients, 4096);
	ck_assert_int_eq(c.max_clients_per_ip, 64);
	ck_assert_int_eq(c.max_unauth_per_ip, 8);
	ck_assert_int_eq(c.login_timeout, 60);
	ck_assert_int_eq(c.crl_warn_days, 7);
	ck_assert_int_eq(c.max_line, 65536);
	ck_assert_str_eq(c.log_level, "info");
	config_free(&c);
}
END_TEST

START_TEST(file_sets_keys_with_comments_and_spaces)
{
	struct config c;
	char err[256];

	config_init(&c);
	ck_assert_int_eq(config_load(&c, write_conf(
	    "# drinkd\n\n  listen = *:4242   # everywhere\n"
	    "database=/var/lib/drink/drink.db\r\nmax_line = 1024\n"
	    "log_level = debug\n"), err, sizeof(err)), 0);
	unlink(path);
	ck_assert_str_eq(c.listen, "*:4242");
	ck_assert_str_eq(c.database, "/var/lib/drink/drink.db");
	ck_assert_int_eq(c.max_line, 1024);
	ck_assert_str_eq(c.log_level, "debug");
	config_free(&c);
}
END_TEST

START_TEST(file_errors_name_the_line)
{
	struct config c;
	char err[256];

	config_init(&c);
	ck_assert_int_eq(config_load(&c, write_conf("listen = *:1\nbogus = 1\n"),
	    err, sizeof(err)), -1);
	unlink(path);
	ck_assert_msg(strstr(err, ":2: unknown configuration key \"bogus\"") !=
	    NULL, "%s", err);
	ck_assert_int_eq(config_load(&c, write_conf("max_line\n"), err,
	    sizeof(err)), -1);
	unlink(path);
	ck_assert_msg(strstr(err, ":1: expected key = value") != NULL, "%s",
	    err);
	ck_assert_int_eq(config_load(&c, "/nonexistent/drinkd.conf", err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "No such file") != NULL, "%s", err);
	/* -f of the directory, not the file in it: not an empty file. */
	ck_assert_int_eq(config_load(&c, "/tmp", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "cannot read /tmp: Is a directory") != NULL,
	    "%s", err);
	config_free(&c);
}
END_TEST

START_TEST(numbers_are_range_checked)
{
	struct config c;
	char err[256];

	config_init(&c);
	ck_assert_int_eq(config_set(&c, "vend_timeout", "0", err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, "from 1 to 3600") != NULL, "%s", err);
	ck_assert_int_eq(config_set(&c, "max_line", "12k", err, sizeof(err)),
	    -1);
	ck_assert_int_eq(config_set(&c, "max_clients", "", err, sizeof(err)),
	    -1);
	ck_assert_int_eq(config_set(&c, "idle_timeout", "99999999999999999999",
	    err, sizeof(err)), -1);
	ck_assert_int_eq(config_set(&c, "log_level", "loud", err, sizeof(err)),
	    -1);
	ck_assert_int_eq(config_set(&c, "listen", "", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "listen: must not be empty");
	ck_assert_int_eq(config_set(&c, "database", "", err, sizeof(err)), -1);
	ck_assert_int_eq(config_set(&c, "crl", "", err, sizeof(err)), 0);
	ck_assert_ptr_null(c.crl);
	ck_assert_int_eq(config_set(&c, "idle_timeout", "5", err, sizeof(err)),
	    0);
	ck_assert_int_eq(c.idle_timeout, 5);
	config_free(&c);
}
END_TEST

START_TEST(server_check_refuses_a_readable_key)
{
	struct config c;
	char err[256], cmd[256];
	const char *key;

	config_init(&c);
	key = write_conf("not really a key\n");
	ck_assert_int_eq(config_set(&c, "cert", key, err, sizeof(err)), 0);
	ck_assert_int_eq(config_set(&c, "key", key, err, sizeof(err)), 0);
	snprintf(cmd, sizeof(cmd), "chmod 644 %s", key);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(config_check_server(&c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "--key: key: key ") != NULL &&
	    strstr(err, "accessible by others (mode 644)") != NULL, "%s", err);
	snprintf(cmd, sizeof(cmd), "chmod 600 %s", key);
	ck_assert_int_eq(system(cmd), 0);
	/* Mode 600 passes the permission rule; the text is still no key. */
	ck_assert_int_eq(config_check_server(&c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "--key: key: not a PEM private key") != NULL,
	    "%s", err);
	ck_assert_msg(strstr(err, "--cert: cert: not a PEM certificate") !=
	    NULL, "%s", err);
	unlink(key);
	config_free(&c);
	config_init(&c);
	ck_assert_int_eq(config_check_server(&c, err, sizeof(err)), -1);
	/* No file was read: that, not two keys, is what to mend. */
	ck_assert_msg(strstr(err, "defaults: cert: not set (required; no "
	    "configuration file was read: -f FILE, or " DRINKD_CONF ")\n"
	    "defaults: key: not set (required; no configuration file was "
	    "read: -f FILE, or " DRINKD_CONF ")") != NULL, "%s", err);
	config_free(&c);
}
END_TEST

START_TEST(listen_addresses_are_numeric_with_a_port_in_range)
{
	static const struct {
		const char *value, *reason;
	} bad[] = {
		{ "localhost:4242", "\"localhost\" is not a numeric IPv4" },
		{ "4242", "is not IPv4:PORT, [IPv6]:PORT or *:PORT" },
		{ "127.0.0.1:99999", "port 99999 is out of range (0 to 65535)" },
		{ "127.0.0.1:65536", "port 65536 is out of range" },
		{ "127.0.0.1:-1", "is not IPv4:PORT" },
		{ "127.0.0.1:", "is not IPv4:PORT" },
		{ "[::1]4242", "is not IPv4:PORT" },
		{ "[localhost]:4242", "is not a numeric IPv6" },
		{ "[*]:4242", "is not a numeric IPv6" },
		{ "1.2.3:4242", "is not a numeric IPv4" },
		{ "::1:4242", "\"::1\" is an IPv6 address: write it in "
		    "brackets, [::1]:4242" },
		{ "fe80::1:4343", "[fe80::1]:4343" },
	};
	static const char *const good[] = {
		"127.0.0.1:0", "*:4242", "[::1]:65535", "0.0.0.0:1",
		"[::]:4343",
	};
	struct config c;
	char err[256];
	size_t i;

	config_init(&c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(config_set(&c, "machine_listen", bad[i].value,
		    err, sizeof(err)), -1);
		ck_assert_msg(strncmp(err, "machine_listen: ", 16) == 0 &&
		    strstr(err, bad[i].reason) != NULL, "%s: %s", bad[i].value,
		    err);
	}
	ck_assert_str_eq(c.machine_listen, "127.0.0.1:4343");
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(config_set(&c, "listen", good[i], err,
		    sizeof(err)) == 0, "%s: %s", good[i], err);
		ck_assert_str_eq(c.listen, good[i]);
	}
	config_free(&c);
}
END_TEST

START_TEST(two_listeners_on_one_port_are_refused_before_binding)
{
	static const struct {
		const char *key, *value, *clash;	/* clash NULL: fine */
	} cases[] = {
		{ "machine_listen", "127.0.0.1:6242", "listen = 127.0.0.1:6242" },
		{ "web_listen", "*:6343", "machine_listen = 127.0.0.1:6343" },
		{ "sunday_listen", "0.0.0.0:6242", "listen = 127.0.0.1:6242" },
		{ "tini_listen", "[::1]:6343", NULL },
		{ "web_listen", "127.0.0.2:6242", NULL },
		{ "web_listen", "127.0.0.1:6244", NULL },
	};
	struct config c;
	char err[1024];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_init(&c);
		ck_assert_int_eq(config_load(&c, write_conf(
		    "listen = 127.0.0.1:6242\n"
		    "machine_listen = 127.0.0.1:6343\n"
		    "machine_ca = /nonexistent/ca.crt\n"), err,
		    sizeof(err)), 0);
		ck_assert_int_eq(config_set(&c, cases[i].key, cases[i].value,
		    err, sizeof(err)), 0);
		(void)config_check_server(&c, err, sizeof(err));
		if (cases[i].clash != NULL) {
			ck_assert_msg(strstr(err, cases[i].clash) != NULL &&
			    strstr(err, "give each listener a port of its "
			    "own") != NULL && strstr(err, cases[i].key) !=
			    NULL, "%s: %s", cases[i].value, err);
		} else {
			ck_assert_msg(strstr(err, "clashes") == NULL, "%s: %s",
			    cases[i].value, err);
		}
		unlink(path);
		config_free(&c);
	}
	/* The machine port stays shut without machine_ca: no clash. */
	config_init(&c);
	ck_assert_int_eq(config_set(&c, "web_listen", "127.0.0.1:4343", err,
	    sizeof(err)), 0);
	(void)config_check_server(&c, err, sizeof(err));
	ck_assert_msg(strstr(err, "clashes") == NULL, "%s", err);
	ck_assert_int_eq(config_set(&c, "listen", "127.0.0.1:0", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(config_set(&c, "web_listen", "127.0.0.1:0", err,
	    sizeof(err)), 0);
	(void)config_check_server(&c, err, sizeof(err));
	ck_assert_msg(strstr(err, "clashes") == NULL, "%s", err);
	config_free(&c);
}
END_TEST

/* A directory where a file goes: the start could not open or write it. */
START_TEST(a_directory_is_no_database_or_ports_file)
{
	struct config c;
	char err[1024];

	config_init(&c);
	ck_assert_int_eq(config_set(&c, "database", "/tmp/", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(config_set(&c, "ports_file", "/tmp", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(config_check_server(&c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "--database: database: /tmp/ is a "
	    "directory; name a file in it, e.g. /tmp/drink.db") != NULL, "%s",
	    err);
	ck_assert_msg(strstr(err, "--ports_file: ports_file: /tmp is a "
	    "directory; name a file in it, e.g. /tmp/ports.json") != NULL,
	    "%s", err);
	config_free(&c);
}
END_TEST

/*
 * Under drinkd.service (ProtectSystem=strict) a directory outside
 * /var/lib/drink and /run/drink is read-only, though writable by hand:
 * the refusal says how to open it.  The read-only directory is a tmpfs in
 * a mount namespace of this test's own (as root, else in a user
 * namespace; neither possible fails the test).
 */
START_TEST(a_read_only_directory_names_readwritepaths)
{
	char *dir = xstrdup("/tmp/drink-config-ro-XXXXXX"), *db, *ports;
	char *want;
	struct config c;
	char err[2048];

	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	db = xasprintf("%s/drink.db", dir);
	ports = xasprintf("%s/ports.json", dir);
	h_own_mounts("a read-only directory test");
	ck_assert_msg(mount("tmpfs", dir, "tmpfs", MS_RDONLY, "size=4096") ==
	    0, "mount a read-only tmpfs on %s: %s", dir, strerror(errno));
	config_init(&c);
	ck_assert_int_eq(config_set(&c, "database", db, err, sizeof(err)), 0);
	ck_assert_int_eq(config_set(&c, "ports_file", ports, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(config_check_server(&c, err, sizeof(err)), -1);
	want = xasprintf("--database: database: directory %s is not "
	    "writable: Read-only file system (drinkd.service leaves only "
	    "/var/lib/drink and /run/drink writable: add ReadWritePaths=%s "
	    "with systemctl edit drinkd)", dir, dir);
	ck_assert_msg(strstr(err, want) != NULL, "%s", err);
	free(want);
	want = xasprintf("--ports_file: ports_file: directory %s is not "
	    "writable: Read-only file system (drinkd.service", dir);
	ck_assert_msg(strstr(err, want) != NULL, "%s", err);
	free(want);
	config_free(&c);
	/* A relative path (drinkd.service runs in /): an absolute one. */
	ck_assert_int_eq(chdir(dir), 0);
	config_init(&c);
	ck_assert_int_eq(config_set(&c, "database", "drink.db", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(config_check_server(&c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "--database: database: directory . is not "
	    "writable: Read-only file system (drinkd.service leaves only "
	    "/var/lib/drink and /run/drink writable: give an absolute path "
	    "in one of them)") != NULL, "%s", err);
	config_free(&c);
	ck_assert_int_eq(chdir("/"), 0);
	ck_assert_int_eq(umount(dir), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	free(ports);
	free(db);
	free(dir);
}
END_TEST

START_TEST(file_values_remember_their_line)
{
	struct config c;
	char err[1024];

	config_init(&c);
	ck_assert_int_eq(config_load(&c, write_conf(
	    "# a comment\ncert = /nonexistent/server.crt\n\n"
	    "key = /nonexistent/server.key\n"
	    "database = /nonexistent/dir/drink.db\n"
	    "ports_file = /nonexistent/ports\n"), err, sizeof(err)), 0);
	ck_assert_int_eq(config_set(&c, "crl", "/nonexistent/crl.pem", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(config_check_server(&c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, ":2: cert: cannot read "
	    "/nonexistent/server.crt: No such file") != NULL, "%s", err);
	ck_assert_msg(strstr(err, ":4: key: cannot read") != NULL, "%s", err);
	ck_assert_msg(strstr(err, ":5: database: directory /nonexistent/dir: "
	    "No such file") != NULL, "%s", err);
	ck_assert_msg(strstr(err, ":6: ports_file: directory /nonexistent: ")
	    != NULL, "%s", err);
	ck_assert_msg(strstr(err, "--crl: crl: cannot read") != NULL, "%s",
	    err);
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "%s", err);
	unlink(path);
	config_free(&c);
}
END_TEST

static char config_said[4][300];
static int config_nsaid;

static void
config_say(const char *msg)
{
	ck_assert_int_lt(config_nsaid, 4);
	snprintf(config_said[config_nsaid++], sizeof(config_said[0]), "%s",
	    msg);
}

START_TEST(a_key_set_twice_is_warned_and_the_last_value_used)
{
	struct config c;
	char err[256], *want;

	config_init(&c);
	ck_assert_int_eq(config_load(&c, write_conf("max_line = 1024\n"
	    "listen = *:1\n# max_line = 9\nmax_line = 2048\n"
	    "max_line=4096\n"), err, sizeof(err)), 0);
	/* A flag after the file is an override, not a repeat. */
	ck_assert_int_eq(config_set(&c, "listen", "*:2", err, sizeof(err)), 0);
	ck_assert_int_eq(c.max_line, 4096);
	ck_assert_str_eq(c.listen, "*:2");
	config_nsaid = 0;
	ck_assert_int_eq(config_warnings(&c, config_say), 2);
	want = xasprintf("%s:4: max_line is set again (line 1 set it "
	    "before); the last value is used", path);
	ck_assert_str_eq(config_said[0], want);
	free(want);
	want = xasprintf("%s:5: max_line is set again (line 4 set it "
	    "before); the last value is used", path);
	ck_assert_str_eq(config_said[1], want);
	free(want);
	unlink(path);
	config_free(&c);
	/* A file without repeats has nothing to say. */
	config_init(&c);
	ck_assert_int_eq(config_load(&c, write_conf("max_line = 1024\n"
	    "listen = *:1\n"), err, sizeof(err)), 0);
	unlink(path);
	ck_assert_int_eq(config_warnings(&c, config_say), 0);
	config_free(&c);
}
END_TEST

START_TEST(every_key_has_a_name_and_retention_defaults_keep_a_year)
{
	struct config c;
	size_t i;

	for (i = 0; config_key_name(i) != NULL; i++) {
		ck_assert_int_gt((int)strlen(config_key_name(i)), 0);
	}
	ck_assert_uint_ge(i, 20);
	ck_assert_ptr_null(config_key_name(i + 1));
	config_init(&c);
	ck_assert_int_ge(c.keep_temperatures_days, 366);
	ck_assert_int_ge(c.keep_sessions_days, 366);
	config_free(&c);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("keys");

	tcase_add_test(tc, defaults_match_the_design);
	tcase_add_test(tc, file_sets_keys_with_comments_and_spaces);
	tcase_add_test(tc, file_errors_name_the_line);
	tcase_add_test(tc, numbers_are_range_checked);
	tcase_add_test(tc, server_check_refuses_a_readable_key);
	tcase_add_test(tc, listen_addresses_are_numeric_with_a_port_in_range);
	tcase_add_test(tc, two_listeners_on_one_port_are_refused_before_binding);
	tcase_add_test(tc, a_directory_is_no_database_or_ports_file);
	tcase_add_test(tc, a_read_only_directory_names_readwritepaths);
	tcase_add_test(tc, file_values_remember_their_line);
	tcase_add_test(tc, a_key_set_twice_is_warned_and_the_last_value_used);
	tcase_add_test(tc,
	    every_key_has_a_name_and_retention_defaults_keep_a_year);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	Suite *suite = config_suite();
	int failed;

	failed = h_run(suite);
	return failed == 0 ? 0 : 1;
}
