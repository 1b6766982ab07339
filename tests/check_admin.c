/*
 * Admin commands on the member port over real TLS, one fresh drinkd per
 * test: users, money (credit, debit, set_balance, refund), machines and
 * slots, the system log, kick, role enforcement for every admin command,
 * and the audit trail with passwords removed.  Money tests end with
 * `drinkd check-ledger`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define ADMIN_TIMEOUT 60	/* seconds per test; ASan builds are slow */

static struct h_server *admin_srv;

static void
admin_setup(void)
{
	admin_srv = h_server_start(NULL);
}

static void
admin_teardown(void)
{
	h_server_free(admin_srv);
	admin_srv = NULL;
}

static struct h_client *
admin_connect(void)
{
	return h_connect_as(admin_srv, "admin", "adminpw");
}

/* The entry for user in a `users` reply; fails the test if missing. */
static const cJSON *
admin_find_user(const cJSON *reply, const char *user)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, h_array(reply, "users")) {
		if (strcmp(h_str(e, "user"), user) == 0) {
			return e;
		}
	}
	ck_abort_msg("user %s not listed: %s", user, h_text(reply));
	return NULL;
}

/* The newest transaction in user's own history. */
static cJSON *
admin_last_tx(struct h_server *s, const char *user, const char *pw)
{
	struct h_client *c = h_connect_as(s, user, pw);
	cJSON *r = h_call(c, "{\"cmd\":\"history\",\"limit\":1}"), *e;

	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "transactions")), 1);
	e = cJSON_DetachItemFromArray(h_array(r, "transactions"), 0);
	cJSON_Delete(r);
	h_close(c);
	return e;
}

/* The session id of the connection from local port, as who shows it. */
static int64_t
admin_session_of(struct h_client *admin, int port)
{
	const cJSON *e;
	int64_t id = -1;
	cJSON *r = h_call(admin, "{\"cmd\":\"who\"}");

	H_ASSERT_OK(r);
	cJSON_ArrayForEach(e, h_array(r, "clients")) {
		if (h_num(e, "port") == port) {
			id = h_num(e, "session");
		}
	}
	cJSON_Delete(r);
	ck_assert_msg(id > 0, "no session listed for port %d", port);
	return id;
}

/* ---- user_add --------------------------------------------------------- */

START_TEST(admin_user_add_can_log_in)
{
	struct h_client *a = admin_connect(), *c;
	cJSON *r;

	r = h_call(a, "{\"id\":1,\"cmd\":\"user_add\",\"user\":\"carol\","
	    "\"password\":\"carolpw\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 1);
	ck_assert_str_eq(h_str(r, "user"), "carol");
	cJSON_Delete(r);
	c = h_connect(admin_srv, NULL);
	r = h_call(c, "{\"cmd\":\"login\",\"user\":\"carol\","
	    "\"password\":\"carolpw\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "role"), "member");
	ck_assert_int_eq(h_num(r, "balance"), 0);
	cJSON_Delete(r);
	h_expect(c, "forbidden", "{\"cmd\":\"users\"}");
	h_close(c);
	h_close(a);
}
END_TEST

START_TEST(admin_user_add_admin_role)
{
	struct h_client *a = admin_connect(), *c;
	cJSON *r;

	h_expect(a, NULL, "{\"cmd\":\"user_add\",\"user\":\"dave\","
	    "\"password\":\"davepw\",\"role\":\"admin\"}");
	c = h_connect(admin_srv, NULL);
	r = h_call(c, "{\"cmd\":\"login\",\"user\":\"dave\","
	    "\"password\":\"davepw\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "role"), "admin");
	cJSON_Delete(r);
	/* The new admin can administer. */
	h_expect(c, NULL, "{\"cmd\":\"users\"}");
	h_expect(c, NULL, "{\"cmd\":\"user_add\",\"user\":\"eve\","
	    "\"password\":\"evepw\",\"role\":\"member\"}");
	h_close(c);
	h_close(a);
}
END_TEST

START_TEST(admin_user_add_initial_balance)
{
	struct h_client *a = admin_connect(), *c;
	const cJSON *e;
	cJSON *r, *tx;

	h_expect(a, NULL, "{\"cmd\":\"user_add\",\"user\":\"erin\","
	    "\"password\":\"erinpw\",\"balance\":50}");
	r = h_call(a, "{\"cmd\":\"users\"}");
	H_ASSERT_OK(r);
	e = admin_find_user(r, "erin");
	ck_assert_int_eq(h_num(e, "balance"), 50);
	cJSON_Delete(r);
	c = h_connect_as(admin_srv, "erin", "erinpw");
	r = h_call(c, "{\"cmd\":\"balance\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 50);
	cJSON_Delete(r);
	h_close(c);
	/* The money came in as a credit, visible in her history. */
	tx = admin_last_tx(admin_srv, "erin", "erinpw");
	ck_assert_str_eq(h_str(tx, "kind"), "credit");
	ck_assert_int_eq(h_num(tx, "amount"), 50);
	cJSON_Delete(tx);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT sum(balance)"
	    " FROM accounts"), 0);
	ck_assert_int_eq(h_check_ledger(admin_srv), 0);
	h_close(a);
}
END_TEST

START_TEST(admin_user_add_refusals)
{
	struct h_client *a = admin_connect(), *c;

	h_expect(a, "exists", "{\"cmd\":\"user_add\",\"user\":\"alice\","
	    "\"password\":\"other\"}");
	h_expect(a, "bad_request", "{\"cmd\":\"user_add\",\"user\":\"Zed\","
	    "\"password\":\"zedpw\"}");
	h_expect(a, "bad_request", "{\"cmd\":\"user_add\",\"user\":\"zed\"}");
	h_expect(a, "bad_request", "{\"cmd\":\"user_add\",\"user\":\"zed\","
	    "\"password\":\"\"}");
	h_expect(a, "bad_request", "{\"cmd\":\"user_add\",\"user\":\"zed\","
	    "\"password\":\"zedpw\",\"role\":\"root\"}");
	h_expect(a, "invalid_amount", "{\"cmd\":\"user_add\",\"user\":\"zed\","
	    "\"password\":\"zedpw\",\"balance\":-1}");
	h_expect(a, "invalid_amount", "{\"cmd\":\"user_add\",\"user\":\"zed\","
	    "\"password\":\"zedpw\",\"balance\":1.5}");
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM users"),
	    3);
	/* alice kept her password and balance. */
	c = h_connect_as(admin_srv, "alice", "alicepw");
	h_close(c);
	ck_assert_int_eq(h_balance(admin_srv, "alice"), 100);
	h_close(a);
}
END_TEST

/* ---- user_mod --------------------------------------------------------- */

START_TEST(admin_user_mod_role)
{
	struct h_client *a = admin_connect(), *c;
	cJSON *r;

	r = h_call(a, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"role\":\"admin\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "user"), "alice");
	cJSON_Delete(r);
	c = h_connect(admin_srv, NULL);
	r = h_call(c, "{\"cmd\":\"login\",\"user\":\"alice\","
	    "\"password\":\"alicepw\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "role"), "admin");
	cJSON_Delete(r);
	h_expect(c, NULL, "{\"cmd\":\"users\"}");
	h_close(c);
	h_expect(a, NULL, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"role\":\"member\"}");
	c = h_connect_as(admin_srv, "alice", "alicepw");
	h_expect(c, "forbidden", "{\"cmd\":\"users\"}");
	h_close(c);
	h_close(a);
}
END_TEST

START_TEST(admin_user_mod_password)
{
	struct h_client *a = admin_connect(), *c;

	h_expect(a, NULL, "{\"cmd\":\"user_mod\",\"user\":\"bob\","
	    "\"password\":\"newbobpw\"}");
	c = h_connect(admin_srv, NULL);
	h_expect(c, "bad_credentials", "{\"cmd\":\"login\",\"user\":\"bob\","
	    "\"password\":\"bobpw\"}");
	h_login(c, "bob", "newbobpw");
	h_close(c);
	h_close(a);
}
END_TEST

START_TEST(admin_user_mod_disable)
{
	struct h_client *a = admin_connect(), *live, *c;
	cJSON *r, *wrong;

	live = h_connect_as(admin_srv, "alice", "alicepw");
	h_expect(a, NULL, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"disabled\":true}");
	/* Her live session ends now ... */
	ck_assert_msg(h_closed(live), "disabled user's session still open");
	h_close(live);
	/* ... and she cannot log in, with the wrong-password answer. */
	c = h_connect(admin_srv, NULL);
	r = h_call(c, "{\"cmd\":\"login\",\"user\":\"alice\","
	    "\"password\":\"alicepw\"}");
	H_ASSERT_ERROR(r, "bad_credentials");
	wrong = h_call(c, "{\"cmd\":\"login\",\"user\":\"bob\","
	    "\"password\":\"wrong\"}");
	ck_assert_str_eq(h_str(r, "message"), h_str(wrong, "message"));
	cJSON_Delete(r);
	cJSON_Delete(wrong);
	r = h_call(a, "{\"cmd\":\"users\"}");
	H_ASSERT_OK(r);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(admin_find_user(r,
	    "alice"), "disabled")));
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(admin_find_user(r,
	    "bob"), "disabled")));
	cJSON_Delete(r);
	/* Enabled again, she is back; her money never moved. */
	h_expect(a, NULL, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"disabled\":false}");
	h_login(c, "alice", "alicepw");
	ck_assert_int_eq(h_balance(admin_srv, "alice"), 100);
	h_close(c);
	h_close(a);
}
END_TEST

START_TEST(admin_user_mod_disable_cert_login)
{
	char *ca = h_cert_path("ca.crt"), *conf = xasprintf("member_ca = %s",
	    ca);
	struct h_server *s = h_server_start(conf);
	struct h_client *a = h_connect_as(s, "admin", "adminpw");
	struct h_client *live = h_connect(s, "member-alice"), *c;

	ck_assert_str_eq(h_str(live->greeting, "user"), "alice");
	h_expect(a, NULL, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"disabled\":true}");
	ck_assert_msg(h_closed(live), "certificate session still open");
	h_close(live);
	/* Her certificate no longer logs her in. */
	c = h_connect(s, "member-alice");
	ck_assert(!cJSON_HasObjectItem(c->greeting, "user"));
	h_expect(c, "auth_required", "{\"cmd\":\"balance\"}");
	h_close(c);
	h_close(a);
	h_server_free(s);
	free(conf);
	free(ca);
}
END_TEST

START_TEST(admin_user_mod_refusals)
{
	struct h_client *a = admin_connect();

	h_expect(a, "no_such_user", "{\"cmd\":\"user_mod\","
	    "\"user\":\"nobody\",\"role\":\"admin\"}");
	h_expect(a, "bad_request", "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"disabled\":\"yes\"}");
	h_expect(a, "bad_request", "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"role\":\"owner\"}");
	h_expect(a, "bad_request", "{\"cmd\":\"user_mod\",\"role\":\"admin\"}");
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM users"
	    " WHERE role = 'admin'"), 1);
	h_close(a);
}
END_TEST

/* Role and disabled flag of user, from the database. */
static void
admin_expect_user(const char *user, const char *role, int disabled)
{
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM users"
	    " WHERE name = '%s' AND role = '%s' AND disabled = %d", user,
	    role, disabled), 1);
}

START_TEST(admin_user_mod_keeps_the_last_admin)
{
	struct h_client *a = admin_connect(), *c;
	cJSON *r;

	/* The only admin can neither demote nor disable themselves. */
	r = h_call(a, "{\"cmd\":\"user_mod\",\"user\":\"admin\","
	    "\"role\":\"member\"}");
	H_ASSERT_ERROR(r, "conflict");
	ck_assert_str_eq(h_str(r, "message"),
	    "admin is the last admin; make another admin first");
	cJSON_Delete(r);
	h_expect(a, "conflict", "{\"cmd\":\"user_mod\",\"user\":\"admin\","
	    "\"disabled\":true}");
	admin_expect_user("admin", "admin", 0);
	/* Nothing happened to the session either. */
	h_expect(a, NULL, "{\"cmd\":\"users\"}");
	/* A disabled admin is no admin: alice does not count yet. */
	h_expect(a, NULL, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"role\":\"admin\",\"disabled\":true}");
	h_expect(a, "conflict", "{\"cmd\":\"user_mod\",\"user\":\"admin\","
	    "\"role\":\"member\",\"disabled\":true}");
	admin_expect_user("admin", "admin", 0);
	/* Enabled, she can demote him; then she is the last one. */
	h_expect(a, NULL, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"disabled\":false}");
	c = h_connect_as(admin_srv, "alice", "alicepw");
	h_expect(c, NULL, "{\"cmd\":\"user_mod\",\"user\":\"admin\","
	    "\"role\":\"member\"}");
	admin_expect_user("admin", "member", 0);
	r = h_call(c, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"disabled\":true}");
	H_ASSERT_ERROR(r, "conflict");
	ck_assert_str_eq(h_str(r, "message"),
	    "alice is the last admin; make another admin first");
	cJSON_Delete(r);
	admin_expect_user("alice", "admin", 0);
	/* Other changes to the last admin still go through. */
	h_expect(c, NULL, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"password\":\"newalicepw\",\"disabled\":false}");
	h_close(c);
	h_close(a);
}
END_TEST

/* Changing one's own role or access: the answer first, then the close. */
START_TEST(admin_user_mod_self_answers_before_closing)
{
	struct h_client *a = admin_connect(), *other = admin_connect(), *c;
	cJSON *r;

	h_expect(a, NULL, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"role\":\"admin\"}");
	r = h_call(a, "{\"cmd\":\"user_mod\",\"user\":\"admin\","
	    "\"role\":\"member\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "user"), "admin");
	cJSON_Delete(r);
	ck_assert_msg(h_closed(a), "the demoted admin's session is open");
	ck_assert_msg(h_closed(other), "his other session is open");
	h_close(a);
	h_close(other);
	admin_expect_user("admin", "member", 0);
	ck_assert(h_server_log_wait(admin_srv, "user admin changed role; "
	    "closed 2 session(s)", 5000));
	/* He logs in again as what he now is. */
	c = h_connect_as(admin_srv, "admin", "adminpw");
	h_expect(c, "forbidden", "{\"cmd\":\"users\"}");
	h_close(c);
	/* Disabling oneself is answered too. */
	c = h_connect_as(admin_srv, "alice", "alicepw");
	h_expect(c, NULL, "{\"cmd\":\"user_mod\",\"user\":\"admin\","
	    "\"role\":\"admin\"}");
	r = h_call(c, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"disabled\":true}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_msg(h_closed(c), "the disabled admin's session is open");
	h_close(c);
	admin_expect_user("alice", "admin", 1);
}
END_TEST

/* ---- users ------------------------------------------------------------ */

/*
 * A session logged in by an admin's login token (which may have been
 * stolen) adds no user and changes none without the admin's own password
 * in "your_password": a user it added, or a password, role or account
 * state it set, would outlive the token's revocation.  The password is
 * checked and throttled as a login's is (a wrong one is a failed login of
 * the admin); a right one lifts the rule for the session, which still
 * ends with its token.  A session logged in by password needs none.
 */
START_TEST(admin_user_changes_by_token_need_password)
{
	struct h_client *a = admin_connect(), *b, *c;
	char *tok;
	cJSON *r;
	int64_t id;
	int i;

	tok = h_token_make(a, "stolen", &id);
	b = h_connect_by_token(admin_srv, tok);
	h_expect_refused(b, "forbidden",
	    "give your password to add a "
	    "user: this session logged in by a login token",
	    "{\"cmd\":\"user_add\",\"user\":\"mallory\","
	    "\"password\":\"thiefpw\",\"role\":\"admin\"}");
	h_expect_refused(b, "forbidden",
	    "give your password to change "
	    "a user: this session logged in by a login token",
	    "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"password\":\"thiefpw\"}");
	h_expect(b, "forbidden", "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"role\":\"admin\"}");
	h_expect(b, "forbidden", "{\"cmd\":\"user_mod\",\"user\":\"bob\","
	    "\"disabled\":true}");
	/* Binding a card for another member is no way round it. */
	h_expect(b, "forbidden", "{\"cmd\":\"card_add\",\"card\":\"7e57ca4d\","
	    "\"user\":\"alice\"}");
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM users "
	    "WHERE name = 'mallory'"), 0);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM users "
	    "WHERE role = 'admin' OR disabled = 1"), 1);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM cards"),
	    0);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM audit "
	    "WHERE cmd IN ('user_add', 'user_mod') AND result = "
	    "'forbidden'"), 4);
	c = h_connect(admin_srv, NULL);
	h_login(c, "alice", "alicepw");
	h_close(c);
	/* A wrong password is a failed login: five lock the account. */
	for (i = 0; i < 5; i++) {
		h_expect(b, "bad_credentials", "{\"cmd\":\"user_add\","
		    "\"user\":\"mallory\",\"password\":\"thiefpw\","
		    "\"your_password\":\"guess\"}");
	}
	r = h_call(b, "{\"cmd\":\"user_add\",\"user\":\"mallory\","
	    "\"password\":\"thiefpw\",\"your_password\":\"adminpw\"}");
	H_ASSERT_ERROR(r, "locked_out");
	ck_assert_int_ge(h_num(r, "retry_after"), 1);
	cJSON_Delete(r);
	c = h_connect(admin_srv, NULL);
	h_expect(c, "locked_out", "{\"cmd\":\"login\",\"user\":\"admin\","
	    "\"password\":\"adminpw\"}");
	h_close(c);
	ck_assert(h_server_log_contains(admin_srv, "user_add: wrong password "
	    "for admin from 127.0.0.1"));
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM users "
	    "WHERE name = 'mallory'"), 0);
	usleep(1100 * 1000);
	/* The right one adds the user, and the next change needs none. */
	r = h_call(b, "{\"cmd\":\"user_add\",\"user\":\"mallory\","
	    "\"password\":\"mallorypw\",\"your_password\":\"adminpw\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "user"), "mallory");
	cJSON_Delete(r);
	h_expect(b, NULL, "{\"cmd\":\"user_mod\",\"user\":\"mallory\","
	    "\"role\":\"admin\"}");
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM users "
	    "WHERE name = 'mallory' AND role = 'admin'"), 1);
	/* It still ends with its token. */
	h_expectf(a, NULL, "{\"cmd\":\"token_revoke\",\"token_id\":%lld}",
	    (long long)id);
	ck_assert_msg(h_closed(b), "session of a revoked token still open");
	/* A password login needs none; a wrong one given is refused. */
	h_expect(a, NULL, "{\"cmd\":\"user_mod\",\"user\":\"mallory\","
	    "\"disabled\":true}");
	h_expect(a, "bad_credentials", "{\"cmd\":\"user_mod\","
	    "\"user\":\"mallory\",\"disabled\":false,"
	    "\"your_password\":\"guess\"}");
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT disabled FROM users "
	    "WHERE name = 'mallory'"), 1);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM audit "
	    "WHERE args LIKE '%%adminpw%%' OR args LIKE '%%guess%%'"), 0);
	h_close(b);
	h_close(a);
	free(tok);
}
END_TEST

START_TEST(admin_users_fields)
{
	struct h_client *a = admin_connect();
	int64_t now = (int64_t)time(NULL);
	const cJSON *e;
	cJSON *r = h_call(a, "{\"cmd\":\"users\"}");

	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "users")), 3);
	cJSON_ArrayForEach(e, h_array(r, "users")) {
		ck_assert(cJSON_IsString(cJSON_GetObjectItem(e, "role")));
		ck_assert(cJSON_IsBool(cJSON_GetObjectItem(e, "disabled")));
		(void)h_num(e, "balance");
		ck_assert(cJSON_HasObjectItem(e, "last_seen"));
	}
	e = admin_find_user(r, "admin");
	ck_assert_str_eq(h_str(e, "role"), "admin");
	ck_assert_int_eq(h_num(e, "balance"), 1000);
	/* Logged in just now. */
	ck_assert_int_ge(h_num(e, "last_seen"), now - 60);
	ck_assert_int_le(h_num(e, "last_seen"), now + 5);
	e = admin_find_user(r, "alice");
	ck_assert_str_eq(h_str(e, "role"), "member");
	ck_assert_int_eq(h_num(e, "balance"), 100);
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(e, "disabled")));
	/* Never seen. */
	e = admin_find_user(r, "bob");
	ck_assert_int_eq(h_num(e, "balance"), 0);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(e, "last_seen")));
	/* System accounts are not users. */
	cJSON_ArrayForEach(e, h_array(r, "users")) {
		ck_assert_msg(h_str(e, "user")[0] != '@', "system account "
		    "listed: %s", h_text(e));
	}
	cJSON_Delete(r);
	h_close(a);
}
END_TEST

/* ---- credit, debit, set_balance --------------------------------------- */

START_TEST(admin_credit_debit_set_balance)
{
	struct h_client *a = admin_connect();
	int64_t t1, t2, t3;
	cJSON *r, *tx;

	r = h_call(a, "{\"cmd\":\"credit\",\"user\":\"alice\",\"amount\":25,"
	    "\"note\":\"cash\"}");
	H_ASSERT_OK(r);
	t1 = h_num(r, "tx");
	ck_assert_int_eq(h_num(r, "balance"), 125);
	cJSON_Delete(r);
	tx = admin_last_tx(admin_srv, "alice", "alicepw");
	ck_assert_int_eq(h_num(tx, "tx"), t1);
	ck_assert_str_eq(h_str(tx, "kind"), "credit");
	ck_assert_int_eq(h_num(tx, "amount"), 25);
	ck_assert_str_eq(h_str(tx, "note"), "cash");
	ck_assert_str_eq(h_str(tx, "state"), "completed");
	cJSON_Delete(tx);

	r = h_call(a, "{\"cmd\":\"debit\",\"user\":\"alice\",\"amount\":5,"
	    "\"note\":\"fix\"}");
	H_ASSERT_OK(r);
	t2 = h_num(r, "tx");
	ck_assert_int_eq(h_num(r, "balance"), 120);
	cJSON_Delete(r);
	tx = admin_last_tx(admin_srv, "alice", "alicepw");
	ck_assert_int_eq(h_num(tx, "tx"), t2);
	ck_assert_str_eq(h_str(tx, "kind"), "debit");
	ck_assert_int_eq(h_num(tx, "amount"), -5);
	cJSON_Delete(tx);

	/* A debit may not take a balance below zero. */
	r = h_call(a, "{\"cmd\":\"debit\",\"user\":\"alice\",\"amount\":121,"
	    "\"note\":\"too much\"}");
	H_ASSERT_ERROR(r, "insufficient_funds");
	ck_assert_int_eq(h_num(r, "balance"), 120);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(admin_srv, "alice"), 120);

	r = h_call(a, "{\"cmd\":\"set_balance\",\"user\":\"alice\","
	    "\"balance\":7,\"note\":\"reset\"}");
	H_ASSERT_OK(r);
	t3 = h_num(r, "tx");
	ck_assert_int_eq(h_num(r, "balance"), 7);
	cJSON_Delete(r);
	tx = admin_last_tx(admin_srv, "alice", "alicepw");
	ck_assert_int_eq(h_num(tx, "tx"), t3);
	ck_assert_str_eq(h_str(tx, "kind"), "adjust");
	ck_assert_int_eq(h_num(tx, "amount"), -113);
	ck_assert_str_eq(h_str(tx, "note"), "reset");
	cJSON_Delete(tx);
	r = h_call(a, "{\"cmd\":\"set_balance\",\"user\":\"bob\","
	    "\"balance\":40,\"note\":\"start\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 40);
	cJSON_Delete(r);
	tx = admin_last_tx(admin_srv, "bob", "bobpw");
	ck_assert_str_eq(h_str(tx, "kind"), "adjust");
	ck_assert_int_eq(h_num(tx, "amount"), 40);
	cJSON_Delete(tx);
	/* Down to zero is allowed. */
	r = h_call(a, "{\"cmd\":\"set_balance\",\"user\":\"bob\","
	    "\"balance\":0,\"note\":\"zero\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 0);
	cJSON_Delete(r);

	ck_assert_int_lt(t1, t2);
	ck_assert_int_lt(t2, t3);
	ck_assert_int_eq(h_balance(admin_srv, "alice"), 7);
	ck_assert_int_eq(h_balance(admin_srv, "bob"), 0);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT sum(balance)"
	    " FROM accounts"), 0);
	ck_assert_int_eq(h_check_ledger(admin_srv), 0);
	h_close(a);
}
END_TEST

START_TEST(admin_money_refusals)
{
	struct h_client *a = admin_connect();

	h_expect(a, "invalid_amount", "{\"cmd\":\"set_balance\","
	    "\"user\":\"alice\",\"balance\":-1,\"note\":\"n\"}");
	h_expect(a, "invalid_amount", "{\"cmd\":\"set_balance\","
	    "\"user\":\"alice\",\"balance\":1000000001,\"note\":\"n\"}");
	h_expect(a, "invalid_amount", "{\"cmd\":\"credit\",\"user\":\"alice\","
	    "\"amount\":0,\"note\":\"n\"}");
	h_expect(a, "invalid_amount", "{\"cmd\":\"credit\",\"user\":\"alice\","
	    "\"amount\":1000000001,\"note\":\"n\"}");
	h_expect(a, "invalid_amount", "{\"cmd\":\"credit\",\"user\":\"alice\","
	    "\"amount\":2e1,\"note\":\"n\"}");
	h_expect(a, "invalid_amount", "{\"cmd\":\"debit\",\"user\":\"alice\","
	    "\"amount\":1.5,\"note\":\"n\"}");
	h_expect(a, "invalid_amount", "{\"cmd\":\"debit\",\"user\":\"alice\","
	    "\"amount\":-1,\"note\":\"n\"}");
	/* The note is required. */
	h_expect(a, "bad_request", "{\"cmd\":\"credit\",\"user\":\"alice\","
	    "\"amount\":5}");
	h_expect(a, "bad_request", "{\"cmd\":\"debit\",\"user\":\"alice\","
	    "\"amount\":5}");
	h_expect(a, "bad_request", "{\"cmd\":\"set_balance\","
	    "\"user\":\"alice\",\"balance\":5}");
	h_expect(a, "bad_request", "{\"cmd\":\"credit\",\"user\":\"alice\","
	    "\"amount\":\"5\",\"note\":\"n\"}");
	h_expect(a, "no_such_user", "{\"cmd\":\"credit\",\"user\":\"nobody\","
	    "\"amount\":5,\"note\":\"n\"}");
	h_expect(a, "no_such_user", "{\"cmd\":\"debit\",\"user\":\"nobody\","
	    "\"amount\":5,\"note\":\"n\"}");
	h_expect(a, "no_such_user", "{\"cmd\":\"set_balance\","
	    "\"user\":\"nobody\",\"balance\":5,\"note\":\"n\"}");
	ck_assert_int_eq(h_balance(admin_srv, "alice"), 100);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM tx"
	    " WHERE kind IN ('credit', 'debit', 'adjust') AND note = 'n'"), 0);
	ck_assert_int_eq(h_check_ledger(admin_srv), 0);
	h_close(a);
}
END_TEST

START_TEST(admin_credit_key_once)
{
	struct h_client *a = admin_connect();
	const char *req = "{\"cmd\":\"credit\",\"user\":\"bob\",\"amount\":10,"
	    "\"note\":\"top-up\",\"key\":\"c-1\"}";
	int64_t tx;
	cJSON *r;

	r = h_call(a, req);
	H_ASSERT_OK(r);
	tx = h_num(r, "tx");
	ck_assert_int_eq(h_num(r, "balance"), 10);
	cJSON_Delete(r);
	h_close(a);
	a = admin_connect();
	r = h_call(a, req);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "tx"), tx);
	ck_assert_int_eq(h_num(r, "balance"), 10);
	cJSON_Delete(r);
	h_expect(a, "conflict", "{\"cmd\":\"credit\",\"user\":\"bob\","
	    "\"amount\":11,\"note\":\"top-up\",\"key\":\"c-1\"}");
	/* The key belongs to the admin, whatever the command. */
	h_expect(a, "conflict", "{\"cmd\":\"debit\",\"user\":\"bob\","
	    "\"amount\":10,\"note\":\"top-up\",\"key\":\"c-1\"}");
	/* Debits take keys too. */
	r = h_call(a, "{\"cmd\":\"debit\",\"user\":\"bob\",\"amount\":4,"
	    "\"note\":\"d\",\"key\":\"d-1\"}");
	H_ASSERT_OK(r);
	tx = h_num(r, "tx");
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"debit\",\"user\":\"bob\",\"amount\":4,"
	    "\"note\":\"d\",\"key\":\"d-1\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "tx"), tx);
	ck_assert_int_eq(h_num(r, "balance"), 6);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(admin_srv, "bob"), 6);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM tx t"
	    " JOIN accounts a ON a.id = t.account WHERE a.name = 'bob'"), 2);
	ck_assert_int_eq(h_check_ledger(admin_srv), 0);
	h_close(a);
}
END_TEST

/*
 * internal means "outcome unknown", so every change to money or users
 * must be retryable with a key: set_balance and user_add replay their
 * first result instead of applying twice.
 */
START_TEST(admin_set_balance_and_user_add_keys_once)
{
	struct h_client *a = admin_connect();
	const char *sb = "{\"cmd\":\"set_balance\",\"user\":\"bob\","
	    "\"balance\":50,\"note\":\"audit\",\"key\":\"sb-1\"}";
	const char *ua = "{\"cmd\":\"user_add\",\"user\":\"carol\","
	    "\"password\":\"carolpw\",\"balance\":30,\"key\":\"ua-1\"}";
	int64_t tx;
	cJSON *r;

	r = h_call(a, sb);
	H_ASSERT_OK(r);
	tx = h_num(r, "tx");
	cJSON_Delete(r);
	/* Someone else moves bob's money; the keyed retry must not undo it. */
	h_expect(a, NULL, "{\"cmd\":\"credit\",\"user\":\"bob\","
	    "\"amount\":7,\"note\":\"c\"}");
	r = h_call(a, sb);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "tx"), tx);
	ck_assert_int_eq(h_num(r, "balance"), 50);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(admin_srv, "bob"), 57);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'adjust'"), 1);
	h_expect(a, "conflict", "{\"cmd\":\"set_balance\",\"user\":\"bob\","
	    "\"balance\":51,\"note\":\"audit\",\"key\":\"sb-1\"}");

	r = h_call(a, ua);
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "user"), "carol");
	cJSON_Delete(r);
	/* The retry gets the first result, not "exists". */
	r = h_call(a, ua);
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "user"), "carol");
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(admin_srv, "carol"), 30);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM tx t"
	    " JOIN accounts a ON a.id = t.account WHERE a.name = 'carol'"), 1);
	h_expect(a, "conflict", "{\"cmd\":\"user_add\",\"user\":\"carol\","
	    "\"password\":\"carolpw\",\"balance\":31,\"key\":\"ua-1\"}");
	/* Without a key the name is simply taken. */
	h_expect(a, "exists", "{\"cmd\":\"user_add\",\"user\":\"carol\","
	    "\"password\":\"carolpw\"}");
	/* The stored request never holds the password. */
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM idem"
	    " WHERE request LIKE '%%carolpw%%'"), 0);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM idem"), 2);
	h_close(a);
	a = h_connect_as(admin_srv, "carol", "carolpw");
	h_close(a);
	ck_assert_int_eq(h_check_ledger(admin_srv), 0);
}
END_TEST

/* Run drink as admin against the test server; its exit code. */
static int
admin_drink(const char *args, char **output)
{
	char *ca = h_cert_path("ca.crt"), *dir = h_tmpdir();
	char *out = xasprintf("%s/drink.out", dir);
	char *cmd = xasprintf("-p %d --ca %s -u admin --json %s",
	    admin_srv->port, ca, args);
	int rc;
	FILE *f;

	setenv("DRINK_PASSWORD", "adminpw", 1);
	rc = h_drink_run(cmd, out, 30000);
	*output = xcalloc(1, 4096);
	if ((f = fopen(out, "r")) != NULL) {
		(void)fread(*output, 1, 4095, f);
		fclose(f);
	}
	free(cmd);
	free(out);
	free(dir);
	free(ca);
	return rc;
}

/* drink keys every change to money or users, so its own retry is safe. */
START_TEST(admin_drink_keys_changes_by_default)
{
	static const char *const cmds[] = {
		"set-balance bob 40 audit --yes",
		"credit bob 5 cash",
		"debit bob 3 payout",
		"user-add dave --balance 9",
	};
	char *output;
	size_t i;

	setenv("DRINK_NEW_PASSWORD", "davepw", 1);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		ck_assert_msg(admin_drink(cmds[i], &output) == 0,
		    "drink %s failed: %s", cmds[i], output);
		free(output);
		ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM"
		    " idem"), (int64_t)i + 1);
	}
	/* A key given on the command line is the one used. */
	ck_assert_int_eq(admin_drink("credit bob 1 cash --key mine-1",
	    &output), 0);
	free(output);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM idem"
	    " WHERE key = 'mine-1'"), 1);
	ck_assert_int_eq(admin_drink("credit bob 1 cash --key mine-1",
	    &output), 0);
	free(output);
	ck_assert_int_eq(h_balance(admin_srv, "bob"), 43);
	ck_assert_int_eq(h_balance(admin_srv, "dave"), 9);
	ck_assert_int_eq(h_check_ledger(admin_srv), 0);
}
END_TEST

/* ---- refund ----------------------------------------------------------- */

/*
 * An admin's money note says why, for the ledger: "" or blanks only is
 * refused with the rule, and nothing moves.  send's note stays optional.
 */
START_TEST(admin_money_notes_not_blank)
{
	static const char *const notes[] = { "", "   ", "\\t \\r\\n" };
	struct h_client *a = admin_connect();
	int64_t credit, txs;
	size_t i;
	cJSON *r;

	r = h_call(a, "{\"cmd\":\"credit\",\"user\":\"alice\",\"amount\":5,"
	    "\"note\":\"c\"}");
	H_ASSERT_OK(r);
	credit = h_num(r, "tx");
	cJSON_Delete(r);
	txs = h_sql_int(admin_srv, "SELECT count(*) FROM tx");
	for (i = 0; i < sizeof(notes) / sizeof(notes[0]); i++) {
		r = h_callf(a, "{\"cmd\":\"credit\",\"user\":\"alice\","
		    "\"amount\":5,\"note\":\"%s\"}", notes[i]);
		ck_assert_str_eq(h_error(r), "bad_request");
		ck_assert_str_eq(h_str(r, "message"), "\"note\" must be 1 to "
		    "200 bytes long and not blank");
		cJSON_Delete(r);
		h_expectf(a, "bad_request", "{\"cmd\":\"debit\",\"user\":"
		    "\"alice\",\"amount\":5,\"note\":\"%s\"}", notes[i]);
		h_expectf(a, "bad_request", "{\"cmd\":\"set_balance\",\"user\":"
		    "\"alice\",\"balance\":7,\"note\":\"%s\"}", notes[i]);
		/* Refused before the transaction is looked at. */
		h_expectf(a, "bad_request", "{\"cmd\":\"refund\",\"tx\":%lld,"
		    "\"note\":\"%s\"}", (long long)credit, notes[i]);
	}
	ck_assert_int_eq(h_balance(admin_srv, "alice"), 105);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM tx"), txs);
	/* A note with something in it, spaces around, is taken as given. */
	h_expect(a, NULL, "{\"cmd\":\"debit\",\"user\":\"alice\","
	    "\"amount\":5,\"note\":\" x \"}");
	/* send's note may still be left empty. */
	h_login(a, "alice", "alicepw");
	h_expect(a, NULL, "{\"cmd\":\"send\",\"to\":\"admin\",\"amount\":1,"
	    "\"note\":\"\"}");
	ck_assert_int_eq(h_balance(admin_srv, "alice"), 99);
	ck_assert_int_eq(h_check_ledger(admin_srv), 0);
	h_close(a);
}
END_TEST

START_TEST(admin_refund_only_drops)
{
	struct h_client *a = admin_connect();
	int64_t credit;
	cJSON *r;

	r = h_call(a, "{\"cmd\":\"credit\",\"user\":\"alice\",\"amount\":5,"
	    "\"note\":\"c\"}");
	H_ASSERT_OK(r);
	credit = h_num(r, "tx");
	cJSON_Delete(r);
	h_expectf(a, "no_such_transaction", "{\"cmd\":\"refund\","
	    "\"tx\":%lld,\"note\":\"oops\"}", (long long)credit);
	h_expect(a, "no_such_transaction", "{\"cmd\":\"refund\","
	    "\"tx\":999999,\"note\":\"oops\"}");
	h_expectf(a, "bad_request", "{\"cmd\":\"refund\",\"tx\":%lld}",
	    (long long)credit);
	h_expect(a, "bad_request", "{\"cmd\":\"refund\",\"tx\":0,"
	    "\"note\":\"n\"}");
	h_expect(a, "bad_request", "{\"cmd\":\"refund\",\"tx\":\"1\","
	    "\"note\":\"n\"}");
	ck_assert_int_eq(h_balance(admin_srv, "alice"), 105);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'refund'"), 0);
	ck_assert_int_eq(h_check_ledger(admin_srv), 0);
	h_close(a);
}
END_TEST

/* ---- machines --------------------------------------------------------- */

START_TEST(admin_machine_add_mod_del)
{
	struct h_client *a = admin_connect();
	const cJSON *m;
	cJSON *r;

	h_expect(a, NULL, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Snacks\"}");
	h_expect(a, "exists", "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Again\"}");
	h_expect(a, "bad_request", "{\"cmd\":\"machine_add\","
	    "\"machine\":\"M1\",\"name\":\"x\"}");
	h_expect(a, "bad_request", "{\"cmd\":\"machine_add\","
	    "\"machine\":\"m2\"}");
	r = h_call(a, "{\"cmd\":\"machines\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "machines")), 1);
	m = cJSON_GetArrayItem(h_array(r, "machines"), 0);
	ck_assert_str_eq(h_str(m, "machine"), "m1");
	ck_assert_str_eq(h_str(m, "name"), "Snacks");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(m, "enabled")));
	cJSON_Delete(r);

	h_expect(a, NULL, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"name\":\"Drinks\",\"enabled\":false}");
	r = h_call(a, "{\"cmd\":\"machines\"}");
	H_ASSERT_OK(r);
	m = cJSON_GetArrayItem(h_array(r, "machines"), 0);
	ck_assert_str_eq(h_str(m, "name"), "Drinks");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(m, "enabled")));
	cJSON_Delete(r);
	/* Unspecified fields are kept. */
	h_expect(a, NULL, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"enabled\":true}");
	r = h_call(a, "{\"cmd\":\"machines\"}");
	H_ASSERT_OK(r);
	m = cJSON_GetArrayItem(h_array(r, "machines"), 0);
	ck_assert_str_eq(h_str(m, "name"), "Drinks");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(m, "enabled")));
	cJSON_Delete(r);
	h_expect(a, "no_such_machine", "{\"cmd\":\"machine_mod\","
	    "\"machine\":\"m9\",\"name\":\"x\"}");

	h_expect(a, NULL, "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":1,\"item\":\"Cola\",\"price\":1}");
	h_expect(a, NULL, "{\"cmd\":\"machine_del\",\"machine\":\"m1\"}");
	h_expect(a, "no_such_machine", "{\"cmd\":\"machine_del\","
	    "\"machine\":\"m1\"}");
	h_expect(a, "no_such_machine", "{\"cmd\":\"slots\","
	    "\"machine\":\"m1\"}");
	r = h_call(a, "{\"cmd\":\"machines\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "machines")), 0);
	cJSON_Delete(r);
	/* Its slots went with it: a new m1 starts empty. */
	h_expect(a, NULL, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"New\"}");
	r = h_call(a, "{\"cmd\":\"slots\",\"machine\":\"m1\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "slots")), 0);
	cJSON_Delete(r);
	h_close(a);
}
END_TEST

/*
 * A session logged in by an admin's login token changes no machine
 * without the admin's own password in "your_password": a tini board's
 * password it set would let whoever stole the token speak for the machine
 * (and a name or a switch it set stays) after the token was revoked.  The
 * password is checked as user_mod's is; a right one lifts the rule for
 * the session.  A session logged in by password needs none.
 */
START_TEST(admin_machine_mod_by_token_needs_password)
{
	struct h_client *a = admin_connect(), *b;
	char *tok;
	int64_t id;

	h_expect(a, NULL, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Snacks\"}");
	tok = h_token_make(a, "stolen", &id);
	b = h_connect_by_token(admin_srv, tok);
	h_expect_refused(b, "forbidden",
	    "give your password to change "
	    "a machine: this session logged in by a login token",
	    "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"legacy_password\":\"thiefpw\"}");
	h_expect(b, "forbidden", "{\"cmd\":\"machine_mod\","
	    "\"machine\":\"m1\",\"enabled\":false}");
	h_expect(b, "bad_credentials", "{\"cmd\":\"machine_mod\","
	    "\"machine\":\"m1\",\"legacy_password\":\"thiefpw\","
	    "\"your_password\":\"guess\"}");
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM machines "
	    "WHERE legacy_hash IS NULL AND enabled = 1"), 1);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM audit "
	    "WHERE cmd = 'machine_mod' AND result = 'forbidden'"), 2);
	ck_assert(h_server_log_contains(admin_srv, "machine_mod: wrong "
	    "password for admin from 127.0.0.1"));
	/* The right one sets it, and the next change needs none. */
	h_expect(b, NULL, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"legacy_password\":\"boardpw\",\"your_password\":\"adminpw\"}");
	h_expect(b, NULL, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"name\":\"Drinks\"}");
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM machines "
	    "WHERE legacy_hash IS NOT NULL AND display = 'Drinks'"), 1);
	/* A password login needs none. */
	h_expect(a, NULL, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"legacy_password\":\"\"}");
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM audit "
	    "WHERE args LIKE '%%adminpw%%' OR args LIKE '%%guess%%'"), 0);
	h_close(b);
	h_close(a);
	free(tok);
}
END_TEST

/* One slot_set; checks the slot fields of the reply. */
static void
admin_set_slot(struct h_client *a, const char *args, int slot,
    const char *item, int64_t price, int64_t stock, int enabled)
{
	cJSON *r = h_callf(a, "{\"cmd\":\"slot_set\",\"machine\":\"m1\",%s}",
	    args);

	ck_assert_msg(h_ok(r), "slot_set %s: %s", args, h_text(r));
	ck_assert_int_eq(h_num(r, "slot"), slot);
	ck_assert_str_eq(h_str(r, "item"), item);
	ck_assert_int_eq(h_num(r, "price"), price);
	ck_assert_int_eq(h_num(r, "stock"), stock);
	ck_assert_msg(cJSON_IsBool(cJSON_GetObjectItem(r, "enabled")) &&
	    cJSON_IsTrue(cJSON_GetObjectItem(r, "enabled")) == enabled,
	    "slot_set %s: enabled wrong in %s", args, h_text(r));
	cJSON_Delete(r);
}

START_TEST(admin_slot_set)
{
	struct h_client *a = admin_connect();
	char *item201 = xmalloc(202), *line;
	const cJSON *sl;
	cJSON *r;

	h_expect(a, NULL, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Snacks\"}");
	admin_set_slot(a, "\"slot\":3,\"item\":\"Cola\",\"price\":150,"
	    "\"stock\":4,\"enabled\":true", 3, "Cola", 150, 4, 1);
	/*
	 * A new slot needs its item and price; stock and enabled have
	 * defaults.  Refused, nothing is made.
	 */
	h_expect_refused(a, "bad_request",
	    "slot 4 of m1 is not set up "
	    "yet: a new slot needs an item and a price (missing \"item\" and "
	    "\"price\")",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":4}");
	h_expect_refused(a, "bad_request",
	    "slot 4 of m1 is not set up "
	    "yet: a new slot needs an item and a price (missing \"item\")",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":4,"
	    "\"price\":5,\"stock\":2}");
	h_expect_refused(a, "bad_request",
	    "slot 4 of m1 is not set up "
	    "yet: a new slot needs an item and a price (missing \"price\")",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":4,"
	    "\"item\":\"Mate\",\"enabled\":false}");
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM slots"
	    " WHERE slot = 4"), 0);
	/* Defaults for a new slot: no stock, enabled; a price may be 0. */
	admin_set_slot(a, "\"slot\":4,\"item\":\"Water\",\"price\":0", 4,
	    "Water", 0, 0, 1);
	/* An update keeps what it does not name. */
	admin_set_slot(a, "\"slot\":3,\"price\":200", 3, "Cola", 200, 4, 1);
	admin_set_slot(a, "\"slot\":3,\"enabled\":false", 3, "Cola", 200, 4,
	    0);
	admin_set_slot(a, "\"slot\":3,\"stock\":0,\"item\":\"Cola Zero\"", 3,
	    "Cola Zero", 200, 0, 0);
	admin_set_slot(a, "\"slot\":255,\"item\":\"Tea\",\"price\":3", 255,
	    "Tea", 3, 0, 1);
	/* One field of a slot that exists. */
	admin_set_slot(a, "\"slot\":255,\"stock\":7", 255, "Tea", 3, 7, 1);

	r = h_call(a, "{\"cmd\":\"slots\",\"machine\":\"m1\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "slots")), 3);
	sl = cJSON_GetArrayItem(h_array(r, "slots"), 0);
	ck_assert_int_eq(h_num(sl, "slot"), 3);
	ck_assert_str_eq(h_str(sl, "item"), "Cola Zero");
	ck_assert_int_eq(h_num(sl, "price"), 200);
	cJSON_Delete(r);

	h_expect(a, "no_such_machine", "{\"cmd\":\"slot_set\","
	    "\"machine\":\"m9\",\"slot\":1,\"price\":1}");
	h_expect(a, "bad_request", "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":0,\"price\":1}");
	h_expect(a, "bad_request", "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":256,\"price\":1}");
	h_expect(a, "bad_request", "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"price\":1}");
	h_expect(a, "invalid_amount", "{\"cmd\":\"slot_set\","
	    "\"machine\":\"m1\",\"slot\":3,\"price\":-1}");
	h_expect(a, "invalid_amount", "{\"cmd\":\"slot_set\","
	    "\"machine\":\"m1\",\"slot\":3,\"price\":1.5}");
	h_expect(a, "bad_request", "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":3,\"enabled\":1}");
	memset(item201, 'i', 201);
	item201[201] = '\0';
	line = xasprintf("{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":3,\"item\":\"%s\"}", item201);
	h_expect(a, "bad_request", line);
	free(line);
	free(item201);
	/* An item of blanks would show as no item at all. */
	h_expect_refused(a, "bad_request",
	    "\"item\" must be 1 to 200 "
	    "bytes long and not blank",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":3,"
	    "\"item\":\" \\t \"}");
	h_expect(a, "bad_request", "{\"cmd\":\"machine_mod\","
	    "\"machine\":\"m1\",\"name\":\"   \"}");
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM machines"
	    " WHERE name = 'm1' AND display = 'Snacks'"), 1);
	/* None of the refusals changed slot 3. */
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT price FROM slots"
	    " WHERE machine = 'm1' AND slot = 3"), 200);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM slots"),
	    3);
	h_close(a);
}
END_TEST

/* ---- log -------------------------------------------------------------- */

START_TEST(admin_log_filters)
{
	struct h_client *a = admin_connect();
	struct h_client *alice = h_connect_as(admin_srv, "alice", "alicepw");
	const cJSON *e, *list;
	int64_t transfer;
	cJSON *r;
	int n;

	r = h_call(alice, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":10,"
	    "\"note\":\"gift\"}");
	H_ASSERT_OK(r);
	transfer = h_num(r, "tx");
	cJSON_Delete(r);
	h_expect(a, NULL, "{\"cmd\":\"credit\",\"user\":\"bob\","
	    "\"amount\":5,\"note\":\"c\"}");
	h_expect(a, NULL, "{\"cmd\":\"debit\",\"user\":\"alice\","
	    "\"amount\":3,\"note\":\"d\"}");

	/* Everything: initial credits (admin, alice) and the three above. */
	r = h_call(a, "{\"cmd\":\"log\"}");
	H_ASSERT_OK(r);
	list = h_array(r, "transactions");
	ck_assert_int_eq(cJSON_GetArraySize(list), 5);
	cJSON_ArrayForEach(e, list) {
		(void)h_str(e, "user");
		(void)h_num(e, "tx");
		(void)h_num(e, "time");
		(void)h_str(e, "kind");
		(void)h_str(e, "state");
		(void)h_num(e, "amount");
	}
	cJSON_Delete(r);

	r = h_call(a, "{\"cmd\":\"log\",\"kind\":\"transfer\"}");
	H_ASSERT_OK(r);
	list = h_array(r, "transactions");
	ck_assert_int_eq(cJSON_GetArraySize(list), 1);
	e = cJSON_GetArrayItem(list, 0);
	ck_assert_int_eq(h_num(e, "tx"), transfer);
	ck_assert_str_eq(h_str(e, "user"), "alice");
	ck_assert_str_eq(h_str(e, "counterparty"), "bob");
	ck_assert_int_eq(h_num(e, "amount"), -10);
	ck_assert_str_eq(h_str(e, "note"), "gift");
	cJSON_Delete(r);

	/* alice: her credit, her transfer and her debit; not bob's credit. */
	r = h_call(a, "{\"cmd\":\"log\",\"user\":\"alice\"}");
	H_ASSERT_OK(r);
	list = h_array(r, "transactions");
	ck_assert_int_eq(cJSON_GetArraySize(list), 3);
	cJSON_ArrayForEach(e, list) {
		ck_assert_str_eq(h_str(e, "user"), "alice");
	}
	cJSON_Delete(r);
	/* bob: his credit and the transfer he received. */
	r = h_call(a, "{\"cmd\":\"log\",\"user\":\"bob\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "transactions")), 2);
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"log\",\"user\":\"bob\",\"kind\":\"credit\"}");
	H_ASSERT_OK(r);
	list = h_array(r, "transactions");
	ck_assert_int_eq(cJSON_GetArraySize(list), 1);
	ck_assert_str_eq(h_str(cJSON_GetArrayItem(list, 0), "user"), "bob");
	ck_assert_int_eq(h_num(cJSON_GetArrayItem(list, 0), "amount"), 5);
	cJSON_Delete(r);

	/* limit keeps the newest. */
	r = h_call(a, "{\"cmd\":\"log\",\"limit\":2}");
	H_ASSERT_OK(r);
	list = h_array(r, "transactions");
	ck_assert_int_eq(cJSON_GetArraySize(list), 2);
	ck_assert_str_eq(h_str(cJSON_GetArrayItem(list, 0), "kind"), "debit");
	ck_assert_int_gt(h_num(cJSON_GetArrayItem(list, 0), "tx"),
	    h_num(cJSON_GetArrayItem(list, 1), "tx"));
	cJSON_Delete(r);

	r = h_callf(a, "{\"cmd\":\"log\",\"since\":%lld}",
	    (long long)time(NULL) + 3600);
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "transactions")), 0);
	cJSON_Delete(r);
	r = h_callf(a, "{\"cmd\":\"log\",\"until\":%lld}",
	    (long long)time(NULL) + 3600);
	H_ASSERT_OK(r);
	n = cJSON_GetArraySize(h_array(r, "transactions"));
	ck_assert_int_eq(n, 5);
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"log\",\"machine\":\"m1\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "transactions")), 0);
	cJSON_Delete(r);

	h_expect(a, "bad_request", "{\"cmd\":\"log\",\"kind\":\"gift\"}");
	h_expect(a, "bad_request", "{\"cmd\":\"log\",\"limit\":0}");
	h_expect(a, "bad_request", "{\"cmd\":\"log\",\"user\":\"Alice\"}");
	h_close(alice);
	h_close(a);
}
END_TEST

/*
 * A range whose start is after its end can hold nothing: refused, naming
 * both ends, rather than answered with an empty list that reads as "no
 * transactions then".  One second (since == until) is a range.
 */
START_TEST(admin_log_reversed_range_refused)
{
	struct h_client *a = admin_connect();
	cJSON *r;

	h_expect_refused(a, "bad_request",
	    "\"since\" (2000) is later "
	    "than \"until\" (1999): no transaction could match",
	    "{\"cmd\":\"log\",\"since\":2000,\"until\":1999}");
	r = h_callf(a, "{\"cmd\":\"log\",\"since\":%lld,\"until\":%lld}",
	    (long long)time(NULL), (long long)time(NULL) - 86400);
	H_ASSERT_ERROR(r, "bad_request");
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"log\",\"since\":2000,\"until\":2000}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "transactions")), 0);
	cJSON_Delete(r);
	r = h_callf(a, "{\"cmd\":\"log\",\"since\":0,\"until\":%lld}",
	    (long long)time(NULL) + 3600);
	H_ASSERT_OK(r);
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "transactions")), 2);
	cJSON_Delete(r);
	h_close(a);
}
END_TEST

/* ---- kick ------------------------------------------------------------- */

START_TEST(admin_kick)
{
	struct h_client *a = admin_connect();
	struct h_client *alice = h_connect_as(admin_srv, "alice", "alicepw");
	struct h_client *anon = h_connect(admin_srv, NULL);
	struct h_client *bob = h_connect_as(admin_srv, "bob", "bobpw");
	int64_t id;
	cJSON *r;

	id = admin_session_of(a, alice->port);
	r = h_callf(a, "{\"id\":4,\"cmd\":\"kick\",\"session\":%lld}",
	    (long long)id);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 4);
	cJSON_Delete(r);
	ck_assert_msg(h_closed(alice), "kicked session still open");
	/* Anonymous sessions can be kicked too. */
	h_expectf(a, NULL, "{\"cmd\":\"kick\",\"session\":%lld}",
	    (long long)admin_session_of(a, anon->port));
	ck_assert(h_closed(anon));
	/* Others stay. */
	h_expect(bob, NULL, "{\"cmd\":\"balance\"}");
	h_expect(a, "bad_request", "{\"cmd\":\"kick\",\"session\":999999}");
	h_expect(a, "bad_request", "{\"cmd\":\"kick\",\"session\":0}");
	h_expect(a, "bad_request", "{\"cmd\":\"kick\"}");
	/* The kicked session is recorded as ended. */
	ck_assert_int_eq(h_sql_wait(admin_srv, 1, "SELECT ended IS NOT NULL"
	    " FROM sessions WHERE id = %lld", (long long)id), 1);
	h_close(alice);
	h_close(anon);
	h_close(bob);
	h_close(a);
}
END_TEST

/* ---- role enforcement ------------------------------------------------- */

/* Every admin command, with arguments that an admin could run. */
static const char *const admin_commands[] = {
	"{\"cmd\":\"user_add\",\"user\":\"mallory\",\"password\":\"pw\","
	    "\"role\":\"admin\"}",
	"{\"cmd\":\"user_mod\",\"user\":\"alice\",\"role\":\"admin\"}",
	"{\"cmd\":\"users\"}",
	"{\"cmd\":\"credit\",\"user\":\"alice\",\"amount\":1000,"
	    "\"note\":\"n\"}",
	"{\"cmd\":\"debit\",\"user\":\"bob\",\"amount\":1,\"note\":\"n\"}",
	"{\"cmd\":\"set_balance\",\"user\":\"alice\",\"balance\":99999,"
	    "\"note\":\"n\"}",
	"{\"cmd\":\"refund\",\"tx\":1,\"note\":\"n\"}",
	"{\"cmd\":\"machine_add\",\"machine\":\"m7\",\"name\":\"x\"}",
	"{\"cmd\":\"machine_mod\",\"machine\":\"m7\",\"enabled\":false}",
	"{\"cmd\":\"machine_del\",\"machine\":\"m7\"}",
	"{\"cmd\":\"slot_set\",\"machine\":\"m7\",\"slot\":1,\"price\":0}",
	"{\"cmd\":\"log\"}",
	"{\"cmd\":\"kick\",\"session\":1}",
};

START_TEST(admin_commands_forbidden_to_members)
{
	struct h_client *c = h_connect_as(admin_srv, "alice", "alicepw");
	size_t i;

	for (i = 0; i < sizeof(admin_commands) / sizeof(admin_commands[0]);
	    i++) {
		h_expect(c, "forbidden", admin_commands[i]);
	}
	/* None of it happened. */
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM users"),
	    3);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM users"
	    " WHERE role = 'admin'"), 1);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM machines"),
	    0);
	ck_assert_int_eq(h_balance(admin_srv, "alice"), 100);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM tx"), 2);
	ck_assert_int_eq(h_sql_wait(admin_srv, 1, "SELECT count(*) FROM sessions"
	    " WHERE ended IS NULL"), 1);
	h_expect(c, NULL, "{\"cmd\":\"balance\"}");
	h_close(c);
}
END_TEST

START_TEST(admin_commands_need_login)
{
	struct h_client *c = h_connect(admin_srv, NULL);
	size_t i;

	for (i = 0; i < sizeof(admin_commands) / sizeof(admin_commands[0]);
	    i++) {
		h_expect(c, "auth_required", admin_commands[i]);
	}
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM users"),
	    3);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM tx"), 2);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM audit"),
	    0);
	h_close(c);
}
END_TEST

/* ---- audit ------------------------------------------------------------ */

START_TEST(admin_audit_without_passwords)
{
	struct h_client *a = admin_connect();
	int64_t session = admin_session_of(a, a->port);

	h_expect(a, NULL, "{\"cmd\":\"user_add\",\"user\":\"carol\","
	    "\"password\":\"s3cret-one\"}");
	h_expect(a, NULL, "{\"cmd\":\"user_mod\",\"user\":\"carol\","
	    "\"password\":\"s3cret-two\"}");
	h_expect(a, "exists", "{\"cmd\":\"user_add\",\"user\":\"alice\","
	    "\"password\":\"s3cret-three\"}");
	h_expect(a, NULL, "{\"cmd\":\"credit\",\"user\":\"alice\","
	    "\"amount\":5,\"note\":\"audited\"}");
	h_expect(a, NULL, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Snacks\"}");
	h_expect(a, NULL, "{\"cmd\":\"users\"}");

	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM audit"),
	    6);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM audit"
	    " WHERE actor = 'admin' AND session = %lld", (long long)session),
	    6);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM audit"
	    " WHERE cmd = 'user_add'"), 2);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM audit"
	    " WHERE cmd = 'user_add' AND result = 'exists'"), 1);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM audit"
	    " WHERE cmd = 'credit' AND args LIKE '%%audited%%'"), 1);
	/* No password, in any form, in the audit table or the log. */
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM audit"
	    " WHERE args LIKE '%%s3cret%%'"), 0);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM audit"
	    " WHERE args LIKE '%%adminpw%%'"), 0);
	ck_assert_int_eq(h_sql_int(admin_srv, "SELECT count(*) FROM audit"
	    " WHERE cmd IN ('user_add', 'user_mod')"
	    " AND args NOT LIKE '%%\"password\"%%'"), 0);
	ck_assert(!h_server_log_contains(admin_srv, "s3cret"));
	ck_assert(!h_server_log_contains(admin_srv, "adminpw"));
	h_close(a);
}
END_TEST

static Suite *
admin_suite(void)
{
	Suite *s = suite_create("admin");
	TCase *tc;

#define ADMIN_TCASE(name) \
	(tc = h_tcase(s, name, admin_setup, admin_teardown, ADMIN_TIMEOUT))

	ADMIN_TCASE("user_add creates users who can log in");
	tcase_add_test(tc, admin_user_add_can_log_in);
	tcase_add_test(tc, admin_user_add_admin_role);
	tcase_add_test(tc, admin_user_add_initial_balance);
	tcase_add_test(tc, admin_user_add_refusals);

	ADMIN_TCASE("user_mod changes role, password and access");
	tcase_add_test(tc, admin_user_mod_role);
	tcase_add_test(tc, admin_user_mod_password);
	tcase_add_test(tc, admin_user_mod_disable);
	tcase_add_test(tc, admin_user_mod_disable_cert_login);
	tcase_add_test(tc, admin_user_mod_refusals);
	tcase_add_test(tc, admin_user_mod_keeps_the_last_admin);
	tcase_add_test(tc, admin_user_mod_self_answers_before_closing);
	tcase_add_test(tc, admin_user_changes_by_token_need_password);

	ADMIN_TCASE("users lists every member");
	tcase_add_test(tc, admin_users_fields);

	ADMIN_TCASE("credit, debit and set_balance move money");
	tcase_add_test(tc, admin_credit_debit_set_balance);
	tcase_add_test(tc, admin_money_refusals);
	tcase_add_test(tc, admin_money_notes_not_blank);
	tcase_add_test(tc, admin_credit_key_once);

	ADMIN_TCASE("every change to money or users takes a key");
	tcase_add_test(tc, admin_set_balance_and_user_add_keys_once);
	tcase_add_test(tc, admin_drink_keys_changes_by_default);

	ADMIN_TCASE("refund only refunds drops");
	tcase_add_test(tc, admin_refund_only_drops);

	ADMIN_TCASE("machines and slots are configured by admins");
	tcase_add_test(tc, admin_machine_add_mod_del);
	tcase_add_test(tc, admin_machine_mod_by_token_needs_password);
	tcase_add_test(tc, admin_slot_set);

	ADMIN_TCASE("log filters the whole ledger");
	tcase_add_test(tc, admin_log_filters);
	tcase_add_test(tc, admin_log_reversed_range_refused);

	ADMIN_TCASE("kick closes a session");
	tcase_add_test(tc, admin_kick);

	ADMIN_TCASE("admin commands need the admin role");
	tcase_add_test(tc, admin_commands_forbidden_to_members);
	tcase_add_test(tc, admin_commands_need_login);

	ADMIN_TCASE("audit records admin commands without passwords");
	tcase_add_test(tc, admin_audit_without_passwords);
#undef ADMIN_TCASE
	return s;
}

int
main(void)
{
	int failed;

	h_init();
	failed = h_run(admin_suite());
	return h_finish(failed);
}
