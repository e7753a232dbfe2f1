/* File activity: which x86_64 syscalls are file events, and where their arguments are. One table lookup
 * replaces a per-syscall branch, so every syscall takes the same (verifier-friendly) code path. */
#pragma once

#include "common.h"

#define ARG_NONE 0xff
#define ARG_FDCWD 0xfe /* the syscall has no dirfd: AT_FDCWD */
#define AT_FDCWD -100
/* UAPI macros vmlinux.h lacks, checked against libc by src/abi/tests.rs. */
enum file_uapi {
	AT_REMOVEDIR = 0x200,
	O_WRONLY = 01,
	O_CREAT = 0100,
	O_TRUNC = 01000,
};

/* sys_desc.special */
#define SP_NONE 0
#define SP_OPEN 1     /* success returns an fd: the file is that fd's */
#define SP_CREAT 2    /* creat(): flags are O_CREAT|O_WRONLY|O_TRUNC */
#define SP_OPENAT2 3  /* flags and mode live in the struct open_how at the flags argument */
#define SP_UNLINKAT 4 /* AT_REMOVEDIR makes it an rmdir */
#define SP_CHDIR 5    /* success: the file is the new cwd */
#define SP_BUMP 6     /* not an event: a successful call moves paths around (mounts), invalidate discarders */

/* type is FILE_EV_* + 1 (0: not a file syscall). Argument fields hold an argument index or ARG_*. */
struct sys_desc {
	__u8 type;
	__u8 special;
	__u8 dirfd;
	__u8 path;
	__u8 fd; /* the syscall works on an open file */
	__u8 dst_dirfd;
	__u8 dst_path;
	__u8 flags;
	__u8 mode;
	__u8 uid;
	__u8 gid;
	__u8 name; /* xattr name */
};

#define SYS_TABLE_LEN 512
#define T(ev) (FILE_EV_##ev + 1)
#define D(ev, sp, dfd, p, f, ddfd, dp, fl, mo, u, g, nm) \
	{ T(ev), sp, dfd, p, f, ddfd, dp, fl, mo, u, g, nm }
#define N ARG_NONE
#define C ARG_FDCWD

const volatile struct sys_desc sys_table[SYS_TABLE_LEN] = {
	/*                 type      special      dirfd path fd ddfd dpath flags mode uid gid name */
	[2] = D(OPEN, SP_OPEN, C, 0, N, N, N, 1, 2, N, N, N),          /* open */
	[85] = D(OPEN, SP_CREAT, C, 0, N, N, N, N, 1, N, N, N),        /* creat */
	[257] = D(OPEN, SP_OPEN, 0, 1, N, N, N, 2, 3, N, N, N),        /* openat */
	[437] = D(OPEN, SP_OPENAT2, 0, 1, N, N, N, 2, N, N, N, N),     /* openat2 */
	[90] = D(CHMOD, SP_NONE, C, 0, N, N, N, N, 1, N, N, N),        /* chmod */
	[91] = D(CHMOD, SP_NONE, N, N, 0, N, N, N, 1, N, N, N),        /* fchmod */
	[268] = D(CHMOD, SP_NONE, 0, 1, N, N, N, N, 2, N, N, N),       /* fchmodat */
	[452] = D(CHMOD, SP_NONE, 0, 1, N, N, N, 3, 2, N, N, N),       /* fchmodat2 */
	[92] = D(CHOWN, SP_NONE, C, 0, N, N, N, N, N, 1, 2, N),        /* chown */
	[93] = D(CHOWN, SP_NONE, N, N, 0, N, N, N, N, 1, 2, N),        /* fchown */
	[94] = D(CHOWN, SP_NONE, C, 0, N, N, N, N, N, 1, 2, N),        /* lchown */
	[260] = D(CHOWN, SP_NONE, 0, 1, N, N, N, 4, N, 2, 3, N),       /* fchownat */
	[83] = D(MKDIR, SP_NONE, C, 0, N, N, N, N, 1, N, N, N),        /* mkdir */
	[258] = D(MKDIR, SP_NONE, 0, 1, N, N, N, N, 2, N, N, N),       /* mkdirat */
	[84] = D(RMDIR, SP_NONE, C, 0, N, N, N, N, N, N, N, N),        /* rmdir */
	[87] = D(UNLINK, SP_NONE, C, 0, N, N, N, N, N, N, N, N),       /* unlink */
	[263] = D(UNLINK, SP_UNLINKAT, 0, 1, N, N, N, 2, N, N, N, N),  /* unlinkat */
	[82] = D(RENAME, SP_NONE, C, 0, N, C, 1, N, N, N, N, N),       /* rename */
	[264] = D(RENAME, SP_NONE, 0, 1, N, 2, 3, N, N, N, N, N),      /* renameat */
	[316] = D(RENAME, SP_NONE, 0, 1, N, 2, 3, 4, N, N, N, N),      /* renameat2 */
	[86] = D(LINK, SP_NONE, C, 0, N, C, 1, N, N, N, N, N),         /* link */
	[265] = D(LINK, SP_NONE, 0, 1, N, 2, 3, 4, N, N, N, N),        /* linkat */
	[132] = D(UTIMES, SP_NONE, C, 0, N, N, N, N, N, N, N, N),      /* utime */
	[235] = D(UTIMES, SP_NONE, C, 0, N, N, N, N, N, N, N, N),      /* utimes */
	[261] = D(UTIMES, SP_NONE, 0, 1, N, N, N, N, N, N, N, N),      /* futimesat */
	[280] = D(UTIMES, SP_NONE, 0, 1, N, N, N, 3, N, N, N, N),      /* utimensat (NULL path: dirfd) */
	[188] = D(SETXATTR, SP_NONE, C, 0, N, N, N, 4, N, N, N, 1),    /* setxattr */
	[189] = D(SETXATTR, SP_NONE, C, 0, N, N, N, 4, N, N, N, 1),    /* lsetxattr */
	[190] = D(SETXATTR, SP_NONE, N, N, 0, N, N, 4, N, N, N, 1),    /* fsetxattr */
	[197] = D(REMOVEXATTR, SP_NONE, C, 0, N, N, N, N, N, N, N, 1), /* removexattr */
	[198] = D(REMOVEXATTR, SP_NONE, C, 0, N, N, N, N, N, N, N, 1), /* lremovexattr */
	[199] = D(REMOVEXATTR, SP_NONE, N, N, 0, N, N, N, N, N, N, 1), /* fremovexattr */
	[76] = D(TRUNCATE, SP_NONE, C, 0, N, N, N, N, N, N, N, N),     /* truncate */
	[77] = D(TRUNCATE, SP_NONE, N, N, 0, N, N, N, N, N, N, N),     /* ftruncate */
	[80] = D(CHDIR, SP_CHDIR, C, 0, N, N, N, N, N, N, N, N),       /* chdir */
	[81] = D(CHDIR, SP_CHDIR, N, N, 0, N, N, N, N, N, N, N),       /* fchdir */
	/* mount changes move whole subtrees: cached discarders may name the wrong paths afterwards */
	[165] = { 0, SP_BUMP },                                         /* mount */
	[166] = { 0, SP_BUMP },                                         /* umount2 */
	[155] = { 0, SP_BUMP },                                         /* pivot_root */
	[429] = { 0, SP_BUMP },                                         /* move_mount */
};

#undef T
#undef D
#undef N
#undef C
