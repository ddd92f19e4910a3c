/**
 * Hostile lines through the real CLI (`dist/main.js analyze --input FILE|-`):
 * each case puts one bad line between valid error records of one window and
 * checks that the bad line is rejected with a reason that says why, that its
 * neighbours are processed as if it were not there, and that the analyzer
 * exits 0 at the end of input (issue 4, "Bad input, tested hard").
 */
import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { readParts, start, tempDir } from "./cli.ts"

const MiB = 1024 * 1024

const record = (timestamp: string, ip: string, status = 404, url = "/resource/1") =>
  JSON.stringify({ timestamp, ip, method: "GET", url, status })

// Two errors of the window [18:52:00, 18:52:30), from two IPs: the neighbours of every hostile line.
const BEFORE = record("2025-05-30T18:52:01.000Z", "10.0.0.1")
const AFTER = record("2025-05-30T18:52:02.000Z", "10.0.0.2")
const BEFORE_CSV = "2025-05-30T18:52:01.000Z,10.0.0.1,GET,/resource/1,404"
const AFTER_CSV = "2025-05-30T18:52:02.000Z,10.0.0.2,GET,/resource/1,404"

interface Analysed {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly errors: Array<any>
  readonly rejected: Array<{ line: string; reason: string }>
  readonly windows: Array<any>
}

type Piece = string | Uint8Array

const bytesOf = (pieces: ReadonlyArray<Piece>): Buffer => Buffer.concat(pieces.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : p)))

/** Runs `analyze` over `input`, from a file (default) or piped into stdin, and reads what it wrote. */
const analyze = async (
  input: Buffer | ((stdin: NodeJS.WritableStream) => Promise<void>),
  options: { readonly format?: "json" | "csv"; readonly stdin?: boolean; readonly args?: ReadonlyArray<string> } = {}
): Promise<Analysed> => {
  const dir = tempDir("hostile")
  const out = path.join(dir, "out")
  const viaStdin = options.stdin === true || typeof input === "function"
  let source = "-"
  if (!viaStdin) {
    source = path.join(dir, "input.log")
    fs.writeFileSync(source, input as Buffer)
  }
  const running = start(
    ["analyze", "--input", source, "--format", options.format ?? "json", "--output", out, "--checkpoint", path.join(dir, "cp"), ...(options.args ?? [])],
    { stdin: viaStdin }
  )
  if (viaStdin) {
    const stdin = running.child.stdin!
    stdin.on("error", () => {}) // a child that died early shows up in its exit code, not as EPIPE here
    if (typeof input === "function") await input(stdin)
    else stdin.write(input)
    stdin.end()
  }
  const result = await running.done
  const analysed = {
    ...result,
    errors: readParts(path.join(out, "errors")),
    rejected: readParts(path.join(out, "rejected")),
    windows: readParts(path.join(out, "windows"))
  }
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
  return analysed
}

/** The neighbours went through: both errors written, in order, and counted in their one window. */
const expectNeighboursProcessed = (run: Analysed, format: "json" | "csv" = "json") => {
  expect(run.code, run.stderr).toBe(0)
  expect(run.stderr).not.toMatch(/RangeError|Maximum call stack|FATAL|heap out of memory|at .*\.js:\d+/)
  // errors/ holds JSON objects whatever the input format: the CSV neighbours give the same lines.
  expect(run.errors.map((e) => JSON.stringify(e)), format).toEqual([BEFORE, AFTER])
  expect(run.windows).toEqual([{
    window_start: "2025-05-30T18:52:00.000Z",
    window_end: "2025-05-30T18:52:30.000Z",
    status: 404,
    error_count: 2,
    unique_ips: 2,
    urls: ["/resource/1"]
  }])
  expect(run.stdout).toMatch(/late errors 0/)
}

/** One hostile line between the neighbours: it is the one rejection, and its reason matches. */
const expectOneRejection = (run: Analysed, reason: RegExp) => {
  expect(run.rejected, JSON.stringify(run.rejected).slice(0, 500)).toHaveLength(1)
  const [r] = run.rejected
  expect(r!.reason).toMatch(reason)
  expect(r!.line.length).toBeLessThanOrEqual(1025) // a preview, not the whole line
  expect(run.stdout).toMatch(/rejected 1\b/)
  return r!
}

const between = (hostile: Piece, format: "json" | "csv" = "json"): Buffer =>
  format === "json" ? bytesOf([BEFORE, "\n", hostile, "\n", AFTER, "\n"]) : bytesOf([BEFORE_CSV, "\n", hostile, "\n", AFTER_CSV, "\n"])

/** Deterministic bytes (mulberry32), never 0x0A, so that they make one line. */
const randomBytes = (length: number, seed: number, ascii = false): Uint8Array => {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return Uint8Array.from({ length }, () => {
    const b = ascii ? 32 + Math.floor(next() * 95) : Math.floor(next() * 256)
    return b === 0x0a ? 0x0b : b
  })
}

describe.concurrent("hostile lines through the real CLI: rejected with a reason, neighbours processed, exit 0", () => {
  it("random bytes (not UTF-8)", async () => {
    const run = await analyze(between(randomBytes(4096, 1)))
    expectNeighboursProcessed(run)
    expectOneRejection(run, /^line is not valid UTF-8$/)
  })

  it("random printable ASCII", async () => {
    const run = await analyze(between(randomBytes(4096, 2, true)))
    expectNeighboursProcessed(run)
    expectOneRejection(run, /not valid JSON|expected a JSON object/)
  })

  it("truncated JSON", async () => {
    const run = await analyze(between(AFTER.slice(0, 40)))
    expectNeighboursProcessed(run)
    const r = expectOneRejection(run, /^not valid JSON\b/)
    expect(r.line).toBe(AFTER.slice(0, 40))
  })

  it("deeply nested JSON (100 000 levels), unbalanced and balanced, as the whole line and inside a field: no stack overflow, no hang", async () => {
    const depth = 100_000
    const deepArray = "[".repeat(depth) + "]".repeat(depth)
    const deepObject = "{\"a\":".repeat(depth) + "1" + "}".repeat(depth)
    const hostile = [
      "[".repeat(depth), // unbalanced
      deepArray,
      deepObject,
      `{"timestamp":${deepArray},"ip":"1","method":"GET","url":"/","status":404}`,
      `{"timestamp":"2025-05-30T18:52:01.500Z","ip":${deepObject},"method":"GET","url":"/","status":404}`
    ]
    const startedAt = Date.now()
    const run = await analyze(bytesOf([BEFORE, "\n", hostile.join("\n"), "\n", AFTER, "\n"]))
    expect(Date.now() - startedAt).toBeLessThan(30_000)
    expectNeighboursProcessed(run)
    expect(run.rejected.map((r) => r.reason)).toEqual([
      expect.stringMatching(/^not valid JSON\b/),
      "expected a JSON object, got an array",
      expect.stringMatching(/timestamp/), // a missing key
      expect.stringMatching(/Expected string at \["timestamp"\]/),
      expect.stringMatching(/Expected string at \["ip"\]/)
    ])
    for (const r of run.rejected) expect(r.line.length).toBeLessThanOrEqual(1025)
  })

  it("a deeply nested extra field is ignored, as every extra field: the record is valid", async () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000)
    const line = `{"timestamp":"2025-05-30T18:52:01.700Z","ip":"10.0.0.1","method":"GET","url":"/resource/1","status":404,"extra":${deep}}`
    const run = await analyze(bytesOf([line, "\n"]))
    expect(run.code, run.stderr).toBe(0)
    expect(run.rejected).toEqual([])
    expect(run.errors).toHaveLength(1)
  })

  it("invalid UTF-8 inside an otherwise valid record (lone continuation, overlong, surrogate, truncated sequence)", async () => {
    const bads = [[0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xff]]
    const [head, tail] = [AFTER.slice(0, 60), AFTER.slice(60)]
    const hostile = bads.flatMap((bad) => [head, Uint8Array.from(bad), tail, "\n"])
    const run = await analyze(bytesOf([BEFORE, "\n", ...hostile, AFTER, "\n"]))
    expectNeighboursProcessed(run)
    expect(run.rejected).toHaveLength(bads.length)
    for (const r of run.rejected) {
      expect(r.reason).toBe("line is not valid UTF-8")
      expect(r.line).toContain("\uFFFD") // the preview shows where
      expect(r.line.startsWith(head)).toBe(true)
    }
    expect(run.stdout).toMatch(new RegExp(`rejected ${bads.length}\\b`))
  })

  it("NUL bytes: alone, and raw inside a JSON string (which JSON forbids)", async () => {
    const alone = await analyze(between(Uint8Array.from([0, 0, 0, 0])))
    expectNeighboursProcessed(alone)
    expect(expectOneRejection(alone, /^not valid JSON\b/).line).toBe("\0\0\0\0")

    const inString = await analyze(between(AFTER.replace("/resource/1", "/resource/\u00001")))
    expectNeighboursProcessed(inString)
    expectOneRejection(inString, /^not valid JSON\b/)
  })

  it("NUL bytes in a CSV field are data: the record is valid and its error line escapes them", async () => {
    const run = await analyze(bytesOf([BEFORE_CSV, "\n", "2025-05-30T18:52:01.500Z,10.0.0.3,GET,/a\u0000b,500\n"]), { format: "csv" })
    expect(run.code, run.stderr).toBe(0)
    expect(run.rejected).toEqual([])
    expect(run.errors.map((e) => e.url)).toEqual(["/resource/1", "/a\u0000b"])
  })

  it("CSV in JSON mode", async () => {
    const run = await analyze(between(AFTER_CSV))
    expectNeighboursProcessed(run)
    expectOneRejection(run, /^not valid JSON\b/)
  })

  it("JSON in CSV mode", async () => {
    const run = await analyze(between(AFTER, "csv"), { format: "csv" })
    expectNeighboursProcessed(run, "csv")
    // The JSON object has 5 keys, so 4 commas: 5 "fields", the last one `"status":404}`.
    expectOneRejection(run, /expected 5 CSV fields|status must be an integer|unbalanced quotes/)
  })

  it("year 2999 is rejected with the --max-future reason and closes no window: the next record in the open window counts", async () => {
    const run = await analyze(between(record("2999-01-01T00:00:00.000Z", "6.6.6.6", 500)))
    expectNeighboursProcessed(run) // AFTER is counted in its window, not late
    expectOneRejection(run, /too far in the future \(more than --max-future ahead of the clock\)/)
    expect(run.errors.some((e) => e.timestamp.startsWith("2999"))).toBe(false)
  })

  it("--max-future is a setting: 2999 is accepted with --max-future 10000000h (and then it does close every window)", async () => {
    const run = await analyze(between(record("2999-01-01T00:00:00.000Z", "6.6.6.6", 500)), { args: ["--max-future", "10000000h"] })
    expect(run.code, run.stderr).toBe(0)
    expect(run.rejected).toEqual([])
    // BEFORE's window closed when 2999 arrived; AFTER is late for it.
    expect(run.stdout).toMatch(/late errors 1/)
  })

  it("year 0001 after newer records: a valid record whose window closed long ago, so a late error (written, counted in no window)", async () => {
    const ancient = record("0001-01-01T00:00:05.000Z", "7.7.7.7", 503)
    const run = await analyze(bytesOf([BEFORE, "\n", ancient, "\n", AFTER, "\n"]))
    expect(run.code, run.stderr).toBe(0)
    expect(run.rejected).toEqual([])
    expect(run.errors.map((e) => JSON.stringify(e))).toEqual([BEFORE, ancient, AFTER])
    expect(run.windows.map((w) => `${w.window_start} ${w.status} ${w.error_count}`)).toEqual(["2025-05-30T18:52:00.000Z 404 2"])
    expect(run.stdout).toMatch(/late errors 1\b/)
  })

  it("year 0001 as the first record: its window is open when it is read, so it is counted there (then closed by the next record)", async () => {
    const ancient = record("0001-01-01T00:00:05.000Z", "7.7.7.7", 503)
    const run = await analyze(bytesOf([ancient, "\n", BEFORE, "\n", AFTER, "\n"]))
    expect(run.code, run.stderr).toBe(0)
    expect(run.rejected).toEqual([])
    expect(run.windows.map((w) => `${w.window_start} ${w.window_end} ${w.status} ${w.error_count}`)).toEqual([
      "0001-01-01T00:00:00.000Z 0001-01-01T00:00:30.000Z 503 1",
      "2025-05-30T18:52:00.000Z 2025-05-30T18:52:30.000Z 404 2"
    ])
    expect(run.stdout).toMatch(/late errors 0/)
  })

  for (const stdin of [false, true]) {
    it(`a line of 1 MiB + 1 byte is rejected with its size; one of exactly 1 MiB (newline not counted) is accepted (${stdin ? "stdin" : "file"})`, async () => {
      // Valid records padded with spaces (JSON whitespace) to the exact size.
      const padded = (line: string, size: number) => line.slice(0, -1) + " ".repeat(size - line.length) + "}"
      const tooLong = padded(record("2025-05-30T18:52:01.100Z", "9.9.9.9", 500), MiB + 1)
      const justFits = padded(record("2025-05-30T18:52:01.200Z", "10.0.0.3", 404), MiB)
      expect(Buffer.byteLength(tooLong)).toBe(MiB + 1)
      expect(Buffer.byteLength(justFits)).toBe(MiB)
      const run = await analyze(bytesOf([BEFORE, "\n", tooLong, "\n", justFits, "\n", AFTER, "\n"]), { stdin })
      expect(run.code, run.stderr).toBe(0)
      const r = expectOneRejection(run, /^line is longer than --max-line-bytes \(1048576 bytes\); it was 1048577 bytes$/)
      expect(r.line.startsWith("{\"timestamp\":\"2025-05-30T18:52:01.100Z\"")).toBe(true)
      expect(run.errors.map((e) => e.ip)).toEqual(["10.0.0.1", "10.0.0.3", "10.0.0.2"])
      expect(run.windows.map((w) => `${w.status} ${w.error_count} ${w.unique_ips}`)).toEqual(["404 3 3"])
    })
  }
})

describe("50 MB of newline-free garbage on stdin", () => {
  it("is rejected with its size while RSS stays under 300 MB; the lines around it are processed; exit 0", async () => {
    const chunk = Buffer.alloc(64 * 1024, "x")
    const total = 800 * chunk.length // 50 MiB
    const dir = tempDir("hostile-50mb")
    const out = path.join(dir, "out")
    const running = start(
      ["analyze", "--input", "-", "--output", out, "--checkpoint", path.join(dir, "cp")],
      { stdin: true }
    )
    // What is measured: the child's VmHWM (peak resident set, kernel-maintained) from /proc, polled
    // while it runs, and the "peak RSS" the analyzer prints at exit (getrusage ru_maxrss). Both are the
    // whole process's peak, Node's own ~100 MB baseline included.
    const pid = running.child.pid!
    let hwmKb = 0
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
        if (m !== null) hwmKb = Math.max(hwmKb, Number(m[1]))
      } catch {
        // gone
      }
    }, 20)
    const stdin = running.child.stdin!
    const write = (data: Buffer | string) =>
      new Promise<void>((resolve, reject) => stdin.write(data, (e) => (e ? reject(e) : resolve())))
    await write(`${BEFORE}\n`)
    for (let i = 0; i < total / chunk.length; i++) await write(chunk)
    await write(`\n${AFTER}\n`)
    stdin.end()
    const result = await running.done
    clearInterval(poll)
    const run = {
      ...result,
      errors: readParts(path.join(out, "errors")),
      rejected: readParts(path.join(out, "rejected")),
      windows: readParts(path.join(out, "windows"))
    }
    fs.rmSync(dir, { recursive: true, force: true })

    expectNeighboursProcessed(run)
    const r = expectOneRejection(run, new RegExp(`^line is longer than --max-line-bytes \\(1048576 bytes\\); it was ${total} bytes$`))
    expect(r.line).toBe("x".repeat(1024))

    const summary = /loglens: read (\S+) lines in [\d.]+ s \([^)]*\), CPU [\d.]+ s, peak RSS (\d+) MB/.exec(result.stderr)
    expect(summary, result.stderr).not.toBeNull()
    expect(summary![1]).toBe("3")
    const reportedMb = Number(summary![2])
    expect(reportedMb, result.stderr).toBeLessThan(300)
    expect(hwmKb, "the /proc poll never saw the process").toBeGreaterThan(0)
    expect(hwmKb / 1024, `VmHWM ${hwmKb} kB`).toBeLessThan(300)
  })
})
