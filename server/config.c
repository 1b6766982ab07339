/*
 * Configuration: one table of keys with their type, default and bounds.
 * The same table serves the config file ("key = value", '#' comments) and
 * the --KEY=VALUE flags, so every key is settable both ways.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drinkd.h"

enum config_type {
	CONFIG_STRING,
	CONFIG_LONG,
	CONFIG_LEVEL,
};

/* A string key with a default cannot be emptied: drinkd needs a value. */
static const struct config_key {
	const char *name;
	enum config_type type;
	size_t off;
	const char *dflt;
	long min, max;
} config_keys[] = {
#define S(n, d) { #n, CONFIG_STRING, offsetof(struct config, n), d, 0, 0 }
#define L(n, d, lo, hi) \
	{ #n, CONFIG_LONG, offsetof(struct config, n), d, lo, hi }
	S(listen, "127.0.0.1:4242"),
	S(machine_listen, "127.0.0.1:4343"),
	S(database, "drink.db"),
	S(cert, NULL),
	S(key, NULL),
	S(member_ca, NULL),
	S(machine_ca, NULL),
	S(crl, NULL),
	S(ports_file, NULL),
	L(vend_timeout, "30", 1, 3600),
	L(handshake_timeout, "10", 1, 600),
	L(idle_timeout, "300", 1, 86400),
	L(line_timeout, "30", 1, 3600),
	L(max_clients, "4096", 1, 1000000),
	L(max_clients_per_ip, "64", 1, 1000000),
	L(max_line, "65536", 256, 64L * 1024 * 1024),
	L(ping_interval, "30", 1, 3600),
	{ "log_level", CONFIG_LEVEL, offsetof(struct config, log_level),
	    "info", 0, 0 },
#undef S
#undef L
};
#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static const struct config_key *
config_find(const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		if (strcmp(config_keys[i].name, name) == 0) {
			return &config_keys[i];
		}
	}
	return NULL;
}

static int
config_apply(struct config *cfg, const struct config_key *k,
    const char *value, char *err, size_t errlen)
{
	char **sp = (char **)(void *)((char *)cfg + k->off);
	long *lp = (long *)(void *)((char *)cfg + k->off);
	char *end;
	long v;

	switch (k->type) {
	case CONFIG_LONG:
		errno = 0;
		v = strtol(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' || v < k->min ||
		    v > k->max) {
			snprintf(err, errlen,
			    "%s: expected an integer from %ld to %ld, got "
			    "\"%s\"", k->name, k->min, k->max, value);
			return -1;
		}
		*lp = v;
		return 0;
	case CONFIG_LEVEL:
		if (log_level_parse(value) < 0) {
			snprintf(err, errlen,
			    "%s: expected error, warning, info or debug, got "
			    "\"%s\"", k->name, value);
			return -1;
		}
		/* FALLTHROUGH */
	case CONFIG_STRING:
		if (value[0] == '\0' && k->dflt != NULL) {
			snprintf(err, errlen, "%s: must not be empty", k->name);
			return -1;
		}
		free(*sp);
		*sp = value[0] != '\0' ? xstrdup(value) : NULL;
		return 0;
	}
	return -1;
}

void
config_init(struct config *cfg)
{
	char err[256];
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < CONFIG_NKEYS; i++) {
		if (config_keys[i].dflt != NULL &&
		    config_apply(cfg, &config_keys[i], config_keys[i].dflt,
		    err, sizeof(err)) != 0) {
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
			free(*(char **)(void *)((char *)cfg +
			    config_keys[i].off));
		}
	}
	memset(cfg, 0, sizeof(*cfg));
}

int
config_set(struct config *cfg, const char *key, const char *value, char *err,
    size_t errlen)
{
	const struct config_key *k;

	if ((k = config_find(key)) == NULL) {
		snprintf(err, errlen, "unknown configuration key \"%s\"", key);
		return -1;
	}
	return config_apply(cfg, k, value, err, errlen);
}

int
config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	char line[4096], msg[256], *p, *eq, *key, *value;
	FILE *f;
	int lineno = 0, rc = 0;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "cannot open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path,
			    lineno);
			rc = -1;
			break;
		}
		if ((p = strchr(line, '#')) != NULL) {
			*p = '\0';
		}
		p = str_trim(line);
		if (*p == '\0') {
			continue;
		}
		if ((eq = strchr(p, '=')) == NULL) {
			snprintf(err, errlen, "%s:%d: expected key = value",
			    path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		key = str_trim(p);
		value = str_trim(eq + 1);
		if (config_set(cfg, key, value, msg, sizeof(msg)) != 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
			rc = -1;
		}
	}
	fclose(f);
	return rc;
}

static int
config_readable(const char *what, const char *path, char *err, size_t errlen)
{
	if (path == NULL) {
		snprintf(err, errlen, "%s is not set", what);
		return -1;
	}
	if (access(path, R_OK) != 0) {
		snprintf(err, errlen, "%s %s: %s", what, path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
config_check_server(const struct config *cfg, char *err, size_t errlen)
{
	if (config_readable("cert", cfg->cert, err, errlen) != 0 ||
	    config_readable("key", cfg->key, err, errlen) != 0 ||
	    tls_key_file_private(cfg->key, err, errlen) != 0) {
		return -1;
	}
	if (cfg->member_ca != NULL &&
	    config_readable("member_ca", cfg->member_ca, err, errlen) != 0) {
		return -1;
	}
	if (cfg->machine_ca != NULL &&
	    config_readable("machine_ca", cfg->machine_ca, err, errlen) != 0) {
		return -1;
	}
	if (cfg->crl != NULL &&
	    config_readable("crl", cfg->crl, err, errlen) != 0) {
		return -1;
	}
	return 0;
}
