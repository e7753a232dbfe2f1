//! Property tests: no input makes the language panic, and globs agree with a reference regex.

mod common;

use proptest::prelude::*;
use rampart_secl::glob::Glob;
use rampart_secl::{compile, Cx, Env, NoVariables};

/// Token soup close enough to SECL to reach the checker and the evaluator.
fn secl_like() -> impl Strategy<Value = String> {
    let tokens = prop::sample::select(vec![
        "exec.file.path",
        "exec.argv",
        "process.ancestors.file.name",
        "process.ancestors[A].comm",
        "open.flags",
        "exec.uid",
        "exec.file.change_time",
        "connect.addr.ip",
        "exec.file.path.length",
        "${process.pid}",
        "${builtins.uuid4}",
        "O_CREAT",
        "S_IXUSR",
        "==",
        "!=",
        "=~",
        "!~",
        "<",
        ">=",
        "in",
        "not in",
        "allin",
        "&&",
        "||",
        "!",
        "&",
        "|",
        "^",
        "+",
        "-",
        "(",
        ")",
        "[",
        "]",
        ",",
        "\"/bin/sh\"",
        "~\"/etc/**\"",
        "r\"^a.*\"",
        "10s",
        "1",
        "0755",
        "10.0.0.0/8",
        "::1",
        "true",
        "false",
        "not",
        "\"x${process.pid}\"",
    ]);
    prop::collection::vec(tokens, 0..24).prop_map(|v| v.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        let _ = rampart_secl::ast::parse(&src);
        let _ = compile(&src, &Env::default());
    }

    #[test]
    fn secl_like_text_compiles_or_errors_and_evaluates(src in secl_like()) {
        if let Ok(c) = compile(&src, &Env::default()) {
            for ev in [common::exec_event(), common::open_event(), common::connect_event()] {
                let _ = c.eval(&Cx::new(&ev, &NoVariables));
            }
        }
    }

    #[test]
    fn flat_globs_match_like_a_regex(pat in "[ab*]{0,8}", text in "[ab/]{0,12}") {
        let re = format!("^{}$", pat.chars().map(|c| if c == '*' { ".*".to_string() } else { regex::escape(&c.to_string()) }).collect::<String>());
        let want = regex::Regex::new(&re).unwrap().is_match(&text);
        prop_assert_eq!(Glob::new(&pat, false, false).is_match(&text), want, "pattern {:?} text {:?}", pat, text);
    }

    #[test]
    fn path_globs_match_like_a_regex(pat in "(/|a|b|\\*|\\*\\*){0,8}", text in "[ab/]{0,12}") {
        // Reference: `**` as a whole segment = any number of segments; `*` = within a segment.
        // Consecutive `**` segments mean the same as one.
        let mut segs: Vec<&str> = pat.split('/').collect();
        segs.dedup_by(|a, b| *a == "**" && *b == "**");
        let mut re = String::from("^");
        for (i, s) in segs.iter().enumerate() {
            let last = i + 1 == segs.len();
            if *s == "**" && last {
                // A trailing `**` also matches zero segments: `/etc/**` matches `/etc`.
                if re.ends_with('/') {
                    re.pop();
                    re.push_str("(?:/.*)?");
                } else {
                    re.push_str(".*");
                }
                continue;
            }
            if *s == "**" {
                re.push_str("(?:[^/]*/)*");
                continue;
            }
            for c in s.chars() {
                re.push_str(if c == '*' { "[^/]*" } else { "a" });
                if c != '*' { re.pop(); re.push(c); }
            }
            if !last { re.push('/'); }
        }
        re.push('$');
        let want = regex::Regex::new(&re).unwrap().is_match(&text);
        prop_assert_eq!(Glob::new(&pat, true, false).is_match(&text), want, "pattern {:?} text {:?} re {}", pat, text, re);
    }
}
