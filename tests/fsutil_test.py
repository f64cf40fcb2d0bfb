"""Atomic writes and log tails."""

from __future__ import annotations

from pathlib import Path

import pytest

from spdeploy.errors import BadInput
from spdeploy.fsutil import tail_lines, write_atomic


def test_write_atomic_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "r.prom"
    write_atomic(path, "old\n")
    write_atomic(path, "new\n")
    assert path.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.prom"]  # no temporary left
    assert path.stat().st_mode & 0o777 == 0o644


def test_write_atomic_needs_the_folder_unless_told(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot write the report here"):
        write_atomic(tmp_path / "missing" / "r.txt", "x")
    assert not (tmp_path / "missing").exists()
    write_atomic(tmp_path / "made" / "r.txt", "x", make_parents=True)
    assert (tmp_path / "made" / "r.txt").read_text() == "x"


def test_tail_lines_reads_the_end_of_a_long_log(tmp_path: Path) -> None:
    log = tmp_path / "setup.log"
    log.write_bytes(b"".join(b"line %d\r\n" % n for n in range(100_000)) + b"\n\n")
    assert tail_lines(log, 3) == ["line 99997", "line 99998", "line 99999"]
    assert tail_lines(tmp_path / "none.log", 3) == []


def test_tail_lines_disarms_terminal_escapes(tmp_path: Path) -> None:
    log = tmp_path / "setup.log"
    log.write_bytes(b"ok\n\x1b]0;owned\x07\x1b[2Jfailed \xff\n")
    assert tail_lines(log, 10) == ["ok", "?]0;owned??[2Jfailed \ufffd"]
