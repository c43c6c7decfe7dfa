//! Huawei Cloud AK/SK request signatures (`SDK-HMAC-SHA256`), verified the
//! way Huawei's SDKs compute them (see `../shared/reference/huawei-sdk.md`,
//! §1.2–§1.4):
//!
//! ```text
//! canonical = METHOD \n URI/ \n QUERY \n name:value\n… \n signed;headers \n hex(sha256(body))
//! to_sign   = "SDK-HMAC-SHA256" \n X-Sdk-Date \n hex(sha256(canonical))
//! signature = hex(hmac_sha256(SK as bytes, to_sign))
//! ```
//!
//! The canonical request is rebuilt from the raw request target (never the
//! router's decoded parameters), so a `%2F` inside a member id and a literal
//! `+` in a query value are judged exactly as the client signed them.

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, Method};
use sha2::{Digest, Sha256};

/// The only algorithm accepted.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// How far `X-Sdk-Date` may be from the server's clock (Huawei API Gateway's rule).
pub const MAX_SKEW_SECS: i64 = 15 * 60;
/// SHA-256 of the empty string: the payload hash of a request without a body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const CONTENT_SHA256: &str = "x-sdk-content-sha256";

/// Why a signed request was refused. Every variant is a 401 except where the
/// caller maps it otherwise; messages name the cause but never a secret.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Unsupported signing algorithm {0}; this service accepts SDK-HMAC-SHA256.")]
    Algorithm(String),
    #[error("Malformed Authorization header: expected `SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…`.")]
    Malformed,
    #[error("SignedHeaders must be lower-case, sorted, and include host and x-sdk-date.")]
    SignedHeaders,
    #[error("Signed header {0} is missing from the request.")]
    MissingHeader(String),
    #[error("Header {0} is present but not signed.")]
    UnsignedHeader(&'static str),
    #[error("Header {0} appears more than once.")]
    RepeatedHeader(String),
    #[error("X-Sdk-Date must be YYYYMMDDTHHMMSSZ (UTC).")]
    Date,
    #[error(
        "Signature expired (clock skew): signature time {signed}, server time {server}; \
         requests must be signed within 15 minutes of the server's clock."
    )]
    Skew { signed: String, server: String },
    #[error("The body does not match its X-Sdk-Content-Sha256 hash.")]
    PayloadHash,
    #[error("Unknown access key.")]
    UnknownKey,
    #[error("Temporary credentials (X-Security-Token) are not accepted by this service.")]
    SecurityToken,
    #[error("Incorrect IAM authentication information: verify aksk signature fail.")]
    Mismatch,
}

/// The parts of an `Authorization: SDK-HMAC-SHA256 …` header.
#[derive(Debug, PartialEq, Eq)]
pub struct AuthorizationHeader<'a> {
    pub access_key: &'a str,
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
}

/// True when an `Authorization` value is a Huawei-style signature (of any
/// algorithm), i.e. when the request must be judged by it.
pub fn is_signature(value: &str) -> bool {
    let scheme = value.split_ascii_whitespace().next().unwrap_or("");
    scheme.starts_with("SDK-") || scheme.ends_with("-HMAC-SHA256") || value.contains("Access=")
}

/// Parses `SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`.
pub fn parse_authorization(value: &str) -> Result<AuthorizationHeader<'_>, SignatureError> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').ok_or(SignatureError::Malformed)?;
    if scheme != ALGORITHM {
        // Bounded, printable: the name is echoed in the message.
        let name: String = scheme
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(40)
            .collect();
        return Err(SignatureError::Algorithm(name));
    }
    let (mut access, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        let slot = match k {
            "Access" => &mut access,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(SignatureError::Malformed),
        };
        if slot.replace(v).is_some() || v.is_empty() {
            return Err(SignatureError::Malformed);
        }
    }
    let (Some(access_key), Some(signed), Some(signature)) = (access, signed, signature) else {
        return Err(SignatureError::Malformed);
    };
    if !signature.bytes().all(|b| b.is_ascii_hexdigit()) || signature.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let signed_headers: Vec<&str> = signed.split(';').collect();
    let well_formed = signed_headers
        .iter()
        .all(|h| !h.is_empty() && !h.bytes().any(|b| b.is_ascii_uppercase()))
        && signed_headers.windows(2).all(|w| w[0] < w[1])
        && signed_headers.contains(&"host")
        && signed_headers.contains(&"x-sdk-date");
    if !well_formed {
        return Err(SignatureError::SignedHeaders);
    }
    Ok(AuthorizationHeader {
        access_key,
        signed_headers,
        signature,
    })
}

/// RFC 3986 encoding as the SDK applies it: every byte except `A-Za-z0-9-_.~`
/// becomes `%XX` (upper-case hex).
fn encode(out: &mut String, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

fn decode(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

/// The canonical URI: the whole path percent-decoded, split on `/`, each
/// segment re-encoded, joined, with a trailing `/`.
pub fn canonical_uri(raw_path: &str) -> String {
    let decoded = decode(raw_path);
    let mut out = String::with_capacity(decoded.len() + 8);
    for (i, segment) in decoded.split(|&b| b == b'/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        encode(&mut out, segment);
    }
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// The canonical query: pairs decoded with plain `%XX` rules (a `+` stays a
/// `+`), sorted by name then value, re-encoded, joined with `&`.
pub fn canonical_query(raw_query: Option<&str>) -> String {
    let Some(raw) = raw_query.filter(|q| !q.is_empty()) else {
        return String::new();
    };
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), Vec::new()),
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(raw.len() + 8);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode(&mut out, k);
        out.push('=');
        encode(&mut out, v);
    }
    out
}

/// Lower-case hex (on the hot path: no formatting machinery per byte).
fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

/// The one value of a header, or an error when it is repeated. `None` when absent.
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h [u8]>, SignatureError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(SignatureError::RepeatedHeader(name.to_owned()));
    }
    Ok(first.map(|v| v.as_bytes()))
}

/// A request as the verifier sees it.
pub struct SignedRequest<'a> {
    pub method: &'a Method,
    /// The raw path, as received (still percent-encoded).
    pub path: &'a str,
    /// The raw query, as received, without `?`.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// The body bytes (empty for requests without one).
    pub body: &'a [u8],
}

/// Where a canonical request is written: a `String` (to look at it) or
/// straight into the SHA-256 that signs it (the hot path: no buffer).
pub trait Sink {
    fn put(&mut self, s: &str);
}

impl Sink for String {
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, s: &str) {
        Digest::update(self, s.as_bytes());
    }
}

/// Builds the canonical request for `auth`'s signed headers; checks the
/// headers the scheme requires on the way.
pub fn canonical_request(
    req: &SignedRequest<'_>,
    auth: &AuthorizationHeader<'_>,
) -> Result<String, SignatureError> {
    let mut out = String::with_capacity(512);
    write_canonical_request(req, auth, &mut out)?;
    Ok(out)
}

fn write_canonical_request(
    req: &SignedRequest<'_>,
    auth: &AuthorizationHeader<'_>,
    out: &mut impl Sink,
) -> Result<(), SignatureError> {
    out.put(req.method.as_str());
    out.put("\n");
    out.put(&canonical_uri(req.path));
    out.put("\n");
    out.put(&canonical_query(req.query));
    out.put("\n");
    for name in &auth.signed_headers {
        let value = single(req.headers, name)?
            .ok_or_else(|| SignatureError::MissingHeader((*name).to_owned()))?;
        out.put(name);
        out.put(":");
        // Signed as the trimmed text; non-UTF-8 bytes can never match what
        // the SDK signs, so a lossy view is enough to fail them.
        out.put(String::from_utf8_lossy(value).trim());
        out.put("\n");
    }
    out.put("\n");
    for (i, name) in auth.signed_headers.iter().enumerate() {
        if i > 0 {
            out.put(";");
        }
        out.put(name);
    }
    out.put("\n");
    out.put(&payload_hash(req, auth)?);
    Ok(())
}

fn payload_hash(
    req: &SignedRequest<'_>,
    auth: &AuthorizationHeader<'_>,
) -> Result<String, SignatureError> {
    let actual = || {
        if req.body.is_empty() {
            EMPTY_SHA256.to_owned()
        } else {
            hex(&Sha256::digest(req.body))
        }
    };
    match single(req.headers, CONTENT_SHA256)? {
        None => Ok(actual()),
        Some(_) if !auth.signed_headers.contains(&CONTENT_SHA256) => {
            Err(SignatureError::UnsignedHeader(CONTENT_SHA256))
        }
        // The SDK's json-patch call: the body is not covered by the
        // signature (Huawei's scheme; documented in the README).
        Some(v) if v == UNSIGNED_PAYLOAD.as_bytes() => Ok(UNSIGNED_PAYLOAD.to_owned()),
        Some(v) => {
            let claimed = String::from_utf8_lossy(v).trim().to_ascii_lowercase();
            if claimed == actual() {
                Ok(claimed)
            } else {
                Err(SignatureError::PayloadHash)
            }
        }
    }
}

/// `YYYYMMDDTHHMMSSZ`, read field by field (no format-string parsing on the
/// hot path).
fn parse_sdk_date(v: &[u8]) -> Option<DateTime<Utc>> {
    if v.len() != 16 || v[8] != b'T' || v[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        v[r].iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(4..6)?, num(6..8)?)?;
    let time = chrono::NaiveTime::from_hms_opt(num(9..11)?, num(11..13)?, num(13..15)?)?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

/// `X-Sdk-Date` parsed and checked against `now`.
pub fn check_date(value: &[u8], now: DateTime<Utc>) -> Result<(), SignatureError> {
    let signed = parse_sdk_date(value.trim_ascii()).ok_or(SignatureError::Date)?;
    if (now - signed).num_seconds().abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Skew {
            signed: signed.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            server: now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        });
    }
    Ok(())
}

/// The string to sign for a canonical request.
pub fn string_to_sign(sdk_date: &str, canonical: &str) -> String {
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    )
}

/// The hex signature a secret key gives a string to sign (what the SDK sends).
pub fn sign(secret_key: &[u8], to_sign: &str) -> String {
    let mut mac = SigningKey::new(secret_key).0;
    mac.update(to_sign.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// A secret key, prepared once (HMAC's inner and outer key blocks hashed)
/// and cloned for each request it verifies.
#[derive(Clone)]
pub struct SigningKey(Hmac<Sha256>);

impl SigningKey {
    pub fn new(secret_key: &[u8]) -> Self {
        SigningKey(Hmac::<Sha256>::new_from_slice(secret_key).expect("HMAC takes any key length"))
    }
}

/// The `Authorization` value Huawei's SDK would send for `req` (for our own
/// tests, the benchmark and callers in Rust): every header present is signed,
/// as the SDK does; `req.headers` must hold `host` and `x-sdk-date`.
pub fn authorization(req: &SignedRequest<'_>, access_key: &str, secret_key: &[u8]) -> String {
    let mut names: Vec<&str> = req.headers.keys().map(|k| k.as_str()).collect();
    names.retain(|n| !n.contains('_') && *n != "authorization");
    names.sort_unstable();
    names.dedup();
    let auth = AuthorizationHeader {
        access_key,
        signed_headers: names,
        signature: "",
    };
    let canonical = canonical_request(req, &auth).expect("the signed headers are present");
    let date = req.headers["x-sdk-date"].to_str().unwrap_or_default();
    let signature = sign(secret_key, &string_to_sign(date, &canonical));
    format!(
        "{ALGORITHM} Access={access_key}, SignedHeaders={}, Signature={signature}",
        auth.signed_headers.join(";")
    )
}

/// Verifies `req`, signed per `auth`, with `key`, at time `now`. The
/// canonical request is hashed as it is built; the signature comparison is
/// constant-time.
pub fn verify(
    req: &SignedRequest<'_>,
    auth: &AuthorizationHeader<'_>,
    key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let date = single(req.headers, "x-sdk-date")?
        .ok_or_else(|| SignatureError::MissingHeader("x-sdk-date".into()))?;
    check_date(date, now)?;
    // Headers that decide who acts must be covered by the signature.
    for name in ["x-project-id", "x-security-token"] {
        if req.headers.contains_key(name) && !auth.signed_headers.contains(&name) {
            return Err(SignatureError::UnsignedHeader(name));
        }
    }
    let mut canonical = Sha256::new();
    write_canonical_request(req, auth, &mut canonical)?;
    let mut expected = [0u8; 32];
    for (i, chunk) in auth.signature.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).map_err(|_| SignatureError::Malformed)?;
        expected[i] = u8::from_str_radix(s, 16).map_err(|_| SignatureError::Malformed)?;
    }
    let mut mac = key.0.clone();
    mac.update(ALGORITHM.as_bytes());
    mac.update(b"\n");
    mac.update(date.trim_ascii());
    mac.update(b"\n");
    mac.update(hex(&canonical.finalize()).as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const AK: &str = "OWNERAK0000000000001";
    const SK: &str = "ownersecret0000000000000000000000000000x";

    fn now() -> DateTime<Utc> {
        NaiveDateTime::parse_from_str("20261201T201356Z", "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc()
    }

    /// Signs a request the way the SDK does: every header present is signed.
    fn signed(method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Req {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.to_owned(), None),
        };
        let mut req = Req {
            method: method.parse().unwrap(),
            path,
            query,
            headers: map,
            body: body.as_bytes().to_vec(),
        };
        let value = authorization(&req.view(), AK, SK.as_bytes());
        req.headers
            .insert("authorization", HeaderValue::from_str(&value).unwrap());
        req
    }

    struct Req {
        method: Method,
        path: String,
        query: Option<String>,
        headers: HeaderMap,
        body: Vec<u8>,
    }

    impl Req {
        fn view(&self) -> SignedRequest<'_> {
            SignedRequest {
                method: &self.method,
                path: &self.path,
                query: self.query.as_deref(),
                headers: &self.headers,
                body: &self.body,
            }
        }

        fn check(&self, sk: &str, at: DateTime<Utc>) -> Result<(), SignatureError> {
            let value = self.headers["authorization"].to_str().unwrap();
            let auth = parse_authorization(value)?;
            verify(&self.view(), &auth, &SigningKey::new(sk.as_bytes()), at)
        }
    }

    fn base_headers() -> Vec<(&'static str, &'static str)> {
        vec![
            ("content-type", "application/json;charset=utf-8"),
            ("host", "127.0.0.1:19292"),
            ("user-agent", "huaweicloud-usdk-python/3.0"),
            ("x-project-id", "00000000000000000000000000000001"),
            ("x-sdk-date", "20261201T201356Z"),
        ]
    }

    fn add_member() -> Req {
        signed(
            "POST",
            "/v2/images/ae378646-ddc0-466a-8e14-44fc01892569/members",
            &base_headers(),
            r#"{"member": "00000000000000000000000000000002"}"#,
        )
    }

    #[test]
    fn canonical_uri_decodes_splits_and_reencodes() {
        assert_eq!(canonical_uri("/v2/images"), "/v2/images/");
        assert_eq!(canonical_uri("/v2/images/"), "/v2/images/");
        assert_eq!(canonical_uri("/"), "/");
        // `/` inside a member id (sent as %2F) becomes a separator, as the SDK signs it.
        assert_eq!(
            canonical_uri("/v2/images/x/members/urn%3Aorg%3Ao-1%2Fou-2"),
            "/v2/images/x/members/urn%3Aorg%3Ao-1/ou-2/"
        );
        // Reserved and non-ASCII characters: upper-case hex of the UTF-8 bytes,
        // whether the client encoded them or not; unreserved ones stay literal.
        assert_eq!(
            canonical_uri("/a%20b/%c3%a9/~x_y-z.w"),
            "/a%20b/%C3%A9/~x_y-z.w/"
        );
        assert_eq!(canonical_uri("/a+b/c%2Bd/e!f"), "/a%2Bb/c%2Bd/e%21f/");
        assert_eq!(canonical_uri("/%E4%B8%AD"), "/%E4%B8%AD/");
    }

    #[test]
    fn canonical_query_sorts_decodes_and_reencodes() {
        assert_eq!(canonical_query(None), "");
        assert_eq!(canonical_query(Some("")), "");
        assert_eq!(
            canonical_query(Some("marker=YWJj%2B%2F%3D%3D&limit=3")),
            "limit=3&marker=YWJj%2B%2F%3D%3D"
        );
        // Repeated keys: sorted by value too.
        assert_eq!(
            canonical_query(Some("tag=b&tag=a&id=9")),
            "id=9&tag=a&tag=b"
        );
        // A literal `+` is a plus, not a space (no form decoding).
        assert_eq!(canonical_query(Some("name=a+b")), "name=a%2Bb");
        assert_eq!(canonical_query(Some("name=a%20b")), "name=a%20b");
        // A key without `=`.
        assert_eq!(canonical_query(Some("flag")), "flag=");
    }

    #[test]
    fn a_signed_request_verifies() {
        assert_eq!(add_member().check(SK, now()), Ok(()));
        let get = signed(
            "GET",
            "/v2/images/ae378646-ddc0-466a-8e14-44fc01892569/members?limit=3&marker=YWJj%2B%2F%3D%3D",
            &base_headers(),
            "",
        );
        assert_eq!(get.check(SK, now()), Ok(()));
        let urn = signed(
            "GET",
            "/v2/images/x/members/urn%3Ahuawei%3Aorg%3Ao-1%2Fou-2",
            &base_headers(),
            "",
        );
        assert_eq!(urn.check(SK, now()), Ok(()));
    }

    #[test]
    fn the_body_is_covered() {
        let mut req = add_member();
        req.body = br#"{"member": "00000000000000000000000000000003"}"#.to_vec();
        assert_eq!(req.check(SK, now()), Err(SignatureError::Mismatch));
        let mut req = add_member();
        req.body.push(b' ');
        assert_eq!(req.check(SK, now()), Err(SignatureError::Mismatch));
        // A body on the wire that the signer claimed was empty.
        let mut req = signed("DELETE", "/v2/images/x/members/y", &base_headers(), "");
        req.body = b"{}".to_vec();
        assert_eq!(req.check(SK, now()), Err(SignatureError::Mismatch));
    }

    #[test]
    fn unsigned_payload_only_when_signed_and_a_claimed_hash_must_match() {
        let mut headers = base_headers();
        headers.push(("x-sdk-content-sha256", "UNSIGNED-PAYLOAD"));
        let req = signed("PATCH", "/v2/images/x", &headers, r#"[{"op":"add"}]"#);
        assert_eq!(req.check(SK, now()), Ok(()));

        let mut headers = base_headers();
        headers.push(("x-sdk-content-sha256", EMPTY_SHA256));
        let mut req = signed("PATCH", "/v2/images/x", &headers, "");
        assert_eq!(req.check(SK, now()), Ok(()));
        req.body = b"[]".to_vec();
        assert_eq!(req.check(SK, now()), Err(SignatureError::PayloadHash));
    }

    #[test]
    fn tampering_fails() {
        // Wrong secret.
        assert_eq!(
            add_member().check("not-the-secret", now()),
            Err(SignatureError::Mismatch)
        );
        // A signed header changed.
        let mut req = add_member();
        req.headers.insert(
            "x-project-id",
            HeaderValue::from_static("00000000000000000000000000000009"),
        );
        assert_eq!(req.check(SK, now()), Err(SignatureError::Mismatch));
        // Replayed on another path or method.
        let mut req = add_member();
        req.path = "/v2/images/ae378646-ddc0-466a-8e14-44fc01892569/members/x".into();
        assert_eq!(req.check(SK, now()), Err(SignatureError::Mismatch));
        let mut req = add_member();
        req.method = Method::PUT;
        assert_eq!(req.check(SK, now()), Err(SignatureError::Mismatch));
        // A query added.
        let mut req = add_member();
        req.query = Some("limit=1".into());
        assert_eq!(req.check(SK, now()), Err(SignatureError::Mismatch));
        // The signature itself altered.
        let mut req = add_member();
        let value = req.headers["authorization"].to_str().unwrap().to_owned();
        let last = value.chars().last().unwrap();
        let flipped = format!(
            "{}{}",
            &value[..value.len() - 1],
            if last == '0' { '1' } else { '0' }
        );
        req.headers
            .insert("authorization", HeaderValue::from_str(&flipped).unwrap());
        assert_eq!(req.check(SK, now()), Err(SignatureError::Mismatch));
    }

    #[test]
    fn headers_that_choose_the_project_must_be_signed() {
        let mut req = add_member();
        let value = req.headers["authorization"].to_str().unwrap().replace(
            "content-type;host;user-agent;x-project-id;x-sdk-date",
            "content-type;host;user-agent;x-sdk-date",
        );
        req.headers
            .insert("authorization", HeaderValue::from_str(&value).unwrap());
        assert_eq!(
            req.check(SK, now()),
            Err(SignatureError::UnsignedHeader("x-project-id"))
        );
        // A signed header that is missing.
        let mut req = add_member();
        req.headers.remove("user-agent");
        assert_eq!(
            req.check(SK, now()),
            Err(SignatureError::MissingHeader("user-agent".into()))
        );
        // A signed header sent twice.
        let mut req = add_member();
        req.headers
            .append("x-project-id", HeaderValue::from_static("other"));
        assert_eq!(
            req.check(SK, now()),
            Err(SignatureError::RepeatedHeader("x-project-id".into()))
        );
    }

    #[test]
    fn clock_skew_is_fifteen_minutes_either_way() {
        let req = add_member();
        let at = |secs: i64| now() + chrono::Duration::seconds(secs);
        assert_eq!(req.check(SK, at(15 * 60)), Ok(()));
        assert_eq!(req.check(SK, at(-15 * 60)), Ok(()));
        for secs in [15 * 60 + 1, -(15 * 60 + 1), 86_400] {
            match req.check(SK, at(secs)) {
                Err(e @ SignatureError::Skew { .. }) => {
                    assert!(e.to_string().contains("clock skew"), "{e}")
                }
                other => panic!("{secs}s: {other:?}"),
            }
        }
        let mut headers = base_headers();
        headers.retain(|(k, _)| *k != "x-sdk-date");
        headers.push(("x-sdk-date", "2026-12-01T20:13:56Z"));
        let req = signed("GET", "/v2/images", &headers, "");
        assert_eq!(req.check(SK, now()), Err(SignatureError::Date));
    }

    #[test]
    fn authorization_header_parsing() {
        let ok = parse_authorization(
            "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature=\
             a700a366a700a366a700a366a700a366a700a366a700a366a700a366a700a366",
        )
        .unwrap();
        assert_eq!(ok.access_key, "AK1");
        assert_eq!(ok.signed_headers, vec!["host", "x-sdk-date"]);
        for (value, want) in [
            (
                "SDK-HMAC-SM3 Access=AK1, SignedHeaders=host;x-sdk-date, Signature=00",
                SignatureError::Algorithm("SDK-HMAC-SM3".into()),
            ),
            (
                "V11-HMAC-SHA256 Credential=AK/20261201/r/s, SignedHeaders=host, Signature=00",
                SignatureError::Algorithm("V11-HMAC-SHA256".into()),
            ),
            ("SDK-HMAC-SHA256", SignatureError::Malformed),
            (
                "SDK-HMAC-SHA256 Access=AK1, Signature=00",
                SignatureError::Malformed,
            ),
            (
                "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature=zz",
                SignatureError::Malformed,
            ),
            (
                &format!(
                    "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date;host, Signature={}",
                    "0".repeat(64)
                ),
                SignatureError::SignedHeaders,
            ),
            (
                &format!(
                    "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=Host;x-sdk-date, Signature={}",
                    "0".repeat(64)
                ),
                SignatureError::SignedHeaders,
            ),
            (
                &format!(
                    "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host, Signature={}",
                    "0".repeat(64)
                ),
                SignatureError::SignedHeaders,
            ),
        ] {
            assert_eq!(parse_authorization(value), Err(want), "{value}");
        }
        assert!(is_signature("SDK-HMAC-SM3 Access=x"));
        assert!(is_signature("SDK-HMAC-SHA256 Access=x"));
        assert!(!is_signature("Bearer abc"));
    }

    /// Requests captured from Huawei's own Python SDK (huaweicloudsdkims
    /// 3.1.219, unchanged; `clients/huawei/vectors.py`), byte for byte as they
    /// crossed the wire, with the canonical request the SDK's signer built.
    /// Each must verify, and our canonical request must be the SDK's; and each
    /// must fail once anything signed is altered.
    #[test]
    fn requests_signed_by_the_real_sdk_verify() {
        #[derive(serde::Deserialize)]
        struct Case {
            name: String,
            method: String,
            target: String,
            headers: Vec<(String, String)>,
            body: String,
            secret_key: String,
            canonical_request: Option<String>,
        }
        let cases: Vec<Case> =
            serde_json::from_str(include_str!("testdata/sdk_signatures.json")).unwrap();
        assert!(cases.len() >= 20, "{} cases", cases.len());
        for case in cases {
            let mut headers = HeaderMap::new();
            for (k, v) in &case.headers {
                headers.append(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_bytes(v.as_bytes()).unwrap(),
                );
            }
            let (path, query) = match case.target.split_once('?') {
                Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
                None => (case.target.clone(), None),
            };
            let req = Req {
                method: case.method.parse().unwrap(),
                path,
                query,
                headers,
                body: case.body.clone().into_bytes(),
            };
            let value = req.headers["authorization"].to_str().unwrap().to_owned();
            let auth = parse_authorization(&value).unwrap();
            if let Some(want) = &case.canonical_request {
                assert_eq!(
                    &canonical_request(&req.view(), &auth).unwrap(),
                    want,
                    "{}: canonical request",
                    case.name
                );
            }
            assert_eq!(req.check(&case.secret_key, now()), Ok(()), "{}", case.name);
            // Tampered: the body, the path, the wrong secret.
            let mut t = Req {
                body: req.body.clone(),
                headers: req.headers.clone(),
                method: req.method.clone(),
                path: req.path.clone(),
                query: req.query.clone(),
            };
            t.body.extend_from_slice(b" ");
            let unsigned_payload = req.headers.get("x-sdk-content-sha256").is_some();
            if !unsigned_payload {
                assert_eq!(
                    t.check(&case.secret_key, now()),
                    Err(SignatureError::Mismatch),
                    "{}: body",
                    case.name
                );
            }
            t.body = req.body.clone();
            t.path.push('x');
            assert_eq!(
                t.check(&case.secret_key, now()),
                Err(SignatureError::Mismatch),
                "{}: path",
                case.name
            );
            assert_eq!(
                req.check("wrong", now()),
                Err(SignatureError::Mismatch),
                "{}: secret",
                case.name
            );
        }
    }
}
