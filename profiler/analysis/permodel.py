"""Per-model figures of a switch loop: what each model's switch leaves behind, and how fast it runs.

net_mb_per_switch is the seed's "net leak per switch": the mean, over this
model's iterations, of RSS after the iteration minus RSS after the previous
one (the first iteration has no previous one and is skipped). The same mean
over the stable phase only is given too, because warmup growth would
otherwise be charged to whichever model happened to run first. The peak while
serving (rss_peak: the iteration's high-water mark, the model loaded and
generating) and the RSS right after the load say what each model needs.
"""
from __future__ import annotations

import numpy as np

from profiler.results.series import ModelRow
from profiler.stats import MB, rnd

MEAN_FIELDS = ("load_s", "ttft_s", "gen_s", "unload_s", "tokens_per_s", "token_error_rate")


def per_model(df, stable_from: int | None = None) -> dict[str, ModelRow]:
    """{model: {...}} for a DataFrame sorted by iteration; {} without a `model` column."""
    if "model" not in df.columns or df["model"].isna().all():
        return {}
    rss_mb = df["rss"].to_numpy(dtype=float) / MB
    delta = np.concatenate([[np.nan], np.diff(rss_mb)])
    pos = np.arange(len(df))
    models = df["model"].astype(object).where(df["model"].notna(), "(none)").astype(str).to_numpy()
    out = {}
    for m in dict.fromkeys(models):      # first-seen order
        mask = models == m
        d = delta[mask]
        d_ok = d[~np.isnan(d)]
        row = {
            "iterations": int(mask.sum()),
            "net_mb_per_switch": rnd(d_ok.mean()) if d_ok.size else None,
            "rss_mean_mb": rnd(rss_mb[mask].mean()),
        }
        if stable_from is not None:
            ds = delta[mask & (pos >= stable_from)]
            ds = ds[~np.isnan(ds)]
            row["net_mb_per_switch_stable"] = rnd(ds.mean()) if ds.size else None
        for col, key in (("rss_after_load", "rss_after_load_mean_mb"), ("rss_peak", "rss_peak_mean_mb")):
            if col in df.columns:
                vals = df.loc[mask, col].astype(float).dropna()
                row[key] = rnd(vals.mean() / MB) if len(vals) else None
        if "rss_peak" in df.columns:
            vals = df.loc[mask, "rss_peak"].astype(float).dropna()
            row["rss_peak_max_mb"] = rnd(vals.max() / MB) if len(vals) else None
        for col in MEAN_FIELDS:
            if col in df.columns:
                vals = df.loc[mask, col].astype(float).dropna()
                row[col] = rnd(vals.mean(), 4) if len(vals) else None
        out[m] = ModelRow(**row)
    return out
