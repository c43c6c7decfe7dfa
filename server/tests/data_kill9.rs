//! Image data survives SIGKILL: uploads run from several connections, the
//! server is killed mid-way and restarted on the same store. Every image
//! whose upload got its 204 is `active` with exactly its bytes; every other
//! one is `queued` again (or, when the kill fell between its commit and its
//! 204, `active` with exactly the bytes its upload sent) with no data file and no temporary file left (at
//! once on SQLite, whose server owns its image directory; on PostgreSQL,
//! where replicas share it, once the dead uploads go stale).

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use md5::Digest;

use common::*;

const UPLOADERS: usize = 6;
const IMAGES_EACH: usize = 4;
const CHUNK: usize = 16 * 1024;

fn md5_hex(bytes: &[u8]) -> String {
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A payload streamed slowly enough (16 KiB every 5 ms) that uploads are in
/// flight when the server dies.
fn slow_body(payload: Vec<u8>) -> reqwest::Body {
    let chunks: Vec<Vec<u8>> = payload.chunks(CHUNK).map(<[u8]>::to_vec).collect();
    let stream = futures::stream::iter(chunks).then(|c| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok::<_, std::io::Error>(c)
    });
    reqwest::Body::wrap_stream(stream)
}

async fn image(http: &reqwest::Client, base: &str, id: &str) -> serde_json::Value {
    http.get(format!("{base}/v2/images/{id}"))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("images"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn crash(backend: &str, database: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    write_tokens(dir.path());
    let args = ["--upload-stale-secs", "2"];
    let http = reqwest::Client::new();
    let mut server = spawn_with(dir.path(), database.as_deref(), -1, &args);
    let mut images = Vec::new();
    for _ in 0..UPLOADERS * IMAGES_EACH {
        images.push(create_image(&http, &server.base).await);
    }

    // image -> MD5 of the bytes whose upload got 204.
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    // image -> MD5 of the bytes an upload was started with.
    let tried: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let mut uploaders = Vec::new();
    for u in 0..UPLOADERS {
        let (http, base, acked, tried) = (
            http.clone(),
            server.base.clone(),
            Arc::clone(&acked),
            Arc::clone(&tried),
        );
        let mine: Vec<String> = images[u * IMAGES_EACH..(u + 1) * IMAGES_EACH].to_vec();
        // 256 KiB and up, random, made before the clock starts.
        let payloads: Vec<Vec<u8>> = (0..IMAGES_EACH)
            .map(|i| {
                let mut p = vec![0u8; (256 << 10) + (u * 131 + i * 977) * 64];
                rand::fill(&mut p[..]);
                p
            })
            .collect();
        uploaders.push(tokio::spawn(async move {
            let mut started = 0;
            for (id, payload) in mine.iter().zip(payloads) {
                let md5 = md5_hex(&payload);
                tried.lock().unwrap().insert(id.clone(), md5.clone());
                started += 1;
                let sent = http
                    .put(format!("{base}/v2/images/{id}/file"))
                    .header("X-Auth-Token", TOKEN)
                    .header("Content-Type", "application/octet-stream")
                    .body(slow_body(payload))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().as_u16() == 204 => {
                        acked.lock().unwrap().insert(id.clone(), md5);
                    }
                    Ok(r) => panic!("upload answered {}", r.status()),
                    Err(_) => break, // the server is gone
                }
            }
            started
        }));
    }
    // Kill once a few uploads are acknowledged: each uploader is then in
    // the middle of its next one (four each, sent slowly), whatever the
    // machine's speed.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < UPLOADERS / 2 {
        assert!(std::time::Instant::now() < deadline, "no upload finished");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill();
    let mut started = 0;
    for u in uploaders {
        started += u.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let tried = tried.lock().unwrap().clone();
    assert!(!acked.is_empty(), "no upload finished before the kill");
    assert!(started > acked.len(), "no upload was in flight at the kill");

    server = spawn_with(dir.path(), database.as_deref(), -1, &args);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut committed = Vec::new();
    for id in &images {
        let mut img = image(&http, &server.base, id).await;
        match acked.get(id) {
            Some(md5) => {
                assert_eq!(img["status"], "active", "{id}: {img}");
                assert_eq!(img["checksum"].as_str(), Some(md5.as_str()), "{id}");
                let bytes = http
                    .get(format!("{}/v2/images/{id}/file", server.base))
                    .header("X-Auth-Token", TOKEN)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                assert_eq!(&md5_hex(&bytes), md5, "{id}: the bytes read back");
            }
            None => {
                // PostgreSQL: a replica cannot tell a dead upload from
                // another replica's live one until it goes stale.
                while img["status"] == "saving" && std::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    img = image(&http, &server.base, id).await;
                }
                // Committed, but the 204 was lost in the kill: then it holds
                // exactly the bytes its upload sent. Otherwise: queued.
                if img["status"] == "active" {
                    assert_eq!(
                        img["checksum"].as_str(),
                        tried.get(id).map(String::as_str),
                        "{id}: {img}"
                    );
                    committed.push(id.clone());
                } else {
                    assert_eq!(img["status"], "queued", "{id}: {img}");
                    assert!(img["checksum"].is_null(), "{id}: {img}");
                }
            }
        }
    }
    // Only the active images have files; no temporary file is left.
    let mut want: Vec<String> = acked
        .keys()
        .cloned()
        .chain(committed.iter().cloned())
        .collect();
    let mut left = files(dir.path());
    while left.len() != want.len() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        left = files(dir.path());
    }
    left.sort();
    want.sort();
    assert_eq!(left, want, "files in the image directory");
    println!(
        "{backend} uploads: {} images, {started} uploads started, {} acknowledged, {} committed \
         without their 204; after restart those active with their bytes, the rest queued, no \
         stray file",
        images.len(),
        acked.len(),
        committed.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_uploads_survive_sigkill_sqlite() {
    crash("sqlite", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_uploads_survive_sigkill_postgres() {
    if let Some(url) = postgres_url("data_kill9").await {
        crash("postgres", Some(url)).await;
    }
}
