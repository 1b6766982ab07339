/*
 * The retention thread: deletes temperatures and closed session rows older
 * than keep_temperatures_days / keep_sessions_days (db_prune), once when
 * the server starts and then every hour.  It works in small batches with a
 * pause between them, so drops and logins never wait long for the writer.
 * Money rows are never pruned.  Once a day it logs the certificate
 * warnings of the start again (server_cert_warnings).
 */
#include <errno.h>
#include <time.h>

#include "drinkd.h"

#define RETENTION_BATCH 500
#define RETENTION_PAUSE_MS 50
#define RETENTION_INTERVAL_S 3600
#define RETENTION_DAY_S (24 * 3600)

static pthread_t retention_thread;
static int retention_running;	/* main thread only */
static pthread_mutex_t retention_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t retention_cond = PTHREAD_COND_INITIALIZER;
static int retention_stopping;	/* guarded by retention_lock */

/* Sleep ms unless told to stop; 1 when stopping. */
static int
retention_wait(int64_t ms)
{
	struct timespec until;
	int stop;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&retention_lock);
	while (!retention_stopping &&
	    pthread_cond_timedwait(&retention_cond, &retention_lock,
	    &until) != ETIMEDOUT) {
		;
	}
	stop = retention_stopping;
	pthread_mutex_unlock(&retention_lock);
	return stop;
}

int
retention_prune(struct db *db, const struct config *cfg)
{
	int64_t now = (int64_t)time(NULL), total = 0;
	int n;

	do {
		n = db_prune(db,
		    now - cfg->keep_temperatures_days * RETENTION_DAY_S,
		    now - cfg->keep_sessions_days * RETENTION_DAY_S,
		    RETENTION_BATCH);
		if (n < 0) {
			log_warn("pruning old history failed; will retry in "
			    "an hour");
			return -1;
		}
		total += n;
	} while (n > 0 && !retention_wait(RETENTION_PAUSE_MS));
	if (total > 0) {
		log_info("pruned %lld row(s) of temperatures and closed "
		    "sessions (older than %ld and %ld days)", (long long)total,
		    cfg->keep_temperatures_days, cfg->keep_sessions_days);
	}
	return (int)(total > INT32_MAX ? INT32_MAX : total);
}

static void
retention_say(const char *msg)
{
	log_warn("%s", msg);
}

static void *
retention_main(void *arg)
{
	struct server *srv = arg;
	long hours = 0;

	do {
		(void)retention_prune(srv->db, srv->cfg);
		/*
		 * The start logged the certificate warnings; a server runs
		 * for months, past a certificate's or a CRL's end: again
		 * once a day.
		 */
		if (hours > 0 && hours % 24 == 0) {
			(void)server_cert_warnings(srv->cfg, retention_say);
		}
		hours++;
	} while (!retention_wait(RETENTION_INTERVAL_S * 1000LL));
	return NULL;
}

int
retention_start(struct server *srv)
{
	retention_stopping = 0;
	if (pthread_create(&retention_thread, NULL, retention_main, srv) !=
	    0) {
		return -1;
	}
	retention_running = 1;
	return 0;
}

void
retention_stop(void)
{
	if (!retention_running) {
		return;
	}
	pthread_mutex_lock(&retention_lock);
	retention_stopping = 1;
	pthread_cond_signal(&retention_cond);
	pthread_mutex_unlock(&retention_lock);
	pthread_join(retention_thread, NULL);
	retention_running = 0;
}
