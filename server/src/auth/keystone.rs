//! Keystone v3 token validation, as keystonemiddleware's `auth_token` does it
//! for Glance, built in:
//!
//! * the service authenticates itself (`POST /v3/auth/tokens`, password or
//!   application credential) and renews its own token before it expires;
//! * a user's token is validated with `GET /v3/auth/tokens?nocatalog`
//!   (`X-Subject-Token` = the user's token, `X-Auth-Token` = ours). 200: valid;
//!   404: invalid (401 to the client); 401: our own token was refused, so it is
//!   renewed and the call retried once; anything else, a timeout or a refused
//!   connection: Keystone is unavailable (503, never 401: the client's token is
//!   not at fault);
//! * results are cached by SHA-256 of the token (never the token itself):
//!   valid ones until the earlier of `expires_at` and `--keystone-cache-secs`,
//!   invalid ones for `--keystone-negative-cache-secs`, so a flood of one bad
//!   token is not a flood on Keystone. Concurrent requests with the same
//!   uncached token share one Keystone call.
//!
//! We do not send `OpenStack-Identity-Access-Rules`, so Keystone itself refuses
//! application-credential tokens restricted by access rules (which we would
//! otherwise have to enforce).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use moka::future::Cache;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::domain::model::Caller;

/// How the service proves itself to Keystone.
#[derive(Clone)]
pub enum ServiceCredential {
    Password {
        user: String,
        password: String,
        user_domain: String,
        project: String,
        project_domain: String,
    },
    ApplicationCredential {
        id: String,
        secret: String,
    },
}

impl std::fmt::Debug for ServiceCredential {
    // Never prints the password or secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceCredential::Password { user, project, .. } => f
                .debug_struct("Password")
                .field("user", user)
                .field("project", project)
                .finish_non_exhaustive(),
            ServiceCredential::ApplicationCredential { id, .. } => f
                .debug_struct("ApplicationCredential")
                .field("id", id)
                .finish_non_exhaustive(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct KeystoneConfig {
    /// Keystone's public endpoint, with or without `/v3`.
    pub url: String,
    pub credential: ServiceCredential,
    /// How long a validated token is trusted without asking again.
    pub cache_ttl: Duration,
    /// How long an invalid token is remembered as invalid.
    pub negative_ttl: Duration,
    /// Most tokens kept in the cache.
    pub cache_size: u64,
    /// Whole-request timeout of each Keystone call.
    pub timeout: Duration,
}

/// Why a token was not turned into a caller.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeystoneError {
    /// Keystone says the token is not valid (unknown, revoked, expired).
    #[error("invalid token")]
    Invalid,
    /// Keystone could not be asked, or did not answer usefully. The detail is
    /// for the log (it never holds a token).
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Clone, Debug)]
enum Cached {
    Valid {
        caller: Caller,
        expires_at: DateTime<Utc>,
    },
    Invalid,
}

struct CacheExpiry {
    ttl: Duration,
    negative_ttl: Duration,
}

impl moka::Expiry<[u8; 32], Cached> for CacheExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Cached,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        Some(match value {
            Cached::Invalid => self.negative_ttl,
            Cached::Valid { expires_at, .. } => {
                let left = (*expires_at - Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO);
                left.min(self.ttl)
            }
        })
    }
}

struct ServiceToken {
    token: String,
    /// When to get a new one: before it expires, by a margin.
    renew_at: Instant,
}

/// The Keystone identity source.
pub struct Keystone {
    http: reqwest::Client,
    /// `…/v3`, no trailing slash.
    v3: String,
    credential: ServiceCredential,
    service_token: tokio::sync::Mutex<Option<ServiceToken>>,
    cache: Cache<[u8; 32], Cached>,
    /// Project ID → what Keystone said of it (member checks).
    projects: Cache<String, ProjectLookup>,
    /// "cannot check members" is logged once a minute at most.
    unverifiable: crate::listen::RateLimitedLog,
    metrics: crate::metrics::Metrics,
}

/// What a project lookup found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectLookup {
    Exists,
    Unknown,
    /// The service user may not read projects (Keystone answered 403).
    NotAllowed,
}

struct ProjectExpiry {
    ttl: Duration,
    negative_ttl: Duration,
}

impl moka::Expiry<String, ProjectLookup> for ProjectExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &ProjectLookup,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        Some(match value {
            ProjectLookup::Exists => self.ttl,
            ProjectLookup::Unknown | ProjectLookup::NotAllowed => self.negative_ttl,
        })
    }
}

/// `https://keystone:5000`, `…/`, `…/v3`, `…/v3/` → `…/v3`.
pub fn v3_url(url: &str) -> String {
    let base = url.trim().trim_end_matches('/');
    let base = base.strip_suffix("/v3").unwrap_or(base);
    format!("{base}/v3")
}

impl Keystone {
    pub fn new(config: KeystoneConfig) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("imgshare/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("Keystone HTTP client: {e}"))?;
        let cache = Cache::builder()
            .max_capacity(config.cache_size)
            .expire_after(CacheExpiry {
                ttl: config.cache_ttl,
                negative_ttl: config.negative_ttl,
            })
            .build();
        let projects = Cache::builder()
            .max_capacity(config.cache_size)
            .expire_after(ProjectExpiry {
                ttl: config.cache_ttl,
                negative_ttl: config.negative_ttl,
            })
            .build();
        Ok(Keystone {
            http,
            v3: v3_url(&config.url),
            credential: config.credential,
            service_token: tokio::sync::Mutex::new(None),
            cache,
            projects,
            unverifiable: crate::listen::RateLimitedLog::new(Duration::from_secs(60)),
            metrics: crate::metrics::Metrics::disabled(),
        })
    }

    /// Records cache hits and misses and Keystone's latency in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// `call` timed as one identity-provider request.
    async fn timed<T>(&self, call: &'static str, f: impl std::future::Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let out = f.await;
        self.metrics
            .observe_provider("keystone", call, started.elapsed());
        out
    }

    /// Keystone's public `/v3` URL (for `WWW-Authenticate`).
    pub fn v3(&self) -> &str {
        &self.v3
    }

    /// The caller a token stands for.
    pub async fn validate(&self, token: &str) -> Result<Caller, KeystoneError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let hit = self.cache.get(&key).await;
        self.metrics.cache_lookup("token", hit.is_some());
        let cached = match hit {
            Some(hit) => hit,
            // A miss: one Keystone call, shared by every concurrent request
            // that carries the same token.
            None => self
                .cache
                .try_get_with(key, self.timed("validate_token", self.ask(token)))
                .await
                .map_err(|e: Arc<KeystoneError>| (*e).clone())?,
        };
        match cached {
            Cached::Valid { caller, expires_at } if expires_at > Utc::now() => Ok(caller),
            Cached::Valid { .. } => {
                self.cache.invalidate(&key).await;
                Err(KeystoneError::Invalid)
            }
            Cached::Invalid => Err(KeystoneError::Invalid),
        }
    }

    /// Whether Keystone knows the project (`GET /v3/projects/{id}` with the
    /// service's token), cached as validations are: a found project for the
    /// cache TTL, an unknown one for the negative TTL.
    pub async fn lookup_project(&self, project_id: &str) -> Result<ProjectLookup, KeystoneError> {
        let hit = self.projects.get(project_id).await;
        self.metrics.cache_lookup("project", hit.is_some());
        if let Some(hit) = hit {
            return Ok(hit);
        }
        self.projects
            .try_get_with(
                project_id.to_owned(),
                self.timed("lookup_project", self.ask_project(project_id)),
            )
            .await
            .map_err(|e: Arc<KeystoneError>| (*e).clone())
    }

    async fn ask_project(&self, project_id: &str) -> Result<ProjectLookup, KeystoneError> {
        let url = format!(
            "{}/projects/{}",
            self.v3,
            percent_encoding::utf8_percent_encode(project_id, percent_encoding::NON_ALPHANUMERIC)
        );
        let mut renewed = false;
        loop {
            let service = self.service_token(renewed).await?;
            let rsp = self
                .http
                .get(&url)
                .header("X-Auth-Token", service)
                .header("Accept", "application/json")
                .send()
                .await
                .map_err(|e| unavailable("looking up a project", &e))?;
            return match rsp.status().as_u16() {
                200 => Ok(ProjectLookup::Exists),
                404 => Ok(ProjectLookup::Unknown),
                403 => {
                    if let Some(suppressed) = self.unverifiable.allow() {
                        tracing::warn!(
                            suppressed,
                            "Keystone does not let the service user read projects, so new \
                             members are not checked; give it a role that may (admin), or \
                             start with --no-verify-members"
                        );
                    }
                    Ok(ProjectLookup::NotAllowed)
                }
                401 if !renewed => {
                    renewed = true;
                    continue;
                }
                status => Err(KeystoneError::Unavailable(format!(
                    "Keystone answered {status} to a project lookup"
                ))),
            };
        }
    }

    /// One validation on a cache miss: `Ok(Invalid)` is cached too; errors are not.
    async fn ask(&self, token: &str) -> Result<Cached, KeystoneError> {
        // Header values must be visible ASCII; anything else is no token.
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Ok(Cached::Invalid);
        }
        let mut renewed = false;
        loop {
            let service = self.service_token(renewed).await?;
            let rsp = self
                .http
                .get(format!("{}/auth/tokens?nocatalog", self.v3))
                .header("X-Auth-Token", service)
                .header("X-Subject-Token", token)
                .header("Accept", "application/json")
                .send()
                .await
                .map_err(|e| unavailable("validating a token", &e))?;
            match rsp.status().as_u16() {
                200 => {
                    let body: TokenBody = rsp
                        .json()
                        .await
                        .map_err(|e| unavailable("reading a validation", &e))?;
                    return Ok(body.token.into_cached());
                }
                404 => return Ok(Cached::Invalid),
                // Our own token was refused (expired early, revoked): get a
                // new one and try once more, as keystonemiddleware does.
                401 if !renewed => {
                    renewed = true;
                    continue;
                }
                status => {
                    return Err(KeystoneError::Unavailable(format!(
                        "Keystone answered {status} to a token validation"
                    )));
                }
            }
        }
    }

    /// The service's own token, fetched or renewed when needed (`force`: the
    /// current one was refused). Concurrent callers wait for one request.
    async fn service_token(&self, force: bool) -> Result<String, KeystoneError> {
        let mut slot = self.service_token.lock().await;
        if let Some(t) = slot.as_ref() {
            if !force && Instant::now() < t.renew_at {
                return Ok(t.token.clone());
            }
        }
        let fresh = self.timed("service_token", self.authenticate()).await?;
        let token = fresh.token.clone();
        *slot = Some(fresh);
        Ok(token)
    }

    async fn authenticate(&self) -> Result<ServiceToken, KeystoneError> {
        let body = match &self.credential {
            ServiceCredential::Password {
                user,
                password,
                user_domain,
                project,
                project_domain,
            } => serde_json::json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": user, "domain": {"name": user_domain}, "password": password}}},
                "scope": {"project": {"name": project, "domain": {"name": project_domain}}},
            }}),
            ServiceCredential::ApplicationCredential { id, secret } => serde_json::json!({"auth": {
                "identity": {"methods": ["application_credential"],
                    "application_credential": {"id": id, "secret": secret}},
            }}),
        };
        let rsp = self
            .http
            .post(format!("{}/auth/tokens?nocatalog", self.v3))
            .json(&body)
            .send()
            .await
            .map_err(|e| unavailable("authenticating the service", &e))?;
        let status = rsp.status();
        if status != reqwest::StatusCode::CREATED && status != reqwest::StatusCode::OK {
            return Err(KeystoneError::Unavailable(format!(
                "Keystone refused the service's own credentials ({status}); check \
                 --keystone-user/--keystone-project and the password"
            )));
        }
        let token = rsp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                KeystoneError::Unavailable("Keystone issued no X-Subject-Token".into())
            })?;
        let body: TokenBody = rsp
            .json()
            .await
            .map_err(|e| unavailable("reading the service token", &e))?;
        let lifetime = (body.token.expires_at - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        // Renew in the last quarter of its life, at most two minutes early.
        let margin = (lifetime / 4).min(Duration::from_secs(120));
        tracing::info!(
            lifetime_s = lifetime.as_secs(),
            "obtained the service's Keystone token"
        );
        Ok(ServiceToken {
            token,
            renew_at: Instant::now() + lifetime.saturating_sub(margin),
        })
    }
}

fn unavailable(what: &str, e: &reqwest::Error) -> KeystoneError {
    // reqwest's message names the URL (no token is ever in it) and the cause.
    KeystoneError::Unavailable(format!("Keystone unreachable while {what}: {e}"))
}

// The parts of Keystone's token body we read.

#[derive(Deserialize)]
struct TokenBody {
    token: Token,
}

#[derive(Deserialize)]
struct Token {
    expires_at: DateTime<Utc>,
    user: Named,
    #[serde(default)]
    project: Option<Scope>,
    #[serde(default)]
    domain: Option<Named>,
    #[serde(default)]
    roles: Vec<Role>,
}

#[derive(Deserialize)]
struct Named {
    id: String,
}

#[derive(Deserialize)]
struct Scope {
    id: String,
    #[serde(default)]
    domain: Option<Named>,
}

#[derive(Deserialize)]
struct Role {
    name: String,
}

impl Token {
    fn into_cached(self) -> Cached {
        let domain_id = match (&self.project, &self.domain) {
            (Some(p), _) => p.domain.as_ref().map(|d| d.id.clone()),
            (None, Some(d)) => Some(d.id.clone()),
            (None, None) => None,
        };
        Cached::Valid {
            caller: Caller {
                project_id: self.project.map(|p| p.id),
                user_id: self.user.id,
                domain_id,
                organization_path: None,
                roles: self
                    .roles
                    .into_iter()
                    .map(|r| r.name.to_lowercase())
                    .collect(),
            },
            expires_at: self.expires_at,
        }
    }
}

#[async_trait::async_trait]
impl crate::domain::ProjectDirectory for Keystone {
    async fn project_exists(&self, project_id: &str) -> Result<Option<bool>, crate::error::Error> {
        match self.lookup_project(project_id).await {
            Ok(ProjectLookup::Exists) => Ok(Some(true)),
            Ok(ProjectLookup::Unknown) => Ok(Some(false)),
            Ok(ProjectLookup::NotAllowed) => Ok(None),
            Err(KeystoneError::Invalid) => Ok(None),
            Err(KeystoneError::Unavailable(detail)) => {
                Err(crate::error::Error::IdentityUnavailable(detail))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v3_url_is_found_with_or_without_v3() {
        for url in [
            "http://k:5000",
            "http://k:5000/",
            "http://k:5000/v3",
            "http://k:5000/v3/",
        ] {
            assert_eq!(v3_url(url), "http://k:5000/v3", "{url}");
        }
        assert_eq!(v3_url("https://k/identity/v3"), "https://k/identity/v3");
    }

    #[test]
    fn token_bodies_become_callers() {
        let project: TokenBody = serde_json::from_str(
            r#"{"token": {"expires_at": "2030-01-01T00:00:00.000000Z",
                "methods": ["password"],
                "user": {"id": "u1", "name": "alice", "domain": {"id": "default", "name": "Default"}},
                "project": {"id": "p1", "name": "demo", "domain": {"id": "d1", "name": "D"}},
                "roles": [{"id": "r1", "name": "Member"}, {"id": "r2", "name": "reader"}]}}"#,
        )
        .unwrap();
        let Cached::Valid { caller, expires_at } = project.token.into_cached() else {
            panic!("valid");
        };
        assert_eq!(caller.project_id.as_deref(), Some("p1"));
        assert_eq!(caller.domain_id.as_deref(), Some("d1"));
        assert_eq!(caller.user_id, "u1");
        assert_eq!(caller.roles, vec!["member", "reader"]);
        assert_eq!(expires_at.to_rfc3339(), "2030-01-01T00:00:00+00:00");

        let domain: TokenBody = serde_json::from_str(
            r#"{"token": {"expires_at": "2030-01-01T00:00:00Z",
                "user": {"id": "u2"}, "domain": {"id": "default", "name": "Default"},
                "roles": [{"id": "r", "name": "admin"}]}}"#,
        )
        .unwrap();
        let Cached::Valid { caller, .. } = domain.token.into_cached() else {
            panic!("valid");
        };
        assert_eq!(caller.project_id, None);
        assert_eq!(caller.domain_id.as_deref(), Some("default"));
        assert!(caller.is_admin());

        let system: TokenBody = serde_json::from_str(
            r#"{"token": {"expires_at": "2030-01-01T00:00:00Z", "user": {"id": "u3"},
                "system": {"all": true}, "roles": []}}"#,
        )
        .unwrap();
        let Cached::Valid { caller, .. } = system.token.into_cached() else {
            panic!("valid");
        };
        assert_eq!((caller.project_id, caller.domain_id), (None, None));
    }
}
