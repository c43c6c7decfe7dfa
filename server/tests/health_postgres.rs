//! `GET /healthcheck` follows the server's PostgreSQL: 503 while it is
//! stopped, 200 again once it is back. The database stopped here is a
//! private, throwaway cluster (never the shared one other tests use).

mod common;

use std::time::{Duration, Instant};

use common::pgcluster::PgCluster;
use common::*;

/// The status code and body of `GET /healthcheck`, as text or JSON.
async fn health(http: &reqwest::Client, base: &str, json: bool) -> (u16, String) {
    let mut req = http.get(format!("{base}/healthcheck"));
    if json {
        req = req.header("Accept", "application/json");
    }
    let rsp = req.send().await.expect("the server answers");
    let status = rsp.status().as_u16();
    (status, rsp.text().await.unwrap())
}

/// Polls the text form every 100 ms until it answers `want`; that answer.
async fn health_until(http: &reqwest::Client, base: &str, want: u16, within: Duration) -> String {
    let started = Instant::now();
    loop {
        let (status, body) = health(http, base, false).await;
        if status == want {
            println!(
                "healthcheck: {want} after {:.2} s",
                started.elapsed().as_secs_f64()
            );
            return body;
        }
        assert!(
            started.elapsed() < within,
            "healthcheck still {status} (not {want}) after {within:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The JSON form's check named `name`.
fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks: {report}"))
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check: {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_follows_postgres() {
    let Some(mut cluster) = PgCluster::start_new("healthcheck_follows_postgres") else {
        return;
    };
    let url = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    write_tokens(dir.path());
    let server = spawn_with(dir.path(), Some(&url), -1, &["--health-timeout-secs", "1"]);
    let base = server.base.as_str();
    let http = reqwest::Client::new();

    // 1. Up: 200 `OK`, and the store check passes.
    let (status, body) = health(&http, base, false).await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    let (status, body) = health(&http, base, true).await;
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["status"], "OK", "{report}");
    assert_eq!(check(&report, "store")["ok"], true, "{report}");

    // 2. The server really is on this cluster: its write lands there.
    let image = create_image(&http, base).await;
    let db = cluster.connect().await.unwrap();
    let rows = db
        .query("SELECT 1 FROM images WHERE id = $1", &[&image])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "image {image} is not in the private cluster");
    drop(db);

    // 3. Down: 503, naming the store, without the URL.
    cluster.stop();
    let body = health_until(&http, base, 503, Duration::from_secs(15)).await;
    println!("503 text body: {body}");
    assert!(!body.trim().is_empty(), "503 with an empty body");
    assert!(body.contains("store"), "{body}");
    let (status, json_body) = health(&http, base, true).await;
    println!("503 JSON body: {json_body}");
    assert_eq!(status, 503, "{json_body}");
    let report: serde_json::Value = serde_json::from_str(&json_body).unwrap();
    assert_eq!(report["status"], "UNAVAILABLE", "{report}");
    let store = check(&report, "store");
    assert_eq!(store["ok"], false, "{report}");
    assert!(store["latency_seconds"].is_number(), "{report}");
    assert!(store["detail"].is_string(), "{report}");
    for text in [&body, &json_body] {
        assert!(!text.contains(&url), "the database URL leaked: {text}");
        assert!(
            !text.contains("postgres://"),
            "a database URL leaked: {text}"
        );
    }

    // 4. Back: 200 again, and writes work again.
    cluster.start();
    let body = health_until(&http, base, 200, Duration::from_secs(30)).await;
    assert_eq!(body, "OK");
    let (status, body) = health(&http, base, true).await;
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["status"], "OK", "{report}");
    assert_eq!(check(&report, "store")["ok"], true, "{report}");
    create_image(&http, base).await;
}

/// The harness itself: the cluster answers, is really down after `stop`
/// (existing connections broken, new ones refused), and answers again on
/// the same port after `start`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_cluster_stops_and_starts() {
    let started = Instant::now();
    let Some(mut cluster) = PgCluster::start_new("private_cluster_stops_and_starts") else {
        return;
    };
    println!("initdb + start: {:.2} s", started.elapsed().as_secs_f64());
    let port = cluster.port();
    let one = |client: tokio_postgres::Client| async move {
        let row = client.query_one("SELECT 1", &[]).await?;
        Ok::<i32, tokio_postgres::Error>(row.get(0))
    };
    let held = cluster.connect().await.unwrap();
    held.query_one("SELECT 1", &[]).await.unwrap();
    assert_eq!(one(cluster.connect().await.unwrap()).await.unwrap(), 1);

    let t = Instant::now();
    cluster.stop();
    println!("stop -m fast: {:.2} s", t.elapsed().as_secs_f64());
    assert!(
        held.query_one("SELECT 1", &[]).await.is_err(),
        "a connection survived the stop"
    );
    assert!(
        cluster.connect().await.is_err(),
        "connected to a stopped cluster"
    );

    let t = Instant::now();
    cluster.start();
    println!("start again: {:.2} s", t.elapsed().as_secs_f64());
    assert_eq!(cluster.port(), port);
    assert_eq!(one(cluster.connect().await.unwrap()).await.unwrap(), 1);
    println!("total: {:.2} s", started.elapsed().as_secs_f64());
}
