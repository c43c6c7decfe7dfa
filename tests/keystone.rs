//! imgshare behind a real Keystone (keystone 30.0.0 from PyPI, started by
//! `keystone/keystone.sh`; `.ci/run` starts one and sets
//! `IMGSHARE_TEST_KEYSTONE` to its `accounts.json`).
//!
//! * the member life cycle with Keystone-issued tokens: owner, member,
//!   reader-only, admin, stranger, and a domain-scoped token;
//! * expiry (a Keystone with 8-second tokens) and the service's own token
//!   renewed past its expiry;
//! * revocation seen once the cache entry lapses;
//! * Keystone stopped, hung (SIGSTOP) or answering 500 (its database taken
//!   away) → 503 in the envelope, recovery once it is back;
//! * a flood of one unknown token (and of one valid token) → Keystone calls
//!   counted in Keystone's own access log.
//!
//! The tests that stop Keystone or need short tokens run their own gunicorn on
//! the same database and keys (`keystone.sh serve`), so the shared one is
//! never disturbed. Without `IMGSHARE_TEST_KEYSTONE` (a plain
//! `cargo test --workspace`), the first test starts a Keystone for the process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use imgshare::{types, Client};
use imgshare_server::{Config, Secret};
use serde_json::{json, Value};

const UA: &str = "imgshare-keystone-test";

struct Accounts {
    raw: Value,
    path: PathBuf,
}

impl Accounts {
    /// The Keystone of `IMGSHARE_TEST_KEYSTONE` (CI starts one), or one
    /// started for this test process (`keystone/keystone.sh start`, stopped
    /// and removed when the process exits). `None`, said loudly, only where
    /// Keystone cannot be installed (outside CI).
    fn load(test: &str) -> Option<Accounts> {
        static STARTED: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
        let path = match std::env::var_os("IMGSHARE_TEST_KEYSTONE") {
            Some(p) => PathBuf::from(p),
            None => match STARTED.get_or_init(start_keystone) {
                Ok(p) => p.clone(),
                Err(e) => {
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "CI must test against Keystone: {e}"
                    );
                    eprintln!("\n!!! {test}: SKIPPED (no Keystone: {e}) !!!\n");
                    return None;
                }
            },
        };
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        Some(Accounts {
            raw: serde_json::from_str(&text).expect("accounts.json is JSON"),
            path,
        })
    }

    fn auth_url(&self) -> String {
        self.raw["auth_url"].as_str().unwrap().to_owned()
    }

    fn user(&self, who: &str) -> &Value {
        match who {
            "admin" => &self.raw["admin"],
            _ => &self.raw["users"][who],
        }
    }

    fn project(&self, who: &str) -> String {
        self.user(who)["project_id"].as_str().unwrap().to_owned()
    }

    fn state_dir(&self) -> PathBuf {
        self.raw["state_dir"]
            .as_str()
            .map(PathBuf::from)
            .unwrap_or_else(|| self.path.parent().unwrap().to_path_buf())
    }
}

/// Starts a Keystone for this process; its state lives in a directory that
/// the watcher removes once this process has exited.
fn start_keystone() -> Result<PathBuf, String> {
    let state = std::env::temp_dir().join(format!("imgshare-keystone-{}", std::process::id()));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/keystone/keystone.sh");
    eprintln!(
        "starting Keystone for these tests (keystone/keystone.sh start {}) …",
        state.display()
    );
    let out = Command::new("bash")
        .arg(script)
        .arg("start")
        .arg(&state)
        .env(
            "IMGSHARE_KEYSTONE_WATCH_PID",
            std::process::id().to_string(),
        )
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running keystone.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!("keystone.sh start exited with {}", out.status));
    }
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    Ok(PathBuf::from(last))
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().user_agent(UA).build().unwrap()
}

/// A project-scoped token for `who`, issued by the Keystone at `v3`.
async fn token(accounts: &Accounts, v3: &str, who: &str) -> String {
    let u = accounts.user(who);
    issue(
        v3,
        u,
        json!({"project": {"id": u["project_id"].as_str().unwrap()}}),
    )
    .await
}

async fn issue(v3: &str, user: &Value, scope: Value) -> String {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "id": user["user_id"], "password": user["password"]}}},
        "scope": scope,
    }});
    let rsp = http()
        .post(format!("{v3}/auth/tokens?nocatalog"))
        .json(&body)
        .send()
        .await
        .expect("Keystone answers");
    assert_eq!(rsp.status().as_u16(), 201, "token for {}", user["user"]);
    rsp.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// imgshare (in-process, SQLite in a temp dir) validating tokens with the
/// Keystone at `keystone_url`.
struct Imgshare {
    server: imgshare_server::Server,
    base: String,
    _dir: tempfile::TempDir,
}

impl Imgshare {
    async fn start(
        accounts: &Accounts,
        keystone_url: &str,
        tune: impl FnOnce(&mut Config),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"));
        let service = &accounts.raw["service"];
        config.keystone_url = Some(keystone_url.to_owned());
        config.keystone_user = Some(service["user"].as_str().unwrap().into());
        config.keystone_project = Some(service["project"].as_str().unwrap().into());
        config.keystone_secret = Some(Secret(service["password"].as_str().unwrap().into()));
        tune(&mut config);
        let server = imgshare_server::start(&config)
            .await
            .expect("server starts");
        let base = format!("http://{}", server.local_addr());
        Imgshare {
            server,
            base,
            _dir: dir,
        }
    }

    fn client(&self, token: &str) -> Client {
        Client::with_token(&self.base, token).unwrap()
    }

    /// Status, `WWW-Authenticate` and body of `GET /v2/images` with `token`.
    async fn list(&self, token: &str) -> (u16, Option<String>, Value) {
        let rsp = http()
            .get(format!("{}/v2/images", self.base))
            .header("X-Auth-Token", token)
            .send()
            .await
            .unwrap();
        let status = rsp.status().as_u16();
        let www = rsp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, www, rsp.json().await.unwrap_or(Value::Null))
    }
}

fn failure<T: std::fmt::Debug>(
    result: Result<imgshare::ResponseValue<T>, imgshare::Error<types::ApiError>>,
) -> (u16, String) {
    match result {
        Ok(v) => panic!("expected an error, got {:?}", v.into_inner()),
        Err(imgshare::Error::ErrorResponse(rv)) => {
            (rv.status().as_u16(), rv.into_inner().error.code.to_string())
        }
        Err(e) => panic!("expected an error response, got {e:?}"),
    }
}

/// A second Keystone (gunicorn) on the shared database and keys, on its own
/// port, that a test may stop and start again.
struct OwnKeystone {
    state: PathBuf,
    port: u16,
    expiration: Option<u32>,
    child: Option<Child>,
}

impl OwnKeystone {
    async fn start(state: &Path, expiration: Option<u32>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut k = OwnKeystone {
            state: state.to_path_buf(),
            port,
            expiration,
            child: None,
        };
        k.resume().await;
        k
    }

    fn v3(&self) -> String {
        format!("http://127.0.0.1:{}/v3", self.port)
    }

    fn access_log(&self) -> PathBuf {
        self.state.join(format!("access-{}.log", self.port))
    }

    /// (Re)starts it on its port and waits until `GET /v3` answers.
    async fn resume(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/keystone/keystone.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(script)
            .arg("serve")
            .arg(&self.state)
            .arg(self.port.to_string());
        if let Some(e) = self.expiration {
            cmd.arg(e.to_string());
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("keystone.sh serve starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(r) = http().get(self.v3()).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("keystone.sh serve exited with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "Keystone on {} did not start",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sends a signal to gunicorn's master and its workers.
    fn signal(&self, name: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let _ = Command::new("pkill")
            .args([&format!("-{name}"), "-P", &pid])
            .status();
        let _ = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status();
    }

    /// SIGTERM to gunicorn's master (the script execs it), then waits until
    /// the port refuses connections.
    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "Keystone on {} did not stop",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Requests imgshare (its user agent) sent: (validations, service auths).
    fn imgshare_calls(&self) -> (usize, usize) {
        let log = std::fs::read_to_string(self.access_log()).unwrap_or_default();
        let ours = log.lines().filter(|l| l.contains("imgshare/"));
        let (mut get, mut post) = (0, 0);
        for line in ours {
            if line.contains("\"GET /v3/auth/tokens") {
                get += 1;
            } else if line.contains("\"POST /v3/auth/tokens") {
                post += 1;
            }
        }
        (get, post)
    }
}

impl Drop for OwnKeystone {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_life_cycle_with_keystone_tokens() {
    let Some(acc) = Accounts::load("member_life_cycle_with_keystone_tokens") else {
        return;
    };
    let v3 = acc.auth_url();
    // As a clouds.yaml holds it: the URL without /v3 must work too.
    let root = v3.trim_end_matches("/v3").to_owned();
    let srv = Imgshare::start(&acc, &root, |_| {}).await;
    let owner = token(&acc, &v3, "owner").await;
    let member = token(&acc, &v3, "member").await;
    let reader = token(&acc, &v3, "reader").await;
    let stranger = token(&acc, &v3, "stranger").await;
    let admin = token(&acc, &v3, "admin").await;
    let member_project = acc.project("member");

    // The owner creates an image: owned by its Keystone project.
    let image = srv
        .client(&owner)
        .create_image(
            None,
            &types::ImageCreate {
                name: Some("keystone-image".into()),
                ..Default::default()
            },
        )
        .await
        .expect("create image")
        .into_inner();
    assert_eq!(image.owner, acc.project("owner"));
    let id = image.id.to_string();
    let body = types::MemberCreate {
        member: member_project.parse().unwrap(),
    };

    // The reader-only user of the owner's project sees the image but may
    // not share it (Glance: add_member needs member).
    let (status, code) = failure(srv.client(&reader).add_member(&id, None, &body).await);
    assert_eq!((status, code.as_str()), (403, "IMG.0026"));
    // Sharing with one's own project: Huawei's rule.
    let own = types::MemberCreate {
        member: acc.project("owner").parse().unwrap(),
    };
    let (status, code) = failure(srv.client(&owner).add_member(&id, None, &own).await);
    assert_eq!((status, code.as_str()), (400, "IMG.0076"));

    let added = srv
        .client(&owner)
        .add_member(&id, None, &body)
        .await
        .expect("add member")
        .into_inner();
    assert_eq!(added.status, types::MemberStatus::Pending);
    assert_eq!(added.member_id.as_str(), member_project);
    let listed = srv
        .client(&reader)
        .list_members(&id, None, None, None)
        .await
        .expect("reader lists members")
        .into_inner();
    assert_eq!(listed.members.len(), 1);

    // The stranger does not see it at all.
    let (status, _) = failure(srv.client(&stranger).get_image(&id, None).await);
    assert_eq!(status, 404);
    let (status, _) = failure(
        srv.client(&stranger)
            .list_members(&id, None, None, None)
            .await,
    );
    assert_eq!(status, 404);

    // The member accepts; the image joins its list.
    let accepted = srv
        .client(&member)
        .update_member(
            &id,
            &member_project,
            None,
            &types::MemberUpdate {
                status: types::MemberStatus::Accepted,
                vault_id: None,
            },
        )
        .await
        .expect("member accepts")
        .into_inner();
    assert_eq!(accepted.status, types::MemberStatus::Accepted);
    let (status, _, list) = srv.list(&member).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id.as_str()]);
    // The owner may not decide for the member.
    let (status, _) = failure(
        srv.client(&owner)
            .update_member(
                &id,
                &member_project,
                None,
                &types::MemberUpdate {
                    status: types::MemberStatus::Rejected,
                    vault_id: None,
                },
            )
            .await,
    );
    assert_eq!(status, 403);

    // The admin role is global: Keystone's admin (project admin) sees it all.
    let shown = srv
        .client(&admin)
        .get_member(&id, &member_project, None)
        .await
        .expect("admin shows the member")
        .into_inner();
    assert_eq!(shown.status, types::MemberStatus::Accepted);

    // A domain-scoped token: valid, but it owns nothing and is no member.
    let domain_user = acc.user("domain");
    let domain_token = issue(
        &v3,
        domain_user,
        json!({"domain": {"id": domain_user["domain_id"].as_str().unwrap()}}),
    )
    .await;
    let (status, _, list) = srv.list(&domain_token).await;
    assert_eq!(
        (status, list["error"]["code"].as_str()),
        (403, Some("IMG.0026"))
    );
    let (status, _) = failure(srv.client(&domain_token).get_image(&id, None).await);
    assert_eq!(status, 404);
    let (status, _) = failure(srv.client(&domain_token).add_member(&id, None, &body).await);
    assert_eq!(status, 404);
    let (status, _) = failure(
        srv.client(&domain_token)
            .create_image(None, &types::ImageCreate::default())
            .await,
    );
    assert_eq!(status, 403);

    // A system-scoped token: no project either. Keystone's admin holds the
    // admin role on the system, and that role is global here (Glance's
    // default policy): it sees the image and its members.
    let system_admin = issue(&v3, acc.user("admin"), json!({"system": {"all": true}})).await;
    let (status, _, _) = srv.list(&system_admin).await;
    assert_eq!(status, 200);
    let members = srv
        .client(&system_admin)
        .list_members(&id, None, None, None)
        .await
        .expect("a system-scoped admin lists members")
        .into_inner();
    assert_eq!(members.members.len(), 1);

    // The owner removes the member; the member's list is empty again.
    srv.client(&owner)
        .delete_member(&id, &member_project, None)
        .await
        .expect("remove member");
    let (status, _, list) = srv.list(&member).await;
    assert_eq!(status, 200);
    assert_eq!(list["images"].as_array().unwrap().len(), 0);

    // Unknown tokens: 401 in the envelope, naming where to get a token.
    let (status, www, body) = srv.list("gAAAAABnot-a-real-token").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "imgshare.unauthorized");
    assert_eq!(
        www.as_deref(),
        Some(format!("Keystone uri=\"{root}\"").as_str())
    );
    srv.server.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_refused_and_the_service_token_is_renewed() {
    let Some(acc) = Accounts::load("expired_tokens_are_refused") else {
        return;
    };
    // Every token this Keystone issues lives 8 s, the service's own too.
    let ks = OwnKeystone::start(&acc.state_dir(), Some(8)).await;
    let srv = Imgshare::start(&acc, &ks.v3(), |_| {}).await;
    let short = token(&acc, &ks.v3(), "owner").await;
    let issued = Instant::now();
    assert_eq!(srv.list(&short).await.0, 200);
    // Cached, but never past expires_at: wait for expiry.
    tokio::time::sleep(Duration::from_secs(9).saturating_sub(issued.elapsed())).await;
    let (status, www, body) = srv.list(&short).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("imgshare.unauthorized"))
    );
    assert!(www.is_some());
    // The service's first token has expired as well: a fresh user token
    // still validates, because the service renewed its own.
    let fresh = token(&acc, &ks.v3(), "member").await;
    assert_eq!(srv.list(&fresh).await.0, 200);
    let (_, service_auths) = ks.imgshare_calls();
    eprintln!("expiry: the service authenticated {service_auths} time(s) with 8-second tokens");
    assert!(
        service_auths >= 2,
        "the service token was obtained {service_auths} time(s); expected a renewal"
    );
    srv.server.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_stops_working_within_the_cache_window() {
    let Some(acc) = Accounts::load("a_revoked_token_stops_working") else {
        return;
    };
    let v3 = acc.auth_url();
    let srv = Imgshare::start(&acc, &v3, |c| c.keystone_cache_secs = 3).await;
    let owner = token(&acc, &v3, "owner").await;
    assert_eq!(srv.list(&owner).await.0, 200);
    // Revoke it (a user may revoke its own token).
    let rsp = http()
        .delete(format!("{v3}/auth/tokens"))
        .header("X-Auth-Token", &owner)
        .header("X-Subject-Token", &owner)
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status().as_u16(), 204);
    // Within the cache lifetime the validation is not repeated (as with
    // keystonemiddleware); once it lapses, Keystone's 404 is seen.
    let revoked = Instant::now();
    let deadline = Duration::from_secs(3) + Duration::from_millis(1500);
    loop {
        let status = srv.list(&owner).await.0;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked.elapsed() < deadline,
            "a revoked token still works {:?} after revocation",
            revoked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    srv.server.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystone_down_is_503_and_the_service_recovers() {
    let Some(acc) = Accounts::load("keystone_down_is_503") else {
        return;
    };
    let mut ks = OwnKeystone::start(&acc.state_dir(), None).await;
    let srv = Imgshare::start(&acc, &ks.v3(), |c| c.keystone_timeout_secs = 4.0).await;
    let cached = token(&acc, &ks.v3(), "owner").await;
    assert_eq!(srv.list(&cached).await.0, 200);
    let fresh = token(&acc, &ks.v3(), "member").await;

    // Hung (SIGSTOP: connections are accepted by the kernel, never answered):
    // 503 once --keystone-timeout-secs has passed.
    ks.signal("STOP");
    let started = Instant::now();
    let (status, _, body) = srv.list(&fresh).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("imgshare.identity_unavailable"))
    );
    assert!(
        started.elapsed() >= Duration::from_millis(3900),
        "{:?}",
        started.elapsed()
    );
    ks.signal("CONT");

    ks.stop().await;
    // A token seen before is still answered from the cache.
    assert_eq!(srv.list(&cached).await.0, 200);
    // One that must be validated: 503 in the envelope, never 401 or 500.
    for _ in 0..3 {
        let rsp = http()
            .get(format!("{}/v2/images", srv.base))
            .header("X-Auth-Token", &fresh)
            .send()
            .await
            .unwrap();
        assert_eq!(rsp.status().as_u16(), 503);
        assert!(rsp.headers().contains_key("x-openstack-request-id"));
        let body: Value = rsp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "imgshare.identity_unavailable");
        assert_eq!(
            body["error"]["message"],
            "The Keystone service is temporarily unavailable."
        );
    }
    // The generated client sees the same.
    let (status, code) = failure(
        srv.client(&fresh)
            .list_members(&uuid_like(), None, None, None)
            .await,
    );
    assert_eq!(
        (status, code.as_str()),
        (503, "imgshare.identity_unavailable")
    );

    ks.resume().await;
    // Failures were not cached: the same token now works.
    assert_eq!(srv.list(&fresh).await.0, 200);
    srv.server.close().await.unwrap();
}

fn uuid_like() -> String {
    "7f0c9c7e-3f43-4a5e-9d0e-2b1b4c6f1a10".into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_one_token_costs_keystone_a_handful_of_calls() {
    let Some(acc) = Accounts::load("a_flood_of_one_token") else {
        return;
    };
    let ks = OwnKeystone::start(&acc.state_dir(), None).await;
    let srv = Imgshare::start(&acc, &ks.v3(), |_| {}).await;
    let base = srv.base.clone();
    let flood = |token: String, want: u16| {
        let base = base.clone();
        async move {
            let client = http();
            // 64 at a time: concurrent, without exhausting file descriptors.
            let results: Vec<_> = futures::stream::iter((0..1000).map(|_| {
                let client = client.clone();
                let token = token.clone();
                let base = base.clone();
                async move {
                    client
                        .get(format!("{base}/v2/images?limit=1"))
                        .header("X-Auth-Token", token)
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                }
            }))
            .buffer_unordered(64)
            .collect()
            .await;
            let wrong = results
                .iter()
                .filter(|r| !matches!(r, Ok(s) if *s == want))
                .count();
            assert_eq!(wrong, 0, "{wrong} of 1000 requests were not {want}");
        }
    };

    // 1,000 requests, concurrently, with one unknown token.
    flood("gAAAAABunknown-token-for-the-flood".into(), 401).await;
    let (validations, _) = ks.imgshare_calls();
    eprintln!("flood: 1,000 requests, one unknown token: {validations} Keystone validation(s)");
    assert!(
        (1..=3).contains(&validations),
        "1,000 requests with one unknown token made {validations} Keystone validations"
    );
    // And with one valid token: one validation, then the cache.
    let owner = token(&acc, &ks.v3(), "owner").await;
    flood(owner, 200).await;
    let (after, _) = ks.imgshare_calls();
    eprintln!(
        "flood: 1,000 requests, one valid token: {} Keystone validation(s)",
        after - validations
    );
    assert!(
        (1..=3).contains(&(after - validations)),
        "1,000 requests with one valid token made {} Keystone validations",
        after - validations
    );
    // The metrics say the same: one cache lookup per request, mostly hits,
    // and one timed Keystone call per validation Keystone saw.
    let addr = srv.server.metrics_addr().expect("metrics are on");
    let text = http()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str, labels: &[&str]| -> f64 {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find(|l| {
                l.split(['{', ' ']).next() == Some(name) && labels.iter().all(|p| l.contains(p))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    };
    let hits = value(
        "imgshare_identity_cache_lookups_total",
        &["cache=\"token\"", "result=\"hit\""],
    );
    let misses = value(
        "imgshare_identity_cache_lookups_total",
        &["cache=\"token\"", "result=\"miss\""],
    );
    eprintln!("flood: token cache {hits} hits, {misses} misses");
    assert_eq!(hits + misses, 2000.0, "{text}");
    assert!(hits >= 1800.0, "{text}");
    assert_eq!(
        value(
            "imgshare_identity_provider_request_duration_seconds_count",
            &["call=\"validate_token\"", "provider=\"keystone\""]
        ),
        after as f64,
        "{text}"
    );
    assert!(
        value(
            "imgshare_identity_provider_request_duration_seconds_count",
            &["call=\"service_token\""]
        ) >= 1.0,
        "{text}"
    );
    srv.server.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_credential_can_replace_the_password() {
    let Some(acc) = Accounts::load("an_application_credential") else {
        return;
    };
    let v3 = acc.auth_url();
    let service = &acc.raw["service"];
    // The service user makes itself an application credential.
    let own = issue(
        &v3,
        service,
        json!({"project": {"id": service["project_id"].as_str().unwrap()}}),
    )
    .await;
    let name = format!("imgshare-test-{}", std::process::id());
    let rsp = http()
        .post(format!(
            "{v3}/users/{}/application_credentials",
            service["user_id"].as_str().unwrap()
        ))
        .header("X-Auth-Token", &own)
        .json(&json!({"application_credential": {"name": name}}))
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status().as_u16(), 201);
    let created: Value = rsp.json().await.unwrap();
    let id = created["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = created["application_credential"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();

    let srv = Imgshare::start(&acc, &v3, |c| {
        c.keystone_user = None;
        c.keystone_project = None;
        c.keystone_application_credential_id = Some(id.clone());
        c.keystone_secret = Some(Secret(secret.clone()));
    })
    .await;
    let owner = token(&acc, &v3, "owner").await;
    assert_eq!(srv.list(&owner).await.0, 200);
    assert_eq!(srv.list("gAAAAABnot-a-token").await.0, 401);
    srv.server.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystone_answering_5xx_is_503_and_the_service_recovers() {
    let Some(acc) = Accounts::load("keystone_answering_5xx") else {
        return;
    };
    // A Keystone of its own on a copy of the database (same keys, so the
    // shared Keystone's tokens validate on it), whose database is then taken
    // away: a real Keystone answering 500.
    let copy = tempfile::tempdir().unwrap();
    let state = acc.state_dir();
    for item in [
        "keystone.conf",
        "venv.path",
        "keystone.sqlite",
        "fernet-keys",
        "receipt-keys",
        "credential-keys",
    ] {
        let status = Command::new("cp")
            .arg("-r")
            .arg(state.join(item))
            .arg(copy.path())
            .status()
            .unwrap();
        assert!(status.success(), "copying {item}");
    }
    let db = copy.path().join("keystone.sqlite");
    let mut ks = OwnKeystone::start(copy.path(), None).await;
    let srv = Imgshare::start(&acc, &ks.v3(), |_| {}).await;
    let first = token(&acc, &acc.auth_url(), "owner").await;
    assert_eq!(srv.list(&first).await.0, 200);

    // Take the database away: Keystone answers validations with 500.
    let saved = std::fs::read(&db).unwrap();
    std::fs::write(&db, b"").unwrap();
    ks.stop().await;
    ks.resume().await;
    let second = token(&acc, &acc.auth_url(), "member").await;
    let raw = http()
        .get(format!("{}/auth/tokens", ks.v3()))
        .header("X-Auth-Token", &first)
        .header("X-Subject-Token", &second)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert!(raw >= 500, "the broken Keystone answers {raw}");
    let (status, www, body) = srv.list(&second).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("imgshare.identity_unavailable")),
        "{body}"
    );
    assert!(www.is_none(), "a 503 is not a 401");

    // Database back: the same token is accepted (failures are not cached).
    std::fs::write(&db, saved).unwrap();
    ks.stop().await;
    ks.resume().await;
    assert_eq!(srv.list(&second).await.0, 200);
    srv.server.close().await.unwrap();
}

/// New members are checked with Keystone. With a service user that may read
/// projects (here Keystone's admin), a project Keystone does not know is
/// refused with `IMG.0108`, on the native add and on the batch add, and
/// nothing is written; a project it knows is added. `--no-verify-members`
/// skips the check; a service user that may not read projects (the
/// `service` role only, Keystone's default policy) cannot check, and the
/// member is added, as Nova does when it cannot look a project up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_members_are_checked_with_keystone() {
    let Some(acc) = Accounts::load("new_members_are_checked_with_keystone") else {
        return;
    };
    let v3 = acc.auth_url();
    let owner = token(&acc, &v3, "owner").await;
    let known = acc.project("member");
    let unknown = "0123456789abcdef0123456789abcdef";
    let admin = acc.user("admin").clone();

    async fn image(srv: &Imgshare, token: &str) -> String {
        srv.client(token)
            .create_image(None, &types::ImageCreate::default())
            .await
            .expect("create image")
            .into_inner()
            .id
            .to_string()
    }
    async fn add(srv: &Imgshare, token: &str, image: &str, member: &str) -> (u16, String) {
        let body = types::MemberCreate {
            member: member.parse().unwrap(),
        };
        match srv.client(token).add_member(image, None, &body).await {
            Ok(_) => (201, String::new()),
            Err(e) => failure::<()>(Err(e)),
        }
    }
    async fn members(srv: &Imgshare, token: &str, image: &str) -> Vec<String> {
        srv.client(token)
            .list_members(image, None, None, None)
            .await
            .expect("list members")
            .into_inner()
            .members
            .into_iter()
            .map(|m| m.member_id.to_string())
            .collect()
    }

    let checked = Imgshare::start(&acc, &v3, |c| {
        c.keystone_user = Some(admin["user"].as_str().unwrap().into());
        c.keystone_project = Some(admin["project"].as_str().unwrap().into());
        c.keystone_secret = Some(Secret(admin["password"].as_str().unwrap().into()));
    })
    .await;
    let id = image(&checked, &owner).await;
    assert_eq!(
        add(&checked, &owner, &id, unknown).await,
        (400, "IMG.0108".to_owned())
    );
    let rsp = http()
        .post(format!("{}/v1/cloudimages/members", checked.base))
        .header("X-Auth-Token", &owner)
        .json(&json!({"images": [id], "projects": [known, unknown]}))
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status().as_u16(), 400);
    let body: Value = rsp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "IMG.0108", "{body}");
    assert!(members(&checked, &owner, &id).await.is_empty());
    assert_eq!(add(&checked, &owner, &id, &known).await.0, 201);
    assert_eq!(
        members(&checked, &owner, &id).await,
        std::slice::from_ref(&known)
    );

    let unchecked = Imgshare::start(&acc, &v3, |c| c.no_verify_members = true).await;
    let id = image(&unchecked, &owner).await;
    assert_eq!(add(&unchecked, &owner, &id, unknown).await.0, 201);

    // The test's own service user has the `service` role only: Keystone
    // answers its project lookups 403, so members cannot be checked.
    let cannot_check = Imgshare::start(&acc, &v3, |_| {}).await;
    let id = image(&cannot_check, &owner).await;
    assert_eq!(add(&cannot_check, &owner, &id, unknown).await.0, 201);
}
