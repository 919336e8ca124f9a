"""What a format reader hands back before the loader normalizes it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    """A piece of a document with its own place in citations: a slide, or a row of a sheet."""

    text: str
    unit: str  # "slide" | "row"
    number: int  # the slide number, or the row number as the spreadsheet shows it
    sheet: str = ""  # rows: the sheet's name

    @property
    def location(self) -> str:
        return location_of(self, self)


def location_of(first: Part, last: Part) -> str:
    """ "slide 3", "sheet Rates, row 5" or "sheet Rates, rows 5-9" (first and last of a run)."""
    numbers = f"{first.number}" if first.number == last.number else f"{first.number}-{last.number}"
    unit = first.unit if first.number == last.number else f"{first.unit}s"
    place = f"{unit} {numbers}"
    return f"sheet {first.sheet}, {place}" if first.sheet else place


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str
    encoding: str = ""
    parts: tuple[Part, ...] = ()
    notes: tuple[str, ...] = ()
