// Jobs: start one from a form generated from its kind's parameters, watch the list and one job live
// (polled: EventSource cannot send the token), read its log and metrics, see its curves, cancel it.
import { all as allDatasets } from "./datasets.js";
import { $, clear, fill, confirmAction, duration, el, label, metricText, notify, progressBar, table, when } from "./dom.js";
import { ApiError, api, imageUrl } from "./http.js";
import { paramFields, readParams } from "./param_form.js";

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const state = { kinds: [], datasets: [], selected: null, shown: null, curves: new Map() };

export const live = true;

export function setup() {
  $("js-kind").addEventListener("change", renderKind);
  $("job-start").addEventListener("submit", (event) => {
    event.preventDefault();
    startJob().catch((error) => ($("js-error").textContent = error.message));
  });
}

export async function refresh() {
  const [kinds, datasets] = await Promise.all([api("GET", "/api/v1/job-kinds"), allDatasets()]);
  state.datasets = datasets;
  if (state.kinds.length !== kinds.data.length || !$("js-kind").options.length) {
    state.kinds = kinds.data;
    const select = clear($("js-kind"));
    for (const kind of state.kinds) select.append(el("option", { value: kind.kind }, kind.kind));
    renderKind();
  } else {
    state.kinds = kinds.data;
    renderDatasetChoices();
  }
  await poll();
}

export async function poll() {
  const answer = await api("GET", "/api/v1/jobs?limit=50");
  renderList(answer.data);
  if (state.selected !== null) await showJob(state.selected);
}

function currentKind() {
  return state.kinds.find((k) => k.kind === $("js-kind").value);
}

function renderDatasetChoices() {
  const kind = currentKind();
  const select = $("js-dataset");
  const previous = select.value;
  clear(select);
  const fitting = state.datasets.filter((d) => kind.dataset_kinds.includes(d.kind));
  for (const d of fitting) select.append(el("option", { value: String(d.id) }, `${label(d.name)} (${d.kind})`));
  if (!fitting.length) select.append(el("option", { value: "" }, `no ${kind.dataset_kinds.join(" or ")} dataset yet`));
  if (fitting.some((d) => String(d.id) === previous)) select.value = previous;
}

function renderKind() {
  const kind = currentKind();
  if (!kind) return;
  $("js-description").textContent = kind.description;
  renderDatasetChoices();
  $("js-base-model").value = "";
  $("js-base-model").placeholder = kind.default_base_model || "the promoted policy, else the default policy";
  clear($("js-params")).append(...paramFields(kind));
  $("js-trl").value = "";
  $("js-trl").disabled = !kind.trl_config;
  $("js-trl-help").textContent = kind.trl_config
    ? `Any field of TRL's ${kind.trl_config} by its name; the platform sets ${JSON.stringify(kind.trl_defaults)}.`
    : "This kind has no TRL config.";
}

async function startJob() {
  $("js-error").textContent = "";
  const kind = currentKind();
  const datasetId = Number($("js-dataset").value);
  if (!datasetId) throw new Error(`Create a ${kind.dataset_kinds.join(" or ")} dataset first.`);
  const params = readParams($("js-params"), kind);
  const extra = $("js-trl").value.trim();
  if (extra) {
    let trl;
    try {
      trl = JSON.parse(extra);
    } catch {
      throw new Error("Other TRL config fields: not a JSON object.");
    }
    if (trl === null || typeof trl !== "object" || Array.isArray(trl)) throw new Error("Other TRL config fields: not a JSON object.");
    Object.assign(params, trl);
  }
  const body = { kind: kind.kind, dataset_id: datasetId, params };
  const baseModel = $("js-base-model").value.trim();
  if (baseModel) body.base_model = baseModel;
  const queued = await api("POST", "/api/v1/jobs", { json: body });
  notify(`Job ${queued.id} queued.`);
  state.selected = queued.id;
  await poll();
}

function loss(job) {
  const m = job.metrics || {};
  const value = m.loss ?? m.train_loss;
  return typeof value === "number" ? value.toFixed(4) : "–";
}

function datasetName(id) {
  const found = state.datasets.find((d) => d.id === id);
  return found ? label(found.name) : id === null ? "–" : `#${id}`;
}

function renderList(jobs) {
  const body = clear($("jobs-table").tBodies[0]);
  $("jobs-empty").hidden = jobs.length > 0;
  for (const job of jobs) {
    body.append(
      el("tr", { class: job.id === state.selected ? "selected" : null, data: { job: String(job.id) } },
        el("td", {}, el("button", { type: "button", class: "link-button", onclick: () => select(job.id) }, `#${job.id}`)),
        el("td", {}, job.kind),
        el("td", {}, datasetName(job.dataset_id)),
        el("td", { class: `status-${job.status}` }, job.status),
        el("td", {}, progressBar(job.progress, 1, `job ${job.id} progress`), ` ${Math.round(job.progress * 100)} %`),
        el("td", {}, FINISHED.has(job.status) ? "–" : duration(job.eta_seconds)),
        el("td", { class: "num" }, loss(job)),
      ),
    );
  }
}

function select(id) {
  state.selected = id;
  showJob(id).catch((error) => notify(error.message, { error: true }));
}

async function curvesFor(job) {
  if (state.curves.has(job.id)) return state.curves.get(job.id);
  try {
    const url = await imageUrl(`/api/v1/jobs/${job.id}/curves.png`);
    state.curves.set(job.id, url);
    return url;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

async function showJob(id) {
  const job = await api("GET", `/api/v1/jobs/${id}`);
  if (state.selected !== id) return;
  // Polling redraws the panel only when the job changed, so an opened section or a selection stays put.
  const snapshot = JSON.stringify(job);
  if (snapshot === state.shown) return;
  const panel = $("job-detail");
  const finished = FINISHED.has(job.status);
  const metrics = Object.entries(job.metrics || {}).filter(([key]) => key !== "warnings");
  const warnings = (job.metrics && job.metrics.warnings) || [];
  const curves = finished && job.model_version_id !== null ? await curvesFor(job) : null;
  const log = el("pre", { class: "log", id: "job-log" }, job.log_tail || "(no log yet)");
  const keepScroll = panel.querySelector("#job-log");
  const atBottom = !keepScroll || keepScroll.scrollTop + keepScroll.clientHeight >= keepScroll.scrollHeight - 4;
  const configOpen = Boolean(panel.querySelector("#job-config[open]"));
  fill(panel, 
    el("h2", { id: "job-title" }, `Job #${job.id}: ${job.kind}`, " ", el("span", { class: `badge status-${job.status}` }, job.status)),
    el("div", { class: "card" },
      progressBar(job.progress, 1, "Progress"),
      el("p", { id: "job-progress" }, `${Math.round(job.progress * 100)} %`,
        finished ? "" : ` · ETA ${duration(job.eta_seconds)}`, ` · loss ${loss(job)}`,
        ` · dataset ${datasetName(job.dataset_id)} · base ${job.base_model || "default"}`),
      el("p", { class: "muted" }, `Created ${when(job.created_at)} · started ${when(job.started_at)} · finished ${when(job.finished_at)}`,
        job.worker ? ` · worker ${job.worker}` : "", ` · attempt ${job.attempts}`),
      job.error ? el("p", { class: "form-error", id: "job-error" }, job.error) : null,
      job.model_version_id !== null ? el("p", {}, `Made model version ${job.model_version_id}.`) : null,
      finished ? null : el("button", { type: "button", class: "danger", id: "job-cancel", disabled: job.cancel_requested, onclick: () => cancel(job) },
        job.cancel_requested ? "Cancelling…" : "Cancel job"),
    ),
    warnings.length ? el("ul", { class: "warnings", id: "job-warnings" }, warnings.map((w) => el("li", {}, w))) : null,
    metrics.length
      ? el("div", { class: "card" }, el("h3", {}, finished ? "Metrics" : "Live metrics"),
          table(["Metric", "Value"], metrics.map(([key, value]) => el("tr", {}, el("td", {}, key), el("td", { class: "num" }, metricText(value))))))
      : null,
    curves ? el("div", { class: "card" }, el("h3", {}, "Training curves"), el("img", { src: curves, alt: `Training curves of job ${job.id}`, class: "curves", id: "job-curves" })) : null,
    el("div", { class: "card" }, el("h3", {}, "Log"), log),
    el("details", { class: "card", id: "job-config", open: configOpen }, el("summary", {}, "Parameters it ran with"), el("pre", { class: "config" }, JSON.stringify(job.config, null, 2))),
  );
  if (atBottom) log.scrollTop = log.scrollHeight;
  state.shown = snapshot;
}

async function cancel(job) {
  if (!(await confirmAction(`Cancel job #${job.id} (${job.kind})? A running job stops at its next step.`, "Cancel job"))) return;
  await api("POST", `/api/v1/jobs/${job.id}/cancel`);
  notify(`Job #${job.id}: cancel requested.`);
  await poll();
}
