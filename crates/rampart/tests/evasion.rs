//! The evasion suite (issue 19): the tricks an attacker who has read Rampart's code would try, each performed
//! for real against `rampart monitor --json` with the default policy (root, real kernel). Each trick asserts the
//! detection (or the kill, or the refusal); its benign twin asserts none.

#[path = "evasion/exempt.rs"]
mod exempt;
#[path = "evasion/protect.rs"]
mod protect;
