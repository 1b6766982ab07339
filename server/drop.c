/*
 * The drop, in the order it happens (docs/protocol.md section 10):
 *
 *   1. hold     one database transaction checks the slot, the machine and
 *               the member's credit and moves the price member -> @holds
 *               (tx 'pending');
 *   2. queue    the vend joins its machine's FIFO in the registry (vend.c);
 *   3. vend     the machine's transport thread sends it and reports the
 *               answer here (drop_answer), with sensed stock (drop_sensed);
 *   4. settle   capture (@holds -> @sales) on "ok", queued by the
 *               machine's thread with the stock in one write, after the
 *               machine's next vend went out (the machine is freed by
 *               the "ok" itself); the member's thread makes that write
 *               (unless the thread holding the writer connection did)
 *               and waits until it is durable, so the machine's thread
 *               goes on to its next answer at once; release
 *               (@holds -> member) on
 *               anything else, by the member's thread.  What the
 *               database refuses is retried, first while the member
 *               waits, then by the settler thread until it is recorded;
 *               only then is the member's in-flight slot freed;
 *   5. recover  at startup, before accepting anyone, drops a previous run
 *               left pending are settled: captured when the machine's
 *               "ok" was recorded in the answers file (db/answer.c),
 *               released otherwise.
 *
 * Stock follows the machine (PROTOCOL.md section 7): an "ok" lowers the
 * slot's stock by one unless the machine reported a sensed count for that
 * slot since the vend was sent (or put one in the answer), in which case
 * the sensed count stands.  The stock change is written, or for an "ok"
 * queued, on the machine's own thread, in the order the machine's
 * messages arrived, before the member is woken; queued writes are made in
 * their order, ahead of any write begun after them (db_writer_acquire).
 * A capture is always written with its stock change: when the write of
 * an "ok" is lost, the capture's retry (or the restart's, from the
 * answers file) carries it, and sets it only if it captures the drop.
 * A sensed count stored after the "ok" is newer than that change: the
 * retry then leaves the stock alone (struct drop_owed), and so does the
 * restart's, also when the count's write may or may not have been kept
 * (its sync failed) and the slot holds it (drop_owed_sensed).
 * Whichever of capture and release is recorded first stands:
 * the other finds the drop settled (an "ok" crossing a timeout).
 *
 * The drop belongs to the server, not to the member's connection: nothing
 * here looks at it, so a member who disconnects mid-drop changes nothing.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "drinkd.h"

#define DROP_PUMP_MS 100	/* a waiting drop writes its events so often */

#define DROP_SETTLE_TRIES 6	/* 0.1 s doubling: about 6 s in all */
#define DROP_BACKLOG_MAX_MS 5000 /* the settler's longest pause */

/*
 * A settlement the database refused while the member waited: the settler
 * thread retries it, with backoff, until it is recorded.
 */
struct drop_item {
	int64_t tx;
	int outcome;		/* ERR_NONE: capture; else release with it */
	int64_t stock;		/* a capture's stock (db_drop_capture) */
	char machine[PROTO_NAME_MAX + 1]; /* the drop's slot, for its event */
	int slot;
	char message[160];
	struct vend *v;		/* finished once recorded (if submitted) */
	int64_t since;
	struct drop_item *next;
};

/*
 * A capture whose machine's "ok" is being written (drop_owed_begin, on
 * the machine's thread before the write is queued), and owed once that
 * write was lost (drop_vended_lost), until the drop is settled: the
 * stock the capture sets, made -2 by a sensed count for its slot stored
 * since (drop_sensed), which is newer.  It is in place before the write
 * can fail, so a count stored between the failure and the member's
 * thread hearing of it is not missed.  Once lost, the answers file holds
 * the same stock, for a restart, and is kept in step with it (and says
 * when a sensed count is being stored).  A drop whose "ok" was recorded
 * owes nothing: its stock was set with its capture.
 */
struct drop_owed {
	int64_t tx;
	char machine[PROTO_NAME_MAX + 1];
	int slot;
	int64_t stock;
	int64_t sensing;	/* a count being stored for slot, or -1 */
	int lost;		/* the write of the "ok" failed */
	struct drop_owed *next;
};

struct drop_backlog {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* an item arrived, or stop */
	struct drop_item *head, *tail;	/* guarded by lock */
	struct drop_owed *owed;		/* guarded by lock */
	int count;			/* items; guarded by lock */
	int stop;			/* guarded by lock */
	pthread_t thread;
};

/* tx's capture is settled: it is owed no more.  b->lock is held. */
static void
drop_owed_done_locked(struct drop_backlog *b, int64_t tx)
{
	struct drop_owed **op, *o;

	for (op = &b->owed; (o = *op) != NULL; op = &o->next) {
		if (o->tx == tx) {
			*op = o->next;
			free(o);
			break;
		}
	}
}

static void
drop_owed_done(struct server *srv, int64_t tx)
{
	struct drop_backlog *b = srv->backlog;

	if (b == NULL) {
		return;
	}
	pthread_mutex_lock(&b->lock);
	drop_owed_done_locked(b, tx);
	pthread_mutex_unlock(&b->lock);
}

/* The stock tx's owed capture sets now; stock if none is owed. */
static int64_t
drop_owed_stock(struct server *srv, int64_t tx, int64_t stock)
{
	struct drop_backlog *b = srv->backlog;
	struct drop_owed *o;

	if (b == NULL) {
		return stock;
	}
	pthread_mutex_lock(&b->lock);
	for (o = b->owed; o != NULL; o = o->next) {
		if (o->tx == tx) {
			stock = o->stock;
			break;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return stock;
}

/* Where a sensed count for a slot stands with the captures owed for it. */
enum drop_sense {
	DROP_SENSE_STORING,	/* being stored, or lost to a failed sync */
	DROP_SENSE_STORED,	/* stored: it stands over them */
	DROP_SENSE_LOST,	/* not stored: they set their stock */
};

/*
 * A sensed count for the slot is being stored, was, or was not: the
 * captures owed or being written for it, and for those owed the answers
 * file for a restart, are told.  While it is being stored (and after a
 * failed sync, which stops writes until a restart, with the count on
 * disk or not) the file says so, and the restart leaves the slot alone
 * if it holds the count.  Stored, the captures leave it alone.  (The
 * answers file is written under the lock, so that it never goes back to
 * an older stock: drop_vended_lost.)
 */
static void
drop_owed_sensed(struct server *srv, const char *machine, int slot,
    int64_t count, enum drop_sense how)
{
	struct drop_backlog *b = srv->backlog;
	struct drop_owed *o;

	if (b == NULL) {
		return;
	}
	pthread_mutex_lock(&b->lock);
	for (o = b->owed; o != NULL; o = o->next) {
		if (o->slot != slot || o->stock == -2 ||
		    strcmp(o->machine, machine) != 0) {
			continue;
		}
		switch (how) {
		case DROP_SENSE_STORING:
			o->sensing = count;
			break;
		case DROP_SENSE_STORED:
			o->stock = -2;
			o->sensing = -1;
			break;
		case DROP_SENSE_LOST:
			o->sensing = -1;
			break;
		}
		if (o->lost) {
			(void)db_answer_put(srv->db, o->tx, ERR_NONE, o->stock,
			    o->sensing);
		}
	}
	pthread_mutex_unlock(&b->lock);
}

/* drop_owed_sensed for each well-formed count of a slots event. */
static void
drop_owed_sensed_all(struct server *srv, const char *machine,
    const cJSON *slots, enum drop_sense how)
{
	const cJSON *e;
	int64_t stock;
	int slot;

	cJSON_ArrayForEach(e, slots) {
		if (db_stock_count(e, &slot, &stock)) {
			drop_owed_sensed(srv, machine, slot, stock, how);
		}
	}
}

/*
 * One attempt to record a settlement; a capture sets the slot's stock
 * with it (-2: leaves it alone).  A release finds the drop captured
 * instead (*captured) when the machine's "ok" was recorded on its thread
 * just as a timeout or a disconnect failed the vend.  A capture that
 * finds the drop released is recorded too (*captured 0): the drop stands
 * released, so a retry would change nothing.
 */
static int
drop_record(struct server *srv, int64_t tx, int outcome, int64_t stock,
    const char *message, cJSON *reply, int *captured)
{
	int rc;

	if (outcome != ERR_NONE) {
		return db_drop_release(srv->db, tx, outcome, message, reply,
		    captured);
	}
	stock = drop_owed_stock(srv, tx, stock);
	rc = db_drop_capture(srv->db, tx, stock, reply, captured);
	if (rc == ERR_NONE && !*captured) {
		log_err("drop tx %lld: the machine vended, but the drop had "
		    "already been released: it stays released and its member "
		    "was not charged", (long long)tx);
	}
	return rc;
}

/*
 * The error a settled drop failed with: its own, or for a capture that
 * found it released, drop_failed.
 */
static int
drop_failed_with(int outcome)
{
	return outcome != ERR_NONE ? outcome : ERR_DROP_FAILED;
}

/*
 * Capture (outcome ERR_NONE) or release a held drop while the member
 * waits.  The machine has already acted, so a database error is retried
 * for a while (not once writes are stopped until a restart); after that
 * the settler thread takes over.
 */
static int
drop_settle(struct server *srv, int64_t tx, int outcome, int64_t stock,
    const char *message, cJSON *reply, int *captured)
{
	useconds_t pause = 100 * 1000;
	int rc = ERR_INTERNAL, tries;

	for (tries = 0; tries < DROP_SETTLE_TRIES && rc != ERR_NONE;
	    tries++) {
		if (tries > 0) {
			if (db_writes_stopped(srv->db)) {
				break;
			}
			usleep(pause);
			pause *= 2;
		}
		rc = drop_record(srv, tx, outcome, stock, message, reply,
		    captured);
	}
	return rc;
}

/* Free the member's in-flight slot and the vend. */
static void
drop_finish(struct server *srv, struct vend *v)
{
	if (v->state != VEND_STATE_NEW) {
		vend_finish(srv->vends, v);
	}
	free(v);
}

/* Hand a settlement to the settler thread. */
static void
drop_defer(struct server *srv, struct vend *v, const struct db_drop *d,
    int outcome, int64_t stock, const char *message)
{
	struct drop_backlog *b = srv->backlog;
	struct drop_item *it = xcalloc(1, sizeof(*it));

	it->tx = d->tx;
	it->outcome = outcome;
	it->stock = stock;
	snprintf(it->machine, sizeof(it->machine), "%s", d->machine);
	it->slot = d->slot;
	snprintf(it->message, sizeof(it->message), "%s", message);
	it->v = v;
	it->since = now_ms();
	pthread_mutex_lock(&b->lock);
	if (b->tail != NULL) {
		b->tail->next = it;
	} else {
		b->head = it;
	}
	b->tail = it;
	b->count++;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/*
 * The settler: records deferred settlements in order, pausing 0.1 s
 * doubling to 5 s while the database still refuses.  Once one is
 * recorded its user may drop again, and a keyed retry returns it.
 */
static void *
drop_settler_main(void *arg)
{
	struct server *srv = arg;
	struct drop_backlog *b = srv->backlog;
	int64_t pause = 100, deadline;
	struct drop_item *it;
	struct timespec ts;
	cJSON *scratch;
	int rc, captured;

	db_set_op("settling a drop");
	pthread_mutex_lock(&b->lock);
	for (;;) {
		while (!b->stop && b->head == NULL) {
			pthread_cond_wait(&b->cond, &b->lock);
		}
		if (b->stop || b->head == NULL) {
			break;
		}
		it = b->head;
		pthread_mutex_unlock(&b->lock);
		scratch = cJSON_CreateObject();
		rc = drop_record(srv, it->tx, it->outcome, it->stock,
		    it->message, scratch, &captured);
		cJSON_Delete(scratch);
		pthread_mutex_lock(&b->lock);
		if (rc == ERR_NONE) {
			if ((b->head = it->next) == NULL) {
				b->tail = NULL;
			}
			b->count--;
			log_warn("drop tx %lld: %s recorded after %lld s, in the "
			    "background", (long long)it->tx,
			    captured ? "capture" : it->outcome == ERR_NONE ?
			    "release (found before the capture)" : "release",
			    (long long)((now_ms() - it->since) / 1000));
			event_drop(it->tx, NULL, NULL, 0, captured ?
			    "completed" : "failed", captured ? NULL :
			    proto_err_code(drop_failed_with(it->outcome)));
			/* A capture set the slot's stock too. */
			if (captured && it->outcome == ERR_NONE) {
				event_slots(srv, it->machine, NULL, it->slot);
			}
			drop_owed_done_locked(b, it->tx);
			drop_finish(srv, it->v);
			free(it);
			pause = 100;
			continue;
		}
		deadline = now_ms() + pause;
		ts.tv_sec = deadline / 1000;
		ts.tv_nsec = (deadline % 1000) * 1000000;
		(void)pthread_cond_timedwait(&b->cond, &b->lock, &ts);
		pause = pause * 2 > DROP_BACKLOG_MAX_MS ? DROP_BACKLOG_MAX_MS :
		    pause * 2;
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int
drop_start(struct server *srv)
{
	struct drop_backlog *b = xcalloc(1, sizeof(*b));
	pthread_condattr_t ca;

	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cond, &ca);
	pthread_condattr_destroy(&ca);
	srv->backlog = b;
	if (pthread_create(&b->thread, NULL, drop_settler_main, srv) != 0) {
		srv->backlog = NULL;
		free(b);
		return -1;
	}
	return 0;
}

int
drop_deferred(struct server *srv)
{
	struct drop_backlog *b = srv->backlog;
	int n;

	if (b == NULL) {
		return 0;
	}
	pthread_mutex_lock(&b->lock);
	n = b->count;
	pthread_mutex_unlock(&b->lock);
	return n;
}

/* At exit: what is still unrecorded is settled by the next start. */
void
drop_stop(struct server *srv)
{
	struct drop_backlog *b = srv->backlog;
	struct drop_owed *o;
	struct drop_item *it;

	if (b == NULL) {
		return;
	}
	pthread_mutex_lock(&b->lock);
	b->stop = 1;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	while ((o = b->owed) != NULL) {
		b->owed = o->next;
		free(o);
	}
	while ((it = b->head) != NULL) {
		b->head = it->next;
		log_err("drop tx %lld: still not recorded at exit; the next "
		    "start settles it as the machine answered",
		    (long long)it->tx);
		drop_finish(srv, it->v);
		free(it);
	}
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b);
	srv->backlog = NULL;
}

/* Record the stock an "ok" left outside a capture; a failure is logged. */
static void
drop_stock(struct server *srv, const char *name, int slot, int64_t stock,
    const char *id)
{
	if (stock != -2 && db_machine_vended(srv->db, name, slot, stock) !=
	    ERR_NONE) {
		log_warn("machine %s: could not record the stock of slot %d "
		    "after vend %s", name, slot, id);
	}
}

/* The capture of tx's "ok" (b->lock held): NULL when none is owed. */
static struct drop_owed *
drop_owed_find_locked(struct drop_backlog *b, int64_t tx)
{
	struct drop_owed *o;

	for (o = b->owed; o != NULL && o->tx != tx; o = o->next) {
		;
	}
	return o;
}

/*
 * The machine's thread is about to queue the write of tx's "ok", which
 * sets stock: until the drop is settled, a sensed count for the slot
 * stored meanwhile is recorded against it (drop_owed_sensed), whenever
 * the member's thread learns that the write was lost.
 */
static void
drop_owed_begin(struct server *srv, int64_t tx, const char *machine,
    int slot, int64_t stock)
{
	struct drop_backlog *b = srv->backlog;
	struct drop_owed *o;

	if (b == NULL) {
		return;
	}
	pthread_mutex_lock(&b->lock);
	ASSERT(drop_owed_find_locked(b, tx) == NULL);
	o = xcalloc(1, sizeof(*o));
	o->tx = tx;
	snprintf(o->machine, sizeof(o->machine), "%s", machine);
	o->slot = slot;
	o->stock = stock;
	o->sensing = -1;
	o->next = b->owed;
	b->owed = o;
	pthread_mutex_unlock(&b->lock);
}

/*
 * The write of an "ok" failed: the answer and the stock its capture sets
 * go to the answers file (a restart captures the drop with them), and
 * the capture is owed (struct drop_owed).  The stock is not written on
 * its own: the capture's retry sets it, in the capture's own write, and
 * only if that capture is made then (the write reported lost may have
 * been kept, stock and all).  It is the owed stock, which a sensed count
 * stored since the write was queued may have made -2.
 */
static void
drop_vended_lost(struct server *srv, int64_t tx, int64_t stock)
{
	struct drop_backlog *b = srv->backlog;
	struct drop_owed *o;

	if (b == NULL) {
		(void)db_answer_put(srv->db, tx, ERR_NONE, stock, -1);
		return;
	}
	pthread_mutex_lock(&b->lock);
	o = drop_owed_find_locked(b, tx);
	ASSERT(o != NULL);
	o->lost = 1;
	(void)db_answer_put(srv->db, tx, ERR_NONE, o->stock, o->sensing);
	pthread_mutex_unlock(&b->lock);
}

/*
 * The member's side of step 4 for an "ok": wait until the write the
 * machine's thread queued is durable: 1 when it captured the drop (its
 * result added to reply).  If its batch was lost, the vend is made
 * durable another way; then, or when the write was refused (no ticket:
 * the machine's thread did the same), 0: drop_settle captures it, with
 * its retries, and the stock with it.
 */
static int
drop_captured(struct server *srv, const struct db_drop *d, struct vend *v,
    cJSON *reply)
{
	int captured = 0;

	if (v->capture != NULL) {
		if (db_drop_vended_wait(srv->db, v->capture, reply,
		    &captured) != ERR_NONE) {
			drop_vended_lost(srv, d->tx, v->ok_stock);
		} else {
			/* Recorded, stock and all: nothing is owed. */
			drop_owed_done(srv, d->tx);
		}
	}
	v->capture = NULL;
	event_slots(srv, d->machine, NULL, d->slot);
	return captured;
}

/* Steps 1 to 4 for one member's request. */
int
drop_run(struct server *srv, struct drop_req *rq, cJSON *reply)
{
	struct db_drop d = { 0 };
	struct vend *v;
	int rc, captured = 0;

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
	log_debug("drop tx %lld: %s, %s slot %d (%s, %lld): price held",
	    (long long)d.tx, d.user, d.machine, d.slot, d.item,
	    (long long)d.price);
	event_drop(d.tx, d.user, d.machine, d.slot, "queued", NULL);

	/*
	 * 2 and 3. Queue, and wait for the machine or the deadline.  The
	 * vend lives on the heap: if its settlement has to be deferred, it
	 * keeps the user's drop in flight after this thread has answered.
	 */
	v = xcalloc(1, sizeof(*v));
	v->tx = d.tx;
	v->slot = d.slot;
	v->delay = rq->delay;
	v->timeout_ms = (int64_t)srv->cfg->vend_timeout * 1000;
	v->ok_stock = -2;	/* until an "ok" says (drop_vended) */
	snprintf(v->user, sizeof(v->user), "%s", d.user);
	if ((rc = vend_submit(srv->vends, v, d.machine)) == ERR_NONE) {
		/*
		 * In slices, so the member's session writes the events it is
		 * sent meanwhile (this drop's "queued" and "vending").
		 */
		while (!vend_wait_for(srv->vends, v, DROP_PUMP_MS)) {
			session_pump();
		}
		rc = v->result;
	}
	/*
	 * Also when the machine answered within the first slice, or the
	 * vend was refused at once: "queued" (and "vending") go out before
	 * the reply.
	 */
	session_pump();
	snprintf(rq->message, sizeof(rq->message), "%s", v->message);

	/*
	 * 4. Settle; the member's in-flight slot is freed once recorded.
	 * Usually by the write the machine's thread queued for the "ok".
	 */
	if (rc == ERR_NONE && drop_captured(srv, &d, v, reply)) {
		/* Recorded by the write the machine's thread queued. */
	} else if (drop_settle(srv, d.tx, rc, v->ok_stock, rq->message, reply,
	    &captured) != ERR_NONE) {
		log_err("drop tx %lld: the machine %s, but the database "
		    "refused to record the %s: retrying in the background "
		    "until it is recorded; %s is answered internal and "
		    "a keyed retry returns the outcome once recorded",
		    (long long)d.tx, rc == ERR_NONE ? "VENDED" :
		    "did not vend", rc == ERR_NONE ? "capture" : "release",
		    d.user);
		drop_defer(srv, v, &d, rc, v->ok_stock, rq->message);
		/* The machine acted: the outcome is unknown, not refused. */
		(void)db_take_refused();
		snprintf(rq->message, sizeof(rq->message), "the outcome of "
		    "drop tx %lld could not be recorded yet; retry with the "
		    "same key to learn it", (long long)d.tx);
		/* Still in flight: the settler tells how it ended. */
		return ERR_INTERNAL;
	} else if (!captured && rc == ERR_NONE) {
		/* Released before the capture (drop_record logged it). */
		rc = ERR_DROP_FAILED;
		snprintf(rq->message, sizeof(rq->message), "drop tx %lld was "
		    "released before its capture; nothing charged",
		    (long long)d.tx);
	} else if (captured && rc != ERR_NONE) {
		log_info("drop tx %lld: the machine's ok was recorded as the "
		    "drop was failing (%s): captured", (long long)d.tx,
		    proto_err_code(rc));
		rc = ERR_NONE;
		rq->message[0] = '\0';
	} else if (rc == ERR_NONE) {
		/* Captured apart from the "ok", which set the stock too. */
		event_slots(srv, d.machine, NULL, d.slot);
	}
	if (rc == ERR_NONE) {
		event_drop(d.tx, NULL, NULL, 0, "completed", NULL);
		log_info("drop tx %lld: %s, %s slot %d (%s, %lld): completed",
		    (long long)d.tx, d.user, d.machine, d.slot, d.item,
		    (long long)d.price);
	} else {
		log_info("drop tx %lld: %s, %s slot %d (%s, %lld): failed, "
		    "hold released (%s: %s)", (long long)d.tx, d.user,
		    d.machine, d.slot, d.item, (long long)d.price,
		    proto_err_code(rc), rq->message);
		event_drop(d.tx, NULL, NULL, 0, "failed", proto_err_code(rc));
	}
	drop_owed_done(srv, d.tx);
	drop_finish(srv, v);
	return rc;
}

/*
 * The stock an "ok" leaves: the count it carries (>= 0), else one less
 * (-1), or unchanged (-2) when a count was sensed since the vend went out
 * (that count stands).
 */
static int64_t
drop_ok_stock(int64_t stock, int sensed)
{
	return stock >= 0 || !sensed ? stock : -2;
}

/*
 * Step 4 for an "ok" at the machine: the stock and the capture in one
 * write, queued in the order of the machine's messages, then the member
 * is woken to wait until it is made and durable (drop_captured), while
 * this thread goes on to the machine's next message.  The machine was
 * freed when the "ok" was taken, so its next vend may already be out.
 */
void
drop_vended(struct server *srv, struct mach *m, struct drop_vended *p)
{
	struct db_ticket *later = NULL;

	if (p->v == NULL) {
		return;
	}
	/* Before the write can fail: see struct drop_owed. */
	drop_owed_begin(srv, p->tx, vend_mach_name(m), p->slot, p->stock);
	if (db_drop_vended(srv->db, p->tx, vend_mach_name(m), p->slot,
	    p->stock, &later) != ERR_NONE) {
		drop_vended_lost(srv, p->tx, p->stock);
	}
	p->v->ok_stock = p->stock;
	vend_settle(srv->vends, p->v, ERR_NONE, later);
	memset(p, 0, sizeof(*p));
}

/*
 * Step 3, the machine's side: its answer to vend id.  An "ok" for the
 * vend in flight frees the machine and leaves its capture in *later, for
 * drop_vended once the machine's next vend is out (with later NULL, at
 * once).  Anything else: stock first (so the member's reply already sees
 * it), then the member is woken.
 */
void
drop_answer(struct server *srv, struct mach *m, const char *id, int ok,
    int64_t stock, const char *why, struct drop_vended *later)
{
	const char *name = vend_mach_name(m);
	struct vend_abandoned info;
	struct drop_vended now;
	enum vend_match match;
	struct vend *v;

	ASSERT(later == NULL || later->v == NULL);
	if (ok && (v = vend_take(srv->vends, m, id, &info)) != NULL) {
		if (later == NULL) {
			later = &now;
		}
		later->v = v;
		later->tx = info.tx;
		later->slot = info.slot;
		later->stock = drop_ok_stock(stock, info.sensed);
		snprintf(later->id, sizeof(later->id), "%s", id);
		if (later == &now) {
			drop_vended(srv, m, &now);
		}
		return;
	}
	match = vend_match(srv->vends, m, id, &info);
	if (match == VEND_MATCH_NONE) {
		log_warn("machine %s: answer for unknown vend %.40s ignored",
		    name, id);
		return;
	}
	/* A late "ok": the machine vended; its stock follows. */
	if (ok && drop_ok_stock(stock, info.sensed) != -2) {
		drop_stock(srv, name, info.slot, stock, id);
		event_slots(srv, name, NULL, info.slot);
	}
	match = vend_complete(srv->vends, m, id, ok ? ERR_NONE : ERR_DROP_FAILED,
	    why);
	if (match == VEND_MATCH_LATE && ok) {
		log_warn("machine %s: vended after timeout, not charged: slot "
		    "%d, tx %lld", name, info.slot, (long long)info.tx);
	} else if (match == VEND_MATCH_LATE) {
		log_warn("machine %s: answered vend %s (slot %d, tx %lld) "
		    "after its drop timed out: %s", name, id, info.slot,
		    (long long)info.tx, why);
	}
}

/*
 * Sensed stock: it stands over any capture of a vend already sent, and
 * over a capture owed since its "ok" was lost (drop_owed_sensed): one
 * the restart makes too, whether the count's write was kept or not.
 */
int
drop_sensed(struct server *srv, struct mach *m, const cJSON *slots)
{
	const char *name = vend_mach_name(m);
	const cJSON *e, *slot;
	cJSON *before;
	int stopped, rc;

	if (!cJSON_IsArray(slots)) {
		return ERR_BAD_REQUEST;
	}
	/* Writes stopped until a restart refuse it: nothing is stored. */
	if (!(stopped = db_writes_stopped(srv->db))) {
		drop_owed_sensed_all(srv, name, slots, DROP_SENSE_STORING);
	}
	before = event_slots_before(srv, name);
	if ((rc = db_machine_stock(srv->db, name, slots)) != ERR_NONE) {
		/* Unless its own sync failed: kept or not, the restart tells. */
		if (!stopped && !db_writes_stopped(srv->db)) {
			drop_owed_sensed_all(srv, name, slots,
			    DROP_SENSE_LOST);
		}
		cJSON_Delete(before);
		return rc;
	}
	event_slots(srv, name, before, 0);
	/* Answers are handled on this same thread, so the order holds. */
	cJSON_ArrayForEach(e, slots) {
		slot = cJSON_GetObjectItemCaseSensitive(e, "slot");
		vend_sensed(srv->vends, m, (int)slot->valuedouble);
	}
	drop_owed_sensed_all(srv, name, slots, DROP_SENSE_STORED);
	return ERR_NONE;
}

/*
 * Step 5.  Only one drinkd runs on a database (main.c holds its lock), so
 * a pending drop here was left by a previous run that stopped before its
 * settlement was recorded.  If the machine's "ok" reached the answers
 * file the drop is captured; otherwise it is released, uncharged.
 */
int
drop_recover(struct server *srv)
{
	int settled;

	if (db_answer_open(srv->db) != 0) {
		log_err("without the answers file a drop vended during a "
		    "storage fault and not yet recorded when drinkd stops "
		    "is released (given away) at the next start");
	}
	if (db_drop_release_pending(srv->db, &settled) != ERR_NONE) {
		log_err("cannot settle the drops a previous run left pending; "
		    "refusing to start");
		return -1;
	}
	if (settled > 0) {
		log_warn("settled %d drop(s) left pending when the previous "
		    "drinkd stopped", settled);
	}
	return 0;
}
