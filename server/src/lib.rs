//! imgshare: the OpenStack Image API v2 "image members" family, served by
//! dropshot from the hand-written document in `openapi/imgshare.json`.
//!
//! Path of a request: `api.rs` (trait, wire types) → `http.rs` (thin handler)
//! → `domain/` (rules, Glance's check order) → `store/` (SQLite; one writer,
//! group commit). Errors: `error.rs`, rendered in `reply.rs`.

pub mod api;
pub mod auth;
pub mod docs;
pub mod domain;
pub mod error;
mod fallback;
pub mod health;
pub mod http;
mod huawei;
pub mod listen;
pub mod metrics;
pub mod reply;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use dropshot::{ConfigDropshot, HandlerTaskMode, ServerBuilder};

use crate::auth::{Identity, IdentityFile, Keystone, KeystoneConfig, ServiceCredential};
use crate::domain::Service;
use crate::http::{AppState, ImgshareImpl, Schemas};
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::Store;

/// Server configuration: flags, each also read from an `IMGSHARE_*` variable.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "imgshare-server",
    version,
    about = "OpenStack Image API v2 image-member service"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "IMGSHARE_BIND", default_value = "127.0.0.1:9292")]
    pub bind: SocketAddr,
    /// Directory of the embedded SQLite store (created if missing).
    #[arg(long, env = "IMGSHARE_DATA_DIR", default_value = "./imgshare-data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (`postgres://user@host/db`) for several replicas on one
    /// database. Without it the embedded SQLite store in --data-dir is used.
    #[arg(long, env = "IMGSHARE_DATABASE")]
    pub database: Option<String>,
    /// Connections each replica keeps to PostgreSQL.
    #[arg(long, env = "IMGSHARE_DATABASE_CONNECTIONS", default_value_t = 16)]
    pub database_connections: usize,
    /// Tokens file (TOML). Default: <data-dir>/tokens.toml, created with demo
    /// identities on first start.
    #[arg(long, env = "IMGSHARE_TOKENS")]
    pub tokens: Option<PathBuf>,
    /// Live members allowed per image; negative = unlimited.
    #[arg(
        long,
        env = "IMGSHARE_MEMBER_QUOTA",
        default_value_t = 128,
        allow_negative_numbers = true
    )]
    pub member_quota: i64,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info`, `warn,imgshare::access=off`.
    #[arg(long, env = "IMGSHARE_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Log lines as human-readable text, or as JSON objects (one per line:
    /// timestamp, level, target, message and fields; access lines carry the
    /// request ID, method, route template, status, latency and project).
    #[arg(long, env = "IMGSHARE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Where Prometheus metrics are served (`GET /metrics`), apart from the
    /// API: loopback by default, so the figures are never world-readable
    /// unless the operator says so.
    #[arg(long, env = "IMGSHARE_METRICS_BIND", default_value = "127.0.0.1:9293")]
    pub metrics_bind: SocketAddr,
    /// Neither collect nor serve metrics.
    #[arg(long, env = "IMGSHARE_NO_METRICS")]
    pub no_metrics: bool,
    /// While this file exists, `/healthcheck` answers 503 "disabled by file":
    /// create it to drain the replica, then stop it.
    #[arg(long, env = "IMGSHARE_DISABLE_BY_FILE")]
    pub disable_by_file: Option<PathBuf>,
    /// Seconds the health check's store probe may take before it fails.
    #[arg(long, env = "IMGSHARE_HEALTH_TIMEOUT_SECS", default_value_t = 2.0)]
    pub health_timeout_secs: f64,
    /// Public base URL for absolute links (version discovery), e.g.
    /// `https://image.example.com`. Default: built from the request's `Host`.
    #[arg(long, env = "IMGSHARE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes; larger bodies get 413.
    #[arg(long, env = "IMGSHARE_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
    /// Where image data is kept (default: `<data-dir>/images`). Replicas on
    /// PostgreSQL must share it (one mount).
    #[arg(long, env = "IMGSHARE_IMAGE_DIR")]
    pub image_dir: Option<PathBuf>,
    /// With replicas on PostgreSQL: an upload whose temporary file is
    /// untouched this long (seconds) is taken for dead and cleaned up.
    #[arg(long, env = "IMGSHARE_UPLOAD_STALE_SECS", default_value_t = 120)]
    pub upload_stale_secs: u64,
    /// Largest image data accepted, in bytes (default: Glance's 1 TiB).
    #[arg(long, env = "IMGSHARE_IMAGE_SIZE_CAP", default_value_t = 1 << 40)]
    pub image_size_cap: u64,
    /// How long finished Huawei batch jobs are kept, in seconds (default: a
    /// week).
    #[arg(long, env = "IMGSHARE_JOB_RETENTION_SECS", default_value_t = 7 * 24 * 3600)]
    pub job_retention_secs: u64,
    /// How long a replica may hold a job without progress before another
    /// replica takes it over, in seconds.
    #[arg(long, env = "IMGSHARE_JOB_LEASE_SECS", default_value_t = 30)]
    pub job_lease_secs: u64,
    /// Connections open at once (each holds up to three file descriptors);
    /// past it, new connections get an immediate 503 and are closed. Lowered
    /// at start-up to what the open-files limit allows.
    #[arg(long, env = "IMGSHARE_MAX_CONNECTIONS", default_value_t = 8192)]
    pub max_connections: usize,
    /// A connection on which no byte moves this long (seconds) is closed:
    /// one that never sends a request, an idle keep-alive one, a stalled
    /// body or a client that stopped reading.
    #[arg(long, env = "IMGSHARE_IDLE_TIMEOUT_SECS", default_value_t = 30.0)]
    pub idle_timeout_secs: f64,
    /// TLS certificate chain (PEM). With --tls-key, the server speaks HTTPS
    /// only; SIGHUP reloads both files without dropping connections.
    #[arg(long, env = "IMGSHARE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for --tls-cert.
    #[arg(long, env = "IMGSHARE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Job runners per server.
    #[arg(long, env = "IMGSHARE_JOB_RUNNERS", default_value_t = 2)]
    pub job_runners: usize,

    /// Keystone's public endpoint (a clouds.yaml `auth_url`, with or without
    /// `/v3`). Set: `X-Auth-Token`s the identity file does not know are
    /// validated by Keystone. Unset: the identity file alone.
    #[arg(long, env = "IMGSHARE_KEYSTONE_URL", help_heading = "Keystone")]
    pub keystone_url: Option<String>,
    /// The service user imgshare validates tokens as (needs the `service`
    /// role, or `admin`, in --keystone-project). Its password comes from
    /// IMGSHARE_KEYSTONE_PASSWORD or --keystone-password-file, never from the
    /// command line.
    #[arg(long, env = "IMGSHARE_KEYSTONE_USER", help_heading = "Keystone")]
    pub keystone_user: Option<String>,
    /// The project the service user's token is scoped to (e.g. `service`).
    #[arg(long, env = "IMGSHARE_KEYSTONE_PROJECT", help_heading = "Keystone")]
    pub keystone_project: Option<String>,
    /// Domain (name) of the service user.
    #[arg(
        long,
        env = "IMGSHARE_KEYSTONE_USER_DOMAIN",
        default_value = "Default",
        help_heading = "Keystone"
    )]
    pub keystone_user_domain: String,
    /// Domain (name) of --keystone-project.
    #[arg(
        long,
        env = "IMGSHARE_KEYSTONE_PROJECT_DOMAIN",
        default_value = "Default",
        help_heading = "Keystone"
    )]
    pub keystone_project_domain: String,
    /// File holding the service user's password (first line). Alternative:
    /// the IMGSHARE_KEYSTONE_PASSWORD variable.
    #[arg(
        long,
        env = "IMGSHARE_KEYSTONE_PASSWORD_FILE",
        help_heading = "Keystone"
    )]
    pub keystone_password_file: Option<PathBuf>,
    /// An application credential to authenticate with instead of user and
    /// password; its secret from IMGSHARE_KEYSTONE_APPLICATION_CREDENTIAL_SECRET
    /// or --keystone-application-credential-secret-file.
    #[arg(
        long,
        env = "IMGSHARE_KEYSTONE_APPLICATION_CREDENTIAL_ID",
        help_heading = "Keystone"
    )]
    pub keystone_application_credential_id: Option<String>,
    /// File holding the application credential's secret (first line).
    #[arg(
        long,
        env = "IMGSHARE_KEYSTONE_APPLICATION_CREDENTIAL_SECRET_FILE",
        help_heading = "Keystone"
    )]
    pub keystone_application_credential_secret_file: Option<PathBuf>,
    /// Seconds a validated token is trusted without asking Keystone again
    /// (never past its `expires_at`). A revoked token keeps working at most
    /// this long. keystonemiddleware's default.
    #[arg(
        long,
        env = "IMGSHARE_KEYSTONE_CACHE_SECS",
        default_value_t = 300,
        help_heading = "Keystone"
    )]
    pub keystone_cache_secs: u64,
    /// Seconds an invalid token is remembered as invalid (spares Keystone a
    /// flood of one bad token).
    #[arg(
        long,
        env = "IMGSHARE_KEYSTONE_NEGATIVE_CACHE_SECS",
        default_value_t = 10,
        help_heading = "Keystone"
    )]
    pub keystone_negative_cache_secs: u64,
    /// Most tokens kept in the validation cache.
    #[arg(
        long,
        env = "IMGSHARE_KEYSTONE_CACHE_SIZE",
        default_value_t = 100_000,
        help_heading = "Keystone"
    )]
    pub keystone_cache_size: u64,
    /// Do not ask Keystone whether a project added as a member exists. By
    /// default (with --keystone-url) an unknown project is refused with
    /// IMG.0108; the lookup is cached like token validations.
    #[arg(long, env = "IMGSHARE_NO_VERIFY_MEMBERS", help_heading = "Keystone")]
    pub no_verify_members: bool,
    /// Seconds to wait for Keystone before answering 503.
    #[arg(
        long,
        env = "IMGSHARE_KEYSTONE_TIMEOUT_SECS",
        default_value_t = 5.0,
        help_heading = "Keystone"
    )]
    pub keystone_timeout_secs: f64,
    /// The service password or application-credential secret, set by code
    /// (tests) instead of the environment; never a flag.
    #[arg(skip)]
    pub keystone_secret: Option<Secret>,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A secret that never prints.
#[derive(Clone, Default)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// First line of a secret file, or a message naming the file (not its content).
fn read_secret_file(path: &std::path::Path) -> Result<String, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if line.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(line.to_owned())
}

/// The secret from code, a file or a variable, in that order.
fn secret(
    config: &Config,
    file: &Option<PathBuf>,
    variable: &str,
) -> Result<Option<String>, String> {
    if let Some(s) = &config.keystone_secret {
        return Ok(Some(s.0.clone()));
    }
    if let Some(path) = file {
        return read_secret_file(path).map(Some);
    }
    Ok(std::env::var(variable).ok().filter(|v| !v.is_empty()))
}

/// The Keystone source, if --keystone-url is set, with its public URL.
fn keystone(config: &Config) -> Result<Option<(Keystone, String)>, String> {
    let Some(url) = &config.keystone_url else {
        return Ok(None);
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "--keystone-url must be an http(s) URL, got {url:?}"
        ));
    }
    let credential = if let Some(id) = &config.keystone_application_credential_id {
        let secret = secret(
            config,
            &config.keystone_application_credential_secret_file,
            "IMGSHARE_KEYSTONE_APPLICATION_CREDENTIAL_SECRET",
        )?
        .ok_or(
            "--keystone-application-credential-id needs its secret in \
                IMGSHARE_KEYSTONE_APPLICATION_CREDENTIAL_SECRET or \
                --keystone-application-credential-secret-file",
        )?;
        ServiceCredential::ApplicationCredential {
            id: id.clone(),
            secret,
        }
    } else {
        let (Some(user), Some(project)) = (&config.keystone_user, &config.keystone_project) else {
            return Err(
                "--keystone-url needs --keystone-user and --keystone-project \
                        (or --keystone-application-credential-id)"
                    .into(),
            );
        };
        let password = secret(
            config,
            &config.keystone_password_file,
            "IMGSHARE_KEYSTONE_PASSWORD",
        )?
        .ok_or(
            "--keystone-user needs its password in IMGSHARE_KEYSTONE_PASSWORD or \
                --keystone-password-file",
        )?;
        ServiceCredential::Password {
            user: user.clone(),
            password,
            user_domain: config.keystone_user_domain.clone(),
            project: project.clone(),
            project_domain: config.keystone_project_domain.clone(),
        }
    };
    let timeout = std::time::Duration::try_from_secs_f64(config.keystone_timeout_secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or("--keystone-timeout-secs must be a positive number")?;
    let keystone = Keystone::new(KeystoneConfig {
        url: url.clone(),
        credential,
        cache_ttl: std::time::Duration::from_secs(config.keystone_cache_secs),
        negative_ttl: std::time::Duration::from_secs(config.keystone_negative_cache_secs),
        cache_size: config.keystone_cache_size,
        timeout,
    })?;
    tracing::info!(
        url = keystone.v3(),
        cache_secs = config.keystone_cache_secs,
        "validating tokens with Keystone"
    );
    Ok(Some((keystone, url.clone())))
}

impl Config {
    /// Defaults for a server on `bind` with its data in `data_dir` (tests).
    pub fn new(bind: SocketAddr, data_dir: PathBuf) -> Self {
        let mut c = Config::parse_from(["imgshare-server"]);
        c.bind = bind;
        c.data_dir = data_dir;
        // Several test servers run at once: each its own metrics port.
        c.metrics_bind = SocketAddr::from(([127, 0, 0, 1], 0));
        c
    }
}

/// A running server.
pub struct Server {
    http: dropshot::HttpServer<AppState>,
    accept: listen::AcceptLayer,
    store: Arc<dyn Store>,
    runners: domain::jobs::Runners,
    /// The TLS certificate and key files, re-read by `reload_tls`.
    tls: Option<(PathBuf, PathBuf)>,
    exporter: Option<metrics::Exporter>,
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.accept.local_addr()
    }

    /// Where `/metrics` is served; `None` with `--no-metrics`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.exporter.as_ref().map(|e| e.local_addr())
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.accept.open_connections()
    }

    /// Reads the TLS certificate and key files again; connections already
    /// open keep theirs, new ones get the new pair.
    /// A pair that does not load, or whose key is not the certificate's, is
    /// refused and the old pair kept.
    pub async fn reload_tls(&self) -> Result<(), String> {
        match &self.tls {
            Some((cert, key)) => {
                let config = listen::tls_config(cert, key)?;
                self.http
                    .refresh_tls(&dropshot::ConfigTls::Dynamic(config))
                    .await
            }
            None => Ok(()),
        }
    }

    /// Stops accepting, lets in-flight requests finish, then flushes the store.
    pub async fn close(self) -> Result<(), String> {
        self.accept.stop().await;
        let result = self.http.close().await;
        if let Some(e) = self.exporter {
            e.stop().await;
        }
        self.runners.stop().await;
        self.store.shutdown().await;
        result
    }
}

/// Opens the store, loads identities and starts serving.
pub async fn start(config: &Config) -> Result<Server, String> {
    let tokens_path = match &config.tokens {
        Some(p) => p.clone(),
        None => {
            std::fs::create_dir_all(&config.data_dir)
                .map_err(|e| format!("creating {}: {e}", config.data_dir.display()))?;
            let p = config.data_dir.join("tokens.toml");
            if IdentityFile::create_demo_file(&p)? {
                tracing::warn!(path = %p.display(), "wrote demo identities; replace them for real use");
            }
            p
        }
    };
    let metrics = if config.no_metrics {
        metrics::Metrics::disabled()
    } else {
        metrics::Metrics::new(env!("CARGO_PKG_VERSION"))?
    };
    let file = IdentityFile::load(&tokens_path)?;
    tracing::info!(path = %tokens_path.display(), identities = file.len(), "loaded identity file");
    let keystone =
        keystone(config)?.map(|(k, url)| (Arc::new(k.with_metrics(metrics.clone())), url));
    let projects: Option<Arc<dyn domain::ProjectDirectory>> = match &keystone {
        Some((k, _)) if !config.no_verify_members => Some(Arc::clone(k) as _),
        _ => None,
    };
    let identity = Identity::new(file, keystone);

    let store: Arc<dyn Store> = match &config.database {
        Some(url) => Arc::new(
            PostgresStore::connect_with(url, config.database_connections, metrics.clone())
                .await
                .map_err(|e| format!("opening PostgreSQL: {e}"))?,
        ),
        None => Arc::new(
            SqliteStore::open_with(&config.data_dir, metrics.clone()).map_err(|e| e.to_string())?,
        ),
    };
    let image_dir = config
        .image_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("images"));
    let upload_stale = std::time::Duration::from_secs(config.upload_stale_secs.max(1));
    let data = crate::store::data::FsDataStore::open(&image_dir, upload_stale)
        .map_err(|e| format!("opening the image directory {}: {e}", image_dir.display()))?;
    let service = Service {
        projects,
        store: Arc::clone(&store),
        member_quota: u64::try_from(config.member_quota).ok(),
        job_wakeup: Arc::new(tokio::sync::Notify::new()),
        data: Arc::new(data),
        image_size_cap: config.image_size_cap,
        upload_stale,
    };
    let exclusive = config.database.is_none();
    service
        .recover_image_data(exclusive)
        .await
        .map_err(|e| format!("recovering image data in {}: {e}", image_dir.display()))?;
    if config.job_lease_secs == 0 {
        return Err("--job-lease-secs must be at least 1".into());
    }
    let health_timeout = std::time::Duration::try_from_secs_f64(config.health_timeout_secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or("--health-timeout-secs must be a positive number")?;
    let backend = if config.database.is_some() {
        "postgresql"
    } else {
        "sqlite"
    };
    let mut api = api::imgshare_api_mod::api_description::<ImgshareImpl>()
        .map_err(|e| format!("API description: {e}"))?;
    let mut registrar = fallback::Registrar::new(&mut api);
    fallback::register(&mut registrar)?;
    let mut routes = docs::published_routes()?;
    routes.append(&mut registrar.routes);
    let state = AppState {
        service: service.clone(),
        identity,
        schemas: Schemas::load()?,
        public_url: config.public_url.clone(),
        health: health::Health {
            store: Arc::clone(&store),
            backend,
            disable_by_file: config.disable_by_file.clone(),
            timeout: health_timeout,
        },
        metrics: metrics.clone(),
        operations: metrics::Operations::new(routes),
    };
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        _ => None,
    };
    let tls_config = match &tls {
        Some((cert, key)) => Some(dropshot::ConfigTls::Dynamic(listen::tls_config(cert, key)?)),
        None => None,
    };
    let limits = connection_limits(config, tls.is_some())?;
    // dropshot listens on a private loopback port behind the accept layer
    // (listen.rs), which owns the public address.
    let dropshot_config = ConfigDropshot {
        bind_address: SocketAddr::from(([127, 0, 0, 1], 0)),
        default_request_body_max_bytes: config.max_body_bytes,
        // Handlers run inline, without a task spawn each. Safe to cancel:
        // every write is one store job, committed whole or not at all.
        default_handler_task_mode: HandlerTaskMode::CancelOnDisconnect,
        ..Default::default()
    };
    let http = ServerBuilder::new(api, state, listen::dropshot_logger())
        .config(dropshot_config)
        .tls(tls_config)
        .start()
        .map_err(|e| format!("starting the HTTP server: {e}"))?;
    let accept =
        listen::AcceptLayer::start(config.bind, http.local_addr(), limits, metrics.clone())
            .map_err(|e| format!("listening on {}: {e}", config.bind))?;
    let exporter = if metrics.enabled() {
        let sampler = sampler(Arc::clone(&store), accept.open_counter());
        let exporter = metrics::Exporter::start(config.metrics_bind, metrics, sampler)
            .await
            .map_err(|e| format!("metrics: listening on {}: {e}", config.metrics_bind))?;
        tracing::info!(address = %exporter.local_addr(), "metrics at /metrics");
        Some(exporter)
    } else {
        None
    };
    let runners = domain::jobs::Runners::start(
        service,
        domain::jobs::JobSettings {
            lease: std::time::Duration::from_secs(config.job_lease_secs),
            retention: std::time::Duration::from_secs(config.job_retention_secs),
            runners: config.job_runners,
            sweep_image_data: !exclusive,
            ..Default::default()
        },
    );
    tracing::info!(
        address = %accept.local_addr(),
        store = backend,
        tls = tls.is_some(),
        max_connections = limits.max_connections,
        idle_timeout_secs = limits.idle_timeout.as_secs_f64(),
        "listening"
    );
    Ok(Server {
        http,
        accept,
        store,
        runners,
        tls,
        exporter,
    })
}

/// The gauges `/metrics` reads when scraped: unfinished jobs (from the
/// store, within a second) and open connections.
fn sampler(store: Arc<dyn Store>, open: Arc<std::sync::atomic::AtomicUsize>) -> metrics::Sampler {
    Arc::new(move || {
        let (store, open) = (Arc::clone(&store), Arc::clone(&open));
        Box::pin(async move {
            let jobs = tokio::time::timeout(std::time::Duration::from_secs(1), store.queued_jobs())
                .await
                .ok()
                .and_then(Result::ok);
            metrics::Sample {
                jobs_queued: jobs,
                connections_open: Some(open.load(std::sync::atomic::Ordering::Relaxed)),
            }
        })
    })
}

/// File descriptors kept back from connections (store, image files, logs).
const RESERVED_FILES: u64 = 256;

/// The connection limits, with the open-files limit raised to its hard
/// limit and --max-connections lowered to what it allows.
fn connection_limits(config: &Config, tls: bool) -> Result<listen::Limits, String> {
    let idle_timeout = std::time::Duration::try_from_secs_f64(config.idle_timeout_secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or("--idle-timeout-secs must be a positive number")?;
    if config.max_connections == 0 {
        return Err("--max-connections must be at least 1".into());
    }
    let mut max_connections = config.max_connections;
    match listen::raise_open_files_limit() {
        Ok((before, after)) => {
            tracing::info!(soft_before = before, soft_now = after, "open-files limit");
            // A relayed connection holds three descriptors: the client's,
            // and both ends of the loopback hop to dropshot.
            let fit =
                usize::try_from(after.saturating_sub(RESERVED_FILES) / 3).unwrap_or(usize::MAX);
            if fit < max_connections {
                tracing::warn!(
                    requested = max_connections,
                    allowed = fit.max(1),
                    open_files_limit = after,
                    "--max-connections lowered to fit the open-files limit"
                );
                max_connections = fit.max(1);
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read or raise the open-files limit"),
    }
    Ok(listen::Limits {
        max_connections,
        idle_timeout,
        tls,
    })
}
