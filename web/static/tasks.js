// Tasks, live: progress, errors with hints and the cancel button follow the task feed;
// tables marked data-task-rows get a row for each new task that belongs in them.
// Used by the task centre, a task's page and a VM's page.
import { onLive, t } from "./app.js";

const FINISHED = ["succeeded", "failed", "cancelled"];

/** A JSON data attribute of the nearest element holding it (empty when absent). */
export function dataJson(node, name) {
  const holder = node && node.closest(`[data-${name}]`);
  if (!holder) return {};
  try {
    return JSON.parse(holder.getAttribute(`data-${name}`));
  } catch (error) {
    return {};
  }
}

/** A task type's name in the page's language. */
export function taskLabel(type) {
  const labels = dataJson(document.querySelector("[data-task-labels]"), "task-labels");
  return labels[type] ? t(labels[type]) : type;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** "2026-12-03 16:41:07" from an ISO moment (UTC, as the server writes it). */
export function moment(iso) {
  return iso ? el("time", { datetime: iso }, String(iso).slice(0, 19).replace("T", " ")) : "—";
}

/** The contents of a task's error cell: code, message and the hint for the code. */
function errorCell(node, task) {
  node.replaceChildren();
  if (!task.error_code) return;
  const hints = dataJson(node, "error-hints");
  node.append(el("code", {}, task.error_code), " ", el("span", {}, task.error_message || ""));
  if (hints[task.error_code]) node.append(" ", el("span", { class: "hint" }, t(hints[task.error_code])));
}

function stateBadge(task) {
  const text = el("span", { "data-live": `task:${task.id}:state`, "data-live-translate": "" }, t(task.state));
  return el("span", { class: `badge state-${task.state}`, "data-live-state": `task:${task.id}` }, text);
}

function progressCell(task) {
  const bar = el("progress", { max: "100", "data-live": `task:${task.id}:progress`, "aria-label": t("Progress") });
  bar.value = task.progress || 0;
  const pct = el("span", { class: "pct" }, el("span", { "data-live": `task:${task.id}:progress` }, String(task.progress || 0)), " %");
  const step = el("span", { class: "muted step", "data-live": `task:${task.id}:step` }, task.step || "");
  return el("div", { class: "task-progress" }, bar, pct, step);
}

function cancelButton(task) {
  return el("button", {
    type: "button",
    "data-cancel-task": "",
    "data-action": `POST /tasks/${task.id}/cancel`,
    "data-done": t("The task is cancelled."),
  }, t("Cancel"));
}

// Names of VMs and hosts as the feed reports them (a new VM's event comes before its task's).
const names = {};
onLive("vm", (vm) => { names[vm.id] = vm.name; });
onLive("host", (host) => { names[host.id] = host.name; });

function targetCell(task) {
  const paths = { vm: "/vms/", host: "/hosts/", cluster: "/clusters/" };
  const name = names[task.target_id] || (task.target_id ? `${String(task.target_id).slice(0, 8)}…` : "—");
  const link = paths[task.target_type] && task.target_id
    ? el("a", { href: paths[task.target_type] + task.target_id, title: task.target_id }, name)
    : name;
  return [link, " ", el("span", { class: "muted" }, `(${t(task.target_type)})`)];
}

const CELLS = {
  type: (task) => el("a", { href: `/tasks/${task.id}` }, taskLabel(task.type)),
  target: targetCell,
  state: stateBadge,
  progress: progressCell,
  error: (task) => el("div", { class: "task-error", "data-task-error": task.id }),
  created: (task) => moment(task.created_at),
  updated: (task) => moment(task.updated_at),
  cancel: (task) => (task.state === "queued" ? cancelButton(task) : ""),
};

function newRow(tbody, task) {
  const row = el("tr", { "data-task-id": task.id, class: "fresh" });
  for (const column of tbody.dataset.columns.split(" ")) {
    const cell = el("td", column === "target" || column === "error" ? { class: `wrap ${column}` } : {});
    const content = CELLS[column](task);
    cell.append(...(Array.isArray(content) ? content : [content]));
    row.append(cell);
  }
  return row;
}

// The pager's "N in all" (in any language: its one number) counts the new row.
function countOneMore(tbody) {
  const total = tbody.closest("#table") && tbody.closest("#table").querySelector(".pager .muted");
  if (total) total.textContent = total.textContent.replace(/\d+/, (n) => String(Number(n) + 1));
}

/** Whether a task belongs in a table with these filters. */
function matches(filters, task) {
  return Object.entries(filters).every(([name, value]) => String(task[name]) === String(value));
}

function insertNew(task) {
  document.querySelectorAll("tbody[data-task-rows][data-insert-new]").forEach((tbody) => {
    if (tbody.querySelector(`tr[data-task-id="${task.id}"]`)) return;
    if (!matches(dataJson(tbody, "filters"), task)) return;
    tbody.querySelectorAll("tr[data-empty]").forEach((row) => row.remove());
    const row = newRow(tbody, task);
    tbody.prepend(row);
    errorCell(row.querySelector("[data-task-error]"), task);
    const limit = Number(tbody.dataset.perPage) || 50;
    while (tbody.rows.length > limit) tbody.rows[tbody.rows.length - 1].remove();
    countOneMore(tbody);
  });
}

function followTask(task) {
  document.querySelectorAll(`[data-task-error="${task.id}"]`).forEach((node) => errorCell(node, task));
  if (task.state !== "queued") {
    document.querySelectorAll(`tr[data-task-id="${task.id}"] [data-cancel-task], [data-task-page="${task.id}"] [data-cancel-task]`)
      .forEach((button) => button.remove());
  }
  const page = document.querySelector(`[data-task-page="${task.id}"]`);
  if (page) followTaskPage(page, task);
}

// A task's own page: the steps list and, once it ends, what only a reload shows.
function followTaskPage(page, task) {
  const steps = dataJson(page, "steps");
  const current = task.state === "succeeded" ? steps.length : steps.indexOf(task.step);
  page.querySelectorAll("[data-steps-list] li").forEach((item, index) => {
    const done = index < current;
    item.className = done ? "done" : index === current ? "current" : "pending";
    item.querySelector("[data-step-note]").textContent = done ? t("done") : index === current ? t("current") : "";
  });
  const none = page.querySelector("[data-no-error]");
  if (none && task.error_code) none.remove();
  if (FINISHED.includes(task.state) && !page.dataset.reloaded) {
    page.dataset.reloaded = "yes";
    refreshSections();
  }
}

/** Fetch this page again once and swap in its [data-refresh] parts (an event, not a poll). */
export async function refreshSections() {
  const response = await fetch(location.pathname + location.search, { headers: { Accept: "text/html" }, credentials: "same-origin" });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  document.querySelectorAll("[data-refresh][id]").forEach((node) => {
    const replacement = fresh.getElementById(node.id);
    if (replacement) node.replaceWith(document.adoptNode(replacement));
  });
  document.dispatchEvent(new CustomEvent("vrm:refreshed"));
}

onLive("task", (task) => {
  insertNew(task);
  followTask(task);
});
