// The remote screen of one session: guacamole-common-js over the session's WebSocket tunnel.
import Guacamole from "/static/guacamole-common.min.js";

const host = document.getElementById("session-display");
const status = document.getElementById("session-state");
const STATES = ["idle", "connecting", "waiting", "connected", "disconnecting", "disconnected"];

const tunnel = new Guacamole.WebSocketTunnel(host.dataset.tunnel);
// The node answers the tunnel's pings (every 0.5 s), so
// silence means this node is unreachable: "unstable" after 1.5 s, over after 10 s. A silent
// gateway behind it is this node's to notice (it ends the session with peer_lost, in words).
tunnel.receiveTimeout = 10000;
const UPSTREAM_TIMEOUT = 0x0202;
const client = new Guacamole.Client(tunnel);
const display = client.getDisplay();
host.appendChild(display.getElement());
// Read by the browser tests; nothing in the page depends on it.
window.pamnodeSession = client;

// What to do about the refusals a user can act on, by the pamnode code that ends a reason.
const ADVICE = {
  token_disabled: "The peer refused the main's access token: enable the token on the peer (API Tokens), then Test Connection on the main's Peer Nodes page.",
  token_expired: "The peer's access token has expired: issue a new one on the peer and enter it on the main's Peer Nodes page.",
  token_revoked: "The peer's access token or its user was deleted: issue a new one on the peer and enter it on the main's Peer Nodes page.",
  token_owner_locked: "The access token's user is locked on the peer: unlock it there.",
  token_source_denied: "The peer's access token does not allow the main's address: widen its filter on the peer.",
  connect_failed: "Nothing answered where the main looked: check that the peer is running and its Gateway Address on the Peer Nodes page, then Test Connection.",
  dns_failed: "A host name does not resolve: check the addresses on the Peer Nodes page or the asset.",
  tls_pin_mismatch: "A certificate changed: if the change is expected, Verify Trust and Establish Trust again on the Peer Nodes page.",
  trust_not_established: "A peer's gateway is not trusted yet: Verify Trust (Gateway) and Establish Trust on the Peer Nodes page.",
  wrong_listener: "Another server answers at the peer's Gateway Address: correct it on the Peer Nodes page.",
  target_refused: "This node's target policy refuses that address: an administrator decides which networks may be reached.",
  host_key_changed: "The host presents another key than the one pinned: an administrator checks the host before trusting its new key.",
  peer_lost: "The peer stopped answering during the session: open a new session once it is back.",
};
// Guacamole status codes, in words.
const STATUS = {
  0x0200: "the gateway failed", 0x0201: "the gateway is busy", 0x0202: "the host did not answer in time",
  0x0203: "the session's route failed", 0x0204: "no such session", 0x0205: "the session is in use",
  0x0206: "the session closed", 0x0207: "the host was not found", 0x0208: "the host is unavailable",
  0x0209: "the session conflicts with another", 0x020a: "the session timed out", 0x020b: "the session was closed",
  0x0301: "not allowed", 0x0303: "not allowed", 0x0308: "the browser stopped answering",
};

const message = document.getElementById("session-message");
let ended = false;
// Set by the Disconnect button: the end is the user's own.
let leaving = false;

// Says why the screen stopped, once: the first reason wins over a later "disconnected".
function say(reason, statusCode) {
  if (ended) return;
  ended = true;
  const code = (reason.match(/\(([a-z_]+)\)\s*$/) || [])[1];
  const words = STATUS[statusCode];
  message.querySelector(".reason").textContent = reason || words || "the session ended";
  message.querySelector(".code").textContent =
    [code, statusCode ? `status 0x${statusCode.toString(16).padStart(4, "0")}` : ""].filter(Boolean).join(", ");
  message.querySelector(".advice").textContent = ADVICE[code] || "";
  message.hidden = false;
  host.dataset.state = "error";
  status.textContent = "ended";
}

// The client closes its tunnel itself as it disconnects (the user's Disconnect, an error).
let clientState = 0;
const leavingClient = () => clientState >= 4;

client.onstatechange = (state) => {
  clientState = state;
  const name = STATES[state] || String(state);
  if (!ended) {
    status.textContent = name;
    host.dataset.state = name;
  }
  if (name === "disconnected" && !ended) {
    ended = true;
    message.querySelector(".reason").textContent = !leaving
      ? "The session ended."
      : host.dataset.readOnly === "true"
        ? "You stopped watching; the session goes on."
        : "You disconnected: the session has ended. Its recording is in Session details.";
    message.hidden = false;
  }
};
client.onerror = (error) => say(error.message || "", error.code);
tunnel.onerror = (error) =>
  say(
    error.code === UPSTREAM_TIMEOUT
      ? "Nothing came from this node for 10 s: the connection to it was lost."
      : error.message || "the connection to this node broke",
    error.code,
  );
tunnel.onstatechange = (state) => {
  if (ended) return;
  if (state === Guacamole.Tunnel.State.UNSTABLE) {
    status.textContent = "unstable: nothing received from this node for a moment";
    host.dataset.state = "unstable";
  } else if (state === Guacamole.Tunnel.State.OPEN && host.dataset.state === "unstable") {
    status.textContent = "connected";
    host.dataset.state = "connected";
  } else if (state === Guacamole.Tunnel.State.CLOSED && !leavingClient()) {
    // Closed by the node without a word (the client learns of no `disconnect`): said anyway.
    say("The connection to the session closed.", 0);
  }
};

// Monitor watches read-only: no key or mouse leaves the page (the node drops them anyway).
if (host.dataset.readOnly !== "true") {
  const mouse = new Guacamole.Mouse(display.getElement());
  mouse.onEach(["mousedown", "mouseup", "mousemove"], (event) => client.sendMouseState(event.state, true));
  const keyboard = new Guacamole.Keyboard(host);
  keyboard.onkeydown = (keysym) => client.sendKeyEvent(1, keysym);
  keyboard.onkeyup = (keysym) => client.sendKeyEvent(0, keysym);
}

// The owner is told who watches the session (Monitor), as long as they do.
const watchers = document.getElementById("session-watchers");
async function lookForWatchers() {
  if (ended) return;
  const answer = await fetch(host.dataset.watchers, { credentials: "same-origin" }).catch(() => null);
  if (!answer || !answer.ok) return;
  const { watching, notice } = await answer.json();
  watchers.textContent = watching.length ? notice : "";
  watchers.hidden = !watching.length;
}
if (watchers && host.dataset.watchers) window.setInterval(lookForWatchers, 3000);

document.getElementById("session-disconnect").addEventListener("click", () => {
  leaving = true;
  client.disconnect();
});
// Closing the tab ends the session on every hop.
window.addEventListener("pagehide", () => {
  if (!ended) client.disconnect();
});

const size = new URLSearchParams({
  width: String(Math.max(host.clientWidth, 640)),
  height: String(Math.max(Math.round(window.innerHeight * 0.7), 480)),
  dpi: String(Math.round(96 * (window.devicePixelRatio || 1))),
  timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "",
});
client.connect(size.toString());
host.focus();
