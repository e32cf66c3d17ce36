"""Figures more than one layer must agree on: a change to one of them changes every stage at once."""
from __future__ import annotations

# memprof's "MB" is the MiB of /proc (2**20 bytes), in every table, plot and verdict
MB = float(1 << 20)

# Mann-Kendall p below which a series (or a level sequence: troughs, peaks, a late phase) counts as
# trending; strict because a false leak verdict costs a person an investigation
TREND_P = 0.01
