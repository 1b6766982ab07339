/*
 * Cards at the machine (PROTOCOL.md section 11): a member binds card UIDs
 * (iButton, MIFARE) to the account.  Only a keyed hash of the UID is
 * stored (db/cards.sql says why and where the key lives); a UID is
 * normalised to lower-case hex before hashing, so "0D00..." and "0d00..."
 * are one card.
 */
#include <assert.h>
#include <ctype.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "db-int.h"

#define CARD_HASH_HEX (2 * 32 + 1)

/* The keyed hash of uid as hex into out; -1 when the key is missing. */
static int
card_hash(sqlite3 *h, const char *uid, char out[CARD_HASH_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char norm[PROTO_CARD_MAX + 1];
	sqlite3_stmt *st;
	unsigned int mdlen = 0, i;
	size_t n = strlen(uid);
	int ok = 0;

	assert(proto_valid_card(uid));
	for (i = 0; i <= n; i++) {
		norm[i] = (char)tolower((unsigned char)uid[i]);
	}
	st = db_prep(h, "SELECT value FROM settings WHERE name = 'card_key'",
	    "");
	if (st != NULL && db_step(st) == 1 && sqlite3_column_bytes(st, 0) >=
	    32 && HMAC(EVP_sha256(), sqlite3_column_text(st, 0),
	    sqlite3_column_bytes(st, 0), (const unsigned char *)norm, n, md,
	    &mdlen) != NULL && mdlen == 32) {
		ok = 1;
	}
	sqlite3_finalize(st);
	if (!ok) {
		log_err("cards: the card key is missing from the database");
		return -1;
	}
	for (i = 0; i < mdlen; i++) {
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	}
	return 0;
}

int
db_card_add(struct db *db, const char *user, const char *uid,
    const char *label, int64_t *id)
{
	char hash[CARD_HASH_HEX];
	sqlite3_stmt *st = NULL;
	sqlite3 *h;
	int64_t account;
	int rc = ERR_INTERNAL, r;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	if ((account = ledger_account_id(h, user, NULL)) <= 0) {
		rc = account == 0 ? ERR_NO_SUCH_USER : ERR_INTERNAL;
		goto out;
	}
	if (card_hash(h, uid, hash) != 0) {
		goto out;
	}
	st = db_prep(h, "SELECT (SELECT count(*) FROM cards WHERE hash = ?),"
	    " (SELECT count(*) FROM cards WHERE account = ?)", "tl", hash,
	    account);
	if (st == NULL || (r = db_step(st)) != 1) {
		goto out;
	}
	/* A full account is refused before the card is looked at, so its
	 * card_add tells nothing about other accounts' cards. */
	if (sqlite3_column_int(st, 1) >= DB_CARDS_MAX) {
		rc = ERR_BAD_REQUEST;
		goto out;
	}
	if (sqlite3_column_int(st, 0) > 0) {
		rc = ERR_EXISTS;
		goto out;
	}
	if (db_run(h, "INSERT INTO cards (hash, account, label, created)"
	    " VALUES (?, ?, ?, ?)", "tltl", hash, account,
	    label != NULL ? label : "", db_now()) != 0) {
		goto out;
	}
	*id = sqlite3_last_insert_rowid(h);
	rc = ERR_NONE;
out:
	sqlite3_finalize(st);
	return db_write_end(db, rc);
}

int
db_cards(struct db *db, const char *user, cJSON *array)
{
	sqlite3 *h = db_read_begin(db);
	sqlite3_stmt *st;
	cJSON *c;
	int r = -1, rc = ERR_INTERNAL;

	st = db_prep(h, "SELECT EXISTS (SELECT 1 FROM users WHERE name = ?)",
	    "t", user);
	if (st == NULL || db_step(st) != 1) {
		goto out;
	}
	if (!sqlite3_column_int(st, 0)) {
		rc = ERR_NO_SUCH_USER;
		goto out;
	}
	sqlite3_finalize(st);
	st = db_prep(h, "SELECT c.id, c.label, c.created, c.last_used"
	    " FROM cards c JOIN users u ON u.account = c.account"
	    " WHERE u.name = ? ORDER BY c.id", "t", user);
	while (st != NULL && (r = db_step(st)) == 1) {
		c = cJSON_CreateObject();
		db_col_json(c, "card_id", st, 0);
		db_col_json(c, "label", st, 1);
		db_col_json(c, "created", st, 2);
		db_col_json(c, "last_used", st, 3);
		cJSON_AddItemToArray(array, c);
	}
	rc = r == 0 ? ERR_NONE : ERR_INTERNAL;
out:
	sqlite3_finalize(st);
	db_read_end(db, h);
	return rc;
}

int
db_card_del(struct db *db, const char *user, int64_t id)
{
	sqlite3 *h;
	int64_t account;
	int rc = ERR_INTERNAL;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	/* An admin naming nobody hears so, as from card_add and cards. */
	if ((account = ledger_account_id(h, user, NULL)) <= 0) {
		rc = account == 0 ? ERR_NO_SUCH_USER : ERR_INTERNAL;
	} else if (db_run(h, "DELETE FROM cards WHERE id = ? AND account = ?",
	    "ll", id, account) == 0) {
		rc = sqlite3_changes(h) == 1 ? ERR_NONE : ERR_BAD_REQUEST;
	}
	return db_write_end(db, rc);
}

int
db_card_owner(struct db *db, const char *uid, struct db_user *u)
{
	char hash[CARD_HASH_HEX], name[PROTO_NAME_MAX + 1];
	sqlite3_stmt *st = NULL;
	sqlite3 *h;
	int rc = ERR_INTERNAL, r;

	if ((h = db_write_begin(db)) == NULL) {
		return ERR_INTERNAL;
	}
	if (card_hash(h, uid, hash) != 0) {
		goto out;
	}
	st = db_prep(h, "SELECT u.name FROM cards c JOIN users u"
	    " ON u.account = c.account WHERE c.hash = ?", "t", hash);
	if (st == NULL || (r = db_step(st)) < 0) {
		goto out;
	}
	if (r == 0) {
		rc = ERR_BAD_CREDENTIALS;
		goto out;
	}
	snprintf(name, sizeof(name), "%s", db_col_text(st, 0));
	if (db_run(h, "UPDATE cards SET last_used = ? WHERE hash = ?", "lt",
	    db_now(), hash) != 0) {
		goto out;
	}
	rc = ERR_NONE;
out:
	sqlite3_finalize(st);
	rc = db_write_end(db, rc);
	if (rc == ERR_NONE && (rc = db_user_get(db, name, u)) == ERR_NONE &&
	    u->disabled) {
		rc = ERR_BAD_CREDENTIALS;
	}
	return rc;
}
