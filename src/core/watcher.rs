//! A watcher: one engine, one background thread with its own runtime, and
//! the shared state callers read.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use super::engine::Engine;
use super::engines;
use super::host::Host;
use super::options::{EngineKind, Options};
use super::publish::{Publisher, Render};
use super::retry::Retry;
use super::shared::{Change, Readiness, Shared};
use super::watch::WatchLoop;

/// How long closing waits for the runtime's blocking work (name lookups) to end.
pub const CLOSE_BLOCKING_GRACE: Duration = Duration::from_secs(2);

/// A running watcher. Dropping it stops the background work and returns
/// once its thread has ended and its sockets are closed.
pub struct Watcher<R: Send + Sync + 'static> {
    shared: Arc<Shared<R>>,
    stop: std::sync::Mutex<Option<oneshot::Sender<()>>>,
    thread: Option<JoinHandle<()>>,
}

impl<R: Send + Sync + 'static> Watcher<R> {
    /// Starts watching the engine `opts` names, in the background.
    /// `thread_init` runs first thing on the watcher's thread (the C ABI uses
    /// it to block SIGPIPE there).
    pub fn start(opts: &Options, render: Render<R>, thread_init: fn()) -> std::io::Result<Self> {
        if opts.engine == EngineKind::Auto {
            return Self::start_host(opts, render, thread_init);
        }
        let engine = engines::build(opts.engine, &opts.endpoint, opts, &[])
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        Self::start_with(engine, opts, render, thread_init)
    }

    /// Starts watching every engine discovery finds (now and every
    /// `discover_interval`).
    fn start_host(opts: &Options, render: Render<R>, thread_init: fn()) -> std::io::Result<Self> {
        let (publisher, shared) = Publisher::new(Vec::new(), render);
        let host = Host::new(publisher, opts.clone());
        Self::spawn(shared, move |stopped| host.run(stopped), thread_init)
    }

    /// Starts watching `engine` (any implementation, e.g. a test double).
    pub fn start_with(
        engine: Arc<dyn Engine>,
        opts: &Options,
        render: Render<R>,
        thread_init: fn(),
    ) -> std::io::Result<Self> {
        let (publisher, shared) = Publisher::new(vec![Arc::new(engine.describe())], render);
        let watch = WatchLoop::new(engine, 0, publisher, Retry::new(opts.backoff, opts.max_elapsed), opts.call_timeout)
            .auditing_every(opts.audit_interval);
        Self::spawn(shared, move |stopped| watch.run(stopped), thread_init)
    }

    /// Runs `work` on the watcher's own thread and runtime until stopped.
    fn spawn<F, Fut>(shared: Arc<Shared<R>>, work: F, thread_init: fn()) -> std::io::Result<Self>
    where
        F: FnOnce(oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
        let (stop, stopped) = oneshot::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("ww-watcher".into()).spawn(move || {
            thread_init();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(work(stopped))));
            if let Err(panic) = outcome {
                let what = panic_message(&*panic);
                thread_shared.fail(format!("internal error: the watcher's background work panicked: {what}"));
            }
            runtime.shutdown_timeout(CLOSE_BLOCKING_GRACE);
        })?;
        Ok(Watcher { shared, stop: std::sync::Mutex::new(Some(stop)), thread: Some(thread) })
    }

    /// The current published snapshot; never waits for the background work.
    pub fn snapshot(&self) -> Arc<R> {
        self.shared.current()
    }

    /// Waits until the first synchronisation succeeded, at most `timeout`.
    pub fn ready(&self, timeout: Option<Duration>) -> Readiness {
        self.shared.ready(timeout)
    }

    /// Waits until a generation newer than `after` is published, at most `timeout`.
    pub fn wait_newer(&self, after: u64, timeout: Option<Duration>) -> Change {
        self.shared.wait_newer(after, timeout)
    }

    /// Stops watching: waiters return [`Readiness::Closed`] /
    /// [`Change::Closed`], and so do later waits; the last snapshot stays.
    /// Callable from any thread at any time, more than once; frees nothing.
    pub fn shutdown(&self) {
        self.shared.shut();
        let stop = self.stop.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
    }

    /// What callers of this watcher share with its thread; waiters hold it
    /// so that they never touch a closed watcher.
    pub fn shared(&self) -> &Arc<Shared<R>> {
        &self.shared
    }
}

impl<R: Send + Sync + 'static> Drop for Watcher<R> {
    fn drop(&mut self) {
        // Waiters leave first, with `Closed`; then the thread ends.
        self.shutdown();
        self.shared.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The text of a panic payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}
