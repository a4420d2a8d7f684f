"""The call of a corrective turn (docs/tools.md, "Botched calls"): the same LMArena session
gets one more message saying what was wrong with the reply's calls.

Modern flow: a post-to-evaluation on the session the reply came from. Legacy flow: the whole
history again, with the botched reply and the correction at its end.
"""

from __future__ import annotations

from dataclasses import replace

from ..arena.requests import ArenaCall, CreateCall, LegacyCall
from ..messages import Message
from ..render.common import Correction
from .outcome import RelayOutcome
from .plan import ChatPlan


def follow_up(plan: ChatPlan, outcome: RelayOutcome, correction: Correction) -> ArenaCall | None:
    """The corrective turn's call, or None when there is no session to send it to."""
    call = plan.call
    if isinstance(call, LegacyCall):
        said = (Message("assistant", correction.reply), Message("user", correction.message))
        return replace(call, messages=(*call.messages, *said))
    if outcome.session is None or plan.model.arena_id is None:
        return None
    return CreateCall(
        model_id=plan.model.arena_id,
        model_type=plan.model.type,
        prompt=correction.message,
        attachments=(),
        recaptcha=call.recaptcha,
        session_id=outcome.session.session_id,
    )
