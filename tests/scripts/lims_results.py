#!/usr/bin/env python3
"""Test script: writes the script-runner reference's LIMS_results.csv example and a PDF report.

Usage: lims_results.py RUNDIR [PLATE]. Writes RUNDIR/LIMS_results.csv (one row per well of the
reference's example, plus rows the remapping must drop) and RUNDIR/out/results-<plate>.pdf,
then prints one line to stdout.
"""

import csv
import sys
from pathlib import Path

ROWS = [
    # Plate_384_Number, Sample_Well, marker1, marker2, classification
    ("1", "A01", "CATCTGTATC", "ATGAGACTTG", "failed: low S2 & RPP30"),
    ("1", "A02", "GTTCGGCATG", "CCAATCTGAG", "negative"),
    ("NA", "A03", "TTGGCAGTAC", "GATTACAGCA", "positive"),
]

PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)


def main() -> int:
    rundir = Path(sys.argv[1])
    plate = sys.argv[2] if len(sys.argv) > 2 else "n1a54tmd"
    with (rundir / "LIMS_results.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Plate_384_Number", "Sample_Well", "marker1", "marker2", "classification"])
        writer.writerows(ROWS)
    (rundir / "out" / f"results-{plate}.pdf").write_bytes(PDF)
    print(f"wrote {len(ROWS)} rows for plate {plate}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
