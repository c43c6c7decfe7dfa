//! What an operator runs the service with: the health check (on whichever
//! backend this run tests), the drain file, and the Prometheus metrics,
//! read back through the reference Python parser after a known sequence of
//! requests.

use std::collections::HashMap;

use imgshare::types;
use reqwest::Method;

use crate::support::*;

/// `sqlite` or `postgresql`: the backend this run tests, as the health
/// check names it.
fn backend() -> &'static str {
    if postgres_selected() {
        "postgresql"
    } else {
        "sqlite"
    }
}

#[tokio::test]
async fn the_health_check_answers_ok_without_a_token() {
    let s = TestServer::start().await;

    let report = s
        .anonymous()
        .healthcheck()
        .await
        .expect("healthy")
        .into_inner();
    assert_eq!(report.status, types::HealthStatus::Ok);
    assert_eq!(report.reasons, ["OK"]);
    let store = report.checks.iter().find(|c| c.name == "store").unwrap();
    assert!(store.ok, "{store:?}");
    assert!(store.detail.starts_with(backend()), "{store:?}");
    assert!(store.latency_seconds >= 0.0 && store.latency_seconds < 2.0);
    // No drain file configured: no check for it.
    assert_eq!(report.checks.len(), 1, "{report:?}");

    // Load balancers ask without Accept: text.
    let rsp = http_client()
        .get(s.url("/healthcheck"))
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status(), 200);
    let ct = rsp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert_eq!(rsp.headers()["cache-control"], "no-store");
    assert_eq!(rsp.text().await.unwrap(), "OK");
    // HEAD: the status, no body.
    let rsp = http_client()
        .head(s.url("/healthcheck"))
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status(), 200);
    assert!(rsp.bytes().await.unwrap().is_empty());
    // Other methods: 405 naming the ones served.
    let (status, headers, _) = raw(Method::POST, &s.url("/healthcheck"), None, None).await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET, HEAD, OPTIONS");
}

#[tokio::test]
async fn a_drain_file_takes_the_replica_out_of_rotation_and_back() {
    let drain = tempfile::tempdir().unwrap();
    let file = drain.path().join("imgshare.disabled");
    let path = file.clone();
    let s = TestServer::with_config(128, move |c| c.disable_by_file = Some(path)).await;
    let text = |s: &TestServer| {
        let url = s.url("/healthcheck");
        async move {
            let rsp = http_client().get(url).send().await.unwrap();
            (rsp.status().as_u16(), rsp.text().await.unwrap())
        }
    };
    assert_eq!(text(&s).await, (200, "OK".into()));

    std::fs::write(&file, "").unwrap();
    assert_eq!(text(&s).await, (503, "disabled by file".into()));
    match s.anonymous().healthcheck().await {
        Err(imgshare::Error::ErrorResponse(rv)) => {
            assert_eq!(rv.status(), 503);
            let report = rv.into_inner();
            assert_eq!(report.status, types::HealthStatus::Disabled);
            assert_eq!(report.reasons, ["disabled by file"]);
            let drain = report
                .checks
                .iter()
                .find(|c| c.name == "disable_by_file")
                .unwrap();
            assert!(!drain.ok);
            // The store is still checked, and still fine.
            assert!(report.checks.iter().any(|c| c.name == "store" && c.ok));
        }
        other => panic!("expected 503 while drained, got {other:?}"),
    }
    let rsp = http_client()
        .head(s.url("/healthcheck"))
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status(), 503);
    // Draining stops new traffic at the balancer; requests that still come
    // are served.
    let image = s.shared_image().await;
    s.add(&image, PROJECT_B).await;

    std::fs::remove_file(&file).unwrap();
    assert_eq!(text(&s).await, (200, "OK".into()));
}

/// Samples as the reference parser reads them: (name, sorted labels) → value.
type Samples = HashMap<(String, Vec<(String, String)>), f64>;

/// The Python interpreter with `prometheus_client`, or `None` (said loudly)
/// outside CI when there is none; under CI a missing parser fails the test.
fn prometheus_python() -> Option<String> {
    let python = std::env::var("IMGSHARE_TEST_PROMETHEUS_PYTHON").unwrap_or("python3".into());
    let found = std::process::Command::new(&python)
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must parse /metrics with prometheus_client: set IMGSHARE_TEST_PROMETHEUS_PYTHON \
         to a Python that has it (tests/support/prometheus-requirements.txt)"
    );
    eprintln!("\n!!! metrics: the prometheus_client parse is SKIPPED ({python} lacks it) !!!\n");
    None
}

/// Parses `text` with `tests/support/prom_parse.py`.
fn parse(python: &str, text: &str) -> Samples {
    use std::io::Write;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/prom_parse.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let mut labels: Vec<(String, String)> = v["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            labels.sort();
            let value = v["value"].as_f64().unwrap();
            ((v["name"].as_str().unwrap().to_owned(), labels), value)
        })
        .collect()
}

fn sample(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    samples.get(&(name.to_owned(), labels)).copied()
}

#[tokio::test]
async fn metrics_count_exactly_what_was_sent() {
    let Some(python) = prometheus_python() else {
        return;
    };
    let s = TestServer::start().await;
    let owner = s.client(OWNER);

    // The known sequence.
    let image = s.shared_image().await; // create_image 2xx
    s.add(&image, PROJECT_B).await; // add_member 2xx
    s.add(&image, PROJECT_C).await; // add_member 2xx
    let dup = owner
        .add_member(&image, None, &member_body(PROJECT_B))
        .await;
    assert_eq!(status_of(&dup), 409); // add_member 4xx
    for _ in 0..3 {
        owner.list_members(&image, None, None, None).await.unwrap(); // list_members 2xx
    }
    let unknown = uuid::Uuid::new_v4().to_string();
    for _ in 0..4 {
        let r = owner.get_image(&unknown, None).await;
        assert_eq!(status_of(&r), 404); // get_image 4xx
    }
    let r = s.anonymous().list_members(&image, None, None, None).await;
    assert_eq!(status_of(&r), 401); // list_members 4xx
    s.anonymous().healthcheck().await.unwrap(); // healthcheck 2xx
    let (status, _, _) = raw(Method::DELETE, &s.url("/versions"), None, None).await;
    assert_eq!(status, 405); // versions_delete 4xx
    let rsp = http_client()
        .head(s.url(&format!("/v2/images/{image}/members")))
        .header("X-Auth-Token", OWNER)
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status(), 200); // members_head 2xx

    let scrape = reqwest::get(s.metrics_url()).await.unwrap();
    assert_eq!(scrape.status(), 200);
    let ct = scrape.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = scrape.text().await.unwrap();
    let samples = parse(&python, &text);

    let requests = |op: &str, class: &str| {
        sample(
            &samples,
            "imgshare_http_requests_total",
            &[("operation", op), ("status_class", class)],
        )
    };
    let expected = [
        ("create_image", "2xx", 1.0),
        ("add_member", "2xx", 2.0),
        ("add_member", "4xx", 1.0),
        ("list_members", "2xx", 3.0),
        ("list_members", "4xx", 1.0),
        ("get_image", "4xx", 4.0),
        ("healthcheck", "2xx", 1.0),
        ("versions_delete", "4xx", 1.0),
        ("members_head", "2xx", 1.0),
    ];
    for (op, class, n) in expected {
        assert_eq!(requests(op, class), Some(n), "{op} {class}\n{text}");
    }
    // Nothing else was counted (the scrape is not an API request).
    let counted: f64 = samples
        .iter()
        .filter(|((name, _), _)| name == "imgshare_http_requests_total")
        .map(|(_, v)| v)
        .sum();
    assert_eq!(counted, expected.iter().map(|e| e.2).sum::<f64>(), "{text}");
    // One latency observation per request, under the same names.
    for (op, n) in [
        ("list_members", 4.0),
        ("get_image", 4.0),
        ("add_member", 3.0),
    ] {
        assert_eq!(
            sample(
                &samples,
                "imgshare_http_request_duration_seconds_count",
                &[("operation", op)]
            ),
            Some(n),
            "{op}"
        );
    }
    assert_eq!(
        sample(&samples, "imgshare_http_requests_in_flight", &[]),
        Some(0.0)
    );
    // Writes reached the store through commits of at least one write each.
    let commits = sample(
        &samples,
        "imgshare_store_commit_batch_size_count",
        &[("backend", backend())],
    )
    .unwrap_or(0.0);
    let written = sample(
        &samples,
        "imgshare_store_commit_batch_size_sum",
        &[("backend", backend())],
    )
    .unwrap_or(0.0);
    assert!(commits >= 1.0 && written >= 3.0, "{text}");
    assert_eq!(sample(&samples, "imgshare_jobs_queued", &[]), Some(0.0));
    assert_eq!(
        sample(&samples, "imgshare_connections_refused_total", &[]),
        Some(0.0)
    );
    assert!(sample(&samples, "imgshare_connections_open", &[]).is_some_and(|n| n >= 0.0));
    assert_eq!(
        sample(
            &samples,
            "imgshare_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    assert!(sample(&samples, "process_resident_memory_bytes", &[]).is_some_and(|b| b > 1e6));
    assert!(sample(&samples, "process_open_fds", &[]).is_some_and(|n| n > 0.0));
    // Label values are operation names, never paths holding IDs.
    assert!(!text.contains(&image) && !text.contains(&unknown), "{text}");

    // The job queue gauge is read when scraped: after a batch job ran to
    // its end, nothing is queued.
    let job = crate::huawei::job_id(
        owner
            .batch_add_members(None, &crate::huawei::share(&[&image], &["project-q"]))
            .await,
    );
    crate::huawei::wait_job(&owner, PROJECT_A, &job).await;
    let text = reqwest::get(s.metrics_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = parse(&python, &text);
    assert_eq!(sample(&samples, "imgshare_jobs_queued", &[]), Some(0.0));
    assert_eq!(
        sample(
            &samples,
            "imgshare_http_requests_total",
            &[("operation", "batch_add_members"), ("status_class", "2xx")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn no_metrics_means_no_listener() {
    let s = TestServer::with_config(128, |c| c.no_metrics = true).await;
    assert!(s.metrics_addr().is_none());
    // The API is unaffected.
    s.anonymous().healthcheck().await.unwrap();
}
