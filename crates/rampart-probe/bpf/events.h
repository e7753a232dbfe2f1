/* Ring-buffer record layouts: the one definition shared by the BPF programs and (through the skeleton's
 * BTF-generated types) the Rust decoder. Every record starts with `struct record_header`. Exec and fork
 * records carry a variable-length tail of byte sections whose lengths sit in the fixed part. */
#pragma once

/* Constants user space shares are enumerators, not #defines: an enum referenced from a global lands in BTF,
 * so the skeleton's generated types carry its values (sensor.bpf.c `_abi_enums`; read in src/abi.rs) and
 * Rust never copies a number by hand. */

/* record_header.kind */
enum record_kind {
	RECORD_EXEC = 1,
	RECORD_FORK = 2,
	RECORD_EXIT = 3,
	RECORD_KILL = 8,       /* struct kill_event, in kill.h */
	RECORD_FILE_BASE = 16, /* file family: RECORD_FILE_BASE + FILE_EV_* (struct file_event, file_events.h) */
	RECORD_FILE_LAST = 47, /* the last kind reserved for the file family */
	RECORD_KACT = 48,      /* a syscall of the kernel-activity family (struct kact_event, act_events.h) */
	RECORD_SOCK = 49,      /* connect / bind / accept (struct sock_event) */
	RECORD_DNS = 50,       /* a DNS packet on port 53 (struct dns_event) */
};

enum exec_limit {
	COMM_LEN = 16,
	TTY_LEN = 64,
	FS_TYPE_LEN = 16,
	/* Bounds on the variable sections. */
	PATH_MAX_LEN = 4096,
	ARGS_MAX_LEN = 4096,
	/* An argv block longer than the bound keeps its head and, after it, this much of its end: what an
	 * attacker pads away from the head (`miner <5 KiB> -o stratum+tcp://…`) lands in the tail. */
	ARGS_TAIL_DIVISOR = 4,
	ENVS_MAX_LEN = 4096,
	ENVP_MAX_LEN = 2048,
	ENVP_ENTRY_MAX = 1024,
	ENV_NAME_MAX = 128,
	ENV_VALUE_SLOTS = 8,
	/* An environment this small is copied whole (one read) and split in user space; a bigger one is
	 * walked string by string in the kernel, keeping names and the allow-listed values only. */
	ENV_BLOCK_MAX = 8192,
	/* Exec tail: exe path, script path, cgroup path, argv, env names (or the whole environment), envp.
	 * Each section is written at an offset bounded by the maxima of the sections before it, with twice
	 * its own maximum as verifier headroom. */
	EXEC_DATA_LEN = 3 * PATH_MAX_LEN + ARGS_MAX_LEN + ENVS_MAX_LEN + 2 * ENVS_MAX_LEN,
	FORK_DATA_LEN = PATH_MAX_LEN,
};

/* How an activity was submitted: the `origin` of file, kernel-activity and network records. */
enum origin {
	ORIGIN_SYSCALL = 0, /* a native (64-bit) syscall: strings in user memory */
	ORIGIN_IA32 = 1,    /* an ia32 compat syscall: strings in user memory */
	ORIGIN_URING = 2,   /* an io_uring request, at its completion: strings are the kernel's copies */
	ORIGIN_URING_SUBMITTED = 3, /* an io_uring request reported at submission, its result unknown (no
				     * completion will be seen: IOSQE_CQE_SKIP_SUCCESS, or no room to wait for it) */
};

/* task_info.flags */
enum task_flag {
	TASK_KTHREAD = 1,
};

/* exec_event.flags */
enum exec_flag {
	EXEC_INTERPRETED = 1,       /* went through a binfmt that swapped the executable (shebang, binfmt_misc) */
	EXEC_PATH_TRUNCATED = 2,    /* exe path kept only its tail */
	EXEC_SCRIPT_TRUNCATED = 4,  /* script path kept only its tail */
	EXEC_CGROUP_TRUNCATED = 8,
	EXEC_ARGS_TRUNCATED = 16,   /* argv kept its head and tail only (args_head_len), or could not be read */
	EXEC_ENVS_TRUNCATED = 32,
	EXEC_ARGS_FAULT = 64,       /* argv could not be read from the new mm */
	EXEC_ENV_BLOCK = 128,       /* the envs section is the whole environment block (envp is empty) */
	EXEC_FILE_UPPER = 256,      /* the executable is in an overlayfs upper layer (written in a container) */
	EXEC_IA32 = 512,            /* the new image is 32-bit x86 code (its syscalls are ia32 ones) */
};

/* fork_event.flags */
enum fork_flag {
	FORK_CGROUP_TRUNCATED = 1,
};

struct record_header {
	__u32 kind;
	__u32 cpu;
	__u64 timestamp_ns; /* bpf_ktime_get_boot_ns() */
};

/* The acting thread's own credentials (task->real_cred: an override_creds() of the kernel acting on its
 * behalf is not a change of the task's privileges), carried by every record of a task
 * (exec and fork records in their task_info). */
enum cred_flag {
	CRED_INIT_USER_NS = 1, /* cred->user_ns is the initial user namespace: capabilities count on the host */
};
struct cred_info {
	__u32 uid;
	__u32 euid;
	__u32 suid;
	__u32 fsuid;
	__u32 gid;
	__u32 egid;
	__u32 sgid;
	__u32 fsgid;
	__u64 cap_effective;
	__u64 cap_permitted;
	__u32 flags;
	__u32 _pad0;
};

struct task_info {
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 flags;
	__u32 auid;
	__u32 _pad0;
	struct cred_info cred;
	__u64 cgroup_id;
	__u64 start_boottime_ns;
	char comm[COMM_LEN];
	char tty[TTY_LEN];
};

struct file_info {
	__u64 inode;
	__u64 mtime_ns;
	__u64 ctime_ns;
	__u32 mount_id;
	__u32 mode;
	__u32 uid;
	__u32 gid;
	__u32 dev; /* super_block.s_dev: MAJOR << 20 | MINOR */
	__u32 _pad0;
	char fs_type[FS_TYPE_LEN];
};

/* Followed by `data`: exe_path, script_path, cgroup_path (no NULs), then args, envs, envp (each string
 * NUL-terminated), in that order, lengths below. When argv was longer than the bound, args holds its first
 * args_head_len bytes then its last args_len - args_head_len bytes: the gap (args_size - args_len bytes) lies
 * between them. */
struct exec_event {
	struct record_header hdr;
	struct task_info task;
	struct file_info file; /* mm->exe_file: the interpreter when EXEC_INTERPRETED */
	__u32 flags;
	__u32 argc;
	__u32 envc;
	__u16 exe_path_len;
	__u16 script_path_len;
	__u16 cgroup_path_len;
	__u16 args_len;
	__u16 envs_len;
	__u16 envp_len;
	__u16 args_head_len;
	__u16 _pad0;
	__u32 args_size; /* bytes of the whole argv block (mm->arg_end - arg_start), captured or not */
};

/* Followed by the child's cgroup path. */
struct fork_event {
	struct record_header hdr;
	__u32 parent_pid;
	__u32 parent_tid;
	struct task_info child;
	__u32 flags;
	__u16 cgroup_path_len;
	__u16 _pad0;
};

struct exit_event {
	struct record_header hdr;
	__u32 pid;
	__u32 tid;
	__u32 exit_code; /* raw task->exit_code */
	__u32 group_dead;
};

/* Per-CPU drop/emit accounting, one slot each (index into the `counters` map value). */
enum counter_slot {
	CNT_DROPS = 0,
	CNT_EXEC = 1,
	CNT_FORK = 2,
	CNT_EXIT = 3,
	CNT_MAX = 4,
};

struct counters {
	__u64 v[CNT_MAX];
};
#include "file_events.h"

#include "act_events.h"
