//! Answers dropshot's router would otherwise give in its own body, given in
//! our envelope with the request ID instead, through unpublished endpoints
//! (they stay out of the OpenAPI document):
//!
//! * 405 with `Allow` for each method a path does not serve;
//! * `OPTIONS` on every path: 204 with its `Allow`;
//! * `HEAD` wherever `GET` is served (RFC 9110 §9.3.2): the `GET` handler's
//!   status and headers, no body;
//! * 404 for Glance's metadata-definition schemas, which python-glanceclient
//!   asks for on every call (it tolerates a 404, but crashes on dropshot's
//!   flat error body).
//!
//! Unknown paths elsewhere cannot be caught this way: dropshot's router does
//! not allow a catch-all beside literal path segments.

use std::time::Instant;

use dropshot::{ApiDescription, ApiEndpoint, Body, HttpError, Path, RequestContext};
use http::{HeaderValue, Response, StatusCode};

use crate::api::huawei::{
    CloudImageListQuery, CloudImagesJobPath, CloudImagesPath, ProjectImagePath, ProjectJobPath,
    ProjectMemberPath, V1MemberListQuery,
};
use crate::api::{
    ApiError, AuthHeaders, ErrorBody, ErrorCode, ImageListQuery, ImagePath, ImgshareApi,
    MemberListQuery, MemberPath, TagPath,
};
use crate::http::{answered, AppState, ImgshareImpl};
use crate::reply::{request_id, Headers, LenientQuery, REQUEST_ID_HEADER};

/// The API description being built, keeping the route template of each
/// unpublished endpoint it registers (logs and metrics name a request by
/// its route; published routes come from the served document).
pub struct Registrar<'a> {
    api: &'a mut ApiDescription<AppState>,
    pub routes: Vec<(String, String)>,
}

impl<'a> Registrar<'a> {
    pub fn new(api: &'a mut ApiDescription<AppState>) -> Self {
        Registrar {
            api,
            routes: Vec::new(),
        }
    }

    pub fn register<E: Into<ApiEndpoint<AppState>>>(&mut self, endpoint: E) -> Result<(), String> {
        let endpoint: ApiEndpoint<AppState> = endpoint.into();
        self.routes
            .push((endpoint.operation_id.clone(), endpoint.path.clone()));
        self.api.register(endpoint).map_err(|e| e.to_string())
    }
}

fn envelope(
    rqctx: &RequestContext<AppState>,
    status: StatusCode,
    code: ErrorCode,
    message: String,
) -> Response<Body> {
    let body = serde_json::json!({
        "error": ErrorBody {
            code,
            title: status.canonical_reason().unwrap_or("Error").into(),
            message,
        }
    });
    json_response(rqctx, status, body.to_string())
}

/// A JSON response with the request ID, as every answer here carries.
fn json_response(
    rqctx: &RequestContext<AppState>,
    status: StatusCode,
    body: String,
) -> Response<Body> {
    let mut rsp = Response::new(Body::from(body));
    *rsp.status_mut() = status;
    let h = rsp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id(rqctx)) {
        h.insert(REQUEST_ID_HEADER, v);
    }
    rsp
}

pub(crate) fn not_allowed(rqctx: &RequestContext<AppState>, allow: &'static str) -> Response<Body> {
    let message = format!(
        "The method {} is not allowed for this resource.",
        rqctx.request.method()
    );
    let mut rsp = envelope(
        rqctx,
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        message,
    );
    rsp.headers_mut()
        .insert(http::header::ALLOW, HeaderValue::from_static(allow));
    rsp
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct RestPath {
    #[allow(dead_code)]
    rest: Vec<String>,
}

fn metadefs_not_found(rqctx: &RequestContext<AppState>) -> Response<Body> {
    let message = "Metadata definitions are not served by this service.".to_owned();
    envelope(rqctx, StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
}

#[dropshot::endpoint { method = GET, path = "/v2/schemas/metadefs/{rest:.*}", unpublished = true }]
async fn metadefs_schema(
    rqctx: RequestContext<AppState>,
    _path: Path<RestPath>,
) -> Result<Response<Body>, HttpError> {
    Ok(answered(&rqctx, Instant::now(), metadefs_not_found(&rqctx)))
}

#[dropshot::endpoint { method = HEAD, path = "/v2/schemas/metadefs/{rest:.*}", unpublished = true }]
async fn metadefs_schema_head(
    rqctx: RequestContext<AppState>,
    _path: Path<RestPath>,
) -> Result<Response<Body>, HttpError> {
    Ok(answered(&rqctx, Instant::now(), metadefs_not_found(&rqctx)))
}

/// Which requests a path's method endpoints answer as that path.
#[derive(Clone, Copy)]
pub(crate) enum Scope {
    /// Every value of the path's variables.
    Any,
    /// `/v1/{project_id}/…` routes that stand for `/v1/cloudimages/…`: any
    /// other first segment is an unknown path (404).
    CloudImages,
}

fn in_scope(rqctx: &RequestContext<AppState>, scope: Scope) -> bool {
    match scope {
        Scope::Any => true,
        Scope::CloudImages => rqctx.request.uri().path().starts_with("/v1/cloudimages/"),
    }
}

/// `OPTIONS`: 204 with the methods the path serves.
pub(crate) fn options(
    rqctx: &RequestContext<AppState>,
    allow: &'static str,
    scope: Scope,
) -> Response<Body> {
    if !in_scope(rqctx, scope) {
        return v1_not_found(rqctx);
    }
    let mut rsp = Response::new(Body::empty());
    *rsp.status_mut() = StatusCode::NO_CONTENT;
    let h = rsp.headers_mut();
    h.insert(http::header::ALLOW, HeaderValue::from_static(allow));
    if let Ok(v) = HeaderValue::from_str(&request_id(rqctx)) {
        h.insert(REQUEST_ID_HEADER, v);
    }
    rsp
}

/// A method the path does not serve: 405 with the methods it does.
pub(crate) fn refused(
    rqctx: &RequestContext<AppState>,
    allow: &'static str,
    scope: Scope,
) -> Response<Body> {
    if !in_scope(rqctx, scope) {
        return v1_not_found(rqctx);
    }
    not_allowed(rqctx, allow)
}

/// `methods!(api; [PATH_TYPE,] "path", "Allow", scope; options = NAME[; NAME = METHOD, ...])`
/// registers the path's `OPTIONS` and one 405 endpoint per listed method.
/// `Allow` is the path's whole truth: its methods, `HEAD` with `GET`, and
/// `OPTIONS`.
macro_rules! methods {
    ($api:ident; $params:ty, $path:tt, $allow:tt, $scope:expr; options = $opt:ident
        $(; $($name:ident = $method:ident),+)? $(,)?) => {
        #[dropshot::endpoint { method = OPTIONS, path = $path, unpublished = true }]
        async fn $opt(
            rqctx: RequestContext<AppState>,
            _path: Path<$params>,
        ) -> Result<Response<Body>, HttpError> {
            let started = Instant::now();
            Ok(answered(&rqctx, started, options(&rqctx, $allow, $scope)))
        }
        $api.register($opt).map_err(|e| e.to_string())?;
        $($(
            #[dropshot::endpoint { method = $method, path = $path, unpublished = true }]
            async fn $name(
                rqctx: RequestContext<AppState>,
                _path: Path<$params>,
            ) -> Result<Response<Body>, HttpError> {
                let started = Instant::now();
                Ok(answered(&rqctx, started, refused(&rqctx, $allow, $scope)))
            }
            $api.register($name).map_err(|e| e.to_string())?;
        )+)?
    };
    ($api:ident; $path:tt, $allow:tt; options = $opt:ident
        $(; $($name:ident = $method:ident),+)? $(,)?) => {
        #[dropshot::endpoint { method = OPTIONS, path = $path, unpublished = true }]
        async fn $opt(rqctx: RequestContext<AppState>) -> Result<Response<Body>, HttpError> {
            let started = Instant::now();
            Ok(answered(&rqctx, started, options(&rqctx, $allow, Scope::Any)))
        }
        $api.register($opt).map_err(|e| e.to_string())?;
        $($(
            #[dropshot::endpoint { method = $method, path = $path, unpublished = true }]
            async fn $name(rqctx: RequestContext<AppState>) -> Result<Response<Body>, HttpError> {
                let started = Instant::now();
                Ok(answered(&rqctx, started, refused(&rqctx, $allow, Scope::Any)))
            }
            $api.register($name).map_err(|e| e.to_string())?;
        )+)?
    };
}
pub(crate) use methods;

/// `head!(api; NAME = "path" => trait_method(arg: Type, ...); ...)` serves
/// `HEAD` on a `GET` path by running the `GET` handler: the same status and
/// headers; hyper sends no body for a `HEAD`.
macro_rules! head {
    ($api:ident; $($name:ident = $path:tt => $target:ident($($arg:ident: $ty:ty),*);)+) => {
        $(
            #[dropshot::endpoint { method = HEAD, path = $path, unpublished = true }]
            async fn $name(
                rqctx: RequestContext<AppState>,
                $($arg: $ty),*
            ) -> Result<Response<Body>, ApiError> {
                let reply = <ImgshareImpl as ImgshareApi>::$target(rqctx, $($arg),*).await?;
                Ok(dropshot::HttpResponse::to_result(reply)?)
            }
            $api.register($name).map_err(|e| e.to_string())?;
        )+
    };
}

/// Glance answers unknown unversioned paths (`/v3/…`) with 300 Multiple
/// Choices and its version document; so do we (but not under `/v1/`, below).
fn multiple_choices(rqctx: &RequestContext<AppState>) -> Response<Body> {
    let body = serde_json::to_string(&crate::http::versions_document(rqctx)).unwrap_or_default();
    json_response(rqctx, StatusCode::MULTIPLE_CHOICES, body)
}

/// Under `/v1/` Huawei IMS serves its own API, and Huawei's SDK takes any 3xx
/// as success (an empty result, silently): so an unknown `/v1/…` path is a
/// 404, never Glance's 300. `/v1/<anything>` gets it in the envelope here;
/// deeper unknown paths get dropshot's own 404 body, because the router
/// cannot hold a catch-all beside the literal segments under
/// `/v1/{project_id}/`.
fn v1_not_found(rqctx: &RequestContext<AppState>) -> Response<Body> {
    let message = format!(
        "The resource could not be found: {} {}.",
        rqctx.request.method(),
        rqctx.request.uri().path()
    );
    envelope(rqctx, StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
}

macro_rules! v1_unknown {
    ($api:ident; $($name:ident = $method:ident),+ $(,)?) => {
        $(
            #[dropshot::endpoint { method = $method, path = "/v1/{project_id}", unpublished = true }]
            async fn $name(
                rqctx: RequestContext<AppState>,
                _path: Path<CloudImagesPath>,
            ) -> Result<Response<Body>, HttpError> {
                Ok(answered(&rqctx, Instant::now(), v1_not_found(&rqctx)))
            }
            $api.register($name).map_err(|e| e.to_string())?;
        )+
    };
}

#[dropshot::endpoint { method = GET, path = "/v3/{rest:.*}", unpublished = true }]
async fn v3_paths(
    rqctx: RequestContext<AppState>,
    _path: Path<RestPath>,
) -> Result<Response<Body>, HttpError> {
    Ok(answered(&rqctx, Instant::now(), multiple_choices(&rqctx)))
}

#[dropshot::endpoint { method = HEAD, path = "/v3/{rest:.*}", unpublished = true }]
async fn v3_paths_head(
    rqctx: RequestContext<AppState>,
    _path: Path<RestPath>,
) -> Result<Response<Body>, HttpError> {
    Ok(answered(&rqctx, Instant::now(), multiple_choices(&rqctx)))
}

/// Adds the unpublished endpoints.
pub fn register(api: &mut Registrar) -> Result<(), String> {
    use Scope::{Any, CloudImages};
    const GET: &str = "GET, HEAD, OPTIONS";
    for result in [
        api.register(metadefs_schema),
        api.register(metadefs_schema_head),
        api.register(v3_paths),
        api.register(v3_paths_head),
    ] {
        result.map_err(|e| e.to_string())?;
    }
    methods!(api; RestPath, "/v3/{rest:.*}", GET, Any; options = v3_options;
        v3_post = POST, v3_put = PUT, v3_delete = DELETE, v3_patch = PATCH);
    methods!(api; RestPath, "/v2/schemas/metadefs/{rest:.*}", GET, Any;
        options = metadefs_options;
        metadefs_post = POST, metadefs_put = PUT, metadefs_delete = DELETE,
        metadefs_patch = PATCH);
    v1_unknown!(api; v1_get = GET, v1_head = HEAD, v1_post = POST, v1_put = PUT,
        v1_delete = DELETE, v1_patch = PATCH, v1_options = OPTIONS);

    head!(api;
        root_head = "/" => get_root();
        versions_head = "/versions" => list_versions();
        healthcheck_head = "/healthcheck" => healthcheck();
        images_head = "/v2/images" => list_images(
            auth: Headers<AuthHeaders>, query: LenientQuery<ImageListQuery>);
        image_head = "/v2/images/{image_id}" => get_image(
            auth: Headers<AuthHeaders>, path: Path<ImagePath>);
        file_head = "/v2/images/{image_id}/file" => download_image_data(
            auth: Headers<AuthHeaders>, path: Path<ImagePath>);
        members_head = "/v2/images/{image_id}/members" => list_members(
            auth: Headers<AuthHeaders>, path: Path<ImagePath>,
            query: LenientQuery<MemberListQuery>);
        member_head = "/v2/images/{image_id}/members/{member_id}" => get_member(
            auth: Headers<AuthHeaders>, path: Path<MemberPath>);
        image_schema_head = "/v2/schemas/image" => get_image_schema(auth: Headers<AuthHeaders>);
        images_schema_head = "/v2/schemas/images" => get_images_schema(
            auth: Headers<AuthHeaders>);
        member_schema_head = "/v2/schemas/member" => get_member_schema(
            auth: Headers<AuthHeaders>);
        members_schema_head = "/v2/schemas/members" => get_members_schema(
            auth: Headers<AuthHeaders>);
        cloudimages_head = "/v2/cloudimages" => list_cloud_images(
            auth: Headers<AuthHeaders>, query: LenientQuery<CloudImageListQuery>);
        v1_job_head = "/v1/{project_id}/job/{job_id}" => show_job_progress(
            auth: Headers<AuthHeaders>, path: Path<CloudImagesJobPath>);
        v1_quota_head = "/v1/{project_id}/quota" => show_image_quota(
            auth: Headers<AuthHeaders>, path: Path<CloudImagesPath>);
        v1_jobs_head = "/v1/{project_id}/jobs/{job_id}" => show_job(
            auth: Headers<AuthHeaders>, path: Path<ProjectJobPath>);
        v1_list_head = "/v1/{project_id}/cloudimages/{image_id}/members" => list_image_members(
            auth: Headers<AuthHeaders>, path: Path<ProjectImagePath>,
            query: LenientQuery<V1MemberListQuery>);
        v1_show_head = "/v1/{project_id}/cloudimages/{image_id}/members/{member_id}" =>
            show_image_member(auth: Headers<AuthHeaders>, path: Path<ProjectMemberPath>);
    );

    methods!(api; CloudImagesPath, "/v1/{project_id}/members", "POST, PUT, DELETE, OPTIONS",
        CloudImages; options = v1_members_options;
        v1_members_get = GET, v1_members_head = HEAD, v1_members_patch = PATCH);
    methods!(api; CloudImagesJobPath, "/v1/{project_id}/job/{job_id}", GET, CloudImages;
        options = v1_job_options;
        v1_job_post = POST, v1_job_put = PUT, v1_job_delete = DELETE, v1_job_patch = PATCH);
    methods!(api; CloudImagesPath, "/v1/{project_id}/quota", GET, CloudImages;
        options = v1_quota_options;
        v1_quota_post = POST, v1_quota_put = PUT, v1_quota_delete = DELETE,
        v1_quota_patch = PATCH);
    methods!(api; ProjectJobPath, "/v1/{project_id}/jobs/{job_id}", GET, Any;
        options = v1_jobs_options;
        v1_jobs_post = POST, v1_jobs_put = PUT, v1_jobs_delete = DELETE, v1_jobs_patch = PATCH);
    methods!(api; ProjectImagePath, "/v1/{project_id}/cloudimages/{image_id}/members", GET, Any;
        options = v1_list_options;
        v1_list_post = POST, v1_list_put = PUT, v1_list_delete = DELETE, v1_list_patch = PATCH);
    methods!(api; ProjectMemberPath,
        "/v1/{project_id}/cloudimages/{image_id}/members/{member_id}", GET, Any;
        options = v1_show_options;
        v1_show_post = POST, v1_show_put = PUT, v1_show_delete = DELETE, v1_show_patch = PATCH);
    methods!(api; ImagePath, "/v2/images/{image_id}/file", "GET, HEAD, PUT, OPTIONS", Any;
        options = file_options; file_post = POST, file_delete = DELETE, file_patch = PATCH);
    methods!(api; "/v2/cloudimages", GET; options = cloudimages_options;
        cloudimages_post = POST, cloudimages_put = PUT, cloudimages_delete = DELETE,
        cloudimages_patch = PATCH);
    methods!(api; "/v2/images", "GET, HEAD, POST, OPTIONS"; options = images_options;
        images_put = PUT, images_delete = DELETE, images_patch = PATCH);
    methods!(api; ImagePath, "/v2/images/{image_id}", "GET, HEAD, PATCH, DELETE, OPTIONS", Any;
        options = image_options; image_post = POST, image_put = PUT);
    methods!(api; TagPath, "/v2/images/{image_id}/tags/{tag}", "PUT, DELETE, OPTIONS", Any;
        options = tag_options;
        tag_get = GET, tag_head = HEAD, tag_post = POST, tag_patch = PATCH);
    methods!(api; "/", GET; options = root_options;
        root_post = POST, root_put = PUT, root_delete = DELETE, root_patch = PATCH);
    methods!(api; "/versions", GET; options = versions_options;
        versions_post = POST, versions_put = PUT, versions_delete = DELETE,
        versions_patch = PATCH);
    methods!(api; "/healthcheck", GET; options = healthcheck_options;
        healthcheck_post = POST, healthcheck_put = PUT, healthcheck_delete = DELETE,
        healthcheck_patch = PATCH);
    methods!(api; "/v2/schemas/image", GET; options = image_schema_options;
        image_schema_post = POST, image_schema_put = PUT, image_schema_delete = DELETE,
        image_schema_patch = PATCH);
    methods!(api; "/v2/schemas/images", GET; options = images_schema_options;
        images_schema_post = POST, images_schema_put = PUT, images_schema_delete = DELETE,
        images_schema_patch = PATCH);
    methods!(api; ImagePath, "/v2/images/{image_id}/members", "GET, HEAD, POST, OPTIONS", Any;
        options = members_options;
        members_put = PUT, members_delete = DELETE, members_patch = PATCH);
    methods!(api; MemberPath, "/v2/images/{image_id}/members/{member_id}",
        "GET, HEAD, PUT, DELETE, OPTIONS", Any; options = member_options;
        member_post = POST, member_patch = PATCH);
    methods!(api; "/v2/schemas/member", GET; options = member_schema_options;
        member_schema_post = POST, member_schema_put = PUT, member_schema_delete = DELETE,
        member_schema_patch = PATCH);
    methods!(api; "/v2/schemas/members", GET; options = members_schema_options;
        members_schema_post = POST, members_schema_put = PUT, members_schema_delete = DELETE,
        members_schema_patch = PATCH);
    // The document itself, its YAML form and the reference page.
    crate::docs::register(api)?;
    Ok(())
}
