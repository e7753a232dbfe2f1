/* Filling the fixed task and file parts of records. */
#pragma once

#include "common.h"

static __always_inline void fill_task(struct task_info *t, struct task_struct *task)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);
	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);

	t->pid = BPF_CORE_READ(task, tgid);
	t->tid = BPF_CORE_READ(task, pid);
	t->ppid = BPF_CORE_READ(task, real_parent, tgid);
	t->flags = (BPF_CORE_READ(task, flags) & PF_KTHREAD) ? TASK_KTHREAD : 0;
	t->uid = BPF_CORE_READ(cred, uid.val);
	t->gid = BPF_CORE_READ(cred, gid.val);
	t->euid = BPF_CORE_READ(cred, euid.val);
	t->egid = BPF_CORE_READ(cred, egid.val);
	t->fsuid = BPF_CORE_READ(cred, fsuid.val);
	t->fsgid = BPF_CORE_READ(cred, fsgid.val);
	if (bpf_core_field_exists(task->loginuid))
		t->auid = BPF_CORE_READ(task, loginuid.val);
	else
		t->auid = AUDIT_AUID_UNSET;
	/* kernel_cap_t is a u64 since 6.3 and u32[2] before: the same 8 bytes either way on little endian. */
	t->cap_effective = 0;
	t->cap_permitted = 0;
	bpf_core_read(&t->cap_effective, sizeof(t->cap_effective), &cred->cap_effective);
	bpf_core_read(&t->cap_permitted, sizeof(t->cap_permitted), &cred->cap_permitted);
	t->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	t->start_boottime_ns = BPF_CORE_READ(task, start_boottime);
	BPF_CORE_READ_STR_INTO(&t->comm, task, comm);
	if (tty)
		BPF_CORE_READ_STR_INTO(&t->tty, tty, name);
	else
		t->tty[0] = 0;
}

/* Inode number, mode, owner, times and filesystem type of `inode`; the mount id of `vfsmnt` (0 when the mount
 * is not known). One definition for every record that carries a file. */
static __always_inline void fill_inode_info(struct file_info *f, struct inode *inode, struct vfsmount *vfsmnt)
{
	f->inode = BPF_CORE_READ(inode, i_ino);
	f->mode = BPF_CORE_READ(inode, i_mode);
	f->uid = BPF_CORE_READ(inode, i_uid.val);
	f->gid = BPF_CORE_READ(inode, i_gid.val);
	f->mount_id = 0;
	if (vfsmnt) {
		struct mount *mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
		f->mount_id = BPF_CORE_READ(mnt, mnt_id);
	}
	f->mtime_ns = 0;
	f->ctime_ns = 0;
	if (bpf_core_field_exists(inode->i_mtime_sec)) {
		f->mtime_ns = BPF_CORE_READ(inode, i_mtime_sec) * 1000000000ull + BPF_CORE_READ(inode, i_mtime_nsec);
		f->ctime_ns = BPF_CORE_READ(inode, i_ctime_sec) * 1000000000ull + BPF_CORE_READ(inode, i_ctime_nsec);
	}
	/* s_type->name is a pointer: read the string it points to (not the pointer's own bytes). */
	f->fs_type[0] = 0;
	bpf_probe_read_kernel_str(f->fs_type, sizeof(f->fs_type), BPF_CORE_READ(inode, i_sb, s_type, name));
}

/* The struct file behind descriptor `fd` of `task` (a BTF task pointer: the table is reached with direct
 * loads, cheaper than helper calls on the hot path), or NULL. */
static __always_inline struct file *task_fd_file(struct task_struct *task, long fd)
{
	struct files_struct *files;
	struct fdtable *fdt;
	struct file **arr;
	struct file *f = NULL;

	if (!task || fd < 0)
		return NULL;
	files = task->files;
	if (!files)
		return NULL;
	fdt = files->fdt;
	if (!fdt || fd >= fdt->max_fds)
		return NULL;
	arr = fdt->fd;
	if (bpf_probe_read_kernel(&f, sizeof(f), &arr[fd]))
		return NULL;
	return f;
}

static __always_inline void fill_file(struct file_info *f, struct file *file)
{
	fill_inode_info(f, BPF_CORE_READ(file, f_inode), BPF_CORE_READ(file, f_path.mnt));
}
