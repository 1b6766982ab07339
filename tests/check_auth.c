/*
 * Passwords (Argon2id) and login throttling.
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
