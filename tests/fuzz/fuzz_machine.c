/*
 * libFuzzer target: lines from a registered controller through the machine
 * port's message handler (replies, events, commands), with a database in
 * a temporary file.  Any reply must be a JSON object.
 *
 * The target is deterministic and runs on one thread: the controller has
 * no card mailbox, so a card_drop is checked (its arguments, fuzzed like
 * every other command's) and refused at once instead of starting the
 * worker thread that would look the card up and drop.  Every command is
 * therefore answered synchronously, which the target asserts; a path that
 * left work running behind the handler would abort here, and in the
 * corpus replay (check_corpus).
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
	/* No mailbox: card_drop starts no worker thread (see above). */
	card_box_close(fuzz_mc.cards);
	fuzz_mc.cards = NULL;
	vend_attach(fuzz_srv.vends, fuzz_mc.mach);
}

/* 1 when line is a command, which machine_handle answers at once. */
static int
fuzz_is_command(const char *line)
{
	cJSON *o = cJSON_Parse(line);
	int is = cJSON_IsObject(o) &&
	    !cJSON_HasObjectItem(o, "ok") &&
	    !cJSON_IsString(cJSON_GetObjectItem(o, "event")) &&
	    cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "cmd"));

	cJSON_Delete(o);
	return is;
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
	/* Nothing left running: a command has its answer now. */
	if (reply == NULL && strlen(line) == size && fuzz_is_command(line)) {
		abort();
	}
	cJSON_Delete(reply);
	free(line);
	return 0;
}
