/* The new mount API (fsopen/fsconfig/fsmount, open_tree, move_mount) as `mount` records, so rules on
 * mount.* see a mount whichever API made it. Records as mount(2)'s (KOP_MOUNT, kernel.h): s0 the mount point,
 * s1 the source, s2 the filesystem type; extra[0] the mount id, extra[1] 1 for a detached mount, extra[2]
 * the call (MOUNT_API_*).
 *
 * - fsmount(fs_fd, ...) makes a detached mount of a configured filesystem and returns a descriptor of its
 *   root: reported (detached, no mount point) because its files are reachable through that descriptor even
 *   if it is never attached. Source: the mount's device name (fsconfig's "source"), type: its superblock's.
 * - open_tree(dfd, path, OPEN_TREE_CLONE) makes a detached copy of a tree (a bind mount not yet attached):
 *   reported, its source the cloned tree's path in its filesystem.
 * - move_mount(from_dfd, from_path, to_dfd, to_path, flags) attaches (or moves) a mount: reported with the
 *   mount point (after success, the attached mount's own path; otherwise to_dfd's path joined with
 *   to_path) and, for a detached mount given by descriptor, its device name and type as above. */
#pragma once

#include "kernel.h"

#ifndef AT_FDCWD
#define AT_FDCWD -100
#endif
#define MOVE_MOUNT_F_EMPTY_PATH 0x4
#define OPEN_TREE_CLONE 1
#define MOUNT_API_MOVE_MOUNT 1
#define MOUNT_API_FSMOUNT 2
#define MOUNT_API_OPEN_TREE 3

/* A kernel string into data[off..], at most max - 1 bytes kept; returns its length without the NUL. */
static __always_inline __u32 kact_kernel_str(struct kact_scratch *s, __u32 off, const void *src, const __u32 max)
{
	long n;

	if (!src || off > KACT_DATA_LEN - 2 * max)
		return 0;
	n = bpf_probe_read_kernel_str(s->data + off, max, src);
	return n > 1 ? n - 1 : 0;
}

/* The struct mount of a file's vfsmount. */
static __always_inline struct mount *file_mount(struct file *f)
{
	struct vfsmount *v = KREAD(f, f_path.mnt);

	return v ? (void *)v - bpf_core_field_offset(struct mount, mnt) : NULL;
}

/* One step of a walk up d_parent only (within one filesystem, ignoring mounts): a detached mount has no
 * parent mount to cross into. */
static long dentry_up_step(__u64 i, void *arg)
{
	struct work *w = work_buf();
	struct dentry *d, *parent;

	if (!w)
		return 1;
	d = (void *)w->walk.node;
	if (!d)
		return 1;
	parent = KREAD(d, d_parent);
	if (!parent || parent == d)
		return 1;
	if (!prepend(w, &w->walk, KREAD(d, d_name.name), KREAD(d, d_name.len)))
		return 1;
	w->walk.node = (__u64)parent;
	return 0;
}

/* Copies work.path[pos..end) to data[off..], at most `max` bytes; returns the length. */
static __always_inline __u32 kact_copy_path(struct kact_scratch *s, struct work *w, __u32 off, __u32 pos,
					    __u32 end, const __u32 max)
{
	__u32 len = end > pos ? end - pos : 0;

	if (off > KACT_DATA_LEN - 2 * max)
		return 0;
	if (len > max)
		len = max;
	barrier_var(len);
	len &= 2 * max - 1;
	if (bpf_probe_read_kernel(s->data + off, len, &w->path[pos & (WORK_PATH_LEN - 1)]))
		return 0;
	return len;
}

/* The path of `d` into data[off..]: in `mnt` up to the namespace root (crossing mounts), or, with no
 * mount, in its filesystem (e.g. "/etc" for a clone of the root filesystem's /etc). */
static __always_inline __u32 kact_walk_path(struct kact_scratch *s, __u32 off, struct dentry *d,
					    struct vfsmount *mnt, const __u32 max)
{
	struct work *w = work_buf();
	__u32 len;

	if (!w)
		return 0;
	w->walk.pos = PATH_MAX_LEN;
	w->walk.truncated = 0;
	if (mnt) {
		walk_dentries(&w->walk, d, mnt);
	} else {
		w->walk.node = (__u64)d;
		bpf_loop(DENTRY_WALK_MAX, dentry_up_step, NULL, 0);
	}
	len = finish_path(w, &w->walk);
	if (w->walk.truncated)
		s->ev.flags |= KACT_PATH_TRUNCATED;
	return kact_copy_path(s, w, off, PATH_MAX_LEN - len, PATH_MAX_LEN, max);
}

/* The path a (dfd, path) pair names: the string when absolute, else the kernel-resolved path of dfd (or
 * the cwd) joined with it (to be normalised in user space), into data[off..]. */
static __always_inline __u32 kact_path_at(struct kact_scratch *s, __u32 off, __s64 dfd, __u64 upath,
					  const __u32 max)
{
	struct work *w = work_buf();
	struct task_struct *task = bpf_get_current_task_btf();
	struct dentry *base_d;
	struct vfsmount *base_m;
	struct file *f;
	long n;
	__u32 len, pos;

	if (!w || !upath)
		return 0;
	n = origin_read_str(&w->path[PATH_MAX_LEN + 1], PATH_MAX_LEN - 1, (void *)upath, s->ev.origin);
	if (n <= 1)
		return 0;
	pos = PATH_MAX_LEN + 1;
	if (w->path[PATH_MAX_LEN + 1] != '/') {
		if (dfd == AT_FDCWD) {
			base_d = KREAD(KREAD(task, fs), pwd.dentry);
			base_m = KREAD(KREAD(task, fs), pwd.mnt);
		} else {
			f = act_fd_file(dfd);
			if (!f)
				return 0;
			base_d = KREAD(f, f_path.dentry);
			base_m = KREAD(f, f_path.mnt);
		}
		w->walk.pos = PATH_MAX_LEN;
		w->walk.truncated = 0;
		walk_dentries(&w->walk, base_d, base_m);
		len = finish_path(w, &w->walk);
		w->path[PATH_MAX_LEN] = '/';
		pos = len == 1 ? PATH_MAX_LEN : PATH_MAX_LEN - len;
	}
	return kact_copy_path(s, w, off, pos, PATH_MAX_LEN + n, max);
}

/* The source and type of a mount given as a descriptor (s1, s2; extra[0] its id, extra[1] detached). A
 * whole filesystem (its root is the superblock's) is named by its device; a tree cloned from inside one by
 * that tree's path. */
static __always_inline void kact_mount_source(struct kact_scratch *s, struct file *f)
{
	struct mount *m = file_mount(f);
	struct dentry *root = KREAD(f, f_path.dentry);
	struct super_block *sb = KREAD(root, d_sb);
	struct mount *parent = KREAD(m, mnt_parent);
	__u32 off = s->ev.s0_len;

	if (!m)
		return;
	s->ev.extra[0] = KREAD(m, mnt_id);
	s->ev.extra[1] = !parent || parent == m; /* a detached mount is its own parent */
	if (root == KREAD(sb, s_root))
		s->ev.s1_len = kact_kernel_str(s, off, KREAD(m, mnt_devname), KACT_STR_MAX);
	else
		s->ev.s1_len = kact_walk_path(s, off, root, NULL, KACT_STR_MAX);
	s->ev.s2_len = kact_kernel_str(s, off + s->ev.s1_len, KREAD(KREAD(sb, s_type), name), KACT_NAME_MAX);
}

/* ---- move_mount(from_dfd, from_path, to_dfd, to_path, flags) */
static __always_inline int kact_exit_move_mount(long ret)
{
	struct act_pending p;
	struct kact_scratch *s;
	struct file *from = NULL;
	char first = 1;

	if (!act_take(KOP_MOUNT, &p))
		return 0;
	s = kact_begin(&p, ret);
	if (!s)
		return 0;
	s->ev.extra[2] = MOUNT_API_MOVE_MOUNT;
	if ((p.args[4] & MOVE_MOUNT_F_EMPTY_PATH) && !origin_read(&first, 1, (void *)p.args[1], p.origin) &&
	    !first)
		from = act_fd_file((__s32)p.args[0]);
	if (from && ret == 0) {
		/* attached now: its own path is the mount point */
		s->ev.s0_len =
			kact_walk_path(s, 0, KREAD(from, f_path.dentry), KREAD(from, f_path.mnt), KACT_PATH_MAX);
	} else {
		s->ev.s0_len = kact_path_at(s, 0, (__s32)p.args[2], p.args[3], KACT_PATH_MAX);
	}
	if (from)
		kact_mount_source(s, from);
	else
		s->ev.s1_len = kact_path_at(s, s->ev.s0_len, (__s32)p.args[0], p.args[1], KACT_STR_MAX);
	kact_emit(s);
	return 0;
}

/* A call that makes a detached mount and returns a descriptor of its root: fsmount(fs_fd, flags,
 * attr_flags), or open_tree(dfd, path, OPEN_TREE_CLONE) (whose path names the source when it fails). */
static __always_inline int kact_exit_detached_mount(long ret, __u32 api)
{
	struct act_pending p;
	struct kact_scratch *s;
	struct file *f;

	if (!act_take(KOP_MOUNT, &p))
		return 0;
	s = kact_begin(&p, ret);
	if (!s)
		return 0;
	s->ev.extra[2] = api;
	s->ev.extra[1] = 1;
	f = ret >= 0 ? act_fd_file(ret) : NULL;
	if (f)
		kact_mount_source(s, f);
	else if (api == MOUNT_API_OPEN_TREE)
		s->ev.s1_len = kact_path_at(s, 0, (__s32)p.args[0], p.args[1], KACT_STR_MAX);
	kact_emit(s);
	return 0;
}

static __always_inline int kact_exit_fsmount(long ret)
{
	return kact_exit_detached_mount(ret, MOUNT_API_FSMOUNT);
}

/* open_tree without OPEN_TREE_CLONE only opens a path: no mount. */
static __always_inline int kact_enter_open_tree(const __u64 *a, __u32 origin)
{
	act_count(KOP_MOUNT, ACT_SEEN);
	if (!(a[2] & OPEN_TREE_CLONE)) {
		act_count(KOP_MOUNT, ACT_FILTERED);
		return 0;
	}
	return act_enter(KOP_MOUNT, a, origin, 0, 0, 0);
}

static __always_inline int kact_exit_open_tree(long ret)
{
	return kact_exit_detached_mount(ret, MOUNT_API_OPEN_TREE);
}

NATIVE_ENTER_OP(move_mount, 5, KOP_MOUNT)
NATIVE_EXIT(move_mount, kact_exit_move_mount)
NATIVE_ENTER_OP(fsmount, 3, KOP_MOUNT)
NATIVE_EXIT(fsmount, kact_exit_fsmount)
NATIVE_ENTER(open_tree, 3, kact_enter_open_tree)
NATIVE_EXIT(open_tree, kact_exit_open_tree)
