/*
 * Handlers for live events and login tokens (PROTOCOL.md sections 8 and
 * 10).  A token is 32 random bytes shown once as 64 hex digits; the
 * database keeps only its SHA-256.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "drinkd.h"

#define TOKEN_BYTES 32
#define TOKEN_DEFAULT_DAYS 90

static void
token_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

void
token_hash(const char *token, char out[TOKEN_HASH_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL) !=
	    1 || n != 32) {
		fatal("SHA-256 unavailable");
	}
	token_hex(md, n, out);
}

int
cmd_token_create(struct session *s, struct req *r)
{
	unsigned char raw[TOKEN_BYTES];
	char token[2 * TOKEN_BYTES + 1], hash[TOKEN_HASH_LEN];
	int64_t id, expires;
	int rc;

	/*
	 * Only a session that knows the password makes tokens: one a token
	 * logged in could otherwise turn a stolen token into a new one that
	 * outlives the stolen one's revocation (and any expiry).  One
	 * that has shown the password since (card_add) may.
	 */
	if (s->token_only) {
		log_info("token_create refused to %s: session %lld is logged "
		    "in by token %lld", s->user,
		    (long long)s->peer.client.session, (long long)s->token_id);
		r->message = "log in with your password to make a login token";
		return ERR_FORBIDDEN;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		return ERR_INTERNAL;
	}
	token_hex(raw, sizeof(raw), token);
	OPENSSL_cleanse(raw, sizeof(raw));
	token_hash(token, hash);
	rc = db_token_add(s->peer.srv->db, s->user, hash, req_str(r, "label"),
	    (int)req_int(r, "days", TOKEN_DEFAULT_DAYS), &id, &expires);
	if (rc == ERR_NONE) {
		cJSON_AddStringToObject(r->reply, "token", token);
		cJSON_AddNumberToObject(r->reply, "token_id", (double)id);
		cJSON_AddNumberToObject(r->reply, "expires", (double)expires);
		log_info("token %lld created for %s", (long long)id, s->user);
	}
	OPENSSL_cleanse(token, sizeof(token));
	return rc;
}

int
cmd_tokens(struct session *s, struct req *r)
{
	return db_tokens(s->peer.srv->db, s->user,
	    cJSON_AddArrayToObject(r->reply, "tokens"));
}

int
cmd_token_revoke(struct session *s, struct req *r)
{
	int64_t id = req_int(r, "token_id", 0);
	int rc = db_token_revoke(s->peer.srv->db, s->user, id);

	if (rc == ERR_BAD_REQUEST) {
		r->message = "you have no token with that token_id";
	} else if (rc == ERR_NONE) {
		/* What it logged in ends too (not this session: it asked). */
		log_info("token %lld of %s revoked; closed %d session(s)",
		    (long long)id, s->user, client_kick_token(s->user, id,
		    &s->peer.client));
	}
	return rc;
}

/*
 * An empty list would subscribe to nothing and say ok: a client's mistake
 * (unsubscribe's empty list is another matter: it asks what is left).
 */
int
cmd_subscribe(struct session *s, struct req *r)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(r->args,
	    "topics");
	const char *why = "";
	unsigned bits, now;
	int rc;

	if (cJSON_IsArray(list) && cJSON_GetArraySize(list) == 0) {
		r->message = "\"topics\" must name at least one topic "
		    "(machines, slots, balance, drops, sessions)";
		return ERR_BAD_REQUEST;
	}
	rc = event_topics_parse(list, s->logged_in, s->admin, &bits, &why);
	if (rc != ERR_NONE) {
		r->message = why;
		return rc;
	}
	if (session_events(s) != 0) {
		return ERR_INTERNAL;
	}
	now = event_queue_topics(s->events, bits, 1);
	event_topics_list(now, cJSON_AddArrayToObject(r->reply, "topics"));
	return ERR_NONE;
}

int
cmd_unsubscribe(struct session *s, struct req *r)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(r->args,
	    "topics");
	const char *why = "";
	unsigned bits = ~0u, now = 0;
	int rc;

	/* Any known topic may be left, whatever the session's role. */
	if (list != NULL && (rc = event_topics_parse(list, 1, 1, &bits,
	    &why)) != ERR_NONE) {
		r->message = why;
		return rc;
	}
	if (s->events != NULL) {
		now = event_queue_topics(s->events, bits, 0);
	}
	event_topics_list(now, cJSON_AddArrayToObject(r->reply, "topics"));
	return ERR_NONE;
}
