"""The call of a corrective turn for a botched tool call (docs/tools.md, "Botched calls"): the
same LMArena session gets one more message saying what was wrong, as `ChatService.follow_up`
builds it for any correction (modern flow: a post-to-evaluation on the reply's session; legacy
flow: the whole history again with the reply and the correction at its end)."""

from __future__ import annotations

from ..arena.requests import ArenaCall
from ..errors import UpstreamFailure
from ..gateway import Gateway
from ..render.common import Correction
from .outcome import RelayOutcome
from .plan import ChatPlan


def corrective_call(
    gw: Gateway, plan: ChatPlan, outcome: RelayOutcome, correction: Correction
) -> ArenaCall | None:
    """The corrective turn's call, or None when there is no session to send it to."""
    try:
        turn = gw.chat.follow_up(plan, outcome.session, correction.reply, correction.message)
    except UpstreamFailure:
        return None
    return turn.call
