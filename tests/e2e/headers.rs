//! Headers and methods on every route: `HEAD` answers as `GET` without the
//! body, `OPTIONS` and 405 name each path's `Allow`, client request IDs are
//! echoed only when safe, contradictory or undecodable credentials are
//! refused, and an unreadable chunked body is answered in the envelope.
//!
//! Mostly raw HTTP/1.1 over TCP (`Connection: close`, read to the end): it
//! can send bytes no HTTP client library will (non-UTF-8 header values,
//! broken chunking), and it shows exactly what the server wrote, so a `HEAD`
//! answer that carried body bytes would be seen.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use imgshare_server::auth::aksk;

use crate::support::*;

const REQUEST_ID: &str = "x-openstack-request-id";
const ZERO: &str = "00000000-0000-0000-0000-000000000000";
const NO_JOB: &str = "0123456789abcdef0123456789abcdef";
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A response exactly as the server wrote it.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    /// The bytes after the head (de-chunked if the response was chunked).
    body: Vec<u8>,
}

impl Answer {
    /// A header's value; several fields of one name are joined with ", ",
    /// as RFC 9110 §5.3 reads them (dropshot's router writes one `Allow`
    /// field per method; ours write one field).
    fn header(&self, name: &str) -> Option<String> {
        let values: Vec<String> = self
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    fn request_id(&self) -> String {
        self.header(REQUEST_ID).unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The status and the start of the body, for assertion messages.
    fn summary(&self) -> String {
        format!(
            "{} {}",
            self.status,
            String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
        )
    }
}

/// `127.0.0.1:port`, for the `Host` header and the socket.
fn host(s: &TestServer) -> String {
    s.base
        .split_once("://")
        .map_or(&*s.base, |(_, h)| h)
        .to_owned()
}

/// A connection to the server to write HTTP/1.1 on by hand: plain TCP, or
/// TLS when the suite runs over TLS.
async fn open(s: &TestServer) -> RawConn {
    s.connect().await
}

/// The reqwest client for the few requests sent through reqwest.
fn http() -> reqwest::Client {
    http_client()
}

/// One request on a fresh connection: `Host` and `Connection: close` are
/// added, then `headers` as given (raw bytes), then `Content-Length` when
/// there is a body.
async fn exchange(
    s: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Option<&[u8]>,
) -> Answer {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        host(s)
    )
    .into_bytes();
    for (name, value) in headers {
        req.extend_from_slice(name.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
    }
    if let Some(b) = body {
        req.extend_from_slice(format!("Content-Length: {}\r\n", b.len()).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    if let Some(b) = body {
        req.extend_from_slice(b);
    }
    send_raw(s, &req, method == "HEAD")
        .await
        .unwrap_or_else(|| panic!("{method} {path}: connection closed without a response"))
}

/// The token header, as raw bytes.
fn token(t: &str) -> (&'static str, &[u8]) {
    ("X-Auth-Token", t.as_bytes())
}

/// Writes `request` and reads one response, until the server closes the
/// connection or the response is complete (`head`: the request was a
/// `HEAD`, read until the server closes). `None`: closed with no byte.
async fn send_raw(s: &TestServer, request: &[u8], head: bool) -> Option<Answer> {
    let mut tcp = open(s).await;
    tcp.write_all(request).await.unwrap();
    read_response(&mut tcp, head).await
}

/// Reads one response from `tcp` (see [`send_raw`]).
async fn read_response(
    tcp: &mut (impl tokio::io::AsyncRead + Unpin),
    head: bool,
) -> Option<Answer> {
    let mut buf = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut chunk = [0u8; 16384];
        let left = deadline.saturating_duration_since(Instant::now());
        let n = match tokio::time::timeout(left, tcp.read(&mut chunk)).await {
            Err(_) => panic!(
                "no complete response within 10 s; so far: {:?}",
                String::from_utf8_lossy(&buf)
            ),
            // A reset after the response was written ends it like EOF.
            Ok(Err(_)) | Ok(Ok(0)) => break,
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        // A HEAD answer is read to the end of the connection (`exchange`
        // sends `Connection: close`): a body byte sent after it is seen.
        if !head && complete(&buf) {
            break;
        }
    }
    if buf.is_empty() {
        return None;
    }
    Some(parse(&buf))
}

fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// True once `buf` holds a whole response to a request other than `HEAD`.
fn complete(buf: &[u8]) -> bool {
    let Some(end) = head_end(buf) else {
        return false;
    };
    let a = parse_head(&buf[..end]);
    if a.status == 204 || a.status == 304 {
        return true;
    }
    if let Some(len) = a.headers.get("content-length") {
        let len: usize = len.to_str().unwrap().parse().unwrap();
        return buf.len() - end >= len;
    }
    if a.headers.get("transfer-encoding").is_some() {
        return buf.ends_with(b"0\r\n\r\n");
    }
    false
}

fn parse_head(head: &[u8]) -> Answer {
    let text = &head[..head.len() - 4];
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = String::from_utf8_lossy(lines.next().unwrap()).into_owned();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = HeaderMap::new();
    for line in lines {
        let colon = line.iter().position(|&b| b == b':').unwrap();
        let name = HeaderName::from_bytes(&line[..colon]).unwrap();
        let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).unwrap();
        headers.append(name, value);
    }
    Answer {
        status,
        headers,
        body: Vec::new(),
    }
}

fn parse(buf: &[u8]) -> Answer {
    let end = head_end(buf).unwrap_or_else(|| {
        panic!(
            "incomplete response head: {:?}",
            String::from_utf8_lossy(buf)
        )
    });
    let mut a = parse_head(&buf[..end]);
    let rest = &buf[end..];
    a.body = if a
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    a
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..eol]).unwrap();
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
    out
}

/// `req-` and a UUID: an ID the server made, not the client's.
fn is_generated(id: &str) -> bool {
    id.len() == 40
        && id
            .strip_prefix("req-")
            .is_some_and(|u| uuid::Uuid::parse_str(u).is_ok())
}

/// GETs the job at `path` as the owner until it has finished.
async fn finished_job(s: &TestServer, path: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = exchange(s, "GET", path, &[token(OWNER)], None).await;
        assert_eq!(a.status, 200, "{path}: {}", a.summary());
        let job = a.json();
        if job["status"] == "SUCCESS" || job["status"] == "FAIL" {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job unfinished after 10 s: {job}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Uploads `data` to the image as the owner.
async fn upload(s: &TestServer, image: &str, data: &[u8]) {
    let a = exchange(
        s,
        "PUT",
        &format!("/v2/images/{image}/file"),
        &[token(OWNER), ("Content-Type", b"application/octet-stream")],
        Some(data),
    )
    .await;
    assert_eq!(a.status, 204, "upload: {}", a.summary());
}

/// The member IDs the owner sees on an image.
async fn members_of(s: &TestServer, image: &str) -> Vec<String> {
    s.client(OWNER)
        .list_members(image, None, None, None)
        .await
        .expect("list members")
        .into_inner()
        .members
        .into_iter()
        .map(|m| m.member_id)
        .collect()
}

/// The IDs of the images the owner's project sees.
async fn owner_images(s: &TestServer) -> Vec<String> {
    s.listed(OWNER, None, None).await
}

/// `HEAD` wherever `GET` is served: the `GET`'s status, `Content-Type` and
/// `Content-Length`, a request ID, and not one byte of body; for errors
/// (missing resources, no token, a bad query) as for successes.
#[tokio::test]
async fn head_answers_as_get_without_the_body() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let with_data = s.shared_image().await;
    upload(&s, &with_data, &[7u8; 1234]).await;

    // A share job: project-b becomes a member of `image`.
    let batch = json!({"images": [image], "projects": [PROJECT_B]}).to_string();
    let a = exchange(
        &s,
        "POST",
        "/v1/cloudimages/members",
        &[token(OWNER), ("Content-Type", b"application/json")],
        Some(batch.as_bytes()),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.summary());
    let job = a.json()["job_id"].as_str().unwrap().to_owned();
    let done = finished_job(&s, &format!("/v1/{PROJECT_A}/jobs/{job}")).await;
    assert_eq!(done["status"], "SUCCESS", "{done}");

    // (path, the owner's GET status); each is also asked without a token.
    let authed: Vec<(String, u16)> = vec![
        ("/v2/images".into(), 200),
        ("/v2/images?limit=1".into(), 200),
        (format!("/v2/images/{image}"), 200),
        (format!("/v2/images/{with_data}/file"), 200),
        (format!("/v2/images/{image}/file"), 204),
        (format!("/v2/images/{image}/members"), 200),
        (format!("/v2/images/{image}/members/{PROJECT_B}"), 200),
        ("/v2/schemas/image".into(), 200),
        ("/v2/schemas/images".into(), 200),
        ("/v2/schemas/member".into(), 200),
        ("/v2/schemas/members".into(), 200),
        ("/v2/cloudimages".into(), 200),
        (format!("/v1/cloudimages/job/{job}"), 200),
        ("/v1/cloudimages/quota".into(), 200),
        (format!("/v1/{PROJECT_A}/jobs/{job}"), 200),
        (format!("/v1/{PROJECT_A}/cloudimages/{image}/members"), 200),
        (
            format!("/v1/{PROJECT_A}/cloudimages/{image}/members/{PROJECT_B}"),
            200,
        ),
        // Errors.
        (format!("/v2/images/{ZERO}"), 404),
        (format!("/v2/images/{ZERO}/members"), 404),
        (format!("/v2/images/{ZERO}/file"), 404),
        (format!("/v2/images/{image}/members/project-zzz"), 404),
        (format!("/v1/cloudimages/job/{NO_JOB}"), 404),
        (format!("/v1/{PROJECT_A}/jobs/{NO_JOB}"), 404),
        ("/v2/images?limit=0".into(), 400),
        (format!("/v1/{PROJECT_C}/cloudimages/{image}/members"), 403),
    ];
    let public: Vec<(String, u16)> = vec![
        ("/".into(), 200),
        ("/versions".into(), 200),
        ("/openapi.json".into(), 200),
        ("/openapi.yaml".into(), 200),
        ("/docs".into(), 200),
        ("/docs/redoc.standalone.js".into(), 200),
        // Glance's answers to paths it does not serve.
        ("/v3/".into(), 300),
        ("/v2/schemas/metadefs/namespace".into(), 404),
    ];
    let mut cases: Vec<(String, Option<&str>, u16)> = Vec::new();
    for (path, status) in &authed {
        cases.push((path.clone(), Some(OWNER), *status));
        // Without a token: 401, HEAD as GET.
        cases.push((path.clone(), None, 401));
    }
    for (path, status) in &public {
        cases.push((path.clone(), None, *status));
    }

    let mut failures = Vec::new();
    for (path, tok, want) in &cases {
        let headers: Vec<(&str, &[u8])> = tok.iter().map(|t| token(t)).collect();
        let get = exchange(&s, "GET", path, &headers, None).await;
        let head = exchange(&s, "HEAD", path, &headers, None).await;
        let who = tok.unwrap_or("no token");
        let mut problems = Vec::new();
        if get.status != *want {
            problems.push(format!("GET {}, expected {want}", get.summary()));
        }
        if head.status != get.status {
            problems.push(format!("HEAD {} but GET {}", head.status, get.status));
        }
        for name in ["content-type", "content-length"] {
            if head.header(name) != get.header(name) {
                problems.push(format!(
                    "{name}: HEAD {:?}, GET {:?}",
                    head.header(name),
                    get.header(name)
                ));
            }
        }
        if get.status != 204 && get.header("content-type").is_none() {
            problems.push("GET has no content-type".into());
        }
        // GET's content-length is its body's true length (so HEAD's is too).
        if get.status != 204 {
            let len = get.header("content-length");
            if len != Some(get.body.len().to_string()) {
                problems.push(format!(
                    "GET content-length {len:?}, body {} bytes",
                    get.body.len()
                ));
            }
        }
        if !head.body.is_empty() {
            problems.push(format!("HEAD sent {} body bytes", head.body.len()));
        }
        for (m, a) in [("GET", &get), ("HEAD", &head)] {
            if !a.request_id().starts_with("req-") {
                problems.push(format!("{m} has no request ID"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{path} ({who}): {}", problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // The data image also answers a HEAD with a range as its GET does.
    let range: &[(&str, &[u8])] = &[token(OWNER), ("Range", b"bytes=10-19")];
    let path = format!("/v2/images/{with_data}/file");
    let get = exchange(&s, "GET", &path, range, None).await;
    let head = exchange(&s, "HEAD", &path, range, None).await;
    assert_eq!((get.status, head.status), (206, 206));
    assert_eq!(get.header("content-length").as_deref(), Some("10"));
    assert_eq!(head.header("content-length").as_deref(), Some("10"));
    assert_eq!(
        head.header("content-range").as_deref(),
        Some("bytes 10-19/1234")
    );
    assert!(head.body.is_empty());
}

/// Every route with the methods it serves (`Allow`), and a concrete path.
fn routes(image: &str) -> Vec<(String, &'static str)> {
    const GET: &str = "GET, HEAD, OPTIONS";
    vec![
        ("/".into(), GET),
        ("/versions".into(), GET),
        ("/v2/images".into(), "GET, HEAD, POST, OPTIONS"),
        (
            format!("/v2/images/{image}"),
            "GET, HEAD, PATCH, DELETE, OPTIONS",
        ),
        (
            format!("/v2/images/{image}/file"),
            "GET, HEAD, PUT, OPTIONS",
        ),
        (
            format!("/v2/images/{image}/tags/some-tag"),
            "PUT, DELETE, OPTIONS",
        ),
        (
            format!("/v2/images/{image}/members"),
            "GET, HEAD, POST, OPTIONS",
        ),
        (
            format!("/v2/images/{image}/members/{PROJECT_B}"),
            "GET, HEAD, PUT, DELETE, OPTIONS",
        ),
        ("/v2/schemas/image".into(), GET),
        ("/v2/schemas/images".into(), GET),
        ("/v2/schemas/member".into(), GET),
        ("/v2/schemas/members".into(), GET),
        ("/v2/cloudimages".into(), GET),
        (
            "/v1/cloudimages/members".into(),
            "POST, PUT, DELETE, OPTIONS",
        ),
        (format!("/v1/cloudimages/job/{NO_JOB}"), GET),
        ("/v1/cloudimages/quota".into(), GET),
        (format!("/v1/{PROJECT_A}/jobs/{NO_JOB}"), GET),
        (format!("/v1/{PROJECT_A}/cloudimages/{image}/members"), GET),
        (
            format!("/v1/{PROJECT_A}/cloudimages/{image}/members/{PROJECT_B}"),
            GET,
        ),
        ("/openapi.json".into(), GET),
        ("/openapi.yaml".into(), GET),
        ("/docs".into(), GET),
        ("/docs/redoc.standalone.js".into(), GET),
    ]
}

/// `OPTIONS` on every route: 204 with the path's `Allow` and a request ID.
/// Every other method: 405 in the envelope with that same `Allow` when it
/// is not listed, anything but 405 when it is. Sent without a token, so
/// the served methods stop at 401 (or serve public data) and write nothing.
#[tokio::test]
async fn options_and_405_agree_with_allow_on_every_route() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    let mut failures = Vec::new();
    let routes = routes(&image);
    for (path, allow) in &routes {
        let a = exchange(&s, "OPTIONS", path, &[], None).await;
        if (a.status, a.header("allow").as_deref()) != (204, Some(*allow)) {
            failures.push(format!(
                "OPTIONS {path}: {} allow {:?}, expected 204 {allow:?}",
                a.status,
                a.header("allow")
            ));
        }
        if !a.request_id().starts_with("req-") || !a.body.is_empty() {
            failures.push(format!(
                "OPTIONS {path}: request ID {:?}, {} body bytes",
                a.request_id(),
                a.body.len()
            ));
        }
        let listed: Vec<&str> = allow.split(", ").collect();
        for method in METHODS {
            let a = exchange(&s, method, path, &[], None).await;
            if listed.contains(&method) {
                if a.status == 405 {
                    failures.push(format!("{method} {path}: 405 but Allow is {allow:?}"));
                }
                // Answered by our handler, not dropshot's router.
                if !a.request_id().starts_with("req-") {
                    failures.push(format!("{method} {path}: no request ID ({})", a.summary()));
                }
                continue;
            }
            let mut problems = Vec::new();
            if a.status != 405 {
                problems.push(format!("status {}", a.summary()));
            }
            if a.header("allow").as_deref() != Some(*allow)
                || a.headers.get_all("allow").iter().count() != 1
            {
                problems.push(format!("allow {:?}", a.headers.get_all("allow")));
            }
            if !a.request_id().starts_with("req-") {
                problems.push("no request ID".into());
            }
            if a.header("content-type").as_deref() != Some("application/json") {
                problems.push(format!("content-type {:?}", a.header("content-type")));
            }
            // A HEAD answer has no body; every other 405 is the envelope.
            if method == "HEAD" {
                if !a.body.is_empty() {
                    problems.push("HEAD with a body".into());
                }
            } else {
                let body = a.json();
                let want = format!("The method {method} is not allowed for this resource.");
                if body["error"]["code"] != "imgshare.method_not_allowed"
                    || body["error"]["title"] != "Method Not Allowed"
                    || body["error"]["message"] != want.as_str()
                {
                    problems.push(format!("body {body}"));
                }
            }
            if !problems.is_empty() {
                failures.push(format!("{method} {path}: {}", problems.join("; ")));
            }
        }
    }
    // Under /v1/ the cloudimages routes exist under that name only.
    for path in [
        "/v1/notcloudimages/members",
        "/v1/notcloudimages/quota",
        &format!("/v1/{PROJECT_A}/job/{NO_JOB}"),
        "/v1/whatever",
    ] {
        let a = exchange(&s, "OPTIONS", path, &[], None).await;
        if (a.status, a.code().as_str()) != (404, "imgshare.not_found")
            || a.header("allow").is_some()
            || !a.request_id().starts_with("req-")
        {
            failures.push(format!(
                "OPTIONS {path}: {} allow {:?} request ID {:?}",
                a.summary(),
                a.header("allow"),
                a.request_id()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems over {} routes:\n{}",
        failures.len(),
        routes.len(),
        failures.join("\n")
    );
    // Nothing above wrote anything: the image and its one member are there.
    assert_eq!(members_of(&s, &image).await, [PROJECT_B]);
    assert_eq!(owner_images(&s).await, [image]);
}

/// A client's `X-OpenStack-Request-ID` is echoed (with `req-` added when
/// missing) if it is 1 to 64 characters of `[A-Za-z0-9-_.:]`; any other
/// value is replaced by `req-<uuid>`, and the request is served all the same.
#[tokio::test]
async fn client_request_ids_are_echoed_only_when_safe() {
    let s = TestServer::start().await;
    let max = "a".repeat(64);
    let prefixed_max = format!("req-{}", "b".repeat(60));
    let kept: Vec<(Vec<u8>, String)> = vec![
        (b"abc-123".to_vec(), "req-abc-123".into()),
        (b"req-xyz".to_vec(), "req-xyz".into()),
        (b"A_b.c:D-9".to_vec(), "req-A_b.c:D-9".into()),
        (max.clone().into_bytes(), format!("req-{max}")),
        (prefixed_max.clone().into_bytes(), prefixed_max.clone()),
    ];
    for (sent, want) in &kept {
        let a = exchange(
            &s,
            "GET",
            "/v2/images",
            &[token(OWNER), (REQUEST_ID, sent)],
            None,
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.summary());
        assert_eq!(
            &a.request_id(),
            want,
            "sent {:?}",
            String::from_utf8_lossy(sent)
        );
    }
    let replaced: Vec<Vec<u8>> = vec![
        "caf\u{e9}".as_bytes().to_vec(), // UTF-8, not ASCII
        b"caf\xe9".to_vec(),             // Latin-1: not even UTF-8
        b"\xff\xfe".to_vec(),
        b"a b".to_vec(),
        b"<script>".to_vec(),
        b"abc/def".to_vec(),
        b"abc;def".to_vec(),
        "a".repeat(65).into_bytes(),
        format!("req-{}", "b".repeat(61)).into_bytes(),
        b"".to_vec(),
    ];
    let mut seen = Vec::new();
    for sent in &replaced {
        let shown = String::from_utf8_lossy(sent).into_owned();
        let a = exchange(
            &s,
            "GET",
            "/v2/images",
            &[token(OWNER), (REQUEST_ID, sent)],
            None,
        )
        .await;
        assert_eq!(a.status, 200, "sent {shown:?}: {}", a.summary());
        let id = a.request_id();
        assert!(is_generated(&id), "sent {shown:?}, echoed {id:?}");
        assert!(!seen.contains(&id), "{id} given twice");
        seen.push(id);
    }
    // With no ID sent, one is made; each request gets its own.
    let a = exchange(&s, "GET", "/v2/images", &[token(OWNER)], None).await;
    assert!(is_generated(&a.request_id()), "{:?}", a.request_id());
    assert!(!seen.contains(&a.request_id()));
}

/// Every answer of the service carries the request ID: the client's, here,
/// whatever the status.
#[tokio::test]
async fn every_status_carries_the_request_id() {
    let s = TestServer::start().await;
    let sent: &[u8] = b"e2e.every:1";
    let want = "req-e2e.every:1";
    let rid = (REQUEST_ID, sent);
    let json_ct = ("Content-Type", b"application/json".as_slice());
    let owner = [token(OWNER), rid, json_ct];
    let member = [token(MEMBER), rid, json_ct];
    let anonymous = [rid];

    let mut seen: Vec<(u16, String)> = Vec::new();
    let mut failures = Vec::new();
    let mut check = |what: &str, a: &Answer, status: u16| {
        if a.status != status || a.request_id() != want {
            failures.push(format!(
                "{what}: {} with request ID {:?}, expected {status} with {want}",
                a.summary(),
                a.request_id()
            ));
        }
        seen.push((a.status, what.to_owned()));
    };

    let a = exchange(&s, "GET", "/v2/images", &owner, None).await;
    check("list images", &a, 200);
    let a = exchange(&s, "POST", "/v2/images", &owner, Some(br#"{"name":"x"}"#)).await;
    check("create image", &a, 201);
    let image = a.json()["id"].as_str().unwrap_or(ZERO).to_owned();
    let members = format!("/v2/images/{image}/members");
    let member_b = format!("{members}/{PROJECT_B}");
    let file = format!("/v2/images/{image}/file");
    let add = br#"{"member":"project-b"}"#;
    let a = exchange(&s, "POST", &members, &owner, Some(add)).await;
    check("add member", &a, 200);
    let a = exchange(&s, "POST", &members, &owner, Some(add)).await;
    check("add member again", &a, 409);
    let a = exchange(
        &s,
        "PUT",
        &member_b,
        &owner,
        Some(br#"{"status":"accepted"}"#),
    )
    .await;
    check("owner accepts", &a, 403);
    let a = exchange(
        &s,
        "PUT",
        &member_b,
        &member,
        Some(br#"{"status":"accepted"}"#),
    )
    .await;
    check("member accepts", &a, 200);
    let a = exchange(&s, "POST", &members, &owner, Some(b"{")).await;
    check("malformed JSON", &a, 400);
    let a = exchange(&s, "GET", "/v2/images", &anonymous, None).await;
    check("no token", &a, 401);
    let a = exchange(&s, "GET", &format!("/v2/images/{ZERO}"), &owner, None).await;
    check("missing image", &a, 404);
    let a = exchange(&s, "PATCH", &members, &owner, None).await;
    check("PATCH members", &a, 405);
    let a = exchange(&s, "OPTIONS", &members, &anonymous, None).await;
    check("OPTIONS", &a, 204);
    let a = exchange(&s, "GET", &file, &owner, None).await;
    check("data of an image without any", &a, 204);
    let a = exchange(
        &s,
        "PATCH",
        &format!("/v2/images/{image}"),
        &[token(OWNER), rid, ("Content-Type", b"text/plain")],
        Some(b"[]"),
    )
    .await;
    check("PATCH as text/plain", &a, 415);
    let a = exchange(
        &s,
        "PUT",
        &file,
        &[
            token(OWNER),
            rid,
            ("Content-Type", b"application/octet-stream"),
        ],
        Some(&[1u8; 100]),
    )
    .await;
    check("upload", &a, 204);
    let a = exchange(
        &s,
        "PUT",
        &file,
        &[
            token(OWNER),
            rid,
            ("Content-Type", b"application/octet-stream"),
        ],
        Some(&[1u8; 100]),
    )
    .await;
    check("second upload", &a, 409);
    let a = exchange(&s, "GET", &file, &owner, None).await;
    check("download", &a, 200);
    let a = exchange(
        &s,
        "GET",
        &file,
        &[token(OWNER), rid, ("Range", b"bytes=0-9")],
        None,
    )
    .await;
    check("range", &a, 206);
    let a = exchange(
        &s,
        "GET",
        &file,
        &[token(OWNER), rid, ("Range", b"bytes=500-")],
        None,
    )
    .await;
    check("range past the end", &a, 416);
    let a = exchange(&s, "HEAD", &format!("/v2/images/{image}"), &owner, None).await;
    check("HEAD image", &a, 200);
    let a = exchange(&s, "GET", "/v3/images", &anonymous, None).await;
    check("unknown version", &a, 300);
    let a = exchange(&s, "GET", "/docs", &anonymous, None).await;
    check("docs", &a, 200);
    let a = exchange(&s, "GET", "/v1/images", &owner, None).await;
    check("unknown /v1/ path", &a, 404);
    let a = exchange(&s, "POST", "/v1/cloudimages/members", &owner, Some(b"{}")).await;
    check("Huawei batch refused", &a, 400);
    let a = exchange(
        &s,
        "GET",
        &format!("/v1/{PROJECT_C}/cloudimages/{image}/members"),
        &owner,
        None,
    )
    .await;
    check("v1 list in another project", &a, 403);
    let a = exchange(&s, "DELETE", &member_b, &owner, None).await;
    check("remove member", &a, 204);
    // 413: reqwest, which copes with the server answering mid-body.
    let rsp = http()
        .post(s.url(&members))
        .header("X-Auth-Token", OWNER)
        .header(REQUEST_ID, "e2e.every:1")
        .body(vec![b' '; 200 * 1024])
        .send()
        .await
        .unwrap();
    let got = (
        rsp.status().as_u16(),
        rsp.headers()
            .get(REQUEST_ID)
            .map(|v| v.to_str().unwrap().to_owned()),
    );
    if got != (413, Some(want.to_owned())) {
        failures.push(format!("oversized body: {got:?}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let mut statuses: Vec<u16> = seen.iter().map(|(s, _)| *s).collect();
    statuses.push(413);
    statuses.sort();
    statuses.dedup();
    assert_eq!(
        statuses,
        [200, 201, 204, 206, 300, 400, 401, 403, 404, 405, 409, 413, 415, 416]
    );
}

/// Two `X-Auth-Token` headers are a 400 whoever they name, before anything
/// is read or written; a token that is not UTF-8 names no one (401).
#[tokio::test]
async fn contradictory_or_undecodable_tokens() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let images_before = owner_images(&s).await;
    let members = format!("/v2/images/{image}/members");
    let json_ct = ("Content-Type", b"application/json".as_slice());
    let add = br#"{"member":"project-b"}"#;
    let batch = json!({"images": [image], "projects": [PROJECT_B]}).to_string();

    let pairs: [(&[u8], &[u8]); 4] = [
        (OWNER.as_bytes(), OWNER.as_bytes()),
        (OWNER.as_bytes(), MEMBER.as_bytes()),
        (OWNER.as_bytes(), b"tok-nobody"),
        (OWNER.as_bytes(), b"\xff\xfe"),
    ];
    for (first, second) in pairs {
        let tokens = [("X-Auth-Token", first), ("X-Auth-Token", second), json_ct];
        let shown = String::from_utf8_lossy(second).into_owned();
        for (method, path, body) in [
            ("GET", "/v2/images".to_owned(), None),
            ("HEAD", format!("/v2/images/{image}"), None),
            ("POST", members.clone(), Some(&add[..])),
            ("POST", "/v2/images".to_owned(), Some(&b"{}"[..])),
            ("DELETE", format!("/v2/images/{image}"), None),
            (
                "POST",
                "/v1/cloudimages/members".to_owned(),
                Some(batch.as_bytes()),
            ),
        ] {
            let a = exchange(&s, method, &path, &tokens, body).await;
            let what = format!("{method} {path} with {OWNER} and {shown:?}");
            assert_eq!(a.status, 400, "{what}: {}", a.summary());
            assert!(a.request_id().starts_with("req-"), "{what}");
            assert_eq!(
                a.header("content-type").as_deref(),
                Some("application/json")
            );
            if method != "HEAD" {
                assert_eq!(a.code(), "imgshare.ambiguous_credentials", "{what}");
                assert_eq!(
                    a.json()["error"]["message"],
                    "The request carries more than one X-Auth-Token header."
                );
            }
        }
    }
    // Nothing was written: no member, no new image, the image not deleted.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(members_of(&s, &image).await, Vec::<String>::new());
    assert_eq!(owner_images(&s).await, images_before);

    // One header holding two tokens is one (unknown) token.
    let joined = format!("{OWNER}, {MEMBER}");
    let a = exchange(&s, "GET", "/v2/images", &[token(&joined)], None).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (401, "imgshare.unauthorized")
    );

    // Not UTF-8: 401 in the envelope (dropshot's own 400 never answers it).
    for bad in [
        &b"\xff\xfe"[..],
        b"tok-owner\xff",
        b"tok-\xe9t\xe9",
        b"\x80",
    ] {
        let shown = String::from_utf8_lossy(bad).into_owned();
        for (method, path, body) in [
            ("GET", "/v2/images".to_owned(), None),
            ("GET", format!("/v2/images/{image}/members"), None),
            ("POST", members.clone(), Some(&add[..])),
            ("GET", "/v1/cloudimages/quota".to_owned(), None),
            ("GET", "/v2/schemas/member".to_owned(), None),
        ] {
            let a = exchange(&s, method, &path, &[("X-Auth-Token", bad), json_ct], body).await;
            let what = format!("{method} {path} with token {shown:?}");
            assert_eq!(
                (a.status, a.code().as_str()),
                (401, "imgshare.unauthorized"),
                "{what}: {}",
                a.summary()
            );
            assert_eq!(
                a.header("content-type").as_deref(),
                Some("application/json"),
                "{what}"
            );
            assert!(
                is_generated(&a.request_id()),
                "{what}: {:?}",
                a.request_id()
            );
            assert_eq!(a.json()["error"]["title"], "Unauthorized", "{what}");
        }
        // A public path does not look at the token.
        let a = exchange(&s, "GET", "/versions", &[("X-Auth-Token", bad)], None).await;
        assert_eq!(a.status, 200, "{shown:?}");
    }
    // The same through reqwest (HeaderValue::from_bytes), with a request ID.
    let rsp = http()
        .get(s.url("/v2/images"))
        .header(
            "X-Auth-Token",
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        )
        .header(REQUEST_ID, "bad-token-1")
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status().as_u16(), 401);
    assert_eq!(rsp.headers()[REQUEST_ID], "req-bad-token-1");
    let body: Value = rsp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "imgshare.unauthorized");
    assert_eq!(members_of(&s, &image).await, Vec::<String>::new());
}

/// The headers Huawei's SDK sends for a request signed with the test key
/// pair, acting in `project`.
fn signed(
    s: &TestServer,
    method: &str,
    path_and_query: &str,
    project: &str,
    body: &str,
) -> HeaderMap {
    let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut h = HeaderMap::new();
    let content_type = if body.is_empty() {
        "application/json"
    } else {
        "application/json;charset=utf-8"
    };
    h.insert("content-type", HeaderValue::from_static(content_type));
    h.insert("host", HeaderValue::from_str(&host(s)).unwrap());
    h.insert("x-sdk-date", HeaderValue::from_str(&date).unwrap());
    h.insert("x-project-id", HeaderValue::from_str(project).unwrap());
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let method: reqwest::Method = method.parse().unwrap();
    let value = aksk::authorization(
        &aksk::SignedRequest {
            method: &method,
            path,
            query,
            headers: &h,
            body: body.as_bytes(),
        },
        ACCESS_KEY,
        SECRET_KEY.as_bytes(),
    );
    h.insert("authorization", HeaderValue::from_str(&value).unwrap());
    h
}

/// Sends a signed request, with `tokens` added after signing.
async fn send_signed(
    s: &TestServer,
    method: &str,
    path_and_query: &str,
    project: &str,
    body: &str,
    tokens: &[&[u8]],
) -> (u16, HeaderMap, Value) {
    let mut headers = signed(s, method, path_and_query, project, body);
    for t in tokens {
        headers.append("x-auth-token", HeaderValue::from_bytes(t).unwrap());
    }
    let rsp = http()
        .request(method.parse().unwrap(), s.url(path_and_query))
        .headers(headers)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = rsp.status().as_u16();
    let headers = rsp.headers().clone();
    let body = rsp.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// A signed request with a token: served when both name the same caller
/// (alice in project-a), 400 when they name different callers, whatever
/// the request would do; nothing is written.
#[tokio::test]
async fn a_signature_and_a_token_must_name_one_caller() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let path = "/v2/images?limit=5";
    let ambiguous = |what: &str, got: &(u16, HeaderMap, Value)| {
        assert_eq!(
            (got.0, got.2["error"]["code"].as_str()),
            (400, Some("imgshare.ambiguous_credentials")),
            "{what}: {}",
            got.2
        );
        assert!(
            got.1[REQUEST_ID].to_str().unwrap().starts_with("req-"),
            "{what}"
        );
    };

    // Alone, the signature serves; with alice's own token too.
    let got = send_signed(&s, "GET", path, PROJECT_A, "", &[]).await;
    assert_eq!(got.0, 200, "{}", got.2);
    let got = send_signed(&s, "GET", path, PROJECT_A, "", &[OWNER.as_bytes()]).await;
    assert_eq!(got.0, 200, "signature + the same caller's token: {}", got.2);
    assert_eq!(got.2["images"][0]["id"], image.as_str());

    // Another caller's token: bob (project-b); alice without roles; alice
    // acting in project-b (the key may) with her project-a token.
    let got = send_signed(&s, "GET", path, PROJECT_A, "", &[MEMBER.as_bytes()]).await;
    ambiguous("signature (alice, project-a) + bob's token", &got);
    assert_eq!(
        got.2["error"]["message"],
        "The X-Auth-Token and the request signature belong to different callers."
    );
    let got = send_signed(&s, "GET", path, PROJECT_A, "", &[NO_ROLES.as_bytes()]).await;
    ambiguous("signature (alice) + nobody's token (project-a)", &got);
    let got = send_signed(&s, "GET", path, PROJECT_B, "", &[OWNER.as_bytes()]).await;
    ambiguous(
        "signature (alice, project-b) + alice's project-a token",
        &got,
    );
    let got = send_signed(
        &s,
        "GET",
        path,
        PROJECT_A,
        "",
        &[OWNER.as_bytes(), OWNER.as_bytes()],
    )
    .await;
    ambiguous("signature + two tokens", &got);

    // A write with another caller's token: refused, nothing written.
    let add = json!({"member": "project-z"}).to_string();
    let members = format!("/v2/images/{image}/members");
    let got = send_signed(
        &s,
        "POST",
        &members,
        PROJECT_A,
        &add,
        &[STRANGER.as_bytes()],
    )
    .await;
    ambiguous("signed add member + carol's token", &got);
    let batch = json!({"images": [image], "projects": ["project-z"]}).to_string();
    let got = send_signed(
        &s,
        "POST",
        "/v1/cloudimages/members",
        PROJECT_A,
        &batch,
        &[MEMBER.as_bytes()],
    )
    .await;
    ambiguous("signed batch share + bob's token", &got);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(members_of(&s, &image).await, Vec::<String>::new());

    // A token that names no one (unknown, or not UTF-8) is not a caller: 401.
    for bad in [&b"tok-nobody"[..], b"\xff\xfe"] {
        let got = send_signed(&s, "GET", path, PROJECT_A, "", &[bad]).await;
        assert_eq!(
            (got.0, got.2["error"]["code"].as_str()),
            (401, Some("imgshare.unauthorized")),
            "{:?}: {}",
            String::from_utf8_lossy(bad),
            got.2
        );
    }

    // The same caller's token on a write: served.
    let got = send_signed(&s, "POST", &members, PROJECT_A, &add, &[OWNER.as_bytes()]).await;
    assert_eq!(got.0, 200, "{}", got.2);
    assert_eq!(members_of(&s, &image).await, ["project-z"]);
}

/// The head of a chunked request (keep-alive: no `Connection: close`).
fn chunked_head(s: &TestServer, method: &str, path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n",
        host(s)
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Sends `request` on a keep-alive connection, reads the one response, and
/// checks the server then closes the connection without another byte: after
/// a body it could not decode it cannot know where a next request starts.
async fn answered_then_closed(s: &TestServer, request: &[u8], what: &str) -> Answer {
    let mut tcp = open(s).await;
    tcp.write_all(request).await.unwrap();
    let a = read_response(&mut tcp, false).await.unwrap_or_else(|| {
        // hyper closed the connection without any response.
        panic!("{what}: connection closed without a response")
    });
    let mut rest = Vec::new();
    match tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest)).await {
        Err(_) => panic!("{what}: connection still open 5 s after the response"),
        Ok(_) => assert!(
            rest.is_empty(),
            "{what}: more after the response: {:?}",
            String::from_utf8_lossy(&rest)
        ),
    }
    a
}

/// A chunked body hyper cannot decode reaches the handler as an unreadable
/// body: 400 in the envelope (`IMG.0001`) with the request ID, for every
/// call that reads a JSON body, signed or not; the connection is then
/// closed; nothing is written. An upload so cut is `upload_interrupted`.
#[tokio::test]
async fn a_malformed_chunked_body_is_a_400_in_the_envelope() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    let images_before = owner_images(&s).await;
    let members = format!("/v2/images/{image}/members");
    let bodies: [(&str, &[u8]); 4] = [
        ("a chunk size that is not hex", b"zz\r\n"),
        ("a bad size after a good chunk", b"5\r\n{\"mem\r\nzz\r\n"),
        (
            "a chunk longer than its size",
            b"3\r\n{\"member\":\"project-c\"}\r\n0\r\n\r\n",
        ),
        ("a chunk size past 64 bits", b"fffffffffffffffffffff\r\n"),
    ];
    let json_ct = ("Content-Type", "application/json");
    let rid = ("X-OpenStack-Request-ID", "chunky-1");
    let calls: Vec<(&str, String, &str)> = vec![
        ("POST", members.clone(), OWNER),
        ("POST", "/v2/images".into(), OWNER),
        ("PATCH", format!("/v2/images/{image}"), OWNER),
        ("DELETE", format!("/v2/images/{image}"), OWNER),
        ("PUT", format!("{members}/{PROJECT_B}"), MEMBER),
        ("POST", "/v1/cloudimages/members".into(), OWNER),
        ("PUT", "/v1/cloudimages/members".into(), MEMBER),
        ("DELETE", "/v1/cloudimages/members".into(), OWNER),
    ];
    let check = |a: &Answer, what: &str| {
        assert_eq!(
            (a.status, a.code().as_str()),
            (400, "IMG.0001"),
            "{what}: {}",
            a.summary()
        );
        assert_eq!(
            a.header("content-type").as_deref(),
            Some("application/json"),
            "{what}"
        );
        assert_eq!(a.request_id(), "req-chunky-1", "{what}");
        assert_eq!(a.json()["error"]["title"], "Bad Request", "{what}");
        let message = a.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(
            message.starts_with("The request body could not be read: "),
            "{what}: {message}"
        );
    };
    for (method, path, tok) in &calls {
        for (name, body) in bodies {
            let what = format!("{method} {path}, {name}");
            let mut req = chunked_head(&s, method, path, &[("X-Auth-Token", tok), json_ct, rid]);
            req.extend_from_slice(body);
            let a = answered_then_closed(&s, &req, &what).await;
            check(&a, &what);
        }
    }
    // Signed: the signature (over an empty body) cannot be checked against
    // a body that could not be read; the body is what is wrong.
    let signature = signed(&s, "POST", &members, PROJECT_A, "");
    let signature: Vec<(&str, &str)> = signature
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
        .filter(|(k, _)| *k != "host")
        .chain([rid])
        .collect();
    let mut req = chunked_head(&s, "POST", &members, &signature);
    req.extend_from_slice(b"zz\r\n");
    let a = answered_then_closed(&s, &req, "signed").await;
    check(&a, "signed");

    // An upload cut this way keeps nothing.
    let mut req = chunked_head(
        &s,
        "PUT",
        &format!("/v2/images/{image}/file"),
        &[
            ("X-Auth-Token", OWNER),
            ("Content-Type", "application/octet-stream"),
            rid,
        ],
    );
    req.extend_from_slice(b"4\r\ndata\r\nzz\r\n");
    let a = answered_then_closed(&s, &req, "upload").await;
    assert_eq!(
        (a.status, a.code().as_str(), a.request_id().as_str()),
        (400, "imgshare.upload_interrupted", "req-chunky-1"),
        "{}",
        a.summary()
    );

    // Nothing was written: the image is there, queued, with its one
    // pending member; no image was made.
    let img = exchange(
        &s,
        "GET",
        &format!("/v2/images/{image}"),
        &[token(OWNER)],
        None,
    )
    .await;
    assert_eq!(img.status, 200, "{}", img.summary());
    assert_eq!(
        (img.json()["status"].as_str(), img.json()["size"].as_u64()),
        (Some("queued"), None)
    );
    assert_eq!(owner_images(&s).await, images_before);
    let m = s
        .client(OWNER)
        .get_member(&image, PROJECT_B, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.status, imgshare::types::MemberStatus::Pending);
    assert_eq!(members_of(&s, &image).await, [PROJECT_B]);

    // A well-formed chunked body is read as any other.
    let mut req = chunked_head(
        &s,
        "POST",
        &members,
        &[("X-Auth-Token", OWNER), json_ct, ("Connection", "close")],
    );
    req.extend_from_slice(b"5\r\n{\"mem\r\n11\r\nber\":\"project-c\"}\r\n0\r\n\r\n");
    let a = send_raw(&s, &req, false).await.unwrap();
    assert_eq!(a.status, 200, "{}", a.summary());
    assert_eq!(members_of(&s, &image).await, [PROJECT_B, PROJECT_C]);
}
