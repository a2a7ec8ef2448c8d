/*
 * Guided scripts ("business wizard"): the tenant's scripts from /portal/config. The agent goes
 * step by step: each step's text, its form (generated, checked by the browser and then by the
 * server) and the steps that may follow — one "Next", or a button per branch. "Previous" goes
 * back the way the agent came.
 */
import { api, ApiError, clear, el, localeName, notice, problem, t } from "./core.js";
import { renderForm } from "./forms.js";

let counter = 0;

export function scriptStepper(box, scripts, forms = {}) {
  clear(box);
  box.appendChild(el("h2", { text: t("scripts.label") }));
  if (!scripts.length) { box.hidden = true; return; }
  const id = `script-${++counter}`;
  const select = el("select", { id, name: "script" }, [el("option", { value: "", text: t("scripts.choose") })]);
  scripts.forEach((script, index) => select.appendChild(el("option", { value: String(index), text: script.title || script.name })));
  const stage = el("div", { className: "stepper", "aria-live": "polite" });
  box.append(el("label", { for: id, text: t("scripts.label"), className: "sr-only" }), select, stage);
  let script = null;
  let path = []; // the names of the steps taken, the current one last
  const answers = {}; // step name -> the values its form was given

  const stepNamed = (name) => (script.steps || []).find((s) => s.name === name);

  function go(name) {
    path.push(name);
    draw();
  }

  function finish() {
    select.value = "";
    script = null;
    path = [];
    draw();
    select.focus();
  }

  function draw() {
    clear(stage);
    if (!script) return;
    const step = stepNamed(path[path.length - 1]);
    if (!step) return;
    const index = script.steps.indexOf(step);
    const nexts = (step.next || []).filter(stepNamed);
    const heading = el("h3", { tabindex: "-1", text: step.title || step.name });
    stage.append(...[
      el("p", { className: "muted", text: t("scripts.step", { n: index + 1, total: script.steps.length }) }),
      heading,
      step.text ? el("p", { className: "script-text", text: step.text }) : null,
    ].filter(Boolean));
    const back = el("button", { type: "button", disabled: path.length < 2, onclick: () => { path.pop(); draw(); } }, [t("scripts.previous")]);
    const choices = nexts.map((name) => el("button", { type: "button", className: "primary", "data-next": name, onclick: () => go(name) },
      [nexts.length > 1 ? stepNamed(name).title || name : t("scripts.next")]));
    if (!nexts.length) choices.push(el("button", { type: "button", className: "primary", onclick: finish }, [t("scripts.finish")]));
    const form = step.form ? forms[step.form] : null;
    if (form) {
      // A step with a form moves on once the server accepts the answers.
      const drawn = renderForm(step.form, form, {
        prefill: answers[step.name] || {}, submitLabel: nexts.length > 1 ? t("common.save") : nexts.length ? t("scripts.next") : t("scripts.finish"),
        onSubmit: async (values) => {
          try {
            await api("POST", `/forms/${encodeURIComponent(step.form)}/validate`, { values, locale: localeName() });
          } catch (err) {
            if (err instanceof ApiError && Object.keys(err.fields).length) drawn.showErrors(err.fields);
            else notice(problem(err), "error");
            return;
          }
          answers[step.name] = values;
          if (nexts.length === 1) go(nexts[0]);
          else if (!nexts.length) finish();
          else for (const button of choices) button.disabled = false;
        },
      });
      stage.appendChild(drawn.element);
      if (nexts.length > 1) for (const button of choices) button.disabled = !answers[step.name];
      stage.appendChild(el("div", { className: "row" }, nexts.length > 1 ? [back, ...choices] : [back]));
    } else {
      stage.appendChild(el("div", { className: "row" }, [back, ...choices]));
    }
    heading.focus();
  }

  select.addEventListener("change", () => {
    script = select.value === "" ? null : scripts[Number(select.value)];
    path = [];
    if (script && script.steps && script.steps.length) go(script.steps[0].name);
    else draw();
  });
}
