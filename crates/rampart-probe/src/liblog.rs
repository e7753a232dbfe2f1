//! Captures libbpf's messages (including the verifier log of a refused program) while objects load, so a
//! failure can say which program failed and why.

use std::sync::Mutex;

use libbpf_rs::PrintLevel;

static CAPTURED: Mutex<String> = Mutex::new(String::new());
/// libbpf's print callback is process-global: loads that capture it must not interleave.
static LOAD_LOCK: Mutex<()> = Mutex::new(());

fn capture(level: PrintLevel, msg: String) {
    tracing::debug!(target: "libbpf", ?level, "{}", msg.trim_end());
    if let Ok(mut buf) = CAPTURED.lock() {
        buf.push_str(&msg);
    }
}

/// Runs `f` with libbpf's output captured; returns its result and what libbpf printed.
pub(crate) fn with_captured_log<T>(f: impl FnOnce() -> T) -> (T, String) {
    let _guard = LOAD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Ok(mut buf) = CAPTURED.lock() {
        buf.clear();
    }
    let previous = libbpf_rs::set_print(Some((PrintLevel::Debug, capture)));
    let out = f();
    libbpf_rs::set_print(previous);
    let log = CAPTURED
        .lock()
        .map(|mut b| std::mem::take(&mut *b))
        .unwrap_or_default();
    (out, log)
}

/// The program libbpf names in a load failure (`libbpf: prog 'handle_exec': BPF program load failed: …`).
pub(crate) fn failed_program(log: &str) -> Option<String> {
    log.lines().filter(|l| l.contains("failed")).find_map(|l| {
        let start = l.find("prog '")? + "prog '".len();
        let end = l[start..].find('\'')?;
        Some(l[start..start + end].to_string())
    })
}

/// The last `n` lines of the verifier's log if there is one, else of libbpf's messages.
pub(crate) fn tail(log: &str, n: usize) -> String {
    let body = match (
        log.find("-- BEGIN PROG LOAD LOG --"),
        log.find("-- END PROG LOAD LOG --"),
    ) {
        (Some(b), Some(e)) if b < e => &log[b..e],
        _ => log,
    };
    let lines: Vec<&str> = body.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_failed_program() {
        let log = "libbpf: prog 'handle_exec': BPF program load failed: Permission denied\n\
                   libbpf: prog 'handle_exec': -- BEGIN PROG LOAD LOG --\n0: R1=ctx()\n\
                   R2 invalid mem access 'scalar'\n-- END PROG LOAD LOG --\n";
        assert_eq!(failed_program(log).as_deref(), Some("handle_exec"));
        assert!(tail(log, 2).ends_with("R2 invalid mem access 'scalar'"));
        assert_eq!(failed_program("libbpf: loaded fine\n"), None);
    }
}
