/* Active Protection at exec: kill a process from the exec hook, before its new image runs any user code.
 *
 * User space compiles the kill rules that the kernel can decide exactly (executable basename equal to a
 * value, or an argument containing a literal) into the maps below; every other kill rule is enforced from
 * user space after evaluation. This program is attached BEFORE handle_exec, so its kill record precedes the
 * exec record of the same process in the ring buffer and user space can pair them.
 *
 * Never killed here: host pid 1, the agent's own thread group, kernel threads, and the system instance of an
 * executable listed as protected (by inode and device, so a renamed copy is not protected): run by root, with no
 * LD_* or GCONV_PATH variable in its environment, in one of the protected cgroups. Any other run of a protected
 * binary (another user, a preloaded library, a shell's own cgroup) is judged like any program.
 *
 * An argv longer than the scan buffer is scanned as its head and its tail (never across the seam between
 * them): the arguments an attacker pads away from the head are in the tail. */
#pragma once

#include "common.h"

enum kill_limit {
	KILL_SLOTS = 32,
	KILL_NAME_LEN = 64,
	KILL_PATTERNS = 16,
	KILL_PATTERN_LEN = 32,
	KILL_ARGS_LEN = 4096,
	/* A longer argv is scanned as its first KILL_ARGS_LEN - KILL_TAIL_LEN bytes and its last KILL_TAIL_LEN. */
	KILL_TAIL_LEN = KILL_ARGS_LEN / 4,
	KILL_PROTECTED_CGROUPS = 64,
	/* Environment strings read to judge a protected executable's run; a bigger environment is not a
	 * system one. */
	KILL_ENV_STRINGS = 256,
	/* argv positions looked at per bpf_loop() callback: a callback costs more than the few loads of a
	 * position */
	KILL_STEP = 16,
};

/* A kill rule slot: the signal, and whether it is armed (the disarmer clears it). */
struct kill_slot {
	__u32 signal;
	__u32 armed;
};

/* An argument substring: matches when any argv byte sequence equals bytes[0..len). */
struct kill_pattern {
	__u32 slots; /* bitmask of kill slots this pattern belongs to */
	__u32 len;
	char bytes[KILL_PATTERN_LEN];
};

struct kill_config {
	__u32 armed_slots; /* bitmask; 0 = nothing to do */
	__u32 npatterns;
	__u32 argv0_names; /* non-zero when kill_argv0 has entries */
	__u32 _pad;
	__u64 first_bytes[4];  /* bitmap of the patterns' first bytes, to skip most positions at once */
	__u64 second_bytes[4]; /* and of their second bytes (all set when a pattern has one byte) */
};

struct kill_name_key {
	char name[KILL_NAME_LEN];
};

struct kill_exe_key {
	__u64 inode;
	__u32 dev; /* kernel encoding: major << 20 | minor */
	__u32 _pad;
};

/* Ring-buffer record: the kernel sent `signal` to `pid` for `slot`; `result` is bpf_send_signal's return. */
struct kill_event {
	struct record_header hdr;
	__u32 pid;
	__u32 tid;
	__u32 slot;
	__u32 signal;
	__s32 result;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kill_config);
} kill_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KILL_SLOTS);
	__type(key, __u32);
	__type(value, struct kill_slot);
} kill_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KILL_PATTERNS);
	__type(key, __u32);
	__type(value, struct kill_pattern);
} kill_patterns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct kill_name_key);
	__type(value, __u32); /* slot bitmask */
} kill_names SEC(".maps");

/* argv[0] values (exactly as passed to execve), for rules on exec.argv0. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct kill_name_key);
	__type(value, __u32); /* slot bitmask */
} kill_argv0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct kill_exe_key);
	__type(value, __u8);
} kill_protected SEC(".maps");

/* cgroup v2 ids where a protected executable's system instance runs (the init cgroup, sshd's service...). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KILL_PROTECTED_CGROUPS);
	__type(key, __u64);
	__type(value, __u8);
} kill_protected_cgroups SEC(".maps");

/* Scan state and buffers, in a map for the same verifier reason as struct work. */
struct kill_scan {
	__u32 args_len;
	__u32 seam;  /* end of the head: args[seam..args_len) is argv's tail (seam == args_len when whole) */
	__u32 start; /* first byte after argv[0]: exec.args and exec.argv exclude argv0 */
	__u32 pos;
	__u32 found; /* slot bitmask of matched patterns */
	__u32 npatterns;
	__u32 scan_from; /* start rounded down to KILL_STEP: where the position scan begins */
	__u32 _pad1;
	__u64 first_bytes[4]; /* the config's, copied once per exec */
	__u64 second_bytes[4];
	__u64 env_ptr; /* environment walk of a protected executable */
	__u64 env_end;
	__u32 env_tainted;
	__u32 _pad;
	struct kill_name_key name;
	char args[KILL_ARGS_LEN + KILL_PATTERN_LEN]; /* tail headroom: compares never read past the buffer */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kill_scan);
} kill_scan_map SEC(".maps");

/* Referenced so that libbpf-cargo emits Rust types for them. */
struct kill_event _kill_event_type = {};
struct kill_config _kill_config_type = {};
struct kill_slot _kill_slot_type = {};
struct kill_pattern _kill_pattern_type = {};
struct kill_name_key _kill_name_key_type = {};
struct kill_exe_key _kill_exe_key_type = {};

static __always_inline struct kill_scan *kill_scan_buf(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&kill_scan_map, &zero);
}

/* Does pattern `i` occur at the current scan position? */
static long kill_pattern_step(__u64 i, void *arg)
{
	struct kill_scan *s = kill_scan_buf();
	struct kill_pattern *p;
	__u32 key = i, pos, len, end;

	if (!s || i >= s->npatterns)
		return 1;
	p = bpf_map_lookup_elem(&kill_patterns, &key);
	if (!p)
		return 1;
	len = p->len;
	pos = s->pos;
	/* a match ends inside the head or inside the tail, never across the gap between them */
	end = pos < s->seam ? s->seam : s->args_len;
	if (len == 0 || len > KILL_PATTERN_LEN || pos >= KILL_ARGS_LEN || pos + len > end)
		return 0;
	pos &= KILL_ARGS_LEN - 1;
#pragma unroll
	for (int j = 0; j < KILL_PATTERN_LEN; j++) {
		if (j >= len)
			break;
		if (s->args[pos + j] != p->bytes[j])
			return 0;
	}
	s->found |= p->slots;
	return 0;
}

/* Finds the end of argv[0]. Past the head (argv[0] longer than it), the first NUL of the tail is taken: the
 * piece before it is argv[0]'s end or part of an argument in the gap, never scanned. */
static long kill_argv0_step(__u64 i, void *arg)
{
	struct kill_scan *s = kill_scan_buf();

	if (!s || i >= s->args_len)
		return 1;
	if (s->args[i & (KILL_ARGS_LEN - 1)] == 0) {
		s->start = i + 1;
		return 1;
	}
	return 0;
}

/* KILL_STEP argv positions: cheap first- and second-byte checks, then the patterns where both pass. */
static long kill_position_step(__u64 i, void *arg)
{
	struct kill_scan *s = kill_scan_buf();
	__u32 pos, base, end;
	__u8 b;

	if (!s)
		return 1;
	base = s->scan_from + i * KILL_STEP;
	end = s->args_len;
	if (base >= end)
		return 1;
#pragma unroll
	for (int j = 0; j < KILL_STEP; j++) {
		pos = base + j;
		if (pos >= end)
			return 1;
		if (pos < s->start)
			continue;
		pos &= KILL_ARGS_LEN - 1; /* no-op (end <= KILL_ARGS_LEN) for the verifier */
		b = s->args[pos];
		if (!(s->first_bytes[(b >> 6) & 3] & (1ull << (b & 63))))
			continue;
		b = s->args[pos + 1]; /* inside the buffer's headroom at the last position */
		if (!(s->second_bytes[(b >> 6) & 3] & (1ull << (b & 63))))
			continue;
		s->pos = pos;
		bpf_loop(KILL_PATTERNS, kill_pattern_step, NULL, 0);
	}
	return 0;
}

/* Reads argv into the scan buffer: whole when it fits, else its head and its tail side by side (seam between
 * them). Returns 0 when nothing could be read. */
static __always_inline int kill_read_args(struct kill_scan *s, __u64 start, __u64 end, __u64 len)
{
	__u32 head = len, tail = 0;

	if (len > KILL_ARGS_LEN) {
		head = KILL_ARGS_LEN - KILL_TAIL_LEN;
		tail = KILL_TAIL_LEN;
	}
	barrier_var(head);
	head &= 2 * KILL_ARGS_LEN - 1; /* no-op (head <= KILL_ARGS_LEN) for the verifier */
	if (!head || bpf_probe_read_user(s->args, head, (void *)start))
		return 0;
	s->seam = head;
	s->args_len = head;
	if (tail && !bpf_probe_read_user(s->args + (KILL_ARGS_LEN - KILL_TAIL_LEN), KILL_TAIL_LEN,
					 (void *)(end - KILL_TAIL_LEN)))
		s->args_len = KILL_ARGS_LEN;
	return 1;
}

/* One environment string of a protected executable's run: a dynamic-loader variable taints it. */
static long kill_env_step(__u64 i, void *arg)
{
	struct kill_scan *s = kill_scan_buf();
	long n;

	if (!s)
		return 1;
	if (s->env_ptr >= s->env_end)
		return 1;
	n = bpf_probe_read_user_str(s->args, KILL_ARGS_LEN, (void *)s->env_ptr);
	if (n <= 0 || n >= KILL_ARGS_LEN) {
		s->env_tainted = 1; /* unreadable or too long to step over: cannot vouch for it */
		return 1;
	}
	s->env_ptr += n;
	if ((s->args[0] == 'L' && s->args[1] == 'D' && s->args[2] == '_') ||
	    (s->args[0] == 'G' && s->args[1] == 'C' && s->args[2] == 'O' && s->args[3] == 'N' &&
	     s->args[4] == 'V' && s->args[5] == '_' && s->args[6] == 'P' && s->args[7] == 'A' &&
	     s->args[8] == 'T' && s->args[9] == 'H' && s->args[10] == '=')) {
		s->env_tainted = 1;
		return 1;
	}
	return 0;
}

/* The system instance of a protected executable: root (real and effective), in a protected cgroup, with no
 * LD_* or GCONV_PATH variable in an environment small enough to read whole. */
static __always_inline int kill_system_instance(struct kill_scan *s, struct task_struct *task, struct mm_struct *mm)
{
	const struct cred *cred = KREAD(task, cred);
	__u64 cgroup;

	if (KREAD(cred, uid.val) != 0 || KREAD(cred, euid.val) != 0)
		return 0;
	cgroup = KREAD(task_cgroup_kn(task), id);
	if (!bpf_map_lookup_elem(&kill_protected_cgroups, &cgroup))
		return 0;
	s->env_ptr = KREAD(mm, env_start);
	s->env_end = KREAD(mm, env_end);
	s->env_tainted = 0;
	bpf_loop(KILL_ENV_STRINGS, kill_env_step, NULL, 0);
	return !s->env_tainted && s->env_ptr >= s->env_end;
}

/* Task identity for user space's kills (Active Protection): after pidfd_open(pid), the agent asks for the
 * start time of the process now holding the pid and refuses to signal one that is not the process of the event
 * (the pid was recycled). /proc's starttime has clock-tick resolution; this one is exact. */
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;

struct task_start_query {
	__u32 pid;  /* in: a pid in the initial pid namespace */
	__u32 tgid; /* out: the thread-group id of the task with that pid (0: none) */
	__u64 start_boottime_ns; /* out: its task->start_boottime */
};

struct task_start_query _task_start_query_type = {};

SEC("syscall")
int task_start(struct task_start_query *q)
{
	struct task_struct *t;

	q->tgid = 0;
	q->start_boottime_ns = 0;
	if (!bpf_ksym_exists(bpf_task_from_pid))
		return -1;
	t = bpf_task_from_pid(q->pid);
	if (!t)
		return 0;
	q->tgid = t->tgid;
	q->start_boottime_ns = t->start_boottime;
	bpf_task_release(t);
	return 0;
}

static __always_inline void emit_kill(struct task_struct *task, __u32 slot, __u32 signal, long result)
{
	struct kill_event *k = bpf_ringbuf_reserve(&events, sizeof(*k), 0);

	if (!k) {
		count(CNT_DROPS);
		return;
	}
	fill_header(&k->hdr, RECORD_KILL);
	k->pid = BPF_CORE_READ(task, tgid);
	k->tid = BPF_CORE_READ(task, pid);
	k->slot = slot;
	k->signal = signal;
	k->result = result;
	k->_pad = 0;
	/* a kill is rare and urgent for the reader: wake it now */
	bpf_ringbuf_submit(k, BPF_RB_FORCE_WAKEUP);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec_kill, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct kill_config *cfg;
	struct kill_scan *s;
	struct kill_slot *slot_cfg;
	struct kill_exe_key exe_key = {};
	struct file *exe;
	struct inode *inode;
	struct mm_struct *mm;
	__u32 zero = 0, tgid, mask = 0, slot, *names_mask;
	__u64 start, end, len;
	long result;

	cfg = bpf_map_lookup_elem(&kill_config, &zero);
	if (!cfg || !cfg->armed_slots)
		return 0;
	tgid = KREAD(task, tgid);
	if (tgid <= 1 || (agent_tgid && tgid == agent_tgid))
		return 0;
	if (KREAD(task, flags) & PF_KTHREAD)
		return 0;
	mm = KREAD(task, mm);
	exe = KREAD(mm, exe_file);
	s = kill_scan_buf();
	if (!s)
		return 0;

	/* The executable's basename; a script's name is not the executable's (the interpreter runs), so names
	 * are only decided here for direct execs. */
	if (KREAD(bprm, filename) == KREAD(bprm, interp)) {
		__builtin_memset(&s->name, 0, sizeof(s->name));
		bpf_probe_read_kernel_str(s->name.name, KILL_NAME_LEN, KREAD(KREAD(exe, f_path.dentry), d_name.name));
		names_mask = bpf_map_lookup_elem(&kill_names, &s->name);
		if (names_mask)
			mask |= *names_mask;
	}

	if (cfg->npatterns || cfg->argv0_names) {
		start = KREAD(mm, arg_start);
		end = KREAD(mm, arg_end);
		len = end > start ? end - start : 0;
		if (kill_read_args(s, start, end, len)) {
			s->start = s->args_len;
			bpf_loop(KILL_ARGS_LEN, kill_argv0_step, NULL, 0);
			if (cfg->argv0_names && s->start > 1 && s->start <= KILL_NAME_LEN) {
				__builtin_memset(&s->name, 0, sizeof(s->name));
				bpf_probe_read_kernel(s->name.name, (s->start - 1) & (KILL_NAME_LEN - 1), s->args);
				names_mask = bpf_map_lookup_elem(&kill_argv0, &s->name);
				if (names_mask)
					mask |= *names_mask;
			}
			s->found = 0;
			s->npatterns = cfg->npatterns;
			if (s->npatterns) {
				__builtin_memcpy(s->first_bytes, cfg->first_bytes, sizeof(s->first_bytes));
				__builtin_memcpy(s->second_bytes, cfg->second_bytes, sizeof(s->second_bytes));
				s->scan_from = s->start & ~(KILL_STEP - 1);
				bpf_loop(KILL_ARGS_LEN / KILL_STEP + 1, kill_position_step, NULL, 0);
			}
			mask |= s->found;
		}
	}

	mask &= cfg->armed_slots;
	if (!mask)
		return 0;
	/* only now, with a kill at hand: is this the system instance of a protected executable? */
	inode = KREAD(exe, f_inode);
	exe_key.inode = KREAD(inode, i_ino);
	exe_key.dev = KREAD(KREAD(inode, i_sb), s_dev);
	if (bpf_map_lookup_elem(&kill_protected, &exe_key) && kill_system_instance(s, task, mm))
		return 0;
	/* lowest matching slot (no count-trailing-zeros instruction in BPF) */
	slot = KILL_SLOTS;
#pragma unroll
	for (int i = KILL_SLOTS - 1; i >= 0; i--)
		if (mask & (1u << i))
			slot = i;
	if (slot >= KILL_SLOTS)
		return 0;
	slot_cfg = bpf_map_lookup_elem(&kill_slots, &slot);
	if (!slot_cfg || !slot_cfg->armed)
		return 0;
	result = bpf_send_signal(slot_cfg->signal);
	emit_kill(task, slot, slot_cfg->signal, result);
	return 0;
}
