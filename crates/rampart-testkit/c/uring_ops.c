/* uring_ops: performs one file or network operation through io_uring, the way an attacker who wants to stay
 * out of syscall-based monitoring would (liburing). Built at test time by rampart_testkit::cc.
 *
 *   uring_ops [OPTIONS] open PATH          open read-only and read up to 4 KiB (prints "read N")
 *   uring_ops [OPTIONS] openat2 PATH       the same with IORING_OP_OPENAT2
 *   uring_ops [OPTIONS] create PATH        open O_CREAT|O_WRONLY|O_TRUNC and write "x"
 *   uring_ops [OPTIONS] unlink PATH | rmdir PATH | mkdir PATH
 *   uring_ops [OPTIONS] rename OLD NEW | link OLD NEW
 *   uring_ops [OPTIONS] connect IPV4 PORT | bind IPV4 PORT | accept PORT
 *   uring_ops overflow-dup FIFO            see overflow_dup() (prints "opened FD")
 *
 * OPTIONS: --skip (IOSQE_CQE_SKIP_SUCCESS), --fixed (open into fixed slot 0), --fixed-alloc (into a slot the
 * kernel picks), --sqpoll (an SQPOLL ring), --async (IOSQE_ASYNC: an io-wq worker runs it), --link (after a
 * linked NOP), --overflow (the completion queue is full when the operation completes), --personality UID
 * (register the current credentials, drop to UID, submit with the registered ones), --dup-user-data (an
 * earlier request with the same user_data is still in flight). Exits non-zero when the operation fails. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef IORING_OP_BIND
#define IORING_OP_BIND 56
#endif

#define OP_UD 0x5a5a
#define RING_ENTRIES 8

static struct io_uring ring;
static unsigned sqe_flags;
static int fixed, fixed_alloc, sqpoll, async_, link_, overflow, dup_ud;
static int personality = -1;
static int drop_uid = -1;

static void die(const char *what, int err)
{
	fprintf(stderr, "uring_ops: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static struct io_uring_sqe *sqe_get(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (!sqe)
		die("no sqe", EBUSY);
	return sqe;
}

/* Fills the completion queue with NOP completions nobody reaps. */
static void fill_cq(void)
{
	for (int i = 0; i < 2 * RING_ENTRIES; i++) {
		struct io_uring_sqe *sqe = sqe_get();
		io_uring_prep_nop(sqe);
		sqe->user_data = 1;
		io_uring_submit(&ring);
	}
}

static char fifo[256];

/* An open that stays in flight with user_data OP_UD: a FIFO with no writer, opened by an io-wq worker. */
static void submit_fifo_open(const char *path)
{
	snprintf(fifo, sizeof fifo, "%s", path);
	unlink(fifo);
	if (mkfifo(fifo, 0600))
		die("mkfifo", errno);
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_openat(sqe, AT_FDCWD, fifo, O_RDONLY, 0);
	sqe->flags |= IOSQE_ASYNC;
	sqe->user_data = OP_UD;
	io_uring_submit(&ring);
	usleep(50 * 1000); /* the worker is blocked in open */
}

/* Lets the FIFO open complete. */
static void release_fifo(void)
{
	int w = open(fifo, O_WRONLY | O_NONBLOCK);
	if (w < 0)
		die("opening the FIFO for writing", errno);
	usleep(50 * 1000);
	close(w);
	unlink(fifo);
}

/* The attack on overflow resolution: a read with the same user_data as a pending open completes (into the
 * overflow list) before the open has run, then the open completes (into the overflow list too). */
static void overflow_dup(const char *path)
{
	int p[2];
	static char buf[8];
	fill_cq();
	submit_fifo_open(path);
	if (pipe(p))
		die("pipe", errno);
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_read(sqe, p[0], buf, sizeof buf, 0);
	sqe->user_data = OP_UD;
	io_uring_submit(&ring);
	if (write(p[1], "x", 1) != 1)
		die("write", errno);
	usleep(50 * 1000);
	release_fifo();
	/* the NOPs, then both overflowed completions */
	int seen = 0, opened = -1;
	struct io_uring_cqe *cqe;
	while (seen < 2 && io_uring_wait_cqe(&ring, &cqe) == 0) {
		if (cqe->user_data == OP_UD) {
			seen++;
			if (cqe->res != 1)
				opened = cqe->res;
		}
		io_uring_cqe_seen(&ring, cqe);
	}
	printf("opened %d\n", opened);
}

/* Adds the operation's common flags and submits it (after a linked NOP with --link). */
static void submit_op(struct io_uring_sqe *sqe)
{
	sqe->flags |= sqe_flags;
	sqe->user_data = OP_UD;
	if (personality >= 0)
		sqe->personality = personality;
	int n = io_uring_submit(&ring);
	if (n < 0)
		die("submit", n);
}

static struct io_uring_sqe *op_sqe(void)
{
	if (link_) {
		struct io_uring_sqe *nop = sqe_get();
		io_uring_prep_nop(nop);
		nop->flags |= IOSQE_IO_LINK;
		nop->user_data = 2;
	}
	return sqe_get();
}

/* The operation's result: its completion, or 0 when success posts none (--skip). */
static int wait_op(void)
{
	struct io_uring_cqe *cqe;
	if (sqe_flags & IOSQE_CQE_SKIP_SUCCESS) {
		/* a failure still posts a completion */
		struct __kernel_timespec ts = { .tv_nsec = 200 * 1000 * 1000 };
		while (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) == 0) {
			int res = cqe->res;
			unsigned long long ud = cqe->user_data;
			io_uring_cqe_seen(&ring, cqe);
			if (ud == OP_UD)
				return res;
		}
		return 0;
	}
	for (;;) {
		int r = io_uring_wait_cqe(&ring, &cqe);
		if (r < 0)
			die("wait", r);
		int res = cqe->res;
		unsigned long long ud = cqe->user_data;
		io_uring_cqe_seen(&ring, cqe);
		if (ud == OP_UD)
			return res;
	}
}

static void drop_privileges(void)
{
	if (personality >= 0 && (setresgid(drop_uid, drop_uid, drop_uid) || setresuid(drop_uid, drop_uid, drop_uid)))
		die("dropping privileges", errno);
}

static int do_open(const char *path, int op2, int flags, int mode)
{
	struct io_uring_sqe *sqe = op_sqe();
	unsigned slot = fixed_alloc ? IORING_FILE_INDEX_ALLOC - 1 : 0;
	struct open_how how = { .flags = flags, .mode = mode };
	if (op2) {
		if (fixed || fixed_alloc)
			io_uring_prep_openat2_direct(sqe, AT_FDCWD, path, &how, slot);
		else
			io_uring_prep_openat2(sqe, AT_FDCWD, path, &how);
	} else {
		if (fixed || fixed_alloc)
			io_uring_prep_openat_direct(sqe, AT_FDCWD, path, flags, mode, slot);
		else
			io_uring_prep_openat(sqe, AT_FDCWD, path, flags, mode);
	}
	if (async_)
		sqe->flags |= IOSQE_ASYNC;
	submit_op(sqe);
	int res = wait_op(); /* with --overflow: after the NOPs, from the flushed overflow list */
	if (res < 0)
		die("open", res);
	if (sqe_flags & IOSQE_CQE_SKIP_SUCCESS && !(fixed || fixed_alloc))
		return -1; /* the descriptor is not known */
	return fixed ? 0 : res;
}

static void read_file(int fd_or_slot)
{
	static char buf[4096];
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_read(sqe, fd_or_slot, buf, sizeof buf, 0);
	if (fixed || fixed_alloc)
		sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = 3;
	io_uring_submit(&ring);
	struct io_uring_cqe *cqe;
	for (;;) {
		if (io_uring_wait_cqe(&ring, &cqe) < 0)
			die("wait read", EIO);
		int res = cqe->res;
		unsigned long long ud = cqe->user_data;
		io_uring_cqe_seen(&ring, cqe);
		if (ud == 3) {
			if (res < 0)
				die("read", res);
			printf("read %d\n", res);
			return;
		}
	}
}

static void path_op(int op, const char *a, const char *b)
{
	struct io_uring_sqe *sqe = op_sqe();
	switch (op) {
	case 'u': io_uring_prep_unlinkat(sqe, AT_FDCWD, a, 0); break;
	case 'r': io_uring_prep_unlinkat(sqe, AT_FDCWD, a, AT_REMOVEDIR); break;
	case 'm': io_uring_prep_mkdirat(sqe, AT_FDCWD, a, 0750); break;
	case 'n': io_uring_prep_renameat(sqe, AT_FDCWD, a, AT_FDCWD, b, 0); break;
	case 'l': io_uring_prep_linkat(sqe, AT_FDCWD, a, AT_FDCWD, b, 0); break;
	}
	if (async_)
		sqe->flags |= IOSQE_ASYNC;
	submit_op(sqe);
	int res = wait_op();
	if (res < 0)
		die("path operation", res);
}

static struct sockaddr_in addr_of(const char *ip, const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(port)) };
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
		die("address", EINVAL);
	return sa;
}

static void net_op(const char *op, const char *ip, const char *port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = addr_of(ip, port);
	struct io_uring_sqe *sqe;
	int res;
	if (s < 0)
		die("socket", errno);
	if (fixed && io_uring_register_files(&ring, &s, 1))
		die("register", EINVAL);
	if (!strcmp(op, "connect")) {
		sqe = op_sqe();
		io_uring_prep_connect(sqe, fixed ? 0 : s, (struct sockaddr *)&sa, sizeof sa);
	} else {
		sqe = op_sqe();
		io_uring_prep_rw(IORING_OP_BIND, sqe, fixed ? 0 : s, &sa, 0, sizeof sa);
	}
	if (fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
	if (async_)
		sqe->flags |= IOSQE_ASYNC;
	submit_op(sqe);
	/* the buffer the request pointed to changes at once: the kernel copied it at submission */
	memset(&sa, 0, sizeof sa);
	res = wait_op();
	printf("%s %d\n", op, res);
	/* a refused connect is still a connect */
	if (res < 0 && res != -ECONNREFUSED)
		die(op, res);
}

static void accept_op(const char *port)
{
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in sa = addr_of("127.0.0.1", port);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) || bind(l, (void *)&sa, sizeof sa) ||
	    listen(l, 4))
		die("listen", errno);
	if (fork() == 0) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		usleep(100 * 1000);
		connect(c, (void *)&sa, sizeof sa);
		sleep(1);
		_exit(0);
	}
	struct io_uring_sqe *sqe = op_sqe();
	if (fixed || fixed_alloc)
		io_uring_prep_accept_direct(sqe, l, NULL, NULL, 0, fixed_alloc ? IORING_FILE_INDEX_ALLOC - 1 : 0);
	else
		io_uring_prep_accept(sqe, l, NULL, NULL, 0);
	submit_op(sqe);
	int res = wait_op();
	if (res < 0)
		die("accept", res);
	printf("accept %d\n", res);
	wait(NULL);
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { 0 };
	int i = 1;
	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--skip"))
			sqe_flags |= IOSQE_CQE_SKIP_SUCCESS;
		else if (!strcmp(argv[i], "--fixed"))
			fixed = 1;
		else if (!strcmp(argv[i], "--fixed-alloc"))
			fixed_alloc = 1;
		else if (!strcmp(argv[i], "--sqpoll"))
			sqpoll = 1;
		else if (!strcmp(argv[i], "--async"))
			async_ = 1;
		else if (!strcmp(argv[i], "--link"))
			link_ = 1;
		else if (!strcmp(argv[i], "--overflow"))
			overflow = 1;
		else if (!strcmp(argv[i], "--dup-user-data"))
			dup_ud = 1;
		else if (!strcmp(argv[i], "--personality") && i + 1 < argc)
			drop_uid = atoi(argv[++i]);
		else
			die(argv[i], EINVAL);
	}
	if (i >= argc)
		die("no operation", EINVAL);
	if (sqpoll) {
		p.flags |= IORING_SETUP_SQPOLL;
		p.sq_thread_idle = 2000;
	}
	int r = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
	if (r)
		die("io_uring_queue_init", r);
	if ((fixed || fixed_alloc) && strcmp(argv[i], "connect") && strcmp(argv[i], "bind")) {
		int fds[4] = { -1, -1, -1, -1 };
		if ((r = io_uring_register_files(&ring, fds, 4)))
			die("register files", r);
	}
	if (drop_uid >= 0) {
		personality = io_uring_register_personality(&ring);
		if (personality < 0)
			die("register personality", personality);
		drop_privileges();
	}
	if (dup_ud)
		submit_fifo_open("/tmp/uring_ops.blocker.fifo");
	if (overflow)
		fill_cq();

	const char *op = argv[i], *a = i + 1 < argc ? argv[i + 1] : NULL, *b = i + 2 < argc ? argv[i + 2] : NULL;
	if (!a)
		die("missing argument", EINVAL);
	if (!strcmp(op, "open") || !strcmp(op, "openat2")) {
		int fd = do_open(a, op[4] == '2', O_RDONLY, 0);
		if (overflow) {
			/* drain everything: the NOPs, then the flushed overflow */
			struct io_uring_cqe *cqe;
			while (io_uring_peek_cqe(&ring, &cqe) == 0)
				io_uring_cqe_seen(&ring, cqe);
		}
		if (fd >= 0)
			read_file(fd);
	} else if (!strcmp(op, "create")) {
		do_open(a, 0, O_CREAT | O_WRONLY | O_TRUNC, 0640);
	} else if (!strcmp(op, "unlink")) {
		path_op('u', a, NULL);
	} else if (!strcmp(op, "rmdir")) {
		path_op('r', a, NULL);
	} else if (!strcmp(op, "mkdir")) {
		path_op('m', a, NULL);
	} else if ((!strcmp(op, "rename") || !strcmp(op, "link")) && b) {
		path_op(op[0] == 'r' ? 'n' : 'l', a, b);
	} else if ((!strcmp(op, "connect") || !strcmp(op, "bind")) && b) {
		net_op(op, a, b);
	} else if (!strcmp(op, "accept")) {
		accept_op(a);
	} else if (!strcmp(op, "overflow-dup")) {
		overflow_dup(a);
	} else {
		die(op, EINVAL);
	}
	if (dup_ud)
		release_fifo();
	io_uring_queue_exit(&ring);
	return 0;
}
