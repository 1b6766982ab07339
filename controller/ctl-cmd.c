/*
 * What the server says to a registered controller, and the answers.
 * Commands come from a table; replies to our own pings and events are
 * noted; anything else is logged and dropped, because a controller that
 * hangs up on an unexpected line would turn a server bug into an outage.
 * The "id" of a request is echoed as the exact text the server sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define CTL_CMD_LOG_MAX 64	/* bytes of untrusted text quoted in a log */

/* One parsed line; everything owned here and freed by ctl_cmd_msg_free. */
struct ctl_cmd_msg {
	cJSON *obj;
	struct proto_scan ps;
	char *id;		/* raw JSON text of "id", or NULL if absent */
	const char *line;
};

struct ctl_cmd {
	const char *name;
	int (*exec)(struct ctl_link *, struct ctl_cmd_msg *);
};

/* The wire code sent in a nack for each hardware outcome. */
static const char *const ctl_cmd_vend_codes[HW_VEND_COUNT] = {
	[HW_VEND_OK] = "ok",
	[HW_VEND_NO_SUCH_SLOT] = "no_such_slot",
	[HW_VEND_EMPTY] = "empty",
	[HW_VEND_JAMMED] = "jammed",
	[HW_VEND_FAULT] = "fault",
};

/* The controller's own refusals, beyond the protocol's codes. */
#define CTL_CMD_BUSY "busy"
#define CTL_CMD_CANCELLED "cancelled"

/* The first member called name, with what the scanner saw of its text. */
static const cJSON *
ctl_cmd_member(const struct ctl_cmd_msg *m, const char *name,
    const struct proto_member **raw)
{
	const cJSON *item;
	size_t i = 0;

	cJSON_ArrayForEach(item, m->obj) {
		if (strcmp(item->string, name) == 0) {
			*raw = i < m->ps.n ? &m->ps.m[i] : NULL;
			return *raw != NULL ? item : NULL;
		}
		i++;
	}
	*raw = NULL;
	return NULL;
}

/*
 * Answer the request whose raw id is id (NULL: it had none): ok when code
 * is NULL, else a failure with code and message.
 */
static int
ctl_cmd_reply(struct ctl_link *l, const char *id, const char *code,
    const char *message)
{
	cJSON *o = cJSON_CreateObject();
	int rc;

	if (id != NULL) {
		cJSON_AddItemToObject(o, "id", cJSON_CreateRaw(id));
	}
	cJSON_AddBoolToObject(o, "ok", code == NULL);
	if (code != NULL) {
		cJSON_AddStringToObject(o, "error", code);
		cJSON_AddStringToObject(o, "message", message);
	}
	rc = ctl_link_send(l, o);
	cJSON_Delete(o);
	return rc;
}

static int
ctl_cmd_bad_request(struct ctl_link *l, struct ctl_cmd_msg *m,
    const char *message)
{
	log_warn("bad request from the server (%s): %.*s", message,
	    CTL_CMD_LOG_MAX, m->line);
	return ctl_cmd_reply(l, m->id, proto_err_code(ERR_BAD_REQUEST),
	    message);
}

/* An integer argument within [lo, hi]; -1 when absent or anything else. */
static int
ctl_cmd_int_arg(const struct ctl_cmd_msg *m, const char *name, int lo, int hi,
    int *out)
{
	const struct proto_member *raw;
	const cJSON *item = ctl_cmd_member(m, name, &raw);

	if (item == NULL || !cJSON_IsNumber(item) || !raw->integer ||
	    item->valuedouble < lo || item->valuedouble > hi) {
		return -1;
	}
	*out = (int)item->valuedouble;
	return 0;
}

/*
 * vend: check the arguments and schedule the vend; ctl_link's loop runs
 * it when its delay is over.  The server sends one vend at a time, so a
 * second one while the first is pending is refused rather than queued.
 */
static int
ctl_cmd_vend(struct ctl_link *l, struct ctl_cmd_msg *m)
{
	const struct proto_member *raw;
	struct ctl_vend *v = &l->vend;
	char why[96];
	int slot, delay = 0;

	if (v->active) {
		snprintf(why, sizeof(why), "a vend from slot %d is already in "
		    "progress", v->slot);
		log_warn("vend refused: %s", why);
		return ctl_cmd_reply(l, m->id, CTL_CMD_BUSY, why);
	}
	if (ctl_cmd_int_arg(m, "slot", HW_SLOT_MIN, HW_SLOT_MAX, &slot) != 0) {
		return ctl_cmd_bad_request(l, m, "slot must be an integer "
		    "1-255");
	}
	if (ctl_cmd_member(m, "delay", &raw) != NULL &&
	    ctl_cmd_int_arg(m, "delay", 0, CTL_DELAY_MAX, &delay) != 0) {
		return ctl_cmd_bad_request(l, m, "delay must be an integer "
		    "0-300");
	}
	v->active = 1;
	v->id = m->id != NULL ? xstrdup(m->id) : NULL;
	v->slot = slot;
	v->delay_s = delay;
	v->due = now_ms() + (int64_t)delay * 1000;
	if (delay > 0) {
		log_info("vend %s: slot %d in %d s", v->id ? v->id : "-", slot,
		    delay);
	}
	return 0;
}

static int
ctl_cmd_ping(struct ctl_link *l, struct ctl_cmd_msg *m)
{
	return ctl_cmd_reply(l, m->id, NULL, NULL);
}

static const struct ctl_cmd ctl_cmds[] = {
	{ "vend", ctl_cmd_vend },
	{ "ping", ctl_cmd_ping },
};

static const struct ctl_cmd *
ctl_cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++) {
		if (strcmp(ctl_cmds[i].name, name) == 0) {
			return &ctl_cmds[i];
		}
	}
	return NULL;
}

/*
 * Whether a reply answers one of our card_drops.  m->id is the id's raw
 * JSON text, quotes included, as the server echoed it.
 */
static int
ctl_cmd_is_card_reply(const struct ctl_cmd_msg *m)
{
	static const char prefix[] = "\"" CTL_CARD_ID_PREFIX;

	return m->id != NULL &&
	    strncmp(m->id, prefix, sizeof(prefix) - 1) == 0;
}

/*
 * A reply to one of our requests: a card_drop's outcome is what the
 * person at the machine is waiting for, so it is logged either way;
 * a ping's only when the server refused it.
 */
static void
ctl_cmd_on_reply(const struct ctl_cmd_msg *m)
{
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(m->obj, "error");
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(m->obj, "message");
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(m->obj, "user");
	const cJSON *balance = cJSON_GetObjectItemCaseSensitive(m->obj,
	    "balance");
	int card = ctl_cmd_is_card_reply(m);

	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m->obj, "ok"))) {
		if (card) {
			log_info("card drop %.*s done: %.*s charged, balance "
			    "%lld", CTL_CMD_LOG_MAX, m->id, CTL_CMD_LOG_MAX,
			    cJSON_IsString(user) ? user->valuestring : "?",
			    cJSON_IsNumber(balance) ?
			    (long long)balance->valuedouble : -1LL);
			return;
		}
		log_debug("server answered %s", m->id != NULL ? m->id : "-");
		return;
	}
	log_warn("server refused %s %.*s: %.*s: %.*s", card ? "card drop" :
	    "request", CTL_CMD_LOG_MAX, m->id != NULL ? m->id : "-",
	    CTL_CMD_LOG_MAX, cJSON_IsString(err) ? err->valuestring : "?",
	    CTL_CMD_LOG_MAX * 2, cJSON_IsString(text) ? text->valuestring : "");
}

static void
ctl_cmd_msg_free(struct ctl_cmd_msg *m)
{
	cJSON_Delete(m->obj);
	proto_scan_free(&m->ps);
	free(m->id);
}

int
ctl_cmd_dispatch(struct ctl_link *l, const char *line, size_t len)
{
	struct ctl_cmd_msg m = { .line = line };
	const struct proto_member *raw;
	const struct ctl_cmd *cmd;
	const cJSON *name;
	char why[96];
	int rc = 0;

	if (proto_scan(line, len, &m.ps) != 0 ||
	    (m.obj = cJSON_ParseWithLengthOpts(line, len + 1, NULL, 1)) ==
	    NULL || !cJSON_IsObject(m.obj)) {
		log_warn("ignoring a line that is not a JSON object: %.*s",
		    CTL_CMD_LOG_MAX, line);
		goto out;
	}
	if (ctl_cmd_member(&m, "id", &raw) != NULL) {
		m.id = xasprintf("%.*s", (int)raw->len, line + raw->off);
	}
	if ((name = ctl_cmd_member(&m, "cmd", &raw)) != NULL) {
		if (!cJSON_IsString(name) || m.ps.has_nul) {
			rc = ctl_cmd_bad_request(l, &m, "cmd must be a string");
		} else if ((cmd = ctl_cmd_find(name->valuestring)) == NULL) {
			snprintf(why, sizeof(why), "no command '%.*s' on a "
			    "machine", CTL_CMD_LOG_MAX, name->valuestring);
			log_warn("server sent an unknown command: %s", why);
			rc = ctl_cmd_reply(l, m.id,
			    proto_err_code(ERR_UNKNOWN_COMMAND), why);
		} else {
			rc = cmd->exec(l, &m);
		}
	} else if (cJSON_GetObjectItemCaseSensitive(m.obj, "ok") != NULL) {
		ctl_cmd_on_reply(&m);
	} else if (cJSON_GetObjectItemCaseSensitive(m.obj, "event") != NULL) {
		log_debug("ignoring server event: %.*s", CTL_CMD_LOG_MAX * 4,
		    line);
	} else {
		log_warn("ignoring a message with no cmd, ok or event: %.*s",
		    CTL_CMD_LOG_MAX, line);
	}
out:
	ctl_cmd_msg_free(&m);
	return rc;
}

static void
ctl_cmd_vend_clear(struct ctl_vend *v)
{
	free(v->id);
	memset(v, 0, sizeof(*v));
}

/*
 * The mechanism runs with the socket unread: the server sends one vend at
 * a time and the run is short, so nothing is lost by not listening.
 */
int
ctl_cmd_vend_run(struct ctl_link *l)
{
	struct ctl_vend *v = &l->vend;
	const char *code;
	enum hw_vend r;
	char msg[128] = "";
	int64_t t0;
	long long took;
	int rc;

	t0 = now_ms();
	r = l->cfg->hw_ops->vend(l->cfg->hw, v->slot, msg, sizeof(msg));
	took = (long long)(now_ms() - t0);
	if ((unsigned)r >= HW_VEND_COUNT) {
		snprintf(msg, sizeof(msg), "hardware returned %d", (int)r);
		r = HW_VEND_FAULT;
	}
	code = ctl_cmd_vend_codes[r];
	if (r == HW_VEND_OK) {
		log_info("vend %s: slot %d dropped in %lld ms (delay %d s)",
		    v->id ? v->id : "-", v->slot, took, v->delay_s);
		rc = ctl_cmd_reply(l, v->id, NULL, NULL);
	} else {
		log_warn("vend %s: slot %d failed in %lld ms: %s: %s",
		    v->id ? v->id : "-", v->slot, took, code, msg);
		rc = ctl_cmd_reply(l, v->id, code, msg);
	}
	if (rc != 0 && r == HW_VEND_OK) {
		log_warn("vend %s: the item dropped but the server could not "
		    "be told; it will not charge for it", v->id ? v->id : "-");
	}
	ctl_cmd_vend_clear(v);
	if (rc != 0) {
		return -1;
	}
	return ctl_link_send_slots(l);
}

int
ctl_cmd_vend_cancel(struct ctl_link *l, int reply, const char *why)
{
	struct ctl_vend *v = &l->vend;
	int rc = 0;

	if (!v->active) {
		return 0;
	}
	log_warn("vend %s: slot %d cancelled before dropping: %s",
	    v->id ? v->id : "-", v->slot, why);
	if (reply) {
		rc = ctl_cmd_reply(l, v->id, CTL_CMD_CANCELLED, why);
	}
	ctl_cmd_vend_clear(v);
	return rc;
}
