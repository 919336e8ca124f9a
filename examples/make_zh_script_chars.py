"""Regenerate `bot/zh_script_chars.py`: characters written in only one Chinese script.

Uses OpenCC's character tables (`pip install opencc`, not a dependency of the bot: loaded
it adds ~31 MB resident for two converters; the two sets below cost well under 1 MB):
a character is Traditional-only if OpenCC's t2s changes it and no Simplified character
converts to it, and the other way round. Run from the repository root:

    python examples/make_zh_script_chars.py > bot/zh_script_chars.py
"""

from __future__ import annotations

import opencc  # type: ignore[import-not-found]

CJK = range(0x4E00, 0xA000)  # CJK Unified Ideographs: every character of everyday text


def main() -> None:
    s2t, t2s = opencc.OpenCC("s2t"), opencc.OpenCC("t2s")
    chars = [chr(c) for c in CJK]
    traditional = {c for c in chars if t2s.convert(c) != c}
    simplified = {c for c in chars if s2t.convert(c) != c}
    # A character some conversion produces is valid in that script (后 -> 後, but 后 stays).
    hant_only = traditional - {t2s.convert(c) for c in traditional}
    hans_only = simplified - {s2t.convert(c) for c in simplified}
    both = hant_only & hans_only  # variant forms OpenCC maps both ways (藴/蕴, 麽/么)
    hant_only, hans_only = hant_only - both, hans_only - both
    print('"""Characters written in only one Chinese script (generated from OpenCC 1.4.2 tables')
    print('by examples/make_zh_script_chars.py; do not edit)."""')
    print()
    print(f'HANT_ONLY = frozenset("{"".join(sorted(hant_only))}")')
    print(f'HANS_ONLY = frozenset("{"".join(sorted(hans_only))}")')


if __name__ == "__main__":
    main()
