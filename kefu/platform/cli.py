"""The ``kefu`` command.

Command groups live in ``kefu/platform/commands/<module>.py``. They are imported only when
used, so ``kefu check`` does not pay for Pyramid, SQLAlchemy and Alembic at start-up: the
table below names each command's module without importing it.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from kefu.platform.settings import Settings, SettingsError, load_settings

# command name -> module in kefu.platform.commands (attribute = the command object)
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("serve", "serve"),
    "web": ("serve", "web"),
    "runtime": ("serve", "runtime"),
    "worker": ("serve", "worker"),
    "db": ("db", "command"),
    "tenant": ("admin", "tenant"),
    "user": ("admin", "user"),
    "token": ("admin", "token"),
    "demo": ("admin", "demo"),
    "settings": ("settings_cmd", "command"),
    "apply": ("configs", "apply"),
    "rollback": ("configs", "rollback"),
    "simulate-load": ("acd", "simulate_load"),
}
# Modules whose ``commands`` list is read at start-up; they must import nothing heavy.
LIGHT_COMMAND_MODULES = ("dsl",)


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


class LazyGroup(click.Group):
    def _light_commands(self) -> dict[str, click.Command]:
        found: dict[str, click.Command] = {}
        for name in LIGHT_COMMAND_MODULES:
            try:
                module = importlib.import_module(f"kefu.platform.commands.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"kefu.platform.commands.{name}":
                    raise
                continue
            for command in getattr(module, "commands", []):
                found[command.name] = command
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*LAZY_COMMANDS, *self._light_commands(), *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in LAZY_COMMANDS:
            module_name, attribute = LAZY_COMMANDS[cmd_name]
            module = importlib.import_module(f"kefu.platform.commands.{module_name}")
            command: Any = getattr(module, attribute)
            return command
        return self._light_commands().get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", envvar="KEFU_CONFIG", type=click.Path(dir_okay=False),
              help="ini file with a [kefu] section (or set KEFU_CONFIG).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """kefu — the contact center from one text config."""
    ctx.obj = KefuContext(config_path)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
