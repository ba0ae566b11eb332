/*
 * Client certificates (TLS_REQUEST_PEER_AUTH, TLS_CERTIFICATE_CHAIN on a client): an SSA server
 * against openssl s_client with and without a certificate, and an SSA client against
 * openssl s_server -Verify.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ssa/in_tls.h>

#include "tutil.h"

/* A listener on 127.0.0.1 that asks for client certificates (mode 1 required, 2 optional). */
static int auth_listener(int mode, int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || t_set_leaf(fd, "localhost") < 0 ||
	    t_set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, t_pki("ca.pem")) < 0 ||
	    setsockopt(fd, IPPROTO_TLS, TLS_REQUEST_PEER_AUTH, &mode, sizeof(mode)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

struct served {
	int lfd;
	char identity[512];
	int accepted;
};

/* Accepts one connection (bounded wait), records the client's identity, answers "hi". */
static void *serve_one(void *arg)
{
	struct served *sv = arg;
	socklen_t len = sizeof(sv->identity);
	int c;

	if (t_wait_readable(sv->lfd, 8000) != 1 || (c = accept(sv->lfd, NULL, NULL)) < 0)
		return NULL;
	sv->accepted = 1;
	if (getsockopt(c, IPPROTO_TLS, TLS_PEER_IDENTITY, sv->identity, &len) < 0)
		snprintf(sv->identity, sizeof(sv->identity), "(none: %s)", t_errname(errno));
	if (write(c, "hi\n", 3) != 3)
		sv->accepted = 2;
	close(c);
	return NULL;
}

static int run_s_client(int port, int with_cert, char *out, size_t size)
{
	char addr[32];
	const char *plain[] = {"openssl", "s_client",      "-connect", addr,
			       "-CAfile", t_pki("ca.pem"), "-quiet",   NULL};
	const char *cert[] = {"openssl",
			      "s_client",
			      "-connect",
			      addr,
			      "-CAfile",
			      t_pki("ca.pem"),
			      "-quiet",
			      "-cert",
			      t_pki("client.pem"),
			      "-key",
			      t_pki("client.key"),
			      "-cert_chain",
			      t_pki("int.pem"),
			      NULL};

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	return t_run_cmd(with_cert ? cert : plain, 10000, out, size);
}

static void check_server(int mode, int with_cert, int expect_accept, const char *identity)
{
	struct served sv = {0};
	pthread_t t;
	char out[4096];
	int port = 0;

	sv.lfd = auth_listener(mode, &port);
	T_REQUIRE(sv.lfd >= 0, "listener: %s", strerror(errno));
	T_REQUIRE(pthread_create(&t, NULL, serve_one, &sv) == 0, "thread");
	run_s_client(port, with_cert, out, sizeof(out));
	if (!expect_accept) {
		/* the failed handshake must not reach accept(): nothing to accept within 1 s */
		T_CHECK(t_wait_readable(sv.lfd, 1000) == 0, "the listener became readable");
		shutdown(sv.lfd, SHUT_RDWR);
	}
	pthread_join(t, NULL);
	T_CHECK(sv.accepted == expect_accept, "accepted %d, expected %d (s_client: %.300s)",
		sv.accepted, expect_accept, out);
	if (expect_accept) {
		T_CHECK(strstr(out, "hi") != NULL, "s_client got: %.300s", out);
		T_CHECK(strcmp(sv.identity, identity) == 0, "identity \"%s\", expected \"%s\"",
			sv.identity, identity);
	} else {
		T_CHECK(strstr(out, "certificate required") != NULL, "s_client: %.300s", out);
	}
	close(sv.lfd);
}

static void required_with_certificate(void)
{
	check_server(1, 1, 1, "/CN=SSA Test Client");
}

static void required_without_certificate(void)
{
	check_server(1, 0, 0, NULL);
}

static void optional_without_certificate(void)
{
	check_server(2, 0, 1, "(none: ENOTCONN)");
}

static void bad_values(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS), v = 7;

	T_REQUIRE(fd >= 0, "socket");
	T_CHECK(setsockopt(fd, IPPROTO_TLS, TLS_REQUEST_PEER_AUTH, &v, sizeof(v)) < 0 &&
		    t_errno_is(EINVAL, errno),
		"value 7");
	T_CHECK(t_set_str(fd, TLS_REQUEST_PEER_AUTH, "sometimes") < 0 && t_errno_is(EINVAL, errno),
		"\"sometimes\"");
	T_CHECK(t_set_str(fd, TLS_REQUEST_PEER_AUTH, "optional") == 0, "\"optional\": %s",
		strerror(errno));
	close(fd);
}

/* The SSA as a client presenting its certificate to openssl s_server -Verify. */
static void client_presents_certificate(void)
{
	int port, fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
	pid_t srv = t_openssl_server(&port, "localhost", "-Verify", "2", "-CAfile", t_pki("ca.pem"),
				     "-rev", NULL);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	char buf[64] = "";
	ssize_t n;

	T_REQUIRE(srv > 0 && fd >= 0, "no server or socket");
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	T_REQUIRE(t_set_str(fd, TLS_REMOTE_HOSTNAME, "localhost") == 0 &&
		      t_set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, t_pki("ca.pem")) == 0 &&
		      t_set_leaf(fd, "client") == 0,
		  "options: %s", strerror(errno));
	T_REQUIRE(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "connect: %s",
		  strerror(errno));
	T_CHECK(write(fd, "abc\n", 4) == 4, "write");
	n = read(fd, buf, sizeof(buf) - 1);
	T_CHECK(n >= 3 && strncmp(buf, "cba", 3) == 0, "reply \"%.*s\"", n > 0 ? (int)n : 0, buf);
	T_CHECK(t_peer_wait_log(srv, "SSA Test Client", 3000) == 1,
		"s_server did not see the client certificate (log %s)", t_peer_log(srv));
	close(fd);
	t_stop_peer(srv);
}

/* An accepted socket asks for a certificate after the handshake (TLS 1.3). */
struct pha_client {
	int port, with_cert;
	char reply[64];
};

static void *pha_client_main(void *arg)
{
	struct pha_client *pc = arg;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)pc->port)};
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TLS);
	ssize_t n;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || t_set_str(fd, TLS_REMOTE_HOSTNAME, "localhost") < 0 ||
	    t_set_str(fd, TLS_TRUSTED_PEER_CERTIFICATES, t_pki("ca.pem")) < 0)
		return NULL;
	if (pc->with_cert && t_set_leaf(fd, "client") < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && t_wait_readable(fd, 8000) == 1 &&
	    (n = read(fd, pc->reply, sizeof(pc->reply) - 1)) > 0)
		pc->reply[n] = '\0';
	close(fd);
	return NULL;
}

static void post_handshake(int with_cert)
{
	struct pha_client pc = {.with_cert = with_cert};
	char identity[256] = "";
	socklen_t len = sizeof(identity);
	int lfd = auth_listener(0, &pc.port), c, one = 1, rc;
	pthread_t t;

	T_REQUIRE(lfd >= 0, "listener: %s", strerror(errno));
	T_REQUIRE(pthread_create(&t, NULL, pha_client_main, &pc) == 0, "thread");
	c = t_wait_readable(lfd, 8000) == 1 ? accept(lfd, NULL, NULL) : -1;
	T_REQUIRE(c >= 0, "accept: %s", strerror(errno));
	T_CHECK(getsockopt(c, IPPROTO_TLS, TLS_PEER_IDENTITY, identity, &len) < 0 &&
		    t_errno_is(ENOTCONN, errno),
		"no client certificate before the request");
	rc = setsockopt(c, IPPROTO_TLS, TLS_REQUEST_PEER_AUTH, &one, sizeof(one));
	if (with_cert) {
		T_CHECK(rc == 0, "request: %s", strerror(errno));
		len = sizeof(identity);
		T_CHECK(getsockopt(c, IPPROTO_TLS, TLS_PEER_IDENTITY, identity, &len) == 0 &&
			    strcmp(identity, "/CN=SSA Test Client") == 0,
			"identity \"%s\" (%s)", identity, strerror(errno));
		T_CHECK(write(c, "hi\n", 3) == 3, "write");
	} else {
		T_CHECK(rc < 0 && t_errno_is(EPROTO, errno), "a client without a certificate");
	}
	close(c);
	pthread_join(t, NULL);
	if (with_cert)
		T_CHECK(strcmp(pc.reply, "hi\n") == 0, "client read \"%s\"", pc.reply);
	close(lfd);
}

static void pha_with_certificate(void)
{
	post_handshake(1);
}

static void pha_without_certificate(void)
{
	post_handshake(0);
}

int main(void)
{
	t_use_policy_text("policy.conf", "default = { handshake-timeout = 10.0; };\n");
	t_run("required: a client with a certificate is accepted, identity readable",
	      required_with_certificate);
	t_run("required: a client without one never reaches accept()",
	      required_without_certificate);
	t_run("optional: a client without one is accepted, identity ENOTCONN",
	      optional_without_certificate);
	t_run("TLS_REQUEST_PEER_AUTH values: 0-2, \"required\", \"optional\"; else EINVAL",
	      bad_values);
	t_run("SSA client presents TLS_CERTIFICATE_CHAIN to s_server -Verify",
	      client_presents_certificate);
	t_run("after the handshake: an accepted socket requests one, identity then readable",
	      pha_with_certificate);
	t_run("after the handshake: required, and the client has none: EPROTO",
	      pha_without_certificate);
	return t_done();
}
