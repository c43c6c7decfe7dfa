//! Concurrent writes: the store, not luck, keeps the invariants.

use futures::future::join_all;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_adds_of_one_member_make_one_membership() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let client = s.client(OWNER);
    let body = member_body(PROJECT_B);
    let results = join_all((0..200).map(|_| client.add_member(&image, None, &body))).await;
    let codes: Vec<u16> = results.iter().map(status_of).collect();
    let ok = codes.iter().filter(|&&c| c == 200).count();
    let conflict = codes.iter().filter(|&&c| c == 409).count();
    println!("200 concurrent adds: {ok} x 200, {conflict} x 409");
    assert_eq!((ok, conflict), (1, 199), "{codes:?}");
    let members = s
        .client(OWNER)
        .list_members(&image, None, None, None)
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(members.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adds_never_exceed_the_quota() {
    let s = TestServer::with_quota(10).await;
    let image = s.shared_image().await;
    let client = s.client(OWNER);
    let bodies: Vec<_> = (0..60).map(|i| member_body(&format!("p{i}"))).collect();
    let results = join_all(bodies.iter().map(|b| client.add_member(&image, None, b))).await;
    let codes: Vec<u16> = results.iter().map(status_of).collect();
    let ok = codes.iter().filter(|&&c| c == 200).count();
    let over = codes.iter().filter(|&&c| c == 413).count();
    println!("60 concurrent adds at quota 10: {ok} x 200, {over} x 413");
    assert_eq!((ok, over), (10, 50), "{codes:?}");
    let members = s
        .client(OWNER)
        .list_members(&image, None, None, None)
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(members.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_status_updates_end_in_a_written_state() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    let client = s.client(MEMBER);
    use imgshare::types::{MemberStatus, MemberUpdate};
    let bodies: Vec<_> = (0..50)
        .map(|i| MemberUpdate {
            status: if i % 2 == 0 {
                MemberStatus::Accepted
            } else {
                MemberStatus::Rejected
            },
            vault_id: None,
        })
        .collect();
    let results = join_all(
        bodies
            .iter()
            .map(|b| client.update_member(&image, PROJECT_B, None, b)),
    )
    .await;
    assert!(results.iter().all(|r| status_of(r) == 200));
    let m = client
        .get_member(&image, PROJECT_B, None)
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(
        m.status,
        MemberStatus::Accepted | MemberStatus::Rejected
    ));
}
