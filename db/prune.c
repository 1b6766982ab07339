/*
 * Retention: the history that grows without bound (one temperature row
 * per machine per report, one session row per connection) is deleted once
 * older than the configured age, a small batch per transaction so that the
 * writer lock is never held for long.  Money rows (tx, entries, idem) and
 * the audit trail are never touched; sessions still open never go.
 */
#include <assert.h>

#include "db-int.h"

int
db_prune(struct db *db, int64_t temps_before, int64_t sessions_before,
    int batch)
{
	sqlite3 *h;
	int n = 0, rc = ERR_INTERNAL;

	assert(batch > 0);
	db_book_flush(db);
	if ((h = db_write_begin(db)) == NULL) {
		return -1;
	}
	if (db_run(h, "DELETE FROM temperatures WHERE rowid IN (SELECT rowid"
	    " FROM temperatures WHERE time < ? LIMIT ?)", "li", temps_before,
	    batch) != 0) {
		goto out;
	}
	n = sqlite3_changes(h);
	if (db_run(h, "DELETE FROM sessions WHERE id IN (SELECT id FROM"
	    " sessions WHERE ended IS NOT NULL AND ended < ? LIMIT ?)", "li",
	    sessions_before, batch) != 0) {
		goto out;
	}
	n += sqlite3_changes(h);
	rc = ERR_NONE;
out:
	return db_write_end(db, rc) == ERR_NONE ? n : -1;
}
