// The VM create wizard: one form, its steps shown one at a time. Each step checks what
// the browser can (required fields, numbers); the last one sends the VM to the API and
// shows the API's errors beside the fields they concern, on the step that holds them.
import { api, clearFormErrors, showFormErrors, t, toast } from "./app.js";

const form = document.querySelector("[data-wizard]");
const steps = [...form.querySelectorAll("[data-step]")];
const items = [...form.querySelectorAll("[data-step-item]")];
const back = form.querySelector("[data-back]");
const next = form.querySelector("[data-next]");
const create = form.querySelector("[data-create]");
const position = form.querySelector("[data-position]");
const el = form.elements;
// A clone takes these from its template: the wizard skips them.
const FROM_TEMPLATE = new Set(["placement", "resources", "disks", "nics", "cloudinit"]);
let current = 0;

const fill = (text, values) => Object.entries(values).reduce((s, [k, v]) => s.replaceAll(`%(${k})s`, v), t(text));
const source = () => form.querySelector("input[name=source]:checked").value;
const skipped = (i) => source() === "template" && FROM_TEMPLATE.has(steps[i].dataset.step);
const rowsOf = (kind) => [...form.querySelectorAll(`[data-rows="${kind}"] > [data-row]`)];
const shown = (select) => (select.selectedOptions[0] ? select.selectedOptions[0].textContent.trim() : "");

// ---- Moving between steps ---------------------------------------------------------

function show(index, focus = true) {
  current = index;
  steps.forEach((step, i) => { step.hidden = i !== index; });
  items.forEach((item, i) => {
    const button = item.querySelector("button");
    if (i === index) button.setAttribute("aria-current", "step");
    else button.removeAttribute("aria-current");
    button.disabled = skipped(i);
    item.classList.toggle("skipped", skipped(i));
    item.classList.toggle("done", i < index && !skipped(i));
    item.querySelector("[data-skip-note]").hidden = !skipped(i);
  });
  const last = index === steps.length - 1;
  back.disabled = neighbour(index, -1) < 0;
  next.hidden = last;
  create.hidden = !last;
  position.textContent = fill("Step %(n)s of %(total)s", { n: index + 1, total: steps.length });
  if (last) renderSummary();
  if (focus) steps[index].querySelector("h2").focus();
}

function neighbour(index, direction) {
  let i = index + direction;
  while (i >= 0 && i < steps.length && skipped(i)) i += direction;
  return i;
}

/** Go to step ``target``, checking every step on the way forward. */
function goTo(target) {
  for (let i = current; i < target; i += 1) {
    if (!skipped(i) && !checkStep(i)) {
      if (i !== current) show(i, false);
      focusFirstError(steps[i]);
      return;
    }
  }
  show(target);
}

back.addEventListener("click", () => show(neighbour(current, -1)));
next.addEventListener("click", () => goTo(neighbour(current, 1)));
form.querySelector(".wizard-steps").addEventListener("click", (event) => {
  const button = event.target.closest("[data-goto]");
  if (button) goTo(Number(button.dataset.goto));
});

// ---- Checks in the browser ----------------------------------------------------------

function problemOf(field) {
  const v = field.validity;
  if (v.valueMissing) return t("This field is required.");
  if (v.badInput || v.stepMismatch) return t("Enter a whole number.");
  if (v.rangeUnderflow) return fill("At least %(n)s.", { n: field.min });
  if (v.rangeOverflow) return fill("At most %(n)s.", { n: field.max });
  if (v.tooLong) return t("This is too long.");
  const other = field.dataset.atLeast && el[field.dataset.atLeast];
  if (other && field.value !== "" && Number(field.value) < Number(other.value)) {
    return fill("At least %(n)s.", { n: other.value });
  }
  return "";
}

function note(field, text) {
  const span = document.createElement("span");
  span.className = "field-error";
  span.setAttribute("data-field-error", field.name);
  span.id = "err-" + field.name.replace(/[^a-z0-9_-]/gi, "-");
  span.textContent = text;
  field.setAttribute("aria-invalid", "true");
  field.setAttribute("aria-describedby", span.id);
  field.insertAdjacentElement("afterend", span);
}

function clearIn(section) {
  section.querySelectorAll("[data-field-error]").forEach((node) => node.remove());
  section.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
}

function checkStep(index) {
  const section = steps[index];
  clearIn(section);
  let ok = true;
  for (const field of section.querySelectorAll("input, select, textarea")) {
    if (field.disabled || !field.name || field.type === "radio") continue;
    const problem = problemOf(field);
    if (problem) { note(field, problem); ok = false; }
  }
  return ok;
}

function focusFirstError(section) {
  const field = section.querySelector("[aria-invalid=true]");
  if (field) field.focus();
}

// ---- The source, the cluster, and the rows that depend on them -----------------------

function onSource() {
  const kind = source();
  form.querySelectorAll("[data-when-source]").forEach((box) => {
    box.hidden = box.dataset.whenSource !== kind;
    box.querySelectorAll("select, input").forEach((field) => { field.disabled = box.hidden; });
  });
  if (kind === "image" && rowsOf("disks").length === 0) addRow("disks");
  fitImageDisk();
  show(current, false);
}

/** With a disk image, the first disk is made from it: its size may stay empty (the
 * image's size), and a linked clone lives in the image's datastore. */
function fitImageDisk() {
  const fromImage = source() === "image";
  rowsOf("disks").forEach((row, i) => {
    const first = fromImage && i === 0;
    const size = row.querySelector("[name$='.size_mib']");
    const store = row.querySelector("[data-datastore-select]");
    row.querySelector("[data-image-note]").hidden = !first;
    row.querySelector("[data-remove-row]").disabled = first;
    size.required = !first;
    const image = el["disks.0.image_id"].selectedOptions[0];
    size.placeholder = first && image && image.value ? fill("At least %(n)s MiB (the image's size)", { n: image.dataset.minMib }) : "";
    // The default size gives way to the image's, and comes back without the image.
    if (first && size.value === size.defaultValue) { size.value = ""; size.dataset.cleared = "1"; }
    if (!first && size.dataset.cleared && size.value === "") { size.value = size.defaultValue; delete size.dataset.cleared; }
    const linked = first && el["disks.0.clone"].value === "linked";
    if (linked) store.value = "";
    store.disabled = linked;
  });
}

function onCluster() {
  const cluster = el.cluster_id.value;
  const option = el.cluster_id.selectedOptions[0];
  const site = option ? option.dataset.site : "";
  limitOptions(el.host_id, (o) => o.dataset.cluster === cluster);
  form.querySelectorAll("[data-datastore-select]").forEach((select) => {
    limitOptions(select, (o) => o.dataset.clusters.split(" ").includes(cluster));
  });
  form.querySelectorAll("[data-port-group]").forEach((select) => {
    limitOptions(select, (o) => !site || o.dataset.site === site, true);
    poolNote(select);
  });
}

/** Offer only the options ``fits`` accepts (and those usable at all); ``pick`` chooses
 * the first one offered when the chosen one is gone. */
function limitOptions(select, fits, pick = false) {
  for (const option of select.options) {
    if (option.dataset.unusable === undefined) option.dataset.unusable = option.disabled ? "1" : "";
    if (!option.value) continue;
    const offered = fits(option);
    option.hidden = !offered;
    option.disabled = !offered || option.dataset.unusable === "1";
  }
  const chosen = select.selectedOptions[0];
  if (chosen && chosen.disabled) {
    const first = [...select.options].find((o) => !o.disabled && (o.value || !pick));
    select.value = first ? first.value : "";
  }
}

function poolNote(select) {
  const row = select.closest("[data-row]");
  const option = select.selectedOptions[0];
  const cidrs = option ? option.dataset.cidrs : "";
  row.querySelector("[data-pool-note]").textContent = !option ? t("No port group of this cluster's site.")
    : cidrs ? fill("IP pool: %(cidrs)s", { cidrs }) : t("This port group has no IP pool: VRM assigns no address.");
}

function onIpMode(radio) {
  const row = radio.closest("[data-row]");
  const chosen = radio.value === "chosen";
  const box = row.querySelector("[data-ips]");
  box.hidden = !chosen;
  box.querySelector("input").disabled = !chosen;
  if (chosen) box.querySelector("input").focus();
}

// ---- Disk and NIC rows -----------------------------------------------------------------

function addRow(kind) {
  const template = form.querySelector(`[data-row-template="${kind}"]`);
  const row = template.content.firstElementChild.cloneNode(true);
  form.querySelector(`[data-rows="${kind}"]`).append(row);
  renumber(kind);
  onCluster();
  fitImageDisk();
  return row;
}

function removeRow(row) {
  const kind = row.dataset.row;
  row.remove();
  renumber(kind);
  fitImageDisk();
  form.querySelector(`[data-add-row="${kind}"]`).focus();
}

function renumber(kind) {
  const rows = rowsOf(kind);
  const pattern = new RegExp(`^${kind}\\.(\\d+|__i__)\\.`);
  rows.forEach((row, i) => {
    row.querySelectorAll("[name]").forEach((field) => { field.name = field.name.replace(pattern, `${kind}.${i}.`); });
    row.querySelector("[data-row-number]").textContent = String(i + 1);
    const label = kind === "disks" ? "Remove disk %(n)s" : "Remove NIC %(n)s";
    row.querySelector("[data-remove-row]").setAttribute("aria-label", fill(label, { n: i + 1 }));
  });
  clearIn(form.querySelector(`[data-rows="${kind}"]`));
  form.querySelector(`[data-empty="${kind}"]`).hidden = rows.length > 0;
}

form.addEventListener("click", (event) => {
  const add = event.target.closest("[data-add-row]");
  if (add) {
    const row = addRow(add.dataset.addRow);
    row.querySelector("input, select").focus();
  }
  const remove = event.target.closest("[data-remove-row]");
  if (remove) removeRow(remove.closest("[data-row]"));
});

form.addEventListener("change", (event) => {
  const field = event.target;
  if (field.name === "source") onSource();
  else if (field.name === "cluster_id") onCluster();
  else if (field.name === "disks.0.image_id" || field.name === "disks.0.clone") fitImageDisk();
  else if (field.matches("[data-port-group]")) poolNote(field);
  else if (field.name.endsWith(".ip_mode")) onIpMode(field);
});

// ---- The summary and the request -----------------------------------------------------

const number = (field) => Number(field.value);
const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);

function disksBody() {
  return rowsOf("disks").map((row, i) => {
    const get = (name) => row.querySelector(`[name="disks.${i}.${name}"]`);
    const disk = { bus: get("bus").value };
    if (get("size_mib").value !== "") disk.size_mib = number(get("size_mib"));
    if (!get("datastore_id").disabled && get("datastore_id").value) disk.datastore_id = get("datastore_id").value;
    if (i === 0 && source() === "image") {
      disk.image_id = el["disks.0.image_id"].value;
      disk.clone = el["disks.0.clone"].value;
    }
    return disk;
  });
}

function nicsBody() {
  return rowsOf("nics").map((row, i) => {
    const get = (name) => row.querySelector(`[name="nics.${i}.${name}"]`);
    const nic = { port_group_id: get("port_group_id").value, model: get("model").value };
    if (!get("ips").disabled) nic.ips = get("ips").value.split(/[\s,]+/).filter(Boolean);
    return nic;
  });
}

/** The body of ``POST /api/v1/vms`` (VmCreate). */
function createBody() {
  const body = {
    name: el.name.value.trim(),
    description: el.description.value,
    cluster_id: el.cluster_id.value,
    vcpus: number(el.vcpus),
    memory_mib: number(el.memory_mib),
    ha_enabled: el.ha_enabled.checked,
    power_on: el.power_on.checked,
    disks: disksBody(),
    nics: nicsBody(),
    // Blank: an empty CD-ROM drive for media inserted later, tried after the disks.
    cdroms: [{}],
    boot_order: ["hd", "cdrom"],
    ssh_keys: lines(el.ssh_keys.value),
  };
  if (el.host_id.value) body.host_id = el.host_id.value;
  if (el.max_vcpus.value) body.max_vcpus = number(el.max_vcpus);
  if (el.max_memory_mib.value) body.max_memory_mib = number(el.max_memory_mib);
  if (el.user_data.value.trim()) body.user_data = el.user_data.value;
  if (source() === "iso") {
    body.cdroms = [{ image_id: el["cdroms.0.image_id"].value }];
    body.boot_order = ["cdrom", "hd"];
  } else if (source() === "image") {
    body.cdroms = [];
    body.boot_order = ["hd"];
  }
  return body;
}

/** A clone of the template (CloneBody), then what a clone cannot be told: HA and the
 * description (PATCH). */
async function cloneTemplate() {
  const body = { name: el.name.value.trim(), mode: el.mode.value, power_on: el.power_on.checked };
  const answer = await api("POST", `/vms/${el.template_id.value}/actions/clone`, body);
  const extra = {};
  if (el.description.value) extra.description = el.description.value;
  if (el.ha_enabled.checked) extra.ha_enabled = true;
  if (Object.keys(extra).length) {
    await api("PATCH", `/vms/${answer.vm.id}`, extra).catch((error) => toast(error.message, "error"));
  }
  return answer.vm;
}

function renderSummary() {
  const box = form.querySelector("[data-summary]");
  box.replaceChildren();
  const add = (term, value) => {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = term;
    dd.textContent = value === "" || value === undefined ? "—" : value;
    box.append(dt, dd);
  };
  const yes = (flag) => (flag ? t("yes") : t("no"));
  add(t("Source"), sourceText());
  if (source() !== "template") {
    add(t("Cluster"), shown(el.cluster_id));
    add(t("Host"), shown(el.host_id));
    add(t("vCPUs"), withMax(el.vcpus.value, el.max_vcpus.value));
    add(t("Memory"), withMax(`${el.memory_mib.value} MiB`, el.max_memory_mib.value && `${el.max_memory_mib.value} MiB`));
    add(t("Disks"), rowsOf("disks").map(diskText).join("; ") || t("none"));
    add(t("NICs"), rowsOf("nics").map(nicText).join("; ") || t("none"));
    add(t("Cloud-init"), cloudText());
  }
  add(t("Name"), el.name.value.trim());
  add(t("Description"), el.description.value);
  add(t("HA"), yes(el.ha_enabled.checked));
  add(t("Power on after it is created"), yes(el.power_on.checked));
}

function sourceText() {
  const kind = source();
  if (kind === "iso") return `${t("ISO image")}: ${shown(el["cdroms.0.image_id"])}`;
  if (kind === "image") return `${t("Disk image")}: ${shown(el["disks.0.image_id"])} · ${shown(el["disks.0.clone"])}`;
  if (kind === "template") return `${t("Template")}: ${shown(el.template_id)} · ${shown(el.mode)}`;
  return t("Blank");
}

function withMax(value, max) {
  return max ? fill("%(value)s (at most %(max)s)", { value, max }) : value;
}

function diskText(row, i) {
  const size = row.querySelector("[name$='.size_mib']").value;
  const store = row.querySelector("[data-datastore-select]");
  const what = size ? `${size} MiB` : t("the image's size");
  return `${i + 1}: ${what}, ${row.querySelector("[name$='.bus']").value}, ${store.disabled ? t("the image's datastore") : shown(store)}`;
}

function nicText(row, i) {
  const ips = row.querySelector("[name$='.ips']");
  const address = ips.disabled ? t("IP from the pool") : ips.value;
  return `${i + 1}: ${shown(row.querySelector("[data-port-group]"))}, ${address}`;
}

function cloudText() {
  const keys = lines(el.ssh_keys.value).length;
  const data = el.user_data.value.trim() ? t("user-data") : "";
  return [data, keys ? fill("%(n)s SSH keys", { n: keys }) : ""].filter(Boolean).join(", ") || t("none");
}

// ---- Sending, and the API's errors beside their fields -------------------------------

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  // Enter in a field moves on; only the last step creates.
  if (current !== steps.length - 1) { goTo(neighbour(current, 1)); return; }
  const bad = steps.findIndex((step, i) => !skipped(i) && !checkStep(i));
  if (bad >= 0) { show(bad, false); focusFirstError(steps[bad]); return; }
  create.disabled = true;
  clearFormErrors(form);
  try {
    const vm = source() === "template" ? await cloneTemplate() : (await api("POST", "/vms", createBody())).vm;
    toast(t("The VM is being created."), "ok");
    // The button stays disabled while the VM's page loads: one VM per click.
    window.location.assign(`/vms/${vm.id}`);
  } catch (error) {
    create.disabled = false;
    showApiError(error);
  }
});

function showApiError(error) {
  const details = error.details || {};
  const message = explained(error);
  const errors = (details.errors || []).map((item) => ({ loc: fieldFor(item.loc || [], item.msg || ""), msg: checkText(item) }));
  const named = fieldOfCode(error);
  if (named) errors.push({ loc: [named], msg: message });
  showFormErrors(form, { message, details: { errors: errors.filter((item) => item.loc.length) } });
  const field = form.querySelector("[aria-invalid=true]");
  if (!field) {
    const box = form.querySelector("[data-form-error]");
    if (box) box.scrollIntoView({ block: "nearest" });
    return;
  }
  const step = steps.findIndex((section) => section.contains(field));
  if (step >= 0) show(step, false);
  field.focus();
}

/** A failed check of the body in the page's language: its kind translated (by its
 * stable type), the API's own words after it. */
function checkText(item) {
  const key = `validation:${item.type}`;
  const kind = t(key);
  return kind === key ? item.msg : `${kind} (${item.msg})`;
}

/** The API's message, with the reasons of a refused placement. */
function explained(error) {
  const hosts = error.details && error.details.hosts;
  if (!hosts || typeof hosts !== "object") return error.message;
  return `${error.message}: ${Object.entries(hosts).map(([name, why]) => `${name}: ${why}`).join("; ")}`;
}

const fieldNamed = (name) => form.querySelector(`[name="${CSS.escape(name)}"]`);

/** The wizard field of a validation error's ``loc`` (a path of the body), as a path. */
function fieldFor(loc, msg) {
  const path = loc.filter((part) => part !== "body").map(String);
  for (let cut = path.length; cut > 0; cut -= 1) {
    const name = path.slice(0, cut).join(".");
    if (fieldNamed(name)) return name.split(".");
    // A row's own check (no field of it named): its first field.
    const inside = [...form.querySelectorAll(`[name^="${CSS.escape(name)}."]`)].find((f) => !f.disabled);
    if (inside && cut === path.length) return inside.name.split(".");
  }
  // A check of the whole body names its fields in the message.
  const mentioned = ["max_vcpus", "max_memory_mib", "vcpus", "memory_mib", "name"].find((n) => msg.includes(n));
  return mentioned ? [mentioned] : [];
}

/** The field a coded error concerns (details.field, or what its details name). */
function fieldOfCode(error) {
  const details = error.details || {};
  if (details.field) return String(details.field).replace(/\[(\d+)\]/g, ".$1");
  if (source() === "template") return ["name_conflict", "conflict"].includes(error.code) ? "name" : "template_id";
  if (error.code === "no_valid_host" || error.code === "insufficient_capacity") return el.host_id.value ? "host_id" : "cluster_id";
  if (error.code === "name_conflict") return "name";
  if (details.address) return fieldHolding("[name$='.ips']", (f) => !f.disabled && f.value.includes(details.address));
  if (details.port_group_id) {
    return fieldHolding("[data-port-group]", (f) => f.value === details.port_group_id, (row, i) => {
      const ips = row.querySelector("[name$='.ips']");
      return ips.disabled ? `nics.${i}.port_group_id` : ips.name;
    });
  }
  if (error.code === "datastore_unreachable") {
    return fieldHolding("[data-datastore-select]", (f) => f.value === (details.datastore_id || "")) || "host_id";
  }
  return "";
}

function fieldHolding(selector, matches, nameOf = null) {
  const found = [...form.querySelectorAll(selector)].find(matches);
  if (!found) return "";
  if (!nameOf) return found.name;
  const row = found.closest("[data-row]");
  return nameOf(row, rowsOf(row.dataset.row).indexOf(row));
}

// ---- Start ---------------------------------------------------------------------------

renumber("disks");
if (form.querySelector("[data-rows=nics]")) renumber("nics");
onCluster();
onSource();
