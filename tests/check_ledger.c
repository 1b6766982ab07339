/*
 * The ledger (db/): money movements, their error paths, idempotency keys,
 * history from each side, and the invariant checker catching breaches.
 * Each test gets a fresh database file.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "harness.h"
#include "db.h"
#include "db-int.h"

static char dbdir[] = "/tmp/drink-ledger-XXXXXX";
static char dbpath[512];
static struct db *db;

static void
setup(void)
{
	char err[256];

	ck_assert_ptr_nonnull(mkdtemp(dbdir));
	snprintf(dbpath, sizeof(dbpath), "%s/t.db", dbdir);
	db = db_open(dbpath, 2, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(db_user_add(db, NULL, "admin", "h", "admin", 1000),
	    ERR_NONE);
	ck_assert_int_eq(db_user_add(db, NULL, "alice", "h", "member", 100),
	    ERR_NONE);
	ck_assert_int_eq(db_user_add(db, NULL, "bob", "h", "member", 0),
	    ERR_NONE);
}

static void
teardown(void)
{
	char cmd[600];

	db_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dbdir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dbdir, "/tmp/drink-ledger-XXXXXX");
}

static int64_t
balance(const char *user)
{
	int64_t b = -1;

	ck_assert_int_eq(db_balance(db, user, &b), ERR_NONE);
	return b;
}

static int64_t
sql_int(const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int64_t v;

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &h, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static void
sql_exec(const char *sql)
{
	sqlite3 *h;

	ck_assert_int_eq(sqlite3_open(dbpath, &h), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

static int
ledger_clean(void)
{
	FILE *devnull = fopen("/dev/null", "w");
	int rc = db_check_ledger(db, devnull);

	fclose(devnull);
	return rc == 0;
}

static int64_t
field(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItem(o, name);

	ck_assert_msg(cJSON_IsNumber(v), "no number field %s", name);
	return (int64_t)v->valuedouble;
}

/*
 * m1 slot 1's "ok" for tx, written as the machine's thread writes it and
 * waited for as the member's thread waits: the outcome.
 */
static int
vended(int64_t tx, int64_t stock, cJSON *r, int *captured)
{
	struct db_ticket *later;
	int rc = db_drop_vended(db, tx, "m1", 1, stock, &later);

	*captured = 0;
	if (rc == ERR_NONE) {
		ck_assert_ptr_nonnull(later);
		rc = db_drop_vended_wait(db, later, r, captured);
	} else {
		ck_assert_ptr_null(later);
	}
	return rc;
}

START_TEST(new_users_start_with_their_initial_credit)
{
	ck_assert_int_eq(balance("alice"), 100);
	ck_assert_int_eq(balance("bob"), 0);
	ck_assert_int_eq(sql_int("SELECT balance FROM accounts"
	    " WHERE name = '@deposits'"), -1100);
	ck_assert_int_eq(sql_int("SELECT sum(balance) FROM accounts"), 0);
	ck_assert(ledger_clean());
}
END_TEST

START_TEST(duplicate_user_is_refused)
{
	ck_assert_int_eq(db_user_add(db, NULL, "alice", "h", "member", 5),
	    ERR_EXISTS);
	ck_assert_int_eq(balance("alice"), 100);
}
END_TEST

START_TEST(send_moves_money_between_members)
{
	struct db_move m = { .actor = "alice", .user = "bob", .amount = 30,
		.note = "lunch", .request = "r" };
	cJSON *r = cJSON_CreateObject();

	ck_assert_int_eq(db_send(db, &m, r), ERR_NONE);
	ck_assert_int_eq(field(r, "balance"), 70);
	ck_assert_int_gt(field(r, "tx"), 0);
	ck_assert_int_eq(balance("alice"), 70);
	ck_assert_int_eq(balance("bob"), 30);
	ck_assert(ledger_clean());
	cJSON_Delete(r);
}
END_TEST

START_TEST(send_refuses_overdraft_and_reports_balance)
{
	struct db_move m = { .actor = "alice", .user = "bob", .amount = 101,
		.request = "r" };
	cJSON *r = cJSON_CreateObject();

	ck_assert_int_eq(db_send(db, &m, r), ERR_INSUFFICIENT_FUNDS);
	ck_assert_int_eq(m.balance, 100);
	ck_assert_ptr_null(r->child);
	ck_assert_int_eq(balance("alice"), 100);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM tx"
	    " WHERE kind = 'transfer'"), 0);
	cJSON_Delete(r);
}
END_TEST

START_TEST(send_to_unknown_or_self_is_refused)
{
	struct db_move m = { .actor = "alice", .user = "carol", .amount = 1,
		.request = "r" };
	cJSON *r = cJSON_CreateObject();

	ck_assert_int_eq(db_send(db, &m, r), ERR_NO_SUCH_USER);
	m.user = "@sales";
	ck_assert_int_eq(db_send(db, &m, r), ERR_NO_SUCH_USER);
	m.user = "alice";
	ck_assert_int_eq(db_send(db, &m, r), ERR_BAD_REQUEST);
	ck_assert_int_eq(balance("alice"), 100);
	cJSON_Delete(r);
}
END_TEST

START_TEST(idempotency_key_replays_the_first_result)
{
	struct db_move m = { .actor = "alice", .user = "bob", .amount = 10,
		.key = "k1", .request = "send bob 10" };
	cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();

	ck_assert_int_eq(db_send(db, &m, a), ERR_NONE);
	ck_assert_int_eq(db_send(db, &m, b), ERR_NONE);
	ck_assert_int_eq(field(a, "tx"), field(b, "tx"));
	ck_assert_int_eq(field(b, "balance"), 90);
	ck_assert_int_eq(balance("alice"), 90);
	m.request = "send bob 11";
	m.amount = 11;
	ck_assert_int_eq(db_send(db, &m, b), ERR_CONFLICT);
	ck_assert_int_eq(balance("alice"), 90);
	/* Keys belong to the user: bob may use "k1" for his own request. */
	m.actor = "bob";
	m.user = "alice";
	m.amount = 1;
	m.request = "send alice 1";
	ck_assert_int_eq(db_send(db, &m, b), ERR_NONE);
	ck_assert_int_eq(balance("bob"), 9);
	cJSON_Delete(a);
	cJSON_Delete(b);
}
END_TEST

START_TEST(failed_request_does_not_consume_its_key)
{
	struct db_move m = { .actor = "bob", .user = "alice", .amount = 5,
		.key = "k", .request = "send alice 5" };
	struct db_move c = { .actor = "admin", .user = "bob", .amount = 5,
		.note = "top up", .request = "credit" };
	cJSON *r = cJSON_CreateObject();

	ck_assert_int_eq(db_send(db, &m, r), ERR_INSUFFICIENT_FUNDS);
	ck_assert_int_eq(db_credit(db, &c, r), ERR_NONE);
	cJSON_Delete(r);
	r = cJSON_CreateObject();
	ck_assert_int_eq(db_send(db, &m, r), ERR_NONE);
	ck_assert_int_eq(field(r, "balance"), 0);
	cJSON_Delete(r);
}
END_TEST

START_TEST(credit_debit_and_set_balance_use_system_accounts)
{
	struct db_move m = { .actor = "admin", .user = "alice", .note = "n",
		.request = "r" };
	cJSON *r = cJSON_CreateObject();

	m.amount = 50;
	ck_assert_int_eq(db_credit(db, &m, r), ERR_NONE);
	ck_assert_int_eq(balance("alice"), 150);
	m.amount = 20;
	ck_assert_int_eq(db_debit(db, &m, r), ERR_NONE);
	ck_assert_int_eq(balance("alice"), 130);
	m.amount = 131;
	ck_assert_int_eq(db_debit(db, &m, r), ERR_INSUFFICIENT_FUNDS);
	ck_assert_int_eq(m.balance, 130);
	m.amount = 7;
	ck_assert_int_eq(db_set_balance(db, &m, r), ERR_NONE);
	ck_assert_int_eq(balance("alice"), 7);
	ck_assert_int_eq(sql_int("SELECT balance FROM accounts"
	    " WHERE name = '@adjustments'"), 123);
	ck_assert_int_eq(sql_int("SELECT amount FROM tx WHERE kind = 'adjust'"),
	    -123);
	m.user = "nobody";
	ck_assert_int_eq(db_credit(db, &m, r), ERR_NO_SUCH_USER);
	ck_assert(ledger_clean());
	cJSON_Delete(r);
}
END_TEST

START_TEST(refund_returns_a_completed_drop_once)
{
	struct db_move m = { .actor = "admin", .note = "jammed",
		.request = "r" };
	cJSON *r = cJSON_CreateObject();
	int64_t drop;

	/* A completed drop as the machine port will record it. */
	sql_exec("BEGIN;"
	    "INSERT INTO tx (kind, state, account, amount, machine, slot, item,"
	    " created, settled) SELECT 'drop', 'completed', id, -25, 'm1', 3,"
	    " 'Coke', 1, 1 FROM accounts WHERE name = 'alice';"
	    "INSERT INTO entries (tx, account, amount) SELECT max(t.id), a.id,"
	    " -25 FROM tx t, accounts a WHERE a.name = 'alice';"
	    "INSERT INTO entries (tx, account, amount) SELECT max(t.id), a.id,"
	    " 25 FROM tx t, accounts a WHERE a.name = '@sales';"
	    "UPDATE accounts SET balance = balance - 25 WHERE name = 'alice';"
	    "UPDATE accounts SET balance = balance + 25 WHERE name = '@sales';"
	    "COMMIT;");
	ck_assert(ledger_clean());
	drop = sql_int("SELECT max(id) FROM tx");
	m.tx = drop;
	ck_assert_int_eq(db_refund(db, &m, r), ERR_NONE);
	ck_assert_int_eq(field(r, "balance"), 100);
	ck_assert_int_eq(balance("alice"), 100);
	ck_assert_int_eq(db_refund(db, &m, r), ERR_CONFLICT);
	m.tx = 1; /* a credit, not a drop */
	ck_assert_int_eq(db_refund(db, &m, r), ERR_NO_SUCH_TRANSACTION);
	m.tx = 9999;
	ck_assert_int_eq(db_refund(db, &m, r), ERR_NO_SUCH_TRANSACTION);
	ck_assert_int_eq(balance("alice"), 100);
	ck_assert(ledger_clean());
	cJSON_Delete(r);
}
END_TEST

/*
 * A drop refused at queueing because another drop of the member was
 * still in flight gives back its hold and leaves its key unused: a retry
 * with the key does the work instead of replaying drop_in_progress for
 * ever.  A drop that failed at the machine keeps its outcome.  A
 * settlement retried after it was recorded finds it recorded.
 */
START_TEST(drop_refused_as_in_progress_leaves_its_key_unused)
{
	struct db_drop d = { .user = "alice", .machine = "m1", .slot = 1,
		.key = "k", .request = "drop m1 1" };
	cJSON *r = cJSON_CreateObject();
	int64_t first;
	int captured;

	ck_assert_int_eq(db_machine_add(db, "m1", "M"), ERR_NONE);
	ck_assert_int_eq(db_slot_set(db, "m1", 1, "Coke", 10, 5, 1, r),
	    ERR_NONE);
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(d.replayed, 0);
	first = d.tx;
	ck_assert_int_eq(balance("alice"), 90);
	ck_assert_int_eq(db_drop_release(db, first, ERR_DROP_IN_PROGRESS,
	    "alice already has a drop in flight", r, &captured), ERR_NONE);
	ck_assert_int_eq(captured, 0);
	ck_assert_int_eq(balance("alice"), 100);
	/* The retry holds anew: the key was not used up. */
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(d.replayed, 0);
	ck_assert_int_gt(d.tx, first);
	ck_assert_int_eq(balance("alice"), 90);
	ck_assert_int_eq(db_drop_capture(db, d.tx, -2, r, &captured),
	    ERR_NONE);
	cJSON_Delete(r);
	/* A capture retried after it was recorded finds it so, once. */
	r = cJSON_CreateObject();
	ck_assert_int_eq(db_drop_capture(db, d.tx, -2, r, &captured),
	    ERR_NONE);
	ck_assert_int_eq(field(r, "tx"), d.tx);
	ck_assert_int_eq(field(r, "balance"), 90);
	cJSON_Delete(r);
	/* A release of a captured drop finds it captured, and says so. */
	r = cJSON_CreateObject();
	ck_assert_int_eq(db_drop_release(db, d.tx, ERR_DROP_FAILED, "x", r,
	    &captured), ERR_NONE);
	ck_assert_int_eq(captured, 1);
	ck_assert_int_eq(field(r, "tx"), d.tx);
	ck_assert_int_eq(field(r, "balance"), 90);
	cJSON_Delete(r);
	r = cJSON_CreateObject();
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(d.replayed, 1);
	ck_assert_int_eq(field(r, "tx"), d.tx);
	ck_assert_int_eq(balance("alice"), 90);
	/* A failure at the machine is the key's outcome. */
	d.key = "k2";
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(db_drop_release(db, d.tx, ERR_DROP_FAILED, "jam", r,
	    &captured), ERR_NONE);
	ck_assert_int_eq(captured, 0);
	ck_assert_int_eq(db_drop_release(db, d.tx, ERR_DROP_FAILED, "jam", r,
	    &captured), ERR_NONE);
	ck_assert_int_eq(captured, 0);
	ck_assert_int_eq(db_drop_capture(db, d.tx, -2, r, &captured),
	    ERR_NONE);
	ck_assert_int_eq(captured, 0);
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_DROP_FAILED);
	ck_assert_int_eq(balance("alice"), 90);
	ck_assert(ledger_clean());
	cJSON_Delete(r);
}
END_TEST

/*
 * A capture that finds its drop released (its settlement deferred while
 * a release was recorded) is a recorded outcome, not an error to retry
 * for ever: the drop stays failed, its member keeps the price, the stock
 * is left as it was, and nothing is added to the reply.
 */
START_TEST(a_capture_that_finds_the_drop_released_is_recorded)
{
	struct db_drop d = { .user = "alice", .machine = "m1", .slot = 1 };
	cJSON *r = cJSON_CreateObject();
	int captured = -1;

	ck_assert_int_eq(db_machine_add(db, "m1", "M"), ERR_NONE);
	ck_assert_int_eq(db_slot_set(db, "m1", 1, "Coke", 10, 5, 1, r),
	    ERR_NONE);
	cJSON_Delete(r);
	r = cJSON_CreateObject();
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(balance("alice"), 90);
	ck_assert_int_eq(db_drop_release(db, d.tx, ERR_DROP_TIMEOUT, "late",
	    r, &captured), ERR_NONE);
	ck_assert_int_eq(captured, 0);
	cJSON_Delete(r);
	r = cJSON_CreateObject();
	captured = -1;
	ck_assert_int_eq(db_drop_capture(db, d.tx, -1, r, &captured),
	    ERR_NONE);
	ck_assert_int_eq(captured, 0);
	ck_assert_ptr_null(r->child);
	ck_assert_int_eq(balance("alice"), 100);
	ck_assert_int_eq(sql_int("SELECT balance FROM accounts WHERE name ="
	    " '@sales'"), 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM tx WHERE kind ="
	    " 'drop' AND state = 'failed'"), 1);
	ck_assert_int_eq(sql_int("SELECT stock FROM slots"), 5);
	ck_assert(ledger_clean());
	cJSON_Delete(r);
}
END_TEST

/*
 * The machine's "ok" is recorded in one write: the slot's stock (one less,
 * or the count the machine sensed, or left alone) and the capture.  A drop
 * already released (a timeout won) stays released; its stock still
 * follows the machine.
 */
START_TEST(vended_records_stock_and_capture_in_one_write)
{
	struct db_drop d = { .user = "alice", .machine = "m1", .slot = 1 };
	cJSON *r = cJSON_CreateObject();
	int captured;

	ck_assert_int_eq(db_machine_add(db, "m1", "M"), ERR_NONE);
	ck_assert_int_eq(db_slot_set(db, "m1", 1, "Coke", 10, 5, 1, r),
	    ERR_NONE);
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	cJSON_Delete(r);
	r = cJSON_CreateObject();
	ck_assert_int_eq(vended(d.tx, -1, r, &captured),
	    ERR_NONE);
	ck_assert_int_eq(captured, 1);
	ck_assert_int_eq(field(r, "tx"), d.tx);
	ck_assert_int_eq(field(r, "price"), 10);
	ck_assert_int_eq(field(r, "balance"), 90);
	ck_assert_int_eq(sql_int("SELECT stock FROM slots"), 4);
	ck_assert_int_eq(sql_int("SELECT balance FROM accounts WHERE name ="
	    " '@sales'"), 10);
	cJSON_Delete(r);
	/* A sensed count stands; a second "ok" for it captures nothing. */
	r = cJSON_CreateObject();
	ck_assert_int_eq(vended(d.tx, 2, r, &captured),
	    ERR_NONE);
	ck_assert_int_eq(captured, 0);
	ck_assert_ptr_null(r->child);
	ck_assert_int_eq(sql_int("SELECT stock FROM slots"), 2);
	ck_assert_int_eq(balance("alice"), 90);
	/* Released first: stays released, stock still follows (-2: not). */
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(db_drop_release(db, d.tx, ERR_DROP_TIMEOUT, "late",
	    r, &captured), ERR_NONE);
	ck_assert_int_eq(captured, 0);
	ck_assert_int_eq(vended(d.tx, -2, r, &captured),
	    ERR_NONE);
	ck_assert_int_eq(captured, 0);
	ck_assert_int_eq(sql_int("SELECT stock FROM slots"), 2);
	ck_assert_int_eq(balance("alice"), 90);
	ck_assert_int_eq(sql_int("SELECT balance FROM accounts WHERE name ="
	    " '@sales'"), 10);
	ck_assert(ledger_clean());
	cJSON_Delete(r);
}
END_TEST

/*
 * A capture made apart from the machine's "ok" (its write was lost) sets
 * the slot's stock in the same write, once: a capture retried after one
 * that was kept leaves the stock as that one set it.
 */
START_TEST(a_retried_capture_lowers_the_stock_once)
{
	struct db_drop d = { .user = "alice", .machine = "m1", .slot = 1 };
	cJSON *r = cJSON_CreateObject();
	int captured;

	ck_assert_int_eq(db_machine_add(db, "m1", "M"), ERR_NONE);
	ck_assert_int_eq(db_slot_set(db, "m1", 1, "Coke", 10, 5, 1, r),
	    ERR_NONE);
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(db_drop_capture(db, d.tx, -1, r, &captured),
	    ERR_NONE);
	ck_assert_int_eq(sql_int("SELECT stock FROM slots"), 4);
	ck_assert_int_eq(db_drop_capture(db, d.tx, -1, r, &captured),
	    ERR_NONE);
	ck_assert_int_eq(sql_int("SELECT stock FROM slots"), 4);
	ck_assert_int_eq(balance("alice"), 90);
	/* A count the machine gave is set; -2 (a sensed count) is kept. */
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(db_drop_capture(db, d.tx, 2, r, &captured),
	    ERR_NONE);
	ck_assert_int_eq(sql_int("SELECT stock FROM slots"), 2);
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(db_drop_capture(db, d.tx, -2, r, &captured),
	    ERR_NONE);
	ck_assert_int_eq(sql_int("SELECT stock FROM slots"), 2);
	ck_assert_int_eq(balance("alice"), 70);
	ck_assert(ledger_clean());
	cJSON_Delete(r);
}
END_TEST

/*
 * A restart captures the pending drops their machines vended (the
 * answers file), each lowering its slot's stock in that write as its
 * "ok" said: one less, the count the machine gave, or (a sensed count
 * standing) nothing.
 */
START_TEST(a_capture_at_restart_sets_the_stock)
{
	struct db_drop d = { .user = "alice", .machine = "m1", .slot = 1 };
	static const char *const who[] = { "alice", "admin", "bob" };
	static const int64_t said[] = { -1, 3, -2 };
	cJSON *r = cJSON_CreateObject();
	int i, n;

	ck_assert_int_eq(db_answer_open(db), 0);
	ck_assert_int_eq(db_machine_add(db, "m1", "M"), ERR_NONE);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(db_slot_set(db, "m1", i + 1, "Tea",
		    i == 2 ? 0 : 10, 5, 1, r), ERR_NONE);
		d.user = who[i];
		d.slot = i + 1;
		ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
		ck_assert_int_eq(db_answer_put(db, d.tx, ERR_NONE, said[i],
		    -1), 0);
	}
	ck_assert_int_eq(db_drop_release_pending(db, &n), ERR_NONE);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM tx WHERE kind = 'drop'"
	    " AND state = 'completed'"), 3);
	ck_assert_int_eq(balance("alice"), 90);
	ck_assert_int_eq(sql_int("SELECT stock FROM slots WHERE slot = 1"), 4);
	ck_assert_int_eq(sql_int("SELECT stock FROM slots WHERE slot = 2"), 3);
	ck_assert_int_eq(sql_int("SELECT stock FROM slots WHERE slot = 3"), 5);
	ck_assert(ledger_clean());
	cJSON_Delete(r);
}
END_TEST

/*
 * A sensed count whose write was under way (its sync failed) when the
 * previous run stopped, after a vend's "ok" whose capture was owed:
 * where the database kept it, it stands and the capture leaves the slot
 * alone; where it was lost, the capture lowers the slot as the "ok" said.
 */
START_TEST(a_capture_at_restart_leaves_a_kept_sensed_count)
{
	struct db_drop d = { .user = "alice", .machine = "m1", .slot = 1 };
	static const char *const who[] = { "alice", "admin" };
	cJSON *r = cJSON_CreateObject();
	int i, n;

	ck_assert_int_eq(db_answer_open(db), 0);
	ck_assert_int_eq(db_machine_add(db, "m1", "M"), ERR_NONE);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(db_slot_set(db, "m1", i + 1, "Tea", 10, 5, 1,
		    r), ERR_NONE);
		d.user = who[i];
		d.slot = i + 1;
		ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
		/* The machine counted 3 after the vend. */
		ck_assert_int_eq(db_answer_put(db, d.tx, ERR_NONE, -1, 3), 0);
	}
	/* Slot 1's count was kept, slot 2's lost. */
	ck_assert_int_eq(db_slot_set(db, "m1", 1, "Tea", 10, 3, 1, r),
	    ERR_NONE);
	ck_assert_int_eq(db_drop_release_pending(db, &n), ERR_NONE);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM tx WHERE kind = 'drop'"
	    " AND state = 'completed'"), 2);
	ck_assert_int_eq(sql_int("SELECT stock FROM slots WHERE slot = 1"), 3);
	ck_assert_int_eq(sql_int("SELECT stock FROM slots WHERE slot = 2"), 4);
	ck_assert(ledger_clean());
	cJSON_Delete(r);
}
END_TEST

/*
 * The WAL's blocks are reserved at open, so that commits write over them
 * rather than grow the file; restarts keep them (journal_size_limit).
 */
START_TEST(the_wal_is_reserved_at_open)
{
	struct db_move m = { .actor = "alice", .user = "bob", .amount = 1 };
	cJSON *r = cJSON_CreateObject();
	struct stat st;
	char wal[600];
	sqlite3 *h;

	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	ck_assert_int_eq(stat(wal, &st), 0);
	ck_assert_int_ge(st.st_size, DB_WAL_BYTES);
	ck_assert_int_ge((long long)st.st_blocks * 512, DB_WAL_BYTES);
	/* A commit, a full checkpoint, a commit that restarts the WAL. */
	ck_assert_int_eq(db_send(db, &m, r), ERR_NONE);
	h = db_writer_lock(db);
	ck_assert_int_eq(sqlite3_wal_checkpoint_v2(h, NULL,
	    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL), SQLITE_OK);
	db_writer_unlock(db);
	ck_assert_int_eq(db_send(db, &m, r), ERR_NONE);
	ck_assert_int_eq(stat(wal, &st), 0);
	ck_assert_int_eq(st.st_size, DB_WAL_BYTES);
	ck_assert_int_ge((long long)st.st_blocks * 512, DB_WAL_BYTES);
	ck_assert_int_eq(balance("alice"), 98);
	ck_assert_int_eq(balance("bob"), 2);
	cJSON_Delete(r);
}
END_TEST

/*
 * The mask of this process's thread named name (/proc), as SigBlk shows
 * it; fails the test when there is no such thread.
 */
static unsigned long long
thread_sigblk(const char *name)
{
	char path[300], line[256], comm[64] = "";
	unsigned long long blk = 0;
	struct dirent *e;
	int found = 0;
	DIR *d = opendir("/proc/self/task");
	FILE *f;

	ck_assert_ptr_nonnull(d);
	while (!found && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.') {
			continue;
		}
		snprintf(path, sizeof(path), "/proc/self/task/%s/status",
		    e->d_name);
		if ((f = fopen(path, "r")) == NULL) {
			continue;
		}
		while (fgets(line, sizeof(line), f) != NULL) {
			(void)sscanf(line, "Name:\t%63s", comm);
			if (strcmp(comm, name) == 0 &&
			    sscanf(line, "SigBlk:\t%llx", &blk) == 1) {
				found = 1;
			}
		}
		fclose(f);
	}
	closedir(d);
	ck_assert_msg(found, "no thread named %s", name);
	return blk;
}

/*
 * The WAL is synced on a thread of its own, started by db_open whatever
 * the opener's mask: the signals a process is sent (drinkd's main thread
 * takes them with sigwait) are blocked there, so none of them lands on
 * it and ends drinkd; faults its own accesses raise are not.  It syncs
 * what is committed: a write is answered once durable, and with nothing
 * to sync the thread sleeps.
 */
START_TEST(the_sync_thread_takes_no_process_signal)
{
	static const int blocked[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT,
		SIGUSR1, SIGPIPE };
	static const int open[] = { SIGBUS, SIGSEGV, SIGFPE, SIGILL };
	struct db_move m = { .actor = "alice", .user = "bob", .amount = 1 };
	cJSON *r = cJSON_CreateObject();
	unsigned long long blk = thread_sigblk(DB_SYNC_THREAD_NAME);
	sigset_t mine;
	size_t i;

	/* This thread, which opened the database, blocks none of them. */
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, NULL, &mine), 0);
	ck_assert_int_eq(sigismember(&mine, SIGTERM), 0);
	for (i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++) {
		ck_assert_msg(blk & (1ULL << (blocked[i] - 1)),
		    "signal %d not blocked on the sync thread", blocked[i]);
	}
	for (i = 0; i < sizeof(open) / sizeof(open[0]); i++) {
		ck_assert_msg(!(blk & (1ULL << (open[i] - 1))),
		    "signal %d blocked on the sync thread", open[i]);
	}
	ck_assert_int_eq(db_send(db, &m, r), ERR_NONE);
	ck_assert_int_eq(db->durable_seq, db->committed_seq);
	ck_assert_int_eq(balance("bob"), 1);
	cJSON_Delete(r);
}
END_TEST

/* Is a thread of this process named name? */
static int
thread_named(const char *name)
{
	char path[300], comm[64];
	struct dirent *e;
	int found = 0;
	DIR *d = opendir("/proc/self/task");
	FILE *f;

	ck_assert_ptr_nonnull(d);
	while (!found && (e = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
		    e->d_name);
		if (e->d_name[0] == '.' || (f = fopen(path, "r")) == NULL) {
			continue;
		}
		found = fgets(comm, sizeof(comm), f) != NULL &&
		    strncmp(comm, name, strlen(name)) == 0 &&
		    comm[strlen(name)] == '\n';
		fclose(f);
	}
	closedir(d);
	return found;
}

/*
 * The bookkeeping and checkpoint threads start when first needed, from
 * whichever thread writes: at drinkd's start that is its main thread,
 * before it blocks the signals its sigwait takes (a first session record,
 * or a commit onto a long WAL a crash left).  Started from this thread,
 * which blocks none of them, they block them all the same: a SIGTERM
 * landing there would end drinkd at once instead of stopping it.
 */
START_TEST(the_book_and_checkpoint_threads_take_no_process_signal)
{
	static const int blocked[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };
	static const char *const names[] = { DB_BOOK_THREAD_NAME,
		DB_CKPT_THREAD_NAME };
	struct db_move m = { .amount = 1 };
	unsigned long long blk;
	sigset_t mine;
	int64_t id;
	size_t i, j;
	int n;
	cJSON *r;

	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, NULL, &mine), 0);
	ck_assert_int_eq(sigismember(&mine, SIGTERM), 0);
	ck_assert_int_eq(db_session_open(db, "member", "127.0.0.1", 1, &id),
	    ERR_NONE);
	db_book_flush(db);
	/* Past 1000 frames of WAL a commit starts the checkpointer. */
	for (n = 0; n < 20000 && !thread_named(DB_CKPT_THREAD_NAME); n++) {
		m.actor = n % 2 == 0 ? "alice" : "bob";
		m.user = n % 2 == 0 ? "bob" : "alice";
		r = cJSON_CreateObject();
		ck_assert_int_eq(db_send(db, &m, r), ERR_NONE);
		cJSON_Delete(r);
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		blk = thread_sigblk(names[i]);
		for (j = 0; j < sizeof(blocked) / sizeof(blocked[0]); j++) {
			ck_assert_msg(blk & (1ULL << (blocked[j] - 1)),
			    "signal %d not blocked on %s", blocked[j],
			    names[i]);
		}
		ck_assert_msg(!(blk & (1ULL << (SIGSEGV - 1))),
		    "SIGSEGV blocked on %s", names[i]);
	}
}
END_TEST

/*
 * The statement cache: a statement given back is lent again for the same
 * text, found by its address or, at another address, by the text itself;
 * one already lent is not lent twice; and more statements lent at once
 * than the cache remembers addresses for still come back as themselves.
 */
static const char cache_sql_a[] = "SELECT count(*) FROM accounts";
static const char cache_sql_b[] = "SELECT count(*) FROM accounts";
static const char *const cache_sql_n[] = {
	"SELECT 0", "SELECT 1", "SELECT 2", "SELECT 3", "SELECT 4",
	"SELECT 5", "SELECT 6", "SELECT 7", "SELECT 8", "SELECT 9",
};

static int64_t
cache_value(sqlite3_stmt *st)
{
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(db_step(st), 1);
	return sqlite3_column_int64(st, 0);
}

START_TEST(the_statement_cache_lends_each_statement_once)
{
	sqlite3_stmt *st[10], *first, *again;
	sqlite3 *h;
	int i, n = (int)(sizeof(cache_sql_n) / sizeof(cache_sql_n[0]));

	ck_assert_ptr_ne(cache_sql_a, cache_sql_b);
	h = db_writer_lock(db);
	first = db_prep(h, cache_sql_a, "");
	ck_assert_int_eq(cache_value(first), 7);	/* 4 system, 3 users */
	sqlite3_finalize(first);
	ck_assert_ptr_eq(again = db_prep(h, cache_sql_a, ""), first);
	sqlite3_finalize(again);
	ck_assert_ptr_eq(again = db_prep(h, cache_sql_b, ""), first);
	/* Lent: the same text gets a statement of its own meanwhile. */
	st[0] = db_prep(h, cache_sql_a, "");
	ck_assert_ptr_ne(st[0], again);
	ck_assert_int_eq(cache_value(st[0]), 7);
	ck_assert_int_eq(cache_value(again), 7);
	sqlite3_finalize(st[0]);
	sqlite3_finalize(again);
	/* More lent at once than DB_LENT_MAX addresses are remembered. */
	for (i = 0; i < n; i++) {
		st[i] = db_prep(h, cache_sql_n[i], "");
	}
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(cache_value(st[i]), i);
		sqlite3_finalize(st[i]);
	}
	for (i = n - 1; i >= 0; i--) {
		ck_assert_ptr_eq(again = db_prep(h, cache_sql_n[i], ""), st[i]);
		ck_assert_int_eq(cache_value(again), i);
		sqlite3_finalize(again);
	}
	db_writer_unlock(db);
}
END_TEST

/*
 * Checkpoints still happen, now off the commit path (ckpt.c): once the
 * WAL passes 1000 frames the database file itself receives the new
 * pages, without anyone asking for a checkpoint, and the ledger read
 * through it is whole.
 */
START_TEST(the_wal_is_still_checkpointed)
{
	struct db_move m = { .actor = "alice", .user = "bob", .amount = 1 };
	struct stat before, now;
	cJSON *r = cJSON_CreateObject();
	int i, waited;

	ck_assert_int_eq(stat(dbpath, &before), 0);
	/* Each send is a commit of a few frames: well past 1000 of them. */
	for (i = 0; i < 100; i++) {
		m.amount = i % 2 ? 1 : 2;
		m.actor = i % 2 ? "bob" : "alice";
		m.user = i % 2 ? "alice" : "bob";
		ck_assert_int_eq(db_send(db, &m, r), ERR_NONE);
	}
	for (i = 0; i < 400; i++) {
		char name[32];

		snprintf(name, sizeof(name), "user%d", i);
		ck_assert_int_eq(db_user_add(db, NULL, name, "h", "member",
		    1), ERR_NONE);
	}
	for (waited = 0; waited < 5000; waited += 10) {
		ck_assert_int_eq(stat(dbpath, &now), 0);
		if (now.st_size > before.st_size) {
			break;
		}
		usleep(10000);
	}
	ck_assert_msg(now.st_size > before.st_size, "no checkpoint in 5 s");
	ck_assert_int_eq(balance("alice") + balance("bob"), 100);
	ck_assert(ledger_clean());
	cJSON_Delete(r);
}
END_TEST

START_TEST(history_shows_each_side_with_its_sign)
{
	struct db_move m = { .actor = "alice", .user = "bob", .amount = 30,
		.note = "lunch", .request = "r" };
	struct db_log_filter f = { .user = "bob", .since = -1, .until = -1,
		.before = -1, .limit = 20 };
	cJSON *r = cJSON_CreateObject(), *h = cJSON_CreateArray(), *e;

	ck_assert_int_eq(db_send(db, &m, r), ERR_NONE);
	ck_assert_int_eq(db_history(db, &f, h), ERR_NONE);
	ck_assert_int_eq(cJSON_GetArraySize(h), 1);
	e = cJSON_GetArrayItem(h, 0);
	ck_assert_int_eq(field(e, "amount"), 30);
	ck_assert_str_eq(cJSON_GetObjectItem(e, "counterparty")->valuestring,
	    "alice");
	ck_assert_str_eq(cJSON_GetObjectItem(e, "kind")->valuestring,
	    "transfer");
	cJSON_Delete(h);
	h = cJSON_CreateArray();
	f.user = "alice";
	ck_assert_int_eq(db_history(db, &f, h), ERR_NONE);
	ck_assert_int_eq(cJSON_GetArraySize(h), 2);
	e = cJSON_GetArrayItem(h, 0);	/* newest first */
	ck_assert_int_eq(field(e, "amount"), -30);
	ck_assert_str_eq(cJSON_GetObjectItem(e, "counterparty")->valuestring,
	    "bob");
	ck_assert_str_eq(cJSON_GetObjectItem(e, "note")->valuestring, "lunch");
	f.limit = 1;
	f.before = field(e, "tx");
	cJSON_Delete(h);
	h = cJSON_CreateArray();
	ck_assert_int_eq(db_history(db, &f, h), ERR_NONE);
	ck_assert_int_eq(cJSON_GetArraySize(h), 1);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(h, 0),
	    "kind")->valuestring, "credit");
	cJSON_Delete(h);
	cJSON_Delete(r);
}
END_TEST

START_TEST(checker_finds_a_tampered_balance)
{
	ck_assert(ledger_clean());
	sql_exec("UPDATE accounts SET balance = balance + 1"
	    " WHERE name = 'bob'");
	ck_assert(!ledger_clean());
}
END_TEST

START_TEST(checker_finds_an_unbalanced_transaction)
{
	sql_exec("INSERT INTO entries (tx, account, amount) VALUES (1, 1, 5)");
	ck_assert(!ledger_clean());
}
END_TEST

START_TEST(machines_and_slots_round_trip)
{
	cJSON *a = cJSON_CreateArray(), *s = cJSON_CreateObject();

	ck_assert_int_eq(db_machine_add(db, "m1", "Big Drink"), ERR_NONE);
	ck_assert_int_eq(db_machine_add(db, "m1", "again"), ERR_EXISTS);
	ck_assert_int_eq(db_slot_set(db, "m1", 3, "Coke", 25, 5, -1, s),
	    ERR_NONE);
	ck_assert_int_eq(field(s, "price"), 25);
	cJSON_Delete(s);
	s = cJSON_CreateObject();
	ck_assert_int_eq(db_slot_set(db, "m1", 3, NULL, -1, 4, 0, s),
	    ERR_NONE);
	ck_assert_str_eq(cJSON_GetObjectItem(s, "item")->valuestring, "Coke");
	ck_assert_int_eq(field(s, "price"), 25);
	ck_assert_int_eq(field(s, "stock"), 4);
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(s, "enabled")));
	ck_assert_int_eq(db_slot_set(db, "m9", 1, NULL, -1, -1, -1, s),
	    ERR_NO_SUCH_MACHINE);
	ck_assert_int_eq(db_slots(db, "m1", a), ERR_NONE);
	ck_assert_int_eq(cJSON_GetArraySize(a), 1);
	ck_assert_int_eq(db_machine_mod(db, "m1", "Small", 0), ERR_NONE);
	ck_assert_int_eq(db_machine_mod(db, "m2", NULL, 1),
	    ERR_NO_SUCH_MACHINE);
	ck_assert_int_eq(db_machine_del(db, "m1"), ERR_NONE);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM slots"), 0);
	ck_assert_int_eq(db_machine_del(db, "m1"), ERR_NO_SUCH_MACHINE);
	cJSON_Delete(a);
	cJSON_Delete(s);
}
END_TEST

START_TEST(database_file_is_private_and_migrated)
{
	char cmd[600];

	ck_assert_int_eq(db_schema_version(db), DB_SCHEMA_VERSION);
	snprintf(cmd, sizeof(cmd), "test \"$(stat -c %%a %s)\" = 600",
	    dbpath);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(sql_int("PRAGMA journal_mode = wal") >= 0, 1);
}
END_TEST

/*
 * SQLite keeps no memory statistics (db_sqlite_open sets that before its
 * first use): with them, every allocation takes one mutex shared by all
 * connections.  Fails if anything opens SQLite before the database does.
 */
START_TEST(sqlite_counts_no_memory_in_use)
{
	struct db_move m = { .actor = "admin", .user = "alice", .amount = 7,
		.note = "n", .request = "r" };
	cJSON *r = cJSON_CreateObject();
	sqlite3_int64 used = -1, most = -1, count = -1;

	ck_assert_int_eq(db_credit(db, &m, r), ERR_NONE);
	ck_assert_int_eq(field(r, "balance"), 107);
	ck_assert_int_eq(sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &used,
	    &most, 0), SQLITE_OK);
	ck_assert_int_eq(sqlite3_status64(SQLITE_STATUS_MALLOC_COUNT, &count,
	    &most, 0), SQLITE_OK);
	ck_assert_int_eq(used, 0);
	ck_assert_int_eq(count, 0);
	cJSON_Delete(r);
}
END_TEST

/*
 * A database drinkd creates has 1 KiB pages; one made with 4 KiB pages
 * (every database before) keeps them, and money moves in it as before.
 */
START_TEST(a_new_database_has_small_pages_and_an_old_one_keeps_its_own)
{
	struct db_move m = { .actor = "admin", .user = "alice", .amount = 7,
		.note = "n", .request = "r" };
	cJSON *r = cJSON_CreateObject();
	char err[256];

	ck_assert_int_eq(sql_int("PRAGMA page_size"), 1024);
	db_close(db);
	sql_exec("PRAGMA journal_mode = DELETE; PRAGMA page_size = 4096;"
	    "VACUUM; PRAGMA journal_mode = WAL;");
	ck_assert_int_eq(sql_int("PRAGMA page_size"), 4096);
	db = db_open(dbpath, 2, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(db_credit(db, &m, r), ERR_NONE);
	ck_assert_int_eq(field(r, "balance"), 107);
	ck_assert_int_eq(balance("alice"), 107);
	ck_assert(ledger_clean());
	ck_assert_int_eq(sql_int("PRAGMA page_size"), 4096);
	cJSON_Delete(r);
}
END_TEST

/*
 * Version 7 rebuilds tokens and cards so that an id is never handed out
 * again.  A database of version 6 keeps its tokens and cards, ids and
 * all; then the highest id, deleted, is not given to the next one.
 */
START_TEST(version_6_keeps_tokens_and_cards_with_their_ids)
{
	int64_t id, expires;
	char err[256];

	ck_assert_int_eq(db_token_add(db, "alice", "h1", "laptop", 90, &id,
	    &expires), ERR_NONE);
	ck_assert_int_eq(db_token_add(db, "alice", "h2", "phone", 90, &id,
	    &expires), ERR_NONE);
	ck_assert_int_eq(db_card_add(db, "bob", "b0b0", "keys", &id),
	    ERR_NONE);
	db_close(db);
	/* The tables as version 6 left them: ids without AUTOINCREMENT. */
	sql_exec("BEGIN;"
	    "CREATE TABLE t6 (id INTEGER PRIMARY KEY, user TEXT NOT NULL"
	    " REFERENCES users (name) ON DELETE CASCADE, hash TEXT NOT NULL"
	    " UNIQUE, label TEXT NOT NULL DEFAULT '', created INTEGER NOT"
	    " NULL, last_used INTEGER, expires INTEGER NOT NULL);"
	    "INSERT INTO t6 SELECT * FROM tokens; DROP TABLE tokens;"
	    "ALTER TABLE t6 RENAME TO tokens;"
	    "CREATE INDEX tokens_user ON tokens (user);"
	    "CREATE TABLE c6 (id INTEGER PRIMARY KEY, hash TEXT NOT NULL"
	    " UNIQUE, account INTEGER NOT NULL REFERENCES accounts (id),"
	    " label TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL,"
	    " last_used INTEGER);"
	    "INSERT INTO c6 SELECT * FROM cards; DROP TABLE cards;"
	    "ALTER TABLE c6 RENAME TO cards;"
	    "CREATE INDEX cards_account ON cards (account);"
	    "DELETE FROM sqlite_sequence WHERE name IN ('tokens', 'cards');"
	    "PRAGMA user_version = 6; COMMIT;");
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sqlite_schema WHERE"
	    " sql LIKE '%AUTOINCREMENT%'"), 0);
	db = db_open(dbpath, 2, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(db_schema_version(db), DB_SCHEMA_VERSION);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM tokens WHERE"
	    " (id = 1 AND label = 'laptop') OR (id = 2 AND label = 'phone')"),
	    2);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM cards c JOIN users u"
	    " ON u.account = c.account WHERE c.id = 1 AND u.name = 'bob'"
	    " AND c.label = 'keys'"), 1);
	ck_assert_int_eq(db_token_revoke(db, "alice", 2), ERR_NONE);
	ck_assert_int_eq(db_token_add(db, "alice", "h3", "tablet", 90, &id,
	    &expires), ERR_NONE);
	ck_assert_int_eq(id, 3);
	ck_assert_int_eq(db_card_del(db, "bob", 1), ERR_NONE);
	ck_assert_int_eq(db_card_add(db, "bob", "b1b1", "keys", &id),
	    ERR_NONE);
	ck_assert_int_eq(id, 2);
	ck_assert(ledger_clean());
}
END_TEST

/*
 * A database of schema version 3 (entries indexed by tx and by account)
 * is migrated to 4 at open: the indexes go, the money stays, and the
 * checker, which now scans the entries whole, still finds a balance that
 * differs from them.
 */
START_TEST(version_3_loses_the_entries_indexes_and_nothing_else)
{
	char err[256], *text = NULL, *logged, *want, *logpath, *p;
	size_t len = 0;
	FILE *out;
	int saved, fd, lines;

	db_close(db);
	sql_exec("CREATE INDEX entries_tx ON entries (tx);"
	    "CREATE INDEX entries_account ON entries (account);"
	    "DROP INDEX idem_tx;"
	    "PRAGMA user_version = 3;");
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sqlite_master"
	    " WHERE name LIKE 'entries_%'"), 2);
	/* The log says so in one line (stderr, captured). */
	log_set_level(LOG_LEVEL_INFO);
	logpath = xasprintf("%s.log", dbpath);
	ck_assert_int_ge(fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC,
	    0600), 0);
	fflush(stderr);
	ck_assert_int_ge(saved = dup(STDERR_FILENO), 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	db = db_open(dbpath, 2, err, sizeof(err));
	fflush(stderr);
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	close(fd);
	ck_assert_msg(db != NULL, "%s", err);
	logged = h_slurp(logpath, 65536);
	want = xasprintf("database %s migrated from schema version 3 to %d\n",
	    dbpath, DB_SCHEMA_VERSION);
	for (lines = 0, p = logged; (p = strstr(p, "schema version")) != NULL;
	    p++) {
		lines++;
	}
	ck_assert_msg(strstr(logged, want) != NULL && lines == 1,
	    "want one line \"%s\" in:\n%s", want, logged);
	free(want);
	free(logged);
	unlink(logpath);
	free(logpath);
	ck_assert_int_eq(db_schema_version(db), DB_SCHEMA_VERSION);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM sqlite_master"
	    " WHERE name LIKE 'entries_%'"), 0);
	ck_assert_int_eq(balance("admin"), 1000);
	ck_assert_int_eq(balance("alice"), 100);
	ck_assert_int_eq(sql_int("SELECT sum(amount) FROM entries"), 0);
	ck_assert(ledger_clean());
	sql_exec("UPDATE accounts SET balance = balance + 1"
	    " WHERE name = 'bob'");
	out = open_memstream(&text, &len);
	ck_assert_int_ne(db_check_ledger(db, out), 0);
	fclose(out);
	ck_assert_msg(strstr(text, "bob: cached 1, entries 0") != NULL, "%s",
	    text);
	free(text);
}
END_TEST

/*
 * Whether a row of "how sql" (EXPLAIN or EXPLAIN QUERY PLAN) holds text in
 * column col.  Read-write: a read-only connection leaves CHECKs out of
 * what it compiles.
 */
static int
explained(const char *how, const char *sql, int col, const char *text)
{
	char *explain = xasprintf("%s %s", how, sql);
	sqlite3_stmt *st;
	sqlite3 *h;
	int found = 0;

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &h, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(h, explain, -1, &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		found |= strstr((const char *)sqlite3_column_text(st, col),
		    text) != NULL;
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	free(explain);
	return found;
}

/* Whether SQLite's plan for sql reads through index. */
static int
plan_uses(const char *sql, const char *index)
{
	return explained("EXPLAIN QUERY PLAN", sql, 3, index);
}

/*
 * Settling a keyed drop rewrites the reply under its key, found by
 * (account, tx): through an index of its own (schema version 5), not by
 * scanning every key the member used.  A database of version 4 gains it
 * at open, and its keys still replay.
 */
START_TEST(a_keyed_drop_is_settled_through_its_own_index)
{
	static const char *const settle[] = {
		"UPDATE idem SET reply = '{}' WHERE account = 4 AND tx = 9",
		"DELETE FROM idem WHERE account = 4 AND tx = 9",
	};
	struct db_drop d = { .user = "alice", .machine = "m1", .slot = 1,
		.key = "k", .request = "drop m1 1" };
	cJSON *r = cJSON_CreateObject();
	int captured;
	char err[256];
	size_t i;

	ck_assert_int_eq(db_machine_add(db, "m1", "M"), ERR_NONE);
	ck_assert_int_eq(db_slot_set(db, "m1", 1, "Coke", 10, 5, 1, r),
	    ERR_NONE);
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(db_drop_capture(db, d.tx, -2, r, &captured),
	    ERR_NONE);
	for (i = 0; i < sizeof(settle) / sizeof(settle[0]); i++) {
		ck_assert_msg(plan_uses(settle[i], "idem_tx"), "%s", settle[i]);
	}
	db_close(db);
	sql_exec("DROP INDEX idem_tx; PRAGMA user_version = 4;");
	ck_assert(!plan_uses(settle[0], "idem_tx"));
	db = db_open(dbpath, 2, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(db_schema_version(db), DB_SCHEMA_VERSION);
	for (i = 0; i < sizeof(settle) / sizeof(settle[0]); i++) {
		ck_assert_msg(plan_uses(settle[i], "idem_tx"), "%s", settle[i]);
	}
	cJSON_Delete(r);
	r = cJSON_CreateObject();
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(d.replayed, 1);
	ck_assert_int_eq(field(r, "balance"), 90);
	ck_assert_int_eq(balance("alice"), 90);
	ck_assert(ledger_clean());
	cJSON_Delete(r);
}
END_TEST

/* Whether SQLite's program for sql has opcode op. */
static int
program_has(const char *sql, const char *op)
{
	return explained("EXPLAIN", sql, 1, op);
}

/* Whether sql fails on a connection of our own. */
static int
sql_fails(const char *sql)
{
	sqlite3 *h;
	int rc;

	ck_assert_int_eq(sqlite3_open(dbpath, &h), SQLITE_OK);
	rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
	sqlite3_close(h);
	return rc != SQLITE_OK;
}

/*
 * Put tx's CHECKs back as schema version 1 wrote them (IN lists), with
 * kind_in in place of "kind IN" (to spoil the text), at user_version 5.
 */
static void
tx_checks_as_version_5(const char *kind_in)
{
	char *sql = xasprintf("PRAGMA writable_schema = ON;"
	    "UPDATE sqlite_schema SET sql = replace(replace(sql,"
	    " 'kind = ''drop'' OR kind = ''refund''\n\t\t\t    OR kind ="
	    " ''transfer'' OR kind = ''credit''\n\t\t\t    OR kind ="
	    " ''debit'' OR kind = ''adjust''',"
	    " '%s\n\t\t\t    (''drop'', ''refund'', ''transfer'', ''credit'',"
	    " ''debit'',\n\t\t\t     ''adjust'')'),"
	    " 'state = ''pending''\n\t\t\t    OR state = ''completed'' OR"
	    " state = ''failed''',"
	    " 'state IN\n\t\t\t    (''pending'', ''completed'', ''failed'')')"
	    " WHERE type = 'table' AND name = 'tx';"
	    "PRAGMA schema_version = 100;"
	    "PRAGMA writable_schema = RESET;"
	    "PRAGMA user_version = 5;", kind_in);

	sql_exec(sql);
	free(sql);
}

static const char *const tx_writes[] = {
	"INSERT INTO tx (kind, state, account, amount, created)"
	" VALUES ('drop', 'pending', 4, -10, 1)",
	"UPDATE tx SET state = 'completed', settled = 1 WHERE id = 1",
	"UPDATE accounts SET balance = balance + 1 WHERE id = 4",
};

/*
 * Writing tx builds no temporary b-tree to check its CHECKs (schema
 * version 6: comparisons, not IN lists), nor does moving a balance.  A
 * database of version 5 is edited at open, keeps its money, and its
 * CHECKs still refuse what they refused.
 */
START_TEST(tx_is_written_without_a_temporary_btree)
{
	struct db_drop d = { .user = "alice", .machine = "m1", .slot = 1 };
	cJSON *r = cJSON_CreateObject();
	int captured;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(tx_writes) / sizeof(tx_writes[0]); i++) {
		ck_assert_msg(!program_has(tx_writes[i], "OpenEphemeral"),
		    "%s", tx_writes[i]);
	}
	db_close(db);
	tx_checks_as_version_5("kind IN");
	ck_assert(program_has(tx_writes[0], "OpenEphemeral"));
	ck_assert(program_has(tx_writes[1], "OpenEphemeral"));
	db = db_open(dbpath, 2, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(db_schema_version(db), DB_SCHEMA_VERSION);
	for (i = 0; i < sizeof(tx_writes) / sizeof(tx_writes[0]); i++) {
		ck_assert_msg(!program_has(tx_writes[i], "OpenEphemeral"),
		    "%s", tx_writes[i]);
	}
	/* Advanced by the edit, and by the later migrations' own DDL. */
	ck_assert_int_gt(sql_int("PRAGMA schema_version"), 100);
	ck_assert(sql_fails("INSERT INTO tx (kind, state, account, amount,"
	    " created) VALUES ('gift', 'pending', 4, 1, 1)"));
	ck_assert(sql_fails("UPDATE tx SET state = 'lost'"));
	ck_assert(sql_fails("UPDATE accounts SET balance = -1"
	    " WHERE name = 'alice'"));
	ck_assert_int_eq(balance("admin"), 1000);
	ck_assert_int_eq(balance("alice"), 100);
	ck_assert_int_eq(db_machine_add(db, "m1", "M"), ERR_NONE);
	ck_assert_int_eq(db_slot_set(db, "m1", 1, "Coke", 10, 5, 1, r),
	    ERR_NONE);
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(db_drop_capture(db, d.tx, -2, r, &captured),
	    ERR_NONE);
	ck_assert_int_eq(balance("alice"), 90);
	ck_assert(ledger_clean());
	cJSON_Delete(r);
}
END_TEST

/*
 * A tx whose text is not the one drinkd wrote is not edited: the database
 * does not open, and stays at version 5 as it was.
 */
START_TEST(a_tx_table_drinkd_did_not_write_is_not_edited)
{
	char err[256] = "";

	db_close(db);
	tx_checks_as_version_5("kind  IN");
	db = db_open(dbpath, 2, err, sizeof(err));
	ck_assert_ptr_null(db);
	ck_assert_msg(strstr(err, "migration to version 6: the schema is "
	    "not the one drinkd wrote") != NULL, "%s", err);
	ck_assert_int_eq(sql_int("PRAGMA user_version"), 5);
	ck_assert_int_eq(sql_int("SELECT instr(sql, 'state IN') > 0"
	    " FROM sqlite_schema WHERE name = 'tx'"), 1);
	ck_assert_int_eq(sql_int("PRAGMA schema_version"), 100);
}
END_TEST

/* The system accounts are where the schema puts them, or nothing opens. */
START_TEST(a_database_with_other_system_accounts_is_refused)
{
	char err[256];

	db_close(db);
	sql_exec("UPDATE accounts SET name = '@holdings' WHERE name = '@holds'");
	db = db_open(dbpath, 2, err, sizeof(err));
	ck_assert_ptr_null(db);
	ck_assert_msg(strstr(err, "the system accounts are not the ones the "
	    "schema creates") != NULL, "%s", err);
	sql_exec("UPDATE accounts SET name = '@holds' WHERE name = '@holdings'");
	db = db_open(dbpath, 2, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
}
END_TEST

/*
 * A move to an account that does not exist fails and changes nothing.
 * The foreign keys stop it at the entries first; with them off (as a
 * hand-edited database might be), the balance update still refuses it.
 */
START_TEST(a_move_to_a_missing_account_is_refused)
{
	sqlite3 *h;
	int64_t before = balance("alice");

	h = db_writer_lock(db);
	ck_assert_int_eq(sqlite3_exec(h, "PRAGMA foreign_keys = OFF", NULL,
	    NULL, NULL), SQLITE_OK);
	db_writer_unlock(db);
	ck_assert_ptr_nonnull(h = db_write_begin(db));
	ck_assert_int_eq(ledger_move(h, 1, LEDGER_DEPOSITS, 9999, 5), -1);
	ck_assert_int_eq(db_write_end(db, ERR_INTERNAL), ERR_INTERNAL);
	h = db_writer_lock(db);
	ck_assert_int_eq(sqlite3_exec(h, "PRAGMA foreign_keys = ON", NULL,
	    NULL, NULL), SQLITE_OK);
	db_writer_unlock(db);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM entries WHERE"
	    " account = 9999"), 0);
	ck_assert_int_eq(sql_int("SELECT balance FROM accounts WHERE"
	    " name = '@deposits'"), -1100);
	ck_assert_int_eq(balance("alice"), before);
	ck_assert(ledger_clean());
}
END_TEST

/*
 * A move that would take a member below zero fails at the balance update
 * (the accounts CHECK), and the write is rolled back: no entries, no
 * balance changed, the ledger sound.
 */
START_TEST(a_move_below_zero_is_refused)
{
	int64_t entries = sql_int("SELECT count(*) FROM entries");
	int64_t alice = sql_int("SELECT id FROM accounts WHERE name = 'alice'");
	sqlite3 *h;

	ck_assert_ptr_nonnull(h = db_write_begin(db));
	ck_assert_int_eq(ledger_move(h, 1, alice, LEDGER_SALES, 101), -1);
	ck_assert_int_eq(db_write_end(db, ERR_INTERNAL), ERR_INTERNAL);
	ck_assert_int_eq(balance("alice"), 100);
	ck_assert_int_eq(sql_int("SELECT balance FROM accounts"
	    " WHERE name = 'alice'"), 100);
	ck_assert_int_eq(sql_int("SELECT balance FROM accounts"
	    " WHERE name = '@sales'"), 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM entries"), entries);
	ck_assert(ledger_clean());
}
END_TEST

/* ---- balances in memory ------------------------------------------------ */

/*
 * Each member's balance as `balance` answers it (from memory) equals the
 * accounts row and the sum of the account's entries, read through a
 * connection of our own; the ledger is sound.
 */
static void
balances_match_ledger(const char *const *users)
{
	char sql[256];
	int i;

	for (i = 0; users[i] != NULL; i++) {
		snprintf(sql, sizeof(sql), "SELECT balance FROM accounts"
		    " WHERE name = '%s'", users[i]);
		ck_assert_msg(balance(users[i]) == sql_int(sql),
		    "%s: %lld in memory, %lld in accounts", users[i],
		    (long long)balance(users[i]), (long long)sql_int(sql));
		snprintf(sql, sizeof(sql), "SELECT coalesce(sum(e.amount), 0)"
		    " FROM entries e JOIN accounts a ON a.id = e.account"
		    " WHERE a.name = '%s'", users[i]);
		ck_assert_msg(balance(users[i]) == sql_int(sql),
		    "%s: %lld in memory, %lld in entries", users[i],
		    (long long)balance(users[i]), (long long)sql_int(sql));
	}
	ck_assert(ledger_clean());
}

static const char *const members3[] = { "admin", "alice", "bob", NULL };

START_TEST(balance_in_memory_follows_every_movement)
{
	struct db_move m = { .actor = "admin", .note = "n", .request = "r" };
	struct db_drop d = { .user = "alice", .machine = "m1", .slot = 1,
		.request = "drop m1 1" };
	cJSON *r = cJSON_CreateObject();
	int64_t captured;
	int was_captured;

	/* Every member was reported by its creation: no read needed. */
	ck_assert_int_eq(db_balances_count(db), 3);
	balances_match_ledger(members3);
	ck_assert_int_eq(db_machine_add(db, "m1", "M"), ERR_NONE);
	ck_assert_int_eq(db_slot_set(db, "m1", 1, "Coke", 10, 5, 1, r),
	    ERR_NONE);
	/* A transfer. */
	m.actor = "alice";
	m.user = "bob";
	m.amount = 30;
	ck_assert_int_eq(db_send(db, &m, r), ERR_NONE);
	ck_assert_int_eq(balance("alice"), 70);
	ck_assert_int_eq(balance("bob"), 30);
	balances_match_ledger(members3);
	/* Credit, debit, set_balance. */
	m.actor = "admin";
	m.user = "bob";
	m.amount = 12;
	ck_assert_int_eq(db_credit(db, &m, r), ERR_NONE);
	ck_assert_int_eq(balance("bob"), 42);
	m.amount = 2;
	ck_assert_int_eq(db_debit(db, &m, r), ERR_NONE);
	ck_assert_int_eq(balance("bob"), 40);
	m.amount = 55;
	ck_assert_int_eq(db_set_balance(db, &m, r), ERR_NONE);
	ck_assert_int_eq(balance("bob"), 55);
	balances_match_ledger(members3);
	/* A drop held, then captured; another held, then released. */
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(balance("alice"), 60);
	balances_match_ledger(members3);
	ck_assert_int_eq(db_drop_capture(db, d.tx, -2, r, &was_captured),
	    ERR_NONE);
	captured = d.tx;
	ck_assert_int_eq(balance("alice"), 60);
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(balance("alice"), 50);
	ck_assert_int_eq(db_drop_release(db, d.tx, ERR_DROP_FAILED, "jam", r,
	    &was_captured), ERR_NONE);
	ck_assert_int_eq(was_captured, 0);
	ck_assert_int_eq(balance("alice"), 60);
	balances_match_ledger(members3);
	/* A refund of the captured drop. */
	m.user = NULL;
	m.amount = 0;
	m.tx = captured;
	ck_assert_int_eq(db_refund(db, &m, r), ERR_NONE);
	ck_assert_int_eq(balance("alice"), 70);
	balances_match_ledger(members3);
	/* Refusals change nothing. */
	m.actor = "bob";
	m.user = "alice";
	m.amount = 56;
	m.tx = 0;
	ck_assert_int_eq(db_send(db, &m, r), ERR_INSUFFICIENT_FUNDS);
	ck_assert_int_eq(balance("bob"), 55);
	balances_match_ledger(members3);
	/* Held, then captured with the stock on the machine's thread. */
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(vended(d.tx, -1, r, &was_captured), ERR_NONE);
	ck_assert_int_eq(was_captured, 1);
	ck_assert_int_eq(balance("alice"), 60);
	balances_match_ledger(members3);
	ck_assert_int_eq(db_balances_count(db), 3);
	cJSON_Delete(r);
}
END_TEST

/*
 * A write that moved money and then failed is rolled back: neither the
 * memory nor the database shows it, whether the member's balance was in
 * memory before or is read afresh after.
 */
START_TEST(balance_of_a_rolled_back_write_never_shows)
{
	struct db_move m = { .actor = "alice", .user = "bob", .amount = 30,
		.key = "k", .request = "send bob 30" };
	cJSON *r = cJSON_CreateObject();

	/* The key is stored after the money moved: make that fail. */
	sql_exec("CREATE TRIGGER no_keys BEFORE INSERT ON idem"
	    " BEGIN SELECT RAISE(ABORT, 'no keys today'); END;");
	ck_assert_int_eq(db_send(db, &m, r), ERR_INTERNAL);
	ck_assert_int_eq(balance("alice"), 100);
	ck_assert_int_eq(balance("bob"), 0);
	balances_match_ledger(members3);
	db_balances_forget(db);
	ck_assert_int_eq(db_balances_count(db), 0);
	ck_assert_int_eq(db_send(db, &m, r), ERR_INTERNAL);
	ck_assert_int_eq(balance("alice"), 100);
	ck_assert_int_eq(balance("bob"), 0);
	ck_assert_int_eq(db_balances_count(db), 2);
	balances_match_ledger(members3);
	/* The same write once it can succeed. */
	sql_exec("DROP TRIGGER no_keys");
	ck_assert_int_eq(db_send(db, &m, r), ERR_NONE);
	ck_assert_int_eq(balance("alice"), 70);
	ck_assert_int_eq(balance("bob"), 30);
	balances_match_ledger(members3);
	cJSON_Delete(r);
}
END_TEST

/* A member not in memory is read once, then kept; unknown names are not. */
START_TEST(balance_is_read_once_then_kept)
{
	int64_t b = -1;

	db_balances_forget(db);
	ck_assert_int_eq(db_balances_count(db), 0);
	ck_assert_int_eq(balance("alice"), 100);
	ck_assert_int_eq(db_balances_count(db), 1);
	ck_assert_int_eq(balance("alice"), 100);
	ck_assert_int_eq(db_balances_count(db), 1);
	ck_assert_int_eq(db_balance(db, "carol", &b), ERR_NO_SUCH_USER);
	ck_assert_int_eq(db_balance(db, "@sales", &b), ERR_NO_SUCH_USER);
	ck_assert_int_eq(db_balances_count(db), 1);
	/* A new database handle starts empty and reads what is on disk. */
	db_close(db);
	db = db_open(dbpath, 2, NULL, 0);
	ck_assert_ptr_nonnull(db);
	ck_assert_int_eq(db_balances_count(db), 0);
	balances_match_ledger(members3);
	ck_assert_int_eq(db_balances_count(db), 3);
}
END_TEST

/*
 * A commit reported while a fill was reading: the fill must not install
 * the value it read (older than the report), whether the report was kept
 * in memory or the memory forgot everything meanwhile.
 */
static int fill_commits;

/* alice sends bob 10 (once). */
static void
fill_sends(struct db *d, const char *user)
{
	struct db_move m = { .actor = "alice", .user = "bob", .amount = 10,
		.request = "r" };
	cJSON *r;

	(void)user;
	if (fill_commits > 0) {
		fill_commits--;
		r = cJSON_CreateObject();
		ck_assert_int_eq(db_send(d, &m, r), ERR_NONE);
		cJSON_Delete(r);
	}
}

/* The same, then the memory forgets everything. */
static void
fill_forgets(struct db *d, const char *user)
{
	if (fill_commits > 0) {
		fill_sends(d, user);
		db_balances_forget(d);
	}
}

START_TEST(balance_fill_never_installs_an_older_value)
{
	int64_t b = -1;

	db_balances_forget(db);
	fill_commits = 1;
	db_balances_fill_hook(fill_sends);
	/* Read 100, then the send reported 90: 90 it is, and stays. */
	ck_assert_int_eq(db_balance(db, "alice", &b), ERR_NONE);
	ck_assert_int_eq(b, 90);
	ck_assert_int_eq(fill_commits, 0);
	ck_assert_int_eq(balance("alice"), 90);
	ck_assert_int_eq(balance("bob"), 10);
	db_balances_fill_hook(NULL);
	balances_match_ledger(members3);
	/* Read 90, then a send and a forgetting: nothing installed. */
	db_balances_forget(db);
	fill_commits = 1;
	db_balances_fill_hook(fill_forgets);
	ck_assert_int_eq(db_balance(db, "alice", &b), ERR_NONE);
	ck_assert_int_eq(fill_commits, 0);
	ck_assert_int_eq(db_balances_count(db), 0);
	db_balances_fill_hook(NULL);
	ck_assert_int_eq(balance("alice"), 80);
	ck_assert_int_eq(db_balances_count(db), 1);
	balances_match_ledger(members3);
}
END_TEST

/*
 * Writers, readers and a thread that keeps emptying the memory, all at
 * once.  Each writer owns one member and sends from it; right after each
 * reply, `balance` must show that reply's balance (read-your-writes), and
 * no reader may ever see an owned balance go back up (a fill that
 * installed a value older than a reported commit would).
 */
#define RACE_WRITERS 4
#define RACE_READERS 2
#define RACE_SENDS 60
#define RACE_START 100000

static int race_stop;		/* atomic */
static int race_errors;

static void
race_error(const char *what, const char *user, int64_t got, int64_t want)
{
	fprintf(stderr, "%s: %s: %lld, expected %lld\n", what, user,
	    (long long)got, (long long)want);
	__atomic_add_fetch(&race_errors, 1, __ATOMIC_SEQ_CST);
}

static const char *const race_users[RACE_WRITERS] = { "w1", "w2", "w3",
	"w4" };

static void *
race_writer(void *arg)
{
	const char *user = race_users[(intptr_t)arg];
	struct db_move m = { .actor = user, .user = "bob", .amount = 1,
		.request = "r" };
	int64_t want = RACE_START, got;
	cJSON *r;
	int i;

	for (i = 0; i < RACE_SENDS; i++) {
		r = cJSON_CreateObject();
		if (db_send(db, &m, r) != ERR_NONE) {
			race_error("send failed", user, 0, 0);
		} else {
			want--;
			got = (int64_t)cJSON_GetObjectItem(r, "balance")->
			    valuedouble;
			if (got != want) {
				race_error("send's reply", user, got, want);
			}
			if (db_balance(db, user, &got) != ERR_NONE ||
			    got != want) {
				race_error("balance after send", user, got,
				    want);
			}
		}
		cJSON_Delete(r);
	}
	return NULL;
}

static void *
race_reader(void *arg)
{
	int64_t last[RACE_WRITERS], b;
	int i;

	(void)arg;
	for (i = 0; i < RACE_WRITERS; i++) {
		last[i] = RACE_START;
	}
	while (!__atomic_load_n(&race_stop, __ATOMIC_SEQ_CST)) {
		for (i = 0; i < RACE_WRITERS; i++) {
			if (db_balance(db, race_users[i], &b) != ERR_NONE) {
				race_error("balance failed", race_users[i], 0,
				    0);
			} else if (b > last[i]) {
				race_error("balance went back up",
				    race_users[i], b, last[i]);
			} else {
				last[i] = b;
			}
		}
	}
	return NULL;
}

static void *
race_forgetter(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&race_stop, __ATOMIC_SEQ_CST)) {
		db_balances_forget(db);
		usleep(200);
	}
	return NULL;
}

START_TEST(balances_stay_right_under_concurrent_writers)
{
	pthread_t w[RACE_WRITERS], rd[RACE_READERS], f;
	const char *all[RACE_WRITERS + 4] = { "admin", "alice", "bob" };
	int i;

	for (i = 0; i < RACE_WRITERS; i++) {
		ck_assert_int_eq(db_user_add(db, NULL, race_users[i], "h",
		    "member", RACE_START), ERR_NONE);
		all[3 + i] = race_users[i];
	}
	__atomic_store_n(&race_stop, 0, __ATOMIC_SEQ_CST);
	race_errors = 0;
	ck_assert_int_eq(pthread_create(&f, NULL, race_forgetter, NULL), 0);
	for (i = 0; i < RACE_READERS; i++) {
		ck_assert_int_eq(pthread_create(&rd[i], NULL, race_reader,
		    NULL), 0);
	}
	for (i = 0; i < RACE_WRITERS; i++) {
		ck_assert_int_eq(pthread_create(&w[i], NULL, race_writer,
		    (void *)(intptr_t)i), 0);
	}
	for (i = 0; i < RACE_WRITERS; i++) {
		pthread_join(w[i], NULL);
	}
	__atomic_store_n(&race_stop, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < RACE_READERS; i++) {
		pthread_join(rd[i], NULL);
	}
	pthread_join(f, NULL);
	ck_assert_int_eq(race_errors, 0);
	for (i = 0; i < RACE_WRITERS; i++) {
		ck_assert_int_eq(balance(race_users[i]),
		    RACE_START - RACE_SENDS);
	}
	ck_assert_int_eq(balance("bob"), RACE_WRITERS * RACE_SENDS);
	balances_match_ledger(all);
	db_balances_forget(db);
	balances_match_ledger(all);
}
END_TEST

/*
 * A write that fails may be the one to commit a batch whose writers are
 * already asleep, waiting for its sync; it does not wait itself, so it
 * must wake one of them to sync.  Rounds of sends that succeed (the w
 * users) and sends that fail (alice, 1000 from 100), all at once: each
 * round ends, so a batch left committed but unsynced hangs the test.
 */
#define STRAND_ROUNDS 300

static pthread_barrier_t strand_round;

static void *
strand_sender(void *arg)
{
	int t = (int)(intptr_t)arg, i;
	struct db_move m = { .actor = t < RACE_WRITERS ? race_users[t] :
		"alice", .user = "bob", .amount = t < RACE_WRITERS ? 1 : 1000,
		.request = "r" };
	cJSON *r;
	int rc;

	for (i = 0; i < STRAND_ROUNDS; i++) {
		pthread_barrier_wait(&strand_round);
		r = cJSON_CreateObject();
		rc = db_send(db, &m, r);
		if (rc != (t < RACE_WRITERS ? ERR_NONE :
		    ERR_INSUFFICIENT_FUNDS)) {
			race_error("send", m.actor, rc, 0);
		}
		cJSON_Delete(r);
	}
	return NULL;
}

/* The race's members, and a barrier for the senders of each round. */
static void
strand_setup(int senders)
{
	int i;

	for (i = 0; i < RACE_WRITERS; i++) {
		ck_assert_int_eq(db_user_add(db, NULL, race_users[i], "h",
		    "member", RACE_START), ERR_NONE);
	}
	race_errors = 0;
	ck_assert_int_eq(pthread_barrier_init(&strand_round, NULL, senders),
	    0);
}

START_TEST(a_failed_write_never_leaves_its_batch_unsynced)
{
	pthread_t w[2 * RACE_WRITERS];
	int i;

	strand_setup(2 * RACE_WRITERS);
	for (i = 0; i < 2 * RACE_WRITERS; i++) {
		ck_assert_int_eq(pthread_create(&w[i], NULL, strand_sender,
		    (void *)(intptr_t)i), 0);
	}
	for (i = 0; i < 2 * RACE_WRITERS; i++) {
		pthread_join(w[i], NULL);
	}
	pthread_barrier_destroy(&strand_round);
	ck_assert_int_eq(race_errors, 0);
	ck_assert_int_eq(balance("bob"), RACE_WRITERS * STRAND_ROUNDS);
	ck_assert_int_eq(balance("alice"), 100);
}
END_TEST

/* ---- writes queued for the writer connection (db_write_run) ----------- */

struct queued {
	const char *name;	/* the settings row it writes */
	int rc;			/* what fn returns */
	pthread_t ran_on;	/* the thread that ran fn */
	int runs;
	int result;		/* db_write_run's */
};

static int
queued_write(sqlite3 *h, void *arg)
{
	struct queued *q = arg;

	q->ran_on = pthread_self();
	q->runs++;
	if (db_run(h, "INSERT INTO settings (name, value) VALUES (?, 'q')",
	    "t", q->name) != 0) {
		return ERR_INTERNAL;
	}
	return q->rc;
}

static void *
queued_submitter(void *arg)
{
	struct queued *q = arg;

	q->result = db_write_run(db, queued_write, q);
	return NULL;
}

static int
jobs_queued(void)
{
	int n;

	pthread_mutex_lock(&db->wlock);
	n = db->jobs_head != NULL;
	pthread_mutex_unlock(&db->wlock);
	return n;
}

/*
 * A write queued while another thread holds the writer connection is
 * made by that thread, after its own write and before it lets the
 * connection go; both are durable when their callers return.
 */
START_TEST(a_queued_write_is_made_by_the_connections_holder)
{
	struct queued q = { .name = "queued", .rc = ERR_NONE };
	pthread_t t;
	sqlite3 *h;

	ck_assert_ptr_nonnull(h = db_write_begin(db));
	ck_assert_int_eq(pthread_create(&t, NULL, queued_submitter, &q), 0);
	while (!jobs_queued()) {
		usleep(1000);
	}
	ck_assert_int_eq(db_run(h, "INSERT INTO settings (name, value)"
	    " VALUES ('holder', 'h')", ""), 0);
	ck_assert_int_eq(q.runs, 0);
	ck_assert_int_eq(db_write_end(db, ERR_NONE), ERR_NONE);
	ck_assert_int_eq(q.runs, 1);
	ck_assert(pthread_equal(q.ran_on, pthread_self()));
	pthread_join(t, NULL);
	ck_assert_int_eq(q.result, ERR_NONE);
	ck_assert_int_eq(sql_int("SELECT (SELECT rowid FROM settings WHERE"
	    " name = 'holder') < (SELECT rowid FROM settings WHERE"
	    " name = 'queued')"), 1);
	ck_assert_int_eq(db->durable_seq, db->committed_seq);
}
END_TEST

/*
 * A queued write that fails is rolled back alone, and its caller gets
 * its error; one made with nothing holding the connection runs on the
 * caller's own thread, or for a ticket on its waiter's.  Refused up
 * front (storage failing), fn never runs and the refusal is the
 * caller's.
 */
START_TEST(a_queued_write_that_fails_leaves_nothing)
{
	struct queued bad = { .name = "bad", .rc = ERR_CONFLICT };
	struct queued good = { .name = "good", .rc = ERR_NONE };
	struct queued refused = { .name = "refused", .rc = ERR_NONE };
	struct db_ticket *later = (struct db_ticket *)&later;

	ck_assert_int_eq(db_write_run(db, queued_write, &bad), ERR_CONFLICT);
	ck_assert_int_eq(bad.runs, 1);
	ck_assert(pthread_equal(bad.ran_on, pthread_self()));
	ck_assert_int_eq(db_write_queue(db, queued_write, &bad, &later),
	    ERR_NONE);
	ck_assert_ptr_nonnull(later);
	ck_assert_int_eq(bad.runs, 1);
	ck_assert_int_eq(db_ticket_wait(db, later), ERR_CONFLICT);
	ck_assert_int_eq(bad.runs, 2);
	ck_assert_int_eq(db_write_queue(db, queued_write, &good, &later),
	    ERR_NONE);
	ck_assert_ptr_nonnull(later);
	ck_assert_int_eq(db_ticket_wait(db, later), ERR_NONE);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM settings WHERE"
	    " name = 'bad'"), 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM settings WHERE"
	    " name = 'good'"), 1);

	pthread_mutex_lock(&db->wlock);
	db->fault_since = now_ms();
	db->fault_until = now_ms() + 60000;
	pthread_mutex_unlock(&db->wlock);
	(void)db_take_refused();
	ck_assert_int_eq(db_write_run(db, queued_write, &refused),
	    ERR_INTERNAL);
	ck_assert_int_eq(db_take_refused(), 1);
	ck_assert_int_eq(db_write_queue(db, queued_write, &refused, &later),
	    ERR_INTERNAL);
	ck_assert_ptr_null(later);
	ck_assert_int_eq(db_take_refused(), 1);
	ck_assert_int_eq(refused.runs, 0);
	pthread_mutex_lock(&db->wlock);
	db->fault_since = 0;
	db->fault_until = 0;
	pthread_mutex_unlock(&db->wlock);
	ck_assert_int_eq(db_write_run(db, queued_write, &refused), ERR_NONE);
	ck_assert_int_eq(refused.runs, 1);
}
END_TEST

/*
 * A write queued without waiting (db_write_queue) while the connection is
 * held returns at once, unmade; the holder makes it as it lets go, and
 * its ticket then says it is durable.
 */
START_TEST(a_write_queued_without_waiting_is_made_in_turn)
{
	struct queued q = { .name = "later", .rc = ERR_NONE };
	struct db_ticket *later;
	sqlite3 *h;

	ck_assert_ptr_nonnull(h = db_write_begin(db));
	ck_assert_int_eq(db_write_queue(db, queued_write, &q, &later),
	    ERR_NONE);
	ck_assert_ptr_nonnull(later);
	ck_assert_ptr_eq(db_ticket_arg(later), &q);
	ck_assert_int_eq(q.runs, 0);
	ck_assert_int_eq(db_run(h, "INSERT INTO settings (name, value)"
	    " VALUES ('holder', 'h')", ""), 0);
	ck_assert_int_eq(db_write_end(db, ERR_NONE), ERR_NONE);
	ck_assert_int_eq(q.runs, 1);
	ck_assert_int_eq(db_ticket_wait(db, later), ERR_NONE);
	ck_assert_int_eq(sql_int("SELECT (SELECT rowid FROM settings WHERE"
	    " name = 'holder') < (SELECT rowid FROM settings WHERE"
	    " name = 'later')"), 1);
	ck_assert_int_eq(db->durable_seq, db->committed_seq);
}
END_TEST

/*
 * More writes queued than a batch takes (DB_BATCH_MAX): the holder
 * commits the full batch and goes on with the rest in the next; every
 * write is kept.
 */
#define QUEUED_MANY (DB_BATCH_MAX + 6)

START_TEST(queued_writes_beyond_a_batch_go_in_the_next)
{
	struct queued q[QUEUED_MANY];
	struct db_ticket *later[QUEUED_MANY];
	char names[QUEUED_MANY][16];
	uint64_t before;
	sqlite3 *h;
	int i;

	ck_assert_ptr_nonnull(h = db_write_begin(db));
	before = db->committed_seq;
	for (i = 0; i < QUEUED_MANY; i++) {
		snprintf(names[i], sizeof(names[i]), "many%d", i);
		q[i] = (struct queued){ .name = names[i], .rc = ERR_NONE };
		ck_assert_int_eq(db_write_queue(db, queued_write, &q[i],
		    &later[i]), ERR_NONE);
	}
	ck_assert_int_eq(db_write_end(db, ERR_NONE), ERR_NONE);
	for (i = 0; i < QUEUED_MANY; i++) {
		ck_assert_int_eq(q[i].runs, 1);
		ck_assert_int_eq(db_ticket_wait(db, later[i]), ERR_NONE);
	}
	/* The holder's write and 63 queued ones, then the other 7. */
	ck_assert_uint_eq(db->committed_seq - before, 2);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM settings WHERE"
	    " value = 'q'"), QUEUED_MANY);
}
END_TEST

/*
 * A write queued for a ticket (the machine's thread queueing a capture)
 * is not made by the thread that queued it, even with the connection
 * free: that thread goes on at once, and the thread waiting for the
 * ticket (the member's) makes it, in queue order, then has it durable.
 */
struct ticket_waiter {
	struct db_ticket *later;
	int rc;
};

static void *
ticket_waiter_main(void *arg)
{
	struct ticket_waiter *tw = arg;

	tw->rc = db_ticket_wait(db, tw->later);
	return NULL;
}

START_TEST(a_ticket_write_is_made_by_its_waiter_not_its_queuer)
{
	struct queued first = { .name = "first", .rc = ERR_NONE };
	struct queued second = { .name = "second", .rc = ERR_NONE };
	struct ticket_waiter tw = { 0 };
	struct db_ticket *later;
	pthread_t t;

	ck_assert_int_eq(db_write_queue(db, queued_write, &first, &later),
	    ERR_NONE);
	ck_assert_int_eq(db_write_queue(db, queued_write, &second, &tw.later),
	    ERR_NONE);
	ck_assert_int_eq(first.runs, 0);
	ck_assert_int_eq(second.runs, 0);
	ck_assert(jobs_queued());
	ck_assert_int_eq(sql_int("SELECT count(*) FROM settings WHERE"
	    " name IN ('first', 'second')"), 0);
	/* The second's waiter makes both, the first in its turn. */
	ck_assert_int_eq(pthread_create(&t, NULL, ticket_waiter_main, &tw), 0);
	pthread_join(t, NULL);
	ck_assert_int_eq(tw.rc, ERR_NONE);
	ck_assert_int_eq(first.runs, 1);
	ck_assert_int_eq(second.runs, 1);
	ck_assert(!pthread_equal(first.ran_on, pthread_self()));
	ck_assert(pthread_equal(first.ran_on, second.ran_on));
	ck_assert_int_eq(sql_int("SELECT (SELECT rowid FROM settings WHERE"
	    " name = 'first') < (SELECT rowid FROM settings WHERE"
	    " name = 'second')"), 1);
	ck_assert_int_eq(db_ticket_wait(db, later), ERR_NONE);
	ck_assert(!jobs_queued());
	ck_assert_int_eq(db->durable_seq, db->committed_seq);
}
END_TEST

/*
 * A write queued while a COMMIT runs is not made then; the thread that
 * later waits for its ticket finds the connection free and makes it.
 */
START_TEST(a_queued_write_nobody_makes_is_made_by_its_waiter)
{
	struct queued q = { .name = "waited", .rc = ERR_NONE };
	struct db_ticket *later;

	pthread_mutex_lock(&db->wlock);
	db->wcommitting = 1;
	pthread_mutex_unlock(&db->wlock);
	ck_assert_int_eq(db_write_queue(db, queued_write, &q, &later),
	    ERR_NONE);
	ck_assert_int_eq(q.runs, 0);
	pthread_mutex_lock(&db->wlock);
	db->wcommitting = 0;
	pthread_mutex_unlock(&db->wlock);
	ck_assert_int_eq(db_ticket_wait(db, later), ERR_NONE);
	ck_assert_int_eq(q.runs, 1);
	ck_assert(pthread_equal(q.ran_on, pthread_self()));
	ck_assert_int_eq(sql_int("SELECT count(*) FROM settings WHERE"
	    " name = 'waited'"), 1);
}
END_TEST

/*
 * A queued write that cannot begin (another program holds the database's
 * write lock past the busy timeout) fails before fn runs, as internal,
 * not refused; the next one, the lock gone, is made.
 */
START_TEST(a_queued_write_that_cannot_begin_fails_before_it_runs)
{
	struct queued q = { .name = "blocked", .rc = ERR_NONE };
	sqlite3 *other;

	sqlite3_busy_timeout(db->writer, 50);
	ck_assert_int_eq(sqlite3_open(dbpath, &other), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL), SQLITE_OK);
	(void)db_take_refused();
	ck_assert_int_eq(db_write_run(db, queued_write, &q), ERR_INTERNAL);
	ck_assert_int_eq(q.runs, 0);
	ck_assert_int_eq(db_take_refused(), 0);
	ck_assert_int_eq(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(other);
	ck_assert_int_eq(db_write_run(db, queued_write, &q), ERR_NONE);
	ck_assert_int_eq(q.runs, 1);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM settings WHERE"
	    " name = 'blocked'"), 1);
	sqlite3_busy_timeout(db->writer, DB_BUSY_MS);
}
END_TEST

/*
 * A queued write during which SQLite rolls the whole batch back, as it
 * does on an I/O error (here: interrupted, which SQLite treats alike).
 */
static int
queued_rollback(sqlite3 *h, void *arg)
{
	struct queued *q = arg;
	sqlite3_stmt *st, *ins;

	q->runs++;
	ck_assert_int_eq(sqlite3_prepare_v2(h, "SELECT name FROM settings",
	    -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(h, "INSERT INTO settings"
	    " (name, value) VALUES ('interrupted', 'q')", -1, &ins, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	sqlite3_interrupt(h);
	ck_assert_int_eq(sqlite3_step(ins), SQLITE_INTERRUPT);
	sqlite3_finalize(ins);
	sqlite3_finalize(st);
	ck_assert_int_eq(sqlite3_get_autocommit(h), 1);
	return ERR_INTERNAL;
}

struct writer {
	const char *name;
	int rc;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	sqlite3 *h = db_write_begin(db);

	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(db_run(h, "INSERT INTO settings (name, value)"
	    " VALUES (?, 'w')", "t", w->name), 0);
	w->rc = db_write_end(db, ERR_NONE);
	return NULL;
}

/*
 * A queued write made by the connection's holder as it lets go, during
 * which SQLite rolled the whole batch back: the holder's write fails
 * with it, and the next writer, who was waiting for the connection,
 * starts a batch of its own.  Its write is then either kept and told
 * so, or neither: never committed behind a failure (a retry would apply
 * it twice).
 */
START_TEST(a_batch_rolled_back_by_a_queued_write_is_not_reused)
{
	struct queued bad = { .name = "bad", .rc = ERR_NONE };
	struct writer next = { .name = "next", .rc = -1 };
	struct db_ticket *later;
	pthread_t t;
	sqlite3 *h;
	int waiting = 0, i;

	ck_assert_ptr_nonnull(h = db_write_begin(db));
	ck_assert_int_eq(db_run(h, "INSERT INTO settings (name, value)"
	    " VALUES ('holder', 'h')", ""), 0);
	ck_assert_int_eq(db_write_queue(db, queued_rollback, &bad, &later),
	    ERR_NONE);
	ck_assert_int_eq(pthread_create(&t, NULL, writer_main, &next), 0);
	for (i = 0; i < 500 && !waiting; i++) {
		pthread_mutex_lock(&db->wlock);
		waiting = db->wwaiting;
		pthread_mutex_unlock(&db->wlock);
		if (!waiting) {
			usleep(10 * 1000);
		}
	}
	ck_assert_int_eq(waiting, 1);
	ck_assert_int_eq(db_write_end(db, ERR_NONE), ERR_INTERNAL);
	pthread_join(t, NULL);
	ck_assert_int_eq(bad.runs, 1);
	ck_assert_int_eq(db_ticket_wait(db, later), ERR_INTERNAL);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM settings WHERE"
	    " name IN ('holder', 'interrupted')"), 0);
	/* Told it failed, it is not there; told it is kept, it is. */
	ck_assert_int_eq(sql_int("SELECT count(*) FROM settings WHERE"
	    " name = 'next'"), next.rc == ERR_NONE);
	ck_assert_int_eq(next.rc, ERR_NONE);
	ck_assert_int_eq(db->durable_seq, db->committed_seq);
}
END_TEST

/*
 * A queued write that leaves without its savepoint (it released it
 * itself): its RELEASE fails, and so does the ROLLBACK TO meant to undo
 * it, while the batch's transaction is still open.
 */
static int
queued_savepoint_gone(sqlite3 *h, void *arg)
{
	struct queued *q = arg;

	q->runs++;
	ck_assert_int_eq(sqlite3_exec(h, "INSERT INTO settings (name, value)"
	    " VALUES ('gone', 'g'); RELEASE w", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_get_autocommit(h), 0);
	return q->rc;
}

/*
 * A write that can be neither released nor rolled back to its savepoint
 * fails its whole batch: nothing of it is committed behind the internal
 * its caller is told, nor anything of the batch's other writes, which
 * are told the same; the next write begins a batch of its own.
 */
START_TEST(a_write_that_cannot_be_undone_fails_its_batch)
{
	struct queued bad = { .name = "gone", .rc = ERR_NONE };
	struct db_ticket *later;
	sqlite3 *h;
	int rc;

	ck_assert_ptr_nonnull(h = db_write_begin(db));
	ck_assert_int_eq(db_run(h, "INSERT INTO settings (name, value)"
	    " VALUES ('holder', 'h')", ""), 0);
	ck_assert_int_eq(db_write_queue(db, queued_savepoint_gone, &bad,
	    &later), ERR_NONE);
	rc = db_write_end(db, ERR_NONE);
	ck_assert_int_eq(bad.runs, 1);
	ck_assert_int_eq(db_ticket_wait(db, later), ERR_INTERNAL);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM settings WHERE"
	    " name = 'gone'"), 0);
	/* Told it failed, it is not there; told it is kept, it is. */
	ck_assert_int_eq(sql_int("SELECT count(*) FROM settings WHERE"
	    " name = 'holder'"), rc == ERR_NONE);
	ck_assert_int_eq(rc, ERR_INTERNAL);
	ck_assert_int_eq(sqlite3_get_autocommit(db->writer), 1);
	ck_assert_ptr_nonnull(h = db_write_begin(db));
	ck_assert_int_eq(db_run(h, "INSERT INTO settings (name, value)"
	    " VALUES ('next', 'n')", ""), 0);
	ck_assert_int_eq(db_write_end(db, ERR_NONE), ERR_NONE);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM settings WHERE"
	    " name = 'next'"), 1);
	ck_assert_int_eq(db->durable_seq, db->committed_seq);
}
END_TEST

/*
 * Many threads queueing writes while others take the connection
 * themselves (db_send): every queued write is made once and kept, and
 * the money the others moved is all there.
 */
#define QUEUE_THREADS 6
#define QUEUE_WRITES 150

static void *
queue_writer(void *arg)
{
	int t = (int)(intptr_t)arg, i;
	struct queued q = { .rc = ERR_NONE };
	char name[32];

	q.name = name;
	for (i = 0; i < QUEUE_WRITES; i++) {
		snprintf(name, sizeof(name), "q%d.%d", t, i);
		if (db_write_run(db, queued_write, &q) != ERR_NONE) {
			race_error("queued write", name, 0, 0);
		}
	}
	return NULL;
}

START_TEST(queued_writes_from_many_threads_are_all_kept)
{
	pthread_t w[QUEUE_THREADS], s[RACE_WRITERS];
	int i;

	strand_setup(RACE_WRITERS);
	for (i = 0; i < QUEUE_THREADS; i++) {
		ck_assert_int_eq(pthread_create(&w[i], NULL, queue_writer,
		    (void *)(intptr_t)i), 0);
	}
	for (i = 0; i < RACE_WRITERS; i++) {
		ck_assert_int_eq(pthread_create(&s[i], NULL, strand_sender,
		    (void *)(intptr_t)i), 0);
	}
	for (i = 0; i < QUEUE_THREADS; i++) {
		pthread_join(w[i], NULL);
	}
	for (i = 0; i < RACE_WRITERS; i++) {
		pthread_join(s[i], NULL);
	}
	pthread_barrier_destroy(&strand_round);
	ck_assert_int_eq(race_errors, 0);
	ck_assert_int_eq(sql_int("SELECT count(*) FROM settings WHERE"
	    " value = 'q'"), QUEUE_THREADS * QUEUE_WRITES);
	ck_assert_int_eq(balance("bob"), RACE_WRITERS * STRAND_ROUNDS);
	ck_assert(ledger_clean());
}
END_TEST

/*
 * Memory is bounded: past 3072 members the rest are read from the
 * database each time, and stay right through their own movements.
 */
#define BOUND_USERS 3100
#define BOUND_THREADS 8

static void *
bound_adder(void *arg)
{
	int t = (int)(intptr_t)arg, i;
	char name[16];

	for (i = t; i < BOUND_USERS; i += BOUND_THREADS) {
		snprintf(name, sizeof(name), "u%d", i);
		if (db_user_add(db, NULL, name, "h", "member", i) !=
		    ERR_NONE) {
			__atomic_add_fetch(&race_errors, 1, __ATOMIC_SEQ_CST);
		}
	}
	return NULL;
}

START_TEST(balances_in_memory_are_bounded)
{
	const char *const last[] = { "u3099", "u0", "alice", NULL };
	struct db_move m = { .actor = "alice", .user = "u3099", .amount = 5,
		.request = "r" };
	pthread_t t[BOUND_THREADS];
	cJSON *r = cJSON_CreateObject();
	char name[16];
	int i, kept;

	race_errors = 0;
	/* Concurrent adds share commits: quicker than one by one. */
	for (i = 0; i < BOUND_THREADS; i++) {
		ck_assert_int_eq(pthread_create(&t[i], NULL, bound_adder,
		    (void *)(intptr_t)i), 0);
	}
	for (i = 0; i < BOUND_THREADS; i++) {
		pthread_join(t[i], NULL);
	}
	ck_assert_int_eq(race_errors, 0);
	kept = db_balances_count(db);
	ck_assert_int_eq(kept, 3072);
	for (i = 0; i < BOUND_USERS; i += 97) {
		snprintf(name, sizeof(name), "u%d", i);
		ck_assert_int_eq(balance(name), i);
	}
	ck_assert_int_eq(balance("u3099"), 3099);
	ck_assert_int_eq(db_send(db, &m, r), ERR_NONE);
	ck_assert_int_eq(balance("u3099"), 3104);
	ck_assert_int_eq(balance("alice"), 95);
	balances_match_ledger(last);
	ck_assert_int_eq(db_balances_count(db), 3072);
	cJSON_Delete(r);
}
END_TEST

static Suite *
ledger_suite(void)
{
	Suite *s = suite_create("ledger");
	TCase *tc;

	tc = tcase_create("accounts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, new_users_start_with_their_initial_credit);
	tcase_add_test(tc, duplicate_user_is_refused);
	tcase_add_test(tc, database_file_is_private_and_migrated);
	tcase_add_test(tc,
	    a_new_database_has_small_pages_and_an_old_one_keeps_its_own);
	tcase_add_test(tc, the_statement_cache_lends_each_statement_once);
	tcase_add_test(tc, sqlite_counts_no_memory_in_use);
	tcase_add_test(tc, version_3_loses_the_entries_indexes_and_nothing_else);
	tcase_add_test(tc, version_6_keeps_tokens_and_cards_with_their_ids);
	tcase_add_test(tc, a_keyed_drop_is_settled_through_its_own_index);
	tcase_add_test(tc, tx_is_written_without_a_temporary_btree);
	tcase_add_test(tc, a_tx_table_drinkd_did_not_write_is_not_edited);
	tcase_add_test(tc, a_database_with_other_system_accounts_is_refused);
	tcase_add_test(tc, a_move_to_a_missing_account_is_refused);
	tcase_add_test(tc, a_move_below_zero_is_refused);
	suite_add_tcase(s, tc);
	tc = tcase_create("movements");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, send_moves_money_between_members);
	tcase_add_test(tc, send_refuses_overdraft_and_reports_balance);
	tcase_add_test(tc, send_to_unknown_or_self_is_refused);
	tcase_add_test(tc, credit_debit_and_set_balance_use_system_accounts);
	tcase_add_test(tc, refund_returns_a_completed_drop_once);
	tcase_add_test(tc, drop_refused_as_in_progress_leaves_its_key_unused);
	tcase_add_test(tc, a_capture_that_finds_the_drop_released_is_recorded);
	suite_add_tcase(s, tc);
	tc = tcase_create("idempotency keys");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, idempotency_key_replays_the_first_result);
	tcase_add_test(tc, failed_request_does_not_consume_its_key);
	suite_add_tcase(s, tc);
	tc = tcase_create("history");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, history_shows_each_side_with_its_sign);
	suite_add_tcase(s, tc);
	tc = tcase_create("invariant checker");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, checker_finds_a_tampered_balance);
	tcase_add_test(tc, checker_finds_an_unbalanced_transaction);
	suite_add_tcase(s, tc);
	tc = tcase_create("balances in memory equal the ledger");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, balance_in_memory_follows_every_movement);
	tcase_add_test(tc, balance_of_a_rolled_back_write_never_shows);
	tcase_add_test(tc, balance_is_read_once_then_kept);
	tcase_add_test(tc, balance_fill_never_installs_an_older_value);
	tcase_add_test(tc, balances_stay_right_under_concurrent_writers);
	tcase_add_test(tc, a_failed_write_never_leaves_its_batch_unsynced);
	tcase_add_test(tc, balances_in_memory_are_bounded);
	tcase_add_test(tc, a_queued_write_is_made_by_the_connections_holder);
	tcase_add_test(tc, a_queued_write_that_fails_leaves_nothing);
	tcase_add_test(tc, a_write_queued_without_waiting_is_made_in_turn);
	tcase_add_test(tc, queued_writes_beyond_a_batch_go_in_the_next);
	tcase_add_test(tc, a_ticket_write_is_made_by_its_waiter_not_its_queuer);
	tcase_add_test(tc, a_queued_write_nobody_makes_is_made_by_its_waiter);
	tcase_add_test(tc,
	    a_queued_write_that_cannot_begin_fails_before_it_runs);
	tcase_add_test(tc, queued_writes_from_many_threads_are_all_kept);
	tcase_add_test(tc, a_batch_rolled_back_by_a_queued_write_is_not_reused);
	tcase_add_test(tc, a_write_that_cannot_be_undone_fails_its_batch);
	suite_add_tcase(s, tc);
	tc = tcase_create("machines");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, machines_and_slots_round_trip);
	tcase_add_test(tc, the_wal_is_reserved_at_open);
	tcase_add_test(tc, the_sync_thread_takes_no_process_signal);
	tcase_add_test(tc,
	    the_book_and_checkpoint_threads_take_no_process_signal);
	tcase_add_test(tc, the_wal_is_still_checkpointed);
	tcase_add_test(tc, vended_records_stock_and_capture_in_one_write);
	tcase_add_test(tc, a_retried_capture_lowers_the_stock_once);
	tcase_add_test(tc, a_capture_at_restart_sets_the_stock);
	tcase_add_test(tc, a_capture_at_restart_leaves_a_kept_sensed_count);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	Suite *suite = ledger_suite();
	int failed;

	log_init("check_ledger", 1, LOG_LEVEL_WARN);
	failed = h_run(suite);
	return failed == 0 ? 0 : 1;
}
