"""iac-scan: synthesise the Azure stacks, run checkov over them, the Azure DevOps HCL module and
the generated CI YAML; fail on any finding not suppressed (with its reason) in mlops.iac_scan."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops import iac_scan
    from mlops.azure_names import SCAN_ORGANIZATION, SCAN_SUBSCRIPTION, AzureSettings
    from mlops.infra import synth

    # Always the Azure stacks, whatever --target says: they are what goes to the cloud. A scan
    # needs no subscription: placeholders (the input hash differs, so provision re-synthesises).
    result = synth(config, "azure",
                   settings=AzureSettings(SCAN_SUBSCRIPTION, SCAN_ORGANIZATION))
    for line in result.lines():
        print(line, flush=True)
    stack_files = [s.path for s in result.stacks if s.name in iac_scan.AZURE_STACKS]
    report = iac_scan.scan(stack_files, config.root, log=lambda m: print(m, flush=True))
    for line in report.lines():
        print(line, flush=True)
    if not report.ok:
        print("iac-scan: FAILED: fix each finding, or suppress it in mlops/iac_scan.py "
              "SUPPRESSIONS with the reason it is acceptable", flush=True)
        return 1
    print("iac-scan: passed", flush=True)
    return 0
