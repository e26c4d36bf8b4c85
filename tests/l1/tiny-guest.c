/*
 * Writes a tiny "kernel" ELF64 for the loader tests:
 *   tiny-guest triple-fault OUT.elf  loads an empty IDT and executes ud2.
 *       With no way to deliver #UD, then #GP, then #DF, the CPU shuts
 *       down: the loader must report a triple fault, not hang or crash.
 *   tiny-guest exit42 OUT.elf  writes 42 to the exit port: proves in a
 *       second that this L1 can run an L2 at all.
 */
#include <elf.h>
#include <stdio.h>
#include <string.h>

#define LOAD_ADDR 0x1000000
#define CODE_OFFSET 0x1000

static const unsigned char triple_fault[32] = {
	0x0f, 0x01, 0x1d, 0x09, 0x00, 0x00, 0x00,	/* lidt [rip + 9] */
	0x0f, 0x0b,					/* ud2 */
	0xf4, 0xeb, 0xfd,				/* hlt; jmp .-1 */
	/* offset 16: the IDT descriptor, limit 0 and base 0 */
};

static const unsigned char exit42[32] = {
	0xb0, 0x2a,					/* mov al, 42 */
	0xe6, 0xf4,					/* out 0xf4, al */
	0xf4, 0xeb, 0xfd,				/* hlt; jmp .-1 */
};

_Static_assert(sizeof(triple_fault) == sizeof(exit42), "one image size");

int main(int argc, char **argv)
{
	const unsigned char *code;
	unsigned char image[CODE_OFFSET + sizeof(exit42)] = { 0 };
	Elf64_Ehdr eh = {
		.e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64,
			     ELFDATA2LSB, EV_CURRENT },
		.e_type = ET_EXEC,
		.e_machine = EM_X86_64,
		.e_version = EV_CURRENT,
		.e_entry = LOAD_ADDR,
		.e_phoff = sizeof(Elf64_Ehdr),
		.e_ehsize = sizeof(Elf64_Ehdr),
		.e_phentsize = sizeof(Elf64_Phdr),
		.e_phnum = 1,
	};
	Elf64_Phdr ph = {
		.p_type = PT_LOAD,
		.p_flags = PF_R | PF_X,
		.p_offset = CODE_OFFSET,
		.p_vaddr = LOAD_ADDR,
		.p_paddr = LOAD_ADDR,
		.p_filesz = sizeof(exit42),
		.p_memsz = sizeof(exit42),
		.p_align = 0x1000,
	};
	FILE *f;

	if (argc != 3 || (strcmp(argv[1], "triple-fault") && strcmp(argv[1], "exit42"))) {
		fprintf(stderr, "usage: tiny-guest triple-fault|exit42 OUT.elf\n");
		return 2;
	}
	code = strcmp(argv[1], "exit42") ? triple_fault : exit42;
	memcpy(image, &eh, sizeof(eh));
	memcpy(image + sizeof(eh), &ph, sizeof(ph));
	memcpy(image + CODE_OFFSET, code, sizeof(exit42));
	f = fopen(argv[2], "wb");
	if (!f || fwrite(image, sizeof(image), 1, f) != 1 || fclose(f)) {
		perror(argv[2]);
		return 1;
	}
	return 0;
}
