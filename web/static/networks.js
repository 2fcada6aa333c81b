// Network pages: the IP pool forms (ranges as a list, errors beside the field they
// concern) and adding or removing range rows. DVS and port group forms use app.js's
// data-api-form as they are.
import { api, clearFormErrors, showFormErrors, t, toast } from "./app.js";

// Errors whose details name no field (or name it as "ranges[0]"): the field they concern.
const CODE_FIELDS = {
  invalid_cidr: "cidr",
  cidr_overlap: "cidr",
  gateway_outside_cidr: "gateway",
  gateway_in_range: "gateway",
  name_conflict: "name",
  ip_in_use: "reserved",
  port_group_not_found: "port_group_id",
};

function split(text) {
  return String(text).split(/[\s,;]+/).filter(Boolean);
}

function rangeRows(form) {
  return [...form.querySelectorAll("[data-range]")];
}

/** The pool form's fields as the API's JSON: ranges a list, address lists split. */
function poolJson(form, method) {
  const value = (name) => (form.elements[name] ? form.elements[name].value.trim() : undefined);
  const data = { name: value("name"), description: value("description") };
  if (form.elements.port_group_id) data.port_group_id = value("port_group_id");
  if (form.elements.cidr) data.cidr = value("cidr");
  const gateway = value("gateway");
  if (gateway) data.gateway = gateway;
  else if (method === "PATCH") data.gateway = null;
  data.dns_servers = split(value("dns_servers"));
  data.reserved = split(value("reserved"));
  data.ranges = rangeRows(form)
    .map((row) => ({ start: row.querySelector("[name$='.start']").value.trim(), end: row.querySelector("[name$='.end']").value.trim() }))
    .filter((range) => range.start || range.end);
  return data;
}

/** "ranges[2].start" or "ranges[2]" as the name of an input of the form. */
function fieldName(form, error) {
  const details = error.details || {};
  const raw = details.field ? String(details.field) : CODE_FIELDS[error.code];
  if (raw) {
    const match = /^(ranges|reserved|dns_servers)\[(\d+)\](?:\.(start|end))?$/.exec(raw);
    if (!match) return raw;
    if (match[1] !== "ranges") return match[1];
    const end = match[3] || (error.code === "invalid_range" ? "end" : whichEnd(form, match[2], details.value));
    return `ranges.${match[2]}.${end}`;
  }
  if (error.code === "ip_range_overlap" && details.ranges) return overlappingRange(form, details.ranges[1]);
  return null;
}

function whichEnd(form, index, value) {
  const end = form.elements[`ranges.${index}.end`];
  return end && value && end.value.trim() === value ? "end" : "start";
}

/** The row whose start begins the second of two overlapping ranges ("a-b"). */
function overlappingRange(form, text) {
  const start = String(text || "").split("-")[0];
  const row = rangeRows(form).find((r) => r.querySelector("[name$='.start']").value.trim() === start);
  return (row || rangeRows(form)[0]).querySelector("[name$='.start']").name;
}

function placeError(form, error) {
  const name = error.details && error.details.errors ? null : fieldName(form, error);
  if (name && form.elements[name]) {
    showFormErrors(form, { code: error.code, message: error.message, details: { field: name } });
  } else {
    showFormErrors(form, error);
  }
}

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-pool-form]");
  if (!form) return;
  event.preventDefault();
  const [method, path] = form.dataset.poolForm.split(" ");
  const submit = form.querySelector("[type=submit]");
  submit.disabled = true;
  clearFormErrors(form);
  try {
    const answer = await api(method, path, poolJson(form, method));
    toast(form.dataset.done || t("Saved."), "ok");
    window.location.assign(form.dataset.then.replace("{id}", answer.id));
  } catch (error) {
    placeError(form, error);
  } finally {
    submit.disabled = false;
  }
});

/** Give the range rows their index again (the API's errors name ranges by position). */
function renumber(form) {
  rangeRows(form).forEach((row, index) => {
    const n = String(index + 1);
    row.querySelector("[name$='.start']").name = `ranges.${index}.start`;
    row.querySelector("[name$='.end']").name = `ranges.${index}.end`;
    row.querySelector("[name$='.start']").setAttribute("aria-label", t("First address of range %(n)s").replace("%(n)s", n));
    row.querySelector("[name$='.end']").setAttribute("aria-label", t("Last address of range %(n)s").replace("%(n)s", n));
    row.querySelector("[data-remove-range]").setAttribute("aria-label", t("Remove range %(n)s").replace("%(n)s", n));
  });
}

document.addEventListener("click", (event) => {
  const add = event.target.closest("[data-add-range]");
  const remove = event.target.closest("[data-remove-range]");
  if (!add && !remove) return;
  const form = event.target.closest("form");
  if (add) {
    const rows = rangeRows(form);
    const copy = rows[rows.length - 1].cloneNode(true);
    copy.querySelectorAll("input").forEach((input) => { input.value = ""; input.removeAttribute("aria-invalid"); });
    copy.querySelectorAll("[data-field-error]").forEach((node) => node.remove());
    rows[rows.length - 1].after(copy);
    renumber(form);
    copy.querySelector("input").focus();
  } else {
    const row = remove.closest("[data-range]");
    if (rangeRows(form).length > 1) row.remove();
    else row.querySelectorAll("input").forEach((input) => { input.value = ""; });
    renumber(form);
  }
});
