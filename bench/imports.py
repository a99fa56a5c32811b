"""Benchmark of 'geokb import': a generated event file of N rows (GDELT 1.0 and ICEWS
layouts, in /tmp), imported into a copy of data/ by the real command in a child process.

Prints a table: rows, seconds, rows per second, peak memory (the child's maximum RSS), bytes
of YAML written, and the same against a baseline measured in the same run (reading and
splitting the file's lines, the least any import must do). With --build, also builds the
result (validate + store) and reports what that costs; at a million rows that is beyond
this machine (see bench/README.md), so it is measured at a smaller size.

    .venv/bin/python bench/imports.py                  # 1,000,000 rows, both formats
    .venv/bin/python bench/imports.py --rows 100000 --build
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GEOKB = Path(sys.executable).parent / "geokb"
CODES = ["RUS", "USA", "UKR", "IRN", "CHN", "IND", "TUR", "FRA", "DEU", "ISR", "AFR", ""]
EVENTS = ["010", "0231", "036", "042", "043", "057", "0841", "111", "112", "1246", "130", "190"]
COUNTRIES = ["Russian Federation", "Iran", "United States", "Ukraine", "China", "India", "Turkey"]


def gdelt_file(path: Path, rows: int) -> None:
    """A GDELT 1.0 file: 58 columns (a third with 57), a few unmappable rows."""
    r = random.Random(1)
    with path.open("w", encoding="utf-8") as f:
        for i in range(rows):
            a, b = r.sample(CODES, 2)
            date = f"20{r.randint(10, 24)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}"
            cells = [""] * 57
            cells[0], cells[1], cells[2], cells[3] = str(300000000 + i), date, date[:6], date[:4]
            cells[5], cells[6], cells[7] = a, f"NAME {a}", a
            cells[15], cells[16], cells[17] = b, f"NAME {b}", b
            code = r.choice(EVENTS)
            cells[25], cells[26], cells[27], cells[28] = "1", code, code[:3], code[:2]
            cells[30], cells[31], cells[34], cells[56] = "-2.0", "4", "-1.25", date
            if i % 3:
                cells.append(f"https://news.example.org/{date}/story-{i}.html")
            f.write("\t".join(cells) + "\n")


def icews_file(path: Path, rows: int) -> None:
    """An ICEWS file with its header."""
    from kb.imports.events import ICEWS_COLUMNS

    r = random.Random(2)
    with path.open("w", encoding="utf-8") as f:
        f.write("\t".join(ICEWS_COLUMNS) + "\n")
        for i in range(rows):
            a, b = r.sample(COUNTRIES, 2)
            date = f"20{r.randint(10, 22)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
            f.write(
                f"{20000000 + i}\t{date}\tGovernment ({a})\tGovernment\t{a}\tConsult\t040\t1.0\t"
                f"Citizen ({b})\tSocial\t{b}\t{r.randint(10**7, 10**8)}\t1\tReuters\tMoscow\t\t"
                f"\t{a}\t55.75\t37.61\n"
            )


def baseline(path: Path) -> float:
    """Seconds to read and split every line: the floor under any import."""
    started = time.perf_counter()
    with path.open(encoding="utf-8") as f:
        for line in f:
            line.rstrip("\r\n").split("\t")
    return time.perf_counter() - started


def child(args: list[str], cwd: Path) -> tuple[float, int]:
    """Seconds and peak RSS (MB) of a geokb command in a child process: wait4's rusage of
    that child, whose maxrss is the largest of it and of the worker processes it waited for."""
    started = time.perf_counter()
    proc = subprocess.Popen([str(GEOKB), *args], cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"geokb {args[0]} failed ({proc.returncode})")
    return seconds, usage.ru_maxrss // 1024


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--build", action="store_true", help="also validate and build")
    args = parser.parse_args()
    print(f"geokb import, {args.rows:,} rows per file ({time.strftime('%Y-%m-%d')})\n")
    print("| format | rows | baseline s | import s | rows/s | x baseline | peak RSS MB | YAML MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    builds = []
    with tempfile.TemporaryDirectory(prefix="geokb-bench-imports-") as tmp:
        work = Path(tmp)
        for fmt, make, name in (
            ("gdelt", gdelt_file, "events.tsv"),
            ("icews", icews_file, "events.tab"),
        ):
            source = work / name
            make(source, args.rows)
            folder = work / fmt
            shutil.copytree(ROOT / "data", folder / "data")
            floor = baseline(source)
            seconds, peak = child(
                ["import", "events", str(source), "--format", fmt, "--no-validate"], folder
            )
            written = sum(p.stat().st_size for p in (folder / "data" / "imported").rglob("*"))
            print(
                f"| {fmt} | {args.rows:,} | {floor:.2f} | {seconds:.2f} | "
                f"{args.rows / seconds:,.0f} | {seconds / floor:.1f} | {peak} | "
                f"{written / 2**20:.0f} |"
            )
            # the same file again as a newer export: every fact compared with the last import
            again = ["import", "events", str(source), "--format", fmt, "--no-validate"]
            seconds, peak = child([*again, "--version", "again"], folder)
            print(
                f"| {fmt} re-import | {args.rows:,} | {floor:.2f} | {seconds:.2f} | "
                f"{args.rows / seconds:,.0f} | {seconds / floor:.1f} | {peak} | "
                f"{written / 2**20:.0f} |"
            )
            if args.build:
                row = [fmt, f"{args.rows:,}"]
                for step in (["validate"], ["build", "--quiet", "--store", str(folder / "s")]):
                    try:
                        took, peak = child(step, folder)
                        row += [f"{took:.1f}", str(peak)]
                    except RuntimeError as exc:
                        row += [str(exc), "-"]
                builds.append(row)
            source.unlink()
    if builds:
        print("\n| format | rows | validate s | peak RSS MB | build s | peak RSS MB |")
        print("|---|---:|---:|---:|---:|---:|")
        for row in builds:
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
