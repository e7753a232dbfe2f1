/* Filling the fixed task and file parts of records. */
#pragma once

#include "common.h"

static __always_inline void fill_task(struct task_info *t, struct task_struct *task)
{
	const struct cred *cred = KREAD(task, cred);
	struct tty_struct *tty = KREAD(KREAD(task, signal), tty);

	t->pid = KREAD(task, tgid);
	t->tid = KREAD(task, pid);
	t->ppid = KREAD(KREAD(task, real_parent), tgid);
	t->flags = (KREAD(task, flags) & PF_KTHREAD) ? TASK_KTHREAD : 0;
	t->uid = KREAD(cred, uid.val);
	t->gid = KREAD(cred, gid.val);
	t->euid = KREAD(cred, euid.val);
	t->egid = KREAD(cred, egid.val);
	t->fsuid = KREAD(cred, fsuid.val);
	t->fsgid = KREAD(cred, fsgid.val);
	if (bpf_core_field_exists(task->loginuid))
		t->auid = KREAD(task, loginuid.val);
	else
		t->auid = AUDIT_AUID_UNSET;
	/* kernel_cap_t is a u64 since 6.3 and u32[2] before: the same 8 bytes either way on little endian. */
	t->cap_effective = 0;
	t->cap_permitted = 0;
	bpf_core_read(&t->cap_effective, sizeof(t->cap_effective), &cred->cap_effective);
	bpf_core_read(&t->cap_permitted, sizeof(t->cap_permitted), &cred->cap_permitted);
	t->cgroup_id = KREAD(task_cgroup_kn(task), id);
	t->start_boottime_ns = KREAD(task, start_boottime);
	BPF_CORE_READ_STR_INTO(&t->comm, task, comm);
	if (tty)
		BPF_CORE_READ_STR_INTO(&t->tty, tty, name);
	else
		t->tty[0] = 0;
}

/* The task's own credentials (real_cred, see struct cred_info) with direct loads: a dozen plain loads per
 * record, no helper call. */
static __always_inline void fill_creds(struct cred_info *c, struct task_struct *task)
{
	const struct cred *cred = KREAD(task, real_cred);

	c->uid = KREAD(cred, uid.val);
	c->euid = KREAD(cred, euid.val);
	c->suid = KREAD(cred, suid.val);
	c->fsuid = KREAD(cred, fsuid.val);
	c->gid = KREAD(cred, gid.val);
	c->egid = KREAD(cred, egid.val);
	c->sgid = KREAD(cred, sgid.val);
	c->fsgid = KREAD(cred, fsgid.val);
	/* kernel_cap_t is a u64 since 6.3 and u32[2] before: the same 8 bytes either way on little endian. */
	if (bpf_core_field_exists(cred->cap_effective.val)) {
		c->cap_effective = KREAD(cred, cap_effective.val);
		c->cap_permitted = KREAD(cred, cap_permitted.val);
	} else {
		c->cap_effective = 0;
		c->cap_permitted = 0;
		bpf_core_read(&c->cap_effective, sizeof(c->cap_effective), &cred->cap_effective);
		bpf_core_read(&c->cap_permitted, sizeof(c->cap_permitted), &cred->cap_permitted);
	}
	/* only the initial user namespace has level 0 */
	c->flags = KREAD(KREAD(cred, user_ns), level) == 0 ? CRED_INIT_USER_NS : 0;
	c->_pad0 = 0;
}

/* Inode number, mode, owner, times and filesystem type of `inode`; the mount id of `vfsmnt` (0 when the mount
 * is not known). One definition for every record that carries a file. */
static __always_inline void fill_inode_info(struct file_info *f, struct inode *inode, struct vfsmount *vfsmnt)
{
	f->inode = KREAD(inode, i_ino);
	f->mode = KREAD(inode, i_mode);
	f->uid = KREAD(inode, i_uid.val);
	f->gid = KREAD(inode, i_gid.val);
	f->mount_id = 0;
	if (vfsmnt) {
		struct mount *mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
		f->mount_id = KREAD(mnt, mnt_id);
	}
	f->mtime_ns = 0;
	f->ctime_ns = 0;
	if (bpf_core_field_exists(inode->i_mtime_sec)) {
		f->mtime_ns = KREAD(inode, i_mtime_sec) * 1000000000ull + KREAD(inode, i_mtime_nsec);
		f->ctime_ns = KREAD(inode, i_ctime_sec) * 1000000000ull + KREAD(inode, i_ctime_nsec);
	}
	/* s_type->name is a pointer: read the string it points to (not the pointer's own bytes). */
	f->fs_type[0] = 0;
	bpf_probe_read_kernel_str(f->fs_type, sizeof(f->fs_type), KREAD(KREAD(KREAD(inode, i_sb), s_type), name));
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
	/* arr[fd] as a direct load: bpf_rdonly_cast wants a struct type, and struct kiocb starts with a struct
	 * file pointer (checked by CO-RE at load time; otherwise, or without the kfunc, a probe read). */
	if (bpf_ksym_exists(bpf_rdonly_cast) && bpf_core_field_offset(struct kiocb, ki_filp) == 0)
		return bpf_core_cast(&arr[fd], struct kiocb)->ki_filp;
	if (bpf_probe_read_kernel(&f, sizeof(f), &arr[fd]))
		return NULL;
	return f;
}

static __always_inline void fill_file(struct file_info *f, struct file *file)
{
	fill_inode_info(f, KREAD(file, f_inode), KREAD(file, f_path.mnt));
}
