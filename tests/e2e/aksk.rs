//! Huawei AK/SK (`SDK-HMAC-SHA256`) over HTTP: requests signed here exactly
//! as Huawei's SDK signs them (the server's own signer functions, which
//! `auth::aksk`'s unit tests check against requests captured from the real
//! SDK), and what the service answers when something is wrong.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};

use imgshare_server::auth::aksk;

use crate::support::{
    http_client, TestServer, ACCESS_KEY, OWNER, PROJECT_A, PROJECT_B, SECRET_KEY,
};

struct Signed<'a> {
    method: &'a str,
    path_and_query: &'a str,
    project: Option<&'a str>,
    body: &'a str,
    /// X-Sdk-Date offset from now, in seconds.
    skew: i64,
    secret: &'a str,
    algorithm: &'a str,
    extra: Vec<(&'a str, String)>,
}

impl<'a> Signed<'a> {
    fn new(method: &'a str, path_and_query: &'a str) -> Self {
        Signed {
            method,
            path_and_query,
            project: Some(PROJECT_A),
            body: "",
            skew: 0,
            secret: SECRET_KEY,
            algorithm: "SDK-HMAC-SHA256",
            extra: vec![],
        }
    }

    /// The headers the SDK sends, with every one of them signed.
    fn headers(&self, host: &str) -> HeaderMap {
        let date = (chrono::Utc::now() + chrono::Duration::seconds(self.skew))
            .format("%Y%m%dT%H%M%SZ")
            .to_string();
        let mut h = HeaderMap::new();
        let content_type = if self.body.is_empty() {
            "application/json"
        } else {
            "application/json;charset=utf-8"
        };
        h.insert("content-type", HeaderValue::from_static(content_type));
        h.insert("host", HeaderValue::from_str(host).unwrap());
        h.insert("x-sdk-date", HeaderValue::from_str(&date).unwrap());
        if let Some(p) = self.project {
            h.insert("x-project-id", HeaderValue::from_str(p).unwrap());
        }
        for (k, v) in &self.extra {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let (path, query) = match self.path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (self.path_and_query, None),
        };
        let method: reqwest::Method = self.method.parse().unwrap();
        let value = aksk::authorization(
            &aksk::SignedRequest {
                method: &method,
                path,
                query,
                headers: &h,
                body: self.body.as_bytes(),
            },
            ACCESS_KEY,
            self.secret.as_bytes(),
        )
        .replacen("SDK-HMAC-SHA256", self.algorithm, 1);
        h.insert("authorization", HeaderValue::from_str(&value).unwrap());
        h
    }

    async fn send(&self, srv: &TestServer) -> (u16, HeaderMap, Value) {
        self.send_with(srv, |_| {}).await
    }

    /// Sends it; `tamper` may alter the headers after signing.
    async fn send_with(
        &self,
        srv: &TestServer,
        tamper: impl FnOnce(&mut HeaderMap),
    ) -> (u16, HeaderMap, Value) {
        let host = srv.host();
        let mut headers = self.headers(&host);
        tamper(&mut headers);
        let rsp = http_client()
            .request(self.method.parse().unwrap(), srv.url(self.path_and_query))
            .headers(headers)
            .body(self.body.to_owned())
            .send()
            .await
            .unwrap();
        let status = rsp.status().as_u16();
        let headers = rsp.headers().clone();
        let body = rsp.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_signed_member_life_cycle() {
    let srv = TestServer::start().await;
    let body = json!({"name": "signed", "visibility": "shared"}).to_string();
    let mut create = Signed::new("POST", "/v2/images");
    create.body = &body;
    let (status, _, image) = create.send(&srv).await;
    assert_eq!(status, 201, "{image}");
    assert_eq!(image["owner"], PROJECT_A);
    let id = image["id"].as_str().unwrap().to_owned();

    let members = format!("/v2/images/{id}/members");
    let add = json!({"member": "project-z"}).to_string();
    let mut req = Signed::new("POST", &members);
    req.body = &add;
    let (status, _, member) = req.send(&srv).await;
    assert_eq!((status, member["status"].as_str()), (200, Some("pending")));

    let listed = format!("{members}?limit=10");
    let (status, _, list) = Signed::new("GET", &listed).send(&srv).await;
    assert_eq!(status, 200);
    assert_eq!(list["members"][0]["member_id"], "project-z");
    let one = format!("{members}/project-z");
    let (status, _, _) = Signed::new("DELETE", &one).send(&srv).await;
    assert_eq!(status, 204);

    // Without X-Project-Id the key's first project acts.
    let mut req = Signed::new("GET", &members);
    req.project = None;
    assert_eq!(req.send(&srv).await.0, 200);
    // The key's second project (reader there): it sees no image of project-a.
    let mut req = Signed::new("GET", &members);
    req.project = Some(PROJECT_B);
    let (status, _, body) = req.send(&srv).await;
    assert_eq!((status, code(&body)), (404, "IMG.0086"));
}

#[tokio::test]
async fn what_a_bad_signature_is_answered() {
    let srv = TestServer::start().await;
    let path = "/v2/images?limit=5";

    // A wrong secret: 401 in the envelope, even with a valid token riding along.
    let mut wrong = Signed::new("GET", path);
    wrong.secret = "not-the-secret";
    let (status, headers, body) = wrong
        .send_with(&srv, |h| {
            h.insert("x-auth-token", HeaderValue::from_static(OWNER));
        })
        .await;
    assert_eq!(
        (status, code(&body)),
        (401, "imgshare.unauthorized"),
        "{body}"
    );
    assert!(headers.contains_key("x-openstack-request-id"));
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("verify aksk signature fail"), "{message}");
    assert!(!message.contains(SECRET_KEY) && !message.contains("not-the-secret"));
    // The token alone works: it was the signature that decided.
    assert_eq!(
        crate::support::raw(reqwest::Method::GET, &srv.url(path), Some(OWNER), None)
            .await
            .0,
        200
    );

    // Clock skew past 15 minutes, either way; 14 minutes is fine.
    for (skew, want) in [
        (16 * 60, 401),
        (-16 * 60, 401),
        (14 * 60, 200),
        (-14 * 60, 200),
    ] {
        let mut req = Signed::new("GET", path);
        req.skew = skew;
        let (status, _, body) = req.send(&srv).await;
        assert_eq!(status, want, "skew {skew}s: {body}");
        if want == 401 {
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("clock skew"),
                "{body}"
            );
        }
    }

    // Another algorithm: named in the 401.
    let mut sm3 = Signed::new("GET", path);
    sm3.algorithm = "SDK-HMAC-SM3";
    let (status, _, body) = sm3.send(&srv).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SDK-HMAC-SM3"),
        "{body}"
    );

    // Tampered after signing: a header, the path, the method, the body.
    let (status, _, _) = Signed::new("GET", path)
        .send_with(&srv, |h| {
            h.insert("x-project-id", HeaderValue::from_static("project-b"));
        })
        .await;
    assert_eq!(status, 401);
    let good = Signed::new("GET", path);
    let host = srv.host();
    let headers = good.headers(&host);
    for (method, url) in [
        (reqwest::Method::GET, srv.url("/v2/images?limit=6")),
        (reqwest::Method::GET, srv.url("/v2/images")),
        (reqwest::Method::POST, srv.url("/v2/images?limit=5")),
    ] {
        let status = http_client()
            .request(method.clone(), &url)
            .headers(headers.clone())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, 401, "{method} {url}: replayed signature");
    }
    let add = json!({"member": "project-z"}).to_string();
    let image = srv.shared_image().await;
    let members = format!("/v2/images/{image}/members");
    let mut req = Signed::new("POST", &members);
    req.body = &add;
    let signed = req.headers(&host);
    let status = http_client()
        .post(srv.url(&members))
        .headers(signed)
        .body(json!({"member": "project-y"}).to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 401, "a changed body must not pass");

    // A project the key may not act in: 403.
    let mut req = Signed::new("GET", path);
    req.project = Some("project-c");
    let (status, _, body) = req.send(&srv).await;
    assert_eq!(
        (status, code(&body)),
        (403, "imgshare.project_not_allowed"),
        "{body}"
    );

    // An unknown key is answered like a wrong signature.
    let (status, _, body) = Signed::new("GET", path)
        .send_with(&srv, |h| {
            let v = h["authorization"]
                .to_str()
                .unwrap()
                .replace(ACCESS_KEY, "AKUNKNOWN00000000000");
            h.insert("authorization", HeaderValue::from_str(&v).unwrap());
        })
        .await;
    assert_eq!(status, 401);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("verify aksk signature fail"));

    // Temporary credentials are not issued here.
    let mut req = Signed::new("GET", path);
    req.extra.push(("x-security-token", "sts-token".into()));
    assert_eq!(req.send(&srv).await.0, 401);
}
