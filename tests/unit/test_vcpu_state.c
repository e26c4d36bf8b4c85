/*
 * Snapshots of the vCPUs, the irqchip and PIT, and kvmclock, on the fake
 * KVM linked into this test: what one VM saves, a fresh VM restores
 * exactly and in KVM's order, and a damaged section is refused before
 * the VM is touched.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "check.h"
#include "cpu.h"
#include "fake_kvm.h"
#include "irq.h"
#include "snapshot.h"
#include "snapshot_wire.h"
#include "vcpu_state.h"
#include "vm.h"

#define SUITE			"vcpu_state"
#define NR_VCPUS		2
#define MSR_IA32_TSC_DEADLINE	0x6e0
#define MSR_KVM_SYSTEM_TIME_NEW	0x4b564d01
#define EDIT_MAX		(64 * 1024)

struct machine {
	struct vm vm;
	int vcpu[NR_VCPUS];
};

/* The KVM structs a vCPU section carries, besides the MSRs. */
struct reg {
	const char *name;
	unsigned long get;
	unsigned long set;
	size_t size;
};

#define REG(ioc, type)	\
	{ #ioc, KVM_GET_##ioc, KVM_SET_##ioc, sizeof(type) }

static const struct reg regs[] = {
	REG(MP_STATE, struct kvm_mp_state),
	REG(REGS, struct kvm_regs),
	REG(SREGS, struct kvm_sregs),
	REG(XSAVE, struct kvm_xsave),
	REG(XCRS, struct kvm_xcrs),
	REG(LAPIC, struct kvm_lapic_state),
	REG(VCPU_EVENTS, struct kvm_vcpu_events),
	REG(DEBUGREGS, struct kvm_debugregs),
};

#define NR_REGS		(sizeof(regs) / sizeof(regs[0]))
#define REG_MAX		sizeof(struct kvm_xsave)

static const unsigned long set_reqs[] = {
	KVM_SET_MP_STATE, KVM_SET_REGS, KVM_SET_SREGS, KVM_SET_XSAVE,
	KVM_SET_XCRS, KVM_SET_LAPIC, KVM_SET_MSRS, KVM_SET_VCPU_EVENTS,
	KVM_SET_DEBUGREGS, KVM_SET_FPU, KVM_SET_CPUID2, KVM_SET_IRQCHIP,
	KVM_SET_PIT2, KVM_SET_CLOCK,
};

static char dir[64];

static bool is_set(unsigned long req)
{
	unsigned int i;

	for (i = 0; i < sizeof(set_reqs) / sizeof(set_reqs[0]); i++)
		if (req == set_reqs[i])
			return true;
	return false;
}

static unsigned int nr_calls(int fd)
{
	unsigned long reqs[FAKE_KVM_LOG_MAX];

	return fake_kvm_calls(fd, reqs, FAKE_KVM_LOG_MAX);
}

/* The SET ioctls fd got since mark, a run of one kind counted once. */
static unsigned int sets_since(int fd, unsigned int mark,
			       unsigned long *out, unsigned int max)
{
	unsigned long reqs[FAKE_KVM_LOG_MAX], last = 0;
	unsigned int n, i, nr = 0;

	n = fake_kvm_calls(fd, reqs, FAKE_KVM_LOG_MAX);
	for (i = mark; i < n; i++) {
		if (!is_set(reqs[i]) || reqs[i] == last)
			continue;
		last = reqs[i];
		if (nr < max)
			out[nr] = last;
		nr++;
	}
	return nr;
}

static unsigned int nr_sets_since(int fd, unsigned int mark)
{
	unsigned long sets[FAKE_KVM_LOG_MAX];

	return sets_since(fd, mark, sets, FAKE_KVM_LOG_MAX);
}

static void tear_down(struct machine *m)
{
	unsigned int i;

	for (i = 0; i < NR_VCPUS; i++)
		if (m->vcpu[i] >= 0)
			close(m->vcpu[i]);
	vm_close(&m->vm);
}

/* Nothing open yet: what tear_down() may be given. */
static void machine_init(struct machine *m)
{
	unsigned int i;

	memset(m, 0, sizeof(*m));
	m->vm.fd = -1;
	m->vm.kvm_fd = -1;
	for (i = 0; i < NR_VCPUS; i++)
		m->vcpu[i] = -1;
}

/* A VM with its irqchip and configured vCPUs, as run() makes one. */
static bool boot(struct check *c, struct machine *m)
{
	char why[256] = "";
	unsigned int i;
	int fd;

	machine_init(m);
	if (vm_open(&m->vm, -1, NR_VCPUS, why, sizeof(why)) ||
	    irq_create(m->vm.fd, why, sizeof(why)))
		return check_fail(c, "boot: %s", why);
	for (i = 0; i < NR_VCPUS; i++) {
		fd = ioctl(m->vm.fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (!CHECK(c, fd >= 0))
			return false;
		m->vcpu[i] = fd;
		if (cpu_configure(fd, m->vm.cpuid, i, NR_VCPUS, why,
				  sizeof(why)))
			return check_fail(c, "boot: %s", why);
	}
	return true;
}

static void pattern(void *p, size_t n, unsigned int seed)
{
	uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 31 + i * 7 + 1);
}

/* One MSR through KVM_GET_MSRS or KVM_SET_MSRS; what KVM returns. */
static int msr_io(int fd, unsigned long req, uint32_t index, uint64_t *value)
{
	struct kvm_msrs *m;
	int ret;

	m = calloc(1, sizeof(*m) + sizeof(m->entries[0]));
	if (!m)
		return -1;
	m->nmsrs = 1;
	m->entries[0].index = index;
	m->entries[0].data = *value;
	ret = ioctl(fd, req, m);
	*value = m->entries[0].data;
	free(m);
	return ret;
}

static int set_msr(int fd, uint32_t index, uint64_t value)
{
	return msr_io(fd, KVM_SET_MSRS, index, &value);
}

/* The MSR's value, or ~0 if the fake would not read it. */
static uint64_t get_msr(int fd, uint32_t index)
{
	uint64_t value = 0;

	return msr_io(fd, KVM_GET_MSRS, index, &value) == 1 ? value : ~0ULL;
}

/* Every struct and MSR of vCPU id a value no other vCPU has. */
static bool fill_cpu(struct check *c, int fd, unsigned int id,
		     const struct vcpu_msr_list *msrs)
{
	static uint8_t buf[REG_MAX];
	struct kvm_xcrs *xcrs = (struct kvm_xcrs *)buf;
	unsigned int i;

	for (i = 0; i < NR_REGS; i++) {
		pattern(buf, regs[i].size, id * 16 + i);
		if (regs[i].set == KVM_SET_XCRS) {
			xcrs->nr_xcrs = 1;
			xcrs->flags = 0;
		}
		if (!CHECK_INT(c, ioctl(fd, regs[i].set, buf), 0))
			return false;
	}
	for (i = 0; i < msrs->nr; i++)
		if (!CHECK_INT(c, set_msr(fd, msrs->index[i],
					  msrs->index[i] * 0x10001ULL + id), 1))
			return false;
	return true;
}

static bool fill_vm(struct check *c, int vm_fd)
{
	struct kvm_clock_data clock = {
		.clock = 0x123456789ULL,
		.flags = KVM_CLOCK_REALTIME,
		.realtime = 42,
	};
	struct kvm_pit_state2 pit;
	struct kvm_irqchip chip;
	unsigned int i;

	for (i = 0; i < 3; i++) {
		pattern(&chip, sizeof(chip), 100 + i);
		chip.chip_id = i;
		if (!CHECK_INT(c, ioctl(vm_fd, KVM_SET_IRQCHIP, &chip), 0))
			return false;
	}
	pattern(&pit, sizeof(pit), 200);
	return CHECK_INT(c, ioctl(vm_fd, KVM_SET_PIT2, &pit), 0) &&
	       CHECK_INT(c, ioctl(vm_fd, KVM_SET_CLOCK, &clock), 0);
}

/* A source machine with distinct state everywhere, and its MSR list. */
static bool prepare(struct check *c, struct machine *m,
		    struct vcpu_msr_list **msrs)
{
	char why[256] = "";
	unsigned int i;

	*msrs = NULL;
	if (!boot(c, m))
		return false;
	if (vcpu_msr_list_get(m->vm.kvm_fd, m->vcpu[0], msrs, why,
			      sizeof(why)))
		return check_fail(c, "%s", why);
	for (i = 0; i < NR_VCPUS; i++)
		if (!fill_cpu(c, m->vcpu[i], i, *msrs))
			return false;
	return fill_vm(c, m->vm.fd);
}

/* Seal b into the state file, read it back and index it; frees b. */
static bool to_index(struct check *c, struct snap_builder *b,
		     struct snap_index *idx, uint8_t **buf)
{
	char path[128], why[256] = "";
	size_t len;
	bool ok;

	*buf = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_STATE_NAME);
	ok = CHECK_INT(c, snap_write_file(b, path), 0) &&
	     CHECK_INT(c, snap_read_file(path, buf, &len), 0) &&
	     CHECK_INT(c, snap_parse(*buf, len, idx, why, sizeof(why)), 0);
	snap_builder_free(b);
	return ok;
}

static bool save(struct check *c, struct machine *m,
		 const struct vcpu_msr_list *msrs, struct snap_index *idx,
		 uint8_t **buf)
{
	struct snap_builder b;
	char why[256] = "";
	unsigned int i;
	int err;

	snap_builder_init(&b);
	err = irq_save(m->vm.fd, &b, why, sizeof(why));
	for (i = 0; i < NR_VCPUS && !err; i++)
		err = vcpu_state_save(m->vcpu[i], msrs, i, &b, why,
				      sizeof(why));
	if (!err)
		err = vm_clock_save(&m->vm, &b, why, sizeof(why));
	if (err) {
		snap_builder_free(&b);
		return check_fail(c, "save: %s", why);
	}
	return to_index(c, &b, idx, buf);
}

/* A source machine, saved. */
static bool saved(struct check *c, struct machine *src,
		  struct snap_index *idx, uint8_t **buf)
{
	struct vcpu_msr_list *msrs;
	bool ok;

	*buf = NULL;
	ok = prepare(c, src, &msrs) && save(c, src, msrs, idx, buf);
	free(msrs);
	return ok;
}

static bool restore(struct check *c, struct machine *m,
		    const struct snap_index *idx)
{
	char why[256] = "";
	unsigned int i;
	int err;

	err = irq_restore(m->vm.fd, idx, why, sizeof(why));
	for (i = 0; i < NR_VCPUS && !err; i++)
		err = vcpu_state_restore(m->vcpu[i], i, idx, why, sizeof(why));
	if (!err)
		err = vm_clock_restore(&m->vm, idx, why, sizeof(why));
	return err ? check_fail(c, "restore: %s", why) : true;
}

static bool same_cpu(struct check *c, int a, int b,
		     const struct vcpu_msr_list *msrs)
{
	static uint8_t got[REG_MAX], want[REG_MAX];
	unsigned int i;

	for (i = 0; i < NR_REGS; i++) {
		memset(got, 0, regs[i].size);
		memset(want, 0, regs[i].size);
		if (ioctl(a, regs[i].get, want) || ioctl(b, regs[i].get, got) ||
		    memcmp(got, want, regs[i].size))
			return check_fail(c, "%s differs after the restore",
					  regs[i].name);
	}
	for (i = 0; i < msrs->nr; i++)
		if (get_msr(a, msrs->index[i]) != get_msr(b, msrs->index[i]))
			return check_fail(c, "MSR 0x%x differs after the "
					  "restore", msrs->index[i]);
	return true;
}

static bool same_vm(struct check *c, int a, int b)
{
	struct kvm_clock_data clock_got = { 0 }, clock_want = { 0 };
	struct kvm_pit_state2 pit_got = { 0 }, pit_want = { 0 };
	struct kvm_irqchip got, want;
	unsigned int i;

	for (i = 0; i < 3; i++) {
		memset(&got, 0, sizeof(got));
		memset(&want, 0, sizeof(want));
		got.chip_id = want.chip_id = i;
		ioctl(a, KVM_GET_IRQCHIP, &want);
		ioctl(b, KVM_GET_IRQCHIP, &got);
		if (!CHECK_MEM(c, &got, &want, sizeof(got)))
			return false;
	}
	ioctl(a, KVM_GET_PIT2, &pit_want);
	ioctl(b, KVM_GET_PIT2, &pit_got);
	ioctl(a, KVM_GET_CLOCK, &clock_want);
	ioctl(b, KVM_GET_CLOCK, &clock_got);
	/* The fake hands back the flags it was given: none, or time jumps. */
	return CHECK_MEM(c, &pit_got, &pit_want, sizeof(pit_got)) &&
	       CHECK_U64(c, clock_got.clock, clock_want.clock) &&
	       CHECK_U64(c, clock_got.flags, 0);
}

static void test_msr_list(struct check *c)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct vcpu_msr_list *msrs = NULL;
	struct machine m;
	char why[256] = "";
	unsigned int i;

	if (!boot(c, &m))
		goto shut_down;
	ioctl(m.vm.kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe);
	if (!CHECK_INT(c, vcpu_msr_list_get(m.vm.kvm_fd, m.vcpu[1], &msrs,
					    why, sizeof(why)), 0))
		goto shut_down;
	/* More than one KVM_GET_MSRS takes, so it went in pieces. */
	CHECK(c, probe.nmsrs >= 256);
	if (!CHECK_INT(c, msrs->nr, probe.nmsrs - 2))
		goto shut_down;
	for (i = 0; i < msrs->nr; i++)
		if (!CHECK(c, msrs->index[i] != FAKE_KVM_HIDDEN_MSR_A &&
			      msrs->index[i] != FAKE_KVM_HIDDEN_MSR_B))
			break;
	CHECK_U64(c, msrs->index[0], MSR_IA32_TSC);
	CHECK_U64(c, msrs->index[msrs->nr - 1], MSR_IA32_TSC_DEADLINE);
shut_down:
	free(msrs);
	tear_down(&m);
}

static void test_round_trip(struct check *c)
{
	static const unsigned long order[] = {
		KVM_SET_MP_STATE, KVM_SET_REGS, KVM_SET_SREGS, KVM_SET_XSAVE,
		KVM_SET_XCRS, KVM_SET_DEBUGREGS, KVM_SET_LAPIC, KVM_SET_MSRS,
		KVM_SET_VCPU_EVENTS,
	};
	unsigned long reqs[FAKE_KVM_LOG_MAX];
	struct vcpu_msr_list *msrs = NULL;
	static struct snap_index idx;
	struct machine src, dst;
	unsigned int i, n, mark[NR_VCPUS];
	uint8_t *buf = NULL;

	machine_init(&dst);
	if (!prepare(c, &src, &msrs) || !boot(c, &dst))
		goto shut_down;
	mark[0] = nr_calls(src.vcpu[0]);
	if (!save(c, &src, msrs, &idx, &buf))
		goto shut_down;
	n = fake_kvm_calls(src.vcpu[0], reqs, FAKE_KVM_LOG_MAX);
	if (!CHECK(c, n > mark[0]) ||
	    !CHECK_U64(c, reqs[mark[0]], KVM_GET_MP_STATE))
		goto shut_down;
	for (i = 0; i < NR_VCPUS; i++)
		mark[i] = nr_calls(dst.vcpu[i]);
	if (!restore(c, &dst, &idx) || !same_vm(c, src.vm.fd, dst.vm.fd))
		goto shut_down;
	for (i = 0; i < NR_VCPUS; i++) {
		if (!same_cpu(c, src.vcpu[i], dst.vcpu[i], msrs) ||
		    !CHECK_INT(c, sets_since(dst.vcpu[i], mark[i], reqs,
					     FAKE_KVM_LOG_MAX), 9) ||
		    !CHECK_MEM(c, reqs, order, sizeof(order)))
			break;
	}
shut_down:
	free(msrs);
	free(buf);
	tear_down(&src);
	tear_down(&dst);
}

/* Built once, by the first case that needs it. */
static struct snap_index good_idx;
static uint8_t *good_buf;

static const struct snap_index *good(struct check *c)
{
	struct machine src;
	bool ok;

	if (good_buf)
		return &good_idx;
	ok = saved(c, &src, &good_idx, &good_buf);
	tear_down(&src);
	if (ok)
		return &good_idx;
	free(good_buf);
	good_buf = NULL;
	return NULL;
}

static const struct snap_section *good_section(struct check *c,
						uint32_t tag,
						uint32_t instance)
{
	const struct snap_index *g = good(c);
	const struct snap_section *s = g ? snap_find(g, tag, instance) : NULL;

	return CHECK(c, s != NULL) ? s : NULL;
}

/* The good sections, with (tag, instance) replaced, or dropped if !p. */
static bool rebuild(struct check *c, uint32_t tag, uint32_t instance,
		    const void *p, size_t len, struct snap_index *idx,
		    uint8_t **buf)
{
	const struct snap_index *g = good(c);
	const struct snap_section *s;
	struct snap_builder b;
	unsigned int i;
	int err = 0;

	*buf = NULL;
	if (!g)
		return false;
	snap_builder_init(&b);
	for (i = 0; i < g->nr && !err; i++) {
		s = &g->sec[i];
		if (s->tag != tag || s->instance != instance)
			err = snap_add_section(&b, s->tag, s->instance,
					       s->payload, s->len);
		else if (p)
			err = snap_add_section(&b, tag, instance, p, len);
	}
	if (err) {
		snap_builder_free(&b);
		return check_fail(c, "rebuild: %s", strerror(-err));
	}
	return to_index(c, &b, idx, buf);
}

enum target { VCPU_1, IRQCHIP, CLOCK };

static int restore_one(struct machine *m, enum target t,
		       const struct snap_index *idx, char *why, size_t n)
{
	switch (t) {
	case VCPU_1:
		return vcpu_state_restore(m->vcpu[1], 1, idx, why, n);
	case IRQCHIP:
		return irq_restore(m->vm.fd, idx, why, n);
	case CLOCK:
		return vm_clock_restore(&m->vm, idx, why, n);
	}
	return -EINVAL;
}

/*
 * The good snapshot with one section replaced: a fresh machine refuses
 * it, says want, and has seen no SET ioctl.
 */
static void refused(struct check *c, uint32_t tag, uint32_t instance,
		    const void *p, size_t len, enum target t,
		    const char *want)
{
	static struct snap_index idx;
	struct machine dst;
	char why[256] = "";
	uint8_t *buf = NULL;
	unsigned int mark;
	int fd;

	machine_init(&dst);
	if (!rebuild(c, tag, instance, p, len, &idx, &buf) || !boot(c, &dst))
		goto shut_down;
	fd = t == VCPU_1 ? dst.vcpu[1] : dst.vm.fd;
	mark = nr_calls(fd);
	CHECK_INT(c, restore_one(&dst, t, &idx, why, sizeof(why)), -EINVAL);
	CHECK_STR(c, why, want);
	CHECK_INT(c, nr_sets_since(fd, mark), 0);
shut_down:
	tear_down(&dst);
	free(buf);
}

static void put_blob(struct snap_writer *w, uint32_t kind, const void *p,
		     uint32_t len)
{
	snap_put_u32(w, kind);
	snap_put_u32(w, len);
	snap_put_bytes(w, p, len);
}

static void put_too_many_msrs(struct snap_writer *w)
{
	uint32_t i, nr = VCPU_STATE_MAX_MSRS + 1;

	snap_put_u32(w, VCPU_BLOB_MSRS);
	snap_put_u32(w, 4 + 12 * nr);
	snap_put_u32(w, nr);
	for (i = 0; i < nr; i++) {
		snap_put_u32(w, MSR_IA32_TSC);
		snap_put_u64(w, i);
	}
}

enum edit { DROP, SHORTEN, TWICE, TOO_MANY };

/* vCPU 1's good payload with its blob of one kind edited. */
static size_t edit_blob(const struct snap_section *s, uint32_t kind,
			enum edit op, uint8_t *out)
{
	struct snap_writer w;
	struct snap_reader r;
	const uint8_t *p;
	uint32_t k, len;

	snap_reader_init(&r, s->payload, s->len);
	snap_writer_init(&w, out, EDIT_MAX);
	while (r.off < r.len) {
		k = snap_get_u32(&r);
		len = snap_get_u32(&r);
		p = r.p + r.off;
		r.off += len;
		if (k != kind || op == TWICE)
			put_blob(&w, k, p, len);
		if (k == kind && op == TWICE)
			put_blob(&w, k, p, len);
		else if (k == kind && op == SHORTEN)
			put_blob(&w, k, p, len - 1);
		else if (k == kind && op == TOO_MANY)
			put_too_many_msrs(&w);
	}
	return w.ok ? w.len : 0;
}

static void blob_refused(struct check *c, uint32_t kind, enum edit op,
			 const char *want)
{
	static uint8_t out[EDIT_MAX];
	const struct snap_section *s = good_section(c, SNAP_SEC_VCPU, 1);
	size_t len;

	if (!s)
		return;
	len = edit_blob(s, kind, op, out);
	if (CHECK(c, len > 0))
		refused(c, SNAP_SEC_VCPU, 1, out, len, VCPU_1, want);
}

static void test_missing_blob_refused(struct check *c)
{
	blob_refused(c, VCPU_BLOB_DEBUGREGS, DROP,
		     "state: vcpu 1: no DEBUGREGS");
}

static void test_short_blob_refused(struct check *c)
{
	char want[128];

	snprintf(want, sizeof(want),
		 "state: vcpu 1: SREGS is %zu bytes, not %zu",
		 sizeof(struct kvm_sregs) - 1, sizeof(struct kvm_sregs));
	blob_refused(c, VCPU_BLOB_SREGS, SHORTEN, want);
}

static void test_repeated_blob_refused(struct check *c)
{
	blob_refused(c, VCPU_BLOB_LAPIC, TWICE,
		     "state: vcpu 1: LAPIC appears twice");
}

static void test_too_many_msrs_refused(struct check *c)
{
	blob_refused(c, VCPU_BLOB_MSRS, TOO_MANY,
		     "state: vcpu 1: 1025 MSRs, more than the limit of 1024");
}

static void test_truncated_section_refused(struct check *c)
{
	const struct snap_section *s = good_section(c, SNAP_SEC_VCPU, 1);
	char want[128];

	if (!s)
		return;
	snprintf(want, sizeof(want),
		 "state: vcpu 1: DEBUGREGS: %zu bytes, past the section's end",
		 sizeof(struct kvm_debugregs));
	refused(c, SNAP_SEC_VCPU, 1, s->payload, s->len - 1, VCPU_1, want);
	refused(c, SNAP_SEC_VCPU, 1, s->payload, 6, VCPU_1,
		"state: vcpu 1: section too short");
}

/* vCPU 0's section is there, vCPU 1's is not. */
static void test_other_vcpus_section_refused(struct check *c)
{
	refused(c, SNAP_SEC_VCPU, 1, NULL, 0, VCPU_1,
		"state: vcpu 1: no section");
}

/* The PIC master's state in the PIC slave's section. */
static void test_wrong_chip_refused(struct check *c)
{
	const struct snap_section *s;

	s = good_section(c, SNAP_SEC_IRQCHIP, KVM_IRQCHIP_PIC_MASTER);
	if (s)
		refused(c, SNAP_SEC_IRQCHIP, KVM_IRQCHIP_PIC_SLAVE, s->payload,
			s->len, IRQCHIP,
			"state: PIC slave: the section holds chip 0");
}

static void test_short_pit_refused(struct check *c)
{
	const struct snap_section *s = good_section(c, SNAP_SEC_PIT, 0);
	char want[128];

	if (!s)
		return;
	snprintf(want, sizeof(want), "state: PIT: %zu bytes, not %zu",
		 sizeof(struct kvm_pit_state2) - 1,
		 sizeof(struct kvm_pit_state2));
	refused(c, SNAP_SEC_PIT, 0, s->payload, s->len - 1, IRQCHIP, want);
}

static void test_short_clock_refused(struct check *c)
{
	static const uint8_t four[4];

	refused(c, SNAP_SEC_CLOCK, 0, four, sizeof(four), CLOCK,
		"state: clock: 4 bytes, not 8");
}

static void test_save_error_names_vcpu(struct check *c)
{
	struct vcpu_msr_list msrs = { .nr = 0 };
	struct snap_builder b;
	char why[256] = "";

	snap_builder_init(&b);
	CHECK_INT(c, vcpu_state_save(-1, &msrs, 3, &b, why, sizeof(why)),
		  -EBADF);
	CHECK_STR(c, why, "vcpu 3: KVM_GET_MP_STATE: Bad file descriptor");
	CHECK_INT(c, b.nr_sections, 0);
	snap_builder_free(&b);
}

/* A guest without kvmclock has no one to tell it was paused. */
static void test_kvmclock_ctrl(struct check *c)
{
	unsigned long reqs[FAKE_KVM_LOG_MAX];
	struct machine m;
	unsigned int n;

	if (!boot(c, &m))
		goto shut_down;
	CHECK_INT(c, vcpu_state_kvmclock_ctrl(m.vcpu[0]), 0);
	CHECK_INT(c, set_msr(m.vcpu[0], MSR_KVM_SYSTEM_TIME_NEW, 0x5001), 1);
	CHECK_INT(c, vcpu_state_kvmclock_ctrl(m.vcpu[0]), 0);
	n = fake_kvm_calls(m.vcpu[0], reqs, FAKE_KVM_LOG_MAX);
	CHECK(c, n > 0 && reqs[n - 1] == KVM_KVMCLOCK_CTRL);
	CHECK_INT(c, vcpu_state_kvmclock_ctrl(-1), -EBADF);
shut_down:
	tear_down(&m);
}

int main(void)
{
	char path[128];

	snprintf(dir, sizeof(dir), "/tmp/agentbox-vcpustate.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	/* Only the fake linked into this test answers this path. */
	setenv("AGENTBOX_KVM_DEVICE", FAKE_KVM_DEVICE, 1);
	RUN(SUITE, test_msr_list);
	RUN(SUITE, test_round_trip);
	RUN(SUITE, test_missing_blob_refused);
	RUN(SUITE, test_short_blob_refused);
	RUN(SUITE, test_repeated_blob_refused);
	RUN(SUITE, test_too_many_msrs_refused);
	RUN(SUITE, test_truncated_section_refused);
	RUN(SUITE, test_other_vcpus_section_refused);
	RUN(SUITE, test_wrong_chip_refused);
	RUN(SUITE, test_short_pit_refused);
	RUN(SUITE, test_short_clock_refused);
	RUN(SUITE, test_save_error_names_vcpu);
	RUN(SUITE, test_kvmclock_ctrl);
	free(good_buf);
	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_STATE_NAME);
	unlink(path);
	rmdir(dir);
	return check_exit();
}
