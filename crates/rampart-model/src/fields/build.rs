//! Assembles the registry from the building blocks: `PC(process)`, `F(<event>.file)`, event-specific fields.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use super::leaves::{file_leaves, process_leaves, Get};
use super::{
    FieldDef, FieldScope, FieldType, Getter, Scalar, Sink, Val, ARRAY, CASE_INSENSITIVE, LENGTH,
    PATH,
};
use crate::event::{Event, EventData, EventType};
use crate::events::{FileTarget, SyscallArgs};
use crate::file::FileInfo;
use crate::process::{Process, ProcessContext};

static EMPTY_PROCESS: LazyLock<Process> = LazyLock::new(Process::default);
static EMPTY_FILE: LazyLock<FileInfo> = LazyLock::new(FileInfo::default);

/// Visits the processes a process group reads from (one for `process`, several for `process.ancestors`).
type PSel =
    Arc<dyn Fn(&Event, Option<usize>, &mut dyn FnMut(&Process) -> bool) -> bool + Send + Sync>;
type FSel = for<'a> fn(&'a Event) -> Option<&'a FileInfo>;

/// The one process a non-iterator process group reads from: a type parameter, inlined into every accessor of
/// the group (no dynamic call to find the process).
trait PDirect: for<'a> Fn(&'a Event) -> &'a Process + Copy + Send + Sync + 'static {}
impl<D> PDirect for D where D: for<'a> Fn(&'a Event) -> &'a Process + Copy + Send + Sync + 'static {}

/// The processes of a context (`process`, `signal.target`, …), inlined like [`PDirect`].
trait CtxSel:
    for<'a> Fn(&'a Event) -> Option<&'a ProcessContext> + Copy + Send + Sync + 'static
{
}
impl<C> CtxSel for C where
    C: for<'a> Fn(&'a Event) -> Option<&'a ProcessContext> + Copy + Send + Sync + 'static
{
}

/// The processes a group reads: exactly one, or those an iterator visits (`process.ancestors`).
enum Procs<D> {
    One(D),
    Each(PSel),
}

/// `Procs::One(d)`, with the closure's signature taken from the bound.
fn one_process<D: PDirect>(d: D) -> Procs<D> {
    Procs::One(d)
}

/// An iterator group (the type parameter of `Procs::One` is unused).
fn each_process(sel: PSel) -> Procs<for<'a> fn(&'a Event) -> &'a Process> {
    Procs::Each(sel)
}

fn scalar<F>(f: F) -> Scalar
where
    F: for<'a> Fn(&'a Event) -> Val<'a> + Send + Sync + 'static,
{
    Arc::new(f)
}

/// An event-level accessor: direct for one value, visited for several.
enum Acc {
    One(Scalar),
    Many(Getter),
}

fn from_scalar(f: Scalar) -> Getter {
    Arc::new(move |e: &Event, _r: Option<usize>, s: &mut Sink<'_>| s(f(e)))
}

struct Builder {
    fields: HashMap<String, FieldDef>,
}

/// What the fields of one process group share.
struct Group<'g, D> {
    prefix: &'g str,
    scope: FieldScope,
    iterator: Option<&'g str>,
    procs: &'g Procs<D>,
}

impl Builder {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        name: String,
        ty: FieldType,
        scope: FieldScope,
        flags: u8,
        iterator: Option<&str>,
        getter: Getter,
        scalar: Option<Scalar>,
    ) {
        let def = FieldDef {
            name: name.clone(),
            ty,
            scope,
            array: flags & ARRAY != 0,
            iterator: iterator.map(str::to_string),
            path: flags & PATH != 0,
            case_insensitive: flags & CASE_INSENSITIVE != 0,
            has_length: flags & LENGTH != 0,
            getter,
            scalar,
        };
        self.fields.insert(name, def);
    }

    /// A field read straight from the event.
    fn ev(&mut self, name: &str, ty: FieldType, scope: FieldScope, flags: u8, acc: Acc) {
        let (getter, direct) = match acc {
            Acc::One(f) => (from_scalar(f.clone()), Some(f)),
            Acc::Many(g) => (g, None),
        };
        self.add(name.to_string(), ty, scope, flags, None, getter, direct);
    }

    /// `F(prefix)` read through `sel` (absent file = zero values).
    fn file_group(&mut self, prefix: &str, scope: FieldScope, sel: FSel) {
        for leaf in file_leaves() {
            let acc = match leaf.get {
                Get::One(f) => Acc::One(scalar(move |e| f(sel(e).unwrap_or(&EMPTY_FILE)))),
                Get::Many(f) => Acc::Many(Arc::new(
                    move |e: &Event, _r: Option<usize>, s: &mut Sink<'_>| {
                        f(sel(e).unwrap_or(&EMPTY_FILE), s)
                    },
                )),
            };
            self.ev(
                &format!("{prefix}.{}", leaf.suffix),
                leaf.ty,
                scope,
                leaf.flags,
                acc,
            );
        }
    }

    /// `P(prefix)` (with its `file` and `interpreter.file`) over `procs`.
    fn process_group<D: PDirect>(
        &mut self,
        prefix: &str,
        scope: FieldScope,
        iterator: Option<&str>,
        procs: Procs<D>,
    ) {
        let g = Group {
            prefix,
            scope,
            iterator,
            procs: &procs,
        };
        for leaf in process_leaves() {
            self.process_leaf(
                &g,
                leaf.suffix.to_string(),
                leaf.ty,
                leaf.flags,
                leaf.get,
                |p| p,
            );
        }
        for leaf in file_leaves() {
            let (ty, flags) = (leaf.ty, leaf.flags);
            let name = |sub: &str| format!("{sub}{}", leaf.suffix);
            self.process_leaf(&g, name("file."), ty, flags, leaf.get.clone(), |p| &p.file);
            self.process_leaf(&g, name("interpreter.file."), ty, flags, leaf.get, |p| {
                p.interpreter.as_ref().map_or(&EMPTY_FILE, |i| &i.file)
            });
        }
    }

    /// One field of a process group: `get` applied to the `part` of each process it reads. `part` is a type
    /// parameter so that it is inlined: an accessor makes one dynamic call per level of the chain (closure,
    /// process selector, leaf), not one per composed closure.
    fn process_leaf<T: 'static, P, D: PDirect>(
        &mut self,
        g: &Group<'_, D>,
        suffix: String,
        ty: FieldType,
        flags: u8,
        get: Get<T>,
        part: P,
    ) where
        P: for<'a> Fn(&'a Process) -> &'a T + Copy + Send + Sync + 'static,
    {
        let fast = match (g.procs, &get) {
            (&Procs::One(d), Get::One(f)) => {
                let f = *f;
                Some(scalar(move |e| f(part(d(e)))))
            }
            _ => None,
        };
        let getter: Getter = match g.procs {
            // A non-iterator group reads one process: no selector visit.
            &Procs::One(d) => Arc::new(move |e: &Event, _r: Option<usize>, s: &mut Sink<'_>| {
                get.visit(part(d(e)), s)
            }),
            Procs::Each(sel) => {
                let sel = sel.clone();
                Arc::new(move |e: &Event, r: Option<usize>, s: &mut Sink<'_>| {
                    sel(e, r, &mut |p: &Process| get.visit(part(p), s))
                })
            }
        };
        self.add(
            format!("{}.{suffix}", g.prefix),
            ty,
            g.scope,
            flags,
            g.iterator,
            getter,
            fast,
        );
    }

    /// `PC(prefix)`: the process, its parent and its ancestors (an iterator), plus `ancestors.length`.
    fn context(&mut self, prefix: &str, scope: FieldScope, ctx: impl CtxSel) {
        let current = one_process(move |e| ctx(e).map_or(&EMPTY_PROCESS, |c| c.process()));
        self.process_group(prefix, scope, None, current);
        let parent =
            one_process(move |e| ctx(e).and_then(|c| c.parent()).unwrap_or(&EMPTY_PROCESS));
        self.process_group(&format!("{prefix}.parent"), scope, None, parent);
        let ancestors: PSel = Arc::new(move |e, r, f| match (ctx(e), r) {
            (None, _) => false,
            (Some(c), None) => c.ancestors().any(f),
            (Some(c), Some(i)) => c.ancestors().nth(i).is_some_and(f),
        });
        let it = format!("{prefix}.ancestors");
        self.process_group(&it, scope, Some(&it), each_process(ancestors));
        let len = scalar(move |e| Val::Int(ctx(e).map_or(0, |c| c.ancestors().count()) as i64));
        self.ev(
            &format!("{prefix}.ancestors.length"),
            FieldType::Int,
            scope,
            0,
            Acc::One(len),
        );
    }
}

fn int(f: fn(&Event) -> i64) -> Acc {
    Acc::One(scalar(move |e| Val::Int(f(e))))
}
fn string(f: for<'a> fn(&'a Event) -> &'a str) -> Acc {
    Acc::One(scalar(move |e| Val::Str(f(e))))
}
fn boolean(f: fn(&Event) -> bool) -> Acc {
    Acc::One(scalar(move |e| Val::Bool(f(e))))
}

fn event_ctx(e: &Event) -> Option<&ProcessContext> {
    Some(&e.process)
}

fn file_target(e: &Event) -> Option<&FileTarget> {
    use EventData::*;
    match &e.data {
        Open(x) => Some(&x.file),
        Chmod(x) | Chown(x) | Mkdir(x) | Rmdir(x) | Rename(x) | Link(x) | Utimes(x)
        | Setxattr(x) | Removexattr(x) | Truncate(x) | Chdir(x) => Some(&x.file),
        Unlink(x) => Some(&x.file),
        Splice(x) => Some(&x.file),
        Mmap(x) => Some(&x.file),
        LoadModule(x) => Some(&x.file),
        _ => None,
    }
}
fn target_file(e: &Event) -> Option<&FileInfo> {
    file_target(e).map(|t| &t.file)
}
fn dest_file(e: &Event) -> Option<&FileInfo> {
    file_target(e).and_then(FileTarget::destination_file)
}
fn dest_namespace(e: &Event) -> &str {
    file_target(e)
        .and_then(|t| t.destination.as_ref())
        .map_or("", |d| d.namespace.as_str())
}

fn syscall_args(e: &Event) -> Option<&SyscallArgs> {
    use EventData::*;
    match &e.data {
        Open(x) => x.syscall.as_ref(),
        Unlink(x) => x.syscall.as_ref(),
        Mount(x) => x.syscall.as_ref(),
        Chmod(x) | Chown(x) | Mkdir(x) | Rmdir(x) | Rename(x) | Link(x) | Utimes(x)
        | Setxattr(x) | Removexattr(x) | Truncate(x) | Chdir(x) => x.syscall.as_ref(),
        _ => None,
    }
}
fn syscall_path(e: &Event) -> &str {
    syscall_args(e).map_or("", |s| s.path.as_str())
}
fn syscall_dest_path(e: &Event) -> &str {
    syscall_args(e)
        .and_then(|s| s.destination.as_ref())
        .map_or("", |d| d.path.as_str())
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
        Mount(x) => x.retval,
        Umount(x) => x.retval,
        Prctl(x) => x.retval,
        MemfdCreate(x) => x.retval,
        Unshare(x) | Setns(x) => x.retval,
        Connect(x) | Bind(x) | Accept(x) => x.retval,
        IoUringSetup(x) => x.retval,
        _ => 0,
    }
}

fn exec_process(e: &Event) -> &Process {
    match &e.data {
        EventData::Exec(p) => p,
        _ => e.process.process(),
    }
}

fn signal_target(e: &Event) -> Option<&ProcessContext> {
    match &e.data {
        EventData::Signal(s) => s.target.as_ref(),
        _ => None,
    }
}
fn ptrace_tracee(e: &Event) -> Option<&ProcessContext> {
    match &e.data {
        EventData::Ptrace(p) => p.tracee.as_ref(),
        _ => None,
    }
}

/// Reads a payload of one variant, or the default value when the event is of another type.
macro_rules! payload {
    ($e:expr, $variant:ident, $x:ident => $body:expr, $default:expr) => {
        match &$e.data {
            EventData::$variant($x) => $body,
            _ => $default,
        }
    };
}

pub(super) fn build() -> HashMap<String, FieldDef> {
    use EventType as T;
    use FieldType::*;
    let mut b = Builder {
        fields: HashMap::new(),
    };
    let common = FieldScope::Common;

    // event.* / container.* / cgroup.*
    b.ev(
        "event.timestamp",
        Timestamp,
        common,
        0,
        int(|e| e.event.timestamp as i64),
    );
    b.ev(
        "event.hostname",
        Str,
        common,
        0,
        string(|e| &e.event.hostname),
    );
    b.ev("event.origin", Str, common, 0, string(|e| &e.event.origin));
    b.ev("event.os", Str, common, 0, string(|_| "linux"));
    b.ev(
        "event.type",
        Str,
        common,
        0,
        string(|e| e.event.event_type.as_str()),
    );
    b.ev(
        "event.async",
        Bool,
        common,
        0,
        boolean(|e| e.event.is_async),
    );
    b.ev("event.compat", Bool, common, 0, boolean(|e| e.event.compat));
    // Service tags come from the workload; until the agent resolves them the field reads "".
    b.ev("event.service", Str, common, 0, string(|_| ""));
    b.ev(
        "event.source",
        Str,
        common,
        0,
        string(|e| {
            if e.event.origin == "procfs" {
                "snapshot"
            } else {
                "runtime"
            }
        }),
    );
    b.ev(
        "container.id",
        Str,
        common,
        0,
        string(|e| e.container.as_ref().map_or("", |c| c.id.as_str())),
    );
    b.ev(
        "container.runtime",
        Str,
        common,
        0,
        string(|e| e.container.as_ref().map_or("", |c| c.runtime.as_str())),
    );
    b.ev(
        "container.created_at",
        Timestamp,
        common,
        0,
        int(|e| e.container.as_ref().map_or(0, |c| c.created_at as i64)),
    );
    b.ev(
        "container.tags",
        Str,
        common,
        ARRAY,
        Acc::Many(Arc::new(|e, _r, s| {
            e.container
                .as_ref()
                .is_some_and(|c| c.tags.iter().any(|t| s(Val::Str(t))))
        })),
    );
    b.ev(
        "cgroup.id",
        Int,
        common,
        0,
        int(|e| e.process.cgroup.id as i64),
    );
    b.ev(
        "cgroup.file.inode",
        Int,
        common,
        0,
        int(|e| e.process.cgroup.id as i64),
    );
    b.ev("cgroup.file.mount_id", Int, common, 0, int(|_| 0));
    b.ev("cgroup.version", Int, common, 0, int(|_| 2));
    b.context("process", common, event_ctx);

    // Process events.
    b.process_group(
        "exec",
        FieldScope::Event(T::Exec),
        None,
        one_process(exec_process),
    );
    b.ev(
        "exec.syscall.path",
        Str,
        FieldScope::Event(T::Exec),
        PATH,
        string(|e| exec_process(e).file.path.as_str()),
    );
    b.process_group(
        "exit",
        FieldScope::Event(T::Exit),
        None,
        one_process(|e| e.process.process()),
    );
    let s = FieldScope::Event(T::Exit);
    b.ev(
        "exit.cause",
        Int,
        s,
        0,
        int(|e| payload!(e, Exit, x => x.cause as i64, 0)),
    );
    b.ev(
        "exit.code",
        Int,
        s,
        0,
        int(|e| payload!(e, Exit, x => x.code as i64, 0)),
    );

    // File events: F(<ev>.file), destinations, syscall aliases, retval.
    let file_events = [
        T::Open,
        T::Chmod,
        T::Chown,
        T::Mkdir,
        T::Rmdir,
        T::Unlink,
        T::Rename,
        T::Link,
        T::Utimes,
        T::Setxattr,
        T::Removexattr,
        T::Truncate,
        T::Chdir,
        T::Splice,
        T::Mmap,
        T::LoadModule,
    ];
    for t in file_events {
        let scope = FieldScope::Event(t);
        let p = t.as_str();
        b.file_group(&format!("{p}.file"), scope, target_file);
        b.ev(
            &format!("{p}.syscall.path"),
            Str,
            scope,
            PATH,
            string(syscall_path),
        );
    }
    for t in [T::Rename, T::Link] {
        b.file_group(
            &format!("{}.file.destination", t.as_str()),
            FieldScope::Event(t),
            dest_file,
        );
        b.ev(
            &format!("{}.syscall.destination.path", t.as_str()),
            Str,
            FieldScope::Event(t),
            PATH,
            string(syscall_dest_path),
        );
    }
    let dest_mode = |e: &Event| dest_file(e).map_or(0, |f| f.mode as i64);
    let dest_rights = |e: &Event| dest_file(e).map_or(0, |f| f.rights() as i64);
    for t in [T::Open, T::Chmod, T::Mkdir] {
        let scope = FieldScope::Event(t);
        b.ev(
            &format!("{}.file.destination.mode", t.as_str()),
            Int,
            scope,
            0,
            int(dest_mode),
        );
        b.ev(
            &format!("{}.file.destination.rights", t.as_str()),
            Int,
            scope,
            0,
            int(dest_rights),
        );
        b.ev(
            &format!("{}.syscall.mode", t.as_str()),
            Int,
            scope,
            0,
            int(|e| syscall_args(e).map_or(0, |s| s.mode as i64)),
        );
    }
    let s = FieldScope::Event(T::Chown);
    b.ev(
        "chown.file.destination.uid",
        Int,
        s,
        0,
        int(|e| dest_file(e).map_or(0, |f| f.uid as i64)),
    );
    b.ev(
        "chown.file.destination.gid",
        Int,
        s,
        0,
        int(|e| dest_file(e).map_or(0, |f| f.gid as i64)),
    );
    b.ev(
        "chown.file.destination.user",
        Str,
        s,
        0,
        string(|e| dest_file(e).map_or("", |f| f.user.as_str())),
    );
    b.ev(
        "chown.file.destination.group",
        Str,
        s,
        0,
        string(|e| dest_file(e).map_or("", |f| f.group.as_str())),
    );
    b.ev(
        "chown.syscall.uid",
        Int,
        s,
        0,
        int(|e| syscall_args(e).map_or(0, |s| s.uid as i64)),
    );
    b.ev(
        "chown.syscall.gid",
        Int,
        s,
        0,
        int(|e| syscall_args(e).map_or(0, |s| s.gid as i64)),
    );
    for t in [T::Setxattr, T::Removexattr] {
        let scope = FieldScope::Event(t);
        b.ev(
            &format!("{}.file.destination.name", t.as_str()),
            Str,
            scope,
            0,
            string(|e| dest_file(e).map_or("", |f| f.name.as_str())),
        );
        b.ev(
            &format!("{}.file.destination.namespace", t.as_str()),
            Str,
            scope,
            0,
            string(dest_namespace),
        );
    }
    let s = FieldScope::Event(T::Open);
    b.ev(
        "open.flags",
        Int,
        s,
        0,
        int(|e| payload!(e, Open, x => x.flags as i64, 0)),
    );
    b.ev(
        "open.syscall.flags",
        Int,
        s,
        0,
        int(|e| syscall_args(e).map_or(0, |s| s.flags as i64)),
    );
    let s = FieldScope::Event(T::Unlink);
    b.ev(
        "unlink.flags",
        Int,
        s,
        0,
        int(|e| payload!(e, Unlink, x => x.flags as i64, 0)),
    );
    b.ev(
        "unlink.syscall.flags",
        Int,
        s,
        0,
        int(|e| syscall_args(e).map_or(0, |s| s.flags as i64)),
    );
    b.ev(
        "unlink.syscall.dirfd",
        Int,
        s,
        0,
        int(|e| syscall_args(e).map_or(0, |s| s.dirfd)),
    );
    let s = FieldScope::Event(T::Splice);
    b.ev(
        "splice.pipe_entry_flag",
        Int,
        s,
        0,
        int(|e| payload!(e, Splice, x => x.pipe_entry_flag as i64, 0)),
    );
    b.ev(
        "splice.pipe_exit_flag",
        Int,
        s,
        0,
        int(|e| payload!(e, Splice, x => x.pipe_exit_flag as i64, 0)),
    );
    let s = FieldScope::Event(T::Mmap);
    b.ev(
        "mmap.protection",
        Int,
        s,
        0,
        int(|e| payload!(e, Mmap, x => x.protection as i64, 0)),
    );
    b.ev(
        "mmap.flags",
        Int,
        s,
        0,
        int(|e| payload!(e, Mmap, x => x.flags as i64, 0)),
    );
    let s = FieldScope::Event(T::Mount);
    b.ev(
        "mount.fs_type",
        Str,
        s,
        0,
        string(|e| payload!(e, Mount, x => x.fs_type.as_str(), "")),
    );
    b.ev(
        "mount.mountpoint.path",
        Str,
        s,
        PATH,
        string(|e| payload!(e, Mount, x => x.mountpoint.path.as_str(), "")),
    );
    b.ev(
        "mount.source.path",
        Str,
        s,
        PATH,
        string(|e| payload!(e, Mount, x => x.source.path.as_str(), "")),
    );
    b.ev(
        "mount.root.path",
        Str,
        s,
        PATH,
        string(|e| payload!(e, Mount, x => x.root.path.as_str(), "")),
    );
    b.ev(
        "mount.detached",
        Bool,
        s,
        0,
        boolean(|e| payload!(e, Mount, x => x.detached, false)),
    );
    b.ev(
        "mount.visible",
        Bool,
        s,
        0,
        boolean(|e| payload!(e, Mount, x => x.visible, false)),
    );
    b.ev(
        "mount.syscall.fs_type",
        Str,
        s,
        0,
        string(|e| payload!(e, Mount, x => x.fs_type.as_str(), "")),
    );
    b.ev(
        "mount.syscall.source.path",
        Str,
        s,
        PATH,
        string(|e| payload!(e, Mount, x => x.source.path.as_str(), "")),
    );
    b.ev(
        "mount.syscall.mountpoint.path",
        Str,
        s,
        PATH,
        string(|e| payload!(e, Mount, x => x.mountpoint.path.as_str(), "")),
    );
    let s = FieldScope::Event(T::Umount);
    b.ev(
        "umount.mountpoint.path",
        Str,
        s,
        PATH,
        string(|e| payload!(e, Umount, x => x.mountpoint.path.as_str(), "")),
    );

    // Kernel events.
    let s = FieldScope::Event(T::Mprotect);
    b.ev(
        "mprotect.vm_protection",
        Int,
        s,
        0,
        int(|e| payload!(e, Mprotect, x => x.vm_protection as i64, 0)),
    );
    b.ev(
        "mprotect.req_protection",
        Int,
        s,
        0,
        int(|e| payload!(e, Mprotect, x => x.req_protection as i64, 0)),
    );
    let s = FieldScope::Event(T::Ptrace);
    b.ev(
        "ptrace.request",
        Int,
        s,
        0,
        int(|e| payload!(e, Ptrace, x => x.request as i64, 0)),
    );
    b.context("ptrace.tracee", s, ptrace_tracee);
    let s = FieldScope::Event(T::Signal);
    b.ev(
        "signal.type",
        Int,
        s,
        0,
        int(|e| payload!(e, Signal, x => x.signal_type as i64, 0)),
    );
    b.ev(
        "signal.pid",
        Int,
        s,
        0,
        int(|e| payload!(e, Signal, x => x.pid as i64, 0)),
    );
    b.context("signal.target", s, signal_target);
    let s = FieldScope::Event(T::Bpf);
    b.ev(
        "bpf.cmd",
        Int,
        s,
        0,
        int(|e| payload!(e, Bpf, x => x.cmd as i64, 0)),
    );
    b.ev(
        "bpf.map.type",
        Int,
        s,
        0,
        int(|e| payload!(e, Bpf, x => x.map.as_ref().map_or(0, |m| m.map_type as i64), 0)),
    );
    b.ev(
        "bpf.map.name",
        Str,
        s,
        0,
        string(|e| payload!(e, Bpf, x => x.map.as_ref().map_or("", |m| m.name.as_str()), "")),
    );
    b.ev(
        "bpf.prog.type",
        Int,
        s,
        0,
        int(|e| payload!(e, Bpf, x => x.prog.as_ref().map_or(0, |p| p.prog_type as i64), 0)),
    );
    b.ev(
        "bpf.prog.attach_type",
        Int,
        s,
        0,
        int(|e| payload!(e, Bpf, x => x.prog.as_ref().map_or(0, |p| p.attach_type as i64), 0)),
    );
    b.ev(
        "bpf.prog.name",
        Str,
        s,
        0,
        string(|e| payload!(e, Bpf, x => x.prog.as_ref().map_or("", |p| p.name.as_str()), "")),
    );
    b.ev(
        "bpf.prog.tag",
        Str,
        s,
        0,
        string(|e| payload!(e, Bpf, x => x.prog.as_ref().map_or("", |p| p.tag.as_str()), "")),
    );
    b.ev(
        "bpf.prog.helpers",
        Int,
        s,
        ARRAY,
        Acc::Many(Arc::new(|e, _r, sink| {
            payload!(e, Bpf, x => x.prog.as_ref().is_some_and(|p| p.helpers.iter().any(|h| sink(Val::Int(*h as i64)))), false)
        })),
    );
    let s = FieldScope::Event(T::LoadModule);
    b.ev(
        "load_module.name",
        Str,
        s,
        0,
        string(|e| payload!(e, LoadModule, x => x.name.as_str(), "")),
    );
    b.ev(
        "load_module.loaded_from_memory",
        Bool,
        s,
        0,
        boolean(|e| payload!(e, LoadModule, x => x.loaded_from_memory, false)),
    );
    b.ev(
        "load_module.args",
        Str,
        s,
        0,
        string(|e| payload!(e, LoadModule, x => x.args.as_str(), "")),
    );
    b.ev(
        "load_module.args_truncated",
        Bool,
        s,
        0,
        boolean(|e| payload!(e, LoadModule, x => x.args_truncated, false)),
    );
    b.ev(
        "load_module.argv",
        Str,
        s,
        ARRAY,
        Acc::Many(Arc::new(
            |e, _r, sink| payload!(e, LoadModule, x => x.argv.iter().any(|a| sink(Val::Str(a))), false),
        )),
    );
    let s = FieldScope::Event(T::UnloadModule);
    b.ev(
        "unload_module.name",
        Str,
        s,
        0,
        string(|e| payload!(e, UnloadModule, x => x.name.as_str(), "")),
    );
    let s = FieldScope::Event(T::Setuid);
    b.ev(
        "setuid.uid",
        Int,
        s,
        0,
        int(|e| payload!(e, Setuid, x => x.uid as i64, 0)),
    );
    b.ev(
        "setuid.euid",
        Int,
        s,
        0,
        int(|e| payload!(e, Setuid, x => x.euid as i64, 0)),
    );
    b.ev(
        "setuid.fsuid",
        Int,
        s,
        0,
        int(|e| payload!(e, Setuid, x => x.fsuid as i64, 0)),
    );
    b.ev(
        "setuid.user",
        Str,
        s,
        0,
        string(|e| payload!(e, Setuid, x => x.user.as_str(), "")),
    );
    b.ev(
        "setuid.euser",
        Str,
        s,
        0,
        string(|e| payload!(e, Setuid, x => x.euser.as_str(), "")),
    );
    b.ev(
        "setuid.fsuser",
        Str,
        s,
        0,
        string(|e| payload!(e, Setuid, x => x.fsuser.as_str(), "")),
    );
    let s = FieldScope::Event(T::Setgid);
    b.ev(
        "setgid.gid",
        Int,
        s,
        0,
        int(|e| payload!(e, Setgid, x => x.gid as i64, 0)),
    );
    b.ev(
        "setgid.egid",
        Int,
        s,
        0,
        int(|e| payload!(e, Setgid, x => x.egid as i64, 0)),
    );
    b.ev(
        "setgid.fsgid",
        Int,
        s,
        0,
        int(|e| payload!(e, Setgid, x => x.fsgid as i64, 0)),
    );
    b.ev(
        "setgid.group",
        Str,
        s,
        0,
        string(|e| payload!(e, Setgid, x => x.group.as_str(), "")),
    );
    b.ev(
        "setgid.egroup",
        Str,
        s,
        0,
        string(|e| payload!(e, Setgid, x => x.egroup.as_str(), "")),
    );
    b.ev(
        "setgid.fsgroup",
        Str,
        s,
        0,
        string(|e| payload!(e, Setgid, x => x.fsgroup.as_str(), "")),
    );
    let s = FieldScope::Event(T::Capset);
    b.ev(
        "capset.cap_effective",
        Int,
        s,
        0,
        int(|e| payload!(e, Capset, x => x.cap_effective as i64, 0)),
    );
    b.ev(
        "capset.cap_permitted",
        Int,
        s,
        0,
        int(|e| payload!(e, Capset, x => x.cap_permitted as i64, 0)),
    );
    let s = FieldScope::Event(T::Prctl);
    b.ev(
        "prctl.option",
        Int,
        s,
        0,
        int(|e| payload!(e, Prctl, x => x.option as i64, 0)),
    );
    b.ev(
        "prctl.new_name",
        Str,
        s,
        0,
        string(|e| payload!(e, Prctl, x => x.new_name.as_str(), "")),
    );
    b.ev(
        "prctl.is_name_truncated",
        Bool,
        s,
        0,
        boolean(|e| payload!(e, Prctl, x => x.is_name_truncated, false)),
    );
    let s = FieldScope::Event(T::MemfdCreate);
    b.ev(
        "memfd_create.name",
        Str,
        s,
        0,
        string(|e| payload!(e, MemfdCreate, x => x.name.as_str(), "")),
    );
    b.ev(
        "memfd_create.flags",
        Int,
        s,
        0,
        int(|e| payload!(e, MemfdCreate, x => x.flags as i64, 0)),
    );
    b.ev(
        "unshare.flags",
        Int,
        FieldScope::Event(T::Unshare),
        0,
        int(|e| payload!(e, Unshare, x => x.flags as i64, 0)),
    );
    b.ev(
        "setns.flags",
        Int,
        FieldScope::Event(T::Setns),
        0,
        int(|e| payload!(e, Setns, x => x.flags as i64, 0)),
    );
    let s = FieldScope::Event(T::IoUringSetup);
    b.ev(
        "io_uring_setup.sq_entries",
        Int,
        s,
        0,
        int(|e| payload!(e, IoUringSetup, x => x.sq_entries as i64, 0)),
    );
    b.ev(
        "io_uring_setup.cq_entries",
        Int,
        s,
        0,
        int(|e| payload!(e, IoUringSetup, x => x.cq_entries as i64, 0)),
    );
    b.ev(
        "io_uring_setup.flags",
        Int,
        s,
        0,
        int(|e| payload!(e, IoUringSetup, x => x.flags as i64, 0)),
    );

    // Network events.
    for t in [T::Connect, T::Bind, T::Accept] {
        let scope = FieldScope::Event(t);
        let p = t.as_str();
        fn sock(e: &Event) -> Option<&crate::events::SocketEvent> {
            match &e.data {
                EventData::Connect(x) | EventData::Bind(x) | EventData::Accept(x) => Some(x),
                _ => None,
            }
        }
        b.ev(
            &format!("{p}.addr.ip"),
            Ip,
            scope,
            0,
            Acc::One(scalar(|e| {
                Val::Ip(sock(e).map_or(std::net::IpAddr::from([0, 0, 0, 0]), |x| x.addr.ip))
            })),
        );
        b.ev(
            &format!("{p}.addr.port"),
            Int,
            scope,
            0,
            int(|e| sock(e).map_or(0, |x| x.addr.port as i64)),
        );
        b.ev(
            &format!("{p}.addr.family"),
            Int,
            scope,
            0,
            int(|e| sock(e).map_or(0, |x| x.addr.family as i64)),
        );
        b.ev(
            &format!("{p}.addr.is_public"),
            Bool,
            scope,
            0,
            boolean(|e| sock(e).is_some_and(|x| x.addr.is_public())),
        );
        b.ev(
            &format!("{p}.protocol"),
            Int,
            scope,
            0,
            int(|e| sock(e).map_or(0, |x| x.protocol as i64)),
        );
        if t != T::Bind {
            b.ev(
                &format!("{p}.addr.hostname"),
                Str,
                scope,
                ARRAY | LENGTH | CASE_INSENSITIVE,
                Acc::Many(Arc::new(|e, _r, s| {
                    sock(e).is_some_and(|x| x.addr.hostname.iter().any(|h| s(Val::Str(h))))
                })),
            );
        }
    }
    let s = FieldScope::Event(T::Dns);
    b.ev(
        "dns.id",
        Int,
        s,
        0,
        int(|e| payload!(e, Dns, x => x.id as i64, 0)),
    );
    b.ev(
        "dns.question.name",
        Str,
        s,
        CASE_INSENSITIVE | LENGTH,
        string(|e| payload!(e, Dns, x => x.question.name.as_str(), "")),
    );
    b.ev(
        "dns.question.type",
        Int,
        s,
        0,
        int(|e| payload!(e, Dns, x => x.question.qtype as i64, 0)),
    );
    b.ev(
        "dns.question.class",
        Int,
        s,
        0,
        int(|e| payload!(e, Dns, x => x.question.class as i64, 0)),
    );
    b.ev(
        "dns.question.length",
        Int,
        s,
        0,
        int(|e| payload!(e, Dns, x => x.question.length as i64, 0)),
    );
    b.ev(
        "dns.question.count",
        Int,
        s,
        0,
        int(|e| payload!(e, Dns, x => x.question.count as i64, 0)),
    );
    b.ev(
        "dns.response.code",
        Int,
        s,
        0,
        int(|e| payload!(e, Dns, x => x.response.as_ref().map_or(0, |r| r.code as i64), 0)),
    );
    // Rampart addition: the answer section of a response, one value per answer.
    fn dns_answers(e: &Event) -> &[crate::events::DnsAnswer] {
        payload!(e, Dns, x => x.response.as_ref().map_or(&[][..], |r| r.answers.as_slice()), &[])
    }
    b.ev(
        "dns.response.answers.name",
        Str,
        s,
        ARRAY | CASE_INSENSITIVE,
        Acc::Many(Arc::new(|e, _r, sink| {
            dns_answers(e).iter().any(|a| sink(Val::Str(&a.name)))
        })),
    );
    b.ev(
        "dns.response.answers.type",
        Int,
        s,
        ARRAY,
        Acc::Many(Arc::new(|e, _r, sink| {
            dns_answers(e)
                .iter()
                .any(|a| sink(Val::Int(a.rtype as i64)))
        })),
    );
    b.ev(
        "dns.response.answers.address",
        Ip,
        s,
        ARRAY,
        Acc::Many(Arc::new(|e, _r, sink| {
            dns_answers(e)
                .iter()
                .filter_map(|a| a.address)
                .any(|ip| sink(Val::Ip(ip)))
        })),
    );
    b.ev(
        "dns.response.answers.target",
        Str,
        s,
        ARRAY | CASE_INSENSITIVE,
        Acc::Many(Arc::new(|e, _r, sink| {
            dns_answers(e).iter().any(|a| sink(Val::Str(&a.target)))
        })),
    );
    let s = FieldScope::Event(T::Imds);
    b.ev(
        "imds.type",
        Str,
        s,
        0,
        string(|e| payload!(e, Imds, x => x.imds_type.as_str(), "")),
    );
    b.ev(
        "imds.cloud_provider",
        Str,
        s,
        0,
        string(|e| payload!(e, Imds, x => x.cloud_provider.as_str(), "")),
    );
    b.ev(
        "imds.url",
        Str,
        s,
        0,
        string(|e| payload!(e, Imds, x => x.url.as_str(), "")),
    );
    b.ev(
        "imds.host",
        Str,
        s,
        0,
        string(|e| payload!(e, Imds, x => x.host.as_str(), "")),
    );
    b.ev(
        "imds.user_agent",
        Str,
        s,
        0,
        string(|e| payload!(e, Imds, x => x.user_agent.as_str(), "")),
    );
    b.ev(
        "imds.server",
        Str,
        s,
        0,
        string(|e| payload!(e, Imds, x => x.server.as_str(), "")),
    );
    b.ev(
        "imds.aws.is_imds_v2",
        Bool,
        s,
        0,
        boolean(|e| payload!(e, Imds, x => x.aws.is_imds_v2, false)),
    );
    b.ev(
        "imds.aws.security_credentials.type",
        Str,
        s,
        0,
        string(|e| payload!(e, Imds, x => x.aws.security_credentials.cred_type.as_str(), "")),
    );

    privilege_gain(&mut b);

    // retval on every syscall-backed event.
    for t in EventType::ALL {
        if !matches!(
            t,
            T::Exec
                | T::Fork
                | T::Exit
                | T::Setuid
                | T::Setgid
                | T::Capset
                | T::Dns
                | T::Imds
                | T::PrivilegeGain
        ) {
            b.ev(
                &format!("{}.retval", t.as_str()),
                Int,
                FieldScope::Event(*t),
                0,
                int(retval),
            );
        }
    }

    super::windows::register(&mut |name, ty, scope, flags| {
        b.ev(name, ty, scope, flags, Acc::One(scalar(|_e| Val::Str(""))));
    });
    b.fields
}

/// Rampart addition: `privilege_gain.*`, the agent's privilege-history check (`events::privilege`).
fn privilege_gain(b: &mut Builder) {
    use crate::events::{PrivilegeCreds, PrivilegeGainEvent, TaskCreds};
    use FieldType::*;
    type Side = fn(&PrivilegeGainEvent) -> &PrivilegeCreds;
    type Id = fn(&TaskCreds) -> u64;
    type Name = fn(&PrivilegeCreds) -> &str;
    fn gain(e: &Event) -> Option<&PrivilegeGainEvent> {
        payload!(e, PrivilegeGain, x => Some(x), None)
    }
    let s = FieldScope::Event(EventType::PrivilegeGain);
    b.ev(
        "privilege_gain.seen_at",
        Str,
        s,
        0,
        string(|e| gain(e).map_or("", |x| x.seen_at.as_str())),
    );
    b.ev(
        "privilege_gain.gained_ids",
        Str,
        s,
        ARRAY,
        Acc::Many(Arc::new(|e, _r, sink| {
            gain(e).is_some_and(|x| x.gained_ids.iter().any(|v| sink(Val::Str(v))))
        })),
    );
    b.ev(
        "privilege_gain.gained_caps",
        Int,
        s,
        0,
        int(|e| gain(e).map_or(0, |x| x.gained_caps as i64)),
    );
    let sides: [(&str, Side); 2] = [("previous", |x| &x.previous), ("current", |x| &x.current)];
    let ids: [(&str, Id); 10] = [
        ("uid", |c| c.uid.into()),
        ("euid", |c| c.euid.into()),
        ("suid", |c| c.suid.into()),
        ("fsuid", |c| c.fsuid.into()),
        ("gid", |c| c.gid.into()),
        ("egid", |c| c.egid.into()),
        ("sgid", |c| c.sgid.into()),
        ("fsgid", |c| c.fsgid.into()),
        ("cap_effective", |c| c.cap_effective),
        ("cap_permitted", |c| c.cap_permitted),
    ];
    let names: [(&str, Name); 4] = [
        ("user", |c| c.user.as_str()),
        ("euser", |c| c.euser.as_str()),
        ("group", |c| c.group.as_str()),
        ("egroup", |c| c.egroup.as_str()),
    ];
    for (side, pick) in sides {
        for (name, id) in ids {
            b.ev(
                &format!("privilege_gain.{side}.{name}"),
                Int,
                s,
                0,
                Acc::One(scalar(move |e| {
                    Val::Int(gain(e).map_or(0, |x| id(&pick(x).ids) as i64))
                })),
            );
        }
        for (name, text) in names {
            b.ev(
                &format!("privilege_gain.{side}.{name}"),
                Str,
                s,
                0,
                Acc::One(scalar(move |e| {
                    Val::Str(gain(e).map_or("", |x| text(pick(x))))
                })),
            );
        }
        b.ev(
            &format!("privilege_gain.{side}.init_user_ns"),
            Bool,
            s,
            0,
            Acc::One(scalar(move |e| {
                Val::Bool(gain(e).is_some_and(|x| pick(x).ids.init_user_ns))
            })),
        );
    }
}
