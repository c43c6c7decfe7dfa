//! The served document is the file, byte for byte; the YAML form is the same
//! document; the reference page and its script are served from this server
//! only; every answer has an ETag and honours If-None-Match; no token needed.
//! (The page itself is driven in a real browser by docs-test/.)

mod common;

use reqwest::header::{CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;

const SPEC: &str = include_str!("../../openapi/imgshare.json");
const REDOC: &[u8] = include_bytes!("../assets/redoc/redoc.standalone.js");

async fn get(http: &reqwest::Client, url: &str) -> reqwest::Response {
    http.get(url).send().await.unwrap()
}

#[tokio::test]
async fn served_spec_docs_and_etags() {
    let dir = tempfile::tempdir().unwrap();
    common::write_tokens(dir.path());
    let server = common::spawn(dir.path(), None, 128);
    let base = &server.base;
    let http = reqwest::Client::new();

    // JSON: exactly the file, no token.
    let rsp = get(&http, &format!("{base}/openapi.json")).await;
    assert_eq!(rsp.status(), StatusCode::OK);
    assert_eq!(rsp.headers()[CONTENT_TYPE], "application/json");
    let json_tag = rsp.headers()[ETAG].to_str().unwrap().to_owned();
    assert!(
        json_tag.starts_with('"') && json_tag.len() == 66,
        "{json_tag}"
    );
    assert_eq!(rsp.text().await.unwrap(), SPEC);

    // YAML: the same document.
    let rsp = get(&http, &format!("{base}/openapi.yaml")).await;
    assert_eq!(rsp.status(), StatusCode::OK);
    assert_eq!(rsp.headers()[CONTENT_TYPE], "application/yaml");
    let yaml_tag = rsp.headers()[ETAG].to_str().unwrap().to_owned();
    assert_ne!(yaml_tag, json_tag);
    let yaml: serde_json::Value = serde_yaml_ng::from_str(&rsp.text().await.unwrap()).unwrap();
    assert_eq!(
        yaml,
        serde_json::from_str::<serde_json::Value>(SPEC).unwrap()
    );

    // The page: Redoc from this server, pointed at the served document.
    let rsp = get(&http, &format!("{base}/docs")).await;
    assert_eq!(rsp.status(), StatusCode::OK);
    assert_eq!(rsp.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = rsp.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    let html = rsp.text().await.unwrap();
    assert!(
        html.contains(r#"<redoc spec-url="openapi.json">"#),
        "{html}"
    );
    assert!(html.contains(r#"src="docs/redoc.standalone.js""#), "{html}");
    assert!(
        !html.contains("http:") && !html.contains("https:"),
        "{html}"
    );

    let rsp = get(&http, &format!("{base}/docs/redoc.standalone.js")).await;
    assert_eq!(rsp.status(), StatusCode::OK);
    assert!(rsp.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let js = rsp.bytes().await.unwrap();
    assert!(js.len() > 500_000 && js.starts_with(&REDOC[..200]));
    assert!(!String::from_utf8_lossy(&js).contains("cdn.redoc.ly"));

    // Conditional requests: the current tag (strong or weak, alone or in a
    // list) gets 304 with the tag and no body; another tag gets the body.
    for header in [
        json_tag.clone(),
        format!("W/{json_tag}"),
        format!("\"other\", {json_tag}"),
        "*".to_owned(),
    ] {
        let rsp = http
            .get(format!("{base}/openapi.json"))
            .header(IF_NONE_MATCH, &header)
            .send()
            .await
            .unwrap();
        assert_eq!(rsp.status(), StatusCode::NOT_MODIFIED, "{header}");
        assert_eq!(rsp.headers()[ETAG], json_tag.as_str());
        assert!(rsp.bytes().await.unwrap().is_empty());
    }
    let rsp = http
        .get(format!("{base}/openapi.json"))
        .header(IF_NONE_MATCH, &yaml_tag)
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status(), StatusCode::OK);
    let rsp = http
        .get(format!("{base}/openapi.yaml"))
        .header(IF_NONE_MATCH, &yaml_tag)
        .send()
        .await
        .unwrap();
    assert_eq!(rsp.status(), StatusCode::NOT_MODIFIED);

    // Other methods: 405 in the envelope, with the methods served; HEAD is
    // GET without the body; OPTIONS names the methods.
    for path in [
        "/openapi.json",
        "/openapi.yaml",
        "/docs",
        "/docs/redoc.standalone.js",
    ] {
        let rsp = http.post(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(rsp.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(rsp.headers()["allow"], "GET, HEAD, OPTIONS");
        let body: serde_json::Value = rsp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "imgshare.method_not_allowed");

        let get = http.get(format!("{base}{path}")).send().await.unwrap();
        let head = http.head(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
        for h in ["content-type", "content-length", "etag"] {
            assert_eq!(
                head.headers().get(h),
                get.headers().get(h),
                "HEAD {path}: {h}"
            );
        }
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} sent a body"
        );

        let options = http
            .request(reqwest::Method::OPTIONS, format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(options.status(), StatusCode::NO_CONTENT, "OPTIONS {path}");
        assert_eq!(options.headers()["allow"], "GET, HEAD, OPTIONS");
    }

    // The paths stay out of the published document.
    let doc: serde_json::Value = serde_json::from_str(SPEC).unwrap();
    for path in ["/openapi.json", "/openapi.yaml", "/docs"] {
        assert!(doc["paths"].get(path).is_none(), "{path}");
    }
}
