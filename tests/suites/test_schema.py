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
    assert suite.threads == 2 and suite.recipe.epochs == 1 and suite.seeds == [0]


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


def test_validate_and_plan_import_no_torch(tmp_path):
    """Parse once, lightly: `sftbench validate` and `sftbench plan` never import torch (or transformers, trl)."""
    import subprocess
    import sys
    code = ("import sys\nfrom sftbench.suites.engine.cli import main\n"
            "assert main(['validate', 'quickstart']) == 0\n"
            f"assert main(['plan', 'quickstart', '--runs-dir', {str(tmp_path)!r}]) == 0\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'trl', 'lm_eval'))\n"
            "assert not heavy, heavy[:10]\n")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert got.returncode == 0, got.stderr[-2000:]


@pytest.mark.parametrize("name", ["quickstart", "papers-llama3-8b"])
def test_resolved_suite_holds_the_resolved_recipe_and_plans_the_same_steps(name, tmp_path):
    """Parse once: `suite.resolved.yaml` saves the typed suite (recipe preset expanded, template resolved); loaded
    again it plans byte-identical step keys."""
    import yaml

    from sftbench.suites.engine.plan import make_plan
    suite = load_suite(resolve_suite_path(name))
    resolved = tmp_path / "suite.resolved.yaml"
    resolved.write_text(yaml.safe_dump(suite.model_dump(mode="json"), sort_keys=False))
    data = yaml.safe_load(resolved.read_text())
    assert {"epochs", "lr", "max_length", "seed"} <= set(data["recipe"]) and data["template"]
    again = load_suite(resolved)
    keys = [s.key.dirname for s in make_plan(suite, tmp_path / "a", progress=False).steps]
    assert keys == [s.key.dirname for s in make_plan(again, tmp_path / "b", progress=False).steps]


def test_every_error_at_once_with_did_you_mean_and_set_arguments(tmp_path, capsys):
    text = GOOD.replace("builder: longest", "builder: longst") + "seedz: [1]\nrecipe: {epocs: 2, lr: -1}\n"
    with pytest.raises(SuiteError) as info:
        load_suite(write(tmp_path, text), {"generation.max_new_tokens": 0})
    message = str(info.value)
    assert message.startswith("5 problems:")
    assert "suite.yaml:7: datasets[1].builder" in message and "Did you mean 'longest'" in message
    assert "suite.yaml:8: seedz: unknown field 'seedz'" in message and "did you mean 'seeds'" in message
    assert "recipe.epocs: unknown field 'epocs'" in message and "did you mean 'epochs'" in message
    assert "suite.yaml:9: recipe.lr" in message
    assert "--set generation.max_new_tokens=0: generation.max_new_tokens" in message
    assert main(["validate", str(write(tmp_path, text))]) == 2
    assert capsys.readouterr().err.count("\n") >= 4
