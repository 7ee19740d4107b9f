"""Suite validation: every error names the file, the line and the field, and the CLI exits non-zero."""

from pathlib import Path

import pytest

from sftbench.suites.engine.cli import main
from sftbench.suites.engine.schema import load_suite, resolve_suite_path
from sftbench.suites.engine.yaml_source import SuiteError

GOOD = """\
name: demo
datasets:
  - name: a
    builder: random
    params: {k: 10}
  - name: b
    builder: longest
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def error_of(path: Path) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    return info.value


def test_shipped_quickstart_is_valid():
    suite = load_suite(resolve_suite_path(None))
    assert suite.name == "quickstart"
    assert {d.builder for d in suite.datasets} == {"skillmix", "longest", "alpagasus", "lima", "random", "full"}


def test_defaults_and_overrides(tmp_path):
    suite = load_suite(write(tmp_path, GOOD), {"threads": 2, "recipe.epochs": 1})
    assert suite.threads == 2 and suite.recipe["epochs"] == 1 and suite.seeds == [0]


def test_unknown_builder_suggests_the_closest_and_names_line(tmp_path):
    err = error_of(write(tmp_path, GOOD.replace("builder: longest", "builder: longst")))
    assert err.line == 7 and err.field == "datasets[1].builder"
    assert "Did you mean 'longest'" in str(err) and str(err).startswith(f"{tmp_path / 'suite.yaml'}:7:")


def test_bad_builder_param_is_located(tmp_path):
    err = error_of(write(tmp_path, GOOD.replace("{k: 10}", "{k: -3}")))
    assert err.line == 5 and err.field == "datasets[0].params.k" and "greater than 0" in err.message


def test_typo_in_a_field_name(tmp_path):
    err = error_of(write(tmp_path, GOOD + "seedz: [1]\n"))
    assert err.line == 8 and err.field == "seedz" and "unknown field" in err.message


def test_wrong_type_and_missing_field(tmp_path):
    err = error_of(write(tmp_path, GOOD + "threads: many\n"))
    assert err.field == "threads" and err.line == 8
    err = error_of(write(tmp_path, "name: demo\n"))
    assert err.field == "datasets" and "Field required" in err.message


def test_malformed_yaml_names_the_line(tmp_path):
    err = error_of(write(tmp_path, "name: demo\ndatasets:\n  - name: [a\n"))
    assert "malformed YAML" in err.message and err.line is not None


def test_duplicate_dataset_names_and_unknown_reference(tmp_path):
    err = error_of(write(tmp_path, GOOD.replace("name: b", "name: a")))
    assert "unique" in err.message
    err = error_of(write(tmp_path, GOOD + "leaderboard: {reference: rnd}\n"))
    assert "unknown leaderboard.reference dataset 'rnd'" in err.message


def test_unknown_template_and_recipe_field(tmp_path):
    err = error_of(write(tmp_path, GOOD + "template: alpacca\n"))
    assert err.field == "template" and "alpaca" in err.message
    err = error_of(write(tmp_path, GOOD + "recipe: {epochz: 3}\n"))
    assert err.field == "recipe.epochz"


def test_cli_validate_exit_codes(tmp_path, capsys):
    assert main(["validate", str(write(tmp_path, GOOD))]) == 0
    assert main(["validate", str(write(tmp_path, GOOD.replace("random", "randm")))]) == 2
    err = capsys.readouterr().err
    assert "suite.yaml:4: datasets[0].builder" in err and "Did you mean 'random'" in err
    assert main(["validate", "no-such-suite"]) == 2
