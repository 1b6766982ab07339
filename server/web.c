/*
 * The web port (PROTOCOL.md section 9): HTTPS with the member port's TLS
 * policy, one thread per connection.  GET / and the app's files (built
 * into drinkd from web/) are answered with keep-alive; GET /ws upgrades
 * to a WebSocket that is a member session: each text message is one
 * request for the same dispatcher the member port uses, each reply and
 * event one text message.
 *
 * HTTP/1.1 is parsed by http-parser (the Node.js parser, packaged in
 * Debian as libhttp-parser) and WebSocket framing, masking, fragments,
 * ping/pong and the close handshake are done by wslay, whose event API
 * leaves the socket to its caller: the connection's own thread reads and
 * writes its SSL, nothing else does.
 *
 * Requests are never answered from inside wslay_event_recv(): its message
 * callback only queues the text, and the loop answers the queue once
 * wslay_event_recv() has returned, so wslay_event_send() (also called
 * while a drop waits, by the session pump) never runs inside a wslay call.
 *
 * Deadlines: a request head must be complete within line_timeout of its
 * first byte (slow headers are cut off) and may not exceed WEB_HEAD_MAX
 * bytes (431); a kept-alive connection may idle for idle_timeout; a
 * WebSocket must log in within login_timeout of its upgrade (or of its
 * last logout), send a complete message within idle_timeout of its last
 * one, finish a message within line_timeout of its first byte (a frame
 * cut short, or a fragmented message whose final frame has not come;
 * time the server spends answering or not reading does not count), and
 * take each message it is sent within WEB_WRITE_MS of its first byte
 * going out.  The session loop looks at every deadline each time round,
 * buffered bytes or not.
 */
#include <assert.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <http_parser.h>
#include <openssl/evp.h>
#include <wslay/wslay.h>

#include "drinkd.h"
#include "web_assets.h"

#define WEB_HEAD_MAX 8192	/* request line and headers, bytes */
#define WEB_URL_MAX 2048
#define WEB_VALUE_MAX 512	/* a header value we keep */
#define WEB_WRITE_MS 60000	/* a response or frame must be taken by */
#define WEB_READ_CHUNK 4096
#define WEB_WS_QUEUE 16		/* frames or requests waiting: reads pause */
#define WEB_CLOSE_MS 1000	/* a close frame must be acknowledged by */
#define WEB_RETRY_AFTER 5	/* s, told to a browser refused at admission */
#define WEB_PLAIN_WRITE_MS 5000	/* the answer to plain HTTP must be taken by */
#define WEB_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* The request headers the server looks at. */
enum web_header {
	WEB_H_HOST,
	WEB_H_ORIGIN,
	WEB_H_UPGRADE,
	WEB_H_CONNECTION,
	WEB_H_WS_KEY,
	WEB_H_WS_VERSION,
	WEB_H_IF_NONE_MATCH,
	WEB_H_COUNT,
	WEB_H_OTHER = WEB_H_COUNT,
};

static const char *const web_header_names[WEB_H_COUNT] = {
	[WEB_H_HOST] = "host",
	[WEB_H_ORIGIN] = "origin",
	[WEB_H_UPGRADE] = "upgrade",
	[WEB_H_CONNECTION] = "connection",
	[WEB_H_WS_KEY] = "sec-websocket-key",
	[WEB_H_WS_VERSION] = "sec-websocket-version",
	[WEB_H_IF_NONE_MATCH] = "if-none-match",
};

#define WEB_ASSETS (sizeof(web_assets) / sizeof(web_assets[0]))
/* Each asset's entity tag, "<16 hex digits of its SHA-256>"; web_init. */
static char web_etags[WEB_ASSETS][20];

/* Where a request head is in its parse. */
enum web_state {
	WEB_STATE_IDLE,		/* between requests */
	WEB_STATE_HEAD,		/* request line and headers arriving */
	WEB_STATE_DONE,		/* a whole request was read */
	WEB_STATE_BAD,		/* parse error */
};

/* A request received and not yet answered. */
struct web_req {
	struct web_req *next;
	size_t len;
	char text[];
};

struct web {
	struct session *s;
	http_parser parser;
	enum web_state state;
	char url[WEB_URL_MAX + 1];
	size_t url_len;
	int url_too_long;
	char field[32];		/* header name being read, lower case */
	size_t field_len;
	int in_value;		/* the last callback was a value */
	enum web_header current;
	char values[WEB_H_COUNT][WEB_VALUE_MAX + 1];
	size_t value_len[WEB_H_COUNT];
	/* Bytes read but not yet parsed (pipelined requests, ws frames). */
	char buf[WEB_HEAD_MAX + WEB_READ_CHUNK];
	size_t buf_len;
	/* WebSocket */
	wslay_event_context_ptr ws;
	int64_t idle_deadline;
	/*
	 * The message being read (line_timeout): wslay says when a frame
	 * has ended, not when one has begun, so the bytes handed to it are
	 * counted against the bytes of the frames it has finished.
	 */
	uint64_t fed;		/* bytes handed to wslay */
	uint64_t framed;	/* bytes of the frames wslay has finished */
	uint64_t frame_len;	/* header and payload of the frame being read */
	int fragmented;		/* a data message's final frame is to come */
	int64_t msg_start;	/* its first byte came (held time added), or 0 */
	int64_t held_since;	/* the server is not reading since, or 0 */
	/* Each message the server sends must be taken by; 0: none going. */
	int64_t write_deadline;
	int send_blocked;	/* the socket took less than offered */
	int peer_rdhup;		/* poll() said the reading side is shut */
	int closing;
	int64_t close_deadline;	/* a close frame must be answered by */
	const char *why;	/* the server closes: why, for the log */
	/*
	 * After a quit, or a request that ended the session: the close to
	 * send once the replies before it are out (wslay sends control
	 * frames ahead of queued messages).  Reason for the browser, why
	 * for the log.
	 */
	const char *later_reason, *later_why;
	struct web_req *req_head, **req_tail;
	int req_count;
	int in_recv;		/* inside wslay_event_recv(): send nothing */
	int peer_closed;	/* a read or write found the connection closed */
};

static const char web_security_headers[] =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; "
    "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "manifest-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Strict-Transport-Security: max-age=31536000\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "X-Frame-Options: DENY\r\n";

static int
web_on_url(http_parser *p, const char *at, size_t len)
{
	struct web *w = p->data;

	if (w->url_len + len > WEB_URL_MAX) {
		w->url_too_long = 1;
		return 0;
	}
	memcpy(w->url + w->url_len, at, len);
	w->url_len += len;
	w->url[w->url_len] = '\0';
	return 0;
}

static int
web_on_header_field(http_parser *p, const char *at, size_t len)
{
	struct web *w = p->data;
	size_t i;

	if (w->in_value) {
		w->field_len = 0;
		w->in_value = 0;
	}
	for (i = 0; i < len; i++) {
		if (w->field_len + 1 < sizeof(w->field)) {
			w->field[w->field_len++] = (char)(at[i] | 0x20);
		} else {
			/* Too long: not one of ours. */
			w->field[0] = '\0';
		}
	}
	w->field[w->field_len] = '\0';
	return 0;
}

static int
web_on_header_value(http_parser *p, const char *at, size_t len)
{
	struct web *w = p->data;
	size_t n;
	int i;

	if (!w->in_value) {
		w->in_value = 1;
		w->current = WEB_H_OTHER;
		for (i = 0; i < WEB_H_COUNT; i++) {
			if (strcmp(w->field, web_header_names[i]) == 0) {
				w->current = (enum web_header)i;
				/* A repeated header: keep the first. */
				if (w->value_len[i] > 0) {
					w->current = WEB_H_OTHER;
				}
				break;
			}
		}
	}
	if (w->current == WEB_H_OTHER) {
		return 0;
	}
	n = w->value_len[w->current];
	if (n + len > WEB_VALUE_MAX) {
		len = WEB_VALUE_MAX - n;
	}
	memcpy(w->values[w->current] + n, at, len);
	w->value_len[w->current] = n + len;
	w->values[w->current][n + len] = '\0';
	return 0;
}

/*
 * A field value does not include the whitespace around it (RFC 9110
 * section 5.5): http-parser drops what comes before a value but keeps
 * what follows it, so "13 " would be no version and an Origin or a
 * Sec-WebSocket-Key with a blank after it would not match.
 */
static int
web_on_headers_complete(http_parser *p)
{
	struct web *w = p->data;
	size_t *n;
	int i;

	for (i = 0; i < WEB_H_COUNT; i++) {
		n = &w->value_len[i];
		while (*n > 0 && (w->values[i][*n - 1] == ' ' ||
		    w->values[i][*n - 1] == '\t')) {
			w->values[i][--*n] = '\0';
		}
	}
	return 0;
}

static int
web_on_message_complete(http_parser *p)
{
	struct web *w = p->data;

	w->state = WEB_STATE_DONE;
	/* Stop here: what follows is the next request, or WebSocket data. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings web_settings = {
	.on_url = web_on_url,
	.on_header_field = web_on_header_field,
	.on_header_value = web_on_header_value,
	.on_headers_complete = web_on_headers_complete,
	.on_message_complete = web_on_message_complete,
};

static void
web_reset(struct web *w)
{
	http_parser_init(&w->parser, HTTP_REQUEST);
	w->parser.data = w;
	w->state = WEB_STATE_IDLE;
	w->url_len = 0;
	w->url[0] = '\0';
	w->url_too_long = 0;
	w->field_len = 0;
	w->in_value = 0;
	memset(w->value_len, 0, sizeof(w->value_len));
	memset(w->values, 0, sizeof(w->values));
}

/*
 * Write one response.  body may be NULL (no body); head_only sends the
 * headers of a GET's response without its body (HEAD).
 */
static int
web_respond(struct web *w, int status, const char *reason,
    const char *type, const void *body, size_t len, int head_only,
    const char *extra, int keep_alive)
{
	char *head;
	int rc;

	head = xasprintf("HTTP/1.1 %d %s\r\n%s%s%s%s"
	    "Content-Length: %zu\r\nCache-Control: no-cache\r\n"
	    "Connection: %s\r\n\r\n", status, reason, web_security_headers,
	    type != NULL ? "Content-Type: " : "", type != NULL ? type : "",
	    type != NULL ? "\r\n" : "", len, keep_alive ? "keep-alive" :
	    "close");
	if (extra != NULL) {
		char *full;

		/* Extra headers go before the blank line. */
		head[strlen(head) - 2] = '\0';
		full = xasprintf("%s%s\r\n", head, extra);
		free(head);
		head = full;
	}
	rc = conn_write(w->s->peer.conn, head, strlen(head),
	    now_ms() + WEB_WRITE_MS);
	free(head);
	if (rc == CONN_OK && body != NULL && len > 0 && !head_only) {
		rc = conn_write(w->s->peer.conn, body, len,
		    now_ms() + WEB_WRITE_MS);
	}
	return rc == CONN_OK ? 0 : -1;
}

/* A short plain-text error page; the connection stays up if keep_alive. */
static int
web_error(struct web *w, int status, const char *reason, int keep_alive,
    const char *extra)
{
	char body[128];

	snprintf(body, sizeof(body), "%d %s\n", status, reason);
	return web_respond(w, status, reason, "text/plain; charset=utf-8",
	    body, strlen(body), w->parser.method == HTTP_HEAD, extra,
	    keep_alive);
}

/*
 * Read and parse one request head.  0 with w->state DONE, or -1 when the
 * connection must end (after answering, when there is anything to say).
 */
static int
web_read_request(struct web *w)
{
	struct session *s = w->s;
	int64_t deadline = now_ms() + w->s->peer.srv->cfg->idle_timeout * 1000;
	size_t parsed = 0, got, head = 0;
	int rc;

	web_reset(w);
	for (;;) {
		if (w->buf_len > 0) {
			if (w->state == WEB_STATE_IDLE) {
				w->state = WEB_STATE_HEAD;
				deadline = now_ms() +
				    w->s->peer.srv->cfg->line_timeout * 1000;
			}
			parsed = http_parser_execute(&w->parser, &web_settings,
			    w->buf, w->buf_len);
			head += parsed;
			memmove(w->buf, w->buf + parsed, w->buf_len - parsed);
			w->buf_len -= parsed;
			if (w->state == WEB_STATE_DONE) {
				return 0;
			}
			if (HTTP_PARSER_ERRNO(&w->parser) != HPE_OK &&
			    HTTP_PARSER_ERRNO(&w->parser) != HPE_PAUSED) {
				log_info("web %s port %d: bad request: %s",
				    s->peer.client.address, s->peer.client.port,
				    http_errno_description(HTTP_PARSER_ERRNO(
				    &w->parser)));
				(void)web_error(w, HTTP_PARSER_ERRNO(
				    &w->parser) == HPE_HEADER_OVERFLOW ? 431 :
				    400, HTTP_PARSER_ERRNO(&w->parser) ==
				    HPE_HEADER_OVERFLOW ?
				    "Request Header Fields Too Large" :
				    "Bad Request", 0, NULL);
				return -1;
			}
			if (head > WEB_HEAD_MAX) {
				(void)web_error(w, 431,
				    "Request Header Fields Too Large", 0, NULL);
				return -1;
			}
		}
		rc = conn_read(s->peer.conn, w->buf + w->buf_len,
		    sizeof(w->buf) - w->buf_len, &got, deadline);
		if (rc == CONN_TIMEOUT && w->state == WEB_STATE_HEAD) {
			log_info("web %s port %d: request head not complete "
			    "within %ld s; closing", s->peer.client.address,
			    s->peer.client.port,
			    w->s->peer.srv->cfg->line_timeout);
			(void)web_error(w, 408, "Request Timeout", 0, NULL);
			return -1;
		}
		if (rc != CONN_OK) {
			return -1;
		}
		w->buf_len += got;
	}
}

static const struct web_asset *
web_find_asset(const char *path)
{
	size_t i;

	if (strcmp(path, "/") == 0) {
		path = "/index.html";
	}
	for (i = 0; i < WEB_ASSETS; i++) {
		if (strcmp(web_assets[i].path, path) == 0) {
			return &web_assets[i];
		}
	}
	return NULL;
}

/* 1 when the comma-separated list has word (case-insensitive). */
static int
web_list_has(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while (*p != '\0') {
		p += strspn(p, " \t,");
		if (strncasecmp(p, word, n) == 0 &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' ' ||
		    p[n] == '\t')) {
			return 1;
		}
		p += strcspn(p, ",");
	}
	return 0;
}

/*
 * The Origin check: the page that opens /ws must come from this server
 * (https://HOST as the browser addressed it) or from web_origins.
 */
static int
web_origin_ok(const struct web *w)
{
	const char *origin = w->values[WEB_H_ORIGIN];
	char own[WEB_VALUE_MAX + 16];
	const char *list = w->s->peer.srv->cfg->web_origins, *p;
	size_t n;

	if (w->value_len[WEB_H_ORIGIN] == 0) {
		return 0;
	}
	snprintf(own, sizeof(own), "https://%s", w->values[WEB_H_HOST]);
	if (w->value_len[WEB_H_HOST] > 0 && strcasecmp(origin, own) == 0) {
		return 1;
	}
	for (p = list; p != NULL && *p != '\0'; p += n) {
		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n > 0 && n == strlen(origin) &&
		    strncasecmp(p, origin, n) == 0) {
			return 1;
		}
	}
	return 0;
}

/*
 * 1 when key is a Sec-WebSocket-Key: the base64 of 16 bytes (RFC 6455
 * section 4.2.1), 22 digits, the last of which carries 2 bits and 4 zero
 * bits of padding, then "==".
 */
static int
web_ws_key_ok(const char *key)
{
	static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";

	return strlen(key) == 24 && strspn(key, digits) == 22 &&
	    strchr("AQgw", key[21]) != NULL && strcmp(key + 22, "==") == 0;
}

/* base64(SHA-1(key + GUID)), RFC 6455 section 4.2.2. */
static void
web_ws_accept(const char *key, char out[64])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *text = xasprintf("%s%s", key, WEB_WS_GUID);

	if (EVP_Digest(text, strlen(text), md, &n, EVP_sha1(), NULL) != 1) {
		fatal("SHA-1 unavailable");
	}
	free(text);
	EVP_EncodeBlock((unsigned char *)out, md, (int)n);
}

/* Bytes handed to wslay: the first of a message starts its line clock. */
static void
web_ws_fed(struct web *w, size_t n)
{
	if (n > 0 && w->msg_start == 0) {
		w->msg_start = now_ms();
	}
	w->fed += n;
}

/*
 * A frame's header has been read: the bytes the whole frame takes (a
 * client's frames are masked, and sized in the shortest form: wslay
 * refuses others before this), and whether its data message goes on.
 */
static void
web_ws_on_frame_start(wslay_event_context_ptr ctx,
    const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
	struct web *w = user;
	uint64_t n = arg->payload_length;

	(void)ctx;
	w->frame_len = 2 + (n < 126 ? 0 : n < 65536 ? 2 : 8) + 4 + n;
	if (arg->opcode == WSLAY_TEXT_FRAME ||
	    arg->opcode == WSLAY_BINARY_FRAME ||
	    arg->opcode == WSLAY_CONTINUATION_FRAME) {
		w->fragmented = !arg->fin;
	}
}

/*
 * A frame has been read.  Inside a fragmented message (a fragment, or a
 * control frame between two) the message's clock goes on; otherwise it
 * stops, and bytes already here past the frame are a message begun now
 * (as a pipelined line on the member port).
 */
static void
web_ws_on_frame_end(wslay_event_context_ptr ctx, void *user)
{
	struct web *w = user;

	(void)ctx;
	w->framed += w->frame_len;
	w->frame_len = 0;
	if (!w->fragmented) {
		w->msg_start = w->fed > w->framed ? now_ms() : 0;
	}
}

/*
 * The line clock counts only time the server waits for the client's
 * bytes: while it answers a request (a drop waits for its machine) or
 * reads nothing until the browser takes its replies, the clock of a
 * message begun stands still.
 */
static void
web_ws_hold(struct web *w, int hold)
{
	int64_t now = now_ms(), from;

	if (hold && w->held_since == 0) {
		w->held_since = now;
	} else if (!hold && w->held_since != 0) {
		from = w->msg_start > w->held_since ? w->msg_start :
		    w->held_since;
		if (w->msg_start != 0) {
			w->msg_start += now - from;
		}
		w->held_since = 0;
	}
}

/* wslay reads: bytes left over from the HTTP head first, then the SSL. */
static ssize_t
web_ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    int flags, void *arg)
{
	struct web *w = arg;
	size_t got;
	int rc;

	(void)flags;
	/* Replies not yet taken: read no more requests (backpressure). */
	if (wslay_event_get_queued_msg_count(ctx) >= WEB_WS_QUEUE ||
	    w->req_count >= WEB_WS_QUEUE) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (w->buf_len > 0) {
		got = w->buf_len < len ? w->buf_len : len;
		memcpy(buf, w->buf, got);
		memmove(w->buf, w->buf + got, w->buf_len - got);
		w->buf_len -= got;
		web_ws_fed(w, got);
		return (ssize_t)got;
	}
	rc = conn_read(w->s->peer.conn, (char *)buf, len, &got, 0);
	if (rc == CONN_OK) {
		web_ws_fed(w, got);
		return (ssize_t)got;
	}
	/*
	 * The end a kick made (it shut the reading down as this read went
	 * on) is not the browser's: nothing more to read, and the close
	 * frame saying why goes next (web_ws_kicked), where an error here
	 * would have wslay close without one.
	 */
	if (rc == CONN_EOF && client_closed_by(&w->s->peer.client) != NULL) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	w->peer_closed |= rc == CONN_EOF;
	wslay_event_set_error(ctx, rc == CONN_TIMEOUT ? WSLAY_ERR_WOULDBLOCK :
	    WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

static ssize_t
web_ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *arg)
{
	struct web *w = arg;
	size_t done, sent = 0;
	int rc = CONN_OK;

	(void)flags;
	/* wslay does not promise a send from inside its own receive. */
	assert(!w->in_recv);
	/*
	 * With partial writes one SSL write takes one record (16 KiB), and
	 * wslay takes a short count for a full socket and waits to be called
	 * again: write until all is taken or the socket is full, so a short
	 * count means the loop must wait for POLLOUT.
	 */
	while (sent < len && (rc = conn_write_some(w->s->peer.conn,
	    (const char *)data + sent, len - sent, &done)) == CONN_OK) {
		sent += done;
	}
	w->send_blocked = sent < len;
	if (sent > 0) {
		return (ssize_t)sent;
	}
	if (rc == CONN_TIMEOUT) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	w->peer_closed |= rc == CONN_EOF;
	wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

/* Close frames wslay sends by itself, when the browser breaks a rule. */
static const struct {
	uint16_t code;
	const char *why;
} web_ws_wslay_closes[] = {
	{ WSLAY_CODE_PROTOCOL_ERROR,
	    "closed by the server: WebSocket protocol error (1002)" },
	{ WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA,
	    "closed by the server: text that is not UTF-8 (1007)" },
	{ WSLAY_CODE_MESSAGE_TOO_BIG,
	    "closed by the server: message longer than max_line (1009)" },
};
#define WEB_WS_NWSLAY_CLOSES \
	(sizeof(web_ws_wslay_closes) / sizeof(web_ws_wslay_closes[0]))

/*
 * Why a session that failed or ended was closed, saying who closed it:
 * the server (a kick, a disabled user: said in the client list; a close
 * frame the server sent; or one wslay sent for a broken rule), else the
 * browser or the network.
 */
static const char *
web_ws_why(const struct web *w, const char *peer_why)
{
	const char *server_why = client_closed_by(&w->s->peer.client);
	uint16_t code;
	size_t i;

	if (server_why != NULL) {
		return server_why;
	}
	if (w->why != NULL) {
		return w->why;
	}
	if (wslay_event_get_close_sent(w->ws) &&
	    !wslay_event_get_close_received(w->ws)) {
		code = wslay_event_get_status_code_sent(w->ws);
		for (i = 0; i < WEB_WS_NWSLAY_CLOSES; i++) {
			if (web_ws_wslay_closes[i].code == code) {
				return web_ws_wslay_closes[i].why;
			}
		}
		return "closed by the server: WebSocket error";
	}
	return w->peer_closed ? "closed by the client" : peer_why;
}

/* Queue text (a line from the dispatcher or an event) as one message. */
static void
web_ws_queue(struct web *w, const char *text, size_t len)
{
	struct wslay_event_msg msg = { WSLAY_TEXT_FRAME,
		(const uint8_t *)text, len };

	if (len > 0 && text[len - 1] == '\n') {
		msg.msg_length = len - 1;
	}
	(void)wslay_event_queue_msg(w->ws, &msg);
}

/*
 * Queue the close frame (code and reason, which the browser sees) and
 * note why for the log; the peer has WEB_CLOSE_MS to acknowledge it.
 */
static void
web_ws_close(struct web *w, uint16_t code, const char *reason,
    const char *why)
{
	if (!w->closing) {
		w->closing = 1;
		w->why = why;
		(void)wslay_event_queue_close(w->ws, code,
		    (const uint8_t *)reason, strlen(reason));
		w->close_deadline = now_ms() + WEB_CLOSE_MS;
	}
}

/*
 * One whole message from the browser, inside wslay_event_recv(): only
 * queued here, answered by web_ws_answer() once wslay has returned.
 */
static void
web_ws_on_msg(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	struct web *w = user;
	struct web_req *r;

	(void)ctx;
	if (arg->opcode == WSLAY_BINARY_FRAME) {
		web_ws_close(w, WSLAY_CODE_UNSUPPORTED_DATA,
		    "binary messages are not accepted",
		    "closed by the server: binary message");
		return;
	}
	if (arg->opcode != WSLAY_TEXT_FRAME || w->closing) {
		return;
	}
	w->idle_deadline = now_ms() + w->s->peer.srv->cfg->idle_timeout * 1000;
	r = xmalloc(sizeof(*r) + arg->msg_length + 1);
	r->next = NULL;
	r->len = arg->msg_length;
	memcpy(r->text, arg->msg, arg->msg_length);
	r->text[arg->msg_length] = '\0';
	*w->req_tail = r;
	w->req_tail = &r->next;
	w->req_count++;
}

/* Drop the requests not yet answered (the connection is closing). */
static void
web_ws_drop_requests(struct web *w)
{
	struct web_req *r;

	while ((r = w->req_head) != NULL) {
		w->req_head = r->next;
		free(r);
	}
	w->req_tail = &w->req_head;
	w->req_count = 0;
}

/* Answer the queued requests in order, outside any wslay call. */
static void
web_ws_answer(struct web *w)
{
	struct web_req *r;
	char *out;
	size_t outlen;
	int held = w->held_since != 0;

	web_ws_hold(w, 1);
	/*
	 * Nothing is answered once the login's token has expired, nor once
	 * another thread closed the session (a kick, its user disabled,
	 * its token revoked) while one was answered: the requests behind
	 * it must not outlive the login that sent them.
	 */
	while (!w->closing && w->later_why == NULL &&
	    session_token_deadline(w->s) > now_ms() &&
	    client_closed_by(&w->s->peer.client) == NULL &&
	    (r = w->req_head) != NULL) {
		w->req_head = r->next;
		if (w->req_head == NULL) {
			w->req_tail = &w->req_head;
		}
		w->req_count--;
		session_busy_add(1);
		out = session_request(w->s, r->text, r->len, &outlen);
		session_busy_add(-1);
		free(r);
		web_ws_queue(w, out, outlen);
		free(out);
		if (w->s->quit) {
			w->later_reason = "quit";
			w->later_why = "quit by the client";
		} else if (w->s->ending != NULL) {
			w->later_reason = "session ended";
			w->later_why = w->s->ending;
		}
	}
	web_ws_hold(w, held);
	if (w->closing) {
		web_ws_drop_requests(w);
	}
}

/*
 * Move waiting events into wslay's queue while it is short, so a browser
 * that stops reading leaves them in the event queue, where the overflow
 * rule applies.  -1 on overflow (the close is queued).
 */
static int
web_ws_events(struct web *w)
{
	static const char overflow[] = "{\"event\":\"overflow\"}";
	char *line;
	size_t len;
	int over = 0;

	while (w->s->events != NULL && !w->closing && w->later_why == NULL &&
	    wslay_event_get_queued_msg_count(w->ws) < WEB_WS_QUEUE &&
	    (line = event_queue_take(w->s->events, &len, &over)) != NULL) {
		web_ws_queue(w, line, len);
		free(line);
	}
	if (over && !w->closing) {
		web_ws_queue(w, overflow, sizeof(overflow) - 1);
		web_ws_close(w, WSLAY_CODE_POLICY_VIOLATION, "event overflow",
		    "closed by the server: event queue overflow");
		return -1;
	}
	return 0;
}

/*
 * Send what wslay holds, as far as the socket takes it.  As a reply on
 * the member port, each message must be taken within WEB_WRITE_MS of
 * beginning to go out: the deadline is set when a write is left
 * unfinished and set again only once a whole message has gone, so a
 * browser that takes a byte now and then does not extend it.
 */
static int
web_ws_flush(struct web *w)
{
	size_t before = wslay_event_get_queued_msg_count(w->ws);

	if (wslay_event_want_write(w->ws) && wslay_event_send(w->ws) != 0) {
		return -1;
	}
	if (!wslay_event_want_write(w->ws)) {
		w->write_deadline = 0;
	} else if (w->write_deadline == 0 ||
	    wslay_event_get_queued_msg_count(w->ws) < before) {
		w->write_deadline = now_ms() + WEB_WRITE_MS;
	}
	return 0;
}

/*
 * Whether another thread closed this session (a kick, its user disabled
 * or changed, its token revoked: client_kick_match shut down its reading
 * alone).  The first time, the close frame says why to the browser: the
 * log's reason without "closed by the server: ", so that a page can tell
 * its member what happened.  Nothing more is read once it is set: the
 * read would only meet the end of the stream.
 */
static int
web_ws_kicked(struct web *w)
{
	static const char prefix[] = "closed by the server: ";
	const char *why = client_closed_by(&w->s->peer.client);

	if (why == NULL) {
		return 0;
	}
	web_ws_close(w, WSLAY_CODE_POLICY_VIOLATION,
	    strncmp(why, prefix, sizeof(prefix) - 1) == 0 ?
	    why + sizeof(prefix) - 1 : why, why);
	return 1;
}

/*
 * session_pump() for a WebSocket: while a request waits (a drop at its
 * machine), queue the events that came meanwhile and send what can go.
 */
static __thread struct web *web_current;

static int
web_ws_pump(struct session *s)
{
	struct web *w = web_current;

	(void)s;
	if (w == NULL) {
		return -1;
	}
	/* Kicked meanwhile: no more events, the close frame now. */
	(void)web_ws_kicked(w);
	(void)web_ws_events(w);
	(void)web_ws_flush(w);
	return 0;
}

/*
 * Queue the close web_ws_answer() put off, once every message before it
 * has gone to wslay's socket: 1 when it was queued now.
 */
static int
web_ws_close_due(struct web *w)
{
	if (w->later_why == NULL || w->closing ||
	    wslay_event_get_queued_msg_count(w->ws) > 0) {
		return 0;
	}
	web_ws_close(w, WSLAY_CODE_NORMAL_CLOSURE, w->later_reason,
	    w->later_why);
	return 1;
}

/* Read and take apart what has arrived; whole messages are queued. */
static int
web_ws_read(struct web *w)
{
	int rc;

	w->in_recv = 1;
	rc = wslay_event_recv(w->ws);
	w->in_recv = 0;
	return rc;
}

/* The deadlines of a WebSocket session, and how each closes it. */
enum web_ws_limit {
	WEB_WS_IDLE,		/* no complete message within idle_timeout */
	WEB_WS_LOGIN,		/* not logged in within login_timeout */
	WEB_WS_LINE,		/* a message begun, unfinished at line_timeout */
	WEB_WS_TOKEN,		/* the login token it logged in by expired */
};

static const struct {
	uint16_t code;
	const char *reason;	/* in the close frame, for the browser */
	const char *why;	/* for the log */
} web_ws_limits[] = {
	[WEB_WS_IDLE] = { WSLAY_CODE_GOING_AWAY, "idle",
	    "closed by the server: idle timeout" },
	[WEB_WS_LOGIN] = { WSLAY_CODE_POLICY_VIOLATION,
	    "no login within login_timeout",
	    "closed by the server: no login within login_timeout" },
	[WEB_WS_LINE] = { WSLAY_CODE_POLICY_VIOLATION,
	    "message not finished within line_timeout",
	    "closed by the server: line timeout" },
	[WEB_WS_TOKEN] = { WSLAY_CODE_POLICY_VIOLATION, "login token expired",
	    SESSION_TOKEN_EXPIRED },
};

/*
 * The next deadline of a WebSocket session that is not closing, and
 * which it is.  A message begun counts only while the server reads.
 */
static int64_t
web_ws_deadline(const struct web *w, enum web_ws_limit *limit)
{
	const struct session *s = w->s;
	const struct config *cfg = s->peer.srv->cfg;
	int64_t until = w->idle_deadline, t;

	*limit = WEB_WS_IDLE;
	t = s->anon_since + cfg->login_timeout * 1000;
	if (!s->logged_in && t <= until) {
		until = t;
		*limit = WEB_WS_LOGIN;
	}
	t = w->msg_start + cfg->line_timeout * 1000;
	if (w->msg_start != 0 && w->held_since == 0 &&
	    wslay_event_get_read_enabled(w->ws) && t <= until) {
		until = t;
		*limit = WEB_WS_LINE;
	}
	if ((t = session_token_deadline(s)) <= until) {
		until = t;
		*limit = WEB_WS_TOKEN;
	}
	return until;
}

/* A deadline passed: the close frame saying which. */
static void
web_ws_expire(struct web *w, enum web_ws_limit limit)
{
	const struct session *s = w->s;

	if (limit == WEB_WS_LOGIN) {
		log_info("session %lld: no login within login_timeout (%ld s); "
		    "closing", (long long)s->peer.client.session,
		    s->peer.srv->cfg->login_timeout);
	} else if (limit == WEB_WS_TOKEN) {
		log_info("session %lld: login token %lld of %s expired; "
		    "closing", (long long)s->peer.client.session,
		    (long long)s->token_id, s->user);
	} else if (limit == WEB_WS_LINE) {
		log_info("session %lld: message not finished within "
		    "line_timeout (%ld s); closing",
		    (long long)s->peer.client.session,
		    s->peer.srv->cfg->line_timeout);
	}
	web_ws_close(w, web_ws_limits[limit].code, web_ws_limits[limit].reason,
	    web_ws_limits[limit].why);
}

/*
 * The WebSocket session until either side closes; returns why.  Every
 * time round, after reading what is already buffered (at most one read),
 * the deadlines are looked at: bytes that keep coming, or a buffer that
 * says it holds some and never yields any, cannot put them off.
 */
static const char *
web_ws_loop(struct web *w)
{
	struct session *s = w->s;
	struct pollfd pfd[2];
	int64_t now, until, quiet = now_ms();
	enum web_ws_limit limit;
	nfds_t n;
	int want_read, want_write, room, reading, got, kicked, trimmed = 0;

	w->idle_deadline = now_ms() + w->s->peer.srv->cfg->idle_timeout * 1000;
	web_current = w;
	session_set_pump(s, web_ws_pump);
	for (;;) {
		if (server_stopping(w->s->peer.srv)) {
			web_ws_close(w, WSLAY_CODE_GOING_AWAY,
			    "server stopping",
			    "closed by the server: shutting down");
		}
		kicked = web_ws_kicked(w);
		web_ws_answer(w);
		(void)web_ws_events(w);
		(void)web_ws_close_due(w);
		if (web_ws_flush(w) != 0) {
			return web_ws_why(w, "write failed");
		}
		if (web_ws_close_due(w) && web_ws_flush(w) != 0) {
			return web_ws_why(w, "write failed");
		}
		want_read = wslay_event_want_read(w->ws);
		want_write = wslay_event_want_write(w->ws);
		if (!want_read && !want_write) {
			return web_ws_why(w, "closed by the client");
		}
		/* Its close frame is out; no answer to it can be read. */
		if (kicked && !want_write) {
			return web_ws_why(w, "closed by the server");
		}
		room = wslay_event_get_queued_msg_count(w->ws) < WEB_WS_QUEUE;
		reading = want_read && !w->closing && room;
		web_ws_hold(w, !reading);
		got = 0;
		if (reading && (w->buf_len > 0 ||
		    conn_buffered(s->peer.conn))) {
			if (web_ws_read(w) != 0) {
				return web_ws_why(w, "connection lost");
			}
			got = 1;
		}
		now = now_ms();
		if (w->closing && now >= w->close_deadline) {
			return w->why;
		}
		if (w->write_deadline != 0 && now >= w->write_deadline) {
			return "client not reading";
		}
		until = w->closing ? w->close_deadline :
		    web_ws_deadline(w, &limit);
		if (!w->closing && now >= until) {
			web_ws_expire(w, limit);
			continue;
		}
		if (got) {
			continue;
		}
		if (w->write_deadline != 0 && w->write_deadline < until) {
			until = w->write_deadline;
		}
		/* With replies piling up, wait for the browser to take them. */
		pfd[0].fd = conn_fd(s->peer.conn);
		pfd[0].events = (want_read && room && !kicked ? POLLIN : 0) |
		    (want_write && w->send_blocked ? POLLOUT : 0);
		/*
		 * Not reading (the browser does not take its replies), it
		 * must still wake when a kick or shutdown shuts its reading
		 * down (client_kick_match): nothing else says so, and POLLOUT
		 * may not come before the write deadline.  Not asked again
		 * once the browser has shut its own writing down, which poll()
		 * then says for good (the write deadline still ends it).
		 */
		if (!(pfd[0].events & POLLIN) && !kicked && !w->peer_rdhup) {
			pfd[0].events |= POLLRDHUP;
		}
		n = 1;
		if (s->events != NULL && room && !w->closing) {
			pfd[1].fd = event_queue_fd(s->events);
			pfd[1].events = POLLIN;
			n = 2;
		}
		/* Quiet for CONN_IDLE_MS: give back what the thread holds. */
		if (!trimmed && quiet + CONN_IDLE_MS < until) {
			if (now >= quiet + CONN_IDLE_MS) {
				server_conn_idle();
				trimmed = 1;
			} else {
				until = quiet + CONN_IDLE_MS;
			}
		}
		if (poll(pfd, n, until - now > 60000 ? 60000 :
		    (int)(until - now)) <= 0) {
			continue;
		}
		quiet = now_ms();
		trimmed = 0;
		/* Kicked while waiting: the close frame first (above). */
		if (client_closed_by(&s->peer.client) != NULL) {
			continue;
		}
		if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    want_read && web_ws_read(w) != 0) {
			return web_ws_why(w, "connection lost");
		}
		/* Gone while nothing was read: poll() would say so forever. */
		if ((pfd[0].revents & (POLLHUP | POLLERR)) &&
		    !(pfd[0].events & POLLIN)) {
			return web_ws_why(w, "connection lost");
		}
		if (pfd[0].revents & POLLOUT) {
			w->send_blocked = 0;
		}
		if (pfd[0].revents & POLLRDHUP & pfd[0].events) {
			w->peer_rdhup = 1;
		}
	}
}

/*
 * Upgrade to a WebSocket member session: the checks, 101, the hello,
 * then the session.  -1 when the request was refused (answered).
 */
static int
web_upgrade(struct web *w)
{
	static const struct wslay_event_callbacks cb = {
		.recv_callback = web_ws_recv,
		.send_callback = web_ws_send,
		.on_frame_recv_start_callback = web_ws_on_frame_start,
		.on_frame_recv_end_callback = web_ws_on_frame_end,
		.on_msg_recv_callback = web_ws_on_msg,
	};
	struct session *s = w->s;
	char accept[64], *extra;
	const char *why;
	cJSON *hello;
	char *text;
	size_t len;

	if (!w->parser.upgrade ||
	    !web_list_has(w->values[WEB_H_UPGRADE], "websocket") ||
	    !web_list_has(w->values[WEB_H_CONNECTION], "upgrade") ||
	    !web_ws_key_ok(w->values[WEB_H_WS_KEY]) ||
	    w->parser.method != HTTP_GET) {
		(void)web_error(w, 400, "Bad Request", 0, NULL);
		return -1;
	}
	if (strcmp(w->values[WEB_H_WS_VERSION], "13") != 0) {
		(void)web_error(w, 426, "Upgrade Required", 0,
		    "Sec-WebSocket-Version: 13\r\n");
		return -1;
	}
	if (!web_origin_ok(w)) {
		log_warn("web %s port %d: WebSocket refused: origin \"%s\" is "
		    "not allowed", s->peer.client.address, s->peer.client.port,
		    w->values[WEB_H_ORIGIN]);
		(void)web_error(w, 403, "Forbidden", 0, NULL);
		return -1;
	}
	web_ws_accept(w->values[WEB_H_WS_KEY], accept);
	extra = xasprintf("Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n%s\r\n", accept,
	    web_security_headers);
	text = xasprintf("HTTP/1.1 101 Switching Protocols\r\n%s", extra);
	free(extra);
	if (conn_write(s->peer.conn, text, strlen(text),
	    now_ms() + WEB_WRITE_MS) != CONN_OK) {
		free(text);
		return -1;
	}
	free(text);
	if (wslay_event_context_server_init(&w->ws, &cb, w) != 0) {
		return -1;
	}
	wslay_event_config_set_max_recv_msg_length(w->ws,
	    (uint64_t)w->s->peer.srv->cfg->max_line);
	w->req_tail = &w->req_head;
	/* login_timeout runs from the upgrade: the session starts there. */
	s->anon_since = now_ms();
	if (session_open(s, "web") != 0) {
		wslay_event_context_free(w->ws);
		return -1;
	}
	hello = session_hello(s);
	text = proto_line(hello, &len);
	web_ws_queue(w, text, len);
	free(text);
	cJSON_Delete(hello);
	why = web_ws_loop(w);
	web_ws_drop_requests(w);
	session_close(s, why);
	wslay_event_context_free(w->ws);
	return 0;
}

/*
 * An asset, or 304 when the browser's copy is current (If-None-Match
 * names its tag): Cache-Control: no-cache makes the browser ask each
 * time, the tag saves sending the same bytes again.
 */
static int
web_send_asset(struct web *w, const struct web_asset *a, int head, int keep)
{
	const char *tag = web_etags[a - web_assets];
	char extra[64];
	int fresh;

	snprintf(extra, sizeof(extra), "ETag: %s\r\n", tag);
	fresh = w->value_len[WEB_H_IF_NONE_MATCH] > 0 &&
	    (strstr(w->values[WEB_H_IF_NONE_MATCH], tag) != NULL ||
	    strcmp(w->values[WEB_H_IF_NONE_MATCH], "*") == 0);
	/* A 304 has the 200's headers, Content-Length too, and no body. */
	return web_respond(w, fresh ? 304 : 200, fresh ? "Not Modified" :
	    "OK", a->type, a->data, a->len, head || fresh, extra, keep);
}

/* Requests on one connection until it closes or upgrades. */
static void
web_serve(struct web *w)
{
	const struct web_asset *a;
	int keep, head;
	char *q;

	while (!server_stopping(w->s->peer.srv)) {
		if (web_read_request(w) != 0) {
			return;
		}
		keep = http_should_keep_alive(&w->parser);
		head = w->parser.method == HTTP_HEAD;
		if (w->url_too_long) {
			(void)web_error(w, 414, "URI Too Long", 0, NULL);
			return;
		}
		if ((q = strchr(w->url, '?')) != NULL) {
			*q = '\0';
		}
		if (strcmp(w->url, "/ws") == 0) {
			(void)web_upgrade(w);
			return;
		}
		if (w->parser.method != HTTP_GET && !head) {
			(void)web_error(w, 405, "Method Not Allowed", 0,
			    "Allow: GET, HEAD\r\n");
			return;
		}
		if ((a = web_find_asset(w->url)) == NULL) {
			if (web_error(w, 404, "Not Found", keep, NULL) != 0 ||
			    !keep) {
				return;
			}
			continue;
		}
		if (web_send_asset(w, a, head, keep) != 0 || !keep) {
			return;
		}
	}
}

void
web_refuse(struct conn *c, int64_t deadline)
{
	static const char body[] = "503 Service Unavailable: the server has "
	    "too many connections right now. Try again in a few seconds.\n";
	char buf[2048], *head;
	size_t len = 0, got;

	/*
	 * Read the request first (as much as comes in time): closing with
	 * it unread would reset the connection and lose the answer.
	 */
	while (len + 1 < sizeof(buf) && conn_read(c, buf + len,
	    sizeof(buf) - 1 - len, &got, deadline) == CONN_OK) {
		len += got;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL) {
			break;
		}
	}
	head = xasprintf("HTTP/1.1 503 Service Unavailable\r\n%s"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n"
	    "Retry-After: %d\r\nConnection: close\r\n\r\n%s",
	    web_security_headers, sizeof(body) - 1, WEB_RETRY_AFTER, body);
	if (conn_write(c, head, strlen(head), deadline) == CONN_OK) {
		conn_shutdown(c, deadline);
	}
	free(head);
}

static pthread_once_t web_once = PTHREAD_ONCE_INIT;

static void
web_init(void)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n;
	size_t i;

	http_parser_set_max_header_size(WEB_HEAD_MAX);
	for (i = 0; i < WEB_ASSETS; i++) {
		if (EVP_Digest(web_assets[i].data, web_assets[i].len, md, &n,
		    EVP_sha256(), NULL) != 1) {
			fatal("SHA-256 unavailable");
		}
		snprintf(web_etags[i], sizeof(web_etags[i]),
		    "\"%02x%02x%02x%02x%02x%02x%02x%02x\"", md[0], md[1],
		    md[2], md[3], md[4], md[5], md[6], md[7]);
	}
}

/* Bytes from a plain socket until the request head is parsed or deadline. */
static int
web_plain_read(struct web *w, int fd, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int64_t left;
	ssize_t got;
	size_t parsed;

	web_reset(w);
	while (w->state != WEB_STATE_DONE && w->buf_len < sizeof(w->buf)) {
		left = deadline - now_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			return -1;
		}
		got = recv(fd, w->buf + w->buf_len, sizeof(w->buf) -
		    w->buf_len, 0);
		if (got <= 0) {
			return -1;
		}
		parsed = http_parser_execute(&w->parser, &web_settings,
		    w->buf + w->buf_len, (size_t)got);
		w->buf_len += (size_t)got;
		if (w->state != WEB_STATE_DONE && (parsed != (size_t)got ||
		    HTTP_PARSER_ERRNO(&w->parser) != HPE_OK)) {
			return -1;
		}
	}
	return w->state == WEB_STATE_DONE ? 0 : -1;
}

/* 1 when host (a Host header) may go into a Location header as it is. */
static int
web_host_ok(const char *host)
{
	return host[0] != '\0' && strspn(host, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") == strlen(host);
}

/*
 * Plain HTTP sent to this HTTPS port (someone typed http://host:port/):
 * the first byte of a TLS handshake is 0x16, of an HTTP request a capital
 * letter.  Failing the handshake shows the browser a reset connection,
 * so the request is read in the clear and answered with a redirect to
 * the https:// address.  1 when it was plain HTTP (answered), 0 for TLS.
 */
static int
web_plain_http(struct web *w, int fd, int64_t deadline)
{
	static const char how[] = "This is drink's web port; it speaks "
	    "HTTPS only.";
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	const char *host = w->values[WEB_H_HOST];
	char first, *text, *body, *where = NULL;
	int64_t left = deadline - now_ms();
	size_t off = 0;
	ssize_t n;

	if (left <= 0 || poll(&pfd, 1, (int)left) <= 0 ||
	    recv(fd, &first, 1, MSG_PEEK) != 1 || first < 'A' || first > 'Z') {
		return 0;
	}
	if (web_plain_read(w, fd, now_ms() +
	    w->s->peer.srv->cfg->line_timeout * 1000) == 0 &&
	    web_host_ok(host)) {
		where = xasprintf("https://%s%s", host, w->url_too_long ||
		    w->url[0] != '/' ? "/" : w->url);
		body = xasprintf("%s Go to %s\n", how, where);
		text = xasprintf("HTTP/1.1 301 Moved Permanently\r\n"
		    "Location: %s\r\n%sContent-Type: text/plain; "
		    "charset=utf-8\r\nContent-Length: %zu\r\n"
		    "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
		    "%s", where, web_security_headers, strlen(body), body);
		free(body);
	} else {
		text = xasprintf("HTTP/1.1 400 Bad Request\r\n"
		    "%sContent-Type: text/plain; charset=utf-8\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n"
		    "%s\n", web_security_headers, sizeof(how), how);
	}
	log_info("web %s port %d: plain HTTP on the HTTPS port; answered %s",
	    w->s->peer.client.address, w->s->peer.client.port,
	    where != NULL ? "with a redirect to https" : "400");
	pfd.events = POLLOUT;
	while (off < strlen(text) && poll(&pfd, 1, WEB_PLAIN_WRITE_MS) > 0 &&
	    (n = send(fd, text + off, strlen(text) - off, MSG_NOSIGNAL)) > 0) {
		off += (size_t)n;
	}
	free(where);
	free(text);
	return 1;
}

void *
web_main(void *arg)
{
	struct session *s = arg;
	const struct config *cfg = s->peer.srv->cfg;
	SSL_CTX *ctx = server_member_ctx(s->peer.srv);
	struct web *w = NULL;

	pthread_once(&web_once, web_init);
	s->peer.conn = conn_new(s->peer.client.fd, ctx, (size_t)cfg->max_line);
	SSL_CTX_free(ctx);
	if (s->peer.conn == NULL) {
		log_err("web %s port %d: cannot set up TLS",
		    s->peer.client.address, s->peer.client.port);
		s->peer.client.fd = -1;
		goto out;
	}
	tls_port_mark(conn_ssl(s->peer.conn), TLS_PORT_WEB);
	/* wslay resends what a blocked write left, from its own buffer. */
	SSL_set_mode(conn_ssl(s->peer.conn), SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	w = xcalloc(1, sizeof(*w));
	w->s = s;
	if (web_plain_http(w, s->peer.client.fd, now_ms() +
	    cfg->handshake_timeout * 1000)) {
		goto out;
	}
	w->buf_len = 0;
	web_reset(w);
	if (conn_accept(s->peer.conn, now_ms() + cfg->handshake_timeout *
	    1000) != CONN_OK) {
		log_info("web %s port %d: TLS handshake failed: %s",
		    s->peer.client.address, s->peer.client.port,
		    conn_error(s->peer.conn));
		goto out;
	}
	web_serve(w);
	conn_shutdown(s->peer.conn, now_ms() + 1000);
out:
	/* Leave the registry before the descriptor is closed (kick safety). */
	client_remove(&s->peer.client);
	conn_free(s->peer.conn);
	free(w);
	free(s);
	return NULL;
}
