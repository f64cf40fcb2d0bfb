"""``python -m spdeploy``."""

from __future__ import annotations

import gc
import sys


def main() -> int:
    # Importing the command line makes objects that live as long as the process does (modules,
    # classes, click's group and the parts its commands share): the collector's passes over them
    # while they are young free nothing, and cost `spdeploy status` several milliseconds. So it
    # stays off until they are made; then they are frozen out of every collection. The command
    # named (its module is imported when click resolves it) and what it makes are collected.
    gc.disable()
    try:
        from spdeploy.cli import run
    finally:
        gc.freeze()
        gc.enable()
    return run(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
