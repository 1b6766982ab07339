/*
 * Cards at the machine (PROTOCOL.md section 11) over real TLS: binding,
 * listing and unbinding for oneself and, as an admin, for others; a card
 * bound once only; UIDs stored only as a keyed hash; card_add and taps
 * at a reader throttled as guesses that no good card forgives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define CARD_TIMEOUT 60

static struct h_server *srv;

static void
setup(void)
{
	srv = h_server_start(NULL);
}

static void
teardown(void)
{
	h_server_free(srv);
	srv = NULL;
}

/* Bind card to c's user (or user); the new card_id. */
static int64_t
card_add(struct h_client *c, const char *card, const char *user)
{
	cJSON *r;
	int64_t id;

	if (user != NULL) {
		r = h_callf(c, "{\"cmd\":\"card_add\",\"card\":\"%s\","
		    "\"label\":\"keys\",\"user\":\"%s\"}", card, user);
	} else {
		r = h_callf(c, "{\"cmd\":\"card_add\",\"card\":\"%s\","
		    "\"label\":\"keys\"}", card);
	}
	H_ASSERT_OK(r);
	id = h_num(r, "card_id");
	ck_assert_int_gt(id, 0);
	cJSON_Delete(r);
	return id;
}

static int
card_count(struct h_client *c, const char *user)
{
	cJSON *r = user != NULL ? h_callf(c, "{\"cmd\":\"cards\","
	    "\"user\":\"%s\"}", user) : h_call(c, "{\"cmd\":\"cards\"}");
	int n;

	H_ASSERT_OK(r);
	n = cJSON_GetArraySize(h_array(r, "cards"));
	cJSON_Delete(r);
	return n;
}

START_TEST(card_add_list_del)
{
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	cJSON *r, *card;
	char *text;
	int64_t id;

	ck_assert_int_eq(card_count(c, NULL), 0);
	id = card_add(c, "0D000016C2F28501", NULL);
	r = h_call(c, "{\"cmd\":\"cards\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "user"), "alice");
	ck_assert_int_eq(cJSON_GetArraySize(h_array(r, "cards")), 1);
	card = cJSON_GetArrayItem(h_array(r, "cards"), 0);
	ck_assert_int_eq(h_num(card, "card_id"), id);
	ck_assert_str_eq(h_str(card, "label"), "keys");
	ck_assert_int_gt(h_num(card, "created"), 0);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(card, "last_used")));
	/* The UID is never given back. */
	text = cJSON_PrintUnformatted(r);
	ck_assert_ptr_null(strstr(text, "16C2F2"));
	ck_assert_ptr_null(strstr(text, "16c2f2"));
	free(text);
	cJSON_Delete(r);
	h_expectf(c, NULL, "{\"cmd\":\"card_del\",\"card_id\":%lld}",
	    (long long)id);
	ck_assert_int_eq(card_count(c, NULL), 0);
	h_expectf(c, "bad_request", "{\"cmd\":\"card_del\",\"card_id\":%lld}",
	    (long long)id);
	h_close(c);
}
END_TEST

/*
 * A card id is never given again: a client that kept the id of a card
 * unbound elsewhere must not unbind the card bound after it.
 */
START_TEST(card_id_never_given_again)
{
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	int64_t old = card_add(c, "a1a1a1a1", NULL), id;

	h_expectf(c, NULL, "{\"cmd\":\"card_del\",\"card_id\":%lld}",
	    (long long)old);
	id = card_add(c, "a2a2a2a2", NULL);
	ck_assert_int_gt(id, old);
	h_expectf(c, "bad_request", "{\"cmd\":\"card_del\",\"card_id\":%lld}",
	    (long long)old);
	ck_assert_int_eq(card_count(c, NULL), 1);
	h_close(c);
}
END_TEST

START_TEST(card_stored_as_keyed_hash)
{
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");

	card_add(c, "04a2b3c4d5e6f7", NULL);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM cards"), 1);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM cards WHERE "
	    "hash LIKE '%%4a2b3c4d5e6f7%%'"), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT length(hash) FROM cards"),
	    64);
	/* Not a plain digest of the UID either: the key makes it. */
	ck_assert_int_eq(h_sql_int(srv, "SELECT length(value) FROM settings "
	    "WHERE name = 'card_key'"), 64);
	h_close(c);
}
END_TEST

START_TEST(card_bound_once)
{
	struct h_client *a = h_connect_as(srv, "alice", "alicepw");
	struct h_client *b = h_connect_as(srv, "bob", "bobpw");

	card_add(a, "deadbeef", NULL);
	h_expect(a, "exists", "{\"cmd\":\"card_add\",\"card\":\"deadbeef\"}");
	/* Case does not make another card. */
	h_expect(b, "exists", "{\"cmd\":\"card_add\",\"card\":\"DEADBEEF\"}");
	ck_assert_int_eq(card_count(a, NULL), 1);
	ck_assert_int_eq(card_count(b, NULL), 0);
	h_close(a);
	h_close(b);
}
END_TEST

START_TEST(card_bad_arguments)
{
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	static const char *const bad[] = {
		"{\"cmd\":\"card_add\"}",
		"{\"cmd\":\"card_add\",\"card\":\"abc\"}",
		"{\"cmd\":\"card_add\",\"card\":\"0123456789abcdef0123456789abcdef0\"}",
		"{\"cmd\":\"card_add\",\"card\":\"12g4\"}",
		"{\"cmd\":\"card_add\",\"card\":\"12 45\"}",
		"{\"cmd\":\"card_add\",\"card\":1234}",
		"{\"cmd\":\"card_del\",\"card_id\":\"1\"}",
		"{\"cmd\":\"card_del\",\"card_id\":0}",
		"{\"cmd\":\"cards\",\"user\":\"Bad Name\"}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		h_expect(c, "bad_request", bad[i]);
	}
	/* 4 and 32 digits are the bounds. */
	card_add(c, "abcd", NULL);
	card_add(c, "0123456789abcdef0123456789ABCDEF", NULL);
	ck_assert_int_eq(card_count(c, NULL), 2);
	h_close(c);
}
END_TEST

START_TEST(card_needs_login)
{
	struct h_client *c = h_connect(srv, NULL);

	h_expect(c, "auth_required", "{\"cmd\":\"card_add\",\"card\":\"abcd\"}");
	h_expect(c, "auth_required", "{\"cmd\":\"cards\"}");
	h_expect(c, "auth_required", "{\"cmd\":\"card_del\",\"card_id\":1}");
	h_close(c);
}
END_TEST

START_TEST(card_member_cannot_touch_others)
{
	struct h_client *a = h_connect_as(srv, "alice", "alicepw");
	struct h_client *b = h_connect_as(srv, "bob", "bobpw");
	int64_t id = card_add(b, "b0b0b0b0", NULL);

	h_expect(a, "forbidden", "{\"cmd\":\"card_add\",\"card\":\"abcd\","
	    "\"user\":\"bob\"}");
	h_expect(a, "forbidden", "{\"cmd\":\"cards\",\"user\":\"bob\"}");
	h_expectf(a, "forbidden", "{\"cmd\":\"card_del\",\"card_id\":%lld,"
	    "\"user\":\"bob\"}", (long long)id);
	/* Naming oneself is allowed; another's id is not one's own card. */
	card_add(a, "a1a1a1a1", "alice");
	h_expectf(a, "bad_request", "{\"cmd\":\"card_del\",\"card_id\":%lld}",
	    (long long)id);
	ck_assert_int_eq(card_count(b, NULL), 1);
	h_close(a);
	h_close(b);
}
END_TEST

START_TEST(card_admin_forms)
{
	struct h_client *adm = h_connect_as(srv, "admin", "adminpw");
	struct h_client *b = h_connect_as(srv, "bob", "bobpw");
	int64_t id;

	id = card_add(adm, "cafe0001", "bob");
	ck_assert_int_eq(card_count(b, NULL), 1);
	ck_assert_int_eq(card_count(adm, "bob"), 1);
	ck_assert_int_eq(card_count(adm, NULL), 0);
	h_expect(adm, "no_such_user", "{\"cmd\":\"card_add\","
	    "\"card\":\"cafe0002\",\"user\":\"nobody\"}");
	h_expect(adm, "no_such_user", "{\"cmd\":\"cards\","
	    "\"user\":\"nobody\"}");
	h_expectf(adm, "no_such_user", "{\"cmd\":\"card_del\","
	    "\"card_id\":%lld,\"user\":\"nobody\"}", (long long)id);
	h_expectf(adm, NULL, "{\"cmd\":\"card_del\",\"card_id\":%lld,"
	    "\"user\":\"bob\"}", (long long)id);
	ck_assert_int_eq(card_count(b, NULL), 0);
	h_close(adm);
	h_close(b);
}
END_TEST

/*
 * 32 cards each (an admin binds them: an admin's card_add is not
 * throttled).  A full account is refused before the card is looked at,
 * so it cannot tell a bound card from a free one.
 */
START_TEST(card_limit_per_member)
{
	struct h_client *adm = h_connect_as(srv, "admin", "adminpw");
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	char uid[16];
	cJSON *r;
	int i;

	for (i = 0; i < 32; i++) {
		snprintf(uid, sizeof(uid), "%08x", 0x1000 + i);
		card_add(adm, uid, "alice");
	}
	card_add(adm, "b0b0b0b0", "bob");
	r = h_call(c, "{\"cmd\":\"card_add\",\"card\":\"ffffffff\"}");
	H_ASSERT_ERROR(r, "bad_request");
	ck_assert_str_eq(h_str(r, "message"), "at most 32 cards per member");
	cJSON_Delete(r);
	r = h_call(c, "{\"cmd\":\"card_add\",\"card\":\"b0b0b0b0\"}");
	H_ASSERT_ERROR(r, "bad_request");
	ck_assert_str_eq(h_str(r, "message"), "at most 32 cards per member");
	cJSON_Delete(r);
	ck_assert_int_eq(card_count(c, NULL), 32);
	h_close(c);
	h_close(adm);
}
END_TEST

/*
 * Every card_add a member makes tells whether a card is bound (ok: it
 * was free; exists: it is someone's), so each counts as a guess, per
 * member and per address: five, then locked_out with retry_after, before
 * the card is looked at.  A scan of short UIDs is then impractical.
 */
START_TEST(card_add_guesses_locked_out)
{
	struct h_client *adm = h_connect_as(srv, "admin", "adminpw");
	struct h_client *b = h_connect_as(srv, "bob", "bobpw");
	struct h_client *a = h_connect_as(srv, "alice", "alicepw");
	char line[128];
	cJSON *r;
	int i;

	card_add(adm, "a11c", "alice");
	h_expect(b, "exists", "{\"cmd\":\"card_add\",\"card\":\"a11c\"}");
	/* Free cards found (and bound) count as much as a bound one. */
	for (i = 0; i < 4; i++) {
		snprintf(line, sizeof(line), "{\"cmd\":\"card_add\","
		    "\"card\":\"%04x\"}", 0xb000 + i);
		h_expect(b, NULL, line);
	}
	r = h_call(b, "{\"cmd\":\"card_add\",\"card\":\"a11c\"}");
	H_ASSERT_ERROR(r, "locked_out");
	ck_assert_int_ge(h_num(r, "retry_after"), 1);
	cJSON_Delete(r);
	r = h_call(b, "{\"cmd\":\"card_add\",\"card\":\"b00f\"}");
	H_ASSERT_ERROR(r, "locked_out");
	ck_assert_int_ge(h_num(r, "retry_after"), 1);
	cJSON_Delete(r);
	/* The address is locked for other members too; admins bind on. */
	h_expect(a, "locked_out", "{\"cmd\":\"card_add\","
	    "\"card\":\"a11a\"}");
	card_add(adm, "b00e", "bob");
	ck_assert_int_eq(card_count(b, NULL), 5);
	ck_assert_int_eq(card_count(a, NULL), 1);
	ck_assert(h_server_log_contains(srv, "card_add throttled: user bob "
	    "from 127.0.0.1, retry after "));
	ck_assert(h_server_log_contains(srv, "card_add by bob from 127.0.0.1: "
	    "the card is already bound"));
	ck_assert(h_server_log_contains(srv, "warning: throttling card_add by "
	    "user bob: 5 failures in a row, locked for 1 s"));
	ck_assert(h_server_log_contains(srv, "warning: throttling card_add "
	    "from 127.0.0.1: 5 failures in a row, locked for 1 s"));
	h_close(a);
	h_close(b);
	h_close(adm);
}
END_TEST

/*
 * A session logged in by a login token binds a card only with the
 * password: a stolen token could otherwise bind the thief's card, which
 * would go on charging the member after the token is revoked.  The
 * password is checked and throttled as a login's is (a wrong one is a
 * failed login of the account); a right one lifts the rule for the
 * session, which still ends with its token.  A session logged in by
 * password binds as before.
 */
START_TEST(card_add_by_token_needs_password)
{
	struct h_client *a = h_connect_as(srv, "alice", "alicepw"), *b, *c;
	char *tok;
	cJSON *r;
	int64_t id;
	int i;

	tok = h_token_make(a, "stolen", &id);
	b = h_connect_by_token(srv, tok);
	r = h_call(b, "{\"cmd\":\"card_add\",\"card\":\"7e57ca4d\"}");
	H_ASSERT_ERROR(r, "forbidden");
	ck_assert_str_eq(h_str(r, "message"), "give your password to bind "
	    "a card: this session logged in by a login token");
	cJSON_Delete(r);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM cards"), 0);
	/* A wrong password is a failed login: five lock the account. */
	for (i = 0; i < 5; i++) {
		h_expect(b, "bad_credentials", "{\"cmd\":\"card_add\","
		    "\"card\":\"7e57ca4d\",\"password\":\"guess\"}");
	}
	r = h_call(b, "{\"cmd\":\"card_add\",\"card\":\"7e57ca4d\","
	    "\"password\":\"alicepw\"}");
	H_ASSERT_ERROR(r, "locked_out");
	ck_assert_int_ge(h_num(r, "retry_after"), 1);
	cJSON_Delete(r);
	c = h_connect(srv, NULL);
	h_expect(c, "locked_out", "{\"cmd\":\"login\",\"user\":\"alice\","
	    "\"password\":\"alicepw\"}");
	ck_assert(h_server_log_contains(srv, "card_add: wrong password for "
	    "alice from 127.0.0.1"));
	ck_assert(h_server_log_contains(srv, "warning: throttling logins as "
	    "user alice: 5 failures in a row, locked for 1 s"));
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM cards"), 0);
	usleep(1100 * 1000);
	/* The right one binds the card, and the next needs none. */
	r = h_call(b, "{\"cmd\":\"card_add\",\"card\":\"7e57ca4d\","
	    "\"label\":\"fob\",\"password\":\"alicepw\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "user"), "alice");
	cJSON_Delete(r);
	card_add(b, "7e57ca4e", NULL);
	ck_assert_int_eq(card_count(a, NULL), 2);
	/* It still ends with its token. */
	h_expectf(a, NULL, "{\"cmd\":\"token_revoke\",\"token_id\":%lld}",
	    (long long)id);
	ck_assert_msg(h_closed(b), "session of a revoked token still open");
	/* A password login binds without it; a wrong one given is refused. */
	card_add(a, "7e57ca4f", NULL);
	h_expect(a, "bad_credentials", "{\"cmd\":\"card_add\","
	    "\"card\":\"7e57ca50\",\"password\":\"guess\"}");
	ck_assert_int_eq(card_count(a, NULL), 3);
	h_close(c);
	h_close(b);
	h_close(a);
	free(tok);
}
END_TEST

/* ---- card_drop on the machine port ------------------------------------ */

static void
tap_setup(void)
{
	srv = h_machine_server_start("vend_timeout = 3");
	h_admin(srv, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Big Drink\"}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":1,\"item\":\"Cola\",\"price\":10,\"stock\":5}",
	    "{\"cmd\":\"card_add\",\"card\":\"0d000016c2f28501\","
	    "\"user\":\"alice\"}",
	    "{\"cmd\":\"card_add\",\"card\":\"b0b0b0b0\","
	    "\"user\":\"bob\"}", NULL);
}

/* A controller for m1, registered; the test plays it line by line. */
static struct h_client *
ctl_connect(void)
{
	char err[512];
	struct h_client *c = h_tls_dial(srv->machine_port, "machine-m1", err,
	    sizeof(err));
	cJSON *r;

	ck_assert_msg(c != NULL, "%s", err);
	r = h_call(c, "{\"id\":1,\"cmd\":\"register\","
	    "\"slots\":[{\"slot\":1,\"stock\":5}]}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	return c;
}

static void
ledger_clean(void)
{
	ck_assert_int_eq(h_check_ledger(srv), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx"
	    " WHERE state = 'pending'"), 0);
}

/* Tap card at slot; the vend must come first, answered ok or not. */
static cJSON *
ctl_tap(struct h_client *c, const char *card, int slot, int vend_ok)
{
	cJSON *m;
	char line[160];

	snprintf(line, sizeof(line), "{\"id\":7,\"cmd\":\"card_drop\","
	    "\"card\":\"%s\",\"slot\":%d}", card, slot);
	h_send(c, line);
	m = h_ctl_read(c);
	if (vend_ok < 0) {
		return m;	/* refused: this is the reply */
	}
	ck_assert_msg(cJSON_IsString(cJSON_GetObjectItem(m, "cmd")) &&
	    strcmp(h_str(m, "cmd"), "vend") == 0,
	    "expected the vend before the reply, got %s", h_text(m));
	ck_assert_int_eq(h_num(m, "slot"), slot);
	snprintf(line, sizeof(line), "{\"id\":\"%s\",\"ok\":%s}",
	    h_str(m, "id"), vend_ok ? "true" : "false,\"error\":\"jammed\"");
	cJSON_Delete(m);
	h_send(c, line);
	return h_ctl_read(c);
}

START_TEST(card_tap_charges_owner)
{
	struct h_client *c = ctl_connect();
	cJSON *r = ctl_tap(c, "0D000016C2F28501", 1, 1);

	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 7);
	ck_assert_str_eq(h_str(r, "user"), "alice");
	ck_assert_int_eq(h_num(r, "balance"), 90);
	ck_assert_int_eq(h_sql_int(srv, "SELECT amount FROM tx WHERE id = %lld"
	    " AND kind = 'drop' AND state = 'completed' AND machine = 'm1'",
	    (long long)h_num(r, "tx")), -10);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(h_sql_int(srv, "SELECT stock FROM slots WHERE "
	    "machine = 'm1' AND slot = 1"), 4);
	ck_assert_int_gt(h_sql_int(srv, "SELECT last_used FROM cards WHERE "
	    "account = (SELECT account FROM users WHERE name = 'alice')"), 0);
	ledger_clean();
	h_close(c);
}
END_TEST

START_TEST(card_tap_nack_charges_nothing)
{
	struct h_client *c = ctl_connect();
	cJSON *r = ctl_tap(c, "0d000016c2f28501", 1, 0);

	H_ASSERT_ERROR(r, "drop_failed");
	ck_assert_int_eq(h_num(r, "id"), 7);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ledger_clean();
	h_close(c);
}
END_TEST

/*
 * insufficient_funds carries the balance that fell short, on the machine
 * port as on the member port (PROTOCOL.md section 2): a reader can show
 * the member what they have.
 */
START_TEST(card_tap_short_of_credit_says_balance)
{
	struct h_client *c = ctl_connect();
	cJSON *r;

	h_admin(srv, "{\"cmd\":\"credit\",\"user\":\"bob\",\"amount\":4,"
	    "\"note\":\"coins\"}", NULL);
	r = ctl_tap(c, "b0b0b0b0", 1, -1);
	H_ASSERT_ERROR(r, "insufficient_funds");
	ck_assert_int_eq(h_num(r, "id"), 7);
	ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItem(r, "balance")),
	    "insufficient_funds without balance: %s", h_text(r));
	ck_assert_int_eq(h_num(r, "balance"), 4);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "bob"), 4);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'drop'"), 0);
	ledger_clean();
	h_close(c);
}
END_TEST

START_TEST(card_tap_unknown_refused_and_throttled)
{
	struct h_client *c = ctl_connect();
	char card[16];
	cJSON *r;
	int i;

	for (i = 0; i < 5; i++) {
		snprintf(card, sizeof(card), "%08x", 0xbad0 + i);
		r = ctl_tap(c, card, 1, -1);
		H_ASSERT_ERROR(r, "bad_credentials");
		cJSON_Delete(r);
	}
	/* Throttled now, even for a good card; no vend was sent. */
	r = ctl_tap(c, "0d000016c2f28501", 1, -1);
	H_ASSERT_ERROR(r, "locked_out");
	ck_assert_int_ge(h_num(r, "retry_after"), 1);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'drop'"), 0);
	ledger_clean();
	h_close(c);
}
END_TEST

/*
 * A known card between unknown ones clears nothing: otherwise anyone
 * with one card of their own could guess at the reader for ever.  Bob's
 * card (no credit: insufficient_funds, nothing vended) after four
 * unknown cards, then a fifth unknown card: alice's card is locked out
 * and her money does not move.
 */
START_TEST(card_tap_known_card_unlocks_nothing)
{
	struct h_client *c = ctl_connect();
	char card[16];
	cJSON *r;
	int i;

	for (i = 0; i < 5; i++) {
		if (i == 4) {
			r = ctl_tap(c, "b0b0b0b0", 1, -1);
			H_ASSERT_ERROR(r, "insufficient_funds");
			cJSON_Delete(r);
		}
		snprintf(card, sizeof(card), "%08x", 0xbad0 + i);
		r = ctl_tap(c, card, 1, -1);
		H_ASSERT_ERROR(r, "bad_credentials");
		cJSON_Delete(r);
	}
	r = ctl_tap(c, "0d000016c2f28501", 1, -1);
	H_ASSERT_ERROR(r, "locked_out");
	ck_assert_int_ge(h_num(r, "retry_after"), 1);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'drop'"), 0);
	ck_assert(h_server_log_contains(srv, "machine m1: card_drop refused: "
	    "too many unknown cards"));
	ledger_clean();
	h_close(c);
}
END_TEST

START_TEST(card_tap_disabled_owner_refused)
{
	struct h_client *c = ctl_connect();
	struct h_client *a = h_connect_as(srv, "admin", "adminpw");
	cJSON *r;

	h_expect(a, NULL, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"disabled\":true}");
	r = ctl_tap(c, "0d000016c2f28501", 1, -1);
	H_ASSERT_ERROR(r, "bad_credentials");
	cJSON_Delete(r);
	/* The usual drop errors follow a known card: bob has no credit. */
	r = ctl_tap(c, "b0b0b0b0", 1, -1);
	H_ASSERT_ERROR(r, "insufficient_funds");
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ledger_clean();
	h_close(a);
	h_close(c);
}
END_TEST

START_TEST(card_tap_bad_arguments)
{
	struct h_client *c = ctl_connect();
	static const char *const bad[] = {
		"{\"id\":3,\"cmd\":\"card_drop\",\"slot\":1}",
		"{\"id\":3,\"cmd\":\"card_drop\",\"card\":\"xyz1\",\"slot\":1}",
		"{\"id\":3,\"cmd\":\"card_drop\",\"card\":\"abcd\",\"slot\":0}",
		"{\"id\":3,\"cmd\":\"card_drop\",\"card\":\"abcd\",\"slot\":1.5}",
		"{\"id\":3,\"cmd\":\"card_drop\",\"card\":\"abcd\"}",
	};
	size_t i;
	cJSON *r;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		h_send(c, bad[i]);
		r = h_ctl_read(c);
		H_ASSERT_ERROR(r, "bad_request");
		ck_assert_int_eq(h_num(r, "id"), 3);
		cJSON_Delete(r);
	}
	h_close(c);
}
END_TEST

START_TEST(card_tap_one_at_a_time)
{
	struct h_client *c = ctl_connect();
	cJSON *m, *r;
	char line[128];

	h_send(c, "{\"id\":7,\"cmd\":\"card_drop\","
	    "\"card\":\"0d000016c2f28501\",\"slot\":1}");
	m = h_ctl_read(c);
	ck_assert_str_eq(h_str(m, "cmd"), "vend");
	h_send(c, "{\"id\":8,\"cmd\":\"card_drop\","
	    "\"card\":\"b0b0b0b0\",\"slot\":1}");
	r = h_ctl_read(c);
	H_ASSERT_ERROR(r, "drop_in_progress");
	ck_assert_int_eq(h_num(r, "id"), 8);
	cJSON_Delete(r);
	snprintf(line, sizeof(line), "{\"id\":\"%s\",\"ok\":true}",
	    h_str(m, "id"));
	cJSON_Delete(m);
	h_send(c, line);
	r = h_ctl_read(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "id"), 7);
	cJSON_Delete(r);
	ledger_clean();
	h_close(c);
}
END_TEST

START_TEST(card_tap_controller_gone_settles)
{
	struct h_client *c = ctl_connect();
	cJSON *m;
	int64_t deadline;

	h_send(c, "{\"id\":7,\"cmd\":\"card_drop\","
	    "\"card\":\"0d000016c2f28501\",\"slot\":1}");
	m = h_ctl_read(c);
	ck_assert_str_eq(h_str(m, "cmd"), "vend");
	cJSON_Delete(m);
	h_close(c);
	deadline = now_ms() + 10000;
	while (h_sql_int(srv, "SELECT count(*) FROM tx WHERE state = "
	    "'failed'") == 0 && now_ms() < deadline) {
		usleep(50 * 1000);
	}
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ledger_clean();
}
END_TEST

/* Wait until SQL count query gives want; 1 when it did within 15 s. */
static int
wait_count(int64_t want, const char *sql)
{
	int64_t deadline = now_ms() + 15000;

	while (h_sql_int(srv, "%s", sql) != want && now_ms() < deadline) {
		usleep(100 * 1000);
	}
	return h_sql_int(srv, "%s", sql) == want;
}

static void
append_line(const char *path, const char *line)
{
	FILE *f = fopen(path, "a");

	ck_assert_ptr_nonnull(f);
	fputs(line, f);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * The reference controller, drink-machine, with its simulated reader:
 * a line appended to --card-file is a tap that buys through card_drop.
 */
START_TEST(card_tap_at_drink_machine)
{
	const char *build = getenv("BUILD");
	char *prog, *port, *ca = h_cert_path("ca.crt");
	char *crt = h_cert_path("machine-m1.crt");
	char *key = h_cert_path("machine-m1.key");
	char *cards = xasprintf("%s/cards.txt", srv->dir);
	char *log = xasprintf("%s/machine.log", srv->dir);
	int status, fd;
	pid_t pid;

	prog = xasprintf("%s/drink-machine", build != NULL && build[0] != '\0' ?
	    build : "build");
	port = xasprintf("%d", srv->machine_port);
	append_line(cards, "");
	if ((pid = fork()) == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		execl(prog, prog, "-H", "localhost", "-p", port, "--ca", ca,
		    "--cert", crt, "--key", key, "--simulate", "1:5",
		    "--vend-ms", "100", "--card-file", cards, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_msg(wait_count(1, "SELECT count(*) FROM sessions WHERE "
	    "machine = 'm1' AND ended IS NULL"), "drink-machine never came");
	append_line(cards, "0D000016C2F28501 1\n");
	ck_assert_msg(wait_count(1, "SELECT count(*) FROM tx WHERE kind = "
	    "'drop' AND state = 'completed'"), "the tap bought nothing");
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	/* An unknown card buys nothing; a good one again does. */
	append_line(cards, "deadbeef 1\nnot a line\n0d000016c2f28501 1\n");
	ck_assert_msg(wait_count(2, "SELECT count(*) FROM tx WHERE kind = "
	    "'drop' AND state = 'completed'"), "the second tap bought nothing");
	ck_assert_int_eq(h_balance(srv, "alice"), 80);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind = 'drop'"), 2);
	ck_assert_int_eq(h_sql_int(srv, "SELECT stock FROM slots WHERE "
	    "machine = 'm1' AND slot = 1"), 3);
	kill(pid, SIGTERM);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert(h_server_log_contains(srv, "card_drop refused: unknown "
	    "card"));
	ledger_clean();
	free(prog);
	free(port);
	free(ca);
	free(crt);
	free(key);
	free(cards);
	free(log);
}
END_TEST

static Suite *
card_suite(void)
{
	Suite *s = suite_create("card");
	TCase *tc;

	tc = h_tcase(s, "members bind, list and unbind cards", setup,
	    teardown, CARD_TIMEOUT);
	tcase_add_test(tc, card_add_list_del);
	tcase_add_test(tc, card_id_never_given_again);
	tcase_add_test(tc, card_stored_as_keyed_hash);
	tcase_add_test(tc, card_bound_once);
	tcase_add_test(tc, card_bad_arguments);
	tcase_add_test(tc, card_needs_login);
	tcase_add_test(tc, card_member_cannot_touch_others);
	tcase_add_test(tc, card_admin_forms);
	tcase_add_test(tc, card_limit_per_member);
	tcase_add_test(tc, card_add_guesses_locked_out);
	tcase_add_test(tc, card_add_by_token_needs_password);

	tc = h_tcase(s, "a tap at the machine is the owner's drop", tap_setup,
	    teardown, CARD_TIMEOUT);
	tcase_add_test(tc, card_tap_charges_owner);
	tcase_add_test(tc, card_tap_nack_charges_nothing);
	tcase_add_test(tc, card_tap_short_of_credit_says_balance);
	tcase_add_test(tc, card_tap_unknown_refused_and_throttled);
	tcase_add_test(tc, card_tap_known_card_unlocks_nothing);
	tcase_add_test(tc, card_tap_disabled_owner_refused);
	tcase_add_test(tc, card_tap_bad_arguments);
	tcase_add_test(tc, card_tap_one_at_a_time);
	tcase_add_test(tc, card_tap_controller_gone_settles);
	tcase_add_test(tc, card_tap_at_drink_machine);
	return s;
}

int
main(void)
{
	int failed;

	h_init();
	failed = h_run(card_suite());
	return h_finish(failed);
}
