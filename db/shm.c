/*
 * Surviving the loss of the WAL index.  SQLite maps DB-shm (the WAL index)
 * into memory, shared by every connection.  If the file is truncated
 * underneath the server, or made immutable (chattr +i), the next access
 * to a mapped page raises SIGBUS inside SQLite, which would kill drinkd.
 *
 * The handler here takes such a fault, and only such a fault: it reads
 * /proc/self/maps (open, read and close are async-signal-safe), and when
 * the faulting address lies in a mapping of this database's DB-shm it
 * moves private anonymous memory over every mapping of that file (a copy
 * of the pages while the file still holds them, zeros where it was cut
 * short), so the faulting instruction and every later access find
 * memory.  Anything else stays fatal, with a line on standard error.
 *
 * The index is only an index: every committed frame is in DB-wal, synced
 * before the index is touched.  Once the mapping was replaced db.c
 * refuses writes (nothing must be checkpointed behind an index that
 * other processes no longer share) and, with every connection idle,
 * clears the private copy's header, so the next read rebuilds the index
 * from DB-wal.  A restart, with the file repaired, maps it afresh.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db-int.h"

#define DB_SHM_MAX_MAPS 64	/* mappings of DB-shm remembered */
#define DB_SHM_HDR_BYTES 96	/* both copies of SQLite's WalIndexHdr */

struct db_shm_map {
	uintptr_t start, end;
	unsigned long long offset;	/* in the file */
};

static char db_shm_file[PATH_MAX + 8];	/* absolute path of DB-shm */
static struct db_shm_map db_shm_moved[DB_SHM_MAX_MAPS];
static volatile sig_atomic_t db_shm_nmoved;
static volatile sig_atomic_t db_shm_gone;
static void *volatile db_shm_head;	/* the private page at offset 0 */
static atomic_flag db_shm_busy = ATOMIC_FLAG_INIT;

static void
db_shm_say(const char *msg)
{
	ssize_t n = write(STDERR_FILENO, msg, strlen(msg));

	(void)n;
}

static void
db_shm_fatal(void)
{
	db_shm_say("drinkd: fatal: SIGBUS: a memory-mapped file became "
	    "unusable: its storage failed or the file was changed "
	    "underneath; stopping. Pending drops are settled at the next "
	    "start.\n");
	_exit(1);
}

/* Hex digits at *p; advances p. */
static unsigned long long
db_shm_hex(const char **p)
{
	unsigned long long v = 0;
	int d;

	for (;; (*p)++) {
		if (**p >= '0' && **p <= '9') {
			d = **p - '0';
		} else if (**p >= 'a' && **p <= 'f') {
			d = **p - 'a' + 10;
		} else {
			return v;
		}
		v = v << 4 | (unsigned long long)d;
	}
}

/*
 * One line of /proc/self/maps ("start-end perms offset dev inode  path"):
 * 1 and *m when it maps DB-shm.
 */
static int
db_shm_line(const char *line, struct db_shm_map *m)
{
	const char *p = line;
	int field;

	m->start = (uintptr_t)db_shm_hex(&p);
	if (*p++ != '-') {
		return 0;
	}
	m->end = (uintptr_t)db_shm_hex(&p);
	/* perms, offset, dev, inode */
	for (field = 0; field < 4; field++) {
		while (*p == ' ') {
			p++;
		}
		if (field == 1) {
			m->offset = db_shm_hex(&p);
		}
		while (*p != ' ' && *p != '\0') {
			p++;
		}
	}
	while (*p == ' ') {
		p++;
	}
	return strcmp(p, db_shm_file) == 0;
}

/* Every current mapping of DB-shm into maps; how many. */
static int
db_shm_find(struct db_shm_map *maps, int max)
{
	static char buf[4096], line[PATH_MAX + 256];
	size_t len = 0;
	ssize_t n, i;
	int fd, count = 0;

	if ((fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)) == -1) {
		return 0;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (len < sizeof(line) - 1) {
					line[len++] = buf[i];
				}
				continue;
			}
			line[len] = '\0';
			len = 0;
			if (count < max && db_shm_line(line, &maps[count])) {
				count++;
			}
		}
	}
	close(fd);
	return count;
}

/* Private memory over m, holding what the file still holds. */
static void
db_shm_move(const struct db_shm_map *m)
{
	size_t len = m->end - m->start;
	struct stat sb;
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		db_shm_fatal();
	}
	/* Immutable, read-only: the pages still read.  Cut short: zeros. */
	if (stat(db_shm_file, &sb) == 0 &&
	    (unsigned long long)sb.st_size >= m->offset + len) {
		memcpy(p, (void *)m->start, len);
	}
	if (mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
	    (void *)m->start) == MAP_FAILED) {
		db_shm_fatal();
	}
	if (m->offset == 0) {
		db_shm_head = (void *)m->start;
	}
}

static int
db_shm_was_moved(uintptr_t a)
{
	sig_atomic_t i;

	for (i = 0; i < db_shm_nmoved; i++) {
		if (a >= db_shm_moved[i].start && a < db_shm_moved[i].end) {
			return 1;
		}
	}
	return 0;
}

static void
db_shm_sigbus(int sig, siginfo_t *si, void *uctx)
{
	struct db_shm_map maps[DB_SHM_MAX_MAPS];
	uintptr_t a = (uintptr_t)si->si_addr;
	int i, n, hit = 0;

	(void)sig;
	(void)uctx;
	/* Sent by kill(2), not raised by a memory access. */
	if (si->si_code <= 0) {
		db_shm_fatal();
	}
	/* One thread moves the mappings; another that faulted meanwhile
	 * waits, then retries its access on the new memory. */
	while (atomic_flag_test_and_set(&db_shm_busy)) {
		;
	}
	if (db_shm_was_moved(a)) {
		atomic_flag_clear(&db_shm_busy);
		return;
	}
	n = db_shm_find(maps, DB_SHM_MAX_MAPS);
	for (i = 0; i < n; i++) {
		hit |= a >= maps[i].start && a < maps[i].end;
	}
	if (!hit || db_shm_nmoved + n > DB_SHM_MAX_MAPS) {
		db_shm_fatal();
	}
	for (i = 0; i < n; i++) {
		db_shm_move(&maps[i]);
		db_shm_moved[db_shm_nmoved++] = maps[i];
	}
	db_shm_gone = 1;
	db_shm_say("drinkd: SIGBUS in the database's WAL index (-shm): "
	    "it was truncated or made unwritable underneath; carrying on "
	    "with a private copy, writes refused until a restart\n");
	atomic_flag_clear(&db_shm_busy);
}

int
db_shm_guard(struct db *db)
{
	struct sigaction sa;
	char *real = realpath(db->path, NULL);
	int n;

	if (real == NULL) {
		log_err("cannot resolve %s: %s", db->path, strerror(errno));
		return -1;
	}
	n = snprintf(db_shm_file, sizeof(db_shm_file), "%s-shm", real);
	free(real);
	if (n < 0 || (size_t)n >= sizeof(db_shm_file)) {
		log_err("database path too long: %s", db->path);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = db_shm_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL);
}

int
db_shm_lost(void)
{
	return db_shm_gone;
}

void
db_shm_rebuild(void)
{
	void *head = db_shm_head;

	if (head != NULL) {
		memset(head, 0, DB_SHM_HDR_BYTES);
	}
}
