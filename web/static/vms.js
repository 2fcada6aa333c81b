// The VM table: select VMs and start, stop or delete them, with a result per VM.
import { api, confirmDialog, t, toast } from "./app.js";

const BULK = {
  start: { method: "POST", path: (id) => `/vms/${id}/actions/start` },
  stop: { method: "POST", path: (id) => `/vms/${id}/actions/stop`, body: {} },
  delete: { method: "DELETE", path: (id) => `/vms/${id}?delete_volumes=true`, confirm: true },
};

function selected() {
  return [...document.querySelectorAll("input[data-select]:checked")];
}

function refreshBulk() {
  const count = selected().length;
  const label = document.querySelector("[data-bulk-count]");
  if (label) label.textContent = t("%(n)s selected").replace("%(n)s", count);
  document.querySelectorAll("[data-bulk-action]").forEach((button) => { button.disabled = count === 0; });
}

document.addEventListener("change", (event) => {
  if (event.target.matches("[data-select-all]")) {
    document.querySelectorAll("input[data-select]").forEach((box) => { box.checked = event.target.checked; });
  }
  if (event.target.matches("[data-select], [data-select-all]")) refreshBulk();
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-bulk-action]");
  if (!button) return;
  const action = BULK[button.dataset.bulkAction];
  const boxes = selected();
  if (action.confirm) {
    const names = boxes.map((box) => box.dataset.name).join(", ");
    if (!(await confirmDialog(t("Delete these VMs and their disks? %(names)s").replace("%(names)s", names), button.textContent.trim()))) return;
  }
  const results = document.querySelector("[data-bulk-results]");
  results.replaceChildren();
  await Promise.all(boxes.map(async (box) => {
    const line = document.createElement("li");
    line.dataset.vm = box.value;
    try {
      await api(action.method, action.path(box.value), action.body);
      line.className = "ok";
      line.textContent = `${box.dataset.name}: ${t("queued")}`;
    } catch (error) {
      line.className = "error";
      line.textContent = `${box.dataset.name}: ${error.message}`;
    }
    results.append(line);
  }));
  toast(t("Done: the task is queued."), "ok");
});

document.addEventListener("htmx:afterSwap", refreshBulk);
