/* The userscript's batcher (docs/worker-protocol.md "Batches"): when the frames a tab sends
 * leave, and which chunk carries a job's first output. The gateway puts this file into the
 * served bridge.user.js (api/userscript.py), so the script stays one file for the script
 * manager; tests/js loads it on its own under node. It touches no DOM, WebSocket or GM_* API:
 * the clock, the timers and the sender are handed in. */
const batcher = (function () {
  'use strict';

  // After a batch leaves, the next one waits until this long after it (visible tabs only):
  // a lone stream's chunks still leave at once, many streams' chunks leave together. With more
  // than 8 jobs streaming a body the wait grows by 2 ms a job (24 jobs: 48 ms, at most 100 ms),
  // so the gateway gets at most ~500 chunk frames a second however many streams share the tab.
  const WINDOW_MS = 16;
  const WINDOW_FREE_JOBS = 8;
  const WINDOW_PER_JOB_MS = 2;
  const WINDOW_MAX_MS = 100;
  const MAX_CHARS = 256 * 1024; // a batch of chunk frames is sent at once past this size
  const HIDDEN_FLUSH_MS = 100; // a hidden tab gathers a job's text this long
  // What `send` answers for a chunk whose data joined the job's chunk frame still waiting to
  // leave: the job's seq is not used up.
  const JOINED = 'joined';

  function batchWindow(streamingJobs) {
    const extra = Math.max(0, streamingJobs - WINDOW_FREE_JOBS) * WINDOW_PER_JOB_MS;
    return Math.min(WINDOW_MAX_MS, WINDOW_MS + extra);
  }

  // ------------------------------------------------------------ first output

  function stringList(value) {
    if (!Array.isArray(value)) return null;
    return value.filter((item) => typeof item === 'string' && item.length > 0);
  }

  // The gateway's rule from the `fetch` frame, `{starts: [...], except: [...]}`: a line is
  // output when it starts with one of `starts` and is not, whole (a trailing \r aside), one of
  // `except`. Returns `isOutput(data)` for the job's body in order, chunk by chunk; it keeps
  // the start of a line cut by a chunk boundary, at most a few characters (a line that can no
  // longer match is skipped to its end), so it costs a few string compares per line. Without
  // a rule any data is output: the job's first chunk leaves at once, as it did before the rule
  // existed (page fetches, uploads, and an older gateway's streams).
  function outputMatcher(rule) {
    const starts = rule && typeof rule === 'object' ? stringList(rule.starts) : null;
    if (starts === null) return () => true;
    const except = stringList(rule.except) || [];
    let longest = 0; // a line's start this long decides it, whatever follows
    for (const s of starts) longest = Math.max(longest, s.length);
    for (const e of except) longest = Math.max(longest, e.length + 1);
    const OUTPUT = 1;
    const NOT = 2;
    const MORE = 3; // the line so far could still go either way
    let carry = ''; // the undecided start of the line a chunk boundary cut
    let skipping = false; // inside a line already known not to be output

    const verdict = (head, whole) => {
      const started = starts.some((s) => head.startsWith(s));
      if (!started) {
        return !whole && starts.some((s) => s.length > head.length && s.startsWith(head)) ? MORE : NOT;
      }
      if (whole) {
        const line = head.endsWith('\r') ? head.slice(0, -1) : head;
        return except.includes(line) ? NOT : OUTPUT;
      }
      if (head.length > longest) return OUTPUT; // longer than any exception
      return except.some((e) => e.startsWith(head) || head === e + '\r') ? MORE : OUTPUT;
    };

    return (data) => {
      let pos = 0;
      while (pos < data.length) {
        const newline = data.indexOf('\n', pos);
        if (skipping) {
          if (newline === -1) return false;
          skipping = false;
          pos = newline + 1;
          continue;
        }
        const end = newline === -1 ? data.length : newline;
        const take = Math.min(end, pos + longest + 1 - carry.length);
        const head = carry + data.slice(pos, take);
        const whole = newline !== -1 && take === end;
        const found = verdict(head, whole);
        carry = '';
        if (found === OUTPUT) return true;
        if (found === MORE) { carry = head; return false; } // only when the chunk ends mid-line
        if (newline === -1) { skipping = true; return false; }
        pos = newline + 1;
      }
      return false;
    };
  }

  // ------------------------------------------------------------ a job's chunks

  // One job's body on its way to the link: numbers its chunk frames, tells the link which one
  // carries the job's first output, and in a hidden tab gathers the text for up to
  // HIDDEN_FLUSH_MS (timers and socket sends are throttled there) instead of a frame per read.
  // env: {send(frame, firstOutput) → JOINED | boolean, now() → ms, setTimer(fn, ms) → handle,
  // clearTimer(handle), hidden() → boolean}.
  function jobChunks(job, rule, env) {
    const isOutput = outputMatcher(rule);
    let seq = 0;
    let output = false;
    let buffer = [];
    let bufferSince = 0;
    let timer = null;
    let stopped = false;

    const sendChunk = (data) => {
      if (!data) return;
      const firstOutput = !output && isOutput(data); // only until the job's first output
      if (firstOutput) output = true;
      if (env.send({ type: 'chunk', job, seq, data }, firstOutput) !== JOINED) seq++;
    };
    const flush = () => {
      if (timer !== null) { env.clearTimer(timer); timer = null; }
      if (!buffer.length) return;
      const data = buffer.join('');
      buffer = [];
      sendChunk(data);
    };
    const emit = (text) => {
      if (!text || stopped) return;
      if (!env.hidden()) {
        flush();
        sendChunk(text);
        return;
      }
      if (!buffer.length) bufferSince = env.now();
      buffer.push(text);
      if (env.now() - bufferSince >= HIDDEN_FLUSH_MS) { flush(); return; } // timers may be throttled
      if (timer === null) timer = env.setTimer(() => { timer = null; flush(); }, HIDDEN_FLUSH_MS);
    };
    const stop = () => { // the job ended or was aborted: nothing more leaves for it
      stopped = true;
      if (timer !== null) { env.clearTimer(timer); timer = null; }
      buffer = [];
    };
    return {
      emit,
      flush,
      stop,
      get seq() { return seq; }, // the number of chunk frames sent: the `done` frame's seq
    };
  }

  // ------------------------------------------------------------ the link's batches

  // Frames leave together as one message (a JSON array): many streams' records cost the
  // gateway one WebSocket message, not one each.
  // - A chunk or a status waits until the window (batchWindow) after the previous batch left;
  //   it leaves in the next task when that time has passed already (a chunk after a pause) or
  //   when it carries its job's first output (time to first token). Hidden tabs throttle
  //   timers: the next task there.
  // - A job's chunks waiting in one batch become one frame: its data grows, its seq stays
  //   (`send` answers JOINED, so the job does not use up a seq).
  // - A job's `done` or `error` leaves at once with that job's waiting frames before it; the
  //   other jobs' frames keep waiting for their window. A job's frames stay in order.
  // - Any other frame joins the batch as its last frame and sends it at once.
  // env: {write(message) → boolean (a frame or an array of frames; false: the link is down),
  // now() → ms, setTimer(fn, ms) → handle, clearTimer(handle), nextTask(fn), hidden() →
  // boolean, streamingJobs() → the jobs streaming a body (not those waiting for an answer)}.
  function linkBatcher(env) {
    let pending = [];
    let pendingChars = 0;
    let openChunks = new Map(); // job id → its chunk frame waiting in `pending`
    let lastBatchAt = -Infinity;
    let timer = null; // a batch waiting for its time
    let soon = false; // a flush queued for the next task

    const write = (frames) => env.write(frames.length === 1 ? frames[0] : frames);
    const flush = () => {
      soon = false;
      if (timer !== null) { env.clearTimer(timer); timer = null; }
      if (!pending.length) return true;
      const frames = pending;
      pending = [];
      pendingChars = 0;
      openChunks = new Map();
      if (!write(frames)) return false;
      lastBatchAt = env.now();
      return true;
    };
    const flushSoon = () => { if (soon) flush(); }; // not when a frame sent the batch meanwhile
    const schedule = (firstOutput) => {
      if (soon) return;
      const hidden = env.hidden();
      if (!firstOutput && timer !== null && !hidden) return; // the batch waits for its time
      const wait = firstOutput ? 0 : lastBatchAt + batchWindow(env.streamingJobs()) - env.now();
      if (wait > 0 && !hidden) {
        timer = env.setTimer(flush, wait);
      } else {
        soon = true;
        env.nextTask(flushSoon);
      }
    };
    const sendChunk = (frame, firstOutput) => {
      const open = openChunks.get(frame.job);
      if (open) {
        open.data += frame.data;
      } else {
        pending.push(frame);
        openChunks.set(frame.job, frame);
      }
      pendingChars += frame.data.length;
      if (pendingChars >= MAX_CHARS) flush();
      else schedule(firstOutput === true);
      return open ? JOINED : true;
    };
    const sendLast = (frame) => { // a job's last frame, with its waiting frames, now
      const own = pending.filter((f) => f.job === frame.job);
      if (own.length) {
        pending = pending.filter((f) => f.job !== frame.job);
        const open = openChunks.get(frame.job);
        if (open) { pendingChars -= open.data.length; openChunks.delete(frame.job); }
        if (!pending.length && timer !== null) { env.clearTimer(timer); timer = null; }
      }
      own.push(frame);
      return write(own);
    };

    return {
      send(frame, firstOutput) {
        if (frame.type === 'chunk') return sendChunk(frame, firstOutput);
        if (frame.type === 'status') {
          pending.push(frame);
          schedule(false);
          return true;
        }
        if (frame.job !== undefined && (frame.type === 'done' || frame.type === 'error')) {
          return sendLast(frame);
        }
        pending.push(frame); // after the frames before it, in the same message
        return flush();
      },
    };
  }

  return {
    WINDOW_MS, WINDOW_FREE_JOBS, WINDOW_PER_JOB_MS, WINDOW_MAX_MS, MAX_CHARS, HIDDEN_FLUSH_MS,
    JOINED, batchWindow, outputMatcher, jobChunks, linkBatcher,
  };
})();
