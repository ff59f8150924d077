//! The coroutines every async method returns.
//!
//! A [`Coroutine`] implements the coroutine protocol (`send`, `throw`, `close`, `__await__`),
//! so `asyncio.iscoroutine` accepts it and `asyncio.create_task`, `TaskGroup.create_task`,
//! `gather` and `wait_for` take it as they take an `async def` call. Like one:
//!
//! - nothing starts until it is first awaited (sent `None`);
//! - dropped without ever being awaited, it warns `RuntimeWarning: coroutine ... was never
//!   awaited`;
//! - cancelling the task that awaits it (`throw`) or closing it drops the Rust work.
//!
//! The Rust work runs on the module's runtime ([`crate::runtime`]); it produces a [`Finish`]
//! that is run on the event loop's thread, under the interpreter, to make the Python result.
//! Runtime threads attach to Python only to wake the loop (`call_soon_threadsafe`), and
//! never after the interpreter began to exit (the runtime is shut down first).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::FutureExt as _;
use pyo3::exceptions::{PyRuntimeError, PyRuntimeWarning, PyStopIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCFunction, PyTuple};

use crate::errors::{Error, Outcome};
use crate::runtime;

/// What the Rust work hands back, run on the loop's thread to make the result.
pub(crate) type Finish = Box<dyn FnOnce(Python<'_>) -> Step + Send>;

/// The Rust side of a coroutine, started when the coroutine is first awaited.
pub(crate) type Job = Pin<Box<dyn Future<Output = Finish> + Send>>;

/// What a [`Finish`] decided.
pub(crate) enum Step {
    /// The coroutine returns this value or raises this error.
    Done(PyResult<Py<PyAny>>),
    /// Another reader took what the work waited for: start the work again (a concurrent
    /// `__anext__` on the same iterator).
    Again,
}

/// Makes the work, once per start: every start gets a fresh future.
pub(crate) trait Work: Send + 'static {
    /// The future to run, or `None` when this work cannot run again.
    fn start(&mut self) -> Option<Job>;

    /// The result without the runtime, when it is already at hand (an iterator's buffered
    /// item); asked on the loop's thread each time before the work starts.
    fn ready(&mut self, _py: Python<'_>) -> Option<Step> {
        None
    }
}

/// A future that runs once, as a `Work`.
struct Once<F>(Option<F>);

impl<F, T> Work for Once<F>
where
    F: Future<Output = Result<T, Error>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    fn start(&mut self) -> Option<Job> {
        let future = self.0.take()?;
        Some(Box::pin(async move {
            let outcome = Outcome(future.await);
            Box::new(move |py: Python<'_>| Step::Done(outcome.into_pyobject(py).map(Bound::unbind)))
                as Finish
        }))
    }
}

/// Where the runtime's task leaves its result for the loop's thread.
type Slot = Arc<Mutex<Option<Finish>>>;

enum State {
    /// Not awaited yet.
    Created(Box<dyn Work>),
    /// Its result is known already (no Rust work to run).
    Ready(PyResult<Py<PyAny>>),
    /// Running on the runtime; the awaiting task waits for `waiter`.
    Running {
        work: Box<dyn Work>,
        task: tokio::task::AbortHandle,
        slot: Slot,
    },
    /// A step is running Python code (a decoder, an exception's constructor): a call that
    /// comes back in meanwhile is refused, as a native coroutine refuses it.
    Stepping,
    /// Returned, raised, or closed.
    Finished,
}

/// A coroutine whose work runs in Rust. See the module docs.
#[pyclass(name = "Coroutine", module = "mcp_wrapper_rs", frozen)]
pub(crate) struct Coroutine {
    /// `Client.post` and the like, for reprs and the never-awaited warning.
    qualname: &'static str,
    /// A mutex for `Sync` only: the interpreter steps a coroutine from one thread at a time.
    state: Mutex<State>,
}

impl std::fmt::Debug for Coroutine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match *self.lock() {
            State::Created(_) => "created",
            State::Ready(_) => "ready",
            State::Running { .. } => "running",
            State::Stepping => "stepping",
            State::Finished => "finished",
        };
        f.debug_struct("Coroutine")
            .field("qualname", &self.qualname)
            .field("state", &state)
            .finish()
    }
}

/// A coroutine that runs `future` on the runtime and returns its output (or raises its
/// error) once awaited.
pub(crate) fn once<'py, F, T>(
    py: Python<'py>,
    qualname: &'static str,
    future: F,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, Error>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    with_work(py, qualname, Box::new(Once(Some(future))))
}

/// A coroutine for `work`.
pub(crate) fn with_work<'py>(
    py: Python<'py>,
    qualname: &'static str,
    work: Box<dyn Work>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(Bound::new(
        py,
        Coroutine {
            qualname,
            state: Mutex::new(State::Created(work)),
        },
    )?
    .into_any())
}

/// A coroutine that returns `result` (or raises it) when awaited, without the runtime.
pub(crate) fn ready<'py>(
    py: Python<'py>,
    qualname: &'static str,
    result: PyResult<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(Bound::new(
        py,
        Coroutine {
            qualname,
            state: Mutex::new(State::Ready(result)),
        },
    )?
    .into_any())
}

impl Coroutine {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One step: start or resume. Returns the object to yield to the event loop, or
    /// `Err(StopIteration(value))` / the error when done. The state's lock is never held
    /// while Python code runs (it could come back here).
    fn step(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut current = self.take_for_step()?;
        loop {
            match current {
                State::Created(mut work) => {
                    if let Some(step) = work.ready(py) {
                        match step {
                            Step::Done(result) => return self.finish(done(result)),
                            Step::Again => {}
                        }
                    }
                    return match start(py, work) {
                        Ok((running, waiter)) => {
                            *self.lock() = running;
                            Ok(waiter)
                        }
                        Err(e) => self.finish(Err(e)),
                    };
                }
                State::Ready(result) => return self.finish(done(result)),
                State::Running { work, task, slot } => {
                    let finish = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
                    let Some(finish) = finish else {
                        // A second awaiter (another task) stepped while the first waits:
                        // refused, and the first keeps waiting.
                        *self.lock() = State::Running { work, task, slot };
                        return Err(PyRuntimeError::new_err(
                            "coroutine is being awaited already",
                        ));
                    };
                    match finish(py) {
                        Step::Done(result) => return self.finish(done(result)),
                        Step::Again => current = State::Created(work),
                    }
                }
                State::Stepping | State::Finished => return self.finish(unreachable_state()),
            }
        }
    }

    /// Takes the state out for a step, leaving `Stepping`; refuses a finished coroutine and
    /// a step inside a step.
    fn take_for_step(&self) -> PyResult<State> {
        let mut state = self.lock();
        match &*state {
            State::Finished => Err(PyRuntimeError::new_err(
                "cannot reuse already awaited coroutine",
            )),
            State::Stepping => Err(PyValueError::new_err("coroutine already executing")),
            _ => Ok(std::mem::replace(&mut *state, State::Stepping)),
        }
    }

    /// Ends the coroutine with `result`.
    fn finish(&self, result: PyResult<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        *self.lock() = State::Finished;
        result
    }

    /// Drops the work; what it may have produced is dropped too.
    fn cancel(&self) -> PyResult<()> {
        let mut state = self.lock();
        if matches!(*state, State::Stepping) {
            return Err(PyValueError::new_err("coroutine already executing"));
        }
        if let State::Running { task, .. } = std::mem::replace(&mut *state, State::Finished) {
            task.abort();
        }
        Ok(())
    }
}

/// The states a step never holds in `current`.
fn unreachable_state() -> PyResult<Py<PyAny>> {
    Err(PyRuntimeError::new_err(
        "internal error: a coroutine stepped in a state it cannot step in",
    ))
}

/// Spawns the work and yields an asyncio future that the runtime's task resolves.
fn start(py: Python<'_>, mut work: Box<dyn Work>) -> PyResult<(State, Py<PyAny>)> {
    let event_loop = get_running_loop(py)?;
    let Some(job) = work.start() else {
        return Err(PyRuntimeError::new_err(
            "cannot reuse already awaited coroutine",
        ));
    };
    let waiter = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
    // What `Future.__await__` sets before yielding: the task then waits on it.
    waiter.setattr(pyo3::intern!(py, "_asyncio_future_blocking"), true)?;
    let wake = event_loop
        .getattr(pyo3::intern!(py, "call_soon_threadsafe"))?
        .unbind();
    let release = release_waiter(py)?.clone_ref(py);
    let target = waiter.clone().unbind();
    let slot: Slot = Arc::new(Mutex::new(None));
    let filled = slot.clone();
    let handle = runtime::handle().map_err(|e| e.into_pyerr(py))?;
    let task = handle.spawn(async move {
        // A panic in the work must still wake the task that waits, with an error.
        let finish = match AssertUnwindSafe(job).catch_unwind().await {
            Ok(finish) => finish,
            Err(_) => Box::new(|_: Python<'_>| {
                Step::Done(Err(PyRuntimeError::new_err(
                    "internal error: the request's work panicked",
                )))
            }) as Finish,
        };
        *filled.lock().unwrap_or_else(PoisonError::into_inner) = Some(finish);
        // The Python objects are used and dropped here, while attached (dropped later
        // they would wait in PyO3's queue of pending decrefs).
        Python::attach(move |py| {
            // Fails only when the loop is closed: nobody waits any more.
            let _ = wake.call1(py, (release, target));
            drop(wake);
        });
    });
    let running = State::Running {
        work,
        task: task.abort_handle(),
        slot,
    };
    Ok((running, waiter.unbind()))
}

fn done(result: PyResult<Py<PyAny>>) -> PyResult<Py<PyAny>> {
    match result {
        // `return value` of a coroutine is `StopIteration(value)`.
        Ok(value) => Err(PyStopIteration::new_err((value,))),
        Err(error) => Err(error),
    }
}

fn get_running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    GET_RUNNING_LOOP
        .import(py, "asyncio", "get_running_loop")?
        .call0()
}

/// `_release(future)`: sets `None` as the result unless the future is done (cancelled).
fn release_waiter(py: Python<'_>) -> PyResult<&Py<PyCFunction>> {
    #[pyfunction]
    fn _release(future: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = future.py();
        if !future
            .call_method0(pyo3::intern!(py, "done"))?
            .is_truthy()?
        {
            future.call_method1(pyo3::intern!(py, "set_result"), (py.None(),))?;
        }
        Ok(())
    }
    static RELEASE: PyOnceLock<Py<PyCFunction>> = PyOnceLock::new();
    RELEASE.get_or_try_init(py, || wrap_pyfunction!(_release, py).map(Bound::unbind))
}

#[pymethods]
impl Coroutine {
    #[getter]
    fn __name__(&self) -> &'static str {
        self.qualname.rsplit('.').next().unwrap_or(self.qualname)
    }

    #[getter]
    fn __qualname__(&self) -> &'static str {
        self.qualname
    }

    fn send(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if matches!(*self.lock(), State::Created(_) | State::Ready(_)) && !value.is_none() {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "can't send non-None value to a just-started coroutine",
            ));
        }
        self.step(py)
    }

    /// Raises `error` at the await point: the work is dropped (a cancelled task's
    /// `CancelledError`, or anything else thrown in).
    #[pyo3(signature = (error, *_args))]
    fn throw(&self, error: &Bound<'_, PyAny>, _args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.cancel()?;
        Err(PyErr::from_value(error.clone()))
    }

    fn close(&self) -> PyResult<()> {
        self.cancel()
    }

    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.step(py)
    }

    fn __repr__(&self) -> String {
        format!("<coroutine {}>", self.qualname)
    }
}

impl Drop for Coroutine {
    fn drop(&mut self) {
        let state = std::mem::replace(
            self.state.get_mut().unwrap_or_else(PoisonError::into_inner),
            State::Finished,
        );
        match state {
            State::Created(_) | State::Ready(_) => {
                let qualname = self.qualname;
                // Dropped by the interpreter's deallocator, which holds it: attaching is free.
                Python::attach(|py| {
                    let message =
                        std::ffi::CString::new(format!("coroutine '{qualname}' was never awaited"))
                            .unwrap_or_default();
                    if let Err(e) = PyErr::warn(py, &py.get_type::<PyRuntimeWarning>(), &message, 1)
                    {
                        e.write_unraisable(py, None);
                    }
                });
            }
            State::Running { task, .. } => task.abort(),
            State::Stepping | State::Finished => {}
        }
    }
}
