"""Every JSON memprof writes (analysis.json, report.json, meta.json, each command's --json) goes
through here: strict JSON (NaN and infinities become null, numpy scalars plain numbers) and, for
the results users build on, a `schema` tag naming the document and its version.

The tag's documents are described by profiler/schema/analysis.schema.json, shipped in the
package; bump a version when a key is removed or changes meaning (adding keys does not).
"""
from __future__ import annotations

import json
import math

# kind -> the tag its documents carry
SCHEMAS = {"analysis": "memprof.analysis/1", "check": "memprof.check/1", "compare": "memprof.compare/1"}


def plain(v):
    """numpy scalars -> Python numbers (NaN kept: the caller decides what it means)."""
    if hasattr(v, "item") and not isinstance(v, (list, tuple, dict, str, bytes)):
        try:
            return v.item()
        except (ValueError, AttributeError, TypeError):
            return str(v)
    return v


def json_safe(obj):
    """A copy that strict JSON can hold: non-finite floats become None, recursively."""
    obj = plain(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def tagged(doc: dict, kind: str) -> dict:
    """`doc` with its schema tag first (an existing tag is kept)."""
    return {"schema": doc.get("schema", SCHEMAS[kind]), **doc}


def dumps(obj, kind: str | None = None, indent: int | None = 2) -> str:
    """Strict JSON text of `obj` (tagged as `kind` when given); anything else JSON lacks becomes str."""
    if kind is not None:
        obj = tagged(obj, kind)
    return json.dumps(json_safe(obj), indent=indent, default=str, allow_nan=False)
