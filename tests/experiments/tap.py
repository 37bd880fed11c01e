"""TAP output shared by the experiment oracle scripts: one line per check, and sections that fail
on their own (an unexpected error in one section is a failed check; the others still run)."""
import sys

_failures = 0


def check(name, ok, why=""):
    global _failures
    print(f"ok - {name}" if ok else f"not ok - {name}: {why}")
    _failures += 0 if ok else 1


def run(sections):
    """Runs each (function, args) section, then exits 1 if any check failed."""
    for section, args in sections:
        try:
            section(*args)
        except Exception as e:  # an unexpected error fails its section, the others still run
            check(f"{section.__name__} ran to the end", False, f"{type(e).__name__}: {e}".strip())
    sys.exit(1 if _failures else 0)
