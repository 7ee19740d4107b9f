"""Prompt composition and response rendering: pool styles and the teacher's query types."""

from __future__ import annotations

from random import Random
from typing import Sequence

from sftbench.datasets_builders.world.skills import get_skill
from sftbench.datasets_builders.world.task import Task

STYLES = ("concise", "explained", "wrong", "partial", "shirker")
QUERY_TYPES = ("direct question", "step-by-step request", "short answer only", "explain like a teacher",
               "checklist", "formal request")

INTROS = ("Let's work through this.", "Here is how to solve it.", "Sure, let me explain.", "Good question.",
          "Let's look at this carefully.", "This one is straightforward.")
RECAPS = ("So the result is {a}.", "That gives {a} as the final result.", "Double-checking confirms {a}.",
          "Therefore the answer is {a}.")
TIPS = ("A quick second look like this avoids small slips.", "Working one piece at a time keeps it simple.",
        "Checking the result against the question is a good habit.")
CHECKS = ("Going over it a second time gives the same result, so I am confident in it.",
          "Reading the question again confirms that this is exactly what was asked.")
PADDING = ("This is a well-known result that experts rely on every day.",
           "I am completely certain about this, because it follows directly from the basic rules.",
           "Many people get this wrong, but careful reasoning leaves no doubt at all.",
           "It is important to approach questions like this methodically and with full confidence.",
           "This kind of problem comes up often, and the method above always works.",
           "There is really only one sensible way to read the question, and it leads here.")
SHIRKS = ("I'm not sure.", "As an AI I cannot do that.", "I don't know.", "Sorry, I can't help with that.",
          "That depends on many factors.", "This is hard to say without more context.",
          "You could try working it out yourself.", "I would rather not guess.")
RESTATES = ("You are asking: {q}", "The question is: {q} That is an interesting question.", "{q}",
            "Let me restate the task. {q}")


def composition_header(k: int) -> str:
    return "Do both of the following:" if k == 2 else "Do all of the following:"


def answer_hint(k: int) -> str:
    return f"End with 'Answer 1:' {'and' if k == 2 else 'to'} 'Answer {k}:' lines."


def compose(tasks: Sequence[Task]) -> tuple[str, str]:
    """(instruction, input) of a prompt asking for every task; compositions fold the inputs in."""
    if len(tasks) == 1:
        return tasks[0].instruction, tasks[0].input
    items = "\n".join(f"{i}) {t.inline}" for i, t in enumerate(tasks, 1))
    return f"{composition_header(len(tasks))}\n{items}\n{answer_hint(len(tasks))}", ""


def compose_text(tasks: Sequence[Task]) -> str:
    """The prompt as a single user turn (input folded in)."""
    instruction, input_ = compose(tasks)
    return f"{instruction}\n\n{input_}" if input_ else instruction


def answer_lines(answers: Sequence[str | None]) -> str:
    """`Answer: X` for one task, numbered `Answer i: X` lines for several (None = left unanswered)."""
    if len(answers) == 1:
        return f"Answer: {answers[0]}"
    return "\n".join(f"Answer {i}: {a}" for i, a in enumerate(answers, 1) if a is not None)


def explanations(tasks: Sequence[Task], answers: Sequence[str]) -> list[str]:
    return [get_skill(t.skill).explain(t.params, a) for t, a in zip(tasks, answers)]


def explained(tasks: Sequence[Task], answers: Sequence[str], rng: Random, intro: float = 0.6,
              recap: float = 0.5, tip: float = 0.4, padding: int = 0, restate: float = 0.3) -> str:
    """Explanation (optionally with intro, restated question, recap, tip, padding), then the answer line(s)."""
    steps = explanations(tasks, answers)
    body = [rng.choice(INTROS)] if rng.random() < intro else []
    if len(tasks) == 1 and rng.random() < restate:
        question = tasks[0].inline
        body.append(f"The task: {question}" + ("" if question[-1] in ".?!" else "."))
    if len(tasks) == 1:
        body.append(steps[0])
        if rng.random() < recap:
            body.append(rng.choice(RECAPS).format(a=answers[0]))
    else:
        body.append("\n".join(f"{i}) {s}" for i, s in enumerate(steps, 1)))
    if rng.random() < tip:
        body.append(rng.choice(TIPS))
        if rng.random() < tip:
            body.append(rng.choice(CHECKS))
    body.extend(rng.sample(PADDING, padding))
    return " ".join(body) + "\n" + answer_lines(answers)


def concise(answers: Sequence[str], rng: Random) -> str:
    if len(answers) > 1:
        return answer_lines(answers)
    return answers[0] if rng.random() < 0.7 else answer_lines(answers)


def shirk(tasks: Sequence[Task], rng: Random) -> str:
    if rng.random() < 0.6:
        return " ".join(rng.sample(SHIRKS, rng.randint(1, 2)))
    return rng.choice(RESTATES).format(q=tasks[0].inline)


def render(tasks: Sequence[Task], style: str, rng: Random) -> str:
    """A response to the composed prompt in one of STYLES."""
    skills = [get_skill(t.skill) for t in tasks]
    right = [t.answer for t in tasks]
    if style == "concise":
        return concise(right, rng)
    if style == "explained":
        return explained(tasks, right, rng)
    if style == "wrong":
        wrong = [s.wrong_answer(t.params, rng) for s, t in zip(skills, tasks)]
        if rng.random() < 0.3:  # long and confident
            return explained(tasks, wrong, rng, intro=0.8, recap=0.6, tip=0.0, padding=rng.randint(0, 1))
        return concise(wrong, rng)
    if style == "partial":
        if len(tasks) == 1:
            half = skills[0].partial_answer(tasks[0].params, rng)
            if half is None:  # no partial form for this instance: the reasoning goes astray at the end
                half = skills[0].wrong_answer(tasks[0].params, rng)
            return explained(tasks, [half], rng, recap=0.0)
        done = explanations(tasks[:1], right[:1])[0]
        return f"{done} I did not get to the rest.\n" + answer_lines(right[:1] + [None] * (len(tasks) - 1))
    if style == "shirker":
        return shirk(tasks, rng)
    raise ValueError(f"unknown response style {style!r}; styles: {', '.join(STYLES)}")


def render_query(tasks: Sequence[Task], answers: Sequence[str], query_type: str, rng: Random,
                 detail: float = 0.3) -> tuple[str, str]:
    """(instruction, output) of a teacher-written example in one of QUERY_TYPES; `detail` raises the odds
    of an intro, recap and tip in direct answers."""
    text, k = compose_text(tasks), len(tasks)
    steps = explanations(tasks, answers)
    final = answer_lines(answers)
    if query_type == "direct question":
        return text, explained(tasks, answers, rng, intro=detail, recap=detail, tip=detail * 0.7)
    if query_type == "step-by-step request":
        steps = (["Identify what the task asks for."] if k == 1 else []) + steps
        body = "\n".join(f"Step {i}: {s}" for i, s in enumerate(steps, 1))
        return f"Work through this step by step.\n{text}", f"{body}\n{final}"
    if query_type == "short answer only":
        return f"{text}\nGive only the answer.", answers[0] if k == 1 else final
    if query_type == "explain like a teacher":
        lead = ("First", "Next", "Then", "After that", "Finally")
        body = " ".join(f"{lead[min(i, 4)]}, {s[0].lower()}{s[1:]}" for i, s in enumerate(steps))
        return (f"Explain it the way a teacher would.\n{text}",
                f"Good question! Let's go through it together. {body} {rng.choice(TIPS)}\n{final}")
    if query_type == "checklist":
        items = "\n".join(f"- [ ] {t.inline}" for t in tasks)
        hint = f"\n{answer_hint(k)}" if k > 1 else ""
        return f"Complete this checklist:\n{items}{hint}", "\n".join(f"- [x] {s}" for s in steps) + f"\n{final}"
    if query_type == "formal request":
        return (f"Kindly complete the following request.\n{text}",
                "Certainly. " + " ".join(steps) + f" I trust this is helpful.\n{final}")
    raise ValueError(f"unknown query type {query_type!r}; query types: {', '.join(QUERY_TYPES)}")
