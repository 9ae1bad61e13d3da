// The duty officer's page: login, the live stream, the views, and the signals (sound, title,
// favicon) that make an alarm impossible to miss.
//
// Staying live: the page listens to /api/v1/stream (EventSource) and checks /readyz every few
// seconds. If either fails, a red banner says the hub is lost (the page cannot hear alarms), the
// stream is opened again with a growing delay, and every list is loaded again once it answers.

import { initAdmin, initUsers, showUsers } from "./admin.js";
import { api, ApiError, setCsrfToken, whenSessionEnds } from "./api.js";
import {
  initBoard, renderAlarms, renderTroubles, setClockSkew, tick, unacknowledged,
  unseenTroubles, whenTroublesSeen,
} from "./board.js";
import { $, h, show } from "./dom.js";
import { formatTime, initialLanguage, LANGUAGES, language, setLanguage, setTimeZone, t } from "./i18n.js";
import { Sound } from "./sound.js";
import { putAlarm, putTrouble, replaceLists, state } from "./state.js";
import {
  initTables, renderButtons, renderSiteChoices, renderSites, searchHistory,
} from "./tables.js";

const READY_EVERY_MS = 5000;
const READY_TIMEOUT_MS = 4000;
const SESSION_CHECK_MS = 60000;
const SESSION_WARN_MS = 60 * 60 * 1000;
const RECONNECT_MAX_MS = 5000;
const NIGHT_KEY = "chuong.night";

const connection = {
  stream: null,
  live: false,
  lostSince: null,
  retryMs: 500,
  retryTimer: null,
  reloading: null,
  buffered: [],
  brokerLost: false,
};
let currentView = "board";
const timers = [];
let sound = null;
let flashOn = false;

// -- start ----------------------------------------------------------------------------------------

/** Night mode: dark surfaces for a dim room; kept by the browser. */
function setNight(on, remember) {
  document.documentElement.classList.toggle("night", on);
  $("night").setAttribute("aria-pressed", String(on));
  if (remember) {
    try {
      localStorage.setItem(NIGHT_KEY, on ? "on" : "off");
    } catch {
      // private mode: night until reloaded
    }
  }
}

function nightWanted() {
  try {
    return localStorage.getItem(NIGHT_KEY) === "on";
  } catch {
    return false;
  }
}

async function boot() {
  setNight(nightWanted(), false);
  applyLanguage(initialLanguage("vi"), false);
  fillLanguageChoices();
  whenSessionEnds(() => sessionEnded(t("session_expired")));
  sound = new Sound(updateSignals);
  // Turned on before in this browser: on again without a click if the browser allows it (a kiosk
  // started with autoplay allowed); else the first click or key anywhere in the page does it.
  sound.resumeIfWanted();
  for (const type of ["pointerdown", "keydown"]) {
    document.addEventListener(type, () => {
      if (sound.wanted && !sound.enabled) sound.enable().then(updateSignals, () => {});
    }, { capture: true });
  }
  initBoard(reportError);
  initTables(reportError);
  initAdmin(renderAll);
  initUsers(reportError);
  whenTroublesSeen(updateSignals);
  wireControls();
  try {
    startApp(await api("GET", "/api/v1/session"));
  } catch (error) {
    showLogin(error instanceof ApiError && error.status === 401 ? "" : error.describe());
  }
}

function fillLanguageChoices() {
  for (const select of document.querySelectorAll(".lang-select")) {
    select.replaceChildren(...Object.entries(LANGUAGES).map(([code, name]) => h("option", { value: code, lang: code }, name)));
    select.value = language();
    select.addEventListener("change", () => applyLanguage(select.value, true));
  }
}

function applyLanguage(code, remember) {
  setLanguage(code, remember);
  for (const select of document.querySelectorAll(".lang-select")) select.value = language();
  if (state.me) {
    renderAll();
    showWho();
  }
  showConnection();
}

function wireControls() {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("enable-sound").addEventListener("click", async () => {
    await sound.enable();
    updateSignals();
  });
  $("error-close").addEventListener("click", () => show($("error-banner"), false));
  $("night").addEventListener("click", () => setNight(!document.documentElement.classList.contains("night"), true));
  $("alarm-banner-go").addEventListener("click", () => {
    selectView("board");
    $("tab-board").focus();
  });
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => selectView(tab.dataset.view));
    tab.addEventListener("keydown", moveBetweenTabs);
  }
  document.addEventListener("chuong:alarms", () => {
    renderAlarms();
    updateSignals();
  });
}

// -- login and logout -------------------------------------------------------------------------------

function showLogin(message) {
  show($("app"), false);
  show($("login"), true);
  $("login-message").textContent = message;
  $("login-password").value = "";
  $("login-username").focus();
}

async function login(event) {
  event.preventDefault();
  const username = $("login-username").value.trim();
  const password = $("login-password").value;
  if (!username || !password) {
    $("login-message").textContent = t("bad_credentials");
    return;
  }
  const submit = $("login-submit");
  submit.disabled = true;
  submit.textContent = t("logging_in");
  try {
    startApp(await api("POST", "/login", { username, password }));
  } catch (error) {
    let message = error.describe();
    if (error.code === "bad_credentials") message = t("bad_credentials");
    if (error.code === "rate_limited") message = t("rate_limited", { minutes: Math.max(1, Math.round(error.retryAfter / 60)) });
    $("login-message").textContent = message;
    $("login-password").select();
  } finally {
    submit.disabled = false;
    submit.textContent = t("login");
  }
}

async function logout() {
  try {
    await api("DELETE", "/api/v1/session");
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) {
      reportError(error);
      return;
    }
  }
  sessionEnded("");
}

function sessionEnded(message) {
  stopApp();
  showLogin(message);
}

// -- the app ----------------------------------------------------------------------------------------

function startApp(me) {
  state.me = me;
  setCsrfToken(me.csrf_token);
  setTimeZone(me.hub.timezone);
  applyLanguage(initialLanguage(me.hub.language), false);
  $("post-name").textContent = me.hub.name;
  document.body.dataset.role = me.role; // admin-only controls show for admins only
  show($("login"), false);
  show($("app"), true);
  showWho();
  selectView("board");
  connection.lostSince = null;
  openStream();
  timers.push(setInterval(tick, 1000));
  timers.push(setInterval(flash, 1000));
  timers.push(setInterval(checkReady, READY_EVERY_MS));
  timers.push(setInterval(checkSession, SESSION_CHECK_MS));
  showSessionNotice();
  updateSignals();
}

function stopApp() {
  closeStream();
  clearTimeout(connection.retryTimer);
  for (const timer of timers.splice(0)) clearInterval(timer);
  state.me = null;
  setCsrfToken(null);
  state.alarms.clear();
  state.troubles.clear();
  sound.setMode("quiet");
  document.title = t("app_title");
  setFavicon(false);
}

function showWho() {
  const user = state.names.get(state.me.username) || state.me.username;
  $("who").textContent = t("signed_in_as", { user, role: t(`role_${state.me.role}`) });
}

function selectView(name) {
  currentView = name;
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.view === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    show($(`view-${tab.dataset.view}`), selected);
  }
  if (name === "history") searchHistory(false);
  if (name === "users") showUsers(reportError);
  updateSignals();
}

function moveBetweenTabs(event) {
  const tabs = [...document.querySelectorAll("[role=tab]")].filter((tab) => tab.checkVisibility());
  const at = tabs.indexOf(event.currentTarget);
  const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
  if (step === undefined) return;
  const next = tabs[(at + step + tabs.length) % tabs.length];
  next.focus();
  selectView(next.dataset.view);
}

function renderAll() {
  renderAlarms();
  renderTroubles();
  renderSiteChoices();
  renderButtons();
  renderSites();
}

function reportError(error) {
  $("error-text").textContent = error instanceof ApiError ? error.describe() : String(error);
  show($("error-banner"), true);
}

// -- the live stream and the connection ---------------------------------------------------------------

function openStream() {
  closeStream();
  const stream = new EventSource("/api/v1/stream");
  connection.stream = stream;
  stream.addEventListener("hello", () => reloadLists());
  stream.addEventListener("alarm", (event) => onEvent("alarm", event.data));
  stream.addEventListener("trouble", (event) => onEvent("trouble", event.data));
  stream.addEventListener("device", (event) => onEvent("device", event.data));
  stream.addEventListener("broker", (event) => setBrokerLost(!JSON.parse(event.data).connected));
  stream.addEventListener("error", () => {
    if (connection.stream !== stream) return;
    markLost();
    if (stream.readyState === EventSource.CLOSED) reconnectLater();
  });
}

function closeStream() {
  if (connection.stream) connection.stream.close();
  connection.stream = null;
}

function reconnectLater() {
  clearTimeout(connection.retryTimer);
  connection.retryTimer = setTimeout(async () => {
    try {
      await api("GET", "/api/v1/session"); // a 401 here ends the session and shows the login
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
    }
    if (state.me) openStream();
  }, connection.retryMs);
  connection.retryMs = Math.min(RECONNECT_MAX_MS, connection.retryMs * 2);
}

async function reloadLists() {
  const reload = Promise.all([
    api("GET", "/api/v1/alarms?state=active,acknowledged&limit=1000"),
    api("GET", "/api/v1/troubles"),
    api("GET", "/api/v1/devices"),
    api("GET", "/api/v1/sites"),
    api("GET", "/api/v1/users/names"),
  ]);
  connection.reloading = reload;
  connection.buffered = [];
  try {
    const [alarms, troubles, devices, sites, names] = await reload;
    replaceLists({ alarms, troubles, devices, sites, names });
    showWho();
    for (const [kind, data] of connection.buffered) apply(kind, data);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) {
      markLost();
      closeStream();
      reconnectLater();
    }
    return;
  } finally {
    connection.reloading = null;
    connection.buffered = [];
  }
  connection.live = true;
  connection.lostSince = null;
  connection.retryMs = 500;
  showConnection();
  renderAll();
  updateSignals();
  checkReady(); // the broker's state now, not in 5 s
}

function onEvent(kind, data) {
  if (connection.reloading) connection.buffered.push([kind, data]);
  const changed = apply(kind, data);
  if (!changed) return;
  if (kind === "alarm") {
    renderAlarms();
    if (changed === "new") announce(JSON.parse(data));
  } else if (kind === "trouble") {
    renderTroubles();
    // A site's test mode began or ended (perhaps by itself): the sites list says so too.
    if (JSON.parse(data).kind === "site_test_mode") refreshSites();
  } else {
    renderButtons();
    // A site's test mode changed (its buttons are told): the sites list says so too.
    if (changed === "test_mode") refreshSites();
  }
  updateSignals();
}

async function refreshSites() {
  try {
    const sites = await api("GET", "/api/v1/sites");
    state.sites = new Map(sites.map((site) => [site.id, site]));
    renderSites();
    renderSiteChoices();
  } catch {
    // a lost hub shows as such; the lists are loaded again when it is back
  }
}

function apply(kind, data) {
  const record = JSON.parse(data);
  if (kind === "alarm") return putAlarm(record);
  if (kind === "trouble") return putTrouble(record);
  const before = state.devices.get(record.id);
  state.devices.set(record.id, record);
  const testChanged = before && (before.test_mode !== record.test_mode || before.test_until !== record.test_until);
  return testChanged ? "test_mode" : true;
}

function announce(alarm) {
  $("announcer").textContent = t("new_alarm", { site: alarm.site ? alarm.site.name : t("unknown_site") });
}

function markLost() {
  connection.live = false;
  connection.lostSince ??= new Date();
  showConnection();
  updateSignals();
}

async function checkReady() {
  const controller = new AbortController();
  const timeout = setTimeout(() => controller.abort(), READY_TIMEOUT_MS);
  try {
    const response = await fetch("/readyz", { cache: "no-store", signal: controller.signal });
    const hubDate = Date.parse(response.headers.get("Date"));
    if (!Number.isNaN(hubDate)) setClockSkew(hubDate - Date.now());
    const body = await response.json();
    setBrokerLost((body.reasons ?? []).some((reason) => reason.startsWith("broker")));
    // The hub answers, but the stream may have died without a word (a half-open connection).
    if (!connection.live && connection.stream?.readyState !== EventSource.CONNECTING) openStream();
  } catch {
    markLost();
    closeStream();
    reconnectLater();
  } finally {
    clearTimeout(timeout);
  }
}

async function checkSession() {
  try {
    const me = await api("GET", "/api/v1/session");
    state.me.expires_at = me.expires_at;
    showSessionNotice();
  } catch {
    // a 401 has already shown the login; a network error shows as a lost hub
  }
}

function showSessionNotice() {
  const ends = state.me?.expires_at ? Date.parse(state.me.expires_at) : null;
  const soon = ends !== null && ends - Date.now() < SESSION_WARN_MS;
  $("session-banner").textContent = soon ? t("session_ends_soon", { time: formatTime(state.me.expires_at) }) : "";
  show($("session-banner"), soon);
}

/** The hub answers but has lost its broker: no press can reach it. Never shown as "connected". */
function setBrokerLost(lost) {
  connection.brokerLost = lost;
  show($("broker-banner"), lost);
  showConnection();
}

function showConnection() {
  const conn = $("conn");
  const lost = connection.lostSince !== null;
  const live = connection.live ? (connection.brokerLost ? "degraded" : "live") : null;
  conn.dataset.state = live ?? (lost ? "lost" : "connecting");
  conn.textContent = t(live ? `conn_${live}` : lost ? "conn_lost" : "conn_connecting");
  show($("lost-banner"), lost);
  if (lost) $("lost-banner").textContent = t("lost_banner", { time: formatTime(connection.lostSince.toISOString()) });
}

// -- signals: sound, title, favicon ------------------------------------------------------------------

function updateSignals() {
  if (!sound) return;
  const waiting = unacknowledged();
  const lost = connection.lostSince !== null && state.me !== null;
  let mode = "quiet";
  if (waiting.real.length) mode = "alarm";
  else if (waiting.test.length) mode = "test";
  else if (lost || unseenTroubles().length) mode = "trouble";
  sound.setMode(state.me ? mode : "quiet", waiting.real[0]?.kind);
  const gate = !sound.enabled && state.me !== null;
  const count = waiting.real.length + waiting.test.length;
  show($("sound-gate"), gate);
  if (gate) {
    // Why there is no sound: never heard yet, lost with a reload, or (worst) an alarm is waiting.
    const reason = count ? "alarm" : sound.wanted ? "reload" : "first";
    $("sound-gate").dataset.reason = reason;
    $("sound-gate-text").textContent = t(`sound_gate_${reason}`);
  }
  show($("sound-state"), sound.enabled);
  document.body.classList.toggle("alarming", count > 0);
  showAlarmBanner(waiting);
  flash();
}

/** Away from the board, a waiting alarm is a banner over every view with one click back to the
 * board; the board's tab shows how many wait. */
function showAlarmBanner(waiting) {
  const all = [...waiting.real, ...waiting.test];
  const badge = $("board-count");
  badge.textContent = all.length ? String(all.length) : "";
  show(badge, all.length > 0 && state.me !== null);
  const banner = $("alarm-banner");
  const away = currentView !== "board" && all.length > 0 && state.me !== null;
  show(banner, away);
  banner.classList.toggle("is-test", waiting.real.length === 0);
  if (!away) return;
  const names = [...new Set(all.map((alarm) => (alarm.site ? alarm.site.name : t("unknown_site"))))];
  const shown = names.slice(0, 2).join(", ");
  const sites = names.length > 2 ? t("alarm_banner_more", { sites: shown, n: names.length - 2 }) : shown;
  $("alarm-banner-text").textContent = t("alarm_banner", { sites });
}

function flash() {
  const waiting = unacknowledged();
  const count = waiting.real.length + waiting.test.length;
  const normal = state.me ? `${state.me.hub.name} — ${t("app_title")}` : t("app_title");
  if (!count) {
    document.title = normal;
    setFavicon(false);
    return;
  }
  flashOn = !flashOn;
  document.title = flashOn ? t("title_alarm", { n: count }) : normal;
  setFavicon(flashOn);
}

const favicons = {};

function setFavicon(alarm) {
  const key = alarm ? "alarm" : "normal";
  if (!favicons[key]) {
    const canvas = document.createElement("canvas");
    canvas.width = 32;
    canvas.height = 32;
    const draw = canvas.getContext("2d");
    draw.fillStyle = alarm ? "#c00000" : "#1f3a5f";
    draw.beginPath();
    draw.arc(16, 16, 15, 0, 2 * Math.PI);
    draw.fill();
    draw.fillStyle = "#ffffff";
    draw.font = "bold 22px sans-serif";
    draw.textAlign = "center";
    draw.textBaseline = "middle";
    draw.fillText(alarm ? "!" : "C", 16, 17);
    favicons[key] = canvas.toDataURL("image/png");
  }
  const link = $("favicon");
  if (link.href !== favicons[key]) link.href = favicons[key];
  link.dataset.state = key;
}

boot();
