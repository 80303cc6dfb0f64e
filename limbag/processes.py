"""The processes a build starts end with it: when it finishes, fails, is interrupted or is killed.

A build starts the other layout processes, a joining process and a helper (see
typeset.RemoteLane, join.JoiningProcess and pipeline.build), and a catalog a pool of workers.
Each of them, first thing, ignores Ctrl-C (the build's own process answers it for all, once)
and asks the kernel to end it when its parent ends, even by SIGKILL or the out-of-memory
killer; their pipes to the parent close then too, which is how they notice elsewhere than on
Linux. Ctrl-C is held back from the moment a process is started until it ignores it, so that no
child ever prints a traceback.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from multiprocessing.context import ForkContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

T = TypeVar("T")
PR_SET_PDEATHSIG = 1
INTERRUPTS = {signal.SIGINT}
BUILD_COLLECTOR_THRESHOLDS = (20_000, 10, 10)
"""When the cycle collector runs during a build (see collecting_less_often)."""


def process_context() -> ForkContext | SpawnContext:
    """Fork where the system can and this process runs one thread: a forked process has the engine
    and fonts loaded already, where a spawned one spends half a second importing them. With other
    threads about (`watch` has its file watcher's), a fork could inherit a lock no one will
    release, so the process is spawned."""
    if "fork" in multiprocessing.get_all_start_methods() and _one_thread():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _one_thread() -> bool:
    try:
        return len(os.listdir("/proc/self/task")) == 1  # every thread, the ones Python did not start too
    except OSError:
        return threading.active_count() == 1


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C back in this thread while it starts processes: they inherit the held signal, and
    let it through only once they ignore it (`become_child`)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, INTERRUPTS)


def with_stack_room(work: Callable[..., T], *args: Any) -> T:
    """`work(*args)`, run above a frame that reserves room for Python's frames of some 160 kB.

    CPython (3.11 on) keeps the frames of running functions in chunks of 16 kB, and frees a
    chunk as soon as the first frame in it returns. The layout engine's recursion goes back and
    forth across a chunk's edge: a 30-chapter build had the kernel map and unmap some 70,000
    chunks, a quarter of the time its processes spent in the kernel. The chunk that holds the
    frame made here is large, outlives the work, and holds all but the deepest of its frames.
    Elsewhere (other versions and interpreters) it is a call like any other."""
    return _call_with_room(work, args)


def _call(work: Callable[..., T], args: tuple[Any, ...]) -> T:
    return work(*args)


STACK_ROOM = 20_000
"""Frame slots of 8 bytes that with_stack_room reserves."""
_call_with_room = types.FunctionType(_call.__code__.replace(co_stacksize=STACK_ROOM), globals(), "_call_with_room")


@contextmanager
def collecting_less_often() -> Iterator[None]:
    """Python's cycle collector runs after every 700 new objects; a layout makes millions that live
    until their part is written, and each run of the collector walks the young ones again. After
    20,000 it runs a thirtieth as often: a build is 2–6% faster, for some 5% more peak memory. The
    processes the build starts are forked with the setting, or set it first thing."""
    before = gc.get_threshold()
    gc.set_threshold(*BUILD_COLLECTOR_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def become_child(parent: int) -> None:
    """First thing in a process a build starts: leave Ctrl-C to the parent, end with it, and
    collect cycles as the build does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.set_threshold(*BUILD_COLLECTOR_THRESHOLDS)
    _end_with_parent()
    if os.getppid() != parent:  # it ended before the kernel was told to end this one with it
        os._exit(1)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, INTERRUPTS)


def _end_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)  # the C library this process has loaded already
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def start_with_pipe(serve: Callable[[Connection, Connection | None, int], None]) -> tuple[Connection, BaseProcess]:
    """Start a process that runs `serve(its end of a pipe, this end if it was forked, this process's
    id)` and ends with this process; returns this end of the pipe and the process. A forked process
    has this end too: it closes it, so that it sees the pipe close when this process ends."""
    context = process_context()
    ours, theirs = context.Pipe()
    inherited = ours if isinstance(context, ForkContext) else None
    process = context.Process(target=with_stack_room, args=(serve, theirs, inherited, os.getpid()), daemon=True)
    with interrupts_held():
        process.start()
    theirs.close()
    return ours, process


def process_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """A pool whose workers end with this process; they are started at once (the first task starts
    them, in this thread), while this process has started no thread."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=process_context(), initializer=become_child,
                               initargs=(os.getpid(),))
    with interrupts_held():
        pool.submit(os.getpid)
    return pool


def read_ahead(connection: Connection, stop: tuple[Any, ...],
               at_once: Callable[[Any], bool] | None = None) -> queue.SimpleQueue[Any]:
    """The requests from the main process, read as they come by a thread of their own. Both
    processes send without waiting for the other to read: the main process may be sending a large
    part (a chapter of formulas is a megabyte of HTML) while this one sends a written part or a
    book back, and if neither read, both would wait for ever once the pipe (some 64 kB) is full.
    Read here whatever this process is doing, the main process's sends always finish; ours wait
    until it reads. A request whose first item is `stop`'s ends the reading; so does the main
    process's end, as `stop`. A request that `at_once` takes (returns True for) is not queued: it
    is seen as it comes, ahead of those waiting."""
    requests: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def read() -> None:
        try:
            while True:
                request = connection.recv()
                if at_once is not None and at_once(request):
                    continue
                requests.put(request)
                if request[0] == stop[0]:
                    return
        except (EOFError, OSError):  # the main process has gone
            requests.put(stop)

    threading.Thread(target=read, name="requests", daemon=True).start()
    return requests


def send_behind(connection: Connection) -> Callable[[Any], None]:
    """A `send` that returns at once: the answers are sent in order by a thread of their own, so
    that this process goes on with the next request while the main process, busy elsewhere, has
    not yet read a large answer (a book of some megabytes fills the pipe many times over). Once
    the main process has gone, answers are dropped."""
    answers: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def write() -> None:
        try:
            while True:
                connection.send(answers.get())
        except OSError:  # the main process has gone
            return

    threading.Thread(target=write, name="answers", daemon=True).start()
    return answers.put
