// What both console pages share: a fresh ticket for each connection, the status line,
// the message when the VM is stopped or the link drops, Reconnect, full screen, and the
// VM's state from the live feed (the console connects by itself when the VM starts).
import { api, onLive, t } from "./app.js";

// The states in which the API gives a console ticket (vrm/consoles/service.py).
const CONSOLE_STATES = new Set(["running", "paused"]);
// Why a console's websocket closed, by close code (docs/consoles.md), for a person.
const CLOSE_TEXTS = {
  1000: "The console closed.",
  1006: "The connection to VRM dropped.",
  1011: "VRM could not open the console on the VM's host.",
  4401: "The host's agent did not accept VRM's credential.",
  4404: "The host has no such console for this VM.",
  4409: "The VM is not running on its host.",
  4423: "This VM's console is exclusive, and someone else is watching it.",
  4500: "The host could not open the console.",
};

/** The websocket URL of a ticket's path on this same host. */
export function socketUrl(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}

/** The text of a message with %(name)s placeholders filled. */
function fill(text, values) {
  return text.replace(/%\((\w+)\)s/g, (_match, name) => values[name]);
}

/**
 * One console page. ``open(url)`` connects the kind's client to a ticket's websocket
 * and calls ``connected()`` then ``dropped(closeEvent)``; ``close()`` hangs up.
 */
export class ConsolePage {
  constructor(root, { open, close }) {
    this.root = root;
    this.kind = root.dataset.console;
    this.vmId = root.dataset.vmId;
    this.vmState = root.dataset.vmState;
    this.open = open;
    this.close = close;
    this.leaving = false;
    this.status = root.querySelector("[data-console-status]");
    this.message = root.querySelector("[data-console-message]");
    this.reconnect = root.querySelector("[data-console-reconnect]");
    this.startButton = root.querySelector("[data-console-start]");
    this.reconnect.addEventListener("click", () => this.connect());
    window.addEventListener("pagehide", () => { this.leaving = true; this.close(); });
    onLive("vm", (item) => this.vmChanged(item));
    wireFullscreen(root);
  }

  /** Connect now if the VM has a console (the page knows its state when it loads). */
  begin() {
    if (this.root.dataset.state === "idle") this.connect();
  }

  /** Ask the API for a ticket and open the console's websocket with it. */
  async connect() {
    this.hideMessage();
    this.setState("connecting", t("Connecting…"));
    let answer;
    try {
      answer = await api("POST", `/vms/${this.vmId}/console`, { type: this.kind });
    } catch (error) {
      // The VM stopped before the feed said so: the API names its state.
      const state = error.details && error.details.state;
      if (error.code === "vm_state_conflict" && state && !CONSOLE_STATES.has(state)) {
        this.vmState = state;
        this.showStopped();
      } else {
        this.showDrop(error.message, error.code || "");
      }
      return;
    }
    this.open(socketUrl(answer.url));
  }

  /** The client is connected: keys may go. */
  connected() {
    this.setState("connected", t("Connected"));
  }

  /** The link ended (``event`` is the websocket's close event, when there is one). */
  dropped(event) {
    if (this.leaving) return;
    if (!CONSOLE_STATES.has(this.vmState)) {
      this.showStopped();
      return;
    }
    const code = event ? event.code : 0;
    const text = CLOSE_TEXTS[code] ? t(CLOSE_TEXTS[code]) : fill(t("The console closed (code %(code)s)."), { code });
    this.showDrop(text, event && event.reason ? event.reason : "");
  }

  vmChanged(item) {
    if (item.id !== this.vmId || !item.state) return;
    this.vmState = item.state;
    this.root.dataset.vmState = item.state;
    const state = this.root.dataset.state;
    if (CONSOLE_STATES.has(item.state) && state === "stopped") this.connect();
    // Say the new state (stopping, then stopped) once the link is gone.
    else if (!CONSOLE_STATES.has(item.state) && (state === "dropped" || state === "stopped")) this.showStopped();
  }

  setState(state, text) {
    this.root.dataset.state = state;
    this.status.textContent = text;
    this.root.querySelectorAll("[data-needs-link]").forEach((node) => { node.disabled = state !== "connected"; });
  }

  showStopped() {
    const text = fill(t("The VM is %(state)s: it has a console only while it runs."), { state: t(this.vmState) });
    this.setState("stopped", t("No console"));
    this.showMessage(text, t("The console connects by itself when the VM starts."), false);
  }

  showDrop(text, detail) {
    this.setState("dropped", t("Disconnected"));
    this.showMessage(text, detail, true);
  }

  showMessage(text, detail, canReconnect) {
    this.message.querySelector("[data-console-text]").textContent = text;
    this.message.querySelector("[data-console-detail]").textContent = detail;
    this.reconnect.hidden = !canReconnect;
    if (this.startButton) this.startButton.hidden = canReconnect;
    this.message.hidden = false;
  }

  hideMessage() {
    this.message.hidden = true;
  }
}

function wireFullscreen(root) {
  const button = root.querySelector("[data-console-fullscreen]");
  if (!document.fullscreenEnabled) {
    button.hidden = true;
    return;
  }
  button.addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else root.requestFullscreen().catch(() => {});
  });
  document.addEventListener("fullscreenchange", () => {
    const on = document.fullscreenElement === root;
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? t("Leave full screen") : t("Full screen");
  });
}
