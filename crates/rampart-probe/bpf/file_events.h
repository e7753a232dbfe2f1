/* Record layout of the file activity family (record kinds RECORD_FILE_BASE..RECORD_FILE_LAST):
 * kind = RECORD_FILE_BASE + FILE_EV_*.
 * Included at the end of events.h; decoded by src/file/decode.rs. */
#pragma once

/* The kinds (RECORD_FILE_BASE..RECORD_FILE_LAST) are in events.h. */

/* File event types (also the counter index and the filter slot of the source side). */
enum file_ev {
	FILE_EV_OPEN = 0,
	FILE_EV_CHMOD = 1,
	FILE_EV_CHOWN = 2,
	FILE_EV_MKDIR = 3,
	FILE_EV_RMDIR = 4,
	FILE_EV_UNLINK = 5,
	FILE_EV_RENAME = 6,
	FILE_EV_LINK = 7,
	FILE_EV_UTIMES = 8,
	FILE_EV_SETXATTR = 9,
	FILE_EV_REMOVEXATTR = 10,
	FILE_EV_TRUNCATE = 11,
	FILE_EV_CHDIR = 12,
	FILE_EV_COUNT = 13,
};

enum file_limit {
	XATTR_NAME_MAX_LEN = 256,
};

/* file_event.flags */
enum file_flag {
	FILE_SRC_RESOLVED = 1,  /* the source path comes from the file's own dentries; `src` is filled */
	FILE_SRC_TRUNCATED = 2, /* the source path kept only its tail */
	FILE_SRC_UPPER = 4,     /* the source is in an overlayfs upper layer */
	FILE_DST_TRUNCATED = 8,
	FILE_SRC_INODE = 16, /* `src` is filled from the inode the call touched (the path is still the text's) */
	FILE_DST_INODE = 32, /* `dst` likewise (rename, link: the same inode) */
};

/* Followed by: source path, destination path (absolute; when not FILE_SRC_RESOLVED, the kernel-resolved
 * base directory joined with the user's string, to be normalised), the user's path and destination path
 * arguments as given, and the xattr name; no NULs, lengths below. */
struct file_event {
	struct record_header hdr;
	__u32 pid;
	__u32 tid;
	__s64 retval;
	struct cred_info creds;
	__u32 flags;
	__u32 sys_flags; /* open/unlinkat/renameat2/linkat/... flags argument */
	__u32 sys_mode;  /* open/creat/mkdir/chmod mode argument */
	__u32 sys_uid;
	__u32 sys_gid;
	__s32 sys_dirfd;
	struct file_info src;
	struct file_info dst;
	__u16 src_path_len;
	__u16 dst_path_len;
	__u16 sys_path_len;
	__u16 sys_dst_path_len;
	__u16 xattr_name_len;
	__u16 _pad0;
	__u32 origin; /* ORIGIN_* */
};
