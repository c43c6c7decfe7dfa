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
pub mod http;
pub mod reply;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use dropshot::{ConfigDropshot, HandlerTaskMode, ServerBuilder};

use crate::auth::Tokens;
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
    /// Public base URL for absolute links (version discovery), e.g.
    /// `https://image.example.com`. Default: built from the request's `Host`.
    #[arg(long, env = "IMGSHARE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes; larger bodies get 413.
    #[arg(long, env = "IMGSHARE_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
}

impl Config {
    /// Defaults for a server on `bind` with its data in `data_dir` (tests).
    pub fn new(bind: SocketAddr, data_dir: PathBuf) -> Self {
        let mut c = Config::parse_from(["imgshare-server"]);
        c.bind = bind;
        c.data_dir = data_dir;
        c
    }
}

/// A running server.
pub struct Server {
    http: dropshot::HttpServer<AppState>,
    store: Arc<dyn Store>,
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.http.local_addr()
    }

    /// Stops accepting, lets in-flight requests finish, then flushes the store.
    pub async fn close(self) -> Result<(), String> {
        let result = self.http.close().await;
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
            if Tokens::create_demo_file(&p)? {
                tracing::warn!(path = %p.display(), "wrote demo identities; replace them for real use");
            }
            p
        }
    };
    let tokens = Tokens::load(&tokens_path)?;
    tracing::info!(path = %tokens_path.display(), identities = tokens.len(), "loaded tokens");

    let store: Arc<dyn Store> = match &config.database {
        Some(url) => Arc::new(
            PostgresStore::connect(url, config.database_connections)
                .await
                .map_err(|e| format!("opening PostgreSQL: {e}"))?,
        ),
        None => Arc::new(SqliteStore::open(&config.data_dir).map_err(|e| e.to_string())?),
    };
    let state = AppState {
        service: Service {
            store: Arc::clone(&store),
            member_quota: u64::try_from(config.member_quota).ok(),
        },
        tokens,
        schemas: Schemas::load()?,
        public_url: config.public_url.clone(),
    };
    let mut api = api::imgshare_api_mod::api_description::<ImgshareImpl>()
        .map_err(|e| format!("API description: {e}"))?;
    fallback::register(&mut api)?;
    let dropshot_config = ConfigDropshot {
        bind_address: config.bind,
        default_request_body_max_bytes: config.max_body_bytes,
        // Handlers run inline, without a task spawn each. Safe to cancel:
        // every write is one store job, committed whole or not at all.
        default_handler_task_mode: HandlerTaskMode::CancelOnDisconnect,
        ..Default::default()
    };
    // dropshot's own per-request INFO logging halves throughput and drops
    // lines under load; our handlers write the access log through tracing.
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let http = ServerBuilder::new(api, state, log)
        .config(dropshot_config)
        .start()
        .map_err(|e| format!("starting HTTP server on {}: {e}", config.bind))?;
    let backend = if config.database.is_some() {
        "postgresql"
    } else {
        "sqlite"
    };
    tracing::info!(address = %http.local_addr(), store = backend, "listening");
    Ok(Server { http, store })
}
