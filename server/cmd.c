/*
 * The command table and the dispatcher.  Everything a handler may assume
 * is checked here, once: the request is a JSON object, the command exists,
 * the session's role allows it, and every argument present has the right
 * JSON type and range.  Handlers hold only domain logic.
 */
#include <stdlib.h>
#include <string.h>

#include "drinkd.h"

#define CMD_F_AUTH 0x1	/* needs a logged-in member or admin */
#define CMD_F_ADMIN 0x2 /* needs an admin; recorded in the audit table */
#define CMD_F_OWNER 0x4 /* a "user" argument naming another needs an admin */

enum arg_type {
	ARG_STRING,	/* any string */
	ARG_NAME,	/* user or machine name */
	ARG_NOTE,	/* free text, at most PROTO_NOTE_MAX bytes */
	ARG_KEY,	/* idempotency key, 1..PROTO_KEY_MAX bytes */
	ARG_SECRET,	/* password: 1..1024 bytes, never logged */
	ARG_ROLE,	/* "member" or "admin" */
	ARG_KIND,	/* a transaction kind */
	ARG_AMOUNT,	/* credits: integer, min..PROTO_MAX_AMOUNT */
	ARG_INT,	/* integer within min..max */
	ARG_BOOL,
	ARG_CARD,	/* card UID: 4..32 hex digits */
	ARG_LABEL,	/* free text, at most CMD_LABEL_MAX bytes */
	ARG_ARRAY,	/* a JSON array (the handler checks its items) */
	ARG_BOARD_PW,	/* a tini board's password: 0..64 printable ASCII,
			 * no edge spaces; never logged */
};
#define CMD_LABEL_MAX 64

#define ARG_REQ 1
#define ARG_OPT 0
#define CMD_MAX_ARGS 8

struct cmd_arg {
	const char *name;
	enum arg_type type;
	int required;
	int64_t min, max;
};

struct cmd {
	const char *name;
	int flags;
	int (*exec)(struct session *, struct req *);
	struct cmd_arg args[CMD_MAX_ARGS];
};

#define NAME(n, r) { n, ARG_NAME, r, 0, 0 }
#define AMOUNT(n, r, lo) { n, ARG_AMOUNT, r, lo, PROTO_MAX_AMOUNT }
#define INT(n, r, lo, hi) { n, ARG_INT, r, lo, hi }
#define TYPED(n, t, r) { n, t, r, 0, 0 }
#define SECRET(n, r) TYPED(n, ARG_SECRET, r)
#define NOTE(r) TYPED("note", ARG_NOTE, r)
#define KEY TYPED("key", ARG_KEY, ARG_OPT)
#define TIME(n) INT(n, ARG_OPT, 0, INT64_C(1) << 40)

static const struct cmd cmd_table[] = {
	/* user and password, or token: cmd_login checks which. */
	{ "login", 0, cmd_login, { NAME("user", ARG_OPT),
	    SECRET("password", ARG_OPT), SECRET("token", ARG_OPT) } },
	{ "logout", 0, cmd_logout, { { 0 } } },
	{ "ping", 0, cmd_ping, { TYPED("data", ARG_STRING, ARG_OPT) } },
	{ "machines", 0, cmd_machines, { { 0 } } },
	{ "slots", 0, cmd_slots, { NAME("machine", ARG_REQ) } },
	{ "quit", 0, cmd_quit, { { 0 } } },
	{ "subscribe", 0, cmd_subscribe, { TYPED("topics", ARG_ARRAY,
	    ARG_REQ) } },
	{ "unsubscribe", 0, cmd_unsubscribe, { TYPED("topics", ARG_ARRAY,
	    ARG_OPT) } },

	{ "whoami", CMD_F_AUTH, cmd_whoami, { { 0 } } },
	{ "balance", CMD_F_AUTH, cmd_balance, { { 0 } } },
	{ "drop", CMD_F_AUTH, cmd_drop, { NAME("machine", ARG_REQ),
	    INT("slot", ARG_REQ, 1, 255), INT("delay", ARG_OPT, 0, 300),
	    KEY } },
	{ "send", CMD_F_AUTH, cmd_send, { NAME("to", ARG_REQ),
	    AMOUNT("amount", ARG_REQ, 1), NOTE(ARG_OPT), KEY } },
	{ "history", CMD_F_AUTH, cmd_history, { INT("limit", ARG_OPT, 1, 1000),
	    INT("before", ARG_OPT, 1, INT64_C(1) << 53) } },
	{ "who", CMD_F_AUTH, cmd_who, { { 0 } } },
	{ "passwd", CMD_F_AUTH, cmd_passwd, { SECRET("old", ARG_REQ),
	    SECRET("new", ARG_REQ) } },
	{ "token_create", CMD_F_AUTH, cmd_token_create, {
	    TYPED("label", ARG_LABEL, ARG_OPT), INT("days", ARG_OPT, 1, 365) } },
	{ "tokens", CMD_F_AUTH, cmd_tokens, { { 0 } } },
	{ "token_revoke", CMD_F_AUTH, cmd_token_revoke, {
	    INT("token_id", ARG_REQ, 1, INT64_C(1) << 53) } },

	{ "user_add", CMD_F_ADMIN, cmd_user_add, { NAME("user", ARG_REQ),
	    SECRET("password", ARG_REQ), TYPED("role", ARG_ROLE, ARG_OPT),
	    AMOUNT("balance", ARG_OPT, 0), KEY } },
	{ "user_mod", CMD_F_ADMIN, cmd_user_mod, { NAME("user", ARG_REQ),
	    TYPED("role", ARG_ROLE, ARG_OPT),
	    TYPED("disabled", ARG_BOOL, ARG_OPT),
	    SECRET("password", ARG_OPT) } },
	{ "users", CMD_F_ADMIN, cmd_users, { { 0 } } },
	{ "credit", CMD_F_ADMIN, cmd_credit, { NAME("user", ARG_REQ),
	    AMOUNT("amount", ARG_REQ, 1), NOTE(ARG_REQ), KEY } },
	{ "debit", CMD_F_ADMIN, cmd_debit, { NAME("user", ARG_REQ),
	    AMOUNT("amount", ARG_REQ, 1), NOTE(ARG_REQ), KEY } },
	{ "set_balance", CMD_F_ADMIN, cmd_set_balance, { NAME("user", ARG_REQ),
	    AMOUNT("balance", ARG_REQ, 0), NOTE(ARG_REQ), KEY } },
	{ "refund", CMD_F_ADMIN, cmd_refund, {
	    INT("tx", ARG_REQ, 1, INT64_C(1) << 53), NOTE(ARG_REQ), KEY } },
	{ "machine_add", CMD_F_ADMIN, cmd_machine_add, {
	    NAME("machine", ARG_REQ), TYPED("name", ARG_NOTE, ARG_REQ) } },
	{ "machine_mod", CMD_F_ADMIN, cmd_machine_mod, {
	    NAME("machine", ARG_REQ), TYPED("name", ARG_NOTE, ARG_OPT),
	    TYPED("enabled", ARG_BOOL, ARG_OPT),
	    TYPED("legacy_password", ARG_BOARD_PW, ARG_OPT) } },
	{ "machine_del", CMD_F_ADMIN, cmd_machine_del, {
	    NAME("machine", ARG_REQ) } },
	{ "slot_set", CMD_F_ADMIN, cmd_slot_set, { NAME("machine", ARG_REQ),
	    INT("slot", ARG_REQ, 1, 255), TYPED("item", ARG_NOTE, ARG_OPT),
	    AMOUNT("price", ARG_OPT, 0),
	    INT("stock", ARG_OPT, 0, PROTO_MAX_AMOUNT),
	    TYPED("enabled", ARG_BOOL, ARG_OPT) } },
	{ "log", CMD_F_ADMIN, cmd_log, { NAME("user", ARG_OPT),
	    NAME("machine", ARG_OPT), TYPED("kind", ARG_KIND, ARG_OPT),
	    TIME("since"), TIME("until"), INT("limit", ARG_OPT, 1, 1000),
	    INT("before", ARG_OPT, 1, INT64_C(1) << 53) } },
	{ "kick", CMD_F_ADMIN, cmd_kick, {
	    INT("session", ARG_REQ, 1, INT64_C(1) << 53) } },

	{ "card_add", CMD_F_AUTH | CMD_F_OWNER, cmd_card_add, {
	    TYPED("card", ARG_CARD, ARG_REQ), TYPED("label", ARG_NOTE, ARG_OPT),
	    NAME("user", ARG_OPT) } },
	{ "cards", CMD_F_AUTH | CMD_F_OWNER, cmd_cards, {
	    NAME("user", ARG_OPT) } },
	{ "card_del", CMD_F_AUTH | CMD_F_OWNER, cmd_card_del, {
	    INT("card_id", ARG_REQ, 1, INT64_C(1) << 53),
	    NAME("user", ARG_OPT) } },
};

static const char *const cmd_kinds[] = {
	"drop", "refund", "transfer", "credit", "debit", "adjust", NULL
};

static const struct cmd *
cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++) {
		if (strcmp(cmd_table[i].name, name) == 0) {
			return &cmd_table[i];
		}
	}
	return NULL;
}

static int
cmd_in(const char *s, const char *const *list)
{
	for (; *list != NULL; list++) {
		if (strcmp(s, *list) == 0) {
			return 1;
		}
	}
	return 0;
}

/* LEGACY.md 3.1: 1-64 printable ASCII bytes, no edge spaces; "" clears. */
static int
cmd_board_pw(const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e) {
			return 0;
		}
	}
	return n <= 64 && (n == 0 || (s[0] != ' ' && s[n - 1] != ' '));
}

static int
cmd_check_string(const cJSON *v, size_t min, size_t max)
{
	size_t n;

	if (!cJSON_IsString(v) || v->valuestring == NULL) {
		return 0;
	}
	n = strlen(v->valuestring);
	return n >= min && n <= max;
}

/*
 * Check one argument; ERR_NONE or the error to answer, with a message.
 * integer says whether the raw literal was a plain integer.
 */
static int
cmd_check_arg(const struct cmd_arg *a, const cJSON *v, int integer,
    const char **why)
{
	static const char *const roles[] = { "member", "admin", NULL };
	double d;

	switch (a->type) {
	case ARG_STRING:
		*why = "must be a string";
		return cJSON_IsString(v) ? ERR_NONE : ERR_BAD_REQUEST;
	case ARG_SECRET:
		*why = "must be a string of 1 to 1024 bytes";
		return cmd_check_string(v, 1, 1024) ? ERR_NONE :
		    ERR_BAD_REQUEST;
	case ARG_NOTE:
		*why = "must be a string of at most 200 bytes";
		return cmd_check_string(v, 0, PROTO_NOTE_MAX) ? ERR_NONE :
		    ERR_BAD_REQUEST;
	case ARG_KEY:
		*why = "must be a string of 1 to 64 bytes";
		return cmd_check_string(v, 1, PROTO_KEY_MAX) ? ERR_NONE :
		    ERR_BAD_REQUEST;
	case ARG_NAME:
		*why = "must match ^[a-z][a-z0-9_.-]{0,31}$";
		return cJSON_IsString(v) && proto_valid_name(v->valuestring) ?
		    ERR_NONE : ERR_BAD_REQUEST;
	case ARG_ROLE:
		*why = "must be \"member\" or \"admin\"";
		return cJSON_IsString(v) && cmd_in(v->valuestring, roles) ?
		    ERR_NONE : ERR_BAD_REQUEST;
	case ARG_KIND:
		*why = "must be a transaction kind";
		return cJSON_IsString(v) && cmd_in(v->valuestring, cmd_kinds) ?
		    ERR_NONE : ERR_BAD_REQUEST;
	case ARG_BOOL:
		*why = "must be true or false";
		return cJSON_IsBool(v) ? ERR_NONE : ERR_BAD_REQUEST;
	case ARG_BOARD_PW:
		*why = "must be 0 to 64 printable ASCII bytes without spaces "
		    "at either end";
		return cJSON_IsString(v) && cmd_board_pw(v->valuestring) ?
		    ERR_NONE : ERR_BAD_REQUEST;
	case ARG_CARD:
		*why = "must be 4 to 32 hex digits";
		return cJSON_IsString(v) && proto_valid_card(v->valuestring) ?
		    ERR_NONE : ERR_BAD_REQUEST;
	case ARG_LABEL:
		*why = "must be a string of at most 64 bytes";
		return cmd_check_string(v, 0, CMD_LABEL_MAX) ? ERR_NONE :
		    ERR_BAD_REQUEST;
	case ARG_ARRAY:
		*why = "must be an array";
		return cJSON_IsArray(v) ? ERR_NONE : ERR_BAD_REQUEST;
	case ARG_AMOUNT:
		*why = "must be a number";
		if (!cJSON_IsNumber(v)) {
			return ERR_BAD_REQUEST;
		}
		d = v->valuedouble;
		*why = a->min > 0 ? "must be a whole number from 1 to "
		    "1000000000" : "must be a whole number from 0 to "
		    "1000000000";
		return integer && d >= (double)a->min && d <= (double)a->max ?
		    ERR_NONE : ERR_INVALID_AMOUNT;
	case ARG_INT:
		*why = "must be a whole number in range";
		if (!cJSON_IsNumber(v)) {
			return ERR_BAD_REQUEST;
		}
		d = v->valuedouble;
		return integer && d >= (double)a->min && d <= (double)a->max ?
		    ERR_NONE : ERR_BAD_REQUEST;
	}
	return ERR_INTERNAL;
}

/*
 * Check the arguments of cmd in msg.  On success r->args holds exactly the
 * declared arguments that were given (handlers see nothing else) and
 * r->request their canonical form without "key", for idempotency.
 * Secrets stay out of the canonical form: it is stored with the key, and
 * a password must never be stored in the clear.
 */
static int
cmd_check_args(const struct cmd *cmd, const cJSON *msg, const char *line,
    const struct proto_scan *ps, struct req *r, char *msgbuf, size_t len)
{
	const struct cmd_arg *a;
	const struct proto_member *pm;
	const cJSON *v;
	const char *why = "";
	cJSON *args = cJSON_CreateObject(), *canon;
	int i, rc;

	for (i = 0; i < CMD_MAX_ARGS && cmd->args[i].name != NULL; i++) {
		a = &cmd->args[i];
		v = cJSON_GetObjectItemCaseSensitive(msg, a->name);
		if (v == NULL) {
			if (a->required) {
				snprintf(msgbuf, len, "missing argument \"%s\"",
				    a->name);
				cJSON_Delete(args);
				return ERR_BAD_REQUEST;
			}
			continue;
		}
		pm = proto_scan_find(ps, line, a->name);
		rc = cmd_check_arg(a, v, pm != NULL && pm->integer, &why);
		if (rc != ERR_NONE) {
			snprintf(msgbuf, len, "\"%s\" %s", a->name, why);
			cJSON_Delete(args);
			return rc;
		}
		cJSON_AddItemToObject(args, a->name, cJSON_Duplicate(v, 1));
	}
	canon = cJSON_Duplicate(args, 1);
	cJSON_DeleteItemFromObjectCaseSensitive(canon, "key");
	for (i = 0; i < CMD_MAX_ARGS && cmd->args[i].name != NULL; i++) {
		if (cmd->args[i].type == ARG_SECRET) {
			cJSON_DeleteItemFromObjectCaseSensitive(canon,
			    cmd->args[i].name);
		}
	}
	cJSON_AddStringToObject(canon, "cmd", cmd->name);
	r->request = cJSON_PrintUnformatted(canon);
	cJSON_Delete(canon);
	r->args = args;
	return ERR_NONE;
}

const char *
req_str(const struct req *r, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->args, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int64_t
req_int(const struct req *r, const char *name, int64_t dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->args, name);

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : dflt;
}

/* -1 absent, 0 false, 1 true. */
int
req_bool(const struct req *r, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->args, name);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : -1;
}

static cJSON *
cmd_error_reply(cJSON *id, int err, const char *message)
{
	cJSON *o = cJSON_CreateObject();

	if (id != NULL) {
		cJSON_AddItemToObject(o, "id", id);
	}
	cJSON_AddBoolToObject(o, "ok", 0);
	cJSON_AddStringToObject(o, "error", proto_err_code(err));
	cJSON_AddStringToObject(o, "message",
	    message != NULL ? message : proto_err_message(err));
	return o;
}

/*
 * The request's "id", re-emitted from its raw text so it is verbatim: a
 * string or an integer literal.  Anything else is refused (*valid = 0) and
 * still echoed when its text is clean, so the client can match the error.
 */
static cJSON *
cmd_id(const char *line, const struct proto_scan *ps, int *valid)
{
	const struct proto_member *pm = proto_scan_find(ps, line, "id");
	char *raw;
	cJSON *out;

	*valid = 1;
	if (pm == NULL) {
		return NULL;
	}
	raw = xmalloc(pm->len + 1);
	memcpy(raw, line + pm->off, pm->len);
	raw[pm->len] = '\0';
	/* Echo only text that is itself valid JSON, whatever the rest is. */
	if (!pm->clean ||
	    (out = cJSON_ParseWithOpts(raw, NULL, 1)) == NULL) {
		free(raw);
		*valid = 0;
		return NULL;
	}
	*valid = cJSON_IsString(out) || (cJSON_IsNumber(out) && pm->integer);
	cJSON_Delete(out);
	out = cJSON_CreateRaw(raw);
	free(raw);
	return out;
}

/* Record an admin command with its arguments, passwords removed. */
static void
cmd_audit(struct session *s, const struct cmd *cmd, const cJSON *msg,
    int rc)
{
	cJSON *args = cJSON_Duplicate(msg, 1);
	char *text;
	int i;

	cJSON_DeleteItemFromObjectCaseSensitive(args, "cmd");
	cJSON_DeleteItemFromObjectCaseSensitive(args, "id");
	for (i = 0; i < CMD_MAX_ARGS && cmd->args[i].name != NULL; i++) {
		if ((cmd->args[i].type == ARG_SECRET ||
		    cmd->args[i].type == ARG_BOARD_PW) &&
		    cJSON_HasObjectItem(args, cmd->args[i].name)) {
			cJSON_ReplaceItemInObjectCaseSensitive(args,
			    cmd->args[i].name, cJSON_CreateString("***"));
		}
	}
	text = cJSON_PrintUnformatted(args);
	if (db_audit(s->peer.srv->db, s->peer.client.session, s->user, cmd->name,
	    text != NULL ? text : "{}", proto_err_code(rc)) != ERR_NONE) {
		log_err("audit record failed for %s by %s", cmd->name,
		    s->user);
	}
	log_info("admin %s: %s %s -> %s", s->user, cmd->name,
	    text != NULL ? text : "{}", proto_err_code(rc));
	free(text);
	cJSON_Delete(args);
}

/*
 * Parse, validate, run.  The reply is always produced, even for a line
 * that is not JSON at all; the connection stays up.
 */
char *
cmd_dispatch(struct session *s, const char *line, size_t len, size_t *outlen)
{
	struct proto_scan ps;
	struct req r = { .balance = -1 };
	const struct cmd *cmd = NULL;
	const cJSON *name;
	cJSON *msg = NULL, *id = NULL, *reply;
	char msgbuf[160], *out;
	int rc, id_valid = 1;

	msgbuf[0] = '\0';
	if (proto_scan(line, len, &ps) != 0) {
		rc = ERR_BAD_REQUEST;
		snprintf(msgbuf, sizeof(msgbuf),
		    "request must be one JSON object on one line");
		goto reply;
	}
	id = cmd_id(line, &ps, &id_valid);
	if (ps.too_deep || ps.has_ctl || ps.has_nul || ps.bad_utf8 ||
	    ps.escaped_key) {
		rc = ERR_BAD_REQUEST;
		snprintf(msgbuf, sizeof(msgbuf), "%s", ps.too_deep ?
		    "request nested too deeply" : ps.has_ctl ?
		    "control characters in strings must be escaped" :
		    ps.has_nul ? "strings may not contain NUL characters" :
		    ps.bad_utf8 ? "strings must be valid UTF-8" :
		    "argument names may not use escapes");
		goto reply;
	}
	if ((msg = cJSON_ParseWithLengthOpts(line, len + 1, NULL, 1)) ==
	    NULL || !cJSON_IsObject(msg)) {
		rc = ERR_BAD_REQUEST;
		snprintf(msgbuf, sizeof(msgbuf),
		    "request must be one JSON object on one line");
		goto reply;
	}
	name = cJSON_GetObjectItemCaseSensitive(msg, "cmd");
	if (!id_valid) {
		rc = ERR_BAD_REQUEST;
		snprintf(msgbuf, sizeof(msgbuf),
		    "\"id\" must be an integer or a string");
	} else if (!cJSON_IsString(name)) {
		rc = ERR_BAD_REQUEST;
		snprintf(msgbuf, sizeof(msgbuf),
		    "\"cmd\" must be present and a string");
	} else if ((cmd = cmd_find(name->valuestring)) == NULL) {
		rc = ERR_UNKNOWN_COMMAND;
	} else if ((cmd->flags & (CMD_F_AUTH | CMD_F_ADMIN)) &&
	    !s->logged_in) {
		rc = ERR_AUTH_REQUIRED;
	} else if ((cmd->flags & CMD_F_ADMIN) && !s->admin) {
		rc = ERR_FORBIDDEN;
	} else {
		r.msg = msg;
		rc = cmd_check_args(cmd, msg, line, &ps, &r, msgbuf,
		    sizeof(msgbuf));
		if (rc == ERR_NONE && (cmd->flags & CMD_F_OWNER) &&
		    !s->admin && req_str(&r, "user") != NULL &&
		    strcmp(req_str(&r, "user"), s->user) != 0) {
			rc = ERR_FORBIDDEN;
		}
	}
	if (rc == ERR_NONE) {
		r.reply = cJSON_CreateObject();
		if (id != NULL) {
			cJSON_AddItemToObject(r.reply, "id", id);
			id = NULL;
		}
		cJSON_AddBoolToObject(r.reply, "ok", 1);
		rc = cmd->exec(s, &r);
		if (cmd->flags & CMD_F_ADMIN) {
			cmd_audit(s, cmd, msg, rc);
		}
		if (rc != ERR_NONE) {
			/* Take the echoed id back out of the discarded reply. */
			id = cJSON_DetachItemFromObjectCaseSensitive(r.reply,
			    "id");
			cJSON_Delete(r.reply);
			r.reply = NULL;
		}
	}
reply:
	if (rc == ERR_NONE) {
		reply = r.reply;
	} else {
		reply = cmd_error_reply(id, rc, r.message != NULL ? r.message :
		    msgbuf[0] != '\0' ? msgbuf : NULL);
		if (rc == ERR_INSUFFICIENT_FUNDS && r.balance >= 0) {
			cJSON_AddNumberToObject(reply, "balance",
			    (double)r.balance);
		}
		if (rc == ERR_LOCKED_OUT) {
			cJSON_AddNumberToObject(reply, "retry_after",
			    (double)r.retry_after);
		}
	}
	out = proto_line(reply, outlen);
	cJSON_Delete(reply);
	cJSON_Delete(msg);
	cJSON_Delete(r.args);
	cJSON_free(r.request);
	proto_scan_free(&ps);
	return out;
}

char *
cmd_line_too_long(size_t *outlen)
{
	cJSON *reply = cmd_error_reply(NULL, ERR_LINE_TOO_LONG, NULL);
	char *out = proto_line(reply, outlen);

	cJSON_Delete(reply);
	return out;
}
