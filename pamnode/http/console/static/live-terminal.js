// Monitor of an SSH-proxy shell: its typescript live, drawn by the vendored asciinema-player
// from the node's server-sent events (sessions/shell_monitor.py) as they come. The player
// sends nothing back: the watcher cannot type into the shell.
const host = document.getElementById("live-terminal");
const status = document.getElementById("session-state");

function show(state) {
  host.dataset.state = state;
  status.textContent = state;
}

const player = window.AsciinemaPlayer.create(
  // No buffering: each event is drawn when it comes.
  { driver: "eventsource", url: host.dataset.stream, bufferTime: 0 },
  host,
  { autoPlay: true, fit: "width" },
);
player.addEventListener("playing", () => show("watching"));
player.addEventListener("ended", () => show("the watch ended: the session is over"));
// Read by the browser tests; nothing in the page depends on it.
window.pamnodeCast = player;
