/*
 * libFuzzer target: one member request line through the parser and the
 * dispatcher, against a real database in a temporary file.  The first
 * byte picks the session's role (anonymous, member, admin), the rest is
 * the line.  Every reply must be one JSON object on one line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drinkd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config fuzz_cfg;
static char fuzz_dir[] = "/tmp/drink-fuzz-XXXXXX";

/* The database lives only as long as the process. */
static void
fuzz_cleanup(void)
{
	char path[64];

	snprintf(path, sizeof(path), "%s/fuzz.db", fuzz_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fuzz.db-wal", fuzz_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fuzz.db-shm", fuzz_dir);
	unlink(path);
	rmdir(fuzz_dir);
}
static struct server fuzz_srv;

static void
fuzz_init(void)
{
	char path[64], err[256];

	if (mkdtemp(fuzz_dir) == NULL) {
		abort();
	}
	atexit(fuzz_cleanup);
	snprintf(path, sizeof(path), "%s/fuzz.db", fuzz_dir);
	log_init("fuzz", 1, LOG_LEVEL_ERR);
	config_init(&fuzz_cfg);
	fuzz_srv.cfg = &fuzz_cfg;
	if ((fuzz_srv.db = db_open(path, 1, err, sizeof(err))) == NULL ||
	    auth_init() != 0) {
		fprintf(stderr, "fuzz: %s\n", err);
		abort();
	}
	fuzz_srv.vends = vend_reg_new(1000, NULL, NULL);
	/* A cheap hash: logins stay fast; only the dummy check is slow. */
	db_user_add(fuzz_srv.db, NULL, "alice", "$argon2id$v=19$m=8,t=1,p=1$"
	    "c2FsdHNhbHRzYWx0$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ",
	    "member", 100);
	db_user_add(fuzz_srv.db, NULL, "admin", "x", "admin", 100);
	db_machine_add(fuzz_srv.db, "m1", "Fuzz");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct session s;
	char *line, *out;
	size_t len;

	if (!ready) {
		fuzz_init();
		ready = 1;
	}
	if (size < 1 || size > 65536) {
		return 0;
	}
	memset(&s, 0, sizeof(s));
	s.peer.srv = &fuzz_srv;
	snprintf(s.peer.client.address, sizeof(s.peer.client.address),
	    "127.0.0.1");
	if (data[0] % 3 > 0) {
		s.logged_in = 1;
		s.admin = data[0] % 3 == 2;
		snprintf(s.user, sizeof(s.user), "%s", s.admin ? "admin" :
		    "alice");
	}
	line = xmalloc(size);
	memcpy(line, data + 1, size - 1);
	line[size - 1] = '\0';
	out = cmd_dispatch(&s, line, size - 1, &len);
	if (len == 0 || out[len - 1] != '\n' ||
	    memchr(out, '\n', len - 1) != NULL || out[0] != '{') {
		abort();
	}
	free(out);
	free(line);
	return 0;
}
