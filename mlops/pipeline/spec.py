"""Typed view of an Azure ML pipeline job and its command components (only what runs locally)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_TYPES = ("uri_folder", "uri_file", "mltable", "mlflow_model", "custom_model")
LITERAL_TYPES = ("string", "integer", "number", "boolean")

# Component tags the local runner reads (Azure ML component YAML allows a `tags` dictionary).
EFFECT_TAG = "factory.effect"  # the step's effect outside its outputs, e.g. "registry"
SPAWN_TAG = "factory.spawn"  # "true": start the step as a new interpreter, never forked warm
FACTORY_TAGS = (EFFECT_TAG, SPAWN_TAG)

PARENT_INPUT = re.compile(r"^\$\{\{\s*parent\.inputs\.([A-Za-z_][\w]*)\s*\}\}$")
PARENT_OUTPUT = re.compile(r"^\$\{\{\s*parent\.outputs\.([A-Za-z_][\w]*)\s*\}\}$")
JOB_OUTPUT = re.compile(
    r"^\$\{\{\s*parent\.jobs\.([A-Za-z_][\w-]*)\.outputs\.([A-Za-z_][\w]*)\s*\}\}$")


@dataclass(frozen=True)
class PortSpec:
    """A component input or output declaration."""

    name: str
    type: str
    default: Any = None
    optional: bool = False

    @property
    def is_data(self) -> bool:
        return self.type in DATA_TYPES


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    version: str
    file: Path
    code: Path  # the folder the command runs in (and whose files are hashed)
    command: str
    inputs: dict[str, PortSpec]
    outputs: dict[str, PortSpec]
    is_deterministic: bool = True  # False: never reused (as Azure ML)
    tags: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def effect(self) -> str | None:
        """What the step changes outside its outputs (reused only while that still holds)."""
        return self.tags.get(EFFECT_TAG)

    @property
    def spawn(self) -> bool:
        """Opted out of warm (forked) start: run as a fresh interpreter."""
        return self.tags.get(SPAWN_TAG, "false").lower() == "true"


@dataclass(frozen=True)
class Binding:
    """What a job input is bound to: exactly one of literal, parent_input, upstream."""

    literal: Any = None
    parent_input: str | None = None
    upstream: tuple[str, str] | None = None  # (job, output)
    path: str | None = None  # a data path given inline ({type, path})

    @property
    def is_reference(self) -> bool:
        return self.parent_input is not None or self.upstream is not None


@dataclass(frozen=True)
class JobSpec:
    name: str
    component: ComponentSpec
    inputs: dict[str, Binding]
    outputs: dict[str, str | None]  # component output -> pipeline output it feeds (or None)

    @property
    def depends_on(self) -> set[str]:
        return {b.upstream[0] for b in self.inputs.values() if b.upstream}


@dataclass(frozen=True)
class PipelineInput:
    name: str
    type: str  # a data type, or a literal type inferred from the value
    value: Any = None  # literal value or data path (str)


@dataclass(frozen=True)
class PipelineSpec:
    file: Path
    display_name: str | None
    experiment_name: str | None
    inputs: dict[str, PipelineInput]
    jobs: dict[str, JobSpec]
    outputs: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (job, output)

    def find_output(self, output: str) -> tuple[str, str]:
        """The (job, output) producing a component output called ``output`` (first in order)."""
        for job in self.jobs.values():
            if output in job.component.outputs:
                return job.name, output
        raise KeyError(f"{self.file}: no job has an output named {output!r}")
