//! The seed example and tempest's member scenarios (glance-members.md §6).

use imgshare::types::{MemberStatus, MemberStatusParam, VisibilityParam};

use crate::support::*;

/// Huawei's seed page: POST returns 200 with exactly six fields.
#[tokio::test]
async fn seed_add_member_returns_the_six_fields() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let project = "edc89b490d7d4392898e19b2deb34797";
    let (status, headers, body) = raw(
        reqwest::Method::POST,
        &s.url(&format!("/v2/images/{image}/members")),
        Some(OWNER),
        Some(format!(r#"{{"member":"{project}"}}"#).as_bytes()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    let obj = body.as_object().unwrap();
    let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "created_at",
            "image_id",
            "member_id",
            "schema",
            "status",
            "updated_at"
        ]
    );
    assert_eq!(obj["status"], "pending");
    assert_eq!(obj["schema"], "/v2/schemas/member");
    assert_eq!(obj["image_id"], image.as_str());
    assert_eq!(obj["member_id"], project);
    let created = obj["created_at"].as_str().unwrap();
    // UTC, whole seconds, Z: 2016-09-01T02:05:14Z
    assert_eq!(created.len(), 20, "{created}");
    assert!(
        created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "{created}"
    );
    assert_eq!(obj["updated_at"], obj["created_at"]);

    // The same call through the generated client.
    let m = s.add(&image, "another-project").await;
    assert_eq!(m.status, MemberStatus::Pending);
    assert_eq!(m.schema, "/v2/schemas/member");
    assert_eq!(m.image_id.to_string(), image);
}

#[tokio::test]
async fn tempest_image_share_accept() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let m = s.add(&image, PROJECT_B).await;
    assert_eq!(
        (m.member_id.as_str(), m.status),
        (PROJECT_B, MemberStatus::Pending)
    );
    assert!(!s.listed(MEMBER, None, None).await.contains(&image));
    let m = s
        .set_status(MEMBER, &image, PROJECT_B, MemberStatus::Accepted)
        .await;
    assert_eq!(m.status, MemberStatus::Accepted);
    assert!(s.listed(MEMBER, None, None).await.contains(&image));
    // The owner project's reader lists exactly one member.
    let members = s
        .client(OWNER_READER)
        .list_members(&image, None, None, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(members.schema, "/v2/schemas/members");
    assert_eq!(members.members.len(), 1);
    let only = &members.members[0];
    assert_eq!(
        (only.member_id.as_str(), only.status),
        (PROJECT_B, MemberStatus::Accepted)
    );
    assert_eq!(only.image_id.to_string(), image);
    let deleted = s
        .client(OWNER)
        .delete_member(&image, PROJECT_B, None)
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
}

#[tokio::test]
async fn tempest_image_share_reject() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    assert!(!s.listed(MEMBER, None, None).await.contains(&image));
    let m = s
        .set_status(MEMBER, &image, PROJECT_B, MemberStatus::Rejected)
        .await;
    assert_eq!(m.status, MemberStatus::Rejected);
    assert!(!s.listed(MEMBER, None, None).await.contains(&image));
}

#[tokio::test]
async fn tempest_get_image_member() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    s.set_status(MEMBER, &image, PROJECT_B, MemberStatus::Accepted)
        .await;
    assert!(s.listed(MEMBER, None, None).await.contains(&image));
    for token in [OWNER_READER, OWNER] {
        let m = s
            .client(token)
            .get_member(&image, PROJECT_B, None)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (m.member_id.as_str(), m.status),
            (PROJECT_B, MemberStatus::Accepted)
        );
        assert_eq!(m.image_id.to_string(), image);
    }
}

#[tokio::test]
async fn tempest_remove_image_member() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    s.set_status(MEMBER, &image, PROJECT_B, MemberStatus::Accepted)
        .await;
    assert!(s.listed(MEMBER, None, None).await.contains(&image));
    let rsp = s
        .client(OWNER)
        .delete_member(&image, PROJECT_B, None)
        .await
        .unwrap();
    assert_eq!(rsp.status().as_u16(), 204);
    assert!(!s.listed(MEMBER, None, None).await.contains(&image));
    // The member lost access to the image itself.
    let (status, err) = failure(s.client(MEMBER).get_image(&image, None).await);
    assert_eq!(status, 404);
    assert_eq!(err.message, format!("No image found with ID {image}"));
}

#[tokio::test]
async fn tempest_member_schemas() {
    let s = TestServer::start().await;
    let member = s
        .client(MEMBER)
        .get_member_schema(None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(member["name"], "member");
    assert_eq!(
        member["properties"]["status"]["enum"],
        serde_json::json!(["pending", "accepted", "rejected"])
    );
    let members = s
        .client(OWNER_READER)
        .get_members_schema(None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(members["name"], "members");
    assert_eq!(
        members["properties"]["members"]["items"]["properties"],
        member["properties"]
    );
}

/// python-glanceclient validates each member against the served schema:
/// every member object we return must satisfy it.
#[tokio::test]
async fn members_we_return_satisfy_the_served_schema() {
    let s = TestServer::start().await;
    let schema = s
        .client(OWNER)
        .get_member_schema(None)
        .await
        .unwrap()
        .into_inner();
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    let (_, _, body) = raw(
        reqwest::Method::GET,
        &s.url(&format!("/v2/images/{image}/members")),
        Some(OWNER),
        None,
    )
    .await;
    let member = &body["members"][0];
    let props = schema["properties"].as_object().unwrap();
    for (key, value) in member.as_object().unwrap() {
        let rule = &props[key];
        assert_eq!(rule["type"], "string", "{key}");
        let v = value
            .as_str()
            .unwrap_or_else(|| panic!("{key} is a string"));
        if let Some(allowed) = rule["enum"].as_array() {
            assert!(allowed.iter().any(|a| a == v), "{key}={v}");
        }
        if key == "image_id" {
            assert!(uuid::Uuid::parse_str(v).is_ok() && v.len() == 36 && v == v.to_lowercase());
        }
    }
}

#[tokio::test]
async fn tempest_image_share_invalid_status() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    assert_eq!(s.add(&image, PROJECT_B).await.status, MemberStatus::Pending);
    // The generated client cannot send an invalid status: raw HTTP.
    let (status, _, body) = raw(
        reqwest::Method::PUT,
        &s.url(&format!("/v2/images/{image}/members/{PROJECT_B}")),
        Some(MEMBER),
        Some(br#"{"status":"notavalidstatus"}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        r#"Incorrect request: Status must be "pending", "accepted" or "rejected"."#
    );
}

#[tokio::test]
async fn tempest_image_share_owner_cannot_accept() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    assert_eq!(s.add(&image, PROJECT_B).await.status, MemberStatus::Pending);
    assert!(!s.listed(MEMBER, None, None).await.contains(&image));
    let update = imgshare::types::MemberUpdate {
        status: MemberStatus::Accepted,
        vault_id: None,
    };
    let (status, err) = failure(
        s.client(OWNER)
            .update_member(&image, PROJECT_B, None, &update)
            .await,
    );
    assert_eq!(status, 403);
    assert_eq!(
        err.message,
        "You are not authorized to complete modify_member action."
    );
    assert!(!s.listed(MEMBER, None, None).await.contains(&image));
}

#[tokio::test]
async fn tempest_list_images_param_member_status() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    let ids = s
        .listed(
            MEMBER,
            Some(VisibilityParam::Shared),
            Some(MemberStatusParam::Pending),
        )
        .await;
    assert_eq!(ids, vec![image]);
}

#[tokio::test]
async fn every_transition_is_allowed_and_same_status_keeps_updated_at() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    let mut last = None;
    for st in [
        MemberStatus::Accepted,
        MemberStatus::Rejected,
        MemberStatus::Pending,
        MemberStatus::Accepted,
    ] {
        let m = s.set_status(MEMBER, &image, PROJECT_B, st).await;
        assert_eq!(m.status, st);
        last = Some(m);
    }
    let before = last.unwrap();
    let again = s
        .set_status(MEMBER, &image, PROJECT_B, MemberStatus::Accepted)
        .await;
    assert_eq!(again.updated_at, before.updated_at);
    // Extra keys (openstacksdk sends `member`, Huawei `vault_id`) are ignored.
    let (status, _, body) = raw(
        reqwest::Method::PUT,
        &s.url(&format!("/v2/images/{image}/members/{PROJECT_B}")),
        Some(MEMBER),
        Some(br#"{"status":"rejected","member":"project-b","vault_id":"v-1"}"#),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("rejected")));
}

#[tokio::test]
async fn huawei_rules_self_share_and_windows() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let (status, err) = failure(
        s.client(OWNER)
            .add_member(&image, None, &member_body(PROJECT_A))
            .await,
    );
    assert_eq!(
        (status, err.message.as_str()),
        (400, "You cannot share an image with yourself.")
    );
    assert_eq!(serde_json::to_value(err.code).unwrap(), "IMG.0076");

    for (key, value) in [
        ("os_type", "windows"),
        ("os_type", "Windows"),
        ("__os_type", "Windows"),
        ("__os_type", "WINDOWS"),
    ] {
        let win = s.image(OWNER, None, &[(key, value)]).await;
        let (status, err) = failure(
            s.client(OWNER)
                .add_member(&win, None, &member_body(PROJECT_B))
                .await,
        );
        assert_eq!(status, 403, "{key}={value}");
        assert!(
            err.message.contains("Windows images cannot be shared"),
            "{}",
            err.message
        );
    }
    let linux = s.image(OWNER, None, &[("os_type", "linux")]).await;
    s.add(&linux, PROJECT_B).await;
}

#[tokio::test]
async fn readding_a_removed_member_makes_a_new_pending_membership() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    s.set_status(MEMBER, &image, PROJECT_B, MemberStatus::Accepted)
        .await;
    s.client(OWNER)
        .delete_member(&image, PROJECT_B, None)
        .await
        .unwrap();
    let (status, _) = failure(s.client(OWNER).delete_member(&image, PROJECT_B, None).await);
    assert_eq!(status, 404, "deleting twice");
    let again = s.add(&image, PROJECT_B).await;
    assert_eq!(again.status, MemberStatus::Pending);
}

#[tokio::test]
async fn deleting_the_image_removes_its_memberships() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    s.set_status(MEMBER, &image, PROJECT_B, MemberStatus::Accepted)
        .await;
    assert_eq!(
        s.client(OWNER)
            .delete_image(&image, None, &Default::default())
            .await
            .unwrap()
            .status()
            .as_u16(),
        204
    );
    assert!(!s
        .listed(MEMBER, None, Some(MemberStatusParam::All))
        .await
        .contains(&image));
    let (status, _) = failure(s.client(ADMIN).list_members(&image, None, None, None).await);
    assert_eq!(status, 404);
    let (status, _) = failure(s.client(MEMBER).get_member(&image, PROJECT_B, None).await);
    assert_eq!(status, 404);
}

#[tokio::test]
async fn request_id_header_on_success_and_error() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let ok = s
        .client(OWNER)
        .list_members(&image, None, None, None)
        .await
        .unwrap();
    let rid = ok.headers()["x-openstack-request-id"].to_str().unwrap();
    assert!(
        rid.starts_with("req-") && uuid::Uuid::parse_str(&rid[4..]).is_ok(),
        "{rid}"
    );
    let err = s
        .client(STRANGER)
        .list_members(&image, None, None, None)
        .await
        .unwrap_err();
    match err {
        imgshare::Error::ErrorResponse(rv) => {
            assert_eq!(rv.status().as_u16(), 404);
            assert!(rv.headers()["x-openstack-request-id"]
                .to_str()
                .unwrap()
                .starts_with("req-"));
        }
        other => panic!("{other:?}"),
    }
    for (sent, echoed) in [("abc123", "req-abc123"), ("req-xyz", "req-xyz")] {
        let rsp = http_client()
            .get(s.url(&format!("/v2/images/{image}/members")))
            .header("X-Auth-Token", STRANGER)
            .header("X-OpenStack-Request-ID", sent)
            .send()
            .await
            .unwrap();
        assert_eq!(rsp.status().as_u16(), 404);
        assert_eq!(rsp.headers()["x-openstack-request-id"], echoed);
    }
}

/// Huawei's paging of the member list: `limit`/`marker`, `page_info`;
/// without them, every member and `page_info` with the count.
#[tokio::test]
async fn member_list_pages_with_limit_and_marker() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let added: Vec<String> = (1..=5).map(|i| format!("project-page-{i}")).collect();
    for m in &added {
        s.add(&image, m).await;
    }
    let owner = s.client(OWNER);

    let all = owner
        .list_members(&image, None, None, None)
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<String> = all
        .members
        .iter()
        .map(|m| m.member_id.to_string())
        .collect();
    assert_eq!(ids, added, "every member, in the order added");
    assert_eq!(all.page_info.current_count, 5);
    assert_eq!(all.page_info.next_marker, None);

    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = owner
            .list_members(
                &image,
                std::num::NonZeroU32::new(2),
                marker.as_deref().map(|m| m.parse().unwrap()).as_ref(),
                None,
            )
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert_eq!(page.page_info.current_count as usize, page.members.len());
        seen.extend(page.members.iter().map(|m| m.member_id.to_string()));
        match page.page_info.next_marker {
            Some(next) => {
                assert_eq!(page.members.len(), 2);
                marker = Some(next);
            }
            None => break,
        }
    }
    assert_eq!((pages, &seen), (3, &added));

    // A member pages through its own entry only.
    s.add(&image, PROJECT_B).await;
    let mine = s
        .client(MEMBER)
        .list_members(&image, std::num::NonZeroU32::new(1), None, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.members.len(), 1);
    assert_eq!(mine.members[0].member_id.as_str(), PROJECT_B);
    assert_eq!(mine.page_info.next_marker, None);

    // Bad paging: 400 in the envelope.
    for query in ["limit=0", "limit=1001", "limit=x", "marker=zz", "marker="] {
        let (status, _, body) = raw(
            reqwest::Method::GET,
            &s.url(&format!("/v2/images/{image}/members?{query}")),
            Some(OWNER),
            None,
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("imgshare.invalid_query")),
            "{query}: {body}"
        );
    }
    // The marker of a member since removed.
    let first = owner
        .list_members(&image, std::num::NonZeroU32::new(1), None, None)
        .await
        .unwrap()
        .into_inner();
    let gone = first.page_info.next_marker.unwrap();
    owner.delete_member(&image, &added[0], None).await.unwrap();
    let (status, _) = failure(
        owner
            .list_members(&image, None, Some(&gone.parse().unwrap()), None)
            .await,
    );
    assert_eq!(status, 400);
}
