"""Progress bars for long work on the command line (rich), silent otherwise."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Advance = Callable[[int, int], None]


def _silent(done: int, total: int) -> None:
    return None


@contextmanager
def stage_bar(enabled: bool) -> Iterator[Callable[[str, int], Advance]]:
    """Yield a factory ``bar(description, total) -> advance(done, total)``.

    With ``enabled`` False every bar is a no-op, so library calls stay quiet.
    """
    if not enabled:
        yield lambda description, total: _silent
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        transient=False,
    ) as prog:

        def bar(description: str, total: int) -> Advance:
            task = prog.add_task(description, total=total)

            def advance(done: int, total_: int) -> None:
                prog.update(task, completed=done, total=total_)

            return advance

        yield bar
