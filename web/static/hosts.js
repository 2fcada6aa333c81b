// Hosts and clusters: live host usage (numbers, meters, last heartbeat) from the change
// feed's "host" events, and the placement-rule form of a cluster page.
import { api, clearFormErrors, onLive, showFormErrors, t, toast } from "./app.js";

/** A number, or null when the agent did not report one. */
function numberOr(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** CPU and memory use, 0-100, from a host's reported usage. */
export function usagePercents(usage) {
  const cpu = numberOr(usage && usage.cpu_percent);
  const used = numberOr(usage && usage.memory_used_mib);
  const total = numberOr(usage && usage.memory_total_mib);
  const memory = used !== null && total ? Math.round((1000 * used) / total) / 10 : null;
  return { cpu, memory };
}

/** A meter (from the _macros meter) showing ``pct`` percent. */
function setMeter(meter, pct) {
  if (!meter) return;
  const whole = Math.floor(Math.max(pct || 0, 0));
  meter.setAttribute("aria-valuenow", String(Math.min(whole, 100)));
  meter.title = `${whole} %`;
  meter.classList.toggle("full", whole >= 95);
  meter.classList.toggle("high", whole >= 80 && whole < 95);
  const bar = meter.querySelector("span");
  if (bar) bar.style.width = `${Math.min(whole, 100)}%`;
}

function showUsage(node, value) {
  node.dataset.value = value === null ? "" : String(value);
  node.querySelector(".usage-figure").textContent = value === null ? "—" : `${value.toFixed(1)} %`;
  setMeter(node.querySelector(".meter"), value);
}

/** "2026-12-03T16:42:21.987733+00:00" as the pages print moments (UTC). */
export function shownMoment(iso) {
  return iso ? String(iso).replace("T", " ").slice(0, 19) : "—";
}

function showBeat(node, iso) {
  let time = node.querySelector("time");
  if (!time) {
    node.replaceChildren();
    time = document.createElement("time");
    node.append(time);
  }
  time.setAttribute("datetime", iso);
  time.textContent = shownMoment(iso);
}

onLive("host", (item) => {
  const percents = usagePercents(item.usage);
  document.querySelectorAll(`[data-host-usage="${item.id}"]`).forEach((node) => {
    showUsage(node, percents[node.dataset.kind]);
  });
  if (item.last_heartbeat_at) {
    document.querySelectorAll(`[data-host-beat="${item.id}"]`).forEach((node) => showBeat(node, item.last_heartbeat_at));
  }
});

// Placement rules: several VMs and hosts are chosen in multi-selects, which the shared
// form handler would send as one value; this form sends them as lists.
function ruleBody(form) {
  const chosen = (name) => [...form.querySelectorAll(`select[name="${name}"] option:checked`)].map((option) => option.value);
  return {
    cluster_id: form.elements.cluster_id.value,
    name: form.elements.name.value.trim(),
    kind: form.elements.kind.value,
    enabled: form.elements.enabled.checked,
    vm_ids: chosen("vm_ids"),
    host_ids: chosen("host_ids"),
  };
}

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-rule-form]");
  if (!form) return;
  event.preventDefault();
  const submit = form.querySelector("[type=submit]");
  submit.disabled = true;
  clearFormErrors(form);
  try {
    await api("POST", "/placement-rules", ruleBody(form));
    toast(t("Rule added."), "ok");
    window.location.reload();
  } catch (error) {
    showFormErrors(form, error);
  } finally {
    submit.disabled = false;
  }
});

// Host choices only matter for VM-to-host rules.
function syncRuleKind(form) {
  const hostRule = form.elements.kind.value.startsWith("host_");
  form.querySelectorAll("[data-host-choice]").forEach((node) => { node.hidden = !hostRule; });
}
document.querySelectorAll("form[data-rule-form]").forEach((form) => {
  syncRuleKind(form);
  form.elements.kind.addEventListener("change", () => syncRuleKind(form));
});

// A deleted rule or host leaves the page it was on: reload it (or go where data-then says).
document.addEventListener("vrm:done", (event) => {
  const source = event.target.closest("[data-reload]");
  if (source) window.location.reload();
});
