#!/usr/bin/env node
// `npm start`: the local pipeline on loopback TCP. The generator serves lines
// on a port, the analyzer reads them and prints its table every 10 s.
// Ctrl-C stops both; the analyzer closes its windows and flushes on the way out.
// LOGLENS_DEMO_PORT, LOGLENS_DEMO_RATE and LOGLENS_DEMO_HTTP change the port (9999), the rate (200 lines/s)
// and the dashboard's address (127.0.0.1:8686).
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import * as path from "node:path"

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const main = path.join(root, "dist", "main.js")
const port = process.env.LOGLENS_DEMO_PORT ?? "9999"
const rate = process.env.LOGLENS_DEMO_RATE ?? "200"

const run = (args) => spawn(process.execPath, ["--disable-warning=TimeoutNegativeWarning", main, ...args], { cwd: root, stdio: ["ignore", "inherit", "inherit"] })

const http = process.env.LOGLENS_DEMO_HTTP ?? "127.0.0.1:8686"
// Every demo run starts afresh (--clean): the previous run's results in ./output and its checkpoint
// are emptied first, and the first line says so.
console.log(
  `loglens demo: ${rate} lines/s over tcp://127.0.0.1:${port}; a table every 10 s; results in ./output, ` +
    `which every demo run empties first (copy it elsewhere to keep it). Ctrl-C to stop.`
)
console.log(`loglens demo: live dashboard at http://${http}/ (Prometheus metrics at http://${http}/metrics)`)
const generator = run([
  "generate", "--listen", port, "--rate", rate, "--urls", "50", "--status-dist", "70", "20", "10"
])
const analyzer = run([
  "analyze", "--host", "127.0.0.1", "--port", port, "--trigger", "10s", "--output", "output", "--clean", "--http", http
])

let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  analyzer.kill("SIGINT")
  generator.kill("SIGINT")
}
process.on("SIGINT", stop)
process.on("SIGTERM", stop)
generator.on("exit", (code) => {
  if (!stopping) {
    console.error(`loglens demo: the generator stopped (exit ${code}); stopping the analyzer.`)
    stop()
  }
})
analyzer.on("exit", (code) => {
  if (!stopping) generator.kill("SIGINT")
  process.exitCode = code ?? 1
})
