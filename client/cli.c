/*
 * drink: options, the config file and the choice between one command and
 * the shell.  Settings come from three places, weakest first: built-in
 * defaults, the config file (DRINK_CONFIG, else ~/.config/drink/config),
 * and the command line.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CLI_DEFAULT_HOST "localhost"
#define CLI_DEFAULT_PORT "4242"
#define CLI_CONF_LINE_MAX 1024

enum cli_conf_type {
	CLI_CONF_STRING,
	CLI_CONF_PORT,
	CLI_CONF_PATH,	/* relative to the config file's directory */
};

static const struct {
	const char *key;
	size_t offset;
	enum cli_conf_type type;
} cli_conf_keys[] = {
	{ "host", offsetof(struct cli_config, host), CLI_CONF_STRING },
	{ "port", offsetof(struct cli_config, port), CLI_CONF_PORT },
	{ "ca", offsetof(struct cli_config, ca), CLI_CONF_PATH },
	{ "cert", offsetof(struct cli_config, cert), CLI_CONF_PATH },
	{ "key", offsetof(struct cli_config, key), CLI_CONF_PATH },
	{ "user", offsetof(struct cli_config, user), CLI_CONF_STRING },
};

enum {
	CLI_OPT_CA = 256,
	CLI_OPT_CERT,
	CLI_OPT_KEY,
	CLI_OPT_JSON,
	CLI_OPT_VERSION,
};

static const struct option cli_options[] = {
	{ "host", required_argument, NULL, 'H' },
	{ "port", required_argument, NULL, 'p' },
	{ "user", required_argument, NULL, 'u' },
	{ "ca", required_argument, NULL, CLI_OPT_CA },
	{ "cert", required_argument, NULL, CLI_OPT_CERT },
	{ "key", required_argument, NULL, CLI_OPT_KEY },
	{ "json", no_argument, NULL, CLI_OPT_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, CLI_OPT_VERSION },
	{ NULL, 0, NULL, 0 }
};

void
cli_error(const char *fmt, ...)
{
	va_list ap;

	/* Whatever was printed so far comes first. */
	fflush(stdout);
	fputs("drink: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cli_output_check(int st)
{
	if (fflush(stdout) == 0 && !ferror(stdout)) {
		return st;
	}
	cli_error("cannot write the output: %s", strerror(errno));
	clearerr(stdout);
	return CLI_EXIT_OUTPUT;
}

static void
cli_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: drink [-H HOST] [-p PORT] [--ca FILE] "
	    "[--cert FILE --key FILE]\n"
	    "             [-u USER] [--json] [COMMAND ARGS...]\n"
	    "\n"
	    "  -H, --host HOST   server (default " CLI_DEFAULT_HOST ")\n"
	    "  -p, --port PORT   member port (default " CLI_DEFAULT_PORT ")\n"
	    "  --ca FILE         CA to verify the server with "
	    "(default: the system's)\n"
	    "  --cert FILE       member certificate, to log in by certificate\n"
	    "  --key FILE        its private key\n"
	    "  -u, --user USER   log in as USER (password from "
	    "DRINK_PASSWORD,\n"
	    "                    else asked on the terminal)\n"

	    "  --json            print each reply as the server sent it\n"
	    "  -h, --help        this text\n"
	    "  --version         the client's version\n");
	cli_cmd_usage(fp);
	/* Listed like a command, so completion offers it (completions/). */
	fprintf(fp, "\nHelp:\n  %-36s %s\n", "help [COMMAND]",
	    "this text, or one command's usage");
	fprintf(fp,
	    "\nWithout COMMAND, drink is a shell: it reads commands, one a "
	    "line, from\nstandard input (on a terminal with line editing "
	    "and Tab completion);\n"
	    "drink help COMMAND or drink COMMAND --help shows one command's "
	    "usage.\n"
	    "Defaults come from $DRINK_CONFIG or ~/.config/drink/config.\n"
	    "New passwords (passwd, user-add, user-mod --password) come from\n"
	    "$DRINK_NEW_PASSWORD, else are asked twice on the terminal.\n");
}

static void
cli_config_free(struct cli_config *cfg)
{
	size_t i;

	for (i = 0; i < sizeof(cli_conf_keys) / sizeof(cli_conf_keys[0]);
	    i++) {
		char **slot = (char **)((char *)cfg + cli_conf_keys[i].offset);

		free(*slot);
		*slot = NULL;
	}
}

/* A port is a number from 1 to 65535, not a service name. */
static int
cli_valid_port(const char *s)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9') {
		return 0;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	return errno == 0 && *end == '\0' && v >= 1 && v <= 65535;
}

/* "~/x" from $HOME; "x" from the directory holding the config file. */
static char *
cli_conf_path(const char *value, const char *file)
{
	const char *home = getenv("HOME"), *slash;

	if (value[0] == '~' && value[1] == '/' && home != NULL) {
		return xasprintf("%s%s", home, value + 1);
	}
	if (value[0] == '/' || (slash = strrchr(file, '/')) == NULL) {
		return xstrdup(value);
	}
	return xasprintf("%.*s/%s", (int)(slash - file), file, value);
}

/* One "key = value" line into cfg; -1 with file:line in the message. */
static int
cli_conf_line(struct cli_config *cfg, char *line, const char *file,
    unsigned lineno)
{
	char *key, *value, *eq, *hash, **slot;
	size_t i, n;

	for (hash = line; (hash = strchr(hash, '#')) != NULL; hash++) {
		/* A comment starts a line or follows a blank. */
		if (hash == line || hash[-1] == ' ' || hash[-1] == '\t') {
			*hash = '\0';
			break;
		}
	}
	key = str_trim(line);
	if (*key == '\0') {
		return 0;
	}
	if ((eq = strchr(key, '=')) == NULL) {
		cli_error("%s:%u: expected key = value", file, lineno);
		return -1;
	}
	*eq = '\0';
	key = str_trim(key);
	value = str_trim(eq + 1);
	n = strlen(value);
	if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
		value[n - 1] = '\0';
		value++;
	}
	for (i = 0; i < sizeof(cli_conf_keys) / sizeof(cli_conf_keys[0]);
	    i++) {
		if (strcmp(key, cli_conf_keys[i].key) == 0) {
			break;
		}
	}
	if (i == sizeof(cli_conf_keys) / sizeof(cli_conf_keys[0])) {
		cli_error("%s:%u: unknown key '%s'", file, lineno, key);
		return -1;
	}
	if (*value == '\0') {
		cli_error("%s:%u: %s has no value", file, lineno, key);
		return -1;
	}
	if (cli_conf_keys[i].type == CLI_CONF_PORT && !cli_valid_port(value)) {
		cli_error("%s:%u: bad port '%s'", file, lineno, value);
		return -1;
	}
	slot = (char **)((char *)cfg + cli_conf_keys[i].offset);
	free(*slot);
	*slot = cli_conf_keys[i].type == CLI_CONF_PATH ?
	    cli_conf_path(value, file) : xstrdup(value);
	return 0;
}

/*
 * Read the config file into cfg.  The default file may be missing; one
 * named by DRINK_CONFIG must exist.
 */
static int
cli_conf_load(struct cli_config *cfg)
{
	char line[CLI_CONF_LINE_MAX], *path;
	const char *env = getenv("DRINK_CONFIG"), *home, *xdg;
	unsigned lineno = 0;
	FILE *fp;
	size_t n;
	int st = 0;

	if (env != NULL && *env != '\0') {
		path = xstrdup(env);
	} else if ((xdg = getenv("XDG_CONFIG_HOME")) != NULL && *xdg == '/') {
		path = xasprintf("%s/drink/config", xdg);
	} else if ((home = getenv("HOME")) != NULL && *home != '\0') {
		path = xasprintf("%s/.config/drink/config", home);
	} else {
		return 0;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		if (errno != ENOENT || (env != NULL && *env != '\0')) {
			cli_error("cannot read %s: %s", path, strerror(errno));
			st = -1;
		}
		free(path);
		return st;
	}
	while (st == 0 && fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		n = strlen(line);
		if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
			cli_error("%s:%u: line longer than %d bytes", path,
			    lineno, CLI_CONF_LINE_MAX - 2);
			st = -1;
			break;
		}
		st = cli_conf_line(cfg, line, path, lineno);
	}
	if (st == 0 && ferror(fp)) {
		cli_error("cannot read %s: %s", path, strerror(errno));
		st = -1;
	}
	fclose(fp);
	free(path);
	return st;
}

/* Command-line values replace the config file's. */
static void
cli_override(char **slot, const char *value)
{
	if (value != NULL) {
		free(*slot);
		*slot = xstrdup(value);
	}
}

/*
 * Global options stop at the first word that is not one ("+"), so the
 * command's own options (drop's --key, say) are left for the command.
 */
static int
cli_parse_args(int argc, char **argv, struct cli_config *flags, int *done)
{
	int ch;

	*done = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:H:p:u:h", cli_options,
	    NULL)) != -1) {
		/* An empty file name is a slip, not a file to look for. */
		if ((ch == CLI_OPT_CA || ch == CLI_OPT_CERT ||
		    ch == CLI_OPT_KEY) && optarg[0] == '\0') {
			cli_error("option '%s' needs a value",
			    ch == CLI_OPT_CA ? "--ca" : ch == CLI_OPT_CERT ?
			    "--cert" : "--key");
			return CLI_EXIT_USAGE;
		}
		switch (ch) {
		case 'H':
			if (optarg[0] == '\0') {
				cli_error("bad host '' (a name or an address, "
				    "such as localhost)");
				return CLI_EXIT_USAGE;
			}
			flags->host = optarg;
			break;
		case 'p':
			if (!cli_valid_port(optarg)) {
				cli_error("bad port '%s'", optarg);
				return CLI_EXIT_USAGE;
			}
			flags->port = optarg;
			break;
		case 'u':
			flags->user = optarg;
			break;
		case CLI_OPT_CA:
			flags->ca = optarg;
			break;
		case CLI_OPT_CERT:
			flags->cert = optarg;
			break;
		case CLI_OPT_KEY:
			flags->key = optarg;
			break;
		case CLI_OPT_JSON:
			flags->json = 1;
			break;
		case 'h':
			cli_usage(stdout);
			*done = 1;
			return CLI_EXIT_OK;
		case CLI_OPT_VERSION:
			printf("drink %s (protocol %d)\n", DRINK_VERSION,
			    DRINK_PROTO);
			*done = 1;
			return CLI_EXIT_OK;
		case ':':
			cli_error("option '%s' needs a value",
			    argv[optind - 1]);
			return CLI_EXIT_USAGE;
		default:
			/* getopt_long: a known flag given "=value" has optopt. */
			if (optopt != 0 && strncmp(argv[optind - 1], "--",
			    2) == 0 && strchr(argv[optind - 1], '=') != NULL) {
				cli_error("option '%.*s' takes no value",
				    (int)strcspn(argv[optind - 1], "="),
				    argv[optind - 1]);
			} else {
				cli_error("unknown option '%s' (try --help)",
				    argv[optind - 1]);
			}
			return CLI_EXIT_USAGE;
		}
	}
	return CLI_EXIT_OK;
}

/*
 * A user no account can have is said at once, as a command's USER is:
 * not after a password has been asked for and sent with it.
 */
static int
cli_valid_user(const struct cli_config *cfg, int from_flag)
{
	char rule[256];

	if (cfg->user == NULL || proto_valid_name(cfg->user)) {
		return 0;
	}
	spec_rule(spec_arg_find(spec_find("login"), "user"), rule,
	    sizeof(rule));
	cli_error("%s %s, not '%s'", from_flag ? "-u" : "user in the config "
	    "file", rule, cfg->user);
	return -1;
}

int
main(int argc, char **argv)
{
	/* flags borrows from argv; cfg owns its strings. */
	struct cli_config flags = { 0 }, cfg = { 0 };
	struct cli_session *s;
	int st, done;

	/* A server that hangs up mid-write is an error, not a kill. */
	signal(SIGPIPE, SIG_IGN);
	log_init("drink", 1, LOG_LEVEL_WARN);
	if ((st = cli_parse_args(argc, argv, &flags, &done)) != CLI_EXIT_OK ||
	    done) {
		return st;
	}
	if (cli_conf_load(&cfg) != 0) {
		cli_config_free(&cfg);
		return CLI_EXIT_USAGE;
	}
	cli_override(&cfg.host, flags.host);
	cli_override(&cfg.port, flags.port);
	cli_override(&cfg.user, flags.user);
	cli_override(&cfg.ca, flags.ca);
	cli_override(&cfg.cert, flags.cert);
	cli_override(&cfg.key, flags.key);
	cfg.json = flags.json;
	if (cfg.host == NULL) {
		cfg.host = xstrdup(CLI_DEFAULT_HOST);
	}
	if (cfg.port == NULL) {
		cfg.port = xstrdup(CLI_DEFAULT_PORT);
	}
	if (cli_valid_user(&cfg, flags.user != NULL) != 0) {
		cli_config_free(&cfg);
		return CLI_EXIT_USAGE;
	}
	if ((cfg.cert == NULL) != (cfg.key == NULL)) {
		cli_error("--cert and --key go together");
		cli_config_free(&cfg);
		return CLI_EXIT_USAGE;
	}
	s = cli_session_new(&cfg);
	if (optind < argc && strcmp(argv[optind], "help") == 0) {
		st = cli_cmd_help_words(argc - optind, argv + optind,
		    cli_usage);
	} else if (optind < argc) {
		st = cli_cmd_execute(s, argc - optind, argv + optind);
	} else {
		st = cli_shell_run(s);
	}
	cli_session_close(s);
	cli_session_free(s);
	cli_config_free(&cfg);
	return st;
}
