/**
 * The real CLI following a file that a writer appends to in small writes
 * (lines cut across writes): a kill -9, a restart and a rotation lose and
 * duplicate nothing, SIGTERM closes every window, copytruncate and a different file at
 * the path on restart are said on stderr, and the flags refuse nonsense.
 */
import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { readPartLines, readParts, run, start, tempDir } from "./cli.ts"

/** A temp folder, removed when the test ends (see tempDir). */
const folder = () => tempDir("follow")

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A small seeded generator of numbers in [0, 1), so every run writes the same bytes the same way. */
const seeded = (seed: number) => {
  let state = seed
  return () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648
}

/** `count` lines 10 ms of event time apart, ending about now: statuses 200, 404 and 500, in the canonical JSON shape. */
const makeLines = (count: number, seed: number) => {
  const random = seeded(seed)
  const base = Date.now() - count * 10
  return Array.from({ length: count }, (_, i) => {
    const roll = random()
    const status = roll < 0.6 ? 200 : roll < 0.8 ? 404 : 500
    return JSON.stringify({
      timestamp: new Date(base + i * 10).toISOString(),
      ip: `10.0.${i % 7}.${Math.floor(random() * 250)}`,
      method: "GET",
      url: `/resource/${i % 5}`,
      status
    })
  })
}

/**
 * Appends `text` in writes of 1 to 300 bytes (so lines are cut across writes), a little at a time;
 * with `pause`, it waits for `pause.until` once `pause.at` bytes are written.
 */
const appendInPieces = async (file: string, text: string, seed: number, pause?: { at: number; until: Promise<void> }) => {
  const random = seeded(seed)
  const bytes = Buffer.from(text)
  for (let at = 0; at < bytes.length;) {
    if (pause !== undefined && at >= pause.at) {
      await pause.until
      pause = undefined
    }
    const size = 1 + Math.floor(random() * 300)
    fs.appendFileSync(file, bytes.subarray(at, at + size))
    at += size
    if (random() < 0.3) await sleep(2)
  }
}

const analyzeArgs = (dir: string, file: string, ...more: Array<string>) => [
  "analyze", "--input", file, "--follow", "--trigger", "100ms", "--commit-interval", "50ms",
  "--output", path.join(dir, "out"), "--checkpoint", path.join(dir, "cp"), ...more
]

const errorLines = (lines: ReadonlyArray<string>) => lines.filter((l) => JSON.parse(l).status >= 400)

describe("analyze --input FILE --follow", () => {
  it("loses and duplicates nothing across kill -9, a restart and a rotation, and SIGTERM closes every window", async () => {
    const dir = folder()
    const file = path.join(dir, "access.log")
    const lines = makeLines(3000, 7)
    const text = lines.map((l) => l + "\n").join("")
    fs.writeFileSync(file, "")
    const first = start(analyzeArgs(dir, file))
    await first.waitFor(/analysing/)
    // The kill lands while the writer is half-way (most likely in the middle of a line), and the
    // writer goes on while nobody reads.
    let killed = () => {}
    const writing = appendInPieces(file, text.slice(0, 200_000), 1, {
      at: 150_000,
      until: new Promise<void>((resolve) => (killed = resolve))
    })
    await first.waitFor(/lines read [1-9]/)
    for (let i = 0; i < 500 && !fs.existsSync(path.join(dir, "cp/checkpoint.json")); i++) await sleep(10)
    first.child.kill("SIGKILL")
    await first.done
    killed()
    await writing
    const second = start(analyzeArgs(dir, file))
    await second.waitFor(/analysing/)
    // Then a rotation by rename while it reads: the rest of the old file, then the new one.
    const cut = text.indexOf("\n", 260_000) + 1
    await appendInPieces(file, text.slice(200_000, cut), 2)
    fs.renameSync(file, `${file}.1`)
    fs.writeFileSync(file, "")
    await appendInPieces(file, text.slice(cut), 3)
    await second.waitFor(new RegExp(`lines read ${lines.length.toLocaleString("en-US")},`))
    second.child.kill("SIGTERM")
    const done = await second.done
    expect(done.code, done.stderr).toBe(0)
    expect(done.stderr).toMatch(/resuming from checkpoint epoch [1-9]/)
    expect(done.stderr).toMatch(/access\.log was rotated: reading the old file to its end/)

    // errors/ holds every error line written, once, in the order written.
    expect(readPartLines(path.join(dir, "out/errors"))).toEqual(errorLines(lines))
    // Every (window, status) has one row, and SIGTERM closed the last windows too: the counts add up.
    const rows = readParts(path.join(dir, "out/windows"))
    const keys = rows.map((r) => `${r.window_start} ${r.status}`)
    expect(new Set(keys).size).toBe(keys.length)
    const expected = new Map<string, number>()
    for (const l of errorLines(lines)) {
      const { timestamp, status } = JSON.parse(l)
      const start = new Date(Math.floor(Date.parse(timestamp) / 30_000) * 30_000).toISOString()
      expected.set(`${start} ${status}`, (expected.get(`${start} ${status}`) ?? 0) + 1)
    }
    expect(new Map(rows.map((r) => [`${r.window_start} ${r.status}`, r.error_count]))).toEqual(expected)
    expect(done.stdout).toMatch(/Final report .*late errors 0, open windows 0/)
  })

  it("says on stderr that the file was truncated (copytruncate) and reads on from its new start", async () => {
    const dir = folder()
    const file = path.join(dir, "access.log")
    const [before, after] = [makeLines(20, 3), makeLines(20, 4)]
    fs.writeFileSync(file, before.map((l) => l + "\n").join(""))
    const running = start(analyzeArgs(dir, file))
    await running.waitFor(/lines read 20,/)
    fs.copyFileSync(file, path.join(dir, "access.log.1"))
    fs.truncateSync(file, 0)
    // (A file refilled past the old size before loglens looks is noticed by its first bytes instead.)
    await running.waitFor(/access\.log shrank from [\d,]+ to 0 bytes \(truncated, as by logrotate copytruncate\): reading on from its new start/)
    await appendInPieces(file, after.map((l) => l + "\n").join(""), 5)
    await running.waitFor(/lines read 40,/)
    running.child.kill("SIGTERM")
    const done = await running.done
    expect(done.code, done.stderr).toBe(0)
    expect(readPartLines(path.join(dir, "out/errors"))).toEqual(errorLines([...before, ...after]))
  })

  it("on a restart, says that a different file has taken the path and reads it from its start", async () => {
    const dir = folder()
    fs.mkdirSync(path.join(dir, "logs"))
    const file = path.join(dir, "logs", "access.log")
    const [old, replacement] = [makeLines(30, 8), makeLines(30, 9)]
    fs.writeFileSync(file, old.map((l) => l + "\n").join(""))
    const first = start(analyzeArgs(dir, file))
    await first.waitFor(/lines read 30,/)
    first.child.kill("SIGTERM")
    expect((await first.done).code).toBe(0)
    // Rotated, then moved away (compressed, archived): not beside the path any more.
    fs.renameSync(file, path.join(dir, "archived.log"))
    fs.writeFileSync(file, replacement.map((l) => l + "\n").join(""))
    const second = start(analyzeArgs(dir, file))
    await second.waitFor(/lines read 60,/)
    second.child.kill("SIGTERM")
    const done = await second.done
    expect(done.code, done.stderr).toBe(0)
    expect(done.stderr).toMatch(/is not the file the checkpoint was reading .* reading the new .*access\.log from its start/)
    expect(readPartLines(path.join(dir, "out/errors"))).toEqual(errorLines([...old, ...replacement]))
  })

  it("--from-end skips what the file held before a first run", async () => {
    const dir = folder()
    const file = path.join(dir, "access.log")
    const [old, fresh] = [makeLines(25, 10), makeLines(15, 11)]
    fs.writeFileSync(file, old.map((l) => l + "\n").join(""))
    const running = start(analyzeArgs(dir, file, "--from-end"))
    await running.waitFor(/analysing/)
    await sleep(300)
    fs.appendFileSync(file, fresh.map((l) => l + "\n").join(""))
    await running.waitFor(/lines read 15,/)
    running.child.kill("SIGTERM")
    expect((await running.done).code).toBe(0)
    expect(readPartLines(path.join(dir, "out/errors"))).toEqual(errorLines(fresh))
  })

  it("refuses --follow without a file and --from-end without --follow, with a message", async () => {
    const dir = folder()
    const cases: Array<[Array<string>, RegExp]> = [
      [["analyze", "--follow"], /--follow follows a file: give it with --input FILE/],
      [["analyze", "--follow", "--input", "-"], /--follow follows a file: give it with --input FILE/],
      [["analyze", "--input", path.join(dir, "x.log"), "--from-end"], /--from-end is for --follow/]
    ]
    for (const [args, message] of cases) {
      const result = await run([...args, "--output", path.join(dir, "out"), "--checkpoint", path.join(dir, "cp")])
      expect(result.code).toBe(2) // a bad invocation, as for every flag
      expect(result.stderr).toMatch(message)
    }
  })
})
