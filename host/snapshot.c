#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "cpu.h"
#include "irq.h"
#include "mptable.h"
#include "snapshot.h"
#include "snapshot_mem.h"
#include "snapshot_wire.h"
#include "vcpu_state.h"

#define LOCK_NAME	".lock"
/* The machine section: fixed fields, strings, and the CPUID table. */
#define MACHINE_MAX	(64 * 1024)
#define DISK_SEC_MAX	(PATH_MAX + 256)
#define CPUID_MAX_NENT	256

static int fail(int err, char *why, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(int err, char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return err;
}

static void put_str(struct snap_writer *w, const char *s)
{
	snap_put_u32(w, strlen(s));
	snap_put_bytes(w, s, strlen(s));
}

/* A string of at most cap - 1 bytes and no NUL, NUL-terminated in out. */
static void get_str(struct snap_reader *r, char *out, size_t cap)
{
	uint32_t len = snap_get_u32(r);

	if (len >= cap) {
		r->ok = false;
		out[0] = '\0';
		return;
	}
	snap_get_bytes(r, out, len);
	out[len] = '\0';
	if (strlen(out) != len)
		r->ok = false;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

static int new_generation(char gen[SNAP_GEN_LEN + 1])
{
	uint8_t raw[SNAP_GEN_LEN / 2];
	unsigned int i;

	if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
		return -EIO;
	for (i = 0; i < sizeof(raw); i++)
		snprintf(gen + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

/* One writer per directory; a second snapshot into it is refused. */
static int lock_dir(const char *dir, int *lock_fd, char *why, size_t n)
{
	char path[PATH_MAX];
	int err;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fail(-errno, why, n, "%s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/" LOCK_NAME, dir);
	*lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*lock_fd < 0)
		return fail(-errno, why, n, "%s: %s", dir, strerror(errno));
	if (flock(*lock_fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	err = -errno;
	close(*lock_fd);
	return fail(err, why, n, "%s: another snapshot is being written there",
		    dir);
}

static int create_file(const char *dir, const char *name, int *fd, char *why,
		       size_t n)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	*fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (*fd < 0)
		return fail(-errno, why, n, "%s: %s", path, strerror(errno));
	return 0;
}

/*
 * The CPU features a snapshot depends on: the CPUID vCPU 0 gets. KVM's
 * raw table will not do, since it carries the APIC id of whichever host
 * CPU answered; the vCPU's table has those replaced by its own.
 */
static struct kvm_cpuid2 *vcpu0_cpuid(const struct kvm_cpuid2 *supported,
				      unsigned int nr_vcpus)
{
	struct kvm_cpuid2 *c = cpu_cpuid_alloc(supported->nent);

	if (c && cpu_filter_cpuid(c, supported->nent, supported, 0, nr_vcpus)) {
		free(c);
		return NULL;
	}
	return c;
}

static int save_machine(const struct snapshot_machine *m, const char *gen,
			struct snap_builder *b)
{
	struct kvm_cpuid2 *c;
	struct snap_writer w;
	uint8_t *buf;
	int err;

	c = vcpu0_cpuid(m->vm->cpuid, m->nr_vcpus);
	buf = malloc(MACHINE_MAX);
	if (!c || !buf) {
		free(c);
		free(buf);
		return -ENOMEM;
	}
	snap_writer_init(&w, buf, MACHINE_MAX);
	put_str(&w, SNAP_LOADER_VERSION);
	snap_put_u64(&w, m->vm->ram_size);
	snap_put_u32(&w, m->nr_vcpus);
	snap_put_u32(&w, m->dev->nr_disks);
	snap_put_u8(&w, (m->dev->has_vsock ? SNAP_HAS_VSOCK : 0) |
		    (m->dev->has_net ? SNAP_HAS_NET : 0));
	snap_put_bytes(&w, gen, SNAP_GEN_LEN);
	snap_put_u32(&w, c->nent);
	snap_put_bytes(&w, c->entries, c->nent * sizeof(c->entries[0]));
	err = snap_add_writer(b, SNAP_SEC_MACHINE, 0, &w);
	free(buf);
	free(c);
	return err;
}

static void put_identity(struct snap_writer *w, const struct disk_identity *id)
{
	snap_put_u64(w, id->size);
	snap_put_u64(w, id->mtime_ns);
	snap_put_u32(w, id->sample_crc);
}

/* A writable disk's contents go into the snapshot as disk<i>.<gen>. */
static int copy_disk(const char *dir, const char *name, int src,
		     struct disk_identity *id, char *why, size_t n)
{
	int fd, err;

	err = create_file(dir, name, &fd, why, n);
	if (err)
		return err;
	err = disk_clone(src, fd);
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (!err)
		err = disk_identity_read(fd, id);
	close(fd);
	if (err)
		return fail(err, why, n, "%s/%s: copying the disk: %s", dir,
			    name, strerror(-err));
	return 0;
}

static int save_disk(const struct snapshot_machine *m, unsigned int i,
		     const char *dir, const char *gen, struct snap_builder *b,
		     char *why, size_t n)
{
	const struct virtio_blk *blk = &m->dev->blk[i];
	char path[PATH_MAX], copy[SNAP_NAME_MAX] = "";
	uint8_t buf[DISK_SEC_MAX];
	struct disk_identity id;
	struct snap_writer w;
	int err;

	/*
	 * Only a read-only disk is found again by its path; a writable one
	 * (a restore's clone has no name at all) is copied instead.
	 */
	if (!realpath(blk->path, path)) {
		if (blk->ro)
			return fail(-errno, why, n, "disk %s: %s", blk->path,
				    strerror(errno));
		snprintf(path, sizeof(path), "%s", blk->path);
	}
	if (blk->ro) {
		err = disk_identity_read(blk->fd, &id);
		if (err)
			return fail(err, why, n, "disk %s: %s", blk->path,
				    strerror(-err));
	} else {
		snprintf(copy, sizeof(copy), "disk%u.%s", i, gen);
		err = copy_disk(dir, copy, blk->fd, &id, why, n);
		if (err == -EINVAL)
			return fail(err, why, n,
				    "disk %s: a writable disk must be a regular file to be snapshotted",
				    blk->path);
		if (err)
			return err;
	}
	snap_writer_init(&w, buf, sizeof(buf));
	snap_put_u8(&w, blk->ro);
	put_str(&w, path);
	put_str(&w, copy);
	put_identity(&w, &id);
	return snap_add_writer(b, SNAP_SEC_DISK, i, &w);
}

static int save_memory(const struct snapshot_machine *m, const char *dir,
		       const char *gen, struct snap_builder *b,
		       struct snapshot_stats *stats, char *why, size_t n)
{
	char name[SNAP_NAME_MAX];
	uint8_t buf[SNAP_NAME_MAX + 32];
	struct snap_writer w;
	int fd, err;

	snprintf(name, sizeof(name), SNAP_MEMORY_NAME ".%s", gen);
	err = create_file(dir, name, &fd, why, n);
	if (err)
		return err;
	err = snap_mem_write(m->vm, fd, &stats->memory_stored, why, n);
	if (!err && fsync(fd) < 0)
		err = fail(-errno, why, n, "%s/%s: fsync: %s", dir, name,
			   strerror(errno));
	close(fd);
	if (err)
		return err;
	snap_writer_init(&w, buf, sizeof(buf));
	put_str(&w, name);
	snap_put_u64(&w, m->vm->ram_size);
	snap_put_u64(&w, stats->memory_stored);
	return snap_add_writer(b, SNAP_SEC_MEMORY, 0, &w);
}

static int save_vcpus(const struct snapshot_machine *m, struct snap_builder *b,
		      char *why, size_t n)
{
	unsigned int i;
	int err;

	for (i = 0; i < m->nr_vcpus; i++) {
		err = vcpu_state_save(m->vcpu[i].fd, m->msrs, i, b, why, n);
		if (err)
			return err;
	}
	return 0;
}

static int save_sections(const struct snapshot_machine *m, const char *dir,
			 const char *gen, struct snap_builder *b,
			 struct snapshot_stats *stats, char *why, size_t n)
{
	unsigned int i;
	int err;

	err = save_machine(m, gen, b);
	if (err)
		return fail(err, why, n, "state: machine: %s", strerror(-err));
	for (i = 0; i < m->dev->nr_disks; i++) {
		err = save_disk(m, i, dir, gen, b, why, n);
		if (err)
			return err;
	}
	err = irq_save(m->vm->fd, b, why, n);
	if (!err)
		err = vm_clock_save(m->vm, b, why, n);
	if (!err)
		err = save_vcpus(m, b, why, n);
	if (!err)
		err = devices_save(m->dev, b, why, n);
	if (!err)
		err = save_memory(m, dir, gen, b, stats, why, n);
	return err;
}

static bool belongs_to_snapshot(const char *name)
{
	return !strncmp(name, SNAP_MEMORY_NAME ".", strlen(SNAP_MEMORY_NAME) + 1) ||
	       (!strncmp(name, "disk", 4) && strchr(name, '.'));
}

/* Remove the memory files and disk copies of generation gen, or of all
 * the others. */
static void remove_generations(const char *dir, const char *gen, bool others)
{
	struct dirent *e;
	const char *dot;
	bool of_gen;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		dot = strrchr(e->d_name, '.');
		if (!dot || !belongs_to_snapshot(e->d_name))
			continue;
		of_gen = !strcmp(dot + 1, gen);
		if (of_gen != others)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

/*
 * Files of a generation the state file does not name are a killed
 * snapshot's. They go before another is written, or kills in a row would
 * fill the disk with them. Without a state file no generation is in use;
 * with one that does not load, which is in use is unknown, so none goes.
 */
static void remove_dead_generations(const char *dir)
{
	struct snapshot_image *img = malloc(sizeof(*img));
	char why[256];
	int err;

	if (!img)
		return;
	err = snapshot_load(img, dir, why, sizeof(why));
	if (!err || err == -ENOENT)
		remove_generations(dir, err ? "" : img->gen, true);
	snapshot_image_free(img);
	free(img);
}

int snapshot_save(const struct snapshot_machine *m, const char *dir,
		  struct snapshot_stats *stats, char *why, size_t why_size)
{
	char gen[SNAP_GEN_LEN + 1], path[PATH_MAX];
	struct snap_builder b;
	struct timespec t0;
	int lock_fd = -1, err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(stats, 0, sizeof(*stats));
	if (strlen(dir) > PATH_MAX - 2 * SNAP_NAME_MAX)
		return fail(-ENAMETOOLONG, why, why_size, "%s: path too long",
			    dir);
	err = lock_dir(dir, &lock_fd, why, why_size);
	if (err)
		return err;
	remove_dead_generations(dir);
	err = new_generation(gen);
	if (err) {
		fail(err, why, why_size, "getrandom: %s", strerror(-err));
		goto unlock;
	}
	snap_builder_init(&b);
	err = save_sections(m, dir, gen, &b, stats, why, why_size);
	snprintf(path, sizeof(path), "%s/" SNAP_STATE_NAME, dir);
	if (!err) {
		err = snap_write_file(&b, path);
		if (err)
			fail(err, why, why_size, "%s: %s", path,
			     strerror(-err));
	}
	snap_builder_free(&b);
	/* Once committed, the previous generation is garbage; if not, this one. */
	remove_generations(dir, gen, !err);
	stats->ms = ms_since(&t0);
unlock:
	close(lock_fd);
	return err;
}

/* Restore. */

static int bad_state(const struct snapshot_image *img, char *why, size_t n,
		     const char *what)
{
	return fail(-EINVAL, why, n, "%s/" SNAP_STATE_NAME ": %s", img->dir,
		    what);
}

static int load_machine(struct snapshot_image *img, char *why, size_t n)
{
	char version[SNAP_NAME_MAX];
	struct snap_reader r;
	uint8_t optional;
	uint32_t nent;
	size_t bytes;

	if (!snap_reader_find(&r, &img->idx, SNAP_SEC_MACHINE, 0))
		return bad_state(img, why, n, "no machine section");
	get_str(&r, version, sizeof(version));
	if (r.ok && strcmp(version, SNAP_LOADER_VERSION))
		return fail(-EPROTONOSUPPORT, why, n,
			    "%s/" SNAP_STATE_NAME ": written by loader version '%s', this is '%s'",
			    img->dir, version, SNAP_LOADER_VERSION);
	img->ram_size = snap_get_u64(&r);
	img->nr_vcpus = snap_get_u32(&r);
	img->nr_disks = snap_get_u32(&r);
	optional = snap_get_u8(&r);
	img->has_vsock = optional & SNAP_HAS_VSOCK;
	img->has_net = optional & SNAP_HAS_NET;
	snap_get_bytes(&r, img->gen, SNAP_GEN_LEN);
	nent = snap_get_u32(&r);
	if (!r.ok || nent > CPUID_MAX_NENT || img->nr_disks > OPT_MAX_DISKS ||
	    (optional & ~(SNAP_HAS_VSOCK | SNAP_HAS_NET)) ||
	    img->nr_vcpus == 0 || img->nr_vcpus > MPTABLE_MAX_CPUS ||
	    img->ram_size < OPT_MEM_MIN || img->ram_size > OPT_MEM_MAX)
		return bad_state(img, why, n, "machine section out of range");
	bytes = nent * sizeof(img->cpuid->entries[0]);
	img->cpuid = cpu_cpuid_alloc(nent);
	if (!img->cpuid)
		return -ENOMEM;
	img->cpuid->nent = nent;
	snap_get_bytes(&r, img->cpuid->entries, bytes);
	if (!snap_reader_done(&r))
		return bad_state(img, why, n, "machine section has the wrong length");
	return 0;
}

static void get_identity(struct snap_reader *r, struct disk_identity *id)
{
	id->size = snap_get_u64(r);
	id->mtime_ns = snap_get_u64(r);
	id->sample_crc = snap_get_u32(r);
}

static int load_disks(struct snapshot_image *img, char *why, size_t n)
{
	struct snapshot_disk *d;
	struct snap_reader r;
	unsigned int i;

	for (i = 0; i < img->nr_disks; i++) {
		d = &img->disk[i];
		if (!snap_reader_find(&r, &img->idx, SNAP_SEC_DISK, i))
			return bad_state(img, why, n, "a disk section is missing");
		d->ro = snap_get_u8(&r);
		get_str(&r, d->path, sizeof(d->path));
		get_str(&r, d->copy, sizeof(d->copy));
		get_identity(&r, &d->id);
		if (!snap_reader_done(&r) || !d->path[0] ||
		    d->ro != !d->copy[0] || strchr(d->copy, '/'))
			return bad_state(img, why, n, "a disk section is malformed");
	}
	return 0;
}

static int load_memory(struct snapshot_image *img, char *why, size_t n)
{
	struct snap_reader r;

	if (!snap_reader_find(&r, &img->idx, SNAP_SEC_MEMORY, 0))
		return bad_state(img, why, n, "no memory section");
	get_str(&r, img->memory, sizeof(img->memory));
	if (snap_get_u64(&r) != img->ram_size)
		r.ok = false;
	snap_get_u64(&r);
	if (!snap_reader_done(&r) || !img->memory[0] ||
	    strchr(img->memory, '/'))
		return bad_state(img, why, n, "the memory section is malformed");
	return 0;
}

int snapshot_load(struct snapshot_image *img, const char *dir, char *why,
		  size_t why_size)
{
	char path[PATH_MAX], reason[256];
	unsigned int i;
	int err;

	memset(img, 0, sizeof(*img));
	for (i = 0; i < OPT_MAX_DISKS; i++)
		img->clone_fd[i] = -1;
	if (snprintf(img->dir, sizeof(img->dir), "%s", dir) >=
	    (int)sizeof(img->dir) - SNAP_NAME_MAX)
		return fail(-ENAMETOOLONG, why, why_size, "%s: path too long",
			    dir);
	snprintf(path, sizeof(path), "%s/" SNAP_STATE_NAME, dir);
	err = snap_read_file(path, &img->buf, &img->len);
	if (err == -EFBIG)
		return fail(err, why, why_size, "%s: larger than %u bytes",
			    path, SNAP_MAX_FILE_LEN);
	if (err)
		return fail(err, why, why_size, "%s: %s", path,
			    strerror(-err));
	err = snap_parse(img->buf, img->len, &img->idx, reason,
			 sizeof(reason));
	if (err)
		return fail(err, why, why_size, "%s: %s", path, reason);
	err = load_machine(img, why, why_size);
	if (!err)
		err = load_disks(img, why, why_size);
	if (!err)
		err = load_memory(img, why, why_size);
	return err;
}

void snapshot_image_free(struct snapshot_image *img)
{
	unsigned int i;

	for (i = 0; i < OPT_MAX_DISKS; i++)
		if (img->clone_fd[i] >= 0)
			close(img->clone_fd[i]);
	free(img->cpuid);
	free(img->buf);
	img->cpuid = NULL;
	img->buf = NULL;
}

int snapshot_check_cpuid(const struct snapshot_image *img,
			 const struct kvm_cpuid2 *host, char *why,
			 size_t why_size)
{
	struct kvm_cpuid2 *c = vcpu0_cpuid(host, img->nr_vcpus);
	bool same;

	if (!c)
		return fail(-ENOMEM, why, why_size, "CPUID: out of memory");
	same = img->cpuid->nent == c->nent &&
	       !memcmp(img->cpuid->entries, c->entries,
		       c->nent * sizeof(c->entries[0]));
	free(c);
	if (same)
		return 0;
	return fail(-EINVAL, why, why_size,
		    "%s: taken on a CPU with other features than this host's KVM offers",
		    img->dir);
}

static int check_ro_disk(const struct snapshot_disk *d, const char *path,
			 char *why, size_t n)
{
	struct disk_identity id;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(-errno, why, n, "disk %s: %s", path,
			    strerror(errno));
	err = disk_identity_read(fd, &id);
	close(fd);
	if (err)
		return fail(err, why, n, "disk %s: %s", path, strerror(-err));
	if (!disk_identity_equal(&id, &d->id))
		return fail(-EINVAL, why, n,
			    "disk %s: not the disk the snapshot was taken with (size, modification time or contents differ)",
			    path);
	return 0;
}

/*
 * The clone is an unnamed file beside the copy (so a reflink can share
 * its blocks): it vanishes with the last descriptor, and the devices open
 * it by its /proc/self/fd name.
 */
static int clone_disk(struct snapshot_image *img, unsigned int i,
		      char *why, size_t n)
{
	struct snapshot_disk *d = &img->disk[i];
	char copy[PATH_MAX + SNAP_NAME_MAX + 1];
	struct disk_identity id;
	int src, err;

	snprintf(copy, sizeof(copy), "%s/%s", img->dir, d->copy);
	src = open(copy, O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return fail(-errno, why, n, "%s: %s", copy, strerror(errno));
	err = disk_identity_read(src, &id);
	if (!err && !disk_identity_equal(&id, &d->id))
		err = fail(-EINVAL, why, n, "%s: changed since the snapshot",
			   copy);
	else if (err)
		fail(err, why, n, "%s: %s", copy, strerror(-err));
	if (!err) {
		img->clone_fd[i] = open(img->dir, O_TMPFILE | O_RDWR | O_CLOEXEC,
					0600);
		if (img->clone_fd[i] < 0)
			err = fail(-errno, why, n, "%s: a clone of %s: %s",
				   img->dir, d->copy, strerror(errno));
	}
	if (!err) {
		err = disk_clone(src, img->clone_fd[i]);
		if (err)
			fail(err, why, n, "%s: cloning: %s", copy,
			     strerror(-err));
	}
	close(src);
	if (!err)
		snprintf(d->path, sizeof(d->path), "/proc/self/fd/%d",
			 img->clone_fd[i]);
	return err;
}

int snapshot_prepare_disks(struct snapshot_image *img, struct run_opts *o,
			   char *why, size_t why_size)
{
	unsigned int i, given = o->nr_disks;
	struct snapshot_disk *d;
	int err;

	if (given > img->nr_disks)
		return fail(-EINVAL, why, why_size,
			    "--disk %s: the snapshot has only %u disks",
			    o->disk[img->nr_disks].path, img->nr_disks);
	for (i = 0; i < img->nr_disks; i++) {
		d = &img->disk[i];
		if (i < given && !d->ro)
			return fail(-EINVAL, why, why_size,
				    "--disk %s: disk %u of the snapshot is writable; each restore gets a clone of its copy in %s",
				    o->disk[i].path, i, img->dir);
		if (i < given && !o->disk[i].ro)
			return fail(-EINVAL, why, why_size,
				    "--disk %s: disk %u of the snapshot is read-only; add ,ro",
				    o->disk[i].path, i);
		err = d->ro ? check_ro_disk(d, i < given ? o->disk[i].path :
					    d->path, why, why_size) :
		      clone_disk(img, i, why, why_size);
		if (err)
			return err;
		if (i >= given)
			o->disk[i] = (struct disk_opt){ .path = d->path,
							.ro = d->ro };
	}
	o->nr_disks = img->nr_disks;
	return 0;
}

static int restore_vcpus(const struct snapshot_image *img,
			 const struct snapshot_machine *m, char *why, size_t n)
{
	unsigned int i;
	int err;

	for (i = 0; i < m->nr_vcpus; i++) {
		err = vcpu_state_restore(m->vcpu[i].fd, i, &img->idx, why, n);
		if (err)
			return err;
	}
	return 0;
}

int snapshot_restore_state(const struct snapshot_image *img,
			   const struct snapshot_machine *m, char *why,
			   size_t why_size)
{
	int err;

	err = irq_restore(m->vm->fd, &img->idx, why, why_size);
	if (!err)
		err = devices_restore(m->dev, &img->idx, why, why_size);
	if (!err)
		err = restore_vcpus(img, m, why, why_size);
	if (!err)
		err = vm_clock_restore(m->vm, &img->idx, why, why_size);
	return err;
}
