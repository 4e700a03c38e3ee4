"""Content hashes behind step reuse and data versions."""

from __future__ import annotations

from mlops.pipeline.hashing import hash_tree, hash_value


def make(folder, files: dict[str, str]):
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def test_same_content_in_another_place_hashes_the_same(tmp_path):
    a = make(tmp_path / "a", {"x.csv": "1,2", "sub/y.csv": "3"})
    b = make(tmp_path / "b", {"sub/y.csv": "3", "x.csv": "1,2"})
    assert hash_tree(a) == hash_tree(b)


def test_bytes_and_names_both_count(tmp_path):
    base = hash_tree(make(tmp_path / "a", {"x.csv": "1,2"}))
    assert hash_tree(make(tmp_path / "b", {"x.csv": "1,3"})) != base
    assert hash_tree(make(tmp_path / "c", {"z.csv": "1,2"})) != base
    # moving bytes between files changes the hash even though the concatenation is equal
    assert hash_tree(make(tmp_path / "d", {"a": "ab", "b": "c"})) != \
        hash_tree(make(tmp_path / "e", {"a": "a", "b": "bc"}))


def test_bytecode_and_caches_are_ignored(tmp_path):
    folder = make(tmp_path / "src", {"step.py": "print(1)"})
    before = hash_tree(folder)
    make(folder, {"__pycache__/step.cpython-311.pyc": "junk", "other.pyc": "junk"})
    assert hash_tree(folder) == before


def test_hash_value_ignores_key_order():
    assert hash_value({"a": 1, "b": [1, 2]}) == hash_value({"b": [1, 2], "a": 1})
    assert hash_value({"a": 1}) != hash_value({"a": 2})
