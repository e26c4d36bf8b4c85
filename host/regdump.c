#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "compiler.h"
#include "regdump.h"

struct out {
	char *buf;
	size_t size;
	size_t len;
};

__printf(2, 3)
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->len >= o->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += n;
	if (o->len >= o->size)
		o->len = o->size - 1;
}

#define R(x)	((unsigned long long)(x))

static void put_regs(struct out *o, const struct kvm_regs *r)
{
	put(o, "  rip %016llx rsp %016llx rflags %016llx\n",
	    R(r->rip), R(r->rsp), R(r->rflags));
	put(o, "  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n",
	    R(r->rax), R(r->rbx), R(r->rcx), R(r->rdx));
	put(o, "  rsi %016llx rdi %016llx rbp %016llx r8  %016llx\n",
	    R(r->rsi), R(r->rdi), R(r->rbp), R(r->r8));
	put(o, "  r9  %016llx r10 %016llx r11 %016llx r12 %016llx\n",
	    R(r->r9), R(r->r10), R(r->r11), R(r->r12));
	put(o, "  r13 %016llx r14 %016llx r15 %016llx\n",
	    R(r->r13), R(r->r14), R(r->r15));
}

static void put_seg(struct out *o, const char *name,
		    const struct kvm_segment *s)
{
	put(o, "  %-3s %04x base %016llx limit %08x type %x dpl %u%s%s%s%s\n",
	    name, s->selector, R(s->base), s->limit, s->type, s->dpl,
	    s->present ? " p" : "", s->l ? " l" : "", s->db ? " db" : "",
	    s->unusable ? " unusable" : "");
}

static void put_sregs(struct out *o, const struct kvm_sregs *s)
{
	put(o, "  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx\n",
	    R(s->cr0), R(s->cr2), R(s->cr3), R(s->cr4));
	put(o, "  cr8 %016llx efer %016llx apic_base %016llx\n",
	    R(s->cr8), R(s->efer), R(s->apic_base));
	put_seg(o, "cs", &s->cs);
	put_seg(o, "ss", &s->ss);
	put_seg(o, "ds", &s->ds);
	put_seg(o, "es", &s->es);
	put_seg(o, "fs", &s->fs);
	put_seg(o, "gs", &s->gs);
	put_seg(o, "tr", &s->tr);
	put(o, "  gdt base %016llx limit %04x  idt base %016llx limit %04x\n",
	    R(s->gdt.base), s->gdt.limit, R(s->idt.base), s->idt.limit);
}

void regdump_format(char *buf, size_t size, const struct kvm_regs *r,
		    const struct kvm_sregs *s)
{
	struct out o = { .buf = buf, .size = size, .len = 0 };

	if (!size)
		return;
	buf[0] = '\0';
	if (r)
		put_regs(&o, r);
	if (s)
		put_sregs(&o, s);
}
