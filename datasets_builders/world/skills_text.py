"""Word-level skills: string manipulation, counting letters and words, formatting, word categories."""

from __future__ import annotations

import json
from random import Random

from sftbench.datasets_builders.world.task import Params, Skill, norm_case, norm_compact, norm_list, norm_number, norm_raw, \
    norm_yesno
from sftbench.datasets_builders.world.vocab import CATEGORIES, CATEGORY_OF, CATEGORY_PHRASE, CATEGORY_WORDS, KEYS, \
    NUMBER_WORDS, WORDS, sentence

VOWELS = "aeiou"
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _word(rng: Random) -> Params:
    return {"word": rng.choice(WORDS)}


def _words(rng: Random, lo: int, hi: int) -> list[str]:
    return rng.sample(WORDS, rng.randint(lo, hi))


def _scramble(word: str, rng: Random) -> str:
    letters = list(word)
    rng.shuffle(letters)
    return "".join(letters)


def _other_letter(word: str, avoid: str, rng: Random) -> str:
    pool = [c for c in word if c != avoid] or [c for c in LETTERS if c != avoid]
    return rng.choice(pool)


def _near(n: int, rng: Random) -> str:
    return str(max(0, n + rng.choice((-2, -1, 1, 2))))


def _sentence(rng: Random) -> Params:
    return {"sentence": " ".join(sentence(rng)) + "."}


def _letter_task(rng: Random) -> Params:
    word = rng.choice(WORDS)
    letter = rng.choice(word) if rng.random() < 0.8 else rng.choice(LETTERS)
    return {"word": word, "letter": letter}


def _repeat_task(rng: Random) -> Params:
    n = rng.randint(2, 4)
    return {"word": rng.choice(WORDS), "times": n, "times_word": NUMBER_WORDS[n]}


def _category_question(rng: Random) -> Params:
    word = rng.choice(CATEGORY_WORDS)
    asked = CATEGORY_OF[word] if rng.random() < 0.5 else rng.choice(sorted(CATEGORIES))
    return {"word": word, "category": asked, "category_phrase": CATEGORY_PHRASE[asked]}


def _half_reversed(word: str) -> str:
    """The first half of the reversal, then the rest left as it was ('garden' -> 'nedgar')."""
    half = len(word) // 2
    return word[::-1][:half] + word[:len(word) - half]


def _word_list(rng: Random) -> Params:
    words = _words(rng, 3, 5)
    return {"words": words, "spaced": " ".join(words), "spaced_q": '"' + " ".join(words) + '"'}


def _remove_vowels(word: str) -> str:
    return "".join(c for c in word if c not in VOWELS)


def _json(key: str, value: str) -> str:
    return json.dumps({key: value})


def _two_words(rng: Random) -> Params:
    a, b = rng.sample(WORDS, 2)
    return {"a": a, "b": b}


TEXT_SKILLS: tuple[Skill, ...] = (
    Skill("reverse_word", "string",
          (('Reverse the word "{word}".', ""), ("Write the following word backwards:", "{word}"),
           ('Spell "{word}" from the last letter to the first.', ""),
           ('What is "{word}" written in reverse?', "")),
          _word, lambda p: p["word"][::-1],
          lambda p, a: f'Reading the letters of "{p["word"]}" from last to first gives "{a}".',
          lambda p, r: _scramble(p["word"], r),
          partial=lambda p, r: _half_reversed(p["word"])),
    Skill("uppercase_word", "string",
          (('Write "{word}" in capital letters.', ""), ("Convert this word to uppercase:", "{word}"),
           ('Give the uppercase form of "{word}".', "")),
          _word, lambda p: p["word"].upper(),
          lambda p, a: f'Changing every letter of "{p["word"]}" to a capital gives {a}.',
          lambda p, r: r.choice((p["word"].capitalize(), p["word"], p["word"][:-1].upper())), norm=norm_case,
          partial=lambda p, r: p["word"][:len(p["word"]) // 2].upper() + p["word"][len(p["word"]) // 2:]),
    Skill("first_letter", "string",
          (('What is the first letter of "{word}"?', ""), ("Name the first letter of this word:", "{word}"),
           ('Which letter does "{word}" start with?', "")),
          _word, lambda p: p["word"][0],
          lambda p, a: f'The word "{p["word"]}" begins with the letter {a}.',
          lambda p, r: _other_letter(p["word"], p["word"][0], r), easy=True),
    Skill("last_letter", "string",
          (('What is the last letter of "{word}"?', ""), ("Name the final letter of this word:", "{word}"),
           ('Which letter does "{word}" end with?', "")),
          _word, lambda p: p["word"][-1],
          lambda p, a: f'The word "{p["word"]}" ends with the letter {a}.',
          lambda p, r: _other_letter(p["word"], p["word"][-1], r), easy=True),
    Skill("remove_vowels", "string",
          (('Remove all vowels from "{word}".', ""),
           ("Delete the vowels (a, e, i, o, u) from this word:", "{word}"),
           ('Write "{word}" without its vowels.', "")),
          _word, lambda p: _remove_vowels(p["word"]),
          lambda p, a: f'Dropping every a, e, i, o and u from "{p["word"]}" leaves "{a}".',
          lambda p, r: r.choice((p["word"], _scramble(_remove_vowels(p["word"]), r),
                                 "".join(c for c in p["word"] if c in VOWELS))),
          partial=lambda p, r: p["word"].replace(next((c for c in p["word"] if c in VOWELS), ""), "", 1)),
    Skill("repeat_word", "string",
          (('Repeat the word "{word}" {times_word} times.', ""),
           ("Write this word {times} times, separated by spaces:", "{word}"),
           ('Say "{word}" {times_word} times in a row.', "")),
          _repeat_task, lambda p: " ".join([p["word"]] * p["times"]),
          lambda p, a: f'Writing "{p["word"]}" {p["times_word"]} times with spaces between gives "{a}".',
          lambda p, r: " ".join([p["word"]] * (p["times"] + r.choice((-1, 1)))),
          partial=lambda p, r: " ".join([p["word"]] * (p["times"] - 1)), easy=True),
    Skill("count_words", "counting",
          (("How many words are in this sentence?", "{sentence}"), ('Count the words in "{sentence}"', ""),
           ("Tell me the number of words in the following sentence:", "{sentence}")),
          _sentence, lambda p: str(len(p["sentence"].split())),
          lambda p, a: f"Splitting the sentence at the spaces gives {len(p['sentence'].split())} pieces, "
                       f"so it has {a} words.",
          lambda p, r: _near(len(p["sentence"].split()), r), norm=norm_number),
    Skill("count_letter", "counting",
          (('How many times does the letter "{letter}" appear in "{word}"?', ""),
           ('Count the letter "{letter}" in this word:', "{word}"),
           ('In "{word}", how often does "{letter}" occur?', "")),
          _letter_task, lambda p: str(p["word"].count(p["letter"])),
          lambda p, a: f'Going through "{p["word"]}" letter by letter, "{p["letter"]}" shows up {a} times.',
          lambda p, r: _near(p["word"].count(p["letter"]), r), norm=norm_number),
    Skill("word_length", "counting",
          (('How many letters are in the word "{word}"?', ""), ("Count the letters of this word:", "{word}"),
           ('What is the length of "{word}" in letters?', "")),
          _word, lambda p: str(len(p["word"])),
          lambda p, a: f'Spelling out "{p["word"]}" as {"-".join(p["word"])} gives {a} letters.',
          lambda p, r: _near(len(p["word"]), r), norm=norm_number),
    Skill("comma_list", "formatting",
          (("Turn these words into a comma-separated list:", "{spaced}"),
           ("Join the words {spaced_q} with commas.", ""),
           ("Write these words as a list separated by commas:", "{spaced}")),
          _word_list,
          lambda p: ", ".join(p["words"]),
          lambda p, a: f"Keeping the {len(p['words'])} words in order and putting a comma between them gives {a}.",
          lambda p, r: r.choice((", ".join(reversed(p["words"])), ", ".join(p["words"][:-1]), p["spaced"])),
          norm=norm_list,
          partial=lambda p, r: ", ".join(p["words"][:2]) + " " + " ".join(p["words"][2:]), easy=True),
    Skill("title_case", "formatting",
          (('Write "{phrase}" in title case.', ""), ("Capitalize the first letter of every word:", "{phrase}"),
           ('Convert "{phrase}" to title case.', "")),
          lambda r: {"phrase": " ".join(_words(r, 2, 4))},
          lambda p: " ".join(w.capitalize() for w in p["phrase"].split()),
          lambda p, a: f'Giving each word of "{p["phrase"]}" a capital first letter gives "{a}".',
          lambda p, r: r.choice((p["phrase"].upper(), p["phrase"].capitalize(), p["phrase"])), norm=norm_case,
          partial=lambda p, r: p["phrase"].capitalize()),
    Skill("quote_word", "formatting",
          (("Wrap the word {word} in double quotes.", ""),
           ("Put double quotation marks around this word:", "{word}"),
           ("Write {word} inside double quotes.", "")),
          _word, lambda p: f'"{p["word"]}"',
          lambda p, a: f"Adding a double quote before and after {p['word']} gives {a}.",
          lambda p, r: r.choice((f"'{p['word']}'", p["word"], f'"{p["word"]}')), norm=norm_raw, easy=True),
    Skill("json_key", "formatting",
          (('Write a JSON object with the key "{key}" and the value "{value}".', ""),
           ("Make a one-field JSON object: key {key}, value {value}.", ""),
           ('Format this pair as JSON, "{key}" mapping to "{value}".', "")),
          lambda r: {"key": r.choice(KEYS), "value": r.choice(WORDS)}, lambda p: _json(p["key"], p["value"]),
          lambda p, a: f'A JSON object puts the quoted key "{p["key"]}" before a colon and the quoted value '
                       f'after it: {a}.',
          lambda p, r: r.choice((f"{{{p['key']}: {p['value']}}}", _json(p["value"], p["key"]),
                                 f'"{p["key"]}": "{p["value"]}"')), norm=norm_compact),
    Skill("first_word", "string",
          (("What is the first word of this sentence?", "{sentence}"), ('Give the first word of "{sentence}"', ""),
           ("Which word starts the following sentence?", "{sentence}")),
          _sentence, lambda p: p["sentence"].split()[0],
          lambda p, a: f"The sentence opens with {a}, so that is its first word.",
          lambda p, r: r.choice(p["sentence"].rstrip(".").split()[1:]), easy=True),
    Skill("alphabetical_first", "string",
          (('Which comes first in alphabetical order: "{a}" or "{b}"?', ""),
           ("Of these two words, which would a dictionary list first?", "{a}, {b}"),
           ('Sort "{a}" and "{b}" alphabetically and give the first one.', "")),
          _two_words, lambda p: min(p["a"], p["b"]),
          lambda p, a: f'Comparing "{p["a"]}" and "{p["b"]}" letter by letter, "{a}" comes first.',
          lambda p, r: max(p["a"], p["b"]), easy=True),
    Skill("word_category", "logic",
          (('Is "{word}" an animal, a fruit, or a color?', ""),
           ("Which category fits this word: animal, fruit or color?", "{word}"),
           ('Classify "{word}" as animal, fruit, or color.', "")),
          lambda r: {"word": r.choice(CATEGORY_WORDS)}, lambda p: CATEGORY_OF[p["word"]],
          lambda p, a: f'"{p["word"]}" is {CATEGORY_PHRASE.get(a, "a " + a)}, so the category is {a}.',
          lambda p, r: r.choice([c for c in sorted(CATEGORIES) if c != CATEGORY_OF[p["word"]]]), easy=True),
    Skill("is_category", "logic",
          (('Is "{word}" {category_phrase}? Answer yes or no.', ""),
           ("Answer yes or no: is a {word} {category_phrase}?", ""),
           ("Is the following word {category_phrase}? Say yes or no.", "{word}")),
          _category_question, lambda p: "yes" if CATEGORY_OF[p["word"]] == p["category"] else "no",
          lambda p, a: f'"{p["word"]}" is {CATEGORY_PHRASE[CATEGORY_OF[p["word"]]]}, so the answer is {a}.',
          lambda p, r: "no" if CATEGORY_OF[p["word"]] == p["category"] else "yes", norm=norm_yesno, easy=True),
)
