"""`memprof suppressions RUN_DIR [-o FILE]`."""
import click


@click.command("suppressions")
@click.argument("path", type=click.Path())
@click.option("--output", "-o", "out", type=click.Path(dir_okay=False), default=None,
              help="Where to write [default: RUN_DIR/memcheck.supp].")
@click.option("--frames", type=click.IntRange(1, 23), default=8, show_default=True,
              help="Innermost frames kept per suppression before `...`.")
def command(path, out, frames):
    """Write Valgrind suppressions for every record a memcheck run found (RUN_DIR, or a
    memcheck XML file), one per distinct site and leak kind. Review the file before
    reusing it: a suppressed site is never reported again."""
    from profiler.backends.suppressions import check_file
    from profiler.parsers import memcheck_suppressions

    written, n, skipped = memcheck_suppressions.write_for_run(path, out, frames)
    check_file(written)
    note = f" ({skipped} record(s) without a generated suppression skipped: rerun with --gen-suppressions)" \
        if skipped else ""
    click.echo(f"{n} suppression(s) written to {written}{note}; review before reuse")
