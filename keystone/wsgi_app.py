"""Keystone's public WSGI application, as gunicorn loads it (keystone.sh).

Keystone's oslo.config parses ``sys.argv`` when the application initialises.
Under gunicorn that is gunicorn's own command line, so every worker would die
with ``gunicorn: error: unrecognized arguments: --bind ...`` (exit 2) and be
respawned forever. Keep only the program name before keystone is imported;
the configuration comes from ``OS_KEYSTONE_CONFIG_FILES`` instead.
"""

import sys

sys.argv = sys.argv[:1]

from keystone.wsgi.api import application  # noqa: E402  (must follow the argv fix)

__all__ = ["application"]
