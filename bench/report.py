"""The latest results as one Markdown table (for the README): `python -m bench.report`."""

from __future__ import annotations

import json

from bench.common import RESULTS

ORDER = ("ack", "overhead", "concurrency", "burst", "memory", "retrieval", "cost", "language")


def main() -> int:
    lines = ["| benchmark | metric | measured | target | |", "|---|---|---|---|---|"]
    dates, machines = set(), set()
    for name in ORDER:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text("utf-8"))
        dates.add(data["date"][:10])
        machine = data["machine"]
        machines.add(f"{machine['cpu']}, {machine['cores']} cores, Python {machine['python']}")
        for row in data["rows"]:
            if not row["target"]:
                continue
            mark = "met" if row["ok"] else "**missed**"
            lines.append(
                f"| `{name}` | {row['metric']} | {row['value']} | {row['target']} | {mark} |"
            )
    print("\n".join(lines))
    print()
    print(f"Measured {', '.join(sorted(dates))} on {'; '.join(sorted(machines))}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
