//! The module's tokio runtime: one per process, started on first use, rebuilt in a forked
//! child, and shut down before the interpreter exits.
//!
//! Why not a `static` runtime: its worker threads would outlive the interpreter. A worker
//! that wakes an event loop attaches to Python; if that happens while the interpreter
//! finalizes, `CPython` kills or crashes the thread (SIGSEGV, or SIGABRT "Fatal Python error"
//! at exit). So `atexit` (which runs before finalization starts) shuts the runtime down with
//! the interpreter released, and no thread of ours is left to touch it. After a `fork()` the
//! child has none of the parent's threads: the runtime is rebuilt there on first use.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::{Handle, Runtime};

use crate::errors::Error;

/// How long `atexit` waits for tasks to stop (they stop at their next await).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

struct Owned {
    /// The process that built it: another pid is a forked child.
    pid: u32,
    runtime: Runtime,
}

static RUNTIME: Mutex<Option<Owned>> = Mutex::new(None);

/// Set by [`shutdown`]: the interpreter is exiting, no new work starts.
static EXITING: AtomicBool = AtomicBool::new(false);

/// The runtime of this process, built on first use (and again after a fork).
pub(crate) fn handle() -> Result<Handle, Error> {
    if EXITING.load(Ordering::Acquire) {
        return Err(Error::Runtime(
            "mcp_wrapper_rs cannot start work: the interpreter is exiting".to_owned(),
        ));
    }
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    match slot.take() {
        Some(owned) if owned.pid == pid => {
            let handle = owned.runtime.handle().clone();
            *slot = Some(owned);
            return Ok(handle);
        }
        // A forked child: the parent's worker threads do not exist here, and dropping the
        // runtime would wait for them forever. Its memory is the price of the fork.
        Some(inherited) => std::mem::forget(inherited),
        None => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mcp-wrapper-rs")
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the tokio runtime: {e}")))?;
    let handle = runtime.handle().clone();
    *slot = Some(Owned { pid, runtime });
    Ok(handle)
}

/// Stops the runtime: registered with `atexit` when the module is imported. Tasks still
/// running are dropped at their next await; the interpreter is released meanwhile, so a
/// task that is waking an event loop can finish doing so.
#[pyfunction(name = "_shutdown")]
pub(crate) fn shutdown(py: Python<'_>) {
    EXITING.store(true, Ordering::Release);
    let owned = RUNTIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(owned) = owned {
        if owned.pid == std::process::id() {
            py.detach(|| owned.runtime.shutdown_timeout(SHUTDOWN_WAIT));
        } else {
            std::mem::forget(owned);
        }
    }
}
