"""Markdown tables for the benchmark reports, aligned for the terminal too."""

from __future__ import annotations


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """First column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [cells[0].ljust(widths[0])]
        padded += [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(["-" * (widths[0] + 2)] + ["-" * (w + 1) + ":" for w in widths[1:]])
    return [line(header), rule + "|", *(line(row) for row in rows)]
