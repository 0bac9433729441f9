// The sq dashboard: polls the JSON APIs and redraws. No framework, no CDN; every value from the
// server is put in the page as text, never as HTML.
"use strict";

const params = new URLSearchParams(location.search);
const POLL_MS = Math.max(200, Number(params.get("poll_ms")) || 1000);
const WATCHED_STOVEPIPE = (params.get("stovepipe") || "").split(",").filter(Boolean);
const TOKEN_KEY = "sq-dashboard-token";
const failureTails = new Map(); // request id -> log tail (a settled request's history is final)
let actionProblem = ""; // the last control action's refusal, kept until the next action

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

async function api(path, options = {}) {
  const headers = { "Accept": "application/json" };
  if (token()) headers["Authorization"] = "Bearer " + token();
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) {
    const error = new Error(body && body.error ? body.error.message : "HTTP " + response.status);
    error.status = response.status;
    throw error;
  }
  return body;
}

async function optional(path) {
  try { return await api(path); } catch (error) {
    if (error.status === 404) return null; // that service does not run in this process
    throw error;
  }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.round(s / 60) + "m ago";
  return Math.round(s / 3600) + "h ago";
}

function duration(ms) {
  const s = ms / 1000;
  if (s < 60) return s.toFixed(1) + "s";
  if (s < 3600) return (s / 60).toFixed(1) + "m";
  return (s / 3600).toFixed(1) + "h";
}

function table(headers, rows, empty) {
  if (!rows.length) return el("p", { class: "muted" }, empty);
  return el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows));
}

const TERMINAL = new Set(["landed", "error", "cancelled"]);

async function logTail(request) {
  if (failureTails.has(request.id)) return failureTails.get(request.id);
  const [queue, number] = request.id.split("/");
  const history = await api(`/api/v1/requests/${encodeURIComponent(queue)}/${number}/history`);
  const failed = history.events.filter((e) => e.event === "build-failed");
  const tail = failed.length ? (failed[failed.length - 1].metadata.log_tail || "") : "";
  failureTails.set(request.id, tail);
  return tail;
}

async function setMode(queue, verb) {
  try {
    await api(`/api/v1/queues/${encodeURIComponent(queue)}/${verb}`, { method: "POST", body: {} });
    actionProblem = "";
  } catch (error) {
    actionProblem = `${verb} ${queue}: ${error.message}`;
  }
  await refresh();
}

function pathRow(path) {
  const assumes = [];
  if (path.assumes_landed.length) assumes.push("on " + path.assumes_landed.join(", "));
  if (path.assumes_failed.length) assumes.push("without " + path.assumes_failed.join(", "));
  return el("li", { class: "path", "data-path": path.path_id },
    el("span", { class: "status-" + path.status }, path.status), " ",
    assumes.length ? assumes.join("; ") : "on the target alone",
    path.build_id ? ` — build ${path.build_id} (${path.build_status})` : "");
}

async function queueCard(queue, control, speculation) {
  const mode = control ? control.mode : "active";
  const page = await api(`/api/v1/queues/${encodeURIComponent(queue.name)}/requests?page_size=50`);
  const requests = page.requests;
  const heads = new Map();
  for (const head of speculation ? speculation.heads : []) {
    for (const id of head.requests) heads.set(id, head);
  }
  const inFlight = requests.filter((r) => !TERMINAL.has(r.status));
  const landed = requests.filter((r) => r.status === "landed").slice(0, 10);
  const failed = requests.filter((r) => r.status === "error").slice(0, 5);
  const tails = await Promise.all(failed.map((r) => logTail(r).catch(() => "")));

  const flightRows = inFlight.map((r) => {
    const head = heads.get(r.id);
    return el("tr", { "data-request": r.id },
      el("td", {}, r.id), el("td", {}, r.change_uris.join(" ")),
      el("td", { class: "status-" + r.status, "data-field": "status" }, r.status),
      el("td", {}, head && head.waiting_on.length ? head.waiting_on.join(", ") : "—"),
      el("td", {}, head && head.paths.length ? el("ul", {}, head.paths.map(pathRow)) : "—"),
      el("td", { class: "muted" }, ago(r.received_at_ms)));
  });
  const landedRows = landed.map((r) => el("tr", { "data-request": r.id },
    el("td", {}, r.id), el("td", {}, r.change_uris.join(" ")),
    el("td", { class: "status-landed", "data-field": "status" }, "landed"),
    el("td", {}, duration(r.status_at_ms - r.received_at_ms)),
    el("td", { class: "muted" }, ago(r.status_at_ms))));
  const failedRows = failed.map((r, i) => el("tr", { "data-request": r.id },
    el("td", {}, r.id),
    el("td", {}, el("div", { class: "status-error", "data-field": "status" }, r.last_error || "error"),
      tails[i] ? el("pre", { class: "log", "data-field": "log-tail" }, tails[i]) : null)));

  const buttons = el("span", { class: "controls" },
    el("button", { type: "button", "data-action": "pause", disabled: mode === "paused" ? "" : null,
      onclick: () => setMode(queue.name, "pause") }, "Pause"),
    el("button", { type: "button", "data-action": "resume", disabled: mode === "active" ? "" : null,
      onclick: () => setMode(queue.name, "resume") }, "Resume"),
    el("button", { type: "button", "data-action": "drain", disabled: mode === "draining" ? "" : null,
      onclick: () => setMode(queue.name, "drain") }, "Drain"));
  return el("article", { class: "card", "data-queue": queue.name },
    el("h2", {}, queue.name,
      el("span", { class: "badge mode-" + mode, "data-field": "mode" }, mode), buttons),
    control && control.reason ? el("p", { class: "muted" }, "reason: " + control.reason) : null,
    el("h3", {}, "In flight"),
    table(["request", "change", "status", "waiting on", "speculation (funded paths)", "received"],
      flightRows, "nothing in flight"),
    el("h3", {}, "Recent landings"),
    table(["request", "change", "", "turnaround", "landed"], landedRows, "none yet"),
    el("h3", {}, "Failures"),
    table(["request", "why"], failedRows, "none"));
}

function greenness(degree) {
  if (degree === null || degree === undefined) return ["not recorded", "not_recorded"];
  return degree <= 0 ? ["green", "green"] : ["broken", "broken"];
}

function stovepipeCard(status) {
  const recent = status.recent.map((r) => {
    const [word, cls] = greenness(r.degree);
    return el("tr", { "data-stovepipe-request": r.id },
      el("td", {}, r.id), el("td", {}, r.uri), el("td", {}, r.state),
      el("td", { class: cls, "data-field": "greenness" }, word),
      el("td", { class: "muted" }, r.created_at_ms ? ago(r.created_at_ms) : ""));
  });
  const projects = status.projects.map((p) => el("tr", { "data-project": p.project },
    el("td", {}, p.project), el("td", {}, p.last_green_uri || "never green"),
    el("td", {}, p.promotion_ref ? `${p.promotion_ref} → ${p.promotion_uri || "unset"}` : "—")));
  return el("article", { class: "card", "data-stovepipe-queue": status.queue },
    el("h2", {}, "Stovepipe: " + status.queue),
    el("p", {}, "last green: ",
      el("span", { "data-field": "last-green", class: status.last_green_uri ? "green" : "muted" },
        status.last_green_uri || "none yet")),
    el("p", {}, "promotion ref: ",
      status.promotion_ref ? `${status.promotion_ref} → ${status.promotion_uri || "unset"}` : "—"),
    projects.length ? table(["project", "last green", "promotion"], projects, "") : null,
    el("h3", {}, "Recent heads"),
    table(["request", "head", "state", "greenness", "ingested"], recent, "nothing ingested"));
}

function problem(text) {
  const shown = [actionProblem, text].filter(Boolean).join(" — ");
  const node = document.getElementById("problem");
  node.textContent = shown;
  node.hidden = !shown;
}

let running = false;
async function refresh() {
  if (running) return;
  running = true;
  try {
    const [queues, controls, stovepipeQueues] = await Promise.all([
      optional("/api/v1/queues"), optional("/api/v1/controls"), optional("/api/v1/stovepipe/queues"),
    ]);
    const modes = new Map((controls ? controls.controls : []).map((c) => [c.queue, c]));
    const cards = [];
    for (const queue of queues ? queues.queues : []) {
      const speculation = await optional(
        `/api/v1/queues/${encodeURIComponent(queue.name)}/speculation`);
      cards.push(await queueCard(queue, modes.get(queue.name), speculation));
    }
    document.getElementById("queues").replaceChildren(...cards);
    const names = [...new Set([...(stovepipeQueues ? stovepipeQueues.queues : []), ...WATCHED_STOVEPIPE])];
    const greens = [];
    for (const name of names) {
      const status = await optional(`/api/v1/stovepipe/status?queue=${encodeURIComponent(name)}`);
      if (status) greens.push(stovepipeCard(status));
    }
    document.getElementById("stovepipe").replaceChildren(...greens);
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    problem("");
  } catch (error) {
    problem(error.status === 401 || error.status === 403
      ? "This server needs a token with the read scope: type it above."
      : "Cannot refresh: " + error.message);
  } finally {
    running = false;
  }
}

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
  document.getElementById("token").value = "";
  actionProblem = "";
  refresh();
});

refresh();
setInterval(refresh, POLL_MS);
