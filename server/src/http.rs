//! The trait's implementation: thin handlers. Each one authenticates, reads
//! its input, calls the domain and maps the result; `Call` does the shared
//! parts (request ID, 401, access log).

use std::sync::OnceLock;
use std::time::Instant;

use dropshot::{
    Body, HttpCodedResponse, HttpResponseCreated, HttpResponseDeleted, HttpResponseOk,
    HttpResponseUpdatedNoContent, Path, RequestContext, StreamingBody,
};
use futures::StreamExt;
use http::{HeaderValue, Response};
use uuid::Uuid;

use crate::api::huawei::{
    BatchMembersRequest, BatchUpdateRequest, CloudImageListQuery, CloudImages, CloudImagesJobPath,
    CloudImagesPath, ImageDeleteBody, Job, ProjectImagePath, ProjectJobPath, ProjectMemberPath,
    Quotas, V1Member, V1MemberListQuery, V1Members,
};
use crate::api::JobReply;
use crate::api::{
    ApiError, ApiVersion, AuthHeaders, DeletedReply, Image, ImageCreate, ImageFields,
    ImageListQuery, ImagePatchOperation, ImagePath, ImageReply, ImageStatus, Images, ImgshareApi,
    Member, MemberCreate, MemberListQuery, MemberPath, MemberReply, MemberStatusParam,
    MemberUpdate, Members, MembersReply, PageInfo, SchemaReply, TagPath, VersionLink, Versions,
    VisibilityParam,
};
use crate::auth::{aksk, Credentials, Identity};
use crate::domain::data::parse_range;
use crate::domain::images::{parse_patch, ListParams, NewImage};
use crate::domain::members::{parse_member_body, parse_status_body};
use crate::domain::model::{
    to_datetime, Caller, ImageRecord, MemberRecord, MemberStatus, MemberStatusFilter, Visibility,
    VisibilityFilter,
};
use crate::domain::Service;
use crate::error::Error;
use crate::huawei;
use crate::metrics::{InFlight, Metrics, Operations};
use crate::reply::{
    has_body, request_id, CreatedHeaders, DataResponse, Headers, HealthResponse, JsonBody,
    LenientQuery, OptionalJsonBody, Reply,
};

/// Server-wide state handed to every handler.
pub struct AppState {
    pub service: Service,
    pub identity: Identity,
    pub schemas: Schemas,
    /// Base URL for absolute links (`--public-url`); `None`: from `Host`.
    pub public_url: Option<String>,
    pub health: crate::health::Health,
    pub metrics: Metrics,
    /// Every endpoint's route template and counters, by operationId.
    pub operations: Operations,
}

/// Glance's JSON schemas, served as they are.
pub struct Schemas {
    pub image: serde_json::Value,
    pub images: serde_json::Value,
    pub member: serde_json::Value,
    pub members: serde_json::Value,
}

impl Schemas {
    pub fn load() -> Result<Self, String> {
        let parse = |name: &str, text: &str| {
            serde_json::from_str(text).map_err(|e| format!("embedded schema {name}: {e}"))
        };
        Ok(Schemas {
            image: parse("image", include_str!("../schemas/image.json"))?,
            images: parse("images", include_str!("../schemas/images.json"))?,
            member: parse("member", include_str!("../schemas/member.json"))?,
            members: parse("members", include_str!("../schemas/members.json"))?,
        })
    }
}

/// A header value as an error message may quote it: at most 64 characters.
fn shown(value: &str) -> String {
    value.chars().take(64).collect()
}

/// Media types a PATCH body may be sent as.
const PATCH_MEDIA_TYPES: &[&str] = &[
    "application/openstack-images-v2.1-json-patch",
    "application/json",
];

pub enum ImgshareImpl {}

/// One request in flight: its ID, its caller, and what the access log and
/// the metrics need.
pub(crate) struct Call<'a> {
    rqctx: &'a RequestContext<AppState>,
    pub(crate) request_id: String,
    started: Instant,
    /// The caller's project, once authenticated (for the access log).
    project: OnceLock<Option<String>>,
    _in_flight: InFlight<'a>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(rqctx: &'a RequestContext<AppState>) -> Self {
        Call {
            rqctx,
            request_id: request_id(rqctx),
            started: Instant::now(),
            project: OnceLock::new(),
            _in_flight: rqctx.context().metrics.in_flight(),
        }
    }

    pub(crate) fn service(&self) -> &'a Service {
        &self.rqctx.context().service
    }

    /// The caller, from whatever credentials the request carries (see
    /// `auth/`), or 401/403/503. `body`: the bytes a signature covers.
    pub(crate) async fn caller(&self, body: &[u8]) -> Result<Caller, Error> {
        let request = &self.rqctx.request;
        let caller = self
            .rqctx
            .context()
            .identity
            .authenticate(&Credentials {
                method: request.method(),
                uri: request.uri(),
                headers: request.headers(),
                body,
            })
            .await?;
        let _ = self.project.set(caller.project_id.clone());
        Ok(caller)
    }

    fn is_signed(&self) -> bool {
        self.rqctx
            .request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(aksk::is_signature)
    }

    /// The caller of a call with a JSON body.
    pub(crate) async fn caller_with_body<T>(&self, body: &JsonBody<T>) -> Result<Caller, Error> {
        match body.bytes() {
            Ok(bytes) => self.caller(bytes).await,
            // A signature over a body we did not read cannot be checked:
            // say what is wrong with the body instead of "bad signature".
            Err(e) if self.is_signed() => Err(e),
            Err(_) => self.caller(&[]).await,
        }
    }

    /// The caller of a GET/DELETE, which must not carry a body (Glance: 400).
    pub(crate) async fn caller_without_body(&self) -> Result<Caller, Error> {
        let with_body = has_body(self.rqctx);
        // These calls never read a body, so a signature over one cannot be
        // checked: the body is the error.
        if with_body && self.is_signed() {
            return Err(Error::BodyNotExpected);
        }
        let caller = self.caller(&[]).await?;
        if with_body {
            return Err(Error::BodyNotExpected);
        }
        Ok(caller)
    }

    /// The caller of a PATCH, whose body must be a JSON patch.
    async fn caller_with_patch<T>(&self, body: &JsonBody<T>) -> Result<Caller, Error> {
        let caller = self.caller_with_body(body).await?;
        let ct = self
            .rqctx
            .request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json");
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !PATCH_MEDIA_TYPES.contains(&essence.as_str()) {
            return Err(Error::UnsupportedMediaType(
                shown(ct),
                "application/openstack-images-v2.1-json-patch",
            ));
        }
        Ok(caller)
    }

    fn versions(&self) -> Versions {
        versions_document(self.rqctx)
    }

    pub(crate) fn finish<R: HttpCodedResponse>(self, result: Result<R, Error>) -> Reply<R> {
        let reply = Reply::new(&self.request_id, result);
        self.done(reply)
    }

    fn finish_with<R: HttpCodedResponse, H>(self, result: Result<(R, H), Error>) -> Reply<R, H> {
        let reply = match result {
            Ok((r, h)) => Reply::with_headers(r, h),
            Err(e) => Reply::error(&self.request_id, &e),
        };
        self.done(reply)
    }

    /// Every 401 names where to get a token (`WWW-Authenticate: Keystone
    /// uri=…`, as keystonemiddleware sends it); then the access log.
    fn done<R: HttpCodedResponse, H>(self, mut reply: Reply<R, H>) -> Reply<R, H> {
        let status = reply.status();
        if status == http::StatusCode::UNAUTHORIZED {
            if let Some(v) = self.rqctx.context().identity.www_authenticate() {
                reply.add_error_header(http::header::WWW_AUTHENTICATE, v.clone());
            }
        }
        self.log(status);
        reply
    }

    pub(crate) fn log(&self, status: http::StatusCode) {
        let project = self.project.get().and_then(|p| p.as_deref());
        observe(self.rqctx, &self.request_id, self.started, status, project);
    }
}

/// The access log line and the request metrics of one answered request.
/// The route is the endpoint's template (`/v2/images/{image_id}/members`),
/// never the raw path: IDs stay out of logs and label values.
pub(crate) fn observe(
    rqctx: &RequestContext<AppState>,
    request_id: &str,
    started: Instant,
    status: http::StatusCode,
    project: Option<&str>,
) {
    let state = rqctx.context();
    let took = started.elapsed();
    let name = rqctx.endpoint.operation_id.as_str();
    let op = state.operations.get(name);
    state
        .metrics
        .observe_request(op, name, status.as_u16(), took);
    tracing::info!(
        target: "imgshare::access",
        request_id,
        x_request_id = %rqctx.request_id,
        method = %rqctx.request.method(),
        route = op.map_or("unknown", |o| o.route.as_str()),
        operation = name,
        status = status.as_u16(),
        latency_us = took.as_micros() as u64,
        project = project.unwrap_or("-"),
    );
}

/// `rsp`, after the access log line and metrics for it (the unpublished
/// endpoints: HEAD mirrors of documents, OPTIONS, 405s, 404s).
pub(crate) fn answered(
    rqctx: &RequestContext<AppState>,
    started: Instant,
    rsp: Response<Body>,
) -> Response<Body> {
    let request_id = rsp
        .headers()
        .get(crate::reply::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| request_id(rqctx));
    observe(rqctx, &request_id, started, rsp.status(), None);
    rsp
}

/// A response for image data; the caller adds the headers.
fn data_response(status: http::StatusCode, body: Body) -> Response<Body> {
    let mut rsp = Response::new(body);
    *rsp.status_mut() = status;
    rsp
}

/// `len` bytes of `file` from `start`, streamed.
async fn file_body(mut file: tokio::fs::File, start: u64, len: u64) -> Result<Body, Error> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(|e| Error::Unavailable(format!("image store: {e}")))?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 * 1024)
        .map(|chunk| chunk.map(http_body::Frame::data));
    Ok(Body::wrap(http_body_util::StreamBody::new(stream)))
}

/// `--public-url`, else `http://<Host>`: the root of absolute links.
fn base_url(rqctx: &RequestContext<AppState>) -> String {
    if let Some(u) = &rqctx.context().public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let host = rqctx
        .request
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| rqctx.request.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| rqctx.server.local_addr.to_string());
    let scheme = if rqctx.server.using_tls() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// The version-discovery document (also what Glance answers on unknown
/// unversioned paths).
pub(crate) fn versions_document(rqctx: &RequestContext<AppState>) -> Versions {
    let href = format!("{}/v2/", base_url(rqctx));
    let version = |id: &str, status: &str| ApiVersion {
        id: id.into(),
        status: status.into(),
        links: vec![VersionLink {
            rel: "self".into(),
            href: href.clone(),
        }],
    };
    Versions {
        versions: vec![version("v2.5", "CURRENT"), version("v2.0", "SUPPORTED")],
    }
}

pub(crate) fn member_view(m: &MemberRecord) -> Member {
    Member {
        status: m.status,
        created_at: to_datetime(m.created_at),
        updated_at: to_datetime(m.updated_at),
        image_id: Uuid::parse_str(&m.image_id).unwrap_or_default(),
        member_id: m.member_id.clone(),
        schema: "/v2/schemas/member".into(),
    }
}

pub(crate) fn image_view(i: ImageRecord) -> Image {
    let status = match i.status.as_str() {
        "saving" => ImageStatus::Saving,
        "active" => ImageStatus::Active,
        "killed" => ImageStatus::Killed,
        "deleted" => ImageStatus::Deleted,
        "uploading" => ImageStatus::Uploading,
        "importing" => ImageStatus::Importing,
        "pending_delete" => ImageStatus::PendingDelete,
        "deactivated" => ImageStatus::Deactivated,
        _ => ImageStatus::Queued,
    };
    let fields = ImageFields {
        id: Uuid::parse_str(&i.id).unwrap_or_default(),
        self_: format!("/v2/images/{}", i.id),
        file: format!("/v2/images/{}/file", i.id),
        schema: "/v2/schemas/image".into(),
        name: i.name,
        status,
        visibility: i.visibility,
        owner: i.owner,
        protected: i.protected,
        os_hidden: i.os_hidden,
        disk_format: i.disk_format,
        container_format: i.container_format,
        min_disk: i.min_disk,
        min_ram: i.min_ram,
        size: i.size,
        virtual_size: None,
        checksum: i.checksum,
        os_hash_algo: i.os_hash_algo,
        os_hash_value: i.os_hash_value,
        tags: i.tags,
        created_at: to_datetime(i.created_at),
        updated_at: to_datetime(i.updated_at),
    };
    Image {
        fields,
        properties: i.properties,
    }
}

pub(crate) fn list_params(q: ImageListQuery) -> ListParams {
    ListParams {
        kind: None,
        limit: q.limit,
        marker: q.marker,
        visibility: q.visibility.map(|v| match v {
            VisibilityParam::Public => VisibilityFilter::Only(Visibility::Public),
            VisibilityParam::Private => VisibilityFilter::Only(Visibility::Private),
            VisibilityParam::Shared => VisibilityFilter::Only(Visibility::Shared),
            VisibilityParam::Community => VisibilityFilter::Only(Visibility::Community),
            VisibilityParam::All => VisibilityFilter::All,
        }),
        member_status: q.member_status.map(|s| match s {
            MemberStatusParam::Pending => MemberStatusFilter::Only(MemberStatus::Pending),
            MemberStatusParam::Accepted => MemberStatusFilter::Only(MemberStatus::Accepted),
            MemberStatusParam::Rejected => MemberStatusFilter::Only(MemberStatus::Rejected),
            MemberStatusParam::All => MemberStatusFilter::All,
        }),
        owner: q.owner,
        name: q.name,
        status: q
            .status
            .and_then(|s| serde_json::to_value(s).ok()?.as_str().map(String::from)),
    }
}

/// `/v2/images?<the same query, marker replaced>`: the next page's link.
fn next_link(raw_query: Option<&str>, marker: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(raw_query.unwrap_or("").as_bytes()) {
        if k != "marker" {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair("marker", marker);
    format!("/v2/images?{}", out.finish())
}

fn new_image(body: &JsonBody<ImageCreate>) -> Result<NewImage, Error> {
    let value = body.json()?;
    if !value.is_object() {
        return Err(Error::InvalidBody("Expected an image object.".into()));
    }
    let ImageCreate {
        fields: c,
        properties,
    } = serde_json::from_value(value)
        .map_err(|e| Error::InvalidBody(format!("Invalid image: {e}")))?;
    Ok(NewImage {
        id: c.id.map(|u| u.to_string()),
        name: c.name,
        visibility: c.visibility,
        protected: c.protected,
        os_hidden: c.os_hidden,
        disk_format: c.disk_format,
        container_format: c.container_format,
        min_disk: c.min_disk,
        min_ram: c.min_ram,
        tags: c.tags,
        properties,
    })
}

impl ImgshareApi for ImgshareImpl {
    type Context = AppState;

    async fn get_root(
        rqctx: RequestContext<AppState>,
    ) -> Result<Reply<HttpResponseOk<Versions>>, ApiError> {
        let call = Call::new(&rqctx);
        let versions = call.versions();
        Ok(call.finish(Ok(HttpResponseOk(versions))))
    }

    async fn list_versions(
        rqctx: RequestContext<AppState>,
    ) -> Result<Reply<HttpResponseOk<Versions>>, ApiError> {
        let call = Call::new(&rqctx);
        let versions = call.versions();
        Ok(call.finish(Ok(HttpResponseOk(versions))))
    }

    async fn healthcheck(rqctx: RequestContext<AppState>) -> Result<HealthResponse, ApiError> {
        let call = Call::new(&rqctx);
        let report = rqctx.context().health.report().await;
        let mut rsp =
            crate::health::response(&report, crate::health::wants_json(rqctx.request.headers()));
        if let Ok(v) = HeaderValue::from_str(&call.request_id) {
            rsp.headers_mut().insert(crate::reply::REQUEST_ID_HEADER, v);
        }
        call.log(rsp.status());
        Ok(HealthResponse(rsp))
    }

    async fn update_image(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<ImagePath>,
        body: JsonBody<Vec<ImagePatchOperation>>,
    ) -> Result<ImageReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_with_patch(&body).await?;
            let ops = parse_patch(&body.json()?)?;
            let image = call
                .service()
                .patch_image(&caller, &path.into_inner().image_id, ops)
                .await?;
            Ok(HttpResponseOk(image_view(image)))
        }
        .await;
        Ok(call.finish(result))
    }

    async fn add_image_tag(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<TagPath>,
    ) -> Result<Reply<HttpResponseUpdatedNoContent>, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_without_body().await?;
            let p = path.into_inner();
            call.service().add_tag(&caller, &p.image_id, &p.tag).await?;
            Ok(HttpResponseUpdatedNoContent())
        }
        .await;
        Ok(call.finish(result))
    }

    async fn delete_image_tag(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<TagPath>,
    ) -> Result<DeletedReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_without_body().await?;
            let p = path.into_inner();
            call.service()
                .delete_tag(&caller, &p.image_id, &p.tag)
                .await?;
            Ok(HttpResponseDeleted())
        }
        .await;
        Ok(call.finish(result))
    }

    async fn get_image_schema(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
    ) -> Result<SchemaReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = call
            .caller_without_body()
            .await
            .map(|_| HttpResponseOk(rqctx.context().schemas.image.clone()));
        Ok(call.finish(result))
    }

    async fn get_images_schema(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
    ) -> Result<SchemaReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = call
            .caller_without_body()
            .await
            .map(|_| HttpResponseOk(rqctx.context().schemas.images.clone()));
        Ok(call.finish(result))
    }

    async fn list_images(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        query: LenientQuery<ImageListQuery>,
    ) -> Result<Reply<HttpResponseOk<Images>>, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_without_body().await?;
            let params = list_params(query.into_inner()?);
            let (page, limit) = call.service().list_images(&caller, &params).await?;
            let next = (page.len() as u32 == limit)
                .then(|| {
                    page.last()
                        .map(|i| next_link(rqctx.request.uri().query(), &i.id))
                })
                .flatten();
            Ok(HttpResponseOk(Images {
                images: page.into_iter().map(image_view).collect(),
                first: "/v2/images".into(),
                next,
                schema: "/v2/schemas/images".into(),
            }))
        }
        .await;
        Ok(call.finish(result))
    }

    async fn create_image(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        body: JsonBody<ImageCreate>,
    ) -> Result<Reply<HttpResponseCreated<Image>, CreatedHeaders>, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_with_body(&body).await?;
            let image = call
                .service()
                .create_image(&caller, new_image(&body)?)
                .await?;
            let headers = CreatedHeaders {
                location: format!("/v2/images/{}", image.id),
                request_id: call.request_id.clone(),
            };
            Ok((HttpResponseCreated(image_view(image)), headers))
        }
        .await;
        Ok(call.finish_with(result))
    }

    async fn get_image(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<ImagePath>,
    ) -> Result<ImageReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_without_body().await?;
            let image = call
                .service()
                .get_image(&caller, &path.into_inner().image_id)
                .await?;
            Ok(HttpResponseOk(image_view(image)))
        }
        .await;
        Ok(call.finish(result))
    }

    async fn delete_image(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<ImagePath>,
        body: OptionalJsonBody<ImageDeleteBody>,
    ) -> Result<DeletedReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_with_body(&body.0).await?;
            // Huawei's `{"delete_backup": bool}` (no backups here), or nothing.
            if let Some(value) = body.json()? {
                if !(value.is_object() && serde_json::from_value::<ImageDeleteBody>(value).is_ok())
                {
                    return Err(Error::InvalidBody(
                        r#"The body of an image delete may only be {"delete_backup": true|false}."#
                            .into(),
                    ));
                }
            }
            call.service()
                .delete_image(&caller, &path.into_inner().image_id)
                .await?;
            Ok(HttpResponseDeleted())
        }
        .await;
        Ok(call.finish(result))
    }

    async fn list_members(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<ImagePath>,
        query: LenientQuery<MemberListQuery>,
    ) -> Result<MembersReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_without_body().await?;
            let q = query.into_inner()?;
            let (rows, next_marker) = call
                .service()
                .list_members(
                    &caller,
                    &path.into_inner().image_id,
                    q.limit,
                    q.marker.as_deref(),
                )
                .await?;
            Ok(HttpResponseOk(Members {
                page_info: PageInfo {
                    next_marker,
                    current_count: rows.len() as u32,
                },
                members: rows.iter().map(member_view).collect(),
                schema: "/v2/schemas/members".into(),
            }))
        }
        .await;
        Ok(call.finish(result))
    }

    async fn add_member(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<ImagePath>,
        body: JsonBody<MemberCreate>,
    ) -> Result<MemberReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_with_body(&body).await?;
            let member = parse_member_body(&body.json()?)?;
            let row = call
                .service()
                .add_member(&caller, &path.into_inner().image_id, &member)
                .await?;
            Ok(HttpResponseOk(member_view(&row)))
        }
        .await;
        Ok(call.finish(result))
    }

    async fn get_member(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<MemberPath>,
    ) -> Result<MemberReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_without_body().await?;
            let p = path.into_inner();
            let row = call
                .service()
                .get_member(&caller, &p.image_id, &p.member_id)
                .await?;
            Ok(HttpResponseOk(member_view(&row)))
        }
        .await;
        Ok(call.finish(result))
    }

    async fn update_member(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<MemberPath>,
        body: JsonBody<MemberUpdate>,
    ) -> Result<MemberReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_with_body(&body).await?;
            let status = parse_status_body(&body.json()?)?;
            let p = path.into_inner();
            let row = call
                .service()
                .update_member(&caller, &p.image_id, &p.member_id, &status)
                .await?;
            Ok(HttpResponseOk(member_view(&row)))
        }
        .await;
        Ok(call.finish(result))
    }

    async fn delete_member(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<MemberPath>,
    ) -> Result<DeletedReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_without_body().await?;
            let p = path.into_inner();
            call.service()
                .delete_member(&caller, &p.image_id, &p.member_id)
                .await?;
            Ok(HttpResponseDeleted())
        }
        .await;
        Ok(call.finish(result))
    }

    async fn get_member_schema(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
    ) -> Result<SchemaReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = call
            .caller_without_body()
            .await
            .map(|_| HttpResponseOk(rqctx.context().schemas.member.clone()));
        Ok(call.finish(result))
    }

    async fn get_members_schema(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
    ) -> Result<SchemaReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = call
            .caller_without_body()
            .await
            .map(|_| HttpResponseOk(rqctx.context().schemas.members.clone()));
        Ok(call.finish(result))
    }

    async fn upload_image_data(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<ImagePath>,
        body: StreamingBody,
    ) -> Result<Reply<HttpResponseUpdatedNoContent>, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            // The body is not read before the caller is known; a signed
            // upload signs UNSIGNED-PAYLOAD (Huawei's SDK does for it).
            let caller = call.caller(&[]).await?;
            // Glance's deserializer: image data is application/octet-stream.
            let ct = rqctx
                .request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let essence = ct.as_deref().map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
            if essence.as_deref() != Some("application/octet-stream") {
                return Err(Error::UnsupportedMediaType(
                    shown(ct.as_deref().unwrap_or("(none)")),
                    "application/octet-stream",
                ));
            }
            let stream = body
                .into_stream()
                .map(|chunk| chunk.map_err(|e| e.internal_message));
            // In its own task: if the client leaves after sending the whole
            // body, hyper drops this handler (CancelOnDisconnect), and the
            // upload must still end, completed or undone, not halfway.
            let service = call.service().clone();
            let image_id = path.into_inner().image_id;
            tokio::spawn(async move {
                service
                    .upload_image_data(&caller, &image_id, Box::pin(stream))
                    .await
            })
            .await
            .map_err(|e| Error::Internal(format!("upload task: {e}")))??;
            Ok(HttpResponseUpdatedNoContent())
        }
        .await;
        Ok(call.finish(result))
    }

    async fn download_image_data(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<ImagePath>,
    ) -> Result<DataResponse, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_without_body().await?;
            let found = call
                .service()
                .image_data(&caller, &path.into_inner().image_id)
                .await?;
            let range = rqctx
                .request
                .headers()
                .get(http::header::RANGE)
                .and_then(|v| v.to_str().ok());
            let Some((file, len, image)) = found else {
                return Ok(data_response(http::StatusCode::NO_CONTENT, Body::empty()));
            };
            let span = parse_range(range, len)?;
            let (start, end) = span.map_or((0, len), |s| (s.start, s.end + 1));
            let body = file_body(file, start, end - start).await?;
            let mut rsp = data_response(
                if span.is_some() {
                    http::StatusCode::PARTIAL_CONTENT
                } else {
                    http::StatusCode::OK
                },
                body,
            );
            let h = rsp.headers_mut();
            h.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(end - start));
            h.insert(
                http::header::ACCEPT_RANGES,
                HeaderValue::from_static("bytes"),
            );
            if let Some(md5) = image.checksum.and_then(|c| HeaderValue::from_str(&c).ok()) {
                h.insert("content-md5", md5);
            }
            if let Some(s) = span {
                if let Ok(v) =
                    HeaderValue::from_str(&format!("bytes {}-{}/{}", s.start, s.end, s.total))
                {
                    h.insert(http::header::CONTENT_RANGE, v);
                }
            }
            Ok(rsp)
        }
        .await;
        match result {
            Ok(mut rsp) => {
                if let Ok(v) = HeaderValue::from_str(&call.request_id) {
                    rsp.headers_mut().insert(crate::reply::REQUEST_ID_HEADER, v);
                }
                call.log(rsp.status());
                Ok(DataResponse(rsp))
            }
            Err(e) => {
                // RFC 9110: a 416 says how long the data is.
                let unsatisfied = match &e {
                    Error::RangeNotSatisfiable(total) => {
                        HeaderValue::from_str(&format!("bytes */{total}")).ok()
                    }
                    _ => None,
                };
                let reply = call.finish::<HttpResponseOk<()>>(Err(e));
                let mut rsp = dropshot::HttpResponse::to_result(reply).map_err(ApiError::from)?;
                if let Some(v) = unsatisfied {
                    rsp.headers_mut().insert(http::header::CONTENT_RANGE, v);
                }
                Ok(DataResponse(rsp))
            }
        }
    }

    async fn batch_add_members(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<CloudImagesPath>,
        body: JsonBody<BatchMembersRequest>,
    ) -> Result<JobReply, ApiError> {
        let segment = path.into_inner().project_id;
        Ok(huawei::batch_share(&rqctx, &segment, &body, true).await)
    }

    async fn batch_update_members(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<CloudImagesPath>,
        body: JsonBody<BatchUpdateRequest>,
    ) -> Result<JobReply, ApiError> {
        let segment = path.into_inner().project_id;
        Ok(huawei::batch_update(&rqctx, &segment, &body).await)
    }

    async fn batch_delete_members(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<CloudImagesPath>,
        body: JsonBody<BatchMembersRequest>,
    ) -> Result<JobReply, ApiError> {
        let segment = path.into_inner().project_id;
        Ok(huawei::batch_share(&rqctx, &segment, &body, false).await)
    }

    async fn show_job_progress(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<CloudImagesJobPath>,
    ) -> Result<Reply<HttpResponseOk<Job>>, ApiError> {
        let p = path.into_inner();
        Ok(huawei::show_job(&rqctx, Some(&p.project_id), None, &p.job_id).await)
    }

    async fn show_image_quota(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<CloudImagesPath>,
    ) -> Result<Reply<HttpResponseOk<Quotas>>, ApiError> {
        Ok(huawei::show_quota(&rqctx, &path.into_inner().project_id).await)
    }

    async fn show_job(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<ProjectJobPath>,
    ) -> Result<Reply<HttpResponseOk<Job>>, ApiError> {
        let p = path.into_inner();
        Ok(huawei::show_job(&rqctx, None, Some(&p.project_id), &p.job_id).await)
    }

    async fn list_image_members(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<ProjectImagePath>,
        query: LenientQuery<V1MemberListQuery>,
    ) -> Result<Reply<HttpResponseOk<V1Members>>, ApiError> {
        let p = path.into_inner();
        Ok(huawei::list_members(&rqctx, &p.project_id, &p.image_id, query).await)
    }

    async fn show_image_member(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        path: Path<ProjectMemberPath>,
    ) -> Result<Reply<HttpResponseOk<V1Member>>, ApiError> {
        let p = path.into_inner();
        Ok(huawei::show_member(&rqctx, &p.project_id, &p.image_id, &p.member_id).await)
    }

    async fn list_cloud_images(
        rqctx: RequestContext<AppState>,
        _auth: Headers<AuthHeaders>,
        query: LenientQuery<CloudImageListQuery>,
    ) -> Result<Reply<HttpResponseOk<CloudImages>>, ApiError> {
        Ok(huawei::list_cloud_images(&rqctx, query).await)
    }
}
