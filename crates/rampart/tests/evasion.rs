//! The evasion suite (issue 19): tricks an attacker who has read Rampart's code would try, performed for real
//! under `rampart monitor --json` with the default policy. Each trick asserts the detection; its benign twin
//! asserts none. Runs as root (CI does).

#[path = "evasion/exempt.rs"]
mod exempt;
