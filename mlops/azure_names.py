"""Azure coordinates and resource names of one infrastructure environment.

The subscription and the Azure DevOps organisation come from config/infra_config.json
(SUBSCRIPTION_ID, DEVOPS_ORGANIZATION_URL), else from the environment (ARM_SUBSCRIPTION_ID,
AZDO_ORG_SERVICE_URL, the variables azurerm and azuredevops read themselves); a missing one
fails before Terraform runs, naming both places. Neither is a secret: they go into the
synthesised provider blocks so a plan never depends on who runs it.

Storage account, key vault and container registry names are global, endpoint names regional:
the defaults carry a stable suffix, the first six hex digits of a SHA-256 of the subscription
id and the environment's NAMESPACE-PROJECTCODE-VERSION, so two users (or two subscriptions) never
collide, while the same subscription and config always give the same names.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from mlops.config import INFRA_FILE, FactoryConfig, InfraConfig
from mlops.errors import FactoryError

SUBSCRIPTION_ENV = "ARM_SUBSCRIPTION_ID"  # what azurerm >= 4 reads (subscription_id is required)
ORGANIZATION_ENV = "AZDO_ORG_SERVICE_URL"  # what the azuredevops provider reads
SUFFIX_LENGTH = 6
# Synthesis for static scanning only (iac_scan): never planned, never applied.
SCAN_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
SCAN_ORGANIZATION = "https://dev.azure.com/example"
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


class AzureSettingsError(FactoryError):
    """The subscription or the organisation is missing or malformed."""


@dataclass(frozen=True)
class AzureSettings:
    subscription_id: str
    organization_url: str

    @classmethod
    def resolve(cls, infra: InfraConfig, env: Mapping[str, str] | None = None, *,
                organization: bool = True, purpose: str = "synthesise the Azure stacks"
                ) -> AzureSettings:
        """From config, else the environment; every problem in one error naming the config key
        (with its file and entry) and the environment variable. ``organization=False``: only the
        subscription is needed (reading Terraform outputs)."""
        env = os.environ if env is None else env
        problems: list[str] = []
        subscription = _pick(infra, "SUBSCRIPTION_ID", infra.subscription_id, SUBSCRIPTION_ENV,
                             env, "the Azure subscription to provision in", problems)
        if subscription and not _GUID.fullmatch(subscription):
            problems.append(f"{SUBSCRIPTION_ENV}={subscription!r}: expected a subscription id "
                            "(a GUID)")
        organization_url = _pick(
            infra, "DEVOPS_ORGANIZATION_URL", infra.devops_organization_url, ORGANIZATION_ENV,
            env, "the Azure DevOps organisation (https://dev.azure.com/<org>)",
            problems) if organization else ""
        if problems:
            raise AzureSettingsError(f"cannot {purpose}:\n  - " + "\n  - ".join(problems))
        return cls(subscription.lower(), organization_url.rstrip("/"))


def _pick(infra: InfraConfig, key: str, configured: str | None, variable: str,
          env: Mapping[str, str], what: str, problems: list[str]) -> str:
    # config first: what is committed wins over what a shell or a variable group happens to hold
    value = configured or (env.get(variable) or "").strip()
    if not value:
        problems.append(f"{variable} is not set and {INFRA_FILE} ({infra.env_name}) has no {key}: "
                        f"{what}. Set {key} in {INFRA_FILE} or export {variable} (in Azure "
                        f"DevOps the variable group {infra.variable_group_name} carries it)")
    return value


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).lower().encode()).hexdigest()


def name_suffix(subscription_id: str, infra: InfraConfig) -> str:
    """Stable per subscription and environment: six lower-case hex digits."""
    return _digest(subscription_id, infra.name_suffix)[:SUFFIX_LENGTH]


def _compact(infra: InfraConfig) -> str:
    return re.sub(r"[^a-z0-9]", "", f"{infra.namespace}{infra.projectcode}{infra.version}".lower())


def state_storage_account(subscription_id: str, infra: InfraConfig) -> str:
    """The Terraform state account when the backend file names none: <= 24 lower-case alnum.
    Independent of VERSION, so a new version keeps its state next to the old one's."""
    prefix = re.sub(r"[^a-z0-9]", "", f"st{infra.namespace}{infra.projectcode}tf".lower())
    return prefix[:24 - SUFFIX_LENGTH] + _digest(subscription_id, infra.namespace,
                                                 infra.projectcode, "tfstate")[:SUFFIX_LENGTH]


def regional_endpoint_name(configured: str, suffix: str | None) -> str:
    """An endpoint name unique in its region: the configured name (3-32 letters, digits and
    hyphens) cut to fit, then -<suffix>. Local endpoints keep their configured names."""
    if not suffix:
        return configured
    return f"{configured[:32 - SUFFIX_LENGTH - 1].rstrip('-')}-{suffix}"


@dataclass(frozen=True)
class AzureNames:
    """Every Azure resource name of one environment. The seed's pattern
    (``mlw-{namespace}-{projectcode}-{version}``) where names are scoped to the resource group;
    plus the stable suffix where Azure wants them unique worldwide."""

    suffix: str
    resource_group: str
    workspace: str
    storage_account: str  # 3-24 lower-case letters and digits, global
    key_vault: str  # 3-24 letters, digits, single hyphens, starts with a letter, global
    log_analytics: str
    application_insights: str
    container_registry: str  # 5-50 letters and digits, global
    pipeline_identity: str  # the model pipelines run as it (Terraform creates it)
    infra_identity: str  # the infrastructure pipeline runs as it (bootstrap creates it)
    # the Azure ML registry this environment would own as the first of a promotion chain:
    # 2-32 letters, digits, '-' or '_', unique in the tenant (how-to-manage-registries)
    registry: str

    @classmethod
    def of(cls, infra: InfraConfig, subscription_id: str) -> AzureNames:
        suffix = name_suffix(subscription_id, infra)
        dashed, compact = infra.name_suffix, _compact(infra)
        return cls(
            suffix=suffix,
            resource_group=infra.resource_group_name,
            workspace=infra.workspace_name,
            storage_account=f"st{compact}"[:24 - SUFFIX_LENGTH] + suffix,
            key_vault=f"kv-{compact}"[:24 - SUFFIX_LENGTH - 1] + f"-{suffix}",
            log_analytics=f"log-{dashed}",
            application_insights=f"appi-{dashed}",
            container_registry=f"cr{compact}{suffix}",
            pipeline_identity=f"id-{dashed}-pipelines",
            infra_identity=f"id-{dashed}-infra",
            registry=f"mlr-{dashed}"[:32 - SUFFIX_LENGTH - 1].rstrip("-") + f"-{suffix}",
        )


def promotion_chain(config: FactoryConfig, infra: InfraConfig) -> list[InfraConfig]:
    """``infra`` and the environments it takes models from, nearest first (PROMOTE_FROM)."""
    chain = [infra]
    while chain[-1].promote_from:
        chain.append(config.infra_env(chain[-1].promote_from))
    return chain


def registry_home(config: FactoryConfig, infra: InfraConfig) -> InfraConfig | None:
    """The environment whose stack creates the registry ``infra`` shares (the first of its
    promotion chain), or None when ``infra`` takes part in no promotion."""
    home = promotion_chain(config, infra)[-1]
    receives = any(promotion_chain(config, other)[-1] == home and other != home
                   for other in config.infra.values())
    return home if receives else None
