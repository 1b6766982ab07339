/*
 * Crash safety: members drop and send, and an admin credits them and
 * refunds their completed drops (every request with an idempotency key),
 * against fake controllers while the server is killed with SIGKILL at
 * random moments, over and over.  After each restart the database must
 * be intact, the ledger sound, no hold left pending, every success a
 * client saw present in the ledger, and a retry of every request whose
 * answer was lost must return the first result, never apply twice.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake.h"
#include "harness.h"

#define CRASH_ROUNDS 20
#define CRASH_WORKERS 5		/* alice, bob, alice, bob, admin */
#define CRASH_OPS 40000		/* requests recorded over the whole test */

enum op_kind { OP_SEND, OP_DROP, OP_CREDIT, OP_REFUND };

static const char *const op_tx_kind[] = {
	[OP_SEND] = "transfer", [OP_DROP] = "drop", [OP_CREDIT] = "credit",
	[OP_REFUND] = "refund",
};

struct op {
	char line[256];		/* the request, key included */
	int who;		/* sent by 0 alice, 1 bob, 2 admin */
	enum op_kind kind;
	int64_t of;		/* OP_REFUND: the drop refunded */
	int refunding;		/* OP_DROP: an OP_REFUND names it */
	int answered;		/* a final answer arrived */
	int ok;
	int64_t tx;
};

static struct h_server *srv;
static struct op ops[CRASH_OPS];
static int nops;
static pthread_mutex_t ops_lock = PTHREAD_MUTEX_INITIALIZER;
static int crashed;		/* atomic: the server was killed */
static int64_t credits_before;	/* credit tx made by the setup */
static int refund_from;		/* ops before it: none left to refund */
static int admin_seq;		/* the admin's requests, over all rounds */

/* A new keyed request; keys are unique by user, round, worker, seq. */
static struct op *
op_new(int drop, const char *user, int round, int seq)
{
	struct op *o;

	pthread_mutex_lock(&ops_lock);
	ck_assert_int_lt(nops, CRASH_OPS);
	o = &ops[nops++];
	o->kind = drop ? OP_DROP : OP_SEND;
	pthread_mutex_unlock(&ops_lock);
	o->who = strcmp(user, "bob") == 0;
	if (drop) {
		snprintf(o->line, sizeof(o->line), "{\"cmd\":\"drop\","
		    "\"machine\":\"m%d\",\"slot\":%d,\"key\":\"%s-%d-%d\"}",
		    1 + seq % 2, 3 + seq % 2, user, round, seq);
	} else {
		snprintf(o->line, sizeof(o->line), "{\"cmd\":\"send\","
		    "\"to\":\"%s\",\"amount\":%d,\"key\":\"%s-%d-%d\"}",
		    strcmp(user, "alice") == 0 ? "bob" : "alice", 1 + seq % 7,
		    user, round, seq);
	}
	return o;
}

/*
 * An admin's keyed request: every other one a refund of a drop a member
 * was told had completed, when there is one not yet refunded, else a
 * credit.
 */
static struct op *
op_admin(int round)
{
	struct op *o, *d = NULL;
	int i, seq;

	pthread_mutex_lock(&ops_lock);
	seq = admin_seq++;
	ck_assert_int_lt(nops, CRASH_OPS);
	while (refund_from < nops && (ops[refund_from].kind != OP_DROP ||
	    ops[refund_from].refunding || (ops[refund_from].answered &&
	    !ops[refund_from].ok))) {
		refund_from++;
	}
	for (i = refund_from; seq % 2 == 1 && d == NULL && i < nops; i++) {
		if (ops[i].kind == OP_DROP && ops[i].ok &&
		    !ops[i].refunding) {
			d = &ops[i];
			d->refunding = 1;
		}
	}
	o = &ops[nops++];
	o->who = 2;
	if (d != NULL) {
		o->kind = OP_REFUND;
		o->of = d->tx;
		snprintf(o->line, sizeof(o->line), "{\"cmd\":\"refund\","
		    "\"tx\":%lld,\"note\":\"crash\",\"key\":\"r%lld\"}",
		    (long long)d->tx, (long long)d->tx);
	} else {
		o->kind = OP_CREDIT;
		snprintf(o->line, sizeof(o->line), "{\"cmd\":\"credit\","
		    "\"user\":\"%s\",\"amount\":%d,\"note\":\"crash\","
		    "\"key\":\"admin-%d-%d\"}", seq % 4 < 2 ? "alice" : "bob",
		    1 + seq % 5, round, seq);
	}
	pthread_mutex_unlock(&ops_lock);
	return o;
}

/*
 * Send o's request on c and wait for its answer.  0 once a final answer
 * arrived (recorded in o), -1 when the connection died first.
 */
static int
op_run(struct h_client *c, struct op *o)
{
	char line[300];
	cJSON *r;
	const char *e;
	int n;

	for (;;) {
		n = snprintf(line, sizeof(line), "%s\n", o->line);
		if (h_send_raw(c, line, (size_t)n) != CONN_OK ||
		    h_read_line(c, 30000) != CONN_OK) {
			return -1;
		}
		r = cJSON_Parse(c->line);
		ck_assert_msg(r != NULL, "bad reply %s", c->line);
		e = h_error(r);
		if (e != NULL && strcmp(e, "drop_in_progress") == 0) {
			cJSON_Delete(r);
			usleep(20 * 1000);
			continue;
		}
		pthread_mutex_lock(&ops_lock);
		o->answered = 1;
		o->ok = h_ok(r);
		o->tx = o->ok ? h_num(r, "tx") : 0;
		pthread_mutex_unlock(&ops_lock);
		ck_assert_msg(o->ok || (o->kind != OP_CREDIT &&
		    o->kind != OP_REFUND), "%s -> %s", o->line, c->line);
		cJSON_Delete(r);
		return 0;
	}
}

struct worker {
	const char *user;
	int round;
	int index;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char err[256];
	struct h_client *c = h_connect_raw(srv, NULL, err, sizeof(err));
	struct op *o;
	int seq;

	if (c == NULL) {
		return NULL;
	}
	h_send(c, strcmp(w->user, "alice") == 0 ?
	    "{\"cmd\":\"login\",\"user\":\"alice\",\"password\":\"alicepw\"}" :
	    strcmp(w->user, "bob") == 0 ?
	    "{\"cmd\":\"login\",\"user\":\"bob\",\"password\":\"bobpw\"}" :
	    "{\"cmd\":\"login\",\"user\":\"admin\",\"password\":\"adminpw\"}");
	if (h_read_line(c, 30000) != CONN_OK) {
		h_close(c);
		return NULL;
	}
	for (seq = 0; !__atomic_load_n(&crashed, __ATOMIC_SEQ_CST);
	    seq++) {
		o = strcmp(w->user, "admin") == 0 ? op_admin(w->round) : op_new(seq % 3 == 0, w->user,
		    w->round, w->index * 100000 + seq);
		if (op_run(c, o) != 0) {
			break;
		}
	}
	h_close(c);
	return NULL;
}

/* After a restart: retry every unanswered request; how many there were. */
static int
retry_unanswered(void)
{
	struct h_client *by[3];
	int i, n = 0;

	by[0] = h_connect_as(srv, "alice", "alicepw");
	by[1] = h_connect_as(srv, "bob", "bobpw");
	by[2] = h_connect_as(srv, "admin", "adminpw");
	for (i = 0; i < nops; i++) {
		if (!ops[i].answered) {
			ck_assert_int_eq(op_run(by[ops[i].who], &ops[i]), 0);
			n++;
		}
	}
	for (i = 0; i < 3; i++) {
		h_close(by[i]);
	}
	return n;
}

static void
check_round(void)
{
	int i, sends = 0, drops = 0, credits = 0, refunds = 0;

	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM"
	    " pragma_integrity_check WHERE integrity_check != 'ok'"), 0);
	ck_assert_int_eq(h_check_ledger(srv), 0);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx"
	    " WHERE state = 'pending'"), 0);
	for (i = 0; i < nops; i++) {
		ck_assert(ops[i].answered);
		if (!ops[i].ok) {
			continue;
		}
		/* The success the client saw is in the ledger. */
		ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx"
		    " WHERE id = %lld AND state = 'completed' AND kind = '%s'",
		    (long long)ops[i].tx, op_tx_kind[ops[i].kind]), 1);
		switch (ops[i].kind) {
		case OP_DROP:
			drops++;
			break;
		case OP_SEND:
			sends++;
			break;
		case OP_CREDIT:
			credits++;
			break;
		case OP_REFUND:
			refunds++;
			ck_assert_int_eq(h_sql_int(srv, "SELECT refund_of FROM"
			    " tx WHERE id = %lld", (long long)ops[i].tx),
			    ops[i].of);
			break;
		}
	}
	/* Every applied movement is one a client was told about, once. */
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'transfer'"), sends);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'drop' AND state = 'completed'"), drops);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'credit'"), credits_before + credits);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'refund'"), refunds);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(DISTINCT tx) FROM idem"),
	    h_sql_int(srv, "SELECT count(*) FROM idem"));
}

START_TEST(killed_at_random_the_ledger_stays_whole)
{
	struct worker w[CRASH_WORKERS];
	pthread_t t[CRASH_WORKERS];
	struct fake *f1, *f2;
	struct h_client *a;
	char *conf, *ca = h_cert_path("ca.crt");
	cJSON *r;
	int round, i, lost = 0, refunds;

	conf = xasprintf("machine_ca = %s\nvend_timeout = 2\n", ca);
	free(ca);
	srv = h_server_start(conf);
	free(conf);
	a = h_connect_as(srv, "admin", "adminpw");
	r = h_call(a, "{\"cmd\":\"machine_add\",\"machine\":\"m1\",\"name\":\"a\"}");
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"machine_add\",\"machine\":\"m2\",\"name\":\"b\"}");
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":3,"
	    "\"item\":\"Coke\",\"price\":3,\"stock\":1000000}");
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"slot_set\",\"machine\":\"m2\",\"slot\":4,"
	    "\"item\":\"Chips\",\"price\":2,\"stock\":1000000}");
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"set_balance\",\"user\":\"alice\","
	    "\"balance\":100000,\"note\":\"crash test\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"set_balance\",\"user\":\"bob\","
	    "\"balance\":100000,\"note\":\"crash test\"}");
	H_ASSERT_OK(r);
	cJSON_Delete(r);
	h_close(a);
	credits_before = h_sql_int(srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'credit'");
	srandom((unsigned)getpid());
	for (round = 0; round < CRASH_ROUNDS; round++) {
		f1 = fake_start(srv, "m1", FAKE_ACK, 5 + (int)(random() % 20));
		f2 = fake_start(srv, "m2", round % 4 == 3 ? FAKE_NACK :
		    FAKE_ACK, 5 + (int)(random() % 20));
		__atomic_store_n(&crashed, 0, __ATOMIC_SEQ_CST);
		for (i = 0; i < CRASH_WORKERS; i++) {
			w[i].user = i == CRASH_WORKERS - 1 ? "admin" :
			    i % 2 ? "bob" : "alice";
			w[i].round = round;
			w[i].index = i;
			pthread_create(&t[i], NULL, worker_main, &w[i]);
		}
		usleep((useconds_t)(100 + random() % 600) * 1000);
		h_server_kill(srv);
		__atomic_store_n(&crashed, 1, __ATOMIC_SEQ_CST);
		for (i = 0; i < CRASH_WORKERS; i++) {
			pthread_join(t[i], NULL);
		}
		fake_stop(f1);
		fake_stop(f2);
		h_server_restart(srv);
		/* Controllers back, so retried drops can settle. */
		f1 = fake_start(srv, "m1", FAKE_ACK, 5);
		f2 = fake_start(srv, "m2", FAKE_ACK, 5);
		lost += retry_unanswered();
		check_round();
		fake_stop(f1);
		fake_stop(f2);
	}
	/* The kills did land in the middle of requests. */
	ck_assert_int_gt(nops, CRASH_ROUNDS * 5);
	refunds = h_sql_int(srv, "SELECT count(*) FROM tx"
	    " WHERE kind = 'refund'");
	ck_assert_int_gt(refunds, 0);
	ck_assert_int_ge(lost, CRASH_ROUNDS / 2);
	printf("crash: %d rounds, %d requests (%d refunds), %d answers lost "
	    "to a kill and retried\n", CRASH_ROUNDS, nops, refunds, lost);
	h_server_free(srv);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("crash");
	TCase *tc = tcase_create("sigkill");
	int failed;

	h_init();
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, killed_at_random_the_ledger_stays_whole);
	suite_add_tcase(s, tc);
	failed = h_run(s);
	return h_finish(failed);
}
