/*
 * The tini board listener (LEGACY.md section 3), byte for byte: the
 * login line and its refusals, nothing sent before the login is answered,
 * "1\n6\n" after it, vends as "3<slot>\n" answered by "4" or "5", a late
 * answer that moves nothing, slot states, temperatures, silence, and
 * replacement.  Boards present machine certificates over TLS, as their
 * wrapper would; the last case runs a simulated board (tini-board.c)
 * through socat, the deployment docs/legacy.md describes.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "legacy.h"
#include "tini-board.h"

#define TINI_TIMEOUT 90

static struct h_server *srv;

static void
tini_start(const char *more)
{
	char *conf = xasprintf("vend_timeout = 2\n"
	    "tini_listen = 127.0.0.1:0\n%s", more != NULL ? more : "");

	srv = h_machine_server_start(conf);
	free(conf);
	h_admin(srv, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Big Drink\"}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":1,"
	    "\"item\":\"Coke\",\"price\":10,\"stock\":5}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":2,"
	    "\"item\":\"Jolt\",\"price\":10,\"stock\":0}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":3,"
	    "\"item\":\"Mate\",\"price\":10,\"stock\":4}",
	    "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"legacy_password\":\"password\"}", NULL);
}

static void
setup(void)
{
	tini_start(NULL);
}

static void
teardown(void)
{
	h_server_free(srv);
	srv = NULL;
}

static struct h_client *
board_dial(const char *cert)
{
	char err[512];
	struct h_client *c = h_tls_dial(lg_port(srv, "tini_listen"), cert,
	    err, sizeof(err));

	ck_assert_msg(c != NULL, "tini connect: %s", err);
	return c;
}

/* A board for m1, logged in, its "1\n6\n" read. */
static struct h_client *
board_login(const char *login)
{
	struct h_client *b = board_dial("machine-m1");

	lg_say(b, login, "1\n6\n");
	return b;
}

static int
wait_online(int want)
{
	int64_t deadline = now_ms() + 10000;

	while (h_machine_online(srv, "m1") != want && now_ms() < deadline) {
		usleep(50 * 1000);
	}
	return h_machine_online(srv, "m1") == want;
}

static int64_t
stock(int slot)
{
	return h_sql_int(srv, "SELECT stock FROM slots WHERE machine = 'm1' "
	    "AND slot = %d", slot);
}

static void
ledger_clean(void)
{
	ck_assert_int_eq(h_check_ledger(srv), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx"
	    " WHERE state = 'pending'"), 0);
}

/* ---- login ----------------------------------------------------------- */

START_TEST(tini_login_forms)
{
	struct h_client *b = board_dial("machine-m1");

	/* Nothing is written before the board speaks. */
	ck_assert(lg_quiet(b, 500));
	ck_assert_int_eq(h_machine_online(srv, "m1"), 0);
	lg_say(b, "0password\n", "1\n6\n");
	ck_assert(wait_online(1));
	/* A later 0 is ignored: nothing comes back. */
	lg_send(b, "0password\n");
	ck_assert(lg_quiet(b, 300));
	h_close(b);
	ck_assert(wait_online(0));
	b = board_login("0 password \r\n");
	h_close(b);
}
END_TEST

START_TEST(tini_login_refusals)
{
	static const char *const bad[] = { "0wrong\n", "0\n", "9\n",
		"71 1\n", "password\n" };
	struct h_client *b;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = board_dial("machine-m1");
		lg_say(b, bad[i], "2\n");
		ck_assert_msg(h_closed(b), "open after %s", bad[i]);
		h_close(b);
	}
	/* A CN that names no machine, right password or not. */
	b = board_dial("machine-m2");
	lg_say(b, "0password\n", "2\n");
	ck_assert(h_closed(b));
	h_close(b);
	ck_assert_int_eq(h_machine_online(srv, "m1"), 0);
}
END_TEST

/*
 * A board whose certificate the machine port would refuse (LEGACY.md 1,
 * section 4's rejection matrix) never logs in: refused at the handshake
 * (tls: nothing at all comes back, not even "2"), or, when TLS accepts
 * it, "2\n" then close; the log names the reason and m1 stays offline.
 */
static void
board_refused(const char *cert, int tls, const char *reason)
{
	char err[512];
	struct h_client *b = h_tls_dial(lg_port(srv, "tini_listen"), cert,
	    err, sizeof(err));

	if (!tls) {
		ck_assert_msg(b != NULL, "%s: %s", cert, err);
		lg_say(b, "0password\n", "2\n");
		ck_assert_msg(h_closed(b), "%s: open after 2", cert);
	} else if (b != NULL) {
		/* TLS 1.3: a refused client certificate shows on first read. */
		if (h_send_raw(b, "0password\n", 10) == CONN_OK) {
			ck_assert_msg(h_read_line(b, 5000) != CONN_OK,
			    "%s: got \"%s\"", cert != NULL ? cert : "no "
			    "certificate", b->line);
		}
	}
	h_close(b);
	ck_assert_msg(h_server_log_wait(srv, reason, 5000),
	    "log lacks \"%s\" for %s", reason,
	    cert != NULL ? cert : "no certificate");
	ck_assert_int_eq(h_machine_online(srv, "m1"), 0);
}

START_TEST(tini_login_refuses_bad_certificates)
{
	board_refused(NULL, 1, "peer did not return a certificate");
	board_refused("wrongca-m1", 1, "unable to get local issuer "
	    "certificate");
	board_refused("expired-m1", 1, "certificate has expired");
	board_refused("serveronly-m1", 1, "unsuitable certificate purpose");
	board_refused("noeku-m1", 0, "CN \"m1\": certificate has no usable "
	    "CN or lacks clientAuth");
	h_admin(srv, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"enabled\":false}", NULL);
	board_refused("machine-m1", 0, "CN \"m1\": machine is disabled");
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM sessions"
	    " WHERE kind = 'machine'"), 0);
	/* Enabled again, the same certificate logs in. */
	h_admin(srv, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"enabled\":true}", NULL);
	h_close(board_login("0password\n"));
}
END_TEST

/* With a CRL loaded, a revoked certificate is refused at the handshake. */
START_TEST(tini_login_refuses_revoked_certificate)
{
	char *crl = h_cert_path("crl.pem"), *more;

	h_server_free(srv);
	more = xasprintf("crl = %s\n", crl);
	tini_start(more);
	free(more);
	free(crl);
	board_refused("revoked-m1", 1, "certificate revoked");
	/* An unrevoked certificate still logs in with the CRL loaded. */
	h_close(board_login("0password\n"));
}
END_TEST

START_TEST(tini_login_lockout)
{
	struct h_client *b;
	int i;

	for (i = 0; i < 6; i++) {
		b = board_dial("machine-m1");
		lg_say(b, "0nope\n", "2\n");
		h_close(b);
	}
	b = board_dial("machine-m1");
	lg_say(b, "0password\n", "2\n");
	h_close(b);
	ck_assert(h_server_log_wait(srv, "warning: throttling tini board "
	    "logins as machine m1: 5 failures in a row, locked for 1 s",
	    5000));
}
END_TEST

START_TEST(tini_login_no_password_set)
{
	struct h_client *b;

	h_admin(srv, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"legacy_password\":\"\"}", NULL);
	b = board_login("0\n");
	h_close(b);
	ck_assert(wait_online(0));
	b = board_login("0 herpin_my_derp\n");
	h_close(b);
	/* The hash is stored, never the password, and never shown. */
	h_admin(srv, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"legacy_password\":\"s3cret pw\"}", NULL);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM machines WHERE "
	    "legacy_hash LIKE '$argon2id$%%'"), 1);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM audit WHERE "
	    "args LIKE '%%s3cret%%'"), 0);
}
END_TEST

START_TEST(tini_legacy_password_checked)
{
	struct h_client *a = h_connect_as(srv, "admin", "adminpw");

	h_expect(a, "bad_request", "{\"cmd\":\"machine_mod\","
	    "\"machine\":\"m1\",\"legacy_password\":\" edge\"}");
	h_expect(a, "bad_request", "{\"cmd\":\"machine_mod\","
	    "\"machine\":\"m1\",\"legacy_password\":\"tab\\there\"}");
	h_expectf(a, "bad_request", "{\"cmd\":\"machine_mod\","
	    "\"machine\":\"m1\",\"legacy_password\":\"x%064d\"}", 0);
	h_expect(a, "no_such_machine", "{\"cmd\":\"machine_mod\","
	    "\"machine\":\"zz\",\"legacy_password\":\"abc\"}");
	h_close(a);
}
END_TEST

START_TEST(tini_handshake_timeout_silent_close)
{
	struct h_client *b;

	h_server_free(srv);
	tini_start("handshake_timeout = 1");
	b = board_dial("machine-m1");
	ck_assert_int_eq(h_read_line(b, 5000), CONN_EOF);
	h_close(b);
}
END_TEST

/* Blank lines before the login do not stretch handshake_timeout. */
START_TEST(tini_blank_lines_do_not_stretch_the_login_deadline)
{
	struct h_client *b;
	int64_t t0;
	int rc = CONN_TIMEOUT;

	h_server_free(srv);
	tini_start("handshake_timeout = 2");
	b = board_dial("machine-m1");
	t0 = now_ms();
	while (rc == CONN_TIMEOUT && now_ms() - t0 < 6000) {
		(void)h_send_raw(b, "\n", 1);
		rc = h_read_line(b, 400);
	}
	ck_assert_int_eq(rc, CONN_EOF);
	ck_assert_msg(now_ms() - t0 < 3500, "closed after %lld ms",
	    (long long)(now_ms() - t0));
	h_close(b);
}
END_TEST

/*
 * Nor does a login line begun before handshake_timeout and ended after
 * it: the line is due within it, not begun (LEGACY.md 3.1).
 */
START_TEST(tini_login_line_ended_late_is_silently_closed)
{
	struct h_client *b;
	int rc;

	h_server_free(srv);
	tini_start("handshake_timeout = 2");
	b = board_dial("machine-m1");
	usleep(1500 * 1000);
	ck_assert_int_eq(h_send_raw(b, "0pass", 5), CONN_OK);
	usleep(1500 * 1000);
	(void)h_send_raw(b, "word\n", 5);
	rc = h_read_line(b, 5000);
	ck_assert_msg(rc == CONN_EOF, "the board got \"%s\" (%d), not a "
	    "silent close", rc == CONN_OK ? b->line : "", rc);
	ck_assert(h_server_log_wait(srv, "no login (timed out)", 5000));
	ck_assert(!h_machine_online(srv, "m1"));
	h_close(b);
}
END_TEST

/* A first line longer than max_line is not a login: "2", then close. */
START_TEST(tini_login_line_too_long_refused)
{
	struct h_client *b;
	char *line;

	h_server_free(srv);
	tini_start("max_line = 256\n");
	b = board_dial("machine-m1");
	line = xmalloc(400);
	memset(line, 'x', 399);
	line[0] = '0';
	line[399] = '\0';
	lg_send(b, line);
	lg_expect(b, "2\n");
	ck_assert(h_closed(b));
	ck_assert(h_server_log_wait(srv, "no login (line longer than 256 "
	    "bytes)", 10000));
	ck_assert(!h_machine_online(srv, "m1"));
	free(line);
	h_close(b);
}
END_TEST

/* ---- vends ----------------------------------------------------------- */

/* alice, bob (credited 100) and admin, logged in, for three drops. */
static void
three_members(struct h_client **a, struct h_client **c,
    struct h_client **d)
{
	h_admin(srv, "{\"cmd\":\"credit\",\"user\":\"bob\",\"amount\":100,"
	    "\"note\":\"test\"}", NULL);
	*a = h_connect_as(srv, "alice", "alicepw");
	*c = h_connect_as(srv, "bob", "bobpw");
	*d = h_connect_as(srv, "admin", "adminpw");
}

/* Each of the three was charged 10, once. */
static void
three_members_charged_once(void)
{
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(h_balance(srv, "bob"), 90);
	ck_assert_int_eq(h_balance(srv, "admin"), 990);
}

/* A member drop of slot on m1, not waiting for its reply. */
static struct h_client *
member_drop(int slot)
{
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	char line[96];

	snprintf(line, sizeof(line), "{\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":%d}", slot);
	h_send(c, line);
	return c;
}

/*
 * alice drops slot 3 of m1 and board b vends it: the reply is ok, with
 * balance unless that is negative.
 */
static void
member_drop_vended(struct h_client *b, int64_t balance)
{
	struct h_client *c = member_drop(3);
	cJSON *r;

	lg_expect(b, "33\n");
	lg_send(b, "4\n");
	r = h_read(c);
	H_ASSERT_OK(r);
	ck_assert(balance < 0 || h_num(r, "balance") == balance);
	cJSON_Delete(r);
	h_close(c);
}

START_TEST(tini_vend_ack_captures)
{
	struct h_client *b = board_login("0password\n");
	struct h_client *c = member_drop(3);
	cJSON *r;

	lg_expect(b, "33\n");
	ck_assert(lg_quiet(b, 200));
	lg_send(b, "4\n");
	r = h_read(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 90);
	cJSON_Delete(r);
	ck_assert_int_eq(stock(3), 3);
	/* The firmware's report after the drop does not undo the count. */
	lg_send(b, "71 1`2 0`3 1\n");
	h_expect(c, NULL, "{\"cmd\":\"ping\"}");
	ck_assert_int_eq(stock(3), 3);
	ledger_clean();
	h_close(c);
	h_close(b);
}
END_TEST

/*
 * Three members' drops queue at one board: one vend at a time (nothing
 * more is written while one is at the board), in the order the drops
 * arrived (LEGACY.md 3.3), each charged on its own "4".
 */
START_TEST(tini_vends_one_at_a_time_in_fifo_order)
{
	struct h_client *b = board_login("0password\n");
	struct h_client *a, *c, *d;
	cJSON *r;

	three_members(&a, &c, &d);
	h_send(a, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":1}");
	lg_expect(b, "31\n");		/* alice's */
	h_send(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	ck_assert_int_eq(h_sql_wait(srv, 2, "SELECT count(*) FROM tx WHERE "
	    "state = 'pending'"), 2);
	usleep(200 * 1000);		/* bob's is in line */
	h_send(d, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":1}");
	ck_assert_int_eq(h_sql_wait(srv, 3, "SELECT count(*) FROM tx WHERE "
	    "state = 'pending'"), 3);
	ck_assert(lg_quiet(b, 200));
	lg_send(b, "4\n");
	r = h_read(a);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 90);
	cJSON_Delete(r);
	lg_expect(b, "33\n");		/* bob's */
	ck_assert(lg_quiet(b, 200));
	lg_send(b, "4\n");
	r = h_read(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 90);
	cJSON_Delete(r);
	lg_expect(b, "31\n");		/* the admin's */
	ck_assert(lg_quiet(b, 200));
	lg_send(b, "4\n");
	r = h_read(d);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 990);
	cJSON_Delete(r);
	three_members_charged_once();
	ck_assert_int_eq(stock(1), 3);
	ck_assert_int_eq(stock(3), 3);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'drop' AND state = 'completed'"), 3);
	ledger_clean();
	h_close(d);
	h_close(c);
	h_close(a);
	h_close(b);
}
END_TEST

/*
 * A capture lowers the stock by one but never below 0 (LEGACY.md 3.4):
 * the board senses slot 1 empty ("71 0") while its vend is out, then
 * confirms it; the member is charged and the stock stays 0.
 */
START_TEST(tini_capture_never_takes_stock_below_zero)
{
	struct h_client *b = board_login("0password\n");
	struct h_client *c = member_drop(1);
	cJSON *r;

	lg_expect(b, "31\n");
	lg_send(b, "71 0\n4\n");
	r = h_read(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 90);
	cJSON_Delete(r);
	ck_assert_int_eq(stock(1), 0);
	/* The firmware's report after the drop leaves it there. */
	lg_send(b, "71 0`2 0`3 1\n");
	h_expect(c, NULL, "{\"cmd\":\"ping\"}");
	usleep(200 * 1000);
	ck_assert_int_eq(stock(1), 0);
	ck_assert_int_eq(stock(3), 4);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ledger_clean();
	h_close(c);
	h_close(b);
}
END_TEST

START_TEST(tini_vend_delay_waited_by_drinkd)
{
	struct h_client *b = board_login("0password\n");
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	int64_t t0 = now_ms();
	cJSON *r;

	h_send(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":1,"
	    "\"delay\":1}");
	lg_expect(b, "31\n");
	ck_assert_int_ge(now_ms() - t0, 900);
	lg_send(b, "4\n");
	r = h_read(c);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ledger_clean();
	h_close(c);
	h_close(b);
}
END_TEST

/*
 * LEGACY.md section 3.3: a delay is waited out before the vend queues, so
 * it holds up no one, and vend_timeout (2 s here) runs from the write of
 * "3<slot>", so a drop that queued behind another has all of it.
 */
START_TEST(tini_delay_holds_up_no_one_and_the_timeout_runs_from_the_write)
{
	struct h_client *b = board_login("0password\n");
	struct h_client *a, *c, *d;
	int64_t t0;
	cJSON *r;

	three_members(&a, &c, &d);
	t0 = now_ms();
	h_send(a, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":1,"
	    "\"delay\":4}");
	h_send(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	lg_expect(b, "33\n");		/* bob's, at once */
	ck_assert_int_lt(now_ms() - t0, 1500);
	h_send(d, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	usleep(1300 * 1000);
	lg_send(b, "4\n");
	r = h_read(c);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	lg_expect(b, "33\n");		/* the admin's, 1.3 s after the drop */
	usleep(1300 * 1000);		/* 2.6 s after the drop */
	lg_send(b, "4\n");
	r = h_read(d);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	lg_expect(b, "31\n");		/* alice's, once her delay is over */
	ck_assert_int_ge(now_ms() - t0, 3900);
	lg_send(b, "4\n");
	r = h_read(a);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	three_members_charged_once();
	ck_assert_int_eq(stock(1), 4);
	ck_assert_int_eq(stock(3), 2);
	ck_assert(!h_server_log_contains(srv, "vended after timeout"));
	ledger_clean();
	h_close(d);
	h_close(c);
	h_close(a);
	h_close(b);
}
END_TEST

/* The drop's "vending" event comes when "3<slot>" is written, not before. */
START_TEST(tini_vending_event_when_the_board_is_told)
{
	struct h_client *b = board_login("0password\n");
	struct h_client *w = h_connect_as(srv, "alice", "alicepw");
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	const char *states[] = { "queued", "vending", "completed" };
	cJSON *ev;
	int i;

	h_expect(w, NULL, "{\"cmd\":\"subscribe\",\"topics\":[\"drops\"]}");
	h_send(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":1,"
	    "\"delay\":1}");
	for (i = 0; i < 3; i++) {
		if (i == 1) {
			ck_assert(lg_quiet(b, 500));	/* the delay */
			lg_expect(b, "31\n");
		} else if (i == 2) {
			lg_send(b, "4\n");
		}
		ev = h_read(w);
		ck_assert_str_eq(h_str(ev, "event"), "drop");
		ck_assert_str_eq(h_str(ev, "state"), states[i]);
		ck_assert_str_eq(h_str(ev, "machine"), "m1");
		cJSON_Delete(ev);
	}
	ev = h_read(c);
	H_ASSERT_OK(ev);
	cJSON_Delete(ev);
	ledger_clean();
	h_close(c);
	h_close(w);
	h_close(b);
}
END_TEST

START_TEST(tini_vend_nack_releases)
{
	struct h_client *b = board_login("0password\n");
	struct h_client *c = member_drop(1);
	cJSON *r;

	lg_expect(b, "31\n");
	lg_send(b, "5\n");
	r = h_read(c);
	H_ASSERT_ERROR(r, "drop_failed");
	ck_assert_str_eq(h_str(r, "message"), "the machine reported a failed "
	    "drop; nothing charged");
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(stock(1), 5);
	ledger_clean();
	h_close(c);
	h_close(b);
}
END_TEST

/*
 * A slot without an item (an old database's) is refused before the hold:
 * the board is sent no "3", so it has nothing to answer, and the next
 * vend is the next drop's.
 */
START_TEST(tini_slot_without_item_not_vended)
{
	struct h_client *b = board_login("0password\n");
	struct h_client *c;
	cJSON *r;

	h_sql_exec(srv, "INSERT INTO slots (machine, slot, item, price, stock,"
	    " enabled) VALUES ('m1', 9, '', 0, 5, 1)");
	c = member_drop(9);
	r = h_read(c);
	H_ASSERT_ERROR(r, "slot_disabled");
	ck_assert_str_eq(h_str(r, "message"), "slot 9 of m1 is not set up: "
	    "it has no item");
	cJSON_Delete(r);
	ck_assert(lg_quiet(b, 300));
	h_close(c);
	member_drop_vended(b, 90);
	ledger_clean();
	h_close(b);
}
END_TEST

START_TEST(tini_late_ack_moves_nothing)
{
	struct h_client *b = board_login("0password\n");
	struct h_client *c = member_drop(1);
	cJSON *r;

	lg_expect(b, "31\n");
	r = h_read(c);			/* vend_timeout = 2 */
	H_ASSERT_ERROR(r, "drop_timeout");
	cJSON_Delete(r);
	/* The late answer, then one with no vend at all. */
	lg_send(b, "4\n4\n");
	usleep(5500 * 1000);	/* the pause after a timeout, tested below */
	h_send(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":1}");
	lg_expect(b, "31\n");
	lg_send(b, "4\n");
	r = h_read(c);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	/* Charged once, for the second drop only. */
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'drop' AND state = 'completed'"), 1);
	ck_assert(h_server_log_contains(srv, "late 4 (dropped) with no vend"));
	ledger_clean();
	h_close(c);
	h_close(b);
}
END_TEST

START_TEST(tini_disconnect_mid_vend_releases)
{
	struct h_client *b = board_login("0password\n");
	struct h_client *c = member_drop(1);
	cJSON *r;

	lg_expect(b, "31\n");
	h_close(b);
	r = h_read(c);
	ck_assert_msg(!h_ok(r), "charged after a hang-up: %s", h_text(r));
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ledger_clean();
	h_close(c);
}
END_TEST

START_TEST(tini_replaced_by_newer_board)
{
	struct h_client *b1 = board_login("0password\n");
	struct h_client *b2 = board_login("0password\n");

	ck_assert(h_closed(b1));
	ck_assert_int_eq(h_machine_online(srv, "m1"), 1);
	h_close(b1);
	h_close(b2);
}
END_TEST

/* ---- states, temperature, silence ------------------------------------ */

START_TEST(tini_slot_states)
{
	struct h_client *b = board_login("0password\n");
	struct h_client *c = h_connect(srv, NULL);

	lg_send(b, "71 1`2 0`3 1\n");
	lg_send(b, "9\n");
	h_expect(c, NULL, "{\"cmd\":\"ping\"}");
	usleep(200 * 1000);
	ck_assert_int_eq(stock(1), 5);	/* 1 keeps a count >= 1 */
	ck_assert_int_eq(stock(2), 0);
	ck_assert_int_eq(stock(3), 4);
	lg_send(b, "7 1 0 ` 2 1\n");	/* spaces around the pieces */
	lg_send(b, "7 0 1\n");		/* slot 0: skipped */
	lg_send(b, "79 1`x 1`3 2`3\n");	/* all malformed or unknown */
	lg_send(b, "\n   \n9\n");
	usleep(300 * 1000);
	ck_assert_int_eq(stock(1), 0);
	ck_assert_int_eq(stock(2), 1);
	ck_assert_int_eq(stock(3), 4);
	ck_assert(lg_quiet(b, 200));
	h_close(c);
	h_close(b);
}
END_TEST

/*
 * Lines with an opcode the board never sends (LEGACY.md 3.2: "other lines
 * after login are logged and ignored"), the server's own 1, 2, 3, 6
 * included: nothing is answered, the board stays online, and a vend
 * after them works.
 */
START_TEST(tini_unknown_opcodes_ignored)
{
	struct h_client *b = board_login("0password\n");

	lg_send(b, "x\nA 1 2\n1\n2\n31\n6\n#\n");
	ck_assert(h_server_log_wait(srv, "board m1: unknown line ignored "
	    "(opcode 0x23)", 5000));
	ck_assert(h_server_log_contains(srv, "board m1: unknown line ignored "
	    "(opcode 0x78)"));
	ck_assert(lg_quiet(b, 300));
	ck_assert_int_eq(h_machine_online(srv, "m1"), 1);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'drop'"), 0);
	member_drop_vended(b, 90);
	ck_assert_int_eq(stock(3), 3);
	ledger_clean();
	h_close(b);
}
END_TEST

/*
 * idle_timeout does not apply to boards (LEGACY.md 1): with idle_timeout
 * 1 s, a board sending keepalives every 1.5 s (under tini_silence, 4 s)
 * stays online and vends, while a member connection idle as long is
 * closed for idle_timeout.
 */
START_TEST(tini_idle_timeout_does_not_apply)
{
	struct h_client *b, *m;
	int i;

	h_server_free(srv);
	tini_start("idle_timeout = 1\ntini_silence = 4\n");
	b = board_login("0password\n");
	m = h_connect_as(srv, "bob", "bobpw");
	ck_assert(wait_online(1));
	for (i = 0; i < 2; i++) {
		usleep(1500 * 1000);
		lg_send(b, "9\n");
	}
	ck_assert(h_closed(m));
	ck_assert(h_server_log_wait(srv, "idle timeout", 5000));
	ck_assert_int_eq(h_machine_online(srv, "m1"), 1);
	member_drop_vended(b, -1);
	ck_assert(!h_server_log_contains(srv, "board m1 offline"));
	ledger_clean();
	h_close(m);
	h_close(b);
}
END_TEST

START_TEST(tini_temperature)
{
	struct h_client *b = board_login("0password\n");
	int64_t deadline = now_ms() + 5000;

	lg_send(b, "872.5\n");
	while (h_sql_int(srv, "SELECT count(*) FROM temperatures") < 1 &&
	    now_ms() < deadline) {
		usleep(50 * 1000);
	}
	ck_assert_int_eq(h_sql_int(srv, "SELECT round(temperature * 10) "
	    "FROM machines WHERE name = 'm1'"), 225);
	lg_send(b, "8abc\n8\n8 1e999\n8 NaN\n8 1e21\n8 -1e21\n8 0.0\n");
	deadline = now_ms() + 5000;
	while (h_sql_int(srv, "SELECT count(*) FROM temperatures") < 2 &&
	    now_ms() < deadline) {
		usleep(50 * 1000);
	}
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM temperatures"),
	    2);
	ck_assert_int_eq(h_sql_int(srv, "SELECT round(temperature * 10) "
	    "FROM machines WHERE name = 'm1'"), -178);
	lg_send(b, "8 -4.0\n8 1.0E-4\n");
	deadline = now_ms() + 5000;
	while (h_sql_int(srv, "SELECT count(*) FROM temperatures") < 4 &&
	    now_ms() < deadline) {
		usleep(50 * 1000);
	}
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM temperatures"),
	    4);
	h_close(b);
}
END_TEST

/*
 * The next event named name on c, other lines skipped; fails after 5 s
 * without one.  Caller deletes.
 */
static cJSON *
next_event(struct h_client *c, const char *name)
{
	const cJSON *ev;
	cJSON *m;

	for (;;) {
		ck_assert_msg(h_read_line(c, 5000) == CONN_OK,
		    "no \"%s\" event within 5 s", name);
		m = cJSON_Parse(c->line);
		ev = cJSON_GetObjectItem(m, "event");
		if (cJSON_IsString(ev) && strcmp(ev->valuestring, name) == 0) {
			return m;
		}
		cJSON_Delete(m);
	}
}

/*
 * Behind the dialect a board is a machine to subscribers too (PROTOCOL.md
 * section 8): its session opens and closes, its machine goes online and
 * offline, and what a "7" changes in a slot and an "8" are announced, as
 * for a JSON controller.
 */
START_TEST(tini_board_events)
{
	struct h_client *sessions = h_connect_as(srv, "admin", "adminpw");
	struct h_client *machines = h_connect(srv, NULL);
	struct h_client *slots = h_connect(srv, NULL);
	struct h_client *b;
	cJSON *ev;

	h_expect(sessions, NULL, "{\"cmd\":\"subscribe\","
	    "\"topics\":[\"sessions\"]}");
	h_expect(machines, NULL, "{\"cmd\":\"subscribe\","
	    "\"topics\":[\"machines\"]}");
	h_expect(slots, NULL, "{\"cmd\":\"subscribe\","
	    "\"topics\":[\"slots\"]}");
	b = board_login("0password\n");
	ev = next_event(sessions, "session");
	ck_assert_str_eq(h_str(ev, "state"), "open");
	ck_assert_str_eq(h_str(ev, "kind"), "machine");
	ck_assert_str_eq(h_str(ev, "machine"), "m1");
	cJSON_Delete(ev);
	ev = next_event(machines, "machine");
	ck_assert_str_eq(h_str(ev, "machine"), "m1");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(ev, "online")));
	cJSON_Delete(ev);
	lg_send(b, "71 0`3 1\n");		/* slot 1 empties, 3 stays 4 */
	ev = next_event(slots, "slot");
	ck_assert_str_eq(h_str(ev, "machine"), "m1");
	ck_assert_int_eq(h_num(ev, "slot"), 1);
	ck_assert_int_eq(h_num(ev, "stock"), 0);
	cJSON_Delete(ev);
	lg_send(b, "872.5\n");
	ev = next_event(machines, "machine");
	ck_assert_int_eq((int64_t)(cJSON_GetNumberValue(cJSON_GetObjectItem(ev,
	    "temperature")) * 10 + 0.5), 225);
	cJSON_Delete(ev);
	h_close(b);
	ev = next_event(machines, "machine");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(ev, "online")));
	cJSON_Delete(ev);
	ev = next_event(sessions, "session");
	ck_assert_str_eq(h_str(ev, "state"), "closed");
	ck_assert_str_eq(h_str(ev, "machine"), "m1");
	cJSON_Delete(ev);
	/* Slot 3 did not change: no event for it came. */
	ck_assert(h_read_line(slots, 300) != CONN_OK);
	h_close(slots);
	h_close(machines);
	h_close(sessions);
}
END_TEST

START_TEST(tini_silent_board_goes_offline)
{
	struct h_client *b;
	int64_t t0;

	h_server_free(srv);
	tini_start("tini_silence = 2");
	b = board_login("0password\n");
	ck_assert(wait_online(1));
	/* Keepalives hold it... */
	for (t0 = now_ms(); now_ms() - t0 < 3000;) {
		lg_send(b, "9\n");
		usleep(500 * 1000);
	}
	ck_assert_int_eq(h_machine_online(srv, "m1"), 1);
	/* ...silence does not. */
	ck_assert(h_closed(b));
	ck_assert(wait_online(0));
	ck_assert(h_server_log_contains(srv, "offline (silent)"));
	h_close(b);
}
END_TEST

/*
 * Half a TLS record from a logged-in board: its thread waits in poll()
 * for the rest instead of asking OpenSSL again and again (which spun a
 * core until tini_silence), and the board is served when it comes back.
 */
START_TEST(tini_partial_record_costs_no_cpu)
{
	struct h_client *b = board_login("0password\n");
	int64_t cpu;

	ck_assert(wait_online(1));
	cpu = h_server_cpu_ms(srv);
	h_send_partial_record(b, "9\n");
	usleep(2000 * 1000);
	cpu = h_server_cpu_ms(srv) - cpu;
	ck_assert_msg(cpu < 500, "the server used %lld ms of CPU in 2 s",
	    (long long)cpu);
	h_close(b);
	b = board_login("0password\n");
	ck_assert(wait_online(1));
	h_close(b);
}
END_TEST

START_TEST(tini_who_lists_machine)
{
	struct h_client *b = board_login("0password\n");

	lg_who_is(srv, "machine", "m1", "machine");
	h_close(b);
}
END_TEST

/* ---- the deployment: a board behind socat ----------------------------- */

START_TEST(tini_board_through_socat)
{
	struct tini_board *tb;
	struct h_client *c;
	cJSON *r;

	tb = tini_board_start(srv, "machine-m1", "password");
	ck_assert_msg(tb != NULL, "socat did not start");
	ck_assert(wait_online(1));
	c = h_connect_as(srv, "alice", "alicepw");
	h_expect(c, NULL, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	r = h_call(c, "{\"cmd\":\"balance\"}");
	ck_assert_int_eq(h_num(r, "balance"), 90);
	cJSON_Delete(r);
	/* The board refuses the next one (jam): nothing charged. */
	tini_board_jam_next(tb);
	h_expect(c, "drop_failed", "{\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":3}");
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(tini_board_vends(tb), 2);
	ledger_clean();
	h_close(c);
	tini_board_stop(tb);
	ck_assert(wait_online(0));
}
END_TEST

/* ---- the pause after a timeout (LEGACY.md section 3.3) ---------------- */

/* A vend_timeout longer than the pause, so a drop can wait it out. */
static void
setup_pause(void)
{
	tini_start("vend_timeout = 7\n");
}

/*
 * After a timeout the next "3" comes 5 s later, not sooner although the
 * late answer arrives at once, and not later: a drop queued meanwhile is
 * sent and completes.  The late "4" completes nothing.
 */
START_TEST(tini_pause_after_timeout)
{
	struct h_client *b = board_login("0password\n");
	int64_t t0 = now_ms(), t1;
	struct h_client *c = member_drop(1);
	cJSON *r;

	lg_expect(b, "31\n");
	r = h_read(c);		/* its deadline: at least t0 + 7 s */
	H_ASSERT_ERROR(r, "drop_timeout");
	cJSON_Delete(r);
	lg_send(b, "4\n");
	h_send(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	lg_expect(b, "33\n");
	t1 = now_ms();
	ck_assert_msg(t1 - t0 >= 12000 - 100, "next vend %lld ms after the "
	    "first drop, before the 5 s pause ended", (long long)(t1 - t0));
	lg_send(b, "4\n");
	r = h_read(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 90);
	cJSON_Delete(r);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'drop' AND state = 'completed'"), 1);
	ck_assert(h_server_log_contains(srv, "vended after timeout, not "
	    "charged"));
	ledger_clean();
	h_close(c);
	h_close(b);
}
END_TEST

static Suite *
tini_suite(void)
{
	Suite *s = suite_create("tini");
	TCase *tc;

#define TINI_TCASE(name) \
	(tc = h_tcase(s, name, setup, teardown, TINI_TIMEOUT))

	TINI_TCASE("login");
	tcase_add_test(tc, tini_login_forms);
	tcase_add_test(tc, tini_login_refusals);
	tcase_add_test(tc, tini_login_refuses_bad_certificates);
	tcase_add_test(tc, tini_login_refuses_revoked_certificate);
	tcase_add_test(tc, tini_login_lockout);
	tcase_add_test(tc, tini_login_no_password_set);
	tcase_add_test(tc, tini_legacy_password_checked);
	tcase_add_test(tc, tini_handshake_timeout_silent_close);
	tcase_add_test(tc, tini_blank_lines_do_not_stretch_the_login_deadline);
	tcase_add_test(tc, tini_login_line_ended_late_is_silently_closed);
	tcase_add_test(tc, tini_login_line_too_long_refused);
	TINI_TCASE("vends through drink's drop");
	tcase_add_test(tc, tini_vend_ack_captures);
	tcase_add_test(tc, tini_vends_one_at_a_time_in_fifo_order);
	tcase_add_test(tc, tini_capture_never_takes_stock_below_zero);
	tcase_add_test(tc, tini_vend_delay_waited_by_drinkd);
	tcase_add_test(tc,
	    tini_delay_holds_up_no_one_and_the_timeout_runs_from_the_write);
	tcase_add_test(tc, tini_vending_event_when_the_board_is_told);
	tcase_add_test(tc, tini_vend_nack_releases);
	tcase_add_test(tc, tini_slot_without_item_not_vended);
	tcase_add_test(tc, tini_late_ack_moves_nothing);
	tcase_add_test(tc, tini_disconnect_mid_vend_releases);
	tcase_add_test(tc, tini_replaced_by_newer_board);
	TINI_TCASE("slot states, temperature, liveness");
	tcase_add_test(tc, tini_slot_states);
	tcase_add_test(tc, tini_unknown_opcodes_ignored);
	tcase_add_test(tc, tini_temperature);
	tcase_add_test(tc, tini_silent_board_goes_offline);
	tcase_add_test(tc, tini_idle_timeout_does_not_apply);
	tcase_add_test(tc, tini_who_lists_machine);
	tcase_add_test(tc, tini_partial_record_costs_no_cpu);
	TINI_TCASE("a board's events");
	tcase_add_test(tc, tini_board_events);
	TINI_TCASE("a simulated board behind socat");
	tcase_add_test(tc, tini_board_through_socat);
	tc = h_tcase(s, "the pause after a timeout", setup_pause, teardown,
	    TINI_TIMEOUT);
	tcase_add_test(tc, tini_pause_after_timeout);
	return s;
}

int
main(void)
{
	int failed;

	h_init();
	failed = h_run(tini_suite());
	return h_finish(failed);
}
