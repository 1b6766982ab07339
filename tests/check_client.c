/*
 * drink, the client, run as a person or a script runs it against a real
 * drinkd: every exit status with its one-line message, --json for every
 * command, where settings come from, the password prompt, and the
 * interactive shell on a pseudo-terminal (editing, history, completion,
 * Ctrl-C, the notice when the server closes the session).
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "fake.h"
#include "harness.h"
#include "legacy.h"
#include "run.h"

#define CLIENT_MS 60000		/* a drink run must end by then */
#define PTY_MS 20000		/* text expected on the terminal */
#define ENV_MAX 24

static struct h_server *srv;
static char *home;		/* HOME of the client: config, history */
static char *conf;		/* HOME/drink.conf: host, port, ca */
static char *drink_bin;

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	ck_assert_msg(fp != NULL, "cannot write %s", path);
	fputs(text, fp);
	ck_assert_int_eq(fclose(fp), 0);
}

static void
write_conf(const char *path, int port)
{
	char *ca = h_cert_path("ca.crt");
	char *text = xasprintf("# client settings for the test\n"
	    "host = localhost\nport = %d\nca = %s\n", port, ca);

	write_file(path, text);
	free(text);
	free(ca);
}

static void
setup(void)
{
	srv = h_machine_server_start("vend_timeout = 5");
	home = h_tmpdir();
	conf = xasprintf("%s/drink.conf", home);
	write_conf(conf, srv->port);
	drink_bin = run_bin("drink");
	h_admin(srv, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Big Drink\"}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":1,"
	    "\"item\":\"Cola\",\"price\":10,\"stock\":5}", NULL);
}

static void
teardown(void)
{
	h_server_free(srv);
	srv = NULL;
	free(home);
	free(conf);
	free(drink_bin);
}

/*
 * The environment a test runs drink in: a private HOME, the test config
 * as DRINK_CONFIG, then the NAME=value strings in extra (NULL-ended; a
 * later one replaces an earlier one of the same name, "NAME=" sets it
 * empty, and "NAME" alone only removes it).
 */
static void
make_env(const char **env, char **own, const char *const *extra)
{
	const char *base[ENV_MAX];
	size_t n = 0, i, j, k = 0, len;

	own[0] = xasprintf("HOME=%s", home);
	own[1] = xasprintf("DRINK_CONFIG=%s", conf);
	own[2] = xasprintf("XDG_STATE_HOME=%s/state", home);
	own[3] = NULL;
	base[n++] = own[0];
	base[n++] = own[1];
	base[n++] = own[2];
	base[n++] = "PATH=/usr/bin:/bin";
	base[n++] = "TERM=xterm";
	base[n++] = "LC_ALL=C";
	for (i = 0; extra != NULL && extra[i] != NULL && n < ENV_MAX; i++) {
		len = strcspn(extra[i], "=");
		for (j = 0; j < n; j++) {
			if (base[j] != NULL && strncmp(base[j], extra[i],
			    len) == 0 && base[j][len] == '=') {
				base[j] = NULL;
			}
		}
		base[n++] = extra[i][len] == '=' ? extra[i] : NULL;
	}
	for (i = 0; i < n; i++) {
		if (base[i] != NULL) {
			env[k++] = base[i];
		}
	}
	env[k] = NULL;
}

static void
free_env(char **own)
{
	int i;

	for (i = 0; own[i] != NULL; i++) {
		free(own[i]);
	}
}

/* Run drink with argv words (NULL-ended) in the test environment. */
static void
drink_env(struct run_result *r, const char *const *extra, const char *input,
    const char *out_path, ...)
{
	const char *argv[32], *env[ENV_MAX + 1], *w;
	char *own[4];
	va_list ap;
	int n = 0;

	argv[n++] = drink_bin;
	va_start(ap, out_path);
	while ((w = va_arg(ap, const char *)) != NULL && n < 31) {
		argv[n++] = w;
	}
	va_end(ap);
	argv[n] = NULL;
	make_env(env, own, extra);
	run_prog(argv, env, input, out_path, CLIENT_MS, r);
	free_env(own);
}

#define DRINK(r, ...) drink_env(r, NULL, NULL, NULL, __VA_ARGS__, NULL)
#define DRINK_AS(r, user, pw, ...) do {					\
	const char *const as_env_[] = { "DRINK_PASSWORD=" pw, NULL };	\
	drink_env(r, as_env_, NULL, NULL, "-u", user, __VA_ARGS__, NULL); \
} while (0)

/* The status, standard output and standard error are exactly these. */
static void
expect_run(struct run_result *r, int status, const char *out,
    const char *err)
{
	ck_assert_msg(r->status == status, "exit %d, wanted %d; stdout: %s; "
	    "stderr: %s", r->status, status, r->out, r->err);
	if (out != NULL) {
		ck_assert_str_eq(r->out, out);
	}
	if (err != NULL) {
		ck_assert_str_eq(r->err, err);
	}
	run_result_free(r);
}

/*
 * As expect_run for texts too long for Check to print whole: a mismatch
 * shows where the two part.
 */
static void
expect_long(struct run_result *r, int status, const char *out,
    const char *err)
{
	const char *got[2] = { r->out, r->err }, *want[2] = { out, err };
	size_t i, k;

	ck_assert_msg(r->status == status, "exit %d, wanted %d; stderr: %s",
	    r->status, status, r->err);
	for (k = 0; k < 2; k++) {
		for (i = 0; got[k][i] != '\0' && got[k][i] == want[k][i];
		    i++) {
			continue;
		}
		ck_assert_msg(got[k][i] == want[k][i], "%s differs at byte "
		    "%zu: got '%.80s', wanted '%.80s'", k == 0 ? "stdout" :
		    "stderr", i, got[k] + i, want[k] + i);
	}
	run_result_free(r);
}

/* ---- exit statuses and their messages --------------------------------- */

START_TEST(exit_0_prints_the_answer)
{
	struct run_result r;

	DRINK(&r, "slots", "m1");
	expect_run(&r, 0, "SLOT  ITEM  PRICE  STOCK  ENABLED\n"
	    "   1  Cola     10      5  yes\n", "");
	DRINK_AS(&r, "alice", "alicepw", "balance");
	expect_run(&r, 0, "Balance: 100\n", "");
	DRINK_AS(&r, "alice", "alicepw", "send", "bob", "30", "pizza");
	ck_assert(strstr(r.out, "Sent 30 to bob (tx ") == r.out);
	ck_assert(strstr(r.out, "balance 70\n") != NULL);
	expect_run(&r, 0, NULL, "");
	ck_assert_int_eq(h_balance(srv, "bob"), 30);
}
END_TEST

START_TEST(exit_1_is_a_refusal_in_plain_words)
{
	const char *const wrong_old[] = { "DRINK_PASSWORD=wrong",
		"DRINK_NEW_PASSWORD=newpw", NULL };
	struct run_result r;

	DRINK_AS(&r, "alice", "wrong", "balance");
	expect_run(&r, 1, "", "drink: wrong user name or password "
	    "(bad_credentials)\n");
	DRINK(&r, "balance");
	expect_run(&r, 1, "", "drink: log in first; use -u USER or a member "
	    "certificate (auth_required)\n");
	/* The shell takes no -u: it says how to log in from there. */
	drink_env(&r, NULL, "balance\nlogin\n", NULL, NULL);
	expect_run(&r, 2, "", "drink: log in first; quit, then start drink "
	    "-u USER (or keep a login with drink -u USER login), or use a "
	    "member certificate (auth_required)\n"
	    "drink: login: quit, then start drink -u USER to log in as USER\n");
	DRINK_AS(&r, "alice", "alicepw", "users");
	expect_run(&r, 1, "", "drink: only admins may do that (forbidden)\n");
	DRINK_AS(&r, "alice", "alicepw", "send", "carol", "1");
	expect_run(&r, 1, "", "drink: there is no user carol "
	    "(no_such_user)\n");
	DRINK_AS(&r, "alice", "alicepw", "send", "bob", "500");
	expect_run(&r, 1, "", "drink: insufficient funds: balance 100, "
	    "amount 500 (insufficient_funds)\n");
	/* An admin's debit names whose balance falls short, and by what. */
	DRINK_AS(&r, "admin", "adminpw", "debit", "alice", "500", "payout");
	expect_run(&r, 1, "", "drink: insufficient funds: alice's balance "
	    "100, amount 500 (insufficient_funds)\n");
	DRINK(&r, "slots", "m9");
	expect_run(&r, 1, "", "drink: there is no machine m9 "
	    "(no_such_machine)\n");
	/* A slot the machine lacks is found before anything is bought. */
	DRINK_AS(&r, "alice", "alicepw", "drop", "m1", "99");
	expect_run(&r, 1, "", "drink: machine m1 has no slot 99 "
	    "(no_such_slot)\n");
	DRINK_AS(&r, "alice", "alicepw", "drop", "m1", "1");
	expect_run(&r, 1, "Dropping Cola from Big Drink slot 1 ...\n",
	    "drink: machine m1 is offline (machine_offline)\n");
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	/* Logged in by a kept login, passwd can only get the old one wrong. */
	DRINK_AS(&r, "alice", "alicepw", "login");
	expect_run(&r, 0, NULL, "");
	drink_env(&r, wrong_old, NULL, NULL, "passwd", NULL);
	expect_run(&r, 1, "", "drink: the current password is wrong "
	    "(bad_credentials)\n");
	DRINK(&r, "logout");
	expect_run(&r, 0, NULL, "");
}
END_TEST

/* Where the server says more than the code's default message, drink says it. */
START_TEST(refusals_keep_the_servers_own_words)
{
	const char *const admin[] = { "DRINK_PASSWORD=adminpw",
		"DRINK_NEW_PASSWORD=newpw", NULL };
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 0);
	struct run_result r;
	char tx[32];

	DRINK_AS(&r, "alice", "alicepw", "drop", "m1", "1");
	expect_run(&r, 0, NULL, "");
	fake_stop(f);
	snprintf(tx, sizeof(tx), "%lld", (long long)h_sql_int(srv,
	    "SELECT max(id) FROM tx WHERE kind = 'drop'"));
	drink_env(&r, admin, NULL, NULL, "-u", "admin", "refund", tx, "sorry",
	    NULL);
	/* The balance shown is the member's, not the admin's. */
	ck_assert_msg(strstr(r.out, "; the member's balance is 100\n") !=
	    NULL, "%s", r.out);
	expect_run(&r, 0, NULL, "");
	drink_env(&r, admin, NULL, NULL, "-u", "admin", "refund", tx, "again",
	    NULL);
	expect_run(&r, 1, "", "drink: that drop has already been refunded "
	    "(conflict)\n");
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	/* The member's history says the drop was refunded, and by which. */
	DRINK_AS(&r, "alice", "alicepw", "history");
	{
		char *want = xasprintf("refunded (tx %lld)", (long long)
		    h_sql_int(srv, "SELECT max(id) FROM tx WHERE kind = "
		    "'refund'"));

		const char *drop = strstr(r.out, " drop ");
		const char *eol = drop != NULL ? strchr(drop, '\n') : NULL;
		const char *said = strstr(r.out, want);

		ck_assert_msg(said != NULL && drop != NULL && said > drop &&
		    (eol == NULL || said < eol), "%s", r.out);
		free(want);
	}
	expect_run(&r, 0, NULL, "");
	/* A key reused: the server's default words, so drink's own. */
	drink_env(&r, admin, NULL, NULL, "-u", "admin", "credit", "bob", "5",
	    "cash", "--key", "k1", NULL);
	expect_run(&r, 0, NULL, "");
	drink_env(&r, admin, NULL, NULL, "-u", "admin", "credit", "bob", "6",
	    "cash", "--key", "k1", NULL);
	expect_run(&r, 1, "", "drink: the key k1 was already used with other "
	    "arguments (conflict)\n");
	/* Users and machines share names; the server says which has it. */
	drink_env(&r, admin, NULL, NULL, "-u", "admin", "user-add", "m1",
	    NULL);
	expect_run(&r, 1, "", "drink: that name is taken by a machine "
	    "(exists)\n");
	drink_env(&r, admin, NULL, NULL, "-u", "admin", "user-add", "bob",
	    NULL);
	expect_run(&r, 1, "", "drink: that name is taken by a user "
	    "(exists)\n");
	/* The last admin stays one. */
	drink_env(&r, admin, NULL, NULL, "-u", "admin", "user-mod", "admin",
	    "--role", "member", NULL);
	expect_run(&r, 1, "", "drink: admin is the last admin; make another "
	    "admin first (conflict)\n");
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM users"
	    " WHERE name = 'admin' AND role = 'admin'"), 1);
}
END_TEST

/*
 * One code, several reasons: the server's words say which, and drink
 * does not put its own guess in their place.
 */
START_TEST(refusals_give_the_servers_reason)
{
	struct run_result r;
	struct fake *f;

	h_admin(srv, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"enabled\":false}", NULL);
	DRINK_AS(&r, "alice", "alicepw", "drop", "m1", "1");
	expect_run(&r, 1, "Dropping Cola from Big Drink slot 1 ...\n",
	    "drink: machine m1 is disabled (machine_offline)\n");
	DRINK_AS(&r, "alice", "alicepw", "--json", "drop", "m1", "1");
	ck_assert_msg(strstr(r.out, "\"message\":\"machine m1 is "
	    "disabled\"") != NULL, "%s", r.out);
	expect_run(&r, 1, NULL, "");
	h_admin(srv, "{\"cmd\":\"machine_mod\",\"machine\":\"m1\","
	    "\"enabled\":true}", NULL);
	/* A machine that never answers: the server says how it ended. */
	f = fake_start(srv, "m1", FAKE_SILENT, 0);
	DRINK_AS(&r, "alice", "alicepw", "drop", "m1", "1");
	expect_run(&r, 1, "Dropping Cola from Big Drink slot 1 ...\n",
	    "drink: the machine did not answer in time; nothing charged "
	    "(drop_timeout)\n");
	fake_stop(f);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	/* A refusal: the controller's reason, "nothing charged" once. */
	f = fake_start(srv, "m1", FAKE_NACK, 0);
	DRINK_AS(&r, "alice", "alicepw", "drop", "m1", "1");
	expect_run(&r, 1, "Dropping Cola from Big Drink slot 1 ...\n",
	    "drink: the machine refused: jammed: slot motor stuck; nothing "
	    "charged (drop_failed)\n");
	fake_stop(f);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
	/* Where the server gives only the code's default, drink's words. */
	DRINK_AS(&r, "alice", "alicepw", "drop", "m1", "2");
	expect_run(&r, 1, "", "drink: machine m1 has no slot 2 "
	    "(no_such_slot)\n");
}
END_TEST

/* Changing one's own account is confirmed, then the session ends. */
START_TEST(own_account_change_is_confirmed)
{
	const char *const admin[] = { "DRINK_PASSWORD=adminpw", NULL };
	struct run_result r;

	drink_env(&r, admin, NULL, NULL, "-u", "admin", "user-mod", "alice",
	    "--role", "admin", NULL);
	expect_run(&r, 0, "User alice updated\n", "");
	drink_env(&r, admin, NULL, NULL, "-u", "admin", "user-mod", "admin",
	    "--role", "member", NULL);
	expect_run(&r, 0, "User admin updated; that ended your session\n",
	    "");
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM users"
	    " WHERE name = 'admin' AND role = 'member'"), 1);
	drink_env(&r, admin, NULL, NULL, "-u", "admin", "users", NULL);
	expect_run(&r, 1, "", "drink: only admins may do that (forbidden)\n");
}
END_TEST

START_TEST(exit_2_is_a_usage_error_naming_the_rule)
{
	struct run_result r;

	DRINK(&r, "bogus");
	expect_run(&r, 2, "", "drink: unknown command 'bogus' (try drink "
	    "help)\n");
	/* The shell is drink without a command, as the one asking is told. */
	DRINK(&r, "shell");
	expect_run(&r, 2, "", "drink: unknown command 'shell': drink without "
	    "a command is the shell\n");
	DRINK(&r, "us");
	expect_run(&r, 2, "", "drink: ambiguous command 'us': user-add, "
	    "user-mod, users\n");
	DRINK(&r, "send", "Bob", "1");
	expect_run(&r, 2, "", "drink: send: USER must be a user name: "
	    "lower-case letters, digits, '_', '.' or '-', starting with a "
	    "letter, at most 32 characters, not 'Bob'\n");
	DRINK(&r, "log", "--kind", "bogus");
	expect_run(&r, 2, "", "drink: log: --kind must be one of drop, "
	    "refund, transfer, credit, debit or adjust, not 'bogus'\n");
	DRINK(&r, "log", "--since", "yesterday");
	expect_run(&r, 2, "", "drink: log: --since must be a date "
	    "YYYY-MM-DD, a time YYYY-MM-DD HH:MM, or unix seconds, not "
	    "'yesterday'\n");
	DRINK(&r, "log", "--limit", "1001");
	expect_run(&r, 2, "", "drink: log: --limit must be a whole number "
	    "from 1 to 1000, not '1001'\n");
	/* A range the wrong way round (a day's --until is its end). */
	DRINK(&r, "log", "--since", "2026-01-02", "--until", "2026-01-01");
	expect_run(&r, 2, "", "drink: log: --since is later than --until: "
	    "no transaction could match\n");
	DRINK(&r, "log", "--since", "1000", "--until=999");
	expect_run(&r, 2, "", "drink: log: --since is later than --until: "
	    "no transaction could match\n");
	DRINK(&r, "kick", "0");
	expect_run(&r, 2, "", "drink: kick: SESSION must be a whole number "
	    "from 1 to 9007199254740992, not '0'\n");
	DRINK(&r, "drop", "m1");
	expect_run(&r, 2, "", "drink: drop: SLOT missing; usage: drink drop "
	    "MACHINE SLOT [--delay SECONDS] [--key KEY]\n");
	DRINK(&r, "drop", "m1", "1", "--delay");
	expect_run(&r, 2, "", "drink: drop: --delay needs a value "
	    "(SECONDS)\n");
	DRINK(&r, "drop", "m1", "1", "--bogus");
	expect_run(&r, 2, "", "drink: drop: unknown option '--bogus' (see "
	    "drink help drop)\n");
	DRINK(&r, "user-mod", "alice");
	expect_run(&r, 2, "", "drink: user-mod: nothing to change; usage: "
	    "drink user-mod USER [--role ROLE] [--disable|--enable] "
	    "[--password]\n");
	DRINK(&r, "slot-set", "m1", "3");
	expect_run(&r, 2, "", "drink: slot-set: nothing to change; usage: "
	    "drink slot-set MACHINE SLOT [--item ITEM] [--price N] "
	    "[--stock N] [--enable|--disable]\n");
	DRINK(&r, "machine-add", "x", "");
	expect_run(&r, 2, "", "drink: machine-add: NAME... must be 1 to 200 "
	    "bytes long and not blank, not ''\n");
	DRINK(&r, "slot-set", "m1", "1", "--item", "  ");
	expect_run(&r, 2, "", "drink: slot-set: --item must be 1 to 200 "
	    "bytes long and not blank, not '  '\n");
	/* An admin's money note says why; send's may be left out. */
	DRINK(&r, "credit", "bob", "5", "");
	expect_run(&r, 2, "", "drink: credit: NOTE must be 1 to 200 bytes "
	    "long and not blank, not ''\n");
	DRINK(&r, "debit", "bob", "5", "   ");
	expect_run(&r, 2, "", "drink: debit: NOTE must be 1 to 200 bytes "
	    "long and not blank, not '   '\n");
	DRINK(&r, "set-balance", "bob", "5", " ", "--yes");
	expect_run(&r, 2, "", "drink: set-balance: NOTE must be 1 to 200 "
	    "bytes long and not blank, not ' '\n");
	DRINK(&r, "refund", "1", "\t");
	expect_run(&r, 2, "", "drink: refund: NOTE must be 1 to 200 bytes "
	    "long and not blank, not '\t'\n");
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM tx WHERE "
	    "kind IN ('credit', 'debit', 'adjust', 'refund') AND "
	    "note NOT LIKE 'initial%%'"), 0);
	DRINK(&r, "machine-mod", "m1", "--enable", "--disable");
	expect_run(&r, 2, "", "drink: machine-mod: --disable given twice, "
	    "or conflicts with an earlier option\n");
	/* Destructive, and no terminal to confirm on. */
	DRINK_AS(&r, "admin", "adminpw", "machine-del", "m1");
	expect_run(&r, 2, "", "drink: machine-del: this cannot be undone, and "
	    "there is no terminal to confirm on; add --yes\n");
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM machines"), 1);
	DRINK_AS(&r, "admin", "adminpw", "machine-del", "m1", "--yes");
	expect_run(&r, 0, "Machine m1 deleted\n", "");
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM machines"), 0);
	/* No password and no terminal to ask on. */
	DRINK(&r, "-u", "alice", "balance");
	expect_run(&r, 2, "", NULL);
	/*
	 * A name no user can have is said before a password is asked for
	 * and sent, wherever it came from.
	 */
	DRINK_AS(&r, "Alice", "alicepw", "balance");
	expect_run(&r, 2, "", "drink: -u must be a user name: lower-case "
	    "letters, digits, '_', '.' or '-', starting with a letter, at "
	    "most 32 characters, not 'Alice'\n");
	DRINK(&r, "-u", "", "balance");
	expect_run(&r, 2, "", "drink: -u must be a user name: lower-case "
	    "letters, digits, '_', '.' or '-', starting with a letter, at "
	    "most 32 characters, not ''\n");
	{
		char *bad = xasprintf("%s/bad-user.conf", home);
		char *dc = xasprintf("DRINK_CONFIG=%s", bad);
		const char *const env[] = { dc, "DRINK_PASSWORD=x", NULL };

		write_file(bad, "user = alice smith\n");
		drink_env(&r, env, NULL, NULL, "balance", NULL);
		expect_run(&r, 2, "", NULL);
		free(dc);
		free(bad);
	}
	DRINK(&r, "--bogus");
	expect_run(&r, 2, "", "drink: unknown option '--bogus' (try "
	    "--help)\n");
	DRINK(&r, "--json=yes", "machines");
	expect_run(&r, 2, "", "drink: option '--json' takes no value\n");
}
END_TEST

START_TEST(help_is_generated_from_the_specification)
{
	struct run_result r;
	const char *drop_help = "usage: drink drop MACHINE SLOT "
	    "[--delay SECONDS] [--key KEY]\n\nBuy the item in a slot and drop "
	    "it (needs a login).\n\n"
	    "  MACHINE            the machine's id (see machines)\n"
	    "  SLOT               slot number (see slots); 1 to 255\n"
	    "  --delay SECONDS    wait this long before dropping, to walk to "
	    "the machine; 0 to 300\n"
	    "  --key KEY          idempotency key: repeating the command with "
	    "it never applies it twice\n";

	DRINK(&r, "drop", "--help");
	expect_run(&r, 0, drop_help, "");
	DRINK(&r, "help", "drop");
	expect_run(&r, 0, drop_help, "");
	DRINK(&r, "drop", "m1", "-h");
	expect_run(&r, 0, drop_help, "");
	/* -h is not sent to the server as a machine. */
	DRINK(&r, "slots", "-h");
	ck_assert(strncmp(r.out, "usage: drink slots MACHINE\n", 27) == 0);
	expect_run(&r, 0, NULL, "");
	DRINK(&r, "help", "help");
	ck_assert(strncmp(r.out, "usage: drink help [COMMAND]\n", 28) == 0);
	expect_run(&r, 0, NULL, "");
	DRINK(&r, "help", "--help");
	ck_assert(strncmp(r.out, "usage: drink help [COMMAND]\n", 28) == 0);
	expect_run(&r, 0, NULL, "");
	/* The shell is named, for whoever looks for a "drink shell". */
	DRINK(&r, "--help");
	ck_assert_msg(strstr(r.out, "\nWithout COMMAND, drink is a shell: it "
	    "reads commands, one a line, from\nstandard input (on a terminal "
	    "with line editing and Tab completion);\n") != NULL, "%s", r.out);
	expect_run(&r, 0, NULL, "");
	/* Logging in needs no login: not said. */
	DRINK(&r, "login", "--help");
	expect_run(&r, 0, "usage: drink login\n\nLog in as -u USER and keep "
	    "the login (a token).\n", "");
	/* A role's rule once, every form in one column. */
	DRINK(&r, "user-mod", "--help");
	ck_assert_msg(strstr(r.out, "  --role ROLE        the new role; member "
	    "or admin\n") != NULL, "%s", r.out);
	expect_run(&r, 0, NULL, "");
	DRINK(&r, "user-add", "--help");
	ck_assert_msg(strstr(r.out, "  --role ROLE|--admin the new user's "
	    "role, member unless given (--admin is --role admin); member or "
	    "admin\n  --balance N         opening balance;") != NULL, "%s",
	    r.out);
	expect_run(&r, 0, NULL, "");
	DRINK(&r, "help", "machine-del");
	ck_assert(strstr(r.out, "  --yes              do not ask for "
	    "confirmation\n") != NULL);
	expect_run(&r, 0, NULL, "");
	/* Where a password comes from without a terminal. */
	DRINK(&r, "help", "passwd");
	ck_assert_msg(strstr(r.out, "  (asked)            the current "
	    "password; taken from $DRINK_PASSWORD when set\n"
	    "  (asked)            the new password; taken from "
	    "$DRINK_NEW_PASSWORD when set\n") != NULL, "%s", r.out);
	expect_run(&r, 0, NULL, "");
	DRINK(&r, "user-add", "--help");
	ck_assert_msg(strstr(r.out, "the new user's password; taken from "
	    "$DRINK_NEW_PASSWORD when set\n") != NULL, "%s", r.out);
	expect_run(&r, 0, NULL, "");
	DRINK(&r, "help", "machine-mod");
	ck_assert_msg(strstr(r.out, "  --legacy-password  set the tini "
	    "board's password (asked twice); taken from $DRINK_NEW_PASSWORD "
	    "when set\n") != NULL, "%s", r.out);
	expect_run(&r, 0, NULL, "");
	DRINK(&r, "--help");
	ck_assert(strstr(r.out, "  set-balance USER BALANCE NOTE [--key KEY] [--yes]\n")
	    != NULL);
	ck_assert(strstr(r.out, "New passwords (passwd, user-add, user-mod "
	    "--password) come from\n$DRINK_NEW_PASSWORD") != NULL);
	/* Protocol commands drink does not offer are not listed. */
	ck_assert(strstr(r.out, "token-create") == NULL);
	ck_assert(strstr(r.out, "unsubscribe") == NULL);
	ck_assert(strstr(r.out, "  watch ") != NULL);
	expect_run(&r, 0, NULL, "");
	/* "card add" as drink(1) spells it, for help as for running it. */
	DRINK(&r, "help", "card", "add");
	ck_assert_msg(strncmp(r.out, "usage: drink card-add CARD [LABEL...] "
	    "[--user USER]\n", 52) == 0, "%s", r.out);
	expect_run(&r, 0, NULL, "");
	DRINK(&r, "help", "nope");
	expect_run(&r, 2, "", "drink: unknown command 'nope' (try drink "
	    "help)\n");
}
END_TEST

/*
 * On the command line help is "drink help", in the shell it is "help":
 * each says so, and shows its own list.
 */
START_TEST(help_is_named_as_it_is_typed)
{
	struct run_result r;
	char *usage, *list, *want;
	const char *from, *to;
	const char *shell_drop = "usage: drop MACHINE SLOT [--delay SECONDS] "
	    "[--key KEY]\n\nBuy the item in a slot and drop it (needs a "
	    "login).\n\n"
	    "  MACHINE            the machine's id (see machines)\n"
	    "  SLOT               slot number (see slots); 1 to 255\n"
	    "  --delay SECONDS    wait this long before dropping, to walk to "
	    "the machine; 0 to 300\n"
	    "  --key KEY          idempotency key: repeating the command with "
	    "it never applies it twice\n";

	DRINK(&r, "--help");
	ck_assert_int_eq(r.status, 0);
	usage = xstrdup(r.out);
	run_result_free(&r);
	/* drink help is drink --help, not the shell's list. */
	DRINK(&r, "help");
	expect_long(&r, 0, usage, "");
	ck_assert(strstr(usage, "Type a command") == NULL);
	ck_assert(strstr(usage, "\nShell:\n") == NULL);
	DRINK(&r, "help", "help");
	expect_run(&r, 0, "usage: drink help [COMMAND]\n\nList the commands, "
	    "or show one command's usage and arguments\n(as COMMAND --help "
	    "does).\n", "");
	/* The shell's list: the same commands, with the shell's words. */
	from = strstr(usage, "\nCommands for anyone:\n");
	to = strstr(usage, "\nHelp:\n  help [COMMAND] ");
	ck_assert(from != NULL && to != NULL);
	list = xasprintf("Type a command and its arguments; quote a NOTE with "
	    "spaces.\n%.*s\nShell:\n"
	    "  help [COMMAND]                       this list, or one "
	    "command's usage\n"
	    "  quit                                 leave (Ctrl-D or the end "
	    "of input does too)\n", (int)(to - from), from);
	want = xasprintf("%s%susage: help [COMMAND]\n\nList the commands, or "
	    "show one command's usage and arguments\n(as COMMAND --help "
	    "does).\n", list, shell_drop);
	drink_env(&r, NULL, "frob\nhelp\ndrop m1 1 --bogus\ndrop m1\n"
	    "slot-set m1 1\nhelp nope\nhelp drop\nhelp help\n", NULL,
	    NULL);
	expect_long(&r, 0, want,
	    "drink: unknown command 'frob' (try help)\n"
	    "drink: drop: unknown option '--bogus' (see help drop)\n"
	    "drink: drop: SLOT missing; usage: drop MACHINE SLOT "
	    "[--delay SECONDS] [--key KEY]\n"
	    "drink: slot-set: nothing to change; usage: slot-set MACHINE "
	    "SLOT [--item ITEM] [--price N] [--stock N] [--enable|--disable]\n"
	    "drink: unknown command 'nope' (try help)\n");
	free(want);
	free(list);
	free(usage);
}
END_TEST

START_TEST(exit_3_is_a_connection_failure)
{
	struct run_result r;
	char *other = xasprintf("%s/other.conf", home);
	const char *const env[] = { NULL, NULL };
	char *dc = xasprintf("DRINK_CONFIG=%s", other);
	const char *const env2[] = { dc, NULL };

	(void)env;
	DRINK(&r, "-p", "1", "machines");
	expect_run(&r, 3, "", "drink: cannot connect to localhost port 1: "
	    "Connection refused\n");
	/* A server certificate the CA did not sign. */
	write_file(other, "host = localhost\nca = /etc/ssl/certs/"
	    "ca-certificates.crt\n");
	drink_env(&r, env2, NULL, NULL, "-p", "0", "machines", NULL);
	expect_run(&r, 2, "", "drink: bad port '0'\n");
	/* No host at all is a slip on the command line, not a lookup. */
	DRINK(&r, "-H", "", "machines");
	expect_run(&r, 2, "", "drink: bad host '' (a name or an address, "
	    "such as localhost)\n");
	DRINK(&r, "--ca", "", "machines");
	expect_run(&r, 2, "", "drink: option '--ca' needs a value\n");
	{
		char *port = xasprintf("%d", srv->port);

		drink_env(&r, env2, NULL, NULL, "-p", port, "machines", NULL);
		free(port);
	}
	ck_assert_msg(r.status == 3 && strstr(r.err, "TLS handshake with "
	    "localhost:") == r.err + 7, "%d %s", r.status, r.err);
	ck_assert_msg(strstr(r.err, "certificate verify failed: ") != NULL &&
	    strstr(r.err, "; is /etc/ssl/certs/ca-certificates.crt the "
	    "club's CA? (from --ca, or \"ca =\" in the config file: "
	    "DRINK_CONFIG, else ~/.config/drink/config)\n") != NULL, "%s",
	    r.err);
	run_result_free(&r);
	/* No CA at all: DRINK_CONFIG forgotten, the usual slip. */
	{
		char *port = xasprintf("%d", srv->port);
		const char *const none[] = { "DRINK_CONFIG", NULL };

		drink_env(&r, none, NULL, NULL, "-p", port, "machines", NULL);
		free(port);
	}
	ck_assert_msg(r.status == 3 && strstr(r.err, "certificate verify "
	    "failed: ") != NULL && strstr(r.err, "; no CA was given, so the "
	    "system's were tried: name the club's CA with --ca FILE or \"ca "
	    "= FILE\" in the config file (is DRINK_CONFIG set and "
	    "exported?)\n") != NULL, "%d %s", r.status, r.err);
	run_result_free(&r);
	/* A name the server's certificate is not for: which names it is. */
	{
		char *port = xasprintf("%d", srv->port);

		DRINK(&r, "-H", "127.1", "-p", port, "machines");
		free(port);
	}
	ck_assert_msg(r.status == 3 && strstr(r.err, "certificate verify "
	    "failed: hostname mismatch; the server's certificate is for "
	    "localhost, 127.0.0.1, ::1, not 127.1: connect with -H one of "
	    "those (or \"host =\" in the config file)\n") != NULL, "%d %s",
	    r.status, r.err);
	run_result_free(&r);
	DRINK(&r, "--ca", "/nonexistent.crt", "machines");
	expect_run(&r, 3, "", "drink: cannot read CA /nonexistent.crt: No "
	    "such file or directory\n");
	free(dc);
	free(other);
}
END_TEST

/*
 * A certificate the server refuses, and a port that wants one: the TLS
 * alert is translated into what to do about it (exit 3 each).
 */
START_TEST(exit_3_says_why_the_server_refused_the_certificate)
{
	static const struct {
		const char *cert, *why;
	} refused[] = {
		{ "wrongca-alice", "it is not signed by a CA the server trusts "
		    "for members" },
		{ "expired-alice", "it has expired, or is not valid yet" },
	};
	struct run_result r;
	char *base, *crt, *key, *want, *port, *ca = h_cert_path("ca.crt");
	size_t i;

	/* Certificates log in only where member_ca is set. */
	h_server_free(srv);
	want = xasprintf("vend_timeout = 5\nmember_ca = %s\n", ca);
	srv = h_machine_server_start(want);
	free(want);
	free(ca);
	write_conf(conf, srv->port);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		base = h_cert_path(refused[i].cert);
		crt = xasprintf("%s.crt", base);
		key = xasprintf("%s.key", base);
		free(base);
		DRINK(&r, "--cert", crt, "--key", key, "balance");
		want = xasprintf("; the server refused the certificate %s: "
		    "%s\n", crt, refused[i].why);
		ck_assert_msg(r.status == 3 && strstr(r.err, want) != NULL,
		    "%d %s", r.status, r.err);
		run_result_free(&r);
		free(want);
		free(crt);
		free(key);
	}
	/* The machine port, where a member has no business. */
	ck_assert_int_gt(srv->machine_port, 0);
	port = xasprintf("%d", srv->machine_port);
	DRINK(&r, "-p", port, "machines");
	ck_assert_msg(r.status == 3 && strstr(r.err, "; the server asks for "
	    "a certificate, as drinkd's machine port does: members use the "
	    "member port (4242 unless the club chose another)\n") != NULL,
	    "%d %s", r.status, r.err);
	run_result_free(&r);
	free(port);
}
END_TEST

/*
 * drinkd's Sunday port answers with a line of text, not the protocol's
 * hello: the client says what it heard and where members go instead.
 */
START_TEST(exit_3_says_a_sunday_port_is_not_the_member_port)
{
	struct h_server *sun = h_server_start("sunday_listen = 127.0.0.1:0\n");
	struct run_result r;
	char *port = xasprintf("%d", lg_port(sun, "sunday_listen"));

	DRINK(&r, "-p", port, "machines");
	ck_assert_msg(r.status == 3 && strstr(r.err, "drink: malformed "
	    "greeting from localhost:") != NULL && strstr(r.err, " (\"Welcome "
	    "to ") != NULL && strstr(r.err, "\"): that port speaks another "
	    "protocol, as drinkd's Sunday port does: members use the member "
	    "port (4242 unless the club chose another)\n") != NULL, "%d %s",
	    r.status, r.err);
	run_result_free(&r);
	free(port);
	h_server_free(sun);
}
END_TEST

/*
 * drinkd's web port is HTTPS: it would wait for a request as long as the
 * client waited for a greeting.  The handshake already tells them apart
 * (ALPN), so drink says at once where members go instead.
 */
START_TEST(exit_3_says_the_web_port_is_not_the_member_port)
{
	struct h_server *web = h_server_start("web_listen = 127.0.0.1:0\n");
	struct run_result r;
	char *port = xasprintf("%d", lg_port(web, "web_listen"));
	int64_t start = now_ms();

	DRINK(&r, "-p", port, "machines");
	ck_assert_msg(now_ms() - start < 5000, "took %lld ms",
	    (long long)(now_ms() - start));
	ck_assert_msg(r.status == 3 && strstr(r.err, "drink: TLS handshake "
	    "with localhost:") == r.err && strstr(r.err, "; that port serves "
	    "the web app (HTTPS), as drinkd's web port does: members use the "
	    "member port (4242 unless the club chose another)\n") != NULL,
	    "%d %s", r.status, r.err);
	run_result_free(&r);
	/* The member port of the same server still answers drink. */
	free(port);
	port = xasprintf("%d", web->port);
	DRINK(&r, "-p", port, "machines");
	expect_run(&r, 0, NULL, "(no machines)\n");
	free(port);
	h_server_free(web);
}
END_TEST

/*
 * history and log give a page: when it is full there may be older ones,
 * and standard error says how to see them (the table is the same for a
 * script), and an empty one says there is nothing.  The defaults in
 * --help are the server's: 20 and 100.
 */
START_TEST(a_full_page_says_how_to_see_older_ones)
{
	struct run_result r;
	const char *last;
	char *want;
	long long tx = 0;
	int i;

	for (i = 0; i < 3; i++) {
		DRINK_AS(&r, "alice", "alicepw", "send", "bob", "1");
		expect_run(&r, 0, NULL, "");
	}
	DRINK_AS(&r, "alice", "alicepw", "history", "--limit", "2");
	ck_assert_int_eq(r.status, 0);
	last = strrchr(r.out, '\n');
	while (last != NULL && last > r.out && last[-1] != '\n') {
		last--;
	}
	ck_assert(last != NULL && sscanf(last, "%lld", &tx) == 1);
	want = xasprintf("(2 shown; the same with --before %lld for older "
	    "ones)\n", tx);
	ck_assert_str_eq(r.err, want);
	free(want);
	run_result_free(&r);
	/* The whole history fits: nothing more is said. */
	DRINK_AS(&r, "alice", "alicepw", "history", "--limit", "10");
	expect_run(&r, 0, NULL, "");
	DRINK_AS(&r, "alice", "alicepw", "history");
	expect_run(&r, 0, NULL, "");
	DRINK_AS(&r, "admin", "adminpw", "log", "--limit", "1");
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strncmp(r.err, "(1 shown; the same with --before ",
	    33) == 0, "%s", r.err);
	run_result_free(&r);
	DRINK_AS(&r, "admin", "adminpw", "log", "--limit", "50");
	expect_run(&r, 0, NULL, "");
	DRINK(&r, "log", "--help");
	ck_assert_msg(strstr(r.out, "how many transactions to list (default "
	    "100)") != NULL, "%s", r.out);
	run_result_free(&r);
	DRINK(&r, "history", "--help");
	ck_assert_msg(strstr(r.out, "how many transactions to list (default "
	    "20)") != NULL, "%s", r.out);
	run_result_free(&r);
	/* Nothing to list: said, under the header alone. */
	DRINK_AS(&r, "alice", "alicepw", "history", "--before", "1");
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strchr(r.out, '\n') == r.out + strlen(r.out) - 1,
	    "the header alone: %s", r.out);
	ck_assert_str_eq(r.err, "(no transactions)\n");
	run_result_free(&r);
}
END_TEST

START_TEST(exit_4_is_output_that_could_not_be_written)
{
	struct run_result r;

	drink_env(&r, NULL, NULL, "/dev/full", "machines", NULL);
	expect_run(&r, 4, "", "drink: cannot write the output: No space left "
	    "on device\n");
	drink_env(&r, NULL, NULL, "/dev/full", "--json", "slots", "m1", NULL);
	expect_run(&r, 4, "", NULL);
}
END_TEST

/* ---- --json ------------------------------------------------------------ */

/*
 * One command line per drink command, run in order as admin with --json;
 * every visible command of the specification must appear.
 */
static const char *const json_lines[][8] = {
	{ "ping", "hello" },
	{ "machines" },
	{ "slots", "m1" },
	{ "whoami" },
	{ "balance" },
	{ "drop", "m1", "1" },
	{ "send", "alice", "5", "gift", "--key", "k1" },
	{ "history", "--limit", "5" },
	{ "who" },
	{ "passwd" },
	{ "user-add", "carol", "--balance", "7" },
	{ "user-mod", "carol", "--disable" },
	{ "users" },
	{ "credit", "bob", "10", "cash" },
	{ "debit", "bob", "3", "payout" },
	{ "set-balance", "bob", "50", "fix", "--yes" },
	{ "refund", "1", "sorry" },
	{ "machine-add", "m2", "Snack", "tower" },
	{ "machine-mod", "m2", "--name", "Snacks" },
	{ "slot-set", "m2", "2", "--item", "Chips", "--price", "4" },
	{ "log", "--since", "2000-01-01", "--kind", "credit" },
	{ "kick", "999999", "--yes" },
	{ "machine-del", "m2", "--yes" },
	{ "card-add", "0a1b2c3d", "office", "door" },
	{ "card-list" },
	{ "card-del", "1" },
};

START_TEST(json_prints_each_reply_as_sent)
{
	const char *const env[] = { "DRINK_PASSWORD=adminpw",
		"DRINK_NEW_PASSWORD=newpw", NULL };
	struct run_result r;
	char name[64];
	size_t i, k, n;
	cJSON *o;

	for (i = 0; i < spec_count; i++) {
		if (spec_table[i].flags & SPEC_CMD_NOCLI) {
			continue;
		}
		spec_cli_name(&spec_table[i], name, sizeof(name));
		/* Not one request each: login keeps a token, watch waits. */
		if (strcmp(name, "login") == 0 ||
		    strcmp(name, "logout") == 0 ||
		    strcmp(name, "watch") == 0) {
			continue;
		}
		for (k = 0; k < sizeof(json_lines) / sizeof(json_lines[0]);
		    k++) {
			if (strcmp(json_lines[k][0], name) == 0) {
				break;
			}
		}
		ck_assert_msg(k < sizeof(json_lines) / sizeof(json_lines[0]),
		    "no --json test for %s", name);
	}
	for (k = 0; k < sizeof(json_lines) / sizeof(json_lines[0]); k++) {
		const char *w[8] = { 0 };
		int expect_ok;

		for (n = 0; n < 8 && json_lines[k][n] != NULL; n++) {
			w[n] = json_lines[k][n];
		}
		drink_env(&r, env, NULL, NULL, "--json", "-u", "admin",
		    w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], NULL);
		/* The refused ones: offline machine, no drop tx 1, session. */
		expect_ok = strcmp(w[0], "drop") != 0 &&
		    strcmp(w[0], "refund") != 0 && strcmp(w[0], "kick") != 0;
		ck_assert_msg(r.status == (expect_ok ? 0 : 1), "%s: exit %d: "
		    "%s %s", w[0], r.status, r.out, r.err);
		ck_assert_msg(strlen(r.out) > 0 &&
		    strchr(r.out, '\n') == r.out + strlen(r.out) - 1,
		    "%s: not one line: %s", w[0], r.out);
		o = cJSON_Parse(r.out);
		ck_assert_msg(cJSON_IsObject(o), "%s: not JSON: %s", w[0],
		    r.out);
		ck_assert_msg(cJSON_IsBool(cJSON_GetObjectItem(o, "ok")) &&
		    cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")) == expect_ok,
		    "%s: %s", w[0], r.out);
		ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItem(o, "id")),
		    "%s: no id: %s", w[0], r.out);
		ck_assert_str_eq(r.err, "");
		cJSON_Delete(o);
		run_result_free(&r);
		if (strcmp(w[0], "passwd") == 0) {
			/* Change it back for the next commands. */
			const char *const back[] = {
				"DRINK_PASSWORD=newpw",
				"DRINK_NEW_PASSWORD=adminpw", NULL };

			drink_env(&r, back, NULL, NULL, "-u", "admin",
			    "passwd", NULL);
			expect_run(&r, 0, "Password changed\n", "");
		}
	}
	ck_assert_int_eq(h_balance(srv, "bob"), 50);
	ck_assert_int_eq(h_balance(srv, "carol"), 7);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM machines"), 1);
}
END_TEST

/* ---- settings --------------------------------------------------------- */

START_TEST(command_line_beats_config_file_beats_defaults)
{
	struct run_result r;
	char *dir = xasprintf("%s/xdg", home), *sub;
	char *xdg = xasprintf("XDG_CONFIG_HOME=%s", dir);
	char *port = xasprintf("%d", srv->port);
	char *bad = xasprintf("%s/bad.conf", home);
	char *dcbad = xasprintf("DRINK_CONFIG=%s", bad);
	char *missing = xasprintf("DRINK_CONFIG=%s/none.conf", home);

	/* The config file's port is wrong: -p on the command line wins. */
	write_conf(conf, 1);
	DRINK(&r, "ping");
	ck_assert_int_eq(r.status, 3);
	run_result_free(&r);
	DRINK(&r, "-p", port, "ping");
	expect_run(&r, 0, "pong\n", "");
	/* Without DRINK_CONFIG: $XDG_CONFIG_HOME/drink/config. */
	sub = xasprintf("%s/drink", dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	free(sub);
	sub = xasprintf("%s/drink/config", dir);
	write_conf(sub, srv->port);
	{
		const char *const env[] = { "DRINK_CONFIG", xdg, NULL };

		drink_env(&r, env, NULL, NULL, "ping", NULL);
		expect_run(&r, 0, "pong\n", "");
	}
	/* DRINK_CONFIG beats XDG_CONFIG_HOME. */
	{
		const char *const env[] = { xdg, NULL };

		drink_env(&r, env, NULL, NULL, "ping", NULL);
		ck_assert_int_eq(r.status, 3);
		run_result_free(&r);
	}
	/* A user in the config file; -u replaces it. */
	write_conf(conf, srv->port);
	{
		FILE *fp = fopen(conf, "a");

		fputs("user = bob\n", fp);
		fclose(fp);
	}
	{
		const char *const env[] = { "DRINK_PASSWORD=bobpw", NULL };

		drink_env(&r, env, NULL, NULL, "whoami", NULL);
		expect_run(&r, 0, "bob (member), balance 0\n", "");
	}
	DRINK_AS(&r, "alice", "alicepw", "whoami");
	expect_run(&r, 0, "alice (member), balance 100\n", "");
	/* Errors name the file and line. */
	write_file(bad, "host = localhost\n\ncolour = blue\n");
	{
		const char *const env[] = { dcbad, NULL };

		drink_env(&r, env, NULL, NULL, "ping", NULL);
		free(sub);
		sub = xasprintf("drink: %s:3: unknown key 'colour'\n", bad);
		expect_run(&r, 2, "", sub);
	}
	write_file(bad, "port = 70000\n");
	{
		const char *const env[] = { dcbad, NULL };

		drink_env(&r, env, NULL, NULL, "ping", NULL);
		free(sub);
		sub = xasprintf("drink: %s:1: bad port '70000'\n", bad);
		expect_run(&r, 2, "", sub);
	}
	{
		const char *const env[] = { missing, NULL };

		drink_env(&r, env, NULL, NULL, "ping", NULL);
		ck_assert_int_eq(r.status, 2);
		ck_assert(strstr(r.err, "none.conf: No such file") != NULL);
		run_result_free(&r);
	}
	free(sub);
	free(missing);
	free(dcbad);
	free(bad);
	free(port);
	free(xdg);
	free(dir);
}
END_TEST

START_TEST(dates_are_taken_where_times_are)
{
	struct run_result r;

	DRINK_AS(&r, "admin", "adminpw", "credit", "bob", "5", "cash");
	expect_run(&r, 0, NULL, "");
	DRINK_AS(&r, "admin", "adminpw", "log", "--since", "2000-01-01",
	    "00:00", "--kind", "credit");
	ck_assert(strstr(r.out, "cash") != NULL);
	expect_run(&r, 0, NULL, "");
	DRINK_AS(&r, "admin", "adminpw", "log", "--since", "2000-01-01 00:00",
	    "--until", "2000-12-31");
	expect_run(&r, 0, "TX  TIME  USER  KIND  AMOUNT  STATE  DETAILS\n",
	    "(no transactions)\n");
	/* One day, from its first second to its last. */
	DRINK_AS(&r, "admin", "adminpw", "log", "--since", "2000-01-01",
	    "--until", "2000-01-01");
	expect_run(&r, 0, "TX  TIME  USER  KIND  AMOUNT  STATE  DETAILS\n",
	    "(no transactions)\n");
	DRINK_AS(&r, "admin", "adminpw", "log", "--until", "2999-01-01");
	ck_assert(strstr(r.out, "cash") != NULL);
	expect_run(&r, 0, NULL, "");
	/* No February 30th, not even as March 2nd. */
	DRINK_AS(&r, "admin", "adminpw", "log", "--since", "2026-02-30");
	expect_run(&r, 2, "", "drink: log: --since must be a date "
	    "YYYY-MM-DD, a time YYYY-MM-DD HH:MM, or unix seconds, not "
	    "'2026-02-30'\n");
}
END_TEST

/*
 * Tables show times to the minute: --until that minute keeps the rows
 * listed at it, though they were made a few seconds after it began.
 */
START_TEST(until_a_minute_keeps_that_minute)
{
	struct run_result r;
	char minute[32], day[16];
	time_t t;
	struct tm tm;

	/* A credit made at second 0 would pass without the rule. */
	do {
		DRINK_AS(&r, "admin", "adminpw", "credit", "bob", "5",
		    "cash");
		expect_run(&r, 0, NULL, "");
		t = (time_t)h_sql_int(srv, "SELECT max(created) FROM tx");
	} while (t % 60 == 0 && sleep(1) == 0);
	ck_assert(localtime_r(&t, &tm) != NULL);
	ck_assert(strftime(minute, sizeof(minute), "%Y-%m-%d %H:%M",
	    &tm) > 0);
	ck_assert(strftime(day, sizeof(day), "%Y-%m-%d", &tm) > 0);
	DRINK_AS(&r, "admin", "adminpw", "log", "--kind", "credit",
	    "--user", "bob", "--since", minute, "--until", minute);
	ck_assert_msg(strstr(r.out, "cash") != NULL, "%s", r.out);
	expect_run(&r, 0, NULL, "");
	DRINK_AS(&r, "admin", "adminpw", "log", "--kind", "credit",
	    "--user", "bob", "--since", day, "--until", day);
	ck_assert_msg(strstr(r.out, "cash") != NULL, "%s", r.out);
	expect_run(&r, 0, NULL, "");
}
END_TEST

/*
 * A new slot needs an item and a price: the server says which is
 * missing.  A slot without an item (as slot_set once made a new one)
 * shows "-", as any missing value does, and sells nothing.
 */
START_TEST(a_slot_without_an_item_reads_as_a_dash)
{
	struct run_result r;
	struct fake *f;

	DRINK_AS(&r, "admin", "adminpw", "slot-set", "m1", "2", "--price",
	    "5");
	expect_run(&r, 1, "", "drink: slot 2 of m1 is not set up yet: a new "
	    "slot needs an item and a price (missing \"item\") "
	    "(bad_request)\n");
	DRINK_AS(&r, "admin", "adminpw", "slot-set", "m1", "2", "--stock",
	    "3");
	expect_run(&r, 1, "", "drink: slot 2 of m1 is not set up yet: a new "
	    "slot needs an item and a price (missing \"item\" and "
	    "\"price\") (bad_request)\n");
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM slots"), 1);
	/* The help says so before anyone tries. */
	DRINK(&r, "help", "slot-set");
	ck_assert_msg(strstr(r.out, "  --item ITEM        what the slot holds "
	    "(a new slot needs it)\n  --price N          price in credits (a "
	    "new slot needs it); 0 to 1000000000\n") != NULL, "%s", r.out);
	expect_run(&r, 0, NULL, "");
	h_sql_exec(srv, "INSERT INTO slots (machine, slot, item, price, stock,"
	    " enabled) VALUES ('m1', 2, '', 5, 0, 1)");
	DRINK_AS(&r, "admin", "adminpw", "slot-set", "m1", "2", "--enable");
	expect_run(&r, 0, "Slot 2 of m1: -, price 5, stock 0, enabled\n", "");
	DRINK(&r, "slots", "m1");
	expect_run(&r, 0, "SLOT  ITEM  PRICE  STOCK  ENABLED\n"
	    "   1  Cola     10      5  yes\n"
	    "   2  -         5      0  yes\n", "");
	/* It cannot be dropped from until it is set up. */
	f = fake_start(srv, "m1", FAKE_ACK, 0);
	DRINK_AS(&r, "alice", "alicepw", "drop", "m1", "2");
	expect_run(&r, 1, "Dropping from Big Drink slot 2 ...\n", "drink: "
	    "slot 2 of m1 is not set up: it has no item (slot_disabled)\n");
	ck_assert_int_eq(fake_vends(f), 0);
	fake_stop(f);
	ck_assert_int_eq(h_balance(srv, "alice"), 100);
}
END_TEST

/*
 * A list with nothing in it says so on standard error, under the header
 * alone (a bare header reads as a fault; a script reads the same table):
 * no machines on a new server, no slots on a new machine, no cards.
 */
START_TEST(an_empty_list_says_so)
{
	struct run_result r;

	DRINK_AS(&r, "alice", "alicepw", "card-list");
	expect_run(&r, 0, "CARD  LABEL  ADDED  LAST USED\n", "(no cards)\n");
	h_admin(srv, "{\"cmd\":\"machine_add\",\"machine\":\"m2\","
	    "\"name\":\"New one\"}", NULL);
	DRINK(&r, "slots", "m2");
	expect_run(&r, 0, "SLOT  ITEM  PRICE  STOCK  ENABLED\n",
	    "(no slots)\n");
	h_admin(srv, "{\"cmd\":\"machine_del\",\"machine\":\"m1\"}",
	    "{\"cmd\":\"machine_del\",\"machine\":\"m2\"}", NULL);
	DRINK(&r, "machines");
	expect_run(&r, 0, "MACHINE  NAME  ONLINE  ENABLED  TEMP\n",
	    "(no machines)\n");
	/* With rows, nothing more is said. */
	DRINK_AS(&r, "alice", "alicepw", "card-add", "0a0b0c0d");
	expect_run(&r, 0, NULL, "");
	DRINK_AS(&r, "alice", "alicepw", "card-list");
	expect_run(&r, 0, NULL, "");
}
END_TEST

/* Columns line up on the screen when names have wide characters. */
START_TEST(tables_align_wide_characters)
{
	struct run_result r;
	char *line2, *line3;
	const char *p2, *p3;

	h_admin(srv, "{\"cmd\":\"slot_set\",\"machine\":\"m1\",\"slot\":2,"
	    "\"item\":\"\xe7\xb7\x91\xe8\x8c\xb6\",\"price\":12,"
	    "\"stock\":3}", NULL);
	DRINK(&r, "slots", "m1");
	ck_assert_int_eq(r.status, 0);
	/* Cola is 4 columns, the green tea two wide characters: 4 too. */
	line2 = strchr(r.out, '\n') + 1;
	line3 = strchr(line2, '\n') + 1;
	ck_assert(strncmp(line2, "   1  Cola     10", 17) == 0);
	ck_assert(strncmp(line3, "   2  \xe7\xb7\x91\xe8\x8c\xb6     12",
	    19) == 0);
	p2 = strstr(line2, "10");
	p3 = strstr(line3, "12");
	/* Same column: the tea's 6 bytes take 4 columns like "Cola". */
	ck_assert_int_eq((int)(p3 - line3) - 2, (int)(p2 - line2));
	run_result_free(&r);
}
END_TEST

/* ---- on a terminal ----------------------------------------------------- */

static struct run_pty *
pty_drink(const char *const *extra, ...)
{
	const char *argv[16], *env[ENV_MAX + 1], *w;
	char *own[4];
	struct run_pty *p;
	va_list ap;
	int n = 0;

	argv[n++] = drink_bin;
	va_start(ap, extra);
	while ((w = va_arg(ap, const char *)) != NULL && n < 15) {
		argv[n++] = w;
	}
	va_end(ap);
	argv[n] = NULL;
	make_env(env, own, extra);
	p = run_pty_start(argv, env);
	free_env(own);
	ck_assert_int_gt(p->pid, 0);
	return p;
}

/*
 * Send keys once whoever reads them is ready: the line editor puts the
 * terminal in raw mode (Ctrl-C a key, no echo by the terminal) only while
 * it waits for a line, and keys typed ahead are echoed by the terminal.
 * Where no editor is running (a password or confirmation prompt), wait a
 * little instead.
 */
static void
send_keys(struct run_pty *p, const char *keys)
{
	if (!run_pty_wait_raw(p, 1000)) {
		run_pty_drain(p, 100);
	}
	run_pty_send(p, keys);
}

/* The program's exit status, its whole terminal output on failure. */
#define EXPECT_EXIT(p, status) do {					\
	int st_ = run_pty_wait(p, PTY_MS);				\
	ck_assert_msg(st_ == (status), "exit %d, wanted %d; the terminal " \
	    "shows:\n%s", st_, (status), (p)->buf);			\
} while (0)

#define EXPECT(p, text) ck_assert_msg(run_pty_expect(p, text, PTY_MS), \
	"no '%s' on the terminal; it shows:\n%s", text, (p)->buf + (p)->mark)

START_TEST(password_is_asked_without_echo)
{
	struct run_pty *p = pty_drink(NULL, "-u", "alice", "balance", NULL);

	EXPECT(p, "Password for alice@localhost:");
	send_keys(p, "alicepw\r");
	EXPECT(p, "Balance: 100");
	EXPECT_EXIT(p, 0);
	ck_assert_msg(strstr(p->buf, "alicepw") == NULL, "echoed: %s",
	    p->buf);
	run_pty_free(p);
	/* A wrong one is a refusal, still not echoed. */
	p = pty_drink(NULL, "-u", "alice", "balance", NULL);
	EXPECT(p, "Password for alice@localhost:");
	send_keys(p, "guess\r");
	EXPECT(p, "wrong user name or password (bad_credentials)");
	EXPECT_EXIT(p, 1);
	ck_assert(strstr(p->buf, "guess") == NULL);
	run_pty_free(p);
	/*
	 * Ctrl-D at the prompt is no password, not one too long, said on a
	 * line of its own: nothing echoed ended the prompt's.
	 */
	p = pty_drink(NULL, "-u", "alice", "balance", NULL);
	EXPECT(p, "Password for alice@localhost:");
	send_keys(p, "\x04");
	EXPECT(p, "drink: no password read");
	EXPECT_EXIT(p, 2);
	ck_assert_msg(strstr(p->buf, "at most") == NULL, "%s", p->buf);
	ck_assert_msg(strstr(p->buf, ": drink: no password read") == NULL,
	    "the message is on the prompt's line:\n%s", p->buf);
	run_pty_free(p);
}
END_TEST

START_TEST(shell_edits_lines_and_keeps_history)
{
	const char *const env[] = { "DRINK_PASSWORD=alicepw", NULL };
	struct run_pty *p = pty_drink(env, "-u", "alice", NULL);
	char *hist = xasprintf("%s/state/drink/history", home);
	struct stat st;
	FILE *fp;
	char line[256];
	int found = 0;

	EXPECT(p, "Type help for the commands");
	EXPECT(p, "drink> ");
	/* Left arrow edits in place instead of inserting ^[[D. */
	send_keys(p, "hoami\x1b[D\x1b[D\x1b[D\x1b[D\x1b[Dw\r");
	EXPECT(p, "alice (member), balance 100");
	/* The prompt now shows the user and the balance. */
	EXPECT(p, "alice (100)> ");
	/* Up arrow recalls the last line. */
	send_keys(p, "\x1b[A\r");
	EXPECT(p, "alice (member), balance 100");
	ck_assert(strstr(p->buf, "^[[") == NULL);
	ck_assert(strstr(p->buf, "unknown command") == NULL);
	/* Ctrl-C drops the line and the shell goes on. */
	EXPECT(p, "alice (100)> ");
	send_keys(p, "send bob 99\x03");
	EXPECT(p, "^C");
	EXPECT(p, "alice (100)> ");
	send_keys(p, "balance\r");
	EXPECT(p, "Balance: 100");
	ck_assert_int_eq(h_balance(srv, "bob"), 0);
	/* Ctrl-D on an empty line leaves, with the last status. */
	EXPECT(p, "alice (100)> ");
	send_keys(p, "\x04");
	EXPECT_EXIT(p, 0);
	run_pty_free(p);
	/* The history is in the XDG state directory, private. */
	ck_assert_int_eq(stat(hist, &st), 0);
	ck_assert_int_eq(st.st_mode & 077, 0);
	fp = fopen(hist, "r");
	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		found |= strstr(line, "whoami") != NULL;
		ck_assert(strstr(line, "send bob 99") == NULL);
	}
	fclose(fp);
	ck_assert(found);
	/* A new shell starts with it: up arrow gives "balance". */
	p = pty_drink(env, "-u", "alice", NULL);
	EXPECT(p, "drink> ");
	send_keys(p, "\x1b[A\r");
	EXPECT(p, "Balance: 100");
	send_keys(p, "quit\r");
	EXPECT_EXIT(p, 0);
	run_pty_free(p);
	free(hist);
}
END_TEST

/*
 * "logout" in a shell logged in by password logs it out (there is no
 * kept login to end), and the password is forgotten: the next command
 * that needs a login asks for it again.
 */
START_TEST(shell_logout_ends_a_password_login)
{
	struct run_pty *p = pty_drink(NULL, "-u", "alice", NULL);

	EXPECT(p, "drink> ");
	send_keys(p, "balance\r");
	EXPECT(p, "Password for alice@");
	send_keys(p, "alicepw\r");
	EXPECT(p, "Balance: 100");
	EXPECT(p, "alice (100)> ");
	send_keys(p, "logout\r");
	EXPECT(p, "Logged out alice");
	EXPECT(p, "drink> ");
	ck_assert(strstr(p->buf, "Not logged in") == NULL);
	send_keys(p, "balance\r");
	EXPECT(p, "Password for alice@");
	send_keys(p, "alicepw\r");
	EXPECT(p, "Balance: 100");
	send_keys(p, "\x04");
	EXPECT_EXIT(p, 0);
	run_pty_free(p);
}
END_TEST

/*
 * A kept login revoked elsewhere, with -u and no DRINK_PASSWORD: drink
 * says why it asks for the password before asking, and the password login
 * then works (exit 0) and the dead token file is gone.  Likewise for a
 * kept login of another user.
 */
START_TEST(kept_login_not_used_is_said_before_the_password_prompt)
{
	struct run_result r;
	struct run_pty *p;
	char *file = xasprintf("%s/state/drink/token-localhost-%d", home,
	    srv->port);
	struct stat st;

	DRINK_AS(&r, "alice", "alicepw", "login");
	expect_run(&r, 0, NULL, "");
	ck_assert_int_eq(stat(file, &st), 0);
	h_admin(srv, "{\"cmd\":\"user_mod\",\"user\":\"alice\","
	    "\"password\":\"alicepw2\"}", NULL);
	p = pty_drink(NULL, "-u", "alice", "balance", NULL);
	EXPECT(p, "the kept login for alice has expired or was revoked; "
	    "logging in with the password");
	EXPECT(p, "Password for alice@localhost:");
	send_keys(p, "alicepw2\r");
	EXPECT(p, "Balance: 100");
	EXPECT_EXIT(p, 0);
	run_pty_free(p);
	ck_assert_int_ne(stat(file, &st), 0);
	/*
	 * A kept login for someone else than -u names: said too, and kept
	 * (it is still good for its own user).
	 */
	DRINK_AS(&r, "alice", "alicepw2", "login");
	expect_run(&r, 0, NULL, "");
	p = pty_drink(NULL, "-u", "bob", "balance", NULL);
	EXPECT(p, "the kept login is alice's; logging in as bob with the "
	    "password");
	EXPECT(p, "Password for bob@localhost:");
	send_keys(p, "bobpw\r");
	EXPECT(p, "Balance: 0");
	EXPECT_EXIT(p, 0);
	run_pty_free(p);
	ck_assert_int_eq(stat(file, &st), 0);
	DRINK(&r, "whoami");
	expect_run(&r, 0, "alice (member), balance 100\n", "");
	free(file);
}
END_TEST

/*
 * After a kept login (a token), adding or changing a user and changing a
 * machine go ahead only with the admin's own password: asked for on the
 * terminal after the new user's, or taken from DRINK_PASSWORD; a wrong
 * one is refused with nothing changed.
 */
START_TEST(a_kept_login_asks_for_the_password_to_change_users_and_machines)
{
	const char *const carol_pw[] = { "DRINK_NEW_PASSWORD=carolpw", NULL };
	const char *const admin_pw[] = { "DRINK_PASSWORD=adminpw", NULL };
	struct run_result r;
	struct run_pty *p;

	DRINK_AS(&r, "admin", "adminpw", "login");
	expect_run(&r, 0, NULL, "");
	p = pty_drink(carol_pw, "user-add", "carol", NULL);
	EXPECT(p, "Password for admin (to add a user):");
	send_keys(p, "adminpw\r");
	EXPECT_EXIT(p, 0);
	ck_assert_msg(strstr(p->buf, "adminpw") == NULL, "echoed: %s", p->buf);
	run_pty_free(p);
	DRINK_AS(&r, "carol", "carolpw", "balance");
	expect_run(&r, 0, "Balance: 0\n", "");

	p = pty_drink(NULL, "user-mod", "carol", "--disable", NULL);
	EXPECT(p, "Password for admin (to change a user):");
	send_keys(p, "guess\r");
	EXPECT(p, "(bad_credentials)");
	EXPECT_EXIT(p, 1);
	run_pty_free(p);
	DRINK_AS(&r, "carol", "carolpw", "balance");
	expect_run(&r, 0, "Balance: 0\n", "");
	p = pty_drink(NULL, "user-mod", "carol", "--disable", NULL);
	EXPECT(p, "Password for admin (to change a user):");
	send_keys(p, "adminpw\r");
	EXPECT_EXIT(p, 0);
	run_pty_free(p);
	DRINK_AS(&r, "carol", "carolpw", "balance");
	ck_assert_msg(r.status == 1 && strstr(r.err, "bad_credentials"),
	    "carol disabled: exit %d, %s", r.status, r.err);
	run_result_free(&r);

	/* No terminal: DRINK_PASSWORD, with the kept login still the one. */
	drink_env(&r, admin_pw, NULL, NULL, "machine-mod", "m1", "--name",
	    "Big Drink", NULL);
	expect_run(&r, 0, NULL, "");
	DRINK(&r, "machines");
	ck_assert_msg(r.status == 0 && strstr(r.out, "Big Drink") != NULL,
	    "m1 renamed: exit %d, %s%s", r.status, r.out, r.err);
	run_result_free(&r);
	p = pty_drink(NULL, "machine-mod", "m1", "--name", "Small", NULL);
	EXPECT(p, "Password for admin (to change a machine):");
	send_keys(p, "guess\r");
	EXPECT(p, "(bad_credentials)");
	EXPECT_EXIT(p, 1);
	run_pty_free(p);
	DRINK(&r, "machines");
	ck_assert_msg(strstr(r.out, "Big Drink") != NULL &&
	    strstr(r.out, "Small") == NULL, "m1 not renamed: %s", r.out);
	run_result_free(&r);
	DRINK(&r, "whoami");
	expect_run(&r, 0, "admin (admin), balance 1000\n", "");
}
END_TEST

/*
 * A member is offered neither the commands only admins may use nor, as
 * whom to send credits to, themself.
 */
START_TEST(shell_completes_for_a_member_what_a_member_may_do)
{
	const char *const env[] = { "DRINK_PASSWORD=alicepw", NULL };
	struct run_pty *p = pty_drink(env, "-u", "alice", NULL);
	struct h_client *bob = h_connect_as(srv, "bob", "bobpw");

	EXPECT(p, "drink> ");
	send_keys(p, "balance\r");
	EXPECT(p, "alice (100)> ");
	/* "sl": slots, not the admins' slot-set. */
	send_keys(p, "sl\tm1\r");
	EXPECT(p, "   1  Cola");
	EXPECT(p, "alice (100)> ");
	/* Connected: alice and bob; only bob is someone to send to. */
	send_keys(p, "send \t5\r");
	EXPECT(p, "Sent 5 to bob");
	EXPECT(p, "alice (95)> ");
	send_keys(p, "quit\r");
	EXPECT_EXIT(p, 0);
	ck_assert_int_eq(h_balance(srv, "bob"), 5);
	h_close(bob);
	run_pty_free(p);
}
END_TEST

START_TEST(shell_completes_commands_options_and_names)
{
	const char *const env[] = { "DRINK_PASSWORD=adminpw", NULL };
	struct run_pty *p = pty_drink(env, "-u", "admin", NULL);

	EXPECT(p, "drink> ");
	/* A unique command prefix. */
	send_keys(p, "bal\t\r");
	EXPECT(p, "Balance: 1000");
	EXPECT(p, "admin (1000)> ");
	/* A machine id, fetched from the server. */
	send_keys(p, "slots \t\r");
	EXPECT(p, "   1  Cola");
	EXPECT(p, "admin (1000)> ");
	/* A slot number of the machine named before it. */
	send_keys(p, "slot-set m1 \t--st\t7\r");
	EXPECT(p, "Slot 1 of m1: Cola, price 10, stock 7, enabled");
	EXPECT(p, "admin (1000)> ");
	/* User names, and a kind for log --kind. */
	send_keys(p, "credit bo\t5 cash\r");
	EXPECT(p, "Credited 5 to bob");
	EXPECT(p, "admin (1000)> ");
	send_keys(p, "log --kind cr\t\r");
	EXPECT(p, "credit");
	EXPECT(p, "admin (1000)> ");
	/* Several candidates are listed. */
	send_keys(p, "user\t\t");
	EXPECT(p, "user-add");
	EXPECT(p, "user-mod");
	EXPECT(p, "users");
	send_keys(p, "\x03");
	EXPECT(p, "admin (1000)> ");
	send_keys(p, "quit\r");
	EXPECT_EXIT(p, 0);
	ck_assert_int_eq(h_balance(srv, "bob"), 5);
	ck_assert_int_eq(h_sql_int(srv, "SELECT stock FROM slots WHERE "
	    "machine = 'm1' AND slot = 1"), 7);
	run_pty_free(p);
}
END_TEST

/* The session a member's shell has, found as admin through who. */
static int64_t
member_session(const char *user)
{
	struct h_client *a = h_connect_as(srv, "admin", "adminpw");
	cJSON *r = h_call(a, "{\"cmd\":\"who\"}"), *c;
	int64_t session = 0;

	cJSON_ArrayForEach(c, h_array(r, "clients")) {
		const cJSON *u = cJSON_GetObjectItem(c, "user");

		if (cJSON_IsString(u) && strcmp(u->valuestring, user) == 0) {
			session = (int64_t)cJSON_GetObjectItem(c,
			    "session")->valuedouble;
		}
	}
	cJSON_Delete(r);
	h_close(a);
	return session;
}

START_TEST(shell_says_when_the_server_closed_the_session)
{
	const char *const env[] = { "DRINK_PASSWORD=alicepw", NULL };
	struct run_pty *p = pty_drink(env, "-u", "alice", NULL);
	int64_t session;
	char *kick;

	EXPECT(p, "drink> ");
	send_keys(p, "balance\r");
	EXPECT(p, "Balance: 100");
	EXPECT(p, "alice (100)> ");
	session = member_session("alice");
	ck_assert_int_gt(session, 0);
	kick = xasprintf("{\"cmd\":\"kick\",\"session\":%lld}",
	    (long long)session);
	h_admin(srv, kick, NULL);
	free(kick);
	send_keys(p, "balance\r");
	EXPECT(p, "drink: the server closed the connection (kicked, idle too "
	    "long, or restarted); reconnecting");
	EXPECT(p, "Balance: 100");
	send_keys(p, "quit\r");
	EXPECT_EXIT(p, 0);
	run_pty_free(p);
}
END_TEST

START_TEST(drop_counts_its_delay_down)
{
	const char *const env[] = { "DRINK_PASSWORD=alicepw", NULL };
	/* The fake answers after 2.5 s, as if it had waited the delay. */
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 2500);
	struct run_pty *p = pty_drink(env, "-u", "alice", "drop", "m1", "1",
	    "--delay", "3", NULL);

	EXPECT(p, "Dropping Cola from Big Drink slot 1 ...");
	EXPECT(p, "dropping in 3 s");
	EXPECT(p, "dropping in 2 s");
	EXPECT(p, "done, balance 90");
	EXPECT_EXIT(p, 0);
	run_pty_free(p);
	ck_assert_int_eq(fake_vends(f), 1);
	fake_stop(f);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
}
END_TEST

/*
 * Ctrl-C cannot take a drop back once it is sent: the first one says so
 * and drink waits for the outcome; a second one quits, pointing at the
 * history.  Either way the drop goes ahead.
 */
START_TEST(ctrl_c_waits_for_a_drop_in_flight)
{
	const char *const env[] = { "DRINK_PASSWORD=alicepw", NULL };
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 2500);
	struct run_pty *p = pty_drink(env, "-u", "alice", "drop", "m1", "1",
	    "--delay", "3", NULL);

	EXPECT(p, "dropping in 3 s");
	run_pty_send(p, "\x03");
	EXPECT(p, "drink: a drop cannot be cancelled once sent; waiting for "
	    "its result (Ctrl-C again to stop waiting)");
	EXPECT(p, "done, balance 90");
	EXPECT_EXIT(p, 0);
	run_pty_free(p);
	ck_assert_int_eq(h_balance(srv, "alice"), 90);
	/* A second Ctrl-C quits; the drop still happens. */
	p = pty_drink(env, "-u", "alice", "drop", "m1", "1", "--delay", "3",
	    NULL);
	EXPECT(p, "dropping in 3 s");
	run_pty_send(p, "\x03");
	EXPECT(p, "cannot be cancelled once sent");
	run_pty_send(p, "\x03");
	EXPECT(p, "drink: stopped waiting; the drop may still happen: check "
	    "drink history");
	EXPECT_EXIT(p, 130);
	run_pty_free(p);
	ck_assert_int_eq(h_sql_wait(srv, 80, "SELECT balance FROM accounts"
	    " WHERE name = 'alice'"), 80);
	fake_wait_vends(f, 2);
	fake_stop(f);
}
END_TEST

/* In the shell, the first Ctrl-C during a drop does not end the shell. */
START_TEST(shell_survives_ctrl_c_during_a_drop)
{
	const char *const env[] = { "DRINK_PASSWORD=alicepw", NULL };
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 1500);
	struct run_pty *p = pty_drink(env, "-u", "alice", NULL);

	EXPECT(p, "drink> ");
	send_keys(p, "drop m1 1 --delay 2\r");
	EXPECT(p, "dropping in 2 s");
	run_pty_send(p, "\x03");
	EXPECT(p, "cannot be cancelled once sent");
	EXPECT(p, "done, balance 90");
	EXPECT(p, "alice (90)> ");
	send_keys(p, "balance\r");
	EXPECT(p, "Balance: 90");
	send_keys(p, "quit\r");
	EXPECT_EXIT(p, 0);
	run_pty_free(p);
	fake_stop(f);
}
END_TEST

/*
 * In the shell, Ctrl-C at the password prompt, at "are you sure?" or
 * while watching ends that command, not the shell: it says so, nothing
 * is done, and the next command runs on.  A one-shot "drink watch" still
 * ends on it.
 */
START_TEST(shell_survives_ctrl_c_at_a_prompt_and_in_watch)
{
	struct run_pty *p = pty_drink(NULL, "-u", "admin", NULL);

	EXPECT(p, "drink> ");
	send_keys(p, "whoami\r");
	EXPECT(p, "Password for admin@");
	run_pty_send(p, "\x03");
	EXPECT(p, "drink: interrupted; nothing done");
	EXPECT(p, "drink> ");
	send_keys(p, "whoami\r");
	EXPECT(p, "Password for admin@");
	send_keys(p, "adminpw\r");
	EXPECT(p, "admin (admin)");
	EXPECT(p, "admin (1000)> ");
	send_keys(p, "machine-del m1\r");
	EXPECT(p, "machine-del m1: are you sure? [y/N] ");
	run_pty_send(p, "\x03");
	EXPECT(p, "drink: machine-del: not confirmed; nothing done");
	EXPECT(p, "admin (1000)> ");
	send_keys(p, "watch\r");
	EXPECT(p, "watching machines and slots; Ctrl-C stops");
	run_pty_send(p, "\x03");
	EXPECT(p, "admin (1000)> ");
	send_keys(p, "slots m1\r");
	EXPECT(p, "Cola");
	EXPECT(p, "admin (1000)> ");
	send_keys(p, "quit\r");
	EXPECT_EXIT(p, 0);
	run_pty_free(p);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM machines"), 1);
	p = pty_drink((const char *const[]){ "DRINK_PASSWORD=alicepw", NULL },
	    "-u", "alice", "watch", NULL);
	EXPECT(p, "Ctrl-C stops");
	run_pty_send(p, "\x03");
	EXPECT_EXIT(p, 130);
	run_pty_free(p);
}
END_TEST

/*
 * The countdown line is erased before the result is printed, so the
 * result starts its own line; without a terminal there is no countdown
 * to erase.
 */
START_TEST(drop_result_has_a_line_of_its_own)
{
	const char *const env[] = { "DRINK_PASSWORD=alicepw", NULL };
	/* Long enough that the last tick is "waiting for the machine". */
	struct fake *f = fake_start(srv, "m1", FAKE_ACK, 3000);
	const char *waiting = "waiting for the machine ...";
	struct run_pty *p;
	struct run_result r;
	char *tail;
	size_t n;

	p = pty_drink(env, "-u", "alice", "drop", "m1", "1", "--delay", "1",
	    NULL);
	EXPECT(p, "dropping in 1 s");
	EXPECT(p, "done, balance 90");
	EXPECT_EXIT(p, 0);
	tail = xasprintf("%s\r%*s\rdone, balance 90\r\n", waiting,
	    (int)strlen(waiting), "");
	n = strlen(tail);
	ck_assert_msg(p->len >= n && strcmp(p->buf + p->len - n, tail) == 0,
	    "the terminal shows:\n%s", p->buf);
	free(tail);
	run_pty_free(p);
	/* The shell's result too. */
	p = pty_drink(env, "-u", "alice", NULL);
	EXPECT(p, "drink> ");
	send_keys(p, "drop m1 1 --delay 1\r");
	EXPECT(p, "done, balance 80");
	tail = xasprintf("%s\r%*s\rdone, balance 80\r\n", waiting,
	    (int)strlen(waiting), "");
	ck_assert_msg(strstr(p->buf, tail) != NULL, "the terminal shows:\n%s",
	    p->buf);
	free(tail);
	EXPECT(p, "alice (80)> ");
	send_keys(p, "quit\r");
	EXPECT_EXIT(p, 0);
	run_pty_free(p);
	/* Piped: no countdown, nothing to erase. */
	DRINK_AS(&r, "alice", "alicepw", "drop", "m1", "1", "--delay", "1");
	expect_run(&r, 0, "Dropping Cola from Big Drink slot 1 ...\n"
	    "done, balance 70\n", "");
	ck_assert_int_eq(fake_vends(f), 3);
	fake_stop(f);
}
END_TEST

/*
 * A new password breaks the server's rule: said before anything is sent,
 * naming where it came from, exit 2.
 */
START_TEST(an_empty_new_password_is_a_usage_error)
{
	const char *const empty[] = { "DRINK_PASSWORD=alicepw",
		"DRINK_NEW_PASSWORD=", NULL };
	const char *const admin[] = { "DRINK_PASSWORD=adminpw",
		"DRINK_NEW_PASSWORD=", NULL };
	const char *const env[] = { "DRINK_PASSWORD=alicepw", NULL };
	struct run_result r;
	struct run_pty *p;

	drink_env(&r, empty, NULL, NULL, "-u", "alice", "passwd", NULL);
	expect_run(&r, 2, "", "drink: passwd: DRINK_NEW_PASSWORD must be 1 to "
	    "1024 bytes long\n");
	drink_env(&r, admin, NULL, NULL, "-u", "admin", "user-add", "carol",
	    NULL);
	expect_run(&r, 2, "", "drink: user-add: DRINK_NEW_PASSWORD must be 1 "
	    "to 1024 bytes long\n");
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM users"
	    " WHERE name = 'carol'"), 0);
	/* Typed empty on the terminal, twice to be sure: refused as well. */
	p = pty_drink(env, "-u", "alice", "passwd", NULL);
	EXPECT(p, "New password: ");
	send_keys(p, "\r");
	EXPECT(p, "Retype it: ");
	send_keys(p, "\r");
	EXPECT(p, "drink: passwd: the password typed must be 1 to 1024 bytes "
	    "long");
	EXPECT_EXIT(p, 2);
	run_pty_free(p);
	/* The password is still the old one. */
	DRINK_AS(&r, "alice", "alicepw", "balance");
	expect_run(&r, 0, "Balance: 100\n", "");
}
END_TEST

START_TEST(destructive_commands_ask_on_the_terminal)
{
	const char *const env[] = { "DRINK_PASSWORD=adminpw", NULL };
	struct run_pty *p = pty_drink(env, "-u", "admin", "machine-del", "m1",
	    NULL);
	struct h_client *alice;
	char session[32];

	EXPECT(p, "machine-del m1: are you sure? [y/N] ");
	send_keys(p, "n\r");
	EXPECT(p, "machine-del: not confirmed; nothing done");
	EXPECT_EXIT(p, 2);
	run_pty_free(p);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM machines"), 1);
	p = pty_drink(env, "-u", "admin", "machine-del", "m1", NULL);
	EXPECT(p, "are you sure? [y/N] ");
	send_keys(p, "y\r");
	EXPECT(p, "Machine m1 deleted");
	EXPECT_EXIT(p, 0);
	run_pty_free(p);
	ck_assert_int_eq(h_sql_int(srv, "SELECT count(*) FROM machines"), 0);
	/* Ctrl-D is a no, said on a line of its own. */
	alice = h_connect_as(srv, "alice", "alicepw");
	snprintf(session, sizeof(session), "%lld",
	    (long long)member_session("alice"));
	p = pty_drink(env, "-u", "admin", "kick", session, NULL);
	EXPECT(p, "are you sure? [y/N] ");
	send_keys(p, "\x04");
	EXPECT(p, "kick: not confirmed; nothing done");
	EXPECT_EXIT(p, 2);
	ck_assert_msg(strstr(p->buf, "] drink: kick") == NULL,
	    "the message is on the question's line:\n%s", p->buf);
	run_pty_free(p);
	h_expect(alice, NULL, "{\"cmd\":\"balance\"}");
	h_close(alice);
	/*
	 * A member is not asked to confirm an admin's command: the password
	 * comes first, then the refusal, with no question between.
	 */
	p = pty_drink(NULL, "-u", "alice", "kick", "1", NULL);
	EXPECT(p, "Password for alice@");
	send_keys(p, "alicepw\r");
	EXPECT(p, "drink: only admins may do that (forbidden)");
	EXPECT_EXIT(p, 1);
	ck_assert_msg(strstr(p->buf, "are you sure") == NULL, "%s", p->buf);
	run_pty_free(p);
}
END_TEST

/*
 * A kick of a session that is not there asks nothing: the server's
 * refusal comes at once, on a terminal or without one.
 */
START_TEST(kick_of_no_session_asks_nothing)
{
	const char *const env[] = { "DRINK_PASSWORD=adminpw", NULL };
	struct run_pty *p = pty_drink(env, "-u", "admin", "kick", "999999",
	    NULL);
	struct run_result r;

	EXPECT(p, "no such session");
	EXPECT_EXIT(p, 1);
	ck_assert_msg(strstr(p->buf, "are you sure") == NULL, "%s", p->buf);
	run_pty_free(p);
	drink_env(&r, env, NULL, NULL, "-u", "admin", "kick", "999999", NULL);
	ck_assert_msg(r.status == 1 && strstr(r.err, "no such session") !=
	    NULL, "exit %d: %s", r.status, r.err);
	run_result_free(&r);
}
END_TEST

/* completions/drink.bash offers what drink's help lists. */
START_TEST(bash_completion_reads_drink_help)
{
	struct run_result r;
	char *dir = run_bin(""), *path = xasprintf("PATH=%s:/usr/bin:/bin",
	    dir);
	const char *const env[] = { path, NULL };
	const char *argv[] = { "/bin/bash", "-c",
		"source completions/drink.bash\n"
		"c() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); _drink; "
		"echo \"${COMPREPLY[*]}\"; }\n"
		"c drink us; c drink log --kind ''; c drink -u a drop m1 1 --; "
		"c drink user-add x --role ''; c drink help sl; c drink hel; "
		"c drink card ''; c drink card add --",
		NULL };
	const char *envp[ENV_MAX + 1];
	char *own[4];

	make_env(envp, own, env);
	run_prog(argv, envp, NULL, NULL, CLIENT_MS, &r);
	free_env(own);
	expect_run(&r, 0, "user-add user-mod users\n"
	    "drop refund transfer credit debit adjust\n"
	    "--delay --key --help\n"
	    "member admin\n"
	    "slots slot-set\n"
	    "help\n"
	    "add list del\n"
	    "--user --help\n", "");
	free(path);
	free(dir);
}
END_TEST

static Suite *
client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc;

	tc = h_tcase(s, "exit statuses and their messages", setup, teardown,
	    120);
	tcase_add_test(tc, exit_0_prints_the_answer);
	tcase_add_test(tc, exit_1_is_a_refusal_in_plain_words);
	tcase_add_test(tc, refusals_keep_the_servers_own_words);
	tcase_add_test(tc, refusals_give_the_servers_reason);
	tcase_add_test(tc, own_account_change_is_confirmed);
	tcase_add_test(tc, exit_2_is_a_usage_error_naming_the_rule);
	tcase_add_test(tc, help_is_generated_from_the_specification);
	tcase_add_test(tc, help_is_named_as_it_is_typed);
	tcase_add_test(tc, exit_3_is_a_connection_failure);
	tcase_add_test(tc, exit_3_says_why_the_server_refused_the_certificate);
	tcase_add_test(tc, exit_3_says_a_sunday_port_is_not_the_member_port);
	tcase_add_test(tc, exit_3_says_the_web_port_is_not_the_member_port);
	tcase_add_test(tc, exit_4_is_output_that_could_not_be_written);
	tc = h_tcase(s, "output for scripts and people", setup, teardown,
	    180);
	tcase_add_test(tc, json_prints_each_reply_as_sent);
	tcase_add_test(tc, a_full_page_says_how_to_see_older_ones);
	tcase_add_test(tc, dates_are_taken_where_times_are);
	tcase_add_test(tc, until_a_minute_keeps_that_minute);
	tcase_add_test(tc, a_slot_without_an_item_reads_as_a_dash);
	tcase_add_test(tc, an_empty_list_says_so);
	tcase_add_test(tc, tables_align_wide_characters);
	tcase_add_test(tc, bash_completion_reads_drink_help);
	tc = h_tcase(s, "settings", setup, teardown, 120);
	tcase_add_test(tc, command_line_beats_config_file_beats_defaults);
	tc = h_tcase(s, "on a terminal", setup, teardown, 120);
	tcase_add_test(tc, password_is_asked_without_echo);
	tcase_add_test(tc, shell_edits_lines_and_keeps_history);
	tcase_add_test(tc, shell_logout_ends_a_password_login);
	tcase_add_test(tc, kept_login_not_used_is_said_before_the_password_prompt);
	tcase_add_test(tc,
	    a_kept_login_asks_for_the_password_to_change_users_and_machines);
	tcase_add_test(tc, shell_completes_for_a_member_what_a_member_may_do);
	tcase_add_test(tc, shell_completes_commands_options_and_names);
	tcase_add_test(tc, shell_says_when_the_server_closed_the_session);
	tcase_add_test(tc, drop_counts_its_delay_down);
	tcase_add_test(tc, ctrl_c_waits_for_a_drop_in_flight);
	tcase_add_test(tc, shell_survives_ctrl_c_during_a_drop);
	tcase_add_test(tc, shell_survives_ctrl_c_at_a_prompt_and_in_watch);
	tcase_add_test(tc, destructive_commands_ask_on_the_terminal);
	tcase_add_test(tc, kick_of_no_session_asks_nothing);
	tcase_add_test(tc, drop_result_has_a_line_of_its_own);
	tcase_add_test(tc, an_empty_new_password_is_a_usage_error);
	return s;
}

int
main(void)
{
	int failed;

	h_init();
	failed = h_run(client_suite());
	return h_finish(failed);
}
