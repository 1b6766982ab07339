/*
 * Processes for the client and controller suites: fork, exec, capture,
 * wait with a deadline.  See run.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common.h"
#include "run.h"

/* execve's prototype predates const; the strings are not changed. */
static char *const *
run_unconst(const char *const *v)
{
	union {
		const char *const *c;
		char *const *m;
	} u = { .c = v };

	return u.m;
}

char *
run_bin(const char *name)
{
	const char *build = getenv("BUILD");
	char cwd[4096];

	if (build == NULL || build[0] == '\0') {
		build = "build";
	}
	if (build[0] == '/') {
		return xasprintf("%s/%s", build, name);
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		return xasprintf("%s/%s", build, name);
	}
	return xasprintf("%s/%s/%s", cwd, build, name);
}

static int
run_status(int ws)
{
	if (WIFEXITED(ws)) {
		return WEXITSTATUS(ws);
	}
	if (WIFSIGNALED(ws)) {
		return 128 + WTERMSIG(ws);
	}
	return -1;
}

int
run_wait(pid_t pid, int64_t timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int ws;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &ws, WNOHANG);
		if (r == pid) {
			return run_status(ws);
		}
		if (r < 0 && errno != EINTR) {
			return -1;
		}
		if (now_ms() >= deadline) {
			return -2;
		}
		usleep(10000);
	}
}

void
run_kill(pid_t pid)
{
	if (pid > 0 && kill(pid, SIGKILL) == 0) {
		(void)waitpid(pid, NULL, 0);
	}
}

static char *
run_slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	long n;

	if (fp == NULL) {
		return xstrdup("");
	}
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = xmalloc((size_t)(n > 0 ? n : 0) + 1);
	n = (long)fread(buf, 1, (size_t)(n > 0 ? n : 0), fp);
	buf[n > 0 ? n : 0] = '\0';
	fclose(fp);
	return buf;
}

static void
run_redirect(const char *path, int fd, int flags)
{
	int f = open(path, flags, 0600);

	if (f < 0 || dup2(f, fd) < 0) {
		_exit(126);
	}
	close(f);
}

void
run_prog(const char *const argv[], const char *const envp[], const char *input,
    const char *stdout_path, int64_t timeout_ms, struct run_result *r)
{
	char dir[] = "/tmp/drink-run.XXXXXX", *in, *out, *err;
	pid_t pid;
	FILE *fp;

	memset(r, 0, sizeof(*r));
	if (mkdtemp(dir) == NULL) {
		r->status = -1;
		r->out = xstrdup("");
		r->err = xstrdup(strerror(errno));
		return;
	}
	in = xasprintf("%s/in", dir);
	out = xasprintf("%s/out", dir);
	err = xasprintf("%s/err", dir);
	if ((fp = fopen(in, "w")) != NULL) {
		fputs(input != NULL ? input : "", fp);
		fclose(fp);
	}
	if ((pid = fork()) == 0) {
		setsid();	/* no controlling terminal: no /dev/tty */
		run_redirect(in, STDIN_FILENO, O_RDONLY);
		run_redirect(stdout_path != NULL ? stdout_path : out,
		    STDOUT_FILENO, O_WRONLY | O_CREAT | O_TRUNC);
		run_redirect(err, STDERR_FILENO, O_WRONLY | O_CREAT | O_TRUNC);
		execve(argv[0], run_unconst(argv), run_unconst(envp));
		_exit(127);
	}
	r->status = pid < 0 ? -1 : run_wait(pid, timeout_ms);
	if (r->status == -2) {
		run_kill(pid);
	}
	r->out = run_slurp(out);
	r->err = run_slurp(err);
	unlink(in);
	unlink(out);
	unlink(err);
	rmdir(dir);
	free(in);
	free(out);
	free(err);
}

void
run_result_free(struct run_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

pid_t
run_spawn(const char *const argv[], const char *const envp[], const char *log_path)
{
	pid_t pid = fork();

	if (pid == 0) {
		setsid();
		run_redirect("/dev/null", STDIN_FILENO, O_RDONLY);
		run_redirect(log_path, STDOUT_FILENO,
		    O_WRONLY | O_CREAT | O_APPEND);
		dup2(STDOUT_FILENO, STDERR_FILENO);
		execve(argv[0], run_unconst(argv), run_unconst(envp));
		_exit(127);
	}
	return pid;
}

struct run_pty *
run_pty_start(const char *const argv[], const char *const envp[])
{
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	struct run_pty *p = xcalloc(1, sizeof(*p));

	p->cap = 4096;
	p->buf = xmalloc(p->cap);
	p->buf[0] = '\0';
	p->pid = forkpty(&p->fd, NULL, NULL, &ws);
	if (p->pid == 0) {
		execve(argv[0], run_unconst(argv), run_unconst(envp));
		_exit(127);
	}
	if (p->pid > 0) {
		fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
	}
	return p;
}

void
run_pty_send(struct run_pty *p, const char *bytes)
{
	size_t n = strlen(bytes), off = 0;
	ssize_t w;

	while (off < n) {
		w = write(p->fd, bytes + off, n - off);
		if (w > 0) {
			off += (size_t)w;
		} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
			return;
		} else {
			usleep(1000);
		}
	}
}

/* Read what is there within ms; -1 once the program's side is closed. */
static int
run_pty_read(struct run_pty *p, int64_t ms)
{
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	char chunk[4096];
	ssize_t n;

	if (poll(&pfd, 1, (int)(ms > 0 ? ms : 0)) <= 0) {
		return 0;
	}
	n = read(p->fd, chunk, sizeof(chunk));
	if (n <= 0) {
		return n < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	}
	while (p->len + (size_t)n + 1 > p->cap) {
		p->cap *= 2;
		p->buf = xreallocarray(p->buf, p->cap, 1);
	}
	memcpy(p->buf + p->len, chunk, (size_t)n);
	p->len += (size_t)n;
	p->buf[p->len] = '\0';
	return 1;
}

int
run_pty_expect(struct run_pty *p, const char *needle, int64_t timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	const char *hit;

	for (;;) {
		if ((hit = strstr(p->buf + p->mark, needle)) != NULL) {
			p->mark = (size_t)(hit - p->buf) + strlen(needle);
			return 1;
		}
		if (now_ms() >= deadline ||
		    run_pty_read(p, deadline - now_ms()) < 0) {
			return strstr(p->buf + p->mark, needle) != NULL;
		}
	}
}

void
run_pty_drain(struct run_pty *p, int64_t ms)
{
	int64_t deadline = now_ms() + ms;

	while (now_ms() < deadline && run_pty_read(p, deadline - now_ms()) >=
	    0) {
		continue;
	}
}

int
run_pty_wait(struct run_pty *p, int64_t timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int st;

	for (;;) {
		st = run_wait(p->pid, 0);
		if (st != -2) {
			run_pty_drain(p, 50);
			p->pid = 0;
			return st;
		}
		if (now_ms() >= deadline) {
			return -2;
		}
		(void)run_pty_read(p, 20);
	}
}

void
run_pty_free(struct run_pty *p)
{
	if (p == NULL) {
		return;
	}
	run_kill(p->pid);
	if (p->fd >= 0) {
		close(p->fd);
	}
	free(p->buf);
	free(p);
}

int
run_pty_wait_raw(struct run_pty *p, int64_t timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct termios t;

	/* On Linux the master reports the slave's line discipline. */
	while (tcgetattr(p->fd, &t) == 0 && (t.c_lflag & ICANON)) {
		if (now_ms() >= deadline) {
			return 0;
		}
		(void)run_pty_read(p, 10);
	}
	return 1;
}
