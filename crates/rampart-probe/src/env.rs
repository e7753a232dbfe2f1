//! A process environment block (`NAME=value\0…`, as the kernel lays it out on a new process's stack and as
//! /proc/PID/environ shows it) split into variable names and the few `NAME=value` entries whose value is
//! kept. The limits are the kernel-side walk's (bpf/events.h), so an environment reads the same whether the
//! kernel copied it whole, walked it, or it came from /proc.

use std::sync::Arc;

use crate::skel::types::exec_limit;

/// Bytes of a name kept (ENV_NAME_MAX).
pub const ENV_NAME_MAX: usize = exec_limit::ENV_NAME_MAX.0 as usize;
/// Bytes of one kept `NAME=value` (ENVP_ENTRY_MAX, less its NUL).
pub const ENV_ENTRY_MAX: usize = exec_limit::ENVP_ENTRY_MAX.0 as usize - 1;
/// Bytes of kept entries in all (ENVP_MAX_LEN): no entry starts past `ENV_VALUES_MAX - ENV_ENTRY_MAX - 1`.
pub const ENV_VALUES_MAX: usize = exec_limit::ENVP_MAX_LEN.0 as usize;

/// An environment's names and kept values, shared: many execs carry the same one (see [`EnvironCache`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Environ {
    pub names: Arc<[String]>,
    /// `NAME=value` for the names `keep_value` admitted.
    pub values: Arc<[String]>,
    /// Some names or kept values did not fit.
    pub truncated: bool,
}

/// Environments decoded lately, by their raw record sections. A shell, a build tool or a service manager
/// execs many children with one environment, and decoding it again (a `String` per variable, then freeing
/// the copy the fork made) was the largest part of the agent's work per exec.
#[derive(Debug, Default)]
pub struct EnvironCache {
    entries: Vec<CachedEnviron>,
    /// The entry replaced next once the cache is full (oldest first).
    next: usize,
}

#[derive(Debug)]
struct CachedEnviron {
    /// The key: the record's environment sections and their layout, compared byte for byte (a hash alone
    /// could hand one process another's environment).
    key: [Vec<u8>; KEY_PARTS],
    env: Environ,
}

const KEY_PARTS: usize = 3;

/// Distinct environments kept: enough for a busy host's concurrent parents (a shell's children differ in `_`
/// alone); a lookup compares lengths first, so a miss costs little.
const CACHED_ENVIRONS: usize = 32;

impl EnvironCache {
    /// The environment that `[layout, names, values]` decode to: the cached one when the same bytes were
    /// seen lately, otherwise `decode`'s, which is then cached.
    pub fn get_or_decode(
        &mut self,
        key: [&[u8]; KEY_PARTS],
        decode: impl FnOnce() -> Environ,
    ) -> Environ {
        let same =
            |cached: &&CachedEnviron| cached.key.iter().zip(key).all(|(a, b)| a.as_slice() == b);
        if let Some(hit) = self.entries.iter().find(same) {
            return hit.env.clone();
        }
        let env = decode();
        let entry = CachedEnviron {
            key: key.map(<[u8]>::to_vec),
            env: env.clone(),
        };
        if self.entries.len() < CACHED_ENVIRONS {
            self.entries.push(entry);
        } else {
            self.entries[self.next] = entry;
            self.next = (self.next + 1) % CACHED_ENVIRONS;
        }
        env
    }
}

/// Splits `block`; at most `max_names` names are kept.
pub fn split_environ(block: &[u8], keep_value: impl Fn(&str) -> bool, max_names: usize) -> Environ {
    let (mut names, mut values, mut truncated) = (Vec::new(), Vec::new(), false);
    let mut values_len = 0;
    for entry in block.split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let name = entry.split(|b| *b == b'=').next().unwrap_or(entry);
        // a cut name or value is never silent (the kernel walk says so too)
        truncated |= name.len() > ENV_NAME_MAX;
        let name = String::from_utf8_lossy(&name[..name.len().min(ENV_NAME_MAX)]);
        if keep_value(&name) {
            if values_len > ENV_VALUES_MAX - ENV_ENTRY_MAX - 1 {
                truncated = true;
            } else {
                truncated |= entry.len() > ENV_ENTRY_MAX;
                let kept = &entry[..entry.len().min(ENV_ENTRY_MAX)];
                values_len += kept.len() + 1;
                values.push(String::from_utf8_lossy(kept).into_owned());
            }
        }
        if names.len() == max_names {
            truncated = true;
            continue;
        }
        names.push(name.into_owned());
    }
    Environ {
        names: names.into(),
        values: values.into(),
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep_ld(name: &str) -> bool {
        name == "LD_PRELOAD"
    }

    fn decoded(names: &[&str]) -> Environ {
        Environ {
            names: names.iter().map(|n| n.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn cache_returns_the_shared_list_for_the_same_bytes_only() {
        let mut cache = EnvironCache::default();
        let first = cache.get_or_decode([b"block", b"A=1\0", b""], || decoded(&["A"]));
        let again = cache.get_or_decode([b"block", b"A=1\0", b""], || panic!("decoded twice"));
        assert!(Arc::ptr_eq(&first.names, &again.names));
        // same length, other bytes; and the same bytes split differently between the two sections
        let other = cache.get_or_decode([b"block", b"B=1\0", b""], || decoded(&["B"]));
        assert_eq!(other.names.as_ref(), ["B"]);
        let moved = cache.get_or_decode([b"block", b"A=1", b"\0"], || decoded(&["moved"]));
        assert_eq!(moved.names.as_ref(), ["moved"]);
        let walked = cache.get_or_decode([b"walked", b"A=1\0", b""], || decoded(&["walked"]));
        assert_eq!(walked.names.as_ref(), ["walked"]);
    }

    #[test]
    fn cache_is_bounded_and_forgets_the_oldest() {
        let mut cache = EnvironCache::default();
        let blocks: Vec<Vec<u8>> = (0..=CACHED_ENVIRONS)
            .map(|i| format!("V{i}=1\0").into_bytes())
            .collect();
        for block in &blocks {
            cache.get_or_decode([b"block", block, b""], || decoded(&["x"]));
        }
        assert_eq!(cache.entries.len(), CACHED_ENVIRONS);
        let mut decodes = 0;
        cache.get_or_decode([b"block", &blocks[0], b""], || {
            decodes += 1;
            decoded(&["x"])
        });
        assert_eq!(decodes, 1, "the oldest entry was replaced");
        cache.get_or_decode([b"block", &blocks[CACHED_ENVIRONS], b""], || {
            panic!("the newest entry is kept")
        });
    }

    #[test]
    fn names_and_kept_values() {
        let env = split_environ(
            b"HOME=/root\0LD_PRELOAD=/tmp/x.so\0EMPTY=\0NOEQ\0",
            keep_ld,
            usize::MAX,
        );
        assert_eq!(*env.names, ["HOME", "LD_PRELOAD", "EMPTY", "NOEQ"]);
        assert_eq!(*env.values, ["LD_PRELOAD=/tmp/x.so"]);
        assert!(!env.truncated);
    }

    #[test]
    fn a_cut_name_or_value_is_never_silent() {
        let long_name = format!("{}=1\0", "N".repeat(ENV_NAME_MAX + 1));
        assert!(split_environ(long_name.as_bytes(), keep_ld, usize::MAX).truncated);
        let exact_name = format!("{}=1\0", "N".repeat(ENV_NAME_MAX));
        assert!(!split_environ(exact_name.as_bytes(), keep_ld, usize::MAX).truncated);
        // LD_PRELOAD padded past the kept length hides its tail: say so
        let padded = format!("LD_PRELOAD={}/tmp/evil.so\0", " ".repeat(ENV_ENTRY_MAX));
        let env = split_environ(padded.as_bytes(), keep_ld, usize::MAX);
        assert!(env.truncated);
        assert_eq!(env.values[0].len(), ENV_ENTRY_MAX);
    }

    #[test]
    fn limits_match_the_kernel_walk() {
        let long_name = "N".repeat(300);
        let long_value = format!("LD_PRELOAD={}", "v".repeat(2000));
        let block = format!("{long_name}=1\0{long_value}\0{long_value}\0{long_value}\0A=1\0B=2\0");
        let env = split_environ(block.as_bytes(), keep_ld, 5);
        assert_eq!(env.names[0].len(), ENV_NAME_MAX);
        assert_eq!(
            env.values.len(),
            2,
            "a third 1023-byte entry would start past 1024 bytes"
        );
        assert!(env.values.iter().all(|v| v.len() == ENV_ENTRY_MAX));
        assert_eq!(env.names.len(), 5);
        assert!(env.truncated);
    }
}
