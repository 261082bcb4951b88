//! `~/.arkor/credentials.json`, read and written exactly as the SDK does (docs/protocol.md §15).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnonymousCredentials {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub anonymous_id: String,
    #[serde(default, deserialize_with = "string_or_none")]
    pub arkor_cloud_api_url: Option<String>,
    #[serde(default)]
    pub org_slug: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthCredentials {
    #[serde(default)]
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: String,
    /// Unix seconds. Never checked: the reference does no refresh either.
    #[serde(default)]
    pub expires_at: f64,
    #[serde(default)]
    pub auth0_domain: String,
    #[serde(default)]
    pub audience: String,
    #[serde(default)]
    pub client_id: String,
    /// Absent on legacy files; may be `""`.
    #[serde(
        default,
        deserialize_with = "string_or_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub arkor_cloud_api_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "mode")]
pub enum Credentials {
    #[serde(rename = "anon")]
    Anonymous(AnonymousCredentials),
    #[serde(rename = "oauth")]
    OAuth(OAuthCredentials),
}

impl Credentials {
    /// The bearer token: `token` for anonymous, `accessToken` for OAuth.
    pub fn token(&self) -> &str {
        match self {
            Credentials::Anonymous(a) => &a.token,
            Credentials::OAuth(o) => &o.access_token,
        }
    }

    pub fn mode(&self) -> &'static str {
        match self {
            Credentials::Anonymous(_) => "anon",
            Credentials::OAuth(_) => "oauth",
        }
    }

    /// The URL stamped on the credentials at sign-in, when it is a string.
    pub fn cloud_api_url(&self) -> Option<&str> {
        match self {
            Credentials::Anonymous(a) => a.arkor_cloud_api_url.as_deref(),
            Credentials::OAuth(o) => o.arkor_cloud_api_url.as_deref(),
        }
    }

    /// The anonymous identity's personal org, `None` for OAuth.
    pub fn anonymous_org(&self) -> Option<&str> {
        match self {
            Credentials::Anonymous(a) => Some(&a.org_slug),
            Credentials::OAuth(_) => None,
        }
    }

    /// docs/protocol.md §14.1 `isOrgUsableFor`: anonymous credentials may only use their own org;
    /// OAuth credentials accept any org.
    pub fn can_use_org(&self, org_slug: &str) -> bool {
        match self {
            Credentials::Anonymous(a) => a.org_slug == org_slug,
            Credentials::OAuth(_) => true,
        }
    }

    /// The SDK's pretty JSON (2-space indent, no trailing newline).
    pub fn to_file_json(&self) -> String {
        // Plain strings and numbers only: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} does not hold credentials in a known shape: {reason}")]
    Shape { path: PathBuf, reason: String },
}

pub fn credentials_path(home: &Path) -> PathBuf {
    home.join(".arkor").join("credentials.json")
}

/// Read the credentials file. Missing, invalid JSON or a non-object (`null`) → `None`,
/// silently; any other read error (EACCES, EISDIR, …) propagates so a valid login that is
/// only temporarily unreadable is never overwritten by a fresh anonymous identity.
pub fn read_credentials(path: &Path) -> Result<Option<Credentials>, CredentialsError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CredentialsError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Ok(None);
    };
    parse_credentials(value).map_err(|reason| CredentialsError::Shape {
        path: path.to_path_buf(),
        reason,
    })
}

/// Fields are trusted as the SDK trusts them; only `mode` picks the shape (anything but
/// `"anon"` is read as OAuth, as the SDK's token lookup does).
fn parse_credentials(value: serde_json::Value) -> Result<Option<Credentials>, String> {
    if !value.is_object() {
        return Ok(None);
    }
    let anonymous = value.get("mode").and_then(|m| m.as_str()) == Some("anon");
    let parsed = if anonymous {
        serde_json::from_value(value).map(Credentials::Anonymous)
    } else {
        serde_json::from_value(value).map(Credentials::OAuth)
    };
    parsed.map(Some).map_err(|e| e.to_string())
}

/// Write as the SDK does: create `~/.arkor`, write a unique temp file with mode 0600,
/// chmod 0600 (a failure only warns), rename over the target; on failure remove the temp.
pub fn write_credentials(path: &Path, credentials: &Credentials) -> Result<(), CredentialsError> {
    let write_err = |source| CredentialsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(write_err)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "credentials.json".to_owned());
    let temp = dir.join(format!(
        "{file_name}.{}.{:032x}.tmp",
        std::process::id(),
        rand::random::<u128>()
    ));
    let result = write_private_file(&temp, credentials.to_file_json().as_bytes())
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(source) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(write_err(source));
    }
    Ok(())
}

fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    #[cfg(unix)]
    {
        // The umask cannot widen 0600, but a mount may ignore the create mode.
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!("could not set permissions on {}: {e}", path.display());
        }
    }
    Ok(())
}

fn string_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(match value {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_file_round_trips_in_sdk_field_order() {
        let creds = Credentials::Anonymous(AnonymousCredentials {
            token: "t".into(),
            anonymous_id: "a".into(),
            arkor_cloud_api_url: Some("http://x".into()),
            org_slug: "o".into(),
        });
        assert_eq!(
            creds.to_file_json(),
            "{\n  \"mode\": \"anon\",\n  \"token\": \"t\",\n  \"anonymousId\": \"a\",\n  \"arkorCloudApiUrl\": \"http://x\",\n  \"orgSlug\": \"o\"\n}"
        );
        let back = parse_credentials(serde_json::from_str(&creds.to_file_json()).unwrap());
        assert_eq!(back, Ok(Some(creds)));
    }

    #[test]
    fn null_and_non_objects_read_as_missing() {
        assert_eq!(parse_credentials(serde_json::Value::Null), Ok(None));
        assert_eq!(parse_credentials(serde_json::json!([1])), Ok(None));
    }

    #[test]
    fn non_string_url_is_treated_as_absent() {
        let v = serde_json::json!({"mode": "oauth", "accessToken": "at", "arkorCloudApiUrl": null});
        let creds = parse_credentials(v).unwrap().unwrap();
        assert_eq!(creds.cloud_api_url(), None);
        assert_eq!(creds.token(), "at");
    }
}
