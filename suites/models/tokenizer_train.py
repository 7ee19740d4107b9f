"""Byte-level BPE tokenizer trained on raw text and saved as a transformers fast tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from sftbench.suites.models.chat_templates import TEMPLATE_SPECIAL_TOKENS

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    out_dir: Path,
    extra_special_tokens: Sequence[str] = TEMPLATE_SPECIAL_TOKENS,
    min_frequency: int = 2,
) -> Path:
    """Train a byte-level BPE on `texts` and save it to `out_dir` for `AutoTokenizer.from_pretrained`.

    Special tokens: bos `<s>` (added in front of every encoded text), eos `</s>`, pad `<pad>`, unk `<unk>`,
    plus `extra_special_tokens` (by default every chat-template marker, so each is one token).
    Deterministic for the same texts (in the same order) and settings.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    special = [UNK, BOS, EOS, PAD, *[t for t in extra_special_tokens if t not in (UNK, BOS, EOS, PAD)]]
    if vocab_size < 256 + len(special):
        raise ValueError(f"vocab_size={vocab_size} is too small: byte-level BPE needs at least "
                         f"{256 + len(special)} (256 bytes + {len(special)} special tokens)")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        extra_special_tokens=special[4:],
        model_max_length=1 << 30,
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    hf_tok.save_pretrained(out_dir)
    return out_dir
