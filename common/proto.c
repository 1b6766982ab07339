/*
 * Protocol vocabulary shared by the server and the clients: the stable
 * error codes, the name rule, and a scanner for what cJSON throws away
 * (whether a number was written as an integer, the exact text of "id",
 * and "\u0000" escapes that would silently truncate a C string).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const struct {
	const char *code;
	const char *message;
} proto_errors[ERR_COUNT] = {
	[ERR_NONE] = { "ok", "ok" },
	[ERR_BAD_REQUEST] = { "bad_request", "malformed request" },
	[ERR_LINE_TOO_LONG] = { "line_too_long", "request line too long" },
	[ERR_UNKNOWN_COMMAND] = { "unknown_command", "no such command" },
	[ERR_AUTH_REQUIRED] = { "auth_required", "log in first" },
	[ERR_FORBIDDEN] = { "forbidden", "not allowed for this role" },
	[ERR_BAD_CREDENTIALS] = { "bad_credentials",
	    "wrong user or password" },
	[ERR_LOCKED_OUT] = { "locked_out", "too many failed logins" },
	[ERR_NO_SUCH_USER] = { "no_such_user", "no such user" },
	[ERR_NO_SUCH_MACHINE] = { "no_such_machine", "no such machine" },
	[ERR_NO_SUCH_SLOT] = { "no_such_slot", "no such slot" },
	[ERR_NO_SUCH_TRANSACTION] = { "no_such_transaction",
	    "no such transaction" },
	[ERR_EXISTS] = { "exists", "already exists" },
	[ERR_INVALID_AMOUNT] = { "invalid_amount", "invalid amount" },
	[ERR_INSUFFICIENT_FUNDS] = { "insufficient_funds",
	    "insufficient funds" },
	[ERR_SLOT_EMPTY] = { "slot_empty", "slot is empty" },
	[ERR_SLOT_DISABLED] = { "slot_disabled", "slot is disabled" },
	[ERR_MACHINE_OFFLINE] = { "machine_offline", "machine is offline" },
	[ERR_DROP_IN_PROGRESS] = { "drop_in_progress",
	    "a drop is already in progress" },
	[ERR_DROP_FAILED] = { "drop_failed",
	    "the machine failed to vend; nothing charged" },
	[ERR_DROP_TIMEOUT] = { "drop_timeout",
	    "the machine did not answer; nothing charged" },
	[ERR_CONFLICT] = { "conflict",
	    "idempotency key reused with different arguments" },
	[ERR_SERVER_BUSY] = { "server_busy", "too many connections" },
	[ERR_UNAVAILABLE] = { "unavailable",
	    "storage is failing; nothing was changed, try again later" },
	[ERR_INTERNAL] = { "internal",
	    "server fault; outcome unknown: retry only with the same key" },
};

const char *
proto_err_code(enum proto_err e)
{
	return (unsigned)e < ERR_COUNT ? proto_errors[e].code : "internal";
}

const char *
proto_err_message(enum proto_err e)
{
	return (unsigned)e < ERR_COUNT ? proto_errors[e].message :
	    "internal server error";
}

int
proto_err_parse(const char *code)
{
	int i;

	for (i = 0; i < ERR_COUNT; i++) {
		if (strcmp(code, proto_errors[i].code) == 0) {
			return i;
		}
	}
	return -1;
}

/* ^[a-z][a-z0-9_.-]{0,31}$ */
int
proto_valid_name(const char *s)
{
	size_t i;

	if (s == NULL || s[0] < 'a' || s[0] > 'z') {
		return 0;
	}
	for (i = 1; s[i] != '\0'; i++) {
		if (i >= PROTO_NAME_MAX) {
			return 0;
		}
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		    s[i] == '.' || s[i] == '-')) {
			return 0;
		}
	}
	return 1;
}

int
proto_valid_card(const char *s)
{
	size_t n;

	if (s == NULL) {
		return 0;
	}
	n = strspn(s, "0123456789abcdefABCDEF");
	return s[n] == '\0' && n >= PROTO_CARD_MIN && n <= PROTO_CARD_MAX;
}

struct scan {
	const char *p, *end;
	int has_nul;
	int has_ctl;
	int bad_utf8;
	int too_deep;
};

/*
 * Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 if there is none.
 */
static size_t
scan_utf8(const unsigned char *p, const unsigned char *end)
{
	size_t n, i;
	unsigned lo = 0x80, hi = 0xbf;

	if (p[0] < 0x80) {
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		lo = p[0] == 0xe0 ? 0xa0 : 0x80;
		hi = p[0] == 0xed ? 0x9f : 0xbf;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		lo = p[0] == 0xf0 ? 0x90 : 0x80;
		hi = p[0] == 0xf4 ? 0x8f : 0xbf;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi) {
		return 0;
	}
	for (i = 2; i < n; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf) {
			return 0;
		}
	}
	return n;
}

static void
scan_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r')) {
		s->p++;
	}
}

/*
 * s->p at the opening quote; leaves it after the closing one.  Raw control
 * characters are noted for refusal, as JSON requires: cJSON would accept
 * them, and an "id" echoed verbatim must never carry one back out.
 */
static int
scan_string(struct scan *s)
{
	size_t n;

	s->p++;
	while (s->p < s->end && *s->p != '"') {
		if ((unsigned char)*s->p < 0x20) {
			s->has_ctl = 1;
		}
		if ((unsigned char)*s->p >= 0x80) {
			n = scan_utf8((const unsigned char *)s->p,
			    (const unsigned char *)s->end);
			if (n == 0) {
				s->bad_utf8 = 1;
				n = 1;
			}
			s->p += n;
			continue;
		}
		if (*s->p == '\\') {
			if (s->end - s->p >= 6 &&
			    memcmp(s->p, "\\u0000", 6) == 0) {
				s->has_nul = 1;
			}
			s->p++;
		}
		s->p++;
	}
	if (s->p >= s->end) {
		return -1;
	}
	s->p++;
	return 0;
}

static int
scan_digits(struct scan *s)
{
	const char *p = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		s->p++;
	}
	return s->p > p ? 0 : -1;
}

/*
 * Skip a number as JSON writes it (RFC 8259: no leading zero, digits on
 * both sides of ".", no "+" in front), or -1: cJSON also reads 01, 0. and
 * 1.e2, and an id echoed as written would then not be JSON.  *integer is
 * set when it has no fraction and no exponent.
 */
static int
scan_number(struct scan *s, int *integer)
{
	*integer = 1;
	if (s->p < s->end && *s->p == '-') {
		s->p++;
	}
	if (s->p < s->end && *s->p == '0') {
		s->p++;
	} else if (scan_digits(s) != 0) {
		return -1;
	}
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		*integer = 0;
		if (scan_digits(s) != 0) {
			return -1;
		}
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		*integer = 0;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-')) {
			s->p++;
		}
		if (scan_digits(s) != 0) {
			return -1;
		}
	}
	/* Nothing may go on with the literal ("01", "1.2.3", "1e2e3"). */
	return s->p < s->end && strchr("+-0123456789.eE", *s->p) != NULL ?
	    -1 : 0;
}

/*
 * Skip one value; *integer set for a number literal without . e E.  Every
 * number in it, however deep, must be written as JSON writes numbers.
 */
static int
scan_value(struct scan *s, int *integer)
{
	size_t depth = 0;
	int nested;

	*integer = 0;
	if (s->p >= s->end) {
		return -1;
	}
	if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) {
		return scan_number(s, integer);
	}
	do {
		if (s->p >= s->end) {
			return -1;
		}
		switch (*s->p) {
		case '"':
			if (scan_string(s) != 0) {
				return -1;
			}
			continue;
		case '-': case '0': case '1': case '2': case '3': case '4':
		case '5': case '6': case '7': case '8': case '9':
			/* Outside strings, only a number holds a digit. */
			if (scan_number(s, &nested) != 0) {
				return -1;
			}
			continue;
		case '{':
		case '[':
			/* Bounded so cJSON's recursive parser stays shallow. */
			if (++depth > PROTO_MAX_DEPTH) {
				s->too_deep = 1;
			}
			break;
		case '}':
		case ']':
			if (depth == 0) {
				return -1;
			}
			depth--;
			break;
		case ',':
		case ':':
			if (depth == 0) {
				return 0;
			}
			break;
		}
		s->p++;
	} while (depth > 0 || (s->p < s->end && *s->p >= 'a' && *s->p <= 'z'));
	return 0;
}

int
proto_scan(const char *line, size_t len, struct proto_scan *ps)
{
	struct scan s = { .p = line, .end = line + len };
	size_t cap = 0;
	int integer, ctl;
	const char *v, *k;

	memset(ps, 0, sizeof(*ps));
	if (memchr(line, '\0', len) != NULL) {
		return -1;
	}
	scan_ws(&s);
	if (s.p >= s.end || *s.p != '{') {
		return -1;
	}
	s.p++;
	scan_ws(&s);
	if (s.p < s.end && *s.p == '}') {
		return 0;
	}
	for (;;) {
		scan_ws(&s);
		k = s.p;
		if (s.p >= s.end || *s.p != '"' || scan_string(&s) != 0) {
			goto err;
		}
		if (ps->n == cap) {
			cap = cap ? cap * 2 : 8;
			ps->m = xreallocarray(ps->m, cap, sizeof(*ps->m));
		}
		ps->m[ps->n].key_off = (size_t)(k - line);
		ps->m[ps->n].key_len = (size_t)(s.p - k);
		/*
		 * Raw and decoded names must agree, or a member could be
		 * checked under one spelling and used under another.
		 */
		if (memchr(k, '\\', (size_t)(s.p - k)) != NULL) {
			ps->escaped_key = 1;
		}
		scan_ws(&s);
		if (s.p >= s.end || *s.p != ':') {
			goto err;
		}
		s.p++;
		scan_ws(&s);
		v = s.p;
		ctl = s.has_ctl;
		s.has_ctl = 0;
		if (scan_value(&s, &integer) != 0) {
			goto err;
		}
		ps->m[ps->n].clean = !s.has_ctl;
		s.has_ctl |= ctl;
		ps->m[ps->n].off = (size_t)(v - line);
		ps->m[ps->n].len = (size_t)(s.p - v);
		ps->m[ps->n].integer = integer;
		ps->n++;
		scan_ws(&s);
		if (s.p < s.end && *s.p == ',') {
			s.p++;
			continue;
		}
		if (s.p < s.end && *s.p == '}') {
			break;
		}
		goto err;
	}
	ps->has_nul = s.has_nul;
	ps->has_ctl = s.has_ctl;
	ps->bad_utf8 = s.bad_utf8;
	ps->too_deep = s.too_deep;
	return 0;
err:
	proto_scan_free(ps);
	return -1;
}

void
proto_scan_free(struct proto_scan *ps)
{
	free(ps->m);
	ps->m = NULL;
	ps->n = 0;
}

const struct proto_member *
proto_scan_find(const struct proto_scan *ps, const char *line,
    const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < ps->n; i++) {
		if (ps->m[i].key_len == n + 2 &&
		    memcmp(line + ps->m[i].key_off + 1, name, n) == 0) {
			return &ps->m[i];
		}
	}
	return NULL;
}

/*
 * The serialiser.  It writes what cJSON_PrintUnformatted writes, byte for
 * byte (check_proto compares them), but an integer below 10^15 is written
 * with its digits instead of "%1.15g" and a sscanf to check it: replies,
 * vends and stored answers are mostly integers, and cJSON's way was the
 * larger part of their cost.  Stored answers and idempotency requests
 * compare equal across the change.
 */
struct proto_out {
	char *p;
	size_t len, cap;
};

/* Room for n more bytes and a NUL. */
static char *
proto_room(struct proto_out *o, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		while (o->len + n + 1 > o->cap) {
			o->cap *= 2;
		}
		o->p = xreallocarray(o->p, 1, o->cap);
	}
	return o->p + o->len;
}

static void
proto_put(struct proto_out *o, const char *s, size_t n)
{
	memcpy(proto_room(o, n), s, n);
	o->len += n;
}

static void
proto_put_string(struct proto_out *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)(s != NULL ? s : "");
	size_t run;
	char *w;

	proto_put(o, "\"", 1);
	while (*u != '\0') {
		/* The bytes that need no escape, copied as one run. */
		for (run = 0; u[run] >= 0x20 && u[run] != '"' &&
		    u[run] != '\\'; run++) {
		}
		proto_put(o, (const char *)u, run);
		u += run;
		if (*u == '\0') {
			break;
		}
		w = proto_room(o, 6);
		w[0] = '\\';
		switch (*u) {
		case '"':  w[1] = '"'; break;
		case '\\': w[1] = '\\'; break;
		case '\b': w[1] = 'b'; break;
		case '\f': w[1] = 'f'; break;
		case '\n': w[1] = 'n'; break;
		case '\r': w[1] = 'r'; break;
		case '\t': w[1] = 't'; break;
		default:
			memcpy(w + 1, "u00", 3);
			w[4] = hex[*u >> 4];
			w[5] = hex[*u & 0xf];
			o->len += 4;
			break;
		}
		o->len += 2;
		u++;
	}
	proto_put(o, "\"", 1);
}

static double
proto_abs(double x)
{
	return x < 0 ? -x : x;
}

static void
proto_put_number(struct proto_out *o, double d)
{
	char buf[32], *e = buf + sizeof(buf), *b = e;
	unsigned long long v;
	double test;
	int n;

	if (isnan(d) || isinf(d)) {
		proto_put(o, "null", 4);
		return;
	}
	if (d > -1e15 && d < 1e15 && d == (double)(long long)d &&
	    !(d == 0 && signbit(d))) {
		v = (unsigned long long)(d < 0 ? -d : d);
		do {
			*--b = (char)('0' + v % 10);
			v /= 10;
		} while (v != 0);
		if (d < 0) {
			*--b = '-';
		}
		proto_put(o, b, (size_t)(e - b));
		return;
	}
	/* cJSON's way: 15 significant digits if they read back (nearly). */
	n = snprintf(buf, sizeof(buf), "%1.15g", d);
	if (sscanf(buf, "%lg", &test) != 1 ||
	    !(proto_abs(test - d) <= (proto_abs(test) > proto_abs(d) ?
	    proto_abs(test) : proto_abs(d)) * DBL_EPSILON)) {
		n = snprintf(buf, sizeof(buf), "%1.17g", d);
	}
	proto_put(o, buf, (size_t)n);
}

/* 0, or -1 for an item cJSON would not print either. */
static int
proto_put_item(struct proto_out *o, const cJSON *item)
{
	const cJSON *c;

	switch (item->type & 0xff) {
	case cJSON_NULL:
		proto_put(o, "null", 4);
		return 0;
	case cJSON_False:
		proto_put(o, "false", 5);
		return 0;
	case cJSON_True:
		proto_put(o, "true", 4);
		return 0;
	case cJSON_Number:
		proto_put_number(o, item->valuedouble);
		return 0;
	case cJSON_String:
		proto_put_string(o, item->valuestring);
		return 0;
	case cJSON_Raw:
		if (item->valuestring == NULL) {
			return -1;
		}
		proto_put(o, item->valuestring, strlen(item->valuestring));
		return 0;
	case cJSON_Array:
	case cJSON_Object:
		proto_put(o, cJSON_IsArray(item) ? "[" : "{", 1);
		for (c = item->child; c != NULL; c = c->next) {
			if (cJSON_IsObject(item)) {
				/* A member without a name is "", as cJSON has it. */
				proto_put_string(o, c->string);
				proto_put(o, ":", 1);
			}
			if (proto_put_item(o, c) != 0) {
				return -1;
			}
			if (c->next != NULL) {
				proto_put(o, ",", 1);
			}
		}
		proto_put(o, cJSON_IsArray(item) ? "]" : "}", 1);
		return 0;
	default:
		return -1;
	}
}

/* obj as text, ending in "\n" if line; NULL if it cannot be printed. */
static char *
proto_text(const cJSON *obj, size_t *len, int line)
{
	struct proto_out o = { .p = xmalloc(256), .cap = 256 };

	if (obj == NULL || proto_put_item(&o, obj) != 0) {
		free(o.p);
		return NULL;
	}
	if (line) {
		proto_put(&o, "\n", 1);
	}
	o.p[o.len] = '\0';
	if (len != NULL) {
		*len = o.len;
	}
	return o.p;
}

char *
proto_print(const cJSON *obj, size_t *len)
{
	return proto_text(obj, len, 0);
}

char *
proto_line(const cJSON *obj, size_t *len)
{
	char *line = proto_text(obj, len, 1);

	if (line == NULL) {
		fatal("cannot serialise a reply: an item JSON cannot hold");
	}
	return line;
}

int
proto_write(struct conn *c, const cJSON *obj, int64_t deadline)
{
	size_t len;
	char *line = proto_line(obj, &len);
	int rc;

	rc = conn_write(c, line, len, deadline);
	free(line);
	return rc;
}
