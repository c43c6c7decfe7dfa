//! Images as sharing needs them, and the consumer's list semantics
//! (glance-members.md §5).

use imgshare::types::{MemberStatus, MemberStatusParam as MS, Visibility, VisibilityParam as V};

use crate::support::*;

#[tokio::test]
async fn create_image_defaults_and_location() {
    let s = TestServer::start().await;
    let rsp = http_client()
        .post(s.url("/v2/images"))
        .header("X-Auth-Token", OWNER)
        .json(&serde_json::json!({"name": "cirros", "disk_format": "raw", "container_format": "bare", "os_type": "linux"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status().as_u16(), 201);
    let location = rsp.headers()["location"].to_str().unwrap().to_owned();
    let body: serde_json::Value = rsp.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v2/images/{}", body["id"].as_str().unwrap())
    );
    assert_eq!(
        body["visibility"], "shared",
        "tempest depends on the default"
    );
    assert_eq!(body["status"], "queued");
    assert_eq!(body["owner"], PROJECT_A);
    assert_eq!(
        body["os_type"], "linux",
        "custom properties at the top level"
    );
    assert_eq!(body["self"], location);
    assert_eq!(body["schema"], "/v2/schemas/image");
    for key in [
        "protected",
        "min_disk",
        "min_ram",
        "tags",
        "created_at",
        "updated_at",
        "file",
        "disk_format",
        "container_format",
    ] {
        assert!(body.get(key).is_some(), "{key} missing");
    }
    // Through the generated client: the property comes back in `extra`.
    let id = body["id"].as_str().unwrap();
    let image = s
        .client(OWNER)
        .get_image(id, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        image.extra.get("os_type").map(String::as_str),
        Some("linux")
    );
    assert_eq!(image.name.as_deref(), Some("cirros"));

    // A caller-chosen id works once.
    let chosen = imgshare::types::ImageCreate {
        id: Some(uuid::Uuid::new_v4()),
        ..Default::default()
    };
    let made = s
        .client(OWNER)
        .create_image(None, &chosen)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(Some(made.id), chosen.id);
    let (status, _) = failure(s.client(OWNER).create_image(None, &chosen).await);
    assert_eq!(status, 409);
}

#[tokio::test]
async fn image_visibility_and_delete_rules() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    // Strangers cannot see a shared image; members can, in any status.
    let (status, _) = failure(s.client(STRANGER).get_image(&image, None).await);
    assert_eq!(status, 404);
    s.add(&image, PROJECT_B).await;
    for st in [
        MemberStatus::Pending,
        MemberStatus::Rejected,
        MemberStatus::Accepted,
    ] {
        if st != MemberStatus::Pending {
            s.set_status(MEMBER, &image, PROJECT_B, st).await;
        }
        s.client(MEMBER).get_image(&image, None).await.unwrap();
    }
    // Members may not delete; the owner may unless protected.
    let (status, _) = failure(
        s.client(MEMBER)
            .delete_image(&image, None, &Default::default())
            .await,
    );
    assert_eq!(status, 403);
    let protected = imgshare::types::ImageCreate {
        protected: Some(true),
        ..Default::default()
    };
    let p = s
        .client(OWNER)
        .create_image(None, &protected)
        .await
        .unwrap()
        .into_inner()
        .id
        .to_string();
    let (status, _) = failure(
        s.client(OWNER)
            .delete_image(&p, None, &Default::default())
            .await,
    );
    assert_eq!(status, 403);
    let (status, _) = failure(
        s.client(OWNER_READER)
            .delete_image(&image, None, &Default::default())
            .await,
    );
    assert_eq!(status, 403);
    s.client(OWNER)
        .delete_image(&image, None, &Default::default())
        .await
        .unwrap();
    let (status, _) = failure(s.client(OWNER).get_image(&image, None).await);
    assert_eq!(status, 404);
    // Public and community images are visible to all.
    let public = s.image(ADMIN, Some(Visibility::Public), &[]).await;
    let community = s.image(OWNER, Some(Visibility::Community), &[]).await;
    for id in [&public, &community] {
        s.client(STRANGER).get_image(id, None).await.unwrap();
    }
}

/// The consumer table of glance-members.md §5, for each member status.
#[tokio::test]
async fn consumer_list_table() {
    let table: [(Option<V>, Option<MS>, [bool; 3]); 7] = [
        //                                   pending accepted rejected
        (None, None, [false, true, false]),
        (Some(V::Shared), None, [false, true, false]),
        (None, Some(MS::Pending), [true, false, false]),
        (Some(V::Shared), Some(MS::Pending), [true, false, false]),
        (Some(V::Shared), Some(MS::Rejected), [false, false, true]),
        (None, Some(MS::All), [true, true, true]),
        (Some(V::Shared), Some(MS::All), [true, true, true]),
    ];
    let s = TestServer::start().await;
    let mut wrong = Vec::new();
    for (col, status) in [
        MemberStatus::Pending,
        MemberStatus::Accepted,
        MemberStatus::Rejected,
    ]
    .into_iter()
    .enumerate()
    {
        let image = s.shared_image().await;
        s.add(&image, PROJECT_B).await;
        if status != MemberStatus::Pending {
            s.set_status(MEMBER, &image, PROJECT_B, status).await;
        }
        for (v, ms, expected) in &table {
            let listed = s.listed(MEMBER, *v, *ms).await.contains(&image);
            if listed != expected[col] {
                wrong.push(format!("{status:?} {v:?} {ms:?}: listed={listed}"));
            }
        }
        // visibility=private never shows shared images.
        assert!(!s
            .listed(MEMBER, Some(V::Private), Some(MS::All))
            .await
            .contains(&image));
        s.client(OWNER)
            .delete_image(&image, None, &Default::default())
            .await
            .unwrap();
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn owner_and_admin_lists() {
    let s = TestServer::start().await;
    let shared = s.shared_image().await;
    let private = s.image(OWNER, Some(Visibility::Private), &[]).await;
    let other_community = s.image(MEMBER, Some(Visibility::Community), &[]).await;
    // The owner's shared image shows whatever member_status says.
    assert!(s
        .listed(OWNER, Some(V::Shared), Some(MS::Rejected))
        .await
        .contains(&shared));
    let own = s.listed(OWNER, None, None).await;
    assert!(own.contains(&shared) && own.contains(&private) && !own.contains(&other_community));
    assert!(s
        .listed(OWNER, Some(V::Community), None)
        .await
        .contains(&other_community));
    // Admins see everything but others' community images by default.
    let admin = s.listed(ADMIN, None, None).await;
    assert!(
        admin.contains(&shared) && admin.contains(&private) && !admin.contains(&other_community)
    );
    assert!(s
        .listed(ADMIN, Some(V::All), None)
        .await
        .contains(&other_community));
}

#[tokio::test]
async fn paging_newest_first_with_next_links() {
    let s = TestServer::start().await;
    let mut made = Vec::new();
    for _ in 0..7 {
        made.push(s.shared_image().await);
        // Distinct creation milliseconds make "newest first" one order.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    made.reverse(); // newest first
    let client = s.client(OWNER);
    let limit = std::num::NonZeroU32::new(3);
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .list_images(
                limit,
                marker.as_deref().map(|m| m.parse().unwrap()).as_ref(),
                None,
                None,
                None,
                None,
                None,
                None,
            )
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.first, "/v2/images");
        seen.extend(page.images.iter().map(|i| i.id.to_string()));
        match page.next {
            Some(next) => {
                assert!(
                    next.starts_with("/v2/images?") && next.contains("limit=3"),
                    "{next}"
                );
                marker = Some(seen.last().unwrap().clone());
            }
            None => break,
        }
    }
    assert_eq!(seen, made);
    // Filters: owner and name.
    let none = client
        .list_images(None, None, None, Some("other"), None, None, None, None)
        .await
        .unwrap();
    assert!(none.into_inner().images.is_empty());
    let by_owner = client
        .list_images(None, None, None, None, Some(PROJECT_A), None, None, None)
        .await
        .unwrap();
    assert_eq!(by_owner.into_inner().images.len(), 7);
}
