/*
 * drink-machine: the command line, the signals, and start-up.  Every
 * usage error is found before any file is opened or the network touched;
 * after that only a certificate problem, the server refusing this machine
 * or a port that is not a machine port ends the program early.  SIGTERM
 * and SIGINT set a flag and make a pipe readable, so a loop blocked in
 * poll() notices them at once; SIGPIPE is ignored so a server that hangs
 * up mid-write is an error to handle, not a kill.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define CTL_DEFAULT_VEND_MS 1500
#define CTL_DEFAULT_TEMP_C 4.0
#define CTL_DEFAULT_TEMP_INTERVAL 60
#define CTL_VEND_MS_MAX 600000
#define CTL_TEMP_MIN (-50.0)
#define CTL_TEMP_MAX 100.0
#define CTL_TEMP_INTERVAL_MAX 86400

static volatile sig_atomic_t ctl_signal;	/* the stop signal, or 0 */
static int ctl_wake[2] = { -1, -1 };

enum {
	CTL_OPT_CA = 256,
	CTL_OPT_CERT,
	CTL_OPT_KEY,
	CTL_OPT_SIMULATE,
	CTL_OPT_FAIL_RATE,
	CTL_OPT_VEND_MS,
	CTL_OPT_TEMP,
	CTL_OPT_TEMP_INTERVAL,
	CTL_OPT_CARD_FILE,
	CTL_OPT_VERSION,
};

static const struct option ctl_options[] = {
	{ "host", required_argument, NULL, 'H' },
	{ "port", required_argument, NULL, 'p' },
	{ "ca", required_argument, NULL, CTL_OPT_CA },
	{ "cert", required_argument, NULL, CTL_OPT_CERT },
	{ "key", required_argument, NULL, CTL_OPT_KEY },
	{ "simulate", required_argument, NULL, CTL_OPT_SIMULATE },
	{ "fail-rate", required_argument, NULL, CTL_OPT_FAIL_RATE },
	{ "vend-ms", required_argument, NULL, CTL_OPT_VEND_MS },
	{ "temp", required_argument, NULL, CTL_OPT_TEMP },
	{ "temp-interval", required_argument, NULL, CTL_OPT_TEMP_INTERVAL },
	{ "card-file", required_argument, NULL, CTL_OPT_CARD_FILE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, CTL_OPT_VERSION },
	{ NULL, 0, NULL, 0 }
};

/* Everything the command line says, before anything is opened. */
struct ctl_args {
	struct ctl_config cfg;
	struct hw_params hw;
	const char *simulate;
	int level;
};

static void
ctl_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: drink-machine -H HOST -p PORT --ca FILE --cert FILE "
	    "--key FILE\n"
	    "                     --simulate SLOTS [--fail-rate P] "
	    "[--vend-ms N] [--temp C]\n"
	    "                     [--temp-interval S] [--card-file FILE] [-v]\n"
	    "\n"
	    "Connects to drinkd's machine port as the machine named by the "
	    "certificate's CN,\n"
	    "registers its slots and vends what the server asks for, "
	    "reconnecting as needed.\n"
	    "\n"
	    "  -H, --host HOST       server name or address (checked against "
	    "its certificate)\n"
	    "  -p, --port PORT       server's machine port (drinkd's default "
	    "is 4343)\n"
	    "  --ca FILE             CA certificate to verify the server "
	    "with\n"
	    "  --cert FILE           this machine's certificate "
	    "(CN = machine id)\n"
	    "  --key FILE            its private key: mode 600, or 640 with "
	    "drink-machine's\n"
	    "                        own group (never readable by others)\n"
	    "  --simulate SLOTS      run a simulated machine with these "
	    "slots, SLOT:STOCK,...\n"
	    "                        e.g. 1:5,2:5,3:0 (slot 1-255, stock "
	    "0-1000000); required:\n"
	    "                        the simulator is the only hardware "
	    "supported so far\n"
	    "  --fail-rate P         probability 0-1 that a simulated vend "
	    "jams (default 0)\n"
	    "  --vend-ms N           how long a simulated vend takes, in ms "
	    "(default %d)\n"
	    "  --temp C              simulated base temperature in Celsius "
	    "(default %.1f)\n"
	    "  --temp-interval S     seconds between temperature reports "
	    "(default %d)\n"
	    "  --card-file FILE      simulated card reader: each line "
	    "\"UID SLOT\" appended\n"
	    "                        to FILE is a card tap that buys from "
	    "SLOT (card_drop)\n"
	    "  -v, --verbose         log debug messages too\n"
	    "  -h, --help            this text\n"
	    "  --version             print the version\n"
	    "\n"
	    "Logs go to standard error.  SIGTERM or SIGINT stops it (exit "
	    "0); exit 1 is a\n"
	    "fatal error (certificates, the server refused this machine, "
	    "or PORT is not\n"
	    "a machine port); 2 a usage error.\n",
	    CTL_DEFAULT_VEND_MS, CTL_DEFAULT_TEMP_C,
	    CTL_DEFAULT_TEMP_INTERVAL);
}

static void
ctl_usage_error(const char *fmt, ...) PRINTFLIKE(1, 2);

static void
ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("drink-machine: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (try --help)\n", stderr);
}

/* A decimal integer in [lo, hi], nothing else. */
static int
ctl_parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	if ((*s < '0' || *s > '9') && *s != '-') {
		return -1;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi) {
		return -1;
	}
	*out = v;
	return 0;
}

/* A finite decimal number in [lo, hi]. */
static int
ctl_parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	if ((*s < '0' || *s > '9') && *s != '-' && *s != '.') {
		return -1;
	}
	errno = 0;
	v = strtod(s, &end);
	/* Written this way round, NaN fails too. */
	if (errno != 0 || *end != '\0' || !(v >= lo && v <= hi)) {
		return -1;
	}
	*out = v;
	return 0;
}

/* One option's value into a; 0, or -1 after printing the reason. */
static int
ctl_parse_value(struct ctl_args *a, int ch, const char *v)
{
	long n;

	switch (ch) {
	case 'H':
		a->cfg.host = v;
		break;
	case 'p':
		if (ctl_parse_long(v, 1, 65535, &n) != 0) {
			ctl_usage_error("-p: bad port '%s' (1-65535)", v);
			return -1;
		}
		a->cfg.port = v;
		break;
	case CTL_OPT_CA:
		a->cfg.ca = v;
		break;
	case CTL_OPT_CERT:
		a->cfg.cert = v;
		break;
	case CTL_OPT_KEY:
		a->cfg.key = v;
		break;
	case CTL_OPT_SIMULATE:
		a->simulate = v;
		a->cfg.hw_ops = &hw_sim_ops;
		break;
	case CTL_OPT_FAIL_RATE:
		if (ctl_parse_double(v, 0, 1, &a->hw.fail_rate) != 0) {
			ctl_usage_error("--fail-rate: bad probability '%s' "
			    "(0.0-1.0)", v);
			return -1;
		}
		break;
	case CTL_OPT_VEND_MS:
		if (ctl_parse_long(v, 0, CTL_VEND_MS_MAX, &n) != 0) {
			ctl_usage_error("--vend-ms: bad duration '%s' (0-%d)",
			    v, CTL_VEND_MS_MAX);
			return -1;
		}
		a->hw.vend_ms = (int)n;
		break;
	case CTL_OPT_TEMP:
		if (ctl_parse_double(v, CTL_TEMP_MIN, CTL_TEMP_MAX,
		    &a->hw.temp_c) != 0) {
			ctl_usage_error("--temp: bad temperature '%s' "
			    "(%.0f to %.0f)", v, CTL_TEMP_MIN, CTL_TEMP_MAX);
			return -1;
		}
		break;
	case CTL_OPT_CARD_FILE:
		a->hw.card_file = v;
		break;
	case CTL_OPT_TEMP_INTERVAL:
		if (ctl_parse_long(v, 1, CTL_TEMP_INTERVAL_MAX, &n) != 0) {
			ctl_usage_error("--temp-interval: bad interval '%s' "
			    "(1-%d seconds)", v, CTL_TEMP_INTERVAL_MAX);
			return -1;
		}
		a->cfg.temp_interval_s = (int)n;
		break;
	}
	return 0;
}

/* The options every run needs, in the order the usage line lists them. */
static int
ctl_check_required(const struct ctl_args *a)
{
	const struct {
		const char *option;
		const char *value;
	} required[] = {
		{ "-H HOST", a->cfg.host },
		{ "-p PORT", a->cfg.port },
		{ "--ca FILE", a->cfg.ca },
		{ "--cert FILE", a->cfg.cert },
		{ "--key FILE", a->cfg.key },
		{ "--simulate SLOTS", a->simulate },
	};
	size_t i;

	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (required[i].value == NULL || *required[i].value == '\0') {
			ctl_usage_error("missing %s", required[i].option);
			return -1;
		}
	}
	return 0;
}

/*
 * Parse argv into a.  Returns CTL_EXIT_USAGE after printing why, or
 * CTL_EXIT_OK with *done set when --help or --version has been answered.
 */
static int
ctl_parse_args(int argc, char **argv, struct ctl_args *a, int *done)
{
	int ch;

	*done = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":H:p:vh", ctl_options,
	    NULL)) != -1) {
		switch (ch) {
		case 'v':
			a->level = LOG_LEVEL_DEBUG;
			break;
		case 'h':
			ctl_usage(stdout);
			*done = 1;
			return CTL_EXIT_OK;
		case CTL_OPT_VERSION:
			printf("drink-machine %s (protocol %d)\n",
			    DRINK_VERSION, DRINK_PROTO);
			*done = 1;
			return CTL_EXIT_OK;
		case ':':
			ctl_usage_error("option '%s' needs a value",
			    argv[optind - 1]);
			return CTL_EXIT_USAGE;
		case '?':
			if (optopt != 0) {
				ctl_usage_error("unknown option '-%c'", optopt);
			} else {
				ctl_usage_error("unknown option '%s'",
				    argv[optind - 1]);
			}
			return CTL_EXIT_USAGE;
		default:
			if (ctl_parse_value(a, ch, optarg) != 0) {
				return CTL_EXIT_USAGE;
			}
			break;
		}
	}
	if (optind < argc) {
		ctl_usage_error("unexpected argument '%s'", argv[optind]);
		return CTL_EXIT_USAGE;
	}
	return ctl_check_required(a) == 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
}

/*
 * OpenSSL's reason for a missing file is "system lib"; say which file and
 * why before handing the paths to it.
 */
static int
ctl_check_files(const struct ctl_config *cfg)
{
	const struct {
		const char *option;
		const char *path;
	} files[] = {
		{ "--ca", cfg->ca },
		{ "--cert", cfg->cert },
		{ "--key", cfg->key },
	};
	size_t i;
	int fd;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if ((fd = open(files[i].path, O_RDONLY | O_CLOEXEC)) == -1) {
			log_err("%s %s: %s", files[i].option, files[i].path,
			    strerror(errno));
			return -1;
		}
		close(fd);
	}
	return 0;
}

static void
ctl_on_signal(int sig)
{
	int saved = errno;
	ssize_t n;

	ctl_signal = sig;
	n = write(ctl_wake[1], "x", 1);
	(void)n;	/* a full pipe is readable already */
	errno = saved;
}

/* No SA_RESTART: a blocked poll() returns EINTR as well. */
static int
ctl_signals(void)
{
	struct sigaction sa;

	if (pipe2(ctl_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = ctl_on_signal;
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0) {
		return -1;
	}
	sa.sa_handler = SIG_IGN;
	return sigaction(SIGPIPE, &sa, NULL);
}

int
ctl_stopping(void)
{
	return ctl_signal != 0;
}

int
ctl_wake_fd(void)
{
	return ctl_wake[0];
}

int
main(int argc, char **argv)
{
	struct ctl_args a = {
		.cfg.temp_interval_s = CTL_DEFAULT_TEMP_INTERVAL,
		.hw = { .fail_rate = 0, .vend_ms = CTL_DEFAULT_VEND_MS,
		    .temp_c = CTL_DEFAULT_TEMP_C },
		.level = LOG_LEVEL_INFO,
	};
	SSL_CTX *ctx = NULL;
	char err[512];
	int st, done;

	if ((st = ctl_parse_args(argc, argv, &a, &done)) != CTL_EXIT_OK ||
	    done) {
		return st;
	}
	switch (a.cfg.hw_ops->open(&a.cfg.hw, a.simulate, &a.hw, err,
	    sizeof(err))) {
	case HW_OPEN_OK:
		break;
	case HW_OPEN_BAD_SPEC:
		ctl_usage_error("--simulate: %s", err);
		return CTL_EXIT_USAGE;
	default:
		fprintf(stderr, "drink-machine: %s: %s\n",
		    a.cfg.hw_ops->name, err);
		return CTL_EXIT_FATAL;
	}
	log_init("drink-machine", 1, a.level);
	if (ctl_signals() != 0) {
		log_err("cannot set up signal handling: %s", strerror(errno));
		st = CTL_EXIT_FATAL;
		goto out;
	}
	srand48((long)time(NULL) ^ ((long)getpid() << 16) ^ (long)now_ms());
	if (ctl_check_files(&a.cfg) != 0) {
		st = CTL_EXIT_FATAL;
		goto out;
	}
	/* The key is this machine's identity: refuse one others can read. */
	if (tls_key_file_private(a.cfg.key, err, sizeof(err)) != 0 ||
	    (ctx = tls_ctx_new(TLS_CLIENT, a.cfg.cert, a.cfg.key, a.cfg.ca,
	    NULL, err, sizeof(err))) == NULL) {
		log_err("%s", err);
		st = CTL_EXIT_FATAL;
		goto out;
	}
	/* The machine port is TLS 1.3 only; never offer less. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	log_info("drink-machine %s: %s, server %s port %s", DRINK_VERSION,
	    a.cfg.hw_ops->name, a.cfg.host, a.cfg.port);
	st = ctl_link_run(&a.cfg, ctx);
	if (st == CTL_EXIT_OK) {
		log_info("stopped by %s", strsignal(ctl_signal));
	}
out:
	SSL_CTX_free(ctx);
	a.cfg.hw_ops->close(a.cfg.hw);
	return st;
}
