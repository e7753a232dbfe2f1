/* Network family: connect, bind, accept/accept4 at their syscall tracepoints.
 *
 * connect/bind report the address the caller passed (read from user memory at exit; for a bind to port 0,
 * the port the kernel picked); accept reports the
 * peer of the new socket, read from the kernel socket behind the returned descriptor (kprobes on
 * inet_csk_accept are not available where ftrace is closed). Families outside act_sock_family_mask
 * (default AF_INET/AF_INET6) and accept's EAGAIN (a non-blocking poll) are dropped in the kernel. */
#pragma once

#include "act_common.h"

struct sock_event _sock_event_type = {};

/* The bodies can be driven from any entry point: the enter body takes the argument values and the origin
 * (ORIGIN_*), the report bodies what the exit (or an io_uring completion) knows. */
static __always_inline int net_enter_op(__u32 op, const __u64 *a, __u32 origin)
{
	act_count(op, ACT_SEEN);
	return act_enter(op, a, origin, 0, 0, 0);
}

static __always_inline int family_wanted(__u32 op, __u16 family)
{
	if (family < 32 && (act_sock_family_mask & (1u << family)))
		return 1;
	act_count(op, ACT_FILTERED);
	return 0;
}

static __always_inline void net_emit(struct sock_event *e)
{
	__u32 op = e->op;

	if (bpf_ringbuf_output(&events, e, sizeof(*e), rb_flags()))
		act_count(op, ACT_LOST);
	else
		act_count(op, ACT_SENT);
}

/* The record's fixed part; `who` names the actor when it is not the current thread (NULL: it is). */
static __always_inline void net_header(struct sock_event *e, __u32 op, long ret, __u32 origin,
				       const struct act_actor *who)
{
	__u64 id = bpf_get_current_pid_tgid();

	__builtin_memset(e, 0, sizeof(*e));
	fill_header(&e->hdr, RECORD_SOCK);
	e->op = op;
	e->origin = origin;
	e->retval = ret;
	if (who) {
		e->pid = who->pid;
		e->tid = who->tid;
		e->creds = who->creds;
		return;
	}
	e->pid = id >> 32;
	e->tid = (__u32)id;
	fill_creds(&e->creds, bpf_get_current_task_btf());
}

/* connect/bind: the address at `uaddr` (`len` bytes; user memory or the kernel's copy, by `origin`) given
 * for socket `file`, or when NULL for descriptor `fd` of the current task (looked up only for a wanted
 * family), by `who` (NULL: the current thread). */
static __always_inline int net_addr_report(__u32 op, long ret, __u32 origin, __u64 uaddr, __u64 len, __u64 fd,
					   struct file *file, const struct act_actor *who)
{
	struct sock_event e;
	struct sock *sk;
	__u16 port = 0;

	net_header(&e, op, ret, origin, who);
	if (!uaddr || len < 2 || origin_read(&e.family, 2, (void *)uaddr, origin))
		return 0;
	if (!family_wanted(op, e.family))
		return 0;
	if (e.family == AF_INET && len >= 8) {
		origin_read(&port, 2, (void *)(uaddr + 2), origin);
		origin_read(e.addr, 4, (void *)(uaddr + 4), origin);
	} else if (e.family == AF_INET6 && len >= 24) {
		origin_read(&port, 2, (void *)(uaddr + 2), origin);
		origin_read(e.addr, 16, (void *)(uaddr + 8), origin);
	}
	e.port = bpf_ntohs(port);
	/* an io_uring request has no descriptor of the current task: its file, if assigned yet */
	sk = file ? act_file_sock(file) : origin >= ORIGIN_URING ? NULL : act_fd_sock(fd);
	if (sk) {
		e.protocol = BPF_CORE_READ(sk, sk_protocol);
		/* bind to port 0: report the port the kernel picked */
		if (op == KOP_BIND && ret == 0 && e.port == 0)
			e.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	}
	net_emit(&e);
	return 0;
}

/* connect(fd, addr, len) and bind(fd, addr, len) at their exit: the address from the caller's sockaddr. */
static __always_inline int net_addr_exit(__u32 op, long ret)
{
	struct act_pending p;

	if (!act_take(op, &p))
		return 0;
	return net_addr_report(op, ret, p.origin, p.args[1], p.args[2], p.args[0], NULL, NULL);
}

/* accept: the peer of the new socket `sk` (on failure the listening socket: its family and protocol), by
 * `who` (NULL: the current thread). */
static __always_inline int net_accept_report(long ret, __u32 origin, struct sock *sk, const struct act_actor *who)
{
	struct sock_event e;

	if (ret == -EAGAIN) {
		act_count(KOP_ACCEPT, ACT_FILTERED);
		return 0;
	}
	if (!sk)
		return 0;
	net_header(&e, KOP_ACCEPT, ret, origin, who);
	e.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (!family_wanted(KOP_ACCEPT, e.family))
		return 0;
	e.protocol = BPF_CORE_READ(sk, sk_protocol);
	if (ret >= 0) {
		e.port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (e.family == AF_INET) {
			__u32 daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
			__builtin_memcpy(e.addr, &daddr, 4);
		}
		else if (e.family == AF_INET6)
			BPF_CORE_READ_INTO(&e.addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	net_emit(&e);
	return 0;
}

/* accept(fd, …) / accept4(fd, …, flags) at their exit: the socket behind the returned descriptor. */
static __always_inline int net_accept_exit(long ret)
{
	struct act_pending p;

	if (!act_take(KOP_ACCEPT, &p))
		return 0;
	return net_accept_report(ret, p.origin,
				 ret == -EAGAIN ? NULL : act_fd_sock(ret >= 0 ? (__u64)ret : p.args[0]), NULL);
}

/* The native entry points. */
#define NET_HOOKS(name, op, nargs, exit)                                                   \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                        \
	int act_enter_##name(struct trace_event_raw_sys_enter *ctx)                         \
	{                                                                                  \
		__u64 a[6];                                                                \
		act_args(ctx, a, nargs);                                                   \
		return net_enter_op(op, a, ORIGIN_SYSCALL);                                \
	}                                                                                  \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                         \
	int act_exit_##name(struct trace_event_raw_sys_exit *ctx)                           \
	{                                                                                  \
		return exit;                                                               \
	}

NET_HOOKS(connect, KOP_CONNECT, 3, net_addr_exit(KOP_CONNECT, ctx->ret))
NET_HOOKS(bind, KOP_BIND, 3, net_addr_exit(KOP_BIND, ctx->ret))
NET_HOOKS(accept, KOP_ACCEPT, 3, net_accept_exit(ctx->ret))
NET_HOOKS(accept4, KOP_ACCEPT, 4, net_accept_exit(ctx->ret))
