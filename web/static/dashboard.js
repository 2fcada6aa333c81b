// The dashboard, live: host usage (hosts.js), recent tasks, a CPU chart of the last
// minutes, and the counts refreshed when VMs, hosts' states or alarms change.
import { onLive, t } from "./app.js";
import { shownMoment, usagePercents } from "./hosts.js";

// --- recent tasks: a new task goes on top, the list keeps its length ------------------
const taskRows = document.querySelector("[data-task-rows]");
const TARGET_PATHS = { vm: "/vms/", host: "/hosts/", cluster: "/clusters/" };
// Task types in the page's language, as the server printed them.
const TASK_LABELS = taskRows ? JSON.parse(taskRows.dataset.taskLabels || "{}") : {};

function cell(...children) {
  const td = document.createElement("td");
  td.append(...children);
  return td;
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function stateBadge(task) {
  const badge = document.createElement("span");
  badge.className = `badge state-${task.state}`;
  badge.dataset.liveState = `task:${task.id}`;
  const text = document.createElement("span");
  text.dataset.live = `task:${task.id}:state`;
  text.dataset.liveTranslate = "";
  text.textContent = t(task.state);
  badge.append(text);
  return badge;
}

function taskRow(task) {
  const row = document.createElement("tr");
  row.dataset.taskRow = task.id;
  const target = task.target_id && TARGET_PATHS[task.target_type]
    ? link(TARGET_PATHS[task.target_type] + task.target_id, `${t(task.target_type)} ${task.target_id.slice(0, 8)}`)
    : document.createTextNode(task.target_type ? t(task.target_type) : "—");
  const progress = document.createElement("progress");
  progress.max = 100;
  progress.value = task.progress || 0;
  progress.dataset.live = `task:${task.id}:progress`;
  progress.setAttribute("aria-label", t("Progress"));
  const created = document.createElement("time");
  created.setAttribute("datetime", task.created_at || "");
  created.textContent = shownMoment(task.created_at);
  row.append(cell(link(`/tasks/${task.id}`, TASK_LABELS[task.type] || task.type)), cell(target), cell(stateBadge(task)), cell(progress), cell(created));
  return row;
}

onLive("task", (task) => {
  if (!taskRows || taskRows.querySelector(`[data-task-row="${task.id}"]`)) return;
  taskRows.querySelector("[data-task-empty]")?.remove();
  taskRows.prepend(taskRow(task));
  const limit = Number(taskRows.dataset.limit) || 10;
  [...taskRows.querySelectorAll("[data-task-row]")].slice(limit).forEach((row) => row.remove());
});

// --- counts, allocation, datastores, alarms: re-read when what they count changes -----
// One reload of the page's figures per burst of changes, never on a timer.
const REFRESH_DELAY_MS = 2000;
let refreshTimer = null;

async function refreshFigures() {
  refreshTimer = null;
  const response = await fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  document.querySelectorAll("[data-refresh][id]").forEach((node) => {
    const replacement = fresh.getElementById(node.id);
    if (replacement) node.replaceWith(document.importNode(replacement, true));
  });
}

function scheduleRefresh() {
  if (refreshTimer === null) refreshTimer = setTimeout(() => refreshFigures().catch(() => {}), REFRESH_DELAY_MS);
}

onLive("vm", scheduleRefresh);
onLive("alarm", scheduleRefresh);
// Hosts beat every few seconds; only a change of state changes the counts. A host not
// shown is remembered from its first beat on (its state at load is in the counts).
const hostStates = new Map([...document.querySelectorAll("[data-host-row]")].map((row) => [row.dataset.hostRow, row.dataset.hostState]));
onLive("host", (host) => {
  const known = hostStates.get(host.id);
  hostStates.set(host.id, host.state);
  if (known !== undefined && known !== host.state) scheduleRefresh();
});

// --- CPU of the shown hosts over the last minutes (uPlot, when installed) ------------
const CHART_SECONDS = 300;
const chartBox = document.querySelector("[data-usage-chart]");
const hostRows = [...document.querySelectorAll("[data-host-row]")].slice(0, 6);
const PALETTE = ["#0b63c5", "#107c41", "#a15c00", "#c42b1c", "#7a3db8", "#00838f"];

function chartWidth() {
  return Math.max(chartBox.clientWidth, 240);
}

function makeChart() {
  if (!chartBox || !window.uPlot || hostRows.length === 0) return null;
  chartBox.classList.add("ready"); // shown before measured
  const muted = getComputedStyle(document.body).getPropertyValue("--muted").trim() || "#777";
  const axis = { stroke: muted, grid: { stroke: "rgba(127,127,127,.15)" }, ticks: { stroke: "rgba(127,127,127,.25)" } };
  const series = [{ label: t("Time") }].concat(hostRows.map((row, i) => ({
    label: row.dataset.hostName, stroke: PALETTE[i % PALETTE.length], width: 2, value: (u, v) => (v == null ? "—" : `${v.toFixed(1)} %`),
  })));
  const options = {
    width: chartWidth(),
    height: 160,
    series,
    scales: {
      // Always the last minutes, however few samples there are yet.
      x: { time: true, range: () => { const now = Date.now() / 1000; return [now - CHART_SECONDS, now]; } },
      y: { range: [0, 100] },
    },
    // Times as the pages print them: UTC, 24-hour.
    axes: [
      { ...axis, incrs: [60, 120, 300], values: (u, ticks) => ticks.map((ts) => new Date(ts * 1000).toISOString().slice(11, 16)) },
      { ...axis, values: (u, ticks) => ticks.map((v) => `${v}%`) },
    ],
    legend: { show: true, live: false },
  };
  const now = Date.now() / 1000;
  const initial = hostRows.map((row) => {
    const node = row.querySelector('[data-host-usage][data-kind="cpu"]');
    return node && node.dataset.value !== "" ? Number(node.dataset.value) : null;
  });
  const data = [[now], ...initial.map((value) => [value])];
  return { plot: new window.uPlot(options, data, chartBox), data, latest: initial };
}

const chart = makeChart();
if (chart) {
  const index = new Map(hostRows.map((row, i) => [row.dataset.hostRow, i]));
  onLive("host", (host) => {
    const i = index.get(host.id);
    if (i === undefined) return;
    chart.latest[i] = usagePercents(host.usage).cpu;
    const now = Date.now() / 1000;
    chart.data[0].push(now);
    chart.latest.forEach((value, k) => chart.data[k + 1].push(value));
    while (chart.data[0].length > 2 && chart.data[0][0] < now - CHART_SECONDS) chart.data.forEach((column) => column.shift());
    chart.plot.setData(chart.data);
  });
  window.addEventListener("resize", () => chart.plot.setSize({ width: chartWidth(), height: 160 }));
}
