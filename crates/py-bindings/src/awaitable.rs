//! Awaitables: futures on the one shared tokio runtime, and results already at hand.

use std::future::Future;

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;

use crate::errors::{Error, Outcome};

/// Runs `future` on the shared runtime (`pyo3_async_runtimes::tokio::get_runtime()`) and
/// returns an asyncio future for its result. Cancelling the asyncio future (or the task that
/// awaits it) drops the Rust future. The error converts to a Python exception only when the
/// result is delivered, under the interpreter.
pub(crate) fn spawn<'py, F, T>(py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, Error>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    pyo3_async_runtimes::tokio::future_into_py(py, async move { Ok(Outcome(future.await)) })
}

/// An awaitable whose result is already known: `await` returns it (or raises it) without a
/// round trip through the event loop or the runtime. Used when an async iterator has items
/// buffered, and for `aclose()`.
#[pyclass(name = "_Ready", module = "mcp_wrapper_rs._native")]
#[derive(Debug)]
pub(crate) struct Ready {
    result: Option<PyResult<Py<PyAny>>>,
}

impl Ready {
    pub(crate) fn awaitable<'py>(
        py: Python<'py>,
        result: PyResult<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Ok(Bound::new(
            py,
            Ready {
                result: Some(result),
            },
        )?
        .into_any())
    }

    fn step(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.result.take() {
            // `return value` of a coroutine is `StopIteration(value)`.
            Some(Ok(value)) => Err(PyStopIteration::new_err((value,))),
            Some(Err(error)) => Err(error),
            None => Err(PyStopIteration::new_err((py.None(),))),
        }
    }
}

#[pymethods]
impl Ready {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.step(py)
    }

    fn send(&mut self, py: Python<'_>, _value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.step(py)
    }

    #[pyo3(signature = (error, *_args))]
    fn throw(
        &mut self,
        error: &Bound<'_, PyAny>,
        _args: &Bound<'_, pyo3::types::PyTuple>,
    ) -> PyResult<Py<PyAny>> {
        self.result = None;
        Err(PyErr::from_value(error.clone()))
    }

    fn close(&mut self) {
        self.result = None;
    }
}
