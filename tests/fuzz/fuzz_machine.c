/*
 * libFuzzer target: lines from a registered controller through the machine
 * port's message handler (replies, events, commands), with a database in
 * a temporary file.  Any reply must be a JSON object.
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
static struct machine_conn fuzz_mc;

static void
fuzz_init(void)
{
	char path[64], err[256];
	cJSON *slot = cJSON_CreateObject();

	if (mkdtemp(fuzz_dir) == NULL) {
		abort();
	}
	atexit(fuzz_cleanup);
	snprintf(path, sizeof(path), "%s/fuzz.db", fuzz_dir);
	log_init("fuzz", 1, LOG_LEVEL_ERR);
	config_init(&fuzz_cfg);
	fuzz_srv.cfg = &fuzz_cfg;
	if ((fuzz_srv.db = db_open(path, 1, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz: %s\n", err);
		abort();
	}
	fuzz_srv.vends = vend_reg_new(1000, NULL, NULL);
	fuzz_mc.peer.srv = &fuzz_srv;
	fuzz_mc.peer.client.fd = -1;
	db_machine_add(fuzz_srv.db, "m1", "Fuzz");
	db_slot_set(fuzz_srv.db, "m1", 3, "Coke", 10, 5, 1, slot);
	cJSON_Delete(slot);
	if (machine_setup(&fuzz_mc, "m1") != 0) {
		abort();
	}
	vend_attach(fuzz_srv.vends, fuzz_mc.mach);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	cJSON *reply;
	char *line;

	if (!ready) {
		fuzz_init();
		ready = 1;
	}
	if (size > 65536) {
		return 0;
	}
	line = xmalloc(size + 1);
	memcpy(line, data, size);
	line[size] = '\0';
	machine_handle(&fuzz_mc, line, size, &reply);
	if (reply != NULL && !cJSON_IsObject(reply)) {
		abort();
	}
	cJSON_Delete(reply);
	free(line);
	return 0;
}
