// Model versions: metrics and curves, promote and unpromote, two versions' metrics side by side, and the
// head-to-head win rates people's judgements give (GET /api/v1/win-rates).
import { winRateTable } from "./datasets.js";
import { $, clear, fill, el, metricText, notify, table, when } from "./dom.js";
import { ApiError, api, imageUrl } from "./http.js";

const state = { versions: [], selected: null, curves: new Map() };
// Shown in the table: the first of these a version has.
const KEY_METRICS = ["eval_accuracy", "reward_after", "reward_before", "kl", "win_rate", "train_seconds"];

export const live = false;

export function setup() {
  $("compare-a").addEventListener("change", renderCompare);
  $("compare-b").addEventListener("change", renderCompare);
}

export async function refresh() {
  const [versions, rates] = await Promise.all([api("GET", "/api/v1/models"), api("GET", "/api/v1/win-rates")]);
  state.versions = versions.data;
  renderList();
  renderCompareChoices();
  renderCompare();
  const box = clear($("win-rates"));
  box.append(rates.data.length ? winRateTable(rates.data, nameOf) : el("p", { class: "muted" }, "No judged new-vs-old comparisons yet."));
  if (state.selected !== null) await showVersion(state.selected);
}

function nameOf(id) {
  const found = state.versions.find((v) => v.id === id);
  return found ? found.name : `version ${id}`;
}

function keyMetrics(v) {
  return KEY_METRICS.filter((k) => typeof v.metrics[k] === "number").slice(0, 2).map((k) => `${k} ${metricText(v.metrics[k])}`).join(" · ") || "–";
}

function renderList() {
  const body = clear($("models-table").tBodies[0]);
  $("models-empty").hidden = state.versions.length > 0;
  for (const v of state.versions) {
    body.append(
      el("tr", { class: v.id === state.selected ? "selected" : null, data: { version: String(v.id) } },
        el("td", {}, el("button", { type: "button", class: "link-button", onclick: () => select(v.id) }, v.name)),
        el("td", {}, v.base_model),
        el("td", {}, v.job_id === null ? "registered" : `#${v.job_id}`),
        el("td", {}, keyMetrics(v)),
        el("td", {},
          v.promoted ? el("strong", {}, "promoted ") : null,
          el("button", { type: "button", class: v.promoted ? null : "primary", data: { action: v.promoted ? "unpromote" : "promote" }, onclick: () => setPromoted(v, !v.promoted) },
            v.promoted ? "Unpromote" : "Promote")),
      ),
    );
  }
}

async function setPromoted(v, promote) {
  try {
    await api("POST", `/api/v1/models/${v.id}/${promote ? "promote" : "unpromote"}`);
  } catch (error) {
    notify(error.message, { error: true });
    return;
  }
  notify(promote ? `${v.name} is promoted: the inference service serves it.` : `${v.name} is no longer served; the default ${v.kind} serves.`);
  await refresh();
}

function select(id) {
  state.selected = id;
  showVersion(id).catch((error) => notify(error.message, { error: true }));
}

async function curvesFor(id) {
  if (state.curves.has(id)) return state.curves.get(id);
  let url = null;
  try {
    url = await imageUrl(`/api/v1/models/${id}/curves.png`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  state.curves.set(id, url);
  return url;
}

function metricRows(metrics) {
  return Object.entries(metrics).filter(([k]) => k !== "warnings").map(([k, value]) => el("tr", {}, el("td", {}, k), el("td", { class: "num" }, metricText(value))));
}

async function showVersion(id) {
  const v = await api("GET", `/api/v1/models/${id}`);
  const curves = await curvesFor(id);
  renderList();
  fill($("model-detail"), 
    el("h2", { id: "model-title" }, v.name, " ", el("span", { class: "badge" }, v.promoted ? "promoted" : "not served")),
    el("p", { class: "muted" }, `${v.kind} · base ${v.base_model} · ${v.job_id === null ? "registered" : `job #${v.job_id}`} · created ${when(v.created_at)}`,
      v.promoted ? ` · promoted ${when(v.promoted_at)}` : ""),
    (v.metrics.warnings || []).length ? el("ul", { class: "warnings" }, v.metrics.warnings.map((w) => el("li", {}, w))) : null,
    el("div", { class: "card" }, el("h3", {}, "Metrics"), table(["Metric", "Value"], metricRows(v.metrics))),
    curves
      ? el("div", { class: "card" }, el("h3", {}, "Training curves"), el("img", { src: curves, alt: `Training curves of ${v.name}`, class: "curves", id: "model-curves" }))
      : el("p", { class: "muted" }, "No training curves for this version."),
    el("details", { class: "card" }, el("summary", {}, "Parameters and data"), el("pre", { class: "config" }, JSON.stringify({ params: v.params, data: v.data_snapshot }, null, 2))),
  );
}

function renderCompareChoices() {
  for (const [id, fallback] of [["compare-a", 1], ["compare-b", 0]]) {
    const select = $(id);
    const previous = select.value;
    clear(select).append(el("option", { value: "" }, "choose a version"), state.versions.map((v) => el("option", { value: String(v.id) }, v.name)));
    if (state.versions.some((v) => String(v.id) === previous)) select.value = previous;
    else if (state.versions.length > 1) select.value = String(state.versions[fallback].id);
  }
}

function renderCompare() {
  const box = clear($("compare-result"));
  const a = state.versions.find((v) => String(v.id) === $("compare-a").value);
  const b = state.versions.find((v) => String(v.id) === $("compare-b").value);
  if (!a || !b) return;
  const keys = [...new Set([...Object.keys(a.metrics), ...Object.keys(b.metrics)])].filter((k) => k !== "warnings").sort();
  box.append(
    table(["Metric", a.name, b.name, "Difference"], keys.map((k) => {
      const x = a.metrics[k];
      const y = b.metrics[k];
      const diff = typeof x === "number" && typeof y === "number" ? metricText(y - x) : "";
      return el("tr", {}, el("td", {}, k), el("td", { class: "num" }, x === undefined ? "–" : metricText(x)),
        el("td", { class: "num" }, y === undefined ? "–" : metricText(y)), el("td", { class: "num" }, diff));
    }), { className: "grid compare" }),
  );
}
