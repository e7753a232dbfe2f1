//! The ia32 syscall table (bpf/ia32_syscalls.h) against the i386 numbering of the uapi headers
//! (asm/unistd_32.h), so that a wrong number cannot leave a syscall unseen, and against the native hooks, so
//! that a syscall hooked for 64-bit callers has its ia32 twins. No kernel needed.

use std::collections::{BTreeMap, BTreeSet};

const IA32_TABLE: &str = include_str!("../bpf/ia32_syscalls.h");
const NATIVE_FILE_TABLE: &str = include_str!("../bpf/file_syscalls.h");
const KERNEL_HOOKS: &str = include_str!("../bpf/kernel.h");
const NET_HOOKS: &str = include_str!("../bpf/net.h");
const UNISTD_32: &[&str] = &[
    "/usr/include/x86_64-linux-gnu/asm/unistd_32.h",
    "/usr/include/asm/unistd_32.h",
];
/// From this number on, every architecture numbers new syscalls alike (Linux 5.1's unification).
const UNIFIED_FROM: u32 = 424;

/// `[N] = … /* name … */` entries of a C table: name (the comment's first word) → number.
fn table_entries(source: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for line in source.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let Some((num, rest)) = rest.split_once(']') else {
            continue;
        };
        let Ok(num) = num.parse::<u32>() else {
            continue;
        };
        let name = rest
            .rsplit_once("/*")
            .and_then(|(_, c)| c.strip_suffix("*/"))
            .and_then(|c| c.split_whitespace().next())
            .unwrap_or_else(|| panic!("entry [{num}] has no name comment: {line}"));
        assert!(
            out.insert(name.to_string(), num).is_none(),
            "{name} is in the table twice"
        );
    }
    out
}

/// `#define __NR_name N` lines of the uapi header.
fn i386_numbers() -> BTreeMap<String, u32> {
    let path = UNISTD_32
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| panic!("no asm/unistd_32.h in {UNISTD_32:?} (install linux-libc-dev)"));
    let text = std::fs::read_to_string(path).expect("reading unistd_32.h");
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "#define").then_some(())?;
            let name = w.next()?.strip_prefix("__NR_")?;
            Some((name.to_string(), w.next()?.parse().ok()?))
        })
        .collect()
}

/// The syscalls the native activity programs hook (their macro invocations in kernel.h and net.h).
fn native_activity_syscalls() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for source in [KERNEL_HOOKS, NET_HOOKS] {
        // invocations only: a line ending in `\` is inside a macro's own definition
        for line in source.lines().filter(|l| !l.trim_end().ends_with('\\')) {
            for mac in [
                "NATIVE_ENTER(",
                "NATIVE_ENTER_OP(",
                "CRED_HOOK(",
                "SYS_ENTER(",
                "NET_HOOKS(",
            ] {
                if let Some(rest) = line.trim().strip_prefix(mac) {
                    let name = rest.split([',', ')']).next().unwrap_or_default().trim();
                    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !name.is_empty()
                    {
                        out.insert(name.to_string());
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_entry_has_its_i386_number() {
    let table = table_entries(IA32_TABLE);
    let native = table_entries(NATIVE_FILE_TABLE);
    let i386 = i386_numbers();
    assert!(table.len() > 80, "parsed only {} entries", table.len());
    for (name, num) in &table {
        match i386.get(name) {
            Some(want) => assert_eq!(num, want, "{name} is {want} on i386, the table says {num}"),
            // Newer than these headers: only a unified number can be checked, against the x86_64 table.
            None => {
                assert!(
                    *num >= UNIFIED_FROM,
                    "{name} ({num}) is not in unistd_32.h and predates the unified numbering"
                );
                assert_eq!(
                    native.get(name),
                    Some(num),
                    "{name}: a unified number must be the x86_64 table's too"
                );
            }
        }
    }
}

#[test]
fn every_native_hook_has_its_ia32_twins() {
    let table = table_entries(IA32_TABLE);
    let i386 = i386_numbers();
    let native_file: BTreeSet<String> = table_entries(NATIVE_FILE_TABLE).into_keys().collect();
    let activity = native_activity_syscalls();
    assert!(
        activity.contains("setuid") && activity.contains("connect") && activity.contains("kill"),
        "parsed {activity:?}"
    );
    // i386 has no accept(2): its accepts go through socketcall(SYS_ACCEPT).
    let via_socketcall = ["accept"];
    for name in native_file.iter().chain(&activity) {
        if via_socketcall.contains(&name.as_str()) {
            assert!(table.contains_key("socketcall"), "{name} needs socketcall");
            assert!(!i386.contains_key(name), "i386 has {name} after all");
            continue;
        }
        assert!(
            table.contains_key(name),
            "{name} is hooked natively but has no ia32 entry"
        );
        // The wider-argument variants of the same call (chown32, truncate64, utimensat_time64, …).
        for suffix in ["16", "32", "64", "_time64"] {
            let variant = format!("{name}{suffix}");
            if i386.contains_key(&variant) {
                assert!(
                    table.contains_key(&variant),
                    "{variant} (the i386 variant of {name}) has no entry"
                );
            }
        }
    }
}

#[test]
fn the_parsers_read_what_they_should() {
    let t =
        table_entries("  [5] = { x }, /* open */\n[295] = {}, /* openat (at) */\nnot an entry\n");
    assert_eq!(t.get("open"), Some(&5));
    assert_eq!(t.get("openat"), Some(&295));
    assert_eq!(t.len(), 2);
}
