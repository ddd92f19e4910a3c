/**
 * Helpers for end-to-end tests: run the built CLI (`dist/main.js`, built by
 * `npm test` before vitest starts) as a real child process, and read the
 * output folders it writes.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export const MAIN = path.resolve("dist/main.js")
/** As the CLI's shebang: kafkajs's harmless negative timers would print a Node warning each. */
export const NODE_FLAGS = ["--disable-warning=TimeoutNegativeWarning"]

if (!fs.existsSync(MAIN)) {
  throw new Error(`${MAIN} is missing: run the tests with \`npm test\`, which builds first (or \`npm run build\`).`)
}

export interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface Running {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  readonly done: Promise<Finished>
  /** Resolves with the first stderr/stdout match of `pattern`, or rejects after `timeoutMs`. */
  readonly waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>
}

export interface StartOptions {
  readonly cwd?: string
  readonly env?: NodeJS.ProcessEnv
  /** Give the child a writable stdin (`child.stdin`) instead of none. */
  readonly stdin?: boolean
}

export const start = (args: ReadonlyArray<string>, options: StartOptions = {}): Running => {
  const child = spawn(process.execPath, [...NODE_FLAGS, MAIN, ...args], {
    cwd: options.cwd ?? process.cwd(),
    env: { ...process.env, ...options.env },
    stdio: [options.stdin === true ? "pipe" : "ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  const watchers = new Set<() => void>()
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    stdout += d
    for (const w of watchers) w()
  })
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    stderr += d
    for (const w of watchers) w()
  })
  const done = new Promise<Finished>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  )
  const waitFor = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = (stderr + "\n" + stdout).match(pattern)
        if (match !== null) {
          watchers.delete(check)
          clearTimeout(timer)
          resolve(match)
        }
      }
      const timer = setTimeout(() => {
        watchers.delete(check)
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}\nstdout:\n${stdout}\nstderr:\n${stderr}`))
      }, timeoutMs)
      watchers.add(check)
      check()
      void done.then(() => check())
    })
  return { child, stdout: () => stdout, stderr: () => stderr, done, waitFor }
}

export const run = (args: ReadonlyArray<string>, options: StartOptions = {}) =>
  start(args, options).done

export const tempDir = (prefix: string): string => fs.mkdtempSync(path.join(os.tmpdir(), `loglens-${prefix}-`))

/** Every JSON line of every part file in `folder`, in file order. */
export const readParts = (folder: string): Array<any> => {
  if (!fs.existsSync(folder)) return []
  return fs.readdirSync(folder)
    .filter((name) => name.endsWith(".jsonl"))
    .sort()
    .flatMap((name) =>
      fs.readFileSync(path.join(folder, name), "utf8").split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l))
    )
}

/** Raw lines of every part file, to check nothing is torn. */
export const readPartLines = (folder: string): Array<string> => {
  if (!fs.existsSync(folder)) return []
  return fs.readdirSync(folder)
    .filter((name) => name.endsWith(".jsonl"))
    .sort()
    .flatMap((name) => {
      const text = fs.readFileSync(path.join(folder, name), "utf8")
      if (!text.endsWith("\n")) throw new Error(`${name} does not end with a newline: a torn part file`)
      return text.split("\n").slice(0, -1)
    })
}
