/* File activity (FIM): open, chmod, chown, mkdir, rmdir, unlink, rename, link, utimes, setxattr,
 * removexattr, truncate, chdir, from one tp_btf/sys_exit program.
 *
 * Why sys_exit only: kprobes do not attach on this kernel and fentry/lsm are refused, so the VFS hooks are
 * out of reach; at sys_exit the arguments are still in the saved user registers, the return value is known,
 * the user's strings are resident (they were just read by the kernel), and an open's new fd leads to the
 * struct file whose dentries give the real path. Paths of the other calls are the kernel-resolved path of
 * their base directory (dirfd, cwd or root) joined with the user's string (see SIDE_TEXT).
 *
 * Filtering order, cheapest first: syscall table → per-type mode → open flags and basename approvers (on
 * the dentry name or the last component, no path walk) → discarder of the parent directory → path walk →
 * prefix/exact approvers → ring buffer. */
#pragma once

#include "common.h"
#include "path.h"
#include "task.h"
#include "file_maps.h"
#include "file_syscalls.h"
#include "ia32.h"

#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define EPERM_ 1
#define EACCES_ 13
#define S_IFMT_ 00170000
#define S_IFDIR_ 0040000
/* The user's string is read here, right after the base directory's path (which ends at PATH_MAX_LEN). */
#define TAIL_AT (PATH_MAX_LEN + 1)
#define TAIL_MAX (WORK_PATH_LEN - TAIL_AT)
/* A result that is not known (an io_uring request reported at submission): no errno is this low. */
#define FILE_RET_UNKNOWN (-0x7fffffffl)

struct file_event _file_event_type = {};
struct file_counters _file_counters_type = {};
struct file_policy _file_policy_type = {};
struct name_masks _name_masks_type = {};
struct file_name_index _file_name_index_type = {};
struct path_key _path_key_type = {};
struct discarder_key _discarder_key_type = {};
struct discarder_val _discarder_val_type = {};

static __always_inline __u64 op_arg(struct file_op *op, __u8 idx)
{
	if (idx < 6)
		return op->args[idx & 7];
	return 0;
}

/* Argument `idx` (an ARG_* index) of a call's six. */
static __always_inline __u64 call_arg(const __u64 *args, __u8 idx)
{
	if (idx < 6)
		return args[idx & 7];
	return 0;
}

static __always_inline __u32 bump_revision(void)
{
	__u32 zero = 0;
	__u32 *rev = bpf_map_lookup_elem(&file_revision, &zero);
	if (!rev)
		return 0;
	return __sync_add_and_fetch(rev, 1);
}

static __always_inline __u32 current_revision(void)
{
	__u32 zero = 0;
	__u32 *rev = bpf_map_lookup_elem(&file_revision, &zero);
	return rev ? *rev : 0;
}

/* --- hashing (FNV-1a 64, the same in src/file/filters.rs) ------------------------------------------- */

/* Hash of a basename held in op->name[0..len): FNV-1a 64 over its zero-padded little-endian 8-byte words,
 * seeded with the length (src/file/filters.rs `name_hash`). Word-wise and unrolled: no per-byte loop on the
 * path every open takes. */
/* Word `i` of the basename in op->name_words (i * 8 < len), zero-padded past `len`: the buffer holds stale
 * bytes of longer names there. */
static __always_inline __u64 name_word(struct file_op *op, __u32 i, __u32 len)
{
	__u64 v = op->name_words[i & (NAME_WORDS - 1)];
	__u32 rem = len - i * 8;

	if (rem < 8)
		v &= (1ull << (rem * 8)) - 1;
	return v;
}

static __always_inline __u64 name_hash(struct file_op *op, __u32 len)
{
	__u64 h = FNV_OFFSET ^ len;

#pragma unroll
	for (int i = 0; i < NAME_WORDS; i++) {
		if (i * 8 >= len)
			break;
		h = (h ^ name_word(op, i, len)) * FNV_PRIME;
	}
	return h;
}

static __always_inline struct file_name_index *name_index(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&file_name_index, &zero);
}

/* file_basenames' entry for hash `h`; the Bloom filter answers most misses without the lookup. */
static __always_inline struct name_masks *basename_lookup(struct file_name_index *ix, __u64 h)
{
	__u32 a = h >> (64 - NAME_BLOOM_LOG2);
	__u32 b = (h >> (64 - 2 * NAME_BLOOM_LOG2)) & (NAME_BLOOM_BITS - 1);

	if (!ix || !((ix->bloom[(a / 64) & (NAME_BLOOM_WORDS - 1)] >> (a % 64)) & 1) ||
	    !((ix->bloom[(b / 64) & (NAME_BLOOM_WORDS - 1)] >> (b % 64)) & 1))
		return NULL;
	return bpf_map_lookup_elem(&file_basenames, &h);
}

/* Whether the basename in op->name_words starts with a prefix that admits `bit` (FP_NAME_PREFIX): hashes
 * its first len[i] bytes for each configured length, as name_hash does, at most NAME_PREFIX_MAX of them. */
static __always_inline int name_prefix_admits(struct file_op *op, struct file_name_index *ix, __u32 bit)
{
	struct name_masks *nm;

	if (!ix || !op->name_ok)
		return 0;
#pragma unroll
	for (int i = 0; i < NAME_PREFIX_LENS; i++) {
		__u32 len = ix->prefix_len[i];
		if (!len || len > NAME_PREFIX_MAX || len > op->name_len)
			continue;
		__u64 h = FNV_OFFSET ^ len;
#pragma unroll
		for (int w = 0; w < NAME_PREFIX_MAX / 8; w++) {
			if (w * 8 >= len)
				break;
			__u64 v = op->name_words[w];
			__u32 rem = len - w * 8;
			if (rem < 8)
				v &= (1ull << (rem * 8)) - 1;
			h = (h ^ v) * FNV_PRIME;
		}
		nm = basename_lookup(ix, h);
		if (nm && (nm->prefix & bit))
			return 1;
	}
	return 0;
}

/* Copies the basename of a dentry into op->name and hashes it. */
static __always_inline void dentry_name_hash(struct file_op *op, struct dentry *d)
{
	const unsigned char *name = KREAD(d, d_name.name);
	__u32 len = KREAD(d, d_name.len);

	if (len > NAME_MAX_LEN)
		len = NAME_MAX_LEN;
	barrier_var(len);
	len &= NAME_MAX_LEN;
	op->name_ok = len > 0 && !bpf_probe_read_kernel(op->name_words, len, name);
	op->name_hash = op->name_ok ? name_hash(op, len) : 0;
	op->name_len = len;
}

#define TAIL_CHAR(w, i) ((w)->path[(TAIL_AT + (i)) & (WORK_PATH_LEN - 1)])

/* Scans the user's string forwards, remembering where the last component starts and ends (bpf_loop: one
 * verified iteration whatever the length). */
static long tail_scan_step(__u64 i, void *arg)
{
	struct work *w = work_buf();
	struct file_op *op = file_op_buf();

	if (!w || !op || i >= op->tail_len)
		return 1;
	if (TAIL_CHAR(w, i) == '/') {
		op->comp_len = 0;
	} else {
		if (op->comp_len == 0)
			op->i = i; /* a component starts */
		op->comp_len++;
		op->h_dir = op->comp_len; /* length of the last non-empty component so far */
		op->end = i + 1;
	}
	return 0;
}

/* Finds the last component of the user's string (work.path[TAIL_AT..+tail_len), trailing '/' ignored),
 * hashes it, and says whether it is the only component. */
static __always_inline void tail_name_hash(struct file_op *op, struct work *w)
{
	__u32 start, len;

	op->name_ok = 0;
	op->single = 0;
	op->comp_len = 0;
	op->h_dir = 0;
	op->i = 0;
	op->end = 0;
	bpf_loop(TAIL_MAX, tail_scan_step, NULL, 0);
	start = op->i;
	len = op->h_dir;
	if (len == 0 || len > NAME_MAX_LEN || start > TAIL_MAX)
		return;
	if (TAIL_CHAR(w, start) == '.' && (len == 1 || (len == 2 && TAIL_CHAR(w, start + 1) == '.')))
		return; /* "." and "..": the name is not known here */
	barrier_var(len);
	len &= NAME_MAX_LEN;
	if (bpf_probe_read_kernel(op->name_words, len, &w->path[(TAIL_AT + start) & (WORK_PATH_LEN - 1)]))
		return;
	op->name_ok = 1;
	op->name_hash = name_hash(op, len);
	op->name_len = len;
	op->single = start == 0 && op->end == op->tail_len;
}

/* Rolls FNV-1a over the resolved path, looking up every directory prefix (at each '/') and noting whether
 * the path is canonical (no "//", "." or ".." components): a non-canonical path cannot be judged. */
static long path_roll_step(__u64 i, void *arg)
{
	struct work *w = work_buf();
	struct file_op *op = file_op_buf();
	struct path_key key = {};
	__u32 *hit;
	__u32 at;
	char ch;

	if (!w || !op)
		return 1;
	at = op->start + i;
	if (at >= op->end)
		return 1;
	ch = w->path[at & (WORK_PATH_LEN - 1)];
	op->h = (op->h ^ (__u8)ch) * FNV_PRIME;
	if (ch != '/') {
		op->comp_len++;
		if (ch == '.')
			op->comp_dots++;
		return 0;
	}
	if (i > 0 && (op->comp_len == 0 || (op->comp_dots == op->comp_len && op->comp_len <= 2)))
		op->noncanon = 1;
	op->comp_len = 0;
	op->comp_dots = 0;
	op->h_dir = op->h;
	key.hash = op->h;
	key.kind = PATH_KEY_PREFIX;
	hit = bpf_map_lookup_elem(&file_paths, &key);
	if (hit)
		op->prefix_hits |= *hit;
	return 0;
}

/* Slots (of `want`) whose path approvers admit work.path[start..end); all of `want` when the path cannot
 * be judged. Also sets op->h_dir for the discarder decision. */
static __always_inline __u32 path_admits(struct file_op *op, __u32 want)
{
	struct path_key key = {};
	__u32 *hit, hits;

	op->h = FNV_OFFSET;
	op->h_dir = 0;
	op->comp_len = 0;
	op->comp_dots = 0;
	op->noncanon = 0;
	op->prefix_hits = 0;
	bpf_loop(WORK_PATH_LEN, path_roll_step, NULL, 0);
	if (op->comp_len == 0 || (op->comp_dots == op->comp_len && op->comp_len <= 2))
		op->noncanon = 1; /* trailing '/', "." or ".." */
	if (op->noncanon || op->truncated)
		return want;
	hits = op->prefix_hits;
	key.hash = op->h;
	key.kind = PATH_KEY_EXACT;
	hit = bpf_map_lookup_elem(&file_paths, &key);
	if (hit)
		hits |= *hit;
	return hits & want;
}

/* --- discarders ------------------------------------------------------------------------------------- */

static __always_inline void parent_key(struct file_op *op, struct discarder_key *k)
{
	struct dentry *parent = (void *)op->parent;
	struct vfsmount *mnt = (void *)op->parent_mnt;
	struct mount *m = (void *)mnt - bpf_core_field_offset(struct mount, mnt);

	k->inode = KREAD(KREAD(parent, d_inode), i_ino);
	k->mount_id = KREAD(m, mnt_id);
	k->name_len = 0;
	k->name_hash = 0;
}

/* The key of the file itself (its name in the parent directory), or 0 when its name is not known or too long
 * to be kept beside the key (DISCARDER_NAME_MAX). */
static __always_inline int file_key(struct file_op *op, struct discarder_key *k)
{
	if (!op->name_ok || !op->name_len || op->name_len > DISCARDER_NAME_MAX)
		return 0;
	k->name_len = op->name_len;
	k->name_hash = op->name_hash;
	return 1;
}

/* Whether per-name discarder `v` was learnt for this very name (the key's length matches already; its hash
 * alone proves nothing). */
static __always_inline int discarder_names_file(struct file_op *op, struct name_discarder_val *v)
{
	__u32 len = op->name_len;

#pragma unroll
	for (int i = 0; i < DISCARDER_NAME_WORDS; i++) {
		if (i * 8 >= len)
			break;
		if (v->name[i] != name_word(op, i, len))
			return 0;
	}
	return 1;
}

/* Slots of `want` discarded for the file's parent directory, or for the file by name. */
static __always_inline __u32 discarded(struct file_op *op, __u32 want)
{
	struct discarder_key k;
	struct discarder_val *v;
	struct name_discarder_val *nv;

	if (!op->parent)
		return 0;
	parent_key(op, &k);
	if (k.inode && op->last_inode == k.inode && op->last_mount_id == k.mount_id && op->last_rev == op->rev &&
	    (op->last_slots & want))
		return op->last_slots & want;
	v = bpf_map_lookup_elem(&file_discarders, &k);
	if (v && v->revision == op->rev && (v->slots & want)) {
		op->last_inode = k.inode;
		op->last_mount_id = k.mount_id;
		op->last_rev = op->rev;
		op->last_slots = v->slots;
		return v->slots & want;
	}
	/* a directory with watched files of its own: this file may be known not to pass */
	if (!file_key(op, &k))
		return 0;
	nv = bpf_map_lookup_elem(&file_name_discarders, &k);
	if (!nv || nv->revision != op->rev || !discarder_names_file(op, nv))
		return 0;
	return nv->slots & want;
}

/* Records that directory `k` fails the path check for `slots` at this revision. */
static __always_inline void add_discarder(struct file_op *op, struct discarder_key *k, __u32 slots)
{
	struct discarder_val nv = {}, *v;

	v = bpf_map_lookup_elem(&file_discarders, k);
	if (v && v->revision == op->rev) {
		v->slots |= slots;
	} else {
		nv.revision = op->rev;
		nv.slots = slots;
		bpf_map_update_elem(&file_discarders, k, &nv, BPF_ANY);
	}
	file_count(op->type, FC_DISCARDER_ADDED);
}

/* Records that the file named op->name_words (key `k`) fails the path check for `slots` at this revision. A
 * different name with the same key (a hash collision) takes the entry over: the other name then only loses
 * its discarder. */
static __always_inline void add_name_discarder(struct file_op *op, struct discarder_key *k, __u32 slots)
{
	struct name_discarder_val *v, *nv = &op->new_name_discarder;
	__u32 len = op->name_len;

	v = bpf_map_lookup_elem(&file_name_discarders, k);
	if (v && v->revision == op->rev && discarder_names_file(op, v)) {
		v->slots |= slots;
	} else {
		nv->revision = op->rev;
		nv->slots = slots;
#pragma unroll
		for (int i = 0; i < DISCARDER_NAME_WORDS; i++)
			nv->name[i] = i * 8 < len ? name_word(op, i, len) : 0;
		bpf_map_update_elem(&file_name_discarders, k, nv, BPF_ANY);
	}
	file_count(op->type, FC_DISCARDER_ADDED);
}

/* The path check failed for `slots` on a canonical path: if no exact path lies in this directory either,
 * nothing in it can pass these slots' path approvers until the next revision; for the slots that have exact
 * paths here, only this file is known not to pass. */
static __always_inline void learn_discarder(struct file_op *op, __u32 slots)
{
	struct path_key pk = {};
	struct discarder_key k, fk;
	__u32 *hit;

	if (!op->parent || !slots || op->noncanon || op->truncated || !op->h_dir)
		return;
	pk.hash = op->h_dir;
	pk.kind = PATH_KEY_DIR;
	hit = bpf_map_lookup_elem(&file_paths, &pk);
	parent_key(op, &k);
	if (hit && (slots & *hit)) {
		fk = k;
		if (file_key(op, &fk))
			add_name_discarder(op, &fk, slots & *hit);
		slots &= ~*hit;
	}
	if (!slots)
		return;
	op->last_inode = 0; /* the cached directory may be this one: look it up afresh */
	add_discarder(op, &k, slots);
}

/* --- resolving one side (source or destination) ---------------------------------------------------- */

/* Returns 1 when `inode` is an overlayfs inode whose file has been copied up (lives in the upper layer). */
static __always_inline __u32 in_upper_layer(struct inode *inode)
{
	struct ovl_inode *oi;

	if (!inode || KREAD(KREAD(inode, i_sb), s_magic) != OVERLAYFS_SUPER_MAGIC)
		return 0;
	oi = (void *)inode - bpf_core_field_offset(struct ovl_inode, vfs_inode);
	return KREAD(oi, __upperdentry) != NULL;
}

/* Fills `f` from a dentry and its mount; returns 1 when the file is in an overlayfs upper layer. */
static __always_inline __u32 fill_dentry_info(struct file_info *f, struct dentry *d, struct vfsmount *vfsmnt)
{
	struct inode *inode = KREAD(d, d_inode);

	fill_inode_info(f, inode, vfsmnt);
	return in_upper_layer(inode);
}

/* --- the inode a path-based call worked on ----------------------------------------------------------
 *
 * At sys_exit a path-based call (chmod("/etc/x")) only has the user's string: its base directory gives the
 * path, not the file. Every call that changes a file's metadata also sets its ctime, and kernels since 6.13
 * trace that with the inode (timestamp:inode_set_ctime_to_ts, ctime_ns_xchg, ctime_xchg_skip). Those
 * programs note, per task, the inodes a wanted file call touches; file_sys_exit picks the call's own among
 * them. On older kernels the programs are not loaded and such events carry the path only. */

#define TOUCHED_MAX 4

struct touched {
	__u64 inode[TOUCHED_MAX];
	__u32 n;
	__u32 nr; /* the syscall they were noted in */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct touched);
} file_touched SEC(".maps");

/* Only path-based calls: opens, chdir and fd-based calls know their file already. */
static __always_inline int notes_inodes(const volatile struct sys_desc *d)
{
	return d->type && d->fd == ARG_NONE && d->special != SP_OPEN && d->special != SP_CREAT &&
	       d->special != SP_OPENAT2 && d->special != SP_CHDIR;
}

static __always_inline void note_touched(struct inode *inode)
{
	struct task_struct *task = bpf_get_current_task_btf();
	const volatile struct sys_desc *d;
	struct pt_regs *regs;
	struct file_policy *pol;
	struct touched *t;
	__u32 type, n, nr = 0;

	if (!inode || (task->flags & PF_KTHREAD) || (agent_tgid && task->tgid == agent_tgid))
		return;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return;
	d = file_syscall_desc(BPF_CORE_READ(regs, orig_ax), &nr);
	if (!d || !notes_inodes(d))
		return;
	type = d->type - 1;
	pol = bpf_map_lookup_elem(&file_policy, &type);
	if (d->special == SP_UNLINKAT && (!pol || pol->mode == FILE_MODE_OFF)) {
		type = FILE_EV_RMDIR; /* unlinkat(AT_REMOVEDIR) */
		pol = bpf_map_lookup_elem(&file_policy, &type);
	}
	if (!pol || pol->mode == FILE_MODE_OFF)
		return;
	t = bpf_task_storage_get(&file_touched, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t)
		return;
	if (t->nr != nr)
		t->n = 0;
	t->nr = nr;
	n = t->n;
#pragma unroll
	for (int i = 0; i < TOUCHED_MAX; i++)
		if (i < n && t->inode[i] == (__u64)inode)
			return;
	if (n < TOUCHED_MAX) {
		t->inode[n & (TOUCHED_MAX - 1)] = (__u64)inode;
		t->n = n + 1;
	}
}

SEC("tp_btf/inode_set_ctime_to_ts")
int BPF_PROG(file_ctime_set, struct inode *inode, struct timespec64 *ts)
{
	note_touched(inode);
	return 0;
}

SEC("tp_btf/ctime_ns_xchg")
int BPF_PROG(file_ctime_xchg, struct inode *inode, u32 old, u32 new, u32 cur)
{
	note_touched(inode);
	return 0;
}

SEC("tp_btf/ctime_xchg_skip")
int BPF_PROG(file_ctime_skip, struct inode *inode, struct timespec64 *ctime)
{
	note_touched(inode);
	return 0;
}

#define ALIASES_MAX 4

/* One step of pick_touched: looks at one name (dentry alias) of one candidate, or at the candidate's shape
 * when first visiting it. A bpf_loop() callback, so the name hashing is verified once. */
static long pick_step(__u64 i, void *arg)
{
	struct file_op *op = file_op_buf();
	struct inode *inode;
	struct hlist_node *alias;

	if (!op || op->ci >= op->cn || op->ci >= TOUCHED_MAX)
		return 1;
	inode = (void *)op->cand[op->ci & (TOUCHED_MAX - 1)];
	if (!op->alias_started) {
		__u32 mode = BPF_CORE_READ(inode, i_mode) & S_IFMT_;
		if (!op->shaped &&
		    ((op->pick_type == FILE_EV_UNLINK && mode != S_IFDIR_) ||
		     (op->pick_type == FILE_EV_RMDIR && mode == S_IFDIR_ && BPF_CORE_READ(inode, i_nlink) == 0)))
			op->shaped = (__u64)inode;
		op->alias = (__u64)BPF_CORE_READ(inode, i_dentry.first);
		op->alias_started = 1;
		op->alias_i = 0;
	}
	alias = (void *)op->alias;
	if (alias && op->want_ok && op->alias_i < ALIASES_MAX) {
		dentry_name_hash(op, (void *)alias - bpf_core_field_offset(struct dentry, d_u.d_alias));
		if (op->name_ok && op->name_hash == op->want_hash) {
			if ((__u64)BPF_CORE_READ(inode, i_sb) == op->base_sb) {
				op->found = (__u64)inode;
				return 1;
			}
			if (!op->named)
				op->named = (__u64)inode;
		} else {
			op->alias = (__u64)BPF_CORE_READ(alias, next);
			op->alias_i++;
			return 0;
		}
	}
	op->ci++;
	op->alias_started = 0;
	return 0;
}

/* The inode among those the call touched that is its file: the one with the file's basename among its
 * names (on the base directory's filesystem first: under overlayfs both the upper and the overlay inode are
 * touched), else by the call's shape (an unlinked file has no name left: the non-directory; an rmdir: the
 * directory with no link left; a single-inode call: that inode). `n` inodes of `t` belong to this call. */
static __always_inline struct inode *pick_touched(struct file_op *op, struct touched *t, __u32 n, __u32 type)
{
	struct vfsmount *base = (void *)op->mnt;

	if (!t)
		return NULL;
	op->cn = n < TOUCHED_MAX ? n : TOUCHED_MAX;
#pragma unroll
	for (int i = 0; i < TOUCHED_MAX; i++)
		op->cand[i] = t->inode[i];
	op->ci = 0;
	op->alias_started = 0;
	op->found = 0;
	op->named = 0;
	op->shaped = 0;
	op->pick_type = type;
	op->base_sb = (__u64)BPF_CORE_READ(base, mnt_sb);
	op->want_hash = op->name_hash;
	op->want_ok = op->name_ok;
	bpf_loop(TOUCHED_MAX * (ALIASES_MAX + 1), pick_step, NULL, 0);
	op->name_hash = op->want_hash;
	op->name_ok = op->want_ok;
	if (op->found)
		return (void *)op->found;
	if (op->named)
		return (void *)op->named;
	if (op->shaped)
		return (void *)op->shaped;
	return op->cn == 1 ? (void *)op->cand[0] : NULL;
}

/* Fills the source (`dst` 0) or destination side of `ev` from a touched inode; the mount is the base
 * directory's when the inode is on its filesystem. */
static __always_inline void fill_touched(struct file_event *ev, int dst, struct inode *inode, struct file_op *op)
{
	struct vfsmount *base = (void *)op->mnt;
	struct vfsmount *mnt = BPF_CORE_READ(inode, i_sb) == BPF_CORE_READ(base, mnt_sb) ? base : NULL;

	if (dst) {
		fill_inode_info(&ev->dst, inode, mnt);
		ev->flags |= FILE_DST_INODE;
		return;
	}
	fill_inode_info(&ev->src, inode, mnt);
	ev->flags |= FILE_SRC_INODE;
	if (in_upper_layer(inode))
		ev->flags |= FILE_SRC_UPPER;
}

/* Finds the side's file or base directory and its basename hash; no path walk yet. `dirfd_arg`/`path_arg`
 * are argument indices (ARG_*), `file` an already known struct file (fd-based calls, open's result). */
static __always_inline int side_locate(struct file_op *op, struct work *w, struct task_struct *task,
				       struct file *file, __u8 dirfd_arg, __u8 path_arg, __u32 origin)
{
	const char *upath = (const char *)op_arg(op, path_arg);
	struct dentry *d;
	struct vfsmount *vfsmnt;
	long dirfd = dirfd_arg == ARG_FDCWD ? AT_FDCWD : (int)op_arg(op, dirfd_arg);
	long n = 0;

	op->tail_len = 0;
	op->absolute = 0;
	op->parent = 0;
	op->truncated = 0;
	if (!file && path_arg != ARG_NONE && upath) {
		n = origin_read_str(&w->path[TAIL_AT], TAIL_MAX, upath, origin);
		if (n > 1) {
			op->tail_len = n - 1;
		} else if (dirfd != AT_FDCWD) {
			file = task_fd_file(task, dirfd); /* "" with AT_EMPTY_PATH: the dirfd itself */
		}
	} else if (!file && path_arg != ARG_NONE && dirfd != AT_FDCWD) {
		file = task_fd_file(task, dirfd); /* utimensat(fd, NULL, ...) */
	}

	if (op->tail_len == 0) {
		if (!file)
			return 0;
		/* the file itself: path and inode from its dentries */
		op->side = SIDE_DENTRY;
		op->dentry = (__u64)KREAD(file, f_path.dentry);
		op->mnt = (__u64)KREAD(file, f_path.mnt);
		d = (void *)op->dentry;
		vfsmnt = (void *)op->mnt;
		if (d != KREAD(vfsmnt, mnt_root)) {
			op->parent = (__u64)KREAD(d, d_parent);
			op->parent_mnt = op->mnt;
		}
		dentry_name_hash(op, d);
		return 1;
	}

	/* a directory + the user's string */
	op->side = SIDE_TEXT;
	op->absolute = w->path[TAIL_AT] == '/';
	if (op->absolute) {
		op->dentry = (__u64)KREAD(KREAD(task, fs), root.dentry);
		op->mnt = (__u64)KREAD(KREAD(task, fs), root.mnt);
	} else if (dirfd == AT_FDCWD) {
		op->dentry = (__u64)KREAD(KREAD(task, fs), pwd.dentry);
		op->mnt = (__u64)KREAD(KREAD(task, fs), pwd.mnt);
	} else {
		file = task_fd_file(task, dirfd);
		if (!file)
			return 0;
		op->dentry = (__u64)KREAD(file, f_path.dentry);
		op->mnt = (__u64)KREAD(file, f_path.mnt);
	}
	tail_name_hash(op, w);
	/* a single component lies directly in the base directory: that is its parent */
	op->parent = 0;
	if (!op->absolute && op->single) {
		op->parent = op->dentry;
		op->parent_mnt = op->mnt;
	}
	return 1;
}

/* Builds the side's absolute path in work.path[start..end). */
static __always_inline void side_walk(struct file_op *op, struct work *w)
{
	struct walk *c = &w->walk;
	__u32 base_len;

	c->pos = PATH_MAX_LEN;
	c->truncated = 0;
	walk_dentries(c, (void *)op->dentry, (void *)op->mnt);
	base_len = finish_path(w, c);
	op->truncated = c->truncated;
	op->start = c->pos;
	op->end = PATH_MAX_LEN;
	if (op->side != SIDE_TEXT)
		return;
	if (base_len == 1)
		op->start = PATH_MAX_LEN; /* the base is "/": the tail brings its own leading '/' */
	if (op->absolute) {
		/* the root of a chrooted process: "<root>/" + "/etc/x" (normalised in user space) */
		w->path[PATH_MAX_LEN] = '/';
		if (base_len == 1)
			op->start = TAIL_AT;
	} else {
		w->path[PATH_MAX_LEN] = '/';
	}
	op->end = TAIL_AT + op->tail_len;
}

/* Copies a section of at most `max` bytes to data[off..] (see `append` in sensor.bpf.c). */
static __always_inline __u32 file_append(char *data, __u32 off, const void *src, __u32 len, const __u32 max)
{
	if (len > max)
		len = max;
	barrier_var(len);
	len &= 2 * max - 1;
	if (off > sizeof(((struct file_scratch *)0)->data) - 2 * max)
		return 0;
	if (bpf_probe_read_kernel(data + off, len, src))
		return 0;
	return len;
}

/* Appends the walked path of the current side to the record. */
static __always_inline __u32 side_copy(struct file_op *op, struct work *w, char *data, __u32 off)
{
	__u32 len = op->end > op->start ? op->end - op->start : 0;
	return file_append(data, off, &w->path[op->start & (WORK_PATH_LEN - 1)], len, WORK_PATH_LEN);
}

/* --- activity dumps: workloads (cgroups) being profiled get every file event --------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64); /* cgroup v2 id */
	__type(value, __u32);
} dump_cgroups SEC(".maps");

/* Nonzero while some cgroup is in dump_cgroups: one array read spares every other call the hash lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} dump_active SEC(".maps");

static __always_inline int in_dumped_cgroup(struct task_struct *task)
{
	__u32 zero = 0;
	__u32 *on = bpf_map_lookup_elem(&dump_active, &zero);
	__u64 id;

	if (!on || !*on)
		return 0;
	id = KREAD(task_cgroup_kn(task), id);
	return bpf_map_lookup_elem(&dump_cgroups, &id) != NULL;
}

/* --- the program -------------------------------------------------------------------------------------- */

/* The body: builds the record of one completed file call in file_heap and returns its length (0: dropped
 * by a filter). `d` describes the call, `args` are its six argument values, `ret` its result
 * (FILE_RET_UNKNOWN: not known), `origin` (ORIGIN_*, a constant at each call site) says where the strings
 * they point to live, `nr` keys the inodes the call touched (file_touched; 0: none are looked at) and `task`
 * is the task whose descriptors, root and cwd the call used (the current task for a syscall). A syscall's
 * open returns, and its fd-based calls take, a descriptor of `task`; other origins give that file as
 * `opened` (NULL: unknown). */
static __always_inline __u32 file_record(const volatile struct sys_desc *d, const __u64 *args, long ret,
					 __u32 origin, __u32 nr, struct task_struct *task, struct file *opened)
{
	struct file_scratch *s;
	struct file_policy *pol, *dpol;
	struct file_op *op;
	struct work *w;
	struct name_masks *nm;
	struct file_name_index *ix;
	struct file *file = NULL;
	struct dentry *cwd;
	struct touched *touched = NULL;
	struct inode *inode;
	__u32 mode;
	__u32 n_touched = 0;
	__u32 zero = 0, type, slot_bit, dst_bit = 0, dst_slot = 0, want, off = 0, len, flags = 0;
	__u32 src_admit = 0, dst_admit = 0, pflags;
	__u8 special;

	special = d->special;
	if (special == SP_BUMP) {
		if (ret == 0)
			bump_revision();
		return 0;
	}
	if (!d->type)
		return 0;
	type = d->type - 1;

	/* the event's own flags, known before any path work */
	if (special == SP_CREAT)
		flags = O_CREAT | O_WRONLY | O_TRUNC;
	else if (special == SP_OPENAT2)
		origin_read(&flags, sizeof(flags), (void *)args[2], origin); /* open_how.flags, low half */
	else if (d->flags != ARG_NONE)
		flags = call_arg(args, d->flags);
	if (special == SP_UNLINKAT && (flags & AT_REMOVEDIR))
		type = FILE_EV_RMDIR;
	if (type >= FILE_EV_COUNT)
		return 0;

	/* directory renames and removals change what cached discarders mean (paths, inode reuse) */
	if ((ret == 0 || ret == FILE_RET_UNKNOWN) && (type == FILE_EV_RMDIR || type == FILE_EV_RENAME))
		bump_revision();

	pol = bpf_map_lookup_elem(&file_policy, &type);
	if (!pol)
		return 0;
	/* a workload being profiled (activity dump) gets every file event, whatever the rules need */
	mode = pol->mode;
	if (mode != FILE_MODE_ALL && in_dumped_cgroup(task))
		mode = FILE_MODE_ALL;
	if (mode == FILE_MODE_OFF)
		return 0;
	/* failed calls: only denials matter, unless a rule looks at the error */
	if (ret < 0 && ret != -EACCES_ && ret != -EPERM_ && ret != FILE_RET_UNKNOWN && !(pol->flags & FP_ERRORS))
		return 0;
	if (agent_tgid && task->tgid == agent_tgid)
		return 0;
	file_count(type, FC_SEEN);
	/* claim the inodes this call touched (marking the storage so the next call starts afresh) before any
	 * early return */
	touched = nr && notes_inodes(d) ? bpf_task_storage_get(&file_touched, task, 0, 0) : NULL;
	if (touched) {
		n_touched = touched->nr == nr ? touched->n : 0;
		touched->nr = 0;
	}
	slot_bit = 1u << type;
	pflags = pol->flags;
	/* no name or path approver: the flags (and the ABI) decide, before any file is looked at */
	if (mode == FILE_MODE_FILTER && !(pflags & (FP_NAME | FP_NAME_PREFIX | FP_PATH)) && d->dst_path == ARG_NONE &&
	    !((pflags & FP_FLAGS) && (flags & pol->flags_mask)) && !((pflags & FP_COMPAT) && origin == ORIGIN_IA32)) {
		file_count(type, FC_APPROVER_DROP);
		return 0;
	}

	op = file_op_buf();
	w = work_buf();
	if (!op || !w)
		return 0;
	op->args[0] = args[0];
	op->args[1] = args[1];
	op->args[2] = args[2];
	op->args[3] = args[3];
	op->args[4] = args[4];
	op->args[5] = args[5];
	op->type = type;
	op->rev = current_revision();

	/* source side: locate, then the cheap approvers */
	/* every open variant returns the new fd: its file is what was opened */
	if ((special == SP_OPEN || special == SP_CREAT || special == SP_OPENAT2) && ret >= 0)
		file = origin == ORIGIN_SYSCALL || origin == ORIGIN_IA32 ? task_fd_file(task, ret) : opened;
	else if (d->fd != ARG_NONE)
		file = origin == ORIGIN_SYSCALL || origin == ORIGIN_IA32 ? task_fd_file(task, (int)op_arg(op, d->fd))
									 : opened;
	if (special == SP_CHDIR && ret == 0) {
		/* the new cwd: resolved by the kernel already */
		op->side = SIDE_DENTRY;
		op->tail_len = 0;
		op->absolute = 0;
		op->truncated = 0;
		op->dentry = (__u64)KREAD(KREAD(task, fs), pwd.dentry);
		op->mnt = (__u64)KREAD(KREAD(task, fs), pwd.mnt);
		op->parent = 0;
		cwd = (void *)op->dentry;
		dentry_name_hash(op, cwd);
	} else if (!side_locate(op, w, task, file, d->dirfd, d->path, origin)) {
		return 0;
	}

	ix = name_index();
	if (mode == FILE_MODE_FILTER) {
		if ((pflags & FP_FLAGS) && (flags & pol->flags_mask))
			src_admit = slot_bit;
		if ((pflags & FP_COMPAT) && origin == ORIGIN_IA32)
			src_admit = slot_bit;
		nm = op->name_ok ? basename_lookup(ix, op->name_hash) : NULL;
		if (nm && (pflags & FP_NAME) && (nm->name & slot_bit))
			src_admit = slot_bit;
		if (!src_admit && (pflags & FP_NAME_PREFIX) && name_prefix_admits(op, ix, slot_bit))
			src_admit = slot_bit;
		/* the path check is still possible when the basename gate lets it through */
		want = 0;
		if (!src_admit && (pflags & FP_PATH) &&
		    (!(pflags & FP_GATE) || !op->name_ok || (nm && (nm->path & slot_bit))))
			want = slot_bit;
		if (want && discarded(op, want)) {
			if (d->dst_path == ARG_NONE) {
				file_count(type, FC_DISCARDER_DROP);
				return 0;
			}
			want = 0;
		}
	} else {
		src_admit = slot_bit;
		want = 0;
	}
	if (!src_admit && !want && d->dst_path == ARG_NONE) {
		file_count(type, FC_APPROVER_DROP);
		return 0;
	}

	/* the record: fixed part */
	s = bpf_map_lookup_elem(&file_heap, &zero);
	if (!s)
		return 0;
	fill_header(&s->ev.hdr, RECORD_FILE_BASE + type);
	s->ev.pid = task->tgid;
	s->ev.tid = task->pid;
	s->ev.retval = ret;
	fill_creds(&s->ev.creds, task);
	s->ev.flags = 0;
	s->ev.sys_flags = flags;
	s->ev.sys_mode = 0;
	s->ev.origin = origin;
	if (special == SP_OPENAT2)
		origin_read(&s->ev.sys_mode, sizeof(s->ev.sys_mode), (void *)op_arg(op, 2) + 8, origin);
	else if (d->mode != ARG_NONE)
		s->ev.sys_mode = op_arg(op, d->mode);
	s->ev.sys_uid = d->uid != ARG_NONE ? op_arg(op, d->uid) : 0;
	s->ev.sys_gid = d->gid != ARG_NONE ? op_arg(op, d->gid) : 0;
	s->ev.sys_dirfd = d->dirfd == ARG_FDCWD || d->dirfd == ARG_NONE ? AT_FDCWD : (int)op_arg(op, d->dirfd);
	__builtin_memset(&s->ev.src, 0, sizeof(s->ev.src));
	__builtin_memset(&s->ev.dst, 0, sizeof(s->ev.dst));
	s->ev.dst_path_len = 0;
	s->ev.sys_path_len = 0;
	s->ev.sys_dst_path_len = 0;
	s->ev.xattr_name_len = 0;

	/* source path */
	side_walk(op, w);
	if (want) {
		if (path_admits(op, want))
			src_admit = slot_bit;
		else
			learn_discarder(op, want);
		if (!src_admit && d->dst_path == ARG_NONE) {
			file_count(type, FC_APPROVER_DROP);
			return 0;
		}
	}
	if (op->side == SIDE_DENTRY) {
		s->ev.flags |= FILE_SRC_RESOLVED;
		if (fill_dentry_info(&s->ev.src, (void *)op->dentry, (void *)op->mnt))
			s->ev.flags |= FILE_SRC_UPPER;
	} else if (n_touched && d->dst_path == ARG_NONE) {
		inode = pick_touched(op, touched, n_touched, type);
		if (inode)
			fill_touched(&s->ev, 0, inode, op);
	}
	if (op->truncated)
		s->ev.flags |= FILE_SRC_TRUNCATED;
	len = side_copy(op, w, s->data, off);
	s->ev.src_path_len = len;
	off += len;

	/* destination path (rename, link) */
	if (d->dst_path != ARG_NONE) {
		dst_slot = type == FILE_EV_RENAME ? FILE_SLOT_RENAME_DST : FILE_SLOT_LINK_DST;
		dst_bit = 1u << dst_slot;
		dpol = bpf_map_lookup_elem(&file_policy, &dst_slot);
		want = 0;
		if (side_locate(op, w, task, NULL, d->dst_dirfd, d->dst_path, origin)) {
			if (mode == FILE_MODE_FILTER && dpol) {
				pflags = dpol->flags;
				nm = op->name_ok ? basename_lookup(ix, op->name_hash) : NULL;
				if (nm && (pflags & FP_NAME) && (nm->name & dst_bit))
					dst_admit = dst_bit;
				if (!dst_admit && (pflags & FP_NAME_PREFIX) && name_prefix_admits(op, ix, dst_bit))
					dst_admit = dst_bit;
				if (!dst_admit && (pflags & FP_PATH) &&
				    (!(pflags & FP_GATE) || !op->name_ok || (nm && (nm->path & dst_bit))))
					want = dst_bit;
			}
			/* the renamed or linked inode: its (newest) name is the destination's */
			inode = n_touched ? pick_touched(op, touched, n_touched, type) : NULL;
			if (inode) {
				fill_touched(&s->ev, 0, inode, op);
				fill_touched(&s->ev, 1, inode, op);
			}
			side_walk(op, w);
			if (want && path_admits(op, want))
				dst_admit = dst_bit;
			if (op->truncated)
				s->ev.flags |= FILE_DST_TRUNCATED;
			len = side_copy(op, w, s->data, off);
			s->ev.dst_path_len = len;
			off += len;
		}
		if (!src_admit && !dst_admit) {
			file_count(type, FC_APPROVER_DROP);
			return 0;
		}
	}

	/* the user's own strings (syscall.path, syscall.destination.path) and the xattr name */
	if (d->path != ARG_NONE && op_arg(op, d->path) && off <= sizeof(s->data) - 2 * PATH_MAX_LEN) {
		long n = origin_read_str(s->data + off, PATH_MAX_LEN, (void *)op_arg(op, d->path), origin);
		if (n > 1) {
			s->ev.sys_path_len = n - 1;
			off += n - 1;
		}
	}
	if (d->dst_path != ARG_NONE && op_arg(op, d->dst_path) && off <= sizeof(s->data) - 2 * PATH_MAX_LEN) {
		long n = origin_read_str(s->data + off, PATH_MAX_LEN, (void *)op_arg(op, d->dst_path), origin);
		if (n > 1) {
			s->ev.sys_dst_path_len = n - 1;
			off += n - 1;
		}
	}
	if (d->name != ARG_NONE && off <= sizeof(s->data) - 2 * XATTR_NAME_MAX_LEN) {
		long n = origin_read_str(s->data + off, XATTR_NAME_MAX_LEN, (void *)op_arg(op, d->name), origin);
		if (n > 1) {
			s->ev.xattr_name_len = n - 1;
			off += n - 1;
		}
	}

	return sizeof(struct file_event) + off;
}

/* Writes the record file_record() built (`len` bytes) to the ring buffer. */
static __always_inline void file_emit(__u32 len)
{
	__u32 zero = 0;
	struct file_scratch *s = bpf_map_lookup_elem(&file_heap, &zero);
	__u32 type;

	if (!s || !len)
		return;
	type = s->ev.hdr.kind - RECORD_FILE_BASE;
	barrier_var(len);
	len &= sizeof(*s) - 1;
	if (bpf_ringbuf_output(&events, s, len, rb_flags())) {
		count(CNT_DROPS);
		file_count(type, FC_RING_DROP);
	} else {
		file_count(type, FC_SENT);
	}
}

/* One file call of the current task, from any entry point: `d` its descriptor (sys_table for a native
 * syscall), `args` its six argument values, `ret` its result, `origin` how it was made (a constant), `nr`
 * the key of the inodes it touched (the syscall number; 0: none). */
static __always_inline int file_exit_desc(const volatile struct sys_desc *d, const __u64 *args, long ret,
					  __u32 origin, __u32 nr)
{
	file_emit(file_record(d, args, ret, origin, nr, bpf_get_current_task_btf(), NULL));
	return 0;
}

/* A syscall's exit: the arguments are in the caller's saved registers, in x86_64 order for a native syscall
 * and in ia32 order for an ia32 one (its number indexes the ia32 table, see compat.h). The two paths rejoin
 * before the body with nothing the verifier could tell apart (the descriptor copied to the stack, the
 * origin an opaque 0 or 1): the body is verified once, not once per path. */
static __always_inline int file_exit(struct pt_regs *regs, __u64 nr, long ret)
{
	struct sys_desc d;
	__u32 compat = in_ia32_syscall(), origin = compat / TS_COMPAT_;
	__u64 args[6];

	barrier_var(origin); /* ORIGIN_IA32 or ORIGIN_SYSCALL, not a constant on either path */
	if (compat) {
		if (nr >= IA32_TABLE_LEN)
			return 0;
		barrier_var(nr);
		nr &= IA32_TABLE_LEN - 1;
		__builtin_memcpy(&d, (const void *)&ia32_table[nr].file, sizeof(d));
		ia32_args(regs, &ia32_table[nr], args);
	} else {
		if (nr >= SYS_TABLE_LEN)
			return 0;
		barrier_var(nr);
		nr &= SYS_TABLE_LEN - 1;
		__builtin_memcpy(&d, (const void *)&sys_table[nr], sizeof(d));
		args[0] = regs->di;
		args[1] = regs->si;
		args[2] = regs->dx;
		args[3] = regs->r10;
		args[4] = regs->r8;
		args[5] = regs->r9;
	}
	if (!d.type && d.special != SP_BUMP)
		return 0; /* not a file syscall: the every-syscall hook's common case */
	return file_exit_desc(&d, args, ret, origin, nr | origin * IA32_NR_KEY);
}

/* Entry points. Where the kernel has per-syscall tracepoints (CONFIG_FTRACE_SYSCALLS, tracefs), only the file
 * syscalls below run a program: hooking every syscall's exit cost ~120 ns on each call of every process, a
 * third of a short-lived exec's overhead (posix_spawn alone makes ~120 rt_sigaction calls). The openat
 * program holds the body; the others (and compat.h's ia32_sys_exit) tail-call it, so it is verified once. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} file_exit_body SEC(".maps");

SEC("tracepoint/syscalls/sys_exit_openat")
int file_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	if (!regs)
		return 0;
	/* syscalls/sys_exit_*: the record's syscall number is an int, the upper half of `id` is padding (the
	 * raw_syscalls/sys_exit record of compat.h's tail call has a long) */
	return file_exit(regs, (__u32)ctx->id, ctx->ret);
}

#define FILE_EXIT(name)                                                                       \
	SEC("tracepoint/syscalls/sys_exit_" #name) int file_exit_##name(void *ctx)          \
	{                                                                                     \
		bpf_tail_call(ctx, &file_exit_body, 0);                                       \
		return 0;                                                                     \
	}

/* Every syscall of sys_table but openat (file_syscalls.h); umount2's tracepoint is named umount. */
FILE_EXIT(open)
FILE_EXIT(creat)
FILE_EXIT(openat2)
FILE_EXIT(chmod)
FILE_EXIT(fchmod)
FILE_EXIT(fchmodat)
FILE_EXIT(fchmodat2)
FILE_EXIT(chown)
FILE_EXIT(fchown)
FILE_EXIT(lchown)
FILE_EXIT(fchownat)
FILE_EXIT(mkdir)
FILE_EXIT(mkdirat)
FILE_EXIT(rmdir)
FILE_EXIT(unlink)
FILE_EXIT(unlinkat)
FILE_EXIT(rename)
FILE_EXIT(renameat)
FILE_EXIT(renameat2)
FILE_EXIT(link)
FILE_EXIT(linkat)
FILE_EXIT(utime)
FILE_EXIT(utimes)
FILE_EXIT(futimesat)
FILE_EXIT(utimensat)
FILE_EXIT(setxattr)
FILE_EXIT(lsetxattr)
FILE_EXIT(fsetxattr)
FILE_EXIT(removexattr)
FILE_EXIT(lremovexattr)
FILE_EXIT(fremovexattr)
FILE_EXIT(truncate)
FILE_EXIT(ftruncate)
FILE_EXIT(chdir)
FILE_EXIT(fchdir)
FILE_EXIT(mount)
FILE_EXIT(umount)
FILE_EXIT(pivot_root)
FILE_EXIT(move_mount)

/* Without per-syscall tracepoints: every syscall's exit (loaded only then), ia32 syscalls included. */
SEC("tp_btf/sys_exit")
int BPF_PROG(file_sys_exit, struct pt_regs *regs, long ret)
{
	return file_exit(regs, regs->orig_ax, ret);
}
