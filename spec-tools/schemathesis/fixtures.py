"""Creates the fixtures a schemathesis run aims its path parameters at, then
renders schemathesis.toml.in with their IDs.

    python3 fixtures.py BASE_URL TEMPLATE OUTPUT

Tokens come from IMGSHARE_ST_OWNER_TOKEN / IMGSHARE_ST_MEMBER_TOKEN (owner
project-a, member project-b). Standard library only. Every fixture is made
the same way each run; only the server-chosen IDs differ.

All but DELETE are `protected`. Each mutating operation gets its own image, so that one operation's fuzzing
(a PATCH to `private`, a DELETE, an upload) does not turn every later case of
another operation into a 404/409:

  SHARED   shared with project-b (accepted), tag `st-tag`, 5 bytes of data:
           reads, add/list/show/update member, tags, download, batch update
  PATCH    target of PATCH /v2/images/{image_id}
  DELETE   target of DELETE /v2/images/{image_id}
  DELMEM   shared with project-b: target of DELETE …/members/{member_id}
  UPLOAD   queued, no data: target of PUT …/file
  BATCH    shared with project-c by a batch job (JOB): batch add/delete
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request

OWNER_PROJECT = "project-a"
MEMBER_PROJECT = "project-b"
OTHER_PROJECT = "project-c"
TAG = "st-tag"
# Image IDs the document's examples use.
EXAMPLE_IMAGES = ("d164b5df-1bc3-4c3f-893e-3e471fd16e64", "a9b3c9a4-3f0e-4c5e-9b6b-0f6f1b0c2d11")


def call(base, method, path, token, body=None, content_type="application/json", expect=(200, 201, 204)):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("X-Auth-Token", token)
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30) as rsp:
            status, raw = rsp.status, rsp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    if status not in expect:
        sys.exit(f"fixtures: {method} {path} -> {status}: {raw[:500]!r}")
    return json.loads(raw) if raw.strip() else None


def main() -> None:
    base, template, output = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    owner = os.environ["IMGSHARE_ST_OWNER_TOKEN"]
    member = os.environ["IMGSHARE_ST_MEMBER_TOKEN"]

    def image(name, protected=True):
        # Protected: a DELETE aimed at it by a value schemathesis took from a
        # response (it reuses IDs it has seen) is refused with 403 instead of
        # deleting a fixture the rest of the run needs.
        body = {"name": f"st-{name}", "disk_format": "qcow2", "container_format": "bare", "protected": protected}
        return call(base, "POST", "/v2/images", owner, body)["id"]

    def share(image_id, project):
        call(base, "POST", f"/v2/images/{image_id}/members", owner, {"member": project})

    ids = {}
    ids["SHARED_IMAGE"] = shared = image("shared")
    share(shared, MEMBER_PROJECT)
    call(base, "PUT", f"/v2/images/{shared}/members/{MEMBER_PROJECT}", member, {"status": "accepted"})
    call(base, "PUT", f"/v2/images/{shared}/tags/{TAG}", owner)
    call(base, "PUT", f"/v2/images/{shared}/file", owner, b"hello", "application/octet-stream")

    ids["PATCH_IMAGE"] = image("patch")
    ids["DELETE_IMAGE"] = image("delete", protected=False)
    ids["DELMEM_IMAGE"] = delmem = image("delete-member")
    share(delmem, MEMBER_PROJECT)
    ids["UPLOAD_IMAGE"] = image("upload")

    ids["BATCH_IMAGE"] = batch = image("batch")
    job = call(base, "POST", "/v1/cloudimages/members", owner, {"images": [batch], "projects": [OTHER_PROJECT]})
    ids["JOB_ID"] = job["job_id"]
    # Wait for the job to finish, so the run starts from a settled state.
    for _ in range(100):
        status = call(base, "GET", f"/v1/{OWNER_PROJECT}/jobs/{job['job_id']}", owner)["status"]
        if status in ("SUCCESS", "FAIL"):
            break
        time.sleep(0.1)
    if status != "SUCCESS":
        sys.exit(f"fixtures: batch job ended {status}")

    # The document's examples name two images: make them exist (shared by the
    # owner, accepted by the member), so that the examples phase exercises
    # real resources instead of a 404/400 for an unknown ID.
    for example_id in EXAMPLE_IMAGES:
        body = {"id": example_id, "name": "st-example", "protected": True}
        call(base, "POST", "/v2/images", owner, body)
        share(example_id, MEMBER_PROJECT)
        call(base, "PUT", f"/v2/images/{example_id}/members/{MEMBER_PROJECT}", member, {"status": "accepted"})
    # A member-list marker: the hex of the member ID of the last row.
    ids["MEMBER_MARKER"] = MEMBER_PROJECT.encode().hex()

    ids.update(OWNER_PROJECT=OWNER_PROJECT, MEMBER_PROJECT=MEMBER_PROJECT, OTHER_PROJECT=OTHER_PROJECT, TAG=TAG)
    text = open(template, encoding="utf-8").read()
    for key, value in ids.items():
        text = text.replace(f"@{key}@", value)
    if "@" in "".join(line.split("#")[0] for line in text.splitlines()):
        sys.exit("fixtures: an @PLACEHOLDER@ was left unfilled in " + template)
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)
    for key, value in ids.items():
        print(f"  {key}={value}")


if __name__ == "__main__":
    main()
