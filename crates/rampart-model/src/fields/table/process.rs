//! Process events: `exec.*` (the new image, `P(exec)`) and `exit.*` (the exiting process and its status).

use crate::event::{Event, EventData, EventType};
use crate::fields::builder::Builder;
use crate::fields::declare::fields;
use crate::fields::FieldScope;
use crate::process::Process;

/// The image an exec loaded (the payload; the event's process otherwise).
fn exec_process(e: &Event) -> &Process {
    match &e.data {
        EventData::Exec(p) => p,
        _ => e.process.process(),
    }
}

pub(super) fn declare(b: &mut Builder) {
    let exec = FieldScope::Event(EventType::Exec);
    b.process("exec", "exec", exec, exec_process);
    fields!(b, exec, |e| {
        "exec.syscall.path", Str | PATH @ "exec.file.path" => exec_process(e).file.path.as_str();
    });

    let exit = FieldScope::Event(EventType::Exit);
    // `exit.*` describes the event's own process, serialised as `process`.
    b.process("exit", "process", exit, |e| e.process.process());
    fields!(b, exit, EventData::Exit(x) => {
        // The cause's number; the JSON has its name (`SIGNALED`).
        "exit.cause", Int @ computed => x.cause as i64;
        "exit.code", Int => x.code;
    });
}
