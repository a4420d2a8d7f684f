"""What the tests and the benchmarks share: the fake LMArena and the fake worker
(``testkit.fakes``), the Playwright browser harness (``testkit.browser``) and small helpers
(``testkit.support``). Imported from the repository root (pytest's ``pythonpath``, or
``python -m bench.x`` run there), never installed."""
