/* A 32-bit x86 program (built with `gcc -m32 -static`) that performs one operation through the ia32
 * syscall ABI: `driver32 OP ARGS...`. Calls go through glibc where its i386 build uses the syscall meant
 * (open -> openat, mmap -> mmap2, socket calls -> the direct syscalls), through syscall(SYS_x) otherwise;
 * SYS_x are the i386 numbers of this build's headers, independent of Rampart's table. Exits 0 on success,
 * prints the failing call and exits 1 otherwise. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/net.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452 /* newer than some i386 headers; the same number on every architecture */
#endif

static int check(long rc, const char *what)
{
	if (rc < 0) {
		perror(what);
		exit(1);
	}
	return (int)rc;
}

static double cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static struct sockaddr_in addr_of(const char *ip, const char *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(port)) };

	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", ip);
		exit(2);
	}
	return a;
}

/* socketcall(call, args): the i386 multiplexer every socket call went through before Linux 4.3 */
static long socketcall(int call, unsigned long *args)
{
	return syscall(SYS_socketcall, call, args);
}

static int tcp_socket(void)
{
	return check(socket(AF_INET, SOCK_STREAM, 0), "socket");
}

/* connect: the direct syscall, or socketcall(SYS_CONNECT); the outcome (refused, unreachable) does not
 * matter: the call was made */
static int do_connect(int via_socketcall, const char *ip, const char *port)
{
	struct sockaddr_in a = addr_of(ip, port);
	int fd = tcp_socket();
	unsigned long args[3] = { fd, (unsigned long)&a, sizeof(a) };

	if (via_socketcall)
		socketcall(SYS_CONNECT, args);
	else
		syscall(SYS_connect, fd, &a, sizeof(a));
	return 0;
}

static int do_bind(int via_socketcall, const char *ip, const char *port)
{
	struct sockaddr_in a = addr_of(ip, port);
	int fd = tcp_socket();
	unsigned long args[3] = { fd, (unsigned long)&a, sizeof(a) };

	check(via_socketcall ? socketcall(SYS_BIND, args) : syscall(SYS_bind, fd, &a, sizeof(a)), "bind");
	return 0;
}

/* listens on ip:port, a child connects, the parent accepts with accept4 or socketcall(SYS_ACCEPT) */
static int do_accept(int via_socketcall, const char *ip, const char *port)
{
	struct sockaddr_in a = addr_of(ip, port), peer;
	socklen_t len = sizeof(peer);
	int fd = tcp_socket(), one = 1, status;
	unsigned long args[3] = { fd, (unsigned long)&peer, (unsigned long)&len };
	pid_t child;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	check(bind(fd, (void *)&a, sizeof(a)), "bind");
	check(listen(fd, 1), "listen");
	child = check(fork(), "fork");
	if (child == 0) {
		int c = tcp_socket();
		_exit(connect(c, (void *)&a, sizeof(a)) == 0 ? 0 : 1);
	}
	check(via_socketcall ? socketcall(SYS_ACCEPT, args) : syscall(SYS_accept4, fd, &peer, &len, 0), "accept");
	waitpid(child, &status, 0);
	return 0;
}

static int do_read(const char *path)
{
	char buf[64];
	int fd = check(open(path, O_RDONLY), "open");

	check(read(fd, buf, sizeof(buf)), "read");
	return 0;
}

int main(int argc, char **argv)
{
	const char *op = argc > 1 ? argv[1] : "";
	const char *p = argc > 2 ? argv[2] : "";
	const char *q = argc > 3 ? argv[3] : "";

	if (!strcmp(op, "sleep"))
		return sleep(atoi(p)) != 0;
	/* loops for the cost measurements: print the thread CPU time per iteration in ns */
	if (!strcmp(op, "loop-getppid")) {
		long n = atol(p);
		double t = cpu_ns();
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
		printf("%.1f\n", (cpu_ns() - t) / n);
		return 0;
	}
	if (!strcmp(op, "loop-open")) {
		long n = atol(q);
		double t = cpu_ns();
		for (long i = 0; i < n; i++)
			close(check(open(p, O_RDONLY), "open"));
		printf("%.1f\n", (cpu_ns() - t) / n);
		return 0;
	}

	/* files */
	if (!strcmp(op, "read"))
		return do_read(p);
	if (!strcmp(op, "openat"))
		return check(open(p, O_RDONLY), "openat") < 0;
	if (!strcmp(op, "open"))
		return check(syscall(SYS_open, p, O_RDONLY | O_LARGEFILE), "open") < 0;
	if (!strcmp(op, "creat"))
		return check(syscall(SYS_creat, p, 0600), "creat") < 0;
	if (!strcmp(op, "chmod"))
		return check(syscall(SYS_chmod, p, 0640), "chmod");
	if (!strcmp(op, "fchmodat2"))
		return check(syscall(SYS_fchmodat2, AT_FDCWD, p, 0604, 0), "fchmodat2");
	if (!strcmp(op, "chown16")) /* 16-bit ids: 0xffff is -1, "unchanged" */
		return check(syscall(SYS_chown, p, 0xffff, 0), "chown16");
	if (!strcmp(op, "chown32"))
		return check(syscall(SYS_chown32, p, 0, -1), "chown32");
	if (!strcmp(op, "mkdir"))
		return check(syscall(SYS_mkdir, p, 0750), "mkdir");
	if (!strcmp(op, "rmdir"))
		return check(syscall(SYS_rmdir, p), "rmdir");
	if (!strcmp(op, "unlink"))
		return check(syscall(SYS_unlink, p), "unlink");
	if (!strcmp(op, "rename"))
		return check(syscall(SYS_rename, p, q), "rename");
	if (!strcmp(op, "link"))
		return check(syscall(SYS_link, p, q), "link");
	if (!strcmp(op, "truncate64")) /* the 64-bit length in two registers */
		return check(syscall(SYS_truncate64, p, 5, 0), "truncate64");
	if (!strcmp(op, "ftruncate64"))
		return check(syscall(SYS_ftruncate64, check(open(p, O_WRONLY), "open"), 3, 0), "ftruncate64");
	if (!strcmp(op, "utimensat_time64"))
		return check(syscall(SYS_utimensat_time64, AT_FDCWD, p, NULL, 0), "utimensat_time64");
	if (!strcmp(op, "utime"))
		return check(syscall(SYS_utime, p, NULL), "utime");
	if (!strcmp(op, "setxattr"))
		return check(syscall(SYS_setxattr, p, "user.rampart", "1", 1, 0), "setxattr");
	if (!strcmp(op, "chdir"))
		return check(syscall(SYS_chdir, p), "chdir");

	/* kernel activity */
	if (!strcmp(op, "setuid16"))
		return check(syscall(SYS_setuid, atoi(p)), "setuid16");
	if (!strcmp(op, "setuid32"))
		return check(syscall(SYS_setuid32, atoi(p)), "setuid32");
	if (!strcmp(op, "setresgid32"))
		return check(syscall(SYS_setresgid32, -1, atoi(p), -1), "setresgid32");
	if (!strcmp(op, "setfsuid16")) /* the previous fsuid: no error code */
		return syscall(SYS_setfsuid, atoi(p)) < 0;
	if (!strcmp(op, "kill"))
		return check(syscall(SYS_kill, atoi(p), atoi(q)), "kill");
	if (!strcmp(op, "tgkill"))
		return check(syscall(SYS_tgkill, atoi(p), atoi(p), atoi(q)), "tgkill");
	if (!strcmp(op, "sigqueue")) { /* rt_sigqueueinfo(P, Q, info): queued like sigqueue(3) */
		siginfo_t info = { .si_signo = atoi(q), .si_code = SI_QUEUE };
		info.si_pid = getpid();
		info.si_uid = getuid();
		return check(syscall(SYS_rt_sigqueueinfo, atoi(p), atoi(q), &info), "rt_sigqueueinfo");
	}
	if (!strcmp(op, "pidfd-signal")) { /* pidfd_send_signal through a pidfd of P */
		int fd = check(syscall(SYS_pidfd_open, atoi(p), 0), "pidfd_open");
		return check(syscall(SYS_pidfd_send_signal, fd, atoi(q), NULL, 0), "pidfd_send_signal");
	}
	if (!strcmp(op, "newmount")) { /* fsopen/fsmount a tmpfs, move_mount it onto P, umount2 P */
		int fs = check(syscall(SYS_fsopen, "tmpfs", 0), "fsopen");
		check(syscall(SYS_fsconfig, fs, 6 /* FSCONFIG_CMD_CREATE */, NULL, NULL, 0), "fsconfig");
		int m = check(syscall(SYS_fsmount, fs, 0, 0), "fsmount");
		check(syscall(SYS_move_mount, m, "", AT_FDCWD, p, 4 /* MOVE_MOUNT_F_EMPTY_PATH */), "move_mount");
		return check(syscall(SYS_umount2, p, MNT_DETACH), "umount2");
	}
	if (!strcmp(op, "open-tree")) /* a detached clone of the tree at P */
		return check(syscall(SYS_open_tree, AT_FDCWD, p, 1 /* OPEN_TREE_CLONE */), "open_tree") < 0;
	if (!strcmp(op, "mmap2")) { /* glibc's i386 mmap is mmap2: the offset in pages */
		int fd = check(open(p, O_RDONLY), "open");
		return mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 4096) == MAP_FAILED;
	}
	if (!strcmp(op, "old_mmap")) { /* mmap (90): one pointer to six u32 */
		int fd = check(open(p, O_RDONLY), "open");
		uint32_t args[6] = { 0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, (uint32_t)fd, 0 };
		/* an address above 2 GiB is a negative long here: only -1 is an error */
		if (syscall(SYS_mmap, args) == -1) {
			perror("old_mmap");
			return 1;
		}
		return 0;
	}
	if (!strcmp(op, "mprotect")) {
		void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return check(syscall(SYS_mprotect, m, 4096, PROT_READ | PROT_EXEC), "mprotect");
	}
	if (!strcmp(op, "memfd_create"))
		return check(syscall(SYS_memfd_create, p, 0), "memfd_create") < 0;
	if (!strcmp(op, "prctl"))
		return check(syscall(SYS_prctl, PR_SET_NAME, p, 0, 0, 0), "prctl");
	if (!strcmp(op, "mount")) /* tmpfs on P, then umount (the one-argument oldumount) */
		return check(syscall(SYS_mount, "rampart-ia32", p, "tmpfs", 0, NULL), "mount") ||
		       check(syscall(SYS_umount, p), "umount");
	if (!strcmp(op, "unshare"))
		return check(syscall(SYS_unshare, CLONE_NEWUTS), "unshare");
	if (!strcmp(op, "setrlimit")) { /* the 32-bit setrlimit (core limit 0), then prlimit64 (the same) */
		struct { uint32_t cur, max; } r32 = { 0, 0xffffffffu }; /* max: COMPAT_RLIM_INFINITY */
		struct { uint64_t cur, max; } r64 = { 0, UINT64_MAX };
		return check(syscall(SYS_setrlimit, RLIMIT_CORE, &r32), "setrlimit") ||
		       check(syscall(SYS_prlimit64, 0, RLIMIT_CORE, &r64, NULL), "prlimit64");
	}
	if (!strcmp(op, "bpf")) {
		union bpf_attr attr;
		memset(&attr, 0, sizeof(attr));
		attr.map_type = BPF_MAP_TYPE_ARRAY;
		attr.key_size = 4;
		attr.value_size = 4;
		attr.max_entries = 1;
		strcpy(attr.map_name, "rampart_ia32");
		return check(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr)), "bpf") < 0;
	}
	if (!strcmp(op, "splice")) { /* P's first bytes into a pipe */
		int fd = check(open(p, O_RDONLY), "open"), pipefd[2];
		check(pipe(pipefd), "pipe");
		return check(syscall(SYS_splice, fd, NULL, pipefd[1], NULL, 16, 0), "splice") < 0;
	}

	/* network */
	if (!strcmp(op, "connect") || !strcmp(op, "socketcall_connect"))
		return do_connect(op[0] == 's', p, q);
	if (!strcmp(op, "bind") || !strcmp(op, "socketcall_bind"))
		return do_bind(op[0] == 's', p, q);
	if (!strcmp(op, "accept4") || !strcmp(op, "socketcall_accept"))
		return do_accept(op[0] == 's', p, q);

	fprintf(stderr, "unknown operation %s\n", op);
	return 2;
}
