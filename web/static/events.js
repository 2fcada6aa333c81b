// Events and alarms: new events and alarms appear at the top of the table while it shows
// the newest (most urgent) first; acknowledging an alarm updates its row; the count of
// active alarms on the tab follows every alarm change.
import { api, onLive, t } from "./app.js";

const LINKED = new Set(["vm", "host", "cluster"]);
// Filters that match a part of their field, in any case (as the server does).
const PARTIAL = { q: "message", type: "type", code: "code" };

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function cell(...children) {
  return element("td", {}, ...children);
}

/** Whether a live item belongs in a table showing these filters (as the server filters). */
function matches(filters, item) {
  return Object.entries(filters).every(([name, value]) => {
    if (!value) return true;
    if (name in PARTIAL) return String(item[PARTIAL[name]] || "").toLowerCase().includes(value.toLowerCase());
    return String(item[name] ?? "") === value;
  });
}

function when(iso) {
  if (!iso) return "—";
  const moment = new Date(iso);
  // As the server shows times: UTC, to the second.
  return element("time", { datetime: iso }, moment.toISOString().slice(0, 19).replace("T", " "));
}

function severity(value) {
  return element("span", { class: `badge state-${value}` }, t(value));
}

function target(kind, id) {
  if (!kind) return "—";
  const label = element("span", { class: "muted" }, t(kind));
  if (!id) return label;
  const short = String(id).slice(0, 8);
  const name = LINKED.has(kind) ? element("a", { href: `/${kind}s/${id}` }, short) : element("span", { title: id }, short);
  const box = document.createDocumentFragment();
  box.append(label, " ", name);
  return box;
}

/** Put a new row on top of a live table and keep it one page long. */
function addOnTop(tbody, row) {
  tbody.querySelector("[data-empty]")?.remove();
  tbody.prepend(row);
  const limit = Number(tbody.dataset.liveTop) || 50;
  const rows = tbody.querySelectorAll("tr");
  for (let index = limit; index < rows.length; index += 1) rows[index].remove();
}

function eventRow(item) {
  const byType = new URL(location.href);
  byType.searchParams.set("type", item.type);
  byType.searchParams.set("page", "1");
  return element(
    "tr",
    { "data-event-id": item.id },
    cell(severity(item.severity)),
    cell(element("a", { href: byType.pathname + byType.search, title: t("Only events of this type") }, element("code", {}, item.type))),
    cell(target(item.target_type, item.target_id)),
    element("td", { class: "wrap" }, item.message || ""),
    cell(when(item.created_at)),
  );
}

onLive("event", (item) => {
  const tbody = document.querySelector("tbody[data-events][data-live-top]");
  if (!tbody || tbody.querySelector(`tr[data-event-id="${CSS.escape(item.id)}"]`)) return;
  if (matches(JSON.parse(tbody.dataset.filters || "{}"), item)) addOnTop(tbody, eventRow(item));
});

function alarmState(item) {
  return element(
    "span",
    { class: `badge state-${item.state}`, "data-live-state": `alarm:${item.id}` },
    element("span", { "data-live": `alarm:${item.id}:state`, "data-live-translate": "" }, t(item.state)),
  );
}

function acknowledgeButton(item) {
  return element(
    "button",
    {
      type: "button",
      "data-action": `POST /alarms/${item.id}/acknowledge`,
      "data-done": t("Alarm acknowledged."),
      "aria-label": t("Acknowledge alarm %(code)s").replace("%(code)s", item.code),
    },
    t("Acknowledge"),
  );
}

function alarmRow(item, writer) {
  const row = element(
    "tr",
    { "data-alarm-id": item.id },
    cell(alarmState(item)),
    cell(severity(item.severity)),
    cell(element("code", {}, item.code)),
    cell(target(item.target_type, item.target_id)),
    element("td", { class: "wrap" }, item.message || ""),
    cell(when(item.raised_at || item.updated_at)),
    cell(when(item.cleared_at)),
  );
  if (writer) row.append(cell(item.state === "active" ? acknowledgeButton(item) : ""));
  return row;
}

/** A known alarm changed: its badge follows by itself (app.js); only active ones keep the button. */
function updateAlarmRow(row, item) {
  if (item.state !== "active") row.querySelector("[data-action$='/acknowledge']")?.remove();
}

let counting = null;
/** The number of active alarms on the tab, asked again (once) after alarm changes. */
function recount() {
  clearTimeout(counting);
  counting = setTimeout(async () => {
    const badge = document.querySelector("[data-active-alarms]");
    if (!badge) return;
    try {
      const answer = await api("GET", "/alarms?state=active&limit=1");
      badge.textContent = String(answer.total);
      badge.classList.toggle("state-critical", answer.total > 0);
    } catch (error) {
      // The count stays as it was; the next change asks again.
    }
  }, 300);
}

onLive("alarm", (item) => {
  recount();
  const row = document.querySelector(`tr[data-alarm-id="${CSS.escape(item.id)}"]`);
  if (row) {
    updateAlarmRow(row, item);
    return;
  }
  const tbody = document.querySelector("tbody[data-alarms][data-live-top]");
  if (tbody && item.state === "active" && matches(JSON.parse(tbody.dataset.filters || "{}"), item)) {
    addOnTop(tbody, alarmRow(item, tbody.dataset.writer !== undefined));
  }
});

// Acknowledged through the button: show it at once (the live update confirms it later).
document.addEventListener("vrm:done", (event) => {
  const row = event.target.closest("tr[data-alarm-id]");
  const alarm = event.detail;
  if (!row || !alarm || !alarm.state) return;
  const badge = row.querySelector(`[data-live-state="alarm:${alarm.id}"]`);
  if (badge) badge.replaceWith(alarmState(alarm));
  updateAlarmRow(row, alarm);
  recount();
});
