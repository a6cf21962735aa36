// Building the page from data. Every name, guideline, log line and metric is text from users or models: it
// reaches the page only as text nodes and textContent, never as HTML, so markup in it stays literal.
import { showBidiControls } from "/annotate/render.js";

export const $ = (id) => document.getElementById(id);

// el("td", {class: "num"}, "text", child): attributes and listeners from `props`, children as nodes or text.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "data") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// A name or other short text for a heading or a cell: invisible bidi controls written out (render.js).
export function label(text) {
  return showBidiControls(String(text));
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

// Replace a node's children, leaving out the absent ones (null, false) that optional parts give.
export function fill(node, ...children) {
  const present = children.flat().filter((child) => child !== null && child !== undefined && child !== false);
  node.replaceChildren(...present.map((child) => (child instanceof Node ? child : String(child))));
  return node;
}

export function number(value, digits = 3) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  return Number.isInteger(value) ? value.toLocaleString("en-US") : value.toFixed(digits);
}

export function percent(value) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)} %`;
}

export function interval(low, high) {
  return low === null || low === undefined ? "" : `[${percent(low)}, ${percent(high)}]`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString("en-GB", { dateStyle: "short", timeStyle: "medium" }) : "–";
}

// A metric's value as text: numbers rounded, intervals as [lo, hi], lists and objects as JSON.
export function metricText(value) {
  if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === "number")) {
    return `[${number(value[0])}, ${number(value[1])}]`;
  }
  if (typeof value === "number") return number(value, 4);
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

export function table(headers, rows, { className = "grid" } = {}) {
  return el(
    "table",
    { class: className },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows),
  );
}

export function progressBar(value, max, labelText) {
  return el("progress", { value: String(value), max: String(Math.max(max, 1)), "aria-label": labelText });
}

// The one notice line at the bottom: an action's outcome or what went wrong.
let noticeTimer = null;

// An outcome goes away by itself after a while; an error stays until dismissed.
export function notify(message, { error = false } = {}) {
  const box = $("notice");
  $("notice-text").textContent = message;
  box.classList.toggle("error", error);
  box.hidden = false;
  clearTimeout(noticeTimer);
  if (!error) noticeTimer = setTimeout(hideNotice, 8000);
}

export function hideNotice() {
  $("notice").hidden = true;
}

// A confirmation in the page's own dialog; resolves true on the confirm button.
export function confirmAction(message, buttonText = "Delete") {
  const dialog = $("confirm");
  $("confirm-text").textContent = message;
  $("confirm-ok").textContent = buttonText;
  return new Promise((resolve) => {
    const finish = (answer) => {
      $("confirm-ok").onclick = null;
      $("confirm-cancel").onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    $("confirm-ok").onclick = () => finish(true);
    $("confirm-cancel").onclick = () => finish(false);
    dialog.onclose = () => finish(false);
    dialog.showModal();
  });
}
