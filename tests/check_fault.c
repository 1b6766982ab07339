/*
 * Storage faults (tests/shim/fault.c, preloaded into drinkd): a drop the
 * machine answered is settled as the machine said once storage recovers,
 * and by a restart too; while storage fails, members are still greeted
 * and read, writes are refused with unavailable, controllers stay
 * connected, and the log says once what failed and when it recovered.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake.h"
#include "harness.h"

static struct h_server *srv;
static char *fault_flag;

/* Start a fault of kind "eio" or "full" (ENOSPC), or end it (NULL). */
static void
fault_kind(const char *kind)
{
	FILE *f;

	if (kind != NULL) {
		ck_assert_ptr_nonnull(f = fopen(fault_flag, "w"));
		fprintf(f, "%s\n", kind);
		fclose(f);
	} else {
		ck_assert_int_eq(unlink(fault_flag), 0);
	}
}

static void
fault(int on)
{
	fault_kind(on ? "eio" : NULL);
}

static void
setup(void)
{
	const char *build = getenv("BUILD"), *asan = getenv("ASAN_OPTIONS");
	char *dir = h_tmpdir(), *shim;
	char cwd[4096], *opts;

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	if (build == NULL || build[0] == '\0') {
		build = "build";
	}
	shim = build[0] == '/' ? xasprintf("%s/tests/fault.so", build) :
	    xasprintf("%s/%s/tests/fault.so", cwd, build);
	ck_assert_msg(access(shim, R_OK) == 0, "%s missing", shim);
	fault_flag = xasprintf("%s/fault", dir);
	setenv("LD_PRELOAD", shim, 1);
	setenv("DRINK_FAULT_FILE", fault_flag, 1);
	/*
	 * An instrumented drinkd: let the shim come first, and leave SIGBUS
	 * to drinkd's own handler.
	 */
	opts = xasprintf("%s%sverify_asan_link_order=0:handle_sigbus=0:"
	    "allow_user_segv_handler=1",
	    asan != NULL ? asan : "", asan != NULL && asan[0] != '\0' ?
	    ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	srv = h_machine_server_start("vend_timeout = 20\n");
	h_admin(srv, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Big Drink\"}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":3,\"item\":\"Coke\",\"price\":10,\"stock\":5}", NULL);
	free(opts);
	free(shim);
	free(dir);
}

static void
teardown(void)
{
	unlink(fault_flag);
	h_server_free(srv);
	srv = NULL;
	free(fault_flag);
}

/* A keyed drop that m1 vends while storage fails; the member's reply. */
static cJSON *
drop_vended_during_fault(struct fake *f, struct h_client *c)
{
	cJSON *r;

	h_send(c, "{\"id\":1,\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3,"
	    "\"key\":\"k1\"}");
	fake_wait_vends(f, 1);
	fault(1);
	fake_answer_last(f, 1);
	r = h_read(c);
	H_ASSERT_ERROR(r, "internal");
	return r;
}

static cJSON *
keyed_retry(struct h_client *c)
{
	return h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3,"
	    "\"key\":\"k1\"}");
}

/* 1 once a keyed retry returns something other than unavailable. */
static int
retry_answered(struct h_client *c)
{
	cJSON *r = keyed_retry(c);
	int done = h_error(r) == NULL ||
	    strcmp(h_error(r), "unavailable") != 0;

	cJSON_Delete(r);
	return done;
}

START_TEST(a_vend_during_a_fault_is_captured_once_storage_recovers)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	cJSON *r;
	int64_t tx;

	cJSON_Delete(drop_vended_during_fault(f, c));
	/* Still in flight while the fault lasts: nothing else vends. */
	r = keyed_retry(c);
	ck_assert_msg(h_error(r) != NULL &&
	    (strcmp(h_error(r), "unavailable") == 0 ||
	    strcmp(h_error(r), "drop_in_progress") == 0), "%s", h_text(r));
	cJSON_Delete(r);
	ck_assert_int_eq(fake_vends(f), 1);
	fault(0);
	H_WAIT_UNTIL(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'completed'") == 1);
	H_WAIT_UNTIL(retry_answered(c));
	/* The keyed retry returns the true outcome: vended and charged. */
	r = keyed_retry(c);
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "item"), "Coke");
	ck_assert_int_eq(h_num(r, "balance"), 90);
	tx = h_num(r, "tx");
	cJSON_Delete(r);
	ck_assert_int_eq(h_sql_int(srv, "SELECT state = 'completed' FROM tx"
	    " WHERE id = %lld", (long long)tx), 1);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert(h_server_log_contains(srv, "capture recorded after"));
	/* The member is not wedged: the next drop reaches the machine. */
	h_send(c, "{\"id\":2,\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":3}");
	fake_wait_vends(f, 2);
	fake_answer_last(f, 1);
	r = h_read(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 80);
	cJSON_Delete(r);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	fake_stop(f);
	h_close(c);
}
END_TEST

START_TEST(a_restart_captures_what_the_machine_vended)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	cJSON *r;

	cJSON_Delete(drop_vended_during_fault(f, c));
	h_server_kill(srv);
	h_close(c);
	fake_stop(f);
	fault(0);
	h_server_restart(srv);
	ck_assert(h_server_log_contains(srv, "its machine had vended: the "
	    "drop is captured now"));
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'completed'"), 1);
	c = h_connect_as(srv, "alice", "alicepw");
	r = keyed_retry(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 90);
	cJSON_Delete(r);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	h_close(c);
}
END_TEST

/* A restart after a drop that was never answered still releases it. */
START_TEST(a_restart_releases_what_the_machine_never_answered)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");

	h_send(c, "{\"id\":1,\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	fake_wait_vends(f, 1);
	h_server_kill(srv);
	h_close(c);
	fake_stop(f);
	h_server_restart(srv);
	ck_assert(h_server_log_contains(srv, "and its machine had not "
	    "answered"));
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(h_check_ledger(srv), 0);
}
END_TEST

/* 1 when alice's send of 10 to bob succeeds. */
static int
send_ok(struct h_client *c)
{
	cJSON *r = h_call(c, "{\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":10}");
	int ok = h_ok(r);

	cJSON_Delete(r);
	return ok;
}

START_TEST(writes_are_refused_visibly_while_storage_fails)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw"), *d;
	cJSON *r;
	int i, unavailable = 0;

	/*
	 * Session records are written moments after the fact: let these
	 * land first, so that the first write to meet the full disk is the
	 * send the log must name.
	 */
	ck_assert_int_eq(h_sql_wait(srv, 1, "SELECT count(*) = 3 AND"
	    " sum(ended IS NULL) = 2 AND sum(user = 'alice') = 1 AND"
	    " sum(machine = 'm1') = 1 AND (SELECT last_seen IS NOT NULL"
	    " FROM users WHERE name = 'alice') FROM sessions"), 1);
	/* The disk is full this time. */
	fault_kind("full");
	/* The first write finds the fault; the next ones are refused. */
	for (i = 0; i < 3; i++) {
		r = h_call(c, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":10}");
		ck_assert_msg(h_error(r) != NULL, "%s", h_text(r));
		if (strcmp(h_error(r), "unavailable") == 0) {
			ck_assert_int_ge(h_num(r, "retry_after"), 1);
			unavailable++;
		} else {
			H_ASSERT_ERROR(r, "internal");
		}
		cJSON_Delete(r);
	}
	ck_assert_int_ge(unavailable, 2);
	/* A new member is greeted, logs in and reads. */
	d = h_connect_as(srv, "bob", "bobpw");
	r = h_call(d, "{\"cmd\":\"balance\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	/* The controller stayed connected. */
	r = h_call(d, "{\"cmd\":\"machines\"}");
	ck_assert_msg(strstr(d->line, "\"online\":true") != NULL, "%s",
	    d->line);
	cJSON_Delete(r);
	ck_assert(!fake_closed_now(f));
	ck_assert_int_eq(h_server_log_count(srv, "storage is failing"), 1);
	ck_assert(h_server_log_contains(srv, "storage is failing: send"));
	ck_assert(h_server_log_contains(srv, "database or disk is full"));
	ck_assert_int_le(h_server_log_count(srv, "commit failed"), 1);
	fault(0);
	/* Writes work again once the next probe finds storage back. */
	H_WAIT_UNTIL(send_ok(c));
	ck_assert_int_eq(h_server_log_count(srv, "storage recovered after"),
	    1);
	ck_assert_int_eq(h_balance(srv, "alice") + h_balance(srv, "bob"),
	    100);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	fake_stop(f);
	h_close(c);
	h_close(d);
}
END_TEST

/* A SIGBUS (the -shm mapping lost) is explained, and a restart works. */
START_TEST(a_sigbus_is_logged_and_the_next_start_works)
{
	ck_assert_int_eq(kill(srv->pid, SIGBUS), 0);
	ck_assert_int_eq(h_server_stop(srv), 1);
	ck_assert(h_server_log_contains(srv, "drinkd: fatal: SIGBUS: the "
	    "database's memory-mapped WAL index"));
	h_server_restart(srv);
	h_close(h_connect_as(srv, "alice", "alicepw"));
	ck_assert_int_eq(h_check_ledger(srv), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("fault");
	TCase *tc;
	int failed;

	h_init();
	tc = h_tcase(s, "storage faults", setup, teardown, 180);
	tcase_add_test(tc,
	    a_vend_during_a_fault_is_captured_once_storage_recovers);
	tcase_add_test(tc, a_restart_captures_what_the_machine_vended);
	tcase_add_test(tc, a_restart_releases_what_the_machine_never_answered);
	tcase_add_test(tc, writes_are_refused_visibly_while_storage_fails);
	tcase_add_test(tc, a_sigbus_is_logged_and_the_next_start_works);
	failed = h_run(s);
	return h_finish(failed);
}
