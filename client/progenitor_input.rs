//! The document as progenitor 0.15 is given it, by both build scripts (the
//! client crate's and the CLI's): the published document, less what
//! progenitor cannot turn into the types callers use. The server enforces
//! what is dropped here.

use std::path::Path;

/// Parses `text` (the document at `path`) for progenitor.
pub fn load(text: &str, path: &Path) -> openapiv3::OpenAPI {
    let mut json: serde_json::Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    drop_constraint_only_any_of(&mut json);
    drop_bodiless_successes_beside_bodies(&mut json);
    serde_json::from_value(json)
        .unwrap_or_else(|e| panic!("{} is not an OpenAPI 3.0 document: {e}", path.display()))
}

/// An `anyOf` beside an object's `properties` that only adds constraints
/// (which of the properties must be present and non-empty, as the batch
/// member calls' "at least one target") would make progenitor generate an
/// enum of three near-identical structs instead of the one struct callers
/// build. The client leaves that rule to the server, which answers 400.
fn drop_constraint_only_any_of(doc: &mut serde_json::Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(|s| s.as_object_mut())
    else {
        return;
    };
    for schema in schemas.values_mut() {
        let Some(obj) = schema.as_object_mut() else {
            continue;
        };
        let constraint_only = obj.contains_key("properties")
            && obj
                .get("anyOf")
                .and_then(|a| a.as_array())
                .is_some_and(|alts| {
                    alts.iter().all(|alt| {
                        alt.as_object()
                            .is_some_and(|o| o.keys().all(|k| k == "required" || k == "properties"))
                    })
                });
        if constraint_only {
            obj.remove("anyOf");
        }
    }
}

/// progenitor 0.15 gives each operation one success type: where a bodiless
/// success (the download's 204, "no data") sits beside successes with a
/// body (its 200 and 206), the client is generated from the ones with a
/// body, and a 204 reaches the caller as an unexpected response.
fn drop_bodiless_successes_beside_bodies(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(ops) = item.as_object_mut() else {
            continue;
        };
        for op in ops.values_mut() {
            let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
                continue;
            };
            let success = |code: &str| code.starts_with('2');
            let with_body = responses
                .iter()
                .any(|(code, r)| success(code) && r.get("content").is_some());
            if with_body {
                responses.retain(|code, r| !success(code) || r.get("content").is_some());
            }
        }
    }
}
