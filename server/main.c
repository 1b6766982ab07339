/*
 * drinkd's command line: run the server, check the configuration, or one
 * of the maintenance subcommands (init, useradd, check-ledger).
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drinkd.h"

#define MAIN_READERS 4
#define MAIN_MMAP_THRESHOLD (256 * 1024)
#ifndef DRINKD_CONF
#define DRINKD_CONF "/etc/drink/drinkd.conf"
#endif

struct main_opts {
	const char *file;
	int to_stderr;
	int verbose;
	int check_only;
	char **sets;		/* --KEY=VALUE, applied after the file */
	int nsets;
};

static void
main_usage(FILE *f)
{
	fprintf(f,
	    "usage: drinkd [-f drinkd.conf] [-d] [-v] [--KEY=VALUE ...]\n"
	    "       drinkd [-f drinkd.conf] -n\n"
	    "       drinkd [-f drinkd.conf] init\n"
	    "       drinkd [-f drinkd.conf] useradd NAME [--admin] "
	    "[--balance N]\n"
	    "       drinkd [-f drinkd.conf] check-ledger\n"
	    "\n"
	    "  -f FILE       read configuration from FILE (key = value lines)\n"
	    "  -d            log to stderr instead of syslog\n"
	    "  -v            more verbose logging (debug)\n"
	    "  -n            check the configuration, print "
	    "\"configuration OK\"\n"
	    "  --KEY=VALUE   set a configuration key (overrides the file)\n"
	    "  -h, --help    this help;  --version  print the version\n"
	    "\n"
	    "subcommands:\n"
	    "  init          create the database or migrate it to this "
	    "version\n"
	    "  useradd NAME  add a user; the password is read from stdin "
	    "(one line)\n"
	    "  check-ledger  verify ledger invariants; exit 1 on any breach\n"
	    "\n"
	    "keys: listen machine_listen database cert key member_ca "
	    "machine_ca crl\n"
	    "      ports_file vend_timeout handshake_timeout idle_timeout "
	    "line_timeout\n"
	    "      ping_interval max_clients max_clients_per_ip max_line "
	    "log_level\n"
	    "      (see drinkd(8))\n");
}

/* create: 0 for every command that must find an existing database. */
static struct db *
main_open_db(const struct config *cfg, int readers, int create)
{
	char err[512];
	struct db *db;

	db = create ? db_open(cfg->database, readers, err, sizeof(err)) :
	    db_open_existing(cfg->database, readers, err, sizeof(err));
	if (db == NULL) {
		log_err("%s", err);
	}
	return db;
}

/* Print config_check_server()'s refusals, one per line; 0 when none. */
static int
main_check_config(const struct config *cfg)
{
	char err[4096], *line, *save = NULL;

	if (config_check_server(cfg, err, sizeof(err)) == 0) {
		return 0;
	}
	for (line = strtok_r(err, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		log_err("%s", line);
	}
	return -1;
}

static int
main_init(struct config *cfg, int argc, char **argv)
{
	struct db *db;

	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "drinkd: init takes no arguments\n");
		return 2;
	}
	if ((db = main_open_db(cfg, 0, 1)) == NULL) {
		return 1;
	}
	printf("database %s ready (schema version %d)\n", cfg->database,
	    db_schema_version(db));
	db_close(db);
	return 0;
}

static int
main_useradd(struct config *cfg, int argc, char **argv)
{
	const char *name = NULL;
	long long balance = 0;
	char pw[1100], *end, *hash;
	int i, admin = 0, rc;
	struct db *db;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--admin") == 0) {
			admin = 1;
		} else if (strcmp(argv[i], "--balance") == 0 && i + 1 < argc) {
			balance = strtoll(argv[++i], &end, 10);
			if (*end != '\0' || end == argv[i] || balance < 0 ||
			    balance > PROTO_MAX_AMOUNT) {
				fprintf(stderr, "drinkd: --balance wants a "
				    "whole number from 0 to 1000000000\n");
				return 2;
			}
		} else if (name == NULL && argv[i][0] != '-') {
			name = argv[i];
		} else {
			fprintf(stderr, "drinkd: useradd: unexpected "
			    "argument \"%s\"\n", argv[i]);
			return 2;
		}
	}
	if (name == NULL || !proto_valid_name(name)) {
		fprintf(stderr, "drinkd: useradd needs a NAME matching "
		    "^[a-z][a-z0-9_.-]{0,31}$\n");
		return 2;
	}
	if (fgets(pw, sizeof(pw), stdin) == NULL) {
		fprintf(stderr, "drinkd: useradd: no password on stdin\n");
		return 2;
	}
	pw[strcspn(pw, "\r\n")] = '\0';
	if (pw[0] == '\0' || strlen(pw) > 1024) {
		fprintf(stderr, "drinkd: useradd: the password must be 1 to "
		    "1024 bytes\n");
		return 2;
	}
	if (auth_init() != 0 || (hash = auth_hash(pw)) == NULL) {
		fprintf(stderr, "drinkd: cannot hash the password\n");
		return 1;
	}
	explicit_bzero(pw, sizeof(pw));
	if ((db = main_open_db(cfg, 0, 0)) == NULL) {
		free(hash);
		return 1;
	}
	rc = db_user_add(db, NULL, name, hash, admin ? "admin" : "member",
	    balance);
	free(hash);
	db_close(db);
	if (rc != ERR_NONE) {
		fprintf(stderr, "drinkd: useradd %s: %s\n", name,
		    proto_err_message(rc));
		return 1;
	}
	printf("user %s added (%s, balance %lld)\n", name,
	    admin ? "admin" : "member", balance);
	return 0;
}

static int
main_check_ledger(struct config *cfg, int argc, char **argv)
{
	struct db *db;
	int rc;

	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "drinkd: check-ledger takes no arguments\n");
		return 2;
	}
	if ((db = main_open_db(cfg, 0, 0)) == NULL) {
		return 1;
	}
	rc = db_check_ledger(db, stdout);
	db_close(db);
	printf("%s\n", rc == 0 ? "ledger OK" : "ledger BROKEN");
	return rc == 0 ? 0 : 1;
}

static const struct {
	const char *name;
	int (*fn)(struct config *, int, char **);
} main_subcommands[] = {
	{ "init", main_init },
	{ "useradd", main_useradd },
	{ "check-ledger", main_check_ledger },
};

static int
main_serve(struct config *cfg)
{
	struct server srv = { .cfg = cfg };
	int rc;

	/* Cleared by server_run() once it serves. */
	log_stderr_too(1);
	if (main_check_config(cfg) != 0) {
		return 1;
	}
	/*
	 * Each password check borrows a 19 MiB buffer.  Left to itself glibc
	 * raises its mmap threshold after the first such free and then serves
	 * these buffers from per-thread arenas that keep the memory, so a
	 * burst of logins would leave hundreds of MiB resident.  A fixed
	 * threshold makes every large block an mmap returned on free.
	 */
	mallopt(M_MMAP_THRESHOLD, MAIN_MMAP_THRESHOLD);
	if (auth_init() != 0) {
		log_err("cannot initialise password hashing");
		return 1;
	}
	if ((srv.db = main_open_db(cfg, MAIN_READERS, 1)) == NULL) {
		return 1;
	}
	rc = server_run(&srv);
	db_close(srv.db);
	return rc == 0 ? 0 : 1;
}

/* Options first; the first word that is not an option is a subcommand. */
static int
main_parse(int argc, char **argv, struct main_opts *o, int *first)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-f") == 0 && i + 1 < argc) {
			o->file = argv[++i];
		} else if (strcmp(a, "-d") == 0) {
			o->to_stderr = 1;
		} else if (strcmp(a, "-v") == 0) {
			o->verbose = 1;
		} else if (strcmp(a, "-n") == 0) {
			o->check_only = 1;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			main_usage(stdout);
			exit(0);
		} else if (strcmp(a, "--version") == 0) {
			printf("drinkd %s (protocol %d)\n", DRINK_VERSION,
			    DRINK_PROTO);
			exit(0);
		} else if (strncmp(a, "--", 2) == 0 && strchr(a, '=') != NULL) {
			o->sets[o->nsets++] = argv[i] + 2;
		} else if (a[0] == '-') {
			fprintf(stderr, "drinkd: unknown option \"%s\"\n", a);
			main_usage(stderr);
			return -1;
		} else {
			break;
		}
	}
	*first = i;
	return 0;
}

int
main(int argc, char **argv)
{
	struct main_opts o = { 0 };
	struct config cfg;
	char err[512], *eq;
	int first, i, rc = 2;
	size_t k;

	signal(SIGPIPE, SIG_IGN);
	o.sets = xcalloc((size_t)argc, sizeof(*o.sets));
	if (main_parse(argc, argv, &o, &first) != 0) {
		goto out;
	}
	/* Subcommands are tools run by a person: always log to stderr. */
	log_init("drinkd", o.to_stderr || first < argc, LOG_LEVEL_INFO);
	config_init(&cfg);
	/* Without -f, the installed configuration file if there is one. */
	if (o.file == NULL && access(DRINKD_CONF, F_OK) == 0) {
		o.file = DRINKD_CONF;
	}
	if (o.file != NULL && config_load(&cfg, o.file, err, sizeof(err)) != 0) {
		fprintf(stderr, "drinkd: %s\n", err);
		rc = 1;
		goto out_cfg;
	}
	for (i = 0; i < o.nsets; i++) {
		eq = strchr(o.sets[i], '=');
		*eq = '\0';
		if (config_set(&cfg, o.sets[i], eq + 1, err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "drinkd: command line: %s\n", err);
			goto out_cfg;
		}
	}
	log_set_level(o.verbose ? LOG_LEVEL_DEBUG :
	    log_level_parse(cfg.log_level));
	if (o.check_only) {
		log_stderr_too(1);
		if (main_check_config(&cfg) != 0) {
			rc = 1;
		} else {
			printf("configuration OK\n");
			rc = 0;
		}
		goto out_cfg;
	}
	if (first == argc) {
		rc = main_serve(&cfg);
		goto out_cfg;
	}
	for (k = 0; k < sizeof(main_subcommands) /
	    sizeof(main_subcommands[0]); k++) {
		if (strcmp(argv[first], main_subcommands[k].name) == 0) {
			rc = main_subcommands[k].fn(&cfg, argc - first - 1,
			    argv + first + 1);
			goto out_cfg;
		}
	}
	fprintf(stderr, "drinkd: unknown subcommand \"%s\"\n", argv[first]);
	main_usage(stderr);
out_cfg:
	config_free(&cfg);
out:
	free(o.sets);
	return rc;
}
