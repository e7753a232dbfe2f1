/* File activity: the kernel filter's maps (written by user space, see src/file/filters.rs) and the
 * per-CPU state of the file program. Record layout and constants are in events.h. */
#pragma once

#include "common.h"

/* file_policy.mode */
enum file_mode {
	FILE_MODE_OFF = 0,    /* no rule needs this event type: drop at once */
	FILE_MODE_ALL = 1,    /* some rule cannot be narrowed: send every event */
	FILE_MODE_FILTER = 2, /* send only events an approver admits */
};

/* file_policy.flags: which approver kinds a slot has */
enum file_policy_flag {
	FP_NAME = 1,         /* basenames that admit outright (`*.file.name` values) */
	FP_GATE = 2,         /* every path approver has a literal basename: check it before walking the path */
	FP_PATH = 4,         /* path approvers (directory prefixes / exact paths) checked on the resolved path */
	FP_FLAGS = 8,        /* open flags: admit when flags & flags_mask */
	FP_NAME_PREFIX = 16, /* basename prefixes that admit outright (`*.file.name =~ "id_*"`) */
	FP_ERRORS = 32,      /* send calls that failed with any error (else only EACCES and EPERM) */
	FP_COMPAT = 64,      /* admit calls made through an ia32 syscall (`event.compat`) */
};

enum file_filter_limit {
	/* Name prefixes: the kernel hashes the first len[i] bytes of a basename (at most NAME_PREFIX_MAX) and
	 * looks the hash up in file_basenames (`prefix` bits). */
	NAME_PREFIX_LENS = 4,
	NAME_PREFIX_MAX = 16,
	/* Filter slots: one per event type (FILE_EV_*), plus the destination side of rename and link. */
	FILE_SLOT_RENAME_DST = 13,
	FILE_SLOT_LINK_DST = 14,
	FILE_SLOTS = 16,
	/* A Bloom filter over every key of file_basenames (two bits per key, from the hash's top bits: FNV's
	 * low bits only depend on the low bits of each word). Most basenames on a host are in no rule: one
	 * array read and two bit tests spare them the hash-map lookups. */
	NAME_BLOOM_LOG2 = 11,
	NAME_BLOOM_BITS = 1 << NAME_BLOOM_LOG2,
	NAME_BLOOM_WORDS = NAME_BLOOM_BITS / 64,
};

/* file_paths key kinds */
enum path_key_kind {
	PATH_KEY_PREFIX = 0, /* a directory prefix, trailing '/' included */
	PATH_KEY_EXACT = 1,  /* a whole path */
	PATH_KEY_DIR = 2,    /* the directory (trailing '/') of an exact path: blocks discarders there */
};

struct file_policy {
	__u32 mode;
	__u32 flags;
	__u32 flags_mask;
	__u32 _pad;
};

/* Value of file_basenames: bit `slot` set when that slot's name (resp. path) approvers list the name. */
struct name_masks {
	__u32 name;
	__u32 path;
	__u32 prefix;
	__u32 _pad;
};

/* What user space tells the kernel about the names in file_basenames. */
struct file_name_index {
	__u8 prefix_len[NAME_PREFIX_LENS]; /* the name-prefix lengths to hash (0: unused) */
	__u32 _pad;
	__u64 bloom[NAME_BLOOM_WORDS];
};

struct path_key {
	__u64 hash; /* FNV-1a 64 of the bytes */
	__u32 kind;
	__u32 _pad;
};

/* What the kernel learnt when the path check failed, for the slots in `slots`: a directory no rule can match
 * any file directly in (file_discarders; name_hash and name_len 0), or one file (by name) in a directory that
 * has watched exact paths of its own (file_name_discarders). Valid while `revision` equals file_revision
 * (bumped by policy loads, rmdir, rename and mount changes). */
struct discarder_key {
	__u64 inode; /* the directory's */
	__u32 mount_id;
	__u32 name_len;
	__u64 name_hash;
};

struct discarder_val {
	__u32 revision;
	__u32 slots;
};

/* A per-name discarder keeps the name it was learnt for: its key's hash is FNV, which anyone can collide, and
 * a colliding name opened first in a directory holding a watched file would otherwise hide that file. A
 * lookup counts only when the stored name equals the file's. Longer names get no per-name discarder (their
 * opens take the path check every time); 64 bytes keep the map at ~1 MiB. */
#define DISCARDER_NAME_MAX 64
#define DISCARDER_NAME_WORDS (DISCARDER_NAME_MAX / 8)

struct name_discarder_val {
	__u32 revision;
	__u32 slots;
	__u64 name[DISCARDER_NAME_WORDS]; /* the name's words, zero-padded */
};

struct file_counters {
	__u64 seen;            /* syscalls of a wanted type that completed */
	__u64 approver_drop;   /* dropped because no approver admitted them */
	__u64 discarder_drop;  /* dropped by a cached discarder (before any path walk) */
	__u64 sent;            /* written to the ring buffer */
	__u64 ring_drop;       /* lost: ring buffer full */
	__u64 discarder_added; /* discarders learnt */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FILE_SLOTS);
	__type(key, __u32);
	__type(value, struct file_policy);
} file_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct name_masks);
} file_basenames SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct path_key);
	__type(value, __u32);
} file_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct discarder_key);
	__type(value, struct discarder_val);
} file_discarders SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct discarder_key);
	__type(value, struct name_discarder_val);
} file_name_discarders SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} file_revision SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct file_name_index);
} file_name_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FILE_EV_COUNT);
	__type(key, __u32);
	__type(value, struct file_counters);
} file_stats SEC(".maps");

#define NAME_WORDS 32 /* 256 bytes: NAME_MAX_LEN + 1 */

/* Where a side's file comes from. */
#define SIDE_NONE 0
#define SIDE_DENTRY 1  /* a dentry (fd, cwd): path and inode from the kernel */
#define SIDE_TEXT 2    /* a directory's dentry + the user's remaining path, joined (no inode) */

/* The state of one syscall being processed, in a map so that the verifier does not track it per value. */
struct file_op {
	__u64 args[6];
	__u64 dentry;    /* SIDE_DENTRY: the file; SIDE_TEXT: the base directory */
	__u64 mnt;       /* struct vfsmount * */
	__u64 parent;    /* the file's parent dentry when known (discarder key), else 0 */
	__u64 parent_mnt;
	__u64 name_hash; /* FNV-1a 64 of the basename */
	__u32 type;
	__u32 rev;
	__u32 side;      /* SIDE_* of the side being resolved */
	__u32 name_ok;   /* name_hash is a real basename (not "." or "..") */
	__u32 name_len;  /* its length (name prefixes) */
	__u32 start;     /* resolved path is work.path[start..end) */
	__u32 end;
	__u32 tail_len;  /* length of the user string read at work.path[TAIL_AT..] */
	__u32 absolute;
	__u32 truncated;
	__u32 admitted;  /* slots admitted so far (bit per slot) */
	__u32 candidate; /* slots that still need the path check */
	/* path roll */
	__u64 h;
	__u64 h_dir;
	__u32 i;
	__u32 comp_len;
	__u32 comp_dots;
	__u32 noncanon;
	__u32 prefix_hits;
	__u32 single;    /* the user's string is a single component */
	/* picking the call's own inode among those it touched (pick_step in file.h) */
	__u64 cand[4];     /* the touched inodes */
	__u64 alias;       /* struct hlist_node * of the dentry alias being compared */
	__u64 base_sb;     /* the base directory's super block */
	__u64 want_hash;   /* the basename the inode must have */
	__u64 found;       /* named so, on the base's filesystem */
	__u64 named;       /* named so, elsewhere (overlayfs: the upper inode) */
	__u64 shaped;      /* picked by the call's shape */
	__u32 cn;
	__u32 ci;
	__u32 alias_i;
	__u32 alias_started;
	__u32 want_ok;
	__u32 pick_type;
	/* the directory last found discarded on this CPU (kept across calls): a run of calls in one directory
	 * skips the discarder hash lookup; last_inode 0 means none */
	__u64 last_inode;
	__u32 last_mount_id;
	__u32 last_rev;
	__u32 last_slots;
	__u32 _pad_last;
	/* the basename being hashed, as 8-byte words (zero-padded by name_word's mask) */
	__u64 name_words[NAME_WORDS];
	/* a per-name discarder being written (too large for the stack) */
	struct name_discarder_val new_name_discarder;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct file_op);
} file_ops SEC(".maps");

/* The record under construction: 32 KiB exactly (per-CPU value limit, power of two for the size mask). */
struct file_scratch {
	struct file_event ev;
	char data[32768 - sizeof(struct file_event)];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct file_scratch);
} file_heap SEC(".maps");

static __always_inline struct file_op *file_op_buf(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&file_ops, &zero);
}

/* Per-CPU slots: plain increments are enough. */
static __always_inline void file_count(__u32 type, __u32 field)
{
	struct file_counters *c = bpf_map_lookup_elem(&file_stats, &type);
	if (!c)
		return;
	switch (field) {
	case 0: c->seen++; break;
	case 1: c->approver_drop++; break;
	case 2: c->discarder_drop++; break;
	case 3: c->sent++; break;
	case 4: c->ring_drop++; break;
	case 5: c->discarder_added++; break;
	}
}
#define FC_SEEN 0
#define FC_APPROVER_DROP 1
#define FC_DISCARDER_DROP 2
#define FC_SENT 3
#define FC_RING_DROP 4
#define FC_DISCARDER_ADDED 5
