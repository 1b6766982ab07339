/*
 * The fake controller (see fake.h).  Its thread owns the connection after
 * registration; tests only read its counters, under its lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake.h"

/* Reply to a server command from the fake's thread. */
void
fake_reply(struct fake *f, const cJSON *id, int ok)
{
	cJSON *o = cJSON_CreateObject();
	char *text;

	cJSON_AddItemToObject(o, "id", cJSON_Duplicate(id, 1));
	cJSON_AddBoolToObject(o, "ok", ok);
	if (!ok) {
		cJSON_AddStringToObject(o, "error", "jammed");
		cJSON_AddStringToObject(o, "message", "slot motor stuck");
	}
	text = cJSON_PrintUnformatted(o);
	h_send(f->c, text);
	free(text);
	cJSON_Delete(o);
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	const cJSON *cmd, *id;
	cJSON *msg;
	char n[8];

	while (!f->stop) {
		if (h_read_line(f->c, 100) != CONN_OK) {
			if (f->c->conn == NULL) {
				break;
			}
			continue;
		}
		if ((msg = cJSON_Parse(f->c->line)) == NULL) {
			continue;
		}
		cmd = cJSON_GetObjectItem(msg, "cmd");
		id = cJSON_GetObjectItem(msg, "id");
		if (cJSON_IsString(cmd) && strcmp(cmd->valuestring, "ping") ==
		    0 && f->mode != FAKE_MUTE) {
			fake_reply(f, id, 1);
		} else if (cJSON_IsString(cmd) &&
		    strcmp(cmd->valuestring, "vend") == 0) {
			pthread_mutex_lock(&f->lock);
			f->vends++;
			f->last_slot = cJSON_GetObjectItem(msg, "slot")->valueint;
			f->last_delay =
			    cJSON_GetObjectItem(msg, "delay")->valueint;
			snprintf(f->last_id, sizeof(f->last_id), "%s",
			    id->valuestring);
			snprintf(n, sizeof(n), "%d,", f->last_slot);
			strncat(f->order, n, sizeof(f->order) -
			    strlen(f->order) - 1);
			pthread_mutex_unlock(&f->lock);
			if (f->mode == FAKE_ACK || f->mode == FAKE_NACK) {
				usleep((useconds_t)f->vend_ms * 1000);
				fake_reply(f, id, f->mode == FAKE_ACK);
			} else if (f->mode == FAKE_HANGUP) {
				cJSON_Delete(msg);
				conn_free(f->c->conn);
				f->c->conn = NULL;
				break;
			}
		}
		cJSON_Delete(msg);
	}
	return NULL;
}

/* Connect as machine name with cert, register with slots, start serving. */
struct fake *
fake_start(struct h_server *srv, const char *name, enum fake_mode mode,
    int vend_ms)
{
	struct fake *f = xcalloc(1, sizeof(*f));
	char cert[64], err[256], line[160];
	cJSON *r;

	snprintf(cert, sizeof(cert), "machine-%s", name);
	f->c = h_tls_dial(srv->machine_port, cert, err, sizeof(err));
	ck_assert_msg(f->c != NULL, "%s", err);
	f->mode = mode;
	f->vend_ms = vend_ms;
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

int
fake_vends(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = f->vends;
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* Wait until the fake has received n vends (or fail). */
void
fake_wait_vends(struct fake *f, int n)
{
	int64_t deadline = now_ms() + 10000;

	while (fake_vends(f) < n) {
		ck_assert_msg(now_ms() < deadline, "no vend arrived");
		usleep(10 * 1000);
	}
}

void
fake_stop(struct fake *f)
{
	f->stop = 1;
	pthread_join(f->thread, NULL);
	h_close(f->c);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

