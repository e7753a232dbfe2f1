/* Record layouts of the network, DNS and kernel-activity families (record kinds 48 and up), shared with
 * the Rust decoder through the skeleton's BTF-generated types. Included at the end of events.h. */
#pragma once

/* The record kinds of these families (RECORD_KACT, RECORD_SOCK, RECORD_DNS) are in events.h. */

/* Activity operations: the `op` of a record and the index of its counters. */
enum kact_op {
	KOP_BPF = 0,
	KOP_PTRACE = 1,
	KOP_MMAP = 2,
	KOP_MPROTECT = 3,
	KOP_INIT_MODULE = 4,
	KOP_FINIT_MODULE = 5,
	KOP_DELETE_MODULE = 6,
	KOP_SETUID = 7, /* setuid, setreuid, setresuid, setfsuid */
	KOP_SETGID = 8, /* setgid, setregid, setresgid, setfsgid */
	KOP_CAPSET = 9,
	KOP_KILL = 10, /* kill, tkill, tgkill */
	KOP_MOUNT = 11,
	KOP_UMOUNT = 12,
	KOP_MEMFD_CREATE = 13,
	KOP_SPLICE = 14,
	KOP_PRCTL = 15,
	KOP_UNSHARE = 16,
	KOP_SETNS = 17,
	KOP_CONNECT = 18,
	KOP_BIND = 19,
	KOP_ACCEPT = 20,
	KOP_DNS = 21,
	KOP_URING_SETUP = 22, /* an io_uring instance created (io_uring_create tracepoint) */
	KOP_SETRLIMIT = 23,   /* setrlimit, prlimit64 (when it sets limits) */
	KOP_MAX = 24,
	KOP_SLOTS = 32, /* counter slots: a power of two, so a masked op index is always in bounds */
};

/* Bounds of the three string sections of a kact record: a kernel-resolved path, a long user string, a
 * short name. */
enum kact_limit {
	KACT_PATH_MAX = 4096,
	KACT_STR_MAX = 1024,
	KACT_NAME_MAX = 256,
	KACT_DATA_LEN = 8192,
};

/* kact_event.flags */
enum kact_flag {
	KACT_HAS_FILE = 1,       /* `file` is filled and s0 holds its path */
	KACT_PATH_TRUNCATED = 2, /* s0 kept only its tail */
	KACT_FS_VARIANT = 4,     /* setfsuid/setfsgid (they return the old id, not an error code) */
};

/* Followed by s0, s1, s2 (no NULs), lengths below. What args/extra and the sections hold per op is
 * documented next to each handler in kernel.h and decoded in src/kernel/. */
struct kact_event {
	struct record_header hdr;
	__u32 pid;
	__u32 tid;
	__u32 op;
	__u32 flags;
	__s64 retval;
	struct cred_info creds;
	__u64 args[6];  /* the syscall arguments (normalised per op) */
	__u64 extra[4]; /* values read in the kernel: new credentials, vma flags, pipe flags, … */
	struct file_info file;
	__u16 s0_len;
	__u16 s1_len;
	__u16 s2_len;
	__u16 _pad0;
	__u32 origin; /* ORIGIN_* */
	__u32 _pad1;
};

/* sock_event.addr holds 4 bytes for AF_INET, 16 for AF_INET6, network order. */
struct sock_event {
	struct record_header hdr;
	__u32 pid;
	__u32 tid;
	__u32 op; /* KOP_CONNECT, KOP_BIND, KOP_ACCEPT */
	__u16 family;
	__u16 port; /* host order */
	__u16 protocol;
	__u16 _pad0;
	__u32 origin; /* ORIGIN_* */
	__s64 retval;
	struct cred_info creds;
	__u8 addr[16];
};

enum dns_limit {
	DNS_PAYLOAD_MAX = 1024,
};

/* dns_event.flags */
enum dns_flag {
	DNS_EGRESS = 1,     /* sent by this host (a query); otherwise received (a response) */
	DNS_TCP = 2,        /* the payload starts with the 2-byte TCP length prefix */
	DNS_ATTRIBUTED = 4, /* pid/tid name the owner of the socket */
};

/* Followed by payload_len bytes of the DNS message (the first DNS_PAYLOAD_MAX bytes of the L4 payload). */
struct dns_event {
	struct record_header hdr;
	__u32 pid;
	__u32 tid;
	__u64 cookie;   /* socket cookie */
	__u32 flags;
	__u16 family;   /* AF_INET / AF_INET6 */
	__u16 protocol; /* IPPROTO_UDP / IPPROTO_TCP */
	__u16 sport;    /* host order */
	__u16 dport;
	__u32 wire_len; /* L4 payload bytes on the wire */
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 payload_len;
	__u16 _pad0;
	__u32 _pad1;
};

/* Per-CPU counters per op (index KOP_*): hook hits, dropped by an in-kernel filter, written to the ring,
 * lost because the ring was full. */
struct act_counters {
	__u64 seen[KOP_SLOTS];
	__u64 filtered[KOP_SLOTS];
	__u64 sent[KOP_SLOTS];
	__u64 lost[KOP_SLOTS];
};
