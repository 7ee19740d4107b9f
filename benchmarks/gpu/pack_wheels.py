"""Pack downloaded wheels into one xz archive small enough to travel to the GPU machine (64 MiB for all carried files).

    python benchmarks/gpu/pack_wheels.py SRC_DIR OUT.tar.xz [--no-strip]

Three savings, each keeping every wheel a valid wheel (its RECORD lists exactly what it holds, with sha256 and size
of every member), so the device installs them with plain `pip install --no-index`:
- members nothing imports at run time go: test suites, type stubs, C/Cython sources, and per project what sftbench,
  datasets, trl and the leaderboard never load (DROP below: Arrow Flight and S3, fontTools' optional compiled
  speed-ups, pillow's AVIF codec, matplotlib's sample data and serif/STIX fonts);
- shared libraries lose their symbol tables (`strip --strip-unneeded`, what the dynamic loader does not read), but
  only in wheels auditwheel did not repair: strip silently corrupts libraries patchelf rewrote (measured here:
  scipy's grafted OpenBLAS then fails to load, "ELF load command address/offset not page-aligned"), so wheels
  with a `*.libs/` folder are left alone, and a stripped library whose loadable segments are no longer
  page-congruent (or that strip warned about) is kept as it was;
- the wheels are re-stored uncompressed and xz-compressed as one solid archive.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# Members dropped from every wheel: test suites, type stubs, C/Cython sources (nothing imports them at run time).
DROP_ALL = r"(^|/)tests/|\.(pyi|pyx|pxd|pxi|c|h|hpp|cc|cpp)$"
# Per project (paths inside the wheel): what sftbench, datasets, trl and the leaderboard never load.
DROP = {
    # Arrow Flight, S3 (pyarrow.fs imports it only when present), C++ headers and sources, the C++ test module
    "pyarrow": r"^pyarrow/(include/|src/|.*flight.*|.*_s3fs.*|libarrow_s3\.so.*|_pyarrow_cpp_tests.*)",
    # fontTools' optional Cython speed-ups: each compiled module has its pure-Python twin beside it
    "fonttools": r"^fontTools/.*\.cpython-[^/]*\.so$",
    # pillow's AVIF plugin (imported only to open AVIF files) and its 4.7 MB codec library
    "pillow": r"^(PIL/_avif\.cpython-[^/]*\.so|pillow\.libs/libavif-.*)$",
    # example data, and fonts the leaderboard's plots never ask for (they use DejaVu Sans and no math text)
    "matplotlib": r"^matplotlib/mpl-data/(sample_data/|fonts/ttf/(DejaVuSerif|STIX))",
}


def project(wheel: Path) -> str:
    return wheel.name.split("-")[0].lower().replace("_", "-")


def loads_aligned(path: Path, page: int = 4096) -> bool:
    """Every PT_LOAD segment has offset and address congruent modulo the page size (what ld.so requires)."""
    out = subprocess.run(["readelf", "-lW", str(path)], capture_output=True, text=True, check=False)
    loads = [line.split() for line in out.stdout.splitlines() if line.strip().startswith("LOAD")]
    return out.returncode == 0 and bool(loads) and all(int(f[1], 16) % page == int(f[2], 16) % page for f in loads)


def strip_elf(data: bytes, tmp: Path) -> bytes | None:
    """`data` without its symbol tables, or None when strip fails, warns or breaks the segment layout."""
    path = tmp / "member.so"
    path.write_bytes(data)
    done = subprocess.run(["strip", "--strip-unneeded", str(path)], capture_output=True, text=True, check=False)
    if done.returncode or done.stderr.strip() or not loads_aligned(path):
        return None
    return path.read_bytes()


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def restore(wheel: Path, out_dir: Path, strip: bool) -> dict:
    """Copy `wheel` into `out_dir` uncompressed (ZIP_STORED), slimmed as the module docstring says."""
    drop = re.compile("|".join([DROP_ALL, *([DROP[project(wheel)]] if project(wheel) in DROP else [])]))
    stats = {"wheel": wheel.name, "bytes": wheel.stat().st_size, "dropped": 0, "stripped": 0, "strip_refused": 0}
    changed: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out_dir / wheel.name, "w", zipfile.ZIP_STORED) as dst, \
            tempfile.TemporaryDirectory() as tmp:
        names = src.namelist()
        record = next(n for n in names if n.endswith(".dist-info/RECORD"))
        repaired = any(n.split("/")[0].endswith(".libs") for n in names)  # auditwheel grafted libraries: patchelf
        stats["repaired"] = repaired
        kept = [n for n in names if not drop.search(n) and n != record]
        stats["dropped"] = len(names) - len(kept) - 1
        for name in [*kept, record]:  # RECORD last: it takes the new hashes of stripped members
            data = src.read(name)
            old = src.getinfo(name)
            info = zipfile.ZipInfo(name, date_time=old.date_time)
            info.external_attr = old.external_attr  # keeps the executable bit of shared libraries
            if strip and not repaired and data[:4] == b"\x7fELF":
                slim = strip_elf(data, Path(tmp))
                if slim is None:
                    stats["strip_refused"] += 1
                elif len(slim) < len(data):
                    data, changed[name] = slim, slim
                    stats["stripped"] += 1
            if name == record:
                rows = []
                for row in csv.reader(io.StringIO(data.decode())):
                    if not row or drop.search(row[0]):
                        continue
                    if row[0] in changed:
                        row = [row[0], record_hash(changed[row[0]]), str(len(changed[row[0]]))]
                    rows.append(row)
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerows(rows)
                data = buf.getvalue().encode()
            dst.writestr(info, data)
    return stats


def pack(src: Path, out: Path, strip: bool = True) -> dict:
    wheels = sorted(src.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"no wheels in {src}: run benchmarks/gpu/make_wheels.sh")
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "wheels"
        stage.mkdir()
        listing = []
        if strip and shutil.which("strip") is None:
            raise SystemExit("`strip` (binutils) not found: apt-get install binutils, or pass --no-strip")
        for wheel in wheels:
            listing.append(restore(wheel, stage, strip))
        (stage / "wheels.json").write_text(json.dumps(listing, indent=1))
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".part")
        if shutil.which("xz"):  # multi-threaded and faster than Python's lzma
            with open(partial, "wb") as fh:
                tar = subprocess.Popen(["tar", "-C", tmp, "-cf", "-", "wheels"], stdout=subprocess.PIPE)
                subprocess.run(["xz", "-9", "-T2", "-c"], stdin=tar.stdout, stdout=fh, check=True)
                if tar.wait():
                    raise SystemExit("tar failed")
        else:
            import tarfile

            with tarfile.open(partial, "w:xz", preset=9) as archive:
                archive.add(stage, arcname="wheels")
        partial.replace(out)
    return {"wheels": len(listing), "archive_bytes": out.stat().st_size,
            "wheel_bytes": sum(w["bytes"] for w in listing), "dropped": sum(w["dropped"] for w in listing),
            "stripped": sum(w["stripped"] for w in listing), "strip_refused": sum(w["strip_refused"] for w in listing)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="folder of downloaded *.whl")
    parser.add_argument("out", type=Path, help="archive to write, e.g. .whl/wheels-cp312.tar.xz")
    parser.add_argument("--no-strip", action="store_true", help="keep shared libraries' symbol tables")
    args = parser.parse_args(argv)
    info = pack(args.src, args.out, strip=not args.no_strip)
    print(f"packed {info['wheels']} wheels ({info['wheel_bytes'] / 2**20:.1f} MiB as downloaded) into {args.out} "
          f"({info['archive_bytes'] / 2**20:.1f} MiB); {info['dropped']} members dropped, {info['stripped']} "
          f"libraries stripped, {info['strip_refused']} left as they were (strip warned)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
