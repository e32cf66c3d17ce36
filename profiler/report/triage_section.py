"""Placeholder until triage lands: the report's per-site section (owned by triage)."""


def markdown(result: dict) -> str:
    return ""


def html(result: dict) -> str:
    return ""
