//! Huawei batch jobs are real: a job acknowledged with its `job_id` runs to
//! its end even when the server is killed with SIGKILL right after (it
//! resumes on restart), on both backends; each job's images are applied
//! exactly once; and on PostgreSQL a replica that dies holding jobs does not
//! strand them: another replica takes them over when their lease ends.
//!
//! "Exactly once" is observable: every job adds projects no other job adds,
//! and an add is all or nothing per image, so a step applied twice would find
//! its projects already members and end the job `FAIL` (IMG.0112), and a
//! step recorded twice would repeat results.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

/// Images per job and projects per job: each job is several steps, so kills
/// land between steps of running jobs.
const IMAGES_PER_JOB: usize = 4;
const PROJECTS_PER_JOB: usize = 10;

type Accepted = Arc<Mutex<Vec<(String, Vec<String>, Vec<String>)>>>;

/// Accepts jobs from several connections against `base` until the server
/// goes away or `stop` is set; records (job_id, images, projects) of each 200.
async fn load(
    http: &reqwest::Client,
    base: &str,
    images: &[String],
    tag: &str,
    accepted: &Accepted,
    duration: Duration,
) -> u32 {
    let mut writers = Vec::new();
    for w in 0..6 {
        let (http, base, images, accepted, tag) = (
            http.clone(),
            base.to_owned(),
            images.to_vec(),
            Arc::clone(accepted),
            tag.to_owned(),
        );
        writers.push(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let mut attempts = 0u32;
            for i in 0.. {
                if started.elapsed() > duration {
                    break;
                }
                let chosen: Vec<String> = (0..IMAGES_PER_JOB)
                    .map(|k| images[(i * IMAGES_PER_JOB + k + w) % images.len()].clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let projects: Vec<String> = (0..PROJECTS_PER_JOB)
                    .map(|p| format!("{tag}-w{w}-j{i}-p{p}"))
                    .collect();
                attempts += 1;
                match batch_add(&http, &base, &chosen, &projects).await {
                    Ok((200, body)) => {
                        let id = body["job_id"].as_str().unwrap().to_owned();
                        accepted.lock().unwrap().push((id, chosen, projects));
                    }
                    Ok((status, body)) => panic!("unexpected {status}: {body}"),
                    Err(_) => break, // the server is gone
                }
            }
            attempts
        }));
    }
    let mut attempts = 0;
    for w in writers {
        attempts += w.await.unwrap();
    }
    attempts
}

/// Every accepted job ended SUCCESS with one result per image × project,
/// and every image holds exactly the projects of the jobs that named it
/// (plus, possibly, those of jobs whose 200 was lost in the kill).
async fn check_all_ran_once(
    http: &reqwest::Client,
    base: &str,
    accepted: &[(String, Vec<String>, Vec<String>)],
) {
    let mut expected: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (id, images, projects) in accepted {
        let job = finished_job(http, base, id).await;
        assert_eq!(job["status"], "SUCCESS", "job {id}: {job}");
        let results = job["entities"]["results"].as_array().unwrap();
        assert_eq!(
            results.len(),
            images.len() * projects.len(),
            "job {id} recorded a step twice or missed one: {job}"
        );
        assert!(results.iter().all(|r| r["status"] == "success"), "{job}");
        for image in images {
            expected
                .entry(image.clone())
                .or_default()
                .extend(projects.iter().cloned());
        }
    }
    for (image, want) in &expected {
        let found: BTreeSet<String> = members(http, base, image)
            .await
            .iter()
            .map(|m| m["member_id"].as_str().unwrap().to_owned())
            .collect();
        let missing: Vec<_> = want.difference(&found).collect();
        assert!(missing.is_empty(), "image {image} lacks {missing:?}");
    }
}

async fn crash_rounds(backend: &str, database: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    write_tokens(dir.path());
    let http = reqwest::Client::new();
    let mut server = spawn(dir.path(), database.as_deref(), -1);
    let mut images = Vec::new();
    for _ in 0..8 {
        images.push(create_image(&http, &server.base).await);
    }
    let accepted: Accepted = Arc::default();
    for round in 0..3 {
        let before = accepted.lock().unwrap().len();
        let (http2, base, images2, acc) = (
            http.clone(),
            server.base.clone(),
            images.clone(),
            Arc::clone(&accepted),
        );
        let tag = format!("r{round}");
        let load = tokio::spawn(async move {
            load(&http2, &base, &images2, &tag, &acc, Duration::from_secs(30)).await
        });
        tokio::time::sleep(Duration::from_millis(400)).await;
        server.kill();
        let attempts = load.await.unwrap();

        // What the killed server had acknowledged and not finished.
        let accepted_now = accepted.lock().unwrap().clone();
        server = spawn(dir.path(), database.as_deref(), -1);
        let mut unfinished = 0;
        for (id, _, _) in &accepted_now[before..] {
            let job: serde_json::Value = http
                .get(format!("{}/v1/owner/jobs/{id}", server.base))
                .header("X-Auth-Token", TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if job["status"] != "SUCCESS" && job["status"] != "FAIL" {
                unfinished += 1;
            }
        }
        check_all_ran_once(&http, &server.base, &accepted_now).await;
        println!(
            "{backend} jobs round {round}: {attempts} attempts, {} acknowledged, {unfinished} \
             unfinished at restart, all finished once",
            accepted_now.len() - before
        );
        assert!(
            accepted_now.len() > before,
            "the load produced no acknowledged jobs"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_jobs_finish_after_sigkill_sqlite() {
    crash_rounds("sqlite", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_jobs_finish_after_sigkill_postgres() {
    if let Some(url) = postgres_url("jobs_kill9").await {
        crash_rounds("postgres", Some(url)).await;
    }
}

/// Two replicas on one database accept jobs; one is killed while it holds
/// jobs. The other finishes them once their 2 s lease has ended, and every
/// job ran exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_replicas_jobs_are_taken_over() {
    let Some(url) = postgres_url("jobs_replicas").await else {
        return;
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_tokens(dir_a.path());
    write_tokens(dir_b.path());
    let lease = ["--job-lease-secs", "2"];
    let mut a = spawn_with(dir_a.path(), Some(&url), -1, &lease);
    let b = spawn_with(dir_b.path(), Some(&url), -1, &lease);
    let http = reqwest::Client::new();
    let mut images = Vec::new();
    for _ in 0..8 {
        images.push(create_image(&http, &a.base).await);
    }
    let accepted: Accepted = Arc::default();
    // Both replicas accept (and run) jobs at once.
    let (la, lb) = tokio::join!(
        load(
            &http,
            &a.base,
            &images,
            "a",
            &accepted,
            Duration::from_millis(600)
        ),
        load(
            &http,
            &b.base,
            &images,
            "b",
            &accepted,
            Duration::from_millis(600)
        ),
    );
    // A dies holding whatever it was running or had queued.
    a.kill();
    let db = sql(&url).await;
    let row = db
        .query_one(
            "SELECT COUNT(*) FILTER (WHERE status = 'RUNNING'), \
             COUNT(*) FILTER (WHERE status IN ('INIT', 'RUNNING')) FROM jobs",
            &[],
        )
        .await
        .unwrap();
    let (running, unfinished): (i64, i64) = (row.get(0), row.get(1));
    let accepted = accepted.lock().unwrap().clone();
    let started = std::time::Instant::now();
    check_all_ran_once(&http, &b.base, &accepted).await;
    println!(
        "replicas: {la} + {lb} attempts, {} jobs acknowledged; when A died {unfinished} were \
         unfinished ({running} running, some on A); B finished all once in {:.1} s",
        accepted.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        unfinished > 0,
        "no job was left when A died: the takeover was not exercised"
    );
    assert!(!accepted.is_empty());
}

/// Finished jobs are kept `--job-retention-secs`, then removed: the job ID
/// answers 404.
async fn retention(database: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    write_tokens(dir.path());
    let server = spawn_with(
        dir.path(),
        database.as_deref(),
        -1,
        &["--job-retention-secs", "2"],
    );
    let http = reqwest::Client::new();
    let image = create_image(&http, &server.base).await;
    let (status, body) = batch_add(&http, &server.base, &[image], &["p1".to_owned()])
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let id = body["job_id"].as_str().unwrap().to_owned();
    let job = finished_job(&http, &server.base, &id).await;
    assert_eq!(job["status"], "SUCCESS");
    let read = |http: reqwest::Client, url: String| async move {
        http.get(url)
            .header("X-Auth-Token", TOKEN)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let url = format!("{}/v1/owner/jobs/{id}", server.base);
    // Kept for its retention time (well within 2 s here) ...
    assert_eq!(read(http.clone(), url.clone()).await, 200);
    // ... then gone, within a pruning round (1 s at this retention).
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while read(http.clone(), url.clone()).await == 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "job {id} outlived its retention"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(read(http.clone(), url).await, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_are_removed_after_their_retention_sqlite() {
    retention(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_are_removed_after_their_retention_postgres() {
    if let Some(url) = postgres_url("jobs_retention").await {
        retention(Some(url)).await;
    }
}
