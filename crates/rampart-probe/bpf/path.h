/* Kernel-side path resolution (walk state lives in work.walk, see struct env_state): a dentry walk across mount points and a kernfs (cgroup) walk, both driven by
 * bpf_loop() so the verifier checks one iteration whatever the depth. Paths are built backwards into
 * work.path so that they end at PATH_MAX_LEN; on overflow the tail is kept and `truncated` set. */
#pragma once

#include "common.h"

struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

/* Prepends "/" + name[0..len) to the path under construction. */
static __always_inline int prepend(struct work *w, struct walk *c, const void *name, __u32 len)
{
	__u32 pos = c->pos;

	if (len > NAME_MAX_LEN)
		len = NAME_MAX_LEN;
	barrier_var(len); /* every later use of len must see the bound (the verifier checks each copy) */
	len &= NAME_MAX_LEN;
	if (pos > PATH_MAX_LEN || pos < len + 1) {
		c->truncated = 1;
		return 0;
	}
	pos -= len;
	bpf_probe_read_kernel(&w->path[pos & (PATH_MAX_LEN - 1)], len, name);
	pos -= 1;
	w->path[pos & (PATH_MAX_LEN - 1)] = '/';
	c->pos = pos;
	return 1;
}

static long dentry_step(__u64 i, void *arg)
{
	struct work *w = work_buf();
	if (!w)
		return 1;
	struct walk *c = &w->walk;
	struct dentry *d = (void *)c->node;
	struct mount *m = (void *)c->mnt;
	if (!d || !m)
		return 1;
	struct dentry *root = KREAD(m, mnt.mnt_root);
	if (d == root) {
		/* Top of this mount: continue from the mount point in the parent mount, or stop at the
		 * namespace root (a mount that is its own parent). */
		struct mount *parent_mnt = KREAD(m, mnt_parent);
		if (!parent_mnt || parent_mnt == m)
			return 1;
		c->node = (__u64)KREAD(m, mnt_mountpoint);
		c->mnt = (__u64)parent_mnt;
		return 0;
	}
	struct dentry *parent = KREAD(d, d_parent);
	__u32 len = KREAD(d, d_name.len);
	const unsigned char *name = KREAD(d, d_name.name);
	if (!parent || parent == d) {
		/* Root of a detached tree. A pseudo file (memfd, anonymous inode) is such a root from the
		 * start: keep its name ("/memfd:NAME") rather than reporting "/". */
		if (c->pos == PATH_MAX_LEN && len)
			prepend(w, c, name, len);
		return 1;
	}
	if (!prepend(w, c, name, len))
		return 1;
	c->node = (__u64)parent;
	return 0;
}

/* Enough iterations for the deepest 4 KiB path ("/a" per level) plus mount crossings. */
#define DENTRY_WALK_MAX (PATH_MAX_LEN + 64)

/* Walks from `dentry` in `vfsmnt` up to the namespace root, continuing the path at c->pos. */
static __always_inline void walk_dentries(struct walk *c, struct dentry *dentry, struct vfsmount *vfsmnt)
{
	c->node = (__u64)dentry;
	c->mnt = (__u64)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
	bpf_loop(DENTRY_WALK_MAX, dentry_step, NULL, 0);
}

/* Makes an empty result "/"; returns the path length (the path is work.path[c->pos..PATH_MAX_LEN)). */
static __always_inline __u32 finish_path(struct work *w, struct walk *c)
{
	if (c->pos >= PATH_MAX_LEN) {
		c->pos = PATH_MAX_LEN - 1;
		w->path[PATH_MAX_LEN - 1] = '/';
	}
	return PATH_MAX_LEN - c->pos;
}

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return KREAD(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

static long kernfs_step(__u64 i, void *arg)
{
	struct work *w = work_buf();
	if (!w)
		return 1;
	struct walk *c = &w->walk;
	struct kernfs_node *kn = (void *)c->node;
	if (!kn)
		return 1;
	struct kernfs_node *parent = kn_parent(kn);
	if (!parent)
		return 1; /* the root's own name is not part of the path */
	long n = bpf_probe_read_kernel_str(w->str, NAME_MAX_LEN + 1, KREAD(kn, name));
	if (n <= 1)
		return 1;
	if (!prepend(w, c, w->str, n - 1))
		return 1;
	c->node = (__u64)parent;
	return 0;
}

#define KERNFS_WALK_MAX 256

/* Path of the task's cgroup v2 (default hierarchy) cgroup relative to the cgroup root. */
static __always_inline __u32 cgroup_path(struct work *w, struct walk *c, struct task_struct *task)
{
	c->pos = PATH_MAX_LEN;
	c->truncated = 0;
	c->node = (__u64)task_cgroup_kn(task);
	bpf_loop(KERNFS_WALK_MAX, kernfs_step, NULL, 0);
	return finish_path(w, c);
}
