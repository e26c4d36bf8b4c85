#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "irq.h"
#include "log.h"

int irq_create(int vm_fd, char *why, size_t why_size)
{
	struct kvm_pit_config pit;
	int err;

	if (ioctl(vm_fd, KVM_CREATE_IRQCHIP) < 0) {
		err = -errno;
		snprintf(why, why_size, "KVM_CREATE_IRQCHIP: %s",
			 strerror(-err));
		return err;
	}
	/*
	 * The speaker stub answers port 0x61, which Linux polls while it
	 * calibrates the TSC against the PIT; without it every poll would
	 * exit to us.
	 */
	memset(&pit, 0, sizeof(pit));
	pit.flags = KVM_PIT_SPEAKER_DUMMY;
	if (ioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		err = -errno;
		snprintf(why, why_size, "KVM_CREATE_PIT2: %s", strerror(-err));
		return err;
	}
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
