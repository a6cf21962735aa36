// Annotators: add one (its sign-in link shown once, with a copy button), assign datasets, new link, revoke.
import { all as allDatasets } from "./datasets.js";
import { $, clear, confirmAction, el, label, notify, number, when } from "./dom.js";
import { api } from "./http.js";

const state = { datasets: [], editing: null };

export const live = false;

export function setup() {
  $("annotator-create").addEventListener("submit", (event) => {
    event.preventDefault();
    addAnnotator().catch((error) => ($("ac-error").textContent = error.message));
  });
  $("copy-link").addEventListener("click", copyLink);
}

export async function refresh() {
  state.datasets = (await allDatasets()).filter((d) => d.kind === "preference");
  const answer = await api("GET", "/api/v1/annotators");
  renderChecks($("ac-datasets"), "ac", []);
  renderTable(answer.data);
}

function renderChecks(box, prefix, ticked) {
  clear(box);
  if (!state.datasets.length) box.append(el("p", { class: "muted" }, "No preference datasets yet."));
  for (const d of state.datasets) {
    box.append(
      el("label", { class: "checkbox" },
        el("input", { type: "checkbox", value: String(d.id), checked: ticked.includes(d.id), data: { check: prefix } }),
        label(d.name)),
    );
  }
}

function tickedIds(box) {
  return [...box.querySelectorAll("input[type=checkbox]:checked")].map((input) => Number(input.value));
}

function datasetNames(a) {
  if (a.all_datasets) return "all";
  const names = new Map(state.datasets.map((d) => [d.id, d.name]));
  return a.datasets.map((id) => label(names.get(id) || `#${id}`)).join(", ") || "none";
}

function renderTable(annotators) {
  const body = clear($("annotators-table").tBodies[0]);
  $("annotators-empty").hidden = annotators.length > 0;
  for (const a of annotators) {
    const active = a.status === "active";
    body.append(
      el("tr", { data: { annotator: String(a.id) } },
        el("td", {}, label(a.name)),
        el("td", { class: a.status === "active" ? null : "warn" }, a.status),
        el("td", {}, datasetNames(a)),
        el("td", { class: "num" }, number(a.votes)),
        el("td", { class: "num" }, number(a.skips)),
        el("td", {}, when(a.last_vote_at)),
        el("td", { class: "actions" },
          el("button", { type: "button", onclick: () => editDatasets(a) }, "Datasets"),
          active ? el("button", { type: "button", onclick: () => newLink(a) }, "New link") : null,
          active ? el("button", { type: "button", class: "danger", onclick: () => revoke(a) }, "Revoke") : null,
        ),
      ),
    );
    if (state.editing === a.id) body.append(assignRow(a));
  }
}

function assignRow(a) {
  const box = el("div", { class: "checks" });
  renderChecks(box, "edit", a.all_datasets ? [] : a.datasets);
  const save = async () => {
    const ids = tickedIds(box);
    await api("PUT", `/api/v1/annotators/${a.id}/datasets`, { json: { datasets: ids.length ? ids : null } });
    state.editing = null;
    notify(`${a.name} now works on ${ids.length ? `${ids.length} dataset(s)` : "every dataset"}.`);
    await refresh();
  };
  return el("tr", { class: "editing" },
    el("td", { colspan: "7" },
      el("p", { class: "muted" }, `Datasets ${label(a.name)} may work on (none ticked: every dataset):`),
      box,
      el("button", { type: "button", class: "primary", onclick: () => save().catch((e) => notify(e.message, { error: true })) }, "Save datasets"),
      " ",
      el("button", { type: "button", onclick: () => { state.editing = null; refresh(); } }, "Cancel"),
    ));
}

function editDatasets(a) {
  state.editing = state.editing === a.id ? null : a.id;
  refresh();
}

// The link the annotation form reads (/annotate?token=...&dataset=N); the form takes both out of its address
// bar at once. With one dataset assigned, the link opens it.
function signInLink(created) {
  const url = new URL("/annotate", window.location.origin);
  url.searchParams.set("token", created.token);
  if (!created.all_datasets && created.datasets.length === 1) url.searchParams.set("dataset", String(created.datasets[0]));
  return url.toString();
}

function showLink(created) {
  $("new-link-title").textContent = `Sign-in link for ${label(created.name)}:`;
  $("new-link-url").value = signInLink(created);
  $("copy-state").textContent = "";
  $("new-link").hidden = false;
}

async function copyLink() {
  const input = $("new-link-url");
  try {
    await navigator.clipboard.writeText(input.value);
    $("copy-state").textContent = "Copied.";
  } catch {
    input.select();
    $("copy-state").textContent = "The browser refused the clipboard: the link is selected, press Ctrl+C.";
  }
}

async function addAnnotator() {
  $("ac-error").textContent = "";
  const name = $("ac-name").value.trim();
  if (!name) throw new Error("Give the annotator a name.");
  const ids = tickedIds($("ac-datasets"));
  const created = await api("POST", "/api/v1/annotators", { json: { name, datasets: ids.length ? ids : null } });
  $("annotator-create").reset();
  showLink(created);
  await refresh();
}

async function newLink(a) {
  const ok = await confirmAction(
    `Make a new sign-in link for ${label(a.name)}? Their current token and every link made with it stop working.`,
    "Make a new link",
  );
  if (!ok) return;
  showLink(await api("POST", `/api/v1/annotators/${a.id}/token`, { json: {} }));
  await refresh();
}

async function revoke(a) {
  const ok = await confirmAction(`Revoke ${label(a.name)}? Their token stops working at once; their votes stay.`, "Revoke");
  if (!ok) return;
  await api("POST", `/api/v1/annotators/${a.id}/revoke`);
  notify(`${a.name} is revoked.`);
  await refresh();
}
