//! `--log-format json`: every line the binary writes is one JSON object, and
//! each answered request's access line carries the request ID the client saw
//! in `x-openstack-request-id`, its method, route template (not the raw path
//! with IDs), status, latency and the caller's project.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// The access line (`target` `imgshare::access`) with this request ID, once
/// the server has written it.
fn access_line(log: &ServerLog, request_id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = log.lock().unwrap().iter().find_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            (v["target"] == "imgshare::access" && v["request_id"] == request_id).then_some(v)
        });
        if let Some(v) = found {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "no access line for {request_id} in {:#?}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_carry_the_request_id_and_the_route() {
    let dir = tempfile::tempdir().unwrap();
    write_tokens(dir.path());
    let (server, log) = spawn_logged(
        dir.path(),
        &["--log-format", "json", "--log-level", "info"],
        |_| {},
    );
    let http = reqwest::Client::new();
    let image = create_image(&http, &server.base).await;

    // A call with the caller's own request ID, and one without.
    let own = "req-3f6a2c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";
    let rsp = http
        .get(format!("{}/v2/images/{image}/members", server.base))
        .header("X-Auth-Token", TOKEN)
        .header("X-OpenStack-Request-ID", own)
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status(), 200);
    assert_eq!(rsp.headers()["x-openstack-request-id"], own);
    let rsp = http
        .get(format!("{}/v2/images/{image}/members/nobody", server.base))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status(), 404);
    let minted = rsp.headers()["x-openstack-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(minted.starts_with("req-"), "{minted}");
    let rsp = http
        .get(format!("{}/healthcheck", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status(), 200);
    let health = rsp.headers()["x-openstack-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    let listed = access_line(&log, own);
    assert_eq!(listed["method"], "GET");
    assert_eq!(listed["route"], "/v2/images/{image_id}/members");
    assert_eq!(listed["operation"], "list_members");
    assert_eq!(listed["status"], 200);
    assert_eq!(listed["project"], "owner");
    assert_eq!(listed["level"], "INFO");
    assert!(listed["latency_us"].is_u64(), "{listed}");
    assert!(
        listed["timestamp"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
        "{listed}"
    );
    let missing = access_line(&log, &minted);
    assert_eq!(
        missing["route"],
        "/v2/images/{image_id}/members/{member_id}"
    );
    assert_eq!(missing["status"], 404);
    let probe = access_line(&log, &health);
    assert_eq!(probe["route"], "/healthcheck");
    assert_eq!(probe["project"], "-", "the health check needs no token");

    // Every line is JSON, and no ID of the image reaches a route.
    let lines = log.lock().unwrap().clone();
    assert!(lines.len() > 5, "{lines:#?}");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for key in ["timestamp", "level", "target"] {
            assert!(v.get(key).is_some(), "no {key}: {line}");
        }
        if let Some(route) = v.get("route").and_then(|r| r.as_str()) {
            assert!(!route.contains(&image), "a raw path in {line}");
        }
        assert!(!line.contains(TOKEN), "a token in {line}");
    }
}
