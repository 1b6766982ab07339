/*
 * Drops in the ledger: the hold taken before the machine is asked, and
 * its capture or release afterwards.  Between the two, the price sits in
 * @holds under a tx in state 'pending'; every path out of a drop ends in
 * exactly one of capture or release, and a restart releases whatever a
 * crash left pending.
 */
#include <stdlib.h>
#include <string.h>

#include "db-int.h"

/*
 * The reply stored for a drop's idempotency key once it has settled; its
 * row is found by the member's account (the key's primary key), not by
 * scanning every key for tx.
 */
static int
drop_store_reply(sqlite3 *h, int64_t account, int64_t tx,
    const cJSON *reply)
{
	char *text = proto_print(reply, NULL);
	int rc;

	if (text == NULL) {
		return -1;
	}
	rc = db_run(h, "UPDATE idem SET reply = ? WHERE account = ? AND tx = ?",
	    "tll", text, account, tx);
	free(text);
	return rc;
}

/*
 * Replay what an earlier drop with the same key answered: its stored
 * reply (result fields, or "error" and "message"), or drop_in_progress
 * while it is still pending.
 */
static int
drop_replay(sqlite3 *h, int64_t tx, const char *stored, cJSON *reply,
    struct db_drop *d)
{
	sqlite3_stmt *st;
	cJSON *old, *item, *err;
	int r, pending, e;

	st = db_prep(h, "SELECT state = 'pending' FROM tx WHERE id = ?", "l",
	    tx);
	if (st == NULL || (r = db_step(st)) != 1) {
		sqlite3_finalize(st);
		return ERR_INTERNAL;
	}
	pending = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (pending) {
		return ERR_DROP_IN_PROGRESS;
	}
	if ((old = cJSON_Parse(stored)) == NULL) {
		return ERR_INTERNAL;
	}
	err = cJSON_GetObjectItemCaseSensitive(old, "error");
	if (cJSON_IsString(err)) {
		e = proto_err_parse(err->valuestring);
		item = cJSON_GetObjectItemCaseSensitive(old, "message");
		snprintf(d->message, sizeof(d->message), "%s",
		    cJSON_IsString(item) ? item->valuestring : "");
		cJSON_Delete(old);
		return e > 0 ? e : ERR_INTERNAL;
	}
	ledger_json_move(reply, old);
	cJSON_Delete(old);
	d->replayed = 1;
	return ERR_NONE;
}

/* Check the key inside the hold transaction; see drop_replay. */
static int
drop_key(sqlite3 *h, int64_t account, struct db_drop *d, cJSON *reply,
    int *seen)
{
	struct ledger_idem found;
	int rc;

	*seen = 0;
	if ((rc = ledger_idem_find(h, account, d->key, d->request, &found)) !=
	    ERR_NONE) {
		*seen = rc == ERR_CONFLICT;
		return rc;
	}
	if (found.found) {
		*seen = 1;
		rc = drop_replay(h, found.tx, found.reply, reply, d);
		free(found.reply);
	}
	return rc;
}

/* A hold's arguments, for drop_hold (run by db_write_run). */
struct drop_hold_args {
	struct db_drop *d;
	int online;
	cJSON *reply;
};

static int
drop_hold(sqlite3 *h, void *arg)
{
	const struct drop_hold_args *a = arg;
	struct ledger_tx t = { .kind = "drop", .state = "pending" };
	struct db_drop *d = a->d;
	cJSON *reply = a->reply;
	sqlite3_stmt *st = NULL;
	int64_t account, balance, price;
	int rc = ERR_INTERNAL, r, seen = 0;

	if ((account = ledger_account_id(h, d->user, &balance)) <= 0) {
		rc = account == 0 ? ERR_NO_SUCH_USER : ERR_INTERNAL;
		goto out;
	}
	if (d->key != NULL && ((rc = drop_key(h, account, d, reply, &seen)) !=
	    ERR_NONE || seen)) {
		goto out;
	}
	rc = ERR_INTERNAL;
	st = db_prep(h, "SELECT m.enabled, s.slot IS NOT NULL, s.item,"
	    " s.price, s.stock, s.enabled FROM machines m LEFT JOIN slots s"
	    " ON s.machine = m.name AND s.slot = ? WHERE m.name = ?", "it",
	    d->slot, d->machine);
	if (st == NULL || (r = db_step(st)) < 0) {
		goto out;
	}
	if (r == 0) {
		rc = ERR_NO_SUCH_MACHINE;
		goto out;
	}
	if (!sqlite3_column_int(st, 0)) {
		snprintf(d->message, sizeof(d->message),
		    "machine %s is disabled", d->machine);
		rc = ERR_MACHINE_OFFLINE;
		goto out;
	}
	if (!sqlite3_column_int(st, 1)) {
		rc = ERR_NO_SUCH_SLOT;
		goto out;
	}
	if (!a->online) {
		snprintf(d->message, sizeof(d->message),
		    "machine %s is offline", d->machine);
		rc = ERR_MACHINE_OFFLINE;
		goto out;
	}
	snprintf(d->item, sizeof(d->item), "%s", db_col_text(st, 2));
	price = sqlite3_column_int64(st, 3);
	d->price = price;
	/*
	 * A slot made before slot_set required an item (and price), or
	 * before an item could not be blanks, sells nothing anyone chose:
	 * it cannot vend until it is set up.
	 */
	if (d->item[strspn(d->item, " \t\r\n\v\f")] == '\0') {
		snprintf(d->message, sizeof(d->message), "slot %d of %s is "
		    "not set up: it has no item", d->slot, d->machine);
		rc = ERR_SLOT_DISABLED;
		goto out;
	}
	if (!sqlite3_column_int(st, 5)) {
		rc = ERR_SLOT_DISABLED;
		goto out;
	}
	if (sqlite3_column_int64(st, 4) <= 0) {
		rc = ERR_SLOT_EMPTY;
		goto out;
	}
	sqlite3_finalize(st);
	st = db_prep(h, "SELECT 1 FROM tx WHERE account = ? AND kind = 'drop'"
	    " AND state = 'pending'", "l", account);
	if (st == NULL || (r = db_step(st)) < 0) {
		goto out;
	}
	if (r == 1) {
		rc = ERR_DROP_IN_PROGRESS;
		goto out;
	}
	if (balance < price) {
		d->balance = balance;
		rc = ERR_INSUFFICIENT_FUNDS;
		goto out;
	}
	t.account = account;
	t.actor = account;
	t.amount = -price;
	t.machine = d->machine;
	t.slot = d->slot;
	t.item = d->item;
	t.from = account;
	t.to = LEDGER_HOLDS;
	t.moved = price;
	if ((d->tx = ledger_post(h, &t)) < 0) {
		goto out;
	}
	if (d->key != NULL && ledger_idem_store(h, account, d->key,
	    d->request, "{}", d->tx) != 0) {
		goto out;
	}
	d->balance = balance - price;
	rc = ERR_NONE;
out:
	sqlite3_finalize(st);
	return rc;
}

int
db_drop_hold(struct db *db, struct db_drop *d, int online, cJSON *reply)
{
	struct drop_hold_args a = { .d = d, .online = online, .reply = reply };
	int rc;

	d->replayed = 0;
	d->message[0] = '\0';
	if ((rc = db_write_run(db, drop_hold, &a)) == ERR_INTERNAL) {
		d->message[0] = '\0';	/* a refusal's words, lost with it */
	}
	return rc;
}

/*
 * Return a pending drop's hold to its member and mark the tx failed.  Only
 * a tx still pending is touched, so a second settlement is a no-op (-1).
 */
static int
drop_return(sqlite3 *h, int64_t tx, int64_t *account)
{
	sqlite3_stmt *st;
	int64_t price;
	int r;

	st = db_prep(h, "SELECT account, -amount FROM tx WHERE id = ?"
	    " AND kind = 'drop' AND state = 'pending'", "l", tx);
	if (st == NULL || (r = db_step(st)) != 1) {
		sqlite3_finalize(st);
		return -1;
	}
	*account = sqlite3_column_int64(st, 0);
	price = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	if (ledger_move(h, tx, LEDGER_HOLDS, *account, price) != 0) {
		return -1;
	}
	return db_run(h, "UPDATE tx SET state = 'failed', settled = ?"
	    " WHERE id = ?", "ll", db_now(), tx);
}

/*
 * 1 when drop tx is already settled as state, with its result added to
 * res (if not NULL).  A settlement whose COMMIT reported an error may
 * still have reached the disk (outcome unknown); its retry must then see
 * it recorded, not fail for ever while the settler keeps trying and the
 * member's drop stays in flight.
 */
static int
drop_settled(sqlite3 *h, int64_t tx, const char *state, cJSON *res)
{
	sqlite3_stmt *st;
	int r;

	/*
	 * The state is compared here, not bound: a bound state lets the
	 * planner weigh the partial index on pending drops, and SQLite then
	 * prepares the statement anew at every use.
	 */
	st = db_prep(h, "SELECT t.item, -t.amount, a.balance, t.state"
	    " FROM tx t JOIN accounts a ON a.id = t.account WHERE t.id = ?"
	    " AND t.kind = 'drop'", "l", tx);
	r = st != NULL ? db_step(st) : -1;
	if (r == 1 && strcmp(db_col_text(st, 3), state) != 0) {
		r = 0;
	}
	if (r == 1 && res != NULL) {
		cJSON_AddNumberToObject(res, "tx", (double)tx);
		cJSON_AddStringToObject(res, "item", db_col_text(st, 0));
		cJSON_AddNumberToObject(res, "price",
		    (double)sqlite3_column_int64(st, 1));
		cJSON_AddNumberToObject(res, "balance",
		    (double)sqlite3_column_int64(st, 2));
	}
	sqlite3_finalize(st);
	return r == 1;
}

/*
 * Capture inside an open write transaction (shared with restart): the
 * price moves @holds -> @sales, the tx is completed, the drop's slot gets
 * stock (as machine_vended; -2 leaves it alone), and res gets the result
 * (also stored for the drop's idempotency key, if it has one).  0 when
 * captured now; 1 when it was captured before (res filled all the same,
 * the stock left as that capture set it); 2 when the drop was released
 * instead (nothing changes); -1 on error.  So every capture lowers its
 * slot's stock once, in the capture's own transaction.
 */
static int
drop_capture(sqlite3 *h, int64_t tx, int64_t stock, cJSON *res)
{
	sqlite3_stmt *st;
	int64_t account, price, balance;
	char state[16], item[256], machine[64];
	int r, slot;

	/* The state is compared here, not bound: see drop_settled. */
	st = db_prep(h, "SELECT t.state, t.account, -t.amount, t.item,"
	    " a.balance, t.machine, t.slot FROM tx t JOIN accounts a"
	    " ON a.id = t.account WHERE t.id = ? AND t.kind = 'drop'", "l",
	    tx);
	if (st == NULL || (r = db_step(st)) != 1) {
		sqlite3_finalize(st);
		return -1;
	}
	snprintf(state, sizeof(state), "%s", db_col_text(st, 0));
	account = sqlite3_column_int64(st, 1);
	price = sqlite3_column_int64(st, 2);
	snprintf(item, sizeof(item), "%s", db_col_text(st, 3));
	balance = sqlite3_column_int64(st, 4);
	snprintf(machine, sizeof(machine), "%s", db_col_text(st, 5));
	slot = sqlite3_column_int(st, 6);
	sqlite3_finalize(st);
	if (strcmp(state, "completed") != 0 && strcmp(state, "pending") != 0) {
		return 2;
	}
	/* The member's balance: a capture moves @holds -> @sales only. */
	cJSON_AddNumberToObject(res, "tx", (double)tx);
	cJSON_AddStringToObject(res, "item", item);
	cJSON_AddNumberToObject(res, "price", (double)price);
	cJSON_AddNumberToObject(res, "balance", (double)balance);
	if (strcmp(state, "completed") == 0) {
		return 1;
	}
	if (ledger_move(h, tx, LEDGER_HOLDS, LEDGER_SALES, price) != 0 ||
	    db_run(h, "UPDATE tx SET state = 'completed', settled = ?"
	    " WHERE id = ?", "ll", db_now(), tx) != 0 ||
	    db_run(h, "UPDATE idem SET reply = json_object('tx', ?, 'item', ?,"
	    " 'price', ?, 'balance', ?) WHERE account = ? AND tx = ?",
	    "ltllll", tx, item, price, balance, account, tx) != 0 ||
	    (stock != -2 && machine_vended(h, machine, slot, stock) != 0)) {
		return -1;
	}
	return 0;
}

int
db_drop_capture(struct db *db, int64_t tx, int64_t stock, cJSON *reply,
    int *captured)
{
	cJSON *res = cJSON_CreateObject();
	sqlite3 *h;
	int r, rc;

	*captured = 0;
	if ((h = db_write_begin(db)) == NULL) {
		cJSON_Delete(res);
		return ERR_INTERNAL;
	}
	r = drop_capture(h, tx, stock, res);
	rc = db_write_end(db, r >= 0 ? ERR_NONE : ERR_INTERNAL);
	if (rc == ERR_NONE && r != 2) {
		*captured = 1;
		ledger_json_move(reply, res);
	}
	cJSON_Delete(res);
	return rc;
}

/* Release inside an open write transaction (shared with restart). */
static int
drop_release(sqlite3 *h, int64_t tx, int err, const char *message)
{
	int64_t account;
	cJSON *res;
	int rc;

	if (drop_settled(h, tx, "failed", NULL)) {
		return 0;
	}
	if (drop_return(h, tx, &account) != 0) {
		return -1;
	}
	/* The reason stays with the drop, for history and log. */
	if (db_run(h, "UPDATE tx SET note = ? WHERE id = ?", "tl", message,
	    tx) != 0) {
		return -1;
	}
	/*
	 * drop_in_progress is never a key's outcome: refused at queueing
	 * because another drop of the user was still in flight, the drop
	 * leaves its key unused, as when refused before the hold, so that a
	 * retry with it does the work.  (Stored, every retry would replay
	 * drop_in_progress for ever.)
	 */
	if (err == ERR_DROP_IN_PROGRESS) {
		return db_run(h, "DELETE FROM idem WHERE account = ? AND tx = ?",
		    "ll", account, tx);
	}
	res = cJSON_CreateObject();
	cJSON_AddStringToObject(res, "error", proto_err_code(err));
	cJSON_AddStringToObject(res, "message", message);
	rc = drop_store_reply(h, account, tx, res);
	cJSON_Delete(res);
	return rc;
}

int
db_drop_release(struct db *db, int64_t tx, int err, const char *message,
    cJSON *reply, int *captured)
{
	cJSON *res = cJSON_CreateObject();
	sqlite3 *h;
	int rc;

	*captured = 0;
	if ((h = db_write_begin(db)) == NULL) {
		cJSON_Delete(res);
		return ERR_INTERNAL;
	}
	if (drop_settled(h, tx, "completed", res)) {
		*captured = 1;
		rc = ERR_NONE;
	} else {
		rc = drop_release(h, tx, err, message) == 0 ? ERR_NONE :
		    ERR_INTERNAL;
	}
	rc = db_write_end(db, rc);
	if (rc == ERR_NONE && *captured) {
		ledger_json_move(reply, res);
	}
	*captured = rc == ERR_NONE && *captured;
	cJSON_Delete(res);
	return rc;
}

/* A machine's "ok", for drop_vended (queued by db_drop_vended). */
struct drop_vended_args {
	int64_t tx;
	char *machine;
	int slot;
	int64_t stock;
	cJSON *res;		/* the capture's result */
	int captured;		/* drop_capture's answer */
};

static int
drop_vended(sqlite3 *h, void *arg)
{
	struct drop_vended_args *a = arg;

	/*
	 * A drop released meanwhile stays released, and one captured before
	 * is not captured again; the stock moves all the same (this is the
	 * one write of the machine's "ok"), so not in drop_capture.
	 */
	if ((a->captured = drop_capture(h, a->tx, -2, a->res)) >= 0 &&
	    (a->stock == -2 || machine_vended(h, a->machine, a->slot,
	    a->stock) == 0)) {
		return ERR_NONE;
	}
	return ERR_INTERNAL;
}

static void
drop_vended_free(struct drop_vended_args *a)
{
	cJSON_Delete(a->res);
	free(a->machine);
	free(a);
}

int
db_drop_vended(struct db *db, int64_t tx, const char *machine, int slot,
    int64_t stock, struct db_ticket **later)
{
	struct drop_vended_args *a = xcalloc(1, sizeof(*a));
	int rc;

	a->tx = tx;
	a->machine = xstrdup(machine);
	a->slot = slot;
	a->stock = stock;
	a->res = cJSON_CreateObject();
	a->captured = -1;
	if ((rc = db_write_queue(db, drop_vended, a, later)) != ERR_NONE) {
		drop_vended_free(a);
	}
	return rc;
}

int
db_drop_vended_wait(struct db *db, struct db_ticket *later, cJSON *reply,
    int *captured)
{
	struct drop_vended_args *a = db_ticket_arg(later);
	int rc = db_ticket_wait(db, later);

	*captured = rc == ERR_NONE && a->captured == 0;
	if (*captured) {
		ledger_json_move(reply, a->res);
	}
	drop_vended_free(a);
	return rc;
}

/*
 * Whether tx's slot holds count (inside an open write): 1, 0, or -1 on
 * error.
 */
static int
drop_slot_holds(sqlite3 *h, int64_t tx, int64_t count)
{
	sqlite3_stmt *st;
	int r;

	st = db_prep(h, "SELECT s.stock = ? FROM tx t JOIN slots s"
	    " ON s.machine = t.machine AND s.slot = t.slot WHERE t.id = ?",
	    "ll", count, tx);
	if (st == NULL || (r = db_step(st)) < 0) {
		sqlite3_finalize(st);
		return -1;
	}
	r = r == 1 && sqlite3_column_int(st, 0) == 1;
	sqlite3_finalize(st);
	return r;
}

/*
 * Settle one drop a previous run left pending, as its machine answered if
 * the answer was recorded (answer.c), else as never answered.  A sensed
 * count stored after the "ok" (the file says which; whether the database
 * kept it, the slot tells) stands: the capture leaves the slot alone.
 */
static int
drop_recover(struct db *db, sqlite3 *h, int64_t tx)
{
	int64_t stock, sensed;
	cJSON *res;
	int outcome, rc, holds;

	if (!db_answer_get(db, tx, &outcome, &stock, &sensed)) {
		log_warn("drop tx %lld was pending when the previous drinkd "
		    "stopped, and its machine had not answered: the hold is "
		    "returned and the member not charged", (long long)tx);
		return drop_release(h, tx, ERR_DROP_FAILED, "the server "
		    "restarted before the machine answered; nothing charged");
	}
	if (outcome != ERR_NONE) {
		log_warn("drop tx %lld was pending when the previous drinkd "
		    "stopped; its machine had refused the vend: the hold is "
		    "returned", (long long)tx);
		return drop_release(h, tx, outcome, "the machine did not vend; "
		    "nothing charged");
	}
	log_warn("drop tx %lld was pending when the previous drinkd stopped, "
	    "but its machine had vended: the drop is captured now",
	    (long long)tx);
	if (sensed >= 0 && stock != -2) {
		if ((holds = drop_slot_holds(h, tx, sensed)) < 0) {
			return -1;
		}
		if (holds) {
			stock = -2;
		}
	}
	res = cJSON_CreateObject();
	rc = drop_capture(h, tx, stock, res);
	cJSON_Delete(res);
	return rc == 0 || rc == 1 ? 0 : -1;
}

int
db_drop_release_pending(struct db *db, int *count)
{
	sqlite3_stmt *st;
	sqlite3 *h;
	int64_t *ids = NULL;
	size_t n = 0, cap = 0, i;
	int rc = ERR_INTERNAL, r;

	*count = 0;
	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	st = db_prep(h, "SELECT id FROM tx WHERE kind = 'drop'"
	    " AND state = 'pending' ORDER BY id", "");
	while (st != NULL && (r = db_step(st)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			ids = xreallocarray(ids, cap, sizeof(*ids));
		}
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (st == NULL || r < 0) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (drop_recover(db, h, ids[i]) != 0) {
			goto out;
		}
	}
	*count = (int)n;
	rc = ERR_NONE;
out:
	free(ids);
	rc = db_write_end(db, rc);
	/* Every pending drop is settled: their answers are spent. */
	if (rc == ERR_NONE && db_answer_reset(db) != 0) {
		log_warn("could not empty the answers file of %s", db->path);
	}
	return rc;
}

int
db_drop_pending(struct db *db, const char *user)
{
	sqlite3 *h = db_read_begin(db);
	sqlite3_stmt *st;
	int r;

	st = db_prep(h, "SELECT EXISTS (SELECT 1 FROM tx t JOIN users u"
	    " ON u.account = t.account WHERE u.name = ? AND t.kind = 'drop'"
	    " AND t.state = 'pending')", "t", user);
	r = st != NULL && db_step(st) == 1 ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	db_read_end(db, h);
	return r;
}
