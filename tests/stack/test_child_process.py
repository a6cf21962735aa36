"""A process of `rlhf up` has its output shown verbatim, whatever it prints."""

from __future__ import annotations

import io
import os
import sys

from rich.console import Console

from services.stack import ChildProcess

# Far more than a pipe holds (64 KiB): a child whose output is no longer read blocks on its next write.
MANY_LINES = "for i in range(4000): print(f'saved [/tmp/{i}] as [bold]{i}[/bold]')"


def test_child_output_that_looks_like_markup_is_shown_verbatim_to_the_last_line() -> None:
    out = io.StringIO()
    child = ChildProcess(
        "worker",
        [sys.executable, "-c", MANY_LINES],
        dict(os.environ),
        Console(file=out, width=200),
        log_file=None,
    )
    assert child.process.wait(60) == 0
    child.pump.join(30)
    shown = out.getvalue().splitlines()
    assert len(shown) == 4000
    assert shown[-1] == "   worker | saved [/tmp/3999] as [bold]3999[/bold]"
