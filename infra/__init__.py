"""The AWS CDK app that deploys dualnova: one stack per environment.

`infra/app.py` is the entry point (`cdk synth` or `python infra/app.py`).
`infra.policy_checks` imports nothing from the CDK so that the IAM checks can run
anywhere, including against a live role's policy from `dualnova doctor`.
"""
