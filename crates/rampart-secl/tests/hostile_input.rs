//! Rules written to exhaust the engine: every shape is refused with its reason or compiled within bounded
//! stack, time and memory, never a crash. Stack use is proven on small threads in this (unoptimised)
//! build, whose frames are several times larger than a release build's.

mod common;

use std::time::{Duration, Instant};

use rampart_secl::ast::{parse, Kind, MAX_DEPTH, MAX_OPERATORS};
use rampart_secl::compile::{MAX_COMPILE_DEPTH, MAX_EXPANDED_NODES};
use rampart_secl::{compile, Cx, Env, MacroSpec, MemoryStore, NoVariables, RuleSet, RuleSpec};

/// 1 MiB: half of what tokio's workers, its blocking pool and `std::thread` get by default.
const SMALL_STACK: usize = 1 << 20;

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no stack overflow")
}

fn rule(id: &str, expression: String) -> RuleSpec {
    RuleSpec {
        id: id.into(),
        expression,
        meta: Default::default(),
        actions: vec![],
    }
}

/// `process.pid == 0 || process.pid == 1 || …` with `n` terms.
fn pid_chain(n: usize) -> String {
    (0..n)
        .map(|i| format!("process.pid == {i}"))
        .collect::<Vec<_>>()
        .join(" || ")
}

/// Builds `rules` with `macros`; returns (rules loaded, error of rule `r` if any), having evaluated the
/// exec fixture and dropped everything.
fn build_and_run(macros: Vec<MacroSpec>, expression: String) -> (usize, Option<String>) {
    let (set, report) = RuleSet::build(&macros, &[rule("r", expression)]);
    let event = common::exec_event();
    let _ = set.evaluate(&event, &MemoryStore::new());
    let _ = set.approvers(rampart_model::EventType::Exec);
    let error = report
        .errors
        .iter()
        .find(|e| e.id == "r")
        .map(|e| e.error.to_string());
    (set.rules().len(), error)
}

#[test]
fn a_chain_of_5000_terms_is_refused_with_its_reason() {
    let src = format!("exec.file.name == \"x\" && ({})", pid_chain(5000));
    assert!(src.len() > 100_000);
    let (loaded, error) = on_small_stack(move || build_and_run(vec![], src));
    assert_eq!(loaded, 0);
    let error = error.expect("refused");
    assert!(
        error.contains(&format!("more than {MAX_OPERATORS} operators")),
        "{error}"
    );
}

#[test]
fn a_long_chain_within_the_bound_is_one_node_and_matches_like_its_terms() {
    on_small_stack(|| {
        // 2,000 terms (3,999 operators): one n-ary node, not a tree 2,000 deep.
        let chain = pid_chain(2000);
        let (ast, _) = parse(&chain).unwrap();
        let Kind::Or(terms) = &ast.kind else {
            panic!("not one `||` node")
        };
        assert_eq!(terms.len(), 2000);
        let with_bash = compile(
            &format!("{} || process.pid == 4242", pid_chain(1999)),
            &Env::default(),
        )
        .unwrap();
        let without = compile(&chain, &Env::default()).unwrap();
        let event = common::exec_event(); // pid 4242
        let cx = Cx::new(&event, &NoVariables);
        assert!(with_bash.eval(&cx));
        assert!(!without.eval(&cx), "4242 is not among 0..2000");
    });
}

/// Expressions as deep as each limit allows, and one level deeper.
fn deep(shape: &str, k: usize) -> String {
    let open = |s: &str| s.repeat(k);
    match shape {
        "parens" => format!("{}exec.file.name == \"bash\"{}", open("("), open(")")),
        "not_and" => {
            let mut s: String = (0..k)
                .map(|i| format!("!(process.pid == {i} && "))
                .collect();
            s.push_str("exec.file.name == \"x\"");
            s + &open(")")
        }
        "or_and" => {
            let mut s: String = (0..k)
                .map(|i| format!("(process.pid == {i} || exec.file.name == \"bash\" && "))
                .collect();
            s.push_str("process.ppid == 100");
            s + &open(")")
        }
        "negations" => format!(
            "exec.file.name == \"bash\" && {}process.pid == 1",
            open("-")
        ),
        "arithmetic" => format!(
            "exec.file.name == \"bash\" && process.pid{} == 5",
            open(" + process.ppid")
        ),
        "nested_arithmetic" => format!(
            "exec.file.name == \"bash\" && process.pid == {}process.ppid{}",
            open("(1 + "),
            open(")")
        ),
        other => panic!("{other}"),
    }
}

#[test]
fn nesting_up_to_the_limit_compiles_evaluates_and_drops_on_a_small_stack() {
    for shape in [
        "parens",
        "not_and",
        "or_and",
        "negations",
        "arithmetic",
        "nested_arithmetic",
    ] {
        // The deepest accepted expression of the shape, then the first refused one.
        let (accepted, refused) = on_small_stack(move || {
            let mut k = 1;
            while build_and_run(vec![], deep(shape, k + 1)).1.is_none() {
                k += 1;
                assert!(k <= MAX_DEPTH, "{shape}: {k} levels accepted");
            }
            (
                build_and_run(vec![], deep(shape, k)),
                build_and_run(vec![], deep(shape, k + 1)),
            )
        });
        assert_eq!(accepted, (1, None), "{shape}");
        let error = refused.1.unwrap_or_default();
        assert!(error.contains("nested too deeply"), "{shape}: {error}");
    }
}

/// `m0 … m{n-1}`, each using the one before: a boolean chain (`||`, `&&`, `!`) or an arithmetic one.
fn macro_chain(n: usize, arithmetic: bool) -> (Vec<MacroSpec>, String) {
    let macros = (0..n)
        .map(|i| {
            let body = match (arithmetic, i) {
                (false, 0) => "process.pid == 4242".to_string(),
                (false, _) => format!("process.ppid == {i} || process.pid == 3 && !m{}", i - 1),
                (true, 0) => "process.pid".to_string(),
                (true, _) => format!("-(m{} + process.ppid)", i - 1),
            };
            MacroSpec {
                id: format!("m{i}"),
                expression: Some(body),
                values: None,
            }
        })
        .collect();
    let last = format!("m{}", n - 1);
    let expression = if arithmetic {
        format!("exec.file.name == \"bash\" && {last} == 3")
    } else {
        format!("exec.file.name == \"bash\" && {last}")
    };
    (macros, expression)
}

#[test]
fn macros_nested_to_the_compile_limit_fit_a_small_stack() {
    for arithmetic in [false, true] {
        let (ok, past) = on_small_stack(move || {
            let mut n = 1;
            loop {
                let (m, e) = macro_chain(n + 1, arithmetic);
                if build_and_run(m, e).1.is_some() {
                    break;
                }
                n += 1;
            }
            let (m, e) = macro_chain(n, arithmetic);
            let ok = build_and_run(m, e);
            let (m, e) = macro_chain(n + 1, arithmetic);
            (ok, build_and_run(m, e))
        });
        assert_eq!(ok, (1, None), "arithmetic: {arithmetic}");
        let error = past.1.unwrap_or_default();
        assert!(
            error.contains(&format!("more than {MAX_COMPILE_DEPTH} levels"))
                || error.contains("macros nested more than"),
            "{error}"
        );
    }
}

#[test]
fn macros_that_double_at_each_level_stop_at_the_expansion_budget() {
    // m29 would expand to 2^30 comparisons.
    let mut macros = vec![MacroSpec {
        id: "m0".into(),
        expression: Some("process.pid == 1".into()),
        values: None,
    }];
    for i in 1..30 {
        macros.push(MacroSpec {
            id: format!("m{i}"),
            expression: Some(format!("m{0} || m{0}", i - 1)),
            values: None,
        });
    }
    let started = Instant::now();
    let (loaded, error) =
        on_small_stack(move || build_and_run(macros, "exec.file.name == \"x\" && m29".into()));
    assert_eq!(loaded, 0);
    let error = error.unwrap_or_default();
    assert!(
        error.contains(&format!("more than {MAX_EXPANDED_NODES} nodes")),
        "{error}"
    );
    // Each macro is also checked on its own (the large ones stop at the same budget).
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_regex_past_the_size_budget_is_refused_quickly() {
    let started = Instant::now();
    let (loaded, error) = build_and_run(vec![], r#"exec.file.name =~ r"(\w{1,100}){1,50}""#.into());
    assert_eq!(loaded, 0);
    let error = error.unwrap_or_default();
    assert!(
        error.contains("invalid regex") && error.contains("size limit"),
        "{error}"
    );
    // 4 ms in a release build; the default budget took 70 ms.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // The benign twin: an ordinary regex compiles and matches.
    let (loaded, error) = build_and_run(vec![], r#"exec.file.name =~ r"^ba[a-z]{2}$""#.into());
    assert_eq!((loaded, error), (1, None));
}

#[test]
fn alternatives_on_one_field_are_merged_once_not_once_per_term() {
    // 300 regexes on one field: merging them pairwise rebuilt every regex at every step (45,000 builds).
    let expression = (0..300)
        .map(|i| format!("exec.file.name =~ r\"^tool{i}[a-z]+$\""))
        .collect::<Vec<_>>()
        .join(" || ");
    let started = Instant::now();
    let (set, report) = RuleSet::build(&[], &[rule("r", expression)]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let exec = |name: &str| {
        let p = rampart_model::Process {
            file: rampart_model::FileInfo::from_path(format!("/usr/bin/{name}")),
            comm: name.to_string(),
            ..Default::default()
        };
        rampart_model::Event::exec(1, rampart_model::ProcessNode::new(p, None))
    };
    let hit = |event: &rampart_model::Event| !set.evaluate(event, &MemoryStore::new()).is_empty();
    assert!(!hit(&exec("bash")), "bash");
    assert!(
        !hit(&exec("tool300")),
        "tool300 needs a letter after the number"
    );
    let event = exec("tool299x");
    assert!(hit(&event), "tool299x");
}

#[test]
fn the_deadline_stops_a_compile() {
    let env = Env {
        deadline: Some(Instant::now() - Duration::from_secs(1)),
        ..Env::default()
    };
    let err = compile(r#"exec.file.name =~ r"^sh$""#, &env).unwrap_err();
    assert!(err.msg.contains("time budget"), "{err}");
    // Without a deadline, the same expression compiles.
    assert!(compile(r#"exec.file.name =~ r"^sh$""#, &Env::default()).is_ok());
}

#[test]
fn thousands_of_prefixes_on_one_first_byte_index_in_linear_time() {
    // Every head starts with `a`: the index kept them in one list searched at each insertion.
    let heads = (0..20_000)
        .map(|i| format!("~\"a{i}x*\""))
        .collect::<Vec<_>>()
        .join(", ");
    let started = Instant::now();
    let (set, report) = RuleSet::build(&[], &[rule("r", format!("exec.file.name in [{heads}]"))]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        set.index_stats(rampart_model::EventType::Exec).0,
        0,
        "indexed"
    );
    let event = common::exec_event();
    assert!(set.evaluate(&event, &MemoryStore::new()).is_empty());
}
