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

Then Huawei's own API (``batch``): batch add / update / delete as jobs polled
with show_job (and show_job_progress), the v1 member list (paged) and show,
list_images (``__imagetype``), show_image_quota, the IMG.xxxx refusals and
per-item job failures, job and v1-path access, and glance_delete_image with
its ``delete_backup`` body (clients/huawei/README.md lists them).

Run by ``clients/huawei/run.sh``, which starts the server and sets:

    IMGSHARE_URL          root URL of the server, e.g. http://127.0.0.1:40309
    IMGSHARE_SERVER_LOG   the server's stderr (access log), shown on failure
    HW_MEMBER_QUOTA       the server's --member-quota
    HW_{OWNER,MEMBER,STRANGER}_{AK,SK,PROJECT}
                          the three access keys and the project each acts in
    HW_ADMIN_{AK,SK,PROJECT}
                          optional: an admin key (its own project) to create
                          the public image for IMG.0089; skipped without it

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
import time
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
# An admin (roles admin, member, reader) in a project of its own, if run.sh
# made one: only an admin may create a public image (for IMG.0089).
if os.environ.get("HW_ADMIN_AK"):
    KEYS["admin"] = {part: os.environ[f"HW_ADMIN_{part.upper()}"] for part in ("ak", "sk", "project")}
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
admin = client("admin") if "admin" in KEYS else None

# (method, body) of every request the owner's recording client sends, as
# signed and sent (a request hook runs right before sending).
SENT = []
recorder = client("owner", request_hook=lambda request, **_: SENT.append((request.method, request.body)))


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


# ------------------------------------------------------ Huawei's own API (v1)
#
# The batch member calls run as jobs: poll show_job until the job ends.

JOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")
JOB_POLL = 0.05      # seconds between polls
JOB_DEADLINE = 10.0  # seconds a job may take
JOB_ORDER = ["INIT", "RUNNING", "SUCCESS", "FAIL"]


def batch_body(images, projects=None, **extra):
    return m.BatchAddMembersRequestBody(images=images, projects=projects, **extra)


def batch_add(c, images, projects=None, **extra):
    return c.batch_add_members(m.BatchAddMembersRequest(body=batch_body(images, projects, **extra)))


def batch_delete(c, images, projects=None, **extra):
    return c.batch_delete_members(m.BatchDeleteMembersRequest(body=batch_body(images, projects, **extra)))


def batch_update(c, images, project_id, status):
    return c.batch_update_members(m.BatchUpdateMembersRequest(
        body=m.BatchUpdateMembersRequestBody(images=images, project_id=project_id, status=status)))


def show_job(c, job_id):
    return c.show_job(m.ShowJobRequest(job_id=job_id))


def show_job_progress(c, job_id):
    return c.show_job_progress(m.ShowJobProgressRequest(job_id=job_id))


def v1_list_members(c, image_id, **query):
    return c.list_image_members(m.ListImageMembersRequest(image_id=image_id, **query))


def v1_show_member(c, image_id, member_id):
    return c.show_image_member(m.ShowImageMemberRequest(image_id=image_id, member_id=member_id))


def with_path_project(invoker, project):
    """The v1 path names `project` while X-Project-Id (and the signature)
    stay the credentials': the SDK fills ``{project_id}`` from the
    credentials only where the request's own path parameters left it, so one
    set in the invoker's request description wins. (No public setter exists:
    the SDK itself always sends the same project in both.)"""
    invoker._http_info.setdefault("path_params", {})["project_id"] = project
    return invoker


def started_job(label, fn):
    """Makes a batch call; the job ID if it answered 200 with one."""
    resp, err = attempt(fn)
    ok = err is None and resp.status_code == 200 and bool(JOB_ID_RE.match(resp.job_id or ""))
    check(f"{label}: 200 with a job_id of 32 hex digits", ok, describe(err or resp))
    return resp.job_id if ok else None


def wait_job(c, job_id):
    """Polls show_job every JOB_POLL s until SUCCESS or FAIL, or JOB_DEADLINE:
    (the last answer, the statuses seen in order, seconds taken)."""
    start = time.monotonic()
    seen = []
    while True:
        resp = show_job(c, job_id)
        if not seen or seen[-1] != resp.status:
            seen.append(resp.status)
        elapsed = time.monotonic() - start
        if resp.status in ("SUCCESS", "FAIL") or elapsed > JOB_DEADLINE:
            return resp, seen, elapsed
        time.sleep(JOB_POLL)


def when(text):
    """An RFC 3339 time as a datetime: `…:26Z` and `…:26.002Z` compare as
    times, not as strings (as strings the first sorts after the second)."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def finished_job(label, c, job_id, want_status, job_type):
    """Waits for the job and checks its top level: the status wanted, reached
    through INIT/RUNNING only, the type, the times; error_code and
    fail_reason only on FAIL. The ShowJobResponse, or None."""
    if job_id is None:
        return None
    resp, err = attempt(lambda: wait_job(c, job_id))
    if err is not None:
        check(f"{label}: show_job until done", False, describe(err))
        return None
    job, seen, elapsed = resp
    order_ok = all(s in JOB_ORDER for s in seen) and \
        [JOB_ORDER.index(s) for s in seen] == sorted(JOB_ORDER.index(s) for s in seen)
    failed = want_status == "FAIL"
    ok = (job.status == want_status and order_ok and job.job_id == job_id and job.job_type == job_type
          and bool(job.begin_time) and bool(job.end_time) and when(job.end_time) >= when(job.begin_time)
          and (bool(job.error_code) and bool(job.fail_reason)) == failed
          and (failed or (job.error_code is None and job.fail_reason is None))
          and job.entities is not None and job.entities.process_percent == 1)
    check(f"{label}: show_job polled to {want_status} ({job_type}) in {elapsed:.2f} s, statuses {seen}", ok,
          describe(job))
    return job


def results_of(job):
    return [(r.image_id, r.project_id, r.status) for r in ((job.entities.results if job.entities else None) or [])]


def members_of(c, image_id):
    resp = list_members(c, image_id)
    assert resp.status_code == 200, describe(resp)
    return sorted(x.member_id for x in (resp.members or []))


def owner_image_ids():
    resp = owner.glance_list_images(m.GlanceListImagesRequest(owner=OWNER, limit=1000))
    assert resp.status_code == 200, describe(resp)
    return [img.id for img in (resp.images or [])]


def check_quota(label, c):
    """show_image_quota: one image_member quota, the server's, and its use:
    the most members any of the owner's images has (from the native lists)."""
    want_used, err = attempt(lambda: max([len(members_of(owner, i)) for i in owner_image_ids()] or [0]))
    if err is not None:
        check(f"{label}: count the owner's members", False, describe(err))
        return
    resp, err = attempt(lambda: c.show_image_quota(m.ShowImageQuotaRequest()))
    resources = [] if err else ((resp.quotas.resources if resp.quotas else None) or [])
    mine = [r for r in resources if r.type == "image_member"]
    check(f"{label}: show_image_quota image_member quota {QUOTA}, used {want_used}",
          err is None and resp.status_code == 200 and len(mine) == 1 and mine[0].quota == QUOTA
          and mine[0].used == want_used, describe(err or resp))


def batch():
    """Huawei's batch sharing through the SDK's v1 calls, start to end."""
    images = []
    for label in ("a", "b"):
        resp, err = attempt(lambda: create_image(f"huawei-sdk-batch-{label}-{uuid.uuid4().hex[:8]}"))
        if err is None and resp.status_code == 201:
            images.append(resp.id)
    if not check("batch: create two shared images", len(images) == 2, f"created {images}"):
        return
    image_a, image_b = images
    extra1, extra2 = uuid.uuid4().hex, uuid.uuid4().hex
    projects = [MEMBER, extra1, extra2]

    # 1. Batch add, 2 images x 3 projects.
    add_job = started_job("batch_add_members 2 images x 3 projects",
                          lambda: batch_add(owner, images, projects))
    job = finished_job("batch add", owner, add_job, "SUCCESS", "imsAddImageMembersJob")
    if job is not None:
        results = results_of(job)
        want = sorted((i, p, "success") for i in images for p in projects)
        check("batch add: show_job entities.results = 6 entries, each image x project success",
              sorted(results) == want and len(results) == 6, f"results={results}")
    if add_job is None:
        return
    resp, err = attempt(lambda: [members_of(owner, i) for i in images])
    check("batch add: the native lists show the 3 members on each image",
          err is None and resp == [sorted(projects)] * 2, describe(err) if err else f"members={resp}")

    # 2. The same job through show_job_progress.
    resp, err = attempt(lambda: show_job_progress(owner, add_job))
    ok = err is None and resp.status_code == 200 and resp.status == "SUCCESS" and resp.job_id == add_job \
        and resp.job_type == "imsAddImageMembersJob" and bool(resp.begin_time) and bool(resp.end_time) \
        and resp.error_code is None and resp.fail_reason is None \
        and isinstance(resp.entities, m.JobProgressEntities) and resp.entities.process_percent == 1
    check("show_job_progress: SUCCESS, job_id, job_type, times, entities.process_percent 1", ok,
          describe(err or resp))
    raw, rerr = attempt(lambda: resp.to_json_object())
    raw_results = [] if rerr or not raw else (raw.get("entities") or {}).get("results") or []
    check("show_job_progress: entities.results (raw_content only) = the 6 successes",
          err is None and rerr is None
          and sorted((r.get("image_id"), r.get("project_id"), r.get("status")) for r in raw_results)
          == sorted((i, p, "success") for i in images for p in projects),
          describe(rerr) if rerr else f"raw={raw}")

    # 3. v1 list, paged by 2 with page_info.next_marker.
    pages, got, marker, err = [], [], None, None
    while len(pages) < 10:
        query = {"limit": 2} if marker is None else {"limit": 2, "marker": marker}
        page, err = attempt(lambda: v1_list_members(owner, image_a, **query))
        if err is not None:
            break
        pages.append(page)
        got += page.members or []
        marker = page.page_info.next_marker if page.page_info else None
        if not marker:
            break
    sizes = [len(p.members or []) for p in pages]
    ok = err is None and sizes == [2, 1] \
        and all(p.status_code == 200 and p.schema == "/v2/schemas/members" and p.page_info is not None
                and p.page_info.current_count == len(p.members or []) for p in pages) \
        and bool(pages[0].page_info.next_marker) and not pages[-1].page_info.next_marker \
        and sorted(x.member_id for x in got) == sorted(projects) \
        and all(x.member_type == "project" and x.image_id == image_a and x.status == "pending"
                and x.schema == "/v2/schemas/member" and x.urn is None for x in got)
    check("list_image_members (v1) limit=2 then page_info.next_marker: pages of 2 and 1, last without "
          "next_marker, all 3 members, member_type project", ok,
          describe(err) if err else f"sizes={sizes} pages={[describe(p) for p in pages]}")

    # 4. v1 show.
    resp, err = attempt(lambda: v1_show_member(owner, image_a, MEMBER))
    check("show_image_member (v1): member_type project, pending",
          err is None and resp.status_code == 200 and resp.member_id == MEMBER and resp.image_id == image_a
          and resp.status == "pending" and resp.member_type == "project" and resp.schema == "/v2/schemas/member"
          and bool(resp.created_at) and bool(resp.updated_at), describe(err or resp))

    expect_error("show_image_member (v1) of a project that is no member: 404 imgshare.not_found",
                 lambda: v1_show_member(owner, image_a, STRANGER), 404, "imgshare.not_found")

    # 5. The member accepts image A (batch update, the member's own key).
    expect_error("batch_update_members for another project: 403 IMG.0026",
                 lambda: batch_update(member, [image_a], OWNER, "accepted"), 403, "IMG.0026")
    update_job = started_job("batch_update_members by the member (accepted)",
                             lambda: batch_update(member, [image_a], MEMBER, "accepted"))
    job = finished_job("batch update", member, update_job, "SUCCESS", "imsUpdateImageMembersJob")
    if job is not None:
        check("batch update: entities.results = image A, the member, success",
              results_of(job) == [(image_a, MEMBER, "success")], f"results={results_of(job)}")
    resp, err = attempt(lambda: show_member(owner, image_a, MEMBER))
    check("after the batch accept: glance_show_image_member says accepted",
          err is None and resp.status == "accepted", describe(err or resp))
    resp, err = attempt(lambda: v1_show_member(member, image_a, MEMBER))
    check("after the batch accept: show_image_member (v1, the member's project) says accepted",
          err is None and resp.status == "accepted" and resp.member_type == "project", describe(err or resp))
    resp, err = attempt(lambda: v1_list_members(member, image_a))
    check("list_image_members (v1) by the member: only itself, accepted, member_type project",
          err is None and [(x.member_id, x.status, x.member_type) for x in resp.members or []]
          == [(MEMBER, "accepted", "project")] and resp.page_info.current_count == 1,
          describe(err or resp))
    resp, err = attempt(lambda: show_member(owner, image_b, MEMBER))
    check("after the batch accept: image B still pending", err is None and resp.status == "pending",
          describe(err or resp))

    # 6. Huawei's image list (GET /v2/cloudimages) as the member.
    resp, err = attempt(lambda: member.list_images(m.ListImagesRequest(imagetype="shared")))
    found = [] if err else [x for x in (resp.images or []) if x.id == image_a]
    raw, rerr = (None, None) if err else attempt(lambda: resp.to_json_object())
    raw_found = [] if err or rerr or not raw else [x for x in raw.get("images") or [] if x.get("id") == image_a]
    ids = [] if err else [x.id for x in (resp.images or [])]
    check("list_images (IMS) __imagetype=shared as the member: the accepted image, imagetype shared "
          "(model and raw __imagetype), not the pending one",
          err is None and resp.status_code == 200 and len(found) == 1 and found[0].imagetype == "shared"
          and found[0].owner == OWNER and len(raw_found) == 1 and raw_found[0].get("__imagetype") == "shared"
          and image_b not in ids and all(x.imagetype == "shared" for x in resp.images or []),
          describe(err or rerr) if (err or rerr) else f"ids={ids} found={[x.to_dict() for x in found]}")
    resp, err = attempt(lambda: member.list_images(m.ListImagesRequest(imagetype="shared", member_status="pending")))
    ids = [] if err else [x.id for x in (resp.images or [])]
    check("list_images (IMS) __imagetype=shared member_status=pending: the pending image only",
          err is None and image_b in ids and image_a not in ids, describe(err) if err else f"ids={ids}")
    resp, err = attempt(lambda: owner.list_images(m.ListImagesRequest(imagetype="private")))
    mine = {} if err else {x.id: x.imagetype for x in (resp.images or [])}
    check("list_images (IMS) __imagetype=private as the owner: both images, imagetype private",
          err is None and mine.get(image_a) == "private" and mine.get(image_b) == "private"
          and set(mine.values()) == {"private"}, describe(err) if err else f"images={mine}")

    # 7. Quota: both images at 3 members.
    check_quota("quota after the batch add", owner)

    # 10 (jobs). Per-item failures: the job fails, nothing is written.
    job_id = started_job("batch add of an existing member", lambda: batch_add(owner, [image_a], [MEMBER]))
    job = finished_job("batch add of an existing member", owner, job_id, "FAIL", "imsAddImageMembersJob")
    if job is not None:
        check("existing member: show_job error_code IMG.0112, the item fail",
              job.error_code == "IMG.0112" and results_of(job) == [(image_a, MEMBER, "fail")],
              f"error_code={job.error_code} results={results_of(job)}")
        raw = attempt(lambda: job.to_json_object())[0] or {}
        codes = [r.get("error_code") for r in (raw.get("entities") or {}).get("results") or []]
        check("existing member: the item's error_code IMG.0112 (raw_content)", codes == ["IMG.0112"],
              f"codes={codes}")
    extra3 = uuid.uuid4().hex
    job_id = started_job(f"batch add of member {QUOTA + 1}", lambda: batch_add(owner, [image_a], [extra3]))
    job = finished_job(f"batch add of member {QUOTA + 1}", owner, job_id, "FAIL", "imsAddImageMembersJob")
    if job is not None:
        check(f"member {QUOTA + 1}: show_job error_code IMG.0088 (quota {QUOTA})",
              job.error_code == "IMG.0088" and results_of(job) == [(image_a, extra3, "fail")],
              f"error_code={job.error_code} results={results_of(job)}")
    resp, err = attempt(lambda: members_of(owner, image_a))
    check("failed jobs wrote nothing: image A keeps its 3 members",
          err is None and resp == sorted(projects), describe(err) if err else f"members={resp}")

    # 10 (reads). A job is its project's; a v1 path names the caller's project.
    if add_job:
        expect_error("show_job of the owner's job by the stranger: 404 imgshare.not_found",
                     lambda: show_job(stranger, add_job), 404, "imgshare.not_found")
        expect_error("show_job of the owner's job by the member: 404 imgshare.not_found",
                     lambda: show_job(member, add_job), 404, "imgshare.not_found")
        expect_error("show_job_progress of the owner's job by the stranger: 404 imgshare.not_found",
                     lambda: show_job_progress(stranger, add_job), 404, "imgshare.not_found")
    if update_job:
        expect_error("show_job of the member's job by the owner: 404 imgshare.not_found",
                     lambda: show_job(owner, update_job), 404, "imgshare.not_found")
    expect_error("show_job of an unknown job: 404 imgshare.not_found",
                 lambda: show_job(owner, uuid.uuid4().hex), 404, "imgshare.not_found")
    expect_error("list_image_members (v1) with another project in the path: 403 IMG.0026",
                 lambda: with_path_project(owner.list_image_members_invoker(
                     m.ListImageMembersRequest(image_id=image_a)), STRANGER).invoke(), 403, "IMG.0026")
    expect_error("show_image_member (v1) with another project in the path: 403 IMG.0026",
                 lambda: with_path_project(owner.show_image_member_invoker(
                     m.ShowImageMemberRequest(image_id=image_a, member_id=MEMBER)), STRANGER).invoke(),
                 403, "IMG.0026")
    if add_job:
        expect_error("show_job with another project in the path: 403 IMG.0026",
                     lambda: with_path_project(owner.show_job_invoker(m.ShowJobRequest(job_id=add_job)),
                                               MEMBER).invoke(), 403, "IMG.0026")
    expect_error("list_image_members (v1) by the stranger (its own path): 404 IMG.0086",
                 lambda: v1_list_members(stranger, image_a), 404, "IMG.0086")

    # 10 (refusals). Checked before any job exists: 400 with Huawei's code.
    batch_errors(image_a, extra1)

    # 8. Batch delete: first the two extra projects, then the member.
    del_job = started_job("batch_delete_members (DELETE with a body) 2 images x 2 projects",
                          lambda: batch_delete(owner, images, [extra1, extra2]))
    job = finished_job("batch delete", owner, del_job, "SUCCESS", "imsDelImageMembersJob")
    if job is not None:
        check("batch delete: entities.results = 4 entries, each image x project success",
              sorted(results_of(job)) == sorted((i, p, "success") for i in images for p in (extra1, extra2)),
              f"results={results_of(job)}")
    resp, err = attempt(lambda: [members_of(owner, i) for i in images])
    check("batch delete: the native lists keep only the member",
          err is None and resp == [[MEMBER]] * 2, describe(err) if err else f"members={resp}")
    check_quota("quota after the batch delete", owner)

    job_id = started_job("batch delete of a non-member", lambda: batch_delete(owner, [image_a], [extra1]))
    job = finished_job("batch delete of a non-member", owner, job_id, "FAIL", "imsDelImageMembersJob")
    if job is not None:
        check("non-member: show_job error_code IMG.0113, the item fail",
              job.error_code == "IMG.0113" and results_of(job) == [(image_a, extra1, "fail")],
              f"error_code={job.error_code} results={results_of(job)}")

    del_job = started_job("batch_delete_members of the member",
                          lambda: batch_delete(owner, images, [MEMBER]))
    finished_job("batch delete of the member", owner, del_job, "SUCCESS", "imsDelImageMembersJob")
    resp, err = attempt(lambda: [members_of(owner, i) for i in images])
    check("batch delete: the native lists are empty", err is None and resp == [[], []],
          describe(err) if err else f"members={resp}")
    resp, err = attempt(lambda: member.list_images(m.ListImagesRequest(imagetype="shared")))
    ids = [] if err else [x.id for x in (resp.images or [])]
    check("list_images (IMS) __imagetype=shared as the member: the image is gone after the delete",
          err is None and image_a not in ids, describe(err) if err else f"ids={ids}")

    # 9. glance_delete_image with its {"delete_backup": ...} body.
    for image, backup in ((image_a, True), (image_b, False)):
        SENT.clear()
        resp, err = attempt(lambda: recorder.glance_delete_image(m.GlanceDeleteImageRequest(
            image_id=image, body=m.GlanceDeleteImageRequestBody(delete_backup=backup))))
        sent = [b for meth, b in SENT if meth == "DELETE"]
        want_body = f'{{"delete_backup": {str(backup).lower()}}}'
        check(f'glance_delete_image with body {want_body}: 204',
              err is None and resp.status_code == 204 and sent == [want_body.encode()],
              f"{describe(err or resp)} sent={sent}")
        expect_error(f"the image deleted with delete_backup={backup}: glance_show_image 404 IMG.0086",
                     lambda: owner.glance_show_image(m.GlanceShowImageRequest(image_id=image)), 404, "IMG.0086")


def batch_errors(image, other_project):
    """Batch calls refused whole: 400 (IMG.xxxx) unless noted."""
    def refused(label, fn, code, status=400):
        expect_error(f"{label}: {status} {code}", fn, status, code)

    refused("batch add, image id not a UUID", lambda: batch_add(owner, ["not-a-uuid"], [other_project]), "IMG.0066")
    refused("batch add, unknown image", lambda: batch_add(owner, [str(uuid.uuid4())], [other_project]), "IMG.0027")
    refused("batch add by the stranger (image invisible to it)",
            lambda: batch_add(stranger, [image], [uuid.uuid4().hex]), "IMG.0027")
    refused("batch add by the member (not the owner)", lambda: batch_add(member, [image], [uuid.uuid4().hex]),
            "IMG.0047")
    refused("batch delete by the member (not the owner)", lambda: batch_delete(member, [image], [other_project]),
            "IMG.0047")
    refused("batch add with the owner's own project", lambda: batch_add(owner, [image], [OWNER]), "IMG.0076")
    refused("batch add, empty images", lambda: batch_add(owner, [], [other_project]), "IMG.0001")
    refused("batch add, no targets (empty projects)", lambda: batch_add(owner, [image], []), "IMG.0001")
    refused("batch add, malformed account (domains) id",
            lambda: batch_add(owner, [image], [other_project], domains=["an account"]), "IMG.0067")
    refused("batch add, organization neither a URN nor an o-/r-/ou- id",
            lambda: batch_add(owner, [image], None, organizations=["x-abcdefgh"]), "IMG.0001")
    refused("batch add, malformed project id", lambda: batch_add(owner, [image], ["a project"]), "IMG.0067")

    # Shares with an account (domains) and an organization unit (URN): one
    # member each, with its member_type (and the URN); then removed, the unit
    # by its bare ID.
    image = create_image(f"huawei-sdk-accounts-{uuid.uuid4().hex[:8]}").id
    account, unit = uuid.uuid4().hex, f"ou-{uuid.uuid4().hex[:12]}"
    urn = f"organizations::{uuid.uuid4().hex}:ou:o-{uuid.uuid4().hex[:10]}/{unit}"
    job_id = started_job("batch add with domains=[account] and organizations=[URN]",
                         lambda: batch_add(owner, [image], None, domains=[account], organizations=[urn]))
    job = finished_job("account and organization share", owner, job_id, "SUCCESS", "imsAddImageMembersJob")
    if job is not None:
        check("account and organization share: one success per target, the URN as given",
              sorted(results_of(job)) == sorted([(image, account, "success"), (image, urn, "success")]),
              f"results={results_of(job)}")
    resp, err = attempt(lambda: v1_list_members(owner, image))
    kinds = {} if err else {x.member_id: (x.member_type, x.urn) for x in (resp.members or [])}
    check("v1 list_image_members: the account as member_type domain, the unit as organization with its urn",
          err is None and kinds.get(account) == ("domain", None) and kinds.get(unit) == ("organization", urn),
          describe(err) if err else f"members={kinds}")
    expect_error("glance_delete_image while shared with an account: 409 imgshare.image_shared_with_accounts",
                 lambda: owner.glance_delete_image(m.GlanceDeleteImageRequest(image_id=image)), 409,
                 "imgshare.image_shared_with_accounts")
    job_id = started_job("batch delete of the account and of the unit by its bare id",
                         lambda: batch_delete(owner, [image], None, domains=[account], organizations=[unit]))
    finished_job("account and organization unshare", owner, job_id, "SUCCESS", "imsDelImageMembersJob")
    resp, err = attempt(lambda: v1_list_members(owner, image))
    left = [] if err else [x.member_id for x in (resp.members or [])]
    check("after the unshare neither the account nor the unit is a member",
          err is None and account not in left and unit not in left, describe(err) if err else f"members={left}")
    refused("batch add, 101 projects", lambda: batch_add(owner, [image], [uuid.uuid4().hex for _ in range(101)]),
            "IMG.0001")

    resp, err = attempt(lambda: owner.glance_create_image_metadata(m.GlanceCreateImageMetadataRequest(
        body=m.GlanceCreateImageMetadataRequestBody(name=f"huawei-sdk-private-{uuid.uuid4().hex[:8]}",
                                                    visibility="private", container_format="bare",
                                                    disk_format="qcow2"))))
    if check("create a private image", err is None and resp.status_code == 201, describe(err or resp)):
        private = resp.id
        refused("batch add, private image", lambda: batch_add(owner, [private], [other_project]), "IMG.0084")
        attempt(lambda: owner.glance_delete_image(m.GlanceDeleteImageRequest(image_id=private)))

    if admin is None:
        print("skip batch add, public image: 400 IMG.0089 (no HW_ADMIN_* identity to create a public image)")
        return
    resp, err = attempt(lambda: admin.glance_create_image_metadata(m.GlanceCreateImageMetadataRequest(
        body=m.GlanceCreateImageMetadataRequestBody(name=f"huawei-sdk-public-{uuid.uuid4().hex[:8]}",
                                                    visibility="public", container_format="bare",
                                                    disk_format="qcow2"))))
    if check("create a public image (admin)", err is None and resp.status_code == 201
             and resp.visibility == "public", describe(err or resp)):
        public = resp.id
        refused("batch add, public image (admin)", lambda: batch_add(admin, [public], [other_project]), "IMG.0089")
        refused("batch add, public image (owner, not its image)",
                lambda: batch_add(owner, [public], [other_project]), "IMG.0047")
        attempt(lambda: admin.glance_delete_image(m.GlanceDeleteImageRequest(image_id=public)))


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
    steps = [("flow", flow), ("schemas", schemas), ("batch", batch)]
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
