"""The HCL module's inputs are checked against its variable blocks at synth, naming the module
and the variable."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cdktf_app._hcl_module import ModuleInputError, check_inputs, read_variables

MODULE = Path(__file__).resolve().parents[2] / "terraform" / "modules" / "azure_devops"


def _complete_inputs() -> dict[str, object]:
    return {name: "x" for name, var in read_variables(MODULE).items() if var.required}


def test_reads_every_variable_of_the_azure_devops_module():
    variables = read_variables(MODULE)
    assert {"project_name", "service_connection_name", "variable_group_name", "variables",
            "pipelines", "pipeline_identity_client_id"} <= set(variables)
    assert variables["project_name"].required
    assert not variables["pipelines_folder"].required  # has a default
    assert variables["project_name"].description.startswith("Existing Azure DevOps project")


def test_complete_inputs_pass():
    assert check_inputs(MODULE, _complete_inputs())


def test_unknown_input_names_module_and_variable():
    inputs = {**_complete_inputs(), "variable_grop_name": "typo"}
    with pytest.raises(ModuleInputError) as info:
        check_inputs(MODULE, inputs)
    message = str(info.value)
    assert str(MODULE) in message
    assert "unknown input 'variable_grop_name'" in message
    assert "variable_group_name" in message  # the declared names are listed to spot the typo


def test_missing_required_input_names_module_and_variable():
    inputs = _complete_inputs()
    del inputs["service_connection_name"]
    inputs["tenant_id"] = None  # None counts as missing too
    with pytest.raises(ModuleInputError) as info:
        check_inputs(MODULE, inputs)
    message = str(info.value)
    assert str(MODULE) in message
    assert "missing required input 'service_connection_name'" in message
    assert "missing required input 'tenant_id'" in message


def test_optional_inputs_may_be_omitted_and_null_default_is_optional(tmp_path):
    (tmp_path / "variables.tf").write_text(
        'variable "a" {\n  type = string\n}\n'
        'variable "b" {\n  type    = string\n  default = null\n}\n')
    assert check_inputs(tmp_path, {"a": "1"})
    with pytest.raises(ModuleInputError, match="missing required input 'a'"):
        check_inputs(tmp_path, {"b": "2"})


def test_module_without_tf_files_or_with_broken_hcl_fails_naming_it(tmp_path):
    with pytest.raises(ModuleInputError, match="no \\*.tf files"):
        read_variables(tmp_path)
    shutil.copy(MODULE / "variables.tf", tmp_path / "variables.tf")
    (tmp_path / "broken.tf").write_text('variable "x" {\n  type = \n')
    with pytest.raises(ModuleInputError, match="cannot parse broken.tf"):
        read_variables(tmp_path)

