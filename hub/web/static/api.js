// Calls to the hub's API with the session cookie, and the CSRF token on every change.

import { actorName, hasText, t } from "./i18n.js";

let csrfToken = null;
let onSessionEnded = () => {};

export class ApiError extends Error {
  constructor(status, detail, code = null, retryAfter = null, params = null, fields = null) {
    super(detail);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.params = params ?? {};
    this.fields = fields ?? [];
  }

  /** The error in the person's language: the hub's `code` (a refusal) or the first field's
   * `type` (a 422) in the page's own words; else a sentence for the status. The hub's English
   * `detail` is never shown in Vietnamese (docs/HTTP.md, "Refusals"). */
  describe() {
    if (this.status === 0) return t("err_network");
    const params = { ...this.params, detail: this.message };
    for (const name of ["role", "yours"]) {
      if (params[name] && hasText(`role_${params[name]}`)) params[name] = t(`role_${params[name]}`);
    }
    if (params.by) params.by = actorName(params.by);
    if (this.code && hasText(`err.${this.code}`)) return t(`err.${this.code}`, params);
    const [first] = this.fields;
    if (first) {
      const type = first.type;
      // the deepest part of the place that the page has a name for ("press_patterns" in
      // ["body", "press_patterns", "tamper", "[key]"]), else the last part
      const known = [...first.loc].reverse().find((part) => hasText(`field.${part}`));
      const name = known ? t(`field.${known}`) : String(first.loc[first.loc.length - 1]);
      if (hasText(`err.${type}`)) return t(`err.${type}`, { ...params, ...first.params, field: name });
      return t("err_field", { field: name, detail: this.message });
    }
    if (hasText(`err_status.${this.status}`)) return t(`err_status.${this.status}`, params);
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

/** `body`: an object sent as JSON; or, with `contentType`, text sent as it is (a file). */
export async function api(method, path, body = undefined, contentType = null) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = contentType ?? "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : contentType ? body : JSON.stringify(body),
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
    payload?.code ?? null, payload?.retry_after ?? null, payload?.params ?? null,
    Array.isArray(payload?.errors) ? payload.errors : null);
  if (response.status === 401 && path !== "/login") onSessionEnded();
  throw error;
}
