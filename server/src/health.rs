//! The health check (`GET|HEAD /healthcheck`): what a load balancer asks
//! before sending a replica traffic. Two checks, both always run so the JSON
//! form shows each: the drain file (oslo.middleware's `disable_by_file`) and
//! the store (a read and a write, bounded by a timeout).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dropshot::Body;
use http::{HeaderValue, Response, StatusCode};

use crate::api::{HealthCheck, HealthReport, HealthStatus};
use crate::store::{Store, StoreError};

/// A failure detail is cut to this many characters.
const DETAIL_MAX: usize = 200;

/// What the health check looks at.
#[derive(Clone)]
pub struct Health {
    pub store: Arc<dyn Store>,
    /// `sqlite` or `postgresql`, as details name it.
    pub backend: &'static str,
    /// While this file exists, the replica answers 503 `disabled by file`.
    pub disable_by_file: Option<PathBuf>,
    /// How long the store check may take before it counts as failed.
    pub timeout: Duration,
}

impl Health {
    pub async fn report(&self) -> HealthReport {
        let mut checks = Vec::with_capacity(2);
        let mut disabled = false;
        if let Some(path) = &self.disable_by_file {
            let started = Instant::now();
            // Any answer but "not there" (present, or unreadable) drains.
            let absent = matches!(
                std::fs::symlink_metadata(path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound
            );
            disabled = !absent;
            checks.push(HealthCheck {
                name: "disable_by_file".into(),
                ok: absent,
                latency_seconds: started.elapsed().as_secs_f64(),
                detail: if absent {
                    "the drain file is absent".into()
                } else {
                    "disabled by file".into()
                },
            });
        }
        let started = Instant::now();
        let store = tokio::time::timeout(self.timeout, self.store.health()).await;
        let latency = started.elapsed().as_secs_f64();
        let (ok, detail) = match store {
            Ok(Ok(())) => (
                true,
                format!("{}: a read and a write answered", self.backend),
            ),
            Ok(Err(e)) => (false, format!("{}: {}", self.backend, store_failure(&e))),
            Err(_) => (
                false,
                format!(
                    "{}: no answer within {} s",
                    self.backend,
                    self.timeout.as_secs_f64()
                ),
            ),
        };
        checks.push(HealthCheck {
            name: "store".into(),
            ok,
            latency_seconds: latency,
            detail,
        });
        let reasons: Vec<String> = checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| match c.name.as_str() {
                "store" => format!("store unavailable ({})", c.detail),
                _ => c.detail.clone(),
            })
            .collect();
        let status = if disabled {
            HealthStatus::Disabled
        } else if reasons.is_empty() {
            HealthStatus::Ok
        } else {
            HealthStatus::Unavailable
        };
        HealthReport {
            status,
            reasons: if reasons.is_empty() {
                vec!["OK".into()]
            } else {
                reasons
            },
            checks,
        }
    }
}

/// A store error as the public health check may show it: its kind and the
/// driver's message (which names neither the URL nor credentials), cut short.
fn store_failure(e: &StoreError) -> String {
    let text = e.to_string();
    if text.chars().count() <= DETAIL_MAX {
        return text;
    }
    let mut cut: String = text.chars().take(DETAIL_MAX).collect();
    cut.push('…');
    cut
}

/// Whether the client asked for JSON (`Accept: application/json`, ahead of
/// or without `text/plain`).
pub fn wants_json(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|part| part.split(';').next().unwrap_or("").trim())
        .find(|essence| {
            essence.eq_ignore_ascii_case("application/json")
                || essence.eq_ignore_ascii_case("text/plain")
        })
        .is_some_and(|essence| essence.eq_ignore_ascii_case("application/json"))
}

/// 200 or 503, as text (`OK`, or one line per reason) or JSON.
pub fn response(report: &HealthReport, json: bool) -> Response<Body> {
    let status = if report.status == HealthStatus::Ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let (body, content_type) = if json {
        (
            serde_json::to_string(report).unwrap_or_default(),
            "application/json",
        )
    } else {
        (report.reasons.join("\n"), "text/plain; charset=utf-8")
    };
    let mut rsp = Response::new(Body::from(body));
    *rsp.status_mut() = status;
    let h = rsp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    // Never cached by a proxy between the balancer and us.
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    rsp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn json_only_when_asked_for_first() {
        assert!(wants_json(&accept("application/json")));
        assert!(wants_json(&accept("Application/JSON; q=1")));
        assert!(wants_json(&accept("application/json, text/plain")));
        assert!(!wants_json(&accept("text/plain, application/json")));
        assert!(!wants_json(&accept("*/*")));
        assert!(!wants_json(&http::HeaderMap::new()));
    }
}
