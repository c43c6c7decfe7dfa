//! Storage: one trait, shaped so a second SQL backend (PostgreSQL) fits beside
//! SQLite. Each write method is one transaction; the invariants that must hold
//! under concurrency (unique live membership, member quota, no member without
//! its image) are checked inside that transaction, never by the caller.

pub mod sqlite;

use async_trait::async_trait;

use crate::domain::model::{ImageQuery, ImageRecord, MemberRecord, MemberStatus};
use crate::error::Error;

/// An edit applied to the current image inside the write transaction (a
/// read-modify-write no concurrent edit can interleave with). It may refuse
/// with a domain error, which the store hands back untouched.
pub type ImageEdit = Box<dyn FnOnce(&mut ImageRecord) -> Result<(), Error> + Send>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    Duplicate,
    #[error("member quota exceeded: attempted {attempted}, maximum {max}")]
    QuotaExceeded { attempted: u64, max: u64 },
    /// Transient (busy database, lost connection): the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store failure: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn get_image(&self, id: &str) -> StoreResult<Option<ImageRecord>>;
    /// One page of images, newest first (created_at desc, id desc).
    async fn list_images(&self, query: &ImageQuery) -> StoreResult<Vec<ImageRecord>>;
    /// `Duplicate` when the id is taken.
    async fn create_image(&self, image: ImageRecord) -> StoreResult<()>;
    /// Applies `edit` to the stored image and saves the result. `NotFound` if
    /// absent; `Ok(Err(e))` when the edit refused (nothing is written).
    async fn modify_image(
        &self,
        id: &str,
        edit: ImageEdit,
    ) -> StoreResult<Result<ImageRecord, Error>>;
    /// Removes the image and all its memberships. `NotFound` if absent.
    async fn delete_image(&self, id: &str) -> StoreResult<()>;

    async fn get_member(
        &self,
        image_id: &str,
        member_id: &str,
    ) -> StoreResult<Option<MemberRecord>>;
    /// Live members in creation order.
    async fn list_members(&self, image_id: &str) -> StoreResult<Vec<MemberRecord>>;
    /// Adds a `pending` member. Quota (`None` = unlimited) is checked before the
    /// duplicate check, as Glance does: `QuotaExceeded`, then `Duplicate`;
    /// `NotFound` when the image is gone.
    async fn add_member(
        &self,
        image_id: &str,
        member_id: &str,
        quota: Option<u64>,
        now: i64,
    ) -> StoreResult<MemberRecord>;
    /// Sets the status; `updated_at` moves only when the status changes.
    async fn update_member(
        &self,
        image_id: &str,
        member_id: &str,
        status: MemberStatus,
        now: i64,
    ) -> StoreResult<MemberRecord>;
    async fn delete_member(&self, image_id: &str, member_id: &str) -> StoreResult<()>;

    /// Flush and stop background work. Writes acknowledged before are durable.
    async fn shutdown(&self);
}
