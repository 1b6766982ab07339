/*
 * The client's side of one member-port connection: dial, handshake with
 * host name verification, the greeting, the optional password login, then
 * requests answered in order.  The connection is made on first use and
 * dropped on any transport failure, so the shell simply reconnects (and
 * logs in again with the password it already has) on its next command.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

struct cli_session {
	const struct cli_config *cfg;
	SSL_CTX *ctx;
	struct conn *conn;
	char *password;		/* the one that worked; wiped on free */
	int logged_in;
	int by_token;		/* logged in by a kept token, and has not
				 * shown the password since */
	char user[PROTO_NAME_MAX + 1];	/* who is logged in, when known */
	char role[16];		/* their role, when the server said */
	int lost;		/* the server closed the connection on us */
	long long next_id;
	int countdown;		/* seconds of a drop's delay to count down */
	int64_t countdown_start;	/* now_ms() when it was set */
	int counting;		/* columns the countdown line takes, or 0 */
};

struct cli_session *
cli_session_new(const struct cli_config *cfg)
{
	struct cli_session *s = xcalloc(1, sizeof(*s));

	s->cfg = cfg;
	s->next_id = 1;
	return s;
}

static void
cli_session_drop(struct cli_session *s)
{
	conn_free(s->conn);
	s->conn = NULL;
	s->logged_in = 0;
	s->by_token = 0;
	s->user[0] = '\0';
	s->role[0] = '\0';
}

void
cli_session_free(struct cli_session *s)
{
	if (s == NULL) {
		return;
	}
	cli_session_drop(s);
	SSL_CTX_free(s->ctx);
	if (s->password != NULL) {
		cli_tty_wipe(s->password, strlen(s->password));
		free(s->password);
	}
	free(s);
}

const struct cli_config *
cli_session_config(const struct cli_session *s)
{
	return s->cfg;
}

int
cli_session_logged_in(const struct cli_session *s)
{
	return s->logged_in;
}

const char *
cli_session_user(const struct cli_session *s)
{
	return s->logged_in && s->user[0] != '\0' ? s->user : NULL;
}

/* Logged in as the reply (or greeting) names, else as -u says. */
static void
cli_session_logged(struct cli_session *s, const cJSON *msg)
{
	const char *u = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(msg, "user"));

	if (u == NULL) {
		u = s->cfg->user != NULL ? s->cfg->user : "";
	}
	snprintf(s->user, sizeof(s->user), "%s", u);
	snprintf(s->role, sizeof(s->role), "%s", cJSON_IsString(
	    cJSON_GetObjectItemCaseSensitive(msg, "role")) ?
	    cJSON_GetObjectItemCaseSensitive(msg, "role")->valuestring : "");
	s->logged_in = 1;
	s->by_token = 0;
}

const char *
cli_session_role(const struct cli_session *s)
{
	return s->logged_in && s->role[0] != '\0' ? s->role : NULL;
}

int
cli_session_connected(const struct cli_session *s)
{
	return s->conn != NULL;
}

int
cli_session_has_user(const struct cli_session *s)
{
	return s->cfg->user != NULL;
}

const char *
cli_session_password(const struct cli_session *s)
{
	return s->password;
}

int
cli_session_by_token(const struct cli_session *s)
{
	return s->logged_in && s->by_token;
}

void
cli_session_password_shown(struct cli_session *s)
{
	s->by_token = 0;
}

/* "host:port", with brackets around an IPv6 address. */
static const char *
cli_session_addr(const struct cli_session *s, char *buf, size_t len)
{
	snprintf(buf, len, strchr(s->cfg->host, ':') != NULL ? "[%s]:%s" :
	    "%s:%s", s->cfg->host, s->cfg->port);
	return buf;
}

/*
 * One second of a countdown, on the terminal only.  The line has no
 * newline: each tick writes over the last.
 */
static void
cli_session_tick(struct cli_session *s)
{
	int64_t left = s->countdown - (now_ms() - s->countdown_start) / 1000;
	int n;

	if (!isatty(STDERR_FILENO)) {
		return;
	}
	if (left > 0) {
		n = fprintf(stderr, "\rdropping in %lld s ", (long long)left);
	} else {
		n = fprintf(stderr, "\rwaiting for the machine ...");
	}
	fflush(stderr);
	if (n - 1 > s->counting) {
		s->counting = n - 1;
	}
}

/*
 * Blank the countdown line and put the cursor back at its start, so that
 * whatever is printed next (the result, on stdout or stderr) has the
 * line to itself.  Nothing was written when stderr is no terminal.
 */
static void
cli_session_erase(struct cli_session *s)
{
	if (s->counting > 0) {
		fprintf(stderr, "\r%*s\r", s->counting, "");
		fflush(stderr);
	}
	s->counting = 0;
}

void
cli_session_countdown(struct cli_session *s, int secs)
{
	cli_session_erase(s);
	s->countdown = secs;
	s->countdown_start = now_ms();
}

/* Show the countdown set, from now (a no-op without one). */
static void
cli_session_countdown_start(struct cli_session *s)
{
	if (s->countdown > 0) {
		s->countdown_start = now_ms();
		cli_session_tick(s);
	}
}

static const char *cli_session_alert_hint(const struct cli_session *s,
    char *buf, size_t len);

/*
 * A first line that is not JSON: another protocol answers on that port,
 * most likely drinkd's Sunday port ("Welcome to ...").  What it said, in
 * printable ASCII and cut short, and where members go instead.
 */
static const char *
cli_session_greeting_hint(const char *line, size_t len, char *buf,
    size_t size)
{
	char said[64];
	size_t i, n = 0;

	for (i = 0; i < len && n + 4 < sizeof(said); i++) {
		if (line[i] == '\r' || line[i] == '\n') {
			break;
		}
		said[n++] = line[i] >= 0x20 && line[i] < 0x7f ? line[i] : '?';
	}
	if (i < len && line[i] != '\r' && line[i] != '\n') {
		said[n++] = '.';
		said[n++] = '.';
		said[n++] = '.';
	}
	said[n] = '\0';
	snprintf(buf, size, " (\"%s\"): that port speaks another protocol, "
	    "as drinkd's Sunday port does: members use the member port "
	    "(4242 unless the club chose another)", said);
	return buf;
}

/*
 * Read the next message within timeout_ms, passing over events unless
 * events is set (the greeting is one).  Events are news nobody asked this
 * client for.  On success *obj is the parsed object (caller deletes) and
 * *line its text, valid until the next read.
 */
static int
cli_session_read(struct cli_session *s, int64_t timeout_ms, int events,
    const char *what, cJSON **obj, char **line, size_t *len)
{
	int64_t deadline = now_ms() + timeout_ms, left;
	char addr[300], hint[PATH_MAX + 200];
	int st;

	cli_session_addr(s, addr, sizeof(addr));
	for (;;) {
		left = deadline - now_ms();
		st = conn_read_line(s->conn, line, len, s->countdown > 0 &&
		    left > 1000 ? now_ms() + 1000 : deadline,
		    left > 0 ? left : 1);
		if (st == CONN_TIMEOUT && s->countdown > 0 &&
		    now_ms() < deadline) {
			cli_session_tick(s);
			continue;
		}
		/* The reply, or a failure to report, comes next. */
		cli_session_erase(s);
		switch (st) {
		case CONN_OK:
			break;
		case CONN_TIMEOUT:
			cli_error("no %s from %s within %lld s", what, addr,
			    (long long)(timeout_ms + 999) / 1000);
			return CLI_EXIT_CONN;
		case CONN_EOF:
			cli_error("%s closed the connection before the %s",
			    addr, what);
			return CLI_EXIT_CONN;
		case CONN_TOO_LONG:
			cli_error("%s from %s: %s", what, addr,
			    conn_error(s->conn));
			return CLI_EXIT_CONN;
		default:
			cli_error("connection to %s failed: %s%s", addr,
			    conn_error(s->conn), cli_session_alert_hint(s,
			    hint, sizeof(hint)));
			return CLI_EXIT_CONN;
		}
		*obj = cJSON_ParseWithLength(*line, *len);
		if (!cJSON_IsObject(*obj)) {
			cJSON_Delete(*obj);
			*obj = NULL;
			cli_error("malformed %s from %s%s", what, addr, events ?
			    cli_session_greeting_hint(*line, *len, hint,
			    sizeof(hint)) : "");
			return CLI_EXIT_CONN;
		}
		if (events ||
		    cJSON_GetObjectItemCaseSensitive(*obj, "event") == NULL ||
		    cJSON_GetObjectItemCaseSensitive(*obj, "ok") != NULL) {
			return CLI_EXIT_OK;
		}
		cJSON_Delete(*obj);
		*obj = NULL;
	}
}

/*
 * A server closes idle connections; an interactive user may sit longer
 * than that between commands.  Read whatever has arrived without waiting:
 * events are dropped, and a connection found closed is quietly let go so
 * the command about to run gets a fresh one.
 */
static void
cli_session_check(struct cli_session *s)
{
	struct pollfd pfd;
	cJSON *obj;
	char *line;
	size_t len;
	int st;

	for (;;) {
		pfd.fd = conn_fd(s->conn);
		pfd.events = POLLIN;
		if (!conn_line_buffered(s->conn) && poll(&pfd, 1, 0) != 1) {
			return;
		}
		st = conn_read_line(s->conn, &line, &len, now_ms() + 100, 100);
		if (st == CONN_TIMEOUT) {
			return;
		}
		if (st != CONN_OK) {
			cli_session_drop(s);
			s->lost = 1;
			return;
		}
		obj = cJSON_ParseWithLength(line, len);
		cJSON_Delete(obj);
	}
}

const char *
cli_session_lost(struct cli_session *s)
{
	if (s->conn != NULL) {
		cli_session_check(s);
	}
	if (!s->lost) {
		return NULL;
	}
	s->lost = 0;
	return "the server closed the connection (kicked, idle too long, or "
	    "restarted); reconnecting";
}

int
cli_session_whoami(struct cli_session *s, char *user, size_t len,
    long long *balance)
{
	cJSON *req, *reply = NULL;
	const cJSON *u;
	int st;

	if (s->conn == NULL || !s->logged_in) {
		return -1;
	}
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "whoami");
	st = cli_session_request(s, req, CLI_REPLY_MS, &reply, NULL);
	cJSON_Delete(req);
	if (st != CLI_EXIT_OK) {
		/* The loss is told with the next command. */
		s->lost = 1;
		return -1;
	}
	u = cJSON_GetObjectItemCaseSensitive(reply, "user");
	st = cJSON_IsString(u) && cli_print_int(reply, "balance", balance) ==
	    0 ? 0 : -1;
	if (st == 0) {
		snprintf(user, len, "%s", u->valuestring);
	}
	cJSON_Delete(reply);
	return st;
}

static int
cli_session_greeting(struct cli_session *s)
{
	const cJSON *event, *user, *proto;
	cJSON *hello = NULL;
	char addr[300], *line;
	size_t len;
	int st;

	st = cli_session_read(s, CLI_CONNECT_MS, 1, "greeting", &hello, &line,
	    &len);
	if (st != CLI_EXIT_OK) {
		return st;
	}
	cli_session_addr(s, addr, sizeof(addr));
	if (cJSON_GetObjectItemCaseSensitive(hello, "ok") != NULL) {
		/* server_busy: the server said no before saying hello. */
		if (s->cfg->json) {
			printf("%s\n", line);
		} else {
			cli_print_refusal(NULL, hello);
		}
		st = CLI_EXIT_REFUSED;
		goto out;
	}
	event = cJSON_GetObjectItemCaseSensitive(hello, "event");
	proto = cJSON_GetObjectItemCaseSensitive(hello, "proto");
	if (!cJSON_IsString(event) || strcmp(event->valuestring, "hello") !=
	    0) {
		cli_error("%s did not greet like a drink server", addr);
		st = CLI_EXIT_CONN;
		goto out;
	}
	if (cJSON_IsNumber(proto) && proto->valuedouble != DRINK_PROTO) {
		cli_error("%s speaks protocol %g; this drink speaks %d", addr,
		    proto->valuedouble, DRINK_PROTO);
		st = CLI_EXIT_CONN;
		goto out;
	}
	/*
	 * A certificate login counts unless -u names someone else, in which
	 * case that user's password login is what was asked for.
	 */
	user = cJSON_GetObjectItemCaseSensitive(hello, "user");
	if (cJSON_IsString(user) && (s->cfg->user == NULL ||
	    strcmp(s->cfg->user, user->valuestring) == 0)) {
		cli_session_logged(s, hello);
	}
out:
	cJSON_Delete(hello);
	return st;
}

/*
 * OpenSSL reports a missing file as "system lib"; say which file and why
 * before it gets the chance.
 */
static int
cli_session_files(const struct cli_session *s)
{
	const struct {
		const char *what, *path;
	} files[] = {
		{ "CA", s->cfg->ca },
		{ "certificate", s->cfg->cert },
		{ "key", s->cfg->key },
	};
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (files[i].path != NULL && access(files[i].path, R_OK) != 0) {
			cli_error("cannot read %s %s: %s", files[i].what,
			    files[i].path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/*
 * Why a server's certificate may not have verified, when it is one of the
 * usual reasons: -H is not a name the certificate is for (those are
 * said), or drink was not told the club's CA (no --ca, or a DRINK_CONFIG
 * set in the shell but not exported), or was told another one.
 */
static const char *
cli_session_verify_hint(const struct cli_session *s, char *buf, size_t len)
{
	char names[256];

	if (tls_verify_name_mismatch(conn_ssl(s->conn), names,
	    sizeof(names))) {
		snprintf(buf, len, "; the server's certificate is for %s, not "
		    "%s: connect with -H one of those (or \"host =\" in the "
		    "config file)", names[0] != '\0' ? names : "no name at all",
		    s->cfg->host);
		return buf;
	}
	if (!tls_verify_issuer_unknown(conn_ssl(s->conn))) {
		return "";
	}
	if (s->cfg->ca == NULL) {
		return "; no CA was given, so the system's were tried: name "
		    "the club's CA with --ca FILE or \"ca = FILE\" in the "
		    "config file (is DRINK_CONFIG set and exported?)";
	}
	snprintf(buf, len, "; is %s the club's CA? (from --ca, or \"ca =\" in "
	    "the config file: DRINK_CONFIG, else ~/.config/drink/config)",
	    s->cfg->ca);
	return buf;
}

/*
 * Why the server ended the handshake with an alert, when the alert is
 * about this client's certificate (TLS 1.3 sends it after the client has
 * finished, so it shows on the first read): a member certificate of
 * another club or CA, a revoked or expired one, or none where the port
 * wants one (a machine port).  "" for any other failure.
 */
static const char *
cli_session_alert_hint(const struct cli_session *s, char *buf, size_t len)
{
	static const struct {
		const char *alert, *why;
	} alerts[] = {
		{ "alert unknown ca", "it is not signed by a CA the server "
		    "trusts for members" },
		{ "alert certificate revoked", "the server has it as revoked" },
		{ "alert certificate expired", "it has expired, or is not "
		    "valid yet" },
		{ "alert bad certificate", "the server could not use it" },
		{ "alert unsupported certificate", "it is not for client "
		    "authentication (extended key usage clientAuth)" },
		{ "alert certificate unknown", "the server could not use it" },
	};
	const char *err = conn_error(s->conn);
	size_t i;

	if (err == NULL) {
		return "";
	}
	if (strstr(err, "alert certificate required") != NULL) {
		snprintf(buf, len, "; the server asks for a certificate, as "
		    "drinkd's machine port does: members use the member port "
		    "(4242 unless the club chose another)");
		return buf;
	}
	if (strstr(err, "alert no application protocol") != NULL) {
		snprintf(buf, len, "; that port serves the web app (HTTPS), as "
		    "drinkd's web port does: members use the member port "
		    "(4242 unless the club chose another)");
		return buf;
	}
	for (i = 0; s->cfg->cert != NULL &&
	    i < sizeof(alerts) / sizeof(alerts[0]); i++) {
		if (strstr(err, alerts[i].alert) != NULL) {
			snprintf(buf, len, "; the server refused the "
			    "certificate %s: %s", s->cfg->cert,
			    alerts[i].why);
			return buf;
		}
	}
	return "";
}

int
cli_session_open(struct cli_session *s)
{
	char err[512], addr[300], hint[PATH_MAX + 200];
	int64_t deadline;
	int fd, st;

	if (s->conn != NULL) {
		cli_session_check(s);
	}
	if (s->conn != NULL) {
		return CLI_EXIT_OK;
	}
	if (s->ctx == NULL && cli_session_files(s) != 0) {
		return CLI_EXIT_CONN;
	}
	if (s->ctx == NULL) {
		if ((s->ctx = tls_ctx_new(TLS_CLIENT, s->cfg->cert,
		    s->cfg->key, s->cfg->ca, NULL, err, sizeof(err))) ==
		    NULL) {
			cli_error("%s", err);
			return CLI_EXIT_CONN;
		}
		/* So that drinkd's web port refuses the handshake (tls.c). */
		if (tls_ctx_offer_drink(s->ctx) != 0) {
			cli_error("cannot set up TLS: %s", tls_error_string(err,
			    sizeof(err), "out of memory"));
			SSL_CTX_free(s->ctx);
			s->ctx = NULL;
			return CLI_EXIT_CONN;
		}
	}
	deadline = now_ms() + CLI_CONNECT_MS;
	if ((fd = conn_dial(s->cfg->host, s->cfg->port, deadline, err,
	    sizeof(err))) == -1) {
		cli_error("%s", err);
		return CLI_EXIT_CONN;
	}
	if ((s->conn = conn_new(fd, s->ctx, CLI_MAX_LINE)) == NULL) {
		cli_error("cannot set up TLS: %s", tls_error_string(err,
		    sizeof(err), "out of memory"));
		return CLI_EXIT_CONN;
	}
	if (conn_connect(s->conn, s->cfg->host, deadline) != CONN_OK) {
		cli_error("TLS handshake with %s failed: %s%s%s",
		    cli_session_addr(s, addr, sizeof(addr)),
		    conn_error(s->conn), cli_session_verify_hint(s, err,
		    sizeof(err)), cli_session_alert_hint(s, hint,
		    sizeof(hint)));
		cli_session_drop(s);
		return CLI_EXIT_CONN;
	}
	if ((st = cli_session_greeting(s)) != CLI_EXIT_OK) {
		cli_session_drop(s);
	}
	return st;
}

int
cli_session_call(struct cli_session *s, const struct cli_cmd_run *run,
    cJSON *req, cJSON **reply)
{
	int st = cli_session_request(s, req, CLI_REPLY_MS, reply, NULL);

	cJSON_Delete(req);
	if (st != CLI_EXIT_OK) {
		return st;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(*reply, "ok"))) {
		cli_print_refusal(run, *reply);
		cJSON_Delete(*reply);
		*reply = NULL;
		return CLI_EXIT_REFUSED;
	}
	return CLI_EXIT_OK;
}

int
cli_session_request(struct cli_session *s, cJSON *req, int64_t timeout_ms,
    cJSON **reply, char **raw)
{
	const cJSON *id;
	char *out, *line, num[32], addr[300];
	size_t len;
	int64_t start = now_ms();
	long long my_id;
	int st;

	*reply = NULL;
	if (raw != NULL) {
		*raw = NULL;
	}
	cli_session_addr(s, addr, sizeof(addr));
	if (s->conn == NULL) {
		/* Reconnecting here would silently lose the login. */
		cli_error("not connected to %s", addr);
		return CLI_EXIT_CONN;
	}
	my_id = s->next_id++;
	snprintf(num, sizeof(num), "%lld", my_id);
	cJSON_DeleteItemFromObjectCaseSensitive(req, "id");
	cJSON_AddRawToObject(req, "id", num);
	out = proto_line(req, &len);
	st = conn_write(s->conn, out, len, start + timeout_ms);
	cli_tty_wipe(out, len);	/* it may hold a password */
	free(out);
	if (st != CONN_OK) {
		cli_error("cannot send to %s: %s", addr, conn_error(s->conn));
		cli_session_drop(s);
		return CLI_EXIT_CONN;
	}
	/* Only now is "dropping in" true: the drop is on its way. */
	cli_session_countdown_start(s);
	/*
	 * Replies come in request order and this client has one request
	 * outstanding, so the first reply is ours; one with another id is
	 * stale and skipped.  A reply without id is the server failing to
	 * read the request at all (line_too_long, bad_request).
	 */
	for (;;) {
		st = cli_session_read(s, start + timeout_ms - now_ms(), 0,
		    "reply", reply, &line, &len);
		if (st != CLI_EXIT_OK) {
			cli_session_drop(s);
			return st;
		}
		id = cJSON_GetObjectItemCaseSensitive(*reply, "id");
		if (id == NULL || (cJSON_IsNumber(id) &&
		    id->valuedouble == (double)my_id)) {
			break;
		}
		cJSON_Delete(*reply);
		*reply = NULL;
	}
	if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(*reply, "ok"))) {
		cli_error("malformed reply from %s: no \"ok\"", addr);
		cJSON_Delete(*reply);
		*reply = NULL;
		cli_session_drop(s);
		return CLI_EXIT_CONN;
	}
	if (raw != NULL) {
		*raw = xmalloc(len + 1);
		memcpy(*raw, line, len + 1);
	}
	return CLI_EXIT_OK;
}

/*
 * Password login as -u USER.  The password comes from DRINK_PASSWORD or
 * the terminal, once per process: a shell that reconnects reuses it.
 */
int
cli_session_login(struct cli_session *s)
{
	char pw[PROTO_PASSWORD_MAX + 1], prompt[PROTO_NAME_MAX + 320], addr[300];
	cJSON *req, *reply = NULL;
	char *raw = NULL;
	int st;

	if (s->password != NULL) {
		snprintf(pw, sizeof(pw), "%s", s->password);
	} else {
		snprintf(prompt, sizeof(prompt), "Password for %.32s@%s: ",
		    s->cfg->user, cli_session_addr(s, addr, sizeof(addr)));
		if (cli_tty_password("DRINK_PASSWORD", prompt, 0, pw,
		    sizeof(pw)) != 0) {
			return CLI_EXIT_USAGE;
		}
	}
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "login");
	cJSON_AddStringToObject(req, "user", s->cfg->user);
	cJSON_AddStringToObject(req, "password", pw);
	st = cli_session_request(s, req, CLI_REPLY_MS, &reply, &raw);
	cli_tty_wipe(cJSON_GetObjectItem(req, "password")->valuestring,
	    strlen(pw));
	cJSON_Delete(req);
	if (st != CLI_EXIT_OK) {
		goto out;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok"))) {
		if (s->cfg->json) {
			printf("%s\n", raw);
		} else {
			cli_print_refusal(NULL, reply);
		}
		st = CLI_EXIT_REFUSED;
		goto out;
	}
	cli_session_logged(s, reply);
	if (s->password == NULL) {
		s->password = xstrdup(pw);
	}
out:
	cli_tty_wipe(pw, sizeof(pw));
	cJSON_Delete(reply);
	free(raw);
	return st;
}

int
cli_session_token_login(struct cli_session *s, const char *token)
{
	cJSON *req = cJSON_CreateObject(), *reply = NULL;
	const char *err;
	int st;

	cJSON_AddStringToObject(req, "cmd", "login");
	cJSON_AddStringToObject(req, "token", token);
	st = cli_session_request(s, req, CLI_REPLY_MS, &reply, NULL);
	cli_tty_wipe(cJSON_GetObjectItem(req, "token")->valuestring,
	    strlen(token));
	cJSON_Delete(req);
	if (st != CLI_EXIT_OK) {
		return st;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok"))) {
		cli_session_logged(s, reply);
		s->by_token = 1;
	} else {
		err = cJSON_GetStringValue(cJSON_GetObjectItem(reply, "error"));
		if (err != NULL && strcmp(err, "bad_credentials") == 0) {
			st = CLI_EXIT_BAD_TOKEN;
		} else {
			cli_print_refusal(NULL, reply);
			st = CLI_EXIT_REFUSED;
		}
	}
	cJSON_Delete(reply);
	return st;
}

int
cli_session_logout(struct cli_session *s)
{
	cJSON *req = cJSON_CreateObject(), *reply = NULL;
	int st;

	cJSON_AddStringToObject(req, "cmd", "logout");
	st = cli_session_request(s, req, CLI_REPLY_MS, &reply, NULL);
	cJSON_Delete(req);
	if (st != CLI_EXIT_OK) {
		return st;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok"))) {
		cli_print_refusal(NULL, reply);
		cJSON_Delete(reply);
		return CLI_EXIT_REFUSED;
	}
	cJSON_Delete(reply);
	printf("Logged out %s\n", s->user[0] != '\0' ? s->user : "");
	s->logged_in = 0;
	s->user[0] = '\0';
	s->role[0] = '\0';
	if (s->password != NULL) {
		cli_tty_wipe(s->password, strlen(s->password));
		free(s->password);
		s->password = NULL;
	}
	return CLI_EXIT_OK;
}

int
cli_session_send(struct cli_session *s, cJSON *req)
{
	char *out, num[32];
	size_t len;
	int st;

	snprintf(num, sizeof(num), "%lld", s->next_id++);
	cJSON_DeleteItemFromObjectCaseSensitive(req, "id");
	cJSON_AddRawToObject(req, "id", num);
	out = proto_line(req, &len);
	st = conn_write(s->conn, out, len, now_ms() + CLI_REPLY_MS);
	free(out);
	if (st != CONN_OK) {
		cli_error("cannot send: %s", conn_error(s->conn));
		cli_session_drop(s);
		return CLI_EXIT_CONN;
	}
	return CLI_EXIT_OK;
}

int
cli_session_next(struct cli_session *s, int64_t timeout_ms, cJSON **obj,
    char **raw)
{
	char *line;
	size_t len;
	int st;

	*obj = NULL;
	st = conn_read_line(s->conn, &line, &len, now_ms() +
	    (timeout_ms > 0 ? timeout_ms : 1), CLI_REPLY_MS);
	if (st == CONN_TIMEOUT) {
		return CLI_EXIT_TIMEOUT;
	}
	if (st == CONN_WAKE) {
		return CLI_EXIT_INTERRUPTED;
	}
	if (st != CONN_OK) {
		cli_error("connection lost: %s", st == CONN_EOF ?
		    "closed by the server" : conn_error(s->conn));
		cli_session_drop(s);
		return CLI_EXIT_CONN;
	}
	if ((*obj = cJSON_ParseWithLength(line, len)) == NULL) {
		cli_error("malformed message from the server");
		cli_session_drop(s);
		return CLI_EXIT_CONN;
	}
	*raw = xmalloc(len + 1);
	memcpy(*raw, line, len + 1);
	return CLI_EXIT_OK;
}

void
cli_session_set_wake(struct cli_session *s, int fd)
{
	if (s->conn != NULL) {
		conn_set_wake_fd(s->conn, fd);
	}
}

void
cli_session_close(struct cli_session *s)
{
	static const char quit[] = "{\"cmd\":\"quit\"}\n";
	int64_t deadline = now_ms() + CLI_QUIT_MS;

	if (s->conn == NULL) {
		return;
	}
	if (conn_write(s->conn, quit, sizeof(quit) - 1, deadline) == CONN_OK) {
		conn_shutdown(s->conn, deadline);
	}
	cli_session_drop(s);
}
