"""One line per check, for the client suites (test_clients.py, huawei/test_sdk.py).

``check(name, ok, detail)`` prints ``ok   name`` or ``FAIL name`` (with the
detail under it) and records the outcome; ``summary()`` prints the counts and
returns the exit status (1 if any check failed).
"""

PASSED = []
FAILED = []


def check(name, ok, detail=""):
    if ok:
        PASSED.append(name)
        print(f"ok   {name}", flush=True)
    else:
        FAILED.append(name)
        print(f"FAIL {name}" + (f"\n     {detail}" if detail else ""), flush=True)
    return ok


def summary():
    print(f"\n{len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0
