//! The rules of image sharing, in Glance's check order. No HTTP here: each
//! function takes the caller and plain values and returns records or an
//! [`Error`]; the handlers map those to the wire.

pub mod data;
pub mod ids;
pub mod images;
pub mod jobs;
pub mod members;
pub mod model;

use std::sync::Arc;

use crate::error::Error;
use crate::store::{Store, StoreError};
use model::{Caller, ImageRecord, MemberType, Visibility};

/// Where new members are checked to exist (Keystone), unless
/// `--no-verify-members`.
#[async_trait::async_trait]
pub trait ProjectDirectory: Send + Sync {
    /// `Some(exists)`, or `None` when the directory cannot tell (then the
    /// member is accepted, as Nova accepts a project it may not look up).
    async fn project_exists(&self, project_id: &str) -> Result<Option<bool>, Error>;
}

/// What the rules need: the store and the configured limits.
#[derive(Clone)]
pub struct Service {
    /// Checks that a project added as a member exists; `None`: no check.
    pub projects: Option<Arc<dyn ProjectDirectory>>,
    pub store: Arc<dyn Store>,
    /// Live members allowed per image; `None` = unlimited.
    pub member_quota: Option<u64>,
    /// Wakes a job runner when a job is accepted.
    pub job_wakeup: Arc<tokio::sync::Notify>,
    /// Image data (`--image-dir`).
    pub data: Arc<dyn crate::store::data::DataStore>,
    /// Largest image data accepted, in bytes (`--image-size-cap`).
    pub image_size_cap: u64,
    /// An upload whose temporary file is untouched this long is dead
    /// (`--upload-stale-secs`).
    pub upload_stale: std::time::Duration,
}

impl Service {
    /// Refuses a project the directory says does not exist (Huawei's
    /// `IMG.0108`).
    pub(crate) async fn check_project_exists(&self, project_id: &str) -> Result<(), Error> {
        match &self.projects {
            Some(directory) => match directory.project_exists(project_id).await? {
                Some(false) => Err(Error::UnknownProject(project_id.to_owned())),
                Some(true) | None => Ok(()),
            },
            None => Ok(()),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(d) => Error::Unavailable(d),
            other => Error::Internal(other.to_string()),
        }
    }
}

/// Image IDs are UUIDs; anything else (including over-long strings) cannot
/// name an image. Returns the canonical lower-case form.
pub fn canonical_image_id(id: &str) -> Option<String> {
    if id.len() != 36 {
        return None;
    }
    uuid::Uuid::parse_str(id)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

impl Service {
    /// The image if the caller may see it (Glance's `is_image_visible`):
    /// admins, the owner, anyone for public and community images, and for a
    /// `shared` image any project with a membership in any status.
    async fn visible_image(
        &self,
        caller: &Caller,
        image_id: &str,
    ) -> Result<Option<ImageRecord>, Error> {
        let Some(id) = canonical_image_id(image_id) else {
            return Ok(None);
        };
        let Some(image) = self.store.get_image(&id).await? else {
            return Ok(None);
        };
        let visible = caller.is_admin()
            || caller.in_project(&image.owner)
            || matches!(image.visibility, Visibility::Public | Visibility::Community)
            || (image.visibility == Visibility::Shared && self.is_member(caller, &id).await?);
        Ok(visible.then_some(image))
    }

    /// Whether a membership of the image names the caller: its project, or
    /// its account or an organization unit above it.
    async fn is_member(&self, caller: &Caller, image_id: &str) -> Result<bool, Error> {
        let Some(project) = &caller.project_id else {
            return Ok(false);
        };
        if let Some(m) = self.store.get_member(image_id, project).await? {
            if m.member_type == MemberType::Project {
                return Ok(true);
            }
        }
        if caller.domain_id.is_none() && caller.organization_path.is_none() {
            return Ok(false);
        }
        Ok(self
            .store
            .list_members(image_id)
            .await?
            .iter()
            .any(|m| m.member_type != MemberType::Project && caller.covered_by(m)))
    }
}
