//! What a request is made of, converted from Python: method, URL (with `base_url` and
//! `params`), headers, and a body from `content=`, `data=` or `json=`, as httpx reads them.

use bytes::{Bytes, BytesMut};
use pyo3::exceptions::{PyDeprecationWarning, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyString, PyTuple};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};

use crate::decoders::extend_from_bytes_like;
use crate::errors::Error;

/// A header name from Python. Not echoed when invalid: a "name" that is not one may be a
/// token pasted in the wrong place.
pub(crate) fn header_name(name: &str) -> Result<HeaderName, Error> {
    HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| Error::Value("invalid header name (not shown: it may be a secret)".to_owned()))
}

pub(crate) fn header_value(name: &HeaderName, value: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(value.trim())
        .map_err(|_| Error::Value(format!("invalid value for header {name}")))
}

/// `headers=` (a mapping, `Headers`, or pairs) as a header map, in order, repeats kept.
pub(crate) fn header_map(headers: Option<&Bound<'_, PyAny>>) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::new();
    let Some(headers) = headers else {
        return Ok(map);
    };
    let py = headers.py();
    for (name, value) in header_pairs(headers)? {
        let name = header_name(&name).map_err(|e| e.into_pyerr(py))?;
        let value = header_value(&name, &value).map_err(|e| e.into_pyerr(py))?;
        map.append(name, value);
    }
    Ok(map)
}

/// `over` on top of `base`: a name in `over` replaces all of `base`'s values for it.
pub(crate) fn merge_headers(base: &HeaderMap, over: HeaderMap) -> HeaderMap {
    let mut merged = base.clone();
    let mut replaced: Vec<HeaderName> = Vec::new();
    let mut last = None;
    for (name, value) in over {
        let name = match name {
            Some(name) => {
                last = Some(name.clone());
                name
            }
            // `HeaderMap`'s iterator gives the name once per run of values.
            None => match &last {
                Some(name) => name.clone(),
                None => continue,
            },
        };
        if !replaced.contains(&name) {
            merged.remove(&name);
            replaced.push(name.clone());
        }
        merged.append(name, value);
    }
    merged
}

pub(crate) fn header_pairs(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let py = headers.py();
    let pairs = if headers.hasattr("multi_items")? {
        headers.call_method0("multi_items")?
    } else if headers.hasattr("items")? {
        headers.call_method0("items")?
    } else {
        headers.clone()
    };
    let mut out = Vec::new();
    for pair in pairs.try_iter()? {
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair?.extract()?;
        out.push((text(py, &name)?, text(py, &value)?));
    }
    Ok(out)
}

/// A header name or value given as `str` or `bytes` (Latin-1, as HTTP has it).
fn text(_py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(b.as_bytes().iter().map(|&c| char::from(c)).collect());
    }
    Err(PyTypeError::new_err(format!(
        "header names and values must be str or bytes, not {}",
        value.get_type().name()?
    )))
}

/// `json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)`, as
/// UTF-8: the compact JSON httpx sends.
pub(crate) fn json_body(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let kwargs = PyDict::new(py);
    kwargs.set_item("separators", (",", ":"))?;
    kwargs.set_item("ensure_ascii", false)?;
    kwargs.set_item("allow_nan", false)?;
    let text = DUMPS
        .import(py, "json", "dumps")?
        .call((value,), Some(&kwargs))?;
    Ok(Bytes::copy_from_slice(
        text.cast::<PyString>()?.to_str()?.as_bytes(),
    ))
}

/// `application/x-www-form-urlencoded` from a mapping; list values repeat the key.
pub(crate) fn form_body(data: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs(data)?)
        .finish();
    Ok(Bytes::from(encoded))
}

/// A primitive value as httpx puts it in a query or a form: `true`/`false`, `""` for
/// `None`, else `str(value)`.
fn scalar(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if value.is_instance_of::<PyBool>() {
        return Ok(if value.is_truthy()? { "true" } else { "false" }.to_owned());
    }
    if value.is_none() {
        return Ok(String::new());
    }
    Ok(value.str()?.to_str()?.to_owned())
}

/// `(key, value)` pairs of `params=`/`data=`: a mapping (list values repeat the key), or an
/// iterable of pairs.
fn pairs(value: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let items = if value.hasattr("items")? {
        value.call_method0("items")?
    } else {
        value.clone()
    };
    let mut out = Vec::new();
    for pair in items.try_iter()? {
        let (key, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair?.extract()?;
        let key = scalar(&key)?;
        if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
            for v in value.try_iter()? {
                out.push((key.clone(), scalar(&v?)?));
            }
        } else {
            out.push((key, scalar(&value)?));
        }
    }
    Ok(out)
}

/// The request's URL: `url` joined to `base` when it is relative (httpx's rule: the base's
/// path, with a trailing `/`, then `url` without its leading `/`), then `params` merged
/// into its query (a key given replaces the URL's values for it).
pub(crate) fn request_url(
    base: Option<&Url>,
    url: &str,
    params: Option<&Bound<'_, PyAny>>,
) -> PyResult<Url> {
    let invalid = |e: url::ParseError| {
        PyValueError::new_err(format!(
            "invalid URL {:?}: {e}",
            jsonrpc_forward::redact_url(url)
        ))
    };
    let mut parsed = match (Url::parse(url), base) {
        (Ok(absolute), _) => absolute,
        (Err(url::ParseError::RelativeUrlWithoutBase), Some(base)) => {
            let mut joined = base.clone();
            let (rest, fragment) = url
                .split_once('#')
                .map_or((url, None), |(r, f)| (r, Some(f)));
            let (path, query) = rest
                .split_once('?')
                .map_or((rest, None), |(p, q)| (p, Some(q)));
            let base_path = base.path().trim_end_matches('/');
            joined.set_path(&format!("{base_path}/{}", path.trim_start_matches('/')));
            joined.set_query(query);
            joined.set_fragment(fragment);
            joined
        }
        (Err(e), _) => return Err(invalid(e)),
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(PyValueError::new_err(format!(
            "URL scheme must be http or https, not {:?}",
            parsed.scheme()
        )));
    }
    if let Some(params) = params {
        let given = if let Ok(text) = params.cast::<PyString>() {
            // A query string, as httpx takes one.
            url::form_urlencoded::parse(text.to_str()?.trim_start_matches('?').as_bytes())
                .into_owned()
                .collect()
        } else {
            pairs(params)?
        };
        let merged = merge_query(parsed.query_pairs().into_owned().collect(), &given);
        parsed.set_query(None);
        if !merged.is_empty() {
            parsed.query_pairs_mut().extend_pairs(merged);
        }
    }
    Ok(parsed)
}

/// `given` merged into the URL's `query` as httpx merges them: a key given replaces the
/// URL's values for it where the first of them stood; new keys go at the end.
fn merge_query(query: Vec<(String, String)>, given: &[(String, String)]) -> Vec<(String, String)> {
    let mut merged: Vec<(String, String)> = Vec::with_capacity(query.len() + given.len());
    let mut placed: Vec<String> = Vec::new();
    for (key, value) in query {
        if given.iter().any(|(g, _)| *g == key) {
            if !placed.contains(&key) {
                merged.extend(given.iter().filter(|(g, _)| *g == key).cloned());
                placed.push(key);
            }
        } else {
            merged.push((key, value));
        }
    }
    merged.extend(given.iter().filter(|(g, _)| !placed.contains(g)).cloned());
    merged
}

/// The body and its content type from `content=`, `data=` or `json=` (at most one).
/// `data=` that is `str` or `bytes` is raw content, with httpx's `DeprecationWarning`.
pub(crate) fn request_body(
    py: Python<'_>,
    content: Option<&Bound<'_, PyAny>>,
    data: Option<&Bound<'_, PyAny>>,
    json: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Bytes, Option<&'static str>)> {
    let given =
        usize::from(content.is_some()) + usize::from(data.is_some()) + usize::from(json.is_some());
    if given > 1 {
        return Err(PyTypeError::new_err(
            "pass at most one of content=, data= and json=",
        ));
    }
    let raw = |value: &Bound<'_, PyAny>| -> PyResult<Bytes> {
        if let Ok(s) = value.cast::<PyString>() {
            return Ok(Bytes::copy_from_slice(s.to_str()?.as_bytes()));
        }
        let mut buf = BytesMut::new();
        extend_from_bytes_like(&mut buf, value)?;
        Ok(buf.freeze())
    };
    if let Some(content) = content {
        return Ok((raw(content)?, None));
    }
    if let Some(data) = data {
        if data.is_instance_of::<PyString>() || data.is_instance_of::<PyBytes>() {
            PyErr::warn(
                py,
                &py.get_type::<PyDeprecationWarning>(),
                c"Use 'content=<...>' to upload raw bytes/text content.",
                1,
            )?;
            return Ok((raw(data)?, None));
        }
        return Ok((form_body(data)?, Some("application/x-www-form-urlencoded")));
    }
    if let Some(json) = json {
        return Ok((json_body(py, json)?, Some("application/json")));
    }
    Ok((Bytes::new(), None))
}

/// An HTTP method from Python, upper-cased.
pub(crate) fn method(name: &str) -> PyResult<Method> {
    Method::from_bytes(name.to_ascii_uppercase().as_bytes())
        .map_err(|_| PyValueError::new_err(format!("invalid HTTP method {name:?}")))
}
