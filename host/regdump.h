/* One readable block of a vCPU's registers, for exits that end the run. */
#ifndef AGENTBOX_REGDUMP_H
#define AGENTBOX_REGDUMP_H

#include <stddef.h>

#include <linux/kvm.h>

/* Enough for the whole block below with room to spare. */
#define REGDUMP_SIZE	2048

/* Format regs and sregs (either may be NULL) as indented lines. */
void regdump_format(char *buf, size_t size, const struct kvm_regs *r,
		    const struct kvm_sregs *s);

#endif /* AGENTBOX_REGDUMP_H */
