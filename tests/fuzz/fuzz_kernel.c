/*
 * Parse a fuzzer-built kernel image, check that whatever the parser
 * accepts really lies inside the file and guest RAM, then load it and
 * write every boot structure into real memory of that size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bootparams.h"
#include "fuzz_input.h"
#include "kernel.h"
#include "layout.h"
#include "longmode.h"
#include "mptable.h"

#define CMDLINE "console=ttyS0"

static struct kernel_image k;
static char why[KERNEL_WHY_MAX];

static bool entry_loaded(void)
{
	unsigned int i;

	for (i = 0; i < k.nr_segments; i++)
		if (k.entry >= k.seg[i].gpa &&
		    k.entry < k.seg[i].gpa + k.seg[i].filesz)
			return true;
	return false;
}

static void check_image(size_t len, uint64_t ram)
{
	uint64_t limit = layout_low_ram_end(ram);
	const struct kernel_segment *s;
	unsigned int i;

	if (!k.nr_segments || k.nr_segments > KERNEL_MAX_SEGMENTS ||
	    !entry_loaded() || why[0])
		__builtin_trap();
	if (limit > LAYOUT_IDENTITY_MAP_END)
		limit = LAYOUT_IDENTITY_MAP_END;
	for (i = 0; i < k.nr_segments; i++) {
		s = &k.seg[i];
		if (s->offset > len || s->filesz > len - s->offset ||
		    s->filesz > s->memsz || s->gpa < LAYOUT_KERNEL_ADDR ||
		    s->gpa > limit || s->memsz > limit - s->gpa ||
		    s->gpa + s->memsz > k.end)
			__builtin_trap();
	}
	if (k.end > limit || k.hdr_len > sizeof(k.hdr))
		__builtin_trap();
}

static void check_rejection(int err)
{
	if (err != -EINVAL && err != -ENOEXEC && err != -ENOMEM)
		__builtin_trap();
	if (!why[0] || strchr(why, '\n'))
		__builtin_trap();
}

static void build_pure(uint64_t ram, uint8_t sel)
{
	struct boot_params bp;
	uint64_t initrd = 0, initrd_size = (uint64_t)sel << 20;

	if (bootparams_place_initrd(&k, ram, initrd_size, &initrd))
		initrd_size = 0;
	if (bootparams_build(&bp, &k, ram, sel * 8, initrd, initrd_size) &&
	    ram > LAYOUT_HIMEM_START && sel * 8 <= bootparams_cmdline_max(&k))
		__builtin_trap();
}

static void load(const uint8_t *img, size_t len, uint64_t ram, uint8_t sel)
{
	struct guest_mem gm;
	void *mem;
	int err;

	if (posix_memalign(&mem, 4096, ram))
		return;
	if (guest_mem_init(&gm, mem, ram, LAYOUT_MMIO_HOLE_START,
			   LAYOUT_MMIO_HOLE_END) ||
	    kernel_load(&k, img, len, &gm))
		__builtin_trap();
	/*
	 * What parse accepted must be bootable in exactly this much RAM,
	 * unless the header allows no command line this long.
	 */
	err = bootparams_write(&gm, &k, CMDLINE, 0, 0);
	if (err && !(err == -E2BIG &&
		     bootparams_cmdline_max(&k) < strlen(CMDLINE)))
		__builtin_trap();
	if (longmode_write_tables(&gm) || mptable_write(&gm, sel % 8 + 1))
		__builtin_trap();
	free(mem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *img = data + 1;
	size_t len = size - 1;
	uint64_t ram;
	uint8_t sel;
	int err;

	if (!size)
		return 0;
	sel = data[0];
	if (sel & FUZZ_KERNEL_BIG)
		ram = ((sel & 0x7fULL) + 1) * FUZZ_KERNEL_BIG_UNIT;
	else
		ram = FUZZ_KERNEL_SMALL_BASE + sel * FUZZ_KERNEL_SMALL_UNIT;
	err = kernel_parse(img, len, ram, &k, why, sizeof(why));
	if (err) {
		check_rejection(err);
		return 0;
	}
	check_image(len, ram);
	build_pure(ram, sel);
	if (!(sel & FUZZ_KERNEL_BIG))
		load(img, len, ram, sel);
	return 0;
}
