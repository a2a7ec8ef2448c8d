"""``kefu settings``: show resolved settings or print the reference table."""

from __future__ import annotations

import click

from kefu.platform.settings import SPECS, settings_reference_markdown


@click.command("settings")
@click.option("--markdown", is_flag=True, help="Print the configuration reference table.")
@click.pass_obj
def command(obj, markdown: bool) -> None:
    """Show every setting with its value and where it came from."""
    if markdown:
        click.echo(settings_reference_markdown(), nl=False)
        return
    settings = obj.settings
    for spec in SPECS:
        value = settings[spec.key]
        if spec.key == "secret_key" and value:
            value = "(set)"
        source = settings.sources.get(spec.key, "derived")
        click.echo(f"{spec.key} = {value}    # {source}")
