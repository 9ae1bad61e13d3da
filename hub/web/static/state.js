// What the page knows, kept in step with the hub by the lists it loads and the live stream.
//
// Events and list answers can cross: a list read just before a change may arrive after the
// change's event. So a record only ever moves forwards (an alarm's state, press count and level
// never go back; a resolved alarm or a cleared trouble never comes back), and events that arrive
// while the lists are being reloaded are applied again on top of them.

export const state = {
  me: null,
  alarms: new Map(),
  resolved: new Set(),
  troubles: new Map(),
  cleared: new Set(),
  devices: new Map(),
  sites: new Map(),
  names: new Map(),
  /** user name -> the name people know them by (those who have one) */
};

const STATE_RANK = { active: 0, acknowledged: 1, resolved: 2 };

function rank(alarm) {
  return [
    STATE_RANK[alarm.state], alarm.press_count, alarm.level, alarm.devices.length,
    alarm.acks?.length ?? 0,
  ];
}

function older(a, b) {
  const [x, y] = [rank(a), rank(b)];
  for (let i = 0; i < x.length; i += 1) {
    if (x[i] !== y[i]) return x[i] < y[i];
  }
  return false;
}

/** Fold in an alarm; return "new", "changed" or null (nothing new). */
export function putAlarm(alarm) {
  if (state.resolved.has(alarm.id)) return null;
  if (alarm.state === "resolved") {
    state.resolved.add(alarm.id);
    return state.alarms.delete(alarm.id) ? "changed" : null;
  }
  const known = state.alarms.get(alarm.id);
  if (known && !older(known, alarm)) return null;
  state.alarms.set(alarm.id, alarm);
  return known ? "changed" : "new";
}

export function putTrouble(trouble) {
  if (trouble.state !== "open") {
    if (trouble.id) state.cleared.add(trouble.id);
    return state.troubles.delete(trouble.id || `${trouble.kind}:${trouble.subject}`);
  }
  if (state.cleared.has(trouble.id)) return false;
  state.troubles.set(trouble.id || `${trouble.kind}:${trouble.subject}`, trouble);
  return true;
}

/** Replace the lists with fresh ones (after a (re)connection). */
export function replaceLists({ alarms, troubles, devices, sites, names }) {
  state.names = new Map(Object.entries(names ?? {}).filter(([, name]) => name));
  const previous = state.alarms;
  state.alarms = new Map();
  for (const alarm of alarms) {
    const known = previous.get(alarm.id);
    state.alarms.set(alarm.id, known && older(alarm, known) ? known : alarm);
  }
  state.troubles = new Map();
  for (const trouble of troubles) putTrouble(trouble);
  state.devices = new Map(devices.map((device) => [device.id, device]));
  state.sites = new Map(sites.map((site) => [site.id, site]));
}
