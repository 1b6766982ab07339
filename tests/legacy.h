/*
 * Helpers for the legacy-dialect suites (check_sunday, check_tini): the
 * listeners' ports from the ports file, and byte-exact reads, where the
 * line-oriented harness helpers would hide a "\r" or a missing newline.
 */
#ifndef DRINK_LEGACY_H
#define DRINK_LEGACY_H

#include "harness.h"

/* The port of a listener from the ports file ("sunday_listen", ...). */
int lg_port(struct h_server *s, const char *key);
/*
 * Read from c until exactly strlen(want) bytes have arrived (fails the
 * test after H_DEADLINE_MS or on close) and fail unless they are want.
 */
void lg_expect(struct h_client *c, const char *want);
/* Write text as it is; fails the test on error. */
void lg_send(struct h_client *c, const char *text);
/* lg_send text, then lg_expect exactly reply: one exchange. */
void lg_say(struct h_client *c, const char *text, const char *reply);
/*
 * Ask s for `who` as admin and fail unless an entry's field (e.g. "user")
 * is value, and every such entry is of the given kind ("member").
 */
void lg_who_is(struct h_server *s, const char *field, const char *value,
    const char *kind);
/* 1 when nothing at all arrives on c within ms (and it stays open). */
int lg_quiet(struct h_client *c, int64_t ms);
/* The same for a plain socket: lg_expect_fd, lg_quiet_fd. */
void lg_expect_fd(int fd, const char *want);
int lg_quiet_fd(int fd, int64_t ms);
void lg_send_fd(int fd, const char *text);

#endif
