//! The default policy against real behaviour: one `rampart monitor --json` with the default policy, then, for
//! every rule, its trigger script (which must make exactly that rule match) and its benign look-alike (which must
//! not), from `crates/rampart-policy/policies/default.tests.yaml`. Runs as root (CI does).
//!
//! Each script runs as `bash SCRIPT MARK` in its own temporary directory; a match belongs to the script when the
//! script's bash (its pid, with MARK in its argv) is the acting process or one of its ancestors, or when it comes
//! from the container whose id the script wrote to `.cid`. Every failure is collected and reported at the end.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rampart_policy::default::{TestCase, TestTable};
use rampart_testkit::MonitorProcess;
use serde_json::Value;

const POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../rampart-policy/policies/default.policy"
);
const TESTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../rampart-policy/policies/default.tests.yaml"
);
const DEFAULT_TIMEOUT: u64 = 20;
/// The `needs` of a case that runs under a second monitor with the credential calls unhooked: what the case
/// does through them is then as invisible to the agent as a kernel exploit's `commit_creds`.
const UNHOOKED: &str = "unhooked_credential_calls";
const UNHOOKED_TYPES: [&str; 3] = ["setuid", "setgid", "capset"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Trigger,
    Benign,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Trigger => "trigger",
            Kind::Benign => "benign",
        }
    }
}

/// One script run.
struct Run {
    rule: String,
    kind: Kind,
    pid: u32,
    mark: String,
    dir: PathBuf,
    outcome: Result<(), String>,
    elapsed: Duration,
    /// The matches of the monitor this run was watched by.
    matches: std::ops::Range<usize>,
}

fn make_dir(p: &Path) {
    std::fs::create_dir_all(p).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The podman command line (program + storage flags) and environment the scripts get as `$PODMAN`.
fn podman_env() -> Vec<(String, String)> {
    let podman = rampart_testkit::Podman::new().expect("podman is needed by container cases");
    let image = podman.ensure_busybox_image().expect("busybox test image");
    let cmd = podman.command();
    let mut line = vec![cmd.get_program().to_string_lossy().into_owned()];
    line.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    let mut env: Vec<(String, String)> = cmd
        .get_envs()
        .filter_map(|(k, v)| {
            Some((
                k.to_string_lossy().into_owned(),
                v?.to_string_lossy().into_owned(),
            ))
        })
        .collect();
    env.push(("PODMAN".into(), line.join(" ")));
    env.push(("BUSYBOX".into(), image.to_string()));
    env
}

/// Runs `bash script mark` in `dir` as its own process group; kills the group after `timeout`.
fn run_script(
    script: &Path,
    mark: &str,
    dir: &Path,
    env: &[(String, String)],
    timeout: Duration,
) -> (u32, Result<(), String>) {
    let mut child = Command::new("bash")
        .arg(script)
        .arg(mark)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("MARK", mark)
        .env("CASE_DIR", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.with_extension("stderr")).unwrap())
        .process_group(0)
        .spawn()
        .expect("spawning bash");
    let pid = child.id();
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() >= deadline {
            // SAFETY: killpg on the process group this test created for the script.
            unsafe { libc::killpg(pid as i32, libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = std::fs::read_to_string(dir.with_extension("stderr")).unwrap_or_default();
    let tail: String = stderr
        .lines()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" | ");
    let outcome = match status {
        None => Err(format!(
            "timed out after {}s; stderr: {tail}",
            timeout.as_secs()
        )),
        Some(st) if st.success() => Ok(()),
        Some(st) => Err(format!("script failed ({st}); stderr: {tail}")),
    };
    (pid, outcome)
}

/// Whether `v` (a process object) is the script's bash: its pid and MARK in its argv.
fn is_root(v: &Value, pid: u32, mark: &str) -> bool {
    v["pid"] == pid
        && v["argv"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == mark))
}

/// Whether the match `m` was caused by `run`.
fn belongs_to(m: &Value, run: &Run, cid: Option<&str>) -> bool {
    let p = &m["process"];
    if is_root(p, run.pid, &run.mark) {
        return true;
    }
    if p["ancestors"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| is_root(x, run.pid, &run.mark)))
    {
        return true;
    }
    cid.is_some_and(|cid| !cid.is_empty() && m["container"]["id"] == cid)
}

fn rule_id(m: &Value) -> Option<&str> {
    m["rule"]["id"].as_str()
}

/// Why this host cannot run a case that needs `need`, if it cannot. Only facts of the kernel count: anything
/// that can be installed (podman, dig) is a dependency of the test suite, and missing it fails the case.
fn unmet(need: &str) -> Option<String> {
    match need {
        // CONFIG_MODULES=n: init_module/finit_module are not even syscalls (no tracepoint to see them by).
        "kernel_modules" if !Path::new("/proc/modules").exists() => {
            Some("this kernel is built without loadable module support".into())
        }
        // provided by the runner itself (a second monitor)
        UNHOOKED => None,
        _ => None,
    }
}

/// Runs the trigger and the benign script of one case (unless the host lacks what it needs).
#[allow(clippy::too_many_arguments)]
fn run_case(
    n: usize,
    rule: &str,
    case: &TestCase,
    scripts: &Path,
    base: &Path,
    env: &[(String, String)],
    runs: &mut Vec<Run>,
    skipped: &mut Vec<String>,
) {
    for kind in [Kind::Trigger, Kind::Benign] {
        let text = match kind {
            Kind::Trigger => case.trigger.as_deref(),
            Kind::Benign => case.benign.as_deref(),
        };
        let Some(text) = text else { continue };
        if let Some(why) = case.needs.iter().find_map(|n| unmet(n)) {
            skipped.push(format!("{rule} {}: {why}", kind.as_str()));
            continue;
        }
        let mark = format!("rampart-{}-{n}-{}", std::process::id(), kind.as_str());
        let script = scripts.join(format!("{rule}.{}.sh", kind.as_str()));
        std::fs::write(&script, text).unwrap();
        let dir = base.join(format!("{n}-{}", kind.as_str()));
        make_dir(&dir);
        let timeout = Duration::from_secs(case.timeout.unwrap_or(DEFAULT_TIMEOUT));
        let t0 = Instant::now();
        let (pid, outcome) = run_script(&script, &mark, &dir, env, timeout);
        runs.push(Run {
            rule: rule.to_string(),
            kind,
            pid,
            mark,
            dir,
            outcome,
            elapsed: t0.elapsed(),
            matches: 0..0,
        });
    }
}

#[test]
fn default_policy_rules_fire_on_real_behaviour_and_not_on_look_alikes() {
    rampart_testkit::require!(root, "these tests load eBPF programs and change the host");
    let table = TestTable::parse(&std::fs::read_to_string(TESTS).unwrap()).unwrap();
    let loaded = rampart_policy::load_paths(
        &[PathBuf::from(POLICY)],
        &rampart_policy::LoadOptions::default(),
    )
    .unwrap();
    assert!(
        !loaded.report.has_errors(),
        "the default policy loads cleanly"
    );
    let rule_ids: Vec<String> = loaded
        .ruleset
        .rules()
        .iter()
        .map(|r| r.id.clone())
        .collect();
    let cov = table.coverage(rule_ids.iter().map(String::as_str));
    assert!(
        cov.is_complete(),
        "every rule has a trigger and a benign case: {cov:#?}"
    );
    // RAMPART_POLICY_CASES=id,id,…: run only those rules' cases (while working on them).
    let only: Option<Vec<String>> = std::env::var("RAMPART_POLICY_CASES")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());

    let base = tempfile::Builder::new()
        .prefix("rampart-default-policy-")
        .tempdir()
        .unwrap();
    make_dir(base.path());
    let helpers = base.path().join("helpers");
    let scripts = base.path().join("scripts");
    make_dir(&helpers);
    make_dir(&scripts);
    for (name, text) in &table.helpers {
        let p = helpers.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut env = vec![(
        "PATH".to_string(),
        format!(
            "{}:{}",
            helpers.display(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
        ),
    )];
    if table
        .cases
        .iter()
        .filter(|(id, _)| only.as_ref().is_none_or(|o| o.contains(id)))
        .any(|(_, c)| c.needs.iter().any(|n| n == "podman"))
    {
        env.extend(podman_env());
    }

    let binary = Path::new(env!("CARGO_BIN_EXE_rampart"));
    let started = Instant::now();
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    let mut matches = Vec::new();
    let mut monitor_stderr = String::new();
    // Two passes: most cases under one monitor; those that need credential calls unhooked under a second one.
    for unhooked in [false, true] {
        let cases: Vec<(usize, &String, &TestCase)> = table
            .cases
            .iter()
            .enumerate()
            .filter(|(_, (rule, c))| {
                c.needs.iter().any(|n| n == UNHOOKED) == unhooked
                    && only.as_ref().is_none_or(|o| o.contains(rule))
            })
            .map(|(n, (rule, case))| (n, rule, case))
            .collect();
        if cases.is_empty() {
            continue;
        }
        let mut extra = Vec::new();
        if unhooked {
            for t in UNHOOKED_TYPES {
                extra.extend(["--test-unhook", t]);
            }
        }
        let monitor = MonitorProcess::start_with_policy_args(binary, POLICY, &extra).unwrap();
        let first = runs.len();
        for (n, rule, case) in cases {
            run_case(
                n,
                rule,
                case,
                &scripts,
                base.path(),
                &env,
                &mut runs,
                &mut skipped,
            );
        }
        // Let the last events through the pipeline.
        std::thread::sleep(Duration::from_secs(3));
        let pass = matches.len();
        matches.extend(monitor.all(|v| rule_id(v).is_some()));
        for run in &mut runs[first..] {
            run.matches = pass..matches.len();
        }
        monitor_stderr.push_str(&monitor.stop());
    }

    let mut failures = Vec::new();
    let mut summary = BTreeMap::new();
    for run in &runs {
        let cid = std::fs::read_to_string(run.dir.join(".cid")).ok();
        let own: Vec<&Value> = matches[run.matches.clone()]
            .iter()
            .filter(|m| belongs_to(m, run, cid.as_deref().map(str::trim)))
            .collect();
        let hit = own.iter().any(|m| rule_id(m) == Some(run.rule.as_str()));
        let mut problems = Vec::new();
        if let Err(e) = &run.outcome {
            problems.push(e.clone());
        }
        match run.kind {
            Kind::Trigger if !hit => {
                let mut others: Vec<&str> = own.iter().filter_map(|m| rule_id(m)).collect();
                others.sort_unstable();
                others.dedup();
                problems.push(format!(
                    "no `{}` match (rules that did match this script: {others:?})",
                    run.rule
                ))
            }
            Kind::Benign if hit => {
                problems.push(format!("the benign look-alike matched `{}`", run.rule))
            }
            _ => {}
        }
        let ok = problems.is_empty();
        summary
            .entry(run.rule.clone())
            .or_insert_with(Vec::new)
            .push(format!(
                "{} {} ({} ms)",
                run.kind.as_str(),
                if ok { "ok" } else { "FAILED" },
                run.elapsed.as_millis()
            ));
        if !ok {
            failures.push(format!(
                "{} {}: {}",
                run.rule,
                run.kind.as_str(),
                problems.join("; ")
            ));
        }
    }
    for (rule, lines) in &summary {
        eprintln!("{rule:<45} {}", lines.join(", "));
    }
    for s in &skipped {
        eprintln!("not run here: {s}");
    }
    eprintln!(
        "{} scripts in {:.1}s, {} failures, {} not run (kernel lacks what they need), {} matches in total",
        runs.len(),
        started.elapsed().as_secs_f64(),
        failures.len(),
        skipped.len(),
        matches.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} default-policy test scripts failed:\n  {}\nmonitor stderr (tail):\n{}",
        failures.len(),
        runs.len(),
        failures.join("\n  "),
        monitor_stderr
            .lines()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
