/*
 * The split-virtqueue walker against rings written byte by byte from the
 * virtio 1.x layout: descriptor {le64 addr, le32 len, le16 flags,
 * le16 next}, avail {le16 flags, le16 idx, le16 ring[]}, used {le16 flags,
 * le16 idx, {le32 id, le32 len} ring[]}.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "virtq.h"

#define SUITE	"virtq"

/* 64 KiB of RAM around a 16 KiB hole: [0, 32K) and [48K, 80K). */
#define MEM_SIZE	0x10000
#define HOLE_START	0x8000
#define HOLE_END	0xc000
#define DESC		0x1000
#define AVAIL		0x2000
#define USED		0x3000
#define TABLE		0x5000
#define QSIZE		8

#define F_NEXT		1
#define F_WRITE		2
#define F_INDIRECT	4

static _Alignas(4096) uint8_t mem[MEM_SIZE];
static struct guest_mem gm;
static struct virtq vq;
static struct virtq_chain chain;

static void make_avail(uint16_t head)
{
	uint16_t idx = get16(mem + AVAIL + 2);

	put16(mem + AVAIL + 4 + 2 * (idx % QSIZE), head);
	put16(mem + AVAIL + 2, idx + 1);
}

static bool setup(struct check *c, bool indirect)
{
	memset(mem, 0, sizeof(mem));
	if (!CHECK_INT(c, guest_mem_init(&gm, mem, MEM_SIZE, HOLE_START,
					 HOLE_END), 0))
		return false;
	if (!CHECK_INT(c, virtq_init(&vq, &gm, QSIZE, DESC, AVAIL, USED), 0))
		return false;
	vq.indirect = indirect;
	return true;
}

/* One descriptor chain made available; pop must reject the queue. */
static void expect_broken(struct check *c)
{
	CHECK_INT(c, virtq_pop(&vq, &chain), -EINVAL);
	/* A broken queue stays broken; nothing was consumed. */
	CHECK_INT(c, virtq_pop(&vq, &chain), -EINVAL);
	CHECK_U64(c, vq.last_avail_idx, 0);
}

static void test_init_rejects(struct check *c)
{
	if (!setup(c, false))
		return;
	CHECK_INT(c, virtq_init(&vq, &gm, 0, DESC, AVAIL, USED), -EINVAL);
	CHECK_INT(c, virtq_init(&vq, &gm, 3, DESC, AVAIL, USED), -EINVAL);
	CHECK_INT(c, virtq_init(&vq, &gm, 512, DESC, AVAIL, USED), -EINVAL);
	CHECK_INT(c, virtq_init(&vq, &gm, 8, DESC + 8, AVAIL, USED), -EINVAL);
	CHECK_INT(c, virtq_init(&vq, &gm, 8, DESC, AVAIL + 1, USED), -EINVAL);
	CHECK_INT(c, virtq_init(&vq, &gm, 8, DESC, AVAIL, USED + 2), -EINVAL);
	/* Rings running into the hole, inside it, and past RAM. */
	CHECK_INT(c, virtq_init(&vq, &gm, 8, 0x7f90, AVAIL, USED), -EINVAL);
	CHECK_INT(c, virtq_init(&vq, &gm, 8, DESC, 0x8000, USED), -EINVAL);
	CHECK_INT(c, virtq_init(&vq, &gm, 8, DESC, AVAIL, 0x13fc8), -EINVAL);
	CHECK_INT(c, virtq_init(&vq, &gm, 8, DESC, AVAIL, 1ULL << 40),
		  -EINVAL);
	/* Exactly at the end of low RAM is fine: 16 * 8 bytes. */
	CHECK_INT(c, virtq_init(&vq, &gm, 8, 0x7f80, AVAIL, USED), 0);
	CHECK_INT(c, virtq_init(&vq, &gm, 256, DESC, AVAIL, USED), 0);
}

static void test_empty(struct check *c)
{
	if (setup(c, false))
		CHECK_INT(c, virtq_pop(&vq, &chain), 0);
}

static void test_good_chain(struct check *c)
{
	if (!setup(c, false))
		return;
	put_desc(mem + DESC, 0, 0x4000, 0x10, F_NEXT, 1);
	put_desc(mem + DESC, 1, 0x4100, 0x20, F_NEXT, 2);
	put_desc(mem + DESC, 2, 0x4200, 0x100, F_WRITE, 0);
	make_avail(0);
	if (!CHECK_INT(c, virtq_pop(&vq, &chain), 1))
		return;
	CHECK_U64(c, chain.head, 0);
	CHECK_U64(c, chain.nr_segs, 3);
	CHECK_U64(c, chain.nr_readable, 2);
	CHECK_U64(c, chain.readable_len, 0x30);
	CHECK_U64(c, chain.writable_len, 0x100);
	CHECK(c, chain.seg[0].ptr == mem + 0x4000);
	CHECK(c, chain.seg[1].ptr == mem + 0x4100);
	CHECK(c, chain.seg[2].ptr == mem + 0x4200);
	CHECK(c, !chain.seg[0].writable && !chain.seg[1].writable);
	CHECK(c, chain.seg[2].writable);
	CHECK_U64(c, chain.seg[2].len, 0x100);
	CHECK_INT(c, virtq_pop(&vq, &chain), 0);
	CHECK_INT(c, virtq_push(&vq, 0, 0x80), 0);
	CHECK_U64(c, get32(mem + USED + 4), 0);		/* used.ring[0].id */
	CHECK_U64(c, get32(mem + USED + 8), 0x80);	/* used.ring[0].len */
	CHECK_U64(c, get16(mem + USED + 2), 1);		/* used.idx */
	CHECK_INT(c, virtq_push(&vq, 0, 0x80), -EINVAL);
}

static void test_high_ram_buffer(struct check *c)
{
	if (!setup(c, false))
		return;
	put_desc(mem + DESC, 3, 0xc000, 0x10, F_NEXT, 4);
	put_desc(mem + DESC, 4, 0x13ff0, 0x10, F_WRITE, 0);
	make_avail(3);
	if (!CHECK_INT(c, virtq_pop(&vq, &chain), 1))
		return;
	CHECK_U64(c, chain.head, 3);
	CHECK(c, chain.seg[0].ptr == mem + 0x8000);
	CHECK(c, chain.seg[1].ptr == mem + 0xfff0);
}

static void test_indirect_chain(struct check *c)
{
	if (!setup(c, true))
		return;
	/* An odd table address: indirect tables carry no alignment rule. */
	put_desc(mem + DESC, 0, TABLE + 3, 48, F_INDIRECT, 0);
	put_desc(mem + TABLE + 3, 0, 0x4000, 8, F_NEXT, 1);
	put_desc(mem + TABLE + 3, 1, 0x4100, 16, F_WRITE | F_NEXT, 2);
	put_desc(mem + TABLE + 3, 2, 0x4200, 32, F_WRITE, 0);
	make_avail(0);
	if (!CHECK_INT(c, virtq_pop(&vq, &chain), 1))
		return;
	CHECK_U64(c, chain.nr_segs, 3);
	CHECK_U64(c, chain.nr_readable, 1);
	CHECK_U64(c, chain.readable_len, 8);
	CHECK_U64(c, chain.writable_len, 48);
	CHECK(c, chain.seg[2].ptr == mem + 0x4200);
	CHECK_INT(c, virtq_push(&vq, 0, 48), 0);
}

static void test_indirect_after_direct(struct check *c)
{
	if (!setup(c, true))
		return;
	put_desc(mem + DESC, 0, 0x4000, 8, F_NEXT, 1);
	put_desc(mem + DESC, 1, TABLE, 32, F_INDIRECT, 0);
	put_desc(mem + TABLE, 0, 0x4100, 8, F_NEXT, 1);
	put_desc(mem + TABLE, 1, 0x4200, 8, F_WRITE, 0);
	make_avail(0);
	if (CHECK_INT(c, virtq_pop(&vq, &chain), 1))
		CHECK_U64(c, chain.nr_segs, 3);
}

static void test_indirect_not_negotiated(struct check *c)
{
	if (!setup(c, false))
		return;
	put_desc(mem + DESC, 0, TABLE, 16, F_INDIRECT, 0);
	put_desc(mem + TABLE, 0, 0x4000, 8, 0, 0);
	make_avail(0);
	expect_broken(c);
}

static void test_avail_idx_jump(struct check *c)
{
	unsigned int i;

	if (!setup(c, false))
		return;
	put_desc(mem + DESC, 0, 0x4000, 8, 0, 0);
	put16(mem + AVAIL + 2, QSIZE + 1);
	expect_broken(c);
	/* A full ring, exactly QSIZE ahead, is legal. */
	put16(mem + AVAIL + 2, QSIZE);
	for (i = 0; i < QSIZE; i++)
		CHECK_INT(c, virtq_pop(&vq, &chain), 1);
	CHECK_INT(c, virtq_pop(&vq, &chain), 0);
	/* Behind last_avail_idx looks like a jump of almost 64K. */
	put16(mem + AVAIL + 2, QSIZE - 1);
	CHECK_INT(c, virtq_pop(&vq, &chain), -EINVAL);
}

static void test_head_out_of_range(struct check *c)
{
	if (!setup(c, false))
		return;
	make_avail(QSIZE);
	expect_broken(c);
	put16(mem + AVAIL + 4, 0xffff);
	expect_broken(c);
}

static void test_next_out_of_range(struct check *c)
{
	if (!setup(c, false))
		return;
	put_desc(mem + DESC, 0, 0x4000, 8, F_NEXT, QSIZE);
	make_avail(0);
	expect_broken(c);
}

static void test_loop(struct check *c)
{
	if (!setup(c, false))
		return;
	put_desc(mem + DESC, 0, 0x4000, 8, F_NEXT, 1);
	put_desc(mem + DESC, 1, 0x4000, 8, F_NEXT, 0);
	make_avail(0);
	expect_broken(c);
	put_desc(mem + DESC, 0, 0x4000, 8, F_NEXT, 0);
	expect_broken(c);
}

static void test_longest_chain(struct check *c)
{
	unsigned int i;

	if (!setup(c, false))
		return;
	for (i = 0; i < QSIZE; i++)
		put_desc(mem + DESC, i, 0x4000 + i, 1, i < QSIZE - 1 ? F_NEXT : 0,
			 i + 1);
	make_avail(0);
	if (CHECK_INT(c, virtq_pop(&vq, &chain), 1))
		CHECK_U64(c, chain.nr_segs, QSIZE);
	/* One more link turns it into a loop. */
	put_desc(mem + DESC, QSIZE - 1, 0x4000, 1, F_NEXT, 0);
	make_avail(0);
	CHECK_INT(c, virtq_pop(&vq, &chain), -EINVAL);
}

static void test_indirect_bad_len(struct check *c)
{
	if (!setup(c, true))
		return;
	put_desc(mem + DESC, 0, TABLE, 0, F_INDIRECT, 0);
	make_avail(0);
	expect_broken(c);
	put_desc(mem + DESC, 0, TABLE, 24, F_INDIRECT, 0);
	expect_broken(c);
	/* More entries than the queue has: longer than any legal chain. */
	put_desc(mem + DESC, 0, TABLE, 16 * (QSIZE + 1), F_INDIRECT, 0);
	expect_broken(c);
	put_desc(mem + DESC, 0, TABLE, 16 * QSIZE, F_INDIRECT, 0);
	put_desc(mem + TABLE, 0, 0x4000, 4, 0, 0);
	if (CHECK_INT(c, virtq_pop(&vq, &chain), 1))
		CHECK_U64(c, chain.nr_segs, 1);
}

static void test_indirect_nested(struct check *c)
{
	if (!setup(c, true))
		return;
	put_desc(mem + DESC, 0, TABLE, 32, F_INDIRECT, 0);
	put_desc(mem + TABLE, 0, 0x4000, 8, F_NEXT, 1);
	put_desc(mem + TABLE, 1, TABLE, 32, F_INDIRECT, 0);
	make_avail(0);
	expect_broken(c);
}

static void test_indirect_with_next(struct check *c)
{
	if (!setup(c, true))
		return;
	put_desc(mem + DESC, 0, TABLE, 16, F_INDIRECT | F_NEXT, 1);
	put_desc(mem + DESC, 1, 0x4000, 8, 0, 0);
	put_desc(mem + TABLE, 0, 0x4100, 8, 0, 0);
	make_avail(0);
	expect_broken(c);
}

static void test_indirect_table_outside_ram(struct check *c)
{
	if (!setup(c, true))
		return;
	put_desc(mem + DESC, 0, HOLE_START, 16, F_INDIRECT, 0);
	make_avail(0);
	expect_broken(c);
	put_desc(mem + DESC, 0, HOLE_START - 16, 32, F_INDIRECT, 0);
	expect_broken(c);
	put_desc(mem + DESC, 0, 0x20000, 16, F_INDIRECT, 0);
	expect_broken(c);
	put_desc(mem + DESC, 0, UINT64_MAX - 15, 32, F_INDIRECT, 0);
	expect_broken(c);
}

static void test_indirect_loop(struct check *c)
{
	if (!setup(c, true))
		return;
	put_desc(mem + DESC, 0, TABLE, 32, F_INDIRECT, 0);
	put_desc(mem + TABLE, 0, 0x4000, 8, F_NEXT, 1);
	put_desc(mem + TABLE, 1, 0x4000, 8, F_NEXT, 0);
	make_avail(0);
	expect_broken(c);
	/* next indexes the table, not the ring: 2 is past a 2-entry table. */
	put_desc(mem + TABLE, 1, 0x4000, 8, F_NEXT, 2);
	expect_broken(c);
}

static void test_buffer_outside_ram(struct check *c)
{
	if (!setup(c, false))
		return;
	put_desc(mem + DESC, 0, 0x14000, 1, 0, 0);
	make_avail(0);
	expect_broken(c);
	put_desc(mem + DESC, 0, 0x13ff0, 0x20, 0, 0);
	expect_broken(c);
	put_desc(mem + DESC, 0, UINT64_MAX - 0xf, 0x20, 0, 0);
	expect_broken(c);
	put_desc(mem + DESC, 0, 0x4000, 0xffffffff, 0, 0);
	expect_broken(c);
}

static void test_buffer_in_hole(struct check *c)
{
	if (!setup(c, false))
		return;
	put_desc(mem + DESC, 0, HOLE_START, 1, F_WRITE, 0);
	make_avail(0);
	expect_broken(c);
	put_desc(mem + DESC, 0, HOLE_START - 1, 2, F_WRITE, 0);
	expect_broken(c);
	put_desc(mem + DESC, 0, HOLE_END - 1, 1, F_WRITE, 0);
	expect_broken(c);
	/* Spanning the hole is not contiguous guest memory either. */
	put_desc(mem + DESC, 0, 0x7000, 0x6000, F_WRITE, 0);
	expect_broken(c);
}

/*
 * Needs buffers over 4 GiB in total, so back the guest with a sparse
 * mapping; the walker only ever touches the rings.
 */
static void test_total_len_overflow(struct check *c)
{
	const uint64_t size = (1ULL << 32) + 0x10000;
	struct guest_mem big;
	uint8_t *p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!CHECK(c, p != MAP_FAILED))
		return;
	if (!CHECK_INT(c, guest_mem_init(&big, p, size, 1ULL << 33,
					 1ULL << 33), 0) ||
	    !CHECK_INT(c, virtq_init(&vq, &big, QSIZE, DESC, AVAIL, USED), 0))
		goto unmap;
	put64(p + DESC, 0x10000);
	put32(p + DESC + 8, 0xffff0000);
	put16(p + DESC + 12, F_NEXT);
	put16(p + DESC + 14, 1);
	put64(p + DESC + 16, 0x10000);
	put32(p + DESC + 24, 0xffff);
	put16(p + DESC + 28, F_WRITE);
	put16(p + AVAIL + 2, 1);
	/* 0xffff0000 + 0xffff = 0xffffffff: the largest legal total. */
	if (CHECK_INT(c, virtq_pop(&vq, &chain), 1))
		CHECK_U64(c, chain.writable_len, 0xffff);
	put16(p + AVAIL + 2, 2);
	put32(p + DESC + 24, 0x10000);
	CHECK_INT(c, virtq_pop(&vq, &chain), -EINVAL);
unmap:
	munmap(p, size);
}

static void test_zero_length(struct check *c)
{
	if (!setup(c, false))
		return;
	put_desc(mem + DESC, 0, 0x4000, 0, F_NEXT, 1);
	put_desc(mem + DESC, 1, 0x4100, 16, F_WRITE, 0);
	make_avail(0);
	/* Skipped by default, and its address is never used. */
	if (CHECK_INT(c, virtq_pop(&vq, &chain), 1)) {
		CHECK_U64(c, chain.nr_segs, 1);
		CHECK(c, chain.seg[0].ptr == mem + 0x4100);
	}
	vq.no_empty = true;
	make_avail(0);
	CHECK_INT(c, virtq_pop(&vq, &chain), -EINVAL);
}

static void test_readable_after_writable(struct check *c)
{
	if (!setup(c, true))
		return;
	put_desc(mem + DESC, 0, 0x4000, 8, F_WRITE | F_NEXT, 1);
	put_desc(mem + DESC, 1, 0x4100, 8, 0, 0);
	make_avail(0);
	expect_broken(c);
	/* The same rule inside an indirect table. */
	put_desc(mem + DESC, 0, TABLE, 32, F_INDIRECT, 0);
	put_desc(mem + TABLE, 0, 0x4000, 8, F_WRITE | F_NEXT, 1);
	put_desc(mem + TABLE, 1, 0x4100, 8, 0, 0);
	expect_broken(c);
	/* And across the boundary from direct to indirect. */
	put_desc(mem + DESC, 0, 0x4000, 8, F_WRITE | F_NEXT, 1);
	put_desc(mem + DESC, 1, TABLE, 16, F_INDIRECT, 0);
	put_desc(mem + TABLE, 0, 0x4100, 8, 0, 0);
	expect_broken(c);
}

static void test_chain_longer_than_queue(struct check *c)
{
	unsigned int i;

	if (!setup(c, true))
		return;
	/* Seven direct buffers plus a two-entry table: nine > QSIZE. */
	for (i = 0; i < QSIZE - 1; i++)
		put_desc(mem + DESC, i, 0x4000, 1, F_NEXT, i + 1);
	put_desc(mem + DESC, QSIZE - 1, TABLE, 32, F_INDIRECT, 0);
	put_desc(mem + TABLE, 0, 0x4100, 8, F_NEXT, 1);
	put_desc(mem + TABLE, 1, 0x4200, 8, 0, 0);
	make_avail(0);
	expect_broken(c);
	/* One table entry makes exactly eight: accepted. */
	put_desc(mem + DESC, QSIZE - 1, TABLE, 16, F_INDIRECT, 0);
	put_desc(mem + TABLE, 0, 0x4100, 8, 0, 0);
	if (CHECK_INT(c, virtq_pop(&vq, &chain), 1))
		CHECK_U64(c, chain.nr_segs, QSIZE);
}

static void test_push_rejects(struct check *c)
{
	if (!setup(c, false))
		return;
	CHECK_INT(c, virtq_push(&vq, 0, 0), -EINVAL);
	put_desc(mem + DESC, 0, 0x4000, 8, 0, 0);
	make_avail(0);
	CHECK_INT(c, virtq_pop(&vq, &chain), 1);
	CHECK_INT(c, virtq_push(&vq, QSIZE, 0), -EINVAL);
	CHECK_U64(c, get16(mem + USED + 2), 0);
}

static void test_index_wrap(struct check *c)
{
	if (!setup(c, false))
		return;
	vq.last_avail_idx = 0xffff;
	vq.used_idx = 0xffff;
	put_desc(mem + DESC, 2, 0x4000, 8, 0, 0);
	put_desc(mem + DESC, 5, 0x4100, 8, F_WRITE, 0);
	put16(mem + AVAIL + 4 + 2 * 7, 2);		/* ring[0xffff % 8] */
	put16(mem + AVAIL + 4, 5);			/* ring[0] */
	put16(mem + AVAIL + 2, 1);
	if (!CHECK_INT(c, virtq_pop(&vq, &chain), 1))
		return;
	CHECK_U64(c, chain.head, 2);
	if (!CHECK_INT(c, virtq_pop(&vq, &chain), 1))
		return;
	CHECK_U64(c, chain.head, 5);
	CHECK_INT(c, virtq_pop(&vq, &chain), 0);
	CHECK_INT(c, virtq_push(&vq, 2, 0), 0);
	CHECK_INT(c, virtq_push(&vq, 5, 8), 0);
	CHECK_U64(c, get32(mem + USED + 4 + 8 * 7), 2);
	CHECK_U64(c, get32(mem + USED + 4), 5);
	CHECK_U64(c, get32(mem + USED + 8), 8);
	CHECK_U64(c, get16(mem + USED + 2), 1);
}

static void test_notify(struct check *c)
{
	if (!setup(c, false))
		return;
	CHECK(c, virtq_should_notify(&vq));
	put16(mem + AVAIL, 1);				/* NO_INTERRUPT */
	CHECK(c, !virtq_should_notify(&vq));
}

static void test_chain_fits(struct check *c)
{
	if (!setup(c, false))
		return;
	put_desc(mem + DESC, 0, 0x4000, 10, F_NEXT, 1);
	put_desc(mem + DESC, 1, 0x4100, 20, F_WRITE, 0);
	make_avail(0);
	if (!CHECK_INT(c, virtq_pop(&vq, &chain), 1))
		return;
	CHECK(c, virtq_chain_fits(&chain, 10, 20));
	CHECK(c, !virtq_chain_fits(&chain, 11, 0));
	CHECK(c, !virtq_chain_fits(&chain, 0, 21));
}

int main(void)
{
	RUN(SUITE, test_init_rejects);
	RUN(SUITE, test_empty);
	RUN(SUITE, test_good_chain);
	RUN(SUITE, test_high_ram_buffer);
	RUN(SUITE, test_indirect_chain);
	RUN(SUITE, test_indirect_after_direct);
	RUN(SUITE, test_indirect_not_negotiated);
	RUN(SUITE, test_avail_idx_jump);
	RUN(SUITE, test_head_out_of_range);
	RUN(SUITE, test_next_out_of_range);
	RUN(SUITE, test_loop);
	RUN(SUITE, test_longest_chain);
	RUN(SUITE, test_indirect_bad_len);
	RUN(SUITE, test_indirect_nested);
	RUN(SUITE, test_indirect_with_next);
	RUN(SUITE, test_indirect_table_outside_ram);
	RUN(SUITE, test_indirect_loop);
	RUN(SUITE, test_buffer_outside_ram);
	RUN(SUITE, test_buffer_in_hole);
	RUN(SUITE, test_total_len_overflow);
	RUN(SUITE, test_zero_length);
	RUN(SUITE, test_readable_after_writable);
	RUN(SUITE, test_chain_longer_than_queue);
	RUN(SUITE, test_push_rejects);
	RUN(SUITE, test_index_wrap);
	RUN(SUITE, test_notify);
	RUN(SUITE, test_chain_fits);
	return check_exit();
}
