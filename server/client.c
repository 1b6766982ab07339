/*
 * The live client list: every connection on either port from accept to
 * close.  Admission limits are counted here on the raw socket, before any
 * TLS work is spent; `who` and `kick` read it.  One mutex guards the list.
 *
 * Each pool (member, machine, web: enum client_pool) is counted on its
 * own, so a flood on one port cannot keep the others' clients out.  A connection that has not logged in (a member
 * without a login, a controller whose certificate has not yet named an
 * allowed machine) is "unauthenticated"; an address may hold only a few of
 * those per port, as Dropbear caps unauthenticated connections.  Once an
 * address is at that cap, a new connection closes the address's oldest
 * unauthenticated one instead of being refused: a burst of idle sockets
 * from one address (one NAT, a whole club) delays a real client by at
 * most one handshake, it cannot lock it out.  Logged-in member sessions
 * are capped per address separately (client_login).
 *
 * kick shuts the socket down under the lock.  The owning thread removes
 * its entry (under the same lock) before it closes the descriptor, so a
 * kick can never reach a descriptor number that has been reused.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "drinkd.h"

static pthread_mutex_t client_lock = PTHREAD_MUTEX_INITIALIZER;
static struct client *client_head;	/* newest first */
static int client_total;
static int client_port_total[CLIENT_POOLS];

/* Not logged in and not already being closed to make room; lock held. */
static int
client_unauth(const struct client *c)
{
	return c->name[0] == '\0' && !c->evicted;
}

int
client_admit(struct client *c, long max_port, long max_unauth_per_ip)
{
	struct client *o, *oldest = NULL;
	long unauth = 0;

	pthread_mutex_lock(&client_lock);
	assert(c->pool < CLIENT_POOLS);
	if (client_port_total[c->pool] >= max_port) {
		pthread_mutex_unlock(&client_lock);
		return -1;
	}
	for (o = client_head; o != NULL; o = o->next) {
		if (o->pool == c->pool && client_unauth(o) &&
		    strcmp(o->address, c->address) == 0) {
			unauth++;
			oldest = o;	/* the list runs newest to oldest */
		}
	}
	if (unauth >= max_unauth_per_ip && oldest != NULL) {
		/* Its thread notices, fails its read and leaves the list. */
		oldest->evicted = 1;
		oldest->closed_by = "closed by the server: room made for a "
		    "newer connection (max_unauth_per_ip)";
		shutdown(oldest->fd, SHUT_RDWR);
		c->made_room = 1;
	}
	c->prev = NULL;
	c->next = client_head;
	if (client_head != NULL) {
		client_head->prev = c;
	}
	client_head = c;
	client_total++;
	client_port_total[c->pool]++;
	pthread_mutex_unlock(&client_lock);
	return 0;
}

void
client_remove(struct client *c)
{
	pthread_mutex_lock(&client_lock);
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else {
		client_head = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	c->prev = c->next = NULL;
	client_total--;
	client_port_total[c->pool]--;
	pthread_mutex_unlock(&client_lock);
}

void
client_show(struct client *c, int64_t session)
{
	pthread_mutex_lock(&client_lock);
	c->session = session;
	c->visible = 1;
	pthread_mutex_unlock(&client_lock);
}

void
client_set_name(struct client *c, const char *name)
{
	pthread_mutex_lock(&client_lock);
	snprintf(c->name, sizeof(c->name), "%s", name != NULL ? name : "");
	pthread_mutex_unlock(&client_lock);
}

int
client_login(struct client *c, const char *name, long max_per_ip)
{
	struct client *o;
	long same = 0;

	assert(c->kind == CLIENT_MEMBER);
	pthread_mutex_lock(&client_lock);
	for (o = client_head; o != NULL && c->name[0] == '\0'; o = o->next) {
		if (o != c && o->kind == CLIENT_MEMBER &&
		    o->name[0] != '\0' && strcmp(o->address, c->address) == 0) {
			same++;
		}
	}
	if (same >= max_per_ip) {
		pthread_mutex_unlock(&client_lock);
		return -1;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	pthread_mutex_unlock(&client_lock);
	return 0;
}

/*
 * Copy the list under the lock, then build JSON outside it, so a `who`
 * over ten thousand clients holds the lock only for a memcpy per entry.
 */
void
client_list(cJSON *array, int full)
{
	struct client *copy, *o;
	cJSON *e;
	int n = 0, i;

	pthread_mutex_lock(&client_lock);
	copy = xcalloc((size_t)client_total + 1, sizeof(*copy));
	for (o = client_head; o != NULL; o = o->next) {
		if (o->visible) {
			copy[n++] = *o;
		}
	}
	pthread_mutex_unlock(&client_lock);
	/* Oldest first: the list is kept newest first. */
	for (i = n - 1; i >= 0; i--) {
		o = &copy[i];
		e = cJSON_CreateObject();
		if (full) {
			cJSON_AddNumberToObject(e, "session",
			    (double)o->session);
		}
		cJSON_AddStringToObject(e, "kind",
		    o->kind == CLIENT_MEMBER ? "member" : "machine");
		if (o->name[0] != '\0') {
			cJSON_AddStringToObject(e, o->kind == CLIENT_MEMBER ?
			    "user" : "machine", o->name);
		} else {
			cJSON_AddNullToObject(e, o->kind == CLIENT_MEMBER ?
			    "user" : "machine");
		}
		if (full) {
			cJSON_AddStringToObject(e, "address", o->address);
			cJSON_AddNumberToObject(e, "port", o->port);
		}
		cJSON_AddNumberToObject(e, "since", (double)o->since);
		cJSON_AddItemToArray(array, e);
	}
	free(copy);
}

/*
 * Shut down every visible client matching (every client at all when
 * session is 0 and user NULL); why is kept for the owner's log line.
 * Returns how many.
 */
static int
client_kick_match(int64_t session, const char *user, const char *why)
{
	struct client *o;
	int n = 0;

	pthread_mutex_lock(&client_lock);
	for (o = client_head; o != NULL; o = o->next) {
		if ((session == 0 && user == NULL) ||
		    (o->visible && session != 0 && o->session == session) ||
		    (o->visible && user != NULL && o->kind == CLIENT_MEMBER &&
		    strcmp(o->name, user) == 0)) {
			shutdown(o->fd, SHUT_RDWR);
			o->closed_by = why;
			n++;
		}
	}
	pthread_mutex_unlock(&client_lock);
	return n;
}

int
client_kick(int64_t session)
{
	return client_kick_match(session, NULL,
	    "closed by the server: kicked by an admin") > 0 ? 0 : -1;
}

int
client_kick_user(const char *user)
{
	return client_kick_match(0, user,
	    "closed by the server: user disabled or changed");
}

void
client_kick_all(void)
{
	client_kick_match(0, NULL, "closed by the server: shutting down");
}

int
client_count(void)
{
	int n;

	pthread_mutex_lock(&client_lock);
	n = client_total;
	pthread_mutex_unlock(&client_lock);
	return n;
}

const char *
client_closed_by(struct client *c)
{
	const char *why;

	pthread_mutex_lock(&client_lock);
	why = c->closed_by;
	pthread_mutex_unlock(&client_lock);
	return why;
}
