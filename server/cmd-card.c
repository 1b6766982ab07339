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
 * one only with the member's password ("password"): the dispatcher checks
 * it (SPEC_A_OWN, cmd_own_password) before this handler runs.  An admin's
 * session is no exception: the password is theirs.
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

int
cmd_card_add(struct session *s, struct req *r)
{
	const char *user = cmd_card_user(s, r);
	const char *address = s->peer.client.address;
	int64_t id = 0, wait;
	int rc;

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
