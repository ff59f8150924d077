//! Routing one HTTP request: POST (MCP messages), GET (listen stream), DELETE (end of
//! session); sessions, fault selection and the response headers.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, HeaderName, LOCATION, RETRY_AFTER,
    SET_COOKIE,
};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use serde::Deserialize as _;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::body::{Cuts, Gzip, ResponseBody, Segment, SegmentIter, pump};
use crate::conn::Killer;
use crate::fault::{BodyFormat, ErrorBody, FAULT_META_KEY, Fault};
use crate::listen;
use crate::mcp::{self, Step, error, id_text, is_request};
use crate::modern::{self, Modern};
use crate::record::RecordedRequest;
use crate::render::{Renderer, Segments};
use crate::server::State;

const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
const JSON: &str = "application/json";
const SSE: &str = "text/event-stream";

type HttpResponse = Response<ResponseBody>;

/// Answers one request. Never fails: every problem is an HTTP answer.
pub(crate) async fn handle(
    request: Request<Incoming>,
    state: Arc<State>,
    killer: Arc<Killer>,
) -> Result<HttpResponse, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return Ok(text(StatusCode::BAD_REQUEST, &format!("body: {e}"))),
    };
    if state.scenario.record_requests {
        state.record(RecordedRequest::new(&parts, &body));
    }
    if !matches!(parts.uri.path(), "/mcp" | "/mcp/") {
        return Ok(text(
            StatusCode::NOT_FOUND,
            "not found: the endpoint is /mcp/",
        ));
    }
    if state.scenario.redirect_slash && parts.uri.path() == "/mcp/" {
        let mut response = empty(StatusCode::TEMPORARY_REDIRECT);
        response.headers_mut().insert(
            http::header::LOCATION,
            http::HeaderValue::from_static("/mcp"),
        );
        return Ok(response);
    }
    Ok(match parts.method {
        Method::POST => post(&parts, &body, &state, killer).await,
        Method::GET => get(&parts, &state, killer),
        Method::DELETE => delete(&parts, &state),
        _ => method_not_allowed(),
    })
}

async fn post(
    parts: &Parts,
    body: &Bytes,
    state: &Arc<State>,
    killer: Arc<Killer>,
) -> HttpResponse {
    let Ok(value) = parse_deep(body) else {
        return json(
            StatusCode::BAD_REQUEST,
            &error(Value::Null, -32700, "Parse error"),
        );
    };
    let (messages, batch) = match value {
        Value::Array(items) => (items, true),
        single => (vec![single], false),
    };
    if messages.is_empty() {
        let answer = error(Value::Null, -32600, "Invalid Request: empty batch");
        return json(StatusCode::BAD_REQUEST, &answer);
    }
    // Count arrivals before anything can fail, so tests see every request that arrived.
    for message in messages.iter().filter(|m| is_request(m)) {
        state.hit(&id_text(&message["id"]));
    }
    for message in messages.iter().filter(|m| mcp::is_response(m)) {
        state.replied(&id_text(&message["id"]));
    }
    // A 2026-07-28 listen has no session: it is answered before any session check.
    if let [message] = messages.as_slice()
        && !batch
        && is_request(message)
        && message["method"] == listen::LISTEN
    {
        return listen::answer(parts, body, message, state, killer);
    }
    let modern = if state.scenario.modern {
        modern::route(parts, &messages, batch)
    } else {
        Modern::No
    };
    if let Modern::Answer(status, answer) = &modern {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST);
        return json(status, answer);
    }
    let initialize = messages
        .iter()
        .any(|m| is_request(m) && m["method"] == "initialize");
    // A 2026-07-28 request has no session (§1.1).
    if state.scenario.sessions
        && !initialize
        && matches!(modern, Modern::No)
        && let Some(rejection) = session_rejection(parts, state)
    {
        return rejection;
    }
    let fault = match select_fault(&messages, state) {
        Ok(fault) => fault,
        Err(answer) => return json(StatusCode::BAD_REQUEST, &answer),
    };
    if !fault.delay_headers().is_zero() {
        tokio::time::sleep(fault.delay_headers()).await;
    }
    if let Some(status) = fault.status.filter(|&s| s != 200) {
        let id = messages
            .iter()
            .find(|m| is_request(m))
            .map_or(Value::Null, |m| m["id"].clone());
        return status_answer(status, &fault, id, killer);
    }

    let replied: mcp::Replied = {
        let state = Arc::clone(state);
        Arc::new(move |id| state.has_replied(id))
    };
    let plan = mcp::plan(&messages, &fault, &replied);
    if !plan.has_requests {
        return empty(StatusCode::ACCEPTED);
    }
    if let Some(closes) = fault.poll_closes {
        return poll_start(plan, closes, &fault, state, killer);
    }
    let mut headers = Vec::new();
    if state.scenario.sessions && plan.initialize {
        headers.push((SESSION_HEADER, state.new_session()));
    }
    if let Some(cookie) = state
        .scenario
        .set_cookie
        .as_ref()
        .filter(|_| plan.initialize)
    {
        headers.push((SET_COOKIE, cookie.clone()));
    }
    let streams = plan.streams || fault.streams();
    let format = fault.format.unwrap_or(if streams {
        BodyFormat::Sse
    } else {
        BodyFormat::Json
    });
    let renderer = Renderer::new(format, &fault);
    let segments: SegmentIter = if format == BodyFormat::Json {
        // One piece, sent once every step ran: its pauses come before the headers.
        let mut sent = Vec::new();
        for step in plan.steps {
            match step {
                Step::Sleep(delay) => tokio::time::sleep(delay).await,
                Step::Send { message, .. } => sent.push(message),
                Step::Retry(_) | Step::Comment(_) | Step::SendAsIs(_) => {}
            }
        }
        let bytes = renderer.json_body(sent, batch);
        Box::new(std::iter::once(Segment::new(Duration::ZERO, bytes.into())))
    } else {
        Box::new(Segments::new(plan.steps, renderer))
    };
    let head = Head {
        status: StatusCode::OK,
        content_type: content_type(format),
        headers,
    };
    send(head, segments, &fault, format == BodyFormat::Json, killer)
}

/// Parses a POST body with no nesting limit: a JSON-RPC message may be nested deeper than
/// `serde_json`'s default of 128 (the server's threads have a large stack for it).
fn parse_deep(body: &[u8]) -> serde_json::Result<Value> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    deserializer.disable_recursion_limit();
    let value = Value::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// The first response of a [`Fault::poll_closes`] answer: a priming event, then the end.
/// The answer is kept for the GET that resumes the stream for the last time.
fn poll_start(
    plan: mcp::Plan,
    closes: u32,
    fault: &Fault,
    state: &State,
    killer: Arc<Killer>,
) -> HttpResponse {
    let answers: Vec<Value> = plan
        .steps
        .filter_map(|step| match step {
            Step::Send { message, .. } | Step::SendAsIs(message) => Some(message),
            _ => None,
        })
        .collect();
    let event_id = state.start_poll(closes, answers);
    let priming = format!("id: {event_id}\nretry: {POLL_RETRY_MS}\ndata: \n\n");
    let head = Head {
        status: StatusCode::OK,
        content_type: Some(SSE),
        headers: Vec::new(),
    };
    let segment = Segment::new(Duration::ZERO, Bytes::from(priming));
    send(
        head,
        Box::new(std::iter::once(segment)),
        fault,
        false,
        killer,
    )
}

/// The `retry:` of a [`Fault::poll_closes`] stream, in milliseconds.
const POLL_RETRY_MS: u64 = 20;

/// A GET that resumes a [`Fault::poll_closes`] stream: closed at once, or the answer.
fn poll_resume(event_id: &str, state: &State, killer: Arc<Killer>) -> Option<HttpResponse> {
    let answers = state.resume_poll(event_id)?;
    let fault = Fault::default();
    let mut renderer = Renderer::new(BodyFormat::Sse, &fault);
    let mut text = format!("retry: {POLL_RETRY_MS}\n\n").into_bytes();
    for message in answers {
        text.extend(renderer.render(Step::Send {
            message,
            event_id: None,
        }));
    }
    let head = Head {
        status: StatusCode::OK,
        content_type: Some(SSE),
        headers: Vec::new(),
    };
    let segment = Segment::new(Duration::ZERO, Bytes::from(text));
    Some(send(
        head,
        Box::new(std::iter::once(segment)),
        &fault,
        false,
        killer,
    ))
}

/// The listen stream, or 405 when the scenario has none.
fn get(parts: &Parts, state: &State, killer: Arc<Killer>) -> HttpResponse {
    let scenario = &state.scenario;
    let resumed = parts
        .headers
        .get(LAST_EVENT_ID)
        .and_then(|v| v.to_str().ok());
    if let Some(response) = resumed.and_then(|id| poll_resume(id, state, Arc::clone(&killer))) {
        return response;
    }
    if !scenario.listen_stream {
        return method_not_allowed();
    }
    let opened = state.listen_open();
    let failures = u64::from(scenario.listen_failures);
    if opened < failures {
        return text(StatusCode::SERVICE_UNAVAILABLE, "listen stream unavailable");
    }
    if opened < failures + u64::from(scenario.listen_empty_streams) {
        let head = Head {
            status: StatusCode::OK,
            content_type: Some(SSE),
            headers: Vec::new(),
        };
        let empty = Segment::new(Duration::ZERO, Bytes::from_static(b"retry: 100\n\n"));
        return send(
            head,
            Box::new(std::iter::once(empty)),
            &Fault::default(),
            false,
            killer,
        );
    }
    if scenario.sessions
        && let Some(rejection) = session_rejection(parts, state)
    {
        return rejection;
    }
    let after = parts
        .headers
        .get(LAST_EVENT_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let steps = mcp::listen_steps(
        after,
        scenario.listen_events,
        scenario.listen_events_per_stream,
        scenario.listen_interval,
    );
    let fault = Fault::default();
    let segments = Segments::new(steps, Renderer::new(BodyFormat::Sse, &fault));
    let head = Head {
        status: StatusCode::OK,
        content_type: Some(SSE),
        headers: Vec::new(),
    };
    send(head, Box::new(segments), &fault, false, killer)
}

/// Ends a session: 200, or 400/404 for a missing/unknown id, or 405 without sessions.
fn delete(parts: &Parts, state: &State) -> HttpResponse {
    if !state.scenario.sessions {
        return method_not_allowed();
    }
    if let Some(rejection) = session_rejection(parts, state) {
        return rejection;
    }
    let id = parts
        .headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if state.end_session(id) {
        empty(StatusCode::OK)
    } else {
        session_not_found()
    }
}

/// 400 without an `Mcp-Session-Id`, 404 with one the server does not know, else `None`.
fn session_rejection(parts: &Parts, state: &State) -> Option<HttpResponse> {
    let Some(id) = parts.headers.get(SESSION_HEADER) else {
        let answer = error(
            Value::Null,
            -32000,
            "Bad Request: Mcp-Session-Id header is required",
        );
        return Some(json(StatusCode::BAD_REQUEST, &answer));
    };
    match id.to_str() {
        Ok(id) if state.has_session(id) => None,
        _ => Some(session_not_found()),
    }
}

fn session_not_found() -> HttpResponse {
    json(
        StatusCode::NOT_FOUND,
        &error(Value::Null, -32001, "Session not found"),
    )
}

/// The fault for this POST: the next scripted one, else the first message's `_meta` fault
/// or `fault` tool arguments (subject to `times`), else none. A malformed fault is an
/// error, to answer with 400.
fn select_fault(messages: &[Value], state: &State) -> Result<Fault, Value> {
    if let Some(fault) = state.pop_script() {
        return Ok(fault);
    }
    for message in messages {
        let from_meta = message
            .pointer("/params/_meta")
            .and_then(|meta| meta.get(FAULT_META_KEY));
        let from_tool = (message["method"] == "tools/call" && message["params"]["name"] == "fault")
            .then(|| message.pointer("/params/arguments"))
            .flatten();
        let Some(chosen) = from_meta.or(from_tool) else {
            continue;
        };
        let id = message.get("id");
        let fault = Fault::deserialize(chosen).map_err(|e| {
            let text = format!("Invalid params: bad {FAULT_META_KEY}: {e}");
            error(id.cloned().unwrap_or(Value::Null), -32602, &text)
        })?;
        let limit = fault
            .times
            .map(|t| usize::try_from(t).unwrap_or(usize::MAX));
        let applies = match (limit, &fault.times_key, id) {
            (Some(limit), Some(key), _) => state.hit_key(key) <= limit,
            (Some(limit), None, Some(id)) => state.hits(&id_text(id)) <= limit,
            _ => true,
        };
        return Ok(if applies { fault } else { Fault::default() });
    }
    Ok(Fault::default())
}

/// A non-200 status from a fault, with its [`ErrorBody`].
fn status_answer(status: u16, fault: &Fault, id: Value, killer: Arc<Killer>) -> HttpResponse {
    let Ok(status) = StatusCode::from_u16(status) else {
        return text(
            StatusCode::BAD_REQUEST,
            &format!("bad fault status {status}"),
        );
    };
    let (content_type, bytes) = match &fault.error_body {
        ErrorBody::Empty => (None, Vec::new()),
        ErrorBody::JsonRpc { code, message } => {
            let body = error(id, *code, message);
            let text = if fault.multiline_data {
                serde_json::to_string_pretty(&body).unwrap_or_default()
            } else {
                body.to_string()
            };
            (Some(JSON), text.into_bytes())
        }
        ErrorBody::Text { text } => (Some("text/plain; charset=utf-8"), text.clone().into_bytes()),
    };
    let segment = Segment::new(Duration::ZERO, bytes.into());
    let head = Head {
        status,
        content_type,
        headers: Vec::new(),
    };
    send(
        head,
        Box::new(std::iter::once(segment)),
        fault,
        true,
        killer,
    )
}

fn content_type(format: BodyFormat) -> Option<&'static str> {
    match format {
        BodyFormat::Json => Some(JSON),
        BodyFormat::Sse => Some(SSE),
        BodyFormat::Ndjson => Some("application/x-ndjson"),
        BodyFormat::TextPlain => Some("text/plain; charset=utf-8"),
        BodyFormat::NoContentType => None,
    }
}

/// Status and headers of an answer, before the fault's headers are added.
struct Head {
    status: StatusCode,
    content_type: Option<&'static str>,
    headers: Vec<(HeaderName, String)>,
}

/// Builds the response: the fault's headers, gzip, `Content-Length` (by default when
/// `default_length`), and a body sent whole or through a [`pump`] task.
fn send(
    head: Head,
    segments: SegmentIter,
    fault: &Fault,
    default_length: bool,
    killer: Arc<Killer>,
) -> HttpResponse {
    let mut builder = Response::builder().status(head.status);
    if let Some(content_type) = head.content_type {
        builder = builder.header(CONTENT_TYPE, content_type);
        if content_type == SSE {
            builder = builder.header(CACHE_CONTROL, "no-cache");
        }
    }
    for (name, value) in head.headers {
        builder = builder.header(name, value);
    }
    if let Some(retry_after) = &fault.retry_after {
        builder = builder.header(RETRY_AFTER, retry_after);
    }
    if let Some(location) = &fault.location {
        builder = builder.header(LOCATION, location);
    }
    let segments: SegmentIter = if fault.gzip {
        builder = builder.header(CONTENT_ENCODING, "gzip");
        Box::new(Gzip::new(segments))
    } else {
        segments
    };
    let cuts = Cuts::new(fault);
    let body = if fault.content_length.unwrap_or(default_length) {
        let segments: Vec<Segment> = segments.collect();
        let len: usize = segments.iter().map(|s| s.bytes.len()).sum();
        if cuts.is_plain() && segments.iter().all(|s| s.delay.is_zero()) {
            let whole: Vec<u8> = segments.iter().flat_map(|s| s.bytes.to_vec()).collect();
            ResponseBody::full(whole)
        } else {
            channel(
                Box::new(segments.into_iter()),
                cuts,
                Some(len as u64),
                killer,
            )
        }
    } else {
        channel(segments, cuts, None, killer)
    };
    builder.body(body).unwrap_or_else(|e| {
        text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("bad fault header: {e}"),
        )
    })
}

fn channel(
    segments: SegmentIter,
    cuts: Cuts,
    len: Option<u64>,
    killer: Arc<Killer>,
) -> ResponseBody {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(pump(segments, cuts, tx, killer));
    ResponseBody::Channel { rx, len }
}

fn json(status: StatusCode, value: &Value) -> HttpResponse {
    let mut response = Response::new(ResponseBody::full(value.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, http::HeaderValue::from_static(JSON));
    response
}

fn text(status: StatusCode, text: &str) -> HttpResponse {
    let mut response = Response::new(ResponseBody::full(text.to_owned()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn empty(status: StatusCode) -> HttpResponse {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = status;
    response
}

fn method_not_allowed() -> HttpResponse {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    response
        .headers_mut()
        .insert(ALLOW, http::HeaderValue::from_static("POST, DELETE"));
    response
}
