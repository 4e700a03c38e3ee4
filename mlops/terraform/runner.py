"""The Terraform runner: one method per command, always ``-no-color -input=false``.

The process runner is injected (``run``), so unit tests check the exact command lines without a
Terraform binary; the default runs the real binary and streams its stdout line by line, which is
how ``plan``/``apply``/``destroy`` turn Terraform's ``-json`` events into a progress display.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlops.terraform.errors import (
    Diagnostic,
    TerraformError,
    TerraformLockError,
    TerraformStateError,
    TerraformTimeout,
    is_lock_error,
    is_state_error,
    parse_text_diagnostics,
)
from mlops.terraform.progress import EventPrinter

MIN_VERSION = (1, 6, 0)
DEFAULT_LOCK_TIMEOUT = "60s"


@dataclass
class CommandResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False


class ProcessRunner(Protocol):
    def __call__(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str],
                 on_line: Callable[[str], None] | None = None,
                 timeout: float | None = None) -> CommandResult: ...


def subprocess_runner(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str],
                      on_line: Callable[[str], None] | None = None,
                      timeout: float | None = None) -> CommandResult:
    """Run ``argv``; hand each stdout line to ``on_line`` as it arrives; stop it after
    ``timeout`` seconds (the result then says ``timed_out``)."""
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                bufsize=1)
    except FileNotFoundError as exc:
        raise TerraformError(argv, 127, [Diagnostic("error", f"{argv[0]} not found on PATH",
                                                     "install Terraform >= 1.6")]) from exc
    stderr_parts: list[str] = []
    reader = threading.Thread(target=lambda: stderr_parts.append(proc.stderr.read()), daemon=True)
    reader.start()
    expired = threading.Event()

    def _expire() -> None:
        expired.set()
        proc.kill()

    timer = threading.Timer(timeout, _expire) if timeout else None
    if timer:
        timer.start()
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if on_line:
                on_line(line.rstrip("\n"))
        proc.wait()
    finally:
        if timer:
            timer.cancel()
        if proc.poll() is None:  # interrupted while streaming: do not leave Terraform behind
            proc.terminate()
            proc.wait()
    reader.join()
    return CommandResult(proc.returncode, "".join(lines), "".join(stderr_parts),
                         timed_out=expired.is_set())


@dataclass
class Terraform:
    """Terraform in one working directory (a synthesised stack folder)."""

    working_dir: Path
    binary: str = "terraform"
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    data_dir: Path | None = None  # TF_DATA_DIR: keeps .terraform outside the synth folder
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT
    run: ProcessRunner = subprocess_runner
    progress: Callable[[str], None] | None = field(default=lambda text: print(text, flush=True))

    # -- plumbing ---------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(self.env)
        if self.data_dir is not None:
            env["TF_DATA_DIR"] = str(self.data_dir)
        env["TF_IN_AUTOMATION"] = "1"
        return env

    def _exec(self, *args: str, stream: bool = False, planned: bool = True,
              timeout: float | None = None,
              ok_codes: tuple[int, ...] = (0,), hint: str = "") -> CommandResult:
        argv = [self.binary, *args]
        printer = (EventPrinter(self.progress, planned=planned)
                   if stream and self.progress else None)
        result = self.run(argv, cwd=self.working_dir, env=self._env(),
                          on_line=printer.handle if printer else None, timeout=timeout)
        if result.timed_out:
            raise TerraformTimeout(argv, result.returncode, [Diagnostic(
                "error", f"no answer within {timeout:g} s; stopped")], hint=hint)
        if result.returncode not in ok_codes:
            diags = json_diagnostics(result.stdout) if "-json" in args else []
            diags = diags or parse_text_diagnostics(result.stderr + "\n" + result.stdout)
            error = (TerraformStateError if is_state_error(diags)
                     else TerraformLockError if is_lock_error(diags) else TerraformError)
            if error is TerraformLockError and not hint:
                hint = (f"another Terraform run holds the state lock (waited {self.lock_timeout}); "
                        "retry when it has finished")
            if error is TerraformStateError and not hint:
                hint = ("the Terraform state file is unreadable (corrupt or truncated), not "
                        "locked; Terraform keeps the previous state beside it as "
                        "<state>.backup")
            raise error(argv, result.returncode, diags, result.stderr or result.stdout, hint)
        return result

    # -- commands ---------------------------------------------------------------------------
    def version(self) -> str:
        result = self._exec("version", "-json")
        try:
            return json.loads(result.stdout)["terraform_version"]
        except (ValueError, KeyError) as exc:
            raise TerraformError([self.binary, "version", "-json"], 0, [Diagnostic(
                "error", "unreadable version output", result.stdout[:200])]) from exc

    def check_version(self, minimum: tuple[int, ...] = MIN_VERSION) -> str:
        found = self.version()
        if parse_version(found) < minimum:
            want = ".".join(map(str, minimum))
            raise TerraformError([self.binary, "version"], 0, [Diagnostic(
                "error", f"Terraform {found} is too old", f"the factory needs >= {want}")])
        return found

    def init(self, backend_config: Sequence[str | Path] = (), *, backend: bool = True,
             reconfigure: bool = False, timeout: float | None = None, hint: str = "") -> None:
        args = ["init", "-no-color", "-input=false", f"-lock-timeout={self.lock_timeout}"]
        if not backend:
            args.append("-backend=false")
        args += [f"-backend-config={item}" for item in backend_config]
        if reconfigure:
            args.append("-reconfigure")
        self._exec(*args, timeout=timeout, hint=hint)

    def validate(self) -> dict[str, Any]:
        result = self._exec("validate", "-no-color", "-json", ok_codes=(0, 1))
        report = json.loads(result.stdout)
        if not report.get("valid", False):
            diags = [Diagnostic(d.get("severity", "error"), d.get("summary", ""),
                                d.get("detail", "")) for d in report.get("diagnostics", [])]
            raise TerraformError([self.binary, "validate", "-no-color", "-json"], 1, diags)
        return report

    def plan(self, out: Path, *, destroy: bool = False, refresh: bool = True,
             replace: Sequence[str] = ()) -> bool:
        """Write a saved plan to ``out``; True when it has changes (-detailed-exitcode 2)."""
        args = ["plan", "-no-color", "-input=false", "-json", "-detailed-exitcode",
                f"-lock-timeout={self.lock_timeout}", f"-out={out}"]
        args += [f"-replace={address}" for address in replace]
        if destroy:
            args.append("-destroy")
        if not refresh:
            args.append("-refresh=false")
        return self._exec(*args, stream=True, ok_codes=(0, 2)).returncode == 2

    def apply(self, plan_file: Path) -> None:
        """Apply a saved plan, and only a saved plan: never an unreviewed one."""
        self._exec("apply", "-no-color", "-input=false", "-json",
                   f"-lock-timeout={self.lock_timeout}", str(plan_file), stream=True,
                   planned=False)

    def show_plan(self, plan_file: Path) -> dict[str, Any]:
        result = self._exec("show", "-no-color", "-json", str(plan_file))
        return json.loads(result.stdout)

    def output(self, state: Path | None = None) -> dict[str, Any]:
        """Output values by name (sensitive ones included: callers must not print them)."""
        args = ["output", "-no-color", "-json"]
        if state is not None:
            args.append(f"-state={state}")
        result = self._exec(*args)
        raw = json.loads(result.stdout or "{}")
        return {name: item.get("value") for name, item in raw.items()}

    def destroy(self) -> None:
        self._exec("destroy", "-no-color", "-input=false", "-json", "-auto-approve",
                   f"-lock-timeout={self.lock_timeout}", stream=True, planned=False)


def json_diagnostics(stdout: str) -> list[Diagnostic]:
    found = []
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        diag = event.get("diagnostic") if isinstance(event, dict) else None
        if diag:
            found.append(Diagnostic(diag.get("severity", "error"), diag.get("summary", ""),
                                    diag.get("detail", "")))
    return found


def parse_version(text: str) -> tuple[int, ...]:
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text.strip())
    if not match:
        raise ValueError(f"not a Terraform version: {text!r}")
    return tuple(int(part) for part in match.groups())
