"""Resolving installers in a large CD image, and staging from it, against extracting it first.

Run by hand (not in CI), from the repository root::

    python bench/media.py [--keep DIR] [--files N] [--size-gb G]

In a temporary folder (or DIR, which must be empty or new) it writes the sandbox's Exchange 5.5
SP folder (``spdeploy.sandbox.world.build_media``: Eng, I386 and Alpha, six components) plus
filler up to N files and G GiB (default 50,000 and 2): sparse files spread over
``Eng/Filler/Dnnnn/``, 300 siblings at each level of the installers' paths, and 200 MB of random
support files (40 x 5 MB) beside the Notes connector's installer. It makes an ISO of it
(genisoimage, else ``xorriso -as mkisofs``; Joliet + Rock Ridge) and times, as medians:

(a) ``open_media(iso)`` + ``find_installer`` for the six components of the built-in profile,
    with a fresh reader every time, against extracting the image (bsdtar, xorriso) and then
    resolving the same installers in the extracted folder; ``pycdlib.PyCdlib().open()`` is
    timed for information;
(b) ``staging.stage`` of the Notes connector's folder (~200 MB) out of the image, against
    ``cat src > dst`` per file plus one ``sha256sum`` over the extracted copy of that folder
    (and, for information, the same with ``openssl dgst -sha256``).

The page cache is warm in every measurement (each input is read once first), so the figures
compare code paths, not disk reads. Nothing here asserts a timing; a missing installer or a
failed tool stops the run loudly. With --keep, the source folder and SP.iso stay in DIR; the
extracted copies and staged folders are removed either way.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pycdlib

from spdeploy.media import open_media
from spdeploy.media.locate import find_installer
from spdeploy.profile import Component, load_profile
from spdeploy.sandbox.world import build_media
from spdeploy.staging import stage

GOAL_RESOLVE_MS = 50.0
GOAL_SPEEDUP = 100.0
GOAL_STAGE_RATIO = 1.1
REPEAT_OURS, REPEAT_EXTRACT, REPEAT_STAGE, REPEAT_PYCDLIB = 25, 3, 5, 3
MB = 1 << 20
NOTES = "Eng/Exchconn/Setup/I386/Ntsconn"
SUPPORT_FILES, SUPPORT_SIZE = 40, 5 * MB
# Every installer lookup lists these folders. A real CD has hundreds of files beside them, and a
# reader that read more than it needed, or matched names slowly, shows it here.
PATH_LEVELS = (
    *("", "Eng", "Eng/Exchconn", "Eng/Exchconn/Setup", "Eng/Exchconn/Setup/I386"),
    "Eng/Server/Setup/I386",
)
SIBLINGS = 300
FILES_PER_FILLER_DIR = 200


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(argv: Sequence[str | os.PathLike[str]]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))}: exit {done.returncode}\n{done.stderr}")


def version(argv: Sequence[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True)
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def settle() -> None:
    """Flush earlier writes, so one run's writeback does not land in the next one's time."""
    os.sync()


def warm(paths: Sequence[Path]) -> None:
    """Read every byte once, so the timed runs find it in the page cache."""
    for path in paths:
        with path.open("rb", buffering=0) as fh:
            while fh.read(8 * MB):
                pass


def median_of_fresh(fn: Callable[[Path], object], dest: Path, reps: int) -> float:
    """Median seconds of ``fn(dest)`` into a new ``dest`` each time; one uncounted warm-up."""
    times = []
    for rep in range(reps + 1):
        shutil.rmtree(dest, ignore_errors=True)
        settle()
        took = timed(lambda: fn(dest))
        if rep:
            times.append(took)
    shutil.rmtree(dest)
    return statistics.median(times)


# -- the media -------------------------------------------------------------------------------


def sparse(path: Path, size: int) -> None:
    # a hole costs no disk time here; the image gets real (zero) bytes for it
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


def build_tree(root: Path, files: int, total: int) -> tuple[int, int]:
    """The SP folder, support files and filler; returns (files, bytes) in the tree."""
    build_media(root)
    notes = root / NOTES
    for i in range(SUPPORT_FILES):
        # fresh random bytes: nothing for a file system (or the image) to compress or share
        with (notes / f"Lsx{i:03d}.dll").open("wb") as fh:
            for _ in range(SUPPORT_SIZE // MB):
                fh.write(os.urandom(MB))
    present = [p for p in root.rglob("*") if p.is_file()]
    count, size = len(present), sum(p.stat().st_size for p in present)
    paths = [root / level / f"Q{i:05d}.DLL" for level in PATH_LEVELS for i in range(SIBLINGS)]
    for i in range(max(0, files - count - len(paths))):
        folder = root / "Eng" / "Filler" / f"D{i // FILES_PER_FILLER_DIR:04d}"
        paths.append(folder / f"F{i:06d}.BIN")
    rng = random.Random(55)  # the same layout every run
    weights = [rng.random() + 0.1 for _ in paths]
    share = max(0, total - size) / sum(weights)
    for path, weight in zip(paths, weights, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        sparse(path, int(weight * share) + 1)
        size += int(weight * share) + 1
    return count + len(paths), size


def mkisofs() -> list[str]:
    if shutil.which("genisoimage"):
        return ["genisoimage"]
    if shutil.which("xorriso"):
        return ["xorriso", "-as", "mkisofs"]
    raise SystemExit("neither genisoimage nor xorriso is installed: cannot make the CD image")


# -- (a) resolving the six installers --------------------------------------------------------


def resolve(media_path: Path, components: Sequence[Component]) -> list[str]:
    media = open_media(media_path)
    try:
        found = [find_installer(media, c, "Eng", "I386") for c in components]
    finally:
        media.close()
    missing = [c.id for c, hit in zip(components, found, strict=True) if hit is None]
    if missing:
        raise SystemExit(f"{media_path}: installers not found for {', '.join(missing)}")
    return [hit for hit in found if hit is not None]


def extract(tool: str, iso: Path, dest: Path) -> None:
    if tool == "bsdtar":
        dest.mkdir()
        run(["bsdtar", "-xf", iso, "-C", dest])
    else:
        run(["xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/", dest])


def extract_and_resolve(
    tool: str, iso: Path, dest: Path, components: Sequence[Component], expected: list[str]
) -> tuple[float, float]:
    """Median seconds to extract, and then to resolve in the extracted folder.

    The last extraction stays in ``dest`` (staging's baseline reads it); the others are removed
    at once, so there is never more than one 2 GB copy.
    """
    extracting, resolving = [], []
    for rep in range(REPEAT_EXTRACT):
        shutil.rmtree(dest, ignore_errors=True)
        settle()
        extracting.append(timed(lambda: extract(tool, iso, dest)))
        start = time.perf_counter()
        found = resolve(dest, components)
        resolving.append(time.perf_counter() - start)
        if found != expected:
            raise SystemExit(f"{tool}: the extracted copy resolved {found}, SP.iso {expected}")
        if rep < REPEAT_EXTRACT - 1:
            shutil.rmtree(dest)
    return statistics.median(extracting), statistics.median(resolving)


def pycdlib_open(iso: Path) -> None:
    image = pycdlib.PyCdlib()
    image.open(str(iso))
    image.close()


# -- (b) staging the Notes connector's folder ------------------------------------------------


def stage_from_iso(iso: Path, installer: str, dest: Path) -> None:
    media = open_media(iso)
    try:
        stage(media, "ntsconn", installer, dest, catalog=None)
    finally:
        media.close()


def cat_and_hash(sources: Sequence[Path], base: Path, dest: Path, hasher: list[str]) -> None:
    """The shell's way: one ``cat src > dst`` per file, then one hasher run over them all."""
    for src in sources:
        out = dest / src.relative_to(base)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as fh:
            subprocess.run(["cat", src], stdout=fh, check=True)
    subprocess.run([*hasher, *sources], stdout=subprocess.DEVNULL, check=True)


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Figures:
    ours_resolve: float = 0.0
    extracting: dict[str, tuple[float, float]] | None = None  # tool -> (extract, resolve)
    pycdlib: float = 0.0
    staged_mb: float = 0.0
    staged_files: int = 0
    ours_stage: float = 0.0
    cat_sha256sum: float = 0.0
    cat_openssl: float | None = None


def machine(argv: Sequence[str]) -> list[tuple[str, str]]:
    maker = version([*argv, "--version"]) if argv[0] == "genisoimage" else " ".join(argv)
    openssl = version(["openssl", "version"]) if shutil.which("openssl") else "absent"
    return [
        ("CPUs", str(os.cpu_count())),
        ("Python", platform.python_version()),
        ("system", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("pycdlib", metadata.version("pycdlib")),
        ("mkisofs", maker),
        ("xorriso", version(["xorriso", "-version"]) if shutil.which("xorriso") else "absent"),
        ("bsdtar", version(["bsdtar", "--version"])),
        ("sha256sum", version(["sha256sum", "--version"])),
        ("openssl", openssl),
    ]


def measure_resolve(iso: Path, scratch: Path, out: Figures) -> list[str]:
    components = load_profile("exchange55").ordered()
    expected = resolve(iso, components)  # warm-up, not counted
    times = [timed(lambda: resolve(iso, components)) for _ in range(REPEAT_OURS)]
    out.ours_resolve = statistics.median(times)
    print(
        f"(a) open_media(iso) + find_installer x{len(components)}: {out.ours_resolve * 1e3:.2f} ms"
    )
    out.extracting = {}
    for tool in ("bsdtar", "xorriso"):
        if not shutil.which(tool):
            print(f"    {tool}: not installed, skipped")
            continue
        ext, res = extract_and_resolve(tool, iso, scratch / tool, components, expected)
        out.extracting[tool] = (ext, res)
        print(f"    {tool} extract + resolve: {ext + res:.2f} s ({ext:.2f} s + {res * 1e3:.1f} ms)")
        if tool != "bsdtar":
            shutil.rmtree(scratch / tool)
    out.pycdlib = statistics.median(timed(lambda: pycdlib_open(iso)) for _ in range(REPEAT_PYCDLIB))
    print(f"    pycdlib open (a full parse): {out.pycdlib:.2f} s")
    return expected


def measure_stage(iso: Path, installer: str, extracted: Path, scratch: Path, out: Figures) -> None:
    # the baseline reads the bsdtar copy, so both sides read real bytes of the same files
    base = extracted / NOTES
    sources = sorted(p for p in base.rglob("*") if p.is_file())
    out.staged_files = len(sources)
    out.staged_mb = sum(p.stat().st_size for p in sources) / MB
    warm(sources)
    out.ours_stage = median_of_fresh(
        lambda d: stage_from_iso(iso, installer, d), scratch / "stage", REPEAT_STAGE
    )
    out.cat_sha256sum = median_of_fresh(
        lambda d: cat_and_hash(sources, base, d, ["sha256sum"]), scratch / "cat", REPEAT_STAGE
    )
    what = f"{out.staged_files} files, {out.staged_mb:.0f} MB"
    print(f"(b) stage {what} out of SP.iso: {out.ours_stage:.3f} s")
    print(f"    cat + sha256sum: {out.cat_sha256sum:.3f} s")
    if shutil.which("openssl"):
        # Debian's sha256sum has no SHA-NI code path and OpenSSL (hashlib's backend) does:
        # this row shows how much of the margin is only that
        hasher = ["openssl", "dgst", "-sha256"]
        out.cat_openssl = median_of_fresh(
            lambda d: cat_and_hash(sources, base, d, hasher), scratch / "cat", REPEAT_STAGE
        )
        print(f"    cat + openssl dgst -sha256: {out.cat_openssl:.3f} s")


def report(fig: Figures) -> None:
    ours = fig.ours_resolve
    extracting = fig.extracting or {}
    rows = [("(a) ours: open_media(SP.iso) + 6 find_installer", f"{ours * 1e3:.2f} ms", "")]
    for tool, (ext, res) in extracting.items():
        label, took = f"    {tool} extract + resolve in the folder", ext + res
        rows.append((label, f"{took:.2f} s", f"{took / ours:,.0f}x ours"))
    rows.append(
        (
            "    pycdlib open (information)",
            f"{fig.pycdlib:.2f} s",
            f"{fig.pycdlib / ours:,.0f}x ours",
        )
    )
    rows.append(
        (f"(b) ours: stage {fig.staged_mb:.0f} MB out of SP.iso", f"{fig.ours_stage:.3f} s", "")
    )
    rows.append(
        (
            "    cat + sha256sum, extracted copy",
            f"{fig.cat_sha256sum:.3f} s",
            f"ours {fig.ours_stage / fig.cat_sha256sum:.2f}x",
        )
    )
    if fig.cat_openssl is not None:
        rows.append(
            (
                "    cat + openssl dgst (information)",
                f"{fig.cat_openssl:.3f} s",
                f"ours {fig.ours_stage / fig.cat_openssl:.2f}x",
            )
        )
    print(f"\n{'measure (medians, warm page cache)':<50}{'time':>10}   ratio")
    for label, value, ratio in rows:
        print(f"{label:<50}{value:>10}   {ratio}")

    goals = [(f"resolve <= {GOAL_RESOLVE_MS:g} ms", ours * 1e3 <= GOAL_RESOLVE_MS)]
    if extracting:
        fastest, tool = min((ext + res, tool) for tool, (ext, res) in extracting.items())
        speedup = fastest / ours
        label = f">= {GOAL_SPEEDUP:g}x faster than the fastest baseline ({tool}: {speedup:,.0f}x)"
        goals.append((label, speedup >= GOAL_SPEEDUP))
    stage_ratio = fig.ours_stage / fig.cat_sha256sum
    label = f"staging <= {GOAL_STAGE_RATIO}x cat + sha256sum ({stage_ratio:.2f}x)"
    goals.append((label, stage_ratio <= GOAL_STAGE_RATIO))
    for label, held in goals:
        print(f"goal {label}: {'met' if held else 'NOT met'}")


def bench(root: Path, files: int, total: int) -> int:
    folder, iso, scratch = root / "media", root / "SP.iso", root / "scratch"
    if not shutil.which("bsdtar"):
        raise SystemExit("bsdtar is not installed: it is the baseline of both measurements")
    argv = mkisofs()
    for key, value in machine(argv):
        print(f"{key:<10}{value}")
    scratch.mkdir()

    start = time.perf_counter()
    count, size = build_tree(folder, files, total)
    took = time.perf_counter() - start
    print(f"\nsource folder: {count:,} files, {size / 2**30:.2f} GiB (built in {took:.1f} s)")
    took = timed(lambda: run([*argv, "-quiet", "-J", "-R", "-o", iso, folder]))
    print(f"{' '.join(argv)} -J -R: {took:.1f} s, SP.iso {iso.stat().st_size / 2**30:.2f} GiB")
    warm([iso])
    print("page cache warm: every input is read once before it is timed\n")

    figures = Figures()
    found = measure_resolve(iso, scratch, figures)
    ntsconn = next(path for path in found if path.startswith(f"{NOTES}/"))
    measure_stage(iso, ntsconn, scratch / "bsdtar", scratch, figures)
    shutil.rmtree(scratch)
    report(figures)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keep", type=Path, metavar="DIR", help="build in DIR and keep it")
    parser.add_argument("--files", type=int, default=50_000, help="files at least (50,000)")
    parser.add_argument("--size-gb", type=float, default=2.0, help="GiB at least (2)")
    args = parser.parse_args(argv)
    if args.files < 1 or args.size_gb <= 0:
        parser.error("--files and --size-gb must be positive")
    total = int(args.size_gb * 2**30)
    if args.keep is None:
        with tempfile.TemporaryDirectory(prefix="spdeploy-bench-media-") as tmp:
            return bench(Path(tmp), args.files, total)
    if args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep}: not empty")
    args.keep.mkdir(parents=True, exist_ok=True)
    try:
        return bench(args.keep, args.files, total)
    finally:
        shutil.rmtree(args.keep / "scratch", ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
