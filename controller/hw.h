/*
 * The vending hardware behind one small interface, so the protocol side of
 * drink-machine never knows whether it drives a real board or the
 * simulator.  A driver is a table of operations on an opaque handle; all
 * calls come from the one controller thread.
 */
#ifndef DRINK_HW_H
#define DRINK_HW_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define HW_SLOT_MIN 1
#define HW_SLOT_MAX 255
#define HW_STOCK_MAX 1000000

/* Outcome of one vend.  ctl-cmd.c maps each to its wire error code. */
enum hw_vend {
	HW_VEND_OK,
	HW_VEND_NO_SUCH_SLOT,	/* the machine has no such slot */
	HW_VEND_EMPTY,		/* sensed empty; the mechanism did not move */
	HW_VEND_JAMMED,		/* the mechanism ran but nothing dropped */
	HW_VEND_FAULT,		/* any other hardware failure */
	HW_VEND_COUNT
};

enum hw_open {
	HW_OPEN_OK = 0,
	HW_OPEN_BAD_SPEC = -1,	/* the driver's argument is wrong: usage */
	HW_OPEN_FAILED = -2,	/* the hardware itself cannot be used */
};

/* Settings every driver receives; a driver may ignore what it cannot use. */
struct hw_params {
	double fail_rate;	/* simulator: probability that a vend jams */
	int vend_ms;		/* simulator: how long the mechanism runs */
	double temp_c;		/* simulator: base temperature */
	const char *card_file;	/* simulator: card taps appear here, or NULL */
};

#define HW_CARD_MAX 32		/* hex digits of a card UID */

struct hw_ops {
	const char *name;
	/*
	 * Open the hardware described by spec (the --simulate argument for
	 * the simulator).  On failure returns HW_OPEN_* with a one-line
	 * reason in err that names the bad part of spec.
	 */
	enum hw_open (*open)(void **hw, const char *spec,
	    const struct hw_params *p, char *err, size_t errlen);
	/*
	 * Drop one item from slot, blocking until the mechanism has
	 * finished (signals do not cut it short: a half-turned spiral is
	 * worse than a late exit).  On failure msg receives a human text.
	 */
	enum hw_vend (*vend)(void *hw, int slot, char *msg, size_t msglen);
	/* Append {"slot":N,"stock":M} for every slot to the array slots. */
	void (*stock)(void *hw, cJSON *slots);
	/* Current cabinet temperature; -1 when there is no sensor. */
	int (*temperature)(void *hw, double *celsius);
	/*
	 * The card reader: 1 when a card was tapped and a slot chosen since
	 * the last call (uid gets up to HW_CARD_MAX hex digits), 0 when not,
	 * -1 when the machine has no reader.  Never blocks.
	 */
	int (*card)(void *hw, char *uid, size_t len, int *slot);
	void (*close)(void *hw);
};

/* hw-sim.c */
extern const struct hw_ops hw_sim_ops;

#endif
