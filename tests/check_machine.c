/*
 * The machine port and drops, over real TLS: the certificate rejection
 * matrix, registration and events, and every way a drop can end — vended,
 * refused, unanswered, controller gone, controller replaced, server
 * killed — with the ledger checked after each.  A fake controller in this
 * file answers vends the way each test needs.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake.h"
#include "harness.h"

#define MACHINE_TIMEOUT 120

static struct h_server *srv;

static void
start_with(const char *more)
{
	char *conf = xasprintf("vend_timeout = 3\n%s", more != NULL ? more : "");

	srv = h_machine_server_start(conf);
	free(conf);
}

static void
setup(void)
{
	start_with(NULL);
	h_admin(srv, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Big Drink\"}",
	    "{\"cmd\":\"machine_add\",\"machine\":\"m2\","
	    "\"name\":\"Snacks\"}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":3,"
	    "\"item\":\"Coke\",\"price\":10,\"stock\":5}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":4,"
	    "\"item\":\"Water\",\"price\":5,\"stock\":100}", NULL);
}

static void
teardown(void)
{
	h_server_free(srv);
	srv = NULL;
}

/* Send a drop from c without waiting for the reply. */
static void
send_drop(struct h_client *c, const char *machine, int slot, const char *extra)
{
	char line[256];

	snprintf(line, sizeof(line), "{\"id\":\"d\",\"cmd\":\"drop\","
	    "\"machine\":\"%s\",\"slot\":%d%s}", machine, slot,
	    extra != NULL ? extra : "");
	h_send(c, line);
}

/* Drop from slot of m1 on c and expect the error code; the reply. */
static cJSON *
drop_expect_error(struct h_client *c, int slot, const char *code)
{
	char line[96];
	cJSON *r;

	snprintf(line, sizeof(line), "{\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":%d}", slot);
	r = h_call(c, line);
	H_ASSERT_ERROR(r, code);
	return r;
}

static void
wait_online(const char *machine, int want)
{
	H_WAIT_UNTIL((h_machine_online(srv, machine) == 1) == want);
}

/* ---- rejection matrix -------------------------------------------------- */

/*
 * Connect with cert (NULL: none) and expect the server to refuse: the
 * handshake fails, or a forbidden line then close.  The log must name the
 * reason once.
 */
static void
expect_refused(const char *cert, const char *reason)
{
	char err[256];
	struct h_client *c;
	int st;

	c = h_tls_dial(srv->machine_port, cert, err, sizeof(err));
	if (c != NULL) {
		/* TLS 1.3: a refused client certificate shows on first read. */
		static const char reg[] =
		    "{\"id\":1,\"cmd\":\"register\",\"slots\":[]}\n";

		st = h_send_raw(c, reg, sizeof(reg) - 1);
		if (st == CONN_OK) {
			st = h_read_line(c, 5000);
		}
		if (st == CONN_OK) {
			ck_assert_msg(strstr(c->line, "\"forbidden\"") != NULL,
			    "%s: %s", cert ? cert : "no cert", c->line);
			ck_assert(h_closed(c));
		}
		h_close(c);
	}
	ck_assert_msg(h_server_log_wait(srv, reason, 5000),
	    "log lacks \"%s\" for %s", reason,
	    cert != NULL ? cert : "no certificate");
}

START_TEST(machine_port_refuses_bad_certificates)
{
	expect_refused(NULL, "peer did not return a certificate");
	expect_refused("wrongca-m1", "unable to get local issuer certificate");
	expect_refused("expired-m1", "certificate has expired");
	expect_refused("serveronly-m1", "unsuitable certificate purpose");
	expect_refused("noeku-m1", "lacks extended key usage clientAuth");
	/* The log says how to let it in. */
	expect_refused("machine-ghost", "CN \"ghost\": not a registered "
	    "machine; an admin adds it with drink machine-add ghost NAME");
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM sessions"
	    " WHERE kind = 'machine'"), 0);
}
END_TEST

START_TEST(machine_port_refuses_revoked_and_disabled)
{
	struct h_client *a;
	struct fake *f;
	cJSON *r;
	char *crl = h_cert_path("crl.pem"), *more;

	h_server_free(srv);
	more = xasprintf("crl = %s\n", crl);
	start_with(more);
	free(more);
	free(crl);
	a = h_connect_as(srv, "admin", "adminpw");
	r = h_call(a, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"x\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	expect_refused("revoked-m1", "certificate revoked");
	/* An unrevoked certificate still works with the CRL loaded. */
	f = fake_start(srv, "m1", FAKE_ACK, 0);
	fake_stop(f);
	r = h_call(a, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"enabled\":false}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	expect_refused("machine-m1", "CN \"m1\": machine is disabled; an "
	    "admin enables it with drink machine-mod m1 --enable");
	h_close(a);
}
END_TEST

START_TEST(disabling_a_machine_disconnects_its_controller)
{
	struct h_client *a = h_connect_as(srv, "admin", "adminpw");
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 0);
	cJSON *r;

	wait_online("m1", 1);
	r = h_call(a, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"enabled\":false}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	wait_online("m1", 0);
	ck_assert(h_server_log_wait(srv, "machine m1 offline (closed by the "
	    "server: machine disabled)", 10000));
	fake_stop(f);
	h_close(a);
}
END_TEST

/* The session id `who` shows for machine m1. */
static int64_t
machine_session(struct h_client *a)
{
	cJSON *r = h_call(a, "{\"cmd\":\"who\"}"), *e;
	int64_t id = 0;

	cJSON_ArrayForEach(e, h_array(r, "clients")) {
		if (strcmp(h_str(e, "kind"), "machine") == 0) {
			id = h_num(e, "session");
		}
	}
	cJSON_Delete(r);
	ck_assert_int_gt(id, 0);
	return id;
}

/* The log says who ended a controller's connection. */
START_TEST(machine_close_reasons_say_who_closed)
{
	struct h_client *a = h_connect_as(srv, "admin", "adminpw");
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 0);
	cJSON *r;

	wait_online("m1", 1);
	r = h_callf(a, "{\"cmd\":\"kick\",\"session\":%lld}",
	    (long long)machine_session(a));
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert(fake_closed(f));
	ck_assert(h_server_log_wait(srv, "machine m1 offline (closed by the "
	    "server: kicked by an admin)", 10000));
	fake_stop(f);
	/* The controller hangs up itself. */
	f = fake_start(srv, "m1", FAKE_HANGUP, 0);
	wait_online("m1", 1);
	send_drop(a, "m1", 3, NULL);
	ck_assert(fake_closed(f));
	ck_assert(h_server_log_wait(srv, "machine m1 offline (closed by the "
	    "controller)", 10000));
	r = h_read(a);
	H_ASSERT_ERROR(r, "drop_failed");
	cJSON_Delete(r);
	fake_stop(f);
	/* Deleted. */
	f = fake_start(srv, "m1", FAKE_ACK, 0);
	wait_online("m1", 1);
	r = h_call(a, "{\"cmd\":\"machine_del\",\"machine\":\"m1\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert(fake_closed(f));
	ck_assert(h_server_log_wait(srv, "machine m1 offline (closed by the "
	    "server: machine deleted)", 10000));
	ck_assert(!h_server_log_contains(srv, "closed by controller"));
	fake_stop(f);
	h_close(a);
}
END_TEST

/* ---- registration, events, pings --------------------------------------- */

START_TEST(register_reports_stock_and_goes_online)
{
	struct h_client *m = h_connect(srv, NULL);
	struct fake *f;
	cJSON *r, *e;

	wait_online("m1", 0);
	f = fake_start(srv, "m1", FAKE_ACK, 0);
	wait_online("m1", 1);
	/* Sensed stock replaced the configured 5 / 100. */
	ck_assert_int_eq(h_sql_int(srv, "SELECT stock FROM slots WHERE"
	    " machine = 'm1' AND slot = 3"), 5);
	fake_send(f, "{\"event\":\"slots\",\"slots\":[{\"slot\":3,"
	    "\"stock\":2},{\"slot\":9,\"stock\":7}]}");
	fake_send(f, "{\"event\":\"temperature\",\"celsius\":4.5}");
	H_WAIT_UNTIL(h_sql_int(srv, "SELECT count(*) FROM temperatures"
	    " WHERE machine = 'm1'") == 1);
	r = h_call(m, "{\"cmd\":\"machines\"}");
	e = cJSON_GetArrayItem(h_array(r, "machines"), 0);
	ck_assert_str_eq(h_str(e, "machine"), "m1");
	ck_assert_double_eq_tol(cJSON_GetObjectItem(e, "temperature")
	    ->valuedouble, 4.5, 0.001);
	cJSON_Delete(r);
	ck_assert_int_eq(h_sql_int(srv, "SELECT stock FROM slots WHERE"
	    " machine = 'm1' AND slot = 3"), 2);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM slots WHERE"
	    " machine = 'm1' AND slot = 9"), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM temperatures"
	    " WHERE machine = 'm1' AND celsius = 4.5"), 1);
	/* who lists the controller. */
	h_login(m, "admin", "adminpw");
	r = h_call(m, "{\"cmd\":\"who\"}");
	ck_assert_msg(strstr(m->line, "\"kind\":\"machine\",\"machine\":"
	    "\"m1\"") != NULL, "%s", m->line);
	cJSON_Delete(r);
	ck_assert_int_eq(h_sql_wait(srv, 1, "SELECT count(*) FROM sessions"
	    " WHERE kind = 'machine' AND machine = 'm1'"), 1);
	fake_stop(f);
	wait_online("m1", 0);
	h_close(m);
}
END_TEST

START_TEST(first_message_must_be_register)
{
	char err[256];
	struct h_client *c = h_tls_dial(srv->machine_port, "machine-m1", err,
	    sizeof(err));
	cJSON *r;

	ck_assert_msg(c != NULL, "%s", err);
	/* Garbage is answered and skipped... */
	r = h_call(c, "hello?");
	H_ASSERT_ERROR(r, "bad_request");
	cJSON_Delete(r);
	/* ...but any other message before register ends the connection. */
	r = h_call(c, "{\"id\":5,\"cmd\":\"ping\"}");
	H_ASSERT_ERROR(r, "bad_request");
	ck_assert_int_eq(h_num(r, "id"), 5);
	cJSON_Delete(r);
	ck_assert(h_closed(c));
	h_close(c);
}
END_TEST

START_TEST(junk_cannot_stretch_the_register_deadline)
{
	char err[256];
	struct h_client *c;
	int64_t t0;
	int st = CONN_OK, i;

	h_server_free(srv);
	start_with("handshake_timeout = 2\n");
	{
		struct h_client *a = h_connect_as(srv, "admin", "adminpw");
		cJSON *r = h_call(a, "{\"cmd\":\"machine_add\","
		    "\"machine\":\"m1\",\"name\":\"x\"}");

		H_ASSERT_OK(r);
		cJSON_Delete(r);
		h_close(a);
	}
	c = h_tls_dial(srv->machine_port, "machine-m1", err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	t0 = now_ms();
	/* A junk line every 300 ms, each answered, never a register. */
	for (i = 0; i < 30 && st == CONN_OK; i++) {
		st = h_send_raw(c, "junk\n", 5);
		if (st == CONN_OK) {
			st = h_read_line(c, 2000);
		}
		usleep(300 * 1000);
	}
	ck_assert_int_ne(st, CONN_OK);
	ck_assert_int_lt(now_ms() - t0, 5000);
	h_close(c);
}
END_TEST

/*
 * Half a TLS record from a registered controller: its thread waits in
 * poll() for the rest instead of spinning until the machine is dropped
 * for silence.
 */
START_TEST(partial_record_costs_no_cpu)
{
	char err[256];
	struct h_client *c = h_tls_dial(srv->machine_port, "machine-m1", err,
	    sizeof(err));
	int64_t cpu;
	cJSON *r;

	ck_assert_msg(c != NULL, "%s", err);
	r = h_call(c, "{\"id\":1,\"cmd\":\"register\",\"slots\":[]}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	cpu = h_server_cpu_ms(srv);
	h_send_partial_record(c, "{\"id\":2,\"cmd\":\"ping\"}\n");
	usleep(2000 * 1000);
	cpu = h_server_cpu_ms(srv) - cpu;
	ck_assert_msg(cpu < 500, "the server used %lld ms of CPU in 2 s",
	    (long long)cpu);
	ck_assert_int_eq(h_machine_online(srv, "m1"), 1);
	h_close(c);
}
END_TEST

START_TEST(ports_do_not_mix_their_commands)
{
	char err[256];
	struct h_client *c = h_tls_dial(srv->machine_port, "machine-m1", err,
	    sizeof(err));
	struct h_client *m = h_connect(srv, NULL);
	cJSON *r;

	r = h_call(c, "{\"id\":1,\"cmd\":\"register\",\"slots\":[]}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	r = h_call(c, "{\"id\":2,\"cmd\":\"login\",\"user\":\"admin\","
	    "\"password\":\"adminpw\"}");
	H_ASSERT_ERROR(r, "unknown_command");
	cJSON_Delete(r);
	r = h_call(c, "not json");
	H_ASSERT_ERROR(r, "bad_request");
	cJSON_Delete(r);
	r = h_call(c, "{\"id\":3,\"cmd\":\"ping\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 3);
	cJSON_Delete(r);
	r = h_call(m, "{\"id\":1,\"cmd\":\"register\",\"slots\":[]}");
	H_ASSERT_ERROR(r, "unknown_command");
	cJSON_Delete(r);
	h_close(c);
	h_close(m);
}
END_TEST

/* PROTOCOL.md section 2: an id comes back as the controller wrote it. */
START_TEST(controller_ids_are_echoed_verbatim)
{
	static const char big[] = "{\"id\":1234567890123456789,\"ok\":false,"
	    "\"error\":\"unknown_command\"";
	static const char list[] = "{\"id\":[1, {\"a\":2}],\"ok\":false,"
	    "\"error\":\"bad_request\"";
	char err[256];
	struct h_client *c = h_tls_dial(srv->machine_port, "machine-m1", err,
	    sizeof(err));
	cJSON *r;

	ck_assert_msg(c != NULL, "%s", err);
	r = h_call(c, "{\"id\":12345678901234567890,\"cmd\":\"register\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_str_eq(c->line, "{\"id\":12345678901234567890,\"ok\":true,"
	    "\"machine\":\"m1\"}");
	r = h_call(c, "{\"cmd\":\"ping\",\"id\":9007199254740993}");
	cJSON_Delete(r);
	ck_assert_str_eq(c->line, "{\"id\":9007199254740993,\"ok\":true}");
	r = h_call(c, "{\"cmd\":\"ping\",\"id\":-1.25e-3}");
	cJSON_Delete(r);
	ck_assert_str_eq(c->line, "{\"id\":-1.25e-3,\"ok\":true}");
	r = h_call(c, "{\"id\":1234567890123456789,\"cmd\":\"login\"}");
	cJSON_Delete(r);
	ck_assert_msg(strncmp(c->line, big, sizeof(big) - 1) == 0, "%s",
	    c->line);
	r = h_call(c, "{\"id\":[1, {\"a\":2}]}");
	cJSON_Delete(r);
	ck_assert_msg(strncmp(c->line, list, sizeof(list) - 1) == 0, "%s",
	    c->line);
	/* A string is echoed with its value. */
	r = h_call(c, "{\"cmd\":\"ping\",\"id\":\"p7\"}");
	cJSON_Delete(r);
	ck_assert_str_eq(c->line, "{\"id\":\"p7\",\"ok\":true}");
	h_close(c);
}
END_TEST

/*
 * Two messages in two TLS records that reach drinkd in one TCP segment:
 * OpenSSL reads both at once (read-ahead), so the second waits inside
 * OpenSSL, not in the socket.  It is answered at once, not when the
 * controller next writes.
 */
START_TEST(records_read_together_are_all_answered)
{
	char err[256];
	struct h_client *c = h_tls_dial(srv->machine_port, "machine-m1", err,
	    sizeof(err));
	int fd, on = 1, off = 0;
	cJSON *r;

	ck_assert_msg(c != NULL, "%s", err);
	r = h_call(c, "{\"id\":1,\"cmd\":\"register\",\"slots\":[]}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	fd = conn_fd(c->conn);
	ck_assert_int_eq(setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on,
	    sizeof(on)), 0);
	h_send(c, "{\"id\":2,\"cmd\":\"ping\"}");
	h_send(c, "{\"id\":3,\"cmd\":\"ping\"}");
	ck_assert_int_eq(setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off,
	    sizeof(off)), 0);
	/* ping_interval is 30 s: nothing else would wake the thread. */
	ck_assert_int_eq(h_read_line(c, 2000), CONN_OK);
	ck_assert_ptr_nonnull(strstr(c->line, "\"id\":2"));
	ck_assert_int_eq(h_read_line(c, 2000), CONN_OK);
	ck_assert_ptr_nonnull(strstr(c->line, "\"id\":3"));
	h_close(c);
}
END_TEST

START_TEST(silent_controller_is_dropped)
{
	struct fake *f;

	h_server_free(srv);
	start_with("ping_interval = 1\n");
	{
		struct h_client *a = h_connect_as(srv, "admin", "adminpw");
		cJSON *r = h_call(a, "{\"cmd\":\"machine_add\","
		    "\"machine\":\"m1\",\"name\":\"x\"}");

		H_ASSERT_OK(r);
		cJSON_Delete(r);
		h_close(a);
	}
	f = fake_start(srv, "m1", FAKE_MUTE, 0);
	wait_online("m1", 1);
	/* Pinged every second, silent for three: dropped. */
	wait_online("m1", 0);
	ck_assert(h_server_log_contains(srv, "machine m1 offline (silent"));
	fake_stop(f);
}
END_TEST

/* ---- drops ------------------------------------------------------------- */

START_TEST(drop_charges_and_decrements_stock)
{
	int slot, delay;
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 50);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	cJSON *r;
	int64_t tx;

	r = h_call(c, "{\"id\":7,\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":3}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 7);
	ck_assert_str_eq(h_str(r, "item"), "Coke");
	ck_assert_int_eq(h_num(r, "price"), 10);
	ck_assert_int_eq(h_num(r, "balance"), 90);
	tx = h_num(r, "tx");
	cJSON_Delete(r);
	ck_assert_int_eq(fake_vends(f), 1);
	fake_last(f, &slot, &delay);
	ck_assert_int_eq(slot, 3);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(h_sql_int(srv, "SELECT stock FROM slots WHERE"
	    " machine = 'm1' AND slot = 3"), 4);
	ck_assert_int_eq(h_sql_int(srv, "SELECT balance FROM accounts"
	    " WHERE name = '@sales'"), 10);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM entries"
	    " WHERE tx = %lld", (long long)tx), 4);
	r = h_call(c, "{\"cmd\":\"history\",\"limit\":1}");
	ck_assert_msg(strstr(c->line, "\"kind\":\"drop\",\"amount\":-10,"
	    "\"state\":\"completed\",\"machine\":\"m1\",\"slot\":3,"
	    "\"item\":\"Coke\"") != NULL, "%s", c->line);
	cJSON_Delete(r);
	h_ledger_settled(srv);
	fake_stop(f);
	h_close(c);
}
END_TEST

/* ---- exact stock (PROTOCOL.md section 7) --------------------------------- */

/* The stock of slot of m1 as a member's `slots` shows it. */
static int64_t
slot_stock(struct h_client *c, int slot)
{
	cJSON *r = h_call(c, "{\"cmd\":\"slots\",\"machine\":\"m1\"}"), *e;
	int64_t stock = -1;

	cJSON_ArrayForEach(e, h_array(r, "slots")) {
		if (h_num(e, "slot") == slot) {
			stock = h_num(e, "stock");
		}
	}
	cJSON_Delete(r);
	return stock;
}

/*
 * A sensing machine with 5 items in slot 3 sells exactly 5, and after each
 * drop's reply `slots` shows the machine's own count, whatever the order
 * of its answer and its report in one TLS write.
 */
static void
sensed_stock_is_exact(enum fake_mode mode)
{
	struct fake *f = fake_start(srv, "m1", mode, 0);
	struct h_client *c = h_connect_as(srv, "admin", "adminpw");
	cJSON *r;
	int i;

	ck_assert_int_eq(slot_stock(c, 3), 5);
	for (i = 1; i <= 5; i++) {
		r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\","
		    "\"slot\":3}");
		H_ASSERT_OK(r);
		cJSON_Delete(r);
		ck_assert_int_eq(fake_stock(f, 3), 5 - i);
		ck_assert_int_eq(slot_stock(c, 3), 5 - i);
	}
	cJSON_Delete(drop_expect_error(c, 3, "slot_empty"));
	ck_assert_int_eq(fake_vends(f), 5);
	ck_assert_int_eq(h_balance(srv, "admin"), 1000 - 5 * 10);
	h_ledger_settled(srv);
	fake_stop(f);
	h_close(c);
}

START_TEST(stock_is_exact_when_ok_comes_before_slots)
{
	sensed_stock_is_exact(FAKE_ACK_SLOTS);
}
END_TEST

START_TEST(stock_is_exact_when_slots_comes_before_ok)
{
	sensed_stock_is_exact(FAKE_SLOTS_ACK);
}
END_TEST

START_TEST(stock_in_the_answer_is_taken_as_sensed)
{
	sensed_stock_is_exact(FAKE_ACK_STOCK);
}
END_TEST

/* The reference controller: --simulate 3:N sells exactly N. */
START_TEST(reference_controller_sells_exactly_its_stock)
{
	struct h_client *c = h_connect_as(srv, "admin", "adminpw");
	pid_t pid = h_machine_start(srv, "m1", "--simulate 3:3,4:0 "
	    "--vend-ms 20");
	cJSON *r;
	int i;

	wait_online("m1", 1);
	for (i = 1; i <= 3; i++) {
		r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\","
		    "\"slot\":3}");
		H_ASSERT_OK(r);
		cJSON_Delete(r);
		ck_assert_int_eq(slot_stock(c, 3), 3 - i);
	}
	cJSON_Delete(drop_expect_error(c, 3, "slot_empty"));
	ck_assert_int_eq(h_balance(srv, "admin"), 1000 - 3 * 10);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'completed'"), 3);
	h_ledger_settled(srv);
	ck_assert_int_eq(h_machine_stop(pid), 0);
	h_close(c);
}
END_TEST

START_TEST(drop_checks_before_holding)
{
	struct fake *f;
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	struct h_client *a = h_connect_as(srv, "admin", "adminpw");
	cJSON *r;

	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	H_ASSERT_ERROR(r, "machine_offline");
	cJSON_Delete(r);
	f = fake_start(srv, "m1", FAKE_ACK, 0);
	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m9\",\"slot\":3}");
	H_ASSERT_ERROR(r, "no_such_machine");
	cJSON_Delete(r);
	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":8}");
	H_ASSERT_ERROR(r, "no_such_slot");
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":5,"
	    "\"item\":\"Gold\",\"price\":1000,\"stock\":1}");
	cJSON_Delete(r);
	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":5}");
	H_ASSERT_ERROR(r, "insufficient_funds");
	ck_assert_int_eq(h_num(r, "balance"), 100);
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":5,"
	    "\"price\":1,\"stock\":0}");
	cJSON_Delete(r);
	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":5}");
	H_ASSERT_ERROR(r, "slot_empty");
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":5,"
	    "\"stock\":3,\"enabled\":false}");
	cJSON_Delete(r);
	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":5}");
	H_ASSERT_ERROR(r, "slot_disabled");
	cJSON_Delete(r);
	ck_assert_int_eq(fake_vends(f), 0);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'drop'"), 0);
	fake_stop(f);
	h_close(c);
	h_close(a);
}
END_TEST

START_TEST(nack_fails_the_drop_and_charges_nothing)
{
	struct fake *f = fake_start(srv, "m1", FAKE_NACK, 20);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	cJSON *r;

	r = drop_expect_error(c, 3, "drop_failed");
	/* The controller's words, and that nothing was charged. */
	ck_assert_str_eq(h_str(r, "message"), "the machine refused: jammed: "
	    "slot motor stuck; nothing charged");
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(h_sql_int(srv, "SELECT stock FROM slots WHERE"
	    " machine = 'm1' AND slot = 3"), 5);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'failed'"), 1);
	/* history says why the drop failed */
	r = h_call(c, "{\"cmd\":\"history\",\"limit\":1}");
	H_ASSERT_OK(r);
	{
		const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(r,
		    "transactions"), 0);
		const cJSON *why = cJSON_GetObjectItem(t, "reason");

		ck_assert_msg(cJSON_IsString(why) &&
		    strstr(why->valuestring, "jammed") != NULL, "%s", c->line);
		ck_assert_str_eq(cJSON_GetObjectItem(t, "state")->valuestring,
		    "failed");
	}
	cJSON_Delete(r);
	h_ledger_settled(srv);
	fake_stop(f);
	h_close(c);
}
END_TEST

START_TEST(unanswered_vend_times_out_and_late_ok_is_not_charged)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	int64_t t0 = now_ms();

	cJSON_Delete(drop_expect_error(c, 3, "drop_timeout"));
	ck_assert_int_ge(now_ms() - t0, 2900);	/* vend_timeout = 3 */
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	/* The machine answers after all: logged, still not charged. */
	fake_answer_last(f, 1);
	ck_assert(h_server_log_wait(srv, "machine m1: vended after timeout, "
	    "not charged: slot 3, tx ", 10000));
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	h_ledger_settled(srv);
	fake_stop(f);
	h_close(c);
}
END_TEST

START_TEST(delay_is_sent_and_extends_the_wait)
{
	int slot, delay;
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	int64_t t0 = now_ms();
	cJSON *r;

	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":4,"
	    "\"delay\":2}");
	H_ASSERT_ERROR(r, "drop_timeout");
	cJSON_Delete(r);
	fake_last(f, &slot, &delay);
	ck_assert_int_eq(delay, 2);
	ck_assert_int_ge(now_ms() - t0, 4900);	/* 3 s + 2 s delay */
	h_ledger_settled(srv);
	fake_stop(f);
	h_close(c);
}
END_TEST

/*
 * A vend that queued behind another still has all of vend_timeout once it
 * is sent: bob's drop, queued 2 s, is answered 4 s after it was made.
 */
START_TEST(a_queued_vend_has_the_whole_timeout_once_sent)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 2000);
	struct h_client *a = h_connect_as(srv, "alice", "alicepw");
	struct h_client *b;
	int64_t t0;
	cJSON *r;

	h_admin(srv, "{\"cmd\":\"credit\",\"user\":\"bob\",\"amount\":100,"
	    "\"note\":\"test\"}", NULL);
	b = h_connect_as(srv, "bob", "bobpw");
	t0 = now_ms();
	h_send(a, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	h_send(b, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	r = h_read(a);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	r = h_read(b);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_int_ge(now_ms() - t0, 3900);	/* vend_timeout = 3 */
	ck_assert_int_eq(fake_vends(f), 2);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(h_balance(srv, "bob"), 90);
	ck_assert(!h_server_log_contains(srv, "vended after timeout"));
	h_ledger_settled(srv);
	fake_stop(f);
	h_close(b);
	h_close(a);
}
END_TEST

START_TEST(controller_disconnect_mid_vend_charges_nothing)
{
	struct fake *f = fake_start(srv, "m1", FAKE_HANGUP, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");

	cJSON_Delete(drop_expect_error(c, 3, "drop_failed"));
	ck_assert_int_eq(fake_vends(f), 1);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	h_ledger_settled(srv);
	fake_stop(f);
	h_close(c);
}
END_TEST

START_TEST(replacement_connection_fails_the_vend_in_flight)
{
	struct fake *old = fake_start(srv, "m1", FAKE_SILENT, 0), *new;
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	cJSON *r;

	send_drop(c, "m1", 3, NULL);
	fake_wait_vends(old, 1);
	new = fake_start(srv, "m1", FAKE_ACK, 0);
	r = h_read(c);
	H_ASSERT_ERROR(r, "drop_failed");
	cJSON_Delete(r);
	ck_assert(fake_closed(old));
	ck_assert(h_server_log_wait(srv, "machine m1 offline (closed by the "
	    "server: replaced by a newer connection)", 10000));
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	/* The new connection serves the next drop. */
	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_int_eq(fake_vends(new), 1);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	h_ledger_settled(srv);
	fake_stop(old);
	fake_stop(new);
	h_close(c);
}
END_TEST

START_TEST(member_disconnect_does_not_stop_the_drop)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 500);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");

	send_drop(c, "m1", 3, NULL);
	fake_wait_vends(f, 1);
	h_close(c);
	H_WAIT_UNTIL(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'completed'") == 1);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	h_ledger_settled(srv);
	fake_stop(f);
}
END_TEST

START_TEST(two_members_are_served_in_arrival_order)
{
	char order[64];
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 300);
	struct h_client *a = h_connect_as(srv, "alice", "alicepw");
	struct h_client *b = h_connect_as(srv, "admin", "adminpw");
	cJSON *r;

	send_drop(a, "m1", 3, NULL);
	fake_wait_vends(f, 1);
	send_drop(b, "m1", 4, NULL);
	r = h_read(a);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	r = h_read(b);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	fake_order(f, order, sizeof(order));
	ck_assert_str_eq(order, "3,4,");
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(h_balance(srv, "admin"), 995);
	h_ledger_settled(srv);
	fake_stop(f);
	h_close(a);
	h_close(b);
}
END_TEST

START_TEST(one_drop_in_flight_per_member)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 500);
	struct h_client *a = h_connect_as(srv, "alice", "alicepw");
	struct h_client *b = h_connect_as(srv, "alice", "alicepw");
	cJSON *r;

	send_drop(a, "m1", 3, NULL);
	fake_wait_vends(f, 1);
	r = h_call(b, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":4}");
	H_ASSERT_ERROR(r, "drop_in_progress");
	cJSON_Delete(r);
	r = h_read(a);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_int_eq(fake_vends(f), 1);
	fake_stop(f);
	h_close(a);
	h_close(b);
}
END_TEST

START_TEST(retried_drop_with_key_vends_once)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 500);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	cJSON *r;
	int64_t tx;

	/* The member's connection dies mid-drop... */
	send_drop(c, "m1", 3, ",\"key\":\"buy-1\"");
	fake_wait_vends(f, 1);
	h_close(c);
	/* ...and the client retries on a new one until it gets an answer. */
	c = h_connect_as(srv, "alice", "alicepw");
	for (;;) {
		r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3,"
		    "\"key\":\"buy-1\"}");
		if (h_error(r) == NULL ||
		    strcmp(h_error(r), "drop_in_progress") != 0) {
			break;
		}
		cJSON_Delete(r);
		usleep(50 * 1000);
	}
	H_ASSERT_OK(r);
	tx = h_num(r, "tx");
	cJSON_Delete(r);
	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3,"
	    "\"key\":\"buy-1\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "tx"), tx);
	ck_assert_int_eq(h_num(r, "balance"), 90);
	cJSON_Delete(r);
	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":4,"
	    "\"key\":\"buy-1\"}");
	H_ASSERT_ERROR(r, "conflict");
	cJSON_Delete(r);
	ck_assert_int_eq(fake_vends(f), 1);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	h_ledger_settled(srv);
	fake_stop(f);
	h_close(c);
}
END_TEST

START_TEST(server_killed_mid_drop_releases_the_hold_on_restart)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	cJSON *r;

	send_drop(c, "m1", 3, ",\"key\":\"k\"");
	fake_wait_vends(f, 1);
	/* The hold is durable before the machine is asked. */
	h_server_kill(srv);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " state = 'pending'"), 1);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	fake_stop(f);
	h_close(c);
	h_server_restart(srv);
	ck_assert(h_server_log_contains(srv, "its machine had not answered: "
	    "the hold is returned"));
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'failed'"), 1);
	h_ledger_settled(srv);
	/* The key replays the outcome; nothing is vended again. */
	f = fake_start(srv, "m1", FAKE_ACK, 0);
	c = h_connect_as(srv, "alice", "alicepw");
	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3,"
	    "\"key\":\"k\"}");
	H_ASSERT_ERROR(r, "drop_failed");
	cJSON_Delete(r);
	ck_assert_int_eq(fake_vends(f), 0);
	fake_stop(f);
	h_close(c);
}
END_TEST

struct racer {
	int ok, poor, other;
};

static void *
racer_main(void *arg)
{
	struct racer *rc = arg;
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	const char *e;
	cJSON *r;
	int i;

	for (i = 0; i < 8; i++) {
		for (;;) {
			r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\","
			    "\"slot\":4}");
			e = h_error(r);
			if (e == NULL || strcmp(e, "drop_in_progress") != 0) {
				break;
			}
			cJSON_Delete(r);
			usleep(5 * 1000);
		}
		if (e == NULL) {
			rc->ok++;
		} else if (strcmp(e, "insufficient_funds") == 0) {
			rc->poor++;
		} else {
			rc->other++;
		}
		cJSON_Delete(r);
	}
	h_close(c);
	return NULL;
}

START_TEST(concurrent_drops_never_overspend)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 30);
	struct h_client *a = h_connect_as(srv, "admin", "adminpw");
	struct racer rc[8] = { { 0 } };
	pthread_t t[8];
	int i, ok = 0, poor = 0, other = 0;
	cJSON *r;

	/* Water costs 5: credit for exactly 3. */
	r = h_call(a, "{\"cmd\":\"set_balance\",\"user\":\"alice\","
	    "\"balance\":15,\"note\":\"race\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	for (i = 0; i < 8; i++) {
		pthread_create(&t[i], NULL, racer_main, &rc[i]);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ok += rc[i].ok;
		poor += rc[i].poor;
		other += rc[i].other;
	}
	ck_assert_int_eq(ok, 3);
	ck_assert_int_eq(poor, 61);
	ck_assert_int_eq(other, 0);
	ck_assert_int_eq(fake_vends(f), 3);
	ck_assert_int_eq(h_balance(srv, "alice"), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'completed'"), 3);
	h_ledger_settled(srv);
	fake_stop(f);
	h_close(a);
}
END_TEST

START_TEST(admin_refunds_a_completed_drop_once)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	struct h_client *a = h_connect_as(srv, "admin", "adminpw");
	char line[160];
	int64_t tx, refund;
	cJSON *r;

	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	H_ASSERT_OK(r);
	tx = h_num(r, "tx");
	cJSON_Delete(r);
	snprintf(line, sizeof(line), "{\"cmd\":\"refund\",\"tx\":%lld,"
	    "\"note\":\"it was warm\"}", (long long)tx);
	r = h_call(a, line);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 100);
	ck_assert_int_ne(h_num(r, "tx"), tx);
	cJSON_Delete(r);
	r = h_call(a, line);
	H_ASSERT_ERROR(r, "conflict");
	ck_assert_str_eq(h_str(r, "message"),
	    "that drop has already been refunded");
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	/* A keyed refund retried returns its first result, not conflict. */
	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	H_ASSERT_OK(r);
	tx = h_num(r, "tx");
	cJSON_Delete(r);
	snprintf(line, sizeof(line), "{\"cmd\":\"refund\",\"tx\":%lld,"
	    "\"note\":\"warm\",\"key\":\"rf-1\"}", (long long)tx);
	r = h_call(a, line);
	H_ASSERT_OK(r);
	refund = h_num(r, "tx");
	cJSON_Delete(r);
	r = h_call(a, line);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "tx"), refund);
	ck_assert_int_eq(h_num(r, "balance"), 100);
	cJSON_Delete(r);
	/* The key with other arguments: the key's conflict, in its words. */
	snprintf(line, sizeof(line), "{\"cmd\":\"refund\",\"tx\":%lld,"
	    "\"note\":\"cold\",\"key\":\"rf-1\"}", (long long)tx);
	r = h_call(a, line);
	H_ASSERT_ERROR(r, "conflict");
	ck_assert_str_eq(h_str(r, "message"),
	    "idempotency key reused with different arguments");
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'refund'"), 2);
	ck_assert_int_eq(h_sql_int(srv, "SELECT balance FROM accounts"
	    " WHERE name = '@sales'"), 0);
	/* History and log name a refunded drop's refund; nothing else. */
	r = h_call(c, "{\"cmd\":\"history\",\"limit\":2}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(cJSON_GetArrayItem(h_array(r, "transactions"),
	    1), "refund"), refund);
	ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetArrayItem(
	    h_array(r, "transactions"), 0), "refund"));
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"log\",\"kind\":\"drop\",\"limit\":1}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(cJSON_GetArrayItem(h_array(r, "transactions"),
	    0), "refund"), refund);
	cJSON_Delete(r);
	h_ledger_settled(srv);
	fake_stop(f);
	h_close(c);
	h_close(a);
}
END_TEST

/*
 * SIGTERM: the drop at the machine settles; the one queued behind it is
 * never sent (sent then, it could be cut off at the machine) and fails at
 * once, nothing charged.
 */
START_TEST(sigterm_lets_a_drop_in_flight_settle)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 1000);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	struct h_client *b;
	cJSON *r;

	h_admin(srv, "{\"cmd\":\"credit\",\"user\":\"bob\",\"amount\":100,"
	    "\"note\":\"test\"}", NULL);
	b = h_connect_as(srv, "bob", "bobpw");
	send_drop(c, "m1", 3, NULL);
	fake_wait_vends(f, 1);
	send_drop(b, "m1", 3, NULL);
	ck_assert_int_eq(h_sql_wait(srv, 2, "SELECT count(*) FROM tx WHERE "
	    "state = 'pending'"), 2);
	usleep(200 * 1000);	/* from its hold to the machine's queue */
	kill(srv->pid, SIGTERM);
	r = h_read(b);
	H_ASSERT_ERROR(r, "drop_failed");
	ck_assert_str_eq(h_str(r, "message"), "the server is shutting down; "
	    "nothing charged");
	cJSON_Delete(r);
	r = h_read(c);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_int_eq(h_server_stop(srv), 0);
	/* The wait is said, so that a slow stop does not look hung. */
	ck_assert_int_eq(h_server_log_count(srv, "info: stopping: waiting up "
	    "to 3 s for 1 drop(s) at a machine to settle"), 1);
	ck_assert_int_eq(fake_vends(f), 1);
	ck_assert_int_eq(h_balance(srv, "bob"), 100);
	h_close(b);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM sessions"
	    " WHERE ended IS NULL"), 0);
	h_ledger_settled(srv);
	fake_stop(f);
	h_close(c);
}
END_TEST

/*
 * set_balance while the member has a drop held is refused, and writes
 * nothing: set while the price sits in @holds, the balance would gain the
 * price again when the drop failed.  Once the drop has ended it works.
 */
START_TEST(set_balance_waits_for_a_held_drop)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	struct h_client *a = h_connect_as(srv, "admin", "adminpw");
	const char *set = "{\"cmd\":\"set_balance\",\"user\":\"alice\","
	    "\"balance\":10,\"note\":\"count\",\"key\":\"sb-1\"}";
	cJSON *r;

	send_drop(c, "m1", 3, NULL);
	fake_wait_vends(f, 1);
	r = h_call(a, set);
	H_ASSERT_ERROR(r, "drop_in_progress");
	ck_assert_str_eq(h_str(r, "message"), "alice has a drop in progress; "
	    "set the balance again once it has ended");
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'adjust'"), 0);
	/* The machine fails the vend: the hold comes back, only it. */
	fake_answer_last(f, 0);
	r = h_read(c);
	H_ASSERT_ERROR(r, "drop_failed");
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	/* The refusal used no key: the same request now does the work. */
	r = h_call(a, set);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 10);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 10);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'adjust'"), 1);
	h_ledger_settled(srv);
	fake_stop(f);
	h_close(a);
	h_close(c);
}
END_TEST

static Suite *
machine_suite(void)
{
	Suite *s = suite_create("machine");
	TCase *tc;

	tc = h_tcase(s, "certificates", setup, teardown, MACHINE_TIMEOUT);
	tcase_add_test(tc, machine_port_refuses_bad_certificates);
	tcase_add_test(tc, machine_port_refuses_revoked_and_disabled);
	tcase_add_test(tc, disabling_a_machine_disconnects_its_controller);
	tcase_add_test(tc, machine_close_reasons_say_who_closed);
	tc = h_tcase(s, "controller conversation", setup, teardown, MACHINE_TIMEOUT);
	tcase_add_test(tc, register_reports_stock_and_goes_online);
	tcase_add_test(tc, records_read_together_are_all_answered);
	tcase_add_test(tc, first_message_must_be_register);
	tcase_add_test(tc, junk_cannot_stretch_the_register_deadline);
	tcase_add_test(tc, ports_do_not_mix_their_commands);
	tcase_add_test(tc, controller_ids_are_echoed_verbatim);
	tcase_add_test(tc, partial_record_costs_no_cpu);
	tcase_add_test(tc, silent_controller_is_dropped);
	tc = h_tcase(s, "drops", setup, teardown, MACHINE_TIMEOUT);
	tcase_add_test(tc, drop_charges_and_decrements_stock);
	tcase_add_test(tc, drop_checks_before_holding);
	tcase_add_test(tc, stock_is_exact_when_ok_comes_before_slots);
	tcase_add_test(tc, stock_is_exact_when_slots_comes_before_ok);
	tcase_add_test(tc, stock_in_the_answer_is_taken_as_sensed);
	tcase_add_test(tc, reference_controller_sells_exactly_its_stock);
	tcase_add_test(tc, nack_fails_the_drop_and_charges_nothing);
	tcase_add_test(tc,
	    unanswered_vend_times_out_and_late_ok_is_not_charged);
	tcase_add_test(tc, delay_is_sent_and_extends_the_wait);
	tcase_add_test(tc, a_queued_vend_has_the_whole_timeout_once_sent);
	tcase_add_test(tc, controller_disconnect_mid_vend_charges_nothing);
	tcase_add_test(tc, replacement_connection_fails_the_vend_in_flight);
	tcase_add_test(tc, member_disconnect_does_not_stop_the_drop);
	tcase_add_test(tc, two_members_are_served_in_arrival_order);
	tcase_add_test(tc, one_drop_in_flight_per_member);
	tcase_add_test(tc, retried_drop_with_key_vends_once);
	tcase_add_test(tc, admin_refunds_a_completed_drop_once);
	tcase_add_test(tc, set_balance_waits_for_a_held_drop);
	tc = h_tcase(s, "crashes and signals", setup, teardown, MACHINE_TIMEOUT);
	tcase_add_test(tc, server_killed_mid_drop_releases_the_hold_on_restart);
	tcase_add_test(tc, sigterm_lets_a_drop_in_flight_settle);
	tcase_add_test(tc, concurrent_drops_never_overspend);
	return s;
}

int
main(void)
{
	int failed;

	h_init();
	failed = h_run(machine_suite());
	return h_finish(failed);
}
