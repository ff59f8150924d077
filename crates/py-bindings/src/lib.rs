//! `mcp_wrapper_rs._native`: the Python face of mcp-wrapper-rs.
//!
//! A thin `PyO3` facade: the SSE and NDJSON decoders of `stream-parse`, an httpx-shaped async
//! HTTP client on reqwest, `forward_request` on `jsonrpc-forward`, and exceptions that
//! mirror httpx's names. Binding code only converts: arguments become owned Rust values
//! first, then the work runs with the interpreter detached (`py.detach`) or as a `'static`
//! future on the module's tokio runtime (module `runtime`), awaited through a `Coroutine` (module `coroutine`).
//!
//! The public import path is `mcp_wrapper_rs` (its `__init__.py` re-exports this module).
//!
//! ```python
//! import mcp_wrapper_rs
//!
//! decoder = mcp_wrapper_rs.SseDecoder()
//! [event] = decoder.feed(b"data: {\"jsonrpc\":\"2.0\"}\n\n")
//! assert event.json() == {"jsonrpc": "2.0"}
//! ```

mod bridge;
mod client;
mod coroutine;
mod decoders;
mod errors;
mod forward;
mod headers;
mod request;
mod response;
mod runtime;
mod signals;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
mod _native {
    #[pymodule_export]
    use crate::bridge::{run_bridge, run_bridge_cli};
    #[pymodule_export]
    use crate::client::{PyClient, PyStreamContext};
    #[pymodule_export]
    use crate::decoders::{PyNdjsonDecoder, PySseDecoder, PySseEvent};
    #[pymodule_export]
    use crate::forward::{PyForwardResponse, forward_request};
    #[pymodule_export]
    use crate::headers::{PyClientHeaders, PyHeaders};
    #[pymodule_export]
    use crate::response::{PyAsyncStream, PyRequest, PyResponse};

    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::coroutine::Coroutine;

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        // Before the interpreter finalizes, no runtime thread may be left to touch it.
        let shutdown = wrap_pyfunction!(crate::runtime::shutdown, module)?;
        module.add_function(shutdown.clone())?;
        module
            .py()
            .import("atexit")?
            .call_method1("register", (shutdown,))?;
        crate::errors::register(module)
    }
}
