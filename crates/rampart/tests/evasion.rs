//! The evasion suite (issue 19): tricks an attacker who has read Rampart's code would use, each performed for
//! real on this kernel and asserted caught, with a benign twin asserted quiet. Runs as root.

#[path = "evasion/creds.rs"]
mod creds;
