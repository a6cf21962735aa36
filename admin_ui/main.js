// The operator console: sign in with the admin token, then five sections that call the collector's API.
import * as annotators from "./annotators.js";
import * as datasets from "./datasets.js";
import { $, hideNotice, notify } from "./dom.js";
import { ApiError, api, forgetToken, storeToken, token, whenSignedOut } from "./http.js";
import * as jobs from "./jobs.js";
import * as models from "./models.js";
import * as rewards from "./rewards.js";

const SECTIONS = { datasets, annotators, jobs, models, rewards };
const POLL_MS = 2000;

const state = { tab: "datasets", poll: null };

function showOnly(view) {
  $("view-loading").hidden = view !== "loading";
  $("view-signin").hidden = view !== "signin";
  $("tabs").hidden = view !== "console";
  $("sign-out").hidden = view !== "console";
  for (const name of Object.keys(SECTIONS)) $(`tab-${name}`).hidden = view !== "console" || name !== state.tab;
}

function showSignIn(message = "") {
  stopPolling();
  forgetToken();
  showOnly("signin");
  $("signin-error").textContent = message;
  $("token-input").focus();
}

// The admin token is checked against a route only it (or an admin-scoped key) may call, so an annotator's
// token or a narrower API key is refused here with the server's reason instead of failing section by section.
async function checkToken() {
  try {
    await api("GET", "/api/v1/api-keys");
    return null;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status === 401) return `The collector refused this token: ${error.message}.`;
    if (error.status === 403) return `This is not the admin token: ${error.message}.`;
    return `The collector could not check the token: ${error.message}.`;
  }
}

async function signIn(value) {
  storeToken(value);
  const problem = await checkToken();
  if (problem) {
    showSignIn(problem);
    return;
  }
  showOnly("console");
  await openTab(state.tab);
}

async function refresh() {
  try {
    await SECTIONS[state.tab].refresh();
  } catch (error) {
    if (error instanceof ApiError && error.status !== 401) notify(error.message, { error: true });
    else if (!(error instanceof ApiError)) throw error;
  }
}

function stopPolling() {
  if (state.poll !== null) clearInterval(state.poll);
  state.poll = null;
}

async function openTab(name) {
  stopPolling();
  state.tab = name;
  for (const button of document.querySelectorAll(".tab")) {
    button.setAttribute("aria-pressed", String(button.dataset.tab === name));
  }
  showOnly("console");
  await refresh();
  // Jobs change by themselves: polled while their section is open (EventSource cannot send the token).
  if (SECTIONS[name].live) state.poll = setInterval(() => SECTIONS[name].poll().catch(() => {}), POLL_MS);
}

function start() {
  whenSignedOut((message) => showSignIn(message));
  for (const section of Object.values(SECTIONS)) section.setup();
  for (const button of document.querySelectorAll(".tab")) {
    button.addEventListener("click", () => openTab(button.dataset.tab));
  }
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token-input").value.trim();
    if (!value) {
      $("signin-error").textContent = "Paste the admin token first.";
      return;
    }
    $("token-input").value = "";
    signIn(value);
  });
  $("sign-out").addEventListener("click", () => showSignIn(""));
  $("dismiss-notice").addEventListener("click", hideNotice);
  if (token()) signIn(token());
  else showSignIn("");
}

start();
