/*
 * Intel MultiProcessor Specification 1.4 tables. Without ACPI this is how
 * Linux learns about the vCPUs, the IOAPIC and the ISA IRQ routing.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "compiler.h"
#include "layout.h"
#include "mptable.h"

#define MP_SPEC_REV		4
#define MP_LAPIC_VERSION	0x14
#define MP_IOAPIC_VERSION	0x11
/* Family 6, and the FPU and APIC feature bits, as a plain PC reports. */
#define MP_CPU_SIGNATURE	0x600
#define MP_CPU_FEATURES		((1U << 0) | (1U << 9))

enum mp_entry_type {
	MP_PROCESSOR = 0,
	MP_BUS = 1,
	MP_IOAPIC = 2,
	MP_IOINTR = 3,
	MP_LINTR = 4,
};

#define MP_CPU_ENABLED		(1U << 0)
#define MP_CPU_BSP		(1U << 1)
#define MP_IOAPIC_ENABLED	(1U << 0)
#define MP_INT			0
#define MP_NMI			1
#define MP_EXTINT		3
/* Polarity and trigger "conform to the bus": edge, active high on ISA. */
#define MP_IRQ_CONFORM		0
#define MP_ALL_LAPICS		0xff
#define MP_ISA_BUS_ID		0

struct mp_floating {
	char signature[4];
	uint32_t config;
	uint8_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t feature[5];
} __packed;

struct mp_config {
	char signature[4];
	uint16_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entries;
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __packed;

struct mp_cpu {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_ver;
	uint8_t flags;
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __packed;

struct mp_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];
} __packed;

struct mp_ioapic {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_ver;
	uint8_t flags;
	uint32_t addr;
} __packed;

/* Both interrupt assignment entry types share one layout. */
struct mp_intr {
	uint8_t type;
	uint8_t irq_type;
	uint16_t irq_flags;
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_apic;
	uint8_t dst_pin;
} __packed;

_Static_assert(sizeof(struct mp_floating) == 16, "MP floating pointer");
_Static_assert(sizeof(struct mp_config) == 44, "MP config header");
_Static_assert(sizeof(struct mp_cpu) == 20, "MP processor entry");
_Static_assert(sizeof(struct mp_bus) == 8, "MP bus entry");
_Static_assert(sizeof(struct mp_ioapic) == 8, "MP IOAPIC entry");
_Static_assert(sizeof(struct mp_intr) == 8, "MP interrupt entry");
_Static_assert(LAYOUT_MPTABLE_ADDR % 16 == 0,
	       "MP floating pointer must be paragraph aligned");

#define MP_NR_LINTS		2

static unsigned int nr_entries(unsigned int nr_cpus)
{
	return nr_cpus + 2 + LAYOUT_IOAPIC_PINS + MP_NR_LINTS;
}

size_t mptable_size(unsigned int nr_cpus)
{
	return sizeof(struct mp_floating) + sizeof(struct mp_config) +
	       nr_cpus * sizeof(struct mp_cpu) + sizeof(struct mp_bus) +
	       sizeof(struct mp_ioapic) +
	       (LAYOUT_IOAPIC_PINS + MP_NR_LINTS) * sizeof(struct mp_intr);
}

_Static_assert(sizeof(struct mp_floating) + sizeof(struct mp_config) +
	       MPTABLE_MAX_CPUS * sizeof(struct mp_cpu) +
	       sizeof(struct mp_bus) + sizeof(struct mp_ioapic) +
	       (LAYOUT_IOAPIC_PINS + MP_NR_LINTS) * sizeof(struct mp_intr) <=
	       LAYOUT_MPTABLE_MAX, "MP table for the most vCPUs must fit");

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return (uint8_t)-sum;
}

static uint8_t *put(uint8_t *p, const void *entry, size_t len)
{
	memcpy(p, entry, len);
	return p + len;
}

static uint8_t *put_cpus(uint8_t *p, unsigned int nr_cpus)
{
	struct mp_cpu cpu = {
		.type = MP_PROCESSOR,
		.apic_ver = MP_LAPIC_VERSION,
		.signature = MP_CPU_SIGNATURE,
		.features = MP_CPU_FEATURES,
	};
	unsigned int i;

	for (i = 0; i < nr_cpus; i++) {
		cpu.apic_id = i;
		cpu.flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0);
		p = put(p, &cpu, sizeof(cpu));
	}
	return p;
}

static uint8_t *put_bus_and_ioapic(uint8_t *p, uint8_t ioapic_id)
{
	struct mp_bus bus = {
		.type = MP_BUS,
		.bus_id = MP_ISA_BUS_ID,
		.bus_type = { 'I', 'S', 'A', ' ', ' ', ' ' },
	};
	struct mp_ioapic ioapic = {
		.type = MP_IOAPIC,
		.apic_id = ioapic_id,
		.apic_ver = MP_IOAPIC_VERSION,
		.flags = MP_IOAPIC_ENABLED,
		.addr = LAYOUT_IOAPIC_ADDR,
	};

	p = put(p, &bus, sizeof(bus));
	return put(p, &ioapic, sizeof(ioapic));
}

/* ISA IRQ n goes to IOAPIC pin n for every pin, as Firecracker does. */
static uint8_t *put_io_interrupts(uint8_t *p, uint8_t ioapic_id)
{
	struct mp_intr in = {
		.type = MP_IOINTR,
		.irq_type = MP_INT,
		.irq_flags = MP_IRQ_CONFORM,
		.src_bus = MP_ISA_BUS_ID,
		.dst_apic = ioapic_id,
	};
	unsigned int i;

	for (i = 0; i < LAYOUT_IOAPIC_PINS; i++) {
		in.src_irq = i;
		in.dst_pin = i;
		p = put(p, &in, sizeof(in));
	}
	return p;
}

/* The PIC drives LINT0 (ExtINT) and NMIs arrive on LINT1, on every CPU. */
static uint8_t *put_local_interrupts(uint8_t *p)
{
	struct mp_intr lint = {
		.type = MP_LINTR,
		.irq_flags = MP_IRQ_CONFORM,
		.src_bus = MP_ISA_BUS_ID,
		.dst_apic = MP_ALL_LAPICS,
	};

	lint.irq_type = MP_EXTINT;
	lint.dst_pin = 0;
	p = put(p, &lint, sizeof(lint));
	lint.irq_type = MP_NMI;
	lint.dst_pin = 1;
	return put(p, &lint, sizeof(lint));
}

static void put_headers(uint8_t *base, unsigned int nr_cpus, size_t size)
{
	struct mp_floating *mpf = (struct mp_floating *)base;
	struct mp_config *cfg = (struct mp_config *)(mpf + 1);
	size_t cfg_len = size - sizeof(*mpf);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->config = LAYOUT_MPTABLE_ADDR + sizeof(*mpf);
	mpf->length = sizeof(*mpf) / 16;
	mpf->spec_rev = MP_SPEC_REV;
	mpf->checksum = checksum(base, sizeof(*mpf));

	memcpy(cfg->signature, "PCMP", 4);
	cfg->length = cfg_len;
	cfg->spec_rev = MP_SPEC_REV;
	memcpy(cfg->oem, "AGENTBOX", 8);
	memcpy(cfg->product, "MICROVM     ", 12);
	cfg->entries = nr_entries(nr_cpus);
	cfg->lapic = LAYOUT_LAPIC_ADDR;
	cfg->checksum = checksum((uint8_t *)cfg, cfg_len);
}

int mptable_write(struct guest_mem *gm, unsigned int nr_cpus)
{
	size_t size;
	uint8_t *base, *p;

	if (!nr_cpus)
		return -EINVAL;
	if (nr_cpus > MPTABLE_MAX_CPUS)
		return -E2BIG;
	size = mptable_size(nr_cpus);
	base = gm_ptr(gm, LAYOUT_MPTABLE_ADDR, size);
	if (!base)
		return -EFAULT;
	/* Checksums cover every byte, so start from a clean slate. */
	memset(base, 0, size);
	p = base + sizeof(struct mp_floating) + sizeof(struct mp_config);
	p = put_cpus(p, nr_cpus);
	p = put_bus_and_ioapic(p, nr_cpus);
	p = put_io_interrupts(p, nr_cpus);
	put_local_interrupts(p);
	put_headers(base, nr_cpus, size);
	return 0;
}
