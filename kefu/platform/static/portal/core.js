/*
 * kefu portal: what the agent desktop and the supervisor console share — message
 * catalogues, the JSON API client (session cookie + CSRF header), the /ws/events socket, and
 * small DOM helpers. Plain ES module, no build step. Every piece of data goes on the page as
 * text (textContent / attributes), never parsed as HTML.
 */

// --- texts ----------------------------------------------------------------------------------
let catalogue = {};
export let LANG = "en";

export async function loadTexts(lang) {
  LANG = lang === "zh" ? "zh" : "en";
  const response = await fetch(`/static/portal/i18n/${LANG}.json`, { credentials: "same-origin" });
  catalogue = await response.json();
  return catalogue;
}

/** The locale name the server's DSL texts and messages are asked in. */
export function localeName() {
  return LANG === "zh" ? "zh_CN" : "en";
}

/** The catalogue's text for ``key`` with ``{name}`` placeholders filled in. */
export function t(key, values = {}) {
  const text = Object.prototype.hasOwnProperty.call(catalogue, key) ? catalogue[key] : key;
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole);
}

// --- DOM ------------------------------------------------------------------------------------
/** el("button", {className: "x", onclick: fn, "aria-label": "..."}, [children or text]) */
export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "hidden" || name === "disabled" || name === "checked" || name === "required" || name === "selected") node[name] = !!value;
    else if (name === "value") node.value = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** Say ``text`` to screen readers through the page's aria-live region. */
export function announce(text, urgent = false) {
  const region = document.getElementById(urgent ? "live-alert" : "live-status");
  if (!region) return;
  region.textContent = "";
  // A fresh text node in a cleared region is announced even when the text repeats.
  setTimeout(() => { region.textContent = text; }, 30);
}

let toastTimer = null;
/** A short notice at the top of the page (also announced). */
export function notice(text, kind = "info") {
  const box = document.getElementById("notice");
  if (!box) return;
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  announce(text, kind === "error");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, kind === "error" ? 12000 : 5000);
}

export function duration(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

export function clock(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(LANG === "zh" ? "zh-CN" : "en-GB",
    { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

// --- the JSON API ---------------------------------------------------------------------------
export class ApiError extends Error {
  constructor(status, body, path) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.path = path;
  }

  /** {field: message} from the API's error details (422 / 409). */
  get fields() {
    const out = {};
    for (const item of this.body.fields || []) {
      if (item && item.field) out[String(item.field).replace(/^(body|data|values)\./, "")] = item.message;
    }
    return out;
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)kefu_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/** Call /api/v1``path``; resolves to the JSON answer, rejects with an ApiError. */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  const response = await fetch("/api/v1" + path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (err) { data = { message: text.slice(0, 200) }; }
  if (!response.ok) throw new ApiError(response.status, data && (data.error || data), path);
  return data;
}

/** The message to show for a failed call. */
export function problem(err) {
  if (err instanceof ApiError && err.status === 404 && /^\/(portal|wallboard|knowledge|forms|tickets\/overdue)/.test(err.path || "")) {
    return t("common.unavailable", { path: err.path });
  }
  return t("common.error", { message: err.message || String(err) });
}

// --- live events ----------------------------------------------------------------------------
/**
 * /ws/events with automatic reconnects. ``onEvent(topic, data)`` gets every event;
 * ``onStatus(live)`` when the socket comes up or goes down; ``onClosed(code)`` for a close
 * the server meant (4401: logged out).
 */
export class Events {
  constructor(topics, { onEvent, onStatus = () => {}, onReconnect = () => {}, onClosed = () => {} }) {
    this.topics = topics;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onReconnect = onReconnect;
    this.onClosed = onClosed;
    this.backoff = 500;
    this.opened = false;
    this.stopped = false;
    this.connect();
    this.pinger = setInterval(() => this.send({ type: "ping" }), 25000);
  }

  connect() {
    const url = location.origin.replace(/^http/, "ws") + "/ws/events";
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      this.backoff = 500;
      socket.send(JSON.stringify({ type: "subscribe", topics: this.topics }));
    };
    socket.onmessage = (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch (err) { return; }
      if (frame.type === "subscribed") {
        this.onStatus(true);
        if (this.opened) this.onReconnect();
        this.opened = true;
      } else if (frame.type === "event") {
        try { this.onEvent(frame.topic, frame.data || {}); } catch (err) { console.error(err); }
      }
    };
    socket.onclose = (event) => {
      this.onStatus(false);
      if (event.code === 4401 || event.code === 4403) {
        this.stopped = true;
        this.onClosed(event.code);
      }
      if (this.stopped) return;
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 15000);
    };
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  close() {
    this.stopped = true;
    clearInterval(this.pinger);
    if (this.socket) this.socket.close();
  }
}

/** The page's boot data, put there by the server (JSON in a <script type=application/json>). */
export function bootData() {
  const node = document.getElementById("portal-boot");
  return node ? JSON.parse(node.textContent) : {};
}

/** Keyboard shortcuts: ``keys`` maps "Alt+A", "Ctrl+Enter", "?" to handlers. */
export function shortcuts(keys) {
  document.addEventListener("keydown", (event) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName) || event.target.isContentEditable;
    let name = "";
    if (event.ctrlKey) name += "Ctrl+";
    if (event.altKey) name += "Alt+";
    let key = event.key;
    // Alt+letter gives odd characters on some layouts; the physical key is what people press.
    if (event.altKey && /^Key[A-Z]$/.test(event.code)) key = event.code.slice(3);
    name += key.length === 1 ? key.toUpperCase() : key;
    if (name === "?" && typing) return;
    const handler = keys[name];
    if (!handler) return;
    event.preventDefault();
    handler(event);
  });
}

/** Wire the language switch (a <select id=lang-switch>): reload in the chosen language. */
export function languageSwitch() {
  const select = document.getElementById("lang-switch");
  if (!select) return;
  select.addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("lang", select.value);
    location.href = url.toString();
  });
}
