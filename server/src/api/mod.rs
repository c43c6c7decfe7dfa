//! The API as a dropshot trait: one method per operationId of
//! `openapi/imgshare.json`, with types that mirror the document's schemas.
//! `tests/lockstep.rs` compares the document derived from this trait with the
//! hand-written one; change the document first, then this file.

pub mod huawei;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dropshot::{
    HttpError, HttpResponseCreated, HttpResponseDeleted, HttpResponseOk,
    HttpResponseUpdatedNoContent, Path, RequestContext, StreamingBody,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::domain::model::{MemberStatus, Visibility};
use crate::reply::{
    CreatedHeaders, DataResponse, Headers, HealthResponse, JsonBody, LenientQuery,
    OptionalJsonBody, Reply,
};
use huawei::*;

// ---------------------------------------------------------------------------
// Members

/// An image membership: the project `member_id` may use the image `image_id`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Member {
    pub status: MemberStatus,
    /// When the membership was created (UTC, whole seconds).
    pub created_at: DateTime<Utc>,
    /// When the status last changed (UTC, whole seconds).
    pub updated_at: DateTime<Utc>,
    pub image_id: Uuid,
    /// The project the image is shared with.
    pub member_id: String,
    /// Always `/v2/schemas/member`.
    pub schema: String,
}

/// The members of an image visible to the caller.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Members {
    pub members: Vec<Member>,
    /// Always `/v2/schemas/members`.
    pub schema: String,
    /// Paging, as Huawei IMS answers it.
    pub page_info: PageInfo,
}

/// Where a page of members stands (Huawei IMS's `page_info`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct PageInfo {
    /// Pass as `marker` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Members on this page.
    pub current_count: u32,
}

/// Paging of the member list. Without `limit`, every member is listed.
#[derive(Deserialize, JsonSchema)]
pub struct MemberListQuery {
    /// Page size: 1 to 1000. Default: all members.
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// Opaque: the `page_info.next_marker` of the previous page.
    #[schemars(length(min = 1))]
    pub marker: Option<String>,
}

/// Body of the add-member call.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct MemberCreate {
    /// The project ID to share the image with: 1 to 255 characters, each an
    /// ASCII letter or digit or one of `-_.:@/`. Anything else (spaces,
    /// control, format or non-ASCII characters) is refused with `IMG.0067`.
    /// With Keystone, a project Keystone does not know is refused with
    /// `IMG.0108` (unless the server runs with `--no-verify-members`).
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[A-Za-z0-9._:@/-]{1,255}$")
    )]
    pub member: String,
}

/// Body of the update-member call. Other keys are ignored.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct MemberUpdate {
    pub status: MemberStatus,
    /// Accepted for compatibility with Huawei clients and ignored (no CBR vaults here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_id: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct ImagePath {
    /// The image ID (a UUID; anything else is answered 404).
    pub image_id: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct MemberPath {
    /// The image ID (a UUID; anything else is answered 404).
    pub image_id: String,
    /// The member's project ID. An ID outside the identifier rule (see the
    /// add-member body) names no member: 404.
    pub member_id: String,
}

/// Request headers every `/v2` call reads.
#[derive(Deserialize, JsonSchema)]
pub struct AuthHeaders {
    /// The caller's token: one from the identity file, or a Keystone token
    /// (validated with Keystone when the server has `--keystone-url`).
    /// Missing, unknown or expired tokens are answered 401; Keystone
    /// unreachable, 503. A request signed with a Huawei AK/SK
    /// (`Authorization: SDK-HMAC-SHA256 …`, `X-Sdk-Date`, `X-Project-Id`)
    /// needs no token and is judged by its signature alone.
    #[serde(rename = "X-Auth-Token")]
    pub x_auth_token: Option<String>,
}

// ---------------------------------------------------------------------------
// Images

/// Status of an image. Images here carry no data, so they stay `queued`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    Queued,
    Saving,
    Active,
    Killed,
    Deleted,
    Uploading,
    Importing,
    PendingDelete,
    Deactivated,
}

/// An image (Glance v2 shape): the fixed attributes plus custom properties,
/// which appear as extra top-level keys with string values.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Image {
    #[serde(flatten)]
    pub fields: ImageFields,
    #[serde(flatten)]
    pub properties: BTreeMap<String, String>,
}

/// The fixed attributes of an [`Image`].
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ImageFields {
    pub id: Uuid,
    pub name: Option<String>,
    pub status: ImageStatus,
    pub visibility: Visibility,
    pub owner: String,
    pub protected: bool,
    pub os_hidden: bool,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: u64,
    pub min_ram: u64,
    pub size: Option<u64>,
    pub virtual_size: Option<u64>,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// This image's URL path.
    #[serde(rename = "self")]
    pub self_: String,
    /// The image data's URL path.
    pub file: String,
    /// Always `/v2/schemas/image`.
    pub schema: String,
}

/// Body of the create-image call: the settable attributes plus custom
/// properties (extra keys with string values). Read-only attributes are
/// refused with 403.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ImageCreate {
    #[serde(flatten)]
    pub fields: ImageCreateFields,
    #[serde(flatten)]
    pub properties: BTreeMap<String, String>,
}

/// A nullable string limited to `values`, stated as a pattern: the values
/// were always enforced, and an `enum` added to a request property counts
/// as a breaking change to the gate (and would change the client's type).
fn nullable_enum(values: &[&str]) -> schemars::schema::Schema {
    use schemars::schema::{InstanceType, SchemaObject, StringValidation};
    let mut schema = SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        string: Some(Box::new(StringValidation {
            pattern: Some(format!("^({})$", values.join("|"))),
            ..Default::default()
        })),
        ..Default::default()
    };
    schema
        .extensions
        .insert("nullable".into(), serde_json::Value::Bool(true));
    schema.into()
}

fn disk_format_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
    nullable_enum(crate::domain::images::DISK_FORMATS)
}

fn container_format_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
    nullable_enum(crate::domain::images::CONTAINER_FORMATS)
}

/// The settable attributes of an [`ImageCreate`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct ImageCreateFields {
    /// Server-generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Defaults to `shared`. Only admins may create `public` images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_hidden: Option<bool>,
    /// One of Glance's disk formats: `ami`, `ari`, `aki`, `vhd`, `vhdx`,
    /// `vmdk`, `raw`, `qcow2`, `vdi`, `iso`, `ploop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "disk_format_schema")]
    pub disk_format: Option<String>,
    /// One of Glance's container formats: `ami`, `ari`, `aki`, `bare`, `ovf`,
    /// `ova`, `docker`, `compressed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "container_format_schema")]
    pub container_format: Option<String>,
    /// Minimum disk (GiB): 0 to 2147483647 (Glance's column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 2147483647))]
    pub min_disk: Option<u64>,
    /// Minimum RAM (MiB): 0 to 2147483647 (Glance's column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 2147483647))]
    pub min_ram: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

// schemars 0.8 drops `additionalProperties` when a map is `#[serde(flatten)]`ed
// (its merge keeps the struct's `None`), so these two schemas are assembled by
// hand: the derived fixed attributes, inlined, plus string-valued extra keys.
macro_rules! schema_with_string_properties {
    ($outer:ident, $fields:ident, $description:expr) => {
        impl JsonSchema for $outer {
            fn schema_name() -> String {
                stringify!($outer).to_owned()
            }

            fn json_schema(gen: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
                let mut schema = <$fields as JsonSchema>::json_schema(gen);
                if let schemars::schema::Schema::Object(obj) = &mut schema {
                    obj.metadata().description = Some($description.to_owned());
                    obj.object().additional_properties =
                        Some(Box::new(gen.subschema_for::<String>()));
                }
                schema
            }
        }
    };
}
schema_with_string_properties!(
    Image,
    ImageFields,
    "An image (Glance v2 shape). Custom properties appear as extra top-level keys \
     with string values."
);
schema_with_string_properties!(
    ImageCreate,
    ImageCreateFields,
    "Body of the create-image call. Keys other than the listed attributes are custom \
     properties and must have string values; read-only attributes are refused with 403."
);

/// One page of images, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Images {
    pub images: Vec<Image>,
    /// URL path of the first page.
    pub first: String,
    /// URL path of the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Always `/v2/schemas/images`.
    pub schema: String,
}

/// `visibility` filter of the image list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VisibilityParam {
    Public,
    Private,
    Shared,
    Community,
    All,
}

/// `member_status` filter of the image list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberStatusParam {
    Pending,
    Accepted,
    Rejected,
    All,
}

#[derive(Deserialize, JsonSchema)]
pub struct ImageListQuery {
    /// Page size, default 25. Values above 1000 are served as 1000
    /// (Glance's `api_limit_max`); follow `next` for more.
    #[schemars(range(min = 1, max = 4294967295_u32))]
    pub limit: Option<u32>,
    /// ID of the last image of the previous page.
    #[schemars(length(min = 1))]
    pub marker: Option<String>,
    /// Without it, other projects' community images are left out.
    pub visibility: Option<VisibilityParam>,
    /// Which shared-with-me images to include; default `accepted`.
    pub member_status: Option<MemberStatusParam>,
    pub owner: Option<String>,
    pub name: Option<String>,
    pub status: Option<ImageStatus>,
}

/// One JSON-patch operation on an image (Glance's v2.1 subset).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ImagePatchOperation {
    pub op: PatchOpKind,
    /// `/name`, `/visibility`, `/protected`, `/os_hidden`, `/min_disk`,
    /// `/min_ram`, `/disk_format`, `/container_format`, `/tags` or
    /// `/<custom property>`: one level, as an RFC 6901 pointer (`~1` for
    /// `/`, `~0` for `~`).
    #[schemars(regex(pattern = r"^/([^/~]|~[01])*$"))]
    pub path: String,
    /// Required for `add` and `replace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PatchOpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Deserialize, JsonSchema)]
pub struct TagPath {
    /// The image ID.
    pub image_id: String,
    /// The tag (1 to 255 characters).
    pub tag: String,
}

// ---------------------------------------------------------------------------
// Versions

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct VersionLink {
    pub rel: String,
    pub href: String,
}

/// One API version this server speaks.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ApiVersion {
    /// `v2.<minor>`.
    pub id: String,
    /// `CURRENT` or `SUPPORTED`.
    pub status: String,
    /// `rel: self` is the version's absolute root URL.
    pub links: Vec<VersionLink>,
}

/// The version document clients discover the API with.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Versions {
    pub versions: Vec<ApiVersion>,
}

// ---------------------------------------------------------------------------
// Health

/// The health check's answer with `Accept: application/json`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct HealthReport {
    pub status: HealthStatus,
    /// `["OK"]`, or one line per failing check (the text body's lines).
    pub reasons: Vec<String>,
    pub checks: Vec<HealthCheck>,
}

/// `OK`; `UNAVAILABLE` when a check failed; `DISABLED` while the
/// `--disable-by-file` file exists (the replica is being drained).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthStatus {
    Ok,
    Unavailable,
    Disabled,
}

/// One check the health check ran.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct HealthCheck {
    /// `store` (a read and a write reach the database in time) or
    /// `disable_by_file` (the drain file is absent).
    pub name: String,
    pub ok: bool,
    /// How long the check took.
    pub latency_seconds: f64,
    /// What it found, e.g. `sqlite: a read and a write answered`.
    pub detail: String,
}

// ---------------------------------------------------------------------------
// Errors

/// Stable machine-readable error codes. `IMG.*` are Huawei IMS codes for the
/// same condition; `imgshare.*` are ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ErrorCode {
    /// 400: the request body is malformed or has invalid values.
    #[serde(rename = "IMG.0001")]
    Img0001,
    /// 400: the request body is empty.
    #[serde(rename = "IMG.0007")]
    Img0007,
    /// 403: the caller's role or project may not do this.
    #[serde(rename = "IMG.0026")]
    Img0026,
    /// 400: an image named in a batch call does not exist (or the caller
    /// cannot see it).
    #[serde(rename = "IMG.0027")]
    Img0027,
    /// 400: only the image's owner may share it or stop sharing it.
    #[serde(rename = "IMG.0047")]
    Img0047,
    /// 400: an image ID in a batch call is not a UUID.
    #[serde(rename = "IMG.0066")]
    Img0066,
    /// 400: a project, account or member ID is malformed (not 1 to 255
    /// characters of `A-Z a-z 0-9 - _ . : @ /`).
    #[serde(rename = "IMG.0067")]
    Img0067,
    /// 400: the member project does not exist (the identity service does
    /// not know it); only when the server checks members with Keystone.
    #[serde(rename = "IMG.0108")]
    Img0108,
    /// 400: an image cannot be shared with its own project.
    #[serde(rename = "IMG.0076")]
    Img0076,
    /// 400: the image's visibility is not `shared` (`private` and
    /// `community` images have no members).
    #[serde(rename = "IMG.0084")]
    Img0084,
    /// 404: the image does not exist or is not visible to the caller.
    #[serde(rename = "IMG.0086")]
    Img0086,
    /// 413: the image has reached its member quota.
    #[serde(rename = "IMG.0088")]
    Img0088,
    /// 400: a public image cannot be shared.
    #[serde(rename = "IMG.0089")]
    Img0089,
    /// 400: not supported: Windows images cannot be shared.
    #[serde(rename = "IMG.0105")]
    Img0105,
    /// 401: no valid credentials: the token is missing, unknown or expired,
    /// or an AK/SK signature was refused (the message says why).
    #[serde(rename = "imgshare.unauthorized")]
    Unauthorized,
    /// 403: a signed request's `X-Project-Id` is not a project its access key
    /// may act in.
    #[serde(rename = "imgshare.project_not_allowed")]
    ProjectNotAllowed,
    /// 400: GET and DELETE calls must not carry a body.
    #[serde(rename = "imgshare.unexpected_body")]
    UnexpectedBody,
    /// 413: the request body exceeds the size limit.
    #[serde(rename = "imgshare.body_too_large")]
    BodyTooLarge,
    /// 400: a query parameter is invalid.
    #[serde(rename = "imgshare.invalid_query")]
    InvalidQuery,
    /// 404: the member or resource does not exist or is not visible.
    #[serde(rename = "imgshare.not_found")]
    NotFound,
    /// 403: only `shared` images have members.
    #[serde(rename = "imgshare.image_not_shared")]
    NotShared,
    /// 403: an attribute in the body is read-only or reserved.
    #[serde(rename = "imgshare.read_only_attribute")]
    ReadOnlyAttribute,
    /// 403: protected images cannot be deleted.
    #[serde(rename = "imgshare.image_protected")]
    ImageProtected,
    /// 403: Windows images cannot be shared.
    #[serde(rename = "imgshare.windows_image")]
    WindowsImage,
    /// 409: the project is already a member of the image.
    #[serde(rename = "imgshare.member_duplicate")]
    MemberDuplicate,
    /// 409: the image is shared with an account or an organization, so it
    /// cannot be deleted until that share is removed (Huawei's rule).
    #[serde(rename = "imgshare.image_shared_with_accounts")]
    SharedWithAccounts,
    /// 409: image data can only be uploaded to a `queued` image.
    #[serde(rename = "imgshare.image_not_queued")]
    ImageNotQueued,
    /// 413: the image data is larger than the server's cap
    /// (`--image-size-cap`); nothing was kept.
    #[serde(rename = "imgshare.image_too_large")]
    ImageTooLarge,
    /// 400: the upload's body ended early or was malformed; nothing was kept
    /// and the image stays `queued`.
    #[serde(rename = "imgshare.upload_interrupted")]
    UploadInterrupted,
    /// 416: the `Range` asks for bytes the image data does not have.
    #[serde(rename = "imgshare.range_not_satisfiable")]
    RangeNotSatisfiable,
    /// 409: an image with this ID exists.
    #[serde(rename = "imgshare.image_duplicate")]
    ImageDuplicate,
    /// 409: a JSON-patch `remove` names a property the image does not have.
    #[serde(rename = "imgshare.property_missing")]
    PropertyMissing,
    /// 413: the image has the maximum number of tags.
    #[serde(rename = "imgshare.tag_quota")]
    TagQuota,
    /// 415: the request body's media type is not accepted.
    #[serde(rename = "imgshare.unsupported_media_type")]
    UnsupportedMediaType,
    /// 501: image data (upload, download) is not stored by this service.
    #[serde(rename = "imgshare.not_implemented")]
    NotImplemented,
    /// 405: the method is not allowed on this path.
    #[serde(rename = "imgshare.method_not_allowed")]
    MethodNotAllowed,
    /// 503: a transient failure; retry.
    #[serde(rename = "imgshare.unavailable")]
    Unavailable,
    /// 503: the identity service (Keystone) is unreachable or failing, so the
    /// token could not be checked; retry. Not the client's fault.
    #[serde(rename = "imgshare.identity_unavailable")]
    IdentityUnavailable,
    /// 400: the request's credentials contradict each other: more than one
    /// `X-Auth-Token`, or a token and an AK/SK signature of different
    /// callers.
    #[serde(rename = "imgshare.ambiguous_credentials")]
    AmbiguousCredentials,
    /// 500: an unexpected server fault.
    #[serde(rename = "imgshare.internal")]
    Internal,
}

/// The error details.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// The HTTP reason phrase, e.g. `Conflict`.
    pub title: String,
    /// A human-readable explanation.
    pub message: String,
}

/// The body of every error response.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, thiserror::Error)]
#[error("{}: {}", error.title, error.message)]
pub struct ApiError {
    pub error: ErrorBody,
}

// ---------------------------------------------------------------------------
// The API

/// Reply types, named once: each wraps the documented success response and
/// adds `x-openstack-request-id` (see `reply.rs` for why this is not an `Err`).
pub type MemberReply = Reply<HttpResponseOk<Member>>;
pub type MembersReply = Reply<HttpResponseOk<Members>>;
pub type ImageReply = Reply<HttpResponseOk<Image>>;
pub type SchemaReply = Reply<HttpResponseOk<serde_json::Value>>;
pub type DeletedReply = Reply<HttpResponseDeleted>;
pub type JobReply = Reply<HttpResponseOk<JobCreated>>;

/// What dropshot lets an upload stream; the real cap is `--image-size-cap`.
pub const UPLOAD_BODY_MAX: usize = usize::MAX;

#[dropshot::api_description {
    tag_config = {
        allow_other_tags = false,
        policy = dropshot::EndpointTagPolicy::ExactlyOne,
        tags = {
            images = {
                description = "Image records: create, list, show, update (JSON patch), tag and \
                               delete. Only the metadata sharing needs; no image data.",
            },
            members = {
                description = "Image members: the owner shares a `shared` image with another \
                               project, which accepts or rejects it.",
            },
            schemas = {
                description = "Glance's JSON schemas, which python-glanceclient reads before \
                               its calls.",
            },
            versions = {
                description = "Version discovery (no token needed).",
            },
            operations = {
                description = "For load balancers and operators: the health check (no token \
                               needed). Metrics are served on a listener of their own \
                               (`--metrics-bind`), not here.",
            },
            huawei = {
                description = "Huawei IMS's own sharing API: batch share, accept and unshare \
                               calls carried out by durable jobs, the jobs, v1 member reads, \
                               the member quota and Huawei's image list. Errors the batch \
                               calls find in the request are answered 400 with Huawei's \
                               `IMG.xxxx` code before any job exists.",
            },
        },
    },
}]
pub trait ImgshareApi {
    type Context;

    /// Show API versions
    ///
    /// Version discovery, unauthenticated: the versions this server speaks,
    /// each with its absolute root URL (built from `--public-url`, else from
    /// the request's `Host`).
    #[endpoint { method = GET, path = "/", tags = ["versions"] }]
    async fn get_root(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<Reply<HttpResponseOk<Versions>>, ApiError>;

    /// List API versions
    ///
    /// The same document as `GET /` (python-glanceclient asks here).
    #[endpoint { method = GET, path = "/versions", tags = ["versions"] }]
    async fn list_versions(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<Reply<HttpResponseOk<Versions>>, ApiError>;

    /// Health check
    ///
    /// For load balancers, at the path oslo.middleware gives Glance: 200
    /// `OK` (text/plain) when the store answers a trivial read and a write
    /// within `--health-timeout-secs`; 503 with the reason otherwise, and
    /// 503 `disabled by file` while the file named by `--disable-by-file`
    /// exists, so an operator can take a replica out of rotation before
    /// stopping it. With `Accept: application/json`, each check with its
    /// result and latency. No token needed; nothing secret in it. `HEAD`
    /// answers the same status without a body.
    #[endpoint { method = GET, path = "/healthcheck", tags = ["operations"] }]
    async fn healthcheck(rqctx: RequestContext<Self::Context>) -> Result<HealthResponse, ApiError>;

    /// List images
    ///
    /// Images visible to the caller, newest first: public and community images,
    /// the caller's own, and images shared with the caller whose membership is in
    /// `member_status` (default `accepted`).
    #[endpoint { method = GET, path = "/v2/images", tags = ["images"] }]
    async fn list_images(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        query: LenientQuery<ImageListQuery>,
    ) -> Result<Reply<HttpResponseOk<Images>>, ApiError>;

    /// Create an image
    ///
    /// Creates an image record owned by the caller's project. The default
    /// visibility is `shared`.
    #[endpoint { method = POST, path = "/v2/images", tags = ["images"] }]
    async fn create_image(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        body: JsonBody<ImageCreate>,
    ) -> Result<Reply<HttpResponseCreated<Image>, CreatedHeaders>, ApiError>;

    /// Show an image
    ///
    /// Visible to the owner, admins, any member of a shared image (whatever its
    /// status) and everyone for public and community images.
    #[endpoint { method = GET, path = "/v2/images/{image_id}", tags = ["images"] }]
    async fn get_image(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<ImagePath>,
    ) -> Result<ImageReply, ApiError>;

    /// Update an image
    ///
    /// A JSON patch (Glance's v2.1 subset: `add`, `replace`, `remove` on the
    /// top-level attributes and custom properties). Clients send it as
    /// `Content-Type: application/openstack-images-v2.1-json-patch`;
    /// `application/json` is accepted too (dropshot can only document the
    /// body as `application/json`), anything else is answered 415. Owner or
    /// admin only; read-only attributes are refused with 403. Changing the
    /// visibility keeps the image's memberships.
    #[endpoint { method = PATCH, path = "/v2/images/{image_id}", tags = ["images"] }]
    async fn update_image(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<ImagePath>,
        body: JsonBody<Vec<ImagePatchOperation>>,
    ) -> Result<ImageReply, ApiError>;

    /// Add an image tag
    ///
    /// Owner or admin only; adding a tag the image has is a no-op.
    #[endpoint { method = PUT, path = "/v2/images/{image_id}/tags/{tag}", tags = ["images"] }]
    async fn add_image_tag(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<TagPath>,
    ) -> Result<Reply<HttpResponseUpdatedNoContent>, ApiError>;

    /// Remove an image tag
    ///
    /// Owner or admin only.
    #[endpoint { method = DELETE, path = "/v2/images/{image_id}/tags/{tag}", tags = ["images"] }]
    async fn delete_image_tag(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<TagPath>,
    ) -> Result<DeletedReply, ApiError>;

    /// Delete an image
    ///
    /// Owner or admin only; protected images cannot be deleted, nor (409)
    /// images shared with an account or an organization. The image's
    /// memberships are removed with it. Huawei's SDK may send a body,
    /// `{"delete_backup": bool}`; it is accepted and ignored.
    #[endpoint { method = DELETE, path = "/v2/images/{image_id}", tags = ["images"] }]
    async fn delete_image(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<ImagePath>,
        body: OptionalJsonBody<ImageDeleteBody>,
    ) -> Result<DeletedReply, ApiError>;

    /// Upload image data
    ///
    /// Streams the image's data (`application/octet-stream`) into the store
    /// while its MD5 (`checksum`) and SHA-512 (`os_hash_algo`,
    /// `os_hash_value`) are computed. Owner or admin only; the image must be
    /// `queued` (else 409): it is `saving` during the upload and `active`
    /// after it, with `size` set. The 204 is sent only once the data and the
    /// image are durable. Data over `--image-size-cap` is answered 413; an
    /// upload that fails or is cut off keeps nothing and leaves the image
    /// `queued`. Of two concurrent uploads one wins, the other gets 409.
    #[endpoint {
        method = PUT,
        path = "/v2/images/{image_id}/file",
        tags = ["images"],
        request_body_max_bytes = UPLOAD_BODY_MAX,
    }]
    async fn upload_image_data(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<ImagePath>,
        body: StreamingBody,
    ) -> Result<Reply<HttpResponseUpdatedNoContent>, ApiError>;

    /// Download image data
    ///
    /// The image's data, streamed (`application/octet-stream`), with
    /// `Content-Length` and `Content-MD5` (the checksum, as Glance sends it).
    /// Anyone who may see the image may download it (Glance's
    /// `download_image` policy: owner, members whatever their status, admins,
    /// public and community images). 204 when the image has no data. One
    /// `Range: bytes=…` is honoured: 206 with `Content-Range`, or 416 when no
    /// byte satisfies it.
    #[endpoint { method = GET, path = "/v2/images/{image_id}/file", tags = ["images"] }]
    async fn download_image_data(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<ImagePath>,
    ) -> Result<DataResponse, ApiError>;

    /// List image members
    ///
    /// The owner (and admins) see every member; a member sees only its own entry.
    /// Only `shared` images have members. Members are listed in the order they
    /// were added; `limit` and `marker` page through them (Huawei IMS), and
    /// `page_info` says where the page stands.
    #[endpoint { method = GET, path = "/v2/images/{image_id}/members", tags = ["members"] }]
    async fn list_members(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<ImagePath>,
        query: LenientQuery<MemberListQuery>,
    ) -> Result<MembersReply, ApiError>;

    /// Add an image member
    ///
    /// Shares a `shared` image with another project. The new membership is
    /// `pending` until the member accepts it. Owner or admin only; the image's
    /// member quota applies, Windows images cannot be shared, and an image
    /// cannot be shared with its own project.
    #[endpoint { method = POST, path = "/v2/images/{image_id}/members", tags = ["members"] }]
    async fn add_member(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<ImagePath>,
        body: JsonBody<MemberCreate>,
    ) -> Result<MemberReply, ApiError>;

    /// Show an image member
    ///
    /// The owner, the member itself or an admin may read a membership; every
    /// failure is answered 404.
    #[endpoint {
        method = GET,
        path = "/v2/images/{image_id}/members/{member_id}",
        tags = ["members"],
    }]
    async fn get_member(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<MemberPath>,
    ) -> Result<MemberReply, ApiError>;

    /// Update an image member's status
    ///
    /// Only the member itself (or an admin) may accept, reject or reset a
    /// membership; the owner gets 403. Any transition is allowed.
    #[endpoint {
        method = PUT,
        path = "/v2/images/{image_id}/members/{member_id}",
        tags = ["members"],
    }]
    async fn update_member(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<MemberPath>,
        body: JsonBody<MemberUpdate>,
    ) -> Result<MemberReply, ApiError>;

    /// Remove an image member
    ///
    /// Owner or admin only. The image disappears from the member's lists.
    #[endpoint {
        method = DELETE,
        path = "/v2/images/{image_id}/members/{member_id}",
        tags = ["members"],
    }]
    async fn delete_member(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<MemberPath>,
    ) -> Result<DeletedReply, ApiError>;

    /// Show the image schema
    ///
    /// Glance's JSON schema of an image object (python-glanceclient needs it
    /// before any call, or falls back to the v1 API).
    #[endpoint { method = GET, path = "/v2/schemas/image", tags = ["schemas"] }]
    async fn get_image_schema(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
    ) -> Result<SchemaReply, ApiError>;

    /// Show the images schema
    ///
    /// Glance's JSON schema of an image list.
    #[endpoint { method = GET, path = "/v2/schemas/images", tags = ["schemas"] }]
    async fn get_images_schema(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
    ) -> Result<SchemaReply, ApiError>;

    /// Show the member schema
    ///
    /// Glance's JSON schema of a member object (python-glanceclient validates
    /// every member it receives against it).
    #[endpoint { method = GET, path = "/v2/schemas/member", tags = ["schemas"] }]
    async fn get_member_schema(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
    ) -> Result<SchemaReply, ApiError>;

    /// Show the members schema
    ///
    /// Glance's JSON schema of a member list.
    #[endpoint { method = GET, path = "/v2/schemas/members", tags = ["schemas"] }]
    async fn get_members_schema(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
    ) -> Result<SchemaReply, ApiError>;

    // Huawei IMS (`api/huawei.rs`, handlers in `huawei.rs`). The
    // `/v1/cloudimages/…` routes are registered as `/v1/{project_id}/…` (see
    // `CloudImagesPath`) and published under their literal path.

    /// Share images with projects (batch)
    ///
    /// Huawei's `BatchAddMembers`: shares each image with each project, as a
    /// job. The request is checked whole first (400 with an `IMG.xxxx` code,
    /// nothing written); the job then adds the members image by image, all
    /// or nothing per image, and reports each image × project in its results.
    /// Owner (or admin) only; at most 100 images and 100 projects.
    #[endpoint { method = POST, path = "/v1/{project_id}/members", tags = ["huawei"] }]
    async fn batch_add_members(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<CloudImagesPath>,
        body: JsonBody<BatchMembersRequest>,
    ) -> Result<JobReply, ApiError>;

    /// Accept or reject shared images (batch)
    ///
    /// Huawei's `BatchUpdateMembers`: the member (`project_id`, the caller's
    /// own project) sets its membership of each image to `accepted` or
    /// `rejected`, as a job.
    #[endpoint { method = PUT, path = "/v1/{project_id}/members", tags = ["huawei"] }]
    async fn batch_update_members(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<CloudImagesPath>,
        body: JsonBody<BatchUpdateRequest>,
    ) -> Result<JobReply, ApiError>;

    /// Stop sharing images with projects (batch)
    ///
    /// Huawei's `BatchDeleteMembers` (a DELETE with a JSON body): removes each
    /// project from each image's members, as a job, all or nothing per image.
    #[endpoint { method = DELETE, path = "/v1/{project_id}/members", tags = ["huawei"] }]
    async fn batch_delete_members(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<CloudImagesPath>,
        body: JsonBody<BatchMembersRequest>,
    ) -> Result<JobReply, ApiError>;

    /// Show a job's progress
    ///
    /// Huawei's `ShowJobProgress`: the same job as `show_job`. Only the
    /// project that started the job (and admins) may read it; others get 404.
    #[endpoint { method = GET, path = "/v1/{project_id}/job/{job_id}", tags = ["huawei"] }]
    async fn show_job_progress(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<CloudImagesJobPath>,
    ) -> Result<Reply<HttpResponseOk<Job>>, ApiError>;

    /// Show the member quota
    ///
    /// Huawei's `ShowImageQuota`: `image_member`, the members an image may
    /// have (`--member-quota`).
    #[endpoint { method = GET, path = "/v1/{project_id}/quota", tags = ["huawei"] }]
    async fn show_image_quota(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<CloudImagesPath>,
    ) -> Result<Reply<HttpResponseOk<Quotas>>, ApiError>;

    /// Show a job
    ///
    /// Huawei's `ShowJob`, which Huawei's Terraform provider polls. The path
    /// project must be the caller's (else 403); only the project that started
    /// the job (and admins) may read it, others get 404.
    #[endpoint { method = GET, path = "/v1/{project_id}/jobs/{job_id}", tags = ["huawei"] }]
    async fn show_job(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<ProjectJobPath>,
    ) -> Result<Reply<HttpResponseOk<Job>>, ApiError>;

    /// List image members (v1)
    ///
    /// Huawei's `ListImageMembers`: the native list with each member's
    /// `member_type`, 500 members per page unless `limit` says otherwise. The
    /// path project must be the caller's (else 403).
    #[endpoint {
        method = GET,
        path = "/v1/{project_id}/cloudimages/{image_id}/members",
        tags = ["huawei"],
    }]
    async fn list_image_members(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<ProjectImagePath>,
        query: LenientQuery<V1MemberListQuery>,
    ) -> Result<Reply<HttpResponseOk<V1Members>>, ApiError>;

    /// Show an image member (v1)
    ///
    /// Huawei's `ShowImageMember`: the native show with `member_type`. The
    /// path project must be the caller's (else 403).
    #[endpoint {
        method = GET,
        path = "/v1/{project_id}/cloudimages/{image_id}/members/{member_id}",
        tags = ["huawei"],
    }]
    async fn show_image_member(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        path: Path<ProjectMemberPath>,
    ) -> Result<Reply<HttpResponseOk<V1Member>>, ApiError>;

    /// List images (Huawei)
    ///
    /// Huawei's `ListImages`: the native list, newest first, with each
    /// image's `__imagetype` (`gold`, `private`, `shared`) and `page_info`.
    /// `__imagetype=shared` lists the images shared with the caller whose
    /// membership is in `member_status` (default `accepted`).
    #[endpoint { method = GET, path = "/v2/cloudimages", tags = ["huawei"] }]
    async fn list_cloud_images(
        rqctx: RequestContext<Self::Context>,
        auth: Headers<AuthHeaders>,
        query: LenientQuery<CloudImageListQuery>,
    ) -> Result<Reply<HttpResponseOk<CloudImages>>, ApiError>;
}

/// The OpenAPI document dropshot derives from the trait (no implementation needed).
pub fn derived_openapi() -> serde_json::Value {
    let api = imgshare_api_mod::stub_api_description().expect("valid API description");
    let mut doc = api.openapi("imgshare", semver::Version::new(2, 6, 0));
    doc.description(
        "OpenStack Image API v2 image members, as Huawei Cloud IMS serves them \
         (\"Native OpenStack API\"), and Huawei IMS's own sharing API.",
    );
    doc.license("Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0");
    let mut json = doc.json().expect("serialisable OpenAPI document");
    publish_cloudimages_paths(&mut json);
    // dropshot 0.18 writes `required: true` on every request body.
    if let Some(body) = json.pointer_mut("/paths/~1v2~1images~1{image_id}/delete/requestBody") {
        body["required"] = false.into();
    }
    // ... and documents typed response bodies as JSON only: the image data
    // is `application/octet-stream`.
    if let Some(responses) = json.pointer_mut("/paths/~1v2~1images~1{image_id}~1file/get/responses")
    {
        let data = serde_json::json!({
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
        });
        responses["200"]["content"] = data.clone();
        // dropshot documents one success status; the download has three.
        responses["204"] = serde_json::json!({
            "description": "The image has no data (it is `queued`)."
        });
        responses["206"] = serde_json::json!({
            "description": "The bytes a `Range` asked for; `Content-Range` says which.",
            "headers": {"content-range": {
                "description": "`bytes <first>-<last>/<size>`",
                "schema": {"type": "string"}
            }},
            "content": data
        });
    }
    health_responses(&mut json);
    // A batch add or delete names at least one target: a rule on the three
    // lists together, which schemars cannot state.
    if let Some(schema) = json.pointer_mut("/components/schemas/BatchMembersRequest") {
        schema["anyOf"] = ["projects", "domains", "organizations"]
            .iter()
            .map(|list| {
                serde_json::json!({
                    "required": [list],
                    "properties": {*list: {"minItems": 1}}
                })
            })
            .collect();
    }
    json
}

/// The health check answers text or JSON, 200 or 503: dropshot documents
/// one JSON success response.
fn health_responses(doc: &mut serde_json::Value) {
    let mut generator = schemars::gen::SchemaSettings::openapi3().into_generator();
    let report = generator.subschema_for::<HealthReport>();
    for (name, schema) in generator.take_definitions() {
        doc["components"]["schemas"][name] = serde_json::to_value(schema).unwrap_or_default();
    }
    let Some(responses) = doc.pointer_mut("/paths/~1healthcheck/get/responses") else {
        return;
    };
    let content = |text: &str| {
        serde_json::json!({
            "text/plain": {"schema": {"type": "string", "description": text}},
            "application/json": {"schema": report},
        })
    };
    responses["200"]["content"] = content("`OK`");
    // It reads no input and answers every failure as a 503 report: no
    // `ApiError` envelope.
    if let Some(map) = responses.as_object_mut() {
        map.remove("4XX");
        map.remove("5XX");
    }
    responses["503"] = serde_json::json!({
        "description": "A check failed, or the replica is disabled by file.",
        "content": content("One line per failing check, e.g. `disabled by file`."),
    });
}

/// Routes registered as `/v1/{project_id}/<rest>` that are published as
/// `/v1/cloudimages/<rest>` (see `huawei::CloudImagesPath`).
pub const CLOUDIMAGES_ROUTES: &[&str] = &["members", "job/{job_id}", "quota"];

/// Renames those routes to their literal path and drops the `project_id`
/// path parameter, which only ever holds `cloudimages`.
fn publish_cloudimages_paths(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for rest in CLOUDIMAGES_ROUTES {
        let Some(mut item) = paths.remove(&format!("/v1/{{project_id}}/{rest}")) else {
            continue;
        };
        if let Some(ops) = item.as_object_mut() {
            for op in ops.values_mut() {
                if let Some(params) = op.get_mut("parameters").and_then(|p| p.as_array_mut()) {
                    params.retain(|p| !(p["in"] == "path" && p["name"] == "project_id"));
                }
            }
        }
        paths.insert(format!("/v1/cloudimages/{rest}"), item);
    }
}

/// Extractor failures that slip past our lenient extractors still get the envelope.
impl From<HttpError> for ApiError {
    fn from(e: HttpError) -> Self {
        crate::reply::envelope_for_http_error(&e)
    }
}

impl dropshot::HttpResponseError for ApiError {
    fn status_code(&self) -> dropshot::ErrorStatusCode {
        crate::reply::status_for_code(self.error.code)
    }
}
