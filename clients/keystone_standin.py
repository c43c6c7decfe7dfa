#!/usr/bin/env python3
"""A stand-in for the Keystone endpoint the `openstack` CLI insists on.

Why it exists
-------------
imgshare is an image service, not an identity service: it knows its callers
only through the static tokens file and has no Keystone API. Real deployments
put imgshare behind a real Keystone. But with ``--os-auth-type admin_token``
(the only way to hand OSC a static token without Keystone), python-
openstackclient still resolves every ``--project``/``PROJECT`` argument of
``image add project``, ``image remove project`` and ``image set --project``
through the identity service at ``--os-endpoint`` (clients.md §1.3):

    GET /                 (version discovery; our document says identity v2.0)
    GET /tenants/<name>   (look-up by id)
    GET /tenants          (look-up by name)

On **403** for the look-ups OSC falls back to using the literal argument as
the project id, which is exactly what we want: member ids are project ids.
(A 404 would make the command fail with an empty ``CommandError``; pointing
``--os-endpoint`` at imgshare itself would give those 404s.)

So this stand-in answers discovery and refuses every look-up with 403, like a
Keystone that does not let the caller list projects. It never sees image
traffic (that goes to ``OS_IMAGE_ENDPOINT_OVERRIDE``), it checks no tokens
and it grants nothing: authorisation is entirely imgshare's.

Usage: ``keystone_standin.py [--log FILE]``. It binds 127.0.0.1 on a free
port, prints ``http://127.0.0.1:<port>`` on stdout (one line, flushed) and
serves until SIGTERM/SIGINT. Each request is appended to ``--log`` (if given)
as ``METHOD PATH -> STATUS`` so a test can show what OSC asked.
"""

import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    server_version = "keystone-standin/1"
    protocol_version = "HTTP/1.1"
    log_file = None

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        if self.log_file:
            with open(self.log_file, "a") as f:
                f.write(f"{self.command} {self.path} -> {status}\n")

    def _discovery(self):
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        base = f"http://{host}"
        # Keystone's unversioned document (300 Multiple Choices). It names
        # only identity v2.0 so OSC uses the v2 /tenants look-ups, which
        # answer 403 below; the self link points at the root because the
        # look-ups then go to <endpoint>/tenants.
        return {
            "versions": {
                "values": [
                    {
                        "id": "v2.0",
                        "status": "stable",
                        "updated": "2014-04-17T00:00:00Z",
                        "links": [{"rel": "self", "href": base + "/"}],
                        "media-types": [
                            {
                                "base": "application/json",
                                "type": "application/vnd.openstack.identity-v2.0+json",
                            }
                        ],
                    }
                ]
            }
        }

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?", 1)[0].rstrip("/")
        if self.command in ("GET", "HEAD") and path in ("", "/v2.0"):
            self._reply(300 if path == "" else 200, self._discovery())
            return
        self._reply(
            403,
            {
                "error": {
                    "code": 403,
                    "title": "Forbidden",
                    "message": "keystone stand-in: project look-ups are not "
                    "served; use the project id",
                }
            },
        )

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, fmt, *args):  # keep stderr quiet
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--log", help="append one line per request here")
    args = ap.parse_args()
    Handler.log_file = args.log
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("http://127.0.0.1:%d" % httpd.server_address[1], flush=True)
    try:
        httpd.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
