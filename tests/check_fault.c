/*
 * Storage faults (tests/shim/fault.c, preloaded into drinkd): a drop the
 * machine answered is settled as the machine said once storage recovers,
 * and by a restart too; while storage fails, members are still greeted
 * and read, writes are refused with unavailable, controllers stay
 * connected, and the log says once what failed and when it recovered.
 * The Sunday dialect's replies to the same faults (LEGACY.md 2.3, 2.5)
 * are here too, as only a storage fault makes drink answer them.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake.h"
#include "legacy.h"

static struct h_server *srv;
static char *fault_flag;

/*
 * Start a fault of kind "eio" or "full" (ENOSPC) on writes, "sync" (EIO)
 * on syncs, "slow" syncs (a second each), "slowfail" ones (a second, then
 * EIO), "noreserve" (fallocate fails), or end it (NULL).
 */
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

/* A drinkd under the shim (conf added), with m1 and its slot 3. */
static void
fault_setup(const char *conf)
{
	fault_flag = h_fault_shim();
	srv = h_machine_server_start(conf);
	h_admin(srv, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Big Drink\"}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":3,\"item\":\"Coke\",\"price\":10,\"stock\":5}", NULL);
}

static void
setup(void)
{
	fault_setup("vend_timeout = 20\n");
}

/* The same with a Sunday listener (LEGACY.md 2). */
static void
sunday_setup(void)
{
	fault_setup("vend_timeout = 20\nsunday_listen = 127.0.0.1:0\n");
}

static void
teardown(void)
{
	unlink(fault_flag);
	h_server_free(srv);
	srv = NULL;
	free(fault_flag);
}

/*
 * During a fault: bob is greeted, logs in and reads his balance (checked
 * when balance >= 0), and controller f is still listed online and
 * connected.  Returns bob's connection.
 */
static struct h_client *
still_served(struct h_server *s, struct fake *f, long balance)
{
	struct h_client *d = h_connect_as(s, "bob", "bobpw");
	cJSON *r;

	r = h_call(d, "{\"cmd\":\"balance\"}");
	H_ASSERT_OK(r);
	if (balance >= 0) {
		ck_assert_int_eq(h_num(r, "balance"), balance);
	}
	cJSON_Delete(r);
	r = h_call(d, "{\"cmd\":\"machines\"}");
	ck_assert_msg(strstr(d->line, "\"online\":true") != NULL, "%s",
	    d->line);
	cJSON_Delete(r);
	ck_assert(!fake_closed_now(f));
	return d;
}

/*
 * A keyed drop that m1 vends while storage fails (a fault of kind); the
 * member's reply.
 */
static cJSON *
drop_vended_during_fault(struct fake *f, struct h_client *c,
    const char *kind)
{
	cJSON *r;

	h_send(c, "{\"id\":1,\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3,"
	    "\"key\":\"k1\"}");
	fake_wait_vends(f, 1);
	fault_kind(kind);
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

/* m1 slot 3's stock (5 at setup), as the database file has it. */
static int64_t
slot3_stock(void)
{
	return h_sql_int(srv, "SELECT stock FROM slots WHERE machine = 'm1'"
	    " AND slot = 3");
}

/* 1 once w, subscribed to slots, hears m1 slot 3 has stock (10 s). */
static int
slot3_event_says(struct h_client *w, int64_t stock)
{
	int64_t deadline = now_ms() + 10000;
	const cJSON *ev, *slot, *n;
	cJSON *line;
	int found = 0;

	while (!found && now_ms() < deadline &&
	    h_read_line(w, deadline - now_ms()) == CONN_OK) {
		line = cJSON_Parse(w->line);
		ev = cJSON_GetObjectItem(line, "event");
		slot = cJSON_GetObjectItem(line, "slot");
		n = cJSON_GetObjectItem(line, "stock");
		found = cJSON_IsString(ev) && strcmp(ev->valuestring,
		    "slot") == 0 && cJSON_IsNumber(slot) &&
		    slot->valuedouble == 3 && cJSON_IsNumber(n) &&
		    n->valuedouble == (double)stock;
		cJSON_Delete(line);
	}
	return found;
}

/*
 * A vend whose capture storage refused is captured once storage
 * recovers, the slot's stock lowered with it (and its subscribers told):
 * not before (the stock's own write would meet the fault too), and not
 * twice.
 */
START_TEST(a_vend_during_a_fault_is_captured_once_storage_recovers)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	struct h_client *w = h_connect_as(srv, "bob", "bobpw");
	cJSON *r;
	int64_t tx;

	h_expect(w, NULL, "{\"cmd\":\"subscribe\",\"topics\":[\"slots\"]}");
	cJSON_Delete(drop_vended_during_fault(f, c, "eio"));
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
	/* The stock fell with the capture, once. */
	ck_assert_int_eq(slot3_stock(), 4);
	ck_assert(slot3_event_says(w, 4));
	h_close(w);
	/* The member is not wedged: the next drop reaches the machine. */
	h_send(c, "{\"id\":2,\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":3}");
	fake_wait_vends(f, 2);
	fake_answer_last(f, 1);
	r = h_read(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 80);
	cJSON_Delete(r);
	ck_assert_int_eq(slot3_stock(), 3);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	fake_stop(f);
	h_close(c);
}
END_TEST

/*
 * After drop_vended_during_fault: storage is back (kind NULL) or fails
 * only its syncs (kind "sync") mid-way through the settler's longest
 * pause yet, and m1 reports slot 3 at 4 (one less than 5) until that is
 * stored, while the capture whose "ok" storage lost still waits for the
 * settler's next try.  The settler tries at 0, 0.1, 0.3, 0.7, 1.5, 3.1
 * and 6.3 s after it took the capture (drop.c): at 4 s the report has
 * 2 s to be stored first (at 3 s it raced the try at 3.1 s).  One report
 * is the probe that finds storage back.
 */
static void
sensed_while_capture_owed(struct fake *f, const char *kind)
{
	static const char sensed[] = "{\"event\":\"slots\",\"slots\":"
	    "[{\"slot\":3,\"stock\":4}]}";
	int64_t deadline;

	sleep(4);
	fault_kind(kind);
	deadline = now_ms() + H_WAIT_MS;
	while (slot3_stock() != 4) {
		ck_assert(now_ms() < deadline);
		fake_send(f, sensed);
		usleep(50 * 1000);
	}
	ck_assert_msg(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'pending'") == 1, "the capture was "
	    "retried before the sensed count was stored");
}

/*
 * A machine that senses its stock reports it after the "ok" whose write
 * storage lost.  When that count is stored before the capture's retry,
 * the newest information wins: the retry captures the drop but leaves
 * the count alone instead of lowering it once more.
 */
START_TEST(a_sensed_count_stored_before_a_capture_retry_stands)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	cJSON *r;

	/* Answered internal: the capture is the settler's now. */
	cJSON_Delete(drop_vended_during_fault(f, c, "eio"));
	sensed_while_capture_owed(f, NULL);
	H_WAIT_UNTIL(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'completed'") == 1);
	H_WAIT_UNTIL(h_server_log_contains(srv, "capture recorded after"));
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(slot3_stock(), 4);
	/* Settled: alice's next drop reaches the machine, one less. */
	h_send(c, "{\"id\":2,\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":3}");
	fake_wait_vends(f, 2);
	fake_answer_last(f, 1);
	r = h_read(c);
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	ck_assert_int_eq(slot3_stock(), 3);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	fake_stop(f);
	h_close(c);
}
END_TEST

/*
 * The write of an "ok" fails, and m1's sensed count is stored, before
 * the thread of the drop's member hears of that failure (the shim holds
 * it just after it wrote the member the drop's "queued" event): the
 * count is newer than the "ok", and it stands over the capture's retry
 * all the same.
 */
START_TEST(a_sensed_count_stored_before_a_lost_ok_is_heard_of_stands)
{
	static const char sensed[] = "{\"event\":\"slots\",\"slots\":"
	    "[{\"slot\":3,\"stock\":4}]}";
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	int64_t deadline;
	cJSON *r;

	h_expect(c, NULL, "{\"cmd\":\"subscribe\",\"topics\":[\"drops\"]}");
	h_hold_writes(fault_flag, c, 1);
	h_send(c, "{\"id\":1,\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3,"
	    "\"key\":\"k1\"}");
	fake_wait_vends(f, 1);
	/* Alice's thread wrote her the drop's "queued" event: held. */
	H_WAIT_UNTIL(h_writes_held(fault_flag));
	fault(1);
	fake_answer_last(f, 1);
	/* Its write makes the capture's, queued before it: both are lost. */
	fake_send(f, sensed);
	H_WAIT_UNTIL(h_server_log_contains(srv, "slots event not recorded"));
	fault(0);
	deadline = now_ms() + H_WAIT_MS;
	while (slot3_stock() != 4) {
		ck_assert(now_ms() < deadline);
		fake_send(f, sensed);
		usleep(50 * 1000);
	}
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'pending'"), 1);
	/* Only now does alice's thread learn the capture was lost. */
	h_hold_writes(fault_flag, c, 0);
	/* Past the drop's events, its reply: charged once, by the retry. */
	while (cJSON_GetObjectItem(r = h_read(c), "event") != NULL) {
		cJSON_Delete(r);
	}
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 90);
	cJSON_Delete(r);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(slot3_stock(), 4);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	fake_stop(f);
	h_close(c);
}
END_TEST

/*
 * A drop whose capture is left to the settler is still in flight: its
 * subscribers are not told it failed, and they are told it completed
 * once the capture is recorded.
 */
START_TEST(a_drop_left_to_the_settler_ends_when_it_is_recorded)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *w = h_connect_as(srv, "alice", "alicepw");
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	const char *states[] = { "queued", "vending", "completed" };
	cJSON *ev;
	int64_t tx = 0;
	int i;

	h_expect(w, NULL, "{\"cmd\":\"subscribe\",\"topics\":[\"drops\"]}");
	cJSON_Delete(drop_vended_during_fault(f, c, "eio"));
	for (i = 0; i < 3; i++) {
		if (i == 2) {
			/* Nothing more while the capture is not recorded. */
			ck_assert_int_eq(h_read_line(w, 1500), CONN_TIMEOUT);
			fault(0);
		}
		ev = h_read(w);
		ck_assert_str_eq(h_str(ev, "event"), "drop");
		ck_assert_msg(strcmp(h_str(ev, "state"), states[i]) == 0,
		    "%s", w->line);
		if (i == 0) {
			tx = h_num(ev, "tx");
		}
		ck_assert_int_eq(h_num(ev, "tx"), tx);
		cJSON_Delete(ev);
	}
	ck_assert_int_eq(h_sql_int(srv, "SELECT state = 'completed' FROM tx"
	    " WHERE id = %lld", (long long)tx), 1);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	fake_stop(f);
	h_close(c);
	h_close(w);
}
END_TEST

/*
 * After a restart: alice's keyed drop (10) was charged once, and her
 * keyed retry says so; the slot's stock fell by one, with the capture.
 */
static void
charged_once(void)
{
	struct h_client *c;
	cJSON *r;

	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(slot3_stock(), 4);
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

START_TEST(a_restart_captures_what_the_machine_vended)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");

	cJSON_Delete(drop_vended_during_fault(f, c, "eio"));
	h_server_kill(srv);
	h_close(c);
	fake_stop(f);
	fault(0);
	h_server_restart(srv);
	ck_assert(h_server_log_contains(srv, "its machine had vended: the "
	    "drop is captured now"));
	charged_once();
}
END_TEST

/*
 * A sensed count stored while the capture is owed
 * (sensed_while_capture_owed), and drinkd dies before the settler's
 * try: the restart captures the drop from the answers file, and the
 * sensed count, newer than the "ok", still stands.
 */
START_TEST(a_sensed_count_stored_before_a_restart_stands)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");

	cJSON_Delete(drop_vended_during_fault(f, c, "eio"));
	sensed_while_capture_owed(f, NULL);
	h_server_kill(srv);
	h_close(c);
	fake_stop(f);
	h_server_restart(srv);
	ck_assert(h_server_log_contains(srv, "its machine had vended: the "
	    "drop is captured now"));
	charged_once();
}
END_TEST

/*
 * The sensed count's own sync fails: it may be on disk or not, and
 * writes stop until a restart.  On disk (the kernel kept it here), it
 * stands over the capture the restart makes; lost, the capture would
 * lower the count before it.  Either way the slot holds 4.
 */
START_TEST(a_sensed_count_whose_sync_failed_stands_after_a_restart)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");

	cJSON_Delete(drop_vended_during_fault(f, c, "eio"));
	sensed_while_capture_owed(f, "sync");
	H_WAIT_UNTIL(h_server_log_contains(srv, "until drinkd is "
	    "restarted"));
	h_close(c);
	fake_stop(f);
	ck_assert_int_eq(h_server_stop(srv), 0);
	fault(0);
	h_server_restart(srv);
	ck_assert(h_server_log_contains(srv, "its machine had vended: the "
	    "drop is captured now"));
	charged_once();
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

/* 1 when request line is answered ok on c (a write storage took). */
static int
call_ok(struct h_client *c, const char *line)
{
	cJSON *r = h_call(c, line);
	int ok = h_ok(r);

	cJSON_Delete(r);
	return ok;
}

/*
 * Session records are written moments after the fact: let alice's and
 * m1's land first, so that the first write to meet the fault is the one
 * the log must name.  Seen in the file, they are committed, but their
 * sync may still be running, and a sync fault would fail it: a read
 * through drinkd on c (if not NULL) returns only once what it saw is
 * durable.
 */
static void
sessions_landed(struct h_client *c)
{
	cJSON *r;

	ck_assert_int_eq(h_sql_wait(srv, 1, "SELECT count(*) = 3 AND"
	    " sum(ended IS NULL) = 2 AND sum(user = 'alice') = 1 AND"
	    " sum(machine = 'm1') = 1 AND (SELECT last_seen IS NOT NULL"
	    " FROM users WHERE name = 'alice') FROM sessions"), 1);
	if (c != NULL) {
		r = h_call(c, "{\"cmd\":\"history\"}");
		H_ASSERT_OK(r);
		cJSON_Delete(r);
	}
}

START_TEST(writes_are_refused_visibly_while_storage_fails)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw"), *d;
	cJSON *r;
	int i, unavailable = 0;

	sessions_landed(c);
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
	/* A new member is greeted, logs in and reads; m1 stays online. */
	d = still_served(srv, f, -1);
	ck_assert_int_eq(h_server_log_count(srv, "storage is failing"), 1);
	ck_assert(h_server_log_contains(srv, "storage is failing: send"));
	ck_assert(h_server_log_contains(srv, "database or disk is full"));
	ck_assert_int_le(h_server_log_count(srv, "commit failed"), 1);
	fault(0);
	/* Writes work again once the next probe finds storage back. */
	H_WAIT_UNTIL(call_ok(c, "{\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":10}"));
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

/*
 * The probe let through while storage fails may change nothing: a send
 * refused for want of funds commits an empty transaction, which SQLite
 * makes without touching the disk.  That is no sign storage is back:
 * the log does not say it recovered, and the next write to meet the
 * fault is the same episode, not a new one; the episode ends, once, with
 * the first write storage takes.
 */
START_TEST(a_probe_that_writes_nothing_does_not_end_a_fault)
{
	static const char overdraft[] = "{\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":1000}";
	static const char send[] = "{\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":10}";
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	int64_t deadline = now_ms() + H_WAIT_MS;
	cJSON *r;
	int probed = 0;

	sessions_landed(c);
	fault_kind("eio");
	r = h_call(c, send);
	H_ASSERT_ERROR(r, "internal");
	cJSON_Delete(r);
	ck_assert(h_server_log_contains(srv, "storage is failing: send"));
	/* Refused up front until the probe, which is refused for funds. */
	while (!probed) {
		ck_assert(now_ms() < deadline);
		r = h_call(c, overdraft);
		ck_assert_msg(h_error(r) != NULL, "%s", h_text(r));
		if (strcmp(h_error(r), "unavailable") == 0) {
			usleep(100 * 1000);
		} else {
			H_ASSERT_ERROR(r, "insufficient_funds");
			probed = 1;
		}
		cJSON_Delete(r);
	}
	ck_assert(!h_server_log_contains(srv, "storage recovered"));
	/* The next write is the probe (or refused): the same episode. */
	r = h_call(c, send);
	ck_assert_msg(h_error(r) != NULL, "%s", h_text(r));
	cJSON_Delete(r);
	ck_assert(!h_server_log_contains(srv, "storage recovered"));
	ck_assert_int_eq(h_server_log_count(srv, "storage is failing"), 1);
	fault(0);
	/* The probe that writes ends it, once. */
	H_WAIT_UNTIL(call_ok(c, send));
	ck_assert_int_eq(h_server_log_count(srv, "storage recovered after"),
	    1);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	fake_stop(f);
	h_close(c);
}
END_TEST

/*
 * Storage that takes the probe's COMMIT but fails its sync has not
 * recovered: the log says the sync failed, never that storage recovered.
 */
START_TEST(a_probe_whose_sync_fails_does_not_end_a_fault)
{
	static const char send[] = "{\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":10}";
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	int64_t deadline = now_ms() + H_WAIT_MS;
	cJSON *r;
	int probed = 0;

	sessions_landed(c);
	fault_kind("eio");
	r = h_call(c, send);
	H_ASSERT_ERROR(r, "internal");
	cJSON_Delete(r);
	/*
	 * The failed COMMIT is followed by a sync (of nothing new), which
	 * must not meet the sync fault: it would stop writes at once.
	 */
	usleep(500 * 1000);
	fault_kind("sync");
	/* Refused up front until the probe, whose sync fails. */
	while (!probed) {
		ck_assert(now_ms() < deadline);
		r = h_call(c, send);
		ck_assert_msg(h_error(r) != NULL, "%s", h_text(r));
		if (strcmp(h_error(r), "unavailable") == 0) {
			usleep(100 * 1000);
		} else {
			H_ASSERT_ERROR(r, "internal");
			probed = 1;
		}
		cJSON_Delete(r);
	}
	ck_assert(h_server_log_contains(srv, "storage is failing: send: the "
	    "sync of"));
	ck_assert(!h_server_log_contains(srv, "storage recovered"));
	fault(0);
	fake_stop(f);
	h_close(c);
}
END_TEST

/*
 * A controller's slots and temperature events, well formed, while
 * storage refuses writes: they are not recorded, and the log says so,
 * without calling them bad (nothing is wrong with the controller).
 */
START_TEST(events_storage_refuses_are_not_logged_as_bad)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	cJSON *r;

	sessions_landed(c);
	fault_kind("eio");
	r = h_call(c, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":10}");
	H_ASSERT_ERROR(r, "internal");
	cJSON_Delete(r);
	fake_send(f, "{\"event\":\"slots\",\"slots\":"
	    "[{\"slot\":3,\"stock\":4}]}");
	fake_send(f, "{\"event\":\"temperature\",\"celsius\":4.5}");
	H_WAIT_UNTIL(h_server_log_contains(srv, "machine m1: temperature "
	    "event not recorded: storage refuses writes until it recovers"));
	ck_assert(h_server_log_contains(srv, "machine m1: slots event not "
	    "recorded: storage refuses writes until it recovers"));
	ck_assert(!h_server_log_contains(srv, "bad slots event"));
	ck_assert(!h_server_log_contains(srv, "bad temperature event"));
	ck_assert_int_eq(slot3_stock(), 5);
	fault(0);
	/* A malformed one still is bad. */
	fake_send(f, "{\"event\":\"slots\",\"slots\":"
	    "[{\"slot\":3,\"stock\":-4}]}");
	H_WAIT_UNTIL(h_server_log_contains(srv, "machine m1: bad slots "
	    "event ignored"));
	fake_stop(f);
	h_close(c);
}
END_TEST

/*
 * A card tapped while writes are refused: the controller is told
 * unavailable with retry_after, as a member is for a drop, not internal
 * (outcome unknown): nothing was held, and no vend was sent.
 */
START_TEST(a_card_tap_while_writes_are_refused_is_unavailable)
{
	const char *tap = "{\"id\":7,\"cmd\":\"card_drop\","
	    "\"card\":\"a11ce0a11ce0\",\"slot\":3}";
	int64_t deadline = now_ms() + H_WAIT_MS;
	struct h_client *c, *m;
	char err[512], last[256] = "";
	cJSON *r;
	int refused = 0;

	h_admin(srv, "{\"cmd\":\"card_add\",\"card\":\"a11ce0a11ce0\","
	    "\"user\":\"alice\"}", NULL);
	m = h_tls_dial(srv->machine_port, "machine-m1", err, sizeof(err));
	ck_assert_msg(m != NULL, "%s", err);
	r = h_call(m, "{\"id\":1,\"cmd\":\"register\","
	    "\"slots\":[{\"slot\":3,\"stock\":5}]}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	c = h_connect_as(srv, "alice", "alicepw");
	fault_kind("full");
	/* A member's write meets the fault, and then they are refused. */
	while (!refused) {
		ck_assert(now_ms() < deadline);
		r = h_call(c, "{\"cmd\":\"send\",\"to\":\"bob\","
		    "\"amount\":1}");
		ck_assert_msg(h_error(r) != NULL, "%s", h_text(r));
		refused = strcmp(h_error(r), "unavailable") == 0;
		cJSON_Delete(r);
	}
	/* (A tap may be the probe let through every 2 s: tap again.) */
	for (refused = 0; !refused; ) {
		ck_assert_msg(now_ms() < deadline, "no tap was refused with "
		    "unavailable; the last reply: %s", last);
		h_send(m, tap);
		r = h_ctl_read(m);
		ck_assert_msg(h_error(r) != NULL, "%s", h_text(r));
		ck_assert_int_eq(h_num(r, "id"), 7);
		if (strcmp(h_error(r), "unavailable") == 0) {
			ck_assert_int_ge(h_num(r, "retry_after"), 1);
			refused = 1;
		} else {
			snprintf(last, sizeof(last), "%s", h_text(r));
			usleep(100 * 1000);
		}
		cJSON_Delete(r);
	}
	fault(0);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop'"), 0);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	h_close(c);
	h_close(m);
}
END_TEST

/*
 * A hold whose COMMIT reports an error is never left pending in a running
 * drinkd: SQLite publishes a commit to the WAL index (what every
 * connection reads) only once the whole COMMIT has succeeded, and rolls
 * the batch back otherwise.  The member is told internal (the outcome is
 * unknown to drinkd), nothing is held or charged, nothing reaches the
 * machine, and once storage recovers the member's next drop, with the
 * same key, is made: no drop_in_progress, no restart needed.  (A COMMIT
 * that succeeded but whose sync failed stops writes until a restart,
 * which settles the drop: a_failed_sync_stops_writes_until_a_restart.)
 */
START_TEST(a_hold_whose_commit_fails_is_never_left_pending)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	const char *drop = "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3,"
	    "\"key\":\"k1\"}";
	int64_t deadline = now_ms() + H_WAIT_MS;
	cJSON *r;
	int made = 0, failed = 0;

	sessions_landed(c);
	fault(1);
	/*
	 * Internal: the hold was made and its batch's COMMIT failed.  (If
	 * some other write met the fault first, the drop is refused with
	 * unavailable, nothing tried, until the next probe: it is the probe.)
	 */
	while (!failed) {
		ck_assert(now_ms() < deadline);
		r = h_call(c, drop);
		ck_assert_msg(h_error(r) != NULL, "%s", h_text(r));
		if (strcmp(h_error(r), "unavailable") == 0) {
			usleep(100 * 1000);
		} else {
			H_ASSERT_ERROR(r, "internal");
			failed = 1;
		}
		cJSON_Delete(r);
	}
	ck_assert(h_server_log_contains(srv, "commit failed: disk I/O "
	    "error"));
	ck_assert_int_eq(fake_vends(f), 0);
	/* While storage still fails: no hold, as drinkd and the file see. */
	r = h_call(c, "{\"cmd\":\"balance\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 100);
	cJSON_Delete(r);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop'"), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM idem"), 0);
	fault(0);
	/* Refused with unavailable until the next probe finds storage back. */
	while (!made) {
		ck_assert(now_ms() < deadline);
		r = h_call(c, drop);
		if (h_error(r) != NULL && strcmp(h_error(r), "unavailable") ==
		    0) {
			usleep(100 * 1000);
		} else {
			H_ASSERT_OK(r);
			ck_assert_int_eq(h_num(r, "balance"), 90);
			made = 1;
		}
		cJSON_Delete(r);
	}
	ck_assert_int_eq(fake_vends(f), 1);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'pending'"), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'completed'"), 1);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	ck_assert_int_eq(h_server_log_count(srv, "storage recovered after"),
	    1);
	h_close(c);
	fake_stop(f);
}
END_TEST

/* With alice at 100: her drop of Coke (10) from a machine that vends. */
static void
alice_drops_once(void)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	cJSON *r;

	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 90);
	cJSON_Delete(r);
	ck_assert_int_eq(fake_vends(f), 1);
	h_close(c);
	fake_stop(f);
}

/*
 * A sync of the WAL that fails may have lost what it was making durable,
 * and later writes would build on it: the drop waiting on it is answered
 * internal (outcome unknown) and never reaches the machine, and writes
 * are refused until a restart, which settles the drop from what the
 * disk kept.
 */
START_TEST(a_failed_sync_stops_writes_until_a_restart)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw"), *d;
	cJSON *r;

	sessions_landed(c);
	fault_kind("sync");
	r = h_call(c, "{\"cmd\":\"drop\",\"machine\":\"m1\",\"slot\":3}");
	H_ASSERT_ERROR(r, "internal");
	cJSON_Delete(r);
	ck_assert_int_eq(fake_vends(f), 0);
	ck_assert(h_server_log_contains(srv, "storage is failing: drop: the "
	    "sync of"));
	ck_assert(h_server_log_contains(srv, "writes are refused with "
	    "unavailable until drinkd is restarted"));
	/* The disk works again, but what drinkd holds may not be on it. */
	fault(0);
	r = h_call(c, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":10}");
	H_ASSERT_ERROR(r, "unavailable");
	ck_assert_int_ge(h_num(r, "retry_after"), 1);
	cJSON_Delete(r);
	d = still_served(srv, f, 0);
	h_close(c);
	h_close(d);
	fake_stop(f);
	ck_assert_int_eq(h_server_stop(srv), 0);
	h_server_restart(srv);
	/* The hold the machine never saw is released. */
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'pending'"), 0);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	alice_drops_once();
}
END_TEST

/*
 * Writes that join the open batch while a sync runs are rolled back when
 * that sync fails: answered internal like the writes it was syncing, but
 * never applied, while what the kernel kept of the synced batch is there
 * after a restart.
 */
START_TEST(a_batch_open_when_a_sync_fails_is_rolled_back)
{
	struct h_client *a = h_connect_as(srv, "alice", "alicepw");
	struct h_client *b = h_connect_as(srv, "alice", "alicepw");
	char *syncing = xasprintf("%s.syncing", fault_flag);
	cJSON *r;

	ck_assert_int_eq(h_sql_wait(srv, 1, "SELECT count(*) = 2 FROM"
	    " sessions WHERE user = 'alice' AND ended IS NULL"), 1);
	/* Answered once the sessions' sync is done (sessions_landed). */
	r = h_call(a, "{\"cmd\":\"history\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	fault_kind("slowfail");
	h_send(a, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":10}");
	H_WAIT_UNTIL(access(syncing, F_OK) == 0);
	r = h_call(b, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":5}");
	H_ASSERT_ERROR(r, "internal");
	cJSON_Delete(r);
	r = h_read(a);
	H_ASSERT_ERROR(r, "internal");
	cJSON_Delete(r);
	ck_assert(h_server_log_contains(srv, "storage is failing: send: the "
	    "sync of"));
	h_close(a);
	h_close(b);
	fault(0);
	ck_assert_int_eq(h_server_stop(srv), 0);
	h_server_restart(srv);
	/* Only the write being synced reached the file. */
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	ck_assert_int_eq(h_balance(srv, "bob"), 10);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'transfer'"), 1);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	free(syncing);
}
END_TEST

/*
 * The WAL's space is reserved at open (db.c); a disk without room for it
 * is logged, and the server works on, the WAL growing as it needs.
 */
START_TEST(a_wal_that_cannot_be_reserved_is_logged)
{
	struct stat st;
	char *wal = xasprintf("%s-wal", srv->db);

	ck_assert(!h_server_log_contains(srv, "cannot reserve"));
	ck_assert_int_eq(h_server_stop(srv), 0);
	fault_kind("noreserve");
	h_server_restart(srv);
	ck_assert(h_server_log_contains(srv, "cannot reserve 96 MiB for"));
	ck_assert(h_server_log_contains(srv, "No space left on device"));
	alice_drops_once();
	ck_assert_int_eq(stat(wal, &st), 0);
	ck_assert_int_lt(st.st_size, 96 << 20);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	free(wal);
}
END_TEST

/*
 * 1 when s's answers file (db/answer.c) holds a vended record whose
 * capture lowers the stock by one: records of a tx, an outcome, the
 * stock + 1 and a check, each at its own 24 bytes.
 */
static int
answer_says_vended(struct h_server *s)
{
	char *path = xasprintf("%s.answers", s->db);
	FILE *f = fopen(path, "rb");
	struct {
		int64_t tx;
		int32_t outcome, stock;
		uint64_t check;
	} rec;
	int found = 0;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while (fread(&rec, sizeof(rec), 1, f) == 1) {
		found |= rec.tx > 0 && rec.outcome == 0 && rec.stock == 0 &&
		    rec.check == ((uint64_t)rec.tx ^ 0x6472696e6b616e73ULL);
	}
	fclose(f);
	free(path);
	return found;
}

/*
 * The machine's thread writes a capture and goes on; its member waits for
 * the sync.  When that sync fails, the vend is still known (the answers
 * file): the member hears the outcome is unknown, and a restart charges
 * the drop the machine vended.
 */
START_TEST(a_capture_whose_sync_fails_is_charged_after_a_restart)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	int64_t t0;
	cJSON *r;

	sessions_landed(c);
	r = drop_vended_during_fault(f, c, "sync");
	ck_assert_ptr_nonnull(strstr(h_str(r, "message"), "retry with the "
	    "same key"));
	cJSON_Delete(r);
	ck_assert(h_server_log_contains(srv, "the sync of"));
	h_close(c);
	fake_stop(f);
	/*
	 * Its capture cannot be recorded before a restart: a stop does not
	 * wait vend_timeout (20 s) for it, and leaves it to the next start.
	 */
	t0 = now_ms();
	ck_assert_int_eq(h_server_stop(srv), 0);
	ck_assert_msg(now_ms() - t0 < 10000, "the stop took %lld ms",
	    (long long)(now_ms() - t0));
	ck_assert(h_server_log_contains(srv, "1 drop(s) the machines answered "
	    "are still to be recorded, and storage refuses writes until a "
	    "restart: not waiting for them"));
	ck_assert(h_server_log_contains(srv, "still not recorded at exit; the "
	    "next start settles it as the machine answered"));
	ck_assert(!h_server_log_contains(srv, "still at a machine at "
	    "shutdown"));
	ck_assert_int_eq(answer_says_vended(srv), 1);
	fault(0);
	h_server_restart(srv);
	/*
	 * The kernel kept the write here (only its sync failed), so the
	 * capture is there; had it been lost, the answers file would have
	 * had the restart capture the drop.  Either way: charged once.
	 */
	charged_once();
}
END_TEST

/* Now, as the shim writes it: ns since the epoch. */
static int64_t
realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* When the shim's last slow sync ended (ns), or 0 if none did. */
static int64_t
slow_sync_ended(void)
{
	char *path = xasprintf("%s.synced", fault_flag);
	long long t = 0;
	FILE *f = fopen(path, "r");

	if (f != NULL) {
		if (fscanf(f, "%lld", &t) != 1) {
			t = 0;
		}
		fclose(f);
	}
	free(path);
	return t;
}

/*
 * A commit is visible before its sync ends: what is answered from it
 * waits for that sync.  While alice's send to bob is being synced (a
 * second), bob's history, read from the database, comes only after the
 * sync, and his balance, kept in memory, is still the old one before it.
 */
START_TEST(a_read_is_answered_only_once_what_it_saw_is_durable)
{
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	struct h_client *d = h_connect_as(srv, "bob", "bobpw");
	int64_t answered;
	cJSON *r, *e;

	H_WAIT_UNTIL(h_sql_int(srv, "SELECT count(*) FROM sessions WHERE"
	    " user = 'bob'") == 1);
	fault_kind("slow");
	h_send(c, "{\"id\":1,\"cmd\":\"send\",\"to\":\"bob\",\"amount\":10}");
	/* Committed (another connection sees it), not yet synced. */
	H_WAIT_UNTIL(h_balance(srv, "bob") == 10);
	r = h_call(d, "{\"cmd\":\"balance\"}");
	answered = realtime_ns();
	H_ASSERT_OK(r);
	ck_assert_msg(h_num(r, "balance") == 0 || answered > slow_sync_ended(),
	    "a balance of %lld before the send was durable",
	    (long long)h_num(r, "balance"));
	cJSON_Delete(r);
	r = h_call(d, "{\"cmd\":\"history\"}");
	answered = realtime_ns();
	H_ASSERT_OK(r);
	e = cJSON_GetArrayItem(h_array(r, "transactions"), 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(h_num(e, "amount"), 10);
	ck_assert_int_gt(slow_sync_ended(), 0);
	ck_assert_int_gt(answered, slow_sync_ended());
	cJSON_Delete(r);
	r = h_read(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 90);
	cJSON_Delete(r);
	fault(0);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	h_close(c);
	h_close(d);
}
END_TEST

/*
 * A refusal is an answer too: one decided from a commit still being
 * synced waits for that sync.  While alice's send to bob is being synced,
 * bob's send of more than he has is refused with the balance it saw:
 * that balance (10) comes only after the sync, or it is the durable one.
 */
START_TEST(a_refusal_is_answered_only_once_what_it_saw_is_durable)
{
	struct h_client *c = h_connect_as(srv, "alice", "alicepw");
	struct h_client *d = h_connect_as(srv, "bob", "bobpw");
	int64_t answered, synced;
	cJSON *r;

	H_WAIT_UNTIL(h_sql_int(srv, "SELECT count(*) FROM sessions WHERE"
	    " user = 'bob'") == 1);
	fault_kind("slow");
	h_send(c, "{\"id\":1,\"cmd\":\"send\",\"to\":\"bob\",\"amount\":10}");
	/* Committed (another connection sees it), not yet synced. */
	H_WAIT_UNTIL(h_balance(srv, "bob") == 10);
	r = h_call(d, "{\"cmd\":\"send\",\"to\":\"alice\",\"amount\":20}");
	answered = realtime_ns();
	synced = slow_sync_ended();
	H_ASSERT_ERROR(r, "insufficient_funds");
	ck_assert_msg(h_num(r, "balance") == 0 ||
	    (synced > 0 && answered > synced),
	    "refused with a balance of %lld before the send was durable",
	    (long long)h_num(r, "balance"));
	cJSON_Delete(r);
	r = h_read(c);
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 90);
	cJSON_Delete(r);
	fault(0);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	h_close(c);
	h_close(d);
}
END_TEST

/* A SIGBUS not raised by the WAL index is explained, and a restart works. */
START_TEST(a_sigbus_is_logged_and_the_next_start_works)
{
	ck_assert_int_eq(kill(srv->pid, SIGBUS), 0);
	ck_assert_int_eq(h_server_stop(srv), 1);
	ck_assert(h_server_log_contains(srv, "drinkd: fatal: SIGBUS: a "
	    "memory-mapped file became unusable"));
	h_server_restart(srv);
	h_close(h_connect_as(srv, "alice", "alicepw"));
	ck_assert_int_eq(h_check_ledger(srv), 0);
}
END_TEST

/*
 * No thread to be had when drinkd opens its database (a system out of
 * tasks): it says so and exits 1, and starts once threads are back.
 */
START_TEST(a_sync_thread_that_cannot_start_stops_drinkd)
{
	ck_assert_int_eq(h_server_stop(srv), 0);
	fault_kind("nothread");
	ck_assert_int_eq(h_server_cmd(srv, "", NULL), 1);
	ck_assert(h_server_log_contains(srv, "cannot start the sync thread "
	    "of "));
	ck_assert(h_server_log_contains(srv, "Resource temporarily "
	    "unavailable"));
	ck_assert(!h_server_log_contains(srv, "fatal"));
	fault_kind(NULL);
	h_server_restart(srv);
	h_close(h_connect_as(srv, "alice", "alicepw"));
	ck_assert_int_eq(h_check_ledger(srv), 0);
}
END_TEST

/*
 * On a kernel without IPv6 (ipv6.disable=1) a "*:PORT" listener, as the
 * installed drinkd.conf has, is every IPv4 address instead of failing
 * the start on socket(AF_INET6).
 */
START_TEST(a_wildcard_listener_without_ipv6_is_ipv4)
{
	FILE *f;

	ck_assert_int_eq(h_server_stop(srv), 0);
	ck_assert_ptr_nonnull(f = fopen(srv->conf, "a"));
	fprintf(f, "listen = *:0\nmachine_listen = *:0\n");
	fclose(f);
	fault_kind("noipv6");
	h_server_restart(srv);
	ck_assert(h_server_log_contains(srv, "member port: listening on *:0 "
	    "(port "));
	ck_assert(h_server_log_contains(srv, "machine port: listening on "
	    "*:0 (port "));
	ck_assert_int_eq(h_server_log_count(srv, "(IPv4 only: no IPv6 on "
	    "this host)"), 2);
	ck_assert(!h_server_log_contains(srv, "Address family"));
	h_close(h_connect_as(srv, "alice", "alicepw"));
	ck_assert_int_eq(h_check_ledger(srv), 0);
}
END_TEST

/* Run a shell command; its exit status (the output goes to the log). */
static int
fault_sh(const char *fmt, const char *path)
{
	char *cmd = xasprintf(fmt, path);
	int st = system(cmd);

	free(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/*
 * The database's -shm broken under a running server by `breaker` (a
 * shell command, %s the -shm's path): no crash; writes answer
 * unavailable, reads and logins still work, the controller stays; a
 * restart once `fixer` repaired the file has everything acknowledged.
 */
static void
shm_broken_is_survived(const char *breaker, const char *fixer)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 0);
	struct h_client *c = h_connect_as(srv, "alice", "alicepw"), *d;
	char *shm = xasprintf("%s-shm", srv->db);
	int64_t sent = 10;
	cJSON *r;
	int i, unavailable = 0;

	h_expect(c, NULL, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":10}");
	ck_assert_int_eq(access(shm, F_OK), 0);
	ck_assert_msg(fault_sh(breaker, shm) == 0, "%s failed on %s: this "
	    "test needs it (root, a filesystem that supports it)", breaker,
	    shm);
	/* The first write may still commit (its frames are in DB-wal);
	 * then writes are refused until a restart. */
	for (i = 0; i < 3; i++) {
		r = h_call(c, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1}");
		if (h_ok(r)) {
			ck_assert_int_eq(i, 0);
			sent++;
		} else {
			H_ASSERT_ERROR(r, "unavailable");
			ck_assert_int_ge(h_num(r, "retry_after"), 1);
			unavailable++;
		}
		cJSON_Delete(r);
	}
	ck_assert_int_ge(unavailable, 2);
	ck_assert_int_eq(kill(srv->pid, 0), 0);
	ck_assert(h_server_log_contains(srv, "WAL index"));
	ck_assert(!h_server_log_contains(srv, "fatal"));
	/* Reads see every commit; a new member is greeted and logs in. */
	r = h_call(c, "{\"cmd\":\"balance\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 100 - sent);
	cJSON_Delete(r);
	d = still_served(srv, f, sent);
	h_close(c);
	h_close(d);
	fake_stop(f);
	/* Repaired and restarted: all there, writable, ledger sound. */
	ck_assert_int_eq(h_server_stop(srv), 0);
	ck_assert_msg(fault_sh(fixer, shm) == 0, "%s failed", fixer);
	h_server_restart(srv);
	ck_assert_int_eq(h_balance(srv, "bob"), sent);
	c = h_connect_as(srv, "alice", "alicepw");
	h_expect(c, NULL, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1}");
	h_close(c);
	ck_assert_int_eq(h_balance(srv, "bob"), sent + 1);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	free(shm);
}

/* Someone empties the -shm: its mapped pages are gone (SIGBUS). */
START_TEST(a_truncated_wal_index_is_survived)
{
	shm_broken_is_survived("truncate -s 0 '%s'", "true '%s'");
}
END_TEST

/* chattr +i on the -shm: its mapped pages cannot be written (SIGBUS). */
START_TEST(an_immutable_wal_index_is_survived)
{
	shm_broken_is_survived("chattr +i '%s'", "chattr -i '%s'");
}
END_TEST

/* ---- a full small tmpfs --------------------------------------------- */

/*
 * A tmpfs of size bytes at dir, in a mount namespace of this test
 * process's own (h_own_mounts): drinkd, started later, inherits it, and
 * it vanishes with the test.
 */
static void
tmpfs_mount(const char *dir, long size)
{
	char opts[64];

	h_own_mounts("a full-tmpfs test");
	snprintf(opts, sizeof(opts), "size=%ld,mode=0700", size);
	ck_assert_msg(mount("tmpfs", dir, "tmpfs", 0, opts) == 0,
	    "mount a %ld-byte tmpfs on %s: %s", size, dir, strerror(errno));
}

/* Move path onto the tmpfs at dir and leave a symlink in its place. */
static void
tmpfs_move(const char *path, const char *dir)
{
	const char *base = strrchr(path, '/') + 1;
	char *to = xasprintf("%s/%s", dir, base);

	if (access(path, F_OK) == 0) {
		h_copy_file(path, to, 0600);
		ck_assert_int_eq(unlink(path), 0);
	}
	ck_assert_int_eq(symlink(to, path), 0);
	free(to);
}

/* Write zeros into path until the filesystem is full. */
static void
tmpfs_fill(const char *path)
{
	static const char zero[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	while (write(fd, zero, sizeof(zero)) > 0) {
		;
	}
	ck_assert_int_eq(errno, ENOSPC);
	close(fd);
}

/* alice's keyed drop from m1 slot 3: the error code, or NULL when ok. */
static char *
tmpfs_drop(struct h_client *c, int key)
{
	cJSON *r = h_callf(c, "{\"cmd\":\"drop\",\"machine\":\"m1\","
	    "\"slot\":3,\"key\":\"t%d\"}", key);
	char *err = h_error(r) != NULL ? xstrdup(h_error(r)) : NULL;

	if (err != NULL && strcmp(err, "unavailable") == 0) {
		ck_assert_int_ge(h_num(r, "retry_after"), 1);
	}
	cJSON_Delete(r);
	return err;
}

START_TEST(a_full_tmpfs_degrades_and_recovers)
{
	char *mnt, *filler, *answers;
	struct h_server *s;
	struct h_client *c, *d;
	struct fake *f;
	struct stat st;
	char *err;
	cJSON *r;
	int i, key = 0, unavailable = 0, vends, drops;

	s = h_machine_server_start("vend_timeout = 20\n");
	h_admin(s, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Big Drink\"}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":3,\"item\":\"Coke\",\"price\":1,\"stock\":500}", NULL);
	ck_assert_int_eq(h_server_stop(s), 0);
	/* The database, its WAL and the answers log on a small tmpfs. */
	mnt = xasprintf("%s/tmpfs", s->dir);
	ck_assert_int_eq(mkdir(mnt, 0700), 0);
	ck_assert_int_eq(stat(s->db, &st), 0);
	tmpfs_mount(mnt, (long)st.st_size + 1024 * 1024);
	answers = xasprintf("%s.answers", s->db);
	tmpfs_move(s->db, mnt);
	tmpfs_move(answers, mnt);
	h_server_restart(s);
	f = fake_start(s, "m1", FAKE_ACK, 0);
	c = h_connect_as(s, "alice", "alicepw");
	for (i = 0; i < 3; i++) {
		ck_assert_ptr_null(tmpfs_drop(c, key++));
	}
	/* Full, while drops go on. */
	filler = xasprintf("%s/filler", mnt);
	tmpfs_fill(filler);
	for (i = 0; i < 200 && unavailable < 2; i++) {
		err = tmpfs_drop(c, key++);
		ck_assert_msg(err == NULL || strcmp(err, "unavailable") == 0 ||
		    strcmp(err, "internal") == 0 ||
		    strcmp(err, "drop_in_progress") == 0, "drop: %s", err);
		unavailable += err != NULL && strcmp(err, "unavailable") == 0;
		free(err);
		r = h_call(c, "{\"cmd\":\"send\",\"to\":\"bob\","
		    "\"amount\":1}");
		if (!h_ok(r)) {
			ck_assert_msg(strcmp(h_error(r), "unavailable") == 0 ||
			    strcmp(h_error(r), "internal") == 0, "%s",
			    h_text(r));
			unavailable += strcmp(h_error(r), "unavailable") == 0;
		}
		cJSON_Delete(r);
	}
	ck_assert_msg(unavailable >= 2, "a full tmpfs never refused a write");
	/* Greeted, logged in, reads; the controller is still there. */
	d = still_served(s, f, -1);
	ck_assert_int_eq(kill(s->pid, 0), 0);
	ck_assert(h_server_log_contains(s, "storage is failing"));
	ck_assert(!h_server_log_contains(s, "fatal"));
	/* Space again: nothing wedged, everything settled. */
	ck_assert_int_eq(unlink(filler), 0);
	H_WAIT_UNTIL((err = tmpfs_drop(c, key++)) == NULL || (free(err), 0));
	H_WAIT_UNTIL(h_sql_int(s, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'pending'") == 0);
	ck_assert(h_server_log_contains(s, "storage recovered after"));
	/* Nothing vended for free, nothing charged that was not vended. */
	vends = fake_vends(f);
	drops = (int)h_sql_int(s, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'completed'");
	ck_assert_int_eq(drops, vends);
	ck_assert_int_eq(h_balance(s, "alice") + h_balance(s, "bob"),
	    100 - drops);
	ck_assert_int_eq(h_check_ledger(s), 0);
	h_close(c);
	h_close(d);
	fake_stop(f);
	ck_assert_int_eq(h_server_stop(s), 0);
	ck_assert_int_eq(umount2(mnt, MNT_DETACH), 0);
	h_server_free(s);
	free(answers);
	free(filler);
	free(mnt);
}
END_TEST

/*
 * Run "drinkd CMD" on the stopped server's database, held at its first
 * read of it (DRINK_FAULT_HOLD) while the server starts again on it: CMD
 * then reads a database that may change under it.  Its exit status in
 * *status; what it printed, to free.
 */
static char *
fault_run_while_started(const char *cmd, int *status)
{
	char *hold = xasprintf("%s.hold", fault_flag);
	char *reading = xasprintf("%s.hold.reading", fault_flag);
	char *out = xasprintf("%s.out", fault_flag);
	char *args = xasprintf("-f %s %s", srv->conf, cmd);
	char *wal = xasprintf("%s-wal", srv->db), *text;
	pid_t pid;
	FILE *f;

	ck_assert_int_eq(h_server_stop(srv), 0);
	ck_assert_msg(access(wal, F_OK) != 0, "%s left by a clean stop", wal);
	f = fopen(hold, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("DRINK_FAULT_HOLD", hold, 1);
		_exit(h_drinkd_run(args, out, 60000));
	}
	H_WAIT_UNTIL(access(reading, F_OK) == 0);
	h_server_restart(srv);
	ck_assert_int_eq(access(wal, F_OK), 0);
	unlink(hold);
	ck_assert_int_eq(waitpid(pid, status, 0), pid);
	text = h_slurp(out, H_SLURP_MAX);
	free(wal);
	free(args);
	free(out);
	free(reading);
	free(hold);
	return text;
}

/*
 * check-ledger on a stopped server's database reads it as it lies, with
 * no WAL and no lock; a drinkd started on it during the check may have
 * changed it under the check, so the check says so instead of a verdict,
 * and exits 1.
 */
START_TEST(check_ledger_says_when_a_drinkd_started_during_it)
{
	int status;
	char *text = fault_run_while_started("check-ledger", &status);

	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
	    strstr(text, "during the check; run check-ledger again") != NULL &&
	    strstr(text, "ledger OK") == NULL, "status %d: %s", status, text);
	free(text);
	/* Run again, beside the running server: a verdict. */
	ck_assert_int_eq(h_check_ledger(srv), 0);
}
END_TEST

/*
 * backup of a stopped server's database reads it the same way (as it
 * lies, so that it leaves no DB-wal or DB-shm beside it): a drinkd
 * started on it during the copy may have changed it under the copy, so
 * the backup fails, saying so, and writes no FILE.
 */
START_TEST(backup_says_when_a_drinkd_started_during_it)
{
	char *copy = xasprintf("%s/copy.db", srv->dir);
	char *cmd = xasprintf("backup %s", copy), *text;
	int status;

	text = fault_run_while_started(cmd, &status);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
	    strstr(text, "during the backup; run backup again") != NULL &&
	    strstr(text, "written to") == NULL, "status %d: %s", status,
	    text);
	ck_assert_msg(access(copy, F_OK) != 0, "%s written", copy);
	free(text);
	/* Run again, beside the running server: a copy. */
	ck_assert_int_eq(h_server_cmd(srv, cmd, NULL), 0);
	ck_assert_int_eq(access(copy, F_OK), 0);
	free(cmd);
	free(copy);
}
END_TEST

/* ---- the Sunday dialect ---------------------------------------------- */

/* A Sunday connection, greeted on m1. */
static struct h_client *
sunday_connect(void)
{
	char err[512];
	struct h_client *c = h_tls_dial(lg_port(srv, "sunday_listen"), NULL,
	    err, sizeof(err));

	ck_assert_msg(c != NULL, "Sunday connect: %s", err);
	lg_expect(c, "Welcome to Big Drink\n");
	return c;
}

/* alice logged in on a Sunday connection, at her opening 100. */
static struct h_client *
sunday_alice(void)
{
	struct h_client *c = sunday_connect();

	lg_say(c, "USER alice\n", "OK: \r\n");
	lg_say(c, "PASS alicepw\n", "OK: 100\r\n");
	return c;
}

/*
 * STAT's one failure besides 413: the slots cannot be read (LEGACY.md
 * 2.3, "internal error only").  Reads of the database fail; the reply is
 * 416 in one line, and once the disk reads again the same connection
 * gets the listing, unchanged.  GETBALANCE, for the same reason, is 103.
 */
START_TEST(sunday_stat_is_416_and_getbalance_103_while_reads_fail)
{
	static const char listing[] = "3 \"Coke\" 10 5 1\n"
	    "OK 1 Slots retrieved\r\n";
	struct h_client *c = sunday_connect(), *b = sunday_alice();
	int64_t txs = h_sql_int(srv, "SELECT count(*) FROM tx");

	lg_say(c, "STAT\n", listing);
	/*
	 * A commit makes every reader's cached pages stale: the next read
	 * has to go to the disk.
	 */
	h_admin(srv, "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":3,"
	    "\"stock\":5}", NULL);
	fault_kind("read");
	lg_say(c, "STAT\nWHOAMI\n", "ERR 416 Machine is offline or "
	    "unreachable\r\nERR 204 You need to login.\r\n");
	/* GETBALANCE's only failure but 204 (docs/legacy.md): 103. */
	lg_say(b, "GETBALANCE\n", "ERR 103 Unknown Failure.\r\n");
	fault(0);
	lg_say(b, "GETBALANCE\n", "OK: 100\r\n");
	h_close(b);
	/* SQLite reports EIO on a read as a malformed database. */
	ck_assert(h_server_log_contains(srv, "database disk image is "
	    "malformed"));
	lg_say(c, "STAT\n", listing);
	ck_assert_int_eq(h_sql_int(srv, "SELECT stock FROM slots WHERE"
	    " machine = 'm1' AND slot = 3"), 5);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx"), txs);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	h_ledger_settled(srv);
	h_close(c);
}
END_TEST

/*
 * DROPs whose hold storage cannot take: the first one's commit meets the
 * fault (drink's drop: internal), the second is refused before it is
 * tried (unavailable).  Neither is one of LEGACY.md 2.5's mapped codes:
 * 103, in one line.  The machine is never asked, nothing is held or
 * charged, and once storage is back the next DROP vends.
 */
START_TEST(sunday_drop_refused_by_storage_is_103_and_charges_nothing)
{
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 0);
	struct h_client *c = sunday_alice(), *a;

	sessions_landed(NULL);
	fault_kind("eio");
	lg_say(c, "DROP 3\nWHOAMI\n", "ERR 103 Unknown Failure.\r\n"
	    "OK:  alice\r\n");
	lg_say(c, "DROP 3\n", "ERR 103 Unknown Failure.\r\n");
	ck_assert(h_server_log_contains(srv, "storage is failing: drop"));
	fault(0);
	ck_assert_int_eq(fake_vends(f), 0);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop'"), 0);
	h_ledger_settled(srv);
	lg_say(c, "GETBALANCE\n", "OK: 100\r\n");
	a = h_connect_as(srv, "admin", "adminpw");
	/* Storage takes writes again (m1's slot 3 set as it is). */
	H_WAIT_UNTIL(call_ok(a, "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":3,\"item\":\"Coke\",\"price\":10,\"stock\":5}"));
	lg_say(c, "DROP 3\n", "OK:  Dropping drink\r\n");
	lg_say(c, "GETBALANCE\n", "OK: 90\r\n");
	ck_assert_int_eq(fake_vends(f), 1);
	h_ledger_settled(srv);
	h_close(a);
	h_close(c);
	fake_stop(f);
}
END_TEST

/*
 * A DROP the machine vended while storage failed: its capture cannot be
 * recorded, so drink's drop is internal (outcome unknown) and Sunday
 * says 103, not 150: the machine did not fail.  Once storage recovers the
 * capture is recorded as the machine said: charged once.
 */
START_TEST(sunday_drop_whose_capture_cannot_be_recorded_is_103)
{
	struct fake *f = fake_start(srv, "m1", FAKE_SILENT, 0);
	struct h_client *c = sunday_alice();

	lg_send(c, "DROP 3\n");
	fake_wait_vends(f, 1);
	fault_kind("eio");
	fake_answer_last(f, 1);
	lg_expect(c, "ERR 103 Unknown Failure.\r\n");
	ck_assert(h_server_log_contains(srv, "VENDED, but the database "
	    "refused to record the capture"));
	fault(0);
	H_WAIT_UNTIL(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop' AND state = 'completed'") == 1);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE"
	    " kind = 'drop'"), 1);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	lg_say(c, "GETBALANCE\n", "OK: 90\r\n");
	ck_assert_int_eq(fake_vends(f), 1);
	h_ledger_settled(srv);
	h_close(c);
	fake_stop(f);
}
END_TEST

/*
 * An IBUTTON login while writes are refused (the card's last use is the
 * lookup's first write): LEGACY.md 2.3's 207, byte for byte, and the log
 * says storage refused it, not "internal error": nothing went wrong
 * inside drinkd.  Once storage is back the card logs in.
 */
START_TEST(sunday_ibutton_while_writes_are_refused_logs_unavailable)
{
	static const char want[] = "IBUTTON login refused from 127.0.0.1: "
	    "storage is unavailable (writes are refused until it recovers)";
	int64_t deadline = now_ms() + H_WAIT_MS;
	struct h_client *c, *a;
	char *ok;
	cJSON *r;
	int refused = 0;

	h_admin(srv, "{\"cmd\":\"card_add\",\"card\":\"a11ce0a11ce0\","
	    "\"user\":\"alice\"}", NULL);
	c = sunday_connect();
	a = h_connect_as(srv, "alice", "alicepw");
	fault_kind("full");
	/* A member's write meets the fault, and then they are refused. */
	while (!refused) {
		ck_assert(now_ms() < deadline);
		r = h_call(a, "{\"cmd\":\"send\",\"to\":\"bob\","
		    "\"amount\":1}");
		ck_assert_msg(h_error(r) != NULL, "%s", h_text(r));
		refused = strcmp(h_error(r), "unavailable") == 0;
		cJSON_Delete(r);
	}
	/* (A login may be the probe let through every 2 s: try again.) */
	while (!h_server_log_contains(srv, want)) {
		ck_assert_msg(now_ms() < deadline, "no IBUTTON login was "
		    "logged as refused by storage");
		lg_say(c, "IBUTTON a11ce0a11ce0\n", "ERR 207 Invalid "
		    "Ibutton\r\n");
		usleep(100 * 1000);
	}
	ck_assert_int_eq(h_server_log_count(srv, "IBUTTON login refused "
	    "from 127.0.0.1: internal error"), 0);
	lg_say(c, "WHOAMI\n", "ERR 204 You need to login.\r\n");
	fault(0);
	H_WAIT_UNTIL(call_ok(a, "{\"cmd\":\"send\",\"to\":\"bob\","
	    "\"amount\":1}"));
	/* (The first send that met the fault may or may not have landed.) */
	ok = xasprintf("OK: %lld\r\n", (long long)h_balance(srv, "alice"));
	lg_say(c, "IBUTTON a11ce0a11ce0\n", ok);
	free(ok);
	lg_say(c, "WHOAMI\n", "OK:  alice\r\n");
	h_ledger_settled(srv);
	h_close(a);
	h_close(c);
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
	tcase_add_test(tc,
	    a_drop_left_to_the_settler_ends_when_it_is_recorded);
	tcase_add_test(tc, a_sensed_count_stored_before_a_capture_retry_stands);
	tcase_add_test(tc,
	    a_sensed_count_stored_before_a_lost_ok_is_heard_of_stands);
	tcase_add_test(tc, a_restart_captures_what_the_machine_vended);
	tcase_add_test(tc, a_sensed_count_stored_before_a_restart_stands);
	tcase_add_test(tc,
	    a_sensed_count_whose_sync_failed_stands_after_a_restart);
	tcase_add_test(tc, a_restart_releases_what_the_machine_never_answered);
	tcase_add_test(tc, writes_are_refused_visibly_while_storage_fails);
	tcase_add_test(tc, a_probe_that_writes_nothing_does_not_end_a_fault);
	tcase_add_test(tc, a_probe_whose_sync_fails_does_not_end_a_fault);
	tcase_add_test(tc, events_storage_refuses_are_not_logged_as_bad);
	tcase_add_test(tc, a_failed_sync_stops_writes_until_a_restart);
	tcase_add_test(tc, a_hold_whose_commit_fails_is_never_left_pending);
	tcase_add_test(tc, a_batch_open_when_a_sync_fails_is_rolled_back);
	tcase_add_test(tc, a_wal_that_cannot_be_reserved_is_logged);
	tcase_add_test(tc, a_read_is_answered_only_once_what_it_saw_is_durable);
	tcase_add_test(tc,
	    a_refusal_is_answered_only_once_what_it_saw_is_durable);
	tcase_add_test(tc,
	    a_capture_whose_sync_fails_is_charged_after_a_restart);
	tcase_add_test(tc, a_sigbus_is_logged_and_the_next_start_works);
	tcase_add_test(tc, a_sync_thread_that_cannot_start_stops_drinkd);
	tcase_add_test(tc, a_wildcard_listener_without_ipv6_is_ipv4);
	tcase_add_test(tc, a_truncated_wal_index_is_survived);
	tcase_add_test(tc, an_immutable_wal_index_is_survived);
	tcase_add_test(tc, a_card_tap_while_writes_are_refused_is_unavailable);
	tcase_add_test(tc, check_ledger_says_when_a_drinkd_started_during_it);
	tcase_add_test(tc, backup_says_when_a_drinkd_started_during_it);
	tc = h_tcase(s, "Sunday replies while storage fails", sunday_setup,
	    teardown, 180);
	tcase_add_test(tc,
	    sunday_stat_is_416_and_getbalance_103_while_reads_fail);
	tcase_add_test(tc,
	    sunday_drop_refused_by_storage_is_103_and_charges_nothing);
	tcase_add_test(tc, sunday_drop_whose_capture_cannot_be_recorded_is_103);
	tcase_add_test(tc,
	    sunday_ibutton_while_writes_are_refused_logs_unavailable);
	tc = h_tcase(s, "a full small tmpfs", NULL, NULL, 240);
	tcase_add_test(tc, a_full_tmpfs_degrades_and_recovers);
	failed = h_run(s);
	return h_finish(failed);
}
