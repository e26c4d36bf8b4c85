/*
 * The host-side pieces of a snapshot that need no KVM: parking vCPU
 * threads, the sparse memory file, disk identities and clones, and the
 * control socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "check.h"
#include "control.h"
#include "pause.h"
#include "snapshot_disk.h"
#include "snapshot_mem.h"

#define SUITE	"snapshot_parts"
#define PAGE	4096
#define NR_THREADS	3

static char dir[64];

struct parker {
	struct pause *p;
	struct stop *stop;
	volatile bool quit;
	volatile unsigned long laps;
};

static void *parker_thread(void *arg)
{
	struct parker *k = arg;

	while (!k->quit) {
		pause_point(k->p, k->stop);
		k->laps++;
	}
	return NULL;
}

/* A paused thread makes no progress until it is released. */
static void test_pause_parks_and_releases(struct check *c)
{
	struct parker k = { 0 };
	pthread_t t[NR_THREADS];
	struct stop stop;
	struct pause p;
	unsigned long laps;
	unsigned int i;

	if (!CHECK(c, stop_init(&stop) == 0 && pause_init(&p) == 0))
		return;
	k.p = &p;
	k.stop = &stop;
	for (i = 0; i < NR_THREADS; i++)
		pthread_create(&t[i], NULL, parker_thread, &k);
	pause_request(&p);
	CHECK_INT(c, pause_wait(&p, NR_THREADS, &stop), 0);
	laps = k.laps;
	usleep(20000);
	CHECK_U64(c, k.laps, laps);
	CHECK(c, pause_is_requested(&p));
	pause_release(&p);
	while (k.laps == laps)
		usleep(1000);
	k.quit = true;
	for (i = 0; i < NR_THREADS; i++)
		pthread_join(t[i], NULL);
	pause_destroy(&p);
	stop_destroy(&stop);
}

/* Waiting for vCPUs that have ended is cut short, not endless. */
static void test_pause_wait_ends_with_the_run(struct check *c)
{
	struct stop stop;
	struct pause p;

	if (!CHECK(c, stop_init(&stop) == 0 && pause_init(&p) == 0))
		return;
	pause_request(&p);
	stop_request(&stop, STOP_POWEROFF, 0);
	CHECK_INT(c, pause_wait(&p, 2, &stop), -ECANCELED);
	pause_destroy(&p);
	stop_destroy(&stop);
}

static int make_file(const char *name, char *path, size_t n)
{
	snprintf(path, n, "%s/%s", dir, name);
	return open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

static uint64_t allocated(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : (uint64_t)st.st_blocks * 512;
}

/* Only pages holding data cost file space; the image reads back whole. */
static void check_memory_file(struct check *c, bool from_file)
{
	const uint64_t size = 64 * PAGE;
	struct vm vm = { .ram_size = size, .ram_from_file = from_file };
	char path[128], why[256];
	uint64_t stored;
	uint8_t *back;
	int fd, rfd;

	vm.ram = mmap(NULL, size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!CHECK(c, vm.ram != MAP_FAILED))
		return;
	memset((uint8_t *)vm.ram + 3 * PAGE, 0xa5, PAGE);
	memset((uint8_t *)vm.ram + 4 * PAGE + 100, 0x5a, 7);
	/* Touched but zero: still a hole. */
	memset((uint8_t *)vm.ram + 10 * PAGE, 0, PAGE);
	((uint8_t *)vm.ram)[size - 1] = 1;
	fd = make_file("memory", path, sizeof(path));
	if (!CHECK(c, fd >= 0))
		goto unmap;
	CHECK_INT(c, snap_mem_write(&vm, fd, &stored, why, sizeof(why)), 0);
	CHECK_U64(c, stored, 3 * PAGE);
	CHECK(c, allocated(fd) <= 8 * PAGE);
	close(fd);
	CHECK_INT(c, snap_mem_open(path, size, &rfd, why, sizeof(why)), 0);
	back = mmap(NULL, size, PROT_READ, MAP_PRIVATE, rfd, 0);
	if (CHECK(c, back != MAP_FAILED)) {
		CHECK_MEM(c, back, vm.ram, size);
		munmap(back, size);
	}
	close(rfd);
	CHECK_INT(c, snap_mem_open(path, size + PAGE, &rfd, why, sizeof(why)),
		  -EINVAL);
	CHECK(c, strstr(why, "truncated") != NULL);
unmap:
	munmap(vm.ram, size);
}

static void test_memory_file_anonymous(struct check *c)
{
	check_memory_file(c, false);
}

static void test_memory_file_of_a_restored_vm(struct check *c)
{
	check_memory_file(c, true);
}

/* A copy keeps its holes and its identity; a changed disk loses it. */
static void test_disk_clone_and_identity(struct check *c)
{
	struct disk_identity a, b;
	struct timespec keep[2];
	struct stat st;
	char path[128];
	int src, dst;

	src = make_file("disk", path, sizeof(path));
	dst = make_file("copy", path, sizeof(path));
	if (!CHECK(c, src >= 0 && dst >= 0))
		return;
	CHECK(c, ftruncate(src, 256 * PAGE) == 0);
	CHECK(c, pwrite(src, "data", 4, 100 * PAGE) == 4);
	CHECK(c, pwrite(src, "tail", 4, 256 * PAGE - 4) == 4);
	CHECK_INT(c, disk_clone(src, dst), 0);
	CHECK(c, allocated(dst) < 64 * PAGE);
	CHECK_INT(c, disk_identity_read(src, &a), 0);
	CHECK_INT(c, disk_identity_read(dst, &b), 0);
	CHECK_U64(c, b.size, a.size);
	CHECK_U64(c, b.sample_crc, a.sample_crc);
	/* The same bytes with the same mtime are the same disk. */
	CHECK(c, fstat(src, &st) == 0);
	keep[0] = st.st_atim;
	keep[1] = st.st_mtim;
	CHECK(c, futimens(dst, keep) == 0);
	CHECK_INT(c, disk_identity_read(dst, &b), 0);
	CHECK(c, disk_identity_equal(&a, &b));
	/* New contents at a sampled block, even with the old mtime, differ. */
	CHECK(c, pwrite(dst, "x", 1, 0) == 1);
	CHECK(c, futimens(dst, keep) == 0);
	CHECK_INT(c, disk_identity_read(dst, &b), 0);
	CHECK(c, !disk_identity_equal(&a, &b));
	close(src);
	close(dst);
}

struct server {
	struct control *ctl;
	char line[CONTROL_LINE_MAX];
	int err;
};

static void *serve_one(void *arg)
{
	struct server *s = arg;
	int client;

	do
		s->err = control_accept(s->ctl, &client, s->line,
					sizeof(s->line));
	while (s->err == -EAGAIN && !usleep(1000));
	if (!s->err) {
		control_reply(client, strcmp(s->line, "pause") ? "error: no" :
			      "ok paused");
		close(client);
	}
	return NULL;
}

static int call_once(struct control *ctl, const char *cmd, char *reply,
		     size_t n, struct server *srv)
{
	pthread_t t;
	int err;

	*srv = (struct server){ .ctl = ctl };
	pthread_create(&t, NULL, serve_one, srv);
	err = control_call(ctl->path, cmd, 5000, reply, n);
	pthread_join(t, NULL);
	return err;
}

static void test_control_round_trip(struct check *c)
{
	char sock[128], why[256], reply[CONTROL_LINE_MAX];
	struct control ctl;
	struct server srv;

	snprintf(sock, sizeof(sock), "%s/control.sock", dir);
	if (!CHECK_INT(c, control_open(&ctl, sock, why, sizeof(why)), 0))
		return;
	CHECK_INT(c, call_once(&ctl, "pause", reply, sizeof(reply), &srv), 0);
	CHECK_STR(c, srv.line, "pause");
	CHECK_STR(c, reply, "ok paused");
	CHECK_INT(c, call_once(&ctl, "bogus", reply, sizeof(reply), &srv),
		  -EREMOTEIO);
	CHECK_STR(c, reply, "error: no");
	control_close(&ctl);
	CHECK(c, access(sock, F_OK) < 0);
}

/* A client that connects and says nothing is dropped, not waited for. */
static void test_control_drops_a_silent_client(struct check *c)
{
	char sock[96], why[256], line[64];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct control ctl;
	int client, fd;

	snprintf(sock, sizeof(sock), "%s/silent.sock", dir);
	if (!CHECK_INT(c, control_open(&ctl, sock, why, sizeof(why)), 0))
		return;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (CHECK(c, connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0))
		CHECK_INT(c, control_accept(&ctl, &client, line, sizeof(line)),
			  -ETIMEDOUT);
	close(fd);
	control_close(&ctl);
}

static void test_control_path_too_long(struct check *c)
{
	char sock[300], why[256];
	struct control ctl;

	snprintf(sock, sizeof(sock), "%s/%0200d", dir, 0);
	CHECK_INT(c, control_open(&ctl, sock, why, sizeof(why)),
		  -ENAMETOOLONG);
	CHECK(c, strstr(why, "--control") != NULL);
}

static void remove_tree(const char *path)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "could not clean up %s\n", path);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/agentbox-snapparts-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(SUITE, test_pause_parks_and_releases);
	RUN(SUITE, test_pause_wait_ends_with_the_run);
	RUN(SUITE, test_memory_file_anonymous);
	RUN(SUITE, test_memory_file_of_a_restored_vm);
	RUN(SUITE, test_disk_clone_and_identity);
	RUN(SUITE, test_control_round_trip);
	RUN(SUITE, test_control_drops_a_silent_client);
	RUN(SUITE, test_control_path_too_long);
	remove_tree(dir);
	return check_exit();
}
