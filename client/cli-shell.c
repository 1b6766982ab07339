/*
 * The interactive shell: drink with no command reads commands, one per
 * line, and runs each on the same connection (one login for the whole
 * session).  Words split like a small sh: blanks separate them, quotes
 * keep a NOTE in one piece.  A failing command is reported and the shell
 * goes on.
 *
 * On a terminal, lines are read with libedit (the BSD line editor: small,
 * BSD-licensed, in every distribution, and the histedit API gives key
 * bindings and completion without readline's globals): emacs-style editing,
 * history kept in $XDG_STATE_HOME/drink/history, Tab completion of
 * commands, options, machine ids, slot numbers and user names, Ctrl-C
 * clearing the line and Ctrl-D on an empty line leaving.  The prompt shows
 * who is logged in and their balance.  Anything else on standard input is
 * read plainly, one line at a time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <histedit.h>

#include "cli.h"

/*
 * LeakSanitizer reads this hook when drink is built with it (make
 * check-asan).  libedit keeps wide-character copies of history lines made
 * with wcsdup() that history_end() and el_end() do not all free, though
 * the shell calls both; drink itself never calls wcsdup, so only
 * libedit's allocations are matched.  Without a sanitizer nothing calls it.
 */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:wcsdup\n";
}

#define CLI_SHELL_LINE_MAX 4096
#define CLI_SHELL_WORDS_MAX 128
#define CLI_SHELL_PROMPT "drink> "
#define CLI_SHELL_HISTORY 1000	/* lines kept */
#define CLI_SHELL_CANDS_MAX 256

enum cli_shell_builtin {
	CLI_SHELL_HELP,
	CLI_SHELL_QUIT,
};

static const struct {
	const char *name;
	enum cli_shell_builtin what;
} cli_shell_builtins[] = {
	{ "help", CLI_SHELL_HELP },
	{ "?", CLI_SHELL_HELP },
	{ "quit", CLI_SHELL_QUIT },
	{ "exit", CLI_SHELL_QUIT },
};
#define CLI_SHELL_NBUILTINS \
	(sizeof(cli_shell_builtins) / sizeof(cli_shell_builtins[0]))

/* A list of names fetched from the server for completion. */
struct cli_shell_names {
	char **v;
	size_t n;
	int fetched;
};

struct cli_shell {
	struct cli_session *s;
	EditLine *el;
	History *hist;
	char *hist_file;	/* NULL: history is not kept */
	char prompt[PROTO_NAME_MAX + 64];
	struct cli_shell_names users, machines;
};

/*
 * Split line into words stored in out (at least as long as line).
 * Double quotes allow \" and \\ inside; single quotes take everything
 * literally; a backslash outside quotes escapes the next character.
 * Returns the number of words, or -1 with the reason printed (quiet: -1
 * without a word, for completion of a half-typed line).
 */
static int
cli_shell_split(const char *line, char *out, char **words, int max,
    int quiet)
{
	const char *p = line;
	char *o = out, quote;
	int n = 0;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			p++;
		}
		if (*p == '\0' || (*p == '#' && n == 0)) {
			return n;
		}
		if (n == max) {
			if (!quiet) {
				cli_error("more than %d words", max);
			}
			return -1;
		}
		words[n++] = o;
		quote = 0;
		for (; *p != '\0'; p++) {
			if (quote == 0 && (*p == ' ' || *p == '\t' ||
			    *p == '\n' || *p == '\r')) {
				break;
			}
			if (quote == 0 && (*p == '"' || *p == '\'')) {
				quote = *p;
			} else if (quote != 0 && *p == quote) {
				quote = 0;
			} else if (*p == '\\' && quote != '\'' &&
			    p[1] != '\0' && (quote == 0 || p[1] == '"' ||
			    p[1] == '\\')) {
				*o++ = *++p;
			} else {
				*o++ = *p;
			}
		}
		if (quote != 0 && !quiet) {
			cli_error("unterminated %c quote", quote);
			return -1;
		}
		*o++ = '\0';
	}
}

/* The shell's "help": its commands, and its own words for itself. */
static void
cli_shell_list(FILE *fp)
{
	fprintf(fp, "Type a command and its arguments; quote a NOTE with "
	    "spaces.\n");
	cli_cmd_usage(fp);
	fprintf(fp, "\nShell:\n  %-36s %s\n  %-36s %s\n", "help [COMMAND]",
	    "this list, or one command's usage", "quit",
	    "leave (Ctrl-D or the end of input does too)");
}

/* Read a line; a longer one than the buffer is refused whole. */
static int
cli_shell_read(char *line, size_t len, int *toolong)
{
	size_t n;
	int c;

	*toolong = 0;
	if (fgets(line, (int)len, stdin) == NULL) {
		return -1;
	}
	n = strlen(line);
	if (n > 0 && line[n - 1] != '\n' && !feof(stdin)) {
		*toolong = 1;
		while ((c = getchar()) != EOF && c != '\n') {
			continue;
		}
	}
	return 0;
}

/* ---- completion ------------------------------------------------------ */

static void
cli_shell_names_free(struct cli_shell_names *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i]);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/*
 * Ask the server (quietly: a failure leaves the list empty) and collect
 * field of each object in the reply's array.
 */
static void
cli_shell_fetch(struct cli_shell *sh, cJSON *req, const char *array,
    const char *field, struct cli_shell_names *out)
{
	cJSON *reply = NULL;
	const cJSON *o, *v;
	size_t i;

	if (cli_session_request(sh->s, req, CLI_REPLY_MS, &reply, NULL) !=
	    CLI_EXIT_OK) {
		cJSON_Delete(req);
		return;
	}
	cJSON_Delete(req);
	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(reply, array)) {
		v = cJSON_GetObjectItemCaseSensitive(o, field);
		if (!cJSON_IsString(v) || !proto_valid_name(v->valuestring)) {
			continue;
		}
		for (i = 0; i < out->n; i++) {
			if (strcmp(out->v[i], v->valuestring) == 0) {
				break;
			}
		}
		if (i == out->n && out->n < CLI_SHELL_CANDS_MAX) {
			out->v = xreallocarray(out->v, out->n + 1,
			    sizeof(*out->v));
			out->v[out->n++] = xstrdup(v->valuestring);
		}
	}
	out->fetched = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply,
	    "ok"));
	cJSON_Delete(reply);
}

static cJSON *
cli_shell_req(const char *cmd, const char *machine)
{
	cJSON *req = cJSON_CreateObject();

	cJSON_AddStringToObject(req, "cmd", cmd);
	if (machine != NULL) {
		cJSON_AddStringToObject(req, "machine", machine);
	}
	return req;
}

/*
 * User names and machine ids are fetched once per shell (once logged in,
 * for users: an admin's user list, else who is connected).
 */
static const struct cli_shell_names *
cli_shell_names(struct cli_shell *sh, enum spec_complete what)
{
	if (!cli_session_connected(sh->s)) {
		return NULL;
	}
	if (what == SPEC_C_MACHINE && !sh->machines.fetched) {
		cli_shell_names_free(&sh->machines);
		cli_shell_fetch(sh, cli_shell_req("machines", NULL),
		    "machines", "machine", &sh->machines);
	}
	if (what == SPEC_C_USER && !sh->users.fetched &&
	    cli_session_logged_in(sh->s)) {
		cli_shell_names_free(&sh->users);
		cli_shell_fetch(sh, cli_shell_req("users", NULL), "users",
		    "user", &sh->users);
		if (!sh->users.fetched) {
			cli_shell_fetch(sh, cli_shell_req("who", NULL),
			    "clients", "user", &sh->users);
		}
	}
	return what == SPEC_C_MACHINE ? &sh->machines : &sh->users;
}

struct cli_shell_cands {
	char *v[CLI_SHELL_CANDS_MAX];
	size_t n;
	const char *prefix;
};

static void
cli_shell_cand(struct cli_shell_cands *c, const char *word)
{
	if (word != NULL && c->n < CLI_SHELL_CANDS_MAX &&
	    strncmp(word, c->prefix, strlen(c->prefix)) == 0) {
		c->v[c->n++] = xstrdup(word);
	}
}

static void
cli_shell_cand_list(struct cli_shell_cands *c, const char *const *list)
{
	for (; *list != NULL; list++) {
		cli_shell_cand(c, *list);
	}
}

static void
cli_shell_cand_opt(struct cli_shell_cands *c, const char *opt)
{
	char buf[CLI_SHELL_WORDS_MAX];

	if (opt != NULL) {
		snprintf(buf, sizeof(buf), "--%s", opt);
		cli_shell_cand(c, buf);
	}
}

/* The slot numbers of machine. */
static void
cli_shell_cand_slots(struct cli_shell *sh, struct cli_shell_cands *c,
    const char *machine)
{
	cJSON *req, *reply = NULL;
	const cJSON *o;
	char num[32];
	long long n;
	int st;

	if (!cli_session_connected(sh->s)) {
		return;
	}
	req = cli_shell_req("slots", machine);
	st = cli_session_request(sh->s, req, CLI_REPLY_MS, &reply, NULL);
	cJSON_Delete(req);
	if (st != CLI_EXIT_OK) {
		return;
	}
	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(reply,
	    "slots")) {
		if (cli_print_int(o, "slot", &n) == 0) {
			snprintf(num, sizeof(num), "%lld", n);
			cli_shell_cand(c, num);
		}
	}
	cJSON_Delete(reply);
}

static void
cli_shell_cand_values(struct cli_shell *sh, struct cli_shell_cands *c,
    const struct spec_cmd *cmd, const struct spec_arg *a,
    const char *machine)
{
	const struct cli_shell_names *l;
	const char *self;
	size_t i;

	switch (a->complete) {
	case SPEC_C_USER:
	case SPEC_C_MACHINE:
		/* Whom a member may send to: anyone but themself. */
		self = a->complete == SPEC_C_USER && strcmp(cmd->name,
		    "send") == 0 ? cli_session_user(sh->s) : NULL;
		if ((l = cli_shell_names(sh, a->complete)) != NULL) {
			for (i = 0; i < l->n; i++) {
				if (self == NULL || strcmp(l->v[i], self) != 0) {
					cli_shell_cand(c, l->v[i]);
				}
			}
		}
		break;
	case SPEC_C_SLOT:
		if (machine != NULL) {
			cli_shell_cand_slots(sh, c, machine);
		}
		break;
	case SPEC_C_KIND:
		cli_shell_cand_list(c, spec_kinds);
		break;
	case SPEC_C_ROLE:
		cli_shell_cand_list(c, spec_roles);
		break;
	case SPEC_C_NONE:
		break;
	}
}

/* The option argument a word names, or NULL (*value: it takes one). */
static const struct spec_arg *
cli_shell_option(const struct spec_cmd *cmd, const char *word, int *value)
{
	size_t k;
	const struct spec_arg *a;

	*value = 0;
	if (strncmp(word, "--", 2) != 0 || strchr(word, '=') != NULL) {
		return NULL;
	}
	for (k = 0; k < spec_nargs(cmd); k++) {
		a = &cmd->args[k];
		if (a->form == SPEC_F_OPTION && strcmp(a->opt, word + 2) == 0) {
			*value = 1;
			return a;
		}
	}
	return NULL;
}

/*
 * Candidates for the last word of words[0..n-1] (words[n-1] is the one
 * being typed, maybe empty).
 */
static void
cli_shell_candidates(struct cli_shell *sh, char **words, int n,
    struct cli_shell_cands *c)
{
	const struct spec_cmd *cmd;
	const struct spec_arg *a, *opt;
	const char *machine = NULL, *role;
	size_t i, k;
	int ambiguous, value, pos = 0, w, member;
	char name[64];

	c->prefix = words[n - 1];
	if (n == 1 || (n == 2 && (strcmp(words[0], "help") == 0 ||
	    strcmp(words[0], "?") == 0))) {
		/* A member is not offered what only admins may do. */
		role = cli_session_role(sh->s);
		member = role != NULL && strcmp(role, "admin") != 0;
		for (i = 0; i < spec_count; i++) {
			if (cli_cmd_visible(&spec_table[i]) && !(member &&
			    spec_table[i].role == SPEC_ADMIN)) {
				spec_cli_name(&spec_table[i], name,
				    sizeof(name));
				cli_shell_cand(c, name);
			}
		}
		for (i = 0; n == 1 && i < CLI_SHELL_NBUILTINS; i++) {
			cli_shell_cand(c, cli_shell_builtins[i].name);
		}
		return;
	}
	if ((cmd = cli_cmd_find(words[0], &ambiguous, NULL, 0)) == NULL) {
		return;
	}
	if (words[n - 1][0] == '-') {
		for (k = 0; k < spec_nargs(cmd); k++) {
			a = &cmd->args[k];
			if (a->form == SPEC_F_OPTION ||
			    (a->form == SPEC_F_SECRET && a->opt != NULL)) {
				cli_shell_cand_opt(c, a->opt);
			}
			cli_shell_cand_opt(c, a->on);
			cli_shell_cand_opt(c, a->off);
		}
		if (cmd->flags & SPEC_CMD_CONFIRM) {
			cli_shell_cand(c, "--yes");
		}
		cli_shell_cand(c, "--help");
		return;
	}
	/* Which positional word this is, and the machine named so far. */
	for (w = 1; w < n - 1; w++) {
		if (cli_shell_option(cmd, words[w], &value) != NULL) {
			w += value;
			continue;
		}
		if (words[w][0] == '-') {
			continue;
		}
		for (k = 0, i = 0; k < spec_nargs(cmd); k++) {
			a = &cmd->args[k];
			if (a->form == SPEC_F_WORD && (int)i++ == pos &&
			    a->complete == SPEC_C_MACHINE) {
				machine = words[w];
			}
		}
		pos++;
	}
	if (n >= 3 && (opt = cli_shell_option(cmd, words[n - 2], &value)) !=
	    NULL && value) {
		cli_shell_cand_values(sh, c, cmd, opt, machine);
		return;
	}
	for (k = 0, i = 0; k < spec_nargs(cmd); k++) {
		a = &cmd->args[k];
		if (a->form == SPEC_F_WORD && (int)i++ == pos) {
			cli_shell_cand_values(sh, c, cmd, a, machine);
			return;
		}
	}
}

/* Print candidates in columns under the line being edited. */
static void
cli_shell_show(const struct cli_shell_cands *c)
{
	size_t i, w = 0, cols;

	for (i = 0; i < c->n; i++) {
		w = strlen(c->v[i]) > w ? strlen(c->v[i]) : w;
	}
	cols = 78 / (w + 2);
	cols = cols > 0 ? cols : 1;
	fputc('\n', stdout);
	for (i = 0; i < c->n; i++) {
		printf("%-*s%s", (int)w + 2, c->v[i],
		    (i + 1) % cols == 0 || i + 1 == c->n ? "\n" : "");
	}
	fflush(stdout);
}

/*
 * Tab: one candidate is inserted whole, with a blank after it; several
 * are completed as far as they agree, and listed when they agree no
 * further than what is typed.
 */
static unsigned char
cli_shell_complete(EditLine *el, int ch)
{
	struct cli_shell *sh;
	struct cli_shell_cands c = { .n = 0 };
	const LineInfo *li = el_line(el);
	char text[CLI_SHELL_LINE_MAX], store[CLI_SHELL_LINE_MAX + 2];
	char *words[CLI_SHELL_WORDS_MAX], add[CLI_SHELL_LINE_MAX];
	size_t len = (size_t)(li->cursor - li->buffer), common, i, typed;
	unsigned char rc = CC_REFRESH;
	int n;

	(void)ch;
	el_get(el, EL_CLIENTDATA, &sh);
	if (len >= sizeof(text) - 1) {
		return CC_ERROR;
	}
	memcpy(text, li->buffer, len);
	/* A blank before the cursor starts a new, empty word. */
	text[len] = '\0';
	n = cli_shell_split(text, store, words, CLI_SHELL_WORDS_MAX - 1, 1);
	if (n < 0) {
		return CC_ERROR;
	}
	if (n == 0 || len == 0 || text[len - 1] == ' ' ||
	    text[len - 1] == '\t') {
		words[n++] = (char *)"";
	}
	cli_shell_candidates(sh, words, n, &c);
	if (c.n == 0) {
		rc = CC_ERROR;
		goto out;
	}
	typed = strlen(c.prefix);
	common = strlen(c.v[0]);
	for (i = 1; i < c.n; i++) {
		size_t j = 0;

		while (j < common && c.v[i][j] == c.v[0][j]) {
			j++;
		}
		common = j;
	}
	if (c.n == 1) {
		snprintf(add, sizeof(add), "%s ", c.v[0] + typed);
		el_insertstr(el, add);
	} else if (common > typed) {
		snprintf(add, sizeof(add), "%.*s", (int)(common - typed),
		    c.v[0] + typed);
		el_insertstr(el, add);
	} else {
		cli_shell_show(&c);
		rc = CC_REDISPLAY;
	}
out:
	for (i = 0; i < c.n; i++) {
		free(c.v[i]);
	}
	return rc;
}

/* Ctrl-C: the line is dropped, and a fresh prompt shown below it. */
static unsigned char
cli_shell_interrupt(EditLine *el, int ch)
{
	const LineInfo *li = el_line(el);

	(void)ch;
	el_cursor(el, (int)(li->lastchar - li->cursor));
	el_deletestr(el, (int)(li->lastchar - li->buffer));
	fputs("^C\n", stdout);
	fflush(stdout);
	return CC_REDISPLAY;
}

static char *
cli_shell_prompt(EditLine *el)
{
	struct cli_shell *sh;

	el_get(el, EL_CLIENTDATA, &sh);
	return sh->prompt;
}

/* "alice (850)> " when logged in, else "drink> ". */
static void
cli_shell_set_prompt(struct cli_shell *sh)
{
	char user[PROTO_NAME_MAX + 1];
	long long balance;

	if (cli_session_whoami(sh->s, user, sizeof(user), &balance) == 0) {
		snprintf(sh->prompt, sizeof(sh->prompt), "%s (%lld)> ", user,
		    balance);
	} else {
		snprintf(sh->prompt, sizeof(sh->prompt), "%s",
		    CLI_SHELL_PROMPT);
	}
}

/* $XDG_STATE_HOME/drink/history, else ~/.local/state/drink/history. */
static char *
cli_shell_history_path(void)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *dir, *path, *p;

	if (xdg != NULL && xdg[0] == '/') {
		dir = xasprintf("%s/drink", xdg);
	} else if (home != NULL && home[0] == '/') {
		dir = xasprintf("%s/.local/state/drink", home);
	} else {
		return NULL;
	}
	/* mkdir -p, private: the history may name users and notes. */
	for (p = dir + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
				free(dir);
				return NULL;
			}
			*p = c;
			if (c == '\0') {
				break;
			}
		}
	}
	path = xasprintf("%s/history", dir);
	free(dir);
	return path;
}

static void
cli_shell_edit_init(struct cli_shell *sh)
{
	HistEvent ev;

	sh->hist = history_init();
	history(sh->hist, &ev, H_SETSIZE, CLI_SHELL_HISTORY);
	history(sh->hist, &ev, H_SETUNIQUE, 1);
	if ((sh->hist_file = cli_shell_history_path()) != NULL) {
		history(sh->hist, &ev, H_LOAD, sh->hist_file);
	}
	sh->el = el_init("drink", stdin, stdout, stderr);
	el_set(sh->el, EL_CLIENTDATA, sh);
	el_set(sh->el, EL_EDITOR, "emacs");
	el_set(sh->el, EL_SIGNAL, 1);
	el_set(sh->el, EL_PROMPT, cli_shell_prompt);
	el_set(sh->el, EL_HIST, history, sh->hist);
	el_set(sh->el, EL_ADDFN, "drink-complete", "complete the word",
	    cli_shell_complete);
	el_set(sh->el, EL_BIND, "^I", "drink-complete", NULL);
	/* ^C reaches the editor as a key instead of killing the shell. */
	el_set(sh->el, EL_SETTY, "-d", "-isig", NULL);
	el_set(sh->el, EL_ADDFN, "drink-interrupt", "drop the line",
	    cli_shell_interrupt);
	el_set(sh->el, EL_BIND, "^C", "drink-interrupt", NULL);
	/* The person's own ~/.editrc bindings come last. */
	el_source(sh->el, NULL);
}

static void
cli_shell_edit_free(struct cli_shell *sh)
{
	if (sh->el != NULL) {
		el_end(sh->el);
	}
	if (sh->hist != NULL) {
		history_end(sh->hist);
	}
	free(sh->hist_file);
	cli_shell_names_free(&sh->users);
	cli_shell_names_free(&sh->machines);
}

/*
 * The next line, without its newline, into line: from the editor on a
 * terminal (kept in the history), else from stdin.  -1 at the end.
 */
static int
cli_shell_next(struct cli_shell *sh, char *line, size_t len, int *toolong)
{
	const char *got;
	HistEvent ev;
	size_t n;
	int count;

	*toolong = 0;
	if (sh->el == NULL) {
		return cli_shell_read(line, len, toolong);
	}
	cli_shell_set_prompt(sh);
	if ((got = el_gets(sh->el, &count)) == NULL || count <= 0) {
		printf("\n");
		return -1;
	}
	n = strlen(got);
	if (n >= len) {
		*toolong = 1;
		return 0;
	}
	memcpy(line, got, n + 1);
	if (n > 0 && line[n - 1] == '\n') {
		line[--n] = '\0';
	}
	if (strspn(line, " \t") < n) {
		history(sh->hist, &ev, H_ENTER, line);
		if (sh->hist_file != NULL) {
			history(sh->hist, &ev, H_SAVE, sh->hist_file);
		}
	}
	return 0;
}

int
cli_shell_run(struct cli_session *s)
{
	struct cli_shell sh = { .s = s };
	char line[CLI_SHELL_LINE_MAX], store[CLI_SHELL_LINE_MAX];
	char *words[CLI_SHELL_WORDS_MAX];
	const char *note;
	int toolong, n, st, last = CLI_EXIT_OK;
	size_t i;

	/* Connect now, so a wrong host or certificate shows up at once. */
	if ((st = cli_session_open(s)) != CLI_EXIT_OK) {
		return st;
	}
	cli_cmd_set_shell(1);
	if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
		printf("Type help for the commands, quit to leave.\n");
		cli_shell_edit_init(&sh);
		cli_tty_set_shell(1);
	}
	for (;;) {
		fflush(stdout);
		if (cli_shell_next(&sh, line, sizeof(line), &toolong) != 0) {
			break;
		}
		if (toolong) {
			cli_error("line longer than %d bytes ignored",
			    CLI_SHELL_LINE_MAX - 2);
			last = CLI_EXIT_USAGE;
			continue;
		}
		n = cli_shell_split(line, store, words, CLI_SHELL_WORDS_MAX,
		    0);
		if (n <= 0) {
			last = n < 0 ? CLI_EXIT_USAGE : last;
			continue;
		}
		for (i = 0; i < CLI_SHELL_NBUILTINS; i++) {
			if (strcmp(words[0], cli_shell_builtins[i].name) == 0) {
				break;
			}
		}
		if (i < CLI_SHELL_NBUILTINS &&
		    cli_shell_builtins[i].what == CLI_SHELL_QUIT) {
			break;
		}
		/* Said before the command reconnects. */
		if ((note = cli_session_lost(s)) != NULL) {
			cli_error("%s", note);
		}
		if (i == CLI_SHELL_NBUILTINS) {
			last = cli_cmd_execute(s, n, words);
		} else {
			last = cli_output_check(cli_cmd_help_words(n, words,
			    cli_shell_list));
		}
	}
	cli_shell_edit_free(&sh);
	return cli_output_check(last);
}
