/*
 * The machines' answers to vends, kept beside the database in
 * "<database>.answers" so that a restart can tell a drop the machine
 * vended from one it never answered, even when a storage fault kept
 * SQLite from recording the settlement before the server died.
 *
 * A small fixed file: DB_ANSWER_SLOTS records, a drop's record at slot
 * tx % DB_ANSWER_SLOTS, written in place (pwrite, then fdatasync).  The
 * file is filled with zeros when opened, so a record never needs a new
 * block: a full disk does not stop it.  A record only matters while its
 * drop is pending; db_answer_reset empties the file once a start has
 * settled every pending drop, and a new database starts with an empty one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db-int.h"

#define DB_ANSWER_SLOTS 4096
#define DB_ANSWER_MAGIC 0x6472696e6b616e73ULL	/* "drinkans" */

/*
 * stock is the stock a vend's capture sets, plus one: 0 (-1) one less,
 * as in a file written before it was recorded; -1 (-2) left alone (a
 * sensed count stands); n + 1 the count n the machine gave.  outcome
 * below zero is "vended" too, while a sensed count n for the drop's slot
 * is being stored, or was and its sync failed: -(n + 1).  Whether the
 * database kept it is only known at the restart, which leaves the slot
 * alone if it holds n (db_answer_get).
 */
struct db_answer_rec {
	int64_t tx;
	int32_t outcome;	/* enum proto_err: ERR_NONE is "vended" */
	int32_t stock;		/* the capture's stock + 1 (see above) */
	uint64_t check;		/* of the fields above: a torn write fails */
};

static uint64_t
db_answer_check(int64_t tx, int32_t outcome, int32_t stock)
{
	return (uint64_t)tx ^ ((uint64_t)(uint32_t)outcome << 32) ^
	    DB_ANSWER_MAGIC ^
	    (uint64_t)(uint32_t)stock * 0x9e3779b97f4a7c15ULL;
}

int
db_answer_open(struct db *db)
{
	int fresh = db->created;
	char *path = xasprintf("%s.answers", db->path);
	size_t size = DB_ANSWER_SLOTS * sizeof(struct db_answer_rec);
	struct stat sb;
	char *zeros;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1 || fstat(fd, &sb) != 0) {
		log_err("cannot open %s: %s", path, strerror(errno));
		goto err;
	}
	if (fresh || (size_t)sb.st_size != size) {
		zeros = xcalloc(1, size);
		if (pwrite(fd, zeros, size, 0) != (ssize_t)size ||
		    ftruncate(fd, (off_t)size) != 0 || fdatasync(fd) != 0) {
			log_err("cannot prepare %s: %s", path, strerror(errno));
			free(zeros);
			goto err;
		}
		free(zeros);
	}
	free(path);
	db->answers = fd;
	return 0;
err:
	if (fd != -1) {
		close(fd);
	}
	free(path);
	return -1;
}

/*
 * fdatasync the answers file for a record already written.  Machines'
 * threads that answer together share one: a caller joins the generation
 * the next sync covers, and the first of them to find no sync running
 * runs it for all.  0 once a sync that started after the caller's write
 * succeeded; -1 when the one covering it failed (or a later one did).
 */
static int
db_answer_sync(struct db *db)
{
	uint64_t gen, mine;
	int rc;

	pthread_mutex_lock(&db->ans_lock);
	mine = db->ans_next;
	while (db->ans_done < mine) {
		if (db->ans_syncing) {
			pthread_cond_wait(&db->ans_cond, &db->ans_lock);
			continue;
		}
		db->ans_syncing = 1;
		gen = db->ans_next++;
		pthread_mutex_unlock(&db->ans_lock);
		rc = fdatasync(db->answers);
		pthread_mutex_lock(&db->ans_lock);
		db->ans_syncing = 0;
		db->ans_done = gen;
		if (rc != 0) {
			db->ans_failed = gen;
		}
		pthread_cond_broadcast(&db->ans_cond);
	}
	rc = db->ans_failed >= mine ? -1 : 0;
	pthread_mutex_unlock(&db->ans_lock);
	if (rc != 0) {
		errno = EIO;	/* the syncing thread's errno is its own */
	}
	return rc;
}

int
db_answer_put(struct db *db, int64_t tx, int outcome, int64_t stock,
    int64_t sensed)
{
	struct db_answer_rec r = { .tx = tx, .outcome = outcome };
	off_t off = (off_t)(tx % DB_ANSWER_SLOTS) * (off_t)sizeof(r);

	ASSERT(stock >= -2 && stock <= PROTO_MAX_AMOUNT);
	ASSERT(sensed >= -1 && sensed <= PROTO_MAX_AMOUNT);
	ASSERT(outcome >= 0 && (sensed == -1 || outcome == ERR_NONE));
	if (db->answers == -1) {
		return -1;
	}
	if (sensed >= 0) {
		r.outcome = (int32_t)-(sensed + 1);
	}
	r.stock = (int32_t)(stock + 1);
	r.check = db_answer_check(tx, r.outcome, r.stock);
	if (pwrite(db->answers, &r, sizeof(r), off) != (ssize_t)sizeof(r) ||
	    db_answer_sync(db) != 0) {
		log_err("drop tx %lld: cannot record the machine's answer in "
		    "%s.answers: %s", (long long)tx, db->path, strerror(errno));
		return -1;
	}
	return 0;
}

int
db_answer_get(struct db *db, int64_t tx, int *outcome, int64_t *stock,
    int64_t *sensed)
{
	struct db_answer_rec r;
	off_t off = (off_t)(tx % DB_ANSWER_SLOTS) * (off_t)sizeof(r);

	if (db->answers == -1 ||
	    pread(db->answers, &r, sizeof(r), off) != (ssize_t)sizeof(r) ||
	    r.tx != tx || r.check != db_answer_check(r.tx, r.outcome,
	    r.stock) || r.stock < -1 || r.stock > PROTO_MAX_AMOUNT + 1 ||
	    r.outcome < -(PROTO_MAX_AMOUNT + 1)) {
		return 0;
	}
	*outcome = r.outcome < 0 ? ERR_NONE : r.outcome;
	*stock = (int64_t)r.stock - 1;
	*sensed = r.outcome < 0 ? -(int64_t)r.outcome - 1 : -1;
	return 1;
}

int
db_answer_reset(struct db *db)
{
	size_t size = DB_ANSWER_SLOTS * sizeof(struct db_answer_rec);
	char *zeros = xcalloc(1, size);
	int rc = 0;

	if (db->answers != -1 &&
	    (pwrite(db->answers, zeros, size, 0) != (ssize_t)size ||
	    fdatasync(db->answers) != 0)) {
		rc = -1;
	}
	free(zeros);
	return rc;
}
