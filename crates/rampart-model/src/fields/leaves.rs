//! Leaf accessors of the two building blocks every event reuses: `F(x)` (a file) and `P(x)` (a process).

use std::sync::Arc;

use super::builder::Json;
use super::{FieldType, Sink, Val, ARRAY, LENGTH, PATH};
use crate::file::FileInfo;
use crate::process::Process;

/// A plain function pointer: composed accessors call it directly, one dynamic call per level fewer.
type OneFn<T> = for<'a> fn(&'a T) -> Val<'a>;
type ManyFn<T> = Arc<dyn Fn(&T, &mut Sink<'_>) -> bool + Send + Sync>;

/// How a leaf reads its value(s) from a `T` (a file or a process).
pub(crate) enum Get<T: ?Sized + 'static> {
    /// Exactly one value: read directly, without a sink (the evaluator's fast path).
    One(OneFn<T>),
    /// Any number of values, visited.
    Many(ManyFn<T>),
}

impl<T: ?Sized + 'static> Clone for Get<T> {
    fn clone(&self) -> Self {
        match self {
            Get::One(f) => Get::One(*f),
            Get::Many(f) => Get::Many(f.clone()),
        }
    }
}

impl<T: ?Sized + 'static> Get<T> {
    /// Visits the value(s) of `t`.
    #[inline]
    pub(crate) fn visit(&self, t: &T, s: &mut Sink<'_>) -> bool {
        match self {
            Get::One(f) => s(f(t)),
            Get::Many(f) => f(t, s),
        }
    }
}

pub(crate) type FGet = Get<FileInfo>;
pub(crate) type PGet = Get<Process>;

pub(crate) fn one<T: ?Sized + 'static>(f: OneFn<T>) -> Get<T> {
    Get::One(f)
}

/// One row of a group's table: the name relative to the group, what it is, where its JSON is, how it is read.
#[derive(Clone)]
pub(crate) struct Leaf<G> {
    pub suffix: &'static str,
    pub ty: FieldType,
    pub flags: u8,
    pub json: Json,
    pub get: G,
}

/// A leaf serialised at its own name.
fn leaf<G>(suffix: &'static str, ty: FieldType, flags: u8, get: G) -> Leaf<G> {
    Leaf {
        suffix,
        ty,
        flags,
        json: Json::Same,
        get,
    }
}

impl<G> Leaf<G> {
    /// Not serialised: derived from other values, or a constant.
    fn computed(self) -> Self {
        Leaf {
            json: Json::Computed,
            ..self
        }
    }

    /// Serialised at another path relative to the group.
    fn json_at(self, path: &'static str) -> Self {
        Leaf {
            json: Json::At(path),
            ..self
        }
    }
}

// Leaf accessors are written as macros so that each expands to a closure without captures: a function
// pointer, not a boxed closure calling another one.
macro_rules! fint {
    ($e:expr) => {
        one(|f: &FileInfo| Val::Int(($e)(f) as i64))
    };
}
macro_rules! pint {
    ($e:expr) => {
        one(|p: &Process| Val::Int(($e)(p) as i64))
    };
}
macro_rules! fstr {
    ($e:expr) => {
        one(|f: &FileInfo| Val::Str((($e) as for<'a> fn(&'a FileInfo) -> &'a str)(f)))
    };
}
macro_rules! pstr {
    ($e:expr) => {
        one(|p: &Process| Val::Str((($e) as for<'a> fn(&'a Process) -> &'a str)(p)))
    };
}
macro_rules! pbool {
    ($e:expr) => {
        one(|p: &Process| Val::Bool((($e) as fn(&Process) -> bool)(p)))
    };
}

fn pstrs(get: fn(&Process) -> &[String]) -> PGet {
    Get::Many(Arc::new(move |p: &Process, s: &mut Sink<'_>| {
        get(p).iter().any(|v| s(Val::Str(v)))
    }))
}
fn empty_str() -> PGet {
    one(|_: &Process| Val::Str(""))
}

/// `F(x)` leaves, relative to the file prefix (`path`, `name`, …).
pub(crate) fn file_leaves() -> Vec<Leaf<FGet>> {
    use FieldType::*;
    vec![
        leaf("path", Str, PATH | LENGTH, fstr!(|f| &f.path)),
        leaf("name", Str, LENGTH, fstr!(|f| &f.name)),
        leaf("extension", Str, 0, fstr!(|f| f.extension())).computed(),
        leaf("filesystem", Str, 0, fstr!(|f| &f.filesystem)),
        leaf("user", Str, 0, fstr!(|f| &f.user)),
        leaf("group", Str, 0, fstr!(|f| &f.group)),
        leaf("inode", Int, 0, fint!(|f: &FileInfo| f.inode)),
        leaf("mount_id", Int, 0, fint!(|f: &FileInfo| f.mount_id)),
        leaf("mode", Int, 0, fint!(|f: &FileInfo| f.mode)),
        leaf("rights", Int, 0, fint!(|f: &FileInfo| f.rights())).computed(),
        leaf("uid", Int, 0, fint!(|f: &FileInfo| f.uid)),
        leaf("gid", Int, 0, fint!(|f: &FileInfo| f.gid)),
        leaf(
            "change_time",
            Timestamp,
            0,
            fint!(|f: &FileInfo| f.change_time),
        ),
        leaf(
            "modification_time",
            Timestamp,
            0,
            fint!(|f: &FileInfo| f.modification_time),
        ),
        leaf(
            "in_upper_layer",
            Bool,
            0,
            one(|f: &FileInfo| Val::Bool(f.in_upper_layer)),
        ),
        leaf(
            "hashes",
            Str,
            ARRAY,
            Get::Many(Arc::new(|f: &FileInfo, s: &mut Sink<'_>| {
                f.hashes.iter().any(|v| s(Val::Str(v)))
            })),
        ),
    ]
}

/// `P(x)` leaves except the `file`/`interpreter.file` groups, relative to the process prefix.
pub(crate) fn process_leaves() -> Vec<Leaf<PGet>> {
    use FieldType::*;
    vec![
        leaf("pid", Int, 0, pint!(|p: &Process| p.pid)),
        leaf("tid", Int, 0, pint!(|p: &Process| p.tid)),
        leaf("ppid", Int, 0, pint!(|p: &Process| p.ppid)),
        leaf("comm", Str, 0, pstr!(|p| &p.comm)),
        leaf("tty_name", Str, 0, pstr!(|p| &p.tty_name)),
        leaf(
            "created_at",
            Timestamp,
            0,
            pint!(|p: &Process| p.created_at),
        ),
        leaf("exec_time", Timestamp, 0, pint!(|p: &Process| p.exec_time)),
        leaf("uid", Int, 0, pint!(|p: &Process| p.credentials.uid)),
        leaf("gid", Int, 0, pint!(|p: &Process| p.credentials.gid)),
        leaf("euid", Int, 0, pint!(|p: &Process| p.credentials.euid)),
        leaf("egid", Int, 0, pint!(|p: &Process| p.credentials.egid)),
        leaf("fsuid", Int, 0, pint!(|p: &Process| p.credentials.fsuid)),
        leaf("fsgid", Int, 0, pint!(|p: &Process| p.credentials.fsgid)),
        leaf("auid", Int, 0, pint!(|p: &Process| p.credentials.auid)),
        leaf("user", Str, 0, pstr!(|p| &p.credentials.user)),
        leaf("group", Str, 0, pstr!(|p| &p.credentials.group)),
        leaf("euser", Str, 0, pstr!(|p| &p.credentials.euser)),
        leaf("egroup", Str, 0, pstr!(|p| &p.credentials.egroup)),
        leaf("fsuser", Str, 0, pstr!(|p| &p.credentials.fsuser)),
        leaf("fsgroup", Str, 0, pstr!(|p| &p.credentials.fsgroup)),
        leaf(
            "cap_effective",
            Int,
            0,
            pint!(|p: &Process| p.credentials.cap_effective),
        ),
        leaf(
            "cap_permitted",
            Int,
            0,
            pint!(|p: &Process| p.credentials.cap_permitted),
        ),
        leaf("argv0", Str, 0, pstr!(|p| &p.argv0)),
        leaf("args", Str, 0, pstr!(|p| &p.args)),
        leaf("argv", Str, ARRAY, pstrs(|p| &p.argv)),
        leaf(
            "args_flags",
            Str,
            ARRAY,
            Get::Many(Arc::new(|p: &Process, s: &mut Sink<'_>| {
                visit_args_flags(&p.argv, s)
            })),
        )
        .computed(),
        leaf(
            "args_options",
            Str,
            ARRAY,
            Get::Many(Arc::new(|p: &Process, s: &mut Sink<'_>| {
                visit_args_options(&p.argv, s)
            })),
        )
        .computed(),
        leaf("args_truncated", Bool, 0, pbool!(|p| p.args_truncated)),
        leaf("args_size", Int, 0, pint!(|p: &Process| p.args_size)),
        leaf("args_longest", Int, 0, pint!(|p: &Process| p.args_longest)),
        leaf("envs", Str, ARRAY, pstrs(|p| &p.envs)),
        leaf("envp", Str, ARRAY, pstrs(|p| &p.envp)),
        leaf("envs_truncated", Bool, 0, pbool!(|p| p.envs_truncated)),
        leaf("is_thread", Bool, 0, pbool!(|p| p.is_thread)),
        leaf("is_kworker", Bool, 0, pbool!(|p| p.is_kworker)),
        leaf("is_ia32", Bool, 0, pbool!(|p| p.is_ia32)),
        leaf("is_exec", Bool, 0, pbool!(|p| p.exec_time != 0)).computed(),
        leaf("cgroup.id", Int, 0, pint!(|p: &Process| p.cgroup.id)),
        // On cgroup v2 the cgroup id is the inode of the cgroup directory.
        leaf(
            "cgroup.file.inode",
            Int,
            0,
            pint!(|p: &Process| p.cgroup.id),
        )
        .json_at("cgroup.id"),
        leaf("cgroup.version", Int, 0, pint!(|_p: &Process| 2)).computed(),
        leaf(
            "container.id",
            Str,
            0,
            pstr!(|p| p.container.as_ref().map_or("", |c| c.id.as_str())),
        ),
        // Kubernetes/SSH sessions are not tracked yet: the fields exist (Datadog rules use them) and read "".
        leaf("user_session.k8s_username", Str, 0, empty_str()).computed(),
        leaf("user_session.k8s_uid", Str, 0, empty_str()).computed(),
        leaf("user_session.ssh_username", Str, 0, empty_str()).computed(),
        leaf("user_session.ssh_client_ip", Str, 0, empty_str()).computed(),
        leaf("user_session.ssh_auth_method", Str, 0, empty_str()).computed(),
    ]
}

/// `args_flags`: `-ln` gives `l`, `n` (and `ln`), `--recursive` gives `recursive`; `--x=1` is an option.
pub fn visit_args_flags(argv: &[String], sink: &mut Sink<'_>) -> bool {
    for arg in argv {
        let Some(mut name) = arg.strip_prefix('-') else {
            continue;
        };
        let mut short = true;
        if let Some(long) = name.strip_prefix('-') {
            name = long;
            short = false;
        }
        if name.is_empty() || name.contains('=') {
            continue;
        }
        if short && name.chars().all(|c| c.is_ascii_alphabetic()) {
            for (i, c) in name.char_indices() {
                if sink(Val::Str(&name[i..i + c.len_utf8()])) {
                    return true;
                }
            }
        }
        if (!short || name.len() > 1) && sink(Val::Str(name)) {
            return true;
        }
    }
    false
}

/// `args_options`: `--width=8`, `--width 8` and `-T 8` give `width=8`, `width=8` and `T=8`.
pub fn visit_args_options(argv: &[String], sink: &mut Sink<'_>) -> bool {
    thread_local! {
        // `name=value` is built in a reused buffer: no allocation per event.
        static BUF: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    let mut i = 0;
    while i < argv.len() {
        let arg = &argv[i];
        i += 1;
        let Some(mut name) = arg.strip_prefix('-') else {
            continue;
        };
        if let Some(long) = name.strip_prefix('-') {
            name = long;
        }
        if name.is_empty() {
            continue;
        }
        if name.contains('=') {
            if sink(Val::Str(name)) {
                return true;
            }
        } else if let Some(next) = argv.get(i).filter(|n| !n.starts_with('-')) {
            // Most options fit on the stack, which is cheaper than reaching the thread-local buffer.
            let mut stack = [0u8; 128];
            let n = name.len() + 1 + next.len();
            if n <= stack.len() {
                stack[..name.len()].copy_from_slice(name.as_bytes());
                stack[name.len()] = b'=';
                stack[name.len() + 1..n].copy_from_slice(next.as_bytes());
                // Always UTF-8 (two strings and `=`); the check is a formality.
                if let Ok(opt) = std::str::from_utf8(&stack[..n]) {
                    if sink(Val::Str(opt)) {
                        return true;
                    }
                    continue;
                }
            }
            let stop = BUF.with(|b| match b.try_borrow_mut() {
                Ok(mut buf) => {
                    buf.clear();
                    buf.push_str(name);
                    buf.push('=');
                    buf.push_str(next);
                    sink(Val::Str(&buf))
                }
                // Re-entered from the sink: use a fresh buffer.
                Err(_) => sink(Val::Str(&format!("{name}={next}"))),
            });
            if stop {
                return true;
            }
        }
    }
    false
}
