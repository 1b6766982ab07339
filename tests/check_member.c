/*
 * The member port over real TLS, one fresh drinkd per test: the greeting,
 * certificate and password login, every member command's success path and
 * error codes, argument validation, framing (pipelining, CRLF, long lines,
 * garbage, plaintext), idempotent sends, and the sessions table.  Money
 * tests end by running `drinkd check-ledger`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake.h"
#include "harness.h"

#define MEMBER_TIMEOUT 60	/* seconds per test; ASan builds are slow */

static struct h_server *member_srv;
static char *member_shim;	/* the fault shim's flag, under member_srv */

static void
member_setup(void)
{
	member_srv = h_server_start(NULL);
}

/* The same under the fault shim, to hold a client's thread (h_hold_writes). */
static void
member_shim_setup(void)
{
	member_shim = h_fault_shim();
	member_srv = h_server_start(NULL);
}

/* With a machine port, for drops a controller answers (fake.h). */
static void
member_machine_setup(void)
{
	member_srv = h_machine_server_start(NULL);
}

static void
member_teardown(void)
{
	h_server_free(member_srv);
	member_srv = NULL;
	free(member_shim);
	member_shim = NULL;
}

/* The connection still answers requests. */
static void
member_ping_ok(struct h_client *c)
{
	cJSON *r = h_call(c, "{\"id\":\"alive\",\"cmd\":\"ping\"}");

	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "id"), "alive");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r, "pong")));
	cJSON_Delete(r);
}

/* bad_request, and the connection stays up. */
static void
member_expect_bad(struct h_client *c, const char *line)
{
	h_expect(c, "bad_request", line);
	member_ping_ok(c);
}

static int64_t
member_balance_cmd(struct h_client *c)
{
	cJSON *r = h_call(c, "{\"cmd\":\"balance\"}");
	int64_t b;

	H_ASSERT_OK(r);
	b = h_num(r, "balance");
	cJSON_Delete(r);
	return b;
}

/* Send amount from c's user to `to`; the new tx id. */
static int64_t
member_send(struct h_client *c, const char *to, int64_t amount)
{
	cJSON *r = h_callf(c, "{\"cmd\":\"send\",\"to\":\"%s\","
	    "\"amount\":%lld}", to, (long long)amount);
	int64_t tx;

	H_ASSERT_OK(r);
	tx = h_num(r, "tx");
	cJSON_Delete(r);
	return tx;
}

/* A string of n copies of ch; caller frees. */
static char *
member_fill(size_t n, char ch)
{
	char *s = xmalloc(n + 1);

	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* n copies of s, in a buffer reused by the next call. */
static const char *
member_repeat(size_t n, const char *s)
{
	static char *buf;
	size_t len = strlen(s), i;

	free(buf);
	buf = xmalloc(n * len + 1);
	for (i = 0; i < n; i++) {
		memcpy(buf + i * len, s, len);
	}
	buf[n * len] = '\0';
	return buf;
}

/* Machine m1 with slot 1 (Cola, 150, stock 5) and slot 2 (disabled). */
static void
member_add_machine(struct h_server *s)
{
	struct h_client *a = h_connect_as(s, "admin", "adminpw");

	h_expect(a, NULL, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Snack machine\"}");
	h_expect(a, NULL, "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":1,\"item\":\"Cola\",\"price\":150,\"stock\":5}");
	h_expect(a, NULL, "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":2,\"item\":\"Chips\",\"price\":80,\"stock\":0,"
	    "\"enabled\":false}");
	h_close(a);
}

/* ---- greeting --------------------------------------------------------- */

START_TEST(member_greeting_fields)
{
	struct h_client *c = h_connect(member_srv, NULL);
	const cJSON *g = c->greeting, *proto;
	unsigned x, y, z;
	int n = 0;

	ck_assert_str_eq(h_str(g, "event"), "hello");
	ck_assert_str_eq(h_str(g, "server"), "drinkd");
	proto = cJSON_GetObjectItem(g, "proto");
	ck_assert_msg(cJSON_IsNumber(proto) && proto->valuedouble == 1.0,
	    "proto must be the integer 1: %s", c->line);
	ck_assert_msg(sscanf(h_str(g, "version"), "%u.%u.%u%n", &x, &y, &z,
	    &n) == 3 && (size_t)n == strlen(h_str(g, "version")),
	    "version is not x.y.z: %s", c->line);
	/* An event never has "ok"; no user without a certificate login. */
	ck_assert(!cJSON_HasObjectItem(g, "ok"));
	ck_assert(!cJSON_HasObjectItem(g, "id"));
	ck_assert(!cJSON_HasObjectItem(g, "user"));
	ck_assert(!cJSON_HasObjectItem(g, "role"));
	h_close(c);
}
END_TEST

START_TEST(member_greeting_cert_ignored_without_member_ca)
{
	struct h_client *c = h_connect(member_srv, "member-alice");

	ck_assert(!cJSON_HasObjectItem(c->greeting, "user"));
	h_expect(c, "auth_required", "{\"cmd\":\"whoami\"}");
	h_close(c);
}
END_TEST

/* ---- certificate login ------------------------------------------------ */

static char *
member_ca_conf(void)
{
	char *ca = h_cert_path("ca.crt");
	char *conf = xasprintf("member_ca = %s", ca);

	free(ca);
	return conf;
}

START_TEST(member_cert_login_member)
{
	char *conf = member_ca_conf();
	struct h_server *s = h_server_start(conf);
	struct h_client *c = h_connect(s, "member-alice");
	cJSON *r;

	ck_assert_str_eq(h_str(c->greeting, "event"), "hello");
	ck_assert_str_eq(h_str(c->greeting, "user"), "alice");
	ck_assert_str_eq(h_str(c->greeting, "role"), "member");
	r = h_call(c, "{\"cmd\":\"whoami\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "user"), "alice");
	ck_assert_str_eq(h_str(r, "role"), "member");
	ck_assert_int_eq(h_num(r, "balance"), 100);
	cJSON_Delete(r);
	h_expect(c, "forbidden", "{\"cmd\":\"users\"}");
	ck_assert_int_eq(h_sql_wait(s, 1, "SELECT count(*) FROM sessions"
	    " WHERE user = 'alice' AND port = %d", c->port), 1);
	h_close(c);
	h_server_free(s);
	free(conf);
}
END_TEST

START_TEST(member_cert_login_admin)
{
	char *conf = member_ca_conf();
	struct h_server *s = h_server_start(conf);
	struct h_client *c = h_connect(s, "member-admin");

	ck_assert_str_eq(h_str(c->greeting, "user"), "admin");
	ck_assert_str_eq(h_str(c->greeting, "role"), "admin");
	h_expect(c, NULL, "{\"cmd\":\"users\"}");
	h_close(c);
	h_server_free(s);
	free(conf);
}
END_TEST

START_TEST(member_cert_none_with_member_ca)
{
	char *conf = member_ca_conf();
	struct h_server *s = h_server_start(conf);
	struct h_client *c = h_connect(s, NULL);

	ck_assert(!cJSON_HasObjectItem(c->greeting, "user"));
	h_expect(c, "auth_required", "{\"cmd\":\"whoami\"}");
	h_login(c, "bob", "bobpw");
	h_expect(c, NULL, "{\"cmd\":\"whoami\"}");
	h_close(c);
	h_server_free(s);
	free(conf);
}
END_TEST

/*
 * A member certificate that does not verify fails the handshake on the
 * wire (not in our own TLS set-up), and the server keeps serving others.
 */
static void
member_cert_refused(const char *cert, const char *what)
{
	char *conf = member_ca_conf(), err[512];
	struct h_server *s = h_server_start(conf);
	struct h_client *c;

	c = h_connect_raw(s, cert, err, sizeof(err));
	ck_assert_msg(c == NULL, "%s accepted: %s", what,
	    c != NULL ? c->line : "");
	ck_assert_msg(strstr(err, "TLS handshake") != NULL ||
	    strstr(err, "no greeting") != NULL, "unexpected failure: %s", err);
	c = h_connect(s, NULL);
	member_ping_ok(c);
	h_close(c);
	h_server_free(s);
	free(conf);
}

START_TEST(member_cert_expired_refused)
{
	member_cert_refused("expired-alice", "expired certificate");
}
END_TEST

START_TEST(member_cert_wrong_ca_refused)
{
	member_cert_refused("wrongca-alice", "certificate from another CA");
}
END_TEST

START_TEST(member_cert_unknown_name_not_logged_in)
{
	char *conf = member_ca_conf();
	struct h_server *s = h_server_start(conf);
	/* Valid, from the right CA, but CN "m1" is no user. */
	struct h_client *c = h_connect(s, "machine-m1");

	ck_assert(!cJSON_HasObjectItem(c->greeting, "user"));
	h_expect(c, "auth_required", "{\"cmd\":\"whoami\"}");
	h_login(c, "alice", "alicepw");
	h_close(c);
	h_server_free(s);
	free(conf);
}
END_TEST

/* ---- TLS versions ----------------------------------------------------- */

START_TEST(member_tls12_accepted)
{
	SSL_CTX *ctx = h_tls_ctx(NULL);
	struct h_client *c;
	char err[512];

	ck_assert_int_eq(SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION),
	    1);
	c = h_tls_dial_ctx(member_srv->port, ctx, err, sizeof(err));
	SSL_CTX_free(ctx);
	ck_assert_msg(c != NULL, "TLS 1.2 client refused: %s", err);
	ck_assert_int_eq(SSL_version(conn_ssl(c->conn)), TLS1_2_VERSION);
	ck_assert_int_eq(h_read_line(c, H_DEADLINE_MS), CONN_OK);
	ck_assert_msg(strstr(c->line, "\"event\":\"hello\"") != NULL,
	    "no greeting over TLS 1.2: %s", c->line);
	h_login(c, "alice", "alicepw");
	h_close(c);
}
END_TEST

/*
 * The server picks the TLS 1.3 suite: AES-128-GCM (the key exchange gives
 * 128-bit security, so AES-256 buys nothing and its SHA-384 key schedule
 * costs more), unless the client puts ChaCha20 first (a client without
 * AES instructions does), and a client offering AES-256 alone still gets
 * in.  OpenSSL's clients list AES-256 first by default.
 */
static const char *
member_suite_with(const char *client_suites)
{
	SSL_CTX *ctx = h_tls_ctx(NULL);
	struct h_client *c;
	char err[512];
	static char name[64];

	ck_assert_int_eq(SSL_CTX_set_ciphersuites(ctx, client_suites), 1);
	c = h_tls_dial_ctx(member_srv->port, ctx, err, sizeof(err));
	SSL_CTX_free(ctx);
	ck_assert_msg(c != NULL, "client offering %s refused: %s",
	    client_suites, err);
	ck_assert_int_eq(SSL_version(conn_ssl(c->conn)), TLS1_3_VERSION);
	snprintf(name, sizeof(name), "%s",
	    SSL_CIPHER_get_name(SSL_get_current_cipher(conn_ssl(c->conn))));
	ck_assert_int_eq(h_read_line(c, H_DEADLINE_MS), CONN_OK);
	h_close(c);
	return name;
}

START_TEST(member_tls13_suite_is_the_servers_choice)
{
	/* OpenSSL's default order, as other clients send it. */
	ck_assert_str_eq(member_suite_with("TLS_AES_256_GCM_SHA384:"
	    "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"),
	    "TLS_AES_128_GCM_SHA256");
	ck_assert_str_eq(member_suite_with("TLS_CHACHA20_POLY1305_SHA256:"
	    "TLS_AES_128_GCM_SHA256"), "TLS_CHACHA20_POLY1305_SHA256");
	ck_assert_str_eq(member_suite_with("TLS_AES_256_GCM_SHA384"),
	    "TLS_AES_256_GCM_SHA384");
}
END_TEST

START_TEST(member_tls11_refused)
{
	SSL_CTX *ctx = h_tls_ctx(NULL);
	struct h_client *c;
	char err[512];

	/* Let this client offer TLS 1.1 and nothing newer. */
	SSL_CTX_set_security_level(ctx, 0);
	ck_assert_int_eq(SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0"),
	    1);
	ck_assert_int_eq(SSL_CTX_set_min_proto_version(ctx, TLS1_1_VERSION),
	    1);
	ck_assert_int_eq(SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION),
	    1);
	c = h_tls_dial_ctx(member_srv->port, ctx, err, sizeof(err));
	SSL_CTX_free(ctx);
	ck_assert_msg(c == NULL, "TLS 1.1 client accepted");
	/* The server refused it, not our own library. */
	ck_assert_msg(strstr(err, "no protocols available") == NULL,
	    "this OpenSSL cannot offer TLS 1.1: %s", err);
	c = h_connect(member_srv, NULL);
	member_ping_ok(c);
	h_close(c);
}
END_TEST

/* ---- login ------------------------------------------------------------ */

START_TEST(member_login_ok_fields)
{
	struct h_client *c = h_connect(member_srv, NULL);
	cJSON *r;

	r = h_call(c, "{\"id\":1,\"cmd\":\"login\",\"user\":\"alice\","
	    "\"password\":\"alicepw\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 1);
	ck_assert_str_eq(h_str(r, "user"), "alice");
	ck_assert_str_eq(h_str(r, "role"), "member");
	ck_assert_int_eq(h_num(r, "balance"), 100);
	cJSON_Delete(r);
	r = h_call(c, "{\"cmd\":\"whoami\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "user"), "alice");
	cJSON_Delete(r);
	h_close(c);

	c = h_connect(member_srv, NULL);
	r = h_call(c, "{\"cmd\":\"login\",\"user\":\"admin\","
	    "\"password\":\"adminpw\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "role"), "admin");
	ck_assert_int_eq(h_num(r, "balance"), 1000);
	cJSON_Delete(r);
	h_close(c);
}
END_TEST

START_TEST(member_login_bad_credentials_same_answer)
{
	struct h_client *c = h_connect(member_srv, NULL);
	cJSON *wrong, *unknown;

	wrong = h_call(c, "{\"cmd\":\"login\",\"user\":\"alice\","
	    "\"password\":\"nope\"}");
	H_ASSERT_ERROR(wrong, "bad_credentials");
	unknown = h_call(c, "{\"cmd\":\"login\",\"user\":\"mallory\","
	    "\"password\":\"nope\"}");
	H_ASSERT_ERROR(unknown, "bad_credentials");
	/* Nothing tells an unknown user from a wrong password. */
	ck_assert_str_eq(h_str(wrong, "message"), h_str(unknown, "message"));
	ck_assert_int_eq(cJSON_GetArraySize(wrong),
	    cJSON_GetArraySize(unknown));
	cJSON_Delete(wrong);
	cJSON_Delete(unknown);
	h_expect(c, "auth_required", "{\"cmd\":\"whoami\"}");
	/* The connection stays usable. */
	h_login(c, "alice", "alicepw");
	h_close(c);
}
END_TEST

START_TEST(member_login_locked_out)
{
	struct h_client *c = h_connect(member_srv, NULL);
	cJSON *r;
	int i;

	for (i = 0; i < 5; i++) {
		h_expect(c, "bad_credentials", "{\"cmd\":\"login\","
		    "\"user\":\"alice\",\"password\":\"guess\"}");
	}
	/* Even the right password is refused while locked. */
	r = h_call(c, "{\"cmd\":\"login\",\"user\":\"alice\","
	    "\"password\":\"alicepw\"}");
	H_ASSERT_ERROR(r, "locked_out");
	ck_assert_int_ge(h_num(r, "retry_after"), 1);
	cJSON_Delete(r);
	h_expect(c, "auth_required", "{\"cmd\":\"balance\"}");
	h_close(c);
}
END_TEST

START_TEST(member_login_bad_arguments)
{
	struct h_client *c = h_connect(member_srv, NULL);

	member_expect_bad(c, "{\"cmd\":\"login\",\"user\":\"Alice\","
	    "\"password\":\"alicepw\"}");
	member_expect_bad(c, "{\"cmd\":\"login\",\"user\":\"alice\"}");
	member_expect_bad(c, "{\"cmd\":\"login\",\"password\":\"alicepw\"}");
	member_expect_bad(c, "{\"cmd\":\"login\",\"user\":\"alice\","
	    "\"password\":\"\"}");
	member_expect_bad(c, "{\"cmd\":\"login\",\"user\":7,"
	    "\"password\":\"alicepw\"}");
	h_expect(c, "auth_required", "{\"cmd\":\"whoami\"}");
	h_close(c);
}
END_TEST

/* ---- auth_required ---------------------------------------------------- */

START_TEST(member_auth_required_before_login)
{
	static const char *const lines[] = {
		"{\"cmd\":\"whoami\"}",
		"{\"cmd\":\"balance\"}",
		"{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1}",
		"{\"cmd\":\"history\"}",
		"{\"cmd\":\"who\"}",
		"{\"cmd\":\"passwd\",\"old\":\"alicepw\",\"new\":\"x\"}",
		"{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":1}",
	};
	struct h_client *c = h_connect(member_srv, NULL);
	cJSON *r;
	size_t i;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		r = h_callf(c, "%.*s,\"id\":%zu}", (int)strlen(lines[i]) - 1,
		    lines[i], i);
		ck_assert_msg(h_error(r) != NULL &&
		    strcmp(h_error(r), "auth_required") == 0,
		    "%s: expected auth_required, got %s", lines[i], c->line);
		ck_assert_int_eq(h_num(r, "id"), (int64_t)i);
		cJSON_Delete(r);
	}
	ck_assert_int_eq(h_balance(member_srv, "alice"), 100);
	ck_assert_int_eq(h_balance(member_srv, "bob"), 0);
	ck_assert_int_eq(h_sql_int(member_srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'transfer'"), 0);
	h_close(c);
}
END_TEST

/* ---- ping ------------------------------------------------------------- */

START_TEST(member_ping_without_data)
{
	struct h_client *c = h_connect(member_srv, NULL);
	cJSON *r = h_call(c, "{\"cmd\":\"ping\"}");

	H_ASSERT_OK(r);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r, "pong")));
	ck_assert(!cJSON_HasObjectItem(r, "data"));
	cJSON_Delete(r);
	h_close(c);
}
END_TEST

START_TEST(member_ping_echoes_data)
{
	static const struct {
		const char *json;	/* as written in the request */
		const char *value;	/* the string it denotes */
	} cases[] = {
		{ "\"hello\"", "hello" },
		{ "\"\"", "" },
		/* "grüße ☕ 😀" as raw UTF-8 */
		{ "\"gr\xc3\xbc\xc3\x9f" "e \xe2\x98\x95 \xf0\x9f\x98\x80\"",
		    "gr\xc3\xbc\xc3\x9f" "e \xe2\x98\x95 \xf0\x9f\x98\x80" },
		/* the same characters as \u escapes, with a surrogate pair */
		{ "\"\\u00e9\\u2615\\ud83d\\ude00\"",
		    "\xc3\xa9\xe2\x98\x95\xf0\x9f\x98\x80" },
		{ "\"quote \\\" backslash \\\\ tab \\t newline \\n\"",
		    "quote \" backslash \\ tab \t newline \n" },
	};
	struct h_client *c = h_connect(member_srv, NULL);
	cJSON *r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = h_callf(c, "{\"cmd\":\"ping\",\"data\":%s}", cases[i].json);
		H_ASSERT_OK(r);
		ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r, "pong")));
		ck_assert_msg(strcmp(h_str(r, "data"), cases[i].value) == 0,
		    "data %s came back as %s", cases[i].json, c->line);
		cJSON_Delete(r);
	}
	member_expect_bad(c, "{\"cmd\":\"ping\",\"data\":5}");
	member_expect_bad(c, "{\"cmd\":\"ping\",\"data\":null}");
	h_close(c);
}
END_TEST

/* ---- id --------------------------------------------------------------- */

START_TEST(member_id_echo)
{
	struct h_client *c = h_connect(member_srv, NULL);
	const char *p;
	cJSON *r;

	r = h_call(c, "{\"id\":7,\"cmd\":\"ping\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 7);
	cJSON_Delete(r);

	r = h_call(c, "{\"cmd\":\"ping\",\"id\":\"req-\\u00e9 1\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "id"), "req-\xc3\xa9 1");
	cJSON_Delete(r);

	r = h_call(c, "{\"cmd\":\"ping\"}");
	H_ASSERT_OK(r);
	ck_assert_msg(!cJSON_HasObjectItem(r, "id"), "id invented: %s",
	    c->line);
	cJSON_Delete(r);

	/* Too big for a double: must come back digit for digit. */
	r = h_call(c, "{\"id\":12345678901234567890,\"cmd\":\"ping\"}");
	H_ASSERT_OK(r);
	p = strstr(c->line, "\"id\":12345678901234567890");
	ck_assert_msg(p != NULL && (p[25] == ',' || p[25] == '}'),
	    "20-digit id not echoed verbatim: %s", c->line);
	cJSON_Delete(r);

	r = h_call(c, "{\"id\":-3,\"cmd\":\"ping\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), -3);
	cJSON_Delete(r);

	/* Errors echo the id too. */
	r = h_call(c, "{\"id\":9,\"cmd\":\"nosuchthing\"}");
	H_ASSERT_ERROR(r, "unknown_command");
	ck_assert_int_eq(h_num(r, "id"), 9);
	cJSON_Delete(r);
	r = h_call(c, "{\"id\":\"x\",\"cmd\":\"whoami\"}");
	H_ASSERT_ERROR(r, "auth_required");
	ck_assert_str_eq(h_str(r, "id"), "x");
	cJSON_Delete(r);
	r = h_call(c, "{\"id\":10,\"cmd\":\"ping\",\"data\":1}");
	H_ASSERT_ERROR(r, "bad_request");
	ck_assert_int_eq(h_num(r, "id"), 10);
	cJSON_Delete(r);
	h_close(c);
}
END_TEST

START_TEST(member_id_other_types_rejected)
{
	struct h_client *c = h_connect(member_srv, NULL);

	member_expect_bad(c, "{\"id\":1.5,\"cmd\":\"ping\"}");
	member_expect_bad(c, "{\"id\":[1],\"cmd\":\"ping\"}");
	member_expect_bad(c, "{\"id\":{\"a\":1},\"cmd\":\"ping\"}");
	member_expect_bad(c, "{\"id\":true,\"cmd\":\"ping\"}");
	h_close(c);
}
END_TEST

/* ---- unknown_command -------------------------------------------------- */

START_TEST(member_unknown_command)
{
	struct h_client *c = h_connect(member_srv, NULL);

	h_expect(c, "unknown_command", "{\"cmd\":\"frobnicate\"}");
	member_ping_ok(c);
	/* Commands are case-sensitive, and not matched by prefix. */
	h_expect(c, "unknown_command", "{\"cmd\":\"PING\"}");
	h_expect(c, "unknown_command", "{\"cmd\":\"pin\"}");
	h_expect(c, "unknown_command", "{\"cmd\":\"\"}");
	member_ping_ok(c);
	h_close(c);
}
END_TEST

/* ---- bad_request ------------------------------------------------------ */

START_TEST(member_bad_request_not_an_object)
{
	static const char *const lines[] = {
		"hello",
		"{",
		"",
		"[1,2]",
		"[{\"cmd\":\"ping\"}]",
		"\"ping\"",
		"42",
		"null",
		"{\"cmd\":\"ping\"} trailing",
		"{\"cmd\":\"ping\"}{\"cmd\":\"ping\"}",
		"{'cmd':'ping'}",
	};
	struct h_client *c = h_connect(member_srv, NULL);
	size_t i;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		member_expect_bad(c, lines[i]);
	}
	h_close(c);
}
END_TEST

START_TEST(member_bad_request_missing_or_mistyped_cmd)
{
	struct h_client *c = h_connect(member_srv, NULL);
	cJSON *r;

	r = h_call(c, "{\"id\":1}");
	H_ASSERT_ERROR(r, "bad_request");
	ck_assert_int_eq(h_num(r, "id"), 1);
	cJSON_Delete(r);
	member_expect_bad(c, "{}");
	member_expect_bad(c, "{\"cmd\":5}");
	member_expect_bad(c, "{\"cmd\":null}");
	member_expect_bad(c, "{\"cmd\":[\"ping\"]}");
	h_close(c);
}
END_TEST

START_TEST(member_bad_request_wrong_types)
{
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");

	member_expect_bad(c, "{\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":\"5\"}");
	member_expect_bad(c, "{\"cmd\":\"send\",\"to\":5,\"amount\":5}");
	member_expect_bad(c, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":5,"
	    "\"note\":5}");
	member_expect_bad(c, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":5,"
	    "\"key\":5}");
	member_expect_bad(c, "{\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":true}");
	member_expect_bad(c, "{\"cmd\":\"send\",\"to\":\"bob\"}");
	member_expect_bad(c, "{\"cmd\":\"send\",\"amount\":5}");
	member_expect_bad(c, "{\"cmd\":\"history\",\"limit\":\"5\"}");
	member_expect_bad(c, "{\"cmd\":\"slots\",\"machine\":1}");
	member_expect_bad(c, "{\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":\"1\"}");
	ck_assert_int_eq(h_balance(member_srv, "alice"), 100);
	ck_assert_int_eq(h_balance(member_srv, "bob"), 0);
	h_close(c);
}
END_TEST

/*
 * subscribe with no topics would say ok and subscribe to nothing: it is
 * refused, naming the topics there are.  unsubscribe's empty list stays
 * a question (what is left).
 */
START_TEST(member_subscribe_needs_a_topic)
{
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");
	cJSON *r;

	r = h_call(c, "{\"id\":1,\"cmd\":\"subscribe\",\"topics\":[]}");
	ck_assert_str_eq(h_error(r), "bad_request");
	ck_assert_str_eq(h_str(r, "message"), "\"topics\" must name at least "
	    "one topic (machines, slots, balance, drops, sessions)");
	cJSON_Delete(r);
	member_ping_ok(c);
	r = h_call(c, "{\"cmd\":\"unsubscribe\",\"topics\":[]}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "topics")), 0);
	cJSON_Delete(r);
	r = h_call(c, "{\"cmd\":\"subscribe\",\"topics\":[\"balance\"]}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "topics")), 1);
	cJSON_Delete(r);
	/* A refused empty list leaves what was subscribed as it was. */
	h_expect(c, "bad_request", "{\"cmd\":\"subscribe\",\"topics\":[]}");
	r = h_call(c, "{\"cmd\":\"unsubscribe\",\"topics\":[]}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "topics")), 1);
	cJSON_Delete(r);
	h_close(c);
}
END_TEST

START_TEST(member_bad_request_names)
{
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");
	char *n32 = member_fill(32, 'a'), *n33 = member_fill(33, 'a');
	char *line;

	member_expect_bad(c, "{\"cmd\":\"send\",\"to\":\"Bob\",\"amount\":1}");
	member_expect_bad(c, "{\"cmd\":\"send\",\"to\":\"1bob\",\"amount\":1}");
	member_expect_bad(c, "{\"cmd\":\"send\",\"to\":\"\",\"amount\":1}");
	member_expect_bad(c, "{\"cmd\":\"send\",\"to\":\"bo b\",\"amount\":1}");
	member_expect_bad(c, "{\"cmd\":\"send\",\"to\":\"_bob\",\"amount\":1}");
	line = xasprintf("{\"cmd\":\"send\",\"to\":\"%s\",\"amount\":1}", n33);
	member_expect_bad(c, line);
	free(line);
	/* 32 characters is a valid name, just not a user. */
	line = xasprintf("{\"cmd\":\"send\",\"to\":\"%s\",\"amount\":1}", n32);
	h_expect(c, "no_such_user", line);
	free(line);
	h_expect(c, "no_such_user", "{\"cmd\":\"send\",\"to\":\"b0b.x_y-z\","
	    "\"amount\":1}");
	member_expect_bad(c, "{\"cmd\":\"slots\",\"machine\":\"M1\"}");
	ck_assert_int_eq(h_balance(member_srv, "alice"), 100);
	free(n32);
	free(n33);
	h_close(c);
}
END_TEST

START_TEST(member_bad_request_note_and_key_length)
{
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");
	char *note200 = member_fill(200, 'n'), *note201 = member_fill(201, 'n');
	char *key64 = member_fill(64, 'k'), *key65 = member_fill(65, 'k');
	char *line;
	cJSON *r;

	line = xasprintf("{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1,"
	    "\"note\":\"%s\"}", note201);
	member_expect_bad(c, line);
	free(line);
	line = xasprintf("{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1,"
	    "\"key\":\"%s\"}", key65);
	member_expect_bad(c, line);
	free(line);
	member_expect_bad(c, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1,"
	    "\"key\":\"\"}");
	ck_assert_int_eq(h_balance(member_srv, "alice"), 100);

	/* The limits themselves are accepted. */
	line = xasprintf("{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1,"
	    "\"note\":\"%s\",\"key\":\"%s\"}", note200, key64);
	h_expect(c, NULL, line);
	free(line);
	r = h_call(c, "{\"cmd\":\"history\",\"limit\":1}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(cJSON_GetArrayItem(h_array(r, "transactions"),
	    0), "note"), note200);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(member_srv, "alice"), 99);
	/* Bytes, not characters: 101 two-byte characters are too many. */
	line = xasprintf("{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1,"
	    "\"note\":\"%s\"}", member_repeat(101, "\xc3\xa9"));
	member_expect_bad(c, line);
	free(line);
	line = xasprintf("{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1,"
	    "\"note\":\"%s\"}", member_repeat(100, "\xc3\xa9"));
	h_expect(c, NULL, line);
	free(line);
	ck_assert_int_eq(h_balance(member_srv, "alice"), 98);
	free(note200);
	free(note201);
	free(key64);
	free(key65);
	h_close(c);
}
END_TEST

START_TEST(member_bad_request_nul_in_string)
{
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");

	member_expect_bad(c, "{\"cmd\":\"ping\",\"data\":\"a\\u0000b\"}");
	member_expect_bad(c, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1,"
	    "\"note\":\"x\\u0000y\"}");
	member_expect_bad(c, "{\"cmd\":\"login\",\"user\":\"alice\","
	    "\"password\":\"alicepw\\u0000junk\"}");
	/* An escaped backslash before "u0000" is not a NUL. */
	h_expect(c, NULL, "{\"cmd\":\"ping\",\"data\":\"a\\\\u0000b\"}");
	ck_assert_int_eq(h_balance(member_srv, "alice"), 100);
	h_close(c);
}
END_TEST

START_TEST(member_extra_fields_ignored)
{
	struct h_client *c = h_connect(member_srv, NULL);
	cJSON *r;
	char *deep, *line;
	size_t i, n = 5000;

	r = h_call(c, "{\"cmd\":\"ping\",\"data\":\"d\",\"extra\":1,"
	    "\"more\":{\"a\":[1,{\"b\":null}]},\"flag\":false}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "data"), "d");
	ck_assert(!cJSON_HasObjectItem(r, "extra"));
	cJSON_Delete(r);
	/* Absurd nesting is refused without harm to the connection. */
	deep = xmalloc(2 * n + 1);
	for (i = 0; i < n; i++) {
		deep[i] = '[';
		deep[n + i] = ']';
	}
	deep[2 * n] = '\0';
	line = xasprintf("{\"cmd\":\"ping\",\"x\":%s}", deep);
	member_expect_bad(c, line);
	free(line);
	free(deep);
	h_close(c);
}
END_TEST

/* ---- invalid_amount --------------------------------------------------- */

START_TEST(member_invalid_amount)
{
	static const char *const amounts[] = {
		"1.5", "1e2", "1E2", "5.0", "-5", "0", "-0", "1000000001",
		"99999999999999999999",
	};
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");
	char *line;
	size_t i;
	cJSON *r;

	for (i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++) {
		line = xasprintf("{\"cmd\":\"send\",\"to\":\"bob\","
		    "\"amount\":%s}", amounts[i]);
		h_expect(c, "invalid_amount", line);
		free(line);
	}
	/* The largest amount is valid; alice just cannot afford it. */
	r = h_call(c, "{\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":1000000000}");
	H_ASSERT_ERROR(r, "insufficient_funds");
	ck_assert_int_eq(h_num(r, "balance"), 100);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(member_srv, "alice"), 100);
	ck_assert_int_eq(h_balance(member_srv, "bob"), 0);
	ck_assert_int_eq(h_sql_int(member_srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'transfer'"), 0);
	h_close(c);
}
END_TEST

/* ---- send ------------------------------------------------------------- */

START_TEST(member_send_moves_credits)
{
	struct h_client *a = h_connect_as(member_srv, "alice", "alicepw");
	struct h_client *b = h_connect_as(member_srv, "bob", "bobpw");
	int64_t t0 = (int64_t)time(NULL), tx;
	const cJSON *e;
	cJSON *r;

	r = h_call(a, "{\"id\":5,\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":30,\"note\":\"lunch\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 5);
	tx = h_num(r, "tx");
	ck_assert_int_gt(tx, 0);
	ck_assert_int_eq(h_num(r, "balance"), 70);
	cJSON_Delete(r);
	ck_assert_int_eq(member_balance_cmd(a), 70);
	ck_assert_int_eq(member_balance_cmd(b), 30);

	/* The sender sees -30 to bob ... */
	r = h_call(a, "{\"cmd\":\"history\"}");
	H_ASSERT_OK(r);
	e = cJSON_GetArrayItem(h_array(r, "transactions"), 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(h_num(e, "tx"), tx);
	ck_assert_str_eq(h_str(e, "kind"), "transfer");
	ck_assert_int_eq(h_num(e, "amount"), -30);
	ck_assert_str_eq(h_str(e, "state"), "completed");
	ck_assert_str_eq(h_str(e, "counterparty"), "bob");
	ck_assert_str_eq(h_str(e, "note"), "lunch");
	ck_assert_int_ge(h_num(e, "time"), t0 - 5);
	ck_assert_int_le(h_num(e, "time"), (int64_t)time(NULL) + 5);
	ck_assert(!cJSON_HasObjectItem(e, "machine"));
	cJSON_Delete(r);
	/* ... and the recipient +30 from alice, same transaction. */
	r = h_call(b, "{\"cmd\":\"history\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "transactions")), 1);
	e = cJSON_GetArrayItem(h_array(r, "transactions"), 0);
	ck_assert_int_eq(h_num(e, "tx"), tx);
	ck_assert_str_eq(h_str(e, "kind"), "transfer");
	ck_assert_int_eq(h_num(e, "amount"), 30);
	ck_assert_str_eq(h_str(e, "counterparty"), "alice");
	cJSON_Delete(r);

	/* The whole balance may be sent; nothing more. */
	r = h_call(a, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":70}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 0);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(member_srv, "alice"), 0);
	ck_assert_int_eq(h_balance(member_srv, "bob"), 100);
	ck_assert_int_eq(h_sql_int(member_srv, "SELECT sum(balance)"
	    " FROM accounts"), 0);
	ck_assert_int_eq(h_check_ledger(member_srv), 0);
	h_close(a);
	h_close(b);
}
END_TEST

START_TEST(member_send_errors)
{
	struct h_client *a = h_connect_as(member_srv, "alice", "alicepw");
	struct h_client *b = h_connect_as(member_srv, "bob", "bobpw");
	cJSON *r;

	h_expect(a, "bad_request", "{\"cmd\":\"send\",\"to\":\"alice\","
	    "\"amount\":1}");
	h_expect(a, "no_such_user", "{\"cmd\":\"send\",\"to\":\"nobody\","
	    "\"amount\":1}");
	r = h_call(a, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":101}");
	H_ASSERT_ERROR(r, "insufficient_funds");
	ck_assert_int_eq(h_num(r, "balance"), 100);
	cJSON_Delete(r);
	r = h_call(b, "{\"cmd\":\"send\",\"to\":\"alice\",\"amount\":1}");
	H_ASSERT_ERROR(r, "insufficient_funds");
	ck_assert_int_eq(h_num(r, "balance"), 0);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(member_srv, "alice"), 100);
	ck_assert_int_eq(h_balance(member_srv, "bob"), 0);
	ck_assert_int_eq(h_sql_int(member_srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'transfer'"), 0);
	ck_assert_int_eq(h_check_ledger(member_srv), 0);
	h_close(a);
	h_close(b);
}
END_TEST

/*
 * `balance` is answered from memory: right after another member's send or
 * an admin's credit, debit or set_balance is answered, every connection
 * of the members concerned sees the new value (read-your-writes across
 * connections), a refused write shows nowhere, and a restart reads the
 * balances back from the database.
 */
START_TEST(member_balance_sees_other_connections_writes)
{
	struct h_client *a = h_connect_as(member_srv, "alice", "alicepw");
	struct h_client *a2 = h_connect_as(member_srv, "alice", "alicepw");
	struct h_client *b = h_connect_as(member_srv, "bob", "bobpw");
	struct h_client *adm = h_connect_as(member_srv, "admin", "adminpw");
	int64_t alice = 100, bob = 0;
	cJSON *r;
	int i;

	ck_assert_int_eq(member_balance_cmd(a2), alice);
	ck_assert_int_eq(member_balance_cmd(b), bob);
	for (i = 1; i <= 10; i++) {
		r = h_callf(a, "{\"cmd\":\"send\",\"to\":\"bob\","
		    "\"amount\":%d}", i);
		H_ASSERT_OK(r);
		alice -= i;
		bob += i;
		ck_assert_int_eq(h_num(r, "balance"), alice);
		cJSON_Delete(r);
		ck_assert_int_eq(member_balance_cmd(b), bob);
		ck_assert_int_eq(member_balance_cmd(a2), alice);
		r = h_callf(adm, "{\"cmd\":\"credit\",\"user\":\"bob\","
		    "\"amount\":%d,\"note\":\"top up\"}", 2 * i);
		H_ASSERT_OK(r);
		bob += 2 * i;
		ck_assert_int_eq(h_num(r, "balance"), bob);
		cJSON_Delete(r);
		ck_assert_int_eq(member_balance_cmd(b), bob);
	}
	h_expect(adm, NULL, "{\"cmd\":\"debit\",\"user\":\"alice\","
	    "\"amount\":5,\"note\":\"payout\"}");
	alice -= 5;
	ck_assert_int_eq(member_balance_cmd(a), alice);
	ck_assert_int_eq(member_balance_cmd(a2), alice);
	h_expect(adm, NULL, "{\"cmd\":\"set_balance\",\"user\":\"alice\","
	    "\"balance\":33,\"note\":\"reset\"}");
	alice = 33;
	ck_assert_int_eq(member_balance_cmd(a2), alice);
	/* Refused: nothing moved, nothing shows. */
	r = h_callf(b, "{\"cmd\":\"send\",\"to\":\"alice\",\"amount\":%lld}",
	    (long long)bob + 1);
	H_ASSERT_ERROR(r, "insufficient_funds");
	ck_assert_int_eq(h_num(r, "balance"), bob);
	cJSON_Delete(r);
	h_expect(adm, "insufficient_funds", "{\"cmd\":\"debit\","
	    "\"user\":\"alice\",\"amount\":34,\"note\":\"too much\"}");
	ck_assert_int_eq(member_balance_cmd(a), alice);
	ck_assert_int_eq(member_balance_cmd(b), bob);
	/* Past 2^31, digits as they are. */
	h_expect(adm, NULL, "{\"cmd\":\"set_balance\",\"user\":\"alice\","
	    "\"balance\":1000000000,\"note\":\"big\"}");
	h_expect(adm, NULL, "{\"cmd\":\"credit\",\"user\":\"alice\","
	    "\"amount\":1000000000,\"note\":\"bigger\"}");
	alice = 2000000000;
	ck_assert_int_eq(member_balance_cmd(a2), alice);
	ck_assert_str_eq(a2->line, "{\"ok\":true,\"balance\":2000000000}");
	/*
	 * Disabled (kicked), credited meanwhile, enabled: the next login
	 * sees the credit.  Users are never deleted or renamed.
	 */
	h_expect(adm, NULL, "{\"cmd\":\"user_mod\",\"user\":\"bob\","
	    "\"disabled\":true}");
	ck_assert(h_closed(b));
	h_close(b);
	h_expect(adm, NULL, "{\"cmd\":\"credit\",\"user\":\"bob\","
	    "\"amount\":7,\"note\":\"while away\"}");
	bob += 7;
	h_expect(adm, NULL, "{\"cmd\":\"user_mod\",\"user\":\"bob\","
	    "\"disabled\":false}");
	b = h_connect_as(member_srv, "bob", "bobpw");
	ck_assert_int_eq(member_balance_cmd(b), bob);
	/* What `balance` said is what the database holds. */
	ck_assert_int_eq(h_balance(member_srv, "alice"), alice);
	ck_assert_int_eq(h_balance(member_srv, "bob"), bob);
	ck_assert_int_eq(h_check_ledger(member_srv), 0);
	h_close(a);
	h_close(a2);
	h_close(b);
	h_close(adm);
	h_server_restart(member_srv);
	b = h_connect_as(member_srv, "bob", "bobpw");
	ck_assert_int_eq(member_balance_cmd(b), bob);
	h_close(b);
}
END_TEST

/* ---- idempotent send -------------------------------------------------- */

START_TEST(member_send_key_replays)
{
	struct h_client *a = h_connect_as(member_srv, "alice", "alicepw");
	const char *req = "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":5,"
	    "\"note\":\"n\",\"key\":\"k-1\"}";
	int64_t tx;
	cJSON *r;

	r = h_call(a, req);
	H_ASSERT_OK(r);
	tx = h_num(r, "tx");
	ck_assert_int_eq(h_num(r, "balance"), 95);
	cJSON_Delete(r);
	r = h_call(a, req);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "tx"), tx);
	ck_assert_int_eq(h_num(r, "balance"), 95);
	cJSON_Delete(r);
	/* Argument order does not make a different request. */
	r = h_call(a, "{\"key\":\"k-1\",\"note\":\"n\",\"amount\":5,"
	    "\"to\":\"bob\",\"cmd\":\"send\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "tx"), tx);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(member_srv, "alice"), 95);
	ck_assert_int_eq(h_balance(member_srv, "bob"), 5);
	ck_assert_int_eq(h_sql_int(member_srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'transfer'"), 1);

	/* Same key, different arguments: conflict, nothing moves. */
	h_expect(a, "conflict", "{\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":6,\"note\":\"n\",\"key\":\"k-1\"}");
	h_expect(a, "conflict", "{\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":5,\"note\":\"other\",\"key\":\"k-1\"}");
	h_expect(a, "conflict", "{\"cmd\":\"send\",\"to\":\"admin\","
	    "\"amount\":5,\"note\":\"n\",\"key\":\"k-1\"}");
	ck_assert_int_eq(h_balance(member_srv, "alice"), 95);
	ck_assert_int_eq(h_balance(member_srv, "bob"), 5);

	/* From another connection, the first result again. */
	h_close(a);
	a = h_connect_as(member_srv, "alice", "alicepw");
	r = h_call(a, req);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "tx"), tx);
	cJSON_Delete(r);

	/* And after a restart. */
	h_close(a);
	h_server_restart(member_srv);
	a = h_connect_as(member_srv, "alice", "alicepw");
	r = h_call(a, req);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "tx"), tx);
	ck_assert_int_eq(h_num(r, "balance"), 95);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(member_srv, "alice"), 95);
	ck_assert_int_eq(h_balance(member_srv, "bob"), 5);
	ck_assert_int_eq(h_sql_int(member_srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'transfer'"), 1);
	ck_assert_int_eq(h_check_ledger(member_srv), 0);
	h_close(a);
}
END_TEST

START_TEST(member_send_key_per_user)
{
	struct h_client *a = h_connect_as(member_srv, "alice", "alicepw");
	struct h_client *b = h_connect_as(member_srv, "bob", "bobpw");
	int64_t ta, tb;
	cJSON *r;

	r = h_call(a, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":10,"
	    "\"key\":\"same\"}");
	H_ASSERT_OK(r);
	ta = h_num(r, "tx");
	cJSON_Delete(r);
	/* Bob's "same" is his own key, not alice's. */
	r = h_call(b, "{\"cmd\":\"send\",\"to\":\"alice\",\"amount\":3,"
	    "\"key\":\"same\"}");
	H_ASSERT_OK(r);
	tb = h_num(r, "tx");
	ck_assert_int_eq(h_num(r, "balance"), 7);
	cJSON_Delete(r);
	ck_assert_int_ne(ta, tb);
	ck_assert_int_eq(h_balance(member_srv, "alice"), 93);
	ck_assert_int_eq(h_balance(member_srv, "bob"), 7);
	ck_assert_int_eq(h_check_ledger(member_srv), 0);
	h_close(a);
	h_close(b);
}
END_TEST

START_TEST(member_send_key_failure_not_kept)
{
	struct h_client *b = h_connect_as(member_srv, "bob", "bobpw");
	struct h_client *a = h_connect_as(member_srv, "alice", "alicepw");
	const char *req = "{\"cmd\":\"send\",\"to\":\"alice\",\"amount\":4,"
	    "\"key\":\"retry\"}";
	cJSON *r;

	/* A refused request does no work, so its key stays free. */
	r = h_call(b, req);
	H_ASSERT_ERROR(r, "insufficient_funds");
	cJSON_Delete(r);
	member_send(a, "bob", 10);
	r = h_call(b, req);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 6);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(member_srv, "alice"), 94);
	ck_assert_int_eq(h_check_ledger(member_srv), 0);
	h_close(a);
	h_close(b);
}
END_TEST

/* ---- history ---------------------------------------------------------- */

START_TEST(member_history_paging)
{
	struct h_client *a = h_connect_as(member_srv, "alice", "alicepw");
	struct h_client *b = h_connect_as(member_srv, "bob", "bobpw");
	int64_t txs[25], prev;
	const cJSON *list, *e;
	cJSON *r;
	char *line;
	int i;

	for (i = 0; i < 25; i++) {
		txs[i] = member_send(a, "bob", 1);
	}
	/* Default: the newest 20, newest first. */
	r = h_call(a, "{\"cmd\":\"history\"}");
	H_ASSERT_OK(r);
	list = h_array(r, "transactions");
	ck_assert_int_eq(cJSON_GetArraySize(list), 20);
	for (i = 0; i < 20; i++) {
		e = cJSON_GetArrayItem(list, i);
		ck_assert_int_eq(h_num(e, "tx"), txs[24 - i]);
		ck_assert_int_eq(h_num(e, "amount"), -1);
	}
	cJSON_Delete(r);

	/* limit and before page through the rest without overlap. */
	r = h_call(a, "{\"cmd\":\"history\",\"limit\":5}");
	H_ASSERT_OK(r);
	list = h_array(r, "transactions");
	ck_assert_int_eq(cJSON_GetArraySize(list), 5);
	prev = h_num(cJSON_GetArrayItem(list, 4), "tx");
	ck_assert_int_eq(prev, txs[20]);
	cJSON_Delete(r);
	line = xasprintf("{\"cmd\":\"history\",\"limit\":5,\"before\":%lld}",
	    (long long)prev);
	r = h_call(a, line);
	free(line);
	H_ASSERT_OK(r);
	list = h_array(r, "transactions");
	ck_assert_int_eq(cJSON_GetArraySize(list), 5);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(h_num(cJSON_GetArrayItem(list, i), "tx"),
		    txs[19 - i]);
	}
	cJSON_Delete(r);

	/* Everything: 25 transfers and the initial credit, oldest last. */
	r = h_call(a, "{\"cmd\":\"history\",\"limit\":1000}");
	H_ASSERT_OK(r);
	list = h_array(r, "transactions");
	ck_assert_int_eq(cJSON_GetArraySize(list), 26);
	e = cJSON_GetArrayItem(list, 25);
	ck_assert_str_eq(h_str(e, "kind"), "credit");
	ck_assert_int_eq(h_num(e, "amount"), 100);
	cJSON_Delete(r);
	line = xasprintf("{\"cmd\":\"history\",\"before\":%lld}",
	    (long long)txs[0]);
	r = h_call(a, line);
	free(line);
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "transactions")), 1);
	cJSON_Delete(r);

	r = h_call(b, "{\"cmd\":\"history\",\"limit\":1000}");
	H_ASSERT_OK(r);
	list = h_array(r, "transactions");
	ck_assert_int_eq(cJSON_GetArraySize(list), 25);
	cJSON_ArrayForEach(e, list) {
		ck_assert_int_eq(h_num(e, "amount"), 1);
		ck_assert_str_eq(h_str(e, "counterparty"), "alice");
	}
	cJSON_Delete(r);

	member_expect_bad(a, "{\"cmd\":\"history\",\"limit\":0}");
	member_expect_bad(a, "{\"cmd\":\"history\",\"limit\":1001}");
	member_expect_bad(a, "{\"cmd\":\"history\",\"limit\":2.5}");
	member_expect_bad(a, "{\"cmd\":\"history\",\"before\":0}");
	ck_assert_int_eq(h_check_ledger(member_srv), 0);
	h_close(a);
	h_close(b);
}
END_TEST

/* ---- machines and slots ----------------------------------------------- */

START_TEST(member_machines_and_slots)
{
	struct h_client *c = h_connect(member_srv, NULL);
	const cJSON *list, *m, *sl;
	cJSON *r;

	r = h_call(c, "{\"cmd\":\"machines\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "machines")), 0);
	cJSON_Delete(r);
	member_add_machine(member_srv);

	/* Any session may look, logged in or not. */
	r = h_call(c, "{\"cmd\":\"machines\"}");
	H_ASSERT_OK(r);
	list = h_array(r, "machines");
	ck_assert_int_eq(cJSON_GetArraySize(list), 1);
	m = cJSON_GetArrayItem(list, 0);
	ck_assert_str_eq(h_str(m, "machine"), "m1");
	ck_assert_str_eq(h_str(m, "name"), "Snack machine");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(m, "online")));
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(m, "enabled")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(m, "temperature")));
	cJSON_Delete(r);

	r = h_call(c, "{\"cmd\":\"slots\",\"machine\":\"m1\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "machine"), "m1");
	list = h_array(r, "slots");
	ck_assert_int_eq(cJSON_GetArraySize(list), 2);
	sl = cJSON_GetArrayItem(list, 0);
	ck_assert_int_eq(h_num(sl, "slot"), 1);
	ck_assert_str_eq(h_str(sl, "item"), "Cola");
	ck_assert_int_eq(h_num(sl, "price"), 150);
	ck_assert_int_eq(h_num(sl, "stock"), 5);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(sl, "enabled")));
	sl = cJSON_GetArrayItem(list, 1);
	ck_assert_int_eq(h_num(sl, "slot"), 2);
	ck_assert_str_eq(h_str(sl, "item"), "Chips");
	ck_assert_int_eq(h_num(sl, "price"), 80);
	ck_assert_int_eq(h_num(sl, "stock"), 0);
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(sl, "enabled")));
	cJSON_Delete(r);

	h_expect(c, "no_such_machine", "{\"cmd\":\"slots\","
	    "\"machine\":\"m9\"}");
	member_expect_bad(c, "{\"cmd\":\"slots\"}");
	h_close(c);
}
END_TEST

/* ---- drop ------------------------------------------------------------- */

START_TEST(member_drop_offline_charges_nothing)
{
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");

	member_add_machine(member_srv);
	h_expect(c, "machine_offline", "{\"cmd\":\"drop\","
	    "\"machine\":\"m1\",\"slot\":1}");
	h_expect(c, "machine_offline", "{\"cmd\":\"drop\","
	    "\"machine\":\"m1\",\"slot\":1,\"delay\":300,\"key\":\"d1\"}");
	/* A refused drop keeps no key: the retry is judged afresh. */
	h_expect(c, "machine_offline", "{\"cmd\":\"drop\","
	    "\"machine\":\"m1\",\"slot\":1,\"delay\":300,\"key\":\"d1\"}");
	h_expect(c, "no_such_machine", "{\"cmd\":\"drop\","
	    "\"machine\":\"m9\",\"slot\":1}");
	member_expect_bad(c, "{\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":0}");
	member_expect_bad(c, "{\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":256}");
	member_expect_bad(c, "{\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":1,\"delay\":301}");
	member_expect_bad(c, "{\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":1,\"delay\":-1}");
	member_expect_bad(c, "{\"cmd\":\"drop\",\"machine\":\"m1\"}");
	/* Nothing charged, nothing held, nothing recorded. */
	ck_assert_int_eq(member_balance_cmd(c), 100);
	ck_assert_int_eq(h_balance(member_srv, "@holds"), 0);
	ck_assert_int_eq(h_sql_int(member_srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'drop'"), 0);
	ck_assert_int_eq(h_check_ledger(member_srv), 0);
	h_close(c);
}
END_TEST

START_TEST(member_drop_unknown_slot)
{
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");

	/* A slot that does not exist can never vend, online or not. */
	member_add_machine(member_srv);
	h_expect(c, "no_such_slot", "{\"cmd\":\"drop\","
	    "\"machine\":\"m1\",\"slot\":9}");
	ck_assert_int_eq(member_balance_cmd(c), 100);
	ck_assert_int_eq(h_sql_int(member_srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'drop'"), 0);
	h_close(c);
}
END_TEST

/*
 * A slot from a database made before slot_set required an item holds "":
 * it sells nothing anyone chose, even online and stocked, and at price 0
 * it would vend for free.  Refused as slot_disabled, nothing held.
 */
START_TEST(member_drop_slot_without_item_refused)
{
	struct h_server *srv = member_srv;
	struct h_client *c;
	struct fake *f;
	cJSON *r;

	member_add_machine(srv);
	h_sql_exec(srv, "INSERT INTO slots (machine, slot, item, price, stock,"
	    " enabled) VALUES ('m1', 3, '', 0, 5, 1), ('m1', 4, ' \t', 10,"
	    " 5, 1)");
	f = fake_start(srv, "m1", FAKE_ACK, 0);
	c = h_connect_as(srv, "alice", "alicepw");
	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	ck_assert_str_eq(h_error(r), "slot_disabled");
	ck_assert_str_eq(h_str(r, "message"), "slot 3 of m1 is not set up: "
	    "it has no item");
	cJSON_Delete(r);
	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":4,"
	    "\"key\":\"k4\"}");
	ck_assert_str_eq(h_error(r), "slot_disabled");
	ck_assert_str_eq(h_str(r, "message"), "slot 4 of m1 is not set up: "
	    "it has no item");
	cJSON_Delete(r);
	/* Nothing vended, charged, held or recorded. */
	ck_assert_int_eq(fake_vends(f), 0);
	ck_assert_int_eq(member_balance_cmd(c), 100);
	ck_assert_int_eq(h_balance(srv, "@holds"), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'drop'"), 0);
	/* Once set up, it sells. */
	h_admin(srv, "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":3,"
	    "\"item\":\"Water\",\"price\":30}", NULL);
	h_expect(c, NULL, "{\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":3}");
	ck_assert_int_eq(fake_vends(f), 1);
	ck_assert_int_eq(member_balance_cmd(c), 70);
	h_close(c);
	fake_stop(f);
	ck_assert_int_eq(h_check_ledger(srv), 0);
}
END_TEST

/* ---- who -------------------------------------------------------------- */

START_TEST(member_who_hides_addresses)
{
	struct h_client *a = h_connect_as(member_srv, "alice", "alicepw");
	struct h_client *anon = h_connect(member_srv, NULL);
	struct h_client *adm = h_connect_as(member_srv, "admin", "adminpw");
	int64_t now = (int64_t)time(NULL);
	int alice = 0, nobody = 0, found = 0;
	const cJSON *e, *u;
	cJSON *r;

	r = h_call(a, "{\"cmd\":\"who\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "clients")), 3);
	cJSON_ArrayForEach(e, h_array(r, "clients")) {
		ck_assert_str_eq(h_str(e, "kind"), "member");
		ck_assert_int_ge(h_num(e, "since"), now - 60);
		ck_assert_int_le(h_num(e, "since"), now + 5);
		ck_assert_msg(!cJSON_HasObjectItem(e, "session") &&
		    !cJSON_HasObjectItem(e, "address") &&
		    !cJSON_HasObjectItem(e, "port"),
		    "member sees more than kind/user/since: %s", h_text(e));
		u = cJSON_GetObjectItem(e, "user");
		ck_assert_msg(cJSON_IsString(u) || cJSON_IsNull(u),
		    "user must be a name or null: %s", h_text(e));
		alice += cJSON_IsString(u) &&
		    strcmp(u->valuestring, "alice") == 0;
		nobody += cJSON_IsNull(u);
	}
	ck_assert_int_eq(alice, 1);
	ck_assert_int_eq(nobody, 1);
	cJSON_Delete(r);

	/* An admin sees where each client is. */
	r = h_call(adm, "{\"cmd\":\"who\"}");
	H_ASSERT_OK(r);
	cJSON_ArrayForEach(e, h_array(r, "clients")) {
		ck_assert_int_gt(h_num(e, "session"), 0);
		ck_assert_str_eq(h_str(e, "address"), "127.0.0.1");
		if (h_num(e, "port") == a->port) {
			ck_assert_str_eq(h_str(e, "user"), "alice");
			found = 1;
		}
	}
	ck_assert(found);
	cJSON_Delete(r);
	h_close(a);
	h_close(anon);
	h_close(adm);
}
END_TEST

/*
 * whoami tells an admin the number who gives this connection, so that a
 * client can tell its own session from the others before kicking one; a
 * member, who sees no session numbers in who, is not told one either.
 */
START_TEST(member_whoami_names_own_session)
{
	struct h_client *a = h_connect_as(member_srv, "alice", "alicepw");
	struct h_client *adm = h_connect_as(member_srv, "admin", "adminpw");
	const cJSON *e;
	int64_t mine;
	cJSON *r;
	int found = 0;

	r = h_call(adm, "{\"cmd\":\"whoami\"}");
	H_ASSERT_OK(r);
	mine = h_num(r, "session");
	ck_assert_int_gt(mine, 0);
	cJSON_Delete(r);
	r = h_call(adm, "{\"cmd\":\"who\"}");
	H_ASSERT_OK(r);
	cJSON_ArrayForEach(e, h_array(r, "clients")) {
		if (h_num(e, "session") == mine) {
			ck_assert_int_eq(h_num(e, "port"), adm->port);
			ck_assert_str_eq(h_str(e, "user"), "admin");
			found++;
		}
	}
	ck_assert_int_eq(found, 1);
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"whoami\"}");
	H_ASSERT_OK(r);
	ck_assert_msg(!cJSON_HasObjectItem(r, "session"), "%s", h_text(r));
	cJSON_Delete(r);
	h_close(a);
	h_close(adm);
}
END_TEST

/* ---- passwd ----------------------------------------------------------- */

START_TEST(member_passwd)
{
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");
	cJSON *r;

	h_expect(c, "bad_credentials", "{\"cmd\":\"passwd\","
	    "\"old\":\"wrong\",\"new\":\"newpw\"}");
	/* Still logged in after the refusal. */
	ck_assert_int_eq(member_balance_cmd(c), 100);
	member_expect_bad(c, "{\"cmd\":\"passwd\",\"old\":\"alicepw\","
	    "\"new\":\"\"}");
	member_expect_bad(c, "{\"cmd\":\"passwd\",\"old\":\"alicepw\"}");
	h_expect(c, NULL, "{\"cmd\":\"passwd\",\"old\":\"alicepw\","
	    "\"new\":\"n\\u00e9w pw\"}");
	h_close(c);

	c = h_connect(member_srv, NULL);
	h_expect(c, "bad_credentials", "{\"cmd\":\"login\","
	    "\"user\":\"alice\",\"password\":\"alicepw\"}");
	r = h_call(c, "{\"cmd\":\"login\",\"user\":\"alice\","
	    "\"password\":\"n\\u00e9w pw\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "user"), "alice");
	cJSON_Delete(r);
	h_close(c);
}
END_TEST

/*
 * passwd checks the old password as a login does, and is throttled as a
 * login is: a session that holds a stolen token must not be able to
 * guess the account's password through passwd at the rate of the hash.
 */
START_TEST(member_passwd_guesses_locked_out)
{
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");
	cJSON *r;
	int i;

	for (i = 0; i < 5; i++) {
		h_expect(c, "bad_credentials", "{\"cmd\":\"passwd\","
		    "\"old\":\"guess\",\"new\":\"mine\"}");
	}
	/* Even the right old password is refused while locked. */
	r = h_call(c, "{\"cmd\":\"passwd\",\"old\":\"alicepw\","
	    "\"new\":\"mine\"}");
	H_ASSERT_ERROR(r, "locked_out");
	ck_assert_int_ge(h_num(r, "retry_after"), 1);
	cJSON_Delete(r);
	/* Nothing was changed. */
	ck_assert_int_eq(member_balance_cmd(c), 100);
	h_close(c);
	c = h_connect(member_srv, NULL);
	h_expect(c, "locked_out", "{\"cmd\":\"login\","
	    "\"user\":\"alice\",\"password\":\"mine\"}");
	h_close(c);
}
END_TEST

/* ---- logout and quit -------------------------------------------------- */

START_TEST(member_logout)
{
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");

	h_expect(c, NULL, "{\"cmd\":\"logout\"}");
	h_expect(c, "auth_required", "{\"cmd\":\"balance\"}");
	h_expect(c, "auth_required", "{\"cmd\":\"whoami\"}");
	/* The connection remains, and may log in as someone else. */
	h_login(c, "bob", "bobpw");
	ck_assert_int_eq(member_balance_cmd(c), 0);
	h_close(c);
}
END_TEST

START_TEST(member_quit_closes)
{
	const char *quit_then_send = "{\"id\":1,\"cmd\":\"quit\"}\n"
	    "{\"id\":2,\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1}\n";
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");
	cJSON *r;

	r = h_call(c, "{\"id\":\"bye\",\"cmd\":\"quit\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "id"), "bye");
	cJSON_Delete(r);
	ck_assert_msg(h_closed(c), "connection still open after quit");
	h_close(c);
	/* quit works without logging in too. */
	c = h_connect(member_srv, NULL);
	h_expect(c, NULL, "{\"cmd\":\"quit\"}");
	ck_assert(h_closed(c));
	h_close(c);
	/* Requests pipelined after quit are not run. */
	c = h_connect_as(member_srv, "alice", "alicepw");
	ck_assert_int_eq(h_send_raw(c, quit_then_send,
	    strlen(quit_then_send)), CONN_OK);
	r = h_read(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 1);
	cJSON_Delete(r);
	ck_assert_msg(h_closed(c), "answered after quit: %s", c->line);
	h_close(c);
	ck_assert_int_eq(h_balance(member_srv, "bob"), 0);
}
END_TEST

/*
 * An admin kicks alice just after her reply to one line was written,
 * with her next line already sent (the shim holds her thread there):
 * that line is not run, and her session ends as it does for a kick seen
 * while it waits.
 */
START_TEST(member_kick_stops_the_lines_already_sent)
{
	static const char batch[] = "{\"id\":1,\"cmd\":\"balance\"}\n"
	    "{\"id\":2,\"cmd\":\"send\",\"to\":\"bob\",\"amount\":5}\n";
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");
	struct h_client *a = h_connect_as(member_srv, "admin", "adminpw");
	int64_t id;
	cJSON *r;

	/* The record is written moments after the login. */
	H_WAIT_UNTIL((id = h_sql_int(member_srv, "SELECT max(id) FROM"
	    " sessions WHERE user = 'alice'")) != H_SQL_NULL);
	h_hold_writes(member_shim, c, 1);
	ck_assert_int_eq(h_send_raw(c, batch, sizeof(batch) - 1), CONN_OK);
	H_WAIT_UNTIL(h_writes_held(member_shim));
	h_expectf(a, NULL, "{\"cmd\":\"kick\",\"session\":%lld}",
	    (long long)id);
	h_hold_writes(member_shim, c, 0);
	r = h_read(c);
	ck_assert_int_eq(h_num(r, "id"), 1);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_msg(h_closed(c), "answered after the kick: %s", c->line);
	ck_assert_msg(h_server_log_wait(member_srv, "closed (closed by the "
	    "server: kicked by an admin), user alice", 10000),
	    "no kick reason");
	ck_assert_int_eq(h_balance(member_srv, "alice"), 100);
	ck_assert_int_eq(h_balance(member_srv, "bob"), 0);
	ck_assert_int_eq(h_sql_int(member_srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'transfer'"), 0);
	h_close(c);
	h_close(a);
}
END_TEST

/*
 * An event for alice arrives after her last reply was written, and an
 * admin kicks her before her thread writes it (the shim holds her thread
 * between the two): the log says she was kicked, not that a write
 * failed.
 */
START_TEST(member_kick_with_an_event_waiting_is_logged_as_a_kick)
{
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");
	struct h_client *b = h_connect_as(member_srv, "bob", "bobpw");
	struct h_client *a = h_connect_as(member_srv, "admin", "adminpw");
	int64_t id;

	H_WAIT_UNTIL((id = h_sql_int(member_srv, "SELECT max(id) FROM"
	    " sessions WHERE user = 'alice'")) != H_SQL_NULL);
	h_expect(c, NULL, "{\"cmd\":\"subscribe\","
	    "\"topics\":[\"balance\"]}");
	h_hold_writes(member_shim, c, 1);
	h_send(c, "{\"id\":1,\"cmd\":\"ping\"}");
	H_WAIT_UNTIL(h_writes_held(member_shim));
	/* Bob's credits make alice a balance event, still to be written. */
	h_expect(a, NULL, "{\"cmd\":\"credit\",\"user\":\"bob\","
	    "\"amount\":5,\"note\":\"test\"}");
	member_send(b, "alice", 5);
	h_expectf(a, NULL, "{\"cmd\":\"kick\",\"session\":%lld}",
	    (long long)id);
	h_hold_writes(member_shim, c, 0);
	ck_assert_msg(h_server_log_wait(member_srv, "closed (closed by the "
	    "server: kicked by an admin), user alice", 10000),
	    "no kick reason");
	ck_assert(!h_server_log_contains(member_srv, "write failed"));
	h_close(c);
	h_close(b);
	h_close(a);
}
END_TEST

/* ---- framing ---------------------------------------------------------- */

START_TEST(member_pipelining)
{
	struct h_client *c = h_connect(member_srv, NULL);
	const char batch[] =
	    "{\"id\":1,\"cmd\":\"ping\",\"data\":\"first\"}\n"
	    "{\"id\":2,\"cmd\":\"login\",\"user\":\"alice\","
	    "\"password\":\"alicepw\"}\n"
	    "{\"id\":3,\"cmd\":\"balance\"}\n";
	cJSON *r;

	ck_assert_int_eq(h_send_raw(c, batch, sizeof(batch) - 1), CONN_OK);
	r = h_read(c);
	ck_assert_int_eq(h_num(r, "id"), 1);
	ck_assert_str_eq(h_str(r, "data"), "first");
	cJSON_Delete(r);
	r = h_read(c);
	ck_assert_int_eq(h_num(r, "id"), 2);
	ck_assert_str_eq(h_str(r, "user"), "alice");
	cJSON_Delete(r);
	/* In order: the login took effect before balance ran. */
	r = h_read(c);
	ck_assert_int_eq(h_num(r, "id"), 3);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 100);
	cJSON_Delete(r);
	h_close(c);
}
END_TEST

START_TEST(member_crlf_tolerated)
{
	struct h_client *c = h_connect(member_srv, NULL);
	const char req[] = "{\"id\":1,\"cmd\":\"ping\",\"data\":\"x\"}\r\n"
	    "{\"id\":2,\"cmd\":\"ping\"}\r\n";
	cJSON *r;

	ck_assert_int_eq(h_send_raw(c, req, sizeof(req) - 1), CONN_OK);
	r = h_read(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 1);
	ck_assert_str_eq(h_str(r, "data"), "x");
	cJSON_Delete(r);
	r = h_read(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 2);
	cJSON_Delete(r);
	h_close(c);
}
END_TEST

/* A ping line of exactly total bytes, "\n" included. */
static char *
member_ping_of_size(size_t total, size_t *datalen)
{
	const char *head = "{\"cmd\":\"ping\",\"data\":\"", *tail = "\"}\n";
	size_t h = strlen(head), t = strlen(tail);
	char *buf = xmalloc(total + 1);

	*datalen = total - h - t;
	memcpy(buf, head, h);
	memset(buf + h, 'x', *datalen);
	memcpy(buf + h + *datalen, tail, t);
	buf[total] = '\0';
	return buf;
}

START_TEST(member_longest_line_accepted)
{
	struct h_client *c = h_connect(member_srv, NULL);
	size_t datalen;
	char *line = member_ping_of_size(65536, &datalen);
	cJSON *r;

	ck_assert_int_eq(h_send_raw(c, line, 65536), CONN_OK);
	r = h_read(c);
	H_ASSERT_OK(r);
	ck_assert_uint_eq(strlen(h_str(r, "data")), datalen);
	cJSON_Delete(r);
	free(line);
	member_ping_ok(c);
	h_close(c);
}
END_TEST

/*
 * ping's data is any string: only max_line bounds it, even when max_line
 * is raised far above its default.
 */
START_TEST(member_ping_data_bounded_by_max_line_alone)
{
	struct h_server *big = h_server_start("max_line = 20971520\n");
	struct h_client *c = h_connect(big, NULL);
	size_t total = 17 * 1024 * 1024, datalen;
	char *line = member_ping_of_size(total, &datalen);
	cJSON *r;

	ck_assert_int_eq(h_send_raw(c, line, total), CONN_OK);
	free(line);
	r = h_read(c);
	H_ASSERT_OK(r);
	ck_assert_uint_eq(strlen(h_str(r, "data")), datalen);
	cJSON_Delete(r);
	h_close(c);
	h_server_free(big);
}
END_TEST

START_TEST(member_line_too_long)
{
	struct h_client *other = h_connect_as(member_srv, "bob", "bobpw");
	struct h_client *c = h_connect(member_srv, NULL);
	size_t datalen;
	char *line = member_ping_of_size(70000, &datalen);
	cJSON *r;

	(void)h_send_raw(c, line, 70000);
	free(line);
	r = h_read(c);
	H_ASSERT_ERROR(r, "line_too_long");
	ck_assert(!cJSON_HasObjectItem(r, "id"));
	cJSON_Delete(r);
	ck_assert_msg(h_closed(c), "connection open after line_too_long");
	h_close(c);
	/* Others are unaffected. */
	member_ping_ok(other);
	ck_assert_int_eq(member_balance_cmd(other), 0);
	c = h_connect(member_srv, NULL);
	member_ping_ok(c);
	h_close(c);
	h_close(other);
}
END_TEST

START_TEST(member_line_one_byte_too_long)
{
	struct h_client *c = h_connect(member_srv, NULL);
	size_t datalen;
	char *line = member_ping_of_size(65537, &datalen);
	cJSON *r;

	(void)h_send_raw(c, line, 65537);
	free(line);
	r = h_read(c);
	H_ASSERT_ERROR(r, "line_too_long");
	cJSON_Delete(r);
	ck_assert(h_closed(c));
	h_close(c);
}
END_TEST

START_TEST(member_binary_garbage)
{
	struct h_client *other = h_connect_as(member_srv, "alice", "alicepw");
	struct h_client *c = h_connect(member_srv, NULL);
	const char *after = "\n{\"id\":\"after\",\"cmd\":\"ping\"}\n";
	unsigned char junk[4096];
	uint32_t x = 2463534242u;
	const char *err;
	size_t i;
	cJSON *r;
	int rc, done = 0;

	for (i = 0; i < sizeof(junk); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		junk[i] = (unsigned char)x;
	}
	junk[100] = '\0';
	junk[200] = '\n';
	(void)h_send_raw(c, junk, sizeof(junk));
	(void)h_send_raw(c, after, strlen(after));
	/* Each garbage line is bad_request, or the server hangs up. */
	while (!done) {
		rc = h_read_line(c, H_DEADLINE_MS);
		if (rc != CONN_OK) {
			ck_assert_msg(rc == CONN_EOF || rc == CONN_ERROR,
			    "no answer to garbage within %d ms", H_DEADLINE_MS);
			break;
		}
		r = cJSON_Parse(c->line);
		ck_assert_msg(r != NULL, "reply is not JSON: %.200s", c->line);
		err = h_error(r);
		if (err == NULL) {
			ck_assert_str_eq(h_str(r, "id"), "after");
			H_ASSERT_OK(r);
			done = 1;
		} else {
			ck_assert_str_eq(err, "bad_request");
		}
		cJSON_Delete(r);
	}
	h_close(c);
	member_ping_ok(other);
	c = h_connect(member_srv, NULL);
	member_ping_ok(c);
	h_close(c);
	h_close(other);
}
END_TEST

START_TEST(member_plaintext_refused)
{
	const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct h_client *other = h_connect(member_srv, NULL);
	struct h_client *c;
	int fd = h_tcp_dial(member_srv->port);

	ck_assert_int_eq(write(fd, req, sizeof(req) - 1),
	    (ssize_t)sizeof(req) - 1);
	ck_assert_msg(h_tcp_closed(fd, H_CLOSE_MS),
	    "plaintext connection left open");
	close(fd);
	/* Nothing was recorded as a session for it. */
	ck_assert_int_eq(h_sql_wait(member_srv, 1, "SELECT count(*)"
	    " FROM sessions"), 1);
	member_ping_ok(other);
	c = h_connect(member_srv, NULL);
	member_ping_ok(c);
	h_close(c);
	h_close(other);
}
END_TEST

/* ---- sessions table --------------------------------------------------- */

START_TEST(member_sessions_recorded)
{
	struct h_client *c = h_connect(member_srv, NULL);
	int64_t now = (int64_t)time(NULL), deadline;
	int port = c->port;

	ck_assert_int_gt(port, 0);
	ck_assert_int_eq(h_sql_wait(member_srv, 1, "SELECT count(*) FROM sessions"
	    " WHERE kind = 'member' AND address = '127.0.0.1' AND port = %d"
	    " AND started BETWEEN %lld AND %lld AND ended IS NULL", port,
	    (long long)now - 60, (long long)now + 5), 1);
	h_login(c, "alice", "alicepw");
	ck_assert_int_eq(h_sql_wait(member_srv, 1, "SELECT count(*) FROM sessions"
	    " WHERE port = %d AND user = 'alice'", port), 1);
	h_expect(c, NULL, "{\"cmd\":\"quit\"}");
	ck_assert(h_closed(c));
	h_close(c);
	/* The end is written as the server finishes the connection. */
	deadline = now_ms() + H_CLOSE_MS;
	while (h_sql_int(member_srv, "SELECT count(*) FROM sessions"
	    " WHERE port = %d AND ended IS NOT NULL", port) == 0 &&
	    now_ms() < deadline) {
		usleep(20 * 1000);
	}
	ck_assert_int_eq(h_sql_int(member_srv, "SELECT count(*) FROM sessions"
	    " WHERE port = %d AND ended >= started", port), 1);

	/* A client that just drops the connection is closed too. */
	c = h_connect(member_srv, NULL);
	port = c->port;
	h_close(c);
	deadline = now_ms() + H_CLOSE_MS;
	while (h_sql_int(member_srv, "SELECT count(*) FROM sessions"
	    " WHERE port = %d AND ended IS NOT NULL", port) == 0 &&
	    now_ms() < deadline) {
		usleep(20 * 1000);
	}
	ck_assert_int_eq(h_sql_int(member_srv, "SELECT count(*) FROM sessions"
	    " WHERE port = %d AND ended IS NOT NULL", port), 1);
}
END_TEST

/* ---- lifecycle -------------------------------------------------------- */

START_TEST(member_send_survives_kill)
{
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");
	int64_t tx = member_send(c, "bob", 42);

	/* Acknowledged means durable, even without a clean shutdown. */
	h_server_kill(member_srv);
	h_close(c);
	h_server_restart(member_srv);
	ck_assert_int_eq(h_balance(member_srv, "alice"), 58);
	ck_assert_int_eq(h_balance(member_srv, "bob"), 42);
	c = h_connect_as(member_srv, "bob", "bobpw");
	ck_assert_int_eq(member_balance_cmd(c), 42);
	ck_assert_int_eq(member_send(c, "alice", 2) > tx, 1);
	ck_assert_int_eq(h_check_ledger(member_srv), 0);
	h_close(c);
}
END_TEST

START_TEST(member_restart_ends_stale_sessions)
{
	struct h_client *c = h_connect(member_srv, NULL);
	int port = c->port;

	/* Session records are written moments after the fact. */
	ck_assert_int_eq(h_sql_wait(member_srv, 1, "SELECT count(*) FROM"
	    " sessions WHERE port = %d AND ended IS NULL", port), 1);
	h_server_kill(member_srv);
	h_close(c);
	ck_assert_int_eq(h_sql_int(member_srv, "SELECT count(*) FROM sessions"
	    " WHERE port = %d AND ended IS NULL", port), 1);
	h_server_restart(member_srv);
	ck_assert_int_eq(h_sql_int(member_srv, "SELECT count(*) FROM sessions"
	    " WHERE port = %d AND ended >= started", port), 1);
}
END_TEST


START_TEST(member_sigterm_stops_cleanly)
{
	struct h_client *c = h_connect_as(member_srv, "alice", "alicepw");

	member_send(c, "bob", 10);
	ck_assert_int_eq(h_server_stop(member_srv), 0);
	ck_assert_msg(h_closed(c), "client still connected after stop");
	h_close(c);
	/* Every session was ended and the money is where it was. */
	ck_assert_int_eq(h_sql_int(member_srv, "SELECT count(*) FROM sessions"
	    " WHERE ended IS NULL"), 0);
	ck_assert_int_eq(h_balance(member_srv, "alice"), 90);
	ck_assert_int_eq(h_check_ledger(member_srv), 0);
}
END_TEST

/*
 * With thread_cache = 0 a connection's thread exits with it, but for one
 * per port that waits in accept(): the port is served one connection
 * after another and several at once, each on a thread of its own, and
 * no thread is left over afterwards.
 */
START_TEST(member_served_without_thread_cache)
{
	struct h_server *s = h_server_start("thread_cache = 0");
	struct h_client *c[4];
	int base, held, t, i;
	int64_t deadline;

	for (i = 0; i < 10; i++) {
		c[0] = h_connect(s, NULL);
		h_expect(c[0], NULL, "{\"cmd\":\"ping\"}");
		h_close(c[0]);
	}
	usleep(300 * 1000);
	base = h_server_threads(s);
	for (i = 0; i < 4; i++) {
		c[i] = h_connect(s, NULL);
	}
	for (i = 0; i < 4; i++) {
		h_expect(c[i], NULL, "{\"cmd\":\"ping\"}");
	}
	held = h_server_threads(s);
	ck_assert_msg(held >= base + 4, "threads %d with 4 connections, %d "
	    "with none", held, base);
	for (i = 0; i < 4; i++) {
		h_close(c[i]);
	}
	deadline = now_ms() + 10000;
	while ((t = h_server_threads(s)) > base && now_ms() < deadline) {
		usleep(20 * 1000);
	}
	ck_assert_msg(t == base, "threads %d after the connections, %d "
	    "before", t, base);
	c[0] = h_connect(s, NULL);
	h_expect(c[0], NULL, "{\"cmd\":\"ping\"}");
	h_close(c[0]);
	h_server_free(s);
}
END_TEST

static Suite *
member_suite(void)
{
	Suite *s = suite_create("member");
	TCase *tc;

#define MEMBER_TCASE(name) \
	(tc = h_tcase(s, name, member_setup, member_teardown, \
	    MEMBER_TIMEOUT))

	MEMBER_TCASE("greeting announces server and protocol");
	tcase_add_test(tc, member_greeting_fields);
	tcase_add_test(tc, member_greeting_cert_ignored_without_member_ca);

	tc = h_tcase(s, "certificate login via member_ca", NULL, NULL,
	    MEMBER_TIMEOUT);
	tcase_add_test(tc, member_cert_login_member);
	tcase_add_test(tc, member_cert_login_admin);
	tcase_add_test(tc, member_cert_none_with_member_ca);
	tcase_add_test(tc, member_cert_expired_refused);
	tcase_add_test(tc, member_cert_wrong_ca_refused);
	tcase_add_test(tc, member_cert_unknown_name_not_logged_in);

	MEMBER_TCASE("TLS versions and suites");
	tcase_add_test(tc, member_tls12_accepted);
	tcase_add_test(tc, member_tls11_refused);
	tcase_add_test(tc, member_tls13_suite_is_the_servers_choice);

	MEMBER_TCASE("password login");
	tcase_add_test(tc, member_login_ok_fields);
	tcase_add_test(tc, member_login_bad_credentials_same_answer);
	tcase_add_test(tc, member_login_locked_out);
	tcase_add_test(tc, member_login_bad_arguments);

	MEMBER_TCASE("member commands need a login");
	tcase_add_test(tc, member_auth_required_before_login);

	MEMBER_TCASE("ping echoes data verbatim");
	tcase_add_test(tc, member_ping_without_data);
	tcase_add_test(tc, member_ping_echoes_data);

	MEMBER_TCASE("request id is echoed verbatim");
	tcase_add_test(tc, member_id_echo);
	tcase_add_test(tc, member_id_other_types_rejected);

	MEMBER_TCASE("unknown command");
	tcase_add_test(tc, member_unknown_command);

	MEMBER_TCASE("bad request keeps the connection");
	tcase_add_test(tc, member_bad_request_not_an_object);
	tcase_add_test(tc, member_bad_request_missing_or_mistyped_cmd);
	tcase_add_test(tc, member_bad_request_wrong_types);
	tcase_add_test(tc, member_subscribe_needs_a_topic);
	tcase_add_test(tc, member_bad_request_names);
	tcase_add_test(tc, member_bad_request_note_and_key_length);
	tcase_add_test(tc, member_bad_request_nul_in_string);
	tcase_add_test(tc, member_extra_fields_ignored);

	MEMBER_TCASE("invalid amount moves nothing");
	tcase_add_test(tc, member_invalid_amount);

	MEMBER_TCASE("send moves credits between members");
	tcase_add_test(tc, member_send_moves_credits);
	tcase_add_test(tc, member_send_errors);
	tcase_add_test(tc, member_balance_sees_other_connections_writes);

	MEMBER_TCASE("send with a key happens once");
	tcase_add_test(tc, member_send_key_replays);
	tcase_add_test(tc, member_send_key_per_user);
	tcase_add_test(tc, member_send_key_failure_not_kept);

	MEMBER_TCASE("history pages newest first");
	tcase_add_test(tc, member_history_paging);

	MEMBER_TCASE("machines and slots are public");
	tcase_add_test(tc, member_machines_and_slots);

	MEMBER_TCASE("drop without a controller charges nothing");
	tcase_add_test(tc, member_drop_offline_charges_nothing);
	tcase_add_test(tc, member_drop_unknown_slot);
	tc = h_tcase(s, "drop refuses a slot that is not set up",
	    member_machine_setup, member_teardown, MEMBER_TIMEOUT);
	tcase_add_test(tc, member_drop_slot_without_item_refused);

	MEMBER_TCASE("who hides addresses from members");
	tcase_add_test(tc, member_who_hides_addresses);
	tcase_add_test(tc, member_whoami_names_own_session);

	MEMBER_TCASE("passwd changes the password");
	tcase_add_test(tc, member_passwd);
	tcase_add_test(tc, member_passwd_guesses_locked_out);

	MEMBER_TCASE("logout and quit");
	tcase_add_test(tc, member_logout);
	tcase_add_test(tc, member_quit_closes);

	MEMBER_TCASE("framing: pipelining, CRLF, long lines, garbage");
	tcase_add_test(tc, member_pipelining);
	tcase_add_test(tc, member_crlf_tolerated);
	tcase_add_test(tc, member_longest_line_accepted);
	tcase_add_test(tc, member_ping_data_bounded_by_max_line_alone);
	tcase_add_test(tc, member_line_too_long);
	tcase_add_test(tc, member_line_one_byte_too_long);
	tcase_add_test(tc, member_binary_garbage);
	tcase_add_test(tc, member_plaintext_refused);

	tc = h_tcase(s, "a kick just after a reply",
	    member_shim_setup, member_teardown, MEMBER_TIMEOUT);
	tcase_add_test(tc, member_kick_stops_the_lines_already_sent);
	tcase_add_test(tc,
	    member_kick_with_an_event_waiting_is_logged_as_a_kick);

	MEMBER_TCASE("sessions table records each connection");
	tcase_add_test(tc, member_sessions_recorded);

	tc = h_tcase(s, "connection threads without a thread cache", NULL,
	    NULL, MEMBER_TIMEOUT);
	tcase_add_test(tc, member_served_without_thread_cache);

	MEMBER_TCASE("server restarts keep state");
	tcase_add_test(tc, member_sigterm_stops_cleanly);
	tcase_add_test(tc, member_send_survives_kill);
	tcase_add_test(tc, member_restart_ends_stale_sessions);
#undef MEMBER_TCASE
	return s;
}

int
main(void)
{
	int failed;

	h_init();
	failed = h_run(member_suite());
	return h_finish(failed);
}
