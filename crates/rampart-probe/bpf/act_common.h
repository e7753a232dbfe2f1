/* Shared state of the activity families (kernel.h, net.h, dns.h): in-kernel filters set by the loader,
 * per-op counters, the enter→exit pairing map and helpers to reach a task's open files. */
#pragma once

#include "common.h"
#include <bpf/bpf_endian.h>
#include "path.h"
#include "task.h"

/* UAPI values vmlinux.h lacks (they are macros). An enum, so that they reach BTF: src/abi/tests.rs checks each
 * against the libc value the Rust side uses. */
enum act_uapi {
	PROT_EXEC = 0x4,
	AF_UNIX = 1,
	AF_INET = 2,
	AF_INET6 = 10,
	EAGAIN = 11,
	S_IFMT = 00170000,
	S_IFSOCK = 0140000,
	S_IFIFO = 0010000,
};

/* In-kernel filters (set by the loader before load; see ActivityConfig in src/config.rs). */
const volatile __u64 act_bpf_cmd_mask = ~0ull;        /* bit n: report bpf(cmd n) */
const volatile __u64 act_mmap_prot_mask = PROT_EXEC;   /* report a mapping when prot & mask; 0: all */
const volatile __u64 act_mprotect_prot_mask = PROT_EXEC;
const volatile __u32 act_sock_family_mask = (1u << AF_INET) | (1u << AF_INET6); /* bit n: family n */
const volatile __u32 act_dns_port = 53;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct act_counters);
} act_counters SEC(".maps");

/* A syscall between its enter and exit tracepoints: what the exit handler needs from the entry. */
struct act_pending {
	__u32 op;
	__u32 flags;
	__u32 origin; /* ORIGIN_*: where the strings the arguments point to live */
	__u32 _pad0;
	__u64 args[6];
	__u64 pre[2]; /* state read before the syscall ran (vma flags, pipe flags, old fsuid) */
};

/* Who acted, when it is not the current thread: an io_uring request completes in another context (a worker,
 * the ring's poller) than the thread that submitted it, whose identity is kept at submission. */
struct act_actor {
	__u32 pid;
	__u32 tid;
	struct cred_info creds;
};

/* LRU: a thread killed inside a syscall never reaches its exit tracepoint; its entry ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct act_pending);
} act_pending SEC(".maps");

#define ACT_SEEN 0
#define ACT_FILTERED 1
#define ACT_SENT 2
#define ACT_LOST 3

static __always_inline void act_count(__u32 op, int what)
{
	__u32 zero = 0;
	struct act_counters *c = bpf_map_lookup_elem(&act_counters, &zero);

	if (!c)
		return;
	barrier_var(op);
	op &= KOP_SLOTS - 1;
	switch (what) {
	case ACT_SEEN:
		__sync_fetch_and_add(&c->seen[op], 1);
		break;
	case ACT_FILTERED:
		__sync_fetch_and_add(&c->filtered[op], 1);
		break;
	case ACT_SENT:
		__sync_fetch_and_add(&c->sent[op], 1);
		break;
	default:
		__sync_fetch_and_add(&c->lost[op], 1);
		count(CNT_DROPS); /* also in the global drop total the agent reports */
	}
}

static __always_inline int act_is_agent(__u64 pid_tgid)
{
	return agent_tgid && (__u32)(pid_tgid >> 32) == agent_tgid;
}

/* The first `n` syscall arguments (the rest zeroed). The context only admits loads at constant offsets,
 * hence no loop, and a load past the syscall's own arguments makes attaching fail (EACCES: the program
 * would read beyond the tracepoint record), hence `n`, a constant per syscall. */
static __always_inline void act_args(struct trace_event_raw_sys_enter *ctx, __u64 *a, const int n)
{
	a[0] = n > 0 ? ctx->args[0] : 0;
	a[1] = n > 1 ? ctx->args[1] : 0;
	a[2] = n > 2 ? ctx->args[2] : 0;
	a[3] = n > 3 ? ctx->args[3] : 0;
	a[4] = n > 4 ? ctx->args[4] : 0;
	a[5] = n > 5 ? ctx->args[5] : 0;
}

/* Remembers the arguments of the current syscall for its exit handler. */
static __always_inline int act_enter(__u32 op, const __u64 *args, __u32 origin, __u32 flags, __u64 pre0,
				     __u64 pre1)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct act_pending p = {};

	if (act_is_agent(id))
		return 0;
	p.op = op;
	p.flags = flags;
	p.origin = origin;
	for (int i = 0; i < 6; i++)
		p.args[i] = args[i];
	p.pre[0] = pre0;
	p.pre[1] = pre1;
	bpf_map_update_elem(&act_pending, &id, &p, BPF_ANY);
	return 0;
}

/* Takes the pending entry of the current thread for `op` (copied out, then deleted). */
static __always_inline int act_take(__u32 op, struct act_pending *out)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct act_pending *p = bpf_map_lookup_elem(&act_pending, &id);

	if (!p)
		return 0;
	__builtin_memcpy(out, p, sizeof(*out));
	bpf_map_delete_elem(&act_pending, &id);
	return out->op == op;
}

/* The struct file behind descriptor `fd` of the current task, or NULL. */
static __always_inline struct file *act_fd_file(__u64 fd)
{
	return task_fd_file(bpf_get_current_task_btf(), (long)fd);
}

static __always_inline __u32 act_file_type(struct file *f)
{
	return BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT;
}

/* The struct sock of file `f`, or NULL when it is not a socket. */
static __always_inline struct sock *act_file_sock(struct file *f)
{
	struct socket *sock;

	if (!f || act_file_type(f) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(sock, sk);
}

/* The struct sock behind descriptor `fd`, or NULL when it is not a socket. */
static __always_inline struct sock *act_fd_sock(__u64 fd)
{
	return act_file_sock(act_fd_file(fd));
}
