//! Storage: one trait, shaped so a second SQL backend (PostgreSQL) fits beside
//! SQLite. Each write method is one transaction; the invariants that must hold
//! under concurrency (unique live membership, member quota, no member without
//! its image) are checked inside that transaction, never by the caller.

pub mod migrations;
pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;

use crate::domain::model::{
    ImageQuery, ImageRecord, MemberRecord, MemberStatus, MemberStatusFilter, VisibilityFilter,
};
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

/// The columns of `images`, in the order both backends read them.
pub const IMAGE_COLUMNS: &str = "id, name, status, visibility, owner, protected, os_hidden, \
    disk_format, container_format, min_disk, min_ram, tags, properties, created_at, updated_at";

/// A bind value of a dynamically built query.
#[derive(Clone, Debug)]
pub enum SqlArg {
    Text(String),
    Int(i64),
}

/// The image-list query, shared by both backends: Glance's candidate set
/// (public and community, own, shared-with-me in the wanted member status),
/// then the filters, newest first. `placeholder(n)` spells the n-th (1-based)
/// bind parameter in the backend's syntax.
pub fn list_images_sql(q: &ImageQuery, placeholder: fn(usize) -> String) -> (String, Vec<SqlArg>) {
    let mut args: Vec<SqlArg> = Vec::new();
    let mut bind = |v: SqlArg| {
        args.push(v);
        placeholder(args.len())
    };
    let mut sql = format!("SELECT {IMAGE_COLUMNS} FROM images i WHERE TRUE");
    // Bound only when used: PostgreSQL cannot type an unused parameter.
    let caller = if !q.admin || q.visibility.is_none() {
        bind(SqlArg::Text(q.caller_project.clone()))
    } else {
        String::new()
    };
    if !q.admin {
        let status_clause = match q.member_status {
            MemberStatusFilter::All => String::new(),
            MemberStatusFilter::Only(s) => {
                format!(" AND m.status = {}", bind(SqlArg::Text(s.as_str().into())))
            }
        };
        sql.push_str(&format!(
            " AND (i.visibility IN ('public', 'community') OR i.owner = {caller} \
               OR (i.visibility = 'shared' AND EXISTS (SELECT 1 FROM image_members m \
                   WHERE m.image_id = i.id AND m.member_id = {caller}{status_clause})))"
        ));
    }
    match q.visibility {
        None => sql.push_str(&format!(
            " AND NOT (i.visibility = 'community' AND i.owner <> {caller})"
        )),
        Some(VisibilityFilter::All) => {}
        Some(VisibilityFilter::Only(v)) => {
            let p = bind(SqlArg::Text(v.as_str().into()));
            sql.push_str(&format!(" AND i.visibility = {p}"));
        }
    }
    for (column, value) in [
        ("owner", &q.owner),
        ("name", &q.name),
        ("status", &q.status),
    ] {
        if let Some(v) = value {
            let p = bind(SqlArg::Text(v.clone()));
            sql.push_str(&format!(" AND i.{column} = {p}"));
        }
    }
    if let Some((created, id)) = &q.after {
        let c = bind(SqlArg::Int(*created));
        let i = bind(SqlArg::Text(id.clone()));
        sql.push_str(&format!(" AND (i.created_at, i.id) < ({c}, {i})"));
    }
    let l = bind(SqlArg::Int(q.limit as i64));
    sql.push_str(&format!(" ORDER BY i.created_at DESC, i.id DESC LIMIT {l}"));
    (sql, args)
}
