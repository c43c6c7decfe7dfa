//! Durability across a clean restart on the same data dir.

use imgshare::types::MemberStatus;

use crate::support::*;

#[tokio::test]
async fn everything_is_still_there_after_a_restart() {
    let mut s = TestServer::start().await;
    let image = s.image(OWNER, None, &[("os_type", "linux")]).await;
    s.add(&image, PROJECT_B).await;
    s.add(&image, PROJECT_C).await;
    s.set_status(MEMBER, &image, PROJECT_B, MemberStatus::Accepted)
        .await;
    s.set_status(STRANGER, &image, PROJECT_C, MemberStatus::Rejected)
        .await;
    let before = s
        .client(OWNER)
        .list_members(&image, None, None, None)
        .await
        .unwrap()
        .into_inner();

    s.restart().await;

    let after = s
        .client(OWNER)
        .list_members(&image, None, None, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serde_json::to_value(&after).unwrap(),
        serde_json::to_value(&before).unwrap()
    );
    let got = s
        .client(OWNER)
        .get_image(&image, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.extra["os_type"], "linux");
    assert!(s.listed(MEMBER, None, None).await.contains(&image));
    // The quota and duplicate rules still see the stored rows.
    let (status, _) = failure(
        s.client(OWNER)
            .add_member(&image, None, &member_body(PROJECT_B))
            .await,
    );
    assert_eq!(status, 409);
}
