//! Crash safety: an acknowledged write survives SIGKILL. Runs the real binary,
//! keeps adding members from several connections, kills the process with
//! SIGKILL mid-load, restarts it on the same data dir and checks that every
//! member that got a 200 is there. Raw HTTP: this package cannot use the
//! generated client (it lives in the root package, which depends on this one).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "owner-token";

struct Running {
    child: Child,
    base: String,
}

fn spawn(dir: &Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_imgshare-server"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--member-quota",
            "-1",
            "--log-level",
            "info,imgshare::access=off",
        ])
        .arg("--data-dir")
        .arg(dir)
        .arg("--tokens")
        .arg(dir.join("tokens.toml"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("server binary starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(rest) = line.split("listening address=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Running {
        child,
        base: format!("http://{addr}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_adds_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tokens.toml"),
        format!("[[tokens]]\ntoken = \"{TOKEN}\"\nproject_id = \"owner\"\nuser_id = \"u\"\nroles = [\"member\"]\n"),
    )
    .unwrap();
    let http = reqwest::Client::new();

    let mut server = spawn(dir.path());
    let image: serde_json::Value = http
        .post(format!("{}/v2/images", server.base))
        .header("X-Auth-Token", TOKEN)
        .json(&serde_json::json!({"name": "crash-test"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let image = image["id"].as_str().unwrap().to_owned();

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    for round in 0..3 {
        let before = acked.lock().unwrap().len();
        let mut writers = Vec::new();
        for w in 0..8 {
            let (http, base, image, acked) = (
                http.clone(),
                server.base.clone(),
                image.clone(),
                Arc::clone(&acked),
            );
            writers.push(tokio::spawn(async move {
                let mut attempts = 0u32;
                for i in 0.. {
                    let member = format!("r{round}-w{w}-{i}");
                    attempts += 1;
                    let sent = http
                        .post(format!("{base}/v2/images/{image}/members"))
                        .header("X-Auth-Token", TOKEN)
                        .json(&serde_json::json!({ "member": member }))
                        .send()
                        .await;
                    match sent {
                        Ok(rsp) if rsp.status().as_u16() == 200 => {
                            acked.lock().unwrap().push(member)
                        }
                        Ok(rsp) => panic!("unexpected status {}", rsp.status()),
                        Err(_) => break, // the server is gone
                    }
                }
                attempts
            }));
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        server.child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
        server.child.wait().unwrap();
        let mut attempts = 0;
        for w in writers {
            attempts += w.await.unwrap();
        }

        server = spawn(dir.path());
        let listed: serde_json::Value = http
            .get(format!("{}/v2/images/{image}/members", server.base))
            .header("X-Auth-Token", TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let found: std::collections::HashSet<&str> = listed["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["member_id"].as_str().unwrap())
            .collect();
        let acked = acked.lock().unwrap();
        let missing: Vec<_> = acked
            .iter()
            .filter(|m| !found.contains(m.as_str()))
            .collect();
        println!(
            "round {round}: {attempts} attempts, {} acknowledged this round, {} rows found after restart, {} acknowledged rows missing",
            acked.len() - before,
            found.len(),
            missing.len()
        );
        assert!(
            acked.len() > before,
            "the load produced no acknowledged writes"
        );
        assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
