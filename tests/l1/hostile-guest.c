/*
 * A hostile "kernel" for the loader tests (tests/l1/attack-check.sh):
 * a freestanding ELF64 the loader boots like a vmlinux, which then does
 * its worst to the loader's devices. The kernel command line picks it:
 *
 *   attack=serial  a console flood: flood= bytes (default 4 MiB) out of
 *                  port 0x3f8, after random pokes at every UART register
 *                  (loopback, DLAB, 2- and 4-byte accesses, string reads
 *                  of 4 KiB); exits 10.
 *                  Each byte is an exit to the loader, so under nested
 *                  TCG the test floods far less than on real KVM.
 *   attack=mmio    iters= (default 100000) seeded xorshift accesses,
 *                  reads and writes of every width, to every virtio-mmio
 *                  page, the boot timer and the page past the last
 *                  device, now and then a proper handshake with random
 *                  rings in a scratch area; exits 11.
 *   attack=virtq   every device negotiated properly (VERSION_1,
 *                  INDIRECT_DESC), then fed one malformed queue after
 *                  another (loops, chains past the ring, addresses past
 *                  RAM, in the MMIO hole or wrapping 2^64, huge lengths,
 *                  bad indirect tables, an avail idx far ahead, rings
 *                  out of place), each followed by a reset; then one
 *                  valid request that must still be served. Exits 12,
 *                  or 14 if the loader served a malformed chain or a
 *                  device did not come back after its reset.
 *   attack=all     the three in turn; exits 0 (14 as for virtq).
 *
 * seed= seeds the generator (default 1). What the loader must do is in
 * attack-check.sh. An exception of ours prints its vector and rip and
 * exits 13 (a triple fault would only show the loader's status 122);
 * a command line without a known attack= exits 15.
 *
 * Built with -ffreestanding -nostdlib -static -mgeneral-regs-only (the
 * loader leaves SSE off) and linked at 0x1000000; the loader enters
 * _start in long mode with the first GiB identity-mapped, interrupts off
 * and rsi pointing at the zero page.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <asm/bootparam.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_vsock.h>

#define SERIAL_PORT	0x3f8
#define EXIT_PORT	0xf4
#define BOOT_TIMER	0xd0000000UL
#define VIRTIO_BASE	0xd0001000UL
#define VIRTIO_STRIDE	0x1000UL
#define VIRTIO_MAX	19
#define VIRTIO_MAGIC	0x74726976

/* The loader's boot page tables, and the 2 MiB pages we add for the hole. */
#define BOOT_PDPT	0xa000UL
#define HOLE_GIB	3
#define PTE_P		0x1ULL
#define PTE_RW		0x2ULL
#define PTE_PWT		0x8ULL
#define PTE_PCD		0x10ULL
#define PTE_PS		0x80ULL
#define HUGE_2M		(2ULL << 20)

/*
 * Everything a device may write lives in the scratch area, away from our
 * code, stack and the boot page tables: rings of the malformed queues,
 * their buffers, and whatever random rings the mmio attack sets up.
 */
#define SCRATCH		0x2000000UL
#define SCRATCH_SIZE	0x1000000UL
#define RING_DESC	(SCRATCH + 0x0000)
#define RING_AVAIL	(SCRATCH + 0x1000)
#define RING_USED	(SCRATCH + 0x2000)
#define RING_TABLE	(SCRATCH + 0x4000)
#define RING_TABLE2	(SCRATCH + 0x6000)
#define RING_BUF	(SCRATCH + 0x10000)
#define RING_BUF2	(SCRATCH + 0x20000)
/* The other vsock queues, kept sane while one is attacked. */
#define SANE_BASE	(SCRATCH + 0x100000)
#define SANE_STRIDE	0x10000UL

#define STATUS_SERIAL	10
#define STATUS_MMIO	11
#define STATUS_VIRTQ	12
#define STATUS_EXCEPTION	13
#define STATUS_BROKEN	14
#define STATUS_USAGE	15

#define POLL_TRIES	2000
#define SPIN_BETWEEN	200
#define QSIZE		16

#define F(bit)		(1ULL << (bit))

static uint8_t stack[64 * 1024] __attribute__((aligned(16), used));
static uint8_t pd_hole[4096] __attribute__((aligned(4096)));
static uint8_t flood_buf[4096];

static uint64_t ram_end;
static uint64_t rng_state = 1;

void _start(void);
void hostile_main(const struct boot_params *bp);
void hostile_exception(const uint64_t *frame);

/* Our own stack: the loader's sits in the few KiB below its page tables. */
__asm__(".text\n"
	".globl _start\n"
	"_start:\n"
	"	lea stack+65536(%rip), %rsp\n"
	"	mov %rsi, %rdi\n"
	"	call hostile_main\n"
	"1:	cli\n"
	"	hlt\n"
	"	jmp 1b\n");

/*
 * One 16-byte stub per exception vector, so a fault of ours says where
 * it happened instead of ending as a bare triple fault: each pushes a
 * zero where the CPU pushes no error code, then the vector.
 */
__asm__(".macro exc_stub n\n"
	"	.align 16\n"
	"	.if !(\\n == 8 || (\\n >= 10 && \\n <= 14) || \\n == 17 || \\n == 21 || \\n == 29 || \\n == 30)\n"
	"	pushq $0\n"
	"	.endif\n"
	"	pushq $\\n\n"
	"	jmp exc_common\n"
	".endm\n"
	".text\n"
	".align 16\n"
	"exc_stubs:\n"
	".irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
	"	exc_stub \\n\n"
	".endr\n"
	"exc_common:\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call hostile_exception\n");

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/*
 * KVM batches a string read into one exit of up to 1 KiB (io.count), so
 * this is how the loader's per-exit loop gets a long count.
 */
static inline void rep_insb(uint16_t port, void *p, uint64_t n)
{
	__asm__ volatile("rep insb" : "+D"(p), "+c"(n) : "d"(port) : "memory");
}

static inline void rep_insl(uint16_t port, void *p, uint64_t n)
{
	__asm__ volatile("rep insl" : "+D"(p), "+c"(n) : "d"(port) : "memory");
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static void spin(unsigned int n)
{
	while (n--)
		cpu_relax();
}

static inline void barrier(void)
{
	__asm__ volatile("mfence" ::: "memory");
}

static uint32_t mmio_rd32(uint64_t a)
{
	return *(volatile uint32_t *)a;
}

static void mmio_wr32(uint64_t a, uint32_t v)
{
	*(volatile uint32_t *)a = v;
}

static void mmio_rd(uint64_t a, unsigned int width)
{
	switch (width) {
	case 1:
		(void)*(volatile uint8_t *)a;
		break;
	case 2:
		(void)*(volatile uint16_t *)a;
		break;
	case 4:
		(void)*(volatile uint32_t *)a;
		break;
	default:
		(void)*(volatile uint64_t *)a;
		break;
	}
}

static void mmio_wr(uint64_t a, unsigned int width, uint64_t v)
{
	switch (width) {
	case 1:
		*(volatile uint8_t *)a = v;
		break;
	case 2:
		*(volatile uint16_t *)a = v;
		break;
	case 4:
		*(volatile uint32_t *)a = v;
		break;
	default:
		*(volatile uint64_t *)a = v;
		break;
	}
}

/* xorshift64: the run is the same for the same seed. */
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

/* gcc may call these for struct copies even when freestanding. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

void *memset(void *d, int c, size_t n)
{
	volatile uint8_t *p = d;

	while (n--)
		*p++ = c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	volatile uint8_t *p = d;
	const uint8_t *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}

static void putc(char c)
{
	outb(SERIAL_PORT, c);
}

static void puts(const char *s)
{
	while (*s)
		putc(*s++);
}

static void putu(uint64_t v)
{
	char buf[21];
	int i = 20;

	buf[i] = 0;
	do {
		buf[--i] = '0' + v % 10;
		v /= 10;
	} while (v);
	puts(buf + i);
}

static void putx(uint64_t v)
{
	char buf[19];
	int i = 18;

	buf[i] = 0;
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	buf[--i] = 'x';
	buf[--i] = '0';
	puts(buf + i);
}

static __attribute__((noreturn)) void exit_with(uint8_t status)
{
	puts("hostile: exit ");
	putu(status);
	putc('\n');
	outb(EXIT_PORT, status);
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* The value of "key=" on the command line, or NULL; ends at a blank. */
static const char *cmdline_arg(const char *cl, const char *key)
{
	const char *p, *k;

	for (p = cl; *p; p++) {
		if (p != cl && p[-1] != ' ')
			continue;
		for (k = key; *k && *p == *k; k++, p++)
			;
		if (!*k)
			return p;
	}
	return NULL;
}

static uint64_t cmdline_num(const char *cl, const char *key, uint64_t def)
{
	const char *p = cmdline_arg(cl, key);
	uint64_t v = 0;

	if (!p || *p < '0' || *p > '9')
		return def;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (*p++ - '0');
	return v;
}

static bool word_is(const char *p, const char *w)
{
	while (*w && *p == *w)
		p++, w++;
	return !*w && (!*p || *p == ' ');
}

/* The highest end of usable RAM in the loader's e820 map. */
static uint64_t find_ram_end(const struct boot_params *bp)
{
	uint64_t end = 0, e;
	unsigned int i;

	for (i = 0; i < bp->e820_entries && i < E820_MAX_ENTRIES_ZEROPAGE; i++) {
		if (bp->e820_table[i].type != 1)
			continue;
		e = bp->e820_table[i].addr + bp->e820_table[i].size;
		if (e > end)
			end = e;
	}
	return end;
}

/*
 * The loader maps only the first GiB. The fourth one holds the boot
 * timer and the virtio-mmio windows: map it uncached with 2 MiB pages of
 * our own, then reload CR3 for good measure.
 */
static void map_mmio_hole(void)
{
	volatile uint64_t *pdpt = (volatile uint64_t *)BOOT_PDPT;
	uint64_t *pd = (uint64_t *)pd_hole, cr3;
	unsigned int i;

	for (i = 0; i < 512; i++)
		pd[i] = (HOLE_GIB * (1ULL << 30) + i * HUGE_2M) | PTE_P |
			PTE_RW | PTE_PWT | PTE_PCD | PTE_PS;
	pdpt[HOLE_GIB] = (uint64_t)pd | PTE_P | PTE_RW;
	__asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
}

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
} __attribute__((packed));

/* The loader's 64-bit code selector (boot.rst's __BOOT_CS). */
#define BOOT_CS		0x10
#define GATE_INTR	0x8e
#define NR_EXCEPTIONS	32

static struct idt_gate idt[NR_EXCEPTIONS] __attribute__((aligned(16)));
extern const uint8_t exc_stubs[];

static void install_idt(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint64_t)idt };
	uint64_t stub;
	unsigned int i;

	for (i = 0; i < NR_EXCEPTIONS; i++) {
		stub = (uint64_t)exc_stubs + 16 * i;
		idt[i] = (struct idt_gate){
			.off_lo = stub,
			.sel = BOOT_CS,
			.type = GATE_INTR,
			.off_mid = stub >> 16,
			.off_hi = stub >> 32,
		};
	}
	__asm__ volatile("lidt %0" : : "m"(idtr));
}

/* frame: vector, error code, then what the CPU pushed (rip first). */
void hostile_exception(const uint64_t *frame)
{
	uint64_t cr2;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	puts("\nhostile: exception ");
	putu(frame[0]);
	puts(", error code ");
	putx(frame[1]);
	puts(", rip ");
	putx(frame[2]);
	puts(", cr2 ");
	putx(cr2);
	putc('\n');
	exit_with(STATUS_EXCEPTION);
}

/* ---- the serial attack ---- */

/* Random accesses to all eight UART registers, then the chip made sane. */
static void poke_uart(unsigned int n)
{
	uint16_t port;
	unsigned int w;

	while (n--) {
		w = 1U << rnd_below(3);
		port = SERIAL_PORT + rnd_below(8 - w + 1);
		if (rnd() & 1) {
			if (w == 1)
				inb(port);
			else
				inl(SERIAL_PORT + rnd_below(5));
			continue;
		}
		if (w == 1)
			outb(port, rnd());
		else if (w == 2)
			outw(port, rnd());
		else
			outl(port, rnd());
	}
	rep_insb(SERIAL_PORT, flood_buf, sizeof(flood_buf));
	rep_insl(SERIAL_PORT, flood_buf, sizeof(flood_buf) / 4);
	outb(SERIAL_PORT + 3, 0x03);	/* LCR: 8n1, DLAB off */
	outb(SERIAL_PORT + 4, 0x00);	/* MCR: loopback off */
	outb(SERIAL_PORT + 1, 0x00);	/* IER */
	outb(SERIAL_PORT + 2, 0x07);	/* FCR: FIFOs on, both cleared */
}

static void attack_serial(const char *cl)
{
	uint64_t bytes = cmdline_num(cl, "flood=", 4 << 20), n;
	unsigned int i;

	puts("hostile: serial: random UART pokes\n");
	poke_uart(20000);
	for (i = 0; i < sizeof(flood_buf); i++)
		flood_buf[i] = i % 64 == 63 ? '\n' : 'a' + i % 26;
	puts("hostile: serial: flooding ");
	putu(bytes);
	puts(" bytes\n");
	/*
	 * Plain out, one exit per byte as rep outsb would be too (KVM does
	 * not batch string writes), without KVM's instruction emulator.
	 */
	for (n = 0; n < bytes; n++)
		outb(SERIAL_PORT, flood_buf[n % sizeof(flood_buf)]);
	/* Some slow exits, so the console writer can catch up on the line. */
	for (i = 0; i < 2000; i++)
		inb(SERIAL_PORT + 5);
	puts("\nhostile: serial: flood done\n");
}

/* ---- devices ---- */

struct vdev {
	uint64_t base;
	unsigned int index;
	uint32_t id;
	unsigned int nr_queues;
	const char *name;
	/* vsock: the CID the loader gave us, which our packets must carry. */
	uint64_t cid;
};

static struct vdev devs[VIRTIO_MAX];
static unsigned int nr_devs;

static uint32_t vrd(const struct vdev *d, uint32_t off)
{
	return mmio_rd32(d->base + off);
}

static void vwr(const struct vdev *d, uint32_t off, uint32_t v)
{
	mmio_wr32(d->base + off, v);
}

static void describe(struct vdev *d)
{
	switch (d->id) {
	case VIRTIO_ID_BLOCK:
		d->name = "blk";
		d->nr_queues = 1;
		break;
	case VIRTIO_ID_RNG:
		d->name = "rng";
		d->nr_queues = 1;
		break;
	case VIRTIO_ID_VSOCK:
		d->name = "vsock";
		d->nr_queues = 3;
		d->cid = vrd(d, VIRTIO_MMIO_CONFIG) |
			 (uint64_t)vrd(d, VIRTIO_MMIO_CONFIG + 4) << 32;
		break;
	default:
		d->name = "unknown";
		d->nr_queues = 1;
		break;
	}
}

/* Devices sit at consecutive pages; the first page without magic ends them. */
static void probe_devices(void)
{
	struct vdev *d;

	for (nr_devs = 0; nr_devs < VIRTIO_MAX; nr_devs++) {
		d = &devs[nr_devs];
		d->base = VIRTIO_BASE + nr_devs * VIRTIO_STRIDE;
		d->index = nr_devs;
		if (mmio_rd32(d->base + VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MAGIC)
			break;
		d->id = vrd(d, VIRTIO_MMIO_DEVICE_ID);
		describe(d);
		puts("hostile: virtio ");
		putu(nr_devs);
		puts(": ");
		puts(d->name);
		putc('\n');
	}
}

/* ---- the mmio attack ---- */

/* The scratch area as plausible descriptors that all point back into it. */
static void fill_scratch(void)
{
	struct vring_desc *d = (struct vring_desc *)SCRATCH;
	uint64_t i, n = SCRATCH_SIZE / 2 / sizeof(*d);

	for (i = 0; i < n; i++) {
		d[i].addr = SCRATCH + rnd_below(SCRATCH_SIZE - 4096);
		d[i].len = rnd_below(600);
		d[i].flags = rnd() & 7;
		d[i].next = rnd_below(32);
	}
}

static uint32_t scratch_addr(void)
{
	return (SCRATCH + rnd_below(SCRATCH_SIZE - 8192)) & ~0xfULL;
}

static bool is_ring_low(uint32_t off)
{
	return off == VIRTIO_MMIO_QUEUE_DESC_LOW ||
	       off == VIRTIO_MMIO_QUEUE_AVAIL_LOW ||
	       off == VIRTIO_MMIO_QUEUE_USED_LOW;
}

/*
 * Low halves of ring addresses land in the scratch area or above RAM,
 * so the devices never write over our code; anything else is fair game.
 */
static uint32_t reg_value(uint32_t off)
{
	uint64_t r = rnd();

	if (is_ring_low(off))
		return (r & 1) ? scratch_addr() : (uint32_t)(r >> 8) | 0xc0000000U;
	switch (r & 3) {
	case 0:
		return r >> 32;
	case 1:
		return (r >> 8) & 0xff;
	case 2:
		return 1U << ((r >> 8) & 31);
	}
	return (r >> 8) & 3;
}

static uint64_t mmio_target(void)
{
	uint64_t page = rnd_below(nr_devs + 2);

	/* Page nr_devs + 1 is the boot timer; nr_devs is nobody's. */
	if (page == nr_devs + 1)
		return BOOT_TIMER;
	return VIRTIO_BASE + page * VIRTIO_STRIDE;
}

/* One access: a register of the spec, config space, or any byte at all. */
static void mmio_poke(void)
{
	uint64_t base = mmio_target(), r = rnd();
	unsigned int width = 4;
	uint32_t off;

	if (r & 1) {
		off = rnd_below(0x80) * 4;
	} else if (r & 2) {
		off = 0x100 + rnd_below(0x100);
		width = 1U << rnd_below(4);
	} else {
		width = 1U << rnd_below(4);
		off = rnd_below(0x1000 / width) * width;
	}
	if (base == BOOT_TIMER && width > 1)
		off &= 0xff8;
	if ((r >> 8) % 3 == 0)
		mmio_rd(base + off, width);
	else if (width == 4 && off < 0x100)
		mmio_wr(base + off, 4, reg_value(off));
	else
		mmio_wr(base + off, width, rnd());
}

static bool negotiate(const struct vdev *d, uint64_t want);
static void set_ring(const struct vdev *d, uint32_t q, uint32_t num,
		     uint64_t desc, uint64_t avail, uint64_t used);

/* Now and then a device that really runs, on rings of random junk. */
static void mmio_sane_start(void)
{
	const struct vdev *d = &devs[rnd_below(nr_devs)];
	uint32_t q = rnd_below(d->nr_queues + 1);

	if (!negotiate(d, F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC)))
		return;
	set_ring(d, q, 1U << rnd_below(9), scratch_addr(), scratch_addr(),
		 scratch_addr());
	vwr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
	    VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
	    VIRTIO_CONFIG_S_DRIVER_OK);
	vwr(d, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static void attack_mmio(const char *cl)
{
	uint64_t iters = cmdline_num(cl, "iters=", 100000), i;

	puts("hostile: mmio: ");
	putu(iters);
	puts(" random accesses over ");
	putu(nr_devs);
	puts(" devices and the boot timer\n");
	fill_scratch();
	for (i = 0; i < iters; i++) {
		if (nr_devs && rnd_below(256) == 0)
			mmio_sane_start();
		else
			mmio_poke();
	}
	for (i = 0; i < nr_devs; i++)
		vwr(&devs[i], VIRTIO_MMIO_STATUS, 0);
	puts("hostile: mmio: done\n");
}

/* ---- the virtq attack ---- */

static bool negotiate(const struct vdev *d, uint64_t want)
{
	uint64_t offered;
	uint32_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

	vwr(d, VIRTIO_MMIO_STATUS, 0);
	vwr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vwr(d, VIRTIO_MMIO_STATUS, st);
	vwr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	offered = (uint64_t)vrd(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	vwr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offered |= vrd(d, VIRTIO_MMIO_DEVICE_FEATURES);
	want &= offered;
	vwr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vwr(d, VIRTIO_MMIO_DRIVER_FEATURES, want);
	vwr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vwr(d, VIRTIO_MMIO_DRIVER_FEATURES, want >> 32);
	vwr(d, VIRTIO_MMIO_STATUS, st | VIRTIO_CONFIG_S_FEATURES_OK);
	return vrd(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK;
}

static void set_ring(const struct vdev *d, uint32_t q, uint32_t num,
		     uint64_t desc, uint64_t avail, uint64_t used)
{
	vwr(d, VIRTIO_MMIO_QUEUE_SEL, q);
	vwr(d, VIRTIO_MMIO_QUEUE_NUM, num);
	vwr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, desc);
	vwr(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, desc >> 32);
	vwr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, avail);
	vwr(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, avail >> 32);
	vwr(d, VIRTIO_MMIO_QUEUE_USED_LOW, used);
	vwr(d, VIRTIO_MMIO_QUEUE_USED_HIGH, used >> 32);
	vwr(d, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* One queue as the attacks build it: its rings, and where they go. */
struct ring {
	uint32_t num;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	/* The device and queue under attack, for buffers that must be right. */
	const struct vdev *dev;
	uint32_t queue;
};

static void ring_at(struct ring *r, uint64_t base, uint32_t num)
{
	r->num = num;
	r->desc_gpa = base;
	r->avail_gpa = base + 0x1000;
	r->used_gpa = base + 0x2000;
	r->desc = (struct vring_desc *)r->desc_gpa;
	r->avail = (struct vring_avail *)r->avail_gpa;
	r->used = (struct vring_used *)r->used_gpa;
	memset(r->desc, 0, 0x3000);
}

static void set_desc(struct vring_desc *d, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/* Offer chain head as the next avail entry. */
static void offer(struct ring *r, uint16_t head)
{
	uint16_t idx = r->avail->idx;

	r->avail->ring[idx % r->num] = head;
	barrier();
	r->avail->idx = idx + 1;
}

/*
 * A request the device under attack would serve, at descriptors
 * first.. onwards: a blk GET_ID, a vsock REQUEST to a port nobody
 * listens on (answered with a reset on rx), an rx or rng buffer.
 * Returns the number of descriptors used.
 */
static unsigned int good_chain(struct ring *r, uint16_t first, uint64_t buf)
{
	struct vring_desc *d = r->desc;
	struct virtio_vsock_hdr *h = (struct virtio_vsock_hdr *)buf;

	memset((void *)buf, 0, 256);
	if (r->dev->id == VIRTIO_ID_BLOCK) {
		*(uint32_t *)buf = VIRTIO_BLK_T_GET_ID;
		set_desc(&d[first], buf, 16, VRING_DESC_F_NEXT, first + 1);
		set_desc(&d[first + 1], buf + 64, 20, VRING_DESC_F_WRITE |
			 VRING_DESC_F_NEXT, first + 2);
		set_desc(&d[first + 2], buf + 128, 1, VRING_DESC_F_WRITE, 0);
		return 3;
	}
	if (r->dev->id == VIRTIO_ID_VSOCK && r->queue == 1) {
		h->src_cid = r->dev->cid;
		h->dst_cid = 2;
		h->src_port = 4000;
		h->dst_port = 7777;
		h->type = VIRTIO_VSOCK_TYPE_STREAM;
		h->op = VIRTIO_VSOCK_OP_REQUEST;
		h->buf_alloc = 4096;
		set_desc(&d[first], buf, sizeof(*h), 0, 0);
		return 1;
	}
	set_desc(&d[first], buf, 64, VRING_DESC_F_WRITE, 0);
	return 1;
}

/* Descriptor i chained to next, over a harmless readable buffer. */
static void link(struct ring *r, uint16_t i, uint16_t next)
{
	set_desc(&r->desc[i], RING_BUF, 16, VRING_DESC_F_NEXT, next);
}

/* One descriptor with the given buffer, offered on its own. */
static void lone(struct ring *r, uint64_t addr, uint32_t len, uint16_t flags)
{
	set_desc(&r->desc[0], addr, len, flags, 0);
	offer(r, 0);
}

static void loop_two(struct ring *r)
{
	link(r, 0, 1);
	link(r, 1, 0);
	offer(r, 0);
}

static void loop_self(struct ring *r)
{
	link(r, 0, 0);
	offer(r, 0);
}

/* Through every descriptor, then back into the middle: longer than the ring. */
static void loop_tail(struct ring *r)
{
	unsigned int i;

	for (i = 0; i + 1 < r->num; i++)
		link(r, i, i + 1);
	link(r, r->num - 1, r->num / 2);
	offer(r, 0);
}

static void next_past_ring(struct ring *r)
{
	link(r, 0, r->num);
	offer(r, 0);
}

static void next_ffff(struct ring *r)
{
	link(r, 0, 0xffff);
	offer(r, 0);
}

static void head_past_ring(struct ring *r)
{
	good_chain(r, 0, RING_BUF);
	offer(r, r->num);
}

static void head_ffff(struct ring *r)
{
	good_chain(r, 0, RING_BUF);
	offer(r, 0xffff);
}

static void avail_far_ahead(struct ring *r)
{
	good_chain(r, 0, RING_BUF);
	r->avail->idx = 0x8000;
}

static void avail_past_size(struct ring *r)
{
	good_chain(r, 0, RING_BUF);
	r->avail->idx = r->num + 1;
}

static void buf_past_ram(struct ring *r)
{
	lone(r, ram_end, 16, VRING_DESC_F_WRITE);
}

static void buf_straddles_ram_end(struct ring *r)
{
	lone(r, ram_end - 8, 16, VRING_DESC_F_WRITE);
}

/* The device's own registers as a buffer it should write to. */
static void buf_in_device(struct ring *r)
{
	lone(r, r->dev->base, 64, VRING_DESC_F_WRITE);
}

static void buf_in_lapic(struct ring *r)
{
	lone(r, 0xfee00000ULL, 64, VRING_DESC_F_WRITE);
}

static void buf_at_hole_start(struct ring *r)
{
	lone(r, 0xc0000000ULL, 4096, VRING_DESC_F_WRITE);
}

static void buf_wraps(struct ring *r)
{
	lone(r, 0xfffffffffffff000ULL, 0x2000, VRING_DESC_F_WRITE);
}

static void buf_last_byte(struct ring *r)
{
	lone(r, ~0ULL, 1, VRING_DESC_F_WRITE);
}

static void len_huge(struct ring *r)
{
	lone(r, RING_BUF, 0xffffffffU, VRING_DESC_F_WRITE);
}

/*
 * Readable buffers of most of RAM each, on a ring of 64, so the total
 * passes 2^32 before the chain ends; nothing is written to them.
 */
static void total_over_4g(struct ring *r)
{
	uint64_t start = 0x100000, len = (ram_end - start) & ~0xfffULL;
	unsigned int i;

	r->num = 64;
	for (i = 0; i < r->num; i++)
		set_desc(&r->desc[i], start, len, i + 1 < r->num ?
			 VRING_DESC_F_NEXT : 0, i + 1);
	offer(r, 0);
}

static void len_zero(struct ring *r)
{
	lone(r, RING_BUF, 0, VRING_DESC_F_WRITE);
}

static void read_after_write(struct ring *r)
{
	set_desc(&r->desc[0], RING_BUF, 16, VRING_DESC_F_WRITE |
		 VRING_DESC_F_NEXT, 1);
	set_desc(&r->desc[1], RING_BUF2, 16, 0, 0);
	offer(r, 0);
}

static struct vring_desc *table(uint64_t gpa, unsigned int n)
{
	memset((void *)gpa, 0, n * sizeof(struct vring_desc));
	return (struct vring_desc *)gpa;
}

/* Descriptor 0 points at an indirect table of len bytes at addr. */
static void indirect(struct ring *r, uint64_t addr, uint32_t len,
		     uint16_t flags)
{
	lone(r, addr, len, VRING_DESC_F_INDIRECT | flags);
}

static void ind_nested(struct ring *r)
{
	struct vring_desc *t = table(RING_TABLE, 2);

	set_desc(&t[0], RING_TABLE2, 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(&table(RING_TABLE2, 1)[0], RING_BUF, 64, VRING_DESC_F_WRITE, 0);
	indirect(r, RING_TABLE, 16, 0);
}

/* A table that points at itself. */
static void ind_self(struct ring *r)
{
	set_desc(&table(RING_TABLE, 1)[0], RING_TABLE, 16,
		 VRING_DESC_F_INDIRECT, 0);
	indirect(r, RING_TABLE, 16, 0);
}

static void ind_loop(struct ring *r)
{
	struct vring_desc *t = table(RING_TABLE, 2);

	set_desc(&t[0], RING_BUF, 16, VRING_DESC_F_NEXT, 1);
	set_desc(&t[1], RING_BUF, 16, VRING_DESC_F_NEXT, 0);
	indirect(r, RING_TABLE, 32, 0);
}

static void ind_longer_than_ring(struct ring *r)
{
	unsigned int i, n = r->num + 1;
	struct vring_desc *t = table(RING_TABLE, n);

	for (i = 0; i < n; i++)
		set_desc(&t[i], RING_BUF, 16, i + 1 < n ? VRING_DESC_F_NEXT : 0,
			 i + 1);
	indirect(r, RING_TABLE, n * 16, 0);
}

static void ind_next_past_table(struct ring *r)
{
	struct vring_desc *t = table(RING_TABLE, 2);

	set_desc(&t[0], RING_BUF, 16, VRING_DESC_F_NEXT, 2);
	indirect(r, RING_TABLE, 32, 0);
}

static void ind_len_zero(struct ring *r)
{
	indirect(r, RING_TABLE, 0, 0);
}

static void ind_len_odd(struct ring *r)
{
	set_desc(&table(RING_TABLE, 2)[0], RING_BUF, 16, 0, 0);
	indirect(r, RING_TABLE, 24, 0);
}

static void ind_len_huge(struct ring *r)
{
	indirect(r, RING_TABLE, 0xfffffff0U, 0);
}

static void ind_with_next(struct ring *r)
{
	set_desc(&table(RING_TABLE, 1)[0], RING_BUF, 16, 0, 0);
	indirect(r, RING_TABLE, 16, VRING_DESC_F_NEXT);
}

static void ind_past_ram(struct ring *r)
{
	indirect(r, ram_end, 16, 0);
}

static void ind_in_device(struct ring *r)
{
	indirect(r, r->dev->base, 64, 0);
}

static void ind_wraps(struct ring *r)
{
	indirect(r, ~0ULL - 15, 32, 0);
}

/* Rings the device must refuse at QueueReady. */
static void desc_in_device(struct ring *r)
{
	good_chain(r, 0, RING_BUF);
	offer(r, 0);
	r->desc_gpa = r->dev->base;
}

static void avail_past_ram(struct ring *r)
{
	r->avail_gpa = ram_end;
}

static void used_straddles_ram_end(struct ring *r)
{
	r->used_gpa = ram_end - 8;
}

static void used_misaligned(struct ring *r)
{
	r->used_gpa += 2;
}

static void desc_wraps(struct ring *r)
{
	r->desc_gpa = 0xfffffffffffff000ULL;
}

static void size_not_pow2(struct ring *r)
{
	r->num = 3;
}

static void size_zero(struct ring *r)
{
	r->num = 0;
}

static void size_huge(struct ring *r)
{
	r->num = 0x10000;
}

/* The device writes its used ring over the avail ring it reads. */
static void used_on_avail(struct ring *r)
{
	good_chain(r, 0, RING_BUF);
	offer(r, 0);
	r->used_gpa = r->avail_gpa;
}

/* Its data lands on the descriptor table the next chains come from. */
static void dma_into_desc(struct ring *r)
{
	unsigned int n = good_chain(r, 0, RING_BUF);

	r->desc[n - 1].addr = r->desc_gpa;
	offer(r, 0);
	offer(r, 0);
	offer(r, 0);
}

static void dma_into_avail(struct ring *r)
{
	unsigned int n = good_chain(r, 0, RING_BUF);

	r->desc[n - 1].addr = r->avail_gpa;
	offer(r, 0);
	offer(r, 0);
}

static void valid(struct ring *r)
{
	good_chain(r, 0, RING_BUF);
	offer(r, 0);
}

enum outcome { FAILED, SERVED, IGNORED };
enum expect { MUST_FAIL, MUST_SERVE, ANY };

struct attack {
	const char *name;
	void (*build)(struct ring *r);
	enum expect expect;
};

static const struct attack attacks[] = {
	{ "a loop of two descriptors", loop_two, MUST_FAIL },
	{ "a descriptor chained to itself", loop_self, MUST_FAIL },
	{ "a chain longer than the ring", loop_tail, MUST_FAIL },
	{ "next past the ring", next_past_ring, MUST_FAIL },
	{ "next 0xffff", next_ffff, MUST_FAIL },
	{ "a head past the ring", head_past_ring, MUST_FAIL },
	{ "head 0xffff", head_ffff, MUST_FAIL },
	{ "avail idx 0x8000 ahead", avail_far_ahead, MUST_FAIL },
	{ "avail idx one past the ring", avail_past_size, MUST_FAIL },
	{ "a buffer past RAM", buf_past_ram, MUST_FAIL },
	{ "a buffer across the end of RAM", buf_straddles_ram_end, MUST_FAIL },
	{ "a buffer on the device's registers", buf_in_device, MUST_FAIL },
	{ "a buffer on the local APIC", buf_in_lapic, MUST_FAIL },
	{ "a buffer at the MMIO hole", buf_at_hole_start, MUST_FAIL },
	{ "a buffer wrapping 2^64", buf_wraps, MUST_FAIL },
	{ "a buffer at the last byte of 2^64", buf_last_byte, MUST_FAIL },
	{ "a 4 GiB - 1 buffer", len_huge, MUST_FAIL },
	{ "a chain of more than 4 GiB", total_over_4g, MUST_FAIL },
	{ "a zero-length buffer", len_zero, MUST_FAIL },
	{ "a readable buffer after a writable one", read_after_write, MUST_FAIL },
	{ "nested indirect tables", ind_nested, MUST_FAIL },
	{ "an indirect table pointing at itself", ind_self, MUST_FAIL },
	{ "a loop in an indirect table", ind_loop, MUST_FAIL },
	{ "an indirect table longer than the ring", ind_longer_than_ring, MUST_FAIL },
	{ "next past an indirect table", ind_next_past_table, MUST_FAIL },
	{ "an indirect table of length 0", ind_len_zero, MUST_FAIL },
	{ "an indirect table of 24 bytes", ind_len_odd, MUST_FAIL },
	{ "an indirect table of 4 GiB", ind_len_huge, MUST_FAIL },
	{ "an indirect descriptor with NEXT", ind_with_next, MUST_FAIL },
	{ "an indirect table past RAM", ind_past_ram, MUST_FAIL },
	{ "an indirect table on the device's registers", ind_in_device, MUST_FAIL },
	{ "an indirect table wrapping 2^64", ind_wraps, MUST_FAIL },
	{ "a descriptor table on the device's registers", desc_in_device, MUST_FAIL },
	{ "an avail ring past RAM", avail_past_ram, MUST_FAIL },
	{ "a used ring across the end of RAM", used_straddles_ram_end, MUST_FAIL },
	{ "a misaligned used ring", used_misaligned, MUST_FAIL },
	{ "a descriptor table wrapping 2^64", desc_wraps, MUST_FAIL },
	{ "a ring of 3", size_not_pow2, MUST_FAIL },
	{ "a ring of 0", size_zero, MUST_FAIL },
	{ "a ring of 65536", size_huge, MUST_FAIL },
	{ "the used ring on the avail ring", used_on_avail, ANY },
	{ "data over the descriptor table", dma_into_desc, ANY },
	{ "data over the avail ring", dma_into_avail, ANY },
};

static const struct attack valid_request = {
	"a valid request after the resets", valid, MUST_SERVE,
};

struct tally {
	unsigned int runs;
	unsigned int outcome[3];
	unsigned int unexpected;
};

static const char *const outcome_name[] = { "failed", "served", "ignored" };

/* The vsock queues not under attack: rx buffers, and a tx REQUEST. */
static void sane_queues(const struct vdev *d, uint32_t attacked)
{
	struct ring s;
	uint32_t q;

	for (q = 0; q < d->nr_queues; q++) {
		if (q == attacked)
			continue;
		ring_at(&s, SANE_BASE + q * SANE_STRIDE, QSIZE);
		s.dev = d;
		s.queue = q;
		good_chain(&s, 0, SANE_BASE + q * SANE_STRIDE + 0x8000);
		offer(&s, 0);
		set_ring(d, q, s.num, s.desc_gpa, s.avail_gpa, s.used_gpa);
	}
}

/*
 * The device has answered when it flagged itself failed or used a
 * chain; vsock answers from its own thread, so give it some time.
 */
static enum outcome await(const struct vdev *d, const struct vring_used *used)
{
	unsigned int i;

	for (i = 0; i < POLL_TRIES; i++) {
		if (vrd(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET)
			return FAILED;
		if (used->idx)
			return SERVED;
		(void)vrd(d, VIRTIO_MMIO_INTERRUPT_STATUS);
		spin(SPIN_BETWEEN);
	}
	return IGNORED;
}

/* Only the event queue of vsock is never read without a snapshot. */
static enum expect expected(const struct vdev *d, uint32_t q,
			    const struct attack *a)
{
	if (d->id == VIRTIO_ID_VSOCK && q == 2 && a->build != avail_past_ram &&
	    a->build != used_straddles_ram_end && a->build != used_misaligned &&
	    a->build != desc_in_device && a->build != desc_wraps &&
	    a->build != size_not_pow2 && a->build != size_zero &&
	    a->build != size_huge)
		return ANY;
	return a->expect;
}

static bool as_expected(enum expect e, enum outcome o)
{
	return e == ANY || (e == MUST_FAIL && o == FAILED) ||
	       (e == MUST_SERVE && o == SERVED);
}

static void report(const struct vdev *d, uint32_t q, const struct attack *a,
		   enum outcome o, bool ok)
{
	puts(ok ? "hostile: virtq: " : "hostile: virtq: UNEXPECTED: ");
	puts(d->name);
	puts(" queue ");
	putu(q);
	puts(", ");
	puts(a->name);
	puts(": ");
	puts(outcome_name[o]);
	putc('\n');
}

static bool reset_ok(const struct vdev *d)
{
	uint32_t isr = vrd(d, VIRTIO_MMIO_INTERRUPT_STATUS);

	vwr(d, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	vwr(d, VIRTIO_MMIO_STATUS, 0);
	return vrd(d, VIRTIO_MMIO_STATUS) == 0 &&
	       vrd(d, VIRTIO_MMIO_INTERRUPT_STATUS) == 0;
}

/* One attack on queue q of d, from a fresh handshake to the reset after. */
static void run_attack(const struct vdev *d, uint32_t q,
		       const struct attack *a, struct tally *t)
{
	struct ring r;
	enum outcome o;
	enum expect e = expected(d, q, a);
	bool ok;

	if (!negotiate(d, F(VIRTIO_F_VERSION_1) |
			  F(VIRTIO_RING_F_INDIRECT_DESC))) {
		puts("hostile: virtq: UNEXPECTED: FEATURES_OK refused\n");
		t->unexpected++;
		return;
	}
	sane_queues(d, q);
	ring_at(&r, SCRATCH, QSIZE);
	r.dev = d;
	r.queue = q;
	a->build(&r);
	set_ring(d, q, r.num, r.desc_gpa, r.avail_gpa, r.used_gpa);
	vwr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
	    VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
	    VIRTIO_CONFIG_S_DRIVER_OK);
	vwr(d, VIRTIO_MMIO_QUEUE_NOTIFY, q);
	o = await(d, (const struct vring_used *)RING_USED);
	ok = as_expected(e, o) && reset_ok(d);
	report(d, q, a, o, ok);
	t->runs++;
	t->outcome[o]++;
	t->unexpected += !ok;
}

static bool queue_answers(const struct vdev *d, uint32_t q)
{
	return !(d->id == VIRTIO_ID_VSOCK && q == 2);
}

/* Every device, every queue that answers: a valid request still works. */
static void check_recovery(struct tally *t)
{
	unsigned int i;
	uint32_t q;

	for (i = 0; i < nr_devs; i++)
		for (q = 0; q < devs[i].nr_queues; q++)
			if (queue_answers(&devs[i], q))
				run_attack(&devs[i], q, &valid_request, t);
}

static void print_tally(const char *what, const struct tally *t)
{
	puts("hostile: ");
	puts(what);
	puts(": ");
	putu(t->runs);
	puts(" runs: ");
	putu(t->outcome[FAILED]);
	puts(" failed the device, ");
	putu(t->outcome[SERVED]);
	puts(" served, ");
	putu(t->outcome[IGNORED]);
	puts(" ignored; ");
	putu(t->unexpected);
	puts(" unexpected\n");
}

static unsigned int attack_virtq(void)
{
	struct tally t = { 0 };
	unsigned int i, k;
	uint32_t q;

	for (i = 0; i < nr_devs; i++)
		for (q = 0; q < devs[i].nr_queues; q++)
			for (k = 0; k < sizeof(attacks) / sizeof(attacks[0]); k++)
				run_attack(&devs[i], q, &attacks[k], &t);
	check_recovery(&t);
	print_tally("virtq", &t);
	return t.unexpected;
}

/* After the random accesses, each device must still work after a reset. */
static unsigned int mmio_recovered(void)
{
	struct tally t = { 0 };

	check_recovery(&t);
	print_tally("mmio: recovery", &t);
	return t.unexpected;
}

void hostile_main(const struct boot_params *bp)
{
	const char *cl = (const char *)(uint64_t)bp->hdr.cmd_line_ptr;
	const char *mode = cmdline_arg(cl, "attack=");
	unsigned int bad = 0;

	rng_state = cmdline_num(cl, "seed=", 1) * 0x9e3779b97f4a7c15ULL | 1;
	ram_end = find_ram_end(bp);
	install_idt();
	map_mmio_hole();
	puts("hostile: RAM ends at ");
	putx(ram_end);
	putc('\n');
	probe_devices();
	if (!mode || ram_end < SCRATCH + SCRATCH_SIZE) {
		puts("hostile: need attack= and at least 64 MiB\n");
		exit_with(STATUS_USAGE);
	}
	if (word_is(mode, "serial") || word_is(mode, "all"))
		attack_serial(cl);
	if (word_is(mode, "serial"))
		exit_with(STATUS_SERIAL);
	if (word_is(mode, "mmio") || word_is(mode, "all")) {
		attack_mmio(cl);
		bad += mmio_recovered();
	}
	if (word_is(mode, "mmio"))
		exit_with(bad ? STATUS_BROKEN : STATUS_MMIO);
	if (word_is(mode, "virtq") || word_is(mode, "all"))
		bad += attack_virtq();
	if (word_is(mode, "virtq"))
		exit_with(bad ? STATUS_BROKEN : STATUS_VIRTQ);
	if (word_is(mode, "all"))
		exit_with(bad ? STATUS_BROKEN : 0);
	puts("hostile: unknown attack=\n");
	exit_with(STATUS_USAGE);
}
