// The collector's API with the admin token. The token lives in sessionStorage (this tab only) and travels
// only in the Authorization header, never in a URL: downloads and images are fetched here and handed to the
// page as blob URLs, and live updates are polled, because <img src>, <a href> and EventSource cannot send it.

const TOKEN_KEY = "rlhf.admin.token";
const TIMEOUT_MS = 30000;

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

let onSignedOut = () => {};

export function whenSignedOut(callback) {
  onSignedOut = callback;
}

export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(value) {
  try {
    sessionStorage.setItem(TOKEN_KEY, value);
  } catch {
    // Private browsing may refuse storage: the console then asks again after a reload.
  }
}

export function forgetToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // As above.
  }
}

// FastAPI's validation errors are a list of {loc, msg}: one line each, as "params.lr: Input should be ...".
export function detailText(status, data) {
  const detail = data && data.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        const where = Array.isArray(item.loc) ? item.loc.filter((part) => part !== "body").join(".") : "";
        return where ? `${where}: ${item.msg}` : String(item.msg);
      })
      .join("; ");
  }
  return detail ? JSON.stringify(detail) : `HTTP ${status}`;
}

// One request with the token; the Response, or an ApiError that says what the server (or the network) said.
export async function send(method, path, { json, body, contentType } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  const headers = { Authorization: `Bearer ${token() || ""}` };
  if (json !== undefined) headers["Content-Type"] = "application/json";
  if (contentType) headers["Content-Type"] = contentType;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: json !== undefined ? JSON.stringify(json) : body,
      signal: controller.signal,
      cache: "no-store",
      credentials: "omit",
    });
  } catch (error) {
    throw new ApiError(0, error.name === "AbortError" ? "the request timed out" : "the collector cannot be reached");
  } finally {
    clearTimeout(timer);
  }
  if (response.ok) return response;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  const error = new ApiError(response.status, detailText(response.status, data));
  if (response.status === 401) onSignedOut(`The collector refused the token: ${error.message}.`);
  throw error;
}

export async function api(method, path, options) {
  const response = await send(method, path, options);
  return response.status === 204 ? null : response.json();
}

// A file from the API (an export) saved through a blob URL, under `filename`.
export async function download(path, filename) {
  const blob = await (await send("GET", path)).blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// An image from the API as a blob URL for <img src>; the caller revokes it when the image goes.
export async function imageUrl(path) {
  const blob = await (await send("GET", path)).blob();
  return URL.createObjectURL(blob);
}
