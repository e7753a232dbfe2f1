//! Every SECL field, declared once: by event family, each field one line of a `fields!` table (its name, kind,
//! flags, where the JSON holds it and how it is read), or a group (`F(x)`, `P(x)`, `PC(x)`) of the leaf tables.

mod common;
mod file;
mod kernel;
mod network;
mod privilege;
mod process;
mod windows;

pub(crate) use windows::EVENT_TYPES as WINDOWS_EVENT_TYPES;

use std::collections::HashMap;

use super::builder::Builder;
use super::declare::fields;
use super::FieldDef;
use crate::event::{Event, EventData, EventType};

pub(super) fn build() -> HashMap<String, FieldDef> {
    let mut b = Builder::new();
    common::declare(&mut b);
    process::declare(&mut b);
    file::declare(&mut b);
    kernel::declare(&mut b);
    network::declare(&mut b);
    privilege::declare(&mut b);
    retvals(&mut b);
    windows::declare(&mut b);
    b.fields
}

/// The event types without a `<ev>.retval`: no syscall's return value (or none captured) is in their payload.
const NO_RETVAL: [EventType; 9] = [
    EventType::Exec,
    EventType::Fork,
    EventType::Exit,
    EventType::Setuid,
    EventType::Setgid,
    EventType::Capset,
    EventType::Dns,
    EventType::Imds,
    EventType::PrivilegeGain,
];

/// `<ev>.retval` of every other event type.
fn retvals(b: &mut Builder) {
    for t in EventType::ALL.iter().filter(|t| !NO_RETVAL.contains(t)) {
        let scope = super::FieldScope::Event(*t);
        fields!(b, scope, |e| {
            format!("{t}.retval"), Int => retval(e);
        });
    }
}

fn retval(e: &Event) -> i64 {
    use EventData::*;
    match &e.data {
        Open(x) => x.retval,
        Chmod(x) | Chown(x) | Mkdir(x) | Rmdir(x) | Rename(x) | Link(x) | Utimes(x)
        | Setxattr(x) | Removexattr(x) | Truncate(x) | Chdir(x) => x.retval,
        Unlink(x) => x.retval,
        Splice(x) => x.retval,
        Mmap(x) => x.retval,
        Mprotect(x) => x.retval,
        Ptrace(x) => x.retval,
        Bpf(x) => x.retval,
        LoadModule(x) => x.retval,
        UnloadModule(x) => x.retval,
        Signal(x) => x.retval,
        Setrlimit(x) => x.retval,
        Mount(x) => x.retval,
        Umount(x) => x.retval,
        Prctl(x) => x.retval,
        MemfdCreate(x) => x.retval,
        Unshare(x) | Setns(x) => x.retval,
        Connect(x) | Bind(x) | Accept(x) => x.retval,
        IoUringSetup(x) => x.retval,
        Exec(_) | Fork(_) | Exit(_) | Setuid(_) | Setgid(_) | Capset(_) | Dns(_) | Imds(_)
        | PrivilegeGain(_) => 0,
    }
}
