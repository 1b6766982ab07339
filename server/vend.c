/*
 * The vend queue and the machine registry: which machines are online, the
 * vends waiting for each, the one at the machine, and which users have a
 * drop in flight.  No I/O happens here and the clock is injected, so the
 * whole queue is unit-tested without sockets or sleeps (check_vend.c).
 *
 * Two kinds of thread use it:
 *
 * - a transport thread owns one machine's connection (machine.c for the
 *   JSON controller; any other dialect works the same way): it attaches a
 *   struct mach with callbacks to wake it and to hang it up, takes the
 *   next vend to send with vend_next, reports answers (vend_match then
 *   vend_complete; an "ok" in flight with vend_take, which frees the
 *   machine at once, then vend_settle once the capture is queued; both
 *   are called on that thread, which asks vend_next again before it
 *   waits, so neither wakes it) and
 *   sensed stock (vend_sensed), and detaches when its connection ends;
 * - a member thread (drop.c) submits a vend on its own stack, waits for
 *   its outcome, settles it in the database, and then finishes it.
 *
 * One mutex guards everything.  A vend is linked to its machine only while
 * queued or sent; a machine going offline completes those vends as failed
 * under the lock, so a waiting member never touches a freed machine.  A
 * vend stays in the registry's active list from submit to finish (after
 * its settlement committed): that list is what "one drop in flight per
 * user" and the shutdown drain count.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drinkd.h"

struct mach {
	char name[PROTO_NAME_MAX + 1];	/* immutable once attached */
	const struct vend_ops *ops;	/* immutable */
	void *arg;			/* immutable */
	/* Everything below is guarded by reg->lock. */
	enum mach_state state;
	enum mach_close closed_by;	/* who took it offline, for the log */
	struct vend *head, *tail;	/* VEND_STATE_QUEUED, in arrival order */
	struct vend *inflight;		/* the VEND_STATE_SENT one (VENDING) */
	struct vend_abandoned abandoned; /* MACH_STATE_ABANDONED: its vend */
	int64_t abandoned_until;	/* then the machine is freed anyway */
	int64_t pause_ms;		/* immutable once attached; 0: the
					 * registry's abandon_ms, ended early
					 * by the late answer */
	int hold_delay;			/* immutable once attached: delays
					 * are waited out here, not sent */
	struct mach *next;		/* reg->machines, while online */
};

/*
 * Legal moves.  A machine is online from IDLE to GONE; GONE is final.  A
 * vend goes NEW -> QUEUED -> (SENT ->) DONE -> FINISHED.
 */
static const unsigned char vend_mach_moves[MACH_STATE_COUNT]
    [MACH_STATE_COUNT] = {
	[MACH_STATE_NEW] = { [MACH_STATE_IDLE] = 1, [MACH_STATE_GONE] = 1 },
	[MACH_STATE_IDLE] = { [MACH_STATE_VENDING] = 1,
		[MACH_STATE_GONE] = 1 },
	[MACH_STATE_VENDING] = { [MACH_STATE_IDLE] = 1,
		[MACH_STATE_ABANDONED] = 1, [MACH_STATE_GONE] = 1 },
	[MACH_STATE_ABANDONED] = { [MACH_STATE_IDLE] = 1,
		[MACH_STATE_GONE] = 1 },
};

static const unsigned char vend_moves[VEND_STATE_COUNT][VEND_STATE_COUNT] = {
	[VEND_STATE_NEW] = { [VEND_STATE_QUEUED] = 1 },
	[VEND_STATE_QUEUED] = { [VEND_STATE_SENT] = 1, [VEND_STATE_DONE] = 1 },
	[VEND_STATE_SENT] = { [VEND_STATE_ANSWERED] = 1,
		[VEND_STATE_DONE] = 1 },
	[VEND_STATE_ANSWERED] = { [VEND_STATE_DONE] = 1 },
	[VEND_STATE_DONE] = { [VEND_STATE_FINISHED] = 1 },
};

static void
vend_lock(struct vend_reg *reg)
{
	pthread_mutex_lock(&reg->lock);
	__atomic_store_n(&reg->owner, pthread_self(), __ATOMIC_RELAXED);
	__atomic_store_n(&reg->locked, 1, __ATOMIC_RELAXED);
}

static void
vend_unlock(struct vend_reg *reg)
{
	ASSERT(vend_locked(reg));
	__atomic_store_n(&reg->locked, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg->lock);
}

/* 1 when the calling thread holds reg->lock. */
int
vend_locked(struct vend_reg *reg)
{
	return __atomic_load_n(&reg->locked, __ATOMIC_RELAXED) &&
	    pthread_equal(__atomic_load_n(&reg->owner, __ATOMIC_RELAXED),
	    pthread_self());
}

/*
 * Wait on cond (reg->cond, or a vend's own) until deadline (monotonic ms,
 * the clock of now_ms) or a wake-up; the lock is released meanwhile and
 * held again on return.
 */
static void
vend_sleep(struct vend_reg *reg, pthread_cond_t *cond, int64_t deadline)
{
	struct timespec ts;

	ASSERT(vend_locked(reg));
	ts.tv_sec = deadline / 1000;
	ts.tv_nsec = (deadline % 1000) * 1000000;
	__atomic_store_n(&reg->locked, 0, __ATOMIC_RELAXED);
	(void)pthread_cond_timedwait(cond, &reg->lock, &ts);
	__atomic_store_n(&reg->owner, pthread_self(), __ATOMIC_RELAXED);
	__atomic_store_n(&reg->locked, 1, __ATOMIC_RELAXED);
}

static void
vend_mach_move(struct vend_reg *reg, struct mach *m, enum mach_state to)
{
	ASSERT(vend_locked(reg));
	ASSERT(vend_mach_moves[m->state][to]);
	m->state = to;
}

static void
vend_move(struct vend_reg *reg, struct vend *v, enum vend_state to)
{
	ASSERT(vend_locked(reg));
	ASSERT(vend_moves[v->state][to]);
	v->state = to;
}

static int64_t
vend_now(struct vend_reg *reg)
{
	return reg->clock != NULL ? reg->clock(reg->clock_arg) : now_ms();
}

struct vend_reg *
vend_reg_new(int64_t abandon_ms, int64_t (*clock)(void *), void *clock_arg)
{
	struct vend_reg *reg = xcalloc(1, sizeof(*reg));
	pthread_condattr_t ca;

	pthread_mutex_init(&reg->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&reg->cond, &ca);
	pthread_condattr_destroy(&ca);
	reg->abandon_ms = abandon_ms;
	reg->clock = clock;
	reg->clock_arg = clock_arg;
	return reg;
}

void
vend_reg_free(struct vend_reg *reg)
{
	if (reg == NULL) {
		return;
	}
	ASSERT(reg->machines == NULL && reg->active == NULL);
	pthread_cond_destroy(&reg->cond);
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

struct mach *
vend_mach_new(const char *name, const struct vend_ops *ops, void *arg)
{
	struct mach *m = xcalloc(1, sizeof(*m));

	snprintf(m->name, sizeof(m->name), "%s", name);
	m->ops = ops;
	m->arg = arg;
	m->state = MACH_STATE_NEW;
	return m;
}

void
vend_mach_pause(struct mach *m, int64_t ms)
{
	ASSERT(m->state == MACH_STATE_NEW && ms > 0);
	m->pause_ms = ms;
}

void
vend_mach_hold_delay(struct mach *m)
{
	ASSERT(m->state == MACH_STATE_NEW);
	m->hold_delay = 1;
}

void
vend_mach_free(struct mach *m)
{
	if (m == NULL) {
		return;
	}
	/* Never free a machine that vends can still reach. */
	ASSERT(m->state == MACH_STATE_NEW || m->state == MACH_STATE_GONE);
	free(m);
}

const char *
vend_mach_name(const struct mach *m)
{
	return m->name;
}

enum mach_state
vend_mach_state(struct vend_reg *reg, struct mach *m)
{
	enum mach_state s;

	vend_lock(reg);
	s = m->state;
	vend_unlock(reg);
	return s;
}

enum mach_close
vend_closed_by(struct vend_reg *reg, struct mach *m)
{
	enum mach_close c;

	vend_lock(reg);
	c = m->closed_by;
	vend_unlock(reg);
	return c;
}

static struct mach *
vend_find(struct vend_reg *reg, const char *name)
{
	struct mach *m;

	ASSERT(vend_locked(reg));
	for (m = reg->machines; m != NULL; m = m->next) {
		if (strcmp(m->name, name) == 0) {
			return m;
		}
	}
	return NULL;
}

static void
vend_wake(struct mach *m)
{
	if (m->ops != NULL && m->ops->wake != NULL) {
		m->ops->wake(m->arg);
	}
}

/* Outcome known: record it, unlink from the machine, wake the member. */
static void
vend_done(struct vend_reg *reg, struct vend *v, int result,
    const char *message)
{
	vend_move(reg, v, VEND_STATE_DONE);
	v->result = result;
	v->machine = NULL;
	v->next = NULL;
	snprintf(v->message, sizeof(v->message), "%s", message);
	/* Only its member waits for a vend: wake that one alone. */
	pthread_cond_signal(&v->cond);
}

/*
 * Take m offline (lock held): unlink it and fail what it still had.  A
 * machine already offline is left alone, so this runs once per machine.
 */
static void
vend_offline(struct vend_reg *reg, struct mach *m, enum mach_close why)
{
	struct mach **pp;
	struct vend *v, *next;

	if (m->state == MACH_STATE_GONE || m->state == MACH_STATE_NEW) {
		if (m->state == MACH_STATE_NEW) {
			vend_mach_move(reg, m, MACH_STATE_GONE);
		}
		return;
	}
	for (pp = &reg->machines; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	m->next = NULL;
	m->closed_by = why;
	if (m->inflight != NULL) {
		vend_done(reg, m->inflight, ERR_DROP_FAILED,
		    "the machine disconnected during the vend; nothing "
		    "charged");
		m->inflight = NULL;
	}
	for (v = m->head; v != NULL; v = next) {
		next = v->next;
		vend_done(reg, v, ERR_DROP_FAILED,
		    "the machine disconnected before vending; nothing "
		    "charged");
	}
	m->head = m->tail = NULL;
	vend_mach_move(reg, m, MACH_STATE_GONE);
}

void
vend_attach(struct vend_reg *reg, struct mach *m)
{
	struct mach *old;

	vend_lock(reg);
	if ((old = vend_find(reg, m->name)) != NULL) {
		vend_offline(reg, old, MACH_CLOSE_REPLACED);
		if (old->ops != NULL && old->ops->hangup != NULL) {
			old->ops->hangup(old->arg);
		}
		log_info("machine %s: new connection replaces the old one",
		    m->name);
	}
	vend_mach_move(reg, m, MACH_STATE_IDLE);
	m->next = reg->machines;
	reg->machines = m;
	vend_unlock(reg);
}

void
vend_detach(struct vend_reg *reg, struct mach *m)
{
	vend_lock(reg);
	vend_offline(reg, m, MACH_CLOSE_NONE);
	vend_unlock(reg);
}

int
vend_close(struct vend_reg *reg, const char *name, enum mach_close why)
{
	struct mach *m;

	vend_lock(reg);
	if ((m = vend_find(reg, name)) != NULL) {
		vend_offline(reg, m, why);
		if (m->ops != NULL && m->ops->hangup != NULL) {
			m->ops->hangup(m->arg);
		}
	}
	vend_unlock(reg);
	return m != NULL;
}

void
vend_close_all(struct vend_reg *reg, enum mach_close why)
{
	struct mach *m;

	vend_lock(reg);
	while ((m = reg->machines) != NULL) {
		vend_offline(reg, m, why);
		if (m->ops != NULL && m->ops->hangup != NULL) {
			m->ops->hangup(m->arg);
		}
	}
	vend_unlock(reg);
}

int
vend_online(struct vend_reg *reg, const char *name)
{
	int online;

	vend_lock(reg);
	online = vend_find(reg, name) != NULL;
	vend_unlock(reg);
	return online;
}

int
vend_submit(struct vend_reg *reg, struct vend *v, const char *machine)
{
	pthread_condattr_t ca;
	struct vend *a;
	struct mach *m;

	ASSERT(v->state == VEND_STATE_NEW);
	vend_lock(reg);
	if (reg->draining || (m = vend_find(reg, machine)) == NULL) {
		vend_unlock(reg);
		snprintf(v->message, sizeof(v->message),
		    reg->draining ? "the server is shutting down" :
		    "machine %s is offline", machine);
		return ERR_MACHINE_OFFLINE;
	}
	for (a = reg->active; a != NULL; a = a->anext) {
		if (strcmp(a->user, v->user) == 0) {
			vend_unlock(reg);
			snprintf(v->message, sizeof(v->message),
			    "%s already has a drop in flight", v->user);
			return ERR_DROP_IN_PROGRESS;
		}
	}
	snprintf(v->id, sizeof(v->id), "v%lld.%lu", (long long)v->tx,
	    ++reg->seq);
	/*
	 * A delay the registry waits out comes before the queue; the wait
	 * there is bounded by timeout_ms, and restarts when it is sent.
	 */
	v->due = vend_now(reg) + (m->hold_delay ? (int64_t)v->delay * 1000 :
	    0);
	v->deadline = v->due + v->timeout_ms;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&v->cond, &ca);
	pthread_condattr_destroy(&ca);
	vend_move(reg, v, VEND_STATE_QUEUED);
	v->machine = m;
	v->next = NULL;
	if (m->tail != NULL) {
		m->tail->next = v;
	} else {
		m->head = v;
	}
	m->tail = v;
	v->anext = reg->active;
	reg->active = v;
	reg->nactive++;
	vend_wake(m);
	vend_unlock(reg);
	return ERR_NONE;
}

/*
 * The queued vend to send next (lock held): of those whose delay is over
 * and whose wait has not (its member's thread times it out), the one that
 * became due first, in arrival order on a tie; NULL if none.
 * Without held delays every vend is due at once, and this is the FIFO's
 * head.
 */
static struct vend *
vend_mach_first_due(const struct mach *m, int64_t now)
{
	struct vend *v, *first = NULL;

	for (v = m->head; v != NULL; v = v->next) {
		if (v->due <= now && now < v->deadline &&
		    (first == NULL || v->due < first->due)) {
			first = v;
		}
	}
	return first;
}

/* Take v out of m's queue (lock held). */
static void
vend_unqueue(struct mach *m, struct vend *v)
{
	struct vend **pp, *prev = NULL;

	for (pp = &m->head; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == v) {
			*pp = v->next;
			break;
		}
		prev = *pp;
	}
	if (m->tail == v) {
		m->tail = prev;
	}
	v->next = NULL;
}

/* How long m has to answer v once it is sent. */
static int64_t
vend_window(const struct mach *m, const struct vend *v)
{
	return (m->hold_delay ? 0 : (int64_t)v->delay * 1000) + v->timeout_ms;
}

/*
 * Whether v's deadline still applies (lock held): not once the machine
 * answered ok, for then its thread is recording the capture and makes it
 * DONE itself.
 */
static int
vend_expires(const struct vend *v)
{
	return v->state == VEND_STATE_QUEUED || v->state == VEND_STATE_SENT;
}

/*
 * How long a waiter sleeps (lock held): until, or for an ANSWERED vend
 * past its deadline a short while, to look again without spinning.
 */
static int64_t
vend_until(struct vend_reg *reg, const struct vend *v, int64_t until)
{
	int64_t soon = vend_now(reg) + 100;

	return !vend_expires(v) && until < soon ? soon : until;
}

/* The deadline passed (lock held): take v out of the machine's hands. */
static void
vend_expire(struct vend_reg *reg, struct vend *v, int64_t now)
{
	struct mach *m = v->machine;

	if (v->state == VEND_STATE_SENT) {
		/* Still at the machine: keep it busy until the late answer. */
		ASSERT(m->inflight == v);
		m->inflight = NULL;
		snprintf(m->abandoned.id, sizeof(m->abandoned.id), "%s", v->id);
		m->abandoned.tx = v->tx;
		m->abandoned.slot = v->slot;
		m->abandoned.sensed = v->sensed;
		m->abandoned_until = now + (m->pause_ms > 0 ? m->pause_ms :
		    reg->abandon_ms);
		vend_mach_move(reg, m, MACH_STATE_ABANDONED);
		vend_wake(m);
		vend_done(reg, v, ERR_DROP_TIMEOUT,
		    "the machine did not answer in time; nothing charged");
	} else {
		vend_unqueue(m, v);
		vend_done(reg, v, ERR_DROP_TIMEOUT,
		    "the machine was busy with earlier drops; nothing "
		    "charged");
	}
}

int
vend_poll(struct vend_reg *reg, struct vend *v)
{
	int64_t now;
	int done;

	vend_lock(reg);
	now = vend_now(reg);
	if (vend_expires(v) && now >= v->deadline) {
		vend_expire(reg, v, now);
	}
	done = v->state == VEND_STATE_DONE;
	vend_unlock(reg);
	return done;
}

void
vend_wait(struct vend_reg *reg, struct vend *v)
{
	vend_lock(reg);
	while (v->state != VEND_STATE_DONE) {
		if (vend_expires(v) && vend_now(reg) >= v->deadline) {
			vend_expire(reg, v, vend_now(reg));
			break;
		}
		vend_sleep(reg, &v->cond, vend_until(reg, v, v->deadline));
	}
	vend_unlock(reg);
}

int
vend_wait_for(struct vend_reg *reg, struct vend *v, int64_t max_ms)
{
	int64_t until;
	int done;

	vend_lock(reg);
	until = vend_now(reg) + max_ms;
	if (until > v->deadline) {
		until = v->deadline;
	}
	while (v->state != VEND_STATE_DONE) {
		if (vend_expires(v) && vend_now(reg) >= v->deadline) {
			vend_expire(reg, v, vend_now(reg));
			break;
		}
		if (vend_now(reg) >= until) {
			break;
		}
		vend_sleep(reg, &v->cond, vend_until(reg, v, until));
	}
	done = v->state == VEND_STATE_DONE;
	vend_unlock(reg);
	return done;
}

void
vend_finish(struct vend_reg *reg, struct vend *v)
{
	struct vend **pp;

	vend_lock(reg);
	vend_move(reg, v, VEND_STATE_FINISHED);
	for (pp = &reg->active; *pp != NULL; pp = &(*pp)->anext) {
		if (*pp == v) {
			*pp = v->anext;
			break;
		}
	}
	v->anext = NULL;
	pthread_cond_destroy(&v->cond);
	reg->nactive--;
	ASSERT(reg->nactive >= 0);
	pthread_cond_broadcast(&reg->cond);
	vend_unlock(reg);
}

int
vend_next(struct vend_reg *reg, struct mach *m, struct vend_cmd *cmd)
{
	struct vend *v;
	int64_t now;
	int rc = 0;

	vend_lock(reg);
	now = vend_now(reg);
	if (m->state == MACH_STATE_ABANDONED && now >= m->abandoned_until) {
		if (m->abandoned.id[0] != '\0') {
			log_warn("machine %s never answered vend %s (tx %lld, "
			    "slot %d); sending the next", m->name,
			    m->abandoned.id, (long long)m->abandoned.tx,
			    m->abandoned.slot);
		}
		memset(&m->abandoned, 0, sizeof(m->abandoned));
		vend_mach_move(reg, m, MACH_STATE_IDLE);
	}
	ASSERT(!reg->draining || m->head == NULL);
	if (m->state == MACH_STATE_IDLE &&
	    (v = vend_mach_first_due(m, now)) != NULL) {
		vend_unqueue(m, v);
		v->sensed = 0;
		vend_move(reg, v, VEND_STATE_SENT);
		/* The machine's time to answer runs from now. */
		cmd->delay = m->hold_delay ? 0 : v->delay;
		v->deadline = now + vend_window(m, v);
		m->inflight = v;
		vend_mach_move(reg, m, MACH_STATE_VENDING);
		snprintf(cmd->id, sizeof(cmd->id), "%s", v->id);
		cmd->tx = v->tx;
		cmd->slot = v->slot;
		rc = 1;
	}
	vend_unlock(reg);
	return rc;
}

int64_t
vend_next_due(struct vend_reg *reg, struct mach *m)
{
	int64_t due = INT64_MAX, now;
	struct vend *v;

	vend_lock(reg);
	now = vend_now(reg);
	/*
	 * Busy with a vend: its answer (or a detach) wakes the thread.  A
	 * vend past its deadline is its member's to time out, not due.
	 */
	if (m->state == MACH_STATE_IDLE ||
	    m->state == MACH_STATE_ABANDONED) {
		for (v = m->head; v != NULL; v = v->next) {
			if (now < v->deadline && v->due < due) {
				due = v->due;
			}
		}
	}
	if (m->state == MACH_STATE_ABANDONED && due != INT64_MAX &&
	    m->abandoned_until > due) {
		due = m->abandoned_until;
	}
	vend_unlock(reg);
	return due;
}

enum vend_match
vend_match(struct vend_reg *reg, struct mach *m, const char *id,
    struct vend_abandoned *info)
{
	enum vend_match r = VEND_MATCH_NONE;

	memset(info, 0, sizeof(*info));
	vend_lock(reg);
	if (m->state == MACH_STATE_VENDING &&
	    strcmp(m->inflight->id, id) == 0) {
		snprintf(info->id, sizeof(info->id), "%s", id);
		info->tx = m->inflight->tx;
		info->slot = m->inflight->slot;
		info->sensed = m->inflight->sensed;
		r = VEND_MATCH_INFLIGHT;
	} else if (m->state == MACH_STATE_ABANDONED &&
	    m->abandoned.id[0] != '\0' && strcmp(m->abandoned.id, id) == 0) {
		*info = m->abandoned;
		r = VEND_MATCH_LATE;
	}
	vend_unlock(reg);
	return r;
}

enum vend_match
vend_complete(struct vend_reg *reg, struct mach *m, const char *id,
    int result, const char *message)
{
	enum vend_match r = VEND_MATCH_NONE;

	vend_lock(reg);
	if (m->state == MACH_STATE_VENDING &&
	    strcmp(m->inflight->id, id) == 0) {
		vend_done(reg, m->inflight, result, message);
		m->inflight = NULL;
		vend_mach_move(reg, m, MACH_STATE_IDLE);
		r = VEND_MATCH_INFLIGHT;
	} else if (m->state == MACH_STATE_ABANDONED &&
	    m->abandoned.id[0] != '\0' && strcmp(m->abandoned.id, id) == 0) {
		/* A fixed pause runs out its time; nothing else matches. */
		memset(&m->abandoned, 0, sizeof(m->abandoned));
		if (m->pause_ms == 0) {
			vend_mach_move(reg, m, MACH_STATE_IDLE);
		}
		r = VEND_MATCH_LATE;
	}
	/* No wake: the caller is m's thread, which asks vend_next next. */
	vend_unlock(reg);
	return r;
}

struct vend *
vend_take(struct vend_reg *reg, struct mach *m, const char *id,
    struct vend_abandoned *info)
{
	struct vend *v = NULL;

	memset(info, 0, sizeof(*info));
	vend_lock(reg);
	if (m->state == MACH_STATE_VENDING &&
	    strcmp(m->inflight->id, id) == 0) {
		v = m->inflight;
		snprintf(info->id, sizeof(info->id), "%s", id);
		info->tx = v->tx;
		info->slot = v->slot;
		info->sensed = v->sensed;
		vend_move(reg, v, VEND_STATE_ANSWERED);
		v->machine = NULL;
		m->inflight = NULL;
		vend_mach_move(reg, m, MACH_STATE_IDLE);
	}
	vend_unlock(reg);
	return v;
}

void
vend_settle(struct vend_reg *reg, struct vend *v, int result,
    struct db_ticket *capture)
{
	vend_lock(reg);
	ASSERT(v->state == VEND_STATE_ANSWERED);
	ASSERT(v->capture == NULL);
	v->capture = capture;
	vend_done(reg, v, result, "");
	vend_unlock(reg);
}

void
vend_sensed(struct vend_reg *reg, struct mach *m, int slot)
{
	vend_lock(reg);
	if (m->state == MACH_STATE_VENDING && m->inflight->slot == slot) {
		m->inflight->sensed = 1;
	} else if (m->state == MACH_STATE_ABANDONED &&
	    m->abandoned.slot == slot) {
		m->abandoned.sensed = 1;
	}
	vend_unlock(reg);
}

int
vend_active(struct vend_reg *reg)
{
	int n;

	vend_lock(reg);
	n = reg->nactive;
	vend_unlock(reg);
	return n;
}

int
vend_drain(struct vend_reg *reg)
{
	struct mach *m;
	struct vend *v;
	int sent = 0;

	vend_lock(reg);
	reg->draining = 1;
	for (m = reg->machines; m != NULL; m = m->next) {
		while ((v = m->head) != NULL) {
			vend_unqueue(m, v);
			vend_done(reg, v, ERR_DROP_FAILED, "the server is "
			    "shutting down; nothing charged");
		}
		sent += m->inflight != NULL;
	}
	vend_unlock(reg);
	return sent;
}

int
vend_wait_idle(struct vend_reg *reg, int64_t deadline)
{
	int n;

	vend_lock(reg);
	while (reg->nactive > 0 && vend_now(reg) < deadline) {
		vend_sleep(reg, &reg->cond, deadline);
	}
	n = reg->nactive;
	vend_unlock(reg);
	return n;
}
