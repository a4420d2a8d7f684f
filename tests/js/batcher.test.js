'use strict';
// When the tab's frames leave (docs/worker-protocol.md "Batches"): a job's chunks through its
// jobChunks into the link's batcher, on a fake clock.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { batcher, fakeTab } = require('./harness.js');

const RULE = require('./stream_rule.json');
const WINDOW = batcher.WINDOW_MS;

// A tab whose last batch left at 0 ms: the window runs until WINDOW.
function tabAfterABatch(options = {}) {
  const tab = fakeTab(Object.assign({ rule: RULE }, options));
  tab.send({ type: 'pong', t: 1 });
  tab.messages.length = 0;
  return tab;
}

const kinds = (message) => message.frames.map((f) => f.type + (f.job ? ':' + f.job : ''));

test('the window: 16 ms up to 8 streaming jobs, 2 ms more a job beyond, at most 100 ms', () => {
  assert.deepEqual([0, 1, 8, 9, 24, 30, 50, 1000].map(batcher.batchWindow), [16, 16, 16, 18, 48, 60, 100, 100]);
});

test("a chunk with the job's first output leaves at once, in the next task", () => {
  const tab = tabAfterABatch();
  const job = tab.job('j1');
  tab.advance(1);
  job.emit('af:{"messageId":"m"}\na2:[{"type":"heartbeat"}]\n');
  tab.advance(1);
  assert.equal(tab.messages.length, 0); // not output: it waits for the window
  job.emit('a0:"Hi"\n');
  assert.equal(tab.messages.length, 0); // not in the same task
  tab.runTasks();
  assert.equal(tab.messages.length, 1);
  assert.equal(tab.messages[0].at, 2);
  assert.deepEqual(tab.messages[0].frames, [
    { type: 'chunk', job: 'j1', seq: 0, data: 'af:{"messageId":"m"}\na2:[{"type":"heartbeat"}]\na0:"Hi"\n' },
  ]);
});

test('later chunks wait for the window after the batch before them', () => {
  const tab = tabAfterABatch();
  const job = tab.job('j1');
  job.emit('a0:"one"\n'); // the first output: at once
  tab.runTasks();
  tab.advance(5);
  job.emit('a0:"two"\n');
  tab.advance(5);
  job.emit('a0:"three"\n');
  tab.advance(WINDOW - 11);
  assert.equal(tab.messages.length, 1);
  tab.advance(1);
  assert.deepEqual(tab.messages.map((m) => m.at), [0, WINDOW]);
  assert.deepEqual(tab.messages[1].frames, [{ type: 'chunk', job: 'j1', seq: 1, data: 'a0:"two"\na0:"three"\n' }]);
});

test('a chunk after a pause leaves in the next task', () => {
  const tab = tabAfterABatch();
  const job = tab.job('j1');
  job.emit('a0:"one"\n');
  tab.runTasks();
  tab.advance(WINDOW + 5);
  job.emit('a0:"two"\n');
  tab.runTasks();
  assert.deepEqual(tab.messages.map((m) => m.at), [0, WINDOW + 5]);
});

test('the window grows with the jobs streaming a body', () => {
  const tab = tabAfterABatch({ streaming: 24 });
  const job = tab.job('j1');
  job.emit('a0:"one"\n');
  tab.runTasks();
  tab.advance(1);
  job.emit('a0:"two"\n');
  tab.advance(46);
  assert.equal(tab.messages.length, 1);
  tab.advance(1);
  assert.deepEqual(tab.messages.map((m) => m.at), [0, 48]);
});

test('only the first output is sent at once: later output waits', () => {
  const tab = tabAfterABatch();
  const job = tab.job('j1');
  job.emit('a0:"one"\n');
  tab.runTasks();
  job.emit('ad:{"finishReason":"stop"}\n');
  tab.runTasks();
  assert.equal(tab.messages.length, 1);
  tab.advance(WINDOW);
  assert.equal(tab.messages.length, 2);
});

test("chunks of one job waiting together become one frame with one seq; done counts frames", () => {
  const tab = tabAfterABatch();
  const job = tab.job('j1');
  tab.advance(1);
  for (const text of ['af:{}\n', 'a2:[{"type":"heartbeat"}]\n', 'a2:[{"type":"heartbeat"}]\n']) job.emit(text);
  tab.advance(WINDOW);
  job.emit('a0:"x"\n');
  tab.runTasks();
  job.emit('a0:"y"\n');
  job.emit('a0:"z"\n');
  job.flush();
  tab.send({ type: 'done', job: 'j1', seq: job.seq });
  assert.deepEqual(tab.frames(), [
    { type: 'chunk', job: 'j1', seq: 0, data: 'af:{}\na2:[{"type":"heartbeat"}]\na2:[{"type":"heartbeat"}]\n' },
    { type: 'chunk', job: 'j1', seq: 1, data: 'a0:"x"\n' },
    { type: 'chunk', job: 'j1', seq: 2, data: 'a0:"y"\na0:"z"\n' },
    { type: 'done', job: 'j1', seq: 3 },
  ]);
});

test("a job's done leaves at once with its waiting frames; the other jobs' keep waiting", () => {
  const tab = tabAfterABatch();
  const a = tab.job('a');
  const b = tab.job('b');
  tab.send({ type: 'status', job: 'a', http_status: 200, headers: {} });
  tab.send({ type: 'status', job: 'b', http_status: 200, headers: {} });
  tab.advance(1);
  a.emit('af:{}\n');
  b.emit('af:{}\n');
  a.emit('af:{}\n');
  tab.send({ type: 'done', job: 'a', seq: a.seq });
  assert.equal(tab.messages.length, 1);
  assert.deepEqual(kinds(tab.messages[0]), ['status:a', 'chunk:a', 'done:a']);
  assert.equal(tab.messages[0].frames[1].data, 'af:{}\naf:{}\n');
  assert.equal(tab.messages[0].frames[2].seq, 1);
  tab.advance(WINDOW - 2);
  assert.equal(tab.messages.length, 1);
  tab.advance(1);
  assert.deepEqual(kinds(tab.messages[1]), ['status:b', 'chunk:b']);
  assert.equal(tab.messages[1].at, WINDOW);
});

test("a job's error leaves at once after its waiting frames", () => {
  const tab = tabAfterABatch();
  const a = tab.job('a');
  a.emit('af:{}\n');
  tab.send({ type: 'error', job: 'a', message: 'network error' });
  assert.deepEqual(tab.messages.map(kinds), [['chunk:a', 'error:a']]);
  tab.advance(WINDOW * 2);
  assert.equal(tab.messages.length, 1); // nothing was left to send
});

test('a lone done is a frame, not an array', () => {
  const tab = tabAfterABatch();
  tab.send({ type: 'done', job: 'a', seq: 0 });
  assert.deepEqual(tab.messages.map((m) => m.batch), [false]);
});

for (const frame of [{ type: 'pong', t: 5 }, { type: 'captured', url: 'https://x/', method: 'GET', body: null }, { type: 'bye' }]) {
  test(`a ${frame.type} joins the batch as its last frame and sends it at once`, () => {
    const tab = tabAfterABatch();
    const a = tab.job('a');
    a.emit('af:{}\n');
    tab.send({ type: 'status', job: 'b', http_status: 200, headers: {} });
    tab.send(frame);
    assert.deepEqual(tab.messages.map(kinds), [['chunk:a', 'status:b', frame.type]]);
    assert.equal(tab.messages[0].batch, true);
    tab.advance(WINDOW * 2);
    assert.equal(tab.messages.length, 1);
  });
}

test("each job's frames stay in order, however they are batched", () => {
  const tab = tabAfterABatch({ streaming: 3 });
  const jobs = ['a', 'b', 'c'].map((id) => ({ id, chunks: tab.job(id), sent: [] }));
  let step = 0;
  for (const job of jobs) tab.send({ type: 'status', job: job.id, http_status: 200, headers: {} });
  for (let round = 0; round < 40; round++) {
    for (const job of jobs) {
      if (round === 39 && job.id === 'b') continue;
      const text = `a0:"${job.id}${round}"\n`;
      job.sent.push(text);
      job.chunks.emit(text);
      if ((round * 7 + step++) % 5 === 0) tab.advance(3);
      if (round === 20 && job.id === 'a') tab.send({ type: 'pong', t: round });
    }
  }
  for (const job of jobs) {
    job.chunks.flush();
    tab.send({ type: 'done', job: job.id, seq: job.chunks.seq });
  }
  tab.advance(WINDOW * 2);
  for (const job of jobs) {
    const own = tab.frames().filter((f) => f.job === job.id);
    assert.equal(own[0].type, 'status');
    assert.deepEqual(own.slice(1, -1).map((f) => f.seq), own.slice(1, -1).map((_, i) => i));
    assert.equal(own.slice(1, -1).map((f) => f.data).join(''), job.sent.join(''));
    assert.deepEqual(own[own.length - 1], { type: 'done', job: job.id, seq: own.length - 2 });
  }
  assert.ok(tab.messages.length < 40, tab.messages.length); // batched, not a message a chunk
});

test('a batch past MAX_CHARS leaves at once', () => {
  const tab = tabAfterABatch();
  const a = tab.job('a');
  const b = tab.job('b');
  a.emit('af:' + 'x'.repeat(batcher.MAX_CHARS / 2));
  assert.equal(tab.messages.length, 0);
  b.emit('af:' + 'x'.repeat(batcher.MAX_CHARS / 2));
  assert.deepEqual(tab.messages.map(kinds), [['chunk:a', 'chunk:b']]);
});

test('a status waits for the window like a chunk', () => {
  const tab = tabAfterABatch();
  tab.advance(4);
  tab.send({ type: 'status', job: 'a', http_status: 200, headers: {} });
  tab.runTasks();
  assert.equal(tab.messages.length, 0);
  tab.advance(WINDOW - 4);
  assert.deepEqual(tab.messages.map(kinds), [['status:a']]);
});

test("a job without a rule: its first chunk leaves at once, the rest wait for the window", () => {
  const tab = tabAfterABatch();
  const page = tab.job('page', undefined);
  tab.advance(1);
  page.emit('<!doctype html><html>');
  tab.runTasks();
  page.emit('<body>');
  tab.runTasks();
  assert.deepEqual(tab.messages.map((m) => m.at), [1]);
  tab.advance(WINDOW);
  assert.deepEqual(tab.frames().map((f) => f.data), ['<!doctype html><html>', '<body>']);
});

test('a frame that sends the batch cancels the flush queued for a first output', () => {
  const tab = tabAfterABatch();
  const a = tab.job('a');
  a.emit('a0:"first"\n'); // queued for the next task
  tab.send({ type: 'pong', t: 2 }); // sends it now
  a.emit('a0:"second"\n'); // within the window: waits for it, not for the stale task
  tab.runTasks();
  assert.equal(tab.messages.length, 1);
  tab.advance(WINDOW);
  assert.equal(tab.messages.length, 2);
});

test('a hidden tab gathers a job\'s text for 100 ms, then sends in the next task', () => {
  const tab = tabAfterABatch({ hidden: true });
  const job = tab.job('j1');
  job.emit('a0:"one"\n');
  tab.advance(50);
  job.emit('a0:"two"\n');
  assert.equal(tab.messages.length, 0);
  tab.advance(50); // the job's timer; the link sends in the next task, not after a window
  assert.deepEqual(tab.messages.map((m) => m.at), [100]);
  assert.deepEqual(tab.frames(), [{ type: 'chunk', job: 'j1', seq: 0, data: 'a0:"one"\na0:"two"\n' }]);
});

test('in a hidden tab the link sends in the next task, not after its window', () => {
  const tab = tabAfterABatch({ hidden: true });
  tab.advance(1);
  tab.send({ type: 'chunk', job: 'j1', seq: 0, data: 'af:{}\n' }, false);
  tab.send({ type: 'status', job: 'j2', http_status: 200, headers: {} });
  tab.runTasks();
  assert.deepEqual(tab.messages.map((m) => [m.at, kinds(m)]), [[1, ['chunk:j1', 'status:j2']]]);
});

test('a hidden tab whose timers are late sends its text with a read 100 ms on', () => {
  const tab = tabAfterABatch({ hidden: true });
  const job = tab.job('j1');
  job.emit('a0:"one"\n');
  tab.skip(120);
  job.emit('a0:"two"\n');
  tab.runTasks();
  assert.deepEqual(tab.frames(), [{ type: 'chunk', job: 'j1', seq: 0, data: 'a0:"one"\na0:"two"\n' }]);
});

test('a tab that becomes visible sends what it gathered (visibilitychange flushes the jobs)', () => {
  const tab = tabAfterABatch({ hidden: true });
  const job = tab.job('j1');
  tab.advance(WINDOW * 2);
  job.emit('a0:"one"\n');
  tab.state.hidden = false;
  job.flush();
  tab.runTasks();
  assert.deepEqual(tab.frames().map((f) => f.data), ['a0:"one"\n']);
  job.emit('a0:"two"\n'); // visible: straight to the link, which waits for its window
  tab.runTasks();
  assert.equal(tab.messages.length, 1);
  tab.advance(WINDOW);
  assert.equal(tab.messages.length, 2);
});

test('a stopped job sends nothing more', () => {
  const tab = tabAfterABatch({ hidden: true });
  const job = tab.job('j1');
  job.emit('a0:"one"\n');
  job.stop();
  job.emit('a0:"two"\n');
  job.flush();
  tab.advance(500);
  assert.equal(tab.messages.length, 0);
});
