#!/usr/bin/env python3
"""Drives the real OpenStack clients against a running imgshare server behind a
real Keystone (issue 3).

Every image-member flow runs through each of the three clients:

* ``glance``    - the CLI of python-glanceclient (tables parsed);
* ``sdk``       - openstacksdk's Python API (``conn.image.*``);
* ``openstack`` - the python-openstackclient CLI (``-f json`` parsed).

Each flow: create an image, the member's image list before sharing, add two
members, duplicate add (409), non-owner add (403), stranger (404), list
(owner sees all, a member only itself), get, accept / reject / pending again
with the member's image list after each, invalid status (client-side or 400),
owner may not set the status (403), remove member, remove again. Then the
schema and discovery checks, and what is new with Keystone: a reader-only
user, project names resolved (or not) by OSC through Keystone, and the
Keystone traffic of clients and server.

Image data, through each client: the owner uploads a random payload of a few
MiB (glance image-create --file and with data on stdin, the SDK's
create_image and upload_image, openstack image create --file), the image is
active with the size, checksum (MD5) and os_hash_value (SHA-512) that hashlib
computes here; the member downloads it (glance image-download, the SDK's
download_image, openstack image save) while pending and after accepting or
rejecting, and the bytes' MD5 and SHA-512 equal the original's; the stranger
gets 404, the member may not upload (403), an active image takes no second
upload (409), an image without data downloads as "no data" (204).

The checks assert on what the clients print and on their exit codes (or, for
the SDK, on returned objects and exception types).

The clients log in as a user of a cloud does: password auth against Keystone
(clouds.yaml entries, or OS_* variables as an openrc sets them), and find the
image service in the token's catalog (interface public, RegionOne). Member ids
are the real Keystone project ids.

Run by ``clients/run.sh``, which starts imgshare with --keystone-url, registers
it in Keystone's catalog and sets:

    IMGSHARE_URL            root URL of the server, e.g. http://127.0.0.1:40309
    IMGSHARE_SERVER_LOG     the server's stderr (access log), for wire-level checks
    IMGSHARE_TEST_KEYSTONE  accounts.json of keystone/keystone.sh (auth_url,
                            users owner/member/reader/stranger, admin, extra project,
                            state_dir with Keystone's access.log)

It must run with the virtualenv's python: the ``glance`` and ``openstack``
executables are taken from the directory of ``sys.executable``. Output: one
line per check, then ``N passed, N failed``; exit status 1 if any check failed.
"""

import hashlib
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings

BIN = os.path.dirname(sys.executable)
URL = os.environ["IMGSHARE_URL"].rstrip("/")
SERVER_LOG = os.environ.get("IMGSHARE_SERVER_LOG")
with open(os.environ["IMGSHARE_TEST_KEYSTONE"]) as _f:
    ACCOUNTS = json.load(_f)
AUTH_URL = ACCOUNTS["auth_url"]
USERS = ACCOUNTS["users"]
KEYSTONE_ACCESS_LOG = os.path.join(ACCOUNTS["state_dir"], "access.log")

# Member ids are project ids: the owner's project owns the images, the
# member's project is shared with, the stranger's is neither.
OWNER, MEMBER, STRANGER = (USERS[k]["project_id"] for k in ("owner", "member", "stranger"))
# A second member nobody logs into: Glance does not check that a member
# project exists or is used, so the owner can share with any project id. It
# makes "the owner sees all, a member sees only itself" observable.
OTHER = ACCOUNTS["extra_project_id"]
# project id -> the account (accounts.json "users" key) that acts for it
ACCOUNT = {OWNER: "owner", MEMBER: "member", STRANGER: "stranger"}
NAME = {OWNER: "owner", MEMBER: "member", STRANGER: "stranger", OTHER: "extra"}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CLI_TIMEOUT = 120

# HOME for every CLI call: a fresh directory, so glanceclient's schema cache
# (~/.glanceclient/image_schema.json) starts empty and clouds.yaml is ours.
HOME = tempfile.mkdtemp(prefix="imgshare-clients-home-")


def credentials(key):
    """(user, password, project) of an accounts.json identity: a "users" key or "admin"."""
    a = ACCOUNTS["admin"] if key == "admin" else USERS[key]
    return a["user"], a["password"], a["project"]


def openrc(key):
    """The OS_* variables an openrc file sets for identity key."""
    user, password, project = credentials(key)
    return {
        "OS_AUTH_TYPE": "password", "OS_AUTH_URL": AUTH_URL, "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": user, "OS_PASSWORD": password, "OS_PROJECT_NAME": project,
        "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": "RegionOne", "OS_INTERFACE": "public",
    }


def keystone_access_offset():
    try:
        return os.path.getsize(KEYSTONE_ACCESS_LOG)
    except OSError:
        return 0


# Keystone's access log may be shared with other suites (CI): read from here on.
KEYSTONE_LOG_START = keystone_access_offset()


def keystone_requests():
    """(method, path, status, user agent) of Keystone's requests since the start."""
    out = []
    pat = re.compile(r'"(\S+) (\S+) HTTP/[\d.]+" (\d+) \S+ "[^"]*" "([^"]*)"')
    try:
        with open(KEYSTONE_ACCESS_LOG, errors="replace") as f:
            f.seek(KEYSTONE_LOG_START)
            for line in f:
                m = pat.search(line)
                if m:
                    out.append((m.group(1), m.group(2), int(m.group(3)), m.group(4)))
    except OSError:
        pass
    return out


# ----------------------------------------------------------------- reporting

from checks import check, summary  # noqa: E402  (clients/checks.py)


def short(text, limit=600):
    text = (text or "").strip().replace("\n", "\n     ")
    return text if len(text) <= limit else text[:limit] + " …"


# ------------------------------------------------------------- running CLIs


class Run:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    def __str__(self):
        """The whole run: command (executable's directory left out), rc, output."""
        return (
            f"$ {os.path.basename(self.argv[0])} {' '.join(self.argv[1:])}\n"
            f"rc={self.rc}\nstdout: {self.out.strip()}\nstderr: {self.err.strip()}"
        )


def cli_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"HOME": HOME, "PYTHONWARNINGS": "ignore", "LC_ALL": "C.UTF-8"})
    env.update(extra or {})
    return env


def run_cli(argv, extra_env=None, stdin_data=None, stdin_closed=False):
    """Runs a CLI. stdin is a pseudo-terminal, as for a user at a shell: both
    `glance image-create` and `openstack image create` upload whatever is on
    stdin when it is not a TTY (a pipe, /dev/null), which is not the flow
    under test. stdin_data (bytes) pipes data in instead; stdin_closed runs
    the command with file descriptor 0 closed (`<&-`)."""
    if stdin_closed:
        p = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            env=cli_env(extra_env), timeout=CLI_TIMEOUT, preexec_fn=lambda: os.close(0),
        )
    elif stdin_data is None:
        master, slave = pty.openpty()
        try:
            p = subprocess.run(
                argv, stdin=slave, capture_output=True, text=True,
                env=cli_env(extra_env), timeout=CLI_TIMEOUT,
            )
        finally:
            os.close(master)
            os.close(slave)
    else:
        p = subprocess.run(
            argv, input=stdin_data, capture_output=True,
            env=cli_env(extra_env), timeout=CLI_TIMEOUT,
        )
        p.stdout, p.stderr = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    return Run(argv, p.returncode, p.stdout, p.stderr)


def parse_table(text):
    """prettytable output (`+---+` rules, `| a | b |` rows) -> list of rows."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|"):
            rows.append([c.strip() for c in line[1:-1].split("|")])
    return rows


def table_dicts(text):
    rows = parse_table(text)
    if not rows:
        return []
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def property_table(text, join_wrapped=False):
    """`| Property | Value |` table -> dict. glanceclient wraps values longer
    than 80 characters (a SHA-512 hex is 128) onto continuation rows with an
    empty Property cell: join_wrapped appends those to the value above
    (without a separator, right for hex digests)."""
    rows = parse_table(text)
    out, last = {}, None
    for r in rows[1:]:
        if len(r) < 2:
            continue
        if join_wrapped and r[0] == "" and last is not None:
            out[last] += r[1]
        else:
            out[r[0]], last = r[1], r[0]
    return out


# ------------------------------------------------------------------ outcome


class Outcome:
    """What a client call came to. kind: ok | conflict | forbidden |
    notfound | badrequest | client-rejected | error. data: parsed output."""

    def __init__(self, kind, data=None, text=""):
        self.kind, self.data, self.text = kind, data, text

    def __repr__(self):
        return f"<{self.kind}: data={self.data!r} text={short(self.text, 2000)}>"


# ------------------------------------------------------------ glance (CLI)


class Glance:
    """glanceclient has no clouds.yaml: it logs in from the OS_* variables of
    an openrc and takes the image endpoint from the token's catalog (no
    --os-image-url)."""

    name = "glance"

    def __init__(self, version_flag=False):
        self.version_flag = version_flag

    def argv(self, *args):
        argv = [os.path.join(BIN, "glance")]
        if self.version_flag:
            argv += ["--os-image-api-version", "2"]
        return argv + list(args)

    def _run(self, who, *args, **kw):
        return run_cli(self.argv(*args), openrc(ACCOUNT.get(who, who)), **kw)

    @staticmethod
    def _outcome(r, data=None):
        if r.rc == 0:
            return Outcome("ok", data, str(r))
        if r.rc == 2:
            return Outcome("client-rejected", None, str(r))
        # glanceclient prints "HTTP <message>" for our nested-JSON errors
        # (the status is not printed), so the kind is read from Glance's
        # wording; the flows also check the message itself.
        e = r.err
        if "is duplicated" in e:
            kind = "conflict"
        elif "not authorized" in e or "Forbidden" in e or "Not allowed" in e:
            kind = "forbidden"
        elif "not found" in e.lower():
            kind = "notfound"
        elif "Incorrect request" in e or "Bad Request" in e:
            kind = "badrequest"
        else:
            kind = "error"
        return Outcome(kind, None, str(r))

    def create_image(self, who, name):
        r = self._run(who, "image-create", "--name", name, "--disk-format", "raw",
                      "--container-format", "bare", "--visibility", "shared")
        return self._outcome(r, property_table(r.out) if r.rc == 0 else None)

    def image_ids(self, who):
        r = self._run(who, "image-list")
        return self._outcome(r, {row["ID"] for row in table_dicts(r.out)} if r.rc == 0 else None)

    @staticmethod
    def _member_rows(text):
        return [{"image_id": d.get("Image ID"), "member_id": d.get("Member ID"),
                 "status": d.get("Status")} for d in table_dicts(text)]

    def add_member(self, who, image, member):
        r = self._run(who, "member-create", image, member)
        rows = self._member_rows(r.out) if r.rc == 0 else None
        return self._outcome(r, rows[0] if rows else None)

    def list_members(self, who, image):
        r = self._run(who, "member-list", "--image-id", image)
        return self._outcome(r, self._member_rows(r.out) if r.rc == 0 else None)

    def get_member(self, who, image, member):
        r = self._run(who, "member-get", image, member)
        return self._outcome(r, property_table(r.out) if r.rc == 0 else None)

    def update_member(self, who, image, member, status):
        r = self._run(who, "member-update", image, member, status)
        rows = self._member_rows(r.out) if r.rc == 0 else None
        return self._outcome(r, rows[0] if rows else None)

    def remove_member(self, who, image, member):
        r = self._run(who, "member-delete", image, member)
        return self._outcome(r, r.out)


# ------------------------------------------------------ openstacksdk (API)


class Sdk:
    """Each identity connects through its clouds.yaml entry
    (``openstack.connect(cloud="imgshare-<owner|member|stranger>")``): password
    auth, the image endpoint from the catalog, version discovery GET / on it."""

    name = "sdk"

    def __init__(self):
        import openstack  # noqa: the venv's

        self.openstack = openstack
        self.exc = openstack.exceptions
        self.conns = {who: openstack.connect(cloud="imgshare-" + NAME[who])
                      for who in (OWNER, MEMBER, STRANGER)}

    def _call(self, fn):
        try:
            return Outcome("ok", fn())
        except self.exc.ConflictException as e:
            return Outcome("conflict", None, f"{type(e).__name__}: {e}")
        except self.exc.ForbiddenException as e:
            return Outcome("forbidden", None, f"{type(e).__name__}: {e}")
        except self.exc.NotFoundException as e:
            return Outcome("notfound", None, f"{type(e).__name__}: {e}")
        except self.exc.BadRequestException as e:
            return Outcome("badrequest", None, f"{type(e).__name__}: {e}")
        except Exception as e:  # noqa: anything else is a failure to report
            return Outcome("error", None, f"{type(e).__name__}: {e}\n{traceback.format_exc()}")

    @staticmethod
    def _m(m, image=None):
        return {"member_id": m.member_id, "status": m.status,
                "image_id": getattr(m, "image_id", None) or image,
                "created_at": m.created_at, "updated_at": m.updated_at}

    def create_image(self, who, name):
        def f():
            img = self.conns[who].image.create_image(
                name=name, disk_format="raw", container_format="bare",
                visibility="shared", allow_duplicates=True)
            return {"id": img.id, "owner": img.owner, "visibility": img.visibility,
                    "status": img.status}
        return self._call(f)

    def image_ids(self, who):
        return self._call(lambda: {i.id for i in self.conns[who].image.images()})

    def add_member(self, who, image, member):
        return self._call(lambda: self._m(self.conns[who].image.add_member(image, member=member), image))

    def list_members(self, who, image):
        return self._call(lambda: [self._m(m, image) for m in self.conns[who].image.members(image)])

    def get_member(self, who, image, member):
        return self._call(lambda: self._m(self.conns[who].image.get_member(member, image), image))

    def update_member(self, who, image, member, status):
        return self._call(lambda: self._m(
            self.conns[who].image.update_member(member, image, status=status), image))

    def remove_member(self, who, image, member):
        return self._call(lambda: self.conns[who].image.remove_member(
            member, image, ignore_missing=False))


# --------------------------------------------------------- openstack (CLI)


class Osc:
    """By default every command logs in from the OS_* variables of an openrc
    (password auth); the identities in cloud_for use --os-cloud
    imgshare-<owner|member|stranger> with the clouds.yaml entries instead.
    Either way the image endpoint comes from the token's catalog."""

    name = "openstack"

    def __init__(self, cloud_for=()):
        self.cloud_for = set(cloud_for)
        if self.cloud_for:
            self.name = "openstack --os-cloud"

    def _run(self, who, *args, stdin_data=None, stdin_closed=False):
        exe = os.path.join(BIN, "openstack")
        key = ACCOUNT.get(who, who)
        if who not in self.cloud_for:
            argv, env = [exe], openrc(key)
        else:
            argv, env = [exe, "--os-cloud", "imgshare-" + key], {}
        return run_cli(argv + list(args), env, stdin_data, stdin_closed)

    @staticmethod
    def _outcome(r, data=None):
        if r.rc == 0:
            return Outcome("ok", data, str(r))
        if r.rc == 2:
            return Outcome("client-rejected", None, str(r))
        e = r.err
        if "ConflictException: 409" in e:
            kind = "conflict"
        elif "ForbiddenException: 403" in e:
            kind = "forbidden"
        # OSC looks the image up first (GET /v2/images/{id}); a 404 there
        # ends as "No Image found for <id>".
        # A 404 on a member shows as "No Member found for None: ... <message>".
        elif ("NotFoundException: 404" in e or "No Image found for" in e
              or "No Member found for" in e):
            kind = "notfound"
        elif "BadRequestException: 400" in e:
            kind = "badrequest"
        else:
            kind = "error"
        return Outcome(kind, None, str(r))

    def _json(self, r):
        if r.rc != 0:
            return None
        try:
            return json.loads(r.out)
        except ValueError:
            return "unparseable: " + r.out

    def create_image(self, who, name):
        r = self._run(who, "image", "create", "--disk-format", "raw", "--container-format",
                      "bare", "--shared", name, "-f", "json")
        return self._outcome(r, self._json(r))

    def image_ids(self, who):
        r = self._run(who, "image", "list", "-f", "json")
        d = self._json(r)
        return self._outcome(r, {i["ID"] for i in d} if isinstance(d, list) else d)

    @staticmethod
    def _row(d):
        return {"image_id": d.get("Image ID"), "member_id": d.get("Member ID"),
                "status": d.get("Status")}

    def add_member(self, who, image, member):
        r = self._run(who, "image", "add", "project", image, member, "-f", "json")
        return self._outcome(r, self._json(r))

    def list_members(self, who, image):
        r = self._run(who, "image", "member", "list", image, "-f", "json")
        d = self._json(r)
        return self._outcome(r, [self._row(x) for x in d] if isinstance(d, list) else d)

    def get_member(self, who, image, member):
        r = self._run(who, "image", "member", "get", image, member, "-f", "json")
        return self._outcome(r, self._json(r))

    def update_member(self, who, image, member, status):
        # --accept/--reject/--pending are the only ways OSC has; anything else
        # is refused by argparse (rc 2). With --project OSC looks the project
        # up in Keystone (the member may read its own project); without it,
        # it takes the project of its token (osc_cloud_checks). It prints
        # nothing; the flows read the result back.
        flag = {"accepted": "--accept", "rejected": "--reject", "pending": "--pending"}.get(
            status, "--" + status)
        r = self._run(who, "image", "set", flag, "--project", member, image)
        return self._outcome(r, r.out)

    def remove_member(self, who, image, member):
        r = self._run(who, "image", "remove", "project", image, member)
        return self._outcome(r, r.out)


# ------------------------------------------------------------------- flows


def expect(name, outcome, kind, contains=()):
    ok = outcome.kind == kind and all(c in outcome.text for c in contains)
    want = kind + (f" with {list(contains)}" if contains else "")
    return check(name, ok, f"expected {want}; got {outcome!r}")


def member_flow(c):
    """The whole member life cycle through client c."""
    p = f"[{c.name}]"
    name = f"{c.name}-shared-{int(time.time() * 1000) % 100000}"

    o = c.create_image(OWNER, name)
    img = (o.data or {}).get("id") if isinstance(o.data, dict) else None
    if not check(f"{p} owner creates a shared image", o.kind == "ok" and img and UUID_RE.match(img)
                 and o.data.get("owner") == OWNER and o.data.get("visibility") == "shared",
                 repr(o)):
        return

    o = c.image_ids(MEMBER)
    check(f"{p} member's image list before sharing: image absent",
          o.kind == "ok" and isinstance(o.data, set) and img not in o.data, repr(o))

    o = c.add_member(OWNER, img, MEMBER)
    d = o.data if isinstance(o.data, dict) else {}
    check(f"{p} add the member's project: pending",
          o.kind == "ok" and d.get("member_id") == MEMBER and d.get("status") == "pending"
          and d.get("image_id") in (img, None), repr(o))
    if c.name != "glance":  # glance's member-create prints only the 3-column table
        check(f"{p} add member: created_at/updated_at are Glance-style timestamps",
              all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", str(d.get(k)))
                  for k in ("created_at", "updated_at")), repr(o))

    o = c.add_member(OWNER, img, OTHER)
    check(f"{p} add the extra project: pending", o.kind == "ok"
          and isinstance(o.data, dict) and o.data.get("status") == "pending", repr(o))

    dup = f"Member {MEMBER} is duplicated for image {img}"
    expect(f"{p} duplicate add: 409 conflict", c.add_member(OWNER, img, MEMBER), "conflict",
           {"glance": ["HTTP " + dup], "openstack": ["ConflictException: 409", dup]}.get(
               c.name, [dup]))
    expect(f"{p} non-owner (member) adds a member: 403", c.add_member(MEMBER, img, STRANGER),
           "forbidden", ["not authorized to complete add_member action"])
    stranger_msg = ["No Image found for"] if c.name == "openstack" else [f"Image {img} not found"]
    expect(f"{p} stranger lists members: 404", c.list_members(STRANGER, img), "notfound",
           stranger_msg)
    expect(f"{p} stranger gets a member: 404", c.get_member(STRANGER, img, MEMBER), "notfound",
           stranger_msg)
    expect(f"{p} stranger adds a member: 404", c.add_member(STRANGER, img, STRANGER), "notfound",
           stranger_msg)

    def statuses(who):
        o = c.list_members(who, img)
        if o.kind != "ok" or not isinstance(o.data, list):
            return o, None
        return o, {m["member_id"]: m["status"] for m in o.data if m.get("image_id") in (img, None)
                   } if all(m.get("image_id") in (img, None) for m in o.data) else "wrong image_id"

    o, s = statuses(OWNER)
    check(f"{p} owner lists members: sees all", s == {MEMBER: "pending", OTHER: "pending"},
          f"got {s!r} from {o!r}")
    o, s = statuses(MEMBER)
    check(f"{p} member lists members: sees only itself", s == {MEMBER: "pending"},
          f"got {s!r} from {o!r}")

    for who in (OWNER, MEMBER):
        o = c.get_member(who, img, MEMBER)
        d = o.data if isinstance(o.data, dict) else {}
        check(f"{p} {NAME[who]} gets the member: pending", o.kind == "ok"
              and d.get("member_id") == MEMBER and d.get("status") == "pending"
              and d.get("image_id") in (img, None), repr(o))

    o = c.image_ids(MEMBER)
    check(f"{p} member's image list while pending: image absent",
          o.kind == "ok" and isinstance(o.data, set) and img not in o.data, repr(o))

    def transition(status, listed):
        o = c.update_member(MEMBER, img, MEMBER, status)
        ok = o.kind == "ok"
        if ok and isinstance(o.data, dict) and o.data:  # glance and sdk echo the member
            ok = o.data.get("status") == status and o.data.get("member_id") == MEMBER
        check(f"{p} member sets status {status}", ok, repr(o))
        o2 = c.get_member(OWNER, img, MEMBER)
        check(f"{p} owner sees the member {status}", o2.kind == "ok"
              and isinstance(o2.data, dict) and o2.data.get("status") == status, repr(o2))
        o3 = c.image_ids(MEMBER)
        where = "present" if listed else "absent"
        check(f"{p} member's image list after {status}: image {where}",
              o3.kind == "ok" and isinstance(o3.data, set) and (img in o3.data) == listed,
              repr(o3))

    transition("accepted", True)
    transition("rejected", False)
    transition("pending", False)

    o = c.update_member(MEMBER, img, MEMBER, "bogus")
    if c.name == "sdk":
        expect(f"{p} invalid status: 400", o, "badrequest",
               ['Status must be "pending", "accepted" or "rejected"'])
    else:
        expect(f"{p} invalid status: refused client-side (rc 2)", o, "client-rejected",
               ["invalid choice" if c.name == "glance" else "unrecognized arguments"])
    o = c.get_member(MEMBER, img, MEMBER)
    check(f"{p} status unchanged after the invalid update", o.kind == "ok"
          and isinstance(o.data, dict) and o.data.get("status") == "pending", repr(o))

    expect(f"{p} owner sets a member's status: 403", c.update_member(OWNER, img, MEMBER, "accepted"),
           "forbidden", ["not authorized to complete modify_member action"])

    transition("accepted", True)
    expect(f"{p} member removes itself: 403", c.remove_member(MEMBER, img, MEMBER), "forbidden",
           ["not authorized to complete delete_member action"])
    o = c.remove_member(OWNER, img, MEMBER)
    check(f"{p} owner removes the member", o.kind == "ok", repr(o))
    o, s = statuses(OWNER)
    check(f"{p} owner's list after removal: only the extra project", s == {OTHER: "pending"},
          f"got {s!r} from {o!r}")
    expect(f"{p} get removed member: 404", c.get_member(OWNER, img, MEMBER), "notfound",
           [f"{MEMBER} not found in the member list of the image {img}"])
    o = c.image_ids(MEMBER)
    check(f"{p} member's image list after removal: image absent",
          o.kind == "ok" and isinstance(o.data, set) and img not in o.data, repr(o))
    o = c.remove_member(OWNER, img, MEMBER)
    if c.name == "openstack":
        # OSC calls remove_member with ignore_missing=True (clients.md §1.3)
        check(f"{p} remove a missing member: rc 0 (OSC ignores 404)", o.kind == "ok", repr(o))
    else:
        expect(f"{p} remove a missing member: 404", o, "notfound",
               [f"{MEMBER} not found in the member list of the image {img}"])
    return img


# ------------------------------------------------------------ other checks


def server_requests():
    """(method, route, status) of every access-log line so far: the route is
    the endpoint's template (`/v2/images/{image_id}`), never the raw path."""
    if not SERVER_LOG or not os.path.exists(SERVER_LOG):
        return []
    out = []
    pat = re.compile(r'imgshare::access:.*method=(\S+) route="([^"]*)" .*status=(\d+)')
    with open(SERVER_LOG, errors="replace") as f:
        for line in f:
            m = pat.search(line)
            if m:
                out.append((m.group(1), m.group(2), int(m.group(3))))
    return out


def glance_checks():
    # With a Keystone login glanceclient keys its schema cache on the auth URL:
    # ~/.glanceclient/<sha1 of OS_AUTH_URL>/image_schema.json
    cache_dir = os.path.join(HOME, ".glanceclient")
    cache = os.path.join(cache_dir, hashlib.sha1(AUTH_URL.encode()).hexdigest(),
                         "image_schema.json")
    check("[glance] schema cache is empty before the first call (fresh HOME)",
          not os.path.exists(cache_dir), cache_dir)
    g = Glance()
    r = g._run(OWNER, "image-list")
    check("[glance] image-list (Keystone login, catalog, GET /versions, schema fetch) exits 0",
          r.rc == 0, str(r))
    check("[glance] did not fall back to v1", "v1" not in r.err.lower(), str(r))
    try:
        with open(cache) as f:
            schema = json.load(f)
        ok = schema.get("name") == "image" and "id" in schema.get("properties", {})
    except Exception as e:  # noqa
        ok, schema = False, e
    check("[glance] fetched and cached /v2/schemas/image itself", ok, repr(schema)[:300])
    reqs = server_requests()
    seen = {(m, pth, s) for m, pth, s in reqs}
    check("[glance] server answered GET /versions 200", ("GET", "/versions", 200) in seen)
    check("[glance] server answered GET /v2/schemas/image 200",
          ("GET", "/v2/schemas/image", 200) in seen)
    return g


def glance_after_flow_checks():
    reqs = server_requests()
    seen = {(m, pth, s) for m, pth, s in reqs}
    check("[glance] member calls fetched GET /v2/schemas/member 200 (warlock validation)",
          ("GET", "/v2/schemas/member", 200) in seen)
    check("[glance] no request ever went to /v1",
          not any(pth.startswith("/v1") for _, pth, _ in reqs),
          [x for x in reqs if x[1].startswith("/v1")])
    # --os-image-api-version 2 skips GET /versions (clients.md §1.1)
    g2 = Glance(version_flag=True)
    o = g2.create_image(OWNER, "glance-v2-flag")
    img = (o.data or {}).get("id")
    check("[glance --os-image-api-version 2] image-create", o.kind == "ok" and img, repr(o))
    if img:
        o = g2.add_member(OWNER, img, MEMBER)
        check("[glance --os-image-api-version 2] member-create: pending",
              o.kind == "ok" and (o.data or {}).get("status") == "pending", repr(o))
        o = g2.list_members(MEMBER, img)
        check("[glance --os-image-api-version 2] member-list as member",
              o.kind == "ok" and [m["member_id"] for m in o.data or []] == [MEMBER], repr(o))
    # Image data on stdin (a pipe): glance uploads it with PUT /v2/images/{id}/file
    # (chunked, as glanceclient sends every upload), which imgshare now serves.
    g = Glance()
    args = ("image-create", "--name", "glance-stdin", "--disk-format", "raw",
            "--container-format", "bare")
    r = g._run(OWNER, *args, stdin_closed=True)
    queued = property_table(r.out).get("id", "") if r.rc == 0 else ""
    check("[glance] image-create with stdin closed (<&-, as the README says for scripts)",
          r.rc == 0 and UUID_RE.match(queued), str(r))
    pay = Payload("glance-stdin", 2 * MIB + 4321)
    r = g._run(OWNER, *args, stdin_data=pay.data)
    d = property_table(r.out, join_wrapped=True) if r.rc == 0 else {}
    check(f"[glance] image-create with data on stdin ({pay}) uploads it: active, size, "
          "checksum and os_hash_value as hashlib computes them",
          r.rc == 0 and pay.image_ok(d), f"{pay.expected()}\n{r}")
    # The image without data (stdin closed): GET .../file answers 204, which
    # glanceclient reports as "has no data" (rc 1), writing no file.
    if queued:
        out = out_path("glance-queued")
        r = g._run(OWNER, "image-download", "--file", out, queued)
        check("[glance] image-download of an image without data (204): "
              "\"Image <id> has no data.\", rc 1, no file written",
              r.rc == 1 and f"Image {queued} has no data." in r.err and not os.path.exists(out),
              str(r))


def sdk_checks(sdk):
    conn = sdk.conns[OWNER]
    for fn, name in (("get_image_schema", "image"), ("get_images_schema", "images"),
                     ("get_member_schema", "member"), ("get_members_schema", "members")):
        o = sdk._call(lambda: getattr(conn.image, fn)())
        props = getattr(o.data, "properties", None) or {}
        check(f"[sdk] {fn}(): schema {name!r}", o.kind == "ok"
              and (getattr(o.data, "name", None) or name) == name and props, repr(o)[:300])
    # The member schema as the server serves it validates our member objects
    # (what glanceclient's warlock enforces): checked here with jsonschema,
    # with the owner's Keystone token.
    try:
        import jsonschema
        import requests

        h = {"X-Auth-Token": conn.auth_token}
        schema = requests.get(URL + "/v2/schemas/member", headers=h, timeout=10).json()
        imgs = requests.get(URL + "/v2/images", headers=h, timeout=10).json()["images"]
        n = 0
        for im in imgs:
            ms = requests.get(f"{URL}/v2/images/{im['id']}/members", headers=h, timeout=10).json()
            for m in ms.get("members", []):
                jsonschema.validate(m, schema)
                n += 1
        check(f"[sdk] all {n} member objects validate against /v2/schemas/member", n > 0)
    except Exception as e:  # noqa
        check("[sdk] member objects validate against /v2/schemas/member", False, repr(e))
    # discovery on the catalog's (unversioned) endpoint: GET / without a token
    seen = {(m, pth, s) for m, pth, s in server_requests()}
    check("[sdk] version discovery GET / on the catalog's endpoint answered",
          ("GET", "/", 200) in seen or ("GET", "/", 300) in seen)
    # The openrc form: openstack.connect() with no cloud reads OS_* variables.
    import openstack

    saved = {k: v for k, v in os.environ.items() if k.startswith("OS_")}
    try:
        own = conn.image.create_image(name="sdk-env", disk_format="raw", container_format="bare",
                                      visibility="shared", allow_duplicates=True)
        conn.image.add_member(own.id, member=MEMBER)
        for k in saved:
            del os.environ[k]
        os.environ.update(openrc("member"))
        c = openstack.connect()
        ids = {i.id for i in c.image.images(member_status="all")}
        owner_ids = {i.id for i in conn.image.images(owner=OWNER)}
        check("[sdk] OS_* variables (openrc) form: member lists its images",
              own.id in ids and ids <= owner_ids, f"member sees {ids}, owner's are {owner_ids}")
    except Exception as e:  # noqa
        check("[sdk] OS_* variables (openrc) form: member lists its images", False, repr(e))
    finally:
        for k in [k for k in os.environ if k.startswith("OS_")]:
            del os.environ[k]
        os.environ.update(saved)
    reader_checks(sdk)


def reader_checks(sdk):
    """reader-user has only the reader role, on the owner's project: it sees
    what the project sees but may change nothing (Glance: 403)."""
    conn = sdk.openstack.connect(cloud="imgshare-reader")
    owner = sdk.conns[OWNER]
    o = sdk._call(lambda: owner.image.create_image(
        name="sdk-reader", disk_format="raw", container_format="bare", visibility="shared",
        allow_duplicates=True).id)
    img = o.data if o.kind == "ok" else None
    if not check("[sdk] owner creates an image for the reader checks", bool(img), repr(o)):
        return
    o = sdk._call(lambda: owner.image.add_member(img, member=MEMBER))
    check("[sdk] owner adds the member (reader checks)", o.kind == "ok", repr(o))
    o = sdk._call(lambda: sorted(m.member_id for m in conn.image.members(img)))
    check("[sdk] reader of the owner's project lists the members", o.kind == "ok"
          and o.data == [MEMBER], repr(o))
    expect("[sdk] reader of the owner's project adds a member: 403",
           sdk._call(lambda: conn.image.add_member(img, member=OTHER)), "forbidden",
           ["not authorized to complete add_member action"])
    expect("[sdk] reader of the owner's project removes a member: 403",
           sdk._call(lambda: conn.image.remove_member(MEMBER, img, ignore_missing=False)),
           "forbidden", ["not authorized to complete delete_member action"])
    o = sdk._call(lambda: owner.image.get_member(MEMBER, img).status)
    check("[sdk] the member is still there, pending", o.kind == "ok" and o.data == "pending",
          repr(o))


def osc_cloud_checks():
    """The --os-cloud form for the member and the stranger."""
    osc = Osc(cloud_for=(MEMBER, STRANGER))
    p = f"[{osc.name}]"
    o = osc.create_image(OWNER, "osc-cloud")
    img = o.data.get("id") if o.kind == "ok" and isinstance(o.data, dict) else None
    if not check(f"{p} owner creates an image (openrc)", bool(img), repr(o)):
        return
    o = osc.add_member(OWNER, img, MEMBER)
    check(f"{p} owner adds the member's project (openrc)", o.kind == "ok", repr(o))
    o = osc.list_members(MEMBER, img)
    check(f"{p} member lists members: sees itself, pending",
          o.kind == "ok" and o.data == [{"image_id": img, "member_id": MEMBER, "status": "pending"}],
          repr(o))
    # Without --project, OSC takes the member id from its Keystone token
    # (under admin_token auth it had none and crashed, clients.md §1.3).
    r = osc._run(MEMBER, "image", "set", "--accept", img)
    check(f"{p} member accepts with image set --accept, no --project (project from its token)",
          r.rc == 0, str(r))
    o = osc.get_member(MEMBER, img, MEMBER)
    check(f"{p} member gets itself: accepted", o.kind == "ok"
          and isinstance(o.data, dict) and o.data.get("status") == "accepted", repr(o))
    o = osc.image_ids(MEMBER)
    check(f"{p} member's image list: image present",
          o.kind == "ok" and isinstance(o.data, set) and img in o.data, repr(o))
    expect(f"{p} stranger lists members: 404", osc.list_members(STRANGER, img), "notfound",
           ["No Image found for"])
    # stdin closed: OSC crashes before any request (the README says so)
    r = osc._run(OWNER, "image", "create", "--disk-format", "raw", "--container-format", "bare",
                 "stdin-closed", stdin_closed=True)
    check(f"{p} image create with stdin closed crashes in OSC (README)",
          r.rc == 1 and "'NoneType' object has no attribute 'isatty'" in r.err, str(r))


def osc_project_name_checks():
    """`image add project IMAGE PROJECT` looks PROJECT up in Keystone
    (GET /v3/projects/PROJECT, then GET /v3/projects?name=PROJECT). A cloud
    admin may read projects: a NAME resolves to the project's id. A plain
    project member may not (Keystone 403), and OSC then uses the argument as
    given: an id works, a name becomes a member id that is just that name."""
    osc = Osc(cloud_for=(OWNER, "admin"))
    p = "[openstack --os-cloud]"
    o = osc.create_image(OWNER, "osc-names")
    img = o.data.get("id") if o.kind == "ok" and isinstance(o.data, dict) else None
    if not check(f"{p} owner creates an image (project names)", bool(img), repr(o)):
        return
    extra_name = "extra-project"
    o = osc.add_member("admin", img, extra_name)
    d = o.data if isinstance(o.data, dict) else {}
    check(f"{p} admin: image add project <image> {extra_name} -> member id is the project's id",
          o.kind == "ok" and d.get("member_id") == OTHER and d.get("status") == "pending",
          repr(o))
    o = osc.list_members(OWNER, img)
    check(f"{p} owner lists members: the extra project by id", o.kind == "ok"
          and [m["member_id"] for m in o.data] == [OTHER], repr(o))
    o = osc.remove_member("admin", img, extra_name)
    check(f"{p} admin: image remove project <image> {extra_name}", o.kind == "ok", repr(o))
    stranger_name = USERS["stranger"]["project"]
    o = osc.add_member(OWNER, img, stranger_name)
    d = o.data if isinstance(o.data, dict) else {}
    check(f"{p} owner: image add project <image> {stranger_name} -> Keystone refuses the "
          "look-up (403), the name itself becomes the member id",
          o.kind == "ok" and d.get("member_id") == stranger_name, repr(o))
    o = osc.remove_member(OWNER, img, stranger_name)
    o2 = osc.list_members(OWNER, img)
    check(f"{p} owner removes it again by the same name", o.kind == "ok"
          and o2.kind == "ok" and o2.data == [], f"{o!r}\n{o2!r}")
    reqs = keystone_requests()
    check(f"{p} Keystone: the admin's look-up of {extra_name} was by name (404, then 200)",
          ("GET", f"/v3/projects/{extra_name}", 404) in {r[:3] for r in reqs}
          and any(m == "GET" and pth.startswith("/v3/projects?") and f"name={extra_name}" in pth
                  and st == 200 for m, pth, st, _ in reqs), [r for r in reqs if "/projects" in r[1]])
    check(f"{p} Keystone: the owner's look-up of {stranger_name} was refused (403)",
          ("GET", f"/v3/projects/{stranger_name}", 403) in {r[:3] for r in reqs},
          [r for r in reqs if "/projects" in r[1]])


def keystone_checks():
    """What went to Keystone during the run (its access log from our start)."""
    reqs = keystone_requests()
    logins = [ua for m, pth, st, ua in reqs if m == "POST" and pth.startswith("/v3/auth/tokens")
              and st == 201]
    # (The openstack CLI logs in through openstacksdk: the same user agent.)
    for client, marker in (("glance", "glance keystoneauth1/"),
                           ("openstacksdk and openstack", "openstacksdk/")):
        check(f"[keystone] {client} logged in with a password (POST /v3/auth/tokens 201)",
              any(ua.startswith(marker) for ua in logins), sorted(set(logins))[:10])
    validations = [st for m, pth, st, ua in reqs
                   if m == "GET" and pth.startswith("/v3/auth/tokens") and ua.startswith("imgshare/")]
    check("[keystone] imgshare validated the clients' tokens (GET /v3/auth/tokens 200)",
          200 in validations, validations[:20])
    check("[openstack] the member-id look-ups went to Keystone: GET /v3/projects/<id> refused "
          "with 403 for a plain member, so OSC used the id as given",
          ("GET", f"/v3/projects/{MEMBER}", 403) in {r[:3] for r in reqs},
          [r for r in reqs if "/projects" in r[1]][:20])
    # the image lookup every OSC image command makes first
    seen = {(m, pth, s) for m, pth, s in server_requests()}
    check("[openstack] GET /v2/images/{id} served for OSC's image look-up",
          ("GET", "/v2/images/{image_id}", 200) in seen)
    # No token at all: 401 with Keystone's WWW-Authenticate, as keystonemiddleware does.
    try:
        import requests

        r = requests.get(f"{URL}/v2/images", timeout=10)
        www = r.headers.get("WWW-Authenticate", "")
        check("[keystone] a request without a token: 401 pointing at Keystone (WWW-Authenticate)",
              r.status_code == 401 and www.startswith("Keystone uri=")
              and AUTH_URL.rsplit("/v3", 1)[0] in www, f"{r.status_code} {www!r}")
        r = requests.get(f"{URL}/v2/images", headers={"X-Auth-Token": "not-a-keystone-token"},
                         timeout=30)
        check("[keystone] a token Keystone does not know: 401", r.status_code == 401,
              f"{r.status_code} {r.text[:300]}")
    except Exception as e:  # noqa
        check("[keystone] unauthenticated requests", False, repr(e))


# ----------------------------------------------------------------- image data

MIB = 1024 * 1024
DATA_DIR = os.path.join(HOME, "image-data")


class Payload:
    """Random bytes in a file (under HOME), of a size that is no multiple of
    any chunk size, with their size, MD5 and SHA-512 computed here with
    hashlib: independently of the server and of the clients' own checks."""

    def __init__(self, label, size=3 * MIB + 12345):
        self.size = size
        self.data = os.urandom(size)
        self.md5 = hashlib.md5(self.data).hexdigest()
        self.sha512 = hashlib.sha512(self.data).hexdigest()
        os.makedirs(DATA_DIR, exist_ok=True)
        self.path = os.path.join(DATA_DIR, label + ".img")
        with open(self.path, "wb") as f:
            f.write(self.data)

    def __str__(self):
        return f"{self.size} random bytes"

    def expected(self):
        return (f"expected: status active, size {self.size}, checksum {self.md5}, "
                f"os_hash_algo sha512, os_hash_value {self.sha512}")

    def image_ok(self, d):
        """d: an image's fields as a client shows them (glance's table, OSC's
        JSON with os_hash_* under properties, the SDK's hash_algo/hash_value):
        active, with the payload's size, MD5 and SHA-512."""
        d = d if isinstance(d, dict) else {}
        props = d.get("properties") if isinstance(d.get("properties"), dict) else {}

        def field(*names):
            for n in names:
                for src in (d, props):
                    if src.get(n) not in (None, ""):
                        return src[n]
            return None

        return (field("status") == "active" and str(field("size")) == str(self.size)
                and field("checksum") == self.md5
                and field("os_hash_algo", "hash_algo") == "sha512"
                and field("os_hash_value", "hash_value") == self.sha512)

    def same(self, got):
        """(ok, detail): got (bytes, or the path of a downloaded file) is the
        payload: same length, MD5 and SHA-512."""
        if isinstance(got, str):
            if not os.path.exists(got):
                return False, f"{got}: no such file"
            with open(got, "rb") as f:
                got = f.read()
        if not isinstance(got, bytes):
            return False, f"not bytes: {type(got).__name__}"
        md5, sha = hashlib.md5(got).hexdigest(), hashlib.sha512(got).hexdigest()
        ok = len(got) == self.size and md5 == self.md5 and sha == self.sha512
        return ok, (f"got {len(got)} bytes, MD5 {md5}, SHA-512 {sha[:32]}…; expected "
                    f"{self.size} bytes, MD5 {self.md5}, SHA-512 {self.sha512[:32]}…")


def out_path(label):
    """A path for a download, not existing yet."""
    os.makedirs(DATA_DIR, exist_ok=True)
    path = os.path.join(DATA_DIR, label + ".out")
    if os.path.exists(path):
        os.remove(path)
    return path


def glance_data_checks():
    """glance image-create --file by the owner, image-download by the member
    (pending, then accepted) and by the stranger (404), image-upload by the
    member (403) and by the owner again (409)."""
    g, p = Glance(), "[glance]"
    pay = Payload("glance-file")
    r = g._run(OWNER, "image-create", "--file", pay.path, "--name", "glance-data",
               "--disk-format", "raw", "--container-format", "bare")
    d = property_table(r.out, join_wrapped=True) if r.rc == 0 else {}
    img = d.get("id")
    check(f"{p} image-create --file ({pay}) by the owner: active, size, checksum (MD5) and "
          "os_hash_algo/os_hash_value (SHA-512) as hashlib computes them",
          r.rc == 0 and bool(img) and pay.image_ok(d), f"{pay.expected()}\n{r}")
    if not img:
        return
    o = g.add_member(OWNER, img, MEMBER)
    check(f"{p} owner shares the uploaded image with the member (member-create): pending",
          o.kind == "ok" and (o.data or {}).get("status") == "pending", repr(o))

    def download(who, label):
        out = out_path(label)
        return g._run(who, "image-download", "--file", out, img), out

    for status in ("pending", "accepted"):
        if status != "pending":
            o = g.update_member(MEMBER, img, MEMBER, status)
            check(f"{p} member sets status {status} (uploaded image)", o.kind == "ok", repr(o))
        r, out = download(MEMBER, f"glance-member-{status}")
        ok, detail = pay.same(out)
        check(f"{p} image-download --file as the member ({status}): MD5 and SHA-512 of the "
              "bytes equal the original's", r.rc == 0 and ok, f"{detail}\n{r}")
    r, out = download(STRANGER, "glance-stranger")
    check(f"{p} image-download as the stranger: 404 (No image found), no file written",
          r.rc == 1 and f"No image found with ID {img}" in r.err and not os.path.exists(out),
          str(r))
    r = g._run(MEMBER, "image-upload", "--file", pay.path, img)
    check(f"{p} image-upload by the member: 403",
          r.rc == 1 and "not authorized to complete upload_image action" in r.err, str(r))
    r = g._run(OWNER, "image-upload", "--file", pay.path, img)
    check(f"{p} image-upload again by the owner: 409 (only a queued image takes data)",
          r.rc == 1 and "Image status transition from active to saving is not allowed" in r.err,
          str(r))
    r, out = download(OWNER, "glance-owner")
    ok, detail = pay.same(out)
    check(f"{p} image-download as the owner after the refused uploads: the original bytes",
          r.rc == 0 and ok, f"{detail}\n{r}")


def sdk_data_checks(sdk):
    """openstacksdk: create_image with a file and the (deprecated)
    upload_image by the owner; download_image by the member, in memory and
    to a file; the stranger's download (404). The SDK checks the data itself
    against the image's os_hash_value; the checks compare with hashlib too."""
    p = "[sdk]"
    own, mem = sdk.conns[OWNER], sdk.conns[MEMBER]

    def fields(i):
        return {"status": i.status, "size": i.size, "checksum": i.checksum,
                "hash_algo": i.hash_algo, "hash_value": i.hash_value}

    # create_image(filename=...): POST /v2/images, then PUT .../file. With
    # validate_checksum the SDK compares the server's checksum with its own
    # MD5 of the file (and deletes the image on a mismatch).
    pay = Payload("sdk-create")
    o = sdk._call(lambda: own.image.create_image(
        "sdk-data", filename=pay.path, disk_format="raw", container_format="bare",
        visibility="shared", allow_duplicates=True, validate_checksum=True).id)
    img = o.data if o.kind == "ok" else None
    check(f"{p} create_image(filename=..., validate_checksum=True) by the owner ({pay}): "
          "uploaded, the SDK's own MD5 comparison passed", bool(img), repr(o))
    if img:
        o = sdk._call(lambda: fields(own.image.get_image(img)))
        check(f"{p} get_image after create_image: active, size, checksum, hash_algo/hash_value "
              "as hashlib computes them", o.kind == "ok" and pay.image_ok(o.data),
              f"{pay.expected()}\n{o!r}")

    # upload_image(container_format, disk_format, data): deprecated in
    # openstacksdk 4 (create_image instead) but still there: POST, then PUT
    # with X-OpenStack-Image-Size.
    pay2 = Payload("sdk-upload", 2 * MIB + 777)

    def upload():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open(pay2.path, "rb") as f:
                return own.image.upload_image(container_format="bare", disk_format="raw",
                                              data=f, name="sdk-upload-data",
                                              visibility="shared").id
    o = sdk._call(upload)
    img2 = o.data if o.kind == "ok" else None
    check(f"{p} upload_image(container_format=, disk_format=, data=<file>) by the owner "
          f"({pay2})", bool(img2), repr(o))
    if img2:
        o = sdk._call(lambda: fields(own.image.get_image(img2)))
        check(f"{p} get_image after upload_image: active, size, checksum, hash_algo/hash_value "
              "as hashlib computes them", o.kind == "ok" and pay2.image_ok(o.data),
              f"{pay2.expected()}\n{o!r}")

    def content(r):
        return r.content if hasattr(r, "content") else r

    for image, pl, how in ((img, pay, "create_image"), (img2, pay2, "upload_image")):
        if not image:
            continue
        o = sdk._call(lambda: own.image.add_member(image, member=MEMBER).status)
        check(f"{p} owner adds the member to the {how} image: pending",
              o.kind == "ok" and o.data == "pending", repr(o))
        # In memory: the SDK hashes the whole body against os_hash_value.
        o = sdk._call(lambda: content(mem.image.download_image(image)))
        ok, detail = pl.same(o.data) if o.kind == "ok" else (False, "")
        check(f"{p} download_image as the member (pending), {how} image: the SDK's SHA-512 "
              "check passed, MD5 and SHA-512 equal the original's", ok,
              f"{detail}\n{o.kind}: {short(o.text, 2000)}")
    if img:
        o = sdk._call(lambda: mem.image.update_member(MEMBER, img, status="accepted").status)
        check(f"{p} member accepts the create_image image", o.kind == "ok"
              and o.data == "accepted", repr(o))
        # To a file: streamed through the SDK's integrity iterator.
        out = out_path("sdk-member-accepted")
        o = sdk._call(lambda: mem.image.download_image(img, output=out).status_code)
        ok, detail = pay.same(out)
        check(f"{p} download_image(output=<file>) as the member (accepted): MD5 and SHA-512 "
              "equal the original's", o.kind == "ok" and ok, f"{detail}\n{o!r}")
        expect(f"{p} download_image as the stranger: 404",
               sdk._call(lambda: sdk.conns[STRANGER].image.download_image(img)), "notfound",
               [f"No image found with ID {img}"])
        http_data_checks(mem, img, pay)


def http_data_checks(conn, img, pay):
    """What the clients rely on, on the wire, with the member's Keystone
    token: Content-Type, Content-Length and Content-MD5 of a download, and
    one Range (no client sends one, curl or a resumed download would)."""
    p = "[http]"
    try:
        import requests

        h = {"X-Auth-Token": conn.auth_token}
        url = f"{URL}/v2/images/{img}/file"
        r = requests.get(url, headers=h, timeout=120)
        ok, detail = pay.same(r.content)
        hd = {k: r.headers.get(k) for k in ("Content-Type", "Content-Length", "Content-MD5")}
        check(f"{p} GET /v2/images/{{id}}/file as the member: 200, application/octet-stream, "
              "Content-Length the size, Content-MD5 the checksum, the original bytes",
              r.status_code == 200 and hd == {"Content-Type": "application/octet-stream",
                                               "Content-Length": str(pay.size),
                                               "Content-MD5": pay.md5} and ok,
              f"{r.status_code} {hd}; {detail}")
        a, b = MIB - 10, 2 * MIB + 9
        r = requests.get(url, headers={**h, "Range": f"bytes={a}-{b}"}, timeout=120)
        check(f"{p} GET .../file with Range: bytes={a}-{b}: 206, Content-Range, those bytes",
              r.status_code == 206
              and r.headers.get("Content-Range") == f"bytes {a}-{b}/{pay.size}"
              and r.headers.get("Content-Length") == str(b - a + 1)
              and r.content == pay.data[a:b + 1],
              f"{r.status_code} {dict(r.headers)} {len(r.content)} bytes")
    except Exception as e:  # noqa
        check(f"{p} GET /v2/images/{{id}}/file as the member", False, repr(e))


def osc_data_checks():
    """openstack image create --file by the owner, image save by the member
    (pending, then rejected: a member in any status may download) and by
    the stranger."""
    osc, p = Osc(), "[openstack]"
    pay = Payload("osc-file")
    r = osc._run(OWNER, "image", "create", "--file", pay.path, "--disk-format", "raw",
                 "--container-format", "bare", "--shared", "osc-data", "-f", "json")
    d = osc._json(r)
    img = d.get("id") if isinstance(d, dict) else None
    check(f"{p} image create --file ({pay}) by the owner: active, size, checksum, "
          "os_hash_algo/os_hash_value as hashlib computes them",
          r.rc == 0 and bool(img) and pay.image_ok(d), f"{pay.expected()}\n{r}")
    if not img:
        return
    o = osc.add_member(OWNER, img, MEMBER)
    check(f"{p} owner adds the member to the uploaded image: pending", o.kind == "ok"
          and isinstance(o.data, dict) and o.data.get("status") == "pending", repr(o))
    for status in ("pending", "rejected"):
        if status != "pending":
            o = osc.update_member(MEMBER, img, MEMBER, status)
            check(f"{p} member sets status {status} (uploaded image)", o.kind == "ok", repr(o))
        out = out_path(f"osc-member-{status}")
        r = osc._run(MEMBER, "image", "save", "--file", out, img)
        ok, detail = pay.same(out)
        check(f"{p} image save --file as the member ({status}): MD5 and SHA-512 of the bytes "
              "equal the original's", r.rc == 0 and ok, f"{detail}\n{r}")
    out = out_path("osc-stranger")
    r = osc._run(STRANGER, "image", "save", "--file", out, img)
    check(f"{p} image save as the stranger: No Image found, no file written",
          r.rc == 1 and f"No Image found for {img}" in r.err and not os.path.exists(out), str(r))


# -------------------------------------------------------------------- main


def write_clouds_yaml():
    """~/.config/openstack/clouds.yaml (in the temp HOME): password auth per
    identity, as a user of a cloud has it. Strings are written as JSON, which
    YAML reads as they are."""
    d = os.path.join(HOME, ".config", "openstack")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "clouds.yaml")
    q = json.dumps
    entries = []
    for key in ("owner", "member", "stranger", "reader", "admin"):
        user, password, project = credentials(key)
        entries.append(
            f"  imgshare-{key}:\n"
            f"    auth:\n"
            f"      auth_url: {q(AUTH_URL)}\n"
            f"      username: {q(user)}\n"
            f"      password: {q(password)}\n"
            f"      project_name: {q(project)}\n"
            f"      user_domain_name: Default\n"
            f"      project_domain_name: Default\n"
            f"    region_name: RegionOne\n"
            f"    interface: public\n"
            f"    identity_api_version: 3\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("clouds:\n" + "".join(entries))
    os.environ["OS_CLIENT_CONFIG_FILE"] = path  # for the SDK in this process
    return path


def main():
    t0 = time.time()
    try:
        write_clouds_yaml()
        print(f"# server {URL}, Keystone {AUTH_URL}, HOME {HOME}", flush=True)
        print(f"# projects: owner {OWNER}, member {MEMBER}, stranger {STRANGER}, extra {OTHER}",
              flush=True)
        glance = glance_checks()
        for client in (glance, "sdk", "osc"):
            try:
                if client == "sdk":
                    client = Sdk()
                elif client == "osc":
                    client = Osc()
                member_flow(client)
            except Exception:  # noqa: a crash in one flow is one failure
                check(f"[{getattr(client, 'name', client)}] flow ran to the end", False,
                      traceback.format_exc())
        glance_after_flow_checks()
        sdk = Sdk()
        sdk_checks(sdk)
        for name, fn in (("glance", glance_data_checks), ("sdk", lambda: sdk_data_checks(sdk)),
                         ("openstack", osc_data_checks)):
            try:
                fn()
            except Exception:  # noqa: a crash in one client's data checks is one failure
                check(f"[{name}] image data checks ran to the end", False, traceback.format_exc())
        osc_cloud_checks()
        osc_project_name_checks()
        keystone_checks()
    finally:
        shutil.rmtree(HOME, ignore_errors=True)
    print(f"# {time.time() - t0:.1f}s")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
