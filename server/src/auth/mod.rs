//! Identity: a request's credentials → the [`Caller`] the domain works with.
//! Handlers call [`Identity::authenticate`] and nothing else; `domain/` and
//! `store/` never learn where an identity came from.
//!
//! Sources, in this order:
//!
//! 1. **A Huawei AK/SK signature** (`Authorization: SDK-HMAC-SHA256 …`,
//!    [`aksk`]): when a request carries one, it is judged by it alone: a bad
//!    signature is 401 even if a valid `X-Auth-Token` rides along. The key
//!    pair comes from the identity file; the project from `X-Project-Id`
//!    (which must be one the key may act in, else 403) or the key's first.
//! 2. **`X-Auth-Token`, in the identity file** ([`file`]): static tokens.
//! 3. **`X-Auth-Token`, validated by Keystone** ([`keystone`]) when
//!    `--keystone-url` is set. Keystone unreachable → 503, never 401.
//!
//! Nothing else identifies a caller: identity headers a client sends
//! (`X-Roles`, `X-Project-Id` without a signature, …) are never read as such.

pub mod aksk;
pub mod file;
pub mod keystone;

use chrono::Utc;
use http::{HeaderMap, HeaderValue, Method, Uri};

use crate::domain::model::Caller;
use crate::error::Error;
pub use file::IdentityFile;
pub use keystone::{Keystone, KeystoneConfig, KeystoneError, ServiceCredential};

/// The identity layer: every source the server was configured with.
pub struct Identity {
    file: IdentityFile,
    keystone: Option<std::sync::Arc<Keystone>>,
    /// `Keystone uri="…"`, sent with every 401 when Keystone is configured.
    www_authenticate: Option<HeaderValue>,
}

/// What a request offers as proof of identity.
pub struct Credentials<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    /// The body bytes as received (empty when the request has none); a
    /// signature covers them.
    pub body: &'a [u8],
}

impl Identity {
    pub fn new(file: IdentityFile, keystone: Option<(std::sync::Arc<Keystone>, String)>) -> Self {
        let (keystone, www_authenticate) = match keystone {
            Some((k, public_url)) => {
                let value = format!("Keystone uri=\"{}\"", public_url.trim_end_matches('/'));
                (Some(k), HeaderValue::from_str(&value).ok())
            }
            None => (None, None),
        };
        Identity {
            file,
            keystone,
            www_authenticate,
        }
    }

    /// The `WWW-Authenticate` value every 401 carries (Keystone configured).
    pub fn www_authenticate(&self) -> Option<&HeaderValue> {
        self.www_authenticate.as_ref()
    }

    /// The caller behind a request, or why there is none (401, 403, 503).
    ///
    /// Credentials that contradict each other are a 400, never a guess:
    /// two `X-Auth-Token`s, or a signature and a token of different callers.
    pub async fn authenticate(&self, req: &Credentials<'_>) -> Result<Caller, Error> {
        let mut tokens = req.headers.get_all("x-auth-token").iter();
        let token = match (tokens.next(), tokens.next()) {
            (token, None) => token,
            (Some(_), Some(_)) => {
                return Err(Error::AmbiguousCredentials(
                    "The request carries more than one X-Auth-Token header.".into(),
                ))
            }
            (None, Some(_)) => unreachable!("a second value without a first"),
        };
        let mut authorization = req.headers.get_all(http::header::AUTHORIZATION).iter();
        if let Some(first) = authorization.next() {
            let value = first.to_str().unwrap_or("");
            if aksk::is_signature(value) {
                if authorization.next().is_some() {
                    return Err(Error::SignatureRejected(
                        "More than one Authorization header.".into(),
                    ));
                }
                let signer = self.signed(req, value)?;
                if let Some(token) = token {
                    let holder = self.by_token(token).await?;
                    if holder.user_id != signer.user_id || holder.project_id != signer.project_id {
                        return Err(Error::AmbiguousCredentials(
                            "The X-Auth-Token and the request signature belong to different \
                             callers."
                                .into(),
                        ));
                    }
                }
                return Ok(signer);
            }
        }
        match token {
            Some(token) => self.by_token(token).await,
            None => Err(Error::Unauthorized),
        }
    }

    /// The holder of a token; a token that is not even UTF-8 is unknown.
    async fn by_token(&self, token: &HeaderValue) -> Result<Caller, Error> {
        let Ok(token) = token.to_str() else {
            return Err(Error::Unauthorized);
        };
        if let Some(caller) = self.file.lookup(token) {
            return Ok(caller.clone());
        }
        let Some(keystone) = &self.keystone else {
            return Err(Error::Unauthorized);
        };
        match keystone.validate(token).await {
            Ok(caller) => Ok(caller),
            Err(KeystoneError::Invalid) => Err(Error::Unauthorized),
            Err(KeystoneError::Unavailable(detail)) => Err(Error::IdentityUnavailable(detail)),
        }
    }

    fn signed(&self, req: &Credentials<'_>, authorization: &str) -> Result<Caller, Error> {
        let rejected = |e: aksk::SignatureError| Error::SignatureRejected(e.to_string());
        let auth = aksk::parse_authorization(authorization).map_err(rejected)?;
        if req.headers.contains_key("x-security-token") {
            return Err(rejected(aksk::SignatureError::SecurityToken));
        }
        // An unknown key and a wrong signature get the same answer, so the
        // 401 does not tell which access keys exist.
        let key = self
            .file
            .access_key(auth.access_key)
            .ok_or(aksk::SignatureError::Mismatch)
            .map_err(rejected)?;
        let signed = aksk::SignedRequest {
            method: req.method,
            path: req.uri.path(),
            query: req.uri.query(),
            headers: req.headers,
            body: req.body,
        };
        aksk::verify(&signed, &auth, key.signing_key(), Utc::now()).map_err(rejected)?;
        let project = match req.headers.get("x-project-id") {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| {
                Error::ProjectNotAllowed("X-Project-Id is not a valid project ID.".into())
            })?),
        };
        key.caller_for(project).cloned().ok_or_else(|| {
            // Echoed bounded: a header may be kilobytes long.
            let shown: String = project.unwrap_or_default().chars().take(64).collect();
            Error::ProjectNotAllowed(format!("This access key may not act in project {shown}."))
        })
    }
}
