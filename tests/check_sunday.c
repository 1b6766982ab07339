/*
 * The Sunday listener (LEGACY.md section 2) over real TLS, byte for byte:
 * the greeting, every command's success and error lines with their line
 * endings, the framing rules (pipelining, CR, case, empty arguments, long
 * lines), logins by password, by certificate, and by card under each
 * sunday_ibutton mode (with its throttle, which no good card clears),
 * drops answered only after the machine's answer and charging nothing
 * when it fails, transfers, and the ledger checked after money moved.
 * Machines m1 ("Big Drink") and m2 ("Snack") have test certificates, so
 * the fake controller (fake.c) can play either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake.h"
#include "legacy.h"

#define SUNDAY_TIMEOUT 90

static struct h_server *srv;
static char *shim;	/* the fault shim's flag, when srv runs under it */

static void
sunday_start(const char *more)
{
	char *conf = xasprintf("vend_timeout = 3\n"
	    "sunday_listen = 127.0.0.1:0\n%s", more != NULL ? more : "");

	srv = h_machine_server_start(conf);
	free(conf);
}

/* Machines m1 (slots as in LEGACY.md 2.7) and m2; no controller yet. */
static void
machines_setup(void)
{
	sunday_start(NULL);
	h_admin(srv, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Big Drink\"}",
	    "{\"cmd\":\"machine_add\",\"machine\":\"m2\",\"name\":\"Snack\"}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":1,"
	    "\"item\":\"Coke\",\"price\":50,\"stock\":3}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":2,"
	    "\"item\":\"Dr. Pepper\",\"price\":50,\"stock\":0}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":3,"
	    "\"item\":\"Jolt\",\"price\":75,\"stock\":5,"
	    "\"enabled\":false}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":4,"
	    "\"item\":\"Club-Mate\",\"price\":150,\"stock\":9}", NULL);
}

/* machines_setup under the fault shim, to hold a client's thread. */
static void
shim_setup(void)
{
	shim = h_fault_shim();
	machines_setup();
}

static void
plain_setup(void)
{
	sunday_start(NULL);
}

/* No machines; member certificates from the test CA log in. */
static void
cert_setup(void)
{
	char *ca = h_cert_path("ca.crt"), *more;

	more = xasprintf("member_ca = %s", ca);
	sunday_start(more);
	free(more);
	free(ca);
}

static void
teardown(void)
{
	h_server_free(srv);
	srv = NULL;
	free(shim);
	shim = NULL;
}

/* A Sunday connection (presenting cert unless NULL), greeting read. */
static struct h_client *
sunday_connect_cert(const char *cert, const char *greeting)
{
	char err[512];
	struct h_client *c = h_tls_dial(lg_port(srv, "sunday_listen"), cert,
	    err, sizeof(err));

	ck_assert_msg(c != NULL, "Sunday connect: %s", err);
	lg_expect(c, greeting);
	return c;
}

static struct h_client *
sunday_connect(void)
{
	return sunday_connect_cert(NULL, "Welcome to Big Drink\n");
}

static struct h_client *
sunday_login(const char *user, const char *password, const char *ok)
{
	struct h_client *c = sunday_connect();
	char line[128];

	snprintf(line, sizeof(line), "USER %s\n", user);
	lg_say(c, line, "OK: \r\n");
	snprintf(line, sizeof(line), "PASS %s\n", password);
	lg_say(c, line, ok);
	return c;
}

/* Wait until machine's online flag is want; fails after 10 s. */
static void
wait_online(const char *machine, int want)
{
	int64_t deadline = now_ms() + 10000;
	int online;

	while ((online = h_machine_online(srv, machine) == 1) != want &&
	    now_ms() < deadline) {
		usleep(50 * 1000);
	}
	ck_assert_msg(online == want, "%s never went %s", machine,
	    want ? "online" : "offline");
}

/* ---- greeting and machine selection --------------------------------- */

START_TEST(sunday_greeting_first_machine)
{
	struct h_client *c = sunday_connect();

	/* The greeting is the only line, ended by a bare LF. */
	ck_assert(lg_quiet(c, 300));
	lg_say(c, "STAT\n", "1 \"Coke\" 50 3 1\n2 \"Dr. Pepper\" 50 0 1\n"
	    "3 \"Jolt\" 75 5 0\n4 \"Club-Mate\" 150 9 1\n"
	    "OK 4 Slots retrieved\r\n");
	h_close(c);
}
END_TEST

START_TEST(sunday_greeting_default_machine)
{
	h_server_free(srv);
	sunday_start("sunday_default_machine = m2");
	h_admin(srv, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Big Drink\"}",
	    "{\"cmd\":\"machine_add\",\"machine\":\"m2\","
	    "\"name\":\"Snack\"}", NULL);
	h_close(sunday_connect_cert(NULL, "Welcome to Snack\n"));
}
END_TEST

START_TEST(sunday_greeting_unknown_default_machine)
{
	h_server_free(srv);
	sunday_start("sunday_default_machine = nosuch");
	h_admin(srv, "{\"cmd\":\"machine_add\",\"machine\":\"zz\","
	    "\"name\":\"Last\"}",
	    "{\"cmd\":\"machine_add\",\"machine\":\"m2\","
	    "\"name\":\"Snack\"}", NULL);
	h_close(sunday_connect_cert(NULL, "Welcome to Snack\n"));
	/* A kiosk sent to another machine than configured: said, once. */
	h_close(sunday_connect_cert(NULL, "Welcome to Snack\n"));
	ck_assert_int_eq(h_server_log_count(srv, "warning: "
	    "sunday_default_machine = nosuch names no machine: Sunday "
	    "sessions start on m2, the first machine by id; add the machine "
	    "(drink machine-add) or correct the key"), 1);
}
END_TEST

START_TEST(sunday_greeting_no_machines)
{
	struct h_client *c = sunday_connect_cert(NULL, "Welcome to Drink\n");

	lg_say(c, "STAT\n", "ERR 413 No machine selected.\r\n");
	lg_say(c, "SERVERSTAT\n", "{\"machines\":[],\"opcode\":\"OK\"}\r\n");
	h_close(c);
}
END_TEST

START_TEST(sunday_machine_select)
{
	struct h_client *c = sunday_connect();

	lg_say(c, "MACHINE\n", "ERR 206 Invalid number of args - USAGE: "
	    "MACHINE <machine id>\r\n");
	lg_say(c, "MACHINE m2 x\n", "ERR 206 Invalid number of args - USAGE: "
	    "MACHINE <machine id>\r\n");
	lg_say(c, "MACHINE ld\n", "ERR 414 Invalid machine name - USAGE: "
	    "MACHINE <machine id>\r\n");
	lg_say(c, "MACHINE M2\n", "ERR 414 Invalid machine name - USAGE: "
	    "MACHINE <machine id>\r\n");
	lg_say(c, "MACHINE m2\n", "OK:  Welcome to Snack\r\n");
	lg_say(c, "STAT\n", "OK 0 Slots retrieved\r\n");
	lg_say(c, "machine m1\n", "OK:  Welcome to Big Drink\r\n");
	h_close(c);
}
END_TEST

START_TEST(sunday_stat_item_escaping)
{
	struct h_client *c;

	h_admin(srv, "{\"cmd\":\"slot_set\",\"machine\":\"m2\",\"slot\":1,"
	    "\"item\":\"Say \\\"hi\\\"\\tnow\",\"price\":5,\"stock\":1}",
	    NULL);
	/* A slot without an item, as slot_set once made a new one. */
	h_sql_exec(srv, "INSERT INTO slots (machine, slot, item, price, stock,"
	    " enabled) VALUES ('m2', 2, '', 7, 2, 1)");
	c = sunday_connect();
	lg_say(c, "MACHINE m2\n", "OK:  Welcome to Snack\r\n");
	lg_say(c, "stat ignored args\n", "1 \"Say 'hi' now\" 5 1 1\n"
	    "2 \"\" 7 2 1\nOK 2 Slots retrieved\r\n");
	h_close(c);
}
END_TEST

/*
 * A display name may hold a CR or LF (machine_add takes any text): on a
 * Sunday line it is a space, as in an item, or a greeting or MACHINE
 * reply would come as two lines and every later reply would answer the
 * command before it.  SERVERSTAT is JSON, which escapes them.
 */
START_TEST(sunday_display_name_stays_one_line)
{
	struct h_client *c;

	h_admin(srv, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"name\":\"Big\\r\\nDrink\"}",
	    "{\"cmd\":\"machine_mod\",\"machine\":\"m2\","
	    "\"name\":\"Sn\\tack\\n\"}", NULL);
	c = sunday_connect_cert(NULL, "Welcome to Big  Drink\n");
	lg_say(c, "MACHINE m2\n", "OK:  Welcome to Sn ack \r\n");
	lg_say(c, "SERVERSTAT\n", "{\"machines\":[{\"machine_name\":"
	    "\"Big\\r\\nDrink\",\"connected\":false},{\"machine_name\":"
	    "\"Sn\\tack\\n\",\"connected\":false}],\"opcode\":\"OK\"}\r\n");
	lg_say(c, "MACHINE m1\n", "OK:  Welcome to Big  Drink\r\n");
	ck_assert(lg_quiet(c, 200));
	h_close(c);
}
END_TEST

START_TEST(sunday_stat_deleted_machine)
{
	struct h_client *c = sunday_connect();

	h_admin(srv, "{\"cmd\":\"machine_del\",\"machine\":\"m1\"}", NULL);
	lg_say(c, "STAT\n", "ERR 413 No machine selected.\r\n");
	lg_say(c, "USER alice\n", "OK: \r\n");
	lg_say(c, "PASS alicepw\n", "OK: 100\r\n");
	lg_say(c, "DROP 1\n", "ERR 413 No machine selected.\r\n");
	h_close(c);
}
END_TEST

/* ---- password login ------------------------------------------------- */

START_TEST(sunday_user_pass)
{
	struct h_client *c = sunday_connect();

	lg_say(c, "USER\n", "ERR 206 Invalid number of args USAGE: "
	    "PASS <username>\r\n");
	lg_say(c, "PASS\n", "ERR 206 Invalid number of args USAGE: "
	    "PASS <username>\r\n");
	lg_say(c, "PASS alicepw\n", "ERR 201 USER command needs to be issued "
	    "first.\r\n");
	lg_say(c, "USER alice x\n", "ERR 206 Invalid number of args USAGE: "
	    "PASS <username>\r\n");
	lg_say(c, "WHOAMI\n", "ERR 204 You need to login.\r\n");
	lg_say(c, "USER alice\n", "OK: \r\n");
	lg_say(c, "PASS wrong\n", "ERR 407 Invalid password.\r\n");
	/* The pending name survives a failure; CRLF and case are fine. */
	lg_say(c, "pass alicepw\r\n", "OK: 100\r\n");
	lg_say(c, "WHOAMI\n", "OK:  alice\r\n");
	lg_say(c, "GETBALANCE\n", "OK: 100\r\n");
	/* Success cleared the pending name. */
	lg_say(c, "PASS alicepw\n", "ERR 201 USER command needs to be issued "
	    "first.\r\n");
	h_close(c);
}
END_TEST

START_TEST(sunday_pass_refusals_all_407)
{
	struct h_client *c = sunday_connect();

	lg_say(c, "USER nobody\n", "OK: \r\n");
	lg_say(c, "PASS alicepw\n", "ERR 407 Invalid password.\r\n");
	lg_say(c, "USER Bad.Name\n", "OK: \r\n");
	lg_say(c, "PASS alicepw\n", "ERR 407 Invalid password.\r\n");
	/* An empty argument counts as one: an empty name, then password. */
	lg_say(c, "USER \n", "OK: \r\n");
	lg_say(c, "PASS alicepw\n", "ERR 407 Invalid password.\r\n");
	lg_say(c, "USER alice\n", "OK: \r\n");
	lg_say(c, "PASS \n", "ERR 407 Invalid password.\r\n");
	lg_say(c, "PASS alice pw\n", "ERR 206 Invalid number of args USAGE: "
	    "PASS <username>\r\n");
	h_admin(srv, "{\"cmd\":\"user_mod\",\"user\":\"bob\","
	    "\"disabled\":true}", NULL);
	lg_say(c, "USER bob\n", "OK: \r\n");
	lg_say(c, "PASS bobpw\n", "ERR 407 Invalid password.\r\n");
	lg_say(c, "WHOAMI\n", "ERR 204 You need to login.\r\n");
	h_close(c);
}
END_TEST

/*
 * GETBALANCE needs a login like WHOAMI (LEGACY.md 2.3): 204, whatever its
 * arguments, until PASS succeeds, then the ledger's balance.
 */
START_TEST(sunday_getbalance_needs_login)
{
	struct h_client *c = sunday_connect();

	lg_say(c, "GETBALANCE\n", "ERR 204 You need to login.\r\n");
	lg_say(c, "getbalance alice\n", "ERR 204 You need to login.\r\n");
	lg_say(c, "USER alice\n", "OK: \r\n");
	lg_say(c, "GETBALANCE\n", "ERR 204 You need to login.\r\n");
	lg_say(c, "PASS wrong\n", "ERR 407 Invalid password.\r\n");
	lg_say(c, "GETBALANCE\n", "ERR 204 You need to login.\r\n");
	lg_say(c, "PASS alicepw\n", "OK: 100\r\n");
	lg_say(c, "GETBALANCE\n", "OK: 100\r\n");
	h_close(c);
}
END_TEST

START_TEST(sunday_pass_lockout)
{
	struct h_client *c = sunday_connect();
	int i;

	lg_say(c, "USER alice\n", "OK: \r\n");
	for (i = 0; i < 6; i++) {
		lg_say(c, "PASS nope\n", "ERR 407 Invalid password.\r\n");
	}
	/* Locked out: the right password is refused too, and no login. */
	lg_say(c, "PASS alicepw\n", "ERR 407 Invalid password.\r\n");
	lg_say(c, "WHOAMI\n", "ERR 204 You need to login.\r\n");
	h_close(c);
}
END_TEST

/* ---- card login ----------------------------------------------------- */

static void
bind_card(const char *user, const char *card)
{
	char line[256];

	snprintf(line, sizeof(line), "{\"cmd\":\"card_add\",\"card\":\"%s\","
	    "\"user\":\"%s\"}", card, user);
	h_admin(srv, line, NULL);
}

START_TEST(sunday_ibutton_any)
{
	struct h_client *c;

	bind_card("alice", "0d000016c2f28501");
	c = sunday_connect();
	lg_say(c, "IBUTTON\n", "ERR 206 Invalid number of args - USAGE: "
	    "IBUTTON <ibutton number>\r\n");
	lg_say(c, "IBUTTON 0D000016C2F28502\n", "ERR 207 Invalid Ibutton\r\n");
	lg_say(c, "IBUTTON xyz!\n", "ERR 207 Invalid Ibutton\r\n");
	lg_say(c, "IBUTTON 0D000016C2F2850100000000000000000\n",
	    "ERR 207 Invalid Ibutton\r\n");
	lg_say(c, "WHOAMI\n", "ERR 204 You need to login.\r\n");
	/* Separators are dropped; hex case does not matter. */
	lg_say(c, "ibutton 0D-00-00-16-C2-F2-85-01\n", "OK: 100\r\n");
	lg_say(c, "WHOAMI\n", "OK:  alice\r\n");
	ck_assert_int_gt(h_sql_int(srv, "SELECT last_used FROM cards"), 0);
	h_close(c);
}
END_TEST

/*
 * IBUTTON takes exactly one argument (two, or an empty second one made by
 * a double space, are 206b, checked before anything else), and what is
 * left of it after dropping non-alphanumerics must be at least 4 hex
 * digits: 3 are 207, exactly 4 naming a card log in (LEGACY.md 2.3).
 */
START_TEST(sunday_ibutton_argument_count_and_length)
{
	struct h_client *c;

	bind_card("alice", "abcd");
	c = sunday_connect();
	lg_say(c, "IBUTTON abcd 1\n", "ERR 206 Invalid number of args - "
	    "USAGE: IBUTTON <ibutton number>\r\n");
	lg_say(c, "IBUTTON ab cd\n", "ERR 206 Invalid number of args - "
	    "USAGE: IBUTTON <ibutton number>\r\n");
	lg_say(c, "IBUTTON abcd \n", "ERR 206 Invalid number of args - "
	    "USAGE: IBUTTON <ibutton number>\r\n");
	lg_say(c, "IBUTTON \n", "ERR 207 Invalid Ibutton\r\n");
	lg_say(c, "IBUTTON abc\n", "ERR 207 Invalid Ibutton\r\n");
	lg_say(c, "IBUTTON a-b-c\n", "ERR 207 Invalid Ibutton\r\n");
	lg_say(c, "IBUTTON 0\n", "ERR 207 Invalid Ibutton\r\n");
	lg_say(c, "WHOAMI\n", "ERR 204 You need to login.\r\n");
	lg_say(c, "IBUTTON AB-CD\n", "OK: 100\r\n");
	lg_say(c, "WHOAMI\n", "OK:  alice\r\n");
	h_close(c);
}
END_TEST

START_TEST(sunday_ibutton_disabled_owner)
{
	struct h_client *c;

	bind_card("bob", "b0b0b0b0");
	h_admin(srv, "{\"cmd\":\"user_mod\",\"user\":\"bob\","
	    "\"disabled\":true}", NULL);
	c = sunday_connect();
	lg_say(c, "IBUTTON b0b0b0b0\n", "ERR 207 Invalid Ibutton\r\n");
	lg_say(c, "WHOAMI\n", "ERR 204 You need to login.\r\n");
	h_close(c);
}
END_TEST

START_TEST(sunday_ibutton_throttled)
{
	struct h_client *c;
	char line[64];
	int i;

	bind_card("alice", "a11cea11ce");
	c = sunday_connect();
	for (i = 0; i < 6; i++) {
		snprintf(line, sizeof(line), "IBUTTON %08x\n", 0xbad0 + i);
		lg_say(c, line, "ERR 207 Invalid Ibutton\r\n");
	}
	lg_say(c, "IBUTTON a11cea11ce\n", "ERR 207 Invalid Ibutton\r\n");
	lg_say(c, "WHOAMI\n", "ERR 204 You need to login.\r\n");
	h_close(c);
}
END_TEST

/*
 * A good card between unknown ones clears nothing, or a member could
 * guess at other cards for ever by giving his own every few tries: bob's
 * card after four unknown ones, a fifth unknown one, and alice's card is
 * refused (bob's too, while locked); bob stays logged in, and alice's
 * money does not move.
 */
START_TEST(sunday_ibutton_own_card_unlocks_nothing)
{
	struct h_client *c;
	char line[64];
	int i;

	bind_card("alice", "a11cea11ce");
	bind_card("bob", "b0b0b0b0");
	c = sunday_connect();
	for (i = 0; i < 4; i++) {
		snprintf(line, sizeof(line), "IBUTTON %08x\n", 0xbad0 + i);
		lg_say(c, line, "ERR 207 Invalid Ibutton\r\n");
	}
	lg_say(c, "IBUTTON b0b0b0b0\n", "OK: 0\r\n");
	lg_say(c, "IBUTTON 0000bad4\n", "ERR 207 Invalid Ibutton\r\n");
	lg_say(c, "IBUTTON a11cea11ce\n", "ERR 207 Invalid Ibutton\r\n");
	lg_say(c, "IBUTTON b0b0b0b0\n", "ERR 207 Invalid Ibutton\r\n");
	lg_say(c, "WHOAMI\n", "OK:  bob\r\n");
	lg_say(c, "SENDCREDITS 5 bob\n", "ERR 209 Error during credit "
	    "transfer\r\n");
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(h_balance(srv, "bob"), 0);
	ck_assert(h_server_log_contains(srv, "IBUTTON login refused from "
	    "127.0.0.1: unknown card or disabled owner"));
	ck_assert(h_server_log_contains(srv, "IBUTTON login throttled from "
	    "127.0.0.1, retry after "));
	h_ledger_settled(srv);
	h_close(c);
}
END_TEST

START_TEST(sunday_ibutton_off)
{
	struct h_client *c;

	h_server_free(srv);
	sunday_start("sunday_ibutton = off");
	bind_card("alice", "0d000016c2f28501");
	c = sunday_connect_cert(NULL, "Welcome to Drink\n");
	lg_say(c, "IBUTTON 0D000016C2F28501\n", "ERR 207 Invalid Ibutton\r\n");
	lg_say(c, "WHOAMI\n", "ERR 204 You need to login.\r\n");
	h_close(c);
}
END_TEST

START_TEST(sunday_ibutton_cert)
{
	struct h_client *c;
	char *ca = h_cert_path("ca.crt"), *more;

	h_server_free(srv);
	more = xasprintf("sunday_ibutton = cert\nmember_ca = %s", ca);
	sunday_start(more);
	free(more);
	free(ca);
	bind_card("bob", "0d000016c2f28501");
	/* Without a certificate: refused. */
	c = sunday_connect_cert(NULL, "Welcome to Drink\n");
	lg_say(c, "IBUTTON 0D000016C2F28501\n", "ERR 207 Invalid Ibutton\r\n");
	h_close(c);
	/* With one from member_ca, whatever its CN: allowed. */
	c = sunday_connect_cert("member-alice", "Welcome to Drink\n");
	lg_say(c, "IBUTTON 0D000016C2F28501\n", "OK: 0\r\n");
	lg_say(c, "WHOAMI\n", "OK:  bob\r\n");
	h_close(c);
}
END_TEST

START_TEST(sunday_config_ibutton_mode_checked)
{
	char *out = xasprintf("%s/ibutton.out", srv->dir), *text;
	FILE *f;

	ck_assert_int_eq(h_drinkd_run("-n --sunday_ibutton=maybe", out,
	    10000), 2);
	f = fopen(out, "r");
	ck_assert_ptr_nonnull(f);
	text = xcalloc(1, 4096);
	ck_assert_uint_gt(fread(text, 1, 4095, f), 0);
	fclose(f);
	ck_assert_msg(strstr(text, "sunday_ibutton: expected any, cert or "
	    "off, got \"maybe\"") != NULL, "%s", text);
	free(text);
	free(out);
}
END_TEST

/* ---- certificate login (LEGACY.md section 1) ------------------------ */

/* The next event named name on c (other lines skipped); caller deletes. */
static cJSON *
next_event(struct h_client *c, const char *name)
{
	const cJSON *ev;
	cJSON *m;

	for (;;) {
		m = h_read(c);
		ev = cJSON_GetObjectItem(m, "event");
		if (cJSON_IsString(ev) && strcmp(ev->valuestring, name) == 0) {
			return m;
		}
		cJSON_Delete(m);
	}
}

/*
 * A member certificate that logs in on the member port logs in on Sunday
 * too, before the greeting (which stays Sunday's); the session is
 * recorded under the user and announced to "sessions" subscribers, open
 * and closed, as any member session.
 */
START_TEST(sunday_certificate_login)
{
	struct h_client *a, *c;
	cJSON *ev;
	int64_t session;

	a = h_connect_as(srv, "admin", "adminpw");
	h_expect(a, NULL, "{\"cmd\":\"subscribe\",\"topics\":[\"sessions\"]}");
	c = sunday_connect_cert("member-alice", "Welcome to Drink\n");
	lg_say(c, "WHOAMI\n", "OK:  alice\r\n");
	lg_say(c, "GETBALANCE\n", "OK: 100\r\n");
	ev = next_event(a, "session");
	ck_assert_str_eq(h_str(ev, "state"), "open");
	ck_assert_str_eq(h_str(ev, "kind"), "member");
	ck_assert_str_eq(h_str(ev, "user"), "alice");
	session = h_num(ev, "session");
	cJSON_Delete(ev);
	ck_assert_int_eq(h_sql_wait(srv, 1, "SELECT count(*) FROM sessions "
	    "WHERE id = %lld AND user = 'alice' AND kind = 'member' AND "
	    "ended IS NULL", (long long)session), 1);
	ck_assert(h_server_log_contains(srv, "login ok: user alice (member) "
	    "by certificate from 127.0.0.1"));
	lg_say(c, "QUIT\n", "Good Bye\r\n");
	ck_assert(h_closed(c));
	h_close(c);
	ev = next_event(a, "session");
	ck_assert_str_eq(h_str(ev, "state"), "closed");
	ck_assert_int_eq(h_num(ev, "session"), session);
	cJSON_Delete(ev);
	ck_assert(h_server_log_wait(srv, "closed (quit), user alice, Sunday "
	    "connection from 127.0.0.1", 5000));
	/* Without a certificate nobody is logged in. */
	c = sunday_connect_cert(NULL, "Welcome to Drink\n");
	lg_say(c, "WHOAMI\n", "ERR 204 You need to login.\r\n");
	h_close(c);
	h_close(a);
}
END_TEST

/* ---- reads ---------------------------------------------------------- */

START_TEST(sunday_uptime_serverstat)
{
	struct h_client *c = sunday_connect();
	struct tm tm = { 0 };
	const char *end;
	time_t up, now = time(NULL);

	lg_send(c, "UPTIME\n");
	/* "OK: Up since: Tue, 01 Dec 2026 21:38:51 GMT\r\n" */
	lg_expect(c, "OK: Up since: ");
	ck_assert_int_eq(h_read_line(c, 5000), CONN_OK);
	ck_assert_int_eq(strlen(c->line), 29);
	end = strptime(c->line, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	ck_assert_msg(end != NULL && *end == '\0', "bad date \"%s\"",
	    c->line);
	up = timegm(&tm);
	/* drinkd started during this test's setup. */
	ck_assert_msg(up <= now && up >= now - 120, "up since %s",
	    c->line);
	lg_say(c, "SERVERSTAT x\n", "{\"machines\":[{\"machine_name\":"
	    "\"Big Drink\",\"connected\":false},{\"machine_name\":\"Snack\","
	    "\"connected\":false}],\"opcode\":\"OK\"}\r\n");
	h_close(c);
}
END_TEST

/*
 * WHOAMI, GETBALANCE and UPTIME ignore their arguments (LEGACY.md 2.3),
 * however many, empty ones included: the same bytes as without them.
 */
START_TEST(sunday_reads_ignore_arguments)
{
	struct h_client *c = sunday_connect();
	char *uptime;

	lg_say(c, "WHOAMI me\n", "ERR 204 You need to login.\r\n");
	lg_send(c, "UPTIME\n");
	lg_expect(c, "OK: Up since: ");
	ck_assert_int_eq(h_read_line(c, 5000), CONN_OK);
	ck_assert_int_eq(strlen(c->line), 29);
	uptime = xasprintf("OK: Up since: %s\r\n", c->line);
	lg_say(c, "UPTIME now please\n", uptime);
	lg_say(c, "uptime  \n", uptime);
	lg_say(c, "USER alice\n", "OK: \r\n");
	lg_say(c, "PASS alicepw\n", "OK: 100\r\n");
	lg_say(c, "WHOAMI bob\n", "OK:  alice\r\n");
	lg_say(c, "whoami a b c d e\n", "OK:  alice\r\n");
	lg_say(c, "WHOAMI \n", "OK:  alice\r\n");
	lg_say(c, "GETBALANCE bob\n", "OK: 100\r\n");
	lg_say(c, "GETBALANCE 1 2 3 4 5\n", "OK: 100\r\n");
	lg_say(c, "GETBALANCE  \n", "OK: 100\r\n");
	lg_say(c, "UPTIME 1 2 3 4 5\n", uptime);
	free(uptime);
	h_close(c);
}
END_TEST

START_TEST(sunday_quit)
{
	struct h_client *c = sunday_connect();

	lg_say(c, "QUIT now\n", "Good Bye\r\n");
	ck_assert(h_closed(c));
	h_close(c);
}
END_TEST

/* ---- framing -------------------------------------------------------- */

START_TEST(sunday_pipelined_lines)
{
	struct h_client *c = sunday_connect();

	lg_say(c, "WHOAMI\nDROP 1\nPASS x\n", "ERR 204 You need to login.\r\n"
	    "ERR 204 You need to login.\r\nERR 201 USER command needs to be "
	    "issued first.\r\n");
	/* Split anywhere: a line is a line however it arrives. */
	lg_send(c, "US");
	usleep(100 * 1000);
	lg_send(c, "ER alice\r");
	usleep(100 * 1000);
	lg_say(c, "\nPASS alicepw\nGETBAL", "OK: \r\nOK: 100\r\n");
	lg_say(c, "ANCE\n", "OK: 100\r\n");
	h_close(c);
}
END_TEST

START_TEST(sunday_bad_lines)
{
	struct h_client *c = sunday_connect();

	lg_say(c, "\n", "ERR 415 Invalid command\r\n");
	lg_say(c, "\r\n", "ERR 415 Invalid command\r\n");
	lg_say(c, "HELLO\n", "ERR 415 Invalid command\r\n");
	lg_say(c, " WHOAMI\n", "ERR 415 Invalid command\r\n");
	lg_say(c, "WHOAMI\n", "ERR 204 You need to login.\r\n");
	h_close(c);
}
END_TEST

START_TEST(sunday_line_too_long)
{
	struct h_client *c;
	char *line;

	h_server_free(srv);
	sunday_start("max_line = 256");
	c = sunday_connect_cert(NULL, "Welcome to Drink\n");
	line = xmalloc(400);
	memset(line, 'A', 399);
	line[399] = '\0';
	lg_send(c, line);
	lg_expect(c, "ERR 415 Invalid command\r\n");
	ck_assert(h_closed(c));
	free(line);
	h_close(c);
}
END_TEST

START_TEST(sunday_plaintext_and_tls11_refused)
{
	const char req[] = "USER alice\n";
	SSL_CTX *ctx = h_tls_ctx(NULL);
	struct h_client *c;
	char err[512];
	int fd = h_tcp_dial(lg_port(srv, "sunday_listen"));

	ck_assert_int_eq(write(fd, req, sizeof(req) - 1),
	    (ssize_t)sizeof(req) - 1);
	ck_assert(h_tcp_closed(fd, H_CLOSE_MS));
	close(fd);
	SSL_CTX_set_security_level(ctx, 0);
	ck_assert_int_eq(SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0"),
	    1);
	ck_assert_int_eq(SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION),
	    1);
	ck_assert_int_eq(SSL_CTX_set_min_proto_version(ctx, TLS1_1_VERSION),
	    1);
	c = h_tls_dial_ctx(lg_port(srv, "sunday_listen"), ctx, err,
	    sizeof(err));
	SSL_CTX_free(ctx);
	ck_assert_msg(c == NULL, "TLS 1.1 accepted");
	ck_assert_msg(strstr(err, "no protocols available") == NULL, "%s",
	    err);
	h_close(sunday_connect());
}
END_TEST

START_TEST(sunday_who_lists_member)
{
	struct h_client *c = sunday_login("bob", "bobpw", "OK: 0\r\n");

	lg_who_is(srv, "user", "bob", "member");
	h_close(c);
}
END_TEST

/* ---- drops ---------------------------------------------------------- */

START_TEST(sunday_drop_syntax)
{
	struct h_client *c = sunday_connect();

	lg_say(c, "DROP 1\n", "ERR 204 You need to login.\r\n");
	lg_say(c, "USER alice\n", "OK: \r\n");
	lg_say(c, "PASS alicepw\n", "OK: 100\r\n");
	lg_say(c, "DROP\n", "ERR 409 Invalid slot.\r\n");
	lg_say(c, "DROP 3x\n", "ERR 409 Invalid slot.\r\n");
	lg_say(c, "DROP -1\n", "ERR 409 Invalid slot.\r\n");
	lg_say(c, "DROP 12345678901\n", "ERR 409 Invalid slot.\r\n");
	lg_say(c, "DROP \n", "ERR 409 Invalid slot.\r\n");
	lg_say(c, "DROP 1 301\n", "ERR 403 Invalid delay\r\n");
	lg_say(c, "DROP 1 0300\n", "ERR 403 Invalid delay\r\n");
	lg_say(c, "DROP 1 1.5\n", "ERR 403 Invalid delay\r\n");
	lg_say(c, "DROP 1 \n", "ERR 403 Invalid delay\r\n");
	/* Well-formed, but nobody is at m1. */
	lg_say(c, "DROP 1 300 extra words\n", "ERR 151 Unable to communicate "
	    "with hardware. Contact an admin.\r\n");
	lg_say(c, "DROP 99\n", "ERR 151 Unable to communicate with hardware. "
	    "Contact an admin.\r\n");
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	h_close(c);
}
END_TEST

START_TEST(sunday_drop_refusals)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 50);
	struct h_client *c = sunday_login("alice", "alicepw", "OK: 100\r\n");

	lg_say(c, "DROP 99\n", "ERR 105 Slot not found\r\n");
	lg_say(c, "DROP 0\n", "ERR 105 Slot not found\r\n");
	lg_say(c, "DROP 9999999999\n", "ERR 105 Slot not found\r\n");
	lg_say(c, "DROP 3\n", "ERR 102 Slot disabled.\r\n");
	lg_say(c, "DROP 2\n", "ERR 100 Slot empty.\r\n");
	lg_say(c, "DROP 4\n", "ERR 203 User is poor.\r\n");
	/* A slot without an item (an old database's) is not set up. */
	h_sql_exec(srv, "INSERT INTO slots (machine, slot, item, price, stock,"
	    " enabled) VALUES ('m1', 8, '', 0, 5, 1)");
	lg_say(c, "DROP 8\nWHOAMI\n", "ERR 102 Slot disabled.\r\n"
	    "OK:  alice\r\n");
	ck_assert_int_eq(fake_vends(f), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'drop'"), 0);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	h_ledger_settled(srv);
	h_close(c);
	fake_stop(f);
}
END_TEST

/*
 * When several failures apply, the first in LEGACY.md 2.5's order wins,
 * in one line: a slot disabled and empty is 102 (Drink-JS sent 102 and
 * 100), disabled and too dear 102, empty and too dear 100; on a disabled
 * machine every drop is 151, a slot that does not exist included.  The
 * machine is never asked and nothing is held.
 */
START_TEST(sunday_drop_failure_precedence)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 50);
	struct h_client *c;

	h_admin(srv, "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":5,"
	    "\"item\":\"Tab\",\"price\":50,\"stock\":0,"
	    "\"enabled\":false}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":6,"
	    "\"item\":\"Caviar\",\"price\":500,\"stock\":0}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":7,"
	    "\"item\":\"Truffle\",\"price\":500,\"stock\":2,"
	    "\"enabled\":false}", NULL);
	c = sunday_login("alice", "alicepw", "OK: 100\r\n");
	/* One line each: the next command's reply follows at once. */
	lg_say(c, "DROP 5\nWHOAMI\n", "ERR 102 Slot disabled.\r\n"
	    "OK:  alice\r\n");
	lg_say(c, "DROP 7\nWHOAMI\n", "ERR 102 Slot disabled.\r\n"
	    "OK:  alice\r\n");
	lg_say(c, "DROP 6\nWHOAMI\n", "ERR 100 Slot empty.\r\n"
	    "OK:  alice\r\n");
	h_admin(srv, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"enabled\":false}", NULL);
	lg_say(c, "DROP 1\n", "ERR 151 Unable to communicate with hardware. "
	    "Contact an admin.\r\n");
	lg_say(c, "DROP 5\n", "ERR 151 Unable to communicate with hardware. "
	    "Contact an admin.\r\n");
	lg_say(c, "DROP 99\n", "ERR 151 Unable to communicate with hardware. "
	    "Contact an admin.\r\n");
	lg_say(c, "GETBALANCE\n", "OK: 100\r\n");
	ck_assert_int_eq(fake_vends(f), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'drop'"), 0);
	h_ledger_settled(srv);
	h_close(c);
	fake_stop(f);
}
END_TEST

START_TEST(sunday_drop_charges_after_ack)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 1500);
	struct h_client *c = sunday_login("alice", "alicepw", "OK: 100\r\n");
	int slot, delay;

	lg_send(c, "DROP 1\n");
	fake_wait_vends(f, 1);
	/* The vend is out; the answer waits for the machine. */
	ck_assert(lg_quiet(c, 500));
	lg_expect(c, "OK:  Dropping drink\r\n");
	fake_last(f, &slot, &delay);
	ck_assert_int_eq(slot, 1);
	ck_assert_int_eq(delay, 0);
	lg_say(c, "GETBALANCE\n", "OK: 50\r\n");
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'drop' AND state = 'completed' AND amount = -50"), 1);
	h_ledger_settled(srv);
	h_close(c);
	fake_stop(f);
}
END_TEST

START_TEST(sunday_drop_nack_and_timeout_charge_nothing)
{
	struct fake *f = fake_start(srv, "m1", FAKE_NACK, 50);
	struct h_client *c = sunday_login("alice", "alicepw", "OK: 100\r\n");

	lg_say(c, "DROP 1\n", "ERR 150 Unable to initialize hardware for "
	    "drop.\r\n");
	fake_stop(f);
	wait_online("m1", 0);
	f = fake_start(srv, "m1", FAKE_SILENT, 0);
	wait_online("m1", 1);
	lg_say(c, "DROP 1\n", "ERR 150 Unable to initialize hardware for "
	    "drop.\r\n");
	lg_say(c, "GETBALANCE\n", "OK: 100\r\n");
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'drop' AND state = 'failed'"), 2);
	h_ledger_settled(srv);
	h_close(c);
	fake_stop(f);
}
END_TEST

START_TEST(sunday_drop_with_delay_and_pipelined_behind)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 50);
	struct h_client *c = sunday_login("alice", "alicepw", "OK: 100\r\n");
	int slot, delay;

	/* The command behind a DROP waits for it. */
	lg_say(c, "DROP 1 1\nGETBALANCE\n",
	    "OK:  Dropping drink\r\nOK: 50\r\n");
	fake_last(f, &slot, &delay);
	ck_assert_int_eq(slot, 1);
	ck_assert_int_eq(delay, 1);
	h_ledger_settled(srv);
	h_close(c);
	fake_stop(f);
}
END_TEST

START_TEST(sunday_drop_in_progress_across_ports)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 2000);
	struct h_client *c = sunday_login("alice", "alicepw", "OK: 100\r\n");
	struct h_client *m = h_connect_as(srv, "alice", "alicepw");
	cJSON *r;

	h_send(m, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":1}");
	fake_wait_vends(f, 1);
	lg_say(c, "DROP 1\n", "WARN 152 Drop in progress, please wait before "
	    "dropping again\r\n");
	r = h_read(m);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_int_eq(fake_vends(f), 1);
	lg_say(c, "GETBALANCE\n", "OK: 50\r\n");
	h_ledger_settled(srv);
	h_close(m);
	h_close(c);
	fake_stop(f);
}
END_TEST

START_TEST(sunday_drop_survives_disconnect)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 1000);
	struct h_client *c = sunday_login("alice", "alicepw", "OK: 100\r\n");
	int64_t deadline;

	lg_send(c, "DROP 1\n");
	fake_wait_vends(f, 1);
	h_close(c);
	deadline = now_ms() + 10000;
	while (h_sql_int(srv, "SELECT count(*) FROM tx WHERE state = "
	    "'completed' AND kind = 'drop'") == 0 && now_ms() < deadline) {
		usleep(50 * 1000);
	}
	ck_assert_int_eq(h_balance(srv, "alice"), 50);
	h_ledger_settled(srv);
	fake_stop(f);
}
END_TEST

START_TEST(sunday_drop_offline_machine)
{
	struct h_client *c = sunday_login("alice", "alicepw", "OK: 100\r\n");

	lg_say(c, "MACHINE m2\n", "OK:  Welcome to Snack\r\n");
	lg_say(c, "DROP 4 10\n", "ERR 151 Unable to communicate with hardware. "
	    "Contact an admin.\r\n");
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	h_close(c);
}
END_TEST

START_TEST(sunday_serverstat_online)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 50);
	struct h_client *c = sunday_connect();

	lg_say(c, "SERVERSTAT\n", "{\"machines\":[{\"machine_name\":"
	    "\"Big Drink\",\"connected\":true},{\"machine_name\":\"Snack\","
	    "\"connected\":false}],\"opcode\":\"OK\"}\r\n");
	h_close(c);
	fake_stop(f);
}
END_TEST

/* ---- transfers ------------------------------------------------------ */

START_TEST(sunday_sendcredits)
{
	static const char *const bad[] = { "0", "-5", "1.5", "abc", "",
		"1000000001", "12345678901", "+5" };
	struct h_client *c = sunday_connect();
	char line[64];
	size_t i;

	lg_say(c, "SENDCREDITS 5\n", "ERR 206 Invalid number of args - USAGE: "
	    "SENDCREDITS <(int) num credits> <username>\r\n");
	lg_say(c, "SENDCREDITS 5 bob\n", "ERR 204 You need to login.\r\n");
	lg_say(c, "USER alice\n", "OK: \r\n");
	lg_say(c, "PASS alicepw\n", "OK: 100\r\n");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "SENDCREDITS %s bob\n", bad[i]);
		lg_say(c, line, "ERR 210 Send amount must be a positive, whole "
		    "number\r\n");
	}
	lg_say(c, "SENDCREDITS 5 nobody\n", "ERR 208 Transfer error - user "
	    "doesnt exist\r\n");
	lg_say(c, "SENDCREDITS 5 Bob\n", "ERR 208 Transfer error - user "
	    "doesnt exist\r\n");
	lg_say(c, "SENDCREDITS 101 bob\n", "ERR 203 User is poor.\r\n");
	lg_say(c, "SENDCREDITS 5 alice\n", "ERR 209 Error during credit "
	    "transfer\r\n");
	lg_say(c, "sendcredits 30 bob\n", "OK: \r\n");
	lg_say(c, "GETBALANCE\n", "OK: 70\r\n");
	ck_assert_int_eq(h_balance(srv, "bob"), 30);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'transfer'"), 1);
	h_ledger_settled(srv);
	h_close(c);
}
END_TEST

/*
 * The largest amount SENDCREDITS takes, 1000000000 (10 digits, 10^9),
 * moves when the sender has it: all of it, in one transfer.
 */
START_TEST(sunday_sendcredits_upper_bound)
{
	struct h_client *c;

	h_admin(srv, "{\"cmd\":\"credit\",\"user\":\"alice\","
	    "\"amount\":999999900,\"note\":\"test\"}", NULL);
	c = sunday_login("alice", "alicepw", "OK: 1000000000\r\n");
	lg_say(c, "SENDCREDITS 1000000000 bob\n", "OK: \r\n");
	lg_say(c, "GETBALANCE\n", "OK: 0\r\n");
	ck_assert_int_eq(h_balance(srv, "alice"), 0);
	ck_assert_int_eq(h_balance(srv, "bob"), 1000000000);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'transfer'"), 1);
	h_ledger_settled(srv);
	h_close(c);
}
END_TEST

/*
 * Kiosks not logged in count against max_unauth_per_ip (8 here, from one
 * address): the ninth closes the oldest, and the log says the server did.
 */
START_TEST(sunday_room_made_is_logged_as_the_servers)
{
	struct h_client *c[9];
	int i;

	for (i = 0; i < 9; i++) {
		c[i] = sunday_connect();
	}
	ck_assert(h_closed(c[0]));
	ck_assert(h_server_log_wait(srv, "closed (closed by the server: room "
	    "made for a newer connection (max_unauth_per_ip)), Sunday "
	    "connection", 10000));
	for (i = 1; i < 9; i++) {
		lg_say(c[i], "WHOAMI\n", "ERR 204 You need to login.\r\n");
	}
	for (i = 0; i < 9; i++) {
		h_close(c[i]);
	}
}
END_TEST

/*
 * alice is disabled just after her reply to one line was written, with
 * her next line already sent (the shim holds her thread there): that
 * line is not run, and the log says why the server closed her session.
 */
START_TEST(sunday_kick_stops_the_lines_already_sent)
{
	struct h_client *c = sunday_login("alice", "alicepw", "OK: 100\r\n");
	static const char batch[] = "GETBALANCE\nSENDCREDITS 5 bob\n";

	h_hold_writes(shim, c, 1);
	ck_assert_int_eq(h_send_raw(c, batch, sizeof(batch) - 1), CONN_OK);
	H_WAIT_UNTIL(h_writes_held(shim));
	h_admin(srv, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"disabled\":true}", NULL);
	h_hold_writes(shim, c, 0);
	lg_expect(c, "OK: 100\r\n");
	ck_assert_msg(h_closed(c), "answered after the kick: %s", c->line);
	ck_assert_msg(h_server_log_wait(srv, "closed (closed by the server: "
	    "user disabled or changed), user alice", 10000), "no reason");
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(h_balance(srv, "bob"), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'transfer'"), 0);
	h_close(c);
}
END_TEST

static Suite *
sunday_suite(void)
{
	Suite *s = suite_create("sunday");
	TCase *tc;

#define SUNDAY_TCASE(name, setup) \
	(tc = h_tcase(s, name, setup, teardown, SUNDAY_TIMEOUT))

	SUNDAY_TCASE("greeting and machine selection", machines_setup);
	tcase_add_test(tc, sunday_greeting_first_machine);
	tcase_add_test(tc, sunday_greeting_default_machine);
	tcase_add_test(tc, sunday_greeting_unknown_default_machine);
	tcase_add_test(tc, sunday_machine_select);
	tcase_add_test(tc, sunday_stat_item_escaping);
	tcase_add_test(tc, sunday_stat_deleted_machine);
	tcase_add_test(tc, sunday_display_name_stays_one_line);
	SUNDAY_TCASE("no machines", plain_setup);
	tcase_add_test(tc, sunday_greeting_no_machines);

	SUNDAY_TCASE("USER and PASS", machines_setup);
	tcase_add_test(tc, sunday_user_pass);
	tcase_add_test(tc, sunday_pass_refusals_all_407);
	tcase_add_test(tc, sunday_pass_lockout);
	tcase_add_test(tc, sunday_getbalance_needs_login);

	SUNDAY_TCASE("IBUTTON under each sunday_ibutton mode", machines_setup);
	tcase_add_test(tc, sunday_ibutton_any);
	tcase_add_test(tc, sunday_ibutton_argument_count_and_length);
	tcase_add_test(tc, sunday_ibutton_disabled_owner);
	tcase_add_test(tc, sunday_ibutton_throttled);
	tcase_add_test(tc, sunday_ibutton_own_card_unlocks_nothing);
	tcase_add_test(tc, sunday_ibutton_off);
	tcase_add_test(tc, sunday_ibutton_cert);
	tcase_add_test(tc, sunday_config_ibutton_mode_checked);

	SUNDAY_TCASE("a member certificate logs in", cert_setup);
	tcase_add_test(tc, sunday_certificate_login);

	SUNDAY_TCASE("UPTIME, SERVERSTAT, QUIT", machines_setup);
	tcase_add_test(tc, sunday_uptime_serverstat);
	tcase_add_test(tc, sunday_serverstat_online);
	tcase_add_test(tc, sunday_quit);
	tcase_add_test(tc, sunday_reads_ignore_arguments);

	SUNDAY_TCASE("framing", machines_setup);
	tcase_add_test(tc, sunday_pipelined_lines);
	tcase_add_test(tc, sunday_bad_lines);
	tcase_add_test(tc, sunday_line_too_long);
	tcase_add_test(tc, sunday_plaintext_and_tls11_refused);
	tcase_add_test(tc, sunday_who_lists_member);
	tcase_add_test(tc, sunday_room_made_is_logged_as_the_servers);

	SUNDAY_TCASE("DROP through drink's drop", machines_setup);
	tcase_add_test(tc, sunday_drop_syntax);
	tcase_add_test(tc, sunday_drop_refusals);
	tcase_add_test(tc, sunday_drop_failure_precedence);
	tcase_add_test(tc, sunday_drop_charges_after_ack);
	tcase_add_test(tc, sunday_drop_nack_and_timeout_charge_nothing);
	tcase_add_test(tc, sunday_drop_with_delay_and_pipelined_behind);
	tcase_add_test(tc, sunday_drop_in_progress_across_ports);
	tcase_add_test(tc, sunday_drop_survives_disconnect);
	tcase_add_test(tc, sunday_drop_offline_machine);

	SUNDAY_TCASE("a kick stops the lines already sent", shim_setup);
	tcase_add_test(tc, sunday_kick_stops_the_lines_already_sent);

	SUNDAY_TCASE("SENDCREDITS is a drink send", machines_setup);
	tcase_add_test(tc, sunday_sendcredits);
	tcase_add_test(tc, sunday_sendcredits_upper_bound);
	return s;
}

int
main(void)
{
	int failed;

	h_init();
	failed = h_run(sunday_suite());
	return h_finish(failed);
}
