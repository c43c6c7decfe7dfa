//! The examples in openapi/imgshare.json are documentation the lockstep test
//! cannot see (dropshot does not emit them); check that each one parses as the
//! generated type of the schema it illustrates.

use imgshare::types;
use serde_json::Value;

const SPEC: &str = include_str!("../../openapi/imgshare.json");

fn example(spec: &Value, pointer: &str) -> Value {
    spec.pointer(pointer)
        .unwrap_or_else(|| panic!("no example at {pointer}"))
        .clone()
}

/// `part` is `whole` with some object keys left out (at any depth).
fn part_of(part: &Value, whole: &Value) -> bool {
    match (part, whole) {
        (Value::Object(p), Value::Object(w)) => p
            .iter()
            .all(|(k, v)| w.get(k).is_some_and(|wv| part_of(v, wv))),
        _ => part == whole,
    }
}

#[test]
fn spec_examples_match_their_schemas() {
    let spec: Value = serde_json::from_str(SPEC).unwrap();
    let json = "content/application~1json/example";
    let members = "/paths/~1v2~1images~1{image_id}~1members";
    let member = "/paths/~1v2~1images~1{image_id}~1members~1{member_id}";
    let images = "/paths/~1v2~1images";
    let image = "/paths/~1v2~1images~1{image_id}";

    let m: types::Member = serde_json::from_value(example(
        &spec,
        &format!("{members}/post/responses/200/{json}"),
    ))
    .unwrap();
    assert_eq!(m.status, types::MemberStatus::Pending);
    let _: types::MemberCreate = serde_json::from_value(example(
        &spec,
        &format!("{members}/post/requestBody/{json}"),
    ))
    .unwrap();
    let _: types::Members = serde_json::from_value(example(
        &spec,
        &format!("{members}/get/responses/200/{json}"),
    ))
    .unwrap();
    let _: types::Member = serde_json::from_value(example(
        &spec,
        &format!("{member}/get/responses/200/{json}"),
    ))
    .unwrap();
    let _: types::MemberUpdate =
        serde_json::from_value(example(&spec, &format!("{member}/put/requestBody/{json}")))
            .unwrap();
    let _: types::Member = serde_json::from_value(example(
        &spec,
        &format!("{member}/put/responses/200/{json}"),
    ))
    .unwrap();
    let _: types::ImageCreate =
        serde_json::from_value(example(&spec, &format!("{images}/post/requestBody/{json}")))
            .unwrap();
    let _: types::Image = serde_json::from_value(example(
        &spec,
        &format!("{images}/post/responses/201/{json}"),
    ))
    .unwrap();
    let _: types::Images = serde_json::from_value(example(
        &spec,
        &format!("{images}/get/responses/200/{json}"),
    ))
    .unwrap();
    let _: types::Image =
        serde_json::from_value(example(&spec, &format!("{image}/get/responses/200/{json}")))
            .unwrap();
    let _: types::ApiError = serde_json::from_value(example(
        &spec,
        &format!("/components/responses/ApiError/{json}"),
    ))
    .unwrap();

    // The schema endpoints answer Glance's schemas (server/schemas/); each
    // example is that schema, or a part of it (some properties left out).
    for (name, served) in [
        ("image", include_str!("../../server/schemas/image.json")),
        ("images", include_str!("../../server/schemas/images.json")),
        ("member", include_str!("../../server/schemas/member.json")),
        ("members", include_str!("../../server/schemas/members.json")),
    ] {
        let ex = example(
            &spec,
            &format!("/paths/~1v2~1schemas~1{name}/get/responses/200/{json}"),
        );
        let served: Value = serde_json::from_str(served).unwrap();
        assert!(
            part_of(&ex, &served),
            "the {name} schema example is not part of it"
        );
        if name.starts_with("member") {
            assert_eq!(ex, served, "the {name} schema example is the whole schema");
        }
    }

    // The member list's paging parameters: a page size in range, and a
    // marker as the server makes it (the hex of the member ID the page ends
    // with, here the member of the list example).
    let params = example(
        &spec,
        "/paths/~1v2~1images~1{image_id}~1members/get/parameters",
    );
    let param = |name: &str| {
        params
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["example"]
            .clone()
    };
    let limit = param("limit").as_u64().unwrap();
    assert!((1..=1000).contains(&limit));
    let listed = example(&spec, &format!("{members}/get/responses/200/{json}"));
    let member_id = listed["members"][0]["member_id"].as_str().unwrap();
    let hex: String = member_id.bytes().map(|b| format!("{b:02x}")).collect();
    assert_eq!(param("marker"), Value::String(hex));

    // Huawei's API (`/v1/…`, `/v2/cloudimages`).
    let batch = "/paths/~1v1~1cloudimages~1members";
    let _: types::BatchMembersRequest =
        serde_json::from_value(example(&spec, &format!("{batch}/post/requestBody/{json}")))
            .unwrap();
    let _: types::BatchUpdateRequest =
        serde_json::from_value(example(&spec, &format!("{batch}/put/requestBody/{json}"))).unwrap();
    let _: types::BatchMembersRequest = serde_json::from_value(example(
        &spec,
        &format!("{batch}/delete/requestBody/{json}"),
    ))
    .unwrap();
    for method in ["post", "put", "delete"] {
        let created: types::JobCreated = serde_json::from_value(example(
            &spec,
            &format!("{batch}/{method}/responses/200/{json}"),
        ))
        .unwrap();
        assert_eq!(created.job_id.len(), 32);
    }
    let done: types::Job = serde_json::from_value(example(
        &spec,
        &format!("/paths/~1v1~1{{project_id}}~1jobs~1{{job_id}}/get/responses/200/{json}"),
    ))
    .unwrap();
    assert_eq!(done.status, types::JobStatus::Success);
    assert!(done.entities.results.iter().all(|r| r.status == "success"));
    let failed: types::Job = serde_json::from_value(example(
        &spec,
        &format!("/paths/~1v1~1cloudimages~1job~1{{job_id}}/get/responses/200/{json}"),
    ))
    .unwrap();
    assert_eq!(failed.status, types::JobStatus::Fail);
    assert_eq!(
        failed.error_code.as_deref(),
        failed.entities.results[0].error_code.as_deref()
    );
    let _: types::Quotas = serde_json::from_value(example(
        &spec,
        &format!("/paths/~1v1~1cloudimages~1quota/get/responses/200/{json}"),
    ))
    .unwrap();
    let v1 = "/paths/~1v1~1{project_id}~1cloudimages~1{image_id}~1members";
    let page: types::V1Members =
        serde_json::from_value(example(&spec, &format!("{v1}/get/responses/200/{json}"))).unwrap();
    let last: String = page.members[0]
        .member_id
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(page.page_info.next_marker.as_deref(), Some(last.as_str()));
    let _: types::V1Member = serde_json::from_value(example(
        &spec,
        &format!("{v1}~1{{member_id}}/get/responses/200/{json}"),
    ))
    .unwrap();
    let cloud: types::CloudImages = serde_json::from_value(example(
        &spec,
        &format!("/paths/~1v2~1cloudimages/get/responses/200/{json}"),
    ))
    .unwrap();
    assert_eq!(cloud.images[0].extra["__imagetype"], "shared");
    let _: types::ImageDeleteBody = serde_json::from_value(example(
        &spec,
        &format!("{image}/delete/requestBody/{json}"),
    ))
    .unwrap();

    // The health check: a report for each status, and its text forms.
    let health = "/paths/~1healthcheck/get/responses";
    let ok: types::HealthReport =
        serde_json::from_value(example(&spec, &format!("{health}/200/{json}"))).unwrap();
    assert_eq!(ok.status, types::HealthStatus::Ok);
    assert_eq!(ok.reasons, ["OK"]);
    assert!(ok.checks.iter().all(|c| c.ok));
    let down: types::HealthReport =
        serde_json::from_value(example(&spec, &format!("{health}/503/{json}"))).unwrap();
    assert_eq!(down.status, types::HealthStatus::Unavailable);
    assert!(down.checks.iter().any(|c| !c.ok));
    let text = "content/text~1plain/example";
    assert_eq!(example(&spec, &format!("{health}/200/{text}")), "OK");
    assert_eq!(
        example(&spec, &format!("{health}/503/{text}")),
        "disabled by file"
    );

    // Every example in the document is one of those checked above.
    fn count(v: &Value) -> usize {
        match v {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| usize::from(k == "example") + count(v))
                .sum(),
            Value::Array(a) => a.iter().map(count).sum(),
            _ => 0,
        }
    }
    assert_eq!(count(&spec), 38);
}
