//! Version discovery and the image schemas (what real clients need first).

use crate::support::*;

#[tokio::test]
async fn versions_are_served_without_a_token() {
    let s = TestServer::start().await;
    for versions in [
        s.anonymous().get_root().await.unwrap(),
        s.anonymous().list_versions().await.unwrap(),
    ] {
        assert_eq!(versions.status().as_u16(), 200);
        let v = versions.into_inner();
        assert!(v.versions.iter().all(|v| v.id.starts_with("v2")));
        assert_eq!(
            v.versions.iter().filter(|v| v.status == "CURRENT").count(),
            1
        );
        let href = &v.versions[0]
            .links
            .iter()
            .find(|l| l.rel == "self")
            .unwrap()
            .href;
        assert_eq!(
            href,
            &format!("{}/v2/", s.base),
            "absolute, from the request's Host"
        );
    }
}

#[tokio::test]
async fn image_schemas_describe_what_we_return() {
    let s = TestServer::start().await;
    let schema = s
        .client(MEMBER)
        .get_image_schema(None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(schema["name"], "image");
    let images = s
        .client(MEMBER)
        .get_images_schema(None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(images["name"], "images");
    let image = s.image(OWNER, None, &[("os_type", "linux")]).await;
    let (_, _, body) = raw(
        reqwest::Method::GET,
        &s.url(&format!("/v2/images/{image}")),
        Some(OWNER),
        None,
    )
    .await;
    let props = schema["properties"].as_object().unwrap();
    for (key, value) in body.as_object().unwrap() {
        let Some(rule) = props.get(key) else {
            // Custom properties: the schema's additionalProperties is {type: string}.
            assert!(value.is_string(), "{key}");
            continue;
        };
        let types: Vec<&str> = match &rule["type"] {
            serde_json::Value::String(t) => vec![t.as_str()],
            serde_json::Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
            other => panic!("{key}: {other}"),
        };
        let actual = match value {
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "boolean",
            serde_json::Value::Number(_) => "integer",
            serde_json::Value::String(_) => "string",
            serde_json::Value::Array(_) => "array",
            serde_json::Value::Object(_) => "object",
        };
        assert!(types.contains(&actual), "{key}: {actual} not in {types:?}");
        if let Some(allowed) = rule["enum"].as_array() {
            assert!(allowed.contains(value), "{key}={value}");
        }
    }
}

/// Unknown unversioned paths get Glance's answer: 300 and the version document.
#[tokio::test]
async fn unknown_unversioned_paths_get_300_and_the_versions() {
    let s = TestServer::start().await;
    for path in ["/v3/", "/v3/images"] {
        let (status, headers, body) = raw(reqwest::Method::GET, &s.url(path), None, None).await;
        assert_eq!(status, 300, "{path}");
        assert!(headers["x-openstack-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req-"));
        assert_eq!(body["versions"][0]["id"], "v2.5", "{path}: {body}");
    }
}

/// Under `/v1/` (Huawei IMS's own API) an unknown path is 404, never Glance's
/// 300 (Huawei's SDK takes a 300 as an empty success): in the envelope for
/// `/v1/<anything>` and for the `cloudimages` routes under another name; a
/// deeper unknown path gets dropshot's own 404 body (its router cannot hold a
/// catch-all beside literal segments).
#[tokio::test]
async fn unknown_v1_paths_are_404_in_the_envelope() {
    let s = TestServer::start().await;
    for (method, path) in [
        (reqwest::Method::GET, "/v1/images"),
        (reqwest::Method::POST, "/v1/images"),
        (reqwest::Method::POST, "/v1/cloudimagez/members"),
        (reqwest::Method::DELETE, "/v1/project-a/members"),
        (reqwest::Method::GET, "/v1/project-a/quota"),
        (
            reqwest::Method::GET,
            "/v1/project-a/job/0123456789abcdef0123456789abcdef",
        ),
    ] {
        let (status, headers, body) = raw(method.clone(), &s.url(path), Some(OWNER), None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("imgshare.not_found")),
            "{method} {path}: {body}"
        );
        assert!(headers.contains_key("x-openstack-request-id"));
    }
    for path in ["/v1/project-a/unknown", "/v1/cloudimages/members/extra"] {
        let (status, _, body) = raw(reqwest::Method::GET, &s.url(path), Some(OWNER), None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    // A served path with a method it does not serve: 405 in the envelope.
    let (status, headers, body) = raw(
        reqwest::Method::PATCH,
        &s.url("/v1/cloudimages/members"),
        Some(OWNER),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("imgshare.method_not_allowed"))
    );
    assert_eq!(headers["allow"], "POST, PUT, DELETE, OPTIONS");
}
