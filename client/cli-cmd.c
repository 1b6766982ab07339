/*
 * The command table.  Each entry is one protocol request: its positional
 * words and options are described by small argument tables, so a single
 * parser turns any command line into the request (and rejects a bad one
 * before anything is sent), and the dispatcher alone decides whether a
 * login is needed first.  Entries add behaviour only where the request is
 * more than its words: passwords asked on the terminal, and the slot lookup
 * that lets "drop" say what it is dropping.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cli.h"

#define CLI_CMD_LOGIN 0x1			/* log in with -u first */
#define CLI_CMD_ADMIN (0x2 | CLI_CMD_LOGIN)	/* listed as admin command */
#define CLI_CMD_KEYED 0x4	/* changes money or users: always keyed */
#define CLI_CMD_KEY_BYTES 16	/* random bytes in a generated key */
#define CLI_CMD_RETRY_MS 1000	/* pause before the one automatic retry */

#define CLI_CMD_MAX_AMOUNT PROTO_MAX_AMOUNT
/* 2^53 - 1: the largest integer every JSON reader holds exactly. */
#define CLI_CMD_MAX_ID 9007199254740991LL
#define CLI_CMD_MAX_OPTS 32	/* bits in cli_cmd_run.seen */
#define CLI_CMD_USAGE_WIDTH 36

/* The option kinds take no value, except STRING and INT. */
enum cli_cmd_arg_type {
	CLI_CMD_ARG_STRING,	/* sent as a JSON string */
	CLI_CMD_ARG_INT,	/* plain integer within [min, max] */
	CLI_CMD_ARG_REST,	/* positional: this word and all later ones */
	CLI_CMD_ARG_TRUE,	/* field is true */
	CLI_CMD_ARG_FALSE,	/* field is false */
	CLI_CMD_ARG_CONST,	/* field is the string in value */
	CLI_CMD_ARG_FLAG,	/* only marks cli_cmd_run.seen */
};

/* A positional word (name is its metavar) or an option (name after --). */
struct cli_cmd_arg {
	const char *name;
	const char *field;
	enum cli_cmd_arg_type type;
	long long min, max;
	const char *value;
};

struct cli_cmd_entry {
	const char *name;
	const char *proto;
	const char *usage;
	const char *help;
	int min, max;		/* positional words; max -1: no limit */
	int flags;		/* CLI_CMD_LOGIN, CLI_CMD_ADMIN */
	int64_t timeout_ms;	/* 0: CLI_REPLY_MS */
	const struct cli_cmd_arg *args;	/* NULL: none */
	const struct cli_cmd_arg *opts;	/* NULL: none */
	/* After the login, before the request; returns CLI_EXIT_*. */
	int (*prepare)(struct cli_cmd_run *, struct cli_session *);
	/* Success output; NULL prints the done template. */
	void (*print)(const struct cli_cmd_run *, const cJSON *);
	const char *done;
	const struct cli_cmd_text *errors;
	/* Said when the connection fails with the request in flight. */
	const char *lost;
	/* The whole command, instead of one request (login, watch). */
	int (*run)(struct cli_cmd_run *, struct cli_session *);
};

static int cli_cmd_prepare_drop(struct cli_cmd_run *,
    struct cli_session *);
static int cli_cmd_prepare_passwd(struct cli_cmd_run *,
    struct cli_session *);
static int cli_cmd_prepare_user_add(struct cli_cmd_run *,
    struct cli_session *);
static int cli_cmd_prepare_user_mod(struct cli_cmd_run *,
    struct cli_session *);
static int cli_cmd_prepare_machine_mod(struct cli_cmd_run *,
    struct cli_session *);

static const struct cli_cmd_arg cli_cmd_args_data[] = {
	{ "DATA", "data", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_args_machine[] = {
	{ "MACHINE", "machine", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_args_machine_slot[] = {
	{ "MACHINE", "machine", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ "SLOT", "slot", CLI_CMD_ARG_INT, 1, 255, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_args_machine_name[] = {
	{ "MACHINE", "machine", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ "NAME", "name", CLI_CMD_ARG_REST, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_args_send[] = {
	{ "USER", "to", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ "AMOUNT", "amount", CLI_CMD_ARG_INT, 1, CLI_CMD_MAX_AMOUNT, NULL },
	{ "NOTE", "note", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_args_user[] = {
	{ "USER", "user", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_args_user_amount[] = {
	{ "USER", "user", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ "AMOUNT", "amount", CLI_CMD_ARG_INT, 1, CLI_CMD_MAX_AMOUNT, NULL },
	{ "NOTE", "note", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_args_set_balance[] = {
	{ "USER", "user", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ "BALANCE", "balance", CLI_CMD_ARG_INT, 0, CLI_CMD_MAX_AMOUNT, NULL },
	{ "NOTE", "note", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_args_refund[] = {
	{ "TX", "tx", CLI_CMD_ARG_INT, 1, CLI_CMD_MAX_ID, NULL },
	{ "NOTE", "note", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_args_kick[] = {
	{ "SESSION", "session", CLI_CMD_ARG_INT, 0, CLI_CMD_MAX_ID, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};

static const struct cli_cmd_arg cli_cmd_args_card[] = {
	{ "CARD", "card", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ "LABEL", "label", CLI_CMD_ARG_REST, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_args_card_id[] = {
	{ "ID", "card_id", CLI_CMD_ARG_INT, 1, CLI_CMD_MAX_ID, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};

static const struct cli_cmd_arg cli_cmd_opts_card[] = {
	{ "user", "user", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_opts_key[] = {
	{ "key", "key", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_opts_drop[] = {
	{ "delay", "delay", CLI_CMD_ARG_INT, 0, 300, NULL },
	{ "key", "key", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_opts_history[] = {
	{ "limit", "limit", CLI_CMD_ARG_INT, 1, 1000, NULL },
	{ "before", "before", CLI_CMD_ARG_INT, 1, CLI_CMD_MAX_ID, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_opts_user_add[] = {
	{ "admin", "role", CLI_CMD_ARG_CONST, 0, 0, "admin" },
	{ "balance", "balance", CLI_CMD_ARG_INT, 0, CLI_CMD_MAX_AMOUNT, NULL },
	{ "key", "key", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_opts_user_mod[] = {
	{ "role", "role", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ "disable", "disabled", CLI_CMD_ARG_TRUE, 0, 0, NULL },
	{ "enable", "disabled", CLI_CMD_ARG_FALSE, 0, 0, NULL },
	{ "password", NULL, CLI_CMD_ARG_FLAG, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_opts_machine_mod[] = {
	{ "name", "name", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ "enable", "enabled", CLI_CMD_ARG_TRUE, 0, 0, NULL },
	{ "disable", "enabled", CLI_CMD_ARG_FALSE, 0, 0, NULL },
	{ "legacy-password", NULL, CLI_CMD_ARG_FLAG, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_opts_slot_set[] = {
	{ "item", "item", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ "price", "price", CLI_CMD_ARG_INT, 0, CLI_CMD_MAX_AMOUNT, NULL },
	{ "stock", "stock", CLI_CMD_ARG_INT, 0, CLI_CMD_MAX_AMOUNT, NULL },
	{ "enable", "enabled", CLI_CMD_ARG_TRUE, 0, 0, NULL },
	{ "disable", "enabled", CLI_CMD_ARG_FALSE, 0, 0, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};
static const struct cli_cmd_arg cli_cmd_opts_log[] = {
	{ "user", "user", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ "machine", "machine", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ "kind", "kind", CLI_CMD_ARG_STRING, 0, 0, NULL },
	{ "since", "since", CLI_CMD_ARG_INT, 0, CLI_CMD_MAX_ID, NULL },
	{ "until", "until", CLI_CMD_ARG_INT, 0, CLI_CMD_MAX_ID, NULL },
	{ "limit", "limit", CLI_CMD_ARG_INT, 1, CLI_CMD_MAX_ID, NULL },
	{ NULL, NULL, 0, 0, 0, NULL }
};

/*
 * What a failed drop means, in the member's words.  {name} is the field of
 * the reply, else of the request, else what the slot lookup found; a text
 * naming something unknown is skipped for the next one with the same code.
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
	{ "drop_in_progress",
	    "another drop of yours is still in progress; try again shortly" },
	{ "no_such_machine", "there is no machine {machine}" },
	{ "no_such_slot", "machine {machine} has no slot {slot}" },
	{ NULL, NULL }
};

static const struct cli_cmd_text cli_cmd_errors_send[] = {
	{ "no_such_user", "there is no user {to}" },
	{ "insufficient_funds",
	    "insufficient funds: balance {balance}, amount {amount}" },
	{ NULL, NULL }
};

#define CLI_CMD_LOST_MONEY \
	"it may still have gone through: check history, or repeat it " \
	"with the same --key"

static const struct cli_cmd_entry cli_cmd_table[] = {
	/* Any session. */
	{ .name = "ping", .proto = "ping", .usage = "ping [DATA]",
	    .help = "check that the server answers",
	    .min = 0, .max = 1, .args = cli_cmd_args_data,
	    .print = cli_print_pong },
	{ .name = "machines", .proto = "machines", .usage = "machines",
	    .help = "list machines", .print = cli_print_machines },
	{ .name = "slots", .proto = "slots", .usage = "slots MACHINE",
	    .help = "list a machine's slots",
	    .min = 1, .max = 1, .args = cli_cmd_args_machine,
	    .print = cli_print_slots },

	{ .name = "watch", .proto = "subscribe", .usage = "watch",
	    .help = "print machine and slot changes as they happen",
	    .run = cli_token_watch },
	{ .name = "login", .proto = "login", .usage = "login",
	    .help = "log in as -u USER and keep the login (a token) for "
	    "later commands",
	    .run = cli_token_login },
	{ .name = "logout", .proto = "token_revoke", .usage = "logout",
	    .help = "end the kept login: revoke its token",
	    .run = cli_token_logout },

	/* Members. */
	{ .name = "whoami", .proto = "whoami", .usage = "whoami",
	    .help = "show who you are logged in as",
	    .flags = CLI_CMD_LOGIN,
	    .done = "{user} ({role}), balance {balance}" },
	{ .name = "balance", .proto = "balance", .usage = "balance",
	    .help = "show your balance",
	    .flags = CLI_CMD_LOGIN, .done = "Balance: {balance}" },
	{ .name = "drop", .proto = "drop",
	    .usage = "drop MACHINE SLOT [--delay S] [--key K]",
	    .help = "buy the item in a slot and drop it",
	    .min = 2, .max = 2, .flags = CLI_CMD_LOGIN | CLI_CMD_KEYED,
	    .timeout_ms = CLI_DROP_MS, .args = cli_cmd_args_machine_slot,
	    .opts = cli_cmd_opts_drop, .prepare = cli_cmd_prepare_drop,
	    .done = "done, balance {balance}", .errors = cli_cmd_errors_drop,
	    .lost = "the drop may still happen: check history before "
	    "trying again, or repeat it with the same --key" },
	{ .name = "send", .proto = "send",
	    .usage = "send USER AMOUNT [NOTE] [--key K]",
	    .help = "give credits to another member",
	    .min = 2, .max = 3, .flags = CLI_CMD_LOGIN | CLI_CMD_KEYED,
	    .args = cli_cmd_args_send, .opts = cli_cmd_opts_key,
	    .done = "Sent {amount} to {to} (tx {tx}), balance {balance}",
	    .errors = cli_cmd_errors_send, .lost = CLI_CMD_LOST_MONEY },
	{ .name = "history", .proto = "history",
	    .usage = "history [--limit N] [--before TX]",
	    .help = "list your transactions, newest first",
	    .flags = CLI_CMD_LOGIN, .opts = cli_cmd_opts_history,
	    .print = cli_print_history },
	{ .name = "who", .proto = "who", .usage = "who",
	    .help = "list connected clients",
	    .flags = CLI_CMD_LOGIN, .print = cli_print_who },
	{ .name = "card-add", .proto = "card_add",
	    .usage = "card add CARD [LABEL...] [--user U]",
	    .help = "bind a card (its UID in hex) for buying at machines",
	    .min = 1, .max = -1, .flags = CLI_CMD_LOGIN,
	    .args = cli_cmd_args_card, .opts = cli_cmd_opts_card,
	    .done = "Card {card_id} bound to {user}" },
	{ .name = "card-list", .proto = "cards",
	    .usage = "card list [--user U]", .help = "list bound cards",
	    .flags = CLI_CMD_LOGIN, .opts = cli_cmd_opts_card,
	    .print = cli_print_cards },
	{ .name = "card-del", .proto = "card_del",
	    .usage = "card del ID [--user U]", .help = "unbind a card",
	    .min = 1, .max = 1, .flags = CLI_CMD_LOGIN,
	    .args = cli_cmd_args_card_id, .opts = cli_cmd_opts_card,
	    .done = "Card {request.card_id} unbound" },
	{ .name = "passwd", .proto = "passwd", .usage = "passwd",
	    .help = "change your password",
	    .flags = CLI_CMD_LOGIN, .prepare = cli_cmd_prepare_passwd,
	    .done = "Password changed" },

	/* Admins. */
	{ .name = "user-add", .proto = "user_add",
	    .usage = "user-add USER [--admin] [--balance N] [--key K]",
	    .help = "create a user (password asked twice)",
	    .min = 1, .max = 1, .flags = CLI_CMD_ADMIN | CLI_CMD_KEYED,
	    .args = cli_cmd_args_user, .opts = cli_cmd_opts_user_add,
	    .prepare = cli_cmd_prepare_user_add, .done = "User {user} added",
	    .lost = CLI_CMD_LOST_MONEY },
	{ .name = "user-mod", .proto = "user_mod",
	    .usage = "user-mod USER [--role R] [--disable|--enable] "
	    "[--password]",
	    .help = "change a user's role, state or password",
	    .min = 1, .max = 1, .flags = CLI_CMD_ADMIN,
	    .args = cli_cmd_args_user, .opts = cli_cmd_opts_user_mod,
	    .prepare = cli_cmd_prepare_user_mod,
	    .done = "User {user} updated" },
	{ .name = "users", .proto = "users", .usage = "users",
	    .help = "list users", .flags = CLI_CMD_ADMIN,
	    .print = cli_print_users },
	{ .name = "credit", .proto = "credit",
	    .usage = "credit USER AMOUNT NOTE [--key K]",
	    .help = "add credits to a user (a deposit)",
	    .min = 3, .max = 3, .flags = CLI_CMD_ADMIN | CLI_CMD_KEYED,
	    .args = cli_cmd_args_user_amount, .opts = cli_cmd_opts_key,
	    .done = "Credited {amount} to {user} (tx {tx}), balance {balance}",
	    .lost = CLI_CMD_LOST_MONEY },
	{ .name = "debit", .proto = "debit",
	    .usage = "debit USER AMOUNT NOTE [--key K]",
	    .help = "take credits from a user (a payout)",
	    .min = 3, .max = 3, .flags = CLI_CMD_ADMIN | CLI_CMD_KEYED,
	    .args = cli_cmd_args_user_amount, .opts = cli_cmd_opts_key,
	    .done = "Debited {amount} from {user} (tx {tx}), balance "
	    "{balance}",
	    .lost = CLI_CMD_LOST_MONEY },
	{ .name = "set-balance", .proto = "set_balance",
	    .usage = "set-balance USER BALANCE NOTE [--key K]",
	    .help = "set a user's balance (an adjustment)",
	    .min = 3, .max = 3, .flags = CLI_CMD_ADMIN | CLI_CMD_KEYED,
	    .args = cli_cmd_args_set_balance, .opts = cli_cmd_opts_key,
	    .done = "Balance of {user} set to {balance} (tx {tx})",
	    .lost = CLI_CMD_LOST_MONEY },
	{ .name = "refund", .proto = "refund",
	    .usage = "refund TX NOTE [--key K]",
	    .help = "refund a completed drop",
	    .min = 2, .max = 2, .flags = CLI_CMD_ADMIN | CLI_CMD_KEYED,
	    .args = cli_cmd_args_refund, .opts = cli_cmd_opts_key,
	    .done = "Refunded tx {request.tx} (tx {tx}), balance {balance}",
	    .lost = CLI_CMD_LOST_MONEY },
	{ .name = "machine-add", .proto = "machine_add",
	    .usage = "machine-add MACHINE NAME...",
	    .help = "register a machine; NAME may have spaces",
	    .min = 2, .max = -1, .flags = CLI_CMD_ADMIN,
	    .args = cli_cmd_args_machine_name,
	    .done = "Machine {machine} added" },
	{ .name = "machine-mod", .proto = "machine_mod",
	    .usage = "machine-mod MACHINE [--name NAME] [--enable|--disable] "
	    "[--legacy-password]",
	    .help = "rename, enable or disable a machine",
	    .min = 1, .max = 1, .flags = CLI_CMD_ADMIN,
	    .args = cli_cmd_args_machine, .opts = cli_cmd_opts_machine_mod,
	    .prepare = cli_cmd_prepare_machine_mod,
	    .done = "Machine {machine} updated" },
	{ .name = "machine-del", .proto = "machine_del",
	    .usage = "machine-del MACHINE", .help = "remove a machine",
	    .min = 1, .max = 1, .flags = CLI_CMD_ADMIN,
	    .args = cli_cmd_args_machine, .done = "Machine {machine} deleted" },
	{ .name = "slot-set", .proto = "slot_set",
	    .usage = "slot-set MACHINE SLOT [--item ITEM] [--price N] "
	    "[--stock N] [--enable|--disable]",
	    .help = "set up a slot",
	    .min = 2, .max = 2, .flags = CLI_CMD_ADMIN,
	    .args = cli_cmd_args_machine_slot, .opts = cli_cmd_opts_slot_set,
	    .print = cli_print_slot_set },
	{ .name = "log", .proto = "log",
	    .usage = "log [--user U] [--machine M] [--kind K] [--since T] "
	    "[--until T] [--limit N]",
	    .help = "list everyone's transactions, newest first",
	    .flags = CLI_CMD_ADMIN, .opts = cli_cmd_opts_log,
	    .print = cli_print_log },
	{ .name = "kick", .proto = "kick", .usage = "kick SESSION",
	    .help = "disconnect a client (see who)",
	    .min = 1, .max = 1, .flags = CLI_CMD_ADMIN,
	    .args = cli_cmd_args_kick, .done = "Session {session} kicked" },
};

#define CLI_CMD_COUNT (sizeof(cli_cmd_table) / sizeof(cli_cmd_table[0]))

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

/*
 * An exact name wins; otherwise a prefix of exactly one name.  On failure
 * the one-line reason (unknown, or ambiguous with its candidates) has been
 * printed.
 */
static const struct cli_cmd_entry *
cli_cmd_lookup(const char *word)
{
	char name[64], cands[512];
	const struct cli_cmd_entry *found = NULL;
	size_t i, n, matches = 0, used = 0;

	cli_cmd_normalise(word, name, sizeof(name));
	n = strlen(name);
	cands[0] = '\0';
	for (i = 0; n > 0 && i < CLI_CMD_COUNT; i++) {
		if (strcmp(name, cli_cmd_table[i].name) == 0) {
			return &cli_cmd_table[i];
		}
		if (strncmp(name, cli_cmd_table[i].name, n) != 0) {
			continue;
		}
		found = &cli_cmd_table[i];
		matches++;
		if (used < sizeof(cands)) {
			used += (size_t)snprintf(cands + used,
			    sizeof(cands) - used, "%s%s", matches > 1 ? ", " :
			    "", cli_cmd_table[i].name);
		}
	}
	if (matches == 1) {
		return found;
	}
	if (matches == 0) {
		cli_error("unknown command '%s' (try help)", word);
	} else {
		cli_error("ambiguous command '%s': %s", word, cands);
	}
	return NULL;
}

void
cli_cmd_usage(FILE *fp)
{
	const struct cli_cmd_entry *e;
	int admin;

	for (admin = 0; admin <= 1; admin++) {
		fprintf(fp, "\n%s:\n", admin ? "Admin commands" : "Commands");
		for (e = cli_cmd_table; e < cli_cmd_table + CLI_CMD_COUNT;
		    e++) {
			if (((e->flags & CLI_CMD_ADMIN) == CLI_CMD_ADMIN) !=
			    admin) {
				continue;
			}
			/* A long usage gets its help on the next line. */
			if (strlen(e->usage) > CLI_CMD_USAGE_WIDTH) {
				fprintf(fp, "  %s\n", e->usage);
			}
			fprintf(fp, "  %-*s %s\n", CLI_CMD_USAGE_WIDTH,
			    strlen(e->usage) > CLI_CMD_USAGE_WIDTH ? "" :
			    e->usage, e->help);
		}
	}
}

int
cli_cmd_usage_one(FILE *fp, const char *name)
{
	const struct cli_cmd_entry *e;

	if ((e = cli_cmd_lookup(name)) == NULL) {
		return -1;
	}
	fprintf(fp, "usage: %s\n  %s\n", e->usage, e->help);
	return 0;
}

static int
cli_cmd_bad_usage(const struct cli_cmd_entry *e)
{
	cli_error("usage: %s", e->usage);
	return CLI_EXIT_USAGE;
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
 * Put one argument's value into the request.  Integers go in as the exact
 * text of the number, so nothing is lost to floating point on the way.
 */
static int
cli_cmd_set(struct cli_cmd_run *run, const struct cli_cmd_arg *a,
    const char *value, const char *what)
{
	char num[32];
	long long v;

	if (a->field != NULL &&
	    cJSON_GetObjectItemCaseSensitive(run->req, a->field) != NULL) {
		cli_error("%s: %s conflicts with an earlier argument",
		    run->entry->name, what);
		return CLI_EXIT_USAGE;
	}
	switch (a->type) {
	case CLI_CMD_ARG_STRING:
	case CLI_CMD_ARG_REST:
		cJSON_AddStringToObject(run->req, a->field, value);
		break;
	case CLI_CMD_ARG_INT:
		if (cli_cmd_parse_int(value, a->min, a->max, &v) != 0) {
			cli_error("%s: %s must be an integer from %lld to "
			    "%lld, not '%s'", run->entry->name, what, a->min,
			    a->max, value);
			return CLI_EXIT_USAGE;
		}
		snprintf(num, sizeof(num), "%lld", v);
		cJSON_AddRawToObject(run->req, a->field, num);
		break;
	case CLI_CMD_ARG_TRUE:
		cJSON_AddTrueToObject(run->req, a->field);
		break;
	case CLI_CMD_ARG_FALSE:
		cJSON_AddFalseToObject(run->req, a->field);
		break;
	case CLI_CMD_ARG_CONST:
		cJSON_AddStringToObject(run->req, a->field, a->value);
		break;
	case CLI_CMD_ARG_FLAG:
		break;
	}
	return CLI_EXIT_OK;
}

/* argv[*i] is "--name" or "--name=value"; a value may be the next word. */
static int
cli_cmd_option(struct cli_cmd_run *run, char **argv, int argc, int *i)
{
	const struct cli_cmd_arg *o = run->entry->opts;
	const char *word = argv[*i] + 2, *value = NULL, *eq;
	size_t n, k;
	char what[64];

	n = (eq = strchr(word, '=')) != NULL ? (size_t)(eq - word) :
	    strlen(word);
	for (k = 0; o != NULL && o->name != NULL; k++, o++) {
		if (strlen(o->name) == n && strncmp(o->name, word, n) == 0) {
			break;
		}
	}
	if (o == NULL || o->name == NULL || k >= CLI_CMD_MAX_OPTS) {
		cli_error("%s: unknown option '%s'", run->entry->name,
		    argv[*i]);
		return CLI_EXIT_USAGE;
	}
	snprintf(what, sizeof(what), "--%s", o->name);
	if (o->type == CLI_CMD_ARG_STRING || o->type == CLI_CMD_ARG_INT) {
		if (eq != NULL) {
			value = eq + 1;
		} else if (*i + 1 < argc) {
			value = argv[++*i];
		} else {
			cli_error("%s: %s needs a value", run->entry->name,
			    what);
			return CLI_EXIT_USAGE;
		}
	} else if (eq != NULL) {
		cli_error("%s: %s takes no value", run->entry->name, what);
		return CLI_EXIT_USAGE;
	}
	if ((run->seen & (1u << k)) != 0) {
		cli_error("%s: %s given twice", run->entry->name, what);
		return CLI_EXIT_USAGE;
	}
	run->seen |= 1u << k;
	return cli_cmd_set(run, o, value, what);
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

/* Whether the option called name was given. */
static int
cli_cmd_seen(const struct cli_cmd_run *run, const char *name)
{
	const struct cli_cmd_arg *o = run->entry->opts;
	unsigned k;

	for (k = 0; o != NULL && o->name != NULL; k++, o++) {
		if (strcmp(o->name, name) == 0) {
			return (run->seen & (1u << k)) != 0;
		}
	}
	return 0;
}

/*
 * Words after the command name into the request.  Options may come before,
 * between or after the positional words; "--" makes every later word
 * positional, so a NOTE may start with dashes.
 */
static int
cli_cmd_parse(struct cli_cmd_run *run, int argc, char **argv)
{
	const struct cli_cmd_entry *e = run->entry;
	const struct cli_cmd_arg *a = e->args;
	char **pos = xcalloc((size_t)argc + 1, sizeof(*pos));
	char *rest = NULL;
	int i, npos = 0, dashdash = 0, st = CLI_EXIT_OK;

	for (i = 0; i < argc && st == CLI_EXIT_OK; i++) {
		if (!dashdash && strcmp(argv[i], "--") == 0) {
			dashdash = 1;
		} else if (!dashdash && strncmp(argv[i], "--", 2) == 0) {
			st = cli_cmd_option(run, argv, argc, &i);
		} else {
			pos[npos++] = argv[i];
		}
	}
	if (st != CLI_EXIT_OK) {
		goto out;
	}
	if (npos < e->min || (e->max >= 0 && npos > e->max)) {
		st = cli_cmd_bad_usage(e);
		goto out;
	}
	for (i = 0; i < npos && st == CLI_EXIT_OK; i++, a++) {
		if (a->type == CLI_CMD_ARG_REST) {
			rest = cli_cmd_join(pos + i, npos - i);
			st = cli_cmd_set(run, a, rest, a->name);
			break;
		}
		st = cli_cmd_set(run, a, pos[i], a->name);
	}
out:
	free(rest);
	free(pos);
	return st;
}

/* Add a password field, from the environment or asked on the terminal. */
static int
cli_cmd_password(struct cli_cmd_run *run, const char *field, const char *env,
    const char *prompt, int confirm)
{
	char pw[CLI_PASSWORD_MAX];

	if (cli_tty_password(env, prompt, confirm, pw, sizeof(pw)) != 0) {
		return CLI_EXIT_USAGE;
	}
	cJSON_AddStringToObject(run->req, field, pw);
	cli_tty_wipe(pw, sizeof(pw));
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
 * Before a drop, learn what is in the slot so the member sees what is
 * about to fall out (and the price, should the drop be refused for lack of
 * funds).  A failed lookup only costs the item name: the drop itself is
 * still sent and its reply is what counts.
 */
static int
cli_cmd_prepare_drop(struct cli_cmd_run *run, struct cli_session *s)
{
	static const char *const learn[] = { "item", "price" };
	cJSON *req, *reply = NULL, *slot, *v;
	long long want, n;
	size_t i;
	int st;

	if (run->json) {
		return CLI_EXIT_OK;
	}
	want = atoll(cli_cmd_req_string(run, "slot"));
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "slots");
	cJSON_AddStringToObject(req, "machine",
	    cli_cmd_req_string(run, "machine"));
	st = cli_session_request(s, req, CLI_REPLY_MS, &reply, NULL);
	cJSON_Delete(req);
	if (st != CLI_EXIT_OK) {
		return st;
	}
	cJSON_ArrayForEach(slot, cJSON_GetObjectItemCaseSensitive(reply,
	    "slots")) {
		if (cli_print_int(slot, "slot", &n) != 0 || n != want) {
			continue;
		}
		for (i = 0; i < sizeof(learn) / sizeof(learn[0]); i++) {
			v = cJSON_GetObjectItemCaseSensitive(slot, learn[i]);
			if (v != NULL && !cJSON_IsNull(v)) {
				cJSON_AddItemToObject(run->info, learn[i],
				    cJSON_Duplicate(v, 1));
			}
		}
		break;
	}
	cJSON_Delete(reply);
	/* The machine's display name reads better than its id. */
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "machines");
	reply = NULL;
	st = cli_session_request(s, req, CLI_REPLY_MS, &reply, NULL);
	cJSON_Delete(req);
	if (st != CLI_EXIT_OK) {
		return st;
	}
	cJSON_ArrayForEach(slot, cJSON_GetObjectItemCaseSensitive(reply,
	    "machines")) {
		v = cJSON_GetObjectItemCaseSensitive(slot, "machine");
		if (cJSON_IsString(v) && strcmp(v->valuestring,
		    cli_cmd_req_string(run, "machine")) == 0) {
			v = cJSON_GetObjectItemCaseSensitive(slot, "name");
			if (cJSON_IsString(v) && v->valuestring[0] != '\0') {
				cJSON_AddStringToObject(run->info, "display",
				    v->valuestring);
			}
			break;
		}
	}
	cJSON_Delete(reply);
	cli_print_dropping(run);
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
	(void)s;
	if (!cli_cmd_seen(run, "password")) {
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
	char prompt[128];

	(void)s;
	if (!cli_cmd_seen(run, "legacy-password")) {
		return CLI_EXIT_OK;
	}
	snprintf(prompt, sizeof(prompt), "Board password for %s: ",
	    cli_cmd_req_string(run, "machine"));
	return cli_cmd_password(run, "legacy_password", "DRINK_NEW_PASSWORD",
	    prompt, 1);
}

/* Passwords do not outlive the request in freed heap memory. */
static void
cli_cmd_run_free(struct cli_cmd_run *run)
{
	static const char *const secret[] = { "password", "old", "new",
		"legacy_password" };
	cJSON *v;
	size_t i;

	for (i = 0; run->req != NULL && i < sizeof(secret) / sizeof(*secret);
	    i++) {
		v = cJSON_GetObjectItemCaseSensitive(run->req, secret[i]);
		if (cJSON_IsString(v)) {
			cli_tty_wipe(v->valuestring, strlen(v->valuestring));
		}
	}
	cJSON_Delete(run->req);
	cJSON_Delete(run->info);
}

/* The reply, for people or for scripts; the exit status it implies. */
static int
cli_cmd_show(struct cli_cmd_run *run, const cJSON *reply, const char *raw)
{
	int ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok"));

	if (run->json) {
		printf("%s\n", raw);
	} else if (ok && run->entry->print != NULL) {
		run->entry->print(run, reply);
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
	char key[2 * CLI_CMD_KEY_BYTES + 1];
	size_t i;

	if ((run->entry->flags & CLI_CMD_KEYED) == 0 ||
	    cJSON_GetObjectItemCaseSensitive(run->req, "key") != NULL) {
		return CLI_EXIT_OK;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		cli_error("%s: cannot make an idempotency key",
		    run->entry->name);
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
	if ((run->entry->flags & CLI_CMD_LOGIN) == 0 ||
	    cli_session_logged_in(s)) {
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
	const cJSON *key;
	cJSON *reply = NULL;
	char *raw = NULL;
	int st, attempt, unknown;

	char group[64];

	/* "card add" is the command card-add, its words after "add". */
	if (argc >= 2 && strcmp(argv[0], "card") == 0) {
		snprintf(group, sizeof(group), "card-%s", argv[1]);
		argv[1] = group;
		argc--;
		argv++;
	}
	if (argc < 1 || (run.entry = cli_cmd_lookup(argv[0])) == NULL) {
		return CLI_EXIT_USAGE;
	}
	run.json = cli_session_config(s)->json;
	run.done = run.entry->done;
	run.errors = run.entry->errors;
	run.req = cJSON_CreateObject();
	run.info = cJSON_CreateObject();
	cJSON_AddStringToObject(run.req, "cmd", run.entry->proto);
	if ((st = cli_cmd_parse(&run, argc - 1, argv + 1)) != CLI_EXIT_OK ||
	    (st = cli_cmd_add_key(&run)) != CLI_EXIT_OK) {
		goto out;
	}
	if (run.entry->run != NULL) {
		if ((st = cli_session_open(s)) == CLI_EXIT_OK) {
			st = run.entry->run(&run, s);
		}
		goto out;
	}
	if ((st = cli_cmd_connect(&run, s)) != CLI_EXIT_OK) {
		goto out;
	}
	if (run.entry->prepare != NULL &&
	    (st = run.entry->prepare(&run, s)) != CLI_EXIT_OK) {
		goto out;
	}
	key = cJSON_GetObjectItemCaseSensitive(run.req, "key");
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
		st = cli_session_request(s, run.req,
		    run.entry->timeout_ms > 0 ? run.entry->timeout_ms :
		    CLI_REPLY_MS, &reply, &raw);
		if (key == NULL || !cli_cmd_unknown(st, reply)) {
			break;
		}
	}
	unknown = cli_cmd_unknown(st, reply);
	if (st == CLI_EXIT_OK) {
		st = cli_cmd_show(&run, reply, raw);
	}
	if (unknown && run.entry->lost != NULL) {
		cli_error("%s", run.entry->lost);
		if (cJSON_IsString(key)) {
			cli_error("its key: --key %s", key->valuestring);
		}
	}
out:
	fflush(stdout);
	cJSON_Delete(reply);
	free(raw);
	cli_cmd_run_free(&run);
	return st;
}
