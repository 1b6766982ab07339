/*
 * The machine registry and the controller connections.
 *
 * Each online controller is a struct mach in one mutex-protected list.
 * A member thread that wants a vend queues a struct vend (on its own stack)
 * on the machine, pokes the controller thread through a pipe, and waits on
 * the vend's condition variable until the controller thread reports the
 * outcome or the deadline passes.  Only the controller's own thread writes
 * to its socket, so each SSL stays single-threaded.  One vend is at the
 * machine at a time; the rest wait in arrival order.
 *
 * Lifetime: a vend is linked to its machine only while it is queued or in
 * flight, and both sides change that only under machine_lock.  When a
 * controller goes away every vend still linked to it is completed as
 * failed before the struct is freed, so a waiting member never touches a
 * freed machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "drinkd.h"

#define MACHINE_WRITE_MS 10000

struct vend {
	char id[40];
	int slot;
	int delay;
	struct mach *machine;	/* NULL once completed */
	int done;
	int result;		/* enum proto_err */
	char message[160];
	pthread_cond_t cond;
	struct vend *next;
};

struct mach {
	char name[PROTO_NAME_MAX + 1];
	int fd;			/* the controller's socket, for kicks */
	int wake[2];		/* member threads -> controller thread */
	struct vend *head, *tail; /* queued, not yet sent */
	struct vend *inflight;	/* sent, waiting for the answer */
	int busy;		/* a vend is at the machine */
	char abandoned[40];	/* a timed-out vend still at the machine */
	int64_t abandoned_until;
	int replaced;		/* a newer connection took over */
	struct mach *next;
};

static pthread_mutex_t machine_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mach *machine_head;
static int machine_vends;	/* queued or in flight, for shutdown */
static unsigned long machine_vend_seq;

static struct mach *
machine_find(const char *name)
{
	struct mach *m;

	for (m = machine_head; m != NULL; m = m->next) {
		if (strcmp(m->name, name) == 0) {
			return m;
		}
	}
	return NULL;
}

static void
machine_unlink(struct mach *m)
{
	struct mach **pp;

	for (pp = &machine_head; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			return;
		}
	}
}

static void
machine_poke(struct mach *m)
{
	ssize_t n = write(m->wake[1], "x", 1);

	(void)n;	/* a full pipe already means "wake up" */
}

int
machine_online(const char *name)
{
	int online;

	pthread_mutex_lock(&machine_lock);
	online = machine_find(name) != NULL;
	pthread_mutex_unlock(&machine_lock);
	return online;
}

int
machine_kick(const char *name)
{
	struct mach *m;
	int found = 0;

	pthread_mutex_lock(&machine_lock);
	if ((m = machine_find(name)) != NULL) {
		shutdown(m->fd, SHUT_RDWR);
		found = 1;
	}
	pthread_mutex_unlock(&machine_lock);
	return found;
}

int
machine_vends_in_flight(void)
{
	int n;

	pthread_mutex_lock(&machine_lock);
	n = machine_vends;
	pthread_mutex_unlock(&machine_lock);
	return n;
}

/* Complete a vend (lock held) and wake its member thread. */
static void
machine_complete(struct vend *v, int result, const char *message)
{
	v->done = 1;
	v->result = result;
	v->machine = NULL;
	snprintf(v->message, sizeof(v->message), "%s", message);
	pthread_cond_signal(&v->cond);
}

/*
 * Ask the machine to vend and wait for the outcome until timeout_ms has
 * passed.  Returns ERR_NONE (vended), ERR_DROP_FAILED (refused, or the
 * controller went away), ERR_DROP_TIMEOUT or ERR_MACHINE_OFFLINE; message
 * receives the text for a failure.
 */
int
machine_vend(const char *name, int64_t tx, int slot, int delay,
    int64_t timeout_ms, char *message, size_t len)
{
	struct vend v = { .slot = slot, .delay = delay };
	pthread_condattr_t ca;
	struct timespec ts;
	struct vend **pp;
	struct mach *m;
	int64_t deadline = now_ms() + timeout_ms;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&v.cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&machine_lock);
	if ((m = machine_find(name)) == NULL) {
		pthread_mutex_unlock(&machine_lock);
		pthread_cond_destroy(&v.cond);
		snprintf(message, len, "machine %s is offline", name);
		return ERR_MACHINE_OFFLINE;
	}
	snprintf(v.id, sizeof(v.id), "v%lld.%lu", (long long)tx,
	    ++machine_vend_seq);
	v.machine = m;
	if (m->tail != NULL) {
		m->tail->next = &v;
	} else {
		m->head = &v;
	}
	m->tail = &v;
	machine_vends++;
	machine_poke(m);
	ts.tv_sec = deadline / 1000;
	ts.tv_nsec = (deadline % 1000) * 1000000;
	while (!v.done && pthread_cond_timedwait(&v.cond, &machine_lock,
	    &ts) != ETIMEDOUT) {
		;
	}
	if (!v.done) {
		m = v.machine;
		if (m->inflight == &v) {
			/* Still at the machine: remember it, keep it busy. */
			m->inflight = NULL;
			snprintf(m->abandoned, sizeof(m->abandoned), "%s",
			    v.id);
			m->abandoned_until = now_ms() +
			    server->cfg->vend_timeout * 1000;
		} else {
			struct vend *prev = NULL;

			for (pp = &m->head; *pp != NULL; pp = &(*pp)->next) {
				if (*pp == &v) {
					*pp = v.next;
					break;
				}
				prev = *pp;
			}
			if (m->tail == &v) {
				m->tail = prev;
			}
		}
		machine_complete(&v, ERR_DROP_TIMEOUT,
		    "the machine did not answer in time; nothing charged");
	}
	machine_vends--;
	pthread_mutex_unlock(&machine_lock);
	pthread_cond_destroy(&v.cond);
	snprintf(message, len, "%s", v.message);
	return v.result;
}

static int
machine_send(struct session *s, cJSON *obj)
{
	size_t len;
	char *line = proto_line(obj, &len);
	int rc;

	rc = conn_write(s->conn, line, len, now_ms() + MACHINE_WRITE_MS);
	free(line);
	return rc;
}

/* An error reply object, echoing id when there is one. */
static cJSON *
machine_error(const cJSON *id, int err, const char *message)
{
	cJSON *o = cJSON_CreateObject();

	if (id != NULL) {
		cJSON_AddItemToObject(o, "id", cJSON_Duplicate(id, 1));
	}
	cJSON_AddBoolToObject(o, "ok", 0);
	cJSON_AddStringToObject(o, "error", proto_err_code(err));
	cJSON_AddStringToObject(o, "message",
	    message != NULL ? message : proto_err_message(err));
	return o;
}

static int
machine_send_error(struct session *s, const cJSON *id, int err,
    const char *message)
{
	cJSON *o = machine_error(id, err, message);
	int rc = machine_send(s, o);

	cJSON_Delete(o);
	return rc;
}

/* Parse one line; NULL (and *reply set to the error) if unusable. */
static cJSON *
machine_parse(const char *line, size_t len, cJSON **reply)
{
	struct proto_scan ps;
	cJSON *msg = NULL;

	if (proto_scan(line, len, &ps) != 0 || ps.has_nul || ps.has_ctl ||
	    ps.bad_utf8 || ps.too_deep ||
	    (msg = cJSON_ParseWithLengthOpts(line, len + 1, NULL, 1)) ==
	    NULL || !cJSON_IsObject(msg)) {
		cJSON_Delete(msg);
		msg = NULL;
		*reply = machine_error(NULL, ERR_BAD_REQUEST,
		    "message must be one JSON object on one line");
	}
	proto_scan_free(&ps);
	return msg;
}

/* A reply from the controller: to a vend, or to one of our pings. */
static void
machine_on_reply(struct mach *m, const cJSON *msg)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(msg, "ok");
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(msg, "error");
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(msg, "message");
	char why[160];

	if (!cJSON_IsString(id) || id->valuestring[0] != 'v') {
		return;		/* a ping answer, or noise */
	}
	snprintf(why, sizeof(why), "the machine refused: %s%s%s",
	    cJSON_IsString(err) ? err->valuestring : "error",
	    cJSON_IsString(text) ? ": " : "",
	    cJSON_IsString(text) ? text->valuestring : "");
	pthread_mutex_lock(&machine_lock);
	if (m->inflight != NULL && strcmp(m->inflight->id, id->valuestring) ==
	    0) {
		machine_complete(m->inflight, cJSON_IsTrue(ok) ? ERR_NONE :
		    ERR_DROP_FAILED, cJSON_IsTrue(ok) ? "" : why);
		m->inflight = NULL;
		m->busy = 0;
	} else if (m->busy && strcmp(m->abandoned, id->valuestring) == 0) {
		log_warn("anomaly: machine %s answered vend %s %s after its "
		    "drop timed out; the member was not charged", m->name,
		    id->valuestring, cJSON_IsTrue(ok) ? "ok (item dropped)" :
		    "failed");
		m->abandoned[0] = '\0';
		m->busy = 0;
	} else {
		log_warn("machine %s: answer for unknown vend %.40s ignored",
		    m->name, id->valuestring);
	}
	pthread_mutex_unlock(&machine_lock);
}

static void
machine_on_event(struct mach *m, const cJSON *msg)
{
	const char *ev = cJSON_GetStringValue(cJSON_GetObjectItem(msg,
	    "event"));
	const cJSON *v;

	if (strcmp(ev, "slots") == 0) {
		v = cJSON_GetObjectItemCaseSensitive(msg, "slots");
		if (!cJSON_IsArray(v) ||
		    db_machine_stock(server->db, m->name, v) != ERR_NONE) {
			log_warn("machine %s: bad slots event ignored", m->name);
		}
	} else if (strcmp(ev, "temperature") == 0) {
		v = cJSON_GetObjectItemCaseSensitive(msg, "celsius");
		if (!cJSON_IsNumber(v) || v->valuedouble < -100 ||
		    v->valuedouble > 200 ||
		    db_machine_temperature(server->db, m->name,
		    v->valuedouble) != ERR_NONE) {
			log_warn("machine %s: bad temperature event ignored",
			    m->name);
		}
	} else {
		log_debug("machine %s: unknown event \"%.40s\" ignored",
		    m->name, ev);
	}
}

/*
 * One message from a registered controller.  *reply is what must be sent
 * back (caller sends and frees it), or NULL.  No I/O happens here, so the
 * fuzzer can drive it.
 */
void
machine_handle(struct mach *m, const char *line, size_t len, cJSON **reply)
{
	const cJSON *id, *cmd;
	cJSON *msg;

	*reply = NULL;
	if ((msg = machine_parse(line, len, reply)) == NULL) {
		return;
	}
	id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	cmd = cJSON_GetObjectItemCaseSensitive(msg, "cmd");
	if (cJSON_HasObjectItem(msg, "ok")) {
		machine_on_reply(m, msg);
	} else if (cJSON_IsString(cJSON_GetObjectItem(msg, "event"))) {
		machine_on_event(m, msg);
	} else if (cJSON_IsString(cmd) && strcmp(cmd->valuestring, "ping") ==
	    0) {
		*reply = cJSON_CreateObject();
		if (id != NULL) {
			cJSON_AddItemToObject(*reply, "id",
			    cJSON_Duplicate(id, 1));
		}
		cJSON_AddBoolToObject(*reply, "ok", 1);
	} else if (cJSON_IsString(cmd)) {
		*reply = machine_error(id, ERR_UNKNOWN_COMMAND,
		    "not a machine port command");
	} else {
		*reply = machine_error(id, ERR_BAD_REQUEST,
		    "expected a reply, an event or a command");
	}
	cJSON_Delete(msg);
}

/* Send the next queued vend if the machine is free. */
static int
machine_dispatch(struct session *s, struct mach *m)
{
	cJSON *o = NULL;
	int rc = CONN_OK;

	pthread_mutex_lock(&machine_lock);
	if (m->busy && m->inflight == NULL && now_ms() >= m->abandoned_until) {
		log_warn("machine %s never answered vend %s; sending the next",
		    m->name, m->abandoned);
		m->busy = 0;
		m->abandoned[0] = '\0';
	}
	if (!m->busy && m->head != NULL) {
		struct vend *v = m->head;

		m->head = v->next;
		if (m->head == NULL) {
			m->tail = NULL;
		}
		v->next = NULL;
		m->inflight = v;
		m->busy = 1;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", v->id);
		cJSON_AddStringToObject(o, "cmd", "vend");
		cJSON_AddNumberToObject(o, "slot", v->slot);
		cJSON_AddNumberToObject(o, "delay", v->delay);
		log_info("machine %s: vend %s slot %d delay %d", m->name,
		    v->id, v->slot, v->delay);
	}
	pthread_mutex_unlock(&machine_lock);
	if (o != NULL) {
		rc = machine_send(s, o);
		cJSON_Delete(o);
	}
	return rc;
}

static int
machine_ping(struct session *s)
{
	static unsigned long seq;
	cJSON *o = cJSON_CreateObject();
	char id[32];
	int rc;

	snprintf(id, sizeof(id), "p%lu", __atomic_add_fetch(&seq, 1,
	    __ATOMIC_RELAXED));
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "cmd", "ping");
	rc = machine_send(s, o);
	cJSON_Delete(o);
	return rc;
}

/*
 * The controller's loop: send queued vends, ping, and read messages, all
 * from this one thread.  Returns why the connection ended.
 */
static const char *
machine_serve(struct session *s, struct mach *m, char *why, size_t whylen)
{
	int64_t interval = server->cfg->ping_interval * 1000;
	int64_t heard = now_ms(), next_ping = heard + interval, wait, now;
	struct pollfd pfd[2];
	cJSON *reply;
	char *line, buf[64];
	size_t len;
	int rc;

	for (;;) {
		pthread_mutex_lock(&machine_lock);
		rc = m->replaced;
		pthread_mutex_unlock(&machine_lock);
		if (rc) {
			return "replaced by a newer connection";
		}
		if (machine_dispatch(s, m) != CONN_OK) {
			return conn_error(s->conn);
		}
		now = now_ms();
		if (now - heard >= 3 * interval) {
			snprintf(why, whylen, "silent for %lld s",
			    (long long)((now - heard) / 1000));
			return why;
		}
		if (now >= next_ping) {
			if (machine_ping(s) != CONN_OK) {
				return conn_error(s->conn);
			}
			next_ping = now + interval;
		}
		if (!conn_line_buffered(s->conn) &&
		    SSL_pending(conn_ssl(s->conn)) == 0) {
			wait = next_ping < heard + 3 * interval ? next_ping :
			    heard + 3 * interval;
			pthread_mutex_lock(&machine_lock);
			/* Wake when an abandoned vend stops blocking the queue. */
			if (m->busy && m->inflight == NULL && m->head != NULL &&
			    m->abandoned_until < wait) {
				wait = m->abandoned_until;
			}
			pthread_mutex_unlock(&machine_lock);
			wait -= now;
			pfd[0] = (struct pollfd){ .fd = conn_fd(s->conn),
				.events = POLLIN };
			pfd[1] = (struct pollfd){ .fd = m->wake[0],
				.events = POLLIN };
			if (poll(pfd, 2, wait < 0 ? 0 : (int)wait) < 0 &&
			    errno != EINTR) {
				return "poll failed";
			}
			if (pfd[1].revents & POLLIN) {
				while (read(m->wake[0], buf, sizeof(buf)) > 0) {
					;
				}
			}
			if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
				continue;
			}
		}
		rc = conn_read_line(s->conn, &line, &len, now_ms(),
		    server->cfg->line_timeout * 1000);
		if (rc == CONN_TIMEOUT) {
			continue;
		}
		if (rc == CONN_TOO_LONG) {
			(void)machine_send_error(s, NULL, ERR_LINE_TOO_LONG,
			    NULL);
			return "line too long";
		}
		if (rc != CONN_OK) {
			return rc == CONN_EOF ? "closed by controller" :
			    conn_error(s->conn);
		}
		heard = now_ms();
		machine_handle(m, line, len, &reply);
		if (reply != NULL) {
			rc = machine_send(s, reply);
			cJSON_Delete(reply);
			if (rc != CONN_OK) {
				return conn_error(s->conn);
			}
		}
	}
}

/*
 * Wait for "register" (the controller speaks first), record sensed stock
 * and answer.  Returns 0 when registered.
 */
static int
machine_register(struct session *s, const char *name)
{
	const cJSON *id, *cmd, *slots;
	cJSON *msg, *o = NULL;
	char *line;
	size_t len;
	int rc;

	int64_t deadline = now_ms() + server->cfg->handshake_timeout * 1000;

	/* Lines that are not JSON objects are answered and skipped. */
	do {
		rc = now_ms() < deadline ? conn_read_line(s->conn, &line, &len,
		    deadline, server->cfg->line_timeout * 1000) : CONN_TIMEOUT;
		if (rc != CONN_OK) {
			log_info("machine %s: no register message (%s)", name,
			    rc == CONN_TIMEOUT ? "timed out" :
			    rc == CONN_TOO_LONG ? "line too long" :
			    conn_error(s->conn));
			return -1;
		}
		if ((msg = machine_parse(line, len, &o)) == NULL) {
			rc = machine_send(s, o);
			cJSON_Delete(o);
			o = NULL;
			if (rc != CONN_OK) {
				return -1;
			}
		}
	} while (msg == NULL);
	id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	cmd = cJSON_GetObjectItemCaseSensitive(msg, "cmd");
	slots = cJSON_GetObjectItemCaseSensitive(msg, "slots");
	rc = -1;
	if (!cJSON_IsString(cmd) || strcmp(cmd->valuestring, "register") !=
	    0) {
		(void)machine_send_error(s, id, ERR_BAD_REQUEST,
		    "the first message must be register");
		log_info("machine %s: first message was not register", name);
	} else if (slots != NULL && (!cJSON_IsArray(slots) ||
	    db_machine_stock(server->db, name, slots) != ERR_NONE)) {
		(void)machine_send_error(s, id, ERR_BAD_REQUEST,
		    "slots must be [{\"slot\":1-255,\"stock\":>=0}, ...]");
		log_info("machine %s: bad slots in register", name);
	} else {
		o = cJSON_CreateObject();
		if (id != NULL) {
			cJSON_AddItemToObject(o, "id", cJSON_Duplicate(id, 1));
		}
		cJSON_AddBoolToObject(o, "ok", 1);
		cJSON_AddStringToObject(o, "machine", name);
		rc = machine_send(s, o) == CONN_OK ? 0 : -1;
		cJSON_Delete(o);
		log_info("machine %s: registered (firmware %s)", name,
		    cJSON_IsString(cJSON_GetObjectItem(msg, "firmware")) ?
		    cJSON_GetObjectItem(msg, "firmware")->valuestring :
		    "unknown");
	}
	cJSON_Delete(msg);
	return rc;
}

struct mach *
machine_new(const char *name, int fd)
{
	struct mach *m = xcalloc(1, sizeof(*m));

	snprintf(m->name, sizeof(m->name), "%s", name);
	m->fd = fd;
	if (pipe2(m->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		free(m);
		return NULL;
	}
	return m;
}

void
machine_free(struct mach *m)
{
	if (m == NULL) {
		return;
	}
	close(m->wake[0]);
	close(m->wake[1]);
	free(m);
}

/* Put m online, replacing (and closing) an older connection. */
static void
machine_add(struct mach *m)
{
	struct mach *old;

	pthread_mutex_lock(&machine_lock);
	if ((old = machine_find(m->name)) != NULL) {
		old->replaced = 1;
		machine_unlink(old);
		shutdown(old->fd, SHUT_RDWR);
		machine_poke(old);
		log_info("machine %s: new connection replaces the old one",
		    m->name);
	}
	m->next = machine_head;
	machine_head = m;
	pthread_mutex_unlock(&machine_lock);
}

/* Take m offline and fail whatever it still had. */
static void
machine_remove(struct mach *m)
{
	struct vend *v, *next;

	pthread_mutex_lock(&machine_lock);
	machine_unlink(m);
	if (m->inflight != NULL) {
		machine_complete(m->inflight, ERR_DROP_FAILED,
		    "the machine disconnected during the vend; nothing "
		    "charged");
	}
	for (v = m->head; v != NULL; v = next) {
		next = v->next;
		machine_complete(v, ERR_DROP_FAILED,
		    "the machine disconnected before vending; nothing "
		    "charged");
	}
	m->head = m->tail = m->inflight = NULL;
	pthread_mutex_unlock(&machine_lock);
}

/* Certificate CN -> a registered, enabled machine; 0 when allowed. */
static int
machine_admit(struct session *s, char *name, size_t len)
{
	const char *why = NULL;
	int rc;

	if (tls_peer_cn(conn_ssl(s->conn), name, len) != 0 ||
	    !proto_valid_name(name)) {
		why = "certificate has no usable CN";
	} else if (!tls_peer_client_eku(conn_ssl(s->conn))) {
		why = "certificate lacks extended key usage clientAuth";
	} else if ((rc = db_machine_allowed(server->db, name)) ==
	    ERR_NO_SUCH_MACHINE) {
		why = "not a registered machine";
	} else if (rc == ERR_FORBIDDEN) {
		why = "machine is disabled";
	} else if (rc != ERR_NONE) {
		why = "database error";
	}
	if (why == NULL) {
		return 0;
	}
	log_warn("machine connection from %s port %d refused: CN \"%s\": %s",
	    s->client.address, s->client.port, name, why);
	(void)machine_send_error(s, NULL, ERR_FORBIDDEN, why);
	return -1;
}

void *
machine_main(void *arg)
{
	struct session *s = arg;
	struct mach *m = NULL;
	SSL_CTX *ctx = server_machine_ctx();
	char name[PROTO_NAME_MAX + 1] = "", whybuf[64];
	const char *why;
	int64_t id = 0;

	s->conn = conn_new(s->client.fd, ctx, (size_t)server->cfg->max_line);
	SSL_CTX_free(ctx);
	if (s->conn == NULL) {
		goto out;
	}
	if (conn_accept(s->conn, now_ms() + server->cfg->handshake_timeout *
	    1000) != CONN_OK) {
		log_warn("machine connection from %s port %d refused: TLS "
		    "handshake failed: %s", s->client.address, s->client.port,
		    conn_error(s->conn));
		goto out;
	}
	if (machine_admit(s, name, sizeof(name)) != 0) {
		goto out;
	}
	if (db_session_open(server->db, "machine", s->client.address,
	    s->client.port, &id) != ERR_NONE) {
		goto out;
	}
	client_set_name(&s->client, name);
	client_show(&s->client, id);
	(void)db_session_name(server->db, id, NULL, name);
	log_info("session %lld: machine %s connected from %s port %d",
	    (long long)id, name, s->client.address, s->client.port);
	if (machine_register(s, name) != 0) {
		why = "registration failed";
		goto closed;
	}
	if ((m = machine_new(name, conn_fd(s->conn))) == NULL) {
		why = "cannot create a pipe";
		goto closed;
	}
	machine_add(m);
	why = machine_serve(s, m, whybuf, sizeof(whybuf));
	machine_remove(m);
closed:
	log_info("session %lld: machine %s offline (%s)", (long long)id, name,
	    why);
	conn_shutdown(s->conn, now_ms() + 1000);
	(void)db_session_close(server->db, id);
out:
	client_remove(&s->client);
	conn_free(s->conn);
	machine_free(m);
	free(s);
	return NULL;
}
