"""The warm server kept between builds (mlops/pipeline/kept.py, forkserver.py --keep): real
servers on real Unix sockets in a private folder, killed, raced, aged and made stale for real.
The modules preloaded are the standard library's (fast), the mechanism is the one that holds
pandas, scikit-learn and MLflow for a build."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from mlops.errors import FactoryError
from mlops.pipeline import kept
from mlops.pipeline.launch import WARM_CALLS, ForkServer
from mlops.procinfo import start_time

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PROBE = textwrap.dedent("""
    import json, os, sys
    before = "fractions" in sys.modules  # preloaded: present before this script imports it
    import fractions
    print(json.dumps({"pid": os.getpid(), "parent": os.getppid(), "preloaded": before,
                      "secret": os.environ.get("BUILD_TOKEN"), "argv": sys.argv}))
    sys.exit(int(os.environ.get("EXIT", "0")))
""")


@pytest.fixture
def warm_dir(tmp_path, monkeypatch):
    folder = tmp_path / "w"
    monkeypatch.setenv(kept.DIR_ENV, str(folder))
    monkeypatch.setenv(kept.KEEP_ENV, "60")
    yield folder
    for server in _servers(folder):  # none outlives its test
        os.kill(server, signal.SIGKILL)


@pytest.fixture
def code(tmp_path):
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "probe.py").write_text(PROBE)
    return folder


def _servers(folder: Path) -> list[int]:
    """pids of the processes listening on a socket in ``folder``: the kept servers (a session
    closes the listener it was forked with; /proc/net/unix lists listening sockets, flag
    __SO_ACCEPTCON 0x10000, by inode)."""
    inodes = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[7].startswith(f"{folder}/") and int(fields[3], 16) & 0x10000:
            inodes.add(f"socket:[{fields[6]}]")
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue
        if links & inodes:
            found.add(int(entry.name))
    return sorted(found)


def _env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **extra}


def _build(tmp_path: Path, name: str, **env: str) -> ForkServer:
    return ForkServer(sys.executable, _env(**env), tmp_path / f"{name}.log", ["fractions"])


def _probe(server: ForkServer, code: Path, tmp_path: Path, name: str, **env: str) -> dict:
    log = tmp_path / f"{name}.out"
    process = server.start(["probe.py", name], code, _env(**env), log)
    assert process.wait(60) == int(env.get("EXIT", "0"))
    return json.loads(log.read_text())


def _wait(condition, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_second_build_gets_a_session_of_the_same_warm_server(warm_dir, code, tmp_path):
    first = _build(tmp_path, "one")
    try:
        assert not first.kept_note
        seen = _probe(first, code, tmp_path, "a")
        (server,) = _servers(warm_dir)
    finally:
        first.close()
    second = _build(tmp_path, "two")
    try:
        again = _probe(second, code, tmp_path, "b", EXIT="3")
        assert _servers(warm_dir) == [server]  # the same kept interpreter
        assert second.process.pid != first.process.pid  # each build its own session
        assert "fractions" in second.loaded
    finally:
        second.close()
    for result in (seen, again):
        assert result["preloaded"]  # forked warm, not a new interpreter
        assert result["parent"] != server  # a step is a child of its build's session
    assert again["argv"] == ["probe.py", "b"]
    # sessions that ran cleanly leave no log; the kept server's log says who came and went
    assert not (tmp_path / "one.log").exists() and not (tmp_path / "two.log").exists()
    (log,) = warm_dir.glob("*.log")
    assert log.read_text().count("exited (code 0)") == 2


def test_modules_for_later_are_imported_after_this_builds_session(warm_dir, code, tmp_path):
    """A build's unit tests' libraries (azure-ai-ml: seconds) must not hold its first step: the
    kept server imports them after forking the build's session; the next build has them."""
    first = ForkServer(sys.executable, _env(), tmp_path / "one.log", ["decimal"],
                       later=["fractions"])
    try:
        assert not _probe(first, code, tmp_path, "a")["preloaded"]
    finally:
        first.close()
    second = ForkServer(sys.executable, _env(), tmp_path / "two.log", ["decimal"])
    try:
        assert _probe(second, code, tmp_path, "b")["preloaded"]
        assert {"decimal"} <= second.loaded
    finally:
        second.close()


def test_the_kept_server_never_holds_the_builds_secrets(warm_dir, code, tmp_path):
    """It outlives the build: it starts with the start-up variables and PATH/HOME only. A step
    still gets its whole environment."""
    server = _build(tmp_path, "one", BUILD_TOKEN="s3cr3t", OMP_NUM_THREADS="1")
    try:
        seen = _probe(server, code, tmp_path, "a", BUILD_TOKEN="s3cr3t", OMP_NUM_THREADS="1")
    finally:
        server.close()
    assert seen["secret"] == "s3cr3t"
    (kept_pid,) = _servers(warm_dir)
    environ = dict(line.split("=", 1) for line in Path(f"/proc/{kept_pid}/environ")
                   .read_bytes().decode().split("\0") if "=" in line)
    assert "BUILD_TOKEN" not in environ and "s3cr3t" not in json.dumps(environ)
    assert environ["OMP_NUM_THREADS"] == "1"  # a start-up variable: part of its key


def test_different_start_up_variables_get_a_different_server(warm_dir, tmp_path):
    one, two = _build(tmp_path, "one"), _build(tmp_path, "two", OMP_NUM_THREADS="1")
    try:
        assert len(_servers(warm_dir)) == 2
        assert len(list(warm_dir.glob("*.sock"))) == 2
    finally:
        one.close()
        two.close()


def test_a_killed_kept_server_is_replaced_by_the_next_build(warm_dir, code, tmp_path):
    first = _build(tmp_path, "one")
    first.close()
    (dead,) = _servers(warm_dir)
    os.kill(dead, signal.SIGKILL)
    assert _wait(lambda: start_time(dead) is None, 10)
    (socket_file,) = warm_dir.glob("*.sock")  # left behind: it refuses connections
    second = _build(tmp_path, "two")
    try:
        assert not second.kept_note
        assert _probe(second, code, tmp_path, "a")["preloaded"]
        (server,) = _servers(warm_dir)
        assert server != dead and socket_file.exists()
    finally:
        second.close()


def test_a_build_goes_on_when_its_kept_server_dies(warm_dir, code, tmp_path):
    """A session is its own process: the kept server killed mid-build does not stop it."""
    build = _build(tmp_path, "one")
    try:
        _probe(build, code, tmp_path, "a")
        (server,) = _servers(warm_dir)
        os.kill(server, signal.SIGKILL)
        assert _wait(lambda: start_time(server) is None, 10)
        assert _probe(build, code, tmp_path, "b", EXIT="4")["preloaded"]
        assert build.alive
    finally:
        build.close()


def test_builds_racing_start_one_kept_server(warm_dir, code, tmp_path):
    """Four builds that find no server at the same moment: one server starts (a lock in the
    private folder), all four get sessions of it."""
    servers: list[ForkServer] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def build(index: int) -> None:
        gate.wait()
        try:
            servers.append(_build(tmp_path, f"b{index}"))
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert not errors and len(servers) == 4
        assert [s.kept_note for s in servers] == [""] * 4
        assert len(_servers(warm_dir)) == 1
        assert len({s.process.pid for s in servers}) == 4
    finally:
        for server in servers:
            server.close()


def test_an_idle_kept_server_leaves_and_removes_its_socket(warm_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(kept.KEEP_ENV, "1")
    build = _build(tmp_path, "one")
    (server,) = _servers(warm_dir)
    time.sleep(2)
    assert start_time(server) is not None  # not idle while a session runs
    build.close()
    assert _wait(lambda: start_time(server) is None, 20)
    assert not list(warm_dir.glob("*.sock"))
    (log,) = warm_dir.glob("*.log")
    assert "exits: idle" in log.read_text()


def test_a_kept_server_leaves_when_its_packages_change(warm_dir, code, tmp_path):
    """A package installed into a folder on its sys.path after it imported: the next build
    must not fork from the old imports; the server says so, leaves, and a new one serves."""
    packages = tmp_path / "site"
    packages.mkdir()
    first = _build(tmp_path, "one", PYTHONPATH=str(packages))
    first.close()
    (old,) = _servers(warm_dir)
    (packages / "newpkg-1.0.dist-info").mkdir()  # what an install does to the folder
    second = _build(tmp_path, "two", PYTHONPATH=str(packages))
    try:
        assert not second.kept_note
        assert _probe(second, code, tmp_path, "a", PYTHONPATH=str(packages))["preloaded"]
        assert _wait(lambda: start_time(old) is None, 10)
        (new,) = _servers(warm_dir)
        assert new != old
    finally:
        second.close()
    assert "exits: stale" in "".join(p.read_text() for p in warm_dir.glob("*.log"))


def test_closing_a_build_whose_session_is_still_importing_returns_at_once(warm_dir, tmp_path):
    """A warm build never waits for its warm-up: the kept server finishes the import (later
    builds want it), the session it then forks finds its pipe closed and leaves no log."""
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "slowmod.py").write_text("import time\ntime.sleep(5)\n")
    build = ForkServer(sys.executable, _env(PYTHONPATH=str(slow)), tmp_path / "fs.log",
                       ["slowmod"], wait=False)
    started = time.monotonic()
    build.close()
    assert time.monotonic() - started < 2
    (server,) = _servers(warm_dir)
    log = next(warm_dir.glob("*.log"))
    assert _wait(lambda: "exited (code 0)" in log.read_text(), 60), log.read_text()
    assert not (tmp_path / "fs.log").exists()
    assert start_time(server) is not None  # kept, with slowmod loaded for the next build


def test_an_unsafe_folder_is_refused_and_the_build_starts_its_own(warm_dir, code, tmp_path):
    warm_dir.mkdir(mode=0o755)
    warm_dir.chmod(0o755)
    build = _build(tmp_path, "one")
    try:
        assert str(warm_dir) in build.kept_note and "mode 0700" in build.kept_note
        assert _probe(build, code, tmp_path, "a")["preloaded"]  # still warm: its own server
        assert not _servers(warm_dir)
    finally:
        build.close()


def test_stop_all_asks_every_kept_server_to_leave_and_builds_go_on(warm_dir, code, tmp_path):
    one, two = _build(tmp_path, "one"), _build(tmp_path, "two", OMP_NUM_THREADS="1")
    try:
        servers = _servers(warm_dir)
        assert len(servers) == 2
        assert len(kept.stop_all(warm_dir)) == 2
        assert _wait(lambda: not _servers(warm_dir), 10)
        assert not list(warm_dir.glob("*.sock"))
        assert _probe(one, code, tmp_path, "a")["preloaded"]  # its session serves on
    finally:
        one.close()
        two.close()
    assert "exits: asked to stop" in "".join(p.read_text() for p in warm_dir.glob("*.log"))


def test_zero_keep_seconds_turns_kept_servers_off(warm_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(kept.KEEP_ENV, "0")
    build = _build(tmp_path, "one")
    try:
        assert isinstance(build.process, subprocess.Popen)
        assert kept.KEEP_ENV in build.kept_note
    finally:
        build.close()
    assert not warm_dir.exists() or not _servers(warm_dir)


@pytest.mark.parametrize("raw", ["soon", "-5", "inf", "nan"])
def test_a_bad_keep_value_is_named(raw):
    with pytest.raises(FactoryError, match=rf"{kept.KEEP_ENV}='{raw}': expected a number"):
        kept.keep_seconds({kept.KEEP_ENV: raw})


WARMED = textwrap.dedent("""
    import inspect, json
    import mlflow.utils.requirements_utils as requirements
    print(json.dumps({"packages": requirements._MODULES_TO_PACKAGES is not None,
                      "modules by file": "azure.ai.ml" in inspect._filesbymodname}))
""")


def test_a_step_inherits_the_library_caches_its_server_filled(warm_dir, tmp_path):
    """launch.WARM_CALLS: MLflow's package map and inspect's module map (azure-ai-ml walks the
    stack whenever it builds an experimental schema) are filled once in the server, and a step
    forked from it starts with them; a step spawned anew does not have them."""
    (tmp_path / "warmed.py").write_text(WARMED)
    server = ForkServer(sys.executable, _env(), tmp_path / "warm.log",
                        ["mlflow.pyfunc", "azure.ai.ml"])
    try:
        assert {"mlflow.pyfunc", "azure.ai.ml"} <= server.loaded
        assert not set(WARM_CALLS.values()) & set(server.failed), server.failed
        log = tmp_path / "warmed.out"
        assert server.start(["warmed.py"], tmp_path, _env(), log).wait(120) == 0
        assert json.loads(log.read_text()) == {"packages": True, "modules by file": True}
    finally:
        server.close()
    spawned = subprocess.run([sys.executable, "-c", "import azure.ai.ml\n" + WARMED],
                             capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(spawned.stdout) == {"packages": False, "modules by file": False}
