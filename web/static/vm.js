// One VM's page: the buttons follow the VM's live state (the same allow-lists as the API),
// its new events appear, and what a finished task changed (devices, snapshots) is reloaded.
import { api, onLive, t } from "./app.js";
import { dataJson, moment, refreshSections, taskLabel } from "./tasks.js";

const FINISHED = ["succeeded", "failed", "cancelled"];
const EVENTS_SHOWN = 20;
const section = document.querySelector("[data-vm-page]");
const vmId = section.dataset.vmPage;
const rules = dataJson(section, "rules");
const templateOps = dataJson(section, "template-ops");
const vm = {
  state: section.dataset.state,
  task_state: section.dataset.taskState || null,
  is_template: section.dataset.template === "true",
  updated: 0,
};

/** Whether an operation may start now (what the API's allow-lists say). */
function allowed(op) {
  if (vm.task_state) return false;
  if (vm.is_template && !templateOps.includes(op)) return false;
  return (rules[op] || []).includes(vm.state);
}

function applyState() {
  section.dataset.state = vm.state;
  section.querySelectorAll("[data-op]").forEach((button) => { button.disabled = !allowed(button.dataset.op); });
  const busy = section.querySelector("[data-vm-operation]");
  busy.hidden = !vm.task_state;
  busy.textContent = vm.task_state ? `${taskLabel("vm." + vm.task_state)}…` : "";
}

/** Take a newer view of the VM (from the feed or an API answer); older ones are ignored. */
function update(item) {
  const changed = Date.parse(item.updated_at) || 0;
  if (item.id === vmId && changed >= vm.updated) {
    Object.assign(vm, { state: item.state, task_state: item.task_state || null, is_template: Boolean(item.is_template), updated: changed });
  }
  applyState();
}

onLive("vm", (item) => { if (item.id === vmId) update(item); });

// app.js re-enables a button after its call; the VM's new state decides right after.
document.addEventListener("vrm:done", (event) => {
  const answer = event.detail;
  setTimeout(() => (answer && answer.vm ? update(answer.vm) : applyState()), 0);
});

// A finished task of this VM may have changed its devices, snapshots or figures.
let refreshing = null;
onLive("task", (task) => {
  if (task.target_id !== vmId || !FINISHED.includes(task.state) || refreshing) return;
  refreshing = setTimeout(() => { refreshing = null; refreshSections(); }, 300);
});
document.addEventListener("vrm:refreshed", () => { applyState(); fillIsoSelects(); });

onLive("event", (item) => {
  const tbody = section.querySelector("tbody[data-event-rows]");
  if (!tbody || item.target_id !== vmId || tbody.querySelector(`tr[data-event-id="${item.id}"]`)) return;
  tbody.querySelectorAll("tr[data-empty]").forEach((row) => row.remove());
  const row = document.createElement("tr");
  row.dataset.eventId = item.id;
  const cells = [moment(item.created_at), badge(item.severity), code(item.type), item.message];
  for (const content of cells) {
    const cell = document.createElement("td");
    cell.append(content);
    row.append(cell);
  }
  row.lastChild.className = "wrap";
  tbody.prepend(row);
  while (tbody.rows.length > EVENTS_SHOWN) tbody.rows[tbody.rows.length - 1].remove();
});

function badge(severity) {
  const node = document.createElement("span");
  node.className = `badge state-${severity}`;
  node.textContent = t(severity);
  return node;
}

function code(text) {
  const node = document.createElement("code");
  node.textContent = text;
  return node;
}

// The ISO images a CD-ROM drive can take: asked of the API once, when the page has a drive.
let isoImages = null;
async function fillIsoSelects() {
  const selects = section.querySelectorAll("select[data-iso-select]");
  if (!selects.length) return;
  isoImages = isoImages || api("GET", "/images?format=iso&state=ready&limit=1000").then((page) => page.items).catch(() => []);
  const images = await isoImages;
  selects.forEach((select) => {
    if (select.options.length > 1) return;
    for (const image of images) select.append(new Option(image.name, image.id));
    if (!images.length) select.options[0].textContent = t("No ready ISO images");
  });
}

fillIsoSelects();
