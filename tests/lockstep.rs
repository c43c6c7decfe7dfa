//! The hand-written OpenAPI document and the one dropshot derives from the
//! server's API trait must be the same document.
//!
//! One normalisation only: `example`/`examples` keys are removed from the
//! hand-written side, because dropshot 0.18 cannot emit them (they are
//! documentation; `examples_are_valid` in tests/e2e checks them instead).
//! `DUMP_DERIVED=1` writes the derived document to target/derived-openapi.json.

#[path = "support/jsondiff.rs"]
mod jsondiff;

const SPEC: &str = include_str!("../openapi/imgshare.json");

#[test]
fn derived_document_equals_hand_written() {
    let derived = imgshare_server::api::derived_openapi();
    if std::env::var_os("DUMP_DERIVED").is_some() {
        let out = concat!(env!("CARGO_MANIFEST_DIR"), "/target/derived-openapi.json");
        std::fs::write(out, serde_json::to_string_pretty(&derived).unwrap()).unwrap();
    }
    let mut hand: serde_json::Value =
        serde_json::from_str(SPEC).expect("openapi/imgshare.json is JSON");
    jsondiff::strip_keys(&mut hand, &["example", "examples"]);
    let diffs = jsondiff::diff(&derived, &hand);
    assert!(
        diffs.is_empty(),
        "openapi/imgshare.json and the server's API trait disagree ({} differences):\n{}\n\
         Change the spec first, then server/src/api.rs (see README, 'Changing the API').",
        diffs.len(),
        diffs.join("\n")
    );
}

/// The comparison itself must be able to fail: a one-word edit to the
/// document is reported at its JSON path.
#[test]
fn a_drifted_spec_is_reported_at_its_path() {
    let derived = imgshare_server::api::derived_openapi();
    let mut hand: serde_json::Value = serde_json::from_str(SPEC).unwrap();
    jsondiff::strip_keys(&mut hand, &["example", "examples"]);
    hand["paths"]["/v2/images/{image_id}/members"]["post"]["summary"] = "Add a member".into();
    hand["components"]["schemas"]["Member"]["required"]
        .as_array_mut()
        .unwrap()
        .push("owner".into());
    let diffs = jsondiff::diff(&derived, &hand);
    assert_eq!(diffs.len(), 2, "{diffs:#?}");
    assert!(
        diffs[0].contains("/components/schemas/Member/required"),
        "{diffs:#?}"
    );
    assert!(
        diffs[1].contains("/paths/~1v2~1images~1{image_id}~1members/post/summary"),
        "{diffs:#?}"
    );
}
