/* Framing of the control protocol (ssa_proto.h): whole messages with their descriptors. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ssa_internal.h"
#include "ssa_proto_io.h"

static void advance(struct iovec **iov, int *iovcnt, size_t n)
{
	while (*iovcnt > 0 && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*iovcnt)--;
	}
	if (*iovcnt > 0) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

int ssa_proto_send(int sock, struct iovec *iov, int iovcnt, const int *fds, int nfds)
{
	char control[CMSG_SPACE(sizeof(int) * SSA_PROTO_MAX_FDS)] = {0};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};

	if (nfds > SSA_PROTO_MAX_FDS)
		return errno = EINVAL, -1;
	if (nfds > 0) {
		struct cmsghdr *cm;

		msg.msg_control = control;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	while (msg.msg_iovlen > 0) {
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		msg.msg_control = NULL; /* the descriptors went with the first bytes */
		msg.msg_controllen = 0;
		advance(&msg.msg_iov, (int *)&msg.msg_iovlen, (size_t)n);
	}
	return 0;
}

static void close_all(const int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		sys_close(fds[i]);
}

/* Until sock is readable or the deadline (ssa_now_ms() time, 0 = none) passes: ETIMEDOUT. */
static int wait_readable(int sock, int64_t deadline_ms)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};
	int64_t left;
	int n;

	if (deadline_ms == 0)
		return 0;
	do {
		left = deadline_ms - ssa_now_ms();
		n = left > 0 ? poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left) : 0;
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		errno = ETIMEDOUT;
	return n > 0 ? 0 : -1;
}

/*
 * Reads exactly len bytes; the descriptors that came with them go to fds (at most max).
 * Returns 0, or -1 with errno: ENOTCONN when the peer closed between messages, ECONNRESET
 * when it closed within one or sent more descriptors than fit (all are closed then).
 */
int ssa_proto_recv(int sock, void *buf, size_t len, int *fds, int max, int *nfds, int flags)
{
	return ssa_proto_recv_by(sock, buf, len, fds, max, nfds, flags, 0);
}

int ssa_proto_recv_by(int sock, void *buf, size_t len, int *fds, int max, int *nfds, int flags,
		      int64_t deadline_ms)
{
	char control[CMSG_SPACE(sizeof(int) * SSA_PROTO_MAX_FDS)];
	size_t got = 0;

	*nfds = 0;
	while (got < len) {
		struct iovec iov = {.iov_base = (char *)buf + got, .iov_len = len - got};
		struct msghdr msg = {.msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = control,
				     .msg_controllen = sizeof(control)};
		ssize_t n;

		if (wait_readable(sock, deadline_ms) < 0)
			goto fail;
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = got == 0 ? ENOTCONN
					 : ECONNRESET; /* closed between messages, or within */
		if (n <= 0)
			goto fail;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (int i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (*nfds < max)
					fds[(*nfds)++] = fd;
				else
					sys_close(fd);
			}
		}
		if (msg.msg_flags & MSG_CTRUNC)
			goto fail;
		got += (size_t)n;
	}
	return 0;
fail:
	close_all(fds, *nfds);
	*nfds = 0;
	if (got == len)
		errno =
		    ECONNRESET; /* too many descriptors: a peer that does not follow the protocol */
	return -1;
}
