#!/usr/bin/env python3
"""Huawei Cloud's Python SDK for IMS, unchanged, against a running imgshare server.

The SDK signs every call with AK/SK (``SDK-HMAC-SHA256``) and sends the
project as ``X-Project-Id``; nothing here patches it. Clients are built the
way Huawei documents, plus only the SDK's public hooks where a check needs
them (a response hook that records headers; ``add_header`` / a request hook to
send an old ``X-Sdk-Date`` or to alter a request after signing):

    ImsClient.new_builder()
        .with_credentials(BasicCredentials(ak, sk, project_id))
        .with_endpoint(url).build()

The flow: create a shared image, add a member, list, show, the member accepts,
the owner lists again, the member's image list shows the image, remove the
member, the member schemas; then the errors: self-share (400 IMG.0076),
duplicate (409 imgshare.member_duplicate), quota (413 IMG.0088), unknown image
(404 IMG.0086), wrong secret / unknown key / SDK-HMAC-SM3 / stale date /
request changed after signing (401 imgshare.unauthorized), a project the key
may not act in (403 imgshare.project_not_allowed), requests whose canonical
form differs from the wire form (%2F in a member id, repeated and reserved
query values), and the request id of every answer and exception.

Run by ``clients/huawei/run.sh``, which starts the server and sets:

    IMGSHARE_URL          root URL of the server, e.g. http://127.0.0.1:40309
    IMGSHARE_SERVER_LOG   the server's stderr (access log), shown on failure
    HW_MEMBER_QUOTA       the server's --member-quota
    HW_{OWNER,MEMBER,STRANGER}_{AK,SK,PROJECT}
                          the three access keys and the project each acts in

Output: one line per check (``ok   name`` / ``FAIL name``), then
``N passed, N failed``; exit status 1 if any check failed.
"""

import atexit
import datetime
import os
import re
import shutil
import sys
import tempfile
import traceback
import uuid
import warnings

# The SDK writes $HOME/.huaweicloud/application_id on import, and reads
# credentials from HUAWEICLOUD_* variables and ~/.huaweicloud: a scratch home
# and a clean environment.
os.environ["HOME"] = tempfile.mkdtemp(prefix="imgshare-huawei-home-")
atexit.register(shutil.rmtree, os.environ["HOME"], True)
for _var in list(os.environ):
    if _var.startswith("HUAWEICLOUD_"):
        del os.environ[_var]
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
# Every glance_* call of the SDK warns that it is deprecated.
warnings.simplefilter("ignore", DeprecationWarning)

from huaweicloudsdkcore.auth.credentials import BasicCredentials  # noqa: E402
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException  # noqa: E402
from huaweicloudsdkcore.http.http_config import HttpConfig  # noqa: E402
from huaweicloudsdkcore.http.http_handler import HttpHandler  # noqa: E402
from huaweicloudsdkcore.signer.algorithm import SigningAlgorithm  # noqa: E402
from huaweicloudsdkims.v2 import ImsClient  # noqa: E402
from huaweicloudsdkims.v2 import model as m  # noqa: E402
from requests.structures import CaseInsensitiveDict  # noqa: E402

URL = os.environ["IMGSHARE_URL"].rstrip("/")
QUOTA = int(os.environ.get("HW_MEMBER_QUOTA", "3"))
KEYS = {
    who: {part: os.environ[f"HW_{who.upper()}_{part.upper()}"] for part in ("ak", "sk", "project")}
    for who in ("owner", "member", "stranger")
}
OWNER = KEYS["owner"]["project"]
MEMBER = KEYS["member"]["project"]
STRANGER = KEYS["stranger"]["project"]
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# dropshot 0.18 writes X-Request-Id itself, after every handler, with its own
# request UUID; x-openstack-request-id is Glance's req-<that UUID> (README,
# "Request IDs"). So the SDK's request_id is the UUID inside the req- id.
UUID_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

# ----------------------------------------------------------------- reporting

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from checks import check, summary  # noqa: E402  (clients/checks.py)


def describe(x):
    if isinstance(x, ClientRequestException):
        return (f"ClientRequestException status={x.status_code} error_code={x.error_code!r} "
                f"request_id={x.request_id!r} error_msg={x.error_msg!r}")
    if isinstance(x, BaseException):
        return f"{type(x).__name__}: {x}"
    if hasattr(x, "to_dict"):
        return f"{type(x).__name__} status_code={getattr(x, 'status_code', None)} {x.to_dict()}"
    return repr(x)


def attempt(fn):
    """(result, None) or (None, exception)."""
    try:
        return fn(), None
    except Exception as e:  # noqa: BLE001 - reported by the check
        return None, e


# ------------------------------------------------------------------- clients

# Every response the SDK receives, recorded by a response hook.
RESPONSES = []


def _record_response(**kwargs):
    resp = kwargs["response"]
    RESPONSES.append((resp.request.method, resp.request.url, resp.status_code,
                      CaseInsensitiveDict(resp.headers)))


def client(who=None, ak=None, sk=None, project=None, request_hook=None, signing_algorithm=None):
    key = KEYS[who] if who else {}
    creds = BasicCredentials(ak or key["ak"], sk or key["sk"], project or key["project"])
    handler = HttpHandler().add_response_handler(_record_response)
    if request_hook:
        handler.add_request_handler(request_hook)
    builder = ImsClient.new_builder() \
        .with_credentials(creds) \
        .with_endpoint(URL) \
        .with_http_handler(handler)
    if signing_algorithm:
        config = HttpConfig.get_default_config()
        config.signing_algorithm = signing_algorithm
        builder = builder.with_http_config(config)
    return builder.build()


owner = client("owner")
member = client("member")
stranger = client("stranger")


def create_image(name):
    return owner.glance_create_image_metadata(m.GlanceCreateImageMetadataRequest(
        body=m.GlanceCreateImageMetadataRequestBody(
            name=name, visibility="shared", container_format="bare", disk_format="qcow2",
            min_disk=1, min_ram=0)))


def add_member(c, image_id, member_id):
    return c.glance_add_image_member(m.GlanceAddImageMemberRequest(
        image_id=image_id, body=m.GlanceAddImageMemberRequestBody(member=member_id)))


def list_members(c, image_id, **query):
    return c.glance_list_image_members(m.GlanceListImageMembersRequest(image_id=image_id, **query))


def show_member(c, image_id, member_id):
    return c.glance_show_image_member(m.GlanceShowImageMemberRequest(image_id=image_id, member_id=member_id))


def update_member(c, image_id, member_id, status):
    return c.glance_update_image_member(m.GlanceUpdateImageMemberRequest(
        image_id=image_id, member_id=member_id, body=m.GlanceUpdateImageMemberRequestBody(status=status)))


def delete_member(c, image_id, member_id):
    return c.glance_delete_image_member(m.GlanceDeleteImageMemberRequest(image_id=image_id, member_id=member_id))


def shared_accepted_ids(c):
    resp = c.glance_list_images(m.GlanceListImagesRequest(visibility="shared", member_status="accepted"))
    assert resp.status_code == 200, describe(resp)
    return [img.id for img in (resp.images or [])]


def member_entry(resp, member_id):
    return [x for x in (resp.members or []) if x.member_id == member_id]


def expect_error(name, fn, status, code):
    """The call must raise ClientRequestException with this status and code
    (the SDK read the code from the envelope: without a code+message pair it
    would say str(status)), and carry a req-... request id."""
    result, err = attempt(fn)
    ok = isinstance(err, ClientRequestException) and err.status_code == status \
        and err.error_code == code and bool(err.error_msg)
    want = f"ClientRequestException {status} {code}"
    check(name, ok, f"want {want}, got {describe(err if err else result)}")
    if isinstance(err, ClientRequestException):
        check(f"{name}: request_id is the request's UUID",
              bool(err.request_id) and bool(UUID_ID_RE.match(err.request_id)),
              f"request_id={err.request_id!r}")
    return err


def sdk_date(delta):
    return (datetime.datetime.now(datetime.timezone.utc) + delta).strftime(SDK_DATE_FORMAT)


# -------------------------------------------------------------------- checks

def flow():
    name = f"huawei-sdk-{uuid.uuid4().hex[:8]}"
    resp, err = attempt(lambda: create_image(name))
    if not check("create image (glance_create_image_metadata, shared)",
                 err is None and resp.status_code == 201 and bool(UUID_RE.match(resp.id or ""))
                 and resp.visibility == "shared" and resp.owner == OWNER and resp.name == name,
                 describe(err or resp)):
        return None
    image = resp.id

    resp, err = attempt(lambda: shared_accepted_ids(member))
    check("member's image list (accepted) lacks the image before sharing",
          err is None and image not in resp, describe(err) if err else f"ids={resp}")

    resp, err = attempt(lambda: add_member(owner, image, MEMBER))
    check("add member (glance_add_image_member)",
          err is None and resp.status_code == 200 and resp.member_id == MEMBER
          and resp.image_id == image and resp.status == "pending" and bool(resp.created_at),
          describe(err or resp))

    resp, err = attempt(lambda: list_members(owner, image))
    entries = [] if err else member_entry(resp, MEMBER)
    check("owner lists members: the member, pending",
          err is None and resp.status_code == 200 and len(resp.members or []) == 1
          and len(entries) == 1 and entries[0].status == "pending" and entries[0].image_id == image
          and resp.schema == "/v2/schemas/members",
          describe(err or resp))

    resp, err = attempt(lambda: show_member(owner, image, MEMBER))
    check("owner shows the member (glance_show_image_member)",
          err is None and resp.status_code == 200 and resp.member_id == MEMBER
          and resp.image_id == image and resp.status == "pending" and resp.schema == "/v2/schemas/member",
          describe(err or resp))

    resp, err = attempt(lambda: shared_accepted_ids(member))
    check("member's image list (accepted) lacks a pending share",
          err is None and image not in resp, describe(err) if err else f"ids={resp}")

    expect_error("stranger lists the members: 404 IMG.0086", lambda: list_members(stranger, image), 404,
                 "IMG.0086")

    expect_error("owner may not accept for the member: 403 IMG.0026",
                 lambda: update_member(owner, image, MEMBER, "accepted"), 403, "IMG.0026")

    resp, err = attempt(lambda: update_member(member, image, MEMBER, "accepted"))
    check("member accepts (glance_update_image_member)",
          err is None and resp.status_code == 200 and resp.member_id == MEMBER
          and resp.image_id == image and resp.status == "accepted",
          describe(err or resp))

    resp, err = attempt(lambda: list_members(owner, image))
    entries = [] if err else member_entry(resp, MEMBER)
    check("owner lists members again: accepted",
          err is None and len(entries) == 1 and entries[0].status == "accepted", describe(err or resp))

    resp, err = attempt(lambda: list_members(member, image))
    entries = [] if err else member_entry(resp, MEMBER)
    check("member lists the members: only itself, accepted",
          err is None and len(resp.members or []) == 1 and len(entries) == 1
          and entries[0].status == "accepted", describe(err or resp))

    resp, err = attempt(lambda: shared_accepted_ids(member))
    check("member's image list (glance_list_images member_status=accepted) shows the image",
          err is None and image in resp, describe(err) if err else f"ids={resp}")

    resp, err = attempt(lambda: update_member(member, image, MEMBER, "rejected"))
    check("member rejects", err is None and resp.status == "rejected", describe(err or resp))
    resp, err = attempt(lambda: shared_accepted_ids(member))
    check("member's accepted list lacks a rejected share",
          err is None and image not in resp, describe(err) if err else f"ids={resp}")

    resp, err = attempt(lambda: delete_member(owner, image, MEMBER))
    check("remove member (glance_delete_image_member)",
          err is None and resp.status_code == 204, describe(err or resp))

    expect_error("show the removed member: 404 imgshare.not_found", lambda: show_member(owner, image, MEMBER),
                 404, "imgshare.not_found")
    resp, err = attempt(lambda: list_members(owner, image))
    check("owner lists members after removal: none",
          err is None and resp.status_code == 200 and (resp.members or []) == [], describe(err or resp))
    return image


def schemas():
    resp, err = attempt(lambda: owner.glance_show_image_member_schemas(m.GlanceShowImageMemberSchemasRequest()))
    props = (resp.properties or {}) if err is None else {}
    check("member schema (glance_show_image_member_schemas)",
          err is None and resp.status_code == 200 and resp.name == "member"
          and {"member_id", "image_id", "status"} <= set(props),
          describe(err or resp))
    resp, err = attempt(lambda: owner.glance_list_image_member_schemas(m.GlanceListImageMemberSchemasRequest()))
    props = (resp.properties or {}) if err is None else {}
    links = [] if err else [(link.rel, link.href) for link in (resp.links or [])]
    check("members schema (glance_list_image_member_schemas)",
          err is None and resp.status_code == 200 and resp.name == "members" and "members" in props
          and ("describedby", "{schema}") in links,
          describe(err or resp))


def errors(image):
    expect_error("self-share: 400 IMG.0076", lambda: add_member(owner, image, OWNER), 400, "IMG.0076")

    resp, err = attempt(lambda: add_member(owner, image, MEMBER))
    check("add the member again after removal", err is None and resp.status == "pending", describe(err or resp))
    expect_error("duplicate add: 409 imgshare.member_duplicate", lambda: add_member(owner, image, MEMBER), 409,
                 "imgshare.member_duplicate")

    resp, err = attempt(lambda: create_image(f"huawei-sdk-quota-{uuid.uuid4().hex[:8]}"))
    if check("create a second image for the quota", err is None and resp.status_code == 201, describe(err or resp)):
        quota_image = resp.id
        added = []
        for i in range(QUOTA):
            project = uuid.uuid4().hex
            resp, err = attempt(lambda: add_member(owner, quota_image, project))
            if err is None and resp.status_code == 200 and resp.member_id == project:
                added.append(project)
        check(f"quota {QUOTA}: members 1..{QUOTA} added", len(added) == QUOTA, f"added {len(added)}")
        expect_error(f"quota {QUOTA}: member {QUOTA + 1} is 413 IMG.0088",
                     lambda: add_member(owner, quota_image, uuid.uuid4().hex), 413, "IMG.0088")

    unknown = str(uuid.uuid4())
    expect_error("unknown image: add member 404 IMG.0086", lambda: add_member(owner, unknown, MEMBER), 404,
                 "IMG.0086")
    expect_error("unknown image: list members 404 IMG.0086", lambda: list_members(owner, unknown), 404,
                 "IMG.0086")


def auth(image):
    # Wrong secret: a correct access key with another secret key.
    wrong_sk = client(ak=KEYS["owner"]["ak"], sk=KEYS["owner"]["sk"][::-1], project=OWNER)
    expect_error("wrong secret key: 401 imgshare.unauthorized", lambda: list_members(wrong_sk, image), 401,
                 "imgshare.unauthorized")
    unknown_ak = client(ak="HPUA" + uuid.uuid4().hex[:16].upper(), sk=KEYS["owner"]["sk"], project=OWNER)
    expect_error("unknown access key: 401 imgshare.unauthorized", lambda: list_members(unknown_ak, image), 401,
                 "imgshare.unauthorized")
    # The key is valid and the signature is right, but the key's user has no
    # role in the stranger's project.
    foreign = client(ak=KEYS["owner"]["ak"], sk=KEYS["owner"]["sk"], project=STRANGER)
    expect_error("X-Project-Id of a project the key may not act in: 403 imgshare.project_not_allowed",
                 lambda: list_members(foreign, image), 403, "imgshare.project_not_allowed")
    expect_error("X-Project-Id of a project the key may not act in, add member: 403 imgshare.project_not_allowed",
                 lambda: add_member(foreign, image, uuid.uuid4().hex), 403, "imgshare.project_not_allowed")

    # Another algorithm the SDK offers (HttpConfig.signing_algorithm), with
    # the right keys: only SDK-HMAC-SHA256 is accepted.
    sm3 = client("owner", signing_algorithm=SigningAlgorithm.HMAC_SM3)
    expect_error("SDK-HMAC-SM3 signature (right keys): 401 imgshare.unauthorized",
                 lambda: list_members(sm3, image), 401, "imgshare.unauthorized")

    # X-Sdk-Date: the SDK keeps a preset one and signs with it.
    def with_date(delta):
        return owner.glance_list_image_members_invoker(
            m.GlanceListImageMembersRequest(image_id=image)).add_header("X-Sdk-Date", sdk_date(delta)).invoke()
    resp, err = attempt(lambda: with_date(datetime.timedelta(minutes=-10)))
    check("X-Sdk-Date 10 minutes old: accepted", err is None and resp.status_code == 200, describe(err or resp))
    resp, err = attempt(lambda: with_date(datetime.timedelta(minutes=10)))
    check("X-Sdk-Date 10 minutes ahead: accepted", err is None and resp.status_code == 200, describe(err or resp))
    expect_error("X-Sdk-Date 20 minutes old: 401 imgshare.unauthorized",
                 lambda: with_date(datetime.timedelta(minutes=-20)), 401, "imgshare.unauthorized")
    expect_error("X-Sdk-Date 20 minutes ahead: 401 imgshare.unauthorized",
                 lambda: with_date(datetime.timedelta(minutes=20)), 401, "imgshare.unauthorized")

    # A request hook runs after signing, right before sending: what it changes
    # is not covered by the signature.
    def tamper_body(request, **_):
        if request.body:
            request.body = request.body.replace(MEMBER.encode(), STRANGER.encode())

    tampered = client("owner", request_hook=tamper_body)
    expect_error("body changed after signing: 401 imgshare.unauthorized",
                 lambda: add_member(tampered, image, MEMBER), 401, "imgshare.unauthorized")

    def tamper_query(request, **_):
        request.uri = request.uri.replace("limit=1", "limit=2")

    tampered = client("owner", request_hook=tamper_query)
    expect_error("query changed after signing: 401 imgshare.unauthorized",
                 lambda: list_members(tampered, image, limit=1), 401, "imgshare.unauthorized")

    def tamper_project(request, **_):
        request.header_params["X-Project-Id"] = MEMBER

    tampered = client("owner", request_hook=tamper_project)
    expect_error("X-Project-Id changed after signing: 401 imgshare.unauthorized",
                 lambda: list_members(tampered, image), 401, "imgshare.unauthorized")

    def drop_date(request, **_):
        request.header_params.pop("X-Sdk-Date", None)

    tampered = client("owner", request_hook=drop_date)
    expect_error("X-Sdk-Date removed after signing: 401 imgshare.unauthorized",
                 lambda: list_members(tampered, image), 401, "imgshare.unauthorized")


def canonical_forms(image):
    """Requests whose canonical form is not the wire form: a server that
    rebuilds it wrongly answers 401 instead of the real answer."""
    resp, err = attempt(lambda: list_members(owner, image, limit=1))
    check("signed query limit=1: 200, one member",
          err is None and resp.status_code == 200 and len(resp.members or []) == 1, describe(err or resp))

    # Paging as the SDK models it: page_info.next_marker back as marker.
    for extra in ("project-page-x", "project-page-y"):
        attempt(lambda: add_member(owner, image, extra))
    whole, err = attempt(lambda: list_members(owner, image))
    want = [x.member_id for x in (whole.members or [])] if whole else []
    got, marker, pages = [], None, 0
    while err is None and pages < 20:
        query = {"limit": 1} if marker is None else {"limit": 1, "marker": marker}
        page, err = attempt(lambda: list_members(owner, image, **query))
        if err is not None:
            break
        pages += 1
        got += [x.member_id for x in (page.members or [])]
        marker = page.page_info.next_marker if page.page_info else None
        if not marker:
            break
    check(f"list paged with limit=1 and page_info.next_marker: {pages} pages = the whole list",
          err is None and len(want) >= 3 and got == want and pages == len(want)
          and whole.page_info.current_count == len(want),
          f"pages={pages} got={got} want={want} err={describe(err) if err else None}")

    def repeated():
        req = m.GlanceListImagesRequest(visibility="shared", limit=5)
        req.tag = ["zeta", "alpha beta", "Alpha"]  # a list goes out as a repeated key
        return owner.glance_list_images(req)
    resp, err = attempt(repeated)
    check("signed repeated query key (tag=Alpha&tag=alpha%20beta&tag=zeta): 200",
          err is None and resp.status_code == 200, describe(err or resp))

    resp, err = attempt(lambda: owner.glance_list_images(m.GlanceListImagesRequest(
        name="a b+c/d=é 中~*", member_status="accepted")))
    check("signed query value with space + / = é 中 ~ *: 200",
          err is None and resp.status_code == 200 and resp.images == [], describe(err or resp))

    # 404 (not 401) shows the signature verified; the message naming the
    # member shows the server decoded the path parameter once, exactly.
    for label, odd in [("/ (%2F on the wire, / when signed)",
                        "urn:huaweicloud:cn-north-4:organizations:organization:o-abc/ou-1"),
                       (": space % é 中", "proj:a b%zz é 中")]:
        err = expect_error(f"member id with {label}: 404 imgshare.not_found, not 401",
                           lambda: show_member(owner, image, odd), 404, "imgshare.not_found")
        msg = getattr(err, "error_msg", None) or ""
        check(f"member id with {label}: the 404 names the member as sent", odd in msg, f"error_msg={msg!r}")


def request_ids():
    bad = [(meth, url, status, h.get("X-Request-Id"), h.get("x-openstack-request-id"))
           for meth, url, status, h in RESPONSES
           if not (h.get("X-Request-Id") and UUID_ID_RE.match(h["X-Request-Id"])
                   and "req-" + h.get("X-Request-Id") == h.get("x-openstack-request-id"))]
    check(f"every answer ({len(RESPONSES)}) has x-openstack-request-id = req-<X-Request-Id>",
          len(RESPONSES) > 0 and not bad, f"{len(bad)} without: {bad[:5]}")
    ids = [h.get("X-Request-Id") for _, _, _, h in RESPONSES]
    check("request ids are distinct", len(set(ids)) == len(ids), f"{len(ids) - len(set(ids))} repeated")


def main():
    print(f"imgshare at {URL}; Huawei SDK, AK/SK; owner {OWNER}, member {MEMBER}, stranger {STRANGER}")
    steps = [("flow", flow), ("schemas", schemas)]
    image = None
    for label, step in steps:
        try:
            result = step()
            if label == "flow":
                image = result
        except Exception:  # noqa: BLE001
            check(f"{label}: no unexpected exception", False, traceback.format_exc())
    later = [("errors", errors), ("auth", auth), ("canonical forms", canonical_forms)]
    if image is None:
        check("an image to run the error checks on", False, "the flow created none")
        # The authentication checks still say something on an unknown image.
        image, later = str(uuid.uuid4()), [("auth", auth)]
    for label, step in later:
        try:
            step(image)
        except Exception:  # noqa: BLE001
            check(f"{label}: no unexpected exception", False, traceback.format_exc())
    request_ids()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
