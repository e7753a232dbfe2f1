/* ia32 compat syscalls: the entry points that feed them to the file, kernel-activity and network bodies.
 *
 * The per-syscall tracepoints (syscalls/sys_*_X) never fire for an ia32 syscall, whether a 32-bit program or
 * a 64-bit one (`int $0x80`) makes it, so these programs sit on the hooks every syscall passes and return at
 * once unless the thread is in an ia32 syscall (TS_COMPAT). Each such hook costs every syscall of every task
 * the kernel's dispatch to a BPF program (docs/PERFORMANCE.md), so:
 * - everything is done at exit, where the arguments are still in the saved registers (ebx, ecx, edx, esi,
 *   edi, ebp) and the result is known: a file call goes to the file body (a tail call into file_sys_exit,
 *   the every-syscall file program, loaded for this but attached only where the kernel lacks per-syscall
 *   tracepoints; it reads the ia32 table in an ia32 syscall), each activity op runs its enter body right
 *   before its exit body (their act_pending pairing is kept, keyed by pid_tgid);
 * - both hooks are tp_btf (raw) tracepoints: a classic raw_syscalls tracepoint costs every syscall the perf
 *   buffer set-up before the program even runs (+150 ns on a getppid here, against ~+25 ns for tp_btf; the
 *   ia32_cost bench); file_sys_exit is a tp_btf/sys_exit program too, so the exit hook can tail-call it;
 * - only mprotect and splice read state the call is about to change (vma flags, pipe flags): ia32_sys_enter
 *   exists for them, and the loader attaches it only while one of them is wanted;
 * - where file_sys_exit is attached (the every-syscall fallback), it takes ia32 file calls itself and the
 *   loader leaves ia32_file_body empty: the tail call below then does nothing.
 * What is wanted (ops, the file family) is in ia32_state, kept by the loader in step with the native hooks. */
#pragma once

#include "ia32.h"
#include "kernel.h"
#include "mount_api.h"
#include "net.h"
#include "file.h"

/* socketcall call numbers (linux/net.h) */
#define SYS_BIND_ 2
#define SYS_CONNECT_ 3
#define SYS_ACCEPT_ 5
#define SYS_ACCEPT4_ 18

/* What user space wants of the ia32 syscalls: the activity ops (bit KOP_*) and the file family. */
struct ia32_state {
	__u64 ops;
	__u32 file;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ia32_state);
} ia32_state SEC(".maps");

struct ia32_state _ia32_state_type = {};

/* The file body for ia32 file calls: file_sys_exit, set by the loader in per-syscall mode. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ia32_file_body SEC(".maps");

static __always_inline struct ia32_state *ia32_wanted(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&ia32_state, &zero);
}

static __always_inline int ia32_op_wanted(struct ia32_state *st, __u32 op)
{
	return op < 64 && ((st->ops >> op) & 1);
}

/* Arguments past the call's own are not the caller's: zeroed, as the native entry points leave them. */
static __always_inline void ia32_trim(__u64 *a, __u8 nargs)
{
	for (int i = 0; i < 6; i++)
		if (i >= nargs)
			a[i] = 0;
}

/* setfsuid/setfsgid: reported when the call asked for another id than the one it returns (the previous
 * one; -1 only queries). The kernel's ids in the record are read after the call, so a refused request shows
 * the unchanged id; a change is never missed. Both values are as the caller's user namespace sees them. */
static __always_inline int ia32_enter_fs_id(__u32 op, const __u64 *a, long ret, __u8 uid16)
{
	__u32 want = a[0], old = uid16 ? (__u16)ret : (__u32)ret;
	__u64 cur = cur_fsid(op == KOP_SETGID);
	int changed = want != 0xffffffffu && want != old;

	act_count(op, ACT_SEEN);
	/* kact_exit_cred reports when the id at exit differs from the one recorded here */
	return act_enter(op, a, ORIGIN_IA32, KACT_FS_VARIANT, changed ? ~cur : cur, 0);
}

/* One kernel-activity or network op of an ia32 syscall, at its exit: the enter body with the arguments
 * (mprotect and splice had theirs at sys_enter), then the exit body. */
static __always_inline int ia32_activity(__u32 op, const volatile struct ia32_desc *e, __u64 *a, long ret)
{
	const __u32 o = ORIGIN_IA32;

	switch (op) {
	case KOP_BPF:
		kact_enter_bpf(a, o);
		return kact_exit_bpf(ret);
	case KOP_PTRACE:
		kact_enter_op(op, a, o);
		return kact_exit_ptrace(ret);
	case KOP_MMAP:
		kact_enter_mmap(a, o);
		return kact_exit_mmap(ret);
	case KOP_MPROTECT:
		return kact_exit_mprotect(ret);
	case KOP_INIT_MODULE:
		kact_enter_op(op, a, o);
		return kact_exit_init_module(ret);
	case KOP_FINIT_MODULE:
		kact_enter_op(op, a, o);
		return kact_exit_finit_module(ret);
	case KOP_DELETE_MODULE:
		kact_enter_op(op, a, o);
		return kact_exit_delete_module(ret);
	case KOP_SETUID:
	case KOP_SETGID:
	case KOP_CAPSET:
		if (e->shape == IA32_SH_FS_ID)
			ia32_enter_fs_id(op, a, ret, e->uid16);
		else
			kact_enter_cred(op, a, 0, o);
		return kact_exit_cred(op, ret);
	case KOP_KILL:
		if (e->shape == IA32_SH_PIDFD_SIGNAL)
			kact_enter_pidfd_send_signal(a, o);
		else if (e->shape == IA32_SH_TKILL)
			kact_enter_kill(a[0], a[1], a[0], o);
		else if (e->shape == IA32_SH_TGKILL)
			kact_enter_kill(a[0], a[2], a[1], o);
		else
			kact_enter_kill(a[0], a[1], 0, o);
		return kact_exit_plain(op, ret);
	case KOP_MOUNT:
		if (e->shape == IA32_SH_OPEN_TREE) {
			kact_enter_open_tree(a, o);
			return kact_exit_open_tree(ret);
		}
		kact_enter_op(op, a, o);
		if (e->shape == IA32_SH_MOVE_MOUNT)
			return kact_exit_move_mount(ret);
		if (e->shape == IA32_SH_FSMOUNT)
			return kact_exit_fsmount(ret);
		return kact_exit_mount(ret);
	case KOP_UMOUNT:
		kact_enter_op(op, a, o);
		return kact_exit_umount(ret);
	case KOP_MEMFD_CREATE:
		kact_enter_op(op, a, o);
		return kact_exit_memfd_create(ret);
	case KOP_SPLICE:
		return kact_exit_splice(ret);
	case KOP_PRCTL:
		kact_enter_op(op, a, o);
		return kact_exit_prctl(ret);
	case KOP_UNSHARE:
		kact_enter_op(op, a, o);
		return kact_exit_plain(op, ret);
	case KOP_SETNS:
		kact_enter_op(op, a, o);
		return kact_exit_setns(ret);
	case KOP_SETRLIMIT:
		if (e->shape == IA32_SH_SETRLIMIT)
			kact_enter_setrlimit(0, a[0], a[1], 1, o);
		else
			kact_enter_setrlimit(a[0], a[1], a[2], 0, o);
		return kact_exit_setrlimit(ret);
	case KOP_CONNECT:
	case KOP_BIND:
		act_count(op, ACT_SEEN);
		return net_addr_report(op, ret, o, a[1], a[2], a[0], NULL, NULL);
	case KOP_ACCEPT:
		act_count(op, ACT_SEEN);
		return net_accept_report(ret, o, ret == -EAGAIN ? NULL : act_fd_sock(ret >= 0 ? (__u64)ret : a[0]), NULL);
	}
	return 0;
}

/* socketcall(call, args): the network op `call` names, its arguments read from the caller's u32 array
 * (as the kernel just did; a thread that rewrites the array after the kernel copied it can make this read
 * differ, the window every sockaddr read at exit has). */
static __always_inline int ia32_socketcall(struct ia32_state *st, const volatile struct ia32_desc *e, __u64 *a,
					   long ret)
{
	__u32 call = a[0], op, args[3] = {};

	if (call == SYS_CONNECT_)
		op = KOP_CONNECT;
	else if (call == SYS_BIND_)
		op = KOP_BIND;
	else if (call == SYS_ACCEPT_ || call == SYS_ACCEPT4_)
		op = KOP_ACCEPT;
	else
		return 0;
	if (!ia32_op_wanted(st, op) || origin_read(args, sizeof(args), (void *)a[1], ORIGIN_IA32))
		return 0;
	a[0] = args[0];
	a[1] = args[1];
	a[2] = args[2];
	return ia32_activity(op, e, a, ret);
}

/* The ia32 exit dispatch: a mount change's discarder bump, then the call's activity op, or its file body. */
static __always_inline int ia32_exit(void *ctx, struct pt_regs *regs, __u32 nr, long ret)
{
	const volatile struct ia32_desc *e;
	struct ia32_state *st;
	__u32 op;
	__u64 a[6];

	if (nr >= IA32_TABLE_LEN || act_is_agent(bpf_get_current_pid_tgid()))
		return 0;
	barrier_var(nr); /* keep the mask: clang drops it as redundant, the verifier needs it */
	e = &ia32_table[nr & (IA32_TABLE_LEN - 1)];
	st = ia32_wanted();
	if (!st)
		return 0;
	if (e->file.special == SP_BUMP && ret == 0 && st->file)
		bump_revision();
	if (e->kop) {
		op = e->kop - 1;
		if (!ia32_op_wanted(st, op))
			return 0;
		ia32_args(regs, e, a);
		if (e->shape == IA32_SH_OLD_MMAP) {
			__u32 m[6] = {};
			if (origin_read(m, sizeof(m), (void *)a[0], ORIGIN_IA32))
				return 0;
			for (int i = 0; i < 6; i++)
				a[i] = m[i];
		} else {
			ia32_trim(a, e->nargs);
		}
		return ia32_activity(op, e, a, ret);
	}
	if (e->shape == IA32_SH_SOCKETCALL) {
		ia32_args(regs, e, a);
		ia32_trim(a, e->nargs);
		return ia32_socketcall(st, e, a, ret);
	}
	if (e->file.type && st->file)
		bpf_tail_call(ctx, &ia32_file_body, 0);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(ia32_sys_exit, struct pt_regs *regs, long ret)
{
	if (!in_ia32_syscall())
		return 0;
	return ia32_exit(ctx, regs, (__u32)regs->orig_ax, ret);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(ia32_sys_enter, struct pt_regs *regs, long id)
{
	const volatile struct ia32_desc *e;
	struct ia32_state *st;
	__u32 nr = (__u32)id, op;
	__u64 a[6];

	if (!in_ia32_syscall() || nr >= IA32_TABLE_LEN)
		return 0;
	barrier_var(nr); /* keep the mask: clang drops it as redundant, the verifier needs it */
	e = &ia32_table[nr & (IA32_TABLE_LEN - 1)];
	op = e->kop - 1;
	if (op != KOP_MPROTECT && op != KOP_SPLICE)
		return 0;
	st = ia32_wanted();
	if (!st || !ia32_op_wanted(st, op))
		return 0;
	ia32_args(regs, e, a);
	ia32_trim(a, e->nargs);
	if (op == KOP_MPROTECT)
		return kact_enter_mprotect(a, ORIGIN_IA32);
	return kact_enter_splice(a, ORIGIN_IA32);
}
