"""`n` > 1: n completions, each a new LMArena session, run in parallel (like image generations)
and answered as one response with n choices: one JSON object, or one stream whose chunks carry
each choice's index, ended once by the usage chunk (when asked for) and `[DONE]`.

A failure of any choice fails the response: before the stream started with the error's HTTP
status, after it with an error frame; the other choices are stopped (their fetches aborted).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Sequence
from typing import Any, TypeVar

from ..arena.events import Usage
from ..errors import GatewayError
from ..render.common import usage_dict
from ..render.sse import SSERenderer
from .completion import Completion
from .run import Gone, Item, Stopped

T = TypeVar("T")


async def all_or_first_error(awaitables: Sequence[Awaitable[T]]) -> list[T]:
    """Every result, in order; when one fails, the others are cancelled and its error raised."""
    tasks: list[asyncio.Task[T]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_awaited(a)) for a in awaitables]
    except BaseExceptionGroup as failed:
        raise _first_error(failed) from None
    return [task.result() for task in tasks]


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        current = pending.pop(0)
        if isinstance(current, BaseExceptionGroup):
            pending[:0] = list(current.exceptions)
        else:
            leaves.append(current)
    gateway = [e for e in leaves if isinstance(e, GatewayError)]
    return (gateway or leaves)[0]


def merge(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """n one-choice completions as one with n choices; usage summed when every one has it."""
    merged = dict(results[0])
    merged["choices"] = [choice for result in results for choice in result["choices"]]
    usages = [result.get("usage") for result in results]
    merged.pop("usage", None)
    if all(usage is not None for usage in usages):
        total = sum_usage(Usage(u["prompt_tokens"], u["completion_tokens"]) for u in usages if u)
        merged["usage"] = usage_dict(total)
    return merged


def sum_usage(usages: Any) -> Usage:
    prompt = completion = 0
    for usage in usages:
        prompt += usage.prompt_tokens
        completion += usage.completion_tokens
    return Usage(prompt, completion)


async def complete_all(completions: Sequence[Completion]) -> dict[str, Any] | None:
    """The non-streamed answer with every choice; None when the client left."""
    results = await all_or_first_error([c.complete() for c in completions])
    answers = [result for result in results if result is not None]
    return merge(answers) if len(answers) == len(results) else None


async def first_items(completions: Sequence[Completion]) -> list[Item | None] | Stopped | Gone:
    """Each choice's first item (as `Completion.first`). A choice that failed before its
    first byte fails the response with its status (its `Stopped`; the others are closed), and
    a client gone while they waited is `Gone`."""
    firsts = await asyncio.gather(*(c.first() for c in completions))
    stopped = next((item for item in firsts if isinstance(item, Stopped)), None)
    gone = next((item for item in firsts if isinstance(item, Gone)), None)
    if stopped is None and gone is None:
        return firsts
    for completion, item in zip(completions, firsts, strict=True):
        if isinstance(item, Stopped):
            await completion.refuse(item)
        else:
            await completion.close()
    return stopped or gone or Gone()


async def stream_all(
    completions: Sequence[Completion], firsts: Sequence[Item | None]
) -> AsyncGenerator[tuple[bytes, bool], None]:
    """The chunks of every choice as they come, then the usage chunk and `[DONE]` once."""
    renderers = [SSERenderer(c.options) for c in completions]
    queue: asyncio.Queue[tuple[int, bytes | None]] = asyncio.Queue()

    async def pump(index: int) -> None:
        try:
            chunks = completions[index].stream(firsts[index], renderers[index])
            async with contextlib.aclosing(chunks):
                async for chunk, _more in chunks:
                    queue.put_nowait((index, chunk))
        finally:
            queue.put_nowait((index, None))

    tasks = [asyncio.create_task(pump(i)) for i in range(len(completions))]
    try:
        running = len(tasks)
        while running:
            index, chunk = await queue.get()
            if chunk is not None:
                yield chunk, True
                continue
            running -= 1
            if renderers[index].failed:
                yield b"data: [DONE]\n\n", False
                return
        if all(r.usage is not None for r in renderers):
            usage: Usage | None = sum_usage(r.usage for r in renderers)
        else:
            usage = None
        if all(r.finished for r in renderers):  # else the client left: nobody to tell
            yield renderers[0].end_frames(usage).encode(), False
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
