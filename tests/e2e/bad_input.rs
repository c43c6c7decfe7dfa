//! Bad input: each case gets its 4xx in the error envelope (never a 5xx),
//! with JSON content type and a request ID. Raw HTTP: the generated client
//! cannot send malformed requests.

use reqwest::Method;

use crate::support::*;

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    token: &'static str,
    body: Option<Vec<u8>>,
    status: u16,
    message: Option<String>,
}

fn case(
    name: &'static str,
    method: Method,
    path: &str,
    token: &'static str,
    body: Option<&[u8]>,
    status: u16,
    message: Option<&str>,
) -> Case {
    Case {
        name,
        method,
        path: path.to_owned(),
        token,
        body: body.map(<[u8]>::to_vec),
        status,
        message: message.map(String::from),
    }
}

#[tokio::test]
async fn bad_input_table() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    let members = format!("/v2/images/{image}/members");
    let member_b = format!("/v2/images/{image}/members/{PROJECT_B}");
    let long_member = format!(r#"{{"member":"{}"}}"#, "m".repeat(256));
    let long_member_refused = format!(
        "Member \"{}...\" is not a valid ID: 1 to 255 characters, each an ASCII letter or digit \
         or one of - _ . : @ / (no spaces, control or non-ASCII characters).",
        "m".repeat(64)
    );
    let huge = vec![b' '; 200 * 1024];
    let status_msg = r#"Incorrect request: Status must be "pending", "accepted" or "rejected"."#;
    use Method as M;
    let cases = vec![
        // POST members (§3.1): body checks come before any lookup.
        case(
            "no body",
            M::POST,
            &members,
            OWNER,
            None,
            400,
            Some("Body expected in request."),
        ),
        case(
            "empty body",
            M::POST,
            &members,
            OWNER,
            Some(b""),
            400,
            Some("Body expected in request."),
        ),
        case(
            "malformed JSON",
            M::POST,
            &members,
            OWNER,
            Some(b"{member:"),
            400,
            Some("Malformed JSON in request body."),
        ),
        case(
            "scalar",
            M::POST,
            &members,
            OWNER,
            Some(b"123"),
            400,
            Some("Unexpected body type. Expected list/dict."),
        ),
        case(
            "string",
            M::POST,
            &members,
            OWNER,
            Some(b"\"x\""),
            400,
            Some("Unexpected body type. Expected list/dict."),
        ),
        case(
            "array",
            M::POST,
            &members,
            OWNER,
            Some(b"[]"),
            400,
            Some(r#"Expected a member in the form: {"member": "image_id"}"#),
        ),
        case(
            "no member key",
            M::POST,
            &members,
            OWNER,
            Some(br#"{"foo":"bar"}"#),
            400,
            Some("Member to be added not specified"),
        ),
        case(
            "empty member",
            M::POST,
            &members,
            OWNER,
            Some(br#"{"member":""}"#),
            400,
            Some("Member can't be empty"),
        ),
        case(
            "null member",
            M::POST,
            &members,
            OWNER,
            Some(br#"{"member":null}"#),
            400,
            Some("Member can't be empty"),
        ),
        case(
            "number member",
            M::POST,
            &members,
            OWNER,
            Some(br#"{"member":123}"#),
            400,
            Some("Member must be a string"),
        ),
        case(
            "object member",
            M::POST,
            &members,
            OWNER,
            Some(br#"{"member":{}}"#),
            400,
            Some("Member must be a string"),
        ),
        case(
            "256-char member",
            M::POST,
            &members,
            OWNER,
            Some(long_member.as_bytes()),
            400,
            Some(&long_member_refused),
        ),
        case(
            "bad body beats missing image",
            M::POST,
            "/v2/images/00000000-0000-0000-0000-000000000000/members",
            STRANGER,
            Some(b"nope"),
            400,
            Some("Malformed JSON in request body."),
        ),
        case(
            "oversized body",
            M::POST,
            &members,
            OWNER,
            Some(&huge),
            413,
            None,
        ),
        // PUT member (§3.4).
        case(
            "PUT no body",
            M::PUT,
            &member_b,
            MEMBER,
            None,
            400,
            Some("Body expected in request."),
        ),
        case(
            "PUT malformed",
            M::PUT,
            &member_b,
            MEMBER,
            Some(b"{"),
            400,
            Some("Malformed JSON in request body."),
        ),
        case(
            "PUT scalar",
            M::PUT,
            &member_b,
            MEMBER,
            Some(b"true"),
            400,
            Some("Unexpected body type. Expected list/dict."),
        ),
        case(
            "PUT array",
            M::PUT,
            &member_b,
            MEMBER,
            Some(b"[1]"),
            400,
            Some(r#"Expected a status in the form: {"status": "status"}"#),
        ),
        case(
            "PUT no status",
            M::PUT,
            &member_b,
            MEMBER,
            Some(br#"{"foo":1}"#),
            400,
            Some("Status not specified"),
        ),
        case(
            "PUT bad status",
            M::PUT,
            &member_b,
            MEMBER,
            Some(br#"{"status":"accept"}"#),
            400,
            Some(status_msg),
        ),
        case(
            "PUT numeric status",
            M::PUT,
            &member_b,
            MEMBER,
            Some(br#"{"status":1}"#),
            400,
            Some(status_msg),
        ),
        case(
            "PUT bad status by owner is 403",
            M::PUT,
            &member_b,
            OWNER,
            Some(br#"{"status":"bogus"}"#),
            403,
            None,
        ),
        case(
            "PUT oversized",
            M::PUT,
            &member_b,
            MEMBER,
            Some(&huge),
            413,
            None,
        ),
        // Bodies where none is expected (§2.1).
        case(
            "GET list with body",
            M::GET,
            &members,
            OWNER,
            Some(b"{}"),
            400,
            Some("A body is not expected with this request."),
        ),
        case(
            "GET one with body",
            M::GET,
            &member_b,
            OWNER,
            Some(b"{}"),
            400,
            Some("A body is not expected with this request."),
        ),
        case(
            "DELETE with body",
            M::DELETE,
            &member_b,
            OWNER,
            Some(b"{}"),
            400,
            Some("A body is not expected with this request."),
        ),
        case(
            "member schema with body",
            M::GET,
            "/v2/schemas/member",
            OWNER,
            Some(b"{}"),
            400,
            Some("A body is not expected with this request."),
        ),
        case(
            "members schema with body",
            M::GET,
            "/v2/schemas/members",
            OWNER,
            Some(b"{}"),
            400,
            Some("A body is not expected with this request."),
        ),
        // IDs that cannot name an image.
        case(
            "non-UUID image id",
            M::GET,
            "/v2/images/not-a-uuid/members",
            OWNER,
            None,
            404,
            Some("Image not-a-uuid not found."),
        ),
        case(
            "over-long image id",
            M::GET,
            &format!("/v2/images/{image}0/members"),
            OWNER,
            None,
            404,
            None,
        ),
        case(
            "non-UUID POST",
            M::POST,
            "/v2/images/xyz/members",
            OWNER,
            Some(br#"{"member":"b"}"#),
            404,
            Some("Image xyz not found."),
        ),
        case(
            "unknown member",
            M::GET,
            &format!("{members}/{}", "z".repeat(300)),
            OWNER,
            None,
            404,
            None,
        ),
        // Query values (§5).
        case(
            "bad visibility",
            M::GET,
            "/v2/images?visibility=secret",
            OWNER,
            None,
            400,
            None,
        ),
        case(
            "bad member_status",
            M::GET,
            "/v2/images?member_status=maybe",
            OWNER,
            None,
            400,
            None,
        ),
        case(
            "negative limit",
            M::GET,
            "/v2/images?limit=-1",
            OWNER,
            None,
            400,
            None,
        ),
        case(
            "zero limit",
            M::GET,
            "/v2/images?limit=0",
            OWNER,
            None,
            400,
            None,
        ),
        case(
            "unknown marker",
            M::GET,
            "/v2/images?marker=00000000-0000-0000-0000-000000000000",
            OWNER,
            None,
            400,
            None,
        ),
        // Images.
        case(
            "image: scalar body",
            M::POST,
            "/v2/images",
            OWNER,
            Some(b"1"),
            400,
            Some("Unexpected body type. Expected list/dict."),
        ),
        case(
            "image: bad disk_format",
            M::POST,
            "/v2/images",
            OWNER,
            Some(br#"{"disk_format":"floppy"}"#),
            400,
            None,
        ),
        case(
            "image: non-string property",
            M::POST,
            "/v2/images",
            OWNER,
            Some(br#"{"os_type":7}"#),
            400,
            None,
        ),
        case(
            "image: bad id",
            M::POST,
            "/v2/images",
            OWNER,
            Some(br#"{"id":"123"}"#),
            400,
            None,
        ),
        case(
            "image: read-only attribute",
            M::POST,
            "/v2/images",
            OWNER,
            Some(br#"{"status":"active"}"#),
            403,
            Some("Attribute 'status' is read-only."),
        ),
        case(
            "image: public by non-admin",
            M::POST,
            "/v2/images",
            OWNER,
            Some(br#"{"visibility":"public"}"#),
            403,
            None,
        ),
    ];
    let mut failures = Vec::new();
    for c in &cases {
        let (status, headers, body) = raw(
            c.method.clone(),
            &s.url(&c.path),
            Some(c.token),
            c.body.as_deref(),
        )
        .await;
        let mut problems = Vec::new();
        if status != c.status {
            problems.push(format!("status {status}, expected {}", c.status));
        }
        if headers.get("content-type").map(|v| v.to_str().unwrap()) != Some("application/json") {
            problems.push(format!("content-type {:?}", headers.get("content-type")));
        }
        if !headers
            .get("x-openstack-request-id")
            .is_some_and(|v| v.to_str().unwrap().starts_with("req-"))
        {
            problems.push("no x-openstack-request-id".into());
        }
        let e = &body["error"];
        if !(e["code"].is_string() && e["title"].is_string() && e["message"].is_string()) {
            problems.push(format!("not the error envelope: {body}"));
        }
        if let Some(m) = &c.message {
            if e["message"] != m.as_str() {
                problems.push(format!("message {}, expected {m:?}", e["message"]));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}", c.name, problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // Nothing above changed the membership.
    let all = s
        .client(OWNER)
        .list_members(&image, None, None, None)
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(all.len(), 1);
}

/// Glance parses POST/PUT bodies whatever the Content-Type says; clients send
/// `application/octet-stream` on GET/DELETE.
#[tokio::test]
async fn content_types_clients_really_send() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let http = http_client();
    let rsp = http
        .post(s.url(&format!("/v2/images/{image}/members")))
        .header("X-Auth-Token", OWNER)
        .header("Content-Type", "text/plain")
        .body(r#"{"member":"project-b"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status().as_u16(), 200);
    for method in [Method::GET, Method::DELETE] {
        let rsp = http
            .request(
                method.clone(),
                s.url(&format!("/v2/images/{image}/members/project-b")),
            )
            .header("X-Auth-Token", OWNER)
            .header("Content-Type", "application/octet-stream")
            .header("Accept", "*/*")
            .send()
            .await
            .unwrap();
        assert!(rsp.status().is_success(), "{method}: {}", rsp.status());
    }
}

/// Wrong methods on our paths: 405 in the envelope with `Allow`.
#[tokio::test]
async fn wrong_methods_get_405_with_allow() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let cases = [
        (
            Method::PATCH,
            format!("/v2/images/{image}/members"),
            "GET, HEAD, POST, OPTIONS",
        ),
        (
            Method::DELETE,
            format!("/v2/images/{image}/members"),
            "GET, HEAD, POST, OPTIONS",
        ),
        (
            Method::POST,
            format!("/v2/images/{image}/members/{PROJECT_B}"),
            "GET, HEAD, PUT, DELETE, OPTIONS",
        ),
        (
            Method::PUT,
            "/v2/schemas/member".to_string(),
            "GET, HEAD, OPTIONS",
        ),
        (
            Method::DELETE,
            "/v2/images".to_string(),
            "GET, HEAD, POST, OPTIONS",
        ),
        (
            Method::POST,
            format!("/v2/images/{image}"),
            "GET, HEAD, PATCH, DELETE, OPTIONS",
        ),
        (
            Method::GET,
            format!("/v2/images/{image}/tags/t"),
            "PUT, DELETE, OPTIONS",
        ),
        (Method::POST, "/versions".to_string(), "GET, HEAD, OPTIONS"),
    ];
    for (method, path, allow) in cases {
        let (status, headers, body) = raw(method.clone(), &s.url(&path), Some(OWNER), None).await;
        assert_eq!(status, 405, "{method} {path}");
        assert_eq!(headers["allow"], allow, "{method} {path}");
        assert_eq!(body["error"]["code"], "imgshare.method_not_allowed");
        assert_eq!(
            body["error"]["message"],
            format!("The method {method} is not allowed for this resource.")
        );
        assert!(headers["x-openstack-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req-"));
    }
}

/// Unknown paths are answered by dropshot's router before any of our code
/// runs, in its own JSON body (README, "Known limits"). Recorded so a change
/// in that behaviour is noticed.
#[tokio::test]
async fn unknown_paths_are_404() {
    let s = TestServer::start().await;
    for path in ["/v2/nothing-here", "/nothing", "/v2/images/x/members/y/z"] {
        let (status, headers, body) = raw(Method::GET, &s.url(path), Some(OWNER), None).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(body["message"], "Not Found", "{path}: {body}");
    }
}

/// What python-glanceclient asks for beyond the API: metadata-definition
/// schemas. They answer in the envelope, so the client prints the message
/// instead of crashing on a flat body.
#[tokio::test]
async fn metadefs_answer_in_the_envelope() {
    let s = TestServer::start().await;
    for path in [
        "/v2/schemas/metadefs/namespace",
        "/v2/schemas/metadefs/resource_type",
    ] {
        let (status, _, body) = raw(Method::GET, &s.url(path), Some(OWNER), None).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["error"]["code"], "imgshare.not_found");
    }
}
