"""The managed browser of `lmarenarev serve --browser` and `lmarenarev login` (docs/browser.md):
a Chrome, Chromium or Edge the gateway starts, driven over the DevTools protocol on a pipe
(cdp.py), started and stopped with its process group (launch.py), its worker tabs opened with
the served userscript and kept alive (tab.py), the whole kept running (keeper.py), and the
login window (login.py). It knows nothing of LMArena: the page, the script and which origins
are worker pages are handed in."""
