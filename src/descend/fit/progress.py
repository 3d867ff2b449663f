"""Progress as a run goes: a rich bar on a terminal, an HTML bar in a Jupyter notebook, a plain line every N steps
in logs, nothing when off."""
from __future__ import annotations

import html
import numbers
import sys
import time

from ..core.errors import DescendError
from ..core.loop import Callback, LoopState, never


def _summary(record: dict) -> str:
    parts = [f"loss {record['loss']:.4g}"]
    parts += [f"{k} {v:.4g}" for k, v in record.items() if k.startswith("val_") and isinstance(v, float)]
    parts.append(f"lr {record['lr']:.2e}")
    return "  ".join(parts)


def _stopped(state: LoopState) -> str:
    """The run's last line: how long it ran and why it stopped, also when Ctrl-C or an error cut it short (the
    loop's on_end then runs while that exception is raised)."""
    steps = f"{state.step} step{'' if state.step == 1 else 's'}"
    return f"stopped after {steps} ({state.elapsed():.1f} s): {state.stop_reason or _cut_short()}"


def _cut_short() -> str:
    raised = sys.exc_info()[1]
    if isinstance(raised, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    return f"ended by an error ({type(raised).__name__}, below)"


class PlainProgress(Callback):
    """One line every `every` steps and after every evaluation, for logs and CI."""

    needs_sync = never   # prints records whenever the loop settles them

    def __init__(self, every: int | None = None, stream=None):
        self.every, self.stream = every, stream or sys.stderr
        self.latest_eval: dict = {}

    def on_start(self, state: LoopState) -> None:
        if self.every is None:
            self.every = max((state.total_steps or 1000) // 10, 1)

    def _line(self, state: LoopState, record: dict) -> None:
        total = f"/{state.total_steps}" if state.total_steps else ""
        shown = {**record, **self.latest_eval}
        print(f"step {state.step}{total}  epoch {state.epoch}  {_summary(shown)}", file=self.stream, flush=True)

    def on_step(self, state, record):
        if state.step % self.every == 0:
            self._line(state, record)

    def on_evaluate(self, state, record):
        self.latest_eval = {k: v for k, v in record.items() if k.startswith("val_")}

    def on_end(self, state):
        print(_stopped(state), file=self.stream, flush=True)


class LiveProgress(Callback):
    """A display redrawn in place: at most ten times a second as steps go, and at every evaluation, showing the
    latest record; subclasses draw it (`show`)."""

    needs_sync = never
    refresh = 0.1   # seconds between redraws

    def __init__(self):
        self.next_refresh = 0.0

    def show(self, state: LoopState, info: str) -> None: ...

    def on_step(self, state, record):
        now = time.perf_counter()
        if now >= self.next_refresh:
            self.next_refresh = now + self.refresh
            self.show(state, _summary(record))

    def on_evaluate(self, state, record):
        self.show(state, _summary(record))


class RichProgress(LiveProgress):
    """A live bar with the latest loss on stderr (stdout stays the program's own)."""

    def __init__(self):
        super().__init__()
        self.console, self.progress = _rich_bar("fit")

    def on_start(self, state):
        self.progress.start()
        self.task = self.progress.add_task("fit", total=state.total_steps, info="")

    def show(self, state, info):
        self.progress.update(self.task, completed=state.step, info=info)

    def on_end(self, state):
        # a run of unknown length (auto's L-BFGS until converged) fills its bar when it ends
        self.progress.update(self.task, total=state.total_steps or state.step, completed=state.step)
        self.progress.stop()
        self.console.print(_stopped(state), markup=False, highlight=False)


def _rich_bar(label: str):
    """A rich console on stderr and the bar every descend task shows there: label, bar, n/total, time, info."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    console = Console(stderr=True)
    return console, Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                             TextColumn("{task.fields[info]}"), transient=False, console=console)


class WorkBar:
    """Progress of a counted piece of work that is not a training run (the points of a landscape grid, Hessian
    products): fit's rich bar on a terminal; in logs a plain line at a tenth done, at most one every `PAUSE`
    seconds (work that takes a second writes none), or every N units with progress=N; nothing with
    progress=False. Use it as a context manager and call `advance()` per unit done."""

    PAUSE = 2.0

    def __init__(self, total: int, label: str, progress: bool | int = True, stream=None):
        check(progress)
        self.total, self.label, self.done = max(int(total), 1), label, 0
        self.stream = stream or sys.stderr
        self.quiet = progress is False or progress is None
        self.rich = None if self.quiet or not (progress is True and self.stream.isatty()) else _rich_bar(label)[1]
        self.every = max(self.total // 10, 1) if progress is True else int(progress)
        self.pause = self.PAUSE if progress is True else 0.0

    def __enter__(self) -> "WorkBar":
        if self.rich is not None:
            self.rich.start()
            self.task = self.rich.add_task(self.label, total=self.total, info="")
        self.started = self.last_line = time.perf_counter()
        return self

    def advance(self, count: int = 1) -> None:
        before, self.done = self.done, self.done + count
        if self.rich is not None:
            self.rich.update(self.task, completed=self.done)
        elif not self.quiet and self.done // self.every > before // self.every:
            now = time.perf_counter()
            if now - self.last_line >= self.pause:
                self.last_line = now
                print(f"{self.label} {self.done}/{self.total}  {now - self.started:.1f} s", file=self.stream,
                      flush=True)

    def __exit__(self, *exc) -> None:
        if self.rich is not None:
            self.rich.stop()


class NotebookProgress(LiveProgress):
    """An HTML progress bar in the notebook cell's output, updated in place (IPython's display, which every
    Jupyter kernel has: no widget library needed)."""

    refresh = 0.25   # each redraw travels to the browser

    def on_start(self, state):
        from IPython.display import display
        self.handle = display(self._html(state, ""), display_id=True)

    def show(self, state, info):
        self.handle.update(self._html(state, info))

    def on_end(self, state):
        self.handle.update(self._html(state, _stopped(state)))

    def _html(self, state: LoopState, info: str):
        from IPython.display import HTML
        total = state.total_steps
        bar = f'<progress value="{state.step}" max="{total}"' if total else "<progress"   # no total: indeterminate
        count = f"{state.step}/{total}" if total else f"{state.step}"
        return HTML(f'<div style="font-family:monospace;font-size:12px">fit {bar} style="width:16em;'
                    f'vertical-align:middle"></progress> {count} steps, {state.elapsed():.1f} s '
                    f"&nbsp; {html.escape(info)}</div>")


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (Jupyter, VS Code, Colab: all run ipykernel), by the test tqdm.auto
    makes: IPython is loaded and its shell belongs to a kernel app."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def check(progress) -> None:
    """Refuse a `progress=` that is not True, False, None or a positive number of steps between lines."""
    if progress is None or isinstance(progress, bool):
        return
    if not isinstance(progress, numbers.Integral) or progress < 1:
        raise DescendError(f"progress must be True (a bar on a terminal, lines in logs), False (nothing) or a "
                           f"positive number of steps between lines, got {progress!r}")


def reporter(progress: bool | int) -> list[Callback]:
    """The progress callback for a checked `progress=` (see `check`): True picks by terminal, an int sets the
    plain line interval."""
    if progress is False or progress is None:
        return []
    if progress is True and in_notebook():
        return [NotebookProgress()]
    if progress is True and sys.stderr.isatty():
        return [RichProgress()]
    return [PlainProgress(None if progress is True else int(progress))]
