"""Options shared by the commands that analyse (analyze, report, check, compare)."""
import click

rules_option = click.option(
    "--rules", "rules", multiple=True, type=click.Path(dir_okay=False),
    help="Extra classification rules (TOML); they take precedence over the shipped ones.",
)
block_option = click.option("--block", default=10, show_default=True, type=click.IntRange(2, 10000),
                            help="Iterations per block in the block statistics.")
