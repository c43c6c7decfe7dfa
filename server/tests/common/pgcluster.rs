//! A private, throwaway PostgreSQL cluster for tests that must stop and
//! start the database (never the machine's shared one): `initdb` into a
//! temporary directory, `pg_ctl start` on a free port, TCP on 127.0.0.1
//! only, no password (`trust`).
//!
//! initdb and postgres refuse to run as root: as root, they run as the
//! `postgres` OS user (`runuser -u postgres --`) in a directory it owns.
//! Dropping the cluster stops it (`-m immediate`) and removes the directory,
//! panicking test or not.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How long `pg_ctl -w` may wait for a start or a stop.
const PG_CTL_TIMEOUT_SECS: &str = "60";

pub struct PgCluster {
    /// `/usr/lib/postgresql/<version>/bin`.
    bin: PathBuf,
    /// Data directory, log and socket all live here; removed on drop.
    dir: tempfile::TempDir,
    port: u16,
    /// Whether the commands run through `runuser -u postgres --`.
    as_postgres: bool,
    running: bool,
}

impl PgCluster {
    /// A new cluster, initialised and started. `None` (said loudly) when the
    /// PostgreSQL binaries are missing; under CI (`CI` set) that fails the
    /// test instead.
    pub fn start_new(test: &str) -> Option<PgCluster> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must test PostgreSQL: no initdb/pg_ctl under /usr/lib/postgresql/<version>/bin"
            );
            eprintln!(
                "\n!!! {test}: SKIPPED (no PostgreSQL binaries under /usr/lib/postgresql/<version>/bin) !!!\n"
            );
            return None;
        };
        let as_postgres = euid() == 0;
        let dir = if as_postgres {
            // Somewhere the postgres user can reach whatever TMPDIR says.
            let dir = tempfile::Builder::new()
                .prefix("imgshare-pg-")
                .tempdir_in("/tmp")
                .unwrap();
            let (uid, gid) = (
                id_number(&["-u", "postgres"]),
                id_number(&["-g", "postgres"]),
            );
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("chown the cluster directory to postgres");
            dir
        } else {
            tempfile::Builder::new()
                .prefix("imgshare-pg-")
                .tempdir()
                .unwrap()
        };
        let mut cluster = PgCluster {
            bin,
            port: free_port(),
            dir,
            as_postgres,
            running: false,
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        cluster.start();
        Some(cluster)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    /// `pg_ctl start -w` on the same port as before.
    pub fn start(&mut self) {
        assert!(!self.running, "the cluster is already running");
        let data = self.data_dir();
        let log = self.log_path();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
                "-t".as_ref(),
                PG_CTL_TIMEOUT_SECS.as_ref(),
                "-w".as_ref(),
                "start".as_ref(),
            ],
        );
        self.running = true;
    }

    /// `pg_ctl stop -m fast -w`: clients are disconnected, the server is
    /// down (the port refuses connections) when this returns.
    pub fn stop(&mut self) {
        assert!(self.running, "the cluster is not running");
        let output = self.pg_ctl_stop("fast");
        assert!(
            output.status.success(),
            "pg_ctl stop -m fast: {}\n{}\nlog:\n{}",
            output.status,
            describe(&output),
            self.log()
        );
        self.running = false;
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// A direct connection, as the superuser.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, conn) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        Ok(client)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn pg_ctl_stop(&self, mode: &str) -> std::process::Output {
        let data = self.data_dir();
        self.command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", mode, "-t", PG_CTL_TIMEOUT_SECS, "-w", "stop"])
            .output()
            .expect("pg_ctl runs")
    }

    /// `bin/<program>`, as postgres when we are root, from inside the
    /// cluster directory (the test's own may be closed to postgres).
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        };
        // pg_ctl's postmaster writes to the log file (`-l`), never to these
        // pipes, so `output()` returns once pg_ctl does.
        cmd.current_dir(self.dir.path())
            .stdin(Stdio::null())
            .env("LC_ALL", "C");
        cmd
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) {
        let output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?}: {}\n{}\nlog:\n{}",
            output.status,
            describe(&output),
            self.log()
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- private PostgreSQL log ({}) ---\n{}--- end ---",
                self.dir.path().display(),
                self.log()
            );
        }
        // Even when `running` says stopped: a failed stop may have left it up.
        // "No server running" is fine here.
        if self.data_dir().join("postmaster.pid").exists() || self.running {
            let _ = self.pg_ctl_stop("immediate");
        }
        // The TempDir field removes the directory (root may remove postgres's
        // files; otherwise they are ours).
    }
}

fn describe(output: &std::process::Output) -> String {
    format!(
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    )
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` and
/// `pg_ctl`.
pub fn bin_dir() -> Option<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version: Vec<u32> = name
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

fn euid() -> u32 {
    id_number(&["-u"])
}

/// `id <args>` as a number (`-u` / `-g`, optionally of a user).
fn id_number(args: &[&str]) -> u32 {
    let output = Command::new("id").args(args).output().expect("`id` runs");
    assert!(
        output.status.success(),
        "id {args:?}: {}",
        describe(&output)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("id {args:?}: {e}"))
}

/// A port nothing listens on right now (bound, then let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
