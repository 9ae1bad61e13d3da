// The live board: open alarms as large cards (not acknowledged first), the technical troubles
// apart, and the dialogs to resolve an alarm and to read its audit trail.

import { troubleActions } from "./admin.js";
import { api } from "./api.js";
import { $, h, labelCells, show } from "./dom.js";
import { actorName, formatDuration, formatTime, t, tOr } from "./i18n.js";
import { putAlarm, state } from "./state.js";

const SEEN_KEY = "chuong.troubles.seen";
let onError = () => {};
let clockSkewMs = 0;

export function initBoard(reportError) {
  onError = reportError;
  $("troubles-seen").addEventListener("click", markTroublesSeen);
  $("resolve-form").addEventListener("submit", submitResolve);
  $("resolve-cancel").addEventListener("click", () => $("resolve-dialog").close());
  $("detail-close").addEventListener("click", () => $("detail-dialog").close());
}

/** The hub's clock minus this computer's, when they differ by more than a few seconds. */
export function setClockSkew(ms) {
  clockSkewMs = Math.abs(ms) > 5000 ? ms : 0;
}

function hubNow() {
  return Date.now() + clockSkewMs;
}

function can(role) {
  const order = { viewer: 0, officer: 1, admin: 2 };
  return order[state.me.role] >= order[role];
}

// -- ordering and signals -------------------------------------------------------------------------

/** Not acknowledged first, real before test, then the longest waiting first. */
export function orderedAlarms() {
  return [...state.alarms.values()].sort((a, b) => {
    const key = (alarm) => [alarm.state === "active" ? 0 : 1, alarm.test ? 1 : 0];
    const [ka, kb] = [key(a), key(b)];
    if (ka[0] !== kb[0]) return ka[0] - kb[0];
    if (ka[1] !== kb[1]) return ka[1] - kb[1];
    return Date.parse(a.raised_at) - Date.parse(b.raised_at);
  });
}

export function unacknowledged() {
  const waiting = [...state.alarms.values()].filter((alarm) => alarm.state === "active");
  return { real: waiting.filter((alarm) => !alarm.test), test: waiting.filter((alarm) => alarm.test) };
}

function seenTroubles() {
  try {
    return new Set(JSON.parse(localStorage.getItem(SEEN_KEY) || "[]"));
  } catch {
    return new Set();
  }
}

function troubleKey(trouble) {
  return `${trouble.id}:${trouble.kind}:${trouble.subject}`;
}

export function unseenTroubles() {
  const seen = seenTroubles();
  return [...state.troubles.values()].filter((trouble) => !seen.has(troubleKey(trouble)));
}

let onSeen = () => {};
export function whenTroublesSeen(callback) {
  onSeen = callback;
}

function markTroublesSeen() {
  const keys = [...state.troubles.values()].map(troubleKey);
  localStorage.setItem(SEEN_KEY, JSON.stringify(keys));
  renderTroubles();
  onSeen();
}

// -- alarm cards ------------------------------------------------------------------------------------

export function buttonName(id) {
  const label = state.devices.get(id)?.label;
  return label ? `${label} (${id})` : id;
}

/** Who did it, in words: the person's name ("Nguyễn Văn An", else the user name), not "user:…". */
export function who(actor) {
  if (actor?.startsWith("user:")) {
    const username = actor.slice("user:".length);
    return state.names.get(username) || username;
  }
  return actorName(actor, buttonName);
}

function since(alarm) {
  return (hubNow() - Date.parse(alarm.raised_at)) / 1000;
}

/** A phone number as a link a phone can call. */
export function phoneLink(phone) {
  const digits = phone.replace(/[^\d+]/g, "");
  return digits ? h("a", { href: `tel:${digits}` }, phone) : phone;
}

/** A site with coordinates: its position, as a link a phone opens in its map application. */
function position(site) {
  const known = site ? state.sites.get(site.id) : null;
  if (known?.lat == null || known?.lon == null) return null;
  const where = `${known.lat.toFixed(5)}, ${known.lon.toFixed(5)}`;
  return [
    h("dt", {}, t("position")),
    h("dd", { class: "position" }, h("a", { href: `geo:${known.lat},${known.lon}` }, where)),
  ];
}

/** What the alarm is about, in words (a kind this page does not know reads as a hold-up). */
export function kindName(kind) {
  return tOr(`kind.${kind}`, t("kind.holdup"));
}

export function kindBadge(alarm, small = false) {
  const kind = alarm.kind ?? "holdup";
  return h("span", { class: `badge kind kind-${kind}${small ? " small" : ""}`, dataset: { kind } }, kindName(kind));
}

function card(alarm) {
  const site = alarm.site;
  const flags = [
    kindBadge(alarm),
    h("span", { class: `badge state-${alarm.state}` }, t(`state_${alarm.state}`)),
    alarm.test && h("span", { class: "badge test" }, t("test_flag")),
    alarm.unregistered && h("span", { class: "badge unregistered" }, t("unregistered")),
    alarm.level > 0 && h("span", { class: "badge level" }, t("escalated", { n: alarm.level })),
  ];
  const repeated = alarm.press_count > 1;
  const acknowledged = alarm.acknowledged_at
    ? h("p", { class: "acked" }, t("acknowledged_by", {
      who: who(alarm.acknowledged_by),
      time: formatTime(alarm.acknowledged_at),
      wait: formatDuration((Date.parse(alarm.acknowledged_at) - Date.parse(alarm.raised_at)) / 1000),
    }))
    : null;
  // People an `ack = "each"` step called, who acknowledged from their links (while the alarm
  // waits for the others, and after).
  const personAcks = alarm.acks?.length
    ? h("p", { class: "person-acks" }, t("person_acks", {
      who: alarm.acks.map((ack) => `${ack.person} (${formatTime(ack.at)})`).join(", "),
    }))
    : null;
  return h(
    "article",
    {
      class: `card ${alarm.state} kind-${alarm.kind ?? "holdup"}${alarm.test ? " is-test" : ""}`,
      "aria-labelledby": `title-${alarm.id}`,
      dataset: { alarm: alarm.id, state: alarm.state, kind: alarm.kind ?? "holdup" },
    },
    h("div", { class: "flags" }, flags, h("span", { class: "alarm-id" }, `${t("alarm_id")}: ${alarm.id}`)),
    alarm.post && h("p", { class: "post-name" }, t("post_of", { name: alarm.post.name || alarm.post.id })),
    h("h3", { id: `title-${alarm.id}`, class: "site-name" }, site ? site.name : t("unknown_site")),
    h(
      "dl",
      { class: "facts" },
      site?.address && [h("dt", {}, t("address")), h("dd", {}, site.address)],
      site?.phone && [h("dt", {}, t("phone")), h("dd", { class: "phone" }, phoneLink(site.phone))],
      position(site),
      h("dt", {}, t("buttons")),
      h("dd", {}, alarm.devices.map(buttonName).join(", ")),
      // A loss of communication counts no press: its buttons went silent together.
      alarm.kind === "comm_loss"
        ? h("dd", { class: "lost-together" }, t("lost_together"))
        : [
          h("dt", {}, t("presses")),
          h(
            "dd",
            { class: repeated ? "presses repeated" : "presses", dataset: { count: alarm.press_count } },
            String(alarm.press_count),
            repeated && h("span", { class: "repeat-note" }, ` — ${t("repeated")}`),
          ),
        ],
    ),
    h(
      "p",
      { class: "raised" },
      t("raised_at", { time: formatTime(alarm.raised_at) }),
      " — ",
      h("strong", { class: "ago", dataset: { raised: alarm.raised_at } }, t("ago", { duration: formatDuration(since(alarm)) })),
    ),
    acknowledged,
    personAcks,
    actions(alarm),
  );
}

function actions(alarm) {
  const buttons = [];
  if (alarm.post) {
    // At a district: the post's officer acknowledges and resolves, in front of the site.
    buttons.push(h("span", { class: "hint post-handles" }, t("post_handles")));
  } else if (can("officer")) {
    if (alarm.state === "active") {
      // What was done, said in a few words with the acknowledgement ("đã điều tổ tuần tra").
      buttons.push(h("input", {
        type: "text",
        class: "ack-note",
        maxlength: 500,
        "aria-label": t("ack_note"),
        placeholder: t("ack_note"),
        dataset: { focus: `note-${alarm.id}`, alarm: alarm.id },
      }));
      buttons.push(h("button", {
        type: "button",
        class: "primary big ack",
        dataset: { focus: `ack-${alarm.id}` },
        onclick: (event) => acknowledge(alarm.id, event.currentTarget),
      }, t("acknowledge")));
    }
    const blocked = alarm.state === "active" && !can("admin");
    buttons.push(h("button", {
      type: "button",
      class: "resolve",
      disabled: blocked,
      "aria-describedby": blocked ? `hint-${alarm.id}` : null,
      dataset: { focus: `resolve-${alarm.id}` },
      onclick: () => openResolve(alarm.id),
    }, t("resolve")));
    if (blocked) buttons.push(h("span", { id: `hint-${alarm.id}`, class: "hint" }, t("resolve_needs_ack")));
  }
  buttons.push(h("button", {
    type: "button",
    class: "details",
    dataset: { focus: `details-${alarm.id}` },
    onclick: () => openDetail(alarm.id),
  }, t("details")));
  return h("div", { class: "actions" }, buttons);
}

export function renderAlarms() {
  const list = $("alarms");
  const focused = document.activeElement?.dataset?.focus;
  // A card is drawn again on every change: keep what the officer was typing in its note.
  const typed = new Map([...list.querySelectorAll(".ack-note")].map((input) => [input.dataset.alarm, input.value]));
  list.replaceChildren(...orderedAlarms().map(card));
  for (const input of list.querySelectorAll(".ack-note")) input.value = typed.get(input.dataset.alarm) ?? "";
  if (focused) list.querySelector(`[data-focus="${CSS.escape(focused)}"]`)?.focus();
  $("alarm-count").textContent = String(state.alarms.size);
  show($("no-alarms"), state.alarms.size === 0);
  show($("viewer-note"), !can("officer"));
}

/** Every second: the "… ago" of each card. */
export function tick() {
  for (const node of document.querySelectorAll(".ago[data-raised]")) {
    node.textContent = t("ago", { duration: formatDuration((hubNow() - Date.parse(node.dataset.raised)) / 1000) });
  }
}

// -- troubles ------------------------------------------------------------------------------------

export function renderTroubles() {
  const seen = seenTroubles();
  const troubles = [...state.troubles.values()].sort((a, b) => Date.parse(b.raised_at) - Date.parse(a.raised_at));
  $("troubles").replaceChildren(...troubles.map((trouble) => h(
    "li",
    { class: seen.has(troubleKey(trouble)) ? "trouble seen" : "trouble", dataset: { kind: trouble.kind } },
    h("strong", { class: "what" }, tOr(`trouble.${trouble.kind}`, t("trouble.other"))),
    h("span", { class: "subject" }, ` — ${troubleSubject(trouble)}`),
    h("span", { class: "when" }, ` ${t("trouble_since", { time: formatTime(trouble.raised_at) })}`),
    h("p", { class: "help" }, troubleHelp(trouble)),
    trouble.detail && h(
      "details",
      { class: "tech" },
      h("summary", {}, t("tech_detail")),
      h("code", { lang: "en" }, `${trouble.kind}: ${trouble.detail}`),
    ),
    troubleActions(trouble),
  )));
  $("trouble-count").textContent = String(troubles.length);
  show($("no-troubles"), troubles.length === 0);
  show($("troubles-seen"), troubles.some((trouble) => !seen.has(troubleKey(trouble))));
}

/** What the trouble is about, for people: a button with its site, a site, or the server. */
function troubleSubject(trouble) {
  if (trouble.subject === "hub") return t("subject_hub");
  if (trouble.kind === "post_silent") return t("subject_post", { name: trouble.subject });
  const site = state.sites.get(trouble.subject);
  if (trouble.kind === "site_test_mode" || (site && !state.devices.has(trouble.subject))) {
    return t("subject_site", { name: site?.name ?? trouble.subject });
  }
  const siteName = state.devices.get(trouble.subject)?.site_name ?? (trouble.site_id && state.sites.get(trouble.site_id)?.name);
  return siteName ? `${buttonName(trouble.subject)}, ${siteName}` : buttonName(trouble.subject);
}

/** What it means and what to do, in the page's language (the hub's detail is for technicians). */
function troubleHelp(trouble) {
  if (trouble.kind === "low_battery") {
    const level = /battery (\d+)%/.exec(trouble.detail ?? "");
    if (level) return t("help.low_battery_level", { battery: level[1] });
  }
  const help = tOr(`help.${trouble.kind}`, t("help.other"));
  const record = trouble.kind === "test_mode" ? state.devices.get(trouble.subject)
    : trouble.kind === "site_test_mode" ? state.sites.get(trouble.subject) : null;
  return record?.test_until ? `${help} ${t("test_ends_sentence", { time: formatTime(record.test_until) })}` : help;
}

// -- acknowledge, resolve, details --------------------------------------------------------------------

async function acknowledge(alarmId, button) {
  button.disabled = true;
  const note = button.closest(".actions")?.querySelector(".ack-note")?.value.trim();
  try {
    const alarm = await api("POST", `/api/v1/alarms/${encodeURIComponent(alarmId)}/ack`, note ? { note } : {});
    if (putAlarm(alarm)) document.dispatchEvent(new CustomEvent("chuong:alarms"));
  } catch (error) {
    button.disabled = false;
    onError(error);
  }
}

let resolving = null;

function openResolve(alarmId) {
  resolving = alarmId;
  const form = $("resolve-form");
  form.reset();
  $("resolve-error").textContent = "";
  $("resolve-title").textContent = t("resolve_title", { id: alarmId });
  $("resolve-dialog").showModal();
  form.querySelector("input[name=outcome]").focus();
}

async function submitResolve(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const outcome = form.querySelector("input[name=outcome]:checked")?.value;
  const note = $("resolve-note").value.trim();
  const problem = !outcome ? t("outcome_required") : !note ? t("note_required") : "";
  $("resolve-error").textContent = problem;
  if (problem) {
    (outcome ? $("resolve-note") : form.querySelector("input[name=outcome]")).focus();
    return;
  }
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    const alarm = await api("POST", `/api/v1/alarms/${encodeURIComponent(resolving)}/resolve`, { outcome, note });
    if (putAlarm(alarm)) document.dispatchEvent(new CustomEvent("chuong:alarms"));
    $("resolve-dialog").close();
    $("main").focus();
  } catch (error) {
    $("resolve-error").textContent = error.describe();
  } finally {
    submit.disabled = false;
  }
}

function table(headings, rows) {
  return labelCells(h(
    "table",
    { class: "grid" },
    h("thead", {}, h("tr", {}, headings.map((heading) => h("th", { scope: "col" }, heading)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell))))),
  ));
}

function describeDetail(detail) {
  const parts = [];
  if (detail.outcome) parts.push(tOr(`outcome_${detail.outcome}`, detail.outcome));
  if (detail.note) parts.push(detail.note);
  if (detail.button) parts.push(buttonName(detail.button));
  // Event ids and the like are for technicians: folded away, in their own words.
  const rest = Object.entries(detail).filter(([name]) => !["outcome", "note", "button"].includes(name));
  return [
    parts.join(" · "),
    rest.length > 0 && h(
      "details",
      { class: "tech" },
      h("summary", {}, t("tech_detail")),
      h("code", { lang: "en" }, rest.map(([name, value]) => `${name}: ${typeof value === "object" ? JSON.stringify(value) : value}`).join("; ")),
    ),
  ];
}

export async function openDetail(alarmId) {
  let alarm;
  try {
    alarm = await api("GET", `/api/v1/alarms/${encodeURIComponent(alarmId)}`);
  } catch (error) {
    onError(error);
    return;
  }
  $("detail-title").textContent = t("detail_title", { id: alarm.id });
  const parts = [
    h("p", {}, h("strong", {}, alarm.site ? alarm.site.name : t("unknown_site")), ` — ${t(`state_${alarm.state}`)}`,
      alarm.outcome && ` — ${t(`outcome_${alarm.outcome}`)}`),
    alarm.note && h("p", {}, `${t("note_short")}: ${alarm.note}`),
    h("h3", {}, t("audit_trail")),
    table(
      [t("time"), t("by"), t("action"), t("note_short")],
      alarm.audit.map((entry) => [
        formatTime(entry.ts),
        who(entry.actor),
        tOr(`action.${entry.action}`, entry.action),
        describeDetail(entry.detail),
      ]),
    ),
    h("h3", {}, t("press_list")),
    table(
      [t("time"), t("buttons"), t("type"), t("battery")],
      alarm.presses.map((press) => [
        formatTime(press.received_at),
        buttonName(press.button_id),
        press.type,
        press.battery === null ? "" : `${press.battery} %`,
      ]),
    ),
  ];
  $("detail-body").replaceChildren(...parts.filter(Boolean));
  $("detail-dialog").showModal();
  $("detail-close").focus();
}
