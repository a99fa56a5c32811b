"""Realistic synthetic data in geokb's own YAML format, for the benchmarks.

    .venv/bin/python bench/synthetic.py OUT_DIR --triples 100000 [--files 100]

Writes the real states file plus generated sources, weapon systems, territories, disputes,
diplomatic events and (mostly) arms transfers, spread over about ``--files`` files, sized to
give roughly ``--triples`` triples. Deterministic for a given size.
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRIPLES_PER_TRANSFER = 13  # measured on this generator's records
CATEGORIES = [
    "combat aircraft",
    "main battle tank",
    "air defence system",
    "armed UAV",
    "loitering munition",
    "frigate",
    "submarine",
    "self-propelled howitzer",
]
STATUSES = ["ordered", "delivering", "delivered", "cancelled"]


def state_ids() -> list[str]:
    """The ids of the real states file."""
    text = (ROOT / "data" / "states.yaml").read_text(encoding="utf-8")
    return [
        line.split("id: ", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("  - id: ") and len(line.strip()) == 9
    ]


def generate(out: Path, triples: int, files: int = 100, seed: int = 7) -> dict[str, int]:
    """Write the synthetic data set into ``out``; return record counts by kind."""
    rng = random.Random(seed)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy(ROOT / "data" / "states.yaml", out / "states.yaml")
    states = state_ids()
    n_transfers = max(10, triples // TRIPLES_PER_TRANSFER)
    n_sources = max(5, n_transfers // 100)
    n_weapons = max(5, min(2000, n_transfers // 50))
    n_events = max(5, n_transfers // 50)
    n_disputes = max(3, n_transfers // 500)

    base = ["sources:"]
    for i in range(n_sources):
        base += [
            f"  - id: report-{i}",
            f"    title: Synthetic report number {i}",
            f"    publisher: Publisher {i % 37}",
            f'    issued: "{2000 + i % 25}"',
        ]
    base.append("weapon_systems:")
    for i in range(n_weapons):
        base += [
            f"  - id: weapon-{i}",
            f"    label: Weapon {i}",
            f"    category: {CATEGORIES[i % len(CATEGORIES)]}",
            f"    developed_by: [state/{states[i % len(states)]}]",
        ]
    base.append("territories:")
    for i in range(n_disputes):
        base += [f"  - id: territory-{i}", f"    label: Territory {i}", "    type: region"]
    base.append("disputes:")
    # every claimant of a dispute has its claim record (validate requires it); the claims
    # draw nothing from rng, so the rest of the data stays as it was
    claims = ["sovereignty_claims:"]
    for i in range(n_disputes):
        a, b = rng.sample(states, 2)
        base += [
            f"  - id: dispute-{i}",
            f"    label: Dispute {i}",
            f"    territories: [territory-{i}]",
            f"    claimants: [{a}, {b}]",
            f"    administered_by: [{a}]",
            f'    start_date: "{1900 + i % 120}"',
            f"    sources: [report-{rng.randrange(n_sources)}]",
        ]
        for claimant in (a, b):
            claims += [
                f"  - id: {claimant.lower()}-claims-dispute-{i}",
                f"    dispute: dispute-{i}",
                f"    claimant: {claimant}",
                f"    position: Territory {i} belongs to {claimant}.",
                f"    sources: [report-{i % n_sources}]",
            ]
    base += claims
    (out / "base.yaml").write_text("\n".join(base) + "\n", encoding="utf-8")

    events = ["diplomatic_events:"]
    for i in range(n_events):
        a, b = rng.sample(states, 2)
        events += [
            f"  - id: event-{i}",
            f"    label: Event {i}",
            "    event_type: ambassador summoned",
            '    cameo: "11"',
            f"    actors: [{a}]",
            f"    targets: [{b}]",
            f"    date: {2000 + i % 25}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            f"    about: [dispute/dispute-{i % n_disputes}]",
            f"    sources: [report-{rng.randrange(n_sources)}]",
        ]
    (out / "events.yaml").write_text("\n".join(events) + "\n", encoding="utf-8")

    chunks = max(1, files - 3)
    per_file = -(-n_transfers // chunks)
    for f in range(chunks):
        lines = ["arms_transfers:"]
        for i in range(f * per_file, min(n_transfers, (f + 1) * per_file)):
            a, b = rng.sample(states, 2)
            year = 1990 + i % 35
            weapon = rng.randrange(n_weapons)
            ordered = rng.randint(1, 500)
            delivered = min(rng.randint(0, 500), ordered)  # the build refuses more
            lines += [
                f"  - id: transfer-{i}",
                f"    label: Transfer {i}",
                f"    supplier: {a}",
                f"    recipient: {b}",
                f"    weapon_systems: [weapon-{weapon}]",
                f"    quantity_ordered: {ordered}",
                f"    quantity_delivered: {delivered}",
                f'    order_date: "{year}"',
                f"    delivery_start_date: {year + 1}-{1 + i % 12:02d}",
                f"    transfer_status: {STATUSES[i % len(STATUSES)]}",
                f"    sources: [report-{rng.randrange(n_sources)}]",
            ]
        (out / f"transfers-{f:03d}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {
        "transfers": n_transfers,
        "sources": n_sources,
        "weapons": n_weapons,
        "events": n_events,
        "disputes": n_disputes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--triples", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=100)
    args = parser.parse_args()
    counts = generate(args.out, args.triples, args.files)
    print(f"wrote {args.out}: {counts}")


if __name__ == "__main__":
    main()
