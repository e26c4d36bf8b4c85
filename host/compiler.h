/* The kernel's attribute shorthands, for code written in its style. */
#ifndef AGENTBOX_COMPILER_H
#define AGENTBOX_COMPILER_H

#define __packed		__attribute__((packed))
#define __printf(fmt, args)	__attribute__((format(printf, fmt, args)))

#endif /* AGENTBOX_COMPILER_H */
