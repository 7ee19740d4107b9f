"""Multi-turn SFT: one sequence per conversation, loss on every assistant turn, rendered as generation renders it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from sftbench.suites.models.base_models import random_init
from sftbench.suites.models.chat_templates import (
    TEMPLATES,
    get_template,
    save_checkpoint_template,
)
from sftbench.suites.models.tokenizer_train import train_tokenizer
from sftbench.suites.models.train import (
    Recipe,
    build_sft_trainer,
    sft_train,
    to_prompt_completion,
)
from sftbench.suites.models.train_data import (
    conversation,
    is_multi_turn,
    prepare_sft_data,
    tokenize_conversation,
)

ANIMALS = ["fox", "owl", "otter", "heron", "badger", "lynx"]
PLACES = ["the river", "the old mill", "the pine forest", "the north hill"]
TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
            max_position_embeddings=512)
RECIPE = Recipe(epochs=1, lr=3e-3, batch_size=4, max_length=512, seed=3, warmup_ratio=0.0)
SYSTEM = "Answer like a field guide."


def _single(i: int) -> dict:
    a, p = ANIMALS[i % 6], PLACES[i % 4]
    return {"instruction": f"Where does the {a} live?" + " Be brief." * (i % 3), "input": "",
            "output": f"The {a} lives near {p}." + " It sleeps there." * (i % 4)}


def _multi(i: int, turns: int = 3, system: str | None = None) -> dict:
    a = ANIMALS[i % 6]
    messages = [{"role": "system", "content": system}] if system else []
    for k in range(turns):
        messages += [{"role": "user", "content": f"Tell me fact {k + 1} about the {a}. " + "More. " * i},
                     {"role": "assistant", "content": f"The {a} lives near {PLACES[(i + k) % 4]}."}]
    first_user, first_answer = messages[-2 * turns]["content"], messages[-2 * turns + 1]["content"]
    return {"instruction": first_user.strip(), "input": "", "output": first_answer, "messages": messages}


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [f"{r['instruction']} {r['output']}" for r in map(_single, range(48))] * 3
    texts += [m["content"] for i in range(6) for m in _multi(i)["messages"]] * 3
    return train_tokenizer(texts, 320, tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def tokenizer(tok_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tok_dir)


@pytest.fixture(scope="module")
def base(tok_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_init("tiny", tok_dir, tmp_path_factory.mktemp("base"), seed=0, **TINY)


def _runs(mask: list[int]) -> list[tuple[int, int]]:
    """[start, end) of each contiguous run of 1s."""
    runs, start = [], None
    for i, m in enumerate([*mask, 0]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            runs.append((start, i))
            start = None
    return runs


@pytest.mark.parametrize("name", ["vicuna_v1.1", "chatml", "alpaca", "llama-3"])
def test_labels_are_exactly_the_assistant_turns(name: str, base: Path, tmp_path: Path) -> None:
    template = get_template(name)
    rows = [_multi(1, 3), _multi(2, 2, system=SYSTEM), _single(0)]
    trainer = build_sft_trainer(base, rows, RECIPE, template, tmp_path)
    tok, data = trainer.processing_class, trainer.train_dataset
    assert len(data) == 3 and trainer.sftbench_data.n_multi_turn == 2
    for row, example in zip(rows[:2], data):
        messages = conversation(row)
        text = template.render_conversation(messages)
        ids, labels = example["input_ids"], example["labels"]
        assert ids == tok(text)["input_ids"]  # the whole conversation, tokenized in one call
        mask = [int(label != -100) for label in labels]
        assert [lab for lab, m in zip(labels, mask) if m] == [t for t, m in zip(ids, mask) if m]
        answers = [m["content"] for m in messages if m["role"] == "assistant"]
        runs = _runs(mask)
        assert [tok.decode(ids[s:e]) for s, e in runs] == [
            template.response_prefix + a + template.stop for a in answers]  # each turn + its stop marker
        others = [t for t, m in zip(ids, mask) if not m]  # system, user turns, assistant headers, separators
        expected = text
        for a in reversed(answers):
            cut = expected.rindex(template.response_prefix + a + template.stop)
            expected = expected[:cut] + expected[cut + len(template.response_prefix + a + template.stop):]
        assert tok.decode(others) == tok.bos_token + expected
        assert labels[-1] == tok.convert_tokens_to_ids(template.stop)
    batch = trainer.data_collator([data[i] for i in range(3)])  # padding masked too
    assert ((batch["attention_mask"] == 0) <= (batch["labels"] == -100)).all()


@pytest.mark.parametrize("name", sorted(TEMPLATES))
@pytest.mark.parametrize("batching", ["padded", "packed"])
def test_single_turn_rows_match_trls_prompt_completion_path(name: str, batching: str, base: Path, tokenizer: Any,
                                                            tmp_path: Path) -> None:
    """Pre-tokenized single-turn rows give trl exactly the data its own prompt-completion path builds."""
    from datasets import Dataset
    from trl import SFTTrainer

    template = get_template(name)
    rows = [_single(i) for i in range(10)]
    system = SYSTEM if name == "chatml" else None
    records = to_prompt_completion(rows, template, system)
    longest_prompt = max(len(tokenizer(r["prompt"])["input_ids"]) for r in records)
    # padded: the longest prompts fill max_length (dropped), others lose part of their completion (truncated);
    # packed (trl does not drop there): nothing is dropped, some are cut
    max_length = longest_prompt + (0 if batching == "padded" else 3)
    recipe = RECIPE.model_copy(update={"batching": batching, "max_length": max_length, "system_prompt": system})
    ours = build_sft_trainer(base, rows, recipe, template, tmp_path)
    records = Dataset.from_list(records)
    theirs = SFTTrainer(model=ours.model, args=ours.args, train_dataset=records, processing_class=ours.processing_class)
    a, b = ours.train_dataset, theirs.train_dataset
    assert ours.sftbench_data.truncated > 0
    assert len(a) == len(b) and a["input_ids"] == b["input_ids"] and a["labels"] == b["labels"]
    if batching == "packed":
        assert a["seq_lengths"] == b["seq_lengths"]
    else:
        assert 0 < ours.sftbench_data.dropped_truncated == len(rows) - len(b)  # what trl drops, counted


def test_mixed_dataset_trains_and_counts(base: Path, tmp_path: Path) -> None:
    rows = [_single(i) for i in range(6)] + [_multi(i, 2 + i % 2) for i in range(6)]
    stats = sft_train(base, rows, RECIPE.model_copy(update={"epochs": 2, "lr": 5e-3}), "vicuna_v1.1", tmp_path,
                      threads=1, progress=False)
    assert stats["n_multi_turn"] == 6 and stats["dropped_truncated"] == 0 and stats["truncated_rows"] == 0
    assert stats["assistant_turns_trained"] == 6 + sum(2 + i % 2 for i in range(6))
    assert stats["examples"] == 12 and stats["steps"] == 6
    assert stats["loss_curve"] and all(math.isfinite(x) for x in stats["loss_curve"])
    assert math.isfinite(stats["train_loss"]) and stats["loss_curve"][-1] < stats["loss_curve"][0]


def test_truncation_drops_and_counts(tokenizer: Any) -> None:
    template = get_template("chatml")
    long_first = _multi(0, 2)
    long_first["messages"][0]["content"] = "More. " * 80  # the first answer starts past max_length
    cut_second = _multi(1, 3)  # fits up to the middle of its second answer
    example, turn_of = tokenize_conversation(tokenizer, template, conversation(cut_second))
    middle = next(i for i, t in enumerate(turn_of) if t == 1) + 2
    data = prepare_sft_data([long_first, cut_second, _single(0)], template, tokenizer, None, middle)
    assert (data.rows, data.n_multi_turn, data.dropped_truncated, data.truncated) == (3, 2, 1, 1)
    assert data.assistant_turns_trained == 2 + 1  # turns 1-2 of cut_second, the single row's answer
    assert [len(e["input_ids"]) for e in data.examples][0] == middle
    assert data.examples[0]["input_ids"] == example["input_ids"][:middle]
    assert not is_multi_turn({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                                           {"role": "assistant", "content": "a"}]})  # one exchange: as before


@pytest.mark.parametrize("name", sorted(TEMPLATES))
@pytest.mark.parametrize("system", [None, SYSTEM])
def test_training_prefix_equals_the_generation_prompt(name: str, system: str | None, tokenizer: Any,
                                                      tok_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """For every assistant turn i of a 3-turn conversation, the training sequence up to turn i is exactly what
    MT-Bench style generation (`generate_turns`) renders and tokenizes for the conversation so far."""
    import sftbench.suites.models.generate as gen

    template = get_template(name)
    row = _multi(2, 3)
    messages = conversation(row, system)
    text, spans = template.render_with_spans(messages)
    example, turn_of = tokenize_conversation(tokenizer, template, messages)
    tokenizer.save_pretrained(tmp_path)
    save_checkpoint_template(template, tmp_path)
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    seen: list[tuple[str, list[int]]] = []

    def fake_generate(model_dir: Path, convs: list, max_new_tokens: int, *args: Any) -> list[str]:
        _, _, encoded, _ = gen._encode(model_dir, convs, max_new_tokens, None)
        seen.append((template.render_conversation(convs[0], add_generation_prompt=True), encoded[0]))
        return [answers[len(seen) - 1]]  # the reference answer, so the next turn sees the training history

    monkeypatch.setattr(gen, "_generate", fake_generate)
    users = [m["content"] for m in messages if m["role"] == "user"]
    assert gen.generate_turns(tmp_path, [users], 8, 1, 1, progress=False, system=system) == [answers]
    assert len(seen) == len(spans) == 3
    for i, ((prompt, prompt_ids), (start, _)) in enumerate(zip(seen, spans)):
        assert text[:start] == prompt  # text: the training prefix is the generation prompt
        first = turn_of.index(i)
        assert example["input_ids"][:first] == prompt_ids  # tokens too: no boundary artefacts
    # the first exchange of a multi-turn row renders as the same row trained single-turn
    [record] = to_prompt_completion([{k: row[k] for k in ("instruction", "input", "output")}], template, system)
    assert text.startswith(record["prompt"] + record["completion"])
