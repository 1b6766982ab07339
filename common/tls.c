/*
 * TLS contexts for the three roles that speak the protocol, and the few
 * certificate questions the programs ask.  The member port follows Mozilla's
 * "intermediate" profile (TLS 1.2 and 1.3, forward-secret AEAD suites only,
 * in the server's order); the machine port is TLS 1.3 with a mandatory
 * client certificate.  Where a client certificate logs in (the machine
 * port, and the member port with member_ca) there is no session
 * resumption, so every connection's certificate is verified afresh.
 */
#include <errno.h>		/* program_invocation_short_name */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common.h"

#define TLS_CIPHERS_12                                                 \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"   \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"   \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"   \
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"         \
	"DHE-RSA-CHACHA20-POLY1305"
#define TLS_GROUPS "X25519:P-256:P-384"
#define TLS_SUITES_13                                                  \
	"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"         \
	"TLS_AES_256_GCM_SHA384"

const char *
tls_error_string(char *buf, size_t len, const char *fallback)
{
	unsigned long e, last = 0;

	/* The last error queued is the most specific one. */
	while ((e = ERR_get_error()) != 0) {
		last = e;
	}
	if (last == 0) {
		snprintf(buf, len, "%s", fallback);
	} else {
		ERR_error_string_n(last, buf, len);
	}
	return buf;
}

static int
tls_fail(SSL_CTX *ctx, char *err, size_t errlen, const char *what,
    const char *path)
{
	char ebuf[256];

	tls_error_string(ebuf, sizeof(ebuf), "unknown error");
	snprintf(err, errlen, "%s %s: %s", what, path ? path : "", ebuf);
	SSL_CTX_free(ctx);
	return -1;
}

/*
 * ALPN (RFC 7301) tells a client at once which port it reached: drink
 * offers "drink/1"; the member port takes it, and the web port, which
 * speaks only HTTP/1.1, ends the handshake with no_application_protocol
 * rather than wait for a request the client will never send.  A client
 * that offers nothing is served as before.  The ports share one context,
 * so the port is marked on each connection (tls_port_mark).
 */
#define TLS_ALPN_DRINK "drink/1"
#define TLS_ALPN_HTTP "http/1.1"

static char tls_mark_web, tls_mark_legacy;

void
tls_port_mark(SSL *ssl, enum tls_port port)
{
	SSL_set_app_data(ssl, port == TLS_PORT_WEB ? &tls_mark_web :
	    port == TLS_PORT_LEGACY ? &tls_mark_legacy : NULL);
}

static int
tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	const void *mark = SSL_get_app_data(ssl);
	const char *want = mark == &tls_mark_web ? TLS_ALPN_HTTP :
	    mark == NULL ? TLS_ALPN_DRINK : NULL;
	unsigned int i, n;

	(void)arg;
	for (i = 0; want != NULL && i < inlen; i += 1 + n) {
		n = in[i];
		if (i + 1 + n > inlen) {
			break;
		}
		if (n == strlen(want) && memcmp(in + i + 1, want, n) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return mark == &tls_mark_web ? SSL_TLSEXT_ERR_ALERT_FATAL :
	    SSL_TLSEXT_ERR_NOACK;
}

int
tls_ctx_offer_drink(SSL_CTX *ctx)
{
	static const unsigned char protos[] = "\x07" TLS_ALPN_DRINK;

	/* 0 is success here, unlike most of OpenSSL. */
	return SSL_CTX_set_alpn_protos(ctx, protos, sizeof(protos) - 1) == 0 ?
	    0 : -1;
}

static int
tls_load_crl(SSL_CTX *ctx, const char *crl)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	X509_LOOKUP *lu;

	if ((lu = X509_STORE_add_lookup(store, X509_LOOKUP_file())) == NULL) {
		return -1;
	}
	if (X509_load_crl_file(lu, crl, X509_FILETYPE_PEM) <= 0) {
		return -1;
	}
	X509_STORE_set_flags(store,
	    X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	return 0;
}

/* Neither session ids nor tickets: each handshake verifies the peer. */
static void
tls_no_resumption(SSL_CTX *ctx)
{
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
}

SSL_CTX *
tls_ctx_new(enum tls_role role, const char *cert, const char *key,
    const char *ca, const char *crl, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "drinkd";
	SSL_CTX *ctx;
	int server = role != TLS_CLIENT;

	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL) {
		tls_fail(NULL, err, errlen, "cannot create TLS context", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, role == TLS_MACHINE_SERVER ?
	    TLS1_3_VERSION : TLS1_2_VERSION);
	/*
	 * A peer that closes without close_notify is an ordinary EOF here:
	 * lines are framed by newlines, so truncation cannot forge a message.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	/*
	 * The chain sent is the cert file as written, not one rebuilt and
	 * re-verified from the CA store on every handshake (which also sent
	 * the CA itself).  Record buffers are freed whenever empty, so an
	 * idle connection holds none.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	    SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_NO_AUTO_CHAIN |
	    SSL_MODE_RELEASE_BUFFERS);
	/*
	 * Read what the socket holds, not one record header and then its
	 * body: a client's whole flight comes in one read(2) (a full TLS 1.3
	 * handshake takes 4 reads instead of 10).  Bytes read ahead are not
	 * in SSL_pending(): whoever polls first asks conn_tls_pending().
	 */
	SSL_CTX_set_read_ahead(ctx, 1);
	/*
	 * The server picks from its own order (AES-128 first: X25519 and
	 * P-256 give 128-bit security, and SHA-384's key schedule costs more
	 * than SHA-256's), except for a client that wants ChaCha20 most.
	 */
	if (server) {
		SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
		    SSL_OP_PRIORITIZE_CHACHA);
	}
	if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS_SUITES_13) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
		tls_fail(ctx, err, errlen, "cannot set TLS ciphers", NULL);
		return NULL;
	}
	if (cert != NULL &&
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_fail(ctx, err, errlen, "cannot load certificate", cert);
		return NULL;
	}
	if (key != NULL) {
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) !=
		    1) {
			tls_fail(ctx, err, errlen, "cannot load key", key);
			return NULL;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			tls_fail(ctx, err, errlen,
			    "key does not match certificate:", key);
			return NULL;
		}
	}
	if (ca != NULL && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		tls_fail(ctx, err, errlen, "cannot load CA", ca);
		return NULL;
	}
	if (crl != NULL && tls_load_crl(ctx, crl) != 0) {
		tls_fail(ctx, err, errlen, "cannot load CRL", crl);
		return NULL;
	}
	switch (role) {
	case TLS_MEMBER_SERVER:
		if (ca != NULL) {
			STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);

			if (names != NULL) {
				SSL_CTX_set_client_CA_list(ctx, names);
			}
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		}
		SSL_CTX_set_session_id_context(ctx, sid_ctx,
		    sizeof(sid_ctx) - 1);
		SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, NULL);
		/*
		 * A resumed session carries the first handshake's verdict on
		 * the client certificate, so a certificate that has expired
		 * or been revoked since would still log in.  Where
		 * certificates log in, every handshake verifies afresh.
		 */
		if (ca != NULL) {
			tls_no_resumption(ctx);
		}
		break;
	case TLS_MACHINE_SERVER:
		SSL_CTX_set_verify(ctx,
		    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		tls_no_resumption(ctx);
		break;
	case TLS_CLIENT:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (ca == NULL && SSL_CTX_set_default_verify_paths(ctx) != 1) {
			tls_fail(ctx, err, errlen, "cannot load system CAs",
			    NULL);
			return NULL;
		}
		break;
	}
	/*
	 * A server verifying a client certificate checks the "ssl_client"
	 * purpose, so a serverAuth-only certificate is refused by OpenSSL.
	 */
	return ctx;
}

int
tls_peer_cn(SSL *ssl, char *buf, size_t len)
{
	X509 *peer;
	X509_NAME *subject;
	int n;

	if ((peer = SSL_get0_peer_certificate(ssl)) == NULL ||
	    SSL_get_verify_result(ssl) != X509_V_OK) {
		return -1;
	}
	subject = X509_get_subject_name(peer);
	n = X509_NAME_get_text_by_NID(subject, NID_commonName, buf, (int)len);
	if (n <= 0 || (size_t)n >= len || strlen(buf) != (size_t)n) {
		return -1;
	}
	return 0;
}

int
tls_verify_issuer_unknown(SSL *ssl)
{
	switch (SSL_get_verify_result(ssl)) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_CERT_UNTRUSTED:
		return 1;
	default:
		return 0;
	}
}

int
tls_verify_name_mismatch(SSL *ssl, char *names, size_t len)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	GENERAL_NAMES *sans = NULL;
	const GENERAL_NAME *gn;
	char one[256];
	size_t used = 0;
	int i, n;

	names[0] = '\0';
	switch (SSL_get_verify_result(ssl)) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		break;
	default:
		return 0;
	}
	/* A failed check leaves the chain, not the peer certificate, set. */
	if (chain != NULL && sk_X509_num(chain) > 0) {
		sans = X509_get_ext_d2i(sk_X509_value(chain, 0),
		    NID_subject_alt_name, NULL, NULL);
	}
	for (i = 0; i < sk_GENERAL_NAME_num(sans) && used < len; i++) {
		gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type == GEN_DNS) {
			snprintf(one, sizeof(one), "%.*s",
			    ASN1_STRING_length(gn->d.dNSName),
			    (const char *)ASN1_STRING_get0_data(
			    gn->d.dNSName));
		} else if (gn->type == GEN_IPADD &&
		    (ASN1_STRING_length(gn->d.iPAddress) == 4 ||
		    ASN1_STRING_length(gn->d.iPAddress) == 16)) {
			(void)inet_ntop(ASN1_STRING_length(gn->d.iPAddress) ==
			    4 ? AF_INET : AF_INET6,
			    ASN1_STRING_get0_data(gn->d.iPAddress), one,
			    sizeof(one));
		} else {
			continue;
		}
		n = snprintf(names + used, len - used, "%s%s",
		    used > 0 ? ", " : "", one);
		used += n > 0 ? (size_t)n : 0;
	}
	GENERAL_NAMES_free(sans);
	ERR_clear_error();
	return 1;
}

int
tls_peer_client_eku(SSL *ssl)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);

	/*
	 * OpenSSL's purpose check passes a certificate with no extended key
	 * usage at all; a controller must carry clientAuth explicitly.
	 */
	return peer != NULL &&
	    (X509_get_extension_flags(peer) & EXFLAG_XKUSAGE) != 0 &&
	    (X509_get_extended_key_usage(peer) & XKU_SSL_CLIENT) != 0;
}

/* Every certificate in a PEM file; NULL when none can be read. */
static STACK_OF(X509) *
tls_read_certs(const char *path)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	X509 *x;
	BIO *in;

	if (certs == NULL || (in = BIO_new_file(path, "r")) == NULL) {
		sk_X509_free(certs);
		return NULL;
	}
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(certs, x) <= 0) {
			X509_free(x);
			break;
		}
	}
	BIO_free(in);
	ERR_clear_error();	/* the end of the file reads as an error */
	if (sk_X509_num(certs) == 0) {
		sk_X509_free(certs);
		return NULL;
	}
	return certs;
}

int
tls_same_ca(const char *a, const char *b)
{
	STACK_OF(X509) *ca = tls_read_certs(a), *cb = tls_read_certs(b);
	int i, j, same = 0;

	if (ca == NULL || cb == NULL) {
		same = -1;
		goto out;
	}
	for (i = 0; i < sk_X509_num(ca) && !same; i++) {
		for (j = 0; j < sk_X509_num(cb) && !same; j++) {
			same = X509_cmp(sk_X509_value(ca, i),
			    sk_X509_value(cb, j)) == 0;
		}
	}
out:
	sk_X509_pop_free(ca, X509_free);
	sk_X509_pop_free(cb, X509_free);
	return same;
}

int
tls_crl_expiry(const char *path, int64_t *seconds_left)
{
	const ASN1_TIME *next;
	X509_CRL *crl, *soonest = NULL;
	int day, sec, rc = -1;
	BIO *in;

	if ((in = BIO_new_file(path, "r")) == NULL) {
		ERR_clear_error();
		return -1;
	}
	/* A file of several CRLs is as good as its first to expire. */
	while ((crl = PEM_read_bio_X509_CRL(in, NULL, NULL, NULL)) != NULL) {
		if ((next = X509_CRL_get0_nextUpdate(crl)) == NULL ||
		    (soonest != NULL && ASN1_TIME_compare(next,
		    X509_CRL_get0_nextUpdate(soonest)) >= 0)) {
			X509_CRL_free(crl);
			continue;
		}
		X509_CRL_free(soonest);
		soonest = crl;
	}
	BIO_free(in);
	ERR_clear_error();
	if (soonest != NULL && ASN1_TIME_diff(&day, &sec, NULL,
	    X509_CRL_get0_nextUpdate(soonest)) == 1) {
		*seconds_left = (int64_t)day * 86400 + sec;
		rc = 0;
	}
	X509_CRL_free(soonest);
	return rc;
}

/* A file of several certificates is as good as its first to expire. */
static X509 *
tls_soonest(STACK_OF(X509) *certs)
{
	X509 *x, *soonest = NULL;
	int i;

	for (i = 0; certs != NULL && i < sk_X509_num(certs); i++) {
		x = sk_X509_value(certs, i);
		if (soonest == NULL || ASN1_TIME_compare(X509_get0_notAfter(x),
		    X509_get0_notAfter(soonest)) < 0) {
			soonest = x;
		}
	}
	return soonest;
}

/*
 * The notAfter (UTC) of the certificate in the PEM file at path that
 * expires first, and its subject into name: 0, or -1 when none is read.
 */
static int
tls_cert_soonest(const char *path, struct tm *tm, char *name,
    size_t namelen)
{
	STACK_OF(X509) *certs = tls_read_certs(path);
	X509 *soonest = tls_soonest(certs);
	int rc = -1;

	if (soonest != NULL &&
	    ASN1_TIME_to_tm(X509_get0_notAfter(soonest), tm) == 1) {
		X509_NAME_oneline(X509_get_subject_name(soonest), name,
		    (int)namelen);
		rc = 0;
	}
	sk_X509_pop_free(certs, X509_free);
	ERR_clear_error();
	return rc;
}

int
tls_cert_until(const char *path, char *until, size_t untillen, char *name,
    size_t namelen)
{
	struct tm tm;

	return tls_cert_soonest(path, &tm, name, namelen) == 0 &&
	    strftime(until, untillen, "%Y-%m-%d %H:%M UTC", &tm) > 0 ? 0 : -1;
}

int
tls_cert_expiry(const char *path, int64_t *seconds_left, char *name,
    size_t namelen)
{
	struct tm tm;

	if (tls_cert_soonest(path, &tm, name, namelen) != 0) {
		return -1;
	}
	*seconds_left = (int64_t)timegm(&tm) - (int64_t)time(NULL);
	return 0;
}

int
tls_crl_uncovered(const char *crl_path, const char *ca_path, char *name,
    size_t namelen)
{
	STACK_OF(X509) *cas = tls_read_certs(ca_path);
	STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
	X509_CRL *crl;
	X509 *ca;
	BIO *in = NULL;
	int i, j, found, n = -1;

	if (cas == NULL || crls == NULL ||
	    (in = BIO_new_file(crl_path, "r")) == NULL) {
		goto out;
	}
	while ((crl = PEM_read_bio_X509_CRL(in, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_CRL_push(crls, crl) <= 0) {
			X509_CRL_free(crl);
			break;
		}
	}
	n = 0;
	for (i = 0; i < sk_X509_num(cas); i++) {
		ca = sk_X509_value(cas, i);
		for (j = 0, found = 0; j < sk_X509_CRL_num(crls) && !found;
		    j++) {
			found = X509_NAME_cmp(X509_CRL_get_issuer(
			    sk_X509_CRL_value(crls, j)),
			    X509_get_subject_name(ca)) == 0;
		}
		if (!found && n++ == 0) {
			X509_NAME_oneline(X509_get_subject_name(ca), name,
			    (int)namelen);
		}
	}
out:
	BIO_free(in);
	ERR_clear_error();	/* the end of the file reads as an error */
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	sk_X509_pop_free(cas, X509_free);
	return n;
}

/*
 * Owner-only, or readable by the group this process runs as (Debian's
 * ssl-cert convention: root:drinkd 0640); the refusal names the program
 * (drinkd, drink-machine) whose group that is.  Never writable by the group,
 * never readable by others, never readable by some other group.
 */
int
tls_key_file_private(const char *path, char *err, size_t errlen)
{
	struct stat st;
	mode_t mode;

	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "cannot stat key %s: %m", path);
		return -1;
	}
	mode = st.st_mode & 0777;
	if ((mode & 027) != 0) {
		snprintf(err, errlen,
		    "key %s is %s (mode %03o); chmod 600 it, or 640 with "
		    "%s's group", path, (mode & 007) != 0 ?
		    "accessible by others" : "writable by its group",
		    (unsigned)mode, program_invocation_short_name);
		return -1;
	}
	if ((mode & 070) != 0 && st.st_gid != getegid()) {
		snprintf(err, errlen,
		    "key %s is readable by group %u, not %s's group %u "
		    "(mode %03o); chmod 600 it, or 640 with %s's group",
		    path, (unsigned)st.st_gid, program_invocation_short_name,
		    (unsigned)getegid(), (unsigned)mode,
		    program_invocation_short_name);
		return -1;
	}
	return 0;
}
