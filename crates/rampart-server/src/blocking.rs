//! CPU- or memory-heavy work (argon2 password checks, policy compiles) runs on a few dedicated threads, not
//! on the async workers (`/healthz` and every other request stay fast) nor on tokio's blocking pool (up to
//! 512 threads: 200 concurrent argon2 checks there took the server from 22 MB to 2.57 GB). Callers wait
//! for a thread within a bound, in a queue of bounded length, and are told to retry (503) past either;
//! the memory the jobs take is bounded by the number of threads, which also keeps the allocator from
//! holding a freed job's memory in many per-thread arenas.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

/// The CPUs this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

type Job = Box<dyn FnOnce() + Send>;

/// A bounded lane onto dedicated threads.
pub struct BlockingGate {
    what: &'static str,
    /// One per thread: a job admitted finds a thread free.
    permits: Arc<Semaphore>,
    /// Callers waiting for a permit, and how many may.
    waiting: AtomicUsize,
    max_waiting: usize,
    /// How long a caller waits for a permit before it is told to come back.
    wait: Duration,
    jobs: mpsc::Sender<Job>,
}

impl BlockingGate {
    /// `threads` threads named `rampart-{name}-N`; `what` names the work in refusals ("password checks").
    /// The threads end when the gate is dropped.
    pub fn new(
        name: &'static str,
        what: &'static str,
        threads: usize,
        wait: Duration,
    ) -> BlockingGate {
        let threads = threads.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("rampart-{name}-{i}"))
                .spawn(move || loop {
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("starting a {name} thread: {e}");
            }
        }
        BlockingGate {
            what,
            permits: Arc::new(Semaphore::new(threads)),
            waiting: AtomicUsize::new(0),
            max_waiting: 8 * threads,
            wait,
            jobs,
        }
    }

    /// Runs `f` on one of the gate's threads once one is free; 503 with `Retry-After` when too many callers
    /// wait already or none is free within the wait. A job runs to its end even if its caller has gone.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> ApiResult<T> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(self.busy());
                }
                let acquired =
                    tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await;
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                match acquired {
                    Ok(Ok(p)) => p,
                    _ => return Err(self.busy()),
                }
            }
        };
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(f));
            drop(permit);
            let _ = done.send(outcome);
        });
        self.jobs
            .send(job)
            .map_err(|_| ApiError::internal(format!("the {} threads are gone", self.what)))?;
        match result.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(ApiError::internal(format!(
                "a job of {} panicked",
                self.what
            ))),
            Err(_) => Err(ApiError::internal(format!(
                "a job of {} was lost",
                self.what
            ))),
        }
    }

    fn busy(&self) -> ApiError {
        ApiError::busy(format!("too many {} at once: retry shortly", self.what), 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_at_most_its_threads_at_once_and_refuses_a_long_queue() {
        let gate = Arc::new(BlockingGate::new(
            "test",
            "tests",
            2,
            Duration::from_secs(5),
        ));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                gate.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        let mut busy = 0;
        for t in tasks {
            if let Err(e) = t.await.unwrap() {
                assert_eq!(e.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
                assert_eq!(e.retry_after, Some(1));
                busy += 1;
            }
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        // 2 running and 16 waiting at most: of 40 callers at once, the others are refused.
        assert!(busy >= 40 - 2 - 16, "{busy} refused");
        // A panicking job is an error, and its thread goes on.
        assert!(gate.run(|| panic!("boom")).await.is_err());
        assert_eq!(gate.run(|| 7).await.unwrap(), 7);
    }
}
