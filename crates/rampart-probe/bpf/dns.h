/* DNS family: cgroup_skb programs on the cgroup v2 root copy UDP/TCP port-53 payloads to the ring buffer;
 * user space parses them (src/dns/). Only port-53 packets leave the kernel, every packet is let through.
 *
 * Egress packets to port 53 are queries this host sends: the current task is the sender, and the socket
 * cookie is remembered with its pid. Ingress packets from port 53 are responses this host receives, in
 * softirq context: they are attributed through that cookie. */
#pragma once

#include "act_common.h"

#define ETH_P_IP 0x0800
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

struct dns_owner {
	__u32 pid;
	__u32 tid;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* socket cookie */
	__type(value, struct dns_owner);
} dns_owners SEC(".maps");

struct dns_scratch {
	struct dns_event ev;
	__u8 data[2 * DNS_PAYLOAD_MAX]; /* headroom: the verifier sees the masked length below */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_scratch);
} dns_heap SEC(".maps");

struct dns_event _dns_event_type = {};

/* Fills addresses, ports and the payload offset; returns 0 when the packet is not UDP/TCP with a payload. */
static __always_inline int dns_l4(struct __sk_buff *skb, struct dns_event *e, __u32 *payload_off)
{
	__u8 vhl;
	__u32 l4;

	if (bpf_skb_load_bytes(skb, 0, &vhl, 1))
		return 0;
	if ((vhl >> 4) == 4) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return 0;
		if (bpf_ntohs(ip.frag_off) & 0x1fff)
			return 0; /* a later fragment: no L4 header */
		e->family = AF_INET;
		e->protocol = ip.protocol;
		__builtin_memcpy(e->saddr, &ip.saddr, 4);
		__builtin_memcpy(e->daddr, &ip.daddr, 4);
		l4 = (vhl & 0xf) * 4;
	} else if ((vhl >> 4) == 6) {
		struct ipv6hdr ip6;
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return 0;
		e->family = AF_INET6;
		e->protocol = ip6.nexthdr; /* extension headers are not followed */
		__builtin_memcpy(e->saddr, &ip6.saddr, 16);
		__builtin_memcpy(e->daddr, &ip6.daddr, 16);
		l4 = sizeof(ip6);
	} else {
		return 0;
	}
	if (e->protocol == IPPROTO_UDP) {
		struct udphdr udp;
		if (bpf_skb_load_bytes(skb, l4, &udp, sizeof(udp)))
			return 0;
		e->sport = bpf_ntohs(udp.source);
		e->dport = bpf_ntohs(udp.dest);
		*payload_off = l4 + sizeof(udp);
	} else if (e->protocol == IPPROTO_TCP) {
		struct tcphdr tcp;
		if (bpf_skb_load_bytes(skb, l4, &tcp, sizeof(tcp)))
			return 0;
		e->sport = bpf_ntohs(tcp.source);
		e->dport = bpf_ntohs(tcp.dest);
		*payload_off = l4 + tcp.doff * 4;
		e->flags |= DNS_TCP;
	} else {
		return 0;
	}
	return skb->len > *payload_off;
}

static __always_inline void dns_packet(struct __sk_buff *skb, int egress)
{
	__u32 zero = 0, off = 0, len;
	struct dns_scratch *s = bpf_map_lookup_elem(&dns_heap, &zero);
	struct dns_owner *owner, me;
	struct dns_event *e;
	__u64 id;

	if (!s)
		return;
	e = &s->ev;
	e->flags = 0;
	if (!dns_l4(skb, e, &off))
		return;
	if (egress ? e->dport != act_dns_port : e->sport != act_dns_port)
		return;
	act_count(KOP_DNS, ACT_SEEN);
	e->cookie = bpf_get_socket_cookie(skb);
	if (egress) {
		id = bpf_get_current_pid_tgid();
		if (act_is_agent(id))
			return;
		e->flags |= DNS_EGRESS;
		e->pid = id >> 32;
		e->tid = (__u32)id;
		if (e->pid) {
			me.pid = e->pid;
			me.tid = e->tid;
			e->flags |= DNS_ATTRIBUTED;
			bpf_map_update_elem(&dns_owners, &e->cookie, &me, BPF_ANY);
		}
	} else {
		/* A response to a socket that never sent a query while the probe ran (or the agent's own, never
		 * recorded): nobody to attribute it to. */
		owner = bpf_map_lookup_elem(&dns_owners, &e->cookie);
		if (!owner) {
			act_count(KOP_DNS, ACT_FILTERED);
			return;
		}
		e->pid = owner->pid;
		e->tid = owner->tid;
		e->flags |= DNS_ATTRIBUTED;
	}
	fill_header(&e->hdr, RECORD_DNS);
	e->wire_len = skb->len - off;
	len = e->wire_len;
	if (len > DNS_PAYLOAD_MAX)
		len = DNS_PAYLOAD_MAX;
	barrier_var(len);
	len &= 2 * DNS_PAYLOAD_MAX - 1;
	if (len == 0 || bpf_skb_load_bytes(skb, off, s->data, len))
		return;
	e->payload_len = len;
	if (bpf_ringbuf_output(&events, s, sizeof(struct dns_event) + len, rb_flags()))
		act_count(KOP_DNS, ACT_LOST);
	else
		act_count(KOP_DNS, ACT_SENT);
}

SEC("cgroup_skb/egress")
int dns_egress(struct __sk_buff *skb)
{
	dns_packet(skb, 1);
	return 1; /* never drop */
}

SEC("cgroup_skb/ingress")
int dns_ingress(struct __sk_buff *skb)
{
	dns_packet(skb, 0);
	return 1;
}
