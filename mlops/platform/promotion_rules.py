"""What both platforms' promotions check the same way: a version may leave its environment
only when it is approved for production and carries the digest recorded at registration (so
its copy can be checked), and a refusal names the command that fixes it."""

from __future__ import annotations

from pathlib import Path

from mlops.config import DEFAULT_INFRA_ENV
from mlops.errors import DigestMismatch, NotApproved, PromotionError
from mlops.records import Approval, ApprovedVersion
from mlops.registry_names import DIGEST_TAG, model_digest


def approve_hint(model: str, version: str, env: str) -> str:
    """The command that approves ``version`` of ``model`` in ``env``."""
    where = "" if env == DEFAULT_INFRA_ENV else f" --env {env}"
    return f"nox -s approve -- {model} --version {version}{where}"


def check_approved(model: str, model_name: str, version: str, env: str,
                   tags: dict | None) -> tuple[Approval, str]:
    """(approval, digest) of a version about to be promoted; NotApproved names the approve
    command; a version without a digest is refused too (its copy could not be checked)."""
    approval = Approval.from_tags(tags)
    if approval is None:
        raise NotApproved(f"{model}: {model_name} version {version} in {env} is not approved "
                          f"for production; nothing was promoted. Approve it first: "
                          f"`{approve_hint(model, version, env)}`")
    digest = (tags or {}).get(DIGEST_TAG)
    if not digest:
        raise PromotionError(f"{model}: {model_name} version {version} in {env} has no "
                             f"{DIGEST_TAG} tag (registered before digests were recorded), so "
                             f"a copy could not be checked; register a new version with "
                             f"`nox -s ci_build -- {model}`")
    return approval, str(digest)


def check_digest(files: Path, approved: ApprovedVersion, what: str) -> None:
    """DigestMismatch unless ``files`` (a copy of the approved version) hash to the digest
    recorded at its registration."""
    found = model_digest(files)
    if found != approved.digest:
        raise DigestMismatch(f"{approved.model}: {what} of {approved.model_name} v"
                             f"{approved.version} has digest {found[:12]}, not the "
                             f"{approved.digest[:12]} recorded at registration in "
                             f"{approved.env}; nothing was promoted")
