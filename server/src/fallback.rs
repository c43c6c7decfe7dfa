//! 405 answers in our envelope. dropshot's router answers a wrong method
//! itself, in its own body; registering an unpublished endpoint for each
//! method a path does not serve lets us answer instead, with `Allow`, the
//! envelope and the request ID. Unpublished endpoints stay out of the OpenAPI
//! document. (Unknown paths cannot be caught this way: dropshot's router does
//! not allow a catch-all beside literal path segments.)

use dropshot::{ApiDescription, Body, HttpError, Path, RequestContext};
use http::{HeaderValue, Response, StatusCode};

use crate::api::{ErrorBody, ErrorCode, ImagePath, MemberPath, TagPath};
use crate::http::AppState;
use crate::reply::{request_id, REQUEST_ID_HEADER};

fn not_allowed(rqctx: &RequestContext<AppState>, allow: &'static str) -> Response<Body> {
    let method = rqctx.request.method();
    let body = serde_json::json!({
        "error": ErrorBody {
            code: ErrorCode::MethodNotAllowed,
            title: "Method Not Allowed".into(),
            message: format!("The method {method} is not allowed for this resource."),
        }
    });
    let mut rsp = Response::new(Body::from(body.to_string()));
    *rsp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    let h = rsp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(http::header::ALLOW, HeaderValue::from_static(allow));
    if let Ok(v) = HeaderValue::from_str(&request_id(rqctx)) {
        h.insert(REQUEST_ID_HEADER, v);
    }
    rsp
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

/// Adds the 405 endpoints for every path of the API.
pub fn register(api: &mut ApiDescription<AppState>) -> Result<(), String> {
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
    Ok(())
}
