//! Identity: `X-Auth-Token` → [`Caller`]. The embedded source is a TOML file:
//!
//! ```toml
//! [[tokens]]
//! token = "…"
//! project_id = "…"
//! user_id = "…"
//! roles = ["member", "reader"]
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::domain::model::Caller;

#[derive(Debug, Serialize, Deserialize)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TokenEntry {
    token: String,
    project_id: String,
    user_id: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// Static tokens loaded at start-up.
#[derive(Debug, Default)]
pub struct Tokens {
    by_token: HashMap<String, Caller>,
}

impl Tokens {
    pub fn lookup(&self, token: &str) -> Option<&Caller> {
        self.by_token.get(token)
    }

    pub fn len(&self) -> usize {
        self.by_token.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading tokens file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("tokens file {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let file: TokensFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut by_token = HashMap::new();
        for e in file.tokens {
            if e.token.is_empty() || e.project_id.is_empty() {
                return Err("every entry needs a non-empty token and project_id".into());
            }
            let caller = Caller {
                project_id: e.project_id,
                user_id: e.user_id,
                roles: e.roles.into_iter().map(|r| r.to_lowercase()).collect(),
            };
            if by_token.insert(e.token, caller).is_some() {
                return Err("a token appears twice".into());
            }
        }
        Ok(Tokens { by_token })
    }

    /// Writes a demo tokens file (two projects and an admin, random tokens,
    /// mode 0600) unless one exists. Returns true when it wrote one.
    pub fn create_demo_file(path: &Path) -> Result<bool, String> {
        let entries = [
            ("project-a", "alice", vec!["member", "reader"]),
            ("project-b", "bob", vec!["member", "reader"]),
            ("admin-project", "admin", vec!["admin", "member", "reader"]),
        ];
        let file = TokensFile {
            tokens: entries
                .into_iter()
                .map(|(project, user, roles)| TokenEntry {
                    token: random_token(),
                    project_id: project.into(),
                    user_id: user.into(),
                    roles: roles.into_iter().map(String::from).collect(),
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
