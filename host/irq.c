#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "compiler.h"
#include "irq.h"
#include "log.h"
#include "snapshot.h"

#define NR_CHIPS	3

struct irq_snap {
	struct kvm_irqchip chip[NR_CHIPS];
	struct kvm_pit_state2 pit;
};

static const char *const chip_names[NR_CHIPS] = {
	[KVM_IRQCHIP_PIC_MASTER] = "PIC master",
	[KVM_IRQCHIP_PIC_SLAVE] = "PIC slave",
	[KVM_IRQCHIP_IOAPIC] = "IOAPIC",
};

__printf(4, 5)
static int fail(int err, char *why, size_t n, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(why, n, "%s: %s", msg, strerror(-err));
	return err;
}

int irq_create(int vm_fd, char *why, size_t why_size)
{
	struct kvm_pit_config pit;

	if (ioctl(vm_fd, KVM_CREATE_IRQCHIP) < 0)
		return fail(-errno, why, why_size, "KVM_CREATE_IRQCHIP");
	/*
	 * The speaker stub answers port 0x61, which Linux polls while it
	 * calibrates the TSC against the PIT; without it every poll would
	 * exit to us.
	 */
	memset(&pit, 0, sizeof(pit));
	pit.flags = KVM_PIT_SPEAKER_DUMMY;
	if (ioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return fail(-errno, why, why_size, "KVM_CREATE_PIT2");
	return 0;
}

static int kvm_set(void *ctx, unsigned int gsi, bool level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level };
	int *vm_fd = ctx;
	int err;

	if (ioctl(*vm_fd, KVM_IRQ_LINE, &irq) < 0) {
		err = -errno;
		pr_warn("KVM_IRQ_LINE %u=%d: %s", gsi, level, strerror(-err));
		return err;
	}
	return 0;
}

void irq_line_kvm(struct irq_line *l, int *vm_fd, unsigned int gsi)
{
	l->set = kvm_set;
	l->ctx = vm_fd;
	l->gsi = gsi;
}

__printf(3, 4)
static int bad(char *why, size_t n, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(why, n, "%s: %s", SNAP_STATE_NAME, msg);
	return -EINVAL;
}

static int save_chip(int vm_fd, unsigned int i, struct snap_builder *b,
		     char *why, size_t n)
{
	struct kvm_irqchip chip;
	int err;

	memset(&chip, 0, sizeof(chip));
	chip.chip_id = i;
	if (ioctl(vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
		return fail(-errno, why, n, "KVM_GET_IRQCHIP (%s)",
			    chip_names[i]);
	err = snap_add_section(b, SNAP_SEC_IRQCHIP, i, &chip, sizeof(chip));
	return err ? fail(err, why, n, "state: %s", chip_names[i]) : 0;
}

int irq_save(int vm_fd, struct snap_builder *b, char *why, size_t why_size)
{
	struct kvm_pit_state2 pit;
	unsigned int i;
	int err;

	for (i = 0; i < NR_CHIPS; i++) {
		err = save_chip(vm_fd, i, b, why, why_size);
		if (err)
			return err;
	}
	memset(&pit, 0, sizeof(pit));
	if (ioctl(vm_fd, KVM_GET_PIT2, &pit) < 0)
		return fail(-errno, why, why_size, "KVM_GET_PIT2");
	err = snap_add_section(b, SNAP_SEC_PIT, 0, &pit, sizeof(pit));
	return err ? fail(err, why, why_size, "state: PIT") : 0;
}

static int parse_chip(const struct snap_index *idx, unsigned int i,
		      struct kvm_irqchip *chip, char *why, size_t n)
{
	const struct snap_section *s = snap_find(idx, SNAP_SEC_IRQCHIP, i);

	if (!s)
		return bad(why, n, "no %s section", chip_names[i]);
	if (s->len != sizeof(*chip))
		return bad(why, n, "%s: %zu bytes, not %zu", chip_names[i],
			   s->len, sizeof(*chip));
	memcpy(chip, s->payload, sizeof(*chip));
	if (chip->chip_id != i)
		return bad(why, n, "%s: the section holds chip %u",
			   chip_names[i], chip->chip_id);
	return 0;
}

static int parse(const struct snap_index *idx, struct irq_snap *s,
		 char *why, size_t n)
{
	const struct snap_section *pit;
	unsigned int i;
	int err;

	for (i = 0; i < NR_CHIPS; i++) {
		err = parse_chip(idx, i, &s->chip[i], why, n);
		if (err)
			return err;
	}
	pit = snap_find(idx, SNAP_SEC_PIT, 0);
	if (!pit)
		return bad(why, n, "no PIT section");
	if (pit->len != sizeof(s->pit))
		return bad(why, n, "PIT: %zu bytes, not %zu", pit->len,
			   sizeof(s->pit));
	memcpy(&s->pit, pit->payload, sizeof(s->pit));
	return 0;
}

int irq_restore(int vm_fd, const struct snap_index *idx, char *why,
		size_t why_size)
{
	struct irq_snap s;
	unsigned int i;
	int err;

	err = parse(idx, &s, why, why_size);
	if (err)
		return err;
	for (i = 0; i < NR_CHIPS; i++)
		if (ioctl(vm_fd, KVM_SET_IRQCHIP, &s.chip[i]) < 0)
			return fail(-errno, why, why_size,
				    "KVM_SET_IRQCHIP (%s)", chip_names[i]);
	if (ioctl(vm_fd, KVM_SET_PIT2, &s.pit) < 0)
		return fail(-errno, why, why_size, "KVM_SET_PIT2");
	return 0;
}
