'use strict';
// The tab's reCAPTCHA token pool (docs/worker-protocol.md "Token pool") on a fake clock: mints
// are promises the test settles, timers fire when the clock is moved past them.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { tokenPool } = require('./harness.js');

const KEY = 'site-key';
const ACTION = 'chat_submit';
const CONFIG = { type: 'token_pool', site_key: KEY, action: ACTION, size: 1, max_age_ms: 90000, warm_ms: 120000 };

// A pool on a clock moved by hand. `mints` holds every mint asked for, in order:
// {siteKey, action, at, resolve(token), reject(error)}; `reports` what the pool reported.
function fakePool(config = CONFIG) {
  let now = 0;
  let nextId = 1;
  const timers = new Map();
  const mints = [];
  const reports = [];
  const pool = tokenPool.createPool({
    now: () => now,
    setTimer(fn, ms) { const id = nextId++; timers.set(id, { at: now + Math.max(0, ms), fn }); return id; },
    clearTimer(id) { timers.delete(id); },
    mint(siteKey, action) {
      return new Promise((resolve, reject) => mints.push({ siteKey, action, at: now, resolve, reject }));
    },
    report(counts) { reports.push(counts); },
  });
  if (config) pool.configure(config);
  const settle = () => new Promise((resolve) => setImmediate(resolve)); // the promise callbacks run
  return {
    pool, mints, reports,
    get now() { return now; },
    // Move the clock on, firing timers that fall due.
    advance(ms) {
      const until = now + ms;
      for (;;) {
        let due = null;
        for (const [id, t] of timers) if (t.at <= until && (due === null || t.at < timers.get(due).at)) due = id;
        if (due === null) break;
        const t = timers.get(due);
        timers.delete(due);
        now = Math.max(now, t.at);
        t.fn();
      }
      now = until;
    },
    skip(ms) { now += ms; }, // no timer fires: a background tab's throttled timers
    settle,
    async mintDone(index, token) { await settle(); mints[index].resolve(token); await settle(); },
    timers: () => timers.size,
  };
}

// A pool that has seen one job (a miss) and holds the token its refill minted.
async function warmPool(config = CONFIG) {
  const p = fakePool(config);
  assert.deepEqual(p.pool.take(KEY, ACTION), { token: null, pool: 'miss' });
  p.pool.done();
  p.advance(0);
  await p.mintDone(0, 'tok-1');
  assert.equal(p.pool.status().held, 1);
  return p;
}

test('an idle tab mints nothing: not when the gateway turns the pool on, not later', async () => {
  const p = fakePool();
  await p.settle();
  p.advance(10 * 60 * 1000);
  await p.settle();
  assert.equal(p.mints.length, 0);
  assert.deepEqual(p.pool.status(), { on: true, size: 1, held: 0, minting: 0, hits: 0, misses: 0, expired: 0, dropped: 0, minted: 0, failed: 0 });
});

test('the first job misses and refills the pool; the next job takes the pooled token', async () => {
  const p = await warmPool();
  assert.equal(p.mints.length, 1);
  assert.deepEqual([p.mints[0].siteKey, p.mints[0].action], [KEY, ACTION]);
  p.advance(5000);
  const taken = p.pool.take(KEY, ACTION);
  assert.deepEqual(taken, { token: 'tok-1', pool: 'hit' });
  assert.equal(p.mints.length, 1); // the job's fetch goes first: the refill waits for a task
  p.advance(0);
  assert.equal(p.mints.length, 2); // the hit starts the next refill
  assert.equal(p.pool.status().hits, 1);
  assert.equal(p.pool.status().misses, 1);
});

test('a token is used once: two jobs never get the same token', async () => {
  const p = await warmPool();
  const first = p.pool.take(KEY, ACTION);
  const second = p.pool.take(KEY, ACTION);
  assert.equal(first.token, 'tok-1');
  assert.deepEqual(second, { token: null, pool: 'miss' });
});

test('a pool of two keeps two; the oldest token is used first', async () => {
  const p = fakePool(Object.assign({}, CONFIG, { size: 2 }));
  p.pool.take(KEY, ACTION);
  p.advance(0);
  assert.equal(p.mints.length, 2);
  await p.mintDone(0, 'old');
  p.advance(10);
  await p.mintDone(1, 'new');
  assert.equal(p.pool.take(KEY, ACTION).token, 'old');
  assert.equal(p.pool.take(KEY, ACTION).token, 'new');
});

test('a token is never used at or past its maximum age: it expires, and is replaced while requests are coming', async () => {
  const p = await warmPool();
  p.advance(89999);
  assert.equal(p.pool.status().held, 1);
  p.advance(1);
  assert.equal(p.pool.status().held, 0);
  assert.equal(p.pool.status().expired, 1);
  assert.deepEqual(p.reports, [{ expired: 1, dropped: 0 }]);
  assert.equal(p.mints.length, 2); // the last job ended 90 s ago, within the 120 s warm window
  await p.mintDone(1, 'tok-2');
  assert.equal(p.pool.take(KEY, ACTION).token, 'tok-2');
});

test("the age counts from the mint's start, and a late timer does not make an old token usable", async () => {
  const p = fakePool();
  p.pool.take(KEY, ACTION);
  p.pool.done();
  p.advance(0);
  p.skip(1000); // the mint took a second
  await p.mintDone(0, 'tok-1');
  p.skip(89000); // throttled: the expiry timer has not fired
  assert.deepEqual(p.pool.take(KEY, ACTION), { token: null, pool: 'miss' });
  assert.equal(p.pool.status().expired, 1);
});

test('once requests stop, the pool lets its token expire and mints no other', async () => {
  const p = await warmPool(Object.assign({}, CONFIG, { max_age_ms: 90000, warm_ms: 60000 }));
  p.advance(90000); // expired 90 s after the last job: no longer warm
  await p.settle();
  assert.equal(p.pool.status().held, 0);
  assert.equal(p.mints.length, 1);
  p.advance(10 * 60 * 1000);
  assert.equal(p.mints.length, 1);
});

test('a running job keeps the pool warm however long it streams', async () => {
  const p = fakePool(Object.assign({}, CONFIG, { max_age_ms: 30000, warm_ms: 10000 }));
  p.pool.take(KEY, ACTION); // not done yet: a long stream
  p.advance(0);
  await p.mintDone(0, 'tok-1');
  p.advance(30000);
  assert.equal(p.mints.length, 2); // replaced: the job still runs
  p.pool.done();
  await p.mintDone(1, 'tok-2');
  p.advance(30000);
  assert.equal(p.mints.length, 2); // 30 s after the end > 10 s: not replaced
});

test('another action (chat_retry) gets nothing from the pool and is neither hit nor miss; it keeps the pool warm', async () => {
  const p = fakePool();
  assert.deepEqual(p.pool.take(KEY, 'chat_retry'), { token: null, pool: null });
  p.advance(0);
  assert.equal(p.mints.length, 1); // the pooled action is refilled: requests are coming
  assert.equal(p.mints[0].action, ACTION);
  await p.mintDone(0, 'tok-1');
  assert.deepEqual(p.pool.take(KEY, 'chat_retry'), { token: null, pool: null });
  assert.equal(p.pool.status().held, 1);
  assert.deepEqual([p.pool.status().hits, p.pool.status().misses], [0, 0]);
  assert.deepEqual(p.pool.take('other-key', ACTION), { token: null, pool: null });
});

test('a refusal drops every pooled token; a mint under way then is not kept', async () => {
  const p = fakePool(Object.assign({}, CONFIG, { size: 2 }));
  p.pool.take(KEY, ACTION);
  p.advance(0);
  await p.mintDone(0, 'tok-1');
  p.pool.drop();
  assert.equal(p.pool.status().held, 0);
  assert.deepEqual(p.reports, [{ expired: 0, dropped: 1 }]);
  await p.mintDone(1, 'minted-before-the-drop');
  assert.equal(p.pool.status().held, 0);
  assert.equal(p.pool.status().dropped, 2);
  assert.equal(p.timers(), 0);
  assert.equal(p.mints.length, 2); // no refill until the next job
  assert.deepEqual(p.pool.take(KEY, ACTION), { token: null, pool: 'miss' });
  p.advance(0);
  assert.equal(p.mints.length, 4);
});

test('size 0, a missing field or a wrong type turns the pool off and drops what it held', async () => {
  const p = await warmPool();
  p.pool.configure(Object.assign({}, CONFIG, { size: 0 }));
  assert.deepEqual(p.pool.status().on, false);
  assert.equal(p.pool.status().dropped, 1);
  assert.deepEqual(p.pool.take(KEY, ACTION), { token: null, pool: null });
  assert.equal(p.mints.length, 1);
  for (const bad of [null, {}, Object.assign({}, CONFIG, { site_key: '' }), Object.assign({}, CONFIG, { size: 1.5 }),
    Object.assign({}, CONFIG, { max_age_ms: 0 }), Object.assign({}, CONFIG, { warm_ms: '60' })]) {
    assert.equal(tokenPool.parseConfig(bad), null, JSON.stringify(bad));
  }
  assert.equal(tokenPool.parseConfig(Object.assign({}, CONFIG, { size: 100 })).size, tokenPool.MAX_SIZE);
});

test('the same settings sent again keep the tokens; another site key or action drops them', async () => {
  const p = await warmPool();
  p.pool.configure(Object.assign({}, CONFIG, { warm_ms: 5000 }));
  assert.equal(p.pool.status().held, 1);
  p.pool.configure(Object.assign({}, CONFIG, { site_key: 'new-key' }));
  assert.equal(p.pool.status().held, 0);
  assert.equal(p.pool.status().dropped, 1);
});

test('a failed mint is not retried until the next job', async () => {
  const p = fakePool();
  p.pool.take(KEY, ACTION);
  p.pool.done();
  p.advance(0);
  await p.settle();
  p.mints[0].reject(new Error('grecaptcha is not available'));
  await p.settle();
  assert.equal(p.pool.status().failed, 1);
  assert.equal(p.pool.status().minting, 0);
  p.advance(60000);
  assert.equal(p.mints.length, 1);
  p.pool.take(KEY, ACTION);
  p.advance(0);
  assert.equal(p.mints.length, 2);
});
