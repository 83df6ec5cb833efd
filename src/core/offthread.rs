//! Blocking work (scans of `/proc`, reading files) done on a short-lived
//! thread of its own while the watcher's thread goes on, and joined: no
//! thread outlives the future awaiting it, even one dropped early (a
//! watcher closed meanwhile waits for the work to end).

use std::thread::JoinHandle;

/// `work`'s result, computed on a thread named `name`; `None` if the thread
/// cannot be made or `work` panics. The thread starts when first polled.
pub async fn run<T: Send + 'static>(name: &str, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    start(name, work).await
}

/// Like [`run`], but the thread starts now: the work goes on while the
/// caller does other things before it awaits the answer. Dropping the
/// answer, awaited or not, joins the thread.
pub fn start<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> impl std::future::Future<Output = Option<T>> + Send + 'static {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new().name(name.to_string()).spawn(move || {
        let _ = tx.send(work());
    });
    let joined = Joined(thread.ok());
    async move {
        joined.0.as_ref()?;
        let result = rx.await.ok();
        // It has sent its answer (or panicked): joining takes no longer
        // than its exit.
        drop(joined);
        result
    }
}

/// Joins its thread when dropped.
struct Joined(Option<JoinHandle<()>>);

impl Drop for Joined {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_elsewhere_and_leaves_no_thread() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let me = std::thread::current().id();
        let other = rt.block_on(run("ww-test", move || std::thread::current().id() != me));
        assert_eq!(other, Some(true));
        assert_eq!(rt.block_on(run("ww-test", || -> u8 { panic!("boom") })), None);
    }

    #[test]
    fn a_dropped_wait_still_joins() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let done = Arc::new(AtomicBool::new(false));
        let d = Arc::clone(&done);
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            let slow = run("ww-test", move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                d.store(true, Ordering::SeqCst);
            });
            let _ = tokio::time::timeout(std::time::Duration::from_millis(1), slow).await;
        });
        assert!(done.load(Ordering::SeqCst), "the thread was joined when its wait was dropped");
    }

    #[test]
    fn started_work_runs_before_it_is_awaited_and_an_unawaited_start_joins() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let done = Arc::new(AtomicBool::new(false));
        let d = Arc::clone(&done);
        let started = start("ww-test", move || d.store(true, Ordering::SeqCst));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !done.load(Ordering::SeqCst) {
            assert!(std::time::Instant::now() < deadline, "never ran without being awaited");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(rt.block_on(started), Some(()));
        let d = Arc::new(AtomicBool::new(false));
        let d2 = Arc::clone(&d);
        drop(start("ww-test", move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            d2.store(true, Ordering::SeqCst);
        }));
        assert!(d.load(Ordering::SeqCst), "dropped unawaited, and joined");
    }
}
