/*
 * drink-machine, the reference controller, run for real (--simulate)
 * against a real drinkd: the drop paths a member sees (vend, jam, empty,
 * a delay waited out while the link stays alive, SIGTERM during a delay),
 * reconnecting with backoff after the server restarts, a certificate the
 * server refuses or a member port given for the machine port ending the
 * program instead of retrying for ever, and a wrong --ca named and retried.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "harness.h"
#include "run.h"

#define CTL_START_MS 20000	/* registered by then */
#define CTL_LOG_MS 20000	/* a line expected in its log */
/* Logged when connections keep ending soon after registering. */
#define CTL_TWIN_HINT "check that no other controller uses this " \
	"machine's certificate"

static struct h_server *srv;
static char *ctl_log;		/* the controller's stderr */
static pid_t ctl_pid;
static pid_t ctl2_pid;		/* a second controller, when a test runs one */

/* A loopback port free right now, for a server that must keep its port. */
static int
free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/*
 * A server whose machine port stays the same across restarts, with m1
 * registered: slot 1 (Cola, 10) and slot 2 (Water, 5).
 */
static void
start_server(const char *more)
{
	char *extra = xasprintf("vend_timeout = 5\n"
	    "ping_interval = 1\nmachine_listen = 127.0.0.1:%d\n%s",
	    free_port(), more);

	srv = h_machine_server_start(extra);
	free(extra);
	h_admin(srv, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Fridge\"}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":1,"
	    "\"item\":\"Cola\",\"price\":10,\"stock\":5}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":2,"
	    "\"item\":\"Water\",\"price\":5,\"stock\":5}", NULL);
}

static void
setup(void)
{
	ctl_log = NULL;
	ctl_pid = 0;
	ctl2_pid = 0;
	start_server("");
}

static void
teardown(void)
{
	run_kill(ctl_pid);
	run_kill(ctl2_pid);
	if (ctl_log != NULL) {
		unlink(ctl_log);
		free(ctl_log);
	}
	h_server_free(srv);
	srv = NULL;
}

/*
 * drink-machine's command line as cert ("machine-m1") with extra words;
 * free with h_argv_free, or hand to ctl_spawn.
 */
static char **
ctl_argv(const char *cert, const char *slots, const char *more1,
    const char *more2)
{
	const char *words[] = { "-v", "--simulate", slots, "--vend-ms", "200",
	    more1, more2, NULL };

	/* more2 only ever follows more1: a NULL more1 ends the words. */
	ck_assert(more1 != NULL || more2 == NULL);
	return h_machine_argv(srv, cert, words);
}

/* Replace the value after option (it must be there) with value (owned). */
static void
ctl_argv_set(char **argv, const char *option, char *value)
{
	size_t i;

	for (i = 0; argv[i] != NULL; i++) {
		if (strcmp(argv[i], option) == 0 && argv[i + 1] != NULL) {
			free(argv[i + 1]);
			argv[i + 1] = value;
			return;
		}
	}
	ck_abort_msg("no %s on drink-machine's command line", option);
}

/* Run argv (freed here), its output going to ctl_log. */
static void
ctl_spawn(char **argv)
{
	const char *const env[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", NULL };
	char *dir = h_tmpdir();

	ctl_log = xasprintf("%s/drink-machine.log", dir);
	ctl_pid = run_spawn((const char *const *)argv, env, ctl_log);
	ck_assert_int_gt(ctl_pid, 0);
	h_argv_free(argv);
	free(dir);
}

/* Start drink-machine as cert ("machine-m1") with extra words. */
static void
ctl_start(const char *cert, const char *slots, const char *more1,
    const char *more2)
{
	ctl_spawn(ctl_argv(cert, slots, more1, more2));
}

static char *
ctl_log_text(void)
{
	return h_slurp(ctl_log, H_SLURP_MAX);
}

/* The end of a log, short enough for a Check failure message. */
static const char *
log_tail(const char *text)
{
	size_t len = strlen(text);

	return len > 1500 ? text + len - 1500 : text;
}

static int
str_count(const char *text, const char *needle)
{
	const char *p = text;
	int n = 0;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

static int
ctl_log_count(const char *needle)
{
	char *text = ctl_log_text();
	int n = str_count(text, needle);

	free(text);
	return n;
}

/* Wait until the controller's log holds needle n times. */
static void
ctl_log_wait(const char *needle, int n)
{
	int64_t deadline = now_ms() + CTL_LOG_MS;
	char *text;

	while (ctl_log_count(needle) < n) {
		if (now_ms() > deadline) {
			text = ctl_log_text();
			ck_abort_msg("no '%s' (x%d) in the controller's log:\n%s",
			    needle, n, text);
		}
		usleep(50000);
	}
}

static void
wait_online(int want)
{
	int64_t deadline = now_ms() + CTL_START_MS;

	while ((h_machine_online(srv, "m1") == 1) != want) {
		if (now_ms() > deadline) {
			char *text = ctl_log_text();

			ck_abort_msg("m1 not %s; controller log:\n%s",
			    want ? "online" : "offline", text);
		}
		usleep(100000);
	}
}

static int64_t
stock(int slot)
{
	return h_sql_int(srv, "SELECT stock FROM slots WHERE machine = 'm1' "
	    "AND slot = %d", slot);
}

/* ---- the drop paths --------------------------------------------------- */

START_TEST(vend_charges_and_counts_stock_down)
{
	struct h_client *a;
	cJSON *r;

	ctl_start("machine-m1", "1:5,2:5", NULL, NULL);
	wait_online(1);
	a = h_connect_as(srv, "alice", "alicepw");
	r = h_call(a, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":1}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 90);
	cJSON_Delete(r);
	h_close(a);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ctl_log_wait("slot 1 dropped", 1);
	ctl_log_wait("\"event\":\"slots\",\"slots\":[{\"slot\":1,"
	    "\"stock\":4}", 1);
	/* The sensed count stands (PROTOCOL.md section 7): 4, not 3. */
	{
		int64_t deadline = now_ms() + CTL_LOG_MS;

		while (stock(1) != 4 && now_ms() < deadline) {
			usleep(50000);
		}
	}
	ck_assert_int_eq(stock(1), 4);
	ck_assert_int_eq(h_check_ledger(srv), 0);
}
END_TEST

START_TEST(jam_charges_nothing)
{
	struct h_client *a;
	cJSON *r;

	ctl_start("machine-m1", "1:5,2:5", "--fail-rate", "1");
	wait_online(1);
	a = h_connect_as(srv, "alice", "alicepw");
	r = h_call(a, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":1}");
	H_ASSERT_ERROR(r, "drop_failed");
	cJSON_Delete(r);
	h_close(a);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx "
	    "WHERE kind = 'drop' AND state = 'completed'"), 0);
	ck_assert_int_eq(h_check_ledger(srv), 0);
}
END_TEST

/* The simulator senses slot 2 empty and says so on registering. */
START_TEST(empty_slot_charges_nothing)
{
	struct h_client *a;
	cJSON *r;

	ctl_start("machine-m1", "1:5,2:0", NULL, NULL);
	wait_online(1);
	a = h_connect_as(srv, "alice", "alicepw");
	r = h_call(a, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":2}");
	H_ASSERT_ERROR(r, "slot_empty");
	cJSON_Delete(r);
	h_close(a);
	ck_assert_int_eq(stock(2), 0);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(h_check_ledger(srv), 0);
}
END_TEST

/*
 * A 4 s delay, with the server pinging every second: the controller keeps
 * answering, so the machine stays online, and vends once the delay is up.
 */
START_TEST(delay_is_waited_out_while_talking)
{
	struct h_client *a;
	int64_t start, took;
	cJSON *r;

	ctl_start("machine-m1", "1:5,2:5", NULL, NULL);
	wait_online(1);
	a = h_connect_as(srv, "alice", "alicepw");
	start = now_ms();
	h_send(a, "{\"id\":1,\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":1,"
	    "\"delay\":4}");
	usleep(2500000);
	ck_assert_int_eq(h_machine_online(srv, "m1"), 1);
	/* Not dropped yet: the drop is still pending. */
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'drop' AND state = 'completed'"), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'drop' AND state = 'pending'"), 1);
	r = h_read(a);
	took = now_ms() - start;
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_msg(took >= 4000, "vended after %lld ms", (long long)took);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(h_machine_online(srv, "m1"), 1);
	h_close(a);
	ck_assert_int_eq(ctl_log_count("connecting to"), 1);
}
END_TEST

START_TEST(sigterm_during_a_delay_cancels_without_vending)
{
	struct h_client *a;
	cJSON *r;

	ctl_start("machine-m1", "1:5,2:5", NULL, NULL);
	wait_online(1);
	a = h_connect_as(srv, "alice", "alicepw");
	h_send(a, "{\"id\":1,\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":1,"
	    "\"delay\":20}");
	ctl_log_wait("vend", 1);
	usleep(500000);
	ck_assert_int_eq(kill(ctl_pid, SIGTERM), 0);
	ck_assert_int_eq(run_wait(ctl_pid, 10000), 0);
	ctl_pid = 0;
	r = h_read(a);
	ck_assert_msg(!h_ok(r), "the drop went through: %s", h_text(r));
	cJSON_Delete(r);
	h_close(a);
	ck_assert_int_gt(ctl_log_count("cancelled before dropping"), 0);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(stock(1), 5);
	ck_assert_int_eq(h_check_ledger(srv), 0);
}
END_TEST

/*
 * alice's card 04a2b3c4 bound, and m1's controller (slots 1 and 2, five
 * each) online, reading taps from cards.
 */
static void
card_ctl_start(const char *cards)
{
	struct h_client *a = h_connect_as(srv, "alice", "alicepw");
	cJSON *r = h_call(a, "{\"cmd\":\"card_add\",\"card\":\"04a2b3c4\"}");

	H_ASSERT_OK(r);
	cJSON_Delete(r);
	h_close(a);
	ctl_start("machine-m1", "1:5,2:5", "--card-file", cards);
	wait_online(1);
}

/*
 * A card tap buys from the slot and the person at the machine gets the
 * outcome in the log: who paid and the balance, or why it was refused.
 */
START_TEST(card_drop_outcomes_are_logged)
{
	char *dir = h_tmpdir(), *cards = xasprintf("%s/cards", dir);
	FILE *f;

	card_ctl_start(cards);
	ck_assert_ptr_nonnull(f = fopen(cards, "a"));
	fputs("04a2b3c4 1\n", f);
	fclose(f);
	ctl_log_wait("card drop \"card1\" done: alice charged, balance 90",
	    1);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_ptr_nonnull(f = fopen(cards, "a"));
	fputs("ffffffff 1\n", f);
	fclose(f);
	ctl_log_wait("server refused card drop \"card2\": bad_credentials", 1);
	/* A ping's answer is not taken for a card's. */
	ck_assert_int_eq(ctl_log_count("card drop \"c"), 2);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	free(cards);
	free(dir);
}
END_TEST

/*
 * A FIFO given as --card-file: opening it would wait for a writer, and
 * the controller with it.  It is refused and the link stays alive.
 */
START_TEST(a_fifo_card_file_does_not_block)
{
	char *dir = h_tmpdir(), *fifo = xasprintf("%s/fifo", dir);

	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ctl_start("machine-m1", "1:5,2:5", "--card-file", fifo);
	wait_online(1);
	ctl_log_wait("is not a regular file; the simulated card reader is "
	    "off", 1);
	ctl_log_wait("send: {\"event\":\"temperature\"", 1);
	ck_assert_int_eq(kill(ctl_pid, SIGTERM), 0);
	ck_assert_int_eq(run_wait(ctl_pid, 5000), 0);
	ctl_pid = 0;
	unlink(fifo);
	free(fifo);
	free(dir);
}
END_TEST

/* ---- the link --------------------------------------------------------- */

START_TEST(reconnects_with_backoff_after_server_restart)
{
	struct h_client *a;
	int attempts;
	cJSON *r;

	ctl_start("machine-m1", "1:5,2:5", NULL, NULL);
	wait_online(1);
	ck_assert_int_eq(h_server_stop(srv), 0);
	/* Down for 4 s: 0.5, 1, 2 s backoff, randomised: 2 to 6 tries. */
	usleep(4000000);
	attempts = ctl_log_count("reconnecting in");
	ck_assert_msg(attempts >= 2 && attempts <= 6, "%d attempts in 4 s",
	    attempts);
	h_server_restart(srv);
	wait_online(1);
	ctl_log_wait("registered with", 2);
	a = h_connect_as(srv, "alice", "alicepw");
	r = h_call(a, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":1}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	h_close(a);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	/*
	 * Registered for less than 30 s when the server stopped, yet a
	 * restart: the server was then away, not taken by a twin.
	 */
	ck_assert_int_eq(ctl_log_count(CTL_TWIN_HINT), 0);
	ck_assert_int_eq(ctl_log_count("after registering"), 0);
}
END_TEST

/*
 * Two controllers with one certificate: the server keeps the newest
 * connection, so each registration closes the other's.  The backoff must
 * still grow (in 8 s: 0.25 + 0.5 + 1 + 2 + 4 s of waiting at least, five
 * reconnections each), not start again at 0.5 s after every registration
 * (over twenty between them), and the log says what to look for.
 */
START_TEST(a_twin_controller_does_not_hammer_the_server)
{
	const char *const env[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", NULL };
	char **argv = ctl_argv("machine-m1", "1:5,2:5", NULL, NULL);
	char *dir = h_tmpdir(), *log2 = xasprintf("%s/twin.log", dir);
	char *text2;
	int first, total;

	ctl_start("machine-m1", "1:5,2:5", NULL, NULL);
	wait_online(1);
	first = ctl_log_count("registered with");
	ctl2_pid = run_spawn((const char *const *)argv, env, log2);
	ck_assert_int_gt(ctl2_pid, 0);
	usleep(8000000);
	run_kill(ctl2_pid);
	ctl2_pid = 0;
	text2 = h_slurp(log2, H_SLURP_MAX);
	total = ctl_log_count("registered with") - first +
	    str_count(text2, "registered with");
	ck_assert_msg(total >= 2 && total <= 14, "%d registrations in 8 s",
	    total);
	ck_assert_int_gt(ctl_log_count(CTL_TWIN_HINT) +
	    str_count(text2, CTL_TWIN_HINT), 0);
	free(text2);
	free(log2);
	free(dir);
	h_argv_free(argv);
}
END_TEST

/*
 * A card tapped while the server is away got no answer; it must not buy
 * anything once the controller is back, minutes later perhaps.
 */
START_TEST(a_tap_while_offline_charges_nobody)
{
	char *dir = h_tmpdir(), *cards = xasprintf("%s/cards", dir);
	FILE *f;

	card_ctl_start(cards);
	ck_assert_int_eq(h_server_stop(srv), 0);
	ctl_log_wait("reconnecting in", 1);
	ck_assert_ptr_nonnull(f = fopen(cards, "a"));
	fputs("04a2b3c4 1\n", f);
	fclose(f);
	usleep(1000000);
	h_server_restart(srv);
	wait_online(1);
	ctl_log_wait("ignored 1 card tap made while the machine was not "
	    "connected", 1);
	/* Taps after that buy as usual. */
	ck_assert_ptr_nonnull(f = fopen(cards, "a"));
	fputs("04a2b3c4 2\n", f);
	fclose(f);
	ctl_log_wait("card drop \"card1\" done: alice charged, balance 95",
	    1);
	ck_assert_int_eq(h_balance(srv, "alice"), 95);
	ck_assert_int_eq(stock(1), 5);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'drop'"), 1);
	free(cards);
	free(dir);
}
END_TEST

/* A certificate for a machine the server does not know: forbidden. */
START_TEST(refused_certificate_exits_1_without_retrying)
{
	int st;

	ctl_start("machine-ghost", "1:5", NULL, NULL);
	st = run_wait(ctl_pid, 20000);
	ck_assert_msg(st == 1, "exit %d; log:\n%s", st, ctl_log_text());
	ctl_pid = 0;
	ck_assert_int_eq(ctl_log_count("connecting to"), 1);
	ck_assert_int_eq(ctl_log_count("reconnecting in"), 0);
	ck_assert_int_eq(ctl_log_count("the server refused this machine"),
	    1);
	/* Where it is mended, and with what. */
	ck_assert_int_eq(ctl_log_count("the server refused this machine: "
	    "forbidden: not a registered machine; the server's log says how "
	    "to let it in (an admin's drink machine-add, or machine-mod "
	    "--enable, for the id in --cert's CN)"), 1);
}
END_TEST

/*
 * A revoked certificate is refused by the server's TLS alert: the same
 * certificate cannot succeed later, so the controller stops with 1.
 */
START_TEST(revoked_certificate_exits_1_without_retrying)
{
	char *crl = h_cert_path("crl.pem"), *more = xasprintf("crl = %s", crl);
	int st;

	h_server_free(srv);
	start_server(more);
	free(more);
	free(crl);
	ctl_start("revoked-m1", "1:5", NULL, NULL);
	st = run_wait(ctl_pid, 20000);
	ck_assert_msg(st == 1, "exit %d; log:\n%s", st, ctl_log_text());
	ctl_pid = 0;
	ck_assert_int_eq(ctl_log_count("connecting to"), 1);
	ck_assert_int_eq(ctl_log_count("reconnecting in"), 0);
	ck_assert_int_eq(ctl_log_count("the server refused this machine's "
	    "certificate"), 1);
	/* The server logs the failed handshake after its alert went out. */
	ck_assert_msg(h_server_log_wait(srv, "certificate revoked", 10000),
	    "the server's log does not say the certificate was revoked");
}
END_TEST

/*
 * A key readable by a group other than drink-machine's is refused before
 * connecting, and the refusal names drink-machine's group, not drinkd's.
 */
START_TEST(a_key_readable_by_another_group_is_refused)
{
	char *dir = h_tmpdir(), *key = xasprintf("%s/m1.key", dir);
	char *src = h_cert_path("machine-m1.key"), *cmd, *text, *want;
	int st;

	cmd = xasprintf("cp %s %s", src, key);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(chown(key, (uid_t)-1, getegid() == 0 ? 1 : 0), 0);
	ck_assert_int_eq(chmod(key, 0640), 0);
	ctl_start("machine-m1", "1:5", "--key", key);
	st = run_wait(ctl_pid, 20000);
	ctl_pid = 0;
	text = ctl_log_text();
	want = xasprintf("not drink-machine's group %u (mode 640); chmod 600 "
	    "it, or 640 with drink-machine's group", (unsigned)getegid());
	ck_assert_msg(st == 1 && strstr(text, want) != NULL, "exit %d:\n%s",
	    st, text);
	ck_assert_int_eq(ctl_log_count("connecting to"), 0);
	free(want);
	free(text);
	free(cmd);
	free(src);
	free(key);
	free(dir);
}
END_TEST

/*
 * The converse, as --help promises: 0640 with drink-machine's own group
 * is a private key (Debian's ssl-cert convention), and the machine runs.
 */
START_TEST(a_key_readable_by_its_own_group_is_accepted)
{
	const char *const env[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", NULL };
	char *dir = h_tmpdir(), *key = xasprintf("%s/m1.key", dir);
	char *src = h_cert_path("machine-m1.key"), *cmd;
	char *bin = run_bin("drink-machine");
	const char *argv[] = { bin, "--help", NULL };
	struct run_result r;

	run_prog(argv, env, NULL, NULL, 10000, &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "mode 600, or 640 with drink-machine's\n"
	    "                        own group") != NULL, "--help says:\n%s",
	    r.out);
	run_result_free(&r);
	cmd = xasprintf("cp %s %s", src, key);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(chown(key, (uid_t)-1, getegid()), 0);
	ck_assert_int_eq(chmod(key, 0640), 0);
	ctl_start("machine-m1", "1:5", "--key", key);
	wait_online(1);
	free(bin);
	free(cmd);
	free(src);
	free(key);
	free(dir);
}
END_TEST

/* A disabled machine is refused the same way, once. */
START_TEST(disabled_machine_exits_1_without_retrying)
{
	int st;

	h_admin(srv, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"enabled\":false}", NULL);
	ctl_start("machine-m1", "1:5", NULL, NULL);
	st = run_wait(ctl_pid, 20000);
	ck_assert_msg(st == 1, "exit %d; log:\n%s", st, ctl_log_text());
	ctl_pid = 0;
	ck_assert_int_eq(ctl_log_count("connecting to"), 1);
}
END_TEST

/*
 * Pointed at the member port by mistake: drinkd greets it as a member and
 * answers register with unknown_command.  No retry can change that, so
 * the controller says which port it should use and exits 1, once.
 */
START_TEST(member_port_exits_1_naming_the_machine_port)
{
	char **argv = ctl_argv("machine-m1", "1:5", NULL, NULL);
	char *want, *text;
	int st;

	ctl_argv_set(argv, "-p", xasprintf("%d", srv->port));
	ctl_spawn(argv);
	st = run_wait(ctl_pid, 20000);
	text = ctl_log_text();
	ck_assert_msg(st == 1, "exit %d; log ends:\n%s", st, log_tail(text));
	ctl_pid = 0;
	want = xasprintf("localhost:%d is not a machine port (it does not "
	    "know register): use the server's machine port (machine_listen, "
	    "4343 by default)", srv->port);
	ck_assert_msg(strstr(text, want) != NULL, "no '%s' in:\n%s", want,
	    log_tail(text));
	ck_assert_int_eq(ctl_log_count(want), 1);
	ck_assert_int_eq(ctl_log_count("connecting to"), 1);
	ck_assert_int_eq(ctl_log_count("reconnecting in"), 0);
	ck_assert_int_eq(ctl_log_count("registration refused"), 0);
	ck_assert_int_eq(h_machine_online(srv, "m1"), 0);
	free(want);
	free(text);
}
END_TEST

/*
 * Verifying the server with a CA that did not sign its certificate: the
 * log names the --ca file and says so.  The server's certificate can be
 * replaced while the controller waits, so it keeps retrying, as
 * drink-machine(1) promises for a certificate that does not verify.
 */
START_TEST(wrong_server_ca_is_named_and_retried)
{
	char **argv = ctl_argv("machine-m1", "1:5", NULL, NULL);
	char *ca = h_cert_path("other-ca.crt"), *want, *text;

	ctl_argv_set(argv, "--ca", xstrdup(ca));
	ctl_spawn(argv);
	want = xasprintf("the server's certificate is not signed by the CA "
	    "in --ca %s", ca);
	ctl_log_wait(want, 2);
	ctl_log_wait("reconnecting in", 2);
	ck_assert_int_eq(run_wait(ctl_pid, 0), -2);
	/* Every failed verification names the file, not just the first. */
	text = ctl_log_text();
	ck_assert_int_eq(str_count(text, "certificate verify failed"),
	    str_count(text, want));
	ck_assert_int_eq(h_machine_online(srv, "m1"), 0);
	free(text);
	free(want);
	free(ca);
}
END_TEST

/*
 * -H a name the server's certificate is not for (DRINK_SERVER mistyped in
 * the unit's .env file): the log says which names it is for, and the
 * controller keeps retrying, as for a CA that does not verify it.
 */
START_TEST(wrong_server_name_is_named_and_retried)
{
	char **argv = ctl_argv("machine-m1", "1:5", NULL, NULL);
	const char *want = "hostname mismatch: the server's certificate is "
	    "for localhost, 127.0.0.1, ::1, not 127.1; -H must be one of "
	    "those (DRINK_SERVER in drink-machine@.service's .env file)";

	/* 127.1 reaches 127.0.0.1, but is no name in the certificate. */
	ctl_argv_set(argv, "-H", xstrdup("127.1"));
	ctl_spawn(argv);
	ctl_log_wait(want, 2);
	ctl_log_wait("reconnecting in", 2);
	ck_assert_int_eq(run_wait(ctl_pid, 0), -2);
	ck_assert_int_eq(h_machine_online(srv, "m1"), 0);
}
END_TEST

static Suite *
controller_suite(void)
{
	Suite *s = suite_create("controller");
	TCase *tc;

	tc = h_tcase(s, "drops through the real controller", setup, teardown,
	    90);
	tcase_add_test(tc, vend_charges_and_counts_stock_down);
	tcase_add_test(tc, jam_charges_nothing);
	tcase_add_test(tc, empty_slot_charges_nothing);
	tcase_add_test(tc, delay_is_waited_out_while_talking);
	tcase_add_test(tc, sigterm_during_a_delay_cancels_without_vending);
	tcase_add_test(tc, card_drop_outcomes_are_logged);
	tcase_add_test(tc, a_fifo_card_file_does_not_block);
	tc = h_tcase(s, "the controller's link", setup, teardown, 90);
	tcase_add_test(tc, reconnects_with_backoff_after_server_restart);
	tcase_add_test(tc, a_twin_controller_does_not_hammer_the_server);
	tcase_add_test(tc, a_tap_while_offline_charges_nobody);
	tcase_add_test(tc, refused_certificate_exits_1_without_retrying);
	tcase_add_test(tc, disabled_machine_exits_1_without_retrying);
	tcase_add_test(tc, revoked_certificate_exits_1_without_retrying);
	tcase_add_test(tc, a_key_readable_by_another_group_is_refused);
	tcase_add_test(tc, a_key_readable_by_its_own_group_is_accepted);
	tcase_add_test(tc, member_port_exits_1_naming_the_machine_port);
	tcase_add_test(tc, wrong_server_ca_is_named_and_retried);
	tcase_add_test(tc, wrong_server_name_is_named_and_retried);
	return s;
}

int
main(void)
{
	int failed;

	h_init();
	failed = h_run(controller_suite());
	return h_finish(failed);
}
