/*
 * A tini vending board on tini_listen (LEGACY.md section 3), from accept
 * to close, in its own thread.  The board speaks plaintext to a TLS
 * wrapper holding its machine certificate, so the listener has the machine
 * port's TLS policy; on top of that comes the board's own login line.
 *
 * Once logged in the board is a machine in the registry (vend.c) like a
 * JSON controller: its vends come from the same FIFO, its answers go to
 * the same drop (drop.c), a newer connection on either port replaces it,
 * and silence takes it offline.  What differs is only the wire: one-byte
 * opcodes, answers with no id (so at most one vend is at the board, and
 * an answer with none there is late and changes nothing), slot states
 * rather than counts, and temperatures in Fahrenheit.
 *
 * Only this thread writes to the socket; the registry reaches it through
 * a pipe (wake) and a socket shutdown (hangup), as on the machine port.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drinkd.h"

#define TINI_WRITE_MS 10000
#define TINI_PW_MAX 64
#define TINI_PAUSE_MS 5000	/* after a timeout, before the next "3" */

/* One board connection; the acceptor allocates it (peer first). */
struct tini_conn {
	struct peer peer;
	char name[PROTO_NAME_MAX + 1];
	struct mach *mach;	/* in the registry once logged in */
	int wake[2];		/* registry -> this thread */
	char vend_id[40];	/* the vend at the board, "" when none */
};

static void
tini_wake(void *arg)
{
	struct tini_conn *tc = arg;
	ssize_t n = write(tc->wake[1], "x", 1);

	(void)n;	/* a full pipe already means "wake up" */
}

static void
tini_hangup(void *arg)
{
	struct tini_conn *tc = arg;

	shutdown(tc->peer.client.fd, SHUT_RDWR);
}

static const struct vend_ops tini_ops = {
	.wake = tini_wake,
	.hangup = tini_hangup,
};

static int
tini_send(struct tini_conn *tc, const char *text)
{
	return conn_write(tc->peer.conn, text, strlen(text),
	    now_ms() + TINI_WRITE_MS);
}

/* The payload: everything after the opcode, without blanks and CR. */
static char *
tini_payload(char *line)
{
	char *p = line + 1, *end = p + strlen(p);

	while (*p == ' ' || *p == '\t' || *p == '\r') {
		p++;
	}
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r')) {
		*--end = '\0';
	}
	return p;
}

/*
 * The login line: "0<password>" from a board whose certificate names an
 * enabled machine, with that machine's legacy password (any password
 * when none is set).  0 when accepted; the reason in why otherwise.
 */
static int
tini_login(struct tini_conn *tc, char *line, const char **why)
{
	struct server *srv = tc->peer.srv;
	char hash[256], key[64];
	const char *pw;
	int rc;

	if (line[0] != '0') {
		*why = "first line is not a login";
		return -1;
	}
	pw = tini_payload(line);
	if (tls_peer_cn(conn_ssl(tc->peer.conn), tc->name,
	    sizeof(tc->name)) != 0 || !proto_valid_name(tc->name) ||
	    !tls_peer_client_eku(conn_ssl(tc->peer.conn))) {
		*why = "certificate has no usable CN or lacks clientAuth";
		return -1;
	}
	if ((rc = db_machine_allowed(srv->db, tc->name)) != ERR_NONE) {
		*why = rc == ERR_FORBIDDEN ? "machine is disabled" :
		    "not a registered machine";
		return -1;
	}
	snprintf(key, sizeof(key), "tini:%s", tc->name);
	if (auth_key_throttled(key) > 0) {
		*why = "too many wrong passwords: locked out";
		return -1;
	}
	if (db_machine_legacy_get(srv->db, tc->name, hash, sizeof(hash)) !=
	    ERR_NONE) {
		*why = "database error";
		return -1;
	}
	if (hash[0] != '\0' && (strlen(pw) > TINI_PW_MAX ||
	    !auth_verify(hash, pw))) {
		auth_key_failed(key);
		*why = "wrong password";
		return -1;
	}
	auth_key_succeeded(key);
	return 0;
}

/*
 * "7" slot states: pieces split by backquotes, each "<digits> <0|1>";
 * malformed pieces and slots the machine lacks are skipped.
 */
static void
tini_slots(struct tini_conn *tc, char *payload)
{
	cJSON *before = event_slots_before(tc->peer.srv, tc->name);
	char *piece, *save = NULL, *p, *end;
	long slot;

	for (piece = strtok_r(payload, "`", &save); piece != NULL;
	    piece = strtok_r(NULL, "`", &save)) {
		p = piece;
		while (*p == ' ' || *p == '\t') {
			p++;
		}
		if (*p < '0' || *p > '9') {
			continue;
		}
		errno = 0;
		slot = strtol(p, &end, 10);
		if (errno != 0 || end == p || (*end != ' ' && *end != '\t')) {
			continue;
		}
		while (*end == ' ' || *end == '\t') {
			end++;
		}
		if ((end[0] != '0' && end[0] != '1') ||
		    end[1 + strspn(end + 1, " \t")] != '\0' || slot < 1 ||
		    slot > 255) {
			continue;
		}
		(void)db_machine_slot_state(tc->peer.srv->db, tc->name,
		    (int)slot, end[0] == '1');
	}
	event_slots(tc->peer.srv, tc->name, before, 0);
}

/* "8": one finite decimal in Fahrenheit, stored in Celsius to 0.1. */
static void
tini_temperature(struct tini_conn *tc, const char *payload)
{
	size_t n = strspn(payload, "0123456789.-+eE");
	char *end;
	double f, c10, c;

	errno = 0;
	f = strtod(payload, &end);
	if (payload[0] == '\0' || payload[n] != '\0' || *end != '\0' ||
	    errno != 0 || !isfinite(f)) {
		log_debug("board %s: bad temperature ignored", tc->name);
		return;
	}
	/*
	 * Rounded half away from zero to 0.1: 72.5 F -> 22.5, 0.0 -> -17.8.
	 * Only what is near the range is rounded, so that the cast is given
	 * nothing it cannot hold; the rest is out of range as NAN.
	 */
	c10 = (f - 32) * 50 / 9;
	c = !(c10 >= -1001 && c10 <= 2001) ? NAN : (c10 >= 0 ?
	    (double)(long long)(c10 + 0.5) :
	    -(double)(long long)(-c10 + 0.5)) / 10;
	if (!(c >= -100 && c <= 200) || db_machine_temperature(tc->peer.srv->db,
	    tc->name, c) != ERR_NONE) {
		log_warn("board %s: temperature %.1f F not recorded",
		    tc->name, f);
		return;
	}
	event_machine(tc->peer.srv, tc->name);
}

/* "4" or "5": the answer to the vend at the board, if there is one. */
static void
tini_answer(struct tini_conn *tc, int ok)
{
	if (tc->vend_id[0] == '\0') {
		log_warn("board %s: late %s with no vend at the board: "
		    "ignored", tc->name, ok ? "4 (dropped)" : "5 (failed)");
		return;
	}
	drop_answer(tc->peer.srv, tc->mach, tc->vend_id, ok, -1,
	    ok ? "" : "the machine reported a failed drop; nothing charged", NULL);
	tc->vend_id[0] = '\0';
}

/* One line from a logged-in board. */
static void
tini_handle(struct tini_conn *tc, char *line)
{
	char *payload;

	if (line[strspn(line, " \t\r")] == '\0') {
		return;		/* blank lines are ignored */
	}
	payload = tini_payload(line);
	switch (line[0]) {
	case '4':
	case '5':
		tini_answer(tc, line[0] == '4');
		break;
	case '7':
		tini_slots(tc, payload);
		break;
	case '8':
		tini_temperature(tc, payload);
		break;
	case '9':
	case '0':
		break;		/* keepalive; a later login is ignored */
	default:
		log_info("board %s: unknown line ignored (opcode 0x%02x)",
		    tc->name, (unsigned char)line[0]);
		break;
	}
}

/*
 * Send the next queued vend when the board is free.  The board knows no
 * delay: the registry waits a drop's delay out before queueing it
 * (vend_mach_hold_delay), so vc.delay is 0 here.
 */
static int
tini_dispatch(struct tini_conn *tc)
{
	struct vend_cmd vc;
	char text[16];
	int rc;

	if (!vend_next(tc->peer.srv->vends, tc->mach, &vc)) {
		return CONN_OK;
	}
	ASSERT(vc.delay == 0);
	snprintf(tc->vend_id, sizeof(tc->vend_id), "%s", vc.id);
	log_info("board %s: vend %s slot %d (tx %lld)", tc->name, vc.id,
	    vc.slot, (long long)vc.tx);
	snprintf(text, sizeof(text), "3%d\n", vc.slot);
	rc = tini_send(tc, text);
	if (rc == CONN_OK) {
		event_drop(vc.tx, NULL, NULL, 0, "vending", NULL);
	}
	return rc;
}

/*
 * The board's loop: send queued vends, read its lines, and give up after
 * tini_silence seconds without one.  Returns why the connection ended.
 */
static const char *
tini_serve(struct tini_conn *tc)
{
	struct server *srv = tc->peer.srv;
	struct conn *c = tc->peer.conn;
	int64_t silence = srv->cfg->tini_silence * 1000;
	int64_t heard = now_ms(), wait, due, now;
	struct pollfd pfd[2];
	char *line, buf[64];
	size_t len;
	int rc;

	for (;;) {
		if (vend_mach_state(srv->vends, tc->mach) == MACH_STATE_GONE) {
			return "closed by the server";
		}
		/* An answer already sent belongs to the vend before. */
		if (!conn_line_buffered(c) && !conn_tls_pending(c) &&
		    tini_dispatch(tc) != CONN_OK) {
			return conn_error(c);
		}
		now = now_ms();
		if (now - heard >= silence) {
			return "silent";
		}
		if (!conn_line_buffered(c) && !conn_tls_pending(c)) {
			wait = heard + silence;
			due = vend_next_due(srv->vends, tc->mach);
			if (due < wait) {
				wait = due;
			}
			wait -= now;
			pfd[0] = (struct pollfd){ .fd = conn_fd(c),
				.events = POLLIN };
			pfd[1] = (struct pollfd){ .fd = tc->wake[0],
				.events = POLLIN };
			if (poll(pfd, 2, wait < 0 ? 0 : (int)wait) < 0 &&
			    errno != EINTR) {
				return "poll failed";
			}
			if (pfd[1].revents & POLLIN) {
				while (read(tc->wake[0], buf, sizeof(buf)) >
				    0) {
					;
				}
			}
			if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
				continue;
			}
		}
		rc = conn_read_line(c, &line, &len, now_ms(),
		    srv->cfg->line_timeout * 1000);
		if (rc == CONN_TIMEOUT) {
			continue;
		}
		if (rc != CONN_OK) {
			return rc == CONN_EOF ? "closed by the board" :
			    rc == CONN_TOO_LONG ? "line too long" :
			    conn_error(c);
		}
		heard = now_ms();
		if (memchr(line, '\0', len) == NULL) {
			tini_handle(tc, line);
		}
	}
}

void *
tini_main(void *arg)
{
	struct tini_conn *tc = arg;
	struct server *srv = tc->peer.srv;
	SSL_CTX *ctx = server_machine_ctx(srv);
	const char *why = NULL;
	int64_t id = 0, deadline;
	char *line;
	size_t len;
	int rc;

	tc->wake[0] = tc->wake[1] = -1;
	tc->peer.conn = conn_new(tc->peer.client.fd, ctx,
	    (size_t)srv->cfg->max_line);
	SSL_CTX_free(ctx);
	if (tc->peer.conn == NULL) {
		goto out;
	}
	if (conn_accept(tc->peer.conn, now_ms() +
	    srv->cfg->handshake_timeout * 1000) != CONN_OK) {
		log_warn("board connection from %s port %d refused: TLS "
		    "handshake failed: %s", tc->peer.client.address,
		    tc->peer.client.port, conn_error(tc->peer.conn));
		goto out;
	}
	/*
	 * The board speaks first; silence gets a silent close.  Blank lines
	 * before its login do not stretch the deadline, nor does a line begun
	 * before it: one that ends after it came too late all the same.
	 */
	deadline = now_ms() + srv->cfg->handshake_timeout * 1000;
	do {
		rc = conn_read_line(tc->peer.conn, &line, &len, deadline,
		    deadline - now_ms());
	} while (rc == CONN_OK && line[strspn(line, " \t\r")] == '\0');
	if (rc == CONN_OK && now_ms() > deadline) {
		rc = CONN_TIMEOUT;
	}
	if (rc != CONN_OK) {
		log_info("board from %s port %d: no login (%s)",
		    tc->peer.client.address, tc->peer.client.port,
		    rc == CONN_TIMEOUT ? "timed out" :
		    conn_error(tc->peer.conn));
		/* A line too long is a line that is not a login. */
		if (rc == CONN_TOO_LONG) {
			(void)tini_send(tc, "2\n");
			conn_shutdown(tc->peer.conn, now_ms() + 1000);
		}
		goto out;
	}
	if (memchr(line, '\0', len) != NULL ||
	    tini_login(tc, line, &why) != 0) {
		log_warn("board from %s port %d refused: CN \"%s\": %s",
		    tc->peer.client.address, tc->peer.client.port, tc->name,
		    why != NULL ? why : "NUL in login");
		(void)tini_send(tc, "2\n");
		conn_shutdown(tc->peer.conn, now_ms() + 1000);
		goto out;
	}
	if (db_session_open(srv->db, "machine", tc->peer.client.address,
	    tc->peer.client.port, &id) != ERR_NONE ||
	    pipe2(tc->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		goto out;
	}
	client_set_name(&tc->peer.client, tc->name);
	client_show(&tc->peer.client, id);
	event_session(&tc->peer.client, "open");
	(void)db_session_name(srv->db, id, NULL, tc->name);
	tc->mach = vend_mach_new(tc->name, &tini_ops, tc);
	vend_mach_pause(tc->mach, TINI_PAUSE_MS);
	vend_mach_hold_delay(tc->mach);
	/* Online from "1": this connection replaces any other. */
	vend_attach(srv->vends, tc->mach);
	event_machine(srv, tc->name);
	log_info("session %lld: board %s logged in from %s port %d",
	    (long long)id, tc->name, tc->peer.client.address,
	    tc->peer.client.port);
	why = tini_send(tc, "1\n6\n") == CONN_OK ? tini_serve(tc) :
	    conn_error(tc->peer.conn);
	if (client_closed_by(&tc->peer.client) != NULL) {
		why = client_closed_by(&tc->peer.client);
	}
	vend_detach(srv->vends, tc->mach);
	event_machine(srv, tc->name);
	event_session(&tc->peer.client, "closed");
	log_info("session %lld: board %s offline (%s)", (long long)id,
	    tc->name, why);
	conn_shutdown(tc->peer.conn, now_ms() + 1000);
	(void)db_session_close(srv->db, id);
out:
	if (tc->mach != NULL) {
		vend_detach(srv->vends, tc->mach);
		vend_mach_free(tc->mach);
	}
	if (tc->wake[0] != -1) {
		close(tc->wake[0]);
		close(tc->wake[1]);
	}
	client_remove(&tc->peer.client);
	conn_free(tc->peer.conn);
	free(tc);
	return NULL;
}

/* The acceptor's allocation size for a board connection. */
size_t
tini_conn_size(void)
{
	return sizeof(struct tini_conn);
}
