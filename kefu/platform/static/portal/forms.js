/*
 * Generated forms: a form of /portal/config (the tenant's DSL) drawn as a web form, with its
 * sections, field types, conditional fields (visible_when) and the DSL's validation rules and
 * messages checked in the browser. The server checks again and has the last word: its 422
 * per-field messages are shown next to the fields with showErrors().
 */
import { el, LANG, t } from "./core.js";

// The type checks of kefu.runtime.forms.type_problem.
const TYPE_CHECKS = {
  email: { re: /^[^@\s]+@[^@\s]+\.[^@\s]+$/ },
  phone: { re: /^\+?[0-9]{3,20}$/, clean: (v) => v.replace(/[ -]/g, "") },
  pin: { re: /^[0-9]+$/ },
  account: { re: /^[0-9]+$/ },
  number: { re: /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/ },
  integer: { re: /^[-+]?\d+$/ },
  date: { re: /^\d{4}-\d{2}-\d{2}$/ },
};
const NUMERIC = new Set(["number", "integer", "money", "amount"]);
const INPUT_TYPES = { email: "email", phone: "tel", pin: "password", date: "date", time: "time",
  datetime: "datetime-local", url: "url" };

function optionValue(option) {
  if (option && typeof option === "object") return String(option.value ?? option.code ?? option.key ?? option.id);
  return String(option);
}

function optionLabel(option) {
  if (option && typeof option === "object") return String(option.label ?? option.title ?? optionValue(option));
  return String(option);
}

function compile(pattern) {
  if (!pattern) return null;
  try { return new RegExp(pattern, "u"); } catch (err) { return null; } // the server still checks it
}

/** The DSL's own message for a broken ``rule`` of the field (a rule without one: null). */
function declared(field, rule) {
  if (!field.messages) return field.message || null; // a form without per-rule messages
  const own = field.messages[rule];
  if (own && typeof own === "object") {
    // {locale: text}: the page's language, else the text without a locale, else the first.
    const key = Object.keys(own).find((k) => k.split(/[_-]/)[0] === LANG) ?? (own[""] !== undefined ? "" : Object.keys(own)[0]);
    return key !== undefined ? own[key] : null;
  }
  return own || null;
}

/** What is wrong with ``value`` for ``field`` (null when it is fine): the server's checks
 * (kefu.runtime.forms.check_form) with the DSL's messages and the same stock texts. */
export function fieldError(field, value) {
  const options = field.options || field.choices || [];
  if (value === "" || value === null || value === undefined || (value === false && field.type !== "boolean")) {
    return field.required ? (declared(field, "required") || t("form.required")) : null;
  }
  if (field.type === "boolean") return null;
  value = String(value);
  const check = TYPE_CHECKS[field.type];
  if (check && !check.re.test(check.clean ? check.clean(value) : value)) return t("form.badType", { type: field.type });
  // The server reports the first broken rule in the DSL's order, which the config does not
  // carry; a broken rule with its own message is the one the DSL author meant to be read.
  const broken = [];
  const re = compile(field.pattern);
  if (re && !re.test(value)) broken.push(["pattern", t("form.badPattern")]);
  const minLength = typeof field.min_length === "number" ? field.min_length : null;
  const maxLength = typeof field.max_length === "number" ? field.max_length : null;
  if ((minLength !== null && value.length < minLength) || (maxLength !== null && value.length > maxLength)) {
    broken.push(["length", t("form.badLength", { min: minLength ?? 0, max: maxLength ?? "∞" })]);
  }
  const hasMin = typeof field.min === "number";
  const hasMax = typeof field.max === "number";
  if (hasMin || hasMax) {
    const number = Number(value);
    if (isNaN(number) || (hasMin && number < field.min) || (hasMax && number > field.max)) {
      broken.push(["range", t("form.badRange", { min: hasMin ? field.min : "", max: hasMax ? field.max : "" })]);
    }
  }
  if (!broken.length && options.length && !options.map(optionValue).includes(value)) {
    broken.push(["choices", t("form.badChoice", { choices: options.map(optionValue).join(", ") })]);
  }
  if (!broken.length) return null;
  const withMessage = broken.find(([rule]) => declared(field, rule));
  return withMessage ? declared(field, withMessage[0]) : broken[0][1];
}

// --- conditional fields ---------------------------------------------------------------------
/** Evaluate a DSL expression (the IR's S-expression, as JSON lists) against the form values. */
export function evaluate(expr, values) {
  if (expr === null || expr === undefined) return true;
  if (typeof expr === "boolean") return expr;
  if (!Array.isArray(expr)) {
    if (typeof expr === "object" && expr.field) { // {"field": "kind", "equals": "meter"}
      const actual = values[expr.field];
      if ("equals" in expr) return String(actual ?? "") === String(expr.equals);
      if ("in" in expr) return (expr.in || []).map(String).includes(String(actual ?? ""));
      return !!actual;
    }
    return true; // an expression this page cannot read: show the field, the server decides
  }
  const [op, ...args] = expr;
  const val = (e) => evaluate(e, values);
  switch (op) {
    case "var": {
      const path = String(args[0]).replace(/^(form|fields|data|values)\./, "");
      return values[path] ?? null;
    }
    case "str": case "num": case "bool": case "date": case "dur": case "pct": case "time": return args[0];
    case "list": return args.map(val);
    case "not": return !truthy(val(args[0]));
    case "and": return truthy(val(args[0])) && truthy(val(args[1]));
    case "or": return truthy(val(args[0])) || truthy(val(args[1]));
    case "==": return same(val(args[0]), val(args[1]));
    case "!=": return !same(val(args[0]), val(args[1]));
    case "<": return num(val(args[0])) < num(val(args[1]));
    case "<=": return num(val(args[0])) <= num(val(args[1]));
    case ">": return num(val(args[0])) > num(val(args[1]));
    case ">=": return num(val(args[0])) >= num(val(args[1]));
    case "in": { const list = val(args[1]); return Array.isArray(list) && list.some((x) => same(x, val(args[0]))); }
    default: return true;
  }
}

function truthy(v) { return !(v === null || v === undefined || v === false || v === "" || v === 0); }
function num(v) { return typeof v === "number" ? v : parseFloat(v); }
function same(a, b) {
  if (typeof a === "boolean" || typeof b === "boolean") return truthy(a) === truthy(b);
  return String(a ?? "") === String(b ?? "");
}

// --- drawing --------------------------------------------------------------------------------
let formCounter = 0;

/** Sections of a form: the contract's ``sections`` or, for a flat form, one without a title. */
function sectionsOf(form) {
  if (Array.isArray(form.sections) && form.sections.length && form.sections[0].fields) return form.sections;
  return [{ title: null, fields: form.fields || [] }];
}

/**
 * Draw ``form`` (named ``name``); ``prefill`` gives starting values. Returns
 * {element, values(), validate(), showErrors({field: message}), focusFirstError()}.
 * ``onSubmit(values)`` runs when the form is submitted and every visible field is valid.
 */
export function renderForm(name, form, { prefill = {}, submitLabel, onSubmit, extra = [] } = {}) {
  const id = `f${++formCounter}`;
  const inputs = {};
  const element = el("form", { className: "generated", "data-form": name, novalidate: true });
  for (const node of extra) element.appendChild(node);
  sectionsOf(form).forEach((section, s) => {
    const box = section.title ? el("fieldset", { className: "section" }, [el("legend", { text: section.title })])
      : el("div", { className: "section" });
    for (const field of section.fields || []) {
      const inputId = `${id}-${field.name}`;
      const errorId = `${inputId}-err`;
      const options = field.options || field.choices || [];
      let input;
      if (field.type === "boolean") {
        input = el("input", { type: "checkbox", id: inputId, name: field.name });
      } else if (options.length) {
        input = el("select", { id: inputId, name: field.name }, [el("option", { value: "", text: t("form.choose") })]);
        for (const option of options) input.appendChild(el("option", { value: optionValue(option), text: optionLabel(option) }));
      } else if (field.type === "textarea" || field.type === "text" && typeof field.max_length === "number" && field.max_length > 200) {
        input = el("textarea", { id: inputId, name: field.name, rows: 3 });
      } else {
        input = el("input", {
          id: inputId, name: field.name, type: INPUT_TYPES[field.type] || "text",
          inputmode: { phone: "tel", number: "decimal", integer: "numeric", pin: "numeric", account: "numeric" }[field.type] || null,
          autocomplete: { email: "email", phone: "tel" }[field.type] || "off",
        });
      }
      input.setAttribute("aria-describedby", errorId);
      if (field.required) input.setAttribute("aria-required", "true");
      const start = prefill[field.name];
      if (start !== undefined && start !== null) {
        if (field.type === "boolean") input.checked = !!start; else input.value = String(start);
      }
      const error = el("div", { className: "field-error", id: errorId, "data-error-for": field.name, "aria-live": "polite" });
      const label = el("label", { for: inputId }, [field.label || field.name, field.required ? el("span", { className: "req", "aria-hidden": "true", text: " *" }) : null]);
      const wrapper = el("div", { className: "field", "data-field": field.name }, [label, input, error]);
      box.appendChild(wrapper);
      inputs[field.name] = { field, input, error, wrapper };
      input.addEventListener("input", () => { setError(field.name, null); refreshVisibility(); });
      input.addEventListener("change", refreshVisibility);
    }
    element.appendChild(box);
  });
  const submit = el("button", { type: "submit", className: "primary" }, [submitLabel || t("common.save")]);
  element.appendChild(el("div", { className: "form-actions" }, [submit]));

  function rawValue(entry) {
    if (entry.field.type === "boolean") return entry.input.checked;
    return String(entry.input.value || "").trim();
  }

  function currentValues() {
    const out = {};
    for (const [fieldName, entry] of Object.entries(inputs)) out[fieldName] = rawValue(entry);
    return out;
  }

  function refreshVisibility() {
    const values = currentValues();
    for (const entry of Object.values(inputs)) {
      const condition = entry.field.visible_when ?? entry.field.when ?? null;
      const visible = !!evaluate(condition, values);
      entry.wrapper.hidden = !visible;
      entry.input.disabled = !visible;
    }
  }

  function setError(fieldName, message) {
    const entry = inputs[fieldName];
    if (!entry) return false;
    entry.error.textContent = message || "";
    if (message) entry.input.setAttribute("aria-invalid", "true");
    else entry.input.removeAttribute("aria-invalid");
    return true;
  }

  /** The values of the visible, filled-in fields (what is sent). */
  function values() {
    const out = {};
    for (const [fieldName, entry] of Object.entries(inputs)) {
      if (entry.wrapper.hidden) continue;
      const value = rawValue(entry);
      if (value === "" ) continue;
      out[fieldName] = NUMERIC.has(entry.field.type) && value !== "" && !isNaN(Number(value)) ? Number(value) : value;
    }
    return out;
  }

  function validate() {
    let ok = true;
    for (const [fieldName, entry] of Object.entries(inputs)) {
      const problem = entry.wrapper.hidden ? null : fieldError(entry.field, rawValue(entry));
      setError(fieldName, problem);
      if (problem) ok = false;
    }
    if (!ok) focusFirstError();
    return ok;
  }

  /** The server's per-field messages; answers the messages no field of this form took. */
  function showErrors(errors) {
    const rest = {};
    for (const [fieldName, message] of Object.entries(errors || {})) {
      if (!setError(fieldName, message)) rest[fieldName] = message;
    }
    focusFirstError();
    return rest;
  }

  function focusFirstError() {
    const bad = Object.values(inputs).find((entry) => entry.input.getAttribute("aria-invalid") === "true");
    if (bad) bad.input.focus();
  }

  element.addEventListener("submit", (event) => {
    event.preventDefault();
    if (validate() && onSubmit) onSubmit(values());
  });
  refreshVisibility();
  return { element, values, validate, showErrors, focusFirstError, submit };
}
