"""The page-side JavaScript the harness installs in every tab, from the ``.js`` files next to
this module: the background-tab shim (``hidden.js``) and the userscript wrapper
(``userscript_wrapper.js``) that gives a userscript its GM API."""

from __future__ import annotations

import importlib.resources
import itertools
import json
import re
from collections.abc import Mapping

from testkit.browser.userscript import UserScript

#: The page bindings the wrapper calls for ``GM_xmlhttpRequest`` and its ``abort()``.
GM_XHR_BINDING = "__lmarenarevHarnessGmXhr"
GM_ABORT_BINDING = "__lmarenarevHarnessGmAbort"
#: The sessionStorage key of the hidden state, and the window function that sets it.
HIDDEN_KEY = "__lmarenarevHarnessHidden"
SET_HIDDEN_FN = "__lmarenarevHarnessSetHidden"

# Unique per process, so two scripts' injection guards and GM requests never collide.
_script_ids = itertools.count(1)


def next_script_id() -> int:
    return next(_script_ids)


def _fill(name: str, values: Mapping[str, str]) -> str:
    """The script ``name`` with each ``__KEY__`` of ``values`` replaced in one pass (so a value,
    e.g. a userscript's source, is never itself searched for placeholders)."""
    template = importlib.resources.files(__package__).joinpath(name).read_text("utf-8")
    pattern = "|".join(re.escape(f"__{key}__") for key in values)
    return re.sub(pattern, lambda m: values[m.group(0)[2:-2]], template)


def hidden_shim() -> str:
    """The background-tab emulation behind ``Tab.set_hidden`` (installed first in every tab)."""
    return _fill(
        "hidden.js", {"KEY": json.dumps(HIDDEN_KEY), "SET_HIDDEN_FN": json.dumps(SET_HIDDEN_FN)}
    )


def build_injection(script: UserScript, script_id: int = 0) -> str:
    """The init script that injects ``script`` into every matching document."""
    # one parameter per granted GM_* name (ungranted ones stay undefined → ReferenceError)
    env_names = list(
        dict.fromkeys(g for g in script.grants if re.fullmatch(r"GM_\w+", g) and g != "GM_info")
    )
    params = ", ".join(["unsafeWindow", "GM_info", "GM", *env_names])
    factory = f"function ({params}) {{\n{script.source}\n}}"  # global scope, not the wrapper's
    meta = {
        "id": script_id or next_script_id(),
        "name": script.name,
        "namespace": script.namespace,
        "version": script.version,
        "matches": list(script.matches),
        "includes": list(script.includes),
        "excludes": list(script.excludes),
        "grants": list(script.grants),
        "connects": list(script.connects),
        "runAt": script.run_at,
        "noframes": script.noframes,
        "metaStr": "\n".join(f"// @{k} {v}" for k, vs in script.meta.items() for v in vs),
    }
    return _fill(
        "userscript_wrapper.js",
        {
            "META": json.dumps(meta),
            "RULES": json.dumps(script.matchers()),
            "XHR_BINDING": json.dumps(GM_XHR_BINDING),
            "ABORT_BINDING": json.dumps(GM_ABORT_BINDING),
            "ENV_NAMES": json.dumps(env_names),
            "FACTORY": factory,
        },
    )
