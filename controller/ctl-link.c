/*
 * The link to drinkd's machine port: dial, TLS, register, then serve until
 * the connection fails or a stop signal arrives, reconnecting with
 * exponential backoff in between.  One thread does everything.  Waits for
 * the server watch the stop pipe too; the few that do not (dial,
 * handshake, one write, the rest of a started line, a running vend) are
 * each bounded by a deadline of a few seconds.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define CTL_LINK_POLL_MAX_MS 60000
#define CTL_LINK_REGISTER_ID 1

enum ctl_link_status {
	CTL_LINK_OK = 0,
	CTL_LINK_STOP,		/* a stop signal arrived */
	CTL_LINK_RETRY,		/* failed or lost: back off, then reconnect */
	CTL_LINK_FATAL,		/* refused; retrying will not change that */
};

/* ctl_link_read's own outcomes (conn_status values are <= 0). */
#define CTL_LINK_STOPPED 1	/* a stop signal arrived */
#define CTL_LINK_STALLED 2	/* a line started but did not finish */

int
ctl_link_send(struct ctl_link *l, const cJSON *msg)
{
	size_t len;
	char *line = proto_line(msg, &len);
	int rc;

	log_debug("send: %.*s", (int)len - 1, line);
	rc = conn_write(l->conn, line, len, now_ms() + CTL_WRITE_MS);
	free(line);
	if (rc != CONN_OK) {
		log_warn("cannot send to the server: %s", conn_error(l->conn));
		return -1;
	}
	return 0;
}

/* [{"slot":N,"stock":M}, ...] as the hardware senses it; caller deletes. */
static cJSON *
ctl_link_slots(const struct ctl_link *l)
{
	cJSON *slots = cJSON_CreateArray();

	l->cfg->hw_ops->stock(l->cfg->hw, slots);
	return slots;
}

int
ctl_link_send_slots(struct ctl_link *l)
{
	cJSON *o = cJSON_CreateObject();
	int rc;

	cJSON_AddStringToObject(o, "event", "slots");
	cJSON_AddItemToObject(o, "slots", ctl_link_slots(l));
	rc = ctl_link_send(l, o);
	cJSON_Delete(o);
	return rc;
}

static int
ctl_link_send_temperature(struct ctl_link *l)
{
	cJSON *o;
	double celsius;
	int rc;

	if (l->cfg->hw_ops->temperature(l->cfg->hw, &celsius) != 0) {
		log_debug("no temperature reading");
		return 0;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "event", "temperature");
	cJSON_AddNumberToObject(o, "celsius", celsius);
	rc = ctl_link_send(l, o);
	cJSON_Delete(o);
	return rc;
}

static int
ctl_link_send_ping(struct ctl_link *l)
{
	cJSON *o = cJSON_CreateObject();
	char id[32];
	int rc;

	snprintf(id, sizeof(id), "c%lu", ++l->ping_seq);
	cJSON_AddStringToObject(o, "cmd", "ping");
	cJSON_AddStringToObject(o, "id", id);
	rc = ctl_link_send(l, o);
	cJSON_Delete(o);
	return rc;
}

/*
 * Wait for one complete line from the server until deadline, watching the
 * stop pipe.  Returns CONN_OK with *line set (valid until the next read),
 * CONN_TIMEOUT at the deadline, CTL_LINK_STOPPED, CTL_LINK_STALLED, or
 * a final conn_status.
 *
 * conn_read_line() is only called when poll() says the socket is readable
 * (or bytes are already buffered), with an idle deadline of "now": it
 * takes what has arrived without waiting for more.  A timeout long before
 * CTL_LINE_MS therefore means no byte of a line came (a partial TLS
 * record, a session ticket) and is no failure; a line that started but
 * stalls times out only after CTL_LINE_MS, and ends the connection.
 */
static int
ctl_link_read(struct ctl_link *l, int64_t deadline, char **line,
    size_t *len)
{
	struct pollfd pfd[2];
	int64_t start, left;
	int n, st;

	for (;;) {
		if (ctl_stopping()) {
			return CTL_LINK_STOPPED;
		}
		if (!conn_line_buffered(l->conn) &&
		    !conn_tls_pending(l->conn)) {
			left = deadline - now_ms();
			if (left < 0) {
				left = 0;
			} else if (left > CTL_LINK_POLL_MAX_MS) {
				left = CTL_LINK_POLL_MAX_MS;
			}
			pfd[0] = (struct pollfd){ .fd = conn_fd(l->conn),
				.events = POLLIN };
			pfd[1] = (struct pollfd){ .fd = ctl_wake_fd(),
				.events = POLLIN };
			n = poll(pfd, 2, (int)left);
			if (n < 0 && errno != EINTR) {
				log_warn("poll: %s", strerror(errno));
				return CONN_ERROR;
			}
			if (n == 0 && now_ms() >= deadline) {
				return CONN_TIMEOUT;
			}
			if (n <= 0 || pfd[0].revents == 0) {
				continue;
			}
		}
		start = now_ms();
		st = conn_read_line(l->conn, line, len, start, CTL_LINE_MS);
		if (st == CONN_OK) {
			l->heard = now_ms();
			log_debug("recv: %.*s", (int)*len, *line);
			return CONN_OK;
		}
		if (st == CONN_TIMEOUT && now_ms() - start < CTL_LINE_MS) {
			continue;
		}
		return st == CONN_TIMEOUT ? CTL_LINK_STALLED : st;
	}
}

/* Why a connection ended, for the log. */
static const char *
ctl_link_why(const struct ctl_link *l, int st)
{
	switch (st) {
	case CONN_EOF:
		return "connection closed by the server";
	case CONN_TOO_LONG:
		return "the server sent a line longer than 64 KiB";
	case CTL_LINK_STALLED:
		return "a line from the server stopped half-way";
	default:
		return conn_error(l->conn);
	}
}

/*
 * The server's TLS alert refused this machine's certificate (revoked,
 * expired, from another CA): the same certificate will be refused again,
 * so stop rather than retry until someone replaces it.
 */
static int
ctl_link_cert_refused(const struct ctl_link *l)
{
	log_err("the server refused this machine's certificate: %s",
	    conn_error(l->conn));
	return CTL_LINK_FATAL;
}

/*
 * Why the server's certificate did not verify, when the reason is that it
 * is not for -H (the names it is for are said), or that no certificate in
 * --ca issued it: --ca names another CA than the one that signed drinkd's
 * "cert" (or the server has a certificate from elsewhere).
 * Either side can be the one to fix, so this is said, not decided: the
 * attempt is retried like any other failed handshake.  "" otherwise.
 */
static const char *
ctl_link_verify_hint(const struct ctl_link *l, char *buf, size_t len)
{
	char names[256];

	if (tls_verify_name_mismatch(conn_ssl(l->conn), names,
	    sizeof(names))) {
		snprintf(buf, len, ": the server's certificate is for %s, not "
		    "%s; -H must be one of those (DRINK_SERVER in "
		    "drink-machine@.service's .env file)", names[0] != '\0' ?
		    names : "no name at all", l->cfg->host);
		return buf;
	}
	if (!tls_verify_issuer_unknown(conn_ssl(l->conn))) {
		return "";
	}
	snprintf(buf, len, ": the server's certificate is not signed by the "
	    "CA in --ca %s; --ca must name the CA that issued drinkd's "
	    "certificate (its \"cert\")", l->cfg->ca);
	return buf;
}

/* TCP, then TLS with the server's certificate checked against -H. */
static int
ctl_link_connect(struct ctl_link *l)
{
	const struct ctl_config *cfg = l->cfg;
	char err[256], hint[PATH_MAX + 160];
	int fd;

	log_debug("connecting to %s port %s", cfg->host, cfg->port);
	fd = conn_dial(cfg->host, cfg->port, now_ms() + CTL_CONNECT_MS, err,
	    sizeof(err));
	if (fd == -1) {
		log_warn("%s", err);
		return CTL_LINK_RETRY;
	}
	if ((l->conn = conn_new(fd, l->ctx, CTL_MAX_LINE)) == NULL) {
		log_warn("cannot set up a TLS connection: %s",
		    tls_error_string(err, sizeof(err), "out of memory"));
		return CTL_LINK_RETRY;
	}
	if (conn_connect(l->conn, cfg->host, now_ms() + CTL_CONNECT_MS) !=
	    CONN_OK) {
		if (conn_cert_refused(l->conn)) {
			return ctl_link_cert_refused(l);
		}
		log_warn("TLS handshake with %s port %s failed: %s%s",
		    cfg->host, cfg->port, conn_error(l->conn),
		    ctl_link_verify_hint(l, hint, sizeof(hint)));
		return CTL_LINK_RETRY;
	}
	return CTL_LINK_OK;
}

/*
 * -p names a port that is not a machine port, most likely drinkd's member
 * port: it will not learn register by waiting, so this ends the program.
 */
static int
ctl_link_not_machine_port(const struct ctl_link *l, const char *why)
{
	const char *host = l->cfg->host;
	int v6 = strchr(host, ':') != NULL;

	log_err("%s%s%s:%s is not a machine port (%s): use the server's "
	    "machine port (machine_listen, 4343 by default)", v6 ? "[" : "",
	    host, v6 ? "]" : "", l->cfg->port, why);
	return CTL_LINK_FATAL;
}

/*
 * Send register and wait for its answer.  The server may refuse the
 * certificate before reading anything, with a reply that has no id, so
 * the first reply of any kind is taken as the answer.  Final answers,
 * which no retry can change: "forbidden" (the machine is unknown or
 * disabled until an admin acts), and the signs of a port that is not a
 * machine port.  Those are unknown_command, and a refusal after a
 * {"event":"hello"} greeting: the member port greets first, the machine
 * port never speaks before answering register.
 */
static int
ctl_link_register(struct ctl_link *l)
{
	const cJSON *ok, *err, *text, *name, *event;
	cJSON *o, *msg;
	int64_t deadline;
	char *line, why[128];
	size_t len;
	int st, rc, code, greeted = 0;

	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "id", CTL_LINK_REGISTER_ID);
	cJSON_AddStringToObject(o, "cmd", "register");
	cJSON_AddItemToObject(o, "slots", ctl_link_slots(l));
	cJSON_AddStringToObject(o, "firmware", "drink-machine " DRINK_VERSION);
	rc = ctl_link_send(l, o);
	cJSON_Delete(o);
	if (rc != 0) {
		/*
		 * Under TLS 1.3 the server judges our certificate after the
		 * handshake; its alert may be waiting behind the reset that
		 * our unread register caused.  Read it before giving up.
		 */
		(void)ctl_link_read(l, now_ms() + CTL_ALERT_MS, &line, &len);
		return conn_cert_refused(l->conn) ? ctl_link_cert_refused(l) :
		    CTL_LINK_RETRY;
	}
	deadline = now_ms() + CTL_CONNECT_MS;
	for (;;) {
		st = ctl_link_read(l, deadline, &line, &len);
		if (st == CTL_LINK_STOPPED) {
			return CTL_LINK_STOP;
		}
		if (st == CONN_TIMEOUT) {
			log_warn("no answer to register within %d s",
			    CTL_CONNECT_MS / 1000);
			return CTL_LINK_RETRY;
		}
		if (st != CONN_OK && st != CONN_EOF &&
		    conn_cert_refused(l->conn)) {
			return ctl_link_cert_refused(l);
		}
		if (st != CONN_OK) {
			log_warn("connection lost while registering: %s",
			    ctl_link_why(l, st));
			return CTL_LINK_RETRY;
		}
		msg = cJSON_ParseWithLengthOpts(line, len + 1, NULL, 1);
		if (cJSON_IsObject(msg) &&
		    (ok = cJSON_GetObjectItemCaseSensitive(msg, "ok")) != NULL) {
			break;
		}
		event = cJSON_GetObjectItemCaseSensitive(msg, "event");
		if (cJSON_IsString(event) &&
		    strcmp(event->valuestring, "hello") == 0) {
			greeted = 1;
		}
		log_debug("ignored before registration: %.*s", (int)len, line);
		cJSON_Delete(msg);
	}
	err = cJSON_GetObjectItemCaseSensitive(msg, "error");
	text = cJSON_GetObjectItemCaseSensitive(msg, "message");
	name = cJSON_GetObjectItemCaseSensitive(msg, "machine");
	code = cJSON_IsString(err) ? proto_err_parse(err->valuestring) : -1;
	if (cJSON_IsTrue(ok)) {
		log_info("registered with %s port %s as machine %s",
		    l->cfg->host, l->cfg->port, cJSON_IsString(name) ?
		    name->valuestring : "(unnamed)");
		st = CTL_LINK_OK;
	} else if (code == ERR_FORBIDDEN) {
		/* Mended on the server: say where to look, and with what. */
		log_err("the server refused this machine: forbidden: %.200s; "
		    "the server's log says how to let it in (an admin's drink "
		    "machine-add, or machine-mod --enable, for the id in "
		    "--cert's CN)",
		    cJSON_IsString(text) ? text->valuestring : "no reason given");
		st = CTL_LINK_FATAL;
	} else if (code == ERR_UNKNOWN_COMMAND) {
		st = ctl_link_not_machine_port(l, "it does not know register");
	} else if (greeted) {
		snprintf(why, sizeof(why), "it greets as a member port does, "
		    "then refused register: %.64s", cJSON_IsString(err) ?
		    err->valuestring : "unknown error");
		st = ctl_link_not_machine_port(l, why);
	} else {
		log_warn("registration refused: %.64s: %.200s",
		    cJSON_IsString(err) ? err->valuestring : "unknown error",
		    cJSON_IsString(text) ? text->valuestring : "");
		st = CTL_LINK_RETRY;
	}
	cJSON_Delete(msg);
	return st;
}

int
ctl_link_send_card(struct ctl_link *l, const char *uid, int slot)
{
	cJSON *o = cJSON_CreateObject();
	char id[32];
	int rc;

	snprintf(id, sizeof(id), CTL_CARD_ID_PREFIX "%lu", ++l->card_seq);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "cmd", "card_drop");
	cJSON_AddStringToObject(o, "card", uid);
	cJSON_AddNumberToObject(o, "slot", slot);
	log_info("card tapped: asking for slot %d (%s)", slot, id);
	rc = ctl_link_send(l, o);
	cJSON_Delete(o);
	return rc;
}

/* Look at the card reader; a tap becomes a card_drop.  -1: connection. */
static int
ctl_link_poll_card(struct ctl_link *l, int64_t now)
{
	char uid[HW_CARD_MAX + 1];
	int slot, r;

	if (now < l->next_card) {
		return 0;
	}
	l->next_card = now + CTL_CARD_POLL_MS;
	r = l->cfg->hw_ops->card(l->cfg->hw, uid, sizeof(uid), &slot);
	if (r < 0) {
		l->next_card = INT64_MAX;	/* no reader */
		return 0;
	}
	return r == 1 ? ctl_link_send_card(l, uid, slot) : 0;
}

/*
 * Forget the taps the reader saw while no connection was registered:
 * whoever tapped then was told nothing and may have walked away, so a
 * card_drop now would charge them for an item nobody takes.
 */
static void
ctl_link_skip_stale_cards(struct ctl_link *l)
{
	char uid[HW_CARD_MAX + 1];
	int slot, n = 0;

	while (l->cfg->hw_ops->card(l->cfg->hw, uid, sizeof(uid),
	    &slot) == 1) {
		n++;
	}
	if (n > 0) {
		log_warn("ignored %d card tap%s made while the machine was not "
		    "connected to the server; nobody was charged", n,
		    n == 1 ? "" : "s");
	}
}

static int64_t
ctl_link_min(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/*
 * The registered connection: run a due vend, send temperature and pings
 * on schedule, answer the server, and give up after CTL_SILENCE_MS of
 * hearing nothing.  A due vend runs before anything else is read, so its
 * answer goes out before answers to later requests.
 */
static int
ctl_link_serve(struct ctl_link *l)
{
	int64_t now = now_ms(), deadline;
	char *line;
	size_t len;
	int st;

	l->heard = now;
	l->next_ping = now + CTL_PING_MS;
	l->next_temp = now;
	l->next_card = now;
	ctl_link_skip_stale_cards(l);
	for (;;) {
		now = now_ms();
		if (l->vend.active && now >= l->vend.due) {
			if (ctl_cmd_vend_run(l) != 0) {
				return CTL_LINK_RETRY;
			}
			continue;
		}
		if (ctl_stopping()) {
			/* Cancelled before the mechanism moved: no charge. */
			(void)ctl_cmd_vend_cancel(l, 1,
			    "the controller is shutting down");
			return CTL_LINK_STOP;
		}
		if (now >= l->next_temp) {
			if (ctl_link_send_temperature(l) != 0) {
				return CTL_LINK_RETRY;
			}
			l->next_temp = now +
			    (int64_t)l->cfg->temp_interval_s * 1000;
		}
		if (now >= l->next_ping) {
			if (ctl_link_send_ping(l) != 0) {
				return CTL_LINK_RETRY;
			}
			l->next_ping = now + CTL_PING_MS;
		}
		if (ctl_link_poll_card(l, now) != 0) {
			return CTL_LINK_RETRY;
		}
		deadline = ctl_link_min(l->next_temp, l->next_ping);
		deadline = ctl_link_min(deadline, l->next_card);
		deadline = ctl_link_min(deadline, l->heard + CTL_SILENCE_MS);
		if (l->vend.active) {
			deadline = ctl_link_min(deadline, l->vend.due);
		}
		st = ctl_link_read(l, deadline, &line, &len);
		if (st == CTL_LINK_STOPPED) {
			continue;
		}
		if (st == CONN_TIMEOUT) {
			/* Checked only now: a long vend is not silence. */
			if (now_ms() - l->heard >= CTL_SILENCE_MS) {
				log_warn("nothing heard from the server for "
				    "%d s; reconnecting",
				    CTL_SILENCE_MS / 1000);
				return CTL_LINK_RETRY;
			}
			continue;
		}
		if (st != CONN_OK) {
			log_warn("connection to the server lost: %s",
			    ctl_link_why(l, st));
			return CTL_LINK_RETRY;
		}
		if (ctl_cmd_dispatch(l, line, len) != 0) {
			return CTL_LINK_RETRY;
		}
	}
}

/*
 * One connection from dial to close; *up is how long it stayed
 * registered, -1 if it never was.  close_notify is sent only when
 * leaving on purpose: after a TLS or socket error OpenSSL forbids it.
 */
static int
ctl_link_session(struct ctl_link *l, int64_t *up)
{
	int64_t since;
	int st;

	*up = -1;
	if ((st = ctl_link_connect(l)) == CTL_LINK_OK &&
	    (st = ctl_link_register(l)) == CTL_LINK_OK) {
		since = now_ms();
		st = ctl_link_serve(l);
		*up = now_ms() - since;
	}
	(void)ctl_cmd_vend_cancel(l, 0, "the connection to the server ended");
	if (l->conn != NULL && st != CTL_LINK_RETRY) {
		conn_shutdown(l->conn, now_ms() + CTL_CLOSE_MS);
	}
	conn_free(l->conn);
	l->conn = NULL;
	return st;
}

/* Sleep for ms unless a stop signal comes first; -1 if one did. */
static int
ctl_link_sleep(int64_t ms)
{
	int64_t until = now_ms() + ms, left;
	struct pollfd pfd;

	while (!ctl_stopping() && (left = until - now_ms()) > 0) {
		pfd = (struct pollfd){ .fd = ctl_wake_fd(), .events = POLLIN };
		(void)poll(&pfd, 1, (int)ctl_link_min(left, INT_MAX));
	}
	return ctl_stopping() ? -1 : 0;
}

/*
 * Connect and serve until stopped.  Between attempts wait a random time
 * between half and all of the backoff, which doubles from
 * CTL_BACKOFF_MIN_MS to CTL_BACKOFF_MAX_MS, so a fleet of machines does
 * not reconnect in lock step after a server restart.  It starts again
 * only after a connection that stayed registered for CTL_STABLE_MS: one
 * the server closes right after registering (most often because another
 * controller runs with this certificate, and each new connection for a
 * machine replaces the last) would otherwise be redialled twice a
 * second for ever.
 *
 * The server says nothing about why it closes, so a twin is told from a
 * restart by what follows: a twin leaves the server up, and the next
 * connection registers and is closed early again; a restarting server
 * refuses the next connection (its listeners close first), or the new
 * one keeps it.  So the twin is named only when CTL_TWIN_SHORT
 * registrations in a row ended early, with no failed attempt between.
 */
#define CTL_TWIN_SHORT 2

int
ctl_link_run(const struct ctl_config *cfg, SSL_CTX *ctx)
{
	struct ctl_link l = { .cfg = cfg, .ctx = ctx };
	int64_t backoff = CTL_BACKOFF_MIN_MS, wait, up;
	int st, shorts = 0;

	for (;;) {
		st = ctl_link_session(&l, &up);
		if (st == CTL_LINK_STOP) {
			return CTL_EXIT_OK;
		}
		if (st == CTL_LINK_FATAL) {
			return CTL_EXIT_FATAL;
		}
		if (up >= CTL_STABLE_MS) {
			backoff = CTL_BACKOFF_MIN_MS;
			shorts = 0;
		} else if (up < 0) {
			shorts = 0;
		} else if (++shorts >= CTL_TWIN_SHORT) {
			log_warn("the connection ended %.1f s after "
			    "registering, %d times in a row; check that no "
			    "other controller uses this machine's certificate "
			    "(the server keeps only the newest connection of "
			    "a machine)", (double)up / 1000, shorts);
		}
		wait = backoff / 2 + (int64_t)(drand48() * (double)backoff / 2);
		log_info("reconnecting in %.1f s", (double)wait / 1000);
		if (ctl_link_sleep(wait) != 0) {
			return CTL_EXIT_OK;
		}
		backoff = ctl_link_min(backoff * 2, CTL_BACKOFF_MAX_MS);
	}
}
