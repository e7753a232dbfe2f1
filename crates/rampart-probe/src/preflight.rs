//! Start-up checks that turn the kernel's terse refusals into actionable errors before anything is loaded.

use std::fs;
use std::path::Path;

use crate::errors::ProbeError;

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

pub(crate) const LOCKDOWN_PATH: &str = "/sys/kernel/security/lockdown";

/// Kernel lockdown mode, as `/sys/kernel/security/lockdown` shows it (`none [integrity] confidentiality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lockdown {
    None,
    Integrity,
    Confidentiality,
    /// securityfs not mounted or the LSM absent: nothing to say.
    Unknown,
}

pub(crate) fn check_all(btf_path: &Path) -> Result<Lockdown, ProbeError> {
    check_privileges()?;
    if !btf_path.exists() {
        return Err(ProbeError::BtfMissing {
            path: btf_path.to_path_buf(),
        });
    }
    let lockdown = read_lockdown(Path::new(LOCKDOWN_PATH));
    if lockdown == Lockdown::Confidentiality {
        return Err(ProbeError::LockdownConfidentiality {
            path: LOCKDOWN_PATH.into(),
        });
    }
    Ok(lockdown)
}

fn check_privileges() -> Result<(), ProbeError> {
    let effective = effective_caps().unwrap_or(0);
    let has = |cap: u32| effective & (1u64 << cap) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        Ok(())
    } else {
        Err(ProbeError::MissingPrivileges { effective })
    }
}

fn effective_caps() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    parse_cap_eff(&status)
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(line.trim(), 16).ok()
}

pub(crate) fn read_lockdown(path: &Path) -> Lockdown {
    fs::read_to_string(path)
        .map(|s| parse_lockdown(&s))
        .unwrap_or(Lockdown::Unknown)
}

fn parse_lockdown(s: &str) -> Lockdown {
    let selected = s
        .split_whitespace()
        .find(|w| w.starts_with('['))
        .map(|w| w.trim_matches(['[', ']']));
    match selected {
        Some("none") => Lockdown::None,
        Some("integrity") => Lockdown::Integrity,
        Some("confidentiality") => Lockdown::Confidentiality,
        _ => Lockdown::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockdown_modes() {
        assert_eq!(
            parse_lockdown("none [integrity] confidentiality\n"),
            Lockdown::Integrity
        );
        assert_eq!(
            parse_lockdown("none integrity [confidentiality]\n"),
            Lockdown::Confidentiality
        );
        assert_eq!(
            parse_lockdown("[none] integrity confidentiality\n"),
            Lockdown::None
        );
        assert_eq!(parse_lockdown(""), Lockdown::Unknown);
    }

    #[test]
    fn cap_eff_parsing() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
        assert_eq!(parse_cap_eff("Name: x\n"), None);
    }
}
