//! Rampart addition: `privilege_gain.*`, the agent's privilege-history check (`events::privilege`).

use crate::event::{Event, EventData, EventType};
use crate::events::{PrivilegeCreds, PrivilegeGainEvent};
use crate::fields::builder::Builder;
use crate::fields::declare::fields;
use crate::fields::FieldScope;

fn gain(e: &Event) -> Option<&PrivilegeGainEvent> {
    match &e.data {
        EventData::PrivilegeGain(x) => Some(x),
        _ => None,
    }
}

pub(super) fn declare(b: &mut Builder) {
    let s = FieldScope::Event(EventType::PrivilegeGain);
    fields!(b, s, EventData::PrivilegeGain(x) => {
        "privilege_gain.seen_at", Str => x.seen_at.as_str();
        "privilege_gain.gained_ids", Strs => &x.gained_ids;
        "privilege_gain.gained_caps", Int => x.gained_caps;
    });
    side(b, s, "previous", |e| gain(e).map(|x| &x.previous));
    side(b, s, "current", |e| gain(e).map(|x| &x.current));
}

/// `privilege_gain.previous.*` or `privilege_gain.current.*`.
fn side(
    b: &mut Builder,
    s: FieldScope,
    name: &str,
    pick: for<'a> fn(&'a Event) -> Option<&'a PrivilegeCreds>,
) {
    let p = format!("privilege_gain.{name}");
    // `pick` is a function pointer: each accessor captures it and calls it directly.
    fields!(b, s, |e| {
        format!("{p}.uid"), Int => pick(e).map_or(0, |c| c.ids.uid);
        format!("{p}.euid"), Int => pick(e).map_or(0, |c| c.ids.euid);
        format!("{p}.suid"), Int => pick(e).map_or(0, |c| c.ids.suid);
        format!("{p}.fsuid"), Int => pick(e).map_or(0, |c| c.ids.fsuid);
        format!("{p}.gid"), Int => pick(e).map_or(0, |c| c.ids.gid);
        format!("{p}.egid"), Int => pick(e).map_or(0, |c| c.ids.egid);
        format!("{p}.sgid"), Int => pick(e).map_or(0, |c| c.ids.sgid);
        format!("{p}.fsgid"), Int => pick(e).map_or(0, |c| c.ids.fsgid);
        format!("{p}.cap_effective"), Int => pick(e).map_or(0, |c| c.ids.cap_effective);
        format!("{p}.cap_permitted"), Int => pick(e).map_or(0, |c| c.ids.cap_permitted);
        format!("{p}.user"), Str => pick(e).map_or("", |c| c.user.as_str());
        format!("{p}.euser"), Str => pick(e).map_or("", |c| c.euser.as_str());
        format!("{p}.group"), Str => pick(e).map_or("", |c| c.group.as_str());
        format!("{p}.egroup"), Str => pick(e).map_or("", |c| c.egroup.as_str());
        format!("{p}.init_user_ns"), Bool => pick(e).is_some_and(|c| c.ids.init_user_ns);
    });
}
