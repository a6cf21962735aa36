// Datasets: the list with progress, a new dataset (empty or from a file), and one dataset's page: settings,
// imports, agreement, per-annotator work and quality, win rates, exports, delete.
import {
  $,
  clear,
  confirmAction,
  el,
  interval,
  label,
  notify,
  number,
  percent,
  progressBar,
  table,
} from "./dom.js";
import { ApiError, api, download } from "./http.js";

const state = { selected: null, formats: null, list: [] };

export const live = false;

export function setup() {
  $("dc-import").append(importFields("dc"));
  $("dataset-create").addEventListener("submit", (event) => {
    event.preventDefault();
    createDataset().catch((error) => ($("dc-error").textContent = error.message));
  });
}

export async function refresh() {
  if (state.formats === null) state.formats = (await api("GET", "/api/v1/import-formats")).data;
  showExamples("dc");
  const answer = await api("GET", "/api/v1/datasets");
  state.list = answer.data;
  renderList();
  if (state.selected !== null) await showDataset(state.selected);
}

// For the other sections: every dataset, as the last refresh saw them.
export async function all() {
  return (await api("GET", "/api/v1/datasets")).data;
}

function rowsOf(dataset) {
  return dataset.kind === "preference" ? dataset.comparisons : dataset.examples;
}

function renderList() {
  const body = clear($("datasets-table").tBodies[0]);
  $("datasets-empty").hidden = state.list.length > 0;
  for (const d of state.list) {
    const preference = d.kind === "preference";
    body.append(
      el(
        "tr",
        { class: d.id === state.selected ? "selected" : null },
        el("td", {}, el("button", { type: "button", class: "link-button", onclick: () => showDataset(d.id) }, label(d.name))),
        el("td", {}, d.kind),
        el("td", { class: "num" }, number(rowsOf(d))),
        el(
          "td",
          {},
          preference ? [progressBar(d.complete, d.comparisons, `${d.name} progress`), ` ${d.complete}/${d.comparisons}`] : "–",
        ),
        el("td", { class: "num" }, preference ? number(d.votes) : "–"),
      ),
    );
  }
}

// ---- import: format, options, and the format's example lines (GET /api/v1/import-formats) ----

function importFields(prefix) {
  const formats = ["trl", "hh", "oasst", "labelled"];
  return el(
    "div",
    { class: "import-fields" },
    el("label", { for: `${prefix}-file` }, "JSONL file"),
    el("input", { id: `${prefix}-file`, type: "file", accept: ".jsonl,.json,.txt,application/json" }),
    el("div", { class: "row" },
      el("span", {},
        el("label", { for: `${prefix}-format` }, "Format"),
        el("select", { id: `${prefix}-format`, onchange: () => showExamples(prefix) }, formats.map((f) => el("option", {}, f))),
      ),
      el("label", { class: "checkbox" }, el("input", { id: `${prefix}-with-preferences`, type: "checkbox" }),
        "Chosen/rejected are votes (with preferences)"),
      el("label", { class: "checkbox" }, el("input", { id: `${prefix}-keep-duplicates`, type: "checkbox" }),
        "Keep duplicate rows"),
    ),
    el("p", { class: "muted" }, "One line per row. For example:"),
    el("div", { id: `${prefix}-examples`, class: "examples" }),
  );
}

function showExamples(prefix) {
  const box = $(`${prefix}-examples`);
  if (!box || state.formats === null) return;
  const format = $(`${prefix}-format`).value;
  clear(box);
  for (const item of state.formats.filter((f) => f.format === format)) {
    box.append(el("p", { class: "example-shape" }, item.shape || item.format), el("pre", { class: "example" }, item.example));
  }
}

function importQuery(prefix) {
  const query = new URLSearchParams({
    format: $(`${prefix}-format`).value,
    with_preferences: String($(`${prefix}-with-preferences`).checked),
    dedupe: String(!$(`${prefix}-keep-duplicates`).checked),
  });
  return query;
}

function importSummary(result) {
  const stored =
    result.kind === "preference" ? `${result.comparisons} comparisons, ${result.preferences} votes` : `${result.examples} rows`;
  return `Imported ${stored}; ${result.skipped} duplicates skipped.`;
}

// ---- create ----

async function createDataset() {
  $("dc-error").textContent = "";
  const name = $("dc-name").value.trim();
  if (!name) throw new Error("Give the dataset a name.");
  const settings = {
    guidelines: $("dc-guidelines").value,
    annotations_per_comparison: Number($("dc-k").value || 1),
    gold_rate: Number($("dc-gold-rate").value || 0),
    sampling: $("dc-sampling").value,
  };
  const file = $("dc-file").files[0];
  let id;
  if (file) {
    // One transaction on the server: a file that fails leaves no dataset behind.
    const query = importQuery("dc");
    query.set("name", name);
    query.set("kind", $("dc-kind").value);
    const result = await api("POST", `/api/v1/datasets/import?${query}`, { body: file, contentType: "application/x-ndjson" });
    id = result.dataset_id;
    notify(importSummary(result));
    const preference = result.kind === "preference";
    const changed = preference ? settings : { guidelines: settings.guidelines };
    await api("PATCH", `/api/v1/datasets/${id}`, { json: changed });
  } else {
    const created = await api("POST", "/api/v1/datasets", { json: { name, kind: $("dc-kind").value, ...settings } });
    id = created.id;
    notify(`Dataset ${name} created.`);
  }
  $("dataset-create").reset();
  showExamples("dc");
  $("dataset-create-box").open = false;
  state.selected = id;
  await refresh();
}

// ---- one dataset ----

async function showDataset(id) {
  state.selected = id;
  let dataset;
  try {
    dataset = await api("GET", `/api/v1/datasets/${id}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      state.selected = null;
      clear($("dataset-detail"));
      return;
    }
    throw error;
  }
  renderList();
  const preference = dataset.kind === "preference";
  const [stats, quality] = preference
    ? await Promise.all([api("GET", `/api/v1/datasets/${id}/stats`), api("GET", `/api/v1/datasets/${id}/annotators`)])
    : [null, null];
  const panel = clear($("dataset-detail"));
  panel.append(
    el("h2", { id: "dataset-title" }, label(dataset.name), " ", el("span", { class: "badge" }, dataset.kind)),
    progressSection(dataset),
    settingsForm(dataset),
    el("details", { class: "card" }, el("summary", {}, "Import a file into this dataset"), importIntoForm(dataset)),
  );
  if (preference) panel.append(comparisonsSection(dataset), agreementSection(stats), annotatorsSection(stats, quality, id));
  const rates = preference ? winRateSection(stats) : null;
  if (rates) panel.append(rates);
  panel.append(exportSection(dataset), deleteSection(dataset));
}

function progressSection(d) {
  if (d.kind !== "preference") {
    return el("p", { id: "dataset-progress" }, `${number(d.examples)} rows. Created ${new Date(d.created_at).toLocaleString("en-GB")}.`);
  }
  return el(
    "div",
    { class: "card", id: "dataset-progress" },
    el("p", {}, `${d.complete} of ${d.comparisons} comparisons complete (${d.annotations_per_comparison} per comparison); `,
      `${d.votes} votes, ${d.skips} skips, ${d.votes_needed} votes still needed; ${d.gold} gold items.`),
    progressBar(d.complete, d.comparisons, "Comparisons complete"),
    el("p", { class: "muted" }, `Sampling: ${d.sampling_state} · reward: ${d.reward ?? "default"}`),
  );
}

function settingsForm(d) {
  const preference = d.kind === "preference";
  const error = el("p", { class: "form-error", role: "alert" });
  const guidelines = el("textarea", { id: "ds-guidelines", rows: "4" });
  guidelines.value = d.guidelines;
  const k = el("input", { id: "ds-k", type: "number", min: "1", max: "100", value: String(d.annotations_per_comparison) });
  const goldRate = el("input", { id: "ds-gold-rate", type: "number", min: "0", max: "1", step: "0.01", value: String(d.gold_rate) });
  const sampling = el("select", { id: "ds-sampling" }, ["sequential", "random", "uncertainty"].map((s) => el("option", { selected: s === d.sampling }, s)));
  const reward = el("input", { id: "ds-reward", maxlength: "100", spellcheck: "false", placeholder: "default", value: d.reward ?? "" });
  const save = async (event) => {
    event.preventDefault();
    error.textContent = "";
    const body = { guidelines: guidelines.value };
    // An empty reward (or `default`) goes back to the default: null.
    const rewardName = reward.value.trim();
    if (preference) Object.assign(body, { annotations_per_comparison: Number(k.value), gold_rate: Number(goldRate.value), sampling: sampling.value, reward: rewardName && rewardName !== "default" ? rewardName : null });
    try {
      await api("PATCH", `/api/v1/datasets/${d.id}`, { json: body });
      notify(`Saved the settings of ${d.name}.`);
      await refresh();
    } catch (failure) {
      error.textContent = failure.message;
    }
  };
  return el(
    "details",
    { class: "card", id: "dataset-settings" },
    el("summary", {}, "Guidelines and settings"),
    el("form", { onsubmit: save, novalidate: true },
      el("label", { for: "ds-guidelines" }, "Guidelines (shown to annotators as written)"),
      guidelines,
      preference
        ? el("div", { class: "row" },
            el("span", {}, el("label", { for: "ds-k" }, "Annotations per comparison"), k),
            el("span", {}, el("label", { for: "ds-gold-rate" }, "Gold rate"), goldRate),
            el("span", {}, el("label", { for: "ds-sampling" }, "Sampling"), sampling),
            el("span", {}, el("label", { for: "ds-reward" }, "Reward (uncertainty sampling)"), reward))
        : null,
      error,
      el("button", { type: "submit", class: "primary", id: "ds-save" }, "Save"),
    ),
  );
}

function importIntoForm(d) {
  const error = el("p", { class: "form-error", role: "alert" });
  const submit = async (event) => {
    event.preventDefault();
    error.textContent = "";
    const file = $("di-file").files[0];
    if (!file) {
      error.textContent = "Choose a file first.";
      return;
    }
    try {
      const result = await api("POST", `/api/v1/datasets/${d.id}/import?${importQuery("di")}`, { body: file, contentType: "application/x-ndjson" });
      notify(importSummary(result));
      await refresh();
    } catch (failure) {
      error.textContent = `Nothing was imported: ${failure.message}`;
    }
  };
  const form = el("form", { onsubmit: submit, novalidate: true }, importFields("di"), error,
    el("button", { type: "submit", class: "primary", id: "di-submit" }, "Import"));
  queueMicrotask(() => showExamples("di"));
  return form;
}

// ---- comparisons, a page at a time, each with its gold answer (PUT /api/v1/comparisons/{id}/gold) ----

const PAGE = 20;

function short(text, length = 140) {
  const flat = label(text).replace(/\s+/g, " ").trim();
  return flat.length > length ? `${flat.slice(0, length)}…` : flat;
}

function promptText(prompt) {
  return typeof prompt === "string" ? prompt : prompt.map((m) => `${m.role}: ${m.content}`).join("\n");
}

function comparisonsSection(d) {
  const body = el("div", { id: "dataset-comparisons" });
  const load = async (offset) => {
    const page = await api("GET", `/api/v1/datasets/${d.id}/comparisons?offset=${offset}&limit=${PAGE}`);
    const rows = page.data.map((c) => {
      const gold = el("select", { "aria-label": `Gold answer of comparison ${c.id}`, data: { comparison: String(c.id) } },
        [["", "not gold"], ["a", "gold: A"], ["b", "gold: B"], ["tie", "gold: tie"]].map(([value, text]) =>
          el("option", { value, selected: (c.gold || "") === value }, text)));
      gold.addEventListener("change", async () => {
        try {
          await api("PUT", `/api/v1/comparisons/${c.id}/gold`, { json: { gold: gold.value || null } });
          notify(gold.value ? `Comparison ${c.id} is a gold item (answer ${gold.value}).` : `Comparison ${c.id} is an ordinary comparison again.`);
        } catch (error) {
          notify(error.message, { error: true });
        }
      });
      const prompt = promptText(c.prompt);
      return el("tr", {},
        el("td", { class: "num" }, String(c.id)),
        el("td", { title: prompt }, short(prompt)),
        el("td", { title: c.response_a }, short(c.response_a, 90)),
        el("td", { title: c.response_b }, short(c.response_b, 90)),
        el("td", { class: "num" }, `${c.vote_count}${c.complete ? " ✓" : ""}`),
        el("td", {}, gold));
    });
    const last = Math.min(offset + PAGE, page.count);
    clear(body).append(
      table(["#", "Prompt", "Response A", "Response B", "Votes", "Gold"], rows),
      el("div", { class: "row" },
        el("button", { type: "button", disabled: offset === 0, onclick: () => load(Math.max(0, offset - PAGE)) }, "Previous"),
        el("span", { class: "muted" }, page.count ? `${offset + 1}–${last} of ${page.count}` : "No comparisons yet."),
        el("button", { type: "button", disabled: last >= page.count, onclick: () => load(offset + PAGE) }, "Next")),
    );
  };
  const box = el("details", { class: "card" }, el("summary", {}, "Comparisons and gold answers"), body);
  box.addEventListener("toggle", () => {
    if (box.open && !body.childElementCount) load(0).catch((error) => notify(error.message, { error: true }));
  });
  return box;
}

function agreementSection(stats) {
  const a = stats.agreement;
  return el(
    "div",
    { class: "card", id: "dataset-agreement" },
    el("h3", {}, "Agreement"),
    el("p", {}, `Krippendorff's α: ${a.krippendorff_alpha === null ? "not defined yet" : number(a.krippendorff_alpha)}; `,
      `agreement between pairs of votes: ${percent(a.percent_agreement)} over ${a.pairs} pairs on ${a.comparisons} comparisons `,
      "judged at least twice."),
    el("p", { class: "muted" }, `Choices: a ${stats.choices.a}, b ${stats.choices.b}, tie ${stats.choices.tie}, `,
      `both bad ${stats.choices.both_bad}, skip ${stats.choices.skip}.`),
  );
}

function seconds(ms) {
  return ms === null || ms === undefined ? "–" : `${(ms / 1000).toFixed(1)} s`;
}

function annotatorsSection(stats, quality, datasetId) {
  const byId = new Map(quality.data.map((q) => [q.annotator_id, q]));
  const rows = stats.annotators.map((a) => {
    const q = byId.get(a.annotator_id);
    const status = !q ? "" : q.paused ? `paused: ${q.pause_reason || ""}` : q.fast ? "too fast (flagged)" : "ok";
    const lift = q && q.paused
      ? el("button", { type: "button", onclick: () => liftPause(datasetId, a.annotator_id, a.name) }, "Lift pause")
      : null;
    return el(
      "tr",
      { data: { annotator: String(a.annotator_id) } },
      el("td", {}, label(a.name)),
      el("td", { class: "num" }, number(a.votes)),
      el("td", { class: "num" }, number(a.skips)),
      el("td", { class: "num" }, seconds(a.median_time_spent_ms)),
      el("td", { class: "num" }, q ? seconds(q.median_ms) : "–"),
      el("td", {}, q && q.gold_answered ? `${percent(q.gold_accuracy)} ${interval(q.gold_ci95_low, q.gold_ci95_high)} (${q.gold_answered})` : "–"),
      el("td", { class: "num" }, q ? percent(q.majority_agreement) : "–"),
      el("td", { class: "num" }, q ? number(q.trust, 2) : "–"),
      el("td", { class: q && q.paused ? "warn" : null }, status, lift ? " " : null, lift),
    );
  });
  return el(
    "div",
    { class: "card", id: "dataset-annotators" },
    el("h3", {}, "Annotators"),
    rows.length
      ? table(["Name", "Votes", "Skips", "Median time (form)", "Median time (server)", "Gold accuracy", "Agrees with majority", "Trust", "Status"], rows)
      : el("p", { class: "muted" }, "No votes yet."),
  );
}

async function liftPause(datasetId, annotatorId, name) {
  await api("POST", `/api/v1/datasets/${datasetId}/annotators/${annotatorId}/unpause`);
  notify(`${name} may work on this dataset again.`);
  await showDataset(datasetId);
}

export function winRateTable(rates, nameOf) {
  return table(
    ["Policy", "over", "Wins", "Losses", "Ties", "Win rate", "95 % interval"],
    rates.map((r) =>
      el("tr", {},
        el("td", {}, nameOf(r.version_a)),
        el("td", {}, nameOf(r.version_b)),
        el("td", { class: "num" }, number(r.wins_a)),
        el("td", { class: "num" }, number(r.wins_b)),
        el("td", { class: "num" }, number(r.ties)),
        el("td", { class: "num" }, percent(r.win_rate_a)),
        el("td", {}, interval(r.ci95_low, r.ci95_high)),
      )),
  );
}

function winRateSection(stats) {
  if (!stats.win_rates.length) return null;
  return el("div", { class: "card" }, el("h3", {}, "Win rates judged here"), winRateTable(stats.win_rates, (id) => `policy-${id}`));
}

function exportSection(d) {
  const formats = d.kind === "preference" ? [["trl", "jsonl"], ["raw", "jsonl"], ["parquet", "parquet"]] : [["trl", "jsonl"]];
  const safe = d.name.replace(/[^\w.-]+/g, "_");
  return el(
    "div",
    { class: "card", id: "dataset-export" },
    el("h3", {}, "Export"),
    formats.map(([format, ext]) =>
      el("button", {
        type: "button",
        data: { format },
        onclick: () => download(`/api/v1/datasets/${d.id}/export?format=${format}`, `${safe}.${format}.${ext}`).catch((error) => notify(error.message, { error: true })),
      }, `Download ${format}`),
    ),
  );
}

function deleteSection(d) {
  const remove = async () => {
    const what = d.kind === "preference" ? `${d.comparisons + d.gold} comparisons and ${d.votes + d.skips} votes` : `${d.examples} rows`;
    if (!(await confirmAction(`Delete dataset ${label(d.name)} with its ${what}? This cannot be undone.`))) return;
    try {
      await api("DELETE", `/api/v1/datasets/${d.id}`);
    } catch (error) {
      notify(`Not deleted: ${error.message}`, { error: true });
      return;
    }
    notify(`Dataset ${d.name} deleted.`);
    state.selected = null;
    clear($("dataset-detail"));
    await refresh();
  };
  return el("div", { class: "card danger-zone" }, el("button", { type: "button", class: "danger", id: "dataset-delete", onclick: remove }, "Delete dataset…"));
}
