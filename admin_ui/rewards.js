// Named rewards (docs/rewards.md): every version with its components, what serves by default, and a new
// reward (or a name's next version) from the JSON body POST /api/v1/rewards takes.
import { $, clear, el, notify, when } from "./dom.js";
import { api } from "./http.js";

const EXAMPLE = {
  name: "summary",
  components: [
    { function: "rougeL", weight: 2.0 },
    { function: "length", target: 60, weight: 0.1 },
  ],
};
// A component's keys that say where its score comes from; the others are its function's options.
const COMPONENT_KEYS = ["model_version_id", "function", "weight", "whiten"];

export const live = false;

export function setup() {
  $("rc-body").value = JSON.stringify(EXAMPLE, null, 2);
  $("reward-create").addEventListener("submit", create);
}

export async function refresh() {
  const rewards = await api("GET", "/api/v1/rewards");
  $("rewards-default").textContent = `Default (what /reward uses when none is named): ${rewards.default ?? "none (no reward model promoted)"}`;
  const body = clear($("rewards-table").tBodies[0]);
  $("rewards-empty").hidden = rewards.data.length > 0;
  const seen = new Set();
  for (const r of rewards.data) {
    // Newest version first: the first row of a name is the one requests and jobs use.
    const newest = !seen.has(r.name);
    seen.add(r.name);
    body.append(
      el("tr", { data: { reward: r.name, version: String(r.version) } },
        el("td", {}, r.name),
        el("td", {}, newest ? String(r.version) : `${r.version} (old)`),
        el("td", {}, r.components.map(componentText).join("; ")),
        el("td", {}, gateText(r.safety_gate)),
        el("td", {}, when(r.created_at)),
      ),
    );
  }
}

function componentText(c) {
  const options = Object.entries(c).filter(([k]) => !COMPONENT_KEYS.includes(k)).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  const source = c.model_version_id !== undefined ? `model ${c.model_version_id}` : options.length ? `${c.function}(${options.join(", ")})` : String(c.function);
  const whiten = c.whiten ? ` whitened(${c.whiten.mean}, ${c.whiten.std})` : "";
  return `${c.weight ?? 1}×${source}${whiten}`;
}

function gateText(gate) {
  return gate ? `safety #${gate.safety} below ${gate.threshold}, else helpfulness #${gate.helpfulness}` : "–";
}

async function create(event) {
  event.preventDefault();
  const error = $("rc-error");
  error.textContent = "";
  let body;
  try {
    body = JSON.parse($("rc-body").value);
  } catch {
    body = null;
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    error.textContent = "Not a JSON object: give the body of POST /api/v1/rewards.";
    return;
  }
  try {
    const created = await api("POST", "/api/v1/rewards", { json: body });
    notify(`Created ${created.name} version ${created.version}.`);
    await refresh();
  } catch (failure) {
    error.textContent = failure.message;
  }
}
