/*
 * One drinkd per database.  A server that thinks it owns the pending
 * holds releases them at start; a second server on the same database
 * would release the first one's drops while its machines still vend them.
 * So whatever changes the database (the server, init, useradd) first takes
 * an exclusive flock(2) on "<database>.lock" and keeps it until it exits;
 * the kernel drops it when the process dies, even by SIGKILL, so a crash
 * never leaves a stale lock behind.  The file holds the owner's pid, for
 * the message the next one prints.
 *
 * A separate file, not the database itself: SQLite uses POSIX record
 * locks on the database, and those vanish when any descriptor of the
 * process on that file is closed.  flock locks belong to the open file
 * description and do not mix with them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "db-int.h"

int
db_lock(const char *path, char *err, size_t errlen)
{
	char *lockpath = xasprintf("%s.lock", path), buf[32];
	ssize_t n;
	long pid;
	int fd;

	fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1 && errno == ENOENT) {
		/* No such directory: no database to protect, and opening it
		 * reports that better. */
		free(lockpath);
		return -2;
	}
	if (fd == -1) {
		snprintf(err, errlen, "cannot open %s: %s", lockpath,
		    strerror(errno));
		free(lockpath);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			n = pread(fd, buf, sizeof(buf) - 1, 0);
			buf[n > 0 ? n : 0] = '\0';
			pid = strtol(buf, NULL, 10);
			if (pid > 0) {
				snprintf(err, errlen, "database %s is in use "
				    "by drinkd (pid %ld)", path, pid);
			} else {
				snprintf(err, errlen, "database %s is in use "
				    "by drinkd", path);
			}
		} else {
			snprintf(err, errlen, "cannot lock %s: %s", lockpath,
			    strerror(errno));
		}
		close(fd);
		free(lockpath);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		/* Only the message of a second process would lack the pid. */
		log_warn("cannot write the pid into %s: %s", lockpath,
		    strerror(errno));
	}
	free(lockpath);
	return fd;
}

void
db_unlock(int fd)
{
	if (fd != -1) {
		close(fd);
	}
}
