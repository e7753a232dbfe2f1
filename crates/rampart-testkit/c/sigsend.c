/* sigsend: sends a signal without kill(2)/tkill(2)/tgkill(2). Built at test time by rampart_testkit::cc.
 *
 *   sigsend pidfd PID SIG         pidfd_open + pidfd_send_signal
 *   sigsend procfd PID SIG        pidfd_send_signal on a /proc/PID directory descriptor
 *   sigsend sigqueue PID SIG      rt_sigqueueinfo
 *   sigsend tgsigqueue PID SIG    rt_tgsigqueueinfo to the process's main thread
 *
 * Exits non-zero when the call fails. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "sigsend: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		errno = EINVAL;
		die("usage");
	}
	int pid = atoi(argv[2]), sig = atoi(argv[3]);
	siginfo_t info;
	memset(&info, 0, sizeof info);
	info.si_signo = sig;
	info.si_code = SI_QUEUE; /* the kernel refuses other codes from another process */
	info.si_pid = getpid();
	info.si_uid = getuid();
	long r;
	if (!strcmp(argv[1], "pidfd") || !strcmp(argv[1], "procfd")) {
		char dir[64];
		snprintf(dir, sizeof dir, "/proc/%d", pid);
		int fd = argv[1][0] == 'p' && argv[1][1] == 'i' ? (int)syscall(SYS_pidfd_open, pid, 0)
							      : open(dir, O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			die("pidfd");
		r = syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
	} else if (!strcmp(argv[1], "sigqueue")) {
		r = syscall(SYS_rt_sigqueueinfo, pid, sig, &info);
	} else if (!strcmp(argv[1], "tgsigqueue")) {
		r = syscall(SYS_rt_tgsigqueueinfo, pid, pid, sig, &info);
	} else {
		errno = EINVAL;
		die("usage");
	}
	if (r)
		die(argv[1]);
	return 0;
}
