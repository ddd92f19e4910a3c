/**
 * Helpers for the HTTP port's tests: an analyzer reading stdin with `--http`
 * on a free loopback port (stopped, and its folder removed, when the test
 * ends), lines to feed it, and a `/metrics` parser written here (not
 * prom-client's) so the test reads the text as Prometheus would.
 */
import * as path from "node:path"
import { start, tempDir, type Running } from "../e2e/cli.ts"

export interface Analyzer {
  readonly running: Running
  readonly url: string
  readonly dir: string
  readonly write: (lines: ReadonlyArray<string>) => Promise<void>
  /** Ends stdin (the replay ends, windows close) and waits for the exit; the folder goes when the test ends. */
  readonly stop: () => Promise<void>
}

export const startAnalyzer = async (extra: ReadonlyArray<string> = [], http = "127.0.0.1:0"): Promise<Analyzer> => {
  const dir = tempDir("http")
  const running = start([
    "analyze", "--input", "-", "--http", http, "--trigger", "1s",
    "--output", path.join(dir, "out"), "--checkpoint", path.join(dir, "cp"), ...extra
  ], { stdin: true })
  const [, url] = await running.waitFor(/dashboard at (http:\/\/\S+\/) /)
  const stdin = running.child.stdin!
  // A child killed at the end of its test closes the pipe; writing to it then is no failure of the test.
  stdin.on("error", () => {})
  return {
    running,
    url: url!,
    dir,
    write: (lines) =>
      new Promise<void>((resolve, reject) => stdin.write(lines.map((l) => `${l}\n`).join(""), (e) => (e ? reject(e) : resolve()))),
    stop: async () => {
      if (running.child.exitCode === null && running.child.signalCode === null) stdin.end()
      await running.done
    }
  }
}

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** Prometheus text format: `name{a="b",c="d"} value` lines; comments skipped. */
export const parseMetrics = (text: string): Array<Sample> =>
  text.split("\n").filter((l) => l.length > 0 && !l.startsWith("#")).map((line) => {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not a Prometheus sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const pair of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!
    return { name: m[1]!, labels, value: Number(m[3]) }
  })

export const metric = (samples: ReadonlyArray<Sample>, name: string, labels: Record<string, string> = {}): number | undefined =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value

export const fetchMetrics = async (url: string) => parseMetrics(await (await fetch(`${url}metrics`)).text())

/** Polls `check` until it returns a value (not undefined), or fails after `timeoutMs`. */
export const eventually = async <A>(check: () => Promise<A | undefined>, what: string, timeoutMs = 15_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

export const SECOND = 1000
/** A recent window start, so that --max-future never rejects the lines. */
export const BASE = Math.floor((Date.now() - 3600 * SECOND) / (30 * SECOND)) * 30 * SECOND

export const line = (ms: number, status: number, url = "/resource/1", ip = "10.0.0.1") =>
  JSON.stringify({ timestamp: new Date(ms).toISOString(), ip, method: "GET", url, status })
