/*
 * The Sunday client dialect (LEGACY.md section 2), on its own listener
 * (sunday_listen) with the member port's TLS policy, one thread per
 * connection as on the member port.
 *
 * Sunday is a skin: every command that reads or moves anything is turned
 * into the member protocol's request and run through cmd_dispatch() on
 * this connection's struct session, so logins, throttling, drops (hold,
 * vend, capture or release) and transfers have one implementation.  What
 * lives here is only the dialect: splitting lines, the order in which
 * Drink-JS checked its errors, and the reply texts.  IBUTTON is the one
 * exception, having no member-port twin: it looks the card up with
 * db_card_owner() and logs in with session_login(), as the certificate
 * login does.  The session itself opens and closes with the member
 * port's session_open() and session_close(): recorded, announced to
 * "sessions" subscribers, and logged in by a client certificate from
 * member_ca (LEGACY.md section 1) exactly as there.
 *
 * One reply per command, in order; each reply (a whole STAT listing too)
 * is built first and written with one conn_write(), so it leaves in one
 * TLS record when it fits.  idle_timeout does not apply here: a read
 * waits in hour-long rounds, and a started line still has line_timeout.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "drinkd.h"

#define SUNDAY_WRITE_MS 60000		/* a reply must be taken by then */
#define SUNDAY_IDLE_MS (3600 * 1000)	/* one round of waiting for a line */
#define SUNDAY_ARGS 3			/* arguments kept; more only counted */
#define SUNDAY_MAX_SLOT 255		/* the member protocol's slot range */
#define SUNDAY_MAX_DELAY 300
#define SUNDAY_SRV(u) ((u)->s->peer.srv)

/* The reply texts of LEGACY.md section 2.4, each sent with "\r\n". */
enum sunday_text {
	SUNDAY_SLOT_EMPTY,
	SUNDAY_SLOT_DISABLED,
	SUNDAY_UNKNOWN_FAILURE,
	SUNDAY_SLOT_NOT_FOUND,
	SUNDAY_DROP_FAILED,
	SUNDAY_OFFLINE,
	SUNDAY_IN_PROGRESS,
	SUNDAY_USER_FIRST,
	SUNDAY_POOR,
	SUNDAY_LOGIN,
	SUNDAY_USAGE_PASS,
	SUNDAY_USAGE_IBUTTON,
	SUNDAY_USAGE_MACHINE,
	SUNDAY_USAGE_SEND,
	SUNDAY_BAD_IBUTTON,
	SUNDAY_NO_RECIPIENT,
	SUNDAY_SEND_FAILED,
	SUNDAY_BAD_AMOUNT,
	SUNDAY_BAD_DELAY,
	SUNDAY_BAD_PASSWORD,
	SUNDAY_BAD_SLOT,
	SUNDAY_NO_MACHINE,
	SUNDAY_BAD_MACHINE,
	SUNDAY_BAD_COMMAND,
	SUNDAY_STAT_FAILED,
};

static const char *const sunday_texts[] = {
	[SUNDAY_SLOT_EMPTY] = "ERR 100 Slot empty.",
	[SUNDAY_SLOT_DISABLED] = "ERR 102 Slot disabled.",
	[SUNDAY_UNKNOWN_FAILURE] = "ERR 103 Unknown Failure.",
	[SUNDAY_SLOT_NOT_FOUND] = "ERR 105 Slot not found",
	[SUNDAY_DROP_FAILED] =
	    "ERR 150 Unable to initialize hardware for drop.",
	[SUNDAY_OFFLINE] =
	    "ERR 151 Unable to communicate with hardware. Contact an admin.",
	[SUNDAY_IN_PROGRESS] =
	    "WARN 152 Drop in progress, please wait before dropping again",
	[SUNDAY_USER_FIRST] = "ERR 201 USER command needs to be issued first.",
	[SUNDAY_POOR] = "ERR 203 User is poor.",
	[SUNDAY_LOGIN] = "ERR 204 You need to login.",
	[SUNDAY_USAGE_PASS] =
	    "ERR 206 Invalid number of args USAGE: PASS <username>",
	[SUNDAY_USAGE_IBUTTON] = "ERR 206 Invalid number of args - USAGE: "
	    "IBUTTON <ibutton number>",
	[SUNDAY_USAGE_MACHINE] = "ERR 206 Invalid number of args - USAGE: "
	    "MACHINE <machine id>",
	[SUNDAY_USAGE_SEND] = "ERR 206 Invalid number of args - USAGE: "
	    "SENDCREDITS <(int) num credits> <username>",
	[SUNDAY_BAD_IBUTTON] = "ERR 207 Invalid Ibutton",
	[SUNDAY_NO_RECIPIENT] = "ERR 208 Transfer error - user doesnt exist",
	[SUNDAY_SEND_FAILED] = "ERR 209 Error during credit transfer",
	[SUNDAY_BAD_AMOUNT] =
	    "ERR 210 Send amount must be a positive, whole number",
	[SUNDAY_BAD_DELAY] = "ERR 403 Invalid delay",
	[SUNDAY_BAD_PASSWORD] = "ERR 407 Invalid password.",
	[SUNDAY_BAD_SLOT] = "ERR 409 Invalid slot.",
	[SUNDAY_NO_MACHINE] = "ERR 413 No machine selected.",
	[SUNDAY_BAD_MACHINE] =
	    "ERR 414 Invalid machine name - USAGE: MACHINE <machine id>",
	[SUNDAY_BAD_COMMAND] = "ERR 415 Invalid command",
	[SUNDAY_STAT_FAILED] = "ERR 416 Machine is offline or unreachable",
};

/* A failed drink drop in Sunday's words; codes not listed are 103. */
static const struct {
	enum proto_err err;
	enum sunday_text text;
} sunday_drop_errors[] = {
	{ ERR_DROP_IN_PROGRESS, SUNDAY_IN_PROGRESS },
	{ ERR_MACHINE_OFFLINE, SUNDAY_OFFLINE },
	{ ERR_NO_SUCH_SLOT, SUNDAY_SLOT_NOT_FOUND },
	{ ERR_SLOT_DISABLED, SUNDAY_SLOT_DISABLED },
	{ ERR_SLOT_EMPTY, SUNDAY_SLOT_EMPTY },
	{ ERR_INSUFFICIENT_FUNDS, SUNDAY_POOR },
	{ ERR_DROP_FAILED, SUNDAY_DROP_FAILED },
	{ ERR_DROP_TIMEOUT, SUNDAY_DROP_FAILED },
	{ ERR_NO_SUCH_MACHINE, SUNDAY_NO_MACHINE },
};

/* One Sunday connection; owned by its thread. */
struct sunday {
	struct session *s;	/* the dispatcher's view: login, client */
	char *pending;		/* USER's name, unchecked; NULL for none */
	char machine[PROTO_NAME_MAX + 1];	/* selected; "" for none */
	int quit;
	char *out;		/* the reply being built */
	size_t len, cap;
};

struct sunday_cmd {
	const char *name;	/* matched ASCII-case-insensitively */
	void (*exec)(struct sunday *, int nargs, char **args);
};

static void sunday_put(struct sunday *u, const char *fmt, ...)
    PRINTFLIKE(2, 3);

static void
sunday_put(struct sunday *u, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(u->out + u->len, u->cap - u->len, fmt, ap);
		va_end(ap);
		assert(n >= 0);
		if ((size_t)n < u->cap - u->len) {
			u->len += (size_t)n;
			return;
		}
		u->cap = u->cap * 2 + (size_t)n;
		u->out = xreallocarray(u->out, u->cap, 1);
	}
}

static void
sunday_say(struct sunday *u, enum sunday_text t)
{
	sunday_put(u, "%s\r\n", sunday_texts[t]);
}

/*
 * Run a member-protocol request (req is consumed) on this connection's
 * session; the parsed reply (caller deletes) and its error code in *err.
 */
static cJSON *
sunday_call(struct sunday *u, cJSON *req, int *err)
{
	size_t linelen, outlen;
	char *line = proto_print(req, &linelen), *out;
	const cJSON *code;
	cJSON *reply;

	cJSON_Delete(req);
	out = cmd_dispatch(u->s, line, linelen, &outlen);
	free(line);
	reply = cJSON_Parse(out);
	free(out);
	assert(reply != NULL);
	code = cJSON_GetObjectItemCaseSensitive(reply, "error");
	*err = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")) ?
	    ERR_NONE : cJSON_IsString(code) &&
	    proto_err_parse(code->valuestring) > 0 ?
	    proto_err_parse(code->valuestring) : ERR_INTERNAL;
	return reply;
}

static cJSON *
sunday_request(const char *cmd)
{
	cJSON *req = cJSON_CreateObject();

	cJSON_AddStringToObject(req, "cmd", cmd);
	return req;
}

/*
 * Text from drink on one Sunday line: control bytes (a display name may
 * hold a CR or LF) become spaces, so the line stays one line.
 */
static void
sunday_oneline(char *text)
{
	unsigned char *p;

	for (p = (unsigned char *)text; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			*p = ' ';
		}
	}
}

/*
 * The display name of machine id (any bytes) into name, as a Sunday line
 * shows it: 0, or -1 when no machine has that id (or on a database
 * error, logged by the dispatcher).
 */
static int
sunday_machine(struct sunday *u, const char *id, char *name, size_t len)
{
	cJSON *reply, *m;
	int err, rc = -1;

	reply = sunday_call(u, sunday_request("machines"), &err);
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(reply,
	    "machines")) {
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(m,
		    "machine")), id) == 0) {
			snprintf(name, len, "%s", cJSON_GetStringValue(
			    cJSON_GetObjectItem(m, "name")));
			sunday_oneline(name);
			rc = 0;
			break;
		}
	}
	cJSON_Delete(reply);
	return rc;
}

/* 1 when s is 1..max decimal digits and nothing else. */
static int
sunday_digits(const char *s, size_t max)
{
	size_t n = strspn(s, "0123456789");

	return s[n] == '\0' && n >= 1 && n <= max;
}

static void
sunday_user(struct sunday *u, int nargs, char **args)
{
	if (nargs != 1) {
		sunday_say(u, SUNDAY_USAGE_PASS);
		return;
	}
	free(u->pending);
	u->pending = xstrdup(args[0]);
	sunday_put(u, "OK: \r\n");
}

static void
sunday_pass(struct sunday *u, int nargs, char **args)
{
	cJSON *req, *reply;
	int err;

	if (nargs != 1) {
		sunday_say(u, SUNDAY_USAGE_PASS);
		return;
	}
	if (u->pending == NULL) {
		sunday_say(u, SUNDAY_USER_FIRST);
		return;
	}
	req = sunday_request("login");
	cJSON_AddStringToObject(req, "user", u->pending);
	cJSON_AddStringToObject(req, "password", args[0]);
	reply = sunday_call(u, req, &err);
	if (err == ERR_NONE) {
		free(u->pending);
		u->pending = NULL;
		sunday_put(u, "OK: %lld\r\n",
		    (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(reply,
		    "balance")));
	} else {
		sunday_say(u, SUNDAY_BAD_PASSWORD);
	}
	cJSON_Delete(reply);
}

/* sunday_ibutton: may this connection log in by card at all? */
static int
sunday_ibutton_allowed(struct sunday *u)
{
	const char *mode = SUNDAY_SRV(u)->cfg->sunday_ibutton;
	SSL *ssl = conn_ssl(u->s->peer.conn);

	if (strcmp(mode, "off") == 0) {
		return 0;
	}
	if (strcmp(mode, "cert") == 0) {
		return SUNDAY_SRV(u)->cfg->member_ca != NULL &&
		    SSL_get0_peer_certificate(ssl) != NULL &&
		    SSL_get_verify_result(ssl) == X509_V_OK;
	}
	return 1;
}

/*
 * Unknown cards are counted per address (auth_card_*); a good card clears
 * nothing, or a member could guess at other cards for ever by giving his
 * own every few tries.
 */
static void
sunday_ibutton(struct sunday *u, int nargs, char **args)
{
	const char *address = u->s->peer.client.address;
	char uid[PROTO_CARD_MAX + 2];
	const char *p;
	struct db_user owner;
	size_t n = 0;
	int64_t wait = 0;
	int rc, login;

	if (nargs != 1) {
		sunday_say(u, SUNDAY_USAGE_IBUTTON);
		return;
	}
	for (p = args[0]; *p != '\0' && n < sizeof(uid) - 1; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9')) {
			uid[n++] = *p;
		}
	}
	uid[n] = '\0';
	if (!proto_valid_card(uid) || !sunday_ibutton_allowed(u) ||
	    (wait = auth_card_throttled(AUTH_CARD_IBUTTON, NULL,
	    address)) > 0) {
		if (wait > 0) {
			log_info("session %lld: IBUTTON login throttled from "
			    "%s, retry after %lld s",
			    (long long)u->s->peer.client.session, address,
			    (long long)wait);
		}
		sunday_say(u, SUNDAY_BAD_IBUTTON);
		return;
	}
	db_set_op("IBUTTON login");
	(void)db_take_refused();
	rc = db_card_owner(SUNDAY_SRV(u)->db, uid, &owner);
	/* The card's last use, refused before it was tried: nothing broke. */
	if (rc == ERR_INTERNAL && db_take_refused()) {
		rc = ERR_UNAVAILABLE;
	}
	if (rc == ERR_NONE) {
		login = session_login(u->s, owner.name, &owner);
		if (login == -1) {
			rc = ERR_BAD_CREDENTIALS; /* disabled since the look */
		} else if (login != 0) {
			rc = ERR_FORBIDDEN;	/* max_clients_per_ip */
		}
	}
	if (rc != ERR_NONE) {
		if (rc == ERR_BAD_CREDENTIALS) {
			auth_card_guess(AUTH_CARD_IBUTTON, NULL, address);
		}
		log_info("session %lld: IBUTTON login refused from %s: %s",
		    (long long)u->s->peer.client.session, address,
		    rc == ERR_BAD_CREDENTIALS ? "unknown card or disabled "
		    "owner" : rc == ERR_FORBIDDEN ? "the address is at "
		    "max_clients_per_ip" : rc == ERR_UNAVAILABLE ? "storage is "
		    "unavailable (writes are refused until it recovers)" :
		    "internal error");
		sunday_say(u, SUNDAY_BAD_IBUTTON);
		return;
	}
	log_info("login ok: user %s by card from %s port %d, session %lld",
	    owner.name, u->s->peer.client.address, u->s->peer.client.port,
	    (long long)u->s->peer.client.session);
	sunday_put(u, "OK: %lld\r\n", (long long)owner.balance);
}

static void
sunday_machine_cmd(struct sunday *u, int nargs, char **args)
{
	char name[PROTO_NOTE_MAX + 1];

	if (nargs != 1) {
		sunday_say(u, SUNDAY_USAGE_MACHINE);
		return;
	}
	if (sunday_machine(u, args[0], name, sizeof(name)) != 0) {
		sunday_say(u, SUNDAY_BAD_MACHINE);
		return;
	}
	snprintf(u->machine, sizeof(u->machine), "%s", args[0]);
	sunday_put(u, "OK:  Welcome to %s\r\n", name);
}

/* A slot's item as STAT shows it: '"' as '\'', control bytes as ' '. */
static void
sunday_item(char *item)
{
	char *p;

	for (p = item; *p != '\0'; p++) {
		if (*p == '"') {
			*p = '\'';
		}
	}
	sunday_oneline(item);
}

static void
sunday_stat(struct sunday *u, int nargs, char **args)
{
	cJSON *req, *reply, *slot;
	char item[PROTO_NOTE_MAX + 1];
	int err, n = 0;

	(void)nargs;
	(void)args;
	if (u->machine[0] == '\0') {
		sunday_say(u, SUNDAY_NO_MACHINE);
		return;
	}
	req = sunday_request("slots");
	cJSON_AddStringToObject(req, "machine", u->machine);
	reply = sunday_call(u, req, &err);
	if (err != ERR_NONE) {
		sunday_say(u, err == ERR_NO_SUCH_MACHINE ? SUNDAY_NO_MACHINE :
		    SUNDAY_STAT_FAILED);
		cJSON_Delete(reply);
		return;
	}
	cJSON_ArrayForEach(slot, cJSON_GetObjectItem(reply, "slots")) {
		snprintf(item, sizeof(item), "%s", cJSON_GetStringValue(
		    cJSON_GetObjectItem(slot, "item")));
		sunday_item(item);
		sunday_put(u, "%lld \"%s\" %lld %lld %d\n",
		    (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(slot,
		    "slot")), item,
		    (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(slot,
		    "price")),
		    (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(slot,
		    "stock")),
		    cJSON_IsTrue(cJSON_GetObjectItem(slot, "enabled")));
		n++;
	}
	sunday_put(u, "OK %d Slots retrieved\r\n", n);
	cJSON_Delete(reply);
}

static void
sunday_getbalance(struct sunday *u, int nargs, char **args)
{
	cJSON *reply;
	int err;

	(void)nargs;
	(void)args;
	if (!u->s->logged_in) {
		sunday_say(u, SUNDAY_LOGIN);
		return;
	}
	reply = sunday_call(u, sunday_request("balance"), &err);
	if (err == ERR_NONE) {
		sunday_put(u, "OK: %lld\r\n",
		    (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(reply,
		    "balance")));
	} else {
		sunday_say(u, SUNDAY_UNKNOWN_FAILURE);
	}
	cJSON_Delete(reply);
}

static void
sunday_whoami(struct sunday *u, int nargs, char **args)
{
	(void)nargs;
	(void)args;
	if (!u->s->logged_in) {
		sunday_say(u, SUNDAY_LOGIN);
		return;
	}
	sunday_put(u, "OK:  %s\r\n", u->s->user);
}

/*
 * The failures Drink-JS reported before any other (in progress, offline,
 * no such slot: LEGACY.md 2.5) are looked at first, read-only; drink's
 * own drop then decides everything else, and races between the look and
 * the drop only change which of two true answers is given.
 */
static int
sunday_drop_precheck(struct sunday *u, long long slot)
{
	if (db_drop_pending(SUNDAY_SRV(u)->db, u->s->user) == 1) {
		return ERR_DROP_IN_PROGRESS;
	}
	if (!vend_online(SUNDAY_SRV(u)->vends, u->machine)) {
		return ERR_MACHINE_OFFLINE;
	}
	if (slot < 1 || slot > SUNDAY_MAX_SLOT) {
		return ERR_NO_SUCH_SLOT;
	}
	return ERR_NONE;
}

static void
sunday_drop(struct sunday *u, int nargs, char **args)
{
	char name[PROTO_NOTE_MAX + 1];
	long long slot, delay = 0;
	cJSON *req, *reply = NULL;
	size_t i;
	int err;

	if (!u->s->logged_in) {
		sunday_say(u, SUNDAY_LOGIN);
		return;
	}
	if (u->machine[0] == '\0' ||
	    sunday_machine(u, u->machine, name, sizeof(name)) != 0) {
		sunday_say(u, SUNDAY_NO_MACHINE);
		return;
	}
	if (nargs < 1 || !sunday_digits(args[0], 10)) {
		sunday_say(u, SUNDAY_BAD_SLOT);
		return;
	}
	slot = strtoll(args[0], NULL, 10);
	if (nargs >= 2 && (!sunday_digits(args[1], 3) ||
	    (delay = strtoll(args[1], NULL, 10)) > SUNDAY_MAX_DELAY)) {
		sunday_say(u, SUNDAY_BAD_DELAY);
		return;
	}
	if ((err = sunday_drop_precheck(u, slot)) == ERR_NONE) {
		req = sunday_request("drop");
		cJSON_AddStringToObject(req, "machine", u->machine);
		cJSON_AddNumberToObject(req, "slot", (double)slot);
		cJSON_AddNumberToObject(req, "delay", (double)delay);
		reply = sunday_call(u, req, &err);
		cJSON_Delete(reply);
	}
	if (err == ERR_NONE) {
		sunday_put(u, "OK:  Dropping drink\r\n");
		return;
	}
	for (i = 0; i < sizeof(sunday_drop_errors) /
	    sizeof(sunday_drop_errors[0]); i++) {
		if (sunday_drop_errors[i].err == (enum proto_err)err) {
			sunday_say(u, sunday_drop_errors[i].text);
			return;
		}
	}
	sunday_say(u, SUNDAY_UNKNOWN_FAILURE);
}

static void
sunday_sendcredits(struct sunday *u, int nargs, char **args)
{
	long long amount;
	cJSON *req, *reply;
	int err;

	if (nargs != 2) {
		sunday_say(u, SUNDAY_USAGE_SEND);
		return;
	}
	if (!u->s->logged_in) {
		sunday_say(u, SUNDAY_LOGIN);
		return;
	}
	if (!sunday_digits(args[0], 10) ||
	    (amount = strtoll(args[0], NULL, 10)) < 1 ||
	    amount > PROTO_MAX_AMOUNT) {
		sunday_say(u, SUNDAY_BAD_AMOUNT);
		return;
	}
	if (!proto_valid_name(args[1])) {
		sunday_say(u, SUNDAY_NO_RECIPIENT);
		return;
	}
	req = sunday_request("send");
	cJSON_AddStringToObject(req, "to", args[1]);
	cJSON_AddNumberToObject(req, "amount", (double)amount);
	reply = sunday_call(u, req, &err);
	cJSON_Delete(reply);
	if (err == ERR_NONE) {
		sunday_put(u, "OK: \r\n");
	} else {
		sunday_say(u, err == ERR_NO_SUCH_USER ? SUNDAY_NO_RECIPIENT :
		    err == ERR_INSUFFICIENT_FUNDS ? SUNDAY_POOR :
		    SUNDAY_SEND_FAILED);
	}
}

static void
sunday_uptime(struct sunday *u, int nargs, char **args)
{
	static const char days[][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char months[][4] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)SUNDAY_SRV(u)->started;
	struct tm tm;

	(void)nargs;
	(void)args;
	gmtime_r(&t, &tm);
	sunday_put(u, "OK: Up since: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void
sunday_serverstat(struct sunday *u, int nargs, char **args)
{
	cJSON *reply, *m, *out = cJSON_CreateObject(), *list, *o;
	char *text;
	int err;

	(void)nargs;
	(void)args;
	reply = sunday_call(u, sunday_request("machines"), &err);
	list = cJSON_AddArrayToObject(out, "machines");
	cJSON_ArrayForEach(m, cJSON_GetObjectItem(reply, "machines")) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "machine_name",
		    cJSON_GetStringValue(cJSON_GetObjectItem(m, "name")));
		cJSON_AddBoolToObject(o, "connected",
		    cJSON_IsTrue(cJSON_GetObjectItem(m, "online")));
		cJSON_AddItemToArray(list, o);
	}
	cJSON_AddStringToObject(out, "opcode", "OK");
	text = proto_print(out, NULL);
	sunday_put(u, "%s\r\n", text);
	free(text);
	cJSON_Delete(out);
	cJSON_Delete(reply);
}

static void
sunday_quit(struct sunday *u, int nargs, char **args)
{
	(void)nargs;
	(void)args;
	sunday_put(u, "Good Bye\r\n");
	u->quit = 1;
}

static const struct sunday_cmd sunday_cmds[] = {
	{ "USER", sunday_user },
	{ "PASS", sunday_pass },
	{ "IBUTTON", sunday_ibutton },
	{ "MACHINE", sunday_machine_cmd },
	{ "STAT", sunday_stat },
	{ "GETBALANCE", sunday_getbalance },
	{ "WHOAMI", sunday_whoami },
	{ "DROP", sunday_drop },
	{ "SENDCREDITS", sunday_sendcredits },
	{ "UPTIME", sunday_uptime },
	{ "SERVERSTAT", sunday_serverstat },
	{ "QUIT", sunday_quit },
};

/*
 * One command line (without its line ending) into u->out.  The line is
 * split in place at every single space, so two spaces make an empty
 * argument; only the first SUNDAY_ARGS arguments are kept, all counted.
 */
static void
sunday_exec(struct sunday *u, char *line, size_t len)
{
	char *args[SUNDAY_ARGS], *word = line, *p = line, *sp;
	int nargs = -1;
	size_t i;

	if (len == 0 || memchr(line, '\0', len) != NULL) {
		sunday_say(u, SUNDAY_BAD_COMMAND);
		return;
	}
	for (;;) {
		sp = memchr(p, ' ', len - (size_t)(p - line));
		if (sp != NULL) {
			*sp = '\0';
		}
		if (nargs >= 0 && nargs < SUNDAY_ARGS) {
			args[nargs] = p;
		}
		nargs++;
		if (sp == NULL) {
			break;
		}
		p = sp + 1;
	}
	for (i = 0; i < sizeof(sunday_cmds) / sizeof(sunday_cmds[0]); i++) {
		if (strcasecmp(word, sunday_cmds[i].name) == 0) {
			sunday_cmds[i].exec(u, nargs, args);
			return;
		}
	}
	sunday_say(u, SUNDAY_BAD_COMMAND);
}

/*
 * "Welcome to <name>\n" for the starting machine, which it selects.  A
 * sunday_default_machine that names no machine (a typo, a machine not yet
 * added or since deleted) falls back to the first machine, as LEGACY.md
 * says; a kiosk beside one machine would then drop from another, so the
 * first such session of a run is logged for the operator.
 */
static void
sunday_greet(struct sunday *u)
{
	static int warned;	/* atomic: the fallback has been logged */
	const char *want = SUNDAY_SRV(u)->cfg->sunday_default_machine;
	char name[PROTO_NOTE_MAX + 1];
	cJSON *reply, *first;
	int err;

	if (want != NULL && sunday_machine(u, want, name, sizeof(name)) == 0) {
		snprintf(u->machine, sizeof(u->machine), "%s", want);
	} else {
		/* db_machines lists by id in byte order. */
		reply = sunday_call(u, sunday_request("machines"), &err);
		first = cJSON_GetArrayItem(cJSON_GetObjectItem(reply,
		    "machines"), 0);
		if (first != NULL) {
			snprintf(u->machine, sizeof(u->machine), "%s",
			    cJSON_GetStringValue(cJSON_GetObjectItem(first,
			    "machine")));
			snprintf(name, sizeof(name), "%s",
			    cJSON_GetStringValue(cJSON_GetObjectItem(first,
			    "name")));
			sunday_oneline(name);
			if (want != NULL &&
			    !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED)) {
				log_warn("sunday_default_machine = %s names no "
				    "machine: Sunday sessions start on %s, the "
				    "first machine by id; add the machine "
				    "(drink machine-add) or correct the key",
				    want, u->machine);
			}
		}
		cJSON_Delete(reply);
	}
	sunday_put(u, "Welcome to %s\n", u->machine[0] != '\0' ? name :
	    "Drink");
}

/* Write the reply built in u->out and empty it. */
static int
sunday_flush(struct sunday *u)
{
	int rc = conn_write(u->s->peer.conn, u->out, u->len,
	    now_ms() + SUNDAY_WRITE_MS);

	u->len = 0;
	u->out[0] = '\0';
	return rc;
}

/* Commands until the connection ends; returns why, for the log. */
static const char *
sunday_loop(struct sunday *u)
{
	const char *kicked;
	int64_t idle;
	char *line;
	size_t len;
	int rc;

	while (!u->quit && !server_stopping(SUNDAY_SRV(u))) {
		idle = now_ms() + SUNDAY_IDLE_MS;
		rc = conn_read_line(u->s->peer.conn, &line, &len, idle,
		    SUNDAY_SRV(u)->cfg->line_timeout * 1000);
		switch (rc) {
		case CONN_OK:
			break;
		case CONN_TOO_LONG:
			sunday_say(u, SUNDAY_BAD_COMMAND);
			(void)sunday_flush(u);
			return "line too long";
		case CONN_EOF:
			return "closed by the client";
		case CONN_TIMEOUT:
			if (now_ms() >= idle) {
				continue;	/* quiet, not a stalled line */
			}
			return "timed out";
		default:
			return conn_error(u->s->peer.conn);
		}
		/*
		 * Kicked since the last reply, with this line already read:
		 * it is not run (sunday_main logs the kick's reason).
		 */
		if ((kicked = client_closed_by(&u->s->peer.client)) != NULL) {
			return kicked;
		}
		/* Counted until the answer is written, so shutdown waits. */
		session_busy_add(1);
		sunday_exec(u, line, len);
		rc = sunday_flush(u);
		session_busy_add(-1);
		if (rc != CONN_OK) {
			return conn_error(u->s->peer.conn);
		}
	}
	return u->quit ? "quit" : "server stopping";
}

void *
sunday_main(void *arg)
{
	struct session *s = arg;
	struct sunday u = { .s = s };
	SSL_CTX *ctx = server_member_ctx(s->peer.srv);
	const char *why;

	u.cap = 256;
	u.out = xmalloc(u.cap);
	u.out[0] = '\0';
	s->peer.conn = conn_new(s->peer.client.fd, ctx,
	    (size_t)s->peer.srv->cfg->max_line);
	SSL_CTX_free(ctx);
	if (s->peer.conn == NULL) {
		log_err("Sunday %s port %d: cannot set up TLS",
		    s->peer.client.address, s->peer.client.port);
		s->peer.client.fd = -1;
		goto out;
	}
	tls_port_mark(conn_ssl(s->peer.conn), TLS_PORT_LEGACY);
	if (conn_accept(s->peer.conn, now_ms() +
	    s->peer.srv->cfg->handshake_timeout * 1000) != CONN_OK) {
		log_info("Sunday %s port %d: TLS handshake failed: %s",
		    s->peer.client.address, s->peer.client.port,
		    conn_error(s->peer.conn));
		goto out;
	}
	/* As on the member port: recorded, announced, certificate login. */
	if (session_open(s, "Sunday") != 0) {
		goto out;
	}
	sunday_greet(&u);
	why = sunday_flush(&u) == CONN_OK ? sunday_loop(&u) :
	    conn_error(s->peer.conn);
	/* The server's own reason (room made, a kick...) wins. */
	if (client_closed_by(&s->peer.client) != NULL) {
		why = client_closed_by(&s->peer.client);
	}
	conn_shutdown(s->peer.conn, now_ms() + 1000);
	session_close(s, why);
out:
	/* Leave the registry before the descriptor is closed (kick safety). */
	client_remove(&s->peer.client);
	conn_free(s->peer.conn);
	free(u.pending);
	free(u.out);
	free(s);
	return NULL;
}
