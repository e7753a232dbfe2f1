/* ia32 compat syscalls: what the file family and the compat entry points (compat.h) share. */
#pragma once

#include "common.h"
#include "ia32_syscalls.h"

/* thread_info.status bit set from an ia32 syscall's entry to its return to user mode
 * (arch/x86/include/asm/thread_info.h; in_ia32_syscall()). */
#define TS_COMPAT_ 0x0002
/* __USER32_CS: the user code segment of 32-bit code (a 64-bit task's is __USER_CS, 0x33). */
#define USER32_CS_ 0x23
/* file_touched key of an ia32 syscall: above every native syscall number */
#define IA32_NR_KEY 0x10000

#define O_LARGEFILE_ 0100000
#define PAGE_SHIFT_ 12

/* The current thread is in an ia32 syscall (int $0x80, sysenter or syscall from 32-bit code; from a 64-bit
 * task too). One load: thread_info is the first member of task_struct on x86. */
static __always_inline int in_ia32_syscall(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (!bpf_core_field_exists(task->thread_info.status))
		return 0; /* not x86 */
	return task->thread_info.status & TS_COMPAT_;
}

/* `task` runs a 32-bit image: its user code segment is the 32-bit one (set by start_thread for an ia32 ELF,
 * so right after exec it says what the new image is). */
static __always_inline int task_runs_ia32(struct task_struct *task)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

	return regs && BPF_CORE_READ(regs, cs) == USER32_CS_;
}

/* The file family's descriptor of the current syscall `nr` (the ia32 table in an ia32 syscall) and its
 * file_touched key, or NULL. */
static __always_inline const volatile struct sys_desc *file_syscall_desc(__u64 nr, __u32 *key)
{
	if (in_ia32_syscall()) {
		if (nr >= IA32_TABLE_LEN)
			return NULL;
		*key = nr | IA32_NR_KEY;
		barrier_var(nr);
		return &ia32_table[nr & (IA32_TABLE_LEN - 1)].file;
	}
	if (nr >= SYS_TABLE_LEN)
		return NULL;
	*key = nr;
	barrier_var(nr);
	return &sys_table[nr & (SYS_TABLE_LEN - 1)];
}

/* The call's six arguments as the kernel reads them: the low halves of the saved registers (the upper
 * halves are whatever a 64-bit caller of `int $0x80` left there), with the ia32 specifics of `e` undone. */
static __always_inline void ia32_args(struct pt_regs *regs, const volatile struct ia32_desc *e, __u64 *a)
{
	__u8 uid16 = e->uid16, flags_arg = e->file.flags, shape = e->shape;

	a[0] = (__u32)regs->bx;
	a[1] = (__u32)regs->cx;
	a[2] = (__u32)regs->dx;
	a[3] = (__u32)regs->si;
	a[4] = (__u32)regs->di;
	a[5] = (__u32)regs->bp;
	for (int i = 0; i < 6; i++) {
		if (!((uid16 >> i) & 1))
			continue;
		/* old_uid_t: 16 bits, 0xffff is -1 ("unchanged") */
		a[i] = (__u16)a[i] == 0xffff ? 0xffffffffu : (__u16)a[i];
	}
	if (shape == IA32_SH_OPEN && flags_arg < 6)
		a[flags_arg & 7] &= ~(__u64)O_LARGEFILE_;
	else if (shape == IA32_SH_MMAP2)
		a[5] <<= PAGE_SHIFT_;
}
