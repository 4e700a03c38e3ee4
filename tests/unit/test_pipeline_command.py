"""Rendering component commands: placeholders, optional blocks, quoting."""

from __future__ import annotations

import pytest

from mlops.pipeline.command import CommandError, python_argv, render

COMMAND = ("python train.py --data ${{inputs.data}} --model ${{outputs.model}} "
           "$[[--alpha ${{inputs.alpha}}]] $[[--flag ${{inputs.flag}}]]")


def test_placeholders_become_values_and_paths():
    line = render(COMMAND, {"data": "/d", "alpha": 0.5, "flag": True}, {"model": "/out/m"})
    assert line == "python train.py --data /d --model /out/m --alpha 0.5 --flag True"


def test_optional_block_is_dropped_when_its_input_has_no_value():
    line = render(COMMAND, {"data": "/d", "alpha": None}, {"model": "/m"})
    assert line == "python train.py --data /d --model /m"


def test_values_are_shell_quoted():
    line = render("echo ${{inputs.name}}", {"name": "a b; rm -rf x"}, {})
    assert line == "echo 'a b; rm -rf x'"


def test_a_required_placeholder_without_value_is_an_error_naming_it():
    with pytest.raises(CommandError, match=r"comp.yml: command: \$\{\{outputs.report\}\}"):
        render("python s.py --out ${{outputs.report}}", {}, {}, where="comp.yml: ")


def test_the_simple_python_form_yields_the_script_and_its_arguments():
    values = {"data": "/d with space", "alpha": 0.5, "flag": None}
    line = render(COMMAND, values, {"model": "/m"})
    assert python_argv(COMMAND, line) == ["train.py", "--data", "/d with space", "--model", "/m",
                                          "--alpha", "0.5"]
    hostile = render(COMMAND, {"data": "$(touch x); `y` *", "alpha": None}, {"model": "/m"})
    assert python_argv(COMMAND, hostile)[2] == "$(touch x); `y` *"  # a value, never shell


@pytest.mark.parametrize("command", [
    "python a.py | tee log", "python a.py && echo done", "python a.py > out.txt",
    "python a.py --n $HOME", "python a.py *.csv", "cd sub; python a.py", "python -u a.py",
    "python3 -m pkg", "bash run.sh", "python a.py ~/x", "OMP_NUM_THREADS=1 python a.py",
])
def test_anything_a_shell_must_interpret_is_not_the_simple_form(command):
    assert python_argv(command, command) is None
