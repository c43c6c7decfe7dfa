//! Test harness: a real server on 127.0.0.1:0 with a fresh store in a temp
//! dir, known identities, and helpers around the generated client.
//!
//! With `IMGSHARE_TEST_TLS=1` every server speaks HTTPS: a throwaway CA is
//! made once per test process (so once per test under nextest), each server
//! gets a certificate for 127.0.0.1 and localhost signed by it (PEMs in its
//! temp dir, the key 0600), and every client the tests build here
//! ([`TestServer::client`], [`TestServer::anonymous`], [`http_client`],
//! [`raw`], [`TestServer::connect`]) trusts that CA and nothing else.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

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
        Self::with_config(quota, |_| {}).await
    }

    /// A server whose configuration `tweak` adjusts last (its data
    /// directory is `config.data_dir`).
    pub async fn with_config(quota: i64, tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        write_private(&dir.path().join("test-tokens.toml"), TOKENS);
        let database = if postgres_selected() {
            Some(fresh_postgres_url().await)
        } else {
            None
        };
        let server = launch_with(dir.path(), quota, database.clone(), tweak).await;
        let base = base_url(server.local_addr());
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
        self.base = base_url(server.local_addr());
        self.server = Some(server);
    }

    pub fn client(&self, token: &str) -> Client {
        api_client(&self.base, Some(token))
    }

    /// A client that sends no token at all.
    pub fn anonymous(&self) -> Client {
        api_client(&self.base, None)
    }

    /// The server's `127.0.0.1:port`, as a `Host` header or for a socket.
    pub fn host(&self) -> String {
        self.server.as_ref().unwrap().local_addr().to_string()
    }

    /// A raw connection to the server for HTTP written by hand: plain TCP,
    /// or under `IMGSHARE_TEST_TLS=1` a TLS stream over it (handshake done).
    pub async fn connect(&self) -> RawConn {
        connect(self.server.as_ref().unwrap().local_addr()).await
    }

    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.as_ref().unwrap().metrics_addr()
    }

    /// Where the server's Prometheus metrics are (plain HTTP, loopback).
    pub fn metrics_url(&self) -> String {
        let addr = self.server.as_ref().unwrap().metrics_addr();
        format!("http://{}/metrics", addr.expect("metrics are on"))
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
            disk_format: Some("raw".parse().unwrap()),
            container_format: Some("bare".parse().unwrap()),
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
    launch_with(dir, quota, database, |_| {}).await
}

async fn launch_with(
    dir: &Path,
    quota: i64,
    database: Option<String>,
    tweak: impl FnOnce(&mut Config),
) -> imgshare_server::Server {
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.to_path_buf());
    config.tokens = Some(dir.join("test-tokens.toml"));
    config.member_quota = quota;
    config.database = database;
    config.database_connections = 4;
    use_tls_if_selected(&mut config, dir);
    tweak(&mut config);
    imgshare_server::start(&config)
        .await
        .expect("server starts")
}

/// A SQLite server's config on `dir` with the test identities (written
/// there), for tests that start a server their own way.
pub fn test_config(dir: &Path) -> Config {
    write_private(&dir.join("test-tokens.toml"), TOKENS);
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.to_path_buf());
    config.tokens = Some(dir.join("test-tokens.toml"));
    config.database_connections = 4;
    config
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
    let mut req = http_client().request(method, url);
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

// ---------------------------------------------------------------------------
// TLS: IMGSHARE_TEST_TLS=1 runs the suite over HTTPS.

/// Whether this run tests over HTTPS (`IMGSHARE_TEST_TLS=1`).
pub fn tls_selected() -> bool {
    std::env::var("IMGSHARE_TEST_TLS").is_ok_and(|v| v == "1")
}

/// `https://addr` under TLS, `http://addr` otherwise.
pub fn base_url(addr: SocketAddr) -> String {
    let scheme = if tls_selected() { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

/// A throwaway certificate authority.
pub struct TestCa {
    cert: rcgen::Certificate,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A server certificate and its key, as PEM.
pub struct ServerPair {
    pub cert_pem: String,
    pub key_pem: String,
    /// The certificate as DER: what the server presents in its handshake.
    pub cert_der: Vec<u8>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyUsagePurpose};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().expect("a CA key");
        let cert = params.self_signed(&key).expect("a CA certificate");
        TestCa {
            cert,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA as a root for reqwest.
    pub fn reqwest_root(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_der(self.cert.der()).unwrap()
    }

    /// A reqwest client builder that trusts this CA and no other root.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder().tls_certs_only([self.reqwest_root()])
    }

    /// A fresh key and a certificate for 127.0.0.1 and localhost.
    pub fn server_pair(&self) -> ServerPair {
        use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyUsagePurpose};
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "imgshare test server");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().expect("a server key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("a server certificate");
        ServerPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        }
    }

    /// A TLS client config for raw streams that trusts this CA only.
    pub fn rustls_client_config(&self) -> Arc<tokio_rustls::rustls::ClientConfig> {
        use tokio_rustls::rustls;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }
}

impl ServerPair {
    /// Writes the certificate to `cert` and the key to `key` (0600).
    pub fn write(&self, cert: &Path, key: &Path) {
        std::fs::write(cert, &self.cert_pem).unwrap();
        write_private(key, &self.key_pem);
    }
}

/// The CA of this test process's servers under `IMGSHARE_TEST_TLS=1`.
pub fn suite_ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| TestCa::new("imgshare e2e throwaway CA"))
}

/// Under `IMGSHARE_TEST_TLS=1`: a certificate and key for this server in
/// `dir` (with the CA beside them, for inspection), named in `config`.
/// Otherwise nothing.
pub fn use_tls_if_selected(config: &mut Config, dir: &Path) {
    if !tls_selected() {
        return;
    }
    let (cert, key) = (dir.join("tls-cert.pem"), dir.join("tls-key.pem"));
    suite_ca().server_pair().write(&cert, &key);
    std::fs::write(dir.join("tls-ca.pem"), suite_ca().pem()).unwrap();
    config.tls_cert = Some(cert);
    config.tls_key = Some(key);
}

/// A reqwest client builder for the test servers: `reqwest::Client::builder()`,
/// trusting only the suite's CA under `IMGSHARE_TEST_TLS=1`.
pub fn http_builder() -> reqwest::ClientBuilder {
    if tls_selected() {
        suite_ca().client_builder()
    } else {
        reqwest::Client::builder()
    }
}

/// `reqwest::Client::new()`, over TLS when the run is.
pub fn http_client() -> reqwest::Client {
    if tls_selected() {
        http_builder().build().expect("a reqwest client")
    } else {
        reqwest::Client::new()
    }
}

/// The generated client for `base`, as `Client::with_token` (or
/// `Client::new` without a token) builds it, over TLS when the run is.
pub fn api_client(base: &str, token: Option<&str>) -> Client {
    if !tls_selected() {
        return match token {
            Some(t) => Client::with_token(base, t).unwrap(),
            None => Client::new(base),
        };
    }
    let builder = http_builder();
    let builder = match token {
        // Client::with_token's settings.
        Some(t) => {
            let mut headers = reqwest::header::HeaderMap::new();
            let mut value = reqwest::header::HeaderValue::from_str(t).unwrap();
            value.set_sensitive(true);
            headers.insert(imgshare::AUTH_HEADER, value);
            builder
                .default_headers(headers)
                .connect_timeout(std::time::Duration::from_secs(15))
                .timeout(std::time::Duration::from_secs(30))
        }
        // Client::new's (progenitor's) settings.
        None => builder
            .connect_timeout(std::time::Duration::from_secs(15))
            .timeout(std::time::Duration::from_secs(15)),
    };
    Client::new_with_client(base, builder.build().expect("a reqwest client"))
}

/// A byte stream to write HTTP on by hand: TCP, or TLS over TCP.
pub trait RawIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> RawIo for T {}
pub type RawConn = Box<dyn RawIo>;

/// A raw connection to `addr`: plain TCP, or under `IMGSHARE_TEST_TLS=1` a
/// TLS client stream (trusting the suite's CA) with the handshake done.
pub async fn connect(addr: SocketAddr) -> RawConn {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    if !tls_selected() {
        return Box::new(tcp);
    }
    let connector = tokio_rustls::TlsConnector::from(suite_ca().rustls_client_config());
    let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    Box::new(connector.connect(name, tcp).await.expect("TLS handshake"))
}
