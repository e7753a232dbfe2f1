/* io_uring: the file and network operations a ring performs produce the records of their syscalls, through
 * the same bodies (file_record, net_*_report) with origin ORIGIN_URING, so the same in-kernel filters and
 * rules apply; and an io_uring_setup record for every ring created.
 *
 * Why these hooks: kprobes, fentry and BPF LSM are unavailable here, but the io_uring tracepoints load as
 * tp_btf. io_uring_submit_req fires once a request is prepared (its arguments copied into the kernel: the
 * struct filename of a path, the sockaddr of a connect or bind in req->async_data), in the submitting thread
 * or the ring's SQPOLL thread (iou-sqp-PID, a thread of the owning process). io_uring_complete fires when its
 * completion is posted, in the submitter or an io-wq worker (iou-wrk-PID). Between the two the kernel frees
 * the struct filename, so the submission copies what the record needs into uring_pending, keyed by the
 * request, and the completion builds the record with the result.
 *
 * What an attacker can do about it, and what happens:
 * - IOSQE_CQE_SKIP_SUCCESS: a successful request posts no completion: it is reported at submission,
 *   origin ORIGIN_URING_SUBMITTED (result unknown; its paths are the kernel-resolved base directory joined
 *   with the name, as for the path-based syscalls).
 * - A full completion queue: the completion goes to the overflow list and io_uring_cqe_overflow fires
 *   instead, with (ring, user_data) but no request: uring_by_ud maps them back to the request, which must
 *   hold that result (and have run) for the completion to be its own: a read given the same user_data
 *   cannot stand in for an open. A request whose user_data is already pending on the same ring is reported
 *   at submission, as is one that finds uring_pending full: nothing is dropped to make room.
 * - Fixed files and direct descriptors: an open into a fixed slot returns no descriptor; the file is read
 *   from the ring's file table. A connect on a fixed file uses req->file.
 * - Linked requests are prepared (and submitted here) at once and issued in order: each is paired with its
 *   own completion. Personalities (registered credentials, req->creds) are the credentials reported.
 * Reads and writes, the bulk of io_uring traffic, cost one opcode test in each program. */
#pragma once

#include "file.h"
#include "net.h"
#include "kernel.h"

#define IORING_OP_ACCEPT 13
#define IORING_OP_CONNECT 16
#define IORING_OP_OPENAT 18
#define IORING_OP_OPENAT2 28
#define IORING_OP_RENAMEAT 35
#define IORING_OP_UNLINKAT 36
#define IORING_OP_MKDIRAT 37
#define IORING_OP_LINKAT 39
#define IORING_OP_FTRUNCATE 55
#define IORING_OP_BIND 56
#define IORING_FILE_INDEX_ALLOC (~0u)
#define IORING_CQE_F_MORE 2
#define REQ_F_FIXED_FILE (1ull << 0) /* = IOSQE_FIXED_FILE: the low request flags are the SQE's */
#define REQ_F_CQE_SKIP (1ull << 6)   /* = IOSQE_CQE_SKIP_SUCCESS */
#define FFS_MASK (~3ul)            /* io_rsrc_node.file_ptr carries two flag bits */

/* The operations reported; every other opcode stops at this test. */
#define URING_OPS                                                                                           \
	((1ull << IORING_OP_OPENAT) | (1ull << IORING_OP_OPENAT2) | (1ull << IORING_OP_RENAMEAT) |          \
	 (1ull << IORING_OP_UNLINKAT) | (1ull << IORING_OP_MKDIRAT) | (1ull << IORING_OP_LINKAT) |          \
	 (1ull << IORING_OP_FTRUNCATE) |                                                                    \
	 (1ull << IORING_OP_CONNECT) | (1ull << IORING_OP_BIND) | (1ull << IORING_OP_ACCEPT))

/* Set by the loader from the kernel's BTF: the request flag saying req->creds holds a personality (0 when
 * the kernel has none), and the one saying the request still holds resources to release (a path operation
 * clears it once it has run). */
const volatile __u64 uring_creds_flag = 0;
const volatile __u64 uring_cleanup_flag = 0;
/* The network operations wanted, bit KOP_CONNECT/KOP_BIND/KOP_ACCEPT: written by user space whenever the
 * activity set changes (the file operations follow file_policy). */
__u32 uring_net_ops = 0;

/* Counters (per CPU, index URC_*). */
enum uring_counter {
	URC_SUBMITTED = 0,  /* requests of a wanted operation */
	URC_COMPLETED = 1,  /* reported at their completion */
	URC_OVERFLOWED = 2, /* of which, completions found through the overflow tracepoint */
	URC_SKIP = 3,       /* reported at submission: IOSQE_CQE_SKIP_SUCCESS */
	URC_FULL = 4,       /* reported at submission: uring_pending (or its companions) full */
	URC_DUP = 5,        /* reported at submission: user_data already pending on the ring */
	URC_STALE = 6,      /* a pending entry replaced by a new request at its address (never completed) */
	URC_MISSED = 7,     /* a completion with no pending entry (submitted before attach, or lost) */
	URC_FOREIGN = 8,    /* an overflowed completion with a pending request's user_data that was not its */
	URC_SLOTS = 16,
};

struct uring_counters {
	__u64 v[URC_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct uring_counters);
} uring_counters SEC(".maps");

#define URING_ADDR_MAX 28 /* sizeof(struct sockaddr_in6) */

/* What a request's record needs, captured at submission. */
struct uring_pending {
	__u64 ctx;
	__u64 user_data;
	struct act_actor who;
	__u32 opcode;
	__s32 dfd;
	__s32 dfd2;      /* rename/link: the destination's directory */
	__u32 file_slot; /* open/accept into a fixed slot: slot + 1, or IORING_FILE_INDEX_ALLOC; 0: a descriptor;
			  * ftruncate: 1 when dfd is a fixed-file index */
	__u32 flags;     /* open flags, unlinkat/renameat2/linkat flags */
	__u32 mode;
	__u32 addr_len;
	__u8 addr[URING_ADDR_MAX];
	char path[PATH_MAX_LEN];
};

/* The destination path of a rename or link, apart: most requests have none. */
struct uring_dst {
	char path[PATH_MAX_LEN];
};

/* Allocated on demand (memory follows the requests in flight, up to max_entries). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2048);
	__type(key, __u64); /* struct io_kiocb * */
	__type(value, struct uring_pending);
} uring_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 512);
	__type(key, __u64);
	__type(value, struct uring_dst);
} uring_dst SEC(".maps");

struct uring_ud {
	__u64 ctx;
	__u64 user_data;
};

/* (ring, user_data) → request, for completions that overflow the completion queue. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2048);
	__type(key, struct uring_ud);
	__type(value, __u64);
} uring_by_ud SEC(".maps");

/* A submission under construction (too big for the stack). */
struct uring_scratch {
	struct uring_pending p;
	struct uring_dst d;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct uring_scratch);
} uring_scratch SEC(".maps");

struct uring_counters _uring_counters_type = {};

static __always_inline void uring_count(__u32 idx)
{
	__u32 zero = 0;
	struct uring_counters *c = bpf_map_lookup_elem(&uring_counters, &zero);

	if (c)
		c->v[idx & (URC_SLOTS - 1)]++;
}

static __always_inline int uring_is_file_op(__u32 opcode)
{
	return opcode != IORING_OP_CONNECT && opcode != IORING_OP_BIND && opcode != IORING_OP_ACCEPT;
}

static __always_inline __u32 uring_net_op(__u32 opcode)
{
	return opcode == IORING_OP_CONNECT ? KOP_CONNECT : opcode == IORING_OP_BIND ? KOP_BIND : KOP_ACCEPT;
}

/* The file in slot `slot` of the ring's fixed file table, or NULL. */
static __always_inline struct file *uring_fixed_file(struct io_kiocb *req, __u32 slot)
{
	struct io_ring_ctx *ctx = KREAD(req, ctx);
	struct io_rsrc_node **nodes;
	struct io_rsrc_node *node = NULL;

	if (!bpf_core_field_exists(ctx->file_table.data) || slot >= KREAD(ctx, file_table.data.nr))
		return NULL;
	nodes = KREAD(ctx, file_table.data.nodes);
	if (!nodes || bpf_probe_read_kernel(&node, sizeof(node), &nodes[slot]) || !node)
		return NULL;
	return (struct file *)(KREAD(node, file_ptr) & FFS_MASK);
}

/* The descriptor or fixed slot `res` designates: an open's or accept's new file. */
static __always_inline struct file *uring_result_file(struct io_kiocb *req, struct task_struct *task,
						     const struct uring_pending *p, long res)
{
	if (res < 0)
		return NULL;
	if (!p->file_slot)
		return task_fd_file(task, res);
	return uring_fixed_file(req, p->file_slot == IORING_FILE_INDEX_ALLOC ? (__u32)res : p->file_slot - 1);
}

/* One file request's record, through the syscall's body: `task` owns the descriptors and the cwd. */
static __always_inline void uring_file_report(const struct uring_pending *p, const struct uring_dst *dst,
					      struct io_kiocb *req, struct task_struct *task, long res, __u32 origin)
{
	const volatile struct sys_desc *d;
	struct file_scratch *s;
	struct file *opened = NULL;
	__u64 args[6] = {};
	__u32 zero = 0, len;

	args[0] = (__u64)(__s64)p->dfd;
	args[1] = (__u64)p->path;
	switch (p->opcode) {
	case IORING_OP_OPENAT:
	case IORING_OP_OPENAT2:
		d = &sys_table[257]; /* openat(dfd, path, flags, mode) */
		args[2] = p->flags;
		args[3] = p->mode;
		if (origin == ORIGIN_URING)
			opened = uring_result_file(req, task, p, res);
		break;
	case IORING_OP_UNLINKAT:
		d = &sys_table[263]; /* unlinkat(dfd, path, flags) */
		args[2] = p->flags;
		break;
	case IORING_OP_MKDIRAT:
		d = &sys_table[258]; /* mkdirat(dfd, path, mode) */
		args[2] = p->mode;
		break;
	case IORING_OP_FTRUNCATE:
		d = &sys_table[77]; /* ftruncate(fd, length): the file is the request's */
		args[1] = 0;
		if (origin == ORIGIN_URING)
			opened = KREAD(req, file);
		else if (p->file_slot)
			opened = uring_fixed_file(req, p->dfd);
		else
			opened = task_fd_file(task, p->dfd);
		break;
	case IORING_OP_RENAMEAT:
	case IORING_OP_LINKAT:
		if (!dst)
			return;
		/* renameat2 / linkat(olddfd, old, newdfd, new, flags) */
		d = p->opcode == IORING_OP_RENAMEAT ? &sys_table[316] : &sys_table[265];
		args[2] = (__u64)(__s64)p->dfd2;
		args[3] = (__u64)dst->path;
		args[4] = p->flags;
		break;
	default:
		return;
	}
	len = file_record(d, args, origin == ORIGIN_URING ? res : FILE_RET_UNKNOWN, origin, 0, task, opened);
	s = bpf_map_lookup_elem(&file_heap, &zero);
	if (!len || !s)
		return;
	/* the submitter, not whichever thread posts the completion */
	s->ev.pid = p->who.pid;
	s->ev.tid = p->who.tid;
	s->ev.creds = p->who.creds;
	if (origin != ORIGIN_URING)
		s->ev.retval = 0;
	file_emit(len);
}

/* One network request's record. */
static __always_inline void uring_net_report(const struct uring_pending *p, struct io_kiocb *req,
					     struct task_struct *task, long res, __u32 origin)
{
	struct file *file = KREAD(req, file);

	if (origin != ORIGIN_URING)
		res = 0;
	if (p->opcode == IORING_OP_ACCEPT) {
		struct file *new = origin == ORIGIN_URING ? uring_result_file(req, task, p, res) : NULL;
		net_accept_report(res, origin, act_file_sock(new ? new : file), &p->who);
		return;
	}
	net_addr_report(uring_net_op(p->opcode), res, origin, (__u64)p->addr, p->addr_len, 0, file, &p->who);
}

static __always_inline void uring_report(const struct uring_pending *p, const struct uring_dst *dst,
					 struct io_kiocb *req, struct task_struct *task, long res, __u32 origin)
{
	if (uring_is_file_op(p->opcode))
		uring_file_report(p, dst, req, task, res, origin);
	else
		uring_net_report(p, req, task, res, origin);
}

/* The file event type of a file request (FILE_EV_*), for the wanted check. */
static __always_inline __u32 uring_file_type(__u32 opcode, __u32 flags)
{
	switch (opcode) {
	case IORING_OP_UNLINKAT:
		return flags & AT_REMOVEDIR ? FILE_EV_RMDIR : FILE_EV_UNLINK;
	case IORING_OP_MKDIRAT:
		return FILE_EV_MKDIR;
	case IORING_OP_RENAMEAT:
		return FILE_EV_RENAME;
	case IORING_OP_LINKAT:
		return FILE_EV_LINK;
	case IORING_OP_FTRUNCATE:
		return FILE_EV_TRUNCATE;
	}
	return FILE_EV_OPEN;
}

static __always_inline int uring_file_wanted(__u32 type, struct task_struct *task)
{
	struct file_policy *pol = bpf_map_lookup_elem(&file_policy, &type);

	return (pol && pol->mode != FILE_MODE_OFF) || in_dumped_cgroup(task);
}

/* A kernel string (a struct filename's name) into `buf`. */
static __always_inline void uring_name(char *buf, struct filename *name)
{
	buf[0] = 0;
	if (name)
		bpf_probe_read_kernel_str(buf, PATH_MAX_LEN, KREAD(name, name));
}

/* Where a connect or bind keeps the kernel's copy of its address (req->async_data): a struct
 * io_async_msghdr's `addr`, or, since a 2026 fix backported to stable kernels, the struct sockaddr_storage
 * itself. The layout is learnt from a connect whose user buffer still holds what the kernel copied (it
 * equals one candidate: the other is a kernel pointer or out of bounds, which the user cannot guess), and
 * kept: it does not change while the kernel runs. Until then, the start of the data decides: the old
 * layout begins with a kernel pointer or NULL, never with a sockaddr of a known family. */
#define URING_ADDR_UNKNOWN 0
#define URING_ADDR_DIRECT 1
#define URING_ADDR_MSGHDR 2
__u32 uring_addr_layout = URING_ADDR_UNKNOWN;

static __always_inline int looks_like_sockaddr(__u64 head)
{
	__u16 family = head & 0xffff;

	if (head >> 47 == 0x1ffff) /* a kernel address */
		return 0;
	return family == AF_INET || family == AF_INET6 || family == AF_UNIX;
}

static __always_inline void *uring_sockaddr(struct io_kiocb *req, __u32 opcode)
{
	struct io_async_msghdr *io = KREAD(req, async_data);
	void *direct = io, *msghdr = io ? (void *)&io->addr : NULL;
	__u64 head = 0, user = 0, in_msghdr = 0;
	void *uaddr;

	if (!io)
		return NULL;
	if (uring_addr_layout == URING_ADDR_DIRECT)
		return direct;
	if (uring_addr_layout == URING_ADDR_MSGHDR)
		return msghdr;
	bpf_probe_read_kernel(&head, sizeof(head), direct);
	bpf_probe_read_kernel(&in_msghdr, sizeof(in_msghdr), msghdr);
	uaddr = opcode == IORING_OP_CONNECT ? KREAD((struct io_connect *)(void *)req, addr) : NULL;
	if (uaddr && !bpf_probe_read_user(&user, sizeof(user), uaddr) && (user == head) != (user == in_msghdr)) {
		uring_addr_layout = user == head ? URING_ADDR_DIRECT : URING_ADDR_MSGHDR;
		return user == head ? direct : msghdr;
	}
	return looks_like_sockaddr(head) ? direct : msghdr;
}

/* rename and link prepare the same fields, in two types (CO-RE relocates each). */
#define URING_TWO_PATHS(type)                                        \
	do {                                                         \
		type *o = (void *)req;                               \
		p->dfd = KREAD(o, old_dfd);                          \
		p->dfd2 = KREAD(o, new_dfd);                         \
		p->flags = KREAD(o, flags);                          \
		uring_name(p->path, KREAD(o, oldpath));              \
		uring_name(d->path, KREAD(o, newpath));              \
	} while (0)

/* Fills `p` (and `d` for two-path operations) from a prepared request; returns 0 when it is not wanted. */
static __always_inline int uring_capture(struct uring_pending *p, struct uring_dst *d, struct io_kiocb *req,
					 struct task_struct *task, __u32 opcode)
{
	p->opcode = opcode;
	p->dfd = AT_FDCWD;
	p->dfd2 = AT_FDCWD;
	p->file_slot = 0;
	p->flags = 0;
	p->mode = 0;
	p->addr_len = 0;
	switch (opcode) {
	case IORING_OP_OPENAT:
	case IORING_OP_OPENAT2: {
		struct io_open *o = (void *)req;
		p->dfd = KREAD(o, dfd);
		p->file_slot = KREAD(o, file_slot);
		p->flags = KREAD(o, how.flags);
		p->mode = KREAD(o, how.mode);
		uring_name(p->path, KREAD(o, filename));
		break;
	}
	case IORING_OP_UNLINKAT: {
		struct io_unlink *o = (void *)req;
		p->dfd = KREAD(o, dfd);
		p->flags = KREAD(o, flags);
		uring_name(p->path, KREAD(o, filename));
		break;
	}
	case IORING_OP_MKDIRAT: {
		struct io_mkdir *o = (void *)req;
		p->dfd = KREAD(o, dfd);
		p->mode = KREAD(o, mode);
		uring_name(p->path, KREAD(o, filename));
		break;
	}
	case IORING_OP_RENAMEAT:
		URING_TWO_PATHS(struct io_rename);
		break;
	case IORING_OP_LINKAT:
		URING_TWO_PATHS(struct io_link);
		break;
	case IORING_OP_CONNECT:
	case IORING_OP_BIND: {
		/* the kernel's copy of the address (move_addr_to_kernel at prep), not the user buffer */
		void *copy = uring_sockaddr(req, opcode);
		int len = opcode == IORING_OP_CONNECT ? KREAD((struct io_connect *)(void *)req, addr_len)
						      : KREAD((struct io_bind *)(void *)req, addr_len);
		if (!copy || len <= 0)
			return 0;
		p->addr_len = len < URING_ADDR_MAX ? len : URING_ADDR_MAX;
		if (bpf_probe_read_kernel(p->addr, sizeof(p->addr), copy))
			return 0;
		break;
	}
	case IORING_OP_ACCEPT:
		p->file_slot = KREAD((struct io_accept *)(void *)req, file_slot);
		break;
	case IORING_OP_FTRUNCATE:
		/* its file is assigned when it runs: the descriptor (or fixed index) it names, for a report at
		 * submission */
		p->dfd = KREAD(req, cqe.fd);
		p->file_slot = (KREAD(req, flags) & REQ_F_FIXED_FILE) != 0;
		break;
	}
	if (uring_is_file_op(opcode))
		return uring_file_wanted(uring_file_type(opcode, p->flags), task);
	return (uring_net_ops >> uring_net_op(opcode)) & 1;
}

/* Keeps the request for its completion; 0 when it cannot be told apart or there is no room. */
static __always_inline int uring_pend(__u64 key, const struct uring_pending *p, const struct uring_dst *d)
{
	struct uring_ud ud = { .ctx = p->ctx, .user_data = p->user_data };
	__u64 *other;

	if (bpf_map_lookup_elem(&uring_pending, &key))
		uring_count(URC_STALE);
	other = bpf_map_lookup_elem(&uring_by_ud, &ud);
	if (other && *other != key && bpf_map_lookup_elem(&uring_pending, other)) {
		uring_count(URC_DUP);
		return 0;
	}
	if (bpf_map_update_elem(&uring_pending, &key, p, BPF_ANY))
		goto full;
	if ((p->opcode == IORING_OP_RENAMEAT || p->opcode == IORING_OP_LINKAT) &&
	    bpf_map_update_elem(&uring_dst, &key, d, BPF_ANY))
		goto full_pending;
	if (bpf_map_update_elem(&uring_by_ud, &ud, &key, BPF_ANY)) {
		bpf_map_delete_elem(&uring_dst, &key);
		goto full_pending;
	}
	return 1;
full_pending:
	bpf_map_delete_elem(&uring_pending, &key);
full:
	uring_count(URC_FULL);
	return 0;
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(uring_submit, struct io_kiocb *req)
{
	struct task_struct *task;
	struct uring_scratch *s;
	__u32 opcode = req->opcode, zero = 0;
	const struct cred *cred;
	__u64 key = (__u64)req;

	if (opcode >= 64 || !((URING_OPS >> opcode) & 1))
		return 0;
	task = bpf_get_current_task_btf();
	if (agent_tgid && task->tgid == agent_tgid)
		return 0;
	s = bpf_map_lookup_elem(&uring_scratch, &zero);
	if (!s || !uring_capture(&s->p, &s->d, req, task, opcode))
		return 0;
	uring_count(URC_SUBMITTED);
	/* the submitter (an SQPOLL ring: its poller thread, in the owning process) and the credentials the
	 * request runs with: a registered personality, or the task's own */
	s->p.ctx = (__u64)req->ctx;
	s->p.user_data = req->cqe.user_data;
	s->p.who.pid = task->tgid;
	s->p.who.tid = task->pid;
	cred = uring_creds_flag && (req->flags & uring_creds_flag) ? req->creds : NULL;
	if (cred)
		fill_creds_of(&s->p.who.creds, cred);
	else
		fill_creds(&s->p.who.creds, task);
	if (req->flags & REQ_F_CQE_SKIP)
		uring_count(URC_SKIP); /* success posts nothing: report it now */
	else if (uring_pend(key, &s->p, &s->d))
		return 0;
	uring_report(&s->p, &s->d, req, task, 0, ORIGIN_URING_SUBMITTED);
	return 0;
}

/* A request's completion (result `res`): its record, then its pending state is released unless more
 * completions follow (multishot accept). `overflowed`: found by (ring, user_data) only, and another request
 * may have that user_data: the completion is the request's only if the request holds that result and, for
 * a path operation, has run. */
static __always_inline int uring_finish(struct io_kiocb *req, long res, __u32 cflags, int overflowed)
{
	__u64 key = (__u64)req;
	struct uring_pending *p = bpf_map_lookup_elem(&uring_pending, &key);
	struct uring_dst *d = NULL;
	struct uring_ud ud;
	__u64 *owner;

	if (!p) {
		uring_count(URC_MISSED);
		return 0;
	}
	if (overflowed && (KREAD(req, cqe.res) != res ||
			   (uring_is_file_op(p->opcode) && (KREAD(req, flags) & uring_cleanup_flag)))) {
		uring_count(URC_FOREIGN);
		return 0;
	}
	if (p->opcode == IORING_OP_RENAMEAT || p->opcode == IORING_OP_LINKAT)
		d = bpf_map_lookup_elem(&uring_dst, &key);
	/* the submitter's task: its descriptors and cwd (a worker shares them; a kworker posting a late
	 * completion would not) */
	uring_report(p, d, req, KREAD(KREAD(req, tctx), task), res, ORIGIN_URING);
	uring_count(URC_COMPLETED);
	if (cflags & IORING_CQE_F_MORE)
		return 0;
	ud.ctx = p->ctx;
	ud.user_data = p->user_data;
	owner = bpf_map_lookup_elem(&uring_by_ud, &ud);
	if (owner && *owner == key)
		bpf_map_delete_elem(&uring_by_ud, &ud);
	if (d)
		bpf_map_delete_elem(&uring_dst, &key);
	bpf_map_delete_elem(&uring_pending, &key);
	return 0;
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(uring_complete, struct io_ring_ctx *ring, void *req, struct io_uring_cqe *cqe)
{
	struct io_kiocb *r = req;
	__u32 opcode = KREAD(r, opcode);

	if (opcode >= 64 || !((URING_OPS >> opcode) & 1))
		return 0;
	return uring_finish(r, cqe->res, cqe->flags, 0);
}

SEC("tp_btf/io_uring_cqe_overflow")
int BPF_PROG(uring_overflow, void *ring, unsigned long long user_data, s32 res, u32 cflags, void *ocqe)
{
	struct uring_ud ud = { .ctx = (__u64)ring, .user_data = user_data };
	__u64 *req = bpf_map_lookup_elem(&uring_by_ud, &ud);

	if (!req)
		return 0;
	uring_count(URC_OVERFLOWED);
	return uring_finish((struct io_kiocb *)*req, res, cflags, 1);
}

/* ---- io_uring_setup: args[0] SQ entries, args[1] CQ entries, args[2] setup flags; retval the ring's fd. */
SEC("tp_btf/io_uring_create")
int BPF_PROG(uring_setup, int fd, void *ring, u32 sq_entries, u32 cq_entries, u32 flags)
{
	struct act_pending p = {};
	struct kact_scratch *s;

	if (act_is_agent(bpf_get_current_pid_tgid()))
		return 0;
	act_count(KOP_URING_SETUP, ACT_SEEN);
	p.op = KOP_URING_SETUP;
	p.origin = ORIGIN_SYSCALL;
	p.args[0] = sq_entries;
	p.args[1] = cq_entries;
	p.args[2] = flags;
	s = kact_begin(&p, fd);
	if (s)
		kact_emit(s);
	return 0;
}
