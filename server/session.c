/*
 * One member connection, start to end, in its own thread: TLS handshake
 * under handshake_timeout, the greeting (with certificate login when the
 * client presented a certificate from member_ca), then request lines
 * answered in order until quit, idle_timeout, a kick, or an error.
 *
 * The thread owns its struct session, its conn and its SSL; no other
 * thread touches them.  Other threads reach it only through the client
 * registry, which can shut its socket down.
 */
#include <stdlib.h>
#include <string.h>

#include "drinkd.h"

#define SESSION_WRITE_MS 60000	/* a reply must be taken by then */

/* Requests being handled or answered right now, across all sessions. */
static int session_busy_count;

int
session_busy(void)
{
	return __atomic_load_n(&session_busy_count, __ATOMIC_SEQ_CST);
}

/*
 * Log s in as user, reading the user afresh into *u.  The name is claimed
 * in the client list before the read: an admin who disables or re-roles
 * the user after the read finds and closes this session, and a change
 * made before it is what the read sees.  -1 when the user is gone or
 * disabled (the session keeps its previous login).
 */
int
session_login(struct session *s, const char *user, struct db_user *u)
{
	client_set_name(&s->peer.client, user);
	if (db_user_get(s->peer.srv->db, user, u) != ERR_NONE || u->disabled) {
		client_set_name(&s->peer.client, s->logged_in ? s->user : NULL);
		return -1;
	}
	snprintf(s->user, sizeof(s->user), "%s", u->name);
	s->logged_in = 1;
	s->admin = strcmp(u->role, "admin") == 0;
	if (db_session_name(s->peer.srv->db, s->peer.client.session, u->name, NULL) !=
	    ERR_NONE || db_user_seen(s->peer.srv->db, u->name) != ERR_NONE) {
		log_warn("session %lld: could not record login of %s",
		    (long long)s->peer.client.session, u->name);
	}
	return 0;
}

void
session_logout(struct session *s)
{
	if (s->logged_in) {
		log_info("logout: user %s, session %lld", s->user,
		    (long long)s->peer.client.session);
	}
	s->logged_in = 0;
	s->admin = 0;
	s->user[0] = '\0';
	client_set_name(&s->peer.client, NULL);
}

/* Log in by client certificate: CN names an existing, enabled user. */
static void
session_cert_login(struct session *s)
{
	char cn[PROTO_NAME_MAX + 2];
	struct db_user u;

	if (s->peer.srv->cfg->member_ca == NULL ||
	    tls_peer_cn(conn_ssl(s->peer.conn), cn, sizeof(cn)) != 0) {
		return;
	}
	if (!proto_valid_name(cn) || session_login(s, cn, &u) != 0) {
		log_info("session %lld: certificate CN \"%s\" is not an "
		    "enabled user; not logged in",
		    (long long)s->peer.client.session, cn);
		return;
	}
	log_info("login ok: user %s (%s) by certificate from %s port %d, "
	    "session %lld", u.name, u.role, s->peer.client.address, s->peer.client.port,
	    (long long)s->peer.client.session);
}

static int
session_send(struct session *s, cJSON *obj)
{
	size_t len;
	char *line = proto_line(obj, &len);
	int rc;

	rc = conn_write(s->peer.conn, line, len, now_ms() + SESSION_WRITE_MS);
	free(line);
	return rc;
}

static void
session_greet(struct session *s)
{
	cJSON *hello = cJSON_CreateObject();

	cJSON_AddStringToObject(hello, "event", "hello");
	cJSON_AddStringToObject(hello, "server", "drinkd");
	cJSON_AddStringToObject(hello, "version", DRINK_VERSION);
	cJSON_AddNumberToObject(hello, "proto", DRINK_PROTO);
	if (s->logged_in) {
		cJSON_AddStringToObject(hello, "user", s->user);
		cJSON_AddStringToObject(hello, "role",
		    s->admin ? "admin" : "member");
	}
	(void)session_send(s, hello);
	cJSON_Delete(hello);
}

/*
 * Why a connection that failed or ended was closed, saying who closed it:
 * a kick, a disabled user or shutdown (the server shut the socket down and
 * said why in the client list), else the client or the network.
 */
static const char *
session_closed_why(struct session *s, const char *peer_why)
{
	const char *server_why = client_closed_by(&s->peer.client);

	return server_why != NULL ? server_why : peer_why;
}

/* Requests until the connection ends; returns why, for the log. */
static const char *
session_loop(struct session *s)
{
	char *line, *out;
	size_t len, outlen;
	int64_t idle_deadline;
	int rc;

	while (!s->quit && !server_stopping(s->peer.srv)) {
		idle_deadline = now_ms() + s->peer.srv->cfg->idle_timeout * 1000;
		rc = conn_read_line(s->peer.conn, &line, &len, idle_deadline,
		    s->peer.srv->cfg->line_timeout * 1000);
		switch (rc) {
		case CONN_OK:
			break;
		case CONN_TOO_LONG:
			out = cmd_line_too_long(&outlen);
			(void)conn_write(s->peer.conn, out, outlen,
			    now_ms() + SESSION_WRITE_MS);
			free(out);
			return "closed by the server: line too long";
		case CONN_EOF:
			return session_closed_why(s, "closed by the client");
		case CONN_TIMEOUT:
			/* The idle deadline, or a started line's own. */
			return now_ms() >= idle_deadline ?
			    "closed by the server: idle timeout" :
			    "closed by the server: line timeout";
		default:
			return session_closed_why(s, conn_error(s->peer.conn));
		}
		/* Counted until the answer is written, so shutdown waits. */
		__atomic_add_fetch(&session_busy_count, 1, __ATOMIC_SEQ_CST);
		out = cmd_dispatch(s, line, len, &outlen);
		rc = conn_write(s->peer.conn, out, outlen,
		    now_ms() + SESSION_WRITE_MS);
		__atomic_sub_fetch(&session_busy_count, 1, __ATOMIC_SEQ_CST);
		free(out);
		if (rc != CONN_OK) {
			return session_closed_why(s, conn_error(s->peer.conn));
		}
	}
	return s->quit ? "quit by the client" :
	    "closed by the server: shutting down";
}

void *
session_main(void *arg)
{
	struct session *s = arg;
	SSL_CTX *ctx = server_member_ctx(s->peer.srv);
	const char *why;
	int64_t id;

	s->peer.conn = conn_new(s->peer.client.fd, ctx, (size_t)s->peer.srv->cfg->max_line);
	SSL_CTX_free(ctx);
	if (s->peer.conn == NULL) {
		log_err("member %s port %d: cannot set up TLS",
		    s->peer.client.address, s->peer.client.port);
		s->peer.client.fd = -1;
		goto out;
	}
	if (conn_accept(s->peer.conn, now_ms() + s->peer.srv->cfg->handshake_timeout *
	    1000) != CONN_OK) {
		log_info("member %s port %d: TLS handshake failed: %s",
		    s->peer.client.address, s->peer.client.port, conn_error(s->peer.conn));
		goto out;
	}
	if (db_session_open(s->peer.srv->db, "member", s->peer.client.address,
	    s->peer.client.port, &id) != ERR_NONE) {
		log_err("member %s port %d: cannot record session; closing",
		    s->peer.client.address, s->peer.client.port);
		goto out;
	}
	client_show(&s->peer.client, id);
	log_info("session %lld: member connection from %s port %d",
	    (long long)id, s->peer.client.address, s->peer.client.port);
	session_cert_login(s);
	session_greet(s);
	why = session_loop(s);
	log_info("session %lld: closed (%s)%s%s", (long long)id, why,
	    s->logged_in ? ", user " : "", s->logged_in ? s->user : "");
	conn_shutdown(s->peer.conn, now_ms() + 1000);
	(void)db_session_close(s->peer.srv->db, id);
out:
	/* Leave the registry before the descriptor is closed (kick safety). */
	client_remove(&s->peer.client);
	conn_free(s->peer.conn);
	free(s);
	return NULL;
}
