/* newmount: mounts with the new mount API (fsopen/fsconfig/fsmount, open_tree, move_mount) instead of
 * mount(2). Built at test time by rampart_testkit::cc (static, so it runs in a minimal container too).
 *
 *   newmount fsmount TYPE SOURCE TARGET [KEY[=VALUE]...]   fsopen+fsconfig+fsmount, move_mount onto TARGET, umount
 *   newmount detached TYPE SOURCE [KEY[=VALUE]...]         fsmount only, then read its root through the descriptor
 *   newmount clone SRC TARGET                              open_tree(OPEN_TREE_CLONE) of SRC, move_mount onto TARGET, umount
 *   newmount at TYPE SOURCE DIR NAME                        move_mount onto NAME relative to a descriptor of DIR
 *
 * SOURCE "-" sets none. Exits non-zero when a call fails. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SYS_open_tree_ 428
#define SYS_move_mount_ 429
#define SYS_fsopen_ 430
#define SYS_fsconfig_ 431
#define SYS_fsmount_ 432
#define FSCONFIG_SET_FLAG_ 0
#define FSCONFIG_SET_STRING_ 1
#define FSCONFIG_CMD_CREATE_ 6
#define MOVE_MOUNT_F_EMPTY_PATH_ 4
#define OPEN_TREE_CLONE_ 1

static void die(const char *what)
{
	fprintf(stderr, "newmount: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int make_mount(const char *type, const char *source, char **opts, int nopts)
{
	int fs = syscall(SYS_fsopen_, type, 0);
	if (fs < 0)
		die("fsopen");
	if (strcmp(source, "-") && syscall(SYS_fsconfig_, fs, FSCONFIG_SET_STRING_, "source", source, 0))
		die("fsconfig source");
	for (int i = 0; i < nopts; i++) {
		char *eq = strchr(opts[i], '=');
		int r;
		if (eq) {
			*eq = 0;
			r = syscall(SYS_fsconfig_, fs, FSCONFIG_SET_STRING_, opts[i], eq + 1, 0);
		} else {
			r = syscall(SYS_fsconfig_, fs, FSCONFIG_SET_FLAG_, opts[i], NULL, 0);
		}
		if (r)
			die(opts[i]);
	}
	if (syscall(SYS_fsconfig_, fs, FSCONFIG_CMD_CREATE_, NULL, NULL, 0))
		die("fsconfig create");
	int m = syscall(SYS_fsmount_, fs, 0, 0);
	if (m < 0)
		die("fsmount");
	close(fs);
	return m;
}

static void attach(int m, int dfd, const char *target)
{
	if (syscall(SYS_move_mount_, m, "", dfd, target, MOVE_MOUNT_F_EMPTY_PATH_))
		die("move_mount");
	close(m); /* an open descriptor of the mount would keep it busy */
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "fsmount")) {
		attach(make_mount(argv[2], argv[3], argv + 5, argc - 5), AT_FDCWD, argv[4]);
		if (umount2(argv[4], 0))
			die("umount");
	} else if (argc >= 4 && !strcmp(argv[1], "detached")) {
		int m = make_mount(argv[2], argv[3], argv + 4, argc - 4);
		DIR *d = fdopendir(openat(m, ".", O_RDONLY | O_DIRECTORY));
		if (!d)
			die("reading the detached mount");
		while (readdir(d))
			;
		closedir(d);
	} else if (argc == 4 && !strcmp(argv[1], "clone")) {
		int t = syscall(SYS_open_tree_, AT_FDCWD, argv[2], OPEN_TREE_CLONE_ | O_CLOEXEC);
		if (t < 0)
			die("open_tree");
		attach(t, AT_FDCWD, argv[3]);
		if (umount2(argv[3], 0))
			die("umount");
	} else if (argc == 6 && !strcmp(argv[1], "at")) {
		int dir = open(argv[4], O_RDONLY | O_DIRECTORY);
		if (dir < 0)
			die("open dir");
		attach(make_mount(argv[2], argv[3], NULL, 0), dir, argv[5]);
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", argv[4], argv[5]);
		if (umount2(path, 0))
			die("umount");
	} else {
		errno = EINVAL;
		die("usage");
	}
	return 0;
}
