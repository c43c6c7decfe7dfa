//! Shared by the process-level tests: run the real `imgshare-server` binary
//! and talk to it over raw HTTP (the generated client lives in the root
//! package, which depends on this one).

#![allow(dead_code)]

pub mod pgcluster;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub const TOKEN: &str = "owner-token";
pub const MEMBER_TOKEN: &str = "member-token";

pub struct Running {
    pub child: Child,
    pub base: String,
}

impl Running {
    /// SIGKILL (std's `kill` on Unix) and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn write_tokens(dir: &Path) {
    write_private(
        &dir.join("tokens.toml"),
        &format!(
            "[[tokens]]\ntoken = \"{TOKEN}\"\nproject_id = \"owner\"\nuser_id = \"u\"\nroles = [\"member\"]\n\n\
             [[tokens]]\ntoken = \"{MEMBER_TOKEN}\"\nproject_id = \"consumer\"\nuser_id = \"c\"\nroles = [\"member\"]\n"
        ),
    );
}

/// Writes an identity file as the server requires it: owner-only (0600).
pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Starts the binary on a free port with its data (and tokens) in `dir`,
/// on PostgreSQL when `database` is given.
pub fn spawn(dir: &Path, database: Option<&str>, quota: i64) -> Running {
    spawn_with(dir, database, quota, &[])
}

/// `spawn` with extra command-line arguments.
pub fn spawn_with(dir: &Path, database: Option<&str>, quota: i64, extra: &[&str]) -> Running {
    start(dir, database, quota, extra, |_| {}, None)
}

/// The server's log lines (stderr), as they come.
pub type ServerLog = Arc<Mutex<Vec<String>>>;

/// `spawn_with` on the SQLite store, with `configure` applied to the command
/// before it starts (e.g. a `pre_exec` hook), keeping every line the server
/// logs.
pub fn spawn_logged(
    dir: &Path,
    extra: &[&str],
    configure: impl FnOnce(&mut Command),
) -> (Running, ServerLog) {
    let log = ServerLog::default();
    let running = start(dir, None, -1, extra, configure, Some(Arc::clone(&log)));
    (running, log)
}

fn start(
    dir: &Path,
    database: Option<&str>,
    quota: i64,
    extra: &[&str],
    configure: impl FnOnce(&mut Command),
    log: Option<ServerLog>,
) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imgshare-server"));
    cmd.args(extra);
    if !extra.contains(&"--log-level") {
        cmd.args(["--log-level", "warn,imgshare_server=info"]);
    }
    cmd.args(["--bind", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0"])
        .arg("--member-quota")
        .arg(quota.to_string())
        .arg("--data-dir")
        .arg(dir)
        .arg("--tokens")
        .arg(dir.join("tokens.toml"))
        .stderr(Stdio::piped());
    if let Some(url) = database {
        cmd.arg("--database")
            .arg(url)
            .args(["--database-connections", "8"]);
    }
    configure(&mut cmd);
    let mut child = cmd.spawn().expect("server binary starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let keep = |line: &str| {
        if let Some(log) = &log {
            log.lock().unwrap().push(line.to_owned());
        }
    };
    let addr = loop {
        let line = match lines.next() {
            Some(Ok(l)) => l,
            _ => panic!("server exited before listening"),
        };
        keep(&line);
        if let Some(addr) = listening_address(&line) {
            break addr;
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || match log {
        Some(log) => lines
            .map_while(Result::ok)
            .for_each(|l| log.lock().unwrap().push(l)),
        None => lines.for_each(drop),
    });
    Running {
        child,
        base: format!("http://{addr}"),
    }
}

/// The address in the server's `listening` line, text or JSON.
pub fn listening_address(line: &str) -> Option<String> {
    if let Some(rest) = line.split("listening address=").nth(1) {
        return rest.split_whitespace().next().map(str::to_owned);
    }
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    (v["message"] == "listening")
        .then(|| v["address"].as_str().map(str::to_owned))
        .flatten()
}

/// The PostgreSQL URL for these tests: a fresh schema in
/// `IMGSHARE_TEST_POSTGRES_URL`. `None` (said loudly) when the variable is
/// not set; under CI (`CI` set) a missing variable fails the test.
pub async fn postgres_url(test: &str) -> Option<String> {
    let Ok(base) = std::env::var("IMGSHARE_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must test PostgreSQL: IMGSHARE_TEST_POSTGRES_URL is missing"
        );
        eprintln!("\n!!! {test}: PostgreSQL part SKIPPED (set IMGSHARE_TEST_POSTGRES_URL) !!!\n");
        return None;
    };
    let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to {base}: {e}"));
    tokio::spawn(conn);
    let schema = format!("t_{}", uuid_like());
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

fn uuid_like() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A direct connection to the same schema, for checks on the rows themselves.
pub async fn sql(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

pub async fn create_image(http: &reqwest::Client, base: &str) -> String {
    let image: serde_json::Value = http
        .post(format!("{base}/v2/images"))
        .header("X-Auth-Token", TOKEN)
        .json(&serde_json::json!({"name": "test"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    image["id"].as_str().expect("image created").to_owned()
}

pub async fn add_member(
    http: &reqwest::Client,
    base: &str,
    image: &str,
    member: &str,
) -> Result<(u16, serde_json::Value), reqwest::Error> {
    let rsp = http
        .post(format!("{base}/v2/images/{image}/members"))
        .header("X-Auth-Token", TOKEN)
        .json(&serde_json::json!({ "member": member }))
        .send()
        .await?;
    let status = rsp.status().as_u16();
    Ok((status, rsp.json().await.unwrap_or(serde_json::Value::Null)))
}

pub async fn members(http: &reqwest::Client, base: &str, image: &str) -> Vec<serde_json::Value> {
    let listed: serde_json::Value = http
        .get(format!("{base}/v2/images/{image}/members"))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    listed["members"].as_array().cloned().unwrap_or_default()
}

/// POST /v1/cloudimages/members: the job ID when accepted (200).
pub async fn batch_add(
    http: &reqwest::Client,
    base: &str,
    images: &[String],
    projects: &[String],
) -> Result<(u16, serde_json::Value), reqwest::Error> {
    let rsp = http
        .post(format!("{base}/v1/cloudimages/members"))
        .header("X-Auth-Token", TOKEN)
        .json(&serde_json::json!({ "images": images, "projects": projects }))
        .send()
        .await?;
    let status = rsp.status().as_u16();
    Ok((status, rsp.json().await.unwrap_or(serde_json::Value::Null)))
}

/// Polls GET /v1/owner/jobs/{id} until the job ends (SUCCESS or FAIL).
pub async fn finished_job(http: &reqwest::Client, base: &str, job: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let rsp = http
            .get(format!("{base}/v1/owner/jobs/{job}"))
            .header("X-Auth-Token", TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(rsp.status().as_u16(), 200, "job {job}");
        let body: serde_json::Value = rsp.json().await.unwrap();
        if body["status"] == "SUCCESS" || body["status"] == "FAIL" {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "job {job} did not finish: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
