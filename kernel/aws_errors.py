"""AWS error codes in one place: what a botocore failure says, and which family it is in.

Each service spells the same trouble its own way (S3 `AccessDenied`, DynamoDB and Bedrock
`AccessDeniedException`, Bedrock's event stream `accessDeniedException`), so each family
below is the union of the spellings of the services this project calls (S3, DynamoDB,
Bedrock runtime, Bedrock Knowledge Bases). The spellings one service never sends cost a
caller of that service nothing. What a family means for the user (a retry, a permission
to add, a credential to refresh) is decided where the client is called: `s3_error`, the
state store, the ingest lock, the Knowledge Base retriever, `as_model_error` below.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from kernel.errors import ModelAccessDenied, ModelError, ModelThrottled

#: Slow down: Bedrock, Bedrock Knowledge Bases, DynamoDB.
THROTTLED = frozenset(
    {
        "ThrottlingException",
        "throttlingException",  # a ConverseStream event, not an HTTP error
        "TooManyRequestsException",
        "ServiceQuotaExceededException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
    }
)
#: Bedrock's runtime answers these under load; a model call treats them as throttling.
UNAVAILABLE = frozenset({"ServiceUnavailableException", "serviceUnavailableException"})
#: The caller is known but not allowed.
DENIED = frozenset(
    {
        "AccessDeniedException",
        "accessDeniedException",
        "AccessDenied",
        "403",
        "Forbidden",
        "AllAccessDisabled",
        "AccountProblem",
    }
)
#: The credentials themselves are wrong, unknown or expired.
BAD_CREDENTIALS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "TokenRefreshRequired",
        "InvalidToken",
    }
)
#: The object or key is not there (S3 answers a HEAD with the bare status).
MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
#: DynamoDB's answer to a failed ConditionExpression: an expected outcome (a lost race, a
#: duplicate), handled by the caller rather than translated.
CONDITION_FAILED = "ConditionalCheckFailedException"


def error_code(exc: BaseException) -> str:
    """The service's error code (`ThrottlingException`), or the class name for anything else.

    botocore's EventStreamError is a ClientError, so a failure inside a ConverseStream
    reads the same way as one on the HTTP request."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return exc.__class__.__name__


def error_message(exc: BaseException) -> str:
    """The service's own message ('' for anything but a ClientError)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message", ""))
    return ""


def http_status(exc: BaseException) -> int:
    if isinstance(exc, ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return 0


def as_model_error(exc: BaseException, *, model_id: str) -> ModelError:
    """Translate a Bedrock runtime failure into the error tree (message safe to log)."""
    code = error_code(exc)
    if code in THROTTLED or code in UNAVAILABLE:
        return ModelThrottled(f"{model_id}: throttled after retries ({code})")
    if code in DENIED or code in BAD_CREDENTIALS:
        return ModelAccessDenied(
            f"{model_id}: access denied ({code}); enable the model in Bedrock model access and allow "
            "bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream on it"
        )
    if isinstance(exc, ClientError | BotoCoreError):
        return ModelError(f"{model_id}: {code or 'call failed'}")
    return ModelError(f"{model_id}: {exc.__class__.__name__}")
