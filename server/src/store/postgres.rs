//! PostgreSQL, for several replicas on one database. Every invariant is the
//! database's job: each write is one transaction that first locks the image
//! row (`SELECT … FOR UPDATE`), so adds to one image, quota counts, edits and
//! the image's deletion are serialised by PostgreSQL, whichever replica runs
//! them; the unique constraint and the foreign key (ON DELETE CASCADE) back
//! that up. Transient failures (lost connections, serialisation failures,
//! deadlocks) are retried a few times, then answered 503.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Pool, PoolError, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::migrations::{check_not_newer, MIGRATIONS, TRACKING_TABLE};
use super::{
    advance_job, decide_sql, delete_image_sql, insert_image_sql, insert_member_sql,
    job_from_columns, job_json, list_images_sql, merge_pages, parse_properties, parse_tags,
    update_image_sql, ImageEdit, SqlArg, Store, StoreError, StoreResult, IMAGE_COLUMNS,
    JOB_COLUMNS, MEMBER_COLUMNS,
};
use crate::domain::model::{
    ImageQuery, ImageRecord, JobRecord, MemberRecord, MemberStatus, MemberType, StepInput,
    StepPlanner, Visibility,
};
use crate::error::Error;
use crate::metrics::Metrics;

/// Attempts per operation when the failure is transient.
const ATTEMPTS: u32 = 4;
/// Key of the advisory lock held while migrating ("imgs").
const MIGRATION_LOCK: i64 = 0x696d_6773;

pub struct PostgresStore {
    pool: Pool,
    metrics: Metrics,
}

impl PostgresStore {
    pub async fn connect(url: &str, max_connections: usize) -> Result<Self, StoreError> {
        Self::connect_with(url, max_connections, Metrics::disabled()).await
    }

    /// `connect`, recording pool waits and commits in `metrics`.
    pub async fn connect_with(
        url: &str,
        max_connections: usize,
        metrics: Metrics,
    ) -> Result<Self, StoreError> {
        let mut cfg = deadpool_postgres::Config::new();
        cfg.url = Some(url.to_owned());
        cfg.pool = Some(deadpool_postgres::PoolConfig::new(max_connections));
        let pool = cfg
            .create_pool(Some(Runtime::Tokio1), NoTls)
            .map_err(|e| StoreError::Internal(format!("PostgreSQL configuration: {e}")))?;
        let store = PostgresStore { pool, metrics };
        store.migrate().await?;
        Ok(store)
    }

    /// A pooled connection; the wait for it is measured.
    async fn checkout(&self) -> StoreResult<deadpool_postgres::Object> {
        let started = Instant::now();
        let client = self.pool.get().await.map_err(pool_error);
        self.metrics.observe_pool_wait(started.elapsed());
        client
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.checkout().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        // Replicas starting together queue here; the first applies, the
        // others find nothing left to do.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg_error)?;
        tx.batch_execute(TRACKING_TABLE).await.map_err(pg_error)?;
        let applied: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .await
            .map_err(pg_error)?
            .get(0);
        check_not_newer(applied).map_err(StoreError::Internal)?;
        for m in MIGRATIONS.iter().filter(|m| m.version > applied) {
            tx.batch_execute(m.postgres).await.map_err(pg_error)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                &[&m.version, &m.name, &crate::domain::model::now_millis()],
            )
            .await
            .map_err(pg_error)?;
            tracing::info!(version = m.version, name = m.name, "applied migration");
        }
        tx.commit().await.map_err(pg_error)
    }
}

/// Retries `$attempt` (an async block yielding `StoreResult`) while it fails
/// transiently. A macro, not a generic helper: async closures passed to a
/// generic function lose the `Send` proof `async_trait` needs.
macro_rules! retrying {
    ($attempt:expr) => {{
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match $attempt.await {
                Err(StoreError::Unavailable(detail)) if attempt < ATTEMPTS => {
                    tracing::warn!(attempt, detail, "transient PostgreSQL failure; retrying");
                    tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
                }
                other => break other,
            }
        }
    }};
}

/// Runs `$body` (which may use `?` and `.await`) in a transaction on a pooled
/// connection bound to `$tx`, committing when it succeeds; retried while it
/// fails transiently. An `Err`, or an early `return`, rolls back.
macro_rules! in_transaction {
    ($store:expr, |$tx:ident| $body:block) => {
        retrying!(async {
            let mut client = $store.checkout().await?;
            let $tx = client.transaction().await.map_err(pg_error)?;
            let value: StoreResult<_> = $body;
            let value = value?;
            let committing = Instant::now();
            $tx.commit().await.map_err(pg_error)?;
            $store
                .metrics
                .observe_commit("postgresql", 1, committing.elapsed());
            Ok(value)
        })
    };
}

/// Runs `$body` with a pooled connection bound to `$c`; retried while it
/// fails transiently.
macro_rules! reading {
    ($store:expr, |$c:ident| $body:block) => {
        retrying!(async {
            let $c = $store.checkout().await?;
            let value: StoreResult<_> = $body;
            value
        })
    };
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => pg_error(e),
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// Lost connections, serialisation failures, deadlocks and an overloaded
/// server are transient; anything else is a fault.
fn pg_error(e: tokio_postgres::Error) -> StoreError {
    let transient = e.is_closed()
        || matches!(
            e.code(),
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::TOO_MANY_CONNECTIONS
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        )
        || e.code().is_none();
    if transient {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Internal(e.to_string())
    }
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// An image's values in `IMAGE_COLUMNS` order.
fn image_values(image: &ImageRecord) -> Vec<Box<dyn ToSql + Send + Sync>> {
    vec![
        Box::new(image.id.clone()),
        Box::new(image.name.clone()),
        Box::new(image.status.clone()),
        Box::new(image.visibility.as_str()),
        Box::new(image.owner.clone()),
        Box::new(image.protected),
        Box::new(image.os_hidden),
        Box::new(image.disk_format.clone()),
        Box::new(image.container_format.clone()),
        Box::new(image.min_disk as i64),
        Box::new(image.min_ram as i64),
        Box::new(serde_json::to_string(&image.tags).unwrap_or_else(|_| "[]".into())),
        Box::new(serde_json::to_string(&image.properties).unwrap_or_else(|_| "{}".into())),
        Box::new(image.created_at),
        Box::new(image.updated_at),
        Box::new(image.size.map(|s| s as i64)),
        Box::new(image.checksum.clone()),
        Box::new(image.os_hash_algo.clone()),
        Box::new(image.os_hash_value.clone()),
    ]
}

fn params(values: &[Box<dyn ToSql + Send + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|v| v.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

fn image_from_row(row: &Row) -> StoreResult<ImageRecord> {
    let corrupt = |what: &str| StoreError::Internal(format!("corrupt {what} in images row"));
    let visibility: String = row.get(3);
    let tags: String = row.get(11);
    let properties: String = row.get(12);
    Ok(ImageRecord {
        id: row.get(0),
        name: row.get(1),
        status: row.get(2),
        visibility: Visibility::parse(&visibility).ok_or_else(|| corrupt("visibility"))?,
        owner: row.get(4),
        protected: row.get(5),
        os_hidden: row.get(6),
        disk_format: row.get(7),
        container_format: row.get(8),
        min_disk: row.get::<_, i64>(9) as u64,
        min_ram: row.get::<_, i64>(10) as u64,
        tags: parse_tags(&tags).map_err(|_| corrupt("tags"))?,
        properties: parse_properties(&properties).map_err(|_| corrupt("properties"))?,
        created_at: row.get(13),
        updated_at: row.get(14),
        size: row.get::<_, Option<i64>>(15).map(|s| s as u64),
        checksum: row.get(16),
        os_hash_algo: row.get(17),
        os_hash_value: row.get(18),
    })
}

fn member_from_row(row: &Row) -> StoreResult<MemberRecord> {
    let status: String = row.get(2);
    let member_type: String = row.get(5);
    Ok(MemberRecord {
        image_id: row.get(0),
        member_id: row.get(1),
        status: MemberStatus::parse(&status)
            .ok_or_else(|| StoreError::Internal("corrupt member status".into()))?,
        created_at: row.get(3),
        updated_at: row.get(4),
        member_type: MemberType::parse(&member_type)
            .ok_or_else(|| StoreError::Internal("corrupt member type".into()))?,
        urn: row.get(6),
    })
}

async fn select_member<C: GenericClient>(
    c: &C,
    image_id: &str,
    member_id: &str,
) -> StoreResult<Option<MemberRecord>> {
    let sql = format!(
        "SELECT {MEMBER_COLUMNS} FROM image_members WHERE image_id = $1 AND member_id = $2"
    );
    let st = c.prepare_cached(&sql).await.map_err(pg_error)?;
    c.query_opt(&st, &[&image_id, &member_id])
        .await
        .map_err(pg_error)?
        .as_ref()
        .map(member_from_row)
        .transpose()
}

/// Locks the image row for the rest of the transaction; `None` if absent.
async fn lock_image<C: GenericClient>(c: &C, id: &str) -> StoreResult<Option<ImageRecord>> {
    let st = c
        .prepare_cached(&format!(
            "SELECT {IMAGE_COLUMNS} FROM images WHERE id = $1 FOR UPDATE"
        ))
        .await
        .map_err(pg_error)?;
    c.query_opt(&st, &[&id])
        .await
        .map_err(pg_error)?
        .as_ref()
        .map(image_from_row)
        .transpose()
}

fn job_from_row(row: &Row) -> StoreResult<JobRecord> {
    job_from_columns(
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
        row.get(6),
        row.get(7),
        row.get(8),
        row.get(9),
        row.get(10),
    )
}

async fn select_members<C: GenericClient>(c: &C, image_id: &str) -> StoreResult<Vec<MemberRecord>> {
    let sql =
        format!("SELECT {MEMBER_COLUMNS} FROM image_members WHERE image_id = $1 ORDER BY seq");
    let st = c.prepare_cached(&sql).await.map_err(pg_error)?;
    c.query(&st, &[&image_id])
        .await
        .map_err(pg_error)?
        .iter()
        .map(member_from_row)
        .collect()
}

#[async_trait]
impl Store for PostgresStore {
    async fn get_image(&self, id: &str) -> StoreResult<Option<ImageRecord>> {
        reading!(self, |c| {
            let st = c
                .prepare_cached(&format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id = $1"))
                .await
                .map_err(pg_error)?;
            c.query_opt(&st, &[&id])
                .await
                .map_err(pg_error)?
                .as_ref()
                .map(image_from_row)
                .transpose()
        })
    }

    async fn list_images(&self, query: &ImageQuery) -> StoreResult<Vec<ImageRecord>> {
        let branches = list_images_sql(query, |n| format!("${n}"));
        reading!(self, |c| {
            let mut pages = Vec::with_capacity(branches.len());
            for (sql, args) in &branches {
                let params: Vec<&(dyn ToSql + Sync)> = args
                    .iter()
                    .map(|a| match a {
                        SqlArg::Text(t) => t as &(dyn ToSql + Sync),
                        SqlArg::Int(i) => i as &(dyn ToSql + Sync),
                    })
                    .collect();
                let st = c.prepare_cached(sql).await.map_err(pg_error)?;
                let rows = c.query(&st, &params).await.map_err(pg_error)?;
                pages.push(
                    rows.iter()
                        .map(image_from_row)
                        .collect::<StoreResult<Vec<_>>>()?,
                );
            }
            Ok(merge_pages(pages, query.limit))
        })
    }

    async fn create_image(&self, image: ImageRecord) -> StoreResult<()> {
        let sql = insert_image_sql(|n| format!("${n}"));
        let values = image_values(&image);
        in_transaction!(self, |tx| {
            let st = tx.prepare_cached(&sql).await.map_err(pg_error)?;
            let result = tx.execute(&st, &params(&values)).await;
            match result {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate),
                Err(e) => Err(pg_error(e)),
            }
        })
    }

    async fn modify_image(
        &self,
        id: &str,
        edit: ImageEdit,
    ) -> StoreResult<Result<ImageRecord, Error>> {
        // The edit is FnOnce; a retry after a transient failure needs it again,
        // so it runs at most once and a retried attempt reports the failure.
        let edit = std::sync::Mutex::new(Some(edit));
        in_transaction!(self, |tx| {
            let mut image = lock_image(&tx, id).await?.ok_or(StoreError::NotFound)?;
            let Some(edit) = edit.lock().unwrap_or_else(|p| p.into_inner()).take() else {
                return Err(StoreError::Unavailable("image edit interrupted".into()));
            };
            if let Err(e) = edit(&mut image) {
                return Ok(Err(e));
            }
            let st = tx
                .prepare_cached(&update_image_sql(|n| format!("${n}")))
                .await
                .map_err(pg_error)?;
            tx.execute(&st, &params(&image_values(&image)))
                .await
                .map_err(pg_error)?;
            Ok(Ok(image))
        })
    }

    async fn delete_image(&self, id: &str) -> StoreResult<()> {
        in_transaction!(self, |tx| {
            // The row lock keeps a share from being added while we decide.
            if lock_image(&tx, id).await?.is_none() {
                return Err(StoreError::NotFound);
            }
            // Memberships go with the image (ON DELETE CASCADE).
            let st = tx
                .prepare_cached(&delete_image_sql(|n| format!("${n}")))
                .await
                .map_err(pg_error)?;
            match tx.execute(&st, &[&id]).await.map_err(pg_error)? {
                0 => Err(StoreError::SharedWithAccounts),
                _ => Ok(()),
            }
        })
    }

    async fn get_member(
        &self,
        image_id: &str,
        member_id: &str,
    ) -> StoreResult<Option<MemberRecord>> {
        reading!(self, |c| { select_member(&c, image_id, member_id).await })
    }

    async fn list_members(&self, image_id: &str) -> StoreResult<Vec<MemberRecord>> {
        reading!(self, |c| { select_members(&c, image_id).await })
    }

    async fn add_member(
        &self,
        image_id: &str,
        member_id: &str,
        quota: Option<u64>,
        now: i64,
    ) -> StoreResult<MemberRecord> {
        in_transaction!(self, |tx| {
            // The image row lock serialises adds to this image across replicas:
            // the count below cannot go stale before the insert.
            let image = lock_image(&tx, image_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            if let Some(max) = quota {
                let st = tx
                    .prepare_cached("SELECT COUNT(*) FROM image_members WHERE image_id = $1")
                    .await
                    .map_err(pg_error)?;
                let count: i64 = tx
                    .query_one(&st, &[&image_id])
                    .await
                    .map_err(pg_error)?
                    .get(0);
                if count as u64 + 1 > max {
                    return Err(StoreError::QuotaExceeded {
                        attempted: count as u64 + 1,
                        max,
                    });
                }
            }
            if select_member(&tx, image_id, member_id).await?.is_some() {
                return Err(StoreError::Duplicate);
            }
            let st = tx
                .prepare_cached(&insert_member_sql(|n| format!("${n}")))
                .await
                .map_err(pg_error)?;
            match tx
                .execute(
                    &st,
                    &[
                        &image_id,
                        &member_id,
                        &now,
                        &image.created_at,
                        &"project",
                        &None::<String>,
                    ],
                )
                .await
            {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate),
                Err(e) => return Err(pg_error(e)),
            }
            Ok(MemberRecord {
                image_id: image_id.to_owned(),
                member_id: member_id.to_owned(),
                status: MemberStatus::Pending,
                created_at: now,
                updated_at: now,
                member_type: MemberType::Project,
                urn: None,
            })
        })
    }

    async fn update_member(
        &self,
        image_id: &str,
        member_id: &str,
        status: MemberStatus,
        now: i64,
    ) -> StoreResult<MemberRecord> {
        in_transaction!(self, |tx| {
            // One statement: concurrent updates serialise on the row, and
            // `updated_at` moves only when the status changes.
            let sql = format!(
                "UPDATE image_members SET updated_at = CASE WHEN status = $3 THEN updated_at ELSE $4 END, \
                 status = $3 WHERE image_id = $1 AND member_id = $2 RETURNING {MEMBER_COLUMNS}"
            );
            let st = tx.prepare_cached(&sql).await.map_err(pg_error)?;
            let row = tx
                .query_opt(&st, &[&image_id, &member_id, &status.as_str(), &now])
                .await
                .map_err(pg_error)?
                .ok_or(StoreError::NotFound)?;
            member_from_row(&row)
        })
    }

    async fn delete_member(&self, image_id: &str, member_id: &str) -> StoreResult<()> {
        in_transaction!(self, |tx| {
            let st = tx
                .prepare_cached("DELETE FROM image_members WHERE image_id = $1 AND member_id = $2")
                .await
                .map_err(pg_error)?;
            match tx
                .execute(&st, &[&image_id, &member_id])
                .await
                .map_err(pg_error)?
            {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
    }

    async fn saving_images(&self) -> StoreResult<Vec<String>> {
        reading!(self, |c| {
            let st = c
                .prepare_cached("SELECT id FROM images WHERE status = 'saving'")
                .await
                .map_err(pg_error)?;
            Ok(c.query(&st, &[])
                .await
                .map_err(pg_error)?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    async fn decisions(
        &self,
        image_id: &str,
        project_id: &str,
    ) -> StoreResult<Vec<(String, MemberStatus, i64)>> {
        reading!(self, |c| {
            let st = c
                .prepare_cached(
                    "SELECT member_id, status, updated_at FROM member_decisions \
                     WHERE image_id = $1 AND project_id = $2",
                )
                .await
                .map_err(pg_error)?;
            c.query(&st, &[&image_id, &project_id])
                .await
                .map_err(pg_error)?
                .iter()
                .map(|r| {
                    let status: String = r.get(1);
                    let status = MemberStatus::parse(&status)
                        .ok_or_else(|| StoreError::Internal("corrupt decision status".into()))?;
                    Ok((r.get(0), status, r.get(2)))
                })
                .collect()
        })
    }

    async fn decide(
        &self,
        image_id: &str,
        member_id: &str,
        project_id: &str,
        status: MemberStatus,
        now: i64,
    ) -> StoreResult<()> {
        in_transaction!(self, |tx| {
            if select_member(&tx, image_id, member_id).await?.is_none() {
                return Err(StoreError::NotFound);
            }
            let st = tx
                .prepare_cached(&decide_sql(|n| format!("${n}")))
                .await
                .map_err(pg_error)?;
            match tx
                .execute(
                    &st,
                    &[&image_id, &member_id, &project_id, &status.as_str(), &now],
                )
                .await
            {
                Ok(_) => Ok(()),
                // The share was removed between the check and the insert.
                Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                    Err(StoreError::NotFound)
                }
                Err(e) => Err(pg_error(e)),
            }
        })
    }

    async fn max_members_per_image(&self, owner: &str) -> StoreResult<u64> {
        reading!(self, |c| {
            let st = c
                .prepare_cached(
                    "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM image_members m \
                     JOIN images i ON i.id = m.image_id WHERE i.owner = $1 GROUP BY m.image_id) t",
                )
                .await
                .map_err(pg_error)?;
            let n: i64 = c.query_one(&st, &[&owner]).await.map_err(pg_error)?.get(0);
            Ok(n as u64)
        })
    }

    async fn create_job(&self, job: JobRecord) -> StoreResult<()> {
        let (request, results) = job_json(&job);
        let images_done = i64::from(job.images_done);
        in_transaction!(self, |tx| {
            let st = tx
                .prepare_cached(&format!(
                    "INSERT INTO jobs ({JOB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ))
                .await
                .map_err(pg_error)?;
            let result = tx
                .execute(
                    &st,
                    &[
                        &job.id,
                        &job.project_id,
                        &job.job_type.as_str(),
                        &job.status.as_str(),
                        &request,
                        &results,
                        &images_done,
                        &job.error_code,
                        &job.fail_reason,
                        &job.created_at,
                        &job.end_time,
                    ],
                )
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate),
                Err(e) => Err(pg_error(e)),
            }
        })
    }

    async fn get_job(&self, id: &str) -> StoreResult<Option<JobRecord>> {
        reading!(self, |c| {
            let st = c
                .prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
                .await
                .map_err(pg_error)?;
            c.query_opt(&st, &[&id])
                .await
                .map_err(pg_error)?
                .as_ref()
                .map(job_from_row)
                .transpose()
        })
    }

    async fn claim_job(
        &self,
        worker: &str,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<Option<JobRecord>> {
        in_transaction!(self, |tx| {
            // SKIP LOCKED: replicas claiming at once take different jobs
            // instead of queueing on the same row.
            let st = tx
                .prepare_cached(&format!(
                    "UPDATE jobs SET status = 'RUNNING', lease_owner = $1, lease_until = $3 \
                     WHERE id = (SELECT id FROM jobs WHERE status IN ('INIT', 'RUNNING') \
                     AND lease_until < $2 ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
                     RETURNING {JOB_COLUMNS}"
                ))
                .await
                .map_err(pg_error)?;
            tx.query_opt(&st, &[&worker, &now, &lease_until])
                .await
                .map_err(pg_error)?
                .as_ref()
                .map(job_from_row)
                .transpose()
        })
    }

    async fn run_job_step(
        &self,
        worker: &str,
        job_id: &str,
        index: u32,
        planner: StepPlanner,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<JobRecord> {
        // The planner is FnOnce: a transient failure after it ran cannot
        // rerun it, so that attempt reports Unavailable and the runner
        // retries the step with a new planner.
        let planner = std::sync::Mutex::new(Some(planner));
        in_transaction!(self, |tx| {
            // The job row lock fences this step: a worker whose lease was
            // taken over finds another owner (or a later index) and stops.
            let st = tx
                .prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS}, lease_owner FROM jobs WHERE id = $1 FOR UPDATE"
                ))
                .await
                .map_err(pg_error)?;
            let row = tx
                .query_opt(&st, &[&job_id])
                .await
                .map_err(pg_error)?
                .ok_or(StoreError::NotFound)?;
            let mut job = job_from_row(&row)?;
            let owner: Option<String> = row.get(11);
            if owner.as_deref() != Some(worker)
                || job.images_done != index
                || job.status.is_finished()
            {
                return Err(StoreError::NotFound);
            }
            let image_id = job
                .request
                .images
                .get(index as usize)
                .cloned()
                .ok_or(StoreError::NotFound)?;
            // The image row lock serialises this step with native adds and
            // with other jobs' steps on the same image (quota, duplicates).
            let image = lock_image(&tx, &image_id).await?;
            let members = select_members(&tx, &image_id).await?;
            let image_created_at = image.as_ref().map_or(0, |i| i.created_at);
            let Some(planner) = planner.lock().unwrap_or_else(|p| p.into_inner()).take() else {
                return Err(StoreError::Unavailable("job step interrupted".into()));
            };
            let plan = planner(&StepInput { image, members });
            if !plan.add.is_empty() {
                // One statement for the whole image, in request order (seq).
                let ids: Vec<&str> = plan.add.iter().map(|m| m.member_id.as_str()).collect();
                let types: Vec<&str> = plan.add.iter().map(|m| m.member_type.as_str()).collect();
                let urns: Vec<Option<&str>> = plan.add.iter().map(|m| m.urn.as_deref()).collect();
                let st = tx
                    .prepare_cached(
                        "INSERT INTO image_members (image_id, member_id, status, created_at, \
                         updated_at, image_created_at, member_type, urn) \
                         SELECT $1, m, 'pending', $3, $3, $4, t, u \
                         FROM unnest($2::text[], $5::text[], $6::text[]) WITH ORDINALITY AS x(m, t, u, n) \
                         ORDER BY n",
                    )
                    .await
                    .map_err(pg_error)?;
                tx.execute(
                    &st,
                    &[&image_id, &ids, &now, &image_created_at, &types, &urns],
                )
                .await
                .map_err(pg_error)?;
            }
            for (member, project, status) in &plan.decide {
                let st = tx
                    .prepare_cached(&decide_sql(|n| format!("${n}")))
                    .await
                    .map_err(pg_error)?;
                tx.execute(&st, &[&image_id, member, project, &status.as_str(), &now])
                    .await
                    .map_err(pg_error)?;
            }
            for (member, status) in &plan.set_status {
                let st = tx
                    .prepare_cached(
                        "UPDATE image_members SET updated_at = CASE WHEN status = $3 THEN updated_at \
                         ELSE $4 END, status = $3 WHERE image_id = $1 AND member_id = $2",
                    )
                    .await
                    .map_err(pg_error)?;
                tx.execute(&st, &[&image_id, member, &status.as_str(), &now])
                    .await
                    .map_err(pg_error)?;
            }
            if !plan.remove.is_empty() {
                let st = tx
                    .prepare_cached(
                        "DELETE FROM image_members WHERE image_id = $1 AND member_id = ANY($2)",
                    )
                    .await
                    .map_err(pg_error)?;
                tx.execute(&st, &[&image_id, &plan.remove])
                    .await
                    .map_err(pg_error)?;
            }
            advance_job(&mut job, &plan, now);
            let (_, results) = job_json(&job);
            let finished = job.status.is_finished();
            let lease_owner = (!finished).then_some(worker);
            let lease = if finished { 0 } else { lease_until };
            let st = tx
                .prepare_cached(
                    "UPDATE jobs SET status = $2, results = $3, images_done = $4, error_code = $5, \
                     fail_reason = $6, end_time = $7, lease_owner = $8, lease_until = $9 WHERE id = $1",
                )
                .await
                .map_err(pg_error)?;
            tx.execute(
                &st,
                &[
                    &job.id,
                    &job.status.as_str(),
                    &results,
                    &i64::from(job.images_done),
                    &job.error_code,
                    &job.fail_reason,
                    &job.end_time,
                    &lease_owner,
                    &lease,
                ],
            )
            .await
            .map_err(pg_error)?;
            Ok(job)
        })
    }

    async fn prune_jobs(&self, before: i64, max: u32) -> StoreResult<u64> {
        let max = i64::from(max);
        in_transaction!(self, |tx| {
            let st = tx
                .prepare_cached(
                    "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE end_time IS NOT NULL \
                     AND end_time < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
                )
                .await
                .map_err(pg_error)?;
            tx.execute(&st, &[&before, &max]).await.map_err(pg_error)
        })
    }

    async fn queued_jobs(&self) -> StoreResult<u64> {
        reading!(self, |c| {
            let st = c
                .prepare_cached("SELECT COUNT(*) FROM jobs WHERE status IN ('INIT', 'RUNNING')")
                .await
                .map_err(pg_error)?;
            let n: i64 = c.query_one(&st, &[]).await.map_err(pg_error)?.get(0);
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    async fn health(&self) -> StoreResult<()> {
        let c = self.checkout().await?;
        c.simple_query("SELECT 1").await.map_err(pg_error)?;
        Ok(())
    }

    async fn shutdown(&self) {
        self.pool.close();
    }
}
