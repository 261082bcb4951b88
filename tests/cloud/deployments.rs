//! The `/api/deployments…` family.

use serde_json::{Value, json};

use super::fake::{Canned, deployment};
use super::harness::{Builder, FAKE, oauth_credentials, state};

const SUNSET: &str = "Wed, 01 Jan 2030 00:00:00 GMT";
const VALID_CREATE: &str =
    r#"{"slug":"my-model","target":{"kind":"base_model","baseModel":"m"},"authMode":"none"}"#;

#[tokio::test]
async fn case_21_list_without_state_is_scope_missing_without_any_call() {
    let studio = Builder::new()
        .credentials(None)
        .auto_anonymous(false)
        .start()
        .await;
    let reply = studio.get("/api/deployments").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({"deployments": [], "scopeMissing": true})
    );
    assert!(studio.fake.requests().is_empty());
}

#[tokio::test]
async fn case_22_list_forwards_the_scope_and_passes_items_back() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    let reply = studio.get("/api/deployments").await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["deployments"][0]["slug"], "x");
    assert_eq!(
        body["deployments"][0]["futureField"], 1,
        "unknown item fields kept"
    );
    assert!(
        body.get("cursor").is_none(),
        "unknown envelope keys dropped"
    );
    let sent = studio.fake.requests_to("GET", "/v1/endpoints");
    assert_eq!(
        sent[0].uri(),
        "/v1/endpoints?orgSlug=anon-org&projectSlug=p"
    );
    assert_eq!(sent[0].header("authorization"), Some("Bearer tok"));
}

#[tokio::test]
async fn list_answer_that_breaks_the_schema_is_an_opaque_500() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    let mut broken = deployment("d1", "x");
    broken["urlFormat"] = json!("native");
    studio.fake.on(
        "GET",
        "/v1/endpoints",
        Canned::json(200, json!({"deployments": [broken]})),
    );
    let reply = studio.get("/api/deployments").await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json(), json!({"error": "Studio backend error"}));
}

#[tokio::test]
async fn case_23_upstream_conflict_on_create_keeps_its_message() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    studio.fake.on(
        "POST",
        "/v1/endpoints",
        Canned::json(409, json!({"error": "Deployment slug is already taken"})),
    );
    let reply = studio.post("/api/deployments", VALID_CREATE).await;
    assert_eq!(reply.status, 409);
    assert_eq!(
        reply.json(),
        json!({"error": "Deployment slug is already taken"})
    );
}

#[tokio::test]
async fn case_24_re_emitted_warning_is_escaped() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    studio.fake.on(
        "GET",
        "/v1/endpoints",
        Canned::json(200, json!({"deployments": []}))
            .header("Deprecation", "true")
            .header("Warning", r##"299 - "use "v2" \ now" now""##),
    );
    let reply = studio.get("/api/deployments").await;
    assert_eq!(reply.status, 200);
    let warning = reply.header("warning").expect("warning re-emitted");
    assert_eq!(warning, r#"299 - "use \"v2\" \\ now\" now""#);
    let inner = &warning["299 - \"".len()..warning.len() - 1];
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => assert!(matches!(chars.next(), Some('\\' | '"')), "{warning}"),
            '"' | '\r' | '\n' => panic!("bare {c:?} in {warning}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn case_25_deprecation_on_success_and_on_error() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    studio.fake.on(
        "GET",
        "/v1/endpoints",
        Canned::json(200, json!({"deployments": []})).deprecated("299 - \"old\"", SUNSET),
    );
    studio.fake.on(
        "POST",
        "/v1/endpoints",
        Canned::json(409, json!({"error": "taken"})).deprecated("299 - \"old\"", SUNSET),
    );
    for reply in [
        studio.get("/api/deployments").await,
        studio.post("/api/deployments", VALID_CREATE).await,
    ] {
        assert_eq!(reply.header("deprecation"), Some("true"), "{}", reply.text);
        assert_eq!(reply.header("warning"), Some("299 - \"old\""));
        assert_eq!(reply.header("sunset"), Some(SUNSET));
    }
    // Never on the early local answers.
    let early = studio.post("/api/deployments", "{not json").await;
    assert!(early.header("deprecation").is_none());
    assert_eq!(studio.notices().len(), 1, "shown once");
}

#[tokio::test]
async fn case_26_anonymous_create_without_state_bootstraps_first() {
    let studio = Builder::new().start().await;
    let reply = studio.post("/api/deployments", VALID_CREATE).await;
    assert_eq!(
        reply.status, 200,
        "upstream 201 becomes 200: {}",
        reply.text
    );
    assert_eq!(reply.json()["deployment"]["id"], "d-new");
    let order: Vec<String> = studio
        .fake
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.uri()))
        .collect();
    assert_eq!(
        order,
        [
            "POST /v1/projects?orgSlug=anon-org",
            "POST /v1/endpoints?orgSlug=anon-org&projectSlug=auto-slug"
        ]
    );
    let create = &studio.fake.requests_to("POST", "/v1/endpoints")[0];
    assert_eq!(
        create.json(),
        serde_json::from_str::<Value>(VALID_CREATE).unwrap()
    );
    assert_eq!(create.header("content-type"), Some("application/json"));
    assert!(studio.state_text().is_some());
}

#[tokio::test]
async fn case_27_parse_failure_differs_from_falsy_bodies() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    let reply = studio.post("/api/deployments", "{not json").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json(), json!({"error": "Invalid JSON body"}));
    for body in ["false", "0", "\"\"", "null", "[]"] {
        let reply = studio.post("/api/deployments", body).await;
        assert_eq!(reply.status, 400);
        assert!(
            reply
                .error()
                .starts_with("Invalid deployment create body: (root): "),
            "{body}: {}",
            reply.text
        );
    }
    assert!(studio.fake.requests().is_empty());
}

#[tokio::test]
async fn case_28_patch_and_key_create_need_json_objects() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    for body in ["false", "0", "\"\"", "[]", "null"] {
        let patch = studio.patch("/api/deployments/dep-1", body).await;
        assert_eq!(patch.status, 400);
        assert!(
            patch.error().contains("must be a JSON object"),
            "{}",
            patch.text
        );
        let key = studio.post("/api/deployments/dep-1/keys", body).await;
        assert_eq!(key.status, 400);
        assert!(key.error().contains("`label`"), "{}", key.text);
    }
    let patch = studio.patch("/api/deployments/dep-1", "{oops").await;
    assert_eq!(patch.json(), json!({"error": "Invalid JSON body"}));
    assert!(studio.fake.requests().is_empty());
}

#[tokio::test]
async fn case_29_key_label_checks() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    let long = json!({"label": "x".repeat(81)}).to_string();
    for body in [
        r#"{}"#,
        r#"{"label":123}"#,
        r#"{"label":""}"#,
        r#"{"label":"   "}"#,
        &long,
    ] {
        let reply = studio.post("/api/deployments/dep-1/keys", body).await;
        assert_eq!(reply.status, 400, "{body}");
        let error = reply.error();
        assert!(
            error.contains("`label`") && error.contains("1-80"),
            "{error}"
        );
    }
    assert!(studio.fake.requests().is_empty());
}

#[tokio::test]
async fn case_30_bad_create_bodies_never_reach_upstream() {
    let studio = Builder::new().start().await;
    let base = || json!({"slug": "valid-slug", "target": {"kind": "base_model", "baseModel": "m"}, "authMode": "none"});
    let with = |k: &str, v: Value| {
        let mut b = base();
        b[k] = v;
        b
    };
    let mut days_unlimited = with("runRetentionMode", json!("unlimited"));
    days_unlimited["runRetentionDays"] = json!(7);
    let mut negative = with("runRetentionMode", json!("days"));
    negative["runRetentionDays"] = json!(-1);
    let cases = [
        with("authMode", json!("bogus")),
        with("target", json!({})),
        with(
            "target",
            json!({"kind": "adapter", "adapter": {"jobId": "j"}}),
        ),
        with("slug", json!("x")),
        with("slug", json!("-bad-leading")),
        with("runRetentionMode", json!("bogus")),
        days_unlimited,
        with("runRetentionMode", json!("days")),
        negative,
    ];
    for body in cases {
        let reply = studio.post("/api/deployments", &body.to_string()).await;
        assert_eq!(reply.status, 400, "{body}");
        assert!(
            reply
                .error()
                .starts_with("Invalid deployment create body: "),
            "{}",
            reply.text
        );
    }
    assert!(studio.fake.requests().is_empty(), "no bootstrap, no create");
    assert!(studio.state_text().is_none());
}

#[tokio::test]
async fn case_31_oauth_create_without_state_asks_for_the_file_by_hand() {
    let studio = Builder::new()
        .credentials(Some(oauth_credentials(FAKE)))
        .start()
        .await;
    let reply = studio.post("/api/deployments", VALID_CREATE).await;
    assert_eq!(reply.status, 400);
    let error = reply.error();
    assert!(
        error.contains(".arkor/state.json") && error.contains("by hand"),
        "{error}"
    );
    assert!(studio.fake.requests().is_empty());
}

#[tokio::test]
async fn case_32_get_and_patch_forward_to_the_endpoint() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    let reply = studio.get("/api/deployments/dep-1").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["deployment"]["id"], "dep-1");
    let reply = studio
        .patch("/api/deployments/dep-1", r#"{"enabled":false}"#)
        .await;
    assert_eq!(reply.status, 200);
    let sent = studio.fake.requests();
    assert_eq!(
        sent[0].uri(),
        "/v1/endpoints/dep-1?orgSlug=anon-org&projectSlug=p"
    );
    assert_eq!(sent[1].method, "PATCH");
    assert_eq!(
        sent[1].uri(),
        "/v1/endpoints/dep-1?orgSlug=anon-org&projectSlug=p"
    );
    assert_eq!(&sent[1].body[..], br#"{"enabled":false}"#);
}

#[tokio::test]
async fn case_33_deletes_normalise_204_to_an_empty_object() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    for path in ["/api/deployments/dep-1", "/api/deployments/dep-1/keys/k1"] {
        let reply = studio.delete(path).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text, "{}");
    }
    let paths: Vec<String> = studio
        .fake
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        paths,
        [
            "DELETE /v1/endpoints/dep-1",
            "DELETE /v1/endpoints/dep-1/keys/k1"
        ]
    );
}

#[tokio::test]
async fn case_34_keys_list_and_create() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    let list = studio.get("/api/deployments/dep-1/keys").await;
    assert_eq!(list.status, 200);
    let keys = list.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter().all(|k| k.get("plaintext").is_none()),
        "plaintext stripped from lists"
    );
    let created = studio
        .post(
            "/api/deployments/dep-1/keys",
            r#"{"label":"  ci  ","note":1}"#,
        )
        .await;
    assert_eq!(created.status, 200, "upstream 201 → 200");
    assert_eq!(created.json()["key"]["plaintext"], "ark_live_secret");
    let sent = studio.fake.requests();
    assert_eq!(
        sent[0].uri(),
        "/v1/endpoints/dep-1/keys?orgSlug=anon-org&projectSlug=p"
    );
    assert_eq!(
        sent[1].json(),
        json!({"label": "ci", "note": 1}),
        "trimmed label, unknown keys kept"
    );
}

#[tokio::test]
async fn case_35_reads_without_state_are_404_without_calls() {
    let studio = Builder::new()
        .credentials(None)
        .auto_anonymous(false)
        .start()
        .await;
    for path in ["/api/deployments/dep-1", "/api/deployments/dep-1/keys"] {
        let reply = studio.get(path).await;
        assert_eq!(reply.status, 404);
        assert!(
            reply.error().contains(".arkor/state.json"),
            "{}",
            reply.text
        );
    }
    assert!(studio.fake.requests().is_empty());
}

#[tokio::test]
async fn case_36_state_without_credentials_is_401_with_a_login_hint() {
    let studio = Builder::new()
        .credentials(None)
        .auto_anonymous(false)
        .state(state("anon-org", "p"))
        .start()
        .await;
    let reply = studio.get("/api/deployments/dep-1").await;
    assert_eq!(reply.status, 401);
    let error = reply.error();
    assert!(
        error.to_lowercase().contains("no credentials on file"),
        "{error}"
    );
    assert!(error.contains("arkor login"), "{error}");
    assert!(studio.fake.requests().is_empty());
}

#[tokio::test]
async fn case_37_stale_scope_list_read_and_create() {
    let studio = Builder::new()
        .state(state("anon-previous", "old"))
        .start()
        .await;
    let before = studio.state_text();
    let list = studio.get("/api/deployments").await;
    assert_eq!(list.status, 200);
    assert_eq!(
        list.json(),
        json!({"deployments": [], "scopeMissing": true})
    );
    let read = studio.get("/api/deployments/dep-1").await;
    assert_eq!(read.status, 409);
    assert!(read.error().contains(".arkor/state.json"));
    let create = studio.post("/api/deployments", VALID_CREATE).await;
    assert_eq!(create.status, 409);
    assert!(studio.fake.requests().is_empty());
    assert_eq!(studio.state_text(), before);
}
