"""What every bench shares: its command line, progress lines, Markdown tables, the facts a
report starts with, and main() run with clean-up on Ctrl-C and SIGTERM."""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import psutil  # type: ignore[import-untyped]  # no stubs in the lock file

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))  # the benches import the project (seed, storage, cost, ...)


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def positive(kind: type[float] | type[int]) -> Callable[[str], Any]:
    def parse(text: str) -> float | int:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0: {text}")
        return value

    return parse


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module's text as written, and every option's default (flags and `None` show none)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.nargs == 0 or action.default is None:
            return action.help
        return super()._get_help_string(action)


def parser(description: str | None, output: Path | None) -> argparse.ArgumentParser:
    """A bench's parser, with `--output FILE` (its Markdown report) defaulting to `output`."""
    found = argparse.ArgumentParser(description=description, formatter_class=_HelpFormatter)
    found.add_argument("--output", type=Path, default=output, help="the report (Markdown)")
    return found


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table aligned for the terminal too: first column left, the others right."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [cells[0].ljust(widths[0])]
        padded += [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(["-" * (widths[0] + 2)] + ["-" * (w + 1) + ":" for w in widths[1:]])
    return [line(header), rule + "|", *(line(row) for row in rows)]


def facts(**more: str) -> dict[str, str]:
    """What a report starts with: when, what code, the command, the machine; then `more`."""
    git = ["git", "rev-parse", "--short=12", "HEAD"]
    commit = subprocess.run(git, cwd=ROOT, capture_output=True, text=True, check=False).stdout
    found = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text("utf-8"))
    memory = psutil.virtual_memory().total / 2**30
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit.strip() or "unknown (not a git checkout)",
        "command": f"`{shlex.join(['python', *sys.argv])}`",
        "machine": f"{found[1] if found else '?'}, {os.cpu_count()} cores, {memory:.0f} GiB,"
        f" {platform.system()} {platform.release()}",
        "load average at start": ", ".join(f"{value:.2f}" for value in os.getloadavg()),
        **more,
    }


def write_report(path: Path, text: str) -> None:
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    progress(f"report written to {path}")


def _stop(signum: int, _frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


def run(main: Callable[[], int]) -> NoReturn:
    """Exits with main()'s status; 1 after a RuntimeError, 130 after Ctrl-C. SIGTERM unwinds
    like Ctrl-C, so every `finally` (stopping servers and stores) runs."""
    signal.signal(signal.SIGTERM, _stop)
    try:
        status = main()
    except RuntimeError as error:
        progress(f"failed: {error}")
        status = 1
    except KeyboardInterrupt:
        progress("interrupted")
        status = 130
    sys.exit(status)
