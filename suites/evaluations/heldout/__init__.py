"""Held-out epoch selection (`recipe.select: best_heldout`) as a registered evaluation."""

from sftbench.suites.evaluations import register
from sftbench.suites.evaluations.heldout.plugin import Heldout

register(Heldout())
