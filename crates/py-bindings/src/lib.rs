//! `mcp_wrapper_rs._native`: the Python face of mcp-wrapper-rs.
//!
//! A thin `PyO3` facade: the SSE and NDJSON decoders of `stream-parse`, an httpx-shaped async
//! HTTP client on reqwest, `forward_request` on `jsonrpc-forward`, and exceptions that
//! mirror httpx's names. Binding code only converts: arguments become owned Rust values
//! first, then the work runs with the interpreter detached (`py.detach`) or as a `'static`
//! future on the one shared tokio runtime of `pyo3-async-runtimes`.
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

mod awaitable;
mod bridge;
mod client;
mod decoders;
mod errors;
mod forward;
mod headers;
mod response;

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
    use crate::headers::PyHeaders;
    #[pymodule_export]
    use crate::response::{PyAsyncStream, PyResponse};

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        crate::errors::register(module)
    }
}
