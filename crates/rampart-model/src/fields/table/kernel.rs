//! Kernel and credential events: `mprotect`, `ptrace`, `signal`, `setrlimit`, `bpf`, modules, `set*id`,
//! `capset`, `prctl`, `memfd_create`, namespaces and `io_uring_setup`.

use crate::event::{EventData, EventType as T};
use crate::fields::builder::Builder;
use crate::fields::declare::fields;
use crate::fields::FieldScope;

pub(super) fn declare(b: &mut Builder) {
    fields!(b, FieldScope::Event(T::Mprotect), EventData::Mprotect(x) => {
        "mprotect.vm_protection", Int => x.vm_protection;
        "mprotect.req_protection", Int => x.req_protection;
    });
    let ptrace = FieldScope::Event(T::Ptrace);
    fields!(b, ptrace, EventData::Ptrace(x) => {
        "ptrace.request", Int => x.request;
    });
    b.context("ptrace.tracee", ptrace, |e| match &e.data {
        EventData::Ptrace(p) => p.tracee.as_ref(),
        _ => None,
    });
    let signal = FieldScope::Event(T::Signal);
    fields!(b, signal, EventData::Signal(x) => {
        "signal.type", Int => x.signal_type;
        "signal.pid", Int => x.pid;
    });
    b.context("signal.target", signal, |e| match &e.data {
        EventData::Signal(s) => s.target.as_ref(),
        _ => None,
    });
    let setrlimit = FieldScope::Event(T::Setrlimit);
    fields!(b, setrlimit, EventData::Setrlimit(x) => {
        "setrlimit.resource", Int => x.resource;
        "setrlimit.rlim_cur", Int => x.rlim_cur;
        "setrlimit.rlim_max", Int => x.rlim_max;
    });
    b.context("setrlimit.target", setrlimit, |e| match &e.data {
        EventData::Setrlimit(s) => s.target.as_ref(),
        _ => None,
    });
    fields!(b, FieldScope::Event(T::Bpf), EventData::Bpf(x) => {
        "bpf.cmd", Int => x.cmd;
        "bpf.map.type", Int => x.map.as_ref().map_or(0, |m| m.map_type);
        "bpf.map.name", Str => x.map.as_ref().map_or("", |m| m.name.as_str());
        "bpf.prog.type", Int => x.prog.as_ref().map_or(0, |p| p.prog_type);
        "bpf.prog.attach_type", Int => x.prog.as_ref().map_or(0, |p| p.attach_type);
        "bpf.prog.name", Str => x.prog.as_ref().map_or("", |p| p.name.as_str());
        "bpf.prog.tag", Str => x.prog.as_ref().map_or("", |p| p.tag.as_str());
        "bpf.prog.helpers", Ints => x.prog.iter().flat_map(|p| &p.helpers).copied();
    });
    fields!(b, FieldScope::Event(T::LoadModule), EventData::LoadModule(x) => {
        "load_module.name", Str => &x.name;
        "load_module.loaded_from_memory", Bool => x.loaded_from_memory;
        "load_module.args", Str => &x.args;
        "load_module.args_truncated", Bool => x.args_truncated;
        "load_module.argv", Strs => &x.argv;
    });
    fields!(b, FieldScope::Event(T::UnloadModule), EventData::UnloadModule(x) => {
        "unload_module.name", Str => &x.name;
    });
    fields!(b, FieldScope::Event(T::Setuid), EventData::Setuid(x) => {
        "setuid.uid", Int => x.uid;
        "setuid.euid", Int => x.euid;
        "setuid.fsuid", Int => x.fsuid;
        "setuid.user", Str => &x.user;
        "setuid.euser", Str => &x.euser;
        "setuid.fsuser", Str => &x.fsuser;
    });
    fields!(b, FieldScope::Event(T::Setgid), EventData::Setgid(x) => {
        "setgid.gid", Int => x.gid;
        "setgid.egid", Int => x.egid;
        "setgid.fsgid", Int => x.fsgid;
        "setgid.group", Str => &x.group;
        "setgid.egroup", Str => &x.egroup;
        "setgid.fsgroup", Str => &x.fsgroup;
    });
    fields!(b, FieldScope::Event(T::Capset), EventData::Capset(x) => {
        "capset.cap_effective", Int => x.cap_effective;
        "capset.cap_permitted", Int => x.cap_permitted;
    });
    fields!(b, FieldScope::Event(T::Prctl), EventData::Prctl(x) => {
        "prctl.option", Int => x.option;
        "prctl.new_name", Str => &x.new_name;
        "prctl.is_name_truncated", Bool => x.is_name_truncated;
    });
    fields!(b, FieldScope::Event(T::MemfdCreate), EventData::MemfdCreate(x) => {
        "memfd_create.name", Str => &x.name;
        "memfd_create.flags", Int => x.flags;
    });
    fields!(b, FieldScope::Event(T::Unshare), EventData::Unshare(x) => {
        "unshare.flags", Int => x.flags;
    });
    fields!(b, FieldScope::Event(T::Setns), EventData::Setns(x) => {
        "setns.flags", Int => x.flags;
    });
    fields!(b, FieldScope::Event(T::IoUringSetup), EventData::IoUringSetup(x) => {
        "io_uring_setup.sq_entries", Int => x.sq_entries;
        "io_uring_setup.cq_entries", Int => x.cq_entries;
        "io_uring_setup.flags", Int => x.flags;
    });
}
