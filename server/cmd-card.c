/*
 * Handlers for a member's cards (PROTOCOL.md section 11): bind, list and
 * unbind, for oneself or, as an admin, for the member named by "user".
 * The dispatcher has already refused "user" naming someone else to a
 * non-admin (CMD_F_OWNER).  UIDs are never logged.
 *
 * A bound card logs its owner in (Sunday's IBUTTON, a machine's reader),
 * and card_add cannot help telling whether a card is bound: it binds a
 * free one and must refuse a bound one.  So each card_add a member makes
 * is a guess, throttled per member and per address like logins
 * (auth_card_*), and a full account is refused before the card is looked
 * at (db_card_add).  An admin, who can reset anyone's password, learns
 * nothing that way and binds cards in bulk: not counted.
 *
 * A bound card goes on paying after the login that bound it ends, so a
 * session logged in by a login token (which may have been stolen) binds
 * one only with the member's password ("password", checked as a login's
 * is); once shown, the session counts as a login by password, as after
 * passwd.  An admin's session is no exception: the password is theirs.
 */
#include <string.h>

#include "drinkd.h"

/* Whose cards a request is about: "user" when given, else oneself. */
static const char *
cmd_card_user(struct session *s, struct req *r)
{
	const char *user = req_str(r, "user");

	return user != NULL ? user : s->user;
}

/*
 * The password card_add carries, checked like a login's: throttled on the
 * account's and the address's records, a wrong one counted as a failed
 * login of the account.  Required of a session that logged in by token
 * and has not shown the password since; checked whenever given.
 */
static int
cmd_card_password(struct session *s, struct req *r)
{
	const char *password = req_str(r, "password");
	const char *address = s->peer.client.address;
	struct db_user u;
	int64_t wait;
	int rc;

	if (password == NULL) {
		if (!s->token_only) {
			return ERR_NONE;
		}
		log_info("card_add refused to %s: session %lld is logged in "
		    "by token %lld and gave no password", s->user,
		    (long long)s->peer.client.session, (long long)s->token_id);
		r->message = "give your password to bind a card: this session "
		    "logged in by a login token";
		return ERR_FORBIDDEN;
	}
	if ((wait = auth_throttled(s->user, address)) > 0) {
		r->retry_after = wait;
		log_info("card_add throttled: password of %s from %s, retry "
		    "after %lld s", s->user, address, (long long)wait);
		return ERR_LOCKED_OUT;
	}
	if ((rc = db_user_get(s->peer.srv->db, s->user, &u)) != ERR_NONE) {
		return rc;
	}
	if (!auth_verify(u.hash, password)) {
		auth_account_failed(s->user, address);
		log_info("card_add: wrong password for %s from %s", s->user,
		    address);
		r->message = "wrong password";
		return ERR_BAD_CREDENTIALS;
	}
	auth_succeeded(s->user, address);
	session_password_shown(s);
	return ERR_NONE;
}

int
cmd_card_add(struct session *s, struct req *r)
{
	const char *user = cmd_card_user(s, r);
	const char *address = s->peer.client.address;
	int64_t id = 0, wait;
	int rc;

	if ((rc = cmd_card_password(s, r)) != ERR_NONE) {
		return rc;
	}
	if (!s->admin && (wait = auth_card_throttled(AUTH_CARD_ADD, s->user,
	    address)) > 0) {
		r->retry_after = wait;
		r->message = "too many cards tried; try again later";
		log_info("card_add throttled: user %s from %s, retry after "
		    "%lld s", s->user, address, (long long)wait);
		return ERR_LOCKED_OUT;
	}
	rc = db_card_add(s->peer.srv->db, user, req_str(r, "card"),
	    req_str(r, "label"), &id);
	if (!s->admin && (rc == ERR_NONE || rc == ERR_EXISTS)) {
		auth_card_guess(AUTH_CARD_ADD, s->user, address);
	}
	if (rc == ERR_EXISTS) {
		r->message = "that card is already bound to an account";
		log_info("card_add by %s from %s: the card is already bound",
		    s->user, address);
	} else if (rc == ERR_BAD_REQUEST) {
		snprintf(r->msgbuf, sizeof(r->msgbuf),
		    "at most %d cards per member", DB_CARDS_MAX);
		r->message = r->msgbuf;
	}
	if (rc != ERR_NONE) {
		return rc;
	}
	log_info("card %lld bound to %s by %s", (long long)id, user, s->user);
	cJSON_AddNumberToObject(r->reply, "card_id", (double)id);
	cJSON_AddStringToObject(r->reply, "user", user);
	return ERR_NONE;
}

int
cmd_cards(struct session *s, struct req *r)
{
	const char *user = cmd_card_user(s, r);

	cJSON_AddStringToObject(r->reply, "user", user);
	return db_cards(s->peer.srv->db, user,
	    cJSON_AddArrayToObject(r->reply, "cards"));
}

int
cmd_card_del(struct session *s, struct req *r)
{
	const char *user = cmd_card_user(s, r);
	int64_t id = req_int(r, "card_id", 0);
	int rc;

	if ((rc = db_card_del(s->peer.srv->db, user, id)) == ERR_BAD_REQUEST) {
		r->message = "no such card";
	}
	if (rc == ERR_NONE) {
		log_info("card %lld of %s unbound by %s", (long long)id, user,
		    s->user);
	}
	return rc;
}
