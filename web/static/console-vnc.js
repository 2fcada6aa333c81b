// The VNC console: noVNC on a ticketed websocket, with special keys, typing text,
// scaling to the window and full screen.
import RFB from "./vendor/novnc/core/rfb.js";
import KeyTable from "./vendor/novnc/core/input/keysym.js";
import keysyms from "./vendor/novnc/core/input/keysymdef.js";
import { initLogging } from "./vendor/novnc/core/util/logging.js";
import { ConsolePage } from "./console.js";

// The page reports every failure of the link itself (status line and message); noVNC's
// own logging would repeat an expected refusal (an exclusive console) as a console error.
initLogging("none");

const SCALE_KEY = "vrm-console-scale";
const CTRL = [KeyTable.XK_Control_L, "ControlLeft"];
const ALT = [KeyTable.XK_Alt_L, "AltLeft"];
// Key combinations of the "Other keys" menu: [keysym, physical key code] pressed in order.
const COMBOS = {
  "ctrl-alt-backspace": [CTRL, ALT, [KeyTable.XK_BackSpace, "Backspace"]],
  "alt-tab": [ALT, [KeyTable.XK_Tab, "Tab"]],
  tab: [[KeyTable.XK_Tab, "Tab"]],
  esc: [[KeyTable.XK_Escape, "Escape"]],
  print: [[KeyTable.XK_Print, "PrintScreen"]],
  super: [[KeyTable.XK_Super_L, "MetaLeft"]],
};
for (let n = 1; n <= 12; n += 1) COMBOS[`ctrl-alt-f${n}`] = [CTRL, ALT, [KeyTable[`XK_F${n}`], `F${n}`]];

const root = document.querySelector('[data-console="vnc"]');
const screen = root.querySelector("[data-vnc-screen]");
let rfb = null;
let scaled = readScale();

const consolePage = new ConsolePage(root, { open, close });

/** Connect noVNC to a ticket's websocket (our own socket, to learn why it closes). */
function open(url) {
  const socket = new WebSocket(url, ["binary"]);
  let closing = null;
  socket.addEventListener("close", (event) => { closing = event; });
  const client = new RFB(screen, socket, { shared: true });
  client.scaleViewport = scaled;
  client.viewOnly = root.dataset.canType === undefined;
  client.addEventListener("connect", () => {
    consolePage.connected();
    client.focus({ preventScroll: true });
  });
  client.addEventListener("disconnect", () => {
    if (rfb === client) rfb = null;
    consolePage.dropped(closing);
  });
  rfb = client;
}

function close() {
  if (rfb) rfb.disconnect();
}

/** Press the keys of a combination in order and let them go in reverse. */
function sendCombo(keys) {
  if (!rfb) return;
  keys.forEach(([keysym, code]) => rfb.sendKey(keysym, code, true));
  [...keys].reverse().forEach(([keysym, code]) => rfb.sendKey(keysym, code, false));
  rfb.focus({ preventScroll: true });
}

/** Type text as keystrokes (the guest's keyboard layout decides what arrives). */
function typeText(text) {
  if (!rfb) return;
  for (const char of text.replace(/\r\n?/g, "\n")) {
    if (char === "\n") rfb.sendKey(KeyTable.XK_Return, "Enter");
    else if (char === "\t") rfb.sendKey(KeyTable.XK_Tab, "Tab");
    else rfb.sendKey(keysyms.lookup(char.codePointAt(0)), null);
  }
  rfb.focus({ preventScroll: true });
}

function readScale() {
  try { return localStorage.getItem(SCALE_KEY) === "on"; } catch (e) { return false; }
}

function showScale(button) {
  button.setAttribute("aria-pressed", String(scaled));
  root.classList.toggle("scaled", scaled);
}

root.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.matches("[data-vnc-cad]") && rfb) {
    rfb.sendCtrlAltDel();
    rfb.focus({ preventScroll: true });
  } else if (button.matches("[data-vnc-keys]")) {
    sendCombo(COMBOS[button.dataset.vncKeys]);
    button.closest("details").open = false;
  } else if (button.matches("[data-vnc-type]")) {
    const field = root.querySelector("[data-vnc-text]");
    typeText(field.value);
    button.closest("details").open = false;
  } else if (button.matches("[data-vnc-scale]")) {
    scaled = !scaled;
    try { localStorage.setItem(SCALE_KEY, scaled ? "on" : "off"); } catch (e) { /* private mode */ }
    if (rfb) rfb.scaleViewport = scaled;
    showScale(button);
  }
});

// Escape closes an open menu of the toolbar (back to its summary), as menus do.
root.addEventListener("keydown", (event) => {
  const menu = event.target.closest("details[open]");
  if (event.key !== "Escape" || !menu) return;
  menu.open = false;
  menu.querySelector("summary").focus();
});

showScale(root.querySelector("[data-vnc-scale]"));
consolePage.begin();
