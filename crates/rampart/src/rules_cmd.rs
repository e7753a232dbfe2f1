//! `rampart rules check PATH…` and `rampart rules test PATH --events FILE.jsonl`.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use rampart_model::Event;
use rampart_policy::default::TestTable;
use rampart_policy::{
    default_policy, default_tests, load_paths, load_sources, Counts, EntryKind, LoadOptions,
    Loaded, Status,
};
use rampart_secl::MemoryStore;

/// Check policies and try rules on recorded events.
#[derive(Debug, Args)]
pub struct RulesCommand {
    #[command(subcommand)]
    pub command: RulesSubcommand,
}

#[derive(Debug, Subcommand)]
pub enum RulesSubcommand {
    /// Load and type-check policies: one line per rule in error; non-zero exit if any rule fails.
    Check(CheckArgs),
    /// Evaluate policies over recorded events (JSON lines) and print every match as JSON.
    Test(TestArgs),
    /// List rules without a real-world trigger or benign test case; non-zero exit if any (default: the
    /// embedded default policy and its test table).
    Coverage(CoverageArgs),
}

#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Policy file or directory (repeatable; default: the embedded default policy).
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Test table (YAML with `cases: {RULE_ID: {trigger, benign}}`; default: the default policy's tests).
    #[arg(long, value_name = "PATH")]
    pub tests: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Policy files or directories of `*.policy` files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Print the full report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also list rules that loaded, were filtered or disabled.
    #[arg(long, short)]
    pub verbose: bool,
    /// Emulate this Datadog agent version for `agent_version` constraints (default: accept all).
    #[arg(long, value_name = "VERSION")]
    pub agent_version: Option<String>,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Policy files or directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Recorded events, one JSON object per line (`-` for stdin).
    #[arg(long, value_name = "FILE.jsonl")]
    pub events: PathBuf,
    /// Emulate this Datadog agent version for `agent_version` constraints.
    #[arg(long, value_name = "VERSION")]
    pub agent_version: Option<String>,
}

pub fn run(cmd: RulesCommand) -> anyhow::Result<ExitCode> {
    match cmd.command {
        RulesSubcommand::Check(a) => check(a, &mut std::io::stdout().lock()),
        RulesSubcommand::Coverage(a) => coverage(a, &mut std::io::stdout().lock()),
        RulesSubcommand::Test(a) => test(
            a,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        ),
    }
}

fn options(agent_version: Option<&str>) -> anyhow::Result<LoadOptions> {
    let agent_version = agent_version
        .map(|v| {
            rampart_policy::filters::parse_version(v)
                .with_context(|| format!("invalid --agent-version `{v}`"))
        })
        .transpose()?;
    Ok(LoadOptions {
        agent_version,
        ..LoadOptions::default()
    })
}

fn load(paths: &[PathBuf], agent_version: Option<&str>) -> anyhow::Result<Loaded> {
    let loaded = load_paths(paths, &options(agent_version)?).context("reading policies")?;
    Ok(loaded)
}

fn summary(c: &Counts) -> String {
    format!(
        "{} rules: {} loaded, {} filtered ({} of them type-check), {} disabled, {} merged, {} failed",
        c.rules, c.loaded, c.filtered, c.filtered_ok, c.disabled, c.merged, c.failed
    )
}

fn check(a: CheckArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let loaded = load(&a.paths, a.agent_version.as_deref())?;
    let report = &loaded.report;
    let failed = report.has_errors();
    if a.json {
        let rules: Vec<_> = loaded
            .ruleset
            .rules()
            .iter()
            .map(|r| rule_json(r))
            .collect();
        let doc = serde_json::json!({ "ok": !failed, "counts": report.counts(), "policies": report.policies, "entries": report.entries, "rules": rules });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        for p in report.policy_errors() {
            writeln!(
                out,
                "policy {} ({}): {}",
                p.name,
                p.file,
                p.error.as_deref().unwrap_or("")
            )?;
        }
        for e in &report.entries {
            let show = matches!(e.status, Status::Error { .. })
                || matches!(e.status, Status::Filtered { check: Some(_), .. })
                || a.verbose;
            if show {
                writeln!(out, "{e}")?;
            }
            for w in &e.warnings {
                let kind = if e.kind == EntryKind::Rule {
                    "rule"
                } else {
                    "macro"
                };
                writeln!(out, "warning: {kind} {} ({w})", e.id)?;
            }
        }
        writeln!(out, "{}", summary(&report.counts()))?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn test(a: TestArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let loaded = load(&a.paths, a.agent_version.as_deref())?;
    for e in loaded.report.errors() {
        writeln!(err, "{e}")?;
    }
    for p in loaded.report.policy_errors() {
        writeln!(
            err,
            "policy {}: {}",
            p.file,
            p.error.as_deref().unwrap_or("")
        )?;
    }
    let reader: Box<dyn BufRead> = if a.events.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(&a.events)
            .with_context(|| format!("opening {}", a.events.display()))?;
        Box::new(BufReader::new(f))
    };
    let store = MemoryStore::new();
    let (mut events, mut matches, mut bad) = (0usize, 0usize, 0usize);
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", a.events.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let ev: Event = match serde_json::from_str(&line) {
            Ok(ev) => ev,
            Err(e) => {
                bad += 1;
                writeln!(err, "{}:{}: invalid event: {e}", a.events.display(), i + 1)?;
                continue;
            }
        };
        events += 1;
        for m in loaded.ruleset.evaluate(&ev, &store) {
            if m.rule.meta.silent {
                continue;
            }
            matches += 1;
            writeln!(
                out,
                "{}",
                serde_json::to_string(&rampart_policy::match_report(&m, &ev))?
            )?;
        }
    }
    writeln!(
        err,
        "{events} events, {matches} matches, {} rules loaded",
        loaded.report.counts().loaded
    )?;
    let failed = bad > 0 || loaded.report.has_errors();
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A loaded rule's descriptive data (what the server and UIs show next to a match).
fn rule_json(r: &rampart_secl::Rule) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "version": r.meta.version,
        "event_type": r.event_type().map(|t| t.as_str()),
        "severity": r.meta.severity(),
        "description": r.meta.description,
        "tags": r.meta.tags,
        "remediation": r.meta.remediation,
        "policy": r.meta.policy,
    })
}

fn coverage(a: CoverageArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let loaded = if a.policies.is_empty() {
        load_sources(&[default_policy()], &LoadOptions::default())
    } else {
        load(&a.policies, None)?
    };
    let table = match &a.tests {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            TestTable::parse(&text).map_err(anyhow::Error::msg)?
        }
        None => default_tests().map_err(anyhow::Error::msg)?,
    };
    // Every rule a policy defines needs tests, including rules that fail to load or are disabled.
    let mut ids: Vec<&str> = Vec::new();
    for e in &loaded.report.entries {
        if e.kind == EntryKind::Rule
            && !matches!(e.status, Status::Merged { .. })
            && !ids.contains(&e.id.as_str())
        {
            ids.push(&e.id);
        }
    }
    let cov = table.coverage(ids);
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&cov)?)?;
    } else {
        for m in &cov.missing {
            let what = match (m.trigger, m.benign) {
                (true, true) => "no trigger and no benign test",
                (true, false) => "no trigger test",
                _ => "no benign test",
            };
            writeln!(out, "rule {}: {what}", m.id)?;
        }
        for id in &cov.unknown {
            writeln!(out, "test case {id}: no rule with this id")?;
        }
        writeln!(
            out,
            "{} rules, {} with a trigger and a benign test, {} without",
            cov.rules,
            cov.covered,
            cov.missing.len()
        )?;
    }
    Ok(if cov.is_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"version: 1.0.0
macros:
  - id: SHELLS
    values: ["sh", "bash"]
rules:
  - id: shell_exec
    version: 1.2.0
    expression: exec.file.name in SHELLS && process.parent.file.name == "sshd"
    tags:
      severity: high
      mitre: T1059
  - id: broken
    expression: exec.file.name == 1
  - id: mixed
    expression: exec.pid == 1 && exec.uid == 0 || exec.gid == 0
"#;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rampart-rules-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn coverage_of_the_default_policy_is_complete() {
        let mut out = Vec::new();
        let code = coverage(
            CoverageArgs {
                policies: vec![],
                tests: None,
                json: false,
            },
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(code, ExitCode::SUCCESS, "{text}");
        assert!(
            text.contains(" without") && text.ends_with(", 0 without\n"),
            "{text}"
        );
    }

    #[test]
    fn coverage_lists_rules_without_tests() {
        let p = write("cov.policy", POLICY);
        let tests = write(
            "cov.tests.yaml",
            "cases:\n  shell_exec: {trigger: 'true', benign: 'true'}\n  mixed: {trigger: 'true'}\n",
        );
        let mut out = Vec::new();
        let code = coverage(
            CoverageArgs {
                policies: vec![p],
                tests: Some(tests),
                json: false,
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(code, ExitCode::FAILURE);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("rule broken: no trigger and no benign test"),
            "{text}"
        );
        assert!(text.contains("rule mixed: no benign test"), "{text}");
        assert!(!text.contains("rule shell_exec"), "{text}");
        assert!(
            text.contains("3 rules, 1 with a trigger and a benign test, 2 without"),
            "{text}"
        );
    }

    #[test]
    fn check_of_the_default_policy_has_no_errors_and_reports_remediation() {
        let dir =
            std::env::temp_dir().join(format!("rampart-rules-cmd-default-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("default.policy");
        std::fs::write(&p, rampart_policy::default::DEFAULT_POLICY).unwrap();
        let mut out = Vec::new();
        let code = check(
            CheckArgs {
                paths: vec![p],
                json: true,
                verbose: false,
                agent_version: None,
            },
            &mut out,
        )
        .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(code, ExitCode::SUCCESS, "{doc}");
        assert_eq!(doc["counts"]["failed"], 0);
        let rules = doc["rules"].as_array().unwrap();
        assert!(rules.len() >= 80);
        assert!(
            rules
                .iter()
                .all(|r| !r["remediation"].as_str().unwrap().is_empty()),
            "every default rule has a remediation"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    /// `rules check PATH` in text: exit code and output.
    fn check_text(path: PathBuf) -> (ExitCode, String) {
        let mut out = Vec::new();
        let code = check(
            CheckArgs {
                paths: vec![path],
                json: false,
                verbose: false,
                agent_version: None,
            },
            &mut out,
        )
        .unwrap();
        (code, String::from_utf8(out).unwrap())
    }

    /// A name-only exemption is a warning (with the rule id and a hint), not a failure; the default policy has
    /// none.
    #[test]
    fn check_warns_on_exemptions_by_name_alone() {
        let p = write(
            "exempt.policy",
            r#"version: 1.0.0
rules:
  - id: bpf_loader_by_name
    expression: bpf.cmd == BPF_PROG_LOAD && process.file.name not in ["bpftool"] && process.file.path not in [~"/**/target/*/deps/*-*"]
  - id: bpf_loader_installed
    expression: bpf.cmd == BPF_PROG_LOAD && !(process.file.name in ["bpftool"] && process.file.uid == 0 && !process.file.in_upper_layer)
"#,
        );
        let (code, text) = check_text(p);
        assert_eq!(code, ExitCode::SUCCESS, "{text}");
        let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("warning:")).collect();
        assert_eq!(warnings.len(), 2, "{text}");
        assert!(
            warnings
                .iter()
                .all(|w| w.starts_with("warning: rule bpf_loader_by_name (")
                    && w.contains("INSTALLED_PROCESS")),
            "{text}"
        );
        assert!(warnings[0].contains("`process.file.name` alone"), "{text}");
        assert!(warnings[1].contains("`process.file.path` alone"), "{text}");

        let dir =
            std::env::temp_dir().join(format!("rampart-rules-cmd-lint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let default = dir.join("default.policy");
        std::fs::write(&default, rampart_policy::default::DEFAULT_POLICY).unwrap();
        let (_, text) = check_text(default);
        assert!(
            !text.contains("warning:"),
            "the default policy has warnings:\n{text}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn check_reports_broken_rules_with_positions() {
        let p = write("check.policy", POLICY);
        let mut out = Vec::new();
        let code = check(
            CheckArgs {
                paths: vec![p.clone()],
                json: false,
                verbose: false,
                agent_version: None,
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(code, ExitCode::FAILURE);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(&format!(
                "rule broken ({}:13:17): cannot compare",
                p.display()
            )),
            "{text}"
        );
        assert!(text.contains("warning: rule mixed"), "{text}");
        assert!(text.contains("3 rules: 2 loaded"), "{text}");
        let mut out = Vec::new();
        check(
            CheckArgs {
                paths: vec![p],
                json: true,
                verbose: false,
                agent_version: None,
            },
            &mut out,
        )
        .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["counts"]["failed"], 1);
        assert_eq!(doc["entries"][2]["status"], "error");
        assert_eq!(doc["entries"][2]["line"], 13);
    }

    #[test]
    fn test_prints_matches_as_monitor_json() {
        let p = write("test.policy", POLICY);
        let init = rampart_model::ProcessNode::new(
            rampart_model::Process {
                pid: 1,
                file: rampart_model::FileInfo::from_path("/usr/sbin/sshd"),
                ..Default::default()
            },
            None,
        );
        let node = rampart_model::ProcessNode::new(
            rampart_model::Process {
                pid: 2,
                file: rampart_model::FileInfo::from_path("/bin/bash"),
                ..Default::default()
            },
            Some(init),
        );
        let ev = Event::new(
            1,
            rampart_model::ProcessContext::new(node.clone()),
            rampart_model::EventData::Exec(node.process.clone()),
        );
        let events = write(
            "events.jsonl",
            &format!("{}\nnot json\n", serde_json::to_string(&ev).unwrap()),
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = test(
            TestArgs {
                paths: vec![p],
                events,
                agent_version: None,
            },
            &mut out,
            &mut err,
        )
        .unwrap();
        assert_eq!(
            code,
            ExitCode::FAILURE,
            "a bad line and a broken rule fail the run"
        );
        let line = String::from_utf8(out).unwrap();
        let m: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
        assert_eq!(m["rule"]["id"], "shell_exec");
        assert_eq!(m["rule"]["severity"], "high");
        assert_eq!(m["rule"]["tags"]["mitre"], "T1059");
        assert_eq!(m["exec"]["file"]["path"], "/bin/bash");
        assert_eq!(m["process"]["ancestors"][0]["file"]["name"], "sshd");
        assert!(m["actions"].as_array().unwrap().is_empty());
        let err = String::from_utf8(err).unwrap();
        assert!(err.contains(":2: invalid event"), "{err}");
        assert!(err.contains("1 events, 2 matches"), "{err}");
    }
}
