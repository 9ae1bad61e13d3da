// What an admin does from the page: change a site or a button, turn test mode on and off, clear
// a latched trouble once the button is checked, import the registry file (a preview, then the
// change), manage the people who log in (add, change, disable, remove) and the API tokens. Every
// change goes through the API, which checks the role and writes it to the audit log; viewers and
// officers never see these controls.

import { api } from "./api.js";
import { $, h, labelCells, show } from "./dom.js";
import { formatTime, hasText, t } from "./i18n.js";
import { state } from "./state.js";

let onChange = () => {};
let submitting = null;

export function isAdmin() {
  return state.me?.role === "admin";
}

function siteChoices() {
  const sites = [...state.sites.values()].sort((a, b) => a.name.localeCompare(b.name));
  return [["", t("no_site")], ...sites.map((site) => [site.id, site.name])];
}

/** Remove after saying what will happen; the hub refuses a site that still has buttons. */
function removeButton(kind, record) {
  return h("button", {
    type: "button",
    class: "remove",
    onclick: () => openEdit(t(`remove_${kind}`, { name: record.name ?? record.id }), [], async () => {
      await api("DELETE", path(kind === "site" ? "sites" : "devices", record.id));
      (kind === "site" ? state.sites : state.devices).delete(record.id);
    }),
  }, t("remove"));
}

export function initAdmin(changed) {
  onChange = changed;
  $("site-add").addEventListener("click", () => openEdit(t("site_add"), [
    { name: "id", label: t("site_id"), max: 64 },
    { name: "name", label: t("col_site_name") },
    { name: "address", label: t("address"), max: 500 },
    { name: "phone", label: t("phone"), max: 50 },
  ], async (values) => {
    const view = await api("POST", "/api/v1/sites", values);
    state.sites.set(view.id, view);
  }));
  $("button-add").addEventListener("click", () => openEdit(t("button_add"), [
    { name: "id", label: t("col_button"), max: 64 },
    { name: "label", label: t("col_label") },
    { name: "site", label: t("site"), value: "", options: siteChoices() },
    ...kindFields(),
  ], async (values) => {
    const view = await api("POST", "/api/v1/devices", {
      id: values.id.trim(), label: values.label, site: values.site || null, ...kindValues(values),
    });
    state.devices.set(view.id, view);
  }));
  $("edit-form").addEventListener("submit", submitEdit);
  $("edit-cancel").addEventListener("click", () => $("edit-dialog").close());
  initImport();
}

// -- importing the registry file: a preview of what it changes, then the change -------------------

let previewed = null;

function initImport() {
  $("registry-import").addEventListener("click", () => {
    $("import-form").reset();
    $("import-file-name").textContent = t("import_no_file_yet");
    resetPreview();
    $("import-dialog").showModal();
    $("import-pick").focus();
  });
  $("import-pick").addEventListener("click", () => $("import-file").click());
  $("import-file").addEventListener("change", () => {
    $("import-file-name").textContent = $("import-file").files[0]?.name ?? t("import_no_file_yet");
    resetPreview();
  });
  $("import-remove").addEventListener("change", resetPreview);
  $("import-check").addEventListener("click", () => sendImport(false));
  $("import-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sendImport(true);
  });
  $("import-cancel").addEventListener("click", () => $("import-dialog").close());
}

function resetPreview() {
  previewed = null;
  $("import-preview").replaceChildren();
  $("import-error").textContent = "";
  $("import-apply").disabled = true;
  show($("import-apply"), true);
  show($("import-check"), true);
  $("import-cancel").textContent = t("cancel");
}

async function sendImport(apply) {
  const file = $("import-file").files[0];
  $("import-error").textContent = "";
  if (!file) {
    $("import-error").textContent = t("import_no_file");
    return;
  }
  const text = await file.text();
  const query = new URLSearchParams();
  if ($("import-remove").checked) query.set("remove_missing", "true");
  if (apply) {
    query.set("apply", "true");
    query.set("expect", previewed.fingerprint);
  }
  const buttons = [$("import-check"), $("import-apply")];
  buttons.forEach((button) => { button.disabled = true; });
  try {
    const result = await api("POST", `/api/v1/registry/import?${query}`, text, "text/plain; charset=utf-8");
    if (apply) {
      const [sites, devices] = await Promise.all([api("GET", "/api/v1/sites"), api("GET", "/api/v1/devices")]);
      state.sites = new Map(sites.map((site) => [site.id, site]));
      state.devices = new Map(devices.map((device) => [device.id, device]));
      onChange();
      previewed = null;
      show($("import-apply"), false);
      show($("import-check"), false);
      $("import-cancel").textContent = t("close");
    } else {
      previewed = result;
    }
    $("import-preview").replaceChildren(...renderImport(result));
  } catch (error) {
    $("import-error").textContent = error.describe ? error.describe() : error.message;
    if (error.fields?.[0]?.type === "registry_file") {
      $("import-error").append(h("details", { class: "tech" },
        h("summary", {}, t("tech_detail")), h("code", {}, error.message)));
    }
    previewed = null;
  } finally {
    $("import-check").disabled = false;
    $("import-apply").disabled = previewed === null;
  }
}

function shownValue(field, value) {
  if (value === null || value === undefined || value === "") return t("import_empty");
  if (Array.isArray(value) && field !== "press_patterns") return value.join(", ");
  if (typeof value === "boolean") return t(value ? "yes" : "no");
  if (field === "site_id") return state.sites.get(value)?.name ?? value;
  if (field === "power" && hasText(`power_${value}`)) return t(`power_${value}`);
  if (field === "kind" && hasText(`kind.${value}`)) return t(`kind.${value}`);
  if (field === "press_patterns") {
    return value.length ? value.map(([word, kind]) => `${word}=${kind}`).join(", ") : t("import_empty");
  }
  return String(value);
}

/** What an import changes (or changed), in words: per table, added, changed field by field,
 * removed, and left alone. */
function renderImport(result) {
  const parts = [h("p", { class: "import-summary", dataset: { applied: String(result.applied) } },
    t(result.applied ? "import_applied" : "import_preview"))];
  let anything = false;
  for (const table of ["sites", "buttons"]) {
    const diff = result[table];
    const label = (entry) => (entry.name ? `${entry.name} (${entry.id})` : entry.id);
    const rows = [];
    if (diff.added.length) {
      rows.push(h("li", { class: "added" }, t("import_added", { n: diff.added.length }), " ",
        diff.added.map(label).join(", ")));
    }
    for (const entry of diff.changed) {
      rows.push(h("li", { class: "changed", dataset: { id: entry.id } }, t("import_changed_one", { name: label(entry) }), " ",
        entry.fields.map((change) => t("import_field", {
          field: hasText(`field.${change.field}`) ? t(`field.${change.field}`) : change.field,
          before: shownValue(change.field, change.before),
          after: shownValue(change.field, change.after),
        })).join("; ")));
      if (entry.fields.some((change) => change.field === "test_mode" && change.after === true)) {
        rows.push(h("li", { class: "warning" }, t("import_test_on", { name: label(entry) })));
      }
    }
    if (diff.removed.length) {
      rows.push(h("li", { class: "removed" }, t("import_removed", { n: diff.removed.length }), " ",
        diff.removed.map(label).join(", ")));
    }
    if (diff.kept.length) {
      rows.push(h("li", { class: "kept" }, t("import_kept", { n: diff.kept.length })));
    }
    if (diff.unchanged) rows.push(h("li", { class: "unchanged" }, t("import_unchanged", { n: diff.unchanged })));
    anything ||= diff.added.length + diff.changed.length + diff.removed.length > 0;
    parts.push(h("h3", {}, t(table === "sites" ? "tab_sites" : "tab_buttons")),
      h("ul", { class: `import-${table}` }, rows));
  }
  if (!anything) parts.push(h("p", { class: "import-nothing" }, t("import_nothing")));
  return parts;
}

const PRESS_KINDS = ["holdup", "fire", "medical", "assistance"];

/** A button's alarm kind and its press patterns (one `pattern=kind` a line), as form fields. */
function kindFields(device = null) {
  const patterns = Object.entries(device?.press_patterns ?? {}).map(([word, kind]) => `${word}=${kind}`);
  return [
    {
      name: "kind",
      label: t("kind"),
      value: device?.kind ?? "holdup",
      options: PRESS_KINDS.map((kind) => [kind, t(`kind.${kind}`)]),
    },
    {
      name: "press_patterns",
      label: t("press_patterns"),
      hint: t("press_patterns_hint"),
      value: patterns.join("\n"),
      multiline: true,
      max: 1000,
    },
  ];
}

/** The API's `kind` and `press_patterns` from the form (the hub checks each and says what is wrong). */
function kindValues(values) {
  const patterns = {};
  for (const line of values.press_patterns.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf("=");
    patterns[(at < 0 ? line : line.slice(0, at)).trim()] = at < 0 ? "" : line.slice(at + 1).trim();
  }
  return { kind: values.kind, press_patterns: patterns };
}

/** A dialog of fields; `save(values)` is called with the values the person typed. */
function openEdit(title, fields, save) {
  $("edit-title").textContent = title;
  $("edit-error").textContent = "";
  $("edit-fields").replaceChildren(...fields.map((field) => {
    const id = `edit-${field.name}`;
    const control = field.options
      ? h("select", { id, name: field.name }, field.options.map(([value, label]) =>
        h("option", { value, selected: value === field.value }, label)))
      : h(field.multiline ? "textarea" : "input", {
        id,
        name: field.name,
        value: field.value ?? "",
        type: field.multiline ? null : field.type ?? "text",
        autocomplete: field.type === "password" ? "new-password" : null,
        maxlength: field.max ?? 200,
        rows: field.multiline ? 3 : null,
      });
    if (field.multiline) control.value = field.value ?? "";
    if (field.hint) control.setAttribute("aria-describedby", `${id}-hint`);
    return h(
      "div",
      { class: "field" },
      h("label", { for: id }, field.label),
      control,
      field.hint && h("p", { id: `${id}-hint`, class: "field-hint" }, field.hint),
    );
  }));
  submitting = save;
  $("edit-dialog").showModal();
  $("edit-fields").querySelector("input, select, textarea")?.focus();
}

async function submitEdit(event) {
  event.preventDefault();
  const values = Object.fromEntries(new FormData(event.currentTarget));
  const submit = event.currentTarget.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    await submitting(values);
    $("edit-dialog").close();
    onChange();
  } catch (error) {
    $("edit-error").textContent = error.describe ? error.describe() : error.message;
  } finally {
    submit.disabled = false;
  }
}

function path(kind, id, tail = "") {
  return `/api/v1/${kind}/${encodeURIComponent(id)}${tail}`;
}

const DURATIONS = [1800, 3600, 7200, 14400, 28800, 86400];
const DEFAULT_DURATION = 7200;

async function setTestMode(kind, id, on, duration = null) {
  const body = on && duration ? { test_mode: true, duration_s: duration } : { test_mode: on };
  const view = await api("PUT", path(kind, id, "/test-mode"), body);
  if (kind === "sites") state.sites.set(view.id, view);
  else state.devices.set(view.id, view);
  onChange();
}

/** Off at once; on for a while (2 h unless chosen otherwise), after which the hub ends it. */
function testModeButton(kind, record, onError) {
  const turnOn = () => openEdit(t("test_mode_title", { name: record.name ?? record.id }), [{
    name: "duration",
    label: t("test_duration"),
    value: String(DEFAULT_DURATION),
    options: [
      ...DURATIONS.map((seconds) => [
        String(seconds), seconds < 3600 ? t("minutes", { n: seconds / 60 }) : t("hours", { n: seconds / 3600 }),
      ]),
      ["", t("until_turned_off")],
    ],
  }], (values) => setTestMode(kind, record.id, true, values.duration ? Number(values.duration) : null));
  return h("button", {
    type: "button",
    class: "test-mode",
    onclick: () => (record.test_mode ? setTestMode(kind, record.id, false).catch(onError) : turnOn()),
  }, t(record.test_mode ? "test_mode_off" : "test_mode_on"));
}

/** "Có — tự tắt lúc 16:30:00 06/12/2026" */
export function testModeText(record, yesNo, formatTime) {
  const text = yesNo(record.test_mode);
  return record.test_mode && record.test_until ? `${text} — ${t("test_ends", { time: formatTime(record.test_until) })}` : text;
}

/** The admin's controls for a site's row. */
export function siteActions(site, onError) {
  const edit = () => openEdit(t("edit_site", { name: site.name }), [
    { name: "name", label: t("col_site_name"), value: site.name },
    { name: "address", label: t("address"), value: site.address, max: 500 },
    { name: "phone", label: t("phone"), value: site.phone, max: 50 },
  ], async (values) => {
    const view = await api("PATCH", path("sites", site.id), values);
    state.sites.set(view.id, view);
  });
  return [
    h("button", { type: "button", class: "edit", onclick: edit }, t("edit")),
    " ",
    testModeButton("sites", site, onError),
    " ",
    removeButton("site", site),
  ];
}

/** The admin's controls for a registered button's row. */
export function buttonActions(device, onError) {
  if (!device.registered) return [];
  const edit = () => openEdit(t("edit_button", { id: device.id }), [
    { name: "label", label: t("col_label"), value: device.label },
    {
      name: "site",
      label: t("site"),
      value: device.site_id ?? "",
      options: siteChoices(),
    },
    ...kindFields(device),
  ], async (values) => {
    const view = await api("PATCH", path("devices", device.id), {
      label: values.label,
      site: values.site || null,
      ...kindValues(values),
    });
    state.devices.set(view.id, view);
  });
  return [
    h("button", { type: "button", class: "edit", onclick: edit }, t("edit")),
    " ",
    testModeButton("devices", device, onError),
    " ",
    removeButton("button", device),
  ];
}

/** Latched troubles stay until someone checks the button: an admin clears them with a note. */
const LATCHED = new Set(["tamper", "possible_forgery", "bad_messages"]);

export function troubleActions(trouble) {
  if (!isAdmin() || !LATCHED.has(trouble.kind) || !trouble.id) return null;
  const clear = () => openEdit(t("clear_trouble_title"), [
    { name: "note", label: t("clear_trouble_note"), value: "", multiline: true, max: 500 },
  ], async (values) => {
    if (!values.note.trim()) throw new Error(t("note_required"));
    await api("POST", `/api/v1/troubles/${trouble.id}/clear`, { note: values.note.trim() });
  });
  return h("button", { type: "button", class: "clear-trouble", onclick: clear }, t("clear_trouble"));
}

// -- users ----------------------------------------------------------------------------------------

const ROLES = ["viewer", "officer", "admin"];

function roleOptions() {
  return ROLES.map((role) => [role, t(`role_${role}`)]);
}

/** The users view: everyone who logs in, with their role and open sessions. */
export async function showUsers(onError) {
  let users;
  try {
    users = await api("GET", "/api/v1/users");
  } catch (error) {
    onError(error);
    return;
  }
  state.names = new Map(users.filter((user) => user.display_name).map((user) => [user.username, user.display_name]));
  const reload = () => showUsers(onError);
  const userPath = (name) => `/api/v1/users/${encodeURIComponent(name)}`;
  $("users-table").tBodies[0].replaceChildren(...users.map((user) => h(
    "tr",
    { dataset: { user: user.username } },
    h("td", {}, user.username),
    h("td", { class: "display-name" }, user.display_name),
    h("td", { class: "role" }, t(`role_${user.role}`)),
    h("td", { class: "user-state", dataset: { disabled: String(user.disabled) } },
      user.disabled ? t("user_disabled_since", { time: formatTime(user.disabled_at) }) : t("user_enabled")),
    h("td", {}, String(user.sessions)),
    h("td", { class: "admin-actions" },
      h("button", {
        type: "button",
        class: "change-role",
        onclick: () => openEdit(t("change_role", { name: user.username }), [
          { name: "display_name", label: t("display_name"), value: user.display_name, max: 100 },
          { name: "role", label: t("role"), value: user.role, options: roleOptions() },
        ], (values) => {
          const body = { display_name: values.display_name };
          if (values.role !== user.role) body.role = values.role; // an admin keeps their own role
          return api("PATCH", userPath(user.username), body).then(reload);
        }),
      }, t("change_role_short")),
      " ",
      h("button", {
        type: "button",
        class: "reset-password",
        onclick: () => openEdit(t("reset_password", { name: user.username }), [
          { name: "password", label: t("new_password"), type: "password", max: 1024 },
        ], (values) => api("PATCH", userPath(user.username), { password: values.password }).then(reload)),
      }, t("reset_password_short")),
      " ",
      h("button", {
        type: "button",
        class: user.disabled ? "enable-user" : "disable-user",
        onclick: () => openEdit(t(user.disabled ? "enable_user" : "disable_user", { name: user.username }), [],
          () => api("PATCH", userPath(user.username), { disabled: !user.disabled }).then(reload)),
      }, t(user.disabled ? "enable_user_short" : "disable_user_short")),
      " ",
      h("button", {
        type: "button",
        class: "remove-user",
        onclick: () => openEdit(t("remove_user", { name: user.username }), [],
          () => api("DELETE", userPath(user.username)).then(reload)),
      }, t("remove")),
    ),
  )));
  labelCells($("users-table"));
  await showTokens(onError);
}

// -- API tokens -------------------------------------------------------------------------------------

async function showTokens(onError) {
  let tokens;
  try {
    tokens = await api("GET", "/api/v1/tokens");
  } catch (error) {
    onError(error);
    return;
  }
  const reload = () => showTokens(onError);
  $("tokens-table").tBodies[0].replaceChildren(...tokens.map((token) => h(
    "tr",
    { dataset: { token: token.name, revoked: String(Boolean(token.revoked_at)) } },
    h("td", {}, token.name),
    h("td", { class: "role" }, t(`role_${token.role}`)),
    h("td", {}, formatTime(token.created_at)),
    h("td", { class: "made-by" }, madeBy(token.created_by)),
    h("td", { class: "token-state" },
      token.revoked_at ? t("token_revoked_at", { time: formatTime(token.revoked_at) }) : t("token_live")),
    h("td", { class: "admin-actions" }, token.revoked_at ? "" : h("button", {
      type: "button",
      class: "revoke-token",
      onclick: () => openEdit(t("revoke_token", { name: token.name }), [],
        () => api("DELETE", `/api/v1/tokens/${encodeURIComponent(token.name)}`).then(reload)),
    }, t("revoke_token_short"))),
  )));
  labelCells($("tokens-table"));
}

function madeBy(actor) {
  if (actor === "cli") return t("made_by_cli");
  const name = actor.startsWith("user:") ? actor.slice(5) : actor;
  return state.names.get(name) || name;
}

function showSecret(made) {
  $("token-secret-text").textContent = made.token;
  $("token-secret-name").textContent = t("token_secret_for", { name: made.name, role: t(`role_${made.role}`) });
  $("token-secret-dialog").showModal();
  $("token-secret-text").focus();
}

export function initUsers(onError) {
  $("token-add").addEventListener("click", () => openEdit(t("token_add"), [
    { name: "name", label: t("token_name"), max: 100 },
    { name: "role", label: t("role"), value: "viewer", options: roleOptions() },
  ], async (values) => {
    const made = await api("POST", "/api/v1/tokens", { name: values.name.trim(), role: values.role });
    await showTokens(onError);
    setTimeout(() => showSecret(made)); // after the edit dialog has closed
  }));
  $("token-secret-close").addEventListener("click", () => {
    $("token-secret-text").textContent = ""; // shown once: gone from the page once closed
    $("token-secret-dialog").close();
  });
  $("user-add").addEventListener("click", () => openEdit(t("user_add"), [
    { name: "username", label: t("username"), max: 64 },
    { name: "display_name", label: t("display_name"), max: 100 },
    { name: "role", label: t("role"), value: "officer", options: roleOptions() },
    { name: "password", label: t("new_password"), type: "password", max: 1024 },
  ], (values) => api("POST", "/api/v1/users", values).then(() => showUsers(onError))));
}
