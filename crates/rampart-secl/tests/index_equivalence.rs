//! The fast paths (rule index, value sieves, guards, merged alternatives) never change a result: on thousands
//! of generated events, `evaluate` reports exactly the rules a full scan of the bucket matches, in order.

use rampart_model::events::{DnsEvent, DnsQuestion, FileTarget, OpenEvent};
use rampart_model::process::ProcessContainer;
use rampart_model::{Event, EventData, EventType, FileInfo, Process, ProcessContext, ProcessNode};
use rampart_secl::{Cx, MemoryStore, RuleMeta, RuleSet, RuleSpec};
use std::collections::BTreeSet;

/// Rules exercising every kind of key and prefilter: exact values, case-insensitive values, plain-glob
/// heads, path globs, ints, multi-valued fields, registers, `""` keys, negations, unkeyable rules.
const RULES: &[&str] = &[
    r#"exec.file.name in ["bash", "sh", "Zsh"] && process.parent.comm == "sshd""#,
    r#"exec.file.path in [~"/usr/bin/apt*", ~"/opt/**", "/bin/ls"]"#,
    r#"exec.comm =~ "nc*" || exec.comm in ["curl", "wget"]"#,
    r#"process.ancestors.comm in ["cron", "sshd"] && exec.argv in ["-c", "-e"]"#,
    r#"exec.file.name in ["sh", "bash"] && process.ancestors[A].comm == "git" && process.ancestors[A].argv in ["clone"]"#,
    r#"exec.uid != 5 && process.ancestors[A].comm == "cron" && process.ancestors[A].argv in ["-f"]"#,
    r#"process.container.id != "" && exec.file.name != """#,
    r#"process.container.id != "" && exec.file.name in ["sh", "ls"]"#,
    r#"exec.file.mode & S_ISUID > 0 && exec.uid != 0"#,
    r#"exec.file.mode & S_ISUID > 0 && exec.file.name != "su""#,
    r#"exec.args_flags in ["l", "recursive"] || exec.args_options in [~"width=*"]"#,
    r#"exec.args in [~"*stratum*", ~"*nicehash*", ~"*yes*", ~"*pool*"]"#,
    r#"exec.file.name in ["ls"] || exec.file.name in ["cat", "dd"] || exec.file.name =~ "py*""#,
    r#"exec.envs in ["LD_PRELOAD"] && exec.file.path not in [~"/usr/**"]"#,
    r#"exec.uid in [0, 1000] && exec.file.name == "su""#,
    r#"process.parent.file.path =~ "/usr/sbin/*" && exec.file.name in ["id", "whoami"]"#,
    r#"exec.argv0 in [r"^\[.*\]$"] || exec.comm in [r"^\[.*\]$"]"#,
    r#"!(exec.file.name in ["ls"]) && exec.file.path =~ "/tmp/**""#,
    r#"exec.file.path == "" || exec.file.name == "true""#,
    r#"exec.user_session.k8s_username != "" && exec.file.name != """#,
    r#"exec.cgroup.id != process.parent.cgroup.id && exec.file.name != "ls""#,
    r#"exec.file.name in ["bash", "sh"] && exec.file.name in ["sh", "dash"]"#,
    r#"exec.file.name not in ["ls", "cat"] && process.ancestors.file.name in ["cron"]"#,
    r#"exec.file.name in ["bash"] || (exec.comm == "git" && exec.argv in ["clone"])"#,
    r#"exec.argv in ["clone"] || exec.argv in [~"--recurse*"] || exec.args_flags == "v""#,
    r#"dns.question.name in ["evil.com", "x.io"] || dns.question.name =~ "bad*""#,
    r#"dns.question.name != "" && dns.question.type == 1"#,
    r#"dns.question.name in [~"*.onion", ~"*.Io"] && dns.question.type in [2, 3, 4]"#,
    r#"exec.file.name =~ "*sh" && exec.args_flags == "c""#,
    r#"exec.file.name =~ "*ssm-agent" && exec.args_flags in ["register", "l"]"#,
    r#"open.file.path in [~"/etc/**", "/root/.ssh/authorized_keys"] && open.flags & O_WRONLY > 0"#,
    r#"open.file.name in ["shadow", "passwd"] || open.file.path =~ "/var/log/*.log""#,
    r#"open.file.path not in [~"/etc/**"] && process.comm in ["vim", "nano"]"#,
];

const NAMES: &[&str] = &[
    "bash",
    "sh",
    "zsh",
    "Zsh",
    "ls",
    "cat",
    "nc",
    "ncat",
    "netcat",
    "curl",
    "python3",
    "py",
    "id",
    "su",
    "true",
    "[kworker]",
    "git",
    "cron",
    "sshd",
    "apt-get",
    "dash",
    "x",
    "amazon-ssm-agent",
    "ssm-agent",
    "sm-agent",
];
const DIRS: &[&str] = &[
    "/usr/bin",
    "/bin",
    "/opt/tool",
    "/tmp",
    "/usr/sbin",
    "/tmp/a/b",
];
const ARGS: &[&str] = &[
    "-c",
    "-e",
    "-la",
    "-l",
    "--recursive",
    "--recurse-submodules",
    "--width=8",
    "--width",
    "8",
    "clone",
    "stratum+tcp://p",
    "Pool",
    "yes",
    "x",
    "-f",
    "-v",
];
const DNS: &[&str] = &[
    "EVIL.com", "evil.com", "Bad.org", "badness", "x.io", "X.IO", "good", "",
];
const PATHS: &[&str] = &[
    "/etc/shadow",
    "/etc",
    "/etcx/passwd",
    "/root/.ssh/authorized_keys",
    "/var/log/a.log",
    "/var/log/sub/a.log",
    "/srv/passwd",
    "/ETC/shadow",
];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn process(rng: &mut Rng) -> Process {
    let name = rng.pick(NAMES);
    let path = if rng.below(10) == 0 {
        String::new()
    } else {
        format!("{}/{name}", rng.pick(DIRS))
    };
    let mut p = Process {
        pid: rng.below(5000) as u32,
        comm: name.to_string(),
        file: FileInfo {
            mode: [0o100755, 0o104755][rng.below(2) as usize],
            ..FileInfo::from_path(&path)
        },
        ..Default::default()
    };
    let mut argv = vec![name.to_string()];
    for _ in 0..rng.below(4) {
        argv.push(rng.pick(ARGS).to_string());
    }
    p.set_argv(argv);
    if rng.below(4) == 0 {
        p.argv0 = "[kthreadd]".into();
    }
    p.credentials.uid = [0, 1000, 5][rng.below(3) as usize];
    p.cgroup.id = rng.below(3);
    if rng.below(3) == 0 {
        p.container = Some(ProcessContainer { id: "abc".into() });
    }
    if rng.below(5) == 0 {
        p.envs = ["LD_PRELOAD".into(), "PATH".into()].into();
    }
    p
}

fn lineage(rng: &mut Rng) -> std::sync::Arc<ProcessNode> {
    let mut node = None;
    for _ in 0..rng.below(4) {
        node = Some(ProcessNode::new(process(rng), node));
    }
    ProcessNode::new(process(rng), node)
}

fn event(rng: &mut Rng) -> Event {
    let node = lineage(rng);
    let data = match rng.below(3) {
        0 => EventData::Exec(node.process.clone()),
        1 => EventData::Open(OpenEvent {
            file: FileTarget::from_path(rng.pick(PATHS)),
            flags: rng.below(3) as u32,
            retval: 0,
            syscall: None,
        }),
        _ => EventData::Dns(DnsEvent {
            id: 1,
            question: DnsQuestion {
                name: rng.pick(DNS).to_string(),
                qtype: 1 + rng.below(2) as u16,
                class: 1,
                length: 0,
                count: 1,
            },
            response: None,
        }),
    };
    Event::new(1_700_000_000_000_000_000, ProcessContext::new(node), data)
}

fn ruleset() -> RuleSet {
    let specs: Vec<RuleSpec> = RULES
        .iter()
        .enumerate()
        .map(|(i, e)| RuleSpec {
            id: format!("r{i}"),
            expression: e.to_string(),
            meta: RuleMeta::default(),
            actions: vec![],
        })
        .collect();
    let (set, report) = RuleSet::build(&[], &specs);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    set
}

#[test]
fn indexed_evaluation_matches_a_full_scan_on_generated_events() {
    let set = ruleset();
    let store = MemoryStore::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut matched, mut pruned) = (BTreeSet::new(), 0);
    for _ in 0..20_000 {
        let ev = event(&mut rng);
        let cx = Cx::new(&ev, &store);
        let bucket = set.rules_for(ev.event_type());
        let full: Vec<&str> = bucket
            .iter()
            .filter(|r| r.matches(&cx))
            .map(|r| r.id.as_str())
            .collect();
        let fast: Vec<String> = set
            .evaluate(&ev, &store)
            .iter()
            .map(|m| m.rule.id.clone())
            .collect();
        assert_eq!(fast, full, "{}", serde_json::to_string(&ev).unwrap());
        let candidates = set.candidates_for(&ev);
        let ids: BTreeSet<&str> = candidates.iter().map(|r| r.id.as_str()).collect();
        assert!(full.iter().all(|id| ids.contains(id)), "{full:?} ⊄ {ids:?}");
        pruned += bucket.len() - candidates.len();
        matched.extend(full.iter().map(|s| s.to_string()));
    }
    // Not vacuous: nearly every rule matched some event, and the index skipped most evaluations.
    assert!(
        matched.len() + 2 >= RULES.len(),
        "only {matched:?} ever matched"
    );
    assert!(pruned > 20_000 * 5, "the index pruned only {pruned} rules");
    for t in [EventType::Exec, EventType::Open, EventType::Dns] {
        let (always, fields) = set.index_stats(t);
        assert!(!fields.is_empty(), "{t} is not indexed");
        assert!(
            always < set.rules_for(t).len(),
            "{t}: every rule is unindexed"
        );
    }
}

/// Registers are keyed by their unregistered operands: `git_cve`-like rules are not evaluated for `ls`.
#[test]
fn register_rules_are_keyed_by_their_plain_operands() {
    let set = ruleset();
    let mut rng = Rng(7);
    let mut ev = event(&mut rng);
    while ev.event_type() != EventType::Exec {
        ev = event(&mut rng);
    }
    let EventData::Exec(p) = &mut ev.data else {
        unreachable!()
    };
    let p = std::sync::Arc::make_mut(p);
    p.file = FileInfo::from_path("/usr/bin/ls");
    let ids: Vec<&str> = set
        .candidates_for(&ev)
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert!(!ids.contains(&"r4"), "{ids:?}");
}
