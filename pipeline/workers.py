"""Articles processed in several processes (``polex run --workers N``).

Each worker process is started fresh (spawn), builds the run's schemas and backend
once from a ``WorkerSetup`` and then processes whole articles: extraction,
grounding and checks, exactly as the single-process run does, returning the
article's part. The parent keeps everything else (writing parts, resume, outputs),
so the run directory is the same whatever the number of workers.

Only backends that compute in the process gain from this: the offline backend and
the in-process llama backend. The HTTP backends already overlap their requests
(``--concurrency``), so they refuse ``--workers``."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from polex.pipeline.artifacts import Part
from polex.pipeline.backends import Backend, BackendOptions, create
from polex.pipeline.records import Article
from polex.pipeline.registry import select
from polex.pipeline.spec import SchemaSpec

if TYPE_CHECKING:  # process pools are imported when a run has workers, not at start-up
    from concurrent.futures import ProcessPoolExecutor

# The backends whose work is computation in the process itself.
IN_PROCESS_BACKENDS = ("offline", "llamacpp")


class WorkersRefused(ValueError):
    """``--workers`` asked of a backend that does not compute in the process."""


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker needs to rebuild the run's schemas and backend (picklable: it
    is sent to every new process)."""

    count: int
    backend: str
    options: BackendOptions = field(default_factory=BackendOptions)
    schemas: tuple[str, ...] = ()  # names as given on the command line; empty: all
    schema_dirs: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if self.count < 1:
            raise WorkersRefused(f"--workers must be at least 1, not {self.count}")
        if self.count > 1 and self.backend not in IN_PROCESS_BACKENDS:
            raise WorkersRefused(
                f"--workers runs articles in several processes for the {' and '.join(IN_PROCESS_BACKENDS)} "
                f"backends; the {self.backend} backend sends requests, which --concurrency already "
                "overlaps: use --concurrency instead"
            )


@dataclass
class _Built:
    """What a worker process builds at its start: the run's schemas and backend, and
    one event loop that runs all its articles. (``asyncio.run`` per article would make
    a loop each time and, in a process's main thread, install a Ctrl-C handler whose
    check formats the previous article's whole part as text: milliseconds each.)"""

    specs: list[SchemaSpec]
    backend: Backend
    loop: asyncio.AbstractEventLoop


_built: _Built | None = None


def _start_worker(setup: WorkerSetup) -> None:
    """Runs once in each new worker process. Ctrl-C goes to the whole process group:
    the parent alone handles it (saves what is finished and stops the workers)."""
    global _built
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _built = _Built(
        select(setup.schemas, setup.schema_dirs),
        create(setup.backend, setup.options),
        asyncio.new_event_loop(),
    )


def _process_in_worker(article: Article) -> Part:
    from polex.pipeline.runner import process_article  # the runner imports this module

    assert _built is not None, "worker used before _start_worker ran"
    return _built.loop.run_until_complete(process_article(article, _built.specs, _built.backend))


class WorkerPool:
    """N worker processes taking articles. ``process`` is awaited like the
    in-process path; a worker that dies (killed, out of memory) fails the articles it
    held with a message saying so, and a new pool takes the next articles."""

    def __init__(self, setup: WorkerSetup) -> None:
        self.setup = setup
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(
            max_workers=self.setup.count,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.setup,),
        )

    async def process(self, article: Article) -> Part:
        from concurrent.futures.process import BrokenProcessPool

        executor = self._executor
        try:
            return await asyncio.wrap_future(executor.submit(_process_in_worker, article))
        except BrokenProcessPool as exc:
            if executor is self._executor:  # the first article to notice replaces the pool
                executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._new_executor()
            raise WorkerDied(f"the worker process running article {article.id} died ({exc})") from exc

    def close(self) -> None:
        """Stops the workers, also in the middle of an article (an interrupted run):
        what they hold would not be saved."""
        # ProcessPoolExecutor has no public way to end running tasks before Python
        # 3.14 (terminate_workers); its process table is the one handle on them.
        processes = list((getattr(self._executor, "_processes", None) or {}).values())
        self._executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()


class WorkerDied(RuntimeError):
    """A worker process ended while it held an article."""
