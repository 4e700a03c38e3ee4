"""promote: move a model's approved version to another infrastructure environment (`-- MODEL
--from dev --to prod [--version N]`): the same artifact (digest-checked), registered there with
its lineage, made champion and deployed. Never retrains; an unapproved version is refused
(exit 3) and the target is left as it was."""

from __future__ import annotations

from argparse import Namespace

from mlops.commands.approve import approver, single_version
from mlops.config import FactoryConfig
from mlops.errors import PromotionError


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.naming import current_build_id
    from mlops.promotion import promote, source_of

    if not args.destination:
        raise PromotionError("promote needs the environment to promote to: "
                             "`nox -s promote -- MODEL --from dev --to prod`")
    source = args.source or source_of(config, args.destination)
    version = single_version(args)
    who, build = approver(), current_build_id()
    for model in args.models:
        promote(config, model, source_env=source, target_env=args.destination,
                target=args.target, version=version, promoted_by=who, build_id=build)
    return 0
