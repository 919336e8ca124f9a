"""Which system inference-profile prefixes (`us.`, `eu.`, `apac.` ...) a region may call.

A geographic profile is only callable from its own geography's source regions: a `us.`
profile called from eu-west-1 fails every request with ValidationException. Start-up
(`bot.config`) and synthesis (`infra.config`) both check the configured ids here, so the
mistake is one line at deploy time instead of every answer failing in production.

Standard library only: `infra/` imports it without the bot's dependencies.
"""

from __future__ import annotations

from collections.abc import Callable

#: Prefix -> does a region belong to that geography. Region families, not lists, so a
#: region AWS adds to a geography later is accepted; `global.` routes from any commercial
#: region.
_GEOGRAPHIES: dict[str, Callable[[str], bool]] = {
    "us": lambda region: region.startswith("us-") and not region.startswith(("us-gov-", "us-iso")),
    "us-gov": lambda region: region.startswith("us-gov-"),
    "eu": lambda region: region.startswith("eu-"),
    "apac": lambda region: region.startswith("ap-"),
    "jp": lambda region: region in {"ap-northeast-1", "ap-northeast-3"},
    "au": lambda region: region in {"ap-southeast-2", "ap-southeast-4"},
    "ca": lambda region: region.startswith("ca-"),
    "global": lambda region: not region.startswith(("us-gov-", "cn-", "us-iso")),
}
#: Most specific first: the prefix suggested for a region that used the wrong one.
_SUGGESTION_ORDER = ("us-gov", "jp", "au", "ca", "us", "eu", "apac")

GEO_PREFIXES = frozenset(_GEOGRAPHIES)


def split_inference_profile(model_id: str) -> tuple[str | None, str]:
    """`apac.amazon.nova-pro-v1:0` -> (`apac`, `amazon.nova-pro-v1:0`); plain ids -> (None, id)."""
    head, _, rest = model_id.partition(".")
    if head in GEO_PREFIXES and "." in rest:
        return head, rest
    return None, model_id


def prefix_for_region(region: str) -> str | None:
    """The geographic prefix to use from `region`, or None where only `global.` serves it."""
    for prefix in _SUGGESTION_ORDER:
        if _GEOGRAPHIES[prefix](region):
            return prefix
    return None


def profile_region_mismatch(model_id: str, region: str) -> str | None:
    """Why `model_id` cannot be called from `region`, naming the right id; None if it can."""
    prefix, foundation_id = split_inference_profile(model_id)
    if prefix is None or _GEOGRAPHIES[prefix](region):
        return None
    right = prefix_for_region(region)
    suggestion = f"{right}.{foundation_id}" if right else f"global.{foundation_id}"
    return (
        f"inference-profile prefix {prefix}. cannot be called from region {region}; "
        f"use {suggestion} (or the plain model id if the model runs in {region})"
    )
