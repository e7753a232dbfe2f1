//! The evasion suite: the tricks an attacker who read Rampart's code would try, each performed for real against
//! `rampart monitor --json` with the default policy (root, real kernel), with the outcome asserted, and a
//! benign twin that must stay quiet.

#[path = "evasion/protect.rs"]
mod protect;
