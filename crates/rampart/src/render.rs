//! Human-readable one-line rendering of events for `rampart monitor` without `--json`.
//!
//! Every string in an event is attacker-controlled (file names, argv, comm): control characters and quotes
//! are escaped so nothing written to the terminal can move the cursor, recolour it or fake another line.

use std::fmt::Write;

use rampart_model::{Event, EventData, ExitCause, Process};

/// One line describing `event`.
pub fn event_line(event: &Event) -> String {
    let mut line = String::with_capacity(160);
    let _ = write!(
        line,
        "{} {:<5}",
        timestamp(event.event.timestamp),
        event.event.event_type.as_str()
    );
    let p = event.process.process();
    let _ = write!(
        line,
        " pid={} ppid={} uid={}",
        p.pid, p.ppid, p.credentials.uid
    );
    if !p.credentials.user.is_empty() {
        let _ = write!(line, "({})", escape(&p.credentials.user));
    }
    match &event.data {
        EventData::Exec(image) => {
            let _ = write!(line, " {}", command_line(image));
            if let Some(interp) = &image.interpreter {
                let _ = write!(line, " interpreter={}", escape(&interp.file.path));
            }
        }
        EventData::Fork(f) => {
            let _ = write!(line, " parent={} {}", f.parent_pid, escape(&p.file.path));
        }
        EventData::Exit(e) => {
            let _ = write!(line, " {}", escape(&p.file.path));
            match e.cause {
                ExitCause::Exited => {
                    let _ = write!(line, " code={}", e.code);
                }
                ExitCause::Signaled => {
                    let _ = write!(line, " signal={}", e.code);
                }
                ExitCause::Coredumped => {
                    let _ = write!(line, " signal={} (core dumped)", e.code);
                }
            }
        }
        // Other event types: the payload as compact JSON (string values escaped by the serializer).
        other => {
            let _ = write!(
                line,
                " {} {}",
                escape(&p.file.path),
                escape(&payload_json(other))
            );
        }
    }
    if let Some(parent) = event.process.parent() {
        let _ = write!(line, " parent_exe={}", escape(&parent.file.path));
    }
    if let Some(c) = &event.container {
        let _ = write!(line, " container={}", &c.id[..c.id.len().min(12)]);
        if let Some(image) = &c.image {
            let _ = write!(
                line,
                " image={}:{}",
                escape(&image.name),
                escape(&image.tag)
            );
        }
    }
    line
}

/// The executable and its arguments, each quoted when needed.
fn command_line(p: &Process) -> String {
    let mut out = escape(&p.file.path);
    for arg in &p.argv {
        out.push(' ');
        out.push_str(&quote(arg));
    }
    if p.args_truncated {
        out.push_str(" …");
    }
    out
}

/// Quotes an argument that contains spaces, quotes or nothing at all.
fn quote(arg: &str) -> String {
    let escaped = escape(arg);
    if arg.is_empty() || arg.contains([' ', '"', '\'']) {
        format!("\"{}\"", escaped.replace('"', "\\\""))
    } else {
        escaped
    }
}

/// Escapes control characters (including ESC and newlines) and backslashes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "{}", c.escape_default());
            }
            c => out.push(c),
        }
    }
    out
}

/// The payload object alone (`{"file":…}` for `"open":{"file":…}`).
fn payload_json(data: &EventData) -> String {
    match serde_json::to_value(data) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .next()
            .map(|(_, v)| v.to_string())
            .unwrap_or_default(),
        Ok(v) => v.to_string(),
        Err(e) => format!("<unprintable: {e}>"),
    }
}

fn timestamp(epoch_ns: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(epoch_ns);
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_model::{FileInfo, ProcessContext, ProcessNode};

    #[test]
    fn exec_line_quotes_arguments_and_escapes_controls() {
        let mut p = Process {
            pid: 5,
            ppid: 1,
            file: FileInfo::from_path("/usr/bin/true"),
            ..Default::default()
        };
        p.set_argv(vec![
            "/bin/true".into(),
            "a".into(),
            "b c".into(),
            "\x1b[31mred\n".into(),
        ]);
        let node = ProcessNode::new(p, None);
        let ev = Event::new(
            0,
            ProcessContext::new(node.clone()),
            EventData::Exec(node.process.clone()),
        );
        let line = event_line(&ev);
        assert!(
            line.contains("exec  pid=5 ppid=1 uid=0 /usr/bin/true a \"b c\" \\u{1b}[31mred\\n"),
            "{line}"
        );
        assert!(!line.contains('\x1b') && !line.contains('\n'));
    }
}
