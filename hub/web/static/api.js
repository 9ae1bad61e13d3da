// Calls to the hub's API with the session cookie, and the CSRF token on every change.

import { t } from "./i18n.js";

let csrfToken = null;
let onSessionEnded = () => {};

export class ApiError extends Error {
  constructor(status, detail, code = null, retryAfter = null) {
    super(detail);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }

  /** The error in the person's language. */
  describe() {
    if (this.status === 0) return t("err_network");
    if (this.status === 403) return t("err_forbidden", { detail: this.message });
    if (this.status === 409) return t("err_conflict", { detail: this.message });
    return t("err_generic", { status: this.status, detail: this.message });
  }
}

export function setCsrfToken(token) {
  csrfToken = token;
}

export function whenSessionEnds(callback) {
  onSessionEnded = callback;
}

function detailOf(body) {
  if (!body || body.detail === undefined) return "";
  if (typeof body.detail === "string") return body.detail;
  // FastAPI's validation errors: a list of {loc, msg}.
  return body.detail.map((error) => `${error.loc.slice(1).join(".")}: ${error.msg}`).join("; ");
}

export async function api(method, path, body = undefined) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network");
  }
  if (response.ok) return response.status === 204 ? null : response.json();
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  const error = new ApiError(response.status, detailOf(payload) || response.statusText,
    payload?.code ?? null, payload?.retry_after ?? null);
  if (response.status === 401 && path !== "/login") onSessionEnded();
  throw error;
}
