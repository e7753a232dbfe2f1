/* The ia32 (32-bit x86) syscall table: which compat syscalls are file, kernel-activity or network events, and
 * how their arguments map onto the native ones. Indexed by the ia32 syscall number (the number in eax, as
 * uapi asm/unistd_32.h names it; the name of each entry is the comment at its end, checked against that
 * header by tests/ia32_table.rs). The per-syscall tracepoints never fire for these calls (x86's
 * trace_get_syscall_nr() returns -1 in an ia32 syscall): compat.h dispatches them from the raw sys_exit
 * (and, for the ops that read state before the call, sys_enter) hooks through this table. */
#pragma once

#include "file_syscalls.h"
#include "act_events.h"

/* ia32_desc.shape: how the call's arguments differ from the native syscall's */
#define IA32_SH_NONE 0
#define IA32_SH_OPEN 1       /* 32-bit callers pass O_LARGEFILE, implicit in the native ABI: dropped */
#define IA32_SH_MMAP2 2      /* the offset is in 4 KiB pages */
#define IA32_SH_OLD_MMAP 3   /* one pointer to struct { u32 addr, len, prot, flags, fd, offset } */
#define IA32_SH_KILL 4       /* kill(pid, sig) */
#define IA32_SH_TKILL 5      /* tkill(tid, sig) */
#define IA32_SH_TGKILL 6     /* tgkill(tgid, tid, sig) */
#define IA32_SH_FS_ID 7      /* setfsuid/setfsgid: return the previous id, not an error */
#define IA32_SH_OLDUMOUNT 8  /* umount(name): no flags argument */
#define IA32_SH_SOCKETCALL 9 /* socketcall(call, u32 *args): the op depends on `call` */
#define IA32_SH_PIDFD_SIGNAL 10 /* pidfd_send_signal(pidfd, sig, info, flags): the target from the descriptor */
#define IA32_SH_MOVE_MOUNT 11   /* the new mount API (mount_api.h): each call has its own exit body */
#define IA32_SH_FSMOUNT 12
#define IA32_SH_OPEN_TREE 13
#define IA32_SH_SETRLIMIT 14    /* setrlimit(resource, struct compat_rlimit *): no pid, 32-bit limits */

/* `file` is the file family's view (type 0: not a file call; SP_BUMP: a mount change). `kop` is KOP_* + 1 of
 * the kernel-activity or network op (0: none), whose arguments are the first `nargs`; bit i of `uid16` marks
 * argument i as a 16-bit uid or gid (the old chown/setuid calls: 0xffff is -1). */
struct ia32_desc {
	struct sys_desc file;
	__u8 kop;
	__u8 shape;
	__u8 uid16;
	__u8 nargs;
};

#define IA32_TABLE_LEN 512
#define F(ev, sp, dfd, p, f, ddfd, dp, fl, mo, u, g, nm) \
	.file = { FILE_EV_##ev + 1, sp, dfd, p, f, ddfd, dp, fl, mo, u, g, nm }
#define BUMP .file = { 0, SP_BUMP }
#define ACT(op, n) .kop = KOP_##op + 1, .nargs = n
#define N ARG_NONE
#define C ARG_FDCWD

const volatile struct ia32_desc ia32_table[IA32_TABLE_LEN] = {
	/* file: type, special, dirfd, path, fd, ddfd, dpath, flags, mode, uid, gid, name (as file_syscalls.h) */
	[5] = { F(OPEN, SP_OPEN, C, 0, N, N, N, 1, 2, N, N, N), .shape = IA32_SH_OPEN },     /* open */
	[8] = { F(OPEN, SP_CREAT, C, 0, N, N, N, N, 1, N, N, N) },                           /* creat */
	[295] = { F(OPEN, SP_OPEN, 0, 1, N, N, N, 2, 3, N, N, N), .shape = IA32_SH_OPEN },   /* openat */
	[437] = { F(OPEN, SP_OPENAT2, 0, 1, N, N, N, 2, N, N, N, N) },                       /* openat2 */
	[15] = { F(CHMOD, SP_NONE, C, 0, N, N, N, N, 1, N, N, N) },                          /* chmod */
	[94] = { F(CHMOD, SP_NONE, N, N, 0, N, N, N, 1, N, N, N) },                          /* fchmod */
	[306] = { F(CHMOD, SP_NONE, 0, 1, N, N, N, N, 2, N, N, N) },                         /* fchmodat */
	[452] = { F(CHMOD, SP_NONE, 0, 1, N, N, N, 3, 2, N, N, N) },                         /* fchmodat2 */
	[182] = { F(CHOWN, SP_NONE, C, 0, N, N, N, N, N, 1, 2, N), .uid16 = 6 },             /* chown */
	[95] = { F(CHOWN, SP_NONE, N, N, 0, N, N, N, N, 1, 2, N), .uid16 = 6 },              /* fchown */
	[16] = { F(CHOWN, SP_NONE, C, 0, N, N, N, N, N, 1, 2, N), .uid16 = 6 },              /* lchown */
	[212] = { F(CHOWN, SP_NONE, C, 0, N, N, N, N, N, 1, 2, N) },                         /* chown32 */
	[207] = { F(CHOWN, SP_NONE, N, N, 0, N, N, N, N, 1, 2, N) },                         /* fchown32 */
	[198] = { F(CHOWN, SP_NONE, C, 0, N, N, N, N, N, 1, 2, N) },                         /* lchown32 */
	[298] = { F(CHOWN, SP_NONE, 0, 1, N, N, N, 4, N, 2, 3, N) },                         /* fchownat */
	[39] = { F(MKDIR, SP_NONE, C, 0, N, N, N, N, 1, N, N, N) },                          /* mkdir */
	[296] = { F(MKDIR, SP_NONE, 0, 1, N, N, N, N, 2, N, N, N) },                         /* mkdirat */
	[40] = { F(RMDIR, SP_NONE, C, 0, N, N, N, N, N, N, N, N) },                          /* rmdir */
	[10] = { F(UNLINK, SP_NONE, C, 0, N, N, N, N, N, N, N, N) },                         /* unlink */
	[301] = { F(UNLINK, SP_UNLINKAT, 0, 1, N, N, N, 2, N, N, N, N) },                    /* unlinkat */
	[38] = { F(RENAME, SP_NONE, C, 0, N, C, 1, N, N, N, N, N) },                         /* rename */
	[302] = { F(RENAME, SP_NONE, 0, 1, N, 2, 3, N, N, N, N, N) },                        /* renameat */
	[353] = { F(RENAME, SP_NONE, 0, 1, N, 2, 3, 4, N, N, N, N) },                        /* renameat2 */
	[9] = { F(LINK, SP_NONE, C, 0, N, C, 1, N, N, N, N, N) },                            /* link */
	[303] = { F(LINK, SP_NONE, 0, 1, N, 2, 3, 4, N, N, N, N) },                          /* linkat */
	[30] = { F(UTIMES, SP_NONE, C, 0, N, N, N, N, N, N, N, N) },                         /* utime */
	[271] = { F(UTIMES, SP_NONE, C, 0, N, N, N, N, N, N, N, N) },                        /* utimes */
	[299] = { F(UTIMES, SP_NONE, 0, 1, N, N, N, N, N, N, N, N) },                        /* futimesat */
	[320] = { F(UTIMES, SP_NONE, 0, 1, N, N, N, 3, N, N, N, N) },                        /* utimensat */
	[412] = { F(UTIMES, SP_NONE, 0, 1, N, N, N, 3, N, N, N, N) },                        /* utimensat_time64 */
	[226] = { F(SETXATTR, SP_NONE, C, 0, N, N, N, 4, N, N, N, 1) },                      /* setxattr */
	[227] = { F(SETXATTR, SP_NONE, C, 0, N, N, N, 4, N, N, N, 1) },                      /* lsetxattr */
	[228] = { F(SETXATTR, SP_NONE, N, N, 0, N, N, 4, N, N, N, 1) },                      /* fsetxattr */
	[235] = { F(REMOVEXATTR, SP_NONE, C, 0, N, N, N, N, N, N, N, 1) },                   /* removexattr */
	[236] = { F(REMOVEXATTR, SP_NONE, C, 0, N, N, N, N, N, N, N, 1) },                   /* lremovexattr */
	[237] = { F(REMOVEXATTR, SP_NONE, N, N, 0, N, N, N, N, N, N, 1) },                   /* fremovexattr */
	[92] = { F(TRUNCATE, SP_NONE, C, 0, N, N, N, N, N, N, N, N) },                       /* truncate */
	[93] = { F(TRUNCATE, SP_NONE, N, N, 0, N, N, N, N, N, N, N) },                       /* ftruncate */
	[193] = { F(TRUNCATE, SP_NONE, C, 0, N, N, N, N, N, N, N, N) },                      /* truncate64 */
	[194] = { F(TRUNCATE, SP_NONE, N, N, 0, N, N, N, N, N, N, N) },                      /* ftruncate64 */
	[12] = { F(CHDIR, SP_CHDIR, C, 0, N, N, N, N, N, N, N, N) },                         /* chdir */
	[133] = { F(CHDIR, SP_CHDIR, N, N, 0, N, N, N, N, N, N, N) },                        /* fchdir */
	/* mount changes move whole subtrees: cached discarders may name the wrong paths afterwards */
	[21] = { BUMP, ACT(MOUNT, 5) },                                                      /* mount */
	[22] = { BUMP, ACT(UMOUNT, 1), .shape = IA32_SH_OLDUMOUNT },                         /* umount */
	[52] = { BUMP, ACT(UMOUNT, 2) },                                                     /* umount2 */
	[217] = { BUMP },                                                                    /* pivot_root */
	[429] = { BUMP, ACT(MOUNT, 5), .shape = IA32_SH_MOVE_MOUNT },                        /* move_mount */
	[432] = { ACT(MOUNT, 3), .shape = IA32_SH_FSMOUNT },                                 /* fsmount */
	[428] = { ACT(MOUNT, 3), .shape = IA32_SH_OPEN_TREE },                               /* open_tree */

	/* kernel activity (kernel.h) */
	[357] = { ACT(BPF, 3) },                                                             /* bpf */
	[26] = { ACT(PTRACE, 4) },                                                           /* ptrace */
	[90] = { ACT(MMAP, 1), .shape = IA32_SH_OLD_MMAP },                                  /* mmap */
	[192] = { ACT(MMAP, 6), .shape = IA32_SH_MMAP2 },                                    /* mmap2 */
	[125] = { ACT(MPROTECT, 3) },                                                        /* mprotect */
	[128] = { ACT(INIT_MODULE, 3) },                                                     /* init_module */
	[350] = { ACT(FINIT_MODULE, 3) },                                                    /* finit_module */
	[129] = { ACT(DELETE_MODULE, 2) },                                                   /* delete_module */
	[23] = { ACT(SETUID, 1), .uid16 = 1 },                                               /* setuid */
	[213] = { ACT(SETUID, 1) },                                                          /* setuid32 */
	[70] = { ACT(SETUID, 2), .uid16 = 3 },                                               /* setreuid */
	[203] = { ACT(SETUID, 2) },                                                          /* setreuid32 */
	[164] = { ACT(SETUID, 3), .uid16 = 7 },                                              /* setresuid */
	[208] = { ACT(SETUID, 3) },                                                          /* setresuid32 */
	[138] = { ACT(SETUID, 1), .shape = IA32_SH_FS_ID, .uid16 = 1 },                      /* setfsuid */
	[215] = { ACT(SETUID, 1), .shape = IA32_SH_FS_ID },                                  /* setfsuid32 */
	[46] = { ACT(SETGID, 1), .uid16 = 1 },                                               /* setgid */
	[214] = { ACT(SETGID, 1) },                                                          /* setgid32 */
	[71] = { ACT(SETGID, 2), .uid16 = 3 },                                               /* setregid */
	[204] = { ACT(SETGID, 2) },                                                          /* setregid32 */
	[170] = { ACT(SETGID, 3), .uid16 = 7 },                                              /* setresgid */
	[210] = { ACT(SETGID, 3) },                                                          /* setresgid32 */
	[139] = { ACT(SETGID, 1), .shape = IA32_SH_FS_ID, .uid16 = 1 },                      /* setfsgid */
	[216] = { ACT(SETGID, 1), .shape = IA32_SH_FS_ID },                                  /* setfsgid32 */
	[185] = { ACT(CAPSET, 2) },                                                          /* capset */
	[37] = { ACT(KILL, 2), .shape = IA32_SH_KILL },                                      /* kill */
	[238] = { ACT(KILL, 2), .shape = IA32_SH_TKILL },                                    /* tkill */
	[270] = { ACT(KILL, 3), .shape = IA32_SH_TGKILL },                                   /* tgkill */
	[178] = { ACT(KILL, 3), .shape = IA32_SH_KILL },                                     /* rt_sigqueueinfo */
	[335] = { ACT(KILL, 4), .shape = IA32_SH_TGKILL },                                   /* rt_tgsigqueueinfo */
	[424] = { ACT(KILL, 4), .shape = IA32_SH_PIDFD_SIGNAL },                             /* pidfd_send_signal */
	[356] = { ACT(MEMFD_CREATE, 2) },                                                    /* memfd_create */
	[313] = { ACT(SPLICE, 6) },                                                          /* splice */
	[172] = { ACT(PRCTL, 5) },                                                           /* prctl */
	[310] = { ACT(UNSHARE, 1) },                                                         /* unshare */
	[346] = { ACT(SETNS, 2) },                                                           /* setns */
	[75] = { ACT(SETRLIMIT, 2), .shape = IA32_SH_SETRLIMIT },                            /* setrlimit */
	[340] = { ACT(SETRLIMIT, 4) },                                                       /* prlimit64 */

	/* network (net.h); i386 has no accept(2) of its own: socketcall(SYS_ACCEPT) */
	[362] = { ACT(CONNECT, 3) },                                                         /* connect */
	[361] = { ACT(BIND, 3) },                                                            /* bind */
	[364] = { ACT(ACCEPT, 4) },                                                          /* accept4 */
	[102] = { .shape = IA32_SH_SOCKETCALL, .nargs = 2 },                                 /* socketcall */
};

#undef F
#undef BUMP
#undef ACT
#undef N
#undef C
