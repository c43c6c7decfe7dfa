//! The identity file (`--tokens`, TOML): static tokens and Huawei AK/SK
//! key pairs, loaded at start-up.
//!
//! ```toml
//! [[tokens]]
//! token = "…"
//! project_id = "…"
//! user_id = "…"
//! roles = ["member", "reader"]
//! domain_id = "…"          # optional: the account (Huawei) / domain (Keystone)
//! organization_path = "o-…/r-…/ou-…"   # optional: the account's place in its organization
//!
//! [[access_keys]]
//! access_key = "…"
//! secret_key = "…"
//! project_id = "…"
//! user_id = "…"
//! roles = ["member", "reader"]
//! domain_id = "…"          # optional
//! organization_path = "…"  # optional
//! ```
//!
//! One access key may be listed once per project it may act in (same secret,
//! same user); the request's `X-Project-Id` picks the entry, and without one
//! the key's first entry is used.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::domain::model::Caller;

#[derive(Debug, Serialize, Deserialize)]
struct IdentityFileText {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
    #[serde(default)]
    access_keys: Vec<AccessKeyEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TokenEntry {
    token: String,
    project_id: String,
    user_id: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    domain_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    organization_path: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessKeyEntry {
    access_key: String,
    secret_key: String,
    project_id: String,
    user_id: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    domain_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    organization_path: Option<String>,
}

/// An access key: its secret and the identities it may act as, one per project.
pub struct AccessKey {
    secret: Vec<u8>,
    /// The secret, prepared for HMAC once.
    key: super::aksk::SigningKey,
    /// In file order; the first is the default project.
    callers: Vec<Caller>,
}

impl AccessKey {
    pub fn signing_key(&self) -> &super::aksk::SigningKey {
        &self.key
    }

    /// The identity for `project` (`None`: the key's first project), or
    /// `None` when the key may not act in that project.
    pub fn caller_for(&self, project: Option<&str>) -> Option<&Caller> {
        match project {
            None => self.callers.first(),
            Some(p) => self.callers.iter().find(|c| c.in_project(p)),
        }
    }
}

impl std::fmt::Debug for AccessKey {
    // Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("callers", &self.callers)
            .finish_non_exhaustive()
    }
}

/// Static tokens and access keys loaded at start-up.
#[derive(Default)]
pub struct IdentityFile {
    by_token: HashMap<String, Caller>,
    by_access_key: HashMap<String, AccessKey>,
}

impl std::fmt::Debug for IdentityFile {
    // The tokens are the map's keys: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityFile")
            .field("tokens", &self.by_token.len())
            .field("access_keys", &self.by_access_key)
            .finish()
    }
}

fn caller(
    project_id: String,
    user_id: String,
    roles: Vec<String>,
    domain_id: Option<String>,
    organization_path: Option<String>,
) -> Caller {
    Caller {
        project_id: Some(project_id),
        user_id,
        domain_id,
        organization_path,
        roles: roles.into_iter().map(|r| r.to_lowercase()).collect(),
    }
}

impl IdentityFile {
    pub fn lookup(&self, token: &str) -> Option<&Caller> {
        self.by_token.get(token)
    }

    pub fn access_key(&self, access_key: &str) -> Option<&AccessKey> {
        self.by_access_key.get(access_key)
    }

    /// Tokens plus access keys.
    pub fn len(&self) -> usize {
        self.by_token.len() + self.by_access_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads the file; refuses one that group or others may access (it
    /// holds tokens and secret keys), as ssh refuses such a private key.
    pub fn load(path: &Path) -> Result<Self, String> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| format!("reading identity file {}: {e}", path.display()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(format!(
                    "identity file {} is accessible by group or others (mode {:03o}); it holds \
                     tokens and secret keys, so only its owner may read it. Fix: chmod 600 {}",
                    path.display(),
                    mode & 0o777,
                    path.display()
                ));
            }
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading identity file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("identity file {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        // toml's messages quote the offending line, which may hold a secret:
        // report the position only.
        let file: IdentityFileText = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => {
                let line = text[..span.start].matches('\n').count() + 1;
                format!("invalid TOML or unknown key at line {line}")
            }
            None => "invalid TOML".to_owned(),
        })?;
        let mut by_token = HashMap::new();
        for e in file.tokens {
            if e.token.is_empty() || e.project_id.is_empty() {
                return Err("every [[tokens]] entry needs a non-empty token and project_id".into());
            }
            let c = caller(
                e.project_id,
                e.user_id,
                e.roles,
                e.domain_id,
                e.organization_path,
            );
            if by_token.insert(e.token, c).is_some() {
                return Err("a token appears twice".into());
            }
        }
        let mut by_access_key: HashMap<String, AccessKey> = HashMap::new();
        for e in file.access_keys {
            if e.access_key.is_empty() || e.secret_key.is_empty() || e.project_id.is_empty() {
                return Err(
                    "every [[access_keys]] entry needs a non-empty access_key, secret_key and \
                     project_id"
                        .into(),
                );
            }
            if !e
                .access_key
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b',')
            {
                return Err("an access_key holds a space, a comma or a control character".into());
            }
            let c = caller(
                e.project_id,
                e.user_id,
                e.roles,
                e.domain_id,
                e.organization_path,
            );
            match by_access_key.get_mut(&e.access_key) {
                None => {
                    by_access_key.insert(
                        e.access_key,
                        AccessKey {
                            key: super::aksk::SigningKey::new(e.secret_key.as_bytes()),
                            secret: e.secret_key.into_bytes(),
                            callers: vec![c],
                        },
                    );
                }
                Some(key) => {
                    let project = c.project_id.clone().unwrap_or_default();
                    if key.secret != e.secret_key.as_bytes() || key.callers[0].user_id != c.user_id
                    {
                        return Err(format!(
                            "access key {} is listed with different secrets or users",
                            e.access_key
                        ));
                    }
                    if key.caller_for(Some(&project)).is_some() {
                        return Err(format!(
                            "access key {} lists project {project} twice",
                            e.access_key
                        ));
                    }
                    key.callers.push(c);
                }
            }
        }
        Ok(IdentityFile {
            by_token,
            by_access_key,
        })
    }

    /// Writes a demo identity file (two projects and an admin, random tokens,
    /// one key pair per demo project; mode 0600) unless one exists. Returns
    /// true when it wrote one.
    pub fn create_demo_file(path: &Path) -> Result<bool, String> {
        let entries = [
            ("project-a", "alice", vec!["member", "reader"]),
            ("project-b", "bob", vec!["member", "reader"]),
            ("admin-project", "admin", vec!["admin", "member", "reader"]),
        ];
        let roles = |r: &[&str]| r.iter().map(|s| String::from(*s)).collect::<Vec<_>>();
        let file = IdentityFileText {
            tokens: entries
                .iter()
                .map(|(project, user, r)| TokenEntry {
                    token: random_token(),
                    project_id: (*project).into(),
                    user_id: (*user).into(),
                    roles: roles(r),
                    domain_id: None,
                    organization_path: None,
                })
                .collect(),
            access_keys: entries[..2]
                .iter()
                .map(|(project, user, r)| AccessKeyEntry {
                    access_key: random_access_key(),
                    secret_key: random_secret_key(),
                    project_id: (*project).into(),
                    user_id: (*user).into(),
                    roles: roles(r),
                    domain_id: None,
                    organization_path: None,
                })
                .collect(),
        };
        let text = toml::to_string_pretty(&file).map_err(|e| e.to_string())?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut f) => {
                let header = "# imgshare demo identities, written on first start. \
                              Replace with your own.\n";
                f.write_all(header.as_bytes())
                    .and_then(|_| f.write_all(text.as_bytes()))
                    .and_then(|_| f.sync_all())
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(format!("creating {}: {e}", path.display())),
        }
    }
}

fn random_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 20 upper-case letters and digits, as Huawei's access keys look.
fn random_access_key() -> String {
    random_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 20)
}

/// 40 letters and digits, as Huawei's secret keys look.
fn random_secret_key() -> String {
    random_from(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        40,
    )
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}
