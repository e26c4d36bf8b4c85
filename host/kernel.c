/*
 * Kernel image parser: ELF64 vmlinux or bzImage, both entered at their
 * 64-bit entry point in long mode. Everything read from the image is
 * checked against the file size and the guest RAM before it is trusted.
 */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "compiler.h"
#include "kernel.h"
#include "layout.h"

/* Offsets into a bzImage, from Documentation/x86/boot.rst. */
#define BZ_HDR_OFFSET		0x1f1
#define BZ_JUMP_LEN_OFFSET	0x201
#define BZ_MAGIC_OFFSET		0x202
#define BZ_MAGIC		0x53726448	/* "HdrS" */
#define BZ_BOOT_FLAG		0xaa55
#define BZ_MIN_VERSION		0x020c	/* first with xloadflags */
#define BZ_SECTOR		512
#define BZ_DEFAULT_SETUP_SECTS	4

/* x86 COMMAND_LINE_SIZE is 2048 including the NUL. */
#define ELF_CMDLINE_MAX		2047
/* What every 2.12+ bzImage advertises; a vmlinux has no header to ask. */
#define ELF_INITRD_ADDR_MAX	0x7fffffff

_Static_assert(offsetof(struct setup_header, boot_flag) ==
	       0x1fe - BZ_HDR_OFFSET, "setup_header layout");
_Static_assert(offsetof(struct setup_header, header) ==
	       BZ_MAGIC_OFFSET - BZ_HDR_OFFSET, "setup_header layout");
_Static_assert(offsetof(struct setup_header, xloadflags) ==
	       0x236 - BZ_HDR_OFFSET, "setup_header layout");
_Static_assert(offsetof(struct setup_header, cmdline_size) ==
	       0x238 - BZ_HDR_OFFSET, "setup_header layout");
_Static_assert(offsetof(struct setup_header, init_size) ==
	       0x260 - BZ_HDR_OFFSET, "setup_header layout");
_Static_assert(sizeof(struct setup_header) == 0x26c - BZ_HDR_OFFSET,
	       "setup_header size");

__printf(4, 5)
static int fail(char *why, size_t why_size, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && why_size) {
		va_start(ap, fmt);
		vsnprintf(why, why_size, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* The kernel must stay below the hole and inside the boot identity map. */
static uint64_t kernel_limit(uint64_t ram_size)
{
	uint64_t low = layout_low_ram_end(ram_size);

	return low < LAYOUT_IDENTITY_MAP_END ? low : LAYOUT_IDENTITY_MAP_END;
}

static bool fits(uint64_t start, uint64_t size, uint64_t lo, uint64_t hi)
{
	return start >= lo && start <= hi && size <= hi - start;
}

static int check_elf_ident(const Elf64_Ehdr *eh, char *why, size_t n)
{
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return fail(why, n, -ENOEXEC, "no ELF magic");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return fail(why, n, -ENOEXEC, "ELF class %u is not ELF64",
			    eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return fail(why, n, -ENOEXEC, "ELF is not little-endian");
	if (eh->e_machine != EM_X86_64)
		return fail(why, n, -ENOEXEC,
			    "ELF machine %u is not x86-64 (%u)",
			    eh->e_machine, EM_X86_64);
	if (eh->e_type != ET_EXEC)
		return fail(why, n, -ENOEXEC,
			    "ELF type %u is not an executable (ET_EXEC)",
			    eh->e_type);
	return 0;
}

static int check_elf_phdrs(const Elf64_Ehdr *eh, size_t len, char *why,
			   size_t n)
{
	uint64_t table;

	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return fail(why, n, -EINVAL,
			    "ELF program header size %u, expected %zu",
			    eh->e_phentsize, sizeof(Elf64_Phdr));
	if (eh->e_phnum == 0 || eh->e_phnum == PN_XNUM)
		return fail(why, n, -EINVAL, "ELF has %u program headers",
			    eh->e_phnum);
	table = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
	if (!fits(eh->e_phoff, table, 0, len))
		return fail(why, n, -EINVAL,
			    "ELF program headers at 0x%llx run past the end of the %zu-byte file",
			    (unsigned long long)eh->e_phoff, len);
	return 0;
}

static bool segments_overlap(const struct kernel_segment *a,
			     const struct kernel_segment *b)
{
	return a->gpa < b->gpa + b->memsz && b->gpa < a->gpa + a->memsz;
}

static int add_elf_segment(struct kernel_image *k, const Elf64_Phdr *ph,
			   size_t len, uint64_t limit, char *why, size_t n)
{
	struct kernel_segment *s;
	unsigned int i;

	if (ph->p_filesz > ph->p_memsz)
		return fail(why, n, -EINVAL,
			    "ELF segment at 0x%llx has file size 0x%llx above its memory size 0x%llx",
			    (unsigned long long)ph->p_paddr,
			    (unsigned long long)ph->p_filesz,
			    (unsigned long long)ph->p_memsz);
	if (!fits(ph->p_offset, ph->p_filesz, 0, len))
		return fail(why, n, -EINVAL,
			    "ELF segment at file offset 0x%llx size 0x%llx runs past the end of the %zu-byte file",
			    (unsigned long long)ph->p_offset,
			    (unsigned long long)ph->p_filesz, len);
	if (!fits(ph->p_paddr, ph->p_memsz, LAYOUT_KERNEL_ADDR, limit))
		return fail(why, n, -ENOMEM,
			    "ELF segment at 0x%llx size 0x%llx is outside usable guest RAM [0x%llx, 0x%llx)",
			    (unsigned long long)ph->p_paddr,
			    (unsigned long long)ph->p_memsz,
			    (unsigned long long)LAYOUT_KERNEL_ADDR,
			    (unsigned long long)limit);
	if (k->nr_segments == KERNEL_MAX_SEGMENTS)
		return fail(why, n, -EINVAL, "ELF has more than %d PT_LOAD segments",
			    KERNEL_MAX_SEGMENTS);
	s = &k->seg[k->nr_segments];
	s->offset = ph->p_offset;
	s->filesz = ph->p_filesz;
	s->gpa = ph->p_paddr;
	s->memsz = ph->p_memsz;
	for (i = 0; i < k->nr_segments; i++)
		if (segments_overlap(s, &k->seg[i]))
			return fail(why, n, -EINVAL,
				    "ELF segments at 0x%llx and 0x%llx overlap",
				    (unsigned long long)s->gpa,
				    (unsigned long long)k->seg[i].gpa);
	k->nr_segments++;
	return 0;
}

static bool entry_is_loaded(const struct kernel_image *k)
{
	unsigned int i;

	for (i = 0; i < k->nr_segments; i++)
		if (k->entry >= k->seg[i].gpa &&
		    k->entry - k->seg[i].gpa < k->seg[i].filesz)
			return true;
	return false;
}

static void set_end(struct kernel_image *k)
{
	unsigned int i;

	k->end = 0;
	for (i = 0; i < k->nr_segments; i++)
		if (k->seg[i].gpa + k->seg[i].memsz > k->end)
			k->end = k->seg[i].gpa + k->seg[i].memsz;
}

static int parse_elf(const uint8_t *img, size_t len, uint64_t limit,
		     struct kernel_image *k, char *why, size_t n)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	unsigned int i;
	int err;

	if (len < sizeof(eh))
		return fail(why, n, -EINVAL, "ELF header truncated (%zu bytes)",
			    len);
	memcpy(&eh, img, sizeof(eh));
	err = check_elf_ident(&eh, why, n);
	if (err)
		return err;
	err = check_elf_phdrs(&eh, len, why, n);
	if (err)
		return err;
	for (i = 0; i < eh.e_phnum; i++) {
		memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		/* An empty PT_LOAD has nothing to place. */
		if (ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		err = add_elf_segment(k, &ph, len, limit, why, n);
		if (err)
			return err;
	}
	if (!k->nr_segments)
		return fail(why, n, -EINVAL, "ELF has no PT_LOAD segment");
	k->format = KERNEL_ELF;
	k->entry = eh.e_entry;
	if (!entry_is_loaded(k))
		return fail(why, n, -EINVAL,
			    "ELF entry point 0x%llx is not inside a loaded segment",
			    (unsigned long long)k->entry);
	set_end(k);
	k->cmdline_max = ELF_CMDLINE_MAX;
	k->initrd_addr_max = ELF_INITRD_ADDR_MAX;
	return 0;
}

static int check_bz_header(const struct setup_header *hdr, char *why,
			   size_t n)
{
	if (hdr->boot_flag != BZ_BOOT_FLAG)
		return fail(why, n, -ENOEXEC,
			    "bzImage boot flag is 0x%04x, not 0xaa55",
			    hdr->boot_flag);
	if (hdr->version < BZ_MIN_VERSION)
		return fail(why, n, -ENOEXEC,
			    "bzImage boot protocol %u.%02u is too old (need 2.12 for 64-bit entry)",
			    hdr->version >> 8, hdr->version & 0xff);
	if (!(hdr->loadflags & LOADED_HIGH))
		return fail(why, n, -ENOEXEC,
			    "zImage (LOADED_HIGH clear) is not supported");
	if (!(hdr->xloadflags & XLF_KERNEL_64))
		return fail(why, n, -ENOEXEC,
			    "bzImage has no 64-bit entry point (XLF_KERNEL_64 clear)");
	return 0;
}

/*
 * boot.rst: the setup header ends at 0x202 + the byte at 0x201. Fields
 * past that end do not exist in this kernel and must stay zero.
 */
static int bz_header_len(const uint8_t *img, size_t *hdr_len, char *why,
			 size_t n)
{
	size_t end = BZ_MAGIC_OFFSET + img[BZ_JUMP_LEN_OFFSET];
	size_t need = BZ_HDR_OFFSET + offsetof(struct setup_header,
					       cmdline_size) + 4;

	if (end < need)
		return fail(why, n, -EINVAL,
			    "bzImage setup header ends at 0x%zx, before cmdline_size",
			    end);
	*hdr_len = end - BZ_HDR_OFFSET;
	if (*hdr_len > sizeof(struct setup_header))
		*hdr_len = sizeof(struct setup_header);
	return 0;
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/*
 * boot.rst: a relocatable kernel decompresses at the load address rounded
 * up to kernel_alignment, others at pref_address, and needs init_size
 * bytes from there.
 */
static int bz_runtime_end(const struct setup_header *hdr, uint64_t *end,
			  char *why, size_t n)
{
	uint64_t start;

	if (hdr->relocatable_kernel) {
		if (!is_pow2(hdr->kernel_alignment))
			return fail(why, n, -EINVAL,
				    "bzImage kernel_alignment 0x%x is not a power of two",
				    hdr->kernel_alignment);
		start = (LAYOUT_KERNEL_ADDR + hdr->kernel_alignment - 1) &
			~((uint64_t)hdr->kernel_alignment - 1);
	} else {
		start = hdr->pref_address;
	}
	if (start > UINT64_MAX - hdr->init_size)
		return fail(why, n, -EINVAL,
			    "bzImage pref_address 0x%llx + init_size overflows",
			    (unsigned long long)start);
	*end = start + hdr->init_size;
	return 0;
}

static int bz_layout(struct kernel_image *k, size_t len, uint64_t limit,
		     char *why, size_t n)
{
	unsigned int sects = k->hdr.setup_sects ?: BZ_DEFAULT_SETUP_SECTS;
	uint64_t pm_off = (uint64_t)(sects + 1) * BZ_SECTOR;
	uint64_t pm_size, end = 0;
	int err;

	if (pm_off >= len)
		return fail(why, n, -EINVAL,
			    "bzImage truncated: protected-mode part at 0x%llx is past the end of the %zu-byte file",
			    (unsigned long long)pm_off, len);
	pm_size = len - pm_off;
	if ((uint64_t)k->hdr.syssize * 16 > pm_size)
		return fail(why, n, -EINVAL,
			    "bzImage truncated: syssize says 0x%llx bytes, file has 0x%llx",
			    (unsigned long long)k->hdr.syssize * 16,
			    (unsigned long long)pm_size);
	if (pm_size <= LAYOUT_BZIMAGE_ENTRY_OFFSET)
		return fail(why, n, -EINVAL,
			    "bzImage protected-mode part (%llu bytes) ends before its 64-bit entry",
			    (unsigned long long)pm_size);
	err = bz_runtime_end(&k->hdr, &end, why, n);
	if (err)
		return err;
	if (end < LAYOUT_KERNEL_ADDR + pm_size)
		end = LAYOUT_KERNEL_ADDR + pm_size;
	if (end > limit)
		return fail(why, n, -ENOMEM,
			    "bzImage needs guest memory up to 0x%llx, only 0x%llx is usable",
			    (unsigned long long)end, (unsigned long long)limit);
	k->seg[0] = (struct kernel_segment){
		.offset = pm_off,
		.filesz = pm_size,
		.gpa = LAYOUT_KERNEL_ADDR,
		.memsz = pm_size,
	};
	k->nr_segments = 1;
	k->end = end;
	return 0;
}

static int parse_bzimage(const uint8_t *img, size_t len, uint64_t limit,
			 struct kernel_image *k, char *why, size_t n)
{
	int err;

	if (len < BZ_HDR_OFFSET + sizeof(k->hdr))
		return fail(why, n, -EINVAL,
			    "bzImage truncated in its setup header (%zu bytes)",
			    len);
	memcpy(&k->hdr, img + BZ_HDR_OFFSET, sizeof(k->hdr));
	err = check_bz_header(&k->hdr, why, n);
	if (err)
		return err;
	err = bz_header_len(img, &k->hdr_len, why, n);
	if (err)
		return err;
	memset((uint8_t *)&k->hdr + k->hdr_len, 0,
	       sizeof(k->hdr) - k->hdr_len);
	err = bz_layout(k, len, limit, why, n);
	if (err)
		return err;
	k->format = KERNEL_BZIMAGE;
	k->entry = LAYOUT_KERNEL_ADDR + LAYOUT_BZIMAGE_ENTRY_OFFSET;
	k->cmdline_max = k->hdr.cmdline_size;
	k->initrd_addr_max = k->hdr.initrd_addr_max;
	return 0;
}

static bool is_bzimage(const uint8_t *img, size_t len)
{
	uint32_t magic;

	if (len < BZ_MAGIC_OFFSET + sizeof(magic))
		return false;
	memcpy(&magic, img + BZ_MAGIC_OFFSET, sizeof(magic));
	return magic == BZ_MAGIC;
}

int kernel_parse(const uint8_t *img, size_t len, uint64_t ram_size,
		 struct kernel_image *k, char *why, size_t why_size)
{
	uint64_t limit = kernel_limit(ram_size);

	memset(k, 0, sizeof(*k));
	if (why && why_size)
		why[0] = '\0';
	if (len >= SELFMAG && !memcmp(img, ELFMAG, SELFMAG))
		return parse_elf(img, len, limit, k, why, why_size);
	if (is_bzimage(img, len))
		return parse_bzimage(img, len, limit, k, why, why_size);
	return fail(why, why_size, -ENOEXEC,
		    "not a kernel: no ELF magic and no \"HdrS\" at 0x202");
}

int kernel_load(const struct kernel_image *k, const uint8_t *img, size_t len,
		struct guest_mem *gm)
{
	const struct kernel_segment *s;
	unsigned int i;
	uint8_t *dst;

	for (i = 0; i < k->nr_segments; i++) {
		s = &k->seg[i];
		if (!fits(s->offset, s->filesz, 0, len) || s->filesz > s->memsz)
			return -EINVAL;
		dst = gm_ptr(gm, s->gpa, s->memsz);
		if (!dst)
			return -EFAULT;
		memcpy(dst, img + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
	}
	return 0;
}
