// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* The whole sensor, one BPF object: process lifecycle (exec, fork, exit; this file), file activity (file.h),
 * kernel activity (kernel.h, mount_api.h), network and DNS (net.h, dns.h), Active Protection at exec
 * (kill.h), io_uring requests (uring.h) and ia32 compat syscalls (compat.h), all on one ring buffer. */

#include "common.h"
#include "path.h"
#include "task.h"
#include "kernel.h"
#include "mount_api.h"
#include "net.h"
#include "dns.h"
#include "file.h"
#include "kill.h"
#include "uring.h"
#include "compat.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Referenced so that libbpf-cargo emits Rust types for every record layout. */
struct exec_event _exec_event_type = {};
struct fork_event _fork_event_type = {};
struct exit_event _exit_event_type = {};
struct counters _counters_type = {};

/* Every enum user space reads, referenced once so that it lands in BTF and so in the skeleton's generated
 * types (src/abi.rs): an enum used only in expressions has no BTF of its own. */
struct abi_enums {
	enum record_kind record_kind;
	enum exec_limit exec_limit;
	enum origin origin;
	enum task_flag task_flag;
	enum exec_flag exec_flag;
	enum fork_flag fork_flag;
	enum cred_flag cred_flag;
	enum counter_slot counter_slot;
	enum kact_op kact_op;
	enum kact_limit kact_limit;
	enum kact_flag kact_flag;
	enum dns_limit dns_limit;
	enum dns_flag dns_flag;
	enum file_ev file_ev;
	enum file_limit file_limit;
	enum file_flag file_flag;
	enum file_mode file_mode;
	enum file_policy_flag file_policy_flag;
	enum file_filter_limit file_filter_limit;
	enum path_key_kind path_key_kind;
	enum kill_limit kill_limit;
	enum uring_counter uring_counter;
	enum act_uapi act_uapi;
	enum kernel_uapi kernel_uapi;
	enum file_uapi file_uapi;
};
struct abi_enums _abi_enums = {};

/* 32 KiB exactly (the per-CPU value limit and a power of two, see the output-size mask). */
struct exec_scratch {
	struct exec_event ev;
	char data[32768 - sizeof(struct exec_event)];
};

struct fork_scratch {
	struct fork_event ev;
	char data[FORK_DATA_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_scratch);
} exec_heap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fork_scratch);
} fork_heap SEC(".maps");

/* Copies a section of at most `max` bytes to data[off..]; returns the bytes copied. The mask is a no-op
 * after the clamp but keeps the bound visible to the verifier, hence the 2 * max headroom. */
static __always_inline __u32 append(char *data, __u32 off, const void *src, __u32 len, const __u32 max)
{
	if (len > max)
		len = max;
	barrier_var(len); /* keep clang from dropping the mask it can prove redundant */
	len &= 2 * max - 1;
	if (off > EXEC_DATA_LEN - 2 * max)
		return 0;
	if (bpf_probe_read_kernel(data + off, len, src))
		return 0;
	return len;
}

#define ENV_WALK_MAX 1024

#define NAME_STEP_BYTES 8

/* Eight bytes of an environment string's name (up to '='): a callback per byte made the names the most
 * expensive part of an exec (a bpf_loop() iteration costs far more than the byte's hashing). */
static long name_step(__u64 i, void *arg)
{
	struct work *w = work_buf();
	__u64 h;
	__u32 at;
	char ch;

	if (!w)
		return 1;
	h = w->env.name_hash;
#pragma unroll
	for (int j = 0; j < NAME_STEP_BYTES; j++) {
		at = i * NAME_STEP_BYTES + j;
		ch = w->str[at & (WORK_STR_LEN - 1)];
		if (ch == '=' || ch == 0) {
			w->env.name_hash = h;
			w->env.name_len = at;
			return 1;
		}
		h = (h ^ (__u8)ch) * FNV_PRIME;
	}
	w->env.name_hash = h;
	w->env.name_len = (i + 1) * NAME_STEP_BYTES;
	return 0;
}

/* One environment string: keep its name, and the whole NAME=value when the name is allow-listed. */
static long env_step(__u64 i, void *arg)
{
	struct work *w = work_buf();
	struct env_state *c;
	long n;
	__u32 k, o, p, m;

	if (!w)
		return 1;
	c = &w->env;
	if (c->ptr >= c->end)
		return 1;
	n = bpf_probe_read_user_str(w->str, WORK_STR_LEN, (void *)c->ptr);
	if (n <= 0 || n >= WORK_STR_LEN) {
		/* unreadable, or longer than the scratch: the next string's start is unknown */
		c->truncated = 1;
		return 1;
	}
	c->ptr += n;
	c->name_hash = FNV_OFFSET;
	c->name_len = 0;
	bpf_loop(ENV_NAME_MAX / NAME_STEP_BYTES, name_step, NULL, 0);
	k = c->name_len;
	if (k >= ENV_NAME_MAX) {
		/* a longer name keeps its first ENV_NAME_MAX bytes: say so */
		k = ENV_NAME_MAX;
		if (w->str[ENV_NAME_MAX] != '=' && w->str[ENV_NAME_MAX] != 0)
			c->truncated = 1;
	}
	o = c->names_len;
	if (o > ENVS_MAX_LEN - ENV_NAME_MAX - 1) {
		c->truncated = 1;
		return 1;
	}
	bpf_probe_read_kernel(&w->envs[o], k, w->str);
	w->envs[o + k] = 0;
	c->names_len = o + k + 1;

	for (int j = 0; j < ENV_VALUE_SLOTS; j++) {
		if (env_value_hashes[j] == 0 || env_value_hashes[j] != c->name_hash)
			continue;
		p = c->envp_len;
		if (p > ENVP_MAX_LEN - ENVP_ENTRY_MAX) {
			c->truncated = 1;
			break;
		}
		m = n > ENVP_ENTRY_MAX ? ENVP_ENTRY_MAX : n;
		if (n > ENVP_ENTRY_MAX)
			c->truncated = 1; /* the value keeps its head only */
		bpf_probe_read_kernel(&w->envp[p], m, w->str);
		w->envp[(p + m - 1) & (ENVP_MAX_LEN - 1)] = 0;
		c->envp_len = p + m;
		break;
	}
	return 0;
}

/* The script named by bprm->filename, absolute: relative names are resolved against the cwd. */
static __always_inline __u32 script_path(struct work *w, struct walk *c, struct task_struct *task,
					 const char *filename)
{
	long n = bpf_probe_read_kernel_str(w->str, WORK_STR_LEN, filename);
	__u32 len, skip = 0, pos;

	c->pos = PATH_MAX_LEN;
	c->truncated = 0;
	if (n <= 1)
		return 0;
	len = n - 1;
	if (w->str[0] != '/' && w->str[0] == '.' && w->str[1] == '/')
		skip = 2;
	len = (len - skip) & (PATH_MAX_LEN - 1);
	pos = PATH_MAX_LEN - len;
	bpf_probe_read_kernel(&w->path[pos & (WORK_PATH_LEN - 1)], len, &w->str[skip & 3]);
	c->pos = pos;
	if (w->str[0] != '/') {
		if (!prepend(w, c, "", 0))
			return 0;
		walk_dentries(c, KREAD(KREAD(task, fs), pwd.dentry), KREAD(KREAD(task, fs), pwd.mnt));
	}
	return PATH_MAX_LEN - c->pos;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct exec_scratch *s;
	struct exec_event *e;
	struct work *w;
	struct walk *c;
	struct mm_struct *mm;
	struct file *exe;
	__u32 zero = 0, off = 0, len, head, tail;
	__u64 start, end, total;
	const char *filename, *interp;

	if (agent_tgid && KREAD(task, tgid) == agent_tgid)
		return 0;
	s = bpf_map_lookup_elem(&exec_heap, &zero);
	w = work_buf();
	if (!s || !w)
		return 0;
	e = &s->ev;
	fill_header(&e->hdr, RECORD_EXEC);
	c = &w->walk;
	fill_task(&e->task, task);
	/* flags live in the map value: as a tracked stack constant each combination would be verified apart */
	e->flags = task_runs_ia32(task) ? EXEC_IA32 : 0;
	e->argc = KREAD(bprm, argc);
	e->envc = KREAD(bprm, envc);
	mm = KREAD(task, mm);
	exe = KREAD(mm, exe_file);
	fill_file(&e->file, exe);
	if (in_upper_layer(KREAD(exe, f_inode)))
		e->flags |= EXEC_FILE_UPPER;

	/* executable */
	c->pos = PATH_MAX_LEN;
	c->truncated = 0;
	walk_dentries(c, KREAD(exe, f_path.dentry), KREAD(exe, f_path.mnt));
	len = finish_path(w, c);
	if (c->truncated)
		e->flags |= EXEC_PATH_TRUNCATED;
	len = append(s->data, off, &w->path[c->pos & (PATH_MAX_LEN - 1)], len, PATH_MAX_LEN);
	e->exe_path_len = len;
	off += len;

	/* script: binfmt_script (and binfmt_misc) replace bprm->interp, which otherwise is bprm->filename */
	e->script_path_len = 0;
	filename = KREAD(bprm, filename);
	interp = KREAD(bprm, interp);
	if (filename != interp) {
		e->flags |= EXEC_INTERPRETED;
		len = script_path(w, c, task, filename);
		if (c->truncated)
			e->flags |= EXEC_SCRIPT_TRUNCATED;
		len = append(s->data, off, &w->path[c->pos & (PATH_MAX_LEN - 1)], len, PATH_MAX_LEN);
		e->script_path_len = len;
		off += len;
	}

	/* cgroup */
	len = cgroup_path(w, c, task);
	if (c->truncated)
		e->flags |= EXEC_CGROUP_TRUNCATED;
	len = append(s->data, off, &w->path[c->pos & (PATH_MAX_LEN - 1)], len, PATH_MAX_LEN);
	e->cgroup_path_len = len;
	off += len;

	/* argv: the NUL-separated block the kernel just copied onto the new stack. A longer one than the bound
	 * keeps its head and its tail, so arguments padded away from the head are still seen; user space finds
	 * the gap from args_size and args_head_len. */
	start = KREAD(mm, arg_start);
	end = KREAD(mm, arg_end);
	total = end > start ? end - start : 0;
	e->args_size = total > 0xffffffffull ? 0xffffffffu : total;
	len = args_max_bytes < ARGS_MAX_LEN ? args_max_bytes : ARGS_MAX_LEN;
	head = total;
	tail = 0;
	if (total > len) {
		tail = len / ARGS_TAIL_DIVISOR;
		head = len - tail;
		e->flags |= EXEC_ARGS_TRUNCATED;
	}
	/* no-op masks (head <= ARGS_MAX_LEN, tail <= ARGS_MAX_LEN / 4) that show the verifier the bounds */
	barrier_var(head);
	head &= 2 * ARGS_MAX_LEN - 1;
	barrier_var(tail);
	tail &= 2 * (ARGS_MAX_LEN / ARGS_TAIL_DIVISOR) - 1;
	e->args_len = 0;
	e->args_head_len = 0;
	e->_pad0 = 0;
	if (off > EXEC_DATA_LEN - 2 * ARGS_MAX_LEN) {
		e->flags |= EXEC_ARGS_TRUNCATED; /* unreachable with today's section bounds; never silent */
	} else if (bpf_probe_read_user(s->data + off, head, (void *)start)) {
		e->flags |= EXEC_ARGS_FAULT | EXEC_ARGS_TRUNCATED;
	} else {
		e->args_head_len = head;
		len = head;
		if (tail) {
			if (bpf_probe_read_user(s->data + off + head, tail, (void *)(end - tail)))
				e->flags |= EXEC_ARGS_FAULT;
			else
				len += tail;
		}
		e->args_len = len;
		off += len;
	}

	/* environment: a small one whole, in one read (user space splits it and applies the allow-list: the
	 * string-by-string walk below costs ~0.3 µs per variable); otherwise names, plus NAME=value for the
	 * allow-list */
	w->env.ptr = KREAD(mm, env_start);
	w->env.end = KREAD(mm, env_end);
	len = w->env.end > w->env.ptr ? w->env.end - w->env.ptr : 0;
	if (len <= ENV_BLOCK_MAX && off <= sizeof(s->data) - 2 * ENV_BLOCK_MAX) {
		barrier_var(len);
		len &= 2 * ENV_BLOCK_MAX - 1;
		if (!bpf_probe_read_user(s->data + off, len, (void *)w->env.ptr)) {
			e->flags |= EXEC_ENV_BLOCK;
			e->envs_len = len;
			e->envp_len = 0;
			off += len;
			goto emit;
		}
	}
	w->env.names_len = 0;
	w->env.envp_len = 0;
	w->env.truncated = 0;
	bpf_loop(ENV_WALK_MAX, env_step, NULL, 0);
	if (w->env.truncated || w->env.ptr < w->env.end)
		e->flags |= EXEC_ENVS_TRUNCATED;
	len = append(s->data, off, w->envs, w->env.names_len, ENVS_MAX_LEN);
	e->envs_len = len;
	off += len;
	len = append(s->data, off, w->envp, w->env.envp_len, ENVP_MAX_LEN);
	e->envp_len = len;
	off += len;

emit:
	len = sizeof(struct exec_event) + off;
	barrier_var(len);
	len &= sizeof(*s) - 1; /* no-op (the scratch is a power of two larger than any record) for the verifier */
	if (bpf_ringbuf_output(&events, s, len, rb_flags()))
		count(CNT_DROPS);
	else
		count(CNT_EXEC);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct fork_scratch *s;
	struct work *w;
	struct walk *c;
	__u32 zero = 0, len;

	if (agent_tgid && KREAD(child, tgid) == agent_tgid)
		return 0;
	s = bpf_map_lookup_elem(&fork_heap, &zero);
	w = work_buf();
	if (!s || !w)
		return 0;
	c = &w->walk;
	fill_header(&s->ev.hdr, RECORD_FORK);
	s->ev.parent_pid = KREAD(parent, tgid);
	s->ev.parent_tid = KREAD(parent, pid);
	fill_task(&s->ev.child, child);
	len = cgroup_path(w, c, child);
	s->ev.flags = c->truncated ? FORK_CGROUP_TRUNCATED : 0;
	if (len > FORK_DATA_LEN)
		len = FORK_DATA_LEN;
	if (bpf_probe_read_kernel(s->data, len, &w->path[c->pos & (PATH_MAX_LEN - 1)]))
		len = 0;
	s->ev.cgroup_path_len = len;
	len += sizeof(struct fork_event);
	barrier_var(len);
	if (len > sizeof(*s))
		len = sizeof(*s);
	if (bpf_ringbuf_output(&events, s, len, rb_flags()))
		count(CNT_DROPS);
	else
		count(CNT_FORK);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	struct exit_event *e;
	__u32 tgid = KREAD(task, tgid);
	__u64 flags;

	if (agent_tgid && tgid == agent_tgid)
		return 0;
	flags = rb_flags();
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(CNT_DROPS);
		return 0;
	}
	fill_header(&e->hdr, RECORD_EXIT);
	e->pid = tgid;
	e->tid = KREAD(task, pid);
	e->exit_code = KREAD(task, exit_code);
	/* signal->live is decremented before this tracepoint; reading 0 means every thread is exiting, so a
	 * true value is never wrong (two threads racing may both report it). */
	e->group_dead = KREAD(KREAD(task, signal), live.counter) == 0;
	bpf_ringbuf_submit(e, flags);
	count(CNT_EXIT);
	return 0;
}
