/*
 * card_drop on the machine port (PROTOCOL.md section 11): a controller's
 * reader saw a card and a slot choice.  The card names its owner, and the
 * owner's drop runs exactly as a member's drop (drop_run), charged to the
 * owner, on this machine.
 *
 * The drop waits for a vend that arrives on the very connection that
 * asked, so it cannot run on the machine's thread, which must keep
 * reading (the answer to the vend) and writing (the vend itself).  It runs
 * on a worker thread of its own; the reply comes back through a small
 * mailbox (struct card_box) that the machine thread drains when woken, so
 * only that thread ever writes to the socket.  The mailbox is reference
 * counted: a machine that disconnects mid-drop closes it, the worker's
 * drop still settles, and its reply is dropped.
 *
 * One card_drop at a time per connection (a reader serves one person at
 * a time); unknown cards are throttled per machine like logins, and a
 * known card clears nothing (auth_card_*: one's own card between guesses
 * must not buy more guesses).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drinkd.h"

struct card_box {
	pthread_mutex_t lock;	/* guards everything below */
	int refs;
	int closed;		/* the connection is gone: replies dropped */
	int busy;		/* a card_drop is running */
	char *reply;		/* a finished reply line, not yet written */
	int wake_fd;		/* the machine thread's wake pipe */
};

/* One card_drop on its worker thread; owns everything it points to. */
struct card_job {
	struct server *srv;
	struct card_box *box;
	char machine[PROTO_NAME_MAX + 1];
	char card[PROTO_CARD_MAX + 1];
	int slot;
	cJSON *id;		/* the request's id, echoed; may be NULL */
};

struct card_box *
card_box_new(int wake_fd)
{
	struct card_box *b = xcalloc(1, sizeof(*b));

	pthread_mutex_init(&b->lock, NULL);
	b->refs = 1;
	b->wake_fd = wake_fd;
	return b;
}

static void
card_box_unref(struct card_box *b)
{
	int left;

	pthread_mutex_lock(&b->lock);
	assert(b->refs > 0);
	left = --b->refs;
	pthread_mutex_unlock(&b->lock);
	if (left == 0) {
		free(b->reply);
		pthread_mutex_destroy(&b->lock);
		free(b);
	}
}

/* The connection ends: no more replies, no more wakes. */
void
card_box_close(struct card_box *b)
{
	if (b == NULL) {
		return;
	}
	pthread_mutex_lock(&b->lock);
	b->closed = 1;
	pthread_mutex_unlock(&b->lock);
	card_box_unref(b);
}

char *
card_box_take(struct card_box *b)
{
	char *line;

	if (b == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&b->lock);
	line = b->reply;
	b->reply = NULL;
	pthread_mutex_unlock(&b->lock);
	return line;
}

static cJSON *
card_error(cJSON *id, int err, const char *message)
{
	cJSON *o = cJSON_CreateObject();

	if (id != NULL) {
		cJSON_AddItemToObject(o, "id", id);
	}
	cJSON_AddBoolToObject(o, "ok", 0);
	cJSON_AddStringToObject(o, "error", proto_err_code(err));
	cJSON_AddStringToObject(o, "message", message != NULL &&
	    message[0] != '\0' ? message : proto_err_message(err));
	return o;
}

/* Who the card belongs to, throttled per machine; ERR_NONE with *u. */
static int
card_owner(struct card_job *j, struct db_user *u)
{
	int rc;

	if (auth_card_throttled(AUTH_CARD_TAP, NULL, j->machine) > 0) {
		log_info("machine %s: card_drop refused: too many unknown "
		    "cards", j->machine);
		return ERR_LOCKED_OUT;
	}
	rc = db_card_owner(j->srv->db, j->card, u);
	if (rc == ERR_BAD_CREDENTIALS) {
		auth_card_guess(AUTH_CARD_TAP, NULL, j->machine);
		log_info("machine %s: card_drop refused: unknown card or "
		    "disabled owner", j->machine);
	}
	return rc;
}

static void *
card_main(void *arg)
{
	struct card_job *j = arg;
	struct drop_req rq = { 0 };
	struct db_user u;
	cJSON *reply = cJSON_CreateObject(), *out;
	char *line;
	size_t len;
	int rc;

	if ((rc = card_owner(j, &u)) == ERR_NONE) {
		log_info("machine %s: card of %s taps slot %d", j->machine,
		    u.name, j->slot);
		rq.user = u.name;
		rq.machine = j->machine;
		rq.slot = j->slot;
		rc = drop_run(j->srv, &rq, reply);
	}
	/*
	 * As cmd.c answers a member: a write (the card's last use, the
	 * hold) refused before it was tried changed nothing.
	 */
	if (rc == ERR_INTERNAL && db_take_refused()) {
		rc = ERR_UNAVAILABLE;
	}
	if (rc == ERR_NONE) {
		out = cJSON_CreateObject();
		if (j->id != NULL) {
			cJSON_AddItemToObject(out, "id", j->id);
		}
		cJSON_AddBoolToObject(out, "ok", 1);
		cJSON_AddItemToObject(out, "tx", cJSON_Duplicate(
		    cJSON_GetObjectItem(reply, "tx"), 1));
		cJSON_AddStringToObject(out, "user", u.name);
		cJSON_AddItemToObject(out, "balance", cJSON_Duplicate(
		    cJSON_GetObjectItem(reply, "balance"), 1));
	} else {
		out = card_error(j->id, rc, rq.message);
		/* As on the member port: the balance that fell short. */
		if (rc == ERR_INSUFFICIENT_FUNDS) {
			cJSON_AddNumberToObject(out, "balance",
			    (double)rq.balance);
		}
		if (rc == ERR_LOCKED_OUT) {
			int64_t wait = auth_card_throttled(AUTH_CARD_TAP,
			    NULL, j->machine);

			cJSON_AddNumberToObject(out, "retry_after",
			    (double)(wait > 0 ? wait : 1));
		} else if (rc == ERR_UNAVAILABLE) {
			cJSON_AddNumberToObject(out, "retry_after",
			    (double)db_retry_after(j->srv->db));
		}
	}
	j->id = NULL;
	line = proto_line(out, &len);
	pthread_mutex_lock(&j->box->lock);
	j->box->busy = 0;
	if (!j->box->closed) {
		free(j->box->reply);
		j->box->reply = line;
		line = NULL;
		if (write(j->box->wake_fd, "c", 1) < 0) {
			;	/* a full pipe already means "wake up" */
		}
	}
	pthread_mutex_unlock(&j->box->lock);
	free(line);
	cJSON_Delete(out);
	cJSON_Delete(reply);
	card_box_unref(j->box);
	free(j);
	session_busy_add(-1);
	return NULL;
}

/*
 * A card_drop request from machine's controller.  Checks the arguments
 * and starts the worker; *reply is set only when the request is refused
 * at once.
 */
void
card_drop_start(struct server *srv, struct card_box *box, const char *machine,
    const cJSON *msg, cJSON **reply)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	const cJSON *card = cJSON_GetObjectItemCaseSensitive(msg, "card");
	const cJSON *slot = cJSON_GetObjectItemCaseSensitive(msg, "slot");
	struct card_job *j;
	pthread_attr_t attr;
	pthread_t t;
	int busy;

	*reply = NULL;
	if (!cJSON_IsString(card) || !proto_valid_card(card->valuestring) ||
	    !cJSON_IsNumber(slot) || slot->valuedouble < 1 ||
	    slot->valuedouble > 255 ||
	    slot->valuedouble != (double)(int)slot->valuedouble) {
		*reply = card_error(cJSON_Duplicate(id, 1), ERR_BAD_REQUEST,
		    "card_drop needs \"card\" (4 to 32 hex digits) and "
		    "\"slot\" (1 to 255)");
		return;
	}
	if (box == NULL) {
		*reply = card_error(cJSON_Duplicate(id, 1), ERR_INTERNAL,
		    NULL);
		return;
	}
	pthread_mutex_lock(&box->lock);
	busy = box->busy;
	if (!busy) {
		box->busy = 1;
		box->refs++;
	}
	pthread_mutex_unlock(&box->lock);
	if (busy) {
		*reply = card_error(cJSON_Duplicate(id, 1),
		    ERR_DROP_IN_PROGRESS, "a card_drop of this machine is "
		    "still running");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->srv = srv;
	j->box = box;
	snprintf(j->machine, sizeof(j->machine), "%s", machine);
	snprintf(j->card, sizeof(j->card), "%s", card->valuestring);
	j->slot = (int)slot->valuedouble;
	j->id = id != NULL ? cJSON_Duplicate(id, 1) : NULL;
	/* Counted like a member's request, so shutdown waits for it. */
	session_busy_add(1);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, card_main, j) != 0) {
		session_busy_add(-1);
		pthread_mutex_lock(&box->lock);
		box->busy = 0;
		pthread_mutex_unlock(&box->lock);
		card_box_unref(box);
		*reply = card_error(j->id, ERR_INTERNAL, NULL);
		free(j);
	}
	pthread_attr_destroy(&attr);
}
