// The userscript wrapper (testkit/browser/injection.py build_injection): runs a userscript the
// way Tampermonkey does, with the GM API it @grants. The names in capitals between double
// underscores are filled in with JSON, and the last one with the script's source wrapped in a
// function whose parameters are exactly the granted GM names.
((factory) => {
  const META = __META__;
  const RULES = __RULES__;
  const XHR_BINDING = __XHR_BINDING__, ABORT_BINDING = __ABORT_BINDING__;
  // the granted GM_* names, in the order of the factory's parameters after GM
  const ENV_NAMES = __ENV_NAMES__;
  const normUrl = (u) => {
    const dflt = { 'https:': '443', 'http:': '80', 'wss:': '443', 'ws:': '80' }[u.protocol] || '';
    return `${u.protocol}//${u.hostname}:${u.port || dflt}${u.pathname}${u.search}`;
  };
  let url;
  try { url = new URL(location.href); } catch (e) { return; }
  const norm = normUrl(url), href = location.href.split('#')[0];
  const hit = ([kind, rx]) => new RegExp(rx).test(kind === 'm' ? norm : href);
  if (!RULES.include.some(hit) || RULES.exclude.some(hit)) return;
  if (META.noframes && window.top !== window) return;
  const GUARD = '__lmarenarevHarnessInjected:' + META.id;
  if (window[GUARD]) return;
  Object.defineProperty(window, GUARD, { value: true, enumerable: false });

  const tag = '[userscript ' + META.name + ']';
  const grants = new Set(META.grants);
  const report = (e) => {
    console.error(tag, e && e.stack ? e.stack : String(e));
    setTimeout(() => { throw e; });
  };
  const GM_info = {
    script: { name: META.name, namespace: META.namespace, version: META.version,
              matches: META.matches, includes: META.includes, excludes: META.excludes,
              grant: META.grants, connects: META.connects, 'run-at': META.runAt },
    scriptMetaStr: META.metaStr, scriptHandler: 'Tampermonkey',
    version: '5.3.3 (lmarenarev harness)',
    injectInto: 'page', isIncognito: true,
  };

  let seq = 0;
  const headersToString = (h) => Object.keys(h || {}).map((k) => k + ': ' + h[k]).join('\r\n');
  function GM_xmlhttpRequest(d) {
    d = d || {};
    const id = META.id + ':' + (++seq) + ':' + Math.random().toString(36).slice(2);
    let finished = false;
    let target;
    try {
      target = new URL(String(d.url), location.href).href;
    } catch (e) {
      target = String(d.url);
    }
    const base = { readyState: 1, status: 0, statusText: '', responseHeaders: '', responseText: '',
                   response: null, finalUrl: target, context: d.context };
    const fire = (name, resp) => {
      const cb = d[name];
      if (typeof cb === 'function') { try { cb.call(d, resp); } catch (e) { report(e); } }
    };
    const headers = {};
    for (const [k, v] of Object.entries(d.headers || {})) headers[k] = String(v);
    let data = d.data;
    if (data !== undefined && data !== null && typeof data !== 'string') data = String(data);
    const req = { id, url: target, method: String(d.method || 'GET').toUpperCase(), headers,
                  data: data === undefined ? null : data, timeout: Number(d.timeout) || 0,
                  anonymous: !!d.anonymous, redirect: d.redirect || 'follow', script: META.id };
    Promise.resolve().then(() => window[XHR_BINDING](req)).then((r) => {
      if (finished) return;
      finished = true;
      if (r && r.ok) {
        let response = r.responseText;
        if (d.responseType === 'json') {
          try { response = JSON.parse(r.responseText); } catch (e) { response = null; }
        }
        const resp = Object.assign({}, base, {
          readyState: 4, status: r.status, statusText: r.statusText,
          responseHeaders: r.responseHeaders, responseText: r.responseText, response,
          finalUrl: r.finalUrl,
        });
        fire('onreadystatechange', resp); fire('onload', resp); fire('onloadend', resp);
      } else if (r && r.timeout) {
        const resp = Object.assign({}, base, { readyState: 4, error: 'timeout' });
        fire('ontimeout', resp); fire('onloadend', resp);
      } else {
        const resp = Object.assign({}, base, { readyState: 4, error: (r && r.error) || 'error',
                                               statusText: (r && r.error) || 'error' });
        fire('onerror', resp); fire('onloadend', resp);
      }
    }, (e) => {
      if (finished) return;
      finished = true;
      const resp = Object.assign({}, base, { readyState: 4, error: String(e) });
      fire('onerror', resp); fire('onloadend', resp);
    });
    return { abort() {
      if (finished) return;
      finished = true;
      try { window[ABORT_BINDING](id); } catch (e) {}
      const resp = Object.assign({}, base, { readyState: 4, error: 'aborted' });
      fire('onabort', resp); fire('onloadend', resp);
    } };
  }

  const valueKey = (k) => '__lmarenarevHarnessGM:' + META.namespace + ':' + META.name + ':' + k;
  function GM_getValue(k, dflt) {
    const raw = localStorage.getItem(valueKey(k));
    if (raw === null) return dflt;
    try { return JSON.parse(raw); } catch (e) { return dflt; }
  }
  function GM_setValue(k, v) { localStorage.setItem(valueKey(k), JSON.stringify(v)); }
  function GM_deleteValue(k) { localStorage.removeItem(valueKey(k)); }
  function GM_listValues() {
    const prefix = valueKey('');
    const out = [];
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      if (k && k.startsWith(prefix)) out.push(k.slice(prefix.length));
    }
    return out;
  }
  function GM_addStyle(css) {
    const s = document.createElement('style');
    s.textContent = css;
    (document.head || document.documentElement).appendChild(s);
    return s;
  }
  function GM_log(...args) { console.log(tag, ...args); }
  const stub = (name) => function () {
    console.warn(tag, name + ' is not implemented by the test harness');
  };

  const impl = { GM_xmlhttpRequest, GM_getValue, GM_setValue, GM_deleteValue, GM_listValues,
                 GM_addStyle, GM_log };
  const GM = { info: GM_info };
  const gmAsync = { 'GM.getValue': 'getValue', 'GM.setValue': 'setValue',
                    'GM.deleteValue': 'deleteValue',
                    'GM.listValues': 'listValues', 'GM.addStyle': 'addStyle' };
  const env = {};
  for (const g of grants) {
    if (g === 'unsafeWindow' || g === 'GM_info') continue;
    if (g === 'GM.xmlHttpRequest') {
      GM.xmlHttpRequest = (d) => {
        let handle;
        const p = new Promise((resolve, reject) => {
          handle = GM_xmlhttpRequest(Object.assign({}, d, {
            onload: (r) => { if (d && d.onload) d.onload(r); resolve(r); },
            onerror: (r) => { if (d && d.onerror) d.onerror(r); reject(r); },
            ontimeout: (r) => { if (d && d.ontimeout) d.ontimeout(r); reject(r); },
            onabort: (r) => { if (d && d.onabort) d.onabort(r); reject(r); },
          }));
        });
        p.abort = () => handle.abort();
        return p;
      };
    } else if (gmAsync[g]) {
      const f = impl['GM_' + gmAsync[g]];
      GM[gmAsync[g]] = async (...a) => f(...a);
    } else if (g.startsWith('GM.')) {
      GM[g.slice(3)] = stub(g);
    } else if (/^GM_\w+$/.test(g)) {
      env[g] = impl[g] || stub(g);
    }
  }

  const run = () => {
    try {
      // `factory` is the script text spliced in verbatim (no eval) as a function defined
      // outside this wrapper, whose parameters are exactly the granted GM names.
      factory.call(window, window, GM_info, GM, ...ENV_NAMES.map((n) => env[n]));
    } catch (e) { report(e); }
  };
  const whenReady = (cb) => {
    if (document.readyState !== 'loading') cb();
    else document.addEventListener('DOMContentLoaded', () => cb(), { once: true });
  };
  switch (META.runAt) {
    case 'document-start': run(); break;
    case 'document-body': {
      if (document.body) { run(); break; }
      const obs = new MutationObserver(() => { if (document.body) { obs.disconnect(); run(); } });
      obs.observe(document.documentElement || document, { childList: true, subtree: true });
      break;
    }
    case 'document-end': whenReady(run); break;
    default: whenReady(() => setTimeout(run, 0));
  }
})(__FACTORY__);
