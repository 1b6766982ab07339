/*
 * Handlers for admin commands.  The dispatcher has already checked the
 * role and recorded nothing yet: it writes the audit row after the handler
 * returns, with the outcome.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drinkd.h"

#define LOG_DEFAULT_LIMIT 100

/* The message for exists: which kind of thing holds the name. */
static const char *
cmd_exists_message(struct db *db, const char *name)
{
	const char *owner = db_name_owner(db, name);

	if (owner == NULL) {
		return NULL;
	}
	return strcmp(owner, "user") == 0 ? "that name is taken by a user" :
	    "that name is taken by a machine";
}

/*
 * The password is hashed before the key is looked up, so a replay costs a
 * hash too; the stored result does not depend on it (the first hash wins).
 */
int
cmd_user_add(struct session *s, struct req *r)
{
	struct db_move m = { .actor = s->user, .user = req_str(r, "user") };
	char *hash;
	int rc;

	if ((hash = auth_hash(req_str(r, "password"))) == NULL) {
		return ERR_INTERNAL;
	}
	m.hash = hash;
	m.role = req_str(r, "role") != NULL ? req_str(r, "role") : "member";
	m.amount = req_int(r, "balance", 0);
	m.key = req_str(r, "key");
	m.request = r->request;
	rc = db_user_create(s->peer.srv->db, &m, r->reply);
	free(hash);
	if (rc == ERR_EXISTS) {
		r->message = cmd_exists_message(s->peer.srv->db, m.user);
	}
	return rc;
}

int
cmd_user_mod(struct session *s, struct req *r)
{
	const char *user = req_str(r, "user");
	const char *password = req_str(r, "password");
	char *hash = NULL;
	int rc, self, disabled = req_bool(r, "disabled");

	if (password != NULL && (hash = auth_hash(password)) == NULL) {
		return ERR_INTERNAL;
	}
	rc = db_user_mod(s->peer.srv->db, user, req_str(r, "role"), disabled,
	    hash, 1);
	free(hash);
	if (rc == ERR_CONFLICT) {
		snprintf(r->msgbuf, sizeof(r->msgbuf), "%s is the last admin; "
		    "make another admin first", user);
		r->message = r->msgbuf;
	}
	if (rc != ERR_NONE) {
		return rc;
	}
	/*
	 * A disabled or re-roled user's live sessions end now: sessions keep
	 * the role they logged in with, so they must log in again.  The
	 * admin's own session ends only after this reply, so they hear that
	 * the change was made.  A new password ends them too (their tokens
	 * are gone, and so must be whoever knew the old one), but not the
	 * admin's own session, as passwd leaves the session that asked.
	 */
	if (disabled == 1 || req_str(r, "role") != NULL || password != NULL) {
		self = strcmp(user, s->user) == 0 &&
		    (disabled == 1 || req_str(r, "role") != NULL);
		log_info("user %s %s; closed %d session(s)", user,
		    disabled == 1 ? "disabled" : req_str(r, "role") != NULL ?
		    "changed role" : "given a new password",
		    client_kick_user(user, &s->peer.client,
		    "closed by the server: user disabled or changed") + self);
		if (self) {
			s->ending = "closed by the server: user disabled or "
			    "changed";
		}
	}
	cJSON_AddStringToObject(r->reply, "user", user);
	return ERR_NONE;
}

int
cmd_users(struct session *s, struct req *r)
{
	return db_users(s->peer.srv->db, cJSON_AddArrayToObject(r->reply, "users"));
}

int
cmd_credit(struct session *s, struct req *r)
{
	return cmd_move(s, r, "user", "amount", db_credit);
}

int
cmd_debit(struct session *s, struct req *r)
{
	return cmd_move(s, r, "user", "amount", db_debit);
}

int
cmd_set_balance(struct session *s, struct req *r)
{
	int rc = cmd_move(s, r, "user", "balance", db_set_balance);

	if (rc == ERR_DROP_IN_PROGRESS) {
		snprintf(r->msgbuf, sizeof(r->msgbuf), "%s has a drop in "
		    "progress; set the balance again once it has ended",
		    req_str(r, "user"));
		r->message = r->msgbuf;
	}
	return rc;
}

int
cmd_refund(struct session *s, struct req *r)
{
	return cmd_move(s, r, "user", "amount", db_refund);
}

int
cmd_machine_add(struct session *s, struct req *r)
{
	int rc = db_machine_add(s->peer.srv->db, req_str(r, "machine"),
	    req_str(r, "name"));

	if (rc == ERR_NONE) {
		event_machine(s->peer.srv, req_str(r, "machine"));
	} else if (rc == ERR_EXISTS) {
		r->message = cmd_exists_message(s->peer.srv->db,
		    req_str(r, "machine"));
	}
	return rc;
}

/* A machine that is disabled or deleted loses its controller at once. */
static void
cmd_machine_gone(struct session *s, const char *machine,
    enum mach_close why, const char *what)
{
	if (vend_close(s->peer.srv->vends, machine, why)) {
		log_info("machine %s %s; its controller was disconnected",
		    machine, what);
	}
}

int
cmd_machine_mod(struct session *s, struct req *r)
{
	int rc, enabled = req_bool(r, "enabled");

	const char *pw = req_str(r, "legacy_password");
	char *hash = NULL;

	/* The board password first: hashing can fail, nothing changed. */
	if (pw != NULL && pw[0] != '\0' && (hash = auth_hash(pw)) == NULL) {
		return ERR_INTERNAL;
	}
	rc = pw != NULL ? db_machine_legacy_set(s->peer.srv->db,
	    req_str(r, "machine"), hash) : ERR_NONE;
	free(hash);
	if (rc == ERR_NONE) {
		rc = db_machine_mod(s->peer.srv->db, req_str(r, "machine"),
		    req_str(r, "name"), enabled);
	}
	if (rc == ERR_NONE && enabled == 0) {
		cmd_machine_gone(s, req_str(r, "machine"),
		    MACH_CLOSE_DISABLED, "disabled");
	}
	if (rc == ERR_NONE) {
		event_machine(s->peer.srv, req_str(r, "machine"));
	}
	return rc;
}

int
cmd_machine_del(struct session *s, struct req *r)
{
	const char *machine = req_str(r, "machine");
	/* What it was, for the event that says it is gone. */
	cJSON *last = event_machine_now(s->peer.srv, machine);
	int rc;

	if ((rc = db_machine_del(s->peer.srv->db, machine)) == ERR_NONE) {
		cmd_machine_gone(s, machine, MACH_CLOSE_DELETED, "deleted");
		event_machine_deleted(machine, last);
	}
	cJSON_Delete(last);
	return rc;
}

int
cmd_slot_set(struct session *s, struct req *r)
{
	int rc = db_slot_set(s->peer.srv->db, req_str(r, "machine"),
	    (int)req_int(r, "slot", 0), req_str(r, "item"),
	    req_int(r, "price", -1), req_int(r, "stock", -1),
	    req_bool(r, "enabled"), r->reply);

	if (rc == ERR_NONE) {
		event_slots(s->peer.srv, req_str(r, "machine"), NULL,
		    (int)req_int(r, "slot", 0));
	} else if (rc == ERR_BAD_REQUEST) {
		snprintf(r->msgbuf, sizeof(r->msgbuf), "slot %d of %s is not "
		    "set up yet: a new slot needs an item and a price "
		    "(missing %s)", (int)req_int(r, "slot", 0),
		    req_str(r, "machine"), req_str(r, "item") != NULL ?
		    "\"price\"" : req_int(r, "price", -1) >= 0 ? "\"item\"" :
		    "\"item\" and \"price\"");
		r->message = r->msgbuf;
	}
	return rc;
}

int
cmd_log(struct session *s, struct req *r)
{
	struct db_log_filter f;

	f.user = req_str(r, "user");
	f.machine = req_str(r, "machine");
	f.kind = req_str(r, "kind");
	f.since = req_int(r, "since", -1);
	f.until = req_int(r, "until", -1);
	f.before = req_int(r, "before", -1);
	f.limit = (int)req_int(r, "limit", LOG_DEFAULT_LIMIT);
	return db_log(s->peer.srv->db, &f,
	    cJSON_AddArrayToObject(r->reply, "transactions"));
}

int
cmd_kick(struct session *s, struct req *r)
{
	int64_t session = req_int(r, "session", 0);

	if (client_kick(session) != 0) {
		r->message = "no such session";
		return ERR_BAD_REQUEST;
	}
	log_info("session %lld kicked by %s", (long long)session, s->user);
	return ERR_NONE;
}
