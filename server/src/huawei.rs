//! Handlers of Huawei IMS's own API (`api/huawei.rs`): as thin as the native
//! ones in `http.rs`, which delegates each trait method here.

use dropshot::{HttpResponseOk, RequestContext};
use uuid::Uuid;

use crate::api::huawei::{
    CloudImageListQuery, CloudImages, CloudPageInfo, ImageType, Job, JobCreated, JobEntities,
    JobResult, QuotaResource, QuotaResources, Quotas, V1Member, V1MemberListQuery, V1Members,
};
use crate::api::{ImageListQuery, JobReply, PageInfo};
use crate::domain::jobs::check_path_project;
use crate::domain::model::{to_datetime, ImageKind, JobRecord, MemberRecord, Visibility};
use crate::error::Error;
use crate::http::{image_view, list_params, AppState, Call};
use crate::reply::{JsonBody, LenientQuery, Reply};

/// Default page of the v1 member list (Huawei's).
const V1_DEFAULT_PAGE: u32 = 500;

/// `/v1/{project_id}/…` routes that stand for `/v1/cloudimages/…` answer
/// only under that name.
fn cloudimages(segment: &str) -> Result<(), Error> {
    if segment == "cloudimages" {
        Ok(())
    } else {
        Err(Error::UnknownPath)
    }
}

fn millis_time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(crate) fn job_view(job: JobRecord) -> Job {
    let total = job.request.images.len().max(1) as f64;
    let failed = job.status == crate::domain::model::JobStatus::Fail;
    Job {
        status: job.status,
        job_type: job.job_type,
        begin_time: millis_time(job.created_at),
        end_time: job.end_time.map(millis_time),
        // The first failure is recorded when its image's step runs, but the
        // job has not failed until it ends.
        error_code: job.error_code.filter(|_| failed),
        fail_reason: job.fail_reason.filter(|_| failed),
        entities: JobEntities {
            results: job
                .results
                .into_iter()
                .map(|r| JobResult {
                    image_id: r.image_id,
                    project_id: r.project_id,
                    status: if r.ok { "success" } else { "fail" }.into(),
                    error_code: r.error_code,
                })
                .collect(),
            process_percent: f64::from(job.images_done) / total,
        },
        job_id: job.id,
    }
}

fn v1_member_view(m: &MemberRecord) -> V1Member {
    V1Member {
        status: m.status,
        created_at: to_datetime(m.created_at),
        updated_at: to_datetime(m.updated_at),
        image_id: Uuid::parse_str(&m.image_id).unwrap_or_default(),
        member_id: m.member_id.clone(),
        schema: "/v2/schemas/member".into(),
        member_type: m.member_type,
        urn: m.urn.clone(),
    }
}

/// Batch add (`add`) or delete.
pub(crate) async fn batch_share<T>(
    rqctx: &RequestContext<AppState>,
    segment: &str,
    body: &JsonBody<T>,
    add: bool,
) -> JobReply {
    let call = Call::new(rqctx);
    let result = async {
        cloudimages(segment)?;
        let caller = call.caller_with_body(body).await?;
        let job = call
            .service()
            .batch_share(&caller, body.json()?, add)
            .await?;
        Ok(HttpResponseOk(JobCreated { job_id: job.id }))
    }
    .await;
    call.finish(result)
}

pub(crate) async fn batch_update<T>(
    rqctx: &RequestContext<AppState>,
    segment: &str,
    body: &JsonBody<T>,
) -> JobReply {
    let call = Call::new(rqctx);
    let result = async {
        cloudimages(segment)?;
        let caller = call.caller_with_body(body).await?;
        let job = call.service().batch_update(&caller, body.json()?).await?;
        Ok(HttpResponseOk(JobCreated { job_id: job.id }))
    }
    .await;
    call.finish(result)
}

/// `show_job` (`path_project` = the path's project) and `show_job_progress`
/// (`segment` must be `cloudimages`).
pub(crate) async fn show_job(
    rqctx: &RequestContext<AppState>,
    segment: Option<&str>,
    path_project: Option<&str>,
    job_id: &str,
) -> Reply<HttpResponseOk<Job>> {
    let call = Call::new(rqctx);
    let result = async {
        if let Some(s) = segment {
            cloudimages(s)?;
        }
        let caller = call.caller_without_body().await?;
        let job = call
            .service()
            .get_job(&caller, path_project, job_id)
            .await?;
        Ok(HttpResponseOk(job_view(job)))
    }
    .await;
    call.finish(result)
}

pub(crate) async fn show_quota(
    rqctx: &RequestContext<AppState>,
    segment: &str,
) -> Reply<HttpResponseOk<Quotas>> {
    let call = Call::new(rqctx);
    let result = async {
        cloudimages(segment)?;
        let caller = call.caller_without_body().await?;
        let (used, quota) = call.service().member_quota_usage(&caller).await?;
        let quota = quota.map_or(-1, |q| i64::try_from(q).unwrap_or(i64::MAX));
        Ok(HttpResponseOk(Quotas {
            quotas: QuotaResources {
                resources: vec![QuotaResource {
                    type_: "image_member".into(),
                    used: i64::try_from(used).unwrap_or(i64::MAX),
                    quota,
                    min: 1,
                    max: quota,
                }],
            },
        }))
    }
    .await;
    call.finish(result)
}

pub(crate) async fn list_members(
    rqctx: &RequestContext<AppState>,
    project: &str,
    image_id: &str,
    query: LenientQuery<V1MemberListQuery>,
) -> Reply<HttpResponseOk<V1Members>> {
    let call = Call::new(rqctx);
    let result = async {
        let caller = call.caller_without_body().await?;
        check_path_project(&caller, project)?;
        let q = query.into_inner()?;
        let (rows, next_marker) = call
            .service()
            .list_members(
                &caller,
                image_id,
                Some(q.limit.unwrap_or(V1_DEFAULT_PAGE)),
                q.marker.as_deref(),
            )
            .await?;
        Ok(HttpResponseOk(V1Members {
            page_info: PageInfo {
                next_marker,
                current_count: rows.len() as u32,
            },
            members: rows.iter().map(v1_member_view).collect(),
            schema: "/v2/schemas/members".into(),
        }))
    }
    .await;
    call.finish(result)
}

pub(crate) async fn show_member(
    rqctx: &RequestContext<AppState>,
    project: &str,
    image_id: &str,
    member_id: &str,
) -> Reply<HttpResponseOk<V1Member>> {
    let call = Call::new(rqctx);
    let result = async {
        let caller = call.caller_without_body().await?;
        check_path_project(&caller, project)?;
        let row = call
            .service()
            .get_member(&caller, image_id, member_id)
            .await?;
        Ok(HttpResponseOk(v1_member_view(&row)))
    }
    .await;
    call.finish(result)
}

pub(crate) async fn list_cloud_images(
    rqctx: &RequestContext<AppState>,
    query: LenientQuery<CloudImageListQuery>,
) -> Reply<HttpResponseOk<CloudImages>> {
    let call = Call::new(rqctx);
    let result = async {
        let caller = call.caller_without_body().await?;
        let q = query.into_inner()?;
        let mut params = list_params(ImageListQuery {
            limit: q.limit,
            marker: q.marker,
            visibility: q.visibility,
            member_status: q.member_status,
            owner: q.owner,
            name: q.name,
            status: q.status,
        });
        params.kind = q.imagetype.map(|t| match t {
            ImageType::Gold => ImageKind::Gold,
            ImageType::Private => ImageKind::Private,
            ImageType::Shared => ImageKind::Shared,
        });
        let (page, limit) = call.service().list_images(&caller, &params).await?;
        let next_marker = (page.len() as u32 == limit)
            .then(|| page.last().map(|i| i.id.clone()))
            .flatten();
        let images = page
            .into_iter()
            .map(|i| {
                let kind = if i.visibility == Visibility::Public {
                    "gold"
                } else if caller.in_project(&i.owner) {
                    "private"
                } else {
                    "shared"
                };
                let mut view = image_view(i);
                view.properties.insert("__imagetype".into(), kind.into());
                view
            })
            .collect::<Vec<_>>();
        Ok(HttpResponseOk(CloudImages {
            page_info: CloudPageInfo {
                next_marker,
                current_count: images.len() as u32,
            },
            images,
        }))
    }
    .await;
    call.finish(result)
}
