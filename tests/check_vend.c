/*
 * The vend queue and machine registry (server/vend.c) alone: no sockets,
 * no database, no sleeps.  The registry's clock is a variable the tests
 * move, and a machine's transport is two counters (wakes, hang-ups).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drinkd.h"
#include "harness.h"

#define ABANDON_MS 5000

static int64_t clk;
static struct vend_reg *reg;

struct transport {
	int wakes;
	int hangups;
};

static int64_t
test_clock(void *arg)
{
	return *(int64_t *)arg;
}

static void
test_wake(void *arg)
{
	((struct transport *)arg)->wakes++;
}

static void
test_hangup(void *arg)
{
	((struct transport *)arg)->hangups++;
}

static const struct vend_ops test_ops = {
	.wake = test_wake,
	.hangup = test_hangup,
};

static void
setup(void)
{
	clk = 1000000;
	reg = vend_reg_new(ABANDON_MS, test_clock, &clk);
}

/* Every test leaves the registry empty: no machine online, no vend. */
static void
teardown(void)
{
	vend_reg_free(reg);
}

static struct mach *
online(const char *name, struct transport *t)
{
	struct mach *m = vend_mach_new(name, &test_ops, t);

	vend_attach(reg, m);
	ck_assert_int_eq(vend_mach_state(reg, m), MACH_STATE_IDLE);
	return m;
}

static void
offline(struct mach *m)
{
	vend_detach(reg, m);
	ck_assert_int_eq(vend_mach_state(reg, m), MACH_STATE_GONE);
	vend_mach_free(m);
}

static void
vend_init(struct vend *v, const char *user, int64_t tx, int slot,
    int64_t timeout_ms)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->user, sizeof(v->user), "%s", user);
	v->tx = tx;
	v->slot = slot;
	v->timeout_ms = timeout_ms;
}

/* The machine takes its next vend, which must be v. */
static void
expect_sent(struct mach *m, struct vend *v)
{
	struct vend_cmd c;

	ck_assert_int_eq(vend_next(reg, m, &c), 1);
	ck_assert_str_eq(c.id, v->id);
	ck_assert_int_eq(c.slot, v->slot);
	ck_assert_int_eq(c.tx, v->tx);
	ck_assert_int_eq(v->state, VEND_STATE_SENT);
	ck_assert_int_eq(vend_mach_state(reg, m), MACH_STATE_VENDING);
}

static void
expect_nothing_to_send(struct mach *m)
{
	struct vend_cmd c;

	ck_assert_int_eq(vend_next(reg, m, &c), 0);
}

static void
expect_done(struct vend *v, int result)
{
	ck_assert_int_eq(vend_poll(reg, v), 1);
	ck_assert_int_eq(v->state, VEND_STATE_DONE);
	ck_assert_int_eq(v->result, result);
	vend_finish(reg, v);
	ck_assert_int_eq(v->state, VEND_STATE_FINISHED);
}

/* m answers v, the vend it holds, with success: v is done and finished. */
static void
expect_vended(struct mach *m, struct vend *v)
{
	ck_assert_int_eq(vend_complete(reg, m, v->id, ERR_NONE, ""),
	    VEND_MATCH_INFLIGHT);
	expect_done(v, ERR_NONE);
}

/* A new vend for machine, which the registry must accept. */
static void
submit_ok(struct vend *v, const char *user, int64_t tx, int slot,
    int64_t timeout_ms, const char *machine)
{
	vend_init(v, user, tx, slot, timeout_ms);
	ck_assert_int_eq(vend_submit(reg, v, machine), ERR_NONE);
}

START_TEST(vends_are_sent_first_come_first_served_one_at_a_time)
{
	struct transport t = { 0 };
	struct mach *m = online("m1", &t);
	struct vend a, b, c;

	submit_ok(&a, "alice", 11, 3, 30000, "m1");
	submit_ok(&b, "bob", 12, 4, 30000, "m1");
	submit_ok(&c, "carol", 13, 3, 30000, "m1");
	ck_assert_int_eq(t.wakes, 3);
	ck_assert_int_eq(vend_active(reg), 3);
	expect_sent(m, &a);
	/* Nothing else goes to the machine until a answers. */
	expect_nothing_to_send(m);
	ck_assert_int_eq(vend_poll(reg, &b), 0);
	expect_vended(m, &a);
	expect_sent(m, &b);
	ck_assert_int_eq(vend_complete(reg, m, b.id, ERR_DROP_FAILED,
	    "the machine refused: jammed"), VEND_MATCH_INFLIGHT);
	ck_assert_int_eq(vend_poll(reg, &b), 1);
	ck_assert_str_eq(b.message, "the machine refused: jammed");
	expect_done(&b, ERR_DROP_FAILED);
	expect_sent(m, &c);
	expect_vended(m, &c);
	ck_assert_int_eq(vend_active(reg), 0);
	ck_assert_int_eq(vend_mach_state(reg, m), MACH_STATE_IDLE);
	offline(m);
}
END_TEST

START_TEST(an_ok_frees_the_machine_before_its_capture_is_recorded)
{
	struct transport t = { 0 };
	struct mach *m = online("m1", &t);
	struct vend_abandoned info;
	struct vend a, b, *got;
	struct db_ticket *capture = (struct db_ticket *)&t;

	submit_ok(&a, "alice", 11, 3, 1000, "m1");
	submit_ok(&b, "bob", 12, 4, 1000, "m1");
	expect_sent(m, &a);
	/* Only the vend in flight is taken, and only once. */
	ck_assert_ptr_null(vend_take(reg, m, b.id, &info));
	ck_assert_ptr_null(vend_take(reg, m, "v0.0", &info));
	got = vend_take(reg, m, a.id, &info);
	ck_assert_ptr_eq(got, &a);
	ck_assert_int_eq(info.tx, 11);
	ck_assert_int_eq(info.slot, 3);
	ck_assert_int_eq(a.state, VEND_STATE_ANSWERED);
	ck_assert_ptr_null(vend_take(reg, m, a.id, &info));
	/* The machine is free: the next vend goes out at once... */
	ck_assert_int_eq(vend_mach_state(reg, m), MACH_STATE_IDLE);
	expect_sent(m, &b);
	/* ...while a waits, past its deadline, without timing out. */
	clk += 5000;
	ck_assert_int_eq(vend_poll(reg, &a), 0);
	ck_assert_int_eq(vend_wait_for(reg, &a, 0), 0);
	ck_assert_int_eq(a.state, VEND_STATE_ANSWERED);
	/* Queued: a holds the capture's ticket and is done, ok. */
	vend_settle(reg, &a, ERR_NONE, capture);
	ck_assert_ptr_eq(a.capture, capture);
	a.capture = NULL;
	expect_done(&a, ERR_NONE);
	/* b, sent before a was recorded, still times out on its own. */
	ck_assert_int_eq(vend_poll(reg, &b), 1);
	ck_assert_int_eq(b.result, ERR_DROP_TIMEOUT);
	expect_done(&b, ERR_DROP_TIMEOUT);
	offline(m);
}
END_TEST

START_TEST(an_answered_vend_outlives_its_machine)
{
	struct transport t = { 0 };
	struct mach *m = online("m1", &t);
	struct vend_abandoned info;
	struct vend a;

	submit_ok(&a, "alice", 11, 3, 1000, "m1");
	expect_sent(m, &a);
	ck_assert_ptr_eq(vend_take(reg, m, a.id, &info), &a);
	/* The connection ends before the capture is recorded. */
	vend_detach(reg, m);
	ck_assert_int_eq(a.state, VEND_STATE_ANSWERED);
	ck_assert_int_eq(vend_active(reg), 1);
	/* No capture queued (refused): the member captures it. */
	vend_settle(reg, &a, ERR_NONE, NULL);
	ck_assert_ptr_null(a.capture);
	expect_done(&a, ERR_NONE);
	ck_assert_int_eq(vend_active(reg), 0);
	vend_mach_free(m);
}
END_TEST

START_TEST(a_vend_to_an_offline_machine_is_refused)
{
	struct transport t = { 0 };
	struct mach *m = online("m1", &t);
	struct vend a;

	vend_init(&a, "alice", 11, 3, 30000);
	ck_assert_int_eq(vend_submit(reg, &a, "m2"), ERR_MACHINE_OFFLINE);
	ck_assert_str_eq(a.message, "machine m2 is offline");
	ck_assert_int_eq(a.state, VEND_STATE_NEW);
	ck_assert_int_eq(vend_active(reg), 0);
	ck_assert(vend_online(reg, "m1"));
	ck_assert(!vend_online(reg, "m2"));
	offline(m);
	ck_assert(!vend_online(reg, "m1"));
	ck_assert_int_eq(vend_submit(reg, &a, "m1"), ERR_MACHINE_OFFLINE);
}
END_TEST

START_TEST(a_queued_vend_times_out_and_leaves_the_queue)
{
	struct transport t = { 0 };
	struct mach *m = online("m1", &t);
	struct vend a, b;

	submit_ok(&a, "alice", 11, 3, 30000, "m1");
	submit_ok(&b, "bob", 12, 4, 10000, "m1");
	expect_sent(m, &a);
	clk += 9999;
	ck_assert_int_eq(vend_poll(reg, &b), 0);
	clk += 1;
	ck_assert_int_eq(vend_poll(reg, &b), 1);
	ck_assert_int_eq(b.result, ERR_DROP_TIMEOUT);
	ck_assert_str_eq(b.message, "the machine was busy with earlier drops; "
	    "nothing charged");
	ck_assert_ptr_null(b.machine);
	vend_finish(reg, &b);
	/* a is unaffected, and b is never sent. */
	expect_vended(m, &a);
	expect_nothing_to_send(m);
	offline(m);
}
END_TEST

/* The machine has the whole timeout to answer, however long b queued. */
START_TEST(the_answer_window_runs_from_the_send)
{
	struct transport t = { 0 };
	struct mach *m = online("m1", &t);
	struct vend a, b;

	submit_ok(&a, "alice", 11, 3, 30000, "m1");
	submit_ok(&b, "bob", 12, 4, 10000, "m1");
	expect_sent(m, &a);
	clk += 9000;
	expect_vended(m, &a);
	expect_sent(m, &b);
	clk += 9999;
	ck_assert_int_eq(vend_poll(reg, &b), 0);
	clk += 1;
	ck_assert_int_eq(vend_poll(reg, &b), 1);
	ck_assert_str_eq(b.message, "the machine did not answer in time; "
	    "nothing charged");
	expect_done(&b, ERR_DROP_TIMEOUT);
	clk += ABANDON_MS;
	offline(m);
}
END_TEST

/* The next vend m sends, which must be v with delay. */
static void
expect_sent_delay(struct mach *m, struct vend *v, int delay)
{
	struct vend_cmd c;

	ck_assert_int_eq(vend_next(reg, m, &c), 1);
	ck_assert_str_eq(c.id, v->id);
	ck_assert_int_eq(c.delay, delay);
}

/* A controller waits a delay out itself: it is sent, and given time. */
START_TEST(a_controller_is_sent_the_delay_and_given_it)
{
	struct transport t = { 0 };
	struct mach *m = online("m1", &t);
	struct vend a;

	vend_init(&a, "alice", 11, 3, 10000);
	a.delay = 20;
	ck_assert_int_eq(vend_submit(reg, &a, "m1"), ERR_NONE);
	expect_sent_delay(m, &a, 20);
	clk += 29999;
	ck_assert_int_eq(vend_poll(reg, &a), 0);
	expect_vended(m, &a);
	offline(m);
}
END_TEST

/*
 * A board knows no delay: the registry waits it out before the vend joins
 * the queue, so it holds up no one, and the vend then queues behind those
 * already waiting, with the whole timeout to be sent and then answered.
 */
START_TEST(a_held_delay_is_waited_out_before_the_queue)
{
	struct transport t = { 0 };
	struct mach *m = vend_mach_new("m1", &test_ops, &t);
	int64_t t0 = clk;
	struct vend a, b, c, d;

	vend_mach_hold_delay(m);
	vend_attach(reg, m);
	vend_init(&a, "alice", 11, 3, 5000);
	a.delay = 10;
	ck_assert_int_eq(vend_submit(reg, &a, "m1"), ERR_NONE);
	submit_ok(&b, "bob", 12, 4, 5000, "m1");
	/* bob's drop, after alice's, goes first, at once. */
	expect_sent_delay(m, &b, 0);
	clk = t0 + 3000;
	expect_vended(m, &b);
	expect_nothing_to_send(m);
	ck_assert_int_eq(vend_next_due(reg, m), t0 + 10000);
	/* carol comes while alice's delay runs: she is served at once too. */
	clk = t0 + 5000;
	submit_ok(&c, "carol", 13, 5, 5000, "m1");
	expect_sent_delay(m, &c, 0);
	/* Busy: nothing is due until the machine answers. */
	ck_assert_int_eq(vend_next_due(reg, m), INT64_MAX);
	clk = t0 + 11000;
	submit_ok(&d, "dave", 14, 6, 5000, "m1");
	clk = t0 + 12000;
	ck_assert_int_eq(vend_poll(reg, &a), 0);
	expect_vended(m, &c);
	/* alice joined the queue at t0 + 10 s, before dave: she is next. */
	expect_sent_delay(m, &a, 0);
	clk = t0 + 16999;
	ck_assert_int_eq(vend_poll(reg, &a), 0);
	expect_vended(m, &a);
	/* dave waited 5 s in the queue by then: he timed out unsent. */
	clk = t0 + 17000;
	expect_nothing_to_send(m);
	/* Not due either (no busy loop): his member's thread ends him. */
	ck_assert_int_eq(vend_next_due(reg, m), INT64_MAX);
	expect_done(&d, ERR_DROP_TIMEOUT);
	ck_assert_str_eq(d.message, "the machine was busy with earlier drops; "
	    "nothing charged");
	offline(m);
}
END_TEST

START_TEST(an_abandoned_vend_blocks_the_machine_until_its_late_answer)
{
	struct transport t = { 0 };
	struct mach *m = online("m1", &t);
	struct vend_abandoned info;
	struct vend a, b;

	submit_ok(&a, "alice", 11, 3, 10000, "m1");
	submit_ok(&b, "bob", 12, 4, 60000, "m1");
	expect_sent(m, &a);
	clk += 10000;
	ck_assert_int_eq(vend_poll(reg, &a), 1);
	ck_assert_int_eq(a.result, ERR_DROP_TIMEOUT);
	ck_assert_int_eq(vend_mach_state(reg, m), MACH_STATE_ABANDONED);
	ck_assert_int_eq(vend_next_due(reg, m), clk + ABANDON_MS);
	vend_finish(reg, &a);
	/* Still at the machine: b must wait. */
	expect_nothing_to_send(m);
	/* The late answer is recognised as such, with its slot and tx. */
	ck_assert_int_eq(vend_match(reg, m, a.id, &info), VEND_MATCH_LATE);
	ck_assert_int_eq(info.slot, 3);
	ck_assert_int_eq(info.tx, 11);
	ck_assert_int_eq(vend_complete(reg, m, a.id, ERR_NONE, ""),
	    VEND_MATCH_LATE);
	ck_assert_int_eq(vend_mach_state(reg, m), MACH_STATE_IDLE);
	/* A second copy of the answer matches nothing. */
	ck_assert_int_eq(vend_complete(reg, m, a.id, ERR_NONE, ""),
	    VEND_MATCH_NONE);
	expect_sent(m, &b);
	expect_vended(m, &b);
	offline(m);
}
END_TEST

START_TEST(an_abandoned_vend_never_answered_frees_the_machine_later)
{
	struct transport t = { 0 };
	struct mach *m = online("m1", &t);
	struct vend a, b;

	submit_ok(&a, "alice", 11, 3, 10000, "m1");
	submit_ok(&b, "bob", 12, 4, 60000, "m1");
	expect_sent(m, &a);
	clk += 10000;
	expect_done(&a, ERR_DROP_TIMEOUT);
	clk += ABANDON_MS - 1;
	expect_nothing_to_send(m);
	clk += 1;
	expect_sent(m, &b);
	/* The answer to a, far too late, is not taken for b's. */
	ck_assert_int_eq(vend_complete(reg, m, a.id, ERR_NONE, ""),
	    VEND_MATCH_NONE);
	ck_assert_int_eq(vend_poll(reg, &b), 0);
	expect_vended(m, &b);
	offline(m);
}
END_TEST

/* A machine with a fixed pause (a tini board): the late answer ends none. */
START_TEST(a_fixed_pause_holds_the_machine_whatever_answers_late)
{
	struct transport t = { 0 };
	struct mach *m = vend_mach_new("m1", &test_ops, &t);
	struct vend_abandoned info;
	struct vend a, b;

	vend_mach_pause(m, 1234);
	vend_attach(reg, m);
	submit_ok(&a, "alice", 11, 3, 10000, "m1");
	submit_ok(&b, "bob", 12, 4, 60000, "m1");
	expect_sent(m, &a);
	clk += 10000;
	expect_done(&a, ERR_DROP_TIMEOUT);
	ck_assert_int_eq(vend_next_due(reg, m), clk + 1234);
	/* The late answer is late, once, and b still waits. */
	ck_assert_int_eq(vend_complete(reg, m, a.id, ERR_NONE, ""),
	    VEND_MATCH_LATE);
	ck_assert_int_eq(vend_mach_state(reg, m), MACH_STATE_ABANDONED);
	ck_assert_int_eq(vend_match(reg, m, a.id, &info), VEND_MATCH_NONE);
	ck_assert_int_eq(vend_complete(reg, m, a.id, ERR_NONE, ""),
	    VEND_MATCH_NONE);
	ck_assert_int_eq(vend_complete(reg, m, "", ERR_NONE, ""),
	    VEND_MATCH_NONE);
	clk += 1233;
	expect_nothing_to_send(m);
	clk += 1;
	expect_sent(m, &b);
	expect_vended(m, &b);
	offline(m);
}
END_TEST

START_TEST(a_new_connection_replaces_the_old_and_fails_its_vends)
{
	struct transport t1 = { 0 }, t2 = { 0 };
	struct mach *old = online("m1", &t1), *m;
	struct vend a, b, c;

	vend_init(&c, "carol", 13, 3, 30000);
	submit_ok(&a, "alice", 11, 3, 30000, "m1");
	submit_ok(&b, "bob", 12, 4, 30000, "m1");
	expect_sent(old, &a);
	m = online("m1", &t2);
	/* The old connection is hung up once and is offline for good. */
	ck_assert_int_eq(t1.hangups, 1);
	ck_assert_int_eq(vend_mach_state(reg, old), MACH_STATE_GONE);
	ck_assert_int_eq(vend_closed_by(reg, old), MACH_CLOSE_REPLACED);
	expect_done(&a, ERR_DROP_FAILED);
	ck_assert_str_eq(a.message, "the machine disconnected during the "
	    "vend; nothing charged");
	expect_done(&b, ERR_DROP_FAILED);
	ck_assert_str_eq(b.message, "the machine disconnected before "
	    "vending; nothing charged");
	/* The old thread's answer and detach change nothing. */
	ck_assert_int_eq(vend_complete(reg, old, a.id, ERR_NONE, ""),
	    VEND_MATCH_NONE);
	offline(old);
	ck_assert(vend_online(reg, "m1"));
	/* New vends go to the new connection. */
	ck_assert_int_eq(vend_submit(reg, &c, "m1"), ERR_NONE);
	ck_assert_int_eq(t2.wakes, 1);
	expect_sent(m, &c);
	expect_vended(m, &c);
	ck_assert_int_eq(t2.hangups, 0);
	offline(m);
}
END_TEST

START_TEST(closing_a_machine_says_who_closed_it)
{
	struct transport t = { 0 };
	struct mach *m = online("m1", &t);
	struct vend a;

	submit_ok(&a, "alice", 11, 3, 30000, "m1");
	ck_assert_int_eq(vend_close(reg, "m2", MACH_CLOSE_DELETED), 0);
	ck_assert_int_eq(vend_close(reg, "m1", MACH_CLOSE_DISABLED), 1);
	ck_assert_int_eq(t.hangups, 1);
	ck_assert_int_eq(vend_closed_by(reg, m), MACH_CLOSE_DISABLED);
	ck_assert(!vend_online(reg, "m1"));
	expect_done(&a, ERR_DROP_FAILED);
	/* The transport's own detach keeps the server's reason. */
	vend_detach(reg, m);
	ck_assert_int_eq(vend_closed_by(reg, m), MACH_CLOSE_DISABLED);
	offline(m);
}
END_TEST

START_TEST(shutdown_drains_what_was_submitted_and_refuses_more)
{
	struct transport t = { 0 };
	struct mach *m = online("m1", &t);
	struct vend a, b, c;

	vend_init(&c, "carol", 13, 3, 30000);
	submit_ok(&a, "alice", 11, 3, 30000, "m1");
	submit_ok(&b, "bob", 12, 4, 30000, "m1");
	expect_sent(m, &a);
	/* One is at the machine, and left to run on: the stop says so. */
	ck_assert_int_eq(vend_drain(reg), 1);
	ck_assert_int_eq(vend_submit(reg, &c, "m1"), ERR_MACHINE_OFFLINE);
	ck_assert_str_eq(c.message, "the server is shutting down");
	/*
	 * The queued one fails at once, never sent: sent now, it could be
	 * cut off at the machine when the machines are closed.
	 */
	expect_done(&b, ERR_DROP_FAILED);
	ck_assert_str_eq(b.message, "the server is shutting down; nothing "
	    "charged");
	ck_assert_int_eq(vend_active(reg), 1);
	/* The one at the machine runs to the end; nothing else is sent. */
	clk += 29999;
	ck_assert_int_eq(vend_poll(reg, &a), 0);
	ck_assert_int_eq(vend_complete(reg, m, a.id, ERR_NONE, ""),
	    VEND_MATCH_INFLIGHT);
	expect_nothing_to_send(m);
	ck_assert_int_eq(vend_poll(reg, &a), 1);
	/* Done is not settled: the drain still counts it. */
	ck_assert_int_eq(vend_active(reg), 1);
	ck_assert_int_eq(vend_wait_idle(reg, clk), 1);
	vend_finish(reg, &a);
	ck_assert_int_eq(vend_wait_idle(reg, clk), 0);
	/* Closing every machine then hangs each up. */
	vend_close_all(reg, MACH_CLOSE_SHUTDOWN);
	ck_assert_int_eq(vend_closed_by(reg, m), MACH_CLOSE_SHUTDOWN);
	ck_assert_int_eq(t.hangups, 1);
	offline(m);
}
END_TEST

START_TEST(one_drop_in_flight_per_user_until_it_is_settled)
{
	struct transport t1 = { 0 }, t2 = { 0 };
	struct mach *m1 = online("m1", &t1), *m2 = online("m2", &t2);
	struct vend a, a2, b;

	vend_init(&a2, "alice", 12, 3, 30000);
	vend_init(&b, "bob", 13, 3, 30000);
	submit_ok(&a, "alice", 11, 3, 30000, "m1");
	/* Another machine does not matter: one per user. */
	ck_assert_int_eq(vend_submit(reg, &a2, "m2"), ERR_DROP_IN_PROGRESS);
	ck_assert_int_eq(a2.state, VEND_STATE_NEW);
	ck_assert_int_eq(vend_submit(reg, &b, "m2"), ERR_NONE);
	expect_sent(m1, &a);
	ck_assert_int_eq(vend_complete(reg, m1, a.id, ERR_NONE, ""),
	    VEND_MATCH_INFLIGHT);
	ck_assert_int_eq(vend_poll(reg, &a), 1);
	/* Answered but not yet settled: still in flight. */
	ck_assert_int_eq(vend_submit(reg, &a2, "m2"), ERR_DROP_IN_PROGRESS);
	vend_finish(reg, &a);
	ck_assert_int_eq(vend_submit(reg, &a2, "m2"), ERR_NONE);
	expect_sent(m2, &b);
	expect_vended(m2, &b);
	expect_sent(m2, &a2);
	expect_vended(m2, &a2);
	offline(m1);
	offline(m2);
}
END_TEST

START_TEST(sensed_stock_is_noted_on_the_vend_of_that_slot)
{
	struct transport t = { 0 };
	struct mach *m = online("m1", &t);
	struct vend_abandoned info;
	struct vend a;

	submit_ok(&a, "alice", 11, 3, 30000, "m1");
	/* Before the vend is sent a report does not count for it. */
	vend_sensed(reg, m, 3);
	expect_sent(m, &a);
	ck_assert_int_eq(vend_match(reg, m, a.id, &info),
	    VEND_MATCH_INFLIGHT);
	ck_assert_int_eq(info.sensed, 0);
	vend_sensed(reg, m, 4);
	ck_assert_int_eq(vend_match(reg, m, a.id, &info),
	    VEND_MATCH_INFLIGHT);
	ck_assert_int_eq(info.sensed, 0);
	vend_sensed(reg, m, 3);
	ck_assert_int_eq(vend_match(reg, m, a.id, &info),
	    VEND_MATCH_INFLIGHT);
	ck_assert_int_eq(info.sensed, 1);
	ck_assert_int_eq(vend_match(reg, m, "v99.1", &info), VEND_MATCH_NONE);
	expect_vended(m, &a);
	offline(m);
}
END_TEST

/* An illegal move is an abort, not a silent corruption. */
START_TEST(finishing_a_vend_still_queued_aborts)
{
	struct transport t = { 0 };
	struct vend a;

	(void)online("m1", &t);
	submit_ok(&a, "alice", 11, 3, 30000, "m1");
	vend_finish(reg, &a);
}
END_TEST

START_TEST(freeing_a_machine_still_online_aborts)
{
	struct transport t = { 0 };

	vend_mach_free(online("m1", &t));
}
END_TEST

static Suite *
vend_suite(void)
{
	Suite *s = suite_create("vend");
	TCase *tc;

	tc = h_tcase(s, "queue", setup, teardown, 10);
	tcase_add_test(tc, vends_are_sent_first_come_first_served_one_at_a_time);
	tcase_add_test(tc, a_vend_to_an_offline_machine_is_refused);
	tcase_add_test(tc, an_ok_frees_the_machine_before_its_capture_is_recorded);
	tcase_add_test(tc, an_answered_vend_outlives_its_machine);
	tcase_add_test(tc, one_drop_in_flight_per_user_until_it_is_settled);
	tcase_add_test(tc, sensed_stock_is_noted_on_the_vend_of_that_slot);
	tc = h_tcase(s, "timeouts", setup, teardown, 10);
	tcase_add_test(tc, a_queued_vend_times_out_and_leaves_the_queue);
	tcase_add_test(tc, the_answer_window_runs_from_the_send);
	tcase_add_test(tc, a_controller_is_sent_the_delay_and_given_it);
	tcase_add_test(tc, a_held_delay_is_waited_out_before_the_queue);
	tcase_add_test(tc,
	    an_abandoned_vend_blocks_the_machine_until_its_late_answer);
	tcase_add_test(tc,
	    an_abandoned_vend_never_answered_frees_the_machine_later);
	tcase_add_test(tc,
	    a_fixed_pause_holds_the_machine_whatever_answers_late);
	tc = h_tcase(s, "connections", setup, teardown, 10);
	tcase_add_test(tc, a_new_connection_replaces_the_old_and_fails_its_vends);
	tcase_add_test(tc, closing_a_machine_says_who_closed_it);
	tcase_add_test(tc, shutdown_drains_what_was_submitted_and_refuses_more);
	tc = h_tcase(s, "asserted transitions", setup, NULL, 10);
	tcase_add_test_raise_signal(tc, finishing_a_vend_still_queued_aborts,
	    SIGABRT);
	tcase_add_test_raise_signal(tc, freeing_a_machine_still_online_aborts,
	    SIGABRT);
	return s;
}

int
main(void)
{
	Suite *suite = vend_suite();
	int failed;

	log_init("check_vend", 1, LOG_LEVEL_ERR);
	failed = h_run(suite);
	return failed == 0 ? 0 : 1;
}
