/*
 * Logging to syslog (the default for a daemon under a supervisor) or to
 * stderr with a timestamp (-d, tests, command-line tools).  Thread safe:
 * each message is formatted first and written with a single call.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static int log_to_stderr = 1;
static int log_threshold = LOG_LEVEL_INFO;
static atomic_int log_tee;	/* also to stderr while starting */
static const char *log_ident = "drink";
static pid_t log_pid;		/* getpid() is a system call per line */

static const struct {
	const char *name;
	int prio;
} log_levels[] = {
	[LOG_LEVEL_ERR] = { "error", LOG_ERR },
	[LOG_LEVEL_WARN] = { "warning", LOG_WARNING },
	[LOG_LEVEL_INFO] = { "info", LOG_INFO },
	[LOG_LEVEL_DEBUG] = { "debug", LOG_DEBUG },
};

/* A child of fork() logs its own pid. */
static void
log_forked(void)
{
	log_pid = getpid();
}

void
log_init(const char *ident, int to_stderr, int level)
{
	if (log_pid == 0) {
		(void)pthread_atfork(NULL, NULL, log_forked);
	}
	log_pid = getpid();
	log_ident = ident;
	log_to_stderr = to_stderr;
	log_threshold = level;
	if (!to_stderr) {
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	}
}

/*
 * Until drinkd serves, nobody may be reading syslog (or there may be none):
 * a refusal to start must reach the operator's terminal too.
 */
void
log_stderr_too(int on)
{
	log_tee = on;
}

void
log_set_level(int level)
{
	log_threshold = level;
}

int
log_level_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++) {
		if (strcmp(name, log_levels[i].name) == 0) {
			return (int)i;
		}
	}
	return -1;
}

/*
 * The stderr stamp's date and time to the second, formatted once a second
 * per thread (gmtime_r and strftime are most of a line's cost).
 */
static void
log_stamp(time_t sec, char *buf, size_t len)
{
	static __thread time_t last = -1;
	static __thread char text[24];
	struct tm tm;

	if (sec != last) {
		gmtime_r(&sec, &tm);
		strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
		last = sec;
	}
	snprintf(buf, len, "%s", text);
}

/*
 * One line, one write(2): dprintf would also fstat and lseek the
 * descriptor and allocate a buffer for every line.  A message too long
 * for the buffer is cut, still ending in a newline.
 */
static void
log_write(char *line, int n, size_t cap)
{
	size_t len = n < 0 ? 0 : (size_t)n;
	ssize_t w;

	if (len >= cap) {
		len = cap - 1;
		line[len - 1] = '\n';
	}
	w = write(STDERR_FILENO, line, len);
	(void)w;
}

static void
log_vmsg(int level, const char *fmt, va_list ap)
{
	char msg[1024], line[1200], stamp[24];
	struct timespec ts;

	if (level > log_threshold) {
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!log_to_stderr) {
		syslog(log_levels[level].prio, "%s", msg);
		if (log_tee && level <= LOG_LEVEL_WARN) {
			log_write(line, snprintf(line, sizeof(line), "%s: %s\n",
			    log_ident, msg), sizeof(line));
		}
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	log_stamp(ts.tv_sec, stamp, sizeof(stamp));
	log_write(line, snprintf(line, sizeof(line), "%s.%03ldZ %s[%d] %s: "
	    "%s\n", stamp, ts.tv_nsec / 1000000, log_ident,
	    (int)(log_pid != 0 ? log_pid : getpid()),
	    log_levels[level].name, msg), sizeof(line));
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

void
assert_fail(const char *expr, const char *file, int line)
{
	log_msg(LOG_LEVEL_ERR, "%s:%d: assertion failed: %s", file, line,
	    expr);
	/* syslog may be the only log: make sure the line is on stderr too. */
	if (!log_to_stderr) {
		dprintf(STDERR_FILENO, "%s: %s:%d: assertion failed: %s\n",
		    log_ident, file, line, expr);
	}
	abort();
}
