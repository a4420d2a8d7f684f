/* The userscript's reCAPTCHA token pool (docs/worker-protocol.md "Token pool"): a few fresh
 * tokens kept in the tab while requests are coming, so that a job's fetch starts at once instead
 * of after `grecaptcha.enterprise.execute` (a round trip to Google). The gateway says which site
 * key and action to keep, how many tokens, how long one may be used and how long "requests are
 * coming" lasts (the `token_pool` frame); this file knows nothing of LMArena. The gateway puts
 * it into the served bridge.user.js (api/userscript.py); tests/js loads it on its own under
 * node. It touches no DOM, WebSocket or grecaptcha API: the clock, the timers, the mint and the
 * reporter are handed in. */
const tokenPool = (function () {
  'use strict';

  const MAX_SIZE = 8;

  // The gateway's `token_pool` frame → the pool's settings, or null (off) when it says size 0
  // or is not understood.
  function parseConfig(frame) {
    if (!frame || typeof frame !== 'object') return null;
    const { site_key: siteKey, action, size, max_age_ms: maxAgeMs, warm_ms: warmMs } = frame;
    if (typeof siteKey !== 'string' || !siteKey || typeof action !== 'string' || !action) return null;
    if (!Number.isInteger(size) || size < 1) return null;
    if (typeof maxAgeMs !== 'number' || !(maxAgeMs > 0)) return null;
    if (typeof warmMs !== 'number' || !(warmMs >= 0)) return null;
    return { siteKey, action, size: Math.min(size, MAX_SIZE), maxAgeMs, warmMs };
  }

  // The rules:
  // - the pool keeps up to `size` tokens for one site key and action, minted while requests are
  //   coming: a job that needed a token is running, or one arrived or ended within `warmMs`. An
  //   idle tab mints nothing; its tokens age out;
  // - a token is used once (taken out of the pool) and only while younger than `maxAgeMs`,
  //   counted from when its mint began; an older one is dropped as expired (by a timer, and
  //   checked again when a job takes one: a background tab's timers run late);
  // - a job for another site key or action gets nothing here and mints its own (not a miss);
  // - `drop` empties the pool (a reCAPTCHA refusal, the page going away); a mint under way then
  //   is not kept; `configure` with other settings does the same.
  // env: {now() → ms, setTimer(fn, ms) → handle, clearTimer(handle),
  //       mint(siteKey, action) → Promise<token>, report({expired, dropped}), warn?(...)}.
  function createPool(env) {
    let config = null;
    let tokens = []; // {token, at, timer}, oldest first
    let minting = 0;
    let generation = 0; // a mint begun before the last drop is not kept
    let lastActivity = -Infinity;
    let running = 0; // jobs that took from the pool (hit or miss) and have not ended
    let refillTimer = null;
    const counts = { hits: 0, misses: 0, expired: 0, dropped: 0, minted: 0, failed: 0 };

    const warm = () => running > 0 || env.now() - lastActivity <= config.warmMs;

    const report = (field, n) => {
      if (!n) return;
      counts[field] += n;
      try { env.report(field === 'expired' ? { expired: n, dropped: 0 } : { expired: 0, dropped: n }); } catch (_) { /* ignore */ }
    };

    const removeAll = () => {
      const held = tokens;
      tokens = [];
      for (const entry of held) env.clearTimer(entry.timer);
      return held.length;
    };

    const expire = (entry) => {
      const index = tokens.indexOf(entry);
      if (index === -1) return;
      tokens.splice(index, 1);
      report('expired', 1);
      refill();
    };

    // Tokens that are too old to use, even if their timer has not fired yet.
    const dropStale = () => {
      const now = env.now();
      const stale = tokens.filter((entry) => now - entry.at >= config.maxAgeMs);
      if (!stale.length) return;
      for (const entry of stale) env.clearTimer(entry.timer);
      tokens = tokens.filter((entry) => stale.indexOf(entry) === -1);
      report('expired', stale.length);
    };

    const keep = (token, at, mintedFor) => {
      const now = env.now();
      if (mintedFor !== generation || !config || tokens.length >= config.size) {
        report('dropped', 1); // minted, never to be used
        return;
      }
      if (now - at >= config.maxAgeMs) {
        report('expired', 1);
        return;
      }
      const entry = { token, at, timer: null };
      entry.timer = env.setTimer(() => expire(entry), at + config.maxAgeMs - now);
      tokens.push(entry);
    };

    const startMint = () => {
      const { siteKey, action } = config;
      const at = env.now();
      const mintedFor = generation;
      minting++;
      let minted;
      try { minted = Promise.resolve(env.mint(siteKey, action)); } catch (e) { minted = Promise.reject(e); }
      minted.then((token) => {
        minting--;
        if (typeof token !== 'string' || !token) throw new Error('no token');
        counts.minted++;
        keep(token, at, mintedFor);
      }).catch((e) => {
        minting = Math.max(0, minting - 1);
        counts.failed++;
        // No retry here: the next job tries again (a broken grecaptcha is not hammered).
        if (env.warn) env.warn('token pool: mint failed', e);
      });
    };

    function refill() {
      if (!config || !warm()) return;
      while (tokens.length + minting < config.size) startMint();
    }

    // After a job took (or found none), in a task of its own: the job's fetch starts first, the
    // refill's `execute` (script work in the page) after it.
    const refillSoon = () => {
      if (refillTimer !== null) return;
      refillTimer = env.setTimer(() => { refillTimer = null; refill(); }, 0);
    };

    return {
      configure(frame) {
        const next = parseConfig(frame);
        const same = config && next && next.siteKey === config.siteKey && next.action === config.action
          && next.maxAgeMs === config.maxAgeMs;
        if (!same) {
          generation++;
          report('dropped', removeAll());
        }
        config = next;
        if (config) {
          while (tokens.length > config.size) {
            const entry = tokens.pop();
            env.clearTimer(entry.timer);
            report('dropped', 1);
          }
          refill();
        }
      },
      // A job that needs a token for (siteKey, action) arrived: {token, pool} where pool is
      // 'hit' (token is pooled), 'miss' (none held: the job mints its own) or null (the pool is
      // off or keeps another action). Every call must be followed by one `done()`.
      take(siteKey, action) {
        lastActivity = env.now();
        running++;
        if (!config || siteKey !== config.siteKey || action !== config.action) {
          refillSoon();
          return { token: null, pool: null };
        }
        dropStale();
        const entry = tokens.shift();
        if (entry) env.clearTimer(entry.timer);
        counts[entry ? 'hits' : 'misses']++;
        refillSoon();
        return entry ? { token: entry.token, pool: 'hit' } : { token: null, pool: 'miss' };
      },
      // The job that took ended: requests were coming until now.
      done() {
        running = Math.max(0, running - 1);
        lastActivity = env.now();
      },
      // Empty the pool now (a refusal, navigation); the next job refills it.
      drop() {
        generation++;
        report('dropped', removeAll());
      },
      status() {
        return Object.assign({
          on: config !== null, size: config ? config.size : 0, held: tokens.length, minting,
        }, counts);
      },
    };
  }

  return { MAX_SIZE, parseConfig, createPool };
})();
