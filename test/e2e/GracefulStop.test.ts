/**
 * Stops that lose nothing, with the real CLI on a two-million-line replay:
 * SIGTERM and SIGINT at random moments, right as a part file is sealed and
 * right as the checkpoint is written, each followed by a rerun of the same
 * command; and stdin killed with kill -9, then fed the same bytes again. Every
 * stopped run exits 0 and says its windows stay open, and after the rerun the
 * outputs equal an uninterrupted run's: errors/, windows/ and rejected/ as
 * multisets of lines, alerts by (window, status). stdin fed other bytes, or
 * more bytes after a finished run, is refused with a message.
 *
 * The input is written once by the test itself (not by loglens): 2,000,000
 * lines 10 ms apart (667 windows of 30 s), 10 % errors, a malformed line every
 * 997 and a late one every 5,003.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readPartLines, run, start, tempDir, type Finished } from "./cli.ts"

const LINES = 2_000_000
const COMMON = ["--commit-interval", "100ms", "--trigger", "1h"]
const SEED = Number(process.env["LOGLENS_TEST_SEED"] ?? Date.now() % 1_000_000)

let dir = ""
let input = ""
let reference: Outputs
let referenceSeconds = 0

/** sfc32: the moments of the stops, reproducible from SEED. */
const random = (() => {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = SEED >>> 0
  return () => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
})()

const writeInput = (file: string): void => {
  const t0 = Date.parse("2025-05-30T00:00:00.000Z")
  const fd = fs.openSync(file, "w")
  let text = ""
  for (let i = 0; i < LINES; i++) {
    const late = i % 5003 === 5002 ? 60_000 : 0
    const status = i % 20 === 0 ? 404 : i % 20 === 1 ? 500 : i % 97 === 3 ? 503 : 200
    text += i % 997 === 996
      ? `{"timestamp":"not a time","status":404}\n`
      : `{"timestamp":"${new Date(t0 + i * 10 - late).toISOString()}","ip":"10.${i % 3}.${i % 7}.${i % 251}",` +
        `"method":"GET","url":"/resource/${i % 17}","status":${status}}\n`
    if (text.length > 1 << 20) {
      fs.writeSync(fd, text)
      text = ""
    }
  }
  fs.writeSync(fd, text)
  fs.closeSync(fd)
}

interface Outputs {
  readonly errors: Array<string>
  readonly windows: Array<string>
  readonly rejected: Array<string>
  readonly alerts: Array<string>
}

const outputsOf = (output: string): Outputs => ({
  errors: readPartLines(path.join(output, "errors")).sort(),
  windows: readPartLines(path.join(output, "windows")).sort(),
  rejected: readPartLines(path.join(output, "rejected")).sort(),
  alerts: readPartLines(path.join(output, "alerts")).map((line) => {
    const alert = JSON.parse(line)
    return `${alert.window_start}|${alert.status}`
  }).sort()
})

/** Multiset differences, in words: how many lines are missing and how many are extra (duplicates included). */
const difference = (actual: Array<string>, expected: Array<string>): string => {
  const counts = new Map<string, number>()
  for (const line of expected) counts.set(line, (counts.get(line) ?? 0) + 1)
  for (const line of actual) counts.set(line, (counts.get(line) ?? 0) - 1)
  let missing = 0
  let extra = 0
  for (const n of counts.values()) {
    if (n > 0) missing += n
    else extra -= n
  }
  return missing === 0 && extra === 0 ? "equal" : `${missing} missing, ${extra} extra`
}

const expectSameOutputs = (output: string, what: string): void => {
  const actual = outputsOf(output)
  for (const key of ["errors", "windows", "rejected", "alerts"] as const) {
    expect(difference(actual[key], reference[key]), `${what}: ${key}`).toBe("equal")
  }
}

const analyzeArgs = (output: string, source = input) => ["analyze", "--input", source, "--output", output, ...COMMON]

/** Resolves once `folder` exists and a file named by `pattern` appeared in it `skip + 1` times. */
const nthAppearance = (folder: string, pattern: RegExp, skip: number, until: Promise<unknown>): Promise<void> =>
  new Promise((resolve) => {
    let seen = 0
    let watcher: fs.FSWatcher | undefined
    const poll = setInterval(() => {
      if (!fs.existsSync(folder)) return
      clearInterval(poll)
      watcher = fs.watch(folder, (_event, name) => {
        if (name !== null && pattern.test(name) && seen++ === skip) {
          watcher?.close()
          resolve()
        }
      })
    }, 2)
    void until.then(() => {
      clearInterval(poll)
      watcher?.close()
      resolve()
    })
  })

type Trigger = "random" | "seal" | "checkpoint"
interface Trial {
  readonly signal: "SIGTERM" | "SIGINT"
  readonly trigger: Trigger
  /** A fraction of the run (random), or how many seals / checkpoint writes go by first. */
  readonly at: number
}

const trials: Array<Trial> = [
  ...Array.from({ length: 7 }, (): Trial => ({ signal: "SIGTERM", trigger: "random", at: 0.05 + random() * 0.8 })),
  ...Array.from({ length: 7 }, (): Trial => ({ signal: "SIGINT", trigger: "random", at: 0.05 + random() * 0.8 })),
  ...Array.from({ length: 3 }, (_, i): Trial => ({ signal: i % 2 ? "SIGINT" : "SIGTERM", trigger: "seal", at: Math.floor(random() * 8) })),
  ...Array.from({ length: 3 }, (_, i): Trial => ({ signal: i % 2 ? "SIGTERM" : "SIGINT", trigger: "checkpoint", at: Math.floor(random() * 8) }))
]

/** Runs `jobs` with at most `width` at a time. */
const pool = async <A>(width: number, jobs: Array<() => Promise<A>>): Promise<Array<A>> => {
  const results: Array<A> = []
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < jobs.length) {
      const i = next++
      results[i] = await jobs[i]!()
    }
  }))
  return results
}

beforeAll(async () => {
  dir = tempDir("stops")
  input = path.join(dir, "input.jsonl")
  writeInput(input)
  const whole = await run(analyzeArgs(path.join(dir, "reference")))
  expect(whole.code, whole.stderr).toBe(0)
  referenceSeconds = Number(/read [\d,]+ lines in ([\d.]+) s/.exec(whole.stderr)?.[1] ?? "2")
  reference = outputsOf(path.join(dir, "reference"))
  expect(reference.errors.length).toBeGreaterThan(200_000)
  expect(reference.alerts.length).toBeGreaterThan(600)
}, 120_000)

afterAll(() => {
  if (dir !== "") fs.rmSync(dir, { recursive: true, force: true })
})

describe(`graceful stops of a ${LINES.toLocaleString("en-US")}-line replay (seed ${SEED})`, () => {
  it(`${trials.length} stops by SIGTERM and SIGINT, each followed by a rerun: exit 0, then exactly an uninterrupted run's outputs`, async () => {
    const outcomes = await pool(4, trials.map((trial, i) => async () => {
      const output = path.join(dir, `trial-${i}`)
      const what = `trial ${i} (${trial.signal} ${trial.trigger} ${trial.at.toFixed(2)})`
      const stopped = start(analyzeArgs(output))
      await stopped.waitFor(/loglens: analysing/, 60_000)
      if (trial.trigger === "random") {
        await new Promise((r) => setTimeout(r, trial.at * referenceSeconds * 1000))
      } else if (trial.trigger === "seal") {
        await nthAppearance(path.join(output, "errors"), /^part-\d+\.jsonl$/, trial.at, stopped.done)
      } else {
        await nthAppearance(path.join(output, "checkpoint"), /^\.checkpoint\.json\.tmp$/, trial.at, stopped.done)
      }
      stopped.child.kill(trial.signal)
      const first: Finished = await stopped.done
      expect(first.code, `${what}: the stopped run\n${first.stderr}`).toBe(0)
      expect(first.stderr, what).not.toMatch(/unexpected failure|Error:|\bat .*\.js:\d+/)
      const midway = /open windows stay open in the checkpoint/.test(first.stderr)
      const rerun = await run(analyzeArgs(output))
      expect(rerun.code, `${what}: the rerun\n${rerun.stderr}`).toBe(0)
      expectSameOutputs(output, what)
      fs.rmSync(output, { recursive: true, force: true })
      return { trial, midway }
    }))
    // Most stops must land while the replay runs (a few may come after its end, which proves less).
    const midway = outcomes.filter((o) => o.midway)
    expect(midway.length, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(trials.length - 4)
    for (const trigger of ["seal", "checkpoint"] as const) {
      expect(midway.filter((o) => o.trial.trigger === trigger).length, trigger).toBeGreaterThanOrEqual(2)
    }
  }, 240_000)
})

/** `analyze --input -` fed `file` (or only its first `bytes`); `kill9After` ms after it starts reading, kill -9. */
const stdinRun = (output: string, file: string, kill9After?: number): Promise<Finished> => {
  const child = start(analyzeArgs(output, "-"), { stdin: true })
  const feed = fs.createReadStream(file)
  feed.pipe(child.child.stdin!)
  child.child.stdin!.on("error", () => feed.destroy()) // the child was killed
  if (kill9After !== undefined) {
    void child.waitFor(/loglens: analysing/, 60_000).then(() =>
      setTimeout(() => child.child.kill("SIGKILL"), kill9After)
    )
  }
  return child.done
}

describe("stdin (--input -) is exactly-once", () => {
  it("kill -9 at random moments, then a rerun fed the same bytes: exactly an uninterrupted run's outputs", async () => {
    const kills = Array.from({ length: 2 }, () => (0.1 + random() * 0.7) * referenceSeconds * 1000)
    await pool(2, kills.map((after, i) => async () => {
      const output = path.join(dir, `stdin-${i}`)
      const killed = await stdinRun(output, input, after)
      expect(killed.signal, killed.stderr).toBe("SIGKILL")
      const rerun = await stdinRun(output, input)
      expect(rerun.code, rerun.stderr).toBe(0)
      expect(rerun.stderr).toMatch(/resuming from checkpoint epoch \d+/)
      expectSameOutputs(output, `stdin kill -9 after ${Math.round(after)} ms`)
      fs.rmSync(output, { recursive: true, force: true })
    }))
  }, 240_000)

  it("a rerun fed other bytes is refused with a message, and nothing is deleted", async () => {
    const output = path.join(dir, "stdin-other")
    const killed = await stdinRun(output, input, 0.5 * referenceSeconds * 1000)
    expect(killed.signal).toBe("SIGKILL")
    const other = path.join(dir, "other.jsonl")
    fs.writeFileSync(other, fs.readFileSync(input, "utf8").replace("10.0.0.0", "10.9.9.9"))
    const before = filesIn(output)
    const refused = await stdinRun(output, other)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/stdin does not start with the [\d,]+ bytes that the checkpoint has already analysed/)
    expect(refused.stderr).toMatch(/--clean/)
    expect(filesIn(output)).toEqual(before)
    fs.rmSync(output, { recursive: true, force: true })
  }, 120_000)

  it("after a finished run, the same bytes again are nothing to do, and more or other bytes are refused, never skipped silently", async () => {
    const output = path.join(dir, "stdin-finished")
    const small = path.join(dir, "small.jsonl")
    const text = fs.readFileSync(input, "utf8").slice(0, 2_000_000)
    fs.writeFileSync(small, text.slice(0, text.lastIndexOf("\n") + 1))
    const first = await stdinRun(output, small)
    expect(first.code, first.stderr).toBe(0)
    const before = filesIn(output)

    const same = await stdinRun(output, small)
    expect(same.code, same.stderr).toBe(0)
    expect(same.stderr).toMatch(/already analysed to its end .*nothing to do/)

    const longer = path.join(dir, "longer.jsonl")
    fs.writeFileSync(longer, fs.readFileSync(small, "utf8") + `{"timestamp":"2025-06-01T00:00:00Z","ip":"1.1.1.1","method":"GET","url":"/x","status":404}\n`)
    const more = await stdinRun(output, longer)
    expect(more.code).toBe(1)
    expect(more.stderr).toMatch(/stdin goes on past the [\d,]+ bytes that an earlier run analysed to their end/)

    const other = path.join(dir, "other-small.jsonl")
    fs.writeFileSync(other, fs.readFileSync(small, "utf8").replace("10.0.0.0", "10.9.9.9"))
    const differs = await stdinRun(output, other)
    expect(differs.code).toBe(1)
    expect(differs.stderr).toMatch(/stdin does not start with the [\d,]+ bytes/)
    expect(filesIn(output)).toEqual(before)
    fs.rmSync(output, { recursive: true, force: true })
  }, 120_000)
})

/** Every file under `folder` with its size, to see that nothing was deleted or changed. */
const filesIn = (folder: string): Array<string> =>
  fs.readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const file = path.join(entry.parentPath, entry.name)
      return `${path.relative(folder, file)} ${fs.statSync(file).size}`
    })
    .sort()
