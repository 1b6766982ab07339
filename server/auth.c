/*
 * Passwords and login throttling.
 *
 * Hashes are Argon2id PHC strings with OWASP's parameters (19 MiB, t=2,
 * p=1) and a 16-byte random salt.  Each check costs ~19 MiB and tens of
 * milliseconds, so a semaphore bounds how many run at once: a burst of
 * logins queues instead of exhausting memory, and other requests (which
 * never hash) are not slowed by it.  An unknown user is checked against a
 * dummy hash so that timing does not reveal which names exist.
 *
 * Throttling: after AUTH_FREE_TRIES consecutive failures for an account or
 * an address, further attempts are refused with locked_out for a period
 * that doubles from 1 s up to 15 min; a success clears the account's and
 * the address's record.  Card guesses (auth_card_*) are counted on the
 * same schedule but never cleared by a success; see there.  Records live
 * in a small fixed table; when it is full the stalest record is reused.
 * The records of things that exist (an account's, a machine's: their
 * card guesses, a board's password) are kept apart (auth_kept), so that a
 * flood of failures under other names or from other addresses cannot
 * push one out and so end its lock: there are at most a few for each
 * account and machine, and only admins make those.
 *
 * An address is counted by its place (client_place): an IPv6 address by
 * its /64.
 */
#include <argon2.h>
#include <assert.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "drinkd.h"

#define AUTH_T_COST 2
#define AUTH_M_COST (19 * 1024)
#define AUTH_PARALLELISM 1
#define AUTH_SALT_LEN 16
#define AUTH_HASH_LEN 32
#define AUTH_ENCODED_MAX 160
#define AUTH_FREE_TRIES 5
#define AUTH_MAX_LOCK 900
#define AUTH_RECORDS 4096
/* A card guess record is forgotten this long (ms) after its last failure. */
#define AUTH_CARD_FORGET (3600 * 1000)

static sem_t auth_sem;
static char *auth_dummy;

struct auth_record {
	char key[80];		/* "u:name", "a:address", "k:...", "c:..." */
	int failures;
	int64_t locked_until;	/* monotonic ms */
	int64_t last;		/* the last failure, monotonic ms */
	int64_t forget;		/* ms after last the record lapses; 0: never */
};
/* All guarded by auth_lock. */
static struct auth_record auth_records[AUTH_RECORDS];
/* Records of accounts and machines that exist, never reused for another. */
static struct auth_record *auth_kept;
static size_t auth_kept_n, auth_kept_cap;
static pthread_mutex_t auth_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t (*auth_clock)(void) = now_ms;

/* The lock must end before the record lapses, or a lock could be cut short. */
_Static_assert(AUTH_CARD_FORGET > AUTH_MAX_LOCK * 1000,
    "card records lapse only after the longest lock");

/* The record key of a client address: prefix and its place. */
static void
auth_place_key(const char *prefix, const char *address, char *out,
    size_t len)
{
	char place[CLIENT_PLACE_MAX];
	int n;

	client_place(address, place, sizeof(place));
	/* Every prefix and place fit a record's key. */
	n = snprintf(out, len, "%s%s", prefix, place);
	assert(n > 0 && (size_t)n < len);
	(void)n;
}

void
auth_set_clock(int64_t (*clock)(void))
{
	pthread_mutex_lock(&auth_lock);
	auth_clock = clock != NULL ? clock : now_ms;
	pthread_mutex_unlock(&auth_lock);
}

int
auth_init(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned char pw[16];
	char text[33];
	int i;

	if (sem_init(&auth_sem, 0, ncpu > 1 ? (unsigned)ncpu : 1) != 0) {
		return -1;
	}
	if (RAND_bytes(pw, sizeof(pw)) != 1) {
		return -1;
	}
	for (i = 0; i < 16; i++) {
		snprintf(text + 2 * i, 3, "%02x", pw[i]);
	}
	if ((auth_dummy = auth_hash(text)) == NULL) {
		return -1;
	}
	return 0;
}

char *
auth_hash(const char *password)
{
	unsigned char salt[AUTH_SALT_LEN];
	char *encoded = xmalloc(AUTH_ENCODED_MAX);
	int rc;

	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		free(encoded);
		return NULL;
	}
	sem_wait(&auth_sem);
	rc = argon2id_hash_encoded(AUTH_T_COST, AUTH_M_COST, AUTH_PARALLELISM,
	    password, strlen(password), salt, sizeof(salt), AUTH_HASH_LEN,
	    encoded, AUTH_ENCODED_MAX);
	sem_post(&auth_sem);
	if (rc != ARGON2_OK) {
		log_err("argon2: %s", argon2_error_message(rc));
		free(encoded);
		return NULL;
	}
	return encoded;
}

int
auth_verify(const char *hash, const char *password)
{
	int rc;

	sem_wait(&auth_sem);
	rc = argon2id_verify(hash != NULL ? hash : auth_dummy, password,
	    strlen(password));
	sem_post(&auth_sem);
	return hash != NULL && rc == ARGON2_OK;
}

/* key's record among the kept ones, or NULL; lock held. */
static struct auth_record *
auth_kept_find(const char *key)
{
	size_t i;

	for (i = 0; i < auth_kept_n; i++) {
		if (strcmp(auth_kept[i].key, key) == 0) {
			return &auth_kept[i];
		}
	}
	return NULL;
}

/*
 * key's record among the kept ones, made (or moved there from the table,
 * where a failure before the account existed put it) if need be; lock
 * held.  The pointer lasts until the next call.
 */
static struct auth_record *
auth_kept_record(const char *key)
{
	struct auth_record *r = auth_kept_find(key);
	size_t i;

	if (r != NULL) {
		return r;
	}
	if (auth_kept_n == auth_kept_cap) {
		auth_kept_cap = auth_kept_cap > 0 ?
		    2 * auth_kept_cap : 16;
		auth_kept = xreallocarray(auth_kept, auth_kept_cap,
		    sizeof(*auth_kept));
	}
	r = &auth_kept[auth_kept_n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->key, sizeof(r->key), "%s", key);
	for (i = 0; i < AUTH_RECORDS; i++) {
		if (strcmp(auth_records[i].key, key) == 0) {
			*r = auth_records[i];
			memset(&auth_records[i], 0, sizeof(auth_records[i]));
			break;
		}
	}
	return r;
}

/* Forget key's record wherever it is; lock held. */
static void
auth_forget(const char *key)
{
	struct auth_record *r;
	size_t i;

	if ((r = auth_kept_find(key)) != NULL) {
		*r = auth_kept[--auth_kept_n];
	}
	for (i = 0; i < AUTH_RECORDS; i++) {
		if (strcmp(auth_records[i].key, key) == 0) {
			memset(&auth_records[i], 0, sizeof(auth_records[i]));
		}
	}
}

/*
 * Find key's record (a kept one first), or claim the table's stalest
 * slot for it; lock held.
 */
static struct auth_record *
auth_record(const char *key, int create)
{
	struct auth_record *r, *stalest = &auth_records[0];
	size_t i;

	if ((r = auth_kept_find(key)) != NULL) {
		return r;
	}
	for (i = 0; i < AUTH_RECORDS; i++) {
		r = &auth_records[i];
		if (strcmp(r->key, key) == 0) {
			return r;
		}
		if (r->last < stalest->last) {
			stalest = r;
		}
	}
	if (!create) {
		return NULL;
	}
	memset(stalest, 0, sizeof(*stalest));
	snprintf(stalest->key, sizeof(stalest->key), "%s", key);
	return stalest;
}

/* A record that lapsed counts as no record; lock held. */
static int
auth_lapsed(const struct auth_record *r, int64_t now)
{
	return r->forget > 0 && now - r->last >= r->forget;
}

static int64_t
auth_wait(const char *key, int64_t now)
{
	struct auth_record *r = auth_record(key, 0);

	if (r == NULL || auth_lapsed(r, now) || r->locked_until <= now) {
		return 0;
	}
	return (r->locked_until - now + 999) / 1000;
}

/* The longer wait of a user's record (ku NULL: none) and a place's. */
static int64_t
auth_pair_wait(const char *ku, const char *kp)
{
	int64_t now, a, b;

	pthread_mutex_lock(&auth_lock);
	now = auth_clock();
	a = ku != NULL ? auth_wait(ku, now) : 0;
	b = auth_wait(kp, now);
	pthread_mutex_unlock(&auth_lock);
	return a > b ? a : b;
}

int64_t
auth_throttled(const char *user, const char *address)
{
	char ku[80], ka[80];

	snprintf(ku, sizeof(ku), "u:%s", user != NULL ? user : "");
	auth_place_key("a:", address, ka, sizeof(ka));
	return auth_pair_wait(user != NULL ? ku : NULL, ka);
}

/* A lock that a failure started, to be logged once auth_lock is released. */
struct auth_lock_note {
	char key[80];
	int failures;
	int64_t secs;		/* 0: no lock started */
};

/*
 * Count a failure for key, kept apart when kept (it is of something that
 * exists); forget: see struct auth_record.  Lock held.  A lock it starts
 * is noted in *note.
 */
static void
auth_fail_key(const char *key, int kept, int64_t now, int64_t forget,
    struct auth_lock_note *note)
{
	struct auth_record *r = kept ? auth_kept_record(key) :
	    auth_record(key, 1);
	int64_t secs = 0;
	int over;

	if (auth_lapsed(r, now)) {
		r->failures = 0;
		r->locked_until = 0;
	}
	r->forget = forget;
	r->last = now;
	r->failures++;
	if ((over = r->failures - AUTH_FREE_TRIES) >= 0) {
		secs = over >= 10 ? AUTH_MAX_LOCK : (int64_t)1 << over;
		if (secs > AUTH_MAX_LOCK) {
			secs = AUTH_MAX_LOCK;
		}
		r->locked_until = now + secs * 1000;
	}
	snprintf(note->key, sizeof(note->key), "%s", key);
	note->failures = r->failures;
	note->secs = secs;
}

/*
 * The operator's line for a lock a failure started, at warning level (one
 * wrong password is no news; a run of them that locks a name or an
 * address is): once per lock, so at most a few dozen lines an hour for a
 * key however fast it is guessed at.  Called without auth_lock.
 */
static void
auth_log_lock(const struct auth_lock_note *note)
{
	static const struct {
		const char *prefix, *what;
	} kinds[] = {
		{ "u:", "logins as user" },
		{ "a:", "logins from" },
		{ "k:tini:", "tini board logins as machine" },
		{ "c:add:u:", "card_add by user" },
		{ "c:add:p:", "card_add from" },
		{ "c:ibutton:u:", "IBUTTON card logins by user" },
		{ "c:ibutton:p:", "IBUTTON card logins from" },
		{ "c:tap:u:", "card taps by user" },
		{ "c:tap:p:", "card taps at machine" },
	};
	size_t i, n;

	if (note->secs == 0) {
		return;
	}
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		n = strlen(kinds[i].prefix);
		if (strncmp(note->key, kinds[i].prefix, n) == 0) {
			log_warn("throttling %s %s: %d failures in a row, "
			    "locked for %lld s", kinds[i].what, note->key + n,
			    note->failures, (long long)note->secs);
			return;
		}
	}
	assert(!"auth record key of no known kind");
}

/*
 * A failure on a user's record (ku NULL: none; an account's when
 * account) and a place's (a machine's when machine).
 */
static void
auth_pair_fail(const char *ku, int account, const char *kp, int machine,
    int64_t forget)
{
	struct auth_lock_note nu = { .secs = 0 }, np;
	int64_t now;

	pthread_mutex_lock(&auth_lock);
	now = auth_clock();
	if (ku != NULL) {
		auth_fail_key(ku, account, now, forget, &nu);
	}
	auth_fail_key(kp, machine, now, forget, &np);
	pthread_mutex_unlock(&auth_lock);
	auth_log_lock(&nu);
	auth_log_lock(&np);
}

void
auth_failed(const char *user, const char *address)
{
	char ku[80], ka[80];

	snprintf(ku, sizeof(ku), "u:%s", user != NULL ? user : "");
	auth_place_key("a:", address, ka, sizeof(ka));
	auth_pair_fail(user != NULL ? ku : NULL, 0, ka, 0, 0);
}

void
auth_account_failed(const char *user, const char *address)
{
	char ku[80], ka[80];

	snprintf(ku, sizeof(ku), "u:%s", user);
	auth_place_key("a:", address, ka, sizeof(ka));
	auth_pair_fail(ku, 1, ka, 0, 0);
}

/*
 * The same throttling for a credential that has no user name and is the
 * only one of its kind, a board's password: key names the record
 * ("tini:MACHINE"), kept apart from user and address records, and the
 * right password clears it.  Cards are not such a credential (auth_card_*).
 */
int64_t
auth_key_throttled(const char *key)
{
	char k[80];
	int64_t wait;

	snprintf(k, sizeof(k), "k:%s", key);
	pthread_mutex_lock(&auth_lock);
	wait = auth_wait(k, auth_clock());
	pthread_mutex_unlock(&auth_lock);
	return wait;
}

void
auth_key_failed(const char *key)
{
	char k[80];

	struct auth_lock_note note;

	snprintf(k, sizeof(k), "k:%s", key);
	pthread_mutex_lock(&auth_lock);
	auth_fail_key(k, 1, auth_clock(), 0, &note);
	pthread_mutex_unlock(&auth_lock);
	auth_log_lock(&note);
}

void
auth_key_succeeded(const char *key)
{
	char k[80];

	snprintf(k, sizeof(k), "k:%s", key);
	pthread_mutex_lock(&auth_lock);
	auth_forget(k);
	pthread_mutex_unlock(&auth_lock);
}

void
auth_succeeded(const char *user, const char *address)
{
	char ku[80], ka[80];

	snprintf(ku, sizeof(ku), "u:%s", user);
	auth_place_key("a:", address, ka, sizeof(ka));
	pthread_mutex_lock(&auth_lock);
	auth_forget(ku);
	auth_forget(ka);
	pthread_mutex_unlock(&auth_lock);
}

/*
 * Card guesses (PROTOCOL.md section 11).  A card UID is a credential that
 * names nobody until it is found, and short UIDs can be enumerated, so
 * every answer that tells whether a UID is bound is a guess: an unknown
 * card at IBUTTON or at a machine's reader, and any card_add (ok tells
 * "was free", exists "is bound").  Guesses are counted per place (the
 * client's address, the machine whose reader saw the card) and, when
 * someone is logged in, per user, in records of their own for each kind
 * (enum auth_card), on the login schedule: AUTH_FREE_TRIES free, then a
 * lock that doubles from 1 s to 15 min.
 *
 * Unlike a login, no success clears a record: a good card proves only
 * that its holder holds that one card, and letting it clear the record
 * let anyone with one card of their own guess for ever, a good card
 * every few tries.  Instead a record lapses AUTH_CARD_FORGET after its
 * last failure, so that the odd unknown card a kiosk or a reader sees
 * does not add up to a lock that never ends.
 */
static const char *const auth_card_kinds[] = {
	[AUTH_CARD_ADD] = "add",
	[AUTH_CARD_IBUTTON] = "ibutton",
	[AUTH_CARD_TAP] = "tap",
};

static void
auth_card_keys(enum auth_card kind, const char *user, const char *place,
    char ku[80], char kp[80])
{
	char prefix[24];

	assert(kind < sizeof(auth_card_kinds) / sizeof(auth_card_kinds[0]));
	snprintf(ku, 80, "c:%s:u:%s", auth_card_kinds[kind],
	    user != NULL ? user : "");
	snprintf(prefix, sizeof(prefix), "c:%s:p:", auth_card_kinds[kind]);
	/* A tap's place is its machine; the others' a client's address. */
	if (kind == AUTH_CARD_TAP) {
		snprintf(kp, 80, "%s%s", prefix, place);
	} else {
		auth_place_key(prefix, place, kp, 80);
	}
}

int64_t
auth_card_throttled(enum auth_card kind, const char *user, const char *place)
{
	char ku[80], kp[80];

	auth_card_keys(kind, user, place, ku, kp);
	return auth_pair_wait(user != NULL ? ku : NULL, kp);
}

void
auth_card_guess(enum auth_card kind, const char *user, const char *place)
{
	char ku[80], kp[80];

	auth_card_keys(kind, user, place, ku, kp);
	/* A user here is logged in, a tap's place a registered machine. */
	auth_pair_fail(user != NULL ? ku : NULL, 1, kp, kind == AUTH_CARD_TAP,
	    AUTH_CARD_FORGET);
}
