//! Test harness: a real server on 127.0.0.1:0 with a fresh store in a temp
//! dir, known identities, and helpers around the generated client.

use std::path::Path;

use imgshare::types;
use imgshare::Client;
use imgshare_server::Config;

/// Identities in every test server's tokens file.
pub const OWNER: &str = "tok-owner"; // project-a, member + reader
pub const OWNER_READER: &str = "tok-owner-reader"; // project-a, reader only
pub const MEMBER: &str = "tok-member"; // project-b, member + reader
pub const MEMBER_READER: &str = "tok-member-reader"; // project-b, reader only
pub const STRANGER: &str = "tok-stranger"; // project-c, member + reader
pub const ADMIN: &str = "tok-admin"; // admin-project, admin
pub const NO_ROLES: &str = "tok-no-roles"; // project-a, no roles

/// Projects in accounts and organizations (account and organization shares).
pub const IN_DOM_X: &str = "tok-dom-x1"; // project-x1, account dom-x, o-1/r-1/ou-x
pub const IN_DOM_X_DEEPER: &str = "tok-dom-x2"; // project-x2, account dom-x, o-1/r-1/ou-x/ou-y
pub const IN_DOM_Z: &str = "tok-dom-z"; // project-z, account dom-z, o-1/r-1/ou-z

pub const PROJECT_A: &str = "project-a";
pub const PROJECT_B: &str = "project-b";
pub const PROJECT_C: &str = "project-c";

const TOKENS: &str = r#"
[[tokens]]
token = "tok-owner"
project_id = "project-a"
user_id = "alice"
roles = ["member", "reader"]
domain_id = "dom-a"

[[tokens]]
token = "tok-dom-x1"
project_id = "project-x1"
user_id = "xavier"
roles = ["member", "reader"]
domain_id = "dom-x"
organization_path = "o-1/r-1/ou-x"

[[tokens]]
token = "tok-dom-x2"
project_id = "project-x2"
user_id = "xena"
roles = ["member", "reader"]
domain_id = "dom-x"
organization_path = "o-1/r-1/ou-x/ou-y"

[[tokens]]
token = "tok-dom-z"
project_id = "project-z"
user_id = "zoe"
roles = ["member", "reader"]
domain_id = "dom-z"
organization_path = "o-1/r-1/ou-z"

[[tokens]]
token = "tok-owner-reader"
project_id = "project-a"
user_id = "alice-reader"
roles = ["reader"]

[[tokens]]
token = "tok-member"
project_id = "project-b"
user_id = "bob"
roles = ["member", "reader"]

[[tokens]]
token = "tok-member-reader"
project_id = "project-b"
user_id = "bob-reader"
roles = ["reader"]

[[tokens]]
token = "tok-stranger"
project_id = "project-c"
user_id = "carol"
roles = ["member", "reader"]

[[tokens]]
token = "tok-admin"
project_id = "admin-project"
user_id = "admin"
roles = ["admin"]

[[tokens]]
token = "tok-no-roles"
project_id = "project-a"
user_id = "nobody"
roles = []

# Huawei AK/SK: alice's key acts in project-a (default) and project-b.
[[access_keys]]
access_key = "AKOWNER0000000000001"
secret_key = "owner-secret-0000000000000000000000000000"
project_id = "project-a"
user_id = "alice"
roles = ["member", "reader"]

[[access_keys]]
access_key = "AKOWNER0000000000001"
secret_key = "owner-secret-0000000000000000000000000000"
project_id = "project-b"
user_id = "alice"
roles = ["reader"]
"#;

/// The access key pair in every test server's identity file.
pub const ACCESS_KEY: &str = "AKOWNER0000000000001";
pub const SECRET_KEY: &str = "owner-secret-0000000000000000000000000000";

pub struct TestServer {
    server: Option<imgshare_server::Server>,
    pub dir: tempfile::TempDir,
    pub base: String,
    quota: i64,
    /// PostgreSQL URL (own schema) when this run tests that backend.
    database: Option<String>,
}

/// The backend this run tests: `IMGSHARE_TEST_BACKEND=postgres` selects
/// PostgreSQL at `IMGSHARE_TEST_POSTGRES_URL`; the default is SQLite.
pub fn postgres_selected() -> bool {
    std::env::var("IMGSHARE_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// A fresh schema in the test database, and a URL whose connections use it.
pub async fn fresh_postgres_url() -> String {
    let base = std::env::var("IMGSHARE_TEST_POSTGRES_URL")
        .expect("IMGSHARE_TEST_BACKEND=postgres needs IMGSHARE_TEST_POSTGRES_URL");
    let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to {base}: {e}"));
    tokio::spawn(conn);
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with_quota(128).await
    }

    pub async fn with_quota(quota: i64) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        write_private(&dir.path().join("test-tokens.toml"), TOKENS);
        let database = if postgres_selected() {
            Some(fresh_postgres_url().await)
        } else {
            None
        };
        let server = launch(dir.path(), quota, database.clone()).await;
        let base = format!("http://{}", server.local_addr());
        TestServer {
            server: Some(server),
            dir,
            base,
            quota,
            database,
        }
    }

    /// Stops the server (flushing the store) and starts a new one on the same data dir.
    pub async fn restart(&mut self) {
        self.server.take().unwrap().close().await.unwrap();
        let server = launch(self.dir.path(), self.quota, self.database.clone()).await;
        self.base = format!("http://{}", server.local_addr());
        self.server = Some(server);
    }

    pub fn client(&self, token: &str) -> Client {
        Client::with_token(&self.base, token).unwrap()
    }

    /// A client that sends no token at all.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.base)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates an image as `token` with the given visibility and properties.
    pub async fn image(
        &self,
        token: &str,
        visibility: Option<types::Visibility>,
        props: &[(&str, &str)],
    ) -> String {
        let body = types::ImageCreate {
            name: Some("test-image".into()),
            disk_format: Some("raw".into()),
            container_format: Some("bare".into()),
            visibility,
            extra: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let image = self
            .client(token)
            .create_image(None, &body)
            .await
            .expect("create image");
        image.into_inner().id.to_string()
    }

    /// A shared image owned by project-a.
    pub async fn shared_image(&self) -> String {
        self.image(OWNER, None, &[]).await
    }

    pub async fn add(&self, image: &str, member: &str) -> types::Member {
        self.client(OWNER)
            .add_member(image, None, &member_body(member))
            .await
            .expect("add member")
            .into_inner()
    }

    pub async fn set_status(
        &self,
        token: &str,
        image: &str,
        member: &str,
        status: types::MemberStatus,
    ) -> types::Member {
        self.client(token)
            .update_member(
                image,
                member,
                None,
                &types::MemberUpdate {
                    status,
                    vault_id: None,
                },
            )
            .await
            .expect("update member")
            .into_inner()
    }

    /// IDs in `token`'s image list for the given filters (first page).
    pub async fn listed(
        &self,
        token: &str,
        visibility: Option<types::VisibilityParam>,
        member_status: Option<types::MemberStatusParam>,
    ) -> Vec<String> {
        self.client(token)
            .list_images(
                None,
                None,
                member_status,
                None,
                None,
                None,
                visibility,
                None,
            )
            .await
            .expect("list images")
            .into_inner()
            .images
            .into_iter()
            .map(|i| i.id.to_string())
            .collect()
    }
}

async fn launch(dir: &Path, quota: i64, database: Option<String>) -> imgshare_server::Server {
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.to_path_buf());
    config.tokens = Some(dir.join("test-tokens.toml"));
    config.member_quota = quota;
    config.database = database;
    config.database_connections = 4;
    imgshare_server::start(&config)
        .await
        .expect("server starts")
}

pub fn member_body(member: &str) -> types::MemberCreate {
    types::MemberCreate {
        member: member.parse().expect("a valid member id"),
    }
}

/// The status and envelope of a failed call; panics on success.
pub fn failure<T: std::fmt::Debug>(
    result: Result<imgshare::ResponseValue<T>, imgshare::Error<types::ApiError>>,
) -> (u16, types::ErrorBody) {
    match result {
        Ok(v) => panic!(
            "expected an error, got {:?} {:?}",
            v.status(),
            v.into_inner()
        ),
        Err(imgshare::Error::ErrorResponse(rv)) => {
            let status = rv.status().as_u16();
            (status, rv.into_inner().error)
        }
        Err(e) => panic!("expected an error response, got {e:?}"),
    }
}

/// Only the status of a call's outcome.
pub fn status_of<T>(
    result: &Result<imgshare::ResponseValue<T>, imgshare::Error<types::ApiError>>,
) -> u16 {
    match result {
        Ok(v) => v.status().as_u16(),
        Err(imgshare::Error::ErrorResponse(rv)) => rv.status().as_u16(),
        Err(e) => panic!("transport or decoding failure: {e}"),
    }
}

/// A raw HTTP request, for what the generated client cannot express.
pub async fn raw(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(t) = token {
        req = req.header("X-Auth-Token", t);
    }
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_vec());
    }
    let rsp = req.send().await.expect("request sent");
    let status = rsp.status().as_u16();
    let headers = rsp.headers().clone();
    let bytes = rsp.bytes().await.unwrap();
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, headers, json)
}

/// Writes an identity file as the server requires it: owner-only (0600).
pub fn write_private(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}
