#!/usr/bin/env bash
# Download the wheels a GPU machine lacks (benchmarks/gpu/wheels.txt), build sftbench's own wheel from this working
# tree, and pack them all into .whl/wheels-cp312.tar.xz (with the working tree, at most 64 MiB: the device tool's
# limit on what travels).
#
#   bash benchmarks/gpu/make_wheels.sh                  # CPU side, run from anywhere; a few minutes on 2 cores
#   WITH_OPENLLM=1 bash benchmarks/gpu/make_wheels.sh   # also lm-eval's tier (only if the total still fits)
#   LEAN=1 bash benchmarks/gpu/make_wheels.sh           # only what the GPU image lacks (a few MiB)
#   PYVER=3.11 bash benchmarks/gpu/make_wheels.sh       # the same set for Python 3.11 (to test the install here)
#
# Downloads are cached in $WHEEL_CACHE (default /tmp/sftbench-wheels-cp<ver>), so a re-run only re-packs.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PY:-$REPO/.venv/bin/python}"
PYVER="${PYVER:-3.12}"
TAG="cp${PYVER/./}"
CACHE="${WHEEL_CACHE:-/tmp/sftbench-wheels-$TAG}"
OUT="${OUT_DIR:-$REPO/.whl}"
LIMIT_MIB=64

mkdir -p "$CACHE" "$OUT"
REQS="$CACHE/requirements.txt"
# wheels.txt: the core, then "# tier: image" (fallbacks for what the GPU image has) and "# tier: openllm"
awk -v lean="${LEAN:-0}" -v openllm="${WITH_OPENLLM:-0}" '
  /^# tier: image/ {tier = "image"} /^# tier: openllm/ {tier = "openllm"}
  /^[a-zA-Z0-9].*==/ { if ((tier == "image" && lean == 1) || (tier == "openllm" && openllm != 1)) next; print }
' "$REPO/benchmarks/gpu/wheels.txt" > "$REQS"
echo "== downloading $(wc -l < "$REQS") wheels for CPython $PYVER, manylinux x86-64 into $CACHE"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: \
  --python-version "$PYVER" --implementation cp --abi "$TAG" \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
  -d "$CACHE/dl" -r "$REQS"

# Keep exactly the pinned set (the cache may hold other versions from earlier runs).
rm -rf "$CACHE/pick" && mkdir -p "$CACHE/pick"
"$PY" - "$REQS" "$CACHE/dl" "$CACHE/pick" <<'EOF'
import re, shutil, sys
from pathlib import Path
reqs, dl, pick = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
norm = lambda s: re.sub(r"[-_.]+", "_", s).lower()
for line in Path(reqs).read_text().split():
    name, version = line.split("==")
    hits = [w for w in dl.glob("*.whl") if norm(w.name.split("-")[0]) == norm(name) and w.name.split("-")[1] == version]
    if not hits:
        sys.exit(f"no wheel downloaded for {line}")
    shutil.copy2(hits[0], pick)
EOF

echo "== building sftbench's wheel from the working tree (tracked and untracked, not ignored)"
SRC="$(mktemp -d)"
trap 'rm -rf "$SRC"' EXIT
(cd "$REPO" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - 2>/dev/null) | tar -xf - -C "$SRC"
"$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$CACHE/pick" "$SRC"

echo "== packing"
"$PY" "$REPO/benchmarks/gpu/pack_wheels.py" "$CACHE/pick" "$OUT/wheels-$TAG.tar.xz"
ls -l "$OUT"
# The device tool's 64 MiB counts everything that travels: the working tree (tracked and untracked-not-ignored
# files, shared/ inside the checkout) plus the carried .whl.
WHL=$(du -cb "$OUT"/* | tail -1 | cut -f1)
TREE=$(cd "$REPO" && git ls-files -co --exclude-standard -z | xargs -0 -r du -cb 2>/dev/null | awk '/total$/ {s += $1} END {print s + 0}')
TOTAL=$((WHL + TREE))
mib() { awk "BEGIN{printf \"%.1f\", $1/1048576}"; }
echo "== $OUT: $(mib "$WHL") MiB; with the working tree ($(mib "$TREE") MiB) $(mib "$TOTAL") MiB travel (limit $LIMIT_MIB MiB)"
if (( TOTAL > LIMIT_MIB * 1048576 )); then
  echo "error: over $LIMIT_MIB MiB: rerun with LEAN=1 (leaves out the wheels the GPU image already has), keep" \
       "WITH_OPENLLM unset, and delete other archives in $OUT" >&2
  exit 1
fi
