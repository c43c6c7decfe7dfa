//! Glance's functional test `test_image_member_lifecycle` (glance-members.md §7).

use imgshare::types::{
    MemberStatus, MemberStatusParam as MS, MemberUpdate, Visibility, VisibilityParam as V,
};

use crate::support::*;

struct Images {
    community: String,
    private: String,
    public: String,
    shared: String,
}

async fn four(s: &TestServer, token: &str, project: &str) -> Images {
    Images {
        community: s.image(token, Some(Visibility::Community), &[]).await,
        private: s.image(token, Some(Visibility::Private), &[]).await,
        // Public images need the admin role; the admin creates them for the tenant.
        public: s
            .image(ADMIN, Some(Visibility::Public), &[("owner", project)])
            .await,
        shared: s.image(token, Some(Visibility::Shared), &[]).await,
    }
}

#[tokio::test]
async fn glance_image_member_lifecycle() {
    let s = TestServer::with_quota(10).await;
    let t1 = four(&s, OWNER, PROJECT_A).await; // tenant1 = project-a
    let t2 = four(&s, MEMBER, PROJECT_B).await; // tenant2 = project-b
    let _admin = four(&s, ADMIN, "admin-project").await;
    // TENANT3 = project-c (STRANGER token)

    assert_eq!(
        s.listed(OWNER, None, None).await.len(),
        6,
        "tenant1: its 4 + 2 other public"
    );
    assert_eq!(
        s.listed(STRANGER, None, None).await.len(),
        3,
        "tenant3: the public ones"
    );

    let m = s.add(&t1.shared, PROJECT_C).await;
    assert_eq!(m.status, MemberStatus::Pending);

    let t3 = |v, ms| s.listed(STRANGER, v, ms);
    assert_eq!(t3(None, None).await.len(), 3);
    assert_eq!(t3(Some(V::Shared), None).await.len(), 0);
    assert_eq!(t3(None, Some(MS::Pending)).await.len(), 4);
    assert_eq!(t3(None, Some(MS::All)).await.len(), 4);
    assert_eq!(
        t3(Some(V::Shared), Some(MS::Pending)).await,
        vec![t1.shared.clone()]
    );
    assert_eq!(t3(Some(V::Shared), Some(MS::Rejected)).await.len(), 0);
    assert_eq!(t3(Some(V::Shared), Some(MS::Accepted)).await.len(), 0);
    assert_eq!(t3(Some(V::Private), None).await.len(), 0);

    let members = s
        .client(MEMBER)
        .list_members(&t2.shared, None, None, None)
        .await
        .unwrap()
        .into_inner();
    assert!(members.members.is_empty());

    let accept = MemberUpdate {
        status: MemberStatus::Accepted,
        vault_id: None,
    };
    let (status, _) = failure(
        s.client(OWNER)
            .update_member(&t1.shared, PROJECT_C, None, &accept)
            .await,
    );
    assert_eq!(status, 403);
    let m = s
        .client(OWNER)
        .get_member(&t1.shared, PROJECT_C, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.status, MemberStatus::Pending);
    s.client(STRANGER)
        .get_member(&t1.shared, PROJECT_C, None)
        .await
        .unwrap();
    let (status, _) = failure(
        s.client(MEMBER)
            .get_member(&t1.shared, PROJECT_C, None)
            .await,
    );
    assert_eq!(status, 404, "tenant2 is a stranger to tenant1's image");

    s.set_status(STRANGER, &t1.shared, PROJECT_C, MemberStatus::Accepted)
        .await;
    assert_eq!(t3(None, None).await.len(), 4);
    let (status, _, _) = raw(
        reqwest::Method::PUT,
        &s.url(&format!("/v2/images/{}/members/{PROJECT_C}", t1.shared)),
        Some(STRANGER),
        Some(br#"{"status":"invalid-status"}"#),
    )
    .await;
    assert_eq!(status, 400);

    s.client(MEMBER)
        .add_member(&t2.shared, None, &member_body("project-d"))
        .await
        .unwrap();

    for other in [&t1.public, &t1.private, &t1.community] {
        let token = if other == &t1.public { ADMIN } else { OWNER };
        let (status, err) = failure(
            s.client(token)
                .add_member(other, None, &member_body(PROJECT_C))
                .await,
        );
        assert_eq!(status, 403);
        assert_eq!(
            err.message,
            format!("Not allowed to create members for image {other}.")
        );
    }

    assert_eq!(
        s.client(OWNER)
            .list_members(&t1.shared, None, None, None)
            .await
            .unwrap()
            .into_inner()
            .members
            .len(),
        1
    );
    assert_eq!(
        s.client(ADMIN)
            .list_members(&t1.shared, None, None, None)
            .await
            .unwrap()
            .into_inner()
            .members
            .len(),
        1
    );
    let (status, _) = failure(
        s.client(OWNER)
            .list_members(&t2.shared, None, None, None)
            .await,
    );
    assert_eq!(status, 404);
    for other in [&t1.public, &t1.community, &t1.private] {
        let (status, err) = failure(s.client(OWNER).list_members(other, None, None, None).await);
        assert_eq!(status, 403);
        assert!(
            err.message.contains("Only shared images have members"),
            "{}",
            err.message
        );
    }

    let (status, _) = failure(
        s.client(STRANGER)
            .delete_member(&t1.shared, PROJECT_C, None)
            .await,
    );
    assert_eq!(status, 403);
    assert_eq!(
        s.client(OWNER)
            .delete_member(&t1.shared, PROJECT_C, None)
            .await
            .unwrap()
            .status()
            .as_u16(),
        204
    );
    assert!(s
        .client(OWNER)
        .list_members(&t1.shared, None, None, None)
        .await
        .unwrap()
        .into_inner()
        .members
        .is_empty());

    // Quota 10: ten adds succeed, the eleventh is 413 (checked before duplicates).
    for i in 0..10 {
        s.add(&t1.shared, &format!("quota-{i}")).await;
    }
    let (status, err) = failure(
        s.client(OWNER)
            .add_member(&t1.shared, None, &member_body("quota-10"))
            .await,
    );
    assert_eq!(status, 413);
    assert_eq!(serde_json::to_value(err.code).unwrap(), "IMG.0088");
    assert!(
        err.message.contains("Attempted: 11, Maximum: 10"),
        "{}",
        err.message
    );
    let (status, _) = failure(
        s.client(OWNER)
            .add_member(&t1.shared, None, &member_body("quota-0"))
            .await,
    );
    assert_eq!(status, 413, "quota before duplicate");

    for other in [&t1.public, &t1.community, &t1.private] {
        let (status, _) = failure(s.client(OWNER).get_member(other, PROJECT_C, None).await);
        assert_eq!(status, 404);
        let (status, _) = failure(s.client(OWNER).delete_member(other, PROJECT_C, None).await);
        assert_eq!(status, 403);
    }
}

#[tokio::test]
async fn negative_quota_is_unlimited_and_zero_allows_none() {
    let s = TestServer::with_quota(-1).await;
    let image = s.shared_image().await;
    for i in 0..200 {
        s.add(&image, &format!("p{i}")).await;
    }
    let none = TestServer::with_quota(0).await;
    let image = none.shared_image().await;
    let (status, _) = failure(
        none.client(OWNER)
            .add_member(&image, None, &member_body(PROJECT_B))
            .await,
    );
    assert_eq!(status, 413);
}
