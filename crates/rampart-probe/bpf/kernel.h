/* Kernel-activity family: bpf, ptrace, mmap/mprotect, module load/unload, credential changes, signals,
 * mount/umount, memfd_create, splice, prctl, unshare/setns, setrlimit/prlimit64.
 *
 * One classic tracepoint pair per syscall (sys_enter_X / sys_exit_X), so only these syscalls pay: the entry
 * stores the arguments (and state the syscall is about to change) in act_pending, the exit builds a
 * kact_event with the return value and reads user strings (at exit they are resident, see DESIGN.md).
 * The loader leaves unloaded the programs of event types nobody asked for, and those whose tracepoint the
 * kernel lacks (module syscalls without CONFIG_MODULES). */
#pragma once

#include "act_common.h"

/* BPF_MAP_CREATE and BPF_PROG_LOAD are vmlinux.h's (enum bpf_cmd). UAPI macros vmlinux.h lacks, checked
 * against libc by src/abi/tests.rs: */
enum kernel_uapi {
	MAP_ANONYMOUS = 0x20,
	PTRACE_TRACEME = 0,
	PR_SET_NAME = 15,
};
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
	s->ev.origin = p->origin;
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

/* A string the call's arguments point to (user memory, or the kernel's copy: the record's origin) into
 * data[off..], at most max - 1 bytes kept; returns its length without the NUL. The 2 * max headroom keeps
 * the bound visible to the verifier whatever `off` was. */
static __always_inline __u32 kact_user_str(struct kact_scratch *s, __u32 off, __u64 uptr, const __u32 max)
{
	long n;

	if (!uptr || off > KACT_DATA_LEN - 2 * max)
		return 0;
	n = origin_read_str(s->data + off, max, (const void *)uptr, s->ev.origin);
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

/* The bodies below can be driven from any entry point: an enter body takes the six argument values and the
 * origin (ORIGIN_*) and keeps them in act_pending; the matching exit body takes the return value. The
 * per-syscall tracepoint programs at the end of the file are the native entry points. */

/* The common enter body: count, store the arguments. */
static __always_inline int kact_enter_op(__u32 op, const __u64 *a, __u32 origin)
{
	act_count(op, ACT_SEEN);
	return act_enter(op, a, origin, 0, 0, 0);
}

/* The common exit body for ops whose record is the arguments and the return value. */
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
static __always_inline int kact_enter_bpf(const __u64 *a, __u32 origin)
{
	__u64 cmd = a[0];

	act_count(KOP_BPF, ACT_SEEN);
	if (cmd < 64 && !(act_bpf_cmd_mask & (1ull << cmd))) {
		act_count(KOP_BPF, ACT_FILTERED);
		return 0;
	}
	return act_enter(KOP_BPF, a, origin, 0, 0, 0);
}

static __always_inline int kact_exit_bpf(long ret)
{
	struct act_pending p;
	struct kact_scratch *s;
	__u64 attr, size, cmd;
	__u32 type = 0, attach = 0;

	if (!act_take(KOP_BPF, &p))
		return 0;
	s = kact_begin(&p, ret);
	if (!s)
		return 0;
	cmd = p.args[0];
	attr = p.args[1];
	size = p.args[2];
	if (cmd == BPF_MAP_CREATE && size >= offsetof(union bpf_attr, map_name) + 16) {
		origin_read(&type, sizeof(type), (void *)attr, p.origin);
		s->ev.extra[0] = type;
		kact_s2(s, attr + offsetof(union bpf_attr, map_name));
	} else if (cmd == BPF_PROG_LOAD && size >= offsetof(union bpf_attr, expected_attach_type) + 4) {
		origin_read(&type, sizeof(type), (void *)attr, p.origin);
		origin_read(&attach, sizeof(attach), (void *)(attr + offsetof(union bpf_attr, expected_attach_type)),
			    p.origin);
		s->ev.extra[0] = type;
		s->ev.extra[1] = attach;
		kact_s2(s, attr + offsetof(union bpf_attr, prog_name));
		if (ret >= 0) {
			/* the kernel's own view of the new program: its tag */
			struct file *f = act_fd_file(ret);
			struct bpf_prog *prog = f ? BPF_CORE_READ(f, private_data) : NULL;
			if (prog && !bpf_probe_read_kernel(&s->ev.extra[2], 8, &prog->tag))
				s->ev.extra[3] = 1;
		}
	}
	kact_emit(s);
	return 0;
}

/* ---- ptrace(request, pid, addr, data): args[0] request, args[1] tracee (the caller for TRACEME). */
static __always_inline int kact_exit_ptrace(long ret)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_PTRACE, &p))
		return 0;
	if (p.args[0] == PTRACE_TRACEME)
		p.args[1] = bpf_get_current_pid_tgid() >> 32;
	s = kact_begin(&p, ret);
	if (s)
		kact_emit(s);
	return 0;
}

/* ---- mmap(addr, len, prot, flags, fd, off): reported when prot & act_mmap_prot_mask (default PROT_EXEC:
 * code being mapped); s0/file the mapped file. */
static __always_inline int kact_enter_mmap(const __u64 *a, __u32 origin)
{
	act_count(KOP_MMAP, ACT_SEEN);
	if (act_mmap_prot_mask && !(a[2] & act_mmap_prot_mask)) {
		act_count(KOP_MMAP, ACT_FILTERED);
		return 0;
	}
	return act_enter(KOP_MMAP, a, origin, 0, 0, 0);
}

static __always_inline int kact_exit_mmap(long ret)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_MMAP, &p))
		return 0;
	s = kact_begin(&p, ret);
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

static __always_inline int kact_enter_mprotect(const __u64 *a, __u32 origin)
{
	__u64 flags = 0;

	act_count(KOP_MPROTECT, ACT_SEEN);
	if (act_mprotect_prot_mask && !(a[2] & act_mprotect_prot_mask)) {
		act_count(KOP_MPROTECT, ACT_FILTERED);
		return 0;
	}
	bpf_find_vma(bpf_get_current_task_btf(), a[0], vma_flags_cb, &flags, 0);
	return act_enter(KOP_MPROTECT, a, origin, 0, flags, 0);
}

static __always_inline int kact_exit_mprotect(long ret)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_MPROTECT, &p))
		return 0;
	s = kact_begin(&p, ret);
	if (!s)
		return 0;
	s->ev.extra[0] = p.pre[0];
	kact_emit(s);
	return 0;
}

/* ---- modules: init_module(image, len, uargs) s1 = args; finit_module(fd, uargs, flags) s0/file = the
 * module file, s1 = args; delete_module(name, flags) s2 = name. */
static __always_inline int kact_exit_init_module(long ret)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_INIT_MODULE, &p))
		return 0;
	s = kact_begin(&p, ret);
	if (!s)
		return 0;
	kact_s1(s, p.args[2]);
	kact_emit(s);
	return 0;
}

static __always_inline int kact_exit_finit_module(long ret)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_FINIT_MODULE, &p))
		return 0;
	s = kact_begin(&p, ret);
	if (!s)
		return 0;
	kact_file(s, act_fd_file((__u32)p.args[0]));
	kact_s1(s, p.args[1]);
	kact_emit(s);
	return 0;
}

static __always_inline int kact_exit_delete_module(long ret)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_DELETE_MODULE, &p))
		return 0;
	s = kact_begin(&p, ret);
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

static __always_inline int kact_enter_cred(__u32 op, const __u64 *a, __u32 fs, __u32 origin)
{
	act_count(op, ACT_SEEN);
	return act_enter(op, a, origin, fs ? KACT_FS_VARIANT : 0, fs ? cur_fsid(op == KOP_SETGID) : 0, 0);
}

static __always_inline int kact_exit_cred(__u32 op, long ret)
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

/* ---- signals, normalised to args[0] target pid (tid for tkill), args[1] signal, args[2] tid. */
static __always_inline int kact_enter_kill(__u64 pid, __u64 sig, __u64 tid, __u32 origin)
{
	__u64 a[6] = { pid, sig, tid, 0, 0, 0 };

	return kact_enter_op(KOP_KILL, a, origin);
}

/* ---- mount(source, target, fstype, flags, data): s0 target, s1 source, s2 fs type (as passed).
 * umount2(target, flags): s0 target. */
static __always_inline int kact_exit_mount(long ret)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_MOUNT, &p))
		return 0;
	s = kact_begin(&p, ret);
	if (!s)
		return 0;
	s->ev.s0_len = kact_user_str(s, 0, p.args[1], KACT_PATH_MAX);
	kact_s1(s, p.args[0]);
	kact_s2(s, p.args[2]);
	kact_emit(s);
	return 0;
}

static __always_inline int kact_exit_umount(long ret)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_UMOUNT, &p))
		return 0;
	s = kact_begin(&p, ret);
	if (!s)
		return 0;
	s->ev.s0_len = kact_user_str(s, 0, p.args[0], KACT_PATH_MAX);
	kact_emit(s);
	return 0;
}

/* ---- memfd_create(name, flags): s2 name. */
static __always_inline int kact_exit_memfd_create(long ret)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_MEMFD_CREATE, &p))
		return 0;
	s = kact_begin(&p, ret);
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

static __always_inline int kact_enter_splice(const __u64 *a, __u32 origin)
{
	struct file *pipe;

	act_count(KOP_SPLICE, ACT_SEEN);
	pipe = splice_pipe(a[0], a[2]);
	return act_enter(KOP_SPLICE, a, origin, 0, pipe ? pipe_last_flags(pipe) : 0, pipe != NULL);
}

static __always_inline int kact_exit_splice(long ret)
{
	struct act_pending p;
	struct kact_scratch *s;
	struct file *pipe, *in, *other;

	if (!act_take(KOP_SPLICE, &p))
		return 0;
	s = kact_begin(&p, ret);
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
static __always_inline int kact_exit_prctl(long ret)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_PRCTL, &p))
		return 0;
	s = kact_begin(&p, ret);
	if (!s)
		return 0;
	if (p.args[0] == PR_SET_NAME)
		kact_s2(s, p.args[1]);
	kact_emit(s);
	return 0;
}

/* ---- unshare(flags); setns(fd, nstype): extra[0] the namespace type of the fd when nstype is 0. */
static __always_inline int kact_exit_setns(long ret)
{
	struct act_pending p;
	struct kact_scratch *s;
	struct file *f;
	struct inode *inode;

	if (!act_take(KOP_SETNS, &p))
		return 0;
	s = kact_begin(&p, ret);
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

/* ---- setrlimit(resource, rlim); prlimit64(pid, resource, new, old): normalised to args[0] the target pid
 * (0: the caller), args[1] the resource, args[2] the new limits, args[3] 1 when they are a compat_rlimit
 * (two u32, ia32 setrlimit) rather than two u64. A prlimit64 with no new limits only reads them: filtered.
 * extra[0] rlim_cur, extra[1] rlim_max (as the caller passed them; infinity as ~0), extra[2] 1 when read. */
#define COMPAT_RLIM_INFINITY 0xffffffffu

static __always_inline int kact_enter_setrlimit(__u64 pid, __u64 resource, __u64 rlim, __u64 compat, __u32 origin)
{
	__u64 a[6] = { pid, resource, rlim, compat, 0, 0 };

	act_count(KOP_SETRLIMIT, ACT_SEEN);
	if (!rlim) {
		act_count(KOP_SETRLIMIT, ACT_FILTERED);
		return 0;
	}
	return act_enter(KOP_SETRLIMIT, a, origin, 0, 0, 0);
}

static __always_inline int kact_exit_setrlimit(long ret)
{
	struct act_pending p;
	struct kact_scratch *s;

	if (!act_take(KOP_SETRLIMIT, &p))
		return 0;
	s = kact_begin(&p, ret);
	if (!s)
		return 0;
	if (p.args[3]) {
		struct compat_rlimit r;
		if (!origin_read(&r, sizeof(r), (void *)p.args[2], p.origin)) {
			s->ev.extra[0] = r.rlim_cur == COMPAT_RLIM_INFINITY ? ~0ull : r.rlim_cur;
			s->ev.extra[1] = r.rlim_max == COMPAT_RLIM_INFINITY ? ~0ull : r.rlim_max;
			s->ev.extra[2] = 1;
		}
	} else {
		struct rlimit64 r;
		if (!origin_read(&r, sizeof(r), (void *)p.args[2], p.origin)) {
			s->ev.extra[0] = r.rlim_cur;
			s->ev.extra[1] = r.rlim_max;
			s->ev.extra[2] = 1;
		}
	}
	kact_emit(s);
	return 0;
}

/* ---- the native entry points: one tracepoint pair per syscall. An entry reads the arguments its syscall
 * has (a load past them makes attaching fail, see act_args). */

/* sys_enter_NAME: the first NARGS arguments to `body(a, ORIGIN_SYSCALL)`. */
#define NATIVE_ENTER(name, nargs, body)                \
	SYS_ENTER(name)                                \
	{                                              \
		__u64 a[6];                            \
		act_args(ctx, a, nargs);               \
		return body(a, ORIGIN_SYSCALL);        \
	}
/* sys_enter_NAME for ops whose enter body is the common one. */
#define NATIVE_ENTER_OP(name, nargs, op)               \
	SYS_ENTER(name)                                \
	{                                              \
		__u64 a[6];                            \
		act_args(ctx, a, nargs);               \
		return kact_enter_op(op, a, ORIGIN_SYSCALL); \
	}
#define NATIVE_EXIT(name, body)                        \
	SYS_EXIT(name)                                 \
	{                                              \
		return body(ctx->ret);                 \
	}
#define NATIVE_EXIT_PLAIN(name, op)                    \
	SYS_EXIT(name)                                 \
	{                                              \
		return kact_exit_plain(op, ctx->ret);  \
	}

NATIVE_ENTER(bpf, 3, kact_enter_bpf)
NATIVE_EXIT(bpf, kact_exit_bpf)
NATIVE_ENTER_OP(ptrace, 4, KOP_PTRACE)
NATIVE_EXIT(ptrace, kact_exit_ptrace)
NATIVE_ENTER(mmap, 6, kact_enter_mmap)
NATIVE_EXIT(mmap, kact_exit_mmap)
NATIVE_ENTER(mprotect, 3, kact_enter_mprotect)
NATIVE_EXIT(mprotect, kact_exit_mprotect)
NATIVE_ENTER_OP(init_module, 3, KOP_INIT_MODULE)
NATIVE_EXIT(init_module, kact_exit_init_module)
NATIVE_ENTER_OP(finit_module, 3, KOP_FINIT_MODULE)
NATIVE_EXIT(finit_module, kact_exit_finit_module)
NATIVE_ENTER_OP(delete_module, 2, KOP_DELETE_MODULE)
NATIVE_EXIT(delete_module, kact_exit_delete_module)

#define CRED_HOOK(name, op, fs, nargs)                               \
	SYS_ENTER(name)                                              \
	{                                                            \
		__u64 a[6];                                          \
		act_args(ctx, a, nargs);                             \
		return kact_enter_cred(op, a, fs, ORIGIN_SYSCALL);   \
	}                                                            \
	SYS_EXIT(name)                                               \
	{                                                            \
		return kact_exit_cred(op, ctx->ret);                 \
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

SYS_ENTER(kill)
{
	return kact_enter_kill(ctx->args[0], ctx->args[1], 0, ORIGIN_SYSCALL);
}

SYS_ENTER(tkill)
{
	return kact_enter_kill(ctx->args[0], ctx->args[1], ctx->args[0], ORIGIN_SYSCALL);
}

SYS_ENTER(tgkill)
{
	return kact_enter_kill(ctx->args[0], ctx->args[2], ctx->args[1], ORIGIN_SYSCALL);
}

NATIVE_EXIT_PLAIN(kill, KOP_KILL)
NATIVE_EXIT_PLAIN(tkill, KOP_KILL)
NATIVE_EXIT_PLAIN(tgkill, KOP_KILL)

/* rt_sigqueueinfo(tgid, sig, info) signals like kill, rt_tgsigqueueinfo(tgid, tid, sig, info) like tgkill. */
SYS_ENTER(rt_sigqueueinfo)
{
	return kact_enter_kill(ctx->args[0], ctx->args[1], 0, ORIGIN_SYSCALL);
}

SYS_ENTER(rt_tgsigqueueinfo)
{
	return kact_enter_kill(ctx->args[0], ctx->args[2], ctx->args[1], ORIGIN_SYSCALL);
}

NATIVE_EXIT_PLAIN(rt_sigqueueinfo, KOP_KILL)
NATIVE_EXIT_PLAIN(rt_tgsigqueueinfo, KOP_KILL)

/* pidfd_send_signal(pidfd, sig, info, flags): the target is the process the descriptor refers to (a pidfd,
 * or a /proc/<pid> directory), by its pid in the initial namespace, resolved at entry as the kernel does. */
#define PIDFS_MAGIC 0x50494446
#define ANON_INODE_FS_MAGIC 0x09041934
#define PROC_SUPER_MAGIC 0x9fa0
#define PIDFD_SIGNAL_THREAD 1
#define PIDFD_SIGNAL_PROCESS_GROUP 4

static __always_inline struct pid *pidfd_target(struct file *f)
{
	struct inode *inode = KREAD(f, f_inode);
	unsigned long magic = KREAD(KREAD(inode, i_sb), s_magic);

	if (magic == PIDFS_MAGIC)
		return KREAD(inode, i_private);
	if (magic == ANON_INODE_FS_MAGIC) /* before pidfs (Linux 6.9) */
		return KREAD(f, private_data);
	if (magic == PROC_SUPER_MAGIC) {
		struct proc_inode *pi = (void *)inode - bpf_core_field_offset(struct proc_inode, vfs_inode);
		return KREAD(pi, pid);
	}
	return NULL;
}

static __always_inline int kact_enter_pidfd_send_signal(const __u64 *a, __u32 origin)
{
	struct file *f = act_fd_file((__s32)a[0]);
	struct pid *pid = f ? pidfd_target(f) : NULL;
	__u64 nr = pid ? (__u32)KREAD(pid, numbers[0].nr) : 0;
	__u64 flags = a[3];

	/* a process group is a negative pid, as kill(2) spells it */
	return kact_enter_kill(flags & PIDFD_SIGNAL_PROCESS_GROUP ? (__u64)(-(__s64)nr) : nr, a[1],
			       flags & PIDFD_SIGNAL_THREAD ? nr : 0, origin);
}

NATIVE_ENTER(pidfd_send_signal, 4, kact_enter_pidfd_send_signal)
NATIVE_EXIT_PLAIN(pidfd_send_signal, KOP_KILL)
NATIVE_ENTER_OP(mount, 5, KOP_MOUNT)
NATIVE_EXIT(mount, kact_exit_mount)
NATIVE_ENTER_OP(umount, 2, KOP_UMOUNT)
NATIVE_EXIT(umount, kact_exit_umount)
NATIVE_ENTER_OP(memfd_create, 2, KOP_MEMFD_CREATE)
NATIVE_EXIT(memfd_create, kact_exit_memfd_create)
NATIVE_ENTER(splice, 6, kact_enter_splice)
NATIVE_EXIT(splice, kact_exit_splice)
NATIVE_ENTER_OP(prctl, 5, KOP_PRCTL)
NATIVE_EXIT(prctl, kact_exit_prctl)
NATIVE_ENTER_OP(unshare, 1, KOP_UNSHARE)
NATIVE_EXIT_PLAIN(unshare, KOP_UNSHARE)
NATIVE_ENTER_OP(setns, 2, KOP_SETNS)
NATIVE_EXIT(setns, kact_exit_setns)
SYS_ENTER(setrlimit)
{
	return kact_enter_setrlimit(0, ctx->args[0], ctx->args[1], 0, ORIGIN_SYSCALL);
}

SYS_ENTER(prlimit64)
{
	return kact_enter_setrlimit(ctx->args[0], ctx->args[1], ctx->args[2], 0, ORIGIN_SYSCALL);
}

NATIVE_EXIT(setrlimit, kact_exit_setrlimit)
NATIVE_EXIT(prlimit64, kact_exit_setrlimit)
