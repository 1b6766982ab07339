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
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "drinkd.h"

#define SESSION_WRITE_MS 60000	/* a reply must be taken by then */
/*
 * A subscriber's socket buffers no more than this, so a client that stops
 * reading makes events wait in its queue (where the overflow rule sees
 * them) rather than in megabytes of kernel buffer.
 */
#define SESSION_EVENT_SNDBUF (64 * 1024)

/*
 * The session this thread serves and how it writes waiting events, for
 * session_pump() from deep inside a request (a drop waiting for its
 * machine).
 */
static __thread struct session *session_self;
static __thread int (*session_pump_fn)(struct session *);

void
session_set_pump(struct session *s, int (*fn)(struct session *))
{
	session_self = s;
	session_pump_fn = fn;
}

void
session_pump(void)
{
	if (session_self != NULL && session_pump_fn != NULL &&
	    session_self->events != NULL) {
		(void)session_pump_fn(session_self);
	}
}

/* Requests being handled or answered right now, across all sessions. */
static int session_busy_count;

void
session_busy_add(int delta)
{
	__atomic_add_fetch(&session_busy_count, delta, __ATOMIC_SEQ_CST);
}

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
 * disabled, SESSION_LOGIN_BUSY when the address already has
 * max_clients_per_ip sessions logged in (the session keeps its previous
 * login either way).
 */
int
session_login(struct session *s, const char *user, struct db_user *u)
{
	if (s->logged_in) {
		client_set_name(&s->peer.client, user);
	} else if (client_login(&s->peer.client, user,
	    s->peer.srv->cfg->max_clients_per_ip) != 0) {
		return SESSION_LOGIN_BUSY;
	}
	if (db_user_get(s->peer.srv->db, user, u) != ERR_NONE || u->disabled) {
		client_set_name(&s->peer.client, s->logged_in ? s->user : NULL);
		/* The login kept is still the token's, if it was (kicks). */
		if (s->logged_in && s->token_id != 0) {
			client_set_token(&s->peer.client, s->token_id);
		}
		return -1;
	}
	snprintf(s->user, sizeof(s->user), "%s", u->name);
	s->logged_in = 1;
	s->token_id = 0;
	s->token_expires = 0;
	s->token_only = 0;
	s->admin = strcmp(u->role, "admin") == 0;
	if (s->events != NULL) {
		event_queue_who(s->events, s->user, s->admin);
	}
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
	s->token_id = 0;
	s->token_expires = 0;
	s->token_only = 0;
	s->anon_since = now_ms();
	client_set_name(&s->peer.client, NULL);
	if (s->events != NULL) {
		event_queue_who(s->events, NULL, 0);
	}
}

void
session_set_token(struct session *s, int64_t token_id, int64_t expires)
{
	assert(s->logged_in);
	s->token_id = token_id;
	s->token_expires = expires;
	s->token_only = token_id != 0;
	client_set_token(&s->peer.client, token_id);
}

void
session_password_shown(struct session *s)
{
	assert(s->logged_in);
	s->token_only = 0;
}

/*
 * The token's expiry is wall-clock time and the deadlines run on the
 * monotonic clock: the distance between them is taken afresh each time,
 * so a wall clock set forward is seen at the next wakeup.
 */
int64_t
session_token_deadline(const struct session *s)
{
	struct timespec ts;
	int64_t wall;

	if (!s->logged_in || s->token_id == 0) {
		return INT64_MAX;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return now_ms() + (s->token_expires * 1000 - wall);
}

int
session_events(struct session *s)
{
	int size = SESSION_EVENT_SNDBUF;

	if (s->events != NULL) {
		return 0;
	}
	if ((s->events = event_queue_new()) == NULL) {
		return -1;
	}
	event_queue_who(s->events, s->logged_in ? s->user : NULL, s->admin);
	conn_set_wake_fd(s->peer.conn, event_queue_fd(s->events));
	setsockopt(conn_fd(s->peer.conn), SOL_SOCKET, SO_SNDBUF, &size,
	    sizeof(size));
	return 0;
}

/* Log in by client certificate: CN names an existing, enabled user. */
static void
session_cert_login(struct session *s)
{
	char cn[PROTO_NAME_MAX + 2];
	struct db_user u;
	int rc;

	if (s->peer.srv->cfg->member_ca == NULL ||
	    tls_peer_cn(conn_ssl(s->peer.conn), cn, sizeof(cn)) != 0) {
		return;
	}
	/*
	 * As on the machine port: OpenSSL's purpose check lets a certificate
	 * with no extended key usage through, so clientAuth is required here.
	 */
	if (!tls_peer_client_eku(conn_ssl(s->peer.conn))) {
		log_info("session %lld: certificate CN \"%s\" lacks extended "
		    "key usage clientAuth; not logged in",
		    (long long)s->peer.client.session, cn);
		return;
	}
	if (!proto_valid_name(cn) || (rc = session_login(s, cn, &u)) == -1) {
		log_info("session %lld: certificate CN \"%s\" is not an "
		    "enabled user; not logged in",
		    (long long)s->peer.client.session, cn);
		return;
	}
	if (rc == SESSION_LOGIN_BUSY) {
		log_warn("session %lld: certificate login of %s refused: "
		    "%s already has max_clients_per_ip sessions logged in",
		    (long long)s->peer.client.session, cn, s->peer.client.address);
		return;
	}
	log_info("login ok: user %s (%s) by certificate from %s port %d, "
	    "session %lld", u.name, u.role, s->peer.client.address, s->peer.client.port,
	    (long long)s->peer.client.session);
}

static int
session_send(struct session *s, cJSON *obj)
{
	return proto_write(s->peer.conn, obj, now_ms() + SESSION_WRITE_MS);
}

cJSON *
session_hello(struct session *s)
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
	return hello;
}

/* The greeting of every connection not logged in, made once. */
static char *session_anon_hello;
static size_t session_anon_hello_len;
static pthread_once_t session_anon_once = PTHREAD_ONCE_INIT;

static void
session_anon_hello_make(void)
{
	static struct session nobody;
	cJSON *hello = session_hello(&nobody);

	session_anon_hello = proto_line(hello, &session_anon_hello_len);
	cJSON_Delete(hello);
}

static void
session_greet(struct session *s)
{
	cJSON *hello;

	if (s->logged_in) {
		hello = session_hello(s);
		(void)session_send(s, hello);
		cJSON_Delete(hello);
		return;
	}
	pthread_once(&session_anon_once, session_anon_hello_make);
	(void)conn_write(s->peer.conn, session_anon_hello,
	    session_anon_hello_len, now_ms() + SESSION_WRITE_MS);
}

char *
session_request(struct session *s, const char *line, size_t len,
    size_t *outlen)
{
	return cmd_dispatch(s, line, len, outlen);
}

/*
 * Write the events waiting for this session.  -1 when the connection must
 * end: a write failed, or the queue overflowed (said, then closed).
 */
static int
session_flush(struct session *s)
{
	static const char overflow[] = "{\"event\":\"overflow\"}\n";
	char *line;
	size_t len;
	int over, rc;

	if (s->events == NULL) {
		return 0;
	}
	while ((line = event_queue_take(s->events, &len, &over)) != NULL) {
		rc = conn_write(s->peer.conn, line, len,
		    now_ms() + SESSION_WRITE_MS);
		free(line);
		if (rc != CONN_OK) {
			return -1;
		}
	}
	if (over) {
		(void)conn_write(s->peer.conn, overflow, sizeof(overflow) - 1,
		    now_ms() + 1000);
		return -1;
	}
	return 0;
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
	const struct config *cfg = s->peer.srv->cfg;
	const char *kicked;
	char *line, *out;
	size_t len, outlen;
	int64_t idle_deadline = now_ms() + cfg->idle_timeout * 1000;
	int64_t login, deadline, token;
	int rc, anon;

	session_set_pump(s, session_flush);
	while (!s->quit && !server_stopping(s->peer.srv)) {
		/* A write that fails because of a kick: the kick says why. */
		if (session_flush(s) != 0) {
			return session_closed_why(s, "closed by the server: "
			    "event queue overflow or write failed");
		}
		/* A login by token ends when the token expires. */
		if ((token = session_token_deadline(s)) <= now_ms()) {
			return SESSION_TOKEN_EXPIRED;
		}
		/* Not logged in, the connection has login_timeout in all. */
		login = s->anon_since + cfg->login_timeout * 1000;
		anon = !s->logged_in && login < idle_deadline;
		deadline = anon ? login : idle_deadline;
		if (token < deadline) {
			deadline = token;
		}
		rc = conn_read_line(s->peer.conn, &line, &len, deadline,
		    cfg->line_timeout * 1000);
		switch (rc) {
		case CONN_OK:
			break;
		case CONN_WAKE:
			continue;
		case CONN_TOO_LONG:
			out = cmd_line_too_long(&outlen);
			(void)conn_write(s->peer.conn, out, outlen,
			    now_ms() + SESSION_WRITE_MS);
			free(out);
			return "closed by the server: line too long";
		case CONN_EOF:
			return session_closed_why(s, "closed by the client");
		case CONN_TIMEOUT:
			/* The login, token or idle deadline, or a line's. */
			if (now_ms() >= token) {
				return SESSION_TOKEN_EXPIRED;
			}
			if (now_ms() < deadline) {
				return "closed by the server: line timeout";
			}
			return anon ? "closed by the server: no login within "
			    "login_timeout" : "closed by the server: idle timeout";
		default:
			return session_closed_why(s, conn_error(s->peer.conn));
		}
		/*
		 * Kicked since the last reply, with this line already read:
		 * it is not run, as if the kick had been seen while waiting.
		 */
		if ((kicked = client_closed_by(&s->peer.client)) != NULL) {
			return kicked;
		}
		/* Counted until the answer is written, so shutdown waits. */
		session_busy_add(1);
		out = cmd_dispatch(s, line, len, &outlen);
		rc = conn_write(s->peer.conn, out, outlen,
		    now_ms() + SESSION_WRITE_MS);
		session_busy_add(-1);
		free(out);
		if (rc != CONN_OK) {
			return session_closed_why(s, conn_error(s->peer.conn));
		}
		if (s->ending != NULL) {
			return s->ending;
		}
		/* Events do not keep a connection alive; requests do. */
		idle_deadline = now_ms() + cfg->idle_timeout * 1000;
	}
	return s->quit ? "quit by the client" :
	    "closed by the server: shutting down";
}

int
session_open(struct session *s, const char *what)
{
	int64_t id;

	s->what = what;
	/* A storage fault must not turn members away: serve unrecorded. */
	db_set_op("recording a session");
	if (db_session_open(s->peer.srv->db, "member", s->peer.client.address,
	    s->peer.client.port, &id) != ERR_NONE) {
		id = 0;
	}
	client_show(&s->peer.client, id);
	/* Where it came from is in the line it closes with, too. */
	log_debug("session %lld: %s connection from %s port %d",
	    (long long)id, what, s->peer.client.address, s->peer.client.port);
	session_cert_login(s);
	event_session(&s->peer.client, "open");
	return 0;
}

void
session_close(struct session *s, const char *why)
{
	log_info("session %lld: closed (%s)%s%s, %s connection from %s "
	    "port %d", (long long)s->peer.client.session, why, s->logged_in ?
	    ", user " : "", s->logged_in ? s->user : "", s->what,
	    s->peer.client.address, s->peer.client.port);
	event_session(&s->peer.client, "closed");
	(void)db_session_close(s->peer.srv->db, s->peer.client.session);
	event_queue_free(s->events);
	s->events = NULL;
}

void *
session_main(void *arg)
{
	struct session *s = arg;
	SSL_CTX *ctx = server_member_ctx(s->peer.srv);
	const char *why;

	s->peer.conn = conn_new(s->peer.client.fd, ctx, (size_t)s->peer.srv->cfg->max_line);
	SSL_CTX_free(ctx);
	if (s->peer.conn == NULL) {
		log_err("member %s port %d: cannot set up TLS",
		    s->peer.client.address, s->peer.client.port);
		s->peer.client.fd = -1;
		goto out;
	}
	s->anon_since = now_ms();
	if (conn_accept(s->peer.conn, now_ms() + s->peer.srv->cfg->handshake_timeout *
	    1000) != CONN_OK) {
		log_info("member %s port %d: TLS handshake failed: %s",
		    s->peer.client.address, s->peer.client.port, conn_error(s->peer.conn));
		goto out;
	}
	if (session_open(s, "member") != 0) {
		goto out;
	}
	session_greet(s);
	/*
	 * Once the connection is idle, the stack pages the handshake touched
	 * go, with OpenSSL's per-thread state and the line buffer (not for a
	 * client that leaves at once: the next connection this thread serves
	 * would need them again).
	 */
	conn_set_idle(s->peer.conn, server_conn_idle);
	why = session_loop(s);
	conn_shutdown(s->peer.conn, now_ms() + 1000);
	session_close(s, why);
out:
	/* Leave the registry before the descriptor is closed (kick safety). */
	client_remove(&s->peer.client);
	conn_free(s->peer.conn);
	free(s);
	return NULL;
}
