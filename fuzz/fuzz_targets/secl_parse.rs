//! Lexer, parser, checker, compiler and evaluator must never panic nor overflow the stack on any
//! expression, alone or as a rule set (index, guards, merged alternatives, approvers), on the stack size
//! the server and agent threads have (tokio and `std::thread` default to 2 MiB; this runs on half that).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_model::{Event, EventData, EventType, FileInfo, Process, ProcessContext, ProcessNode};
use rampart_secl::{compile, Cx, Env, MemoryStore, NoVariables, RuleSet, RuleSpec};

fn run(src: &str) {
    let _ = rampart_secl::ast::parse(src);
    let parent = ProcessNode::new(
        Process {
            pid: 1,
            file: FileInfo::from_path("/sbin/init"),
            ..Default::default()
        },
        None,
    );
    let node = ProcessNode::new(
        Process {
            pid: 2,
            file: FileInfo::from_path("/bin/sh"),
            ..Default::default()
        },
        Some(parent),
    );
    let ev = Event::new(
        1,
        ProcessContext::new(node.clone()),
        EventData::Exec(node.process.clone()),
    );
    if let Ok(c) = compile(src, &Env::default()) {
        let _ = c.eval(&Cx::new(&ev, &NoVariables));
    }
    let rule = RuleSpec {
        id: "fuzz".into(),
        expression: src.to_string(),
        meta: Default::default(),
        actions: vec![],
    };
    let (set, _) = RuleSet::build(&[], &[rule]);
    let _ = set.evaluate(&ev, &MemoryStore::new());
    for t in EventType::ALL {
        let _ = set.approvers(*t);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let src = src.to_string();
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || run(&src))
        .unwrap()
        .join()
        .unwrap();
});
