//! Two server processes on one PostgreSQL database, hammered concurrently:
//! the database, not either process, must keep the invariants.

mod common;

use futures::future::join_all;

use common::*;

fn count(codes: &[u16], code: u16) -> usize {
    codes.iter().filter(|&&c| c == code).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_one_database() {
    let Some(url) = postgres_url("replicas").await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_tokens(dir_a.path());
    write_tokens(dir_b.path());
    // Started together: the migration runs once, under the advisory lock.
    let (a, b) = (
        spawn(dir_a.path(), Some(&url), 10),
        spawn(dir_b.path(), Some(&url), 10),
    );
    let replicas = [a.base.clone(), b.base.clone()];
    let base = |i: usize| replicas[i % 2].as_str();
    let http = reqwest::Client::new();
    let db = sql(&url).await;
    let migrations: i64 = db
        .query_one("SELECT COUNT(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    // Each migration applied exactly once, by one of the two.
    assert_eq!(
        migrations,
        imgshare_server::store::migrations::MIGRATIONS.len() as i64
    );

    // 1. The same member added 100 times through both replicas: one 200.
    let image = create_image(&http, base(0)).await;
    let results = join_all((0..100).map(|i| add_member(&http, base(i), &image, "consumer"))).await;
    let codes: Vec<u16> = results.into_iter().map(|r| r.unwrap().0).collect();
    println!(
        "duplicate race: 100 attempts, {} x 200, {} x 409",
        count(&codes, 200),
        count(&codes, 409)
    );
    assert_eq!(
        (count(&codes, 200), count(&codes, 409)),
        (1, 99),
        "{codes:?}"
    );

    // 2. 60 different members at quota 10: never more than 10 rows.
    let image = create_image(&http, base(1)).await;
    let names: Vec<String> = (0..60).map(|i| format!("p{i}")).collect();
    let results = join_all(
        names
            .iter()
            .enumerate()
            .map(|(i, m)| add_member(&http, base(i), &image, m)),
    )
    .await;
    let codes: Vec<u16> = results.into_iter().map(|r| r.unwrap().0).collect();
    let rows: i64 = db
        .query_one(
            "SELECT COUNT(*) FROM image_members WHERE image_id = $1",
            &[&image],
        )
        .await
        .unwrap()
        .get(0);
    println!(
        "quota race: 60 attempts, {} x 200, {} x 413, {rows} rows",
        count(&codes, 200),
        count(&codes, 413)
    );
    assert_eq!(
        (count(&codes, 200), count(&codes, 413), rows),
        (10, 50, 10),
        "{codes:?}"
    );

    // 3. Deleting the image while adds race it: no member row outlives it.
    let image = create_image(&http, base(0)).await;
    // Adds spread over ~9 ms (quota 10 allows all nine); the delete lands in the middle.
    let adds = join_all((0..9).map(|i| {
        let (http, b, image) = (http.clone(), base(i).to_owned(), image.clone());
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(i as u64)).await;
            add_member(&http, &b, &image, &format!("d{i}")).await
        }
    }));
    let delete = async {
        tokio::time::sleep(std::time::Duration::from_millis(4)).await;
        http.delete(format!("{}/v2/images/{image}", base(1)))
            .header("X-Auth-Token", TOKEN)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let (results, deleted) = tokio::join!(adds, delete);
    let codes: Vec<u16> = results.into_iter().map(|r| r.unwrap().0).collect();
    let left: i64 = db
        .query_one(
            "SELECT COUNT(*) FROM image_members WHERE image_id = $1",
            &[&image],
        )
        .await
        .unwrap()
        .get(0);
    let orphans: i64 = db
        .query_one("SELECT COUNT(*) FROM image_members m WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.id = m.image_id)", &[])
        .await
        .unwrap()
        .get(0);
    println!("delete race: delete {deleted}, adds {} x 200, {} x 404; {left} rows left, {orphans} orphans", count(&codes, 200), count(&codes, 404));
    assert_eq!(deleted, 204);
    assert!(codes.iter().all(|c| *c == 200 || *c == 404), "{codes:?}");
    assert_eq!((left, orphans), (0, 0));

    // 4. Status updates racing through both replicas end in a written state.
    let image = create_image(&http, base(0)).await;
    assert_eq!(
        add_member(&http, base(0), &image, "consumer")
            .await
            .unwrap()
            .0,
        200
    );
    let updates = join_all((0..50).map(|i| {
        let status = if i % 2 == 0 { "accepted" } else { "rejected" };
        http.put(format!("{}/v2/images/{image}/members/consumer", base(i)))
            .header("X-Auth-Token", MEMBER_TOKEN)
            .json(&serde_json::json!({ "status": status }))
            .send()
    }))
    .await;
    let codes: Vec<u16> = updates
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let final_status: String = db
        .query_one(
            "SELECT status FROM image_members WHERE image_id = $1",
            &[&image],
        )
        .await
        .unwrap()
        .get(0);
    println!(
        "status race: 50 updates, {} x 200, final status {final_status}",
        count(&codes, 200)
    );
    assert_eq!(count(&codes, 200), 50);
    assert!(final_status == "accepted" || final_status == "rejected");

    // 5. Connections killed under load: retried or 503 in the envelope, never a 500.
    let image = create_image(&http, base(0)).await;
    let load = join_all((0..120).map(|i| {
        let http = http.clone();
        let (b, image) = (base(i).to_owned(), image.clone());
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(i as u64 / 4)).await;
            let rsp = http
                .get(format!("{b}/v2/images/{image}/members"))
                .header("X-Auth-Token", TOKEN)
                .send()
                .await
                .unwrap();
            (rsp.status().as_u16(), rsp.text().await.unwrap())
        }
    }));
    let killer = async {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let killed = db
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = ''",
                &[],
            )
            .await
            .unwrap()
            .len();
        killed
    };
    let (results, killed) = tokio::join!(load, killer);
    let codes: Vec<u16> = results.iter().map(|(c, _)| *c).collect();
    println!("connection kill: {killed} connections terminated; 120 requests: {} x 200, {} x 503, {} x 500", count(&codes, 200), count(&codes, 503), count(&codes, 500));
    assert_eq!(count(&codes, 200) + count(&codes, 503), 120, "{codes:?}");
    for (code, body) in &results {
        if *code == 503 {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["error"]["code"], "imgshare.unavailable");
            assert!(!body.contains("db error"), "driver text leaked: {body}");
        }
    }
}

/// The database goes away (a proxy in front of it is shut): requests get 503
/// in the envelope, never a 500 or a driver message; when it is back, the
/// same replica recovers on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_outage_is_503_and_recovers() {
    let Some(url) = postgres_url("outage").await else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Default::default();
    {
        let (up, conns) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            loop {
                let (mut inbound, _) = listener.accept().await.unwrap();
                if !up.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // refuse: drop the connection at once
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect("127.0.0.1:5432").await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().unwrap().push(task.abort_handle());
            }
        });
    }
    let proxied = url.replacen("127.0.0.1:5432", &format!("127.0.0.1:{proxy_port}"), 1);
    assert_ne!(
        proxied, url,
        "IMGSHARE_TEST_POSTGRES_URL must point at 127.0.0.1:5432 for this test"
    );

    let dir = tempfile::tempdir().unwrap();
    write_tokens(dir.path());
    let server = spawn(dir.path(), Some(&proxied), -1);
    let http = reqwest::Client::new();
    let image = create_image(&http, &server.base).await;

    up.store(false, std::sync::atomic::Ordering::SeqCst);
    conns.lock().unwrap().drain(..).for_each(|c| c.abort());
    let (status, body) = add_member(&http, &server.base, &image, "during-outage")
        .await
        .unwrap();
    println!("outage: add member -> {status} {body}");
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "imgshare.unavailable");
    assert!(
        !body.to_string().contains("error connecting"),
        "driver text leaked: {body}"
    );

    up.store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, _) = add_member(&http, &server.base, &image, "after-outage")
        .await
        .unwrap();
    println!("recovered: add member -> {status}");
    assert_eq!(status, 200);
}
