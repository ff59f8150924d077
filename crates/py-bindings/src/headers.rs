//! `Headers`: the response headers, a case-insensitive, multi-valued, read-only mapping.

use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use reqwest::header::HeaderMap;

/// Response headers: a read-only mapping with case-insensitive names.
///
/// `headers["content-type"]` and `.get(name)` join repeated headers with `", "` (as httpx
/// does); `.get_list(name)` and `.multi_items()` keep them apart. Keys are lower-case, in
/// the order the server sent them.
///
/// >>> headers = Headers([("Content-Type", "application/json"), ("Set-Cookie", "a=1"),
/// ...                     ("Set-Cookie", "b=2")])
/// >>> headers["Content-Type"]
/// 'application/json'
/// >>> headers.get_list("set-cookie")
/// ['a=1', 'b=2']
#[pyclass(name = "Headers", module = "mcp_wrapper_rs", frozen, mapping)]
#[derive(Clone, Default)]
pub(crate) struct PyHeaders {
    /// Lower-case name and value, in wire order.
    items: Vec<(String, String)>,
}

/// Names only: values can be credentials, cookies or session ids.
impl std::fmt::Debug for PyHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PyHeaders").field(&self.keys_vec()).finish()
    }
}

/// Headers whose value `repr()` shows as `[secure]`: httpx's two credential headers, and
/// the session id, which lets whoever holds it act in the session.
const SECURE: [&str; 3] = ["authorization", "proxy-authorization", "mcp-session-id"];

/// Header values are bytes; nearly all are ASCII. Others are read as UTF-8 when they are,
/// else as Latin-1 (what HTTP/1.1 historically allowed).
fn decode_value(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    }
}

impl From<&HeaderMap> for PyHeaders {
    fn from(map: &HeaderMap) -> Self {
        Self {
            items: map
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), decode_value(value.as_bytes())))
                .collect(),
        }
    }
}

impl PyHeaders {
    fn values_of<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        let name = name.to_ascii_lowercase();
        self.items
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn joined(&self, name: &str) -> Option<String> {
        let mut values = self.values_of(name).peekable();
        values.peek()?;
        Some(values.collect::<Vec<_>>().join(", "))
    }

    /// Distinct names, in first-seen order.
    fn keys_vec(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        for (name, _) in &self.items {
            if !keys.contains(&name.as_str()) {
                keys.push(name);
            }
        }
        keys
    }

    pub(crate) fn first(&self, name: &str) -> Option<&str> {
        self.values_of(name).next()
    }
}

#[pymethods]
impl PyHeaders {
    /// Headers from a mapping or a list of `(name, value)` pairs.
    #[new]
    #[pyo3(signature = (headers = None))]
    fn new(headers: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let items = match headers {
            None => Vec::new(),
            Some(h) => crate::request::header_pairs(h)?
                .into_iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v))
                .collect(),
        };
        Ok(Self { items })
    }

    fn __getitem__(&self, name: &str) -> PyResult<String> {
        self.joined(name)
            .ok_or_else(|| PyKeyError::new_err(name.to_owned()))
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        name.cast::<PyString>()
            .ok()
            .and_then(|s| s.to_str().ok().map(|s| self.values_of(s).next().is_some()))
            .unwrap_or(false)
    }

    fn __len__(&self) -> usize {
        self.keys_vec().len()
    }

    fn __iter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let keys = slf.get().keys_vec();
        pyo3::types::PyList::new(slf.py(), keys)?
            .try_iter()
            .map(Bound::into_any)
    }

    /// The value (repeated headers joined with `", "`), or `default`.
    #[pyo3(signature = (name, default = None))]
    fn get(&self, name: &str, default: Option<Py<PyAny>>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.joined(name) {
            Some(v) => Ok(PyString::new(py, &v).into_any().unbind()),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    /// Every value of the header, in order (`[]` if absent).
    fn get_list(&self, name: &str) -> Vec<String> {
        self.values_of(name).map(str::to_owned).collect()
    }

    /// The distinct names, lower-case.
    fn keys(&self) -> Vec<String> {
        self.keys_vec().into_iter().map(str::to_owned).collect()
    }

    /// The joined value of each distinct name.
    fn values(&self) -> Vec<String> {
        self.keys_vec()
            .into_iter()
            .filter_map(|k| self.joined(k))
            .collect()
    }

    /// `(name, joined value)` for each distinct name.
    fn items(&self) -> Vec<(String, String)> {
        self.keys_vec()
            .into_iter()
            .filter_map(|k| self.joined(k).map(|v| (k.to_owned(), v)))
            .collect()
    }

    /// Every `(name, value)` pair as sent, repeated names included.
    fn multi_items(&self) -> Vec<(String, String)> {
        self.items.clone()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let other = match other.cast::<PyHeaders>() {
            Ok(h) => h.get().clone(),
            Err(_) => match Self::new(Some(other)) {
                Ok(h) => h,
                Err(_) => return Ok(false),
            },
        };
        let mut a = self.items.clone();
        let mut b = other.items;
        a.sort();
        b.sort();
        Ok(a == b)
    }

    /// As httpx: the values of credential headers (and here the session id) show as
    /// `[secure]`.
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let shown = self.items.iter().map(|(name, value)| {
            let value = if SECURE.contains(&name.as_str()) {
                "[secure]"
            } else {
                value.as_str()
            };
            (name.as_str(), value)
        });
        let pairs = pyo3::types::PyList::new(py, shown)?;
        Ok(format!("Headers({})", pairs.repr()?.to_str()?))
    }
}

/// `client.headers`: the client's own headers, changed in place (`client.headers["Authorization"]
/// = "Bearer new"`, `del`, `update()`), as httpx's are; every later request sends them.
/// Reads see the headers as they are at that moment.
#[pyclass(name = "ClientHeaders", module = "mcp_wrapper_rs", frozen, mapping)]
#[derive(Debug)]
pub(crate) struct PyClientHeaders {
    pub(crate) core: std::sync::Arc<crate::client::ClientCore>,
}

impl PyClientHeaders {
    fn snapshot(&self) -> PyHeaders {
        PyHeaders::from(&self.core.headers())
    }

    fn edit<T>(&self, change: impl FnOnce(&mut HeaderMap) -> T) -> T {
        self.core.edit_headers(change)
    }
}

#[pymethods]
impl PyClientHeaders {
    fn __getitem__(&self, name: &str) -> PyResult<String> {
        self.snapshot().__getitem__(name)
    }

    /// Replaces every value of `name` with `value`.
    fn __setitem__(&self, py: Python<'_>, name: &str, value: &str) -> PyResult<()> {
        let name = crate::request::header_name(name).map_err(|e| e.into_pyerr(py))?;
        let value = crate::request::header_value(&name, value).map_err(|e| e.into_pyerr(py))?;
        self.edit(|headers| headers.insert(name, value));
        Ok(())
    }

    fn __delitem__(&self, name: &str) -> PyResult<()> {
        let removed =
            self.edit(|headers| headers.remove(name.trim().to_ascii_lowercase().as_str()));
        removed
            .map(|_| ())
            .ok_or_else(|| PyKeyError::new_err(name.to_owned()))
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        self.snapshot().__contains__(name)
    }

    fn __len__(&self) -> usize {
        self.snapshot().__len__()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pyo3::types::PyList::new(py, self.snapshot().keys())?
            .try_iter()
            .map(Bound::into_any)
    }

    /// The value (repeated headers joined with `", "`), or `default`.
    #[pyo3(signature = (name, default = None))]
    fn get(&self, name: &str, default: Option<Py<PyAny>>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.snapshot().get(name, default, py)
    }

    /// Every value of the header, in order (`[]` if absent).
    fn get_list(&self, name: &str) -> Vec<String> {
        self.snapshot().get_list(name)
    }

    fn keys(&self) -> Vec<String> {
        self.snapshot().keys()
    }

    fn values(&self) -> Vec<String> {
        self.snapshot().values()
    }

    fn items(&self) -> Vec<(String, String)> {
        self.snapshot().items()
    }

    fn multi_items(&self) -> Vec<(String, String)> {
        self.snapshot().multi_items()
    }

    /// Sets each header of `headers` (a mapping or pairs), replacing its values.
    fn update(&self, headers: &Bound<'_, PyAny>) -> PyResult<()> {
        let given = crate::request::header_map(Some(headers))?;
        self.edit(|current| *current = crate::request::merge_headers(current, given));
        Ok(())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.snapshot().__eq__(other)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        self.snapshot().__repr__(py)
    }
}
