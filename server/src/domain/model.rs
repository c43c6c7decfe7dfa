//! The records the rules work on. No HTTP here; the enums carry serde and
//! schema derives because the wire types in `api.rs` reuse them unchanged.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Who may see an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Private,
    Shared,
    Community,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Shared => "shared",
            Visibility::Community => "community",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "public" => Visibility::Public,
            "private" => Visibility::Private,
            "shared" => Visibility::Shared,
            "community" => Visibility::Community,
            _ => return None,
        })
    }
}

/// The status of an image membership. New members are `pending`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    Pending,
    Accepted,
    Rejected,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Pending => "pending",
            MemberStatus::Accepted => "accepted",
            MemberStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => MemberStatus::Pending,
            "accepted" => MemberStatus::Accepted,
            "rejected" => MemberStatus::Rejected,
            _ => return None,
        })
    }
}

/// The authenticated identity behind a request, whatever proved it (see
/// `auth/`). A Keystone token scoped to a domain or to the system has no
/// project: such a caller owns nothing and is a member of nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The project the caller acts in; `None` for domain- or system-scoped tokens.
    pub project_id: Option<String>,
    pub user_id: String,
    /// The domain of the caller's project (or of its domain scope), if known:
    /// Huawei's account.
    pub domain_id: Option<String>,
    /// Where the caller's account sits in its Huawei organization:
    /// `o-…/r-…/ou-…/…` (organization, root, organizational units), if known.
    pub organization_path: Option<String>,
    pub roles: Vec<String>,
}

impl Caller {
    /// True when the caller acts in `project` (never for an unscoped caller).
    pub fn in_project(&self, project: &str) -> bool {
        self.project_id.as_deref() == Some(project)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }

    /// The organization, root and units the caller's account is under.
    pub fn organization_ids(&self) -> Vec<String> {
        self.organization_path
            .as_deref()
            .map(|p| {
                p.split('/')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether a membership row names the caller: its project, or (for a
    /// project-scoped caller) its account or an organization unit above it.
    pub fn covered_by(&self, member: &MemberRecord) -> bool {
        match member.member_type {
            MemberType::Project => self.in_project(&member.member_id),
            _ if self.project_id.is_none() => false,
            MemberType::Domain => self.domain_id.as_deref() == Some(member.member_id.as_str()),
            MemberType::Organization => self
                .organization_path
                .as_deref()
                .is_some_and(|p| p.split('/').any(|s| s == member.member_id)),
        }
    }

    /// Keystone's default implied roles: admin ⇒ member ⇒ reader.
    pub fn can_write(&self) -> bool {
        self.is_admin() || self.has_role("member")
    }

    pub fn can_read(&self) -> bool {
        self.can_write() || self.has_role("reader")
    }

    fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }
}

/// An image as stored. Times are milliseconds since the epoch (the list order
/// needs sub-second precision; the API shows whole seconds).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageRecord {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    pub visibility: Visibility,
    pub owner: String,
    pub protected: bool,
    pub os_hidden: bool,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: u64,
    pub min_ram: u64,
    pub tags: Vec<String>,
    pub properties: BTreeMap<String, String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Bytes of image data; `None` until an upload completes.
    pub size: Option<u64>,
    /// MD5 of the data, hex (Glance's `checksum`).
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
}

impl ImageRecord {
    /// Huawei does not share Windows images: `os_type` (Glance) or `__os_type`
    /// (Huawei) equal to "windows", any case.
    pub fn is_windows(&self) -> bool {
        ["os_type", "__os_type"].iter().any(|k| {
            self.properties
                .get(*k)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("windows"))
        })
    }
}

/// One membership row. For a share with an account (`Domain`) or an
/// organization unit (`Organization`), `member_id` names the account or unit,
/// `status` is the row's own (always `pending`), and each project under it
/// accepts or rejects for itself (`member_decisions`).
#[derive(Clone, Debug, PartialEq)]
pub struct MemberRecord {
    pub image_id: String,
    pub member_id: String,
    pub status: MemberStatus,
    pub created_at: i64,
    pub updated_at: i64,
    pub member_type: MemberType,
    /// The organization URN, for `Organization` rows.
    pub urn: Option<String>,
}

/// A member to add.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMember {
    pub member_id: String,
    pub member_type: MemberType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urn: Option<String>,
}

/// `member_status` filter of the image list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberStatusFilter {
    Only(MemberStatus),
    All,
}

/// `visibility` filter of the image list; `None` in [`ImageQuery`] means "not given".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VisibilityFilter {
    Only(Visibility),
    All,
}

/// Huawei's `__imagetype` filter: which of the caller's kinds of image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// Public images.
    Gold,
    /// The caller's own images.
    Private,
    /// Images shared with the caller.
    Shared,
}

/// What an image list asks the store for, after validation.
#[derive(Clone, Debug)]
pub struct ImageQuery {
    /// The caller's account and organization units: images shared with them
    /// count as shared with the caller.
    pub caller_domain: Option<String>,
    pub caller_organizations: Vec<String>,
    /// Huawei's `__imagetype`: when set, it chooses the candidate images
    /// and `visibility` only narrows them.
    pub kind: Option<ImageKind>,
    pub caller_project: String,
    pub admin: bool,
    pub visibility: Option<VisibilityFilter>,
    pub member_status: MemberStatusFilter,
    pub owner: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    /// (created_at, id) of the marker image: the page starts after it.
    pub after: Option<(i64, String)>,
    pub limit: u32,
}

pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

/// Glance's timestamp form: UTC, whole seconds, `Z`.
pub fn to_datetime(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(millis.div_euclid(1000), 0)
        .single()
        .unwrap_or_default()
}

/// What kind of target a membership names (Huawei's `member_type`): a
/// project, an account (`domain`: every project of it) or an organization,
/// root or unit (`organization`: every account below it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberType {
    Project,
    Domain,
    Organization,
}

impl MemberType {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberType::Project => "project",
            MemberType::Domain => "domain",
            MemberType::Organization => "organization",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "project" => MemberType::Project,
            "domain" => MemberType::Domain,
            "organization" => MemberType::Organization,
            _ => return None,
        })
    }
}

/// Where a job stands: `INIT` → `RUNNING` → `SUCCESS` | `FAIL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum JobStatus {
    Init,
    Running,
    Success,
    Fail,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Init => "INIT",
            JobStatus::Running => "RUNNING",
            JobStatus::Success => "SUCCESS",
            JobStatus::Fail => "FAIL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "INIT" => JobStatus::Init,
            "RUNNING" => JobStatus::Running,
            "SUCCESS" => JobStatus::Success,
            "FAIL" => JobStatus::Fail,
            _ => return None,
        })
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Success | JobStatus::Fail)
    }
}

/// Which batch call a job carries out (Huawei's `job_type` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum JobType {
    #[serde(rename = "imsAddImageMembersJob")]
    AddMembers,
    #[serde(rename = "imsUpdateImageMembersJob")]
    UpdateMembers,
    #[serde(rename = "imsDelImageMembersJob")]
    DeleteMembers,
}

impl JobType {
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::AddMembers => "imsAddImageMembersJob",
            JobType::UpdateMembers => "imsUpdateImageMembersJob",
            JobType::DeleteMembers => "imsDelImageMembersJob",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "imsAddImageMembersJob" => JobType::AddMembers,
            "imsUpdateImageMembersJob" => JobType::UpdateMembers,
            "imsDelImageMembersJob" => JobType::DeleteMembers,
            _ => return None,
        })
    }
}

/// What a member job was asked to do, as accepted (stored as JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRequest {
    /// Canonical image IDs, in request order, without repeats.
    pub images: Vec<String>,
    /// The target projects (add, delete) or the member's own project (update).
    pub projects: Vec<String>,
    /// Accounts and organization units to add or remove (after `projects`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<NewMember>,
    /// Update: the member's account and organization path, for images shared
    /// with its account or organization rather than its project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_organization_path: Option<String>,
    /// The status an update sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MemberStatus>,
    /// The member quota in force when the job was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<u64>,
}

/// One image × project outcome (stored as JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobItem {
    pub image_id: String,
    pub project_id: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

/// A job as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct JobRecord {
    /// 32 lower-case hex characters.
    pub id: String,
    /// The project that asked for it; only it (and admins) may read it.
    pub project_id: String,
    pub job_type: JobType,
    pub status: JobStatus,
    pub request: JobRequest,
    /// Outcomes so far, image by image.
    pub results: Vec<JobItem>,
    /// How many of `request.images` are done (the next step's index).
    pub images_done: u32,
    pub error_code: Option<String>,
    pub fail_reason: Option<String>,
    pub created_at: i64,
    pub end_time: Option<i64>,
}

/// What one image's step of a job found: the image (if it still exists) and
/// its memberships.
pub struct StepInput {
    pub image: Option<ImageRecord>,
    pub members: Vec<MemberRecord>,
}

/// What one image's step of a job writes, decided by the domain from a
/// [`StepInput`]. Applied whole, in one transaction with the job's progress.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepPlan {
    /// Members to add (`pending`).
    pub add: Vec<NewMember>,
    /// Decisions of a project under an account or organization share:
    /// (the share's member_id, the project, its status).
    pub decide: Vec<(String, String, MemberStatus)>,
    /// Members whose status to set.
    pub set_status: Vec<(String, MemberStatus)>,
    /// Members to remove.
    pub remove: Vec<String>,
    /// This image's outcomes.
    pub results: Vec<JobItem>,
    /// The first failure of this image (code, reason), if any.
    pub failure: Option<(String, String)>,
}

/// A planner run inside the step's transaction.
pub type StepPlanner = Box<dyn FnOnce(&StepInput) -> StepPlan + Send>;
