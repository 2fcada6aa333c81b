// The image library: upload from the browser with a progress bar, delete with a
// confirmation, and rows kept current. Images are not in the live feed, but their tasks
// are: a row follows its task's progress and reads its image once when the task ends.
// While an upload this page started runs, its row is read again every few seconds.
import { api, confirmDialog, errorText, onLive, t, toast } from "./app.js";

const REFRESH_MS = 2000;
const ENDED = new Set(["succeeded", "failed", "cancelled"]);
const FORMATS = { iso: "iso", qcow2: "qcow2", img: "raw", raw: "raw" };

function rowOf(id) {
  return document.querySelector(`tr[data-image-id="${CSS.escape(id)}"]`);
}

function sizeText(bytes) {
  const units = [["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]];
  for (const [unit, size] of units) if (bytes >= size) return `${(bytes / size).toFixed(1)} ${unit}`;
  return `${bytes} B`;
}

/** A datastore's name, as the page's datastore menus list it. */
function datastoreName(id) {
  const option = document.querySelector(`select[name="datastore_id"] option[value="${CSS.escape(id)}"]`);
  return option ? option.textContent : "—";
}

/** Show an image (as GET /images/{id} answers) in its row. */
function renderRow(row, image) {
  const cell = (name) => row.querySelector(`[data-f="${name}"]`);
  row.dataset.imageId = image.id;
  row.dataset.taskId = image.task_id || "";
  cell("name").textContent = image.name;
  cell("format").textContent = image.format;
  cell("os_hint").textContent = image.os_hint || "—";
  cell("size").textContent = image.size_bytes ? sizeText(image.size_bytes) : "—";
  cell("size").dataset.bytes = String(image.size_bytes);
  cell("sha256").textContent = image.sha256 || "—";
  cell("datastore").textContent = datastoreName(image.datastore_id);
  // As the server writes it (UTC, to the second).
  cell("created").textContent = String(image.created_at).replace("T", " ").slice(0, 19);
  const state = cell("state");
  state.textContent = t(image.state);
  state.className = `badge state-${image.state}`;
  const progress = cell("progress");
  progress.hidden = image.state !== "uploading";
  progress.value = image.progress;
  if (image.task_id) progress.dataset.live = `task:${image.task_id}:progress`;
  const error = cell("error");
  error.hidden = !image.error_message;
  error.textContent = image.error_message ? `${image.error_code}: ${image.error_message}` : "";
  const remove = row.querySelector("[data-image-delete]");
  if (remove) remove.setAttribute("aria-label", t("Delete %(name)s").replace("%(name)s", image.name));
}

/** Read one image again; a gone image leaves the table. */
async function refresh(id) {
  const row = rowOf(id);
  if (!row) return null;
  try {
    const image = await api("GET", `/images/${id}`);
    renderRow(row, image);
    return image;
  } catch (error) {
    if (error.status === 404) row.remove();
    return null;
  }
}

/** A new row at the top of the table for an image this page created. */
function addRow(image) {
  const template = document.querySelector("template[data-image-row]");
  const row = template.content.firstElementChild.cloneNode(true);
  document.querySelector("[data-image-table] tbody").prepend(row);
  document.querySelectorAll("[data-image-table] tr[data-empty]").forEach((empty) => empty.remove());
  renderRow(row, image);
  return row;
}

/** PUT the file as the image's data; resolves to the answer's status and JSON. */
function sendFile(imageId, file, bar) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `/api/v1/images/${encodeURIComponent(imageId)}/data`);
    xhr.setRequestHeader("X-CSRF-Token", document.body.dataset.csrf || "");
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
    };
    const answer = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: a proxy's page */ }
      resolve({ status: xhr.status, body });
    };
    xhr.onload = answer;
    xhr.onerror = answer;
    xhr.onabort = answer;
    xhr.send(file);
  });
}

function guessFromFile(form, file) {
  const [base, extension] = [file.name.replace(/\.[^.]+$/, ""), (file.name.split(".").pop() || "").toLowerCase()];
  if (!form.elements.name.value) form.elements.name.value = base.slice(0, 64);
  if (FORMATS[extension]) form.elements.format.value = FORMATS[extension];
}

async function upload(form) {
  const file = form.elements.file.files[0];
  const bar = form.querySelector("[data-upload-progress]");
  const status = form.querySelector("[data-upload-status]");
  const body = {
    name: form.elements.name.value.trim(),
    format: form.elements.format.value,
    os_hint: form.elements.os_hint.value.trim(),
    description: form.elements.description.value,
  };
  if (form.elements.datastore_id.value) body.datastore_id = form.elements.datastore_id.value;
  const { image } = await api("POST", "/images", body);
  addRow(image);
  bar.hidden = false;
  bar.value = 0;
  status.textContent = t("Uploading %(name)s…").replace("%(name)s", file.name);
  // The node's side of the upload (state, checksum) shows in the row meanwhile.
  const ticker = setInterval(() => refresh(image.id), REFRESH_MS);
  let answer;
  try {
    answer = await sendFile(image.id, file, bar);
  } finally {
    clearInterval(ticker);
  }
  const final = await refresh(image.id);
  if (answer.status === 200 && final && final.state === "ready") {
    bar.value = 100;
    status.textContent = t("Ready: %(name)s").replace("%(name)s", final.name);
    status.className = "ok";
    toast(status.textContent, "ok");
    return;
  }
  const error = answer.body && answer.body.error;
  status.textContent = `${t("failed")}: ${error ? errorText(error) : (final && final.error_message) || t("The request failed.")}`;
  status.className = "field-error";
}

document.addEventListener("change", (event) => {
  if (event.target.matches("form[data-upload-form] input[type=file]") && event.target.files[0]) {
    guessFromFile(event.target.form, event.target.files[0]);
  }
});

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-upload-form]");
  if (!form) return;
  event.preventDefault();
  const submit = form.querySelector("[type=submit]");
  const status = form.querySelector("[data-upload-status]");
  submit.disabled = true;
  status.className = "";
  try {
    await upload(form);
  } catch (error) {
    status.textContent = error.message;
    status.className = "field-error";
  } finally {
    submit.disabled = false;
  }
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-image-delete]");
  if (!button) return;
  const row = button.closest("tr");
  const name = row.querySelector('[data-f="name"]').textContent;
  if (!(await confirmDialog(t("Delete the image %(name)s and its file?").replace("%(name)s", name), t("Delete")))) return;
  button.disabled = true;
  try {
    const { image, task } = await api("DELETE", `/images/${row.dataset.imageId}`);
    row.dataset.deleting = "true";
    renderRow(row, { ...image, task_id: task ? task.id : image.task_id });
    toast(t("Done: the task is queued."), "ok");
    // The task may have ended before its answer reached us.
    if (task && ended.get(String(task.id)) === "succeeded") row.remove();
  } catch (error) {
    toast(error.message, "error");
  } finally {
    button.disabled = false;
  }
});

// A row's task ended (import, delete): a deleted image leaves the table, any other
// row reads its image once.
const ended = new Map();
onLive("task", (task) => {
  if (!ENDED.has(task.state)) return;
  ended.set(String(task.id), task.state);
  if (ended.size > 200) ended.delete(ended.keys().next().value);
  const row = document.querySelector(`tr[data-task-id="${CSS.escape(String(task.id))}"]`);
  if (!row) return;
  if (row.dataset.deleting && task.state === "succeeded") row.remove();
  else refresh(row.dataset.imageId);
});
