#ifndef AGENTBOX_KERNEL_H
#define AGENTBOX_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include <asm/bootparam.h>

#include "guest_mem.h"

#define KERNEL_MAX_SEGMENTS	16
#define KERNEL_WHY_MAX		160

enum kernel_format {
	KERNEL_ELF,
	KERNEL_BZIMAGE,
};

/* Copy filesz bytes from the image at offset to gpa, then zero up to memsz. */
struct kernel_segment {
	uint64_t offset;
	uint64_t filesz;
	uint64_t gpa;
	uint64_t memsz;
};

struct kernel_image {
	enum kernel_format format;
	unsigned int nr_segments;
	struct kernel_segment seg[KERNEL_MAX_SEGMENTS];
	/* 64-bit entry point, entered in long mode with rsi = zero page. */
	uint64_t entry;
	/*
	 * First guest-physical byte the kernel does not need while it boots
	 * (for a bzImage this includes init_size past the runtime start),
	 * so the initrd must start at or above it.
	 */
	uint64_t end;
	/* bzImage: the image's setup header, hdr_len bytes of it valid. */
	struct setup_header hdr;
	size_t hdr_len;
	/* Longest command line the kernel accepts, excluding the NUL. */
	uint32_t cmdline_max;
	/* Highest address the initrd may occupy (its last byte). */
	uint32_t initrd_addr_max;
};

/*
 * Parse a vmlinux (ELF64 x86-64) or bzImage held in memory, for a guest of
 * ram_size bytes. Nothing is copied. Returns 0, or:
 *   -ENOEXEC  not a kernel this loader can boot (format, arch, protocol)
 *   -EINVAL   malformed (truncated, out-of-file, overflowing fields)
 *   -ENOMEM   well formed but does not fit below the MMIO hole and the
 *             boot identity map
 * On error a one-line reason (no trailing newline) is left in why.
 */
int kernel_parse(const uint8_t *img, size_t len, uint64_t ram_size,
		 struct kernel_image *k, char *why, size_t why_size);

/* Copy the parsed segments of img into guest memory; -EFAULT if not RAM. */
int kernel_load(const struct kernel_image *k, const uint8_t *img, size_t len,
		struct guest_mem *gm);

#endif /* AGENTBOX_KERNEL_H */
