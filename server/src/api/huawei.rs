//! Wire types of Huawei IMS's own sharing API (`/v1/…`, `/v2/cloudimages`):
//! batch calls that run as jobs, the jobs, v1 member reads, the quota and
//! Huawei's image list. The endpoints are declared in the one API trait
//! (`api/mod.rs`; dropshot 0.18 serves one API description per server and
//! cannot merge two); their handlers live in `huawei.rs`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::domain::model::{JobStatus, JobType, MemberStatus, MemberType};

use super::{Image, ImageStatus, MemberStatusParam, PageInfo};

/// Most images, and most targets (projects), one batch call may name.
pub const BATCH_MAX: usize = 100;

/// Body of the batch add and batch delete calls.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct BatchMembersRequest {
    /// The images (UUIDs) to share or stop sharing: 1 to 100, all owned by
    /// the caller's project.
    #[schemars(
        length(min = 1, max = 100),
        inner(regex(
            pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
        ))
    )]
    pub images: Vec<String>,
    /// The projects to share with or stop sharing with: up to 100 IDs (the
    /// identifier rule of the add-member body). `projects`, `domains` and
    /// `organizations` name at least one target between them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 100),
        inner(regex(pattern = r"^[A-Za-z0-9._:@/-]{1,255}$"))
    )]
    pub projects: Option<Vec<String>>,
    /// Accounts (Keystone domains): the image is shared with every project of
    /// each, and each project accepts or rejects it for itself. Up to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 100),
        inner(regex(pattern = r"^[A-Za-z0-9._:@/-]{1,255}$"))
    )]
    pub domains: Option<Vec<String>>,
    /// Organizations, roots or organizational units, as Organizations URNs
    /// (`organizations::<account>:ou:o-…/ou-…`) or bare IDs (`o-…`, `r-…`,
    /// `ou-…`): the image is shared with every account below each. An image
    /// shared with an account or an organization cannot be deleted until the
    /// share is removed. Up to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 100),
        inner(
            regex(
                pattern = r"^(organizations::[A-Za-z0-9._:@/-]*[:/])?(o|r|ou)-[A-Za-z0-9-]{1,125}$"
            ),
            length(max = 255)
        )
    )]
    pub organizations: Option<Vec<String>>,
}

/// What a member may set its membership to through the batch update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BatchMemberStatus {
    Accepted,
    Rejected,
}

/// Body of the batch update call: the member accepts or rejects images
/// shared with its project.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct BatchUpdateRequest {
    /// The images (UUIDs): 1 to 100.
    #[schemars(
        length(min = 1, max = 100),
        inner(regex(
            pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
        ))
    )]
    pub images: Vec<String>,
    /// The caller's own project (the member); another project is refused
    /// with 403 `IMG.0026` (admins may name any project).
    #[schemars(regex(pattern = r"^[A-Za-z0-9._:@/-]{1,255}$"))]
    pub project_id: String,
    pub status: BatchMemberStatus,
    /// Accepted for compatibility and ignored (no CBR vaults here); a
    /// string or null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_id: Option<String>,
}

/// The answer to a batch call: the job that carries it out.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct JobCreated {
    /// 32 lower-case hex characters.
    pub job_id: String,
}

/// One image × project outcome of a member job.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct JobResult {
    pub image_id: String,
    /// The target: a project, an account, or an organization (its URN when
    /// one was given).
    pub project_id: String,
    /// `success` or `fail` (lower case, as in Huawei's examples).
    pub status: String,
    /// Why this item failed (`IMG.xxxx`); absent when it succeeded, or when
    /// it was rolled back because another item of the same image failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

/// What a member job did so far.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct JobEntities {
    /// One entry per image × project handled so far.
    pub results: Vec<JobResult>,
    /// Share of the job's images handled, 0 to 1.
    pub process_percent: f64,
}

/// An asynchronous job (Huawei IMS's job shape).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Job {
    /// `INIT` → `RUNNING` → `SUCCESS` or `FAIL`.
    pub status: JobStatus,
    pub job_id: String,
    pub job_type: JobType,
    /// When the job was accepted (UTC, milliseconds).
    pub begin_time: DateTime<Utc>,
    /// When the job finished; null while it runs.
    pub end_time: Option<DateTime<Utc>>,
    /// The first failed item's code; null unless `FAIL`.
    pub error_code: Option<String>,
    /// Why the first failed item failed; null unless `FAIL`.
    pub fail_reason: Option<String>,
    pub entities: JobEntities,
}

/// A membership as Huawei's v1 reads show it: the native member plus its
/// kind. A project under an account or organization share sees that share
/// with its own project's status.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct V1Member {
    pub status: MemberStatus,
    /// When the membership was created (UTC, whole seconds).
    pub created_at: DateTime<Utc>,
    /// When the status last changed (UTC, whole seconds).
    pub updated_at: DateTime<Utc>,
    pub image_id: Uuid,
    /// The project (or account, or organization) the image is shared with.
    pub member_id: String,
    /// Always `/v2/schemas/member`.
    pub schema: String,
    pub member_type: MemberType,
    /// The organization's URN; only for `organization` members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urn: Option<String>,
}

/// A page of an image's members (v1).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct V1Members {
    pub members: Vec<V1Member>,
    /// Always `/v2/schemas/members`.
    pub schema: String,
    pub page_info: PageInfo,
}

/// Paging of the v1 member list.
#[derive(Deserialize, JsonSchema)]
pub struct V1MemberListQuery {
    /// Page size: 1 to 1000. Default: 500.
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// Opaque: the `page_info.next_marker` of the previous page.
    #[schemars(length(min = 1))]
    pub marker: Option<String>,
}

/// The fixed segment of `/v1/cloudimages/…` paths. dropshot's router cannot
/// hold a literal segment beside a variable one at the same level, and
/// `/v1/{project_id}/…` needs the variable, so these routes are registered
/// with the variable and answer 404 unless it is `cloudimages`. The published
/// document names the literal path (see `derived_openapi`).
#[derive(Deserialize, JsonSchema)]
pub struct CloudImagesPath {
    pub project_id: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct CloudImagesJobPath {
    pub project_id: String,
    /// The job ID.
    pub job_id: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct ProjectJobPath {
    /// The caller's project; another project is answered 403.
    pub project_id: String,
    /// The job ID.
    pub job_id: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct ProjectImagePath {
    /// The caller's project; another project is answered 403.
    pub project_id: String,
    /// The image ID (a UUID; anything else is answered 404).
    pub image_id: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct ProjectMemberPath {
    /// The caller's project; another project is answered 403.
    pub project_id: String,
    /// The image ID (a UUID; anything else is answered 404).
    pub image_id: String,
    /// The member's project ID.
    pub member_id: String,
}

/// One quota.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct QuotaResource {
    /// `image_member`: members per image.
    #[serde(rename = "type")]
    pub type_: String,
    /// The most members any of the caller's images has.
    pub used: i64,
    /// The limit; -1 when unlimited.
    pub quota: i64,
    pub min: i64,
    pub max: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct QuotaResources {
    pub resources: Vec<QuotaResource>,
}

/// The caller's image quotas.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Quotas {
    pub quotas: QuotaResources,
}

/// Huawei's image kinds, from the caller's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageType {
    /// Public images.
    Gold,
    /// The caller's own images.
    Private,
    /// Images other projects shared with the caller.
    Shared,
}

/// Filters of Huawei's image list.
#[derive(Deserialize, JsonSchema)]
pub struct CloudImageListQuery {
    /// `gold` (public), `private` (the caller's own) or `shared` (shared with
    /// the caller, in `member_status`). Default: all three.
    #[serde(rename = "__imagetype")]
    pub imagetype: Option<ImageType>,
    /// Same as the native list's `visibility`.
    pub visibility: Option<super::VisibilityParam>,
    /// Which shared-with-me images to include; default `accepted`.
    pub member_status: Option<MemberStatusParam>,
    /// Page size, default 25. Values above 1000 are served as 1000; follow
    /// `page_info.next_marker` for more.
    #[schemars(range(min = 1, max = 4294967295_u32))]
    pub limit: Option<u32>,
    /// ID of the last image of the previous page.
    #[schemars(length(min = 1))]
    pub marker: Option<String>,
    pub owner: Option<String>,
    pub name: Option<String>,
    pub status: Option<ImageStatus>,
}

/// Where a page of Huawei's image list stands.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct CloudPageInfo {
    /// Pass as `marker` for the next page; present whenever the page is full
    /// (the page after it may then be empty), as the native list's `next`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Images on this page.
    pub current_count: u32,
}

/// A page of Huawei's image list. Each image carries `__imagetype`
/// (`gold`, `private` or `shared`) among its string properties.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct CloudImages {
    pub images: Vec<Image>,
    pub page_info: CloudPageInfo,
}

/// Optional body of the image delete (Huawei's SDK sends it).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ImageDeleteBody {
    /// Accepted and ignored: this server keeps no backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_backup: Option<bool>,
}
