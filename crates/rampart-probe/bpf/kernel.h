/* Kernel-activity family: bpf, ptrace, mmap/mprotect, module load/unload, credential changes, signals,
 * mount/umount, memfd_create, splice, prctl, unshare/setns.
 *
 * One classic tracepoint pair per syscall (sys_enter_X / sys_exit_X), so only these syscalls pay: the entry
 * stores the arguments (and state the syscall is about to change) in act_pending, the exit builds a
 * kact_event with the return value and reads user strings (at exit they are resident, see DESIGN.md).
 * The loader leaves unloaded the programs of event types nobody asked for, and those whose tracepoint the
 * kernel lacks (module syscalls without CONFIG_MODULES). */
#pragma once

#include "act_common.h"

#define BPF_MAP_CREATE 0
#define BPF_PROG_LOAD 5
#define MAP_ANONYMOUS 0x20
#define PTRACE_TRACEME 0
#define PR_SET_NAME 15
#define NSFS_MAGIC 0x6e736673

/* Before 6.18 the namespace type lived in the operations table. */
struct proc_ns_operations___old {
	int type;
} __attribute__((preserve_access_index));

struct ns_common___old {
	const struct proc_ns_operations___old *ops;
} __attribute__((preserve_access_index));

/* 16 KiB exactly, a power of two, so that masking the output length bounds it for the verifier. */
#define KACT_SCRATCH_LEN 16384
struct kact_scratch {
	struct kact_event ev;
	char data[KACT_SCRATCH_LEN - sizeof(struct kact_event)];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kact_scratch);
} kact_heap SEC(".maps");

struct kact_event _kact_event_type = {};
struct act_counters _act_counters_type = {};

#define SYS_ENTER(name) \
	SEC("tracepoint/syscalls/sys_enter_" #name) int act_enter_##name(struct trace_event_raw_sys_enter *ctx)
#define SYS_EXIT(name) \
	SEC("tracepoint/syscalls/sys_exit_" #name) int act_exit_##name(struct trace_event_raw_sys_exit *ctx)



/* The scratch record for an exiting syscall, header and fixed part filled from its pending entry. */
static __always_inline struct kact_scratch *kact_begin(const struct act_pending *p, long ret)
{
	__u32 zero = 0;
	struct kact_scratch *s = bpf_map_lookup_elem(&kact_heap, &zero);
	__u64 id = bpf_get_current_pid_tgid();

	if (!s)
		return NULL;
	fill_header(&s->ev.hdr, RECORD_KACT);
	s->ev.pid = id >> 32;
	s->ev.tid = (__u32)id;
	s->ev.op = p->op;
	s->ev.flags = p->flags & KACT_FS_VARIANT;
	s->ev.retval = ret;
	fill_creds(&s->ev.creds, bpf_get_current_task_btf());
	for (int i = 0; i < 6; i++)
		s->ev.args[i] = p->args[i];
	for (int i = 0; i < 4; i++)
		s->ev.extra[i] = 0;
	__builtin_memset(&s->ev.file, 0, sizeof(s->ev.file));
	s->ev.s0_len = 0;
	s->ev.s1_len = 0;
	s->ev.s2_len = 0;
	return s;
}

/* A user string into data[off..], at most max - 1 bytes kept; returns its length without the NUL. The
 * 2 * max headroom keeps the bound visible to the verifier whatever `off` was. */
static __always_inline __u32 kact_user_str(struct kact_scratch *s, __u32 off, __u64 uptr, const __u32 max)
{
	long n;

	if (!uptr || off > KACT_DATA_LEN - 2 * max)
		return 0;
	n = bpf_probe_read_user_str(s->data + off, max, (const void *)uptr);
	return n > 1 ? n - 1 : 0;
}

/* s0 := the path of `f` (dentry walk across mounts), and the record's file metadata. */
static __always_inline void kact_file(struct kact_scratch *s, struct file *f)
{
	struct work *w = work_buf();
	struct walk *c;
	__u32 len;

	if (!f || !w)
		return;
	c = &w->walk;
	fill_file(&s->ev.file, f);
	s->ev.flags |= KACT_HAS_FILE;
	c->pos = PATH_MAX_LEN;
	c->truncated = 0;
	walk_dentries(c, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt));
	len = finish_path(w, c);
	if (c->truncated)
		s->ev.flags |= KACT_PATH_TRUNCATED;
	if (len > KACT_PATH_MAX)
		len = KACT_PATH_MAX;
	barrier_var(len);
	len &= 2 * KACT_PATH_MAX - 1;
	if (bpf_probe_read_kernel(s->data, len, &w->path[c->pos & (PATH_MAX_LEN - 1)]))
		len = 0;
	s->ev.s0_len = len;
}

static __always_inline void kact_emit(struct kact_scratch *s)
{
	__u32 op = s->ev.op;
	__u32 len = sizeof(struct kact_event) + s->ev.s0_len + s->ev.s1_len + s->ev.s2_len;

	barrier_var(len);
	len &= KACT_SCRATCH_LEN - 1; /* a no-op: the sections are far smaller */
	if (bpf_ringbuf_output(&events, s, len, rb_flags()))
		act_count(op, ACT_LOST);
	else
		act_count(op, ACT_SENT);
}

/* Appends a user string as s1 (after s0) or s2 (after s0 and s1). */
static __always_inline void kact_s1(struct kact_scratch *s, __u64 uptr)
{
	s->ev.s1_len = kact_user_str(s, s->ev.s0_len, uptr, KACT_STR_MAX);
}

static __always_inline void kact_s2(struct kact_scratch *s, __u64 uptr)
{
	s->ev.s2_len = kact_user_str(s, (__u32)s->ev.s0_len + s->ev.s1_len, uptr, KACT_NAME_MAX);
}

/* The common entry: count, store the arguments. */
static __always_inline int kact_enter_plain(__u32 op, struct trace_event_raw_sys_enter *ctx, const int nargs)
{
	__u64 a[6];

	act_count(op, ACT_SEEN);
	act_args(ctx, a, nargs);
	return act_enter(op, a, 0, 0, 0);
}

/* The common exit for ops whose record is the arguments and the return value. */
static __always_inline int kact_exit_plain(__u32 op, long ret)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(op, &p))
		return 0;
	s = kact_begin(&p, ret);
	if (s)
		kact_emit(s);
	return 0;
}

/* ---- bpf(cmd, attr, size): args[0] cmd; extra[0] map/prog type, extra[1] expected attach type,
 * extra[2] the loaded program's tag (8 bytes), extra[3] 1 when extra[2] is set; s2 the map/prog name. */
SYS_ENTER(bpf)
{
	__u64 cmd = ctx->args[0];

	act_count(KOP_BPF, ACT_SEEN);
	if (cmd < 64 && !(act_bpf_cmd_mask & (1ull << cmd))) {
		act_count(KOP_BPF, ACT_FILTERED);
		return 0;
	}
	__u64 a[6];
	act_args(ctx, a, 3);
	return act_enter(KOP_BPF, a, 0, 0, 0);
}

SYS_EXIT(bpf)
{
	struct act_pending p;
	struct kact_scratch *s;
	__u64 attr, size, cmd;
	__u32 type = 0, attach = 0;

	if (!act_take(KOP_BPF, &p))
		return 0;
	s = kact_begin(&p, ctx->ret);
	if (!s)
		return 0;
	cmd = p.args[0];
	attr = p.args[1];
	size = p.args[2];
	if (cmd == BPF_MAP_CREATE && size >= offsetof(union bpf_attr, map_name) + 16) {
		bpf_probe_read_user(&type, sizeof(type), (void *)attr);
		s->ev.extra[0] = type;
		kact_s2(s, attr + offsetof(union bpf_attr, map_name));
	} else if (cmd == BPF_PROG_LOAD && size >= offsetof(union bpf_attr, expected_attach_type) + 4) {
		bpf_probe_read_user(&type, sizeof(type), (void *)attr);
		bpf_probe_read_user(&attach, sizeof(attach),
				    (void *)(attr + offsetof(union bpf_attr, expected_attach_type)));
		s->ev.extra[0] = type;
		s->ev.extra[1] = attach;
		kact_s2(s, attr + offsetof(union bpf_attr, prog_name));
		if (ctx->ret >= 0) {
			/* the kernel's own view of the new program: its tag */
			struct file *f = act_fd_file(ctx->ret);
			struct bpf_prog *prog = f ? BPF_CORE_READ(f, private_data) : NULL;
			if (prog && !bpf_probe_read_kernel(&s->ev.extra[2], 8, &prog->tag))
				s->ev.extra[3] = 1;
		}
	}
	kact_emit(s);
	return 0;
}

/* ---- ptrace(request, pid, addr, data): args[0] request, args[1] tracee (the caller for TRACEME). */
SYS_ENTER(ptrace)
{
	return kact_enter_plain(KOP_PTRACE, ctx, 4);
}

SYS_EXIT(ptrace)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_PTRACE, &p))
		return 0;
	if (p.args[0] == PTRACE_TRACEME)
		p.args[1] = bpf_get_current_pid_tgid() >> 32;
	s = kact_begin(&p, ctx->ret);
	if (s)
		kact_emit(s);
	return 0;
}

/* ---- mmap(addr, len, prot, flags, fd, off): reported when prot & act_mmap_prot_mask (default PROT_EXEC:
 * code being mapped); s0/file the mapped file. */
SYS_ENTER(mmap)
{
	__u64 prot = ctx->args[2];

	act_count(KOP_MMAP, ACT_SEEN);
	if (act_mmap_prot_mask && !(prot & act_mmap_prot_mask)) {
		act_count(KOP_MMAP, ACT_FILTERED);
		return 0;
	}
	__u64 a[6];
	act_args(ctx, a, 6);
	return act_enter(KOP_MMAP, a, 0, 0, 0);
}

SYS_EXIT(mmap)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_MMAP, &p))
		return 0;
	s = kact_begin(&p, ctx->ret);
	if (!s)
		return 0;
	if (!(p.args[3] & MAP_ANONYMOUS) && (__s32)p.args[4] >= 0)
		kact_file(s, act_fd_file((__u32)p.args[4]));
	kact_emit(s);
	return 0;
}

/* ---- mprotect(start, len, prot): reported when prot & act_mprotect_prot_mask; extra[0] the vm_flags of
 * the vma at `start` before the call. */
static long vma_flags_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	*(__u64 *)data = BPF_CORE_READ(vma, vm_flags);
	return 0;
}

SYS_ENTER(mprotect)
{
	__u64 prot = ctx->args[2], flags = 0, a[6];

	act_count(KOP_MPROTECT, ACT_SEEN);
	if (act_mprotect_prot_mask && !(prot & act_mprotect_prot_mask)) {
		act_count(KOP_MPROTECT, ACT_FILTERED);
		return 0;
	}
	bpf_find_vma(bpf_get_current_task_btf(), ctx->args[0], vma_flags_cb, &flags, 0);
	act_args(ctx, a, 3);
	return act_enter(KOP_MPROTECT, a, 0, flags, 0);
}

SYS_EXIT(mprotect)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_MPROTECT, &p))
		return 0;
	s = kact_begin(&p, ctx->ret);
	if (!s)
		return 0;
	s->ev.extra[0] = p.pre[0];
	kact_emit(s);
	return 0;
}

/* ---- modules: init_module(image, len, uargs) s1 = args; finit_module(fd, uargs, flags) s0/file = the
 * module file, s1 = args; delete_module(name, flags) s2 = name. */
SYS_ENTER(init_module)
{
	return kact_enter_plain(KOP_INIT_MODULE, ctx, 3);
}

SYS_EXIT(init_module)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_INIT_MODULE, &p))
		return 0;
	s = kact_begin(&p, ctx->ret);
	if (!s)
		return 0;
	kact_s1(s, p.args[2]);
	kact_emit(s);
	return 0;
}

SYS_ENTER(finit_module)
{
	return kact_enter_plain(KOP_FINIT_MODULE, ctx, 3);
}

SYS_EXIT(finit_module)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_FINIT_MODULE, &p))
		return 0;
	s = kact_begin(&p, ctx->ret);
	if (!s)
		return 0;
	kact_file(s, act_fd_file((__u32)p.args[0]));
	kact_s1(s, p.args[1]);
	kact_emit(s);
	return 0;
}

SYS_ENTER(delete_module)
{
	return kact_enter_plain(KOP_DELETE_MODULE, ctx, 2);
}

SYS_EXIT(delete_module)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_DELETE_MODULE, &p))
		return 0;
	s = kact_begin(&p, ctx->ret);
	if (!s)
		return 0;
	kact_s2(s, p.args[0]);
	kact_emit(s);
	return 0;
}

/* ---- credentials: reported on success only, with the new ids read from the task at exit
 * (extra[0..3] = uid, euid, fsuid or gid, egid, fsgid; capset: effective, permitted, inheritable).
 * setfsuid/setfsgid return the previous id, so they are reported when the id changed. */
static __always_inline __u64 cur_fsid(int gid)
{
	const struct cred *cred = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), cred);
	return gid ? BPF_CORE_READ(cred, fsgid.val) : BPF_CORE_READ(cred, fsuid.val);
}

static __always_inline int cred_enter(__u32 op, struct trace_event_raw_sys_enter *ctx, __u32 fs, const int nargs)
{
	__u64 a[6];

	act_count(op, ACT_SEEN);
	act_args(ctx, a, nargs);
	return act_enter(op, a, fs ? KACT_FS_VARIANT : 0, fs ? cur_fsid(op == KOP_SETGID) : 0, 0);
}

static __always_inline int cred_exit(__u32 op, long ret)
{
	struct act_pending p;
	struct kact_scratch *s;
	const struct cred *cred;

	if (!act_take(op, &p))
		return 0;
	if (p.flags & KACT_FS_VARIANT ? cur_fsid(op == KOP_SETGID) == p.pre[0] : ret != 0) {
		act_count(op, ACT_FILTERED); /* failed, or no change */
		return 0;
	}
	s = kact_begin(&p, ret);
	if (!s)
		return 0;
	cred = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), cred);
	if (op == KOP_SETUID) {
		s->ev.extra[0] = BPF_CORE_READ(cred, uid.val);
		s->ev.extra[1] = BPF_CORE_READ(cred, euid.val);
		s->ev.extra[2] = BPF_CORE_READ(cred, fsuid.val);
	} else if (op == KOP_SETGID) {
		s->ev.extra[0] = BPF_CORE_READ(cred, gid.val);
		s->ev.extra[1] = BPF_CORE_READ(cred, egid.val);
		s->ev.extra[2] = BPF_CORE_READ(cred, fsgid.val);
	} else {
		bpf_core_read(&s->ev.extra[0], 8, &cred->cap_effective);
		bpf_core_read(&s->ev.extra[1], 8, &cred->cap_permitted);
		bpf_core_read(&s->ev.extra[2], 8, &cred->cap_inheritable);
	}
	kact_emit(s);
	return 0;
}

#define CRED_HOOK(name, op, fs, nargs)          \
	SYS_ENTER(name)                  \
	{                                \
		return cred_enter(op, ctx, fs, nargs); \
	}                                \
	SYS_EXIT(name)                   \
	{                                \
		return cred_exit(op, ctx->ret); \
	}

CRED_HOOK(setuid, KOP_SETUID, 0, 1)
CRED_HOOK(setreuid, KOP_SETUID, 0, 2)
CRED_HOOK(setresuid, KOP_SETUID, 0, 3)
CRED_HOOK(setfsuid, KOP_SETUID, 1, 1)
CRED_HOOK(setgid, KOP_SETGID, 0, 1)
CRED_HOOK(setregid, KOP_SETGID, 0, 2)
CRED_HOOK(setresgid, KOP_SETGID, 0, 3)
CRED_HOOK(setfsgid, KOP_SETGID, 1, 1)
CRED_HOOK(capset, KOP_CAPSET, 0, 2)

/* ---- signals, normalised to args[0] target pid (tid for tkill), args[1] signal, args[2] tid. */
static __always_inline int kill_enter(__u64 pid, __u64 sig, __u64 tid)
{
	__u64 a[6] = { pid, sig, tid, 0, 0, 0 };

	act_count(KOP_KILL, ACT_SEEN);
	return act_enter(KOP_KILL, a, 0, 0, 0);
}

SYS_ENTER(kill)
{
	return kill_enter(ctx->args[0], ctx->args[1], 0);
}

SYS_ENTER(tkill)
{
	return kill_enter(ctx->args[0], ctx->args[1], ctx->args[0]);
}

SYS_ENTER(tgkill)
{
	return kill_enter(ctx->args[0], ctx->args[2], ctx->args[1]);
}

SYS_EXIT(kill)
{
	return kact_exit_plain(KOP_KILL, ctx->ret);
}

SYS_EXIT(tkill)
{
	return kact_exit_plain(KOP_KILL, ctx->ret);
}

SYS_EXIT(tgkill)
{
	return kact_exit_plain(KOP_KILL, ctx->ret);
}

/* ---- mount(source, target, fstype, flags, data): s0 target, s1 source, s2 fs type (as passed).
 * umount2(target, flags): s0 target. */
SYS_ENTER(mount)
{
	return kact_enter_plain(KOP_MOUNT, ctx, 5);
}

SYS_EXIT(mount)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_MOUNT, &p))
		return 0;
	s = kact_begin(&p, ctx->ret);
	if (!s)
		return 0;
	s->ev.s0_len = kact_user_str(s, 0, p.args[1], KACT_PATH_MAX);
	kact_s1(s, p.args[0]);
	kact_s2(s, p.args[2]);
	kact_emit(s);
	return 0;
}

SYS_ENTER(umount)
{
	return kact_enter_plain(KOP_UMOUNT, ctx, 2);
}

SYS_EXIT(umount)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_UMOUNT, &p))
		return 0;
	s = kact_begin(&p, ctx->ret);
	if (!s)
		return 0;
	s->ev.s0_len = kact_user_str(s, 0, p.args[0], KACT_PATH_MAX);
	kact_emit(s);
	return 0;
}

/* ---- memfd_create(name, flags): s2 name. */
SYS_ENTER(memfd_create)
{
	return kact_enter_plain(KOP_MEMFD_CREATE, ctx, 2);
}

SYS_EXIT(memfd_create)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_MEMFD_CREATE, &p))
		return 0;
	s = kact_begin(&p, ctx->ret);
	if (!s)
		return 0;
	kact_s2(s, p.args[0]);
	kact_emit(s);
	return 0;
}

/* ---- splice(fd_in, off_in, fd_out, off_out, len, flags): extra[0]/extra[1] the flags of the pipe's last
 * buffer before/after the call (PIPE_BUF_FLAG_CAN_MERGE on a page-cache page is Dirty Pipe), extra[2] 1
 * when a pipe was found; s0/file the non-pipe side. */
static __always_inline struct file *splice_pipe(__u64 fd_in, __u64 fd_out)
{
	struct file *f = act_fd_file(fd_out);

	if (f && act_file_type(f) == S_IFIFO)
		return f;
	f = act_fd_file(fd_in);
	if (f && act_file_type(f) == S_IFIFO)
		return f;
	return NULL;
}

static __always_inline __u64 pipe_last_flags(struct file *f)
{
	struct pipe_inode_info *pipe = BPF_CORE_READ(f, private_data);
	__u32 head, size;
	struct pipe_buffer *buf;

	if (!pipe)
		return 0;
	head = BPF_CORE_READ(pipe, head);
	size = BPF_CORE_READ(pipe, ring_size);
	if (!size)
		return 0;
	buf = (void *)BPF_CORE_READ(pipe, bufs) + ((head - 1) & (size - 1)) * bpf_core_type_size(struct pipe_buffer);
	return BPF_CORE_READ(buf, flags);
}

SYS_ENTER(splice)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct file *pipe;
	__u64 a[6];

	act_count(KOP_SPLICE, ACT_SEEN);
	act_args(ctx, a, 6);
	pipe = splice_pipe(a[0], a[2]);
	return act_enter(KOP_SPLICE, a, 0, pipe ? pipe_last_flags(pipe) : 0, pipe != NULL);
}

SYS_EXIT(splice)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct act_pending p;
	struct kact_scratch *s;
	struct file *pipe, *in, *other;

	if (!act_take(KOP_SPLICE, &p))
		return 0;
	s = kact_begin(&p, ctx->ret);
	if (!s)
		return 0;
	pipe = splice_pipe(p.args[0], p.args[2]);
	s->ev.extra[0] = p.pre[0];
	s->ev.extra[1] = pipe ? pipe_last_flags(pipe) : 0;
	s->ev.extra[2] = p.pre[1];
	in = act_fd_file(p.args[0]);
	other = in == pipe ? act_fd_file(p.args[2]) : in;
	if (other && other != pipe)
		kact_file(s, other);
	kact_emit(s);
	return 0;
}

/* ---- prctl(option, arg2, …): s2 the new name for PR_SET_NAME (read past the kernel's 16 bytes to
 * tell a truncated name). */
SYS_ENTER(prctl)
{
	return kact_enter_plain(KOP_PRCTL, ctx, 5);
}

SYS_EXIT(prctl)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_PRCTL, &p))
		return 0;
	s = kact_begin(&p, ctx->ret);
	if (!s)
		return 0;
	if (p.args[0] == PR_SET_NAME)
		kact_s2(s, p.args[1]);
	kact_emit(s);
	return 0;
}

/* ---- unshare(flags); setns(fd, nstype): extra[0] the namespace type of the fd when nstype is 0. */
SYS_ENTER(unshare)
{
	return kact_enter_plain(KOP_UNSHARE, ctx, 1);
}

SYS_EXIT(unshare)
{
	return kact_exit_plain(KOP_UNSHARE, ctx->ret);
}

SYS_ENTER(setns)
{
	return kact_enter_plain(KOP_SETNS, ctx, 2);
}

SYS_EXIT(setns)
{
	struct act_pending p;
	struct kact_scratch *s;
	struct file *f;
	struct inode *inode;

	if (!act_take(KOP_SETNS, &p))
		return 0;
	s = kact_begin(&p, ctx->ret);
	if (!s)
		return 0;
	f = act_fd_file((__u32)p.args[0]);
	inode = f ? BPF_CORE_READ(f, f_inode) : NULL;
	if (inode && BPF_CORE_READ(inode, i_sb, s_magic) == NSFS_MAGIC) {
		struct ns_common *ns = BPF_CORE_READ(inode, i_private);
		if (bpf_core_field_exists(ns->ns_type))
			s->ev.extra[0] = BPF_CORE_READ(ns, ns_type);
		else
			s->ev.extra[0] = BPF_CORE_READ((struct ns_common___old *)ns, ops, type);
	}
	kact_emit(s);
	return 0;
}
