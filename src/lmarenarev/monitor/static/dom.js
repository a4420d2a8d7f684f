// Building the dashboard's DOM from data, as text only (textContent, never HTML), and the
// formats it shows values in.

export const $ = (id) => document.getElementById(id);


export function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

export function row(cells, id) {
  const tr = document.createElement("tr");
  if (id) tr.dataset.id = id;
  for (const cell of cells) {
    tr.append(cell instanceof Node ? wrap(cell) : el("td", cell));
  }
  return tr;
}

export function wrap(node) {
  const td = document.createElement("td");
  td.append(node);
  return td;
}

export function fill(tableId, rows, emptyId) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren(...rows);
  $(emptyId).hidden = rows.length > 0;
}

export function badge(text, kind) {
  return el("span", text, `badge ${kind || text}`);
}

export function seconds(ms) {
  if (ms === null || ms === undefined) return "–";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

export function percent(rate) {
  return rate === null || rate === undefined ? "–" : `${(rate * 100).toFixed(1)} %`;
}

export function count(value) {
  return value === null || value === undefined ? "–" : Number(value).toLocaleString("en");
}

export function clock(unix) {
  return new Date(unix * 1000).toLocaleString("en-GB", { hour12: false });
}

export function duration(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
  return `${m}m ${String(s % 60).padStart(2, "0")}s`;
}

export function tokens(entry) {
  if (entry.prompt_tokens === null && entry.completion_tokens === null) return "–";
  const mark = entry.tokens_source === "tokenizer" ? " ≈" : "";
  return `${count(entry.prompt_tokens)} / ${count(entry.completion_tokens)}${mark}`;
}

export function shortId(id) {
  return id.length > 18 ? `${id.slice(0, 18)}…` : id;
}

export function fields(target, pairs) {
  const items = [];
  for (const [name, value] of pairs) {
    items.push(el("dt", name), el("dd", value === null || value === undefined ? "–" : value));
  }
  $(target).replaceChildren(...items);
}

export function retryText(kinds) {
  const parts = Object.entries(kinds).map(([kind, n]) => `${kind} ×${n}`);
  return parts.length ? parts.join(", ") : "none";
}

export function prettyPrompt(prompt) {
  try {
    return JSON.parse(prompt).map((m) => `[${m.role}]\n${m.content}`).join("\n\n");
  } catch {
    return prompt;
  }
}

export function debounce(fn, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}
