//! Lexer, parser, checker and evaluator must never panic on any expression.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_model::{Event, EventData, FileInfo, Process, ProcessContext, ProcessNode};
use rampart_secl::{compile, Cx, Env, NoVariables};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let _ = rampart_secl::ast::parse(src);
    if let Ok(c) = compile(src, &Env::default()) {
        let parent = ProcessNode::new(Process { pid: 1, file: FileInfo::from_path("/sbin/init"), ..Default::default() }, None);
        let node = ProcessNode::new(Process { pid: 2, file: FileInfo::from_path("/bin/sh"), ..Default::default() }, Some(parent));
        let ev = Event::new(1, ProcessContext::new(node.clone()), EventData::Exec(node.process.clone()));
        let _ = c.eval(&Cx::new(&ev, &NoVariables));
    }
});
