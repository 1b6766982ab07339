/*
 * drink-machine, the reference machine controller.  ctl.c reads the
 * command line and owns the signals; ctl-link.c keeps one registered
 * connection to drinkd's machine port alive; ctl-cmd.c answers what the
 * server sends on it; the hardware sits behind hw.h.
 */
#ifndef DRINK_CTL_H
#define DRINK_CTL_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "common.h"
#include "hw.h"

/* Exit statuses: part of the command line's contract (drink-machine(1)). */
enum ctl_exit {
	CTL_EXIT_OK = 0,	/* stopped by SIGTERM or SIGINT */
	CTL_EXIT_FATAL = 1,	/* unusable certificate, refused: forbidden,
				 * or -p is not a machine port */
	CTL_EXIT_USAGE = 2,
};

/* Timings, in milliseconds; PROTOCOL.md §4 fixes the 30 s / 3 x 30 s. */
#define CTL_CONNECT_MS 10000	/* dial; again the handshake; again register */
#define CTL_WRITE_MS 10000	/* any one message */
#define CTL_LINE_MS 10000	/* a line, once started, must be complete */
#define CTL_PING_MS 30000
#define CTL_CARD_POLL_MS 200	/* how often the card reader is looked at */
#define CTL_SILENCE_MS 90000	/* nothing heard that long: reconnect */
#define CTL_CLOSE_MS 1000	/* the parting close_notify */
#define CTL_ALERT_MS 1000	/* a refusal's alert, after a failed write */
#define CTL_BACKOFF_MIN_MS 500
#define CTL_BACKOFF_MAX_MS 30000
#define CTL_STABLE_MS 30000	/* registered this long: backoff starts over */
#define CTL_MAX_LINE 65536	/* the protocol's default max_line */
#define CTL_DELAY_MAX 300	/* seconds, as for a member's drop */

/*
 * The ids of our own requests: pings are "c1", "c2", ...; card_drops
 * "card1", "card2", ..., so that a reply says which of the two it answers.
 */
#define CTL_CARD_ID_PREFIX "card"

/* What the command line chose; strings point into argv. */
struct ctl_config {
	const char *host;
	const char *port;
	const char *ca;
	const char *cert;
	const char *key;
	int temp_interval_s;
	const struct hw_ops *hw_ops;
	void *hw;
};

/*
 * A vend the server asked for, waiting out its delay.  The controller
 * keeps talking to the server meanwhile, so a long delay does not look
 * like a dead machine, and a connection lost before the item drops
 * cancels the vend instead of dropping an item nobody paid for.
 */
struct ctl_vend {
	int active;
	char *id;		/* the request's "id" as raw JSON, or NULL */
	int slot;
	int delay_s;
	int64_t due;		/* now_ms() at which the mechanism starts */
};

/* One connection to the server and what is scheduled on it. */
struct ctl_link {
	const struct ctl_config *cfg;
	SSL_CTX *ctx;
	struct conn *conn;
	int64_t heard;		/* last complete line from the server */
	int64_t next_ping;
	int64_t next_temp;
	unsigned long ping_seq;
	unsigned long card_seq;
	int64_t next_card;	/* next look at the card reader */
	struct ctl_vend vend;
};

/* ctl.c */
/* 1 once SIGTERM or SIGINT has arrived. */
int ctl_stopping(void);
/* Readable whenever a stop signal has arrived; poll it with the socket. */
int ctl_wake_fd(void);

/* ctl-link.c */
/* Connect, register and serve until stopped; returns a CTL_EXIT_*. */
int ctl_link_run(const struct ctl_config *cfg, SSL_CTX *ctx);
/* Send one message (borrowed) within CTL_WRITE_MS; -1 after logging. */
int ctl_link_send(struct ctl_link *l, const cJSON *msg);
/* A tapped card asks for a drop from slot (PROTOCOL.md section 11). */
int ctl_link_send_card(struct ctl_link *l, const char *uid, int slot);
/* Send {"event":"slots",...} with the stock the hardware senses now. */
int ctl_link_send_slots(struct ctl_link *l);

/* ctl-cmd.c */
/* Act on one line from a registered connection; -1 to drop it. */
int ctl_cmd_dispatch(struct ctl_link *l, const char *line, size_t len);
/* Run the scheduled vend once it is due, answer, report stock; -1: drop. */
int ctl_cmd_vend_run(struct ctl_link *l);
/*
 * Give up the scheduled vend before the mechanism moved.  With reply set
 * the server is told (code/why); otherwise the connection is already gone.
 * -1 only when the reply could not be sent.
 */
int ctl_cmd_vend_cancel(struct ctl_link *l, int reply, const char *why);

#endif
