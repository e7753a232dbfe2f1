/* Maps, load-time configuration and small helpers shared by the process programs. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "events.h"

/* Kernel memory reads on the hot paths. With the bpf_rdonly_cast kfunc (Linux 6.2+) a pointer becomes one
 * the verifier lets the program dereference directly: a plain load whose faults are caught, a fraction of
 * a bpf_probe_read_kernel() call. Older kernels take the probe read; bpf_ksym_exists() is a load-time
 * constant, so the verifier drops the branch not taken. `p` may be NULL (the read yields 0 either way). */
#define KCAST(p) bpf_core_cast((p), typeof(*(p)))
#define KREAD(p, field)                                                                          \
	({                                                                                       \
		__auto_type __kread_p = (p); /* evaluated once, outside the CO-RE read */       \
		bpf_ksym_exists(bpf_rdonly_cast) ? KCAST(__kread_p)->field                       \
						 : BPF_CORE_READ(__kread_p, field);               \
	})

/* The kernfs node of the task's cgroup v2 (default hierarchy) cgroup: its id is the cgroup id, its walk
 * to the root the cgroup path. */
#define task_cgroup_kn(task) KREAD(KREAD(KREAD(task, cgroups), dfl_cgrp), kn)

/* FNV-1a 64, the hash user space computes too (names, paths, environment variable names: src/abi.rs
 * `fnv1a`). #defines, not an enum: clang 14 emits no 64-bit enum values in BTF. The kernel and user space
 * agreeing is what the file filter and exec environment tests exercise. */
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

#define PF_KTHREAD 0x00200000
#define AUDIT_AUID_UNSET 0xffffffffu
#define NAME_MAX_LEN 255
/* Scratch for building a path backwards: the path ends at PATH_MAX_LEN; the second half is headroom so a
 * component written at any position below PATH_MAX_LEN stays inside the buffer (what the verifier checks). */
#define WORK_PATH_LEN (2 * PATH_MAX_LEN)
#define WORK_STR_LEN PATH_MAX_LEN

/* Set by the loader before load. */
const volatile __u32 agent_tgid = 0;          /* records of this thread group are not emitted */
const volatile __u32 args_max_bytes = ARGS_MAX_LEN;
const volatile __u64 wakeup_bytes = 256 * 1024; /* force a reader wake-up once this much is pending; 0 = every record */
const volatile __u64 env_value_hashes[ENV_VALUE_SLOTS] = {}; /* FNV-1a 64 of the names whose value is kept */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} counters SEC(".maps");

/* Loop state kept in the map rather than on the stack: the verifier does not track map contents, so a
 * bpf_loop() callback's state converges at once instead of being re-verified per counter value. */
struct env_state {
	__u64 ptr;
	__u64 end;
	__u64 name_hash;
	__u32 name_len;
	__u32 names_len;
	__u32 envp_len;
	__u32 truncated;
};

struct walk {
	__u64 node;  /* struct dentry * or struct kernfs_node * */
	__u64 mnt;   /* struct mount * (dentry walks only) */
	__u32 pos;   /* start of the path in work.path */
	__u32 truncated;
};

struct work {
	struct env_state env;
	struct walk walk;
	char path[WORK_PATH_LEN];
	char str[WORK_STR_LEN];
	char envs[ENVS_MAX_LEN];
	char envp[ENVP_MAX_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct work);
} work_map SEC(".maps");

static __always_inline struct work *work_buf(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&work_map, &zero);
}

static __always_inline void count(__u32 idx)
{
	__u32 zero = 0;
	struct counters *c = bpf_map_lookup_elem(&counters, &zero);
	if (c && idx < CNT_MAX)
		__sync_fetch_and_add(&c->v[idx], 1);
}

/* Batched wake-ups: waking the reader per record is the main cost, so only force a wake-up once enough data
 * is pending; the reader polls with a short timeout for the rest. */
static __always_inline __u64 rb_flags(void)
{
	if (wakeup_bytes == 0)
		return 0;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									      : BPF_RB_NO_WAKEUP;
}

/* Where the strings and structures an activity's arguments point to live, by its origin (ORIGIN_*): user
 * memory for a syscall, the kernel's own copy for an io_uring request. */
static __always_inline long origin_read_str(void *dst, __u32 size, const void *src, __u32 origin)
{
	if (origin >= ORIGIN_URING)
		return bpf_probe_read_kernel_str(dst, size, src);
	return bpf_probe_read_user_str(dst, size, src);
}

static __always_inline long origin_read(void *dst, __u32 size, const void *src, __u32 origin)
{
	if (origin >= ORIGIN_URING)
		return bpf_probe_read_kernel(dst, size, src);
	return bpf_probe_read_user(dst, size, src);
}

static __always_inline void fill_header(struct record_header *h, __u32 kind)
{
	h->kind = kind;
	h->cpu = bpf_get_smp_processor_id();
	h->timestamp_ns = bpf_ktime_get_boot_ns();
}
