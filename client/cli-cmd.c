/*
 * drink's commands.  What a command is called, who may run it and what
 * its arguments are comes from the specification the server dispatches
 * with (spec_table in common/spec.c): one parser turns any command line
 * into the request, checks every value with the server's own rules before
 * anything is sent, and writes usage and help.  This file adds only how a
 * command looks to people (cli_cmd_shows): its output, its refusals in
 * plain words, and the few requests that are more than their words
 * (passwords asked on the terminal, the slot lookup that lets "drop" say
 * what it is dropping).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cli.h"

#define CLI_CMD_KEY_BYTES 16	/* random bytes in a generated key */
#define CLI_CMD_RETRY_MS 1000	/* pause before the one automatic retry */

#define CLI_CMD_USAGE_WIDTH 36
#define CLI_CMD_NAME_MAX 64

/* How a command looks; a command without an entry prints its fields. */
struct cli_cmd_show {
	const char *proto;
	/* After the login, before the request; returns CLI_EXIT_*. */
	int (*prepare)(struct cli_cmd_run *, struct cli_session *);
	/* Success output; NULL prints the done template. */
	void (*print)(const struct cli_cmd_run *, const cJSON *);
	const char *done;
	const struct cli_cmd_text *errors;
	/* Said when the connection fails with the request in flight. */
	const char *lost;
	int64_t timeout_ms;	/* 0: CLI_REPLY_MS */
	/* Cannot be taken back once sent: Ctrl-C waits for the outcome. */
	int steadfast;
	/* The whole command, instead of one request (login, watch). */
	int (*run)(struct cli_cmd_run *, struct cli_session *);
};

static int cli_cmd_prepare_drop(struct cli_cmd_run *, struct cli_session *);
static int cli_cmd_prepare_passwd(struct cli_cmd_run *,
    struct cli_session *);
static int cli_cmd_prepare_user_add(struct cli_cmd_run *,
    struct cli_session *);
static int cli_cmd_prepare_user_mod(struct cli_cmd_run *,
    struct cli_session *);
static int cli_cmd_prepare_machine_mod(struct cli_cmd_run *,
    struct cli_session *);
static int cli_cmd_prepare_kick(struct cli_cmd_run *, struct cli_session *);

/*
 * What a failed drop means, in the member's words.  {name} is the field of
 * the reply, else of the request, else what the slot lookup found; a text
 * naming something unknown is skipped for the next one with the same code.
 * A text without {message} is said only when the server gave no more than
 * the code's default message: "machine_offline" may mean disabled, or the
 * server shutting down, and the server's words say which.
 */
static const struct cli_cmd_text cli_cmd_errors_drop[] = {
	{ "machine_offline", "machine {machine} is offline" },
	{ "slot_empty", "slot {slot} of {machine} is empty" },
	{ "slot_disabled", "slot {slot} of {machine} is disabled" },
	{ "insufficient_funds",
	    "insufficient funds: balance {balance}, price {price}" },
	{ "insufficient_funds", "insufficient funds: balance {balance}" },
	{ "drop_failed", "the machine failed to vend; nothing was charged" },
	{ "drop_timeout", "the machine did not answer; nothing was charged" },
	{ "drop_in_progress", "{message}; try again shortly" },
	{ "no_such_slot", "machine {machine} has no slot {slot}" },
	{ NULL, NULL }
};

static const struct cli_cmd_text cli_cmd_errors_send[] = {
	{ "no_such_user", "there is no user {to}" },
	{ "insufficient_funds",
	    "insufficient funds: balance {balance}, amount {amount}" },
	{ NULL, NULL }
};

static const struct cli_cmd_text cli_cmd_errors_debit[] = {
	{ "insufficient_funds",
	    "insufficient funds: {user}'s balance {balance}, amount "
	    "{amount}" },
	{ NULL, NULL }
};

/* Logged in already: only the old password can be wrong. */
static const struct cli_cmd_text cli_cmd_errors_passwd[] = {
	{ "bad_credentials", "the current password is wrong" },
	{ NULL, NULL }
};

static const struct cli_cmd_text cli_cmd_errors_refund[] = {
	{ "no_such_transaction", "there is no completed drop {tx} to "
	    "refund" },
	{ NULL, NULL }
};

#define CLI_CMD_LOST_MONEY \
	"it may still have gone through: check history, or repeat it " \
	"with the same --key"

static const struct cli_cmd_show cli_cmd_shows[] = {
	{ .proto = "login", .run = cli_token_login },
	{ .proto = "logout", .run = cli_token_logout },
	{ .proto = "subscribe", .run = cli_token_watch },
	{ .proto = "ping", .print = cli_print_pong },
	{ .proto = "machines", .print = cli_print_machines },
	{ .proto = "slots", .print = cli_print_slots },
	{ .proto = "whoami", .done = "{user} ({role}), balance {balance}" },
	{ .proto = "balance", .done = "Balance: {balance}" },
	{ .proto = "drop", .timeout_ms = CLI_DROP_MS, .steadfast = 1,
	    .prepare = cli_cmd_prepare_drop,
	    .done = "done, balance {balance}", .errors = cli_cmd_errors_drop,
	    .lost = "the drop may still happen: check history before "
	    "trying again, or repeat it with the same --key" },
	{ .proto = "send",
	    .done = "Sent {amount} to {to} (tx {tx}), balance {balance}",
	    .errors = cli_cmd_errors_send, .lost = CLI_CMD_LOST_MONEY },
	{ .proto = "history", .print = cli_print_history },
	{ .proto = "who", .print = cli_print_who },
	{ .proto = "passwd", .prepare = cli_cmd_prepare_passwd,
	    .done = "Password changed", .errors = cli_cmd_errors_passwd },
	{ .proto = "user_add", .prepare = cli_cmd_prepare_user_add,
	    .done = "User {user} added", .lost = CLI_CMD_LOST_MONEY },
	{ .proto = "user_mod", .prepare = cli_cmd_prepare_user_mod,
	    .done = "User {user} updated" },
	{ .proto = "users", .print = cli_print_users },
	{ .proto = "credit",
	    .done = "Credited {amount} to {user} (tx {tx}), balance {balance}",
	    .lost = CLI_CMD_LOST_MONEY },
	{ .proto = "debit", .errors = cli_cmd_errors_debit,
	    .done = "Debited {amount} from {user} (tx {tx}), balance "
	    "{balance}",
	    .lost = CLI_CMD_LOST_MONEY },
	{ .proto = "set_balance",
	    .done = "Balance of {user} set to {balance} (tx {tx})",
	    .lost = CLI_CMD_LOST_MONEY },
	{ .proto = "refund", .errors = cli_cmd_errors_refund,
	    .done = "Refunded tx {request.tx} (tx {tx}); the member's balance "
	    "is {balance}",
	    .lost = CLI_CMD_LOST_MONEY },
	{ .proto = "machine_add", .done = "Machine {machine} added" },
	{ .proto = "machine_mod", .prepare = cli_cmd_prepare_machine_mod,
	    .done = "Machine {machine} updated" },
	{ .proto = "machine_del", .done = "Machine {machine} deleted" },
	{ .proto = "slot_set", .print = cli_print_slot_set },
	{ .proto = "log", .print = cli_print_log },
	{ .proto = "kick", .prepare = cli_cmd_prepare_kick,
	    .done = "Session {session} kicked" },
	{ .proto = "card_add", .done = "Card {card_id} bound to {user}" },
	{ .proto = "cards", .print = cli_print_cards },
	{ .proto = "card_del", .done = "Card {request.card_id} unbound" },
};

/*
 * How a command is typed where drink reads it, for usage lines and hints:
 * after "drink " on the command line, alone in the shell.  One process
 * reads commands in one of the two ways, chosen before the first.
 */
static const char *cli_cmd_typed = "drink ";

void
cli_cmd_set_shell(int shell)
{
	cli_cmd_typed = shell ? "" : "drink ";
}

const char *
cli_cmd_prefix(void)
{
	return cli_cmd_typed;
}

/* Commands without an entry of their own. */
static const struct cli_cmd_show cli_cmd_show_default = {
	.proto = NULL, .print = cli_print_fields,
};

static const struct cli_cmd_show *
cli_cmd_show_find(const struct spec_cmd *c)
{
	size_t i;

	for (i = 0; i < sizeof(cli_cmd_shows) / sizeof(cli_cmd_shows[0]);
	    i++) {
		if (strcmp(cli_cmd_shows[i].proto, c->name) == 0) {
			return &cli_cmd_shows[i];
		}
	}
	return &cli_cmd_show_default;
}

int
cli_cmd_visible(const struct spec_cmd *c)
{
	return (c->flags & SPEC_CMD_NOCLI) == 0;
}

/* The command's name as typed, with the protocol's "_" read as "-". */
static void
cli_cmd_normalise(const char *word, char *buf, size_t len)
{
	size_t i;

	for (i = 0; word[i] != '\0' && i + 1 < len; i++) {
		buf[i] = word[i] == '_' ? '-' : word[i];
	}
	buf[i] = '\0';
}

const struct spec_cmd *
cli_cmd_find(const char *word, int *ambiguous, char *cands, size_t len)
{
	char name[CLI_CMD_NAME_MAX], cli[CLI_CMD_NAME_MAX];
	const struct spec_cmd *found = NULL;
	size_t i, n, matches = 0, used = 0;

	cli_cmd_normalise(word, name, sizeof(name));
	n = strlen(name);
	*ambiguous = 0;
	if (cands != NULL && len > 0) {
		cands[0] = '\0';
	}
	for (i = 0; n > 0 && i < spec_count; i++) {
		if (!cli_cmd_visible(&spec_table[i])) {
			continue;
		}
		spec_cli_name(&spec_table[i], cli, sizeof(cli));
		if (strcmp(name, cli) == 0) {
			return &spec_table[i];
		}
		if (strncmp(name, cli, n) != 0) {
			continue;
		}
		found = &spec_table[i];
		matches++;
		if (cands != NULL && used < len) {
			used += (size_t)snprintf(cands + used, len - used,
			    "%s%s", matches > 1 ? ", " : "", cli);
		}
	}
	if (matches == 1) {
		return found;
	}
	*ambiguous = matches > 1;
	return NULL;
}

/*
 * An exact name wins; otherwise a prefix of exactly one name.  On failure
 * the one-line reason (unknown, or ambiguous with its candidates) has been
 * printed.
 */
static const struct spec_cmd *
cli_cmd_lookup(const char *word)
{
	const struct spec_cmd *c;
	char cands[512];
	int ambiguous;

	if ((c = cli_cmd_find(word, &ambiguous, cands, sizeof(cands))) !=
	    NULL) {
		return c;
	}
	if (ambiguous) {
		cli_error("ambiguous command '%s': %s", word, cands);
	} else if (strcmp(word, "shell") == 0 && cli_cmd_typed[0] != '\0') {
		/* Asked for by name on the command line, as in "drink shell". */
		cli_error("unknown command 'shell': drink without a command is "
		    "the shell");
	} else {
		cli_error("unknown command '%s' (try %shelp)", word,
		    cli_cmd_typed);
	}
	return NULL;
}

/* Append to a string buffer, truncating. */
static void
cli_cmd_cat(char *buf, size_t len, size_t *used, const char *fmt, ...)
    PRINTFLIKE(4, 5);

static void
cli_cmd_cat(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used >= len) {
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	if (n > 0) {
		*used += (size_t)n;
	}
	if (*used >= len) {
		*used = len - 1;
	}
}

/* How an argument is written on the command line ("--delay SECONDS"). */
static void
cli_cmd_arg_form(const struct spec_arg *a, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	switch (a->form) {
	case SPEC_F_WORD:
	case SPEC_F_REST:
		cli_cmd_cat(buf, len, &used, "%s", a->meta);
		break;
	case SPEC_F_OPTION:
		cli_cmd_cat(buf, len, &used, "--%s %s", a->opt, a->meta);
		if (a->on != NULL) {
			cli_cmd_cat(buf, len, &used, "|--%s", a->on);
		}
		break;
	case SPEC_F_SWITCH:
		cli_cmd_cat(buf, len, &used, "--%s|--%s", a->on, a->off);
		break;
	case SPEC_F_SECRET:
		if (a->opt != NULL) {
			cli_cmd_cat(buf, len, &used, "--%s", a->opt);
		}
		break;
	case SPEC_F_HIDDEN:
		break;
	}
}

void
cli_cmd_synopsis(const struct spec_cmd *c, char *buf, size_t len)
{
	const struct spec_arg *a;
	char form[96];
	size_t used = 0, i;
	int pass;

	spec_cli_name(c, buf, len);
	used = strlen(buf);
	/* Positional words first, then the options. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < spec_nargs(c); i++) {
			a = &c->args[i];
			if ((a->form == SPEC_F_WORD || a->form == SPEC_F_REST) !=
			    (pass == 0)) {
				continue;
			}
			cli_cmd_arg_form(a, form, sizeof(form));
			if (form[0] == '\0') {
				continue;
			}
			cli_cmd_cat(buf, len, &used, (a->flags & SPEC_A_REQ) ?
			    " %s" : " [%s]", form);
		}
	}
	if (c->flags & SPEC_CMD_CONFIRM) {
		cli_cmd_cat(buf, len, &used, " [--yes]");
	}
}

void
cli_cmd_usage(FILE *fp)
{
	static const char *const titles[] = {
		[SPEC_ANYONE] = "Commands for anyone",
		[SPEC_MEMBER] = "Commands for members",
		[SPEC_ADMIN] = "Commands for admins",
	};
	char syn[512];
	size_t i;
	int role;

	for (role = SPEC_ANYONE; role <= SPEC_ADMIN; role++) {
		fprintf(fp, "\n%s:\n", titles[role]);
		for (i = 0; i < spec_count; i++) {
			if ((int)spec_table[i].role != role ||
			    !cli_cmd_visible(&spec_table[i])) {
				continue;
			}
			cli_cmd_synopsis(&spec_table[i], syn, sizeof(syn));
			/* A long usage gets its summary on the next line. */
			if (strlen(syn) > CLI_CMD_USAGE_WIDTH) {
				fprintf(fp, "  %s\n", syn);
			}
			fprintf(fp, "  %-*s %s\n", CLI_CMD_USAGE_WIDTH,
			    strlen(syn) > CLI_CMD_USAGE_WIDTH ? "" : syn,
			    spec_table[i].summary);
		}
	}
}

/* One command's usage, summary and arguments, for --help. */
static void
cli_cmd_help(FILE *fp, const struct spec_cmd *c)
{
	static const char *const who[] = {
		[SPEC_ANYONE] = "needs no login",
		[SPEC_MEMBER] = "needs a login",
		[SPEC_ADMIN] = "admins only",
	};
	const struct spec_arg *a;
	char syn[512], form[96], rule[256];
	size_t i;
	int bare, width = 18, shown = 0;

	cli_cmd_synopsis(c, syn, sizeof(syn));
	/* "Log in ... (needs no login)" would only puzzle. */
	bare = strcmp(c->name, "login") == 0 || strcmp(c->name, "logout") == 0;
	fprintf(fp, "usage: %s%s\n\n%c%s%s%s%s.\n", cli_cmd_typed, syn,
	    c->summary[0] >= 'a' && c->summary[0] <= 'z' ?
	    c->summary[0] - 'a' + 'A' : c->summary[0], c->summary + 1,
	    bare ? "" : " (", bare ? "" : who[c->role], bare ? "" : ")");
	/* One column for the forms, as wide as the widest. */
	for (i = 0; i < spec_nargs(c); i++) {
		if (c->args[i].form == SPEC_F_HIDDEN) {
			continue;
		}
		shown++;
		cli_cmd_arg_form(&c->args[i], form, sizeof(form));
		if ((int)strlen(form) > width) {
			width = (int)strlen(form);
		}
	}
	if (shown > 0 || (c->flags & SPEC_CMD_CONFIRM)) {
		fprintf(fp, "\n");
	}
	for (i = 0; i < spec_nargs(c); i++) {
		a = &c->args[i];
		if (a->form == SPEC_F_HIDDEN) {
			continue;
		}
		cli_cmd_arg_form(a, form, sizeof(form));
		if (form[0] == '\0') {
			snprintf(form, sizeof(form), "(asked)");
		}
		rule[0] = '\0';
		if (a->type == SPEC_T_INT || a->type == SPEC_T_AMOUNT) {
			snprintf(rule, sizeof(rule), "%lld to %lld",
			    (long long)a->min, (long long)a->max);
		} else if (a->type == SPEC_T_KIND ||
		    a->type == SPEC_T_ROLE) {
			/* "must be one of ..." without "must be ". */
			spec_rule(a, rule, sizeof(rule));
			memmove(rule, rule + 8, strlen(rule + 8) + 1);
		} else if (a->type == SPEC_T_TIME) {
			snprintf(rule, sizeof(rule), "YYYY-MM-DD[ HH:MM] or "
			    "unix seconds");
		} else if (spec_secret(a)) {
			/* As cli_cmd_password() is told to take it. */
			snprintf(rule, sizeof(rule), "taken from $%s when "
			    "set", strcmp(a->field, "old") == 0 ?
			    "DRINK_PASSWORD" : "DRINK_NEW_PASSWORD");
		}
		fprintf(fp, "  %-*s %s%s%s\n", width, form, a->help,
		    rule[0] != '\0' ? "; " : "", rule);
	}
	if (c->flags & SPEC_CMD_CONFIRM) {
		fprintf(fp, "  %-*s %s\n", width, "--yes",
		    "do not ask for confirmation");
	}
}

int
cli_cmd_usage_one(FILE *fp, const char *name)
{
	const struct spec_cmd *c;

	if ((c = cli_cmd_lookup(name)) == NULL) {
		return -1;
	}
	cli_cmd_help(fp, c);
	return 0;
}

int
cli_cmd_help_words(int argc, char **argv, void (*list)(FILE *))
{
	char group[CLI_CMD_NAME_MAX];

	/* "help card add", as "card add" is typed (cli_cmd_execute). */
	if (argc == 3 && strcmp(argv[1], "card") == 0) {
		snprintf(group, sizeof(group), "card-%s", argv[2]);
		return cli_cmd_usage_one(stdout, group) == 0 ? CLI_EXIT_OK :
		    CLI_EXIT_USAGE;
	}
	if (argc > 2) {
		cli_error("usage: %shelp [COMMAND]", cli_cmd_typed);
		return CLI_EXIT_USAGE;
	}
	if (argc == 2 && (strcmp(argv[1], "help") == 0 ||
	    strcmp(argv[1], "?") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		printf("usage: %shelp [COMMAND]\n\nList the commands, or "
		    "show one command's usage and arguments\n(as COMMAND "
		    "--help does).\n", cli_cmd_typed);
		return CLI_EXIT_OK;
	}
	if (argc == 2) {
		return cli_cmd_usage_one(stdout, argv[1]) == 0 ? CLI_EXIT_OK :
		    CLI_EXIT_USAGE;
	}
	list(stdout);
	return CLI_EXIT_OK;
}

/*
 * A whole word that is a plain decimal integer within [min, max]: no
 * blanks, no "+", no hex, nothing after the digits.
 */
static int
cli_cmd_parse_int(const char *s, long long min, long long max,
    long long *out)
{
	const char *p = s[0] == '-' ? s + 1 : s;
	char *end;
	long long v;

	if (*p < '0' || *p > '9') {
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * A time: "YYYY-MM-DD HH:MM" (or with "T"), "YYYY-MM-DD", local time; or
 * unix seconds.  The server's bounds are inclusive, so with end set (an
 * --until) a date means its last second and a minute its 59th: drink
 * shows times to the minute, and "--until 2026-11-21 12:00" keeps what
 * the tables list as 12:00.  A day that does not exist (February 30)
 * is refused rather than moved into the next month.
 */
int
cli_cmd_parse_time(const char *s, int end, long long *out)
{
	static const char *const formats[] = {
		"%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
	};
	struct tm tm, want;
	const char *rest;
	time_t t;
	size_t i;

	if (cli_cmd_parse_int(s, 0, INT64_C(1) << 40, out) == 0) {
		return 0;
	}
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		if ((rest = strptime(s, formats[i], &tm)) == NULL ||
		    *rest != '\0') {
			continue;
		}
		want = tm;
		if (i == 2 && end) {
			tm.tm_mday++;
		}
		tm.tm_isdst = -1;
		if ((t = mktime(&tm)) == (time_t)-1 || t < 0) {
			return -1;
		}
		if (i == 2 && end) {
			/* Back to the day given, to check it below. */
			tm = want;
			tm.tm_isdst = -1;
			if (mktime(&tm) == (time_t)-1) {
				return -1;
			}
		}
		if (tm.tm_mday != want.tm_mday || tm.tm_mon != want.tm_mon) {
			return -1;
		}
		*out = (long long)t - (end ? (i == 2 ? 1 : -59) : 0);
		return 0;
	}
	return -1;
}

static int
cli_cmd_is_hhmm(const char *s)
{
	return strlen(s) == 5 && s[0] >= '0' && s[0] <= '2' && s[1] >= '0' &&
	    s[1] <= '9' && s[2] == ':' && s[3] >= '0' && s[3] <= '5' &&
	    s[4] >= '0' && s[4] <= '9';
}

/* How to name an argument in a message: its metavar or its option. */
static void
cli_cmd_arg_name(const struct spec_arg *a, char *buf, size_t len)
{
	if (a->form == SPEC_F_OPTION || (a->form == SPEC_F_SECRET &&
	    a->opt != NULL)) {
		snprintf(buf, len, "--%s", a->opt);
	} else if (a->meta != NULL) {
		snprintf(buf, len, "%s", a->meta);
	} else {
		snprintf(buf, len, "%s", a->field);
	}
}

/* "drop: " and the message, exit status 2. */
static int
cli_cmd_usage_error(const struct cli_cmd_run *run, const char *fmt, ...)
    PRINTFLIKE(2, 3);

static int
cli_cmd_usage_error(const struct cli_cmd_run *run, const char *fmt, ...)
{
	char name[CLI_CMD_NAME_MAX], text[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	spec_cli_name(run->spec, name, sizeof(name));
	cli_error("%s: %s", name, text);
	return CLI_EXIT_USAGE;
}

/*
 * Put one argument's value into the request, checked by the rule the
 * server applies.  Integers go in as the exact text of the number, so
 * nothing is lost to floating point on the way.
 */
static int
cli_cmd_set(struct cli_cmd_run *run, const struct spec_arg *a,
    const char *value, int truth, const char *typed)
{
	char what[CLI_CMD_NAME_MAX], num[32], rule[256];
	long long v;
	cJSON *item;
	size_t k = (size_t)(a - run->spec->args);

	if (typed != NULL && a->form != SPEC_F_OPTION) {
		snprintf(what, sizeof(what), "%.*s", (int)strcspn(typed, "="),
		    typed);
	} else {
		cli_cmd_arg_name(a, what, sizeof(what));
	}
	if (run->given & (1u << k)) {
		return cli_cmd_usage_error(run, "%s given twice, or conflicts "
		    "with an earlier option", what);
	}
	run->given |= 1u << k;
	switch (a->type) {
	case SPEC_T_INT:
	case SPEC_T_AMOUNT:
	case SPEC_T_TIME:
		if ((a->type == SPEC_T_TIME ?
		    cli_cmd_parse_time(value, (a->flags & SPEC_A_END) != 0,
		    &v) : cli_cmd_parse_int(value, a->min, a->max, &v)) !=
		    0 || v < a->min || v > a->max) {
			if (a->type == SPEC_T_TIME) {
				snprintf(rule, sizeof(rule), "must be a date "
				    "YYYY-MM-DD, a time YYYY-MM-DD HH:MM, or "
				    "unix seconds");
			} else {
				spec_rule(a, rule, sizeof(rule));
			}
			return cli_cmd_usage_error(run, "%s %s, not '%s'",
			    what, rule, value);
		}
		snprintf(num, sizeof(num), "%lld", v);
		item = cJSON_CreateRaw(num);
		break;
	case SPEC_T_BOOL:
		item = cJSON_CreateBool(truth);
		break;
	case SPEC_T_SECRET:
	case SPEC_T_BOARD_PW:
		/* Only marks the argument: prepare asks for it. */
		return CLI_EXIT_OK;
	default:
		item = cJSON_CreateString(value);
		break;
	}
	/* The server's own rule, so it need not refuse what we send. */
	if (!cJSON_IsRaw(item) && spec_check(a, item, 0, rule,
	    sizeof(rule)) != ERR_NONE) {
		cJSON_Delete(item);
		return cli_cmd_usage_error(run, "%s %s, not '%s'", what, rule,
		    value);
	}
	cJSON_AddItemToObject(run->req, a->field, item);
	return CLI_EXIT_OK;
}

/* The server's check of a range's ends, so it need not refuse it. */
static int
cli_cmd_order(const struct cli_cmd_run *run)
{
	const struct spec_arg *lo, *hi;
	char lo_name[CLI_CMD_NAME_MAX], hi_name[CLI_CMD_NAME_MAX];
	int64_t lo_v, hi_v;

	if (spec_check_order(run->spec, run->req, &lo, &hi, &lo_v, &hi_v) ==
	    ERR_NONE) {
		return CLI_EXIT_OK;
	}
	cli_cmd_arg_name(lo, lo_name, sizeof(lo_name));
	cli_cmd_arg_name(hi, hi_name, sizeof(hi_name));
	return cli_cmd_usage_error(run, "%s is later than %s: no transaction "
	    "could match", lo_name, hi_name);
}

/*
 * argv[*i] is "--name" or "--name=value"; a value may be the next word,
 * and a date's time the word after that.
 */
static int
cli_cmd_option(struct cli_cmd_run *run, char **argv, int argc, int *i)
{
	const struct spec_cmd *c = run->spec;
	const struct spec_arg *a;
	const char *typed = argv[*i], *word = typed + 2, *value = NULL, *eq;
	char joined[64];
	size_t n, k;
	int takes = 0, truth = 1;

	n = (eq = strchr(word, '=')) != NULL ? (size_t)(eq - word) :
	    strlen(word);
	if (n == 3 && strncmp(word, "yes", 3) == 0 && eq == NULL &&
	    (c->flags & SPEC_CMD_CONFIRM)) {
		run->yes = 1;
		return CLI_EXIT_OK;
	}
	for (k = 0; k < spec_nargs(c); k++) {
		a = &c->args[k];
		if (a->form == SPEC_F_OPTION && strlen(a->opt) == n &&
		    strncmp(a->opt, word, n) == 0) {
			takes = 1;
			break;
		}
		if ((a->form == SPEC_F_SWITCH || a->form == SPEC_F_OPTION) &&
		    a->on != NULL && strlen(a->on) == n &&
		    strncmp(a->on, word, n) == 0) {
			value = a->on;
			break;
		}
		if (a->form == SPEC_F_SWITCH && strlen(a->off) == n &&
		    strncmp(a->off, word, n) == 0) {
			truth = 0;
			break;
		}
		if (a->form == SPEC_F_SECRET && a->opt != NULL &&
		    strlen(a->opt) == n && strncmp(a->opt, word, n) == 0) {
			break;
		}
	}
	if (k == spec_nargs(c)) {
		return cli_cmd_usage_error(run, "unknown option '%s' (see "
		    "%shelp %s)", argv[*i], cli_cmd_typed, argv[0]);
	}
	a = &c->args[k];
	if (!takes && eq != NULL) {
		return cli_cmd_usage_error(run, "--%.*s takes no value",
		    (int)n, word);
	}
	if (takes) {
		if (eq != NULL) {
			value = eq + 1;
		} else if (*i + 1 < argc) {
			value = argv[++*i];
		} else {
			return cli_cmd_usage_error(run, "--%s needs a value "
			    "(%s)", a->opt, a->meta);
		}
		/* "--since 2026-11-21 12:00": the time is the next word. */
		if (a->type == SPEC_T_TIME && strlen(value) == 10 &&
		    *i + 1 < argc && cli_cmd_is_hhmm(argv[*i + 1])) {
			snprintf(joined, sizeof(joined), "%s %s", value,
			    argv[++*i]);
			value = joined;
		}
	}
	return cli_cmd_set(run, a, value, truth, typed);
}

/* The words joined by single spaces; caller frees. */
static char *
cli_cmd_join(char **words, int n)
{
	size_t len = 1, used = 0, w;
	char *out;
	int i;

	for (i = 0; i < n; i++) {
		len += strlen(words[i]) + 1;
	}
	out = xmalloc(len);
	for (i = 0; i < n; i++) {
		w = strlen(words[i]);
		memcpy(out + used, words[i], w);
		used += w;
		out[used++] = ' ';
	}
	out[used > 0 ? used - 1 : 0] = '\0';
	return out;
}

/* A word that looks like an option ("-h", "--x") rather than a value. */
static int
cli_cmd_dashed(const char *w)
{
	return w[0] == '-' && ((w[1] >= 'a' && w[1] <= 'z') ||
	    (w[1] >= 'A' && w[1] <= 'Z') || w[1] == '-');
}

/*
 * Words after the command name into the request.  Options may come before,
 * between or after the positional words; "--" makes every later word
 * positional, so a NOTE may start with dashes.  -h or --help anywhere
 * before "--" prints the command's help (*help set).
 */
static int
cli_cmd_parse(struct cli_cmd_run *run, int argc, char **argv, int *help)
{
	const struct spec_cmd *c = run->spec;
	const struct spec_arg *a;
	char **pos = xcalloc((size_t)argc + 1, sizeof(*pos));
	char *rest = NULL, syn[512];
	size_t k;
	int i, npos = 0, used = 0, dashdash = 0, st = CLI_EXIT_OK, some = 0;

	*help = 0;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			break;
		}
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			*help = 1;
			goto out;
		}
	}
	for (i = 1; i < argc && st == CLI_EXIT_OK; i++) {
		if (!dashdash && strcmp(argv[i], "--") == 0) {
			dashdash = 1;
		} else if (!dashdash && strncmp(argv[i], "--", 2) == 0) {
			st = cli_cmd_option(run, argv, argc, &i);
		} else if (!dashdash && cli_cmd_dashed(argv[i])) {
			st = cli_cmd_usage_error(run, "unknown option '%s' "
			    "(see %shelp %s)", argv[i], cli_cmd_typed,
			    argv[0]);
		} else {
			pos[npos++] = argv[i];
		}
	}
	if (st != CLI_EXIT_OK) {
		goto out;
	}
	for (k = 0; k < spec_nargs(c) && st == CLI_EXIT_OK; k++) {
		a = &c->args[k];
		if (a->form == SPEC_F_REST && used < npos) {
			rest = cli_cmd_join(pos + used, npos - used);
			used = npos;
			st = cli_cmd_set(run, a, rest, 1, NULL);
		} else if (a->form == SPEC_F_WORD && used < npos) {
			st = cli_cmd_set(run, a, pos[used++], 1, NULL);
		} else if ((a->form == SPEC_F_WORD ||
		    a->form == SPEC_F_REST) && (a->flags & SPEC_A_REQ)) {
			cli_cmd_synopsis(c, syn, sizeof(syn));
			st = cli_cmd_usage_error(run, "%s missing; usage: "
			    "%s%s", a->meta, cli_cmd_typed, syn);
		}
		if (!(a->flags & SPEC_A_REQ) && (run->given & (1u << k))) {
			some = 1;
		}
	}
	if (st == CLI_EXIT_OK && used < npos) {
		cli_cmd_synopsis(c, syn, sizeof(syn));
		st = cli_cmd_usage_error(run, "unexpected '%s'; usage: "
		    "%s%s", pos[used], cli_cmd_typed, syn);
	} else if (st == CLI_EXIT_OK && (c->flags & SPEC_CMD_SOME) && !some) {
		cli_cmd_synopsis(c, syn, sizeof(syn));
		st = cli_cmd_usage_error(run, "nothing to change; usage: "
		    "%s%s", cli_cmd_typed, syn);
	}
	if (st == CLI_EXIT_OK) {
		st = cli_cmd_order(run);
	}
out:
	free(rest);
	free(pos);
	return st;
}

/*
 * Add a password field, from the environment or asked on the terminal,
 * checked by the server's rule for it like any other argument: an empty
 * DRINK_NEW_PASSWORD is a usage error naming the variable, not a request
 * the server refuses.  The message says where the password came from,
 * never what it was.
 */
static int
cli_cmd_password(struct cli_cmd_run *run, const char *field, const char *env,
    const char *prompt, int confirm)
{
	const struct spec_arg *a = spec_arg_find(run->spec, field);
	char pw[PROTO_PASSWORD_MAX + 1], rule[256];
	cJSON *item;

	if (cli_tty_password(env, prompt, confirm, pw, sizeof(pw)) != 0) {
		return CLI_EXIT_USAGE;
	}
	item = cJSON_CreateString(pw);
	cli_tty_wipe(pw, sizeof(pw));
	if (a != NULL && spec_check(a, item, 0, rule, sizeof(rule)) !=
	    ERR_NONE) {
		cli_tty_wipe(item->valuestring, strlen(item->valuestring));
		cJSON_Delete(item);
		/* cli_tty_password() takes the variable whenever it is set. */
		return cli_cmd_usage_error(run, "%s %s", getenv(env) != NULL ?
		    env : "the password typed", rule);
	}
	cJSON_AddItemToObject(run->req, field, item);
	return CLI_EXIT_OK;
}

static int
cli_cmd_new_password(struct cli_cmd_run *run, const char *who)
{
	char prompt[128];

	snprintf(prompt, sizeof(prompt), "New password for %s: ", who);
	return cli_cmd_password(run, "password", "DRINK_NEW_PASSWORD", prompt,
	    1);
}

static const char *
cli_cmd_req_string(const struct cli_cmd_run *run, const char *field)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(run->req, field);

	return v != NULL && v->valuestring != NULL ? v->valuestring : "";
}

/*
 * The machine's slot list, to learn what is about to fall out (and the
 * price, should the drop be refused for lack of funds).  An unknown machine
 * or slot is reported from this list, before anything is bought.
 */
static int
cli_cmd_drop_slot(struct cli_cmd_run *run, struct cli_session *s)
{
	static const char *const learn[] = { "item", "price" };
	cJSON *req, *reply = NULL, *slot, *v;
	long long want, n;
	size_t i;
	int st, found = 0;

	want = atoll(cli_cmd_req_string(run, "slot"));
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "slots");
	cJSON_AddStringToObject(req, "machine",
	    cli_cmd_req_string(run, "machine"));
	if ((st = cli_session_call(s, run, req, &reply)) != CLI_EXIT_OK) {
		return st;
	}
	cJSON_ArrayForEach(slot, cJSON_GetObjectItemCaseSensitive(reply,
	    "slots")) {
		if (cli_print_int(slot, "slot", &n) != 0 || n != want) {
			continue;
		}
		found = 1;
		for (i = 0; i < sizeof(learn) / sizeof(learn[0]); i++) {
			v = cJSON_GetObjectItemCaseSensitive(slot, learn[i]);
			/* A slot without an item: "Dropping from ...". */
			if (v != NULL && !cJSON_IsNull(v) &&
			    !(cJSON_IsString(v) && v->valuestring[0] == '\0')) {
				cJSON_AddItemToObject(run->info, learn[i],
				    cJSON_Duplicate(v, 1));
			}
		}
		break;
	}
	cJSON_Delete(reply);
	if (!found) {
		cli_error("machine %s has no slot %lld (no_such_slot)",
		    cli_cmd_req_string(run, "machine"), want);
		return CLI_EXIT_REFUSED;
	}
	return CLI_EXIT_OK;
}

/* The machine's display name, which reads better than its id. */
static int
cli_cmd_drop_display(struct cli_cmd_run *run, struct cli_session *s)
{
	cJSON *req, *reply = NULL, *m, *v;
	int st;

	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "machines");
	st = cli_session_request(s, req, CLI_REPLY_MS, &reply, NULL);
	cJSON_Delete(req);
	if (st != CLI_EXIT_OK) {
		return st;
	}
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(reply,
	    "machines")) {
		v = cJSON_GetObjectItemCaseSensitive(m, "machine");
		if (cJSON_IsString(v) && strcmp(v->valuestring,
		    cli_cmd_req_string(run, "machine")) == 0) {
			v = cJSON_GetObjectItemCaseSensitive(m, "name");
			if (cJSON_IsString(v) && v->valuestring[0] != '\0') {
				cJSON_AddStringToObject(run->info, "display",
				    v->valuestring);
			}
			break;
		}
	}
	cJSON_Delete(reply);
	return CLI_EXIT_OK;
}

static int
cli_cmd_prepare_drop(struct cli_cmd_run *run, struct cli_session *s)
{
	const cJSON *delay;
	int st;

	if (run->json) {
		return CLI_EXIT_OK;
	}
	if ((st = cli_cmd_drop_slot(run, s)) != CLI_EXIT_OK ||
	    (st = cli_cmd_drop_display(run, s)) != CLI_EXIT_OK) {
		return st;
	}
	cli_print_dropping(run);
	delay = cJSON_GetObjectItemCaseSensitive(run->req, "delay");
	if (delay != NULL && atoll(delay->valuestring) > 0) {
		cli_session_countdown(s, atoi(delay->valuestring));
	}
	return CLI_EXIT_OK;
}

/* The old password is the one this session logged in with, when it did. */
static int
cli_cmd_prepare_passwd(struct cli_cmd_run *run, struct cli_session *s)
{
	const char *old = cli_session_password(s);
	int st;

	if (old != NULL) {
		cJSON_AddStringToObject(run->req, "old", old);
	} else if ((st = cli_cmd_password(run, "old", "DRINK_PASSWORD",
	    "Old password: ", 0)) != CLI_EXIT_OK) {
		return st;
	}
	return cli_cmd_password(run, "new", "DRINK_NEW_PASSWORD",
	    "New password: ", 1);
}

static int
cli_cmd_prepare_user_add(struct cli_cmd_run *run, struct cli_session *s)
{
	(void)s;
	return cli_cmd_new_password(run, cli_cmd_req_string(run, "user"));
}

static int
cli_cmd_prepare_user_mod(struct cli_cmd_run *run, struct cli_session *s)
{
	const struct spec_arg *a = spec_arg_find(run->spec, "password");
	const char *me = cli_session_user(s);

	/*
	 * A new role or a disabled account ends the user's sessions: the
	 * server answers this one first, then closes it.
	 */
	if (me != NULL && strcmp(me, cli_cmd_req_string(run, "user")) == 0 &&
	    (cJSON_GetObjectItemCaseSensitive(run->req, "role") != NULL ||
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(run->req,
	    "disabled")))) {
		run->done = "User {user} updated; that ended your session";
		cJSON_AddTrueToObject(run->info, "ends_session");
	}
	if (a == NULL || !(run->given & (1u << (a - run->spec->args)))) {
		return CLI_EXIT_OK;
	}
	return cli_cmd_new_password(run, cli_cmd_req_string(run, "user"));
}

/*
 * --legacy-password: the tini board's password, asked twice (or
 * DRINK_NEW_PASSWORD), sent as legacy_password.
 */
static int
cli_cmd_prepare_machine_mod(struct cli_cmd_run *run, struct cli_session *s)
{
	const struct spec_arg *a = spec_arg_find(run->spec, "legacy_password");
	char prompt[128];

	(void)s;
	if (a == NULL || !(run->given & (1u << (a - run->spec->args)))) {
		return CLI_EXIT_OK;
	}
	snprintf(prompt, sizeof(prompt), "Board password for %s: ",
	    cli_cmd_req_string(run, "machine"));
	return cli_cmd_password(run, "legacy_password", "DRINK_NEW_PASSWORD",
	    prompt, 1);
}

/*
 * A login by a kept token does what a stolen token must not (bind a card,
 * add or change a user, change a machine: the command's SPEC_A_OWN
 * argument) only with the password: asked as a login asks for it, or
 * DRINK_PASSWORD.  Once the server has it, this connection needs it no
 * more.
 */
static int
cli_cmd_own_password(struct cli_cmd_run *run, struct cli_session *s)
{
	const struct spec_arg *a = spec_own(run->spec);
	char prompt[PROTO_NAME_MAX + 96];

	if (a == NULL || !cli_session_by_token(s)) {
		return CLI_EXIT_OK;
	}
	snprintf(prompt, sizeof(prompt), "Password for %.32s (to %s): ",
	    cli_session_user(s) != NULL ? cli_session_user(s) : "you",
	    run->spec->own_for);
	cJSON_AddTrueToObject(run->info, "shows_password");
	return cli_cmd_password(run, a->field, "DRINK_PASSWORD", prompt, 0);
}

/*
 * A kick of a session that who does not list asks nothing: there is
 * nothing to be sure of, and the server's refusal ("no such session")
 * says so at once, as with --yes.  Only an admin is asked, and only an
 * admin sees session numbers in who.
 */
static int
cli_cmd_prepare_kick(struct cli_cmd_run *run, struct cli_session *s)
{
	const char *role = cli_session_role(s);
	const cJSON *c;
	cJSON *req, *reply = NULL;
	long long want, n;
	int st, found = 0;

	if (run->yes || role == NULL || strcmp(role, "admin") != 0) {
		return CLI_EXIT_OK;
	}
	want = atoll(cli_cmd_req_string(run, "session"));
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "who");
	st = cli_session_request(s, req, CLI_REPLY_MS, &reply, NULL);
	cJSON_Delete(req);
	if (st != CLI_EXIT_OK) {
		return st;
	}
	/* Not read (refused): asked as before, the kick tells. */
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok"))) {
		found = 1;
	}
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(reply,
	    "clients")) {
		if (cli_print_int(c, "session", &n) == 0 && n == want) {
			found = 1;
			break;
		}
	}
	cJSON_Delete(reply);
	if (!found) {
		run->yes = 1;
	}
	return CLI_EXIT_OK;
}

/*
 * A destructive command goes ahead with --yes, or when the person at the
 * terminal says so; without a terminal to ask on it is a usage error.
 * Asked once logged in, so that one the server is sure to refuse (an
 * admin's command, the login a member's) asks nothing: the refusal says
 * why.
 */
static int
cli_cmd_confirm(struct cli_cmd_run *run, struct cli_session *s, int argc,
    char **argv)
{
	const char *role = cli_session_role(s);
	char *line, name[CLI_CMD_NAME_MAX];
	int st;

	if (!(run->spec->flags & SPEC_CMD_CONFIRM) || run->yes) {
		return CLI_EXIT_OK;
	}
	if (run->spec->role == SPEC_ADMIN && role != NULL &&
	    strcmp(role, "admin") != 0) {
		return CLI_EXIT_OK;
	}
	spec_cli_name(run->spec, name, sizeof(name));
	line = cli_cmd_join(argv + 1, argc - 1);
	st = cli_tty_confirm(name, line);
	free(line);
	return st;
}

/* Passwords do not outlive the request in freed heap memory. */
static void
cli_cmd_run_free(struct cli_cmd_run *run)
{
	const cJSON *v;
	size_t i;

	for (i = 0; run->spec != NULL && run->req != NULL &&
	    i < spec_nargs(run->spec); i++) {
		if (!spec_secret(&run->spec->args[i])) {
			continue;
		}
		v = cJSON_GetObjectItemCaseSensitive(run->req,
		    run->spec->args[i].field);
		if (cJSON_IsString(v)) {
			cli_tty_wipe(v->valuestring, strlen(v->valuestring));
		}
	}
	cJSON_Delete(run->req);
	cJSON_Delete(run->info);
}

/* The reply, for people or for scripts; the exit status it implies. */
static int
cli_cmd_show(struct cli_cmd_run *run, const struct cli_cmd_show *show,
    const cJSON *reply, const char *raw)
{
	int ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok"));

	if (run->json) {
		printf("%s\n", raw);
	} else if (ok && show->print != NULL) {
		show->print(run, reply);
	} else if (ok) {
		cli_print_done(run, reply);
	} else {
		cli_print_refusal(run, reply);
	}
	return ok ? CLI_EXIT_OK : CLI_EXIT_REFUSED;
}

/*
 * A command that changes money or users carries a key, generated when the
 * user gave none, so that resending it can never apply it twice.
 */
static int
cli_cmd_add_key(struct cli_cmd_run *run)
{
	unsigned char raw[CLI_CMD_KEY_BYTES];
	char key[2 * CLI_CMD_KEY_BYTES + 1], name[CLI_CMD_NAME_MAX];
	size_t i;

	if ((run->spec->flags & SPEC_CMD_KEYED) == 0 ||
	    cJSON_GetObjectItemCaseSensitive(run->req, "key") != NULL) {
		return CLI_EXIT_OK;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		spec_cli_name(run->spec, name, sizeof(name));
		cli_error("%s: cannot make an idempotency key", name);
		return CLI_EXIT_CONN;
	}
	for (i = 0; i < sizeof(raw); i++) {
		snprintf(key + 2 * i, 3, "%02x", raw[i]);
	}
	cJSON_AddStringToObject(run->req, "key", key);
	return CLI_EXIT_OK;
}

/* Connect (again), and log in when the command needs it; CLI_EXIT_*. */
static int
cli_cmd_connect(struct cli_cmd_run *run, struct cli_session *s)
{
	int st;

	if ((st = cli_session_open(s)) != CLI_EXIT_OK) {
		return st;
	}
	if (run->spec->role == SPEC_ANYONE || cli_session_logged_in(s)) {
		return CLI_EXIT_OK;
	}
	/* A kept login (drink login) first, else the password for -u. */
	if ((st = cli_token_use(s)) == CLI_EXIT_OK || st == CLI_EXIT_CONN) {
		return st;
	}
	return cli_session_has_user(s) ? cli_session_login(s) : CLI_EXIT_OK;
}

/* 1 when the outcome is unknown: no answer, or "internal". */
static int
cli_cmd_unknown(int st, const cJSON *reply)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");

	return st == CLI_EXIT_CONN || (st == CLI_EXIT_OK &&
	    cJSON_IsString(e) && strcmp(e->valuestring, "internal") == 0);
}

/*
 * Run one command: every word is checked before anything is sent, then the
 * connection is made (or reused), the login done when the command needs it
 * and a user was named, and the request sent.  A keyed command whose
 * outcome is unknown (connection lost, or "internal") is sent once more
 * with the same key, which the server answers with the first result if the
 * first attempt was applied.
 */
int
cli_cmd_execute(struct cli_session *s, int argc, char **argv)
{
	struct cli_cmd_run run = { 0 };
	const struct cli_cmd_show *show;
	const cJSON *key;
	cJSON *reply = NULL;
	char *raw = NULL, group[64];
	int st, help, attempt, unknown;

	/* "card add" is the command card-add, its words after "add". */
	if (argc >= 2 && strcmp(argv[0], "card") == 0) {
		snprintf(group, sizeof(group), "card-%s", argv[1]);
		argv[1] = group;
		argc--;
		argv++;
	}
	if (argc < 1 || (run.spec = cli_cmd_lookup(argv[0])) == NULL) {
		return CLI_EXIT_USAGE;
	}
	show = cli_cmd_show_find(run.spec);
	run.json = cli_session_config(s)->json;
	run.done = show->done;
	run.errors = show->errors;
	run.req = cJSON_CreateObject();
	run.info = cJSON_CreateObject();
	cJSON_AddStringToObject(run.req, "cmd", run.spec->name);
	if ((st = cli_cmd_parse(&run, argc, argv, &help)) != CLI_EXIT_OK) {
		goto out;
	}
	if (help) {
		cli_cmd_help(stdout, run.spec);
		goto out;
	}
	if ((st = cli_cmd_add_key(&run)) != CLI_EXIT_OK) {
		goto out;
	}
	if (show->run != NULL) {
		if ((st = cli_cmd_confirm(&run, s, argc, argv)) ==
		    CLI_EXIT_OK && (st = cli_session_open(s)) == CLI_EXIT_OK) {
			st = show->run(&run, s);
		}
		goto out;
	}
	if ((st = cli_cmd_connect(&run, s)) != CLI_EXIT_OK) {
		goto out;
	}
	if ((show->prepare != NULL &&
	    (st = show->prepare(&run, s)) != CLI_EXIT_OK) ||
	    (st = cli_cmd_own_password(&run, s)) != CLI_EXIT_OK ||
	    (st = cli_cmd_confirm(&run, s, argc, argv)) != CLI_EXIT_OK) {
		goto out;
	}
	key = cJSON_GetObjectItemCaseSensitive(run.req, "key");
	if (show->steadfast) {
		cli_tty_hold_interrupt("a drop cannot be cancelled once sent; "
		    "waiting for its result (Ctrl-C again to stop waiting)",
		    "stopped waiting; the drop may still happen: check "
		    "drink history");
	}
	for (attempt = 0; attempt < 2; attempt++) {
		if (attempt > 0) {
			cJSON_Delete(reply);
			free(raw);
			reply = NULL;
			raw = NULL;
			usleep(CLI_CMD_RETRY_MS * 1000);
			if ((st = cli_cmd_connect(&run, s)) != CLI_EXIT_OK) {
				break;
			}
		}
		st = cli_session_request(s, run.req, show->timeout_ms > 0 ?
		    show->timeout_ms : CLI_REPLY_MS, &reply, &raw);
		if (key == NULL || !cli_cmd_unknown(st, reply)) {
			break;
		}
	}
	cli_tty_release_interrupt();
	unknown = cli_cmd_unknown(st, reply);
	if (st == CLI_EXIT_OK) {
		st = cli_cmd_show(&run, show, reply, raw);
	}
	if (st == CLI_EXIT_OK && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
	    run.info, "shows_password"))) {
		cli_session_password_shown(s);
	}
	/* The server closes it; the next command logs in afresh. */
	if (st == CLI_EXIT_OK && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
	    run.info, "ends_session"))) {
		cli_session_close(s);
	}
	if (unknown && show->lost != NULL) {
		cli_error("%s", show->lost);
		if (cJSON_IsString(key)) {
			cli_error("its key: --key %s", key->valuestring);
		}
	}
out:
	cli_session_countdown(s, 0);
	cJSON_Delete(reply);
	free(raw);
	cli_cmd_run_free(&run);
	return cli_output_check(st);
}
