// The buttons and sites tables with their filters, the history with its search and CSV export,
// and the printable monthly report.

import { buttonActions, isAdmin, siteActions, testModeText } from "./admin.js";
import { api } from "./api.js";
import { kindBadge, kindName, openDetail, phoneLink, who } from "./board.js";
import { $, h, labelCells, show } from "./dom.js";
import {
  currentMonth, formatDate, formatDuration, formatTime, localDayStart, nextDay, parseDay, t, zone,
} from "./i18n.js";
import { state } from "./state.js";

const LOW_BATTERY = 20;
const HISTORY_PAGE = 50;
let onError = () => {};
let historyOffset = 0;

export function initTables(reportError) {
  onError = reportError;
  for (const id of ["buttons-text", "buttons-site", "buttons-status"]) {
    $(id).addEventListener("input", renderButtons);
  }
  $("sites-text").addEventListener("input", renderSites);
  for (const form of ["buttons-filters", "sites-filters"]) {
    $(form).addEventListener("submit", (event) => event.preventDefault());
  }
  $("history-form").addEventListener("submit", (event) => {
    event.preventDefault();
    searchHistory(false);
  });
  $("history-more").addEventListener("click", () => searchHistory(true));
  $("report-form").addEventListener("submit", (event) => {
    event.preventDefault();
    showReport();
  });
  $("report-print").addEventListener("click", () => window.print());
}

const MONTHS_OFFERED = 36;

/** The report's months: this month (in the hub's zone) and the ones before, as "12/2026". */
function renderMonthChoices() {
  const select = $("report-month");
  const chosen = select.value;
  const [year, month] = currentMonth(new Date()).split("-").map(Number);
  const options = [];
  for (let back = 0; back < MONTHS_OFFERED; back += 1) {
    const date = new Date(Date.UTC(year, month - 1 - back, 1));
    const value = date.toISOString().slice(0, 7);
    const [y, m] = value.split("-");
    options.push(h("option", { value }, t("month_option", { m, y })));
  }
  select.replaceChildren(...options);
  select.value = chosen && options.some((option) => option.value === chosen) ? chosen : options[0].value;
}

function yesNo(value) {
  return value ? t("yes") : t("no");
}

/** The site filters list every site, with "all" first. */
export function renderSiteChoices() {
  const sites = [...state.sites.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const select of document.querySelectorAll(".site-select")) {
    const chosen = select.value;
    select.replaceChildren(
      h("option", { value: "" }, t("all")),
      ...sites.map((site) => h("option", { value: site.id }, site.name)),
    );
    select.value = chosen;
  }
  renderMonthChoices();
}

// -- buttons and sites ------------------------------------------------------------------------------

function status(device) {
  if (device.online === true) return "online";
  if (device.online === false) return "offline";
  return "unknown";
}

function matchesButton(device, text, site, wanted) {
  const haystack = `${device.id} ${device.label} ${device.site_name ?? ""}`.toLowerCase();
  if (text && !haystack.includes(text)) return false;
  if (site && device.site_id !== site) return false;
  if (!wanted) return true;
  if (wanted === "low_battery") return device.battery !== null && device.battery < LOW_BATTERY;
  if (wanted === "test") return device.test_mode;
  if (wanted === "unregistered") return !device.registered;
  return status(device) === wanted;
}

export function renderButtons() {
  const text = $("buttons-text").value.trim().toLowerCase();
  const site = $("buttons-site").value;
  const wanted = $("buttons-status").value;
  const all = [...state.devices.values()];
  const rows = all.filter((device) => matchesButton(device, text, site, wanted));
  $("buttons-table").tBodies[0].replaceChildren(...rows.map((device) => h(
    "tr",
    { dataset: { button: device.id, status: status(device) } },
    h("td", {}, device.id),
    h("td", {}, device.label),
    h("td", {}, device.site_name ?? ""),
    h("td", { class: "kind" }, kindBadge(device, true), Object.entries(device.press_patterns ?? {}).map(
      ([word, kind]) => ` ${word}: ${kindName(kind)}`,
    ).join(";")),
    h("td", { class: `status ${status(device)}` }, t(status(device))),
    h("td", { class: device.battery !== null && device.battery < LOW_BATTERY ? "low" : "" },
      device.battery === null ? "" : `${device.battery} %`),
    h("td", {}, formatTime(device.last_seen)),
    h("td", { class: "test-mode-state" }, testModeText(device, yesNo, formatTime)),
    h("td", {}, yesNo(device.registered)),
    isAdmin() && h("td", { class: "admin-actions" }, buttonActions(device, onError)),
  )));
  labelCells($("buttons-table"));
  $("buttons-shown").textContent = t("shown", { n: rows.length, total: all.length });
}

export function renderSites() {
  const text = $("sites-text").value.trim().toLowerCase();
  const all = [...state.sites.values()];
  const rows = all.filter((site) => `${site.name} ${site.address} ${site.phone} ${site.id}`.toLowerCase().includes(text));
  $("sites-table").tBodies[0].replaceChildren(...rows.map((site) => h(
    "tr",
    { dataset: { site: site.id } },
    h("td", {}, site.name),
    h("td", {}, site.address),
    h("td", {}, site.phone ? phoneLink(site.phone) : ""),
    h("td", {}, String(site.buttons.length)),
    h("td", { class: "test-mode-state" }, testModeText(site, yesNo, formatTime)),
    isAdmin() && h("td", { class: "admin-actions" }, siteActions(site, onError)),
  )));
  labelCells($("sites-table"));
  $("sites-shown").textContent = t("shown", { n: rows.length, total: all.length });
}

// -- history ------------------------------------------------------------------------------------

/** The search's parameters, or null (and the reason shown) when a date cannot be read. */
function historyFilters() {
  const params = new URLSearchParams();
  const site = $("history-site").value;
  const from = parseDay($("history-from").value);
  const to = parseDay($("history-to").value);
  const wrong = from === null ? $("history-from") : to === null ? $("history-to") : null;
  $("history-error").textContent = wrong ? t("bad_date", { value: wrong.value.trim() }) : "";
  if (wrong) {
    wrong.setAttribute("aria-invalid", "true");
    return null;
  }
  $("history-from").removeAttribute("aria-invalid");
  $("history-to").removeAttribute("aria-invalid");
  const outcome = $("history-outcome").value;
  const stateWanted = $("history-state").value;
  if (stateWanted) params.set("state", stateWanted);
  if (site) params.set("site", site);
  if (from) params.set("since", localDayStart(from));
  if (to) params.set("until", localDayStart(nextDay(to)));
  if (outcome) params.set("outcome", outcome);
  return params;
}

function historyRow(alarm) {
  const waited = alarm.acknowledged_at
    ? ` (${formatDuration((Date.parse(alarm.acknowledged_at) - Date.parse(alarm.raised_at)) / 1000)})`
    : "";
  return h(
    "tr",
    { dataset: { alarm: alarm.id } },
    h("td", {}, alarm.id, alarm.test && h("span", { class: "badge test small" }, t("test_flag"))),
    h("td", {}, formatTime(alarm.raised_at)),
    h("td", {}, alarm.post && h("strong", { class: "post-name" }, `${alarm.post.name || alarm.post.id}: `),
      alarm.site ? alarm.site.name : t("unknown_site")),
    h("td", { class: "kind" }, kindBadge(alarm, true)),
    h("td", {}, String(alarm.press_count)),
    h("td", {}, alarm.acknowledged_at ? `${who(alarm.acknowledged_by)}${waited}` : ""),
    h("td", {}, alarm.resolved_at ? `${formatTime(alarm.resolved_at)} — ${who(alarm.resolved_by)}` : t(`state_${alarm.state}`)),
    h("td", { class: "outcome" }, alarm.outcome ? t(`outcome_${alarm.outcome}`) : ""),
    h("td", { class: "note" }, alarm.note ?? ""),
    h("td", {}, h("button", { type: "button", onclick: () => openDetail(alarm.id) }, t("details"))),
  );
}

export async function searchHistory(more) {
  const params = historyFilters();
  if (params === null) return;
  $("history-export").href = `/api/v1/reports/alarms.csv?${params}`;
  historyOffset = more ? historyOffset : 0;
  params.set("limit", String(HISTORY_PAGE));
  params.set("offset", String(historyOffset));
  let alarms;
  try {
    alarms = await api("GET", `/api/v1/alarms?${params}`);
  } catch (error) {
    onError(error);
    return;
  }
  const body = $("history-table").tBodies[0];
  const rows = alarms.map(historyRow);
  if (more) body.append(...rows);
  else body.replaceChildren(...rows);
  historyOffset += alarms.length;
  labelCells($("history-table"));
  show($("history-empty"), body.rows.length === 0);
  show($("history-more"), alarms.length === HISTORY_PAGE);
}

// -- the monthly report -----------------------------------------------------------------------------

function seconds(value) {
  return value === null ? "—" : formatDuration(value);
}

/** One row: every alarm counted once, either as a real alarm (then by how it ended) or as a
 * test (a test press, or a real alarm the officer resolved as "test"). An alarm still waiting
 * for someone is not (yet) "never acknowledged". */
function reportRow(name, figures, className = "") {
  const outcomes = figures.outcomes;
  const neverAcknowledged = figures.ack.unacknowledged - (figures.ack.waiting ?? 0);
  return h(
    "tr",
    { class: className },
    h("th", { scope: "row" }, name),
    h("td", { class: "alarms" }, String(figures.alarms - outcomes.test)),
    h("td", {}, String(outcomes.genuine)),
    h("td", { class: "false-alarms" }, String(outcomes.false_alarm)),
    h("td", {}, String(outcomes.other)),
    h("td", {}, String(outcomes.open)),
    h("td", { class: "tests" }, String(figures.tests + outcomes.test)),
    h("td", {}, seconds(figures.ack.median_s)),
    h("td", {}, seconds(figures.ack.max_s)),
    h("td", {}, `${figures.ack.within_30s} / ${figures.ack.within_60s}`),
    h("td", { class: "unacked" }, String(neverAcknowledged)),
    h("td", { class: "false-12m" }, String(figures.false_alarms_12m)),
  );
}

export async function showReport() {
  const params = new URLSearchParams({ month: $("report-month").value });
  if ($("report-site").value) params.set("site", $("report-site").value);
  let report;
  try {
    report = await api("GET", `/api/v1/reports/monthly?${params}`);
  } catch (error) {
    onError(error);
    return;
  }
  const [year, month] = report.month.split("-");
  const headings = [
    t("site"), t("col_alarms"), t("outcome_genuine"), t("outcome_false_alarm"),
    t("col_other"), t("outcome_open"), t("col_tests"),
    t("col_ack_median"), t("col_ack_max"), t("col_within"), t("col_unacked"), t("col_false_12m"),
  ];
  $("report").replaceChildren(
    h("h2", {}, t("report_title", { month: `${month}/${year}`, post: state.me.hub.name })),
    h("p", {}, t("report_period", {
      from: formatDate(new Date(report.start)),
      to: formatDate(new Date(report.end)),
      tz: zone(),
      generated: formatTime(report.generated_at),
    })),
    h(
      "table",
      { class: "grid report" },
      h("thead", {}, h("tr", {}, headings.map((heading) => h(
        "th",
        { scope: "col", title: heading === t("col_tests") ? t("col_tests_title") : null },
        heading,
      )))),
      h(
        "tbody",
        {},
        report.sites.map((site) => reportRow(site.site_id === null ? t("unregistered_buttons") : site.site_name, site)),
      ),
      h("tfoot", {}, reportRow(t("total"), report.total, "total")),
    ),
    h("h3", {}, t("report_kinds")),
    h(
      "table",
      { class: "grid report kinds", id: "report-kinds" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("kind")), h("th", { scope: "col" }, t("col_kind_alarms")))),
      h(
        "tbody",
        {},
        Object.entries(report.total.kinds ?? {}).map(([kind, count]) => h(
          "tr",
          { dataset: { kind } },
          h("th", { scope: "row" }, kindName(kind)),
          h("td", { class: "count" }, String(count)),
        )),
      ),
    ),
  );
  for (const table of $("report").querySelectorAll("table")) labelCells(table);
  $("report-print").disabled = false;
}
