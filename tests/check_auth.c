/*
 * Passwords (Argon2id), login throttling, and the throttling of card
 * guesses, which no success clears.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "drinkd.h"
#include "harness.h"

START_TEST(hash_is_argon2id_with_owasp_parameters)
{
	char *h = auth_hash("correct horse");

	ck_assert_ptr_nonnull(h);
	ck_assert_msg(strncmp(h, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0,
	    "%s", h);
	ck_assert(auth_verify(h, "correct horse"));
	ck_assert(!auth_verify(h, "correct horse "));
	ck_assert(!auth_verify(h, ""));
	free(h);
}
END_TEST

START_TEST(same_password_gets_a_fresh_salt)
{
	char *a = auth_hash("pw"), *b = auth_hash("pw");

	ck_assert_str_ne(a, b);
	free(a);
	free(b);
}
END_TEST

START_TEST(unknown_user_never_verifies)
{
	ck_assert(!auth_verify(NULL, "anything"));
}
END_TEST

START_TEST(five_failures_lock_the_account_then_it_doubles)
{
	int i;

	for (i = 0; i < 4; i++) {
		auth_failed("carol", "10.0.0.1");
		ck_assert_int_eq(auth_throttled("carol", "10.0.0.1"), 0);
	}
	auth_failed("carol", "10.0.0.1");
	ck_assert_int_eq(auth_throttled("carol", "10.0.0.1"), 1);
	/* The account is locked from any address... */
	ck_assert_int_eq(auth_throttled("carol", "10.0.0.2"), 1);
	/* ...and the address for any account. */
	ck_assert_int_eq(auth_throttled("dave", "10.0.0.1"), 1);
	ck_assert_int_eq(auth_throttled("dave", "10.0.0.2"), 0);
	auth_failed("carol", "10.0.0.1");
	ck_assert_int_eq(auth_throttled("carol", "10.0.0.3"), 2);
	auth_failed("carol", "10.0.0.1");
	ck_assert_int_eq(auth_throttled("carol", "10.0.0.3"), 4);
	for (i = 0; i < 20; i++) {
		auth_failed("carol", "10.0.0.1");
	}
	ck_assert_int_eq(auth_throttled("carol", "10.0.0.3"), 900);
}
END_TEST

START_TEST(success_clears_the_record)
{
	int i;

	for (i = 0; i < 4; i++) {
		auth_failed("erin", "10.0.0.9");
	}
	auth_succeeded("erin", "10.0.0.9");
	auth_failed("erin", "10.0.0.9");
	ck_assert_int_eq(auth_throttled("erin", "10.0.0.9"), 0);
}
END_TEST

/*
 * Failures under 8202 names that are no account, from as many addresses,
 * each also an unknown card at IBUTTON: twice what the table holds.
 */
static void
flood(void)
{
	char name[32], address[32];
	int i;

	for (i = 0; i < 2 * 4096 + 10; i++) {
		snprintf(name, sizeof(name), "flood%d", i);
		snprintf(address, sizeof(address), "10.200.%d.%d", i / 256,
		    i % 256);
		auth_failed(name, address);
		auth_card_guess(AUTH_CARD_IBUTTON, NULL, address);
	}
}

/*
 * A flood of failures under many names from many addresses, more than
 * the throttle's table holds, does not push an account's record out and
 * so end its lock: the account stays locked, and its record is its own
 * (a success clears it).
 */
START_TEST(a_flood_of_failures_leaves_an_account_locked)
{
	int i;

	for (i = 0; i < 15; i++) {
		auth_account_failed("grace", "10.9.0.1");
	}
	ck_assert_int_eq(auth_throttled("grace", "10.9.0.2"), 900);
	flood();
	/* The flood's own records are there (the newest at least). */
	for (i = 0; i < 4; i++) {
		auth_failed("flood8201", "10.200.32.9");
	}
	ck_assert_int_eq(auth_throttled("flood8201", "10.9.0.2"), 1);
	ck_assert_int_ge(auth_throttled("grace", "10.9.0.3"), 890);
	auth_succeeded("grace", "10.9.0.3");
	ck_assert_int_eq(auth_throttled("grace", "10.9.0.3"), 0);
	auth_account_failed("grace", "10.9.0.3");
	ck_assert_int_eq(auth_throttled("grace", "10.9.0.3"), 0);
}
END_TEST

/*
 * Nor does it end the card-guess lock of a user or of a machine's reader,
 * or the lock on a board's password.
 */
START_TEST(a_flood_of_failures_leaves_card_and_board_locks)
{
	int i;

	for (i = 0; i < 15; i++) {
		auth_card_guess(AUTH_CARD_ADD, "bob", "10.8.0.1");
		auth_card_guess(AUTH_CARD_TAP, NULL, "m1");
		auth_key_failed("tini:m2");
	}
	ck_assert_int_eq(auth_card_throttled(AUTH_CARD_ADD, "bob",
	    "10.8.0.2"), 900);
	ck_assert_int_eq(auth_card_throttled(AUTH_CARD_TAP, NULL, "m1"), 900);
	ck_assert_int_eq(auth_key_throttled("tini:m2"), 900);
	flood();
	ck_assert_int_ge(auth_card_throttled(AUTH_CARD_ADD, "bob",
	    "10.8.0.3"), 890);
	ck_assert_int_ge(auth_card_throttled(AUTH_CARD_TAP, NULL, "m1"), 890);
	ck_assert_int_ge(auth_key_throttled("tini:m2"), 890);
	/* The board's right password clears its record as before. */
	auth_key_succeeded("tini:m2");
	ck_assert_int_eq(auth_key_throttled("tini:m2"), 0);
	auth_key_failed("tini:m2");
	ck_assert_int_eq(auth_key_throttled("tini:m2"), 0);
}
END_TEST

/*
 * An IPv6 client can speak from any address of its /64: the address
 * throttle counts the /64, or one host could guess without end by
 * changing address every few tries.  IPv4 addresses count one by one.
 */
START_TEST(ipv6_addresses_count_by_their_64)
{
	char address[64];
	int i;

	for (i = 0; i < 5; i++) {
		snprintf(address, sizeof(address), "2001:db8:1:2::%x", i + 1);
		auth_failed(NULL, address);
	}
	ck_assert_int_eq(auth_throttled(NULL, "2001:db8:1:2:ffff::9"), 1);
	ck_assert_int_eq(auth_throttled("frank", "2001:db8:1:2::77"), 1);
	/* The next /64 is another place. */
	ck_assert_int_eq(auth_throttled(NULL, "2001:db8:1:3::1"), 0);
	/* A success from any address of it clears the /64's record. */
	auth_succeeded("frank", "2001:db8:1:2::abcd");
	ck_assert_int_eq(auth_throttled(NULL, "2001:db8:1:2::1"), 0);
	for (i = 0; i < 5; i++) {
		snprintf(address, sizeof(address), "10.7.0.%d", i + 1);
		auth_failed(NULL, address);
	}
	ck_assert_int_eq(auth_throttled(NULL, "10.7.0.9"), 0);
	/* Card guesses at IBUTTON from an address are counted so too. */
	for (i = 0; i < 5; i++) {
		snprintf(address, sizeof(address), "2001:db8:5::%x", i + 1);
		auth_card_guess(AUTH_CARD_IBUTTON, NULL, address);
	}
	ck_assert_int_eq(auth_card_throttled(AUTH_CARD_IBUTTON, NULL,
	    "2001:db8:5::99"), 1);
}
END_TEST

/*
 * Connection limits count places too: nine connections not logged in
 * from nine addresses of one /64 are nine from one place, so with
 * max_unauth_per_ip 8 the ninth closes the oldest, as from one address.
 */
START_TEST(ipv6_connections_count_by_their_64)
{
	struct client c[12];
	char place[CLIENT_PLACE_MAX];
	int i;

	client_place("2001:db8:1:2:3:4:5:6", place, sizeof(place));
	ck_assert_str_eq(place, "2001:db8:1:2::/64");
	client_place("10.0.0.1", place, sizeof(place));
	ck_assert_str_eq(place, "10.0.0.1");
	memset(c, 0, sizeof(c));
	for (i = 0; i < 12; i++) {
		c[i].kind = CLIENT_MEMBER;
		c[i].pool = CLIENT_POOL_MEMBER;
		c[i].fd = -1;
		if (i < 9) {
			snprintf(c[i].address, sizeof(c[i].address),
			    "2001:db8:9:9::%x", i + 1);
		} else {
			snprintf(c[i].address, sizeof(c[i].address),
			    "10.9.0.%d", i + 1);
		}
		ck_assert_int_eq(client_admit(&c[i], 100, 8), 0);
	}
	ck_assert(c[8].made_room);
	ck_assert(c[0].evicted);
	ck_assert(!c[1].evicted);
	/* IPv4 addresses are places of their own. */
	ck_assert(!c[9].made_room && !c[10].made_room && !c[11].made_room);
	for (i = 0; i < 12; i++) {
		client_remove(&c[i]);
	}
	ck_assert_int_eq(client_count(), 0);
}
END_TEST

/* ---- card guesses ---------------------------------------------------- */

static int64_t fake_now = 1000000;

static int64_t
fake_clock(void)
{
	return fake_now;
}

START_TEST(card_guesses_lock_and_no_success_clears_them)
{
	int i;

	for (i = 0; i < 4; i++) {
		auth_card_guess(AUTH_CARD_IBUTTON, NULL, "10.1.0.1");
		ck_assert_int_eq(auth_card_throttled(AUTH_CARD_IBUTTON, NULL,
		    "10.1.0.1"), 0);
	}
	/* Whatever succeeds from that address clears nothing of it. */
	auth_succeeded("bob", "10.1.0.1");
	auth_key_succeeded("card:10.1.0.1");
	auth_card_guess(AUTH_CARD_IBUTTON, NULL, "10.1.0.1");
	ck_assert_int_eq(auth_card_throttled(AUTH_CARD_IBUTTON, NULL,
	    "10.1.0.1"), 1);
	/* Kinds and places are counted apart, and apart from logins. */
	ck_assert_int_eq(auth_card_throttled(AUTH_CARD_IBUTTON, NULL,
	    "10.1.0.2"), 0);
	ck_assert_int_eq(auth_card_throttled(AUTH_CARD_ADD, NULL, "10.1.0.1"),
	    0);
	ck_assert_int_eq(auth_card_throttled(AUTH_CARD_TAP, NULL, "10.1.0.1"),
	    0);
	ck_assert_int_eq(auth_throttled("bob", "10.1.0.1"), 0);
}
END_TEST

START_TEST(card_guesses_count_per_user_and_per_place)
{
	int i;

	for (i = 0; i < 5; i++) {
		auth_card_guess(AUTH_CARD_ADD, "bob", "10.2.0.1");
	}
	/* bob from anywhere, anyone from bob's address. */
	ck_assert_int_eq(auth_card_throttled(AUTH_CARD_ADD, "bob",
	    "10.2.0.9"), 1);
	ck_assert_int_eq(auth_card_throttled(AUTH_CARD_ADD, "carol",
	    "10.2.0.1"), 1);
	ck_assert_int_eq(auth_card_throttled(AUTH_CARD_ADD, "carol",
	    "10.2.0.9"), 0);
	/* The schedule is the login schedule. */
	for (i = 0; i < 20; i++) {
		auth_card_guess(AUTH_CARD_ADD, "bob", "10.2.0.1");
	}
	ck_assert_int_eq(auth_card_throttled(AUTH_CARD_ADD, "bob",
	    "10.2.0.9"), 900);
}
END_TEST

START_TEST(card_guesses_lapse_an_hour_after_the_last)
{
	int i;

	auth_set_clock(fake_clock);
	for (i = 0; i < 5; i++) {
		auth_card_guess(AUTH_CARD_TAP, NULL, "m1");
		auth_failed("dave", "10.3.0.1");
	}
	ck_assert_int_eq(auth_card_throttled(AUTH_CARD_TAP, NULL, "m1"), 1);
	/* Within the hour the count goes on: the 6th locks for 2 s. */
	fake_now += 3599 * 1000;
	ck_assert_int_eq(auth_card_throttled(AUTH_CARD_TAP, NULL, "m1"), 0);
	auth_card_guess(AUTH_CARD_TAP, NULL, "m1");
	ck_assert_int_eq(auth_card_throttled(AUTH_CARD_TAP, NULL, "m1"), 2);
	/* An hour after the last guess the record is gone. */
	fake_now += 3600 * 1000;
	auth_card_guess(AUTH_CARD_TAP, NULL, "m1");
	ck_assert_int_eq(auth_card_throttled(AUTH_CARD_TAP, NULL, "m1"), 0);
	/* Password failures do not lapse: only a success clears them. */
	auth_failed("dave", "10.3.0.1");
	ck_assert_int_eq(auth_throttled("dave", "10.3.0.9"), 2);
	auth_set_clock(NULL);
}
END_TEST

static Suite *
auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc;

	tc = tcase_create("passwords");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, hash_is_argon2id_with_owasp_parameters);
	tcase_add_test(tc, same_password_gets_a_fresh_salt);
	tcase_add_test(tc, unknown_user_never_verifies);
	suite_add_tcase(s, tc);
	tc = tcase_create("throttling");
	tcase_add_test(tc, five_failures_lock_the_account_then_it_doubles);
	tcase_add_test(tc, success_clears_the_record);
	tcase_add_test(tc, a_flood_of_failures_leaves_an_account_locked);
	tcase_add_test(tc, a_flood_of_failures_leaves_card_and_board_locks);
	tcase_add_test(tc, ipv6_addresses_count_by_their_64);
	tcase_add_test(tc, ipv6_connections_count_by_their_64);
	suite_add_tcase(s, tc);
	tc = tcase_create("card guesses");
	tcase_add_test(tc, card_guesses_lock_and_no_success_clears_them);
	tcase_add_test(tc, card_guesses_count_per_user_and_per_place);
	tcase_add_test(tc, card_guesses_lapse_an_hour_after_the_last);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	Suite *suite = auth_suite();
	int failed;

	log_init("check_auth", 1, LOG_LEVEL_WARN);
	if (auth_init() != 0) {
		return 1;
	}
	failed = h_run(suite);
	return failed == 0 ? 0 : 1;
}
