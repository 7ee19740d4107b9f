"""Instruction pools by name: the papers' datasets on the Hugging Face hub or in their GitHub repositories (pinned
by commit and sha256), or any local file.

Hub sources are fetched with `huggingface_hub.snapshot_download` at a pinned revision into the hub cache (so
`HF_HUB_OFFLINE=1` works once cached); `path` overrides the download with a local copy in any layout
`formats.load_rows` reads. The card gets the source, the repository and revision, the file's sha256, row counts
and the number of bad rows skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from sftbench.datasets_builders.formats import load_rows
from sftbench.common.rows import Row
from sftbench.common.suggest import unknown_name_message


@dataclass(frozen=True)
class HubSource:
    repo_id: str
    revision: str                 # a commit sha or tag on the hub; "main" is resolved and recorded in the card
    patterns: tuple[str, ...]     # data files to fetch (the first match in sorted order is read)
    rows: int | None              # rows the full release has, where known (a sanity note for the card)
    description: str
    licence: str


# Revisions: hub commit shas that other public projects pin for these datasets (alpaca: widely pinned;
# evol_instruct_70k and lima: the hub's main as recorded on 2026-08-11, single source each). No public pin of the
# Instruct-SkillMix-SDA release was found, so it follows "main" and the card records the commit it resolved to.
# `pool.revision` in a suite overrides any of them.
HUB_SOURCES: dict[str, HubSource] = {
    "alpaca": HubSource("tatsu-lab/alpaca", "dce01c9b08f87459cf36a430d809084718273017", ("data/train-*.parquet",), 52002,
                        "Alpaca-52k (text-davinci-003 answers to Self-Instruct-style requests)", "CC BY-NC 4.0"),
    "evol_instruct_70k": HubSource("WizardLMTeam/WizardLM_evol_instruct_70k",
                                   "16b48bd8eecad79d4f42e1ab641db317e1b27443",
                                   ("alpaca_evol_instruct_70k.json",), 70000,
                                   "Evol-Instruct-70k (WizardLM)", "see the dataset card"),
    "lima": HubSource("GAIR/lima", "68958e98267f5fb4a52a03ebcdae4ae59213fa7c", ("train.jsonl",), 1030,
                      "LIMA: 1,000 curated single-turn rows plus multi-turn ones (gated: accept its terms on the hub)",
                      "CC BY-NC-SA 4.0 / source terms"),
    "ism_sda": HubSource("PrincetonPLI/Instruct-SkillMix-SDA", "main", ("*.json", "*.jsonl", "data/*.parquet"), None,
                         "Instruct-SkillMix-SDA: teacher-written pairs mixing k=2 skills", "research use"),
}


@dataclass(frozen=True)
class GithubSource:
    """A released dataset file in a paper's GitHub repository: pinned by commit and sha256 of its content."""
    repo: str
    commit: str
    file: str
    sha256: str
    rows: int
    description: str
    licence: str


# Instruct-SkillMix releases the same SDA data in its GitHub repository: fully pinned, unlike the hub's "main".
GITHUB_SOURCES: dict[str, GithubSource] = {
    "ism_sda_1k": GithubSource("princeton-pli/Instruct-SkillMix", "ad331de2da9dda650a4dbf14d6cc7d8969d79dd9",
                               "datasets/ism_sda_k2_1000.json",
                               "1c4be594ef2c059813dc4336d51d6a8fb1670729a53ff59cc09905a88726e4bf", 1000,
                               "Instruct-SkillMix-SDA 1k (k=2 skills, GPT-4-Turbo), as released", "research use"),
    "ism_sda_heldout": GithubSource("princeton-pli/Instruct-SkillMix", "ad331de2da9dda650a4dbf14d6cc7d8969d79dd9",
                                    "datasets/ism_sda_heldout_k2_100.json",
                                    "0606abd976e3f9b66c288456ed35403aeeb1d364852eb24861850b2b9acb6e70", 100,
                                    "Instruct-SkillMix-SDA held-out 100 (the paper's validation set)",
                                    "research use"),
}
SOURCE_NAMES = ("file", *HUB_SOURCES, *GITHUB_SOURCES)


@dataclass
class Pool:
    rows: list[Row]
    info: dict[str, Any]


def _hub_file(source: HubSource, revision: str | None, cache_dir: Path | None) -> tuple[Path, str]:
    """The data file of a hub source (downloaded or from the hub cache) and the commit it was taken at."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    try:
        root = Path(snapshot_download(source.repo_id, repo_type="dataset", revision=revision or source.revision,
                                      allow_patterns=list(source.patterns),
                                      cache_dir=str(cache_dir) if cache_dir else None))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        from sftbench.common.downloads import hub_failure
        raise FileNotFoundError(hub_failure(f"pool {source.repo_id}", source.repo_id, revision or source.revision,
                                            f"give it as the pool's `path` ({', '.join(source.patterns)})", exc)) from None
    found = sorted(p for pattern in source.patterns for p in root.glob(pattern) if p.is_file())
    if not found:
        raise FileNotFoundError(f"{source.repo_id}: no file matching {source.patterns} at revision {root.name}")
    return found[0], root.name  # snapshot folders are named by the commit sha


def load_pool(source: str, path: str | Path | None = None, revision: str | None = None,
              skip_bad_rows: bool = False, cache_dir: Path | None = None) -> Pool:
    """Rows of a named hub source (`path` = local copy) or, for source 'file', of the file at `path`."""
    if source == "file":
        if path is None:
            raise ValueError("pool source 'file' needs a path")
        loaded = load_rows(path, skip_bad_rows=skip_bad_rows)
        return Pool(loaded.rows, {"source": "file", **loaded.info()})
    if source in GITHUB_SOURCES:
        return _github_pool(source, path, skip_bad_rows)
    if source not in HUB_SOURCES:
        raise ValueError(unknown_name_message("pool source", source, ["world", *SOURCE_NAMES]))
    hub = HUB_SOURCES[source]
    if path is not None:
        loaded, where = load_rows(path, skip_bad_rows=skip_bad_rows), "local copy"
        resolved = revision or "local"
    else:
        file, resolved = _hub_file(hub, revision, cache_dir)
        loaded, where = load_rows(file, skip_bad_rows=skip_bad_rows), f"hf://{hub.repo_id}"
    info = {"source": source, "repo_id": hub.repo_id, "revision": resolved, "from": where,
            "licence": hub.licence, "release_rows": hub.rows, **loaded.info()}
    return Pool(loaded.rows, info)


def _github_pool(source: str, path: str | Path | None, skip_bad_rows: bool) -> Pool:
    """A GitHub-released file: downloaded at its commit (cached) or a local copy; either must match the sha256."""
    from sftbench.common.downloads import PinnedFile, content_sha256, fetch
    gh = GITHUB_SOURCES[source]
    pinned = PinnedFile(gh.description, gh.repo, gh.commit, gh.file, gh.sha256,
                        f"the pool's `path` (a local copy of {gh.file}, optionally .gz)")
    file = fetch(pinned, path)
    got = content_sha256(file)
    if got != gh.sha256:
        raise ValueError(f"{file}: sha256 of its content is {got}, not the released {gh.sha256} of {pinned.url}; "
                         "the copy is corrupted or another version: download that file again, or use pool source "
                         "'file' for a dataset of your own")
    loaded = load_rows(file, skip_bad_rows=skip_bad_rows)
    info = {"source": source, "repo": gh.repo, "revision": gh.commit, "url": pinned.url,
            "from": "local copy" if path is not None else "github", "licence": gh.licence, "release_rows": gh.rows,
            **loaded.info()}
    return Pool(loaded.rows, info)


class RowCount(NamedTuple):
    rows: int           # records in the file (an upper bound of the rows a build sees)
    content_bytes: int  # bytes of its decompressed content (parquet: uncompressed column data)


def count_rows(path: str | Path) -> RowCount:
    """Records and content size of a pool file, cheaply and without validating a row: the non-blank lines of JSON
    lines (`.jsonl`, or a `.json` holding one object per line), the items of a `.json` list, a parquet file's row
    count and uncompressed size from its metadata; `.gz` is read as a stream. Records that loading would drop (empty
    or bad rows) are counted, so this is an upper bound of the rows a build sees. For cost estimates before anything
    is loaded; raises FileNotFoundError, or ValueError for a file it cannot read."""
    import gzip
    import io
    import json
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    gz = path.suffix == ".gz"
    suffix = Path(path.stem).suffix if gz else path.suffix

    def stream() -> Any:
        return gzip.open(path, "rb") if gz else path.open("rb")
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq
            meta = pq.ParquetFile(io.BytesIO(gzip.decompress(path.read_bytes())) if gz else path).metadata
            return RowCount(meta.num_rows, sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)))
        with stream() as f:
            head = f.read(4096).lstrip()
        if suffix == ".json" and head.startswith(b"["):
            with stream() as f:
                data = f.read()
            return RowCount(len(json.loads(data)), len(data))
        lines = size = 0
        with stream() as f:
            for line in f:
                size += len(line)
                lines += bool(line.strip())
        return RowCount(lines, size)
    except Exception as exc:  # noqa: BLE001 - gzip, json and pyarrow raise several kinds for a damaged file
        raise ValueError(f"{path}: cannot count its rows ({type(exc).__name__}: {exc}); the pool file must be a JSON "
                         "list, JSON lines or parquet, optionally .gz") from None


def pool_from_arg(pool: str, skip_bad_rows: bool = False, cache_dir: Path | None = None) -> Pool:
    """`--pool` of `sftbench build`: a hub source name, 'NAME=PATH' (a local copy of it), or a file path."""
    name, _, local = pool.partition("=")
    if name in HUB_SOURCES or name in GITHUB_SOURCES:
        return load_pool(name, local or None, skip_bad_rows=skip_bad_rows, cache_dir=cache_dir)
    return load_pool("file", pool, skip_bad_rows=skip_bad_rows)


__all__ = ["GITHUB_SOURCES", "GithubSource", "HUB_SOURCES", "HubSource", "Pool", "RowCount", "SOURCE_NAMES",
           "count_rows", "load_pool", "pool_from_arg"]
