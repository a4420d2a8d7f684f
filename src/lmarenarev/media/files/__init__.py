"""Attachments: uploads through a worker tab (LMArena's own upload), file beds, the built-in
file-bed server."""
