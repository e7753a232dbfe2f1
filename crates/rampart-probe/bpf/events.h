/* Ring-buffer record layouts: the one definition shared by the BPF programs and (through the skeleton's
 * BTF-generated types) the Rust decoder. Every record starts with `struct record_header`. Exec and fork
 * records carry a variable-length tail of byte sections whose lengths sit in the fixed part. */
#pragma once

#define RECORD_EXEC 1
#define RECORD_FORK 2
#define RECORD_EXIT 3
#define RECORD_KILL 8 /* struct kill_event, in kill.h */

#define COMM_LEN 16
#define TTY_LEN 64
#define FS_TYPE_LEN 16

/* Bounds on the variable sections. */
#define PATH_MAX_LEN 4096
#define ARGS_MAX_LEN 4096
#define ENVS_MAX_LEN 4096
#define ENVP_MAX_LEN 2048
#define ENVP_ENTRY_MAX 1024
#define ENV_NAME_MAX 128
#define ENV_VALUE_SLOTS 8
/* An environment this small is copied whole (one read) and split in user space; a bigger one is walked
 * string by string in the kernel, keeping names and the allow-listed values only. */
#define ENV_BLOCK_MAX 8192
/* Exec tail: exe path, script path, cgroup path, argv, env names (or the whole environment), envp. Each section is written at an
 * offset bounded by the maxima of the sections before it, with twice its own maximum as verifier headroom. */
#define EXEC_DATA_LEN (3 * PATH_MAX_LEN + ARGS_MAX_LEN + ENVS_MAX_LEN + 2 * ENVS_MAX_LEN)
#define FORK_DATA_LEN PATH_MAX_LEN

/* task_info.flags */
#define TASK_KTHREAD 1

/* exec_event.flags */
#define EXEC_INTERPRETED 1       /* went through a binfmt that swapped the executable (shebang, binfmt_misc) */
#define EXEC_PATH_TRUNCATED 2    /* exe path kept only its tail */
#define EXEC_SCRIPT_TRUNCATED 4  /* script path kept only its tail */
#define EXEC_CGROUP_TRUNCATED 8
#define EXEC_ARGS_TRUNCATED 16
#define EXEC_ENVS_TRUNCATED 32
#define EXEC_ARGS_FAULT 64       /* argv could not be read from the new mm */
#define EXEC_ENV_BLOCK 128       /* the envs section is the whole environment block (envp is empty) */

/* fork_event.flags */
#define FORK_CGROUP_TRUNCATED 1

struct record_header {
	__u32 kind;
	__u32 cpu;
	__u64 timestamp_ns; /* bpf_ktime_get_boot_ns() */
};

struct task_info {
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 flags;
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 fsuid;
	__u32 fsgid;
	__u32 auid;
	__u32 _pad0;
	__u64 cap_effective;
	__u64 cap_permitted;
	__u64 cgroup_id;
	__u64 start_boottime_ns;
	char comm[COMM_LEN];
	char tty[TTY_LEN];
};

/* The acting thread's own credentials (task->real_cred: an override_creds() of the kernel acting on its
 * behalf is not a change of the task's privileges), carried by every activity record. */
#define CRED_INIT_USER_NS 1 /* cred->user_ns is the initial user namespace: capabilities count on the host */
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

struct file_info {
	__u64 inode;
	__u64 mtime_ns;
	__u64 ctime_ns;
	__u32 mount_id;
	__u32 mode;
	__u32 uid;
	__u32 gid;
	char fs_type[FS_TYPE_LEN];
};

/* Followed by `data`: exe_path, script_path, cgroup_path (no NULs), then args, envs, envp (each string
 * NUL-terminated), in that order, lengths below. */
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
#define CNT_DROPS 0
#define CNT_EXEC 1
#define CNT_FORK 2
#define CNT_EXIT 3
#define CNT_MAX 4

struct counters {
	__u64 v[CNT_MAX];
};
#include "file_events.h"

#include "act_events.h"
