/*
 * Handlers for commands any session or any logged-in member may run.
 * Arguments were validated by the dispatcher (cmd.c); roles too.
 */
#include <stdlib.h>
#include <string.h>

#include "drinkd.h"

#define HISTORY_DEFAULT_LIMIT 20

/*
 * Log s in as u after a successful check, by login token token_id (0:
 * by password) that expires at expires; fills the reply.
 */
static int
cmd_login_done(struct session *s, struct req *r, struct db_user *u,
    const char *how, int64_t token_id, int64_t expires)
{
	int rc;

	if ((rc = session_login(s, u->name, u)) == SESSION_LOGIN_BUSY) {
		log_warn("login refused: user %s from %s: max_clients_per_ip "
		    "sessions from that address are logged in already",
		    u->name, s->peer.client.address);
		r->message = "too many sessions logged in from your address";
		return ERR_SERVER_BUSY;
	}
	if (rc != 0) {
		/* Disabled while the credentials were being checked. */
		log_info("login failed: user %s from %s (disabled meanwhile)",
		    u->name, s->peer.client.address);
		return ERR_BAD_CREDENTIALS;
	}
	/*
	 * Revoking the token (or a new password) ends this session: it is
	 * marked with the token first, then the token is looked at again,
	 * so a revocation that deleted it since db_token_use() either is
	 * seen here or finds this session marked when it kicks.
	 */
	if (token_id != 0) {
		session_set_token(s, token_id, expires);
		if ((rc = db_token_live(s->peer.srv->db, token_id)) !=
		    ERR_NONE) {
			session_logout(s);
			log_info("login failed: user %s by token from %s "
			    "(token revoked meanwhile)", u->name,
			    s->peer.client.address);
			return rc;
		}
	}
	log_info("login ok: user %s (%s)%s from %s port %d, session %lld",
	    u->name, u->role, how, s->peer.client.address,
	    s->peer.client.port, (long long)s->peer.client.session);
	cJSON_AddStringToObject(r->reply, "user", u->name);
	cJSON_AddStringToObject(r->reply, "role", u->role);
	cJSON_AddNumberToObject(r->reply, "balance", (double)u->balance);
	return ERR_NONE;
}

/*
 * Login by token: no password hash is spent, so only the address is
 * throttled (a token names no user until it is found).
 */
static int
cmd_login_token(struct session *s, struct req *r, const char *token)
{
	const char *address = s->peer.client.address;
	char hash[TOKEN_HASH_LEN], user[PROTO_NAME_MAX + 1];
	struct db_user u;
	int64_t wait, id = 0, expires = 0;
	int rc;

	if ((wait = auth_throttled(NULL, address)) > 0) {
		r->retry_after = wait;
		log_info("token login throttled from %s, retry after %lld s",
		    address, (long long)wait);
		return ERR_LOCKED_OUT;
	}
	token_hash(token, hash);
	rc = db_token_use(s->peer.srv->db, hash, user, sizeof(user), &id,
	    &expires);
	if (rc == ERR_NONE) {
		rc = db_user_get(s->peer.srv->db, user, &u);
		if (rc == ERR_NONE && u.disabled) {
			rc = ERR_BAD_CREDENTIALS;
		}
	}
	if (rc == ERR_BAD_CREDENTIALS || rc == ERR_NO_SUCH_USER) {
		auth_failed(NULL, address);
		log_info("token login failed from %s", address);
		return ERR_BAD_CREDENTIALS;
	}
	if (rc != ERR_NONE) {
		return rc;
	}
	auth_succeeded(u.name, address);
	return cmd_login_done(s, r, &u, " by token", id, expires);
}

int
cmd_login(struct session *s, struct req *r)
{
	const char *user = req_str(r, "user");
	const char *password = req_str(r, "password");
	const char *token = req_str(r, "token");
	struct db_user u;
	int64_t wait;
	int rc, found;

	if (token != NULL && user == NULL && password == NULL) {
		return cmd_login_token(s, r, token);
	}
	if (token != NULL || user == NULL || password == NULL) {
		r->message = "give \"user\" and \"password\", or \"token\"";
		return ERR_BAD_REQUEST;
	}
	if ((wait = auth_throttled(user, s->peer.client.address)) > 0) {
		r->retry_after = wait;
		log_info("login throttled: user %s from %s, retry after %lld s",
		    user, s->peer.client.address, (long long)wait);
		return ERR_LOCKED_OUT;
	}
	rc = db_user_get(s->peer.srv->db, user, &u);
	if (rc != ERR_NONE && rc != ERR_NO_SUCH_USER) {
		return rc;
	}
	found = rc == ERR_NONE;
	/* Unknown and disabled users cost a full check and get one answer. */
	if (!auth_verify(found ? u.hash : NULL, password) || u.disabled) {
		if (found) {
			auth_account_failed(user, s->peer.client.address);
		} else {
			auth_failed(user, s->peer.client.address);
		}
		log_info("login failed: user %s from %s%s", user,
		    s->peer.client.address, !found ? " (no such user)" :
		    u.disabled ? " (disabled)" : "");
		return ERR_BAD_CREDENTIALS;
	}
	auth_succeeded(user, s->peer.client.address);
	return cmd_login_done(s, r, &u, "", 0, 0);
}

int
cmd_logout(struct session *s, struct req *r)
{
	(void)r;
	session_logout(s);
	return ERR_NONE;
}

int
cmd_ping(struct session *s, struct req *r)
{
	const char *data = req_str(r, "data");

	(void)s;
	cJSON_AddBoolToObject(r->reply, "pong", 1);
	if (data != NULL) {
		cJSON_AddStringToObject(r->reply, "data", data);
	}
	return ERR_NONE;
}

int
cmd_machines(struct session *s, struct req *r)
{
	cJSON *list = cJSON_AddArrayToObject(r->reply, "machines"), *m;
	int rc;

	if ((rc = db_machines(s->peer.srv->db, list)) != ERR_NONE) {
		return rc;
	}
	cJSON_ArrayForEach(m, list) {
		cJSON_ReplaceItemInObjectCaseSensitive(m, "online",
		    cJSON_CreateBool(vend_online(s->peer.srv->vends,
		    cJSON_GetStringValue(
		    cJSON_GetObjectItem(m, "machine")))));
	}
	return ERR_NONE;
}

int
cmd_slots(struct session *s, struct req *r)
{
	const char *machine = req_str(r, "machine");
	cJSON *list;

	cJSON_AddStringToObject(r->reply, "machine", machine);
	list = cJSON_AddArrayToObject(r->reply, "slots");
	return db_slots(s->peer.srv->db, machine, list);
}

int
cmd_quit(struct session *s, struct req *r)
{
	(void)r;
	s->quit = 1;
	return ERR_NONE;
}

int
cmd_whoami(struct session *s, struct req *r)
{
	struct db_user u;
	int rc;

	if ((rc = db_user_get(s->peer.srv->db, s->user, &u)) != ERR_NONE) {
		return rc;
	}
	cJSON_AddStringToObject(r->reply, "user", u.name);
	cJSON_AddStringToObject(r->reply, "role", u.role);
	cJSON_AddNumberToObject(r->reply, "balance", (double)u.balance);
	/* As who shows it to admins: a client's own, not to be kicked. */
	if (s->admin) {
		cJSON_AddNumberToObject(r->reply, "session",
		    (double)s->peer.client.session);
	}
	return ERR_NONE;
}

/*
 * Add an integer to obj as raw JSON digits.  cJSON prints any number
 * with "%1.15g" and parses it back with sscanf to check it, and even
 * snprintf's "%lld" costs a FILE set-up: on `balance`, the one request
 * that is all hot path, either cost more than the rest of the reply.
 * The text is what cJSON would print for any integer below 10^15.
 */
static void
cmd_add_int(cJSON *obj, const char *name, int64_t v)
{
	char num[24], *p = num + sizeof(num);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	*--p = '\0';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0) {
		*--p = '-';
	}
	cJSON_AddRawToObject(obj, name, p);
}

/* The member's balance, from memory (db/balance.c). */
int
cmd_balance(struct session *s, struct req *r)
{
	int64_t balance;
	int rc;

	if ((rc = db_balance(s->peer.srv->db, s->user, &balance)) != ERR_NONE) {
		return rc;
	}
	cmd_add_int(r->reply, "balance", balance);
	return ERR_NONE;
}

/* Arguments only: the drop's lifecycle lives in drop.c. */
int
cmd_drop(struct session *s, struct req *r)
{
	struct drop_req d = { 0 };
	int rc;

	d.user = s->user;
	d.machine = req_str(r, "machine");
	d.slot = (int)req_int(r, "slot", 0);
	d.delay = (int)req_int(r, "delay", 0);
	d.key = req_str(r, "key");
	d.request = r->request;
	rc = drop_run(s->peer.srv, &d, r->reply);
	if (rc == ERR_INSUFFICIENT_FUNDS) {
		r->balance = d.balance;
	}
	if (rc != ERR_NONE && d.message[0] != '\0') {
		snprintf(r->msgbuf, sizeof(r->msgbuf), "%s", d.message);
		r->message = r->msgbuf;
	}
	return rc;
}

static void
cmd_move_init(struct session *s, struct req *r, struct db_move *m,
    const char *user_field, const char *amount_field)
{
	memset(m, 0, sizeof(*m));
	m->actor = s->user;
	m->user = req_str(r, user_field);
	m->amount = req_int(r, amount_field, 0);
	m->note = req_str(r, "note");
	m->key = req_str(r, "key");
	m->request = r->request;
}

/*
 * Run a ledger movement and carry insufficient_funds' balance, and the
 * words of a refusal that has its own, out.
 */
int
cmd_move(struct session *s, struct req *r, const char *user_field,
    const char *amount_field, int (*fn)(struct db *, struct db_move *,
    cJSON *))
{
	struct db_move m;
	int rc;

	cmd_move_init(s, r, &m, user_field, amount_field);
	m.tx = req_int(r, "tx", 0);
	rc = fn(s->peer.srv->db, &m, r->reply);
	if (rc == ERR_INSUFFICIENT_FUNDS) {
		r->balance = m.balance;
	}
	if (rc != ERR_NONE && m.message != NULL) {
		r->message = m.message;
	}
	return rc;
}

int
cmd_send(struct session *s, struct req *r)
{
	int rc = cmd_move(s, r, "to", "amount", db_send);

	if (rc == ERR_BAD_REQUEST) {
		r->message = "cannot send credits to yourself";
	}
	return rc;
}

int
cmd_history(struct session *s, struct req *r)
{
	struct db_log_filter f = { .user = s->user, .since = -1,
		.until = -1 };

	f.limit = (int)req_int(r, "limit", HISTORY_DEFAULT_LIMIT);
	f.before = req_int(r, "before", -1);
	return db_history(s->peer.srv->db, &f,
	    cJSON_AddArrayToObject(r->reply, "transactions"));
}

int
cmd_who(struct session *s, struct req *r)
{
	client_list(cJSON_AddArrayToObject(r->reply, "clients"), s->admin);
	return ERR_NONE;
}

int
cmd_passwd(struct session *s, struct req *r)
{
	const char *address = s->peer.client.address;
	struct db_user u;
	int64_t wait;
	char *hash;
	int rc;

	/*
	 * The old password is a guess like a login's (a session may hold
	 * only a token, or be left open): throttled on the same records.
	 */
	if ((wait = auth_throttled(s->user, address)) > 0) {
		r->retry_after = wait;
		log_info("passwd throttled: user %s from %s, retry after %lld s",
		    s->user, address, (long long)wait);
		return ERR_LOCKED_OUT;
	}
	if ((rc = db_user_get(s->peer.srv->db, s->user, &u)) != ERR_NONE) {
		return rc;
	}
	if (!auth_verify(u.hash, req_str(r, "old"))) {
		auth_account_failed(s->user, address);
		log_info("passwd: wrong old password for %s from %s", s->user,
		    address);
		return ERR_BAD_CREDENTIALS;
	}
	auth_succeeded(s->user, address);
	if ((hash = auth_hash(req_str(r, "new"))) == NULL) {
		return ERR_INTERNAL;
	}
	rc = db_user_mod(s->peer.srv->db, s->user, NULL, -1, hash, 0);
	free(hash);
	/*
	 * Every other session of the user ends: those a token logged in
	 * have lost it, and one that knew only the old password (someone
	 * who guessed or stole it) must not outlive the change.
	 */
	if (rc == ERR_NONE) {
		log_info("password changed for %s; closed %d other session(s)",
		    s->user, client_kick_user(s->user, &s->peer.client,
		    "closed by the server: password changed"));
		/*
		 * This session has shown the password, as a login by it does,
		 * and the token it may have logged in by is gone: from now on
		 * it is a password login (a web app makes its new token so).
		 */
		session_set_token(s, 0, 0);
	}
	return rc;
}
