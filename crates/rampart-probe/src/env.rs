//! A process environment block (`NAME=value\0…`, as the kernel lays it out on a new process's stack and as
//! /proc/PID/environ shows it) split into variable names and the few `NAME=value` entries whose value is
//! kept. The limits are the kernel-side walk's (bpf/events.h), so an environment reads the same whether the
//! kernel copied it whole, walked it, or it came from /proc.

/// Bytes of a name kept (ENV_NAME_MAX).
pub const ENV_NAME_MAX: usize = 128;
/// Bytes of one kept `NAME=value` (ENVP_ENTRY_MAX, less its NUL).
pub const ENV_ENTRY_MAX: usize = 1023;
/// Bytes of kept entries in all (ENVP_MAX_LEN): no entry starts past `ENV_VALUES_MAX - ENV_ENTRY_MAX - 1`.
pub const ENV_VALUES_MAX: usize = 2048;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Environ {
    pub names: Vec<String>,
    /// `NAME=value` for the names `keep_value` admitted.
    pub values: Vec<String>,
    /// Some names or kept values did not fit.
    pub truncated: bool,
}

/// Splits `block`; at most `max_names` names are kept.
pub fn split_environ(block: &[u8], keep_value: impl Fn(&str) -> bool, max_names: usize) -> Environ {
    let mut env = Environ::default();
    let mut values_len = 0;
    for entry in block.split(|b| *b == 0).filter(|s| !s.is_empty()) {
        let name = entry.split(|b| *b == b'=').next().unwrap_or(entry);
        let name = String::from_utf8_lossy(&name[..name.len().min(ENV_NAME_MAX)]);
        if keep_value(&name) {
            if values_len > ENV_VALUES_MAX - ENV_ENTRY_MAX - 1 {
                env.truncated = true;
            } else {
                let kept = &entry[..entry.len().min(ENV_ENTRY_MAX)];
                values_len += kept.len() + 1;
                env.values.push(String::from_utf8_lossy(kept).into_owned());
            }
        }
        if env.names.len() == max_names {
            env.truncated = true;
            continue;
        }
        env.names.push(name.into_owned());
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep_ld(name: &str) -> bool {
        name == "LD_PRELOAD"
    }

    #[test]
    fn names_and_kept_values() {
        let env = split_environ(
            b"HOME=/root\0LD_PRELOAD=/tmp/x.so\0EMPTY=\0NOEQ\0",
            keep_ld,
            usize::MAX,
        );
        assert_eq!(env.names, ["HOME", "LD_PRELOAD", "EMPTY", "NOEQ"]);
        assert_eq!(env.values, ["LD_PRELOAD=/tmp/x.so"]);
        assert!(!env.truncated);
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
