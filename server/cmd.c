/*
 * The command table and the dispatcher.  Everything a handler may assume
 * is checked here, once: the request is a JSON object, the command exists,
 * the session's role allows it, every argument present has the right JSON
 * type and range, and a session logged in by a login token gave its user's
 * own password for a command a stolen token must not run (SPEC_A_OWN).
 * Handlers hold only domain logic.
 */
#include <stdlib.h>
#include <string.h>

#include "drinkd.h"

typedef int (*cmd_exec_fn)(struct session *, struct req *);

/*
 * The handler of each command of spec_table (common/spec.c), which says
 * who may run it and what its arguments are.  cmd_table_check() (run at
 * startup and by check_spec) finds a command without a handler here, or a
 * handler for no command.
 */
static const struct cmd_handler {
	const char *name;
	cmd_exec_fn exec;
} cmd_handlers[] = {
	{ "login", cmd_login },
	{ "logout", cmd_logout },
	{ "ping", cmd_ping },
	{ "machines", cmd_machines },
	{ "slots", cmd_slots },
	{ "quit", cmd_quit },
	{ "subscribe", cmd_subscribe },
	{ "unsubscribe", cmd_unsubscribe },
	{ "whoami", cmd_whoami },
	{ "balance", cmd_balance },
	{ "drop", cmd_drop },
	{ "send", cmd_send },
	{ "history", cmd_history },
	{ "who", cmd_who },
	{ "passwd", cmd_passwd },
	{ "token_create", cmd_token_create },
	{ "tokens", cmd_tokens },
	{ "token_revoke", cmd_token_revoke },
	{ "user_add", cmd_user_add },
	{ "user_mod", cmd_user_mod },
	{ "users", cmd_users },
	{ "credit", cmd_credit },
	{ "debit", cmd_debit },
	{ "set_balance", cmd_set_balance },
	{ "refund", cmd_refund },
	{ "machine_add", cmd_machine_add },
	{ "machine_mod", cmd_machine_mod },
	{ "machine_del", cmd_machine_del },
	{ "slot_set", cmd_slot_set },
	{ "log", cmd_log },
	{ "kick", cmd_kick },
	{ "card_add", cmd_card_add },
	{ "cards", cmd_cards },
	{ "card_del", cmd_card_del },
};
#define CMD_NHANDLERS (sizeof(cmd_handlers) / sizeof(cmd_handlers[0]))

/* A command as the dispatcher runs it: its specification and handler. */
struct cmd {
	const struct spec_cmd *spec;
	cmd_exec_fn exec;
};

static cmd_exec_fn
cmd_handler(const char *name)
{
	size_t i;

	for (i = 0; i < CMD_NHANDLERS; i++) {
		if (strcmp(cmd_handlers[i].name, name) == 0) {
			return cmd_handlers[i].exec;
		}
	}
	return NULL;
}

int
cmd_table_check(char *err, size_t len)
{
	size_t i;

	for (i = 0; i < spec_count; i++) {
		if (cmd_handler(spec_table[i].name) == NULL) {
			snprintf(err, len, "command %s has no handler",
			    spec_table[i].name);
			return -1;
		}
	}
	for (i = 0; i < spec_count; i++) {
		if ((spec_own(&spec_table[i]) != NULL) !=
		    (spec_table[i].own_for != NULL) ||
		    (spec_own(&spec_table[i]) != NULL &&
		    spec_own(&spec_table[i])->type != SPEC_T_SECRET)) {
			snprintf(err, len, "command %s: own_for goes with one "
			    "secret SPEC_A_OWN argument", spec_table[i].name);
			return -1;
		}
	}
	for (i = 0; i < CMD_NHANDLERS; i++) {
		if (spec_find(cmd_handlers[i].name) == NULL) {
			snprintf(err, len, "handler %s has no command",
			    cmd_handlers[i].name);
			return -1;
		}
	}
	return 0;
}

static int
cmd_find(const char *name, struct cmd *cmd)
{
	if ((cmd->spec = spec_find(name)) == NULL ||
	    (cmd->exec = cmd_handler(name)) == NULL) {
		return -1;
	}
	return 0;
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
	const struct spec_arg *a;
	const struct proto_member *pm;
	const cJSON *v;
	char why[256];
	cJSON *args = cJSON_CreateObject(), *canon;
	size_t i;
	int rc;

	for (i = 0; i < SPEC_MAX_ARGS && cmd->spec->args[i].field != NULL;
	    i++) {
		a = &cmd->spec->args[i];
		v = cJSON_GetObjectItemCaseSensitive(msg, a->field);
		if (v == NULL) {
			if (a->flags & SPEC_A_REQ) {
				snprintf(msgbuf, len, "missing argument \"%s\"",
				    a->field);
				cJSON_Delete(args);
				return ERR_BAD_REQUEST;
			}
			continue;
		}
		pm = proto_scan_find(ps, line, a->field);
		rc = spec_check(a, v, pm != NULL && pm->integer, why,
		    sizeof(why));
		if (rc != ERR_NONE) {
			snprintf(msgbuf, len, "\"%s\" %s", a->field, why);
			cJSON_Delete(args);
			return rc;
		}
		cJSON_AddItemToObject(args, a->field, cJSON_Duplicate(v, 1));
	}
	canon = cJSON_Duplicate(args, 1);
	cJSON_DeleteItemFromObjectCaseSensitive(canon, "key");
	for (i = 0; i < SPEC_MAX_ARGS && cmd->spec->args[i].field != NULL;
	    i++) {
		if (spec_secret(&cmd->spec->args[i])) {
			cJSON_DeleteItemFromObjectCaseSensitive(canon,
			    cmd->spec->args[i].field);
		}
	}
	cJSON_AddStringToObject(canon, "cmd", cmd->spec->name);
	r->request = proto_print(canon, NULL);
	cJSON_Delete(canon);
	r->args = args;
	return ERR_NONE;
}

/* A range given the wrong way round can hold nothing: say so. */
static int
cmd_check_order(const struct cmd *cmd, const struct req *r, char *msgbuf,
    size_t len)
{
	const struct spec_arg *lo, *hi;
	int64_t lo_v, hi_v;

	if (spec_check_order(cmd->spec, r->args, &lo, &hi, &lo_v, &hi_v) ==
	    ERR_NONE) {
		return ERR_NONE;
	}
	snprintf(msgbuf, len, "\"%s\" (%lld) is later than \"%s\" (%lld): "
	    "no transaction could match", lo->field, (long long)lo_v,
	    hi->field, (long long)hi_v);
	return ERR_BAD_REQUEST;
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

/*
 * The session user's own password, for a command whose SPEC_A_OWN argument
 * carries it (card_add, user_add, user_mod): what it does would outlive a
 * stolen login token's revocation.  Required of a session that logged in
 * by token and has not shown the password since (forbidden without it);
 * checked whenever given, as a login's is: throttled on the account's and
 * the address's records, a wrong one counted as a failed login of the
 * account, a right one clears them and shows the password, so the session
 * counts as a login by password from then on.
 */
static int
cmd_own_password(struct session *s, const struct cmd *cmd, struct req *r)
{
	const struct spec_arg *a = spec_own(cmd->spec);
	const char *name = cmd->spec->name, *address = s->peer.client.address;
	const char *password;
	struct db_user u;
	int64_t wait;
	int rc;

	if (a == NULL) {
		return ERR_NONE;
	}
	if ((password = req_str(r, a->field)) == NULL) {
		if (!s->token_only) {
			return ERR_NONE;
		}
		log_info("%s refused to %s: session %lld is logged in by token "
		    "%lld and gave no password", name, s->user,
		    (long long)s->peer.client.session, (long long)s->token_id);
		snprintf(r->msgbuf, sizeof(r->msgbuf), "give your password to "
		    "%s: this session logged in by a login token",
		    cmd->spec->own_for);
		r->message = r->msgbuf;
		return ERR_FORBIDDEN;
	}
	if ((wait = auth_throttled(s->user, address)) > 0) {
		r->retry_after = wait;
		log_info("%s throttled: password of %s from %s, retry after "
		    "%lld s", name, s->user, address, (long long)wait);
		return ERR_LOCKED_OUT;
	}
	if ((rc = db_user_get(s->peer.srv->db, s->user, &u)) != ERR_NONE) {
		return rc;
	}
	if (!auth_verify(u.hash, password)) {
		auth_account_failed(s->user, address);
		log_info("%s: wrong password for %s from %s", name, s->user,
		    address);
		r->message = "wrong password";
		return ERR_BAD_CREDENTIALS;
	}
	auth_succeeded(s->user, address);
	session_password_shown(s);
	return ERR_NONE;
}

/* Record an admin command with its arguments, passwords removed. */
static void
cmd_audit(struct session *s, const struct cmd *cmd, const cJSON *msg,
    int rc)
{
	cJSON *args = cJSON_Duplicate(msg, 1);
	char *text;
	size_t i;

	cJSON_DeleteItemFromObjectCaseSensitive(args, "cmd");
	cJSON_DeleteItemFromObjectCaseSensitive(args, "id");
	for (i = 0; i < SPEC_MAX_ARGS && cmd->spec->args[i].field != NULL;
	    i++) {
		if (spec_secret(&cmd->spec->args[i]) &&
		    cJSON_HasObjectItem(args, cmd->spec->args[i].field)) {
			cJSON_ReplaceItemInObjectCaseSensitive(args,
			    cmd->spec->args[i].field,
			    cJSON_CreateString("***"));
		}
	}
	text = proto_print(args, NULL);
	if (db_audit(s->peer.srv->db, s->peer.client.session, s->user,
	    cmd->spec->name,
	    text != NULL ? text : "{}", proto_err_code(rc)) != ERR_NONE) {
		log_err("audit record failed for %s by %s", cmd->spec->name,
		    s->user);
	}
	log_info("admin %s: %s %s -> %s", s->user, cmd->spec->name,
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
	struct cmd cmd_s, *cmd = NULL;
	const cJSON *name;
	cJSON *msg = NULL, *id = NULL, *reply;
	char msgbuf[400], *out;
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
	} else if (cmd_find(name->valuestring, &cmd_s) != 0) {
		rc = ERR_UNKNOWN_COMMAND;
	} else if ((cmd = &cmd_s)->spec->role != SPEC_ANYONE &&
	    !s->logged_in) {
		rc = ERR_AUTH_REQUIRED;
	} else if (cmd->spec->role == SPEC_ADMIN && !s->admin) {
		rc = ERR_FORBIDDEN;
	} else {
		r.msg = msg;
		rc = cmd_check_args(cmd, msg, line, &ps, &r, msgbuf,
		    sizeof(msgbuf));
		if (rc == ERR_NONE) {
			rc = cmd_check_order(cmd, &r, msgbuf, sizeof(msgbuf));
		}
		if (rc == ERR_NONE && (cmd->spec->flags & SPEC_CMD_OWNER) &&
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
		db_set_op(cmd->spec->name);
		(void)db_take_refused();
		/* Audited with the command when refused, as an admin's is. */
		if ((rc = cmd_own_password(s, cmd, &r)) == ERR_NONE) {
			rc = cmd->exec(s, &r);
		}
		/* Refused before it was tried: nothing was applied. */
		if (rc == ERR_INTERNAL && db_take_refused()) {
			rc = ERR_UNAVAILABLE;
		}
		if (rc == ERR_UNAVAILABLE) {
			r.retry_after = db_retry_after(s->peer.srv->db);
		}
		if (cmd->spec->role == SPEC_ADMIN) {
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
		if (rc == ERR_LOCKED_OUT || rc == ERR_UNAVAILABLE) {
			cJSON_AddNumberToObject(reply, "retry_after",
			    (double)r.retry_after);
		}
	}
	out = proto_line(reply, outlen);
	cJSON_Delete(reply);
	cJSON_Delete(msg);
	cJSON_Delete(r.args);
	free(r.request);
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
