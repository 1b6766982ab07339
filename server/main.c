/*
 * drinkd's command line: run the server, check the configuration, or one
 * of the maintenance subcommands (init, useradd, check-ledger).
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include "drinkd.h"

#define MAIN_READERS 8
#define MAIN_MMAP_THRESHOLD (256 * 1024)
#define MAIN_PASSWORD_LINE 1100	/* 1024 bytes, line end, slack */
/* Only blocks of up to 128 bytes cached per thread; see main_tcache_limit. */
#define MAIN_TCACHE_KEY "glibc.malloc.tcache_"
#define MAIN_TCACHE_SET MAIN_TCACHE_KEY "max=128"
#ifndef DRINKD_CONF
#define DRINKD_CONF "/etc/drink/drinkd.conf"
#endif

/*
 * Exit statuses: 0 done, 1 a failure that may pass (a port in use, the
 * database locked or failing, no memory), 2 a usage error, and
 * MAIN_EXIT_CONFIG (EX_CONFIG, 78) for a configuration that cannot work
 * as it is: the file cannot be read or has a bad line, or the server
 * refuses a value (-n's checks), or the descriptor limit leaves no room
 * for clients (server_run's SERVER_RUN_CONFIG).  drinkd.service restarts
 * on 1 but not on 2 or 78 (RestartPreventExitStatus), which only an edit
 * can mend.
 */
#define MAIN_EXIT_CONFIG EX_CONFIG

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
	size_t i;

	fprintf(f,
	    "usage: drinkd [-f drinkd.conf] [-d] [-v] [--KEY=VALUE ...]\n"
	    "       drinkd [-f drinkd.conf] -n\n"
	    "       drinkd [-f drinkd.conf] SUBCOMMAND ...\n"
	    "\n"
	    "  -f FILE       read configuration from FILE (default "
	    DRINKD_CONF " if it exists)\n"
	    "  -d            log to stderr instead of syslog\n"
	    "  -v            more verbose logging (debug)\n"
	    "  -n            check the configuration as the server would "
	    "load it\n"
	    "  --KEY=VALUE   set a configuration key (overrides the file)\n"
	    "  -h, --help    this help;  --version  print the version\n"
	    "\n"
	    "subcommands:\n"
	    "  init                  create the database or migrate it\n"
	    "  useradd NAME [--admin] [--balance N]   add a user (password "
	    "on stdin)\n"
	    "  usermod NAME [--admin|--member] [--enable|--disable]\n"
	    "  passwd NAME           set a password (on stdin; prompted on a "
	    "terminal)\n"
	    "  check-ledger          verify ledger invariants; exit 1 on a "
	    "breach\n"
	    "  backup FILE           verified copy of the database, live or "
	    "not\n"
	    "  restore FILE          replace the database with a backup "
	    "(server stopped)\n"
	    "  SUBCOMMAND --help     its usage\n"
	    "\n"
	    "keys:");
	for (i = 0; config_key_name(i) != NULL; i++) {
		fprintf(f, "%s%s", i % 5 == 0 ? "\n      " : " ",
		    config_key_name(i));
	}
	fprintf(f, "\n      (see drinkd(8))\n");
}

/* create: 0 for every command that must find an existing database. */
/*
 * Where the database path came from, for a message about a database that
 * is not there: a mistyped path is found where it was typed.
 */
static const char *
main_db_origin(const struct config *cfg, char *buf, size_t len)
{
	const char *o = config_origin(cfg, "database");

	if (o == NULL && cfg->file == NULL) {
		snprintf(buf, len, "; the path is the default (no "
		    "configuration file was read: -f FILE, or %s)",
		    DRINKD_CONF);
	} else if (o == NULL) {
		snprintf(buf, len, "; the path is the default (%s sets no "
		    "database)", cfg->file);
	} else {
		snprintf(buf, len, "; the path comes from %s", o);
	}
	return buf;
}

static struct db *
main_open_db(const struct config *cfg, int readers, int create)
{
	char err[512], from[PATH_MAX + 64];
	struct db *db;

	db = create ? db_open(cfg->database, readers, err, sizeof(err)) :
	    db_open_existing(cfg->database, readers, err, sizeof(err));
	if (db == NULL) {
		log_err("%s%s", err, access(cfg->database, F_OK) != 0 ?
		    main_db_origin(cfg, from, sizeof(from)) : "");
	}
	return db;
}

/*
 * Take the database's lock (db/lock.c) for the rest of the process: the
 * server and every subcommand that changes the database refuse to run
 * beside a running server.  -1 (logged) when another drinkd holds it.
 */
static int
main_lock(const struct config *cfg)
{
	char err[512];

	if (db_lock(cfg->database, err, sizeof(err)) == -1) {
		log_err("%s", err);
		return -1;
	}
	return 0;
}

/*
 * main_lock for a subcommand that needs the server stopped: when it is
 * running, say so, and what else would do (instead, or NULL).
 */
static int
main_lock_offline(const struct config *cfg, const char *instead)
{
	char err[512];

	if (db_lock(cfg->database, err, sizeof(err)) == -1) {
		if (strstr(err, "in use by drinkd") != NULL) {
			log_err("%s: stop it first%s%s", err,
			    instead != NULL ? ", or " : "",
			    instead != NULL ? instead : "");
		} else {
			log_err("%s", err);
		}
		return -1;
	}
	return 0;
}

/* Refusals, one per line of text, each as "drinkd: LINE" on stderr. */
static void
main_print_lines(char *text)
{
	char *line, *save = NULL;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		fprintf(stderr, "drinkd: %s\n", line);
	}
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
	if (main_lock(cfg) != 0 ||
	    (db = main_open_db(cfg, 0, 1)) == NULL) {
		return 1;
	}
	printf("database %s ready (schema version %d)\n", cfg->database,
	    db_schema_version(db));
	db_close(db);
	return 0;
}

/*
 * One password line from stdin.  On a terminal it is prompted for without
 * echo, twice; from a pipe it is the first line.  0, or 2 (usage) with a
 * message printed.
 */
static int
main_read_password(const char *cmd, char *pw, size_t len)
{
	char again[MAIN_PASSWORD_LINE];
	struct termios old, quiet;
	int tty = isatty(STDIN_FILENO), got, same = 1;

	if (tty && tcgetattr(STDIN_FILENO, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		fprintf(stderr, "New password: ");
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		got = fgets(pw, (int)len, stdin) != NULL;
		fprintf(stderr, "\nAgain: ");
		got = got && fgets(again, sizeof(again), stdin) != NULL;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
		same = got && strcmp(pw, again) == 0;
		explicit_bzero(again, sizeof(again));
	} else {
		got = fgets(pw, (int)len, stdin) != NULL;
	}
	if (!got) {
		fprintf(stderr, "drinkd: %s: no password on stdin\n", cmd);
		return 2;
	}
	if (!same) {
		fprintf(stderr, "drinkd: %s: the passwords differ\n", cmd);
		return 2;
	}
	pw[strcspn(pw, "\r\n")] = '\0';
	if (pw[0] == '\0' || strlen(pw) > 1024) {
		fprintf(stderr, "drinkd: %s: the password must be 1 to 1024 "
		    "bytes\n", cmd);
		return 2;
	}
	return 0;
}

/* Read, check and hash a password: the PHC string (caller frees), or
 * NULL with *rc set to the exit code. */
static char *
main_new_hash(const char *cmd, int *rc)
{
	char pw[MAIN_PASSWORD_LINE], *hash = NULL;

	if ((*rc = main_read_password(cmd, pw, sizeof(pw))) != 0) {
		return NULL;
	}
	if (auth_init() != 0 || (hash = auth_hash(pw)) == NULL) {
		fprintf(stderr, "drinkd: cannot hash the password\n");
		*rc = 1;
	}
	explicit_bzero(pw, sizeof(pw));
	return hash;
}

static int
main_bad_name(const char *cmd, const char *name)
{
	if (name != NULL && proto_valid_name(name)) {
		return 0;
	}
	fprintf(stderr, "drinkd: %s needs a NAME matching "
	    "^[a-z][a-z0-9_.-]{0,31}$\n", cmd);
	return 1;
}

static int
main_useradd(struct config *cfg, int argc, char **argv)
{
	const char *name = NULL, *owner;
	long long balance = 0;
	char *end, *hash;
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
	if (main_bad_name("useradd", name)) {
		return 2;
	}
	/* The database first: no password is asked for a missing one. */
	if (main_lock_offline(cfg, "add the user through it as an admin: "
	    "drink -u ADMIN user-add NAME") != 0 ||
	    (db = main_open_db(cfg, 0, 0)) == NULL) {
		return 1;
	}
	if ((hash = main_new_hash("useradd", &rc)) == NULL) {
		db_close(db);
		return rc;
	}
	rc = db_user_add(db, NULL, name, hash, admin ? "admin" : "member",
	    balance);
	free(hash);
	owner = rc == ERR_EXISTS ? db_name_owner(db, name) : NULL;
	db_close(db);
	if (rc != ERR_NONE) {
		fprintf(stderr, "drinkd: useradd %s: %s%s\n", name,
		    owner != NULL ? "that name is taken by a " :
		    proto_err_message(rc), owner != NULL ? owner : "");
		return 1;
	}
	printf("user %s added (%s, balance %lld)\n", name,
	    admin ? "admin" : "member", balance);
	return 0;
}

/* Apply a change to one user and print the result; an exit code. */
static int
main_user_change(struct config *cfg, const char *cmd, const char *name,
    const char *role, int disabled, const char *hash)
{
	struct db_user u;
	struct db *db;
	int rc;

	/* No lock: one user's row, safe beside a running server. */
	if ((db = main_open_db(cfg, 0, 0)) == NULL) {
		return 1;
	}
	rc = db_user_mod(db, name, role, disabled, hash, 0);
	if (rc == ERR_NONE) {
		rc = db_user_get(db, name, &u);
	}
	db_close(db);
	if (rc != ERR_NONE) {
		fprintf(stderr, "drinkd: %s %s: %s\n", cmd, name,
		    proto_err_message(rc));
		return 1;
	}
	printf("user %s: %s, %s%s\n", name, u.role,
	    u.disabled ? "disabled" : "enabled",
	    hash != NULL ? ", password changed" : "");
	return 0;
}

/*
 * usermod NAME [--admin|--member] [--enable|--disable]: the way back in
 * for the last admin.  Each flag sets one field; contradicting flags are
 * a usage error.
 */
static int
main_usermod(struct config *cfg, int argc, char **argv)
{
	static const struct {
		const char *flag;
		const char *role;	/* NULL: leaves the role */
		int disabled;		/* -1: leaves the flag */
	} flags[] = {
		{ "--admin", "admin", -1 },
		{ "--member", "member", -1 },
		{ "--enable", NULL, 0 },
		{ "--disable", NULL, 1 },
	};
	const char *name = NULL, *role = NULL;
	int i, disabled = -1;
	size_t f;

	for (i = 0; i < argc; i++) {
		for (f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
			if (strcmp(argv[i], flags[f].flag) == 0) {
				break;
			}
		}
		if (f < sizeof(flags) / sizeof(flags[0])) {
			if ((flags[f].role != NULL && role != NULL &&
			    strcmp(role, flags[f].role) != 0) ||
			    (flags[f].disabled >= 0 && disabled >= 0 &&
			    disabled != flags[f].disabled)) {
				fprintf(stderr, "drinkd: usermod: %s "
				    "contradicts an earlier flag\n", argv[i]);
				return 2;
			}
			role = flags[f].role != NULL ? flags[f].role : role;
			disabled = flags[f].disabled >= 0 ?
			    flags[f].disabled : disabled;
		} else if (name == NULL && argv[i][0] != '-') {
			name = argv[i];
		} else {
			fprintf(stderr, "drinkd: usermod: unexpected "
			    "argument \"%s\"\n", argv[i]);
			return 2;
		}
	}
	if (main_bad_name("usermod", name)) {
		return 2;
	}
	if (role == NULL && disabled < 0) {
		fprintf(stderr, "drinkd: usermod %s: nothing to change (give "
		    "--admin, --member, --enable or --disable)\n", name);
		return 2;
	}
	return main_user_change(cfg, "usermod", name, role, disabled, NULL);
}

static int
main_passwd(struct config *cfg, int argc, char **argv)
{
	struct db_user u;
	struct db *db;
	char *hash;
	int rc;

	if (argc != 1 || main_bad_name("passwd", argv[0])) {
		fprintf(stderr, "drinkd: usage: passwd NAME (password on "
		    "stdin)\n");
		return 2;
	}
	/* Check the user exists before asking for a password. */
	if ((db = main_open_db(cfg, 0, 0)) == NULL) {
		return 1;
	}
	rc = db_user_get(db, argv[0], &u);
	db_close(db);
	if (rc != ERR_NONE) {
		fprintf(stderr, "drinkd: passwd %s: %s\n", argv[0],
		    proto_err_message(rc));
		return 1;
	}
	if ((hash = main_new_hash("passwd", &rc)) == NULL) {
		return rc;
	}
	rc = main_user_change(cfg, "passwd", argv[0], NULL, -1, hash);
	free(hash);
	return rc;
}

static int
main_check_ledger(struct config *cfg, int argc, char **argv)
{
	char err[1024], from[PATH_MAX + 64];
	int rc;

	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "drinkd: check-ledger takes no arguments\n");
		return 2;
	}
	/* No lock: it only reads, from one snapshot, beside a server. */
	rc = db_check_ledger_file(cfg->database, stdout, err, sizeof(err));
	if (rc == -2) {
		log_err("%s%s", err, access(cfg->database, F_OK) != 0 ?
		    main_db_origin(cfg, from, sizeof(from)) : "");
		return 1;
	}
	printf("%s\n", rc == 0 ? "ledger OK" : "ledger BROKEN");
	return rc == 0 ? 0 : 1;
}

/* backup FILE: a verified copy of the (live) database. */
static int
main_backup(struct config *cfg, int argc, char **argv)
{
	char err[1024];

	if (argc != 1) {
		fprintf(stderr, "drinkd: usage: backup FILE\n");
		return 2;
	}
	if (db_backup(cfg->database, argv[0], stdout, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "drinkd: backup: %s\n", err);
		return 1;
	}
	printf("backup of %s written to %s (ledger OK)\n", cfg->database,
	    argv[0]);
	return 0;
}

/* restore FILE: the database becomes a verified copy of FILE. */
static int
main_restore(struct config *cfg, int argc, char **argv)
{
	char err[1024];

	if (argc != 1) {
		fprintf(stderr, "drinkd: usage: restore FILE\n");
		return 2;
	}
	if (main_lock_offline(cfg, NULL) != 0) {
		return 1;
	}
	if (db_restore(argv[0], cfg->database, stdout, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "drinkd: restore: %s\n", err);
		return 1;
	}
	printf("database %s restored from %s (ledger OK)\n", cfg->database,
	    argv[0]);
	return 0;
}

/*
 * Run by root on a database that another user owns (drinkd's, under
 * systemd), a subcommand or the server would leave root-owned DB-wal,
 * DB-shm and DB.answers files (or a root-owned database) that the server
 * then cannot open as its own user.  Refuse, and say how to run it.  A
 * missing database is judged by its directory.
 */
static int
main_check_owner(const char *path)
{
	struct passwd *pw;
	struct stat st;
	char *dir, *slash;
	int rc;

	if (geteuid() != 0) {
		return 0;
	}
	if ((rc = stat(path, &st)) != 0) {
		dir = xstrdup(path);
		if ((slash = strrchr(dir, '/')) != NULL) {
			slash[slash == dir] = '\0';
		}
		rc = stat(slash != NULL ? dir : ".", &st);
		free(dir);
	}
	if (rc != 0 || st.st_uid == 0) {
		return 0;
	}
	pw = getpwuid(st.st_uid);
	fprintf(stderr, "drinkd: %s belongs to %s (uid %u); run this as that "
	    "user, e.g. runuser -u %s -- drinkd ...\n", path,
	    pw != NULL ? pw->pw_name : "another user", (unsigned)st.st_uid,
	    pw != NULL ? pw->pw_name : "USER");
	return -1;
}

static const struct {
	const char *name;
	const char *usage;	/* its arguments, for -h and --help */
	int file;		/* its argument is a FILE, never an option */
	int (*fn)(struct config *, int, char **);
} main_subcommands[] = {
	{ "init", "init", 0, main_init },
	{ "useradd", "useradd NAME [--admin] [--balance N]  (password on "
	    "stdin)", 0, main_useradd },
	{ "usermod", "usermod NAME [--admin|--member] [--enable|--disable]",
	    0, main_usermod },
	{ "passwd", "passwd NAME  (password on stdin; asked on a terminal)",
	    0, main_passwd },
	{ "check-ledger", "check-ledger", 0, main_check_ledger },
	{ "backup", "backup FILE", 1, main_backup },
	{ "restore", "restore FILE", 1, main_restore },
};

/*
 * -h or --help anywhere after a subcommand: its usage, before anything is
 * opened (never "backup --help" as a backup named --help).  Otherwise an
 * option where backup or restore wants a FILE is a usage error; a file
 * whose name starts with '-' is given as ./-NAME.
 */
static int
main_subcommand_help(size_t k, int argc, char **argv)
{
	const char *name = main_subcommands[k].name;
	int i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			printf("usage: drinkd [-f drinkd.conf] [--KEY=VALUE ...] "
			    "%s\n", main_subcommands[k].usage);
			return 0;
		}
	}
	if (main_subcommands[k].file && argc > 0 && argv[0][0] == '-') {
		fprintf(stderr, "drinkd: %s: unknown option \"%s\" (a FILE "
		    "whose name starts with - is ./%s)\n", name, argv[0],
		    argv[0]);
		return 2;
	}
	return -1;
}

/*
 * glibc gives every thread a cache of the blocks it freed (tcache, up to
 * seven of each size to 1 KiB) that no other thread can reuse.  A
 * connection's thread frees most of what its TLS handshake allocated and
 * may then sit idle for hours, keeping 6-10 KiB that no one can use.
 * With only blocks of up to 128 bytes cached (73% of the calls: the
 * cache still pays for itself) it keeps about 1 KiB; turning the cache
 * off saves 1 KiB more but costs 6-10% more CPU per handshake.  Only
 * GLIBC_TUNABLES, read when a program starts, sets this, so the server
 * runs itself again at once with MAIN_TCACHE_SET added to it: the same
 * process (pid, arguments, descriptors), a new image.  An administrator's
 * own glibc.malloc.tcache_* setting is left alone (and ends the loop), and
 * so is a process with a preloaded library (valgrind, heaptrack, another
 * malloc) or built with a sanitizer, whose malloc is not glibc's.  On
 * failure the server runs on as it is.
 */
static void
main_tcache_limit(char **argv)
{
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
	const char *old = getenv("GLIBC_TUNABLES"), *pre = getenv("LD_PRELOAD");
	char *saved, *set, self[PATH_MAX];
	ssize_t n;

	if ((old != NULL && strstr(old, MAIN_TCACHE_KEY) != NULL) ||
	    (pre != NULL && pre[0] != '\0')) {
		return;
	}
	saved = old != NULL ? xstrdup(old) : NULL;
	set = saved != NULL && saved[0] != '\0' ?
	    xasprintf("%s:%s", saved, MAIN_TCACHE_SET) :
	    xstrdup(MAIN_TCACHE_SET);
	if (setenv("GLIBC_TUNABLES", set, 1) == 0) {
		/*
		 * By its path, so that the process keeps its name (ps,
		 * pgrep, the journal); /proc/self/exe when that is gone
		 * (replaced by an upgrade while starting).
		 */
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n > 0 && (size_t)n < sizeof(self) - 1) {
			self[n] = '\0';
			(void)execv(self, argv);
		}
		(void)execv("/proc/self/exe", argv);
		log_warn("cannot run again with GLIBC_TUNABLES=%s (%s); idle "
		    "threads keep their malloc caches", set, strerror(errno));
	}
	if (saved != NULL) {
		(void)setenv("GLIBC_TUNABLES", saved, 1);
	} else {
		(void)unsetenv("GLIBC_TUNABLES");
	}
	free(saved);
	free(set);
#else
	(void)argv;
#endif
}

/*
 * Log whether the limit is in effect, as glibc shows it: a freed block
 * of MAIN_TCACHE_PROBE bytes that stays in this thread's cache still
 * counts as in use; one given back to the heap counts as free.
 */
#define MAIN_TCACHE_PROBE 200

static void
main_tcache_report(void)
{
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
	const char *t = getenv("GLIBC_TUNABLES");
	void *volatile p = malloc(MAIN_TCACHE_PROBE);
	struct mallinfo2 before = mallinfo2(), after;

	free(p);
	after = mallinfo2();
	if (after.fordblks > before.fordblks) {
		log_info("memory: idle connections stay small: threads do not "
		    "keep freed blocks of %d bytes for themselves "
		    "(GLIBC_TUNABLES=%s)", MAIN_TCACHE_PROBE,
		    t != NULL ? t : "");
	} else {
		log_info("memory: each thread keeps freed blocks of %d bytes "
		    "for itself, so an idle connection holds some more "
		    "(GLIBC_TUNABLES=%s; see drinkd(8), ENVIRONMENT)",
		    MAIN_TCACHE_PROBE, t != NULL ? t : "");
	}
#endif
}

static int
main_serve(struct config *cfg)
{
	struct server srv = { .cfg = cfg };
	char err[256];
	sigset_t hup;
	int rc;

	/*
	 * A SIGHUP before server_run() waits for signals would end drinkd
	 * ("Hangup", a reload sent right after a restart): blocked from here,
	 * in this thread and every thread started from it, it waits and is
	 * taken as a reload once the server serves.
	 */
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &hup, NULL);
	/* Cleared by server_run() once it serves. */
	log_stderr_too(1);
	if (main_check_config(cfg) != 0) {
		return MAIN_EXIT_CONFIG;
	}
	if (cmd_table_check(err, sizeof(err)) != 0) {
		fatal("%s", err);
	}
	/*
	 * Each password check borrows a 19 MiB buffer.  Left to itself glibc
	 * raises its mmap threshold after the first such free and then serves
	 * these buffers from per-thread arenas that keep the memory, so a
	 * burst of logins would leave hundreds of MiB resident.  A fixed
	 * threshold makes every large block an mmap returned on free.
	 */
	mallopt(M_MMAP_THRESHOLD, MAIN_MMAP_THRESHOLD);
	main_tcache_report();
	if (auth_init() != 0) {
		log_err("cannot initialise password hashing");
		return 1;
	}
	if (main_lock(cfg) != 0 ||
	    (srv.db = main_open_db(cfg, MAIN_READERS, 1)) == NULL) {
		return 1;
	}
	(void)db_name_clashes(srv.db);
	rc = server_run(&srv);
	db_close(srv.db);
	if (rc == SERVER_RUN_CONFIG) {
		return MAIN_EXIT_CONFIG;
	}
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
		} else if (strcmp(a, "-f") == 0) {
			fprintf(stderr, "drinkd: -f needs a FILE\n");
			main_usage(stderr);
			return -1;
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
	if (o->check_only && i < argc) {
		fprintf(stderr, "drinkd: -n checks the configuration and takes "
		    "no subcommand (\"%s\")\n", argv[i]);
		return -1;
	}
	return 0;
}

/* -n: a warning is printed, not logged; the configuration is still OK. */
static void
main_say(const char *msg)
{
	printf("warning: %s\n", msg);
}

static void
main_warn(const char *msg)
{
	log_warn("%s", msg);
}

int
main(int argc, char **argv)
{
	struct main_opts o = { 0 };
	struct config cfg;
	char err[4096], *eq;
	int first, i, rc = 2, load_failed = 0;
	size_t k;

	signal(SIGPIPE, SIG_IGN);
	o.sets = xcalloc((size_t)argc, sizeof(*o.sets));
	if (main_parse(argc, argv, &o, &first) != 0) {
		goto out;
	}
	/* Subcommands are tools run by a person: always log to stderr. */
	log_init("drinkd", o.to_stderr || first < argc, LOG_LEVEL_INFO);
	if (first == argc && !o.check_only) {
		main_tcache_limit(argv);
	}
	config_init(&cfg);
	/* Without -f, the installed configuration file if there is one. */
	if (o.file == NULL && access(DRINKD_CONF, F_OK) == 0) {
		o.file = DRINKD_CONF;
	}
	if (o.file != NULL && config_load(&cfg, o.file, err, sizeof(err)) != 0) {
		main_print_lines(err);
		rc = MAIN_EXIT_CONFIG;
		/*
		 * -n goes on to check what did load: every mistake at once.
		 * A file that could not be opened loaded nothing: checking
		 * the defaults would only add refusals it does not have.
		 */
		if (!o.check_only || cfg.file == NULL) {
			goto out_cfg;
		}
		load_failed = 1;
	}
	for (i = 0; i < o.nsets; i++) {
		eq = strchr(o.sets[i], '=');
		*eq = '\0';
		if (config_set(&cfg, o.sets[i], eq + 1, err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "drinkd: command line: %s\n", err);
			rc = 2;		/* a usage error, whatever the file had */
			goto out_cfg;
		}
	}
	log_set_level(o.verbose ? LOG_LEVEL_DEBUG :
	    log_level_parse(cfg.log_level));
	(void)config_warnings(&cfg, o.check_only ? main_say : main_warn);
	if (o.check_only) {
		log_stderr_too(1);
		/*
		 * As root on drinkd's database the server refuses, and the
		 * checks below would judge the key by root's group: say only
		 * whom to run it as.
		 */
		if (main_check_owner(cfg.database) != 0) {
			rc = 1;
		} else if (main_check_config(&cfg) != 0 || load_failed) {
			rc = MAIN_EXIT_CONFIG;
		} else {
			(void)server_cert_warnings(&cfg, main_say);
			printf("configuration OK\n");
			rc = 0;
		}
		goto out_cfg;
	}
	if (first == argc) {
		rc = main_check_owner(cfg.database) != 0 ? 1 :
		    main_serve(&cfg);
		goto out_cfg;
	}
	for (k = 0; k < sizeof(main_subcommands) /
	    sizeof(main_subcommands[0]); k++) {
		if (strcmp(argv[first], main_subcommands[k].name) == 0) {
			rc = main_subcommand_help(k, argc - first - 1,
			    argv + first + 1);
			if (rc >= 0) {
				goto out_cfg;
			}
			rc = 1;
			if (main_check_owner(cfg.database) != 0) {
				goto out_cfg;
			}
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
