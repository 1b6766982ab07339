/*
 * A storage fault for the tests, loaded into drinkd with LD_PRELOAD.
 * While the file named by $DRINK_FAULT_FILE exists, writes of the
 * database and its write-ahead log (files ending in ".db" or "-wal")
 * fail: with ENOSPC when the file says "full", else with EIO.  When it
 * says "sync", the writes succeed and their syncs (fsync, fdatasync)
 * fail with EIO instead: the kernel could not write back what it took.
 * When it says "slow", every sync takes a second more, and then writes
 * the time (CLOCK_REALTIME, ns) into $DRINK_FAULT_FILE.synced; when it
 * says "slowfail", every sync creates $DRINK_FAULT_FILE.syncing, takes a
 * second, and fails with EIO.  When it says "noreserve", only reserving
 * space (fallocate) fails, with ENOSPC; "eio" and "full" fail it as they
 * fail writes.  When it says "read", only reads of those files (read,
 * pread, pread64) fail, with EIO: a disk that can no longer give back
 * what it holds (SQLite calls that a malformed database); every other
 * kind leaves reads alone.  When it says "nothread", files are left
 * alone and no thread can be started: pthread_create fails with EAGAIN,
 * as it does when a system runs out of tasks.  When it says "noipv6",
 * files are left alone and socket(AF_INET6, ...) fails with
 * EAFNOSUPPORT, as on a kernel booted with ipv6.disable=1.  Everything else, the
 * answers file included, works as usual.  Apart from all that, $DRINK_FAULT_HOLD holds the reads
 * of the one process given it (see fault_hold), and $DRINK_FAULT_FILE.hold
 * the writes to one client (see fault_hold_peer).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

ssize_t pread(int fd, void *buf, size_t n, off_t off);
ssize_t pread64(int fd, void *buf, size_t n, off_t off);
ssize_t read(int fd, void *buf, size_t n);
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off);
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off);
ssize_t write(int fd, const void *buf, size_t n);
int fdatasync(int fd);
int fsync(int fd);
int fallocate(int fd, int mode, off_t off, off_t len);
int fallocate64(int fd, int mode, off_t off, off_t len);

enum fault_op { FAULT_READ, FAULT_WRITE, FAULT_SYNC, FAULT_RESERVE };

/* Write the time (CLOCK_REALTIME, ns) into flag followed by suffix. */
static void
fault_mark(const char *flag, const char *suffix)
{
	char path[4200];
	struct timespec ts;
	FILE *f;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(path, sizeof(path), "%s%s", flag, suffix);
	if ((f = fopen(path, "w")) != NULL) {
		fprintf(f, "%lld\n", (long long)ts.tv_sec * 1000000000LL +
		    ts.tv_nsec);
		fclose(f);
	}
}

/* A second's pause, as a slow disk's sync. */
static void
fault_pause(void)
{
	(void)nanosleep(&(struct timespec){ .tv_sec = 1 }, NULL);
}

/* 1 when fd is open on a database or its write-ahead log. */
static int
fault_db_fd(int fd)
{
	char link[64], path[4096];
	ssize_t n;
	size_t len;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) <= 0) {
		return 0;
	}
	path[n] = '\0';
	len = (size_t)n;
	return (len > 3 && strcmp(path + len - 3, ".db") == 0) ||
	    (len > 4 && strcmp(path + len - 4, "-wal") == 0);
}

/*
 * $DRINK_FAULT_HOLD, in the one process given it: while the file it
 * names exists, a read of the database through SQLite (pread) waits (up
 * to a minute), once $DRINK_FAULT_HOLD.reading has been created to say
 * so.  A test holds a reader there while it does something beside it.
 * drinkd's own look at the file's header (read) is not held: the reader
 * is held where SQLite reads the pages.
 */
static void
fault_hold(int fd)
{
	const char *hold = getenv("DRINK_FAULT_HOLD");
	int i;

	if (hold == NULL || access(hold, F_OK) != 0 || !fault_db_fd(fd)) {
		return;
	}
	fault_mark(hold, ".reading");
	for (i = 0; i < 6000 && access(hold, F_OK) == 0; i++) {
		(void)nanosleep(&(struct timespec){ .tv_nsec = 10000000 },
		    NULL);
	}
}

/*
 * $DRINK_FAULT_FILE.hold, while it exists and names a port: once a write
 * to a socket whose peer has that port is made, the thread that made it
 * waits (up to a minute), after creating $DRINK_FAULT_FILE.held to say
 * so.  A test holds the thread that serves one of its clients just after
 * a reply, or an event a waiting request pumps, was written, while it
 * does something beside it.  Only a write begun once the hold was set
 * is held: the client may read a reply, and set the hold, before the
 * write that sent it has returned (fault_hold_peer, then
 * fault_hold_wait after the write).
 */
static int
fault_hold_peer(int fd)
{
	const char *flag = getenv("DRINK_FAULT_FILE");
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char path[4200];
	int port = 0, peer;
	FILE *f;

	/* Not a socket (the log, the held mark itself): never held. */
	if (flag == NULL || getpeername(fd, (struct sockaddr *)&ss,
	    &sl) != 0) {
		return 0;
	}
	if (ss.ss_family == AF_INET) {
		peer = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		peer = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		return 0;
	}
	snprintf(path, sizeof(path), "%s.hold", flag);
	if ((f = fopen(path, "r")) == NULL) {
		return 0;
	}
	if (fscanf(f, "%d", &port) != 1) {
		port = 0;
	}
	fclose(f);
	return port == peer;
}

/* The write fault_hold_peer said to hold was made: wait while held. */
static void
fault_hold_wait(void)
{
	const char *flag = getenv("DRINK_FAULT_FILE");
	char path[4200];
	int i;

	snprintf(path, sizeof(path), "%s.hold", flag);
	fault_mark(flag, ".held");
	for (i = 0; i < 6000 && access(path, F_OK) == 0; i++) {
		(void)nanosleep(&(struct timespec){ .tv_nsec = 10000000 },
		    NULL);
	}
}

/* The fault $DRINK_FAULT_FILE names; 0 when there is none. */
static int
fault_kind(char *kind, size_t len)
{
	const char *flag = getenv("DRINK_FAULT_FILE");
	FILE *f;

	kind[0] = '\0';
	if (flag == NULL || access(flag, F_OK) != 0) {
		return 0;
	}
	if ((f = fopen(flag, "r")) != NULL) {
		if (fgets(kind, (int)len, f) == NULL) {
			kind[0] = '\0';
		}
		fclose(f);
	}
	return 1;
}

/* 0, or the errno to fail op on fd with. */
static int
fault_errno(int fd, enum fault_op op)
{
	const char *flag = getenv("DRINK_FAULT_FILE");
	char kind[16];
	int sync = op == FAULT_SYNC;

	if (!fault_kind(kind, sizeof(kind)) ||
	    strncmp(kind, "nothread", 8) == 0 ||
	    strncmp(kind, "noipv6", 6) == 0 || !fault_db_fd(fd)) {
		return 0;
	}
	if (strncmp(kind, "read", 4) == 0) {
		return op == FAULT_READ ? EIO : 0;
	}
	if (op == FAULT_READ) {
		return 0;
	}
	if (strncmp(kind, "noreserve", 9) == 0) {
		return op == FAULT_RESERVE ? ENOSPC : 0;
	}
	if (strncmp(kind, "sync", 4) == 0) {
		return sync ? EIO : 0;
	}
	if (strncmp(kind, "slowfail", 8) == 0) {
		if (sync) {
			fault_mark(flag, ".syncing");
			fault_pause();
		}
		return sync ? EIO : 0;
	}
	if (strncmp(kind, "slow", 4) == 0) {
		if (sync) {
			fault_pause();
			fault_mark(flag, ".synced");
		}
		return 0;
	}
	if (sync) {
		return 0;
	}
	return strncmp(kind, "full", 4) == 0 ? ENOSPC : EIO;
}

typedef ssize_t (*fault_pread_fn)(int, void *, size_t, off_t);
typedef ssize_t (*fault_read_fn)(int, void *, size_t);
typedef ssize_t (*fault_pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*fault_write_fn)(int, const void *, size_t);
typedef int (*fault_sync_fn)(int);

/* The next definition of name (libc's), looked up once. */
static void *
fault_real(void **cache, const char *name)
{
	if (*cache == NULL) {
		*cache = dlsym(RTLD_NEXT, name);
	}
	return *cache;
}

ssize_t
pread(int fd, void *buf, size_t n, off_t off)
{
	static void *real;
	int e = (fault_hold(fd), fault_errno(fd, FAULT_READ));

	if (e != 0) {
		errno = e;
		return -1;
	}
	return ((fault_pread_fn)fault_real(&real, "pread"))(fd, buf, n, off);
}

ssize_t
pread64(int fd, void *buf, size_t n, off_t off)
{
	static void *real;
	int e = (fault_hold(fd), fault_errno(fd, FAULT_READ));

	if (e != 0) {
		errno = e;
		return -1;
	}
	return ((fault_pread_fn)fault_real(&real, "pread64"))(fd, buf, n,
	    off);
}

ssize_t
read(int fd, void *buf, size_t n)
{
	static void *real;
	int e = fault_errno(fd, FAULT_READ);

	if (e != 0) {
		errno = e;
		return -1;
	}
	return ((fault_read_fn)fault_real(&real, "read"))(fd, buf, n);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	static void *real;
	int e = fault_errno(fd, FAULT_WRITE);

	if (e != 0) {
		errno = e;
		return -1;
	}
	return ((fault_pwrite_fn)fault_real(&real, "pwrite"))(fd, buf, n, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	static void *real;
	int e = fault_errno(fd, FAULT_WRITE);

	if (e != 0) {
		errno = e;
		return -1;
	}
	return ((fault_pwrite_fn)fault_real(&real, "pwrite64"))(fd, buf, n,
	    off);
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	static void *real;
	int e = fault_errno(fd, FAULT_WRITE), held;
	ssize_t r;

	if (e != 0) {
		errno = e;
		return -1;
	}
	held = fault_hold_peer(fd);
	r = ((fault_write_fn)fault_real(&real, "write"))(fd, buf, n);
	e = errno;
	if (held) {
		fault_hold_wait();
	}
	errno = e;
	return r;
}

int
fdatasync(int fd)
{
	static void *real;
	int e = fault_errno(fd, FAULT_SYNC);

	if (e != 0) {
		errno = e;
		return -1;
	}
	return ((fault_sync_fn)fault_real(&real, "fdatasync"))(fd);
}

int
fsync(int fd)
{
	static void *real;
	int e = fault_errno(fd, FAULT_SYNC);

	if (e != 0) {
		errno = e;
		return -1;
	}
	return ((fault_sync_fn)fault_real(&real, "fsync"))(fd);
}

typedef int (*fault_reserve_fn)(int, int, off_t, off_t);

/* fallocate or fallocate64 (name), unless a fault refuses it. */
static int
fault_reserve(void **real, const char *name, int fd, int mode, off_t off,
    off_t len)
{
	int e = fault_errno(fd, FAULT_RESERVE);

	if (e != 0) {
		errno = e;
		return -1;
	}
	return ((fault_reserve_fn)fault_real(real, name))(fd, mode, off, len);
}

int
fallocate(int fd, int mode, off_t off, off_t len)
{
	static void *real;

	return fault_reserve(&real, "fallocate", fd, mode, off, len);
}

int
fallocate64(int fd, int mode, off_t off, off_t len)
{
	static void *real;

	return fault_reserve(&real, "fallocate64", fd, mode, off, len);
}

typedef int (*fault_thread_fn)(pthread_t *, const pthread_attr_t *,
    void *(*)(void *), void *);

int
pthread_create(pthread_t *t, const pthread_attr_t *attr,
    void *(*fn)(void *), void *arg)
{
	static void *real;
	char kind[16];

	if (fault_kind(kind, sizeof(kind)) &&
	    strncmp(kind, "nothread", 8) == 0) {
		return EAGAIN;
	}
	return ((fault_thread_fn)fault_real(&real, "pthread_create"))(t,
	    attr, fn, arg);
}

typedef int (*fault_socket_fn)(int, int, int);

int
socket(int domain, int type, int protocol)
{
	static void *real;
	char kind[16];

	if (domain == AF_INET6 && fault_kind(kind, sizeof(kind)) &&
	    strncmp(kind, "noipv6", 6) == 0) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	return ((fault_socket_fn)fault_real(&real, "socket"))(domain, type,
	    protocol);
}
