//! Rust client for the imgshare API, generated at build time by progenitor
//! from `openapi/imgshare.json` (see `build.rs`).
//!
//! Calls are positional: path parameters, then the optional per-call
//! `x_auth_token` (`None` with [`Client::with_token`]), then the body. Errors
//! are [`Error<types::ApiError>`](Error); a documented error response carries
//! the server's envelope (`code`, `title`, `message`).
//!
//! ```
//! # // This example runs as a doctest against a real server started
//! # // in-process (the imgshare-server dev-dependency) on a free port, with a
//! # // fresh store and one identity: project-a, token "my-token".
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let tokens = dir.path().join("tokens.toml");
//! # std::fs::write(&tokens, r#"
//! # [[tokens]]
//! # token = "my-token"
//! # project_id = "project-a"
//! # user_id = "alice"
//! # roles = ["member", "reader"]
//! # "#)?;
//! # // The server refuses an identity file others may read.
//! # std::fs::set_permissions(&tokens, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
//! # let mut config = imgshare_server::Config::new("127.0.0.1:0".parse()?, dir.path().join("data"));
//! # config.tokens = Some(tokens);
//! # let server = imgshare_server::start(&config).await?;
//! # let url = format!("http://{}", server.local_addr());
//! use imgshare::{types, Client};
//!
//! // `url` is the server's root, e.g. "http://127.0.0.1:9292".
//! let client = Client::with_token(&url, "my-token")?;
//!
//! // Create an image (visibility defaults to "shared") ...
//! let image = client
//!     .create_image(None, &types::ImageCreate {
//!         name: Some("ubuntu-22.04".into()),
//!         // Checked against the document's pattern when parsed.
//!         disk_format: Some("qcow2".parse()?),
//!         container_format: Some("bare".parse()?),
//!         ..Default::default()
//!     })
//!     .await?
//!     .into_inner();
//! assert_eq!(image.owner, "project-a");
//! let image_id = image.id.to_string();
//!
//! // ... share it with project-b: a pending membership.
//! let body = types::MemberCreate { member: "project-b".parse()? };
//! let member = client.add_member(&image_id, None, &body).await?;
//! assert_eq!(member.member_id.as_str(), "project-b");
//! assert_eq!(member.status, types::MemberStatus::Pending);
//!
//! let members = client.list_members(&image_id, None, None, None).await?.into_inner().members;
//! assert_eq!(members.len(), 1);
//!
//! // Adding it again: 409 with the server's envelope.
//! match client.add_member(&image_id, None, &body).await {
//!     Err(imgshare::Error::ErrorResponse(rsp)) => {
//!         assert_eq!(rsp.status().as_u16(), 409);
//!         assert_eq!(rsp.error.code.to_string(), "imgshare.member_duplicate");
//!         assert_eq!(
//!             rsp.error.message,
//!             format!("Member project-b is duplicated for image {image_id}")
//!         );
//!     }
//!     other => panic!("expected a 409, got {other:?}"),
//! }
//! # server.close().await?;
//! # Ok(())
//! # }
//! ```

#![allow(clippy::all, unused_imports, dead_code)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/imgshare_client.rs"));
}

pub use generated::*;

/// The same API as a builder-style client (`client.add_member().image_id(..)
/// .body_map(|b| b.member(..)).send()`), its types deriving
/// `schemars::JsonSchema`. Enabled by the `builder-style` feature; it is what
/// progenitor's CLI generator builds on (see the `imgshare-cli` crate).
#[cfg(feature = "builder-style")]
pub mod builder_style {
    #![allow(clippy::all, unused_imports, dead_code)]
    include!(concat!(env!("OUT_DIR"), "/imgshare_builder_style.rs"));
}

/// The header that carries the caller's token.
pub const AUTH_HEADER: &str = "x-auth-token";

impl Client {
    /// A client whose every request carries `X-Auth-Token: token`, so the
    /// per-call `x_auth_token` argument can be `None`.
    pub fn with_token(
        base_url: &str,
        token: &str,
    ) -> Result<Self, reqwest::header::InvalidHeaderValue> {
        let mut headers = reqwest::header::HeaderMap::new();
        let mut value = reqwest::header::HeaderValue::from_str(token)?;
        value.set_sensitive(true);
        headers.insert(AUTH_HEADER, value);
        let http = reqwest::ClientBuilder::new()
            .default_headers(headers)
            .connect_timeout(std::time::Duration::from_secs(15))
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("a reqwest client with static settings builds");
        Ok(Client::new_with_client(base_url, http))
    }
}

/// Every create-image attribute is optional, so an empty body is a valid
/// request (`..Default::default()` fills the rest).
impl Default for types::ImageCreate {
    fn default() -> Self {
        types::ImageCreate {
            container_format: None,
            disk_format: None,
            id: None,
            min_disk: None,
            min_ram: None,
            name: None,
            os_hidden: None,
            protected: None,
            tags: None,
            visibility: None,
            extra: Default::default(),
        }
    }
}
