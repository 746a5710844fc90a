"""Per-file work in worker processes: a crash or a hang costs one file, never the batch.

A file from outside can trigger a bug in the code that parses it: the C code behind the readers
(libxml2 through lxml, zlib) can abort or segfault the process that runs it, which Python cannot
catch, and any parser can be made to loop or to allocate without end. `run` therefore calls the
per-file function in child processes:

- each worker gets a batch of items at a time and sends their results back together, at the batch's end
  (or sooner when the batch is slow: `FLUSH_AFTER`); one message per result cost a province's run
  seconds of both sides' time in pickling, system calls and wake-ups;
- each worker counts the items it has finished in memory shared with this process, so a worker's
  position in its batch is known without a message;
- a worker that dies (SIGSEGV, SIGABRT, os._exit, the kernel's OOM killer) costs the item it was on
  (the one after those it had finished): that item gets `failed(item, Failure(...))`, the worker is
  replaced and the rest of its batch goes on; items it had finished whose results it had not sent yet
  are run again by the new worker (the per-item function is pure);
- an item that runs past `timeout` seconds gets the same, and its worker is killed and replaced;
- an exception escaping the function costs that item only (the worker goes on);
- results come back in input order.

Items are pulled from the iterable as the workers need them (intake streams the inbox), so only a
few batches of file bytes are in memory at once. On Linux the workers are forked, inheriting the
loaded campaign; elsewhere they are spawned and get the function and context pickled (`start_method`).

A batch is sent only to a worker that has finished its previous one (it is then waiting to read),
so neither side can block the other on a full pipe, whatever the size of an item or a result.
"""

from __future__ import annotations

import contextlib
import gc
import math
import multiprocessing
import os
import pickle
import select
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
# the callback every job takes to show its progress: (done, total, what is being done now)
Progress = Callable[[int, int, str], None]

FILE_TIMEOUT = 60.0  # seconds one file may take (a form takes a few ms; a 20 MB .xls a few seconds)
BATCH = 32  # items per message to a worker: start-up and messaging amortised, a crash re-queues few
FLUSH_AFTER = 0.25  # seconds a worker holds finished results before sending them, its batch unfinished
PER_WORKER = 150  # fewer expected items than this per extra worker: its start-up would not pay
MEMORY_LIMIT = 2 << 30  # address space a worker may add to what it inherits (POSIX only)
_STARTUP_FAILURES = 3  # workers in a row that die before saying ready: the pool itself is broken
START_METHOD_ENV = "KEPUXL_START_METHOD"  # "spawn" or "fork": overrides the platform's choice


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an item has no result: its worker died, it ran too long, or the function raised."""

    kind: str  # "crashed" | "timeout" | "error"
    detail: str  # "SIGABRT", "退出码 3", "ValueError: …"
    seconds: float = 0.0  # the limit, for "timeout"


class PoolBroken(RuntimeError):
    """Workers die before they can take any work (environment, not input)."""


def start_method() -> str:
    """How workers start: forked on Linux (cheap, and they inherit the loaded campaign; macOS: fork is
    unsafe with its libraries), spawned elsewhere. `KEPUXL_START_METHOD=spawn` spawns them on Linux
    too: the tests run Windows' and macOS's path that way."""
    forced = os.environ.get(START_METHOD_ENV, "")
    if forced in ("fork", "spawn"):
        return forced
    return "fork" if sys.platform.startswith("linux") else "spawn"


def default_workers(expected: int | None) -> int:
    """How many worker processes pay for `expected` items: one, or one per core when there are many."""
    cores = _cores()
    if expected is None:
        return cores
    return max(1, min(cores, expected // PER_WORKER))


def run(
    items: Iterable[T],
    func: Callable[[T, Any], R],
    context: Any,
    *,
    failed: Callable[[Any, Failure], R],
    keep: Callable[[T], Any] = lambda item: item,
    weigh: Callable[[T], int] = lambda item: 0,
    workers: int | None = None,
    expected: int | None = None,
    timeout: float = FILE_TIMEOUT,
    batch: int = BATCH,
    progress: Callable[[int, int, Any], None] | None = None,
    memory_limit: int | None = MEMORY_LIMIT,
    meanwhile: Callable[[], None] | None = None,
) -> list[R]:
    """`[func(item, context) for item in items]`, each call in a worker process; see the module doc.

    Args:
        items: consumed lazily, once.
        func: the per-item function; must be importable by name where workers are spawned.
        context: passed to every call (inherited when forked, pickled once per worker when spawned).
        failed: the result for an item without one: `failed(keep(item), Failure)`. May raise to stop.
        keep: what of an item the parent holds for `failed` and `progress` (drop the bytes here).
        weigh: an item's size in bytes; batches and the read-ahead are also capped by bytes.
        workers: processes to use; default from `expected` and the cores. 0 runs `func` in this
            process, without isolation (debugging and profiling only).
        expected: roughly how many items will come (sizes the pool; progress total until exceeded).
        timeout: seconds one item may take.
        batch: items per message to a worker.
        progress: `progress(done, total, kept_item)` after each result; total = max(expected, seen).
        memory_limit: bytes of address space a worker may allocate beyond what it starts with;
            a parser that runs away gets MemoryError (or dies) instead of swapping the machine.
        meanwhile: work for this process while the workers are busy: called once, when this process
            would first wait for them (at the end when there are no workers). What it raises is raised.

    Raises:
        PoolBroken: workers die before taking any work, several times in a row.
    """
    n_workers = default_workers(expected) if workers is None else workers
    if n_workers == 0:
        done = _in_process(items, func, context, failed, keep, expected, progress)
        if meanwhile is not None:
            meanwhile()
        return done
    pool = _Pool(func, context, failed, keep, weigh, n_workers, timeout, batch, memory_limit)
    pool.meanwhile = meanwhile
    try:
        with gc_paused():  # the results pile up here: the collector would rescan them at every step
            done = pool.run(iter(items), expected or 0, progress)
    finally:
        pool.close()
    if pool.meanwhile is not None:  # the workers never kept this process waiting
        pool.meanwhile()
    return done


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (reference counting still frees what is dropped).

    For code that builds up many objects that are never cyclic garbage (a summary's million cells, a
    province's 10,000 results): the collector would rescan them all again and again as they pile up,
    a quarter of the time spent.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _in_process(
    items: Iterable[T],
    func: Callable[[T, Any], R],
    context: Any,
    failed: Callable[[Any, Failure], R],
    keep: Callable[[T], Any],
    expected: int | None,
    progress: Callable[[int, int, Any], None] | None,
) -> list[R]:
    out: list[R] = []
    for n, item in enumerate(items, start=1):
        try:
            out.append(func(item, context))
        except Exception as exc:
            out.append(failed(keep(item), Failure("error", _describe(exc))))
        if progress:
            progress(n, max(expected or 0, n), keep(item))
    return out


# -- the pool ---------------------------------------------------------------------------------------

READ_AHEAD_STEP = 8  # items pulled between two looks at the workers while reading ahead
BATCH_BYTES = 16 << 20  # a batch (and each worker's share of the read-ahead) holds at most this much
STARTUP_TIMEOUT = 30.0  # seconds a new worker may take to say it is ready


@dataclass
class _Worker:
    process: Any
    tasks: Connection  # parent → worker: batches
    results: Connection  # worker → parent: "ready", then lists of (seq, ok, payload), in order
    finished: Any  # shared counter: items the worker has finished, results sent or not
    ready: bool = False
    received: int = 0  # results received from it
    counted: int = 0  # `finished` when this process last looked
    sent: list[tuple[int, Any]] = field(default_factory=list)  # the batch as sent (re-sent after a death)
    open: deque[tuple[int, Any]] = field(default_factory=deque)  # (seq, kept) not answered yet, in order
    since: float = field(default_factory=time.monotonic)  # start of its current item (or of the worker)

    @property
    def idle(self) -> bool:
        return self.ready and not self.open


class _Pool:
    def __init__(
        self,
        func: Callable[[Any, Any], Any],
        context: Any,
        failed: Callable[[Any, Failure], Any],
        keep: Callable[[Any], Any],
        weigh: Callable[[Any], int],
        size: int,
        timeout: float,
        batch: int,
        memory_limit: int | None,
    ):
        self.func, self.context, self.failed, self.keep, self.weigh = func, context, failed, keep, weigh
        self.size, self.timeout, self.batch, self.memory_limit = size, timeout, batch, memory_limit
        method = start_method()
        self.mp = multiprocessing.get_context(method)
        self.forked = method == "fork"
        self.workers: list[_Worker] = []
        self.startup_failures = 0
        self.queue: deque[tuple[int, Any]] = deque()  # pulled from the items, not sent yet
        self.queued_bytes = 0
        self.retry: deque[tuple[int, Any]] = deque()  # taken back from a dead worker: sent first
        self.results: dict[int, Any] = {}
        self.seen = 0
        self.exhausted = False
        self.meanwhile: Callable[[], None] | None = None  # see run()

    # -- workers ------------------------------------------------------------------------------

    def start(self) -> _Worker:
        task_r, task_w = self.mp.Pipe(duplex=False)
        result_r, result_w = self.mp.Pipe(duplex=False)
        finished = self.mp.RawValue("q", 0)
        # a forked child inherits every descriptor: it closes the parent's ends of all pipes, or a
        # dead worker's pipe would never read as closed (a sibling would still hold it open)
        inherited = [c for w in self.workers for c in (w.tasks, w.results)] + [task_w, result_r]
        proc = self.mp.Process(
            target=_worker_main,
            args=(
                task_r,
                result_w,
                finished,
                self.func,
                self.context,
                self.memory_limit,
                inherited if self.forked else [],
            ),
            daemon=True,
            name="kepuxl-worker",
        )
        proc.start()
        task_r.close()
        result_w.close()
        worker = _Worker(proc, task_w, result_r, finished)
        self.workers.append(worker)
        return worker

    def replace(self, worker: _Worker) -> None:
        """A dead or overrunning worker out, a fresh one in; what it had not answered is sent again."""
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.tasks.close()
        worker.results.close()
        self.workers.remove(worker)
        unanswered = {seq for seq, _ in worker.open}
        self.retry.extendleft(reversed([(seq, item) for seq, item in worker.sent if seq in unanswered]))
        self.start()

    def close(self) -> None:
        for w in self.workers:
            with contextlib.suppress(OSError, ValueError):
                w.tasks.send(None)  # the worker leaves its loop and exits
        deadline = time.monotonic() + 2.0
        for w in self.workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.tasks.close()
            w.results.close()
        self.workers = []

    # -- the loop -----------------------------------------------------------------------------

    def run(
        self, items: Iterator[Any], expected: int, progress: Callable[[int, int, Any], None] | None
    ) -> list[Any]:
        self.items, self.expected, self.progress = items, expected, progress
        readahead = self.batch * (self.size + 1)
        for _ in range(self.size):
            self.start()
        while True:
            for w in list(self.workers):
                if w.idle and (self.retry or self.queue or not self.exhausted):
                    self.dispatch(w)
            waiting = [w for w in self.workers if not w.idle]
            if self.exhausted and not self.queue and not self.retry and not any(w.open for w in waiting):
                break
            # read ahead (intake runs here, alongside the workers) while no worker needs anything
            room = len(self.queue) < readahead and self.queued_bytes < BATCH_BYTES * (self.size + 1)
            if not self.exhausted and room and not any(w.idle for w in self.workers):
                if not self.poll(waiting, 0.0):
                    # a few items between looks at the workers: a look costs as much as pulling an item
                    for _ in range(min(READ_AHEAD_STEP, readahead - len(self.queue))):
                        if not self.pull():
                            break
            elif waiting and not any(w.idle for w in self.workers):
                if self.meanwhile is not None and all(w.ready for w in self.workers):
                    job, self.meanwhile = self.meanwhile, None
                    job()  # the workers are busy: this process does its own share now
                self.poll(waiting, self.wait_for(waiting))
            elif not self.queue and not self.retry and self.exhausted:
                self.poll(waiting, self.wait_for(waiting))  # idle workers, nothing left to give
        return [self.results[i] for i in range(self.seen)]

    def pull(self) -> bool:
        try:
            item = next(self.items)
        except StopIteration:
            self.exhausted = True
            return False
        self.queue.append((self.seen, item))
        self.queued_bytes += self.weigh(item)
        self.seen += 1
        return True

    def dispatch(self, w: _Worker) -> None:
        chunk: list[tuple[int, Any]] = []
        weight = 0
        while len(chunk) < self.batch and (self.retry or self.queue or (not self.exhausted and self.pull())):
            source = self.retry or self.queue
            seq, item = source[0]
            size = self.weigh(item)
            if chunk and weight + size > BATCH_BYTES:
                break
            source.popleft()
            if source is self.queue:
                self.queued_bytes -= size
            chunk.append((seq, item))
            weight += size
        if not chunk:
            return
        w.sent = chunk
        w.open = deque((seq, self.keep(item)) for seq, item in chunk)
        w.since = time.monotonic()
        try:
            w.tasks.send(chunk)
        except (OSError, ValueError):  # it died while idle, before reading: nothing was started
            self.replace(w)

    def done(self, seq: int, result: Any, kept: Any) -> None:
        self.results[seq] = result
        if self.progress:
            self.progress(len(self.results), max(self.expected, self.seen), kept)

    def wait_for(self, waiting: list[_Worker]) -> float:
        now = time.monotonic()
        ends = [w.since + (self.timeout if w.ready else STARTUP_TIMEOUT) - now for w in waiting]
        return max(0.005, min(ends, default=1.0))

    def poll(self, waiting: list[_Worker], timeout: float) -> bool:
        """Take what the workers sent; replace the dead and the overrunning. True if anything happened."""
        by_conn = {w.results: w for w in waiting}
        by_sentinel = {w.process.sentinel: w for w in waiting}
        ready = _wait([*by_conn, *by_sentinel], timeout)
        touched: list[_Worker] = []
        for obj in ready:
            w = by_conn.get(obj) or by_sentinel.get(obj)  # type: ignore[call-overload]
            if w is not None and w not in touched:
                touched.append(w)
        for w in touched:
            if not self.drain(w) or not w.process.is_alive():
                self.drain(w)  # dead now: everything it wrote is in the pipe, read it before blaming an item
                self.died(w)
        now = time.monotonic()
        for w in waiting:
            if w not in self.workers:
                continue
            finished = w.finished.value
            if finished != w.counted:  # it finished an item since the last look: its next began since
                w.counted = finished
                w.since = now
            if not w.ready and now - w.since > STARTUP_TIMEOUT:
                self.died(w)
                touched.append(w)
            elif w.open and now - w.since > self.timeout:
                w.process.kill()  # first: it can finish nothing more while it is judged
                w.process.join()
                self.drain(w)  # what it sent before it stuck
                stuck = self.current(w)
                if stuck is not None:
                    seq, kept = stuck
                    self.done(seq, self.failed(kept, Failure("timeout", "", self.timeout)), kept)
                self.replace(w)
                touched.append(w)
        return bool(touched)

    def current(self, w: _Worker) -> tuple[int, Any] | None:
        """Take out of `w.open` the item the worker is on: the one after those it has finished (their
        results, unsent, are lost with it; they stay open and are run again). None: it had finished all."""
        at = w.finished.value - w.received
        if not 0 <= at < len(w.open):
            return None
        w.open.rotate(-at)
        item = w.open.popleft()
        w.open.rotate(at)
        return item

    def drain(self, w: _Worker) -> bool:
        """Read every message the worker has sent; False when its pipe reads as closed (it died)."""
        try:
            while _readable(w.results):
                msg = w.results.recv()
                if msg == "ready":
                    w.ready = True
                    w.since = time.monotonic()
                    self.startup_failures = 0
                    continue
                for seq, ok, payload in msg:
                    expected, kept = w.open.popleft()
                    if seq != expected:
                        raise RuntimeError(f"worker answered item {seq}, expected {expected}")
                    w.received += 1
                    if not w.open:
                        w.sent = []  # the batch is answered: drop its bytes now, not at the next batch
                    self.done(seq, payload if ok else self.failed(kept, Failure("error", payload)), kept)
                w.since = time.monotonic()
        except (EOFError, OSError):
            return False
        return True

    def died(self, w: _Worker) -> None:
        w.process.join(1)
        if w.process.is_alive():  # closed its pipe or missed its start-up deadline, yet still running
            w.process.kill()
            w.process.join()
        if not w.ready:
            self.startup_failures += 1
            if self.startup_failures >= _STARTUP_FAILURES:
                raise PoolBroken(f"工作进程无法启动（{_exit_text(w.process.exitcode)}）")
        elif w.open:
            crashed = self.current(w)
            if crashed is not None:
                seq, kept = crashed
                self.done(seq, self.failed(kept, Failure("crashed", _exit_text(w.process.exitcode))), kept)
        self.replace(w)


# -- the worker side ----------------------------------------------------------------------------------


def _worker_main(
    tasks: Connection,
    results: Connection,
    finished: Any,
    func: Callable[[Any, Any], Any],
    context: Any,
    memory_limit: int | None,
    inherited: list[Connection],
) -> None:
    for conn in inherited:
        conn.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _limit_memory(memory_limit)
    # what a forked worker inherits (the campaign, its roster) is never garbage: keep the collector
    # from scanning it again and again, and from touching (so copying) those pages
    gc.freeze()
    # a worker forked while the parent paused the collector (`run`) would never collect: each xlsxwriter
    # workbook it builds (a feedback form) is cyclic garbage, and it grew by ~0.25 MB a form
    gc.enable()
    results.send("ready")
    while True:
        try:
            chunk = tasks.recv()
        except EOFError:
            return
        if chunk is None:
            return
        done: list[tuple[int, bool, Any]] = []
        held = time.monotonic()
        for seq, item in chunk:
            try:
                done.append((seq, True, func(item, context)))
            except Exception as exc:  # the item's failure, reported; the worker goes on
                done.append((seq, False, _describe(exc)))
            del item
            finished.value += 1  # after the result is held: the parent counts it as finished
            if time.monotonic() - held >= FLUSH_AFTER:
                _send(results, done)
                done, held = [], time.monotonic()
        if done:
            _send(results, done)


def _send(results: Connection, done: list[tuple[int, bool, Any]]) -> None:
    try:
        results.send(done)
    except (TypeError, AttributeError, pickle.PicklingError):  # a result that cannot travel: find it
        for seq, ok, payload in done:
            try:
                results.send([(seq, ok, payload)])
            except (TypeError, AttributeError, pickle.PicklingError) as exc:
                results.send([(seq, False, _describe(exc))])


def _limit_memory(extra: int | None) -> None:
    if extra is None or not sys.platform.startswith("linux"):
        return
    import resource

    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            size = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = size + extra
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        if soft == resource.RLIM_INFINITY or soft > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (OSError, ValueError):
        pass


# -- helpers ----------------------------------------------------------------------------------------


def _wait(objects: list[Any], timeout: float) -> list[Any]:
    """multiprocessing.connection.wait (connections and process sentinels), by one poll(2) on POSIX.

    wait() builds and fills a new selector each call; the pool calls it for every result message.
    """
    if not hasattr(select, "poll"):
        return wait(objects, timeout)
    waiting = select.poll()
    by_fd = {}
    for obj in objects:
        fd = obj if isinstance(obj, int) else obj.fileno()
        by_fd[fd] = obj
        waiting.register(fd, select.POLLIN)
    return [by_fd[fd] for fd, _ in waiting.poll(math.ceil(timeout * 1000))]


def _readable(conn: Connection) -> bool:
    """`conn.poll()`: a message (or the end of the pipe) is there to read, without waiting.

    On POSIX, Connection.poll builds a new selector on every call; a province's 10,000 results took
    ~0.3 s of the parent's time in it. One poll(2) on the descriptor answers the same question.
    """
    if not hasattr(select, "poll"):
        return conn.poll()
    waiting = select.poll()
    waiting.register(conn.fileno(), select.POLLIN)
    return bool(waiting.poll(0))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _exit_text(code: int | None) -> str:
    if code is None:
        return "进程无响应"
    if code < 0:
        try:
            return f"进程被信号 {signal.Signals(-code).name} 终止"
        except ValueError:
            return f"进程被信号 {-code} 终止"
    return f"进程异常退出，退出码 {code}"


def _cores() -> int:
    if hasattr(os, "process_cpu_count"):
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1
