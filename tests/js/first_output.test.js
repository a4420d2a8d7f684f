'use strict';
// The first-output matcher: the gateway's rule applied to the starts of the body's lines,
// across chunk boundaries, only as far as it needs to read.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { batcher } = require('./harness.js');

// What the gateway sends with a stream job (arena/first_output.py; the pytest
// tests/unit/test_userscript_js.py checks that this copy is the same).
const RULE = require('./stream_rule.json');

// For each chunk in turn, whether the matcher says it carries output.
function verdicts(chunks, ...rule) {
  const isOutput = batcher.outputMatcher(rule.length ? rule[0] : RULE);
  return chunks.map((chunk) => isOutput(chunk));
}

test('a text record is output as soon as its prefix has arrived', () => {
  assert.deepEqual(verdicts(['a0:']), [true]);
  assert.deepEqual(verdicts(['a0:"Hel']), [true]);
  assert.deepEqual(verdicts(['ag:"thinking"\n']), [true]);
});

test('the message id and heartbeats are not output; the record after them is', () => {
  assert.deepEqual(verdicts([
    'af:{"messageId":"019"}\n',
    'a2:[{"type":"heartbeat"}]\n',
    'a2:[{"type":"heartbeat"}]\na0:"Hi"\n',
  ]), [false, false, true]);
  assert.deepEqual(verdicts(['af:{"messageId":"019"}\na2:[{"type":"heartbeat"}]\nad:{"finishReason":"stop"}\n']), [true]);
});

test("a record's prefix split between two chunks", () => {
  assert.deepEqual(verdicts(['af:{}\na', '0:"x"\n']), [false, true]);
  assert.deepEqual(verdicts(['af:{}\n', 'a', '0', ':']), [false, false, false, true]);
  assert.deepEqual(verdicts(['a', 'f', ':{}\n', 'a', '0:"x"']), [false, false, false, false, true]);
});

test('a heartbeat split anywhere is not output, however it is cut', () => {
  const line = 'a2:[{"type":"heartbeat"}]\n';
  for (let cut = 1; cut < line.length; cut++) {
    assert.deepEqual(verdicts([line.slice(0, cut), line.slice(cut)]), [false, false], `cut at ${cut}`);
  }
  assert.deepEqual(verdicts(['a2:[{"type":"heartbeat"}]\r\n']), [false]); // CRLF
});

test('a data part is output once it can no longer be a heartbeat', () => {
  assert.deepEqual(verdicts(['a2:[{"type":"ima']), [true]);
  assert.deepEqual(verdicts(['a2:[{"type":"heart', 'beat"}]', ',']), [false, false, true]);
  assert.deepEqual(verdicts(['a2:[{"type":"heartbeat"}]', '\n']), [false, false]);
  assert.deepEqual(verdicts(['a2:[{"type":"heartbeat"}]a0:"y"\n']), [true]); // not only a heartbeat
  assert.deepEqual(verdicts(['a2:[{"type":"heartbeat"}]', '\r', '\n']), [false, false, false]);
  assert.deepEqual(verdicts(['a2:[{"type":"heartbeat"}]\r', 'x']), [false, true]);
});

test('other lines are not output: unknown codes and sides, RSC rows, blank lines', () => {
  assert.deepEqual(verdicts([
    'ae:{"finishReason":"stop"}\n', 'c0:"x"\n', '1d:["$","div"]\n', '0:["$@1"]\n', '\n\n', 'a\n',
  ]), [false, false, false, false, false, false]);
});

test('the un-prefixed 0: text channel of 2026 is output', () => {
  assert.deepEqual(verdicts(['af:{}\n', '0:"legacy"\n']), [false, true]);
});

test('a long line that is not output is skipped to its end, however many chunks it takes', () => {
  const isOutput = batcher.outputMatcher(RULE);
  assert.equal(isOutput('af:{"messageId":"' + 'x'.repeat(10000)), false);
  for (let i = 0; i < 5; i++) assert.equal(isOutput('a0:"not a line start" '.repeat(100)), false);
  assert.equal(isOutput('"}\na0:"now"'), true);
});

test('without a rule any data is output (page fetches, uploads, an older gateway)', () => {
  for (const rule of [undefined, null, 'a0:', {}, { starts: 'a0:' }]) {
    assert.deepEqual(verdicts(['af:{}\n', '<!doctype html>'], rule), [true, true], String(rule));
  }
});

test('a rule with no starts: nothing is output', () => {
  assert.deepEqual(verdicts(['a0:"x"\n', 'anything'], { starts: [] }), [false, false]);
});

test('entries that are not strings are left out of a rule', () => {
  const rule = { starts: [1, '', 'x:', null], except: [{}, 'x:no'] };
  assert.deepEqual(verdicts(['a0:"x"\nx:no\n', 'x:yes'], rule), [false, true]);
});
