// The remote screen of one session: guacamole-common-js over the session's WebSocket tunnel.
import Guacamole from "/static/guacamole-common.min.js";

const host = document.getElementById("session-display");
const status = document.getElementById("session-state");
const STATES = ["idle", "connecting", "waiting", "connected", "disconnecting", "disconnected"];

const client = new Guacamole.Client(new Guacamole.WebSocketTunnel(host.dataset.tunnel));
const display = client.getDisplay();
host.appendChild(display.getElement());
// Read by the browser tests; nothing in the page depends on it.
window.pamnodeSession = client;

client.onstatechange = (state) => {
  status.textContent = STATES[state] || String(state);
  host.dataset.state = status.textContent;
};
client.onerror = (error) => {
  status.textContent = `ended: ${error.message || "error " + error.code}`;
  host.dataset.state = "error";
};

const mouse = new Guacamole.Mouse(display.getElement());
mouse.onEach(["mousedown", "mouseup", "mousemove"], (event) => client.sendMouseState(event.state, true));
const keyboard = new Guacamole.Keyboard(host);
keyboard.onkeydown = (keysym) => client.sendKeyEvent(1, keysym);
keyboard.onkeyup = (keysym) => client.sendKeyEvent(0, keysym);

document.getElementById("session-disconnect").addEventListener("click", () => client.disconnect());
// Closing the tab ends the session on every hop.
window.addEventListener("pagehide", () => client.disconnect());

const size = new URLSearchParams({
  width: String(Math.max(host.clientWidth, 640)),
  height: String(Math.max(Math.round(window.innerHeight * 0.7), 480)),
  dpi: String(Math.round(96 * (window.devicePixelRatio || 1))),
  timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "",
});
client.connect(size.toString());
host.focus();
