//! The local checks on deployment request bodies and the decoding of the cloud's
//! deployment envelopes (docs/protocol.md §14.7), following the SDK's zod schemas: issues are listed
//! as `path: message`, unknown request keys are kept, unknown envelope keys are dropped,
//! unknown item fields are kept, and `plaintext` never leaves a list-keys answer.

use serde_json::{Map, Value};

/// One failed check, zod style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub path: String,
    pub message: String,
}

impl Issue {
    fn new(path: &str, message: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

/// `path: message; path: message` with `(root)` for the empty path.
pub fn format_issues(issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| {
            let path = if i.path.is_empty() { "(root)" } else { &i.path };
            format!("{path}: {}", i.message)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

fn expected(kind: &str, got: Option<&Value>) -> String {
    format!(
        "Invalid input: expected {kind}, received {}",
        type_name(got)
    )
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

const SLUG_PATTERN_MESSAGE: &str = "slug must be 2-50 chars, lowercase letters / digits / hyphens, starting and ending with a letter or digit (e.g. \"my-model\")";

fn slug_pattern_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    b.len() >= 2 && edge(&b[0]) && edge(&b[b.len() - 1]) && b.iter().all(inner)
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn adapter_ref_ok(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    match str_field(o, "kind") {
        Some("final") => str_field(o, "jobId").is_some(),
        Some("checkpoint") => {
            str_field(o, "jobId").is_some() && o.get("step").is_some_and(Value::is_number)
        }
        _ => false,
    }
}

fn target_ok(v: Option<&Value>) -> bool {
    let Some(o) = v.and_then(Value::as_object) else {
        return false;
    };
    match str_field(o, "kind") {
        Some("adapter") => o.get("adapter").is_some_and(adapter_ref_ok),
        Some("base_model") => str_field(o, "baseModel").is_some(),
        _ => false,
    }
}

fn enum_check(
    issues: &mut Vec<Issue>,
    obj: &Map<String, Value>,
    key: &str,
    options: &[&str],
    optional: bool,
) {
    let value = obj.get(key);
    if optional && value.is_none() {
        return;
    }
    if !value
        .and_then(Value::as_str)
        .is_some_and(|s| options.contains(&s))
    {
        let list = options
            .iter()
            .map(|o| format!("\"{o}\""))
            .collect::<Vec<_>>()
            .join("|");
        issues.push(Issue::new(
            key,
            format!("Invalid option: expected one of {list}"),
        ));
    }
}

/// `POST /api/deployments` body. On success the body goes upstream as received.
pub fn check_deployment_create(body: &Value) -> Result<(), Vec<Issue>> {
    let Some(obj) = body.as_object() else {
        return Err(vec![Issue::new("", expected("object", Some(body)))]);
    };
    let mut issues = Vec::new();
    match obj.get("slug") {
        Some(Value::String(slug)) => {
            let len = utf16_len(slug);
            if len < 2 {
                issues.push(Issue::new(
                    "slug",
                    "Too small: expected string to have >=2 characters",
                ));
            }
            if len > 50 {
                issues.push(Issue::new(
                    "slug",
                    "Too big: expected string to have <=50 characters",
                ));
            }
            if !slug_pattern_ok(slug) {
                issues.push(Issue::new("slug", SLUG_PATTERN_MESSAGE));
            }
        }
        other => issues.push(Issue::new("slug", expected("string", other))),
    }
    if !target_ok(obj.get("target")) {
        issues.push(Issue::new("target", "Invalid input"));
    }
    enum_check(
        &mut issues,
        obj,
        "authMode",
        &["none", "fixed_api_key"],
        false,
    );
    enum_check(
        &mut issues,
        obj,
        "runRetentionMode",
        &["unlimited", "disabled", "days"],
        true,
    );
    let days = obj.get("runRetentionDays");
    match days {
        None => {}
        Some(Value::Number(n)) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() != 0.0 || !f.is_finite() {
                issues.push(Issue::new(
                    "runRetentionDays",
                    "Invalid input: expected int, received number",
                ));
            } else if f <= 0.0 {
                issues.push(Issue::new(
                    "runRetentionDays",
                    "Too small: expected number to be >0",
                ));
            }
        }
        other => issues.push(Issue::new("runRetentionDays", expected("number", other))),
    }
    if issues.is_empty() {
        let mode = str_field(obj, "runRetentionMode");
        if days.is_some() && mode != Some("days") {
            issues.push(Issue::new(
                "runRetentionDays",
                "runRetentionDays is only valid when runRetentionMode is \"days\".",
            ));
        }
        if mode == Some("days") && days.is_none() {
            issues.push(Issue::new(
                "runRetentionDays",
                "runRetentionMode \"days\" requires a positive integer runRetentionDays.",
            ));
        }
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(issues)
    }
}

/// `POST /api/deployments/:id/keys` body: `label` trimmed to 1–80 characters. Returns
/// the body to send upstream (the trimmed label, unknown keys kept).
pub fn check_key_create(body: &Value) -> Result<Value, Vec<Issue>> {
    let Some(obj) = body.as_object() else {
        return Err(vec![Issue::new("", expected("object", Some(body)))]);
    };
    let label = match obj.get("label") {
        Some(Value::String(label)) => label.trim(),
        other => return Err(vec![Issue::new("label", expected("string", other))]),
    };
    let len = utf16_len(label);
    if len < 1 {
        return Err(vec![Issue::new(
            "label",
            "Too small: expected string to have >=1 characters",
        )]);
    }
    if len > 80 {
        return Err(vec![Issue::new(
            "label",
            "Too big: expected string to have <=80 characters",
        )]);
    }
    let mut out = obj.clone();
    out.insert("label".into(), Value::String(label.to_owned()));
    Ok(Value::Object(out))
}

fn is_str(o: &Map<String, Value>, k: &str) -> bool {
    o.get(k).is_some_and(Value::is_string)
}

fn deployment_ok(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    ["id", "slug", "orgId", "projectId", "createdAt", "updatedAt"]
        .iter()
        .all(|k| is_str(o, k))
        && response_target_ok(o.get("target"))
        && matches!(str_field(o, "authMode"), Some("none" | "fixed_api_key"))
        && str_field(o, "urlFormat") == Some("openai_compat")
        && o.get("enabled").is_some_and(Value::is_boolean)
        && o.get("customDomain")
            .is_some_and(|d| d.is_string() || d.is_null())
        && o.get("runRetentionMode").is_none_or(Value::is_string)
        && o.get("runRetentionDays").is_none_or(Value::is_number)
}

fn response_target_ok(v: Option<&Value>) -> bool {
    target_ok(v)
}

fn key_item(v: &Value) -> Option<Value> {
    let o = v.as_object()?;
    let ok = ["id", "label", "prefix", "createdAt"]
        .iter()
        .all(|k| is_str(o, k))
        && o.get("enabled").is_some_and(Value::is_boolean)
        && o.get("lastUsedAt")
            .is_none_or(|d| d.is_string() || d.is_null());
    if !ok {
        return None;
    }
    let mut out = o.clone();
    out.remove("plaintext");
    if !out.contains_key("lastUsedAt") {
        out.insert("lastUsedAt".into(), Value::Null);
    }
    Some(Value::Object(out))
}

fn created_key_ok(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        ["id", "label", "plaintext", "prefix", "createdAt"]
            .iter()
            .all(|k| is_str(o, k))
    })
}

/// Which envelope a deployment route expects back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// `{deployments: [...]}`
    DeploymentList,
    /// `{deployment}`
    Deployment,
    /// `{keys: [...]}` (plaintext stripped)
    KeyList,
    /// `{key: {id, label, plaintext, prefix, createdAt}}`
    CreatedKey,
}

/// Decode an upstream answer into the envelope the SPA reads, or `None` when it does not
/// match the contract.
pub fn decode_envelope(envelope: Envelope, body: &Value) -> Option<Value> {
    let mut out = Map::new();
    match envelope {
        Envelope::DeploymentList => {
            let items = body.get("deployments")?.as_array()?;
            if !items.iter().all(deployment_ok) {
                return None;
            }
            out.insert("deployments".into(), Value::Array(items.clone()));
        }
        Envelope::Deployment => {
            let item = body.get("deployment")?;
            if !deployment_ok(item) {
                return None;
            }
            out.insert("deployment".into(), item.clone());
        }
        Envelope::KeyList => {
            let items = body.get("keys")?.as_array()?;
            let keys = items.iter().map(key_item).collect::<Option<Vec<_>>>()?;
            out.insert("keys".into(), Value::Array(keys));
        }
        Envelope::CreatedKey => {
            let key = body.get("key")?;
            if !created_key_ok(key) {
                return None;
            }
            out.insert("key".into(), key.clone());
        }
    }
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"slug": "my-model", "target": {"kind": "base_model", "baseModel": "m"}, "authMode": "none"})
    }

    #[test]
    fn valid_create_bodies_pass() {
        assert_eq!(check_deployment_create(&base()), Ok(()));
        let mut b = base();
        b["runRetentionMode"] = json!("days");
        b["runRetentionDays"] = json!(7);
        b["extra"] = json!(1);
        assert_eq!(check_deployment_create(&b), Ok(()));
        let adapter = json!({"slug": "ab", "authMode": "fixed_api_key",
            "target": {"kind": "adapter", "adapter": {"kind": "checkpoint", "jobId": "j", "step": 5}}});
        assert_eq!(check_deployment_create(&adapter), Ok(()));
    }

    #[test]
    fn issue_list_names_paths() {
        let err = check_deployment_create(&json!({"slug": "x", "target": {}, "authMode": "bogus"}))
            .unwrap_err();
        let text = format_issues(&err);
        assert!(text.starts_with("slug: Too small"), "{text}");
        assert!(text.contains("target: Invalid input"), "{text}");
        assert!(text.contains("authMode: Invalid option"), "{text}");
        assert_eq!(
            format_issues(&check_deployment_create(&json!(0)).unwrap_err()),
            "(root): Invalid input: expected object, received number"
        );
    }

    #[test]
    fn key_label_is_trimmed() {
        assert_eq!(
            check_key_create(&json!({"label": "  ci  ", "x": 1})),
            Ok(json!({"label": "ci", "x": 1}))
        );
        assert!(check_key_create(&json!({"label": "   "})).is_err());
        assert!(check_key_create(&json!({"label": "a".repeat(81)})).is_err());
        assert!(check_key_create(&json!({"label": "a".repeat(80)})).is_ok());
    }

    #[test]
    fn key_list_strips_plaintext_and_drops_unknown_envelope_keys() {
        let body = json!({"keys": [{"id": "k", "label": "l", "prefix": "p", "enabled": true,
            "createdAt": "t", "plaintext": "secret", "extra": 1}], "cursor": "c"});
        assert_eq!(
            decode_envelope(Envelope::KeyList, &body),
            Some(
                json!({"keys": [{"id": "k", "label": "l", "prefix": "p", "enabled": true,
                "createdAt": "t", "extra": 1, "lastUsedAt": null}]})
            )
        );
    }
}
