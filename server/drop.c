/*
 * The drop, in the order it happens (docs/protocol.md section 10):
 *
 *   1. hold     one database transaction checks the slot, the machine and
 *               the member's credit and moves the price member -> @holds
 *               (tx 'pending');
 *   2. queue    the vend joins its machine's FIFO in the registry (vend.c);
 *   3. vend     the machine's transport thread sends it and reports the
 *               answer here (drop_answer), with sensed stock (drop_sensed);
 *   4. settle   capture (@holds -> @sales) on "ok", release (@holds ->
 *               member) on anything else, retried while the database
 *               refuses, and only then the member's in-flight slot is
 *               freed;
 *   5. recover  at startup, before listening, holds a previous run left
 *               pending are released.
 *
 * Stock follows the machine (PROTOCOL.md section 7): an "ok" lowers the
 * slot's stock by one unless the machine reported a sensed count for that
 * slot since the vend was sent (or put one in the answer), in which case
 * the sensed count stands.  The stock change is made on the machine's own
 * thread, in the order the machine's messages arrived, before the member
 * is woken; the money is settled on the member's thread.
 *
 * The drop belongs to the server, not to the member's connection: nothing
 * here looks at it, so a member who disconnects mid-drop changes nothing.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drinkd.h"

#define DROP_PUMP_MS 100	/* a waiting drop writes its events so often */

#define DROP_SETTLE_TRIES 6	/* 0.1 s doubling: about 6 s in all */

/*
 * Capture (outcome ERR_NONE) or release a held drop.  The machine has
 * already acted, so a database error here is retried for a while rather
 * than left to the next start, which can only release.
 */
static int
drop_settle(struct server *srv, int64_t tx, int outcome, const char *message,
    cJSON *reply, int *tries)
{
	useconds_t pause = 100 * 1000;
	int rc = ERR_INTERNAL;

	for (*tries = 0; *tries < DROP_SETTLE_TRIES && rc != ERR_NONE;
	    (*tries)++) {
		if (*tries > 0) {
			log_warn("drop tx %lld: recording the %s failed; "
			    "retrying", (long long)tx,
			    outcome == ERR_NONE ? "capture" : "release");
			usleep(pause);
			pause *= 2;
		}
		rc = outcome == ERR_NONE ?
		    db_drop_capture(srv->db, tx, reply) :
		    db_drop_release(srv->db, tx, outcome, message);
	}
	return rc;
}

/* Steps 1 to 4 for one member's request. */
int
drop_run(struct server *srv, struct drop_req *rq, cJSON *reply)
{
	struct db_drop d = { 0 };
	struct vend v = { 0 };
	int rc, tries;

	d.user = rq->user;
	d.machine = rq->machine;
	d.slot = rq->slot;
	d.key = rq->key;
	d.request = rq->request;
	rq->message[0] = '\0';

	/* 1. Hold. */
	rc = db_drop_hold(srv->db, &d, vend_online(srv->vends, d.machine),
	    reply);
	if (rc != ERR_NONE || d.replayed) {
		rq->balance = d.balance;
		snprintf(rq->message, sizeof(rq->message), "%s", d.message);
		return rc;
	}
	log_info("drop tx %lld: %s, %s slot %d (%s, %lld): price held",
	    (long long)d.tx, d.user, d.machine, d.slot, d.item,
	    (long long)d.price);
	event_drop(d.tx, d.user, d.machine, d.slot, "queued", NULL);

	/* 2 and 3. Queue, and wait for the machine or the deadline. */
	v.tx = d.tx;
	v.slot = d.slot;
	v.delay = rq->delay;
	v.timeout_ms = (srv->cfg->vend_timeout + rq->delay) * 1000;
	snprintf(v.user, sizeof(v.user), "%s", d.user);
	if ((rc = vend_submit(srv->vends, &v, d.machine)) == ERR_NONE) {
		/*
		 * In slices, so the member's session writes the events it is
		 * sent meanwhile (this drop's "queued" and "vending").
		 */
		while (!vend_wait_for(srv->vends, &v, DROP_PUMP_MS)) {
			session_pump();
		}
		rc = v.result;
	}
	snprintf(rq->message, sizeof(rq->message), "%s", v.message);

	/* 4. Settle, then free the member's in-flight slot. */
	if (drop_settle(srv, d.tx, rc, rq->message, reply, &tries) !=
	    ERR_NONE) {
		if (rc == ERR_NONE) {
			log_err("drop tx %lld: the machine VENDED but the "
			    "capture could not be recorded (%d tries): the "
			    "price stays held in @holds and the next start "
			    "of drinkd returns it to %s, who then got the "
			    "item free: check the database", (long long)d.tx,
			    tries, d.user);
		} else {
			log_err("drop tx %lld: nothing vended (%s) but the "
			    "release could not be recorded (%d tries): the "
			    "price stays held in @holds until the next start "
			    "of drinkd returns it to %s: check the database",
			    (long long)d.tx, proto_err_code(rc), tries,
			    d.user);
		}
		rc = ERR_INTERNAL;
		rq->message[0] = '\0';
		event_drop(d.tx, NULL, NULL, 0, "failed", proto_err_code(rc));
	} else if (rc == ERR_NONE) {
		event_drop(d.tx, NULL, NULL, 0, "completed", NULL);
		log_info("drop tx %lld: completed", (long long)d.tx);
	} else {
		log_info("drop tx %lld: failed, hold released (%s: %s)",
		    (long long)d.tx, proto_err_code(rc), rq->message);
		event_drop(d.tx, NULL, NULL, 0, "failed", proto_err_code(rc));
	}
	if (v.state != VEND_STATE_NEW) {
		vend_finish(srv->vends, &v);
	}
	return rc;
}

/*
 * Step 3, the machine's side: its answer to vend id.  Stock first (so the
 * member's reply already sees it), then the member is woken.
 */
void
drop_answer(struct server *srv, struct mach *m, const char *id, int ok,
    int64_t stock, const char *why)
{
	const char *name = vend_mach_name(m);
	struct vend_abandoned info;
	enum vend_match match;

	match = vend_match(srv->vends, m, id, &info);
	if (match == VEND_MATCH_NONE) {
		log_warn("machine %s: answer for unknown vend %.40s ignored",
		    name, id);
		return;
	}
	if (ok && (stock >= 0 || !info.sensed)) {
		if (db_machine_vended(srv->db, name, info.slot, stock) !=
		    ERR_NONE) {
			log_warn("machine %s: could not record the stock of "
			    "slot %d after vend %s", name, info.slot, id);
		}
		event_slots(srv, name, NULL, info.slot);
	}
	match = vend_complete(srv->vends, m, id, ok ? ERR_NONE :
	    ERR_DROP_FAILED, why);
	if (match == VEND_MATCH_LATE && ok) {
		log_warn("machine %s: vended after timeout, not charged: slot "
		    "%d, tx %lld", name, info.slot, (long long)info.tx);
	} else if (match == VEND_MATCH_LATE) {
		log_warn("machine %s: answered vend %s (slot %d, tx %lld) "
		    "after its drop timed out: %s", name, id, info.slot,
		    (long long)info.tx, why);
	}
}

/* Sensed stock: it stands over any capture of a vend already sent. */
int
drop_sensed(struct server *srv, struct mach *m, const cJSON *slots)
{
	const cJSON *e, *slot;
	cJSON *before;

	if (!cJSON_IsArray(slots)) {
		return -1;
	}
	before = event_slots_before(srv, vend_mach_name(m));
	if (db_machine_stock(srv->db, vend_mach_name(m), slots) != ERR_NONE) {
		cJSON_Delete(before);
		return -1;
	}
	event_slots(srv, vend_mach_name(m), before, 0);
	/* Answers are handled on this same thread, so the order holds. */
	cJSON_ArrayForEach(e, slots) {
		slot = cJSON_GetObjectItemCaseSensitive(e, "slot");
		vend_sensed(srv->vends, m, (int)slot->valuedouble);
	}
	return 0;
}

/*
 * Step 5.  Only one drinkd runs on a database (main.c holds its lock), so
 * a pending drop here was left by a previous run that stopped before the
 * machine's answer was settled: its outcome at the machine is unknown, and
 * the member is not charged.
 */
int
drop_recover(struct server *srv)
{
	int released;

	if (db_drop_release_pending(srv->db, &released) != ERR_NONE) {
		log_err("cannot release the drops a previous run left pending; "
		    "refusing to start");
		return -1;
	}
	if (released > 0) {
		log_warn("released %d drop hold(s) left pending when the "
		    "previous drinkd stopped; their members were not charged",
		    released);
	}
	return 0;
}
