"""What the fake LMArena serves to a browser: the app page, its JS chunk, the fake reCAPTCHA and
Turnstile libraries, the Cloudflare challenge page and generated PNG images.

Templates use `{{name}}` placeholders filled by `_fill`; every value that reaches HTML is either
a constant, JSON inside a script (with `<`, `>` and `&` escaped) or set through `textContent`
by the page's own script, so model names and prompts never become markup.

The page (protocol doc §4.1, §8):
- `self.__next_f.push([1,"…"])` scripts: a client-module row `1:I[7177,["static/chunks/app-…js"],
  "Evaluation"]` and a tree row `2:["$","$L1",null,{"initialModels":[…],"initialModelAId":"…",
  "initialModelBId":…}]`, JSON-encoded into a JS string so the raw HTML holds
  `{\\"initialModels\\":…`;
- `<script src="/__fake/recaptcha/enterprise.js?render=<site key>">` (§3.2 discovery regex);
- `<script src="/_next/static/chunks/app-<hash>.js">`: the page's UI code, which also contains
  `createServerReference("<42-hex>", callServer, findSourceMapURL, "generateUploadUrl")` (and
  `"getSignedUrl"`, §1.8), `grecaptcha.enterprise.execute("<site key>",{action:"chat_submit"})`
  (§3.2) and the JWT-shaped Supabase anon key (§1.9);
- a tiny chat UI: `#fake-model` (select), `#fake-input`, `#fake-send`, `#fake-retry`,
  `#fake-messages`, `#fake-status` ("idle" → "streaming" → "done" | "error <status>").
  Requests go through `window.fetch` looked up at call time, so a userscript that wraps fetch
  sees them (§6.4 id capture). `window.__fakeArena` exposes `send(text)` and `retry()`.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CHUNK_MODULE_ID = 7177


@dataclass(frozen=True)
class PageData:
    models: Sequence[Mapping[str, Any]] | None  # None: no `initialModels` (§4.1 2026)
    initial_model_a_id: str | None
    initial_model_b_id: str | None
    site_key: str
    chunk_path: str
    state: Mapping[str, Any]


@dataclass(frozen=True)
class ChunkData:
    site_key: str
    anon_key: str
    supabase_url: str
    upload_action: str
    signed_action: str


def chunk_path(chunk: ChunkData) -> str:
    """`static/chunks/app-<hash>.js`: the hash follows the content, like a real build."""
    digest = hashlib.sha256(app_chunk_js(chunk).encode()).hexdigest()[:16]
    return f"static/chunks/app-{digest}.js"


def page_html(page: PageData) -> str:
    props: dict[str, Any] = {}
    if page.models is not None:
        props["initialModels"] = list(page.models)
    props["initialModelAId"] = page.initial_model_a_id
    props["initialModelBId"] = page.initial_model_b_id
    rows = [
        f'1:I[{CHUNK_MODULE_ID},{_json([page.chunk_path])},"Evaluation"]\n',
        f'2:{_json(["$", "$L1", None, props])}\n',
    ]
    pushes = "\n".join(
        f"<script>self.__next_f.push([1,{script_json(row)}])</script>" for row in rows
    )
    return _fill(
        _PAGE,
        site_key=page.site_key,
        chunk_path=page.chunk_path,
        pushes=pushes,
        state=script_json(page.state),
    )


def app_chunk_js(chunk: ChunkData) -> str:
    return _fill(
        _APP_JS,
        site_key=chunk.site_key,
        anon_key=chunk.anon_key,
        supabase_url=chunk.supabase_url,
        upload_action=chunk.upload_action,
        signed_action=chunk.signed_action,
        module_id=str(CHUNK_MODULE_ID),
    )


def challenge_html(*, auto_solve: bool) -> str:
    """Cloudflare's interstitial (§3.1): solved by POST /__fake/cf/solve, then a reload."""
    return _fill(_CHALLENGE, auto_solve="true" if auto_solve else "false")


def recaptcha_js() -> str:
    return _RECAPTCHA_JS


def turnstile_js() -> str:
    return _TURNSTILE_JS


def png_bytes(seed: int, size: int = 16) -> bytes:
    """A valid `size`×`size` RGB PNG whose colour depends on `seed` (zlib + struct only)."""
    colour = bytes(((seed * 67 + 40) % 256, (seed * 131 + 90) % 256, (seed * 199 + 160) % 256))
    raw = (b"\x00" + colour * size) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


def script_json(value: Any) -> str:
    """JSON safe to place inside a <script> element."""
    text = json.dumps(value, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    checksum = zlib.crc32(tag + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", checksum)


def _fill(template: str, **values: str) -> str:
    for name, value in values.items():
        template = template.replace("{{" + name + "}}", value)
    if "{{" in template:
        raise ValueError("unfilled placeholder in template: " + template.split("{{")[1][:30])
    return template


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LMArena</title>
<script src="/__fake/recaptcha/enterprise.js?render={{site_key}}"></script>
<script src="/_next/{{chunk_path}}" defer></script>
</head>
<body>
<main id="fake-app">
<h1>LMArena (fake)</h1>
<select id="fake-model"></select>
<div id="fake-messages"></div>
<button id="fake-retry" type="button" hidden>Retry</button>
<textarea id="fake-input" rows="3" cols="60"></textarea>
<button id="fake-send" type="button">Send</button>
<div id="fake-status">idle</div>
</main>
<script>(self.__next_f=self.__next_f||[]).push([0])</script>
{{pushes}}
<script id="__fake_state" type="application/json">{{state}}</script>
</body>
</html>
"""

_APP_JS = r"""(self.webpackChunk_N_E=self.webpackChunk_N_E||[]).push([[{{module_id}}],{}]);
(function(){
"use strict";
var supabaseUrl="{{supabase_url}}";
var supabaseKey="{{anon_key}}";
var findSourceMapURL=void 0;
function callServer(id,args){
  return window.fetch(location.pathname+location.search,{method:"POST",credentials:"include",
    headers:{"Accept":"text/x-component","Content-Type":"text/plain;charset=UTF-8","Next-Action":id},
    body:JSON.stringify(args)}).then(function(r){return r.text();}).then(function(t){
      var row=t.split("\n").filter(function(l){return l.indexOf("1:")===0;})[0];
      return row?JSON.parse(row.slice(2)):null;});
}
function createServerReference(id,call,sourceMap,name){
  var f=function(){return call(id,Array.prototype.slice.call(arguments));};
  f.$$id=id;f.$$name=name;return f;
}
var generateUploadUrl=createServerReference("{{upload_action}}", callServer, findSourceMapURL, "generateUploadUrl");
var getSignedUrl=createServerReference("{{signed_action}}", callServer, findSourceMapURL, "getSignedUrl");
function mintToken(action){
  return new Promise(function(resolve,reject){
    window.grecaptcha.enterprise.ready(function(){
      var g=window.grecaptcha.enterprise;
      (action==="chat_retry"?g.execute("{{site_key}}",{action:"chat_retry"})
        :g.execute("{{site_key}}",{action:"chat_submit"})).then(resolve,reject);
    });
  });
}
function uuid7(){
  var b=new Uint8Array(16);crypto.getRandomValues(b);var t=Date.now();
  for(var i=5;i>=0;i--){b[i]=t%256;t=Math.floor(t/256);}
  b[6]=(b[6]&15)|112;b[8]=(b[8]&63)|128;
  var h=Array.prototype.map.call(b,function(x){return (x+256).toString(16).slice(1);}).join("");
  return h.slice(0,8)+"-"+h.slice(8,12)+"-"+h.slice(12,16)+"-"+h.slice(16,20)+"-"+h.slice(20);
}
function $(id){return document.getElementById(id);}
var state=JSON.parse($("__fake_state").textContent);
function setStatus(text){$("fake-status").textContent=text;}
function addMessage(role,text){
  var el=document.createElement("div");el.className="fake-"+role;el.textContent=text;
  $("fake-messages").appendChild(el);return el;
}
function modelInfo(id){
  return state.models.filter(function(m){return m.id===id;})[0]||{modality:"chat"};
}
function parseLine(line){
  var m=/^([ab])([0-9a-z]):(.*)$/.exec(line.replace(/\r$/,""));if(!m)return "";
  var v;try{v=JSON.parse(m[3]);}catch(e){return "";}
  if(m[2]==="0"&&typeof v==="string")return v;
  if(m[2]==="2"&&Array.isArray(v))return v.filter(function(p){return p&&p.type==="image";})
    .map(function(p){return "![image]("+p.image+")";}).join("");
  return "";
}
async function stream(method,url,body,target){
  setStatus("streaming");
  var resp=await window.fetch(url,{method:method,credentials:"include",
    headers:{"Content-Type":"text/plain;charset=UTF-8"},body:JSON.stringify(body)});
  if(!resp.ok){
    setStatus("error "+resp.status);target.textContent="[error "+resp.status+"]";return false;
  }
  var reader=resp.body.getReader(),decoder=new TextDecoder(),buffer="",text="";
  for(;;){
    var part=await reader.read();if(part.done)break;
    buffer+=decoder.decode(part.value,{stream:true});
    var lines=buffer.split("\n");buffer=lines.pop();
    lines.forEach(function(line){text+=parseLine(line);});target.textContent=text;
  }
  text+=parseLine(buffer+decoder.decode());target.textContent=text;
  setStatus("done");return true;
}
function refreshRetry(){$("fake-retry").hidden=!(state.sessionId&&state.lastAssistantId);}
async function send(text){
  var model=$("fake-model").value,isNew=!state.sessionId,sessionId=state.sessionId||uuid7();
  addMessage("user",text);var answer=addMessage("assistant","");
  var assistantId=uuid7(),token=await mintToken();
  var body={id:sessionId,mode:state.mode||"direct",modelAId:model,userMessageId:uuid7(),
    modelAMessageId:assistantId,modelBMessageId:uuid7(),
    userMessage:{content:text,experimental_attachments:[],metadata:{}},
    modality:modelInfo(model).modality,recaptchaV3Token:token};
  var url=isNew?"/nextjs-api/stream/create-evaluation"
    :"/nextjs-api/stream/post-to-evaluation/"+sessionId;
  if(await stream("POST",url,body,answer)){
    state.sessionId=sessionId;state.lastAssistantId=assistantId;state.lastAnswer=answer;
    if(isNew)history.replaceState(null,"","/c/"+sessionId);
  }
  refreshRetry();
}
async function retry(){
  if(!state.sessionId||!state.lastAssistantId)return;
  var token=await mintToken(state.retryAction);var target=state.lastAnswer||addMessage("assistant","");
  var url="/nextjs-api/stream/retry-evaluation-session-message/"+state.sessionId
    +"/messages/"+state.lastAssistantId;
  await stream("PUT",url,{recaptchaV3Token:token},target);
}
function guard(action){
  return function(){action().catch(function(e){setStatus("error "+e.message);});};
}
state.models.forEach(function(m){
  var o=document.createElement("option");o.value=m.id;o.textContent=m.name;
  o.selected=m.id===state.modelId;$("fake-model").appendChild(o);
});
state.turns.forEach(function(t){addMessage("user",t.user);state.lastAnswer=addMessage("assistant",t.reply);});
refreshRetry();
$("fake-send").addEventListener("click",guard(function(){
  var input=$("fake-input"),text=input.value;input.value="";return send(text);
}));
$("fake-retry").addEventListener("click",guard(retry));
window.__fakeArena={send:send,retry:retry,state:state,generateUploadUrl:generateUploadUrl,
  getSignedUrl:getSignedUrl,supabase:{url:supabaseUrl,key:supabaseKey}};
})();
"""  # noqa: E501 (server-reference lines are kept whole, as in a real bundle)

_RECAPTCHA_JS = r"""(function(){
"use strict";
var widgets=[];
function mint(siteKey,action){
  return fetch("/__fake/recaptcha/execute",{method:"POST",
    headers:{"Content-Type":"application/json"},
    body:JSON.stringify({site_key:String(siteKey),action:String(action||"")})})
    .then(function(r){if(!r.ok)throw new Error("fake recaptcha: HTTP "+r.status);return r.json();})
    .then(function(j){return j.token;});
}
function execute(keyOrWidget,options){
  var action=options&&options.action;
  if(typeof keyOrWidget==="number"){
    var w=widgets[keyOrWidget];
    if(!w)return Promise.reject(new Error("fake recaptcha: unknown widget"));
    return mint(w.sitekey,action||w.action).then(function(t){
      w.response=t;if(typeof w.callback==="function")w.callback(t);return t;});
  }
  return mint(keyOrWidget,action);
}
var enterprise={
  ready:function(cb){setTimeout(cb,0);},
  execute:execute,
  render:function(el,opts){widgets.push(Object.assign({},opts||{}));return widgets.length-1;},
  getResponse:function(id){var w=widgets[id||0];return (w&&w.response)||"";},
  reset:function(id){var w=widgets[id||0];if(w)w.response="";}
};
window.grecaptcha=Object.assign({enterprise:enterprise},enterprise);
})();
"""

_TURNSTILE_JS = r"""(function(){
"use strict";
var widgets=[];
function solve(w){
  fetch("/__fake/turnstile/execute",{method:"POST",headers:{"Content-Type":"application/json"},
    body:JSON.stringify({site_key:String(w.sitekey||"")})})
    .then(function(r){return r.json();})
    .then(function(j){if(w.removed)return;w.response=j.token;
      if(typeof w.callback==="function")w.callback(j.token);});
}
window.turnstile={
  render:function(el,opts){
    var w=Object.assign({},opts||{});widgets.push(w);solve(w);return String(widgets.length-1);
  },
  getResponse:function(id){var w=widgets[Number(id||0)];return (w&&w.response)||"";},
  reset:function(id){var w=widgets[Number(id||0)];if(w){w.response="";solve(w);}},
  remove:function(id){var w=widgets[Number(id||0)];if(w)w.removed=true;}
};
})();
"""

_CHALLENGE = """<!DOCTYPE html>
<html lang="en-US">
<head>
<title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="robots" content="noindex,nofollow">
</head>
<body>
<div class="main-wrapper" role="main">
<div class="main-content">
<h1 class="zone-name-title h1">lmarena.ai</h1>
<p id="cf-spinner-please-wait">Verifying you are human. This may take a few seconds.</p>
<div id="cf-please-wait"></div>
<div id="cf-turnstile" style="display: grid;">
<iframe src="https://challenges.cloudflare.com/cdn-cgi/challenge-platform/h/g/turnstile/if/ov2/av0/fake"
 title="Widget containing a Cloudflare security challenge" width="300" height="65"></iframe>
</div>
<noscript><div id="challenge-error-title">Enable JavaScript and cookies to continue</div></noscript>
<p>Enable JavaScript and cookies to continue</p>
<div id="cf-cloudflare-status">Performance &amp; security by Cloudflare</div>
</div>
</div>
<script>
(function(){
  var started=false;
  function solve(){
    if(started)return;started=true;
    fetch("/__fake/cf/solve",{method:"POST",credentials:"include"}).then(function(){location.reload();});
  }
  document.getElementById("cf-turnstile").addEventListener("click",solve);
  if({{auto_solve}})setTimeout(solve,300);
})();
</script>
</body>
</html>
"""
