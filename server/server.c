/*
 * The running server: listening sockets, threads that accept on them and
 * serve what they accept (one detached thread per connection), admission
 * control before TLS (client.c counts; each port on its own), the ports
 * file, and signals (SIGTERM/SIGINT stop, SIGHUP reloads the TLS
 * context).  Signals are blocked in every thread and taken synchronously
 * by the main thread with sigwait(), so no handler runs in a random place.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "drinkd.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SERVER_STACK (2048 * 1024)	/* sanitizers need far more stack */
#else
#define SERVER_STACK (256 * 1024)
#endif
#define SERVER_BUSY_THREADS 8		/* refusals answered at once, at most */
#define SERVER_BUSY_MS 2000
#define SERVER_STOP_MS 10000
#define SERVER_IDLE_SECS 30	/* how long one waits before it exits */
#define SERVER_DEFER_ACCEPT_S 1	/* a silent connection, before accept() */
/*
 * Descriptors kept free beyond max_clients: the database's WAL and shm
 * files, controllers' wake pipes, refusals being answered, the ports file.
 */
#define SERVER_FD_MARGIN (48 + SERVER_BUSY_THREADS)
#define SERVER_FD_GUESS 64	/* open at start, when /proc cannot say */
#define SERVER_CERT_WARN_DAYS 14	/* after ACME's renewal, 30 days ahead */

/* The running server: for the acceptors and the signal loop only. */
static struct server *server;

/* What a refused client is told. */
enum server_busy_reply {
	SERVER_BUSY_CLOSE,	/* nothing: controllers retry, legacy has no word */
	SERVER_BUSY_LINE,	/* a JSON server_busy line (member port) */
	SERVER_BUSY_HTTP,	/* an HTTP 503 with Retry-After (web port) */
};

struct listener {
	const char *what;	/* for the log */
	const char *key;	/* its configuration key and ports file name */
	int fd;
	int port;
	enum client_kind kind;
	enum client_pool pool;	/* where its connections are counted */
	void *(*main)(void *);	/* the connection thread, given a peer */
	size_t size;		/* what main's peer is the start of */
	enum server_busy_reply busy_reply;
	int naccepting;		/* threads waiting in accept(); server_pool_lock */
};

/* A refused connection being answered by server_busy_main. */
struct server_refusal {
	int fd;
	enum server_busy_reply reply;
};

#define SERVER_LISTENERS 5	/* member, machine, Sunday, tini, web */
static struct listener server_listeners[SERVER_LISTENERS];
static int server_nlisteners;
static volatile int server_busy_threads;
static pthread_mutex_t server_busy_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * A descriptor held in reserve: when accept() finds none left, it is
 * given up so that the client waiting in the backlog can be accepted,
 * told server_busy and closed, instead of hanging there.
 */
static int server_reserve_fd = -1;	/* server_busy_lock */
static int server_fd_exhausted;		/* server_busy_lock: in an episode */
static long server_fd_limit;		/* RLIMIT_NOFILE, once raised */

SSL_CTX *
server_member_ctx(struct server *srv)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&srv->ctx_lock);
	ctx = srv->member_ctx;
	SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&srv->ctx_lock);
	return ctx;
}

int
server_stopping(struct server *srv)
{
	return __atomic_load_n(&srv->stopping, __ATOMIC_SEQ_CST);
}

SSL_CTX *
server_machine_ctx(struct server *srv)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&srv->ctx_lock);
	ctx = srv->machine_ctx;
	SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&srv->ctx_lock);
	return ctx;
}

/* Fresh contexts for both ports from the files named in the config. */
static int
server_new_ctxs(SSL_CTX **member, SSL_CTX **machine, char *err,
    size_t errlen)
{
	const struct config *cfg = server->cfg;

	*machine = NULL;
	*member = tls_ctx_new(TLS_MEMBER_SERVER, cfg->cert, cfg->key,
	    cfg->member_ca, cfg->member_ca != NULL ? cfg->crl : NULL, err,
	    errlen);
	if (*member == NULL) {
		return -1;
	}
	if (cfg->machine_ca != NULL &&
	    (*machine = tls_ctx_new(TLS_MACHINE_SERVER, cfg->cert, cfg->key,
	    cfg->machine_ca, cfg->crl, err, errlen)) == NULL) {
		SSL_CTX_free(*member);
		*member = NULL;
		return -1;
	}
	return 0;
}

/*
 * The CRL is checked for every certificate of a chain, so a CA of key
 * (the file ca) without a CRL in it fails every certificate it signed
 * with "unable to get certificate CRL": say so.  The member port checks
 * the CRL only with member_ca; the machine port always.  1 when said.
 */
static int
server_crl_coverage(const struct config *cfg, const char *key,
    const char *ca, void (*say)(const char *))
{
	char msg[1024], name[256] = "";
	int n;

	if (cfg->crl == NULL || ca == NULL ||
	    (n = tls_crl_uncovered(cfg->crl, ca, name, sizeof(name))) <= 0) {
		return 0;
	}
	snprintf(msg, sizeof(msg), "crl %s holds no CRL from %s%s (in %s %s): "
	    "every certificate %s signed is refused (\"unable to get "
	    "certificate CRL\"); add its CRL to the file, e.g. cat the CAs' "
	    "CRLs into one (SIGHUP reloads it)", cfg->crl, name,
	    n > 1 ? " and other CAs" : "", key, ca, n > 1 ? "they" : "it");
	say(msg);
	return 1;
}

/*
 * The server certificate (key cert) or a client CA (member_ca,
 * machine_ca) that has expired, or will within SERVER_CERT_WARN_DAYS:
 * 1 and say() when so.  TLS does not say it: a client sees only a failed
 * handshake, the log only the alert it sent.
 */
static int
server_cert_expiry(const char *key, const char *path,
    void (*say)(const char *))
{
	int own = strcmp(key, "cert") == 0;
	char msg[1024], name[256];
	int64_t left;

	if (path == NULL || tls_cert_expiry(path, &left, name,
	    sizeof(name)) != 0) {
		return 0;
	}
	if (left <= 0) {
		snprintf(msg, sizeof(msg), "%s %s: %s expired %lld day(s) "
		    "ago: %s; %s", key, path, name, (long long)(-left / 86400),
		    own ? "members, controllers and browsers refuse it" :
		    "every certificate it signed is refused",
		    own ? "renew it (drink-mkcerts(1), RENEWAL) and reload "
		    "drinkd (SIGHUP)" : "make a new CA, certificates from it, "
		    "and reload drinkd (SIGHUP)");
	} else if (left < SERVER_CERT_WARN_DAYS * INT64_C(86400)) {
		snprintf(msg, sizeof(msg), "%s %s: %s expires in %lld day(s) "
		    "%lld hour(s): %s before then, and reload drinkd (SIGHUP), "
		    "or %s", key, path, name, (long long)(left / 86400),
		    (long long)(left % 86400 / 3600),
		    own ? "renew it (drink-mkcerts(1), RENEWAL)" :
		    "make a new CA and certificates from it",
		    own ? "members, controllers and browsers will refuse it" :
		    "every certificate it signed will be refused");
	} else {
		return 0;
	}
	say(msg);
	return 1;
}

/*
 * Certificate set-ups that work now but mislead or will stop working: one
 * CA trusted on both ports (a member certificate could register as the
 * machine its CN names, a controller's log in as the user of its name),
 * the server certificate or a client CA expired or about to, and a CRL
 * whose nextUpdate is near or past (OpenSSL then refuses every
 * certificate).  say() gets each warning; returns how many there were.
 */
int
server_cert_warnings(const struct config *cfg, void (*say)(const char *))
{
	char msg[1024];
	int64_t left;
	int n = 0;

	if (cfg->member_ca != NULL && cfg->machine_ca != NULL &&
	    tls_same_ca(cfg->member_ca, cfg->machine_ca) == 1) {
		snprintf(msg, sizeof(msg), "member_ca (%s) and machine_ca (%s) "
		    "are the same CA: a member certificate is accepted on the "
		    "machine port, and a controller certificate on the member "
		    "port; give controllers a CA of their own",
		    cfg->member_ca, cfg->machine_ca);
		say(msg);
		n++;
	}
	n += server_crl_coverage(cfg, "member_ca", cfg->member_ca, say);
	n += server_crl_coverage(cfg, "machine_ca", cfg->machine_ca, say);
	n += server_cert_expiry("cert", cfg->cert, say);
	n += server_cert_expiry("member_ca", cfg->member_ca, say);
	n += server_cert_expiry("machine_ca", cfg->machine_ca, say);
	if (cfg->crl == NULL || cfg->crl_warn_days == 0) {
		return n;
	}
	if (tls_crl_expiry(cfg->crl, &left) != 0) {
		snprintf(msg, sizeof(msg), "crl %s: no nextUpdate could be read",
		    cfg->crl);
		say(msg);
		n++;
	} else if (left <= 0) {
		snprintf(msg, sizeof(msg), "crl %s: nextUpdate passed %lld "
		    "hour(s) ago; every client certificate is refused until a "
		    "fresh CRL is installed (SIGHUP reloads it)", cfg->crl,
		    (long long)(-left / 3600));
		say(msg);
		n++;
	} else if (left < cfg->crl_warn_days * INT64_C(86400)) {
		snprintf(msg, sizeof(msg), "crl %s: nextUpdate is in %lld "
		    "day(s) %lld hour(s); install a fresh CRL before then "
		    "(SIGHUP reloads it), or every client certificate will be "
		    "refused", cfg->crl, (long long)(left / 86400),
		    (long long)(left % 86400 / 3600));
		say(msg);
		n++;
	}
	return n;
}

/*
 * Which server certificate the contexts just made serve, and until when:
 * at start, and after a reload, where "reloaded certificates" alone does
 * not tell a renewed certificate from the old one still at that path.
 */
static void
server_cert_note(const struct config *cfg)
{
	char until[64], name[256];

	if (tls_cert_until(cfg->cert, until, sizeof(until), name,
	    sizeof(name)) == 0) {
		log_info("cert %s: %s, valid until %s", cfg->cert, name,
		    until);
	}
}

/*
 * Tell systemd (Type=notify) how the start went: READY=1 once every port
 * is bound and the pending drops are settled, so that "systemctl start"
 * fails, and says so, when drinkd exits before that; STOPPING=1 when a
 * stop begins.  Without NOTIFY_SOCKET (not under systemd) nothing is
 * sent.  A name starting with '@' is in the abstract namespace.  The
 * send never waits: a socket whose queue is full is warned of instead.
 */
static void
server_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	socklen_t len;
	size_t n;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (n = strlen(path)) >= sizeof(addr.sun_path)) {
		return;
	}
	memcpy(addr.sun_path, path, n);
	if (path[0] == '@') {
		addr.sun_path[0] = '\0';
	}
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("cannot tell systemd %s: %s", state, strerror(errno));
		return;
	}
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
	    (struct sockaddr *)&addr, len) == -1) {
		log_warn("cannot tell systemd %s (NOTIFY_SOCKET=%s): %s", state,
		    path, strerror(errno));
	}
	close(fd);
}

static void
server_say(const char *msg)
{
	log_warn("%s", msg);
}

/*
 * A reload reads the certificate, key, CA and CRL files again, not the
 * configuration file: when the file now says something else than what
 * drinkd runs with, say which keys wait for a restart (a changed cert or
 * key path among them: the reload read the old one).
 */
/* Refusals, one per line, as one log line: joined by "; ". */
static void
server_join_lines(const char *err, char *one, size_t len)
{
	const char *p;
	size_t used = 0;

	for (p = err; *p != '\0' && used + 3 < len; p++) {
		if (*p == '\n') {
			one[used++] = ';';
			one[used++] = ' ';
		} else {
			one[used++] = *p;
		}
	}
	one[used] = '\0';
}

/*
 * A reload reads the certificate, key, CA and CRL files again, not the
 * configuration file: when the file now says something else than what
 * drinkd runs with, say which keys wait for a restart (a changed cert or
 * key path among them: the reload read the old one).  A changed file is
 * checked as -n would check it, with the command line's keys: one that
 * the next start would refuse is said now, while drinkd still serves,
 * not found by a restart that then stays down.
 */
static void
server_reload_config_note(void)
{
	struct config now;
	char err[2048], one[2100], keys[1024];

	if (server->cfg->file == NULL) {
		return;
	}
	config_init(&now);
	if (config_load(&now, server->cfg->file, err, sizeof(err)) != 0) {
		server_join_lines(err, one, sizeof(one));
		log_warn("%s no longer loads (%s); a reload does not read it, "
		    "but the next start will", server->cfg->file, one);
	} else if (config_changed(server->cfg, &now, keys, sizeof(keys)) >
	    0) {
		config_keep_options(&now, server->cfg);
		if (config_check_server(&now, err, sizeof(err)) != 0) {
			server_join_lines(err, one, sizeof(one));
			log_warn("%s has changed since drinkd started (%s), "
			    "and the next start would refuse it (%s): mend "
			    "it before restarting drinkd", server->cfg->file,
			    keys, one);
		} else {
			log_warn("%s has changed since drinkd started (%s): a "
			    "reload reads only the certificate, key, CA and "
			    "CRL files again; restart drinkd for the rest",
			    server->cfg->file, keys);
		}
	}
	config_free(&now);
}

/*
 * SIGHUP: load certificates and CRL into a fresh context.  New connections
 * use it; live ones keep the context they were made with.
 */
int
server_reload(void)
{
	char err[2048], *line, *save = NULL;
	SSL_CTX *member, *machine, *old_member, *old_machine;

	/*
	 * -n's checks first: they say what is wrong with a file (missing,
	 * unreadable by drinkd's user, not private, not matching), where
	 * OpenSSL says only "system lib".
	 */
	if (config_check_tls(server->cfg, err, sizeof(err)) != 0) {
		for (line = strtok_r(err, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			log_err("reload failed, keeping the old certificates: "
			    "%s", line);
		}
		return -1;
	}
	if (server_new_ctxs(&member, &machine, err, sizeof(err)) != 0) {
		log_err("reload failed, keeping the old certificates: %s", err);
		return -1;
	}
	pthread_mutex_lock(&server->ctx_lock);
	old_member = server->member_ctx;
	old_machine = server->machine_ctx;
	server->member_ctx = member;
	server->machine_ctx = machine;
	pthread_mutex_unlock(&server->ctx_lock);
	SSL_CTX_free(old_member);
	SSL_CTX_free(old_machine);
	log_info("reloaded certificates%s", server->cfg->crl != NULL ?
	    " and CRL" : "");
	server_cert_note(server->cfg);
	(void)server_cert_warnings(server->cfg, server_say);
	server_reload_config_note();
	return 0;
}

/*
 * Why a listener could not bind, with the key (and where it was set) to
 * change, and for the two usual causes what to look at.
 */
static void
server_bind_error(const char *what, const char *spec, const char *key, int e)
{
	const char *where = config_origin(server->cfg, key);
	const char *hint = "";

	if (e == EADDRINUSE) {
		hint = "; another program (or another drinkd) holds the port: "
		    "see ss -ltnp, or give this key another port";
	} else if (e == EADDRNOTAVAIL) {
		hint = "; no interface of this host has that address: see "
		    "ip -brief address, or use *";
	} else if (e == EACCES) {
		hint = "; a port below 1024 needs CAP_NET_BIND_SERVICE (see "
		    "drinkd.service)";
	}
	log_err("%s: cannot listen on %s (%s, %s): %s%s", what, spec, key,
	    where != NULL ? where : "default", strerror(e), hint);
}

static int
server_bind(const char *what, const char *spec, struct listener *l)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct timeval idle = { .tv_sec = SERVER_IDLE_SECS };
	char host[128], port[16], err[256];
	int one = 1, zero = 0, defer = SERVER_DEFER_ACCEPT_S, fd = -1, gai;
	int star;
	const char *only4 = "";

	if (config_addr_split(spec, host, sizeof(host), port, sizeof(port),
	    err, sizeof(err)) != 0) {
		log_err("%s: %s", what, err);
		return -1;
	}
	star = strcmp(host, "*") == 0;
	if (star) {
		/* One dual-stack socket serves both families. */
		hints.ai_family = AF_INET6;
		gai = getaddrinfo(NULL, port, &hints, &res);
		if (gai != 0) {
			hints.ai_family = AF_INET;
			gai = getaddrinfo(NULL, port, &hints, &res);
		}
	} else {
		gai = getaddrinfo(host, port, &hints, &res);
	}
	if (gai != 0) {
		log_err("%s: bad address \"%s\": %s", what, spec,
		    gai_strerror(gai));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 && errno == EAFNOSUPPORT && star &&
	    res->ai_family == AF_INET6) {
		/* A kernel without IPv6 (ipv6.disable=1): IPv4's wildcard. */
		freeaddrinfo(res);
		res = NULL;
		hints.ai_family = AF_INET;
		if ((gai = getaddrinfo(NULL, port, &hints, &res)) != 0) {
			log_err("%s: bad address \"%s\": %s", what, spec,
			    gai_strerror(gai));
			return -1;
		}
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		only4 = " (IPv4 only: no IPv6 on this host)";
	}
	if (fd == -1) {
		log_err("%s: socket: %s", what, strerror(errno));
		goto err;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/*
	 * Every port speaks TLS, so the client speaks first: a connection
	 * is handed to accept() once its ClientHello is there, and the
	 * thread that takes it starts on the handshake at once instead of
	 * waking a second time for it.  One that sends nothing waits
	 * SERVER_DEFER_ACCEPT_S in the kernel, holding no descriptor, then
	 * is accepted as any other (handshake_timeout starts there).
	 */
	setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
	/* A thread waiting in accept() is idle: it may leave (see below). */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
	if (res->ai_family == AF_INET6 && star) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	}
	if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
	    listen(fd, 1024) != 0) {
		server_bind_error(what, spec, l->key, errno);
		goto err;
	}
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	l->port = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	l->fd = fd;
	freeaddrinfo(res);
	log_info("%s: listening on %s (port %d)%s", what, spec, l->port,
	    only4);
	return 0;
err:
	if (fd != -1) {
		close(fd);
	}
	freeaddrinfo(res);
	return -1;
}

/*
 * Written after binding, so a supervisor or test learns ephemeral ports:
 * {"listen":P,"machine_listen":P|null,"web_listen":P|null} and each
 * legacy listener when on.
 */
static int
server_write_ports(const char *path)
{
	char *tmp = xasprintf("%s.tmp", path);
	const struct listener *l;
	FILE *f;
	int rc = -1, i, machine = 0, web = 0;

	if ((f = fopen(tmp, "w")) != NULL) {
		for (i = 0; i < server_nlisteners; i++) {
			l = &server_listeners[i];
			machine |= strcmp(l->key, "machine_listen") == 0;
			web |= strcmp(l->key, "web_listen") == 0;
			fprintf(f, "%s\"%s\":%d", i == 0 ? "{" : ",", l->key,
			    l->port);
		}
		fprintf(f, "%s%s}\n", machine ? "" : ",\"machine_listen\":null",
		    web ? "" : ",\"web_listen\":null");
		if (fclose(f) == 0 && rename(tmp, path) == 0) {
			rc = 0;
		}
	}
	if (rc != 0) {
		log_err("cannot write ports file %s: %s", path,
		    strerror(errno));
	}
	free(tmp);
	return rc;
}

static void
server_peer(const struct sockaddr_storage *ss, char *addr, size_t len,
    int *port)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		*port = ntohs(s6->sin6_port);
		/* Show an IPv4 client on a dual-stack socket as IPv4. */
		snprintf(addr, len, "%s", strncmp(host, "::ffff:", 7) == 0 &&
		    strchr(host, '.') != NULL ? host + 7 : host);
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		*port = ntohs(s4->sin_port);
		snprintf(addr, len, "%s", host);
	}
}

/* Bind the next listener; its acceptor starts later, in server_run. */
static int
server_listen(const char *what, const char *key, const char *spec,
    enum client_kind kind, void *(*fn)(void *), size_t size)
{
	struct listener *l = &server_listeners[server_nlisteners];

	assert(server_nlisteners < SERVER_LISTENERS);
	memset(l, 0, sizeof(*l));
	l->what = what;
	l->key = key;
	l->kind = kind;
	l->pool = kind == CLIENT_MACHINE ? CLIENT_POOL_MACHINE :
	    CLIENT_POOL_MEMBER;
	l->main = fn;
	l->size = size;
	if (server_bind(what, spec, l) != 0) {
		return -1;
	}
	server_nlisteners++;
	return 0;
}

/* Tell a refused client why, over TLS, within a short deadline. */
static void *
server_busy_main(void *arg)
{
	struct server_refusal *r = arg;
	SSL_CTX *ctx = server_member_ctx(server);
	struct conn *c = conn_new(r->fd, ctx, 1024);
	cJSON *o = cJSON_CreateObject();
	int64_t deadline = now_ms() + SERVER_BUSY_MS;
	size_t len;
	char *line;

	SSL_CTX_free(ctx);
	cJSON_AddBoolToObject(o, "ok", 0);
	cJSON_AddStringToObject(o, "error", proto_err_code(ERR_SERVER_BUSY));
	cJSON_AddStringToObject(o, "message",
	    proto_err_message(ERR_SERVER_BUSY));
	line = proto_line(o, &len);
	/* Without a handshake (conn_new closed fd on failure) say nothing. */
	if (c == NULL || conn_accept(c, deadline) != CONN_OK) {
		log_debug("a refused client was closed without a word");
	} else if (r->reply == SERVER_BUSY_HTTP) {
		web_refuse(c, deadline);
	} else if (conn_write(c, line, len, deadline) == CONN_OK) {
		conn_shutdown(c, deadline);
	}
	free(line);
	cJSON_Delete(o);
	conn_free(c);
	free(r);
	pthread_mutex_lock(&server_busy_lock);
	server_busy_threads--;
	pthread_mutex_unlock(&server_busy_lock);
	return NULL;
}

/*
 * The thread cache.  Each connection still has a thread of its own, but a
 * thread whose connection ended waits a while for the next one instead of
 * exiting: creating a thread, its stack and OpenSSL's per-thread state
 * (error queue, random generator) cost more than the wake-up.
 */
struct server_worker {
	void *(*fn)(void *);	/* the work handed over; NULL while idle */
	void *arg;
	pthread_cond_t cond;	/* signalled when work is handed over */
	struct server_worker *next;	/* in server_idle */
};

static pthread_mutex_t server_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct server_worker *server_idle;	/* server_pool_lock */
static int server_nidle;			/* server_pool_lock */
/* Threads waiting in accept(), on every listener. */
static int server_naccepting;			/* server_pool_lock */
/* Worker threads alive, busy or idle; server_stop waits for none. */
static int server_nworkers;			/* server_pool_lock */
static pthread_cond_t server_workers_gone = PTHREAD_COND_INITIALIZER;

static void
server_idle_unlink(struct server_worker *w)
{
	struct server_worker **pp;

	for (pp = &server_idle; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			server_nidle--;
			return;
		}
	}
}

/*
 * Leave nothing of the connection just served to the next one: OpenSSL's
 * error queue, the session whose events a waiting request pumps (and with
 * it the WebSocket that pump writes to), the database's note of what this
 * thread was writing.
 */
static void
server_worker_reset(void)
{
	ERR_clear_error();
	session_set_pump(NULL, NULL);
	db_set_op(NULL);
	(void)db_take_refused();
}

static void *
server_worker_main(void *arg)
{
	struct server_worker *w = arg;
	struct timespec ts;

	for (;;) {
		w->fn(w->arg);
		server_worker_reset();
		pthread_mutex_lock(&server_pool_lock);
		w->fn = NULL;
		if (server_nidle + server_naccepting >=
		    server->cfg->thread_cache || server_stopping(server)) {
			pthread_mutex_unlock(&server_pool_lock);
			break;
		}
		w->next = server_idle;
		server_idle = w;
		server_nidle++;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += SERVER_IDLE_SECS;
		while (w->fn == NULL && !server_stopping(server) &&
		    pthread_cond_timedwait(&w->cond, &server_pool_lock,
		    &ts) != ETIMEDOUT) {
			;
		}
		if (w->fn == NULL) {
			server_idle_unlink(w);
			pthread_mutex_unlock(&server_pool_lock);
			break;
		}
		pthread_mutex_unlock(&server_pool_lock);
	}
	pthread_cond_destroy(&w->cond);
	free(w);
	/*
	 * OpenSSL's per-thread state is freed now, not by a destructor that
	 * could run after main has returned; then server_stop may go on.
	 */
	OPENSSL_thread_stop();
	pthread_mutex_lock(&server_pool_lock);
	ASSERT(server_nworkers > 0);
	if (--server_nworkers == 0) {
		pthread_cond_broadcast(&server_workers_gone);
	}
	pthread_mutex_unlock(&server_pool_lock);
	return NULL;
}

/*
 * A connection thread's stack pages stay resident once touched, and the
 * TLS handshake (key exchange, signature, certificate checks: 16 KiB
 * deep with a client certificate) and a login reach several pages deeper
 * than an idle connection's wait.  Hand back to the kernel every page
 * below the caller's frame but for SERVER_STACK_IDLE bytes under it (they
 * read as zeros if touched again): an idle connection keeps two pages,
 * the top one (the thread's own data) and the one its wait runs in.
 */
#define SERVER_STACK_IDLE 1024	/* more than trim and madvise need below
				   their caller's frame */

static void
server_stack_trim(void)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo, hi;
	pthread_attr_t attr;
	size_t size;
	void *base;

	if (pthread_getattr_np(pthread_self(), &attr) != 0) {
		return;
	}
	if (pthread_attr_getstack(&attr, &base, &size) != 0) {
		pthread_attr_destroy(&attr);
		return;
	}
	pthread_attr_destroy(&attr);
	lo = ((uintptr_t)base + page - 1) & ~(page - 1);
	hi = ((uintptr_t)__builtin_frame_address(0) - SERVER_STACK_IDLE) &
	    ~(page - 1);
	if (hi > lo && hi - lo <= size) {
		(void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
	}
}

/*
 * A member connection idle (conn_set_idle) for CONN_IDLE_MS, most likely
 * for long: its thread gives back its stack pages below the wait and
 * OpenSSL's per-thread state (two random generators and the error queue,
 * 3.5 KiB), which OpenSSL makes again when the thread next needs it.
 */
void
server_conn_idle(void)
{
	server_stack_trim();
	OPENSSL_thread_stop();
}

/* At shutdown: wake every idle thread, which then exits. */
static void
server_idle_stop(void)
{
	struct server_worker *w;

	pthread_mutex_lock(&server_pool_lock);
	for (w = server_idle; w != NULL; w = w->next) {
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&server_pool_lock);
}

/*
 * At shutdown, once every connection is closed: wait until every worker
 * thread has exited, since they read the server (on main's stack) on
 * their way out.  Returns how many are left at the deadline.
 */
static int
server_workers_wait(int64_t deadline)
{
	struct timespec ts;
	int left;

	server_idle_stop();
	pthread_mutex_lock(&server_pool_lock);
	while (server_nworkers > 0 && now_ms() < deadline) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&server_workers_gone,
		    &server_pool_lock, &ts);
	}
	left = server_nworkers;
	pthread_mutex_unlock(&server_pool_lock);
	if (left > 0) {
		log_warn("%d connection thread(s) still running at exit", left);
	}
	return left;
}

/* Run fn(arg) on an idle cached thread, or on a new detached one. */
static int
server_spawn(void *(*fn)(void *), void *arg)
{
	struct server_worker *w;
	pthread_condattr_t ca;
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	pthread_mutex_lock(&server_pool_lock);
	if ((w = server_idle) != NULL) {
		server_idle = w->next;
		server_nidle--;
		w->fn = fn;
		w->arg = arg;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&server_pool_lock);
		return 0;
	}
	pthread_mutex_unlock(&server_pool_lock);
	w = xcalloc(1, sizeof(*w));
	w->fn = fn;
	w->arg = arg;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, SERVER_STACK);
	pthread_mutex_lock(&server_pool_lock);
	server_nworkers++;
	pthread_mutex_unlock(&server_pool_lock);
	rc = pthread_create(&t, &attr, server_worker_main, w);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		pthread_mutex_lock(&server_pool_lock);
		server_nworkers--;
		pthread_mutex_unlock(&server_pool_lock);
		pthread_cond_destroy(&w->cond);
		free(w);
		return -1;
	}
	return 0;
}

static void
server_refuse(int fd, const struct listener *l, const char *addr)
{
	struct server_refusal *r;
	int spawn = 0;

	pthread_mutex_lock(&server_busy_lock);
	/*
	 * Controllers are few and retry by themselves, and legacy clients
	 * have no word for it: just close.
	 */
	if (l->busy_reply != SERVER_BUSY_CLOSE &&
	    server_busy_threads < SERVER_BUSY_THREADS) {
		server_busy_threads++;
		spawn = 1;
	}
	pthread_mutex_unlock(&server_busy_lock);
	log_warn("refused %s on the %s: connection limit reached", addr,
	    l->what);
	if (spawn) {
		r = xmalloc(sizeof(*r));
		r->fd = fd;
		r->reply = l->busy_reply;
		if (server_spawn(server_busy_main, r) == 0) {
			return;
		}
		free(r);
		pthread_mutex_lock(&server_busy_lock);
		server_busy_threads--;
		pthread_mutex_unlock(&server_busy_lock);
	}
	close(fd);
}

/* Descriptors open in this process now (Linux), or a guess. */
static long
server_fds_open(void)
{
	struct dirent *e;
	long n = 0;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) == NULL) {
		return SERVER_FD_GUESS;
	}
	while ((e = readdir(d)) != NULL) {
		n += e->d_name[0] != '.';
	}
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}

/*
 * Raise the soft RLIMIT_NOFILE to the hard limit, then serve no more
 * clients than the limit leaves room for after what is open now and
 * SERVER_FD_MARGIN; a configured max_clients above that is lowered, with
 * a warning.  Then take the reserve descriptor.  SERVER_RUN_CONFIG when
 * the limit leaves no room at all: only raising it (LimitNOFILE=) helps,
 * so it is not worth a restart.  It counts what the open database holds,
 * hence runs here rather than with -n's checks.
 */
static int
server_fd_limits(struct config *cfg)
{
	struct rlimit rl;
	long room, open_now;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_warn("getrlimit: %s", strerror(errno));
		return 0;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			log_warn("cannot raise the descriptor limit to %llu: %s",
			    (unsigned long long)rl.rlim_max, strerror(errno));
			(void)getrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	server_fd_limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > LONG_MAX ?
	    LONG_MAX : (long)rl.rlim_cur;
	if ((server_reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) ==
	    -1) {
		log_err("cannot open /dev/null: %s", strerror(errno));
		return -1;
	}
	/*
	 * max_clients counts each port on its own; no one port may need more
	 * descriptors than there are (together they may: the reserve answers
	 * the excess with server_busy).
	 */
	open_now = server_fds_open();
	room = server_fd_limit - open_now - SERVER_FD_MARGIN;
	if (room < 1) {
		log_err("the descriptor limit (ulimit -n %ld) leaves no room "
		    "for clients: drinkd holds %ld and keeps %d for itself; "
		    "raise it to at least %ld for %d clients (LimitNOFILE= "
		    "in the unit, or ulimit -n)", server_fd_limit, open_now,
		    SERVER_FD_MARGIN, open_now + SERVER_FD_MARGIN + 100, 100);
		return SERVER_RUN_CONFIG;
	}
	if (cfg->max_clients > room) {
		log_warn("max_clients %ld is more than the descriptor limit "
		    "(ulimit -n %ld) allows; serving at most %ld clients",
		    cfg->max_clients, server_fd_limit, room);
		cfg->max_clients = room;
	}
	/* What took effect: LimitNOFILE= or ulimit -n, and max_clients. */
	log_info("limits: up to %ld connections on each port (max_clients; "
	    "the member, machine and web ports count apart), descriptor "
	    "limit %ld (ulimit -n)", cfg->max_clients, server_fd_limit);
	return 0;
}

/*
 * accept() found no descriptor (EMFILE/ENFILE).  Log it once for the
 * episode; give up the reserve descriptor to accept one waiting client
 * and refuse it with server_busy; without a reserve, wait a little.
 */
static void
server_fd_exhaustion(struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char addr[64];
	int port, fd = -1, first, reserve;

	pthread_mutex_lock(&server_busy_lock);
	first = !server_fd_exhausted;
	server_fd_exhausted = 1;
	reserve = server_reserve_fd;
	server_reserve_fd = -1;
	pthread_mutex_unlock(&server_busy_lock);
	if (first) {
		log_warn("out of file descriptors (ulimit -n %ld, %d "
		    "clients): refusing new clients with server_busy until "
		    "some leave", server_fd_limit, client_count());
	}
	if (reserve == -1) {
		usleep(50 * 1000);
		return;
	}
	close(reserve);
	fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
	if (fd != -1) {
		server_peer(&ss, addr, sizeof(addr), &port);
		server_refuse(fd, l, addr);
	}
}

/*
 * Before each accept: take the reserve descriptor back if it was given
 * up.  An accept that succeeds with the reserve in hand ends an episode.
 */
static void
server_fd_reserve(int accepted)
{
	int fd = -1;

	pthread_mutex_lock(&server_busy_lock);
	if (server_reserve_fd == -1) {
		fd = server_reserve_fd = open("/dev/null", O_RDONLY |
		    O_CLOEXEC);
	} else if (accepted && server_fd_exhausted) {
		server_fd_exhausted = 0;
		fd = -2;
	}
	pthread_mutex_unlock(&server_busy_lock);
	if (fd == -2) {
		log_info("file descriptors available again (%d clients)",
		    client_count());
	}
}

/*
 * Accept one connection on l and admit it: the peer to serve, or NULL
 * (nothing came before the idle timeout, an error, a refusal, or the
 * server is stopping).
 */
static struct peer *
server_accept_peer(struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct peer *p;
	int fd;

	server_fd_reserve(0);
	fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
	    SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (server_stopping(server)) {
		if (fd != -1) {
			close(fd);
		}
		return NULL;
	}
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE) {
			server_fd_exhaustion(l);
		} else if (errno == ENOBUFS || errno == ENOMEM) {
			log_warn("accept: %s; pausing", strerror(errno));
			usleep(100 * 1000);
		}
		return NULL;
	}
	server_fd_reserve(1);
	/* A session or a machine_conn, each starting with its peer. */
	p = xcalloc(1, l->size);
	p->srv = server;
	p->client.kind = l->kind;
	p->client.pool = l->pool;
	p->client.fd = fd;
	p->client.since = (int64_t)time(NULL);
	server_peer(&ss, p->client.address, sizeof(p->client.address),
	    &p->client.port);
	if (client_admit(&p->client, server->cfg->max_clients,
	    server->cfg->max_unauth_per_ip) != 0) {
		server_refuse(fd, l, p->client.address);
		free(p);
		return NULL;
	}
	if (p->client.made_room) {
		log_debug("%s: at max_unauth_per_ip; closed its oldest "
		    "connection that had not logged in", p->client.address);
	}
	return p;
}

/*
 * Whether a thread waiting in accept() on l should go on waiting (pool
 * lock held): always the last one, so that the port is served; others
 * while there is room in the thread cache and a wait has not timed out.
 */
static int
server_keep_accepting(const struct listener *l, int timed_out)
{
	int idle = server_nidle + server_naccepting;

	if (server_stopping(server)) {
		return 0;
	}
	if (l->naccepting == 0) {
		return 1;
	}
	return !timed_out && idle < server->cfg->thread_cache;
}

/*
 * A listener's threads.  Each waits in accept() itself, so the kernel
 * hands a new connection straight to one of them, which then serves it:
 * no acceptor thread to wake and no hand-off per connection.  The one
 * that takes a connection while no other waits first starts (or wakes) a
 * thread to take its place; a thread done with its connection waits in
 * accept() again while the thread cache has room.  Still one thread per
 * connection.
 */
static void *
server_listener_main(void *arg)
{
	struct listener *l = arg;
	struct peer *p;
	int timed_out = 0, alone;

	pthread_mutex_lock(&server_pool_lock);
	while (server_keep_accepting(l, timed_out)) {
		l->naccepting++;
		server_naccepting++;
		pthread_mutex_unlock(&server_pool_lock);
		errno = 0;
		p = server_accept_peer(l);
		timed_out = p == NULL && errno == EAGAIN;
		pthread_mutex_lock(&server_pool_lock);
		l->naccepting--;
		server_naccepting--;
		if (p == NULL) {
			continue;
		}
		alone = l->naccepting == 0;
		pthread_mutex_unlock(&server_pool_lock);
		/* Without a thread to take over accepting, this one stays. */
		if (alone && server_spawn(server_listener_main, l) != 0) {
			log_err("cannot start a thread for %s; closing",
			    p->client.address);
			client_remove(&p->client);
			close(p->client.fd);
			free(p);
		} else {
			l->main(p);
			server_worker_reset();
		}
		pthread_mutex_lock(&server_pool_lock);
	}
	pthread_mutex_unlock(&server_pool_lock);
	return NULL;
}

/*
 * Wait until no drop is at a machine or being settled, or the deadline:
 * how many are still at a machine.  Drops the machine answered but the
 * database would not record are left to the settler (drop_stop), and
 * not waited for once writes are refused until a restart: the next
 * start settles them.
 */
static int
server_drops_wait(int64_t deadline)
{
	int64_t step;
	int left, deferred;

	for (;;) {
		step = now_ms() + 100;
		left = vend_wait_idle(server->vends, step < deadline ? step :
		    deadline);
		deferred = drop_deferred(server);
		if (left == 0 || now_ms() >= deadline) {
			break;
		}
		if (left <= deferred && db_writes_stopped(server->db)) {
			log_warn("%d drop(s) the machines answered are still "
			    "to be recorded, and storage refuses writes "
			    "until a restart: not waiting for them", deferred);
			break;
		}
	}
	return left > deferred ? left - deferred : 0;
}

/*
 * Stop accepting, give drops already at a machine and requests being
 * answered up to vend_timeout to finish (controllers stay connected
 * meanwhile), then close every connection.  Returns how many connection
 * threads did not finish.
 */
static int
server_stop(void)
{
	int64_t deadline = now_ms() + server->cfg->vend_timeout * 1000;
	int i, left;

	__atomic_store_n(&server->stopping, 1, __ATOMIC_SEQ_CST);
	/* Every accept() returns; the descriptors are closed at the end. */
	for (i = 0; i < server_nlisteners; i++) {
		shutdown(server_listeners[i].fd, SHUT_RDWR);
	}
	server_idle_stop();
	/* A drop settles, and its answer is written, before anyone is cut. */
	/* A stop that waits says why, or it looks hung (systemctl stop). */
	if ((left = vend_drain(server->vends)) > 0) {
		log_info("stopping: waiting up to %ld s for %d drop(s) at a "
		    "machine to settle", server->cfg->vend_timeout, left);
	}
	left = server_drops_wait(deadline);
	while (session_busy() > 0 && now_ms() < deadline) {
		usleep(20 * 1000);
	}
	if (left > 0) {
		log_warn("%d drop(s) still at a machine at shutdown; closing "
		    "the machines fails and releases them", left);
	}
	vend_close_all(server->vends, MACH_CLOSE_SHUTDOWN);
	client_kick_all();
	deadline = now_ms() + SERVER_STOP_MS;
	while ((left = client_count()) > 0 && now_ms() < deadline) {
		client_kick_all();
		usleep(20 * 1000);
	}
	if (left > 0) {
		log_warn("%d connection(s) still open at exit", left);
		return left;
	}
	if ((left = server_workers_wait(deadline)) == 0) {
		for (i = 0; i < server_nlisteners; i++) {
			close(server_listeners[i].fd);
		}
	}
	return left;
}

int
server_run(struct server *srv)
{
	struct config *cfg = srv->cfg;

	char err[512];
	sigset_t set;
	int sig, i, rc;

	server = srv;
	pthread_mutex_init(&srv->ctx_lock, NULL);
	db_set_balance_hook(srv->db, event_balance);
	if ((rc = server_fd_limits(cfg)) != 0) {
		return rc;
	}
	if (server_new_ctxs(&srv->member_ctx, &srv->machine_ctx, err,
	    sizeof(err)) != 0) {
		log_err("%s", err);
		return -1;
	}
	server_cert_note(cfg);
	(void)server_cert_warnings(cfg, server_say);
	srv->started = (int64_t)time(NULL);
	if (server_listen("member port", "listen", cfg->listen, CLIENT_MEMBER,
	    session_main, sizeof(struct session)) != 0) {
		return -1;
	}
	server_listeners[0].busy_reply = SERVER_BUSY_LINE;
	if (srv->machine_ctx == NULL) {
		log_warn("machine port: disabled (machine_ca is not set); "
		    "no controller can connect");
	} else if (server_listen("machine port", "machine_listen",
	    cfg->machine_listen, CLIENT_MACHINE, machine_main,
	    sizeof(struct machine_conn)) != 0) {
		return -1;
	}
	if (cfg->sunday_listen != NULL && server_listen("Sunday listener",
	    "sunday_listen", cfg->sunday_listen, CLIENT_MEMBER,
	    sunday_main, sizeof(struct session)) != 0) {
		return -1;
	}
	if (cfg->tini_listen != NULL && srv->machine_ctx != NULL &&
	    server_listen("tini listener", "tini_listen", cfg->tini_listen,
	    CLIENT_MACHINE, tini_main, tini_conn_size()) != 0) {
		return -1;
	}
	if (cfg->web_listen != NULL) {
		/* A web connection is a member session once it upgrades. */
		if (server_listen("web port", "web_listen", cfg->web_listen,
		    CLIENT_MEMBER, web_main, sizeof(struct session)) != 0) {
			return -1;
		}
		/* Counted apart: a flood of browsers leaves the CLI alone. */
		server_listeners[server_nlisteners - 1].pool = CLIENT_POOL_WEB;
		server_listeners[server_nlisteners - 1].busy_reply =
		    SERVER_BUSY_HTTP;
		srv->web_port = server_listeners[server_nlisteners - 1].port;
	}
	/*
	 * main.c holds the database's lock, so what a previous run left is
	 * ours to clean up; and a server that cannot bind has changed nothing.
	 */
	if (db_session_close_stale(srv->db) != ERR_NONE) {
		log_warn("could not close sessions left open by a previous "
		    "run");
	}
	srv->vends = vend_reg_new(cfg->vend_timeout * 1000, NULL, NULL);
	if (drop_recover(srv) != 0) {
		return -1;
	}
	if (cfg->ports_file != NULL &&
	    server_write_ports(cfg->ports_file) != 0) {
		return -1;
	}

	if (db_shm_guard(srv->db) != 0) {
		return -1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* Threads start after the mask: signals reach only sigwait(). */
	if (drop_start(srv) != 0) {
		log_err("cannot start the settler thread");
		return -1;
	}
	for (i = 0; i < server_nlisteners; i++) {
		if (server_spawn(server_listener_main,
		    &server_listeners[i]) != 0) {
			log_err("cannot start the %s's thread",
			    server_listeners[i].what);
			return -1;
		}
	}
	if (retention_start(srv) != 0) {
		log_err("cannot start the retention thread");
		return -1;
	}
	log_info("drinkd %s ready", DRINK_VERSION);
	log_stderr_too(0);
	server_notify("READY=1");
	for (;;) {
		if (sigwait(&set, &sig) != 0) {
			continue;
		}
		if (sig == SIGHUP) {
			(void)server_reload();
			continue;
		}
		log_info("received %s; stopping", sig == SIGTERM ? "SIGTERM" :
		    "SIGINT");
		server_notify("STOPPING=1");
		break;
	}
	retention_stop();
	if (server_stop() > 0) {
		/* Threads still hold the database: leave without closing it. */
		log_info("stopped");
		_exit(0);
	}
	SSL_CTX_free(srv->member_ctx);
	SSL_CTX_free(srv->machine_ctx);
	drop_stop(srv);
	vend_reg_free(srv->vends);
	srv->vends = NULL;
	log_info("stopped");
	return 0;
}
