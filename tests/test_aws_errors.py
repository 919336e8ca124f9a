"""The one table of AWS error codes: each service's spelling lands in the right family, and a
Bedrock failure becomes the error the pipeline turns into the right sentence."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, EventStreamError

from kernel.aws_errors import (
    BAD_CREDENTIALS,
    DENIED,
    THROTTLED,
    as_model_error,
    error_code,
    http_status,
)
from kernel.errors import ModelAccessDenied, ModelError, ModelThrottled


def _client_error(code: str, status: int = 400, operation: str = "Converse") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


def test_error_code_reads_the_service_code_and_falls_back_to_the_class_name() -> None:
    assert error_code(_client_error("NoSuchKey", 404, "GetObject")) == "NoSuchKey"
    assert error_code(EndpointConnectionError(endpoint_url="http://x")) == (
        "EndpointConnectionError"
    )
    assert error_code(ValueError("x")) == "ValueError"


def test_http_status_is_the_response_status_or_zero() -> None:
    assert http_status(_client_error("PreconditionFailed", 412, "PutObject")) == 412
    assert http_status(ValueError("x")) == 0


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",  # Bedrock, Knowledge Bases, DynamoDB
        "ServiceQuotaExceededException",  # Bedrock
        "ProvisionedThroughputExceededException",  # DynamoDB
        "RequestLimitExceeded",  # DynamoDB
    ],
)
def test_each_services_throttling_spelling_is_throttled(code: str) -> None:
    assert code in THROTTLED


def test_denial_and_bad_credentials_are_separate_families() -> None:
    # The state store and S3 tell "not allowed" from "wrong credentials" in their messages.
    assert {"AccessDenied", "AccessDeniedException"} <= DENIED
    assert {"InvalidAccessKeyId", "UnrecognizedClientException", "ExpiredToken"} <= (
        BAD_CREDENTIALS
    )
    assert not DENIED & BAD_CREDENTIALS


def test_a_throttled_or_unavailable_bedrock_call_is_model_throttled() -> None:
    assert isinstance(
        as_model_error(_client_error("ThrottlingException", 429), model_id="m"), ModelThrottled
    )
    assert isinstance(
        as_model_error(_client_error("ServiceUnavailableException", 503), model_id="m"),
        ModelThrottled,
    )


def test_throttling_inside_a_converse_stream_is_model_throttled() -> None:
    # botocore raises the stream's own events as EventStreamError, with lower-case codes.
    exc = EventStreamError(
        {"Error": {"Code": "throttlingException", "Message": "slow down"}}, "ConverseStream"
    )
    error = as_model_error(exc, model_id="apac.amazon.nova-pro-v1:0")

    assert isinstance(error, ModelThrottled)
    assert "apac.amazon.nova-pro-v1:0" in str(error) and "throttlingException" in str(error)


@pytest.mark.parametrize("code", ["AccessDeniedException", "UnrecognizedClientException"])
def test_a_denied_model_call_names_the_permissions_to_allow(code: str) -> None:
    error = as_model_error(_client_error(code, 403), model_id="amazon.nova-micro-v1:0")

    assert isinstance(error, ModelAccessDenied)
    assert "bedrock:InvokeModel" in str(error) and code in str(error)


def test_any_other_failure_is_a_plain_model_error_without_its_message() -> None:
    validation = as_model_error(_client_error("ValidationException"), model_id="m")
    unreachable = as_model_error(EndpointConnectionError(endpoint_url="http://x"), model_id="m")

    assert type(validation) is ModelError and str(validation) == "m: ValidationException"
    assert type(unreachable) is ModelError and "EndpointConnectionError" in str(unreachable)
