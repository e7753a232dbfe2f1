//! Evasion suite: each trick an attacker who has read Rampart's code would try, performed for real under
//! `rampart monitor --json` with the default policy, and the match (or the refusal) it must still raise; a
//! benign twin of each must raise nothing. Runs as root.

#[path = "evasion/ia32.rs"]
mod ia32;
