/*
 * Backup and restore with SQLite's online backup API.  A backup reads the
 * database through its own read-only connection in one read transaction,
 * so it is a snapshot of one committed state even while a server writes
 * (a plain cp of a WAL database can miss commits still in DB-wal).  Every
 * copy is verified before it is trusted: it opens, passes SQLite's
 * quick_check and the ledger check.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db-int.h"

#define DB_BACKUP_TRIES 600	/* busy source: retry for up to a minute */
#define DB_BACKUP_SLEEP_MS 100

/* Every page of src into dst, in one step (one read transaction). */
static int
db_backup_copy(sqlite3 *dst, sqlite3 *src, char *err, size_t errlen)
{
	sqlite3_backup *b;
	int rc, tries = 0;

	if ((b = sqlite3_backup_init(dst, "main", src, "main")) == NULL) {
		snprintf(err, errlen, "cannot start the copy: %s",
		    sqlite3_errmsg(dst));
		return -1;
	}
	while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY ||
	    rc == SQLITE_LOCKED) {
		if (++tries >= DB_BACKUP_TRIES) {
			break;
		}
		sqlite3_sleep(DB_BACKUP_SLEEP_MS);
	}
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "copy failed: %s", sqlite3_errstr(rc));
		return -1;
	}
	return 0;
}

/* Open path through the normal path, quick_check it, check the ledger. */
static int
db_backup_verify(const char *path, FILE *out, char *err, size_t errlen)
{
	struct db *db;
	sqlite3_stmt *st;
	char res[256] = "cannot run it";
	int rc = -1;

	if ((db = db_open_existing(path, 0, err, errlen)) == NULL) {
		return -1;
	}
	if ((st = db_prep(db->writer, "PRAGMA quick_check", "")) != NULL &&
	    db_step(st) == 1) {
		snprintf(res, sizeof(res), "%s", db_col_text(st, 0));
	}
	sqlite3_finalize(st);
	if (strcmp(res, "ok") != 0) {
		snprintf(err, errlen, "%s fails SQLite's quick_check: %s", path,
		    res);
	} else if (db_check_ledger(db, out) != 0) {
		snprintf(err, errlen, "the ledger in %s is broken", path);
	} else if (sqlite3_exec(db->writer, "PRAGMA journal_mode = DELETE",
	    NULL, NULL, NULL) != SQLITE_OK) {
		/* One self-contained file: no DB-wal for a reader to need. */
		snprintf(err, errlen, "cannot leave WAL mode in %s: %s", path,
		    sqlite3_errmsg(db->writer));
	} else {
		rc = 0;
	}
	db_close(db);
	return rc;
}

static void
db_backup_unlink(const char *path)
{
	char *p;

	(void)unlink(path);
	p = xasprintf("%s-wal", path);
	(void)unlink(p);
	free(p);
	p = xasprintf("%s-shm", path);
	(void)unlink(p);
	free(p);
}

/* Flush a file (or a directory, after a rename) to disk. */
static int
db_backup_fsync(const char *path)
{
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		return -1;
	}
	rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * path with its directory resolved (the file itself need not exist), or
 * NULL when the directory does not resolve.  Caller frees.
 */
static char *
db_backup_canon(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/'), *out = NULL;
	char real[PATH_MAX];
	const char *base = slash != NULL ? slash + 1 : path;

	if (slash == dir) {
		slash[1] = '\0';
	} else if (slash != NULL) {
		*slash = '\0';
	}
	if (realpath(slash != NULL ? dir : ".", real) != NULL) {
		out = xasprintf("%s/%s", real, base);
	}
	free(dir);
	return out;
}

/*
 * Is dst the database src, or one of the files beside it?  The backup is
 * renamed over dst: over a database a server has open, its later commits
 * go to the unlinked file (and its WAL to the new one), so they are lost
 * or worse; over DB-wal, DB-shm, the lock or the answers file, that file
 * is gone.
 */
static int
db_backup_is_db(const char *src_path, const char *dst_path)
{
	static const char *const side[] = { "", "-wal", "-shm", "-journal",
		".lock", ".answers" };
	struct stat a, b;
	char *src, *dst, *name;
	size_t i;
	int same = 0;

	if (stat(src_path, &a) == 0 && stat(dst_path, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		return 1;
	}
	src = db_backup_canon(src_path);
	dst = db_backup_canon(dst_path);
	for (i = 0; src != NULL && dst != NULL && !same &&
	    i < sizeof(side) / sizeof(side[0]); i++) {
		name = xasprintf("%s%s", src, side[i]);
		same = strcmp(name, dst) == 0;
		free(name);
	}
	free(src);
	free(dst);
	return same;
}

/*
 * A directory, or a name ending in '/': SQLite would say only "disk I/O
 * error", and a rename over it "Is a directory" or "Not a directory".
 */
static int
db_backup_is_dir(const char *path)
{
	struct stat st;
	size_t n = strlen(path);

	return (n > 0 && path[n - 1] == '/') ||
	    (stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

/*
 * May the backup be renamed over dst?  Only when dst is missing, empty, or
 * a database drinkd made (an earlier backup, as in a nightly rotation):
 * the SQLite header with a schema version set (bytes 60 to 63, drinkd's
 * user_version).  A typo must not put a database where the configuration
 * file, or anything else, was.  -1 with err when not.
 */
static int
db_backup_replaceable(const char *dst_path, char *err, size_t errlen)
{
	static const char magic[16] = "SQLite format 3";
	unsigned char head[64];
	ssize_t n;
	int fd;

	if ((fd = open(dst_path, O_RDONLY | O_CLOEXEC)) == -1) {
		return 0;	/* missing; any other trouble, the write says */
	}
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n == 0 || (n == (ssize_t)sizeof(head) &&
	    memcmp(head, magic, sizeof(magic)) == 0 &&
	    (head[60] | head[61] | head[62] | head[63]) != 0)) {
		return 0;
	}
	snprintf(err, errlen, "%s exists and is not a drinkd database (a "
	    "backup only replaces an earlier one): left as it is; remove it, "
	    "or name another file", dst_path);
	return -1;
}

int
db_backup(const char *src_path, const char *dst_path, FILE *out, char *err,
    size_t errlen)
{
	char *tmp = xasprintf("%s.tmp", dst_path), *dir, *slash;
	sqlite3 *src = NULL, *dst = NULL;
	int fd, quiet, rc = -1;

	if (access(src_path, F_OK) != 0) {
		snprintf(err, errlen, "database %s: %s", src_path,
		    strerror(errno));
		goto out;
	}
	if (db_backup_is_dir(src_path)) {
		snprintf(err, errlen, "%s is a directory, not a database "
		    "file", src_path);
		goto out;
	}
	/* Named, not SQLite's "copy failed: file is not a database". */
	if (db_probe_header(src_path, err, errlen) != 0) {
		goto out;
	}
	if (db_backup_is_dir(dst_path)) {
		snprintf(err, errlen, "%s is a directory; name a file in it, "
		    "e.g. %s%sdrink-backup.db", dst_path, dst_path,
		    dst_path[strlen(dst_path) - 1] == '/' ? "" : "/");
		goto out;
	}
	if (db_backup_is_db(src_path, dst_path)) {
		snprintf(err, errlen, "%s is the database %s or one of its "
		    "files; write the backup to another file", dst_path,
		    src_path);
		goto out;
	}
	if (db_backup_replaceable(dst_path, err, errlen) != 0) {
		goto out;
	}
	db_backup_unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) ==
	    -1) {
		snprintf(err, errlen, "cannot create %s: %s", tmp,
		    strerror(errno));
		goto out;
	}
	close(fd);
	/*
	 * Read as check-ledger reads: with no server on the database, a
	 * plain read-only connection would make DB-wal and DB-shm beside it
	 * and could not remove them, so it is read as immutable instead.
	 */
	if ((src = db_connect_snapshot(src_path, &quiet, err, errlen)) ==
	    NULL) {
		goto out;
	}
	if (db_sqlite_open(tmp, &dst, SQLITE_OPEN_READWRITE) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", tmp,
		    dst != NULL ? sqlite3_errmsg(dst) : "out of memory");
		goto out;
	}
	if (db_backup_copy(dst, src, err, errlen) != 0) {
		goto out;
	}
	if (quiet && db_snapshot_busy(src_path)) {
		snprintf(err, errlen, "a drinkd started on %s during the "
		    "backup; run backup again", src_path);
		goto out;
	}
	sqlite3_close(dst);
	dst = NULL;
	if (db_backup_verify(tmp, out, err, errlen) != 0) {
		goto out;
	}
	if (db_backup_fsync(tmp) != 0 || rename(tmp, dst_path) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", dst_path,
		    strerror(errno));
		goto out;
	}
	dir = xstrdup(dst_path);
	slash = strrchr(dir, '/');
	if (slash != NULL) {
		slash[slash == dir] = '\0';
	}
	(void)db_backup_fsync(slash != NULL ? dir : ".");
	free(dir);
	rc = 0;
out:
	sqlite3_close(dst);
	db_connection_close(src);
	if (rc != 0) {
		db_backup_unlink(tmp);
	}
	free(tmp);
	return rc;
}

int
db_restore(const char *backup_path, const char *db_path, FILE *out,
    char *err, size_t errlen)
{
	char *copy = xasprintf("%s.restore", db_path);
	sqlite3 *src = NULL;
	struct db *db = NULL;
	int rc = -1;

	/* A verified private copy first: the backup file is never written. */
	if (db_backup(backup_path, copy, out, err, errlen) != 0) {
		goto out;
	}
	if ((db = db_open(db_path, 0, err, errlen)) == NULL) {
		goto out;
	}
	if (db_sqlite_open(copy, &src, SQLITE_OPEN_READONLY) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", copy,
		    src != NULL ? sqlite3_errmsg(src) : "out of memory");
		goto out;
	}
	/* The copy replaces every page in one write transaction. */
	rc = db_backup_copy(db_writer_lock(db), src, err, errlen);
	db_balances_forget(db);	/* every page was replaced unreported */
	db_writer_unlock(db);
	if (rc == 0 && db_check_ledger(db, out) != 0) {
		snprintf(err, errlen, "the ledger in %s is broken after the "
		    "restore", db_path);
		rc = -1;
	}
out:
	sqlite3_close(src);
	db_close(db);
	db_backup_unlink(copy);
	free(copy);
	return rc;
}
