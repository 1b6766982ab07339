/*
 * The simulated machine: a stock count per slot, a mechanism that takes
 * vend_ms to turn and jams with probability fail_rate, and a cabinet
 * thermometer that wanders a little around its base temperature.  It lets
 * the whole system run, and be tested, with no hardware at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "hw.h"

#define HW_SIM_DRIFT_MAX 0.5	/* degrees either side of the base */
#define HW_SIM_DRIFT_STEP 0.1	/* largest change between two readings */
#define HW_SIM_NUM_DIGITS 7	/* enough for HW_STOCK_MAX */

struct hw_sim {
	int stock[HW_SLOT_MAX + 1];	/* -1: no such slot */
	double fail_rate;
	int vend_ms;
	double base_c;
	double drift_c;
	char *card_file;	/* taps: lines "UID SLOT" appended here */
	long card_off;		/* how far card_file has been read */
};

/* A decimal number of at most HW_SIM_NUM_DIGITS digits and no sign. */
static int
hw_sim_number(const char *s, size_t len, long *out)
{
	size_t i;
	long v = 0;

	if (len == 0 || len > HW_SIM_NUM_DIGITS) {
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return -1;
		}
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * Parse "SLOT:STOCK,SLOT:STOCK,..." into sim->stock.  The reason for a
 * failure quotes the offending part, so a typo in a long list is easy to
 * find.
 */
static int
hw_sim_parse(struct hw_sim *sim, const char *spec, char *err, size_t errlen)
{
	const char *part = spec, *end, *colon;
	long slot, stock;
	int len;

	if (*spec == '\0') {
		snprintf(err, errlen, "empty slot list (want SLOT:STOCK,...)");
		return -1;
	}
	for (;;) {
		end = strchr(part, ',');
		if (end == NULL) {
			end = part + strlen(part);
		}
		len = (int)(end - part);
		if (len == 0) {
			snprintf(err, errlen, "empty entry in '%s' (want "
			    "SLOT:STOCK,...)", spec);
			return -1;
		}
		colon = memchr(part, ':', (size_t)len);
		if (colon == NULL ||
		    hw_sim_number(part, (size_t)(colon - part), &slot) != 0 ||
		    hw_sim_number(colon + 1, (size_t)(end - colon - 1),
		    &stock) != 0) {
			snprintf(err, errlen, "bad slot '%.*s' (want SLOT:STOCK)",
			    len, part);
			return -1;
		}
		if (slot < HW_SLOT_MIN || slot > HW_SLOT_MAX) {
			snprintf(err, errlen, "bad slot '%.*s' (slot must be "
			    "%d-%d)", len, part, HW_SLOT_MIN, HW_SLOT_MAX);
			return -1;
		}
		if (stock > HW_STOCK_MAX) {
			snprintf(err, errlen, "bad slot '%.*s' (stock must be "
			    "0-%d)", len, part, HW_STOCK_MAX);
			return -1;
		}
		if (sim->stock[slot] != -1) {
			snprintf(err, errlen, "bad slot '%.*s' (slot %ld "
			    "listed twice)", len, part, slot);
			return -1;
		}
		sim->stock[slot] = (int)stock;
		if (*end == '\0') {
			break;
		}
		part = end + 1;
	}
	return 0;
}

static enum hw_open
hw_sim_open(void **hw, const char *spec, const struct hw_params *p, char *err,
    size_t errlen)
{
	struct hw_sim *sim = xcalloc(1, sizeof(*sim));
	size_t i;

	for (i = 0; i < sizeof(sim->stock) / sizeof(sim->stock[0]); i++) {
		sim->stock[i] = -1;
	}
	if (hw_sim_parse(sim, spec, err, errlen) != 0) {
		free(sim);
		return HW_OPEN_BAD_SPEC;
	}
	sim->fail_rate = p->fail_rate;
	sim->vend_ms = p->vend_ms;
	sim->base_c = p->temp_c;
	sim->card_file = p->card_file != NULL ? xstrdup(p->card_file) : NULL;
	*hw = sim;
	return HW_OPEN_OK;
}

static void
hw_sim_close(void *hw)
{
	struct hw_sim *sim = hw;

	if (sim != NULL) {
		free(sim->card_file);
	}
	free(sim);
}

/* Sleep the whole time even when signals arrive: the motor keeps turning. */
static void
hw_sim_sleep(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
		.tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
		;
	}
}

static enum hw_vend
hw_sim_vend(void *hw, int slot, char *msg, size_t msglen)
{
	struct hw_sim *sim = hw;

	if (slot < HW_SLOT_MIN || slot > HW_SLOT_MAX ||
	    sim->stock[slot] == -1) {
		snprintf(msg, msglen, "this machine has no slot %d", slot);
		return HW_VEND_NO_SUCH_SLOT;
	}
	/* The sensor sees an empty slot; the mechanism is not started. */
	if (sim->stock[slot] == 0) {
		snprintf(msg, msglen, "slot %d is empty", slot);
		return HW_VEND_EMPTY;
	}
	hw_sim_sleep(sim->vend_ms);
	if (sim->fail_rate > 0 && drand48() < sim->fail_rate) {
		snprintf(msg, msglen, "slot %d jammed; nothing dropped", slot);
		return HW_VEND_JAMMED;
	}
	sim->stock[slot]--;
	return HW_VEND_OK;
}

static void
hw_sim_stock(void *hw, cJSON *slots)
{
	struct hw_sim *sim = hw;
	cJSON *o;
	int slot;

	for (slot = HW_SLOT_MIN; slot <= HW_SLOT_MAX; slot++) {
		if (sim->stock[slot] == -1) {
			continue;
		}
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "slot", slot);
		cJSON_AddNumberToObject(o, "stock", sim->stock[slot]);
		cJSON_AddItemToArray(slots, o);
	}
}

/*
 * A bounded random walk around the base, reported to 0.1 degree like a
 * cheap cabinet sensor, so successive readings look plausible.
 */
static int
hw_sim_temperature(void *hw, double *celsius)
{
	struct hw_sim *sim = hw;
	double t;

	sim->drift_c += (drand48() * 2 - 1) * HW_SIM_DRIFT_STEP;
	if (sim->drift_c > HW_SIM_DRIFT_MAX) {
		sim->drift_c = HW_SIM_DRIFT_MAX;
	}
	if (sim->drift_c < -HW_SIM_DRIFT_MAX) {
		sim->drift_c = -HW_SIM_DRIFT_MAX;
	}
	t = (sim->base_c + sim->drift_c) * 10;
	*celsius = (double)(long)(t < 0 ? t - 0.5 : t + 0.5) / 10;
	return 0;
}

/*
 * The simulated reader: each complete line "UID SLOT" appended to the
 * card file is one tap (a card held to the reader, then a slot button).
 * Malformed lines are skipped with a warning.  Only a regular file will
 * do: opening a FIFO would block the controller until someone writes to
 * it, and reading from an offset needs a file that keeps its lines.
 */
static int
hw_sim_card(void *hw, char *uid, size_t len, int *slot)
{
	struct hw_sim *sim = hw;
	char line[128], id[HW_CARD_MAX + 2];
	struct stat st;
	FILE *f;
	int found = 0, n, fd;

	if (sim->card_file == NULL) {
		return -1;
	}
	if ((fd = open(sim->card_file, O_RDONLY | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		return 0;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		log_warn("card file %s is not a regular file; the simulated "
		    "card reader is off", sim->card_file);
		close(fd);
		free(sim->card_file);
		sim->card_file = NULL;
		return -1;
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return 0;
	}
	while (!found && fseek(f, sim->card_off, SEEK_SET) == 0 &&
	    fgets(line, sizeof(line), f) != NULL &&
	    strchr(line, '\n') != NULL) {
		sim->card_off = ftell(f);
		if (sscanf(line, "%33s %d", id, &n) == 2 &&
		    strlen(id) <= HW_CARD_MAX && n >= HW_SLOT_MIN &&
		    n <= HW_SLOT_MAX) {
			snprintf(uid, len, "%s", id);
			*slot = n;
			found = 1;
		} else {
			log_warn("card file: bad line skipped (want UID SLOT)");
		}
	}
	fclose(f);
	return found;
}

const struct hw_ops hw_sim_ops = {
	.name = "simulator",
	.open = hw_sim_open,
	.vend = hw_sim_vend,
	.stock = hw_sim_stock,
	.temperature = hw_sim_temperature,
	.card = hw_sim_card,
	.close = hw_sim_close,
};
