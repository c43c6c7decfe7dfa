//! Rust client for the imgshare API, generated at build time by progenitor
//! from `openapi/imgshare.json` (see `build.rs`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = imgshare::Client::with_token("http://127.0.0.1:9292", "my-token")?;
//! let body = imgshare::types::MemberCreate { member: "project-b".parse()? };
//! let member = client.add_member("d164b5df-1bc3-4c3f-893e-3e471fd16e64", None, &body).await?;
//! assert_eq!(member.status, imgshare::types::MemberStatus::Pending);
//! # Ok(()) }
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
