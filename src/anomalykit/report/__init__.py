"""A report a person can read: one self-contained HTML page with the key numbers,
figures and tables, plus the same figures as PNG, the numbers as JSON and the
tables as CSV (needs the ``[plot]`` extra)."""

from ._write import ReportFiles, write_report

__all__ = ["ReportFiles", "write_report"]
