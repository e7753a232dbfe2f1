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

static __always_inline int net_enter(__u32 op, struct trace_event_raw_sys_enter *ctx, const int nargs)
{
	__u64 a[6];

	act_count(op, ACT_SEEN);
	act_args(ctx, a, nargs);
	return act_enter(op, a, 0, 0, 0);
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

static __always_inline void net_header(struct sock_event *e, __u32 op, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();

	__builtin_memset(e, 0, sizeof(*e));
	fill_header(&e->hdr, RECORD_SOCK);
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->op = op;
	e->retval = ret;
	fill_creds(&e->creds, bpf_get_current_task_btf());
}

/* connect(fd, addr, len) and bind(fd, addr, len): the address from the caller's sockaddr. */
static __always_inline int net_addr_exit(__u32 op, long ret)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct act_pending p;
	struct sock_event e;
	struct sock *sk;
	__u64 uaddr;
	__u16 port = 0;

	if (!act_take(op, &p))
		return 0;
	net_header(&e, op, ret);
	uaddr = p.args[1];
	if (!uaddr || p.args[2] < 2 || bpf_probe_read_user(&e.family, 2, (void *)uaddr))
		return 0;
	if (!family_wanted(op, e.family))
		return 0;
	if (e.family == AF_INET && p.args[2] >= 8) {
		bpf_probe_read_user(&port, 2, (void *)(uaddr + 2));
		bpf_probe_read_user(e.addr, 4, (void *)(uaddr + 4));
	} else if (e.family == AF_INET6 && p.args[2] >= 24) {
		bpf_probe_read_user(&port, 2, (void *)(uaddr + 2));
		bpf_probe_read_user(e.addr, 16, (void *)(uaddr + 8));
	}
	e.port = bpf_ntohs(port);
	sk = act_fd_sock(p.args[0]);
	if (sk) {
		e.protocol = BPF_CORE_READ(sk, sk_protocol);
		/* bind to port 0: report the port the kernel picked */
		if (op == KOP_BIND && ret == 0 && e.port == 0)
			e.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	}
	net_emit(&e);
	return 0;
}

/* accept(fd, …) / accept4(fd, …, flags): the peer of the returned socket; on failure the listening
 * socket's family and protocol. */
static __always_inline int net_accept_exit(long ret)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct act_pending p;
	struct sock_event e;
	struct sock *sk;

	if (!act_take(KOP_ACCEPT, &p))
		return 0;
	if (ret == -EAGAIN) {
		act_count(KOP_ACCEPT, ACT_FILTERED);
		return 0;
	}
	net_header(&e, KOP_ACCEPT, ret);
	sk = act_fd_sock(ret >= 0 ? (__u64)ret : p.args[0]);
	if (!sk)
		return 0;
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

SEC("tracepoint/syscalls/sys_enter_connect")
int act_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	return net_enter(KOP_CONNECT, ctx, 3);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int act_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	return net_addr_exit(KOP_CONNECT, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_bind")
int act_enter_bind(struct trace_event_raw_sys_enter *ctx)
{
	return net_enter(KOP_BIND, ctx, 3);
}

SEC("tracepoint/syscalls/sys_exit_bind")
int act_exit_bind(struct trace_event_raw_sys_exit *ctx)
{
	return net_addr_exit(KOP_BIND, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_accept")
int act_enter_accept(struct trace_event_raw_sys_enter *ctx)
{
	return net_enter(KOP_ACCEPT, ctx, 3);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int act_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return net_accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int act_enter_accept4(struct trace_event_raw_sys_enter *ctx)
{
	return net_enter(KOP_ACCEPT, ctx, 4);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int act_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return net_accept_exit(ctx->ret);
}
