/*
 * One drinkd per database (db/lock.c): a second server, init and useradd
 * refuse while one runs and change nothing; check-ledger reads beside it;
 * a pending drop survives a second server's start; the lock dies with the
 * server, even by SIGKILL; a second `make run` leaves the demo alone, brings
 * back a simulated machine an admin switched off and on, and makes a
 * deleted demo database again.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake.h"
#include "harness.h"

static struct h_server *srv;

static void
setup(void)
{
	srv = h_machine_server_start("vend_timeout = 20\n");
	h_admin(srv, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Big Drink\"}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":3,\"item\":\"Coke\",\"price\":10,\"stock\":5}", NULL);
}

static void
teardown(void)
{
	h_server_free(srv);
	srv = NULL;
}

/* The message a refused process must print about srv's database. */
static char *
in_use_message(void)
{
	return xasprintf("database %s is in use by drinkd (pid %d)", srv->db,
	    (int)srv->pid);
}

START_TEST(a_second_server_on_the_same_database_exits_1)
{
	char *ports2 = xasprintf("%s/ports2", srv->dir), *args, *before;
	char *after, *msg = in_use_message();

	before = h_slurp(srv->ports_file, H_SLURP_MAX);
	/* Other ports, so only the database can stop it. */
	args = xasprintf("-d --listen=127.0.0.1:0 --machine_listen=127.0.0.1:0 "
	    "--ports_file=%s", ports2);
	ck_assert_int_eq(h_server_cmd(srv, args, NULL), 1);
	ck_assert_msg(h_server_log_contains(srv, msg), "log lacks: %s", msg);
	ck_assert_int_ne(access(ports2, F_OK), 0);
	after = h_slurp(srv->ports_file, H_SLURP_MAX);
	ck_assert_str_eq(after, before);
	/* The first server is unharmed. */
	h_close(h_connect_as(srv, "alice", "alicepw"));
	free(ports2);
	free(args);
	free(before);
	free(after);
	free(msg);
}
END_TEST

START_TEST(init_and_useradd_refuse_while_a_server_runs)
{
	char *msg = in_use_message();

	ck_assert_int_eq(h_server_cmd(srv, "init", NULL), 1);
	ck_assert_int_eq(h_server_cmd(srv, "useradd carol --balance 50",
	    "carolpw\n"), 1);
	ck_assert_int_eq(h_server_log_count(srv, msg), 2);
	/* useradd says what to do instead; init has nothing to add. */
	ck_assert_int_eq(h_server_log_count(srv, "stop it first, or add the "
	    "user through it as an admin: drink -u ADMIN user-add NAME"), 1);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM users WHERE"
	    " name = 'carol'"), 0);
	/* check-ledger only reads, and may run beside the server. */
	ck_assert_int_eq(h_check_ledger(srv), 0);
	/* Once the server has stopped, useradd works again. */
	ck_assert_int_eq(h_server_stop(srv), 0);
	ck_assert_int_eq(h_server_cmd(srv, "useradd carol --balance 50",
	    "carolpw\n"), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM users WHERE"
	    " name = 'carol'"), 1);
	free(msg);
}
END_TEST

/*
 * The bug this lock is for: a second drinkd used to release the first
 * one's pending holds at start, and the item the machine then dropped was
 * never charged.
 */
START_TEST(a_second_server_leaves_a_pending_drop_alone)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	char *args = xasprintf("-d --listen=127.0.0.1:0 "
	    "--machine_listen=127.0.0.1:0 --ports_file=%s/ports2", srv->dir);
	cJSON *r;

	h_send(c, "{\"id\":1,\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":3}");
	fake_wait_vends(f, 1);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " state = 'pending'"), 1);
	ck_assert_int_eq(h_server_cmd(srv, args, NULL), 1);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " state = 'pending'"), 1);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	/* The machine vends: the member pays once, the ledger is whole. */
	fake_answer_last(f, 1);
	r = h_read(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 90);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'completed'"), 1);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " state IN ('pending', 'failed')"), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT balance FROM accounts WHERE"
	    " name = '@sales'"), 10);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	ck_assert(!h_server_log_contains(srv, "was pending when the previous"));
	fake_stop(f);
	h_close(c);
	free(args);
}
END_TEST

/* SIGKILL leaves no stale lock; the next start releases the hold. */
START_TEST(the_lock_dies_with_a_killed_server)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");

	h_send(c, "{\"id\":1,\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":3}");
	fake_wait_vends(f, 1);
	h_server_kill(srv);
	h_close(c);
	fake_stop(f);
	h_server_restart(srv);
	ck_assert(h_server_log_contains(srv, "was pending when the previous "
	    "drinkd stopped"));
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " state = 'pending'"), 0);
	ck_assert_int_eq(h_check_ledger(srv), 0);
}
END_TEST

/* `make run` (scripts/run-demo) while a demo runs: nothing is touched. */
START_TEST(a_second_make_run_leaves_the_running_demo_alone)
{
	char *dir = h_tmpdir(), *lock = xasprintf("%s/drink.db.lock", dir);
	char *ports = xasprintf("%s/ports", dir);
	char *out = xasprintf("%s/out", dir), *cmd, *text, *want;
	const char *build = getenv("BUILD");
	FILE *f;
	int fd, rc;

	/* A running demo: its drinkd holds the lock and wrote the ports. */
	fd = open(lock, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	ck_assert_int_gt(dprintf(fd, "%d\n", (int)getpid()), 0);
	ck_assert_ptr_nonnull(f = fopen(ports, "w"));
	fputs("{\"listen\":4242,\"machine_listen\":4343}\n", f);
	fclose(f);
	cmd = xasprintf("DRINK_RUN_DIR=%s scripts/run-demo %s >%s 2>&1", dir,
	    build != NULL && build[0] != '\0' ? build : "build", out);
	rc = system(cmd);
	ck_assert(WIFEXITED(rc));
	ck_assert_int_eq(WEXITSTATUS(rc), 1);
	text = h_slurp(out, H_SLURP_MAX);
	want = xasprintf("the demo is already running (drinkd pid %d",
	    (int)getpid());
	ck_assert_msg(strstr(text, want) != NULL, "%s", text);
	ck_assert_msg(strstr(text, "leaving it alone") != NULL, "%s", text);
	free(text);
	text = h_slurp(ports, H_SLURP_MAX);
	ck_assert_str_eq(text, "{\"listen\":4242,\"machine_listen\":4343}\n");
	/* Not even its configuration was rewritten. */
	free(cmd);
	cmd = xasprintf("%s/drinkd.conf", dir);
	ck_assert_int_ne(access(cmd, F_OK), 0);
	close(fd);
	free(text);
	free(want);
	free(cmd);
	free(out);
	free(ports);
	free(lock);
	free(dir);
}
END_TEST

/* Run scripts/run-demo in dir with DRINK_DEMO_PORT=port; its output. */
static char *
demo_run(const char *dir, const char *port, int *status)
{
	const char *build = getenv("BUILD");
	char *out = xasprintf("%s/out", dir), *cmd, *text;
	int rc;

	cmd = xasprintf("DRINK_RUN_DIR=%s DRINK_DEMO_PORT=%s "
	    "timeout 60 scripts/run-demo %s >%s 2>&1 </dev/null", dir, port,
	    build != NULL && build[0] != '\0' ? build : "build", out);
	rc = system(cmd);
	ck_assert(WIFEXITED(rc));
	*status = WEXITSTATUS(rc);
	text = h_slurp(out, H_SLURP_MAX);
	free(cmd);
	free(out);
	return text;
}

/* DRINK_DEMO_PORT moves the demo's ports; a bad value is refused. */
START_TEST(the_demo_port_is_checked_and_a_taken_one_explained)
{
	char *dir = h_tmpdir(), *text, *conf, port[16];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd, status;

	text = demo_run(dir, "42x", &status);
	ck_assert_int_eq(status, 2);
	ck_assert_msg(strstr(text, "DRINK_DEMO_PORT must be a port number, "
	    "not '42x'") != NULL, "%s", text);
	free(text);
	text = demo_run(dir, "80", &status);
	ck_assert_int_eq(status, 2);
	ck_assert_msg(strstr(text, "from 1024 to 65400, not 80") != NULL, "%s",
	    text);
	free(text);
	/* A member port another program holds: drinkd cannot listen. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(port, sizeof(port), "%d", ntohs(sa.sin_port));
	text = demo_run(dir, port, &status);
	ck_assert_int_eq(status, 1);
	ck_assert_msg(strstr(text, "drinkd did not start") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "Address already in use") != NULL, "%s",
	    text);
	ck_assert_msg(strstr(text, "DRINK_DEMO_PORT=") != NULL, "%s", text);
	free(text);
	/* The configuration it wrote names the ports it was given. */
	conf = xasprintf("%s/drinkd.conf", dir);
	text = h_slurp(conf, H_SLURP_MAX);
	ck_assert_msg(strstr(text, "listen = 127.0.0.1:") != NULL, "%s", text);
	ck_assert_msg(strstr(text, port) != NULL, "%s", text);
	free(text);
	free(conf);
	close(fd);
	free(dir);
}
END_TEST

/* Whether 127.0.0.1:port can be bound now. */
static int
demo_port_free(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	ck_assert_int_ge(fd, 0);
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* A DRINK_DEMO_PORT whose five ports (base + 0, 1, 38, 101, 102) are free. */
static int
demo_free_base(void)
{
	static const int off[] = { 0, 1, 38, 101, 102 };
	int base, i, tries;

	for (tries = 0; tries < 200; tries++) {
		base = 20000 + (int)((getpid() * 7919 + tries * 211) % 40000);
		for (i = 0; i < 5 && demo_port_free(base + off[i]); i++) {
		}
		if (i == 5) {
			return base;
		}
	}
	ck_abort_msg("no free demo ports");
	return -1;
}

/* Start scripts/run-demo in dir in a process group of its own. */
static pid_t
demo_start(const char *dir, int base)
{
	const char *build = getenv("BUILD");
	char *cmd = xasprintf("DRINK_RUN_DIR=%s DRINK_DEMO_PORT=%d "
	    "exec scripts/run-demo %s >>%s/out 2>&1 </dev/null", dir, base,
	    build != NULL && build[0] != '\0' ? build : "build", dir);
	char *ports = xasprintf("%s/ports", dir);
	pid_t pid;
	int i;

	(void)unlink(ports);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		/* A failed test ends its process: the demo stops with it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	for (i = 0; i < 600 && access(ports, F_OK) != 0; i++) {
		ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), 0);
		usleep(100 * 1000);
	}
	ck_assert_msg(access(ports, F_OK) == 0, "the demo did not start");
	free(ports);
	free(cmd);
	return pid;
}

/*
 * Ctrl-C: SIGINT to the demo's process group; its exit status (130, as a
 * shell reports a command Ctrl-C ended, once everything it ran stopped).
 */
static int
demo_stop(pid_t pid)
{
	int i, status;

	kill(-pid, SIGINT);
	for (i = 0; i < 200; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			return WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status);
		}
		usleep(100 * 1000);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, &status, 0);
	ck_abort_msg("the demo did not stop within 20 s of Ctrl-C");
	return -1;
}

static int64_t
demo_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Whether `drink machines` (as admin) shows machine online within ms: its
 * row's third word from the end (ONLINE, ENABLED, TEMP) is "yes".
 */
static int
demo_online_within(const char *dir, const char *machine, int64_t ms)
{
	char *out = xasprintf("%s/machines.out", dir), *text, *row, *w[3];
	char *want = xasprintf("\n%s ", machine), *save, *tok;
	int64_t end = demo_now_ms() + ms;
	int online = 0, n;

	for (;;) {
		ck_assert_int_eq(h_drink_run("-u admin machines", out, 10000),
		    0);
		text = h_slurp(out, H_SLURP_MAX);
		if ((row = strstr(text, want)) != NULL) {
			row[strcspn(row + 1, "\n") + 1] = '\0';
			n = 0;
			for (tok = strtok_r(row, " \n", &save); tok != NULL;
			    tok = strtok_r(NULL, " \n", &save)) {
				w[n++ % 3] = tok;
			}
			online = n >= 4 && strcmp(w[n % 3], "yes") == 0;
		}
		free(text);
		if (online || demo_now_ms() >= end) {
			break;
		}
		usleep(250 * 1000);
	}
	free(want);
	free(out);
	return online;
}

/*
 * The demo as a user meets it: a simulated machine whose machine an admin
 * switches off exits, and is started again, so that switching it back on
 * brings it back; Ctrl-C leaves nothing running; and a demo whose
 * database was deleted makes it again instead of starting empty.
 */
START_TEST(the_demo_brings_machines_back_and_remakes_a_deleted_database)
{
	char *dir = h_tmpdir(), *conf = xasprintf("%s/drink.conf", dir);
	char *log = xasprintf("%s/machines.log", dir);
	char *out = xasprintf("%s/cli.out", dir), *text, *db;
	int base = demo_free_base(), i;
	pid_t pid;

	pid = demo_start(dir, base);
	setenv("DRINK_CONFIG", conf, 1);
	setenv("DRINK_PASSWORD", "admin", 1);
	ck_assert(demo_online_within(dir, "coffee", 20000));
	ck_assert_int_eq(h_drink_run("-u admin machine-mod coffee --disable",
	    out, 10000), 0);
	/* Its controller, cut off, tries again and is refused: it exits. */
	ck_assert_msg(h_file_wait(log, "run-demo: drink-machine "
	    "for coffee stopped (exit 1); starting it again in 5 s", 30000),
	    "%s", h_slurp(log, H_SLURP_MAX));
	ck_assert(h_file_wait(log, "forbidden: machine is disabled",
	    0));
	ck_assert(!demo_online_within(dir, "coffee", 0));
	ck_assert_int_eq(h_drink_run("-u admin machine-mod coffee --enable",
	    out, 10000), 0);
	ck_assert_msg(demo_online_within(dir, "coffee", 20000),
	    "coffee did not come back");
	ck_assert_int_eq(demo_stop(pid), 130);
	/* Nothing of it is left: its drinkd let go of the database. */
	db = xasprintf("flock -n %s/drink.db.lock true", dir);
	ck_assert_int_eq(system(db), 0);
	free(db);
	for (i = 0; i < 20 && kill(-pid, 0) == 0; i++) {
		usleep(100 * 1000);	/* the last ones being reaped */
	}
	ck_assert_msg(kill(-pid, 0) != 0, "a process of the demo is left");

	db = xasprintf("rm -f %s/drink.db %s/drink.db-wal %s/drink.db-shm",
	    dir, dir, dir);
	ck_assert_int_eq(system(db), 0);
	free(db);
	pid = demo_start(dir, base);
	setenv("DRINK_PASSWORD", "alice", 1);
	ck_assert_int_eq(h_drink_run("-u alice balance", out, 10000), 0);
	text = h_slurp(out, H_SLURP_MAX);
	ck_assert_msg(strstr(text, "1000") != NULL, "%s", text);
	free(text);
	ck_assert(demo_online_within(dir, "bigdrink", 20000));
	ck_assert_int_eq(demo_stop(pid), 130);
	db = xasprintf("%s/out", dir);
	text = h_slurp(db, H_SLURP_MAX);
	ck_assert_msg(strstr(text, "drink.db is missing: making the demo "
	    "database again") != NULL, "%s", text);
	free(text);
	free(db);
	free(out);
	free(log);
	free(conf);
	free(dir);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("lock");
	TCase *tc;
	int failed;

	h_init();
	tc = h_tcase(s, "one server per database", setup, teardown, 120);
	tcase_add_test(tc, a_second_server_on_the_same_database_exits_1);
	tcase_add_test(tc, init_and_useradd_refuse_while_a_server_runs);
	tcase_add_test(tc, a_second_server_leaves_a_pending_drop_alone);
	tcase_add_test(tc, the_lock_dies_with_a_killed_server);
	tc = h_tcase(s, "make run", NULL, NULL, 60);
	tcase_add_test(tc, a_second_make_run_leaves_the_running_demo_alone);
	tcase_add_test(tc, the_demo_port_is_checked_and_a_taken_one_explained);
	tc = h_tcase(s, "the demo running", NULL, NULL, 240);
	tcase_add_test(tc,
	    the_demo_brings_machines_back_and_remakes_a_deleted_database);
	failed = h_run(s);
	return h_finish(failed);
}
