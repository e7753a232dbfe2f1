/* A 64-bit x86 program (built with `gcc -static -no-pie`: its data lies below 4 GiB, where 32-bit pointers
 * reach) that makes ia32 syscalls with `int $0x80`, the trick that slips past per-syscall tracepoints:
 * `int80 OP ARGS...`. `native-read PATH` and `native-connect IP PORT` do the same with ordinary 64-bit syscalls.
 * Exits 0 on success, 1 when a call fails (a refused connection is a success: the call was made). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ia32 syscall numbers (asm/unistd_32.h) */
#define IA32_READ 3
#define IA32_OPEN 5
#define IA32_CLOSE 6
#define IA32_SETUID32 213

static char path[4096];
static char buf[64];

/* the upper halves of the argument registers are set on purpose: the kernel uses the low 32 bits only */
static long int80(long nr, long a, long b, long c)
{
	long ret;
	const long junk = 0x5a5a5a5a00000000l;

	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a | junk), "c"(b | junk), "d"(c | junk) : "memory");
	return ret;
}

int main(int argc, char **argv)
{
	const char *op = argc > 1 ? argv[1] : "";
	long fd;

	if (argc > 2)
		strncpy(path, argv[2], sizeof(path) - 1);
	if (!strcmp(op, "read")) {
		fd = int80(IA32_OPEN, (long)path, O_RDONLY, 0);
		if (fd < 0 || int80(IA32_READ, fd, (long)buf, sizeof(buf)) < 0)
			return 1;
		return int80(IA32_CLOSE, fd, 0, 0) < 0;
	}
	if (!strcmp(op, "setuid32"))
		return int80(IA32_SETUID32, atoi(path), 0, 0) < 0;
	if (!strcmp(op, "native-read")) {
		int f = open(path, O_RDONLY);
		return f < 0 || read(f, buf, sizeof(buf)) < 0;
	}
	if (!strcmp(op, "native-connect") && argc > 3) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0 || inet_pton(AF_INET, argv[2], &a.sin_addr) != 1)
			return 1;
		connect(s, (struct sockaddr *)&a, sizeof(a));
		return 0;
	}
	fprintf(stderr, "unknown operation %s\n", op);
	return 2;
}
