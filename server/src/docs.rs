//! The API document as a product, through unpublished endpoints (they stay
//! out of the document itself, so the lockstep test does not see them):
//!
//! * `GET /openapi.json`: exactly `openapi/imgshare.json`, embedded at build
//!   time, so the binary cannot serve a different document;
//! * `GET /openapi.yaml`: the same document rendered as YAML (key order kept);
//! * `GET /docs`: a browsable reference (Redoc 2.5.4, vendored under
//!   `server/assets/redoc/` with its licence; no CDN, no external fonts);
//! * `GET /docs/redoc.standalone.js`: the vendored Redoc bundle, with the one
//!   URL it would fetch from a CDN (its logo) replaced by an inline image
//!   (`server/assets/redoc/README.md`).
//!
//! None of them needs a token. Each answer carries an `ETag` (SHA-256 of the
//! bytes) and honours `If-None-Match` with 304. Other methods get 405 in the
//! error envelope, as elsewhere.

use std::sync::LazyLock;
use std::time::Instant;

use dropshot::{Body, HttpError, RequestContext};
use http::{HeaderValue, Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::fallback::Registrar;
use crate::http::{answered, AppState};
use crate::reply::{request_id, REQUEST_ID_HEADER};

/// The hand-written document, byte for byte.
pub const SPEC_JSON: &str = include_str!("../../openapi/imgshare.json");
const REDOC_JS: &[u8] = include_bytes!("../assets/redoc/redoc.standalone.js");
const DOCS_HTML: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>imgshare API reference</title>
<link rel="icon" href="data:,">
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="openapi.json"></redoc>
<script src="docs/redoc.standalone.js"></script>
</body>
</html>
"#;
/// Redoc's footer logo comes from its CDN; served as an empty inline SVG instead.
const REDOC_CDN_LOGO: &str = "https://cdn.redoc.ly/redoc/logo-mini.svg";
const INLINE_LOGO: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E";

/// The bundle as served: the vendored file with its one CDN URL made inline.
fn redoc_bundle() -> Vec<u8> {
    let js = std::str::from_utf8(REDOC_JS).expect("the Redoc bundle is UTF-8");
    assert_eq!(
        js.matches(REDOC_CDN_LOGO).count(),
        1,
        "the vendored Redoc bundle no longer loads {REDOC_CDN_LOGO} once: see server/assets/redoc/README.md"
    );
    js.replace(REDOC_CDN_LOGO, INLINE_LOGO).into_bytes()
}

/// Everything the page loads comes from this server.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                        img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                        worker-src 'self' blob:; object-src 'none'; base-uri 'none'; \
                        frame-ancestors 'none'";

/// The document as YAML: the JSON text read as YAML (JSON is a subset), so the
/// mapping order of the file is kept, then written out as block YAML.
pub fn spec_yaml() -> &'static str {
    static YAML: LazyLock<String> = LazyLock::new(|| {
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(SPEC_JSON).expect("openapi/imgshare.json reads as YAML");
        serde_yaml_ng::to_string(&value).expect("the document renders as YAML")
    });
    &YAML
}

/// One served file: its bytes, media type and entity tag.
struct Asset {
    bytes: &'static [u8],
    content_type: &'static str,
    etag: String,
}

impl Asset {
    fn new(bytes: &'static [u8], content_type: &'static str) -> Self {
        let digest = Sha256::digest(bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Asset {
            bytes,
            content_type,
            etag: format!("\"{hex}\""),
        }
    }
}

static JSON: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(SPEC_JSON.as_bytes(), "application/json"));
static YAML: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(spec_yaml().as_bytes(), "application/yaml"));
static HTML: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(DOCS_HTML.as_bytes(), "text/html; charset=utf-8"));
static REDOC: LazyLock<Asset> = LazyLock::new(|| {
    let bytes: &'static [u8] = Vec::leak(redoc_bundle());
    Asset::new(bytes, "text/javascript; charset=utf-8")
});

/// Does `If-None-Match` (a list of tags, or `*`) match `etag`? Weak
/// comparison, as RFC 9110 asks for `If-None-Match`.
fn none_match(header: Option<&HeaderValue>, etag: &str) -> bool {
    let Some(value) = header.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').map(str::trim).any(|tag| {
        tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag.trim_start_matches("W/")
    })
}

fn serve(rqctx: &RequestContext<AppState>, asset: &Asset) -> Response<Body> {
    let matched = none_match(
        rqctx.request.headers().get(http::header::IF_NONE_MATCH),
        &asset.etag,
    );
    let mut rsp = if matched {
        let mut rsp = Response::new(Body::empty());
        *rsp.status_mut() = StatusCode::NOT_MODIFIED;
        rsp
    } else {
        let mut rsp = Response::new(Body::from(bytes::Bytes::from_static(asset.bytes)));
        rsp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        rsp
    };
    let h = rsp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&asset.etag) {
        h.insert(http::header::ETAG, v);
    }
    // Always revalidate: the tag makes that cheap.
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id(rqctx)) {
        h.insert(REQUEST_ID_HEADER, v);
    }
    rsp
}

#[dropshot::endpoint { method = GET, path = "/openapi.json", unpublished = true }]
async fn openapi_json(rqctx: RequestContext<AppState>) -> Result<Response<Body>, HttpError> {
    Ok(answered(&rqctx, Instant::now(), serve(&rqctx, &JSON)))
}

#[dropshot::endpoint { method = GET, path = "/openapi.yaml", unpublished = true }]
async fn openapi_yaml(rqctx: RequestContext<AppState>) -> Result<Response<Body>, HttpError> {
    Ok(answered(&rqctx, Instant::now(), serve(&rqctx, &YAML)))
}

#[dropshot::endpoint { method = GET, path = "/docs", unpublished = true }]
async fn docs_page(rqctx: RequestContext<AppState>) -> Result<Response<Body>, HttpError> {
    Ok(answered(&rqctx, Instant::now(), docs_response(&rqctx)))
}

#[dropshot::endpoint { method = GET, path = "/docs/redoc.standalone.js", unpublished = true }]
async fn docs_redoc(rqctx: RequestContext<AppState>) -> Result<Response<Body>, HttpError> {
    Ok(answered(&rqctx, Instant::now(), serve(&rqctx, &REDOC)))
}

fn docs_response(rqctx: &RequestContext<AppState>) -> Response<Body> {
    let mut rsp = serve(rqctx, &HTML);
    rsp.headers_mut().insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    );
    rsp
}

/// (operationId, path) of every operation the served document publishes.
pub fn published_routes() -> Result<Vec<(String, String)>, String> {
    let doc: serde_json::Value =
        serde_json::from_str(SPEC_JSON).map_err(|e| format!("openapi/imgshare.json: {e}"))?;
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for op in item.as_object().into_iter().flat_map(|m| m.values()) {
            if let Some(id) = op.get("operationId").and_then(|v| v.as_str()) {
                routes.push((id.to_owned(), path.clone()));
            }
        }
    }
    Ok(routes)
}

/// `HEAD` for each path above: the same answer without its body.
macro_rules! head {
    ($api:ident; $($name:ident = $path:tt => $answer:expr;)+) => {
        $(
            #[dropshot::endpoint { method = HEAD, path = $path, unpublished = true }]
            async fn $name(rqctx: RequestContext<AppState>) -> Result<Response<Body>, HttpError> {
                let answer: fn(&RequestContext<AppState>) -> Response<Body> = $answer;
                Ok(answered(&rqctx, Instant::now(), answer(&rqctx)))
            }
            $api.register($name).map_err(|e| e.to_string())?;
        )+
    };
}

/// Adds the document, its YAML form and the reference page, with `HEAD`,
/// `OPTIONS` and 405s for the other methods on those paths.
pub fn register(api: &mut Registrar) -> Result<(), String> {
    use crate::fallback::{methods, options, refused, Scope};
    for result in [
        api.register(openapi_json),
        api.register(openapi_yaml),
        api.register(docs_page),
        api.register(docs_redoc),
    ] {
        result.map_err(|e| e.to_string())?;
    }
    head!(api;
        json_head = "/openapi.json" => |r| serve(r, &JSON);
        yaml_head = "/openapi.yaml" => |r| serve(r, &YAML);
        docs_head = "/docs" => docs_response;
        redoc_head = "/docs/redoc.standalone.js" => |r| serve(r, &REDOC);
    );
    const GET: &str = "GET, HEAD, OPTIONS";
    methods!(api; "/openapi.json", GET; options = json_options;
        json_post = POST, json_put = PUT, json_delete = DELETE, json_patch = PATCH);
    methods!(api; "/openapi.yaml", GET; options = yaml_options;
        yaml_post = POST, yaml_put = PUT, yaml_delete = DELETE, yaml_patch = PATCH);
    methods!(api; "/docs", GET; options = docs_options;
        docs_post = POST, docs_put = PUT, docs_delete = DELETE, docs_patch = PATCH);
    methods!(api; "/docs/redoc.standalone.js", GET; options = redoc_options;
        redoc_post = POST, redoc_put = PUT, redoc_delete = DELETE, redoc_patch = PATCH);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_is_the_same_document() {
        let from_yaml: serde_json::Value = serde_yaml_ng::from_str(spec_yaml()).unwrap();
        let from_json: serde_json::Value = serde_json::from_str(SPEC_JSON).unwrap();
        assert_eq!(from_yaml, from_json);
        // The file's key order is kept: `openapi` first, then `info`.
        assert!(
            spec_yaml().starts_with("openapi: 3.0.3\ninfo:"),
            "{}",
            &spec_yaml()[..40]
        );
    }

    #[test]
    fn redoc_bundle_loads_nothing_from_its_cdn() {
        let js = String::from_utf8(redoc_bundle()).unwrap();
        assert!(!js.contains("cdn.redoc.ly"));
        assert_eq!(
            js.len(),
            REDOC_JS.len() - REDOC_CDN_LOGO.len() + INLINE_LOGO.len()
        );
    }

    #[test]
    fn if_none_match() {
        let tag = "\"abc\"";
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert!(none_match(Some(&h("\"abc\"")), tag));
        assert!(none_match(Some(&h("W/\"abc\"")), tag));
        assert!(none_match(Some(&h("\"x\", \"abc\"")), tag));
        assert!(none_match(Some(&h("*")), tag));
        assert!(!none_match(Some(&h("\"abd\"")), tag));
        assert!(!none_match(None, tag));
    }
}
