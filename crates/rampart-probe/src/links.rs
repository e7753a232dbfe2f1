//! Detaching many programs at once.

use libbpf_rs::Link;

/// Drops `links` from one thread each and waits for them all. Detaching a tracepoint program waits for the
/// kernel's tracepoint synchronisation (60–90 ms each here); concurrent waits share grace periods, so the
/// default policy's ~70 links go in about the time of one instead of ~6 s one after another, which is how
/// long stopping the agent took.
pub(crate) fn drop_concurrently(links: impl IntoIterator<Item = Link>) {
    std::thread::scope(|scope| {
        for link in links {
            // a thread that cannot start hands its link back, and it is dropped here
            if let Err(e) = std::thread::Builder::new()
                .name("rampart-detach".into())
                .spawn_scoped(scope, move || drop(link))
            {
                tracing::debug!("detaching in the calling thread: {e}");
            }
        }
    });
}
