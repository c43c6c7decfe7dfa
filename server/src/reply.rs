//! Where dropshot 0.18 stands between us and the API's requirements, and how
//! we get through cleanly:
//!
//! * A handler's `Err` is rendered by dropshot with only `content-type` and
//!   `x-request-id`: no way to add `x-openstack-request-id`. So handlers always
//!   return `Ok(Reply)`; a `Reply` is either the documented success response or
//!   our error envelope, built here with every header we need. `Reply`
//!   documents itself exactly as `HttpResponseHeaders<R, H>`, so the OpenAPI
//!   document is unchanged, and the trait's `ApiError` still documents the
//!   error responses.
//! * `TypedBody` rejects bodies with serde's wording and a non-JSON
//!   `Content-Type`, and answers oversized bodies with 400. `JsonBody` takes
//!   the raw bytes (up to the limit) and lets the handler apply Glance's checks
//!   in Glance's order; it documents itself exactly as `TypedBody<T>`.
//! * `Query` fails the request on a bad value before the handler runs;
//!   `LenientQuery` hands the failure to the handler, which answers it in the
//!   envelope with the request ID.
//!
//! What is left to dropshot: its router answers unknown paths (404) and wrong
//! methods (405, with `Allow`) before any handler runs, in its own
//! `{"request_id", "message"}` body. dropshot 0.18 has no hook for those.

use std::marker::PhantomData;

use bytes::Bytes;
use dropshot::{
    ApiEndpointBodyContentType, Body, ErrorStatusCode, ExclusiveExtractor, ExtractorMetadata,
    HttpCodedResponse, HttpError, HttpResponse, HttpResponseHeaders, Query, RequestContext,
    ServerContext, SharedExtractor, TypedBody,
};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::{ApiError, ErrorBody, ErrorCode};
use crate::error::Error;

pub const REQUEST_ID_HEADER: &str = "x-openstack-request-id";

/// The response header every reply carries.
#[derive(Serialize, JsonSchema)]
pub struct RequestIdHeader {
    /// `req-<uuid>`, or the caller's `X-OpenStack-Request-ID` (prefixed `req-`).
    #[serde(rename = "x-openstack-request-id")]
    pub request_id: String,
}

/// Headers of a 201 Created reply.
#[derive(Serialize, JsonSchema)]
pub struct CreatedHeaders {
    /// URL path of the new resource.
    #[serde(rename = "location")]
    pub location: String,
    /// `req-<uuid>`, or the caller's `X-OpenStack-Request-ID` (prefixed `req-`).
    #[serde(rename = "x-openstack-request-id")]
    pub request_id: String,
}

/// A documented success response, or our error envelope.
pub struct Reply<R, H = RequestIdHeader> {
    inner: Result<(R, H), Response<Body>>,
}

impl<R, H> Reply<R, H> {
    /// Builds the error reply: status, envelope, JSON content type, request ID.
    pub fn error(request_id: &str, error: &Error) -> Self {
        Reply {
            inner: Err(error_response(request_id, error)),
        }
    }

    pub fn with_headers(response: R, headers: H) -> Self {
        Reply {
            inner: Ok((response, headers)),
        }
    }

    /// Adds a header to an error reply (success replies carry exactly their
    /// documented headers).
    pub fn add_error_header(&mut self, name: http::header::HeaderName, value: HeaderValue) {
        if let Err(rsp) = &mut self.inner {
            rsp.headers_mut().insert(name, value);
        }
    }

    /// The status this reply will be sent with.
    pub fn status(&self) -> StatusCode
    where
        R: HttpCodedResponse,
    {
        match &self.inner {
            Ok(_) => R::STATUS_CODE,
            Err(rsp) => rsp.status(),
        }
    }
}

impl<R> Reply<R, RequestIdHeader> {
    pub fn new(request_id: &str, result: Result<R, Error>) -> Self {
        match result {
            Ok(r) => Reply::with_headers(
                r,
                RequestIdHeader {
                    request_id: request_id.to_owned(),
                },
            ),
            Err(e) => Reply::error(request_id, &e),
        }
    }
}

impl<R, H> HttpResponse for Reply<R, H>
where
    R: HttpCodedResponse,
    H: JsonSchema + Serialize + Send + Sync + 'static,
{
    fn to_result(self) -> Result<Response<Body>, HttpError> {
        match self.inner {
            Ok((r, h)) => HttpResponseHeaders::new(r, h).to_result(),
            Err(rsp) => Ok(rsp),
        }
    }

    fn response_metadata() -> dropshot::ApiEndpointResponse {
        HttpResponseHeaders::<R, H>::response_metadata()
    }

    fn status_code(&self) -> StatusCode {
        self.status()
    }
}

pub fn envelope(error: &Error) -> ApiError {
    let status = error.status();
    ApiError {
        error: ErrorBody {
            code: error.code(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            message: error.public_message(),
        },
    }
}

fn error_response(request_id: &str, error: &Error) -> Response<Body> {
    if let Some(detail) = error.internal_detail() {
        tracing::error!(
            request_id,
            status = error.status().as_u16(),
            detail,
            "request failed"
        );
    }
    let body = serde_json::to_vec(&envelope(error)).unwrap_or_default();
    let mut rsp = Response::new(Body::from(body));
    *rsp.status_mut() = error.status();
    let headers = rsp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, v);
    }
    rsp
}

/// The status that goes with an error code (used when dropshot renders an
/// `ApiError` itself, i.e. for extractor failures).
pub fn status_for_code(code: ErrorCode) -> ErrorStatusCode {
    use ErrorCode::*;
    match code {
        Unauthorized => ErrorStatusCode::UNAUTHORIZED,
        Img0001 | Img0007 | Img0027 | Img0047 | Img0066 | Img0067 | Img0076 | Img0084 | Img0089
        | Img0108 | Img0105 | UnexpectedBody | InvalidQuery | AmbiguousCredentials => {
            ErrorStatusCode::BAD_REQUEST
        }
        Img0026 | ProjectNotAllowed | NotShared | ReadOnlyAttribute | ImageProtected
        | WindowsImage => ErrorStatusCode::FORBIDDEN,
        Img0086 | NotFound => ErrorStatusCode::NOT_FOUND,
        MethodNotAllowed => ErrorStatusCode::METHOD_NOT_ALLOWED,
        MemberDuplicate | ImageDuplicate | PropertyMissing | SharedWithAccounts
        | ImageNotQueued => ErrorStatusCode::CONFLICT,
        Img0088 | BodyTooLarge | TagQuota | ImageTooLarge => ErrorStatusCode::PAYLOAD_TOO_LARGE,
        UploadInterrupted => ErrorStatusCode::BAD_REQUEST,
        RangeNotSatisfiable => ErrorStatusCode::RANGE_NOT_SATISFIABLE,
        UnsupportedMediaType => ErrorStatusCode::UNSUPPORTED_MEDIA_TYPE,
        Unavailable | IdentityUnavailable => ErrorStatusCode::SERVICE_UNAVAILABLE,
        NotImplemented => ErrorStatusCode::NOT_IMPLEMENTED,
        Internal => ErrorStatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Maps a dropshot extractor error onto the envelope, keeping its status.
pub fn envelope_for_http_error(e: &HttpError) -> ApiError {
    let status = e.status_code.as_status();
    let code = match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
        StatusCode::NOT_IMPLEMENTED => ErrorCode::NotImplemented,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::Img0001,
    };
    ApiError {
        error: ErrorBody {
            code,
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            message: e.external_message.clone(),
        },
    }
}

/// The request ID for this request: the client's `X-OpenStack-Request-ID`
/// (with `req-` added when missing) if it is sane, else `req-<dropshot's uuid>`.
pub fn request_id<C: ServerContext>(rqctx: &RequestContext<C>) -> String {
    let sent = rqctx
        .request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_safe_request_id(v));
    match sent {
        Some(v) if v.starts_with("req-") => v.to_owned(),
        Some(v) => format!("req-{v}"),
        None => format!("req-{}", rqctx.request_id),
    }
}

/// A client's request ID is kept only when it is a short token of letters,
/// digits and `-_.:` (it is echoed in a header and written to the log);
/// anything else is replaced by one of ours, never refused.
fn is_safe_request_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// True when a GET/DELETE request carries a body (Glance answers 400).
pub fn has_body<C: ServerContext>(rqctx: &RequestContext<C>) -> bool {
    let headers = rqctx.request.headers();
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    length > 0 || headers.contains_key(http::header::TRANSFER_ENCODING)
}

/// Request headers, documented exactly like `Header<T>` but never failing
/// the request: dropshot's `Header` answers a header that is not UTF-8 with
/// its own 400 (no request ID) before the handler runs. The handler reads
/// the headers itself (`auth/`), so a bad token is a 401 in the envelope.
pub struct Headers<T>(PhantomData<fn() -> T>);

#[async_trait::async_trait]
impl<T> SharedExtractor for Headers<T>
where
    T: JsonSchema + DeserializeOwned + Send + Sync + 'static,
{
    async fn from_request<C: ServerContext>(_: &RequestContext<C>) -> Result<Self, HttpError> {
        Ok(Headers(PhantomData))
    }

    fn metadata(content_type: ApiEndpointBodyContentType) -> ExtractorMetadata {
        <dropshot::Header<T> as SharedExtractor>::metadata(content_type)
    }
}

/// A JSON request body, read raw so the handler decides how to judge it.
/// Documented exactly like `TypedBody<T>`.
pub struct JsonBody<T> {
    raw: Result<Bytes, BodyFault>,
    _schema: PhantomData<fn() -> T>,
}

enum BodyFault {
    /// Past the limit (bytes).
    TooLarge(usize),
    /// The body could not be read (malformed chunking, connection lost).
    Unreadable(String),
}

impl<T> JsonBody<T> {
    /// The body bytes, or why there are none.
    pub fn bytes(&self) -> Result<&[u8], Error> {
        match &self.raw {
            Ok(b) => Ok(b),
            Err(BodyFault::TooLarge(limit)) => Err(Error::BodyTooLarge(*limit)),
            Err(BodyFault::Unreadable(detail)) => Err(Error::InvalidBody(format!(
                "The request body could not be read: {}",
                detail.chars().take(200).collect::<String>()
            ))),
        }
    }

    /// Glance's generic checks: a body, valid JSON, an object or array.
    pub fn json(&self) -> Result<serde_json::Value, Error> {
        let bytes = self.bytes()?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::BodyExpected);
        }
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|_| Error::InvalidBody("Malformed JSON in request body.".into()))?;
        if !(value.is_object() || value.is_array()) {
            return Err(Error::InvalidBody(
                "Unexpected body type. Expected list/dict.".into(),
            ));
        }
        Ok(value)
    }
}

#[async_trait::async_trait]
impl<T> ExclusiveExtractor for JsonBody<T>
where
    T: JsonSchema + DeserializeOwned + Send + Sync + 'static,
{
    async fn from_request<C: ServerContext>(
        rqctx: &RequestContext<C>,
        request: hyper::Request<Body>,
    ) -> Result<Self, HttpError> {
        let limit = rqctx.request_body_max_bytes();
        let raw = match http_body_util::Limited::new(request.into_body(), limit)
            .collect()
            .await
        {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyFault::TooLarge(limit)),
            // Bad chunking, a client gone mid-body: answered by the handler,
            // in the envelope with the request ID.
            Err(e) => Err(BodyFault::Unreadable(e.to_string())),
        };
        Ok(JsonBody {
            raw,
            _schema: PhantomData,
        })
    }

    fn metadata(content_type: ApiEndpointBodyContentType) -> ExtractorMetadata {
        <TypedBody<T> as ExclusiveExtractor>::metadata(content_type)
    }
}

/// Query parameters whose parse failure reaches the handler instead of
/// failing the request. Documented exactly like `Query<T>`.
pub struct LenientQuery<T> {
    parsed: Result<T, String>,
}

impl<T> LenientQuery<T> {
    pub fn into_inner(self) -> Result<T, Error> {
        self.parsed.map_err(Error::InvalidQuery)
    }
}

#[async_trait::async_trait]
impl<T> SharedExtractor for LenientQuery<T>
where
    T: JsonSchema + DeserializeOwned + Send + Sync + 'static,
{
    async fn from_request<C: ServerContext>(rqctx: &RequestContext<C>) -> Result<Self, HttpError> {
        let parsed = match <Query<T> as SharedExtractor>::from_request(rqctx).await {
            Ok(q) => Ok(q.into_inner()),
            Err(e) => Err(e.external_message),
        };
        Ok(LenientQuery { parsed })
    }

    fn metadata(content_type: ApiEndpointBodyContentType) -> ExtractorMetadata {
        <Query<T> as SharedExtractor>::metadata(content_type)
    }
}

/// A JSON body a call may carry or not (documented as not required): the
/// image delete, to which Huawei's SDK may add `{"delete_backup": …}`.
pub struct OptionalJsonBody<T>(pub JsonBody<T>);

impl<T> OptionalJsonBody<T> {
    /// `None` when the request carried no body (or only whitespace).
    pub fn json(&self) -> Result<Option<serde_json::Value>, Error> {
        let bytes = self.0.bytes()?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        self.0.json().map(Some)
    }
}

#[async_trait::async_trait]
impl<T> ExclusiveExtractor for OptionalJsonBody<T>
where
    T: JsonSchema + DeserializeOwned + Send + Sync + 'static,
{
    async fn from_request<C: ServerContext>(
        rqctx: &RequestContext<C>,
        request: hyper::Request<Body>,
    ) -> Result<Self, HttpError> {
        JsonBody::from_request(rqctx, request)
            .await
            .map(OptionalJsonBody)
    }

    fn metadata(content_type: ApiEndpointBodyContentType) -> ExtractorMetadata {
        let mut metadata = <TypedBody<T> as ExclusiveExtractor>::metadata(content_type);
        for p in &mut metadata.parameters {
            p.required = false;
        }
        metadata
    }
}

/// A response with a raw body (image data), documented as a 200 whose
/// errors are the envelope. dropshot documents typed bodies as JSON only, so
/// `derived_openapi` adds the `application/octet-stream` content.
pub struct DataResponse(pub Response<Body>);

impl HttpResponse for DataResponse {
    fn to_result(self) -> Result<Response<Body>, HttpError> {
        Ok(self.0)
    }

    fn response_metadata() -> dropshot::ApiEndpointResponse {
        // A body-less documented response (dropshot's own for 204), as a 200.
        let mut m = <dropshot::HttpResponseUpdatedNoContent as HttpResponse>::response_metadata();
        m.success = Some(StatusCode::OK);
        m.description = Some(
            "The image data (`application/octet-stream`); 206 for a range, 204 when the \
             image has no data."
                .into(),
        );
        m
    }

    fn status_code(&self) -> StatusCode {
        self.0.status()
    }
}

/// The health check's answer (text or JSON, 200 or 503), built whole by the
/// handler.
pub struct HealthResponse(pub Response<Body>);

impl HttpResponse for HealthResponse {
    fn to_result(self) -> Result<Response<Body>, HttpError> {
        Ok(self.0)
    }

    fn response_metadata() -> dropshot::ApiEndpointResponse {
        let mut m = <dropshot::HttpResponseUpdatedNoContent as HttpResponse>::response_metadata();
        m.success = Some(StatusCode::OK);
        m.description = Some("Every check passed.".into());
        m
    }

    fn status_code(&self) -> StatusCode {
        self.0.status()
    }
}
