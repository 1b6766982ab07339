/*
 * The simulated tini board; see tini-board.h.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "legacy.h"
#include "tini-board.h"

#define TINI_BOARD_VEND_MS 300	/* a real board takes about 3 s */

struct tini_board {
	pid_t socat;
	int fd;
	pthread_t thread;
	pthread_mutex_t lock;	/* guards the fields below */
	int vends;
	int jam;
	int stop;
};

/* A loopback port that was free a moment ago. */
static int
tini_board_free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0) {
		port = ntohs(sin.sin_port);
	}
	if (fd >= 0) {
		close(fd);
	}
	return port;
}

/* One line from the server into buf (without "\n"); -1 on close/time. */
static int
tini_board_line(struct tini_board *tb, char *buf, size_t len, int ms)
{
	struct pollfd pfd = { .fd = tb->fd, .events = POLLIN };
	size_t n = 0;
	ssize_t r;

	while (n + 1 < len) {
		if (poll(&pfd, 1, ms) <= 0) {
			return -1;
		}
		if ((r = read(tb->fd, buf + n, 1)) <= 0) {
			return -1;
		}
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return 0;
		}
		n++;
	}
	return -1;
}

static void
tini_board_say(struct tini_board *tb, const char *text)
{
	ssize_t r = write(tb->fd, text, strlen(text));

	(void)r;
}

static int
tini_board_stopping(struct tini_board *tb)
{
	int stop;

	pthread_mutex_lock(&tb->lock);
	stop = tb->stop;
	pthread_mutex_unlock(&tb->lock);
	return stop;
}

/* The firmware's loop: answer 6 and 3, keep alive every second. */
static void *
tini_board_main(void *arg)
{
	struct tini_board *tb = arg;
	char line[64];
	int jam;

	while (!tini_board_stopping(tb)) {
		if (tini_board_line(tb, line, sizeof(line), 1000) != 0) {
			tini_board_say(tb, "9\n");
			continue;
		}
		if (strcmp(line, "6") == 0) {
			tini_board_say(tb, "71 1`2 0`3 1\n");
		} else if (line[0] == '3') {
			pthread_mutex_lock(&tb->lock);
			tb->vends++;
			jam = tb->jam;
			tb->jam = 0;
			pthread_mutex_unlock(&tb->lock);
			usleep(TINI_BOARD_VEND_MS * 1000);
			tini_board_say(tb, jam ? "5\n" : "4\n");
			tini_board_say(tb, "71 1`2 0`3 1\n");
		}
	}
	return NULL;
}

struct tini_board *
tini_board_start(struct h_server *srv, const char *cert,
    const char *password)
{
	struct tini_board *tb = xcalloc(1, sizeof(*tb));
	char *from, *to, *crt, *key, *ca, line[64];
	int port = tini_board_free_port(), tries;
	struct sockaddr_in sin = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	pthread_mutex_init(&tb->lock, NULL);
	tb->fd = -1;
	crt = xasprintf("%s.crt", cert);
	key = xasprintf("%s.key", cert);
	{
		char *c = h_cert_path(crt), *k = h_cert_path(key);

		free(crt);
		free(key);
		crt = c;
		key = k;
	}
	ca = h_cert_path("ca.crt");
	from = xasprintf("TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr", port);
	to = xasprintf("OPENSSL:localhost:%d,cert=%s,key=%s,cafile=%s",
	    lg_port(srv, "tini_listen"), crt, key, ca);
	if ((tb->socat = fork()) == 0) {
		execlp("socat", "socat", from, to, (char *)NULL);
		_exit(127);
	}
	free(from);
	free(to);
	free(crt);
	free(key);
	free(ca);
	sin.sin_port = htons((uint16_t)port);
	for (tries = 0; tries < 100; tries++) {
		tb->fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(tb->fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
			break;
		}
		close(tb->fd);
		tb->fd = -1;
		usleep(50 * 1000);
	}
	if (tb->fd < 0) {
		tini_board_stop(tb);
		return NULL;
	}
	snprintf(line, sizeof(line), "0%s\n", password);
	tini_board_say(tb, line);
	if (tini_board_line(tb, line, sizeof(line), 10000) != 0 ||
	    strcmp(line, "1") != 0) {
		tini_board_stop(tb);
		return NULL;
	}
	pthread_create(&tb->thread, NULL, tini_board_main, tb);
	return tb;
}

void
tini_board_jam_next(struct tini_board *tb)
{
	pthread_mutex_lock(&tb->lock);
	tb->jam = 1;
	pthread_mutex_unlock(&tb->lock);
}

int
tini_board_vends(struct tini_board *tb)
{
	int n;

	pthread_mutex_lock(&tb->lock);
	n = tb->vends;
	pthread_mutex_unlock(&tb->lock);
	return n;
}

void
tini_board_stop(struct tini_board *tb)
{
	int status;

	if (tb->thread != 0) {
		pthread_mutex_lock(&tb->lock);
		tb->stop = 1;
		pthread_mutex_unlock(&tb->lock);
		pthread_join(tb->thread, NULL);
	}
	if (tb->fd >= 0) {
		close(tb->fd);
	}
	if (tb->socat > 0) {
		kill(tb->socat, SIGTERM);
		(void)waitpid(tb->socat, &status, 0);
	}
	pthread_mutex_destroy(&tb->lock);
	free(tb);
}
