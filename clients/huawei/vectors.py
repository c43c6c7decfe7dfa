#!/usr/bin/env python3
"""SDK-HMAC-SHA256 test vectors from Huawei's own Python SDK (huaweicloudsdkims).

Every case is a real call through the unchanged ``ImsClient`` (the model
classes, ``do_http_request``, the SDK's ``Signer``, ``requests``), sent to a
small capture server on 127.0.0.1 that records the request exactly as it
arrived on the socket (request target, headers in order, body bytes) and
answers ``200 {}``. The SDK's canonical request is read from its own
``Signer._process_canonical_request`` (wrapped to record the return value; the
signing is not changed).

Determinism: ``X-Sdk-Date`` is preset to a constant (the SDK keeps a preset
``X-Sdk-Date`` and signs with it), the User-Agent is fixed through the SDK's
``HttpConfig.user_agent``, the keys are constants, and the capture server
listens on a fixed port (PORT below) when it is free. A verifier testing these
vectors must therefore evaluate the 15-minute window against the case's
``X-Sdk-Date``, not against the wall clock.

Before writing, each case is checked independently of the SDK's code: the
canonical request is rebuilt from the wire (raw target, headers, body) the way a
server has to (percent-decode, split, re-encode, sort) and must equal the SDK's;
the HMAC-SHA256 of the string to sign must equal the signature in
``Authorization``.

Usage (with the virtualenv of clients/huawei/venv.sh):

    python clients/huawei/vectors.py [--out PATH] [--check]

``--check`` compares with the existing file instead of writing it (exit 1 on a
difference). Output: a JSON list of cases, each
``{"name", "method", "target", "headers": [[name, value], ...], "body",
"access_key", "secret_key", "canonical_request"}``.
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import warnings
from urllib.parse import quote, unquote

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(REPO, "server", "src", "auth", "testdata", "sdk_signatures.json")

# The SDK writes $HOME/.huaweicloud/application_id on import: keep it out of
# the real home directory.
SCRATCH_HOME = tempfile.mkdtemp(prefix="imgshare-huawei-vectors-home-")
os.environ["HOME"] = SCRATCH_HOME
for var in list(os.environ):
    # No credentials or endpoints from the caller's environment.
    if var.startswith("HUAWEICLOUD_"):
        del os.environ[var]
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

warnings.simplefilter("ignore", DeprecationWarning)

from huaweicloudsdkcore.auth.credentials import BasicCredentials  # noqa: E402
from huaweicloudsdkcore.http.http_config import HttpConfig  # noqa: E402
from huaweicloudsdkcore.signer import signer as sdk_signer  # noqa: E402
from huaweicloudsdkims.v2 import ImsClient  # noqa: E402
from huaweicloudsdkims.v2 import model as m  # noqa: E402

PORT = 19292
SDK_DATE = "20261201T201356Z"
# The shape the SDK generates (os/…#…#arch python/… impl/…; app/<uuid>), fixed.
USER_AGENT = "os/Linux##1_SMP_PREEMPT_DYNAMIC_@0#x86_64 python/3.11.7 impl/CPython; " \
             "app/00000000-0000-4000-8000-000000000000"

OWNER_PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
MEMBER_PROJECT = "f9e8d7c6b5a4938271605f4e3d2c1b0a"
AK = "HPUAQ4ZC7ND0WXKVUE3M"
SK = "b1Xq9TzLw3Vf0Kp7Rj2Hs8Gd5Mn4Cy6Ae1Ub3Ii0"
MEMBER_AK = "HPUA7GJ2KD9XQ5WRT0BN"
MEMBER_SK = "Qm8Tr2Xc5Vb1Nz7Lk4Jh0Gf3Ds6Ap9Wo2Ei5Ru8"
TEMP_AK = "HST3MPK4Y2R8GQZ1VW6E"
TEMP_SK = "Zk3Pq8Wn1Rt6Ys0Xv4Bm9Lc2Hf7Jd5Ga3Ue8Io1"
SECURITY_TOKEN = "gQpzdC1zb3V0aC0xLnRlbXAtdG9rZW4uZXhhbXBsZQ=="
IMAGE_ID = "5b6f2d1e-7c3a-4e8b-9f10-2a3b4c5d6e7f"
IMAGE_ID_2 = "c0ffee00-1234-4abc-8def-0123456789ab"

EMPTY_HASH = hashlib.sha256(b"").hexdigest()


# ------------------------------------------------------------ capture server

class Capture:
    """HTTP/1.1 on a raw socket: records each request as the bytes arrived."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind(("127.0.0.1", PORT))
        except OSError:
            print(f"warning: port {PORT} is taken; Host (and so every signature) "
                  f"will differ from a run on port {PORT}", file=sys.stderr)
            self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.requests = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, rest = buf.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            method, target, version = lines[0].decode("ascii").split(" ")
            headers = []
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                assert sep, f"malformed header line {line!r}"
                # Header bytes must be ASCII so that the JSON strings are
                # exactly the wire bytes.
                headers.append([name.decode("ascii"), value.lstrip(b" \t").decode("ascii")])
            lengths = [v for n, v in headers if n.lower() == "content-length"]
            assert not any(n.lower() == "transfer-encoding" for n, _ in headers), "chunked body"
            length = int(lengths[0]) if lengths else 0
            while len(rest) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                rest += chunk
            body = rest[:length]
            with self.lock:
                self.requests.append({"method": method, "target": target, "version": version,
                                      "headers": headers, "body": body})
            answer = b"{}"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"X-Request-Id: req-capture\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))

    def take(self):
        with self.lock:
            got, self.requests = self.requests, []
        assert len(got) == 1, f"expected one request, captured {len(got)}"
        return got[0]


# ----------------------------------------- the SDK's canonical request, observed

CANONICAL = []
_original_canonical = sdk_signer.Signer._process_canonical_request


CANONICAL_KEYS = []


def _recording_canonical(self, request, signed_headers):
    result = _original_canonical(self, request, signed_headers)
    CANONICAL.append(result)
    CANONICAL_KEYS.append((self._ak, self._sk))
    return result


sdk_signer.Signer._process_canonical_request = _recording_canonical


# ------------------------------------------- independent check, from the wire

AUTH_RE = re.compile(r"^(\S+) Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)$")


def enc(s):
    # RFC 3986: everything but A-Za-z0-9-_.~ as %XX of the UTF-8 bytes.
    return quote(s, safe="~")


def canonical_from_wire(method, target, headers, body):
    path, _, query = target.partition("?")
    uri = "/".join(enc(seg) for seg in unquote(path).split("/"))
    if not uri.endswith("/"):
        uri += "/"
    pairs = []
    if query:
        for part in query.split("&"):
            name, _, value = part.partition("=")
            pairs.append((unquote(name), unquote(value)))
    pairs.sort()
    canon_query = "&".join(f"{enc(n)}={enc(v)}" for n, v in pairs)
    auth = [v for n, v in headers if n.lower() == "authorization"][0]
    match = AUTH_RE.match(auth)
    assert match, auth
    signed = match.group(3).split(";")
    lookup = {}
    for n, v in headers:
        assert n.lower() not in lookup, f"header {n} twice"
        lookup[n.lower()] = v
    canon_headers = "".join(f"{n}:{lookup[n].strip()}\n" for n in signed)
    if not body:
        payload = EMPTY_HASH
    elif "x-sdk-content-sha256" in signed:
        payload = lookup["x-sdk-content-sha256"]
    else:
        payload = hashlib.sha256(body).hexdigest()
    canonical = "\n".join([method.upper(), uri, canon_query, canon_headers, ";".join(signed), payload])
    return canonical, match, lookup


def check_case(case, body_bytes):
    canonical, match, lookup = canonical_from_wire(case["method"], case["target"], case["headers"], body_bytes)
    assert match.group(1) == "SDK-HMAC-SHA256", match.group(1)
    assert match.group(2) == case["access_key"], match.group(2)
    assert canonical == case["canonical_request"], \
        f"{case['name']}: canonical request from the wire differs from the SDK's:\n" \
        f"wire:\n{canonical}\nsdk:\n{case['canonical_request']}"
    sts = "SDK-HMAC-SHA256\n%s\n%s" % (lookup["x-sdk-date"], hashlib.sha256(canonical.encode()).hexdigest())
    sig = hmac.new(case["secret_key"].encode(), sts.encode(), hashlib.sha256).hexdigest()
    assert sig == match.group(4), f"{case['name']}: signature mismatch"


# ------------------------------------------------------------------ the cases

def client(url, ak=AK, sk=SK, project=OWNER_PROJECT, security_token=None):
    creds = BasicCredentials(ak, sk, project)
    if security_token:
        creds = creds.with_security_token(security_token)
    config = HttpConfig.get_default_config()
    config.user_agent = USER_AGENT
    c = ImsClient.new_builder().with_credentials(creds).with_endpoint(url).with_http_config(config).build()
    # Kept by the signer instead of "now": the vectors are reproducible.
    c.preset_headers = {"X-Sdk-Date": SDK_DATE}
    return c


def cases(url):
    owner = client(url)
    member = client(url, ak=MEMBER_AK, sk=MEMBER_SK, project=MEMBER_PROJECT)
    temp = client(url, ak=TEMP_AK, sk=TEMP_SK, security_token=SECURITY_TOKEN)
    org_urn = "urn:huaweicloud:cn-north-4:organizations:organization:o-abc/ou-1"
    odd_member = "proj:a b%zz é 中"

    yield "glance_list_image_members", lambda: owner.glance_list_image_members(
        m.GlanceListImageMembersRequest(image_id=IMAGE_ID))

    yield "glance_list_image_members_limit_marker_reserved", lambda: owner.glance_list_image_members(
        m.GlanceListImageMembersRequest(image_id=IMAGE_ID, limit=3, marker="YWJj+/=="))

    # The model types `tag` as str but does not check it; a list goes out as
    # a repeated key (each value sorted and encoded by the signer).
    def repeated():
        req = m.GlanceListImagesRequest(visibility="shared", member_status="accepted", limit=2,
                                        protected=False, imagetype="gold")
        req.tag = ["zeta", "alpha beta", "Alpha"]
        return owner.glance_list_images(req)
    yield "glance_list_images_repeated_key_bool_underscore", repeated

    yield "glance_list_images_member_accepted", lambda: member.glance_list_images(
        m.GlanceListImagesRequest(visibility="shared", member_status="accepted"))

    yield "glance_add_image_member", lambda: owner.glance_add_image_member(
        m.GlanceAddImageMemberRequest(image_id=IMAGE_ID,
                                      body=m.GlanceAddImageMemberRequestBody(member=MEMBER_PROJECT)))

    yield "glance_show_image_member", lambda: owner.glance_show_image_member(
        m.GlanceShowImageMemberRequest(image_id=IMAGE_ID, member_id=MEMBER_PROJECT))

    yield "glance_update_image_member_accept", lambda: member.glance_update_image_member(
        m.GlanceUpdateImageMemberRequest(image_id=IMAGE_ID, member_id=MEMBER_PROJECT,
                                         body=m.GlanceUpdateImageMemberRequestBody(status="accepted")))

    yield "glance_update_image_member_vault", lambda: member.glance_update_image_member(
        m.GlanceUpdateImageMemberRequest(image_id=IMAGE_ID, member_id=MEMBER_PROJECT,
                                         body=m.GlanceUpdateImageMemberRequestBody(
                                             status="rejected", vault_id="vault-0001")))

    yield "glance_delete_image_member", lambda: owner.glance_delete_image_member(
        m.GlanceDeleteImageMemberRequest(image_id=IMAGE_ID, member_id=MEMBER_PROJECT))

    yield "glance_show_image_member_org_urn_slash", lambda: owner.glance_show_image_member(
        m.GlanceShowImageMemberRequest(image_id=IMAGE_ID, member_id=org_urn))

    yield "glance_delete_image_member_org_urn_slash", lambda: owner.glance_delete_image_member(
        m.GlanceDeleteImageMemberRequest(image_id=IMAGE_ID, member_id=org_urn))

    yield "glance_update_image_member_colon_space_percent_unicode", \
        lambda: owner.glance_update_image_member(
            m.GlanceUpdateImageMemberRequest(image_id=IMAGE_ID, member_id=odd_member,
                                             body=m.GlanceUpdateImageMemberRequestBody(status="accepted")))

    yield "glance_add_image_member_unicode_body", lambda: owner.glance_add_image_member(
        m.GlanceAddImageMemberRequest(image_id=IMAGE_ID,
                                      body=m.GlanceAddImageMemberRequestBody(member=odd_member)))

    # A str body is sent as it is (UTF-8), not through simplejson (which
    # escapes non-ASCII): the payload hash is over raw multi-byte UTF-8.
    yield "glance_add_image_member_raw_utf8_body", lambda: owner.glance_add_image_member(
        m.GlanceAddImageMemberRequest(image_id=IMAGE_ID, body='{"member": "proj é 中"}'))

    yield "glance_show_image_member_schemas", lambda: owner.glance_show_image_member_schemas(
        m.GlanceShowImageMemberSchemasRequest())

    yield "glance_list_image_member_schemas", lambda: owner.glance_list_image_member_schemas(
        m.GlanceListImageMemberSchemasRequest())

    yield "glance_create_image_metadata", lambda: owner.glance_create_image_metadata(
        m.GlanceCreateImageMetadataRequest(body=m.GlanceCreateImageMetadataRequestBody(
            name="shared image é 中", visibility="shared", container_format="bare",
            disk_format="qcow2", min_disk=1, min_ram=0, protected=False, tags=["a", "b"])))

    yield "glance_update_image_json_patch_unsigned_payload", lambda: owner.glance_update_image(
        m.GlanceUpdateImageRequest(image_id=IMAGE_ID, body=[
            m.GlanceUpdateImageRequestBody(op="replace", path="/name", value="renamed"),
            m.GlanceUpdateImageRequestBody(op="add", path="/tags/-", value="x")]))

    yield "batch_add_members", lambda: owner.batch_add_members(
        m.BatchAddMembersRequest(body=m.BatchAddMembersRequestBody(
            images=[IMAGE_ID, IMAGE_ID_2], projects=[MEMBER_PROJECT])))

    yield "batch_update_members", lambda: member.batch_update_members(
        m.BatchUpdateMembersRequest(body=m.BatchUpdateMembersRequestBody(
            images=[IMAGE_ID], project_id=MEMBER_PROJECT, status="accepted")))

    yield "batch_delete_members_body", lambda: owner.batch_delete_members(
        m.BatchDeleteMembersRequest(body=m.BatchAddMembersRequestBody(
            images=[IMAGE_ID], projects=[MEMBER_PROJECT],
            organizations=[org_urn])))

    yield "list_image_members_v1_project_path", lambda: owner.list_image_members(
        m.ListImageMembersRequest(image_id=IMAGE_ID))

    yield "list_image_members_v1_query_tilde_star_space_unicode", lambda: owner.list_image_members(
        m.ListImageMembersRequest(image_id=IMAGE_ID, limit=10, marker="a~b*c!'() d+é"))

    yield "show_image_member_v1", lambda: owner.show_image_member(
        m.ShowImageMemberRequest(image_id=IMAGE_ID, member_id=MEMBER_PROJECT))

    yield "glance_list_image_members_security_token", lambda: temp.glance_list_image_members(
        m.GlanceListImageMembersRequest(image_id=IMAGE_ID))

    yield "glance_add_image_member_security_token", lambda: temp.glance_add_image_member(
        m.GlanceAddImageMemberRequest(image_id=IMAGE_ID,
                                      body=m.GlanceAddImageMemberRequestBody(member=MEMBER_PROJECT)))

    # A header added per call (the invoker's add_header) is signed too.
    yield "glance_list_image_members_extra_header_x_auth_token", lambda: owner.glance_list_image_members_invoker(
        m.GlanceListImageMembersRequest(image_id=IMAGE_ID)).add_header("X-Auth-Token", "tok-0123456789").invoke()


cap_port = [None]


def generate():
    cap = Capture()
    cap_port[0] = cap.port
    url = f"http://127.0.0.1:{cap.port}"
    out = []
    for name, call in cases(url):
        CANONICAL.clear()
        CANONICAL_KEYS.clear()
        resp = call()
        assert resp.status_code == 200, (name, resp.status_code)
        req = cap.take()
        assert len(CANONICAL) == 1, (name, len(CANONICAL))
        ak, sk = CANONICAL_KEYS[0]
        body = req["body"]
        case = {
            "name": name,
            "method": req["method"],
            "target": req["target"],
            "headers": req["headers"],
            "body": body.decode("utf-8"),
            "access_key": ak,
            "secret_key": sk,
            "canonical_request": CANONICAL[0],
        }
        check_case(case, body)
        out.append(case)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = ap.parse_args()
    try:
        vectors = generate()
    finally:
        shutil.rmtree(SCRATCH_HOME, ignore_errors=True)
    text = json.dumps(vectors, indent=2, ensure_ascii=False) + "\n"
    if args.check and cap_port[0] != PORT:
        print(f"vectors not checked: port {PORT} was taken, so Host and every signature differ")
        return 0
    if args.check:
        with open(args.out, encoding="utf-8") as f:
            if f.read() != text:
                print(f"{args.out} differs from what the SDK produces now", file=sys.stderr)
                return 1
        print(f"{args.out}: {len(vectors)} cases, unchanged")
        return 0
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {len(vectors)} cases to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
