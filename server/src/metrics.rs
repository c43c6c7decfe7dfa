//! Prometheus metrics, one registry per server (tests run several servers in
//! one process, each counting only its own requests), served in the text
//! exposition format on a listener of the operator's choosing
//! (`--metrics-bind`, loopback by default): never on the API's own port.
//!
//! A disabled [`Metrics`] (`--no-metrics`) records nothing and costs one
//! branch per call site.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Seconds: from 100 µs (a cached read) to 10 s (a stuck dependency).
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Writes per commit: powers of two up to the SQLite writer's largest batch.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The server's metrics; cheap to clone (one `Arc`).
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Inner>>);

struct Inner {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGauge,
    commit_batch: HistogramVec,
    commit_duration: HistogramVec,
    pool_wait: Histogram,
    cache: IntCounterVec,
    provider: HistogramVec,
    jobs_queued: IntGauge,
    connections_open: IntGauge,
    connections_refused: IntCounter,
}

/// The five status classes, as label values.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn class_index(status: u16) -> usize {
    usize::from((status / 100).clamp(1, 5) - 1)
}

impl Metrics {
    /// A registry with every imgshare metric and the process collector.
    pub fn new(version: &str) -> Result<Self, String> {
        Inner::new(version)
            .map(|i| Metrics(Some(Arc::new(i))))
            .map_err(|e| format!("metrics: {e}"))
    }

    /// Records nothing (`--no-metrics`).
    pub fn disabled() -> Self {
        Metrics(None)
    }

    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// A request entered a handler; the returned guard counts it in flight
    /// until dropped (also when the client hangs up and the handler is
    /// cancelled).
    pub fn in_flight(&self) -> InFlight<'_> {
        let gauge = self.0.as_deref().map(|m| &m.in_flight);
        if let Some(g) = gauge {
            g.inc();
        }
        InFlight(gauge)
    }

    /// One answered request of `op`.
    pub fn observe_request(&self, op: Option<&Operation>, name: &str, status: u16, took: Duration) {
        let Some(m) = &self.0 else { return };
        let class = class_index(status);
        match op {
            Some(op) => {
                op.requests[class]
                    .get_or_init(|| m.requests.with_label_values(&[name, CLASSES[class]]))
                    .inc();
                op.duration
                    .get_or_init(|| m.duration.with_label_values(&[name]))
                    .observe(took.as_secs_f64());
            }
            None => {
                m.requests.with_label_values(&[name, CLASSES[class]]).inc();
                m.duration
                    .with_label_values(&[name])
                    .observe(took.as_secs_f64());
            }
        }
    }

    /// One store commit of `writes` writes (`backend`: `sqlite` or
    /// `postgresql`) that took `took` to become durable.
    pub fn observe_commit(&self, backend: &'static str, writes: usize, took: Duration) {
        let Some(m) = &self.0 else { return };
        m.commit_batch
            .with_label_values(&[backend])
            .observe(writes as f64);
        m.commit_duration
            .with_label_values(&[backend])
            .observe(took.as_secs_f64());
    }

    /// Time spent waiting for a PostgreSQL connection from the pool.
    pub fn observe_pool_wait(&self, took: Duration) {
        if let Some(m) = &self.0 {
            m.pool_wait.observe(took.as_secs_f64());
        }
    }

    /// An identity cache lookup (`cache`: `token` or `project`).
    pub fn cache_lookup(&self, cache: &'static str, hit: bool) {
        if let Some(m) = &self.0 {
            let result = if hit { "hit" } else { "miss" };
            m.cache.with_label_values(&[cache, result]).inc();
        }
    }

    /// One call to an identity provider (`provider`: `keystone`; `call`:
    /// `validate_token`, `lookup_project`, `service_token`).
    pub fn observe_provider(&self, provider: &'static str, call: &'static str, took: Duration) {
        if let Some(m) = &self.0 {
            m.provider
                .with_label_values(&[provider, call])
                .observe(took.as_secs_f64());
        }
    }

    /// A connection refused with 503 past `--max-connections`.
    pub fn connection_refused(&self) {
        if let Some(m) = &self.0 {
            m.connections_refused.inc();
        }
    }

    /// The exposition text, with the gauges read at scrape time set first.
    pub fn render(&self, sample: Sample) -> String {
        let Some(m) = &self.0 else {
            return String::new();
        };
        if let Some(n) = sample.jobs_queued {
            m.jobs_queued.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        if let Some(n) = sample.connections_open {
            m.connections_open.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec cannot fail but on a metric with an invalid
        // name, which the tests would catch.
        if let Err(e) = TextEncoder::new().encode(&m.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Inner {
    fn new(version: &str) -> prometheus::Result<Self> {
        let registry = Registry::new();
        let histogram = |name: &str, help: &str, buckets: &[f64], labels: &[&str]| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                labels,
            )
        };
        let inner = Inner {
            requests: IntCounterVec::new(
                Opts::new(
                    "imgshare_http_requests_total",
                    "Requests answered, by operation (the OpenAPI operationId) and status class.",
                ),
                &["operation", "status_class"],
            )?,
            duration: histogram(
                "imgshare_http_request_duration_seconds",
                "Time from the handler's start to its answer, by operation.",
                LATENCY_BUCKETS,
                &["operation"],
            )?,
            in_flight: IntGauge::new(
                "imgshare_http_requests_in_flight",
                "Requests being handled now.",
            )?,
            commit_batch: histogram(
                "imgshare_store_commit_batch_size",
                "Writes made durable by one commit (group commit batches them).",
                BATCH_BUCKETS,
                &["backend"],
            )?,
            commit_duration: histogram(
                "imgshare_store_commit_duration_seconds",
                "Time of one COMMIT, the durable write (SQLite: the WAL fsync; \
                 PostgreSQL: the WAL flush it waits for).",
                LATENCY_BUCKETS,
                &["backend"],
            )?,
            pool_wait: Histogram::with_opts(
                HistogramOpts::new(
                    "imgshare_postgres_pool_wait_seconds",
                    "Time spent waiting for a PostgreSQL connection from the pool.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )?,
            cache: IntCounterVec::new(
                Opts::new(
                    "imgshare_identity_cache_lookups_total",
                    "Identity cache lookups (token validations, member project checks), \
                     by cache and result (hit or miss).",
                ),
                &["cache", "result"],
            )?,
            provider: histogram(
                "imgshare_identity_provider_request_duration_seconds",
                "Calls to the identity provider (Keystone), by call.",
                LATENCY_BUCKETS,
                &["provider", "call"],
            )?,
            jobs_queued: IntGauge::new(
                "imgshare_jobs_queued",
                "Huawei batch jobs not finished yet (INIT or RUNNING), across replicas.",
            )?,
            connections_open: IntGauge::new(
                "imgshare_connections_open",
                "Client connections open now.",
            )?,
            connections_refused: IntCounter::new(
                "imgshare_connections_refused_total",
                "Connections refused with 503 past --max-connections.",
            )?,
            registry,
        };
        let r = &inner.registry;
        r.register(Box::new(inner.requests.clone()))?;
        r.register(Box::new(inner.duration.clone()))?;
        r.register(Box::new(inner.in_flight.clone()))?;
        r.register(Box::new(inner.commit_batch.clone()))?;
        r.register(Box::new(inner.commit_duration.clone()))?;
        r.register(Box::new(inner.pool_wait.clone()))?;
        r.register(Box::new(inner.cache.clone()))?;
        r.register(Box::new(inner.provider.clone()))?;
        r.register(Box::new(inner.jobs_queued.clone()))?;
        r.register(Box::new(inner.connections_open.clone()))?;
        r.register(Box::new(inner.connections_refused.clone()))?;
        let info = IntGauge::with_opts(
            Opts::new("imgshare_build_info", "The running version (always 1).")
                .const_label("version", version),
        )?;
        info.set(1);
        r.register(Box::new(info))?;
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(inner)
    }
}

/// Counts one request in flight until dropped.
pub struct InFlight<'a>(Option<&'a IntGauge>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(g) = &self.0 {
            g.dec();
        }
    }
}

/// An endpoint as logs and metrics name it: its route template (never the
/// raw path, which holds IDs) and its resolved counters.
pub struct Operation {
    pub route: String,
    requests: [OnceLock<IntCounter>; 5],
    duration: OnceLock<Histogram>,
}

impl Operation {
    fn new(route: String) -> Self {
        Operation {
            route,
            requests: Default::default(),
            duration: OnceLock::new(),
        }
    }
}

/// Every endpoint by operationId: the published ones from the served
/// document, the unpublished ones (HEAD, OPTIONS, 405s) as registered.
pub struct Operations(HashMap<String, Operation>);

impl Operations {
    pub fn new(routes: impl IntoIterator<Item = (String, String)>) -> Self {
        Operations(
            routes
                .into_iter()
                .map(|(id, route)| (id, Operation::new(route)))
                .collect(),
        )
    }

    pub fn get(&self, operation_id: &str) -> Option<&Operation> {
        self.0.get(operation_id)
    }
}

/// The `/metrics` listener: a plain HTTP server of its own.
pub struct Exporter {
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Gauges read when scraped rather than kept up to date on every request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// `None` when the store did not answer (the gauge keeps its last value).
    pub jobs_queued: Option<u64>,
    pub connections_open: Option<usize>,
}

/// What `/metrics` asks before rendering.
pub type Sampler = Arc<dyn Fn() -> futures::future::BoxFuture<'static, Sample> + Send + Sync>;

impl Exporter {
    pub async fn start(
        bind: SocketAddr,
        metrics: Metrics,
        sampler: Sampler,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "metrics listener: accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                    _ = stopped.changed() => return,
                };
                let (metrics, sampler) = (metrics.clone(), Arc::clone(&sampler));
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (metrics, sampler) = (metrics.clone(), Arc::clone(&sampler));
                        async move {
                            Ok::<_, std::convert::Infallible>(serve(req, metrics, sampler).await)
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10))
                        .serve_connection(io, service);
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "metrics connection");
                    }
                });
            }
        });
        Ok(Exporter { addr, stop, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn serve(
    req: http::Request<hyper::body::Incoming>,
    metrics: Metrics,
    sampler: Sampler,
) -> http::Response<http_body_util::Full<bytes::Bytes>> {
    let text = |status: http::StatusCode, body: String, content_type: &'static str| {
        let mut rsp = http::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
        *rsp.status_mut() = status;
        rsp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        rsp
    };
    if req.uri().path() != "/metrics" {
        return text(
            http::StatusCode::NOT_FOUND,
            "Not found: metrics are at /metrics\n".into(),
            "text/plain; charset=utf-8",
        );
    }
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        let mut rsp = text(
            http::StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed\n".into(),
            "text/plain; charset=utf-8",
        );
        rsp.headers_mut().insert(
            http::header::ALLOW,
            http::HeaderValue::from_static("GET, HEAD"),
        );
        return rsp;
    }
    let sample = sampler().await;
    text(
        http::StatusCode::OK,
        metrics.render(sample),
        "text/plain; version=0.0.4; charset=utf-8",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(CLASSES[class_index(100)], "1xx");
        assert_eq!(CLASSES[class_index(204)], "2xx");
        assert_eq!(CLASSES[class_index(304)], "3xx");
        assert_eq!(CLASSES[class_index(409)], "4xx");
        assert_eq!(CLASSES[class_index(503)], "5xx");
        assert_eq!(CLASSES[class_index(99)], "1xx");
        assert_eq!(CLASSES[class_index(600)], "5xx");
    }

    #[test]
    fn two_servers_count_apart_and_a_disabled_one_renders_nothing() {
        let (a, b) = (Metrics::new("1").unwrap(), Metrics::new("1").unwrap());
        let ops = Operations::new([("list_members".to_owned(), "/x".to_owned())]);
        let op = ops.get("list_members");
        for _ in 0..3 {
            a.observe_request(op, "list_members", 200, Duration::from_millis(1));
        }
        b.observe_request(None, "list_members", 404, Duration::from_millis(1));
        let text = a.render(Sample {
            jobs_queued: Some(7),
            connections_open: Some(2),
        });
        assert!(
            text.contains(
                "imgshare_http_requests_total{operation=\"list_members\",status_class=\"2xx\"} 3"
            ),
            "{text}"
        );
        assert!(text.contains("imgshare_jobs_queued 7"), "{text}");
        assert!(text.contains("imgshare_connections_open 2"), "{text}");
        assert!(!text.contains("4xx"), "{text}");
        assert!(b
            .render(Sample::default())
            .contains("status_class=\"4xx\"} 1"));
        assert_eq!(Metrics::disabled().render(Sample::default()), "");
    }
}
