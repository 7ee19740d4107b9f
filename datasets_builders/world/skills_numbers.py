"""Number skills: arithmetic, lists, comparisons, dates and unit conversions (small whole numbers only)."""

from __future__ import annotations

from random import Random

from sftbench.datasets_builders.world.task import Params, Skill, norm_list, norm_number, norm_text, norm_yesno
from sftbench.datasets_builders.world.vocab import MONTHS, NUMBER_WORDS, ORDINALS, WEEKDAYS, WORDS


def _near(n: int, rng: Random) -> str:
    return str(n + rng.choice((-10, -2, -1, 1, 2, 10)))


def _join(items: list) -> str:
    return ", ".join(str(x) for x in items)


def _numbers(rng: Random, lo: int, hi: int) -> Params:
    return {"nums": rng.sample(range(1, 100), rng.randint(lo, hi))}


def _dupes(rng: Random) -> Params:
    nums = [rng.randint(1, 9) for _ in range(rng.randint(5, 7))]
    nums[rng.randrange(1, len(nums))] = nums[0]  # at least one duplicate
    return {"nums": nums}


def _dedupe(nums: list[int]) -> list[int]:
    return list(dict.fromkeys(nums))


def _sort_partial(nums: list[int]) -> list[int]:
    """The smallest half sorted, the rest left in the given order."""
    head = sorted(nums)[:len(nums) // 2]
    return head + [n for n in nums if n not in head]


def _span(rng: Random, unit: str) -> Params:
    k = rng.choice((1, 1, 2, 3, 4))
    return {"k": k, "span": f"{NUMBER_WORDS[k]} {unit}" + ("s" if k > 1 else "")}


def _weekday(rng: Random) -> Params:
    return {"day": rng.choice(WEEKDAYS), **_span(rng, "day")}


def _month(rng: Random) -> Params:
    return {"month": rng.choice(MONTHS), **_span(rng, "month")}


def _shift(names: tuple[str, ...], start: str, k: int) -> str:
    return names[(names.index(start) + k) % len(names)]


def _nth(rng: Random) -> Params:
    items = rng.sample(WORDS, rng.randint(3, 6))
    n = rng.randrange(len(items))
    return {"items": items, "n": n + 1, "ordinal": ORDINALS[n]}


def _pair(rng: Random) -> Params:
    a, b = rng.sample(range(1, 100), 2)
    return {"a": a, "b": b}


def _hours(minutes: int) -> str:
    h = minutes // 60
    return f"{h} hour" + ("s" if h != 1 else "")


NUMBER_SKILLS: tuple[Skill, ...] = (
    Skill("add", "arithmetic",
          (("What is {a} plus {b}?", ""), ("Add these two numbers:", "{a} and {b}"), ("Compute {a} + {b}.", "")),
          lambda r: {"a": r.randint(1, 50), "b": r.randint(1, 50)}, lambda p: str(p["a"] + p["b"]),
          lambda p, a: f"Adding {p['b']} to {p['a']} gives {a}.",
          lambda p, r: _near(p["a"] + p["b"], r), norm=norm_number),
    Skill("subtract", "arithmetic",
          (("What is {a} minus {b}?", ""), ("Subtract {b} from {a}.", ""), ("Compute {a} - {b}.", "")),
          lambda r: (lambda a: {"a": a, "b": r.randint(1, a)})(r.randint(10, 60)), lambda p: str(p["a"] - p["b"]),
          lambda p, a: f"Taking {p['b']} away from {p['a']} leaves {a}.",
          lambda p, r: _near(p["a"] - p["b"], r), norm=norm_number),
    Skill("multiply_small", "arithmetic",
          (("What is {a} times {b}?", ""), ("Multiply {a} by {b}.", ""), ("Compute {a} x {b}.", "")),
          lambda r: {"a": r.randint(2, 12), "b": r.randint(2, 5)}, lambda p: str(p["a"] * p["b"]),
          lambda p, a: f"{p['b']} groups of {p['a']} make {a}.",
          lambda p, r: str(r.choice((p["a"] + p["b"], p["a"] * (p["b"] + 1), p["a"] * p["b"] - 1))),
          norm=norm_number),
    Skill("sort_numbers", "list",
          (("Sort these numbers from smallest to largest:", "{nums}"), ("Put {nums} in ascending order.", ""),
           ("Arrange the following numbers in increasing order:", "{nums}")),
          lambda r: _numbers(r, 4, 6), lambda p: _join(sorted(p["nums"])),
          lambda p, a: f"Comparing the {len(p['nums'])} numbers and writing them from the smallest up gives {a}.",
          lambda p, r: r.choice((_join(sorted(p["nums"], reverse=True)), _join(p["nums"]))), norm=norm_list,
          partial=lambda p, r: _join(_sort_partial(p["nums"]))),
    Skill("max_number", "list",
          (("What is the largest number in this list?", "{nums}"), ("Find the maximum of {nums}.", ""),
           ("Which of these numbers is the biggest?", "{nums}")),
          lambda r: _numbers(r, 3, 6), lambda p: str(max(p["nums"])),
          lambda p, a: f"Checking each number in turn, none is bigger than {a}.",
          lambda p, r: str(r.choice([n for n in p["nums"] if n != max(p["nums"])])), norm=norm_number),
    Skill("min_number", "list",
          (("What is the smallest number in this list?", "{nums}"), ("Find the minimum of {nums}.", ""),
           ("Which of these numbers is the lowest?", "{nums}")),
          lambda r: _numbers(r, 3, 6), lambda p: str(min(p["nums"])),
          lambda p, a: f"Checking each number in turn, none is smaller than {a}.",
          lambda p, r: str(r.choice([n for n in p["nums"] if n != min(p["nums"])])), norm=norm_number),
    Skill("dedupe", "list",
          (("Remove the duplicates from this list, keeping the first occurrence:", "{nums}"),
           ("Write {nums} without repeated numbers, in the original order.", ""),
           ("Drop every repeated number from the following list:", "{nums}")),
          _dupes, lambda p: _join(_dedupe(p["nums"])),
          lambda p, a: f"Keeping each number the first time it appears and skipping repeats gives {a}.",
          lambda p, r: r.choice((_join(sorted(set(p["nums"]))), _join(p["nums"]), _join(_dedupe(p["nums"])[:-1]))),
          norm=norm_list,
          partial=lambda p, r: _join(p["nums"][:1] + [n for n in p["nums"][1:] if n != p["nums"][0]])),
    Skill("nth_item", "list",
          (("What is the {ordinal} item in this list?", "{items}"), ("Give item number {n} of: {items}", ""),
           ("Name the {ordinal} word in the following list:", "{items}")),
          _nth, lambda p: p["items"][p["n"] - 1],
          lambda p, a: f"Counting from the left to position {p['n']} lands on {a}.",
          lambda p, r: r.choice([w for i, w in enumerate(p["items"]) if i != p["n"] - 1])),
    Skill("larger_of_two", "logic",
          (("Which is larger, {a} or {b}?", ""), ("Pick the bigger number:", "{a} or {b}"),
           ("Of {a} and {b}, which number is greater?", "")),
          _pair, lambda p: str(max(p["a"], p["b"])),
          lambda p, a: f"Comparing {p['a']} with {p['b']}, the larger one is {a}.",
          lambda p, r: str(min(p["a"], p["b"])), norm=norm_number, easy=True),
    Skill("is_even", "logic",
          (("Is {n} an even number? Answer yes or no.", ""), ("Answer yes or no: is {n} even?", ""),
           ("Is the following number even? Say yes or no.", "{n}")),
          lambda r: {"n": r.randint(1, 999)}, lambda p: "yes" if p["n"] % 2 == 0 else "no",
          lambda p, a: f"{p['n']} ends in {p['n'] % 10}, which makes it {'even' if a == 'yes' else 'odd'}, "
                       f"so the answer is {a}.",
          lambda p, r: "no" if p["n"] % 2 == 0 else "yes", norm=norm_yesno, easy=True),
    Skill("greater_than", "logic",
          (("Is {a} greater than {b}? Answer yes or no.", ""), ("Answer yes or no: is {a} bigger than {b}?", ""),
           ("Yes or no: is {a} more than {b}?", "")),
          _pair, lambda p: "yes" if p["a"] > p["b"] else "no",
          lambda p, a: f"{p['a']} is {'more' if a == 'yes' else 'less'} than {p['b']}, so the answer is {a}.",
          lambda p, r: "no" if p["a"] > p["b"] else "yes", norm=norm_yesno, easy=True),
    Skill("next_weekday", "dates",
          (("What day of the week comes {span} after {day}?", ""), ("Which weekday is {span} after {day}?", ""),
           ("If today is {day}, what day will it be in {span}?", "")),
          _weekday, lambda p: _shift(WEEKDAYS, p["day"], p["k"]),
          lambda p, a: f"Counting {p['span']} forward from {p['day']} reaches {a}.",
          lambda p, r: _shift(WEEKDAYS, p["day"], p["k"] + r.choice((-1, 1, 2))), norm=norm_text, easy=True),
    Skill("next_month", "dates",
          (("What month comes {span} after {month}?", ""), ("Which month is {span} after {month}?", ""),
           ("If it is {month} now, what month will it be in {span}?", "")),
          _month, lambda p: _shift(MONTHS, p["month"], p["k"]),
          lambda p, a: f"Counting {p['span']} forward from {p['month']} reaches {a}.",
          lambda p, r: _shift(MONTHS, p["month"], p["k"] + r.choice((-1, 1, 2))), norm=norm_text, easy=True),
    Skill("cm_to_m", "units",
          (("Convert {cm} centimeters to meters.", ""), ("How many meters is {cm} cm?", ""),
           ("Express this length in meters:", "{cm} cm")),
          lambda r: {"cm": 100 * r.randint(1, 20)}, lambda p: f"{p['cm'] // 100} m",
          lambda p, a: f"There are 100 centimeters in a meter, and {p['cm']} divided by 100 is {a}.",
          lambda p, r: r.choice((f"{p['cm'] // 10} m", f"{p['cm'] * 100} m", f"{p['cm'] // 100 + 1} m")),
          norm=norm_number),
    Skill("minutes_to_hours", "units",
          (("How many hours are in {minutes} minutes?", ""), ("Convert {minutes} minutes to hours.", ""),
           ("Express this duration in hours:", "{minutes} minutes")),
          lambda r: {"minutes": 60 * r.randint(1, 20)}, lambda p: _hours(p["minutes"]),
          lambda p, a: f"An hour has 60 minutes, and {p['minutes']} divided by 60 is {a}.",
          lambda p, r: r.choice((_hours(p["minutes"] + 60), f"{p['minutes'] // 100} hours",
                                 f"{p['minutes'] // 10} hours")),
          norm=norm_number),
    Skill("kg_to_g", "units",
          (("Convert {kg} kilograms to grams.", ""), ("How many grams is {kg} kg?", ""),
           ("Express this weight in grams:", "{kg} kg")),
          lambda r: {"kg": r.randint(1, 20)}, lambda p: f"{p['kg'] * 1000} grams",
          lambda p, a: f"One kilogram is 1000 grams, so {p['kg']} kg is {a}.",
          lambda p, r: r.choice((f"{p['kg'] * 100} grams", f"{p['kg'] * 10000} grams",
                                 f"{p['kg'] * 1000 + 1000} grams")),
          norm=norm_number),
)
