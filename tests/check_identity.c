/*
 * Separate identities and caps that cannot lock a club out: user and
 * machine names share one namespace (online and offline), a shared
 * member/machine CA and a CRL near its nextUpdate are warned about, a
 * member certificate needs clientAuth, a certificate login cannot ride on
 * a resumed TLS session past the certificate's expiry, and a flood of
 * raw connections from one address locks out neither a member from that
 * address nor a controller.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <sqlite3.h>

#include "fake.h"
#include "harness.h"

#define ID_TIMEOUT 120		/* seconds per test; ASan builds are slow */
#define ID_SHORT_CERT_S 4	/* lifetime of the short-lived certificate */

static char *
id_ca_conf(const char *fmt_extra)
{
	char *ca = h_cert_path("ca.crt");
	char *conf = xasprintf("member_ca = %s\nmachine_ca = %s\n%s", ca, ca,
	    fmt_extra != NULL ? fmt_extra : "");

	free(ca);
	return conf;
}

/* `drinkd -f CONF -n EXTRA`: its exit code, its output into text. */
static int
id_check_config(struct h_server *s, const char *extra, char *text,
    size_t len)
{
	char *dir = h_tmpdir(), *out = xasprintf("%s/n.out", dir);
	char *args = xasprintf("-f %s -n%s", s->conf, extra);
	size_t n = 0;
	FILE *f;
	int rc;

	rc = h_drinkd_run(args, out, 20000);
	if ((f = fopen(out, "r")) != NULL) {
		n = fread(text, 1, len - 1, f);
		fclose(f);
	}
	text[n] = '\0';
	free(args);
	free(out);
	free(dir);
	return rc;
}

/* ---- one namespace ---------------------------------------------------- */

START_TEST(id_user_and_machine_names_are_one_namespace)
{
	struct h_server *s = h_server_start(NULL);
	struct h_client *a = h_connect_as(s, "admin", "adminpw");
	cJSON *r;

	h_expect(a, NULL, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Big Drink\"}");
	r = h_call(a, "{\"cmd\":\"user_add\",\"user\":\"m1\","
	    "\"password\":\"m1m1m1\"}");
	H_ASSERT_ERROR(r, "exists");
	ck_assert_str_eq(h_str(r, "message"), "that name is taken by a machine");
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"machine_add\",\"machine\":\"admin\","
	    "\"name\":\"x\"}");
	H_ASSERT_ERROR(r, "exists");
	ck_assert_str_eq(h_str(r, "message"), "that name is taken by a user");
	cJSON_Delete(r);
	r = h_call(a, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"again\"}");
	H_ASSERT_ERROR(r, "exists");
	ck_assert_str_eq(h_str(r, "message"),
	    "that name is taken by a machine");
	cJSON_Delete(r);
	ck_assert_int_eq(h_sql_int(s, "SELECT count(*) FROM users"
	    " WHERE name = 'm1'"), 0);
	ck_assert_int_eq(h_sql_int(s, "SELECT count(*) FROM machines"
	    " WHERE name = 'admin'"), 0);
	/* Offline (the server stopped: it holds the database), drinkd useradd
	 * obeys the same rule. */
	h_close(a);
	ck_assert_int_eq(h_server_stop(s), 0);
	ck_assert_int_eq(h_server_cmd(s, "useradd m1", "m1m1m1\n"), 1);
	ck_assert_msg(h_server_log_contains(s, "useradd m1: that name is "
	    "taken by a machine"), "useradd m1 refused for another reason");
	ck_assert_int_eq(h_sql_int(s, "SELECT count(*) FROM users"
	    " WHERE name = 'm1'"), 0);
	h_server_restart(s);
	a = h_connect_as(s, "admin", "adminpw");
	/* Once the machine is gone the name is free again. */
	h_expect(a, NULL, "{\"cmd\":\"machine_del\",\"machine\":\"m1\"}");
	h_expect(a, NULL, "{\"cmd\":\"user_add\",\"user\":\"m1\","
	    "\"password\":\"m1m1m1\"}");
	h_close(a);
	h_server_free(s);
}
END_TEST

/*
 * A database from before the one namespace may hold a user and a machine
 * of the same name: the server says so at start, naming it and the way
 * out, and keeps serving both; once the machine is renamed it is quiet.
 */
START_TEST(id_old_database_with_a_clashing_name_is_reported)
{
	struct h_server *s = h_server_start(NULL);
	struct h_client *a;
	sqlite3 *h = NULL;
	static const char clash[] = "\"alice\" is both a user and a machine";

	ck_assert(h_server_log_wait(s, "ready", 10000));
	ck_assert_int_eq(h_server_log_count(s, "is both a user and a machine"),
	    0);
	ck_assert_int_eq(h_server_stop(s), 0);
	/* As an old drinkd let machine_add do. */
	ck_assert_int_eq(sqlite3_open_v2(s->db, &h, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(h, "INSERT INTO machines (name, display,"
	    " created) VALUES ('alice', 'Old', 0)", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(h);
	h_server_restart(s);
	ck_assert(h_server_log_wait(s, clash, 10000));
	ck_assert(h_server_log_contains(s, "machine_del"));
	ck_assert_int_eq(h_server_log_count(s, "is both a user and a machine"),
	    1);
	/* Both still work; the admin renames the machine. */
	a = h_connect_as(s, "alice", "alicepw");
	h_expect(a, NULL, "{\"cmd\":\"send\",\"to\":\"bob\",\"amount\":1}");
	h_close(a);
	a = h_connect_as(s, "admin", "adminpw");
	h_expect(a, NULL, "{\"cmd\":\"machine_del\",\"machine\":\"alice\"}");
	h_close(a);
	h_server_restart(s);
	ck_assert(h_server_log_wait(s, "ready", 10000));
	ck_assert_int_eq(h_server_log_count(s, "is both a user and a machine"),
	    1);
	ck_assert_int_eq(h_balance(s, "bob"), 1);
	h_server_free(s);
}
END_TEST

/* ---- warnings about certificates ------------------------------------- */

START_TEST(id_same_ca_on_both_ports_is_warned)
{
	char *dir = h_tmpdir(), *ca = h_cert_path("ca.crt");
	char *copy = xasprintf("%s/controllers.crt", dir), *conf;
	struct h_server *s;
	char text[4096];

	/* The same certificate under another file name is the same CA. */
	h_copy_file(ca, copy, 0644);
	conf = xasprintf("member_ca = %s\nmachine_ca = %s", ca, copy);
	s = h_server_start(conf);
	ck_assert(h_server_log_wait(s, "are the same CA", 10000));
	ck_assert_int_eq(id_check_config(s, "", text, sizeof(text)), 0);
	ck_assert_msg(strstr(text, "warning: member_ca") != NULL &&
	    strstr(text, "are the same CA") != NULL &&
	    strstr(text, "configuration OK") != NULL, "drinkd -n: %s", text);
	h_server_free(s);
	free(conf);

	/* Two CAs: no warning. */
	free(copy);
	copy = h_cert_path("other-ca.crt");
	conf = xasprintf("member_ca = %s\nmachine_ca = %s", ca, copy);
	s = h_server_start(conf);
	ck_assert(h_server_log_wait(s, "ready", 10000));
	ck_assert(!h_server_log_contains(s, "same CA"));
	ck_assert_int_eq(id_check_config(s, "", text, sizeof(text)), 0);
	ck_assert_msg(strstr(text, "warning") == NULL, "drinkd -n: %s", text);
	h_server_free(s);
	free(conf);
	free(copy);
	free(ca);
	free(dir);
}
END_TEST

/* The test CRLs are valid for 30 days: a 40-day horizon warns. */
START_TEST(id_crl_near_next_update_is_warned)
{
	char *crl = h_cert_path("crl-empty.pem"), *ca = h_cert_path("ca.crt");
	char *conf = xasprintf("machine_ca = %s\ncrl = %s\ncrl_warn_days = 40",
	    ca, crl);
	struct h_server *s = h_server_start(conf);
	char text[4096];

	ck_assert(h_server_log_wait(s, "nextUpdate is in 29 day(s)", 10000) ||
	    h_server_log_contains(s, "nextUpdate is in 30 day(s)"));
	/* SIGHUP reloads the CRL and says it again. */
	kill(s->pid, SIGHUP);
	ck_assert(h_server_log_wait(s, "reloaded certificates", 10000));
	ck_assert_int_ge(h_server_log_count(s, "install a fresh CRL"), 2);
	ck_assert_int_eq(id_check_config(s, "", text, sizeof(text)), 0);
	ck_assert_msg(strstr(text, "warning: crl") != NULL &&
	    strstr(text, "install a fresh CRL") != NULL, "drinkd -n: %s",
	    text);
	/* The default horizon (7 days) stays quiet about a 30-day CRL. */
	ck_assert_int_eq(id_check_config(s, " --crl_warn_days=7", text,
	    sizeof(text)), 0);
	ck_assert_msg(strstr(text, "warning") == NULL, "drinkd -n: %s", text);
	h_server_free(s);
	free(conf);
	free(ca);
	free(crl);
}
END_TEST

/* The notAfter of the PEM certificate at path, as drinkd logs it. */
static void
id_cert_until(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	X509 *x;
	struct tm tm;

	ck_assert_ptr_nonnull(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm), 1);
	ck_assert_uint_gt(strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm), 0);
	X509_free(x);
}

/*
 * The log says which certificate the server serves and until when: at
 * start, and after a reload, where "reloaded certificates" alone could
 * not tell a renewed certificate from the old one left at that path.
 */
START_TEST(id_certificate_in_use_is_logged_at_start_and_reload)
{
	char *src = h_cert_path("server.crt"), *ksrc = h_cert_path("server.key");
	char *ca = h_cert_path("ca.crt"), *cakey = h_cert_path("ca.key");
	char *dir = h_tmpdir(), *crt, *key, *conf, *cmd, *want;
	char until[64];
	struct h_server *s;

	crt = xasprintf("%s/s.crt", dir);
	key = xasprintf("%s/s.key", dir);
	h_copy_file(src, crt, 0644);
	h_copy_file(ksrc, key, 0600);
	conf = xasprintf("cert = %s\nkey = %s", crt, key);
	s = h_server_start(conf);
	ck_assert(h_server_log_wait(s, "ready", 10000));
	id_cert_until(crt, until, sizeof(until));
	want = xasprintf("info: cert %s: /CN=localhost, valid until %s", crt,
	    until);
	ck_assert_msg(h_server_log_count(s, want) == 1, "no \"%s\"", want);
	free(want);

	/* Renewed in place (three days, to differ): the reload names it. */
	cmd = xasprintf("cd %s && openssl req -new -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -keyout n.key -subj /CN=localhost "
	    "-out n.csr 2>/dev/null && openssl x509 -req -in n.csr -CA %s "
	    "-CAkey %s -days 3 -out n.crt 2>/dev/null && chmod 600 n.key && "
	    "mv n.crt s.crt && mv n.key s.key", dir, ca, cakey);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	id_cert_until(crt, until, sizeof(until));
	kill(s->pid, SIGHUP);
	ck_assert(h_server_log_wait(s, "reloaded certificates", 10000));
	want = xasprintf("info: cert %s: /CN=localhost, valid until %s", crt,
	    until);
	ck_assert_msg(h_server_log_wait(s, want, 10000), "no \"%s\"", want);
	free(want);
	h_server_free(s);
	free(conf);
	free(key);
	free(crt);
	free(dir);
	free(cakey);
	free(ca);
	free(ksrc);
	free(src);
}
END_TEST

/*
 * A server certificate past its end: every client refuses the handshake
 * and says so only on its side, so drinkd says it at start, on SIGHUP and
 * in -n.  One that ends within 14 days, and a client CA too, is warned of
 * ahead.
 */
START_TEST(id_server_cert_expiry_is_warned)
{
	char *crt = h_cert_path("expired-server.crt");
	char *key = h_cert_path("expired-server.key");
	char *ca = h_cert_path("ca.crt"), *cakey = h_cert_path("ca.key");
	char *dir = h_tmpdir(), *conf, *cmd, *extra;
	struct h_server *s;
	char text[4096];

	conf = xasprintf("cert = %s\nkey = %s", crt, key);
	s = h_server_start(conf);
	ck_assert(h_server_log_wait(s, "ready", 10000));
	ck_assert(h_server_log_contains(s, "/CN=localhost expired "));
	ck_assert(h_server_log_contains(s, "members, controllers and browsers "
	    "refuse it; renew it (drink-mkcerts(1), RENEWAL) and reload "
	    "drinkd (SIGHUP)"));
	kill(s->pid, SIGHUP);
	ck_assert(h_server_log_wait(s, "reloaded certificates", 10000));
	ck_assert_int_ge(h_server_log_count(s, "/CN=localhost expired "), 2);
	ck_assert_int_eq(id_check_config(s, "", text, sizeof(text)), 0);
	ck_assert_msg(strstr(text, "warning: cert ") != NULL &&
	    strstr(text, "/CN=localhost expired ") != NULL &&
	    strstr(text, "configuration OK") != NULL, "drinkd -n: %s", text);
	h_server_free(s);
	free(conf);

	/* Three days left: a warning ahead, for the server and a CA alike. */
	cmd = xasprintf("cd %s && openssl req -new -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -keyout s.key -subj /CN=localhost "
	    "-out s.csr 2>/dev/null && openssl x509 -req -in s.csr -CA %s "
	    "-CAkey %s -days 3 -out s.crt 2>/dev/null && chmod 600 s.key",
	    dir, ca, cakey);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	s = h_server_start(NULL);
	extra = xasprintf(" --cert=%s/s.crt --key=%s/s.key --member_ca=%s/s.crt",
	    dir, dir, dir);
	ck_assert_int_eq(id_check_config(s, extra, text, sizeof(text)), 0);
	ck_assert_msg(strstr(text, "warning: cert ") != NULL &&
	    (strstr(text, "/CN=localhost expires in 2 day(s) 23 hour(s): ") !=
	    NULL || strstr(text, "/CN=localhost expires in 3 day(s) 0 "
	    "hour(s): ") != NULL) && strstr(text, "renew it "
	    "(drink-mkcerts(1), RENEWAL) before then") != NULL &&
	    strstr(text, "warning: member_ca ") != NULL &&
	    strstr(text, "every certificate it signed will be refused") !=
	    NULL, "drinkd -n: %s", text);
	/* The test set's own certificates, with years left: nothing. */
	ck_assert_int_eq(id_check_config(s, "", text, sizeof(text)), 0);
	ck_assert_msg(strstr(text, "warning") == NULL, "drinkd -n: %s", text);
	h_server_free(s);
	free(extra);
	free(dir);
	free(cakey);
	free(ca);
	free(key);
	free(crt);
}
END_TEST

/*
 * SIGHUP reads the certificate files again, not the configuration file:
 * when the file has changed since the start, the log says which keys wait
 * for a restart; an unchanged file, nothing.
 */
START_TEST(id_reload_names_configuration_changes_it_does_not_apply)
{
	struct h_server *s = h_server_start(NULL);
	FILE *f;

	kill(s->pid, SIGHUP);
	ck_assert(h_server_log_wait(s, "reloaded certificates", 10000));
	ck_assert(!h_server_log_contains(s, "has changed since drinkd "
	    "started"));
	f = fopen(s->conf, "a");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "keep_sessions_days = 30\nlog_level = debug\n");
	fclose(f);
	kill(s->pid, SIGHUP);
	ck_assert(h_server_log_wait(s, "has changed since drinkd started "
	    "(keep_sessions_days, log_level): a reload reads only the "
	    "certificate, key, CA and CRL files again; restart drinkd for "
	    "the rest", 10000));
	ck_assert_int_eq(h_server_log_count(s, "reloaded certificates"), 2);
	/*
	 * A change the next start would refuse (a certificate path that
	 * does not exist) is said now, as -n says it, while drinkd serves.
	 */
	f = fopen(s->conf, "a");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "cert = /nonexistent/server.crt\n");
	fclose(f);
	kill(s->pid, SIGHUP);
	ck_assert(h_server_log_wait(s, "has changed since drinkd started "
	    "(cert, keep_sessions_days, log_level), and the next start would "
	    "refuse it (", 10000));
	ck_assert(h_server_log_contains(s, ": cert: cannot read "
	    "/nonexistent/server.crt: No such file or directory): mend it "
	    "before restarting drinkd"));
	h_close(h_connect_as(s, "alice", "alicepw"));
	/* A file that no longer loads is said too; the server serves on. */
	f = fopen(s->conf, "a");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "vend_timout = 3\n");
	fclose(f);
	kill(s->pid, SIGHUP);
	ck_assert(h_server_log_wait(s, "no longer loads (", 10000));
	ck_assert(h_server_log_contains(s, "unknown configuration key "
	    "\"vend_timout\""));
	h_close(h_connect_as(s, "alice", "alicepw"));
	h_server_free(s);
}
END_TEST

/* ---- member certificates --------------------------------------------- */

START_TEST(id_member_cert_needs_client_auth)
{
	char *conf = id_ca_conf(NULL);
	struct h_server *s = h_server_start(conf);
	struct h_client *c = h_connect(s, "noeku-alice");

	ck_assert_msg(!cJSON_HasObjectItem(c->greeting, "user"),
	    "a certificate without clientAuth logged in: %s",
	    h_text(c->greeting));
	h_expect(c, "auth_required", "{\"cmd\":\"whoami\"}");
	ck_assert(h_server_log_wait(s, "lacks extended key usage clientAuth",
	    10000));
	h_close(c);
	/* The same CN with clientAuth does log in. */
	c = h_connect(s, "member-alice");
	ck_assert_str_eq(h_str(c->greeting, "user"), "alice");
	h_close(c);
	h_server_free(s);
	free(conf);
}
END_TEST

/*
 * A member certificate for CN alice from the test CA, valid from an hour
 * ago until ID_SHORT_CERT_S seconds from now, loaded into ctx.
 */
static void
id_short_lived_cert(SSL_CTX *ctx)
{
	char *ca_crt = h_cert_path("ca.crt"), *ca_key = h_cert_path("ca.key");
	EVP_PKEY *key = EVP_EC_gen("P-256"), *cakey;
	X509 *ca, *x = X509_new();
	X509_NAME *name;
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	FILE *f;

	ck_assert_ptr_nonnull(key);
	f = fopen(ca_crt, "r");
	ck_assert_ptr_nonnull(f);
	ca = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	f = fopen(ca_key, "r");
	ck_assert_ptr_nonnull(f);
	cakey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert(ca != NULL && cakey != NULL);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(now_ms() & 0xffffff));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), ID_SHORT_CERT_S);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"alice", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage, "clientAuth");
	ck_assert_ptr_nonnull(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ck_assert_int_gt(X509_sign(x, cakey, EVP_sha256()), 0);
	ck_assert_int_eq(SSL_CTX_use_certificate(ctx, x), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(ctx, key), 1);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	free(ca_crt);
	free(ca_key);
}

/*
 * TLS 1.2 to the member port offering session sess (may be NULL); the
 * client, with its greeting read, or NULL when no greeting came.
 */
static struct h_client *
id_dial_resuming(struct h_server *s, SSL_CTX *ctx, SSL_SESSION *sess,
    int *reused)
{
	char port[16], err[256];
	struct h_client *c;
	int fd;

	snprintf(port, sizeof(port), "%d", s->port);
	fd = conn_dial("127.0.0.1", port, now_ms() + 10000, err, sizeof(err));
	ck_assert_msg(fd != -1, "dial: %s", err);
	c = xcalloc(1, sizeof(*c));
	c->conn = conn_new(fd, ctx, 65536);
	ck_assert_ptr_nonnull(c->conn);
	if (sess != NULL) {
		ck_assert_int_eq(SSL_set_session(conn_ssl(c->conn), sess), 1);
	}
	if (conn_connect(c->conn, "localhost", now_ms() + 10000) != CONN_OK ||
	    h_read_line(c, 10000) != CONN_OK) {
		*reused = 0;
		h_close(c);
		return NULL;
	}
	*reused = SSL_session_reused(conn_ssl(c->conn));
	c->greeting = cJSON_Parse(c->line);
	ck_assert_ptr_nonnull(c->greeting);
	return c;
}

START_TEST(id_resumed_session_does_not_outlive_the_certificate)
{
	char *conf = id_ca_conf(NULL);
	struct h_server *s = h_server_start(conf);
	SSL_CTX *ctx = h_tls_ctx(NULL);
	SSL_SESSION *sess;
	struct h_client *c;
	int64_t expiry;
	int reused;
	const cJSON *user;

	SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
	id_short_lived_cert(ctx);
	expiry = now_ms() + ID_SHORT_CERT_S * 1000;
	c = id_dial_resuming(s, ctx, NULL, &reused);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(h_str(c->greeting, "user"), "alice");
	sess = SSL_get1_session(conn_ssl(c->conn));
	ck_assert_ptr_nonnull(sess);
	h_close(c);
	while (now_ms() < expiry + 1500) {
		usleep(100 * 1000);
	}
	/* The certificate has expired: no login, resumed or not. */
	c = id_dial_resuming(s, ctx, sess, &reused);
	user = c != NULL ? cJSON_GetObjectItemCaseSensitive(c->greeting,
	    "user") : NULL;
	ck_assert_msg(user == NULL, "expired certificate logged in as %s "
	    "(session %s)", cJSON_IsString(user) ? user->valuestring : "?",
	    reused ? "resumed" : "new");
	ck_assert_int_eq(reused, 0);
	h_close(c);
	/* Nobody logged in as alice after the expiry. */
	ck_assert_int_eq(h_sql_wait(s, 1, "SELECT count(*) FROM sessions"
	    " WHERE user = 'alice'"), 1);
	SSL_SESSION_free(sess);
	SSL_CTX_free(ctx);
	h_server_free(s);
	free(conf);
}
END_TEST

/* ---- caps that cannot lock a club out ---------------------------------- */

#define ID_FLOOD 64		/* raw connections from one address */

/* Open n silent TCP connections to port; the fds. */
static int *
id_flood(int port, int n)
{
	int *fds = xcalloc((size_t)n, sizeof(*fds)), i;

	for (i = 0; i < n; i++) {
		fds[i] = h_tcp_dial(port);
		ck_assert_int_ge(fds[i], 0);
	}
	return fds;
}

static void
id_flood_end(int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		close(fds[i]);
	}
	free(fds);
}

/* alice logs in on a fresh connection (retrying while it is evicted). */
static void
id_member_gets_in(struct h_server *s, const char *when)
{
	int64_t deadline = now_ms() + 15000;
	struct h_client *c = NULL;
	char err[256];
	cJSON *r = NULL;

	while (now_ms() < deadline) {
		c = h_connect_raw(s, NULL, err, sizeof(err));
		if (c != NULL && cJSON_HasObjectItem(c->greeting, "event")) {
			h_send(c, "{\"cmd\":\"login\",\"user\":\"alice\","
			    "\"password\":\"alicepw\"}");
			if (h_read_line(c, 10000) == CONN_OK &&
			    (r = cJSON_Parse(c->line)) != NULL && h_ok(r)) {
				break;
			}
			cJSON_Delete(r);
			r = NULL;
		}
		h_close(c);
		c = NULL;
		usleep(100 * 1000);
	}
	ck_assert_msg(r != NULL, "%s: alice could not log in (%s)", when,
	    c != NULL ? c->line : err);
	cJSON_Delete(r);
	h_expect(c, NULL, "{\"cmd\":\"balance\"}");
	h_close(c);
}

/*
 * 64 raw TCP connections from one address (as from a club's NAT) used to
 * hold every place that address had, on both ports, for
 * handshake_timeout, renewable.  Now they delay a member or a controller
 * by one handshake at most, and a member logged in beforehand keeps its
 * session.
 */
START_TEST(id_raw_flood_locks_out_neither_members_nor_controllers)
{
	char *ca = h_cert_path("ca.crt");
	/* Long enough that the flood's sockets outlive every wait below. */
	char *conf = xasprintf("machine_ca = %s\nhandshake_timeout = 60", ca);
	struct h_server *s = h_server_start(conf);
	struct h_client *a = h_connect_as(s, "admin", "adminpw");
	struct h_client *bystander = h_connect_as(s, "bob", "bobpw");
	struct fake *f;
	int *fds, *mfds;

	h_expect(a, NULL, "{\"cmd\":\"machine_add\",\"machine\":\"m1\","
	    "\"name\":\"Big Drink\"}");
	fds = id_flood(s->port, ID_FLOOD);
	mfds = id_flood(s->machine_port, ID_FLOOD);
	usleep(500 * 1000);
	/* While the flood holds its sockets open: */
	id_member_gets_in(s, "during the flood");
	f = fake_start(s, "m1", FAKE_ACK, 0);
	h_expect(a, NULL, "{\"cmd\":\"ping\"}");
	h_expect(bystander, NULL, "{\"cmd\":\"balance\"}");
	ck_assert_int_eq(h_sql_wait(s, 1, "SELECT count(*) FROM sessions"
	    " WHERE kind = 'machine' AND machine = 'm1'"), 1);
	fake_stop(f);
	/* A second flood, then silence: nothing is locked afterwards. */
	id_flood_end(fds, ID_FLOOD);
	id_flood_end(mfds, ID_FLOOD);
	fds = id_flood(s->port, ID_FLOOD);
	mfds = id_flood(s->machine_port, ID_FLOOD);
	usleep(500 * 1000);
	id_member_gets_in(s, "after the flood stopped");
	f = fake_start(s, "m1", FAKE_ACK, 0);
	fake_stop(f);
	h_expect(bystander, NULL, "{\"cmd\":\"balance\"}");
	id_flood_end(fds, ID_FLOOD);
	id_flood_end(mfds, ID_FLOOD);
	h_close(bystander);
	h_close(a);
	h_server_free(s);
	free(conf);
	free(ca);
}
END_TEST

START_TEST(id_login_timeout_closes_anonymous_connections)
{
	struct h_server *s = h_server_start("login_timeout = 2\n"
	    "idle_timeout = 60");
	struct h_client *anon = h_connect(s, NULL);
	struct h_client *member = h_connect_as(s, "alice", "alicepw");
	int64_t waited;

	/* Anonymous requests do not extend the login deadline. */
	h_expect(anon, NULL, "{\"cmd\":\"machines\"}");
	waited = h_wait_closed(anon, 10000);
	ck_assert_msg(waited >= 0, "an anonymous connection outlived "
	    "login_timeout by 8 s");
	ck_assert_msg(waited <= 5000, "closed after %lld ms, want about 2000",
	    (long long)waited);
	ck_assert(h_server_log_wait(s, "no login within login_timeout",
	    5000));
	/* A logged-in session is bound by idle_timeout only. */
	usleep(1000 * 1000);
	h_expect(member, NULL, "{\"cmd\":\"balance\"}");
	h_close(member);
	h_close(anon);
	h_server_free(s);
}
END_TEST

START_TEST(id_logged_in_sessions_capped_per_address)
{
	struct h_server *s = h_server_start("max_clients_per_ip = 2\n"
	    "max_unauth_per_ip = 2");
	struct h_client *c1 = h_connect_as(s, "alice", "alicepw");
	struct h_client *c2 = h_connect_as(s, "bob", "bobpw");
	struct h_client *c3 = h_connect(s, NULL), *c4, *c5;
	cJSON *r;

	/* Two logged-in sessions fill the address's logged-in places ... */
	r = h_call(c3, "{\"cmd\":\"login\",\"user\":\"admin\","
	    "\"password\":\"adminpw\"}");
	H_ASSERT_ERROR(r, "server_busy");
	cJSON_Delete(r);
	h_expect(c3, "auth_required", "{\"cmd\":\"whoami\"}");
	/* ... but not its anonymous ones, which are counted apart. */
	c4 = h_connect(s, NULL);
	h_expect(c4, NULL, "{\"cmd\":\"ping\"}");
	/* A third anonymous one closes the oldest anonymous (c3). */
	c5 = h_connect(s, NULL);
	h_expect(c5, NULL, "{\"cmd\":\"ping\"}");
	ck_assert(h_closed(c3));
	h_expect(c4, NULL, "{\"cmd\":\"ping\"}");
	/* Logged-in sessions are never closed to make room. */
	h_expect(c1, NULL, "{\"cmd\":\"balance\"}");
	h_expect(c2, NULL, "{\"cmd\":\"balance\"}");
	/* A freed logged-in place can be taken again. */
	h_close(c2);
	usleep(300 * 1000);
	h_login(c4, "admin", "adminpw");
	h_close(c1);
	h_close(c3);
	h_close(c4);
	h_close(c5);
	h_server_free(s);
}
END_TEST

static Suite *
id_suite(void)
{
	Suite *s = suite_create("identity");
	TCase *tc;

	tc = h_tcase(s, "users and machines share one namespace", NULL, NULL,
	    ID_TIMEOUT);
	tcase_add_test(tc, id_user_and_machine_names_are_one_namespace);
	tcase_add_test(tc, id_old_database_with_a_clashing_name_is_reported);

	tc = h_tcase(s, "risky certificate set-ups are warned about", NULL,
	    NULL, ID_TIMEOUT);
	tcase_add_test(tc, id_same_ca_on_both_ports_is_warned);
	tcase_add_test(tc, id_crl_near_next_update_is_warned);
	tcase_add_test(tc, id_server_cert_expiry_is_warned);
	tcase_add_test(tc,
	    id_certificate_in_use_is_logged_at_start_and_reload);
	tcase_add_test(tc,
	    id_reload_names_configuration_changes_it_does_not_apply);

	tc = h_tcase(s, "member certificates are checked like controllers'",
	    NULL, NULL, ID_TIMEOUT);
	tcase_add_test(tc, id_member_cert_needs_client_auth);
	tcase_add_test(tc, id_resumed_session_does_not_outlive_the_certificate);

	tc = h_tcase(s, "a flood from one address locks nobody out", NULL,
	    NULL, ID_TIMEOUT);
	tcase_add_test(tc, id_raw_flood_locks_out_neither_members_nor_controllers);
	tcase_add_test(tc, id_login_timeout_closes_anonymous_connections);
	tcase_add_test(tc, id_logged_in_sessions_capped_per_address);
	return s;
}

int
main(void)
{
	int failed;

	h_init();
	failed = h_run(id_suite());
	return h_finish(failed);
}
