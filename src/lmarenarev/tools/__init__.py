"""Tool calling emulated in the prompt (docs/tools.md): LMArena's models take and give text only.

`spec` (what a request offers), `contract` (the instructions and the exact text forms),
`history` (a history with calls and results rewritten as text), `blocks` (reading one call
block, tolerantly), `detect` (finding the calls in a reply, streamed or whole), `validate`
(a call against its tool's JSON Schema). All pure.
"""
