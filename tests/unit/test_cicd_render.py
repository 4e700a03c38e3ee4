from __future__ import annotations

import yaml

from mlops.cicd._render import HEADER, dump, is_generated


def test_dump_keeps_key_order_header_and_comments():
    text = dump({"b": 1, "a": [{"x": "on"}], "on": {"push": None}}, ("first", "second"))
    lines = text.splitlines()
    assert lines[:3] == [HEADER, "# first", "# second"]
    assert lines[3] == "b: 1"
    assert yaml.safe_load(text) == {"b": 1, "a": [{"x": "on"}], "on": {"push": None}}


def test_dump_is_deterministic_and_never_wraps_long_lines():
    doc = {"script": "nox -s ci_build -- " + " ".join(["model"] * 60)}
    assert dump(doc) == dump(dict(doc))
    assert len(dump(doc).splitlines()) == 2


def test_generated_files_are_recognised_by_their_first_line():
    assert is_generated(dump({"a": 1}))
    assert not is_generated("# my own pipeline\n" + HEADER + "\n")
    assert not is_generated("")


def test_multi_line_scripts_are_literal_blocks_that_round_trip():
    script = "set -e\necho \"a: b\" | tee x\n"
    text = dump({"script": script})
    assert "script: |\n  set -e\n" in text
    assert yaml.safe_load(text) == {"script": script}
