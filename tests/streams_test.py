"""Output streams that turn themselves off when their reader goes, instead of raising."""

from __future__ import annotations

import io
import os
import sys

from spdeploy.streams import Guarded, guarded


class _Closed(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_broken_pipe_switches_the_stream_off() -> None:
    stream = Guarded(_Closed())
    assert stream.write("first") == len("first")  # no exception: the caller goes on
    assert stream.gone
    assert stream.write("second") == len("second")
    stream.flush()
    assert not stream.isatty()


def test_a_working_stream_passes_everything_through() -> None:
    inner = io.StringIO()
    stream = Guarded(inner)
    stream.write("line\n")
    stream.flush()
    assert inner.getvalue() == "line\n" and not stream.gone
    assert stream.encoding == "utf-8"


def test_a_lost_descriptor_points_at_the_null_device(tmp_path: object) -> None:
    read_end, write_end = os.pipe()
    inner = os.fdopen(write_end, "w")
    os.close(read_end)  # the reader is gone
    stream = Guarded(inner)
    stream.write("x" * 100_000)
    stream.flush()
    assert stream.gone
    inner.write("more")  # the descriptor now leads to the null device: no error at exit either
    inner.flush()
    inner.close()


def test_guarded_restores_the_streams() -> None:
    before = sys.stdout, sys.stderr
    with guarded():
        assert isinstance(sys.stdout, Guarded) and isinstance(sys.stderr, Guarded)
    assert (sys.stdout, sys.stderr) == before
