"""The SQLite request log: one file in the data directory, numbered migrations, one writer.

`db` opens the file, `migrations` brings its schema up to date, `writer.StoreWriter` is the only
thing that writes (an asyncio task, writing in a thread in batches), `queries` the reads (each in
a thread, on its own connection).
"""
