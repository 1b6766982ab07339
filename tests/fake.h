/*
 * A fake machine controller for the integration tests: it registers with
 * a machine certificate and answers vends from its own thread in the way a
 * test asks for (ack, nack, silence, hang-up, mute).  After fake_start the
 * connection belongs to that thread alone; tests talk to the fake only
 * through these functions, which take its lock.
 */
#ifndef DRINK_FAKE_H
#define DRINK_FAKE_H

#include <pthread.h>

#include "harness.h"

#define FAKE_OUTBOX 8

enum fake_mode {
	FAKE_ACK,	/* answer ok after vend_ms */
	FAKE_NACK,	/* answer ok:false, error jammed */
	FAKE_SILENT,	/* never answer vends (pings still answered) */
	FAKE_HANGUP,	/* close the connection on the first vend */
	FAKE_MUTE,	/* answer nothing at all, not even pings */
	/*
	 * Sensing machines: they count their stock (slot 3: 5, slot 4: 100
	 * at register) and report it after each vend, in one TLS write with
	 * the answer.
	 */
	FAKE_ACK_SLOTS,	/* {"ok":true} then a slots event */
	FAKE_SLOTS_ACK,	/* a slots event then {"ok":true} */
	FAKE_ACK_STOCK,	/* {"ok":true,"stock":N} */
};

struct fake {
	struct h_client *c;	/* owned by the fake's thread */
	pthread_t thread;
	enum fake_mode mode;
	int vend_ms;
	pthread_mutex_t lock;	/* guards everything below */
	int vends;		/* vend commands received */
	int last_slot, last_delay;
	char last_id[64];
	char order[256];	/* slots in the order vends arrived */
	int stock[256];		/* sensing modes: the machine's own count */
	char *outbox[FAKE_OUTBOX]; /* lines for the thread to send */
	int closed;		/* the server closed the connection */
	int stop;
};

/* Register as machine name (certificate machine-NAME) and start serving. */
struct fake *fake_start(struct h_server *srv, const char *name,
    enum fake_mode mode, int vend_ms);
/* fake_start presenting certificate cert (e.g. "revoked-m1"). */
struct fake *fake_start_cert(struct h_server *srv, const char *name,
    const char *cert, enum fake_mode mode, int vend_ms);
/* Have the fake's thread send line (an event, a late answer, ...). */
void fake_send(struct fake *f, const char *line);
/* Answer the last vend received late, as ok or failed. */
void fake_answer_last(struct fake *f, int ok);
int fake_vends(struct fake *f);
/* A sensing fake's own count for slot. */
int fake_stock(struct fake *f, int slot);
/* The last vend's slot and delay. */
void fake_last(struct fake *f, int *slot, int *delay);
/* The slots vended, in order, as "3,4,". */
void fake_order(struct fake *f, char *buf, size_t len);
/* Wait until n vends have arrived; fails the test after 10 s. */
void fake_wait_vends(struct fake *f, int n);
/* 1 when the server has closed the fake's connection, without waiting. */
int fake_closed_now(struct fake *f);
/* 1 once the server has closed the fake's connection (waits up to 10 s). */
int fake_closed(struct fake *f);
void fake_stop(struct fake *f);

#endif
