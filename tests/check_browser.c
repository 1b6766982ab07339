/*
 * The web app in headless Chromium: node scripts in tests/browser drive
 * browser contexts (members and an admin) over the DevTools protocol
 * against a real drinkd with its web port, and a real drink-machine for
 * m1 that they stop and start.  e2e.js walks through the whole app;
 * screens.js checks what the screen shows, one behaviour per scenario.
 * This file sets the server up, runs a script and asserts on its exit
 * status; the script's own log (every check and timing) is shown on
 * failure, and its screenshots are left in $BUILD/screenshots.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define BROWSER_TIMEOUT 240
#define BROWSER_SCRIPT_MS 180000

static struct h_server *srv;

static void
setup(void)
{
	srv = h_machine_server_start("web_listen = 127.0.0.1:0\n"
	    "vend_timeout = 10\n");
	h_admin(srv, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Big Drink\"}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":3,\"item\":\"Cola\",\"price\":10,\"stock\":5}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":4,\"item\":\"Water\",\"price\":5,\"stock\":0}",
	    NULL);
}

/*
 * screens.js's world: besides setup()'s, a slot of m1 switched off and a
 * machine m2 switched off, so that every reason a Drop button can be off
 * is on one screen.
 */
static void
setup_screens(void)
{
	setup();
	h_admin(srv, "{\"cmd\":\"slot_set\",\"machine\":\"m1\","
	    "\"slot\":5,\"item\":\"Mate\",\"price\":8,\"stock\":3,"
	    "\"enabled\":false}",
	    "{\"cmd\":\"machine_add\",\"machine\":\"m2\","
	    "\"name\":\"Small Drink\"}",
	    "{\"cmd\":\"slot_set\",\"machine\":\"m2\","
	    "\"slot\":1,\"item\":\"Juice\",\"price\":4,\"stock\":2}",
	    "{\"cmd\":\"machine_mod\",\"machine\":\"m2\","
	    "\"enabled\":false}",
	    NULL);
}

/*
 * setup_screens's world with two slots of m1 that are not set up, as an
 * old database may hold them: slot 6's item is "", slot 7's blanks.
 */
static void
setup_no_item(void)
{
	setup_screens();
	h_sql_exec(srv, "INSERT INTO slots (machine, slot, item, price, stock,"
	    " enabled) VALUES ('m1', 6, '', 0, 5, 1), ('m1', 7, '  ', 0, 5,"
	    " 1)");
}

/*
 * setup_screens's world with drinkd under the storage-fault shim
 * (tests/shim/fault.c): a scenario writes a fault's kind into
 * $FAULT_FILE to make the database's writes fail, and removes it to end
 * the fault.
 */
static char *fault_flag;

static void
setup_fault(void)
{
	fault_flag = h_fault_shim();
	setup_screens();
}

static void
teardown(void)
{
	if (fault_flag != NULL) {
		unlink(fault_flag);
		free(fault_flag);
		fault_flag = NULL;
	}

	h_server_free(srv);
	srv = NULL;
}

/* The web port from the ports file. */
static int
web_port(void)
{
	char buf[512];
	FILE *f = fopen(srv->ports_file, "r");
	size_t n;
	cJSON *o;
	int port;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	o = cJSON_Parse(buf);
	ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(o, "web_listen")));
	port = cJSON_GetObjectItem(o, "web_listen")->valueint;
	cJSON_Delete(o);
	return port;
}

static char *
slurp_tail(const char *path, size_t max)
{
	FILE *f = fopen(path, "r");
	char *buf = xcalloc(1, max + 1);
	long size;

	if (f == NULL) {
		return buf;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > (long)max ? size - (long)max : 0, SEEK_SET);
	buf[fread(buf, 1, max, f)] = '\0';
	fclose(f);
	return buf;
}

/* Each TCase runs one script (with its scenario, when it has several). */
static const struct browser_case {
	const char	*name;
	const char	*script;
	const char	*scenario;
	void		(*setup)(void);
} browser_cases[] = {
	{ "web app in headless chromium", "tests/browser/e2e.js", NULL, setup },
	{ "a form opens empty, whoever it is for", "tests/browser/screens.js",
	    "forms-open-empty", setup_screens },
	{ "an off Drop button says why on screen", "tests/browser/screens.js",
	    "drop-reasons", setup_screens },
	{ "every tab is on a phone's screen", "tests/browser/screens.js",
	    "tabs-on-phone", setup_screens },
	{ "the status line tells only the latest outcome",
	    "tests/browser/screens.js", "status-latest", setup_screens },
	{ "a drop made elsewhere is followed to its outcome",
	    "tests/browser/screens.js", "drop-elsewhere", setup_screens },
	{ "History shows a drop's end without a reload",
	    "tests/browser/screens.js", "history-live", setup_screens },
	{ "logged-in devices fit the screen, Revoke in reach",
	    "tests/browser/screens.js", "devices-fit", setup_screens },
	{ "long names wrap on a 320 px phone, buttons in reach",
	    "tests/browser/screens.js", "long-words-fit", setup_screens },
	{ "a double tap sends a button's request once",
	    "tests/browser/screens.js", "remove-once", setup_screens },
	{ "each Revoke is named for its device to a screen reader",
	    "tests/browser/screens.js", "revoke-names", setup_screens },
	{ "the admin's row buttons name their user or session",
	    "tests/browser/screens.js", "admin-buttons-named", setup_screens },
	{ "a new password keeps the login's kind of token",
	    "tests/browser/screens.js", "passwd-keeps-login", setup_screens },
	{ "a failed drop's row in History and the Log is laid out like "
	    "the others", "tests/browser/screens.js", "history-failed-row",
	    setup_screens },
	{ "the login card is centred", "tests/browser/screens.js",
	    "login-centred", setup_screens },
	{ "Set up's Switch off reads switched off and switches on again",
	    "tests/browser/screens.js", "setup-switch-toggles", setup_screens },
	{ "an action's outcome is in sight on a phone",
	    "tests/browser/screens.js", "status-in-sight", setup_screens },
	{ "Add a user and Add machine tell what they did, and bad names "
	    "in words", "tests/browser/screens.js", "adds-told",
	    setup_screens },
	{ "the Log with no entries for its filter says so",
	    "tests/browser/screens.js", "log-empty", setup_screens },
	{ "the Log's Since after Until is said in the form's words",
	    "tests/browser/screens.js", "log-range-reversed", setup_screens },
	{ "a refused Log filter leaves no list of another under it",
	    "tests/browser/screens.js", "log-refused-clears", setup_screens },
	{ "the Log's Older goes on with the list shown",
	    "tests/browser/screens.js", "log-older-same-list", setup_screens },
	{ "a refund names the drop it gave back",
	    "tests/browser/screens.js", "refund-names-drop", setup_screens },
	{ "a refund reads the Log again with the list's own filter",
	    "tests/browser/screens.js", "refund-keeps-list", setup_screens },
	{ "a slot's price out of range is told with its range",
	    "tests/browser/screens.js", "slot-range-told", setup_screens },
	{ "a delayed drop counts its delay down",
	    "tests/browser/screens.js", "drop-counts-down", setup_screens },
	{ "the Log's Machine filter takes a display name",
	    "tests/browser/screens.js", "log-machine-by-name", setup_screens },
	{ "an action while reconnecting is told nothing was sent",
	    "tests/browser/screens.js", "offline-action-told", setup_screens },
	{ "a refund without a reason is asked for one, nothing sent",
	    "tests/browser/screens.js", "refund-needs-reason", setup_screens },
	{ "a slot without an item is not offered to drop from",
	    "tests/browser/screens.js", "no-item-not-offered", setup_no_item },
	{ "the connection's loss stays told while the page is offline",
	    "tests/browser/screens.js", "offline-status-kept", setup_screens },
	{ "revoking this browser asks, then logs it out with a notice",
	    "tests/browser/screens.js", "revoke-this-browser",
	    setup_screens },
	{ "a login's device is labelled by browser and system",
	    "tests/browser/screens.js", "device-labels", setup_screens },
	{ "a form's error goes when its fields change",
	    "tests/browser/screens.js", "form-errors-clear", setup_screens },
	{ "a page a reload logged in asks for the password to add a card",
	    "tests/browser/screens.js", "card-add-after-reload",
	    setup_screens },
	{ "an admin's page a reload logged in asks for the password to "
	    "add a user", "tests/browser/screens.js", "user-add-after-reload",
	    setup_screens },
	{ "an admin's page a reload logged in asks for the password to "
	    "change a machine", "tests/browser/screens.js",
	    "setup-after-reload", setup_screens },
	{ "a page whose login ends from another session says why",
	    "tests/browser/screens.js", "closed-why-told", setup_screens },
	{ "a password asked for after a reload goes with a logout",
	    "tests/browser/screens.js", "own-password-gone-after-logout",
	    setup_screens },
	{ "a refusal that begins with a user's name keeps it as written",
	    "tests/browser/screens.js", "message-keeps-name", setup_screens },
	{ "a list that cannot be read says so, with Try again",
	    "tests/browser/screens.js", "reads-failed-told", setup_fault },
	{ "a member disabled while logged in is told why",
	    "tests/browser/screens.js", "disabled-told", setup_screens },
	{ "History and the Log name a drop's machine",
	    "tests/browser/screens.js", "history-machine-names",
	    setup_screens },
	{ "what is typed at once after a login is kept",
	    "tests/browser/screens.js", "type-after-login", setup_screens },
	{ "a change refused while storage fails says when to try again",
	    "tests/browser/screens.js", "unavailable-told", setup_fault },
	{ "a user's Cards… panel opens in sight on a phone",
	    "tests/browser/screens.js", "user-cards-in-sight", setup_screens },
	{ "the next user of a browser sees nothing of the last one's",
	    "tests/browser/screens.js", "next-user-clean", setup_screens },
	{ "a card's Remove refused says why in sight on a phone",
	    "tests/browser/screens.js", "card-remove-refused", setup_fault },
	{ "a login kept by no token while storage fails says so",
	    "tests/browser/screens.js", "stay-not-kept", setup_fault },
	{ "a locked login says its wait in words",
	    "tests/browser/screens.js", "locked-out-told", setup_screens },
	{ "Set up's new slot field says what goes in it",
	    "tests/browser/screens.js", "new-slot-labelled", setup_screens },
	{ "Add slot for a slot that exists says so and changes nothing",
	    "tests/browser/screens.js", "add-slot-that-exists", setup_screens },
	{ "a tap on Drop counts though the list is redrawn under it",
	    "tests/browser/screens.js", "drop-tap-during-redraw", setup_screens },
	{ "a tap on Kick counts though the list is redrawn under it",
	    "tests/browser/screens.js", "kick-tap-during-redraw", setup_screens },
	{ "Kick asks first, and not for this page's own session",
	    "tests/browser/screens.js", "kick-asks", setup_screens },
};

START_TEST(web_app_in_browser)
{
	const struct browser_case *c = &browser_cases[_i];
	const char *build = getenv("BUILD") != NULL ? getenv("BUILD") :
	    "build";
	char *url = xasprintf("https://localhost:%d/", web_port());
	char *mport = xasprintf("%d", srv->machine_port);
	char *certs = h_cert_path("");
	char *shots = xasprintf("%s/screenshots", build);
	char *logpath = xasprintf("%s/browser.log", srv->dir);
	char *out;
	int64_t deadline = now_ms() + BROWSER_SCRIPT_MS;
	int status = -1;
	pid_t pid, done = 0;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		FILE *f = freopen(logpath, "w", stdout);

		if (f == NULL || dup2(fileno(stdout), 2) == -1) {
			_exit(127);
		}
		setenv("WEB_URL", url, 1);
		setenv("MACHINE_PORT", mport, 1);
		setenv("CERTS", certs, 1);
		setenv("BUILD", build, 1);
		setenv("SHOTS", shots, 1);
		/* The shim is drinkd's alone, not the browser's nor m1's. */
		unsetenv("LD_PRELOAD");
		if (fault_flag != NULL) {
			setenv("FAULT_FILE", fault_flag, 1);
		}
		execlp("node", "node", c->script, c->scenario, (char *)NULL);
		fprintf(stderr, "cannot run node: the test needs nodejs "
		    "(make check installs it)\n");
		_exit(127);
	}
	while (now_ms() < deadline &&
	    (done = waitpid(pid, &status, WNOHANG)) == 0) {
		usleep(100 * 1000);
	}
	if (done == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	out = slurp_tail(logpath, 6000);
	printf("%s", out);
	/* Check's messages are short: the end of the log, printed whole above. */
	ck_assert_msg(done == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "%s %s %s (its log is above):\n%s",
	    c->script, c->scenario != NULL ? c->scenario : "", done == 0 ?
	    "timed out" : "failed", out + (strlen(out) > 1500 ?
	    strlen(out) - 1500 : 0));
	free(out);
	free(url);
	free(mport);
	free(certs);
	free(shots);
	free(logpath);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("browser");
	TCase *tc;
	size_t i;
	int failed;

	h_init();
	for (i = 0; i < sizeof(browser_cases) / sizeof(browser_cases[0]);
	    i++) {
		tc = h_tcase(s, browser_cases[i].name, browser_cases[i].setup,
		    teardown, BROWSER_TIMEOUT);
		tcase_add_loop_test(tc, web_app_in_browser, (int)i,
		    (int)i + 1);
	}
	failed = h_run(s);
	return h_finish(failed);
}
