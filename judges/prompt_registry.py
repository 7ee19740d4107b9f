"""The prompt registry: every prompt is a file, named here, and its sha256 goes into cards and step hashes.

Two kinds of entries:

- `ours`: prompt texts written for sftbench, shipped in judges/prompts/ (offline defaults).
- `upstream`: a paper's exact prompt, read at run time from its public repository at a pinned commit
  (raw GitHub URL), verified by sha256 where one is pinned, and cached; a local copy can stand in for the
  download (it is verified the same way). Prompts that upstream keeps inside Python code are read from the
  source text with `ast` (never executed): string assignments and `"...".format_map(...)` literals.

Anything else given by path is a custom prompt file (`.txt` text, or `.json`: a list of conversation turns).
`fetch_pinned` returns a pinned file's bytes, verified by sha256, through judges/data_sources.py (one cache, one
offline switch, one downloader for every pinned upstream file).
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sftbench.common.downloads import download, github_raw, is_offline, pinned_cache_path, write_atomic

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"


class PromptError(ValueError):
    """A prompt that cannot be had or does not verify; the message says what to do."""


raw_url = github_raw  # a file of a public GitHub repository at a commit (`SFTBENCH_GITHUB_RAW` names a mirror)


@dataclass(frozen=True)
class PromptSource:
    name: str
    kind: Literal["ours", "upstream"]
    description: str
    file: str                                # ours: file name in judges/prompts/; upstream: path in the repository
    repo: str = ""                           # upstream: owner/name on GitHub
    commit: str = ""                         # upstream: 40-hex commit
    sha256: str | None = None                # upstream: sha256 of the file (None: only the commit pins it)
    extract: Literal["text", "json_list", "python"] = "text"
    parts: tuple[tuple[str, str], ...] = ()  # python: (part name, '<function>.<variable>' or '<variable>')

    @property
    def url(self) -> str:
        return raw_url(self.repo, self.commit, self.file)

    @property
    def identity(self) -> str:
        """What pins the text before it is read: the sha256, else repository, commit and path."""
        if self.kind == "ours":
            return hashlib.sha256((PROMPTS_DIR / self.file).read_bytes()).hexdigest()
        return self.sha256 or f"github:{self.repo}@{self.commit}:{self.file}"


_ISM = ("princeton-pli/Instruct-SkillMix", "04e130ea37a3b365d531a1076a1afe1cb91b68df")
_ISM_PROMPTS = "src/data_generation/prompts/"
_REFINE_PARTS = tuple((f"{p}_{v}", f"gen_prompt_{p}.{v}") for p in ("no_input", "input")
                      for v in ("sys_prompt", "prompt_template", "criteria"))

REGISTRY: dict[str, PromptSource] = {s.name: s for s in (
    PromptSource("alpagasus_rating", "upstream", "AlpaGasus accuracy rating (0-5) of an Alpaca triplet",
                 "rating/chatgpt_rating.py", "gpt4life/alpagasus", "42f57bf285d9ce2a4985345b3c7427d7287e6812",
                 "7ae2ef25d5db847736aa7d75b964d6a1d01e16fe2ee04530f25e874e7255060f", extract="python", parts=(("system", "system_prompt"), ("user", "user_prompt"),
                                          ("triplet", "<format_map>"))),
    PromptSource("long_is_more_refine", "upstream", "Long-Is-More introspective refinement of a response",
                 "refinement/refine_responses.py", "tml-epfl/long-is-more-for-alignment",
                 "a084843978a8e8942ea9aaec34c10a42b0a077f9",
                 "ce7e1c8c5175cbdc00e363e664ba267300372289db5bc862a25d11de98514cfc", extract="python",
                 parts=_REFINE_PARTS),
    PromptSource("skillmix_gpt4", "upstream", "Instruct-SkillMix generation conversation (GPT-4-Turbo, 5 turns)",
                 _ISM_PROMPTS + "generate_gpt-4-turbo-2024-04-09.json", *_ISM,
                 "01de592e6d0a1f7eaeac4d7c74a0b0f08cbbd675604e66460e9e00b02003dfbf", extract="json_list"),
    PromptSource("skillmix_claude", "upstream", "Instruct-SkillMix generation conversation (Claude 3.5, 3 turns)",
                 _ISM_PROMPTS + "generate_claude-3-5-sonnet-20240620.json", *_ISM,
                 "e4fb784e9f0d2eea0654185038a9c4788744622fce49ac1b395f1526d9b068f3", extract="json_list"),
    PromptSource("skillmix_junk", "upstream", "Instruct-SkillMix shirker ablation: a deliberately unhelpful answer",
                 _ISM_PROMPTS + "generate_gpt-4-turbo-2024-04-09_junk.json", *_ISM,
                 "99e66f4c1b135b9e687a0f1aaafcf479e917d754de0a9a14e1dfe5fa73add080", extract="json_list"),
    PromptSource("skillmix_brevity", "upstream", "Instruct-SkillMix brevity variant: a one-paragraph answer",
                 _ISM_PROMPTS + "generate_gpt-4-turbo-2024-04-09_brevity.json", *_ISM,
                 "0b31e067da1ab62214820b99e62f071e9f7506ab110a26decbab5107334627a5", extract="json_list"),
    PromptSource("ours_skillmix_conversation", "ours", "generate / fix truncation / critique / refine / rewrite",
                 "skillmix_conversation.json", extract="json_list"),
    PromptSource("ours_skillmix_shirker", "ours", "a deliberately low-effort answer", "skillmix_shirker.txt"),
    PromptSource("ours_skillmix_brevity", "ours", "a one-paragraph answer", "skillmix_brevity.txt"),
    PromptSource("ours_skillmix_sda_skills", "ours", "SDA: skills named by the teacher", "skillmix_sda_skills.txt"),
    PromptSource("ours_skillmix_sda_queries", "ours", "SDA: query types named by the teacher",
                 "skillmix_sda_queries.txt"),
    PromptSource("ours_skillmix_sdd_skills", "ours", "SDD: skills a seed example needs", "skillmix_sdd_skills.txt"),
    PromptSource("ours_refine", "ours", "critique a response, then write a better one", "longest_refine.txt"),
    PromptSource("ours_rating", "ours", "0-5 quality rating of an Alpaca row", "rater_quality.txt"),
)}


@dataclass(frozen=True)
class LoadedPrompt:
    name: str
    parts: dict[str, str]                    # text: {'text'}; json_list: {'0', '1', ...}; python: named parts
    sha256: str                              # of the file the parts come from
    source: str                              # URL, cache or local path it was read from
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def turns(self) -> list[str]:
        return [self.parts[k] for k in sorted(self.parts, key=int)]

    def card(self) -> dict[str, str]:
        return {"name": self.name, "sha256": self.sha256, "source": self.source, **self.meta}


def fill(text: str, **fields: object) -> str:
    """Replace `{name}` for the names given only (other braces stay): upstream's str.format on these prompts."""
    return re.sub(r"\{(\w+)\}", lambda m: str(fields[m.group(1)]) if m.group(1) in fields else m.group(0), text)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _verify(data: bytes, sha256: str | None, where: str, url: str) -> bytes:
    if sha256 and sha256_bytes(data) != sha256:
        raise PromptError(f"{where}: sha256 {sha256_bytes(data)} does not match the pinned {sha256} of {url}; "
                          "the copy is corrupted or another version: delete it, or give the file from that commit")
    return data


def fetch_pinned(url: str, sha256: str | None, cache_dir: Path | None = None,
                 local_path: str | Path | None = None) -> tuple[bytes, str]:
    """Bytes of a pinned file and where they came from: a local copy, the cache, or a download (then cached)."""
    if local_path is not None:
        path = Path(local_path).expanduser()
        if not path.is_file():
            raise PromptError(f"{path}: local copy not found (it stands in for {url})")
        return _verify(path.read_bytes(), sha256, str(path), url), str(path)
    cached = pinned_cache_path(url, sha256, cache_dir)
    if cached.is_file():
        return _verify(cached.read_bytes(), sha256, str(cached), url), str(cached)
    if is_offline():
        raise PromptError(f"offline (HF_HUB_OFFLINE/SFTBENCH_OFFLINE) and {url} is not cached: download it to "
                          f"{cached}, or give a local copy")
    try:
        data = download(url)
    except OSError as exc:
        raise PromptError(f"could not download {url} ({exc}); give a local copy of the file instead") from None
    _verify(data, sha256, url, url)
    write_atomic(cached, data)
    return data, url


def _string_value(node: ast.AST) -> str | None:
    """A string constant or a `+` concatenation of them (how upstream writes its long prompts)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _string_value(node.left), _string_value(node.right)
        return None if left is None or right is None else left + right
    return None


def python_strings(source: str) -> dict[str, str]:
    """'func.var' / 'var' -> string value (last assignment wins), and '<format_map>' -> the first such literal."""
    found: dict[str, str] = {}

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef):
                visit(child, f"{child.name}.")
                continue
            if isinstance(child, ast.Assign) and len(child.targets) == 1 and isinstance(child.targets[0], ast.Name):
                value = _string_value(child.value)
                if value is not None:
                    found[scope + child.targets[0].id] = value
            if (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                    and child.func.attr == "format_map" and "<format_map>" not in found):
                value = _string_value(child.func.value)
                if value is not None:
                    found["<format_map>"] = value
            visit(child, scope)
    visit(ast.parse(source), "")
    return found


def _parts(spec: PromptSource, data: bytes, where: str) -> dict[str, str]:
    text = data.decode("utf-8")
    if spec.extract == "text":
        return {"text": text}
    if spec.extract == "json_list":
        try:
            turns = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PromptError(f"{where}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            raise PromptError(f"{where}: expected a JSON list of prompt strings (one per conversation turn)")
        return {str(i): t for i, t in enumerate(turns)}
    try:
        strings = python_strings(text)
    except SyntaxError as exc:
        raise PromptError(f"{where}:{exc.lineno}: not valid Python ({exc.msg})") from None
    missing = [ref for _, ref in spec.parts if ref not in strings]
    if missing:
        raise PromptError(f"{where}: prompt strings {missing} not found; is this {spec.file} from {spec.commit[:10]}?")
    return {name: strings[ref] for name, ref in spec.parts}


def load_prompt(name_or_path: str | Path, local_copy: str | Path | None = None,
                cache_dir: Path | None = None) -> LoadedPrompt:
    """A registry prompt by name (upstream ones downloaded, verified and cached, or from `local_copy`),
    or a custom prompt file by path (.txt text, .json list of turns)."""
    spec = REGISTRY.get(str(name_or_path))
    if spec is None:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise PromptError(f"unknown prompt {str(name_or_path)!r}: neither a registered name "
                              f"({', '.join(sorted(REGISTRY))}) nor an existing file")
        kind = "json_list" if path.suffix == ".json" else "text"
        data = path.read_bytes()
        custom = PromptSource(path.stem, "ours", "custom prompt file", str(path), extract=kind)
        return LoadedPrompt(path.stem, _parts(custom, data, str(path)), sha256_bytes(data), str(path))
    if spec.kind == "ours":
        path = Path(local_copy) if local_copy else PROMPTS_DIR / spec.file
        data, where = path.read_bytes(), f"builtin:{spec.file}"
    else:
        data, where = fetch_pinned(spec.url, spec.sha256, cache_dir, local_copy)
    meta = {"repo": spec.repo, "commit": spec.commit, "path": spec.file} if spec.kind == "upstream" else {}
    return LoadedPrompt(spec.name, _parts(spec, data, where), sha256_bytes(data), where, meta)


def prompt_identity(name_or_path: str | Path) -> str:
    """Known before any download (for step hashes): a registry entry's pin, or a custom file's sha256."""
    spec = REGISTRY.get(str(name_or_path))
    if spec is not None:
        return spec.identity
    path = Path(name_or_path).expanduser()
    return sha256_bytes(path.read_bytes()) if path.is_file() else f"missing:{name_or_path}"


__all__ = ["REGISTRY", "PromptSource", "LoadedPrompt", "PromptError", "load_prompt", "prompt_identity",
           "fetch_pinned", "raw_url", "fill", "python_strings", "sha256_bytes",
           "PROMPTS_DIR"]
