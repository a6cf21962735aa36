// The annotation form: sign in, pick a dataset, judge comparisons one after another.
import { detailOf, newIdempotencyKey, request, retryNow, withRetry } from "./api.js";
import { renderPrompt, renderText, showBidiControls } from "./render.js";

const $ = (id) => document.getElementById(id);

// The token lives in sessionStorage (gone with the tab: machines may be shared), also after a sign-in link,
// unless the annotator ticks "Remember me on this device" (at sign-in or in the top bar): then localStorage,
// for coming back day after day. Either is readable by script on this origin; the page never renders data as
// HTML and its CSP allows only its own scripts, which is what keeps the token safe.
const TOKEN_KEY = "rlhf.annotate.token";
const pendingKey = (annotatorId) => `rlhf.annotate.pending.${annotatorId}`;
const datasetKey = (annotatorId) => `rlhf.annotate.dataset.${annotatorId}`;
const guidelinesKey = (datasetId) => `rlhf.annotate.guidelines.${datasetId}`;

const STRENGTH_WORDS = { 1: "slightly", 2: "clearly", 3: "much" };
const VIEWS = ["loading", "signin", "datasets", "done", "work"];

const state = {
  token: null,
  me: null,
  datasetId: null,
  item: null, // {id, leftSide}
  choice: null, // "left" | "right" | "tie" | "both_bad" | "skip"
  strength: null, // 1..3, only with left/right
  busy: false,
  clock: null,
  view: "loading",
  session: 0, // bumped on sign-out, so answers to requests from before are dropped
  linkedDataset: null, // from ?dataset=, preferred once signed in
};

// ---- storage (private browsing can refuse it: the page then works for this tab only) ----

function storageGet(storage, key) {
  try {
    return storage.getItem(key);
  } catch {
    return null;
  }
}

function storageSet(storage, key, value) {
  try {
    storage.setItem(key, value);
  } catch {
    // Nothing to do: the value lives in memory for this page.
  }
}

function storageRemove(storage, key) {
  try {
    storage.removeItem(key);
  } catch {
    // As above.
  }
}

function storedToken() {
  return storageGet(localStorage, TOKEN_KEY) || storageGet(sessionStorage, TOKEN_KEY);
}

function storeToken(token, remember) {
  forgetToken();
  storageSet(remember ? localStorage : sessionStorage, TOKEN_KEY, token);
}

function forgetToken() {
  storageRemove(localStorage, TOKEN_KEY);
  storageRemove(sessionStorage, TOKEN_KEY);
}

function tokenRemembered() {
  return storageGet(localStorage, TOKEN_KEY) !== null;
}

// A revoked or expired token is answered 401 with a detail that says so (and since when): shown as it is,
// so the annotator knows that asking the admin, not retyping the token, is what helps.
function accessEnded(answer) {
  const detail = detailOf(answer);
  return answer.status === 401 && /revoked|expired/.test(detail) ? `Your access has ended: ${detail}.` : null;
}

// A judgement being sent is kept until the server has answered, so a reload or a crash mid-retry
// sends it again with the same Idempotency-Key instead of asking the annotator to judge again.
function loadPending(annotatorId) {
  const raw = storageGet(localStorage, pendingKey(annotatorId));
  try {
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function savePending(pending) {
  storageSet(localStorage, pendingKey(pending.annotatorId), JSON.stringify(pending));
}

function clearPending(annotatorId) {
  storageRemove(localStorage, pendingKey(annotatorId));
}

// ---- small helpers ----

// A link may carry the token and a dataset: /annotate?token=...&dataset=3. Both are taken out of the
// address bar (the token must not stay in it, the history or a bookmark); the dataset is remembered instead.
function takeLinkParams() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("token");
  const dataset = Number(url.searchParams.get("dataset"));
  url.searchParams.delete("token");
  url.searchParams.delete("dataset");
  window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
  return { token: token === null ? null : token.trim(), datasetId: Number.isInteger(dataset) && dataset > 0 ? dataset : null };
}

// Which response goes left: a stable coin flip per (annotator, comparison), so a reload shows the same
// sides and position bias averages out over the dataset. FNV-1a, then murmur3's finaliser to mix the bits.
export function leftSideFor(annotatorId, comparisonId) {
  let h = 0x811c9dc5;
  for (const ch of `${annotatorId}:${comparisonId}`) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h & 1 ? "b" : "a";
}

// The API's choices (a, b, tie, skip) and sides (a, b): this page's copy of services/core/enums.py's Choice
// and Side, which the browser tests check against the server.
function apiChoice(choice, leftSide) {
  const rightSide = leftSide === "a" ? "b" : "a";
  return { left: leftSide, right: rightSide, tie: "tie", both_bad: "tie", skip: "skip" }[choice];
}

function describe(choice, strength) {
  if (choice === "left" || choice === "right") {
    const which = choice === "left" ? 1 : 2;
    return strength ? `Response ${which} is ${STRENGTH_WORDS[strength]} better` : `Response ${which} is better`;
  }
  return { tie: "Tie", both_bad: "Both bad", skip: "Skipped" }[choice] || "";
}

// Time the comparison was actually on screen: a hidden tab does not count.
class ActiveClock {
  constructor() {
    this.total = 0;
    this.since = document.hidden ? null : performance.now();
  }

  pause() {
    if (this.since !== null) {
      this.total += performance.now() - this.since;
      this.since = null;
    }
  }

  resume() {
    if (this.since === null) this.since = performance.now();
  }

  elapsedMs() {
    return Math.round(this.total + (this.since === null ? 0 : performance.now() - this.since));
  }
}

function currentDataset() {
  return state.me ? state.me.datasets.find((d) => d.id === state.datasetId) || null : null;
}

// ---- messages ----

let toastTimer = null;

function showToast(text, kind = "info") {
  const toast = $("toast");
  toast.textContent = text;
  toast.dataset.kind = kind;
  toast.classList.add("visible");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toast.classList.remove("visible"), 2600);
}

function showNotice(text) {
  $("notice-text").textContent = text;
  $("notice").classList.toggle("visible", Boolean(text));
}

let countdown = null;

function retryReporter(what) {
  return ({ attempt, delayMs, reason }) => {
    const banner = $("retry-banner");
    const seconds = Math.max(1, Math.round(delayMs / 1000));
    $("retry-text").textContent =
      `Connection problem (${reason}). Retrying ${what} in ${seconds} s, attempt ${attempt + 1}.` +
      (what === "your judgement" ? " It is kept and will be recorded once." : "");
    banner.hidden = false;
    clearInterval(countdown);
    let left = seconds;
    countdown = setInterval(() => {
      left = Math.max(0, left - 1);
      $("retry-text").textContent = $("retry-text").textContent.replace(/in \d+ s/, `in ${left} s`);
    }, 1000);
  };
}

function hideRetry() {
  clearInterval(countdown);
  $("retry-banner").hidden = true;
}

// ---- views ----

function showView(name) {
  state.view = name;
  for (const view of VIEWS) $(`view-${view}`).hidden = view !== name;
}

function renderSession() {
  const signedIn = Boolean(state.me);
  $("session").hidden = !signedIn;
  if (!signedIn) return;
  $("annotator-name").textContent = showBidiControls(state.me.name);
  $("remember-device").checked = tokenRemembered();
  const dataset = currentDataset();
  $("dataset-name").textContent = dataset ? showBidiControls(dataset.name) : "none";
  renderProgress();
}

function renderProgress() {
  const dataset = currentDataset();
  $("progress").hidden = !dataset;
  if (!dataset) return;
  $("progress-text").textContent = `${dataset.done_by_me} done · ${dataset.remaining} remaining`;
  const total = dataset.done_by_me + dataset.remaining;
  $("progress-bar").value = total ? dataset.done_by_me / total : 0;
}

function showSignIn(message = "") {
  renderSession();
  showView("signin");
  $("signin-error").textContent = message;
  $("token-input").value = "";
  $("signin-button").disabled = false;
  $("token-input").focus();
}

function showDatasets(message = "") {
  state.item = null;
  renderSession();
  const list = $("dataset-list");
  list.replaceChildren();
  for (const dataset of state.me.datasets) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "dataset-choice";
    if (dataset.id === state.datasetId) button.setAttribute("aria-current", "true");
    const name = document.createElement("span");
    name.className = "dataset-title";
    name.textContent = showBidiControls(dataset.name);
    const meta = document.createElement("span");
    meta.className = "muted";
    meta.textContent = `${dataset.done_by_me} done by you · ${dataset.remaining} remaining`;
    button.append(name, meta);
    button.addEventListener("click", () => selectDataset(dataset.id));
    li.append(button);
    list.append(li);
  }
  $("datasets-empty").hidden = state.me.datasets.length > 0;
  showNotice(message);
  showView("datasets");
  $("datasets-heading").focus();
}

function showDone() {
  state.item = null;
  state.clock = null;
  const dataset = currentDataset();
  let text = "Nothing is left to judge here.";
  if (dataset) {
    text = `You have judged everything available to you in “${showBidiControls(dataset.name)}”. Thank you!`;
    if (dataset.remaining > 0) {
      // Open comparisons that `next` did not hand out are reserved by (or filled up with) other annotators.
      text += ` ${dataset.remaining} more ${dataset.remaining === 1 ? "is" : "are"} being judged by others right now; one may come back to you if its reservation runs out.`;
    }
  }
  $("done-text").textContent = text;
  $("done-change-dataset").hidden = !state.me || state.me.datasets.length < 2;
  showView("done");
  $("done-heading").focus();
}

function renderGuidelines() {
  const dataset = currentDataset();
  const details = $("guidelines");
  const text = dataset ? dataset.guidelines || "" : "";
  details.hidden = text.trim() === "";
  renderText($("guidelines-text"), text);
  details.open = storageGet(localStorage, guidelinesKey(state.datasetId)) !== "closed";
}

function renderJudgement() {
  const preferring = state.choice === "left" || state.choice === "right";
  for (const button of document.querySelectorAll("button.choice")) {
    button.setAttribute("aria-pressed", String(button.dataset.choice === state.choice));
    button.disabled = state.busy;
  }
  for (const button of document.querySelectorAll("button.strength")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.strength) === state.strength));
    button.disabled = state.busy || !preferring;
  }
  $("rationale").readOnly = state.busy;
  $("submit").disabled = state.busy || !state.choice;
  $("submit").classList.toggle("saving", state.busy);
  $("sign-out").disabled = state.busy;
  $("change-dataset").disabled = state.busy;
  $("item").setAttribute("aria-busy", String(state.busy));

  const verdicts = {
    left: ["Better", ""],
    right: ["", "Better"],
    tie: ["Tie", "Tie"],
    both_bad: ["Bad", "Bad"],
    skip: ["", ""],
  }[state.choice] || ["", ""];
  for (const [index, side] of ["left", "right"].entries()) {
    const verdict = verdicts[index];
    const panel = $(`panel-${side}`);
    panel.dataset.verdict = verdict.toLowerCase();
    $(`${side}-verdict`).textContent = verdict;
  }
  $("item").classList.toggle("skipping", state.choice === "skip");
  $("submit-summary").textContent = state.busy
    ? "Saving…"
    : state.choice
      ? describe(state.choice, state.strength)
      : "Choose 1, 2, 3, 4 or S";
}

function showItem(item) {
  const leftSide = leftSideFor(state.me.id, item.comparison_id);
  state.item = { id: item.comparison_id, leftSide };
  state.choice = null;
  state.strength = null;
  $("rationale").value = "";
  renderPrompt($("prompt-text"), item.prompt);
  renderText($("left-text"), leftSide === "a" ? item.response_a : item.response_b);
  renderText($("right-text"), leftSide === "a" ? item.response_b : item.response_a);
  $("comparison-ref").textContent = `#${item.comparison_id}`;
  for (const id of ["prompt-text", "left-text", "right-text"]) $(id).scrollTop = 0;
  renderJudgement();
  showView("work");
  // A conversation opens at its end: the last turn is the one the responses answer.
  if (Array.isArray(item.prompt)) $("prompt-text").scrollTop = $("prompt-text").scrollHeight;
  state.clock = new ActiveClock();
  window.scrollTo(0, 0);
  // Start each comparison at its prompt, for screen readers and for Tab.
  $("prompt-heading").focus({ preventScroll: true });
}

// ---- flow ----

async function fetchMe() {
  const token = state.token;
  const session = state.session;
  const answer = await withRetry(
    () => request(token, "GET", "/api/v1/me"),
    retryReporter("sign-in"),
    () => session === state.session,
  );
  if (answer) hideRetry();
  return answer;
}

async function signIn(token, { remember, fromLink }) {
  const session = state.session;
  state.token = token;
  const answer = await fetchMe();
  if (!answer || session !== state.session) return;
  if (answer.status === 200) {
    storeToken(token, remember);
    await enterWith(answer.data);
    return;
  }
  state.token = null;
  forgetToken();
  const ended = accessEnded(answer);
  if (ended) {
    showSignIn(ended);
  } else if (answer.status === 401) {
    showSignIn(
      fromLink
        ? "The token in that sign-in link was not accepted. Ask your project admin for a new link."
        : "That token was not accepted. Check that you pasted all of it, or ask your project admin for a new one.",
    );
  } else if (answer.status === 403) {
    showSignIn("That is an admin token. This page needs an annotator token.");
  } else {
    showSignIn(`Sign-in failed: ${detailOf(answer)}`);
  }
}

async function resumeSavedSignIn(token) {
  const session = state.session;
  state.token = token;
  const answer = await fetchMe();
  if (!answer || session !== state.session) return;
  if (answer.status === 200) {
    await enterWith(answer.data);
    return;
  }
  state.token = null;
  forgetToken();
  showSignIn(accessEnded(answer) || "Your saved sign-in is no longer accepted. Paste your token to continue.");
}

async function enterWith(me) {
  state.me = me;
  const linked = state.linkedDataset;
  state.linkedDataset = null;
  const pending = loadPending(me.id);
  if (pending) {
    state.datasetId = pending.datasetId;
    renderSession();
    renderGuidelines();
    await sendPending(pending);
    return;
  }
  const saved = linked || Number(storageGet(localStorage, datasetKey(me.id)));
  if (me.datasets.some((d) => d.id === saved)) await selectDataset(saved);
  else if (me.datasets.length === 1) await selectDataset(me.datasets[0].id);
  else showDatasets();
}

async function selectDataset(datasetId) {
  state.datasetId = datasetId;
  storageSet(localStorage, datasetKey(state.me.id), String(datasetId));
  showNotice("");
  renderSession();
  renderGuidelines();
  await loadNext();
}

async function loadNext() {
  const session = state.session;
  const datasetId = state.datasetId;
  if (!state.me.datasets.some((d) => d.id === datasetId)) {
    showDatasets();
    return;
  }
  $("item").setAttribute("aria-busy", "true");
  const token = state.token;
  const stillWanted = () => session === state.session && datasetId === state.datasetId;
  const answer = await withRetry(
    () => request(token, "GET", `/api/v1/datasets/${datasetId}/next`),
    retryReporter("loading the next comparison"),
    stillWanted,
  );
  if (!answer || !stillWanted()) return;
  hideRetry();
  if (answer.status === 200) {
    showItem(answer.data);
    refreshProgress();
  } else if (answer.status === 204) {
    await refreshProgress();
    if (session === state.session) showDone();
  } else if (answer.status === 401) {
    forcedSignOut(answer);
  } else {
    if (answer.status === 403) await refreshProgress(); // the admin changed the datasets assigned
    if (session === state.session) showDatasets(`Could not load the next comparison: ${detailOf(answer)}`);
  }
}

async function refreshProgress() {
  const session = state.session;
  try {
    const answer = await request(state.token, "GET", "/api/v1/me");
    if (session !== state.session || answer.status !== 200) return;
    state.me = answer.data;
    renderSession();
  } catch {
    // Progress is a courtesy; the next answer will bring it up to date.
  }
}

function submit() {
  if (state.busy || !state.item || state.view !== "work") return;
  if (!state.choice) {
    showToast("Choose first: 1, 2, 3, 4 or S.", "warn");
    return;
  }
  const body = {
    choice: apiChoice(state.choice, state.item.leftSide),
    shown_left: state.item.leftSide,
    time_spent_ms: state.clock ? state.clock.elapsedMs() : 0,
  };
  if (state.strength && (state.choice === "left" || state.choice === "right")) body.strength = state.strength;
  if (state.choice === "both_bad") body.both_bad = true;
  const rationale = $("rationale").value.trim();
  if (rationale) body.rationale = rationale;
  const pending = {
    annotatorId: state.me.id,
    datasetId: state.datasetId,
    comparisonId: state.item.id,
    key: newIdempotencyKey(), // one per judgement, the same on every retry
    body,
    label: describe(state.choice, state.strength),
  };
  savePending(pending);
  return sendPending(pending);
}

async function sendPending(pending) {
  const session = state.session;
  const token = state.token;
  state.busy = true;
  renderJudgement();
  const answer = await withRetry(
    () =>
      request(token, "POST", `/api/v1/comparisons/${pending.comparisonId}/preferences`, {
        body: pending.body,
        headers: { "Idempotency-Key": pending.key },
      }),
    retryReporter("your judgement"),
    () => session === state.session,
  );
  if (!answer || session !== state.session) return;
  hideRetry();
  state.busy = false;
  renderJudgement();
  if (answer.status === 401) {
    // Kept: signing in again as the same annotator sends it.
    forcedSignOut(answer);
    return;
  }
  clearPending(pending.annotatorId);
  const onScreen = state.item && state.item.id === pending.comparisonId;
  if (answer.status === 200 || answer.status === 201) {
    showNotice("");
    showToast(`✓ Saved: ${pending.label}`, "ok");
  } else if (answer.status === 409) {
    showNotice(`Not recorded: ${detailOf(answer)}. Moving on to the next comparison.`);
  } else if (answer.status === 404) {
    showNotice("This comparison no longer exists. Moving on to the next one.");
  } else if (answer.status === 403) {
    // The admin changed the datasets assigned: go on by the new list.
    await refreshProgress();
    if (session !== state.session) return;
    if (!currentDataset()) {
      showDatasets(`Not recorded: ${detailOf(answer)}.`);
      return;
    }
    showNotice(`Not recorded: ${detailOf(answer)}.`);
  } else if (onScreen) {
    // A refusal like 422 would come back the same: keep the judgement on screen to change it.
    showNotice(`The server refused this judgement: ${detailOf(answer)}`);
    return;
  } else {
    showNotice(`A judgement saved earlier was refused: ${detailOf(answer)}`);
  }
  await loadNext();
}

function resetToSignedOut() {
  state.session += 1;
  state.token = null;
  state.me = null;
  state.datasetId = null;
  state.item = null;
  state.choice = null;
  state.strength = null;
  state.busy = false;
  state.clock = null;
  forgetToken();
  hideRetry();
  showNotice("");
  for (const id of ["prompt-text", "left-text", "right-text", "guidelines-text"]) $(id).replaceChildren();
  $("rationale").value = "";
}

function signOut() {
  if (state.busy) return;
  if (state.me) clearPending(state.me.id);
  resetToSignedOut();
  showSignIn();
  showToast("Signed out.");
}

function forcedSignOut(answer) {
  const unsent = state.me && loadPending(state.me.id);
  resetToSignedOut();
  showSignIn(
    accessEnded(answer) ||
      "Your token is no longer accepted. Sign in again to continue" +
        (unsent ? "; your last judgement will be sent then." : "."),
  );
}

// ---- judging ----

function setChoice(choice) {
  if (state.busy || !state.item) return;
  state.choice = choice;
  if (choice !== "left" && choice !== "right") state.strength = null;
  renderJudgement();
}

function toggleStrength(strength) {
  if (state.busy || !state.item) return;
  if (state.choice !== "left" && state.choice !== "right") {
    showToast("Strength goes with a preference: press 1 or 2 first.", "warn");
    return;
  }
  state.strength = state.strength === strength ? null : strength;
  renderJudgement();
}

function toggleShortcuts() {
  const dialog = $("shortcuts");
  if (dialog.open) dialog.close();
  else dialog.showModal();
}

function digitOf(event) {
  const match = /^(?:Digit|Numpad)([1-4])$/.exec(event.code);
  if (match) return Number(match[1]);
  return /^[1-4]$/.test(event.key) ? Number(event.key) : null;
}

function isTextEntry(element) {
  return (
    element instanceof HTMLTextAreaElement ||
    element instanceof HTMLSelectElement ||
    (element instanceof HTMLInputElement && !["checkbox", "radio", "button", "submit"].includes(element.type)) ||
    (element instanceof HTMLElement && element.isContentEditable)
  );
}

function onKeyDown(event) {
  if (event.defaultPrevented || event.isComposing || event.ctrlKey || event.metaKey || event.altKey) return;
  if ($("shortcuts").open) {
    if (event.key === "?") {
      event.preventDefault();
      $("shortcuts").close();
    }
    return; // Escape closes the dialog natively
  }
  if (state.view !== "work") return;
  const target = event.target;

  if (target === $("rationale")) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      submit();
    } else if (event.key === "Escape") {
      event.preventDefault();
      $("judgement").focus();
    }
    return;
  }
  if (isTextEntry(target)) return;

  if (event.key === "Enter") {
    // Buttons outside the judgement (sign out, guidelines, ...) keep their own Enter.
    const ownEnter = target.closest && target.closest("button, a, summary") && !target.closest("#judgement");
    if (!ownEnter && !event.repeat) {
      event.preventDefault();
      submit();
    }
    return;
  }
  if (event.key === "?") {
    event.preventDefault();
    toggleShortcuts();
    return;
  }
  if (event.repeat) return;
  const digit = digitOf(event);
  if (digit !== null) {
    event.preventDefault();
    if (event.shiftKey) {
      if (digit <= 3) toggleStrength(digit);
    } else {
      setChoice(["left", "right", "tie", "both_bad"][digit - 1]);
    }
  } else if (event.key === "s" || event.key === "S") {
    event.preventDefault();
    setChoice("skip");
  } else if (event.key === "r" || event.key === "R") {
    event.preventDefault(); // so the "r" is not typed into the rationale
    $("rationale").focus();
  }
}

// ---- start ----

function bindEvents() {
  document.addEventListener("keydown", onKeyDown);
  document.addEventListener("visibilitychange", () => {
    if (!state.clock) return;
    if (document.hidden) state.clock.pause();
    else state.clock.resume();
  });

  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) {
      $("signin-error").textContent = "Paste your annotator token first.";
      $("token-input").focus();
      return;
    }
    $("signin-error").textContent = "";
    $("signin-button").disabled = true;
    signIn(token, { remember: $("remember").checked, fromLink: false });
  });

  $("judgement").addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  for (const button of document.querySelectorAll("button.choice")) {
    button.addEventListener("click", () => setChoice(button.dataset.choice));
  }
  for (const button of document.querySelectorAll("button.strength")) {
    button.addEventListener("click", () => toggleStrength(Number(button.dataset.strength)));
  }
  $("guidelines").addEventListener("toggle", () => {
    if (state.datasetId === null) return;
    storageSet(localStorage, guidelinesKey(state.datasetId), $("guidelines").open ? "open" : "closed");
  });
  $("sign-out").addEventListener("click", signOut);
  $("remember-device").addEventListener("change", () => {
    if (state.token) storeToken(state.token, $("remember-device").checked);
  });
  $("change-dataset").addEventListener("click", () => showDatasets());
  $("done-change-dataset").addEventListener("click", () => showDatasets());
  $("check-again").addEventListener("click", () => loadNext());
  $("open-shortcuts").addEventListener("click", toggleShortcuts);
  $("close-shortcuts").addEventListener("click", () => $("shortcuts").close());
  $("retry-now").addEventListener("click", retryNow);
  $("dismiss-notice").addEventListener("click", () => showNotice(""));
}

function start() {
  bindEvents();
  const link = takeLinkParams();
  state.linkedDataset = link.datasetId;
  if (link.token) {
    signIn(link.token, { remember: false, fromLink: true });
    return;
  }
  const saved = storedToken();
  if (saved) resumeSavedSignIn(saved);
  else showSignIn();
}

start();
