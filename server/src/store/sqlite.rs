//! The embedded default store: one SQLite file in the data directory.
//!
//! Writes go to one writer thread that owns the only write connection. It
//! takes every job waiting on its channel, runs each in its own savepoint
//! inside one transaction and commits once (group commit: one fsync per
//! batch). A job's caller hears back only after that commit, so a 2xx is never
//! sent for a write that is not on disk. WAL mode with `synchronous=FULL` makes
//! the commit durable; readers use their own connections and never block it.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};
use tokio::sync::{mpsc, oneshot};

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

/// Jobs taken into one transaction at most.
const MAX_BATCH: usize = 512;

type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A write job: runs on the writer's connection, says whether it succeeded
/// (failure rolls back its savepoint) and hands back what to send after commit.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

pub struct SqliteStore {
    path: PathBuf,
    /// `None` on the channel tells the writer to finish and exit.
    writer: mpsc::Sender<Option<Job>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) `<dir>/imgshare.sqlite3`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, Metrics::disabled())
    }

    /// `open`, recording each commit's batch size and duration in `metrics`.
    pub fn open_with(dir: &Path, metrics: Metrics) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Internal(format!("creating {}: {e}", dir.display())))?;
        let path = dir.join("imgshare.sqlite3");
        let conn = Connection::open(&path).map_err(internal)?;
        configure(&conn).map_err(internal)?;
        migrate(&conn)?;
        // One server per SQLite file: a lease left by a process that is gone
        // (killed mid-job) is void, so its jobs resume at once.
        conn.execute(
            "UPDATE jobs SET lease_until = 0 WHERE status IN ('INIT', 'RUNNING')",
            [],
        )
        .map_err(internal)?;
        // SQLite's PASSIVE auto-checkpoint (every 1,000 pages) keeps the WAL
        // small, but under constant reads it never gets to reset it, and the
        // WAL then grows without bound; the writer watches for that.
        let wal = path.with_extension("sqlite3-wal");

        let (tx, rx) = mpsc::channel::<Option<Job>>(4 * MAX_BATCH);
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, wal, metrics))
            .map_err(|e| StoreError::Internal(format!("spawning writer: {e}")))?;
        Ok(SqliteStore {
            path,
            writer: tx,
            writer_thread: Mutex::new(Some(thread)),
            readers: Mutex::new(Vec::new()),
        })
    }

    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit| {
                let _ = tx.send(commit.and(result));
            });
            (ok, reply)
        });
        self.writer
            .send(Some(job))
            .await
            .map_err(|_| StoreError::Unavailable("store is shutting down".into()))?;
        // A dropped reply means the job was never committed (the batch could
        // not start, or the job panicked): nothing was written.
        rx.await
            .map_err(|_| StoreError::Unavailable("write was not applied".into()))?
    }

    /// Runs a read on a pooled read-only connection, on the calling thread.
    /// Reads are index lookups bounded by a page (the image list walks
    /// indexes in list order), so they take microseconds: less than a hop to
    /// a blocking pool would cost.
    fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T>,
    {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_reader(&self.path).map_err(internal)?,
        };
        let result = f(&conn);
        self.readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        result
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: the WAL is synced on every commit, so a committed batch survives
    // power loss, not only a process crash.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

fn migrate(conn: &Connection) -> StoreResult<()> {
    // BEGIN IMMEDIATE takes the write lock: one migrator at a time.
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
        .map_err(internal)?;
    tx.execute_batch(TRACKING_TABLE).map_err(internal)?;
    let applied: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(internal)?;
    check_not_newer(applied).map_err(StoreError::Internal)?;
    for m in MIGRATIONS.iter().filter(|m| m.version > applied) {
        tx.execute_batch(m.sqlite).map_err(internal)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, crate::domain::model::now_millis()],
        )
        .map_err(internal)?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    tx.commit().map_err(internal)
}

/// WAL size (bytes) past which the auto-checkpoint is starved and the writer
/// forces a RESTART checkpoint.
const CHECKPOINT_WAL_BYTES: u64 = 64 << 20;

fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<Option<Job>>,
    wal: PathBuf,
    metrics: Metrics,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut stop = false;
    while !stop {
        match rx.blocking_recv() {
            Some(Some(job)) => batch.push(job),
            Some(None) | None => break,
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Some(job)) => batch.push(job),
                Ok(None) => {
                    stop = true;
                    break;
                }
                Err(_) => break,
            }
        }
        run_batch(&conn, &mut batch, &metrics);
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() >= CHECKPOINT_WAL_BYTES) {
            checkpoint(&conn);
        }
    }
    // Fold the WAL back into the main file so the next start opens fast.
    let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
}

/// RESTART: copy the WAL into the database file, then wait (busy timeout)
/// for readers still on the old WAL to finish, so the next commit writes the
/// WAL from its start. Readers are short, so the wait is too; commits wait
/// for it, which bounds the WAL at `CHECKPOINT_WAL_BYTES` plus one batch.
/// (Measured: doing this at 4 or 16 MB instead of the auto-checkpoint cut
/// add/update throughput by 40-50 %, so it is only the safety valve.)
fn checkpoint(conn: &Connection) {
    let started = std::time::Instant::now();
    let result = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    });
    match result {
        Ok((busy, frames, copied)) => tracing::debug!(
            busy,
            frames,
            copied,
            ms = started.elapsed().as_millis() as u64,
            "WAL checkpoint"
        ),
        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
    }
}

fn run_batch(conn: &Connection, batch: &mut Vec<Job>, metrics: &Metrics) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Dropping the jobs drops their reply channels: each caller hears
        // "not applied" (503) and nothing was written.
        tracing::error!(error = %e, "cannot begin a write transaction");
        batch.clear();
        return;
    }
    let writes = batch.len();
    let mut replies: Vec<Reply> = Vec::with_capacity(writes);
    for job in batch.drain(..) {
        let _ = conn.execute_batch("SAVEPOINT job");
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| job(conn)));
        match outcome {
            Ok((true, reply)) => {
                let _ = conn.execute_batch("RELEASE job");
                replies.push(reply);
            }
            Ok((false, reply)) => {
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
                replies.push(reply);
            }
            Err(_) => {
                // A bug in a job must not take the writer down; its caller's
                // oneshot is dropped and it sees an internal error.
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
                tracing::error!("store write job panicked; rolled back");
            }
        }
    }
    let committing = std::time::Instant::now();
    let commit = conn.execute_batch("COMMIT").map_err(classify);
    metrics.observe_commit("sqlite", writes, committing.elapsed());
    if commit.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for reply in replies {
        reply(match &commit {
            Ok(()) => Ok(()),
            Err(e) => Err(clone_err(e)),
        });
    }
}

fn clone_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        other => StoreError::Internal(other.to_string()),
    }
}

fn internal(e: rusqlite::Error) -> StoreError {
    classify(e)
}

/// Busy/locked databases are transient; everything else is a server fault.
fn classify(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

/// An image's values in `IMAGE_COLUMNS` order.
fn image_values(image: &ImageRecord) -> [rusqlite::types::Value; 19] {
    use rusqlite::types::Value;
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
    [
        Value::Text(image.id.clone()),
        text(&image.name),
        Value::Text(image.status.clone()),
        Value::Text(image.visibility.as_str().into()),
        Value::Text(image.owner.clone()),
        Value::Integer(image.protected.into()),
        Value::Integer(image.os_hidden.into()),
        text(&image.disk_format),
        text(&image.container_format),
        Value::Integer(image.min_disk as i64),
        Value::Integer(image.min_ram as i64),
        Value::Text(serde_json::to_string(&image.tags).unwrap_or_else(|_| "[]".into())),
        Value::Text(serde_json::to_string(&image.properties).unwrap_or_else(|_| "{}".into())),
        Value::Integer(image.created_at),
        Value::Integer(image.updated_at),
        image.size.map_or(Value::Null, |s| Value::Integer(s as i64)),
        text(&image.checksum),
        text(&image.os_hash_algo),
        text(&image.os_hash_value),
    ]
}

fn image_from_row(row: &Row<'_>) -> rusqlite::Result<ImageRecord> {
    let visibility: String = row.get(3)?;
    let tags: String = row.get(11)?;
    let properties: String = row.get(12)?;
    let bad = |what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("corrupt {what}").into(),
        )
    };
    Ok(ImageRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        status: row.get(2)?,
        visibility: Visibility::parse(&visibility).ok_or_else(|| bad("visibility"))?,
        owner: row.get(4)?,
        protected: row.get(5)?,
        os_hidden: row.get(6)?,
        disk_format: row.get(7)?,
        container_format: row.get(8)?,
        min_disk: row.get::<_, i64>(9)? as u64,
        min_ram: row.get::<_, i64>(10)? as u64,
        tags: parse_tags(&tags).map_err(|_| bad("tags"))?,
        properties: parse_properties(&properties).map_err(|_| bad("properties"))?,
        created_at: row.get(13)?,
        updated_at: row.get(14)?,
        size: row.get::<_, Option<i64>>(15)?.map(|s| s as u64),
        checksum: row.get(16)?,
        os_hash_algo: row.get(17)?,
        os_hash_value: row.get(18)?,
    })
}

fn member_from_row(row: &Row<'_>) -> rusqlite::Result<MemberRecord> {
    let status: String = row.get(2)?;
    let member_type: String = row.get(5)?;
    let corrupt = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("corrupt member {what}").into(),
        )
    };
    Ok(MemberRecord {
        image_id: row.get(0)?,
        member_id: row.get(1)?,
        status: MemberStatus::parse(&status).ok_or_else(|| corrupt(2, "status"))?,
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
        member_type: MemberType::parse(&member_type).ok_or_else(|| corrupt(5, "type"))?,
        urn: row.get(6)?,
    })
}

fn select_member(
    conn: &Connection,
    image_id: &str,
    member_id: &str,
) -> StoreResult<Option<MemberRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {MEMBER_COLUMNS} FROM image_members WHERE image_id = ?1 AND member_id = ?2"
    ))
    .and_then(|mut st| {
        st.query_row(params![image_id, member_id], member_from_row)
            .optional()
    })
    .map_err(internal)
}

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<StoreResult<JobRecord>> {
    let job_type: String = row.get(2)?;
    let status: String = row.get(3)?;
    let request: String = row.get(4)?;
    let results: String = row.get(5)?;
    Ok(job_from_columns(
        row.get(0)?,
        row.get(1)?,
        &job_type,
        &status,
        &request,
        &results,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
    ))
}

fn select_job(conn: &Connection, id: &str) -> StoreResult<Option<(JobRecord, Option<String>)>> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {JOB_COLUMNS}, lease_owner FROM jobs WHERE id = ?1"
        ))
        .and_then(|mut st| {
            st.query_row([id], |r| {
                Ok((job_from_row(r)?, r.get::<_, Option<String>>(11)?))
            })
            .optional()
        })
        .map_err(internal)?;
    match found {
        None => Ok(None),
        Some((job, owner)) => Ok(Some((job?, owner))),
    }
}

fn select_image(conn: &Connection, id: &str) -> StoreResult<Option<ImageRecord>> {
    conn.prepare_cached(&format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id = ?1"))
        .and_then(|mut st| st.query_row([id], image_from_row).optional())
        .map_err(internal)
}

fn select_members(conn: &Connection, image_id: &str) -> StoreResult<Vec<MemberRecord>> {
    let mut st = conn
        .prepare_cached(&format!(
            "SELECT {MEMBER_COLUMNS} FROM image_members WHERE image_id = ?1 ORDER BY rowid"
        ))
        .map_err(internal)?;
    let rows = st
        .query_map([image_id], member_from_row)
        .map_err(internal)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(internal)
}

#[async_trait]
impl Store for SqliteStore {
    async fn get_image(&self, id: &str) -> StoreResult<Option<ImageRecord>> {
        self.read(|c| select_image(c, id))
    }

    async fn list_images(&self, query: &ImageQuery) -> StoreResult<Vec<ImageRecord>> {
        let branches = list_images_sql(query, |n| format!("?{n}"));
        self.read(|c| {
            let mut pages = Vec::with_capacity(branches.len());
            for (sql, args) in branches {
                let args = args.into_iter().map(|a| match a {
                    SqlArg::Text(t) => rusqlite::types::Value::Text(t),
                    SqlArg::Int(i) => rusqlite::types::Value::Integer(i),
                });
                let mut st = c.prepare_cached(&sql).map_err(internal)?;
                let rows = st
                    .query_map(rusqlite::params_from_iter(args), image_from_row)
                    .map_err(internal)?;
                pages.push(rows.collect::<Result<Vec<_>, _>>().map_err(internal)?);
            }
            Ok(merge_pages(pages, query.limit))
        })
    }

    async fn create_image(&self, image: ImageRecord) -> StoreResult<()> {
        self.write(move |c| {
            let r = c
                .prepare_cached(&insert_image_sql(|n| format!("?{n}")))
                .and_then(|mut st| st.execute(rusqlite::params_from_iter(image_values(&image))));
            match r {
                Ok(_) => Ok(()),
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) =>
                {
                    Err(StoreError::Duplicate)
                }
                Err(e) => Err(internal(e)),
            }
        })
        .await
    }

    async fn modify_image(
        &self,
        id: &str,
        edit: ImageEdit,
    ) -> StoreResult<Result<ImageRecord, Error>> {
        let id = id.to_owned();
        // The refusal travels in the Ok side so the writer does not count it
        // as a failed job; nothing was written in that case.
        self.write(move |c| {
            let mut image = select_image(c, &id)?.ok_or(StoreError::NotFound)?;
            if let Err(e) = edit(&mut image) {
                return Ok(Err(e));
            }
            c.prepare_cached(&update_image_sql(|n| format!("?{n}")))
                .and_then(|mut st| st.execute(rusqlite::params_from_iter(image_values(&image))))
                .map_err(internal)?;
            Ok(Ok(image))
        })
        .await
    }

    async fn delete_image(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |c| {
            // Memberships go with the image (ON DELETE CASCADE).
            let n = c
                .prepare_cached(&delete_image_sql(|n| format!("?{n}")))
                .and_then(|mut st| st.execute([&id]))
                .map_err(internal)?;
            if n > 0 {
                Ok(())
            } else if select_image(c, &id)?.is_some() {
                Err(StoreError::SharedWithAccounts)
            } else {
                Err(StoreError::NotFound)
            }
        })
        .await
    }

    async fn get_member(
        &self,
        image_id: &str,
        member_id: &str,
    ) -> StoreResult<Option<MemberRecord>> {
        self.read(|c| select_member(c, image_id, member_id))
    }

    async fn list_members(&self, image_id: &str) -> StoreResult<Vec<MemberRecord>> {
        self.read(|c| select_members(c, image_id))
    }

    async fn add_member(
        &self,
        image_id: &str,
        member_id: &str,
        quota: Option<u64>,
        now: i64,
    ) -> StoreResult<MemberRecord> {
        let (image_id, member_id) = (image_id.to_owned(), member_id.to_owned());
        self.write(move |c| {
            // All checks run inside the writer's transaction: nothing can
            // change between the count and the insert.
            let image_created_at: i64 = c
                .prepare_cached("SELECT created_at FROM images WHERE id = ?1")
                .and_then(|mut st| st.query_row([&image_id], |r| r.get(0)).optional())
                .map_err(internal)?
                .ok_or(StoreError::NotFound)?;
            if let Some(max) = quota {
                let count: i64 = c
                    .prepare_cached("SELECT COUNT(*) FROM image_members WHERE image_id = ?1")
                    .and_then(|mut st| st.query_row([&image_id], |r| r.get(0)))
                    .map_err(internal)?;
                if count as u64 + 1 > max {
                    return Err(StoreError::QuotaExceeded {
                        attempted: count as u64 + 1,
                        max,
                    });
                }
            }
            if select_member(c, &image_id, &member_id)?.is_some() {
                return Err(StoreError::Duplicate);
            }
            c.prepare_cached(&insert_member_sql(|n| format!("?{n}")))
                .and_then(|mut st| {
                    st.execute(params![
                        image_id,
                        member_id,
                        now,
                        image_created_at,
                        "project",
                        None::<String>
                    ])
                })
                .map_err(internal)?;
            Ok(MemberRecord {
                image_id,
                member_id,
                status: MemberStatus::Pending,
                created_at: now,
                updated_at: now,
                member_type: MemberType::Project,
                urn: None,
            })
        })
        .await
    }

    async fn update_member(
        &self,
        image_id: &str,
        member_id: &str,
        status: MemberStatus,
        now: i64,
    ) -> StoreResult<MemberRecord> {
        let (image_id, member_id) = (image_id.to_owned(), member_id.to_owned());
        self.write(move |c| {
            let mut row = select_member(c, &image_id, &member_id)?.ok_or(StoreError::NotFound)?;
            if row.status != status {
                c.prepare_cached(
                    "UPDATE image_members SET status = ?3, updated_at = ?4 \
                     WHERE image_id = ?1 AND member_id = ?2",
                )
                .and_then(|mut st| st.execute(params![image_id, member_id, status.as_str(), now]))
                .map_err(internal)?;
                row.status = status;
                row.updated_at = now;
            }
            Ok(row)
        })
        .await
    }

    async fn delete_member(&self, image_id: &str, member_id: &str) -> StoreResult<()> {
        let (image_id, member_id) = (image_id.to_owned(), member_id.to_owned());
        self.write(move |c| {
            let n = c
                .prepare_cached("DELETE FROM image_members WHERE image_id = ?1 AND member_id = ?2")
                .and_then(|mut st| st.execute([&image_id, &member_id]))
                .map_err(internal)?;
            if n == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn saving_images(&self) -> StoreResult<Vec<String>> {
        self.read(|c| {
            let mut st = c
                .prepare_cached("SELECT id FROM images WHERE status = 'saving'")
                .map_err(internal)?;
            let rows = st.query_map([], |r| r.get(0)).map_err(internal)?;
            rows.collect::<Result<Vec<String>, _>>().map_err(internal)
        })
    }

    async fn decisions(
        &self,
        image_id: &str,
        project_id: &str,
    ) -> StoreResult<Vec<(String, MemberStatus, i64)>> {
        self.read(|c| {
            let mut st = c
                .prepare_cached(
                    "SELECT member_id, status, updated_at FROM member_decisions \
                     WHERE image_id = ?1 AND project_id = ?2",
                )
                .map_err(internal)?;
            let rows = st
                .query_map([image_id, project_id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
                })
                .map_err(internal)?;
            rows.map(|r| {
                let (m, s, t) = r.map_err(internal)?;
                let s = MemberStatus::parse(&s)
                    .ok_or_else(|| StoreError::Internal("corrupt decision status".into()))?;
                Ok((m, s, t))
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
        let (image_id, member_id, project_id) = (
            image_id.to_owned(),
            member_id.to_owned(),
            project_id.to_owned(),
        );
        self.write(move |c| {
            if select_member(c, &image_id, &member_id)?.is_none() {
                return Err(StoreError::NotFound);
            }
            c.prepare_cached(&decide_sql(|n| format!("?{n}")))
                .and_then(|mut st| {
                    st.execute(params![
                        image_id,
                        member_id,
                        project_id,
                        status.as_str(),
                        now
                    ])
                })
                .map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn max_members_per_image(&self, owner: &str) -> StoreResult<u64> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM image_members m \
                 JOIN images i ON i.id = m.image_id WHERE i.owner = ?1 GROUP BY m.image_id)",
            )
            .and_then(|mut st| st.query_row([owner], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
            .map_err(internal)
        })
    }

    async fn create_job(&self, job: JobRecord) -> StoreResult<()> {
        self.write(move |c| {
            let (request, results) = job_json(&job);
            let r = c
                .prepare_cached(&format!(
                    "INSERT INTO jobs ({JOB_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ))
                .and_then(|mut st| {
                    st.execute(params![
                        job.id,
                        job.project_id,
                        job.job_type.as_str(),
                        job.status.as_str(),
                        request,
                        results,
                        job.images_done,
                        job.error_code,
                        job.fail_reason,
                        job.created_at,
                        job.end_time,
                    ])
                });
            match r {
                Ok(_) => Ok(()),
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) =>
                {
                    Err(StoreError::Duplicate)
                }
                Err(e) => Err(internal(e)),
            }
        })
        .await
    }

    async fn get_job(&self, id: &str) -> StoreResult<Option<JobRecord>> {
        self.read(|c| Ok(select_job(c, id)?.map(|(job, _)| job)))
    }

    async fn claim_job(
        &self,
        worker: &str,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<Option<JobRecord>> {
        let worker = worker.to_owned();
        self.write(move |c| {
            // The writer is the only writer: nothing can claim in between.
            let id: Option<String> = c
                .prepare_cached(
                    "SELECT id FROM jobs WHERE status IN ('INIT', 'RUNNING') AND lease_until < ?1 \
                     ORDER BY created_at LIMIT 1",
                )
                .and_then(|mut st| st.query_row([now], |r| r.get(0)).optional())
                .map_err(internal)?;
            let Some(id) = id else { return Ok(None) };
            c.prepare_cached(
                "UPDATE jobs SET status = 'RUNNING', lease_owner = ?2, lease_until = ?3 WHERE id = ?1",
            )
            .and_then(|mut st| st.execute(params![id, worker, lease_until]))
            .map_err(internal)?;
            Ok(select_job(c, &id)?.map(|(job, _)| job))
        })
        .await
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
        let (worker, job_id) = (worker.to_owned(), job_id.to_owned());
        self.write(move |c| {
            let (mut job, owner) = select_job(c, &job_id)?.ok_or(StoreError::NotFound)?;
            if owner.as_deref() != Some(worker.as_str())
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
            let image = select_image(c, &image_id)?;
            let members = select_members(c, &image_id)?;
            let image_created_at = image.as_ref().map_or(0, |i| i.created_at);
            let plan = planner(&StepInput { image, members });
            for m in &plan.add {
                c.prepare_cached(&insert_member_sql(|n| format!("?{n}")))
                    .and_then(|mut st| {
                        st.execute(params![
                            image_id,
                            m.member_id,
                            now,
                            image_created_at,
                            m.member_type.as_str(),
                            m.urn
                        ])
                    })
                    .map_err(internal)?;
            }
            for (member, project, status) in &plan.decide {
                c.prepare_cached(&decide_sql(|n| format!("?{n}")))
                    .and_then(|mut st| {
                        st.execute(params![image_id, member, project, status.as_str(), now])
                    })
                    .map_err(internal)?;
            }
            for (member, status) in &plan.set_status {
                c.prepare_cached(
                    "UPDATE image_members SET updated_at = CASE WHEN status = ?3 THEN updated_at \
                     ELSE ?4 END, status = ?3 WHERE image_id = ?1 AND member_id = ?2",
                )
                .and_then(|mut st| st.execute(params![image_id, member, status.as_str(), now]))
                .map_err(internal)?;
            }
            for member in &plan.remove {
                c.prepare_cached(
                    "DELETE FROM image_members WHERE image_id = ?1 AND member_id = ?2",
                )
                .and_then(|mut st| st.execute(params![image_id, member]))
                .map_err(internal)?;
            }
            advance_job(&mut job, &plan, now);
            let (_, results) = job_json(&job);
            let finished = job.status.is_finished();
            c.prepare_cached(
                "UPDATE jobs SET status = ?2, results = ?3, images_done = ?4, error_code = ?5, \
                 fail_reason = ?6, end_time = ?7, lease_owner = ?8, lease_until = ?9 WHERE id = ?1",
            )
            .and_then(|mut st| {
                st.execute(params![
                    job.id,
                    job.status.as_str(),
                    results,
                    job.images_done,
                    job.error_code,
                    job.fail_reason,
                    job.end_time,
                    (!finished).then_some(&worker),
                    if finished { 0 } else { lease_until },
                ])
            })
            .map_err(internal)?;
            Ok(job)
        })
        .await
    }

    async fn prune_jobs(&self, before: i64, max: u32) -> StoreResult<u64> {
        self.write(move |c| {
            c.prepare_cached(
                "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE end_time IS NOT NULL \
                 AND end_time < ?1 LIMIT ?2)",
            )
            .and_then(|mut st| st.execute(params![before, max]))
            .map(|n| n as u64)
            .map_err(internal)
        })
        .await
    }

    async fn queued_jobs(&self) -> StoreResult<u64> {
        self.read(|c| {
            c.prepare_cached("SELECT COUNT(*) FROM jobs WHERE status IN ('INIT', 'RUNNING')")
                .and_then(|mut st| st.query_row([], |r| r.get::<_, i64>(0)))
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(internal)
        })
    }

    async fn health(&self) -> StoreResult<()> {
        self.read(|c| {
            c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map_err(internal)
        })?;
        self.write(|_| Ok(())).await
    }

    async fn shutdown(&self) {
        // Jobs queued before the stop marker are still committed and answered.
        let _ = self.writer.send(None).await;
        let handle = self
            .writer_thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{MemberStatusFilter, VisibilityFilter};

    /// A store made by an older server (schema version 1) is migrated on
    /// open, and the new column is backfilled from the images.
    #[tokio::test]
    async fn migrates_a_version_1_store() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("imgshare.sqlite3")).unwrap();
            conn.execute_batch(TRACKING_TABLE).unwrap();
            conn.execute_batch(MIGRATIONS[0].sqlite).unwrap();
            conn.execute("INSERT INTO schema_migrations VALUES (1, 'v1', 0)", [])
                .unwrap();
            conn.execute(
                "INSERT INTO images VALUES ('i1', 'n', 'queued', 'shared', 'owner', 0, 0, NULL, NULL, \
                 0, 0, '[]', '{}', 1234, 1234)",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO image_members VALUES ('i1', 'consumer', 'accepted', 5, 5)",
                [],
            )
            .unwrap();
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        let page = store
            .list_images(&ImageQuery {
                kind: None,
                caller_domain: None,
                caller_organizations: Vec::new(),
                caller_project: "consumer".into(),
                admin: false,
                visibility: Some(VisibilityFilter::Only(Visibility::Shared)),
                member_status: MemberStatusFilter::All,
                owner: None,
                name: None,
                status: None,
                after: None,
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(
            page.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["i1"]
        );
        let conn = Connection::open(dir.path().join("imgshare.sqlite3")).unwrap();
        let (version, backfilled): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT MAX(version) FROM schema_migrations), image_created_at FROM image_members",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((version, backfilled), (MIGRATIONS.len() as i64, 1234));
        store.shutdown().await;
    }
}
