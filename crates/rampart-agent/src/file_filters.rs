//! From the compiled rules to the kernel's file filter: per file event type, `Off` when no rule needs it
//! (its events never leave the kernel; with no file rule at all the file program is not even attached),
//! `Filter` with the rule engine's approvers when every rule of the type can be narrowed, and `All` (send
//! everything) when one cannot, or when an approver has a shape the kernel cannot check.
//!
//! This is also the no-policy default: without rules, `monitor --events` shows no file events.

use rampart_model::EventType;
use rampart_probe::file::{FileFilters, FileKind, FilterReport, Mode, SideFilter, TypeFilter};
use rampart_probe::Probe;
use rampart_secl::{Approvers, FieldApprovers, RuleSet, COMPAT_FIELD};

/// Computes the filter for `rules` and pushes it into the kernel (a new discarder revision with it); the
/// file event types in `unfiltered` are sent whole (`monitor --events --event-type open`).
pub fn apply(
    probe: &mut Probe,
    rules: &RuleSet,
    unfiltered: &[EventType],
) -> anyhow::Result<FilterReport> {
    let mut filters = compute(rules);
    for kind in FileKind::ALL {
        if unfiltered.contains(&kind.event_type()) {
            filters.types.insert(kind, TypeFilter::all());
        }
    }
    Ok(probe.apply_file_filters(&filters)?)
}

/// The kernel file filter `rules` need.
pub fn compute(rules: &RuleSet) -> FileFilters {
    let mut out = FileFilters::default();
    for kind in FileKind::ALL {
        let t = kind.event_type();
        if rules.rules_for(t).is_empty() {
            continue;
        }
        let mut filter = rules
            .approvers(t)
            .and_then(|a| type_filter(kind, t, &a))
            .unwrap_or_else(TypeFilter::all);
        filter.errors = looks_at_errors(rules, t);
        out.types.insert(kind, filter);
    }
    out
}

/// Whether some rule of type `t` reads its return value (then failed calls of every kind are sent).
fn looks_at_errors(rules: &RuleSet, t: EventType) -> bool {
    let retval = format!("{}.retval", t.as_str());
    rules
        .rules_for(t)
        .iter()
        .any(|r| r.fields().any(|f| f == retval))
}

/// `None` when some approver cannot be expressed in the kernel (the type is then sent unfiltered).
fn type_filter(kind: FileKind, t: EventType, a: &Approvers) -> Option<TypeFilter> {
    let mut f = TypeFilter {
        mode: Mode::Filter,
        ..Default::default()
    };
    let prefix = t.as_str();
    for (field, fa) in &a.fields {
        if field == COMPAT_FIELD {
            // `event.compat == true` (1) is the only approval the engine derives for it
            if fa.ints.len() != 1 || !fa.ints.contains(&1) {
                return None;
            }
            f.source.compat = true;
            continue;
        }
        let rest = field.strip_prefix(prefix)?.strip_prefix('.')?;
        match rest {
            "file.path" => path_side(&mut f.source, fa)?,
            "file.name" => name_side(&mut f.source, fa)?,
            "file.destination.path" if kind.has_destination() => path_side(&mut f.destination, fa)?,
            "file.destination.name" if kind.has_destination() => name_side(&mut f.destination, fa)?,
            "flags" if kind == FileKind::Open => {
                // Exact flag values (`open.flags == O_RDONLY`) have no mask form.
                if !fa.ints.is_empty()
                    || !fa.exact.is_empty()
                    || !fa.prefixes.is_empty()
                    || !fa.name_prefixes.is_empty()
                {
                    return None;
                }
                for m in &fa.masks {
                    f.source.flags_mask |= u32::try_from(*m).ok()?;
                }
            }
            _ => return None,
        }
    }
    (!f.source.is_empty() || !f.destination.is_empty()).then_some(f)
}

fn path_side(side: &mut SideFilter, fa: &FieldApprovers) -> Option<()> {
    if !fa.ints.is_empty() || !fa.masks.is_empty() || !fa.name_prefixes.is_empty() {
        return None;
    }
    // Kernel paths are absolute: a relative value could only match through normalisation we do not do.
    if fa
        .exact
        .iter()
        .chain(&fa.prefixes)
        .any(|p| !p.starts_with('/'))
    {
        return None;
    }
    side.exact_paths.extend(fa.exact.iter().cloned());
    side.prefixes.extend(fa.prefixes.iter().cloned());
    side.path_basenames = fa.basenames.clone();
    Some(())
}

fn name_side(side: &mut SideFilter, fa: &FieldApprovers) -> Option<()> {
    if !fa.prefixes.is_empty() || !fa.ints.is_empty() || !fa.masks.is_empty() {
        return None;
    }
    side.names.extend(fa.exact.iter().cloned());
    side.name_prefixes.extend(fa.name_prefixes.iter().cloned());
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_secl::{MacroSpec, RuleSpec};

    fn rules(exprs: &[&str]) -> RuleSet {
        let specs: Vec<RuleSpec> = exprs
            .iter()
            .enumerate()
            .map(|(i, e)| RuleSpec {
                id: format!("r{i}"),
                expression: e.to_string(),
                meta: Default::default(),
                actions: Vec::new(),
            })
            .collect();
        let (set, report) = RuleSet::build(&[] as &[MacroSpec], &specs);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        set
    }

    #[test]
    fn types_without_rules_are_off() {
        let f = compute(&rules(&[r#"exec.file.path == "/bin/sh""#]));
        assert!(!f.any_enabled());
    }

    #[test]
    fn narrowable_rules_filter_in_the_kernel() {
        let f = compute(&rules(&[
            r#"open.file.path == "/etc/shadow""#,
            r#"open.file.path =~ "/etc/ssh/*" && open.flags & O_CREAT > 0"#,
            r#"unlink.file.name == "authorized_keys""#,
            r#"rename.file.destination.path =~ "/etc/cron.d/*""#,
        ]));
        let open = &f.types[&FileKind::Open];
        assert_eq!(open.mode, Mode::Filter);
        assert!(open.source.exact_paths.contains("/etc/shadow"));
        let unlink = &f.types[&FileKind::Unlink];
        assert_eq!(unlink.mode, Mode::Filter);
        assert!(unlink.source.names.contains("authorized_keys"));
        let rename = &f.types[&FileKind::Rename];
        assert_eq!(rename.mode, Mode::Filter);
        assert!(rename
            .destination
            .prefixes
            .iter()
            .any(|p| p.starts_with("/etc/cron.d")));
        assert_eq!(f.mode(FileKind::Chmod), Mode::Off);
    }

    #[test]
    fn ia32_calls_are_admitted_by_event_compat() {
        let f = compute(&rules(&[
            r#"open.file.path != "" && event.compat && !process.is_ia32"#,
            r#"open.file.path == "/etc/shadow""#,
        ]));
        let open = &f.types[&FileKind::Open];
        assert_eq!(open.mode, Mode::Filter);
        assert!(open.source.compat);
        assert!(open.source.exact_paths.contains("/etc/shadow"));
    }

    #[test]
    fn an_unnarrowable_rule_sends_its_type_unfiltered() {
        let f = compute(&rules(&[
            r#"open.file.path == "/etc/shadow""#,
            r#"chmod.file.path != "/tmp/x""#,
        ]));
        assert_eq!(f.mode(FileKind::Chmod), Mode::All);
        assert_eq!(f.mode(FileKind::Open), Mode::Filter);
    }
}
