"""CDK entry point: `npx aws-cdk@2 synth` (see cdk.json) or `python infra/app.py`.

Synthesizes one stack per environment in `infra/environments.json`, or only the
one named with `-c env=NAME`. `-c config=PATH` reads another environments file.
Synthesis is offline: no AWS credentials, no Docker (the image is only built by
`cdk deploy`).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

if __package__ in (None, ""):
    # Run as a script (`python infra/app.py`): Python put infra/ itself first on
    # sys.path, where its modules would shadow same-named top-level ones. Put the
    # repository root there instead so `infra` imports as a package.
    sys.path[0] = str(REPO_ROOT)

from aws_cdk import App  # noqa: E402

from infra.config import (  # noqa: E402
    DEFAULT_CONFIG_PATH,
    ConfigError,
    EnvironmentConfig,
    load_environments,
)
from infra.nag import add_checks  # noqa: E402
from infra.stack import DualnovaStack, DualnovaStackProps  # noqa: E402

# Feature flags the constructs rely on, set here rather than in cdk.json so that
# `python infra/app.py`, `cdk synth` and the tests build the same template.
FEATURE_FLAGS = {
    # Access-log delivery by bucket policy: the log bucket can keep ACLs disabled.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    # Literal "aws" partition in ARNs when the region is known.
    "@aws-cdk/core:enablePartitionLiterals": True,
}


def build_app(
    environments: dict[str, EnvironmentConfig],
    *,
    app: App | None = None,
    image_directory: Path = REPO_ROOT,
) -> App:
    """An App with one DualnovaStack per environment and cdk-nag attached."""
    app = app or App()
    for flag, value in FEATURE_FLAGS.items():
        app.node.set_context(flag, value)
    for config in environments.values():
        DualnovaStack(
            app,
            config.stack_name,
            props=DualnovaStackProps(config=config, image_directory=str(image_directory)),
        )
    add_checks(app)
    return app


def select_environments(app: App) -> dict[str, EnvironmentConfig]:
    """Environments named by context (`-c env=...`, `-c config=...`), else all of them."""
    config_path = app.node.try_get_context("config")
    environments = load_environments(Path(config_path) if config_path else DEFAULT_CONFIG_PATH)
    wanted = app.node.try_get_context("env")
    if not wanted:
        return environments
    if wanted not in environments:
        raise ConfigError(f"-c env={wanted}: no such environment; have {', '.join(environments)}")
    return {wanted: environments[wanted]}


def main() -> None:
    app = App()
    try:
        environments = select_environments(app)
    except ConfigError as exc:
        raise SystemExit(f"dualnova infra: {exc}") from None
    build_app(environments, app=app).synth()


if __name__ == "__main__":
    main()
