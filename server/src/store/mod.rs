//! Storage: one trait, shaped so a second SQL backend (PostgreSQL) fits beside
//! SQLite. Each write method is one transaction; the invariants that must hold
//! under concurrency (unique live membership, member quota, no member without
//! its image) are checked inside that transaction, never by the caller.

pub mod data;
pub mod migrations;
pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;

use crate::domain::model::{
    ImageQuery, ImageRecord, JobItem, JobRecord, JobRequest, JobStatus, JobType, MemberRecord,
    MemberStatus, MemberStatusFilter, StepPlanner, VisibilityFilter,
};
use crate::error::Error;

/// An edit applied to the current image inside the write transaction (a
/// read-modify-write no concurrent edit can interleave with). It may refuse
/// with a domain error, which the store hands back untouched.
pub type ImageEdit = Box<dyn FnOnce(&mut ImageRecord) -> Result<(), Error> + Send>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    Duplicate,
    #[error("the image is shared with an account or an organization")]
    SharedWithAccounts,
    #[error("member quota exceeded: attempted {attempted}, maximum {max}")]
    QuotaExceeded { attempted: u64, max: u64 },
    /// Transient (busy database, lost connection): the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store failure: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn get_image(&self, id: &str) -> StoreResult<Option<ImageRecord>>;
    /// One page of images, newest first (created_at desc, id desc).
    async fn list_images(&self, query: &ImageQuery) -> StoreResult<Vec<ImageRecord>>;
    /// `Duplicate` when the id is taken.
    async fn create_image(&self, image: ImageRecord) -> StoreResult<()>;
    /// Applies `edit` to the stored image and saves the result. `NotFound` if
    /// absent; `Ok(Err(e))` when the edit refused (nothing is written).
    async fn modify_image(
        &self,
        id: &str,
        edit: ImageEdit,
    ) -> StoreResult<Result<ImageRecord, Error>>;
    /// Removes the image and all its memberships. `NotFound` if absent;
    /// `SharedWithAccounts` (nothing removed) while it is shared with an
    /// account or an organization (Huawei's rule).
    async fn delete_image(&self, id: &str) -> StoreResult<()>;

    async fn get_member(
        &self,
        image_id: &str,
        member_id: &str,
    ) -> StoreResult<Option<MemberRecord>>;
    /// Live members in creation order.
    async fn list_members(&self, image_id: &str) -> StoreResult<Vec<MemberRecord>>;
    /// Adds a `pending` member. Quota (`None` = unlimited) is checked before the
    /// duplicate check, as Glance does: `QuotaExceeded`, then `Duplicate`;
    /// `NotFound` when the image is gone.
    async fn add_member(
        &self,
        image_id: &str,
        member_id: &str,
        quota: Option<u64>,
        now: i64,
    ) -> StoreResult<MemberRecord>;
    /// Sets the status; `updated_at` moves only when the status changes.
    async fn update_member(
        &self,
        image_id: &str,
        member_id: &str,
        status: MemberStatus,
        now: i64,
    ) -> StoreResult<MemberRecord>;
    async fn delete_member(&self, image_id: &str, member_id: &str) -> StoreResult<()>;
    /// IDs of images whose upload is in progress (status `saving`).
    async fn saving_images(&self) -> StoreResult<Vec<String>>;
    /// A project's own decisions on the account and organization shares of
    /// an image: (the share's member_id, status, updated_at).
    async fn decisions(
        &self,
        image_id: &str,
        project_id: &str,
    ) -> StoreResult<Vec<(String, MemberStatus, i64)>>;
    /// Records a project's decision on an account or organization share;
    /// `updated_at` moves only when the status changes. `NotFound` when the
    /// share is gone.
    async fn decide(
        &self,
        image_id: &str,
        member_id: &str,
        project_id: &str,
        status: MemberStatus,
        now: i64,
    ) -> StoreResult<()>;
    /// The largest number of members any image owned by `owner` has.
    async fn max_members_per_image(&self, owner: &str) -> StoreResult<u64>;

    /// Records a new job; its caller answers 200 only after this commits, so
    /// an acknowledged job always runs. `Duplicate` if the ID is taken.
    async fn create_job(&self, job: JobRecord) -> StoreResult<()>;
    async fn get_job(&self, id: &str) -> StoreResult<Option<JobRecord>>;
    /// Claims the oldest runnable job (`INIT`, or `RUNNING` whose lease ended
    /// before `now`: its worker died) for `worker` until `lease_until`, and
    /// marks it `RUNNING`. One worker holds a job at a time, across replicas.
    async fn claim_job(
        &self,
        worker: &str,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<Option<JobRecord>>;
    /// One image of a job, in one transaction: checks the job is still
    /// leased to `worker` and at image `index` (else `NotFound`: the lease
    /// was lost, and the step is not applied), reads the image and its
    /// members, runs `planner`, applies its plan, records the outcomes and
    /// the first failure, moves `images_done` on and renews the lease. After
    /// the last image the job ends: `SUCCESS`, or `FAIL` if any item failed.
    async fn run_job_step(
        &self,
        worker: &str,
        job_id: &str,
        index: u32,
        planner: StepPlanner,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<JobRecord>;
    /// Deletes up to `max` jobs that ended before `before`; returns how many.
    async fn prune_jobs(&self, before: i64, max: u32) -> StoreResult<u64>;
    /// Jobs not finished yet (`INIT` or `RUNNING`), across replicas.
    async fn queued_jobs(&self) -> StoreResult<u64>;

    /// The health check: a trivial read, and proof that writes still go
    /// through (SQLite: the writer thread commits an empty job; PostgreSQL:
    /// the pool hands out a live connection). One attempt, no retries; the
    /// caller bounds it with a timeout.
    async fn health(&self) -> StoreResult<()>;

    /// Flush and stop background work. Writes acknowledged before are durable.
    async fn shutdown(&self);
}

/// Tags as stored (a JSON array); most images have none.
pub fn parse_tags(text: &str) -> serde_json::Result<Vec<String>> {
    if text == "[]" {
        return Ok(Vec::new());
    }
    serde_json::from_str(text)
}

/// Custom properties as stored (a JSON object); most images have few.
pub fn parse_properties(
    text: &str,
) -> serde_json::Result<std::collections::BTreeMap<String, String>> {
    if text == "{}" {
        return Ok(Default::default());
    }
    serde_json::from_str(text)
}

/// The columns of `images`, in the order both backends read them.
pub const IMAGE_COLUMNS: &str = "id, name, status, visibility, owner, protected, os_hidden, \
    disk_format, container_format, min_disk, min_ram, tags, properties, created_at, updated_at, \
    size, checksum, os_hash_algo, os_hash_value";

/// `INSERT` of a whole image row, values in `IMAGE_COLUMNS` order.
pub fn insert_image_sql(placeholder: fn(usize) -> String) -> String {
    format!(
        "INSERT INTO images ({IMAGE_COLUMNS}) VALUES ({})",
        image_placeholders(placeholder)
    )
}

/// `UPDATE` of a whole image row (same values as the insert; `id` is the key).
pub fn update_image_sql(placeholder: fn(usize) -> String) -> String {
    format!(
        "UPDATE images SET ({IMAGE_COLUMNS}) = ({}) WHERE id = {}",
        image_placeholders(placeholder),
        placeholder(1)
    )
}

fn image_placeholders(placeholder: fn(usize) -> String) -> String {
    let n = IMAGE_COLUMNS.split(", ").count();
    (1..=n).map(placeholder).collect::<Vec<_>>().join(", ")
}

/// A bind value of a dynamically built query.
#[derive(Clone, Debug)]
pub enum SqlArg {
    Text(String),
    Int(i64),
}

/// The image-list query, shared by both backends. Glance's candidate set for
/// a non-admin (public, community, own, shared-with-me in the wanted member
/// status) is split into disjoint branches that each walk an index in list
/// order and stop after one page (`images` by visibility or owner, and
/// `image_members` by member with the image's creation time copied in);
/// the page is the merge of the branches (`merge_pages`). The branches run as
/// separate statements: as one `UNION ALL` SQLite spent ~30× longer (its
/// compound-select machinery sorted every branch's output again).
/// `placeholder(n)` spells the n-th (1-based) bind parameter in the
/// backend's syntax.
pub fn list_images_sql(
    q: &ImageQuery,
    placeholder: fn(usize) -> String,
) -> Vec<(String, Vec<SqlArg>)> {
    // Values are bound through markers; `number_placeholders` keeps only the
    // ones the chosen branches use (PostgreSQL refuses unused parameters).
    let mut args: Vec<SqlArg> = Vec::new();
    let mut bind = |v: SqlArg| {
        args.push(v);
        format!("\u{1}{}\u{2}", args.len() - 1)
    };
    let caller = bind(SqlArg::Text(q.caller_project.clone()));
    let limit = bind(SqlArg::Int(q.limit as i64));
    let mut filters = String::new();
    for (column, value) in [
        ("owner", &q.owner),
        ("name", &q.name),
        ("status", &q.status),
    ] {
        if let Some(v) = value {
            filters.push_str(&format!(
                " AND i.{column} = {}",
                bind(SqlArg::Text(v.clone()))
            ));
        }
    }
    if let (Some(_), Some(VisibilityFilter::Only(v))) = (q.kind, q.visibility) {
        filters.push_str(&format!(
            " AND i.visibility = {}",
            bind(SqlArg::Text(v.as_str().into()))
        ));
    }
    let after = q
        .after
        .as_ref()
        .map(|(created, id)| (bind(SqlArg::Int(*created)), bind(SqlArg::Text(id.clone()))));
    let status = match q.member_status {
        MemberStatusFilter::All => String::new(),
        MemberStatusFilter::Only(s) => {
            format!(" AND m.status = {}", bind(SqlArg::Text(s.as_str().into())))
        }
    };
    let columns: String = IMAGE_COLUMNS
        .split(", ")
        .map(|c| format!("i.{c}"))
        .collect::<Vec<_>>()
        .join(", ");

    // A branch over `images i`: one page of it in list order.
    let images_branch = |condition: &str| {
        let marker = after.as_ref().map_or(String::new(), |(c, i)| {
            format!(" AND (i.created_at, i.id) < ({c}, {i})")
        });
        format!(
            "SELECT {columns} FROM images i WHERE {condition}{filters}{marker} \
             ORDER BY i.created_at DESC, i.id DESC LIMIT {limit}"
        )
    };
    // Shared with the caller: walk the caller's memberships in image order.
    let marker = after.as_ref().map_or(String::new(), |(c, i)| {
        format!(" AND (m.image_created_at, m.image_id) < ({c}, {i})")
    });
    let mut shared_with_me = vec![format!(
        "SELECT {columns} FROM image_members m JOIN images i ON i.id = m.image_id \
         WHERE m.member_id = {caller} AND m.member_type = 'project'{status}{marker} \
         AND i.visibility = 'shared' AND i.owner <> {caller}{filters} \
         ORDER BY m.image_created_at DESC, m.image_id DESC LIMIT {limit}"
    )];
    // Shared with the caller's account or an organization unit above it: the
    // caller's own decision (default pending) is its status.
    let decided = match q.member_status {
        MemberStatusFilter::All => String::new(),
        MemberStatusFilter::Only(s) => format!(
            " AND COALESCE(d.status, 'pending') = {}",
            bind(SqlArg::Text(s.as_str().into()))
        ),
    };
    let mut covering: Vec<(&str, String)> = Vec::new();
    if let Some(domain) = &q.caller_domain {
        covering.push((
            "domain",
            format!("= {}", bind(SqlArg::Text(domain.clone()))),
        ));
    }
    if !q.caller_organizations.is_empty() {
        let ids: Vec<String> = q
            .caller_organizations
            .iter()
            .map(|o| bind(SqlArg::Text(o.clone())))
            .collect();
        covering.push(("organization", format!("IN ({})", ids.join(", "))));
    }
    for (kind, member) in covering {
        shared_with_me.push(format!(
            "SELECT {columns} FROM image_members m JOIN images i ON i.id = m.image_id \
             LEFT JOIN member_decisions d ON d.image_id = m.image_id \
             AND d.member_id = m.member_id AND d.project_id = {caller} \
             WHERE m.member_id {member} AND m.member_type = '{kind}'{decided}{marker} \
             AND i.visibility = 'shared' AND i.owner <> {caller}{filters} \
             ORDER BY m.image_created_at DESC, m.image_id DESC LIMIT {limit}"
        ));
    }
    let own = |visibilities: &str| {
        images_branch(&format!(
            "i.owner = {caller} AND i.visibility IN ({visibilities})"
        ))
    };
    use crate::domain::model::ImageKind;
    let branches: Vec<String> = if let Some(kind) = q.kind {
        match kind {
            ImageKind::Gold => vec![images_branch("i.visibility = 'public'")],
            ImageKind::Private => vec![own("'private', 'shared', 'community'")],
            ImageKind::Shared => shared_with_me,
        }
    } else if q.admin {
        vec![match q.visibility {
            None => images_branch(&format!(
                "NOT (i.visibility = 'community' AND i.owner <> {caller})"
            )),
            Some(VisibilityFilter::All) => images_branch("TRUE"),
            Some(VisibilityFilter::Only(v)) => {
                images_branch(&format!("i.visibility = '{}'", v.as_str()))
            }
        }]
    } else {
        use crate::domain::model::Visibility as V;
        match q.visibility {
            None => [
                images_branch("i.visibility = 'public'"),
                images_branch(&format!(
                    "i.visibility = 'community' AND i.owner = {caller}"
                )),
                own("'private', 'shared'"),
            ]
            .into_iter()
            .chain(shared_with_me)
            .collect(),
            Some(VisibilityFilter::All) => [
                images_branch("i.visibility = 'public'"),
                images_branch("i.visibility = 'community'"),
                own("'private', 'shared'"),
            ]
            .into_iter()
            .chain(shared_with_me)
            .collect(),
            Some(VisibilityFilter::Only(V::Public)) => {
                vec![images_branch("i.visibility = 'public'")]
            }
            Some(VisibilityFilter::Only(V::Community)) => {
                vec![images_branch("i.visibility = 'community'")]
            }
            Some(VisibilityFilter::Only(V::Private)) => vec![own("'private'")],
            Some(VisibilityFilter::Only(V::Shared)) => std::iter::once(own("'shared'"))
                .chain(shared_with_me)
                .collect(),
        }
    };
    branches
        .iter()
        .map(|sql| number_placeholders(sql, args.clone(), placeholder))
        .collect()
}

/// One page out of the branches' pages (each newest first).
pub fn merge_pages(pages: Vec<Vec<ImageRecord>>, limit: u32) -> Vec<ImageRecord> {
    let mut all: Vec<ImageRecord> = pages.into_iter().flatten().collect();
    all.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    // An image shared with the caller's project and with its account shows once.
    all.dedup_by(|a, b| a.id == b.id);
    all.truncate(limit as usize);
    all
}

/// Replaces each bind marker with the backend's placeholder, numbering the
/// markers in order of first use and dropping values no marker uses.
fn number_placeholders(
    sql: &str,
    args: Vec<SqlArg>,
    placeholder: fn(usize) -> String,
) -> (String, Vec<SqlArg>) {
    let mut out = String::with_capacity(sql.len());
    let mut numbers: Vec<Option<usize>> = vec![None; args.len()];
    let mut used: Vec<SqlArg> = Vec::new();
    let mut rest = sql;
    while let Some(start) = rest.find('\u{1}') {
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find('\u{2}').expect("closed marker");
        let old: usize = rest[start + 1..end].parse().expect("marker index");
        let n = *numbers[old].get_or_insert_with(|| {
            used.push(args[old].clone());
            used.len()
        });
        out.push_str(&placeholder(n));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    (out, used)
}

/// The columns of `jobs`, in the order both backends read them.
pub const JOB_COLUMNS: &str = "id, project_id, job_type, status, request, results, images_done, \
    error_code, fail_reason, created_at, end_time";

/// A job's stored text columns, parsed; `None` when corrupt.
#[allow(clippy::too_many_arguments)]
pub fn job_from_columns(
    id: String,
    project_id: String,
    job_type: &str,
    status: &str,
    request: &str,
    results: &str,
    images_done: i64,
    error_code: Option<String>,
    fail_reason: Option<String>,
    created_at: i64,
    end_time: Option<i64>,
) -> StoreResult<JobRecord> {
    let corrupt = |what: &str| StoreError::Internal(format!("corrupt {what} in jobs row {id}"));
    Ok(JobRecord {
        job_type: JobType::parse(job_type).ok_or_else(|| corrupt("job_type"))?,
        status: JobStatus::parse(status).ok_or_else(|| corrupt("status"))?,
        request: serde_json::from_str::<JobRequest>(request).map_err(|_| corrupt("request"))?,
        results: serde_json::from_str::<Vec<JobItem>>(results).map_err(|_| corrupt("results"))?,
        images_done: u32::try_from(images_done).map_err(|_| corrupt("images_done"))?,
        id,
        project_id,
        error_code,
        fail_reason,
        created_at,
        end_time,
    })
}

/// JSON text of a job's request and results, as stored.
pub fn job_json(job: &JobRecord) -> (String, String) {
    (
        serde_json::to_string(&job.request).unwrap_or_default(),
        serde_json::to_string(&job.results).unwrap_or_else(|_| "[]".into()),
    )
}

/// Folds one step's plan into the job: outcomes appended, the first failure
/// kept, the index moved on, and the end when it was the last image.
pub fn advance_job(job: &mut JobRecord, plan: &crate::domain::model::StepPlan, now: i64) {
    job.results.extend(plan.results.iter().cloned());
    if job.error_code.is_none() {
        if let Some((code, reason)) = &plan.failure {
            job.error_code = Some(code.clone());
            job.fail_reason = Some(reason.clone());
        }
    }
    job.images_done += 1;
    if job.images_done as usize >= job.request.images.len() {
        job.status = if job.error_code.is_some() {
            JobStatus::Fail
        } else {
            JobStatus::Success
        };
        job.end_time = Some(now);
    }
}

/// The columns of `image_members` a [`MemberRecord`] is read from, in order.
pub const MEMBER_COLUMNS: &str =
    "image_id, member_id, status, created_at, updated_at, member_type, urn";

/// `INSERT` of a new `pending` member: image_id, member_id, now,
/// image_created_at, member_type, urn.
pub fn insert_member_sql(placeholder: fn(usize) -> String) -> String {
    let p = placeholder;
    format!(
        "INSERT INTO image_members \
         (image_id, member_id, status, created_at, updated_at, image_created_at, member_type, urn) \
         VALUES ({}, {}, 'pending', {}, {}, {}, {}, {})",
        p(1),
        p(2),
        p(3),
        p(3),
        p(4),
        p(5),
        p(6)
    )
}

/// Upsert of a project's decision: image_id, member_id, project_id, status, now.
pub fn decide_sql(placeholder: fn(usize) -> String) -> String {
    let p = placeholder;
    format!(
        "INSERT INTO member_decisions (image_id, member_id, project_id, status, updated_at) \
         VALUES ({}, {}, {}, {}, {}) ON CONFLICT (image_id, member_id, project_id) DO UPDATE \
         SET updated_at = CASE WHEN member_decisions.status = excluded.status \
         THEN member_decisions.updated_at ELSE excluded.updated_at END, status = excluded.status",
        p(1),
        p(2),
        p(3),
        p(4),
        p(5)
    )
}

/// Deletes an image unless it has account or organization shares.
pub fn delete_image_sql(placeholder: fn(usize) -> String) -> String {
    let p = placeholder(1);
    format!(
        "DELETE FROM images WHERE id = {p} AND NOT EXISTS (SELECT 1 FROM image_members \
         WHERE image_id = {p} AND member_type <> 'project')"
    )
}
