"""The e2e browser harness: headless Chromium with a Tampermonkey-like userscript host."""
