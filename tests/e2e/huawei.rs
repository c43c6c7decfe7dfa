//! Huawei IMS's own sharing API (`/v1/…`, `/v2/cloudimages`): batch member
//! calls that run as jobs, the jobs themselves, v1 member reads, the member
//! quota, Huawei's image list, and the image delete's optional body. Both
//! APIs are views of the one membership table, so most tests check the
//! outcome through the native Glance calls too.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use imgshare::types::{
    ApiError, BatchMemberStatus, BatchMembersRequest, BatchUpdateRequest, ImageDeleteBody,
    ImageType, Job, JobCreated, JobStatus, JobType, MemberStatus, MemberStatusParam, MemberType,
    Visibility, VisibilityParam,
};
use imgshare::{Client, ResponseValue};
use serde_json::json;

use crate::support::*;

const ADMIN_PROJECT: &str = "admin-project";

/// The items, parsed into the generated type (which checks the document's
/// pattern).
fn strings<T: std::str::FromStr>(items: &[&str]) -> Vec<T>
where
    T::Err: std::fmt::Debug,
{
    items.iter().map(|s| s.parse().unwrap()).collect()
}

/// Body of a batch add or delete naming only projects.
pub(crate) fn share(images: &[&str], projects: &[&str]) -> BatchMembersRequest {
    BatchMembersRequest {
        images: strings(images),
        projects: Some(strings(projects)),
        domains: None,
        organizations: None,
    }
}

/// The body of a batch add or delete as JSON, for refusals: the generated
/// types check the document's patterns and would not build these bodies.
fn share_json(images: &[&str], projects: &[&str]) -> serde_json::Value {
    json!({"images": images, "projects": projects})
}

/// A batch call with a JSON body: (status, error code).
async fn batch_raw(
    s: &TestServer,
    method: reqwest::Method,
    token: &str,
    body: &serde_json::Value,
) -> (u16, String) {
    let (status, _, answer) = raw(
        method,
        &s.url("/v1/cloudimages/members"),
        Some(token),
        Some(body.to_string().as_bytes()),
    )
    .await;
    let code = answer["error"]["code"].as_str().unwrap_or_default();
    (status, code.to_owned())
}

/// Body of a batch update: `project` answers for `images`.
fn answer(images: &[&str], project: &str, status: BatchMemberStatus) -> BatchUpdateRequest {
    BatchUpdateRequest {
        images: strings(images),
        project_id: project.parse().unwrap(),
        status,
        vault_id: None,
    }
}

/// The job ID a batch call answered: 200, 32 lower-case hex characters.
pub(crate) fn job_id(
    created: Result<ResponseValue<JobCreated>, imgshare::Error<ApiError>>,
) -> String {
    let created = created.expect("batch call accepted");
    assert_eq!(created.status().as_u16(), 200);
    let id = created.into_inner().job_id;
    assert!(
        id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "job id {id:?}"
    );
    id
}

/// Polls `show_job` every 20 ms until the job is `SUCCESS` or `FAIL` (at
/// most 10 s); every state seen, the finished one last. Checks on the way
/// that an unfinished job has no end and a finished one is complete.
async fn poll_job(client: &Client, project: &str, job_id: &str) -> Vec<Job> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let job = client
            .show_job(project, job_id, None)
            .await
            .expect("show job")
            .into_inner();
        assert_eq!(job.job_id, job_id);
        let finished = match job.status {
            JobStatus::Success | JobStatus::Fail => {
                let end = job.end_time.expect("a finished job has an end_time");
                assert!(end >= job.begin_time, "{job:?}");
                assert_eq!(job.entities.process_percent, 1.0, "{job:?}");
                true
            }
            JobStatus::Init | JobStatus::Running => {
                assert_eq!(job.end_time, None, "{job:?}");
                let p = job.entities.process_percent;
                assert!((0.0..1.0).contains(&p), "{job:?}");
                false
            }
        };
        seen.push(job);
        if finished {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "job {job_id} unfinished after 10 s: {:?}",
            seen.last()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The finished job (see `poll_job`).
pub(crate) async fn wait_job(client: &Client, project: &str, job_id: &str) -> Job {
    let mut seen = poll_job(client, project, job_id).await;
    seen.pop().expect("at least one poll")
}

/// Batch add as the owner, waited for.
async fn add_job(s: &TestServer, images: &[&str], projects: &[&str]) -> Job {
    let owner = s.client(OWNER);
    let id = job_id(
        owner
            .batch_add_members(None, &share(images, projects))
            .await,
    );
    wait_job(&owner, PROJECT_A, &id).await
}

/// Batch update as the member (project-b), waited for.
async fn answer_job(s: &TestServer, images: &[&str], status: BatchMemberStatus) -> Job {
    let member = s.client(MEMBER);
    let id = job_id(
        member
            .batch_update_members(None, &answer(images, PROJECT_B, status))
            .await,
    );
    wait_job(&member, PROJECT_B, &id).await
}

/// Batch delete as the owner, waited for.
async fn delete_job(s: &TestServer, images: &[&str], projects: &[&str]) -> Job {
    let owner = s.client(OWNER);
    let id = job_id(
        owner
            .batch_delete_members(None, &share(images, projects))
            .await,
    );
    wait_job(&owner, PROJECT_A, &id).await
}

/// Each item of a job: (image, project, status, error code), in order.
fn items(job: &Job) -> Vec<(&str, &str, &str, Option<&str>)> {
    job.entities
        .results
        .iter()
        .map(|r| {
            (
                r.image_id.as_str(),
                r.project_id.as_str(),
                r.status.as_str(),
                r.error_code.as_deref(),
            )
        })
        .collect()
}

fn assert_succeeded(job: &Job, job_type: JobType) {
    assert_eq!(job.status, JobStatus::Success, "{job:?}");
    assert_eq!(job.job_type, job_type);
    assert_eq!((&job.error_code, &job.fail_reason), (&None, &None));
    assert!(!job.entities.results.is_empty());
    assert!(
        job.entities
            .results
            .iter()
            .all(|r| r.status == "success" && r.error_code.is_none()),
        "{job:?}"
    );
}

fn assert_failed(job: &Job, code: &str) {
    assert_eq!(job.status, JobStatus::Fail, "{job:?}");
    assert_eq!(job.error_code.as_deref(), Some(code), "{job:?}");
    assert!(
        job.fail_reason.as_deref().is_some_and(|r| !r.is_empty()),
        "{job:?}"
    );
}

/// The image's members and their status, as the native list shows them.
async fn members(s: &TestServer, image: &str) -> Vec<(String, MemberStatus)> {
    s.client(OWNER)
        .list_members(image, None, None, None)
        .await
        .expect("list members")
        .into_inner()
        .members
        .into_iter()
        .map(|m| (m.member_id, m.status))
        .collect()
}

fn pending(projects: &[&str]) -> Vec<(String, MemberStatus)> {
    projects
        .iter()
        .map(|p| (p.to_string(), MemberStatus::Pending))
        .collect()
}

/// Status and code of a refused call.
fn refusal<T: std::fmt::Debug>(
    result: Result<ResponseValue<T>, imgshare::Error<ApiError>>,
) -> (u16, String) {
    let (status, err) = failure(result);
    (status, err.code.to_string())
}

fn refused(status: u16, code: &str) -> (u16, String) {
    (status, code.to_string())
}

/// The member's view of one image (`get_member`).
async fn member_status(s: &TestServer, image: &str) -> MemberStatus {
    s.client(MEMBER)
        .get_member(image, PROJECT_B, None)
        .await
        .expect("get member")
        .into_inner()
        .status
}

#[tokio::test]
async fn batch_add_is_a_job_whose_members_both_apis_show() {
    let s = TestServer::start().await;
    let (one, two) = (s.shared_image().await, s.shared_image().await);
    let owner = s.client(OWNER);
    // Empty `domains` and `organizations` lists are no targets, not refusals.
    let body = BatchMembersRequest {
        domains: Some(vec![]),
        organizations: Some(vec![]),
        ..share(&[&one, &two], &[PROJECT_B, PROJECT_C])
    };
    let id = job_id(owner.batch_add_members(None, &body).await);
    let job = wait_job(&owner, PROJECT_A, &id).await;
    assert_succeeded(&job, JobType::ImsAddImageMembersJob);
    assert_eq!(
        items(&job),
        [
            (one.as_str(), PROJECT_B, "success", None),
            (one.as_str(), PROJECT_C, "success", None),
            (two.as_str(), PROJECT_B, "success", None),
            (two.as_str(), PROJECT_C, "success", None),
        ]
    );
    // `show_job_progress` answers the same job.
    let progress = owner
        .show_job_progress(&id, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serde_json::to_value(&progress).unwrap(),
        serde_json::to_value(&job).unwrap()
    );

    for image in [&one, &two] {
        // Native: pending memberships, in the order added.
        assert_eq!(members(&s, image).await, pending(&[PROJECT_B, PROJECT_C]));
        // v1: the same rows, as projects.
        let v1 = owner
            .list_image_members(PROJECT_A, image, None, None, None)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(v1.schema, "/v2/schemas/members");
        assert_eq!(v1.page_info.current_count, 2);
        assert_eq!(v1.page_info.next_marker, None);
        let rows: Vec<_> = v1
            .members
            .iter()
            .map(|m| (m.member_id.as_str(), m.status, m.member_type, m.urn.clone()))
            .collect();
        assert_eq!(
            rows,
            [
                (PROJECT_B, MemberStatus::Pending, MemberType::Project, None),
                (PROJECT_C, MemberStatus::Pending, MemberType::Project, None),
            ]
        );
        assert!(v1.members.iter().all(|m| m.image_id.to_string() == *image));
    }
    // The new member sees the image (pending) and its own membership.
    s.client(MEMBER).get_image(&one, None).await.unwrap();
    assert_eq!(member_status(&s, &one).await, MemberStatus::Pending);
}

#[tokio::test]
async fn batch_add_refusals_are_synchronous_and_write_nothing() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let absent = "0b8f6a52-5a3c-4f7e-9d3e-1c2b3a4d5e6f";
    let stranger_image = s.image(STRANGER, None, &[]).await;
    let private = s.image(OWNER, Some(Visibility::Private), &[]).await;
    let windows = s.image(OWNER, None, &[("os_type", "windows")]).await;
    let public = s.image(ADMIN, Some(Visibility::Public), &[]).await;
    // project-b is a member of this one, so it can see it but not share it.
    let b_can_see = s.shared_image().await;
    s.add(&b_can_see, PROJECT_B).await;

    let many_images: Vec<String> = (0..101).map(|_| image.clone()).collect();
    let many_projects: Vec<String> = (0..101).map(|i| format!("project-{i}")).collect();
    let long_project = "p".repeat(256);
    // Sent as JSON: the generated types would refuse most of these bodies
    // before they left (they check the document's patterns).
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "no images",
            json!({"images": [], "projects": [PROJECT_B]}),
            "IMG.0001",
        ),
        (
            "101 images",
            json!({"images": many_images, "projects": [PROJECT_B]}),
            "IMG.0001",
        ),
        (
            "101 projects",
            json!({"images": [image], "projects": many_projects}),
            "IMG.0001",
        ),
        (
            "no projects",
            json!({"images": [image], "projects": []}),
            "IMG.0001",
        ),
        ("projects absent", json!({"images": [image]}), "IMG.0001"),
        (
            "image id not a UUID",
            json!({"images": [image, "not-a-uuid"], "projects": [PROJECT_B]}),
            "IMG.0066",
        ),
        (
            "absent image",
            json!({"images": [image, absent], "projects": [PROJECT_B]}),
            "IMG.0027",
        ),
        (
            "another project's image",
            json!({"images": [image, stranger_image], "projects": [PROJECT_B]}),
            "IMG.0027",
        ),
        (
            "private image",
            json!({"images": [image, private], "projects": [PROJECT_B]}),
            "IMG.0084",
        ),
        (
            "Windows image",
            json!({"images": [image, windows], "projects": [PROJECT_B]}),
            "IMG.0105",
        ),
        (
            "the owner's own project",
            json!({"images": [image], "projects": [PROJECT_B, PROJECT_A]}),
            "IMG.0076",
        ),
        (
            "empty project id",
            json!({"images": [image], "projects": [PROJECT_B, ""]}),
            "IMG.0067",
        ),
        (
            "project id with a space",
            json!({"images": [image], "projects": [PROJECT_B, "project b"]}),
            "IMG.0067",
        ),
        (
            "project id with a control character",
            json!({"images": [image], "projects": [PROJECT_B, "project\u{1}b"]}),
            "IMG.0067",
        ),
        (
            "project id of 256 characters",
            json!({"images": [image], "projects": [PROJECT_B, long_project]}),
            "IMG.0067",
        ),
    ];
    for (what, body, code) in &cases {
        let (status, _, answer) = raw(
            reqwest::Method::POST,
            &s.url("/v1/cloudimages/members"),
            Some(OWNER),
            Some(body.to_string().as_bytes()),
        )
        .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str().unwrap_or_default()),
            (400, *code),
            "{what}: {answer}"
        );
    }
    // 255 characters is a valid project id.
    let long_ok = s.shared_image().await;
    let job = add_job(&s, &[&long_ok], &[&"p".repeat(255)]).await;
    assert_succeeded(&job, JobType::ImsAddImageMembersJob);
    assert_eq!(members(&s, &long_ok).await, pending(&[&"p".repeat(255)]));

    // Only the owner may share: project-b, a member, sees the image but may
    // not share it on.
    assert_eq!(
        refusal(
            s.client(MEMBER)
                .batch_add_members(None, &share(&[&b_can_see], &[PROJECT_C]))
                .await
        ),
        refused(400, "IMG.0047")
    );
    // Public images cannot be shared (the admin owns this one).
    assert_eq!(
        refusal(
            s.client(ADMIN)
                .batch_add_members(None, &share(&[&public], &[PROJECT_B]))
                .await
        ),
        refused(400, "IMG.0089")
    );
    // A reader may not share at all.
    assert_eq!(
        refusal(
            s.client(OWNER_READER)
                .batch_add_members(None, &share(&[&image], &[PROJECT_B]))
                .await
        ),
        refused(403, "IMG.0026")
    );
    // Bodies the client cannot send.
    for body in [
        "[1]",
        "\"images\"",
        r#"{"projects":["project-b"]}"#,
        r#"{"images":"not-a-list","projects":["project-b"]}"#,
    ] {
        let (status, _, rsp) = raw(
            reqwest::Method::POST,
            &s.url("/v1/cloudimages/members"),
            Some(OWNER),
            Some(body.as_bytes()),
        )
        .await;
        assert_eq!(
            (status, rsp["error"]["code"].as_str()),
            (400, Some("IMG.0001")),
            "{body}: {rsp}"
        );
    }

    // None of it wrote anything: a valid job afterwards finds the images
    // as they were.
    let job = add_job(&s, &[&image], &[PROJECT_C]).await;
    assert_succeeded(&job, JobType::ImsAddImageMembersJob);
    assert_eq!(members(&s, &image).await, pending(&[PROJECT_C]));
    assert_eq!(members(&s, &b_can_see).await, pending(&[PROJECT_B]));
    assert!(members(&s, &windows).await.is_empty());
}

/// Account (`domains`) and organization targets are checked like projects
/// (their shares themselves are tested in `accounts.rs`): a malformed one
/// refuses the whole call, with or without projects beside it.
#[tokio::test]
async fn malformed_account_and_organization_targets_are_refused() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let many: Vec<String> = (0..101).map(|i| format!("domain-{i}")).collect();
    for (what, body, code) in [
        (
            "an account ID with a space",
            json!({"images": [image], "projects": [PROJECT_B], "domains": ["domain 1"]}),
            "IMG.0067",
        ),
        (
            "an organization that is neither a URN nor an ID",
            json!({"images": [image], "projects": [PROJECT_B],
                "organizations": ["urn:organizations::1:ou:ou-1"]}),
            "IMG.0001",
        ),
        (
            "an unknown kind of ID",
            json!({"images": [image], "organizations": ["x-1"]}),
            "IMG.0001",
        ),
        (
            "more than 100 domains",
            json!({"images": [image], "domains": many}),
            "IMG.0001",
        ),
    ] {
        assert_eq!(
            batch_raw(&s, reqwest::Method::POST, OWNER, &body).await,
            refused(400, code),
            "add: {what}"
        );
        assert_eq!(
            batch_raw(&s, reqwest::Method::DELETE, OWNER, &body).await,
            refused(400, code),
            "delete: {what}"
        );
    }
    // Nothing was written: a later job finds the image without members.
    let job = add_job(&s, &[&image], &[PROJECT_C]).await;
    assert_succeeded(&job, JobType::ImsAddImageMembersJob);
    assert_eq!(members(&s, &image).await, pending(&[PROJECT_C]));
}

#[tokio::test]
async fn an_existing_member_fails_its_image_only() {
    let s = TestServer::start().await;
    let (taken, free) = (s.shared_image().await, s.shared_image().await);
    s.add(&taken, PROJECT_B).await;
    let job = add_job(&s, &[&taken, &free], &[PROJECT_C, PROJECT_B]).await;
    assert_eq!(job.job_type, JobType::ImsAddImageMembersJob);
    assert_failed(&job, "IMG.0112");
    assert_eq!(
        items(&job),
        [
            (taken.as_str(), PROJECT_C, "fail", None),
            (taken.as_str(), PROJECT_B, "fail", Some("IMG.0112")),
            (free.as_str(), PROJECT_C, "success", None),
            (free.as_str(), PROJECT_B, "success", None),
        ]
    );
    // All or nothing per image: project-c was not added to `taken`.
    assert_eq!(members(&s, &taken).await, pending(&[PROJECT_B]));
    assert_eq!(members(&s, &free).await, pending(&[PROJECT_C, PROJECT_B]));
}

/// `error_code` and `fail_reason` are "null unless `FAIL`" (the job
/// schema): a job still running after a failed image reports no failure yet.
#[tokio::test]
async fn a_running_job_reports_no_failure_before_it_ends() {
    let s = TestServer::start().await;
    let images = futures::future::join_all((0..50).map(|_| s.shared_image())).await;
    // The first image fails; 49 more steps follow it.
    s.add(&images[0], PROJECT_B).await;
    let images: Vec<&str> = images.iter().map(String::as_str).collect();
    let owner = s.client(OWNER);
    let id = job_id(
        owner
            .batch_add_members(None, &share(&images, &[PROJECT_B, PROJECT_C]))
            .await,
    );
    let mut seen = poll_job(&owner, PROJECT_A, &id).await;
    let done = seen.pop().unwrap();
    assert_failed(&done, "IMG.0112");
    assert_eq!(done.entities.results.len(), 100);
    assert_eq!(
        done.entities
            .results
            .iter()
            .filter(|r| r.status == "success")
            .count(),
        98
    );
    let early: Vec<_> = seen
        .iter()
        .filter(|j| j.error_code.is_some() || j.fail_reason.is_some())
        .map(|j| (j.status, j.entities.process_percent, j.error_code.clone()))
        .collect();
    assert!(
        early.is_empty(),
        "{} of {} unfinished states report a failure: {:?}",
        early.len(),
        seen.len(),
        early.first()
    );
}

#[tokio::test]
async fn the_member_quota_is_all_or_nothing_per_image() {
    let s = TestServer::with_quota(3).await;
    let (full, roomy) = (s.shared_image().await, s.shared_image().await);
    s.add(&full, "project-x").await;
    let job = add_job(&s, &[&full, &roomy], &[PROJECT_B, PROJECT_C, "project-d"]).await;
    assert_failed(&job, "IMG.0088");
    assert_eq!(
        items(&job),
        [
            (full.as_str(), PROJECT_B, "fail", None),
            (full.as_str(), PROJECT_C, "fail", None),
            (full.as_str(), "project-d", "fail", Some("IMG.0088")),
            (roomy.as_str(), PROJECT_B, "success", None),
            (roomy.as_str(), PROJECT_C, "success", None),
            (roomy.as_str(), "project-d", "success", None),
        ]
    );
    assert_eq!(members(&s, &full).await, pending(&["project-x"]));
    assert_eq!(
        members(&s, &roomy).await,
        pending(&[PROJECT_B, PROJECT_C, "project-d"])
    );
    // Up to the quota is fine.
    let job = add_job(&s, &[&full], &[PROJECT_B, PROJECT_C]).await;
    assert_succeeded(&job, JobType::ImsAddImageMembersJob);
    assert_eq!(
        members(&s, &full).await,
        pending(&["project-x", PROJECT_B, PROJECT_C])
    );
}

#[tokio::test]
async fn batch_delete_removes_native_members_and_reports_non_members() {
    let s = TestServer::start().await;
    let (image, other) = (s.shared_image().await, s.shared_image().await);
    s.add(&image, PROJECT_B).await;
    s.add(&image, PROJECT_C).await;
    s.set_status(MEMBER, &image, PROJECT_B, MemberStatus::Accepted)
        .await;
    s.add(&other, PROJECT_B).await;
    assert!(s.listed(MEMBER, None, None).await.contains(&image));

    // Deleting a non-member fails that image whole.
    let job = delete_job(&s, &[&other], &[PROJECT_B, PROJECT_C]).await;
    assert_eq!(job.job_type, JobType::ImsDelImageMembersJob);
    assert_failed(&job, "IMG.0113");
    assert_eq!(
        items(&job),
        [
            (other.as_str(), PROJECT_B, "fail", None),
            (other.as_str(), PROJECT_C, "fail", Some("IMG.0113")),
        ]
    );
    assert_eq!(members(&s, &other).await, pending(&[PROJECT_B]));

    // Members added natively go with a batch delete.
    let job = delete_job(&s, &[&image], &[PROJECT_B, PROJECT_C]).await;
    assert_succeeded(&job, JobType::ImsDelImageMembersJob);
    assert_eq!(
        items(&job),
        [
            (image.as_str(), PROJECT_B, "success", None),
            (image.as_str(), PROJECT_C, "success", None),
        ]
    );
    assert!(members(&s, &image).await.is_empty());
    assert!(!s.listed(MEMBER, None, None).await.contains(&image));
    let (status, _) = failure(s.client(MEMBER).get_image(&image, None).await);
    assert_eq!(status, 404);

    // The same synchronous checks as the add.
    for (token, body, expected) in [
        (
            OWNER,
            share_json(&[], &[PROJECT_B]),
            refused(400, "IMG.0001"),
        ),
        (
            OWNER,
            share_json(&["nope"], &[PROJECT_B]),
            refused(400, "IMG.0066"),
        ),
        (
            STRANGER,
            share_json(&[&other], &[PROJECT_B]),
            refused(400, "IMG.0027"),
        ),
        (
            MEMBER,
            share_json(&[&other], &[PROJECT_B]),
            refused(400, "IMG.0047"),
        ),
        (
            OWNER,
            share_json(&[&other], &[""]),
            refused(400, "IMG.0067"),
        ),
        (
            OWNER_READER,
            share_json(&[&other], &[PROJECT_B]),
            refused(403, "IMG.0026"),
        ),
    ] {
        assert_eq!(
            batch_raw(&s, reqwest::Method::DELETE, token, &body).await,
            expected,
            "{token} {body}"
        );
    }
    let (status, _, rsp) = raw(
        reqwest::Method::DELETE,
        &s.url("/v1/cloudimages/members"),
        Some(OWNER),
        Some(b"[1]"),
    )
    .await;
    assert_eq!(
        (status, rsp["error"]["code"].as_str()),
        (400, Some("IMG.0001"))
    );
    assert_eq!(members(&s, &other).await, pending(&[PROJECT_B]));
}

#[tokio::test]
async fn batch_update_accepts_and_rejects_for_the_callers_project() {
    let s = TestServer::start().await;
    let (one, two) = (s.shared_image().await, s.shared_image().await);
    let job = add_job(&s, &[&one, &two], &[PROJECT_B]).await;
    assert_succeeded(&job, JobType::ImsAddImageMembersJob);
    assert!(!s.listed(MEMBER, None, None).await.contains(&one));

    // `vault_id` (Huawei's CBR vault) is accepted and ignored.
    let member = s.client(MEMBER);
    let body = BatchUpdateRequest {
        vault_id: Some("vault-1".into()),
        ..answer(&[&one, &two], PROJECT_B, BatchMemberStatus::Accepted)
    };
    let id = job_id(member.batch_update_members(None, &body).await);
    let job = wait_job(&member, PROJECT_B, &id).await;
    assert_succeeded(&job, JobType::ImsUpdateImageMembersJob);
    assert_eq!(
        items(&job),
        [
            (one.as_str(), PROJECT_B, "success", None),
            (two.as_str(), PROJECT_B, "success", None),
        ]
    );
    for image in [&one, &two] {
        assert_eq!(member_status(&s, image).await, MemberStatus::Accepted);
        assert!(s.listed(MEMBER, None, None).await.contains(image));
        let v1 = s
            .client(MEMBER)
            .show_image_member(PROJECT_B, image, PROJECT_B, None)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (v1.status, v1.member_type, v1.member_id.as_str()),
            (MemberStatus::Accepted, MemberType::Project, PROJECT_B)
        );
    }
    // The job is the member's: the owner cannot read it.
    let id = job_id(
        member
            .batch_update_members(
                None,
                &answer(&[&one], PROJECT_B, BatchMemberStatus::Rejected),
            )
            .await,
    );
    let job = wait_job(&member, PROJECT_B, &id).await;
    assert_succeeded(&job, JobType::ImsUpdateImageMembersJob);
    let (status, err) = failure(s.client(OWNER).show_job(PROJECT_A, &id, None).await);
    assert_eq!(
        (status, err.code.to_string()),
        (404, "imgshare.not_found".into())
    );
    assert_eq!(member_status(&s, &one).await, MemberStatus::Rejected);
    assert!(!s.listed(MEMBER, None, None).await.contains(&one));
    assert!(s.listed(MEMBER, None, None).await.contains(&two));

    // An image the member can see but is no member of fails alone.
    let community = s.image(OWNER, Some(Visibility::Community), &[]).await;
    let job = answer_job(&s, &[&community, &one], BatchMemberStatus::Accepted).await;
    assert_failed(&job, "IMG.0114");
    assert_eq!(
        items(&job),
        [
            (community.as_str(), PROJECT_B, "fail", Some("IMG.0114")),
            (one.as_str(), PROJECT_B, "success", None),
        ]
    );
    assert_eq!(member_status(&s, &one).await, MemberStatus::Accepted);

    // Synchronous refusals.
    let hidden = s.shared_image().await;
    for (token, body, expected) in [
        (
            MEMBER,
            json!({"images": [one], "project_id": PROJECT_A, "status": "rejected"}),
            refused(403, "IMG.0026"),
        ),
        (
            MEMBER,
            json!({"images": [one], "project_id": PROJECT_C, "status": "rejected"}),
            refused(403, "IMG.0026"),
        ),
        (
            MEMBER_READER,
            json!({"images": [one], "project_id": PROJECT_B, "status": "rejected"}),
            refused(403, "IMG.0026"),
        ),
        (
            MEMBER,
            json!({"images": [], "project_id": PROJECT_B, "status": "rejected"}),
            refused(400, "IMG.0001"),
        ),
        (
            MEMBER,
            json!({"images": [one, "not-a-uuid"], "project_id": PROJECT_B, "status": "rejected"}),
            refused(400, "IMG.0066"),
        ),
        (
            MEMBER,
            json!({"images": [one, hidden], "project_id": PROJECT_B, "status": "rejected"}),
            refused(400, "IMG.0027"),
        ),
    ] {
        assert_eq!(
            batch_raw(&s, reqwest::Method::PUT, token, &body).await,
            expected,
            "{token} {body}"
        );
    }
    let (status, _, rsp) = raw(
        reqwest::Method::PUT,
        &s.url("/v1/cloudimages/members"),
        Some(MEMBER),
        Some(
            format!(r#"{{"images":["{one}"],"project_id":"project-b","status":"pending"}}"#)
                .as_bytes(),
        ),
    )
    .await;
    assert_eq!(
        (status, rsp["error"]["code"].as_str()),
        (400, Some("IMG.0001")),
        "{rsp}"
    );
    assert_eq!(member_status(&s, &one).await, MemberStatus::Accepted);
}

#[tokio::test]
async fn jobs_are_visible_to_their_project_and_admins_only() {
    let mut s = TestServer::start().await;
    let image = s.shared_image().await;
    let owner = s.client(OWNER);
    let id = job_id(
        owner
            .batch_add_members(None, &share(&[&image], &[PROJECT_B]))
            .await,
    );
    let job = wait_job(&owner, PROJECT_A, &id).await;
    assert_succeeded(&job, JobType::ImsAddImageMembersJob);
    let expected = serde_json::to_value(&job).unwrap();

    // The project (any of its users) and admins.
    for (token, project) in [
        (OWNER, PROJECT_A),
        (OWNER_READER, PROJECT_A),
        (ADMIN, ADMIN_PROJECT),
    ] {
        let client = s.client(token);
        let shown = client.show_job(project, &id, None).await.unwrap();
        assert_eq!(serde_json::to_value(shown.into_inner()).unwrap(), expected);
        let progress = client.show_job_progress(&id, None).await.unwrap();
        assert_eq!(
            serde_json::to_value(progress.into_inner()).unwrap(),
            expected
        );
    }
    // Other projects, even the new member: 404, as if there were no job.
    for (token, project) in [(STRANGER, PROJECT_C), (MEMBER, PROJECT_B)] {
        let client = s.client(token);
        for (status, err) in [
            failure(client.show_job(project, &id, None).await),
            failure(client.show_job_progress(&id, None).await),
        ] {
            assert_eq!(
                (status, err.code.to_string()),
                (404, "imgshare.not_found".into()),
                "{token}"
            );
        }
    }
    // Unknown or malformed job IDs: 404.
    let longer = format!("{id}0");
    for bad in [
        "0123456789abcdef0123456789abcdef",
        "not-a-job",
        &id[..31],
        &longer,
    ] {
        for (status, err) in [
            failure(owner.show_job(PROJECT_A, bad, None).await),
            failure(owner.show_job_progress(bad, None).await),
        ] {
            assert_eq!(
                (status, err.code.to_string()),
                (404, "imgshare.not_found".into()),
                "{bad}"
            );
        }
    }
    // The path project must be the caller's.
    for project in [PROJECT_B, ADMIN_PROJECT] {
        assert_eq!(
            refusal(owner.show_job(project, &id, None).await),
            refused(403, "IMG.0026"),
            "{project}"
        );
    }

    // Jobs are durable: the same answer after a restart.
    s.restart().await;
    let again = s
        .client(OWNER)
        .show_job(PROJECT_A, &id, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(serde_json::to_value(again).unwrap(), expected);
}

#[tokio::test]
async fn v1_member_list_pages_and_show_names_the_member_type() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let added = [
        "project-p1",
        "project-p2",
        "project-p3",
        "project-p4",
        "project-p5",
    ];
    let job = add_job(&s, &[&image], &added).await;
    assert_succeeded(&job, JobType::ImsAddImageMembersJob);
    let owner = s.client(OWNER);

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = owner
            .list_image_members(
                PROJECT_A,
                &image,
                NonZeroU32::new(2),
                marker.as_deref().map(|m| m.parse().unwrap()).as_ref(),
                None,
            )
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.page_info.current_count as usize, page.members.len());
        assert!(page
            .members
            .iter()
            .all(|m| m.member_type == MemberType::Project && m.urn.is_none()));
        sizes.push(page.members.len());
        seen.extend(page.members.into_iter().map(|m| m.member_id));
        match page.page_info.next_marker {
            Some(next) => marker = Some(next),
            None => break,
        }
        assert!(sizes.len() < 10, "paging does not end");
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(seen, added);
    // The raw answer carries no `urn` key for project members.
    let (status, _, body) = raw(
        reqwest::Method::GET,
        &s.url(&format!(
            "/v1/{PROJECT_A}/cloudimages/{image}/members?limit=1"
        )),
        Some(OWNER),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["members"][0]["member_type"], "project");
    assert!(body["members"][0].get("urn").is_none(), "{body}");

    // limit: 1 to 1000.
    let all = owner
        .list_image_members(PROJECT_A, &image, NonZeroU32::new(1000), None, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!((all.members.len(), all.page_info.next_marker), (5, None));
    assert_eq!(
        refusal(
            owner
                .list_image_members(PROJECT_A, &image, NonZeroU32::new(1001), None, None)
                .await
        ),
        refused(400, "imgshare.invalid_query")
    );
    let (status, _, body) = raw(
        reqwest::Method::GET,
        &s.url(&format!(
            "/v1/{PROJECT_A}/cloudimages/{image}/members?limit=0"
        )),
        Some(OWNER),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("imgshare.invalid_query"))
    );

    // Show: one member with its type, for the owner and for the member.
    let shown = owner
        .show_image_member(PROJECT_A, &image, "project-p3", None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            shown.member_id.as_str(),
            shown.status,
            shown.member_type,
            shown.schema.as_str()
        ),
        (
            "project-p3",
            MemberStatus::Pending,
            MemberType::Project,
            "/v2/schemas/member"
        )
    );
    assert_eq!(shown.image_id.to_string(), image);
    s.add(&image, PROJECT_B).await;
    let member = s.client(MEMBER);
    let own = member
        .show_image_member(PROJECT_B, &image, PROJECT_B, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (own.member_id.as_str(), own.member_type),
        (PROJECT_B, MemberType::Project)
    );
    // A member lists only its own entry.
    let mine = member
        .list_image_members(PROJECT_B, &image, None, None, None)
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = mine.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(ids, [PROJECT_B]);
    let (status, _) = failure(
        s.client(STRANGER)
            .show_image_member(PROJECT_C, &image, PROJECT_B, None)
            .await,
    );
    assert_eq!(status, 404);

    // The path project must be the caller's.
    assert_eq!(
        refusal(
            owner
                .list_image_members(PROJECT_B, &image, None, None, None)
                .await
        ),
        refused(403, "IMG.0026")
    );
    assert_eq!(
        refusal(
            owner
                .show_image_member(PROJECT_B, &image, "project-p3", None)
                .await
        ),
        refused(403, "IMG.0026")
    );
    assert_eq!(
        refusal(
            member
                .show_image_member(PROJECT_A, &image, PROJECT_B, None)
                .await
        ),
        refused(403, "IMG.0026")
    );
}

/// Without `limit`, a page holds 500 members.
#[tokio::test]
async fn v1_member_list_default_page_is_500() {
    let s = TestServer::with_quota(1000).await;
    let image = s.shared_image().await;
    let projects: Vec<String> = (0..501).map(|i| format!("project-{i:03}")).collect();
    for chunk in projects.chunks(100) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let job = add_job(&s, &[&image], &chunk).await;
        assert_succeeded(&job, JobType::ImsAddImageMembersJob);
    }
    let owner = s.client(OWNER);
    let first = owner
        .list_image_members(PROJECT_A, &image, None, None, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.members.len(), 500);
    assert_eq!(first.page_info.current_count, 500);
    let marker = first.page_info.next_marker.expect("a second page");
    let second = owner
        .list_image_members(
            PROJECT_A,
            &image,
            None,
            Some(&marker.parse().unwrap()),
            None,
        )
        .await
        .unwrap()
        .into_inner();
    let rest: Vec<_> = second
        .members
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    assert_eq!(rest, ["project-500"]);
    assert_eq!(second.page_info.next_marker, None);
}

#[tokio::test]
async fn image_quota_reports_the_limit_and_the_fullest_image() {
    let s = TestServer::with_quota(3).await;
    let quota = |token: &'static str| {
        let client = s.client(token);
        async move {
            let q = client
                .show_image_quota(None)
                .await
                .unwrap()
                .into_inner()
                .quotas
                .resources;
            assert_eq!(q.len(), 1, "{q:?}");
            let r = &q[0];
            assert_eq!(r.type_, "image_member");
            (r.used, r.quota, r.min, r.max)
        }
    };
    assert_eq!(quota(OWNER).await, (0, 3, 1, 3));
    let (one, two) = (s.shared_image().await, s.shared_image().await);
    let job = add_job(&s, &[&one], &[PROJECT_B, PROJECT_C]).await;
    assert_succeeded(&job, JobType::ImsAddImageMembersJob);
    s.add(&two, PROJECT_B).await;
    assert_eq!(quota(OWNER).await, (2, 3, 1, 3));
    assert_eq!(quota(OWNER_READER).await, (2, 3, 1, 3));
    // Images shared with project-b are not project-b's.
    assert_eq!(quota(MEMBER).await, (0, 3, 1, 3));

    let s = TestServer::start().await;
    let q = s
        .client(MEMBER)
        .show_image_quota(None)
        .await
        .unwrap()
        .into_inner();
    let r = &q.quotas.resources[0];
    assert_eq!(
        (r.type_.as_str(), r.quota, r.max),
        ("image_member", 128, 128)
    );
}

/// (id, `__imagetype`) of each image, sorted.
fn kinds(images: &[imgshare::types::Image]) -> Vec<(String, String)> {
    let mut kinds: Vec<_> = images
        .iter()
        .map(|i| {
            let kind = i.extra.get("__imagetype").cloned().unwrap_or_default();
            (i.id.to_string(), kind)
        })
        .collect();
    kinds.sort();
    kinds
}

/// The expected (id, `__imagetype`) pairs, sorted like `kinds`.
fn typed<const N: usize>(pairs: [(&String, &str); N]) -> Vec<(String, String)> {
    let mut v: Vec<_> = pairs
        .into_iter()
        .map(|(id, kind)| (id.clone(), kind.to_string()))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn cloud_images_name_each_images_type_and_filter_by_it() {
    let s = TestServer::start().await;
    let gold = s.image(ADMIN, Some(Visibility::Public), &[]).await;
    let own_private = s.image(OWNER, Some(Visibility::Private), &[]).await;
    let accepted = s.shared_image().await;
    let pending_image = s.shared_image().await;
    let mine = s.image(MEMBER, None, &[]).await;
    let job = add_job(&s, &[&accepted, &pending_image], &[PROJECT_B]).await;
    assert_succeeded(&job, JobType::ImsAddImageMembersJob);
    let job = answer_job(&s, &[&accepted], BatchMemberStatus::Accepted).await;
    assert_succeeded(&job, JobType::ImsUpdateImageMembersJob);
    assert!(s.listed(MEMBER, None, None).await.contains(&accepted));

    let list = |token: &'static str,
                kind: Option<ImageType>,
                status: Option<MemberStatusParam>,
                visibility: Option<VisibilityParam>| {
        let client = s.client(token);
        async move {
            let page = client
                .list_cloud_images(kind, None, None, status, None, None, None, visibility, None)
                .await
                .expect("list cloud images")
                .into_inner();
            assert_eq!(page.page_info.current_count as usize, page.images.len());
            assert_eq!(page.page_info.next_marker, None);
            kinds(&page.images)
        }
    };

    // Everything the member sees, each with its kind.
    assert_eq!(
        list(MEMBER, None, None, None).await,
        typed([(&gold, "gold"), (&accepted, "shared"), (&mine, "private")])
    );
    assert_eq!(
        list(MEMBER, Some(ImageType::Shared), None, None).await,
        typed([(&accepted, "shared")])
    );
    assert_eq!(
        list(
            MEMBER,
            Some(ImageType::Shared),
            Some(MemberStatusParam::Pending),
            None
        )
        .await,
        typed([(&pending_image, "shared")])
    );
    assert_eq!(
        list(
            MEMBER,
            Some(ImageType::Shared),
            Some(MemberStatusParam::All),
            None
        )
        .await,
        typed([(&accepted, "shared"), (&pending_image, "shared")])
    );
    assert_eq!(
        list(MEMBER, Some(ImageType::Private), None, None).await,
        typed([(&mine, "private")])
    );
    assert_eq!(
        list(MEMBER, Some(ImageType::Gold), None, None).await,
        typed([(&gold, "gold")])
    );
    // The owner's shared images are its own: private.
    assert_eq!(
        list(OWNER, None, None, None).await,
        typed([
            (&gold, "gold"),
            (&own_private, "private"),
            (&accepted, "private"),
            (&pending_image, "private"),
        ])
    );
    assert_eq!(
        list(OWNER, Some(ImageType::Shared), None, None).await,
        typed([])
    );
    // `visibility` narrows what `__imagetype` chose.
    assert_eq!(
        list(
            OWNER,
            Some(ImageType::Private),
            None,
            Some(VisibilityParam::Private)
        )
        .await,
        typed([(&own_private, "private")])
    );
    assert_eq!(
        list(
            OWNER,
            Some(ImageType::Private),
            None,
            Some(VisibilityParam::Shared)
        )
        .await,
        typed([(&accepted, "private"), (&pending_image, "private")])
    );

    // A rejected share leaves the member's shared list.
    let job = answer_job(&s, &[&accepted], BatchMemberStatus::Rejected).await;
    assert_succeeded(&job, JobType::ImsUpdateImageMembersJob);
    assert_eq!(
        list(MEMBER, Some(ImageType::Shared), None, None).await,
        typed([])
    );
    assert_eq!(
        list(
            MEMBER,
            Some(ImageType::Shared),
            Some(MemberStatusParam::Rejected),
            None
        )
        .await,
        typed([(&accepted, "shared")])
    );
}

#[tokio::test]
async fn cloud_images_page_with_next_marker() {
    let s = TestServer::start().await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(s.shared_image().await);
    }
    let owner = s.client(OWNER);
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = owner
            .list_cloud_images(
                Some(ImageType::Private),
                NonZeroU32::new(2),
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
        assert_eq!(page.page_info.current_count as usize, page.images.len());
        assert!(page
            .images
            .iter()
            .all(|i| i.extra.get("__imagetype").map(String::as_str) == Some("private")));
        sizes.push(page.images.len());
        seen.extend(page.images.iter().map(|i| i.id.to_string()));
        match page.page_info.next_marker {
            Some(next) => marker = Some(next),
            None => break,
        }
        assert!(sizes.len() < 10, "paging does not end");
    }
    assert_eq!(sizes, [2, 2, 1]);
    // Every image once, newest first as the native list orders them.
    let native: Vec<String> = s.listed(OWNER, None, None).await;
    assert_eq!(seen, native);
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    created.sort();
    assert_eq!(sorted_seen, created);
}

#[tokio::test]
async fn delete_image_takes_huaweis_optional_body() {
    let s = TestServer::start().await;
    let owner = s.client(OWNER);
    for delete_backup in [Some(true), Some(false), None] {
        let image = s.shared_image().await;
        s.add(&image, PROJECT_B).await;
        let rsp = owner
            .delete_image(&image, None, &ImageDeleteBody { delete_backup })
            .await
            .unwrap();
        assert_eq!(rsp.status().as_u16(), 204, "{delete_backup:?}");
        let (status, _) = failure(owner.get_image(&image, None).await);
        assert_eq!(status, 404, "{delete_backup:?}");
        let (status, _) = failure(s.client(MEMBER).get_member(&image, PROJECT_B, None).await);
        assert_eq!(status, 404);
    }
    // No body at all, as the native clients send it.
    let image = s.shared_image().await;
    let (status, _, _) = raw(
        reqwest::Method::DELETE,
        &s.url(&format!("/v2/images/{image}")),
        Some(OWNER),
        None,
    )
    .await;
    assert_eq!(status, 204);
    // Anything else in the body is refused and the image stays.
    let image = s.shared_image().await;
    for body in ["[1]", "true", r#"{"delete_backup":"yes"}"#] {
        let (status, _, rsp) = raw(
            reqwest::Method::DELETE,
            &s.url(&format!("/v2/images/{image}")),
            Some(OWNER),
            Some(body.as_bytes()),
        )
        .await;
        assert_eq!(
            (status, rsp["error"]["code"].as_str()),
            (400, Some("IMG.0001")),
            "{body}: {rsp}"
        );
    }
    owner.get_image(&image, None).await.unwrap();
}

/// Polls a job as Huawei's Terraform provider does (`StateChangeConf` with
/// `Delay` and `MinTimeout` of 1 s): INIT and RUNNING are pending, SUCCESS
/// is the target, anything else fails the apply.
async fn terraform_wait(client: &Client, project: &str, job_id: &str) {
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let job = client
            .show_job(project, job_id, None)
            .await
            .expect("GET /v1/{project_id}/jobs/{job_id}")
            .into_inner();
        match job.status {
            JobStatus::Success => return,
            JobStatus::Init | JobStatus::Running => {}
            JobStatus::Fail => panic!("job {job_id} failed: {job:?}"),
        }
    }
    panic!("job {job_id} not done after 5 polls");
}

/// `huaweicloud_images_image_share` with two target projects, and
/// `huaweicloud_images_image_share_accepter` in project-b: apply, then
/// destroy (accepter first, as it depends on the share).
#[tokio::test]
async fn terraform_image_share_and_accepter_lifecycle() {
    let s = TestServer::start().await;
    let image = s.shared_image().await;
    let (owner, member) = (s.client(OWNER), s.client(MEMBER));
    let targets = [PROJECT_B, PROJECT_C];
    // The generated client sends exactly the provider's bodies
    // (`utils.RemoveNil` drops the accepter's empty `vault_id`).
    assert_eq!(
        serde_json::to_value(share(&[&image], &targets)).unwrap(),
        json!({"images": [image], "projects": targets})
    );
    assert_eq!(
        serde_json::to_value(answer(&[&image], PROJECT_B, BatchMemberStatus::Accepted)).unwrap(),
        json!({"images": [image], "project_id": PROJECT_B, "status": "accepted"})
    );

    // Create the share.
    let id = job_id(
        owner
            .batch_add_members(None, &share(&[&image], &targets))
            .await,
    );
    terraform_wait(&owner, PROJECT_A, &id).await;
    assert_eq!(members(&s, &image).await, pending(&targets));

    // Create the accepter (project-b's credentials).
    let id = job_id(
        member
            .batch_update_members(
                None,
                &answer(&[&image], PROJECT_B, BatchMemberStatus::Accepted),
            )
            .await,
    );
    terraform_wait(&member, PROJECT_B, &id).await;
    assert_eq!(
        members(&s, &image).await,
        [
            (PROJECT_B.to_string(), MemberStatus::Accepted),
            (PROJECT_C.to_string(), MemberStatus::Pending)
        ]
    );
    assert!(s.listed(MEMBER, None, None).await.contains(&image));

    // Destroy the accepter: reject.
    let id = job_id(
        member
            .batch_update_members(
                None,
                &answer(&[&image], PROJECT_B, BatchMemberStatus::Rejected),
            )
            .await,
    );
    terraform_wait(&member, PROJECT_B, &id).await;
    assert_eq!(member_status(&s, &image).await, MemberStatus::Rejected);
    assert!(!s.listed(MEMBER, None, None).await.contains(&image));

    // Destroy the share: DELETE with the same body as the create.
    let id = job_id(
        owner
            .batch_delete_members(None, &share(&[&image], &targets))
            .await,
    );
    terraform_wait(&owner, PROJECT_A, &id).await;
    assert!(members(&s, &image).await.is_empty());
}
