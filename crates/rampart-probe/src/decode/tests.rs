use std::mem::size_of;

use super::*;

// The generated values, named as in C.
const RECORD_EXEC: u32 = record_kind::RECORD_EXEC.0;
const RECORD_FORK: u32 = record_kind::RECORD_FORK.0;
const RECORD_EXIT: u32 = record_kind::RECORD_EXIT.0;
const EXEC_INTERPRETED: u32 = exec_flag::EXEC_INTERPRETED.0;
const EXEC_PATH_TRUNCATED: u32 = exec_flag::EXEC_PATH_TRUNCATED.0;
const EXEC_ARGS_TRUNCATED: u32 = exec_flag::EXEC_ARGS_TRUNCATED.0;
const EXEC_ARGS_FAULT: u32 = exec_flag::EXEC_ARGS_FAULT.0;
const EXEC_ENVS_TRUNCATED: u32 = exec_flag::EXEC_ENVS_TRUNCATED.0;
const EXEC_ENV_BLOCK: u32 = exec_flag::EXEC_ENV_BLOCK.0;
const EXEC_FILE_UPPER: u32 = exec_flag::EXEC_FILE_UPPER.0;

fn bytes_of<T: crate::abi::Pod>(v: &T) -> Vec<u8> {
    crate::abi::bytes_of(v).to_vec()
}

fn put(dst: &mut [i8], s: &str) {
    for (d, b) in dst.iter_mut().zip(s.bytes()) {
        *d = b as i8;
    }
}

fn decoder() -> Decoder {
    Decoder {
        env_values: vec!["LD_PRELOAD".into()],
        environs: Default::default(),
    }
}

fn exec_bytes(flags: u32, sections: [&[u8]; 6]) -> Vec<u8> {
    let mut e = exec_event::default();
    e.hdr.kind = RECORD_EXEC;
    e.hdr.timestamp_ns = 42;
    e.task.pid = 10;
    e.task.tid = 10;
    e.task.ppid = 1;
    put(&mut e.task.comm, "true");
    e.file.inode = 7;
    put(&mut e.file.fs_type, "ext4");
    e.flags = flags;
    e.argc = 2;
    let lens: Vec<u16> = sections.iter().map(|s| s.len() as u16).collect();
    (e.exe_path_len, e.script_path_len, e.cgroup_path_len) = (lens[0], lens[1], lens[2]);
    (e.args_len, e.envs_len, e.envp_len) = (lens[3], lens[4], lens[5]);
    (e.args_head_len, e.args_size) = (lens[3], lens[3] as u32);
    let mut out = bytes_of(&e);
    sections.iter().for_each(|s| out.extend_from_slice(s));
    out
}

#[test]
fn exec_record_sections() {
    let bytes = exec_bytes(
        0,
        [
            b"/usr/bin/true",
            b"",
            b"/user.slice",
            b"true\0a b\0",
            b"HOME\0LD_PRELOAD\0",
            b"LD_PRELOAD=/x.so\0",
        ],
    );
    let ProbeRecord::Exec(r) = decoder().decode(&bytes).unwrap() else {
        panic!("not an exec")
    };
    assert_eq!(r.file.path, "/usr/bin/true");
    assert_eq!(r.file.name, "true");
    assert_eq!((r.file.inode, r.file.filesystem.as_str()), (7, "ext4"));
    assert_eq!(r.argv, ["true", "a b"]);
    assert!(!r.args_truncated);
    assert_eq!(*r.envs, ["HOME", "LD_PRELOAD"]);
    assert_eq!(*r.envp, ["LD_PRELOAD=/x.so"]);
    assert_eq!(r.task.cgroup_path, "/user.slice");
    assert_eq!(r.task.comm, "true");
    assert_eq!(r.interpreter, None);
    assert_eq!(r.timestamp_boot_ns, 42);
}

#[test]
fn whole_environment_block_is_split_with_the_allow_list() {
    let block: &[u8] = b"HOME=/root\0LD_PRELOAD=/x.so\0PATH=/bin\0";
    let bytes = exec_bytes(
        EXEC_ENV_BLOCK,
        [b"/usr/bin/true", b"", b"/", b"true\0", block, b""],
    );
    let ProbeRecord::Exec(r) = decoder().decode(&bytes).unwrap() else {
        panic!("not an exec")
    };
    assert_eq!(*r.envs, ["HOME", "LD_PRELOAD", "PATH"]);
    assert_eq!(
        *r.envp,
        ["LD_PRELOAD=/x.so"],
        "values off the allow-list stay out"
    );
    assert!(!r.envs_truncated);
    let bytes = exec_bytes(EXEC_ENV_BLOCK, [b"/x", b"", b"/", b"", b"A=1\0B=", b""]);
    let ProbeRecord::Exec(r) = decoder().decode(&bytes).unwrap() else {
        panic!("not an exec")
    };
    assert_eq!(*r.envs, ["A", "B"]);
    assert!(r.envs_truncated, "a block cut mid-string");
}

#[test]
fn one_decoder_tells_the_two_environment_layouts_apart() {
    let mut d = decoder();
    let names: &[u8] = b"LD_PRELOAD\0";
    let exec = |d: &mut Decoder, flags| {
        let bytes = exec_bytes(flags, [b"/x", b"", b"/", b"", names, b""]);
        let Ok(ProbeRecord::Exec(r)) = d.decode(&bytes) else {
            panic!("not an exec")
        };
        r
    };
    let walked = exec(&mut d, 0);
    let block = exec(&mut d, EXEC_ENV_BLOCK);
    assert_eq!(*walked.envs, ["LD_PRELOAD"]);
    assert!(walked.envp.is_empty(), "walked names carry no value");
    assert_eq!(
        *block.envp,
        ["LD_PRELOAD"],
        "a whole block keeps an allow-listed entry"
    );
    assert!(std::sync::Arc::ptr_eq(
        &block.envs,
        &exec(&mut d, EXEC_ENV_BLOCK).envs
    ));
}

#[test]
fn interpreted_exec_swaps_file_and_interpreter() {
    let bytes = exec_bytes(
        EXEC_INTERPRETED,
        [b"/usr/bin/dash", b"/tmp/s.sh", b"/", b"", b"", b""],
    );
    let ProbeRecord::Exec(r) = decoder().decode(&bytes).unwrap() else {
        panic!("not an exec")
    };
    assert_eq!(r.file.path, "/tmp/s.sh");
    assert_eq!(r.file.inode, 0);
    let interp = r.interpreter.unwrap();
    assert_eq!((interp.path.as_str(), interp.inode), ("/usr/bin/dash", 7));
}

#[test]
fn an_executable_written_in_a_container_says_so() {
    let upper = |flags| {
        let bytes = exec_bytes(flags, [b"/usr/sbin/sshd", b"", b"/", b"", b"", b""]);
        let Ok(ProbeRecord::Exec(r)) = decoder().decode(&bytes) else {
            panic!("not an exec")
        };
        r.file.in_upper_layer
    };
    assert!(upper(EXEC_FILE_UPPER));
    assert!(!upper(0));
}

#[test]
fn truncation_flags_and_limits() {
    let bytes = exec_bytes(
        EXEC_PATH_TRUNCATED | EXEC_ENVS_TRUNCATED,
        [
            b"/deep/file",
            b"",
            b"/",
            b"a\0b\0c\0d\0",
            b"A\0",
            b"PATH=/bin\0",
        ],
    );
    let ProbeRecord::Exec(r) = decoder().decode(&bytes).unwrap() else {
        panic!("not an exec")
    };
    assert_eq!(r.file.path, ".../deep/file");
    assert_eq!(
        r.argv,
        ["a", "b", "c", "d"],
        "no count limit: the byte bound is the bound"
    );
    assert!(!r.args_truncated);
    assert!(r.envs_truncated);
    assert!(
        r.envp.is_empty(),
        "a value not on the allow-list is dropped"
    );
    // an argv block cut mid-string is truncated too
    let bytes = exec_bytes(0, [b"/x", b"", b"/", b"ab\0cd", b"", b""]);
    let ProbeRecord::Exec(r) = decoder().decode(&bytes).unwrap() else {
        panic!("not an exec")
    };
    assert_eq!(r.argv, ["ab", "cd"]);
    assert!(r.args_truncated);
}

#[test]
fn argv_head_and_tail_with_the_gap() {
    // what the kernel sends for `miner <5000 x A> -o stratum+tcp://p:1`: the first 3072 bytes, the last 1024
    let pad = "A".repeat(5000);
    let full = format!("miner\0{pad}\0-o\0stratum+tcp://p:1\0");
    let (head, tail) = (
        &full.as_bytes()[..3072],
        &full.as_bytes()[full.len() - 1024..],
    );
    let args = [head, tail].concat();
    let mut bytes = exec_bytes(
        EXEC_ARGS_TRUNCATED,
        [b"/tmp/miner", b"", b"/", &args, b"", b""],
    );
    let e: exec_event = read_pod(&bytes).unwrap();
    let mut e2 = e;
    (e2.args_head_len, e2.args_size, e2.argc) = (3072, full.len() as u32, 4);
    bytes[..size_of::<exec_event>()].copy_from_slice(&bytes_of(&e2));
    let ProbeRecord::Exec(r) = decoder().decode(&bytes).unwrap() else {
        panic!("not an exec")
    };
    assert!(r.args_truncated);
    assert_eq!(r.args_size, full.len() as u64);
    assert_eq!(r.args_longest, 5000);
    assert_eq!(&r.argv[r.argv.len() - 2..], ["-o", "stratum+tcp://p:1"]);
    let gap = r.args_gap.unwrap();
    assert_eq!(
        (gap.argument, gap.skipped_bytes),
        (1, full.len() as u64 - 4096)
    );
    // a head the kernel could not read is truncated, never an empty success
    let bytes = exec_bytes(
        EXEC_ARGS_TRUNCATED | EXEC_ARGS_FAULT,
        [b"/x", b"", b"/", b"", b"", b""],
    );
    let ProbeRecord::Exec(r) = decoder().decode(&bytes).unwrap() else {
        panic!("not an exec")
    };
    assert!(r.args_truncated && r.argv.is_empty());
}

#[test]
fn corrupt_records_are_errors_not_panics() {
    let mut d = decoder();
    assert!(matches!(d.decode(&[1, 0]), Err(DecodeError::Short { .. })));
    let mut bytes = exec_bytes(0, [b"/x", b"", b"/", b"", b"", b""]);
    bytes.truncate(bytes.len() - 1);
    assert!(matches!(
        d.decode(&bytes),
        Err(DecodeError::Sections { .. })
    ));
    let mut unknown = exec_bytes(0, [b"", b"", b"", b"", b"", b""]);
    unknown[0] = 99;
    assert_eq!(d.decode(&unknown), Err(DecodeError::UnknownKind(99)));
    for len in 0..size_of::<exec_event>() {
        assert!(d
            .decode(&exec_bytes(0, [b"", b"", b"", b"", b"", b""])[..len])
            .is_err());
    }
}

#[test]
fn exit_status_encoding() {
    assert_eq!(exit_status(3 << 8), (ExitCause::Exited, 3));
    assert_eq!(exit_status(9), (ExitCause::Signaled, 9));
    assert_eq!(exit_status(0x80 | 11), (ExitCause::Coredumped, 11));
    let mut x = exit_event::default();
    x.hdr.kind = RECORD_EXIT;
    (x.pid, x.tid, x.exit_code, x.group_dead) = (5, 6, 15, 1);
    let ProbeRecord::Exit(r) = decoder().decode(&bytes_of(&x)).unwrap() else {
        panic!("not an exit")
    };
    assert_eq!(
        (r.pid, r.tid, r.group_dead, r.cause, r.code),
        (5, 6, true, ExitCause::Signaled, 15)
    );
}

#[test]
fn fork_record() {
    let mut f = fork_event::default();
    f.hdr.kind = RECORD_FORK;
    f.parent_pid = 3;
    f.child.pid = 4;
    f.child.tid = 5;
    f.cgroup_path_len = 2;
    let mut bytes = bytes_of(&f);
    bytes.extend_from_slice(b"/a");
    let ProbeRecord::Fork(r) = decoder().decode(&bytes).unwrap() else {
        panic!("not a fork")
    };
    assert_eq!(
        (
            r.parent_pid,
            r.child.pid,
            r.child.tid,
            r.child.cgroup_path.as_str()
        ),
        (3, 4, 5, "/a")
    );
}
