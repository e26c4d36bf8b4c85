/*
 * Both ends of the nested vsock check (tests/l1/vsock-check.sh), one
 * static binary so the L1 and the L2 need nothing else:
 *
 *   vsock-peer guest PORT HOSTPORT   in the L2: echo every connection to
 *                                    vsock PORT; meanwhile connect to CID 2
 *                                    HOSTPORT until it answers, send "ping"
 *                                    and print what comes back
 *   vsock-peer client SOCK PORT BYTES  in the L1: "CONNECT PORT" through
 *                                    the loader's SOCK (retrying while the
 *                                    guest refuses), stream BYTES of a
 *                                    pseudo-random pattern and check the
 *                                    echo byte for byte
 *   vsock-peer refused SOCK PORT     in the L1: "CONNECT PORT" to a port
 *                                    nobody listens on must be closed
 *                                    without an OK
 *   vsock-peer abort SOCK PORT BYTES   in the L1: connect, send BYTES, and
 *                                    hang up without reading the echo
 *   vsock-peer listen PATH           in the L1: accept one connection on
 *                                    the unix socket PATH, answer "pong"
 *                                    to what it reads, print what it read
 *
 * Exits 0 on success; prints one line saying what went wrong otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

/*
 * linux/vm_sockets.h, which musl's toolchain lacks: the address layout is
 * kernel ABI.
 */
#ifndef AF_VSOCK
#define AF_VSOCK	40
#endif
#define VMADDR_CID_ANY	-1U

struct sockaddr_vm {
	sa_family_t svm_family;
	unsigned short svm_reserved1;
	unsigned int svm_port;
	unsigned int svm_cid;
	unsigned char svm_zero[sizeof(struct sockaddr) - sizeof(sa_family_t) -
			       sizeof(unsigned short) - 2 * sizeof(unsigned int)];
};

#define CHUNK		65536
#define RETRIES		600

static uint8_t pattern(uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ULL;

	return x >> 56 ^ i;
}

static int die(const char *what)
{
	printf("vsock-peer: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static void echo(int fd)
{
	char buf[CHUNK];
	ssize_t n, off, w;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (off = 0; off < n; off += w)
			if ((w = write(fd, buf + off, n - off)) <= 0)
				return;
}

static void serve(unsigned int port)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
				  .svm_cid = VMADDR_CID_ANY,
				  .svm_port = port };
	int lfd, fd;

	lfd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 8))
		die("vsock listen");
	printf("vsock-peer: echo server on port %u\n", port);
	fflush(stdout);
	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		echo(fd);
		close(fd);
	}
}

static int to_host(unsigned int port)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = 2,
				  .svm_port = port };
	char buf[64];
	ssize_t n;
	int fd, i;

	for (i = 0; i < RETRIES; i++) {
		fd = socket(AF_VSOCK, SOCK_STREAM, 0);
		if (fd < 0)
			die("vsock socket");
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		close(fd);
		fd = -1;
		sleep(1);
	}
	if (fd < 0)
		die("connect to CID 2");
	if (write(fd, "ping", 4) != 4)
		die("write to host");
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		die("read from host");
	buf[n] = '\0';
	printf("vsock-peer: host answered '%s'\n", buf);
	fflush(stdout);
	close(fd);
	return 0;
}

static int guest(unsigned int port, unsigned int host_port)
{
	pid_t pid = fork();

	if (pid == 0)
		serve(port);
	to_host(host_port);
	/* The echo server lives until the VM is stopped. */
	waitpid(pid, NULL, 0);
	return 0;
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* "CONNECT port": the socket once the guest said OK, or -1. */
static int handshake(const char *sock, unsigned int port)
{
	char line[64], ch;
	size_t len = 0;
	int fd;

	fd = unix_connect(sock);
	if (fd < 0)
		return -1;
	len = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (write(fd, line, len) != (ssize_t)len)
		goto close_fd;
	len = 0;
	while (len < sizeof(line) - 1 && read(fd, &ch, 1) == 1 && ch != '\n')
		line[len++] = ch;
	line[len] = '\0';
	if (strncmp(line, "OK ", 3))
		goto close_fd;
	return fd;

close_fd:
	close(fd);
	return -1;
}

/* Send total bytes and read the echo at once, checking every byte. */
static int stream(int fd, uint64_t total)
{
	static uint8_t out[CHUNK], in[CHUNK];
	uint64_t sent = 0, got = 0, i;
	struct pollfd p = { .fd = fd };
	ssize_t n;
	size_t len;

	while (got < total) {
		p.events = POLLIN | (sent < total ? POLLOUT : 0);
		if (poll(&p, 1, -1) < 0)
			die("poll");
		if (p.revents & POLLOUT) {
			len = total - sent < CHUNK ? total - sent : CHUNK;
			for (i = 0; i < len; i++)
				out[i] = pattern(sent + i);
			n = send(fd, out, len, MSG_DONTWAIT);
			if (n > 0)
				sent += n;
			if (sent == total)
				shutdown(fd, SHUT_WR);
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv(fd, in, sizeof(in), MSG_DONTWAIT);
		if (n == 0) {
			printf("vsock-peer: echo ended after %llu of %llu bytes\n",
			       (unsigned long long)got,
			       (unsigned long long)total);
			return 1;
		}
		for (i = 0; n > 0 && i < (uint64_t)n; i++)
			if (in[i] != pattern(got + i)) {
				printf("vsock-peer: byte %llu differs\n",
				       (unsigned long long)(got + i));
				return 1;
			}
		if (n > 0)
			got += n;
	}
	printf("vsock-peer: %llu bytes echoed intact\n",
	       (unsigned long long)got);
	return 0;
}

static int client(const char *sock, unsigned int port, uint64_t total)
{
	int fd = -1, i;

	for (i = 0; i < RETRIES && fd < 0; i++) {
		fd = handshake(sock, port);
		if (fd < 0)
			sleep(1);
	}
	if (fd < 0) {
		printf("vsock-peer: no OK from the guest on port %u\n", port);
		return 1;
	}
	return stream(fd, total);
}

static int refused(const char *sock, unsigned int port)
{
	int fd = handshake(sock, port);

	if (fd >= 0) {
		printf("vsock-peer: port %u answered OK\n", port);
		return 1;
	}
	printf("vsock-peer: port %u refused\n", port);
	return 0;
}

static int hang_up(const char *sock, unsigned int port, uint64_t total)
{
	static uint8_t out[CHUNK];
	uint64_t sent = 0;
	ssize_t n;
	int fd;

	fd = handshake(sock, port);
	if (fd < 0) {
		printf("vsock-peer: no OK from the guest on port %u\n", port);
		return 1;
	}
	while (sent < total) {
		n = write(fd, out, total - sent < CHUNK ? total - sent : CHUNK);
		if (n <= 0)
			break;
		sent += n;
	}
	close(fd);
	printf("vsock-peer: hung up after %llu bytes\n",
	       (unsigned long long)sent);
	return 0;
}

static int listen_once(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[64];
	ssize_t n;
	int lfd, fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 1))
		die(path);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		die("accept");
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		die("read");
	buf[n] = '\0';
	if (write(fd, "pong", 4) != 4)
		die("write");
	printf("vsock-peer: the guest sent '%s'\n", buf);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "guest"))
		return guest(atoi(argv[2]), atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "client"))
		return client(argv[2], atoi(argv[3]),
			      strtoull(argv[4], NULL, 10));
	if (argc == 4 && !strcmp(argv[1], "refused"))
		return refused(argv[2], atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "abort"))
		return hang_up(argv[2], atoi(argv[3]),
			       strtoull(argv[4], NULL, 10));
	if (argc == 3 && !strcmp(argv[1], "listen"))
		return listen_once(argv[2]);
	fprintf(stderr, "usage: vsock-peer guest PORT HOSTPORT | client SOCK PORT BYTES |\n"
			"       refused SOCK PORT | abort SOCK PORT BYTES | listen PATH\n");
	return 2;
}
