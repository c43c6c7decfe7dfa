//! Shares with accounts (domains) and organization units through Huawei's
//! batch API: every project of the account, or of any account below the
//! unit, sees the image and accepts or rejects it for itself; the share is
//! one member (quota), shows with its `member_type`, and keeps the image
//! from being deleted until it is removed.

use imgshare::types;

use crate::support::*;

/// Accepts a batch call and waits for its job to end; returns the job.
async fn run_job(
    s: &TestServer,
    token: &str,
    project: &str,
    accepted: Result<imgshare::ResponseValue<types::JobCreated>, imgshare::Error<types::ApiError>>,
) -> types::Job {
    let id = accepted.expect("batch call accepted").into_inner().job_id;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let job = s
            .client(token)
            .show_job(project, &id, None)
            .await
            .expect("job readable by its project")
            .into_inner();
        if matches!(
            job.status,
            types::JobStatus::Success | types::JobStatus::Fail
        ) {
            return job;
        }
        assert!(std::time::Instant::now() < deadline, "job {id} did not end");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn share(image: &str, domains: &[&str], organizations: &[&str]) -> types::BatchMembersRequest {
    // The generated types check the document's patterns: parse, not convert.
    fn list<T: std::str::FromStr>(v: &[&str]) -> Option<Vec<T>>
    where
        T::Err: std::fmt::Debug,
    {
        (!v.is_empty()).then(|| v.iter().map(|x| x.parse().unwrap()).collect())
    }
    types::BatchMembersRequest {
        images: vec![image.parse().unwrap()],
        projects: None,
        domains: list(domains),
        organizations: list(organizations),
    }
}

fn accept(
    image: &str,
    project: &str,
    status: types::BatchMemberStatus,
) -> types::BatchUpdateRequest {
    types::BatchUpdateRequest {
        images: vec![image.parse().unwrap()],
        project_id: project.parse().unwrap(),
        status,
        vault_id: None,
    }
}

/// The images `token` lists as shared with it in `status`.
async fn shared_with(s: &TestServer, token: &str, status: types::MemberStatusParam) -> Vec<String> {
    s.client(token)
        .list_cloud_images(
            Some(types::ImageType::Shared),
            None,
            None,
            Some(status),
            None,
            None,
            None,
            None,
            None,
        )
        .await
        .unwrap()
        .into_inner()
        .images
        .into_iter()
        .map(|i| i.id.to_string())
        .collect()
}

#[tokio::test]
async fn an_account_share_reaches_every_project_of_the_account_each_deciding_alone() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let owner = s.client(OWNER);
    let job = run_job(
        &s,
        OWNER,
        PROJECT_A,
        owner
            .batch_add_members(None, &share(&image, &["dom-x"], &[]))
            .await,
    )
    .await;
    assert_eq!(job.status, types::JobStatus::Success, "{job:?}");
    assert_eq!(job.entities.results[0].project_id, "dom-x");

    // Both projects of dom-x see the image; a project of another account does not.
    for token in [IN_DOM_X, IN_DOM_X_DEEPER] {
        s.client(token).get_image(&image, None).await.unwrap();
        assert_eq!(
            shared_with(&s, token, types::MemberStatusParam::Pending).await,
            std::slice::from_ref(&image)
        );
        assert!(shared_with(&s, token, types::MemberStatusParam::Accepted)
            .await
            .is_empty());
    }
    let (status, _) = failure(s.client(IN_DOM_Z).get_image(&image, None).await);
    assert_eq!(status, 404);

    // The owner sees one member, of type domain.
    let members = owner
        .list_image_members(PROJECT_A, &image, None, None, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(members.members.len(), 1);
    assert_eq!(members.members[0].member_id, "dom-x");
    assert_eq!(members.members[0].member_type, types::MemberType::Domain);

    // project-x1 accepts through the batch call; project-x2 is still pending.
    let x1 = s.client(IN_DOM_X);
    let job = run_job(
        &s,
        IN_DOM_X,
        "project-x1",
        x1.batch_update_members(
            None,
            &accept(&image, "project-x1", types::BatchMemberStatus::Accepted),
        )
        .await,
    )
    .await;
    assert_eq!(job.status, types::JobStatus::Success, "{job:?}");
    assert_eq!(
        shared_with(&s, IN_DOM_X, types::MemberStatusParam::Accepted).await,
        std::slice::from_ref(&image)
    );
    assert!(
        shared_with(&s, IN_DOM_X_DEEPER, types::MemberStatusParam::Accepted)
            .await
            .is_empty()
    );
    // Its own view of the share (asked by its project or by the account).
    for member in ["project-x1", "dom-x"] {
        let seen = x1
            .show_image_member("project-x1", &image, member, None)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (seen.member_id.as_str(), seen.member_type, seen.status),
            (
                "dom-x",
                types::MemberType::Domain,
                types::MemberStatus::Accepted
            )
        );
    }
    // The native image list (default: accepted) follows.
    let listed: Vec<String> = x1
        .list_images(None, None, None, None, None, None, None, None)
        .await
        .unwrap()
        .into_inner()
        .images
        .into_iter()
        .map(|i| i.id.to_string())
        .collect();
    assert!(listed.contains(&image));

    // project-x2 rejects through the native call, naming its own project.
    let rejected = s
        .client(IN_DOM_X_DEEPER)
        .update_member(
            &image,
            "project-x2",
            None,
            &types::MemberUpdate {
                status: types::MemberStatus::Rejected,
                vault_id: None,
            },
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rejected.status, types::MemberStatus::Rejected);
    assert_eq!(
        shared_with(&s, IN_DOM_X_DEEPER, types::MemberStatusParam::Rejected).await,
        std::slice::from_ref(&image)
    );
    // ... which leaves project-x1's decision alone.
    assert_eq!(
        shared_with(&s, IN_DOM_X, types::MemberStatusParam::Accepted).await,
        std::slice::from_ref(&image)
    );

    // Huawei's rule: no delete while shared with an account.
    let (status, err) = failure(owner.delete_image(&image, None, &Default::default()).await);
    assert_eq!(
        (status, err.code),
        (409, types::ErrorCode::ImgshareImageSharedWithAccounts)
    );
    s.client(OWNER).get_image(&image, None).await.unwrap();

    // Unshare: the projects lose the image; re-sharing starts them at pending.
    let job = run_job(
        &s,
        OWNER,
        PROJECT_A,
        owner
            .batch_delete_members(None, &share(&image, &["dom-x"], &[]))
            .await,
    )
    .await;
    assert_eq!(job.status, types::JobStatus::Success, "{job:?}");
    let (status, _) = failure(x1.get_image(&image, None).await);
    assert_eq!(status, 404);
    let job = run_job(
        &s,
        OWNER,
        PROJECT_A,
        owner
            .batch_add_members(None, &share(&image, &["dom-x"], &[]))
            .await,
    )
    .await;
    assert_eq!(job.status, types::JobStatus::Success, "{job:?}");
    assert_eq!(
        shared_with(&s, IN_DOM_X, types::MemberStatusParam::Pending).await,
        std::slice::from_ref(&image)
    );
    run_job(
        &s,
        OWNER,
        PROJECT_A,
        owner
            .batch_delete_members(None, &share(&image, &["dom-x"], &[]))
            .await,
    )
    .await;
    owner
        .delete_image(&image, None, &Default::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_organization_share_reaches_every_account_below_the_unit() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let owner = s.client(OWNER);
    let urn = "organizations::dom-a:ou:o-1/ou-x";
    let job = run_job(
        &s,
        OWNER,
        PROJECT_A,
        owner
            .batch_add_members(None, &share(&image, &[], &[urn]))
            .await,
    )
    .await;
    assert_eq!(job.status, types::JobStatus::Success, "{job:?}");
    assert_eq!(job.entities.results[0].project_id, urn);

    // ou-x and the unit below it (ou-y) see it; ou-z does not.
    for token in [IN_DOM_X, IN_DOM_X_DEEPER] {
        s.client(token).get_image(&image, None).await.unwrap();
    }
    let (status, _) = failure(s.client(IN_DOM_Z).get_image(&image, None).await);
    assert_eq!(status, 404);
    let member = owner
        .show_image_member(PROJECT_A, &image, "ou-x", None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (member.member_type, member.urn.as_deref()),
        (types::MemberType::Organization, Some(urn))
    );
    // A project below accepts it.
    let job = run_job(
        &s,
        IN_DOM_X_DEEPER,
        "project-x2",
        s.client(IN_DOM_X_DEEPER)
            .batch_update_members(
                None,
                &accept(&image, "project-x2", types::BatchMemberStatus::Accepted),
            )
            .await,
    )
    .await;
    assert_eq!(job.status, types::JobStatus::Success, "{job:?}");
    assert_eq!(
        shared_with(&s, IN_DOM_X_DEEPER, types::MemberStatusParam::Accepted).await,
        std::slice::from_ref(&image)
    );
    // A project outside cannot see the image: refused before any job.
    let (status, err) = failure(
        s.client(IN_DOM_Z)
            .batch_update_members(
                None,
                &accept(&image, "project-z", types::BatchMemberStatus::Accepted),
            )
            .await,
    );
    assert_eq!((status, err.code), (400, types::ErrorCode::Img0027));

    // Removed by its bare ID; then the image can go.
    let (status, _) = failure(owner.delete_image(&image, None, &Default::default()).await);
    assert_eq!(status, 409);
    let job = run_job(
        &s,
        OWNER,
        PROJECT_A,
        owner
            .batch_delete_members(None, &share(&image, &[], &["ou-x"]))
            .await,
    )
    .await;
    assert_eq!(job.status, types::JobStatus::Success, "{job:?}");
    owner
        .delete_image(&image, None, &Default::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn account_shares_count_against_the_quota_and_exclude_the_owners_account() {
    let s = TestServer::with_quota(2).await;
    let image = s.shared_image().await;
    let owner = s.client(OWNER);
    // The owner's own account is the owner itself.
    let (status, err) = failure(
        owner
            .batch_add_members(None, &share(&image, &["dom-a"], &[]))
            .await,
    );
    assert_eq!((status, err.code), (400, types::ErrorCode::Img0076));
    // Not an organization (sent as JSON: the generated type would refuse it).
    let (status, _, body) = raw(
        reqwest::Method::POST,
        &s.url("/v1/cloudimages/members"),
        Some(OWNER),
        Some(format!(r#"{{"images":["{image}"],"organizations":["x-1"]}}"#).as_bytes()),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &serde_json::json!("IMG.0001"))
    );

    s.add(&image, PROJECT_B).await;
    let job = run_job(
        &s,
        OWNER,
        PROJECT_A,
        owner
            .batch_add_members(None, &share(&image, &["dom-x"], &["ou-z"]))
            .await,
    )
    .await;
    // Three members would exceed 2: nothing of the image is added.
    assert_eq!(job.status, types::JobStatus::Fail);
    assert_eq!(job.error_code.as_deref(), Some("IMG.0088"));
    let members = owner
        .list_image_members(PROJECT_A, &image, None, None, None)
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(members.len(), 1);
    let job = run_job(
        &s,
        OWNER,
        PROJECT_A,
        owner
            .batch_add_members(None, &share(&image, &["dom-x"], &[]))
            .await,
    )
    .await;
    assert_eq!(job.status, types::JobStatus::Success, "{job:?}");
    let quota = owner.show_image_quota(None).await.unwrap().into_inner();
    assert_eq!(quota.quotas.resources[0].used, 2);
}
