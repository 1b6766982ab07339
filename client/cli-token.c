/*
 * Login tokens kept by the client (PROTOCOL.md section 10), and "watch".
 *
 * "drink login" logs in with the password once, asks the server for a
 * token and keeps it in $XDG_STATE_HOME/drink/token-HOST-PORT (default
 * ~/.local/state/drink/), mode 0600 in a 0700 directory.  Commands that
 * need a login then use the token instead of asking for the password;
 * "drink logout" revokes it on the server and deletes the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define CLI_TOKEN_FILE_MAX 4096
#define CLI_WATCH_PING_MS 60000	/* the server closes idle sessions */

/* Make dir and its missing parents, mode 0700 for what is made. */
static int
cli_token_mkdirs(const char *dir)
{
	char *p = xstrdup(dir), *slash;
	int rc = 0;

	for (slash = strchr(p + 1, '/'); rc == 0; slash = strchr(slash + 1,
	    '/')) {
		if (slash != NULL) {
			*slash = '\0';
		}
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			rc = -1;
		}
		if (slash == NULL) {
			break;
		}
		*slash = '/';
	}
	free(p);
	return rc;
}

/* The state directory, or NULL without HOME; caller frees. */
static char *
cli_token_dir(void)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (xdg != NULL && xdg[0] == '/') {
		return xasprintf("%s/drink", xdg);
	}
	if (home != NULL && home[0] != '\0') {
		return xasprintf("%s/.local/state/drink", home);
	}
	return NULL;
}

/* The file for this server; caller frees; NULL without a directory. */
char *
cli_token_path(const struct cli_config *cfg)
{
	char *dir = cli_token_dir(), *path, *p;

	if (dir == NULL) {
		return NULL;
	}
	path = xasprintf("%s/token-%s-%s", dir, cfg->host, cfg->port);
	/* An IPv6 address's colons are fine; slashes are not. */
	for (p = path + strlen(dir) + 1; *p != '\0'; p++) {
		if (*p == '/') {
			*p = '_';
		}
	}
	free(dir);
	return path;
}

/*
 * The kept token for this server: {"user", "token", "token_id"}, caller
 * deletes; NULL when there is none (or it is unreadable).
 */
cJSON *
cli_token_load(const struct cli_config *cfg)
{
	char *path = cli_token_path(cfg), buf[CLI_TOKEN_FILE_MAX];
	cJSON *o = NULL;
	ssize_t n;
	int fd;

	if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		free(path);
		return NULL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	free(path);
	if (n > 0) {
		buf[n] = '\0';
		o = cJSON_Parse(buf);
	}
	if (!cJSON_IsString(cJSON_GetObjectItem(o, "token")) ||
	    !cJSON_IsString(cJSON_GetObjectItem(o, "user"))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

void
cli_token_forget(const struct cli_config *cfg)
{
	char *path = cli_token_path(cfg);

	if (path != NULL) {
		(void)unlink(path);
	}
	free(path);
}

/* Write the token file (0600, replaced atomically); -1 reported. */
static int
cli_token_save(const struct cli_config *cfg, const cJSON *reply,
    const char *user)
{
	char *dir = cli_token_dir(), *path = cli_token_path(cfg), *tmp = NULL;
	char *text = NULL;
	cJSON *o = cJSON_CreateObject();
	int fd = -1, rc = -1;
	size_t len;

	if (dir == NULL || path == NULL) {
		cli_error("cannot keep a token: HOME is not set");
		goto out;
	}
	if (cli_token_mkdirs(dir) != 0) {
		cli_error("cannot make %s: %s", dir, strerror(errno));
		goto out;
	}
	cJSON_AddStringToObject(o, "user", user);
	cJSON_AddItemToObject(o, "token", cJSON_Duplicate(
	    cJSON_GetObjectItem(reply, "token"), 1));
	cJSON_AddItemToObject(o, "token_id", cJSON_Duplicate(
	    cJSON_GetObjectItem(reply, "token_id"), 1));
	cJSON_AddItemToObject(o, "expires", cJSON_Duplicate(
	    cJSON_GetObjectItem(reply, "expires"), 1));
	text = cJSON_PrintUnformatted(o);
	len = strlen(text);
	tmp = xasprintf("%s.tmp", path);
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) ==
	    -1 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0 ||
	    close(fd) != 0) {
		cli_error("cannot write %s: %s", tmp, strerror(errno));
		if (fd != -1) {
			(void)unlink(tmp);
		}
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		cli_error("cannot write %s: %s", path, strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	if (text != NULL) {
		cli_tty_wipe(text, strlen(text));
	}
	cJSON_free(text);
	cJSON_Delete(o);
	free(tmp);
	free(path);
	free(dir);
	return rc;
}

/* token_revoke of id by whoever s is logged in as; CLI_EXIT_*, quiet. */
static int
cli_token_revoke_id(struct cli_session *s, const cJSON *id)
{
	cJSON *req = cJSON_CreateObject(), *reply = NULL;
	int st;

	cJSON_AddStringToObject(req, "cmd", "token_revoke");
	cJSON_AddNumberToObject(req, "token_id", id->valuedouble);
	st = cli_session_request(s, req, CLI_REPLY_MS, &reply, NULL);
	cJSON_Delete(req);
	if (st == CLI_EXIT_OK && !cJSON_IsTrue(
	    cJSON_GetObjectItemCaseSensitive(reply, "ok"))) {
		st = CLI_EXIT_REFUSED;
	}
	cJSON_Delete(reply);
	return st;
}

/*
 * The login kept before "drink login" replaced it (kept: the old file's
 * contents) is revoked, so that no token stays valid that no file
 * remembers.  Only its user may revoke it: for the same user that is this
 * session; another user's is borrowed with the old token, and the session
 * then logs back in with the new one.  A token already expired or revoked
 * needs nothing.
 */
static void
cli_token_revoke_replaced(struct cli_session *s, const cJSON *kept,
    const char *user, const char *token)
{
	const char *old_user = cJSON_GetStringValue(cJSON_GetObjectItem(kept,
	    "user"));
	const cJSON *id = cJSON_GetObjectItem(kept, "token_id");
	int other = strcmp(old_user, user) != 0, st = CLI_EXIT_OK;

	if (!cJSON_IsNumber(id)) {
		return;
	}
	if (other) {
		st = cli_session_token_login(s, cJSON_GetStringValue(
		    cJSON_GetObjectItem(kept, "token")));
	}
	if (st == CLI_EXIT_OK) {
		st = cli_token_revoke_id(s, id);
	}
	/*
	 * Unknown to the server, or (its own) refused for revoking: no
	 * longer valid.  Anything else may have left it valid.
	 */
	if (st == CLI_EXIT_CONN || (other && st == CLI_EXIT_REFUSED)) {
		cli_error("the login kept before for %s (token %lld) may still "
		    "be valid: revoke it in the web app's Account tab",
		    old_user, (long long)id->valuedouble);
	}
	if (other && cli_session_token_login(s, token) != CLI_EXIT_OK) {
		cli_error("could not log back in as %s on this connection",
		    user);
	}
}

/* "drink login": password once, then a token kept for later commands. */
int
cli_token_login(struct cli_cmd_run *run, struct cli_session *s)
{
	const struct cli_config *cfg = cli_session_config(s);
	char host[256], *label, *path;
	cJSON *req, *reply = NULL, *kept;
	int st;

	if (cfg->user == NULL) {
		/* The shell's user is the one drink was started with. */
		cli_error(cli_cmd_prefix()[0] == '\0' ? "login: quit, then "
		    "start drink -u USER to log in as USER" :
		    "login: name the user with -u USER");
		return CLI_EXIT_USAGE;
	}
	if ((st = cli_session_login(s)) != CLI_EXIT_OK) {
		return st;
	}
	if (gethostname(host, sizeof(host)) != 0) {
		snprintf(host, sizeof(host), "unknown host");
	}
	host[sizeof(host) - 1] = '\0';
	label = xasprintf("drink CLI on %.40s", host);
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "token_create");
	cJSON_AddStringToObject(req, "label", label);
	free(label);
	if ((st = cli_session_call(s, run, req, &reply)) != CLI_EXIT_OK) {
		return st;
	}
	/* Read before the new token's file replaces it. */
	kept = cli_token_load(cfg);
	st = cli_token_save(cfg, reply, cfg->user) == 0 ? CLI_EXIT_OK :
	    CLI_EXIT_USAGE;
	if (st == CLI_EXIT_OK && kept != NULL) {
		cli_token_revoke_replaced(s, kept, cfg->user,
		    cJSON_GetStringValue(cJSON_GetObjectItem(reply, "token")));
	}
	cJSON_Delete(kept);
	cli_tty_wipe(cJSON_GetObjectItem(reply, "token")->valuestring, 64);
	cJSON_Delete(reply);
	if (st == CLI_EXIT_OK) {
		path = cli_token_path(cfg);
		printf("Logged in as %s; the login is kept in %s until "
		    "\"%slogout\"\n", cfg->user, path, cli_cmd_prefix());
		free(path);
	}
	return st;
}

/* "drink logout": revoke the kept token on the server and delete it. */
int
cli_token_logout(struct cli_cmd_run *run, struct cli_session *s)
{
	const struct cli_config *cfg = cli_session_config(s);
	cJSON *kept = cli_token_load(cfg), *req, *reply = NULL;
	const cJSON *id;
	int st;

	if (kept == NULL && cli_cmd_prefix()[0] == '\0' &&
	    cli_session_logged_in(s)) {
		/* The shell's own login, by password or certificate. */
		return cli_session_logout(s);
	}
	if (kept == NULL) {
		printf("Not logged in (no token kept for %s:%s)\n", cfg->host,
		    cfg->port);
		return CLI_EXIT_OK;
	}
	id = cJSON_GetObjectItem(kept, "token_id");
	st = cli_session_token_login(s, cJSON_GetStringValue(
	    cJSON_GetObjectItem(kept, "token")));
	if (st == CLI_EXIT_OK && cJSON_IsNumber(id)) {
		req = cJSON_CreateObject();
		cJSON_AddStringToObject(req, "cmd", "token_revoke");
		cJSON_AddNumberToObject(req, "token_id", id->valuedouble);
		st = cli_session_call(s, run, req, &reply);
		cJSON_Delete(reply);
	} else if (st == CLI_EXIT_BAD_TOKEN) {
		/* Already revoked or expired: nothing left to revoke. */
		st = CLI_EXIT_OK;
	}
	if (st == CLI_EXIT_OK) {
		cli_token_forget(cfg);
		printf("Logged out %s\n", cJSON_GetStringValue(
		    cJSON_GetObjectItem(kept, "user")));
	}
	cJSON_Delete(kept);
	return st;
}

/*
 * Before a command that needs a login: use the kept token when there is
 * one for this server and -u names no one else.  CLI_EXIT_OK logged in;
 * CLI_EXIT_REFUSED no usable token (one the server does not know is
 * deleted; another refusal is printed and the token kept); or
 * CLI_EXIT_CONN.
 */
int
cli_token_use(struct cli_session *s)
{
	const struct cli_config *cfg = cli_session_config(s);
	cJSON *kept = cli_token_load(cfg);
	int st;

	if (kept == NULL) {
		return CLI_EXIT_REFUSED;
	}
	if (cfg->user != NULL && strcmp(cfg->user, cJSON_GetStringValue(
	    cJSON_GetObjectItem(kept, "user"))) != 0) {
		/* -u (or the configuration's user) names someone else. */
		if (getenv("DRINK_PASSWORD") == NULL &&
		    cli_session_password(s) == NULL) {
			cli_error("the kept login is %s's; logging in as %s "
			    "with the password", cJSON_GetStringValue(
			    cJSON_GetObjectItem(kept, "user")), cfg->user);
		}
		cJSON_Delete(kept);
		return CLI_EXIT_REFUSED;
	}
	st = cli_session_token_login(s, cJSON_GetStringValue(
	    cJSON_GetObjectItem(kept, "token")));
	if (st == CLI_EXIT_BAD_TOKEN) {
		st = CLI_EXIT_REFUSED;
		/*
		 * With -u a password login follows: said only when the
		 * password is asked for, so that the prompt is no surprise.
		 */
		if (cfg->user == NULL) {
			cli_error("the kept login for %s has expired or was "
			    "revoked; run drink -u %s login",
			    cJSON_GetStringValue(cJSON_GetObjectItem(kept,
			    "user")), cJSON_GetStringValue(
			    cJSON_GetObjectItem(kept, "user")));
		} else if (getenv("DRINK_PASSWORD") == NULL &&
		    cli_session_password(s) == NULL) {
			cli_error("the kept login for %s has expired or was "
			    "revoked; logging in with the password",
			    cfg->user);
		}
		cli_token_forget(cfg);
	}
	cJSON_Delete(kept);
	return st;
}

/* One machine or slot event as a line for people. */
static void
cli_token_print_event(const cJSON *ev)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(ev,
	    "event"));
	const cJSON *temp = cJSON_GetObjectItem(ev, "temperature");
	char stamp[16];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	if (name != NULL && strcmp(name, "machine") == 0 &&
	    cJSON_IsTrue(cJSON_GetObjectItem(ev, "deleted"))) {
		/* Its last state is offline and disabled: not what it says. */
		printf("%s  machine %s (%s): deleted\n", stamp,
		    cJSON_GetStringValue(cJSON_GetObjectItem(ev, "machine")),
		    cJSON_IsString(cJSON_GetObjectItem(ev, "name")) ?
		    cJSON_GetStringValue(cJSON_GetObjectItem(ev, "name")) : "");
	} else if (name != NULL && strcmp(name, "machine") == 0) {
		char t[32] = "";

		if (cJSON_IsNumber(temp)) {
			snprintf(t, sizeof(t), ", %.1f C", temp->valuedouble);
		}
		printf("%s  machine %s (%s): %s, %s%s\n", stamp,
		    cJSON_GetStringValue(cJSON_GetObjectItem(ev, "machine")),
		    cJSON_IsString(cJSON_GetObjectItem(ev, "name")) ?
		    cJSON_GetStringValue(cJSON_GetObjectItem(ev, "name")) :
		    "deleted",
		    cJSON_IsTrue(cJSON_GetObjectItem(ev, "online")) ?
		    "online" : "offline",
		    cJSON_IsTrue(cJSON_GetObjectItem(ev, "enabled")) ?
		    "enabled" : "disabled", t);
	} else if (name != NULL && strcmp(name, "slot") == 0) {
		printf("%s  slot %s %d: %s, price %lld, stock %lld, %s\n", stamp,
		    cJSON_GetStringValue(cJSON_GetObjectItem(ev, "machine")),
		    (int)cJSON_GetNumberValue(cJSON_GetObjectItem(ev, "slot")),
		    cJSON_IsString(cJSON_GetObjectItem(ev, "item")) ?
		    cJSON_GetStringValue(cJSON_GetObjectItem(ev, "item")) :
		    "(empty)",
		    (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(ev,
		    "price")),
		    (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(ev,
		    "stock")),
		    cJSON_IsTrue(cJSON_GetObjectItem(ev, "enabled")) ?
		    "enabled" : "disabled");
	} else if (name != NULL && strcmp(name, "overflow") == 0) {
		printf("%s  (too many events: the server closed the stream)\n",
		    stamp);
	}
	fflush(stdout);
}

/*
 * "drink watch": subscribe to machines and slots and print each event as
 * it comes, until the connection ends or the user interrupts.  A ping
 * every minute keeps the session from being closed as idle.
 */
int
cli_token_watch(struct cli_cmd_run *run, struct cli_session *s)
{
	cJSON *req = cJSON_CreateObject(), *reply = NULL, *msg;
	char *raw = NULL;
	int64_t next_ping;
	int st, wake;

	/*
	 * In the shell, Ctrl-C ends the watch and the shell goes on; one
	 * pressed while subscribing ends it as soon as it has begun.
	 */
	wake = cli_tty_watch_interrupt();
	cJSON_AddStringToObject(req, "cmd", "subscribe");
	cJSON_AddItemToObject(req, "topics", cJSON_CreateStringArray(
	    (const char *const[]){ "machines", "slots" }, 2));
	if ((st = cli_session_call(s, run, req, &reply)) != CLI_EXIT_OK) {
		goto out;
	}
	cJSON_Delete(reply);
	reply = NULL;
	if (!run->json) {
		fprintf(stderr, "watching machines and slots; Ctrl-C stops\n");
	}
	cli_session_set_wake(s, wake);
	next_ping = now_ms() + CLI_WATCH_PING_MS;
	for (;;) {
		st = cli_session_next(s, next_ping - now_ms(), &msg, &raw);
		if (st == CLI_EXIT_INTERRUPTED) {
			break;
		}
		if (st == CLI_EXIT_TIMEOUT) {
			req = cJSON_CreateObject();
			cJSON_AddStringToObject(req, "cmd", "ping");
			st = cli_session_send(s, req);
			cJSON_Delete(req);
			next_ping = now_ms() + CLI_WATCH_PING_MS;
			if (st != CLI_EXIT_OK) {
				goto out;
			}
			continue;
		}
		if (st != CLI_EXIT_OK) {
			goto out;
		}
		if (cJSON_GetObjectItem(msg, "event") != NULL) {
			if (run->json) {
				printf("%s\n", raw);
				fflush(stdout);
			} else {
				cli_token_print_event(msg);
			}
		}
		cJSON_Delete(msg);
		free(raw);
		raw = NULL;
	}
	/*
	 * Back to the shell's prompt, on a line of its own after the echoed
	 * ^C, with the session no longer sent the events.
	 */
	cli_session_set_wake(s, -1);
	cli_tty_watch_release();
	printf("\n");
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", "unsubscribe");
	if ((st = cli_session_call(s, run, req, &reply)) == CLI_EXIT_OK) {
		cJSON_Delete(reply);
	}
	return st;
out:
	cli_session_set_wake(s, -1);
	cli_tty_watch_release();
	return st;
}
