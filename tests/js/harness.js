'use strict';
// The userscript's batcher (src/lmarenarev/userscript/batcher.js) and token pool (tokenpool.js)
// loaded as the served script has them, and a fake tab around the batcher: a clock moved by
// hand, timers, a next-task queue and the messages the link writes. Node built-ins only.

const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const DIR = path.join(__dirname, '..', '..', 'src', 'lmarenarev', 'userscript');
const FILE = path.join(DIR, 'batcher.js');
const POOL_FILE = path.join(DIR, 'tokenpool.js');

function load(file, name) {
  // The file declares `const <name>` for the served script's function scope: run it in one.
  // On the wrapper's first line, so that stack traces keep the file's line numbers.
  const source = fs.readFileSync(file, 'utf8');
  return vm.runInThisContext(`(function () {${source}\nreturn ${name};\n})`, { filename: file })();
}

const batcher = load(FILE, 'batcher');
const tokenPool = load(POOL_FILE, 'tokenPool');

// A tab's link and its jobs, on a fake clock. `messages` holds what the link wrote:
// {at, frames} (a lone frame is a one-element list; `batch` says whether it was an array).
function fakeTab({ hidden = false, streaming = 0, rule } = {}) {
  let now = 0;
  let nextId = 1;
  const timers = new Map(); // id → {at, fn}
  const tasks = [];
  const messages = [];
  const state = { hidden, streaming };

  const clock = {
    now: () => now,
    setTimer(fn, ms) {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimer(id) { timers.delete(id); },
    hidden: () => state.hidden,
  };
  const runTasks = () => {
    while (tasks.length) tasks.shift()();
  };
  const link = batcher.linkBatcher(Object.assign({
    write(message) {
      const batch = Array.isArray(message);
      // A copy: the link may still grow a frame it keeps, never one it wrote.
      messages.push({ at: now, batch, frames: JSON.parse(JSON.stringify(batch ? message : [message])) });
      return true;
    },
    nextTask(fn) { tasks.push(fn); },
    streamingJobs: () => state.streaming,
  }, clock));
  const send = (frame, firstOutput) => link.send(frame, firstOutput);

  return {
    state,
    messages,
    send,
    // A job's chunks, with the tab's rule unless one is given (`undefined` too: none).
    job(id, ...jobRule) {
      return batcher.jobChunks(id, jobRule.length ? jobRule[0] : rule, Object.assign({ send }, clock));
    },
    runTasks,
    // Move the clock on by `ms`, running the timers that fall due (and the tasks they queue).
    advance(ms) {
      const until = now + ms;
      runTasks();
      for (;;) {
        let due = null;
        for (const [id, timer] of timers) {
          if (timer.at <= until && (due === null || timer.at < timers.get(due).at)) due = id;
        }
        if (due === null) break;
        const timer = timers.get(due);
        timers.delete(due);
        now = Math.max(now, timer.at);
        timer.fn();
        runTasks();
      }
      now = until;
    },
    // Move the clock on with no timer firing: a background tab's throttled timers.
    skip(ms) { now += ms; },
    get now() { return now; },
    // Every frame written so far, in order.
    frames() { return messages.flatMap((m) => m.frames); },
  };
}

module.exports = { batcher, tokenPool, fakeTab, FILE, POOL_FILE };
