"""Typed results that the stages hand each other (below every layer, importing none).

Each stage's output is a frozen dataclass built on `codec.Record`, so the next stage reads
attributes the type checker and the tests can see, never string keys of a dict that nothing
checks. `to_json()` gives the documented JSON (profiler/schema/analysis.schema.json) and
`from_json()` reads it back, so a saved analysis.json is the same object when the report
stage runs alone.
"""
from profiler.results.codec import Record, field_key

__all__ = ["Record", "field_key"]
