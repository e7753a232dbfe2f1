//! Rule `filters` (SECL over a host model: `os`, `kernel.version.*`, …) and `agent_version` constraints.

use rampart_secl::ast::{parse, BinOp, Kind, Node, UnOp};

/// Facts about the host that rule filters test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    pub os: String,
    /// `/etc/os-release` `ID` (`debian`, `ubuntu`, `rhel`, …).
    pub os_id: String,
    pub os_version_id: String,
    pub kernel: (i64, i64, i64),
    pub hostname: String,
    pub origin: String,
}

impl Default for HostInfo {
    fn default() -> Self {
        HostInfo {
            os: "linux".into(),
            os_id: String::new(),
            os_version_id: String::new(),
            kernel: (0, 0, 0),
            hostname: String::new(),
            origin: "ebpf".into(),
        }
    }
}

impl HostInfo {
    /// The running host (kernel release from `/proc/sys/kernel/osrelease`, distribution from os-release).
    pub fn detect() -> HostInfo {
        let mut h = HostInfo {
            kernel: parse_kernel(&kernel_release()),
            ..HostInfo::default()
        };
        if let Ok(os) = std::fs::read_to_string("/etc/os-release") {
            for line in os.lines() {
                if let Some(v) = line.strip_prefix("ID=") {
                    h.os_id = v.trim_matches('"').to_string();
                } else if let Some(v) = line.strip_prefix("VERSION_ID=") {
                    h.os_version_id = v.trim_matches('"').to_string();
                }
            }
        }
        h.hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .to_string();
        h
    }
}

/// The running kernel's release string (`6.18.0-1-amd64`), empty if /proc cannot say.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn parse_kernel(rel: &str) -> (i64, i64, i64) {
    let mut it = rel
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

#[derive(Debug, Clone, PartialEq)]
enum HVal {
    Int(i64),
    Str(String),
    Bool(bool),
}

/// Evaluates one filter expression against the host.
pub fn eval_filter(src: &str, host: &HostInfo) -> Result<bool, String> {
    let (ast, _) = parse(src).map_err(|e| e.msg)?;
    boolean(&ast, host)
}

fn boolean(n: &Node, h: &HostInfo) -> Result<bool, String> {
    match &n.kind {
        Kind::Paren(x) => boolean(x, h),
        Kind::Bool(b) => Ok(*b),
        Kind::Unary(UnOp::Not, x) => Ok(!boolean(x, h)?),
        Kind::And(terms) => {
            for t in terms {
                if !boolean(t, h)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Kind::Or(terms) => {
            for t in terms {
                if boolean(t, h)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Kind::Binary(op, l, r) => {
            let (a, b) = (value(l, h)?, value(r, h)?);
            Ok(match (op, a, b) {
                (BinOp::Eq, a, b) => a == b,
                (BinOp::Ne, a, b) => a != b,
                (BinOp::Lt, HVal::Int(a), HVal::Int(b)) => a < b,
                (BinOp::Le, HVal::Int(a), HVal::Int(b)) => a <= b,
                (BinOp::Gt, HVal::Int(a), HVal::Int(b)) => a > b,
                (BinOp::Ge, HVal::Int(a), HVal::Int(b)) => a >= b,
                (op, _, _) => {
                    return Err(format!(
                        "unsupported operator `{}` in a filter",
                        op.symbol()
                    ))
                }
            })
        }
        Kind::Ident(_) => match value(n, h)? {
            HVal::Bool(b) => Ok(b),
            _ => Err("expected a boolean filter".into()),
        },
        _ => Err("expected a boolean filter".into()),
    }
}

fn value(n: &Node, h: &HostInfo) -> Result<HVal, String> {
    Ok(match &n.kind {
        Kind::Paren(x) => value(x, h)?,
        Kind::Int(i) => HVal::Int(*i),
        Kind::Str(s) => HVal::Str(s.clone()),
        Kind::Bool(b) => HVal::Bool(*b),
        Kind::Ident(name) => match name.as_str() {
            "os" => HVal::Str(h.os.clone()),
            "os.id" => HVal::Str(h.os_id.clone()),
            "os.version_id" => HVal::Str(h.os_version_id.clone()),
            "kernel.version.major" => HVal::Int(h.kernel.0),
            "kernel.version.minor" => HVal::Int(h.kernel.1),
            "kernel.version.patch" => HVal::Int(h.kernel.2),
            "hostname" => HVal::Str(h.hostname.clone()),
            "origin" => HVal::Str(h.origin.clone()),
            "os.is_debian" => HVal::Bool(h.os_id == "debian"),
            "os.is_amazon_linux" => HVal::Bool(h.os_id == "amzn"),
            "os.is_rhel" => HVal::Bool(h.os_id == "rhel"),
            "os.is_sles" => HVal::Bool(h.os_id == "sles"),
            "os.is_oracle" => HVal::Bool(h.os_id == "ol"),
            "os.is_cos" => HVal::Bool(h.os_id == "cos"),
            other => return Err(format!("unknown filter field `{other}`")),
        },
        _ => return Err("unsupported value in a filter".into()),
    })
}

/// A version `7.71.0` as comparable numbers.
pub type Version = (u64, u64, u64);

pub fn parse_version(s: &str) -> Option<Version> {
    let mut it = s.trim().trim_start_matches('v').split('.');
    let major = it.next()?.trim().parse().ok()?;
    let minor = it.next().map_or(Some(0), |m| m.trim().parse().ok())?;
    let patch = it.next().map_or(Some(0), |p| {
        p.trim().split('-').next().unwrap_or("0").parse().ok()
    })?;
    Some((major, minor, patch))
}

/// Checks a constraint like `>= 7.46`, `< 7.71` or `>=7.65 <7.70` (space- or comma-separated, all must hold).
/// Returns `Err` when the constraint does not parse.
pub fn version_satisfies(constraint: &str, v: Version) -> Result<bool, String> {
    let mut ok = true;
    let mut any = false;
    let mut rest = constraint.replace(',', " ");
    // Allow `>= 7.46` (operator and version separated by a space).
    for op in [">=", "<=", "!=", ">", "<", "="] {
        rest = rest.replace(&format!("{op} "), op);
    }
    for part in rest.split_whitespace() {
        any = true;
        let (op, ver) = [">=", "<=", "!=", ">", "<", "=="]
            .iter()
            .chain(["="].iter())
            .find_map(|op| part.strip_prefix(op).map(|r| (*op, r)))
            .unwrap_or(("=", part));
        let want = parse_version(ver)
            .ok_or_else(|| format!("invalid version constraint `{constraint}`"))?;
        ok &= match op {
            ">=" => v >= want,
            "<=" => v <= want,
            ">" => v > want,
            "<" => v < want,
            "!=" => v != want,
            _ => v == want,
        };
    }
    if !any {
        return Err(format!("empty version constraint `{constraint}`"));
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_versions() {
        let h = HostInfo {
            kernel: (5, 10, 90),
            ..HostInfo::default()
        };
        assert!(eval_filter(r#"os == "linux""#, &h).unwrap());
        assert!(!eval_filter(r#"os == "windows""#, &h).unwrap());
        let dirty = r#"(kernel.version.major == 5 && ((kernel.version.minor >= 8 && kernel.version.minor <= 9) || (kernel.version.minor == 10 && kernel.version.patch < 102))) && (os == "linux")"#;
        assert!(eval_filter(dirty, &h).unwrap());
        assert!(!eval_filter(
            dirty,
            &HostInfo {
                kernel: (6, 1, 0),
                ..h.clone()
            }
        )
        .unwrap());
        assert!(eval_filter("nope == 1", &h).is_err());
        assert_eq!(parse_kernel("6.18.0-rc1-amd64"), (6, 18, 0));
        assert!(version_satisfies(">= 7.46", (7, 71, 0)).unwrap());
        assert!(!version_satisfies("< 7.71", (7, 71, 0)).unwrap());
        assert!(version_satisfies(">=7.65 <7.70", (7, 66, 1)).unwrap());
        assert!(version_satisfies(">= 7.70.1", (7, 71, 0)).unwrap());
        assert!(version_satisfies("bogus", (7, 71, 0)).is_err());
    }
}
