//! Named constants (`O_CREAT`, `SIGKILL`, `CAP_SYS_ADMIN`, …), following Datadog's SECL constant groups.
//! All are integers; capability constants are bit values (`1 << n`) because they are tested against
//! capability masks (`process.cap_permitted & CAP_SYS_ADMIN > 0`).

use std::collections::HashMap;
use std::sync::OnceLock;

const OPEN_FLAGS: &[(&str, i64)] = &[
    ("O_RDONLY", 0),
    ("O_WRONLY", 0o1),
    ("O_RDWR", 0o2),
    ("O_ACCMODE", 0o3),
    ("O_CREAT", 0o100),
    ("O_EXCL", 0o200),
    ("O_NOCTTY", 0o400),
    ("O_TRUNC", 0o1000),
    ("O_APPEND", 0o2000),
    ("O_NONBLOCK", 0o4000),
    ("O_NDELAY", 0o4000),
    ("O_DSYNC", 0o10000),
    ("O_SYNC", 0o4010000),
    ("O_RSYNC", 0o4010000),
    ("FASYNC", 0o20000),
    ("O_DIRECT", 0o40000),
    ("O_LARGEFILE", 0o100000),
    ("O_DIRECTORY", 0o200000),
    ("O_NOFOLLOW", 0o400000),
    ("O_NOATIME", 0o1000000),
    ("O_CLOEXEC", 0o2000000),
    ("O_PATH", 0o10000000),
    ("O_TMPFILE", 0o20200000),
];

const FILE_MODES: &[(&str, i64)] = &[
    ("S_IFMT", 0o170000),
    ("S_IFSOCK", 0o140000),
    ("S_IFLNK", 0o120000),
    ("S_IFREG", 0o100000),
    ("S_IFBLK", 0o60000),
    ("S_IFDIR", 0o40000),
    ("S_IFCHR", 0o20000),
    ("S_IFIFO", 0o10000),
    ("S_ISUID", 0o4000),
    ("S_ISGID", 0o2000),
    ("S_ISVTX", 0o1000),
    ("S_IRWXU", 0o700),
    ("S_IRUSR", 0o400),
    ("S_IWUSR", 0o200),
    ("S_IXUSR", 0o100),
    ("S_IRWXG", 0o70),
    ("S_IRGRP", 0o40),
    ("S_IWGRP", 0o20),
    ("S_IXGRP", 0o10),
    ("S_IRWXO", 0o7),
    ("S_IROTH", 0o4),
    ("S_IWOTH", 0o2),
    ("S_IXOTH", 0o1),
];

const SIGNALS: &[&str] = &[
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const PTRACE: &[(&str, i64)] = &[
    ("PTRACE_TRACEME", 0),
    ("PTRACE_PEEKTEXT", 1),
    ("PTRACE_PEEKDATA", 2),
    ("PTRACE_PEEKUSR", 3),
    ("PTRACE_POKETEXT", 4),
    ("PTRACE_POKEDATA", 5),
    ("PTRACE_POKEUSR", 6),
    ("PTRACE_CONT", 7),
    ("PTRACE_KILL", 8),
    ("PTRACE_SINGLESTEP", 9),
    ("PTRACE_GETREGS", 12),
    ("PTRACE_SETREGS", 13),
    ("PTRACE_GETFPREGS", 14),
    ("PTRACE_SETFPREGS", 15),
    ("PTRACE_ATTACH", 16),
    ("PTRACE_DETACH", 17),
    ("PTRACE_SYSCALL", 24),
    ("PTRACE_SETOPTIONS", 0x4200),
    ("PTRACE_GETEVENTMSG", 0x4201),
    ("PTRACE_GETSIGINFO", 0x4202),
    ("PTRACE_SETSIGINFO", 0x4203),
    ("PTRACE_GETREGSET", 0x4204),
    ("PTRACE_SETREGSET", 0x4205),
    ("PTRACE_SEIZE", 0x4206),
    ("PTRACE_INTERRUPT", 0x4207),
    ("PTRACE_LISTEN", 0x4208),
];

const PROTECTION: &[(&str, i64)] = &[
    ("PROT_NONE", 0),
    ("PROT_READ", 1),
    ("PROT_WRITE", 2),
    ("PROT_EXEC", 4),
    ("PROT_GROWSDOWN", 0x01000000),
    ("PROT_GROWSUP", 0x02000000),
    ("VM_NONE", 0),
    ("VM_READ", 1),
    ("VM_WRITE", 2),
    ("VM_EXEC", 4),
    ("VM_SHARED", 8),
    ("VM_MAYREAD", 0x10),
    ("VM_MAYWRITE", 0x20),
    ("VM_MAYEXEC", 0x40),
    ("VM_MAYSHARE", 0x80),
    ("VM_GROWSDOWN", 0x100),
];

const MMAP_FLAGS: &[(&str, i64)] = &[
    ("MAP_SHARED", 0x1),
    ("MAP_PRIVATE", 0x2),
    ("MAP_SHARED_VALIDATE", 0x3),
    ("MAP_FIXED", 0x10),
    ("MAP_ANONYMOUS", 0x20),
    ("MAP_ANON", 0x20),
    ("MAP_GROWSDOWN", 0x100),
    ("MAP_DENYWRITE", 0x800),
    ("MAP_EXECUTABLE", 0x1000),
    ("MAP_LOCKED", 0x2000),
    ("MAP_NORESERVE", 0x4000),
    ("MAP_POPULATE", 0x8000),
    ("MAP_NONBLOCK", 0x10000),
    ("MAP_STACK", 0x20000),
    ("MAP_HUGETLB", 0x40000),
    ("MAP_SYNC", 0x80000),
    ("MAP_FIXED_NOREPLACE", 0x100000),
];

const ADDRESS_FAMILIES: &[(&str, i64)] = &[
    ("AF_UNSPEC", 0),
    ("AF_UNIX", 1),
    ("AF_LOCAL", 1),
    ("AF_INET", 2),
    ("AF_AX25", 3),
    ("AF_IPX", 4),
    ("AF_APPLETALK", 5),
    ("AF_NETROM", 6),
    ("AF_BRIDGE", 7),
    ("AF_X25", 9),
    ("AF_INET6", 10),
    ("AF_KEY", 15),
    ("AF_NETLINK", 16),
    ("AF_PACKET", 17),
    ("AF_CAN", 29),
    ("AF_BLUETOOTH", 31),
    ("AF_ALG", 38),
    ("AF_VSOCK", 40),
    ("AF_XDP", 44),
];

const PROTOCOLS: &[(&str, i64)] = &[
    ("IPPROTO_IP", 0),
    ("IPPROTO_ICMP", 1),
    ("IPPROTO_TCP", 6),
    ("IPPROTO_UDP", 17),
    ("IPPROTO_IPV6", 41),
    ("IPPROTO_ICMPV6", 58),
    ("IPPROTO_SCTP", 132),
    ("IPPROTO_RAW", 255),
    ("SOCK_STREAM", 1),
    ("SOCK_DGRAM", 2),
    ("SOCK_RAW", 3),
    ("SOCK_SEQPACKET", 5),
    ("INGRESS", 1),
    ("EGRESS", 2),
];

const DNS: &[(&str, i64)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("HINFO", 13),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
    ("NAPTR", 35),
    ("DS", 43),
    ("RRSIG", 46),
    ("DNSKEY", 48),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("AXFR", 252),
    ("ANY", 255),
    ("CLASS_INET", 1),
    ("CLASS_CSNET", 2),
    ("CLASS_CHAOS", 3),
    ("CLASS_HESIOD", 4),
    ("CLASS_NONE", 254),
    ("CLASS_ANY", 255),
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
];

const BPF_CMDS: &[&str] = &[
    "BPF_MAP_CREATE",
    "BPF_MAP_LOOKUP_ELEM",
    "BPF_MAP_UPDATE_ELEM",
    "BPF_MAP_DELETE_ELEM",
    "BPF_MAP_GET_NEXT_KEY",
    "BPF_PROG_LOAD",
    "BPF_OBJ_PIN",
    "BPF_OBJ_GET",
    "BPF_PROG_ATTACH",
    "BPF_PROG_DETACH",
    "BPF_PROG_TEST_RUN",
    "BPF_PROG_GET_NEXT_ID",
    "BPF_MAP_GET_NEXT_ID",
    "BPF_PROG_GET_FD_BY_ID",
    "BPF_MAP_GET_FD_BY_ID",
    "BPF_OBJ_GET_INFO_BY_FD",
    "BPF_PROG_QUERY",
    "BPF_RAW_TRACEPOINT_OPEN",
    "BPF_BTF_LOAD",
    "BPF_BTF_GET_FD_BY_ID",
    "BPF_TASK_FD_QUERY",
    "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
    "BPF_MAP_FREEZE",
    "BPF_BTF_GET_NEXT_ID",
    "BPF_MAP_LOOKUP_BATCH",
    "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
    "BPF_MAP_UPDATE_BATCH",
    "BPF_MAP_DELETE_BATCH",
    "BPF_LINK_CREATE",
    "BPF_LINK_UPDATE",
    "BPF_LINK_GET_FD_BY_ID",
    "BPF_LINK_GET_NEXT_ID",
    "BPF_ENABLE_STATS",
    "BPF_ITER_CREATE",
    "BPF_LINK_DETACH",
    "BPF_PROG_BIND_MAP",
];

const BPF_MAP_TYPES: &[&str] = &[
    "BPF_MAP_TYPE_UNSPEC",
    "BPF_MAP_TYPE_HASH",
    "BPF_MAP_TYPE_ARRAY",
    "BPF_MAP_TYPE_PROG_ARRAY",
    "BPF_MAP_TYPE_PERF_EVENT_ARRAY",
    "BPF_MAP_TYPE_PERCPU_HASH",
    "BPF_MAP_TYPE_PERCPU_ARRAY",
    "BPF_MAP_TYPE_STACK_TRACE",
    "BPF_MAP_TYPE_CGROUP_ARRAY",
    "BPF_MAP_TYPE_LRU_HASH",
    "BPF_MAP_TYPE_LRU_PERCPU_HASH",
    "BPF_MAP_TYPE_LPM_TRIE",
    "BPF_MAP_TYPE_ARRAY_OF_MAPS",
    "BPF_MAP_TYPE_HASH_OF_MAPS",
    "BPF_MAP_TYPE_DEVMAP",
    "BPF_MAP_TYPE_SOCKMAP",
    "BPF_MAP_TYPE_CPUMAP",
    "BPF_MAP_TYPE_XSKMAP",
    "BPF_MAP_TYPE_SOCKHASH",
    "BPF_MAP_TYPE_CGROUP_STORAGE",
    "BPF_MAP_TYPE_REUSEPORT_SOCKARRAY",
    "BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE",
    "BPF_MAP_TYPE_QUEUE",
    "BPF_MAP_TYPE_STACK",
    "BPF_MAP_TYPE_SK_STORAGE",
    "BPF_MAP_TYPE_DEVMAP_HASH",
    "BPF_MAP_TYPE_STRUCT_OPS",
    "BPF_MAP_TYPE_RINGBUF",
    "BPF_MAP_TYPE_INODE_STORAGE",
    "BPF_MAP_TYPE_TASK_STORAGE",
];

const BPF_PROG_TYPES: &[&str] = &[
    "BPF_PROG_TYPE_UNSPEC",
    "BPF_PROG_TYPE_SOCKET_FILTER",
    "BPF_PROG_TYPE_KPROBE",
    "BPF_PROG_TYPE_SCHED_CLS",
    "BPF_PROG_TYPE_SCHED_ACT",
    "BPF_PROG_TYPE_TRACEPOINT",
    "BPF_PROG_TYPE_XDP",
    "BPF_PROG_TYPE_PERF_EVENT",
    "BPF_PROG_TYPE_CGROUP_SKB",
    "BPF_PROG_TYPE_CGROUP_SOCK",
    "BPF_PROG_TYPE_LWT_IN",
    "BPF_PROG_TYPE_LWT_OUT",
    "BPF_PROG_TYPE_LWT_XMIT",
    "BPF_PROG_TYPE_SOCK_OPS",
    "BPF_PROG_TYPE_SK_SKB",
    "BPF_PROG_TYPE_CGROUP_DEVICE",
    "BPF_PROG_TYPE_SK_MSG",
    "BPF_PROG_TYPE_RAW_TRACEPOINT",
    "BPF_PROG_TYPE_CGROUP_SOCK_ADDR",
    "BPF_PROG_TYPE_LWT_SEG6LOCAL",
    "BPF_PROG_TYPE_LIRC_MODE2",
    "BPF_PROG_TYPE_SK_REUSEPORT",
    "BPF_PROG_TYPE_FLOW_DISSECTOR",
    "BPF_PROG_TYPE_CGROUP_SYSCTL",
    "BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE",
    "BPF_PROG_TYPE_CGROUP_SOCKOPT",
    "BPF_PROG_TYPE_TRACING",
    "BPF_PROG_TYPE_STRUCT_OPS",
    "BPF_PROG_TYPE_EXT",
    "BPF_PROG_TYPE_LSM",
    "BPF_PROG_TYPE_SK_LOOKUP",
    "BPF_PROG_TYPE_SYSCALL",
];

/// BPF helper ids that matter to detection (`BPF_PROBE_WRITE_USER in bpf.prog.helpers`).
const BPF_HELPERS: &[(&str, i64)] = &[
    ("BPF_MAP_LOOKUP_ELEM", 1),
    ("BPF_PROBE_READ", 4),
    ("BPF_KTIME_GET_NS", 5),
    ("BPF_TRACE_PRINTK", 6),
    ("BPF_SKB_STORE_BYTES", 9),
    ("BPF_GET_CURRENT_PID_TGID", 14),
    ("BPF_PERF_EVENT_OUTPUT", 25),
    ("BPF_PROBE_WRITE_USER", 36),
    ("BPF_OVERRIDE_RETURN", 58),
    ("BPF_SEND_SIGNAL", 109),
    ("BPF_PROBE_READ_USER", 112),
    ("BPF_PROBE_READ_KERNEL", 113),
    ("BPF_PROBE_READ_USER_STR", 114),
    ("BPF_PROBE_READ_KERNEL_STR", 115),
    ("BPF_SEND_SIGNAL_THREAD", 117),
    ("BPF_RINGBUF_OUTPUT", 130),
    ("BPF_D_PATH", 147),
    ("BPF_COPY_FROM_USER", 148),
];

const MISC: &[(&str, i64)] = &[
    // exit.cause, in the order of rampart_model::ExitCause.
    ("EXITED", 0),
    ("SIGNALED", 1),
    ("COREDUMPED", 2),
    ("AT_REMOVEDIR", 0x200),
    ("AUDIT_AUID_UNSET", 4294967295),
    ("PIPE_BUF_FLAG_LRU", 0x1),
    ("PIPE_BUF_FLAG_ATOMIC", 0x2),
    ("PIPE_BUF_FLAG_GIFT", 0x4),
    ("PIPE_BUF_FLAG_PACKET", 0x8),
    ("PIPE_BUF_FLAG_CAN_MERGE", 0x10),
    ("PIPE_BUF_FLAG_WHOLE", 0x20),
    ("PR_SET_PDEATHSIG", 1),
    ("PR_GET_PDEATHSIG", 2),
    ("PR_SET_DUMPABLE", 4),
    ("PR_SET_KEEPCAPS", 8),
    ("PR_SET_NAME", 15),
    ("PR_GET_NAME", 16),
    ("PR_SET_SECCOMP", 22),
    ("PR_CAPBSET_DROP", 24),
    ("PR_SET_MM", 35),
    ("PR_SET_NO_NEW_PRIVS", 38),
    ("SOL_SOCKET", 1),
    ("SO_ATTACH_FILTER", 26),
    ("SO_DETACH_FILTER", 27),
    ("MFD_CLOEXEC", 1),
    ("MFD_ALLOW_SEALING", 2),
    ("MFD_HUGETLB", 4),
    ("MFD_NOEXEC_SEAL", 8),
    ("MFD_EXEC", 0x10),
    ("CLONE_NEWTIME", 0x80),
    ("CLONE_NEWNS", 0x20000),
    ("CLONE_NEWCGROUP", 0x2000000),
    ("CLONE_NEWUTS", 0x4000000),
    ("CLONE_NEWIPC", 0x8000000),
    ("CLONE_NEWUSER", 0x10000000),
    ("CLONE_NEWPID", 0x20000000),
    ("CLONE_NEWNET", 0x40000000),
    ("RLIMIT_CPU", 0),
    ("RLIMIT_FSIZE", 1),
    ("RLIMIT_DATA", 2),
    ("RLIMIT_STACK", 3),
    ("RLIMIT_CORE", 4),
    ("RLIMIT_NPROC", 6),
    ("RLIMIT_NOFILE", 7),
    ("RLIMIT_MEMLOCK", 8),
    ("RLIMIT_RSS", 5),
    ("RLIMIT_AS", 9),
    ("RLIMIT_LOCKS", 10),
    ("RLIMIT_SIGPENDING", 11),
    ("RLIMIT_MSGQUEUE", 12),
    ("RLIMIT_NICE", 13),
    ("RLIMIT_RTPRIO", 14),
    ("RLIMIT_RTTIME", 15),
];

const ERRNO: &[&str] = &[
    "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF", "ECHILD",
    "EAGAIN", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST", "EXDEV", "ENODEV",
    "ENOTDIR", "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY", "ETXTBSY", "EFBIG", "ENOSPC",
    "ESPIPE", "EROFS", "EMLINK", "EPIPE", "EDOM", "ERANGE",
];

fn table() -> &'static HashMap<&'static str, i64> {
    static T: OnceLock<HashMap<&'static str, i64>> = OnceLock::new();
    T.get_or_init(|| {
        let mut m = HashMap::new();
        for group in [
            OPEN_FLAGS,
            FILE_MODES,
            PTRACE,
            PROTECTION,
            MMAP_FLAGS,
            ADDRESS_FAMILIES,
            PROTOCOLS,
            DNS,
            MISC,
        ] {
            m.extend(group.iter().copied());
        }
        m.extend(SIGNALS.iter().enumerate().map(|(i, s)| (*s, i as i64 + 1)));
        m.extend(
            CAPABILITIES
                .iter()
                .enumerate()
                .map(|(i, s)| (*s, 1i64 << i)),
        );
        m.extend(BPF_CMDS.iter().enumerate().map(|(i, s)| (*s, i as i64)));
        m.extend(
            BPF_MAP_TYPES
                .iter()
                .enumerate()
                .map(|(i, s)| (*s, i as i64)),
        );
        m.extend(
            BPF_PROG_TYPES
                .iter()
                .enumerate()
                .map(|(i, s)| (*s, i as i64)),
        );
        // Helper ids share names with commands (BPF_MAP_LOOKUP_ELEM): commands win, as in the kernel's headers.
        for (k, v) in BPF_HELPERS {
            m.entry(k).or_insert(*v);
        }
        m.extend(ERRNO.iter().enumerate().map(|(i, s)| (*s, i as i64 + 1)));
        m
    })
}

/// The value of a named constant.
pub fn lookup(name: &str) -> Option<i64> {
    table().get(name).copied()
}

/// Number of a signal name (`SIGKILL` → 9), for the kill action.
pub fn signal(name: &str) -> Option<i32> {
    SIGNALS
        .iter()
        .position(|s| *s == name)
        .map(|i| i as i32 + 1)
}

/// Every constant name (for completion and docs).
pub fn names() -> impl Iterator<Item = &'static str> {
    table().keys().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_linux() {
        assert_eq!(lookup("O_CREAT"), Some(64));
        assert_eq!(lookup("O_TMPFILE"), Some(0o20200000));
        assert_eq!(lookup("SIGKILL"), Some(9));
        assert_eq!(lookup("SIGSYS"), Some(31));
        assert_eq!(signal("SIGTERM"), Some(15));
        assert_eq!(lookup("CAP_SYS_ADMIN"), Some(1 << 21));
        assert_eq!(lookup("CAP_BPF"), Some(1 << 39));
        assert_eq!(lookup("BPF_PROG_LOAD"), Some(5));
        assert_eq!(lookup("BPF_PROBE_WRITE_USER"), Some(36));
        assert_eq!(lookup("BPF_MAP_TYPE_RINGBUF"), Some(27));
        assert_eq!(lookup("PTRACE_POKEDATA"), Some(5));
        assert_eq!(lookup("AF_INET6"), Some(10));
        assert_eq!(lookup("TXT"), Some(16));
        assert_eq!(lookup("EACCES"), Some(13));
        assert_eq!(lookup("S_ISUID"), Some(0o4000));
        assert_eq!(lookup("NOPE"), None);
        assert!(names().count() > 300);
    }
}
