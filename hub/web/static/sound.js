// Alarm sounds generated with Web Audio: no sound file, nothing to download.
//
//   alarm    a loud siren while a real alarm is not acknowledged, its tune by the alarm's kind
//            (the first waiting alarm's): a hold-up the two-tone siren every second, a fire three
//            quick beeps, a medical call a slow high-low, assistance two beeps, a loss of
//            communication three falling tones
//   test     a single mid beep every 4 s, while only test alarms are not acknowledged
//   trouble  a soft chime every 15 s, while a technical trouble has not been marked seen
//   quiet    nothing
//
// Browsers keep a page silent until the person clicks in it, so `enable()` must be called from a
// click (the "turn on the sound" gate). The choice is remembered in the browser (local storage):
// after a reload `resumeIfWanted()` turns the sound on without a click where the browser allows it
// (a kiosk started with --autoplay-policy=no-user-gesture-required), and the page asks for a click
// where it does not. `document.body.dataset.sound` says what is playing, and
// `dataset.tones` counts the tones played, and `dataset.soundKind` names the alarm tune, for people
// debugging the page and for the tests.

const WANTED_KEY = "chuong.sound";

const PATTERNS = {
  alarm: {
    every: 1000,
    tones: [
      { at: 0, freq: 960, length: 0.4, wave: "square", gain: 0.35 },
      { at: 0.45, freq: 720, length: 0.4, wave: "square", gain: 0.35 },
    ],
  },
  test: { every: 4000, tones: [{ at: 0, freq: 660, length: 0.3, wave: "triangle", gain: 0.25 }] },
  trouble: {
    every: 15000,
    tones: [
      { at: 0, freq: 523, length: 0.35, wave: "sine", gain: 0.18 },
      { at: 0.4, freq: 659, length: 0.5, wave: "sine", gain: 0.18 },
    ],
  },
};

const beep = (at, freq, length = 0.2, wave = "square") => ({ at, freq, length, wave, gain: 0.35 });

/** The alarm tune of each kind; a kind not listed sounds as a hold-up. */
const KIND_PATTERNS = {
  holdup: PATTERNS.alarm,
  fire: { every: 1500, tones: [beep(0, 880), beep(0.3, 880), beep(0.6, 880)] },
  medical: { every: 1400, tones: [beep(0, 880, 0.6, "sawtooth"), beep(0.65, 660, 0.6, "sawtooth")] },
  assistance: { every: 1200, tones: [beep(0, 740, 0.3), beep(0.45, 740, 0.3)] },
  comm_loss: { every: 1600, tones: [beep(0, 800, 0.35), beep(0.4, 600, 0.35), beep(0.8, 450, 0.35)] },
};

export class Sound {
  constructor(onStateChange) {
    this.context = null;
    this.mode = "quiet";
    this.kind = "holdup";
    this.timer = null;
    this.tones = 0;
    this.onStateChange = onStateChange;
    this.show();
  }

  get enabled() {
    return this.context !== null && this.context.state === "running";
  }

  /** The person turned the sound on in this browser (and it stays their wish across reloads). */
  get wanted() {
    try {
      return localStorage.getItem(WANTED_KEY) === "on";
    } catch {
      return false;
    }
  }

  createContext() {
    if (this.context !== null) return;
    this.context = new AudioContext();
    this.context.addEventListener("statechange", () => {
      this.restart();
      this.onStateChange();
    });
  }

  /** Called from a click: create (or wake) the audio context, and remember the wish. */
  async enable() {
    try {
      localStorage.setItem(WANTED_KEY, "on");
    } catch {
      // private mode: the sound is on until the page is reloaded
    }
    this.createContext();
    await this.context.resume();
    this.restart();
    this.onStateChange();
  }

  /** At start: on again if it was on before and the browser lets a page play without a click. */
  resumeIfWanted() {
    if (!this.wanted || this.enabled) return;
    this.createContext();
    // Without the browser's leave this stays pending (or fails): the page then shows the gate.
    this.context.resume().then(() => {
      this.restart();
      this.onStateChange();
    }, () => {});
    this.restart();
  }

  /** What to play: `alarm` (with the kind of alarm it is about), `test`, `trouble` or `quiet`. */
  setMode(mode, kind = "holdup") {
    const tune = mode === "alarm" && KIND_PATTERNS[kind] ? kind : "holdup";
    if (mode === this.mode && tune === this.kind) return;
    this.mode = mode;
    this.kind = tune;
    this.restart();
  }

  pattern() {
    return this.mode === "alarm" ? KIND_PATTERNS[this.kind] : PATTERNS[this.mode];
  }

  restart() {
    clearInterval(this.timer);
    this.timer = null;
    const pattern = this.pattern();
    if (pattern && this.enabled) {
      this.play(pattern);
      this.timer = setInterval(() => this.play(pattern), pattern.every);
    }
    this.show();
  }

  play(pattern) {
    if (!this.enabled) return;
    const start = this.context.currentTime + 0.02;
    for (const tone of pattern.tones) {
      const oscillator = this.context.createOscillator();
      const gain = this.context.createGain();
      oscillator.type = tone.wave;
      oscillator.frequency.value = tone.freq;
      const begin = start + tone.at;
      const end = begin + tone.length;
      // Short ramps in and out: no clicks, same loudness.
      gain.gain.setValueAtTime(0, begin);
      gain.gain.linearRampToValueAtTime(tone.gain, begin + 0.02);
      gain.gain.setValueAtTime(tone.gain, end - 0.03);
      gain.gain.linearRampToValueAtTime(0, end);
      oscillator.connect(gain).connect(this.context.destination);
      oscillator.start(begin);
      oscillator.stop(end + 0.01);
      this.tones += 1;
    }
    this.show();
  }

  show() {
    document.body.dataset.sound = this.enabled ? (this.timer ? this.mode : "quiet") : "off";
    document.body.dataset.tones = String(this.tones);
    document.body.dataset.soundKind = this.mode === "alarm" ? this.kind : "";
  }
}
