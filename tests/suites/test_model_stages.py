"""Model stages end to end on a tiny corpus: tokenizer, chat templates, pretraining, SFT, generation."""

from __future__ import annotations

import copy
import socket
from pathlib import Path

import pytest
import torch
from sftbench.suites.models.chat_templates import (
    TEMPLATE_FILE,
    TEMPLATES,
    get_template,
    load_checkpoint_template,
)
from sftbench.suites.models.generate import generate
from sftbench.suites.models.tiny_model import TinyModelConfig, pretrain_base
from sftbench.suites.models.tokenizer_train import train_tokenizer
from sftbench.suites.models.train import (
    Recipe,
    build_sft_trainer,
    sft_train,
    to_prompt_completion,
)

from sftbench.common.rows import prompt_text

ANIMALS = ["fox", "owl", "otter", "heron", "badger", "lynx"]
PLACES = ["the river", "the old mill", "the pine forest", "the north hill"]
FOODS = ["berries", "fish", "seeds", "beetles"]


def _rows(n: int = 40) -> list[dict]:
    rows = []
    for i in range(n):
        a, p, f = ANIMALS[i % 6], PLACES[i % 4], FOODS[(i // 3) % 4]
        extra = f"Answer in one sentence about {p}." if i % 5 == 0 else ""
        rows.append({"instruction": f"Where does the {a} live and what does it eat?", "input": extra,
                     "output": f"The {a} lives near {p}. It eats {f} every morning."})
    return rows


def _corpus() -> list[str]:
    texts = []
    for a in ANIMALS:
        for p in PLACES:
            for f in FOODS:
                texts.append(f"The {a} lives near {p}. It eats {f}, and in winter it sleeps. Ünïcode: café, 😀.")
    return texts + [prompt_text(r) + "\n\n" + r["output"] for r in _rows()]


TINY = TinyModelConfig(hidden_size=32, layers=2, heads=2, intermediate_size=64, max_position_embeddings=256)
RECIPE = Recipe(epochs=2, lr=3e-3, batch_size=8, max_length=128, seed=7)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt (downloads, telemetry) fails the test."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model stage tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    import huggingface_hub.utils._telemetry as telemetry

    monkeypatch.setattr(telemetry, "_start_telemetry_thread", refuse)


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tokenizer(_corpus(), 400, tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def tokenizer(tok_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tok_dir)


@pytest.fixture(scope="module")
def base(tok_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("base")
    stats = pretrain_base(_corpus(), tok_dir, TINY, out, steps=40, batch_size=8, seq_len=64, lr=5e-3, seed=0,
                          threads=1, progress=False)
    return out, stats


@pytest.fixture(scope="module")
def sft(base: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sft")
    return out, sft_train(base[0], _rows(30), RECIPE, "chatml", out, threads=1, progress=False)


# -- tokenizer ----------------------------------------------------------------------------------------------

def test_tokenizer_round_trips_text(tokenizer) -> None:
    text = "The fox lives near the river.\n\n  Ünïcode: café, 😀 — tabs\there."
    ids = tokenizer(text)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token, tokenizer.unk_token) == (
        "<s>", "</s>", "<pad>", "<unk>")
    for marker in ("<|im_end|>", "<|eot_id|>", "</s>"):  # every template's stop token is one token
        assert len(tokenizer(marker, add_special_tokens=False)["input_ids"]) == 1


def test_tokenizer_rejects_tiny_vocab(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too small"):
        train_tokenizer(["abc"], 100, tmp_path)


# -- chat templates -----------------------------------------------------------------------------------------

def test_unknown_template_names_known_ones_and_closest() -> None:
    with pytest.raises(ValueError) as err:
        get_template("chat-ml")
    message = str(err.value)
    assert "Did you mean 'chatml'?" in message
    for name in ("alpaca", "vicuna_v1.1", "chatml", "llama-3"):
        assert name in message


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_training_and_generation_prompts_are_identical(name: str) -> None:
    template = get_template(name)
    for row in _rows(6):
        user = prompt_text(row)
        record = to_prompt_completion([row], template)[0]  # what sft_train feeds trl
        assert record["prompt"] == template.render_prompt(user)  # what generate renders
        assert record["completion"].endswith(template.stop)
        assert record["prompt"] + record["completion"] == template.render_conversation(
            [{"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}])


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_jinja_matches_python_rendering(name: str, tokenizer) -> None:
    template = get_template(name)
    tokenizer.chat_template = template.jinja
    for system in (None, 'Be brief.\n"Quoted" — ünïcode'):
        head = [{"role": "system", "content": system}] if system else []
        single = [*head, {"role": "user", "content": "Where does the fox live?\n\nBe exact."}]
        assert tokenizer.apply_chat_template(single, add_generation_prompt=True, tokenize=False) == \
            template.render_prompt(single[-1]["content"], system)
        multi = [*single, {"role": "assistant", "content": "By the river."},
                 {"role": "user", "content": "And the owl?"}, {"role": "assistant", "content": "On the hill."}]
        assert tokenizer.apply_chat_template(multi, tokenize=False) == template.render_conversation(multi)
        out = tokenizer.apply_chat_template(multi, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        masked = [i for i, keep in zip(out["input_ids"], out["assistant_masks"]) if keep]
        assert tokenizer.decode(masked) == (template.response_prefix + "By the river." + template.stop
                                            + template.response_prefix + "On the hill." + template.stop)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_prompt_tokens_are_a_prefix_of_the_example(name: str, tokenizer) -> None:
    template = get_template(name)
    for row in _rows(6):
        prompt, completion = template.render_example(prompt_text(row), row["output"])
        prompt_ids, full_ids = tokenizer(prompt)["input_ids"], tokenizer(prompt + completion)["input_ids"]
        assert full_ids[:len(prompt_ids)] == prompt_ids


# -- pretraining ----------------------------------------------------------------------------------------------

def test_pretraining_lowers_loss_and_saves_a_loadable_model(base: tuple[Path, dict], tokenizer) -> None:
    from transformers import AutoModelForCausalLM

    out, stats = base
    assert stats["final_loss"] < stats["initial_loss"] - 0.5
    assert stats["steps"] == 40 and stats["tokens"] == 40 * 8 * 64 and stats["params"] > 0
    assert (out / "model.safetensors").is_file()
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.num_hidden_layers == TINY.layers


def test_pretraining_is_deterministic(base: tuple[Path, dict], tok_dir: Path, tmp_path: Path) -> None:
    again = pretrain_base(_corpus(), tok_dir, TINY, tmp_path, steps=40, batch_size=8, seq_len=64, lr=5e-3, seed=0,
                          threads=1, progress=False)
    assert again["final_loss"] == base[1]["final_loss"]
    _assert_same_weights(base[0], tmp_path)


# -- SFT ------------------------------------------------------------------------------------------------------

def test_sft_trains_and_stores_its_template(sft: tuple[Path, dict]) -> None:
    from transformers import AutoTokenizer

    out, stats = sft
    assert stats["steps"] == 8  # 30 rows / batch 8 -> 4 steps per epoch, 2 epochs
    assert stats["examples"] == 30 and stats["template"] == "chatml"
    assert 0 < stats["train_loss"] < 20 and stats["completion_tokens"] < stats["tokens"]
    assert (out / "model.safetensors").is_file()
    assert not any(p.name.startswith(".trainer-") for p in out.iterdir())  # scratch removed
    assert load_checkpoint_template(out).name == "chatml"
    assert (out / TEMPLATE_FILE).is_file()
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.chat_template == "{{ bos_token }}" + get_template("chatml").jinja  # this tokenizer adds a BOS
    assert tok.eos_token == "<|im_end|>"
    chat = [{"role": "user", "content": "Where does the fox live?"}]
    rendered = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True, return_dict=True)
    trained = tok(get_template("chatml").render_prompt(chat[0]["content"]))  # how training/generation encode
    assert rendered["input_ids"] == trained["input_ids"] and rendered["input_ids"][0] == tok.bos_token_id


def test_sft_loss_is_on_completion_tokens_only(base: tuple[Path, dict], tmp_path: Path) -> None:
    template, rows = get_template("alpaca"), _rows(6)
    recipe = RECIPE.model_copy(update={"max_length": 256})  # alpaca's long preamble: nothing truncated
    trainer = build_sft_trainer(base[0], rows, recipe, template, tmp_path)
    tok, data = trainer.processing_class, trainer.train_dataset
    assert len(data) == len(rows)
    for row, example in zip(rows, data):
        prompt, completion = template.render_example(prompt_text(row), row["output"])
        n_prompt = len(tok(prompt)["input_ids"])
        ids, labels = example["input_ids"], example["labels"]
        assert labels[:n_prompt] == [-100] * n_prompt
        assert labels[n_prompt:] == ids[n_prompt:]
        assert tok.decode(labels[n_prompt:]) == completion  # response + stop token, nothing else
        assert labels[-1] == tok.convert_tokens_to_ids(template.stop)
    batch = trainer.data_collator([data[0], data[1]])  # padding is masked out too
    assert ((batch["attention_mask"] == 0) <= (batch["labels"] == -100)).all()


def test_sft_loss_matches_trls_fused_loss(base: tuple[Path, dict], tmp_path: Path) -> None:
    rows = _rows(8)
    losses = []
    for fused in (False, True):
        trainer = build_sft_trainer(base[0], rows, RECIPE.model_copy(update={"fused_loss": fused}),
                                    get_template("chatml"), tmp_path)
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
        n_items = (batch["labels"][:, 1:] != -100).sum()
        losses.append(trainer.compute_loss(trainer.model, dict(batch), num_items_in_batch=n_items).item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_sft_is_deterministic(base: tuple[Path, dict], sft: tuple[Path, dict], tmp_path: Path) -> None:
    again = sft_train(base[0], _rows(30), RECIPE, "chatml", tmp_path, threads=1, progress=False)
    assert again["train_loss"] == sft[1]["train_loss"]
    _assert_same_weights(sft[0], tmp_path)


# -- generation -----------------------------------------------------------------------------------------------

def test_generation_keeps_input_order_and_is_deterministic(sft: tuple[Path, dict]) -> None:
    # distinct prompt lengths: the length-sorted batches are the same for any input order
    prompts = [prompt_text(r) + " Please." * i for i, r in enumerate(_rows(7))]
    outs = generate(sft[0], prompts, max_new_tokens=12, batch_size=3, threads=1, progress=False)
    assert len(outs) == len(prompts) and all(isinstance(o, str) for o in outs)
    assert generate(sft[0], prompts, max_new_tokens=12, batch_size=3, threads=1, progress=False) == outs
    reversed_outs = generate(sft[0], prompts[::-1], max_new_tokens=12, batch_size=3, threads=1, progress=False)
    assert reversed_outs[::-1] == outs
    assert not any("<|im_end|>" in o or "<|im_start|>" in o for o in outs)


def test_generation_needs_a_stored_template(base: tuple[Path, dict]) -> None:
    with pytest.raises(FileNotFoundError, match=TEMPLATE_FILE):
        generate(base[0], ["hi"], max_new_tokens=2, batch_size=1, threads=1, progress=False)


# -- helpers --------------------------------------------------------------------------------------------------

def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


@pytest.mark.parametrize("adds_bos", [True, False])
def test_checkpoint_jinja_leads_with_bos_only_when_the_tokenizer_adds_one(tokenizer, adds_bos: bool) -> None:
    from tokenizers.processors import TemplateProcessing

    tok = tokenizer
    if not adds_bos:  # e.g. SmolLM2 and Qwen tokenizers: no BOS in front of plain text
        tok = copy.deepcopy(tokenizer)
        tok.backend_tokenizer.post_processor = TemplateProcessing(single="$A", pair="$A $B")
    template = get_template("vicuna_v1.1")
    jinja = template.checkpoint_jinja(tok)
    assert jinja == ("{{ bos_token }}" if adds_bos else "") + template.jinja
    tok.chat_template = jinja
    chat = [{"role": "user", "content": "Where does the owl live?"}]
    rendered = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True, return_dict=True)
    assert rendered["input_ids"] == tok(template.render_prompt(chat[0]["content"]))["input_ids"]
