/*
 * The command specification (common/spec.c) that drinkd dispatches with
 * and drink parses with: every entry is walked for what both programs
 * assume of it, the dispatcher has a handler for each command, and the
 * rules spec_check() applies are the protocol's.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "drinkd.h"
#include "harness.h"

START_TEST(every_command_has_a_handler)
{
	char err[256] = "";

	ck_assert_msg(cmd_table_check(err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_ge(spec_count, 26);
}
END_TEST

/* Protocol names: lower-case words joined by "_", each unique. */
START_TEST(command_names_are_unique_protocol_words)
{
	size_t i, j;
	const char *p;

	for (i = 0; i < spec_count; i++) {
		const struct spec_cmd *c = &spec_table[i];

		ck_assert_msg(c->name != NULL && c->name[0] >= 'a' &&
		    c->name[0] <= 'z', "bad name at %zu", i);
		for (p = c->name; *p != '\0'; p++) {
			ck_assert_msg((*p >= 'a' && *p <= 'z') || *p == '_',
			    "%s: bad character", c->name);
		}
		ck_assert_msg(c->summary != NULL && strlen(c->summary) > 5,
		    "%s: no summary", c->name);
		ck_assert_msg(c->role == SPEC_ANYONE ||
		    c->role == SPEC_MEMBER || c->role == SPEC_ADMIN,
		    "%s: bad role", c->name);
		for (j = i + 1; j < spec_count; j++) {
			ck_assert_msg(strcmp(c->name, spec_table[j].name) != 0,
			    "%s twice", c->name);
		}
		ck_assert_ptr_eq(spec_find(c->name), c);
	}
	ck_assert_ptr_null(spec_find("no_such_command"));
}
END_TEST

/* Option names a command's parser would confuse, within one command. */
static void
check_unique_option(const struct spec_cmd *c, const char **seen, size_t *n,
    const char *opt)
{
	size_t i;

	if (opt == NULL) {
		return;
	}
	ck_assert_msg(strcmp(opt, "help") != 0 && strcmp(opt, "yes") != 0,
	    "%s: --%s is drink's own", c->name, opt);
	for (i = 0; i < *n; i++) {
		ck_assert_msg(strcmp(seen[i], opt) != 0, "%s: --%s twice",
		    c->name, opt);
	}
	seen[(*n)++] = opt;
}

/*
 * What drink's parser and usage assume of each argument: a field and help
 * text; sane bounds; a metavar for words, a name for options; the words in
 * an order that can be parsed (required before optional, REST last).
 */
START_TEST(every_argument_is_described_for_both_programs)
{
	const char *opts[SPEC_MAX_ARGS * 3];
	size_t i, k, j, nopts;

	for (i = 0; i < spec_count; i++) {
		const struct spec_cmd *c = &spec_table[i];
		int optional_word = 0, rest = 0;

		nopts = 0;
		ck_assert_uint_le(spec_nargs(c), SPEC_MAX_ARGS - 1);
		for (k = 0; k < spec_nargs(c); k++) {
			const struct spec_arg *a = &c->args[k];

			ck_assert_msg(a->help != NULL && a->help[0] != '\0',
			    "%s.%s: no help", c->name, a->field);
			ck_assert_msg(a->min <= a->max || a->type ==
			    SPEC_T_NAME || a->type == SPEC_T_ROLE ||
			    a->type == SPEC_T_KIND || a->type == SPEC_T_BOOL,
			    "%s.%s: min > max", c->name, a->field);
			for (j = k + 1; j < spec_nargs(c); j++) {
				ck_assert_msg(strcmp(a->field,
				    c->args[j].field) != 0, "%s.%s twice",
				    c->name, a->field);
			}
			ck_assert_msg(spec_secret(a) ?
			    a->form == SPEC_F_SECRET ||
			    a->form == SPEC_F_HIDDEN :
			    a->form != SPEC_F_SECRET, "%s.%s: secrets are "
			    "asked, never typed", c->name, a->field);
			ck_assert_msg(!rest || (a->form != SPEC_F_WORD &&
			    a->form != SPEC_F_REST), "%s: words after a REST",
			    c->name);
			switch (a->form) {
			case SPEC_F_WORD:
			case SPEC_F_REST:
				ck_assert_msg(a->meta != NULL, "%s.%s: no "
				    "metavar", c->name, a->field);
				ck_assert_msg(!optional_word ||
				    !(a->flags & SPEC_A_REQ), "%s.%s: required "
				    "after optional", c->name, a->field);
				optional_word |= !(a->flags & SPEC_A_REQ);
				rest = a->form == SPEC_F_REST;
				break;
			case SPEC_F_OPTION:
				ck_assert_msg(a->opt != NULL && a->meta != NULL,
				    "%s.%s: option without name or metavar",
				    c->name, a->field);
				ck_assert_msg(!(a->flags & SPEC_A_REQ),
				    "%s.%s: a required option", c->name,
				    a->field);
				check_unique_option(c, opts, &nopts, a->opt);
				check_unique_option(c, opts, &nopts, a->on);
				break;
			case SPEC_F_SWITCH:
				ck_assert_msg(a->type == SPEC_T_BOOL &&
				    a->on != NULL && a->off != NULL,
				    "%s.%s: switch", c->name, a->field);
				check_unique_option(c, opts, &nopts, a->on);
				check_unique_option(c, opts, &nopts, a->off);
				break;
			case SPEC_F_SECRET:
				ck_assert_msg((a->flags & SPEC_A_REQ) ||
				    a->opt != NULL, "%s.%s: optional secret "
				    "without an option", c->name, a->field);
				check_unique_option(c, opts, &nopts, a->opt);
				break;
			case SPEC_F_HIDDEN:
				break;
			}
		}
		ck_assert_msg(!(c->flags & SPEC_CMD_SOME) || optional_word ||
		    nopts > 0, "%s: SOME without optional arguments",
		    c->name);
	}
}
END_TEST

static const struct spec_arg *
arg(const char *cmd, const char *field)
{
	const struct spec_cmd *c = spec_find(cmd);
	const struct spec_arg *a;

	ck_assert_msg(c != NULL, "no command %s", cmd);
	a = spec_arg_find(c, field);
	ck_assert_msg(a != NULL, "no %s.%s", cmd, field);
	return a;
}

/* The bounds PROTOCOL.md states, where the two tables used to differ. */
START_TEST(bounds_are_the_protocol_s)
{
	ck_assert_int_eq(arg("drop", "slot")->min, 1);
	ck_assert_int_eq(arg("drop", "slot")->max, 255);
	ck_assert_int_eq(arg("drop", "delay")->min, 0);
	ck_assert_int_eq(arg("drop", "delay")->max, 300);
	ck_assert_int_eq(arg("history", "limit")->max, 1000);
	ck_assert_int_eq(arg("log", "limit")->min, 1);
	ck_assert_int_eq(arg("log", "limit")->max, 1000);
	ck_assert_int_eq(arg("log", "since")->min, 0);
	ck_assert_int_eq(arg("kick", "session")->min, 1);
	ck_assert_int_eq(arg("login", "password")->max, 1024);
	ck_assert_int_eq(arg("passwd", "new")->max, PROTO_PASSWORD_MAX);
	ck_assert_int_eq(arg("send", "amount")->min, 1);
	ck_assert_int_eq(arg("send", "amount")->max, PROTO_MAX_AMOUNT);
	ck_assert_int_eq(arg("set_balance", "balance")->min, 0);
	ck_assert_int_eq(arg("send", "note")->max, PROTO_NOTE_MAX);
	ck_assert_int_eq(arg("machine_add", "name")->min, 1);
	ck_assert_int_eq(spec_find("user_add")->role, SPEC_ADMIN);
	ck_assert_int_eq(spec_find("drop")->role, SPEC_MEMBER);
	ck_assert_int_eq(spec_find("slots")->role, SPEC_ANYONE);
}
END_TEST

static int
check(const struct spec_arg *a, const char *json, int integer, char *why)
{
	cJSON *v = cJSON_Parse(json);
	int rc;

	ck_assert_ptr_nonnull(v);
	why[0] = '\0';
	rc = spec_check(a, v, integer, why, 256);
	cJSON_Delete(v);
	return rc;
}

START_TEST(checks_say_the_rule_in_plain_words)
{
	char why[256];

	ck_assert_int_eq(check(arg("send", "to"), "\"bob\"", 0, why),
	    ERR_NONE);
	ck_assert_int_eq(check(arg("send", "to"), "\"Bob\"", 0, why),
	    ERR_BAD_REQUEST);
	ck_assert_str_eq(why, "must be a user name: lower-case letters, "
	    "digits, '_', '.' or '-', starting with a letter, at most 32 "
	    "characters");
	ck_assert_int_eq(check(arg("slots", "machine"), "7", 1, why),
	    ERR_BAD_REQUEST);
	ck_assert(strstr(why, "machine id") != NULL);
	ck_assert_int_eq(check(arg("log", "kind"), "\"bogus\"", 0, why),
	    ERR_BAD_REQUEST);
	ck_assert_str_eq(why, "must be one of drop, refund, transfer, credit, "
	    "debit or adjust");
	ck_assert_int_eq(check(arg("log", "kind"), "\"adjust\"", 0, why),
	    ERR_NONE);
	ck_assert_int_eq(check(arg("user_mod", "role"), "\"root\"", 0, why),
	    ERR_BAD_REQUEST);
	ck_assert_str_eq(why, "must be member or admin");
	/* Money out of range is invalid_amount; not a number, bad_request. */
	ck_assert_int_eq(check(arg("send", "amount"), "0", 1, why),
	    ERR_INVALID_AMOUNT);
	ck_assert_str_eq(why, "must be a whole number from 1 to 1000000000");
	ck_assert_int_eq(check(arg("send", "amount"), "1.5", 0, why),
	    ERR_INVALID_AMOUNT);
	ck_assert_int_eq(check(arg("send", "amount"), "\"5\"", 0, why),
	    ERR_BAD_REQUEST);
	ck_assert_int_eq(check(arg("send", "amount"), "5", 1, why),
	    ERR_NONE);
	ck_assert_int_eq(check(arg("drop", "slot"), "256", 1, why),
	    ERR_BAD_REQUEST);
	ck_assert_str_eq(why, "must be a whole number from 1 to 255");
	ck_assert_int_eq(check(arg("kick", "session"), "0", 1, why),
	    ERR_BAD_REQUEST);
	ck_assert_int_eq(check(arg("machine_add", "name"), "\"\"", 0, why),
	    ERR_BAD_REQUEST);
	ck_assert_str_eq(why, "must be 1 to 200 bytes long and not blank");
	/* A name or an item of blanks only shows as nothing at all. */
	ck_assert_int_eq(check(arg("machine_add", "name"), "\" \\t \"", 0,
	    why), ERR_BAD_REQUEST);
	ck_assert_int_eq(check(arg("slot_set", "item"), "\"  \"", 0, why),
	    ERR_BAD_REQUEST);
	ck_assert_str_eq(why, "must be 1 to 200 bytes long and not blank");
	ck_assert_int_eq(check(arg("slot_set", "item"), "\" Tea \"", 0, why),
	    ERR_NONE);
	ck_assert_int_eq(check(arg("send", "note"), "\"\"", 0, why),
	    ERR_NONE);
	ck_assert_int_eq(check(arg("send", "note"), "\"  \"", 0, why),
	    ERR_NONE);
	ck_assert_int_eq(check(arg("machine_mod", "enabled"), "1", 1, why),
	    ERR_BAD_REQUEST);
	ck_assert_str_eq(why, "must be true or false");
	ck_assert_int_eq(check(arg("log", "since"), "-1", 1, why),
	    ERR_BAD_REQUEST);
	ck_assert(strstr(why, "unix seconds") != NULL);
}
END_TEST

START_TEST(drink_names_use_dashes)
{
	char name[64];

	spec_cli_name(spec_find("set_balance"), name, sizeof(name));
	ck_assert_str_eq(name, "set-balance");
	spec_cli_name(spec_find("drop"), name, sizeof(name));
	ck_assert_str_eq(name, "drop");
	ck_assert(spec_find("tokens")->flags & SPEC_CMD_NOCLI);
	spec_cli_name(spec_find("subscribe"), name, sizeof(name));
	ck_assert_str_eq(name, "watch");
	ck_assert(spec_find("machine_del")->flags & SPEC_CMD_CONFIRM);
	ck_assert(spec_find("slot_set")->flags & SPEC_CMD_SOME);
}
END_TEST

static Suite *
spec_suite(void)
{
	Suite *s = suite_create("spec");
	TCase *tc;

	tc = tcase_create("the table");
	tcase_add_test(tc, every_command_has_a_handler);
	tcase_add_test(tc, command_names_are_unique_protocol_words);
	tcase_add_test(tc, every_argument_is_described_for_both_programs);
	tcase_add_test(tc, bounds_are_the_protocol_s);
	tcase_add_test(tc, drink_names_use_dashes);
	suite_add_tcase(s, tc);
	tc = tcase_create("argument rules");
	tcase_add_test(tc, checks_say_the_rule_in_plain_words);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int failed = h_run(spec_suite());

	return failed == 0 ? 0 : 1;
}
