//! Every error the service can answer with, and its HTTP form, in one place.
//!
//! Messages follow Glance's wording (without WebOb's `<br />` noise); `code` is
//! Huawei's `IMG.xxxx` where Huawei defines one for the condition, otherwise one
//! of ours (`imgshare.*`). `ErrorCode` in `api.rs` lists them for the spec.

use http::StatusCode;

use crate::api::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "This server could not verify that you are authorized to access the document you \
         requested. Either you supplied the wrong credentials (e.g., bad password), or your \
         browser does not understand how to supply the credentials required."
    )]
    Unauthorized,
    /// An AK/SK signature was refused; the message says why (algorithm,
    /// clock skew, mismatch), never with a secret in it.
    #[error("{0}")]
    SignatureRejected(String),
    /// A signed request names a project its access key may not act in.
    #[error("{0}")]
    ProjectNotAllowed(String),
    /// The identity service (Keystone) could not be asked; the detail is for
    /// the log only. keystonemiddleware's wording.
    #[error("The Keystone service is temporarily unavailable.")]
    IdentityUnavailable(String),

    /// Credentials that contradict each other (two tokens; a token and a
    /// signature of different callers).
    #[error("{0}")]
    AmbiguousCredentials(String),

    #[error("Body expected in request.")]
    BodyExpected,
    #[error("A body is not expected with this request.")]
    BodyNotExpected,
    #[error("Request body is larger than the limit of {0} bytes.")]
    BodyTooLarge(usize),
    /// Malformed or mis-shaped request body; the message says what is wrong.
    #[error("{0}")]
    InvalidBody(String),
    /// A member project the identity service does not know (Huawei's
    /// `IMG.0108`: tenant not found in the region).
    #[error("Project {0} does not exist: the identity service does not know it.")]
    UnknownProject(String),
    /// An ID outside the identifier rule (`domain/ids.rs`); the message
    /// names the rule.
    #[error("{0}")]
    InvalidId(String),
    /// Invalid query parameter.
    #[error("{0}")]
    InvalidQuery(String),

    #[error("Image {0} not found.")]
    ImageNotFound(String),
    #[error("No image found with ID {0}")]
    NoImageWithId(String),
    #[error("{member} not found in the member list of the image {image}.")]
    MemberNotFound { image: String, member: String },
    /// The show-member call hides every failure behind 404 (Glance).
    #[error("{0}")]
    HiddenNotFound(String),

    /// Member calls on an image that is not `shared`.
    #[error("{0}")]
    NotShared(String),
    #[error("You are not authorized to complete {0} action.")]
    PolicyDenied(&'static str),
    #[error("Attribute '{0}' is read-only.")]
    ReadOnlyAttribute(String),
    #[error("Attribute '{0}' cannot be removed.")]
    CannotRemove(String),
    #[error("Property {0} does not exist.")]
    PropertyMissing(String),
    #[error("Maximum number of tags ({0}) exceeded for this image.")]
    TagQuota(usize),
    /// The body's media type (as sent) and the one to send.
    #[error("Unsupported Content-Type {0}; send {1}.")]
    UnsupportedMediaType(String, &'static str),
    #[error("Image {0} is protected and cannot be deleted.")]
    ImageProtected(String),
    #[error("You cannot share an image with yourself.")]
    SelfShare,
    #[error("Windows images cannot be shared (image {0}).")]
    WindowsImage(String),

    #[error(
        "Image member limit exceeded for image {image}: The limit has been exceeded on the \
         number of allowed image members for this image. Attempted: {attempted}, Maximum: {max}"
    )]
    MemberQuota {
        image: String,
        attempted: u64,
        max: u64,
    },
    #[error("Member {member} is duplicated for image {image}")]
    MemberDuplicate { image: String, member: String },
    #[error("Image with identifier {0} already exists!")]
    ImageDuplicate(String),

    /// A Huawei batch call refused before any job exists: 400 with the
    /// `IMG.xxxx` code Huawei gives the condition.
    #[error("{1}")]
    BatchRefused(ErrorCode, String),
    /// A `/v1/{project_id}/…` path names a project other than the caller's.
    #[error("The project {0} in the path is not the project of your credentials.")]
    ProjectMismatch(String),
    #[error("Job {0} could not be found.")]
    JobNotFound(String),
    /// Huawei: an image shared with an account or an organization cannot be
    /// deleted while the share exists.
    #[error(
        "Image {0} is shared with an account or an organization and cannot be deleted; \
         stop sharing it first."
    )]
    SharedWithAccounts(String),
    /// Image data: the image is not in a state that takes an upload.
    #[error("Image status transition from {0} to saving is not allowed")]
    UploadNotQueued(String),
    #[error("Image exceeds the storage quota: the image data is larger than {0} bytes.")]
    ImageTooLarge(u64),
    /// The upload's body failed (client gone, bad chunking); nothing kept.
    #[error("The upload was interrupted; the image stays queued.")]
    UploadInterrupted(String),
    /// A `Range` that no byte of the data satisfies.
    #[error("Requested range not satisfiable: the image data has {0} bytes.")]
    RangeNotSatisfiable(u64),
    /// A path this server does not serve.
    #[error("The resource could not be found.")]
    UnknownPath,

    #[error("The service is temporarily unavailable; retry the request.")]
    Unavailable(String),
    #[error("The server has either erred or is incapable of performing the requested operation.")]
    Internal(String),
}

impl Error {
    pub fn status(&self) -> StatusCode {
        use Error::*;
        match self {
            Unauthorized | SignatureRejected(_) => StatusCode::UNAUTHORIZED,
            ProjectNotAllowed(_) => StatusCode::FORBIDDEN,
            IdentityUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            BodyExpected
            | BodyNotExpected
            | InvalidBody(_)
            | InvalidQuery(_)
            | SelfShare
            | BatchRefused(..)
            | AmbiguousCredentials(_)
            | InvalidId(_)
            | UnknownProject(_) => StatusCode::BAD_REQUEST,
            ProjectMismatch(_) => StatusCode::FORBIDDEN,
            JobNotFound(_) | UnknownPath => StatusCode::NOT_FOUND,
            BodyTooLarge(_) | MemberQuota { .. } | TagQuota(_) => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType(..) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ImageNotFound(_) | NoImageWithId(_) | MemberNotFound { .. } | HiddenNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            NotShared(_) | PolicyDenied(_) | ReadOnlyAttribute(_) | CannotRemove(_)
            | ImageProtected(_) | WindowsImage(_) => StatusCode::FORBIDDEN,
            MemberDuplicate { .. }
            | ImageDuplicate(_)
            | PropertyMissing(_)
            | SharedWithAccounts(_)
            | UploadNotQueued(_) => StatusCode::CONFLICT,
            ImageTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            UploadInterrupted(_) => StatusCode::BAD_REQUEST,
            RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> ErrorCode {
        use Error::*;
        match self {
            Unauthorized | SignatureRejected(_) => ErrorCode::Unauthorized,
            ProjectNotAllowed(_) => ErrorCode::ProjectNotAllowed,
            IdentityUnavailable(_) => ErrorCode::IdentityUnavailable,
            AmbiguousCredentials(_) => ErrorCode::AmbiguousCredentials,
            BodyExpected => ErrorCode::Img0007,
            InvalidBody(_) => ErrorCode::Img0001,
            InvalidId(_) => ErrorCode::Img0067,
            UnknownProject(_) => ErrorCode::Img0108,
            BodyNotExpected => ErrorCode::UnexpectedBody,
            BodyTooLarge(_) => ErrorCode::BodyTooLarge,
            InvalidQuery(_) => ErrorCode::InvalidQuery,
            ImageNotFound(_) | NoImageWithId(_) => ErrorCode::Img0086,
            MemberNotFound { .. } | HiddenNotFound(_) => ErrorCode::NotFound,
            NotShared(_) => ErrorCode::NotShared,
            PolicyDenied(_) => ErrorCode::Img0026,
            ReadOnlyAttribute(_) | CannotRemove(_) => ErrorCode::ReadOnlyAttribute,
            PropertyMissing(_) => ErrorCode::PropertyMissing,
            TagQuota(_) => ErrorCode::TagQuota,
            UnsupportedMediaType(..) => ErrorCode::UnsupportedMediaType,
            ImageProtected(_) => ErrorCode::ImageProtected,
            SelfShare => ErrorCode::Img0076,
            WindowsImage(_) => ErrorCode::WindowsImage,
            MemberQuota { .. } => ErrorCode::Img0088,
            MemberDuplicate { .. } => ErrorCode::MemberDuplicate,
            ImageDuplicate(_) => ErrorCode::ImageDuplicate,
            BatchRefused(code, _) => *code,
            SharedWithAccounts(_) => ErrorCode::SharedWithAccounts,
            UploadNotQueued(_) => ErrorCode::ImageNotQueued,
            ImageTooLarge(_) => ErrorCode::ImageTooLarge,
            UploadInterrupted(_) => ErrorCode::UploadInterrupted,
            RangeNotSatisfiable(_) => ErrorCode::RangeNotSatisfiable,
            ProjectMismatch(_) => ErrorCode::Img0026,
            JobNotFound(_) | UnknownPath => ErrorCode::NotFound,
            Unavailable(_) => ErrorCode::Unavailable,
            Internal(_) => ErrorCode::Internal,
        }
    }

    /// What the client sees. Internal details (driver messages) stay in the log.
    pub fn public_message(&self) -> String {
        self.to_string()
    }

    /// Details for the log only.
    pub fn internal_detail(&self) -> Option<&str> {
        match self {
            Error::Unavailable(d)
            | Error::Internal(d)
            | Error::IdentityUnavailable(d)
            | Error::UploadInterrupted(d) => Some(d),
            _ => None,
        }
    }
}
