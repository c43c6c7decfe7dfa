//! Answers dropshot's router would otherwise give in its own body, given in
//! our envelope with the request ID instead, through unpublished endpoints
//! (they stay out of the OpenAPI document):
//!
//! * 405 with `Allow` for each method a path does not serve;
//! * 404 for Glance's metadata-definition schemas, which python-glanceclient
//!   asks for on every call (it tolerates a 404, but crashes on dropshot's
//!   flat error body).
//!
//! Unknown paths elsewhere cannot be caught this way: dropshot's router does
//! not allow a catch-all beside literal path segments.

use dropshot::{ApiDescription, Body, HttpError, Path, RequestContext};
use http::{HeaderValue, Response, StatusCode};

use crate::api::huawei::{
    CloudImagesJobPath, CloudImagesPath, ProjectImagePath, ProjectJobPath, ProjectMemberPath,
};
use crate::api::{ErrorBody, ErrorCode, ImagePath, MemberPath, TagPath};
use crate::http::AppState;
use crate::reply::{request_id, REQUEST_ID_HEADER};

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

#[dropshot::endpoint { method = GET, path = "/v2/schemas/metadefs/{rest:.*}", unpublished = true }]
async fn metadefs_schema(
    rqctx: RequestContext<AppState>,
    _path: Path<RestPath>,
) -> Result<Response<Body>, HttpError> {
    let message = "Metadata definitions are not served by this service.".to_owned();
    Ok(envelope(
        &rqctx,
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        message,
    ))
}

/// `refuse!(api; PATH_TYPE, "path", "Allow value"; name = METHOD, ...)` registers
/// one unpublished 405 endpoint per listed method.
macro_rules! refuse {
    ($api:ident; $params:ty, $path:tt, $allow:tt; $($name:ident = $method:ident),+ $(,)?) => {
        $(
            #[dropshot::endpoint { method = $method, path = $path, unpublished = true }]
            async fn $name(
                rqctx: RequestContext<AppState>,
                _path: Path<$params>,
            ) -> Result<Response<Body>, HttpError> {
                Ok(not_allowed(&rqctx, $allow))
            }
            $api.register($name).map_err(|e| e.to_string())?;
        )+
    };
    ($api:ident; $path:tt, $allow:tt; $($name:ident = $method:ident),+ $(,)?) => {
        $(
            #[dropshot::endpoint { method = $method, path = $path, unpublished = true }]
            async fn $name(rqctx: RequestContext<AppState>) -> Result<Response<Body>, HttpError> {
                Ok(not_allowed(&rqctx, $allow))
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
                Ok(v1_not_found(&rqctx))
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
    Ok(multiple_choices(&rqctx))
}

/// Adds the unpublished endpoints.
pub fn register(api: &mut ApiDescription<AppState>) -> Result<(), String> {
    for result in [api.register(metadefs_schema), api.register(v3_paths)] {
        result.map_err(|e| e.to_string())?;
    }
    v1_unknown!(api; v1_get = GET, v1_post = POST, v1_put = PUT, v1_delete = DELETE,
        v1_patch = PATCH);
    refuse!(api; CloudImagesPath, "/v1/{project_id}/members", "POST, PUT, DELETE";
        v1_members_get = GET, v1_members_patch = PATCH);
    refuse!(api; CloudImagesJobPath, "/v1/{project_id}/job/{job_id}", "GET";
        v1_job_post = POST, v1_job_put = PUT, v1_job_delete = DELETE, v1_job_patch = PATCH);
    refuse!(api; CloudImagesPath, "/v1/{project_id}/quota", "GET";
        v1_quota_post = POST, v1_quota_put = PUT, v1_quota_delete = DELETE,
        v1_quota_patch = PATCH);
    refuse!(api; ProjectJobPath, "/v1/{project_id}/jobs/{job_id}", "GET";
        v1_jobs_post = POST, v1_jobs_put = PUT, v1_jobs_delete = DELETE, v1_jobs_patch = PATCH);
    refuse!(api; ProjectImagePath, "/v1/{project_id}/cloudimages/{image_id}/members", "GET";
        v1_list_post = POST, v1_list_put = PUT, v1_list_delete = DELETE, v1_list_patch = PATCH);
    refuse!(api; ProjectMemberPath,
        "/v1/{project_id}/cloudimages/{image_id}/members/{member_id}", "GET";
        v1_show_post = POST, v1_show_put = PUT, v1_show_delete = DELETE, v1_show_patch = PATCH);
    refuse!(api; ImagePath, "/v2/images/{image_id}/file", "GET, PUT";
        file_post = POST, file_delete = DELETE, file_patch = PATCH);
    refuse!(api; "/v2/cloudimages", "GET";
        cloudimages_post = POST, cloudimages_put = PUT, cloudimages_delete = DELETE,
        cloudimages_patch = PATCH);
    refuse!(api; "/v2/images", "GET, POST";
        images_put = PUT, images_delete = DELETE, images_patch = PATCH);
    refuse!(api; ImagePath, "/v2/images/{image_id}", "GET, PATCH, DELETE";
        image_post = POST, image_put = PUT);
    refuse!(api; TagPath, "/v2/images/{image_id}/tags/{tag}", "PUT, DELETE";
        tag_get = GET, tag_post = POST, tag_patch = PATCH);
    refuse!(api; "/", "GET"; root_post = POST, root_put = PUT, root_delete = DELETE, root_patch = PATCH);
    refuse!(api; "/versions", "GET";
        versions_post = POST, versions_put = PUT, versions_delete = DELETE, versions_patch = PATCH);
    refuse!(api; "/v2/schemas/image", "GET";
        image_schema_post = POST, image_schema_put = PUT, image_schema_delete = DELETE,
        image_schema_patch = PATCH);
    refuse!(api; "/v2/schemas/images", "GET";
        images_schema_post = POST, images_schema_put = PUT, images_schema_delete = DELETE,
        images_schema_patch = PATCH);
    refuse!(api; ImagePath, "/v2/images/{image_id}/members", "GET, POST";
        members_put = PUT, members_delete = DELETE, members_patch = PATCH);
    refuse!(api; MemberPath, "/v2/images/{image_id}/members/{member_id}", "GET, PUT, DELETE";
        member_post = POST, member_patch = PATCH);
    refuse!(api; "/v2/schemas/member", "GET";
        member_schema_post = POST, member_schema_put = PUT, member_schema_delete = DELETE,
        member_schema_patch = PATCH);
    refuse!(api; "/v2/schemas/members", "GET";
        members_schema_post = POST, members_schema_put = PUT, members_schema_delete = DELETE,
        members_schema_patch = PATCH);
    // The document itself, its YAML form and the reference page.
    crate::docs::register(api)?;
    Ok(())
}
