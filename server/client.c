/*
 * The live client list: every connection on either port from accept to
 * close.  Admission limits are counted here on the raw socket, before any
 * TLS work is spent; `who` and `kick` read it.  One mutex guards the list.
 *
 * Each pool (member, machine, web: enum client_pool) is counted on its
 * own, so a flood on one port cannot keep the others' clients out.  A
 * connection that has not logged in (a member without a login, a
 * controller whose certificate has not yet named an allowed machine) is
 * "unauthenticated"; an address may hold only a few of those per pool,
 * as Dropbear caps unauthenticated connections.  Once an
 * address is at that cap, a new connection closes the address's oldest
 * unauthenticated one instead of being refused: a burst of idle sockets
 * from one address (one NAT, a whole club) delays a real client by at
 * most one handshake, it cannot lock it out.  Logged-in member sessions
 * are capped per address separately (client_login).  An "address" here
 * is a place (client_place): an IPv6 client counts by its /64, or one
 * host could take every connection by changing address.
 *
 * kick shuts the socket down under the lock.  The owning thread removes
 * its entry (under the same lock) before it closes the descriptor, so a
 * kick can never reach a descriptor number that has been reused.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "drinkd.h"

#define CLIENT_ADDR_BUCKETS 4096	/* power of two */

/*
 * What one address holds, so admission and login cost the same whether
 * 10 or 10,000 connections are open: per pool, its unauthenticated
 * connections in admission order (newest first), and its logged-in
 * member sessions.  Freed with the address's last connection.
 */
struct client_addr {
	char address[64];
	long conns;			/* every connection, either port */
	long unauth[CLIENT_POOLS];	/* by enum client_pool */
	struct client *unauth_head[CLIENT_POOLS], *unauth_tail[CLIENT_POOLS];
	long members;			/* logged-in member sessions */
	struct client_addr *next;	/* in its bucket */
};

static pthread_mutex_t client_lock = PTHREAD_MUTEX_INITIALIZER;
static struct client *client_head;	/* newest first */
static int client_total;
static int client_port_total[CLIENT_POOLS];
static uint64_t client_seq;		/* admissions so far */
static struct client_addr *client_addrs[CLIENT_ADDR_BUCKETS];

void
client_place(const char *address, char *out, size_t len)
{
	char text[INET6_ADDRSTRLEN];
	struct in6_addr a;

	if (strchr(address, ':') != NULL &&
	    inet_pton(AF_INET6, address, &a) == 1) {
		memset(a.s6_addr + 8, 0, 8);
		if (inet_ntop(AF_INET6, &a, text, sizeof(text)) != NULL) {
			snprintf(out, len, "%s/64", text);
			return;
		}
	}
	snprintf(out, len, "%s", address);
}

/* The slot of address's record (lock held): where it is or would go. */
static struct client_addr **
client_addr_slot(const char *address)
{
	struct client_addr **pp;
	uint32_t h = 2166136261u;	/* FNV-1a */
	const char *p;

	for (p = address; *p != '\0'; p++) {
		h = (h ^ (unsigned char)*p) * 16777619u;
	}
	for (pp = &client_addrs[h & (CLIENT_ADDR_BUCKETS - 1)]; *pp != NULL;
	    pp = &(*pp)->next) {
		if (strcmp((*pp)->address, address) == 0) {
			break;
		}
	}
	return pp;
}

/* Not logged in and not already being closed to make room; lock held. */
static int
client_unauth(const struct client *c)
{
	return c->name[0] == '\0' && !c->evicted;
}

/* Put c in its address's unauthenticated list, by admission order. */
static void
client_unauth_link(struct client *c)
{
	struct client_addr *a = c->addr;
	struct client *o, *before = NULL;

	assert(!c->unauth_linked);
	for (o = a->unauth_head[c->pool]; o != NULL && o->seq > c->seq;
	    o = o->unauth_next) {
		before = o;
	}
	c->unauth_prev = before;
	c->unauth_next = o;
	if (before != NULL) {
		before->unauth_next = c;
	} else {
		a->unauth_head[c->pool] = c;
	}
	if (o != NULL) {
		o->unauth_prev = c;
	} else {
		a->unauth_tail[c->pool] = c;
	}
	c->unauth_linked = 1;
	a->unauth[c->pool]++;
}

static void
client_unauth_unlink(struct client *c)
{
	struct client_addr *a = c->addr;

	if (!c->unauth_linked) {
		return;
	}
	if (c->unauth_prev != NULL) {
		c->unauth_prev->unauth_next = c->unauth_next;
	} else {
		a->unauth_head[c->pool] = c->unauth_next;
	}
	if (c->unauth_next != NULL) {
		c->unauth_next->unauth_prev = c->unauth_prev;
	} else {
		a->unauth_tail[c->pool] = c->unauth_prev;
	}
	c->unauth_prev = c->unauth_next = NULL;
	c->unauth_linked = 0;
	assert(a->unauth[c->pool] > 0);
	a->unauth[c->pool]--;
}

/*
 * Name (or with "" unname) c, keeping its address's counts; lock held.
 * A client outside the list (removed, or never admitted) has no counts.
 */
static void
client_name_locked(struct client *c, const char *name)
{
	int was = c->name[0] != '\0';

	snprintf(c->name, sizeof(c->name), "%s", name);
	c->token_id = 0;
	if (c->addr == NULL) {
		return;
	}
	if (c->kind == CLIENT_MEMBER) {
		c->addr->members += (c->name[0] != '\0') - was;
		assert(c->addr->members >= 0);
	}
	if (client_unauth(c) && !c->unauth_linked) {
		client_unauth_link(c);
	} else if (!client_unauth(c)) {
		client_unauth_unlink(c);
	}
}

int
client_admit(struct client *c, long max_port, long max_unauth_per_ip)
{
	struct client_addr **pp, *a;
	struct client *oldest;
	char place[CLIENT_PLACE_MAX];

	client_place(c->address, place, sizeof(place));
	pthread_mutex_lock(&client_lock);
	assert(c->pool < CLIENT_POOLS);
	if (client_port_total[c->pool] >= max_port) {
		pthread_mutex_unlock(&client_lock);
		return -1;
	}
	pp = client_addr_slot(place);
	if ((a = *pp) == NULL) {
		a = *pp = xcalloc(1, sizeof(*a));
		snprintf(a->address, sizeof(a->address), "%s", place);
	}
	oldest = a->unauth_tail[c->pool];
	if (a->unauth[c->pool] >= max_unauth_per_ip && oldest != NULL) {
		/* Its thread notices, fails its read and leaves the list. */
		oldest->evicted = 1;
		oldest->closed_by = "closed by the server: room made for a "
		    "newer connection (max_unauth_per_ip)";
		client_unauth_unlink(oldest);
		shutdown(oldest->fd, SHUT_RDWR);
		c->made_room = 1;
	}
	a->conns++;
	c->addr = a;
	c->seq = ++client_seq;
	c->name[0] = '\0';
	client_unauth_link(c);
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
	struct client_addr **pp, *a = c->addr;

	pthread_mutex_lock(&client_lock);
	if (c->kind == CLIENT_MEMBER && c->name[0] != '\0') {
		a->members--;
	}
	client_unauth_unlink(c);
	assert(a->conns > 0);
	if (--a->conns == 0) {
		assert(a->members == 0 && a->unauth[CLIENT_POOL_MEMBER] == 0 &&
		    a->unauth[CLIENT_POOL_MACHINE] == 0 &&
		    a->unauth[CLIENT_POOL_WEB] == 0);
		pp = client_addr_slot(a->address);
		assert(*pp == a);
		*pp = a->next;
		free(a);
	}
	c->addr = NULL;
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
	client_name_locked(c, name != NULL ? name : "");
	pthread_mutex_unlock(&client_lock);
}

void
client_set_token(struct client *c, int64_t token_id)
{
	pthread_mutex_lock(&client_lock);
	c->token_id = token_id;
	pthread_mutex_unlock(&client_lock);
}

int
client_login(struct client *c, const char *name, long max_per_ip)
{
	assert(c->kind == CLIENT_MEMBER);
	pthread_mutex_lock(&client_lock);
	if (c->name[0] == '\0' && c->addr != NULL &&
	    c->addr->members >= max_per_ip) {
		pthread_mutex_unlock(&client_lock);
		return -1;
	}
	client_name_locked(c, name);
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
 * session is 0 and user NULL; with user, only those logged in by login
 * token token_id when it is not 0), except the one given; why is kept
 * for the owner's log line.  Returns how many.  A WebSocket session's
 * reading alone is shut down: that wakes its thread, which then tells
 * the browser why in a close frame (web.c) before it closes.
 */
static int
client_kick_match(int64_t session, const char *user, int64_t token_id,
    const struct client *except, const char *why)
{
	struct client *o;
	int n = 0;

	pthread_mutex_lock(&client_lock);
	for (o = client_head; o != NULL; o = o->next) {
		if (o == except) {
			continue;
		}
		if ((session == 0 && user == NULL) ||
		    (o->visible && session != 0 && o->session == session) ||
		    (o->visible && user != NULL && o->kind == CLIENT_MEMBER &&
		    strcmp(o->name, user) == 0 &&
		    (token_id == 0 || o->token_id == token_id))) {
			shutdown(o->fd, o->pool == CLIENT_POOL_WEB &&
			    o->visible ? SHUT_RD : SHUT_RDWR);
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
	return client_kick_match(session, NULL, 0, NULL,
	    "closed by the server: kicked by an admin") > 0 ? 0 : -1;
}

int
client_kick_user(const char *user, const struct client *except,
    const char *why)
{
	return client_kick_match(0, user, 0, except, why);
}

int
client_kick_token(const char *user, int64_t token_id,
    const struct client *except)
{
	assert(token_id != 0);
	return client_kick_match(0, user, token_id, except,
	    "closed by the server: login token revoked");
}

void
client_kick_all(void)
{
	client_kick_match(0, NULL, 0, NULL,
	    "closed by the server: shutting down");
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
