"""The ``kefu`` command. Each command group lives in ``kefu/platform/commands/<name>.py`` and
exposes a click command or group named ``command``; they are listed here in help order."""

from __future__ import annotations

import importlib
import sys

import click

from kefu.platform.settings import Settings, SettingsError, load_settings

COMMAND_MODULES = (
    "serve",  # kefu serve | web | runtime | worker
    "db",  # kefu db upgrade | downgrade | check | current
    "admin",  # kefu tenant add, kefu user add, kefu token add, kefu demo load
    "dsl",  # kefu check | fmt | plan | apply | rollback | test | simulate
    "settings_cmd",  # kefu settings
)


class KefuContext:
    """Lazily resolved settings shared by all commands of one invocation."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_path)
            except SettingsError as exc:
                raise click.ClickException(f"bad configuration: {exc}") from None
        return self._settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", envvar="KEFU_CONFIG", type=click.Path(dir_okay=False),
              help="ini file with a [kefu] section (or set KEFU_CONFIG).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """kefu — the contact center from one text config."""
    ctx.obj = KefuContext(config_path)


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"kefu.platform.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"kefu.platform.commands.{name}":
                continue  # a command group not written yet
            raise
        commands = getattr(module, "commands", None) or [module.command]
        for command in commands:
            main.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
