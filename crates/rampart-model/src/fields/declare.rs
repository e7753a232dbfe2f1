//! `fields!`: the table syntax every event-level field is declared with, one line per field:
//!
//! ```text
//! fields!(b, scope, EventData::Mount(x) => {
//!     "mount.fs_type", Str => &x.fs_type;                          // serialised at its SECL name
//!     "mount.source.path", Str | PATH => &x.source.path;           // with flags
//!     "mount.syscall.fs_type", Str @ "mount.fs_type" => &x.fs_type; // serialised elsewhere
//! });
//! fields!(b, scope, |e| {
//!     "event.os", Str @ computed => "linux";                       // not serialised
//! });
//! ```
//!
//! The kind is `Int`, `Timestamp`, `Str`, `Bool` or `Ip` (one value; the expression gives it), or `Ints`, `Strs`,
//! `Ips` (an array: the expression gives an iterator). A payload form reads the kind's zero value (no value, for
//! an array) from an event of another type. Each line expands to one closure (capturing at most a function
//! pointer): a read is one dynamic call, as in a hand-written accessor.

macro_rules! fields {
    // One line; `$read` gives `Option<value>` (`None`: the kind's zero value).
    (@line $b:expr, $scope:expr, $name:expr, $kind:ident [$($flag:ident)*] [$($json:tt)?], |$e:ident| $read:expr) => {
        $b.ev(
            $name,
            $crate::fields::declare::kind!(type $kind),
            $scope,
            $crate::fields::declare::kind!(flags $kind) $(| $crate::fields::$flag)*,
            $crate::fields::declare::json!($($json)?),
            $crate::fields::declare::kind!(read $kind, |$e| $read),
        )
    };
    ($b:expr, $scope:expr, |$e:ident| {
        $($name:expr, $kind:ident $(| $flag:ident)* $(@ $json:tt)? => $get:expr;)*
    }) => {
        $(
            $crate::fields::declare::fields!(
                @line $b, $scope, $name, $kind [$($flag)*] [$($json)?], |$e| Some($get)
            );
        )*
    };
    ($b:expr, $scope:expr, $pat:pat => {
        $($name:expr, $kind:ident $(| $flag:ident)* $(@ $json:tt)? => $get:expr;)*
    }) => {
        $(
            $crate::fields::declare::fields!(
                @line $b, $scope, $name, $kind [$($flag)*] [$($json)?], |e| match &e.data {
                    #[allow(unused_variables)]
                    $pat => Some($get),
                    _ => None,
                }
            );
        )*
    };
}

/// The type, flags and accessor of a kind; `read` takes `|e| Option<value>` (`None`: the zero value).
macro_rules! kind {
    (type Int) => { $crate::fields::FieldType::Int };
    (type Timestamp) => { $crate::fields::FieldType::Timestamp };
    (type Str) => { $crate::fields::FieldType::Str };
    (type Bool) => { $crate::fields::FieldType::Bool };
    (type Ip) => { $crate::fields::FieldType::Ip };
    (type Ints) => { $crate::fields::FieldType::Int };
    (type Strs) => { $crate::fields::FieldType::Str };
    (type Ips) => { $crate::fields::FieldType::Ip };
    (flags Ints) => { $crate::fields::ARRAY };
    (flags Strs) => { $crate::fields::ARRAY };
    (flags Ips) => { $crate::fields::ARRAY };
    (flags $other:ident) => { 0 };
    (read Int, |$e:ident| $get:expr) => {
        $crate::fields::declare::one!(|$e| $get, |v| Val::Int(v as i64), Val::Int(0))
    };
    (read Timestamp, |$e:ident| $get:expr) => {
        $crate::fields::declare::kind!(read Int, |$e| $get)
    };
    (read Str, |$e:ident| $get:expr) => {
        $crate::fields::declare::one!(|$e| $get, Val::Str, Val::Str(""))
    };
    (read Bool, |$e:ident| $get:expr) => {
        $crate::fields::declare::one!(|$e| $get, Val::Bool, Val::Bool(false))
    };
    (read Ip, |$e:ident| $get:expr) => {
        $crate::fields::declare::one!(|$e| $get, Val::Ip, Val::Ip(std::net::IpAddr::from([0, 0, 0, 0])))
    };
    (read Ints, |$e:ident| $get:expr) => {
        $crate::fields::declare::many!(|$e| $get, |v| Val::Int(v as i64))
    };
    (read Strs, |$e:ident| $get:expr) => {
        $crate::fields::declare::many!(|$e| $get, Val::Str)
    };
    (read Ips, |$e:ident| $get:expr) => {
        $crate::fields::declare::many!(|$e| $get, Val::Ip)
    };
}

macro_rules! one {
    (|$e:ident| $get:expr, $to_val:expr, $zero:expr) => {{
        use $crate::fields::Val;
        $crate::fields::builder::Acc::One($crate::fields::builder::scalar(
            // A constant (`event.os`) does not read the event.
            move |#[allow(unused_variables)] $e| match $get {
                Some(v) => ($to_val)(v),
                None => $zero,
            },
        ))
    }};
}

macro_rules! many {
    (|$e:ident| $get:expr, $to_val:expr) => {{
        use $crate::fields::Val;
        $crate::fields::builder::Acc::Many(std::sync::Arc::new(
            move |$e: &$crate::event::Event,
                  _reg: Option<usize>,
                  sink: &mut $crate::fields::Sink<'_>| {
                match $get {
                    Some(values) => values.into_iter().any(|v| sink(($to_val)(v))),
                    None => false,
                }
            },
        ))
    }};
}

/// The JSON source of a line: none (its own name), `@ "path"` or `@ computed`.
macro_rules! json {
    () => {
        $crate::fields::builder::Json::Same
    };
    (computed) => {
        $crate::fields::builder::Json::Computed
    };
    ($path:literal) => {
        $crate::fields::builder::Json::At($path)
    };
}

pub(crate) use {fields, json, kind, many, one};
