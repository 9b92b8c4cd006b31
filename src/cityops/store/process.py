"""A write process: the server's writes run, group-committed, in a process of their own.

Why: the server is one event loop on one core. Running each write's statements, codec and
hash chain on that loop costs as much as the rest of the request. A separate process (as a
database server would be) takes that work to the other core; the loop only pickles the
operation, sends it, and waits for the answer, which comes only after the batch's COMMIT
returned: an acknowledged write is as durable as before.

Operations are module-level functions `op(repo, context, *args)` (picklable by name); the
child builds its own `context` (the platform) from the same database. Frames on the socket
are a 4-byte little-endian length and a pickle: parent → child a list of
`(seq, op, args)`, child → parent a list of `(seq, ok, value)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import pickle
import socket
import subprocess
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from cityops.errors import CityopsError
from cityops.store.writer import Outcome, commit_batch, is_storage_fault

T = TypeVar("T")
Op = Callable[..., Any]
HEADER = 4
# A batch bigger than this is split: one COMMIT should not keep the first caller waiting long.
MAX_ITEMS = 512


class WriterUnavailable(CityopsError):
    status = 503
    code = "writer_unavailable"


def frame(payload: Any) -> bytes:
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return len(body).to_bytes(HEADER, "little") + body


class ProcessWriter:
    """The parent's side: send operations (at once when the child is idle, else once per loop
    iteration), and resolve each caller's future with its answer."""

    def __init__(self, argv: Sequence[str]) -> None:
        self._argv = list(argv)  # the child's command; the socket's fd number is appended
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: asyncio.StreamWriter | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._queued: list[tuple[int, Op, tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._starting: asyncio.Lock | None = None

    async def start(self) -> None:
        """Spawn the child and wait until it is ready (it has loaded its context)."""
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen([*self._argv, str(theirs.fileno())], pass_fds=(theirs.fileno(),))
        theirs.close()
        reader, self._out = await asyncio.open_connection(sock=ours, limit=2**26)
        try:
            ready = await _read_frame(reader)
        except (asyncio.IncompleteReadError, OSError) as exc:
            self._out.close()
            raise WriterUnavailable(f"the write process did not start ({exc!r}); see the server's log",
                                    "写入进程未能启动，请查看服务日志") from None
        if ready != "ready":
            raise WriterUnavailable(f"the write process did not start: {ready!r}", "写入进程未能启动")
        self._reader = asyncio.get_running_loop().create_task(self._answers(reader))

    async def run(self, op: Op, *args: Any) -> Any:
        if self._out is None or self._out.is_closing():
            # Not started, or the child died: (re)start it once, whoever asks first.
            self._starting = self._starting or asyncio.Lock()
            async with self._starting:
                if self._out is None or self._out.is_closing():
                    await self.start()
        loop = asyncio.get_running_loop()
        seq = next(self._seq)
        fut: asyncio.Future[Any] = loop.create_future()
        idle = not self._waiting
        self._waiting[seq] = fut
        self._queued.append((seq, op, args))
        if idle:
            self._send()  # the child has nothing to do: start it now
        elif len(self._queued) == 1:
            loop.call_soon(self._send)  # after everything ready this iteration has queued
        return await fut

    def _send(self) -> None:
        queued, self._queued = self._queued, []
        if not queued:
            return  # sent already
        assert self._out is not None
        try:
            self._out.write(frame(queued))
        except Exception as exc:  # noqa: BLE001 - e.g. an argument that cannot be pickled
            for seq, _, _ in queued:
                self._fail(seq, exc)

    def _fail(self, seq: int, exc: BaseException) -> None:
        fut = self._waiting.pop(seq, None)
        if fut is not None and not fut.done():
            fut.set_exception(exc)

    async def _answers(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                for seq, ok, value in await _read_frame(reader):
                    fut = self._waiting.pop(seq, None)
                    if fut is None or fut.done():
                        continue  # the caller went away; the write stands all the same
                    fut.set_result(value) if ok else fut.set_exception(value)
        except Exception as exc:  # noqa: BLE001 - the child died, or sent what cannot be read
            gone = WriterUnavailable(f"the write process stopped ({exc!r}); retry the request",
                                     "写入进程已停止，请重试")
            if self._out is not None:
                self._out.close()  # a child still running sees end of input and exits
            # Whether these were committed is unknown: the caller is told so, not told "done".
            for seq in list(self._waiting):
                self._fail(seq, gone)

    async def close(self) -> None:
        if self._out is not None:
            self._out.close()  # the child sees end of input, finishes its batch and exits
        if self._proc is not None:
            try:
                await asyncio.to_thread(self._proc.wait, 30)
            except subprocess.TimeoutExpired:
                self._proc.kill()  # stuck (say, on a lock another process holds): its batch was never answered
        if self._reader is not None:
            self._reader.cancel()


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    size = int.from_bytes(await reader.readexactly(HEADER), "little")
    return pickle.loads(await reader.readexactly(size))  # noqa: S301 - our own child, over a socketpair


def serve_writes(sock: socket.socket, connect: Callable[[], Any], wrap: Callable[[Any], Any], context: Any) -> None:
    """The child's loop: read every complete frame there is, run them as one batch, answer."""
    conn = connect()
    repo = wrap(conn)
    sock.sendall(frame("ready"))
    buf = bytearray()
    while True:
        items = _take_frames(sock, buf)
        if items is None:
            break
        for start in range(0, len(items), MAX_ITEMS):
            chunk = items[start:start + MAX_ITEMS]
            work = [_bind(op, context, args) for _, op, args in chunk]
            outcomes = commit_batch(conn, repo, work)
            sock.sendall(_answer([seq for seq, _, _ in chunk], outcomes))
            if is_storage_fault(outcomes):
                # A connection that met a read-only or full disk may stay refused after the
                # fault clears: the next batch gets a fresh one (and recovers by itself).
                conn, repo = _reopen(conn, connect, wrap, repo)
    conn.close()


def _reopen(conn: Any, connect: Callable[[], Any], wrap: Callable[[Any], Any], repo: Any) -> tuple[Any, Any]:
    try:
        fresh = connect()
    except Exception:  # noqa: BLE001 - still failing: keep the old one, try again next time
        return conn, repo
    with contextlib.suppress(Exception):
        conn.close()
    return fresh, wrap(fresh)


def _bind(op: Op, context: Any, args: tuple[Any, ...]) -> Callable[[Any], Any]:
    return lambda repo: op(repo, context, *args)


def _answer(seqs: list[int], outcomes: list[Outcome]) -> bytes:
    # An error that would not survive the trip (its class cannot be rebuilt from its pickle)
    # is sent as its text instead, so the parent never fails to read an answer.
    answers = [(seq, ok, value if ok or _crosses(value) else RuntimeError(repr(value)))
               for seq, (ok, value) in zip(seqs, outcomes, strict=True)]
    try:
        return frame(answers)
    except Exception:  # noqa: BLE001 - an unpicklable result: say what it was instead
        return frame([(seq, ok, value if _crosses(value) else RuntimeError(repr(value)))
                      for seq, ok, value in answers])


def _crosses(value: Any) -> bool:
    try:
        pickle.loads(pickle.dumps(value))  # noqa: S301
    except Exception:  # noqa: BLE001
        return False
    return True


def _take_frames(sock: socket.socket, buf: bytearray) -> list[Any] | None:
    """Block for at least one whole frame, then take every whole frame already received."""
    items: list[Any] = []
    while True:
        while len(buf) >= HEADER:
            size = int.from_bytes(buf[:HEADER], "little")
            if len(buf) < HEADER + size:
                break
            items.extend(pickle.loads(bytes(buf[HEADER:HEADER + size])))  # noqa: S301
            del buf[:HEADER + size]
        if items:
            try:  # more already waiting joins this batch
                more = sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return items
        else:
            more = sock.recv(1 << 20)
        if not more:
            return items or None
        buf += more
