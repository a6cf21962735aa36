// The collector's HTTP API (its /docs page; docs/architecture.md), with retries for network trouble.

export class NetworkError extends Error {}

const REQUEST_TIMEOUT_MS = 20000;

// One request; resolves to {status, data} for every HTTP answer, throws NetworkError when none came.
export async function request(token, method, path, { body, headers = {} } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  try {
    const response = await fetch(path, {
      method,
      headers: {
        Accept: "application/json",
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
      cache: "no-store",
      credentials: "omit",
    });
    const text = response.status === 204 ? "" : await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    return { status: response.status, data };
  } catch (error) {
    throw new NetworkError(error.name === "AbortError" ? "the request timed out" : "the network request failed");
  } finally {
    clearTimeout(timer);
  }
}

export function detailOf(answer) {
  const detail = answer.data && answer.data.detail;
  if (typeof detail === "string") return detail;
  return detail ? JSON.stringify(detail) : `HTTP ${answer.status}`;
}

// Answers worth asking again: the server or something in between was briefly unwell.
function isTransient(status) {
  return status === 408 || status === 429 || status >= 500;
}

// Exponential backoff with jitter, capped: 1 s, 2 s, 4 s, 8 s, 15 s, 15 s, ...
export function backoffMs(attempt) {
  const base = Math.min(15000, 1000 * 2 ** (attempt - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

let wakeRetry = null;

// Cut the current backoff wait short (the "Retry now" button).
export function retryNow() {
  if (wakeRetry) wakeRetry();
}

function wait(ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      wakeRetry = null;
      resolve();
    }
    wakeRetry = done;
  });
}

// Call `send` until it gets a non-transient answer. `send` must be safe to repeat: GETs, and POSTs that
// carry the same Idempotency-Key every time. `onRetry({attempt, delayMs, reason})` runs before each wait.
// Resolves to null, sending nothing more, once `stillWanted()` turns false (signed out, another dataset).
export async function withRetry(send, onRetry, stillWanted = () => true) {
  for (let attempt = 1; stillWanted(); attempt += 1) {
    let reason;
    try {
      const answer = await send();
      if (!isTransient(answer.status)) return answer;
      reason = `the server answered ${answer.status}`;
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      reason = error.message;
    }
    if (!stillWanted()) break;
    const delayMs = backoffMs(attempt);
    onRetry({ attempt, delayMs, reason });
    await wait(delayMs);
  }
  return null;
}

// A random UUID v4. crypto.randomUUID exists only in secure contexts; getRandomValues works on plain http too.
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
