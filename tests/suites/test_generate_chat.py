"""Multi-turn generation, backends and decoding records on a tiny random-init checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from sftbench.suites.models.base_models import random_init
from sftbench.suites.models.chat_templates import (
    TEMPLATES,
    get_template,
    save_checkpoint_template,
)
from sftbench.suites.models.generate import (
    decoding_record,
    generate,
    generate_chat,
    generate_turns,
    resolve_backend,
)
from sftbench.suites.models.tokenizer_train import train_tokenizer

TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
            max_position_embeddings=256)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [f"The {a} lives near the {p}. Where does it sleep?" for a in ("fox", "owl", "lynx")
             for p in ("river", "hill", "mill")] * 10
    tok = train_tokenizer(texts, 300, tmp_path_factory.mktemp("tok"))
    out = random_init("tiny", tok, tmp_path_factory.mktemp("model"), seed=1, **TINY)
    save_checkpoint_template(get_template("chatml"), out)
    return out


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_turns_prompt_is_the_training_text_up_to_the_response(name: str) -> None:
    template = get_template(name)
    history = [{"role": "user", "content": "Where does the fox live?"},
               {"role": "assistant", "content": "By the river."},
               {"role": "user", "content": "And the owl?"}]
    prompt = template.render_conversation(history, add_generation_prompt=True)  # what generate_chat renders
    trained = template.render_conversation([*history, {"role": "assistant", "content": "On the hill."}])
    assert trained.startswith(prompt)
    assert trained[len(prompt):] == template.response_prefix + "On the hill." + template.stop


def test_generate_chat_matches_generate_for_single_turns(model_dir: Path) -> None:
    prompts = ["Where does the fox live?", "Where does the owl sleep near the mill?", "Hi"]
    single = generate(model_dir, prompts, max_new_tokens=6, batch_size=2, threads=1, progress=False)
    chat = generate_chat(model_dir, [[{"role": "user", "content": p}] for p in prompts], max_new_tokens=6,
                         batch_size=2, threads=1, progress=False)
    assert single == chat and len(single) == 3


def test_generate_turns_feeds_the_models_own_answers(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sftbench.suites.models.generate as gen

    seen: list[list[list[dict]]] = []
    real = gen._generate

    def spy(model_dir, conversations, *args):  # noqa: ANN001, ANN202
        seen.append(conversations)
        return real(model_dir, conversations, *args)

    monkeypatch.setattr(gen, "_generate", spy)
    turns = [["Where does the fox live?", "And the owl?"], ["Hi"]]
    answers = generate_turns(model_dir, turns, max_new_tokens=5, batch_size=4, threads=1, progress=False)
    assert [len(a) for a in answers] == [2, 1]
    assert len(seen) == 2 and len(seen[1]) == 1  # the second turn only for the conversation that has one
    assert seen[1][0] == [{"role": "user", "content": "Where does the fox live?"},
                          {"role": "assistant", "content": answers[0][0]},
                          {"role": "user", "content": "And the owl?"}]
    first = generate(model_dir, ["Where does the fox live?", "Hi"], max_new_tokens=5, batch_size=4, threads=1,
                     progress=False)
    assert [answers[0][0], answers[1][0]] == first


def test_a_conversation_must_end_with_a_user_turn(model_dir: Path) -> None:
    with pytest.raises(ValueError, match="conversation 0"):
        generate_chat(model_dir, [[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]],
                      max_new_tokens=2, batch_size=1, threads=1, progress=False)


def test_backends_and_decoding_record(model_dir: Path) -> None:
    import importlib.util

    import torch

    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(RuntimeError, match=r"\[vllm\]"):
            resolve_backend("vllm")
        assert resolve_backend("auto") == "transformers"
    elif not torch.cuda.is_available():
        assert resolve_backend("auto") == "transformers"
    with pytest.raises(ValueError, match="unknown generation backend"):
        resolve_backend("tgi")
    record = decoding_record(model_dir, max_new_tokens=32, batch_size=8, backend="transformers")
    assert record["do_sample"] is False and record["temperature"] == 0.0 and record["template"] == "chatml"
    assert record["max_new_tokens"] == 32 and record["stop"] == "<|im_end|>"
