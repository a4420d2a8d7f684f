// ==UserScript==
// @name         lmarenarev bridge
// @namespace    lmarenarev
// @version      __LMARENAREV_VERSION__
// @description  Lets the local lmarenarev gateway run its LMArena requests through this tab (worker protocol 1).
// @match        https://lmarena.ai/*
// @match        https://*.lmarena.ai/*
// @match        https://arena.ai/*
// @match        https://*.arena.ai/*
// @grant        GM_xmlhttpRequest
// @grant        unsafeWindow
// @connect      __LMARENAREV_CONNECT_HOSTS__
// @updateURL    __LMARENAREV_GATEWAY__/bridge.user.js?token=__LMARENAREV_TOKEN_QUERY__
// @downloadURL  __LMARENAREV_GATEWAY__/bridge.user.js?token=__LMARENAREV_TOKEN_QUERY__
// @run-at       document-start
// @noframes
// ==/UserScript==

/* Worker protocol 1: see docs/worker-protocol.md. This script is a generic executor; all
 * LMArena knowledge (URLs, bodies, parsing, error classification) lives in the gateway. */
(function () {
  'use strict';

  const VERSION = "__LMARENAREV_VERSION__";
  const GATEWAY = "__LMARENAREV_GATEWAY__".replace(/\/+$/, '');
  const TOKEN = "__LMARENAREV_TOKEN__";

  const PROTOCOL = 1;
  // An upper bound: the gateway runs min(this, its worker_capacity setting, default 6) jobs here.
  // Over HTTP/2 (the real site, behind Cloudflare) one tab can carry many streams at once.
  const CAPACITY = 128;
  const MAX_SCRIPT_SRCS = 100;
  const TITLE_MARK = '✅ ';
  const CAPTURE_MARK = '🎯 ';
  const MAX_CAPTURED_BODY = 256 * 1024;
  const TAB_KEY = 'lmarenarev:tab';
  // Debug/testing knob: localStorage['lmarenarev:transport'] = 'ws' | 'poll' forces a transport.
  const FORCE_TRANSPORT_KEY = 'lmarenarev:transport';
  // Benchmark knob: localStorage['lmarenarev:batches'] = 'off' sends every frame as a message of
  // its own, at once, both ways (docs/benchmarks.md: what the batching costs and buys).
  const BATCHES_KEY = 'lmarenarev:batches';
  const BACKOFF_START_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const WS_OPEN_TIMEOUT_MS = 10000; // a pending Local Network Access prompt can keep a socket "connecting"
  const RECAPTCHA_WAIT_MS = 10000;
  const RECAPTCHA_READY_MS = 5000;
  const RECAPTCHA_EXECUTE_MS = 30000;
  const GM_TIMEOUT_MS = 30000;
  const NAVIGATED_AWAY = 'page navigated away';

  const W = typeof unsafeWindow !== 'undefined' ? unsafeWindow : window;

  // @match is advice only: loaded by another site's <script src>, this would hand that page the
  // token. So run on LMArena pages (and configured origins) only, before anything else.
  const PAGE_HOSTS = JSON.parse("__LMARENAREV_PAGE_HOSTS__");
  const PAGE_ORIGINS = JSON.parse("__LMARENAREV_PAGE_ORIGINS__");
  function onWorkerPage() {
    try {
      const here = W.location;
      if (PAGE_ORIGINS.indexOf(here.origin) !== -1) return true;
      if (here.protocol !== 'https:') return false;
      const host = here.hostname;
      for (let i = 0; i < PAGE_HOSTS.length; i++) {
        const suffix = '.' + PAGE_HOSTS[i];
        if (host === PAGE_HOSTS[i] || (host.length > suffix.length
            && host.slice(host.length - suffix.length) === suffix)) return true;
      }
    } catch (_) { /* ignore */ }
    return false;
  }
  if (!onWorkerPage()) return;

  try {
    if (W.__lmarenarev) return; // installed twice (or injected twice): one bridge per page
  } catch (_) { /* ignore */ }

  const log = (...args) => { try { console.info('[lmarenarev]', ...args); } catch (_) { /* ignore */ } };
  const warn = (...args) => { try { console.warn('[lmarenarev]', ...args); } catch (_) { /* ignore */ } };
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // Run `fn` in a new task as soon as possible: a MessageChannel message is neither clamped
  // like setTimeout(0) nor throttled in background tabs.
  const nextTask = (function () {
    const queue = [];
    let channel = null;
    try {
      channel = new MessageChannel();
      channel.port1.onmessage = () => { for (const fn of queue.splice(0)) fn(); };
    } catch (_) { channel = null; }
    return (fn) => {
      if (!channel) { setTimeout(fn, 0); return; }
      queue.push(fn);
      if (queue.length === 1) channel.port2.postMessage(0);
    };
  })();
  const errorText = (e) => {
    try { return (e && (e.message || e.name)) ? String(e.message || e.name) : String(e); } catch (_) { return 'unknown error'; }
  };

  // ---------------------------------------------------------------- batcher
  // When frames leave and which chunk carries a job's first output: batcher.js, put here by the
  // gateway when it serves this script (one file for the script manager; tested under node).

  /* __LMARENAREV_BATCHER__ */

  // ---------------------------------------------------------------- token pool
  // Fresh reCAPTCHA tokens kept while requests are coming, as the gateway asks (`token_pool`):
  // tokenpool.js, put here by the gateway like the batcher.

  /* __LMARENAREV_TOKEN_POOL__ */

  const clock = { // the batcher's time, timers and tab visibility
    now: () => performance.now(),
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (handle) => clearTimeout(handle),
    hidden: () => document.hidden,
  };

  const tokens = tokenPool.createPool(Object.assign({
    mint: (siteKey, action) => mintRecaptcha(siteKey, action),
    // Tokens that aged out or were dropped unused: the gateway counts them in /metrics.
    report: (counts) => send(Object.assign({ type: 'token_pool_report' }, counts)),
    warn,
  }, clock));

  function withTimeout(promise, ms, what) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(what + ' timed out after ' + ms + ' ms')), ms);
      Promise.resolve(promise).then(
        (value) => { clearTimeout(timer); resolve(value); },
        (err) => { clearTimeout(timer); reject(err); },
      );
    });
  }

  function randomId() {
    try {
      if (W.crypto && typeof W.crypto.randomUUID === 'function') return W.crypto.randomUUID();
    } catch (_) { /* ignore */ }
    let id = '';
    for (let i = 0; i < 32; i++) id += Math.floor(Math.random() * 16).toString(16);
    return id;
  }

  function readStorage(storage, key) {
    try { return storage.getItem(key); } catch (_) { return null; }
  }

  const TAB_ID = (function () {
    let id = readStorage(W.sessionStorage, TAB_KEY);
    if (!id) {
      id = randomId();
      try { W.sessionStorage.setItem(TAB_KEY, id); } catch (_) { /* ignore */ }
    }
    return id;
  })();

  function batchesOff() {
    return readStorage(W.localStorage, BATCHES_KEY) === 'off';
  }

  function forcedTransport() {
    const value = readStorage(W.localStorage, FORCE_TRANSPORT_KEY);
    return value === 'ws' || value === 'poll' ? value : null;
  }

  function gmXhr() {
    try {
      if (typeof GM_xmlhttpRequest === 'function') return GM_xmlhttpRequest; // eslint-disable-line no-undef
    } catch (_) { /* ignore */ }
    return null;
  }

  function backoffDelay(attempt) {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * Math.pow(2, Math.max(0, attempt - 1)));
    return Math.round(base * (0.75 + Math.random() * 0.5)); // ±25 % jitter
  }

  function scriptSrcs() {
    const srcs = [];
    try {
      for (const el of document.querySelectorAll('script[src]')) {
        if (el.src) srcs.push(String(el.src));
        if (srcs.length >= MAX_SCRIPT_SRCS) break;
      }
    } catch (_) { /* ignore */ }
    return srcs;
  }

  function helloFrame() {
    return {
      type: 'hello',
      protocol: PROTOCOL,
      script_version: VERSION,
      page_url: String(W.location.href),
      tab: TAB_ID,
      capacity: CAPACITY,
      batches: !batchesOff(), // takes an array of frames as one message
      navigate: true, // follows `navigate` frames
      token_pool: true, // keeps reCAPTCHA tokens when the gateway asks (`token_pool`)
      script_srcs: scriptSrcs(),
      title: String(document.title || '').replace(/^(✅ |🎯 )+/u, '').slice(0, 200),
    };
  }

  // ---------------------------------------------------------------- title marker (✅)

  const title = {
    marked: false,
    armed: false,
    apply() {
      try {
        const current = document.title || '';
        let bare = current;
        for (;;) {
          if (bare.startsWith(TITLE_MARK)) bare = bare.slice(TITLE_MARK.length);
          else if (bare.startsWith(CAPTURE_MARK)) bare = bare.slice(CAPTURE_MARK.length);
          else break;
        }
        const wanted = (this.marked ? TITLE_MARK : '') + (this.armed ? CAPTURE_MARK : '') + bare;
        if (wanted !== current) document.title = wanted;
      } catch (_) { /* ignore */ }
    },
    set(marked) {
      this.marked = marked;
      this.apply();
    },
    setArmed(armed) {
      this.armed = armed;
      this.apply();
    },
    watch() {
      try {
        const observer = new MutationObserver(() => this.apply());
        observer.observe(document.head || document.documentElement, {
          childList: true, subtree: true, characterData: true,
        });
      } catch (_) { /* ignore */ }
      setInterval(() => this.apply(), 2000); // covers a replaced <head> the observer no longer sees
    },
  };

  // ---------------------------------------------------------------- transports
  // Both transports take {onOpen, onFrame, onClose} and return {kind, send(frame), close()}.
  // onClose receives {opened: boolean, code?, reason?}; it is called at most once, and never
  // after close() was called by us.

  function openWebSocket(handlers) {
    const url = GATEWAY.replace(/^http/i, 'ws') + '/ws?token=' + encodeURIComponent(TOKEN);
    let ws = null;
    let opened = false;
    let finished = false;
    let openTimer = null;

    const finish = (info) => {
      if (finished) return;
      finished = true;
      clearTimeout(openTimer);
      try { handlers.onClose(info); } catch (e) { warn('close handler failed', e); }
    };

    // Frames leave in batches (docs/worker-protocol.md "Batches"; batcher.js).
    const batches = batcher.linkBatcher(Object.assign({
      write(message) {
        try {
          if (!ws || ws.readyState !== 1) return false;
          ws.send(JSON.stringify(message));
          return true;
        } catch (e) { warn('WebSocket send failed', e); }
        return false;
      },
      nextTask,
      streamingJobs() { // the jobs streaming a body (not those waiting for an answer)
        let streaming = 0;
        for (const job of jobs.values()) if (job.httpStatus !== null) streaming++;
        return streaming;
      },
    }, clock));
    const unbatched = batchesOff();
    const link = {
      kind: 'ws',
      send(frame, firstOutput) {
        try {
          if (!ws || ws.readyState !== 1) return false;
          if (unbatched) { ws.send(JSON.stringify(frame)); return true; }
          return batches.send(frame, firstOutput);
        } catch (e) { warn('WebSocket send failed', e); }
        return false;
      },
      close() {
        finished = true;
        clearTimeout(openTimer);
        try { if (ws) ws.close(1000, 'closing'); } catch (_) { /* ignore */ }
      },
    };

    try {
      ws = new WebSocket(url);
    } catch (e) { // mixed content / blocked by policy
      setTimeout(() => finish({ opened: false, reason: errorText(e) }), 0);
      return link;
    }
    openTimer = setTimeout(() => {
      if (opened) return;
      try { ws.close(); } catch (_) { /* ignore */ }
      finish({ opened: false, reason: 'WebSocket did not open in time' });
    }, WS_OPEN_TIMEOUT_MS);

    ws.onopen = () => {
      if (finished) return;
      opened = true;
      clearTimeout(openTimer);
      try {
        ws.send(JSON.stringify(helloFrame()));
        handlers.onOpen();
      } catch (e) { warn('hello failed', e); }
    };
    ws.onmessage = (event) => {
      if (finished) return;
      let frame;
      try { frame = JSON.parse(event.data); } catch (_) { return; }
      if (Array.isArray(frame)) { // a batch: the jobs of a burst of requests, in order
        for (const one of frame) handlers.onFrame(one);
        return;
      }
      handlers.onFrame(frame);
    };
    ws.onerror = () => { /* a close event follows */ };
    ws.onclose = (event) => finish({ opened, code: event.code, reason: event.reason });
    return link;
  }

  function gmRequest(path, body, timeoutMs, inflight) {
    return new Promise((resolve, reject) => {
      const gm = gmXhr();
      if (!gm) { reject(new Error('GM_xmlhttpRequest is not available')); return; }
      let handle = null;
      const done = () => { if (inflight && handle) inflight.delete(handle); };
      try {
        handle = gm({
          method: 'POST',
          url: GATEWAY + path,
          headers: { 'Content-Type': 'application/json', 'X-Worker-Token': TOKEN },
          data: JSON.stringify(body),
          timeout: timeoutMs,
          onload: (res) => {
            done();
            let json = null;
            try { json = JSON.parse(res.responseText); } catch (_) { /* not JSON */ }
            resolve({ status: res.status, json });
          },
          onerror: () => { done(); reject(new Error('network error')); },
          ontimeout: () => { done(); reject(new Error('timeout')); },
          onabort: () => { done(); reject(new Error('aborted')); },
        });
        if (inflight && handle) inflight.add(handle);
      } catch (e) { reject(e); }
    });
  }

  function openLongPoll(handlers) {
    const polls = new Set(); // in-flight polls, aborted on close; pushes are left to finish
    let closed = false;
    let finished = false;
    let workerId = null;
    let pollTimeoutMs = 25000;
    let outbox = [];
    let pushing = false;

    const finish = (info) => {
      if (finished || closed) return;
      finished = true;
      closed = true;
      abortPolls();
      try { handlers.onClose(info); } catch (e) { warn('close handler failed', e); }
    };
    const abortPolls = () => {
      for (const handle of Array.from(polls)) {
        try { if (handle && typeof handle.abort === 'function') handle.abort(); } catch (_) { /* ignore */ }
      }
      polls.clear();
    };

    async function pump() {
      if (pushing) return;
      pushing = true;
      try {
        while (outbox.length && !closed) {
          const frames = outbox;
          outbox = [];
          for (let attempt = 1; !closed; attempt++) {
            let res;
            try {
              res = await gmRequest('/worker/push', { worker: workerId, frames }, GM_TIMEOUT_MS, null);
            } catch (e) {
              if (closed) return;
              if (attempt >= 3) { warn('push failed, dropping', frames.length, 'frame(s):', errorText(e)); break; }
              await sleep(backoffDelay(attempt));
              continue;
            }
            if (res.status === 404) { finish({ opened: true, reason: 'unknown worker' }); return; }
            if (res.status !== 200) warn('push answered HTTP', res.status);
            break;
          }
        }
      } finally {
        pushing = false;
      }
    }

    async function pollLoop() {
      let failures = 0;
      while (!closed) {
        let res;
        try {
          res = await gmRequest('/worker/poll', { worker: workerId }, pollTimeoutMs + 15000, polls);
        } catch (e) {
          if (closed) return;
          failures++;
          title.set(false);
          warn('poll failed (' + errorText(e) + '), retrying');
          await sleep(backoffDelay(failures));
          continue;
        }
        if (closed) return;
        if (res.status === 404) { finish({ opened: true, reason: 'unknown worker' }); return; }
        if (res.status !== 200 || !res.json) {
          failures++;
          title.set(false);
          await sleep(backoffDelay(failures));
          continue;
        }
        if (failures) { failures = 0; title.set(true); }
        for (const frame of res.json.frames || []) {
          if (closed) return;
          handlers.onFrame(frame);
        }
      }
    }

    async function start() {
      let res;
      try {
        res = await gmRequest('/worker/connect', helloFrame(), GM_TIMEOUT_MS, polls);
      } catch (e) {
        finish({ opened: false, reason: errorText(e) });
        return;
      }
      if (closed) return;
      if (res.status !== 200 || !res.json || !res.json.worker) {
        finish({ opened: false, code: res.status, reason: 'connect answered HTTP ' + res.status });
        return;
      }
      workerId = res.json.worker;
      const timeout = Number(res.json.poll_timeout);
      if (timeout > 0) pollTimeoutMs = timeout * 1000;
      handlers.onOpen();
      // The connect answer is this transport's welcome.
      handlers.onFrame({ type: 'welcome', worker: workerId, protocol: PROTOCOL });
      pollLoop().catch((e) => finish({ opened: true, reason: errorText(e) }));
    }

    start().catch((e) => finish({ opened: false, reason: errorText(e) }));

    return {
      kind: 'poll',
      send(frame) {
        if (closed) return false;
        outbox.push(frame);
        pump().catch((e) => warn('push loop failed', e));
        return true;
      },
      close() {
        closed = true;
        finished = true;
        // Give frames already queued (e.g. "page navigated away" errors) one last chance,
        // and say goodbye so the gateway forgets this worker now rather than at a timeout.
        if (workerId) {
          const frames = outbox.concat([{ type: 'bye' }]);
          gmRequest('/worker/push', { worker: workerId, frames }, 5000, null).catch(() => {});
          outbox = [];
        }
        abortPolls();
      },
    };
  }

  // ---------------------------------------------------------------- connection manager

  const conn = {
    link: null,
    kind: null,
    workerId: null,
    connected: false,
    attempt: 0,
    preferPoll: false,
    stopped: false,
    timer: null,
  };

  function send(frame, firstOutput) {
    try {
      return conn.link ? conn.link.send(frame, firstOutput) : false;
    } catch (e) {
      warn('send failed', e);
      return false;
    }
  }

  function setConnected(connected) {
    conn.connected = connected;
    title.set(connected);
  }

  function scheduleReconnect() {
    if (conn.stopped || conn.timer) return;
    conn.attempt++;
    const delay = backoffDelay(conn.attempt);
    log('reconnecting in', delay, 'ms');
    conn.timer = setTimeout(() => { conn.timer = null; connect(); }, delay);
  }

  function onLinkClosed(kind, info) {
    conn.link = null;
    conn.kind = null;
    conn.workerId = null;
    setConnected(false);
    disarmCapture();
    tokens.configure(null); // the next gateway says again whether to keep tokens
    // The gateway forgets a worker's jobs when its connection ends; their frames would be dropped.
    abortAllJobs();
    if (conn.stopped) return;
    if ([401, 403, 4401, 4403].includes(info.code)) {
      warn('the gateway rejected this worker (token or origin). Reinstall the script from '
        + GATEWAY + '/bridge.user.js');
    }
    const forced = forcedTransport();
    if (kind === 'ws' && !info.opened && forced !== 'ws' && gmXhr()) {
      log('WebSocket failed before opening (' + (info.reason || info.code || 'blocked?')
        + '); trying the GM_xmlhttpRequest long-poll transport');
      openLink('poll', true);
      return;
    }
    log(kind, 'transport closed', info.code || '', info.reason || '');
    if (kind === 'poll' && info.opened && info.reason === 'unknown worker') conn.attempt = 0;
    scheduleReconnect();
  }

  function openLink(kind, afterWsFailure) {
    const handlers = {
      onOpen() {
        if (afterWsFailure) conn.preferPoll = true; // WebSocket is blocked here: stay on long-poll
      },
      onFrame,
      onClose(info) { onLinkClosed(kind, info); },
    };
    conn.kind = kind;
    conn.link = kind === 'poll' ? openLongPoll(handlers) : openWebSocket(handlers);
  }

  function connect() {
    if (conn.stopped || conn.link) return;
    const forced = forcedTransport();
    const usePoll = forced === 'poll' || (forced !== 'ws' && conn.preferPoll && gmXhr());
    openLink(usePoll ? 'poll' : 'ws', false);
  }

  function disconnect() {
    if (conn.timer) { clearTimeout(conn.timer); conn.timer = null; }
    const link = conn.link;
    conn.link = null;
    conn.kind = null;
    conn.workerId = null;
    setConnected(false);
    if (link) {
      try { link.close(); } catch (_) { /* ignore */ }
    }
  }

  // ---------------------------------------------------------------- frames

  function onFrame(frame) {
    try {
      if (!frame || typeof frame !== 'object') return;
      switch (frame.type) {
        case 'welcome':
          if (!conn.connected) log('connected via', conn.kind === 'poll' ? 'GM_xmlhttpRequest long-poll' : 'WebSocket', 'as worker', frame.worker);
          conn.workerId = frame.worker;
          conn.attempt = 0;
          setConnected(true);
          break;
        case 'fetch':
          runJob(frame).catch((e) => warn('job failed', e));
          break;
        case 'abort':
          abortJob(frame.job);
          break;
        case 'ping':
          send({ type: 'pong', t: frame.t });
          break;
        case 'reload':
          log('reload requested by the gateway');
          W.location.reload();
          break;
        case 'navigate':
          navigateTo(frame.url);
          break;
        case 'capture_ids':
          armCapture(frame.match);
          break;
        case 'capture_cancel':
          disarmCapture();
          break;
        case 'token_pool':
          tokens.configure(frame);
          break;
        case 'token_pool_drop':
          tokens.drop();
          break;
        default:
          break; // unknown frame types are ignored (forward compatibility)
      }
    } catch (e) {
      warn('frame handling failed', e);
    }
  }

  // The gateway moves a tab whose site moved (another origin of the same site). Only to a page
  // this script would run on: never anywhere else.
  function navigateTo(url) {
    let target;
    try { target = new W.URL(String(url || ''), W.location.href); } catch (_) { return; }
    const allowed = PAGE_ORIGINS.indexOf(target.origin) !== -1 || (target.protocol === 'https:'
      && PAGE_HOSTS.some((h) => target.hostname === h || target.hostname.endsWith('.' + h)));
    if (!allowed) { warn('navigation refused:', target.origin); return; }
    log('moving to', target.href, '(requested by the gateway)');
    W.location.assign(target.href);
  }

  // ---------------------------------------------------------------- jobs

  const jobs = new Map(); // job id → {id, controller, aborted, httpStatus, chunks, pool, tookToken}

  function finishJob(job) {
    job.chunks.stop();
    if (job.tookToken) { job.tookToken = false; tokens.done(); }
    if (jobs.get(job.id) === job) jobs.delete(job.id);
  }

  function abortJob(id) {
    const job = jobs.get(id);
    if (!job) return;
    job.aborted = true;
    try { job.controller.abort(); } catch (_) { /* ignore */ }
    finishJob(job);
  }

  function abortAllJobs() {
    for (const id of Array.from(jobs.keys())) abortJob(id);
  }

  function recaptchaApi() {
    const g = W.grecaptcha;
    if (g && g.enterprise && typeof g.enterprise.execute === 'function') return g.enterprise;
    if (g && typeof g.execute === 'function') return g;
    return null;
  }

  function pageFunction(fn) {
    // Firefox script sandboxes need a callback exported before page code may call it.
    try {
      if (typeof exportFunction === 'function') return exportFunction(fn, W); // eslint-disable-line no-undef
    } catch (_) { /* ignore */ }
    return fn;
  }

  async function mintRecaptcha(siteKey, action) {
    const deadline = Date.now() + RECAPTCHA_WAIT_MS;
    let api = recaptchaApi();
    while (!api) {
      if (Date.now() > deadline) throw new Error('grecaptcha is not available on this page');
      await sleep(200);
      api = recaptchaApi();
    }
    if (typeof api.ready === 'function') {
      // ready() can hang forever; execute() usually works regardless.
      await withTimeout(new Promise((resolve) => api.ready(pageFunction(resolve))), RECAPTCHA_READY_MS, 'grecaptcha.ready')
        .catch(() => {});
    }
    let params;
    try { params = new W.Object(); params.action = action; } catch (_) { params = { action }; }
    const token = await withTimeout(api.execute(siteKey, params), RECAPTCHA_EXECUTE_MS, 'grecaptcha.execute');
    if (typeof token !== 'string' || !token) throw new Error('grecaptcha.execute returned no token');
    return token;
  }

  function decodeBase64(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  async function prepareBody(frame, job) {
    if (typeof frame.body_base64 === 'string') return decodeBase64(frame.body_base64);
    const body = frame.body === undefined ? null : frame.body;
    const rc = frame.recaptcha;
    if (!rc) return body;
    const taken = tokens.take(rc.site_key, rc.action); // a pooled token, or mint one now
    job.tookToken = true;
    job.pool = taken.pool;
    const token = taken.token || await mintRecaptcha(rc.site_key, rc.action);
    const parsed = body ? JSON.parse(body) : {};
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('body is not a JSON object');
    parsed[rc.body_field] = token;
    return JSON.stringify(parsed);
  }

  function headersObject(headers) {
    const out = {};
    try { headers.forEach((value, name) => { out[String(name).toLowerCase()] = value; }); } catch (_) { /* ignore */ }
    return out;
  }

  // A job's first answer says whether its token came from the pool (the gateway counts them).
  function withPool(job, frame) {
    if (job.pool) frame.pool = job.pool;
    return frame;
  }

  async function runJob(frame) {
    const id = frame.job;
    if (typeof id !== 'string' || jobs.has(id)) return;
    const job = {
      id, controller: new AbortController(), aborted: false, httpStatus: null,
      pool: null, tookToken: false, // whether its token came from the pool ('hit' | 'miss')
      // Which chunk carries the job's first output is the gateway's rule (`first_output`).
      chunks: batcher.jobChunks(id, frame.first_output, Object.assign({ send }, clock)),
    };
    jobs.set(id, job);
    try {
      let body;
      try {
        body = await prepareBody(frame, job);
      } catch (e) {
        if (!job.aborted) send(withPool(job, { type: 'error', job: id, message: 'reCAPTCHA could not be minted: ' + errorText(e) }));
        return;
      }
      if (job.aborted) return;
      if (frame.prepare_only) { // the body the request would carry; nothing is fetched
        send({ type: 'status', job: id, http_status: 200, headers: {} });
        job.chunks.emit(typeof body === 'string' ? body : '');
        job.chunks.flush();
        send({ type: 'done', job: id, seq: job.chunks.seq });
        return;
      }
      const init = {
        method: frame.method || 'GET',
        headers: frame.headers || {},
        body,
        credentials: frame.credentials || 'include',
        redirect: frame.redirect || 'follow',
        signal: job.controller.signal,
      };
      const response = await ownFetch(frame.url, init);
      job.httpStatus = response.status;
      if (job.aborted) return;
      const statusFrame = { type: 'status', job: id, http_status: response.status, headers: headersObject(response.headers) };
      if (response.type === 'opaqueredirect') statusFrame.response_type = response.type; // a 3xx not followed
      send(withPool(job, statusFrame));
      const decoder = new TextDecoder('utf-8');
      if (response.body && typeof response.body.getReader === 'function') {
        const reader = response.body.getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (job.aborted) return;
          if (done) break;
          job.chunks.emit(decoder.decode(value, { stream: true }));
        }
        job.chunks.emit(decoder.decode());
      } else {
        job.chunks.emit(await response.text());
      }
      if (job.aborted) return;
      job.chunks.flush();
      send({ type: 'done', job: id, seq: job.chunks.seq });
    } catch (e) {
      if (job.aborted) return;
      job.chunks.flush();
      const frameOut = { type: 'error', job: id, message: errorText(e) };
      if (job.httpStatus !== null) frameOut.http_status = job.httpStatus;
      send(frameOut);
    } finally {
      finishJob(job);
    }
  }

  // ---------------------------------------------------------------- id capture (🎯)
  // While the gateway has armed capture, report the page's own requests whose URL matches the
  // gateway's pattern (the gateway reads the ids out of them). The fetch wrapper is installed at
  // document-start so it sees the page's requests; the script's own job fetches are marked and
  // never reported.

  const capture = { pattern: null };
  const ownInits = new WeakSet();
  let ownCalls = 0;

  function ownFetch(url, init) {
    ownInits.add(init);
    ownCalls++;
    try {
      return W.fetch(url, init);
    } finally {
      ownCalls--;
    }
  }

  function armCapture(match) {
    try {
      capture.pattern = new RegExp(String(match || ''));
    } catch (e) {
      warn('capture pattern rejected', e);
      return;
    }
    title.setArmed(true);
    log('id capture armed: use the page (e.g. click Retry under an answer)');
  }

  function disarmCapture() {
    if (!capture.pattern) return;
    capture.pattern = null;
    title.setArmed(false);
  }

  async function bodyText(input, body) {
    if (body === undefined || body === null) {
      return input && typeof input.clone === 'function' ? input.clone().text() : null;
    }
    if (typeof body === 'string') return body;
    if (typeof W.URLSearchParams === 'function' && body instanceof W.URLSearchParams) return body.toString();
    if (typeof W.Blob === 'function' && body instanceof W.Blob) return body.text();
    if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return new TextDecoder().decode(body);
    return null;
  }

  function observe(input, init) {
    const raw = typeof input === 'string' ? input : (input && input.url) || String(input);
    const url = new W.URL(raw, W.location.href).href;
    if (!capture.pattern || !capture.pattern.test(url)) return;
    const method = String((init && init.method) || (input && input.method) || 'GET').toUpperCase();
    // Read the body now: a Request's body is gone once the page's fetch has used it.
    const text = bodyText(input, init ? init.body : undefined);
    Promise.resolve(text).then((body) => {
      const data = body === null ? null : String(body).slice(0, MAX_CAPTURED_BODY);
      send({ type: 'captured', url, method, body: data });
    }).catch((e) => warn('captured body unreadable', e));
  }

  function installFetchWrapper() {
    let original;
    try { original = W.fetch; } catch (_) { return; }
    if (typeof original !== 'function') return;
    const wrapped = function (input, init) {
      if (capture.pattern && ownCalls === 0 && !(init && ownInits.has(init))) {
        try { observe(input, init); } catch (e) { warn('capture failed', e); }
      }
      return original.apply(W, arguments);
    };
    try { W.fetch = pageFunction(wrapped); } catch (e) { warn('fetch wrapper not installed', e); }
  }

  // ---------------------------------------------------------------- page lifecycle

  function onVisibilityChange() {
    try {
      if (!document.hidden) for (const job of jobs.values()) job.chunks.flush();
    } catch (e) { warn('visibility flush failed', e); }
  }

  function onPageLeave() {
    try {
      if (conn.stopped) return;
      conn.stopped = true;
      send({ type: 'bye' }); // first, so the gateway gives this tab no new job meanwhile
      tokens.drop(); // minted for this page
      for (const job of Array.from(jobs.values())) {
        job.chunks.flush();
        send({ type: 'error', job: job.id, message: NAVIGATED_AWAY });
      }
      abortAllJobs();
      disconnect();
      // beforeunload can be cancelled and pagehide can lead to the back/forward cache:
      // if this page is still alive a moment later, come back.
      setTimeout(resume, 3000);
    } catch (e) { warn('page leave handling failed', e); }
  }

  function resume() {
    try {
      if (!conn.stopped) return;
      conn.stopped = false;
      conn.attempt = 0;
      connect();
    } catch (e) { warn('resume failed', e); }
  }

  function start() {
    try {
      log('bridge', VERSION, 'starting; gateway', GATEWAY, 'tab', TAB_ID);
      title.watch();
      document.addEventListener('visibilitychange', onVisibilityChange);
      window.addEventListener('pagehide', onPageLeave);
      window.addEventListener('beforeunload', onPageLeave);
      window.addEventListener('pageshow', (event) => { if (event.persisted) resume(); });
      connect();
    } catch (e) { warn('start failed', e); }
  }

  try {
    W.__lmarenarev = {
      version: VERSION,
      tab: TAB_ID,
      status() {
        return {
          transport: conn.kind, connected: conn.connected, worker: conn.workerId,
          jobs: Array.from(jobs.keys()), prefer_poll: conn.preferPoll,
          token_pool: tokens.status(),
        };
      },
      reconnect() { disconnect(); conn.attempt = 0; connect(); },
    };
  } catch (_) { /* ignore */ }

  installFetchWrapper(); // now, at document-start: before the page's code keeps a reference
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start, { once: true });
  } else {
    start();
  }
})();
