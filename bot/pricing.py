"""Prices of Bedrock calls: USD per 1,000 tokens per model (`PRICES` overrides or extends
the defaults).

Bedrock reports input, cache-read and cache-write tokens as disjoint counts (the fake
does too), so a call costs::

    input/1000 * in  +  cache_read/1000 * in * (1 - cache_read_discount)
    + cache_write/1000 * in * (1 + cache_write_premium)  +  output/1000 * out

Imports no state and no settings: `bot.config` validates PRICES with `parse_prices`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kernel.models import ModelCall

log = logging.getLogger(__name__)

#: Bedrock inference-profile prefixes ("apac.amazon.nova-pro-v1:0" is billed as the model).
PROFILE_PREFIXES = ("us", "eu", "apac", "jp", "au", "ca", "us-gov", "global")


class ModelPrice(BaseModel):
    """USD per 1,000 tokens. Cache reads pay the input price less the discount; cache
    writes pay it plus the premium."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(default=0.0, ge=0)
    cache_read_discount: float = Field(default=0.75, ge=0, le=1)
    cache_write_premium: float = Field(default=0.0, ge=0)

    def cost(self, call: ModelCall) -> float:
        per_token_in = self.input / 1000
        return (
            call.input_tokens * per_token_in
            + call.cache_read_tokens * per_token_in * (1 - self.cache_read_discount)
            + call.cache_write_tokens * per_token_in * (1 + self.cache_write_premium)
            + call.output_tokens * self.output / 1000
        )


#: On-demand list prices (us-east-1) when this was written; check the Bedrock pricing page
#: for your region and set PRICES for anything that differs. Nova cache reads are 75% off.
DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "amazon.nova-micro-v1:0": ModelPrice(input=0.000035, output=0.00014),
    "amazon.nova-lite-v1:0": ModelPrice(input=0.00006, output=0.00024),
    "amazon.nova-pro-v1:0": ModelPrice(input=0.0008, output=0.0032),
    "amazon.titan-embed-text-v2:0": ModelPrice(input=0.00002),
    "cohere.embed-multilingual-v3": ModelPrice(input=0.0001),
}


def parse_prices(text: str | None) -> dict[str, ModelPrice]:
    """PRICES as JSON, e.g. ``{"amazon.nova-pro-v1:0": {"input": 0.0008, "output": 0.0032}}``.
    Raises ValueError with a readable reason."""
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"expected JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(raw, dict):
        raise ValueError('expected a JSON object {"model id": {"input": ..., "output": ...}}')
    prices: dict[str, ModelPrice] = {}
    for model, value in raw.items():
        try:
            prices[str(model)] = ModelPrice.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"{model}: {where + ': ' if where else ''}{first['msg']}") from None
    return prices


def base_model_id(model_id: str) -> str:
    """ARN and inference-profile prefix removed: ".../apac.amazon.nova-pro-v1:0" -> "amazon..."."""
    tail = model_id.rsplit("/", 1)[-1]
    prefix, _, rest = tail.partition(".")
    return rest if prefix in PROFILE_PREFIXES and rest else tail


class PriceTable:
    """Prices by model id; an inference profile or ARN is priced as its base model."""

    def __init__(self, prices: Mapping[str, ModelPrice] | None = None) -> None:
        self._prices = {**DEFAULT_PRICES, **(prices or {})}
        self._warned: set[str] = set()

    @classmethod
    def from_json(cls, text: str | None) -> PriceTable:
        return cls(parse_prices(text))

    def price(self, model_id: str) -> ModelPrice | None:
        return self._prices.get(model_id) or self._prices.get(base_model_id(model_id))

    def cost(self, call: ModelCall) -> float | None:
        """USD for one call, or None (logged once per model) when the model has no price."""
        price = self.price(call.model)
        if price is None:
            if call.model not in self._warned:
                self._warned.add(call.model)
                log.warning(
                    "no price for model; its calls are counted at $0 (set PRICES)",
                    extra={"model": call.model},
                )
            return None
        return price.cost(call)
