// The JSON API of `smsbatch serve` (README, "Web app"): one fetch wrapper that sends the user's
// token when there is one and turns every error into a message a person can act on, shown in
// the page's alert region.

const TOKEN_KEY = "smsbatch.jwt";

/** The bearer token of a database-backed server (kept in localStorage by the sign-in box). */
export function token() {
  return localStorage.getItem(TOKEN_KEY) ?? "";
}

export function setToken(value) {
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

/** An error the API answered with: `kind`, `message` and the kind's fields (`path`...). */
export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message ?? `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    Object.assign(this, error);
    this.message = error?.message ?? `HTTP ${status}`;
  }
}

const KIND_TEXT = {
  invalidFilter: "The filter is not valid",
  unknownField: "The filter names a field customers do not have",
  filterTooLarge: "The filter is too large",
  invalidQuery: "The customer query is not valid",
  invalidSavedFilter: "The saved filter is not valid",
  templateSyntax: "The template has a syntax error",
  missingVariable: "A customer lacks a variable of the template",
  permissionDenied: "You are not allowed to do that",
  notFound: "Not found",
  uniqueViolation: "That already exists",
  invalidTransition: "The batch cannot do that in its current state",
  invalidOptions: "The sending options are not valid",
  connectionLost: "The database is unreachable; try again in a moment",
  timeout: "The database took too long; try again in a moment",
};

/** A sentence for a person: what went wrong, then the server's own words. */
export function describe(error) {
  if (error instanceof ApiError) {
    if (error.status === 401) return `Please sign in: ${error.message}`;
    const lead = KIND_TEXT[error.kind] ?? "The server refused the request";
    const where = error.path ? ` (at ${error.path})` : "";
    return `${lead}: ${error.message}${where}`;
  }
  if (error instanceof TypeError) return `The server cannot be reached (${error.message}). Is smsbatch serve running?`;
  return error?.message ?? String(error);
}

/** Calls the API; resolves with the JSON body, rejects with ApiError. */
export async function api(method, path, body, { raw = false } = {}) {
  const headers = {};
  const jwt = token();
  if (jwt) headers.Authorization = `Bearer ${jwt}`;
  let payload;
  if (body !== undefined) {
    if (typeof body === "string") {
      payload = body;
    } else {
      payload = JSON.stringify(body);
    }
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, { method, headers, body: payload });
  if (!response.ok) {
    let error;
    try {
      error = (await response.json()).error;
    } catch {
      error = { kind: "http", message: `HTTP ${response.status} ${response.statusText}` };
    }
    throw new ApiError(response.status, error);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

/** Downloads an API file (with the token, so not a plain link) under its server-given name. */
export async function download(path, fallbackName) {
  const response = await api("GET", path, undefined, { raw: true });
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? fallbackName;
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Shows an alert (role="alert") in the page's alert region; `null` message clears `key`. */
export function alertUser(key, message) {
  const region = document.querySelector("#alerts");
  let node = region.querySelector(`[data-key="${key}"]`);
  if (!message) {
    node?.remove();
    return;
  }
  if (!node) {
    node = document.createElement("div");
    node.className = "alert";
    node.setAttribute("role", "alert");
    node.dataset.key = key;
    const text = document.createElement("span");
    const close = document.createElement("button");
    close.type = "button";
    close.className = "dismiss";
    close.setAttribute("aria-label", "Dismiss this message");
    close.textContent = "×";
    close.onclick = () => node.remove();
    node.append(text, close);
    region.append(node);
  }
  node.firstChild.textContent = message;
}

/** Runs `work`, showing its failure as an alert under `key` (and clearing it on success). */
export async function guarded(key, work) {
  try {
    const result = await work();
    alertUser(key, null);
    return result;
  } catch (e) {
    alertUser(key, describe(e));
    return undefined;
  }
}

export const el = (tag, props = {}, ...children) => {
  const { attrs, ...rest } = props;
  const node = Object.assign(document.createElement(tag), rest);
  for (const [k, v] of Object.entries(attrs ?? {})) node.setAttribute(k, v);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
};

/** Wires the sign-in box (shown on servers that verify JWTs). */
export async function session() {
  const info = await api("GET", "/api/session").catch((e) => {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  });
  const box = document.querySelector("#signin");
  if (box) {
    // Shown only when the server asks for a token it did not get (or refused).
    box.hidden = info !== null;
    const input = box.querySelector("input");
    input.value = token();
    box.querySelector("form").onsubmit = (ev) => {
      ev.preventDefault();
      setToken(input.value.trim());
      location.reload();
    };
  }
  const who = document.querySelector("#who");
  if (who && info) who.textContent = `${info.user ?? info.role} · ${info.store} store`;
  return info;
}
