"""Keystone's public WSGI application, as gunicorn loads it (keystone.sh).

Two adjustments for a test Keystone on SQLite, made before keystone's
application is built:

1. ``sys.argv``: keystone's oslo.config parses it when the application
   initialises. Under gunicorn that is gunicorn's own command line, so every
   worker would die with ``gunicorn: error: unrecognized arguments: --bind ...``
   (exit 2) and be respawned forever. Only the program name is kept; the
   configuration comes from ``OS_KEYSTONE_CONFIG_FILES``.

2. Write transactions are serialised across threads and processes when
   ``IMGSHARE_KEYSTONE_WRITE_LOCK`` names a lock file (keystone.sh sets
   ``STATE_DIR/sqlite-write.lock``, shared by every gunicorn on that state
   directory). Every password login writes ``user.last_active_at``, and a
   write transaction first reads, then writes. SQLite cannot let two such
   transactions upgrade their read locks at once and fails one of them at once
   (no busy wait) with "database is locked", which Keystone answers with a 500:
   observed with a handful of concurrent logins. With the write transactions
   taken one at a time, the remaining waits (a writer's commit against readers)
   are plain busy waits that SQLite resolves by itself.

And one after: the policy enforcer is built and its rules loaded before the
worker serves. Keystone builds it lazily on the first policy check, and
publishes it before registering the rules; a second thread checking at that
moment finds no rule for its action and is refused: an admin's
``GET /v3/projects`` answered 403, observed with 16 concurrent requests to a
fresh worker.
"""

import contextlib
import fcntl
import os
import sys
import threading

sys.argv = sys.argv[:1]


def _serialise_sqlite_writes(lock_path):
    from keystone.common import sql
    from keystone.common.sql import core

    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    in_process = threading.RLock()  # threads of this worker; re-entrant for nesting
    depth = threading.local()
    original = core.session_for_write

    @contextlib.contextmanager
    def session_for_write():
        with in_process:
            outer = getattr(depth, "n", 0) == 0
            if outer:
                fcntl.flock(fd, fcntl.LOCK_EX)  # the other workers and gunicorns
            depth.n = getattr(depth, "n", 0) + 1
            try:
                with original() as session:
                    yield session
            finally:
                depth.n -= 1
                if outer:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    # Keystone's modules call sql.session_for_write() through the package.
    core.session_for_write = session_for_write
    sql.session_for_write = session_for_write


if os.environ.get("IMGSHARE_KEYSTONE_WRITE_LOCK"):
    _serialise_sqlite_writes(os.environ["IMGSHARE_KEYSTONE_WRITE_LOCK"])

from keystone.wsgi.api import application  # noqa: E402  (after the adjustments)


def _load_policy_rules():
    from keystone.common.rbac_enforcer import enforcer

    # Outside a request the enforcer would log one deprecation warning per
    # rule; in a request it logs one line in all, as it will still do.
    enforcer.RBACEnforcer.suppress_deprecation_warnings = True
    try:
        enforcer.RBACEnforcer()._enforcer.load_rules()
    finally:
        enforcer.RBACEnforcer.suppress_deprecation_warnings = False


_load_policy_rules()

__all__ = ["application"]
