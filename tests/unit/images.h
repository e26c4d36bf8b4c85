/*
 * Synthetic kernel images for tests and fuzz seeds, written byte by byte
 * from the ELF spec and Documentation/x86/boot.rst rather than through
 * the structures the parser uses, so a wrong struct there shows up here.
 */
#ifndef AGENTBOX_TEST_IMAGES_H
#define AGENTBOX_TEST_IMAGES_H

#include <stddef.h>
#include <stdint.h>

/* ELF: header, three program headers (LOAD, LOAD, NOTE), two payloads. */
#define ELF_PHDR(i)		(0x40 + 56 * (i))
#define ELF_P_TYPE		0x00
#define ELF_P_OFFSET		0x08
#define ELF_P_PADDR		0x18
#define ELF_P_FILESZ		0x20
#define ELF_P_MEMSZ		0x28
#define ELF_ENTRY		0x1000000ULL
#define ELF_SEG0_OFFSET		0x1000
#define ELF_SEG0_PADDR		0x1000000ULL
#define ELF_SEG0_SIZE		0x1000
#define ELF_SEG1_OFFSET		0x2000
#define ELF_SEG1_PADDR		0x1200000ULL
#define ELF_SEG1_FILESZ		0x800
#define ELF_SEG1_MEMSZ		0x3000
#define ELF_LEN			0x2810

/* bzImage: 3 setup sectors after the boot sector, 4 KiB protected mode. */
#define BZ_SETUP_SECTS		3
#define BZ_PM_OFFSET		0x800
#define BZ_PM_SIZE		0x1000
#define BZ_LEN			(BZ_PM_OFFSET + BZ_PM_SIZE)
#define BZ_KERNEL_ALIGN		0x200000
#define BZ_INIT_SIZE		0x800000
#define BZ_CMDLINE_SIZE		0x7ff

/* Byte i of every payload, so loads can be checked without the parser. */
uint8_t image_byte(size_t i);

/* Build into buf (at least ELF_LEN / BZ_LEN bytes); returns the length. */
size_t make_elf(uint8_t *buf);
size_t make_bzimage(uint8_t *buf);

#endif /* AGENTBOX_TEST_IMAGES_H */
