/*
 * A JSON controller on the machine port (PROTOCOL.md section 4), from
 * accept to close, in its own thread: TLS, admission by certificate,
 * register, then vends taken from the registry (vend.c), pings, and the
 * controller's answers and events handed to the drop (drop.c).  Only this
 * thread writes to the socket, so the SSL stays single-threaded; the
 * registry reaches the thread through a pipe (wake) and a socket shutdown
 * (hangup).
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

/* Why the server closed a machine's connection, for the log. */
static const char *const machine_close_why[] = {
	[MACH_CLOSE_NONE] = NULL,
	[MACH_CLOSE_SHUTDOWN] = "closed by the server: shutting down",
	[MACH_CLOSE_KICK] = "closed by the server: kicked by an admin",
	[MACH_CLOSE_DISABLED] = "closed by the server: machine disabled",
	[MACH_CLOSE_DELETED] = "closed by the server: machine deleted",
	[MACH_CLOSE_REPLACED] = "closed by the server: replaced by a newer "
	    "connection",
};

static void
machine_wake(void *arg)
{
	struct machine_conn *mc = arg;
	ssize_t n = write(mc->wake[1], "x", 1);

	(void)n;	/* a full pipe already means "wake up" */
}

static void
machine_hangup(void *arg)
{
	struct machine_conn *mc = arg;

	shutdown(mc->peer.client.fd, SHUT_RDWR);
}

static const struct vend_ops machine_ops = {
	.wake = machine_wake,
	.hangup = machine_hangup,
};

static int
machine_send(struct machine_conn *mc, cJSON *obj)
{
	return proto_write(mc->peer.conn, obj, now_ms() + MACHINE_WRITE_MS);
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
machine_send_error(struct machine_conn *mc, const cJSON *id, int err,
    const char *message)
{
	cJSON *o = machine_error(id, err, message);
	int rc = machine_send(mc, o);

	cJSON_Delete(o);
	return rc;
}

/*
 * A controller's "id" that is not a string, as it was written: every
 * answer echoes it verbatim (PROTOCOL.md section 2), and cJSON would print
 * 12345678901234567890 back as 1.2345678901234567e+19.  A string is left
 * as parsed: machine_on_reply matches vend ids by value.
 */
static void
machine_raw_id(cJSON *msg, const char *line, const struct proto_scan *ps)
{
	const struct proto_member *pm;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	char *raw;

	/* With escaped names, cJSON's first "id" may not be the scan's. */
	if (id == NULL || cJSON_IsString(id) || ps->escaped_key ||
	    (pm = proto_scan_find(ps, line, "id")) == NULL || !pm->clean) {
		return;
	}
	raw = xmalloc(pm->len + 1);
	memcpy(raw, line + pm->off, pm->len);
	raw[pm->len] = '\0';
	cJSON_ReplaceItemInObjectCaseSensitive(msg, "id", cJSON_CreateRaw(raw));
	free(raw);
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
	} else {
		machine_raw_id(msg, line, &ps);
	}
	proto_scan_free(&ps);
	return msg;
}

/* A reply from the controller: to a vend, or to one of our pings. */
static void
machine_on_reply(struct machine_conn *mc, const cJSON *msg)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(msg, "ok");
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(msg, "error");
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(msg, "message");
	const cJSON *stock = cJSON_GetObjectItemCaseSensitive(msg, "stock");
	char why[160];
	const char *e = cJSON_IsString(err) ? err->valuestring : "error";
	const char *t = cJSON_IsString(text) ? text->valuestring : "";

	if (!cJSON_IsString(id) || id->valuestring[0] != 'v') {
		return;		/* a ping answer, or noise */
	}
	/* Cut so that "; nothing charged" stays, and no character splits. */
	snprintf(why, sizeof(why), "the machine refused: %.*s%s%.*s; "
	    "nothing charged", str_utf8_prefix(e, 40), e,
	    cJSON_IsString(text) ? ": " : "", str_utf8_prefix(t, 79), t);
	drop_answer(mc->peer.srv, mc->mach, id->valuestring, cJSON_IsTrue(ok),
	    cJSON_IsNumber(stock) && stock->valuedouble >= 0 &&
	    stock->valuedouble <= PROTO_MAX_AMOUNT ?
	    (int64_t)stock->valuedouble : -1, cJSON_IsTrue(ok) ? "" : why,
	    &mc->vended);
}

/*
 * A well-formed event the database did not take (a storage fault, logged
 * apart): the event was fine, so the log does not blame the machine.
 */
static void
machine_event_lost(const char *name, const char *ev)
{
	int refused = db_take_refused();

	log_warn("machine %s: %s event not recorded: %s", name, ev,
	    refused ? "storage refuses writes until it recovers" :
	    "the database could not write it");
}

static void
machine_on_event(struct machine_conn *mc, const cJSON *msg)
{
	struct server *srv = mc->peer.srv;
	const char *name = vend_mach_name(mc->mach);
	const char *ev = cJSON_GetStringValue(cJSON_GetObjectItem(msg,
	    "event"));
	const cJSON *v;
	int rc;

	(void)db_take_refused();	/* this thread's earlier writes' */
	if (strcmp(ev, "slots") == 0) {
		rc = drop_sensed(srv, mc->mach,
		    cJSON_GetObjectItemCaseSensitive(msg, "slots"));
		if (rc == ERR_BAD_REQUEST) {
			log_warn("machine %s: bad slots event ignored", name);
		} else if (rc != ERR_NONE) {
			machine_event_lost(name, "slots");
		}
	} else if (strcmp(ev, "temperature") == 0) {
		v = cJSON_GetObjectItemCaseSensitive(msg, "celsius");
		if (!cJSON_IsNumber(v) || v->valuedouble < -100 ||
		    v->valuedouble > 200) {
			log_warn("machine %s: bad temperature event ignored",
			    name);
		} else if (db_machine_temperature(srv->db, name,
		    v->valuedouble) != ERR_NONE) {
			machine_event_lost(name, "temperature");
		} else {
			event_machine(srv, name);
		}
	} else {
		log_debug("machine %s: unknown event \"%.40s\" ignored",
		    name, ev);
	}
}

/*
 * One message from a registered controller.  *reply is what must be sent
 * back (caller sends and frees it), or NULL.  No socket I/O happens here,
 * so the fuzzer can drive it.
 */
void
machine_handle(struct machine_conn *mc, const char *line, size_t len,
    cJSON **reply)
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
		machine_on_reply(mc, msg);
	} else if (cJSON_IsString(cJSON_GetObjectItem(msg, "event"))) {
		machine_on_event(mc, msg);
	} else if (cJSON_IsString(cmd) && strcmp(cmd->valuestring, "ping") ==
	    0) {
		*reply = cJSON_CreateObject();
		if (id != NULL) {
			cJSON_AddItemToObject(*reply, "id",
			    cJSON_Duplicate(id, 1));
		}
		cJSON_AddBoolToObject(*reply, "ok", 1);
	} else if (cJSON_IsString(cmd) && strcmp(cmd->valuestring,
	    "card_drop") == 0) {
		card_drop_start(mc->peer.srv, mc->cards,
		    vend_mach_name(mc->mach), msg, reply);
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
machine_dispatch(struct machine_conn *mc)
{
	struct vend_cmd vc;
	cJSON *o;
	int rc;

	if (!vend_next(mc->peer.srv->vends, mc->mach, &vc)) {
		return CONN_OK;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", vc.id);
	cJSON_AddStringToObject(o, "cmd", "vend");
	cJSON_AddNumberToObject(o, "slot", vc.slot);
	cJSON_AddNumberToObject(o, "delay", vc.delay);
	log_debug("machine %s: vend %s slot %d delay %d (tx %lld)",
	    vend_mach_name(mc->mach), vc.id, vc.slot, vc.delay,
	    (long long)vc.tx);
	rc = machine_send(mc, o);
	cJSON_Delete(o);
	if (rc == CONN_OK) {
		event_drop(vc.tx, NULL, NULL, 0, "vending", NULL);
	}
	return rc;
}

static int
machine_ping(struct machine_conn *mc)
{
	static unsigned long seq;
	cJSON *o = cJSON_CreateObject();
	char id[32];
	int rc;

	snprintf(id, sizeof(id), "p%lu", __atomic_add_fetch(&seq, 1,
	    __ATOMIC_RELAXED));
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "cmd", "ping");
	rc = machine_send(mc, o);
	cJSON_Delete(o);
	return rc;
}

/* Write a finished card_drop's reply, if there is one. */
static int
machine_card_reply(struct machine_conn *mc)
{
	char *line = card_box_take(mc->cards);
	int rc = CONN_OK;

	if (line != NULL) {
		rc = conn_write(mc->peer.conn, line, strlen(line),
		    now_ms() + MACHINE_WRITE_MS);
		free(line);
	}
	return rc;
}

/*
 * The controller's loop: send queued vends, ping, and read messages, all
 * from this one thread.  Returns why the connection ended, as seen from
 * here; the server's own reasons (kick, replacement...) win in the log.
 */
static const char *
machine_serve(struct machine_conn *mc, char *why, size_t whylen)
{
	const struct config *cfg = mc->peer.srv->cfg;
	struct conn *c = mc->peer.conn;
	int64_t interval = cfg->ping_interval * 1000;
	int64_t heard = now_ms(), next_ping = heard + interval, wait, now, due;
	struct pollfd pfd[2];
	cJSON *reply;
	char *line, buf[64];
	size_t len;
	int rc;

	for (;;) {
		if (vend_mach_state(mc->peer.srv->vends, mc->mach) ==
		    MACH_STATE_GONE) {
			return "closed by the server";
		}
		/*
		 * What the controller already sent is handled before the next
		 * vend goes out: an answer and the slots event written with it
		 * both belong to the vend before.
		 */
		if (!conn_line_buffered(c) && !conn_tls_pending(c) &&
		    machine_dispatch(mc) != CONN_OK) {
			return conn_error(c);
		}
		/*
		 * An "ok" just read is recorded now, while the machine works
		 * on the next vend, and before its next message is handled.
		 */
		drop_vended(mc->peer.srv, mc->mach, &mc->vended);
		now = now_ms();
		if (now - heard >= 3 * interval) {
			snprintf(why, whylen, "silent for %lld s",
			    (long long)((now - heard) / 1000));
			return why;
		}
		if (now >= next_ping) {
			if (machine_ping(mc) != CONN_OK) {
				return conn_error(c);
			}
			next_ping = now + interval;
		}
		if (!conn_line_buffered(c) && !conn_tls_pending(c)) {
			wait = next_ping < heard + 3 * interval ? next_ping :
			    heard + 3 * interval;
			/* Wake when an abandoned vend stops blocking the queue. */
			due = vend_next_due(mc->peer.srv->vends, mc->mach);
			if (due < wait) {
				wait = due;
			}
			wait -= now;
			pfd[0] = (struct pollfd){ .fd = conn_fd(c),
				.events = POLLIN };
			pfd[1] = (struct pollfd){ .fd = mc->wake[0],
				.events = POLLIN };
			if (poll(pfd, 2, wait < 0 ? 0 : (int)wait) < 0 &&
			    errno != EINTR) {
				return "poll failed";
			}
			if (pfd[1].revents & POLLIN) {
				while (read(mc->wake[0], buf, sizeof(buf)) >
				    0) {
					;
				}
				if (machine_card_reply(mc) != CONN_OK) {
					return conn_error(c);
				}
			}
			if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
				continue;
			}
		}
		rc = conn_read_line(c, &line, &len, now_ms(),
		    cfg->line_timeout * 1000);
		if (rc == CONN_TIMEOUT) {
			continue;
		}
		if (rc == CONN_TOO_LONG) {
			(void)machine_send_error(mc, NULL, ERR_LINE_TOO_LONG,
			    NULL);
			return "line too long";
		}
		if (rc != CONN_OK) {
			return rc == CONN_EOF ? "closed by the controller" :
			    conn_error(c);
		}
		heard = now_ms();
		machine_handle(mc, line, len, &reply);
		if (reply != NULL) {
			rc = machine_send(mc, reply);
			cJSON_Delete(reply);
			if (rc != CONN_OK) {
				return conn_error(c);
			}
		}
	}
}

/*
 * Wait for "register" (the controller speaks first), record sensed stock,
 * put the machine online (mc->mach into the registry) and answer.
 * Returns 0 when registered.
 */
static int
machine_register(struct machine_conn *mc, const char *name)
{
	const cJSON *id, *cmd, *slots;
	cJSON *msg, *o = NULL;
	char *line;
	size_t len;
	int rc, stored = ERR_NONE;
	cJSON *before = event_slots_before(mc->peer.srv, name);

	int64_t deadline = now_ms() + mc->peer.srv->cfg->handshake_timeout * 1000;

	/* Lines that are not JSON objects are answered and skipped. */
	do {
		rc = now_ms() < deadline ? conn_read_line(mc->peer.conn, &line, &len,
		    deadline, mc->peer.srv->cfg->line_timeout * 1000) : CONN_TIMEOUT;
		if (rc != CONN_OK) {
			log_info("machine %s: no register message (%s)", name,
			    rc == CONN_TIMEOUT ? "timed out" :
			    rc == CONN_TOO_LONG ? "line too long" :
			    conn_error(mc->peer.conn));
			cJSON_Delete(before);
			return -1;
		}
		if ((msg = machine_parse(line, len, &o)) == NULL) {
			rc = machine_send(mc, o);
			cJSON_Delete(o);
			o = NULL;
			if (rc != CONN_OK) {
				cJSON_Delete(before);
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
		(void)machine_send_error(mc, id, ERR_BAD_REQUEST,
		    "the first message must be register");
		log_info("machine %s: first message was not register", name);
	} else if (slots != NULL && (!cJSON_IsArray(slots) ||
	    (stored = db_machine_stock(mc->peer.srv->db, name, slots)) ==
	    ERR_BAD_REQUEST)) {
		(void)machine_send_error(mc, id, ERR_BAD_REQUEST,
		    "slots must be [{\"slot\":1-255,\"stock\":>=0}, ...]");
		log_info("machine %s: bad slots in register", name);
	} else {
		o = cJSON_CreateObject();
		if (id != NULL) {
			cJSON_AddItemToObject(o, "id", cJSON_Duplicate(id, 1));
		}
		cJSON_AddBoolToObject(o, "ok", 1);
		cJSON_AddStringToObject(o, "machine", name);
		/*
		 * Online before the answer: a controller told it is
		 * registered is sent drops, never refused machine_offline.
		 */
		vend_attach(mc->peer.srv->vends, mc->mach);
		rc = machine_send(mc, o) == CONN_OK ? 0 : -1;
		cJSON_Delete(o);
		if (stored != ERR_NONE) {
			log_warn("machine %s: its sensed stock could not be "
			    "recorded (%s)", name, proto_err_code(stored));
		}
		log_info("machine %s: registered (firmware %s)", name,
		    cJSON_IsString(cJSON_GetObjectItem(msg, "firmware")) ?
		    cJSON_GetObjectItem(msg, "firmware")->valuestring :
		    "unknown");
	}
	cJSON_Delete(msg);
	event_slots(mc->peer.srv, name, before, 0);
	return rc;
}

int
machine_setup(struct machine_conn *mc, const char *name)
{
	if (pipe2(mc->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		mc->wake[0] = mc->wake[1] = -1;
		return -1;
	}
	mc->mach = vend_mach_new(name, &machine_ops, mc);
	mc->cards = card_box_new(mc->wake[1]);
	return 0;
}

/* Offline (if not already) and freed; safe on a half-built one. */
void
machine_teardown(struct machine_conn *mc)
{
	if (mc->mach != NULL) {
		/* An "ok" already read is recorded, whatever ended the loop. */
		drop_vended(mc->peer.srv, mc->mach, &mc->vended);
		vend_detach(mc->peer.srv->vends, mc->mach);
		vend_mach_free(mc->mach);
		mc->mach = NULL;
	}
	/* Before the pipe closes: no card_drop worker writes to it after. */
	card_box_close(mc->cards);
	mc->cards = NULL;
	if (mc->wake[0] != -1) {
		close(mc->wake[0]);
		close(mc->wake[1]);
		mc->wake[0] = mc->wake[1] = -1;
	}
}

/* Certificate CN -> a registered, enabled machine; 0 when allowed. */
static int
machine_admit(struct machine_conn *mc, char *name, size_t len)
{
	const char *why = NULL;
	char how[PROTO_NAME_MAX + 64] = "";
	int rc;

	if (tls_peer_cn(conn_ssl(mc->peer.conn), name, len) != 0 ||
	    !proto_valid_name(name)) {
		why = "certificate has no usable CN";
	} else if (!tls_peer_client_eku(conn_ssl(mc->peer.conn))) {
		why = "certificate lacks extended key usage clientAuth";
	} else if ((rc = db_machine_allowed(mc->peer.srv->db, name)) ==
	    ERR_NO_SUCH_MACHINE) {
		why = "not a registered machine";
		snprintf(how, sizeof(how), "; an admin adds it with drink "
		    "machine-add %s NAME", name);
	} else if (rc == ERR_FORBIDDEN) {
		why = "machine is disabled";
		snprintf(how, sizeof(how), "; an admin enables it with drink "
		    "machine-mod %s --enable", name);
	} else if (rc != ERR_NONE) {
		why = "database error";
	}
	if (why == NULL) {
		return 0;
	}
	/* The log, read by whoever can mend it, says how; the wire does not. */
	log_warn("machine connection from %s port %d refused: CN \"%s\": %s%s",
	    mc->peer.client.address, mc->peer.client.port, name, why, how);
	(void)machine_send_error(mc, NULL, ERR_FORBIDDEN, why);
	return -1;
}

void *
machine_main(void *arg)
{
	struct machine_conn *mc = arg;
	struct server *srv = mc->peer.srv;
	SSL_CTX *ctx = server_machine_ctx(srv);
	char name[PROTO_NAME_MAX + 1] = "", whybuf[64];
	const char *why, *server_why;
	int64_t id = 0;

	mc->wake[0] = mc->wake[1] = -1;
	mc->peer.conn = conn_new(mc->peer.client.fd, ctx,
	    (size_t)srv->cfg->max_line);
	SSL_CTX_free(ctx);
	if (mc->peer.conn == NULL) {
		goto out;
	}
	if (conn_accept(mc->peer.conn, now_ms() +
	    srv->cfg->handshake_timeout * 1000) != CONN_OK) {
		log_warn("machine connection from %s port %d refused: TLS "
		    "handshake failed: %s", mc->peer.client.address,
		    mc->peer.client.port, conn_error(mc->peer.conn));
		goto out;
	}
	if (machine_admit(mc, name, sizeof(name)) != 0) {
		goto out;
	}
	/* A storage fault must not take machines offline: serve unrecorded. */
	db_set_op("recording a session");
	if (db_session_open(srv->db, "machine", mc->peer.client.address,
	    mc->peer.client.port, &id) != ERR_NONE) {
		id = 0;
	}
	client_set_name(&mc->peer.client, name);
	client_show(&mc->peer.client, id);
	event_session(&mc->peer.client, "open");
	(void)db_session_name(srv->db, id, NULL, name);
	log_info("session %lld: machine %s connected from %s port %d",
	    (long long)id, name, mc->peer.client.address,
	    mc->peer.client.port);
	if (machine_setup(mc, name) != 0) {
		why = "cannot create a pipe";
	} else if (machine_register(mc, name) != 0) {
		why = "registration failed";
	} else {
		event_machine(srv, name);
		why = machine_serve(mc, whybuf, sizeof(whybuf));
		server_why = machine_close_why[vend_closed_by(srv->vends,
		    mc->mach)];
		if (server_why != NULL) {
			why = server_why;
		}
	}
	if (client_closed_by(&mc->peer.client) != NULL) {
		why = client_closed_by(&mc->peer.client);
	}
	machine_teardown(mc);
	event_machine(srv, name);
	event_session(&mc->peer.client, "closed");
	log_info("session %lld: machine %s offline (%s)", (long long)id, name,
	    why);
	conn_shutdown(mc->peer.conn, now_ms() + 1000);
	(void)db_session_close(srv->db, id);
out:
	machine_teardown(mc);
	client_remove(&mc->peer.client);
	conn_free(mc->peer.conn);
	free(mc);
	return NULL;
}
