//! PATCH /v2/images/{id} (JSON patch), tags, and what visibility changes do
//! to memberships.

use imgshare::types::{ImagePatchOperation, MemberStatus, MemberStatusParam as MS, PatchOpKind};
use reqwest::Method;
use serde_json::json;

use crate::support::*;

fn op(kind: PatchOpKind, path: &str, value: Option<serde_json::Value>) -> ImagePatchOperation {
    ImagePatchOperation {
        op: kind,
        path: path.parse().unwrap(),
        value,
    }
}

async fn patch_raw(
    s: &TestServer,
    token: &str,
    image: &str,
    content_type: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let rsp = http_client()
        .patch(s.url(&format!("/v2/images/{image}")))
        .header("X-Auth-Token", token)
        .header("Content-Type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (rsp.status().as_u16(), rsp.json().await.unwrap())
}

const V21: &str = "application/openstack-images-v2.1-json-patch";

#[tokio::test]
async fn json_patch_add_replace_remove() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let ops = vec![
        op(PatchOpKind::Replace, "/name", Some(json!("renamed"))),
        op(PatchOpKind::Add, "/os_type", Some(json!("linux"))),
        op(PatchOpKind::Replace, "/min_disk", Some(json!(20))),
        op(PatchOpKind::Replace, "/protected", Some(json!(true))),
        op(PatchOpKind::Replace, "/tags", Some(json!(["a", "b", "a"]))),
    ];
    let img = s
        .client(OWNER)
        .update_image(&image, None, &ops)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(img.name.as_deref(), Some("renamed"));
    assert_eq!(img.extra["os_type"], "linux");
    assert_eq!((img.min_disk, img.protected), (20, true));
    assert_eq!(img.tags, ["a", "b"]);

    // The media type real clients send.
    let (status, body) = patch_raw(
        &s,
        OWNER,
        &image,
        V21,
        json!([{"op": "remove", "path": "/os_type"}]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("os_type").is_none());

    let cases = [
        (
            json!([{"op": "replace", "path": "/status", "value": "active"}]),
            403,
            "Attribute 'status' is read-only.",
        ),
        (
            json!([{"op": "replace", "path": "/id", "value": "x"}]),
            403,
            "Attribute 'id' is read-only.",
        ),
        (
            json!([{"op": "replace", "path": "/owner", "value": "project-c"}]),
            403,
            "Attribute 'owner' is read-only.",
        ),
        (
            json!([{"op": "remove", "path": "/nothing"}]),
            409,
            "Property nothing does not exist.",
        ),
        (
            json!([{"op": "remove", "path": "/name"}]),
            403,
            "Attribute 'name' cannot be removed.",
        ),
        (
            json!([{"op": "replace", "path": "/visibility", "value": "public"}]),
            403,
            "You are not authorized to complete publicize_image action.",
        ),
        (
            json!([{"op": "replace", "path": "/visibility", "value": "secret"}]),
            400,
            "Invalid visibility value: \"secret\"",
        ),
        (
            json!([{"op": "move", "path": "/name"}]),
            400,
            "Invalid operation: move; use add, replace or remove",
        ),
        (
            json!([{"op": "replace", "path": "/a/b", "value": "x"}]),
            400,
            "Invalid JSON pointer for this resource: '/a/b'",
        ),
        (
            json!([{"op": "add", "path": "/x", "value": 1}]),
            400,
            "Invalid value for 'x': expected a string.",
        ),
        (
            json!({"op": "add"}),
            400,
            "Request body must be a JSON array of operation objects.",
        ),
    ];
    for (body, status, message) in cases {
        let (got, rsp) = patch_raw(&s, OWNER, &image, V21, body.clone()).await;
        assert_eq!(
            (got, rsp["error"]["message"].as_str()),
            (status, Some(message)),
            "{body}"
        );
    }
    // A refused patch changes nothing, even when an earlier op was fine.
    let (status, _) = patch_raw(
        &s,
        OWNER,
        &image,
        V21,
        json!([
            {"op": "replace", "path": "/name", "value": "half"},
            {"op": "replace", "path": "/status", "value": "active"}
        ]),
    )
    .await;
    assert_eq!(status, 403);
    let img = s
        .client(OWNER)
        .get_image(&image, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(img.name.as_deref(), Some("renamed"));

    let (status, rsp) = patch_raw(&s, OWNER, &image, "text/plain", json!([])).await;
    assert_eq!(status, 415, "{rsp}");
    // Members read but do not write; strangers do not see.
    s.add(&image, PROJECT_B).await;
    let (status, _) = patch_raw(
        &s,
        MEMBER,
        &image,
        V21,
        json!([{"op": "add", "path": "/x", "value": "y"}]),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = patch_raw(
        &s,
        STRANGER,
        &image,
        V21,
        json!([{"op": "add", "path": "/x", "value": "y"}]),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn visibility_changes_keep_memberships() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    s.add(&image, PROJECT_C).await;
    s.set_status(MEMBER, &image, PROJECT_B, MemberStatus::Accepted)
        .await;
    let to = |v: &str| vec![op(PatchOpKind::Replace, "/visibility", Some(json!(v)))];

    s.client(OWNER)
        .update_image(&image, None, &to("private"))
        .await
        .unwrap();
    let (status, err) = failure(s.client(OWNER).list_members(&image, None, None, None).await);
    assert_eq!(status, 403);
    assert!(err.message.contains("Only shared images have members"));
    let (status, _) = failure(
        s.client(OWNER)
            .add_member(&image, None, &member_body("project-d"))
            .await,
    );
    assert_eq!(status, 403);
    let (status, _) = failure(s.client(MEMBER).get_image(&image, None).await);
    assert_eq!(
        status, 404,
        "members lose access while the image is private"
    );
    assert!(!s.listed(MEMBER, None, Some(MS::All)).await.contains(&image));

    s.client(OWNER)
        .update_image(&image, None, &to("shared"))
        .await
        .unwrap();
    let members = s
        .client(OWNER)
        .list_members(&image, None, None, None)
        .await
        .unwrap()
        .into_inner()
        .members;
    let got: Vec<_> = members
        .iter()
        .map(|m| (m.member_id.as_str(), m.status))
        .collect();
    assert_eq!(
        got,
        [
            (PROJECT_B, MemberStatus::Accepted),
            (PROJECT_C, MemberStatus::Pending)
        ]
    );
    assert!(s.listed(MEMBER, None, None).await.contains(&image));
}

#[tokio::test]
async fn image_tags() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let c = s.client(OWNER);
    assert_eq!(
        c.add_image_tag(&image, "gold", None)
            .await
            .unwrap()
            .status()
            .as_u16(),
        204
    );
    c.add_image_tag(&image, "gold", None).await.unwrap();
    c.add_image_tag(&image, "x86", None).await.unwrap();
    assert_eq!(
        c.get_image(&image, None).await.unwrap().into_inner().tags,
        ["gold", "x86"]
    );
    assert_eq!(
        c.delete_image_tag(&image, "gold", None)
            .await
            .unwrap()
            .status()
            .as_u16(),
        204
    );
    let (status, _) = failure(c.delete_image_tag(&image, "gold", None).await);
    assert_eq!(status, 404);
    let (status, _) = failure(
        s.client(OWNER_READER)
            .add_image_tag(&image, "t", None)
            .await,
    );
    assert_eq!(status, 403);
    let (status, _, _) = raw(
        Method::PUT,
        &s.url(&format!("/v2/images/{image}/tags/{}", "t".repeat(256))),
        Some(OWNER),
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        c.get_image(&image, None).await.unwrap().into_inner().tags,
        ["x86"]
    );
}
