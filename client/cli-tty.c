/*
 * Passwords: from the environment (scripts, tests) or typed on the
 * controlling terminal with echo off.  /dev/tty rather than stdin, so a
 * shell reading commands from a pipe can still ask.  A signal while echo
 * is off restores the terminal before it takes effect.  Also Ctrl-C held
 * off while a drop is in flight, and, in the interactive shell, Ctrl-C
 * ending the command that asks or watches rather than the shell.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t cli_tty_signo;

/*
 * Set by the interactive shell: Ctrl-C at a password or confirmation
 * prompt, or during "watch", ends that command and the shell goes on.
 * Elsewhere it ends drink, as a person expects of a one-shot command.
 */
static int cli_tty_shell;

/* Written to by the SIGINT handler while watching from the shell. */
static int cli_tty_wake[2] = { -1, -1 };
static struct sigaction cli_tty_watch_old;
static int cli_tty_watching;

static const int cli_tty_signals[] = { SIGINT, SIGHUP, SIGQUIT, SIGTERM };
#define CLI_TTY_NSIGNALS (sizeof(cli_tty_signals) / sizeof(cli_tty_signals[0]))

void
cli_tty_wipe(void *buf, size_t len)
{
	explicit_bzero(buf, len);
}

static void
cli_tty_catch(int signo)
{
	cli_tty_signo = signo;
}

/* Ends a prompt's line that no typed newline ended (Ctrl-C, Ctrl-D). */
static void
cli_tty_newline(int fd)
{
	if (write(fd, "\n", 1) < 0) {
		/* The message that follows says it all the same. */
	}
}

/*
 * Read one line from fd into buf, a byte at a time so nothing after the
 * newline is consumed.  -1 on end of file or a signal, 1 for a line that
 * does not fit.  A signal caught just before read() began would leave it
 * waiting for a key: read() is entered only once poll() says a byte is
 * there, and poll() wakes every CLI_TTY_POLL_MS to look at the flag.
 */
#define CLI_TTY_POLL_MS 200

static int
cli_tty_read_line(int fd, char *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t n = 0;
	int toolong = 0, rc;
	ssize_t r;
	char c;

	for (;;) {
		if (cli_tty_signo != 0) {
			return -1;
		}
		rc = poll(&pfd, 1, CLI_TTY_POLL_MS);
		if (rc < 0 && errno != EINTR) {
			return -1;
		}
		if (rc <= 0) {
			continue;
		}
		r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR && cli_tty_signo == 0) {
			continue;
		}
		if (r <= 0 || cli_tty_signo != 0) {
			return -1;
		}
		if (c == '\n') {
			break;
		}
		if (n + 1 < len) {
			buf[n++] = c;
		} else {
			toolong = 1;
		}
	}
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\r') {
		buf[--n] = '\0';
	}
	return toolong ? 1 : 0;
}

/* Prompt on the terminal and read a line with echo off. */
static int
cli_tty_ask(const char *env, const char *prompt, char *buf, size_t len)
{
	struct sigaction sa, old_sa[CLI_TTY_NSIGNALS];
	struct termios old, quiet;
	size_t i;
	int fd, st;

	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1 ||
	    tcgetattr(fd, &old) != 0) {
		cli_error("no terminal to ask for a password on (%s); set %s",
		    strerror(errno), env);
		if (fd != -1) {
			close(fd);
		}
		return -1;
	}
	/* No SA_RESTART: the read must return so echo can come back. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cli_tty_catch;
	sigemptyset(&sa.sa_mask);
	cli_tty_signo = 0;
	for (i = 0; i < CLI_TTY_NSIGNALS; i++) {
		sigaction(cli_tty_signals[i], &sa, &old_sa[i]);
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	(void)tcsetattr(fd, TCSAFLUSH, &quiet);
	if (write(fd, prompt, strlen(prompt)) < 0) {
		/* A lost prompt is no reason not to read the answer. */
	}
	st = cli_tty_read_line(fd, buf, len);
	(void)tcsetattr(fd, TCSAFLUSH, &old);
	for (i = 0; i < CLI_TTY_NSIGNALS; i++) {
		sigaction(cli_tty_signals[i], &old_sa[i], NULL);
	}
	if (cli_tty_signo == SIGINT && cli_tty_shell) {
		/* Echo is off: nothing ended the prompt's line. */
		cli_tty_newline(fd);
		close(fd);
		cli_tty_wipe(buf, len);
		cli_error("interrupted; nothing done");
		return -1;
	}
	/* Nor did Ctrl-D: "no password read" below gets a line of its own. */
	if (st < 0 && cli_tty_signo == 0) {
		cli_tty_newline(fd);
	}
	close(fd);
	if (cli_tty_signo != 0) {
		cli_tty_wipe(buf, len);
		raise(cli_tty_signo);
	}
	if (st != 0) {
		cli_tty_wipe(buf, len);
		/* Ctrl-D is not a password too long. */
		if (st > 0) {
			cli_error("the password is longer than %zu bytes",
			    len - 1);
		} else {
			cli_error("no password read");
		}
		return -1;
	}
	return 0;
}

int
cli_tty_confirm(const char *name, const char *words)
{
	struct sigaction sa, old_sa;
	char answer[16];
	int fd, st;

	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1) {
		cli_error("%s: this cannot be undone, and there is no terminal "
		    "to confirm on; add --yes", name);
		return CLI_EXIT_USAGE;
	}
	/* In the shell, Ctrl-C is a no: the read returns, the shell goes on. */
	cli_tty_signo = 0;
	if (cli_tty_shell) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = cli_tty_catch;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, &old_sa);
	}
	dprintf(fd, "%s %s: are you sure? [y/N] ", name, words);
	st = cli_tty_read_line(fd, answer, sizeof(answer));
	if (cli_tty_shell) {
		sigaction(SIGINT, &old_sa, NULL);
	}
	/* Ctrl-C or Ctrl-D ended no line: the answer gets its own. */
	if (st < 0) {
		cli_tty_newline(fd);
	}
	close(fd);
	if (st == 0 && (strcmp(answer, "y") == 0 ||
	    strcmp(answer, "yes") == 0 || strcmp(answer, "Y") == 0)) {
		return CLI_EXIT_OK;
	}
	cli_error("%s: not confirmed; nothing done", name);
	return CLI_EXIT_USAGE;
}

int
cli_tty_password(const char *env, const char *prompt, int confirm, char *buf,
    size_t len)
{
	char again[PROTO_PASSWORD_MAX + 1];
	const char *v;
	int st = 0;

	if ((v = getenv(env)) != NULL) {
		if (strlen(v) >= len) {
			cli_error("%s is longer than %zu bytes", env, len - 1);
			return -1;
		}
		memcpy(buf, v, strlen(v) + 1);
		return 0;
	}
	if (cli_tty_ask(env, prompt, buf, len) != 0) {
		return -1;
	}
	if (!confirm) {
		return 0;
	}
	if (cli_tty_ask(env, "Retype it: ", again, sizeof(again)) != 0) {
		st = -1;
	} else if (strcmp(buf, again) != 0) {
		cli_error("the passwords do not match");
		st = -1;
	}
	cli_tty_wipe(again, sizeof(again));
	if (st != 0) {
		cli_tty_wipe(buf, len);
	}
	return st;
}

/*
 * The held-off Ctrl-C: the handler writes the prepared text itself
 * (write(2) is async-signal-safe), so the wait for the reply goes on
 * undisturbed.  The second restores the old action and raises the signal
 * again; it is blocked inside the handler, so it takes effect on return.
 */
static struct {
	char text[2][256];
	size_t len[2];
	struct sigaction old;
	volatile sig_atomic_t seen;
	int held;
} cli_tty_hold;

static void
cli_tty_hold_catch(int signo)
{
	int i = cli_tty_hold.seen > 0;
	ssize_t w;

	w = write(STDERR_FILENO, cli_tty_hold.text[i], cli_tty_hold.len[i]);
	(void)w;
	cli_tty_hold.seen++;
	if (i == 1) {
		sigaction(SIGINT, &cli_tty_hold.old, NULL);
		raise(signo);
	}
}

void
cli_tty_hold_interrupt(const char *first, const char *second)
{
	struct sigaction sa;
	const char *nl = isatty(STDERR_FILENO) ? "\n" : "";
	const char *what[2] = { first, second };
	int i;

	if (cli_tty_hold.held) {
		return;
	}
	/* On a terminal, off the countdown line and the echoed ^C. */
	for (i = 0; i < 2; i++) {
		snprintf(cli_tty_hold.text[i], sizeof(cli_tty_hold.text[i]),
		    "%sdrink: %s\n", nl, what[i]);
		cli_tty_hold.len[i] = strlen(cli_tty_hold.text[i]);
	}
	cli_tty_hold.seen = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cli_tty_hold_catch;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGINT, &sa, &cli_tty_hold.old) == 0) {
		cli_tty_hold.held = 1;
	}
}

void
cli_tty_release_interrupt(void)
{
	if (!cli_tty_hold.held) {
		return;
	}
	sigaction(SIGINT, &cli_tty_hold.old, NULL);
	cli_tty_hold.held = 0;
}

void
cli_tty_set_shell(int shell)
{
	cli_tty_shell = shell;
}

static void
cli_tty_watch_catch(int signo)
{
	ssize_t w;

	(void)signo;
	w = write(cli_tty_wake[1], "", 1);
	(void)w;
}

/* Empty the wake pipe, so an old Ctrl-C does not end the next watch. */
static void
cli_tty_watch_drain(void)
{
	char junk[64];

	while (read(cli_tty_wake[0], junk, sizeof(junk)) > 0) {
		continue;
	}
}

int
cli_tty_watch_interrupt(void)
{
	struct sigaction sa;

	if (!cli_tty_shell || cli_tty_watching) {
		return -1;
	}
	if (cli_tty_wake[0] == -1 && pipe2(cli_tty_wake, O_CLOEXEC |
	    O_NONBLOCK) != 0) {
		cli_tty_wake[0] = cli_tty_wake[1] = -1;
		return -1;
	}
	cli_tty_watch_drain();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cli_tty_watch_catch;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGINT, &sa, &cli_tty_watch_old) != 0) {
		return -1;
	}
	cli_tty_watching = 1;
	return cli_tty_wake[0];
}

void
cli_tty_watch_release(void)
{
	if (!cli_tty_watching) {
		return;
	}
	sigaction(SIGINT, &cli_tty_watch_old, NULL);
	cli_tty_watch_drain();
	cli_tty_watching = 0;
}
