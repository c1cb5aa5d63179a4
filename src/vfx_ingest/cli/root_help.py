"""The root ``--help``, drawn with rich's panels directly.

typer's own rich help imports a Markdown parser and most of rich (about 0.14 s on a
2-core machine); the root help needs neither, and start-up is what CI scripts pay on every
call. Sub-commands keep typer's rich help.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


def _panel(title: str, rows: list[tuple[str, str]]) -> Panel:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for name, text in rows:
        table.add_row(name, text)
    return Panel(table, title=title, title_align="left", box=box.ROUNDED, border_style="dim")


def render(group: Any, ctx: Any, commands: dict[str, tuple[str, str, str]]) -> None:
    console = Console()
    usage = " ".join(group.collect_usage_pieces(ctx))
    heading = Text.assemble(("Usage: ", "yellow"), (f"{ctx.command_path} {usage}", "bold"))
    parts: list[Any] = [Padding(heading, (1, 1, 0, 1))]
    summary, _, details = (group.help or "").partition("\n\n")
    parts.append(Padding(Text(summary.strip()), (1, 1, 1, 1)))
    options = []
    for param in group.get_params(ctx):
        if getattr(param, "hidden", False) or not getattr(param, "opts", None):
            continue
        names = ", ".join([*param.opts, *param.secondary_opts])
        options.append((names, getattr(param, "help", "") or ""))
    parts.append(_panel("Options", options))
    panels: dict[str, list[tuple[str, str]]] = {}
    for name, (_, short_help, panel) in commands.items():
        panels.setdefault(panel, []).append((name, short_help))
    parts.extend(_panel(title, rows) for title, rows in panels.items())
    if details.strip():
        parts.append(Padding(Text(details.strip(), style="dim"), (1, 1, 0, 1)))
    console.print(Group(*parts))
