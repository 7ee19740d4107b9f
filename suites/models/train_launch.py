"""`python -m sftbench.suites.models.train_launch`: one SFT run outside the runner, for `accelerate launch` / `torchrun`.

Every process runs this; `sft_train` reads WORLD_SIZE/LOCAL_RANK (set by the launcher) to derive gradient
accumulation from the recipe's global batch, and only rank 0 writes the checkpoint. See
`suites/accelerate_configs/README.md` for the commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sftbench.common.rows import read_jsonl


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sftbench.suites.models.train_launch", description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, type=Path, help="base model directory (safetensors)")
    parser.add_argument("--data", required=True, type=Path, help="Alpaca-format JSONL (a build step's dataset.jsonl)")
    parser.add_argument("--recipe", default="{}",
                        help='recipe as JSON or a path to YAML/JSON, e.g. \'{"preset": "long_is_more"}\'')
    parser.add_argument("--template", default=None, help="chat template (default: the recipe's, else alpaca)")
    parser.add_argument("--out", required=True, type=Path, help="checkpoint directory to write")
    parser.add_argument("--resume-dir", type=Path, default=None, help="persistent checkpoint dir (resume after kill)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    parser.add_argument("--trust-remote-code", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def load_recipe_spec(text: str) -> dict:
    path = Path(text)
    if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
        import yaml

        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return json.loads(text)


def main(argv: list[str] | None = None) -> int:
    from sftbench.suites.models.recipes import resolve_recipe, resolve_template
    from sftbench.suites.models.train import sft_train

    args = parse_args(argv)
    recipe = resolve_recipe(load_recipe_spec(args.recipe), seed=args.seed)
    template = resolve_template(recipe, args.template)
    stats = sft_train(args.base, read_jsonl(args.data), recipe, template, args.out, threads=args.threads,
                      progress=not args.quiet, resume_dir=args.resume_dir, trust_remote_code=args.trust_remote_code)
    import os

    if int(os.environ.get("RANK", "0")) == 0:
        (args.out / "train_stats.json").write_text(json.dumps(stats, indent=1, default=str) + "\n")
        print(json.dumps({k: stats[k] for k in ("steps", "train_loss", "global_batch", "precision", "wall_s")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
