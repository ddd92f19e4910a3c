// The loglens dashboard: one EventSource on /events, each message a whole
// AnalyzerView (see src/telemetry/Telemetry.ts), drawn in place. Every string
// that comes from the logs goes into the page as text (textContent), never as
// markup: anyone who can send a request chooses its URL.
"use strict"

const $ = (id) => document.getElementById(id)
const fmt = (n) => (typeof n === "number" && Number.isFinite(n) ? n.toLocaleString("en-US") : "–")
const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z")
/** `2025-05-30 18:52:30 → 18:53:00Z` */
const span = (startMs, endMs) => `${iso(startMs).slice(0, 10)} ${iso(startMs).slice(11, 19)} → ${iso(endMs).slice(11)}`
const STATUS_COLORS = ["#d9480f", "#1971c2", "#7048e8", "#2b8a3e", "#e67700", "#0c8599", "#c2255c", "#5c940d"]

const setNumber = (id, n) => {
  const el = $(id)
  el.textContent = fmt(n)
  el.dataset.value = String(n)
}

/** A table row of text cells; `cell` may be a string or [text, className] or a Node. */
const row = (cells) => {
  const tr = document.createElement("tr")
  for (const cell of cells) {
    const td = document.createElement("td")
    if (cell instanceof Node) td.append(cell)
    else if (Array.isArray(cell)) {
      td.textContent = cell[0]
      td.className = cell[1]
    } else td.textContent = cell
    tr.append(td)
  }
  return tr
}

const fillTable = (id, rows, emptyId) => {
  const table = $(id)
  table.tBodies[0].replaceChildren(...rows)
  if (emptyId !== undefined) {
    table.hidden = rows.length === 0
    $(emptyId).hidden = rows.length > 0
  }
}

const ago = (ms, now) => {
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s ago`
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`
}

// -- the chart ---------------------------------------------------------------------
let chart
let chartStatuses = ""

const chartData = (view) => {
  const starts = [...new Set(view.cells.map((c) => c.startMs))].sort((a, b) => a - b)
  const statuses = [...new Set(view.cells.map((c) => c.status))].sort((a, b) => a - b)
  const index = new Map(starts.map((s, i) => [s, i]))
  const series = statuses.map(() => starts.map(() => 0))
  for (const cell of view.cells) series[statuses.indexOf(cell.status)][index.get(cell.startMs)] = cell.count
  const threshold = starts.map(() => view.threshold)
  return { statuses, data: [starts.map((s) => s / 1000), ...series, threshold] }
}

const drawChart = (view) => {
  const { statuses, data } = chartData(view)
  const key = statuses.join(",")
  const el = $("chart")
  el.dataset.points = String(data[0].length)
  el.dataset.statuses = key
  $("chart-note").textContent = `(${view.windowMs / 1000} s windows, threshold ${fmt(view.threshold)})`
  if (chart === undefined || key !== chartStatuses) {
    chart?.destroy()
    chartStatuses = key
    chart = new uPlot({
      width: Math.max(320, el.clientWidth),
      height: 280,
      // Window starts in UTC, as everywhere else in loglens.
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
      axes: [
        { space: 90, values: (_u, splits) => splits.map((s) => new Date(s * 1000).toISOString().slice(11, 19)) },
        { label: "errors", size: 60 }
      ],
      series: [
        { label: "window start" },
        ...statuses.map((status, i) => ({
          label: String(status),
          stroke: STATUS_COLORS[i % STATUS_COLORS.length],
          width: 2,
          points: { size: 5 }
        })),
        { label: "threshold", stroke: "#868e96", dash: [6, 4], width: 1, points: { show: false } }
      ]
    }, data, el)
  } else {
    chart.setData(data)
  }
}

window.addEventListener("resize", () => chart?.setSize({ width: Math.max(320, $("chart").clientWidth), height: 280 }))

// -- one view ----------------------------------------------------------------------
const render = (view) => {
  const now = view.nowMs
  $("source").textContent = `${view.mode} mode · ${view.source}`
  setNumber("lines-read", view.counters.lines)
  setNumber("errors", view.counters.errors)
  setNumber("late", view.counters.late)
  setNumber("rejected", view.counters.rejected)
  setNumber("throughput", view.linesPerSecond)
  setNumber("windows-open", view.openWindows.length)
  $("watermark").textContent = view.watermarkMs === null ? "none yet" : iso(view.watermarkMs)
  if (view.lag !== null) {
    $("lag-box").hidden = false
    setNumber("lag", Object.values(view.lag).reduce((a, b) => a + b, 0))
    $("lag").title = Object.entries(view.lag).map(([p, n]) => `partition ${p}: ${fmt(n)}`).join("\n")
  }

  drawChart(view)

  fillTable("alert-states", view.alertStates.map((s) => {
    const badge = document.createElement("span")
    badge.className = `badge ${s.state}`
    badge.textContent = s.state
    return row([
      String(s.status),
      badge,
      `${ago(s.sinceMs, now)}, ${iso(s.sinceMs).slice(11, 19)}Z`,
      span(Date.parse(s.windowStart), Date.parse(s.windowEnd)),
      [fmt(s.errorCount), "num"]
    ])
  }), "alert-states-empty")

  fillTable("open-windows", view.openWindows.flatMap((w) =>
    w.statuses.map((s, i) => row([
      i === 0 ? span(w.startMs, w.endMs) : "",
      String(s.status),
      [fmt(s.count), "num"],
      [fmt(s.uniqueIps), "num"]
    ]))
  ), "open-windows-empty")

  fillTable("top-urls", view.topUrls.map((u) => row([[u.value, "text"], [fmt(u.count), "num"]])))
  fillTable("top-ips", view.topIps.map((u) => row([[u.value, "text"], [fmt(u.count), "num"]])))
  for (const note of document.querySelectorAll(".sample-note")) {
    note.textContent = `(in the latest ${fmt(view.sampleSize)} errors)`
  }
  document.body.dataset.updatedAt = String(now)
}

// -- the event stream ----------------------------------------------------------------
const connection = $("connection")
const events = new EventSource("/events")
events.onopen = () => {
  connection.dataset.state = "live"
  connection.textContent = "live"
}
events.onerror = () => {
  connection.dataset.state = "reconnecting"
  connection.textContent = "reconnecting…"
}
events.onmessage = (message) => {
  connection.dataset.state = "live"
  connection.textContent = "live"
  render(JSON.parse(message.data))
}
