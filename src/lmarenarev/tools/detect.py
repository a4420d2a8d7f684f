"""Finding the calls in a reply, as it streams or whole (docs/tools.md).

`CallDetector.feed` hands back the text that can go to the client now: everything before the
first block, held back only while a line could still turn out to start one. From the first
block on, the reply is held; `close` judges it: the calls, or what was botched. Feeding a reply
in any pieces gives the same text and the same verdict as feeding it whole (`find_calls`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..messages import ToolCall
from .blocks import RawBlock, Start, block_start, call_fields, read_block
from .spec import ToolSet
from .validate import call_problem


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a reply's blocks amount to. `held`: the reply from its first block on, as written
    (what goes out as text when the calls cannot be used)."""

    calls: tuple[ToolCall, ...] = ()
    problems: tuple[str, ...] = ()
    held: str = ""

    @property
    def botched(self) -> bool:
        return bool(self.problems)


class CallDetector:
    def __init__(self, tools: ToolSet) -> None:
        self.tools = tools
        self._pending = ""  # not handed back yet; starts at a line start unless `_midline`
        self._midline = False  # the line `_pending` continues cannot start a block
        self._held: list[str] | None = None  # from the first block on

    def feed(self, text: str) -> str:
        """The text that can go out now."""
        if self._held is not None:
            self._held.append(text)
            return ""
        pending = self._pending + text
        pos = 0
        if self._midline:
            newline = pending.find("\n")
            if newline < 0:
                self._pending = ""
                return pending
            pos, self._midline = newline + 1, False
        while True:
            state, _ = block_start(pending, pos)
            if state is Start.NO:
                newline = pending.find("\n", pos)
                if newline < 0:
                    self._pending, self._midline = "", True
                    return pending
                pos = newline + 1
                continue
            if state is Start.YES:
                self._held, self._pending = [pending[pos:]], ""
            else:
                self._pending = pending[pos:]
            return pending[:pos]

    def close(self) -> tuple[str, Verdict]:
        """The text still held that is text after all, and the verdict on the blocks."""
        if self._held is None:
            rest, self._pending = self._pending, ""
            return rest, judge("", self.tools)
        held = "".join(self._held)
        return "", judge(held, self.tools)


def find_calls(text: str, tools: ToolSet) -> tuple[str, Verdict]:
    detector = CallDetector(tools)
    said = detector.feed(text)
    rest, verdict = detector.close()
    return said + rest, verdict


def split_blocks(held: str) -> list[RawBlock]:
    """The blocks of `held` (which starts with one), in order; the text between them is not a
    call (a look-alike, or what the model wrote after its calls)."""
    blocks: list[RawBlock] = []
    pos = 0
    while pos < len(held):
        state, layout = block_start(held, pos)
        if state is Start.YES and layout is not None:
            block, pos = read_block(held, pos, layout)
            blocks.append(block)
        newline = held.find("\n", pos)
        if newline < 0:
            break
        pos = newline + 1
    return blocks


def judge(held: str, tools: ToolSet) -> Verdict:
    blocks = split_blocks(held)
    calls: list[ToolCall] = []
    problems: list[str] = []
    for number, block in enumerate(blocks, start=1):
        label = f"block {number}: " if len(blocks) > 1 else ""
        fields = call_fields(block.value) if block.problem is None else block.problem
        if isinstance(fields, str):
            problems.append(label + fields)
            continue
        name, arguments = fields
        problem = call_problem(tools, name, arguments)
        if problem is not None:
            problems.append(label + problem)
        else:
            calls.append(ToolCall(name, arguments))
    if not blocks and tools.choice.mode in ("required", "tool"):
        problems.append("this answer needed a tool call and had none")
    if not tools.parallel:
        calls = calls[:1]  # one call per answer was asked for: the first one counts
    return Verdict(tuple(calls), tuple(problems), held)
