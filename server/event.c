/*
 * Live events (PROTOCOL.md section 8).  Each subscribed session owns an
 * event queue: a list of ready-made lines, the topics it wants and an
 * eventfd.  A publisher (any thread: a member's request, a controller's
 * thread, the database's commit hook) serialises the event once and
 * appends it to every matching queue, then signals the eventfd; only the
 * session's own thread takes lines off its queue and writes them, so its
 * SSL stays single-threaded.  Publishing never blocks on a slow reader:
 * once EVENT_QUEUE_MAX lines wait in a queue, it is marked overflowed and
 * takes nothing more; its thread says {"event":"overflow"} and closes.
 *
 * Lock order: event_lock (the list of queues), then a queue's lock.
 * Events are published with event_lock held from serialisation to the
 * last append, so every queue sees events in one global order.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "drinkd.h"

struct event_line {
	char *text;
	size_t len;
	struct event_line *next;
};

struct event_queue {
	pthread_mutex_t lock;	/* guards the fields below but the links */
	unsigned topics;	/* EVENT_T_* */
	char user[PROTO_NAME_MAX + 1];	/* "" when not logged in */
	int admin;
	struct event_line *head, *tail;
	int count;
	int overflow;
	int fd;			/* eventfd: readable while lines wait */
	struct event_queue *prev, *next;	/* guarded by event_lock */
};

static pthread_mutex_t event_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * How many queues exist (sessions that subscribed): with none, events
 * are not built at all, and a drop does not read its machine's slots
 * back to describe them.  Changed under event_lock, read without it.
 */
static int event_nqueues;

static void event_seen_forget(void);

static int
event_listened(void)
{
	return __atomic_load_n(&event_nqueues, __ATOMIC_RELAXED) > 0;
}
static struct event_queue *event_head;

/*
 * Drops in flight: tx -> owner, so "vending" can name its member.  A tx is
 * looked for from its own index (tx ids grow by one, so drops in flight
 * rarely share one) on to the first match; a slot freed on the way is
 * where a new one is registered.
 */
#define EVENT_DROPS_MAX 1024
static struct event_drop {
	int64_t tx;
	char user[PROTO_NAME_MAX + 1];
	char machine[PROTO_NAME_MAX + 1];
	int slot;
} event_drops[EVENT_DROPS_MAX];

static const struct {
	const char *name;
	unsigned bit;
	int need;		/* 0 anyone, 1 logged in, 2 admin */
} event_topics[] = {
	{ "machines", EVENT_T_MACHINES, 0 },
	{ "slots", EVENT_T_SLOTS, 0 },
	{ "balance", EVENT_T_BALANCE, 1 },
	{ "drops", EVENT_T_DROPS, 1 },
	{ "sessions", EVENT_T_SESSIONS, 2 },
};
#define EVENT_NTOPICS (sizeof(event_topics) / sizeof(event_topics[0]))

struct event_queue *
event_queue_new(void)
{
	struct event_queue *q = xcalloc(1, sizeof(*q));

	if ((q->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_mutex_lock(&event_lock);
	q->next = event_head;
	if (event_head != NULL) {
		event_head->prev = q;
	}
	event_head = q;
	__atomic_add_fetch(&event_nqueues, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&event_lock);
	return q;
}

void
event_queue_free(struct event_queue *q)
{
	struct event_line *l, *next;

	if (q == NULL) {
		return;
	}
	pthread_mutex_lock(&event_lock);
	if (q->prev != NULL) {
		q->prev->next = q->next;
	} else {
		event_head = q->next;
	}
	if (q->next != NULL) {
		q->next->prev = q->prev;
	}
	__atomic_sub_fetch(&event_nqueues, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&event_lock);
	for (l = q->head; l != NULL; l = next) {
		next = l->next;
		free(l->text);
		free(l);
	}
	close(q->fd);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

int
event_queue_fd(const struct event_queue *q)
{
	return q->fd;
}

/* Who the session is now; topics it may no longer have are dropped. */
void
event_queue_who(struct event_queue *q, const char *user, int admin)
{
	size_t i;

	pthread_mutex_lock(&q->lock);
	snprintf(q->user, sizeof(q->user), "%s", user != NULL ? user : "");
	q->admin = admin;
	for (i = 0; i < EVENT_NTOPICS; i++) {
		if ((event_topics[i].need == 1 && q->user[0] == '\0') ||
		    (event_topics[i].need == 2 && !q->admin)) {
			q->topics &= ~event_topics[i].bit;
		}
	}
	pthread_mutex_unlock(&q->lock);
}

/*
 * Topic names in list -> bits, checked against the session's rights.
 * ERR_NONE, ERR_BAD_REQUEST (not a list of known names) or ERR_FORBIDDEN.
 */
int
event_topics_parse(const cJSON *list, int logged_in, int admin,
    unsigned *bits, const char **why)
{
	const cJSON *t;
	size_t i;

	*bits = 0;
	if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > 16) {
		*why = "\"topics\" must be an array of topic names";
		return ERR_BAD_REQUEST;
	}
	cJSON_ArrayForEach(t, list) {
		for (i = 0; i < EVENT_NTOPICS; i++) {
			if (cJSON_IsString(t) &&
			    strcmp(t->valuestring, event_topics[i].name) == 0) {
				break;
			}
		}
		if (i == EVENT_NTOPICS) {
			*why = "unknown topic (machines, slots, balance, "
			    "drops, sessions)";
			return ERR_BAD_REQUEST;
		}
		*bits |= event_topics[i].bit;
	}
	cJSON_ArrayForEach(t, list) {
		for (i = 0; i < EVENT_NTOPICS; i++) {
			if (strcmp(t->valuestring, event_topics[i].name) != 0) {
				continue;
			}
			if (event_topics[i].need == 1 && !logged_in) {
				*why = "log in to subscribe to that topic";
				return ERR_FORBIDDEN;
			}
			if (event_topics[i].need == 2 && !admin) {
				*why = "only admins may subscribe to sessions";
				return ERR_FORBIDDEN;
			}
		}
	}
	return ERR_NONE;
}

/* Change a queue's topics: add (add set) or remove bits; returns them. */
unsigned
event_queue_topics(struct event_queue *q, unsigned bits, int add)
{
	unsigned now;

	pthread_mutex_lock(&q->lock);
	q->topics = add ? q->topics | bits : q->topics & ~bits;
	now = q->topics;
	pthread_mutex_unlock(&q->lock);
	/* After: a slot event from now on reaches q, seen before or not. */
	if (add && (bits & (EVENT_T_SLOTS | EVENT_T_MACHINES))) {
		event_seen_forget();
	}
	return now;
}

/* The names of bits, into array. */
void
event_topics_list(unsigned bits, cJSON *array)
{
	size_t i;

	for (i = 0; i < EVENT_NTOPICS; i++) {
		if (bits & event_topics[i].bit) {
			cJSON_AddItemToArray(array,
			    cJSON_CreateString(event_topics[i].name));
		}
	}
}

/*
 * The next waiting line (caller frees), or NULL.  *overflow is set once
 * the queue overflowed: the session must say so and close.
 */
char *
event_queue_take(struct event_queue *q, size_t *len, int *overflow)
{
	struct event_line *l;
	uint64_t n;
	char *text = NULL;

	pthread_mutex_lock(&q->lock);
	*overflow = q->overflow;
	if ((l = q->head) != NULL) {
		q->head = l->next;
		if (q->head == NULL) {
			q->tail = NULL;
		}
		q->count--;
		text = l->text;
		*len = l->len;
		free(l);
	}
	if (q->head == NULL) {
		/* Empty: clear the signal (under the lock, so none is lost). */
		if (read(q->fd, &n, sizeof(n)) < 0) {
			n = 0;
		}
	}
	pthread_mutex_unlock(&q->lock);
	return text;
}

int
event_queue_waiting(struct event_queue *q)
{
	int n;

	pthread_mutex_lock(&q->lock);
	n = q->count;
	pthread_mutex_unlock(&q->lock);
	return n;
}

/* Append to one queue (its lock held). */
static void
event_append(struct event_queue *q, const char *text, size_t len)
{
	struct event_line *l;
	uint64_t one = 1;

	if (q->overflow) {
		return;
	}
	if (q->count >= EVENT_QUEUE_MAX) {
		q->overflow = 1;
	} else {
		l = xmalloc(sizeof(*l));
		l->text = xmalloc(len);
		memcpy(l->text, text, len);
		l->len = len;
		l->next = NULL;
		if (q->tail != NULL) {
			q->tail->next = l;
		} else {
			q->head = l;
		}
		q->tail = l;
		q->count++;
	}
	if (write(q->fd, &one, sizeof(one)) < 0) {
		/* The counter is saturated: the session is awake anyway. */
	}
}

/*
 * Append ev to every queue subscribed to topic (with user set, only to
 * sessions logged in as user), event_lock held.  *text is ev's line, made
 * here when first needed unless the caller made it; the caller frees it.
 */
static void
event_deliver(unsigned topic, const char *user, const cJSON *ev,
    char **text, size_t *len)
{
	struct event_queue *q;

	for (q = event_head; q != NULL; q = q->next) {
		pthread_mutex_lock(&q->lock);
		if ((q->topics & topic) &&
		    (user == NULL || strcmp(q->user, user) == 0)) {
			if (*text == NULL) {
				*text = proto_line(ev, len);
			}
			event_append(q, *text, *len);
		}
		pthread_mutex_unlock(&q->lock);
	}
}

/*
 * Send ev (not consumed) to every queue subscribed to topic; with user set,
 * only to sessions logged in as user.
 */
void
event_publish(unsigned topic, const char *user, const cJSON *ev)
{
	char *text = NULL;
	size_t len = 0;

	pthread_mutex_lock(&event_lock);
	event_deliver(topic, user, ev, &text, &len);
	pthread_mutex_unlock(&event_lock);
	free(text);
}

/*
 * The last slot event published for a (machine, slot), and the last
 * machine event for a machine (slot 0), so that an event saying what the
 * last one said is not sent again: a drop's capture and the controller's
 * sensed count that follows it both describe the slot as it now is, and
 * a machine disabled while online is told so by the disable and again by
 * its controller's end; listeners hear each once.  Direct-mapped (an
 * event whose entry another took may be told twice, which is harmless);
 * guarded by event_lock; forgotten whenever a queue starts listening to
 * slots or machines, since it did not hear the lines kept here.
 */
#define EVENT_SEEN 512
static struct event_seen_entry {
	char machine[PROTO_NAME_MAX + 1];
	int slot;
	char *line;
	size_t len;
} event_seen[EVENT_SEEN];

static void
event_seen_forget(void)
{
	size_t i;

	pthread_mutex_lock(&event_lock);
	for (i = 0; i < EVENT_SEEN; i++) {
		free(event_seen[i].line);
		event_seen[i].line = NULL;
	}
	pthread_mutex_unlock(&event_lock);
}

/*
 * A machine was deleted: it and its slots are gone, so what was last said
 * about them says nothing about a machine made again under that name (it
 * would otherwise be taken for old news and never told).
 */
static void
event_seen_forget_machine(const char *machine)
{
	size_t i;

	pthread_mutex_lock(&event_lock);
	for (i = 0; i < EVENT_SEEN; i++) {
		if (event_seen[i].line != NULL &&
		    strcmp(event_seen[i].machine, machine) == 0) {
			free(event_seen[i].line);
			event_seen[i].line = NULL;
		}
	}
	pthread_mutex_unlock(&event_lock);
}

/*
 * Publish ev to topic unless it is what was last published about
 * machine's slot (0: about machine itself).
 */
static void
event_publish_seen(unsigned topic, const char *machine, int slot,
    const cJSON *ev)
{
	struct event_seen_entry *e;
	uint32_t h = 2166136261u;
	const char *c;
	size_t len;
	char *text = proto_line(ev, &len);

	for (c = machine; *c != '\0'; c++) {
		h = (h ^ (unsigned char)*c) * 16777619u;
	}
	h = (h ^ (uint32_t)slot) * 16777619u;
	e = &event_seen[h % EVENT_SEEN];
	pthread_mutex_lock(&event_lock);
	if (e->line != NULL && e->slot == slot &&
	    strcmp(e->machine, machine) == 0 && e->len == len &&
	    memcmp(e->line, text, len) == 0) {
		pthread_mutex_unlock(&event_lock);
		free(text);
		return;
	}
	free(e->line);
	snprintf(e->machine, sizeof(e->machine), "%s", machine);
	e->slot = slot;
	e->line = xmalloc(len);
	memcpy(e->line, text, len);
	e->len = len;
	event_deliver(topic, NULL, ev, &text, &len);
	pthread_mutex_unlock(&event_lock);
	free(text);
}

/* {"event": name, ...copies of fields' members}; caller deletes. */
static cJSON *
event_new(const char *name, const cJSON *fields)
{
	cJSON *ev = cJSON_CreateObject();
	const cJSON *f;

	cJSON_AddStringToObject(ev, "event", name);
	cJSON_ArrayForEach(f, fields) {
		cJSON_AddItemToObject(ev, f->string, cJSON_Duplicate(f, 1));
	}
	return ev;
}

/*
 * A machine's event as it stands (online from the registry), or NULL when
 * it is not in the table; caller deletes.
 */
cJSON *
event_machine_now(struct server *srv, const char *machine)
{
	cJSON *list = cJSON_CreateArray(), *m, *ev = NULL;

	if (db_machines(srv->db, list) != ERR_NONE) {
		cJSON_Delete(list);
		return NULL;
	}
	cJSON_ArrayForEach(m, list) {
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(m,
		    "machine")), machine) == 0) {
			ev = event_new("machine", m);
			cJSON_ReplaceItemInObjectCaseSensitive(ev, "online",
			    cJSON_CreateBool(vend_online(srv->vends, machine)));
			break;
		}
	}
	cJSON_Delete(list);
	return ev;
}

/*
 * A machine's current state.  One no longer in the table was deleted:
 * machine_del says so itself (event_machine_deleted), with what it was.
 */
void
event_machine(struct server *srv, const char *machine)
{
	cJSON *ev = event_machine_now(srv, machine);

	if (ev != NULL) {
		event_publish_seen(EVENT_T_MACHINES, machine, 0, ev);
		cJSON_Delete(ev);
	}
}

/*
 * machine was deleted; last is its event from before (NULL: unknown).
 * The event has every field a machine event has, as the machine was,
 * with online and enabled false and "deleted": true.
 */
void
event_machine_deleted(const char *machine, const cJSON *last)
{
	cJSON *ev = event_new("machine", NULL);
	const cJSON *name = cJSON_GetObjectItem(last, "name");
	const cJSON *temp = cJSON_GetObjectItem(last, "temperature");

	event_seen_forget_machine(machine);
	cJSON_AddStringToObject(ev, "machine", machine);
	cJSON_AddStringToObject(ev, "name", cJSON_IsString(name) ?
	    name->valuestring : "");
	cJSON_AddBoolToObject(ev, "online", 0);
	cJSON_AddBoolToObject(ev, "enabled", 0);
	cJSON_AddItemToObject(ev, "temperature", cJSON_IsNumber(temp) ?
	    cJSON_CreateNumber(temp->valuedouble) : cJSON_CreateNull());
	cJSON_AddBoolToObject(ev, "deleted", 1);
	event_publish(EVENT_T_MACHINES, NULL, ev);
	cJSON_Delete(ev);
}

/* A machine's slots now, for event_slots() to compare; caller deletes. */
cJSON *
event_slots_before(struct server *srv, const char *machine)
{
	cJSON *list;

	if (!event_listened()) {
		return NULL;
	}
	list = cJSON_CreateArray();
	if (db_slots(srv->db, machine, list) != ERR_NONE) {
		cJSON_Delete(list);
		return NULL;
	}
	return list;
}

/*
 * A slot event for each slot of machine that differs from before (NULL:
 * every slot; only slot when it is not 0).  before is deleted.
 */
void
event_slots(struct server *srv, const char *machine, cJSON *before,
    int slot)
{
	cJSON *list = NULL, *s, *old, *ev;
	int n;

	if (!event_listened()) {
		goto out;
	}
	list = cJSON_CreateArray();
	if (db_slots(srv->db, machine, list) != ERR_NONE) {
		goto out;
	}
	cJSON_ArrayForEach(s, list) {
		n = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(s, "slot"));
		if (slot != 0 && n != slot) {
			continue;
		}
		cJSON_ArrayForEach(old, before) {
			if ((int)cJSON_GetNumberValue(cJSON_GetObjectItem(old,
			    "slot")) == n) {
				break;
			}
		}
		if (old != NULL && cJSON_Compare(old, s, 1)) {
			continue;
		}
		ev = event_new("slot", NULL);
		cJSON_AddStringToObject(ev, "machine", machine);
		cJSON_ArrayForEach(old, s) {
			cJSON_AddItemToObject(ev, old->string,
			    cJSON_Duplicate(old, 1));
		}
		event_publish_seen(EVENT_T_SLOTS, machine, n, ev);
		cJSON_Delete(ev);
	}
out:
	cJSON_Delete(list);
	cJSON_Delete(before);
}

/* The database's commit hook: a member's balance changed. */
void
event_balance(const char *user, int64_t balance, int64_t tx)
{
	cJSON *ev;

	if (!event_listened()) {
		return;
	}
	ev = event_new("balance", NULL);
	cJSON_AddNumberToObject(ev, "balance", (double)balance);
	if (tx > 0) {
		cJSON_AddNumberToObject(ev, "tx", (double)tx);
	}
	event_publish(EVENT_T_BALANCE, user, ev);
	cJSON_Delete(ev);
}

/*
 * A drop moved on: "queued" registers it (user, machine, slot), later
 * states name it by tx alone, and "completed"/"failed" forget it.
 */
void
event_drop(int64_t tx, const char *user, const char *machine, int slot,
    const char *state, const char *error)
{
	struct event_drop *d = NULL, copy;
	size_t i, n;
	cJSON *ev;

	pthread_mutex_lock(&event_lock);
	for (n = 0; n < EVENT_DROPS_MAX; n++) {
		i = (size_t)((uint64_t)tx + n) % EVENT_DROPS_MAX;
		if (event_drops[i].tx == tx) {
			d = &event_drops[i];
			break;
		}
		if (user != NULL && event_drops[i].tx == 0) {
			d = &event_drops[i];
			break;
		}
	}
	if (d != NULL && user != NULL) {
		d->tx = tx;
		snprintf(d->user, sizeof(d->user), "%s", user);
		snprintf(d->machine, sizeof(d->machine), "%s", machine);
		d->slot = slot;
	}
	if (d == NULL || d->tx != tx) {
		pthread_mutex_unlock(&event_lock);
		return;
	}
	copy = *d;
	if (strcmp(state, "completed") == 0 || strcmp(state, "failed") == 0) {
		d->tx = 0;
	}
	pthread_mutex_unlock(&event_lock);
	if (!event_listened()) {
		return;
	}
	ev = event_new("drop", NULL);
	cJSON_AddNumberToObject(ev, "tx", (double)tx);
	cJSON_AddStringToObject(ev, "machine", copy.machine);
	cJSON_AddNumberToObject(ev, "slot", copy.slot);
	cJSON_AddStringToObject(ev, "state", state);
	if (error != NULL) {
		cJSON_AddStringToObject(ev, "error", error);
	}
	event_publish(EVENT_T_DROPS, copy.user, ev);
	cJSON_Delete(ev);
}

/* A connection became visible ("open") or ended ("closed"). */
void
event_session(const struct client *c, const char *state)
{
	cJSON *ev;

	if (!event_listened()) {
		return;
	}
	ev = event_new("session", NULL);
	cJSON_AddNumberToObject(ev, "session", (double)c->session);
	cJSON_AddStringToObject(ev, "kind", c->kind == CLIENT_MACHINE ?
	    "machine" : "member");
	cJSON_AddStringToObject(ev, "state", state);
	if (c->name[0] != '\0') {
		cJSON_AddStringToObject(ev, c->kind == CLIENT_MACHINE ?
		    "machine" : "user", c->name);
	} else {
		cJSON_AddNullToObject(ev, c->kind == CLIENT_MACHINE ?
		    "machine" : "user");
	}
	event_publish(EVENT_T_SESSIONS, NULL, ev);
	cJSON_Delete(ev);
}
