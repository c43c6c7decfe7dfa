//! Huawei's batch member calls as durable jobs.
//!
//! A batch call is checked whole before anything is written (Huawei answers
//! those failures 400 with an `IMG.xxxx` code); then one job row is committed
//! and its ID answered. Runners take jobs from the store, one image per step:
//! each step is one transaction that applies that image's changes and records
//! their outcomes and the job's progress together, under a lease. So a job
//! acknowledged before a crash resumes where it stopped, and no image's step
//! is applied twice, across restarts and across replicas.
//!
//! Per image, a step is all or nothing: when any of its items cannot be done
//! (quota, already a member, not a member, image gone), none of that image's
//! items are, and every one is reported `fail`; other images are unaffected.
//! The job ends `SUCCESS` when every item succeeded, else `FAIL` with the
//! first failure's code and reason.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::model::{
    now_millis, Caller, JobItem, JobRecord, JobRequest, JobStatus, JobType, MemberStatus,
    MemberType, NewMember, StepInput, StepPlan, Visibility,
};
use super::{canonical_image_id, ids, Service};
use crate::api::huawei::{BatchMembersRequest, BatchUpdateRequest, BATCH_MAX};
use crate::api::ErrorCode;
use crate::error::Error;
use crate::store::StoreError;

/// Codes of per-item failures, reported in a job's results.
pub mod item_codes {
    /// The image no longer exists (deleted after the job was accepted).
    pub const IMAGE_GONE: &str = "IMG.0027";
    /// The image is no longer `shared`.
    pub const NOT_SHARED: &str = "IMG.0084";
    /// The image's member quota would be exceeded.
    pub const QUOTA: &str = "IMG.0088";
    /// The project is already a member (add).
    pub const ALREADY_MEMBER: &str = "IMG.0112";
    /// The project is not a member (delete).
    pub const NOT_MEMBER_DELETE: &str = "IMG.0113";
    /// The project is not a member (update).
    pub const NOT_MEMBER_UPDATE: &str = "IMG.0114";
}

/// Job runner settings.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// How long a claimed job stays with its runner without progress before
    /// another runner (another replica) may take it over.
    pub lease: Duration,
    /// How long finished jobs are kept.
    pub retention: Duration,
    /// Runners per server.
    pub runners: usize,
    /// How often idle runners look for jobs other replicas accepted.
    pub poll: Duration,
    /// Replicas sharing the image directory: the first runner also cleans
    /// up after dead uploads (of any replica) once a minute.
    pub sweep_image_data: bool,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            lease: Duration::from_secs(30),
            retention: Duration::from_secs(7 * 24 * 3600),
            runners: 2,
            poll: Duration::from_secs(1),
            sweep_image_data: false,
        }
    }
}

fn refused(code: ErrorCode, message: impl Into<String>) -> Error {
    Error::BatchRefused(code, message.into())
}

/// The caller's project, if the caller may make batch calls at all.
fn writer_project(caller: &Caller, action: &'static str) -> Result<String, Error> {
    match &caller.project_id {
        Some(p) if caller.can_write() => Ok(p.clone()),
        _ => Err(Error::PolicyDenied(action)),
    }
}

/// Parses a batch body with serde, answering `IMG.0001` with serde's reason.
fn parse_body<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<T, Error> {
    if !body.is_object() {
        return Err(Error::InvalidBody(
            "The request body must be a JSON object.".into(),
        ));
    }
    serde_json::from_value(body)
        .map_err(|e| Error::InvalidBody(format!("Invalid request body: {e}")))
}

/// Canonical image IDs, in order, without repeats: 1 to `BATCH_MAX`.
fn image_ids(images: &[String]) -> Result<Vec<String>, Error> {
    if images.is_empty() {
        return Err(Error::InvalidBody(
            "images must name at least one image.".into(),
        ));
    }
    if images.len() > BATCH_MAX {
        return Err(Error::InvalidBody(format!(
            "images names {} images; at most {BATCH_MAX} per call.",
            images.len()
        )));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(images.len());
    for raw in images {
        let id = canonical_image_id(raw).ok_or_else(|| {
            refused(
                ErrorCode::Img0066,
                format!("Image ID {raw:?} is incorrect."),
            )
        })?;
        if seen.insert(id.clone()) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The ID an organization target names: the last segment of a URN
/// (`organizations::<account>:ou:o-…/ou-…`) or a bare `o-…`, `r-…`, `ou-…`.
fn organization_id(target: &str) -> Option<String> {
    let id = match target.strip_prefix("organizations::") {
        Some(rest) => rest.rsplit([':', '/']).next()?,
        None => target,
    };
    let well_formed = ["o-", "r-", "ou-"].iter().any(|p| {
        id.strip_prefix(p).is_some_and(|tail| {
            !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
    }) && id.len() <= 128;
    well_formed.then(|| id.to_owned())
}

/// The targets of an add or delete, in order, without repeats: projects,
/// then accounts, then organization units. At most `BATCH_MAX` in all.
fn targets(req: &BatchMembersRequest) -> Result<(Vec<String>, Vec<NewMember>), Error> {
    let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
    let (projects, domains, organizations) = (
        list(&req.projects),
        list(&req.domains),
        list(&req.organizations),
    );
    let total = projects.len() + domains.len() + organizations.len();
    if total == 0 {
        return Err(Error::InvalidBody(
            "At least one of projects, domains or organizations must name a target.".into(),
        ));
    }
    // Huawei's console takes at most 100 projects per share operation; each
    // list is held to that.
    for (name, list) in [
        ("projects", &projects),
        ("domains", &domains),
        ("organizations", &organizations),
    ] {
        if list.len() > BATCH_MAX {
            return Err(Error::InvalidBody(format!(
                "{} {name}; at most {BATCH_MAX} per call.",
                list.len()
            )));
        }
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for p in &projects {
        if !ids::is_valid(p) {
            return Err(refused(ErrorCode::Img0067, ids::refusal("Project", p)));
        }
        if seen.insert(p.clone()) {
            out.push(p.clone());
        }
    }
    let mut others = Vec::new();
    for d in &domains {
        if !ids::is_valid(d) {
            return Err(refused(
                ErrorCode::Img0067,
                ids::refusal("Account (domain)", d),
            ));
        }
        if seen.insert(d.clone()) {
            others.push(NewMember {
                member_id: d.clone(),
                member_type: MemberType::Domain,
                urn: None,
            });
        }
    }
    for o in &organizations {
        if !ids::is_valid(o) {
            return Err(refused(ErrorCode::Img0001, ids::refusal("Organization", o)));
        }
        let id = organization_id(o).ok_or_else(|| {
            Error::InvalidBody(format!(
                "Organization {o:?} is neither an Organizations URN nor an o-, r- or ou- ID."
            ))
        })?;
        if seen.insert(id.clone()) {
            others.push(NewMember {
                member_id: id,
                member_type: MemberType::Organization,
                urn: o.starts_with("organizations::").then(|| o.clone()),
            });
        }
    }
    Ok((out, others))
}

impl Service {
    /// Batch add (`add = true`) or batch delete: checks the request whole,
    /// then records the job. Nothing is written when a check fails.
    pub async fn batch_share(
        &self,
        caller: &Caller,
        body: serde_json::Value,
        add: bool,
    ) -> Result<JobRecord, Error> {
        let project = writer_project(caller, if add { "add_member" } else { "delete_member" })?;
        let req: BatchMembersRequest = parse_body(body)?;
        let images = image_ids(&req.images)?;
        let (projects, others) = targets(&req)?;
        for id in &images {
            let image = self.visible_image(caller, id).await?.ok_or_else(|| {
                refused(ErrorCode::Img0027, format!("Image {id} does not exist."))
            })?;
            if !(caller.is_admin() || caller.in_project(&image.owner)) {
                return Err(refused(
                    ErrorCode::Img0047,
                    format!("Only the owner of image {id} may change its members."),
                ));
            }
            match image.visibility {
                Visibility::Shared => {}
                Visibility::Public => {
                    return Err(refused(
                        ErrorCode::Img0089,
                        format!("Image {id} is public; public images cannot be shared."),
                    ))
                }
                other => {
                    return Err(refused(
                        ErrorCode::Img0084,
                        format!(
                            "Image {id} is {}; only images with visibility shared have members.",
                            other.as_str()
                        ),
                    ))
                }
            }
            if add && image.is_windows() {
                return Err(refused(
                    ErrorCode::Img0105,
                    format!("Image {id} is a Windows image; Windows images cannot be shared."),
                ));
            }
            let own_account = caller
                .domain_id
                .as_ref()
                .filter(|_| caller.in_project(&image.owner));
            if add
                && (projects.contains(&image.owner)
                    || others.iter().any(|o| {
                        o.member_type == MemberType::Domain && Some(&o.member_id) == own_account
                    }))
            {
                return Err(Error::SelfShare);
            }
        }
        if add {
            for p in &projects {
                match self.check_project_exists(p).await {
                    Err(Error::UnknownProject(p)) => {
                        return Err(refused(
                            ErrorCode::Img0108,
                            format!(
                            "Project {p} does not exist: the identity service does not know it."
                        ),
                        ))
                    }
                    other => other?,
                }
            }
        }
        let job_type = if add {
            JobType::AddMembers
        } else {
            JobType::DeleteMembers
        };
        self.accept_job(
            project,
            job_type,
            JobRequest {
                images,
                projects,
                others,
                status: None,
                quota: self.member_quota,
                caller_domain: None,
                caller_organization_path: None,
            },
        )
        .await
    }

    /// Batch update: the member accepts or rejects images shared with it.
    pub async fn batch_update(
        &self,
        caller: &Caller,
        body: serde_json::Value,
    ) -> Result<JobRecord, Error> {
        let project = writer_project(caller, "modify_member")?;
        let req: BatchUpdateRequest = parse_body(body)?;
        if !ids::is_valid(&req.project_id) {
            return Err(refused(
                ErrorCode::Img0067,
                ids::refusal("Project", &req.project_id),
            ));
        }
        if !(caller.is_admin() || caller.in_project(&req.project_id)) {
            return Err(Error::ProjectMismatch(req.project_id));
        }
        let images = image_ids(&req.images)?;
        for id in &images {
            self.visible_image(caller, id).await?.ok_or_else(|| {
                refused(ErrorCode::Img0027, format!("Image {id} does not exist."))
            })?;
        }
        let status = match req.status {
            crate::api::huawei::BatchMemberStatus::Accepted => MemberStatus::Accepted,
            crate::api::huawei::BatchMemberStatus::Rejected => MemberStatus::Rejected,
        };
        self.accept_job(
            project,
            JobType::UpdateMembers,
            JobRequest {
                images,
                projects: vec![req.project_id],
                others: Vec::new(),
                status: Some(status),
                quota: None,
                caller_domain: caller.domain_id.clone(),
                caller_organization_path: caller.organization_path.clone(),
            },
        )
        .await
    }

    /// Commits the job, then wakes a runner.
    async fn accept_job(
        &self,
        project: String,
        job_type: JobType,
        request: JobRequest,
    ) -> Result<JobRecord, Error> {
        let job = JobRecord {
            id: uuid::Uuid::new_v4().simple().to_string(),
            project_id: project,
            job_type,
            status: JobStatus::Init,
            request,
            results: Vec::new(),
            images_done: 0,
            error_code: None,
            fail_reason: None,
            created_at: now_millis(),
            end_time: None,
        };
        self.store.create_job(job.clone()).await?;
        self.job_wakeup.notify_one();
        Ok(job)
    }

    /// A job, if the caller may see it: the project that asked for it, and
    /// admins. `path_project`: the project a `/v1/{project_id}/…` path names.
    pub async fn get_job(
        &self,
        caller: &Caller,
        path_project: Option<&str>,
        job_id: &str,
    ) -> Result<JobRecord, Error> {
        if let Some(p) = path_project {
            check_path_project(caller, p)?;
        }
        let not_found = || Error::JobNotFound(job_id.to_owned());
        let well_formed = job_id.len() == 32 && job_id.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Err(not_found());
        }
        let job = self
            .store
            .get_job(&job_id.to_ascii_lowercase())
            .await?
            .ok_or_else(not_found)?;
        if caller.is_admin() || caller.in_project(&job.project_id) {
            Ok(job)
        } else {
            Err(not_found())
        }
    }
}

impl Service {
    /// The member quota and how close the caller's images come to it: the
    /// most members any of them has.
    pub async fn member_quota_usage(&self, caller: &Caller) -> Result<(u64, Option<u64>), Error> {
        let Some(project) = &caller.project_id else {
            return Err(Error::PolicyDenied("get_quota"));
        };
        if !caller.can_read() {
            return Err(Error::PolicyDenied("get_quota"));
        }
        let used = self.store.max_members_per_image(project).await?;
        Ok((used, self.member_quota))
    }
}

/// `/v1/{project_id}/…`: the path project must be the caller's.
pub fn check_path_project(caller: &Caller, project: &str) -> Result<(), Error> {
    if caller.in_project(project) || (caller.is_admin() && caller.project_id.is_none()) {
        Ok(())
    } else {
        Err(Error::ProjectMismatch(project.to_owned()))
    }
}

/// One target of a job: (member_id, member_type, urn).
fn job_targets(request: &JobRequest) -> Vec<NewMember> {
    request
        .projects
        .iter()
        .map(|p| NewMember {
            member_id: p.clone(),
            member_type: MemberType::Project,
            urn: None,
        })
        .chain(request.others.iter().cloned())
        .collect()
}

/// What one image's step writes, from what the store found.
pub fn plan_step(
    job_type: JobType,
    request: &JobRequest,
    image_id: &str,
    input: &StepInput,
) -> StepPlan {
    let targets = job_targets(request);
    let item = |t: &NewMember, ok: bool, code: Option<&str>| JobItem {
        image_id: image_id.to_owned(),
        project_id: t.urn.clone().unwrap_or_else(|| t.member_id.clone()),
        ok,
        error_code: code.map(str::to_owned),
    };
    let fail_all = |code: &str, reason: String| StepPlan {
        results: targets.iter().map(|t| item(t, false, Some(code))).collect(),
        failure: Some((code.to_owned(), reason)),
        ..Default::default()
    };
    let Some(image) = &input.image else {
        return fail_all(
            item_codes::IMAGE_GONE,
            format!("Image {image_id} no longer exists."),
        );
    };
    if job_type != JobType::UpdateMembers && image.visibility != Visibility::Shared {
        return fail_all(
            item_codes::NOT_SHARED,
            format!("Image {image_id} is no longer shared."),
        );
    }
    if job_type == JobType::UpdateMembers {
        return plan_update(request, image_id, input, &targets, item);
    }
    let is_member = |t: &NewMember| {
        input
            .members
            .iter()
            .any(|m| m.member_id == t.member_id && m.member_type == t.member_type)
    };
    // Each item's own failure, if any.
    let mut failures: Vec<Option<(&str, String)>> = targets
        .iter()
        .map(|t| {
            let id = &t.member_id;
            match job_type {
                JobType::AddMembers if is_member(t) => Some((
                    item_codes::ALREADY_MEMBER,
                    format!("{id} is already a member of image {image_id}."),
                )),
                JobType::DeleteMembers if !is_member(t) => Some((
                    item_codes::NOT_MEMBER_DELETE,
                    format!("{id} is not a member of image {image_id}."),
                )),
                _ => None,
            }
        })
        .collect();
    if job_type == JobType::AddMembers {
        if let Some(max) = request.quota {
            let mut count = input.members.len() as u64;
            for failure in failures.iter_mut().filter(|f| f.is_none()) {
                count += 1;
                if count > max {
                    *failure = Some((
                        item_codes::QUOTA,
                        format!(
                            "Image member limit exceeded for image {image_id}: attempted \
                             {count}, maximum {max}."
                        ),
                    ));
                }
            }
        }
    }
    let first = failures.iter().flatten().next().cloned();
    let results = targets
        .iter()
        .zip(&failures)
        .map(|(t, f)| item(t, first.is_none(), f.as_ref().map(|(c, _)| *c)))
        .collect();
    if let Some((code, reason)) = first {
        return StepPlan {
            results,
            failure: Some((code.to_owned(), reason)),
            ..Default::default()
        };
    }
    let mut plan = StepPlan {
        results,
        ..Default::default()
    };
    match job_type {
        JobType::AddMembers => plan.add = targets,
        JobType::DeleteMembers => plan.remove = targets.into_iter().map(|t| t.member_id).collect(),
        JobType::UpdateMembers => unreachable!("planned above"),
    }
    plan
}

/// An update: the member's own project row, else the account or
/// organization share that covers it (the project's decision).
fn plan_update(
    request: &JobRequest,
    image_id: &str,
    input: &StepInput,
    targets: &[NewMember],
    item: impl Fn(&NewMember, bool, Option<&str>) -> JobItem,
) -> StepPlan {
    let status = request.status.unwrap_or(MemberStatus::Accepted);
    let mut plan = StepPlan::default();
    for t in targets {
        let project = &t.member_id;
        let direct = input
            .members
            .iter()
            .any(|m| m.member_type == MemberType::Project && m.member_id == *project);
        let member = Caller {
            project_id: Some(project.clone()),
            user_id: String::new(),
            domain_id: request.caller_domain.clone(),
            organization_path: request.caller_organization_path.clone(),
            roles: Vec::new(),
        };
        let covering = input
            .members
            .iter()
            .find(|m| m.member_type != MemberType::Project && member.covered_by(m));
        if direct {
            plan.set_status.push((project.clone(), status));
        } else if let Some(share) = covering {
            plan.decide
                .push((share.member_id.clone(), project.clone(), status));
        } else {
            plan.results = targets
                .iter()
                .map(|x| item(x, false, (x == t).then_some(item_codes::NOT_MEMBER_UPDATE)))
                .collect();
            plan.failure = Some((
                item_codes::NOT_MEMBER_UPDATE.to_owned(),
                format!("Project {project} is not a member of image {image_id}."),
            ));
            plan.set_status.clear();
            plan.decide.clear();
            return plan;
        }
    }
    plan.results = targets.iter().map(|t| item(t, true, None)).collect();
    plan
}

/// Stops the runners: set to `true`, then await the handles.
pub struct Runners {
    stop: watch::Sender<bool>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Runners {
    /// Starts `settings.runners` runners on this server's store.
    pub fn start(service: Service, settings: JobSettings) -> Runners {
        let (stop, stop_rx) = watch::channel(false);
        let server = uuid::Uuid::new_v4().simple().to_string();
        let handles = (0..settings.runners.max(1))
            .map(|n| {
                let runner = Runner {
                    service: service.clone(),
                    worker: format!("{server}-{n}"),
                    settings: settings.clone(),
                    stop: stop_rx.clone(),
                };
                tokio::spawn(runner.run(n == 0))
            })
            .collect();
        Runners { stop, handles }
    }

    /// Lets each runner finish its current step, then stops them. A job
    /// left half done resumes at the next start (or on another replica).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}

struct Runner {
    service: Service,
    worker: String,
    settings: JobSettings,
    stop: watch::Receiver<bool>,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Runner {
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    async fn run(mut self, prunes: bool) {
        // Prune (and sweep dead uploads) once a minute, or more often when
        // jobs are kept less than ten minutes or uploads go stale sooner.
        let mut every = self.settings.retention / 10;
        if self.settings.sweep_image_data {
            every = every.min(self.service.upload_stale);
        }
        let every = every.clamp(Duration::from_secs(1), Duration::from_secs(60));
        let mut last_prune: Option<std::time::Instant> = None;
        while !self.stopping() {
            if prunes && last_prune.is_none_or(|t| t.elapsed() >= every) {
                last_prune = Some(std::time::Instant::now());
                self.prune().await;
                if self.settings.sweep_image_data {
                    if let Err(e) = self.service.sweep_dead_uploads().await {
                        tracing::warn!(error = %e, "cannot clean up dead uploads");
                    }
                }
            }
            let now = now_millis();
            let claimed = self
                .service
                .store
                .claim_job(&self.worker, now, now + millis(self.settings.lease))
                .await;
            match claimed {
                Ok(Some(job)) => {
                    self.run_job(job).await;
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot claim a job; retrying"),
            }
            let wakeup = Arc::clone(&self.service.job_wakeup);
            tokio::select! {
                _ = wakeup.notified() => {}
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = self.stop.changed() => {}
            }
        }
    }

    async fn run_job(&self, mut job: JobRecord) {
        tracing::info!(job_id = %job.id, job_type = job.job_type.as_str(),
            images = job.request.images.len(), from = job.images_done, "running job");
        let mut failures = 0u32;
        while !job.status.is_finished() {
            if self.stopping() {
                return;
            }
            let index = job.images_done;
            let Some(image_id) = job.request.images.get(index as usize).cloned() else {
                tracing::error!(job_id = %job.id, index, "job index past its images");
                return;
            };
            let (job_type, request) = (job.job_type, job.request.clone());
            let planner =
                Box::new(move |input: &StepInput| plan_step(job_type, &request, &image_id, input));
            let now = now_millis();
            match self
                .service
                .store
                .run_job_step(
                    &self.worker,
                    &job.id,
                    index,
                    planner,
                    now,
                    now + millis(self.settings.lease),
                )
                .await
            {
                Ok(next) => {
                    failures = 0;
                    job = next;
                }
                Err(StoreError::NotFound) => {
                    tracing::warn!(job_id = %job.id, "job lease lost; another runner has it");
                    return;
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(job_id = %job.id, error = %e, failures, "job step failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50 << failures.min(6))).await;
                }
            }
        }
        tracing::info!(job_id = %job.id, status = job.status.as_str(), "job finished");
    }

    async fn prune(&self) {
        let before = now_millis() - millis(self.settings.retention);
        loop {
            match self.service.store.prune_jobs(before, 500).await {
                Ok(n) if n == 500 && !self.stopping() => tokio::task::yield_now().await,
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(removed = n, "pruned finished jobs");
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot prune jobs");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{ImageRecord, MemberRecord};

    fn image(visibility: Visibility) -> ImageRecord {
        ImageRecord {
            id: "i".into(),
            name: None,
            status: "queued".into(),
            visibility,
            owner: "owner".into(),
            protected: false,
            os_hidden: false,
            disk_format: None,
            container_format: None,
            min_disk: 0,
            min_ram: 0,
            tags: vec![],
            properties: Default::default(),
            created_at: 0,
            updated_at: 0,
            size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
        }
    }

    fn member(p: &str) -> MemberRecord {
        MemberRecord {
            image_id: "i".into(),
            member_id: p.into(),
            status: MemberStatus::Pending,
            created_at: 0,
            updated_at: 0,
            member_type: MemberType::Project,
            urn: None,
        }
    }

    fn request(projects: &[&str], quota: Option<u64>) -> JobRequest {
        JobRequest {
            images: vec!["i".into()],
            projects: projects.iter().map(|p| p.to_string()).collect(),
            others: Vec::new(),
            status: None,
            quota,
            caller_domain: None,
            caller_organization_path: None,
        }
    }

    #[test]
    fn add_applies_every_item_when_all_can_be_done() {
        let input = StepInput {
            image: Some(image(Visibility::Shared)),
            members: vec![member("a")],
        };
        let plan = plan_step(
            JobType::AddMembers,
            &request(&["b", "c"], Some(3)),
            "i",
            &input,
        );
        let added: Vec<_> = plan.add.iter().map(|m| m.member_id.as_str()).collect();
        assert_eq!(added, ["b", "c"]);
        assert!(plan.failure.is_none());
        assert!(plan.results.iter().all(|r| r.ok && r.error_code.is_none()));
    }

    #[test]
    fn add_is_all_or_nothing_per_image() {
        // Quota 2 with one member: "b" fits, "c" does not; "a" is a member.
        let input = StepInput {
            image: Some(image(Visibility::Shared)),
            members: vec![member("a")],
        };
        let plan = plan_step(
            JobType::AddMembers,
            &request(&["b", "a", "c"], Some(2)),
            "i",
            &input,
        );
        assert!(plan.add.is_empty(), "nothing of a failed image is written");
        let codes: Vec<_> = plan
            .results
            .iter()
            .map(|r| (r.ok, r.error_code.as_deref()))
            .collect();
        assert_eq!(
            codes,
            [
                (false, None),
                (false, Some("IMG.0112")),
                (false, Some("IMG.0088"))
            ]
        );
        assert_eq!(plan.failure.unwrap().0, "IMG.0112");
    }

    #[test]
    fn delete_and_update_need_existing_members() {
        let input = StepInput {
            image: Some(image(Visibility::Shared)),
            members: vec![member("a")],
        };
        let plan = plan_step(JobType::DeleteMembers, &request(&["a"], None), "i", &input);
        assert_eq!(plan.remove, ["a"]);
        let plan = plan_step(
            JobType::DeleteMembers,
            &request(&["a", "z"], None),
            "i",
            &input,
        );
        assert!(plan.remove.is_empty());
        assert_eq!(plan.failure.unwrap().0, "IMG.0113");
        let mut update = request(&["z"], None);
        update.status = Some(MemberStatus::Accepted);
        let plan = plan_step(JobType::UpdateMembers, &update, "i", &input);
        assert_eq!(plan.failure.unwrap().0, "IMG.0114");
        update.projects = vec!["a".into()];
        let plan = plan_step(JobType::UpdateMembers, &update, "i", &input);
        assert_eq!(plan.set_status, [("a".to_string(), MemberStatus::Accepted)]);
    }

    #[test]
    fn organization_targets_are_urns_or_bare_ids() {
        assert_eq!(
            organization_id("organizations::0a1b:ou:o-abc123/ou-def456").as_deref(),
            Some("ou-def456")
        );
        assert_eq!(
            organization_id("organizations::0a1b:organization:o-abc123").as_deref(),
            Some("o-abc123")
        );
        assert_eq!(
            organization_id("organizations::0a1b:root:o-abc123/r-xyz").as_deref(),
            Some("r-xyz")
        );
        assert_eq!(organization_id("ou-def456").as_deref(), Some("ou-def456"));
        for bad in ["", "ou-", "x-1", "ou-a b", "organizations::a:ou:"] {
            assert_eq!(organization_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn accounts_and_units_are_members_of_their_own_kind() {
        let mut domain_row = member("dom-1");
        domain_row.member_type = MemberType::Domain;
        let input = StepInput {
            image: Some(image(Visibility::Shared)),
            members: vec![member("dom-1")],
        };
        // A project named like an account is not that account.
        let mut req = request(&[], Some(5));
        req.others = vec![NewMember {
            member_id: "dom-1".into(),
            member_type: MemberType::Domain,
            urn: None,
        }];
        let plan = plan_step(JobType::AddMembers, &req, "i", &input);
        assert_eq!(plan.add.len(), 1);
        let input = StepInput {
            image: Some(image(Visibility::Shared)),
            members: vec![domain_row],
        };
        let plan = plan_step(JobType::AddMembers, &req, "i", &input);
        assert_eq!(plan.failure.unwrap().0, "IMG.0112");
        // Project p in dom-1 accepts: a decision on the account's share.
        let mut update = request(&["p"], None);
        update.status = Some(MemberStatus::Accepted);
        update.caller_domain = Some("dom-1".into());
        let plan = plan_step(JobType::UpdateMembers, &update, "i", &input);
        assert_eq!(
            plan.decide,
            [("dom-1".to_string(), "p".to_string(), MemberStatus::Accepted)]
        );
        assert!(plan.set_status.is_empty() && plan.failure.is_none());
        // Outside the account: not a member.
        update.caller_domain = Some("dom-2".into());
        let plan = plan_step(JobType::UpdateMembers, &update, "i", &input);
        assert_eq!(plan.failure.unwrap().0, "IMG.0114");
        assert!(plan.decide.is_empty());
    }

    #[test]
    fn a_vanished_or_unshared_image_fails_its_items() {
        let gone = StepInput {
            image: None,
            members: vec![],
        };
        let plan = plan_step(JobType::AddMembers, &request(&["b"], None), "i", &gone);
        assert_eq!(plan.failure.unwrap().0, "IMG.0027");
        let private = StepInput {
            image: Some(image(Visibility::Private)),
            members: vec![],
        };
        let plan = plan_step(JobType::AddMembers, &request(&["b"], None), "i", &private);
        assert_eq!(plan.failure.unwrap().0, "IMG.0084");
        assert!(plan.add.is_empty());
    }
}
