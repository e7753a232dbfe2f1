//! Target processes of events that act on another process: `signal.target`, `ptrace.tracee` and
//! `setrlimit.target` get the target's full context (process, parent, ancestors) from the process cache.

use rampart_model::{Event, EventData, ProcessContext};

use crate::process_cache::ProcessCache;

/// Fills the target context of a signal, ptrace or setrlimit event; other events are left alone.
pub fn fill(cache: &mut ProcessCache, event: &mut Event) {
    match &mut event.data {
        // kill(2) pids <= 0 name process groups or "every process": no single target.
        EventData::Signal(s) if s.target.is_none() && (s.pid as i32) > 0 => {
            s.target = cache.target_node(s.pid).map(ProcessContext::new);
        }
        // The probe names these targets by pid only; keep that when the cache cannot do better.
        EventData::Ptrace(p) => fill_bare(cache, &mut p.tracee),
        EventData::Setrlimit(s) => fill_bare(cache, &mut s.target),
        _ => {}
    }
}

fn fill_bare(cache: &mut ProcessCache, target: &mut Option<ProcessContext>) {
    let pid = target.as_ref().map_or(0, |t| t.pid);
    if pid != 0 {
        if let Some(node) = cache.target_node(pid) {
            *target = Some(ProcessContext::new(node));
        }
    }
}
