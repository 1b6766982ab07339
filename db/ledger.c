/*
 * The double-entry ledger: money movements requested by members and
 * admins, idempotency keys, history and the invariant checker.
 *
 * Every movement runs inside one BEGIN IMMEDIATE transaction on the single
 * writer, so balance checks and the writes that depend on them cannot
 * interleave with another movement on the same account.  Balances are read
 * inside that transaction, never from a value cached in a session.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db-int.h"

int64_t
ledger_account_id(sqlite3 *h, const char *name, int64_t *balance)
{
	sqlite3_stmt *st;
	int64_t id = -1;
	int r;

	st = db_prep(h, "SELECT id, balance FROM accounts WHERE name = ?", "t",
	    name);
	if (st != NULL && (r = db_step(st)) >= 0) {
		id = 0;
		if (r == 1) {
			id = sqlite3_column_int64(st, 0);
			if (balance != NULL) {
				*balance = sqlite3_column_int64(st, 1);
			}
		}
	}
	sqlite3_finalize(st);
	return id;
}

int
ledger_check_system(sqlite3 *h)
{
	static const char *const names[] = {
		[LEDGER_DEPOSITS] = "@deposits",
		[LEDGER_SALES] = "@sales",
		[LEDGER_HOLDS] = "@holds",
		[LEDGER_ADJUSTMENTS] = "@adjustments",
	};
	size_t i;

	for (i = 1; i < sizeof(names) / sizeof(names[0]); i++) {
		if (ledger_account_id(h, names[i], NULL) != (int64_t)i) {
			log_err("database: system account %s is not account "
			    "%zu, as the schema creates it", names[i], i);
			return -1;
		}
	}
	return 0;
}

/*
 * Add delta to account id's cached balance.  The money invariant, that a
 * user account (not a system one, see schema.sql) never goes negative, is
 * the accounts table's own CHECK: the statement that would break it fails
 * and its transaction is rolled back.  The account must exist.  (No
 * RETURNING to read the balance back: SQLite builds a temporary b-tree for
 * it at every call.)
 */
static int
ledger_add(sqlite3 *h, int64_t id, int64_t delta)
{
	if (db_run(h, "UPDATE accounts SET balance = balance + ? WHERE id = ?",
	    "ll", delta, id) != 0) {
		return -1;
	}
	if (sqlite3_changes(h) != 1) {
		log_err("ledger: no account %lld", (long long)id);
		return -1;
	}
	return 0;
}

int
ledger_move(sqlite3 *h, int64_t tx, int64_t from, int64_t to, int64_t amount)
{
	/* Money only moves inside the writer's open transaction. */
	ASSERT(sqlite3_get_autocommit(h) == 0);
	if (amount == 0) {
		return 0;
	}
	/* The only insert into entries: each move sums to zero by itself. */
	ASSERT(from != to);
	if (db_run(h, "INSERT INTO entries (tx, account, amount)"
	    " VALUES (?, ?, ?), (?, ?, ?)", "llllll", tx, from, -amount,
	    tx, to, amount) != 0 ||
	    ledger_add(h, from, -amount) != 0 ||
	    ledger_add(h, to, amount) != 0) {
		return -1;
	}
	return 0;
}

int64_t
ledger_post(sqlite3 *h, const struct ledger_tx *t)
{
	int64_t tx;

	if (db_run(h, "INSERT INTO tx (kind, state, account, counterparty,"
	    " actor, amount, machine, slot, item, note, refund_of, created,"
	    " settled) VALUES (?, ?, ?, nullif(?, 0), nullif(?, 0), ?, ?,"
	    " nullif(?, 0), ?, ?, nullif(?, 0), ?,"
	    " CASE WHEN ? = 'pending' THEN NULL ELSE ? END)",
	    "ttlllltittlltl", t->kind, t->state, t->account, t->counterparty,
	    t->actor, t->amount, t->machine, t->slot, t->item, t->note,
	    t->refund_of, db_now(), t->state, db_now()) != 0) {
		return -1;
	}
	tx = sqlite3_last_insert_rowid(h);
	return ledger_move(h, tx, t->from, t->to, t->moved) == 0 ? tx : -1;
}

void
ledger_json_move(cJSON *to, cJSON *from)
{
	cJSON *item;

	while ((item = from->child) != NULL) {
		cJSON_AddItemToObject(to, item->string,
		    cJSON_DetachItemViaPointer(from, item));
	}
}

int
ledger_idem_find(sqlite3 *h, int64_t account, const char *key,
    const char *request, struct ledger_idem *found)
{
	sqlite3_stmt *st;
	int rc = ERR_INTERNAL, r;

	memset(found, 0, sizeof(*found));
	st = db_prep(h, "SELECT request, reply, tx FROM idem"
	    " WHERE account = ? AND key = ?", "lt", account, key);
	if (st == NULL || (r = db_step(st)) < 0) {
		goto out;
	}
	rc = ERR_NONE;
	if (r == 1 && strcmp(db_col_text(st, 0), request) != 0) {
		rc = ERR_CONFLICT;
	} else if (r == 1) {
		found->found = 1;
		found->reply = xstrdup(db_col_text(st, 1));
		found->tx = sqlite3_column_int64(st, 2);
	}
out:
	sqlite3_finalize(st);
	return rc;
}

int
ledger_idem_store(sqlite3 *h, int64_t account, const char *key,
    const char *request, const char *reply, int64_t tx)
{
	return db_run(h, "INSERT INTO idem (account, key, request, reply, tx,"
	    " created) VALUES (?, ?, ?, ?, nullif(?, 0), ?)", "ltttll", account,
	    key, request, reply, tx, db_now());
}

/* The account of a user (not a system account); 0 when there is none. */
static int64_t
ledger_user_id(sqlite3 *h, const char *name, int64_t *balance)
{
	if (name == NULL || name[0] == '@') {
		return 0;
	}
	return ledger_account_id(h, name, balance);
}

/*
 * Look up (actor, key).  A new key returns ERR_NONE with *replayed = 0.  A
 * key seen with the same request copies the stored result into res and sets
 * *replayed; with a different request it is ERR_CONFLICT.
 */
static int
ledger_idem_check(sqlite3 *h, int64_t actor, const struct db_move *m,
    cJSON *res, int *replayed)
{
	struct ledger_idem found;
	cJSON *old;
	int rc;

	*replayed = 0;
	if ((rc = ledger_idem_find(h, actor, m->key, m->request, &found)) !=
	    ERR_NONE || !found.found) {
		return rc;
	}
	old = cJSON_Parse(found.reply);
	free(found.reply);
	if (old == NULL) {
		return ERR_INTERNAL;
	}
	ledger_json_move(res, old);
	cJSON_Delete(old);
	*replayed = 1;
	return ERR_NONE;
}

int
ledger_apply(struct db *db, struct db_move *m, ledger_fn fn, cJSON *reply)
{
	cJSON *res = cJSON_CreateObject();
	int64_t actor = 0, tx = 0;
	int rc = ERR_INTERNAL, replayed = 0;
	char *text;
	sqlite3 *h;

	if ((h = db_write_begin(db)) == NULL) {
		cJSON_Delete(res);
		return ERR_INTERNAL;
	}
	if (m->actor != NULL &&
	    (actor = ledger_user_id(h, m->actor, NULL)) <= 0) {
		rc = actor == 0 ? ERR_NO_SUCH_USER : ERR_INTERNAL;
		goto out;
	}
	/* A key belongs to a user: the idem row references the account. */
	ASSERT(m->key == NULL || m->actor != NULL);
	if (m->key != NULL &&
	    (rc = ledger_idem_check(h, actor, m, res, &replayed)) != ERR_NONE) {
		goto out;
	}
	if (replayed) {
		goto out;
	}
	if ((rc = fn(h, m, actor, res, &tx)) != ERR_NONE) {
		goto out;
	}
	if (m->key != NULL) {
		text = proto_print(res, NULL);
		if (text == NULL || ledger_idem_store(h, actor, m->key,
		    m->request, text, tx) != 0) {
			rc = ERR_INTERNAL;
		}
		free(text);
	}
out:
	rc = db_write_end(db, rc);
	if (rc == ERR_NONE) {
		ledger_json_move(reply, res);
	} else if (rc == ERR_INTERNAL) {
		m->message = NULL;	/* a refusal's words, lost with it */
	}
	cJSON_Delete(res);
	return rc;
}

static void
ledger_result(cJSON *res, int64_t tx, int64_t balance)
{
	cJSON_AddNumberToObject(res, "tx", (double)tx);
	cJSON_AddNumberToObject(res, "balance", (double)balance);
}

static int
ledger_send(sqlite3 *h, struct db_move *m, int64_t actor, cJSON *res,
    int64_t *tx)
{
	struct ledger_tx t = { .kind = "transfer", .state = "completed" };
	int64_t to, balance;

	if ((to = ledger_user_id(h, m->user, NULL)) <= 0) {
		return to == 0 ? ERR_NO_SUCH_USER : ERR_INTERNAL;
	}
	if (to == actor) {
		return ERR_BAD_REQUEST;
	}
	if (ledger_account_id(h, m->actor, &balance) < 0) {
		return ERR_INTERNAL;
	}
	if (balance < m->amount) {
		m->balance = balance;
		return ERR_INSUFFICIENT_FUNDS;
	}
	t.account = actor;
	t.counterparty = to;
	t.actor = actor;
	t.amount = -m->amount;
	t.note = m->note;
	t.from = actor;
	t.to = to;
	t.moved = m->amount;
	if ((*tx = ledger_post(h, &t)) < 0) {
		return ERR_INTERNAL;
	}
	ledger_result(res, *tx, balance - m->amount);
	return ERR_NONE;
}

/*
 * credit, debit and set_balance share one shape: money between the user
 * and a system account.  delta is the change to the user's balance.
 */
static int
ledger_admin_move(sqlite3 *h, struct db_move *m, int64_t actor,
    const char *kind, const char *system, int64_t delta, int64_t balance,
    int64_t user, cJSON *res, int64_t *tx)
{
	struct ledger_tx t = { .kind = kind, .state = "completed" };
	int64_t sys;

	if ((sys = ledger_account_id(h, system, NULL)) <= 0) {
		return ERR_INTERNAL;
	}
	t.account = user;
	t.actor = actor;
	t.amount = delta;
	t.note = m->note;
	t.from = sys;
	t.to = user;
	t.moved = delta;
	if ((*tx = ledger_post(h, &t)) < 0) {
		return ERR_INTERNAL;
	}
	ledger_result(res, *tx, balance + delta);
	return ERR_NONE;
}

static int
ledger_credit(sqlite3 *h, struct db_move *m, int64_t actor, cJSON *res,
    int64_t *tx)
{
	int64_t user, balance;

	if ((user = ledger_user_id(h, m->user, &balance)) <= 0) {
		return user == 0 ? ERR_NO_SUCH_USER : ERR_INTERNAL;
	}
	if (balance > PROTO_MAX_AMOUNT * 1000 - m->amount) {
		return ERR_INVALID_AMOUNT;
	}
	return ledger_admin_move(h, m, actor, "credit", "@deposits", m->amount,
	    balance, user, res, tx);
}

static int
ledger_debit(sqlite3 *h, struct db_move *m, int64_t actor, cJSON *res,
    int64_t *tx)
{
	int64_t user, balance;

	if ((user = ledger_user_id(h, m->user, &balance)) <= 0) {
		return user == 0 ? ERR_NO_SUCH_USER : ERR_INTERNAL;
	}
	if (balance < m->amount) {
		m->balance = balance;
		return ERR_INSUFFICIENT_FUNDS;
	}
	return ledger_admin_move(h, m, actor, "debit", "@deposits",
	    -m->amount, balance, user, res, tx);
}

/*
 * Refused while the user has a drop pending: its price sits in @holds,
 * outside the balance set, and would come back on top of it if the drop
 * failed.  The admin sets it again once the drop has ended.
 */
static int
ledger_set_balance(sqlite3 *h, struct db_move *m, int64_t actor, cJSON *res,
    int64_t *tx)
{
	sqlite3_stmt *st;
	int64_t user, balance;
	int r;

	if ((user = ledger_user_id(h, m->user, &balance)) <= 0) {
		return user == 0 ? ERR_NO_SUCH_USER : ERR_INTERNAL;
	}
	st = db_prep(h, "SELECT 1 FROM tx WHERE account = ? AND kind = 'drop'"
	    " AND state = 'pending'", "l", user);
	r = st != NULL ? db_step(st) : -1;
	sqlite3_finalize(st);
	if (r != 0) {
		return r == 1 ? ERR_DROP_IN_PROGRESS : ERR_INTERNAL;
	}
	return ledger_admin_move(h, m, actor, "adjust", "@adjustments",
	    m->amount - balance, balance, user, res, tx);
}

static int
ledger_refund(sqlite3 *h, struct db_move *m, int64_t actor, cJSON *res,
    int64_t *tx)
{
	struct ledger_tx t = { .kind = "refund", .state = "completed" };
	sqlite3_stmt *st;
	int64_t sales, balance = 0;
	int rc = ERR_INTERNAL, r;

	st = db_prep(h, "SELECT t.account, -t.amount, t.machine, t.slot,"
	    " t.item, a.balance, EXISTS (SELECT 1 FROM tx r"
	    " WHERE r.refund_of = t.id) FROM tx t JOIN accounts a"
	    " ON a.id = t.account WHERE t.id = ? AND t.kind = 'drop'"
	    " AND t.state = 'completed'", "l", m->tx);
	if (st == NULL || (r = db_step(st)) < 0) {
		goto out;
	}
	if (r == 0) {
		rc = ERR_NO_SUCH_TRANSACTION;
		goto out;
	}
	if (sqlite3_column_int(st, 6)) {
		/* Not the key's conflict: that one has its own words. */
		m->message = "that drop has already been refunded";
		rc = ERR_CONFLICT;
		goto out;
	}
	sales = LEDGER_SALES;
	t.account = sqlite3_column_int64(st, 0);
	t.actor = actor;
	t.amount = sqlite3_column_int64(st, 1);
	t.machine = db_col_text(st, 2);
	t.slot = sqlite3_column_int(st, 3);
	t.item = db_col_text(st, 4);
	t.note = m->note;
	t.refund_of = m->tx;
	t.from = sales;
	t.to = t.account;
	t.moved = t.amount;
	balance = sqlite3_column_int64(st, 5);
	if ((*tx = ledger_post(h, &t)) < 0) {
		goto out;
	}
	ledger_result(res, *tx, balance + t.amount);
	rc = ERR_NONE;
out:
	sqlite3_finalize(st);
	return rc;
}

int
db_send(struct db *db, struct db_move *m, cJSON *reply)
{
	return ledger_apply(db, m, ledger_send, reply);
}

int
db_credit(struct db *db, struct db_move *m, cJSON *reply)
{
	return ledger_apply(db, m, ledger_credit, reply);
}

int
db_debit(struct db *db, struct db_move *m, cJSON *reply)
{
	return ledger_apply(db, m, ledger_debit, reply);
}

int
db_set_balance(struct db *db, struct db_move *m, cJSON *reply)
{
	return ledger_apply(db, m, ledger_set_balance, reply);
}

int
db_refund(struct db *db, struct db_move *m, cJSON *reply)
{
	return ledger_apply(db, m, ledger_refund, reply);
}

/*
 * One transaction as the history and log commands show it.  viewer is the
 * account whose point of view gives the sign (0: the tx's own account).
 */
static cJSON *
ledger_tx_json(sqlite3_stmt *st, int with_user, int64_t viewer)
{
	cJSON *o = cJSON_CreateObject();
	int64_t amount = sqlite3_column_int64(st, 3);
	int mine = viewer == 0 || sqlite3_column_int64(st, 10) == viewer;

	db_col_json(o, "tx", st, 0);
	db_col_json(o, "time", st, 1);
	db_col_json(o, "kind", st, 2);
	cJSON_AddNumberToObject(o, "amount", (double)(mine ? amount : -amount));
	db_col_json(o, "state", st, 4);
	if (with_user) {
		db_col_json(o, "user", st, 11);
	}
	if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
		db_col_json(o, "machine", st, 5);
		db_col_json(o, "slot", st, 6);
		db_col_json(o, "item", st, 7);
	}
	if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
		db_col_json(o, "counterparty", st, mine ? 9 : 11);
	}
	if (sqlite3_column_type(st, 12) != SQLITE_NULL) {
		db_col_json(o, "refund", st, 12);
	}
	if (sqlite3_column_type(st, 8) != SQLITE_NULL) {
		/* A failed drop's note is why it failed. */
		db_col_json(o, strcmp((const char *)sqlite3_column_text(st, 2),
		    "drop") == 0 ? "reason" : "note", st, 8);
	}
	return o;
}

#define LEDGER_TX_COLUMNS                                                    \
	"SELECT t.id, t.created, t.kind, t.amount, t.state, t.machine,       \
	    t.slot, t.item, t.note, c.name, t.account, a.name,               \
	    (SELECT r.id FROM tx r WHERE r.refund_of = t.id) FROM tx t        \
	    JOIN accounts a ON a.id = t.account                               \
	    LEFT JOIN accounts c ON c.id = t.counterparty "

int
db_history(struct db *db, const struct db_log_filter *f, cJSON *array)
{
	sqlite3 *h = db_read_begin(db);
	sqlite3_stmt *st = NULL;
	int64_t me;
	int r = -1;

	if ((me = ledger_user_id(h, f->user, NULL)) <= 0) {
		db_read_end(db, h);
		return me == 0 ? ERR_NO_SUCH_USER : ERR_INTERNAL;
	}
	st = db_prep(h, LEDGER_TX_COLUMNS "WHERE t.id IN"
	    " (SELECT id FROM tx WHERE account = ?1 AND id < ?2"
	    " UNION ALL SELECT id FROM tx WHERE counterparty = ?1"
	    " AND id < ?2) ORDER BY t.id DESC LIMIT ?3", "lli", me,
	    f->before >= 0 ? f->before : INT64_MAX, f->limit);
	while (st != NULL && (r = db_step(st)) == 1) {
		cJSON_AddItemToArray(array, ledger_tx_json(st, 0, me));
	}
	sqlite3_finalize(st);
	db_read_end(db, h);
	return r == 0 ? ERR_NONE : ERR_INTERNAL;
}

int
db_log(struct db *db, const struct db_log_filter *f, cJSON *array)
{
	sqlite3 *h = db_read_begin(db);
	sqlite3_stmt *st;
	int r = -1;

	st = db_prep(h, LEDGER_TX_COLUMNS "WHERE (?1 IS NULL OR a.name = ?1"
	    " OR c.name = ?1) AND (?2 IS NULL OR t.machine = ?2)"
	    " AND (?3 IS NULL OR t.kind = ?3) AND t.created >= ?4"
	    " AND t.created <= ?5 AND t.id < ?6 ORDER BY t.id DESC LIMIT ?7",
	    "tttllli", f->user, f->machine, f->kind,
	    f->since >= 0 ? f->since : 0,
	    f->until >= 0 ? f->until : INT64_MAX,
	    f->before >= 0 ? f->before : INT64_MAX, f->limit);
	while (st != NULL && (r = db_step(st)) == 1) {
		cJSON_AddItemToArray(array, ledger_tx_json(st, 1, 0));
	}
	sqlite3_finalize(st);
	db_read_end(db, h);
	return r == 0 ? ERR_NONE : ERR_INTERNAL;
}

/* One invariant: a query whose rows are breaches, and how to print one. */
static const struct {
	const char *what;
	const char *sql;
} ledger_checks[] = {
	{ "transaction entries do not sum to zero",
	    "SELECT 'tx ' || tx || ': sum ' || sum(amount) FROM entries"
	    " GROUP BY tx HAVING sum(amount) != 0" },
	/* One pass over the entries (they have no index). */
	{ "cached balance differs from entries",
	    "SELECT a.name || ': cached ' || a.balance || ', entries ' ||"
	    " coalesce(e.total, 0) FROM accounts a LEFT JOIN (SELECT account,"
	    " sum(amount) AS total FROM entries GROUP BY account) e"
	    " ON e.account = a.id WHERE a.balance != coalesce(e.total, 0)" },
	{ "balances do not sum to zero",
	    "SELECT 'sum of balances ' || sum(balance) FROM accounts"
	    " HAVING sum(balance) != 0" },
	{ "member balance is negative",
	    "SELECT name || ': ' || balance FROM accounts"
	    " WHERE system = 0 AND balance < 0" },
	{ "holds do not match pending drops",
	    "SELECT '@holds ' || balance || ', pending drops ' ||"
	    " (SELECT coalesce(-sum(amount), 0) FROM tx WHERE kind = 'drop'"
	    " AND state = 'pending') FROM accounts WHERE name = '@holds'"
	    " AND balance != (SELECT coalesce(-sum(amount), 0) FROM tx"
	    " WHERE kind = 'drop' AND state = 'pending')" },
	{ "entry refers to a missing transaction or account",
	    "SELECT 'entry ' || e.id FROM entries e"
	    " LEFT JOIN tx t ON t.id = e.tx LEFT JOIN accounts a"
	    " ON a.id = e.account WHERE t.id IS NULL OR a.id IS NULL" },
	{ "user without an account",
	    "SELECT u.name FROM users u LEFT JOIN accounts a"
	    " ON a.id = u.account WHERE a.id IS NULL" },
};

/* The checks on connection h; 0 when the ledger is sound, else -1. */
static int
db_ledger_check(sqlite3 *h, FILE *out)
{
	sqlite3_stmt *st;
	size_t i;
	int breaches = 0, r;

	/* One read transaction: every check sees the same snapshot (WAL). */
	if (sqlite3_exec(h, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(out, "cannot begin a read: %s\n", sqlite3_errmsg(h));
		return -1;
	}
	for (i = 0; i < sizeof(ledger_checks) / sizeof(ledger_checks[0]);
	    i++) {
		if ((st = db_prep(h, ledger_checks[i].sql, "")) == NULL) {
			breaches++;
			continue;
		}
		while ((r = db_step(st)) == 1) {
			fprintf(out, "breach: %s: %s\n", ledger_checks[i].what,
			    db_col_text(st, 0));
			breaches++;
		}
		if (r < 0) {
			breaches++;
		}
		sqlite3_finalize(st);
	}
	sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
	return breaches == 0 ? 0 : -1;
}

int
db_check_ledger(struct db *db, FILE *out)
{
	sqlite3 *h = db_read_begin(db);
	int rc = db_ledger_check(h, out);

	db_read_end(db, h);
	return rc;
}

int
db_check_ledger_file(const char *path, FILE *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *h;
	int rc = -2, version = -1, quiet;

	if (access(path, F_OK) != 0) {
		snprintf(err, errlen, "database %s: %s", path, strerror(errno));
		return -2;
	}
	/* Read-only: no WAL switched on, no migration, no file changed. */
	if ((h = db_connect_snapshot(path, &quiet, err, errlen)) == NULL) {
		return -2;
	}
	/* Not db_prep: a file that is not a database is the answer here,
	 * not an error of drinkd's to log. */
	if (sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		version = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	if (version < 0) {
		snprintf(err, errlen, "%s is not a usable SQLite database: %s",
		    path, sqlite3_errmsg(h));
	} else if (version == 0) {
		snprintf(err, errlen, "database %s holds no drinkd ledger (it "
		    "is empty, or another program's)", path);
	} else if (version != DB_SCHEMA_VERSION) {
		snprintf(err, errlen, "database %s has schema version %d and "
		    "this drinkd checks version %d%s", path, version,
		    DB_SCHEMA_VERSION, version < DB_SCHEMA_VERSION ?
		    ": start this drinkd on it once (it "
		    "brings the schema up to date), then check it" : "");
	} else {
		rc = db_ledger_check(h, out);
	}
	db_connection_close(h);
	if (quiet && db_snapshot_busy(path)) {
		snprintf(err, errlen, "a drinkd started on %s during the check; "
		    "run check-ledger again", path);
		rc = -2;
	}
	return rc;
}
