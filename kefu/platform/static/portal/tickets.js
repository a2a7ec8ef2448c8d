/*
 * The ticket view: the workflow's states with the current one marked, the transitions the
 * caller's roles allow as buttons (from /portal/config's allowed_for_me), the SLA countdown
 * and the history.
 */
import { api, clear, clock, duration, el, notice, problem, t } from "./core.js";

const timers = new WeakMap();

export async function ticketView(holder, ticketId, config) {
  let ticket;
  try {
    ticket = await api("GET", `/tickets/${ticketId}`);
  } catch (err) {
    clear(holder).appendChild(el("p", { className: "error", text: problem(err) }));
    return;
  }
  clear(holder);
  holder.dataset.ticket = ticket.id;
  const workflow = (config.workflows || {})[ticket.type] || { states: [ticket.state], transitions: [] };
  holder.appendChild(el("h2", { text: `#${ticket.number} ${ticket.subject}` }));
  const states = el("ol", { className: "states", "aria-label": t("ticket.state") });
  for (const state of workflow.states || []) {
    const here = state === ticket.state;
    states.appendChild(el("li", { className: here ? "current" : "", "aria-current": here ? "step" : null, "data-state": state, text: state }));
  }
  holder.appendChild(states);
  holder.appendChild(el("p", { "data-ticket-state": ticket.state }, [el("span", { className: "muted", text: `${t("ticket.state")}: ` }), ticket.state]));

  const sla = el("p", { className: "sla", "aria-live": "off" });
  holder.appendChild(sla);
  const due = [ticket.response_due_at && !ticket.first_response_at ? ticket.response_due_at : null, ticket.resolve_due_at]
    .filter(Boolean).map((iso) => Date.parse(iso)).sort((a, b) => a - b)[0];
  clearInterval(timers.get(holder));
  if (due && !ticket.closed_at) {
    const draw = () => {
      const left = (due - Date.now()) / 1000;
      sla.textContent = left >= 0 ? t("ticket.sla", { time: duration(left) }) : t("ticket.slaOverdue", { time: duration(-left) });
      sla.classList.toggle("overdue", left < 0);
    };
    draw();
    timers.set(holder, setInterval(() => (holder.isConnected ? draw() : clearInterval(timers.get(holder))), 1000));
  }

  const moves = (workflow.transitions || []).filter((tr) => [].concat(tr.from || tr.sources || []).includes(ticket.state) && tr.allowed_for_me !== false);
  if (moves.length) {
    holder.appendChild(el("h3", { text: t("ticket.transitions") }));
    const row = el("div", { className: "row transitions" });
    for (const move of moves) {
      row.appendChild(el("button", { type: "button", "data-transition": move.name || move.id, onclick: async () => {
        try {
          const changed = await api("PATCH", `/tickets/${ticket.id}`, { state: move.name || move.id });
          notice(t("ticket.moved", { number: changed.number, state: changed.state }));
          ticketView(holder, ticket.id, config);
        } catch (err) { notice(problem(err), "error"); }
      } }, [`${move.name || move.id} → ${move.to || move.target}`]));
    }
    holder.appendChild(row);
  }

  holder.appendChild(el("h3", { text: t("ticket.history") }));
  const history = el("ol", { className: "history" });
  for (const event of ticket.history || []) {
    const what = event.to_state ? `${event.from_state || "·"} → ${event.to_state}` : event.action;
    history.appendChild(el("li", {}, [el("time", { text: clock(event.created_at) }), ` ${what}`, event.comment ? el("p", { className: "excerpt", text: event.comment }) : null]));
  }
  holder.appendChild(history);
}
