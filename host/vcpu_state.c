#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "compiler.h"
#include "snapshot.h"
#include "snapshot_wire.h"
#include "vcpu_state.h"

#define MSR_IA32_TSC_DEADLINE	0x000006e0
/* KVM refuses a KVM_GET_MSRS or KVM_SET_MSRS of 256 entries or more. */
#define MSR_IO_MAX		128
#define BLOB_HEAD_LEN		8
#define MSR_COUNT_LEN		4
#define MSR_PAIR_LEN		12

struct vcpu_snap {
	struct kvm_mp_state mp_state;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	struct kvm_msrs *msrs;
	/*
	 * Last, as newer headers end it with a flexible array. Its 4096
	 * bytes hold all of the guest's XSAVE state: only features a VMM
	 * asks for with arch_prctl() (AMX) need more, and we ask for none.
	 */
	struct kvm_xsave xsave;
};

/* A blob that is a KVM struct, moved by KVM_GET_<name> and KVM_SET_<name>. */
struct blob_desc {
	const char *name;
	unsigned long get;
	unsigned long set;
	size_t off;
	size_t size;
};

#define KVM_BLOB(kind, ioc, field)					\
	[kind] = { #ioc, KVM_GET_##ioc, KVM_SET_##ioc,			\
		   offsetof(struct vcpu_snap, field),			\
		   sizeof(((struct vcpu_snap *)NULL)->field) }

/*
 * Also the order of a save. KVM_GET_MP_STATE comes first because it
 * makes KVM take in a pending INIT or SIPI, which changes the registers
 * and LAPIC that the later calls read.
 */
static const struct blob_desc blobs[VCPU_BLOB_END] = {
	KVM_BLOB(VCPU_BLOB_MP_STATE, MP_STATE, mp_state),
	KVM_BLOB(VCPU_BLOB_REGS, REGS, regs),
	KVM_BLOB(VCPU_BLOB_SREGS, SREGS, sregs),
	KVM_BLOB(VCPU_BLOB_XSAVE, XSAVE, xsave),
	KVM_BLOB(VCPU_BLOB_XCRS, XCRS, xcrs),
	KVM_BLOB(VCPU_BLOB_LAPIC, LAPIC, lapic),
	[VCPU_BLOB_MSRS] = { .name = "MSRS" },
	KVM_BLOB(VCPU_BLOB_EVENTS, VCPU_EVENTS, events),
	KVM_BLOB(VCPU_BLOB_DEBUGREGS, DEBUGREGS, debugregs),
};

/*
 * KVM_SET_REGS and KVM_SET_SREGS drop pending exceptions and
 * interrupts, which KVM_SET_VCPU_EVENTS brings back: the events go
 * last. SREGS carries the APIC base, which says where the LAPIC is and
 * whether it is in x2APIC mode: SREGS before LAPIC. KVM ignores a write
 * to the TSC-deadline MSR unless the LAPIC timer is in deadline mode:
 * LAPIC before MSRS.
 */
static const enum vcpu_state_blob restore_order[] = {
	VCPU_BLOB_MP_STATE, VCPU_BLOB_REGS, VCPU_BLOB_SREGS,
	VCPU_BLOB_XSAVE, VCPU_BLOB_XCRS, VCPU_BLOB_DEBUGREGS,
	VCPU_BLOB_LAPIC, VCPU_BLOB_MSRS, VCPU_BLOB_EVENTS,
};
#define NR_RESTORE	(sizeof(restore_order) / sizeof(restore_order[0]))

static int ioctl_fail(int err, char *why, size_t n, unsigned int id,
		      const char *op, const char *name)
{
	snprintf(why, n, "vcpu %u: KVM_%s_%s: %s", id, op, name,
		 strerror(-err));
	return err;
}

__printf(4, 5)
static int bad(char *why, size_t n, unsigned int id, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(why, n, "%s: vcpu %u: %s", SNAP_STATE_NAME, id, msg);
	return -EINVAL;
}

static int nomem(char *why, size_t n, unsigned int id)
{
	snprintf(why, n, "vcpu %u: out of memory", id);
	return -ENOMEM;
}

static struct kvm_msrs *msrs_alloc(unsigned int nr)
{
	struct kvm_msrs *m;

	m = calloc(1, sizeof(*m) + nr * sizeof(m->entries[0]));
	if (m)
		m->nmsrs = nr;
	return m;
}

/* One call on entries [from, from + nr): how many KVM did, or -errno. */
static int msr_chunk(int vcpu_fd, unsigned long req, struct kvm_msrs *m,
		     unsigned int from, unsigned int nr)
{
	struct kvm_msrs *c = msrs_alloc(nr);
	int ret;

	if (!c)
		return -ENOMEM;
	memcpy(c->entries, m->entries + from, nr * sizeof(c->entries[0]));
	ret = ioctl(vcpu_fd, req, c);
	if (ret < 0)
		ret = -errno;
	else if ((unsigned int)ret > nr)
		ret = nr;
	if (ret > 0)
		memcpy(m->entries + from, c->entries,
		       ret * sizeof(c->entries[0]));
	free(c);
	return ret;
}

/*
 * KVM_GET_MSRS or KVM_SET_MSRS on m's entries, starting at entry from.
 * KVM stops at the first MSR it refuses; returns that one's position
 * (m->nmsrs if it refused none) or -errno.
 */
static int msrs_io(int vcpu_fd, unsigned long req, struct kvm_msrs *m,
		   unsigned int from)
{
	unsigned int done = from, nr;
	int ret;

	while (done < m->nmsrs) {
		nr = m->nmsrs - done;
		if (nr > MSR_IO_MAX)
			nr = MSR_IO_MAX;
		ret = msr_chunk(vcpu_fd, req, m, done, nr);
		if (ret < 0)
			return ret;
		done += ret;
		if ((unsigned int)ret < nr)
			break;
	}
	return done;
}

/* KVM_GET_MSR_INDEX_LIST answers E2BIG with the count it needs. */
static int msr_index_list(int kvm_fd, struct kvm_msr_list **out)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *list;
	int err;

	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 &&
	    errno != E2BIG)
		return -errno;
	if (probe.nmsrs > VCPU_STATE_MAX_MSRS)
		return -E2BIG;
	list = calloc(1, sizeof(*list) +
			 probe.nmsrs * sizeof(list->indices[0]));
	if (!list)
		return -ENOMEM;
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		err = -errno;
		free(list);
		return err;
	}
	*out = list;
	return 0;
}

/* Read them all; drop each one KVM cannot read and go on after it. */
static int drop_unreadable(int vcpu_fd, struct kvm_msrs *m)
{
	unsigned int at;
	int ret = 0;

	for (;;) {
		ret = msrs_io(vcpu_fd, KVM_GET_MSRS, m, ret);
		if (ret < 0 || (unsigned int)ret == m->nmsrs)
			return ret < 0 ? ret : 0;
		at = ret;
		memmove(&m->entries[at], &m->entries[at + 1],
			(m->nmsrs - at - 1) * sizeof(m->entries[0]));
		m->nmsrs--;
	}
}

/*
 * The TSC deadline is a TSC value: set before the TSC, it would be timed
 * against the new vCPU's TSC, not the guest's. KVM lists the TSC first;
 * this keeps the order safe whatever the list says.
 */
static void deadline_last(struct vcpu_msr_list *l)
{
	unsigned int i;

	for (i = 0; i + 1 < l->nr; i++) {
		if (l->index[i] != MSR_IA32_TSC_DEADLINE)
			continue;
		memmove(&l->index[i], &l->index[i + 1],
			(l->nr - i - 1) * sizeof(l->index[0]));
		l->index[l->nr - 1] = MSR_IA32_TSC_DEADLINE;
		return;
	}
}

static int readable_list(int vcpu_fd, const struct kvm_msr_list *kl,
			 struct vcpu_msr_list **out)
{
	struct vcpu_msr_list *l;
	struct kvm_msrs *m;
	unsigned int i;
	int err;

	m = msrs_alloc(kl->nmsrs);
	if (!m)
		return -ENOMEM;
	for (i = 0; i < kl->nmsrs; i++)
		m->entries[i].index = kl->indices[i];
	err = drop_unreadable(vcpu_fd, m);
	if (err)
		goto free_msrs;
	err = -ENOMEM;
	l = malloc(sizeof(*l) + m->nmsrs * sizeof(l->index[0]));
	if (!l)
		goto free_msrs;
	l->nr = m->nmsrs;
	for (i = 0; i < l->nr; i++)
		l->index[i] = m->entries[i].index;
	deadline_last(l);
	*out = l;
	err = 0;
free_msrs:
	free(m);
	return err;
}

int vcpu_msr_list_get(int kvm_fd, int vcpu_fd, struct vcpu_msr_list **out,
		      char *why, size_t why_size)
{
	struct kvm_msr_list *kl = NULL;
	int err;

	err = msr_index_list(kvm_fd, &kl);
	if (err == -E2BIG) {
		snprintf(why, why_size,
			 "KVM_GET_MSR_INDEX_LIST: more than %d MSRs",
			 VCPU_STATE_MAX_MSRS);
		return err;
	}
	if (err) {
		snprintf(why, why_size, "KVM_GET_MSR_INDEX_LIST: %s",
			 strerror(-err));
		return err;
	}
	err = readable_list(vcpu_fd, kl, out);
	if (err)
		snprintf(why, why_size, "KVM_GET_MSRS: %s", strerror(-err));
	free(kl);
	return err;
}

static void snap_free(struct vcpu_snap *s)
{
	if (s)
		free(s->msrs);
	free(s);
}

static void *field(struct vcpu_snap *s, enum vcpu_state_blob k)
{
	return (char *)s + blobs[k].off;
}

static int get_msrs(int fd, unsigned int id, struct vcpu_snap *s,
		    const struct vcpu_msr_list *list, char *why, size_t n)
{
	unsigned int i;
	int ret;

	s->msrs = msrs_alloc(list->nr);
	if (!s->msrs)
		return nomem(why, n, id);
	for (i = 0; i < list->nr; i++)
		s->msrs->entries[i].index = list->index[i];
	ret = msrs_io(fd, KVM_GET_MSRS, s->msrs, 0);
	if (ret < 0)
		return ioctl_fail(ret, why, n, id, "GET", "MSRS");
	if ((unsigned int)ret < list->nr) {
		snprintf(why, n,
			 "vcpu %u: KVM_GET_MSRS: KVM could not read MSR 0x%x",
			 id, list->index[ret]);
		return -EIO;
	}
	return 0;
}

static int get_state(int fd, unsigned int id, struct vcpu_snap *s,
		     const struct vcpu_msr_list *list, char *why, size_t n)
{
	enum vcpu_state_blob k;
	int err;

	for (k = VCPU_BLOB_MP_STATE; k < VCPU_BLOB_END; k++) {
		if (k == VCPU_BLOB_MSRS) {
			err = get_msrs(fd, id, s, list, why, n);
			if (err)
				return err;
		} else if (ioctl(fd, blobs[k].get, field(s, k)) < 0) {
			return ioctl_fail(-errno, why, n, id, "GET",
					  blobs[k].name);
		}
	}
	return 0;
}

static size_t blob_len(const struct vcpu_snap *s, enum vcpu_state_blob k)
{
	if (k == VCPU_BLOB_MSRS)
		return MSR_COUNT_LEN + (size_t)s->msrs->nmsrs * MSR_PAIR_LEN;
	return blobs[k].size;
}

static size_t payload_len(const struct vcpu_snap *s)
{
	enum vcpu_state_blob k;
	size_t len = 0;

	for (k = VCPU_BLOB_MP_STATE; k < VCPU_BLOB_END; k++)
		len += BLOB_HEAD_LEN + blob_len(s, k);
	return len;
}

static void pack(struct snap_writer *w, struct vcpu_snap *s)
{
	enum vcpu_state_blob k;
	unsigned int i;

	for (k = VCPU_BLOB_MP_STATE; k < VCPU_BLOB_END; k++) {
		snap_put_u32(w, k);
		snap_put_u32(w, blob_len(s, k));
		if (k != VCPU_BLOB_MSRS) {
			snap_put_bytes(w, field(s, k), blobs[k].size);
			continue;
		}
		snap_put_u32(w, s->msrs->nmsrs);
		for (i = 0; i < s->msrs->nmsrs; i++) {
			snap_put_u32(w, s->msrs->entries[i].index);
			snap_put_u64(w, s->msrs->entries[i].data);
		}
	}
}

static int add_section(struct vcpu_snap *s, unsigned int id,
		       struct snap_builder *b, char *why, size_t n)
{
	size_t len = payload_len(s);
	struct snap_writer w;
	uint8_t *buf;
	int err;

	buf = malloc(len);
	if (!buf)
		return nomem(why, n, id);
	snap_writer_init(&w, buf, len);
	pack(&w, s);
	err = w.ok ? snap_add_section(b, SNAP_SEC_VCPU, id, buf, w.len) :
		     -EOVERFLOW;
	if (err)
		snprintf(why, n, "%s: vcpu %u: %s", SNAP_STATE_NAME, id,
			 strerror(-err));
	free(buf);
	return err;
}

int vcpu_state_save(int vcpu_fd, const struct vcpu_msr_list *msrs,
		    unsigned int id, struct snap_builder *b, char *why,
		    size_t why_size)
{
	struct vcpu_snap *s;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return nomem(why, why_size, id);
	err = get_state(vcpu_fd, id, s, msrs, why, why_size);
	if (!err)
		err = add_section(s, id, b, why, why_size);
	snap_free(s);
	return err;
}

static int parse_msrs(struct snap_reader *r, uint32_t len,
		      struct vcpu_snap *s, unsigned int id, char *why,
		      size_t n)
{
	uint32_t count, i;

	if (len < MSR_COUNT_LEN)
		return bad(why, n, id,
			   "MSRS is %u bytes, too short for a count", len);
	count = snap_get_u32(r);
	if (count > VCPU_STATE_MAX_MSRS)
		return bad(why, n, id, "%u MSRs, more than the limit of %d",
			   count, VCPU_STATE_MAX_MSRS);
	if (len != MSR_COUNT_LEN + count * MSR_PAIR_LEN)
		return bad(why, n, id, "MSRS is %u bytes, not %u for %u MSRs",
			   len, MSR_COUNT_LEN + count * MSR_PAIR_LEN, count);
	s->msrs = msrs_alloc(count);
	if (!s->msrs)
		return nomem(why, n, id);
	for (i = 0; i < count; i++) {
		s->msrs->entries[i].index = snap_get_u32(r);
		s->msrs->entries[i].data = snap_get_u64(r);
	}
	return 0;
}

static int parse_blob(struct snap_reader *r, struct vcpu_snap *s,
		      bool *seen, unsigned int id, char *why, size_t n)
{
	uint32_t kind = snap_get_u32(r), len = snap_get_u32(r);

	if (!r->ok)
		return bad(why, n, id, "section too short");
	if (kind < VCPU_BLOB_MP_STATE || kind >= VCPU_BLOB_END)
		return bad(why, n, id, "unknown blob kind %u", kind);
	if (seen[kind])
		return bad(why, n, id, "%s appears twice", blobs[kind].name);
	seen[kind] = true;
	if (len > r->len - r->off)
		return bad(why, n, id, "%s: %u bytes, past the section's end",
			   blobs[kind].name, len);
	if (kind == VCPU_BLOB_MSRS)
		return parse_msrs(r, len, s, id, why, n);
	if (len != blobs[kind].size)
		return bad(why, n, id, "%s is %u bytes, not %zu",
			   blobs[kind].name, len, blobs[kind].size);
	snap_get_bytes(r, field(s, kind), len);
	return 0;
}

static int parse(const struct snap_section *sec, unsigned int id,
		 struct vcpu_snap *s, char *why, size_t n)
{
	bool seen[VCPU_BLOB_END] = { false };
	enum vcpu_state_blob k;
	struct snap_reader r;
	int err;

	snap_reader_init(&r, sec->payload, sec->len);
	while (r.off < r.len) {
		err = parse_blob(&r, s, seen, id, why, n);
		if (err)
			return err;
	}
	for (k = VCPU_BLOB_MP_STATE; k < VCPU_BLOB_END; k++)
		if (!seen[k])
			return bad(why, n, id, "no %s", blobs[k].name);
	/* KVM checks it too, but only once the other state is set. */
	if (s->xcrs.nr_xcrs > KVM_MAX_XCRS)
		return bad(why, n, id, "%u XCRs, more than KVM's %d",
			   s->xcrs.nr_xcrs, KVM_MAX_XCRS);
	return 0;
}

static int set_msrs(int fd, unsigned int id, struct kvm_msrs *m, char *why,
		    size_t n)
{
	int ret = msrs_io(fd, KVM_SET_MSRS, m, 0);

	if (ret < 0)
		return ioctl_fail(ret, why, n, id, "SET", "MSRS");
	if ((unsigned int)ret < m->nmsrs) {
		snprintf(why, n, "vcpu %u: KVM_SET_MSRS: KVM refused MSR 0x%x",
			 id, m->entries[ret].index);
		return -EINVAL;
	}
	return 0;
}

static int set_state(int fd, unsigned int id, struct vcpu_snap *s,
		     char *why, size_t n)
{
	enum vcpu_state_blob k;
	unsigned int i;
	int err;

	for (i = 0; i < NR_RESTORE; i++) {
		k = restore_order[i];
		if (k == VCPU_BLOB_MSRS) {
			err = set_msrs(fd, id, s->msrs, why, n);
			if (err)
				return err;
			continue;
		}
		/*
		 * KVM_GET_XCRS answers on every host, with no XCRs where
		 * KVM_CAP_XCRS is 0 (no XSAVE); KVM_SET_XCRS fails there.
		 */
		if (k == VCPU_BLOB_XCRS && !s->xcrs.nr_xcrs)
			continue;
		if (ioctl(fd, blobs[k].set, field(s, k)) < 0)
			return ioctl_fail(-errno, why, n, id, "SET",
					  blobs[k].name);
	}
	return 0;
}

int vcpu_state_restore(int vcpu_fd, unsigned int id,
		       const struct snap_index *idx, char *why,
		       size_t why_size)
{
	const struct snap_section *sec;
	struct vcpu_snap *s;
	int err;

	sec = snap_find(idx, SNAP_SEC_VCPU, id);
	if (!sec)
		return bad(why, why_size, id, "no section");
	s = calloc(1, sizeof(*s));
	if (!s)
		return nomem(why, why_size, id);
	err = parse(sec, id, s, why, why_size);
	if (!err)
		err = set_state(vcpu_fd, id, s, why, why_size);
	snap_free(s);
	return err;
}

int vcpu_state_kvmclock_ctrl(int vcpu_fd)
{
	if (ioctl(vcpu_fd, KVM_KVMCLOCK_CTRL, 0) == 0 || errno == EINVAL)
		return 0;
	return -errno;
}
