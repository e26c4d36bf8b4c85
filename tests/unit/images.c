#include <string.h>

#include "check.h"
#include "images.h"

uint8_t image_byte(size_t i)
{
	return (uint8_t)(i * 7 + 1);
}

static void fill(uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = image_byte(i);
}

static void put_phdr(uint8_t *buf, unsigned int i, uint32_t type,
		     uint64_t offset, uint64_t paddr, uint64_t filesz,
		     uint64_t memsz)
{
	uint8_t *ph = buf + ELF_PHDR(i);

	put32(ph + ELF_P_TYPE, type);
	put32(ph + 0x04, 5);			/* p_flags: R+X */
	put64(ph + ELF_P_OFFSET, offset);
	put64(ph + 0x10, paddr + 0xffffffff80000000ULL - 0x1000000);
	put64(ph + ELF_P_PADDR, paddr);
	put64(ph + ELF_P_FILESZ, filesz);
	put64(ph + ELF_P_MEMSZ, memsz);
	put64(ph + 0x30, 0x1000);		/* p_align */
}

size_t make_elf(uint8_t *buf)
{
	memset(buf, 0, ELF_LEN);
	memcpy(buf, "\177ELF", 4);
	buf[4] = 2;				/* ELFCLASS64 */
	buf[5] = 1;				/* ELFDATA2LSB */
	buf[6] = 1;				/* EV_CURRENT */
	put16(buf + 0x10, 2);			/* ET_EXEC */
	put16(buf + 0x12, 62);			/* EM_X86_64 */
	put32(buf + 0x14, 1);
	put64(buf + 0x18, ELF_ENTRY);
	put64(buf + 0x20, 0x40);		/* e_phoff */
	put16(buf + 0x34, 64);			/* e_ehsize */
	put16(buf + 0x36, 56);			/* e_phentsize */
	put16(buf + 0x38, 3);			/* e_phnum */
	put16(buf + 0x3a, 64);			/* e_shentsize */
	put_phdr(buf, 0, 1, ELF_SEG0_OFFSET, ELF_SEG0_PADDR, ELF_SEG0_SIZE,
		 ELF_SEG0_SIZE);
	put_phdr(buf, 1, 1, ELF_SEG1_OFFSET, ELF_SEG1_PADDR, ELF_SEG1_FILESZ,
		 ELF_SEG1_MEMSZ);
	put_phdr(buf, 2, 4, ELF_SEG1_OFFSET + ELF_SEG1_FILESZ, 0, 0x10, 0x10);
	fill(buf + ELF_SEG0_OFFSET, ELF_LEN - ELF_SEG0_OFFSET);
	return ELF_LEN;
}

size_t make_bzimage(uint8_t *buf)
{
	memset(buf, 0, BZ_LEN);
	buf[0x1f1] = BZ_SETUP_SECTS;
	put32(buf + 0x1f4, BZ_PM_SIZE / 16);	/* syssize */
	put16(buf + 0x1fe, 0xaa55);		/* boot_flag */
	buf[0x200] = 0xeb;			/* jmp, then header length */
	buf[0x201] = 0x6a;			/* header ends at 0x26c */
	memcpy(buf + 0x202, "HdrS", 4);
	put16(buf + 0x206, 0x020f);		/* version 2.15 */
	buf[0x211] = 0x01;			/* loadflags: LOADED_HIGH */
	put32(buf + 0x214, 0x100000);		/* code32_start */
	put32(buf + 0x22c, 0x7fffffff);		/* initrd_addr_max */
	put32(buf + 0x230, BZ_KERNEL_ALIGN);
	buf[0x234] = 1;				/* relocatable_kernel */
	buf[0x235] = 21;			/* min_alignment */
	put16(buf + 0x236, 0x0003);		/* XLF_KERNEL_64 | ABOVE_4G */
	put32(buf + 0x238, BZ_CMDLINE_SIZE);
	put64(buf + 0x258, 0x1000000);		/* pref_address */
	put32(buf + 0x260, BZ_INIT_SIZE);
	fill(buf + BZ_PM_OFFSET, BZ_PM_SIZE);
	return BZ_LEN;
}
