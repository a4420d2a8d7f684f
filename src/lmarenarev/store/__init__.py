"""The SQLite store: one file in the data directory, numbered migrations, one writer.

It holds the request log and the state kept across restarts (`state`: the conversation map and
per-key usage). `db` opens the file, `migrations` brings its schema up to date,
`writer.StoreWriter` is the only thing that writes (an asyncio task, writing in a thread in
batches), `queries` and `state` the reads (each on its own read-only connection).
"""
