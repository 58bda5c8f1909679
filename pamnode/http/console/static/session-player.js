// Playback of a session's recording (the Guacamole protocol dump guacd wrote).
import Guacamole from "/static/guacamole-common.min.js";

const host = document.getElementById("recording-display");
const status = document.getElementById("recording-state");
const play = document.getElementById("recording-play");

const recording = new Guacamole.SessionRecording(
  new Guacamole.StaticHTTPTunnel(host.dataset.recording),
);
host.appendChild(recording.getDisplay().getElement());
// Read by the browser tests; nothing in the page depends on it.
window.pamnodeRecording = recording;

recording.onload = () => {
  status.textContent = `loaded, ${Math.round(recording.getDuration() / 1000)} s`;
  host.dataset.state = "loaded";
  play.disabled = false;
};
recording.onerror = (message) => {
  status.textContent = `cannot play: ${message}`;
  host.dataset.state = "error";
};
recording.onplay = () => { status.textContent = "playing"; };
recording.onpause = () => {
  status.textContent = "paused";
  host.dataset.state = "paused";
};
play.addEventListener("click", () => recording.play());
recording.connect();
