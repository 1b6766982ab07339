/*
 * The dispatcher (server/cmd.c) without a network: request parsing, id
 * echo, role checks from the command table, and argument validation with
 * the error code each bad input must produce.
 */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drinkd.h"
#include "harness.h"

static char dir[] = "/tmp/drink-dispatch-XXXXXX";
static struct config cfg;
static struct server srv;
static struct session sess;

static void
setup(void)
{
	char err[256], path[600];

	strcpy(dir, "/tmp/drink-dispatch-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	config_init(&cfg);
	srv.cfg = &cfg;
	srv.db = db_open(path, 1, err, sizeof(err));
	ck_assert_msg(srv.db != NULL, "%s", err);
	srv.vends = vend_reg_new(1000, NULL, NULL);
	ck_assert_int_eq(db_user_add(srv.db, NULL, "alice", "x", "member", 10),
	    ERR_NONE);
	ck_assert_int_eq(db_user_add(srv.db, NULL, "bob", "x", "member", 0),
	    ERR_NONE);
	memset(&sess, 0, sizeof(sess));
	sess.peer.srv = &srv;
	snprintf(sess.peer.client.address, sizeof(sess.peer.client.address),
	    "127.0.0.1");
}

static void
teardown(void)
{
	char cmd[600];

	db_close(srv.db);
	vend_reg_free(srv.vends);
	config_free(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
as(const char *user, int admin)
{
	sess.logged_in = 1;
	sess.admin = admin;
	snprintf(sess.user, sizeof(sess.user), "%s", user);
}

/* Dispatch one line; returns the reply text without its newline. */
static char *
call(const char *line)
{
	size_t len;
	char *copy = xstrdup(line), *out;

	out = cmd_dispatch(&sess, copy, strlen(copy), &len);
	free(copy);
	ck_assert_uint_gt(len, 0);
	ck_assert_int_eq(out[len - 1], '\n');
	ck_assert_ptr_null(memchr(out, '\n', len - 1));
	out[len - 1] = '\0';
	return out;
}

static void
expect(const char *line, const char *want)
{
	char *got = call(line);

	ck_assert_msg(strstr(got, want) != NULL, "%s\n  got  %s\n  want %s",
	    line, got, want);
	free(got);
}

static void
expect_error(const char *line, const char *code)
{
	char want[80];

	snprintf(want, sizeof(want), "\"ok\":false,\"error\":\"%s\"", code);
	expect(line, want);
}

static int
audit_count(const char *where)
{
	char path[600], *sql;
	sqlite3 *h;
	sqlite3_stmt *st;
	int n;

	snprintf(path, sizeof(path), "%s/t.db", dir);
	ck_assert_int_eq(sqlite3_open(path, &h), SQLITE_OK);
	sql = xasprintf("SELECT count(*) FROM audit WHERE %s", where);
	ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	free(sql);
	return n;
}

static int
idem_count(void)
{
	char path[600];
	sqlite3 *h;
	sqlite3_stmt *st;
	int n;

	snprintf(path, sizeof(path), "%s/t.db", dir);
	ck_assert_int_eq(sqlite3_open(path, &h), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(h, "SELECT count(*) FROM idem", -1,
	    &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

START_TEST(id_is_echoed_verbatim_or_omitted)
{
	char *r;

	expect("{\"id\":7,\"cmd\":\"ping\"}", "{\"id\":7,\"ok\":true");
	expect("{\"id\":\"a b\",\"cmd\":\"ping\"}", "{\"id\":\"a b\",\"ok\"");
	expect("{\"id\":123456789012345678901234,\"cmd\":\"ping\"}",
	    "{\"id\":123456789012345678901234,\"ok\":true");
	expect("{\"id\":\"\\u00e9\",\"cmd\":\"ping\"}",
	    "{\"id\":\"\\u00e9\",\"ok\"");
	r = call("{\"cmd\":\"ping\"}");
	ck_assert_str_eq(r, "{\"ok\":true,\"pong\":true}");
	free(r);
	expect("{\"id\":9,\"cmd\":\"nope\"}",
	    "{\"id\":9,\"ok\":false,\"error\":\"unknown_command\"");
	expect_error("{\"id\":1.5,\"cmd\":\"ping\"}", "bad_request");
	expect_error("{\"id\":[1],\"cmd\":\"ping\"}", "bad_request");
	/* Refused lines keep a usable id; unusable ids are left out. */
	expect("{\"id\":5,\"cmd\":\"ping\",\"data\":\"a\\u0000\"}",
	    "{\"id\":5,\"ok\":false,\"error\":\"bad_request\"");
	expect("{\"id\":6,\"cmd\":\"ping\",\"data\":\"\x01\"}",
	    "{\"id\":6,\"ok\":false,\"error\":\"bad_request\"");
	expect("{\"id\":\"\x01\",\"cmd\":\"ping\"}",
	    "{\"ok\":false,\"error\":\"bad_request\"");
	expect("{\"id\":1-2,\"cmd\":\"ping\"}",
	    "{\"ok\":false,\"error\":\"bad_request\"");
}
END_TEST

/*
 * Numbers as JSON writes them, or the line is not JSON: cJSON reads 01,
 * -01, 0. and 1.e2 too, and an id echoed as written would make the reply
 * no JSON either.  Such a line has no id in its answer, which is JSON.
 */
START_TEST(numbers_not_written_as_json_are_bad_requests)
{
	static const char *const lines[] = {
		"{\"id\":01,\"cmd\":\"ping\"}",
		"{\"id\":-01,\"cmd\":\"ping\"}",
		"{\"id\":0.,\"cmd\":\"ping\"}",
		"{\"id\":1.e2,\"cmd\":\"ping\"}",
		"{\"id\":+1,\"cmd\":\"ping\"}",
		"{\"id\":1,\"cmd\":\"ping\",\"x\":00}",
		"{\"id\":1,\"cmd\":\"ping\",\"x\":[1,02]}",
		"{\"id\":1,\"cmd\":\"ping\",\"x\":{\"y\":.5}}",
		"{\"id\":1,\"cmd\":\"ping\",\"x\":1e}",
		"{\"id\":1,\"cmd\":\"ping\",\"x\":-}",
	};
	size_t i;
	char *r;
	cJSON *o;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		r = call(lines[i]);
		ck_assert_msg((o = cJSON_Parse(r)) != NULL, "%s -> %s",
		    lines[i], r);
		ck_assert_msg(strstr(r, "\"error\":\"bad_request\"") != NULL,
		    "%s -> %s", lines[i], r);
		/* The first five have an id that is not JSON: none comes back. */
		ck_assert_msg(i >= 5 || cJSON_GetObjectItem(o, "id") == NULL,
		    "%s -> %s", lines[i], r);
		cJSON_Delete(o);
		free(r);
	}
	/* What JSON allows still goes through. */
	expect("{\"id\":-0,\"cmd\":\"ping\",\"x\":[0.5,-1E+2,1e-2,10]}",
	    "{\"id\":-0,\"ok\":true");
}
END_TEST

START_TEST(lines_that_are_not_objects_are_bad_requests)
{
	expect_error("", "bad_request");
	expect_error("hello", "bad_request");
	expect_error("[1,2]", "bad_request");
	expect_error("{\"cmd\":\"ping\"} trailing", "bad_request");
	expect_error("{\"cmd\":\"ping\"", "bad_request");
	expect_error("{}", "bad_request");
	expect_error("{\"cmd\":5}", "bad_request");
	expect_error("{\"cmd\":\"ping\",\"data\":\"a\\u0000b\"}",
	    "bad_request");
}
END_TEST

START_TEST(deep_nesting_is_refused_not_recursed)
{
	char *line = xmalloc(20200);
	int i;

	strcpy(line, "{\"id\":4,\"cmd\":\"ping\",\"x\":");
	for (i = 0; i < 10000; i++) {
		strcat(line + strlen(line), "[");
	}
	for (i = 0; i < 10000; i++) {
		strcat(line + strlen(line), "]");
	}
	strcat(line, "}");
	expect(line, "{\"id\":4,\"ok\":false,\"error\":\"bad_request\","
	    "\"message\":\"request nested too deeply\"}");
	free(line);
}
END_TEST

START_TEST(commands_need_the_right_role)
{
	static const char *const member_cmds[] = {
		"whoami", "balance", "drop", "send", "history", "who",
		"passwd",
	};
	static const char *const admin_cmds[] = {
		"user_add", "user_mod", "users", "credit", "debit",
		"set_balance", "refund", "machine_add", "machine_mod",
		"machine_del", "slot_set", "log", "kick",
	};
	char line[128];
	size_t i;

	for (i = 0; i < sizeof(member_cmds) / sizeof(member_cmds[0]); i++) {
		snprintf(line, sizeof(line), "{\"cmd\":\"%s\"}",
		    member_cmds[i]);
		expect_error(line, "auth_required");
	}
	for (i = 0; i < sizeof(admin_cmds) / sizeof(admin_cmds[0]); i++) {
		snprintf(line, sizeof(line), "{\"cmd\":\"%s\"}", admin_cmds[i]);
		sess.logged_in = 0;
		expect_error(line, "auth_required");
		as("alice", 0);
		expect_error(line, "forbidden");
	}
}
END_TEST

START_TEST(arguments_are_type_checked)
{
	as("alice", 0);
	expect_error("{\"cmd\":\"send\",\"amount\":1}", "bad_request");
	expect("{\"cmd\":\"send\",\"amount\":1}", "missing argument \\\"to\\\"");
	expect_error("{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":\"1\"}",
	    "bad_request");
	expect_error("{\"cmd\":\"send\",\"to\":5,\"amount\":1}", "bad_request");
	expect_error("{\"cmd\":\"send\",\"to\":\"Bob\",\"amount\":1}",
	    "bad_request");
	expect_error("{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1,"
	    "\"note\":null}", "bad_request");
	expect_error("{\"cmd\":\"history\",\"limit\":0}", "bad_request");
	expect_error("{\"cmd\":\"history\",\"limit\":1001}", "bad_request");
	expect_error("{\"cmd\":\"history\",\"limit\":2.5}", "bad_request");
	expect_error("{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":256}",
	    "bad_request");
	expect_error("{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":1,"
	    "\"delay\":301}", "bad_request");
}
END_TEST

START_TEST(amounts_must_be_whole_and_in_range)
{
	static const char *const bad[] = {
		"1.5", "1e2", "1E2", "-5", "0", "1000000001", "1e400",
		"99999999999999999999999", "-0.0",
	};
	char line[160];
	size_t i;

	as("alice", 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line),
		    "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":%s}", bad[i]);
		expect_error(line, "invalid_amount");
	}
	expect("{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":10}",
	    "\"ok\":true,\"tx\":");
	expect("{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1}",
	    "\"error\":\"insufficient_funds\",\"message\":\"insufficient funds\","
	    "\"balance\":0");
}
END_TEST

START_TEST(text_arguments_are_bounded)
{
	char line[600], note[202];

	as("alice", 0);
	memset(note, 'n', 201);
	note[201] = '\0';
	snprintf(line, sizeof(line), "{\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":1,\"note\":\"%s\"}", note);
	expect_error(line, "bad_request");
	note[200] = '\0';
	snprintf(line, sizeof(line), "{\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":1,\"note\":\"%s\"}", note);
	expect(line, "\"ok\":true");
	expect_error("{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1,"
	    "\"key\":\"\"}", "bad_request");
	expect_error("{\"cmd\":\"send\",\"to\":\"abcdefghijklmnopqrstuvwxyz"
	    "0123456\",\"amount\":1}", "bad_request");
	/* A note may be empty; a machine's name and a slot's item may not. */
	expect("{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1,"
	    "\"note\":\"\"}", "\"ok\":true");
	as("root", 1);
	expect_error("{\"cmd\":\"machine_add\",\"machine\":\"m9\","
	    "\"name\":\"\"}", "bad_request");
	expect("{\"cmd\":\"machine_add\",\"machine\":\"m9\","
	    "\"name\":\"Nine\"}", "\"ok\":true");
	expect_error("{\"cmd\":\"machine_mod\",\"machine\":\"m9\","
	    "\"name\":\"\"}", "bad_request");
	expect_error("{\"cmd\":\"slot_set\",\"machine\":\"m9\","
	    "\"slot\":1,\"item\":\"\"}", "bad_request");
	/* Nor is a new slot made without one (or a price). */
	expect_error("{\"cmd\":\"slot_set\",\"machine\":\"m9\",\"slot\":1}",
	    "bad_request");
	expect("{\"cmd\":\"slot_set\",\"machine\":\"m9\",\"slot\":1,"
	    "\"item\":\"Tea\",\"price\":0}", "\"item\":\"Tea\"");
}
END_TEST

START_TEST(escaped_argument_names_are_refused)
{
	as("alice", 0);
	/* One spelling must not pass the check and another be used. */
	expect("{\"id\":3,\"cmd\":\"send\",\"to\":\"bob\",\"\\u0061mount\":1.9,"
	    "\"amount\":1}", "{\"id\":3,\"ok\":false,\"error\":\"bad_request\","
	    "\"message\":\"argument names may not use escapes\"}");
	expect("{\"cmd\":\"balance\"}", "{\"ok\":true,\"balance\":10}");
}
END_TEST

START_TEST(undeclared_key_is_ignored)
{
	as("alice", 1);
	/* user_mod takes no key: repeating it runs it again. */
	expect("{\"cmd\":\"user_mod\",\"user\":\"bob\",\"role\":\"member\","
	    "\"key\":\"k\"}", "\"user\":\"bob\"}");
	expect("{\"cmd\":\"user_mod\",\"user\":\"bob\",\"role\":\"member\","
	    "\"key\":\"k\"}", "\"user\":\"bob\"}");
	ck_assert_int_eq(audit_count("cmd = 'user_mod'"), 2);
	ck_assert_int_eq(idem_count(), 0);
}
END_TEST

/* set_balance takes a key: repeating it replays, even after a change. */
START_TEST(set_balance_key_replays)
{
	as("alice", 1);
	expect("{\"cmd\":\"set_balance\",\"user\":\"bob\",\"balance\":5,"
	    "\"note\":\"n\",\"key\":\"k\"}", "\"balance\":5}");
	expect("{\"cmd\":\"credit\",\"user\":\"bob\",\"amount\":3,"
	    "\"note\":\"n\"}", "\"balance\":8}");
	expect("{\"cmd\":\"set_balance\",\"user\":\"bob\",\"balance\":5,"
	    "\"note\":\"n\",\"key\":\"k\"}", "\"balance\":5}");
	expect("{\"cmd\":\"balance\"}", "\"balance\":");
	ck_assert_int_eq(idem_count(), 1);
	ck_assert_int_eq(audit_count("cmd = 'set_balance'"), 2);
}
END_TEST

START_TEST(unknown_fields_are_ignored)
{
	as("alice", 0);
	expect("{\"cmd\":\"balance\",\"whatever\":[1,{\"a\":null}]}",
	    "{\"ok\":true,\"balance\":10}");
}
END_TEST

START_TEST(admin_commands_are_audited_without_passwords)
{
	as("alice", 1);
	expect("{\"cmd\":\"user_add\",\"user\":\"carol\",\"password\":"
	    "\"s3cret-pw\"}", "{\"ok\":true,\"user\":\"carol\"}");
	expect_error("{\"cmd\":\"user_add\",\"user\":\"carol\",\"password\":"
	    "\"x\"}", "exists");
	expect("{\"cmd\":\"users\"}", "\"user\":\"carol\",\"role\":\"member\"");
	ck_assert_int_eq(audit_count("1"), 3);
	ck_assert_int_eq(audit_count("args LIKE '%s3cret%'"), 0);
	ck_assert_int_eq(audit_count("cmd = 'user_add' AND result = 'exists'"
	    " AND actor = 'alice' AND args LIKE '%\"password\":\"***\"%'"), 1);
}
END_TEST

/* The drop events bob's session takes, as one string ("" for none). */
static void
take_events(struct event_queue *q, char *out, size_t size)
{
	char *line;
	size_t len, used = 0;
	int over;

	out[0] = '\0';
	while ((line = event_queue_take(q, &len, &over)) != NULL) {
		/* A taken line is len bytes, not a C string. */
		used += (size_t)snprintf(out + used, size - used, "%.*s",
		    (int)len, line);
		free(line);
	}
	ck_assert_int_eq(over, 0);
}

/*
 * A drop's later events name its machine and reach its member, also when
 * an earlier drop shared its place in the table of drops in flight (tx
 * ids 1024 apart) and has finished since.
 */
START_TEST(drop_events_find_their_drop_past_a_finished_one)
{
	struct event_queue *q = event_queue_new();
	cJSON *topics = cJSON_CreateStringArray((const char *[]){ "drops" },
	    1);
	const char *why;
	unsigned bits;
	char got[1024];

	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(event_topics_parse(topics, 1, 0, &bits, &why),
	    ERR_NONE);
	event_queue_who(q, "bob", 0);
	event_queue_topics(q, bits, 1);
	event_drop(3, "alice", "hall", 1, "queued", NULL);
	event_drop(3 + 1024, "bob", "lab", 2, "queued", NULL);
	event_drop(3 + 2048, "bob", "roof", 4, "queued", NULL);
	take_events(q, got, sizeof(got));
	ck_assert_str_eq(got, "{\"event\":\"drop\",\"tx\":1027,"
	    "\"machine\":\"lab\",\"slot\":2,\"state\":\"queued\"}\n"
	    "{\"event\":\"drop\",\"tx\":2051,\"machine\":\"roof\","
	    "\"slot\":4,\"state\":\"queued\"}\n");
	/* Alice's finishes (not bob's to see); bob's are still found. */
	event_drop(3, NULL, NULL, 0, "completed", NULL);
	event_drop(3 + 2048, NULL, NULL, 0, "vending", NULL);
	event_drop(3 + 1024, NULL, NULL, 0, "failed", "machine_offline");
	take_events(q, got, sizeof(got));
	ck_assert_str_eq(got, "{\"event\":\"drop\",\"tx\":2051,"
	    "\"machine\":\"roof\",\"slot\":4,\"state\":\"vending\"}\n"
	    "{\"event\":\"drop\",\"tx\":1027,\"machine\":\"lab\","
	    "\"slot\":2,\"state\":\"failed\",\"error\":"
	    "\"machine_offline\"}\n");
	/* A finished drop, and one never registered, say nothing more. */
	event_drop(3 + 1024, NULL, NULL, 0, "vending", NULL);
	event_drop(99, NULL, NULL, 0, "vending", NULL);
	event_drop(3 + 2048, NULL, NULL, 0, "completed", NULL);
	take_events(q, got, sizeof(got));
	ck_assert_str_eq(got, "{\"event\":\"drop\",\"tx\":2051,"
	    "\"machine\":\"roof\",\"slot\":4,\"state\":\"completed\"}\n");
	cJSON_Delete(topics);
	event_queue_free(q);
}
END_TEST

static Suite *
dispatch_suite(void)
{
	Suite *s = suite_create("dispatch");
	TCase *tc;

	tc = tcase_create("framing and ids");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, id_is_echoed_verbatim_or_omitted);
	tcase_add_test(tc, lines_that_are_not_objects_are_bad_requests);
	tcase_add_test(tc, numbers_not_written_as_json_are_bad_requests);
	tcase_add_test(tc, deep_nesting_is_refused_not_recursed);
	suite_add_tcase(s, tc);
	tc = tcase_create("roles");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, commands_need_the_right_role);
	suite_add_tcase(s, tc);
	tc = tcase_create("events");
	tcase_add_test(tc, drop_events_find_their_drop_past_a_finished_one);
	suite_add_tcase(s, tc);
	tc = tcase_create("arguments");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, arguments_are_type_checked);
	tcase_add_test(tc, amounts_must_be_whole_and_in_range);
	tcase_add_test(tc, text_arguments_are_bounded);
	tcase_add_test(tc, unknown_fields_are_ignored);
	tcase_add_test(tc, escaped_argument_names_are_refused);
	tcase_add_test(tc, undeclared_key_is_ignored);
	tcase_add_test(tc, set_balance_key_replays);
	tcase_add_test(tc, admin_commands_are_audited_without_passwords);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	Suite *suite = dispatch_suite();
	int failed;

	log_init("check_dispatch", 1, LOG_LEVEL_WARN);
	if (auth_init() != 0) {
		return 1;
	}
	failed = h_run(suite);
	return failed == 0 ? 0 : 1;
}
