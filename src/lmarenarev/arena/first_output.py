"""Which lines of LMArena's stream carry a reply's first output: the rule the worker is given.

The userscript holds a chunk for its batch window unless the chunk carries its job's first
output, which leaves at once (time to first token; docs/worker-protocol.md "Batches"). It knows
no record prefix itself: the relay puts this rule in the job's `fetch` frame (`first_output`),
and the script applies it to the starts of the body's lines until the job's first output.

Output is what `arena.stream.StreamParser` makes an event of (docs/lmarena-protocol.md §2.2):
text (`a0:`), reasoning (`ag:`), data parts (`a2:`: images), citations (`ac:`), errors (`a3:`)
and the finish record (`ad:`), for both sides, and since 2026 the un-prefixed text channel
`0:"…"` (§2.1 2026). Not output: the message id `af:` and the heartbeat
`a2:[{"type":"heartbeat"}]`, which LMArena sends before the model's first token, so a reply's
first token no longer waited behind them; nor `ae:` and RSC rows, which the parser skips.
"""

from __future__ import annotations

from typing import Final

_SIDES: Final = "ab"  # the sides `StreamParser` reads
_OUTPUT_CODES: Final = "0g2c3d"
HEARTBEAT: Final = '[{"type":"heartbeat"}]'  # exactly this, §2.2: "a keep-alive is exactly …"

LEGACY_TEXT: Final = '0:"'  # §2.1 2026: text without a side letter (an RSC row `0:[…]` is not)
STARTS: Final = (
    *(f"{side}{code}:" for side in _SIDES for code in _OUTPUT_CODES),
    LEGACY_TEXT,
)
EXCEPT: Final = tuple(f"{side}2:{HEARTBEAT}" for side in _SIDES)


def first_output_rule() -> dict[str, tuple[str, ...]]:
    """The `first_output` field of a stream job's `fetch` frame (docs/worker-protocol.md): a
    line is output when it starts with one of `starts` and is not, whole, one of `except`."""
    return {"starts": STARTS, "except": EXCEPT}

