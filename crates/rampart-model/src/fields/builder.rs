//! Turns declarations into [`FieldDef`]s: one field read straight from the event ([`Builder::ev`]), the `F(x)` file
//! group, the `P(x)` process group and the `PC(x)` process context (process, parent, ancestors).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use super::leaves::{file_leaves, process_leaves, Get};
use super::{
    FieldDef, FieldScope, FieldType, Getter, Scalar, Sink, Val, ARRAY, CASE_INSENSITIVE, LENGTH,
    PATH,
};
use crate::event::Event;
use crate::file::FileInfo;
use crate::process::{Process, ProcessContext};

static EMPTY_PROCESS: LazyLock<Process> = LazyLock::new(Process::default);
static EMPTY_FILE: LazyLock<FileInfo> = LazyLock::new(FileInfo::default);

/// Where a declared field's value sits in the event's JSON serialisation, relative to what is declared: the
/// property test `fields::tests::json` reads it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Json {
    /// At the field's own name (`open.file.path` is `{"open":{"file":{"path":…}}}`).
    Same,
    /// At another path, relative like the name (`exec.syscall.path` is at `exec.file.path`).
    At(&'static str),
    /// Not serialised: derived from other values or a constant (`file.rights`, `event.os`).
    Computed,
}

impl Json {
    /// The absolute dotted path of a field named `prefix.suffix` whose value is serialised under `json_prefix`.
    fn resolve(self, json_prefix: &str, suffix: &str) -> Option<String> {
        let rel = match self {
            Json::Same => suffix,
            Json::At(path) => path,
            Json::Computed => return None,
        };
        Some(if json_prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{json_prefix}.{rel}")
        })
    }
}

/// Visits the processes a process group reads from (one for `process`, several for `process.ancestors`).
type PSel =
    Arc<dyn Fn(&Event, Option<usize>, &mut dyn FnMut(&Process) -> bool) -> bool + Send + Sync>;
pub(crate) type FSel = for<'a> fn(&'a Event) -> Option<&'a FileInfo>;

/// The one process a non-iterator process group reads from: a type parameter, inlined into every accessor of
/// the group (no dynamic call to find the process).
pub(crate) trait PDirect:
    for<'a> Fn(&'a Event) -> &'a Process + Copy + Send + Sync + 'static
{
}
impl<D> PDirect for D where D: for<'a> Fn(&'a Event) -> &'a Process + Copy + Send + Sync + 'static {}

/// The processes of a context (`process`, `signal.target`, …), inlined like [`PDirect`].
pub(crate) trait CtxSel:
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

pub(crate) fn scalar<F>(f: F) -> Scalar
where
    F: for<'a> Fn(&'a Event) -> Val<'a> + Send + Sync + 'static,
{
    Arc::new(f)
}

/// An event-level accessor: direct for one value, visited for several.
pub(crate) enum Acc {
    One(Scalar),
    Many(Getter),
}

fn from_scalar(f: Scalar) -> Getter {
    Arc::new(move |e: &Event, _r: Option<usize>, s: &mut Sink<'_>| s(f(e)))
}

/// What one field is, apart from how it is read.
struct Shape<'a> {
    name: String,
    ty: FieldType,
    scope: FieldScope,
    flags: u8,
    iterator: Option<&'a str>,
    json: Option<String>,
}

pub(crate) struct Builder {
    pub(crate) fields: HashMap<String, FieldDef>,
}

/// What the fields of one process group share.
struct Group<'g, D> {
    prefix: &'g str,
    scope: FieldScope,
    iterator: Option<&'g str>,
    procs: &'g Procs<D>,
}

impl Builder {
    pub(crate) fn new() -> Self {
        Builder {
            fields: HashMap::new(),
        }
    }

    fn add(&mut self, shape: Shape<'_>, getter: Getter, scalar: Option<Scalar>) {
        let Shape {
            name,
            ty,
            scope,
            flags,
            iterator,
            json,
        } = shape;
        let def = FieldDef {
            name: name.clone(),
            ty,
            scope,
            array: flags & ARRAY != 0,
            iterator: iterator.map(str::to_string),
            path: flags & PATH != 0,
            case_insensitive: flags & CASE_INSENSITIVE != 0,
            has_length: flags & LENGTH != 0,
            json_path: json,
            getter,
            scalar,
        };
        let previous = self.fields.insert(name, def);
        debug_assert!(previous.is_none(), "field declared twice");
    }

    /// A field read straight from the event (see the `fields!` table macro).
    pub(crate) fn ev(
        &mut self,
        name: impl Into<String>,
        ty: FieldType,
        scope: FieldScope,
        flags: u8,
        json: Json,
        acc: Acc,
    ) {
        let name = name.into();
        let json = json.resolve("", &name);
        let shape = Shape {
            name,
            ty,
            scope,
            flags,
            iterator: None,
            json,
        };
        self.add_acc(shape, acc);
    }

    fn add_acc(&mut self, shape: Shape<'_>, acc: Acc) {
        match acc {
            Acc::One(f) => self.add(shape, from_scalar(f.clone()), Some(f)),
            Acc::Many(g) => self.add(shape, g, None),
        }
    }

    /// `F(prefix)` read through `sel` (absent file = zero values), serialised at `prefix`.
    pub(crate) fn file_group(&mut self, prefix: &str, scope: FieldScope, sel: FSel) {
        for leaf in file_leaves() {
            let acc = match leaf.get {
                Get::One(f) => Acc::One(scalar(move |e| f(sel(e).unwrap_or(&EMPTY_FILE)))),
                Get::Many(f) => Acc::Many(Arc::new(
                    move |e: &Event, _r: Option<usize>, s: &mut Sink<'_>| {
                        f(sel(e).unwrap_or(&EMPTY_FILE), s)
                    },
                )),
            };
            let shape = Shape {
                name: format!("{prefix}.{}", leaf.suffix),
                ty: leaf.ty,
                scope,
                flags: leaf.flags,
                iterator: None,
                json: leaf.json.resolve(prefix, leaf.suffix),
            };
            self.add_acc(shape, acc);
        }
    }

    /// `P(prefix)` (with its `file` and `interpreter.file`) over `procs`, serialised at `json_prefix`.
    fn process_group<D: PDirect>(
        &mut self,
        (prefix, json_prefix): (&str, &str),
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
            let json = leaf.json.resolve(json_prefix, leaf.suffix);
            self.process_leaf(&g, leaf.suffix.to_string(), json, leaf, |p| p);
        }
        for leaf in file_leaves() {
            let sub = |group: &str| {
                let json = leaf
                    .json
                    .resolve(&format!("{json_prefix}.{group}"), leaf.suffix);
                (format!("{group}.{}", leaf.suffix), json)
            };
            let (name, json) = sub("file");
            self.process_leaf(&g, name, json, leaf.clone(), |p| &p.file);
            let (name, json) = sub("interpreter.file");
            self.process_leaf(&g, name, json, leaf, |p| {
                p.interpreter.as_ref().map_or(&EMPTY_FILE, |i| &i.file)
            });
        }
    }

    /// One field of a process group: the leaf applied to the `part` of each process it reads. `part` is a type
    /// parameter so that it is inlined: an accessor makes one dynamic call per level of the chain (closure,
    /// process selector, leaf), not one per composed closure.
    fn process_leaf<T: 'static, P, D: PDirect>(
        &mut self,
        g: &Group<'_, D>,
        suffix: String,
        json: Option<String>,
        leaf: super::leaves::Leaf<Get<T>>,
        part: P,
    ) where
        P: for<'a> Fn(&'a Process) -> &'a T + Copy + Send + Sync + 'static,
    {
        let get = leaf.get;
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
        let shape = Shape {
            name: format!("{}.{suffix}", g.prefix),
            ty: leaf.ty,
            scope: g.scope,
            flags: leaf.flags,
            iterator: g.iterator,
            json,
        };
        self.add(shape, getter, fast);
    }

    /// `P(prefix)` of the one process `d` selects, serialised at `json_prefix` (`exit.*` reads the event's
    /// process, serialised at `process`).
    pub(crate) fn process(
        &mut self,
        prefix: &str,
        json_prefix: &str,
        scope: FieldScope,
        d: impl PDirect,
    ) {
        self.process_group((prefix, json_prefix), scope, None, Procs::One(d));
    }

    /// `PC(prefix)`: the process, its parent and its ancestors (an iterator), plus `ancestors.length`.
    pub(crate) fn context(&mut self, prefix: &str, scope: FieldScope, ctx: impl CtxSel) {
        self.process(prefix, prefix, scope, move |e| {
            ctx(e).map_or(&EMPTY_PROCESS, |c| c.process())
        });
        let parent = format!("{prefix}.parent");
        self.process(&parent, &parent, scope, move |e| {
            ctx(e).and_then(|c| c.parent()).unwrap_or(&EMPTY_PROCESS)
        });
        let ancestors: PSel = Arc::new(move |e, r, f| match (ctx(e), r) {
            (None, _) => false,
            (Some(c), None) => c.ancestors().any(f),
            (Some(c), Some(i)) => c.ancestors().nth(i).is_some_and(f),
        });
        let it = format!("{prefix}.ancestors");
        // The type parameter of `Procs::One` is unused by an iterator group.
        let each: Procs<for<'a> fn(&'a Event) -> &'a Process> = Procs::Each(ancestors);
        self.process_group((&it, &it), scope, Some(&it), each);
        let len = scalar(move |e| Val::Int(ctx(e).map_or(0, |c| c.ancestors().count()) as i64));
        // The length of the serialised `ancestors` array, not a value in it.
        self.ev(
            format!("{prefix}.ancestors.length"),
            FieldType::Int,
            scope,
            0,
            Json::Computed,
            Acc::One(len),
        );
    }
}
