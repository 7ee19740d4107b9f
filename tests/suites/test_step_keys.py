"""Step keys are users' caches: every key of the shipped suites and of variants covering every step kind must stay
byte-identical unless a change says so (README and closing note). Regenerate deliberately with
`python -m tests.suites.step_key_variants --write`."""

from __future__ import annotations

import json

from tests.suites.step_key_variants import FILES_ROOT, GOLDEN, dump


def test_step_keys_unchanged() -> None:
    golden = json.loads(GOLDEN.read_text())
    now = dump(FILES_ROOT)
    assert list(now) == list(golden)
    for variant, steps in golden.items():
        assert now[variant] == steps, f"step keys of {variant!r} changed"
