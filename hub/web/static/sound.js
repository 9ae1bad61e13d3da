// Alarm sounds generated with Web Audio: no sound file, nothing to download.
//
//   alarm    a loud two-tone siren, every second, while a real alarm is not acknowledged
//   test     a single mid beep every 4 s, while only test alarms are not acknowledged
//   trouble  a soft chime every 15 s, while a technical trouble has not been marked seen
//   quiet    nothing
//
// Browsers keep a page silent until the person clicks in it, so `enable()` must be called from a
// click (the "turn on the sound" gate). `document.body.dataset.sound` says what is playing, and
// `dataset.tones` counts the tones played, for people debugging the page and for the tests.

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

export class Sound {
  constructor(onStateChange) {
    this.context = null;
    this.mode = "quiet";
    this.timer = null;
    this.tones = 0;
    this.onStateChange = onStateChange;
    this.show();
  }

  get enabled() {
    return this.context !== null && this.context.state === "running";
  }

  /** Called from a click: create (or wake) the audio context. */
  async enable() {
    if (this.context === null) {
      this.context = new AudioContext();
      this.context.addEventListener("statechange", () => {
        this.restart();
        this.onStateChange();
      });
    }
    await this.context.resume();
    this.restart();
    this.onStateChange();
  }

  setMode(mode) {
    if (mode === this.mode) return;
    this.mode = mode;
    this.restart();
  }

  restart() {
    clearInterval(this.timer);
    this.timer = null;
    const pattern = PATTERNS[this.mode];
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
  }
}
