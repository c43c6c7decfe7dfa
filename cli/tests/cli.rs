//! End-to-end tests of the generated `imgshare` command-line client: a real
//! server in-process (127.0.0.1:0, fresh data dir, known tokens) and the built
//! binary run as a child process, as a user would run it.

use std::process::Output;

use serde_json::Value;

const OWNER: &str = "tok-owner"; // project-a
const MEMBER: &str = "tok-member"; // project-b
const STRANGER: &str = "tok-stranger"; // project-c

const TOKENS: &str = r#"
[[tokens]]
token = "tok-owner"
project_id = "project-a"
user_id = "alice"
roles = ["member", "reader"]

[[tokens]]
token = "tok-member"
project_id = "project-b"
user_id = "bob"
roles = ["member", "reader"]

[[tokens]]
token = "tok-stranger"
project_id = "project-c"
user_id = "carol"
roles = ["member", "reader"]
"#;

/// The variables the CLI reads; every run starts without them.
const CLI_VARS: [&str; 4] = [
    "IMGSHARE_URL",
    "OS_IMAGE_URL",
    "IMGSHARE_TOKEN",
    "OS_AUTH_TOKEN",
];

struct TestServer {
    _server: imgshare_server::Server,
    dir: tempfile::TempDir,
    url: String,
}

async fn start() -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens = dir.path().join("test-tokens.toml");
    std::fs::write(&tokens, TOKENS).unwrap();
    // The server refuses an identity file others may read.
    std::fs::set_permissions(&tokens, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut config =
        imgshare_server::Config::new("127.0.0.1:0".parse().unwrap(), dir.path().join("data"));
    config.tokens = Some(tokens);
    let server = imgshare_server::start(&config)
        .await
        .expect("server starts");
    let url = format!("http://{}", server.local_addr());
    TestServer {
        _server: server,
        dir,
        url,
    }
}

/// Runs `imgshare args…` with exactly the given CLI environment variables.
async fn run_env(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_imgshare"));
    for var in CLI_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).args(args);
    cmd.output().await.expect("the imgshare binary runs")
}

impl TestServer {
    /// `imgshare --url <server> --token <token> args…`
    async fn run(&self, token: &str, args: &[&str]) -> Output {
        let mut all = vec!["--url", &self.url, "--token", token];
        all.extend_from_slice(args);
        run_env(&[], &all).await
    }

    /// Runs the command, expects success and returns stdout as JSON.
    async fn json(&self, token: &str, args: &[&str]) -> Value {
        let out = self.run(token, args).await;
        json_of(&out, args)
    }

    async fn create_image(&self, token: &str) -> String {
        let image = self
            .json(
                token,
                &[
                    "create-image",
                    "--name",
                    "ubuntu-22.04",
                    "--disk-format",
                    "qcow2",
                    "--container-format",
                    "bare",
                ],
            )
            .await;
        image["id"].as_str().expect("an image id").to_string()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json_of(out: &Output, what: &[&str]) -> Value {
    assert!(
        out.status.success(),
        "{what:?} failed ({}): {}",
        out.status,
        stderr(out)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what:?}: stdout is not JSON ({e}): {}", stdout(out)))
}

/// Expects exit code 1, nothing on stdout and exactly `line` on stderr.
fn assert_fails_with(out: &Output, line: &str) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {} stderr: {}",
        stdout(out),
        stderr(out)
    );
    assert_eq!(stdout(out), "", "nothing on stdout on failure");
    assert_eq!(stderr(out).trim_end(), line);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_member_lifecycle_through_the_cli() {
    let s = start().await;

    // create-image: JSON of the new image on stdout.
    let image = s
        .json(
            OWNER,
            &[
                "create-image",
                "--name",
                "ubuntu-22.04",
                "--disk-format",
                "qcow2",
                "--container-format",
                "bare",
            ],
        )
        .await;
    assert_eq!(image["name"], "ubuntu-22.04");
    assert_eq!(image["owner"], "project-a");
    assert_eq!(image["visibility"], "shared");
    let id = image["id"].as_str().unwrap().to_string();

    // add-member: pending.
    let member = s
        .json(
            OWNER,
            &["add-member", "--image-id", &id, "--member", "project-b"],
        )
        .await;
    assert_eq!(member["member_id"], "project-b");
    assert_eq!(member["image_id"], id.as_str());
    assert_eq!(member["status"], "pending");

    // list-members as the owner.
    let list = s.json(OWNER, &["list-members", "--image-id", &id]).await;
    let ids: Vec<_> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["member_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["project-b"]);

    // get-member as the member itself.
    let got = s
        .json(
            MEMBER,
            &["get-member", "--image-id", &id, "--member-id", "project-b"],
        )
        .await;
    assert_eq!(got["status"], "pending");

    // update-member as the member: accepted; the image is in its list.
    let updated = s
        .json(
            MEMBER,
            &[
                "update-member",
                "--image-id",
                &id,
                "--member-id",
                "project-b",
                "--status",
                "accepted",
            ],
        )
        .await;
    assert_eq!(updated["status"], "accepted");
    let images = s.json(MEMBER, &["list-images"]).await;
    assert!(
        images["images"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == id.as_str()),
        "{images}"
    );

    // delete-member: 204, so exit 0 and nothing on stdout.
    let out = s
        .run(
            OWNER,
            &[
                "delete-member",
                "--image-id",
                &id,
                "--member-id",
                "project-b",
            ],
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let list = s.json(OWNER, &["list-members", "--image-id", &id]).await;
    assert_eq!(list["members"], serde_json::json!([]));

    // ... and the member is gone: 404 with the server's message.
    let out = s
        .run(
            OWNER,
            &["get-member", "--image-id", &id, "--member-id", "project-b"],
        )
        .await;
    assert_fails_with(
        &out,
        &format!(
            "imgshare: HTTP 404 Not Found (imgshare.not_found): \
             project-b not found in the member list of the image {id}."
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_add_exits_1_with_the_servers_409_message() {
    let s = start().await;
    let id = s.create_image(OWNER).await;
    let add = ["add-member", "--image-id", &id, "--member", "project-b"];
    s.json(OWNER, &add).await;
    let out = s.run(OWNER, &add).await;
    assert_fails_with(
        &out,
        &format!(
            "imgshare: HTTP 409 Conflict (imgshare.member_duplicate): \
             Member project-b is duplicated for image {id}"
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_gets_the_servers_404() {
    let s = start().await;
    let id = s.create_image(OWNER).await;
    s.json(
        OWNER,
        &["add-member", "--image-id", &id, "--member", "project-b"],
    )
    .await;
    // project-c is neither owner nor member: the image does not exist for it.
    let out = s
        .run(
            STRANGER,
            &["add-member", "--image-id", &id, "--member", "project-c"],
        )
        .await;
    assert_fails_with(
        &out,
        &format!("imgshare: HTTP 404 Not Found (IMG.0086): Image {id} not found."),
    );
    let out = s
        .run(
            STRANGER,
            &["get-member", "--image-id", &id, "--member-id", "project-b"],
        )
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("imgshare: HTTP 404 Not Found"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_and_token_come_from_the_environment() {
    let s = start().await;
    let id = s.create_image(OWNER).await;
    let list = ["list-members", "--image-id", &id];

    // IMGSHARE_URL + IMGSHARE_TOKEN.
    let out = run_env(
        &[("IMGSHARE_URL", &s.url), ("IMGSHARE_TOKEN", OWNER)],
        &list,
    )
    .await;
    assert_eq!(json_of(&out, &list)["members"], serde_json::json!([]));

    // The OpenStack names, with a versioned endpoint as OS_IMAGE_URL often is.
    let v2 = format!("{}/v2/", s.url);
    let out = run_env(&[("OS_IMAGE_URL", &v2), ("OS_AUTH_TOKEN", OWNER)], &list).await;
    assert_eq!(json_of(&out, &list)["members"], serde_json::json!([]));

    // IMGSHARE_* wins over OS_*: the stranger's token is the one sent.
    let out = run_env(
        &[
            ("IMGSHARE_URL", &s.url),
            ("IMGSHARE_TOKEN", STRANGER),
            ("OS_AUTH_TOKEN", OWNER),
        ],
        &list,
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));

    // Flags win over the environment.
    let out = run_env(
        &[
            ("IMGSHARE_URL", "http://127.0.0.1:9"),
            ("IMGSHARE_TOKEN", STRANGER),
        ],
        &[
            "--url",
            &s.url,
            "--token",
            OWNER,
            "list-members",
            "--image-id",
            &id,
        ],
    )
    .await;
    assert_eq!(json_of(&out, &list)["members"], serde_json::json!([]));

    // Flags after the subcommand work too.
    let out = run_env(
        &[],
        &[
            "list-members",
            "--image-id",
            &id,
            "--url",
            &s.url,
            "--token",
            OWNER,
        ],
    )
    .await;
    assert_eq!(json_of(&out, &list)["members"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_url_or_token_fail_clearly() {
    let s = start().await;
    let out = run_env(&[("IMGSHARE_TOKEN", OWNER)], &["list-images"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim_end(),
        "imgshare: no server URL: pass --url or set IMGSHARE_URL (or OS_IMAGE_URL)"
    );

    let out = run_env(&[("IMGSHARE_URL", &s.url)], &["list-images"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("imgshare: HTTP 401 Unauthorized"),
        "{}",
        stderr(&out)
    );

    // Nothing listening: the transport error, exit 1.
    let out = run_env(
        &[
            ("IMGSHARE_URL", "http://127.0.0.1:9"),
            ("IMGSHARE_TOKEN", OWNER),
        ],
        &["list-images"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("imgshare: Communication Error"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_body_from_a_file() {
    let s = start().await;
    let body = s.dir.path().join("image.json");
    std::fs::write(
        &body,
        r#"{"name": "win", "disk_format": "raw", "container_format": "bare",
            "os_type": "linux", "tags": ["a", "b"]}"#,
    )
    .unwrap();
    let image = s
        .json(
            OWNER,
            &["create-image", "--json-body", body.to_str().unwrap()],
        )
        .await;
    assert_eq!(image["name"], "win");
    assert_eq!(image["os_type"], "linux");
    assert_eq!(image["tags"], serde_json::json!(["a", "b"]));
}
