// OpenVRM WebUI: the small script every page shares.
// - api(): calls /api/v1 with the session cookie and the page's CSRF token;
// - buttons with data-action run an API call (confirming destructive ones) and report;
// - forms with data-api-form send their fields as JSON and show errors beside fields;
// - live updates: one EventSource on /ui/events updates elements marked data-live.

const body = document.body;
// The page's language catalogue (cached by the browser per VRM version).
const messages = body.dataset.lang && body.dataset.lang !== "en"
  ? await fetch(`/ui/messages/${body.dataset.lang}.json?v=${body.dataset.version}`).then((r) => r.json()).catch(() => ({}))
  : {};

/** The text of a message in the page's language (English when it has no translation). */
export function t(text) {
  return messages[text] || text;
}

/** An API error's text for a person: translated by its stable code where we can. */
export function errorText(error) {
  if (!error) return t("The request failed.");
  return messages["error:" + error.code] || error.message || error.code;
}

export class ApiError extends Error {
  constructor(status, error) {
    super(errorText(error));
    this.status = status;
    this.code = error ? error.code : "http_error";
    this.details = error ? error.details || {} : {};
  }
}

/** Call /api/v1 as the logged-in user; resolves to the JSON answer, rejects with ApiError. */
export async function api(method, path, data) {
  const init = {
    method,
    credentials: "same-origin",
    headers: { "Accept": "application/json", "X-CSRF-Token": body.dataset.csrf || "" },
  };
  if (data !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(data);
  }
  const response = await fetch("/api/v1" + path, init);
  if (response.status === 401) {
    window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
    throw new ApiError(401, { code: "not_authenticated", message: t("Your session has ended.") });
  }
  const text = await response.text();
  const answer = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, answer && answer.error);
  return answer;
}

/** A short message in the corner; errors stay until closed. */
export function toast(text, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = document.createElement("div");
  item.className = "toast " + kind;
  item.setAttribute("role", kind === "error" ? "alert" : "status");
  const span = document.createElement("span");
  span.textContent = text;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "link";
  close.textContent = "×";
  close.setAttribute("aria-label", t("Close"));
  close.addEventListener("click", () => item.remove());
  item.append(span, close);
  box.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 6000);
}

/** Ask before doing something that cannot be undone; resolves true when confirmed. */
export function confirmDialog(question, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = document.createElement("dialog");
    dialog.className = "confirm";
    dialog.setAttribute("aria-label", t("Confirm"));
    const text = document.createElement("p");
    text.textContent = question;
    const row = document.createElement("div");
    row.className = "buttons";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.textContent = t("Cancel");
    const ok = document.createElement("button");
    ok.type = "button";
    ok.className = "danger";
    ok.dataset.confirm = "yes";
    ok.textContent = confirmLabel || t("Confirm");
    row.append(cancel, ok);
    dialog.append(text, row);
    document.body.append(dialog);
    const done = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    cancel.addEventListener("click", () => done(false));
    ok.addEventListener("click", () => done(true));
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); done(false); });
    dialog.showModal();
    cancel.focus();
  });
}

/** Show an API error beside the fields it concerns (by name), or above the form. */
export function showFormErrors(form, error) {
  clearFormErrors(form);
  const placed = [];
  const fieldErrors = (error.details && error.details.errors) || [];
  for (const item of fieldErrors) {
    const loc = (item.loc || []).filter((part) => part !== "body");
    placed.push(placeError(form, loc, item.msg) || false);
  }
  if (error.details && error.details.field) {
    placed.push(placeError(form, String(error.details.field).split("."), error.message));
  }
  if (!placed.some(Boolean)) {
    let box = form.querySelector("[data-form-error]");
    if (!box) {
      box = document.createElement("p");
      box.setAttribute("data-form-error", "");
      form.prepend(box);
    }
    box.className = "alert error";
    box.setAttribute("role", "alert");
    box.textContent = error.message;
  }
}

function placeError(form, loc, text) {
  for (let cut = loc.length; cut > 0; cut -= 1) {
    const name = loc.slice(0, cut).join(".");
    const field = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (field) {
      const note = document.createElement("span");
      note.className = "field-error";
      note.setAttribute("data-field-error", name);
      note.id = "err-" + name.replace(/[^a-z0-9_-]/gi, "-");
      note.textContent = text;
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", note.id);
      field.insertAdjacentElement("afterend", note);
      return true;
    }
  }
  return false;
}

export function clearFormErrors(form) {
  form.querySelectorAll("[data-field-error]").forEach((node) => node.remove());
  form.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
  const box = form.querySelector("[data-form-error]");
  if (box) box.textContent = "";
}

/** A form's fields as JSON: names with dots nest, data-type="int|list|bool|json" converts. */
export function formJson(form) {
  const result = {};
  for (const field of form.elements) {
    if (!field.name || field.disabled || field.name === "csrf_token") continue;
    if ((field.type === "checkbox" || field.type === "radio") && !field.checked && field.dataset.type !== "bool") continue;
    let value = field.type === "checkbox" && field.dataset.type === "bool" ? field.checked : field.value;
    const type = field.dataset.type;
    if (value === "" && field.dataset.optional !== undefined) continue;
    if (type === "int") value = value === "" ? null : Number(value);
    else if (type === "list") value = String(value).split(/[\s,]+/).filter(Boolean);
    else if (type === "lines") value = String(value).split(/\n/).map((s) => s.trim()).filter(Boolean);
    else if (type === "json") value = value ? JSON.parse(value) : null;
    const path = field.name.split(".");
    let target = result;
    for (const part of path.slice(0, -1)) target = target[part] = target[part] || {};
    target[path[path.length - 1]] = value;
  }
  return result;
}

// Buttons: <button data-action="POST /vms/ID/actions/start" data-confirm="Delete?" data-body='{"x":1}'>
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-action]");
  if (!button) return;
  event.preventDefault();
  const [method, path] = button.dataset.action.split(" ");
  if (button.dataset.confirm && !(await confirmDialog(button.dataset.confirm, button.textContent.trim()))) return;
  button.disabled = true;
  try {
    const answer = await api(method, path, button.dataset.body ? JSON.parse(button.dataset.body) : undefined);
    toast(button.dataset.done || t("Done: the task is queued."), "ok");
    button.dispatchEvent(new CustomEvent("vrm:done", { bubbles: true, detail: answer }));
    if (button.dataset.then) window.location.assign(button.dataset.then);
  } catch (error) {
    toast(error.message, "error");
  } finally {
    button.disabled = false;
  }
});

// Forms: <form data-api-form="POST /ip-pools" data-then="/networks">
document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-api-form]");
  if (!form) return;
  event.preventDefault();
  const [method, path] = form.dataset.apiForm.split(" ");
  const submit = form.querySelector("[type=submit]");
  if (submit) submit.disabled = true;
  clearFormErrors(form);
  try {
    const answer = await api(method, path, formJson(form));
    toast(form.dataset.done || t("Saved."), "ok");
    form.dispatchEvent(new CustomEvent("vrm:done", { bubbles: true, detail: answer }));
    if (form.dataset.then) window.location.assign(form.dataset.then.replace("{id}", (answer && (answer.id || (answer.vm && answer.vm.id))) || ""));
  } catch (error) {
    if (error instanceof ApiError) showFormErrors(form, error);
    else showFormErrors(form, { message: String(error), details: {} });
  } finally {
    if (submit) submit.disabled = false;
  }
});

// Selects that submit their form when changed (language menu).
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
});

// The theme switch and the narrow-window menu.
document.querySelectorAll(".theme-toggle").forEach((button) => button.addEventListener("click", () => {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  document.documentElement.dataset.theme = next;
  try { localStorage.setItem("vrm-theme", next); } catch (e) { /* private mode */ }
}));
document.querySelectorAll(".nav-toggle").forEach((button) => button.addEventListener("click", () => {
  const open = body.classList.toggle("nav-open");
  button.setAttribute("aria-expanded", String(open));
}));

// Live updates. Elements say what they show: data-live="vm:<id>:state" (text),
// data-live-state="vm:<id>" (the state-* class of a badge), data-live="task:<id>:progress".
// Pages add listeners with onLive(kind, handler).
const liveHandlers = {};
export function onLive(kind, handler) {
  (liveHandlers[kind] = liveHandlers[kind] || []).push(handler);
}

function applyLive(kind, item) {
  for (const [field, value] of Object.entries(item)) {
    document.querySelectorAll(`[data-live="${kind}:${item.id}:${field}"]`).forEach((node) => {
      const shown = value === null || value === undefined ? "" : String(value);
      if (node.tagName === "PROGRESS" || node.tagName === "METER") node.value = Number(value) || 0;
      else node.textContent = node.dataset.liveTranslate !== undefined ? t(shown) : shown;
    });
  }
  if (item.state) {
    document.querySelectorAll(`[data-live-state="${kind}:${item.id}"]`).forEach((node) => {
      node.className = node.className.replace(/\bstate-\S+/g, "").trim() + " state-" + item.state;
    });
  }
  (liveHandlers[kind] || []).forEach((handler) => handler(item));
}

let source = null;
function connectLive() {
  if (!body.dataset.csrf || !document.querySelector("[data-live-page]")) return;
  source = new EventSource("/ui/events");
  for (const kind of ["vm", "task", "host", "event", "alarm", "image"]) {
    source.addEventListener(kind, (message) => applyLive(kind, JSON.parse(message.data)));
  }
  source.addEventListener("open", () => body.classList.remove("live-lost"));
  source.addEventListener("error", () => body.classList.add("live-lost"));
}
window.addEventListener("pagehide", () => source && source.close());
connectLive();

export const liveConnected = () => source !== null && source.readyState === EventSource.OPEN;

// When the page's shared script has run: the page is interactive (bench/ui.py reads it).
window.vrmReadyAt = performance.now();
document.documentElement.dataset.ready = "1";
