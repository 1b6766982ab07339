/*
 * loadgen: the load generator behind `make bench`.  One program drives
 * drinkd and its peers (nginx, raw SQLite) the same way, so their figures
 * compare.  Each mode prints "key value" lines on stdout for bench/run,
 * which collects them over interleaved rounds; `report` turns the
 * collected lines into the table and build/bench.json.
 *
 *   loadgen hs     full TLS 1.3 handshakes/s from THREADS threads
 *   loadgen hold   open idle connections in steps, RSS per connection,
 *                  then (optionally) handshakes/s while they are held;
 *                  with --before, handshakes/s with none held first
 *                  and no RSS (its baseline would include them)
 *   loadgen drop   durable drops with instant-ack controllers, each
 *                  member as fast as it can or at RATE drops/s
 *   loadgen rps    one request over and over on persistent connections
 *   loadgen sqlite one 4-statement synchronous=FULL transaction per commit
 *   loadgen admin  send request lines from stdin as a logged-in admin
 *   loadgen report FILE JSON   medians, ratios and targets, and each
 *                  round's ratios
 *
 * Every loop is bounded by a deadline and every socket read has a
 * receive timeout.  No session is ever resumed: each handshake is full.
 * Client sockets bind to 127.0.0.2..127.0.0.(1+LG_ADDRS) in turn so that
 * neither per-address limits nor ephemeral ports run out.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sqlite3.h>

#define LG_ADDRS 200		/* source addresses 127.0.0.2 .. */
#define LG_IO_SECS 30		/* no single read or write waits longer */
#define LG_MAX_THREADS 64
#define LG_MAX_SAMPLES (1 << 20)
#define LG_LINE 65536
/*
 * The TLS 1.3 suite every server measured must choose (drinkd's first;
 * bench/run configures nginx to choose it too), so that each does the same
 * handshake whatever order the client lists them in.
 */
#define LG_SUITE "TLS_AES_128_GCM_SHA256"

struct lg_opts {
	int port, mport;
	const char *cert, *key;		/* client certificate, or NULL */
	const char *user, *password;	/* password login, or NULL */
	const char *certdir;		/* machine-NAME.crt/.key for drop */
	int threads;
	double secs;
	const char *pids;		/* comma-separated server pids */
	int http;			/* peer is nginx http: GET, read body */
	const char *steps;		/* hold: "1000,5000" */
	int machines, members, idle;
	double rate;			/* drop: per member per s; 0: no pause */
	int linger;			/* hold: seconds to keep them open */
	int before;			/* hold: handshakes with none held first */
	const char *cmd;		/* rps: the request */
	const char *db;			/* sqlite: database path */
	const char *prefix;		/* key prefix for the output lines */
};

static struct lg_opts opt = { .threads = 8, .secs = 5, .machines = 4,
	.members = 16, .prefix = "" };
static SSL_CTX *lg_ctx;
static volatile int lg_stop;
static unsigned lg_next_addr;

static void
lg_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "loadgen: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static double
lg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
lg_out(const char *key, double v)
{
	printf("%s%s %.3f\n", opt.prefix, key, v);
	fflush(stdout);
}

/* utime + stime of every pid in opt.pids, in microseconds. */
static double
lg_cpu_us(void)
{
	char path[64], buf[1024], *p, *list, *tok, *save = NULL;
	unsigned long ut, st;
	double total = 0;
	FILE *f;
	long hz = sysconf(_SC_CLK_TCK);

	if (opt.pids == NULL) {
		return 0;
	}
	list = strdup(opt.pids);
	for (tok = strtok_r(list, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		snprintf(path, sizeof(path), "/proc/%s/stat", tok);
		if ((f = fopen(path, "r")) == NULL) {
			lg_die("cannot read %s", path);
		}
		if (fgets(buf, sizeof(buf), f) == NULL ||
		    (p = strrchr(buf, ')')) == NULL ||
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
		    "%*u %lu %lu", &ut, &st) != 2) {
			lg_die("cannot parse %s", path);
		}
		fclose(f);
		total += (double)(ut + st) * 1e6 / (double)hz;
	}
	free(list);
	return total;
}

/* VmRSS of every pid in opt.pids, in KiB. */
static double
lg_rss_kib(void)
{
	char path[64], line[256], *list, *tok, *save = NULL;
	double total = 0;
	long kib;
	FILE *f;

	if (opt.pids == NULL) {
		return 0;
	}
	list = strdup(opt.pids);
	for (tok = strtok_r(list, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		snprintf(path, sizeof(path), "/proc/%s/status", tok);
		if ((f = fopen(path, "r")) == NULL) {
			lg_die("cannot read %s", path);
		}
		while (fgets(line, sizeof(line), f) != NULL) {
			if (sscanf(line, "VmRSS: %ld", &kib) == 1) {
				total += (double)kib;
			}
		}
		fclose(f);
	}
	free(list);
	return total;
}

/* A TCP connection to 127.0.0.1:port from the next source address. */
static int
lg_dial(int port)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct sockaddr_in dst = { .sin_family = AF_INET,
		.sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = LG_IO_SECS };
	unsigned n = __atomic_fetch_add(&lg_next_addr, 1, __ATOMIC_RELAXED);
	int one = 1, fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		return -1;
	}
	src.sin_addr.s_addr = htonl(0x7f000002u + n % LG_ADDRS);
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
	    sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Close without TIME_WAIT on our side: the peer sees a reset. */
static void
lg_abort(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static SSL_CTX *
lg_ctx_new(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		lg_die("SSL_CTX_new failed");
	}
	/* TLS 1.3 only, no resumption, no verification cost on our side. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (cert != NULL &&
	    (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)) {
		lg_die("cannot load %s / %s", cert, key);
	}
	return ctx;
}

/* Read into buf until it holds a newline; length, or -1. */
static int
lg_read_line(SSL *ssl, char *buf, int cap)
{
	int len = 0, n;

	while (len < cap - 1) {
		n = SSL_read(ssl, buf + len, cap - 1 - len);
		if (n <= 0) {
			return -1;
		}
		len += n;
		buf[len] = '\0';
		if (memchr(buf, '\n', (size_t)len) != NULL) {
			return len;
		}
	}
	return -1;
}

static int
lg_write(SSL *ssl, const char *s)
{
	return SSL_write(ssl, s, (int)strlen(s)) == (int)strlen(s) ? 0 : -1;
}

/*
 * Connect, handshake and read the first answer: drinkd's greeting line,
 * or for nginx http one keep-alive response (the body ends in "\n").
 * Returns the SSL with its fd, or NULL; buf holds what was read.
 */
static SSL *
lg_open(SSL_CTX *ctx, int port, char *buf, int cap)
{
	SSL *ssl;
	int fd;

	if ((fd = lg_dial(port)) == -1) {
		return NULL;
	}
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1 ||
	    (opt.http && lg_write(ssl, "GET / HTTP/1.1\r\nHost: bench\r\n"
	    "\r\n") != 0) ||
	    lg_read_line(ssl, buf, cap) < 0 ||
	    (opt.http && strstr(buf, "\r\n\r\n") == NULL &&
	    lg_read_line(ssl, buf, cap) < 0)) {
		ERR_clear_error();
		SSL_free(ssl);
		lg_abort(fd);
		return NULL;
	}
	return ssl;
}

/* Send one request line and read its reply; 0 when "ok":true. */
static int
lg_call(SSL *ssl, const char *line, char *buf, int cap)
{
	if (lg_write(ssl, line) != 0 || lg_read_line(ssl, buf, cap) < 0) {
		return -1;
	}
	return strstr(buf, "\"ok\":true") != NULL ? 0 : -1;
}

static int
lg_login(SSL *ssl, const char *user, const char *password)
{
	char line[256], buf[4096];

	snprintf(line, sizeof(line), "{\"cmd\":\"login\",\"user\":\"%s\","
	    "\"password\":\"%s\"}\n", user, password);
	return lg_call(ssl, line, buf, sizeof(buf));
}

/* ---- hs: full handshakes per second ------------------------------- */

struct lg_count {
	long ok, failed;
	double bytes_in, bytes_out;	/* TLS bytes to the first line */
	const char *other_suite;	/* one not LG_SUITE, or NULL */
};

static void *
lg_hs_main(void *arg)
{
	struct lg_count *c = arg;
	char buf[4096];
	const char *suite;
	SSL *ssl;

	while (!lg_stop) {
		if ((ssl = lg_open(lg_ctx, opt.port, buf, sizeof(buf))) ==
		    NULL) {
			c->failed++;
			continue;
		}
		c->ok++;
		suite = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
		if (strcmp(suite, LG_SUITE) != 0) {
			c->other_suite = suite;
		}
		c->bytes_in += (double)BIO_number_read(SSL_get_rbio(ssl));
		c->bytes_out += (double)BIO_number_written(SSL_get_wbio(ssl));
		lg_abort(SSL_get_fd(ssl));
		SSL_free(ssl);
	}
	return NULL;
}

/* Handshakes/s and server CPU per handshake over opt.secs. */
static void
lg_hs_run(const char *tag)
{
	pthread_t t[LG_MAX_THREADS];
	struct lg_count c[LG_MAX_THREADS] = { { 0 } };
	double t0, t1, cpu0, cpu1, bytes_in = 0, bytes_out = 0;
	long ok = 0, failed = 0;
	const char *other_suite = NULL;
	char key[64];
	int i;

	lg_stop = 0;
	cpu0 = lg_cpu_us();
	t0 = lg_now();
	for (i = 0; i < opt.threads; i++) {
		pthread_create(&t[i], NULL, lg_hs_main, &c[i]);
	}
	while (lg_now() - t0 < opt.secs) {
		usleep(20000);
	}
	lg_stop = 1;
	for (i = 0; i < opt.threads; i++) {
		pthread_join(t[i], NULL);
		ok += c[i].ok;
		failed += c[i].failed;
		bytes_in += c[i].bytes_in;
		bytes_out += c[i].bytes_out;
		if (c[i].other_suite != NULL) {
			other_suite = c[i].other_suite;
		}
	}
	t1 = lg_now();
	cpu1 = lg_cpu_us();
	if (ok == 0 || failed > ok / 100) {
		lg_die("%shs: %ld handshakes, %ld failed", tag, ok, failed);
	}
	if (other_suite != NULL) {
		lg_die("%shs: the server chose %s, not %s: the servers compared "
		    "must do the same handshake", tag, other_suite, LG_SUITE);
	}
	snprintf(key, sizeof(key), "%shs_per_s", tag);
	lg_out(key, (double)ok / (t1 - t0));
	snprintf(key, sizeof(key), "%scpu_us_per_hs", tag);
	lg_out(key, (cpu1 - cpu0) / (double)ok);
	/* What each side sent until the first line: the same on both peers. */
	snprintf(key, sizeof(key), "%shs_bytes_in", tag);
	lg_out(key, bytes_in / (double)ok);
	snprintf(key, sizeof(key), "%shs_bytes_out", tag);
	lg_out(key, bytes_out / (double)ok);
}

/* ---- hold: idle connections ---------------------------------------- */

struct lg_hold {
	int *fds;
	int from, to;		/* fill fds[from..to) */
	int failed;
};

static void *
lg_hold_main(void *arg)
{
	struct lg_hold *h = arg;
	char buf[4096];
	SSL *ssl;
	int i, tries;

	for (i = h->from; i < h->to; i++) {
		for (tries = 0; tries < 5; tries++) {
			if ((ssl = lg_open(lg_ctx, opt.port, buf,
			    sizeof(buf))) != NULL) {
				break;
			}
		}
		/* A certificate login is announced in the greeting. */
		if (ssl == NULL || (opt.user != NULL &&
		    lg_login(ssl, opt.user, opt.password) != 0) ||
		    (opt.cert != NULL && !opt.http &&
		    strstr(buf, "\"user\"") == NULL)) {
			h->failed++;
			if (ssl != NULL) {
				lg_abort(SSL_get_fd(ssl));
				SSL_free(ssl);
			}
			h->fds[i] = -1;
			continue;
		}
		/*
		 * Keep the socket, drop our TLS state: the server holds its
		 * session and cannot tell, and we stay small.
		 */
		h->fds[i] = SSL_get_fd(ssl);
		SSL_free(ssl);
	}
	return NULL;
}

/* Open connections fds[from..to) with opt.threads threads. */
static void
lg_hold_fill(int *fds, int from, int to)
{
	pthread_t t[LG_MAX_THREADS];
	struct lg_hold h[LG_MAX_THREADS];
	int i, n = opt.threads, per = (to - from + n - 1) / n, failed = 0;

	for (i = 0; i < n; i++) {
		h[i].fds = fds;
		h[i].from = from + i * per < to ? from + i * per : to;
		h[i].to = h[i].from + per < to ? h[i].from + per : to;
		h[i].failed = 0;
		pthread_create(&t[i], NULL, lg_hold_main, &h[i]);
	}
	for (i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		failed += h[i].failed;
	}
	if (failed > 0) {
		lg_die("hold: %d of %d connections failed", failed, to - from);
	}
}

/* RSS settles after the last handshake's buffers are returned. */
static double
lg_rss_settled(void)
{
	usleep(500 * 1000);
	return lg_rss_kib();
}

/*
 * Open connections up to each count in opt.steps, printing the server's
 * RSS growth per connection at each (keys ..._a, ..._b, ... by step),
 * then measure handshakes while all of them are held.  With opt.before,
 * handshakes are measured first with none held (keys none_...), on the
 * same server moments before, so that the two compare without a restart
 * or minutes of drift between them; RSS is then left out, since its
 * baseline would include what those handshakes left behind.
 */
static void
lg_hold(void)
{
	char key[64], *list = strdup(opt.steps), *tok, *save = NULL;
	int n = 0, want, *fds, cap = 0, i, step = 0;
	double rss0, rss;

	for (tok = strtok_r(list, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		cap = atoi(tok) > cap ? atoi(tok) : cap;
	}
	free(list);
	fds = calloc((size_t)cap + 1, sizeof(*fds));
	if (opt.before && opt.secs > 0) {
		lg_hs_run("none_");
	}
	rss0 = lg_rss_settled();
	list = strdup(opt.steps);
	for (tok = strtok_r(list, ",", &save); tok != NULL && step < 26;
	    tok = strtok_r(NULL, ",", &save), step++) {
		want = atoi(tok);
		lg_hold_fill(fds, n, want);
		n = want;
		snprintf(key, sizeof(key), "hold_n_%c", 'a' + step);
		lg_out(key, n);
		if (opt.before) {
			continue;
		}
		rss = lg_rss_settled();
		snprintf(key, sizeof(key), "rss_kib_per_conn_%c", 'a' + step);
		lg_out(key, (rss - rss0) / n);
	}
	free(list);
	lg_out("held_n", n);
	if (opt.secs > 0) {
		lg_hs_run("held_");
	}
	sleep((unsigned)opt.linger);	/* for a look at the server */
	for (i = 0; i < n; i++) {
		lg_abort(fds[i]);
	}
	free(fds);
}

/* ---- drop: durable drops with instant-ack controllers -------------- */

struct lg_samples {
	double *v;
	long n;
};

static int
lg_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of the samples of all threads. */
static double
lg_quantile(struct lg_samples *s, int ns, double q)
{
	long total = 0, i, k = 0;
	double *all, v;
	int j;

	for (j = 0; j < ns; j++) {
		total += s[j].n;
	}
	if (total == 0) {
		return 0;
	}
	all = malloc((size_t)total * sizeof(*all));
	for (j = 0; j < ns; j++) {
		for (i = 0; i < s[j].n; i++) {
			all[k++] = s[j].v[i];
		}
	}
	qsort(all, (size_t)total, sizeof(*all), lg_cmp_double);
	v = all[(long)(q * (double)(total - 1) + 0.5)];
	free(all);
	return v;
}

static void
lg_sample(struct lg_samples *s, double v)
{
	if (s->v == NULL) {
		s->v = malloc(LG_MAX_SAMPLES * sizeof(*s->v));
	}
	if (s->n < LG_MAX_SAMPLES) {
		s->v[s->n++] = v;
	}
}

struct lg_ctl {
	char name[32];
	SSL *ssl;
	pthread_t thread;
};

/* An instant-ack controller: every vend and ping is answered ok at once. */
static void *
lg_ctl_main(void *arg)
{
	struct lg_ctl *m = arg;
	char buf[LG_LINE], out[256], *line, *nl;
	int len = 0, n;
	cJSON *o, *id;

	for (;;) {
		n = SSL_read(m->ssl, buf + len, (int)sizeof(buf) - 1 - len);
		if (n <= 0) {
			if (SSL_get_error(m->ssl, n) == SSL_ERROR_SYSCALL &&
			    errno == EAGAIN && !lg_stop) {
				continue;	/* receive timeout while idle */
			}
			return NULL;
		}
		len += n;
		buf[len] = '\0';
		line = buf;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			if ((o = cJSON_Parse(line)) != NULL &&
			    (id = cJSON_GetObjectItem(o, "id")) != NULL &&
			    cJSON_IsString(id)) {
				snprintf(out, sizeof(out),
				    "{\"id\":\"%s\",\"ok\":true}\n",
				    id->valuestring);
				lg_write(m->ssl, out);
			}
			cJSON_Delete(o);
			line = nl + 1;
		}
		len -= (int)(line - buf);
		memmove(buf, line, (size_t)len);
	}
}

struct lg_member {
	int index;
	SSL *ssl;
	long ok, failed;
	struct lg_samples lat;
	pthread_t thread;
};

static void *
lg_member_main(void *arg)
{
	struct lg_member *u = arg;
	char line[256], buf[4096];
	double t0, next;

	snprintf(line, sizeof(line), "{\"cmd\":\"drop\",\"machine\":\"vend%d\","
	    "\"slot\":1}\n", u->index % opt.machines + 1);
	next = lg_now();
	while (!lg_stop) {
		/* Paced: each drop starts on its own schedule, not the reply. */
		if (opt.rate > 0) {
			next += 1 / opt.rate;
			while (!lg_stop && lg_now() < next) {
				usleep(200);
			}
		}
		/* From when it was due: a drop kept waiting counts its wait. */
		t0 = opt.rate > 0 ? next : lg_now();
		if (lg_call(u->ssl, line, buf, sizeof(buf)) != 0) {
			u->failed++;
			if (u->failed < 3) {
				fprintf(stderr, "loadgen: drop: %s", buf);
			}
			continue;
		}
		lg_sample(&u->lat, (lg_now() - t0) * 1000);
		u->ok++;
	}
	return NULL;
}

static void
lg_drop(void)
{
	struct lg_ctl ctl[LG_MAX_THREADS];
	struct lg_member mem[LG_MAX_THREADS];
	struct lg_samples lat[LG_MAX_THREADS];
	char path[PATH_MAX], key[PATH_MAX], buf[4096], user[32];
	SSL_CTX *ctx;
	long ok = 0, failed = 0;
	double t0, t1;
	int i, fd, *idle = NULL;

	if (opt.machines > LG_MAX_THREADS || opt.members > LG_MAX_THREADS) {
		lg_die("too many machines or members");
	}
	if (opt.idle > 0) {
		/* Logged-in idle sessions (certificate login), held open. */
		idle = calloc((size_t)opt.idle, sizeof(*idle));
		lg_hold_fill(idle, 0, opt.idle);
	}
	for (i = 0; i < opt.machines; i++) {
		snprintf(ctl[i].name, sizeof(ctl[i].name), "vend%d", i + 1);
		snprintf(path, sizeof(path), "%s/machine-%s.crt", opt.certdir,
		    ctl[i].name);
		snprintf(key, sizeof(key), "%s/machine-%s.key", opt.certdir,
		    ctl[i].name);
		ctx = lg_ctx_new(path, key);
		if ((fd = lg_dial(opt.mport)) == -1) {
			lg_die("cannot reach the machine port");
		}
		ctl[i].ssl = SSL_new(ctx);
		SSL_CTX_free(ctx);
		SSL_set_fd(ctl[i].ssl, fd);
		if (SSL_connect(ctl[i].ssl) != 1 ||
		    lg_call(ctl[i].ssl, "{\"id\":1,\"cmd\":\"register\","
		    "\"slots\":[{\"slot\":1,\"stock\":1000000}]}\n", buf,
		    sizeof(buf)) != 0) {
			lg_die("controller %s could not register", ctl[i].name);
		}
		pthread_create(&ctl[i].thread, NULL, lg_ctl_main, &ctl[i]);
	}
	for (i = 0; i < opt.members; i++) {
		memset(&mem[i], 0, sizeof(mem[i]));
		mem[i].index = i;
		snprintf(user, sizeof(user), "bench%d", i + 1);
		if ((mem[i].ssl = lg_open(lg_ctx, opt.port, buf,
		    sizeof(buf))) == NULL ||
		    lg_login(mem[i].ssl, user, "bench") != 0) {
			lg_die("member %s cannot log in", user);
		}
	}
	lg_stop = 0;
	t0 = lg_now();
	for (i = 0; i < opt.members; i++) {
		pthread_create(&mem[i].thread, NULL, lg_member_main, &mem[i]);
	}
	while (lg_now() - t0 < opt.secs) {
		usleep(20000);
	}
	lg_stop = 1;
	for (i = 0; i < opt.members; i++) {
		pthread_join(mem[i].thread, NULL);
		ok += mem[i].ok;
		failed += mem[i].failed;
		lat[i] = mem[i].lat;
	}
	t1 = lg_now();
	if (ok == 0 || failed > 0) {
		lg_die("drop: %ld ok, %ld failed", ok, failed);
	}
	lg_out("drops_per_s", (double)ok / (t1 - t0));
	lg_out("drop_p50_ms", lg_quantile(lat, opt.members, 0.50));
	lg_out("drop_p99_ms", lg_quantile(lat, opt.members, 0.99));
	for (i = 0; i < opt.members; i++) {
		lg_abort(SSL_get_fd(mem[i].ssl));
		SSL_free(mem[i].ssl);
		free(mem[i].lat.v);
	}
	for (i = 0; i < opt.machines; i++) {
		shutdown(SSL_get_fd(ctl[i].ssl), SHUT_RDWR);
		pthread_join(ctl[i].thread, NULL);
		lg_abort(SSL_get_fd(ctl[i].ssl));
		SSL_free(ctl[i].ssl);
	}
	for (i = 0; i < opt.idle; i++) {
		lg_abort(idle[i]);
	}
	free(idle);
}

/* ---- rps: requests per second on persistent connections ------------ */

static void *
lg_rps_main(void *arg)
{
	struct lg_member *u = arg;
	char line[256], buf[LG_LINE];

	snprintf(line, sizeof(line), "{\"cmd\":\"%s\"}\n", opt.cmd);
	while (!lg_stop) {
		if (lg_call(u->ssl, line, buf, sizeof(buf)) != 0) {
			u->failed++;
		} else {
			u->ok++;
		}
	}
	return NULL;
}

static void
lg_rps(void)
{
	struct lg_member mem[LG_MAX_THREADS];
	long ok = 0, failed = 0;
	char key[64], buf[4096];
	double t0, t1;
	int i;

	for (i = 0; i < opt.threads; i++) {
		memset(&mem[i], 0, sizeof(mem[i]));
		if ((mem[i].ssl = lg_open(lg_ctx, opt.port, buf,
		    sizeof(buf))) == NULL ||
		    (opt.user != NULL &&
		    lg_login(mem[i].ssl, opt.user, opt.password) != 0)) {
			lg_die("rps: cannot connect and log in");
		}
	}
	lg_stop = 0;
	t0 = lg_now();
	for (i = 0; i < opt.threads; i++) {
		pthread_create(&mem[i].thread, NULL, lg_rps_main, &mem[i]);
	}
	while (lg_now() - t0 < opt.secs) {
		usleep(20000);
	}
	lg_stop = 1;
	for (i = 0; i < opt.threads; i++) {
		pthread_join(mem[i].thread, NULL);
		ok += mem[i].ok;
		failed += mem[i].failed;
		lg_abort(SSL_get_fd(mem[i].ssl));
		SSL_free(mem[i].ssl);
	}
	t1 = lg_now();
	if (ok == 0 || failed > 0) {
		lg_die("rps %s: %ld ok, %ld failed", opt.cmd, ok, failed);
	}
	snprintf(key, sizeof(key), "%s_per_s", opt.cmd);
	lg_out(key, (double)ok / (t1 - t0));
}

/* ---- sqlite: the raw commit rate ------------------------------------ */

static void
lg_sql(sqlite3 *h, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(h, sql, NULL, NULL, &err) != SQLITE_OK) {
		lg_die("sqlite: %s: %s", sql, err);
	}
}

/*
 * What a drop's hold costs at the least: one transaction of four
 * statements (the tx row, two entries, the balance), statements prepared
 * once, journal_mode=WAL, synchronous=FULL, on the same disk as drinkd's
 * database.  One thread, one commit after another.
 */
static void
lg_sqlite(void)
{
	static const char *const stmts[4] = {
		"INSERT INTO tx (kind, amount, time) VALUES ('drop', 1, ?)",
		"INSERT INTO entries (tx, account, amount) VALUES (?, 1, -1)",
		"INSERT INTO entries (tx, account, amount) VALUES (?, 2, 1)",
		"UPDATE accounts SET balance = balance - 1 WHERE id = ?",
	};
	sqlite3_stmt *st[4];
	struct lg_samples lat = { 0 };
	sqlite3 *h;
	double t0, t;
	long n = 0;
	int i;

	unlink(opt.db);
	if (sqlite3_open(opt.db, &h) != SQLITE_OK) {
		lg_die("cannot open %s", opt.db);
	}
	lg_sql(h, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	    "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER);"
	    "CREATE TABLE tx (id INTEGER PRIMARY KEY, kind TEXT, amount "
	    "INTEGER, time INTEGER);"
	    "CREATE TABLE entries (id INTEGER PRIMARY KEY, tx INTEGER, "
	    "account INTEGER, amount INTEGER);"
	    "INSERT INTO accounts VALUES (1, 1000000000), (2, 0);");
	for (i = 0; i < 4; i++) {
		if (sqlite3_prepare_v2(h, stmts[i], -1, &st[i], NULL) !=
		    SQLITE_OK) {
			lg_die("sqlite prepare: %s", sqlite3_errmsg(h));
		}
	}
	t0 = lg_now();
	while ((t = lg_now()) - t0 < opt.secs) {
		lg_sql(h, "BEGIN IMMEDIATE");
		for (i = 0; i < 4; i++) {
			sqlite3_bind_int64(st[i], 1, i == 0 ? (int64_t)t :
			    i == 3 ? 1 : n + 1);
			if (sqlite3_step(st[i]) != SQLITE_DONE) {
				lg_die("sqlite step: %s", sqlite3_errmsg(h));
			}
			sqlite3_reset(st[i]);
		}
		lg_sql(h, "COMMIT");
		lg_sample(&lat, (lg_now() - t) * 1000);
		n++;
	}
	lg_out("sqlite_commits_per_s", (double)n / (lg_now() - t0));
	lg_out("sqlite_p50_ms", lg_quantile(&lat, 1, 0.50));
	lg_out("sqlite_p99_ms", lg_quantile(&lat, 1, 0.99));
	for (i = 0; i < 4; i++) {
		sqlite3_finalize(st[i]);
	}
	sqlite3_close(h);
	free(lat.v);
}

/* ---- admin: set-up requests from stdin ------------------------------ */

static void
lg_admin(void)
{
	char line[4096], buf[LG_LINE];
	SSL *ssl;

	if ((ssl = lg_open(lg_ctx, opt.port, buf, sizeof(buf))) == NULL ||
	    lg_login(ssl, opt.user, opt.password) != 0) {
		lg_die("admin: cannot log in as %s", opt.user);
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (lg_call(ssl, line, buf, sizeof(buf)) != 0) {
			lg_die("admin: %s -> %s", line, buf);
		}
	}
	lg_abort(SSL_get_fd(ssl));
	SSL_free(ssl);
}

/* ---- report: medians, ratios, targets ------------------------------- */

enum lg_check {
	LG_INFO,		/* shown, no target */
	LG_RATIO_GE,		/* drinkd / peer >= target */
	LG_RATIO_LE,		/* drinkd / peer <= target */
	LG_ABS_LE,		/* drinkd <= target */
};

struct lg_row {
	const char *label;	/* may hold one %.0f, filled from nkey */
	const char *nkey;
	const char *key;	/* drinkd's figure */
	const char *peer_key;	/* NULL: no peer */
	const char *peer;
	enum lg_check check;
	double target;
};

static const struct lg_row lg_rows[] = {
	{ "full TLS 1.3 handshakes/s, 8 client threads", NULL,
	  "drinkd.hs_per_s", "nginx.hs_per_s", "nginx stream return",
	  LG_RATIO_GE, 1.0 },
	{ "server CPU us per full handshake", NULL,
	  "drinkd.cpu_us_per_hs", "nginx.cpu_us_per_hs", "nginx",
	  LG_RATIO_LE, 1.0 },
	{ "bytes from the server per handshake, to the first line", NULL,
	  "drinkd.hs_bytes_in", "nginx.hs_bytes_in", "nginx", LG_INFO, 0 },
	{ "bytes from the client per handshake, to the first line", NULL,
	  "drinkd.hs_bytes_out", "nginx.hs_bytes_out", "nginx", LG_INFO, 0 },
	{ "handshakes/s with client-certificate login", NULL,
	  "drinkd_cert.hs_per_s", "nginx.hs_per_s", "nginx (no cert)",
	  LG_INFO, 0 },
	{ "server CPU us per handshake, client-certificate login", NULL,
	  "drinkd_cert.cpu_us_per_hs", "nginx.cpu_us_per_hs",
	  "nginx (no cert)", LG_INFO, 0 },
	{ "CPU us per handshake, %.0f idle connections held vs none",
	  "drinkd_held.held_n", "drinkd_held.held_cpu_us_per_hs",
	  "drinkd_held.none_cpu_us_per_hs", "same drinkd, none held",
	  LG_RATIO_LE, 1.1 },
	{ "RSS KiB per idle TLS connection, N = %.0f", "drinkd_idle.hold_n_a",
	  "drinkd_idle.rss_kib_per_conn_a", "nginx_idle.rss_kib_per_conn_a",
	  "nginx keepalive", LG_RATIO_LE, 2.0 },
	{ "RSS KiB per idle TLS connection, N = %.0f", "drinkd_idle.hold_n_b",
	  "drinkd_idle.rss_kib_per_conn_b", "nginx_idle.rss_kib_per_conn_b",
	  "nginx keepalive", LG_RATIO_LE, 2.0 },
	{ "RSS KiB per idle logged-in session, N = %.0f",
	  "drinkd_login.hold_n_a", "drinkd_login.rss_kib_per_conn_a",
	  "nginx_idle.rss_kib_per_conn_a", "nginx keepalive", LG_RATIO_LE,
	  2.5 },
	{ "RSS KiB per idle logged-in session, N = %.0f",
	  "drinkd_login.hold_n_b", "drinkd_login.rss_kib_per_conn_b",
	  "nginx_idle.rss_kib_per_conn_b", "nginx keepalive", LG_RATIO_LE,
	  2.5 },
	{ "RSS KiB per logged-in session with %.0f sessions held (round 1)",
	  "drinkd_login.hold_n_c", "drinkd_login.rss_kib_per_conn_c", NULL,
	  NULL, LG_INFO, 0 },
	{ "durable drops/s, instant-ack, %.0f members on 4 machines",
	  "d16.members", "d16.drops_per_s", "sqlite.sqlite_commits_per_s",
	  "raw SQLite FULL commits/s", LG_RATIO_GE, 1.0 },
	{ "drop latency p50 ms, %.0f members on 4 machines", "d32.members",
	  "d32.drop_p50_ms", "sqlite.sqlite_p50_ms", "raw commit p50 ms",
	  LG_INFO, 0 },
	{ "drop latency p99 ms, %.0f members on 4 machines", "d32.members",
	  "d32.drop_p99_ms", "sqlite.sqlite_p99_ms", "raw commit p99 ms",
	  LG_INFO, 0 },
	{ "uncontended drop p50 ms, 1 member/machine, %.0f idle sessions",
	  "d1.idle", "d1.drop_p50_ms", NULL, NULL, LG_INFO, 0 },
	{ "uncontended drop p99 ms, 1 member/machine, %.0f idle sessions",
	  "d1.idle", "d1.drop_p99_ms", NULL, NULL, LG_ABS_LE, 5.0 },
	{ "paced drop p50 ms, 1 member/machine at %.0f drops/s each",
	  "d1p.rate", "d1p.drop_p50_ms", NULL, NULL, LG_INFO, 0 },
	{ "paced drop p99 ms, 1 member/machine at %.0f drops/s each",
	  "d1p.rate", "d1p.drop_p99_ms", NULL, NULL, LG_INFO, 0 },
	{ "balance requests/s vs ping, 8 persistent connections", NULL,
	  "rps.balance_per_s", "rps.ping_per_s", "ping on drinkd",
	  LG_RATIO_GE, 0.9 },
};

#define LG_MAX_KEYS 128
#define LG_MAX_RUNS 16

struct lg_fig {
	char key[64];
	double v[LG_MAX_RUNS];
	int n;
};

static struct lg_fig lg_figs[LG_MAX_KEYS];
static int lg_nfigs;

/* The figure measured as key, or NULL. */
static const struct lg_fig *
lg_fig_find(const char *key)
{
	int i;

	for (i = 0; key != NULL && i < lg_nfigs; i++) {
		if (strcmp(lg_figs[i].key, key) == 0) {
			return &lg_figs[i];
		}
	}
	return NULL;
}

/* Median of n values, or NAN for none. */
static double
lg_median_of(const double *values, int n)
{
	double v[LG_MAX_RUNS];

	if (n <= 0) {
		return __builtin_nan("");
	}
	memcpy(v, values, sizeof(v[0]) * (size_t)n);
	qsort(v, (size_t)n, sizeof(v[0]), lg_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median of key over the runs, or NAN when it was never measured. */
static double
lg_median(const char *key)
{
	const struct lg_fig *f = lg_fig_find(key);

	return f != NULL ? lg_median_of(f->v, f->n) : __builtin_nan("");
}

static void
lg_load(const char *path)
{
	char key[64];
	double v;
	FILE *f;
	int i;

	if ((f = fopen(path, "r")) == NULL) {
		lg_die("cannot read %s", path);
	}
	while (fscanf(f, "%63s %lf", key, &v) == 2) {
		for (i = 0; i < lg_nfigs && strcmp(lg_figs[i].key, key); i++) {
			;
		}
		if (i == LG_MAX_KEYS) {
			continue;
		}
		if (i == lg_nfigs) {
			snprintf(lg_figs[i].key, sizeof(lg_figs[i].key), "%s",
			    key);
			lg_nfigs++;
		}
		if (lg_figs[i].n < LG_MAX_RUNS) {
			lg_figs[i].v[lg_figs[i].n++] = v;
		}
	}
	fclose(f);
}

static void
lg_fmt(char *buf, size_t len, double v)
{
	if (v != v) {
		snprintf(buf, len, "-");
	} else if (v >= 100) {
		snprintf(buf, len, "%.0f", v);
	} else {
		snprintf(buf, len, "%.2f", v);
	}
}

/*
 * A row's ratio, with as many more decimals (up to four) as it takes not
 * to land on the target when it is not on it: 0.9996 against ">= 1.0"
 * shows as 0.9996, never as a 1.00 that is then not met.
 */
static void
lg_fmt_ratio(char *buf, size_t len, double ratio, const struct lg_row *w)
{
	int d;

	lg_fmt(buf, len, ratio);
	if (w->check == LG_INFO || w->check == LG_ABS_LE || ratio != ratio ||
	    ratio >= 100 || ratio == w->target) {
		return;
	}
	for (d = 2; d <= 4; d++) {
		snprintf(buf, len, "%.*f", d, ratio);
		if (strtod(buf, NULL) != w->target) {
			return;
		}
	}
}

/*
 * The ratio of a row with a target in each round, drinkd's figure over
 * its peer's from the same round, into r; how many rounds had both.
 */
static int
lg_round_ratios(const struct lg_row *w, double *r)
{
	const struct lg_fig *k = lg_fig_find(w->key);
	const struct lg_fig *p = lg_fig_find(w->peer_key);
	int i, n;

	if (k == NULL || p == NULL || w->check == LG_INFO) {
		return 0;
	}
	n = k->n < p->n ? k->n : p->n;
	for (i = 0; i < n; i++) {
		r[i] = k->v[i] / p->v[i];
	}
	return n;
}

/*
 * A second table: each round's ratios, measured side by side.  The first
 * table's ratio is of medians that may come from different rounds; on a
 * shared machine these show how far a ratio moved from round to round.
 */
static void
lg_report_rounds(cJSON *rows)
{
	double r[LG_MAX_RUNS];
	char label[128], list[LG_MAX_RUNS * 16], m[32], one[32];
	size_t i, used;
	cJSON *row = rows->child, *arr;
	int j, n;

	printf("\n| figure | ratio in each round | median of those |\n"
	    "|---|---|---|\n");
	for (i = 0; i < sizeof(lg_rows) / sizeof(lg_rows[0]);
	    i++, row = row->next) {
		if ((n = lg_round_ratios(&lg_rows[i], r)) == 0) {
			continue;
		}
		snprintf(label, sizeof(label), lg_rows[i].label,
		    lg_median(lg_rows[i].nkey));
		arr = cJSON_AddArrayToObject(row, "round_ratios");
		list[0] = '\0';
		for (j = 0, used = 0; j < n; j++) {
			lg_fmt_ratio(one, sizeof(one), r[j], &lg_rows[i]);
			if (used < sizeof(list)) {
				used += (size_t)snprintf(list + used,
				    sizeof(list) - used, "%s%s", j ? " " : "",
				    one);
			}
			cJSON_AddItemToArray(arr, cJSON_CreateNumber(r[j]));
		}
		lg_fmt_ratio(m, sizeof(m), lg_median_of(r, n), &lg_rows[i]);
		printf("| %s | %s | %s |\n", label, list, m);
	}
}

static void
lg_report(const char *in, const char *json_path)
{
	static const char *const ops[] = {
		[LG_INFO] = "", [LG_RATIO_GE] = ">= ", [LG_RATIO_LE] = "<= ",
		[LG_ABS_LE] = "<= ",
	};
	cJSON *root = cJSON_CreateObject(), *rows, *meds, *o;
	char label[128], a[32], b[32], r[32], t[32];
	double v, p, ratio;
	size_t i;
	int met, unmeasured, runs = 0, all = 1, j;
	char *text;
	FILE *f;

	lg_load(in);
	for (j = 0; j < lg_nfigs; j++) {
		runs = lg_figs[j].n > runs ? lg_figs[j].n : runs;
	}
	rows = cJSON_AddArrayToObject(root, "rows");
	printf("| figure | drinkd | peer | peer value | ratio | target | met |\n"
	    "|---|---|---|---|---|---|---|\n");
	for (i = 0; i < sizeof(lg_rows) / sizeof(lg_rows[0]); i++) {
		const struct lg_row *w = &lg_rows[i];

		snprintf(label, sizeof(label), w->label, lg_median(w->nkey));
		v = lg_median(w->key);
		p = lg_median(w->peer_key);
		ratio = v / p;
		met = w->check == LG_RATIO_GE ? ratio >= w->target :
		    w->check == LG_RATIO_LE ? ratio <= w->target :
		    w->check == LG_ABS_LE ? v <= w->target : 1;
		/*
		 * A figure that is not positive (RSS that fell while the
		 * connections were held, a phase that produced nothing) was
		 * not measured: it meets no target.
		 */
		unmeasured = !(v > 0) || (w->peer_key != NULL && !(p > 0));
		if (unmeasured) {
			met = 0;
		}
		if (w->check != LG_INFO && !met) {
			all = 0;
		}
		lg_fmt(a, sizeof(a), v);
		lg_fmt(b, sizeof(b), p);
		lg_fmt_ratio(r, sizeof(r), ratio, w);
		if (w->check == LG_INFO) {
			snprintf(t, sizeof(t), "-");
		} else {
			snprintf(t, sizeof(t), "%s%.*f%s", ops[w->check],
			    w->check == LG_ABS_LE ? 0 : 1, w->target,
			    w->check == LG_ABS_LE ? " ms" : "");
		}
		printf("| %s | %s | %s | %s | %s | %s | %s |\n", label, a,
		    w->peer != NULL ? w->peer : "-", b,
		    w->peer_key != NULL ? r : "-", t,
		    w->check == LG_INFO ? "" : unmeasured ? "unmeasured" :
		    met ? "yes" : "NO");
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "figure", label);
		cJSON_AddItemToObject(o, "drinkd", v == v ?
		    cJSON_CreateNumber(v) : cJSON_CreateNull());
		if (w->peer_key != NULL) {
			cJSON_AddStringToObject(o, "peer", w->peer);
			cJSON_AddItemToObject(o, "peer_value", p == p ?
			    cJSON_CreateNumber(p) : cJSON_CreateNull());
			cJSON_AddItemToObject(o, "ratio", ratio == ratio ?
			    cJSON_CreateNumber(ratio) : cJSON_CreateNull());
		}
		if (w->check != LG_INFO) {
			cJSON_AddStringToObject(o, "target", t);
			cJSON_AddBoolToObject(o, "met", met);
		}
		cJSON_AddItemToArray(rows, o);
	}
	printf("\nmedians of %d interleaved run(s); %s\n", runs,
	    all ? "every target met" : "some targets NOT met");
	lg_report_rounds(rows);
	meds = cJSON_AddObjectToObject(root, "medians");
	for (j = 0; j < lg_nfigs; j++) {
		cJSON_AddNumberToObject(meds, lg_figs[j].key,
		    lg_median(lg_figs[j].key));
	}
	cJSON_AddNumberToObject(root, "runs", runs);
	cJSON_AddNumberToObject(root, "time", (double)time(NULL));
	text = cJSON_Print(root);
	if ((f = fopen(json_path, "w")) == NULL) {
		lg_die("cannot write %s", json_path);
	}
	fprintf(f, "%s\n", text);
	fclose(f);
	free(text);
	cJSON_Delete(root);
}

/* ---- main ------------------------------------------------------------ */

struct lg_flag {
	const char *name;
	char type;		/* 'i' int, 'd' double, 's' string, 'b' flag */
	void *p;
};

static const struct lg_flag lg_flags[] = {
	{ "port", 'i', &opt.port }, { "mport", 'i', &opt.mport },
	{ "cert", 's', &opt.cert }, { "key", 's', &opt.key },
	{ "user", 's', &opt.user }, { "password", 's', &opt.password },
	{ "certdir", 's', &opt.certdir }, { "threads", 'i', &opt.threads },
	{ "secs", 'd', &opt.secs }, { "pids", 's', &opt.pids },
	{ "http", 'b', &opt.http }, { "steps", 's', &opt.steps },
	{ "machines", 'i', &opt.machines }, { "members", 'i', &opt.members },
	{ "idle", 'i', &opt.idle }, { "cmd", 's', &opt.cmd },
	{ "rate", 'd', &opt.rate },
	{ "db", 's', &opt.db }, { "prefix", 's', &opt.prefix },
	{ "linger", 'i', &opt.linger }, { "before", 'b', &opt.before },
};

static void
lg_parse(int argc, char **argv)
{
	const char *eq;
	size_t i, n;
	int a;

	for (a = 2; a < argc; a++) {
		if (strncmp(argv[a], "--", 2) != 0) {
			lg_die("bad argument %s", argv[a]);
		}
		eq = strchr(argv[a], '=');
		n = eq != NULL ? (size_t)(eq - argv[a] - 2) :
		    strlen(argv[a] + 2);
		for (i = 0; i < sizeof(lg_flags) / sizeof(lg_flags[0]); i++) {
			if (strlen(lg_flags[i].name) == n &&
			    strncmp(lg_flags[i].name, argv[a] + 2, n) == 0) {
				break;
			}
		}
		if (i == sizeof(lg_flags) / sizeof(lg_flags[0]) ||
		    (eq == NULL) != (lg_flags[i].type == 'b')) {
			lg_die("bad argument %s", argv[a]);
		}
		switch (lg_flags[i].type) {
		case 'i':
			*(int *)lg_flags[i].p = atoi(eq + 1);
			break;
		case 'd':
			*(double *)lg_flags[i].p = atof(eq + 1);
			break;
		case 's':
			*(const char **)lg_flags[i].p = eq + 1;
			break;
		default:
			*(int *)lg_flags[i].p = 1;
			break;
		}
	}
	if (opt.threads < 1 || opt.threads > LG_MAX_THREADS) {
		lg_die("threads must be 1..%d", LG_MAX_THREADS);
	}
}

int
main(int argc, char **argv)
{
	struct rlimit rl;
	const char *mode = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (strcmp(mode, "report") == 0) {
		if (argc != 4) {
			lg_die("usage: loadgen report FIGURES JSON");
		}
		lg_report(argv[2], argv[3]);
		return 0;
	}
	lg_parse(argc, argv);
	lg_ctx = lg_ctx_new(opt.cert, opt.key);
	if (strcmp(mode, "hs") == 0) {
		lg_hs_run("");
	} else if (strcmp(mode, "hold") == 0 && opt.steps != NULL) {
		lg_hold();
	} else if (strcmp(mode, "drop") == 0 && opt.certdir != NULL) {
		lg_out("members", opt.members);
		lg_out("idle", opt.idle);
		lg_out("rate", opt.rate);
		lg_drop();
	} else if (strcmp(mode, "rps") == 0 && opt.cmd != NULL) {
		lg_rps();
	} else if (strcmp(mode, "sqlite") == 0 && opt.db != NULL) {
		lg_sqlite();
	} else if (strcmp(mode, "admin") == 0 && opt.user != NULL) {
		lg_admin();
	} else {
		lg_die("usage: loadgen hs|hold|drop|rps|sqlite|admin|report "
		    "[--flag=value ...] (see bench/loadgen.c)");
	}
	SSL_CTX_free(lg_ctx);
	return 0;
}
