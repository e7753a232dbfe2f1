//! The readers against short and garbled records (an attacker shapes what the ring buffer carries), and the
//! UAPI values the C side spells out against libc's.

use super::*;
use crate::decode::Decoder;
use crate::skel::types::{act_uapi, file_uapi, kact_op, kernel_uapi, record_kind};

#[test]
fn read_pod_rejects_short_input_and_reads_any_alignment() {
    let h = record_header {
        kind: 7,
        cpu: 3,
        timestamp_ns: 0x0102_0304_0506_0708,
    };
    let bytes = bytes_of(&h);
    assert_eq!(bytes.len(), size_of::<record_header>());
    for len in 0..bytes.len() {
        assert_eq!(
            read_pod::<record_header>(&bytes[..len]).unwrap_err(),
            DecodeError::Short {
                len,
                need: bytes.len()
            }
        );
    }
    // at an odd offset, with trailing bytes
    let mut shifted = vec![0xee];
    shifted.extend_from_slice(bytes);
    shifted.push(0xee);
    let back: record_header = read_pod(&shifted[1..]).unwrap();
    assert_eq!(
        (back.kind, back.cpu, back.timestamp_ns),
        (h.kind, h.cpu, h.timestamp_ns)
    );
}

#[test]
fn sections_are_bounded_by_the_record() {
    let h = record_header::default();
    let mut bytes = bytes_of(&h).to_vec();
    bytes.extend_from_slice(&[1, 2, 3, 4, 5]);
    let fixed = size_of::<record_header>();
    assert!(read_record::<record_header>(&bytes[..fixed - 1]).is_err());
    let (_, mut s) = read_record::<record_header>(&bytes).unwrap();
    assert_eq!(s.take(2).unwrap(), &[1, 2]);
    assert_eq!(
        s.take(4).unwrap_err(),
        DecodeError::Sections {
            len: fixed + 5,
            need: fixed + 6
        }
    );
    assert_eq!(s.take(3).unwrap(), &[3, 4, 5]);
    assert_eq!(s.take(0).unwrap(), &[] as &[u8]);
    assert!(s.take(1).is_err());
    assert!(s.take(u16::MAX).is_err());
}

#[test]
fn c_string_stops_at_nul_and_tolerates_garbage() {
    assert_eq!(c_string(&[b'a' as i8, b'b' as i8, 0, b'c' as i8]), "ab");
    assert_eq!(c_string(&[b'x' as i8; 4]), "xxxx"); // no NUL: the whole field
    assert_eq!(c_string(&[]), "");
    assert_eq!(c_string(&[-1, -2, b'z' as i8, 0]), "\u{fffd}\u{fffd}z");
}

/// xorshift64: reproducible garbage without a dependency.
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Every record kind, with a fixed part of garbage whose section lengths are garbage too, cut at every
/// length: the decoder returns (a record or an error) and never panics.
#[test]
fn every_record_kind_survives_truncated_and_garbage_bytes() {
    let mut decoder = Decoder {
        env_values: vec!["LD_PRELOAD".into()],
        environs: Default::default(),
    };
    let kinds = [
        record_kind::RECORD_EXEC,
        record_kind::RECORD_FORK,
        record_kind::RECORD_EXIT,
        record_kind::RECORD_KILL,
        record_kind::RECORD_FILE_BASE,
        record_kind(record_kind::RECORD_FILE_BASE.0 + 6), // rename: two paths
        record_kind::RECORD_FILE_LAST,                    // in the range, no such type
        record_kind::RECORD_KACT,
        record_kind::RECORD_SOCK,
        record_kind::RECORD_DNS,
        record_kind(0),
        record_kind(u32::MAX),
    ];
    let longest = size_of::<exec_event>() + 600;
    let mut decoded = 0;
    for (i, kind) in kinds.into_iter().enumerate() {
        for seed in 0..8u64 {
            let mut bytes = garbage(seed * 31 + i as u64, longest);
            bytes[..4].copy_from_slice(&kind.0.to_ne_bytes());
            for len in 0..=bytes.len() {
                decoded += usize::from(decoder.decode(&bytes[..len]).is_ok());
            }
        }
    }
    // Garbage mostly fails (section lengths overrun the record), but some exit and kill records decode:
    // the loop did reach the decoders.
    assert!(decoded > 0);
}

/// Plausible records (every length field honest) whose sections are garbage: still no panic, and each
/// one decodes.
#[test]
fn records_with_garbage_sections_decode() {
    let mut decoder = Decoder {
        env_values: vec!["LD_PRELOAD".into()],
        environs: Default::default(),
    };
    // the ops of kact records (connect..dns have records of their own)
    let network = kact_op::KOP_CONNECT.0..=kact_op::KOP_DNS.0;
    let kact_ops: Vec<u32> = (0..kact_op::KOP_MAX.0)
        .filter(|op| !network.contains(op))
        .collect();
    for seed in 0..64u64 {
        let junk = garbage(seed, 64);
        let exec = exec_event {
            hdr: record_header {
                kind: record_kind::RECORD_EXEC.0,
                ..Default::default()
            },
            flags: garbage(seed, 4)
                .iter()
                .fold(0, |f, b| f << 8 | u32::from(*b)),
            exe_path_len: 10,
            script_path_len: 10,
            cgroup_path_len: 10,
            args_len: 20,
            args_head_len: 7,
            args_size: u32::MAX,
            argc: u32::MAX,
            envs_len: 10,
            envp_len: 4,
            ..Default::default()
        };
        let mut bytes = bytes_of(&exec).to_vec();
        bytes.extend_from_slice(&junk);
        decoder.decode(&bytes).unwrap();

        let kact = kact_event {
            hdr: record_header {
                kind: record_kind::RECORD_KACT.0,
                ..Default::default()
            },
            op: kact_ops[seed as usize % kact_ops.len()],
            flags: !0,
            args: [u64::MAX; 6],
            extra: [u64::MAX; 4],
            s0_len: 20,
            s1_len: 20,
            s2_len: 24,
            ..Default::default()
        };
        let mut bytes = bytes_of(&kact).to_vec();
        bytes.extend_from_slice(&junk);
        decoder.decode(&bytes).unwrap();
    }
}

/// The UAPI values the BPF side spells out (vmlinux.h has no macros) are the ones the Rust side takes from
/// libc: a typo on either side would make the kernel and user space disagree on a filter or a decode.
#[test]
fn c_uapi_values_match_libc() {
    let pairs: [(&str, u32, i64); 14] = [
        ("PROT_EXEC", act_uapi::PROT_EXEC.0, libc::PROT_EXEC.into()),
        ("AF_UNIX", act_uapi::AF_UNIX.0, libc::AF_UNIX.into()),
        ("AF_INET", act_uapi::AF_INET.0, libc::AF_INET.into()),
        ("AF_INET6", act_uapi::AF_INET6.0, libc::AF_INET6.into()),
        ("EAGAIN", act_uapi::EAGAIN.0, libc::EAGAIN.into()),
        ("S_IFMT", act_uapi::S_IFMT.0, libc::S_IFMT.into()),
        ("S_IFSOCK", act_uapi::S_IFSOCK.0, libc::S_IFSOCK.into()),
        ("S_IFIFO", act_uapi::S_IFIFO.0, libc::S_IFIFO.into()),
        (
            "MAP_ANONYMOUS",
            kernel_uapi::MAP_ANONYMOUS.0,
            libc::MAP_ANONYMOUS.into(),
        ),
        (
            "PTRACE_TRACEME",
            kernel_uapi::PTRACE_TRACEME.0,
            libc::PTRACE_TRACEME.into(),
        ),
        (
            "PR_SET_NAME",
            kernel_uapi::PR_SET_NAME.0,
            libc::PR_SET_NAME.into(),
        ),
        (
            "AT_REMOVEDIR",
            file_uapi::AT_REMOVEDIR.0,
            libc::AT_REMOVEDIR.into(),
        ),
        ("O_CREAT", file_uapi::O_CREAT.0, libc::O_CREAT.into()),
        ("O_TRUNC", file_uapi::O_TRUNC.0, libc::O_TRUNC.into()),
    ];
    for (name, c, rust) in pairs {
        assert_eq!(i64::from(c), rust, "{name}: bpf/ and libc disagree");
    }
    assert_eq!(i64::from(file_uapi::O_WRONLY.0), i64::from(libc::O_WRONLY));
}

#[test]
fn fnv_is_the_c_definition_and_the_reference_one() {
    let common = include_str!("../../bpf/common.h");
    let define = |name: &str| {
        common.lines().find_map(|l| {
            let value = l.strip_prefix("#define ")?.strip_prefix(name)?.trim();
            let hex = value.strip_prefix("0x")?.strip_suffix("ull")?;
            u64::from_str_radix(hex, 16).ok()
        })
    };
    assert_eq!(define("FNV_OFFSET "), Some(FNV_OFFSET));
    assert_eq!(define("FNV_PRIME "), Some(FNV_PRIME));
    // published FNV-1a 64 vectors
    assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
}
