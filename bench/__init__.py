"""The benchmarks, run as modules from the repository root (``python -m bench.relay``,
``bench.soak``, ``bench.hotpath``, ``bench.burst``) so that they import ``testkit`` and
``lmarenarev`` without touching ``sys.path``; see bench/README.md."""
