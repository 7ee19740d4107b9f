"""Named, explicit chat templates: one Python renderer and an equivalent Jinja string per template.

A template is data (the literal pieces around each turn); `ChatTemplate.render_conversation` renders it in
Python and `ChatTemplate.jinja` is generated from the same pieces, with `{% generation %}` markers around the
assistant content, so `tokenizer.apply_chat_template` gives the same text. Training (`render_example`) and
generation (`render_prompt`) both go through `render_conversation`, so the prompt a model is trained on and
the prompt it answers are identical up to the response; multi-turn training uses `render_with_spans`, the same
renderer, which also returns where each assistant turn's completion lies in the text.

The beginning-of-sequence token is never part of a template: the tokenizer adds it (or not) the same way
for training and for generation.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from sftbench.common.suggest import unknown_name_message

Message = Mapping[str, str]
TEMPLATE_FILE = "sftbench_template.json"  # stored in every fine-tuned checkpoint

ALPACA_SYSTEM = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request."
)
VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


@dataclass(frozen=True)
class ChatTemplate:
    """The literal pieces of a chat format; `{content}` marks where a turn's text goes.

    An assistant turn renders as `assistant_start + response_prefix + content + stop`, followed by
    `turn_separator` when more messages follow. The completion a model learns is
    `response_prefix + content + stop`, and generation stops at `stop` (a single special token).
    """

    name: str
    system: str  # format of the system turn, with {content}
    user: str  # format of a user turn, with {content}
    assistant_start: str  # the generation prompt: everything before the response
    stop: str  # end-of-turn token the model learns to emit and generation stops at
    default_system: str | None = None  # used when the conversation has no system message
    response_prefix: str = ""  # part of the completion, before the response (vicuna's space)
    turn_separator: str = ""  # after an assistant turn that is not the last message

    def __post_init__(self) -> None:
        for field in ("system", "user"):
            if getattr(self, field).count("{content}") != 1:
                raise ValueError(f"chat template {self.name!r}: field {field!r} needs exactly one '{{content}}'")

    # -- Python rendering (the single source used for training and generation) --------------------------

    def render_conversation(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
        """Render a conversation (roles: optional leading system, then user/assistant turns)."""
        return self.render_with_spans(messages, add_generation_prompt)[0]

    def render_with_spans(self, messages: Sequence[Message], add_generation_prompt: bool = False
                          ) -> tuple[str, list[tuple[int, int]]]:
        """The rendered text and the [start, end) character span of every assistant turn's completion
        (`response_prefix + content + stop`): what multi-turn training puts the loss on. The text before a
        span is exactly the generation prompt of the conversation up to that turn."""
        messages = list(messages)
        system = self.default_system
        if messages and messages[0]["role"] == "system":
            system, messages = messages[0]["content"], messages[1:]
        text = _fill(self.system, system) if system else ""
        spans: list[tuple[int, int]] = []
        for i, message in enumerate(messages):
            role, content = message["role"], message["content"]
            if role == "user":
                text += _fill(self.user, content)
            elif role == "assistant":
                text += self.assistant_start
                start = len(text)
                text += self.response_prefix + content + self.stop
                spans.append((start, len(text)))
                if i < len(messages) - 1:
                    text += self.turn_separator
            else:
                raise ValueError(f"chat template {self.name!r}: unsupported role {role!r} at message {i} "
                                 "(expected a leading 'system', then 'user'/'assistant')")
        if add_generation_prompt:
            text += self.assistant_start
        return text, spans

    def render_prompt(self, user: str, system: str | None = None) -> str:
        """Everything up to where the response starts, for one user turn."""
        return self.render_conversation(_messages(user, system), add_generation_prompt=True)

    def render_example(self, user: str, response: str, system: str | None = None) -> tuple[str, str]:
        """(prompt, completion) for training; completion = response_prefix + response + stop token."""
        prompt = self.render_prompt(user, system)
        full = self.render_conversation([*_messages(user, system), {"role": "assistant", "content": response}])
        if not full.startswith(prompt):  # guaranteed by construction; guards future template edits
            raise AssertionError(f"chat template {self.name!r}: prompt is not a prefix of the full example")
        return prompt, full[len(prompt):]

    @property
    def special_tokens(self) -> list[str]:
        """Template tokens that should be single tokens in the vocabulary (the stop token and markers)."""
        return [t for t in _SPECIAL_MARKERS if any(t in s for s in (self.system, self.user, self.assistant_start,
                                                                     self.stop))]

    def stop_ids(self, tokenizer: Any) -> list[int]:
        """Token ids that end a response: the stop token, then the tokenizer's eos if different."""
        ids = [tokenizer.convert_tokens_to_ids(self.stop), tokenizer.eos_token_id]
        return [i for i in dict.fromkeys(ids) if i is not None and i != tokenizer.unk_token_id]

    # -- Jinja (equivalent, for tokenizer.apply_chat_template and trl's assistant-only loss) --------------

    @property
    def jinja(self) -> str:
        """A Jinja chat template equivalent to `render_conversation`, with {% generation %} markers."""
        sys_pre, sys_post = self.system.split("{content}")
        user_pre, user_post = self.user.split("{content}")
        lit = json.dumps  # a JSON string literal is a valid Jinja string literal
        default = lit(self.default_system) if self.default_system else "none"
        return (
            "{%- if messages and messages[0]['role'] == 'system' -%}"
            "{%- set system = messages[0]['content'] -%}{%- set loop_messages = messages[1:] -%}"
            f"{{%- else -%}}{{%- set system = {default} -%}}{{%- set loop_messages = messages -%}}"
            "{%- endif -%}"
            f"{{%- if system -%}}{{{{ {lit(sys_pre)} }}}}{{{{ system }}}}{{{{ {lit(sys_post)} }}}}{{%- endif -%}}"
            "{%- for message in loop_messages -%}"
            "{%- if message['role'] == 'user' -%}"
            f"{{{{ {lit(user_pre)} }}}}{{{{ message['content'] }}}}{{{{ {lit(user_post)} }}}}"
            "{%- elif message['role'] == 'assistant' -%}"
            f"{{{{ {lit(self.assistant_start)} }}}}{{% generation %}}{{{{ {lit(self.response_prefix)} }}}}"
            f"{{{{ message['content'] }}}}{{{{ {lit(self.stop)} }}}}{{% endgeneration %}}"
            f"{{%- if not loop.last -%}}{{{{ {lit(self.turn_separator)} }}}}{{%- endif -%}}"
            "{%- else -%}{{ raise_exception('unsupported role: ' + message['role']) }}"
            "{%- endif -%}"
            "{%- endfor -%}"
            f"{{%- if add_generation_prompt -%}}{{{{ {lit(self.assistant_start)} }}}}{{%- endif -%}}"
        )

    def checkpoint_jinja(self, tokenizer: Any) -> str:
        """The Jinja stored with a checkpoint: `jinja` led by `{{ bos_token }}` when the tokenizer puts a BOS in
        front of plain text, as it did in training and generation. Servers and harnesses that render the template
        and tokenize without special tokens (vLLM, TGI, lm-eval, `apply_chat_template`) then see the same tokens."""
        bos = tokenizer.bos_token_id
        ids = tokenizer("x", add_special_tokens=True)["input_ids"]
        return "{{ bos_token }}" + self.jinja if bos is not None and ids and ids[0] == bos else self.jinja

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to reproduce the template, plus its Jinja form (stored with checkpoints)."""
        return {**asdict(self), "jinja": self.jinja}


def _fill(fmt: str, content: str) -> str:
    pre, post = fmt.split("{content}")
    return pre + content + post


def _messages(user: str, system: str | None) -> list[dict[str, str]]:
    head = [{"role": "system", "content": system}] if system is not None else []
    return [*head, {"role": "user", "content": user}]


_SPECIAL_MARKERS = ("<|im_start|>", "<|im_end|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "</s>")

TEMPLATES: dict[str, ChatTemplate] = {
    t.name: t
    for t in (
        ChatTemplate(
            name="alpaca",
            system="{content}\n\n",
            user="### Instruction:\n{content}\n\n",
            assistant_start="### Response:\n",
            stop="</s>",
            default_system=ALPACA_SYSTEM,
            turn_separator="\n\n",
        ),
        ChatTemplate(
            name="vicuna_v1.1",
            system="{content} ",
            user="USER: {content} ",
            assistant_start="ASSISTANT:",
            stop="</s>",
            default_system=VICUNA_SYSTEM,
            response_prefix=" ",
        ),
        ChatTemplate(
            name="chatml",
            system="<|im_start|>system\n{content}<|im_end|>\n",
            user="<|im_start|>user\n{content}<|im_end|>\n",
            assistant_start="<|im_start|>assistant\n",
            stop="<|im_end|>",
            turn_separator="\n",
        ),
        ChatTemplate(
            name="llama-3",
            system="<|start_header_id|>system<|end_header_id|>\n\n{content}<|eot_id|>",
            user="<|start_header_id|>user<|end_header_id|>\n\n{content}<|eot_id|>",
            assistant_start="<|start_header_id|>assistant<|end_header_id|>\n\n",
            stop="<|eot_id|>",
        ),
    )
}

# Every marker any shipped template uses; the built-in tokenizer makes each a single special token.
TEMPLATE_SPECIAL_TOKENS: list[str] = [m for m in _SPECIAL_MARKERS if m != "</s>"]


def get_template(name: str) -> ChatTemplate:
    """The template registered under `name`; an unknown name raises ValueError with the closest match."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ValueError(unknown_name_message("chat template", name, TEMPLATES)) from None


def template_names() -> list[str]:
    return sorted(TEMPLATES)


def save_checkpoint_template(template: ChatTemplate, model_dir: Path) -> Path:
    """Write the template (name, pieces, Jinja) next to a checkpoint."""
    path = Path(model_dir) / TEMPLATE_FILE
    path.write_text(json.dumps(template.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_checkpoint_template(model_dir: Path) -> ChatTemplate:
    """The template a checkpoint was trained with; the stored pieces must match the registered ones."""
    path = Path(model_dir) / TEMPLATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; checkpoints made by sftbench's train stage store their chat "
                                "template there (templates are never guessed from a model's name)")
    stored = json.loads(path.read_text(encoding="utf-8"))
    template = get_template(stored["name"])
    changed = [key for key, value in template.to_dict().items() if stored.get(key) != value]
    if changed:
        raise ValueError(f"{path}: template {template.name!r} differs from the registered one in {changed}; "
                         "the checkpoint was trained with another version of it")
    return template
