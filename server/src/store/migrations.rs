//! The schema, as one ordered list of migrations with the SQL for each
//! backend. Both backends record applied versions in `schema_migrations` and
//! apply what is missing at start-up, under a lock (SQLite: the write
//! transaction; PostgreSQL: an advisory lock), so several replicas starting at
//! once migrate exactly once.

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

pub const TRACKING_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "images and image members",
        sqlite: r#"
CREATE TABLE images (
    id               TEXT PRIMARY KEY,
    name             TEXT,
    status           TEXT NOT NULL,
    visibility       TEXT NOT NULL,
    owner            TEXT NOT NULL,
    protected        INTEGER NOT NULL,
    os_hidden        INTEGER NOT NULL,
    disk_format      TEXT,
    container_format TEXT,
    min_disk         INTEGER NOT NULL,
    min_ram          INTEGER NOT NULL,
    tags             TEXT NOT NULL,
    properties       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX images_by_owner ON images (owner, created_at DESC, id DESC);
CREATE INDEX images_by_visibility ON images (visibility, created_at DESC, id DESC);
CREATE TABLE image_members (
    image_id   TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    member_id  TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (image_id, member_id)
);
CREATE INDEX image_members_by_member ON image_members (member_id, status);
"#,
        postgres: r#"
CREATE TABLE images (
    id               TEXT PRIMARY KEY,
    name             TEXT,
    status           TEXT NOT NULL,
    visibility       TEXT NOT NULL,
    owner            TEXT NOT NULL,
    protected        BOOLEAN NOT NULL,
    os_hidden        BOOLEAN NOT NULL,
    disk_format      TEXT,
    container_format TEXT,
    min_disk         BIGINT NOT NULL,
    min_ram          BIGINT NOT NULL,
    tags             TEXT NOT NULL,
    properties       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX images_by_owner ON images (owner, created_at DESC, id DESC);
CREATE INDEX images_by_visibility ON images (visibility, created_at DESC, id DESC);
CREATE TABLE image_members (
    seq        BIGSERIAL PRIMARY KEY,
    image_id   TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    member_id  TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (image_id, member_id)
);
CREATE INDEX image_members_by_member ON image_members (member_id, status);
"#,
    },
    Migration {
        version: 2,
        name: "image list by member: memberships carry their image's creation time",
        sqlite: r#"
ALTER TABLE image_members ADD COLUMN image_created_at INTEGER NOT NULL DEFAULT 0;
UPDATE image_members SET image_created_at =
    (SELECT created_at FROM images WHERE images.id = image_members.image_id);
DROP INDEX image_members_by_member;
CREATE INDEX image_members_for_member
    ON image_members (member_id, image_created_at DESC, image_id DESC, status);
"#,
        postgres: r#"
ALTER TABLE image_members ADD COLUMN image_created_at BIGINT NOT NULL DEFAULT 0;
UPDATE image_members m SET image_created_at = i.created_at FROM images i WHERE i.id = m.image_id;
DROP INDEX image_members_by_member;
CREATE INDEX image_members_for_member
    ON image_members (member_id, image_created_at DESC, image_id DESC, status);
"#,
    },
    Migration {
        version: 3,
        name: "jobs: Huawei's batch member calls, run in the background",
        sqlite: r#"
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL,
    job_type    TEXT NOT NULL,
    status      TEXT NOT NULL,
    request     TEXT NOT NULL,
    results     TEXT NOT NULL,
    images_done INTEGER NOT NULL,
    error_code  TEXT,
    fail_reason TEXT,
    created_at  INTEGER NOT NULL,
    end_time    INTEGER,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_runnable ON jobs (created_at) WHERE status IN ('INIT', 'RUNNING');
CREATE INDEX jobs_finished ON jobs (end_time) WHERE end_time IS NOT NULL;
"#,
        postgres: r#"
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL,
    job_type    TEXT NOT NULL,
    status      TEXT NOT NULL,
    request     TEXT NOT NULL,
    results     TEXT NOT NULL,
    images_done BIGINT NOT NULL,
    error_code  TEXT,
    fail_reason TEXT,
    created_at  BIGINT NOT NULL,
    end_time    BIGINT,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX jobs_runnable ON jobs (created_at) WHERE status IN ('INIT', 'RUNNING');
CREATE INDEX jobs_finished ON jobs (end_time) WHERE end_time IS NOT NULL;
"#,
    },
    Migration {
        version: 4,
        name: "shares with accounts and organizations, accepted per project",
        sqlite: r#"
ALTER TABLE image_members ADD COLUMN member_type TEXT NOT NULL DEFAULT 'project';
ALTER TABLE image_members ADD COLUMN urn TEXT;
CREATE TABLE member_decisions (
    image_id   TEXT NOT NULL,
    member_id  TEXT NOT NULL,
    project_id TEXT NOT NULL,
    status     TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (image_id, member_id, project_id),
    FOREIGN KEY (image_id, member_id) REFERENCES image_members (image_id, member_id)
        ON DELETE CASCADE
);
CREATE INDEX member_decisions_by_project ON member_decisions (project_id);
"#,
        postgres: r#"
ALTER TABLE image_members ADD COLUMN member_type TEXT NOT NULL DEFAULT 'project';
ALTER TABLE image_members ADD COLUMN urn TEXT;
CREATE TABLE member_decisions (
    image_id   TEXT NOT NULL,
    member_id  TEXT NOT NULL,
    project_id TEXT NOT NULL,
    status     TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (image_id, member_id, project_id),
    FOREIGN KEY (image_id, member_id) REFERENCES image_members (image_id, member_id)
        ON DELETE CASCADE
);
CREATE INDEX member_decisions_by_project ON member_decisions (project_id);
"#,
    },
    Migration {
        version: 5,
        name: "image data: size and digests",
        sqlite: r#"
ALTER TABLE images ADD COLUMN size INTEGER;
ALTER TABLE images ADD COLUMN checksum TEXT;
ALTER TABLE images ADD COLUMN os_hash_algo TEXT;
ALTER TABLE images ADD COLUMN os_hash_value TEXT;
CREATE INDEX images_saving ON images (id) WHERE status = 'saving';
"#,
        postgres: r#"
ALTER TABLE images ADD COLUMN size BIGINT;
ALTER TABLE images ADD COLUMN checksum TEXT;
ALTER TABLE images ADD COLUMN os_hash_algo TEXT;
ALTER TABLE images ADD COLUMN os_hash_value TEXT;
CREATE INDEX images_saving ON images (id) WHERE status = 'saving';
"#,
    },
];

/// Refuses to run against a schema newer than this binary knows.
pub fn check_not_newer(applied: i64) -> Result<(), String> {
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    if applied > known {
        return Err(format!(
            "database schema version {applied} is newer than this server ({known})"
        ));
    }
    Ok(())
}
