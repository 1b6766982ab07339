/*
 * Human output: one-line confirmations from templates, aligned tables and
 * the sentences for refusals.  Every byte that came from the server passes
 * through cli_print_clean() on its way to the terminal, so a machine or item
 * name cannot carry escape sequences into someone's terminal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define CLI_PRINT_TEXT_MAX 1024
#define CLI_PRINT_COLS_MAX 8
#define CLI_PRINT_GAP 2

struct cli_print_col {
	const char *title;
	int right;	/* numbers line up on the right */
};

struct cli_print_table {
	const struct cli_print_col *cols;
	size_t ncols;
	size_t nrows, cap;
	char **cells;	/* nrows * ncols, each owned, never NULL */
	const char *none;	/* what an empty table has none of, or NULL */
};

/*
 * Texts for refusals of any command, tried after the command's own.  A
 * session without a login gets told how to get one.  Like the command's
 * own, they stand in for the server's default message of the code only
 * (see cli_print_refusal).
 */
/*
 * The shell cannot take -u: it logs in as drink was started, or by a
 * login kept meanwhile (drink -u USER login, from another terminal).
 */
static const struct cli_cmd_text cli_print_errors_shell[] = {
	{ "auth_required",
	    "{message}; quit, then start drink -u USER (or keep a login with "
	    "drink -u USER login), or use a member certificate" },
	{ NULL, NULL },
};

static const struct cli_cmd_text cli_print_errors_any[] = {
	{ "auth_required",
	    "{message}; use -u USER or a member certificate" },
	{ "bad_credentials", "wrong user name or password" },
	{ "locked_out", "too many failed logins; try again in "
	    "{retry_after} s" },
	{ "forbidden", "only admins may do that" },
	{ "no_such_user", "there is no user {user}" },
	{ "no_such_user", "there is no user {to}" },
	{ "no_such_machine", "there is no machine {machine}" },
	{ "no_such_slot", "machine {machine} has no slot {slot}" },
	{ "no_such_transaction", "there is no transaction {tx}" },
	{ "exists", "user {user} already exists" },
	{ "exists", "machine {machine} already exists" },
	{ "machine_offline", "machine {machine} is offline" },
	{ "insufficient_funds", "insufficient funds: balance {balance}" },
	{ "conflict", "the key {key} was already used with other arguments" },
	{ "server_busy", "the server has too many connections; try again "
	    "later" },
	{ NULL, NULL }
};

/*
 * Control characters become "?", the C1 ones (U+0080 to U+009F, which
 * some terminals obey like ESC) included; other UTF-8 passes untouched.
 */
static void
cli_print_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			*p = '?';
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			p[0] = p[1] = '?';
			p++;
		}
	}
}

/* d as an integer, when it is one that a long long holds. */
static int
cli_print_whole(double d, long long *out)
{
	/* Both bounds are exact doubles, unlike LLONG_MAX. */
	if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) ||
	    d != (double)(long long)d) {
		return -1;
	}
	*out = (long long)d;
	return 0;
}

/*
 * Columns a code point takes on a terminal: 0 for combining marks and
 * zero-width characters, 2 for East Asian wide and fullwidth forms and
 * emoji, else 1.  A small fixed table rather than wcwidth(), which needs a
 * UTF-8 locale and gives -1 in the C locale.
 */
static int
cli_print_cp_width(unsigned long cp)
{
	static const struct {
		unsigned long lo, hi;
		int width;
	} ranges[] = {
		{ 0x0300, 0x036f, 0 }, { 0x0483, 0x0489, 0 },
		{ 0x0591, 0x05bd, 0 }, { 0x0610, 0x061a, 0 },
		{ 0x064b, 0x065f, 0 }, { 0x200b, 0x200f, 0 },
		{ 0x20d0, 0x20ff, 0 }, { 0xfe00, 0xfe0f, 0 },
		{ 0xfe20, 0xfe2f, 0 }, { 0x1100, 0x115f, 2 },
		{ 0x231a, 0x231b, 2 }, { 0x2329, 0x232a, 2 },
		{ 0x23e9, 0x23ec, 2 }, { 0x25fd, 0x25fe, 2 },
		{ 0x2614, 0x2615, 2 }, { 0x2e80, 0x303e, 2 },
		{ 0x3041, 0x33ff, 2 }, { 0x3400, 0x4dbf, 2 },
		{ 0x4e00, 0x9fff, 2 }, { 0xa000, 0xa4cf, 2 },
		{ 0xac00, 0xd7a3, 2 }, { 0xf900, 0xfaff, 2 },
		{ 0xfe30, 0xfe4f, 2 }, { 0xff00, 0xff60, 2 },
		{ 0xffe0, 0xffe6, 2 }, { 0x1f300, 0x1f64f, 2 },
		{ 0x1f680, 0x1f6ff, 2 }, { 0x1f900, 0x1f9ff, 2 },
		{ 0x20000, 0x3fffd, 2 },
	};
	size_t i;

	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		if (cp >= ranges[i].lo && cp <= ranges[i].hi) {
			return ranges[i].width;
		}
	}
	return 1;
}

/* Terminal columns taken by s (UTF-8, already cleaned). */
size_t
cli_print_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long cp;
	size_t n = 0;
	int more;

	while (*p != '\0') {
		if (*p < 0x80) {
			cp = *p++;
			more = 0;
		} else if ((*p & 0xe0) == 0xc0) {
			cp = *p++ & 0x1f;
			more = 1;
		} else if ((*p & 0xf0) == 0xe0) {
			cp = *p++ & 0x0f;
			more = 2;
		} else {
			cp = *p++ & 0x07;
			more = 3;
		}
		for (; more > 0 && (*p & 0xc0) == 0x80; more--) {
			cp = cp << 6 | (*p++ & 0x3f);
		}
		n += (size_t)cli_print_cp_width(cp);
	}
	return n;
}

/* An item as text: strings as they are, integers exactly, yes/no. */
static const char *
cli_print_item_text(const cJSON *v, char *buf, size_t len)
{
	long long n;

	if (v == NULL || cJSON_IsNull(v)) {
		return NULL;
	}
	if (cJSON_IsString(v) || cJSON_IsRaw(v)) {
		return v->valuestring;
	}
	if (cJSON_IsBool(v)) {
		return cJSON_IsTrue(v) ? "yes" : "no";
	}
	if (cJSON_IsNumber(v)) {
		if (cli_print_whole(v->valuedouble, &n) == 0) {
			snprintf(buf, len, "%lld", n);
		} else {
			snprintf(buf, len, "%g", v->valuedouble);
		}
		return buf;
	}
	return NULL;
}

/*
 * obj's field as text, in buf when it had to be formatted; NULL when absent
 * or null.  The text is raw server data: cli_print_clean() it before output.
 */
static const char *
cli_print_value(const cJSON *obj, const char *field, char *buf, size_t len)
{
	return cli_print_item_text(cJSON_GetObjectItemCaseSensitive(obj, field),
	    buf, len);
}

int
cli_print_int(const cJSON *obj, const char *field, long long *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);

	if (cJSON_IsNumber(v)) {
		return cli_print_whole(v->valuedouble, out);
	}
	if (cJSON_IsRaw(v)) {
		*out = atoll(v->valuestring);
		return 0;
	}
	return -1;
}

/* Unix seconds as local "YYYY-MM-DD HH:MM"; NULL when absent. */
static const char *
cli_print_time(const cJSON *obj, const char *field, char *buf, size_t len)
{
	long long secs;
	time_t t;
	struct tm tm;

	if (cli_print_int(obj, field, &secs) != 0) {
		return NULL;
	}
	t = (time_t)secs;
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M", &tm) == 0) {
		return NULL;
	}
	return buf;
}

/* Append src to out[*used..len), truncating; out stays terminated. */
static void
cli_print_append(char *out, size_t len, size_t *used, const char *src)
{
	size_t n = strlen(src);

	if (*used + 1 >= len) {
		return;
	}
	if (n > len - 1 - *used) {
		n = len - 1 - *used;
	}
	memcpy(out + *used, src, n);
	*used += n;
	out[*used] = '\0';
}

static const char *
cli_print_lookup(const struct cli_cmd_run *run, const cJSON *reply,
    const char *name, char *buf, size_t len)
{
	const char *v = NULL;

	if (strncmp(name, "request.", 8) == 0) {
		return run != NULL ?
		    cli_print_value(run->req, name + 8, buf, len) : NULL;
	}
	if ((v = cli_print_value(reply, name, buf, len)) != NULL) {
		return v;
	}
	if (run != NULL && (v = cli_print_value(run->req, name, buf, len)) !=
	    NULL) {
		return v;
	}
	if (run != NULL) {
		v = cli_print_value(run->info, name, buf, len);
	}
	return v;
}

/*
 * Expand {field} in tmpl from the reply, else the request, else run->info
 * ({request.field}: the request only).  An absent field makes the whole
 * text fail (-1) when strict, and reads "?" otherwise.  run may be NULL.
 */
static int
cli_print_expand(const struct cli_cmd_run *run, const cJSON *reply,
    const char *tmpl, int strict, char *out, size_t len)
{
	char name[64], num[64];
	const char *p, *close, *v;
	size_t used = 0, n;

	out[0] = '\0';
	for (p = tmpl; *p != '\0'; p++) {
		if (*p != '{' || (close = strchr(p, '}')) == NULL ||
		    (n = (size_t)(close - p - 1)) >= sizeof(name)) {
			char c[2] = { *p, '\0' };

			cli_print_append(out, len, &used, c);
			continue;
		}
		memcpy(name, p + 1, n);
		name[n] = '\0';
		v = cli_print_lookup(run, reply, name, num, sizeof(num));
		if (v == NULL) {
			if (strict) {
				return -1;
			}
			v = "?";
		}
		cli_print_append(out, len, &used, v);
		p = close;
	}
	cli_print_clean(out);
	return 0;
}

/*
 * The first text for code in list that can be filled in; with quoting,
 * only a text that quotes the server's {message}.
 */
static int
cli_print_pick(const struct cli_cmd_text *list, const struct cli_cmd_run *run,
    const cJSON *reply, const char *code, int quoting, char *out, size_t len)
{
	for (; list != NULL && list->code != NULL; list++) {
		if (strcmp(list->code, code) == 0 && (!quoting ||
		    strstr(list->text, "{message}") != NULL) &&
		    cli_print_expand(run, reply, list->text, 1, out, len) ==
		    0) {
			return 0;
		}
	}
	return -1;
}

/*
 * "drink: <what went wrong> (<code>)".  The server knows best what went
 * wrong: when its message is more than the code's default one ("machine
 * snacks is disabled", "that name is taken by a machine"), it is what the
 * member reads.  The client's sentences, the command's own first, stand
 * in for the default message only, with the names and numbers filled in;
 * a sentence that quotes {message} adds to the server's words instead
 * and is used either way.  Last comes the server's message as it is, with
 * the retry delay or the balance when the reply carries them.
 */
void
cli_print_refusal(const struct cli_cmd_run *run, const cJSON *reply)
{
	char text[CLI_PRINT_TEXT_MAX], code[64], num[32], extra[96] = "";
	const char *c, *msg;
	long long n;
	int e, precise;

	if ((c = cli_print_value(reply, "error", num, sizeof(num))) == NULL) {
		c = "internal";
	}
	snprintf(code, sizeof(code), "%s", c);
	cli_print_clean(code);
	e = proto_err_parse(code);
	msg = cli_print_value(reply, "message", num, sizeof(num));
	precise = msg != NULL && msg[0] != '\0' && e >= 0 &&
	    strcmp(msg, proto_err_message((enum proto_err)e)) != 0;
	if (cli_print_pick(run != NULL ? run->errors : NULL, run, reply, code,
	    precise, text, sizeof(text)) == 0 ||
	    (cli_cmd_prefix()[0] == '\0' && cli_print_pick(
	    cli_print_errors_shell, run, reply, code, precise, text,
	    sizeof(text)) == 0) ||
	    cli_print_pick(cli_print_errors_any, run, reply, code, precise,
	    text, sizeof(text)) == 0) {
		cli_error("%s (%s)", text, code);
		return;
	}
	if (msg == NULL) {
		msg = e >= 0 ? proto_err_message((enum proto_err)e) : code;
	}
	snprintf(text, sizeof(text), "%s", msg);
	cli_print_clean(text);
	if (cli_print_int(reply, "retry_after", &n) == 0) {
		snprintf(extra, sizeof(extra), "; retry after %lld s", n);
	} else if (cli_print_int(reply, "balance", &n) == 0) {
		snprintf(extra, sizeof(extra), "; balance %lld", n);
	}
	cli_error("%s (%s)%s", text, code, extra);
}

void
cli_print_done(const struct cli_cmd_run *run, const cJSON *reply)
{
	char text[CLI_PRINT_TEXT_MAX];

	if (run->done == NULL) {
		printf("ok\n");
		return;
	}
	cli_print_expand(run, reply, run->done, 0, text, sizeof(text));
	printf("%s\n", text);
}

void
cli_print_dropping(const struct cli_cmd_run *run)
{
	char text[CLI_PRINT_TEXT_MAX];

	if (cli_print_expand(run, NULL, "Dropping {item} from {display} slot "
	    "{slot} ...", 1, text, sizeof(text)) != 0 &&
	    cli_print_expand(run, NULL, "Dropping {item} from {machine} slot "
	    "{slot} ...", 1, text, sizeof(text)) != 0 &&
	    cli_print_expand(run, NULL, "Dropping from {display} slot "
	    "{slot} ...", 1, text, sizeof(text)) != 0) {
		cli_print_expand(run, NULL, "Dropping from {machine} slot "
		    "{slot} ...", 0, text, sizeof(text));
	}
	printf("%s\n", text);
	fflush(stdout);
}

void
cli_print_pong(const struct cli_cmd_run *run, const cJSON *reply)
{
	char text[CLI_PRINT_TEXT_MAX];

	if (cli_print_expand(NULL, reply, "pong {data}", 1, text,
	    sizeof(text)) != 0) {
		snprintf(text, sizeof(text), "pong");
	}
	(void)run;
	printf("%s\n", text);
}

static void
cli_print_table_init(struct cli_print_table *t,
    const struct cli_print_col *cols)
{
	memset(t, 0, sizeof(*t));
	t->cols = cols;
	while (t->ncols < CLI_PRINT_COLS_MAX && cols[t->ncols].title != NULL) {
		t->ncols++;
	}
}

/* One row of ncols cells; NULL and empty cells print as "-". */
static void
cli_print_table_row(struct cli_print_table *t, const char *const *cells)
{
	size_t i;
	char *c;

	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->cells = xreallocarray(t->cells, t->cap * t->ncols,
		    sizeof(*t->cells));
	}
	for (i = 0; i < t->ncols; i++) {
		c = xstrdup(cells[i] != NULL && cells[i][0] != '\0' ?
		    cells[i] : "-");
		cli_print_clean(c);
		t->cells[t->nrows * t->ncols + i] = c;
	}
	t->nrows++;
}

static void
cli_print_cell(const char *s, size_t width, int right, int last)
{
	size_t pad = width - cli_print_width(s);

	if (right) {
		printf("%*s%s", (int)pad, "", s);
	} else if (last) {
		fputs(s, stdout);
	} else {
		printf("%s%*s", s, (int)pad, "");
	}
	if (!last) {
		printf("%*s", CLI_PRINT_GAP, "");
	}
}

/*
 * A list with nothing in it says so, under its header alone: a bare
 * header reads as a fault.  On standard error, so the table reads the
 * same to a script.
 */
static void
cli_print_none(const char *what)
{
	fflush(stdout);
	fprintf(stderr, "(no %s)\n", what);
}

/*
 * Print the header and rows with widths fitted to the data (an empty
 * table with its none said), then free.
 */
static void
cli_print_table_flush(struct cli_print_table *t)
{
	size_t w[CLI_PRINT_COLS_MAX], i, r, n;

	for (i = 0; i < t->ncols; i++) {
		w[i] = cli_print_width(t->cols[i].title);
		for (r = 0; r < t->nrows; r++) {
			n = cli_print_width(t->cells[r * t->ncols + i]);
			w[i] = n > w[i] ? n : w[i];
		}
	}
	for (i = 0; i < t->ncols; i++) {
		cli_print_cell(t->cols[i].title, w[i], t->cols[i].right,
		    i + 1 == t->ncols);
	}
	printf("\n");
	for (r = 0; r < t->nrows; r++) {
		for (i = 0; i < t->ncols; i++) {
			cli_print_cell(t->cells[r * t->ncols + i], w[i],
			    t->cols[i].right, i + 1 == t->ncols);
		}
		printf("\n");
	}
	for (i = 0; i < t->nrows * t->ncols; i++) {
		free(t->cells[i]);
	}
	free(t->cells);
	if (t->nrows == 0 && t->none != NULL) {
		cli_print_none(t->none);
	}
}

void
cli_print_machines(const struct cli_cmd_run *run, const cJSON *reply)
{
	static const struct cli_print_col cols[] = {
		{ "MACHINE", 0 }, { "NAME", 0 }, { "ONLINE", 0 },
		{ "ENABLED", 0 }, { "TEMP", 1 }, { NULL, 0 }
	};
	struct cli_print_table t;
	const cJSON *m, *temp;
	char b[5][64];

	(void)run;
	cli_print_table_init(&t, cols);
	t.none = "machines";
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(reply,
	    "machines")) {
		const char *row[5];

		temp = cJSON_GetObjectItemCaseSensitive(m, "temperature");
		snprintf(b[4], sizeof(b[4]), "%.1f",
		    cJSON_IsNumber(temp) ? temp->valuedouble : 0.0);
		row[0] = cli_print_value(m, "machine", b[0], sizeof(b[0]));
		row[1] = cli_print_value(m, "name", b[1], sizeof(b[1]));
		row[2] = cli_print_value(m, "online", b[2], sizeof(b[2]));
		row[3] = cli_print_value(m, "enabled", b[3], sizeof(b[3]));
		row[4] = cJSON_IsNumber(temp) ? b[4] : NULL;
		cli_print_table_row(&t, row);
	}
	cli_print_table_flush(&t);
}

void
cli_print_slots(const struct cli_cmd_run *run, const cJSON *reply)
{
	static const struct cli_print_col cols[] = {
		{ "SLOT", 1 }, { "ITEM", 0 }, { "PRICE", 1 }, { "STOCK", 1 },
		{ "ENABLED", 0 }, { NULL, 0 }
	};
	struct cli_print_table t;
	const cJSON *s;
	char b[5][64];

	(void)run;
	cli_print_table_init(&t, cols);
	t.none = "slots";
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(reply,
	    "slots")) {
		const char *row[5];

		row[0] = cli_print_value(s, "slot", b[0], sizeof(b[0]));
		row[1] = cli_print_value(s, "item", b[1], sizeof(b[1]));
		row[2] = cli_print_value(s, "price", b[2], sizeof(b[2]));
		row[3] = cli_print_value(s, "stock", b[3], sizeof(b[3]));
		row[4] = cli_print_value(s, "enabled", b[4], sizeof(b[4]));
		cli_print_table_row(&t, row);
	}
	cli_print_table_flush(&t);
}

/*
 * What a transaction was about: the item and where it came from for drops
 * and refunds, the other member for transfers, and the note when there is
 * one.  The amount's sign tells which way a transfer went.
 */
static void
cli_print_details(const cJSON *tx, char *out, size_t len)
{
	char b[64], part[CLI_PRINT_TEXT_MAX];
	const char *v;
	long long amount = 0;
	size_t used = 0;

	out[0] = '\0';
	if ((v = cli_print_value(tx, "item", b, sizeof(b))) != NULL) {
		cli_print_append(out, len, &used, v);
	}
	if ((v = cli_print_value(tx, "machine", b, sizeof(b))) != NULL) {
		cli_print_append(out, len, &used, used > 0 ? " from " : "");
		cli_print_append(out, len, &used, v);
	}
	if ((v = cli_print_value(tx, "slot", b, sizeof(b))) != NULL) {
		snprintf(part, sizeof(part), "%sslot %s", used > 0 ? " " : "",
		    v);
		cli_print_append(out, len, &used, part);
	}
	if ((v = cli_print_value(tx, "counterparty", b, sizeof(b))) != NULL) {
		cli_print_int(tx, "amount", &amount);
		snprintf(part, sizeof(part), "%s%s %s", used > 0 ? ", " : "",
		    amount < 0 ? "to" : "from", v);
		cli_print_append(out, len, &used, part);
	}
	if ((v = cli_print_value(tx, "note", b, sizeof(b))) != NULL &&
	    *v != '\0') {
		cli_print_append(out, len, &used, used > 0 ? ": " : "");
		cli_print_append(out, len, &used, v);
	}
	/* Why a drop failed, when the server recorded it. */
	if ((v = cli_print_value(tx, "reason", b, sizeof(b))) != NULL &&
	    *v != '\0') {
		cli_print_append(out, len, &used, used > 0 ? " (" : "(");
		cli_print_append(out, len, &used, v);
		cli_print_append(out, len, &used, ")");
	}
}

/* history and log share one layout; log adds the member's name. */
static void
cli_print_transactions(const cJSON *reply, int with_user)
{
	static const struct cli_print_col cols_history[] = {
		{ "TX", 1 }, { "TIME", 0 }, { "KIND", 0 }, { "AMOUNT", 1 },
		{ "STATE", 0 }, { "DETAILS", 0 }, { NULL, 0 }
	};
	static const struct cli_print_col cols_log[] = {
		{ "TX", 1 }, { "TIME", 0 }, { "USER", 0 }, { "KIND", 0 },
		{ "AMOUNT", 1 }, { "STATE", 0 }, { "DETAILS", 0 }, { NULL, 0 }
	};
	struct cli_print_table t;
	const cJSON *tx;
	char b[6][64], details[CLI_PRINT_TEXT_MAX];
	long long amount, refund;

	cli_print_table_init(&t, with_user ? cols_log : cols_history);
	cJSON_ArrayForEach(tx, cJSON_GetObjectItemCaseSensitive(reply,
	    "transactions")) {
		const char *row[7];
		size_t i = 0;

		row[i++] = cli_print_value(tx, "tx", b[0], sizeof(b[0]));
		row[i++] = cli_print_time(tx, "time", b[1], sizeof(b[1]));
		if (with_user) {
			row[i++] = cli_print_value(tx, "user", b[2],
			    sizeof(b[2]));
		}
		row[i++] = cli_print_value(tx, "kind", b[3], sizeof(b[3]));
		row[i] = NULL;
		if (cli_print_int(tx, "amount", &amount) == 0) {
			snprintf(b[4], sizeof(b[4]), "%+lld", amount);
			row[i] = b[4];
		}
		i++;
		/* A completed drop that was refunded says so, as the web
		 * app does; its refund is its own row. */
		if (cli_print_int(tx, "refund", &refund) == 0) {
			snprintf(b[5], sizeof(b[5]), "refunded (tx %lld)",
			    refund);
			row[i++] = b[5];
		} else {
			row[i++] = cli_print_value(tx, "state", b[5],
			    sizeof(b[5]));
		}
		cli_print_details(tx, details, sizeof(details));
		row[i++] = details;
		cli_print_table_row(&t, row);
	}
	cli_print_table_flush(&t);
}

/* The server's pages when no --limit is given (protocol.md). */
#define CLI_PRINT_HISTORY_PAGE 20
#define CLI_PRINT_LOG_PAGE 100

/*
 * A full page may not be all there is: say how to see the next one; an
 * empty one, that there is nothing (a bare header reads as a fault).  On
 * standard error, so the table reads the same to a script.
 */
static void
cli_print_older(const struct cli_cmd_run *run, const cJSON *reply,
    long long page)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(reply,
	    "transactions");
	const cJSON *limit = cJSON_GetObjectItemCaseSensitive(run->req,
	    "limit"), *tx;
	int n = cJSON_GetArraySize(list);

	/* Whole numbers from the command line go as they were typed. */
	if (cJSON_IsRaw(limit)) {
		page = strtoll(limit->valuestring, NULL, 10);
	} else if (cJSON_IsNumber(limit)) {
		page = (long long)limit->valuedouble;
	}
	if (n == 0) {
		cli_print_none("transactions");
		return;
	}
	if (n < page) {
		return;
	}
	tx = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(list, n - 1),
	    "tx");
	if (cJSON_IsNumber(tx)) {
		fflush(stdout);
		fprintf(stderr, "(%d shown; the same with --before %lld for "
		    "older ones)\n", n, (long long)tx->valuedouble);
	}
}

void
cli_print_history(const struct cli_cmd_run *run, const cJSON *reply)
{
	cli_print_transactions(reply, 0);
	cli_print_older(run, reply, CLI_PRINT_HISTORY_PAGE);
}

void
cli_print_log(const struct cli_cmd_run *run, const cJSON *reply)
{
	cli_print_transactions(reply, 1);
	cli_print_older(run, reply, CLI_PRINT_LOG_PAGE);
}

/* Members are not told sessions or addresses: those cells read "-". */
void
cli_print_who(const struct cli_cmd_run *run, const cJSON *reply)
{
	static const struct cli_print_col cols[] = {
		{ "SESSION", 1 }, { "KIND", 0 }, { "NAME", 0 },
		{ "ADDRESS", 0 }, { "PORT", 1 }, { "SINCE", 0 }, { NULL, 0 }
	};
	struct cli_print_table t;
	const cJSON *c;
	char b[6][64];

	(void)run;
	cli_print_table_init(&t, cols);
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(reply,
	    "clients")) {
		const char *row[6];

		row[0] = cli_print_value(c, "session", b[0], sizeof(b[0]));
		row[1] = cli_print_value(c, "kind", b[1], sizeof(b[1]));
		row[2] = cli_print_value(c, "user", b[2], sizeof(b[2]));
		if (row[2] == NULL) {
			row[2] = cli_print_value(c, "machine", b[2],
			    sizeof(b[2]));
		}
		row[3] = cli_print_value(c, "address", b[3], sizeof(b[3]));
		row[4] = cli_print_value(c, "port", b[4], sizeof(b[4]));
		row[5] = cli_print_time(c, "since", b[5], sizeof(b[5]));
		cli_print_table_row(&t, row);
	}
	cli_print_table_flush(&t);
}

void
cli_print_users(const struct cli_cmd_run *run, const cJSON *reply)
{
	static const struct cli_print_col cols[] = {
		{ "USER", 0 }, { "ROLE", 0 }, { "BALANCE", 1 },
		{ "DISABLED", 0 }, { "LAST SEEN", 0 }, { NULL, 0 }
	};
	struct cli_print_table t;
	const cJSON *u;
	char b[5][64];

	(void)run;
	cli_print_table_init(&t, cols);
	cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(reply,
	    "users")) {
		const char *row[5];

		row[0] = cli_print_value(u, "user", b[0], sizeof(b[0]));
		row[1] = cli_print_value(u, "role", b[1], sizeof(b[1]));
		row[2] = cli_print_value(u, "balance", b[2], sizeof(b[2]));
		row[3] = cli_print_value(u, "disabled", b[3], sizeof(b[3]));
		if ((row[4] = cli_print_time(u, "last_seen", b[4],
		    sizeof(b[4]))) == NULL) {
			row[4] = "never";
		}
		cli_print_table_row(&t, row);
	}
	cli_print_table_flush(&t);
}

void
cli_print_cards(const struct cli_cmd_run *run, const cJSON *reply)
{
	static const struct cli_print_col cols[] = {
		{ "CARD", 1 }, { "LABEL", 0 }, { "ADDED", 0 },
		{ "LAST USED", 0 }, { NULL, 0 }
	};
	struct cli_print_table t;
	const cJSON *c;
	char b[4][CLI_PRINT_TEXT_MAX];

	(void)run;
	cli_print_table_init(&t, cols);
	t.none = "cards";
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(reply,
	    "cards")) {
		const char *row[4];

		row[0] = cli_print_value(c, "card_id", b[0], sizeof(b[0]));
		row[1] = cli_print_value(c, "label", b[1], sizeof(b[1]));
		row[2] = cli_print_time(c, "created", b[2], sizeof(b[2]));
		if ((row[3] = cli_print_time(c, "last_used", b[3],
		    sizeof(b[3]))) == NULL) {
			row[3] = "never";
		}
		cli_print_table_row(&t, row);
	}
	cli_print_table_flush(&t);
}

/* The reply is the slot, at the top level or as a "slot" object. */
void
cli_print_slot_set(const struct cli_cmd_run *run, const cJSON *reply)
{
	const cJSON *slot = cJSON_GetObjectItemCaseSensitive(reply, "slot"), *v;
	char text[CLI_PRINT_TEXT_MAX], b[64];
	const char *enabled;

	if (!cJSON_IsObject(slot)) {
		slot = reply;
	}
	enabled = cli_print_value(slot, "enabled", b, sizeof(b));
	/* A slot set up without an item reads as the slots table shows it. */
	v = cJSON_GetObjectItemCaseSensitive(slot, "item");
	cli_print_expand(run, slot, cJSON_IsString(v) &&
	    v->valuestring[0] != '\0' ? "Slot {slot} of {machine}: {item}, "
	    "price {price}, stock {stock}" : "Slot {slot} of {machine}: -, "
	    "price {price}, stock {stock}", 0, text, sizeof(text));
	printf("%s, %s\n", text, enabled == NULL ? "?" :
	    strcmp(enabled, "yes") == 0 ? "enabled" : "disabled");
}

void
cli_print_fields(const struct cli_cmd_run *run, const cJSON *reply)
{
	char text[CLI_PRINT_TEXT_MAX], b[64], *json;
	const cJSON *v;
	const char *t;
	int any = 0;

	(void)run;
	cJSON_ArrayForEach(v, reply) {
		if (v->string == NULL || strcmp(v->string, "ok") == 0 ||
		    strcmp(v->string, "id") == 0) {
			continue;
		}
		json = NULL;
		if ((t = cli_print_item_text(v, b, sizeof(b))) == NULL) {
			t = json = cJSON_PrintUnformatted(v);
		}
		snprintf(text, sizeof(text), "%s: %s", v->string,
		    t != NULL ? t : "-");
		cli_print_clean(text);
		printf("%s\n", text);
		free(json);
		any = 1;
	}
	if (!any) {
		printf("ok\n");
	}
}
