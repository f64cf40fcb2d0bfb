"""``python -m spdeploy``."""

from __future__ import annotations

import sys


def main() -> int:
    from spdeploy.cli import run

    return run(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
