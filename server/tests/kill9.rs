//! Crash safety: an acknowledged write survives SIGKILL, on both backends.
//! Runs the real binary, keeps adding members from several connections, kills
//! the process with SIGKILL mid-load, restarts it on the same store and checks
//! that every member that got a 200 is there. Three rounds per backend.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

async fn crash_rounds(backend: &str, database: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    write_tokens(dir.path());
    let http = reqwest::Client::new();
    let mut server = spawn(dir.path(), database.as_deref(), -1);
    let image = create_image(&http, &server.base).await;

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
                    match add_member(&http, &base, &image, &member).await {
                        Ok((200, _)) => acked.lock().unwrap().push(member),
                        Ok((status, body)) => panic!("unexpected {status}: {body}"),
                        Err(_) => break, // the server is gone
                    }
                }
                attempts
            }));
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        server.kill();
        let mut attempts = 0;
        for w in writers {
            attempts += w.await.unwrap();
        }

        server = spawn(dir.path(), database.as_deref(), -1);
        let found: HashSet<String> = members(&http, &server.base, &image)
            .await
            .iter()
            .map(|m| m["member_id"].as_str().unwrap().to_owned())
            .collect();
        let acked = acked.lock().unwrap();
        let missing: Vec<_> = acked.iter().filter(|m| !found.contains(*m)).collect();
        println!(
            "{backend} round {round}: {attempts} attempts, {} acknowledged, {} rows found after restart, {} acknowledged rows missing",
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_adds_survive_sigkill_sqlite() {
    crash_rounds("sqlite", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_adds_survive_sigkill_postgres() {
    if let Some(url) = postgres_url("kill9").await {
        crash_rounds("postgres", Some(url)).await;
    }
}
