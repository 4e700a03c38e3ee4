"""How a session hands values back to the CI system it runs in.

Azure DevOps reads logging commands from stdout: `##vso[task.setvariable ...;isOutput=true]`
makes an output variable of the step (read by later jobs as
dependencies.<job>.outputs['<step>.<NAME>']), `##vso[task.uploadsummary]<file>` attaches a
markdown summary to the run. GitHub Actions reads files named by environment variables:
$GITHUB_OUTPUT (name=value lines, read as steps.<id>.outputs.<name>) and $GITHUB_STEP_SUMMARY
(markdown shown on the run page). Outside CI nothing is published.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path


def _one_line(value: str) -> str:
    # A logging command ends at the line end and a GITHUB_OUTPUT line is name=value: a newline
    # in a value would cut it (or inject another variable).
    return " ".join(str(value).split())


def publish(values: Mapping[str, str], environ: Mapping[str, str] | None = None,
            say: Callable[[str], None] | None = None) -> None:
    """Publish output variables: NAME on Azure DevOps, name (lower case) on GitHub."""
    env = os.environ if environ is None else environ
    say = say or (lambda line: print(line, flush=True))
    if env.get("TF_BUILD"):
        for name, value in values.items():
            say(f"##vso[task.setvariable variable={name};isOutput=true]{_one_line(value)}")
    output = env.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as handle:
            handle.writelines(f"{name.lower()}={_one_line(value)}\n"
                              for name, value in values.items())


def summary(markdown: str, name: str, environ: Mapping[str, str] | None = None,
            say: Callable[[str], None] | None = None) -> Path | None:
    """Attach a markdown summary to the run; returns the file written on Azure DevOps."""
    env = os.environ if environ is None else environ
    say = say or (lambda line: print(line, flush=True))
    written = None
    if env.get("TF_BUILD"):
        # uploadsummary needs a file that outlives the step: the agent's temp folder.
        folder = Path(env.get("AGENT_TEMPDIRECTORY") or env.get("RUNNER_TEMP") or ".")
        written = folder / f"{name}.md"
        written.write_text(markdown, encoding="utf-8")
        say(f"##vso[task.uploadsummary]{written.resolve()}")
    step_summary = env.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(markdown.rstrip("\n") + "\n")
    return written
