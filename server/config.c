/*
 * Configuration: one table of keys with their type, default, bounds and
 * checks.  The same table serves the config file ("key = value", '#'
 * comments) and the --KEY=VALUE flags, so every key is settable both ways.
 *
 * Two kinds of checks, both driven by the table:
 *   - the form of a value (type, range, address syntax, a key's own
 *     validator) when it is set, so a bad line is refused with its
 *     file:line at once;
 *   - what the server would load (certificates parse and match, CA and CRL
 *     files parse, the database and ports_file directories are usable) in
 *     config_check_server(), run by both `drinkd -n` and the server start.
 * Every value remembers where it came from, so a refusal names the file and
 * line (or the --flag) next to the key.
 *
 * A new key is one line in config_keys[] plus a field in struct config.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "drinkd.h"

enum config_type {
	CONFIG_STRING,		/* free text */
	CONFIG_PATH,		/* a file name */
	CONFIG_ADDR,		/* IPv4:PORT, [IPv6]:PORT or *:PORT */
	CONFIG_LONG,		/* integer in [min, max] */
	CONFIG_LEVEL,		/* a log level name */
};

/* What the loaded config needs; err gets the reason (without the key). */
typedef int config_check_fn(const struct config *cfg, const char *value,
    char *err, size_t errlen);
/* Form of one value, beyond its type; err gets the reason. */
typedef int config_valid_fn(const char *value, char *err, size_t errlen);

/*
 * One key.  A string key with a default cannot be emptied: drinkd needs a
 * value.  required: config_check_server() refuses it unset.  valid runs
 * when the value is set; check runs before serving (and for -n) on a set
 * value.
 */
struct config_key {
	const char *name;
	enum config_type type;
	size_t off;
	const char *dflt;
	long min, max;
	int required;
	config_valid_fn *valid;
	config_check_fn *check;
};

static config_check_fn config_check_cert, config_check_key, config_check_ca,
    config_check_crl, config_check_database, config_check_ports_file,
    config_check_listener, config_check_tini;
static config_valid_fn config_valid_ibutton;

static config_valid_fn config_valid_origins;

static const struct config_key config_keys[] = {
#define K(n, type, d, req, chk) \
	{ #n, type, offsetof(struct config, n), d, 0, 0, req, NULL, chk }
#define L(n, d, lo, hi) \
	{ #n, CONFIG_LONG, offsetof(struct config, n), d, lo, hi, 0, NULL, NULL }
	K(listen, CONFIG_ADDR, "127.0.0.1:4242", 0, NULL),
	K(machine_listen, CONFIG_ADDR, "127.0.0.1:4343", 0,
	    config_check_listener),
	K(database, CONFIG_PATH, "drink.db", 0, config_check_database),
	K(cert, CONFIG_PATH, NULL, 1, config_check_cert),
	K(key, CONFIG_PATH, NULL, 1, config_check_key),
	K(member_ca, CONFIG_PATH, NULL, 0, config_check_ca),
	K(machine_ca, CONFIG_PATH, NULL, 0, config_check_ca),
	K(crl, CONFIG_PATH, NULL, 0, config_check_crl),
	K(ports_file, CONFIG_PATH, NULL, 0, config_check_ports_file),
	L(vend_timeout, "30", 1, 3600),
	L(handshake_timeout, "10", 1, 600),
	L(idle_timeout, "300", 1, 86400),
	L(line_timeout, "30", 1, 3600),
	L(max_clients, "4096", 1, 1000000),
	L(max_clients_per_ip, "64", 1, 1000000),
	L(max_unauth_per_ip, "8", 1, 1000000),
	L(login_timeout, "60", 1, 86400),
	L(thread_cache, "64", 0, 100000),
	L(max_line, "65536", 256, PROTO_LINE_MAX),
	L(ping_interval, "30", 1, 3600),
	L(keep_temperatures_days, "400", 1, 36500),
	L(keep_sessions_days, "400", 1, 36500),
	L(crl_warn_days, "7", 0, 3650),
	K(log_level, CONFIG_LEVEL, "info", 0, NULL),
	K(web_listen, CONFIG_ADDR, NULL, 0, config_check_listener),
	{ "web_origins", CONFIG_STRING, offsetof(struct config, web_origins),
	    NULL, 0, 0, 0, config_valid_origins, NULL },
	/* Legacy dialects, LEGACY.md: each listener is off unless set. */
	K(sunday_listen, CONFIG_ADDR, NULL, 0, config_check_listener),
	K(sunday_default_machine, CONFIG_STRING, NULL, 0, NULL),
	{ "sunday_ibutton", CONFIG_STRING,
	    offsetof(struct config, sunday_ibutton), "any", 0, 0, 0,
	    config_valid_ibutton, NULL },
	K(tini_listen, CONFIG_ADDR, NULL, 0, config_check_tini),
	L(tini_silence, "180", 1, 3600),
#undef K
#undef L
};
#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))
_Static_assert(CONFIG_NKEYS <= CONFIG_MAX_KEYS, "raise CONFIG_MAX_KEYS");

/* web_origins: origins ("https://host[:port]"), by commas or blanks. */
static int
config_valid_origins(const char *value, char *err, size_t errlen)
{
	const char *p = value;
	size_t n;

	while (*p != '\0') {
		p += strspn(p, " \t,");
		if ((n = strcspn(p, " \t,")) == 0) {
			break;
		}
		if ((strncmp(p, "https://", 8) != 0 &&
		    strncmp(p, "http://", 7) != 0) || p[n - 1] == '/' ||
		    memchr(p + 8, '/', n > 8 ? n - 8 : 0) != NULL) {
			snprintf(err, errlen, "\"%.*s\" is not an origin "
			    "(https://HOST or https://HOST:PORT)", (int)n, p);
			return -1;
		}
		p += n;
	}
	return 0;
}

static size_t
config_index(const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		if (strcmp(config_keys[i].name, name) == 0) {
			return i;
		}
	}
	return CONFIG_NKEYS;
}

static void *
config_field(const struct config *cfg, const struct config_key *k)
{
	return (char *)(uintptr_t)cfg + k->off;
}

const char *
config_origin(const struct config *cfg, const char *key)
{
	size_t i = config_index(key);

	return i < CONFIG_NKEYS ? cfg->origin[i] : NULL;
}

const char *
config_key_name(size_t i)
{
	return i < CONFIG_NKEYS ? config_keys[i].name : NULL;
}

const char *
config_key_default(size_t i)
{
	return i < CONFIG_NKEYS ? config_keys[i].dflt : NULL;
}

int
config_addr_split(const char *spec, char *host, size_t hostlen, char *port,
    size_t portlen, char *err, size_t errlen)
{
	unsigned char bin[sizeof(struct in6_addr)];
	const char *colon;
	char *end;
	size_t n;
	long p;
	int v6 = spec[0] == '[';

	if (v6) {
		if ((colon = strstr(spec, "]:")) == NULL) {
			goto form;
		}
		n = (size_t)(colon - spec - 1);
		colon++;
		spec++;
	} else {
		if ((colon = strrchr(spec, ':')) == NULL) {
			goto form;
		}
		n = (size_t)(colon - spec);
	}
	if (n == 0 || n >= hostlen || colon[1] == '\0' ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
		goto form;
	}
	memcpy(host, spec, n);
	host[n] = '\0';
	/* ::1:4242 is the IPv6 address in its own form, not a host name. */
	if (!v6 && inet_pton(AF_INET6, host, bin) == 1) {
		snprintf(err, errlen, "\"%s\" is an IPv6 address: write it in "
		    "brackets, [%s]:%s", host, host, colon + 1);
		return -1;
	}
	if (!(strcmp(host, "*") == 0 && !v6) &&
	    inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1) {
		snprintf(err, errlen, "\"%s\" is not a numeric %s address "
		    "(host names are not resolved; use an address or *)",
		    host, v6 ? "IPv6" : "IPv4");
		return -1;
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || p < 0 || p > 65535 || strlen(colon + 1) >= portlen) {
		snprintf(err, errlen, "port %s is out of range (0 to 65535)",
		    colon + 1);
		return -1;
	}
	snprintf(port, portlen, "%ld", p);
	return 0;
form:
	snprintf(err, errlen, "\"%s\" is not IPv4:PORT, [IPv6]:PORT or "
	    "*:PORT", spec);
	return -1;
}

/* Check the form of value for k; 0 or -1 with err (without the key name). */
static int
config_parse(const struct config_key *k, const char *value, long *num,
    char *err, size_t errlen)
{
	char host[128], port[16], *end;

	if (value[0] == '\0') {
		if (k->dflt != NULL || k->type == CONFIG_LONG) {
			snprintf(err, errlen, "must not be empty");
			return -1;
		}
		return 0;
	}
	switch (k->type) {
	case CONFIG_LONG:
		errno = 0;
		*num = strtol(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' ||
		    *num < k->min || *num > k->max) {
			snprintf(err, errlen, "expected an integer from %ld to "
			    "%ld, got \"%s\"", k->min, k->max, value);
			return -1;
		}
		break;
	case CONFIG_LEVEL:
		if (log_level_parse(value) < 0) {
			snprintf(err, errlen, "expected error, warning, info or "
			    "debug, got \"%s\"", value);
			return -1;
		}
		break;
	case CONFIG_ADDR:
		if (config_addr_split(value, host, sizeof(host), port,
		    sizeof(port), err, errlen) != 0) {
			return -1;
		}
		break;
	case CONFIG_PATH:
	case CONFIG_STRING:
		break;
	}
	return k->valid != NULL ? k->valid(value, err, errlen) : 0;
}

static int
config_apply(struct config *cfg, size_t i, const char *value,
    const char *origin, char *err, size_t errlen)
{
	const struct config_key *k = &config_keys[i];
	char msg[256];
	char **sp = config_field(cfg, k);
	long *lp = config_field(cfg, k), num = 0;

	if (config_parse(k, value, &num, msg, sizeof(msg)) != 0) {
		snprintf(err, errlen, "%s: %s", k->name, msg);
		return -1;
	}
	if (k->type == CONFIG_LONG) {
		*lp = num;
	} else {
		free(*sp);
		*sp = value[0] != '\0' ? xstrdup(value) : NULL;
	}
	free(cfg->origin[i]);
	cfg->origin[i] = origin != NULL ? xstrdup(origin) : NULL;
	return 0;
}

int
config_changed(const struct config *run, const struct config *now, char *out,
    size_t len)
{
	const struct config_key *k;
	const char *a, *b;
	size_t i, used = 0;
	int n = 0, differ;

	out[0] = '\0';
	for (i = 0; i < CONFIG_NKEYS; i++) {
		k = &config_keys[i];
		/* The command line still wins over the file. */
		if (run->origin[i] != NULL &&
		    strncmp(run->origin[i], "--", 2) == 0) {
			continue;
		}
		if (k->type == CONFIG_LONG) {
			differ = *(const long *)config_field(run, k) !=
			    *(const long *)config_field(now, k);
		} else {
			a = *(char *const *)config_field(run, k);
			b = *(char *const *)config_field(now, k);
			differ = (a == NULL) != (b == NULL) ||
			    (a != NULL && strcmp(a, b) != 0);
		}
		if (differ && used < len) {
			used += (size_t)snprintf(out + used, len - used,
			    "%s%s", n > 0 ? ", " : "", k->name);
		}
		n += differ;
	}
	return n;
}

void
config_keep_options(struct config *now, const struct config *run)
{
	const struct config_key *k;
	const char *v;
	char **sp;
	size_t i;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		k = &config_keys[i];
		if (run->origin[i] == NULL ||
		    strncmp(run->origin[i], "--", 2) != 0) {
			continue;
		}
		if (k->type == CONFIG_LONG) {
			*(long *)config_field(now, k) =
			    *(const long *)config_field(run, k);
		} else {
			sp = config_field(now, k);
			v = *(char *const *)config_field(run, k);
			free(*sp);
			*sp = v != NULL ? xstrdup(v) : NULL;
		}
		free(now->origin[i]);
		now->origin[i] = xstrdup(run->origin[i]);
	}
}

void
config_init(struct config *cfg)
{
	char err[256];
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < CONFIG_NKEYS; i++) {
		if (config_keys[i].dflt != NULL &&
		    config_apply(cfg, i, config_keys[i].dflt, NULL, err,
		    sizeof(err)) != 0) {
			fatal("bad built-in default: %s", err);
		}
	}
}

void
config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		if (config_keys[i].type != CONFIG_LONG) {
			free(*(char **)config_field(cfg, &config_keys[i]));
		}
		free(cfg->origin[i]);
	}
	free(cfg->file);
	for (i = 0; i < (size_t)cfg->nrepeats; i++) {
		free(cfg->repeats[i]);
	}
	free(cfg->repeats);
	memset(cfg, 0, sizeof(*cfg));
}

/*
 * A key the file sets again: the last value is used (as with a --flag
 * after the file), but a repeat is more often a forgotten old line than
 * a choice, so it is said.  where is "PATH:LINE" of the new value.
 */
static void
config_note_repeat(struct config *cfg, const char *key, const char *where)
{
	size_t i = config_index(key), plen = strlen(cfg->file);
	const char *before;

	if (i == CONFIG_NKEYS || (before = cfg->origin[i]) == NULL ||
	    strncmp(before, cfg->file, plen) != 0 || before[plen] != ':') {
		return;
	}
	cfg->repeats = xreallocarray(cfg->repeats,
	    (size_t)cfg->nrepeats + 1, sizeof(*cfg->repeats));
	cfg->repeats[cfg->nrepeats++] = xasprintf("%s: %s is set again "
	    "(line %s set it before); the last value is used", where,
	    config_keys[i].name, before + plen + 1);
}

int
config_warnings(const struct config *cfg, void (*say)(const char *))
{
	int i;

	for (i = 0; i < cfg->nrepeats; i++) {
		say(cfg->repeats[i]);
	}
	return cfg->nrepeats;
}

static int
config_set_from(struct config *cfg, const char *key, const char *value,
    const char *origin, char *err, size_t errlen)
{
	size_t i = config_index(key);

	if (i == CONFIG_NKEYS) {
		snprintf(err, errlen, "unknown configuration key \"%s\"", key);
		return -1;
	}
	return config_apply(cfg, i, value, origin, err, errlen);
}

int
config_set(struct config *cfg, const char *key, const char *value, char *err,
    size_t errlen)
{
	char origin[80];

	snprintf(origin, sizeof(origin), "--%s", key);
	return config_set_from(cfg, key, value, origin, err, errlen);
}

/* Add one refusal to err, a line each (the first without a newline). */
static void
config_refusal(char *err, size_t errlen, const char *fmt, ...)
    PRINTFLIKE(3, 4);
static void
config_refusal(char *err, size_t errlen, const char *fmt, ...)
{
	size_t used = strlen(err);
	va_list ap;

	if (used > 0 && used + 1 < errlen) {
		err[used++] = '\n';
		err[used] = '\0';
	}
	if (used + 1 >= errlen) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(err + used, errlen - used, fmt, ap);
	va_end(ap);
}

/*
 * Every line is read, so that one run names every mistake in the file:
 * each refusal is a line of err, and the keys that were good are set.
 */
int
config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	char line[4096], msg[300], where[PATH_MAX + 16], *p, *eq, *key, *value;
	FILE *f;
	int lineno = 0, rc = 0, c;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "cannot open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	err[0] = '\0';
	free(cfg->file);
	cfg->file = xstrdup(path);
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			config_refusal(err, errlen, "%s:%d: line too long",
			    path, lineno);
			rc = -1;
			while ((c = getc(f)) != EOF && c != '\n') {
				;
			}
			continue;
		}
		if ((p = strchr(line, '#')) != NULL) {
			*p = '\0';
		}
		p = str_trim(line);
		if (*p == '\0') {
			continue;
		}
		if ((eq = strchr(p, '=')) == NULL) {
			config_refusal(err, errlen, "%s:%d: expected key = "
			    "value", path, lineno);
			rc = -1;
			continue;
		}
		*eq = '\0';
		key = str_trim(p);
		value = str_trim(eq + 1);
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		config_note_repeat(cfg, key, where);
		if (config_set_from(cfg, key, value, where, msg,
		    sizeof(msg)) != 0) {
			config_refusal(err, errlen, "%s: %s", where, msg);
			rc = -1;
		}
	}
	/*
	 * A directory (-f /etc/drink) reads as an empty file: say so.  Having
	 * loaded nothing, it is no file for -n to check further.
	 */
	if (ferror(f)) {
		config_refusal(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		rc = -1;
		if (lineno == 0) {
			free(cfg->file);
			cfg->file = NULL;
		}
	}
	fclose(f);
	return rc;
}

/* ---- what the server loads ----------------------------------------------- */

static int
config_ssl_fail(SSL_CTX *ctx, const char *what, char *err, size_t errlen)
{
	char ebuf[256];

	tls_error_string(ebuf, sizeof(ebuf), "unknown error");
	snprintf(err, errlen, "%s: %s", what, ebuf);
	SSL_CTX_free(ctx);
	return -1;
}

/*
 * A file drinkd must read.  Permission denied is the usual slip of an
 * install as root (install -m 600 leaves a key root's alone): say whom
 * drinkd runs as, and how to let it read the file.
 */
static int
config_readable(const char *path, char *err, size_t errlen)
{
	struct passwd *pw;
	struct group *gr;
	struct stat st;
	int e;

	if (access(path, R_OK) == 0) {
		return 0;
	}
	e = errno;
	if (e != EACCES || geteuid() == 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
		return -1;
	}
	pw = getpwuid(geteuid());
	/*
	 * Already set up for a group (root:drinkd, 640) and run by someone
	 * else (drinkd -n from an operator's login): the chgrp below would
	 * take the file from the server.  Say whom to run it as instead.
	 */
	if (stat(path, &st) == 0 && (st.st_mode & S_IRGRP) &&
	    st.st_gid != getegid() && (gr = getgrgid(st.st_gid)) != NULL) {
		char me[64], group[64], how[128] = "";

		snprintf(me, sizeof(me), "%s", pw != NULL ? pw->pw_name :
		    "another user");
		snprintf(group, sizeof(group), "%s", gr->gr_name);
		/* getpwnam reuses pw's storage: me is a copy. */
		if (getpwnam(group) != NULL) {
			snprintf(how, sizeof(how), ", e.g. runuser -u %s -- "
			    "drinkd ...", group);
		}
		snprintf(err, errlen, "cannot read %s: %s; it is for group %s "
		    "(mode %03o), and drinkd runs as %s, who is not in it: run "
		    "drinkd as the server's user%s", path, strerror(e), group,
		    (unsigned)(st.st_mode & 0777), me, how);
		return -1;
	}
	gr = getgrgid(getegid());
	snprintf(err, errlen, "cannot read %s: %s; drinkd runs as %s: let "
	    "it read the file, e.g. chgrp %s %s and chmod g+r %s (a private "
	    "key: mode 640)", path, strerror(e), pw != NULL ? pw->pw_name :
	    "another user", gr != NULL ? gr->gr_name : "GROUP", path, path);
	return -1;
}

static int
config_check_cert(const struct config *cfg, const char *value, char *err,
    size_t errlen)
{
	SSL_CTX *ctx;

	(void)cfg;
	if (config_readable(value, err, errlen) != 0) {
		return -1;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_use_certificate_chain_file(ctx, value) != 1) {
		return config_ssl_fail(ctx, "not a PEM certificate chain", err,
		    errlen);
	}
	SSL_CTX_free(ctx);
	return 0;
}

/* The key is private, parses, and matches cert when cert itself loads. */
static int
config_check_key(const struct config *cfg, const char *value, char *err,
    size_t errlen)
{
	SSL_CTX *ctx;

	if (config_readable(value, err, errlen) != 0 ||
	    tls_key_file_private(value, err, errlen) != 0) {
		return -1;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_use_PrivateKey_file(ctx, value, SSL_FILETYPE_PEM) != 1) {
		return config_ssl_fail(ctx, "not a PEM private key", err,
		    errlen);
	}
	if (cfg->cert != NULL &&
	    SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) == 1 &&
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "does not match the certificate %s",
		    cfg->cert);
		SSL_CTX_free(ctx);
		return -1;
	}
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return 0;
}

static int
config_check_ca(const struct config *cfg, const char *value, char *err,
    size_t errlen)
{
	SSL_CTX *ctx;

	(void)cfg;
	if (config_readable(value, err, errlen) != 0) {
		return -1;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_load_verify_locations(ctx, value, NULL) != 1) {
		return config_ssl_fail(ctx, "no PEM CA certificate in it", err,
		    errlen);
	}
	SSL_CTX_free(ctx);
	return 0;
}

static int
config_check_crl(const struct config *cfg, const char *value, char *err,
    size_t errlen)
{
	X509_STORE *store;
	X509_LOOKUP *lu;
	int n = 0;

	(void)cfg;
	if (config_readable(value, err, errlen) != 0) {
		return -1;
	}
	if ((store = X509_STORE_new()) != NULL &&
	    (lu = X509_STORE_add_lookup(store, X509_LOOKUP_file())) != NULL) {
		n = X509_load_crl_file(lu, value, X509_FILETYPE_PEM);
	}
	X509_STORE_free(store);
	ERR_clear_error();
	if (n <= 0) {
		snprintf(err, errlen, "no PEM CRL in it");
		return -1;
	}
	return 0;
}

/* The directory of path exists and this process may create files in it. */
static int
config_dir_writable(const char *path, char *err, size_t errlen)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	struct passwd *pw;
	struct stat st;
	int rc = -1;

	if (slash == dir) {
		slash[1] = '\0';
	} else if (slash != NULL) {
		*slash = '\0';
	} else {
		strcpy(dir, ".");
	}
	if (stat(dir, &st) != 0) {
		snprintf(err, errlen, "directory %s: %s", dir, strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", dir);
	} else if (access(dir, W_OK | X_OK) == 0) {
		rc = 0;
	} else if (errno == EROFS && dir[0] != '/') {
		/* drinkd.service runs in /, read-only there. */
		snprintf(err, errlen, "directory %s is not writable: %s "
		    "(drinkd.service leaves only /var/lib/drink and /run/drink "
		    "writable: give an absolute path in one of them)", dir,
		    strerror(EROFS));
	} else if (errno == EROFS) {
		/* Writable by hand, perhaps, but not in the unit's sandbox. */
		snprintf(err, errlen, "directory %s is not writable: %s "
		    "(drinkd.service leaves only /var/lib/drink and /run/drink "
		    "writable: add ReadWritePaths=%s with systemctl edit "
		    "drinkd)", dir, strerror(EROFS), dir);
	} else if (errno == EACCES && geteuid() != 0 &&
	    (pw = getpwuid(geteuid())) != NULL) {
		/* Made by root for drinkd (install -d without -o). */
		snprintf(err, errlen, "directory %s is not writable: %s; "
		    "drinkd runs as %s, who may not create files in it",
		    dir, strerror(EACCES), pw->pw_name);
	} else {
		snprintf(err, errlen, "directory %s is not writable: %s", dir,
		    strerror(errno));
	}
	free(dir);
	return rc;
}

/* A directory where a file goes: SQLite says only "disk I/O error". */
static int
config_not_dir(const char *path, const char *example, char *err,
    size_t errlen)
{
	struct stat st;
	size_t n = strlen(path);

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is a directory; name a file in it, "
		    "e.g. %.*s/%s", path, (int)(n > 1 && path[n - 1] == '/' ?
		    n - 1 : n), path, example);
		return -1;
	}
	return 0;
}

/*
 * The server writes the database it opens.  A file left root's by an init
 * run as root, or made read-only, would pass the read-only probe below and
 * then stop the start with exit 1, which drinkd.service retries forever:
 * say whom drinkd runs as and how to give it the file.
 */
static int
config_db_writable(const char *path, char *err, size_t errlen)
{
	struct passwd *pw;
	struct stat st;
	char owner[64];
	int e;

	if (access(path, R_OK | W_OK) == 0) {
		return 0;
	}
	e = errno;
	if (e != EACCES || geteuid() == 0 || stat(path, &st) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path,
		    strerror(e));
		return -1;
	}
	if ((pw = getpwuid(st.st_uid)) != NULL) {
		snprintf(owner, sizeof(owner), "%s", pw->pw_name);
	} else {
		snprintf(owner, sizeof(owner), "uid %u", (unsigned)st.st_uid);
	}
	pw = getpwuid(geteuid());
	snprintf(err, errlen, "cannot write %s: %s (owner %s, mode %03o); "
	    "drinkd runs as %s: give it the file, e.g. chown %s %s and "
	    "chmod 600 %s", path, strerror(e), owner,
	    (unsigned)(st.st_mode & 07777), pw != NULL ? pw->pw_name :
	    "another user", pw != NULL ? pw->pw_name : "USER", path, path);
	return -1;
}

/*
 * An existing database must open and be writable; a new one needs a
 * writable directory.
 */
static int
config_check_database(const struct config *cfg, const char *value,
    char *err, size_t errlen)
{
	(void)cfg;
	if (config_not_dir(value, "drink.db", err, errlen) != 0) {
		return -1;
	}
	if (access(value, F_OK) != 0) {
		return config_dir_writable(value, err, errlen);
	}
	/* WAL writes DB-wal and DB-shm beside the file. */
	if (config_dir_writable(value, err, errlen) != 0 ||
	    config_db_writable(value, err, errlen) != 0) {
		return -1;
	}
	return db_probe(value, err, errlen);
}

static int
config_check_ports_file(const struct config *cfg, const char *value,
    char *err, size_t errlen)
{
	(void)cfg;
	if (config_not_dir(value, "ports.json", err, errlen) != 0) {
		return -1;
	}
	return config_dir_writable(value, err, errlen);
}

/* sunday_ibutton: where Sunday's IBUTTON (card login) is allowed. */
static int
config_valid_ibutton(const char *value, char *err, size_t errlen)
{
	static const char *const modes[] = { "any", "cert", "off" };
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(value, modes[i]) == 0) {
			return 0;
		}
	}
	snprintf(err, errlen, "expected any, cert or off, got \"%s\"", value);
	return -1;
}

/*
 * The address a listener key opens, or NULL when the server opens none for
 * it: the machine port needs machine_ca, the others are off unless set.
 */
static const char *
config_listener_addr(const struct config *cfg, const struct config_key *k)
{
	if (k->type != CONFIG_ADDR ||
	    (k->off == offsetof(struct config, machine_listen) &&
	    cfg->machine_ca == NULL)) {
		return NULL;
	}
	return *(char *const *)config_field(cfg, k);
}

/*
 * Could a and b not both be bound?  The same port (0 never clashes: each
 * gets a free one) on the same address, or one of them on the wildcard
 * of the other's family; "*" is one dual-stack socket, so it takes the
 * port on every address of both.
 */
static int
config_addrs_clash(const char *a, const char *b)
{
	unsigned char ba[sizeof(struct in6_addr)], bb[sizeof(struct in6_addr)];
	static const unsigned char any[sizeof(struct in6_addr)];
	char ha[128], hb[128], pa[16], pb[16], err[256];
	int fa, fb;
	size_t n;

	if (config_addr_split(a, ha, sizeof(ha), pa, sizeof(pa), err,
	    sizeof(err)) != 0 || config_addr_split(b, hb, sizeof(hb), pb,
	    sizeof(pb), err, sizeof(err)) != 0 || strcmp(pa, pb) != 0 ||
	    strcmp(pa, "0") == 0) {
		return 0;
	}
	if (strcmp(ha, "*") == 0 || strcmp(hb, "*") == 0) {
		return 1;
	}
	fa = a[0] == '[' ? AF_INET6 : AF_INET;
	fb = b[0] == '[' ? AF_INET6 : AF_INET;
	if (fa != fb || inet_pton(fa, ha, ba) != 1 ||
	    inet_pton(fb, hb, bb) != 1) {
		return 0;
	}
	n = fa == AF_INET6 ? sizeof(struct in6_addr) : sizeof(struct in_addr);
	return memcmp(ba, bb, n) == 0 || memcmp(ba, any, n) == 0 ||
	    memcmp(bb, any, n) == 0;
}

/*
 * No two listeners on one port: the start would bind the first and fail
 * on the second with only "Address already in use".  Said on the later
 * key, naming the earlier one and where it was set.
 */
static int
config_check_listener(const struct config *cfg, const char *value, char *err,
    size_t errlen)
{
	const char *other, *where;
	size_t i, self;

	/* value is this key's own string: it names the key. */
	for (self = 0; self < CONFIG_NKEYS; self++) {
		if (config_keys[self].type != CONFIG_LONG &&
		    *(char *const *)config_field(cfg, &config_keys[self]) ==
		    value) {
			break;
		}
	}
	if (self == CONFIG_NKEYS ||
	    config_listener_addr(cfg, &config_keys[self]) == NULL) {
		return 0;
	}
	for (i = 0; i < self; i++) {
		if ((other = config_listener_addr(cfg, &config_keys[i])) ==
		    NULL || !config_addrs_clash(other, value)) {
			continue;
		}
		where = cfg->origin[i] != NULL ? cfg->origin[i] : "default";
		snprintf(err, errlen, "%s clashes with %s = %s (%s): give "
		    "each listener a port of its own", value,
		    config_keys[i].name, other, where);
		return -1;
	}
	return 0;
}

/* Boards present machine certificates: no machine_ca, no tini listener. */
static int
config_check_tini(const struct config *cfg, const char *value, char *err,
    size_t errlen)
{
	if (cfg->machine_ca == NULL) {
		snprintf(err, errlen, "needs machine_ca (boards present "
		    "machine certificates)");
		return -1;
	}
	return config_check_listener(cfg, value, err, errlen);
}

/* The keys naming a file a reload reads again: certificates, key, CRL. */
static int
config_key_is_tls(const struct config_key *k)
{
	return k->check == config_check_cert || k->check == config_check_key ||
	    k->check == config_check_ca || k->check == config_check_crl;
}

/* The checks of every key, or of the TLS files only; see drinkd.h. */
static int
config_check_keys(const struct config *cfg, int tls_only, char *err,
    size_t errlen)
{
	char reason[512];
	const char *value, *where;
	size_t i, used = 0;
	int n;

	err[0] = '\0';
	for (i = 0; i < CONFIG_NKEYS && used < errlen; i++) {
		const struct config_key *k = &config_keys[i];

		if (k->type == CONFIG_LONG || (tls_only &&
		    !config_key_is_tls(k))) {
			continue;
		}
		value = *(char **)config_field(cfg, k);
		if (value == NULL && k->required) {
			/* Without a file, the file is what is missing. */
			snprintf(reason, sizeof(reason), "not set (required%s)",
			    cfg->file != NULL ? "" : "; no configuration file "
			    "was read: -f FILE, or " DRINKD_CONF);
		} else if (value == NULL || k->check == NULL ||
		    k->check(cfg, value, reason, sizeof(reason)) == 0) {
			continue;
		}
		where = cfg->origin[i] != NULL ? cfg->origin[i] :
		    cfg->file != NULL ? cfg->file : "defaults";
		n = snprintf(err + used, errlen - used, "%s%s: %s: %s",
		    used > 0 ? "\n" : "", where, k->name, reason);
		used += n > 0 ? (size_t)n : 0;
	}
	return err[0] != '\0' ? -1 : 0;
}

int
config_check_server(const struct config *cfg, char *err, size_t errlen)
{
	return config_check_keys(cfg, 0, err, errlen);
}

int
config_check_tls(const struct config *cfg, char *err, size_t errlen)
{
	return config_check_keys(cfg, 1, err, errlen);
}
