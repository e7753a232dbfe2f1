//! Fields every event has: `event.*`, `container.*`, `cgroup.*` and the process context `PC(process)`.

use crate::fields::builder::Builder;
use crate::fields::declare::fields;
use crate::fields::FieldScope;

pub(super) fn declare(b: &mut Builder) {
    let common = FieldScope::Common;
    fields!(b, common, |e| {
        "event.timestamp", Timestamp => e.event.timestamp;
        "event.hostname", Str => &e.event.hostname;
        "event.origin", Str => &e.event.origin;
        "event.os", Str @ computed => "linux";
        "event.type", Str => e.event.event_type.as_str();
        "event.async", Bool => e.event.is_async;
        "event.compat", Bool => e.event.compat;
        // Service tags come from the workload; until the agent resolves them the field reads "".
        "event.service", Str @ computed => "";
        "event.source", Str @ computed => if e.event.origin == "procfs" { "snapshot" } else { "runtime" };
        "container.id", Str => e.container.as_ref().map_or("", |c| c.id.as_str());
        "container.runtime", Str => e.container.as_ref().map_or("", |c| c.runtime.as_str());
        "container.created_at", Timestamp => e.container.as_ref().map_or(0, |c| c.created_at);
        "container.tags", Strs => e.container.iter().flat_map(|c| &c.tags);
        "cgroup.id", Int @ "process.cgroup.id" => e.process.cgroup.id;
        // On cgroup v2 the cgroup id is the inode of the cgroup directory.
        "cgroup.file.inode", Int @ "process.cgroup.id" => e.process.cgroup.id;
        "cgroup.file.mount_id", Int @ computed => 0;
        "cgroup.version", Int @ computed => 2;
    });
    b.context("process", common, |e| Some(&e.process));
}
