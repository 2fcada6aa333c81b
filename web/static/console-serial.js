// The serial console: xterm.js on a ticketed websocket; bytes both ways in binary frames.
// xterm.js and its fit add-on are classic scripts loaded before this module (globals
// Terminal and FitAddon).
import { ConsolePage } from "./console.js";

const OPEN = 1; // WebSocket.OPEN
const root = document.querySelector('[data-console="serial"]');
const screen = root.querySelector("[data-serial-screen]");
const encoder = new TextEncoder();
const canType = root.dataset.canType !== undefined;

const terminal = new Terminal({
  cursorBlink: true,
  disableStdin: !canType,
  fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace',
  fontSize: 14,
  scrollback: 5000,
});
const fit = new FitAddon.FitAddon();
terminal.loadAddon(fit);
terminal.open(screen);
fit.fit();
new ResizeObserver(() => fit.fit()).observe(screen);

let socket = null;
const consolePage = new ConsolePage(root, { open, close });

/** Open the serial websocket of a ticket and show what the guest writes. */
function open(url) {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.addEventListener("open", () => {
    consolePage.connected();
    terminal.focus();
  });
  ws.addEventListener("message", (event) => {
    terminal.write(typeof event.data === "string" ? event.data : new Uint8Array(event.data));
  });
  ws.addEventListener("close", (event) => {
    if (socket === ws) socket = null;
    consolePage.dropped(event);
  });
  socket = ws;
}

function close() {
  if (socket) socket.close(1000, "the viewer left");
}

function send(bytes) {
  if (socket && socket.readyState === OPEN) socket.send(bytes);
}

// Keys as the terminal encodes them (UTF-8); onBinary carries raw bytes (some mouse reports).
terminal.onData((data) => send(encoder.encode(data)));
terminal.onBinary((data) => send(Uint8Array.from(data, (char) => char.charCodeAt(0) & 0xff)));

consolePage.begin();
