/*
 * Running the programs under test as a user would: drink and drink-machine
 * with an environment of the test's choosing, their output captured, on a
 * pipe or on a pseudo-terminal.  Every wait has a deadline; a process the
 * test leaves behind is killed when it is freed.
 */
#ifndef DRINK_RUN_H
#define DRINK_RUN_H

#include <stdint.h>
#include <sys/types.h>

/* $BUILD/name (build/ by default) as an absolute path; caller frees. */
char *run_bin(const char *name);

struct run_result {
	int status;	/* exit code, 128 + signal, or -1 */
	char *out;	/* standard output, NUL-terminated */
	char *err;	/* standard error */
};
/*
 * Run argv with exactly the environment envp (NULL-ended), input (may be
 * NULL) on standard input and no controlling terminal; killed after
 * timeout_ms.  stdout_path, when not NULL, replaces the captured standard
 * output (e.g. "/dev/full").
 */
void run_prog(const char *const argv[], const char *const envp[], const char *input,
    const char *stdout_path, int64_t timeout_ms, struct run_result *r);
void run_result_free(struct run_result *r);

/* A background process, output (both streams) to log_path. */
pid_t run_spawn(const char *const argv[], const char *const envp[], const char *log_path);
/* Wait up to timeout_ms; exit code, 128 + signal, or -2 on timeout. */
int run_wait(pid_t pid, int64_t timeout_ms);
/* SIGKILL and reap, if still running. */
void run_kill(pid_t pid);

/* A program on a pseudo-terminal of 80x24, TERM as envp says. */
struct run_pty {
	pid_t pid;
	int fd;
	char *buf;	/* everything the program wrote, NUL-terminated */
	size_t len, cap;
	size_t mark;	/* run_pty_expect searches from here */
};
struct run_pty *run_pty_start(const char *const argv[], const char *const envp[]);
void run_pty_send(struct run_pty *p, const char *bytes);
/*
 * Read until the output after the mark contains needle; then move the
 * mark past it.  1, or 0 after timeout_ms.
 */
int run_pty_expect(struct run_pty *p, const char *needle, int64_t timeout_ms);
/*
 * Wait until the program has put its terminal in raw mode (a line editor
 * waiting for keys), reading its output meanwhile: 1, or 0 on timeout.
 */
int run_pty_wait_raw(struct run_pty *p, int64_t timeout_ms);
/* Read what arrives for ms milliseconds. */
void run_pty_drain(struct run_pty *p, int64_t ms);
/* Wait for the program to exit (reading its output); as run_wait. */
int run_pty_wait(struct run_pty *p, int64_t timeout_ms);
void run_pty_free(struct run_pty *p);

#endif
