"""One job on one worker: its frames, put back in `seq` order, as signals for the relay."""

from __future__ import annotations

from dataclasses import dataclass

from .mailbox import Mailbox
from .protocol import ChunkFrame, DoneFrame, ErrorFrame, JobFrame, StatusFrame


@dataclass(frozen=True, slots=True)
class Status:
    http_status: int
    headers: dict[str, str]
    response_type: str = "basic"


@dataclass(slots=True, unsafe_hash=True)  # one per chunk: immutable by convention, see TextDelta
class Data:
    text: str


@dataclass(frozen=True, slots=True)
class End:
    pass


@dataclass(frozen=True, slots=True)
class Failed:
    """The browser could not perform the job (network error, reCAPTCHA, page gone)."""

    message: str
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class Lost:
    """The worker went away while the job ran."""

    reason: str


Signal = Status | Data | End | Failed | Lost


class Job:
    __slots__ = (
        "_done_at",
        "_next_seq",
        "_out_of_order",
        "_status_seen",
        "finished",
        "id",
        "signals",
        "worker_id",
    )

    def __init__(self, job_id: str, worker_id: str) -> None:
        self.id = job_id
        self.worker_id = worker_id
        self.signals: Mailbox[Signal] = Mailbox()
        self.finished = False
        self._next_seq = 0
        self._out_of_order: dict[int, str] = {}
        self._done_at: int | None = None
        self._status_seen = False

    def deliver(self, frame: JobFrame) -> None:
        if self.finished:
            return
        if isinstance(frame, ChunkFrame):
            self._chunk(frame)
        elif isinstance(frame, StatusFrame):
            if not self._status_seen:  # a re-sent push may repeat it
                self._status_seen = True
                self.signals.put_nowait(
                    Status(frame.http_status, frame.headers, frame.response_type)
                )
        elif isinstance(frame, DoneFrame):
            self._done_at = frame.seq
            self._maybe_end()
        elif isinstance(frame, ErrorFrame):
            self._finish(Failed(frame.message, frame.http_status))

    def _chunk(self, frame: ChunkFrame) -> None:
        if frame.seq == self._next_seq:
            self.signals.put_nowait(Data(frame.data))
            self._next_seq += 1
            while self._next_seq in self._out_of_order:
                self.signals.put_nowait(Data(self._out_of_order.pop(self._next_seq)))
                self._next_seq += 1
            self._maybe_end()
        elif frame.seq > self._next_seq:
            self._out_of_order[frame.seq] = frame.data
        # seq below next: a duplicate; dropped

    def _maybe_end(self) -> None:
        if self._done_at is not None and self._next_seq >= self._done_at:
            self._finish(End())

    def _finish(self, signal: Signal) -> None:
        self.finished = True
        self._out_of_order.clear()
        self.signals.put_nowait(signal)

    def lose(self, reason: str) -> None:
        if not self.finished:
            self._finish(Lost(reason))
