/*
 * The agent desktop: presence with the tenant's reason codes, offers that ring (sound, flash,
 * title) with their RONA countdown, several conversations in tabs, replies with templates and
 * knowledge-base answers, transfer, wrap-up with the tenant's dispositions, outbound messages,
 * the screen pop and generated ticket / customer forms. Everything the tenant configures comes
 * from /api/v1/portal/config; live changes from /ws/events.
 */
import {
  api, ApiError, announce, bootData, clear, clock, duration, el, Events, languageSwitch,
  loadTexts, localeName, notice, problem, shortcuts, t,
} from "./core.js";
import { renderForm } from "./forms.js";
import { ticketView } from "./tickets.js";
import { scriptStepper } from "./scripts.js";

const boot = bootData();
const desk = {
  config: null,
  agentId: null,
  presence: { state: "logged_out", reason: null, since: null, load: {}, capacity: {} },
  offers: new Map(), // interaction id -> {interaction, ringUntil, node}
  tabs: new Map(), // interaction id -> conversation (see openTab)
  active: null,
  titleBase: document.title,
};

// --- start ----------------------------------------------------------------------------------
async function start() {
  await loadTexts(boot.lang);
  languageSwitch();
  try {
    desk.config = await api("GET", `/portal/config?locale=${localeName()}`);
  } catch (err) {
    notice(problem(err), "error");
    return;
  }
  desk.agentId = desk.config.me && desk.config.me.agent_id;
  if (!desk.agentId) {
    document.getElementById("work").appendChild(el("p", { className: "card", text: t("agent.noAgent") }));
    return;
  }
  drawReasons();
  wirePresence();
  wireDialogs();
  wireShortcuts();
  new Events(["agent.state", "interaction.*", "message.*", "chat.*", "wallboard.*"], {
    onEvent,
    onStatus: (live) => {
      const badge = document.getElementById("live-indicator");
      badge.dataset.live = String(live);
      badge.textContent = live ? t("common.online") : t("common.offline");
    },
    onReconnect: refreshAll,
    onClosed: () => notice(t("presence.loggedOutBySupervisor"), "error"),
  });
  await refreshAll();
  setInterval(tick, 1000);
  document.getElementById("main").dataset.ready = "true";
}

async function refreshAll() {
  await loadPresence();
  // What I hold now: offers ringing at me, conversations, wrap-ups.
  for (const state of ["offered", "connected", "wrap_up"]) {
    try {
      const page = await api("GET", `/interactions?agent_id=${desk.agentId}&state=${state}&limit=50`);
      for (const interaction of page.items) {
        if (state === "offered") showOffer(interaction, null);
        else if (!desk.tabs.has(interaction.id)) openTab(interaction, false);
      }
    } catch (err) { notice(problem(err), "error"); }
  }
  if (!desk.active && desk.tabs.size) activate(desk.tabs.keys().next().value);
}

// --- presence -------------------------------------------------------------------------------
function drawReasons() {
  const select = document.getElementById("reason");
  clear(select);
  for (const reason of desk.config.not_ready_reasons || []) {
    select.appendChild(el("option", { value: reason.code, text: reason.label || reason.code }));
  }
  if (!select.options.length) select.appendChild(el("option", { value: "break", text: "break" }));
}

async function loadPresence() {
  try {
    applyPresence(await api("GET", `/agents/${desk.agentId}/presence`));
  } catch (err) { notice(problem(err), "error"); }
}

function applyPresence(presence) {
  const before = desk.presence.state;
  desk.presence = { ...desk.presence, ...presence };
  const badge = document.getElementById("my-state");
  const state = desk.presence.state;
  badge.dataset.state = state;
  const reason = state === "not_ready" && desk.presence.reason ? ` · ${reasonLabel(desk.presence.reason)}` : "";
  badge.textContent = t(`state.${state}`) + reason;
  document.getElementById("go-ready").disabled = state === "ready";
  document.getElementById("go-logged-out").disabled = state === "logged_out";
  drawCapacity();
  if (before !== state) announce(t(`state.${state}`));
}

function reasonLabel(code) {
  const found = (desk.config.not_ready_reasons || []).find((r) => r.code === code);
  return found ? found.label || code : code;
}

async function setPresence(state, reason) {
  try {
    const body = { state };
    if (state === "not_ready") body.reason = reason || document.getElementById("reason").value || undefined;
    applyPresence(await api("PUT", `/agents/${desk.agentId}/presence`, body));
  } catch (err) { notice(problem(err), "error"); }
}

function wirePresence() {
  // The buttons stay disabled until they work (the page knows the agent and the reasons).
  document.getElementById("go-ready").addEventListener("click", () => setPresence("ready"));
  document.getElementById("go-not-ready").addEventListener("click", () => setPresence("not_ready"));
  document.getElementById("go-logged-out").addEventListener("click", () => setPresence("logged_out"));
  document.getElementById("go-not-ready").disabled = false;
}

function drawCapacity() {
  const box = document.getElementById("capacity");
  const capacity = desk.presence.capacity || {};
  const load = desk.presence.load || {};
  box.textContent = Object.keys(capacity).filter((c) => load[c])
    .map((c) => t("work.capacity", { used: load[c] || 0, capacity: capacity[c], channel: t(`channel.${c}`) }))
    .join(" · ");
}

// --- events ---------------------------------------------------------------------------------
function onEvent(topic, data) {
  if (topic === "agent.state") {
    if (data.agent_id !== desk.agentId) return;
    const forcedOut = data.state === "logged_out" && desk.presence.state !== "logged_out";
    applyPresence({ state: data.state, reason: data.reason, since: data.at });
    if (data.reason === "rona") notice(t("offer.missed"), "error");
    if (forcedOut) notice(t("presence.loggedOutBySupervisor"), "error");
    loadPresence();
    return;
  }
  if (topic.startsWith("interaction.")) return onInteraction(topic.slice(12), data);
  if (topic === "chat.typing" && data.who === "customer") {
    const tab = desk.tabs.get(data.interaction_id);
    if (tab) tab.customerTyping(!!data.active);
    return;
  }
  if (topic === "message.received" || topic === "message.queued" || topic === "message.status") {
    const tab = desk.tabs.get(data.interaction_id);
    if (tab) {
      tab.reload();
      if (topic === "message.received" && !data.automated) {
        tab.unread(desk.active !== tab.id);
        tab.customerTyping(false);
      }
    }
  }
}

async function onInteraction(trigger, data) {
  const id = data.interaction_id;
  const detail = data.data || {};
  const mine = detail.agent_id === desk.agentId;
  if (trigger === "offer" && mine) {
    try { showOffer(await api("GET", `/interactions/${id}`), detail.ring_until); } catch (err) { notice(problem(err), "error"); }
    return;
  }
  if (desk.offers.has(id) && trigger !== "offer") dropOffer(id);
  const tab = desk.tabs.get(id);
  if ((trigger === "answer" || trigger === "transfer_to_agent") && mine && !tab) {
    try { openTab(await api("GET", `/interactions/${id}`), true); } catch (err) { notice(problem(err), "error"); }
    return;
  }
  if (tab) tab.refresh();
}

// --- offers ---------------------------------------------------------------------------------
let audio = null;
function ring() {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const now = audio.currentTime;
    for (const at of [0, 0.35]) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, now + at);
      gain.gain.exponentialRampToValueAtTime(0.2, now + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.25);
      tone.connect(gain).connect(audio.destination);
      tone.start(now + at);
      tone.stop(now + at + 0.3);
    }
  } catch (err) { /* no sound device: the flash and the title still show */ }
}

function showOffer(interaction, ringUntil) {
  if (desk.offers.has(interaction.id)) return;
  const from = interaction.from_address || "";
  const channel = t(`channel.${interaction.channel}`);
  const countdown = el("span", { className: "rona", "data-rona": "" });
  const accept = el("button", { type: "button", className: "primary accept", "aria-keyshortcuts": "Alt+A", onclick: () => answer(interaction.id, true) }, [t("offer.accept")]);
  const reject = el("button", { type: "button", className: "reject", "aria-keyshortcuts": "Alt+J", onclick: () => answer(interaction.id, false) }, [t("offer.reject")]);
  const node = el("div", { className: "offer flash", role: "alertdialog", "aria-label": t("offer.title", { channel }), "data-offer": interaction.id, "data-channel": interaction.channel }, [
    el("strong", { text: t("offer.title", { channel }) }),
    el("span", { text: t("offer.from", { from }) }),
    interaction.queue ? el("span", { className: "muted", text: t("offer.queue", { queue: queueName(interaction.queue) }) }) : null,
    interaction.subject ? el("span", { className: "muted", text: interaction.subject }) : null,
    countdown, accept, reject,
  ]);
  document.getElementById("offers").appendChild(node);
  const until = ringUntil ? Date.parse(ringUntil) : null;
  desk.offers.set(interaction.id, { interaction, until, node, countdown });
  ring();
  announce(t("offer.announce", { channel, from }), true);
  accept.focus();
  tick();
}

function dropOffer(id) {
  const offer = desk.offers.get(id);
  if (!offer) return;
  offer.node.remove();
  desk.offers.delete(id);
  document.title = desk.titleBase;
}

async function answer(id, accept) {
  try {
    const interaction = await api("POST", `/interactions/${id}/${accept ? "accept" : "reject"}`);
    dropOffer(id);
    if (accept) openTab(interaction, true);
  } catch (err) {
    dropOffer(id);
    notice(problem(err), "error");
  }
  loadPresence();
}

function queueName(id) {
  const queue = (desk.config.queues || []).find((q) => (q.id || q.queue || q.name) === id);
  return queue ? queue.title || queue.name || id : id;
}

// --- the one-second tick: RONA and wrap-up countdowns, time in state, the ringing title ------
function tick() {
  const now = Date.now();
  for (const offer of desk.offers.values()) {
    if (offer.until) offer.countdown.textContent = t("offer.rona", { n: Math.max(0, Math.ceil((offer.until - now) / 1000)) });
  }
  if (desk.offers.size) {
    const first = desk.offers.values().next().value;
    document.title = (Math.floor(now / 1000) % 2 ? "🔔 " : "") + t("offer.title", { channel: t(`channel.${first.interaction.channel}`) }) + " · " + desk.titleBase;
  }
  const since = desk.presence.since ? Date.parse(desk.presence.since) : null;
  document.getElementById("my-state-time").textContent = since ? t("presence.since", { time: duration((now - since) / 1000) }) : "";
  for (const tab of desk.tabs.values()) tab.tick(now);
}

// --- conversations --------------------------------------------------------------------------
function openTab(interaction, focus) {
  if (desk.tabs.has(interaction.id)) { if (focus) activate(interaction.id); return; }
  const tab = conversation(interaction);
  desk.tabs.set(interaction.id, tab);
  document.getElementById("tabs").appendChild(tab.tabButton);
  document.getElementById("work").appendChild(tab.panel);
  document.getElementById("no-work").hidden = true;
  tab.reload();
  if (focus || !desk.active) activate(interaction.id);
}

function closeTab(id) {
  const tab = desk.tabs.get(id);
  if (!tab) return;
  tab.tabButton.remove();
  tab.panel.remove();
  desk.tabs.delete(id);
  if (desk.active === id) {
    desk.active = null;
    clear(document.getElementById("side"));
    const next = desk.tabs.keys().next();
    if (!next.done) activate(next.value);
  }
  document.getElementById("no-work").hidden = desk.tabs.size > 0;
}

function activate(id) {
  const tab = desk.tabs.get(id);
  if (!tab) return;
  desk.active = id;
  for (const other of desk.tabs.values()) {
    const on = other === tab;
    other.tabButton.setAttribute("aria-selected", String(on));
    other.tabButton.tabIndex = on ? 0 : -1;
    other.panel.hidden = !on;
  }
  tab.unread(false);
  tab.showSide();
}

function conversation(interaction) {
  const id = interaction.id;
  const panelId = `panel-${id}`;
  const tabId = `tab-${id}`;
  const channel = interaction.channel;
  const tabButton = el("button", { type: "button", role: "tab", id: tabId, "aria-controls": panelId, className: "tab", "data-interaction": id, "data-channel": channel, onclick: () => activate(id) });
  // The tab list's own keys: arrows move between conversations, Home/End to the ends.
  tabButton.addEventListener("keydown", (event) => {
    const ids = [...desk.tabs.keys()];
    const at = ids.indexOf(id);
    const next = { ArrowDown: at + 1, ArrowRight: at + 1, ArrowUp: at - 1, ArrowLeft: at - 1, Home: 0, End: ids.length - 1 }[event.key];
    if (next === undefined || !ids.length) return;
    event.preventDefault();
    const target = ids[(next + ids.length) % ids.length];
    activate(target);
    desk.tabs.get(target).tabButton.focus();
  });
  const tabLabel = el("span", { className: "tab-label" });
  const tabState = el("span", { className: "tab-state" });
  tabButton.append(tabLabel, tabState);

  const log = el("ol", { className: "thread", role: "log", "aria-live": "polite", "aria-label": t("thread.log") });
  const typingLine = el("p", { className: "typing muted", "aria-live": "polite" });
  let typingTimer = null;
  let customerTypingTimer = null;
  let agentTyping = false;
  const subject = el("input", { type: "text", id: `subject-${id}`, name: "subject" });
  const subjectRow = channel === "email" ? el("div", { className: "row" }, [el("label", { for: `subject-${id}`, text: t("thread.subject") }), subject]) : null;
  const text = el("textarea", { id: `reply-${id}`, name: "text", rows: 3, "aria-keyshortcuts": "Control+Enter" });
  const templates = el("select", { id: `tpl-${id}`, "aria-label": t("templates.label") }, [el("option", { value: "", text: t("templates.choose") })]);
  (desk.config.templates || []).forEach((tpl, index) => templates.appendChild(el("option", { value: String(index), text: tpl.title || tpl.name })));
  templates.addEventListener("change", () => {
    const tpl = (desk.config.templates || [])[Number(templates.value)];
    if (tpl) insertText(tpl.text);
    templates.value = "";
  });
  const send = el("button", { type: "submit", className: "primary" }, [t("thread.send")]);
  const replyForm = el("form", { className: "reply", "aria-label": t("thread.reply") }, [
    subjectRow,
    el("label", { for: `reply-${id}`, text: t("thread.replyLabel") }), text,
    el("div", { className: "row" }, [templates, send]),
  ]);
  replyForm.addEventListener("submit", (event) => { event.preventDefault(); sendReply(); });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.ctrlKey) { event.preventDefault(); sendReply(); }
  });
  // A chat customer sees "… is typing" while the agent types (stopped after 3 s idle).
  const typing = (active) => {
    if (channel !== "chat" || agentTyping === active) return;
    agentTyping = active;
    api("POST", `/interactions/${id}/typing`, { active }).catch(() => {});
  };
  text.addEventListener("input", () => {
    typing(text.value.trim() !== "");
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => typing(false), 3000);
  });

  // Knowledge base: search, read, insert an answer into the reply.
  const kbQuery = el("input", { type: "search", id: `kb-${id}`, name: "q" });
  const kbResults = el("ul", { className: "kb-results", "aria-live": "polite" });
  const kbForm = el("form", { className: "kb", role: "search", "aria-label": t("kb.label") }, [
    el("label", { for: `kb-${id}`, text: t("kb.query") }),
    el("div", { className: "row" }, [kbQuery, el("button", { type: "submit" }, [t("common.search")])]),
    kbResults,
  ]);
  kbForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(kbResults);
    try {
      const found = await api("GET", `/knowledge/articles?q=${encodeURIComponent(kbQuery.value)}&limit=5`);
      const items = found.items || found;
      if (!items.length) kbResults.appendChild(el("li", { className: "muted", text: t("kb.noResults") }));
      for (const article of items) {
        const body = article.answer || article.body || article.text || "";
        kbResults.appendChild(el("li", { "data-article": article.id }, [
          el("strong", { text: article.title }),
          el("p", { className: "excerpt", text: body.length > 240 ? body.slice(0, 240) + "…" : body }),
          el("button", { type: "button", onclick: () => insertText(body) }, [t("kb.insert")]),
        ]));
      }
    } catch (err) { kbResults.appendChild(el("li", { className: "error", text: problem(err) })); }
  });

  const transferButton = el("button", { type: "button", "aria-keyshortcuts": "Alt+T", onclick: () => openTransfer(id) }, [t("transfer.button")]);
  const hangupButton = el("button", { type: "button", onclick: () => hangup() }, [t("thread.hangup")]);
  const wrapButton = el("button", { type: "button", "aria-keyshortcuts": "Alt+W", onclick: () => showWrap(true) }, [t("wrapup.button")]);

  // Wrap-up: the tenant's dispositions and the time left.
  const disposition = el("select", { id: `disp-${id}`, name: "disposition" });
  for (const d of desk.config.dispositions || []) disposition.appendChild(el("option", { value: d.code, text: d.label || d.code }));
  const wrapTimer = el("p", { className: "wrap-timer", "data-wrap-timer": "" });
  const wrapForm = el("form", { className: "wrapup card", hidden: true, "aria-label": t("wrapup.title") }, [
    el("h3", { text: t("wrapup.title") }), wrapTimer,
    el("label", { for: `disp-${id}`, text: t("wrapup.disposition") }), disposition,
    el("button", { type: "submit", className: "primary" }, [t("wrapup.submit")]),
  ]);
  wrapForm.addEventListener("submit", (event) => { event.preventDefault(); complete(); });

  const header = el("header", { className: "conv-head" });
  const panel = el("section", { role: "tabpanel", id: panelId, "aria-labelledby": tabId, className: "conversation", hidden: true, "data-interaction": id }, [
    header,
    el("div", { className: "conv-actions" }, [transferButton, hangupButton, wrapButton]),
    log, typingLine, wrapForm, replyForm, kbForm,
  ]);

  const tab = {
    id, interaction, tabButton, panel, text, wrapForm, side: null, wrapStarted: null,
    async reload() {
      try {
        const page = await api("GET", `/interactions/${id}/messages?limit=200`);
        drawMessages(page.items);
      } catch (err) { notice(problem(err), "error"); }
    },
    async refresh() {
      try {
        tab.interaction = await api("GET", `/interactions/${id}`);
        drawHead();
        tab.reload();
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) closeTab(id);
      }
    },
    unread(on) { tabButton.classList.toggle("unread", !!on); },
    customerTyping(active) {
      typingLine.textContent = active ? t("thread.customerTyping") : "";
      clearTimeout(customerTypingTimer);
      // A customer who closed the page never says they stopped.
      if (active) customerTypingTimer = setTimeout(() => { typingLine.textContent = ""; }, 15000);
    },
    named(name) { tab.customerName = name; drawHead(); },
    tick(now) {
      if (tab.interaction.state !== "wrap_up") return;
      const started = tab.wrapStarted || now;
      tab.wrapStarted = started;
      const seconds = wrapSeconds(tab.interaction.queue);
      if (seconds) {
        const left = seconds - (now - started) / 1000;
        wrapTimer.textContent = left > 0 ? t("wrapup.remaining", { time: duration(left) }) : t("wrapup.overdue");
      }
    },
    showSide() {
      const side = document.getElementById("side");
      clear(side);
      if (!tab.side) tab.side = sidePanel(tab);
      side.appendChild(tab.side);
    },
    focusReply() { text.focus(); },
    showWrap,
  };

  function drawHead() {
    const current = tab.interaction;
    clear(header);
    header.append(...[
      el("h2", { text: `${t(`channel.${current.channel}`)} · ${tab.customerName || party(current)}` }),
      current.subject ? el("p", { className: "muted", text: current.subject }) : null,
      el("span", { className: "state-badge", "data-state": current.state, text: t(`state.${stateKey(current.state)}`) }),
    ].filter(Boolean));
    tabLabel.textContent = `${t(`channel.${current.channel}`)}: ${tab.customerName || party(current)}`;
    tabState.textContent = current.state === "wrap_up" ? ` · ${t("state.wrap_up")}` : "";
    tabButton.dataset.state = current.state;
    const live = current.state === "connected";
    transferButton.disabled = !live;
    hangupButton.disabled = !live;
    replyForm.hidden = !["connected", "wrap_up"].includes(current.state);
    if (current.state === "wrap_up") showWrap(false);
    if (current.state === "ended") {
      wrapForm.hidden = true;
      replyForm.hidden = true;
      setTimeout(() => closeTab(id), 1500);
    }
  }

  function drawMessages(messages) {
    clear(log);
    for (const message of messages) {
      const who = message.direction === "inbound" ? "customer" : message.author_agent_id ? "agent" : "bot";
      log.appendChild(el("li", { className: `msg ${who}`, "data-from": who, "data-message": message.id, "data-status": message.status }, [
        el("span", { className: "who", text: t(`thread.${who}`) }),
        message.subject && channel === "email" ? el("strong", { className: "msg-subject", text: message.subject }) : null,
        el("p", { className: "body", text: message.body_text }),
        el("time", { datetime: message.created_at, text: clock(message.created_at) }),
      ]));
    }
    log.scrollTop = log.scrollHeight;
    const newest = messages.filter((m) => m.direction === "inbound").pop();
    if (newest && tab.lastInbound !== newest.id) {
      if (tab.lastInbound) announce(t("thread.newMessage", { text: newest.body_text.slice(0, 120) }));
      tab.lastInbound = newest.id;
      if (channel === "chat" && tab.interaction.state === "connected" && desk.active === id) {
        api("POST", `/interactions/${id}/read`, { upto: newest.id }).catch(() => {});
      }
    }
  }

  function insertText(value) {
    const at = text.selectionStart ?? text.value.length;
    text.value = text.value.slice(0, at) + value + text.value.slice(text.selectionEnd ?? at);
    text.focus();
  }

  async function sendReply() {
    const value = text.value.trim();
    if (!value) { text.focus(); return; }
    send.disabled = true;
    try {
      const body = { text: value };
      if (channel === "email" && subject.value.trim()) body.subject = subject.value.trim();
      await api("POST", `/interactions/${id}/reply`, body);
      text.value = "";
      clearTimeout(typingTimer);
      typing(false);
      tab.reload();
    } catch (err) { notice(problem(err), "error"); }
    send.disabled = false;
    text.focus();
  }

  async function hangup() {
    try {
      tab.interaction = await api("POST", `/interactions/${id}/hangup`, {});
      tab.wrapStarted = Date.now();
      drawHead();
    } catch (err) { notice(problem(err), "error"); }
    loadPresence();
  }

  function showWrap(focus) {
    wrapForm.hidden = false;
    if (focus) disposition.focus();
  }

  async function complete() {
    try {
      await api("POST", `/interactions/${id}/complete`, { disposition: disposition.value });
      const label = disposition.selectedOptions[0] ? disposition.selectedOptions[0].textContent : disposition.value;
      notice(t("wrapup.done", { disposition: label }));
      closeTab(id);
    } catch (err) { notice(problem(err), "error"); }
    loadPresence();
  }

  drawHead();
  return tab;
}

/** The customer's address: who wrote to us, or whom we wrote to. */
function party(interaction) {
  const address = interaction.direction === "outbound" ? interaction.to_address : interaction.from_address;
  return address || interaction.from_address || interaction.to_address || "";
}

function stateKey(state) {
  return { connected: "busy", offered: "offered", wrap_up: "wrap_up", ended: "logged_out" }[state] || state;
}

function wrapSeconds(queueId) {
  const queue = (desk.config.queues || []).find((q) => (q.id || q.queue || q.name) === queueId);
  if (!queue) return null;
  return queue.wrap_up_seconds ?? queue.wrap_up ?? null;
}

// --- the side panel: screen pop, new customer, tickets, scripts ------------------------------
function sidePanel(tab) {
  const box = el("div", { className: "side-panel" });
  const pop = el("section", { className: "pop card", "aria-labelledby": `pop-${tab.id}` }, [
    el("h2", { id: `pop-${tab.id}`, text: t("pop.title") }), el("p", { className: "muted", text: t("common.loading") })]);
  const ticketBox = el("section", { className: "card tickets" });
  const scriptBox = el("section", { className: "card scripts" });
  box.append(pop, ticketBox, scriptBox);
  loadPop(tab, pop);
  drawTicketForm(tab, ticketBox);
  scriptStepper(scriptBox, desk.config.scripts || [], desk.config.forms || {});
  return box;
}

async function loadPop(tab, box) {
  let data;
  try {
    data = await api("GET", `/interactions/${tab.id}/screen-pop`);
  } catch (err) {
    box.lastChild.textContent = problem(err);
    return;
  }
  tab.pop = data;
  clear(box);
  const customer = data.customer;
  if (customer) tab.named(customer.name);
  const marks = data.marks || {};
  const identity = data.identity || {};
  box.appendChild(el("h2", { id: `pop-${tab.id}`, text: customer ? customer.name : t("pop.unknown") }));
  const badges = el("p", { className: "badges" });
  if (marks.vip) badges.appendChild(el("span", { className: "badge vip", "data-mark": "vip", text: t("pop.vip") }));
  if (marks.blacklisted) badges.appendChild(el("span", { className: "badge blacklisted", "data-mark": "blacklisted", role: "alert", text: t("pop.blacklisted") + (marks.blacklist_reason ? `: ${marks.blacklist_reason}` : "") }));
  badges.hidden = !badges.children.length;
  box.appendChild(badges);
  box.appendChild(el("p", { className: marks.blacklisted ? "address blacklisted" : "address", "data-identity": identity.kind || "", text: identity.address || "" }));
  if (data.location) {
    const where = [data.location.city, data.location.region, data.location.country, data.location.carrier].filter(Boolean).join(", ");
    box.appendChild(el("p", {}, [el("span", { className: "muted", text: `${t("pop.location")}: ` }), where]));
  }
  if (customer) {
    const details = [customer.company, customer.account_number, customer.service_point].filter(Boolean).join(" · ");
    if (details) box.appendChild(el("p", { className: "muted", text: details }));
  }
  // Open tickets, each opening its ticket view.
  box.appendChild(el("h3", { text: t("pop.tickets") }));
  const tickets = el("ul", { className: "open-tickets" });
  for (const ticket of data.open_tickets || []) {
    tickets.appendChild(el("li", {}, [el("button", { type: "button", className: "link", onclick: () => openTicket(tab, ticket.id) },
      [`#${ticket.number ?? ""} ${ticket.title || ticket.subject || ""} · ${ticket.state}`])]));
  }
  if (!tickets.children.length) tickets.appendChild(el("li", { className: "muted", text: t("pop.noTickets") }));
  box.appendChild(tickets);
  box.appendChild(el("h3", { text: t("pop.history") }));
  const history = el("ol", { className: "history" });
  for (const item of data.history || []) {
    history.appendChild(el("li", { "data-channel": item.channel }, [
      el("span", { className: "badge", text: t(`channel.${item.channel}`) }), " ",
      el("time", { text: clock(item.started) }), " ",
      item.subject || "", item.excerpt || item.last_message ? el("p", { className: "excerpt", text: item.excerpt || item.last_message }) : null,
    ]));
  }
  if (!history.children.length) history.appendChild(el("li", { className: "muted", text: t("pop.noHistory") }));
  box.appendChild(history);
  if (!customer && data.new_customer_form) newCustomerForm(tab, box, data.new_customer_form, identity);
}

function newCustomerForm(tab, box, spec, identity) {
  const form = (desk.config.forms || {})[spec.form];
  if (!form) return;
  const section = el("section", { className: "new-customer" }, [el("h3", { text: t("pop.newCustomer") })]);
  const drawn = renderForm(spec.form, form, {
    prefill: spec.prefill || {}, submitLabel: t("pop.createCustomer"),
    onSubmit: async (values) => {
      try {
        await api("POST", `/forms/${encodeURIComponent(spec.form)}/validate`, { values, locale: localeName() });
        const fields = Object.entries(form.sections ? form.sections.flatMap((s) => s.fields) : form.fields || []);
        const body = { name: values.name || values.full_name || values.customer_name || identity.address || "?", phones: [], emails: [] };
        for (const [, field] of fields) {
          const value = values[field.name];
          if (value === undefined || value === "") continue;
          if (field.type === "phone") body.phones.push({ number: String(value) });
          else if (field.type === "email") body.emails.push({ address: String(value) });
          else if (field.type === "address" || field.name === "address") body.address = String(value);
          else if (field.type === "account" || field.name === "account_number") body.account_number = String(value);
        }
        if (identity.kind === "email" && !body.emails.length && identity.address) body.emails.push({ address: identity.address });
        if ((identity.kind === "phone" || identity.kind === "sms") && !body.phones.length && identity.address) body.phones.push({ number: identity.address });
        await api("POST", "/customers", body);
        notice(t("pop.customerCreated"));
        tab.side = null;
        if (desk.active === tab.id) tab.showSide();
      } catch (err) {
        if (err instanceof ApiError && Object.keys(err.fields).length) drawn.showErrors(err.fields);
        else notice(problem(err), "error");
      }
    },
  });
  section.appendChild(drawn.element);
  box.appendChild(section);
}

function drawTicketForm(tab, box) {
  clear(box);
  const workflows = desk.config.workflows || {};
  const names = Object.keys(workflows);
  box.appendChild(el("h2", { text: t("ticket.new") }));
  if (!names.length) return;
  const selectId = `wf-${tab.id}`;
  const select = el("select", { id: selectId, name: "workflow" });
  for (const name of names) select.appendChild(el("option", { value: name, text: workflows[name].title || name }));
  const host = el("div");
  box.append(el("label", { for: selectId, text: t("ticket.workflow") }), select, host);
  const draw = () => {
    clear(host);
    const workflow = workflows[select.value];
    const formName = workflow.form;
    const form = formName ? (desk.config.forms || {})[formName] : null;
    const subjectId = `tsubj-${tab.id}`;
    const subjectInput = el("input", { id: subjectId, name: "subject", type: "text", required: true, value: tab.interaction.subject || "" });
    const subjectError = el("div", { className: "field-error", "data-error-for": "subject", id: `${subjectId}-err` });
    subjectInput.setAttribute("aria-describedby", `${subjectId}-err`);
    const extra = [el("div", { className: "field", "data-field": "subject" }, [el("label", { for: subjectId, text: t("ticket.subject") }), subjectInput, subjectError])];
    const drawn = renderForm(formName || select.value, form || { fields: [] }, {
      submitLabel: t("ticket.create"), extra,
      onSubmit: async (values) => {
        subjectError.textContent = "";
        if (!subjectInput.value.trim()) { subjectError.textContent = t("form.required"); subjectInput.focus(); return; }
        try {
          if (formName) await api("POST", `/forms/${encodeURIComponent(formName)}/validate`, { values, locale: localeName() });
          const ticket = await api("POST", "/tickets", {
            type: select.value, subject: subjectInput.value.trim(), data: values,
            interaction_id: tab.id, customer_id: tab.interaction.customer_id || undefined,
          });
          notice(t("ticket.created", { number: ticket.number }));
          await openTicket(tab, ticket.id);
          const pop = tab.side && tab.side.querySelector(".pop");
          if (pop) loadPop(tab, pop); // the new ticket is one of the customer's open tickets
        } catch (err) {
          if (err instanceof ApiError && Object.keys(err.fields).length) {
            const rest = drawn.showErrors(err.fields);
            if (rest.subject) subjectError.textContent = rest.subject;
            notice(t("form.refused"), "error");
          } else notice(problem(err), "error");
        }
      },
    });
    host.appendChild(drawn.element);
  };
  select.addEventListener("change", draw);
  draw();
}

async function openTicket(tab, ticketId) {
  const side = tab.side;
  if (!side) return;
  let holder = side.querySelector(".ticket-view");
  if (!holder) {
    holder = el("section", { className: "card ticket-view" });
    side.insertBefore(holder, side.children[1] || null);
  }
  await ticketView(holder, ticketId, desk.config);
}

// --- dialogs: transfer, outbound, shortcuts --------------------------------------------------
function wireDialogs() {
  document.getElementById("new-outbound").addEventListener("click", openOutbound);
  document.getElementById("new-outbound").disabled = false;
  document.getElementById("show-keys").addEventListener("click", () => document.getElementById("keys-dialog").showModal());
}

async function openTransfer(id) {
  const dialog = document.getElementById("transfer-dialog");
  clear(dialog);
  const kinds = ["agent", "queue", "flow"];
  const radios = el("fieldset", {}, [el("legend", { text: t("transfer.to") })]);
  const targets = {};
  let agents = [];
  try { agents = (await api("GET", "/agents?active=true&limit=200")).items.filter((a) => a.id !== desk.agentId); } catch (err) { notice(problem(err), "error"); }
  targets.agent = el("select", { id: "transfer-agent", name: "agent_id" }, agents.map((a) => el("option", { value: a.id, text: a.display_name })));
  targets.queue = el("select", { id: "transfer-queue", name: "queue" }, (desk.config.queues || []).map((q) => {
    const qid = q.id || q.queue || q.name;
    return el("option", { value: qid, text: q.title || q.name || qid });
  }));
  const flows = desk.config.flows || [];
  targets.flow = flows.length ? el("select", { id: "transfer-flow", name: "flow" }, flows.map((f) => el("option", { value: f.id || f.name || f, text: f.title || f.name || f.id || f })))
    : el("input", { id: "transfer-flow", name: "flow", type: "text" });
  const rows = {};
  kinds.forEach((kind, index) => {
    const radio = el("input", { type: "radio", name: "kind", id: `transfer-kind-${kind}`, value: kind, checked: index === 0 });
    radios.appendChild(el("div", { className: "radio" }, [radio, el("label", { for: `transfer-kind-${kind}`, text: t(`transfer.${kind}`) })]));
    rows[kind] = el("div", { className: "field", hidden: index !== 0 }, [el("label", { for: targets[kind].id, text: t(`transfer.${kind}`) }), targets[kind]]);
    radio.addEventListener("change", () => { for (const k of kinds) rows[k].hidden = k !== kind; });
  });
  const mode = el("select", { id: "transfer-mode", name: "mode" }, [el("option", { value: "blind", text: t("transfer.blind") }), el("option", { value: "consult", text: t("transfer.consult") })]);
  const form = el("form", {}, [
    el("h2", { id: "transfer-title", text: t("transfer.title") }), radios, rows.agent, rows.queue, rows.flow,
    el("label", { for: "transfer-mode", text: t("transfer.mode") }), mode,
    el("div", { className: "row" }, [el("button", { type: "submit", className: "primary" }, [t("transfer.submit")]),
      el("button", { type: "button", onclick: () => dialog.close() }, [t("common.cancel")])]),
  ]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const kind = form.querySelector("input[name=kind]:checked").value;
    const body = { mode: mode.value };
    body[kind === "agent" ? "agent_id" : kind] = targets[kind].value;
    try {
      await api("POST", `/interactions/${id}/transfer`, body);
      dialog.close();
      notice(t("transfer.done"));
      closeTab(id);
      loadPresence();
    } catch (err) { notice(problem(err), "error"); }
  });
  dialog.appendChild(form);
  dialog.showModal();
  form.querySelector("input[name=kind]").focus();
}

function openOutbound() {
  const dialog = document.getElementById("outbound-dialog");
  clear(dialog);
  const channel = el("select", { id: "out-channel", name: "channel" }, [el("option", { value: "sms", text: t("channel.sms") }), el("option", { value: "email", text: t("channel.email") })]);
  const to = el("input", { id: "out-to", name: "to", type: "text", required: true });
  const subject = el("input", { id: "out-subject", name: "subject", type: "text" });
  const subjectRow = el("div", { className: "field", hidden: true }, [el("label", { for: "out-subject", text: t("outbound.subject") }), subject]);
  const text = el("textarea", { id: "out-text", name: "text", rows: 4, required: true });
  channel.addEventListener("change", () => { subjectRow.hidden = channel.value !== "email"; });
  const errors = el("p", { className: "error", "aria-live": "assertive" });
  const form = el("form", {}, [
    el("h2", { id: "outbound-title", text: t("outbound.title") }),
    el("label", { for: "out-channel", text: t("outbound.channel") }), channel,
    el("label", { for: "out-to", text: t("outbound.to") }), to, subjectRow,
    el("label", { for: "out-text", text: t("outbound.text") }), text, errors,
    el("div", { className: "row" }, [el("button", { type: "submit", className: "primary" }, [t("outbound.submit")]),
      el("button", { type: "button", onclick: () => dialog.close() }, [t("common.cancel")])]),
  ]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { channel: channel.value, to: to.value.trim(), text: text.value.trim() };
    if (channel.value === "email" && subject.value.trim()) body.subject = subject.value.trim();
    try {
      const made = await api("POST", "/interactions/outbound", body);
      dialog.close();
      const interaction = made.interaction || made;
      if (interaction && interaction.id) openTab(await api("GET", `/interactions/${interaction.id}`), true);
    } catch (err) {
      errors.textContent = err instanceof ApiError && Object.keys(err.fields).length
        ? Object.entries(err.fields).map(([f, m]) => `${f}: ${m}`).join("; ") : problem(err);
    }
  });
  dialog.appendChild(form);
  dialog.showModal();
  channel.focus();
}

function wireShortcuts() {
  const firstOffer = () => desk.offers.keys().next().value;
  const activeTab = () => desk.tabs.get(desk.active);
  shortcuts({
    "Alt+A": () => { const id = firstOffer(); if (id) answer(id, true); },
    "Alt+J": () => { const id = firstOffer(); if (id) answer(id, false); },
    "Alt+R": () => setPresence("ready"),
    "Alt+N": () => setPresence("not_ready"),
    "Alt+T": () => { if (desk.active) openTransfer(desk.active); },
    "Alt+W": () => { const tab = activeTab(); if (tab) tab.showWrap(true); },
    "Alt+.": () => {
      const ids = [...desk.tabs.keys()];
      if (ids.length) activate(ids[(ids.indexOf(desk.active) + 1) % ids.length]);
    },
    "?": () => document.getElementById("keys-dialog").showModal(),
  });
}

start();
