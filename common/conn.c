/*
 * A TLS connection read as newline-framed lines.  The socket is
 * non-blocking and every wait is a poll() against an absolute deadline, so
 * a peer that trickles bytes cannot hold a thread past its deadline.  The
 * read buffer grows on demand up to max_line, so ten thousand idle
 * connections cost a few KiB each rather than max_line each.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common.h"

#define CONN_BUF_INITIAL 1024

struct conn {
	int fd;
	SSL *ssl;
	char *buf;
	size_t start;	/* first unconsumed byte */
	size_t len;	/* bytes held in buf */
	size_t cap;
	size_t max_line;
	int64_t line_start;	/* when the pending partial line began, or 0 */
	int wake_fd;		/* readable: a read returns CONN_WAKE; or -1 */
	int reading;		/* inside conn_read_line: wakes count */
	int cert_refused;	/* the peer's alert refused our certificate */
	/*
	 * The last read wanted bytes the socket did not have yet: what
	 * OpenSSL holds is part of a record, and reading again before the
	 * socket is readable would only spin.
	 */
	int starved;
	int reset;		/* the peer reset the connection: say nothing */
	void (*idle)(void);	/* when a read has waited CONN_IDLE_MS */
	char err[256];
};

/* The line buffer's first size: it grows on demand up to max_line. */
static size_t
conn_buf_initial(const struct conn *c)
{
	return c->max_line + 1 < CONN_BUF_INITIAL ? c->max_line + 1 :
	    CONN_BUF_INITIAL;
}

struct conn *
conn_new(int fd, SSL_CTX *ctx, size_t max_line)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	int one = 1, fl = fcntl(fd, F_GETFL);

	c->fd = fd;
	c->wake_fd = -1;
	c->max_line = max_line;
	c->cap = conn_buf_initial(c);
	c->buf = xmalloc(c->cap);
	/* A server's accept4() made it so already: one system call less. */
	if (fl != -1 && !(fl & O_NONBLOCK)) {
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, fd) != 1) {
		conn_free(c);
		return NULL;
	}
	return c;
}

void
conn_free(struct conn *c)
{
	if (c == NULL) {
		return;
	}
	SSL_free(c->ssl);
	if (c->fd != -1) {
		close(c->fd);
	}
	free(c->buf);
	free(c);
}

int
conn_fd(const struct conn *c)
{
	return c->fd;
}

SSL *
conn_ssl(struct conn *c)
{
	return c->ssl;
}

const char *
conn_error(const struct conn *c)
{
	return c->err[0] != '\0' ? c->err : "no error";
}

void
conn_set_wake_fd(struct conn *c, int fd)
{
	c->wake_fd = fd;
}

void
conn_set_idle(struct conn *c, void (*fn)(void))
{
	c->idle = fn;
}

/*
 * Wait until fd is ready for events or the deadline passes.  While waiting
 * to read, a readable wake descriptor ends the wait with CONN_WAKE.  What
 * is ready already is taken even when the deadline has passed: a deadline
 * ends waiting, not the reading of bytes that came in time.
 */
static int
conn_wait(struct conn *c, short events, int64_t deadline)
{
	struct pollfd pfd[2] = { { .fd = c->fd, .events = events },
		{ .fd = c->wake_fd, .events = POLLIN } };
	nfds_t nfds = c->wake_fd != -1 && c->reading && events == POLLIN ?
	    2 : 1;
	int64_t left;
	int n;

	for (;;) {
		left = deadline - now_ms();
		n = poll(pfd, nfds, left <= 0 ? 0 : left > 60000 ? 60000 :
		    (int)left);
		if (n == 0 && left <= 0) {
			snprintf(c->err, sizeof(c->err), "timed out");
			return CONN_TIMEOUT;
		}
		if (n > 0 && nfds == 2 && (pfd[1].revents & POLLIN) &&
		    !(pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			return CONN_WAKE;
		}
		if (n > 0) {
			c->starved = 0;
			return CONN_OK;
		}
		if (n < 0 && errno != EINTR) {
			snprintf(c->err, sizeof(c->err), "poll: %s",
			    strerror(errno));
			return CONN_ERROR;
		}
	}
}

/*
 * Wait to read until the deadline; once the wait has lasted CONN_IDLE_MS
 * the connection is idle, and c->idle is called before it goes on.  An
 * idle connection with no partial line gives back its line buffer; it is
 * back, at its first size, before this returns.
 */
static int
conn_wait_read(struct conn *c, int64_t deadline)
{
	int64_t idle = now_ms() + CONN_IDLE_MS;
	int st;

	if (c->idle == NULL || idle >= deadline) {
		return conn_wait(c, POLLIN, deadline);
	}
	if ((st = conn_wait(c, POLLIN, idle)) != CONN_TIMEOUT) {
		return st;
	}
	/* Nothing buffered: the line buffer goes too, until bytes come. */
	if (c->len == 0) {
		assert(c->start == 0);
		free(c->buf);
		c->buf = NULL;
	}
	c->idle();
	st = conn_wait(c, POLLIN, deadline);
	if (c->buf == NULL) {
		c->cap = conn_buf_initial(c);
		c->buf = xmalloc(c->cap);
	}
	return st;
}

/*
 * Translate the outcome of an SSL call: CONN_OK means "wait done, call
 * again", anything else is final.
 */
/*
 * Whether an error is the peer's alert about the certificate we showed
 * (revoked, expired, from a CA it does not trust, missing, refused):
 * trying again with the same certificate cannot succeed.
 */
static int
conn_alert_refuses_cert(unsigned long e)
{
	static const int reasons[] = {
		SSL_R_SSLV3_ALERT_BAD_CERTIFICATE,
		SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE,
		SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED,
		SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED,
		SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN,
		SSL_R_TLSV1_ALERT_UNKNOWN_CA,
		SSL_R_TLSV1_ALERT_ACCESS_DENIED,
		SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED,
	};
	size_t i;

	if (ERR_GET_LIB(e) != ERR_LIB_SSL) {
		return 0;
	}
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (ERR_GET_REASON(e) == reasons[i]) {
			return 1;
		}
	}
	return 0;
}

static int
conn_ssl_result(struct conn *c, int r, int64_t deadline)
{
	int e = SSL_get_error(c->ssl, r);
	long vr;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		c->starved = 1;
		return conn_wait(c, POLLIN, deadline);
	case SSL_ERROR_WANT_WRITE:
		return conn_wait(c, POLLOUT, deadline);
	case SSL_ERROR_ZERO_RETURN:
		snprintf(c->err, sizeof(c->err), "connection closed by peer");
		return CONN_EOF;
	case SSL_ERROR_SYSCALL:
		if (errno == 0 || errno == ECONNRESET || errno == EPIPE) {
			c->reset = errno != 0;
			snprintf(c->err, sizeof(c->err),
			    "connection closed by peer");
			ERR_clear_error();
			return CONN_EOF;
		}
		snprintf(c->err, sizeof(c->err), "%s", strerror(errno));
		ERR_clear_error();
		return CONN_ERROR;
	default:
		vr = SSL_get_verify_result(c->ssl);
		if (vr != X509_V_OK) {
			snprintf(c->err, sizeof(c->err),
			    "certificate verify failed: %s",
			    X509_verify_cert_error_string(vr));
			ERR_clear_error();
		} else {
			c->cert_refused = conn_alert_refuses_cert(
			    ERR_peek_last_error());
			tls_error_string(c->err, sizeof(c->err),
			    "TLS protocol error");
		}
		return CONN_ERROR;
	}
}

int
conn_cert_refused(const struct conn *c)
{
	return c->cert_refused;
}

int
conn_accept(struct conn *c, int64_t deadline)
{
	int r, st;

	for (;;) {
		ERR_clear_error();
		if ((r = SSL_accept(c->ssl)) == 1) {
			return CONN_OK;
		}
		if ((st = conn_ssl_result(c, r, deadline)) != CONN_OK) {
			return st;
		}
	}
}

int
conn_connect(struct conn *c, const char *host, int64_t deadline)
{
	unsigned char addr[16];
	int r, st;

	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host);
	} else {
		char name[256];

		/* The SNI macro casts away const; hand it a copy. */
		snprintf(name, sizeof(name), "%s", host);
		SSL_set_tlsext_host_name(c->ssl, name);
		SSL_set1_host(c->ssl, host);
	}
	for (;;) {
		ERR_clear_error();
		if ((r = SSL_connect(c->ssl)) == 1) {
			return CONN_OK;
		}
		if ((st = conn_ssl_result(c, r, deadline)) != CONN_OK) {
			return st;
		}
	}
}

/* Read more bytes into the buffer; CONN_OK once at least one arrived. */
static int
conn_fill(struct conn *c, int64_t deadline)
{
	size_t got;
	int r, st;

	if (c->len == c->cap) {
		size_t ncap = c->cap * 2;

		if (ncap > c->max_line + 1) {
			ncap = c->max_line + 1;
		}
		c->buf = xreallocarray(c->buf, 1, ncap);
		c->cap = ncap;
	}
	/*
	 * Wait for bytes before asking OpenSSL for them: an SSL_read with
	 * nothing to read sets up a record buffer (17 KiB) and keeps it for
	 * as long as the connection then stays idle.
	 */
	if (!SSL_has_pending(c->ssl)) {
		(void)SSL_free_buffers(c->ssl);
		if ((st = conn_wait_read(c, deadline)) != CONN_OK) {
			return st;
		}
	}
	for (;;) {
		ERR_clear_error();
		r = SSL_read_ex(c->ssl, c->buf + c->len, c->cap - c->len, &got);
		if (r == 1) {
			c->starved = 0;
			c->len += got;
			return CONN_OK;
		}
		if ((st = conn_ssl_result(c, 0, deadline)) != CONN_OK) {
			return st;
		}
	}
}

int
conn_read_line(struct conn *c, char **line, size_t *len,
    int64_t idle_deadline, int64_t line_ms)
{
	size_t scanned = 0, limit;
	int64_t deadline = idle_deadline;
	char *nl;
	int st;

	if (c->start > 0) {
		memmove(c->buf, c->buf + c->start, c->len - c->start);
		c->len -= c->start;
		c->start = 0;
	}
	/*
	 * The line deadline runs from the line's first byte, across calls:
	 * returning on a timeout and calling again does not extend it.
	 */
	if (c->len > 0) {
		if (c->line_start == 0) {
			c->line_start = now_ms();
		}
		deadline = c->line_start + line_ms;
	}
	for (;;) {
		limit = c->len < c->max_line ? c->len : c->max_line;
		nl = memchr(c->buf + scanned, '\n', limit - scanned);
		if (nl != NULL) {
			*nl = '\0';
			*len = (size_t)(nl - c->buf);
			if (*len > 0 && c->buf[*len - 1] == '\r') {
				c->buf[--*len] = '\0';
			}
			*line = c->buf;
			c->start = (size_t)(nl - c->buf) + 1;
			/* A pipelined line already buffered starts now. */
			c->line_start = c->start < c->len ? now_ms() : 0;
			return CONN_OK;
		}
		scanned = limit;
		if (c->len >= c->max_line) {
			snprintf(c->err, sizeof(c->err),
			    "line longer than %zu bytes", c->max_line);
			return CONN_TOO_LONG;
		}
		c->reading = 1;
		st = conn_fill(c, deadline);
		c->reading = 0;
		if (st != CONN_OK) {
			return st;
		}
		if (c->line_start == 0) {
			c->line_start = now_ms();
			deadline = c->line_start + line_ms;
		}
	}
}

int
conn_read(struct conn *c, char *buf, size_t cap, size_t *got,
    int64_t deadline)
{
	size_t n;
	int r, st;

	assert(cap > 0);
	if (c->start < c->len) {
		n = c->len - c->start < cap ? c->len - c->start : cap;
		memcpy(buf, c->buf + c->start, n);
		c->start += n;
		*got = n;
		return CONN_OK;
	}
	for (;;) {
		ERR_clear_error();
		r = SSL_read_ex(c->ssl, buf, cap, got);
		if (r == 1) {
			c->starved = 0;
			return CONN_OK;
		}
		if (deadline == 0 && (SSL_get_error(c->ssl, 0) ==
		    SSL_ERROR_WANT_READ || SSL_get_error(c->ssl, 0) ==
		    SSL_ERROR_WANT_WRITE)) {
			c->starved = SSL_get_error(c->ssl, 0) ==
			    SSL_ERROR_WANT_READ;
			*got = 0;
			ERR_clear_error();
			return CONN_TIMEOUT;
		}
		if ((st = conn_ssl_result(c, 0, deadline == 0 ? now_ms() + 1 :
		    deadline)) != CONN_OK) {
			return st;
		}
	}
}

int
conn_write_some(struct conn *c, const char *buf, size_t len, size_t *done)
{
	int r, e;

	ERR_clear_error();
	r = SSL_write_ex(c->ssl, buf, len, done);
	if (r == 1) {
		return CONN_OK;
	}
	*done = 0;
	e = SSL_get_error(c->ssl, 0);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		ERR_clear_error();
		return CONN_TIMEOUT;
	}
	return conn_ssl_result(c, 0, now_ms() + 1);
}

int
conn_tls_pending(const struct conn *c)
{
	return !c->starved && SSL_has_pending(c->ssl);
}

int
conn_buffered(const struct conn *c)
{
	return c->len > c->start || conn_tls_pending(c);
}

int
conn_line_buffered(const struct conn *c)
{
	return memchr(c->buf + c->start, '\n', c->len - c->start) != NULL;
}

int
conn_write(struct conn *c, const char *buf, size_t len, int64_t deadline)
{
	size_t done;
	int r, st;

	while (len > 0) {
		ERR_clear_error();
		r = SSL_write_ex(c->ssl, buf, len, &done);
		if (r == 1) {
			buf += done;
			len -= done;
			continue;
		}
		if ((st = conn_ssl_result(c, 0, deadline)) != CONN_OK) {
			return st;
		}
	}
	return CONN_OK;
}

void
conn_shutdown(struct conn *c, int64_t deadline)
{
	int r;

	/* A close_notify to a reset connection is a write that fails. */
	if (c->reset) {
		return;
	}
	ERR_clear_error();
	if ((r = SSL_shutdown(c->ssl)) < 0) {
		(void)conn_ssl_result(c, r, deadline);
	}
	ERR_clear_error();
}

int
conn_dial(const char *host, const char *port, int64_t deadline, char *err,
    size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, gai, soerr = ETIMEDOUT;
	socklen_t sl;
	struct pollfd pfd;
	int64_t left;

	if ((gai = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host,
		    gai_strerror(gai));
		return -1;
	}
	snprintf(err, errlen, "cannot connect to %s port %s", host, port);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1) {
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			break;
		}
		if (errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			left = deadline - now_ms();
			sl = sizeof(soerr);
			if (left > 0 && poll(&pfd, 1, (int)left) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
			    &sl) == 0 && soerr == 0) {
				break;
			}
			errno = left > 0 ? soerr : ETIMEDOUT;
		}
		snprintf(err, errlen, "cannot connect to %s port %s: %s", host,
		    port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}
