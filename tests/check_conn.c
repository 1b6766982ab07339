/*
 * Framing over a real TLS session (a socketpair, no network): lines split
 * across records, CRLF, pipelined lines, the max_line boundary, and the
 * deadlines — idle, and a line trickled byte by byte.
 */
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "harness.h"

static char certdir[] = "/tmp/drink-conn-XXXXXX";
static SSL_CTX *sctx, *cctx;
static struct conn *srv, *cli;

struct side {
	struct conn *c;
	int server;
	int rc;
};

static void *
handshake(void *arg)
{
	struct side *s = arg;

	s->rc = s->server ? conn_accept(s->c, now_ms() + 5000) :
	    conn_connect(s->c, "localhost", now_ms() + 5000);
	return NULL;
}

/* A connected pair over sv: srv reads with the given max_line. */
static void
pair_on(int sv[2], size_t max_line)
{
	struct side a, b;
	pthread_t t;
	char err[256], path[600], key[600], ca[600];

	if (sctx == NULL) {
		snprintf(path, sizeof(path), "%s/server.crt", certdir);
		snprintf(key, sizeof(key), "%s/server.key", certdir);
		snprintf(ca, sizeof(ca), "%s/ca.crt", certdir);
		sctx = tls_ctx_new(TLS_MEMBER_SERVER, path, key, NULL, NULL,
		    err, sizeof(err));
		ck_assert_msg(sctx != NULL, "%s", err);
		cctx = tls_ctx_new(TLS_CLIENT, NULL, NULL, ca, NULL, err,
		    sizeof(err));
		ck_assert_msg(cctx != NULL, "%s", err);
	}
	srv = conn_new(sv[0], sctx, max_line);
	cli = conn_new(sv[1], cctx, 1 << 20);
	a = (struct side){ srv, 1, -9 };
	b = (struct side){ cli, 0, -9 };
	pthread_create(&t, NULL, handshake, &a);
	handshake(&b);
	pthread_join(t, NULL);
	ck_assert_int_eq(a.rc, CONN_OK);
	ck_assert_int_eq(b.rc, CONN_OK);
}

/* A pair on a socketpair. */
static void
pair(size_t max_line)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pair_on(sv, max_line);
}

/* A pair over TCP on loopback, so that the client can reset it. */
static void
pair_tcp(size_t max_line)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	int l, sv[2];

	ck_assert_int_ne(l = socket(AF_INET, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sin, &sl), 0);
	ck_assert_int_ne(sv[1] = socket(AF_INET, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(connect(sv[1], (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	ck_assert_int_ne(sv[0] = accept(l, NULL, NULL), -1);
	close(l);
	pair_on(sv, max_line);
}

static void
unpair(void)
{
	conn_free(srv);
	conn_free(cli);
	srv = cli = NULL;
}

static void
send_text(const char *s)
{
	ck_assert_int_eq(conn_write(cli, s, strlen(s), now_ms() + 2000),
	    CONN_OK);
}

static int
read_line(char **line, size_t *len, int64_t idle_ms, int64_t line_ms)
{
	return conn_read_line(srv, line, len, now_ms() + idle_ms, line_ms);
}

START_TEST(lines_split_across_writes_are_joined)
{
	char *line;
	size_t len;

	pair(1024);
	send_text("{\"cmd\":");
	send_text("\"ping\"}\n");
	ck_assert_int_eq(read_line(&line, &len, 2000, 2000), CONN_OK);
	ck_assert_str_eq(line, "{\"cmd\":\"ping\"}");
	ck_assert_uint_eq(len, 14);
	unpair();
}
END_TEST

START_TEST(crlf_is_tolerated_and_pipelined_lines_kept)
{
	char *line;
	size_t len;

	pair(1024);
	send_text("one\r\ntwo\nthree\n");
	ck_assert_int_eq(read_line(&line, &len, 2000, 2000), CONN_OK);
	ck_assert_str_eq(line, "one");
	ck_assert(conn_line_buffered(srv));
	ck_assert_int_eq(read_line(&line, &len, 2000, 2000), CONN_OK);
	ck_assert_str_eq(line, "two");
	ck_assert_int_eq(read_line(&line, &len, 2000, 2000), CONN_OK);
	ck_assert_str_eq(line, "three");
	ck_assert(!conn_line_buffered(srv));
	unpair();
}
END_TEST

START_TEST(max_line_counts_the_newline)
{
	char *buf = xmalloc(5000), *line;
	size_t len;

	/* 4096 bytes with the newline fit a max_line of 4096... */
	pair(4096);
	memset(buf, 'a', 4095);
	buf[4095] = '\n';
	buf[4096] = '\0';
	send_text(buf);
	ck_assert_int_eq(read_line(&line, &len, 2000, 2000), CONN_OK);
	ck_assert_uint_eq(len, 4095);
	unpair();
	/* ...one more byte does not. */
	pair(4096);
	memset(buf, 'a', 4096);
	buf[4096] = '\n';
	buf[4097] = '\0';
	send_text(buf);
	ck_assert_int_eq(read_line(&line, &len, 2000, 2000), CONN_TOO_LONG);
	unpair();
	free(buf);
}
END_TEST

START_TEST(a_long_line_is_refused_without_waiting_for_its_end)
{
	char *buf = xmalloc(70001), *line;
	size_t len;

	pair(65536);
	memset(buf, 'x', 70000);
	buf[70000] = '\0';
	send_text(buf);	/* no newline at all */
	ck_assert_int_eq(read_line(&line, &len, 2000, 2000), CONN_TOO_LONG);
	unpair();
	free(buf);
}
END_TEST

START_TEST(silence_hits_the_idle_deadline)
{
	char *line;
	size_t len;
	int64_t t0;

	pair(1024);
	t0 = now_ms();
	ck_assert_int_eq(read_line(&line, &len, 300, 5000), CONN_TIMEOUT);
	ck_assert_int_ge(now_ms() - t0, 290);
	ck_assert_int_lt(now_ms() - t0, 3000);
	unpair();
}
END_TEST

static void *
trickle(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 20; i++) {
		if (conn_write(cli, "x", 1, now_ms() + 1000) != CONN_OK) {
			break;
		}
		usleep(100 * 1000);
	}
	return NULL;
}

START_TEST(a_trickled_line_hits_the_line_deadline)
{
	pthread_t t;
	char *line;
	size_t len;
	int64_t t0;

	pair(1024);
	pthread_create(&t, NULL, trickle, NULL);
	t0 = now_ms();
	/* Bytes keep coming, but the line must be whole within 500 ms. */
	ck_assert_int_eq(read_line(&line, &len, 10000, 500), CONN_TIMEOUT);
	ck_assert_int_lt(now_ms() - t0, 1500);
	pthread_join(t, NULL);
	unpair();
}
END_TEST

/* A deadline ends the waiting, not the reading of what came in time. */
START_TEST(a_line_already_there_is_read_past_the_deadline)
{
	char *line;
	size_t len;
	int64_t t0;

	pair(1024);
	send_text("in time\n");
	usleep(50 * 1000);
	ck_assert_int_eq(read_line(&line, &len, -1, 5000), CONN_OK);
	ck_assert_str_eq(line, "in time");
	t0 = now_ms();
	ck_assert_int_eq(read_line(&line, &len, -1, 5000), CONN_TIMEOUT);
	ck_assert_str_eq(conn_error(srv), "timed out");
	ck_assert_int_lt(now_ms() - t0, 100);
	unpair();
}
END_TEST

START_TEST(peer_close_is_eof)
{
	char *line;
	size_t len;

	pair(1024);
	conn_shutdown(cli, now_ms() + 1000);
	ck_assert_int_eq(read_line(&line, &len, 2000, 2000), CONN_EOF);
	unpair();
}
END_TEST

static int idle_calls;

static void
count_idle(void)
{
	idle_calls++;
}

static void *
send_late(void *arg)
{
	(void)arg;
	usleep(300 * 1000);
	send_text("late\n");
	return NULL;
}

START_TEST(a_read_that_waits_calls_the_idle_function_once)
{
	pthread_t t;
	char *line;
	size_t len;

	pair(1024);
	idle_calls = 0;
	conn_set_idle(srv, count_idle);
	/* A line already there: no wait, not idle. */
	send_text("now\n");
	ck_assert_int_eq(read_line(&line, &len, 2000, 2000), CONN_OK);
	ck_assert_str_eq(line, "now");
	ck_assert_int_eq(idle_calls, 0);
	/* A line 300 ms away: idle once, then the line. */
	pthread_create(&t, NULL, send_late, NULL);
	ck_assert_int_eq(read_line(&line, &len, 5000, 5000), CONN_OK);
	pthread_join(t, NULL);
	ck_assert_str_eq(line, "late");
	ck_assert_int_eq(idle_calls, 1);
	/* A deadline nearer than CONN_IDLE_MS: it times out, never idle. */
	ck_assert_int_eq(read_line(&line, &len, CONN_IDLE_MS / 2, 5000),
	    CONN_TIMEOUT);
	ck_assert_int_eq(idle_calls, 1);
	/* Silence past CONN_IDLE_MS up to the deadline: idle, then timeout. */
	ck_assert_int_eq(read_line(&line, &len, CONN_IDLE_MS * 4, 5000),
	    CONN_TIMEOUT);
	ck_assert_int_eq(idle_calls, 2);
	unpair();
}
END_TEST

/*
 * The line buffer an idle wait gave back is there again when bytes come:
 * a long line grows it as before; a partial line kept across an idle
 * wait (the buffer is kept then) is completed.
 */
START_TEST(an_idle_waits_buffer_comes_back_for_any_line)
{
	char *line, big[3001];
	size_t len;
	pthread_t t;

	pair(4096);
	idle_calls = 0;
	conn_set_idle(srv, count_idle);
	pthread_create(&t, NULL, send_late, NULL);
	ck_assert_int_eq(read_line(&line, &len, 5000, 5000), CONN_OK);
	pthread_join(t, NULL);
	ck_assert_str_eq(line, "late");
	ck_assert_int_eq(idle_calls, 1);
	ck_assert_int_eq(read_line(&line, &len, CONN_IDLE_MS * 4, 5000),
	    CONN_TIMEOUT);
	ck_assert_int_eq(idle_calls, 2);
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	send_text("short\n");
	send_text(big);
	ck_assert_int_eq(read_line(&line, &len, 2000, 2000), CONN_OK);
	ck_assert_str_eq(line, "short");
	ck_assert_int_eq(read_line(&line, &len, 2000, 2000), CONN_OK);
	ck_assert_uint_eq(len, sizeof(big) - 2);
	ck_assert_int_eq(line[0], 'b');
	ck_assert_int_eq(line[len - 1], 'b');
	/* Half a line, an idle wait (it times out), then the rest. */
	send_text("ha");
	ck_assert_int_eq(read_line(&line, &len, CONN_IDLE_MS * 4,
	    CONN_IDLE_MS * 4), CONN_TIMEOUT);
	ck_assert_int_eq(idle_calls, 3);
	send_text("lf\n");
	ck_assert_int_eq(read_line(&line, &len, 2000, 5000), CONN_OK);
	ck_assert_str_eq(line, "half");
	unpair();
}
END_TEST

static volatile sig_atomic_t sigpipes;

static void
on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

START_TEST(a_reset_connection_is_not_sent_close_notify)
{
	struct sigaction sa = { .sa_handler = on_sigpipe }, old;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char *line;
	size_t len;

	sigaction(SIGPIPE, &sa, &old);
	sigpipes = 0;
	pair_tcp(1024);
	/* The client resets the connection: the server reads EOF. */
	ck_assert_int_eq(setsockopt(conn_fd(cli), SOL_SOCKET, SO_LINGER, &lg,
	    sizeof(lg)), 0);
	conn_free(cli);
	cli = NULL;
	ck_assert_int_eq(read_line(&line, &len, 2000, 2000), CONN_EOF);
	/* A close_notify now would be a write to a reset socket: SIGPIPE. */
	conn_shutdown(srv, now_ms() + 1000);
	ck_assert_int_eq(sigpipes, 0);
	unpair();
	sigaction(SIGPIPE, &old, NULL);
}
END_TEST

START_TEST(client_refuses_an_untrusted_server)
{
	char err[256];
	SSL_CTX *other;
	struct side a, b;
	pthread_t t;
	int sv[2];

	pair(1024);	/* builds sctx */
	unpair();
	/* The system trust store does not hold the test CA. */
	other = tls_ctx_new(TLS_CLIENT, NULL, NULL, NULL, NULL, err,
	    sizeof(err));
	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	srv = conn_new(sv[0], sctx, 1024);
	cli = conn_new(sv[1], other, 1024);
	a = (struct side){ srv, 1, -9 };
	b = (struct side){ cli, 0, -9 };
	pthread_create(&t, NULL, handshake, &a);
	handshake(&b);
	pthread_join(t, NULL);
	ck_assert_int_eq(b.rc, CONN_ERROR);
	ck_assert_msg(strstr(conn_error(cli), "certificate verify failed") !=
	    NULL, "%s", conn_error(cli));
	unpair();
	SSL_CTX_free(other);
}
END_TEST

static Suite *
conn_suite(void)
{
	Suite *s = suite_create("conn");
	TCase *tc;

	tc = tcase_create("framing");
	tcase_add_test(tc, lines_split_across_writes_are_joined);
	tcase_add_test(tc, crlf_is_tolerated_and_pipelined_lines_kept);
	tcase_add_test(tc, max_line_counts_the_newline);
	tcase_add_test(tc, a_long_line_is_refused_without_waiting_for_its_end);
	tcase_add_test(tc, peer_close_is_eof);
	suite_add_tcase(s, tc);
	tc = tcase_create("deadlines");
	tcase_add_test(tc, silence_hits_the_idle_deadline);
	tcase_add_test(tc, a_trickled_line_hits_the_line_deadline);
	tcase_add_test(tc, a_line_already_there_is_read_past_the_deadline);
	tcase_add_test(tc, a_read_that_waits_calls_the_idle_function_once);
	tcase_add_test(tc, an_idle_waits_buffer_comes_back_for_any_line);
	tcase_add_test(tc, a_reset_connection_is_not_sent_close_notify);
	suite_add_tcase(s, tc);
	tc = tcase_create("verification");
	tcase_add_test(tc, client_refuses_an_untrusted_server);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	char cmd[600];
	int failed;

	if (mkdtemp(certdir) == NULL) {
		return 1;
	}
	snprintf(cmd, sizeof(cmd), "certs/mkcerts %s >/dev/null", certdir);
	if (system(cmd) != 0) {
		fprintf(stderr, "cannot make test certificates\n");
		return 1;
	}
	failed = h_run(conn_suite());
	snprintf(cmd, sizeof(cmd), "rm -rf %s", certdir);
	failed += system(cmd) != 0;
	return failed == 0 ? 0 : 1;
}
