/*
 * Protocol vocabulary: names, error codes, and the raw request scanner that
 * recovers what cJSON loses (integer literals, id text, NUL escapes).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "harness.h"

START_TEST(names_follow_the_pattern)
{
	ck_assert(proto_valid_name("a"));
	ck_assert(proto_valid_name("alice"));
	ck_assert(proto_valid_name("m1.big-drink_2"));
	ck_assert(proto_valid_name("abcdefghijklmnopqrstuvwxyz012345"));
	ck_assert(!proto_valid_name("abcdefghijklmnopqrstuvwxyz0123456"));
	ck_assert(!proto_valid_name(""));
	ck_assert(!proto_valid_name(NULL));
	ck_assert(!proto_valid_name("Alice"));
	ck_assert(!proto_valid_name("1abc"));
	ck_assert(!proto_valid_name("_abc"));
	ck_assert(!proto_valid_name("ab c"));
	ck_assert(!proto_valid_name("ab/c"));
	ck_assert(!proto_valid_name("@sales"));
	ck_assert(!proto_valid_name("caf\xc3\xa9"));
}
END_TEST

/* A cut at a byte count never splits a UTF-8 character. */
START_TEST(utf8_prefix_cuts_on_a_character_boundary)
{
	/* "caf\u00e9 \u2615": e-acute is 2 bytes (3-4), the cup 3 (6-8). */
	const char *s = "caf\xc3\xa9 \xe2\x98\x95";

	ck_assert_int_eq(str_utf8_prefix(s, 100), 9);
	ck_assert_int_eq(str_utf8_prefix(s, 9), 9);
	ck_assert_int_eq(str_utf8_prefix(s, 8), 6);
	ck_assert_int_eq(str_utf8_prefix(s, 7), 6);
	ck_assert_int_eq(str_utf8_prefix(s, 6), 6);
	ck_assert_int_eq(str_utf8_prefix(s, 4), 3);
	ck_assert_int_eq(str_utf8_prefix(s, 3), 3);
	ck_assert_int_eq(str_utf8_prefix(s, 0), 0);
	ck_assert_int_eq(str_utf8_prefix(s, -1), 0);
	ck_assert_int_eq(str_utf8_prefix("", 5), 0);
}
END_TEST

START_TEST(error_codes_round_trip)
{
	int i;

	for (i = 1; i < ERR_COUNT; i++) {
		ck_assert_int_eq(proto_err_parse(proto_err_code(i)), i);
		ck_assert(strlen(proto_err_message(i)) > 0);
	}
	ck_assert_str_eq(proto_err_code(ERR_INSUFFICIENT_FUNDS),
	    "insufficient_funds");
	ck_assert_int_eq(proto_err_parse("no_such_code"), -1);
}
END_TEST

static struct proto_scan
scan_ok(const char *s)
{
	struct proto_scan ps;

	ck_assert_msg(proto_scan(s, strlen(s), &ps) == 0, "scan failed: %s",
	    s);
	return ps;
}

START_TEST(scanner_marks_integer_literals)
{
	struct proto_scan ps = scan_ok("{\"a\":1,\"b\":1.5,\"c\":1e2,"
	    "\"d\":-7,\"e\":\"x\",\"f\":[1,2],\"g\":true,\"h\":null,"
	    "\"i\":{\"j\":1}}");

	ck_assert_uint_eq(ps.n, 9);
	ck_assert(ps.m[0].integer);
	ck_assert(!ps.m[1].integer);
	ck_assert(!ps.m[2].integer);
	ck_assert(ps.m[3].integer);
	ck_assert(!ps.m[4].integer);
	ck_assert(!ps.m[5].integer);
	ck_assert(!ps.m[6].integer);
	ck_assert(!ps.m[7].integer);
	ck_assert(!ps.m[8].integer);
	ck_assert(!ps.has_nul);
	proto_scan_free(&ps);
}
END_TEST

START_TEST(scanner_records_raw_value_text)
{
	const char *s = "{ \"id\" : 12345678901234567890 , \"cmd\":\"x\\\"y\"}";
	struct proto_scan ps = scan_ok(s);

	ck_assert_uint_eq(ps.n, 2);
	ck_assert_int_eq(strncmp(s + ps.m[0].off, "12345678901234567890",
	    ps.m[0].len), 0);
	ck_assert_uint_eq(ps.m[0].len, 20);
	ck_assert_int_eq(strncmp(s + ps.m[1].off, "\"x\\\"y\"", ps.m[1].len),
	    0);
	proto_scan_free(&ps);
}
END_TEST

START_TEST(scanner_flags_nul_escapes)
{
	struct proto_scan ps = scan_ok("{\"user\":\"al\\u0000ice\"}");

	ck_assert(ps.has_nul);
	proto_scan_free(&ps);
	ps = scan_ok("{\"user\":\"al\\\\u0000ice\"}");
	/* An escaped backslash followed by text is not a NUL. */
	ck_assert(!ps.has_nul);
	proto_scan_free(&ps);
}
END_TEST

START_TEST(scanner_rejects_non_objects)
{
	static const char *const bad[] = {
		"", "[]", "\"x\"", "12", "nul", "{", "{\"a\"}", "{\"a\":}",
		"{\"a\":1,}x", "{\"a\":\"unterminated}", "{\"a\":1 \"b\":2}",

	};
	struct proto_scan ps;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(proto_scan(bad[i], strlen(bad[i]), &ps) != 0,
		    "accepted: %s", bad[i]);
	}
	ck_assert(proto_scan("{\"a\":1}\0x", 9, &ps) != 0);
}
END_TEST

START_TEST(scanner_flags_raw_control_characters)
{
	/* Found by fuzzing: a raw newline in "id" was echoed back raw. */
	static const char *const bad[] = {
		"{\"id\":\"s\n\",\"cmd\":\"ping\"}", "{\"id\":\"\r\"}",
		"{\"a\":[\"\x01\"]}",
	};
	struct proto_scan ps;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ps = scan_ok(bad[i]);
		ck_assert_msg(ps.has_ctl, "not flagged: %s", bad[i]);
		proto_scan_free(&ps);
	}
	ps = scan_ok("{\"id\":\"s\n\",\"b\":\"ok\"}");
	ck_assert(!ps.m[0].clean);
	ck_assert(ps.m[1].clean);
	proto_scan_free(&ps);
}
END_TEST

START_TEST(scanner_checks_utf8)
{
	static const char *const good[] = {
		"{\"a\":\"caf\xc3\xa9\"}", "{\"a\":\"\xe2\x82\xac\"}",
		"{\"a\":\"\xf0\x9f\x8d\xba\"}", "{\"a\":\"\xef\xbf\xbf\"}",
	};
	static const char *const bad[] = {
		"{\"a\":\"n\xffn\"}",		/* never valid */
		"{\"a\":\"\xc0\xaf\"}",		/* overlong '/' */
		"{\"a\":\"\xe0\x80\xaf\"}",		/* overlong */
		"{\"a\":\"\xed\xa0\x80\"}",		/* surrogate */
		"{\"a\":\"\xf4\x90\x80\x80\"}",	/* above U+10FFFF */
		"{\"a\":\"\xc3\"}",			/* truncated */
		"{\"a\":\"\x80\"}",			/* lone continuation */
	};
	struct proto_scan ps;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ps = scan_ok(good[i]);
		ck_assert_msg(!ps.bad_utf8, "refused: %s", good[i]);
		proto_scan_free(&ps);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ps = scan_ok(bad[i]);
		ck_assert_msg(ps.bad_utf8, "accepted #%zu", i);
		proto_scan_free(&ps);
	}
}
END_TEST

START_TEST(scanner_finds_members_by_raw_key)
{
	const char *s = "{\"amount\":5,\"id\":\"x\",\"amount\":6}";
	struct proto_scan ps = scan_ok(s);
	const struct proto_member *m = proto_scan_find(&ps, s, "amount");

	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(strncmp(s + m->off, "5", m->len), 0);
	ck_assert_ptr_nonnull(proto_scan_find(&ps, s, "id"));
	ck_assert_ptr_null(proto_scan_find(&ps, s, "amoun"));
	proto_scan_free(&ps);
}
END_TEST

START_TEST(scanner_bounds_nesting)
{
	char *deep = xmalloc(20020);
	struct proto_scan ps;
	int i;

	strcpy(deep, "{\"a\":");
	for (i = 0; i < 10000; i++) {
		deep[5 + i] = '[';
	}
	deep[5 + 10000] = '\0';
	/* Unterminated and too deep: refused either way, without recursion. */
	ck_assert(proto_scan(deep, strlen(deep), &ps) != 0);
	for (i = 0; i < 10000; i++) {
		deep[5 + 10000 + i] = ']';
	}
	strcpy(deep + 20005, "}");
	ck_assert_int_eq(proto_scan(deep, strlen(deep), &ps), 0);
	ck_assert(ps.too_deep);
	proto_scan_free(&ps);
	free(deep);
	ps = scan_ok("{\"a\":[[[[1]]]]}");
	ck_assert_uint_eq(ps.n, 1);
	proto_scan_free(&ps);
}
END_TEST

START_TEST(empty_object_scans)
{
	struct proto_scan ps = scan_ok(" { } ");

	ck_assert_uint_eq(ps.n, 0);
	proto_scan_free(&ps);
}
END_TEST

START_TEST(reply_lines_end_in_newline)
{
	cJSON *o = cJSON_CreateObject();
	size_t len;
	char *line;

	cJSON_AddBoolToObject(o, "ok", 1);
	cJSON_AddNumberToObject(o, "balance", 1000000000);
	line = proto_line(o, &len);
	ck_assert_str_eq(line, "{\"ok\":true,\"balance\":1000000000}\n");
	ck_assert_uint_eq(len, strlen(line));
	free(line);
	cJSON_Delete(o);
}
END_TEST

/*
 * proto_print writes what cJSON writes: numbers of every kind (integers
 * each side of 10^15, -0, fractions, the extremes, NaN), strings with
 * every escape, nesting, raw text; and refuses what cJSON refuses.
 */
START_TEST(printer_writes_what_cjson_writes)
{
	static const double numbers[] = { 0, -0.0, 1, -1, 7, 150, 2147483647,
		2147483648.0, -2147483649.0, 1e9, 999999999999999.0,
		-999999999999999.0, 1e15, -1e15, 1234567890123456789.0,
		0.1, -0.5, 1.5, 3.14159, 1.0 / 3, 2.0 / 3, 1e-7, 5e-324,
		1.7976931348623157e308, -1e300, 123456.789, 0.30000000000000004 };
	static const char *strings[] = { "", "plain", "quote \" here",
		"back\\slash", "\b\f\n\r\t", "\x01\x1f\x7f", "caf\xc3\xa9",
		"/slash/", "\xe2\x82\xac and \xf0\x9f\x8d\xba", "tail\\" };
	cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray(), *in, *raw;
	char *want, *got, *text, key[32];
	size_t i, len;

	for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		snprintf(key, sizeof(key), "n%zu", i);
		cJSON_AddNumberToObject(o, key, numbers[i]);
		cJSON_AddItemToArray(a, cJSON_CreateNumber(numbers[i]));
	}
	cJSON_AddNumberToObject(o, "nan", 0.0 / 0.0);
	cJSON_AddNumberToObject(o, "inf", -1.0 / 0.0);
	for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		cJSON_AddStringToObject(o, strings[i], strings[i]);
	}
	in = cJSON_AddObjectToObject(o, "nested");
	cJSON_AddItemToObject(in, "empty_array", cJSON_CreateArray());
	cJSON_AddItemToObject(in, "empty_object", cJSON_CreateObject());
	cJSON_AddTrueToObject(in, "t");
	cJSON_AddFalseToObject(in, "f");
	cJSON_AddNullToObject(in, "z");
	cJSON_AddRawToObject(in, "raw", "[1,2]");
	/* A member put in without a name (and a string without text). */
	cJSON_AddItemToArray(in, cJSON_CreateNumber(5));
	cJSON_AddItemToObject(in, "none", cJSON_CreateStringReference(NULL));
	cJSON_AddItemToObject(o, "array", a);

	want = cJSON_PrintUnformatted(o);
	got = proto_print(o, &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	ck_assert_uint_eq(len, strlen(want));
	free(got);
	cJSON_free(want);
	/* The line is the same text and a newline. */
	got = proto_line(a, &len);
	want = cJSON_PrintUnformatted(a);
	ck_assert_uint_eq(len, strlen(want) + 1);
	ck_assert_int_eq(strncmp(got, want, len - 1), 0);
	ck_assert_int_eq(got[len - 1], '\n');
	free(got);
	cJSON_free(want);
	/* Integers print as their digits, not in exponent form. */
	got = proto_print(cJSON_GetObjectItem(o, "n10"), NULL);
	ck_assert_str_eq(got, "999999999999999");
	free(got);
	got = proto_print(cJSON_GetObjectItem(o, "n12"), NULL);
	ck_assert_str_eq(got, "1e+15");
	free(got);
	/* A raw item with no text: neither prints it. */
	raw = cJSON_GetObjectItem(in, "raw");
	text = raw->valuestring;
	raw->valuestring = NULL;
	ck_assert_ptr_null(cJSON_PrintUnformatted(o));
	ck_assert_ptr_null(proto_print(o, NULL));
	ck_assert_ptr_null(proto_print(NULL, NULL));
	raw->valuestring = text;
	cJSON_Delete(o);
}
END_TEST

/* A reply cJSON cannot print either stops the server, not a garbled line. */
START_TEST(an_unprintable_reply_is_fatal)
{
	cJSON *o = cJSON_CreateObject();
	size_t len;

	cJSON_AddRawToObject(o, "raw", "1");
	cJSON_free(cJSON_GetObjectItem(o, "raw")->valuestring);
	cJSON_GetObjectItem(o, "raw")->valuestring = NULL;
	(void)proto_line(o, &len);
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	tc = tcase_create("names");
	tcase_add_test(tc, names_follow_the_pattern);
	suite_add_tcase(s, tc);
	tc = tcase_create("error codes");
	tcase_add_test(tc, error_codes_round_trip);
	tcase_add_test(tc, utf8_prefix_cuts_on_a_character_boundary);
	suite_add_tcase(s, tc);
	tc = tcase_create("request scanner");
	tcase_add_test(tc, scanner_marks_integer_literals);
	tcase_add_test(tc, scanner_records_raw_value_text);
	tcase_add_test(tc, scanner_flags_nul_escapes);
	tcase_add_test(tc, scanner_rejects_non_objects);
	tcase_add_test(tc, scanner_bounds_nesting);
	tcase_add_test(tc, scanner_flags_raw_control_characters);
	tcase_add_test(tc, scanner_finds_members_by_raw_key);
	tcase_add_test(tc, scanner_checks_utf8);
	tcase_add_test(tc, empty_object_scans);
	suite_add_tcase(s, tc);
	tc = tcase_create("reply lines");
	tcase_add_test(tc, reply_lines_end_in_newline);
	tcase_add_test(tc, printer_writes_what_cjson_writes);
	tcase_add_exit_test(tc, an_unprintable_reply_is_fatal, 1);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	Suite *suite = proto_suite();
	int failed;

	failed = h_run(suite);
	return failed == 0 ? 0 : 1;
}
