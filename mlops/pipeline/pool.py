"""What the pipelines of one build share: one pool of step slots (the compute cluster's max
nodes, across every model of the build), one warm fork server, and cancellation.

A build opens ``shared_pool()`` around its models; each pipeline run inside it (in any thread
that copied the context) takes its slots and its warm server from there. A pipeline run outside
one gets a pool of its own, closed when it ends.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from mlops.pipeline.launch import ForkServer, LaunchError

# "spawn": every step starts as a new interpreter (no fork server); anything else: warm start.
START_ENV = "FACTORY_STEP_START"
# native thread pools a step's libraries size from the environment (see thread_variables)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_CURRENT: contextvars.ContextVar[StepPool | None] = contextvars.ContextVar("step_pool",
                                                                          default=None)


def warm_by_default() -> bool:
    return os.environ.get(START_ENV, "fork").strip().lower() != "spawn"


def thread_variables(max_nodes: int) -> dict[str, str]:
    """As on a cluster, where each node has its own cores, a step gets this machine's cores
    divided by the pool's slots for its native thread pools: two OpenMP steps each spinning a
    thread per core on two cores run many times slower than one each."""
    threads = str(max(1, len(os.sched_getaffinity(0)) // max(1, max_nodes)))
    return dict.fromkeys(THREAD_VARIABLES, threads)


class StepPool:
    def __init__(self, max_nodes: int | None = None, warm: bool | None = None):
        self.max_nodes = max_nodes  # None: taken from the first pipeline that asks
        self.warm = warm_by_default() if warm is None else warm
        self.cancelled = threading.Event()
        self.server_note = ""  # why steps are not forked, when they are not
        self._used = 0
        self._lock = threading.Lock()
        self._server_lock = threading.Lock()
        self._server: ForkServer | None = None
        self._closed = False
        self._warmed = threading.Event()  # set once warm_up's server is ready (or failed)
        self._warming = False

    # -- slots -------------------------------------------------------------------------------
    def try_acquire(self, max_nodes: int) -> bool:
        """Take a step slot if one is free (the first caller fixes the pool's size)."""
        with self._lock:
            if self.max_nodes is None:
                self.max_nodes = max(1, max_nodes)
            if self._used >= self.max_nodes:
                return False
            self._used += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._used = max(0, self._used - 1)

    @property
    def used(self) -> int:
        return self._used

    # -- the warm interpreter ----------------------------------------------------------------
    def server(self, python: str, env: dict[str, str], log: Path,
               modules: Iterable[str], later: Iterable[str] = ()) -> ForkServer | None:
        """The build's fork server with ``modules`` loaded (started on first use), or None when
        steps are spawned (warm start off, the pool closed, or the server could not start: see
        server_note). Waits for its imports outside the lock, so that close() never waits."""
        if not self.warm:
            return None
        modules = list(modules)
        with self._server_lock:
            server = self._server
            if self._closed or (server is None and self.server_note):
                return None
            try:
                if server is None:
                    server = self._server = ForkServer(python, env, log, modules, wait=False,
                                                       later=later)
            except (LaunchError, OSError) as exc:
                self.server_note = f"warm start unavailable, steps are spawned: {exc}"
                return None
        try:
            server.wait_ready()
            if not server.alive:
                raise LaunchError(server.error or "the fork server stopped")
            server.preload(modules)
        except (LaunchError, OSError) as exc:
            with self._server_lock:
                self.server_note = self.server_note or \
                    f"warm start unavailable, steps are spawned: {exc}"
            return None
        return server

    def warm_up(self, python: str, env: dict[str, str], log: Path,
                modules: Callable[[], Iterable[str]],
                later: Callable[[], Iterable[str]] | None = None) -> None:
        """Start the fork server in the background now (a build does so before provisioning
        and tracking set-up), so that its first step need not wait for the whole preload.
        ``modules`` (and ``later``, see ForkServer) are called in that thread; any failure
        leaves the start to the first step."""
        if not self.warm:
            return

        def start() -> None:
            try:
                with contextlib.suppress(Exception):
                    self.server(python, env, log, list(modules()),
                                list(later()) if later else ())
            finally:
                self._warmed.set()

        self._warming = True
        threading.Thread(target=start, name="forkserver-warm-up", daemon=True).start()

    def warmed_server(self, timeout: float | None = None) -> ForkServer | None:
        """The server warm_up started, once its imports are done; None without a warm-up, or
        when it failed (other processes of the build, such as its unit tests, may fork from
        it: the modules they need were in the warm-up's list)."""
        if not self._warming or not self._warmed.wait(timeout):
            return None
        with self._server_lock:
            server = self._server
        return server if server is not None and server.alive and not self._closed else None

    # -- lifetime ----------------------------------------------------------------------------
    def cancel(self) -> None:
        self.cancelled.set()

    def close(self) -> None:
        with self._server_lock:
            self._closed = True
            server = self._server
        if server is not None:
            server.close()


def current_pool() -> StepPool | None:
    return _CURRENT.get()


@contextlib.contextmanager
def shared_pool(max_nodes: int | None = None, warm: bool | None = None) -> Iterator[StepPool]:
    """A pool every pipeline run in this context (and threads that copy it) shares."""
    pool = StepPool(max_nodes, warm)
    token = _CURRENT.set(pool)
    try:
        yield pool
    finally:
        _CURRENT.reset(token)
        pool.close()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """A cancelled CI job sends SIGTERM: stop the steps exactly as on Ctrl-C (main thread only;
    other threads are stopped through their pool's cancellation)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
