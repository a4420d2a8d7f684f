"""Structured output (`response_format` json_object / json_schema): run the completion, check
its answer (json_output.py), and when it is not usable send a correction as the next turn of
the same LMArena session (`structured_output_corrections`, 1 by default); still not usable:
a clear error (502 `invalid_structured_output`) rather than prose.

The answer is checked before the client sees any of it, so a streamed request gets it as one
content delta once it is known to be valid (keep-alives meanwhile), or an error frame.
A reply cut at max_tokens (finish_reason "length") is returned as it is, as OpenAI does.

Each turn is a completion of its own in the request log (the corrections' ids end in
`-fix1`, …); the conversation store remembers the client's view, the original messages and
the JSON it got, in the session that produced it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import UpstreamFailure
from ..gateway import Gateway
from .completion import Completion
from .engine import RequestInfo, settle_session, start_completion
from .json_output import NotValid, OutputFormat
from .outcome import RelayOutcome
from .plan import ChatPlan


class InvalidStructuredOutput(UpstreamFailure):
    def __init__(self, message: str) -> None:
        super().__init__(message, status=502, code="invalid_structured_output")


class StructuredRun:
    """One choice of a structured request, turn after turn; `answer()` once."""

    def __init__(self, gw: Gateway, info: RequestInfo, plan: ChatPlan, fmt: OutputFormat) -> None:
        self.gw = gw
        self.info = info
        self.plan = plan
        self.fmt = fmt
        self.current: Completion | None = None
        self.gone = False

    def client_gone(self) -> None:
        self.gone = True
        if self.current is not None:
            self.current.run.client_gone()

    async def answer(self) -> dict[str, Any] | None:
        """The checked `chat.completion` (one choice); None when the client left."""
        plan, usages = self.plan, []
        corrections = self.gw.settings.structured_output_corrections
        for turn in range(corrections + 1):
            ran = await self._turn(plan, turn)
            if ran is None:
                return None
            result, outcome = ran
            usages.append(result.get("usage"))
            choice = result["choices"][0]
            content = choice["message"]["content"] or ""
            try:
                if choice["finish_reason"] != "length":
                    choice["message"]["content"] = self.fmt.check(content)
            except NotValid as problem:
                if turn < corrections:
                    plan = self.gw.chat.follow_up(
                        plan, outcome.session, content, self.fmt.correction(str(problem))
                    )
                    continue
                self._settle(outcome, None)
                raise InvalidStructuredOutput(self._failure(str(problem), turn)) from None
            self._settle(outcome, choice["message"]["content"])
            return _with_usage(result, usages)
        raise AssertionError("unreachable: the last turn returns or raises")

    async def _turn(
        self, plan: ChatPlan, turn: int
    ) -> tuple[dict[str, Any], RelayOutcome] | None:
        info = self.info
        if turn:  # a row of its own in the request log; the same answer id
            info = replace(info, id=f"{info.id}-fix{turn}", answer_id=info.answer_id or info.id)
        gw = self.gw
        completion = start_completion(
            gw, info, plan, image_url=gw.media.images.for_chat, remember=False
        )
        self.current = completion
        if self.gone:
            completion.run.client_gone()
        try:
            await completion.run.start()
            result: dict[str, Any] | None = await completion.complete()
        except BaseException:
            if completion.run.produced:
                self._settle(completion.run.relay.outcome(), None)
            raise
        finally:
            await completion.close()
        return None if result is None else (result, completion.run.relay.outcome())

    def _settle(self, outcome: RelayOutcome, reply: str | None) -> None:
        settle_session(self.gw, self.gw.settings.arena_flow == "modern", self.plan, outcome, reply)

    def _failure(self, problem: str, corrections: int) -> str:
        wanted = "JSON"
        if self.fmt.schema is not None:
            wanted = f"JSON valid for the schema {self.fmt.name!r}"
        after = f" after {corrections} correction(s)" if corrections else ""
        return f"the model did not answer with {wanted}{after}: {problem}"


def _with_usage(result: dict[str, Any], usages: list[dict[str, int] | None]) -> dict[str, Any]:
    """Every turn's usage added up (the corrections cost tokens too), when each had one."""
    if len(usages) > 1:
        if all(usage is not None for usage in usages):
            prompt = sum(u["prompt_tokens"] for u in usages if u)
            completion = sum(u["completion_tokens"] for u in usages if u)
            result["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        else:
            result.pop("usage", None)
    return result
