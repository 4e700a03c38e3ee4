"""Rendering component commands: placeholders, optional blocks, quoting."""

from __future__ import annotations

import pytest

from mlops.pipeline.command import CommandError, render

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
