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
 * the address's record.  Records live in a small fixed table; when it is
 * full the stalest record is reused.
 */
#include <argon2.h>
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

static sem_t auth_sem;
static char *auth_dummy;

struct auth_record {
	char key[80];		/* "u:name" or "a:address" */
	int failures;
	int64_t locked_until;	/* monotonic ms */
	int64_t last;
};
static struct auth_record auth_records[AUTH_RECORDS];
static pthread_mutex_t auth_lock = PTHREAD_MUTEX_INITIALIZER;

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

/* Find key's record, or claim the stalest slot for it; lock held. */
static struct auth_record *
auth_record(const char *key, int create)
{
	struct auth_record *r, *stalest = &auth_records[0];
	size_t i;

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

static int64_t
auth_wait(const char *key, int64_t now)
{
	struct auth_record *r = auth_record(key, 0);

	if (r == NULL || r->locked_until <= now) {
		return 0;
	}
	return (r->locked_until - now + 999) / 1000;
}

int64_t
auth_throttled(const char *user, const char *address)
{
	char ku[80], ka[80];
	int64_t now = now_ms(), a, b;

	snprintf(ku, sizeof(ku), "u:%s", user != NULL ? user : "");
	snprintf(ka, sizeof(ka), "a:%s", address);
	pthread_mutex_lock(&auth_lock);
	a = user != NULL ? auth_wait(ku, now) : 0;
	b = auth_wait(ka, now);
	pthread_mutex_unlock(&auth_lock);
	return a > b ? a : b;
}

static void
auth_fail_key(const char *key, int64_t now)
{
	struct auth_record *r = auth_record(key, 1);
	int64_t secs;
	int over;

	r->last = now;
	r->failures++;
	if ((over = r->failures - AUTH_FREE_TRIES) >= 0) {
		secs = over >= 10 ? AUTH_MAX_LOCK : (int64_t)1 << over;
		if (secs > AUTH_MAX_LOCK) {
			secs = AUTH_MAX_LOCK;
		}
		r->locked_until = now + secs * 1000;
	}
}

void
auth_failed(const char *user, const char *address)
{
	char ku[80], ka[80];
	int64_t now = now_ms();

	snprintf(ku, sizeof(ku), "u:%s", user != NULL ? user : "");
	snprintf(ka, sizeof(ka), "a:%s", address);
	pthread_mutex_lock(&auth_lock);
	if (user != NULL) {
		auth_fail_key(ku, now);
	}
	auth_fail_key(ka, now);
	pthread_mutex_unlock(&auth_lock);
}

/*
 * The same throttling for a credential that has no user name: a card
 * tapped at an address or a machine, a board's password.  key names the
 * record ("card:ADDRESS", ...), kept apart from user and address records.
 */
int64_t
auth_key_throttled(const char *key)
{
	char k[80];
	int64_t wait;

	snprintf(k, sizeof(k), "k:%s", key);
	pthread_mutex_lock(&auth_lock);
	wait = auth_wait(k, now_ms());
	pthread_mutex_unlock(&auth_lock);
	return wait;
}

void
auth_key_failed(const char *key)
{
	char k[80];

	snprintf(k, sizeof(k), "k:%s", key);
	pthread_mutex_lock(&auth_lock);
	auth_fail_key(k, now_ms());
	pthread_mutex_unlock(&auth_lock);
}

void
auth_key_succeeded(const char *key)
{
	struct auth_record *r;
	char k[80];

	snprintf(k, sizeof(k), "k:%s", key);
	pthread_mutex_lock(&auth_lock);
	if ((r = auth_record(k, 0)) != NULL) {
		memset(r, 0, sizeof(*r));
	}
	pthread_mutex_unlock(&auth_lock);
}

void
auth_succeeded(const char *user, const char *address)
{
	struct auth_record *r;
	char ku[80], ka[80];

	snprintf(ku, sizeof(ku), "u:%s", user);
	snprintf(ka, sizeof(ka), "a:%s", address);
	pthread_mutex_lock(&auth_lock);
	if ((r = auth_record(ku, 0)) != NULL) {
		memset(r, 0, sizeof(*r));
	}
	if ((r = auth_record(ka, 0)) != NULL) {
		memset(r, 0, sizeof(*r));
	}
	pthread_mutex_unlock(&auth_lock);
}
