//! `imgshare`: the command-line client for the imgshare API.
//!
//! The subcommands and their flags are generated at build time from
//! `openapi/imgshare.json` by progenitor's CLI generator (see `build.rs`); this
//! file adds what the generator leaves to its user: the server URL and token
//! (flags or environment), how results are printed (JSON on stdout) and how
//! errors end the process (the server's message on stderr, exit code 1).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use clap::{Arg, ArgMatches, Command};

#[allow(
    clippy::all,
    clippy::pedantic,
    unused_imports,
    unused_mut,
    unused_variables,
    dead_code
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/imgshare_cli.rs"));
}

use generated::{Cli, CliCommand, CliConfig};
use imgshare::builder_style::{builder, Client, Error, ResponseValue};

const URL_VARS: [&str; 2] = ["IMGSHARE_URL", "OS_IMAGE_URL"];
const TOKEN_VARS: [&str; 2] = ["IMGSHARE_TOKEN", "OS_AUTH_TOKEN"];

/// The subcommand name for an operationId: `add_member` → `add-member`.
fn subcommand_name(cmd: CliCommand) -> String {
    cmd.operation_id().replace('_', "-")
}

/// A generated subcommand, adjusted where the generator falls short.
fn subcommand(cmd: CliCommand) -> Command {
    let mut sub = Cli::<Output>::get_command(cmd).name(subcommand_name(cmd));
    let has = |sub: &Command, id: &str| sub.get_arguments().any(|a| a.get_id() == id);
    // The generator adds this flag but never reads it.
    if has(&sub, "json-body-template") {
        sub = sub.mut_arg("json-body-template", |a| a.hide(true));
    }
    // Every create-image attribute is optional, but the generator requires a
    // body file because of the free-form properties map (`extra`);
    // `Output::execute_create_image` supplies an empty map instead.
    if matches!(cmd, CliCommand::CreateImage) {
        sub = sub.mut_arg("json-body", |a| a.required(false));
    }
    sub
}

fn command() -> Command {
    let mut cli = Command::new("imgshare")
        .version(env!("CARGO_PKG_VERSION"))
        .about(
            "Command-line client for the imgshare image-member API \
             (OpenStack Image API v2 members), generated from openapi/imgshare.json.\n\
             Results are printed as JSON on stdout; errors print the server's \
             message on stderr and exit 1.",
        )
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(
            Arg::new("url")
                .long("url")
                .global(true)
                .help_heading("Connection")
                .value_name("URL")
                .help(
                    "Server root URL, e.g. http://127.0.0.1:9292 \
                     [env: IMGSHARE_URL, then OS_IMAGE_URL]",
                ),
        )
        .arg(
            Arg::new("token")
                .long("token")
                .global(true)
                .help_heading("Connection")
                .value_name("TOKEN")
                .help(
                    "Sent as X-Auth-Token on every request \
                     [env: IMGSHARE_TOKEN, then OS_AUTH_TOKEN]",
                ),
        );
    for cmd in CliCommand::iter() {
        cli = cli.subcommand(subcommand(cmd));
    }
    cli
}

/// The flag's value, else the first non-empty variable of `vars`.
fn flag_or_env(matches: &ArgMatches, flag: &str, vars: &[&str]) -> Option<String> {
    matches.get_one::<String>(flag).cloned().or_else(|| {
        vars.iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
    })
}

/// The generated paths start with `/v2`, so the base is the server root; an
/// `OS_IMAGE_URL`-style versioned endpoint (`…/v2`) is accepted too.
fn base_url(url: &str) -> &str {
    let url = url.trim_end_matches('/');
    url.strip_suffix("/v2").unwrap_or(url)
}

fn http_client(token: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let mut value = reqwest::header::HeaderValue::from_str(token)
            .map_err(|_| anyhow::anyhow!("the token is not a valid header value"))?;
        value.set_sensitive(true);
        headers.insert(imgshare::AUTH_HEADER, value);
    }
    Ok(reqwest::ClientBuilder::new()
        .default_headers(headers)
        .connect_timeout(std::time::Duration::from_secs(15))
        .timeout(std::time::Duration::from_secs(30))
        .build()?)
}

/// How results and errors are shown. `reported` records that an error has
/// already been printed, so `main` does not print it twice.
struct Output {
    client: &'static Client,
    reported: Arc<AtomicBool>,
    list: Mutex<Vec<serde_json::Value>>,
}

fn print_json<T: serde::Serialize>(value: &T) {
    use std::io::Write;
    let text = match serde_json::to_string_pretty(value) {
        Ok(text) => text,
        Err(e) => return eprintln!("imgshare: cannot print the result as JSON: {e}"),
    };
    // A closed pipe (`imgshare … | head`) is not an error worth a panic.
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("imgshare: writing to stdout: {e}")
        }
        _ => {}
    }
}

impl CliConfig for Output {
    fn success_item<T>(&self, value: &ResponseValue<T>)
    where
        T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
    {
        print_json(&**value);
    }

    fn success_no_item(&self, _value: &ResponseValue<()>) {}

    fn execute_create_image(
        &self,
        matches: &ArgMatches,
        request: &mut builder::CreateImage,
    ) -> anyhow::Result<()> {
        if !matches.contains_id("json-body") {
            let flags = std::mem::replace(request, self.client.create_image());
            *request = flags.body_map(|body| body.extra(std::collections::HashMap::new()));
        }
        Ok(())
    }

    fn error<T>(&self, value: &Error<T>)
    where
        T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
    {
        let line = match value {
            // The documented envelope: {"error": {"code", "title", "message"}}.
            Error::ErrorResponse(rv) => {
                let body = serde_json::to_value(&**rv).unwrap_or_default();
                let field = |name: &str| {
                    body.pointer(&format!("/error/{name}"))
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_string()
                };
                let status = rv.status();
                let title = match field("title") {
                    t if t.is_empty() => status.canonical_reason().unwrap_or("").to_string(),
                    t => t,
                };
                let code = field("code");
                let code = if code.is_empty() {
                    String::new()
                } else {
                    format!(" ({code})")
                };
                let message = field("message");
                format!("HTTP {} {title}{code}: {message}", status.as_u16())
            }
            Error::UnexpectedResponse(rsp) => {
                format!(
                    "HTTP {} (a response the API does not document)",
                    rsp.status()
                )
            }
            _ => return, // main prints the rest with their own Display
        };
        eprintln!("imgshare: {line}");
        self.reported.store(true, Ordering::SeqCst);
    }

    fn list_start<T>(&self)
    where
        T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
    {
        self.list.lock().unwrap().clear();
    }

    fn list_item<T>(&self, value: &T)
    where
        T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
    {
        let item = serde_json::to_value(value).unwrap_or_default();
        self.list.lock().unwrap().push(item);
    }

    fn list_end_success<T>(&self)
    where
        T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
    {
        print_json(&*self.list.lock().unwrap());
    }

    fn list_end_error<T>(&self, value: &Error<T>)
    where
        T: schemars::JsonSchema + serde::Serialize + std::fmt::Debug,
    {
        self.error(value);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let matches = command().get_matches();
    let Some((name, sub)) = matches.subcommand() else {
        unreachable!("clap requires a subcommand");
    };
    let cmd = CliCommand::iter()
        .find(|c| subcommand_name(*c) == name)
        .expect("every subcommand comes from CliCommand::iter");

    let Some(url) = flag_or_env(sub, "url", &URL_VARS) else {
        eprintln!("imgshare: no server URL: pass --url or set IMGSHARE_URL (or OS_IMAGE_URL)");
        return ExitCode::from(2);
    };
    let token = flag_or_env(sub, "token", &TOKEN_VARS);
    let http = match http_client(token.as_deref()) {
        Ok(http) => http,
        Err(e) => {
            eprintln!("imgshare: {e:#}");
            return ExitCode::from(2);
        }
    };

    // One client for the life of the process; `Output` needs a `'static` one
    // to start a fresh request builder (see `execute_create_image`).
    let client: &'static Client =
        Box::leak(Box::new(Client::new_with_client(base_url(&url), http)));
    let reported = Arc::new(AtomicBool::new(false));
    let output = Output {
        client,
        reported: reported.clone(),
        list: Mutex::new(Vec::new()),
    };
    match Cli::new(client.clone(), output).execute(cmd, sub).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !reported.load(Ordering::SeqCst) {
                eprintln!("imgshare: {e:#}");
            }
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn versioned_endpoints_are_accepted() {
        assert_eq!(base_url("http://h:9292/v2/"), "http://h:9292");
        assert_eq!(base_url("http://h:9292/"), "http://h:9292");
        assert_eq!(base_url("http://h:9292"), "http://h:9292");
    }
}
