"""`memprof models`: what each model alias resolves to (user, env, config or synthetic twin)."""
import json

import click


@click.command("models")
@click.option("--model-path", "model_paths", multiple=True, metavar="ALIAS=PATH",
              help="Override an alias, as for `memprof run`.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option("--write-twins", is_flag=True, help="Write the synthetic twins that are missing now.")
def command(model_paths, as_json, write_twins):
    """List the aliases 0.6b, 1.7b, tiny-0.6b and tiny-1.7b with their source, path, size and
    whether the file exists. Resolution order: --model-path > MEMPROF_MODEL_0_6B / _1_7B >
    the [models] table of $MEMPROF_CONFIG (~/.config/memprof/config.toml) > synthetic twin
    in $MEMPROF_CACHE (~/.cache/memprof/models), written on first use."""
    from profiler import models as M

    overrides = M.parse_overrides(model_paths)
    if write_twins:
        for row in M.list_models(overrides):
            if row["source"] == "twin" and not row["exists"]:
                M.ensure_twin(row["alias"])
    rows = M.list_models(overrides)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    header = ("alias", "source", "size", "exists", "path")
    table = [header] + [(r["alias"], r["source"], _size(r["size"]), "yes" if r["exists"] else "no", r["path"])
                        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])


def _size(n) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
