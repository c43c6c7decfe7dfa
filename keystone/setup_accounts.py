#!/usr/bin/env python3
"""Creates imgshare's test accounts in a running Keystone and writes accounts.json.

Run by ``keystone.sh start`` once Keystone answers; standard library only, so
any python3 runs it. Everything is made with plain REST calls against ``/v3``
with the bootstrap admin's project-scoped token, in domain Default:

* service user ``imgshare`` with role ``service`` on project ``service``: what
  the imgshare server logs in as to validate its callers' tokens (Keystone's
  default policy lets ``role:service`` call ``GET /v3/auth/tokens`` on other
  users' tokens);
* ``owner-user`` (member on ``owner-project``), ``member-user`` (member on
  ``member-project``), ``reader-user`` (reader ONLY, on ``owner-project``),
  ``stranger-user`` (member on ``stranger-project``), ``domain-user`` (member on
  the Default domain, for domain-scoped tokens);
* ``extra-project``, which nobody logs into (a share target).

Passwords are random. Existing projects/users/grants are reused (a user's
password is reset), so running it twice against one Keystone is fine.
Before writing the file it checks what the tests build on: every account
logs in with the scope it is meant for and gets exactly the roles expected,
and the service user validates another user's token while a plain member may
not. Any unexpected answer ends it with a message and exit status 1.

Usage: KEYSTONE_ADMIN_PASSWORD=PW setup_accounts.py --auth-url http://127.0.0.1:PORT/v3
       --out STATE_DIR/accounts.json [--state-dir DIR] [--venv DIR]
"""

import argparse
import concurrent.futures
import json
import os
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request

DOMAIN = "default"


class Keystone:
    def __init__(self, auth_url):
        self.base = auth_url.rstrip("/")

    def call(self, method, path, token=None, body=None, expect=(200,), headers=None):
        """One request; returns (status, response headers, parsed JSON or None).
        Exits with the whole answer when the status is not in expect."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("X-Auth-Token", token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, hdrs, raw = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, hdrs, raw = e.code, e.headers, e.read()
        except OSError as e:
            fail(f"{method} {self.base}{path}: {e}")
        if status not in expect:
            fail(f"{method} {self.base}{path} -> {status} (expected {list(expect)}): "
                 f"{raw.decode(errors='replace')[:2000]}")
        doc = json.loads(raw) if raw.strip() else None
        return status, hdrs, doc

    def login(self, user, password, project=None, domain_scope=None):
        """Password auth; returns (token, token body)."""
        auth = {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": {"id": DOMAIN},
                                      "password": password}},
            }
        }
        if project:
            auth["scope"] = {"project": {"name": project, "domain": {"id": DOMAIN}}}
        elif domain_scope:
            auth["scope"] = {"domain": {"id": domain_scope}}
        _, hdrs, doc = self.call("POST", "/auth/tokens?nocatalog", body={"auth": auth},
                                 expect=(201,))
        return hdrs["X-Subject-Token"], doc["token"]


def fail(msg):
    print(f"setup_accounts: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def q(**params):
    return "?" + urllib.parse.urlencode(params)


def find_one(ks, token, collection, key, **params):
    _, _, doc = ks.call("GET", f"/{collection}" + q(**params), token)
    items = doc[collection]
    if len(items) > 1:
        fail(f"more than one {key} matches {params}: {items}")
    return items[0] if items else None


def roles_by_name(ks, token, names):
    """{name: id} for the roles in names, creating any that are missing
    (Keystone 30's bootstrap makes reader, member, manager, admin, service)."""
    _, _, doc = ks.call("GET", "/roles", token)
    have = {r["name"]: r["id"] for r in doc["roles"]}
    for name in names:
        if name not in have:
            _, _, doc = ks.call("POST", "/roles", token, {"role": {"name": name}}, expect=(201,))
            have[name] = doc["role"]["id"]
    return {n: have[n] for n in names}


def project(ks, token, name, description):
    """The id of project name in Default, created if missing (POST first: on a
    new Keystone that is one request)."""
    status, _, doc = ks.call("POST", "/projects", token, {"project": {
        "name": name, "domain_id": DOMAIN, "description": description, "enabled": True}},
        expect=(201, 409))
    if status == 201:
        return doc["project"]["id"]
    return find_one(ks, token, "projects", "project", name=name, domain_id=DOMAIN)["id"]


def user(ks, token, name, password, description):
    """The id of user name in Default, created if missing, else given password."""
    status, _, doc = ks.call("POST", "/users", token, {"user": {
        "name": name, "domain_id": DOMAIN, "password": password, "enabled": True,
        "description": description}}, expect=(201, 409))
    if status == 201:
        return doc["user"]["id"]
    uid = find_one(ks, token, "users", "user", name=name, domain_id=DOMAIN)["id"]
    ks.call("PATCH", f"/users/{uid}", token, {"user": {"password": password, "enabled": True}})
    return uid


def parallel(jobs):
    """Runs the thunks in jobs ({key: fn}) side by side; {key: result}. Keystone
    spends ~0.3-0.8 s of CPU on each request (no cache), so this halves the
    set-up time on two cores. A failure (SystemExit from fail) is re-raised."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = {k: pool.submit(fn) for k, fn in jobs.items()}
        return {k: f.result() for k, f in futures.items()}


def grant(ks, token, target, user_id, rid):
    """target: ('projects', id) or ('domains', id)."""
    kind, tid = target
    ks.call("PUT", f"/{kind}/{tid}/users/{user_id}/roles/{rid}", token, expect=(204,))


def role_names(body):
    return sorted(r["name"] for r in body.get("roles", []))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--auth-url", required=True, help="http://127.0.0.1:PORT/v3")
    ap.add_argument("--out", required=True, help="accounts.json to write")
    ap.add_argument("--state-dir", default="")
    ap.add_argument("--venv", default="")
    args = ap.parse_args()

    auth_url = args.auth_url.rstrip("/")
    ks = Keystone(auth_url)
    # From the environment, not argv: a password on a command line shows in
    # `ps`, and a random one may start with "-" (argparse takes it for a flag).
    admin_password = os.environ.get("KEYSTONE_ADMIN_PASSWORD") or ap.error(
        "KEYSTONE_ADMIN_PASSWORD is not set")
    admin_token, admin_body = ks.login("admin", admin_password, project="admin")
    if "admin" not in role_names(admin_body):
        fail(f"the bootstrap admin has no admin role on project admin: {admin_body}")

    def pw():
        return secrets.token_urlsafe(18)

    # project key -> (name, description)
    project_plan = {
        "service": ("service", "services' own users (imgshare)"),
        "owner": ("owner-project", "imgshare tests: owns images"),
        "member": ("member-project", "imgshare tests: an image member"),
        "stranger": ("stranger-project", "imgshare tests: neither owner nor member"),
        "extra": ("extra-project", "imgshare tests: a share target nobody logs into"),
    }
    # account key -> (user name, project key or None for the Default domain, role)
    user_plan = {
        "service": ("imgshare", "service", "service"),
        "owner": ("owner-user", "owner", "member"),
        "member": ("member-user", "member", "member"),
        "reader": ("reader-user", "owner", "reader"),
        "stranger": ("stranger-user", "stranger", "member"),
        "domain": ("domain-user", None, "member"),
    }
    passwords = {k: pw() for k in user_plan}

    # 1. roles, projects and users (independent of each other)
    jobs = {"roles": lambda: roles_by_name(ks, admin_token, ("member", "reader", "service"))}
    for k, (name, desc) in project_plan.items():
        jobs["p:" + k] = lambda name=name, desc=desc: project(ks, admin_token, name, desc)
    for k, (name, _, _) in user_plan.items():
        desc = "the imgshare server's service user" if k == "service" else f"imgshare tests: {k}"
        jobs["u:" + k] = lambda k=k, name=name, desc=desc: user(
            ks, admin_token, name, passwords[k], desc)
    got = parallel(jobs)
    roles = got["roles"]
    project_ids = {k: got["p:" + k] for k in project_plan}
    user_ids = {k: got["u:" + k] for k in user_plan}

    # 2. role assignments
    def target(pkey):
        return ("projects", project_ids[pkey]) if pkey else ("domains", DOMAIN)

    parallel({k: (lambda k=k, pkey=pkey, rname=rname: grant(
        ks, admin_token, target(pkey), user_ids[k], roles[rname]))
        for k, (_, pkey, rname) in user_plan.items()})

    accounts = {"auth_url": auth_url, "state_dir": args.state_dir, "venv": args.venv}
    accounts["service"] = {
        "user": "imgshare", "user_id": user_ids["service"], "password": passwords["service"],
        "project": "service", "project_id": project_ids["service"],
        "user_domain": "Default", "project_domain": "Default",
    }
    accounts["admin"] = {
        "user": "admin", "user_id": admin_body["user"]["id"], "password": admin_password,
        "project": "admin", "project_id": admin_body["project"]["id"],
    }
    users = {}
    for k, (uname, pkey, rname) in user_plan.items():
        if k == "service":
            continue
        u = {"user": uname, "user_id": user_ids[k], "password": passwords[k]}
        if pkey:
            u.update(project=project_plan[pkey][0], project_id=project_ids[pkey])
        else:
            u.update(domain_id=DOMAIN)
        u["roles"] = [rname]
        users[k] = u
    accounts["users"] = users
    accounts["extra_project_id"] = project_ids["extra"]

    # 3. checks: each account logs in as the tests will, with the scope and
    # roles expected (Keystone expands implied roles: member => reader).
    expected_roles = {"member": ["member", "reader"], "reader": ["reader"],
                      "service": ["service"]}

    def login_check(k):
        uname, pkey, rname = user_plan[k]
        if pkey:
            tok, body = ks.login(uname, passwords[k], project=project_plan[pkey][0])
            scope_ok = body.get("project", {}).get("id") == project_ids[pkey]
        else:
            tok, body = ks.login(uname, passwords[k], domain_scope=DOMAIN)
            scope_ok = body.get("domain", {}).get("id") == DOMAIN
        if not scope_ok or role_names(body) != expected_roles[rname]:
            fail(f"{k}: token scope/roles are not as expected (roles {role_names(body)}, "
                 f"want {expected_roles[rname]}): {json.dumps(body)[:1500]}")
        return tok

    tokens = parallel({k: (lambda k=k: login_check(k)) for k in user_plan})

    # The call imgshare (like keystonemiddleware) makes to validate a caller's
    # token, with the service user's token; an ordinary member may not make it
    # (so the service role is what allows it).
    def validate_as_service():
        _, _, doc = ks.call("GET", "/auth/tokens", tokens["service"],
                            headers={"X-Subject-Token": tokens["owner"]})
        t = doc["token"]
        if t["project"]["id"] != project_ids["owner"] or t["user"]["id"] != user_ids["owner"]:
            fail(f"validating the owner's token as imgshare returned another token: {doc}")

    parallel({
        "service": validate_as_service,
        "stranger": lambda: ks.call("GET", "/auth/tokens", tokens["stranger"],
                                    headers={"X-Subject-Token": tokens["owner"]}, expect=(403,)),
    })

    out = os.path.abspath(args.out)
    tmp = out + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(accounts, f, indent=2)
        f.write("\n")
    os.replace(tmp, out)
    print(out)


if __name__ == "__main__":
    main()
