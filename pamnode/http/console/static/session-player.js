// Playback of a session's recording (the Guacamole protocol dump guacd wrote): play and
// pause, a seek bar, the elapsed and total time, and the speed.
import Guacamole from "/static/guacamole-common.min.js";

const host = document.getElementById("recording-display");
const status = document.getElementById("recording-state");
const toggle = document.getElementById("recording-play");
const seekBar = document.getElementById("recording-seek");
const clock = document.getElementById("recording-time");
const speed = document.getElementById("recording-speed");

const recording = new Guacamole.SessionRecording(
  new Guacamole.StaticHTTPTunnel(host.dataset.recording),
);
host.appendChild(recording.getDisplay().getElement());
// Read by the browser tests; nothing in the page depends on it.
window.pamnodeRecording = recording;

// guacamole-common-js plays at the recorded pace only; faster speeds step through the
// recording by seeking ahead, one seek after the other has drawn.
const STEP_MS = 200;
let stepping = null;

function minutes(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function show(state, words) {
  host.dataset.state = state;
  status.textContent = words;
  const playing = state === "playing";
  toggle.textContent = playing ? "Pause" : "Play";
  toggle.setAttribute("aria-pressed", String(playing));
}

function showPosition(position) {
  const duration = recording.getDuration();
  seekBar.value = String(position);
  clock.textContent = `${minutes(position)} / ${minutes(duration)}`;
}

function atEnd() {
  return recording.getPosition() >= recording.getDuration();
}

function stopStepping() {
  if (stepping !== null) {
    clearTimeout(stepping.timer);
    stepping = null;
  }
}

function step(run, factor) {
  // The run keeps its own clock: a seek lands on the last frame before its target, and a
  // terminal draws seldom, so the recording's position alone could stay put between frames.
  const next = Math.min(run.at + STEP_MS * factor, recording.getDuration());
  run.at = next;
  recording.seek(next, () => {
    if (stepping !== run) return;
    showPosition(next);
    if (next >= recording.getDuration()) {
      stopStepping();
      show("ended", "ended");
      return;
    }
    run.timer = setTimeout(() => step(run, factor), STEP_MS);
  });
}

function play() {
  if (atEnd()) recording.seek(0);
  const factor = Number(speed.value);
  if (factor === 1) {
    recording.play();
    return;
  }
  show("playing", `playing at ${factor}x`);
  stepping = { timer: null, at: recording.getPosition() };
  step(stepping, factor);
}

function pause() {
  stopStepping();
  recording.pause();
  show("paused", "paused");
}

recording.onload = () => {
  seekBar.max = String(recording.getDuration());
  seekBar.disabled = false;
  toggle.disabled = false;
  showPosition(0);
  show("loaded", `loaded, ${minutes(recording.getDuration())}`);
};
recording.onerror = (message) => show("error", `cannot play: ${message}`);
recording.onplay = () => show("playing", "playing");
recording.onpause = () => {
  if (stepping === null) show(atEnd() ? "ended" : "paused", atEnd() ? "ended" : "paused");
};
recording.onseek = () => showPosition(recording.getPosition());

toggle.addEventListener("click", () => (toggle.textContent === "Pause" ? pause() : play()));
seekBar.addEventListener("change", () => {
  const wasPlaying = toggle.textContent === "Pause";
  pause();
  recording.seek(Number(seekBar.value), () => {
    showPosition(recording.getPosition());
    if (wasPlaying) play();
  });
});
speed.addEventListener("change", () => {
  if (toggle.textContent === "Pause") {
    pause();
    play();
  }
});
recording.connect();
