/*
 * Cards at the machine (PROTOCOL.md section 11) over real TLS: binding,
 * listing and unbinding for oneself and, as an admin, for others; a card
 * bound once only; UIDs stored only as a keyed hash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	ck_assert_ptr_null(strstr(h_text(r), "16C2F2"));
	cJSON_Delete(r);
	h_expectf(c, NULL, "{\"cmd\":\"card_del\",\"card_id\":%lld}",
	    (long long)id);
	ck_assert_int_eq(card_count(c, NULL), 0);
	h_expectf(c, "bad_request", "{\"cmd\":\"card_del\",\"card_id\":%lld}",
	    (long long)id);
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
	h_expectf(adm, NULL, "{\"cmd\":\"card_del\",\"card_id\":%lld,"
	    "\"user\":\"bob\"}", (long long)id);
	ck_assert_int_eq(card_count(b, NULL), 0);
	h_close(adm);
	h_close(b);
}
END_TEST

START_TEST(card_limit_per_member)
{
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	char uid[16];
	int i;

	for (i = 0; i < 32; i++) {
		snprintf(uid, sizeof(uid), "%08x", 0x1000 + i);
		card_add(c, uid, NULL);
	}
	h_expect(c, "bad_request", "{\"cmd\":\"card_add\",\"card\":\"ffffffff\"}");
	ck_assert_int_eq(card_count(c, NULL), 32);
	h_close(c);
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
	tcase_add_test(tc, card_stored_as_keyed_hash);
	tcase_add_test(tc, card_bound_once);
	tcase_add_test(tc, card_bad_arguments);
	tcase_add_test(tc, card_needs_login);
	tcase_add_test(tc, card_member_cannot_touch_others);
	tcase_add_test(tc, card_admin_forms);
	tcase_add_test(tc, card_limit_per_member);
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
