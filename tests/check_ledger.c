/*
 * The ledger (db/): money movements, their error paths, idempotency keys,
 * history from each side, and the invariant checker catching breaches.
 * Each test gets a fresh database file.
 */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "harness.h"
#include "db.h"

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

	ck_assert_int_eq(db_machine_add(db, "m1", "M"), ERR_NONE);
	ck_assert_int_eq(db_slot_set(db, "m1", 1, "Coke", 10, 5, 1, r),
	    ERR_NONE);
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(d.replayed, 0);
	first = d.tx;
	ck_assert_int_eq(balance("alice"), 90);
	ck_assert_int_eq(db_drop_release(db, first, ERR_DROP_IN_PROGRESS,
	    "alice already has a drop in flight"), ERR_NONE);
	ck_assert_int_eq(balance("alice"), 100);
	/* The retry holds anew: the key was not used up. */
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(d.replayed, 0);
	ck_assert_int_gt(d.tx, first);
	ck_assert_int_eq(balance("alice"), 90);
	ck_assert_int_eq(db_drop_capture(db, d.tx, r), ERR_NONE);
	cJSON_Delete(r);
	/* A capture retried after it was recorded finds it so, once. */
	r = cJSON_CreateObject();
	ck_assert_int_eq(db_drop_capture(db, d.tx, r), ERR_NONE);
	ck_assert_int_eq(field(r, "tx"), d.tx);
	ck_assert_int_eq(field(r, "balance"), 90);
	ck_assert_int_eq(db_drop_release(db, d.tx, ERR_DROP_FAILED, "x"),
	    ERR_INTERNAL);
	cJSON_Delete(r);
	r = cJSON_CreateObject();
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(d.replayed, 1);
	ck_assert_int_eq(field(r, "tx"), d.tx);
	ck_assert_int_eq(balance("alice"), 90);
	/* A failure at the machine is the key's outcome. */
	d.key = "k2";
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_NONE);
	ck_assert_int_eq(db_drop_release(db, d.tx, ERR_DROP_FAILED, "jam"),
	    ERR_NONE);
	ck_assert_int_eq(db_drop_release(db, d.tx, ERR_DROP_FAILED, "jam"),
	    ERR_NONE);
	ck_assert_int_eq(db_drop_capture(db, d.tx, r), ERR_INTERNAL);
	ck_assert_int_eq(db_drop_hold(db, &d, 1, r), ERR_DROP_FAILED);
	ck_assert_int_eq(balance("alice"), 90);
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
	suite_add_tcase(s, tc);
	tc = tcase_create("movements");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, send_moves_money_between_members);
	tcase_add_test(tc, send_refuses_overdraft_and_reports_balance);
	tcase_add_test(tc, send_to_unknown_or_self_is_refused);
	tcase_add_test(tc, credit_debit_and_set_balance_use_system_accounts);
	tcase_add_test(tc, refund_returns_a_completed_drop_once);
	tcase_add_test(tc, drop_refused_as_in_progress_leaves_its_key_unused);
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
	tc = tcase_create("machines");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, machines_and_slots_round_trip);
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
