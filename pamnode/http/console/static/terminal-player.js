// Replay of a shell's asciicast (the SSH proxy's terminal recording with its timing) in the
// vendored asciinema-player, whose own bar plays, pauses and seeks; the speed is ours: the
// player takes it when made, so a change makes it again where it was.
const host = document.getElementById("terminal-player");
const status = document.getElementById("terminal-state");
const speed = document.getElementById("terminal-speed");

function show(state) {
  host.dataset.state = state;
  status.textContent = state;
}

function make(startAt, autoPlay) {
  const player = window.AsciinemaPlayer.create(host.dataset.cast, host, {
    speed: Number(speed.value),
    startAt,
    autoPlay,
    preload: true,
    fit: "width",
  });
  player.addEventListener("play", () => show("playing"));
  player.addEventListener("pause", () => show("paused"));
  player.addEventListener("ended", () => show("ended"));
  // Read by the browser tests; nothing in the page depends on it.
  window.pamnodeCast = player;
  return player;
}

// The player says nothing when its recording is loaded: its duration is known then. A page
// opened at a moment (`?t=`, where a search found something) seeks there first: the player
// draws a frame it seeks to, paused.
function whenLoaded(player, start) {
  if (player.getDuration() === undefined) {
    setTimeout(() => whenLoaded(player, start), 100);
    return;
  }
  Promise.resolve(start > 0 ? player.seek(start) : undefined).then(() => {
    if (host.dataset.state === undefined) {
      show("loaded");
    }
  });
}

let player = make(0, false);
whenLoaded(player, Number(host.dataset.start || 0));

speed.addEventListener("change", () => {
  const at = player.getCurrentTime();
  const playing = host.dataset.state === "playing";
  player.dispose();
  host.replaceChildren();
  player = make(at, playing);
});
