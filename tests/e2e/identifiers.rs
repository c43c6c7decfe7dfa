//! The identifier rule (`server/src/domain/ids.rs`, README "Identifiers"),
//! table-driven: every class of bad ID on the native add, the batch add (as
//! a project and as an account), the batch update's `project_id`, and in the
//! paths of the member calls; and confusable self-shares, refused or accepted
//! exactly as documented. Nothing a refused request names is ever written.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

/// Every class of ID the rule refuses, with what it is.
fn bad_ids() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("NUL", "proj\u{0}ect".into()),
        ("a control character", "proj\u{1}ect".into()),
        ("a tab", "proj\tect".into()),
        ("a newline", "proj\nect".into()),
        ("an ANSI escape", "\u{1b}[31mproject".into()),
        ("DEL", "proj\u{7f}ect".into()),
        ("a zero-width space", "proj\u{200b}ect".into()),
        ("a zero-width joiner", "proj\u{200d}ect".into()),
        ("a bidi override", "proj\u{202e}tce".into()),
        ("a byte-order mark", "\u{feff}project".into()),
        ("a leading space", " project-c".into()),
        ("a trailing space", "project-c ".into()),
        ("an inner space", "project c".into()),
        ("a no-break space", "project\u{a0}c".into()),
        ("full-width letters", "ｐｒｏｊｅｃｔ-ｃ".into()),
        ("a Latin letter with accent", "projéct".into()),
        ("Cyrillic look-alikes", "prојесt".into()),
        ("a quote", "proj\"ect".into()),
        ("a backslash", "proj\\ect".into()),
        ("a percent sign", "proj%ect".into()),
        ("256 characters", "p".repeat(256)),
    ]
}

async fn send(
    s: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: &Value,
) -> (u16, Value) {
    let (status, _, answer) = raw(
        method,
        &s.url(path),
        Some(token),
        Some(body.to_string().as_bytes()),
    )
    .await;
    (status, answer)
}

async fn member_ids(s: &TestServer, image: &str) -> Vec<String> {
    let (status, _, body) = raw(
        Method::GET,
        &s.url(&format!("/v2/images/{image}/members")),
        Some(OWNER),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["member_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_class_of_bad_id_is_refused_everywhere_and_nothing_is_written() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let members = format!("/v2/images/{image}/members");
    for (what, id) in bad_ids() {
        // The native add: 400 IMG.0067 naming the rule, the ID escaped.
        let (status, answer) =
            send(&s, Method::POST, &members, OWNER, &json!({"member": id})).await;
        assert_eq!(status, 400, "add, {what}: {answer}");
        let expected = if id.is_empty() {
            "IMG.0001"
        } else {
            "IMG.0067"
        };
        assert_eq!(answer["error"]["code"], expected, "add, {what}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        if !id.is_empty() {
            assert!(
                message.contains("1 to 255 characters"),
                "add, {what}: the message names the rule: {message}"
            );
        }
        assert!(
            message.is_ascii(),
            "add, {what}: the ID is shown escaped: {message}"
        );

        // The batch add, as a project and as an account.
        for list in ["projects", "domains"] {
            let body = json!({"images": [image], list: [PROJECT_B, id]});
            let (status, answer) =
                send(&s, Method::POST, "/v1/cloudimages/members", OWNER, &body).await;
            assert_eq!(
                (status, answer["error"]["code"].as_str()),
                (400, Some("IMG.0067")),
                "batch add ({list}), {what}: {answer}"
            );
        }

        // The batch update's own project.
        let body = json!({"images": [image], "project_id": id, "status": "accepted"});
        let (status, answer) =
            send(&s, Method::PUT, "/v1/cloudimages/members", MEMBER, &body).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some("IMG.0067")),
            "batch update, {what}: {answer}"
        );
    }
    // Nothing was written: no member, and no job ran.
    assert!(member_ids(&s, &image).await.is_empty());
}

#[tokio::test]
async fn a_path_naming_a_bad_id_finds_no_member() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    for (what, id) in bad_ids() {
        if id.is_empty() || id.contains(['\n', '\t', '\u{0}', '\u{1}', '\u{1b}', '\u{7f}']) {
            continue; // not sendable in a URL path at all
        }
        let encoded: String = id
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let path = format!("/v2/images/{image}/members/{encoded}");
        for (method, token, body) in [
            (Method::GET, OWNER, None),
            (Method::PUT, MEMBER, Some(json!({"status": "accepted"}))),
            (Method::DELETE, OWNER, None),
        ] {
            let bytes = body.map(|b| b.to_string().into_bytes());
            let (status, _, answer) =
                raw(method.clone(), &s.url(&path), Some(token), bytes.as_deref()).await;
            assert_eq!(
                (status, answer["error"]["code"].as_str()),
                (404, Some("imgshare.not_found")),
                "{method} member {what}: {answer}"
            );
        }
    }
    assert_eq!(member_ids(&s, &image).await, [PROJECT_B]);
}

/// The owner is `project-a`. Its exact ID is a self-share (400 IMG.0076); an
/// ID that differs only in case is another project and is added; look-alikes
/// outside the rule are refused by the rule.
#[tokio::test]
async fn confusable_self_shares_are_judged_on_the_exact_id() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let members = format!("/v2/images/{image}/members");
    let cases: [(&str, &str, u16, &str); 6] = [
        ("the owner's own ID", "project-a", 400, "IMG.0076"),
        ("full-width", "ｐｒｏｊｅｃｔ-ａ", 400, "IMG.0067"),
        ("trailing space", "project-a ", 400, "IMG.0067"),
        ("zero-width space", "project\u{200b}-a", 400, "IMG.0067"),
        ("Cyrillic а", "project-а", 400, "IMG.0067"),
        ("upper case: another project", "PROJECT-A", 200, ""),
    ];
    for (what, id, status, code) in cases {
        let (got, answer) = send(&s, Method::POST, &members, OWNER, &json!({"member": id})).await;
        assert_eq!(got, status, "{what}: {answer}");
        if status == 400 {
            assert_eq!(answer["error"]["code"], code, "{what}: {answer}");
        } else {
            assert_eq!(answer["member_id"], id, "{what}: {answer}");
        }
        // The batch add judges the same way.
        let body = json!({"images": [image], "projects": [id]});
        let (got, answer) = send(&s, Method::POST, "/v1/cloudimages/members", OWNER, &body).await;
        assert_eq!(
            got,
            if status == 400 { 400 } else { 200 },
            "batch, {what}: {answer}"
        );
        if status == 400 {
            assert_eq!(answer["error"]["code"], code, "batch, {what}: {answer}");
        }
    }
    assert_eq!(member_ids(&s, &image).await, ["PROJECT-A"]);
}
