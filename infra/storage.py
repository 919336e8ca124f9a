"""Where knowledge and state live: the documents bucket and the state table.

Both are retained when the stack is deleted: documents and feedback outlive any
one deployment. The bucket uses SSE-S3 so that the task role needs no KMS grant.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct


@dataclass(frozen=True, kw_only=True, slots=True)
class DocumentStoreProps:
    existing_bucket_name: str | None
    docs_prefix: str
    index_prefix: str


class DocumentStore(Construct):
    """The documents bucket (created, or imported by name) with docs and index prefixes."""

    def __init__(self, scope: Construct, construct_id: str, *, props: DocumentStoreProps) -> None:
        super().__init__(scope, construct_id)
        self.docs_prefix = props.docs_prefix
        self.index_prefix = props.index_prefix
        self.access_log_bucket: s3.Bucket | None = None
        if props.existing_bucket_name:
            # An imported bucket keeps whatever settings its owner gave it; only the
            # task role's grants (by ARN) come from this stack.
            self.bucket: s3.IBucket = s3.Bucket.from_bucket_name(
                self, "Documents", props.existing_bucket_name
            )
            return

        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            # Server access log delivery supports SSE-S3 only.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(90))
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        Validations.of(self.access_log_bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="This bucket is the access-log target of the documents bucket; "
                "logging its own access would recurse.",
            )
        )
        self.bucket = s3.Bucket(
            self,
            "Documents",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="documents/",
            lifecycle_rules=[
                # Versioning protects documents from a bad sync; each index publish
                # replaces objects, so old versions are kept a month, not forever.
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    @property
    def docs_uri(self) -> str:
        return f"s3://{self.bucket.bucket_name}/{self.docs_prefix}"

    @property
    def index_uri(self) -> str:
        return f"s3://{self.bucket.bucket_name}/{self.index_prefix}"


class StateTable(Construct):
    """DynamoDB single table for dedupe, feedback and settings (pk/sk, TTL `expires_at`).
    Not the app's SQLite default: Fargate tasks share no disk, and every task must see the
    same dedupe claims, settings and counters."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            # A chat bot's traffic is bursty and mostly idle: on-demand costs nothing
            # at rest.
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            # Dedupe markers expire on their own.
            time_to_live_attribute="expires_at",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
