/*
 * Byte-exact reading for the legacy-dialect suites; see legacy.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "legacy.h"

int
lg_port(struct h_server *s, const char *key)
{
	FILE *f = fopen(s->ports_file, "r");
	char text[1024];
	size_t n;
	cJSON *o, *p;
	int port;

	ck_assert_msg(f != NULL, "cannot read %s", s->ports_file);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	o = cJSON_Parse(text);
	p = cJSON_GetObjectItemCaseSensitive(o, key);
	ck_assert_msg(cJSON_IsNumber(p) && p->valueint > 0,
	    "no %s in ports file: %s", key, text);
	port = p->valueint;
	cJSON_Delete(o);
	return port;
}

/* What came instead, printable, for a failure message (static). */
static const char *
lg_show(const char *buf, size_t len)
{
	static char out[2048];
	size_t i, o = 0;

	for (i = 0; i < len && o + 5 < sizeof(out); i++) {
		unsigned char ch = (unsigned char)buf[i];

		if (ch == '\r' || ch == '\n') {
			out[o++] = '\\';
			out[o++] = ch == '\r' ? 'r' : 'n';
		} else if (ch < 0x20 || ch >= 0x7f) {
			o += (size_t)snprintf(out + o, sizeof(out) - o,
			    "\\x%02x", ch);
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
	return out;
}

/* Up to len bytes into buf before deadline: count, 0 on close, -1 none. */
static ssize_t
lg_read_ssl(struct h_client *c, char *buf, size_t len, int64_t deadline)
{
	struct pollfd pfd = { .fd = conn_fd(c->conn), .events = POLLIN };
	SSL *ssl = conn_ssl(c->conn);
	size_t got;
	int64_t left;
	int e;

	for (;;) {
		if (SSL_read_ex(ssl, buf, len, &got) == 1) {
			return (ssize_t)got;
		}
		e = SSL_get_error(ssl, 0);
		if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ||
		    e == SSL_ERROR_SSL) {
			return 0;
		}
		pfd.events = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
		if ((left = deadline - now_ms()) <= 0) {
			return -1;
		}
		(void)poll(&pfd, 1, (int)left);
	}
}

static ssize_t
lg_read_plain(int fd, char *buf, size_t len, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int64_t left;
	ssize_t n;

	for (;;) {
		n = read(fd, buf, len);
		if (n >= 0) {
			return n;
		}
		if (errno != EAGAIN && errno != EINTR) {
			return 0;
		}
		if ((left = deadline - now_ms()) <= 0) {
			return -1;
		}
		(void)poll(&pfd, 1, (int)left);
	}
}

static void
lg_expect_any(struct h_client *c, int fd, const char *want)
{
	size_t len = strlen(want), have = 0;
	int64_t deadline = now_ms() + H_DEADLINE_MS;
	char *buf = xmalloc(len + 1);
	ssize_t n;

	while (have < len) {
		n = c != NULL ? lg_read_ssl(c, buf + have, len - have,
		    deadline) : lg_read_plain(fd, buf + have, len - have,
		    deadline);
		if (n <= 0) {
			/* lg_show's buffer is static: one copy per call. */
			char *shown = xstrdup(lg_show(want, len));

			ck_abort_msg("expected \"%s\", got \"%s\" then %s",
			    shown, lg_show(buf, have),
			    n == 0 ? "close" : "nothing");
		}
		have += (size_t)n;
	}
	if (memcmp(buf, want, len) != 0) {
		char *shown = xstrdup(lg_show(want, len));

		ck_abort_msg("expected \"%s\", got \"%s\"", shown,
		    lg_show(buf, len));
	}
	free(buf);
}

void
lg_expect(struct h_client *c, const char *want)
{
	lg_expect_any(c, -1, want);
}

void
lg_expect_fd(int fd, const char *want)
{
	lg_expect_any(NULL, fd, want);
}

void
lg_send(struct h_client *c, const char *text)
{
	ck_assert_int_eq(h_send_raw(c, text, strlen(text)), CONN_OK);
}

void
lg_say(struct h_client *c, const char *text, const char *reply)
{
	lg_send(c, text);
	lg_expect(c, reply);
}

void
lg_who_is(struct h_server *s, const char *field, const char *value,
    const char *kind)
{
	struct h_client *a = h_connect_as(s, "admin", "adminpw");
	cJSON *r = h_call(a, "{\"cmd\":\"who\"}"), *e;
	int found = 0;

	H_ASSERT_OK(r);
	cJSON_ArrayForEach(e, h_array(r, "clients")) {
		const cJSON *v = cJSON_GetObjectItem(e, field);

		if (cJSON_IsString(v) && strcmp(v->valuestring, value) == 0) {
			ck_assert_str_eq(h_str(e, "kind"), kind);
			found = 1;
		}
	}
	ck_assert_msg(found, "%s %s not in who: %s", field, value, h_text(r));
	cJSON_Delete(r);
	h_close(a);
}

void
lg_send_fd(int fd, const char *text)
{
	size_t len = strlen(text), done = 0;
	int64_t deadline = now_ms() + H_DEADLINE_MS;
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	ssize_t n;

	while (done < len) {
		n = write(fd, text + done, len - done);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		ck_assert_msg(n < 0 && (errno == EAGAIN || errno == EINTR) &&
		    now_ms() < deadline, "write failed");
		(void)poll(&pfd, 1, 100);
	}
}

int
lg_quiet(struct h_client *c, int64_t ms)
{
	char buf[256];

	return lg_read_ssl(c, buf, sizeof(buf), now_ms() + ms) == -1;
}

int
lg_quiet_fd(int fd, int64_t ms)
{
	char buf[256];

	return lg_read_plain(fd, buf, sizeof(buf), now_ms() + ms) == -1;
}
