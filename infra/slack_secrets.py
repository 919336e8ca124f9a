"""The Slack tokens, referenced from Secrets Manager (never created or valued here).

The secrets are created by the operator before the first deploy (docs/DEPLOY.md),
not by this stack, because:
- a stack-created secret would start empty, so the first deploy would launch tasks
  that cannot connect, crash-loop and trip the circuit breaker into a rollback;
- the token value never has to pass through CDK, a template or a shell history of
  `cdk deploy` parameters;
- deleting the stack does not delete the tokens.
The stack only names them; ECS fetches them at task start with the execution
role, and injects them as the container's `SLACK_BOT_TOKEN` / `SLACK_APP_TOKEN`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct


@dataclass(frozen=True, kw_only=True, slots=True)
class SlackSecretsProps:
    bot_token_secret: str  # name or full ARN
    app_token_secret: str


def _import(scope: Construct, construct_id: str, reference: str) -> secretsmanager.ISecret:
    if reference.startswith("arn:"):
        return secretsmanager.Secret.from_secret_complete_arn(scope, construct_id, reference)
    # By name: the IAM grant covers the random 6-character suffix Secrets Manager
    # appends (`NAME-??????`), and ECS resolves the partial ARN at task start.
    return secretsmanager.Secret.from_secret_name_v2(scope, construct_id, reference)


class SlackSecrets(Construct):
    """`bot_token` (xoxb-) and `app_token` (xapp-) as imported secrets."""

    def __init__(self, scope: Construct, construct_id: str, *, props: SlackSecretsProps) -> None:
        super().__init__(scope, construct_id)
        self.bot_token = _import(self, "SlackBotToken", props.bot_token_secret)
        self.app_token = _import(self, "SlackAppToken", props.app_token_secret)
