"""The error tree. Clients' exceptions (botocore, slack_sdk, pypdf) are translated into
these where those clients are called, so the rest of the code handles a small, closed set.

Every error carries a short, operator-facing message that is safe to print: it never
contains tokens, secrets or document text.
"""

from __future__ import annotations


class DualnovaError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(DualnovaError):
    """A setting is missing or malformed; the message names the variable."""


class ModelError(DualnovaError):
    """A Bedrock call failed after the client's retries."""


class ModelThrottled(ModelError):
    """Bedrock kept throttling after the retries: the user should try again shortly."""


class ModelAccessDenied(ModelError):
    """The credentials may not call this model, or model access is not enabled."""


class StreamInterrupted(ModelError):
    """The answer stream stopped part way; what arrived before is still usable."""


class OutputLimitReached(StreamInterrupted):
    """The model stopped at maxTokens (`stopReason: max_tokens`): the text is cut, not done."""


class RetrievalError(DualnovaError):
    """The index could not be loaded or queried."""


class IndexNotFound(RetrievalError):
    """No index version has been published yet under INDEX_URI."""


class IngestError(DualnovaError):
    """An ingest run could not complete; the published index is left as it was."""


class AccessDenied(DualnovaError):
    """AWS refused an action; the message names the permission and resource that are missing."""


class ModelBusy(ModelThrottled):
    """A question waited longer than QUEUE_MAX_WAIT_SECONDS for its turn at a model.

    `retry_after_s` is the queue's estimate of when asking again would be answered."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
