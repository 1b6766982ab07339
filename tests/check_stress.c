/*
 * Load and limits on the member port: concurrent sends against one
 * account, a `who` over two thousand live clients, the connection limits,
 * and the idle and handshake timeouts.  These are behaviour checks with
 * generous bounds, not benchmarks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"

#define STRESS_TIMEOUT 120	/* seconds per test; ASan builds are slow */
#define STRESS_SENDERS 64
#define STRESS_CLIENTS 2000
#define STRESS_DIALERS 4	/* threads opening the 2,000 connections */

/* ---- concurrent sends ------------------------------------------------- */

struct stress_sender {
	pthread_t thread;
	struct h_server *srv;
	pthread_barrier_t *go;
	int ok;			/* 1 sent, 0 refused */
	char error[64];		/* the refusal's code */
	int64_t tx;
	int64_t balance;	/* reply's balance, either way */
};

static void *
stress_sender_main(void *arg)
{
	struct stress_sender *t = arg;
	struct h_client *c = h_connect_as(t->srv, "alice", "alicepw");
	cJSON *r;

	/* Everyone logged in first, then all send at once. */
	pthread_barrier_wait(t->go);
	r = h_call(c, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1}");
	t->ok = h_ok(r);
	if (t->ok) {
		t->tx = h_num(r, "tx");
	} else if (h_error(r) != NULL) {
		snprintf(t->error, sizeof(t->error), "%s", h_error(r));
	} else {
		snprintf(t->error, sizeof(t->error), "malformed reply");
	}
	t->balance = cJSON_HasObjectItem(r, "balance") ?
	    h_num(r, "balance") : -1;
	cJSON_Delete(r);
	h_close(c);
	return NULL;
}

START_TEST(stress_concurrent_sends)
{
	/* All senders come from one address. */
	struct h_server *s = h_server_start("max_clients_per_ip = 200\n"
	    "max_unauth_per_ip = 200");
	struct stress_sender *t = xcalloc(STRESS_SENDERS, sizeof(*t));
	struct h_client *a = h_connect_as(s, "admin", "adminpw");
	pthread_barrier_t go;
	int i, j, ok = 0, poor = 0;

	h_expect(a, NULL, "{\"cmd\":\"set_balance\",\"user\":\"alice\","
	    "\"balance\":10,\"note\":\"stress\"}");
	ck_assert_int_eq(pthread_barrier_init(&go, NULL, STRESS_SENDERS), 0);
	for (i = 0; i < STRESS_SENDERS; i++) {
		t[i].srv = s;
		t[i].go = &go;
		ck_assert_int_eq(pthread_create(&t[i].thread, NULL,
		    stress_sender_main, &t[i]), 0);
	}
	for (i = 0; i < STRESS_SENDERS; i++) {
		pthread_join(t[i].thread, NULL);
	}
	for (i = 0; i < STRESS_SENDERS; i++) {
		if (t[i].ok) {
			ok++;
			ck_assert_int_ge(t[i].balance, 0);
			ck_assert_int_le(t[i].balance, 9);
			for (j = 0; j < i; j++) {
				ck_assert(!t[j].ok || t[j].tx != t[i].tx);
			}
		} else {
			ck_assert_msg(strcmp(t[i].error,
			    "insufficient_funds") == 0, "sender %d: %s", i,
			    t[i].error);
			ck_assert_int_eq(t[i].balance, 0);
			poor++;
		}
	}
	ck_assert_int_eq(ok, 10);
	ck_assert_int_eq(poor, STRESS_SENDERS - 10);
	ck_assert_int_eq(h_balance(s, "alice"), 0);
	ck_assert_int_eq(h_balance(s, "bob"), 10);
	ck_assert_int_eq(h_sql_int(s, "SELECT count(*) FROM tx"
	    " WHERE kind = 'transfer'"), 10);
	ck_assert_int_eq(h_sql_int(s, "SELECT sum(balance) FROM accounts"), 0);
	ck_assert_int_eq(h_check_ledger(s), 0);
	pthread_barrier_destroy(&go);
	free(t);
	h_close(a);
	h_server_free(s);
}
END_TEST

/* ---- who over 2,000 clients ------------------------------------------- */

struct stress_dialer {
	pthread_t thread;
	struct h_server *srv;
	struct h_client **clients;
	int n;
	char err[512];		/* the failure that stopped it, if any */
};

static void *
stress_dialer_main(void *arg)
{
	struct stress_dialer *d = arg;
	char err[256];
	int i;

	for (i = 0; i < d->n; i++) {
		d->clients[i] = h_connect_raw(d->srv, NULL, err, sizeof(err));
		if (d->clients[i] == NULL) {
			snprintf(d->err, sizeof(d->err), "connection %d: %s",
			    i, err);
			break;
		}
	}
	return NULL;
}

START_TEST(stress_who_two_thousand_clients)
{
	struct h_server *s = h_server_start("max_clients = 3000\n"
	    "max_unauth_per_ip = 3000\nlogin_timeout = 3600");
	struct h_client **c = xcalloc(STRESS_CLIENTS, sizeof(*c));
	struct stress_dialer d[STRESS_DIALERS];
	struct h_client *a;
	char *seen = xcalloc(65536, 1);
	const cJSON *e, *list;
	int i, n, mine = 0, per = STRESS_CLIENTS / STRESS_DIALERS;
	int64_t deadline;
	cJSON *r;

	for (i = 0; i < STRESS_DIALERS; i++) {
		d[i].srv = s;
		d[i].clients = c + i * per;
		d[i].n = per;
		d[i].err[0] = '\0';
		ck_assert_int_eq(pthread_create(&d[i].thread, NULL,
		    stress_dialer_main, &d[i]), 0);
	}
	for (i = 0; i < STRESS_DIALERS; i++) {
		pthread_join(d[i].thread, NULL);
		ck_assert_msg(d[i].err[0] == '\0', "dialer %d: %s", i,
		    d[i].err);
	}
	for (i = 0; i < STRESS_CLIENTS; i++) {
		ck_assert_ptr_nonnull(c[i]);
		ck_assert_msg(strcmp(h_str(c[i]->greeting, "event"), "hello") ==
		    0, "client %d greeted with %s", i, c[i]->line);
		seen[c[i]->port] = 1;
	}

	a = h_connect_as(s, "admin", "adminpw");
	r = h_call(a, "{\"id\":\"who\",\"cmd\":\"who\"}");
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "id"), "who");
	list = h_array(r, "clients");
	n = cJSON_GetArraySize(list);
	ck_assert_msg(n >= STRESS_CLIENTS + 1, "who lists %d clients", n);
	cJSON_ArrayForEach(e, list) {
		ck_assert_int_gt(h_num(e, "session"), 0);
		ck_assert_str_eq(h_str(e, "kind"), "member");
		ck_assert_str_eq(h_str(e, "address"), "127.0.0.1");
		ck_assert(cJSON_HasObjectItem(e, "user"));
		(void)h_num(e, "since");
		if (h_num(e, "port") > 0 && h_num(e, "port") < 65536 &&
		    seen[h_num(e, "port")]) {
			mine++;
		}
	}
	/* Every one of our connections is there. */
	ck_assert_int_eq(mine, STRESS_CLIENTS);
	cJSON_Delete(r);

	for (i = 0; i < STRESS_CLIENTS; i++) {
		h_close(c[i]);
	}
	/* They leave the list as the server notices. */
	deadline = now_ms() + 30000;
	do {
		usleep(100 * 1000);
		r = h_call(a, "{\"cmd\":\"who\"}");
		H_ASSERT_OK(r);
		n = cJSON_GetArraySize(h_array(r, "clients"));
		cJSON_Delete(r);
	} while (n > 1 && now_ms() < deadline);
	ck_assert_int_eq(n, 1);
	h_close(a);
	free(seen);
	free(c);
	h_server_free(s);
}
END_TEST

/* ---- connection limits ------------------------------------------------ */

/* A connection refused for a limit: server_busy after TLS, then closed. */
static void
stress_expect_busy(struct h_server *s)
{
	struct h_client *c;
	char err[512];

	c = h_connect_raw(s, NULL, err, sizeof(err));
	ck_assert_msg(c != NULL, "refused without a reason: %s", err);
	ck_assert_msg(h_error(c->greeting) != NULL &&
	    strcmp(h_error(c->greeting), "server_busy") == 0,
	    "expected server_busy, got %s", c->line);
	ck_assert(!cJSON_HasObjectItem(c->greeting, "event"));
	ck_assert_msg(h_closed(c), "refused connection left open");
	h_close(c);
}

START_TEST(stress_max_clients_per_ip)
{
	struct h_server *s = h_server_start("max_clients_per_ip = 3");
	struct h_client *c[3], *late;
	cJSON *r;
	int i;

	for (i = 0; i < 3; i++) {
		c[i] = h_connect_as(s, "alice", "alicepw");
	}
	late = h_connect(s, NULL);
	r = h_call(late, "{\"cmd\":\"login\",\"user\":\"bob\","
	    "\"password\":\"bobpw\"}");
	H_ASSERT_ERROR(r, "server_busy");
	cJSON_Delete(r);
	/* The first three are unaffected; the refused one stays open. */
	for (i = 0; i < 3; i++) {
		h_expect(c[i], NULL, "{\"cmd\":\"ping\"}");
	}
	h_expect(late, NULL, "{\"cmd\":\"ping\"}");
	/* A freed place can be taken again. */
	h_close(c[2]);
	usleep(300 * 1000);
	h_login(late, "bob", "bobpw");
	h_close(late);
	h_close(c[0]);
	h_close(c[1]);
	h_server_free(s);
}
END_TEST

START_TEST(stress_max_clients)
{
	struct h_server *s = h_server_start("max_clients = 2");
	struct h_client *c0 = h_connect(s, NULL), *c1 = h_connect(s, NULL);

	stress_expect_busy(s);
	h_expect(c0, NULL, "{\"cmd\":\"ping\"}");
	h_expect(c1, NULL, "{\"cmd\":\"ping\"}");
	h_close(c0);
	h_close(c1);
	h_server_free(s);
}
END_TEST

/*
 * A connection that has not said a word waits in the kernel for its first
 * second (TCP_DEFER_ACCEPT): it takes no place in max_clients, so the
 * client after it is served.  Then it is accepted like any other: refused
 * here, the one place being taken, and closed.
 */
START_TEST(stress_silent_connection_waits)
{
	struct h_server *s = h_server_start("max_clients = 1");
	int fd = h_tcp_dial(s->port);
	struct h_client *c = h_connect(s, NULL);

	h_expect(c, NULL, "{\"cmd\":\"ping\"}");
	ck_assert_msg(h_tcp_closed(fd, 8000), "silent connection never "
	    "accepted and refused");
	h_expect(c, NULL, "{\"cmd\":\"ping\"}");
	close(fd);
	h_close(c);
	h_server_free(s);
}
END_TEST

/*
 * Many connections one after another from one address: each is greeted
 * and logs in (a thread that served one connection serves the next), and
 * once they are closed the address's counts are back at zero: it can
 * again hold max_clients_per_ip sessions and max_unauth_per_ip idle
 * connections at once, and no more.
 */
START_TEST(stress_sequential_connections_reuse)
{
	struct h_server *s = h_server_start("max_clients_per_ip = 2\n"
	    "max_unauth_per_ip = 2");
	struct h_client *c[3];
	int base = h_server_fds(s), i;
	cJSON *r;

	for (i = 0; i < 60; i++) {
		c[0] = h_connect_as(s, i % 2 ? "alice" : "bob",
		    i % 2 ? "alicepw" : "bobpw");
		h_expect(c[0], NULL, "{\"cmd\":\"ping\"}");
		h_close(c[0]);
		/* The next may not be counted with this one still open. */
		H_WAIT_UNTIL(h_server_fds(s) == base);
	}
	c[0] = h_connect_as(s, "alice", "alicepw");
	c[1] = h_connect_as(s, "bob", "bobpw");
	c[2] = h_connect(s, NULL);
	r = h_call(c[2], "{\"cmd\":\"login\",\"user\":\"bob\","
	    "\"password\":\"bobpw\"}");
	H_ASSERT_ERROR(r, "server_busy");
	cJSON_Delete(r);
	for (i = 0; i < 3; i++) {
		h_close(c[i]);
	}
	H_WAIT_UNTIL(h_server_fds(s) == base);
	/* Two idle connections fit; a third closes the first. */
	c[0] = h_connect(s, NULL);
	c[1] = h_connect(s, NULL);
	h_expect(c[0], NULL, "{\"cmd\":\"ping\"}");
	h_expect(c[1], NULL, "{\"cmd\":\"ping\"}");
	c[2] = h_connect(s, NULL);
	ck_assert_msg(h_closed(c[0]), "oldest idle connection kept");
	h_expect(c[1], NULL, "{\"cmd\":\"ping\"}");
	h_expect(c[2], NULL, "{\"cmd\":\"ping\"}");
	for (i = 0; i < 3; i++) {
		h_close(c[i]);
	}
	h_server_free(s);
}
END_TEST

/*
 * What an idle connection costs the server, RSS growth per connection
 * over STRESS_IDLE of them (anonymous, then logged in by certificate):
 * its thread's stack trimmed to two pages, OpenSSL's per-thread state and
 * the line buffer given back once it is idle, glibc's per-thread cache of
 * freed blocks limited, OpenSSL's record buffers released.  Without the
 * first three it was 44 and 52 KiB here; nginx holds one in about 16.
 */
#define STRESS_IDLE 400
#define STRESS_IDLE_KIB 31		/* per anonymous connection, at most */
#define STRESS_IDLE_CERT_KIB 37		/* per certificate login */
#define STRESS_IDLE_SAN_KIB 4096	/* sanitizers' (TSan: 2.4 MiB) */

/*
 * RSS growth per connection of STRESS_IDLE idle ones presenting cert (or
 * none) on a fresh server, warmed by one connection (the thread cache
 * and OpenSSL's tables are made once); *san set when it is instrumented.
 */
static double
stress_idle_kib(const char *cert, int *san)
{
	char *ca = h_cert_path("ca.crt");
	char *conf = xasprintf("max_clients_per_ip = 10000\n"
	    "max_unauth_per_ip = 10000\nmember_ca = %s", ca);
	struct h_server *s = h_server_start(conf);
	struct h_client **c = calloc(STRESS_IDLE, sizeof(*c));
	long before, after;
	int i;

	ck_assert_ptr_nonnull(c);
	free(ca);
	free(conf);
	*san = h_server_instrumented(s);
	c[0] = h_connect(s, cert);
	h_close(c[0]);
	usleep(300 * 1000);
	before = h_server_rss_kib(s);
	for (i = 0; i < STRESS_IDLE; i++) {
		c[i] = h_connect(s, cert);
		/* A certificate logs in: the session is a member's. */
		ck_assert_int_eq(cJSON_HasObjectItem(c[i]->greeting, "user"),
		    cert != NULL);
	}
	/* Settled: the last handshakes' buffers are given back. */
	usleep(500 * 1000);
	after = h_server_rss_kib(s);
	h_expect(c[0], NULL, "{\"cmd\":\"ping\"}");
	h_expect(c[STRESS_IDLE - 1], NULL, "{\"cmd\":\"ping\"}");
	for (i = 0; i < STRESS_IDLE; i++) {
		h_close(c[i]);
	}
	free(c);
	h_server_free(s);
	return (double)(after - before) / STRESS_IDLE;
}

START_TEST(stress_idle_connections_cost_little_memory)
{
	double anon, cert;
	int san;

	anon = stress_idle_kib(NULL, &san);
	cert = stress_idle_kib("member-alice", &san);
	fprintf(stderr, "stress: RSS per idle connection %.1f KiB, per "
	    "certificate login %.1f KiB%s\n", anon, cert,
	    san ? " (instrumented)" : "");
	ck_assert_msg(anon <= (san ? STRESS_IDLE_SAN_KIB : STRESS_IDLE_KIB),
	    "%.1f KiB per idle connection", anon);
	ck_assert_msg(cert <= (san ? STRESS_IDLE_SAN_KIB :
	    STRESS_IDLE_CERT_KIB), "%.1f KiB per idle logged-in session",
	    cert);
}
END_TEST

/*
 * A session idle long enough for its thread to give back its stack
 * pages, OpenSSL's per-thread state (random generators, error queue) and
 * its line buffer serves every kind of request afterwards, each after
 * another idle spell: a password login, a request that needs random
 * bytes (a login token), a transfer, a long line, a refused request.
 */
START_TEST(stress_an_idle_session_serves_everything_after)
{
	struct h_server *s = h_server_start(NULL);
	struct h_client *c = h_connect(s, NULL), *t;
	char *line, long_label[61];
	cJSON *r;

	usleep(300 * 1000);
	h_login(c, "alice", "alicepw");
	usleep(300 * 1000);
	r = h_call(c, "{\"cmd\":\"token_create\",\"label\":\"idle\"}");
	H_ASSERT_OK(r);
	ck_assert_uint_eq(strlen(h_str(r, "token")), 64);
	line = xasprintf("{\"cmd\":\"login\",\"token\":\"%s\"}",
	    h_str(r, "token"));
	cJSON_Delete(r);
	usleep(300 * 1000);
	r = h_call(c, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":7}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 93);
	cJSON_Delete(r);
	usleep(300 * 1000);
	memset(long_label, 'x', sizeof(long_label) - 1);
	long_label[sizeof(long_label) - 1] = '\0';
	h_expectf(c, NULL, "{\"cmd\":\"token_create\",\"label\":\"%s\"}",
	    long_label);
	usleep(300 * 1000);
	h_expect(c, "insufficient_funds", "{\"cmd\":\"send\",\"to\":"
	    "\"bob\",\"amount\":1000}");
	/* The token made after an idle spell logs in elsewhere. */
	t = h_connect(s, NULL);
	usleep(300 * 1000);
	h_expect(t, NULL, line);
	r = h_call(t, "{\"cmd\":\"balance\"}");
	H_ASSERT_OK(r);
	ck_assert_int_eq(h_num(r, "balance"), 93);
	cJSON_Delete(r);
	free(line);
	h_close(t);
	h_close(c);
	h_server_free(s);
}
END_TEST

#define STRESS_ADDRS 200

/* Plain TCP to port from the loopback source address 127.0.2.n. */
static int
stress_tcp_from(int port, int n)
{
	struct sockaddr_in src = { .sin_family = AF_INET }, dst = src;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ne(fd, -1);
	src.sin_addr.s_addr = htonl((127u << 24) | (2u << 16) |
	    (unsigned)(n / 250) << 8 | (unsigned)(n % 250 + 1));
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dst.sin_port = htons((uint16_t)port);
	ck_assert_msg(bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0,
	    "bind: %s", strerror(errno));
	ck_assert_msg(connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0,
	    "connect: %s", strerror(errno));
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

/* 1 while the server has neither closed nor written to plain socket fd. */
static int
stress_tcp_open(int fd)
{
	char b;

	return recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK) == -1 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK);
}

/*
 * Unauthenticated connections are counted per address: with
 * max_unauth_per_ip = 1, one idle socket from each of 200 addresses is
 * kept; a second from one address closes that address's first and no
 * other; after all close, every address starts from zero again.
 */
START_TEST(stress_unauth_counted_per_address)
{
	struct h_server *s = h_server_start("max_unauth_per_ip = 1\n"
	    "handshake_timeout = 600");
	int base = h_server_fds(s), fd[STRESS_ADDRS], extra, i;

	for (i = 0; i < STRESS_ADDRS; i++) {
		fd[i] = stress_tcp_from(s->port, i);
	}
	H_WAIT_UNTIL(h_server_fds(s) >= base + STRESS_ADDRS);
	extra = stress_tcp_from(s->port, 57);
	ck_assert_msg(h_tcp_closed(fd[57], 5000),
	    "first connection of the address kept");
	for (i = 0; i < STRESS_ADDRS; i++) {
		ck_assert_msg(i == 57 || stress_tcp_open(fd[i]),
		    "connection from address %d closed", i);
	}
	ck_assert_msg(stress_tcp_open(extra), "newest connection closed");
	for (i = 0; i < STRESS_ADDRS; i++) {
		close(fd[i]);
	}
	close(extra);
	H_WAIT_UNTIL(h_server_fds(s) == base);
	for (i = 0; i < STRESS_ADDRS; i++) {
		fd[i] = stress_tcp_from(s->port, i);
	}
	H_WAIT_UNTIL(h_server_fds(s) >= base + STRESS_ADDRS);
	usleep(300 * 1000);	/* time for a wrong eviction to land */
	for (i = 0; i < STRESS_ADDRS; i++) {
		ck_assert_msg(stress_tcp_open(fd[i]),
		    "connection from address %d closed after reopening", i);
		close(fd[i]);
	}
	h_server_free(s);
}
END_TEST

/* ---- file descriptors --------------------------------------------------- */

/* The client cap drinkd announced for its descriptor limit, or -1. */
static long
stress_fd_cap(struct h_server *s, long max_clients, long limit)
{
	char want[160], line[512];
	const char *p;
	long cap = -1;
	FILE *f;

	snprintf(want, sizeof(want), "max_clients %ld is more than the "
	    "descriptor limit (ulimit -n %ld) allows; serving at most ",
	    max_clients, limit);
	ck_assert_msg((f = fopen(s->log, "r")) != NULL, "cannot read %s",
	    s->log);
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((p = strstr(line, want)) != NULL) {
			cap = strtol(p + strlen(want), NULL, 10);
		}
	}
	fclose(f);
	return cap;
}

/*
 * Under ulimit -n 128 (soft and hard) the default max_clients of 4096 is
 * lowered, with a warning naming both numbers; the clients beyond the
 * lowered cap are told server_busy instead of hanging in the backlog.
 */
START_TEST(stress_fd_limit_caps_max_clients)
{
	struct h_server *s = h_server_start_nofile("max_unauth_per_ip = 1000",
	    128, 128);
	struct h_client **c;
	long cap = stress_fd_cap(s, 4096, 128), i;

	ck_assert_msg(cap > 16 && cap < 128, "no usable cap announced "
	    "(%ld)", cap);
	c = xcalloc((size_t)cap, sizeof(*c));
	for (i = 0; i < cap; i++) {
		c[i] = h_connect(s, NULL);
	}
	stress_expect_busy(s);
	stress_expect_busy(s);
	h_login(c[0], "alice", "alicepw");
	h_expect(c[cap - 1], NULL, "{\"cmd\":\"ping\"}");
	ck_assert(!h_server_log_contains(s, "Too many open files"));
	for (i = 0; i < cap; i++) {
		h_close(c[i]);
	}
	free(c);
	h_server_free(s);
}
END_TEST

/* A soft limit below the hard one is raised to it; no cap is needed. */
START_TEST(stress_fd_soft_limit_raised)
{
	struct h_server *s = h_server_start_nofile(NULL, 256, 16384);
	struct rlimit rl;
	struct h_client *c = h_connect(s, NULL);

	ck_assert_int_eq(prlimit(s->pid, RLIMIT_NOFILE, NULL, &rl), 0);
	ck_assert_int_eq((long)rl.rlim_cur, 16384);
	ck_assert_int_eq((long)rl.rlim_max, 16384);
	ck_assert(!h_server_log_contains(s, "is more than the descriptor "
	    "limit"));
	h_expect(c, NULL, "{\"cmd\":\"ping\"}");
	h_close(c);
	h_server_free(s);
}
END_TEST

/*
 * The lowest descriptor number free in process pid: as a soft limit, it
 * leaves that process no descriptor to open.
 */
static long
stress_lowest_free_fd(pid_t pid)
{
	char path[64], *used;
	struct dirent *e;
	long n, fd = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	ck_assert_msg((d = opendir(path)) != NULL, "cannot list %s", path);
	used = xcalloc(65536, 1);
	while ((e = readdir(d)) != NULL) {
		n = strtol(e->d_name, NULL, 10);
		if (e->d_name[0] != '.' && n >= 0 && n < 65536) {
			used[n] = 1;
		}
	}
	closedir(d);
	while (fd < 65536 && used[fd]) {
		fd++;
	}
	free(used);
	return fd;
}

/*
 * Descriptors run out below max_clients (the soft limit is lowered under
 * the running server to what it has open): each new client is accepted
 * on the reserve descriptor, told server_busy and closed, the episode is
 * logged once, connected clients are unaffected, and once descriptors
 * are back new clients are served again.
 */
START_TEST(stress_fd_exhaustion_answers_busy)
{
	struct h_server *s = h_server_start("max_unauth_per_ip = 1000");
	struct h_client *c[3], *late = NULL;
	struct rlimit rl, low;
	int64_t deadline;
	char err[512];
	int i;

	for (i = 0; i < 3; i++) {
		c[i] = h_connect(s, NULL);
	}
	ck_assert_int_eq(prlimit(s->pid, RLIMIT_NOFILE, NULL, &rl), 0);
	low = rl;
	low.rlim_cur = (rlim_t)stress_lowest_free_fd(s->pid);
	ck_assert_int_eq(prlimit(s->pid, RLIMIT_NOFILE, &low, NULL), 0);
	/*
	 * Linux allocates accept()'s descriptor before it waits, so the
	 * client the acceptor was already waiting for may still be served.
	 */
	if ((late = h_connect_raw(s, NULL, err, sizeof(err))) != NULL) {
		h_close(late);
		late = NULL;
	}
	for (i = 0; i < 4; i++) {
		stress_expect_busy(s);
	}
	ck_assert_int_eq(h_server_log_count(s, "out of file descriptors"), 1);
	ck_assert(!h_server_log_contains(s, "Too many open files"));
	h_login(c[0], "alice", "alicepw");
	h_expect(c[2], NULL, "{\"cmd\":\"ping\"}");
	ck_assert_int_eq(prlimit(s->pid, RLIMIT_NOFILE, &rl, NULL), 0);
	deadline = now_ms() + H_CLOSE_MS;
	while (late == NULL && now_ms() < deadline) {
		late = h_connect_raw(s, NULL, err, sizeof(err));
		if (late != NULL && h_error(late->greeting) != NULL) {
			h_close(late);
			late = NULL;
			usleep(50 * 1000);
		}
	}
	ck_assert_msg(late != NULL, "not served once descriptors were back");
	ck_assert_str_eq(h_str(late->greeting, "event"), "hello");
	ck_assert(h_server_log_wait(s, "file descriptors available again",
	    H_CLOSE_MS));
	h_close(late);
	for (i = 0; i < 3; i++) {
		h_close(c[i]);
	}
	h_server_free(s);
}
END_TEST

/* ---- timeouts --------------------------------------------------------- */

START_TEST(stress_idle_timeout)
{
	struct h_server *s = h_server_start("idle_timeout = 2");
	struct h_client *c = h_connect_as(s, "alice", "alicepw");
	int64_t waited;
	int i;

	/* Activity keeps a connection alive past the timeout ... */
	for (i = 0; i < 4; i++) {
		usleep(1000 * 1000);
		h_expect(c, NULL, "{\"cmd\":\"ping\"}");
	}
	/* ... silence ends it. */
	waited = h_wait_closed(c, 10000);
	ck_assert_msg(waited >= 0, "idle client not closed within 10 s");
	ck_assert_msg(waited >= 1500 && waited <= 5000,
	    "idle client closed after %lld ms, want about 2000",
	    (long long)waited);
	h_close(c);
	/* A new client is served. */
	c = h_connect(s, NULL);
	h_expect(c, NULL, "{\"cmd\":\"ping\"}");
	h_close(c);
	h_server_free(s);
}
END_TEST

START_TEST(stress_handshake_timeout)
{
	struct h_server *s = h_server_start("handshake_timeout = 1");
	int64_t start = now_ms(), waited;
	int fd = h_tcp_dial(s->port);
	struct h_client *c;

	/* TCP connected, no ClientHello: dropped after the timeout. */
	ck_assert_msg(h_tcp_closed(fd, 10000), "silent client never closed");
	waited = now_ms() - start;
	ck_assert_msg(waited >= 500 && waited <= 5000,
	    "closed after %lld ms, want about 1000", (long long)waited);
	close(fd);
	c = h_connect(s, NULL);
	h_expect(c, NULL, "{\"cmd\":\"ping\"}");
	h_close(c);
	h_server_free(s);
}
END_TEST

static Suite *
stress_suite(void)
{
	Suite *s = suite_create("stress");
	TCase *tc;

#define STRESS_TCASE(name)                                                 \
	do {                                                               \
		tc = tcase_create(name);                                   \
		tcase_set_timeout(tc, STRESS_TIMEOUT);                     \
		suite_add_tcase(s, tc);                                    \
	} while (0)

	STRESS_TCASE("concurrent sends never overdraw");
	tcase_add_test(tc, stress_concurrent_sends);

	STRESS_TCASE("who lists 2,000 clients on one line");
	tcase_add_test(tc, stress_who_two_thousand_clients);

	STRESS_TCASE("idle connections cost little memory");
	tcase_add_test(tc, stress_idle_connections_cost_little_memory);
	tcase_add_test(tc, stress_an_idle_session_serves_everything_after);

	STRESS_TCASE("connection limits answer server_busy");
	tcase_add_test(tc, stress_max_clients_per_ip);
	tcase_add_test(tc, stress_max_clients);
	tcase_add_test(tc, stress_silent_connection_waits);
	tcase_add_test(tc, stress_sequential_connections_reuse);
	tcase_add_test(tc, stress_unauth_counted_per_address);

	STRESS_TCASE("descriptor limits: capped, busy, logged once");
	tcase_add_test(tc, stress_fd_limit_caps_max_clients);
	tcase_add_test(tc, stress_fd_soft_limit_raised);
	tcase_add_test(tc, stress_fd_exhaustion_answers_busy);

	STRESS_TCASE("idle and silent clients are dropped");
	tcase_add_test(tc, stress_idle_timeout);
	tcase_add_test(tc, stress_handshake_timeout);
#undef STRESS_TCASE
	return s;
}

int
main(void)
{
	int failed;

	h_init();
	failed = h_run(stress_suite());
	return h_finish(failed);
}
