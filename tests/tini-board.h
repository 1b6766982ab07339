/*
 * A simulated tini vending board, written from LEGACY.md section 3, for
 * the integration tests: it speaks plaintext to socat, which holds the
 * machine's certificate and speaks TLS to drinkd's tini listener, as a
 * real board's wrapper does.  The board logs in, answers "6" with its
 * slot states, answers each "3<slot>" after a short while with "4" (or
 * "5" when told to jam) followed by its states, and sends "9" keepalives.
 */
#ifndef DRINK_TINI_BOARD_H
#define DRINK_TINI_BOARD_H

#include "harness.h"

struct tini_board;

/*
 * socat on a free loopback port presenting cert (e.g. "machine-m1") to
 * srv's tini_listen, and the board logged in through it with password.
 * NULL when socat could not be started or the login was refused.
 */
struct tini_board *tini_board_start(struct h_server *srv, const char *cert,
    const char *password);
/* The next vend fails ("5"). */
void tini_board_jam_next(struct tini_board *tb);
/* Vends ("3...") received so far. */
int tini_board_vends(struct tini_board *tb);
/* Stop the board and socat; frees tb. */
void tini_board_stop(struct tini_board *tb);

#endif
