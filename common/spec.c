/*
 * The command specification: every protocol command, who may run it, and
 * each argument's JSON type, bounds, command-line form and help text.  It
 * is the one description both programs read, so they cannot drift: drinkd's
 * dispatcher (server/cmd.c) validates requests with spec_check() against
 * it, and drink (client/cli-cmd.c) builds its argument parser, its usage
 * and help, its local checks and its tab completion from it.
 *
 * How to add a command:
 *
 *   1. Add one entry to spec_table below: the protocol name, the role, a
 *      one-line summary and the arguments (the macros below say how each
 *      appears on drink's command line; SPEC_CMD_NOCLI hides a command that
 *      drink does not offer as such).
 *   2. Write the handler (int cmd_xxx(struct session *, struct req *)) in
 *      server/cmd-*.c, declare it in server/drinkd.h and add one line
 *      { "xxx", cmd_xxx } to cmd_handlers in server/cmd.c.  The handler may
 *      assume every argument present passed spec_check().  check_spec fails
 *      when a command has no handler, or a handler no command.
 *   3. Nothing more is needed in drink: a command without an entry in
 *      cli_cmd_shows (client/cli-cmd.c) prints its reply's fields one per
 *      line.  Add an entry there for a table, a sentence or a refusal text.
 *   4. Document it in docs/protocol.md and drink(1).
 *
 * A command whose effect would outlive a stolen login token (a card bound,
 * a user added or changed, a machine changed) takes the
 * session user's own password in an argument flagged SPEC_A_OWN (S_OWN
 * below) and says what for in own_for: drinkd then requires it of a
 * session logged in by token, and drink asks for it after a kept login.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* 2^53: the largest integer every JSON reader holds exactly, plus one. */
#define SPEC_ID_MAX (INT64_C(1) << 53)
/* A token's label, in bytes. */
#define SPEC_LABEL_MAX 64
/* Unix seconds, up to the year 36812. */
#define SPEC_TIME_MAX (INT64_C(1) << 40)

/* Positional words. */
#define W_USER(f, m, h) { .field = f, .type = SPEC_T_NAME, \
	.flags = SPEC_A_REQ, .meta = m, .complete = SPEC_C_USER, .help = h }
#define W_MACHINE(h) { .field = "machine", .type = SPEC_T_NAME, \
	.flags = SPEC_A_REQ, .meta = "MACHINE", .complete = SPEC_C_MACHINE, \
	.help = h }
#define W_SLOT { .field = "slot", .type = SPEC_T_INT, .flags = SPEC_A_REQ, \
	.min = 1, .max = 255, .meta = "SLOT", .complete = SPEC_C_SLOT, \
	.help = "slot number (see slots)" }
#define W_AMOUNT(f, m, lo, h) { .field = f, .type = SPEC_T_AMOUNT, \
	.flags = SPEC_A_REQ, .min = lo, .max = PROTO_MAX_AMOUNT, .meta = m, \
	.help = h }
/* A note that must be given says something: not "", not blanks only. */
#define W_NOTE(fl, h) { .field = "note", .type = SPEC_T_TEXT, .flags = fl, \
	.min = ((fl) & SPEC_A_REQ) ? 1 : 0, .max = PROTO_NOTE_MAX, \
	.meta = "NOTE", .help = h }
#define W_ID(f, m, h) { .field = f, .type = SPEC_T_INT, .flags = SPEC_A_REQ, \
	.min = 1, .max = SPEC_ID_MAX, .meta = m, .help = h }
/* Options: --opt VALUE. */
#define O_INT(f, o, m, lo, hi, h) { .field = f, .type = SPEC_T_INT, \
	.form = SPEC_F_OPTION, .min = lo, .max = hi, .opt = o, .meta = m, \
	.help = h }
#define O_BEFORE O_INT("before", "before", "TX", 1, SPEC_ID_MAX, \
	"only transactions older than TX")
/* The server's page when no limit is asked for: history's, log's. */
#define O_LIMIT(d) O_INT("limit", "limit", "N", 1, 1000, \
	"how many transactions to list (default " d ")")
#define O_KEY { .field = "key", .type = SPEC_T_KEY, .form = SPEC_F_OPTION, \
	.min = 1, .max = PROTO_KEY_MAX, .opt = "key", .meta = "KEY", \
	.help = "idempotency key: repeating the command with it never " \
	"applies it twice" }
/* Whose cards: another member's needs an admin. */
#define O_OWNER { .field = "user", .type = SPEC_T_NAME, \
	.form = SPEC_F_OPTION, .opt = "user", .meta = "USER", \
	.complete = SPEC_C_USER, .help = "another member's (admins only)" }
/* A boolean set by --on or --off. */
#define O_BOOL(f, on_, off_, h) { .field = f, .type = SPEC_T_BOOL, \
	.form = SPEC_F_SWITCH, .on = on_, .off = off_, .help = h }
/* A password, never on the command line: asked on the terminal. */
#define S_SECRET(f, fl, o, h) { .field = f, .type = SPEC_T_SECRET, \
	.flags = fl, .form = SPEC_F_SECRET, .min = 1, \
	.max = PROTO_PASSWORD_MAX, .opt = o, .help = h }

/*
 * The session user's own password, asked by drink when its login was by a
 * kept token (drinkd requires it then): SPEC_A_OWN, with own_for.
 */
#define S_OWN(f) { .field = f, .type = SPEC_T_SECRET, .flags = SPEC_A_OWN, \
	.form = SPEC_F_HIDDEN, .min = 1, .max = PROTO_PASSWORD_MAX, \
	.help = "your password, needed when the login was by token" }

const struct spec_cmd spec_table[] = {
	/* Any session. */
	/* user and password, or token: cmd_login checks which. */
	{ .name = "login", .role = SPEC_ANYONE, .flags = 0,
	    .summary = "log in as -u USER and keep the login (a token)",
	    .args = {
	    { .field = "user", .type = SPEC_T_NAME, .form = SPEC_F_HIDDEN,
	    .complete = SPEC_C_USER, .help = "who to log in as (-u)" },
	    { .field = "password", .type = SPEC_T_SECRET,
	    .form = SPEC_F_HIDDEN, .min = 1, .max = PROTO_PASSWORD_MAX,
	    .help = "the password" },
	    { .field = "token", .type = SPEC_T_SECRET, .form = SPEC_F_HIDDEN,
	    .min = 1, .max = PROTO_PASSWORD_MAX,
	    .help = "a login token (token_create)" } } },
	/* drink logout ends the kept login instead: token_revoke. */
	{ .name = "logout", .role = SPEC_ANYONE, .flags = 0,
	    .summary = "end the kept login (drink login): revoke its token",
	    .args = { { 0 } } },
	{ .name = "ping", .role = SPEC_ANYONE, .flags = 0,
	    .summary = "check that the server answers", .args = {
	    /* Bounded only by max_line (PROTOCOL.md: any string). */
	    { .field = "data", .type = SPEC_T_STRING, .meta = "DATA",
	    .min = 0, .max = PROTO_LINE_MAX,
	    .help = "text the server sends back" } } },
	{ .name = "machines", .role = SPEC_ANYONE, .flags = 0,
	    .summary = "list the machines", .args = { { 0 } } },
	{ .name = "slots", .role = SPEC_ANYONE, .flags = 0,
	    .summary = "list a machine's slots", .args = {
	    W_MACHINE("the machine's id (see machines)") } },
	{ .name = "quit", .role = SPEC_ANYONE, .flags = SPEC_CMD_NOCLI,
	    .summary = "end the session", .args = { { 0 } } },
	{ .name = "subscribe", .role = SPEC_ANYONE, .flags = 0,
	    .summary = "print machine and slot changes as they happen",
	    .args = {
	    { .field = "topics", .type = SPEC_T_ARRAY, .flags = SPEC_A_REQ,
	    .form = SPEC_F_HIDDEN, .help = "what to hear about" } },
	    .cli = "watch" },
	{ .name = "unsubscribe", .role = SPEC_ANYONE,
	    .flags = SPEC_CMD_NOCLI, .summary = "stop events", .args = {
	    { .field = "topics", .type = SPEC_T_ARRAY,
	    .form = SPEC_F_HIDDEN, .help = "what not to hear about any "
	    "more (all when absent)" } } },

	/* Members. */
	{ .name = "whoami", .role = SPEC_MEMBER, .flags = 0,
	    .summary = "show who you are logged in as",
	    .args = { { 0 } } },
	{ .name = "balance", .role = SPEC_MEMBER, .flags = 0,
	    .summary = "show your balance", .args = { { 0 } } },
	{ .name = "drop", .role = SPEC_MEMBER, .flags = SPEC_CMD_KEYED,
	    .summary = "buy the item in a slot and drop it", .args = {
	    W_MACHINE("the machine's id (see machines)"), W_SLOT,
	    O_INT("delay", "delay", "SECONDS", 0, 300,
	    "wait this long before dropping, to walk to the machine"),
	    O_KEY } },
	{ .name = "send", .role = SPEC_MEMBER, .flags = SPEC_CMD_KEYED,
	    .summary = "give credits to another member", .args = {
	    W_USER("to", "USER", "who receives them"),
	    W_AMOUNT("amount", "AMOUNT", 1, "how many credits"),
	    W_NOTE(0, "what it is for"), O_KEY } },
	{ .name = "history", .role = SPEC_MEMBER, .flags = 0,
	    .summary = "list your transactions, newest first", .args = {
	    O_LIMIT("20"), O_BEFORE } },
	{ .name = "who", .role = SPEC_MEMBER, .flags = 0,
	    .summary = "list connected clients", .args = { { 0 } } },
	{ .name = "passwd", .role = SPEC_MEMBER, .flags = 0,
	    .summary = "change your password", .args = {
	    S_SECRET("old", SPEC_A_REQ, NULL, "the current password"),
	    S_SECRET("new", SPEC_A_REQ, NULL, "the new password") } },
	{ .name = "token_create", .role = SPEC_MEMBER,
	    .flags = SPEC_CMD_NOCLI, .summary = "make a login token",
	    .args = {
	    { .field = "label", .type = SPEC_T_TEXT, .form = SPEC_F_HIDDEN,
	    .min = 0, .max = SPEC_LABEL_MAX, .help = "what it is for" },
	    { .field = "days", .type = SPEC_T_INT, .form = SPEC_F_HIDDEN,
	    .min = 1, .max = 365, .help = "how long it lasts" } } },
	{ .name = "tokens", .role = SPEC_MEMBER, .flags = SPEC_CMD_NOCLI,
	    .summary = "list login tokens", .args = { { 0 } } },
	{ .name = "token_revoke", .role = SPEC_MEMBER,
	    .flags = SPEC_CMD_NOCLI, .summary = "revoke a login token",
	    .args = {
	    { .field = "token_id", .type = SPEC_T_INT, .flags = SPEC_A_REQ,
	    .form = SPEC_F_HIDDEN, .min = 1, .max = SPEC_ID_MAX,
	    .help = "its number" } } },

	/* Admins. */
	{ .name = "user_add", .role = SPEC_ADMIN, .flags = SPEC_CMD_KEYED,
	    .summary = "create a user (password asked twice)", .args = {
	    W_USER("user", "USER", "the new user's name"),
	    S_SECRET("password", SPEC_A_REQ, NULL, "the new user's password"),
	    { .field = "role", .type = SPEC_T_ROLE, .form = SPEC_F_OPTION,
	    .opt = "role", .meta = "ROLE", .on = "admin",
	    .complete = SPEC_C_ROLE,
	    .help = "the new user's role, member unless given (--admin is "
	    "--role admin)" },
	    { .field = "balance", .type = SPEC_T_AMOUNT,
	    .form = SPEC_F_OPTION, .min = 0, .max = PROTO_MAX_AMOUNT,
	    .opt = "balance", .meta = "N", .help = "opening balance" },
	    O_KEY,
	    /* "password" is the new user's. */
	    S_OWN("your_password") }, .own_for = "add a user" },
	{ .name = "user_mod", .role = SPEC_ADMIN, .flags = SPEC_CMD_SOME,
	    .summary = "change a user's role, state or password", .args = {
	    W_USER("user", "USER", "the user to change"),
	    { .field = "role", .type = SPEC_T_ROLE, .form = SPEC_F_OPTION,
	    .opt = "role", .meta = "ROLE", .complete = SPEC_C_ROLE,
	    .help = "the new role" },
	    O_BOOL("disabled", "disable", "enable",
	    "disable (no logins, kicked now) or enable the account"),
	    S_SECRET("password", 0, "password",
	    "set a new password (asked twice)"),
	    S_OWN("your_password") }, .own_for = "change a user" },
	{ .name = "users", .role = SPEC_ADMIN, .flags = 0,
	    .summary = "list users", .args = { { 0 } } },
	{ .name = "credit", .role = SPEC_ADMIN, .flags = SPEC_CMD_KEYED,
	    .summary = "add credits to a user (a deposit)", .args = {
	    W_USER("user", "USER", "whose balance"),
	    W_AMOUNT("amount", "AMOUNT", 1, "how many credits"),
	    W_NOTE(SPEC_A_REQ, "why, for the ledger"), O_KEY } },
	{ .name = "debit", .role = SPEC_ADMIN, .flags = SPEC_CMD_KEYED,
	    .summary = "take credits from a user (a payout)", .args = {
	    W_USER("user", "USER", "whose balance"),
	    W_AMOUNT("amount", "AMOUNT", 1, "how many credits"),
	    W_NOTE(SPEC_A_REQ, "why, for the ledger"), O_KEY } },
	{ .name = "set_balance", .role = SPEC_ADMIN,
	    .flags = SPEC_CMD_CONFIRM | SPEC_CMD_KEYED,
	    .summary = "set a user's balance (an adjustment)", .args = {
	    W_USER("user", "USER", "whose balance"),
	    W_AMOUNT("balance", "BALANCE", 0, "the new balance"),
	    W_NOTE(SPEC_A_REQ, "why, for the ledger"), O_KEY } },
	{ .name = "refund", .role = SPEC_ADMIN, .flags = SPEC_CMD_KEYED,
	    .summary = "refund a completed drop", .args = {
	    W_ID("tx", "TX", "the drop's transaction number (see log)"),
	    W_NOTE(SPEC_A_REQ, "why, for the ledger"), O_KEY } },
	{ .name = "machine_add", .role = SPEC_ADMIN, .flags = 0,
	    .summary = "register a machine", .args = {
	    { .field = "machine", .type = SPEC_T_NAME, .flags = SPEC_A_REQ,
	    .meta = "MACHINE", .help = "the new machine's id (the CN of "
	    "its controller's certificate)" },
	    { .field = "name", .type = SPEC_T_TEXT, .flags = SPEC_A_REQ,
	    .form = SPEC_F_REST, .min = 1, .max = PROTO_NOTE_MAX,
	    .meta = "NAME...", .help = "display name; the words are joined "
	    "by single spaces" } } },
	{ .name = "machine_mod", .role = SPEC_ADMIN, .flags = SPEC_CMD_SOME,
	    .summary = "rename, enable or disable a machine", .args = {
	    W_MACHINE("the machine's id"),
	    { .field = "name", .type = SPEC_T_TEXT, .form = SPEC_F_OPTION,
	    .min = 1, .max = PROTO_NOTE_MAX, .opt = "name", .meta = "NAME",
	    .help = "new display name" },
	    O_BOOL("enabled", "enable", "disable",
	    "allow or refuse drops from it"),
	    { .field = "legacy_password", .type = SPEC_T_BOARD_PW,
	    .form = SPEC_F_SECRET, .min = 0, .max = 64,
	    .opt = "legacy-password",
	    .help = "set the tini board's password (asked twice)" },
	    S_OWN("your_password") }, .own_for = "change a machine" },
	{ .name = "machine_del", .role = SPEC_ADMIN, .flags = SPEC_CMD_CONFIRM,
	    .summary = "remove a machine", .args = {
	    W_MACHINE("the machine's id") } },
	{ .name = "slot_set", .role = SPEC_ADMIN, .flags = SPEC_CMD_SOME,
	    .summary = "set up a slot", .args = {
	    W_MACHINE("the machine's id"), W_SLOT,
	    { .field = "item", .type = SPEC_T_TEXT, .form = SPEC_F_OPTION,
	    .min = 1, .max = PROTO_NOTE_MAX, .opt = "item", .meta = "ITEM",
	    .help = "what the slot holds (a new slot needs it)" },
	    { .field = "price", .type = SPEC_T_AMOUNT, .form = SPEC_F_OPTION,
	    .min = 0, .max = PROTO_MAX_AMOUNT, .opt = "price", .meta = "N",
	    .help = "price in credits (a new slot needs it)" },
	    O_INT("stock", "stock", "N", 0, PROTO_MAX_AMOUNT,
	    "how many items are in it"),
	    O_BOOL("enabled", "enable", "disable", "allow or refuse drops") } },
	{ .name = "log", .role = SPEC_ADMIN, .flags = 0,
	    .summary = "list everyone's transactions, newest first", .args = {
	    { .field = "user", .type = SPEC_T_NAME, .form = SPEC_F_OPTION,
	    .opt = "user", .meta = "USER", .complete = SPEC_C_USER,
	    .help = "only this user's" },
	    { .field = "machine", .type = SPEC_T_NAME, .form = SPEC_F_OPTION,
	    .opt = "machine", .meta = "MACHINE", .complete = SPEC_C_MACHINE,
	    .help = "only drops and refunds at this machine" },
	    { .field = "kind", .type = SPEC_T_KIND, .form = SPEC_F_OPTION,
	    .opt = "kind", .meta = "KIND", .complete = SPEC_C_KIND,
	    .help = "only this kind" },
	    { .field = "since", .type = SPEC_T_TIME, .form = SPEC_F_OPTION,
	    .min = 0, .max = SPEC_TIME_MAX, .opt = "since", .meta = "TIME",
	    .help = "only from this time on", .upto = "until" },
	    { .field = "until", .type = SPEC_T_TIME, .flags = SPEC_A_END,
	    .form = SPEC_F_OPTION, .min = 0, .max = SPEC_TIME_MAX,
	    .opt = "until", .meta = "TIME",
	    .help = "only up to this time (a date alone: to its end)" },
	    O_LIMIT("100"), O_BEFORE } },
	{ .name = "kick", .role = SPEC_ADMIN, .flags = SPEC_CMD_CONFIRM,
	    .summary = "disconnect a client", .args = {
	    W_ID("session", "SESSION", "its session number (see who)") } },

	/* Cards: members their own, admins anyone's (SPEC_CMD_OWNER). */
	{ .name = "card_add", .role = SPEC_MEMBER, .flags = SPEC_CMD_OWNER,
	    .summary = "bind a card (its UID in hex) for buying at machines",
	    .args = {
	    { .field = "card", .type = SPEC_T_CARD, .flags = SPEC_A_REQ,
	    .min = PROTO_CARD_MIN, .max = PROTO_CARD_MAX, .meta = "CARD",
	    .help = "the UID the reader shows" },
	    { .field = "label", .type = SPEC_T_TEXT, .form = SPEC_F_REST,
	    .min = 0, .max = PROTO_NOTE_MAX, .meta = "LABEL...",
	    .help = "a name for it; the words are joined by single spaces" },
	    O_OWNER, S_OWN("password") }, .cli = "card-add",
	    .own_for = "bind a card" },
	{ .name = "cards", .role = SPEC_MEMBER, .flags = SPEC_CMD_OWNER,
	    .summary = "list bound cards", .args = {
	    O_OWNER }, .cli = "card-list" },
	{ .name = "card_del", .role = SPEC_MEMBER, .flags = SPEC_CMD_OWNER,
	    .summary = "unbind a card", .args = {
	    W_ID("card_id", "ID", "the card's number (see card list)"),
	    O_OWNER }, .cli = "card-del" },
};

const size_t spec_count = sizeof(spec_table) / sizeof(spec_table[0]);

const char *const spec_kinds[] = {
	"drop", "refund", "transfer", "credit", "debit", "adjust", NULL
};
const char *const spec_roles[] = { "member", "admin", NULL };

const struct spec_cmd *
spec_find(const char *name)
{
	size_t i;

	for (i = 0; i < spec_count; i++) {
		if (strcmp(spec_table[i].name, name) == 0) {
			return &spec_table[i];
		}
	}
	return NULL;
}

size_t
spec_nargs(const struct spec_cmd *c)
{
	size_t n = 0;

	while (n < SPEC_MAX_ARGS && c->args[n].field != NULL) {
		n++;
	}
	return n;
}

const struct spec_arg *
spec_arg_find(const struct spec_cmd *c, const char *field)
{
	size_t i;

	for (i = 0; i < SPEC_MAX_ARGS && c->args[i].field != NULL; i++) {
		if (strcmp(c->args[i].field, field) == 0) {
			return &c->args[i];
		}
	}
	return NULL;
}

static void
spec_list(const char *const *list, char *buf, size_t len)
{
	size_t used = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; list[i] != NULL && used < len; i++) {
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
		    i == 0 ? "" : list[i + 1] == NULL ? " or " : ", ",
		    list[i]);
	}
}

const struct spec_arg *
spec_own(const struct spec_cmd *c)
{
	size_t i;

	for (i = 0; i < SPEC_MAX_ARGS && c->args[i].field != NULL; i++) {
		if (c->args[i].flags & SPEC_A_OWN) {
			return &c->args[i];
		}
	}
	return NULL;
}

const char *
spec_rule(const struct spec_arg *a, char *buf, size_t len)
{
	char list[128];

	switch (a->type) {
	case SPEC_T_STRING:
		snprintf(buf, len, "must be text of at most %" PRId64 " bytes",
		    a->max);
		break;
	case SPEC_T_NAME:
		snprintf(buf, len, "must be a %s: lower-case letters, digits, "
		    "'_', '.' or '-', starting with a letter, at most %d "
		    "characters", a->complete == SPEC_C_USER ? "user name" :
		    a->complete == SPEC_C_MACHINE ||
		    strcmp(a->field, "machine") == 0 ? "machine id" : "name",
		    PROTO_NAME_MAX);
		break;
	case SPEC_T_TEXT:
	case SPEC_T_KEY:
	case SPEC_T_SECRET:
		if (a->min > 0) {
			snprintf(buf, len, "must be %" PRId64 " to %" PRId64
			    " bytes long%s", a->min, a->max,
			    a->type == SPEC_T_TEXT ? " and not blank" : "");
		} else {
			snprintf(buf, len, "must be at most %" PRId64
			    " bytes long", a->max);
		}
		break;
	case SPEC_T_ROLE:
		spec_list(spec_roles, list, sizeof(list));
		snprintf(buf, len, "must be %s", list);
		break;
	case SPEC_T_KIND:
		spec_list(spec_kinds, list, sizeof(list));
		snprintf(buf, len, "must be one of %s", list);
		break;
	case SPEC_T_AMOUNT:
	case SPEC_T_INT:
		snprintf(buf, len, "must be a whole number from %" PRId64
		    " to %" PRId64, a->min, a->max);
		break;
	case SPEC_T_TIME:
		snprintf(buf, len, "must be a time in unix seconds from %"
		    PRId64 " to %" PRId64, a->min, a->max);
		break;
	case SPEC_T_BOOL:
		snprintf(buf, len, "must be true or false");
		break;
	case SPEC_T_ARRAY:
		snprintf(buf, len, "must be an array");
		break;
	case SPEC_T_BOARD_PW:
		snprintf(buf, len, "must be 0 to 64 printable ASCII bytes "
		    "without spaces at either end");
		break;
	case SPEC_T_CARD:
		snprintf(buf, len, "must be %" PRId64 " to %" PRId64 " hex "
		    "digits", a->min, a->max);
		break;
	}
	return buf;
}

static int
spec_in(const char *s, const char *const *list)
{
	for (; *list != NULL; list++) {
		if (strcmp(s, *list) == 0) {
			return 1;
		}
	}
	return 0;
}

/* LEGACY.md 3.1: 1-64 printable ASCII bytes, no edge spaces; "" clears. */
static int
spec_board_pw(const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e) {
			return 0;
		}
	}
	return n <= 64 && (n == 0 || (s[0] != ' ' && s[n - 1] != ' '));
}

static int
spec_string_ok(const cJSON *v, int64_t min, int64_t max)
{
	size_t n;

	if (!cJSON_IsString(v) || v->valuestring == NULL) {
		return 0;
	}
	n = strlen(v->valuestring);
	return (int64_t)n >= min && (int64_t)n <= max;
}

/* Nothing but spaces, tabs and line breaks. */
static int
spec_blank(const char *s)
{
	return s[strspn(s, " \t\r\n\v\f")] == '\0';
}

int
spec_check(const struct spec_arg *a, const cJSON *v, int integer,
    char *why, size_t len)
{
	int ok = 0, err = ERR_BAD_REQUEST;
	double d;

	switch (a->type) {
	case SPEC_T_STRING:
	case SPEC_T_KEY:
	case SPEC_T_SECRET:
		ok = spec_string_ok(v, a->min, a->max);
		break;
	case SPEC_T_TEXT:
		/* Text that must be there (a name, an item) is not blanks. */
		ok = spec_string_ok(v, a->min, a->max) &&
		    (a->min == 0 || !spec_blank(v->valuestring));
		break;
	case SPEC_T_NAME:
		ok = cJSON_IsString(v) && proto_valid_name(v->valuestring);
		break;
	case SPEC_T_ROLE:
		ok = cJSON_IsString(v) && spec_in(v->valuestring, spec_roles);
		break;
	case SPEC_T_KIND:
		ok = cJSON_IsString(v) && spec_in(v->valuestring, spec_kinds);
		break;
	case SPEC_T_BOOL:
		ok = cJSON_IsBool(v);
		break;
	case SPEC_T_CARD:
		ok = cJSON_IsString(v) && proto_valid_card(v->valuestring);
		break;
	case SPEC_T_ARRAY:
		/* Its items are the handler's business. */
		ok = cJSON_IsArray(v);
		break;
	case SPEC_T_BOARD_PW:
		ok = cJSON_IsString(v) && spec_board_pw(v->valuestring);
		break;
	case SPEC_T_AMOUNT:
	case SPEC_T_INT:
	case SPEC_T_TIME:
		if (!cJSON_IsNumber(v)) {
			break;
		}
		/* A number out of range is an amount error for money. */
		err = a->type == SPEC_T_AMOUNT ? ERR_INVALID_AMOUNT :
		    ERR_BAD_REQUEST;
		d = v->valuedouble;
		ok = integer && d >= (double)a->min && d <= (double)a->max;
		break;
	}
	if (ok) {
		return ERR_NONE;
	}
	if (why != NULL) {
		spec_rule(a, why, len);
	}
	return err;
}

/* An integer argument's value, a number or a raw literal: 0, or -1. */
static int
spec_int_value(const cJSON *v, int64_t *out)
{
	char *end;

	if (cJSON_IsNumber(v)) {
		*out = (int64_t)v->valuedouble;
		return 0;
	}
	if (cJSON_IsRaw(v) && v->valuestring != NULL) {
		*out = strtoll(v->valuestring, &end, 10);
		return *end == '\0' && end != v->valuestring ? 0 : -1;
	}
	return -1;
}

int
spec_check_order(const struct spec_cmd *c, const cJSON *args,
    const struct spec_arg **lo, const struct spec_arg **hi, int64_t *lo_v,
    int64_t *hi_v)
{
	size_t i;

	for (i = 0; i < SPEC_MAX_ARGS && c->args[i].field != NULL; i++) {
		if (c->args[i].upto == NULL ||
		    spec_int_value(cJSON_GetObjectItemCaseSensitive(args,
		    c->args[i].field), lo_v) != 0 ||
		    spec_int_value(cJSON_GetObjectItemCaseSensitive(args,
		    c->args[i].upto), hi_v) != 0 || *lo_v <= *hi_v) {
			continue;
		}
		*lo = &c->args[i];
		*hi = spec_arg_find(c, c->args[i].upto);
		return ERR_BAD_REQUEST;
	}
	return ERR_NONE;
}

void
spec_cli_name(const struct spec_cmd *c, char *buf, size_t len)
{
	size_t i;

	if (c->cli != NULL) {
		snprintf(buf, len, "%s", c->cli);
		return;
	}
	for (i = 0; c->name[i] != '\0' && i + 1 < len; i++) {
		buf[i] = c->name[i] == '_' ? '-' : c->name[i];
	}
	buf[i] = '\0';
}

int
spec_secret(const struct spec_arg *a)
{
	return a->type == SPEC_T_SECRET || a->type == SPEC_T_BOARD_PW;
}
