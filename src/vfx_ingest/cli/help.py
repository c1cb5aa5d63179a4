"""Help text as a reader expects it, whatever typer's defaults.

- Usage names arguments the conventional way, ``CLIP`` (``[SHOT]`` when optional), not
  typer's ``{clip}``.
- A flag (``--help`` too) shows no ``<bool>`` placeholder: it takes no value.
- A group's help ends with examples, gathered from its commands' own examples (the first
  of each), so the two never disagree.
- Choices that live in registries (stages, backends) are listed from the registries.

:func:`polish` applies the first three to a command tree as it is loaded
(``cli.load_command``); the command modules use :func:`stage_choices` and
:func:`backend_choices` in their option help.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption


class _Argument(TyperArgument):
    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        name = name if self.required else f"[{name}]"
        return f"{name}..." if self.nargs != 1 else name


def polish(command: Any) -> Any:
    """``command`` (and its sub-commands) with the help conventions above; returned."""
    for param in command.params:
        if isinstance(param, TyperArgument):
            param.metavar = param.metavar or param.name.upper()
            param.__class__ = _Argument
        elif isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    make_help_option = command.get_help_option

    def help_option(ctx: Any) -> Any:  # made per command on first use, by click
        option = make_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for sub in subcommands.values():
            polish(sub)
        if not command.epilog:
            command.epilog = _examples(subcommands.values())
    return command


def _examples(subcommands: Any) -> str:
    lines = []
    for sub in subcommands:
        for line in (sub.epilog or "").splitlines():
            if "vfx-ingest" in line:
                lines.append(f"  {line.strip()}")
                break
    return "Examples:\n\n" + "\n\n".join(lines) if lines else ""


def stage_choices() -> str:
    from ..stages import REGISTRY

    return ", ".join(REGISTRY)


def backend_choices() -> str:
    from ..backends import BACKENDS

    return ", ".join(BACKENDS)
