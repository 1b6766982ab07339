/*
 * Login tokens, live events and the web port, over real TLS.  Tokens and
 * subscribe are driven on the member port; the web port is driven with a
 * small WebSocket client written here (frames built by hand, so a test can
 * split them across TLS records, fragment messages, send binary or
 * oversized ones), and with raw HTTP for the static files and the errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdarg.h>
#include <unistd.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <sqlite3.h>

#include "fake.h"
#include "harness.h"

#define WEB_TIMEOUT 120

static struct h_server *srv;
static int web_port;

static void
start_with(const char *more)
{
	char *ca = h_cert_path("ca.crt");
	char *conf = xasprintf("machine_ca = %s\nvend_timeout = 5\n"
	    "web_listen = 127.0.0.1:0\nline_timeout = 2\n"
	    "web_origins = https://app.example\n%s", ca,
	    more != NULL ? more : "");
	char *path, *text;
	cJSON *o;
	FILE *f;
	long n;

	srv = h_server_start(conf);
	free(conf);
	free(ca);
	path = srv->ports_file;
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	text = xcalloc(1, 4096);
	n = (long)fread(text, 1, 4095, f);
	fclose(f);
	ck_assert_int_gt(n, 0);
	o = cJSON_Parse(text);
	free(text);
	ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItem(o, "web_listen")),
	    "ports file has no web_listen");
	web_port = cJSON_GetObjectItem(o, "web_listen")->valueint;
	cJSON_Delete(o);
}

static void
setup(void)
{
	struct h_client *a;

	start_with(NULL);
	a = h_connect_as(srv, "admin", "adminpw");
	h_expect(a, NULL, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Big Drink\"}");
	h_expect(a, NULL, "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":3,\"item\":\"Cola\",\"price\":10,\"stock\":5}");
	h_close(a);
}

static void
teardown(void)
{
	h_server_free(srv);
	srv = NULL;
}

/* The next event named name, skipping others; fails after timeout_ms. */
static cJSON *
wait_event(struct h_client *c, const char *name, int64_t timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	const cJSON *ev;
	cJSON *r;

	while (now_ms() < deadline) {
		if (h_read_line(c, deadline - now_ms()) != CONN_OK) {
			break;
		}
		r = cJSON_Parse(c->line);
		ev = cJSON_GetObjectItem(r, "event");
		if (cJSON_IsString(ev) && strcmp(ev->valuestring, name) == 0) {
			return r;
		}
		cJSON_Delete(r);
	}
	ck_abort_msg("no %s event within %lld ms", name,
	    (long long)timeout_ms);
	return NULL;
}

/* ---- tokens ----------------------------------------------------------- */

/*
 * Make login token id expire secs seconds from now, behind the running
 * server's back (a day is the shortest token_create gives); the unix
 * time it now expires at.
 */
static int64_t
expire_token_in(int64_t id, int secs)
{
	int64_t at = (int64_t)time(NULL) + secs;
	sqlite3 *h = NULL;
	char *sql = xasprintf("UPDATE tokens SET expires = %lld"
	    " WHERE id = %lld", (long long)at, (long long)id), *msg = NULL;

	ck_assert_int_eq(sqlite3_open_v2(srv->db, &h, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	sqlite3_busy_timeout(h, 10000);
	ck_assert_msg(sqlite3_exec(h, sql, NULL, NULL, &msg) == SQLITE_OK,
	    "%s: %s", sql, msg != NULL ? msg : "");
	ck_assert_int_eq(sqlite3_changes(h), 1);
	sqlite3_close(h);
	free(sql);
	return at;
}

/* Wall-clock ms, to set against a token's expiry (unix seconds). */
static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(token_login_list_revoke)
{
	struct h_client *a = h_connect_as(srv, "alice", "alicepw"), *b;
	int64_t id, id2;
	char *tok = h_token_make(a, "laptop", &id), *tok2;
	cJSON *r, *list;

	tok2 = h_token_make(a, "phone", &id2);
	ck_assert_int_ne(id, id2);
	/* Only the hash is stored. */
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tokens WHERE "
	    "hash = '%s'", tok), 0);
	b = h_connect(srv, NULL);
	r = h_callf(b, "{\"cmd\":\"login\",\"token\":\"%s\"}", tok);
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "user"), "alice");
	ck_assert_int_eq(h_num(r, "balance"), 100);
	cJSON_Delete(r);
	r = h_call(b, "{\"cmd\":\"tokens\"}");
	H_ASSERT_OK(r);
	list = h_array(r, "tokens");
	ck_assert_int_eq(cJSON_GetArraySize(list), 2);
	ck_assert_str_eq(h_str(cJSON_GetArrayItem(list, 0), "label"),
	    "laptop");
	ck_assert_int_gt(h_num(cJSON_GetArrayItem(list, 0), "last_used"), 0);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(list,
	    1), "last_used")));
	ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0),
	    "token"));
	cJSON_Delete(r);
	h_expectf(b, NULL, "{\"cmd\":\"token_revoke\",\"token_id\":%lld}",
	    (long long)id);
	h_expectf(b, "bad_request", "{\"cmd\":\"token_revoke\","
	    "\"token_id\":%lld}", (long long)id);
	h_close(b);
	b = h_connect(srv, NULL);
	h_expectf(b, "bad_credentials", "{\"cmd\":\"login\",\"token\":\"%s\"}",
	    tok);
	h_expectf(b, NULL, "{\"cmd\":\"login\",\"token\":\"%s\"}", tok2);
	/* Someone else's token id is not theirs to revoke. */
	h_close(b);
	b = h_connect_as(srv, "bob", "bobpw");
	h_expectf(b, "bad_request", "{\"cmd\":\"token_revoke\","
	    "\"token_id\":%lld}", (long long)id2);
	h_close(b);
	free(tok);
	free(tok2);
	h_close(a);
}
END_TEST

/*
 * A token id is never given again: a client that keeps the id of a token
 * revoked elsewhere (drink's token file, the web app's storage) and
 * revokes it later must not end another device's login with it.
 */
START_TEST(token_id_never_given_again)
{
	struct h_client *a = h_connect_as(srv, "alice", "alicepw"), *b;
	int64_t old, id;
	char *stale = h_token_make(a, "laptop", &old), *tok;

	/* The laptop's token, the newest, is revoked from elsewhere. */
	h_expectf(a, NULL, "{\"cmd\":\"token_revoke\",\"token_id\":%lld}",
	    (long long)old);
	tok = h_token_make(a, "phone", &id);
	ck_assert_int_gt(id, old);
	/* The laptop, logged in still, revokes the id it kept. */
	h_expectf(a, "bad_request", "{\"cmd\":\"token_revoke\","
	    "\"token_id\":%lld}", (long long)old);
	b = h_connect_by_token(srv, tok);
	h_close(b);
	free(stale);
	free(tok);
	h_close(a);
}
END_TEST

START_TEST(token_revoked_by_passwd_and_disable)
{
	struct h_client *a = h_connect_as(srv, "alice", "alicepw"), *b, *adm;
	int64_t id;
	char *tok = h_token_make(a, "x", &id);

	h_expect(a, NULL, "{\"cmd\":\"passwd\",\"old\":\"alicepw\","
	    "\"new\":\"alicepw2\"}");
	b = h_connect(srv, NULL);
	h_expectf(b, "bad_credentials", "{\"cmd\":\"login\",\"token\":\"%s\"}",
	    tok);
	free(tok);
	tok = h_token_make(a, "y", &id);
	h_expectf(b, NULL, "{\"cmd\":\"login\",\"token\":\"%s\"}", tok);
	adm = h_connect_as(srv, "admin", "adminpw");
	h_expect(adm, NULL, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"disabled\":true}");
	h_expect(adm, NULL, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"disabled\":false}");
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tokens"), 0);
	h_close(b);
	b = h_connect(srv, NULL);
	h_expectf(b, "bad_credentials", "{\"cmd\":\"login\",\"token\":\"%s\"}",
	    tok);
	free(tok);
	h_close(b);
	h_close(adm);
	h_close(a);
}
END_TEST

/*
 * A revoked token stops logging in and ends the sessions it logged in:
 * whoever holds a stolen token keeps no session once it is revoked, or
 * once the password is changed (which revokes every token).  A session
 * logged in otherwise stays, and so does the one that did the revoking.
 */
START_TEST(token_revoke_ends_its_sessions)
{
	struct h_client *a = h_connect_as(srv, "alice", "alicepw"), *b, *c, *d;
	int64_t id, id2;
	char *tok = h_token_make(a, "stolen", &id), *tok2;

	tok2 = h_token_make(a, "phone", &id2);
	b = h_connect_by_token(srv, tok);
	c = h_connect_by_token(srv, tok2);
	/* Bob's own session by password is not alice's token's. */
	d = h_connect_as(srv, "bob", "bobpw");
	h_expectf(a, NULL, "{\"cmd\":\"token_revoke\",\"token_id\":%lld}",
	    (long long)id);
	ck_assert_msg(h_closed(b), "session of a revoked token still open");
	h_expect(c, NULL, "{\"cmd\":\"balance\"}");
	h_expect(a, NULL, "{\"cmd\":\"balance\"}");
	/* A new password revokes the rest, and ends what they logged in. */
	h_expect(a, NULL, "{\"cmd\":\"passwd\",\"old\":\"alicepw\","
	    "\"new\":\"alicepw2\"}");
	ck_assert_msg(h_closed(c), "token session open after passwd");
	h_expect(a, NULL, "{\"cmd\":\"balance\"}");
	h_expect(d, NULL, "{\"cmd\":\"balance\"}");
	ck_assert(h_server_log_wait(srv, "login token revoked", 5000));
	/* So does a new password an admin gives. */
	h_close(b);
	b = h_connect_as(srv, "admin", "adminpw");
	h_expect(b, NULL, "{\"cmd\":\"user_mod\",\"user\":\"bob\","
	    "\"password\":\"bobpw2\"}");
	ck_assert_msg(h_closed(d), "session open after user_mod password");
	h_expect(b, NULL, "{\"cmd\":\"balance\"}");
	h_close(d);
	h_close(c);
	h_close(b);
	h_close(a);
	free(tok);
	free(tok2);
}
END_TEST

/*
 * A token revoked while sessions are logging in by it: a login that found
 * the token just before the revocation must not end up a session that
 * the revocation missed.  Many logins by the token are in flight on
 * several connections when it is revoked; afterwards none of them is
 * logged in.
 */
#define RACE_CONNS 8
#define RACE_LOGINS 150

START_TEST(token_revoke_during_logins)
{
	struct h_client *a = h_connect_as(srv, "alice", "alicepw");
	struct h_client *c[RACE_CONNS];
	int64_t id;
	char *tok = h_token_make(a, "raced", &id), *line, *all;
	size_t len, i, j;
	cJSON *r;
	int rc;

	line = xasprintf("{\"cmd\":\"login\",\"token\":\"%s\"}\n", tok);
	len = strlen(line);
	all = xmalloc(len * RACE_LOGINS);
	for (j = 0; j < RACE_LOGINS; j++) {
		memcpy(all + j * len, line, len);
	}
	for (i = 0; i < RACE_CONNS; i++) {
		c[i] = h_connect(srv, NULL);
	}
	for (i = 0; i < RACE_CONNS; i++) {
		ck_assert_int_eq(h_send_raw(c[i], all, len * RACE_LOGINS),
		    CONN_OK);
	}
	usleep(20000);
	h_expectf(a, NULL, "{\"cmd\":\"token_revoke\",\"token_id\":%lld}",
	    (long long)id);
	for (i = 0; i < RACE_CONNS; i++) {
		/* Its replies, until it is closed or has answered them all. */
		while ((rc = h_read_line(c[i], 3000)) == CONN_OK) {
		}
		if (rc == CONN_TIMEOUT) {
			h_send(c[i], "{\"cmd\":\"balance\"}");
			r = h_read(c[i]);
			ck_assert_msg(!h_ok(r), "connection %zu is still logged "
			    "in by the revoked token", i);
			cJSON_Delete(r);
		}
		h_close(c[i]);
	}
	free(all);
	free(line);
	free(tok);
	h_close(a);
}
END_TEST

/*
 * A login by token lasts no longer than the token: when it expires, the
 * sessions it logged in are closed, idle or busy, and the log says why.
 * A session logged in by password is not one of them.
 */
START_TEST(token_login_ends_when_token_expires)
{
	struct h_client *a = h_connect_as(srv, "alice", "alicepw"), *b, *c;
	int64_t id, at, t;
	char *tok = h_token_make(a, "short", &id);
	cJSON *r;

	at = expire_token_in(id, 3);
	b = h_connect_by_token(srv, tok);
	c = h_connect_by_token(srv, tok);
	/* c asks all along: each answer comes before the expiry. */
	while ((t = wall_ms()) < (at + 6) * 1000) {
		/* (A write to a connection closed meanwhile may fail.) */
		if (h_send_raw(c, "{\"cmd\":\"balance\"}\n", 18) != CONN_OK ||
		    h_read_line(c, 2000) != CONN_OK) {
			break;
		}
		ck_assert_msg(wall_ms() < at * 1000 + 1000, "answered %lld ms "
		    "after the token expired", (long long)(wall_ms() -
		    at * 1000));
		r = cJSON_Parse(c->line);
		H_ASSERT_OK(r);
		cJSON_Delete(r);
		usleep(100 * 1000);
	}
	ck_assert_msg(t >= at * 1000 - 1000 && t < (at + 6) * 1000,
	    "busy session closed at %lld ms from the expiry",
	    (long long)(t - at * 1000));
	ck_assert_msg(h_wait_closed(b, 3000) >= 0,
	    "idle session open after its token expired");
	ck_assert(h_server_log_wait(srv, "closed (closed by the server: login "
	    "token expired), user alice", 5000));
	h_expect(a, NULL, "{\"cmd\":\"balance\"}");
	h_expectf(a, "bad_credentials", "{\"cmd\":\"login\",\"token\":\"%s\"}",
	    tok);
	h_close(c);
	h_close(b);
	h_close(a);
	free(tok);
}
END_TEST

/*
 * A session a token logged in makes no token: whoever holds a stolen
 * token cannot turn it into one that outlives its revocation.  It may
 * still list and revoke them; once it has shown the password (passwd,
 * as the web app does, or a login by password) it may make one.
 */
START_TEST(token_session_makes_no_token)
{
	struct h_client *a = h_connect_as(srv, "alice", "alicepw"), *b;
	int64_t id, id2;
	char *tok = h_token_make(a, "stolen", &id), *tok2;
	cJSON *r;

	b = h_connect_by_token(srv, tok);
	r = h_call(b, "{\"cmd\":\"token_create\",\"label\":\"mine now\"}");
	H_ASSERT_ERROR(r, "forbidden");
	ck_assert_str_eq(h_str(r, "message"),
	    "log in with your password to make a login token");
	cJSON_Delete(r);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tokens"), 1);
	h_expect(b, NULL, "{\"cmd\":\"tokens\"}");
	/* The revocation leaves the thief nothing. */
	h_expectf(a, NULL, "{\"cmd\":\"token_revoke\",\"token_id\":%lld}",
	    (long long)id);
	ck_assert_msg(h_closed(b), "session of a revoked token still open");
	h_close(b);
	/* A new password shown by a token's session: it may make one. */
	free(tok);
	tok = h_token_make(a, "tab", &id);
	b = h_connect_by_token(srv, tok);
	h_expect(b, NULL, "{\"cmd\":\"passwd\",\"old\":\"alicepw\","
	    "\"new\":\"alicepw2\"}");
	tok2 = h_token_make(b, "tab again", &id2);
	h_close(b);
	/* So may one that logged in by password after its token. */
	b = h_connect_by_token(srv, tok2);
	h_expect(b, "forbidden", "{\"cmd\":\"token_create\"}");
	h_login(b, "alice", "alicepw2");
	free(tok2);
	tok2 = h_token_make(b, "laptop", &id2);
	h_close(b);
	h_close(a);
	free(tok);
	free(tok2);
}
END_TEST

START_TEST(token_errors_and_throttle)
{
	struct h_client *c = h_connect_as(srv, "bob", "bobpw");
	cJSON *r;
	int i;

	h_expect(c, "bad_request", "{\"cmd\":\"token_create\",\"days\":0}");
	h_expect(c, "bad_request", "{\"cmd\":\"token_create\",\"days\":366}");
	h_expect(c, "bad_request", "{\"cmd\":\"token_create\",\"label\":"
	    "\"01234567890123456789012345678901234567890123456789012345678901"
	    "234\"}");
	h_close(c);
	c = h_connect(srv, NULL);
	h_expect(c, "auth_required", "{\"cmd\":\"token_create\"}");
	h_expect(c, "bad_request", "{\"cmd\":\"login\",\"user\":\"alice\","
	    "\"token\":\"00\"}");
	h_expect(c, "bad_request", "{\"cmd\":\"login\",\"user\":\"alice\"}");
	for (i = 0; i < 5; i++) {
		h_expect(c, "bad_credentials", "{\"cmd\":\"login\","
		    "\"token\":\"0000\"}");
	}
	/* Throttled like a password login: by the address. */
	r = h_call(c, "{\"cmd\":\"login\",\"token\":\"0000\"}");
	H_ASSERT_ERROR(r, "locked_out");
	ck_assert_int_ge(h_num(r, "retry_after"), 1);
	cJSON_Delete(r);
	h_close(c);
}
END_TEST

/* ---- subscribe on the member port --------------------------------------- */

START_TEST(subscribe_roles_and_topics)
{
	struct h_client *c = h_connect(srv, NULL);
	cJSON *r;

	h_expect(c, "bad_request", "{\"cmd\":\"subscribe\",\"topics\":"
	    "[\"weather\"]}");
	h_expect(c, "bad_request", "{\"cmd\":\"subscribe\",\"topics\":"
	    "\"machines\"}");
	h_expect(c, "forbidden", "{\"cmd\":\"subscribe\",\"topics\":"
	    "[\"machines\",\"balance\"]}");
	r = h_call(c, "{\"cmd\":\"unsubscribe\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "topics")), 0);
	cJSON_Delete(r);
	r = h_call(c, "{\"cmd\":\"subscribe\",\"topics\":[\"machines\","
	    "\"slots\"]}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "topics")), 2);
	cJSON_Delete(r);
	h_login(c, "alice", "alicepw");
	h_expect(c, "forbidden", "{\"cmd\":\"subscribe\",\"topics\":"
	    "[\"sessions\"]}");
	r = h_call(c, "{\"cmd\":\"subscribe\",\"topics\":[\"balance\","
	    "\"drops\"]}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "topics")), 4);
	cJSON_Delete(r);
	r = h_call(c, "{\"cmd\":\"unsubscribe\",\"topics\":[\"slots\"]}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "topics")), 3);
	cJSON_Delete(r);
	/* Logging out leaves only what anyone may have. */
	h_expect(c, NULL, "{\"cmd\":\"logout\"}");
	r = h_call(c, "{\"cmd\":\"unsubscribe\",\"topics\":[]}");
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "topics")), 1);
	cJSON_Delete(r);
	h_close(c);
}
END_TEST

/*
 * A drop seen by a subscriber: queued, vending, completed in that order,
 * the balance event with the drop's tx, the slot's new stock; and the
 * machine going offline when its controller leaves.
 */
START_TEST(subscribe_drop_balance_slot_machine)
{
	struct h_client *w = h_connect_as(srv, "alice", "alicepw");
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	struct fake *f;
	const char *states[] = { "queued", "vending", "completed" };
	cJSON *r, *ev;
	int64_t tx, t0;
	int i;

	h_expect(w, NULL, "{\"cmd\":\"subscribe\",\"topics\":[\"machines\","
	    "\"slots\",\"balance\",\"drops\"]}");
	f = fake_start(srv, "m1", FAKE_ACK, 200);
	ev = wait_event(w, "machine", 5000);
	ck_assert_str_eq(h_str(ev, "machine"), "m1");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(ev, "online")));
	ck_assert_str_eq(h_str(ev, "name"), "Big Drink");
	cJSON_Delete(ev);
	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	H_ASSERT_OK(r);
	tx = h_num(r, "tx");
	cJSON_Delete(r);
	for (i = 0; i < 3; i++) {
		ev = wait_event(w, "drop", 5000);
		ck_assert_int_eq(h_num(ev, "tx"), tx);
		ck_assert_str_eq(h_str(ev, "state"), states[i]);
		ck_assert_str_eq(h_str(ev, "machine"), "m1");
		ck_assert_int_eq(h_num(ev, "slot"), 3);
		cJSON_Delete(ev);
	}
	/* The hold (queued) changed the balance: 100 - 10. */
	r = h_call(w, "{\"cmd\":\"balance\"}");
	cJSON_Delete(r);
	h_close(w);
	w = h_connect_as(srv, "alice", "alicepw");
	h_expect(w, NULL, "{\"cmd\":\"subscribe\",\"topics\":[\"machines\","
	    "\"slots\",\"balance\"]}");
	/* An admin credit reaches the member's subscription. */
	h_close(c);
	c = h_connect_as(srv, "admin", "adminpw");
	h_expect(c, NULL, "{\"cmd\":\"credit\",\"user\":\"alice\",\"amount\":"
	    "25,\"note\":\"cash\"}");
	ev = wait_event(w, "balance", 2000);
	ck_assert_int_eq(h_num(ev, "balance"), 115);
	ck_assert_int_gt(h_num(ev, "tx"), tx);
	cJSON_Delete(ev);
	h_expect(c, NULL, "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":3,"
	    "\"price\":12}");
	ev = wait_event(w, "slot", 2000);
	ck_assert_int_eq(h_num(ev, "price"), 12);
	ck_assert_int_eq(h_num(ev, "stock"), 4);
	ck_assert_str_eq(h_str(ev, "item"), "Cola");
	cJSON_Delete(ev);
	t0 = now_ms();
	fake_stop(f);
	ev = wait_event(w, "machine", 2000);
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(ev, "online")));
	ck_assert_int_lt(now_ms() - t0, 2000);
	cJSON_Delete(ev);
	h_close(c);
	h_close(w);
}
END_TEST

/* Whether slot event r shows stock (any stock when it is negative). */
static int
slot_shows(const cJSON *r, int64_t stock)
{
	return stock < 0 || h_num(r, "stock") == stock;
}

/* Whether machine event r shows its machine offline and disabled. */
static int
machine_off_and_disabled(const cJSON *r, int64_t unused)
{
	(void)unused;
	return cJSON_IsFalse(cJSON_GetObjectItem(r, "online")) &&
	    cJSON_IsFalse(cJSON_GetObjectItem(r, "enabled"));
}

/*
 * The events named event (about machine, unless NULL) that arrive on c
 * within ms; each must fit(event, arg).
 */
static int
count_events(struct h_client *c, int64_t ms, const char *event,
    const char *machine, int (*fit)(const cJSON *, int64_t), int64_t arg)
{
	int64_t deadline = now_ms() + ms;
	const cJSON *ev;
	cJSON *r;
	int n = 0;

	while (now_ms() < deadline &&
	    h_read_line(c, deadline - now_ms()) == CONN_OK) {
		r = cJSON_Parse(c->line);
		ev = cJSON_GetObjectItem(r, "event");
		if (cJSON_IsString(ev) && strcmp(ev->valuestring, event) == 0 &&
		    (machine == NULL || strcmp(h_str(r, "machine"),
		    machine) == 0)) {
			ck_assert_msg(fit(r, arg), "%s", c->line);
			n++;
		}
		cJSON_Delete(r);
	}
	return n;
}

/*
 * One slot event per change: a drop on the reference controller, which
 * answers "ok" and then reports the stock it senses, tells a listener
 * once.  A listener that subscribes later still hears a slot go back to
 * what an earlier listener last heard.
 */
START_TEST(subscribe_slot_told_once_per_change)
{
	struct h_client *w = h_connect_as(srv, "alice", "alicepw");
	struct h_client *a = h_connect_as(srv, "admin", "adminpw");
	pid_t pid;
	cJSON *ev;
	int n;

	h_expect(w, NULL, "{\"cmd\":\"subscribe\",\"topics\":[\"slots\"]}");
	pid = h_machine_start(srv, "m1", "--simulate 3:5 --vend-ms 20");
	H_WAIT_UNTIL(h_machine_online(srv, "m1") == 1);
	(void)count_events(w, 300, "slot", NULL, slot_shows, -1);
	h_expect(a, NULL, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	ck_assert_int_eq(count_events(w, 1500, "slot", NULL, slot_shows, 4), 1);
	ck_assert_int_eq(h_machine_stop(pid), 0);
	/* Nobody listens while the stock goes to 9. */
	n = h_server_log_count(srv, "), user alice,");
	h_close(w);
	H_WAIT_UNTIL(h_server_log_count(srv, "), user alice,") > n);
	usleep(200 * 1000);	/* its queue goes just after that line */
	h_expect(a, NULL, "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":3,\"stock\":9}");
	w = h_connect_as(srv, "alice", "alicepw");
	h_expect(w, NULL, "{\"cmd\":\"subscribe\",\"topics\":[\"slots\"]}");
	h_expect(a, NULL, "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":3,\"stock\":4}");
	ev = wait_event(w, "slot", 2000);
	ck_assert_int_eq(h_num(ev, "stock"), 4);
	cJSON_Delete(ev);
	h_close(w);
	h_close(a);
}
END_TEST

/*
 * A machine deleted and made again has new slots: a slot set up as the
 * old one was is news to a subscriber, who heard the machine deleted.
 */
START_TEST(subscribe_slot_of_a_machine_made_again)
{
	struct h_client *w = h_connect_as(srv, "alice", "alicepw");
	struct h_client *a = h_connect_as(srv, "admin", "adminpw");
	static const char slot[] = "{\"cmd\":\"slot_set\",\"machine\":\"m2\","
	    "\"slot\":1,\"item\":\"Mate\",\"price\":7,\"stock\":2}";
	cJSON *ev;

	h_expect(w, NULL, "{\"cmd\":\"subscribe\",\"topics\":"
	    "[\"slots\",\"machines\"]}");
	h_expect(a, NULL, "{\"cmd\":\"machine_add\",\"machine\":\"m2\","
	    "\"name\":\"Small\"}");
	h_expect(a, NULL, slot);
	ev = wait_event(w, "slot", 2000);
	ck_assert_str_eq(h_str(ev, "machine"), "m2");
	cJSON_Delete(ev);
	h_expect(a, NULL, "{\"cmd\":\"machine_del\",\"machine\":\"m2\"}");
	h_expect(a, NULL, "{\"cmd\":\"machine_add\",\"machine\":\"m2\","
	    "\"name\":\"Small\"}");
	h_expect(a, NULL, slot);
	ev = wait_event(w, "slot", 2000);
	ck_assert_str_eq(h_str(ev, "machine"), "m2");
	ck_assert_int_eq(h_num(ev, "slot"), 1);
	ck_assert_int_eq(h_num(ev, "stock"), 2);
	cJSON_Delete(ev);
	h_close(w);
	h_close(a);
}
END_TEST

/*
 * A machine event has the same fields whatever it says, "deleted" too:
 * the machine as it was (name, temperature), offline and not enabled.
 * It is told once, though the controller's end follows the deletion.
 */
START_TEST(subscribe_machine_deleted_has_every_field)
{
	struct h_client *w = h_connect_as(srv, "alice", "alicepw");
	struct h_client *a = h_connect_as(srv, "admin", "adminpw");
	pid_t pid;
	cJSON *ev;

	h_expect(w, NULL, "{\"cmd\":\"subscribe\",\"topics\":"
	    "[\"machines\"]}");
	pid = h_machine_start(srv, "m1", "--simulate 3:5");
	H_WAIT_UNTIL(h_machine_online(srv, "m1") == 1);
	ev = wait_event(w, "machine", 2000);
	cJSON_Delete(ev);
	h_expect(a, NULL, "{\"cmd\":\"machine_del\",\"machine\":\"m1\"}");
	/* Past any temperature the controller reported meanwhile. */
	while (!cJSON_IsTrue(cJSON_GetObjectItem(ev = wait_event(w,
	    "machine", 2000), "deleted"))) {
		cJSON_Delete(ev);
	}
	ck_assert_str_eq(h_str(ev, "machine"), "m1");
	ck_assert_str_eq(h_str(ev, "name"), "Big Drink");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(ev, "online")));
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(ev, "enabled")));
	ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItem(ev, "temperature")) ||
	    cJSON_IsNull(cJSON_GetObjectItem(ev, "temperature")),
	    "no temperature: %s", h_text(ev));
	cJSON_Delete(ev);
	(void)h_machine_stop(pid);
	/* Whatever else comes is not a second word on m1. */
	h_expect(a, NULL, "{\"cmd\":\"machine_add\",\"machine\":\"m9\","
	    "\"name\":\"Other\"}");
	ev = wait_event(w, "machine", 2000);
	ck_assert_str_eq(h_str(ev, "machine"), "m9");
	cJSON_Delete(ev);
	h_close(w);
	h_close(a);
}
END_TEST

/*
 * Disabling a machine whose controller is online is one change: the
 * disable and the controller's end that follows it are told once, as
 * "offline, disabled".  A listener that subscribes later still hears it
 * enabled again.
 */
START_TEST(subscribe_machine_disabled_told_once)
{
	struct h_client *w = h_connect_as(srv, "alice", "alicepw");
	struct h_client *a = h_connect_as(srv, "admin", "adminpw");
	struct fake *f;
	cJSON *ev;

	h_expect(w, NULL, "{\"cmd\":\"subscribe\",\"topics\":"
	    "[\"machines\"]}");
	f = fake_start(srv, "m1", FAKE_ACK, 200);
	ev = wait_event(w, "machine", 5000);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(ev, "online")));
	cJSON_Delete(ev);
	h_expect(a, NULL, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"enabled\":false}");
	ck_assert_int_eq(count_events(w, 1500, "machine", "m1",
	    machine_off_and_disabled, 0), 1);
	fake_stop(f);
	h_close(w);
	w = h_connect_as(srv, "alice", "alicepw");
	h_expect(w, NULL, "{\"cmd\":\"subscribe\",\"topics\":"
	    "[\"machines\"]}");
	h_expect(a, NULL, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"enabled\":true}");
	ev = wait_event(w, "machine", 2000);
	ck_assert_str_eq(h_str(ev, "machine"), "m1");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(ev, "enabled")));
	cJSON_Delete(ev);
	h_close(w);
	h_close(a);
}
END_TEST

START_TEST(subscribe_sessions_admin)
{
	struct h_client *a = h_connect_as(srv, "admin", "adminpw"), *c;
	cJSON *ev;
	int64_t session;

	h_expect(a, NULL, "{\"cmd\":\"subscribe\",\"topics\":[\"sessions\"]}");
	c = h_connect(srv, NULL);
	ev = wait_event(a, "session", 2000);
	ck_assert_str_eq(h_str(ev, "state"), "open");
	ck_assert_str_eq(h_str(ev, "kind"), "member");
	session = h_num(ev, "session");
	cJSON_Delete(ev);
	h_close(c);
	ev = wait_event(a, "session", 2000);
	ck_assert_str_eq(h_str(ev, "state"), "closed");
	ck_assert_int_eq(h_num(ev, "session"), session);
	cJSON_Delete(ev);
	h_close(a);
}
END_TEST

/*
 * Events for one session arrive in commit order: many credits from one
 * admin produce balance events with rising tx and balance, none missing.
 */
START_TEST(subscribe_ordering)
{
	struct h_client *w = h_connect_as(srv, "bob", "bobpw");
	struct h_client *a = h_connect_as(srv, "admin", "adminpw");
	int64_t last_tx = 0, bal;
	cJSON *ev;
	int i;

	h_expect(w, NULL, "{\"cmd\":\"subscribe\",\"topics\":[\"balance\"]}");
	for (i = 1; i <= 50; i++) {
		h_send(a, "{\"cmd\":\"credit\",\"user\":\"bob\",\"amount\":1,"
		    "\"note\":\"n\"}");
	}
	for (i = 1; i <= 50; i++) {
		cJSON_Delete(h_read(a));
	}
	for (i = 1; i <= 50; i++) {
		ev = wait_event(w, "balance", 5000);
		bal = h_num(ev, "balance");
		ck_assert_int_eq(bal, i);
		ck_assert_int_gt(h_num(ev, "tx"), last_tx);
		last_tx = h_num(ev, "tx");
		cJSON_Delete(ev);
	}
	h_close(a);
	h_close(w);
}
END_TEST

/*
 * A subscriber that never reads is sent "overflow" and closed once 1000
 * events wait for it; a subscriber that reads sees every event, and other
 * sessions are answered meanwhile.
 */
START_TEST(subscribe_overflow_closes_only_slow)
{
	struct h_client *slow = h_connect(srv, NULL), *fast, *a, *other;
	struct fake *f;
	char *msg, *p;
	int i, j, seen = 0, rc;
	int64_t t;

	a = h_connect_as(srv, "admin", "adminpw");
	for (i = 1; i <= 40; i++) {
		h_expectf(a, NULL, "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
		    "\"slot\":%d,\"item\":\"Item number %d with a long name\","
		    "\"price\":1,\"stock\":1}", i, i);
	}
	f = fake_start(srv, "m1", FAKE_ACK, 10);
	/* A small receive buffer, so the server's sends back up soon. */
	{
		int small = 4096;

		setsockopt(conn_fd(slow->conn), SOL_SOCKET, SO_RCVBUF, &small,
		    sizeof(small));
	}
	h_expect(slow, NULL, "{\"cmd\":\"subscribe\",\"topics\":[\"slots\"]}");
	fast = h_connect(srv, NULL);
	h_expect(fast, NULL, "{\"cmd\":\"subscribe\",\"topics\":[\"slots\"]}");
	other = h_connect(srv, NULL);
	/* 120 reports x 40 slots = 4800 slot events. */
	msg = xmalloc(40 * 32 + 64);
	for (j = 0; j < 120; j++) {
		p = msg + sprintf(msg, "{\"event\":\"slots\",\"slots\":[");
		for (i = 1; i <= 40; i++) {
			p += sprintf(p, "%s{\"slot\":%d,\"stock\":%d}",
			    i > 1 ? "," : "", i, 2 + j);
		}
		sprintf(p, "]}");
		fake_send(f, msg);
		/* The fast reader keeps up. */
		while ((rc = h_read_line(fast, j == 119 ? 3000 : 50)) ==
		    CONN_OK && strstr(fast->line, "\"slot\"") != NULL) {
			seen++;
			if (seen == 4800) {
				break;
			}
		}
		if (j % 20 == 0) {
			h_expect(other, NULL, "{\"cmd\":\"ping\"}");
		}
	}
	free(msg);
	t = now_ms();
	while (seen < 4800 && now_ms() - t < 10000 &&
	    h_read_line(fast, 1000) == CONN_OK) {
		if (strstr(fast->line, "\"slot\"") != NULL) {
			seen++;
		}
	}
	ck_assert_int_eq(seen, 4800);
	/* The slow one: its events up to the overflow, then the close. */
	for (;;) {
		rc = h_read_line(slow, 15000);
		ck_assert_msg(rc == CONN_OK, "slow subscriber closed without "
		    "an overflow event");
		if (strstr(slow->line, "overflow") != NULL) {
			break;
		}
	}
	ck_assert(h_closed(slow));
	h_expect(fast, NULL, "{\"cmd\":\"ping\"}");
	h_expect(other, NULL, "{\"cmd\":\"ping\"}");
	fake_stop(f);
	h_close(fast);
	h_close(other);
	h_close(slow);
	h_close(a);
}
END_TEST

/* ---- the web port: HTTP ------------------------------------------------- */

/* Read raw bytes until the HTTP head ends; returns the head (static). */
static const char *
http_read_head(struct h_client *c, char *buf, size_t cap, int64_t ms)
{
	size_t len = 0, got;
	int64_t deadline = now_ms() + ms;

	while (len + 1 < cap) {
		if (conn_read(c->conn, buf + len, 1, &got, deadline) !=
		    CONN_OK) {
			break;
		}
		len += got;
		buf[len] = '\0';
		if (len >= 4 && memcmp(buf + len - 4, "\r\n\r\n", 4) == 0) {
			return buf;
		}
	}
	buf[len] = '\0';
	return len > 0 ? buf : NULL;
}

static long
http_content_length(const char *head)
{
	const char *p = strstr(head, "Content-Length: ");

	return p != NULL ? atol(p + 16) : -1;
}

/* Read exactly n bytes. */
static void
read_exact(struct h_client *c, void *buf, size_t n)
{
	size_t done = 0, got;
	int64_t deadline = now_ms() + H_DEADLINE_MS;

	while (done < n) {
		ck_assert_msg(conn_read(c->conn, (char *)buf + done, n - done,
		    &got, deadline) == CONN_OK, "short read: %zu of %zu", done,
		    n);
		done += got;
	}
}

static void
send_text(struct h_client *c, const char *text)
{
	h_send_raw(c, text, strlen(text));
}

static struct h_client *
web_dial(void)
{
	char err[256];
	struct h_client *c = h_tls_dial(web_port, NULL, err, sizeof(err));

	ck_assert_msg(c != NULL, "web port: %s", err);
	return c;
}

/*
 * ALPN, with protos in wire form: what the server selected ("" for none)
 * in sel, or the handshake's error in err; 0 when it completed.
 */
static int
web_alpn(int port, const unsigned char *protos, size_t len, char *sel,
    size_t sel_len, char *err, size_t errlen)
{
	SSL_CTX *ctx = h_tls_ctx(NULL);
	const unsigned char *got = NULL;
	struct h_client *c;
	unsigned int n = 0;

	ck_assert_int_eq(SSL_CTX_set_alpn_protos(ctx, protos,
	    (unsigned int)len), 0);
	c = h_tls_dial_ctx(port, ctx, err, errlen);
	SSL_CTX_free(ctx);
	if (c == NULL) {
		return -1;
	}
	SSL_get0_alpn_selected(conn_ssl(c->conn), &got, &n);
	snprintf(sel, sel_len, "%.*s", (int)n, got != NULL ?
	    (const char *)got : "");
	h_close(c);
	return 0;
}

/*
 * The web port speaks HTTP/1.1: a browser's offer (h2, http/1.1) gets
 * http/1.1; an offer without it (drink's "drink/1", HTTP/2 alone) ends
 * the handshake at once, so such a client need not wait for a greeting
 * that never comes.  The member port takes "drink/1" and lets anything
 * else go by without ALPN.
 */
START_TEST(web_port_alpn_is_http_1_1)
{
	static const unsigned char browser[] = "\x02" "h2" "\x08" "http/1.1";
	static const unsigned char drink[] = "\x07" "drink/1";
	static const unsigned char h2[] = "\x02" "h2";
	char sel[64], err[256];
	int64_t start = now_ms();

	ck_assert_int_eq(web_alpn(web_port, browser, sizeof(browser) - 1, sel,
	    sizeof(sel), err, sizeof(err)), 0);
	ck_assert_str_eq(sel, "http/1.1");
	ck_assert_int_eq(web_alpn(web_port, drink, sizeof(drink) - 1, sel,
	    sizeof(sel), err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "no application protocol") != NULL, "%s",
	    err);
	ck_assert_int_eq(web_alpn(web_port, h2, sizeof(h2) - 1, sel,
	    sizeof(sel), err, sizeof(err)), -1);
	ck_assert_int_lt(now_ms() - start, 5000);
	ck_assert_int_eq(web_alpn(srv->port, drink, sizeof(drink) - 1, sel,
	    sizeof(sel), err, sizeof(err)), 0);
	ck_assert_str_eq(sel, "drink/1");
	ck_assert_int_eq(web_alpn(srv->port, browser, sizeof(browser) - 1, sel,
	    sizeof(sel), err, sizeof(err)), 0);
	ck_assert_str_eq(sel, "");
}
END_TEST

START_TEST(http_static_and_errors)
{
	struct h_client *c = web_dial();
	char head[8192], *body;
	long n;

	/* Two requests on one kept-alive connection. */
	send_text(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
	ck_assert_ptr_nonnull(http_read_head(c, head, sizeof(head), 5000));
	ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "%s", head);
	ck_assert_ptr_nonnull(strstr(head, "Content-Security-Policy: "
	    "default-src 'none'; script-src 'self'"));
	ck_assert_ptr_nonnull(strstr(head, "X-Content-Type-Options: nosniff"));
	ck_assert_ptr_nonnull(strstr(head, "Strict-Transport-Security: "));
	ck_assert_ptr_nonnull(strstr(head, "text/html"));
	n = http_content_length(head);
	ck_assert_int_gt(n, 100);
	body = xmalloc((size_t)n + 1);
	read_exact(c, body, (size_t)n);
	body[n] = '\0';
	ck_assert_ptr_nonnull(strstr(body, "app.js"));
	/* No inline script: every <script> has a src. */
	ck_assert_ptr_null(strstr(body, "<script>"));
	free(body);
	send_text(c, "HEAD /app.js HTTP/1.1\r\nHost: localhost\r\n\r\n");
	ck_assert_ptr_nonnull(http_read_head(c, head, sizeof(head), 5000));
	ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "%s", head);
	ck_assert_ptr_nonnull(strstr(head, "text/javascript"));
	ck_assert_int_gt(http_content_length(head), 1000);
	/* HEAD has no body: the next response follows at once. */
	send_text(c, "GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n");
	ck_assert_ptr_nonnull(http_read_head(c, head, sizeof(head), 5000));
	ck_assert_msg(strncmp(head, "HTTP/1.1 404", 12) == 0, "%s", head);
	n = http_content_length(head);
	body = xmalloc((size_t)n + 1);
	read_exact(c, body, (size_t)n);
	free(body);
	h_send_raw(c, "POST / HTTP/1.1\r\nHost: localhost\r\n"
	    "Content-Length: 0\r\n\r\n", 55);
	ck_assert_ptr_nonnull(http_read_head(c, head, sizeof(head), 5000));
	ck_assert_msg(strncmp(head, "HTTP/1.1 405", 12) == 0, "%s", head);
	ck_assert_ptr_nonnull(strstr(head, "Allow: GET, HEAD"));
	h_close(c);

	c = web_dial();
	send_text(c, "XYZZY / HTTP/1.1\r\n\r\n");
	ck_assert_ptr_nonnull(http_read_head(c, head, sizeof(head), 5000));
	ck_assert_msg(strncmp(head, "HTTP/1.1 400", 12) == 0, "%s", head);
	h_close(c);
}
END_TEST

START_TEST(http_header_too_large)
{
	struct h_client *c = web_dial();
	char head[4096], *big = xmalloc(10000);
	int rc;

	memset(big, 'a', 9999);
	big[9999] = '\0';
	send_text(c, "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ");
	rc = h_send_raw(c, big, 9999);
	(void)rc;
	ck_assert_ptr_nonnull(http_read_head(c, head, sizeof(head), 5000));
	ck_assert_msg(strncmp(head, "HTTP/1.1 431", 12) == 0, "%s", head);
	free(big);
	h_close(c);
}
END_TEST

/* A head sent a byte at a time is cut off at line_timeout (2 s here). */
START_TEST(http_slow_headers)
{
	struct h_client *c = web_dial();
	const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	char head[4096];
	int64_t t0 = now_ms();
	size_t i;
	int ok = 1;

	for (i = 0; i < strlen(req) && ok; i++) {
		ok = h_send_raw(c, req + i, 1) == CONN_OK;
		if (now_ms() - t0 > 6000) {
			break;
		}
		usleep(100 * 1000);
	}
	ck_assert_ptr_nonnull(http_read_head(c, head, sizeof(head), 5000));
	ck_assert_msg(strncmp(head, "HTTP/1.1 408", 12) == 0, "%s", head);
	ck_assert_int_lt(now_ms() - t0, 6000);
	h_close(c);
}
END_TEST

/* GET / on a fresh connection: the status line's code (0: no answer). */
static int
http_get_status(char *head, size_t cap)
{
	struct h_client *c = web_dial();
	int code = 0;

	send_text(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
	if (http_read_head(c, head, cap, 5000) != NULL &&
	    strncmp(head, "HTTP/1.1 ", 9) == 0) {
		code = atoi(head + 9);
	}
	h_close(c);
	return code;
}

/*
 * Over max_clients (2 here) a browser is answered 503 with Retry-After
 * and a short body, not dropped; the web port is counted apart from the
 * member port, so a full web port leaves the member port open and a full
 * member port leaves the web port open.
 */
START_TEST(http_busy_503)
{
	struct h_client *w1, *w2, *m1, *m2;
	char head[4096], body[256];
	struct h_client *c;
	long n;
	int i, code = 0;

	h_server_free(srv);
	start_with("max_clients = 2\n");
	w1 = web_dial();
	w2 = web_dial();
	c = web_dial();
	send_text(c, "GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n");
	ck_assert_ptr_nonnull(http_read_head(c, head, sizeof(head), 5000));
	ck_assert_msg(strncmp(head, "HTTP/1.1 503 Service Unavailable\r\n",
	    34) == 0, "%s", head);
	ck_assert_ptr_nonnull(strstr(head, "\r\nRetry-After: 5\r\n"));
	ck_assert_ptr_nonnull(strstr(head, "\r\nConnection: close\r\n"));
	ck_assert_ptr_nonnull(strstr(head, "X-Content-Type-Options: nosniff"));
	n = http_content_length(head);
	ck_assert_int_gt(n, 10);
	ck_assert_int_lt(n, (long)sizeof(body));
	read_exact(c, body, (size_t)n);
	body[n] = '\0';
	ck_assert_msg(strstr(body, "too many connections") != NULL, "%s",
	    body);
	h_close(c);
	ck_assert(h_server_log_wait(srv, "on the web port: connection limit "
	    "reached", 5000));
	/* The member port is not full. */
	m1 = h_connect_as(srv, "alice", "alicepw");
	m2 = h_connect_as(srv, "bob", "bobpw");
	/* Now it is; a web connection that leaves makes room for another. */
	h_close(w1);
	for (i = 0; i < 50 && code != 200; i++) {
		code = http_get_status(head, sizeof(head));
		if (code != 200) {
			usleep(100 * 1000);
		}
	}
	ck_assert_int_eq(code, 200);
	h_close(w2);
	h_close(m1);
	h_close(m2);
}
END_TEST

/* Send req over plain TCP; what comes back until the server closes. */
static char *
plain_exchange(const char *req)
{
	int fd = h_tcp_dial(web_port);
	char *buf = xcalloc(1, 8192);
	size_t len = 0;
	int64_t deadline = now_ms() + 5000;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (len + 1 < 8192 && now_ms() < deadline &&
	    poll(&pfd, 1, (int)(deadline - now_ms())) > 0 &&
	    (n = read(fd, buf + len, 8191 - len)) > 0) {
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

/*
 * http:// typed for the https:// port: a redirect in plain HTTP instead
 * of a reset connection; a Host that cannot go into a Location is 400.
 */
START_TEST(http_plain_redirected)
{
	char *req, *got, want[128];

	req = xasprintf("GET /app.js?v=2 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
	    "\r\n", web_port);
	got = plain_exchange(req);
	free(req);
	ck_assert_msg(strncmp(got, "HTTP/1.1 301 ", 13) == 0, "%s", got);
	snprintf(want, sizeof(want), "\r\nLocation: https://127.0.0.1:%d"
	    "/app.js?v=2\r\n", web_port);
	ck_assert_msg(strstr(got, want) != NULL, "%s", got);
	ck_assert_ptr_nonnull(strstr(got, "speaks HTTPS only"));
	free(got);
	got = plain_exchange("GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n");
	ck_assert_msg(strncmp(got, "HTTP/1.1 400 ", 13) == 0, "%s", got);
	free(got);
	ck_assert(h_server_log_wait(srv, "plain HTTP on the HTTPS port", 5000));
	/* TLS on the same port still works. */
	{
		char head[4096];
		struct h_client *c = web_dial();

		send_text(c, "HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n");
		ck_assert_ptr_nonnull(http_read_head(c, head, sizeof(head),
		    5000));
		ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "%s",
		    head);
		h_close(c);
	}
}
END_TEST

/* Assets carry an ETag; a browser's current copy is answered 304. */
START_TEST(http_etag_not_modified)
{
	struct h_client *c = web_dial();
	char head[4096], tag[64], *req, *body;
	const char *p;
	long n;

	send_text(c, "GET /app.css HTTP/1.1\r\nHost: localhost\r\n\r\n");
	ck_assert_ptr_nonnull(http_read_head(c, head, sizeof(head), 5000));
	ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "%s", head);
	ck_assert_ptr_nonnull(p = strstr(head, "\r\nETag: \""));
	ck_assert_int_eq(sscanf(p + 8, "%63[^\r]", tag), 1);
	ck_assert_uint_eq(strlen(tag), 18);
	n = http_content_length(head);
	ck_assert_int_gt(n, 100);
	body = xmalloc((size_t)n);
	read_exact(c, body, (size_t)n);
	free(body);
	/* The same tag: 304, the 200's length, no body. */
	req = xasprintf("GET /app.css HTTP/1.1\r\nHost: localhost\r\n"
	    "If-None-Match: W/\"other\", %s\r\n\r\n", tag);
	send_text(c, req);
	free(req);
	ck_assert_ptr_nonnull(http_read_head(c, head, sizeof(head), 5000));
	ck_assert_msg(strncmp(head, "HTTP/1.1 304", 12) == 0, "%s", head);
	ck_assert_int_eq(http_content_length(head), n);
	ck_assert_ptr_nonnull(strstr(head, tag));
	/* No body came: the next answer follows at once. */
	send_text(c, "GET /app.css HTTP/1.1\r\nHost: localhost\r\n"
	    "If-None-Match: \"0000000000000000\"\r\n\r\n");
	ck_assert_ptr_nonnull(http_read_head(c, head, sizeof(head), 5000));
	ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "%s", head);
	h_close(c);
}
END_TEST

/* ---- the web port: WebSocket ------------------------------------------ */

#define WS_TEXT 0x1
#define WS_BINARY 0x2
#define WS_CLOSE 0x8
#define WS_PING 0x9
#define WS_PONG 0xa
#define WS_CONT 0x0

/* The upgrade request with origin (NULL: none); returns the head. */
static const char *
ws_upgrade(struct h_client *c, const char *origin, char *head, size_t cap)
{
	char *req = xasprintf("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n", web_port,
	    origin != NULL ? "Origin: " : "", origin != NULL ? origin : "",
	    origin != NULL ? "\r\n" : "");

	h_send_raw(c, req, strlen(req));
	free(req);
	return http_read_head(c, head, cap, 5000);
}

/* The bytes of one client frame, FIN as given, masked; caller frees. */
static unsigned char *
ws_frame_bytes(int fin, int opcode, const void *data, size_t len,
    size_t *size)
{
	unsigned char *f = xmalloc(len + 14), mask[4] = { 0x12, 0x34, 0x56,
		0x78 };
	size_t n = 0, i;

	f[n++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
	if (len < 126) {
		f[n++] = (unsigned char)(0x80 | len);
	} else if (len < 65536) {
		f[n++] = 0x80 | 126;
		f[n++] = (unsigned char)(len >> 8);
		f[n++] = (unsigned char)len;
	} else {
		f[n++] = 0x80 | 127;
		for (i = 0; i < 8; i++) {
			f[n++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		}
	}
	memcpy(f + n, mask, 4);
	n += 4;
	for (i = 0; i < len; i++) {
		f[n + i] = ((const unsigned char *)data)[i] ^ mask[i % 4];
	}
	*size = n + len;
	return f;
}

/*
 * One client frame: FIN as given, masked.  split > 0 writes it in pieces
 * of that many bytes, each its own TLS record.
 */
static void
ws_frame(struct h_client *c, int fin, int opcode, const void *data,
    size_t len, size_t split)
{
	size_t n, i;
	unsigned char *f = ws_frame_bytes(fin, opcode, data, len, &n);

	if (split == 0) {
		split = n;
	}
	for (i = 0; i < n; i += split) {
		h_send_raw(c, f + i, n - i < split ? n - i : split);
	}
	free(f);
}

static void
ws_text(struct h_client *c, const char *text)
{
	ws_frame(c, 1, WS_TEXT, text, strlen(text), 0);
}

/* One server frame: its opcode; payload into a fresh NUL-ended string. */
static int
ws_read(struct h_client *c, char **payload, size_t *len)
{
	unsigned char h[2], ext[8];
	uint64_t n;
	int i;

	read_exact(c, h, 2);
	ck_assert_msg((h[1] & 0x80) == 0, "server frames are not masked");
	n = h[1] & 0x7f;
	if (n == 126) {
		read_exact(c, ext, 2);
		n = (uint64_t)ext[0] << 8 | ext[1];
	} else if (n == 127) {
		read_exact(c, ext, 8);
		for (n = 0, i = 0; i < 8; i++) {
			n = n << 8 | ext[i];
		}
	}
	ck_assert_uint_lt(n, 64u << 20);
	*payload = xmalloc((size_t)n + 1);
	read_exact(c, *payload, (size_t)n);
	(*payload)[n] = '\0';
	*len = (size_t)n;
	ck_assert_msg(h[0] & 0x80, "fragmented server frame");
	return h[0] & 0x0f;
}

/* The next text message, parsed. */
static cJSON *
ws_json(struct h_client *c)
{
	char *p;
	size_t n;
	int op = ws_read(c, &p, &n);
	cJSON *o;

	ck_assert_msg(op == WS_TEXT, "expected a text frame, got opcode %d",
	    op);
	o = cJSON_Parse(p);
	ck_assert_msg(o != NULL, "not JSON: %s", p);
	ck_assert_msg(memchr(p, '\n', n) == NULL, "newline in a frame");
	free(p);
	return o;
}

/* Expect a close frame with code. */
static void
ws_expect_close(struct h_client *c, int code)
{
	char *p;
	size_t n;
	int op;

	do {
		op = ws_read(c, &p, &n);
		if (op != WS_CLOSE) {
			free(p);
		}
	} while (op == WS_TEXT);
	ck_assert_int_eq(op, WS_CLOSE);
	ck_assert_uint_ge(n, 2);
	ck_assert_int_eq(((unsigned char)p[0] << 8) | (unsigned char)p[1],
	    code);
	free(p);
}

static struct h_client *
ws_open(const char *origin)
{
	struct h_client *c = web_dial();
	char head[4096];
	cJSON *hello;

	ck_assert_ptr_nonnull(ws_upgrade(c, origin, head, sizeof(head)));
	ck_assert_msg(strncmp(head, "HTTP/1.1 101", 12) == 0, "%s", head);
	ck_assert_ptr_nonnull(strstr(head,
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	hello = ws_json(c);
	ck_assert_str_eq(h_str(hello, "event"), "hello");
	ck_assert_int_eq(h_num(hello, "proto"), 1);
	cJSON_Delete(hello);
	return c;
}

static cJSON *
ws_call(struct h_client *c, const char *text)
{
	cJSON *r;

	ws_text(c, text);
	for (;;) {
		r = ws_json(c);
		if (cJSON_GetObjectItem(r, "event") == NULL) {
			return r;
		}
		cJSON_Delete(r);
	}
}

/* A WebSocket from the server's own origin, logged in by login. */
static struct h_client *
ws_open_login(const char *login)
{
	char own[64];
	struct h_client *c;
	cJSON *r;

	snprintf(own, sizeof(own), "https://127.0.0.1:%d", web_port);
	c = ws_open(own);
	r = ws_call(c, login);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	return c;
}

/* A WebSocket from the server's own origin, logged in as user. */
static struct h_client *
ws_open_as(const char *user, const char *password)
{
	char *login = xasprintf("{\"cmd\":\"login\",\"user\":\"%s\","
	    "\"password\":\"%s\"}", user, password);
	struct h_client *c = ws_open_login(login);

	free(login);
	return c;
}

/* The same, logged in by the login token tok (as the web app reloaded). */
static struct h_client *
ws_open_by_token(const char *tok)
{
	char *login = xasprintf("{\"cmd\":\"login\",\"token\":\"%s\"}",
	    tok);
	struct h_client *c = ws_open_login(login);

	free(login);
	return c;
}

START_TEST(ws_origin_checked)
{
	struct h_client *c = web_dial();
	char head[4096], own[64];

	ck_assert_ptr_nonnull(ws_upgrade(c, "https://evil.example", head,
	    sizeof(head)));
	ck_assert_msg(strncmp(head, "HTTP/1.1 403", 12) == 0, "%s", head);
	h_close(c);
	c = web_dial();
	ck_assert_ptr_nonnull(ws_upgrade(c, NULL, head, sizeof(head)));
	ck_assert_msg(strncmp(head, "HTTP/1.1 403", 12) == 0, "%s", head);
	h_close(c);
	/* The server's own origin and one from web_origins are let in. */
	snprintf(own, sizeof(own), "https://127.0.0.1:%d", web_port);
	h_close(ws_open(own));
	h_close(ws_open("https://app.example"));
	/* A plain GET /ws is not an upgrade. */
	c = web_dial();
	send_text(c, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_ptr_nonnull(http_read_head(c, head, sizeof(head), 5000));
	ck_assert_msg(strncmp(head, "HTTP/1.1 400", 12) == 0, "%s", head);
	h_close(c);
}
END_TEST

/*
 * Whitespace after a header's value is not part of it (RFC 9110 section
 * 5.5): a client or proxy that writes "13 " or a blank after its key or
 * origin is upgraded like any other.
 */
START_TEST(ws_header_values_trimmed)
{
	struct h_client *c = web_dial();
	char *req, head[4096];
	cJSON *r;

	req = xasprintf("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d \r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ== \t\r\n"
	    "Sec-WebSocket-Version: 13 \r\n"
	    "Origin: https://127.0.0.1:%d\t\r\n\r\n", web_port, web_port);
	h_send_raw(c, req, strlen(req));
	free(req);
	ck_assert_ptr_nonnull(http_read_head(c, head, sizeof(head), 5000));
	ck_assert_msg(strncmp(head, "HTTP/1.1 101", 12) == 0, "%s", head);
	ck_assert_ptr_nonnull(strstr(head,
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	r = ws_json(c);
	ck_assert_str_eq(h_str(r, "event"), "hello");
	cJSON_Delete(r);
	r = ws_call(c, "{\"id\":1,\"cmd\":\"ping\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	h_close(c);
}
END_TEST

/*
 * Sec-WebSocket-Key is the base64 of 16 bytes (RFC 6455 section 4.2.1):
 * anything else is not a WebSocket handshake and is refused with 400.
 */
START_TEST(ws_key_must_be_16_bytes)
{
	static const char *const bad[] = {
		"x", "!!!", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=",
		"dGhlIHNhbXBsZSBub25jZR==", "dGhlIHNhbXBsZSBub25j*Q==",
		"dGhlIHNhbXBsZSBub25jZSE=", "dGhlIHNhbXBsZSBub25jZQ==AAAA",
	};
	struct h_client *c;
	char *req, head[4096];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = web_dial();
		req = xasprintf("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
		    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
		    "Origin: https://127.0.0.1:%d\r\n\r\n", web_port, bad[i],
		    web_port);
		h_send_raw(c, req, strlen(req));
		free(req);
		ck_assert_ptr_nonnull(http_read_head(c, head, sizeof(head),
		    5000));
		ck_assert_msg(strncmp(head, "HTTP/1.1 400", 12) == 0,
		    "key \"%s\": %s", bad[i], head);
		h_close(c);
	}
}
END_TEST

START_TEST(ws_session_requests)
{
	char own[64];
	struct h_client *c;
	cJSON *r;
	int64_t id;
	char *tok;

	snprintf(own, sizeof(own), "https://127.0.0.1:%d", web_port);
	c = ws_open(own);
	r = ws_call(c, "{\"id\":1,\"cmd\":\"balance\"}");
	H_ASSERT_ERROR(r, "auth_required");
	ck_assert_int_eq(h_num(r, "id"), 1);
	cJSON_Delete(r);
	r = ws_call(c, "{\"id\":2,\"cmd\":\"login\",\"user\":\"alice\","
	    "\"password\":\"alicepw\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	r = ws_call(c, "{\"cmd\":\"token_create\",\"label\":\"web\"}");
	H_ASSERT_OK(r);
	tok = xstrdup(h_str(r, "token"));
	id = h_num(r, "token_id");
	cJSON_Delete(r);
	r = ws_call(c, "not json");
	H_ASSERT_ERROR(r, "bad_request");
	cJSON_Delete(r);
	/* Split across TLS records: 3 bytes per record. */
	ws_frame(c, 1, WS_TEXT, "{\"id\":9,\"cmd\":\"whoami\"}", 23, 3);
	r = ws_json(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 9);
	ck_assert_str_eq(h_str(r, "user"), "alice");
	cJSON_Delete(r);
	/* A fragmented message, with a ping between the fragments. */
	ws_frame(c, 0, WS_TEXT, "{\"id\":10,", 9, 0);
	ws_frame(c, 1, WS_PING, "hi", 2, 0);
	ws_frame(c, 0, WS_CONT, "\"cmd\":\"pi", 9, 0);
	ws_frame(c, 1, WS_CONT, "ng\"}", 4, 0);
	{
		char *p;
		size_t n;

		ck_assert_int_eq(ws_read(c, &p, &n), WS_PONG);
		ck_assert_str_eq(p, "hi");
		free(p);
	}
	r = ws_json(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 10);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r, "pong")));
	cJSON_Delete(r);
	/* Pipelined: answered in order. */
	ws_text(c, "{\"id\":11,\"cmd\":\"ping\"}");
	ws_text(c, "{\"id\":12,\"cmd\":\"balance\"}");
	ws_text(c, "{\"id\":13,\"cmd\":\"ping\"}");
	r = ws_json(c);
	ck_assert_int_eq(h_num(r, "id"), 11);
	cJSON_Delete(r);
	r = ws_json(c);
	ck_assert_int_eq(h_num(r, "id"), 12);
	ck_assert_int_eq(h_num(r, "balance"), 100);
	cJSON_Delete(r);
	r = ws_json(c);
	ck_assert_int_eq(h_num(r, "id"), 13);
	cJSON_Delete(r);
	/* quit is answered, then closed. */
	ws_text(c, "{\"id\":14,\"cmd\":\"quit\"}");
	r = ws_json(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 14);
	cJSON_Delete(r);
	ws_expect_close(c, 1000);
	h_close(c);
	/* A new connection logs in with the token. */
	c = ws_open(own);
	r = ws_call(c, "{\"cmd\":\"login\",\"token\":\"ffff\"}");
	H_ASSERT_ERROR(r, "bad_credentials");
	cJSON_Delete(r);
	r = ws_call(c, tok);
	H_ASSERT_ERROR(r, "bad_request");
	cJSON_Delete(r);
	{
		char *req = xasprintf("{\"cmd\":\"login\",\"token\":\"%s\"}",
		    tok);

		r = ws_call(c, req);
		free(req);
	}
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "user"), "alice");
	cJSON_Delete(r);
	(void)id;
	free(tok);
	h_close(c);
}
END_TEST

START_TEST(ws_too_big_and_binary)
{
	char own[64], *big;
	struct h_client *c;
	size_t n = 70000;

	snprintf(own, sizeof(own), "https://localhost:%d", web_port);
	/* Host says 127.0.0.1, so localhost is another origin: refused. */
	c = web_dial();
	{
		char head[4096];

		ck_assert_ptr_nonnull(ws_upgrade(c, own, head, sizeof(head)));
		ck_assert_msg(strncmp(head, "HTTP/1.1 403", 12) == 0, "%s",
		    head);
	}
	h_close(c);
	snprintf(own, sizeof(own), "https://127.0.0.1:%d", web_port);
	c = ws_open(own);
	big = xmalloc(n);
	memset(big, ' ', n);
	memcpy(big, "{\"cmd\":\"ping\"", 13);
	big[n - 1] = '}';
	ws_frame(c, 1, WS_TEXT, big, n, 0);
	free(big);
	ws_expect_close(c, 1009);
	h_close(c);
	/* The log says the server closed it, and why. */
	ck_assert(h_server_log_wait(srv, "closed (closed by the server: "
	    "message longer than max_line (1009))", 10000));
	c = ws_open(own);
	ws_frame(c, 1, WS_TEXT, "{\"cmd\":\"\xff\"}", 11, 0);
	ws_expect_close(c, 1007);
	h_close(c);
	ck_assert(h_server_log_wait(srv, "closed (closed by the server: "
	    "text that is not UTF-8 (1007))", 10000));
	c = ws_open(own);
	ws_frame(c, 1, WS_BINARY, "{\"cmd\":\"ping\"}", 14, 0);
	ws_expect_close(c, 1003);
	h_close(c);
}
END_TEST

/* Events reach a WebSocket subscriber as frames. */
START_TEST(ws_events)
{
	struct h_client *c, *a;
	cJSON *r;

	c = ws_open_as("bob", "bobpw");
	r = ws_call(c, "{\"cmd\":\"subscribe\",\"topics\":[\"balance\","
	    "\"machines\"]}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	a = h_connect_as(srv, "admin", "adminpw");
	h_expect(a, NULL, "{\"cmd\":\"credit\",\"user\":\"bob\",\"amount\":7,"
	    "\"note\":\"x\"}");
	r = ws_json(c);
	ck_assert_str_eq(h_str(r, "event"), "balance");
	ck_assert_int_eq(h_num(r, "balance"), 7);
	cJSON_Delete(r);
	h_expect(a, NULL, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"name\":\"Renamed\"}");
	r = ws_json(c);
	ck_assert_str_eq(h_str(r, "event"), "machine");
	ck_assert_str_eq(h_str(r, "name"), "Renamed");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(r, "online")));
	cJSON_Delete(r);
	h_close(a);
	h_close(c);
}
END_TEST

/* The session number of user's session, as who lists it (0: none). */
static int64_t
who_session_of(struct h_client *a, const char *user)
{
	const cJSON *e;
	cJSON *r = h_call(a, "{\"cmd\":\"who\"}");
	int64_t session = 0;

	H_ASSERT_OK(r);
	cJSON_ArrayForEach(e, h_array(r, "clients")) {
		if (cJSON_IsString(cJSON_GetObjectItem(e, "user")) &&
		    strcmp(h_str(e, "user"), user) == 0) {
			session = h_num(e, "session");
		}
	}
	cJSON_Delete(r);
	return session;
}

/*
 * The log says who ended a WebSocket session: an admin's kick, or the
 * browser going away (not "connection lost" or "write failed").
 */
START_TEST(ws_close_reasons_logged)
{
	char *want;
	struct h_client *c, *a;
	int64_t session;

	c = ws_open_as("bob", "bobpw");
	a = h_connect_as(srv, "admin", "adminpw");
	session = who_session_of(a, "bob");
	ck_assert_int_gt(session, 0);
	h_expectf(a, NULL, "{\"cmd\":\"kick\",\"session\":%lld}",
	    (long long)session);
	ck_assert_int_ge(h_wait_closed(c, 5000), 0);
	want = xasprintf("session %lld: closed (closed by the server: kicked "
	    "by an admin), user bob", (long long)session);
	ck_assert_msg(h_server_log_wait(srv, want, 5000), "no \"%s\"", want);
	free(want);
	h_close(c);
	h_close(a);
	/* A browser that goes away without a close frame. */
	c = ws_open_as("bob", "bobpw");
	h_close(c);
	ck_assert(h_server_log_wait(srv, "closed (closed by the client), user "
	    "bob", 5000));
}
END_TEST

/*
 * The close frame (text and pong frames before it are skipped): its code,
 * and its reason into reason (cap bytes).
 */
static int
ws_close_reason(struct h_client *c, char *reason, size_t cap)
{
	char *p;
	size_t n;
	int op, code;

	do {
		op = ws_read(c, &p, &n);
		if (op != WS_CLOSE) {
			free(p);
		}
	} while (op == WS_TEXT || op == WS_PONG);
	ck_assert_int_eq(op, WS_CLOSE);
	ck_assert_uint_ge(n, 2);
	code = ((unsigned char)p[0] << 8) | (unsigned char)p[1];
	snprintf(reason, cap, "%.*s", (int)(n - 2), p + 2);
	free(p);
	return code;
}

/*
 * A session the server closes from elsewhere (its user disabled by an
 * admin, an admin's kick) gets a close frame whose reason says why, so
 * that the page can tell its member (the log's reason without "closed by
 * the server: "); the log says it as before.
 */
START_TEST(ws_closed_by_server_says_why)
{
	char reason[128];
	struct h_client *c, *d, *a;
	cJSON *r;
	int64_t session;

	c = ws_open_as("alice", "alicepw");
	d = ws_open_as("bob", "bobpw");
	r = ws_call(d, "{\"cmd\":\"subscribe\",\"topics\":[\"balance\"]}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	a = h_connect_as(srv, "admin", "adminpw");
	h_expect(a, NULL, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"disabled\":true}");
	ck_assert_int_eq(ws_close_reason(c, reason, sizeof(reason)), 1008);
	ck_assert_str_eq(reason, "user disabled or changed");
	ck_assert(h_server_log_wait(srv, "closed (closed by the server: user "
	    "disabled or changed), user alice", 5000));
	session = who_session_of(a, "bob");
	ck_assert_int_gt(session, 0);
	h_expectf(a, NULL, "{\"cmd\":\"kick\",\"session\":%lld}",
	    (long long)session);
	ck_assert_int_eq(ws_close_reason(d, reason, sizeof(reason)), 1008);
	ck_assert_str_eq(reason, "kicked by an admin");
	h_close(a);
	h_close(d);
	h_close(c);
}
END_TEST

/*
 * A WebSocket logged in as user whose replies back up: far more of them
 * than the socket holds, none read, so the server's writes wait and it
 * reads no more requests.
 */
static struct h_client *
ws_open_not_reading(const char *user, const char *password)
{
	struct h_client *c = ws_open_as(user, password);
	char *data, *req;
	int small = 4096, i;

	setsockopt(conn_fd(c->conn), SOL_SOCKET, SO_RCVBUF, &small,
	    sizeof(small));
	data = xmalloc(60001);
	memset(data, 'x', 60000);
	data[60000] = '\0';
	req = xasprintf("{\"cmd\":\"ping\",\"data\":\"%s\"}", data);
	for (i = 0; i < 100; i++) {
		ws_text(c, req);
	}
	free(req);
	free(data);
	usleep(500 * 1000);
	return c;
}

/*
 * A session whose browser has stopped taking its replies is closed at
 * once when an admin kicks it, not when its write deadline (60 s) comes:
 * the log says it was kicked, and who no longer lists it.  At shutdown
 * such a session is closed as soon, not left open at exit.
 */
START_TEST(ws_kick_reaches_a_session_not_reading)
{
	struct h_client *c, *a;
	char *want;
	int64_t session, t0;

	c = ws_open_not_reading("bob", "bobpw");
	a = h_connect_as(srv, "admin", "adminpw");
	session = who_session_of(a, "bob");
	ck_assert_int_gt(session, 0);
	t0 = now_ms();
	h_expectf(a, NULL, "{\"cmd\":\"kick\",\"session\":%lld}",
	    (long long)session);
	want = xasprintf("session %lld: closed (closed by the server: kicked "
	    "by an admin), user bob", (long long)session);
	ck_assert_msg(h_server_log_wait(srv, want, 5000), "no \"%s\" after "
	    "%lld ms", want, (long long)(now_ms() - t0));
	free(want);
	/* Gone from the list just after its log line. */
	t0 = now_ms();
	while (who_session_of(a, "bob") != 0 && now_ms() - t0 < 2000) {
		usleep(50 * 1000);
	}
	ck_assert_int_eq(who_session_of(a, "bob"), 0);
	h_close(a);
	h_close(c);
	c = ws_open_not_reading("alice", "alicepw");
	t0 = now_ms();
	ck_assert_int_eq(h_server_stop(srv), 0);
	ck_assert_msg(now_ms() - t0 < 5000, "the stop took %lld ms",
	    (long long)(now_ms() - t0));
	ck_assert(!h_server_log_contains(srv, "still open at exit"));
	ck_assert(h_server_log_contains(srv, "closed (closed by the server: "
	    "shutting down), user alice"));
	h_close(c);
}
END_TEST

/*
 * A session kicked while it reads what its browser sent (a burst of
 * requests) still gets the close frame saying why, every time: the end
 * of the stream the kick makes is not taken for the browser's.
 */
START_TEST(ws_kick_while_reading_says_why)
{
	struct h_client *c, *a;
	char reason[128], *data, *req;
	int64_t session;
	int round, i;

	a = h_connect_as(srv, "admin", "adminpw");
	data = xmalloc(4001);
	memset(data, 'y', 4000);
	data[4000] = '\0';
	req = xasprintf("{\"cmd\":\"ping\",\"data\":\"%s\"}", data);
	free(data);
	for (round = 0; round < 30; round++) {
		c = ws_open_as("bob", "bobpw");
		session = who_session_of(a, "bob");
		ck_assert_int_gt(session, 0);
		for (i = 0; i < 12; i++) {
			ws_text(c, req);
		}
		h_expectf(a, NULL, "{\"cmd\":\"kick\",\"session\":%lld}",
		    (long long)session);
		ck_assert_int_eq(ws_close_reason(c, reason, sizeof(reason)),
		    1008);
		ck_assert_str_eq(reason, "kicked by an admin");
		h_close(c);
		while (who_session_of(a, "bob") != 0) {
			usleep(10 * 1000);
		}
	}
	free(req);
	h_close(a);
}
END_TEST

/*
 * A kick ends a session's requests as it ends its connection: those its
 * browser sent behind one being answered are neither answered nor
 * applied after it.  Here the kick comes while logins (password hashes)
 * are answered, ten sends of a credit behind them, all sent at once:
 * none is made.
 */
START_TEST(ws_kick_ends_requests_waiting)
{
	static const char login[] = "{\"cmd\":\"login\",\"user\":"
	    "\"alice\",\"password\":\"alicepw\"}";
	static const char send[] = "{\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":1}";
	struct h_client *c, *a;
	unsigned char *all, *f;
	char reason[128];
	int64_t session, before;
	size_t len = 0, n;
	int i;

	c = ws_open_as("alice", "alicepw");
	a = h_connect_as(srv, "admin", "adminpw");
	session = who_session_of(a, "alice");
	ck_assert_int_gt(session, 0);
	before = h_balance(srv, "bob");
	all = xmalloc(16 * (sizeof(login) + 14));
	for (i = 0; i < 16; i++) {
		f = i < 6 ? ws_frame_bytes(1, WS_TEXT, login, strlen(login),
		    &n) : ws_frame_bytes(1, WS_TEXT, send, strlen(send), &n);
		memcpy(all + len, f, n);
		len += n;
		free(f);
	}
	ck_assert_int_eq(h_send_raw(c, all, len), CONN_OK);
	free(all);
	/* The first login is being answered (each takes some 30 ms). */
	usleep(20 * 1000);
	h_expectf(a, NULL, "{\"cmd\":\"kick\",\"session\":%lld}",
	    (long long)session);
	ck_assert_int_eq(ws_close_reason(c, reason, sizeof(reason)), 1008);
	ck_assert_str_eq(reason, "kicked by an admin");
	ck_assert_int_eq(h_balance(srv, "bob"), before);
	h_close(a);
	h_close(c);
}
END_TEST

/*
 * A WebSocket that does not log in is closed at login_timeout (2 s here)
 * with a close frame saying why, and the log says so; one that logs in
 * stays past it, and a logout starts the count again.
 */
START_TEST(ws_login_timeout)
{
	char own[64], reason[128];
	struct h_client *c, *d;
	int64_t t0;
	cJSON *r;

	h_server_free(srv);
	start_with("login_timeout = 2\n");
	snprintf(own, sizeof(own), "https://127.0.0.1:%d", web_port);
	t0 = now_ms();
	c = ws_open(own);
	d = ws_open_as("alice", "alicepw");
	/* Requests do not stand in for a login. */
	r = ws_call(c, "{\"cmd\":\"ping\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_int_eq(ws_close_reason(c, reason, sizeof(reason)), 1008);
	ck_assert_str_eq(reason, "no login within login_timeout");
	ck_assert_int_ge(now_ms() - t0, 1900);
	ck_assert_int_lt(now_ms() - t0, 10000);
	ck_assert(h_server_log_wait(srv, "closed (closed by the server: no "
	    "login within login_timeout)", 5000));
	h_close(c);
	/* The logged-in one is still served after login_timeout... */
	usleep(500 * 1000);
	r = ws_call(d, "{\"cmd\":\"whoami\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "user"), "alice");
	cJSON_Delete(r);
	/* ...and after a logout it has login_timeout again. */
	t0 = now_ms();
	r = ws_call(d, "{\"cmd\":\"logout\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_int_eq(ws_close_reason(d, reason, sizeof(reason)), 1008);
	ck_assert_int_ge(now_ms() - t0, 1900);
	h_close(d);
}
END_TEST

/*
 * A WebSocket logged in by a token is closed when the token expires, with
 * a close frame saying why; one logged in by password stays.
 */
START_TEST(ws_token_login_ends_when_token_expires)
{
	struct h_client *a = h_connect_as(srv, "alice", "alicepw"), *c, *d;
	char reason[128], *tok;
	int64_t id, at;
	cJSON *r;

	tok = h_token_make(a, "tab", &id);
	at = expire_token_in(id, 3);
	c = ws_open_by_token(tok);
	d = ws_open_as("alice", "alicepw");
	ck_assert_int_eq(ws_close_reason(c, reason, sizeof(reason)), 1008);
	ck_assert_str_eq(reason, "login token expired");
	ck_assert_int_ge(wall_ms(), at * 1000 - 1000);
	ck_assert(h_server_log_wait(srv, "closed (closed by the server: login "
	    "token expired), user alice", 5000));
	r = ws_call(d, "{\"cmd\":\"whoami\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "user"), "alice");
	cJSON_Delete(r);
	h_close(d);
	h_close(c);
	h_close(a);
	free(tok);
}
END_TEST

/*
 * The web app reloaded is logged in by its token: a card is bound there
 * only with the password, which once given lets the page make a token
 * too (it counts as a login by password).  A page logged in by password
 * binds without it.
 */
START_TEST(ws_card_add_by_token_needs_password)
{
	struct h_client *a = h_connect_as(srv, "alice", "alicepw"), *c, *d;
	char *tok;
	int64_t id;
	cJSON *r;

	tok = h_token_make(a, "tab", &id);
	c = ws_open_by_token(tok);
	r = ws_call(c, "{\"id\":1,\"cmd\":\"card_add\",\"card\":\"04a2b3c4\"}");
	H_ASSERT_ERROR(r, "forbidden");
	ck_assert_int_eq(h_num(r, "id"), 1);
	ck_assert_str_eq(h_str(r, "message"), "give your password to bind "
	    "a card: this session logged in by a login token");
	cJSON_Delete(r);
	r = ws_call(c, "{\"cmd\":\"card_add\",\"card\":\"04a2b3c4\","
	    "\"password\":\"bobpw\"}");
	H_ASSERT_ERROR(r, "bad_credentials");
	cJSON_Delete(r);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM cards"), 0);
	r = ws_call(c, "{\"cmd\":\"token_create\"}");
	H_ASSERT_ERROR(r, "forbidden");
	cJSON_Delete(r);
	r = ws_call(c, "{\"cmd\":\"card_add\",\"card\":\"04a2b3c4\","
	    "\"label\":\"fob\",\"password\":\"alicepw\"}");
	H_ASSERT_OK(r);
	ck_assert_int_gt(h_num(r, "card_id"), 0);
	cJSON_Delete(r);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM cards WHERE "
	    "label = 'fob'"), 1);
	r = ws_call(c, "{\"cmd\":\"token_create\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	d = ws_open_as("bob", "bobpw");
	r = ws_call(d, "{\"cmd\":\"card_add\",\"card\":\"b0b0b0b0\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM cards"), 2);
	h_close(d);
	h_close(c);
	h_close(a);
	free(tok);
}
END_TEST

/*
 * An admin's page reloaded is logged in by its token: users are added or
 * changed there only with the admin's password ("your_password"), which
 * once given holds for the page.  A page logged in by password needs none.
 */
START_TEST(ws_user_changes_by_token_need_password)
{
	struct h_client *a = h_connect_as(srv, "admin", "adminpw"), *c, *d;
	char *tok;
	int64_t id;
	cJSON *r;

	tok = h_token_make(a, "tab", &id);
	c = ws_open_by_token(tok);
	r = ws_call(c, "{\"id\":1,\"cmd\":\"user_add\",\"user\":\"carol\","
	    "\"password\":\"carolpw\",\"role\":\"admin\"}");
	H_ASSERT_ERROR(r, "forbidden");
	ck_assert_int_eq(h_num(r, "id"), 1);
	ck_assert_str_eq(h_str(r, "message"), "give your password to add a "
	    "user: this session logged in by a login token");
	cJSON_Delete(r);
	r = ws_call(c, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"role\":\"admin\"}");
	H_ASSERT_ERROR(r, "forbidden");
	cJSON_Delete(r);
	r = ws_call(c, "{\"cmd\":\"user_add\",\"user\":\"carol\","
	    "\"password\":\"carolpw\",\"your_password\":\"carolpw\"}");
	H_ASSERT_ERROR(r, "bad_credentials");
	cJSON_Delete(r);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM users WHERE "
	    "name = 'carol' OR role = 'admin'"), 1);
	r = ws_call(c, "{\"cmd\":\"user_add\",\"user\":\"carol\","
	    "\"password\":\"carolpw\",\"your_password\":\"adminpw\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	r = ws_call(c, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"role\":\"admin\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM users WHERE "
	    "name = 'carol' OR role = 'admin'"), 3);
	d = ws_open_as("admin", "adminpw");
	r = ws_call(d, "{\"cmd\":\"user_add\",\"user\":\"dave\","
	    "\"password\":\"davepw\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	h_close(d);
	h_close(c);
	h_close(a);
	free(tok);
}
END_TEST

/*
 * An admin who demotes themselves in the web app gets the answer, then a
 * close frame; the last admin cannot.
 */
START_TEST(ws_own_demotion_answered_then_closed)
{
	char reason[128];
	struct h_client *c;
	cJSON *r;

	c = ws_open_as("admin", "adminpw");
	r = ws_call(c, "{\"cmd\":\"user_mod\",\"user\":\"admin\","
	    "\"disabled\":true}");
	H_ASSERT_ERROR(r, "conflict");
	ck_assert_str_eq(h_str(r, "message"),
	    "admin is the last admin; make another admin first");
	cJSON_Delete(r);
	r = ws_call(c, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"role\":\"admin\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	r = ws_call(c, "{\"id\":7,\"cmd\":\"user_mod\",\"user\":\"admin\","
	    "\"role\":\"member\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 7);
	cJSON_Delete(r);
	ck_assert_int_eq(ws_close_reason(c, reason, sizeof(reason)), 1000);
	ck_assert_str_eq(reason, "session ended");
	ck_assert(h_server_log_wait(srv, "closed (closed by the server: user "
	    "disabled or changed), user admin", 5000));
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM users"
	    " WHERE name = 'admin' AND role = 'member'"), 1);
	h_close(c);
}
END_TEST

/*
 * A drop over the WebSocket: while it waits for its machine, the events
 * it causes ("queued", "vending") are sent before its reply; requests are
 * answered outside wslay's receive (web.c asserts no send happens
 * inside it, so answering from the receive callback aborts drinkd here).
 */
START_TEST(ws_drop_events_before_reply)
{
	struct h_client *c;
	struct fake *f;
	cJSON *r, *first;
	int seen_queued = 0, seen_vending = 0;
	int64_t tx = 0;

	f = fake_start(srv, "m1", FAKE_ACK, 1500);
	c = ws_open_as("alice", "alicepw");
	r = ws_call(c, "{\"cmd\":\"subscribe\",\"topics\":[\"drops\"]}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	/* The drop and a ping in one record: the ping waits its turn. */
	{
		const char *a = "{\"id\":1,\"cmd\":\"drop\",\"machine\":\"m1\","
		    "\"slot\":3}", *b = "{\"id\":2,\"cmd\":\"ping\"}";

		ws_text(c, a);
		ws_text(c, b);
	}
	for (;;) {
		first = ws_json(c);
		if (cJSON_GetObjectItem(first, "event") == NULL) {
			break;
		}
		ck_assert_str_eq(h_str(first, "event"), "drop");
		tx = h_num(first, "tx");
		if (strcmp(h_str(first, "state"), "queued") == 0) {
			seen_queued = 1;
		} else if (strcmp(h_str(first, "state"), "vending") == 0) {
			seen_vending = 1;
		}
		cJSON_Delete(first);
	}
	H_ASSERT_OK(first);
	ck_assert_int_eq(h_num(first, "id"), 1);
	ck_assert_int_eq(h_num(first, "tx"), tx);
	cJSON_Delete(first);
	ck_assert_msg(seen_queued && seen_vending, "events not sent while "
	    "the drop waited (queued %d, vending %d)", seen_queued,
	    seen_vending);
	r = ws_call(c, "{\"cmd\":\"whoami\"}");
	ck_assert_int_eq(h_num(r, "id"), 2);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	fake_stop(f);
	h_close(c);
}
END_TEST

/*
 * The same when the machine answers at once, well inside the 100 ms the
 * waiting drop sleeps between writing its events: a refusal and an ok are
 * still preceded by the drop's "queued" and "vending".
 */
START_TEST(ws_drop_events_before_an_instant_reply)
{
	static const enum fake_mode modes[] = { FAKE_NACK, FAKE_ACK };
	struct h_client *c;
	struct fake *f;
	cJSON *r, *m;
	const char *final;
	int seen_queued, seen_vending, settled;
	size_t i;

	c = ws_open_as("alice", "alicepw");
	r = ws_call(c, "{\"cmd\":\"subscribe\",\"topics\":[\"drops\"]}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		final = modes[i] == FAKE_ACK ? "completed" : "failed";
		f = fake_start(srv, "m1", modes[i], 0);
		ws_text(c, "{\"id\":7,\"cmd\":\"drop\",\"machine\":\"m1\","
		    "\"slot\":3}");
		seen_queued = seen_vending = settled = 0;
		while (cJSON_GetObjectItem(m = ws_json(c), "event") != NULL) {
			seen_queued |= strcmp(h_str(m, "state"), "queued") == 0;
			seen_vending |= strcmp(h_str(m, "state"), "vending") ==
			    0;
			settled |= strcmp(h_str(m, "state"), final) == 0;
			cJSON_Delete(m);
		}
		ck_assert_int_eq(h_num(m, "id"), 7);
		ck_assert_msg(seen_queued && seen_vending, "%s reply before "
		    "its events (queued %d, vending %d)", modes[i] ==
		    FAKE_NACK ? "a refusal's" : "an ok's", seen_queued,
		    seen_vending);
		ck_assert_int_eq(cJSON_IsTrue(cJSON_GetObjectItem(m, "ok")),
		    modes[i] == FAKE_ACK);
		cJSON_Delete(m);
		/* Settled before the next drop. */
		while (!settled) {
			m = ws_json(c);
			settled = cJSON_GetObjectItem(m, "event") != NULL &&
			    strcmp(h_str(m, "state"), final) == 0;
			cJSON_Delete(m);
		}
		fake_stop(f);
	}
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	h_close(c);
}
END_TEST

/*
 * Replies over two TLS records (16 KiB each) go out at once.  With partial
 * writes on, each SSL write takes one record; the rest of the frame must
 * not wait until the browser sends something.
 */
START_TEST(ws_big_reply_sent_whole)
{
	static const size_t sizes[] = { 32736, 60000 };
	struct h_client *c = ws_open_as("alice", "alicepw");
	int64_t t0;
	size_t i;
	cJSON *r;

	t0 = now_ms();
	for (i = 0; i < 2; i++) {
		char *data = xmalloc(sizes[i] + 1), *req;

		memset(data, 'a' + (int)i, sizes[i]);
		data[sizes[i]] = '\0';
		req = xasprintf("{\"id\":%zu,\"cmd\":\"ping\",\"data\":\"%s\"}",
		    i, data);
		ws_text(c, req);
		free(req);
		free(data);
	}
	for (i = 0; i < 2; i++) {
		r = ws_json(c);
		H_ASSERT_OK(r);
		ck_assert_int_eq(h_num(r, "id"), (int64_t)i);
		ck_assert_uint_eq(strlen(h_str(r, "data")), sizes[i]);
		ck_assert_int_eq(h_str(r, "data")[sizes[i] - 1], 'a' + (int)i);
		cJSON_Delete(r);
	}
	ck_assert_msg(now_ms() - t0 < 3000, "the replies took %lld ms",
	    (long long)(now_ms() - t0));
	h_close(c);
}
END_TEST

/*
 * Send frame bytes one TLS record each, every 300 ms, the last byte never,
 * until the server sends something (or for 6 s): ms from the first byte.
 */
static int64_t
ws_dribble(struct h_client *c, const unsigned char *f, size_t n)
{
	struct pollfd pfd = { .fd = conn_fd(c->conn), .events = POLLIN };
	int64_t t0 = now_ms();
	size_t i;

	for (i = 0; i + 1 < n && now_ms() - t0 < 6000; i++) {
		ck_assert_int_eq(h_send_raw(c, f + i, 1), CONN_OK);
		if (poll(&pfd, 1, 300) > 0) {
			break;
		}
	}
	return now_ms() - t0;
}

/*
 * A message begun must be finished within line_timeout (2 s here), as a
 * line on the member port, however the bytes trickle: a frame sent a byte
 * at a time, a fragmented message kept going with pings, the start of a
 * message sent behind a whole one.  Each is closed with 1008.  Quiet
 * between messages is idle time, not a message's.
 */
START_TEST(ws_unfinished_message_line_timeout)
{
	static const char ping[] = "{\"cmd\":\"ping\"}";
	char reason[128];
	struct h_client *c;
	unsigned char *f, *g;
	size_t n;
	int64_t ms, t0;
	cJSON *r;

	c = ws_open_as("alice", "alicepw");
	usleep(2500 * 1000);
	r = ws_call(c, ping);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	/* A frame a byte at a time (a 200-byte payload: a longer header). */
	{
		char big[201];

		memset(big, ' ', 200);
		memcpy(big, ping, strlen(ping));
		big[200] = '\0';
		r = ws_call(c, big);
		H_ASSERT_OK(r);
		cJSON_Delete(r);
		usleep(2500 * 1000);
		f = ws_frame_bytes(1, WS_TEXT, big, 200, &n);
	}
	ms = ws_dribble(c, f, n);
	free(f);
	ck_assert_int_eq(ws_close_reason(c, reason, sizeof(reason)), 1008);
	ck_assert_str_eq(reason, "message not finished within line_timeout");
	ck_assert_msg(ms >= 1900 && ms < 5000, "closed after %lld ms",
	    (long long)ms);
	ck_assert(h_server_log_wait(srv, "closed (closed by the server: line "
	    "timeout), user alice", 5000));
	h_close(c);

	/* A fragmented message whose last frame never comes. */
	c = ws_open_as("alice", "alicepw");
	t0 = now_ms();
	ws_frame(c, 0, WS_TEXT, "{\"cmd\":", 7, 0);
	{
		struct pollfd pfd = { .fd = conn_fd(c->conn), .events = POLLIN };
		char *p;
		int op = 0;

		while (now_ms() - t0 < 5000) {
			ws_frame(c, 1, WS_PING, "hi", 2, 0);
			ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
			op = ws_read(c, &p, &n);
			free(p);
			if (op != WS_PONG) {
				ck_assert_int_eq(op, WS_CLOSE);
				break;
			}
			usleep(300 * 1000);
		}
		ms = now_ms() - t0;
		ck_assert_int_eq(op, WS_CLOSE);
	}
	ck_assert_msg(ms >= 1900 && ms < 5000, "closed after %lld ms",
	    (long long)ms);
	h_close(c);

	/* A whole message and the start of the next in one record. */
	c = ws_open_as("alice", "alicepw");
	f = ws_frame_bytes(1, WS_TEXT, ping, strlen(ping), &n);
	g = xmalloc(n + 3);
	memcpy(g, f, n);
	memcpy(g + n, f, 3);
	t0 = now_ms();
	ck_assert_int_eq(h_send_raw(c, g, n + 3), CONN_OK);
	free(g);
	free(f);
	r = ws_json(c);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_int_eq(ws_close_reason(c, reason, sizeof(reason)), 1008);
	ms = now_ms() - t0;
	ck_assert_msg(ms >= 1900 && ms < 5000, "closed after %lld ms",
	    (long long)ms);
	h_close(c);
}
END_TEST

/*
 * The line clock stands still while the server answers: a message begun
 * behind a drop that takes longer than line_timeout (2 s here) may be
 * finished after the drop's reply.
 */
START_TEST(ws_line_clock_stops_while_answering)
{
	static const char drop[] = "{\"id\":1,\"cmd\":\"drop\",\"machine\":"
	    "\"m1\",\"slot\":3}";
	static const char ping[] = "{\"id\":2,\"cmd\":\"ping\"}";
	struct h_client *c;
	struct fake *fk;
	unsigned char *f, *g, *all;
	size_t n, m;
	cJSON *r;

	fk = fake_start(srv, "m1", FAKE_ACK, 3000);
	c = ws_open_as("alice", "alicepw");
	f = ws_frame_bytes(1, WS_TEXT, drop, strlen(drop), &n);
	g = ws_frame_bytes(1, WS_TEXT, ping, strlen(ping), &m);
	all = xmalloc(n + 4);
	memcpy(all, f, n);
	memcpy(all + n, g, 4);
	ck_assert_int_eq(h_send_raw(c, all, n + 4), CONN_OK);
	r = ws_json(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 1);
	cJSON_Delete(r);
	ck_assert_int_eq(h_send_raw(c, g + 4, m - 4), CONN_OK);
	r = ws_json(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 2);
	cJSON_Delete(r);
	free(all);
	free(g);
	free(f);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	fake_stop(fk);
	h_close(c);
}
END_TEST

/*
 * A client that sends part of a TLS record after the upgrade and no more
 * costs the server no CPU while it waits, and is still closed when its
 * deadline (login_timeout, 5 s here) comes.
 */
START_TEST(ws_partial_record_costs_no_cpu)
{
	char own[64], reason[128];
	struct h_client *c;
	int64_t t0, cpu, ms;

	h_server_free(srv);
	start_with("login_timeout = 5\n");
	snprintf(own, sizeof(own), "https://127.0.0.1:%d", web_port);
	t0 = now_ms();
	c = ws_open(own);
	cpu = h_server_cpu_ms(srv);
	h_send_partial_record(c, "a frame that is never finished");
	usleep(3000 * 1000);
	cpu = h_server_cpu_ms(srv) - cpu;
	ck_assert_msg(cpu < 500, "the server used %lld ms of CPU in 3 s",
	    (long long)cpu);
	ck_assert_int_eq(ws_close_reason(c, reason, sizeof(reason)), 1008);
	ck_assert_str_eq(reason, "no login within login_timeout");
	ms = now_ms() - t0;
	ck_assert_msg(ms >= 4900 && ms < 9000, "closed after %lld ms",
	    (long long)ms);
	h_close(c);
}
END_TEST

/* ---- the CLI: drink login / logout / watch ------------------------------ */

/* "HOME=... drink -H localhost -p PORT --ca CA" for a shell; caller frees. */
static char *
cli_base(const char *home)
{
	const char *build = getenv("BUILD") != NULL ? getenv("BUILD") :
	    "build";
	char *ca = h_cert_path("ca.crt");
	char *base = xasprintf("env -u XDG_STATE_HOME "
	    "HOME=%s DRINK_CONFIG=/dev/null %s/drink -H localhost -p %d "
	    "--ca %s", home, build, srv->port, ca);

	free(ca);
	return base;
}

static int
sh(const char *fmt, ...) PRINTFLIKE(1, 2);

static int
sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int rc;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&cmd, fmt, ap), 0);
	va_end(ap);
	rc = system(cmd);
	free(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = xcalloc(1, 65536);

	if (f != NULL) {
		buf[fread(buf, 1, 65535, f)] = '\0';
		fclose(f);
	}
	return buf;
}

START_TEST(cli_login_keeps_token_logout_revokes)
{
	char *home = h_tmpdir(), *base = cli_base(home), *file, *out, *text;
	struct stat st;

	ck_assert_int_eq(sh("DRINK_PASSWORD=alicepw %s -u alice login "
	    ">/dev/null", base), 0);
	file = xasprintf("%s/.local/state/drink/token-localhost-%d", home,
	    srv->port);
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	text = xasprintf("%s/.local/state/drink", home);
	ck_assert_int_eq(stat(text, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	free(text);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tokens WHERE "
	    "user = 'alice'"), 1);
	/* No password anywhere now: the kept token logs in. */
	out = xasprintf("%s/out", home);
	ck_assert_int_eq(sh("%s balance > %s 2>&1", base, out), 0);
	text = slurp(out);
	ck_assert_msg(strstr(text, "Balance: 100") != NULL, "%s", text);
	free(text);
	ck_assert_int_eq(sh("%s logout > %s 2>&1", base, out), 0);
	ck_assert_int_ne(stat(file, &st), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tokens"), 0);
	/* Logged out: a command that needs a login is refused. */
	ck_assert_int_eq(sh("%s balance > %s 2>&1 < /dev/null", base, out), 1);
	text = slurp(out);
	ck_assert_msg(strstr(text, "auth_required") != NULL, "%s", text);
	free(text);
	/* A kept token revoked elsewhere is dropped with a clear message. */
	ck_assert_int_eq(sh("DRINK_PASSWORD=alicepw %s -u alice login "
	    ">/dev/null", base), 0);
	{
		struct h_client *a = h_connect_as(srv, "admin", "adminpw");

		h_expect(a, NULL, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
		    "\"password\":\"newpw\"}");
		h_close(a);
	}
	ck_assert_int_eq(sh("%s balance > %s 2>&1 < /dev/null", base, out), 1);
	text = slurp(out);
	ck_assert_msg(strstr(text, "expired or was revoked") != NULL, "%s",
	    text);
	free(text);
	ck_assert_int_ne(stat(file, &st), 0);
	free(out);
	free(file);
	free(base);
	free(home);
}
END_TEST

/*
 * A kept login (a token) binds a card only with the password: drink asks
 * for it as a login does, or takes DRINK_PASSWORD; a wrong one is said
 * in words and binds nothing.
 */
START_TEST(cli_card_add_by_kept_login_asks_password)
{
	char *home = h_tmpdir(), *base = cli_base(home), *out, *text;

	ck_assert_int_eq(sh("DRINK_PASSWORD=alicepw %s -u alice login "
	    ">/dev/null", base), 0);
	out = xasprintf("%s/out", home);
	ck_assert_int_ne(sh("%s card add 04a2b3c4 fob > %s 2>&1 < /dev/null",
	    base, out), 0);
	text = slurp(out);
	ck_assert_msg(strstr(text, "set DRINK_PASSWORD") != NULL, "%s", text);
	free(text);
	ck_assert_int_eq(sh("DRINK_PASSWORD=alicepw2 %s card add 04a2b3c4 fob "
	    "> %s 2>&1", base, out), 1);
	text = slurp(out);
	ck_assert_msg(strstr(text, "wrong password (bad_credentials)") !=
	    NULL, "%s", text);
	free(text);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM cards"), 0);
	ck_assert_int_eq(sh("DRINK_PASSWORD=alicepw %s card add 04a2b3c4 fob "
	    "> %s 2>&1", base, out), 0);
	text = slurp(out);
	ck_assert_msg(strstr(text, "bound to alice") != NULL, "%s", text);
	free(text);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM cards WHERE "
	    "label = 'fob'"), 1);
	free(out);
	free(base);
	free(home);
}
END_TEST

/*
 * A kept admin login (a token) adds or changes a user only with the
 * admin's password: drink asks for it after the new user's, or takes
 * DRINK_PASSWORD; a wrong one is said in words and changes nothing.
 */
START_TEST(cli_user_add_by_kept_login_asks_password)
{
	char *home = h_tmpdir(), *base = cli_base(home), *out, *text;

	ck_assert_int_eq(sh("DRINK_PASSWORD=adminpw %s -u admin login "
	    ">/dev/null", base), 0);
	out = xasprintf("%s/out", home);
	ck_assert_int_ne(sh("DRINK_NEW_PASSWORD=carolpw %s user-add carol "
	    "--admin > %s 2>&1 < /dev/null", base, out), 0);
	text = slurp(out);
	ck_assert_msg(strstr(text, "set DRINK_PASSWORD") != NULL, "%s", text);
	free(text);
	ck_assert_int_eq(sh("DRINK_PASSWORD=adminpw2 "
	    "DRINK_NEW_PASSWORD=carolpw "
	    "%s user-add carol --admin > %s 2>&1", base, out), 1);
	text = slurp(out);
	ck_assert_msg(strstr(text, "wrong password (bad_credentials)") !=
	    NULL, "%s", text);
	free(text);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM users WHERE "
	    "name = 'carol'"), 0);
	ck_assert_int_eq(sh("DRINK_PASSWORD=adminpw "
	    "DRINK_NEW_PASSWORD=carolpw "
	    "%s user-add carol --admin > %s 2>&1", base, out), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM users WHERE "
	    "name = 'carol' AND role = 'admin'"), 1);
	ck_assert_int_ne(sh("%s user-mod alice --role admin > %s 2>&1 "
	    "< /dev/null", base, out), 0);
	text = slurp(out);
	ck_assert_msg(strstr(text, "set DRINK_PASSWORD") != NULL, "%s", text);
	free(text);
	ck_assert_int_eq(sh("DRINK_PASSWORD=adminpw %s user-mod alice --role "
	    "admin > %s 2>&1", base, out), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM users WHERE "
	    "name = 'alice' AND role = 'admin'"), 1);
	free(out);
	free(base);
	free(home);
}
END_TEST

/*
 * A second "drink login" revokes the login it replaces (the file keeps one
 * token, so the server must not keep two), for the same user and for
 * another; and a revoked kept login is no error when the password login
 * that follows works.
 */
START_TEST(cli_login_again_revokes_the_login_it_replaces)
{
	char *home = h_tmpdir(), *base = cli_base(home), *out, *text;

	ck_assert_int_eq(sh("DRINK_PASSWORD=alicepw %s -u alice login "
	    ">/dev/null", base), 0);
	ck_assert_int_eq(sh("DRINK_PASSWORD=alicepw %s -u alice login "
	    ">/dev/null", base), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tokens WHERE "
	    "user = 'alice'"), 1);
	/* Another user: alice's is revoked with her own token. */
	out = xasprintf("%s/out", home);
	ck_assert_int_eq(sh("DRINK_PASSWORD=bobpw %s -u bob login > %s 2>&1",
	    base, out), 0);
	text = slurp(out);
	ck_assert_msg(strstr(text, "Logged in as bob") != NULL &&
	    strstr(text, "drink:") == NULL, "%s", text);
	free(text);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tokens WHERE "
	    "user = 'alice'"), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tokens WHERE "
	    "user = 'bob'"), 1);
	ck_assert_int_eq(sh("%s whoami > %s 2>&1", base, out), 0);
	text = slurp(out);
	ck_assert_msg(strstr(text, "bob") != NULL, "%s", text);
	free(text);
	/* bob's kept login revoked elsewhere; -u bob with his password. */
	{
		struct h_client *b = h_connect_as(srv, "bob", "bobpw");

		h_expectf(b, NULL, "{\"cmd\":\"token_revoke\",\"token_id\":"
		    "%lld}", (long long)h_sql_int(srv, "SELECT id FROM tokens"
		    " WHERE user = 'bob'"));
		h_close(b);
	}
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tokens WHERE "
	    "user = 'bob'"), 0);
	ck_assert_int_eq(sh("DRINK_PASSWORD=bobpw %s -u bob balance > %s "
	    "2>&1 < /dev/null", base, out), 0);
	text = slurp(out);
	ck_assert_msg(strstr(text, "Balance:") != NULL &&
	    strstr(text, "drink:") == NULL, "%s", text);
	free(text);
	free(out);
	free(base);
	free(home);
}
END_TEST

/*
 * When the login being replaced cannot be revoked because the server
 * closed the connection, "drink login" says the old login may still be
 * valid and how to end it, says it could not log back in on that
 * connection, and still keeps the new login (the next command uses it).
 * The kept token is made longer than the server's max_line, which the
 * server answers by closing the connection.
 */
START_TEST(cli_login_says_when_the_replaced_login_stays)
{
	char *home, *base, *file, *out, *text, *bad;
	FILE *f;

	h_server_free(srv);
	start_with("max_line = 256\n");
	home = h_tmpdir();
	base = cli_base(home);
	ck_assert_int_eq(sh("DRINK_PASSWORD=alicepw %s -u alice login "
	    ">/dev/null", base), 0);
	file = xasprintf("%s/.local/state/drink/token-localhost-%d", home,
	    srv->port);
	bad = xcalloc(1, 1001);
	memset(bad, 'x', 1000);
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "{\"user\":\"alice\",\"token\":\"%s\",\"token_id\":%lld}\n",
	    bad, (long long)h_sql_int(srv, "SELECT id FROM tokens WHERE "
	    "user = 'alice'"));
	fclose(f);
	out = xasprintf("%s/out", home);
	ck_assert_int_eq(sh("DRINK_PASSWORD=bobpw %s -u bob login > %s 2>&1",
	    base, out), 0);
	text = slurp(out);
	ck_assert_msg(strstr(text, "the login kept before for alice (token ")
	    != NULL && strstr(text, "may still be valid: revoke it in the "
	    "web app's Account tab") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "could not log back in as bob on this "
	    "connection") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "Logged in as bob") != NULL, "%s", text);
	free(text);
	/* Nothing was revoked; bob's new login is the kept one. */
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tokens WHERE "
	    "user = 'alice'"), 1);
	ck_assert_int_eq(sh("%s whoami > %s 2>&1", base, out), 0);
	text = slurp(out);
	ck_assert_msg(strstr(text, "bob") != NULL, "%s", text);
	free(text);
	/*
	 * "drink logout" with a token the server refuses for another reason
	 * than not knowing it: the refusal is said, exit 1, and the file is
	 * kept (it was not revoked).
	 */
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "{\"user\":\"bob\",\"token\":\"%s\",\"token_id\":1}\n",
	    bad);
	fclose(f);
	ck_assert_int_eq(sh("%s logout > %s 2>&1", base, out), 1);
	text = slurp(out);
	ck_assert_msg(strstr(text, "line_too_long") != NULL &&
	    strstr(text, "Logged out") == NULL, "%s", text);
	free(text);
	ck_assert_int_eq(access(file, F_OK), 0);
	free(bad);
	free(out);
	free(file);
	free(base);
	free(home);
}
END_TEST

START_TEST(cli_watch_prints_events)
{
	char *home = h_tmpdir(), *base = cli_base(home), *out, *pidf, *text;
	struct h_client *a;
	int64_t deadline;
	long pid;

	out = xasprintf("%s/watch.out", home);
	pidf = xasprintf("%s/watch.pid", home);
	ck_assert_int_eq(sh("%s watch > %s 2>&1 & echo $! > %s", base, out,
	    pidf), 0);
	text = slurp(pidf);
	pid = atol(text);
	free(text);
	ck_assert_int_gt(pid, 1);
	/* Wait until it has subscribed. */
	deadline = now_ms() + 10000;
	do {
		usleep(100 * 1000);
		text = slurp(out);
		if (strstr(text, "watching") != NULL) {
			free(text);
			break;
		}
		free(text);
	} while (now_ms() < deadline);
	a = h_connect_as(srv, "admin", "adminpw");
	h_expect(a, NULL, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"name\":\"Renamed Drink\"}");
	h_expect(a, NULL, "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":3,\"price\":15}");
	/* A machine deleted is said to be, not taken for one disabled. */
	h_expect(a, NULL, "{\"cmd\":\"machine_add\",\"machine\":\"m9\","
	    "\"name\":\"Short-lived\"}");
	h_expect(a, NULL, "{\"cmd\":\"machine_del\",\"machine\":\"m9\"}");
	h_close(a);
	deadline = now_ms() + 5000;
	for (;;) {
		text = slurp(out);
		if ((strstr(text, "machine m1 (Renamed Drink): offline, "
		    "enabled") != NULL && strstr(text, "slot m1 3: Cola, price "
		    "15, stock 5, enabled") != NULL &&
		    strstr(text, "machine m9 (Short-lived): deleted\n") !=
		    NULL) || now_ms() > deadline) {
			break;
		}
		free(text);
		usleep(100 * 1000);
	}
	kill((pid_t)pid, SIGTERM);
	ck_assert_msg(strstr(text, "Renamed Drink") != NULL &&
	    strstr(text, "price 15") != NULL, "watch printed:\n%s", text);
	ck_assert_msg(strstr(text, "machine m9 (Short-lived): deleted\n") !=
	    NULL && strstr(text, "(Short-lived): offline, disabled") == NULL,
	    "watch printed:\n%s", text);
	free(text);
	free(out);
	free(pidf);
	free(base);
	free(home);
}
END_TEST

/*
 * A WebSocket session left idle (a phone with the app open) gives back
 * its thread's stack pages and OpenSSL's per-thread state, as a member
 * connection does: RSS growth per idle session, logged in, over
 * WEB_IDLE of them, warmed by one.
 */
#define WEB_IDLE 150
#define WEB_IDLE_KIB 64		/* per idle session, at most (70 untrimmed) */
#define WEB_IDLE_SAN_KIB 4096	/* sanitizers' (TSan: 2.8 MiB) */

START_TEST(ws_idle_sessions_cost_little_memory)
{
	struct h_client **c = calloc(WEB_IDLE, sizeof(*c));
	long before, after;
	char own[64];
	double kib;
	cJSON *r;
	int i, san;

	ck_assert_ptr_nonnull(c);
	teardown();
	start_with("max_clients_per_ip = 1000\nmax_unauth_per_ip = 1000\n");
	snprintf(own, sizeof(own), "https://127.0.0.1:%d", web_port);
	san = h_server_instrumented(srv);
	h_close(ws_open(own));
	usleep(300 * 1000);
	before = h_server_rss_kib(srv);
	for (i = 0; i < WEB_IDLE; i++) {
		c[i] = ws_open_as("alice", "alicepw");
	}
	usleep(500 * 1000);
	after = h_server_rss_kib(srv);
	kib = (double)(after - before) / WEB_IDLE;
	fprintf(stderr, "web: RSS per idle WebSocket session %.1f KiB%s\n",
	    kib, san ? " (instrumented)" : "");
	/* Still served after the idle spell. */
	r = ws_call(c[0], "{\"cmd\":\"balance\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	r = ws_call(c[WEB_IDLE - 1], "{\"cmd\":\"balance\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	for (i = 0; i < WEB_IDLE; i++) {
		h_close(c[i]);
	}
	free(c);
	ck_assert_msg(kib <= (san ? WEB_IDLE_SAN_KIB : WEB_IDLE_KIB),
	    "%.1f KiB per idle WebSocket session", kib);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("web");
	TCase *tc;
	int failed;

	h_init();
	tc = h_tcase(s, "tokens", setup, teardown, WEB_TIMEOUT);
	tcase_add_test(tc, token_login_list_revoke);
	tcase_add_test(tc, token_id_never_given_again);
	tcase_add_test(tc, token_revoked_by_passwd_and_disable);
	tcase_add_test(tc, token_revoke_ends_its_sessions);
	tcase_add_test(tc, token_revoke_during_logins);
	tcase_add_test(tc, token_login_ends_when_token_expires);
	tcase_add_test(tc, token_session_makes_no_token);
	tcase_add_test(tc, token_errors_and_throttle);
	tc = h_tcase(s, "subscribe on the member port", setup, teardown,
	    WEB_TIMEOUT);
	tcase_add_test(tc, subscribe_roles_and_topics);
	tcase_add_test(tc, subscribe_drop_balance_slot_machine);
	tcase_add_test(tc, subscribe_slot_told_once_per_change);
	tcase_add_test(tc, subscribe_slot_of_a_machine_made_again);
	tcase_add_test(tc, subscribe_machine_deleted_has_every_field);
	tcase_add_test(tc, subscribe_machine_disabled_told_once);
	tcase_add_test(tc, subscribe_sessions_admin);
	tcase_add_test(tc, subscribe_ordering);
	tcase_add_test(tc, subscribe_overflow_closes_only_slow);
	tc = h_tcase(s, "web port HTTP", setup, teardown, WEB_TIMEOUT);
	tcase_add_test(tc, http_static_and_errors);
	tcase_add_test(tc, http_header_too_large);
	tcase_add_test(tc, http_slow_headers);
	tcase_add_test(tc, http_busy_503);
	tcase_add_test(tc, http_plain_redirected);
	tcase_add_test(tc, http_etag_not_modified);
	tcase_add_test(tc, web_port_alpn_is_http_1_1);
	tc = h_tcase(s, "web port WebSocket", setup, teardown, WEB_TIMEOUT);
	tcase_add_test(tc, ws_origin_checked);
	tcase_add_test(tc, ws_header_values_trimmed);
	tcase_add_test(tc, ws_key_must_be_16_bytes);
	tcase_add_test(tc, ws_session_requests);
	tcase_add_test(tc, ws_too_big_and_binary);
	tcase_add_test(tc, ws_events);
	tcase_add_test(tc, ws_login_timeout);
	tcase_add_test(tc, ws_token_login_ends_when_token_expires);
	tcase_add_test(tc, ws_card_add_by_token_needs_password);
	tcase_add_test(tc, ws_user_changes_by_token_need_password);
	tcase_add_test(tc, ws_close_reasons_logged);
	tcase_add_test(tc, ws_closed_by_server_says_why);
	tcase_add_test(tc, ws_kick_reaches_a_session_not_reading);
	tcase_add_test(tc, ws_kick_while_reading_says_why);
	tcase_add_test(tc, ws_kick_ends_requests_waiting);
	tcase_add_test(tc, ws_own_demotion_answered_then_closed);
	tcase_add_test(tc, ws_drop_events_before_reply);
	tcase_add_test(tc, ws_drop_events_before_an_instant_reply);
	tcase_add_test(tc, ws_idle_sessions_cost_little_memory);
	tcase_add_test(tc, ws_big_reply_sent_whole);
	tcase_add_test(tc, ws_unfinished_message_line_timeout);
	tcase_add_test(tc, ws_line_clock_stops_while_answering);
	tcase_add_test(tc, ws_partial_record_costs_no_cpu);
	tc = h_tcase(s, "drink login, logout and watch", setup, teardown,
	    WEB_TIMEOUT);
	tcase_add_test(tc, cli_login_keeps_token_logout_revokes);
	tcase_add_test(tc, cli_card_add_by_kept_login_asks_password);
	tcase_add_test(tc, cli_user_add_by_kept_login_asks_password);
	tcase_add_test(tc, cli_login_again_revokes_the_login_it_replaces);
	tcase_add_test(tc, cli_login_says_when_the_replaced_login_stays);
	tcase_add_test(tc, cli_watch_prints_events);
	failed = h_run(s);
	return h_finish(failed);
}
