//! Policy files: YAML rules, macros and actions (Datadog's schema), host filters and `agent_version`,
//! merging across policies (`combine: override`, `disabled` toggles), and a per-rule load report with
//! file positions. A broken rule is reported and skipped; the rest of the policy loads.
//!
//! ```no_run
//! use rampart_policy::{load_paths, LoadOptions};
//! let loaded = load_paths(&["/etc/rampart/policies".into()], &LoadOptions::default()).unwrap();
//! for e in loaded.report.errors() {
//!     eprintln!("{e}");
//! }
//! let ruleset = loaded.ruleset; // evaluate with ruleset.evaluate(&event, &store)
//! ```

pub mod builtin;
pub mod bundle;
pub mod default;
pub mod filters;
pub mod locate;
mod merge;
pub mod report;
pub mod schema;

use std::fmt;
use std::path::{Path, PathBuf};

use rampart_secl::RuleSet;
use serde::Serialize;

pub use default::{default_policy, default_tests};
pub use filters::{HostInfo, Version};
pub use report::{match_report, to_json};

/// How policies are loaded.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub host: HostInfo,
    /// Datadog agent version to emulate for `agent_version` constraints; `None` accepts every rule.
    pub agent_version: Option<Version>,
    /// Also type-check rules that filters exclude (reported as filtered, with their check result).
    pub typecheck_filtered: bool,
    /// Suppressions by rule id: a match of the rule that also satisfies one of these expressions does not
    /// happen (the rule compiles as `(expression) && !(s1) && !(s2)…`).
    pub suppressions: std::collections::BTreeMap<String, Vec<String>>,
    /// Stop compiling at this instant (rules not compiled by then fail with "compile time budget
    /// exceeded"): for policies received from others, checked on a server.
    pub deadline: Option<std::time::Instant>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            host: HostInfo::detect(),
            agent_version: None,
            typecheck_filtered: true,
            suppressions: Default::default(),
            deadline: None,
        }
    }
}

/// One policy text.
#[derive(Debug, Clone)]
pub struct PolicySource {
    /// Policy name (file name without extension).
    pub name: String,
    /// File name shown in messages.
    pub file: String,
    pub text: String,
}

impl PolicySource {
    pub fn read(path: &Path) -> std::io::Result<PolicySource> {
        Ok(PolicySource {
            name: path
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
            file: path.display().to_string(),
            text: std::fs::read_to_string(path)?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Rule,
    Macro,
}

/// The outcome for one rule or macro.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Loaded,
    Disabled,
    /// Excluded by `filters` or `agent_version`; `check` is the type-check error, if any (None = it compiles).
    Filtered {
        reason: String,
        check: Option<String>,
    },
    /// Merged into an earlier definition with the same id (override or disabled toggle).
    Merged {
        into: String,
    },
    Error {
        reason: String,
    },
}

/// One rule or macro of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub id: String,
    pub kind: EntryKind,
    pub policy: String,
    pub file: String,
    pub line: usize,
    pub col: usize,
    #[serde(flatten)]
    pub status: Status,
    /// The event type of a compiled rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Where the expression text starts in the file (line, column, block scalar).
    #[serde(skip)]
    pub expr_start: Option<(usize, usize, bool)>,
    #[serde(skip)]
    pub block_lines: Vec<usize>,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            EntryKind::Rule => "rule",
            EntryKind::Macro => "macro",
        };
        write!(
            f,
            "{kind} {} ({}:{}:{})",
            self.id, self.file, self.line, self.col
        )?;
        match &self.status {
            Status::Loaded => write!(f, ": loaded"),
            Status::Disabled => write!(f, ": disabled"),
            Status::Filtered {
                reason,
                check: None,
            } => write!(f, ": filtered ({reason})"),
            Status::Filtered {
                reason,
                check: Some(c),
            } => write!(f, ": filtered ({reason}); would fail: {c}"),
            Status::Merged { into } => write!(f, ": merged into the definition in {into}"),
            Status::Error { reason } => write!(f, ": {reason}"),
        }
    }
}

/// A policy that could not be read or parsed at all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyReport {
    pub name: String,
    pub file: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of loading policies.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub policies: Vec<PolicyReport>,
    pub entries: Vec<Entry>,
}

/// Counts by status, for summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub rules: usize,
    pub loaded: usize,
    pub filtered: usize,
    /// Filtered rules that type-check (e.g. Windows rules against Datadog's Windows model).
    pub filtered_ok: usize,
    pub disabled: usize,
    pub merged: usize,
    pub failed: usize,
    pub macro_errors: usize,
}

impl Report {
    /// Rules and macros in error, and unreadable policies (as entries without a rule).
    pub fn errors(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.status, Status::Error { .. }))
    }

    pub fn policy_errors(&self) -> impl Iterator<Item = &PolicyReport> {
        self.policies.iter().filter(|p| p.error.is_some())
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some() || self.policy_errors().next().is_some()
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for e in &self.entries {
            if e.kind == EntryKind::Macro {
                c.macro_errors += matches!(e.status, Status::Error { .. }) as usize;
                continue;
            }
            c.rules += 1;
            match &e.status {
                Status::Loaded => c.loaded += 1,
                Status::Disabled => c.disabled += 1,
                Status::Filtered { check, .. } => {
                    c.filtered += 1;
                    c.filtered_ok += check.is_none() as usize;
                }
                Status::Merged { .. } => c.merged += 1,
                Status::Error { .. } => c.failed += 1,
            }
        }
        c
    }
}

/// Loaded policies: the compiled rule set and the report.
#[derive(Debug)]
pub struct Loaded {
    pub ruleset: RuleSet,
    pub report: Report,
}

/// Loads policy texts in order (earlier policies are the base for merges).
pub fn load_sources(sources: &[PolicySource], opts: &LoadOptions) -> Loaded {
    merge::load(sources, opts)
}

/// Expands directories into their `*.policy` files (`default.policy` first, then by name).
pub fn expand_paths(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "policy"))
                .collect();
            files.sort_by_key(|f| {
                (
                    f.file_name().is_none_or(|n| n != "default.policy"),
                    f.clone(),
                )
            });
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Reads and loads policy files and directories.
pub fn load_paths(paths: &[PathBuf], opts: &LoadOptions) -> std::io::Result<Loaded> {
    let sources = expand_paths(paths)?
        .iter()
        .map(|p| PolicySource::read(p))
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(load_sources(&sources, opts))
}
