//! SECL, the rule language of Rampart (compatible with Datadog Workload Protection's).
//!
//! Pipeline: [`lexer`] → [`ast::parse`] (precedence, mixed-chain warnings) → [`compile`] (name resolution,
//! macros, types, constant folding, precompiled matchers, event type) → [`eval`] (allocation-free
//! interpretation over borrowed event fields). [`RuleSet`] buckets compiled rules by event type, runs their
//! actions ([`variables`] for `set`) and derives kernel [`approvers`]. A match's report (`monitor`'s JSON) is
//! built by `rampart_policy::report` from the [`Match`] and the event.
//!
//! ```
//! use rampart_secl::{RuleSet, RuleSpec, RuleMeta, MemoryStore};
//! let rules = vec![RuleSpec {
//!     id: "shadow".into(),
//!     expression: r#"open.file.path == "/etc/shadow" && open.flags & O_WRONLY > 0"#.into(),
//!     meta: RuleMeta::default(),
//!     actions: vec![],
//! }];
//! let (set, report) = RuleSet::build(&[], &rules);
//! assert!(report.errors.is_empty());
//! assert_eq!(set.rules().len(), 1);
//! ```

pub mod approvers;
pub mod ast;
pub mod compile;
pub mod consts;
pub mod error;
pub mod eval;
mod exemptions;
pub mod fxhash;
pub mod glob;
mod guard;
mod index;
pub mod lexer;
mod merge;
pub mod ruleset;
mod sieve;
pub mod value;
pub mod variables;

pub use approvers::{Approvers, FieldApprovers, COMPAT_FIELD};
pub use compile::{compile, compile_value, Env, Macro, RuleEvent};
pub use error::{line_col, Error};
pub use eval::Cx;
pub use ruleset::{
    ActionKind, ActionOutcome, ActionSpec, BuildReport, KillScope, MacroSpec, Match, Origin, Rule,
    RuleError, RuleMeta, RuleSet, RuleSpec, RuleWarning, SetSpec,
};
pub use variables::{
    MemoryStore, NoVariables, ScopeKey, VarDecl, VarScope, VarType, VarValue, VariableStore,
};
