/*
 * A fake machine controller for the integration tests: it registers with
 * a machine certificate and answers vends from its own thread in the way a
 * test asks for (ack, nack, silence, hang-up, mute).
 */
#ifndef DRINK_FAKE_H
#define DRINK_FAKE_H

#include <pthread.h>

#include "harness.h"

enum fake_mode {
	FAKE_ACK,	/* answer ok after vend_ms */
	FAKE_NACK,	/* answer ok:false, error jammed */
	FAKE_SILENT,	/* never answer vends (pings still answered) */
	FAKE_HANGUP,	/* close the connection on the first vend */
	FAKE_MUTE,	/* answer nothing at all, not even pings */
};

struct fake {
	struct h_client *c;
	pthread_t thread;
	enum fake_mode mode;
	int vend_ms;
	pthread_mutex_t lock;
	int vends;		/* vend commands received */
	int last_slot, last_delay;
	char last_id[64];
	char order[256];	/* slots in the order vends arrived */
	volatile int stop;
};

/* Register as machine name (certificate machine-NAME) and start serving. */
struct fake *fake_start(struct h_server *srv, const char *name,
    enum fake_mode mode, int vend_ms);
/* Answer a server command as the controller would. */
void fake_reply(struct fake *f, const cJSON *id, int ok);
int fake_vends(struct fake *f);
/* Wait until n vends have arrived; fails the test after 10 s. */
void fake_wait_vends(struct fake *f, int n);
void fake_stop(struct fake *f);

#endif
