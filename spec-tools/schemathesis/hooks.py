"""Schemathesis hooks for spec-tools/schemathesis.sh (loaded via SCHEMATHESIS_HOOKS).

The document declares no securityScheme: the caller's token is an optional
`X-Auth-Token` header parameter. Schemathesis would fill it with generated
strings (401 for nearly every case), so this auth provider overwrites it on
every request, in every phase, with a real token:

* the member's (project-b) for the two calls only a member may make usefully:
  accepting/rejecting a membership (`update_member`, the native
  PUT /v2/images/{image_id}/members/{member_id}) and Huawei's batch
  accept/reject (`batch_update_members`, PUT /v1/cloudimages/members);
* the owner's (project-a) for everything else.

Tokens come from the environment the script sets: IMGSHARE_ST_OWNER_TOKEN and
IMGSHARE_ST_MEMBER_TOKEN.
"""

from __future__ import annotations

import os

import schemathesis

OWNER_TOKEN = os.environ["IMGSHARE_ST_OWNER_TOKEN"]
MEMBER_TOKEN = os.environ["IMGSHARE_ST_MEMBER_TOKEN"]

# By operationId and, should an id ever change, by "METHOD path".
MEMBER_OPERATIONS = {
    "update_member",
    "batch_update_members",
    "PUT /v2/images/{image_id}/members/{member_id}",
    "PUT /v1/cloudimages/members",
}


def _operation_keys(operation) -> set[str]:
    keys = {operation.label}
    try:
        operation_id = operation.definition.raw.get("operationId")
    except AttributeError:
        operation_id = None
    if operation_id:
        keys.add(operation_id)
    return keys


# refresh_interval=None: no caching, get() runs for every case (a cached value
# would give every operation the token of the first one asked).
# retry_on=[]: tokens are static; a 401 must be reported, not retried.
@schemathesis.auth(refresh_interval=None, retry_on=[])
class ImgshareTokens:
    def get(self, case, context):
        if _operation_keys(context.operation) & MEMBER_OPERATIONS:
            return MEMBER_TOKEN
        return OWNER_TOKEN

    def set(self, case, data, context):
        if case.headers is None:
            case.headers = {}
        # Drop any generated spelling of the header before setting ours.
        for name in [n for n in case.headers if n.lower() == "x-auth-token"]:
            del case.headers[name]
        case.headers["X-Auth-Token"] = data


# --- Rules the document states in prose only ---------------------------------
#
# A JSON-patch operation's `value` must suit its `path` (a custom property
# takes a string, `/protected` a boolean, `/min_disk` an integer, …), and
# `add`/`replace` need a `value`. OpenAPI 3.0 cannot tie one property's type
# to another's value, so the document says it in prose; the server answers
# 400 to a mismatch. Generated bodies that are valid by the schema but break
# this rule are discarded here, so that `positive_data_acceptance` judges
# only bodies the document promises to accept. Bodies that break the schema
# itself (the negative cases) are kept: they still reach the server.

_STRING_OR_NULL = {"name"}
_BOOLEAN = {"protected", "os_hidden"}
_SIZES = {"min_disk", "min_ram"}
_FORMATS = {
    "disk_format": {"ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"},
    "container_format": {"ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"},
}
_VISIBILITY = {"public", "private", "shared", "community"}
# Attributes no patch may set (403 is an accepted answer, but only for an
# owner acting on a real image; keep the judgement simple: leave them out).
_SERVER_OWNED = {
    "id", "owner", "status", "created_at", "updated_at", "self", "file", "schema", "size",
    "virtual_size", "checksum", "os_hash_algo", "os_hash_value", "direct_url", "locations",
    "location", "stores", "deleted", "deleted_at",
}


def _value_fits(key: str, value) -> bool:
    if key in _STRING_OR_NULL:
        return value is None or (isinstance(value, str) and len(value) <= 255)
    if key in _BOOLEAN:
        return isinstance(value, bool)
    if key in _SIZES:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2147483647
    if key in _FORMATS:
        return value is None or value in _FORMATS[key]
    if key == "visibility":
        return value in _VISIBILITY and value != "public"
    if key == "tags":
        return (
            isinstance(value, list)
            and len(value) <= 128
            and all(isinstance(t, str) and 1 <= len(t) <= 255 for t in value)
        )
    if key in _SERVER_OWNED:
        return False
    # A custom property: a string of at most 65535 characters.
    return isinstance(value, str) and len(value) <= 65535 and len(key) <= 255


def _patch_key(path: str) -> str:
    return path[1:].replace("~1", "/").replace("~0", "~")


@schemathesis.hook("filter_body").apply_to(operation_id="update_image")
def patch_values_suit_their_paths(context, body):
    if not isinstance(body, list) or not all(isinstance(op, dict) for op in body):
        return True  # not schema-valid: a negative case, keep it
    for op in body:
        kind, path = op.get("op"), op.get("path")
        if kind not in ("add", "replace", "remove") or not isinstance(path, str):
            return True  # a negative case
        key = _patch_key(path)
        if kind == "remove":
            if key in _SERVER_OWNED or key in _STRING_OR_NULL | _BOOLEAN | _SIZES | set(_FORMATS) | {
                "visibility",
                "tags",
            }:
                return False  # fixed attributes cannot be removed (403, by rule)
            continue
        if "value" not in op or not _value_fits(key, op["value"]):
            return False
    return True
