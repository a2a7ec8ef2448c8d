/*
 * The supervisor console: the live wallboard (agents with their state and time in it, queues
 * with waiting contacts, longest wait, service level and abandon rate today), kept current from
 * /ws/events; forcing agents not ready or out; taking over, reassigning and reading live
 * interactions; overdue tickets with escalation. Voice supervision buttons appear only for
 * channels whose capabilities (/portal/config) declare them.
 */
import {
  api, bootData, clear, clock, duration, el, Events, languageSwitch, loadTexts, localeName,
  notice, problem, t,
} from "./core.js";

const boot = bootData();
const board = { config: null, agents: new Map(), queues: [], live: new Map(), watching: null };

async function start() {
  await loadTexts(boot.lang);
  languageSwitch();
  try {
    board.config = await api("GET", `/portal/config?locale=${localeName()}`);
  } catch (err) {
    notice(problem(err), "error");
    return;
  }
  new Events(["agent.state", "interaction.*", "queue.*", "wallboard.*", "message.*"], {
    onEvent,
    onStatus: (live) => {
      const badge = document.getElementById("live-indicator");
      badge.dataset.live = String(live);
      badge.textContent = live ? t("common.online") : t("common.offline");
    },
    onReconnect: () => { loadWallboard(); loadLive(); },
  });
  document.getElementById("chat-view-close").addEventListener("click", () => {
    board.watching = null;
    document.getElementById("chat-view").hidden = true;
  });
  await Promise.all([loadWallboard(), loadLive(), loadOverdue()]);
  setInterval(tick, 1000);
  document.getElementById("main").dataset.ready = "true";
  setInterval(loadOverdue, 60000);
}

// --- wallboard ------------------------------------------------------------------------------
// When each agent's newest state event happened (server time): a wallboard answer computed
// before it must not put the older state back.
const eventAt = new Map();
let loading = null;
let again = false;

async function loadWallboard() {
  if (loading) { again = true; return loading; }
  loading = fetchWallboard();
  try { await loading; } finally { loading = null; }
  if (again) { again = false; await loadWallboard(); }
}

async function fetchWallboard() {
  try {
    const data = await api("GET", "/wallboard");
    const asOf = Date.parse(data.as_of);
    const before = board.agents;
    board.agents = new Map(data.agents.map((a) => {
      const seen = before.get(a.agent_id);
      const newer = seen && eventAt.get(a.agent_id) > asOf;
      return [a.agent_id, newer ? { ...a, state: seen.state, reason: seen.reason, since: seen.since } : a];
    }));
    board.queues = data.queues;
    document.getElementById("as-of").textContent = t("wb.asOf", { time: clock(data.as_of) });
    drawAgents();
    drawQueues();
  } catch (err) { notice(problem(err), "error"); }
}

let reloadTimer = null;
/** Many events come in bursts (an offer moves a queue and an agent): one reload for them. */
function reloadSoon() {
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => { reloadTimer = null; loadWallboard(); loadLive(); }, 150);
}

function onEvent(topic, data) {
  if (topic === "agent.state") {
    const agent = board.agents.get(data.agent_id);
    if (data.at) eventAt.set(data.agent_id, Date.parse(data.at));
    if (agent) {
      // Shown at once from the event itself; the reload that follows fills in the rest.
      agent.state = data.state;
      agent.reason = data.reason;
      agent.since = data.at || new Date().toISOString();
      drawAgents();
    }
    reloadSoon();
    return;
  }
  if (topic.startsWith("wallboard.") && data && Array.isArray(data.agents)) {
    board.agents = new Map(data.agents.map((a) => [a.agent_id, a]));
    if (Array.isArray(data.queues)) board.queues = data.queues;
    drawAgents();
    drawQueues();
    return;
  }
  if (topic.startsWith("message.") && board.watching && data.interaction_id === board.watching) {
    loadChat(board.watching);
    return;
  }
  if (topic.startsWith("interaction.") || topic.startsWith("queue.") || topic.startsWith("wallboard.")) reloadSoon();
}

function stateText(agent) {
  const reason = agent.state === "not_ready" && agent.reason ? ` · ${reasonLabel(agent.reason)}` : "";
  return t(`state.${agent.state}`) + reason;
}

function reasonLabel(code) {
  const found = (board.config.not_ready_reasons || []).find((r) => r.code === code);
  return found ? found.label || code : code;
}

function drawAgents() {
  const body = document.querySelector("#agents tbody");
  clear(body);
  const agents = [...board.agents.values()].sort((a, b) => String(a.name).localeCompare(String(b.name)));
  for (const agent of agents) {
    const count = Array.isArray(agent.interactions) ? agent.interactions.length : agent.interactions || 0;
    const actions = el("td", { className: "actions" }, [
      el("button", { type: "button", disabled: agent.state === "not_ready" || agent.state === "logged_out", "aria-label": `${t("wb.forceNotReady")}: ${agent.name}`, onclick: () => force(agent, "not_ready") }, [t("wb.forceNotReady")]),
      el("button", { type: "button", disabled: agent.state === "logged_out", "aria-label": `${t("wb.forceLogout")}: ${agent.name}`, onclick: () => force(agent, "logged_out") }, [t("wb.forceLogout")]),
    ]);
    body.appendChild(el("tr", { "data-agent": agent.agent_id, "data-state": agent.state }, [
      el("th", { scope: "row", text: agent.name }),
      el("td", { className: "state" }, [el("span", { className: "state-badge", "data-state": agent.state, text: stateText(agent) })]),
      el("td", { className: "since", "data-since": agent.since || "" }),
      el("td", { text: String(count) }),
      actions,
    ]));
  }
  tick();
}

function percent(value) {
  if (value === null || value === undefined) return "–";
  const number = value <= 1 ? value * 100 : value;
  return `${Math.round(number * 10) / 10}%`;
}

function drawQueues() {
  const body = document.querySelector("#queues tbody");
  clear(body);
  for (const queue of board.queues) {
    body.appendChild(el("tr", { "data-queue": queue.queue }, [
      el("th", { scope: "row", text: queue.name || queue.queue }),
      el("td", { "data-waiting": "", text: String(queue.waiting) }),
      el("td", { text: duration(queue.longest_wait_seconds || 0) }),
      el("td", { text: percent(queue.service_level_today) }),
      el("td", { text: percent(queue.abandon_rate_today) }),
      el("td", { text: String(queue.answered_today ?? "–") }),
      el("td", { text: String(queue.abandoned_today ?? "–") }),
    ]));
  }
}

function tick() {
  const now = Date.now();
  for (const cell of document.querySelectorAll("#agents td.since")) {
    const since = cell.dataset.since ? Date.parse(cell.dataset.since) : null;
    cell.textContent = since ? duration((now - since) / 1000) : "–";
  }
}

async function force(agent, state) {
  try {
    const body = { state };
    if (state === "not_ready") body.reason = (board.config.not_ready_reasons || [])[0]?.code;
    await api("PUT", `/agents/${agent.agent_id}/presence`, body);
    notice(t("wb.forced", { name: agent.name, state: t(`state.${state}`) }));
  } catch (err) { notice(problem(err), "error"); }
}

// --- live interactions ----------------------------------------------------------------------
async function loadLive() {
  const rows = [];
  try {
    for (const state of ["queued", "offered", "connected", "wrap_up"]) {
      const page = await api("GET", `/interactions?state=${state}&limit=100`);
      rows.push(...page.items);
    }
  } catch (err) { notice(problem(err), "error"); return; }
  board.live = new Map(rows.map((r) => [r.id, r]));
  drawLive();
}

function agentName(id) {
  const agent = board.agents.get(id);
  return agent ? agent.name : "";
}

function drawLive() {
  const body = document.querySelector("#live tbody");
  clear(body);
  if (!board.live.size) {
    body.appendChild(el("tr", {}, [el("td", { colspan: 4, className: "muted", text: t("sv.noLive") })]));
    return;
  }
  const capabilities = board.config.capabilities || {};
  for (const item of board.live.values()) {
    const actions = el("td", { className: "actions" });
    actions.appendChild(el("button", { type: "button", onclick: () => watch(item.id) }, [t("sv.open")]));
    if (["offered", "connected", "queued"].includes(item.state)) {
      actions.appendChild(el("button", { type: "button", onclick: () => act(item.id, "takeover") }, [t("sv.takeover")]));
      actions.appendChild(el("button", { type: "button", onclick: () => reassign(item) }, [t("sv.reassign")]));
    }
    // Voice supervision only where the channel declares it.
    for (const action of ["monitor", "whisper", "barge"]) {
      if ((capabilities[item.channel] || []).includes(action) && item.state === "connected") {
        actions.appendChild(el("button", { type: "button", "data-capability": action, onclick: () => act(item.id, action) }, [t(`sv.${action}`)]));
      }
    }
    body.appendChild(el("tr", { "data-interaction": item.id, "data-channel": item.channel }, [
      el("th", { scope: "row", text: `${t(`channel.${item.channel}`)} · ${(item.direction === "outbound" ? item.to_address : item.from_address) || item.from_address || item.to_address || ""}` }),
      el("td", { "data-state": item.state, text: t(`istate.${item.state}`) }),
      el("td", { text: agentName(item.agent_id) }),
      actions,
    ]));
  }
}

async function act(id, action) {
  try {
    await api("POST", `/interactions/${id}/${action}`, {});
    notice(t("sv.done"));
    reloadSoon();
  } catch (err) { notice(problem(err), "error"); }
}

function reassign(item) {
  const dialog = document.getElementById("reassign-dialog");
  clear(dialog);
  const select = el("select", { id: "reassign-agent", name: "agent_id" });
  for (const agent of board.agents.values()) {
    if (agent.agent_id !== item.agent_id) select.appendChild(el("option", { value: agent.agent_id, text: agent.name }));
  }
  const form = el("form", {}, [
    el("h2", { id: "reassign-title", text: t("sv.reassign") }),
    el("label", { for: "reassign-agent", text: t("sv.reassignTo") }), select,
    el("div", { className: "row" }, [el("button", { type: "submit", className: "primary" }, [t("sv.reassign")]),
      el("button", { type: "button", onclick: () => dialog.close() }, [t("common.cancel")])]),
  ]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", `/interactions/${item.id}/reassign`, { agent_id: select.value });
      dialog.close();
      notice(t("sv.done"));
      reloadSoon();
    } catch (err) { notice(problem(err), "error"); }
  });
  dialog.appendChild(form);
  dialog.showModal();
  select.focus();
}

async function watch(id) {
  board.watching = id;
  document.getElementById("chat-view").hidden = false;
  await loadChat(id);
  document.getElementById("chat-view-close").focus();
}

async function loadChat(id) {
  const log = document.querySelector("#chat-view .thread");
  try {
    const page = await api("GET", `/interactions/${id}/messages?limit=200`);
    clear(log);
    for (const message of page.items) {
      const who = message.direction === "inbound" ? "customer" : message.author_agent_id ? "agent" : "bot";
      log.appendChild(el("li", { className: `msg ${who}`, "data-from": who }, [
        el("span", { className: "who", text: t(`thread.${who}`) }), el("p", { className: "body", text: message.body_text }),
        el("time", { text: clock(message.created_at) })]));
    }
  } catch (err) { clear(log).appendChild(el("li", { className: "error", text: problem(err) })); }
}

// --- overdue tickets ------------------------------------------------------------------------
async function loadOverdue() {
  const list = document.getElementById("overdue");
  let items;
  try {
    const page = await api("GET", "/tickets/overdue");
    items = page.items || page;
  } catch (err) {
    clear(list).appendChild(el("li", { className: "error", text: problem(err) }));
    return;
  }
  clear(list);
  if (!items.length) list.appendChild(el("li", { className: "muted", text: t("sv.noOverdue") }));
  for (const ticket of items) {
    const noteId = `note-${ticket.id}`;
    const note = el("input", { id: noteId, type: "text", name: "note" });
    const form = el("form", { className: "row" }, [
      el("span", { text: `#${ticket.number} ${ticket.subject} · ${ticket.state}` }),
      el("span", { className: "overdue-by", text: t("sv.overdueBy", { time: duration(ticket.overdue_seconds || 0) }) }),
      ticket.escalations ? el("span", { className: "muted", text: t("sv.escalations", { n: ticket.escalations }) }) : null,
      el("label", { for: noteId, className: "sr-only", text: t("sv.note") }), note,
      el("button", { type: "submit" }, [t("sv.escalate")]),
    ]);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api("POST", `/tickets/${ticket.id}/escalate`, note.value.trim() ? { note: note.value.trim() } : {});
        notice(t("sv.escalated", { number: ticket.number }));
        loadOverdue();
      } catch (err) { notice(problem(err), "error"); }
    });
    list.appendChild(el("li", { "data-ticket": ticket.id }, [form]));
  }
}

start();
