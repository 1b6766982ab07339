/*
 * The fake controller (see fake.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake.h"

/* An answer to a server command, as a line the fake sends. */
static char *
fake_answer(const char *id, int ok)
{
	cJSON *o = cJSON_CreateObject();
	char *text;

	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddBoolToObject(o, "ok", ok);
	if (!ok) {
		cJSON_AddStringToObject(o, "error", "jammed");
		cJSON_AddStringToObject(o, "message", "slot motor stuck");
	}
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

static void
fake_queue(struct fake *f, char *line)
{
	int i;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < FAKE_OUTBOX && f->outbox[i] != NULL; i++) {
		;
	}
	ck_assert_msg(i < FAKE_OUTBOX, "fake outbox full");
	f->outbox[i] = line;
	pthread_mutex_unlock(&f->lock);
}

void
fake_send(struct fake *f, const char *line)
{
	fake_queue(f, xstrdup(line));
}

void
fake_answer_last(struct fake *f, int ok)
{
	char id[64];

	pthread_mutex_lock(&f->lock);
	snprintf(id, sizeof(id), "%s", f->last_id);
	pthread_mutex_unlock(&f->lock);
	fake_queue(f, fake_answer(id, ok));
}

/* Send what tests queued; in the fake's thread. */
static void
fake_flush(struct fake *f)
{
	char *line;
	int i;

	for (i = 0; i < FAKE_OUTBOX; i++) {
		pthread_mutex_lock(&f->lock);
		line = f->outbox[i];
		f->outbox[i] = NULL;
		pthread_mutex_unlock(&f->lock);
		if (line != NULL) {
			h_send(f->c, line);
			free(line);
		}
	}
}

static void
fake_vend(struct fake *f, const cJSON *msg, const char *id)
{
	char n[8];

	pthread_mutex_lock(&f->lock);
	f->vends++;
	f->last_slot = cJSON_GetObjectItem(msg, "slot")->valueint;
	f->last_delay = cJSON_GetObjectItem(msg, "delay")->valueint;
	snprintf(f->last_id, sizeof(f->last_id), "%s", id);
	snprintf(n, sizeof(n), "%d,", f->last_slot);
	strncat(f->order, n, sizeof(f->order) - strlen(f->order) - 1);
	pthread_mutex_unlock(&f->lock);
}

/*
 * A sensing machine's answer: the item drops, the count goes down, and
 * the answer and the count leave in a single write, so the server reads
 * both from one TLS record.
 */
static void
fake_sensed_answer(struct fake *f, const char *id)
{
	char *both;
	int slot, left;

	usleep((useconds_t)f->vend_ms * 1000);
	pthread_mutex_lock(&f->lock);
	slot = f->last_slot;
	left = f->stock[slot] > 0 ? --f->stock[slot] : 0;
	pthread_mutex_unlock(&f->lock);
	if (f->mode == FAKE_ACK_STOCK) {
		both = xasprintf("{\"id\":\"%s\",\"ok\":true,\"stock\":%d}",
		    id, left);
	} else if (f->mode == FAKE_ACK_SLOTS) {
		both = xasprintf("{\"id\":\"%s\",\"ok\":true}\n"
		    "{\"event\":\"slots\",\"slots\":[{\"slot\":%d,"
		    "\"stock\":%d}]}", id, slot, left);
	} else {
		both = xasprintf("{\"event\":\"slots\",\"slots\":[{\"slot\":"
		    "%d,\"stock\":%d}]}\n{\"id\":\"%s\",\"ok\":true}", slot,
		    left, id);
	}
	h_send(f->c, both);
	free(both);
}

int
fake_stock(struct fake *f, int slot)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = f->stock[slot];
	pthread_mutex_unlock(&f->lock);
	return n;
}

static int
fake_stopping(struct fake *f)
{
	int stop;

	pthread_mutex_lock(&f->lock);
	stop = f->stop;
	pthread_mutex_unlock(&f->lock);
	return stop;
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	const cJSON *cmd, *id;
	cJSON *msg;
	char *line;
	int st;

	while (!fake_stopping(f)) {
		fake_flush(f);
		if ((st = h_read_line(f->c, 50)) == CONN_TIMEOUT) {
			continue;
		}
		if (st != CONN_OK) {
			break;
		}
		if ((msg = cJSON_Parse(f->c->line)) == NULL) {
			continue;
		}
		cmd = cJSON_GetObjectItem(msg, "cmd");
		id = cJSON_GetObjectItem(msg, "id");
		if (!cJSON_IsString(cmd) || !cJSON_IsString(id)) {
			cJSON_Delete(msg);
			continue;
		}
		if (strcmp(cmd->valuestring, "ping") == 0 &&
		    f->mode != FAKE_MUTE) {
			line = fake_answer(id->valuestring, 1);
			h_send(f->c, line);
			free(line);
		} else if (strcmp(cmd->valuestring, "vend") == 0) {
			fake_vend(f, msg, id->valuestring);
			if (f->mode == FAKE_HANGUP) {
				cJSON_Delete(msg);
				break;
			}
			if (f->mode >= FAKE_ACK_SLOTS) {
				fake_sensed_answer(f, id->valuestring);
			} else if (f->mode == FAKE_ACK || f->mode == FAKE_NACK) {
				usleep((useconds_t)f->vend_ms * 1000);
				line = fake_answer(id->valuestring,
				    f->mode == FAKE_ACK);
				h_send(f->c, line);
				free(line);
			}
		}
		cJSON_Delete(msg);
	}
	/* Hang up (or notice the server did). */
	conn_free(f->c->conn);
	f->c->conn = NULL;
	pthread_mutex_lock(&f->lock);
	f->closed = 1;
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* Connect as machine name with cert, register with slots, start serving. */
struct fake *
fake_start_cert(struct h_server *srv, const char *name, const char *cert,
    enum fake_mode mode, int vend_ms)
{
	struct fake *f = xcalloc(1, sizeof(*f));
	char err[256], line[160];
	cJSON *r;

	f->c = h_tls_dial(srv->machine_port, cert, err, sizeof(err));
	ck_assert_msg(f->c != NULL, "%s", err);
	f->mode = mode;
	f->vend_ms = vend_ms;
	f->stock[3] = 5;
	f->stock[4] = 100;
	pthread_mutex_init(&f->lock, NULL);
	snprintf(line, sizeof(line), "{\"id\":1,\"cmd\":\"register\",\"slots\""
	    ":[{\"slot\":3,\"stock\":5},{\"slot\":4,\"stock\":100}],"
	    "\"firmware\":\"fake 1\"}");
	r = h_call(f->c, line);
	H_ASSERT_OK(r);
	ck_assert_str_eq(h_str(r, "machine"), name);
	ck_assert_int_eq(h_num(r, "id"), 1);
	cJSON_Delete(r);
	pthread_create(&f->thread, NULL, fake_main, f);
	return f;
}

struct fake *
fake_start(struct h_server *srv, const char *name, enum fake_mode mode,
    int vend_ms)
{
	char cert[64];

	snprintf(cert, sizeof(cert), "machine-%s", name);
	return fake_start_cert(srv, name, cert, mode, vend_ms);
}

int
fake_vends(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = f->vends;
	pthread_mutex_unlock(&f->lock);
	return n;
}

void
fake_last(struct fake *f, int *slot, int *delay)
{
	pthread_mutex_lock(&f->lock);
	*slot = f->last_slot;
	*delay = f->last_delay;
	pthread_mutex_unlock(&f->lock);
}

void
fake_order(struct fake *f, char *buf, size_t len)
{
	pthread_mutex_lock(&f->lock);
	snprintf(buf, len, "%s", f->order);
	pthread_mutex_unlock(&f->lock);
}

void
fake_wait_vends(struct fake *f, int n)
{
	int64_t deadline = now_ms() + 10000;

	while (fake_vends(f) < n) {
		ck_assert_msg(now_ms() < deadline, "no vend arrived");
		usleep(10 * 1000);
	}
}

int
fake_closed_now(struct fake *f)
{
	int closed;

	pthread_mutex_lock(&f->lock);
	closed = f->closed;
	pthread_mutex_unlock(&f->lock);
	return closed;
}

int
fake_closed(struct fake *f)
{
	int64_t deadline = now_ms() + 10000;
	int closed;

	for (;;) {
		pthread_mutex_lock(&f->lock);
		closed = f->closed;
		pthread_mutex_unlock(&f->lock);
		if (closed || now_ms() >= deadline) {
			return closed;
		}
		usleep(10 * 1000);
	}
}

void
fake_stop(struct fake *f)
{
	int i;

	pthread_mutex_lock(&f->lock);
	f->stop = 1;
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	h_close(f->c);
	for (i = 0; i < FAKE_OUTBOX; i++) {
		free(f->outbox[i]);
	}
	pthread_mutex_destroy(&f->lock);
	free(f);
}
