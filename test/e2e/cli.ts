/**
 * Helpers for end-to-end tests: run the built CLI (`dist/main.js`, built by
 * `npm test` before vitest starts) as a real child process, and read the
 * output folders it writes. Nothing is left behind: a child still running
 * when its test ends is killed, and a temp folder is removed when its test
 * ends, whether the test passed or failed (concurrent tests: when their file ends).
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, onTestFinished, TestRunner } from "vitest"

export const MAIN = path.resolve("dist/main.js")

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
  const child = spawn(process.execPath, [MAIN, ...args], {
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
  whenTestEnds(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL")
      await done
    }
  })
  return { child, stdout: () => stdout, stderr: () => stderr, done, waitFor }
}

export const run = (args: ReadonlyArray<string>, options: StartOptions = {}) =>
  start(args, options).done

/** A new folder in the system's temp folder, removed with everything in it when the test ends. */
export const tempDir = (prefix: string): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `loglens-${prefix}-`))
  whenTestEnds(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 }))
  return dir
}

// Cleanups of concurrent tests, and of code outside any test (a `beforeAll`): run at the end of the file.
const atFileEnd: Array<() => void | Promise<void>> = []
afterAll(async () => {
  for (const cleanup of atFileEnd.splice(0).reverse()) await cleanup()
})

/**
 * Runs `cleanup` when the current test ends, passed or failed. In a concurrent suite the
 * current test cannot be told apart from its siblings, so there (and outside any test) it runs
 * at the end of the file instead. Cleanups run newest first, so a child started in a temp folder
 * is stopped before its folder is removed.
 */
export const whenTestEnds = (cleanup: () => void | Promise<void>): void => {
  const test = TestRunner.getCurrentTest()
  if (test !== undefined && test.concurrent !== true) onTestFinished(cleanup)
  else atFileEnd.push(cleanup)
}

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
