// A job kind's parameter form, generated from GET /api/v1/job-kinds: the same descriptions the API validates
// with (services/domain/job_params), so a new kind or parameter appears here without a change to the console.
import { el } from "./dom.js";

function defaultText(value) {
  return value === null || value === undefined ? "none" : JSON.stringify(value);
}

function onlyText(types) {
  return types.every((t) => t === "str" || t === "null");
}

function isNumber(types) {
  const kinds = types.filter((t) => t !== "null");
  return kinds.length > 0 && kinds.every((t) => t === "int" || t === "float");
}

function isBool(types) {
  const kinds = types.filter((t) => t !== "null");
  return kinds.length === 1 && kinds[0] === "bool";
}

function helpOf(param) {
  const parts = [param.help];
  if (param.fields && param.fields.length) {
    parts.push(`Fields: ${param.fields.map((f) => `${f.name} (default ${defaultText(f.default)}): ${f.help}`).join("; ")}.`);
  }
  const bounds = Object.entries(param.bounds || {}).map(([op, v]) => `${{ ge: "≥", gt: ">", le: "≤", lt: "<" }[op]} ${v}`);
  if (bounds.length) parts.push(`Bounds: ${bounds.join(", ")}.`);
  parts.push(`Default: ${defaultText(param.default)}.`);
  return parts.filter(Boolean).join(" ");
}

// One input per parameter: a select for choices and booleans, a number box for numbers, text for strings,
// and JSON for lists and objects. Empty means "the default" and sends nothing.
function inputFor(param, id) {
  if (param.choices && param.choices.length) {
    return el("select", { id, data: { param: param.name } },
      el("option", { value: "" }, `default (${defaultText(param.default)})`),
      param.choices.map((choice) => el("option", { value: JSON.stringify(choice) }, String(choice))));
  }
  if (isBool(param.types)) {
    return el("select", { id, data: { param: param.name } },
      el("option", { value: "" }, `default (${defaultText(param.default)})`),
      el("option", { value: "true" }, "true"),
      el("option", { value: "false" }, "false"));
  }
  if (isNumber(param.types)) {
    const integer = !param.types.includes("float");
    const b = param.bounds || {};
    return el("input", {
      id, type: "number", data: { param: param.name }, step: integer ? "1" : "any",
      min: b.ge ?? null, max: b.le ?? null, placeholder: defaultText(param.default),
    });
  }
  if (onlyText(param.types)) {
    return el("input", { id, data: { param: param.name }, spellcheck: "false", placeholder: param.default ?? "" });
  }
  return el("textarea", { id, rows: "2", data: { param: param.name }, spellcheck: "false", placeholder: defaultText(param.default) });
}

// `recipe` names one of the kind's recipes (params bundles): offered as a choice of their names and values.
function withRecipes(param, kind) {
  if (param.name !== "recipe" || !Object.keys(kind.recipes).length) return param;
  const names = Object.keys(kind.recipes);
  const help = `${param.help} ${names.map((name) => `${name}: ${JSON.stringify(kind.recipes[name])}`).join("; ")}.`;
  return { ...param, choices: names, help };
}

export function paramFields(kind) {
  return kind.params.map((described) => {
    const param = withRecipes(described, kind);
    const id = `param-${param.name}`;
    const helpId = `${id}-help`;
    const input = inputFor(param, id);
    input.setAttribute("aria-describedby", helpId);
    return el("div", { class: "param" },
      el("label", { for: id }, param.name, el("span", { class: "muted" }, ` ${param.types.join(" | ")}`)),
      input,
      el("p", { class: "help", id: helpId }, helpOf(param)));
  });
}

// The values typed into the form, as params: empty fields left out, the rest read as JSON unless the
// parameter takes only text. Throws an Error naming the field whose value is not JSON.
export function readParams(container, kind) {
  const params = {};
  const byName = new Map(kind.params.map((p) => [p.name, p]));
  for (const input of container.querySelectorAll("[data-param]")) {
    const raw = input.value.trim();
    if (raw === "") continue;
    const param = byName.get(input.dataset.param);
    if (input.tagName === "SELECT") {
      params[param.name] = JSON.parse(raw); // its options' values are JSON
      continue;
    }
    if (onlyText(param.types)) {
      params[param.name] = raw;
      continue;
    }
    try {
      params[param.name] = JSON.parse(raw);
    } catch {
      if (param.types.includes("str")) params[param.name] = raw;
      else throw new Error(`${param.name}: "${raw}" is not a valid value (write JSON for lists and objects)`);
    }
  }
  return params;
}
