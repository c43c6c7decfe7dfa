//! The authorization matrix: every identity × every member endpoint, on a
//! fresh shared image owned by project-a where project-b is a pending member.
//! Expected codes are Glance's default policy (glance-members.md §3.0, GTP).

use imgshare::types::{MemberStatus, MemberUpdate};

use crate::support::*;

#[derive(Clone, Copy, Debug)]
enum Op {
    List,
    Add,
    Get,
    Update,
    Delete,
}

const OPS: [Op; 5] = [Op::List, Op::Add, Op::Get, Op::Update, Op::Delete];

async fn call(s: &TestServer, token: Option<&str>, image: &str, op: Op) -> u16 {
    let client = match token {
        Some(t) => s.client(t),
        None => s.anonymous(),
    };
    match op {
        Op::List => status_of(&client.list_members(image, None, None, None).await),
        Op::Add => status_of(
            &client
                .add_member(image, None, &member_body("project-new"))
                .await,
        ),
        Op::Get => status_of(&client.get_member(image, PROJECT_B, None).await),
        Op::Update => {
            let body = MemberUpdate {
                status: MemberStatus::Accepted,
                vault_id: None,
            };
            status_of(&client.update_member(image, PROJECT_B, None, &body).await)
        }
        Op::Delete => status_of(&client.delete_member(image, PROJECT_B, None).await),
    }
}

#[tokio::test]
async fn authorization_matrix() {
    let s = TestServer::start().await;
    //                      list  add  get  update delete
    let rows: [(&str, Option<&str>, [u16; 5]); 9] = [
        ("no token", None, [401, 401, 401, 401, 401]),
        (
            "unknown token",
            Some("not-a-token"),
            [401, 401, 401, 401, 401],
        ),
        ("owner", Some(OWNER), [200, 200, 200, 403, 204]),
        (
            "owner reader",
            Some(OWNER_READER),
            [200, 403, 200, 403, 403],
        ),
        ("owner, no roles", Some(NO_ROLES), [404, 404, 404, 404, 404]),
        ("member", Some(MEMBER), [200, 403, 200, 200, 403]),
        (
            "member reader",
            Some(MEMBER_READER),
            [200, 403, 200, 403, 403],
        ),
        ("stranger", Some(STRANGER), [404, 404, 404, 404, 404]),
        ("admin", Some(ADMIN), [200, 200, 200, 200, 204]),
    ];
    let mut mismatches = Vec::new();
    for (who, token, expected) in rows {
        for (op, want) in OPS.iter().zip(expected) {
            let image = s.shared_image().await;
            s.add(&image, PROJECT_B).await;
            let got = call(&s, token, &image, *op).await;
            if got != want {
                mismatches.push(format!("{who} {op:?}: expected {want}, got {got}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test]
async fn a_member_sees_only_its_own_row() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    s.add(&image, PROJECT_C).await;
    let own = s
        .client(MEMBER)
        .list_members(&image, None, None, None)
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(
        own.iter().map(|m| m.member_id.as_str()).collect::<Vec<_>>(),
        [PROJECT_B]
    );
    let all = s
        .client(OWNER)
        .list_members(&image, None, None, None)
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(
        all.iter().map(|m| m.member_id.as_str()).collect::<Vec<_>>(),
        [PROJECT_B, PROJECT_C]
    );
    // Another member's row is "not found", not "forbidden".
    let (status, err) = failure(s.client(MEMBER).get_member(&image, PROJECT_C, None).await);
    assert_eq!(status, 404);
    assert_eq!(
        err.message,
        format!("{PROJECT_C} not found in the member list of the image {image}.")
    );
    let body = MemberUpdate {
        status: MemberStatus::Rejected,
        vault_id: None,
    };
    let (status, _) = failure(
        s.client(MEMBER)
            .update_member(&image, PROJECT_C, None, &body)
            .await,
    );
    assert_eq!(status, 404);
    let (status, _) = failure(
        s.client(MEMBER)
            .delete_member(&image, PROJECT_C, None)
            .await,
    );
    assert_eq!(status, 404);
}

#[tokio::test]
async fn error_messages_follow_glance() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;
    let (status, err) = failure(
        s.client(MEMBER)
            .add_member(&image, None, &member_body("x"))
            .await,
    );
    assert_eq!(
        (status, err.message.as_str()),
        (403, "You are not authorized to complete add_member action.")
    );
    assert_eq!(err.title, "Forbidden");
    let (status, err) = failure(
        s.client(MEMBER)
            .delete_member(&image, PROJECT_B, None)
            .await,
    );
    assert_eq!(
        (status, err.message.as_str()),
        (
            403,
            "You are not authorized to complete delete_member action."
        )
    );
    let (status, err) = failure(
        s.client(STRANGER)
            .add_member(&image, None, &member_body("x"))
            .await,
    );
    assert_eq!(
        (status, err.message),
        (404, format!("Image {image} not found."))
    );
    let (status, err) = failure(s.anonymous().list_members(&image, None, None, None).await);
    assert_eq!(status, 401);
    assert_eq!(err.title, "Unauthorized");
    assert!(err
        .message
        .starts_with("This server could not verify that you are authorized"));
    let (status, err) = failure(
        s.client(OWNER)
            .add_member(&image, None, &member_body(PROJECT_B))
            .await,
    );
    assert_eq!((status, err.title.as_str()), (409, "Conflict"));
    assert_eq!(
        err.message,
        format!("Member {PROJECT_B} is duplicated for image {image}")
    );
    let (status, err) = failure(s.client(OWNER).get_member(&image, "nobody", None).await);
    assert_eq!(
        (status, err.message),
        (
            404,
            format!("nobody not found in the member list of the image {image}.")
        )
    );
}
