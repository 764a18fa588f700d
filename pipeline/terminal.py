"""The command line's two streams, stdout and stderr. On a terminal rich draws the
styles and tables; written to a pipe, a log or a batch job's file, the lines a run
prints are plain text and rich is never imported, so an offline `polex run` does not
pay for it at start-up (`tests/test_speed_paths.py`). Commands that draw rich
objects (tables of scores, JSON) use ``Stream.print``, which is rich's."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console


class Stream:
    """stdout, or stderr with ``stderr=True``, looked up at each print (so a test
    runner that swaps ``sys.stdout`` captures what is printed)."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def file(self) -> TextIO:
        return sys.stderr if self._stderr else sys.stdout

    @property
    def is_terminal(self) -> bool:
        try:
            return self.file.isatty()
        except (AttributeError, ValueError):  # no stream, or a closed one
            return False

    @property
    def rich(self) -> Console:
        """A rich console on this stream (rich is imported on first use)."""
        if self._console is None:
            from rich.console import Console

            # long paths stay on one line (greppable logs)
            self._console = Console(stderr=self._stderr, soft_wrap=True)
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        """rich's ``Console.print`` (markup, tables, highlighting)."""
        self.rich.print(*objects, **options)

    def say(self, text: str, label: str = "", style: str = "") -> None:
        """One line of plain ``text`` (never read as markup), after ``label`` in
        ``style`` on a terminal ("error:" in bold red)."""
        if not self.is_terminal:
            self.file.write(f"{label} {text}\n" if label else f"{text}\n")
            return
        from rich.text import Text

        line = Text.assemble((label, style), " ", text) if label else Text(text, style=style)
        self.rich.print(line)

    def table(self, title: str, rows: Sequence[tuple[str, str]]) -> None:
        """Rows of (name, value): a rich table on a terminal, else the title and one
        ``name: value`` line per row."""
        if not self.is_terminal:
            self.file.write("".join([f"{title}\n", *(f"  {name}: {value}\n" for name, value in rows)]))
            return
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, show_header=False)
        for name, value in rows:
            table.add_row(Text(name), Text(value))
        self.rich.print(table)
