/*
 * Everything the guest finds in memory at its first instruction: the
 * kernel, the initrd, the zero page with its e820 map and command line,
 * the MP table and the long-mode tables. boot_prepare() reads and checks
 * every input before a VM exists, so bad files are reported without
 * touching /dev/kvm; boot_load() then writes the result into guest RAM.
 */
#ifndef AGENTBOX_BOOT_H
#define AGENTBOX_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "cmdline.h"
#include "guest_mem.h"
#include "kernel.h"
#include "layout.h"

#define BOOT_BASE_CMDLINE	"console=ttyS0 reboot=t panic=-1 acpi=off"

struct boot_config {
	const char *kernel;
	const char *initrd;
	/* The user's --cmdline, appended last; may be NULL. */
	const char *cmdline;
	uint64_t mem;
	/* --mem as written, for messages. */
	const char *mem_arg;
	/* virtio-mmio devices, placed at layout_virtio_mmio_addr(0..n-1). */
	unsigned int nr_virtio;
};

struct boot {
	/* The kernel file, mapped read-only until boot_load() copies it. */
	uint8_t *img;
	size_t img_len;
	struct kernel_image k;
	int initrd_fd;
	uint64_t initrd_size;
	uint64_t initrd_gpa;
	struct cmdline cl;
	char cmdline_buf[LAYOUT_CMDLINE_MAX];
};

/*
 * The base arguments, one virtio_mmio.device= per device, the boot timer
 * address, then user. -E2BIG if it does not fit size bytes.
 */
int boot_build_cmdline(struct cmdline *cl, char *buf, size_t size,
		       unsigned int nr_virtio, const char *user);

/* Open, parse and place everything; why gets "<input>: <reason>". */
int boot_prepare(struct boot *b, const struct boot_config *cfg, char *why,
		 size_t why_size);

/* Write kernel, initrd and boot structures into guest memory. */
int boot_load(struct boot *b, struct guest_mem *gm, unsigned int nr_cpus,
	      char *why, size_t why_size);

void boot_release(struct boot *b);

#endif /* AGENTBOX_BOOT_H */
