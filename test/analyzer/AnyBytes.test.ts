/**
 * "For any byte sequence, the analyzer neither crashes nor hangs; every valid
 * line is processed exactly as on its own; every invalid line lands in
 * `rejected/`" (issue 4), through the real byte path: random chunks of
 * bytes ─► `framedLines` (the real splitter) ─► `runAnalyzer` with in-memory
 * stores, under a TestClock set to a fixed instant.
 *
 * The expectations come from an oracle written here from the README's rules
 * ("What the analyzer computes") alone: it splits the bytes on 0x0A itself,
 * decides each line on its own (JSON.parse or an RFC 4180 reading, plus field
 * checks and its own timestamp parser), and replays the window / watermark / late rules. It
 * shares no code with src/ (nor with test/analyzer/reference.ts, whose
 * timestamp parser maps years 0000-0099 to 1900-1999 through `Date.UTC`).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import fc from "fast-check"
import { runAnalyzer, type AnalyzerConfig } from "../../src/analyzer/Analyzer.ts"
import type { Alert } from "../../src/domain/Alert.ts"
import { AlertPublisher } from "../../src/sinks/AlertPublisher.ts"
import { CheckpointStore, type Checkpoint } from "../../src/sinks/CheckpointStore.ts"
import { ErrorStore, RejectedStore, WindowStore } from "../../src/sinks/Stores.ts"
import { LineSource } from "../../src/transport/LineSource.ts"
import { framedLines } from "../../src/transport/LineSplitter.ts"
import { TestClock } from "effect/testing"

type Format = "json" | "csv"

const SECOND = 1000
const WINDOW_MS = 30 * SECOND
const WATERMARK_MS = 10 * SECOND
const MAX_FUTURE_MS = 3600 * SECOND
const THRESHOLD = 2
/** The TestClock reading during every run. */
const NOW = Date.parse("2025-05-30T19:00:00.000Z")
const BASE = Date.parse("2025-05-30T18:50:00.000Z")
const PREVIEW = 1024
const HEADER = "timestamp,ip,method,url,status"
/** A run that takes longer than this (wall clock) counts as a hang. */
const RUN_TIMEOUT_MS = 10_000
/** Generated inputs per property; raise it (LOGLENS_PROPERTY_RUNS=5000) for a deeper search. */
const RUNS = Number(process.env["LOGLENS_PROPERTY_RUNS"] ?? 250)

const encoder = new TextEncoder()
// A line is its bytes: a U+FEFF (BOM) at its start is kept, as any other character.
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const lenient = new TextDecoder("utf-8", { ignoreBOM: true })

// -- the oracle ---------------------------------------------------------------------------

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/

/** Event time (ms, fraction truncated) of a zoned ISO-8601 instant, years 0000-9999, or undefined. */
const eventTime = (text: string): number | undefined => {
  const m = ISO.exec(text)
  if (m === null) return undefined
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]))
  if (mo! < 1 || mo! > 12 || d! < 1 || h! > 23 || mi! > 59 || s! > 59) return undefined
  const date = new Date(0)
  date.setUTCFullYear(y!, mo! - 1, d!) // unlike Date.UTC, keeps years below 100 as they are
  if (date.getUTCMonth() !== mo! - 1 || date.getUTCDate() !== d!) return undefined // February 30th
  date.setUTCHours(h!, mi!, s!, m[7] === undefined ? 0 : Number(m[7].padEnd(3, "0").slice(0, 3)))
  let offsetMin = 0
  if (m[8] === undefined) {
    const oh = Number(m[10])
    const om = Number(m[11])
    if (oh > 23 || om > 59) return undefined
    offsetMin = (m[9] === "+" ? 1 : -1) * (oh * 60 + om)
  }
  return date.getTime() - offsetMin * 60_000
}

interface Rec {
  readonly timestamp: string
  readonly ip: string
  readonly method: string
  readonly url: string
  readonly status: number
}

const checkRecord = (v: Record<string, unknown>): Rec | undefined => {
  const { timestamp, ip, method, url, status } = v
  if (typeof timestamp !== "string" || typeof ip !== "string" || typeof method !== "string" || typeof url !== "string") {
    return undefined
  }
  if (typeof status !== "number" || !Number.isInteger(status) || status < 100 || status > 599) return undefined
  if (eventTime(timestamp) === undefined) return undefined
  return { timestamp, ip, method, url, status }
}

/** RFC 4180 fields: a field starting with a quote is quoted (`""` inside), others run to the next comma. */
const csvFields = (line: string): Array<string> | undefined => {
  const fields: Array<string> = []
  let pos = 0
  for (;;) {
    if (line[pos] === "\"") {
      let value = ""
      let i = pos + 1
      for (;;) {
        const q = line.indexOf("\"", i)
        if (q < 0) return undefined
        value += line.slice(i, q)
        if (line[q + 1] === "\"") {
          value += "\""
          i = q + 2
        } else {
          pos = q + 1
          break
        }
      }
      fields.push(value)
      if (pos === line.length) return fields
      if (line[pos] !== ",") return undefined
      pos++
    } else {
      const comma = line.indexOf(",", pos)
      fields.push(comma < 0 ? line.slice(pos) : line.slice(pos, comma))
      if (comma < 0) return fields
      pos = comma + 1
    }
  }
}

const decodeLine = (line: string, format: Format): Rec | "header" | undefined => {
  if (format === "json") {
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      return undefined
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
    return checkRecord(value as Record<string, unknown>)
  }
  if (line === HEADER) return "header"
  const f = csvFields(line)
  if (f === undefined || f.length !== 5 || !/^[0-9]+$/.test(f[4]!)) return undefined
  return checkRecord({ timestamp: f[0], ip: f[1], method: f[2], url: f[3], status: Number(f[4]) })
}

type Rejection = { readonly line: string; readonly kind: "too-long" | "utf8" | "future" | "record"; readonly bytes: number }

interface Expected {
  readonly lines: number
  readonly headers: number
  readonly valid: number
  readonly errors: Array<string>
  readonly late: number
  readonly rejected: Array<Rejection>
  readonly rows: Array<{ window_start: string; status: number; error_count: number; unique_ips: number; urls: Array<string> }>
  readonly alerts: Array<string>
}

const iso = (ms: number) => new Date(ms).toISOString()

const oracle = (input: Uint8Array, format: Format, maxLineBytes: number): Expected => {
  // The lines: split on 0x0A; a last piece without a newline counts when non-empty.
  const pieces: Array<Uint8Array> = []
  let start = 0
  for (let i = 0; i <= input.length; i++) {
    if (i === input.length ? i > start : input[i] === 0x0a) {
      pieces.push(input.subarray(start, i))
      start = i + 1
    }
  }
  let lines = 0
  let headers = 0
  let valid = 0
  let late = 0
  let maxEvent = -Infinity
  const errors: Array<string> = []
  const rejected: Array<Rejection> = []
  const cells = new Map<string, { start: number; status: number; count: number; ips: Set<string>; urls: Set<string> }>()
  const alerts: Array<string> = []
  for (const bytes of pieces) {
    // Size is checked first, on the raw bytes (a trailing \r included, the newline excluded).
    if (bytes.length > maxLineBytes) {
      lines++
      rejected.push({ line: lenient.decode(bytes).slice(0, PREVIEW), kind: "too-long", bytes: bytes.length })
      continue
    }
    let text: string
    try {
      text = strict.decode(bytes)
    } catch {
      lines++
      rejected.push({ line: lenient.decode(bytes).slice(0, PREVIEW), kind: "utf8", bytes: bytes.length })
      continue
    }
    if (text.endsWith("\r")) text = text.slice(0, -1)
    if (text.trim() === "") continue // blank: skipped, not counted
    lines++
    const preview = text.length <= PREVIEW ? text : `${text.slice(0, PREVIEW)}…`
    const record = decodeLine(text, format)
    if (record === "header") {
      headers++
      continue
    }
    if (record === undefined) {
      rejected.push({ line: preview, kind: "record", bytes: bytes.length })
      continue
    }
    const t = eventTime(record.timestamp)!
    if (t > NOW + MAX_FUTURE_MS) {
      rejected.push({ line: preview, kind: "future", bytes: bytes.length })
      continue
    }
    valid++
    maxEvent = Math.max(maxEvent, t)
    if (record.status < 400) continue
    errors.push(JSON.stringify(record))
    const windowStart = Math.floor(t / WINDOW_MS) * WINDOW_MS
    if (maxEvent - WATERMARK_MS >= windowStart + WINDOW_MS) {
      late++
      continue
    }
    const key = `${windowStart}|${record.status}`
    let cell = cells.get(key)
    if (cell === undefined) cells.set(key, cell = { start: windowStart, status: record.status, count: 0, ips: new Set(), urls: new Set() })
    cell.count++
    cell.ips.add(record.ip)
    cell.urls.add(record.url)
    if (cell.count === THRESHOLD + 1) alerts.push(`${iso(windowStart)}|${record.status}|${cell.count}`)
  }
  const rows = [...cells.values()].map((c) => ({
    window_start: iso(c.start),
    status: c.status,
    error_count: c.count,
    unique_ips: c.ips.size,
    urls: [...c.urls].sort()
  }))
  return { lines, headers, valid, errors, late, rejected, rows, alerts }
}

// -- generators ------------------------------------------------------------------------------

const pad = (n: number, width: number) => String(n).padStart(width, "0")

/** Writes `ms` in ISO-8601 with a chosen zone and number of fraction digits (extra digits are noise). */
const timestampArb: fc.Arbitrary<string> = fc.record({
  ms: fc.oneof(
    { weight: 12, arbitrary: fc.integer({ min: BASE - 300_000, max: NOW }) },
    // Around the --max-future limit, to the millisecond.
    { weight: 2, arbitrary: fc.integer({ min: -2, max: 2 }).map((d) => NOW + MAX_FUTURE_MS + d) },
    // Far future and far past.
    { weight: 1, arbitrary: fc.constantFrom(Date.parse("2999-01-01T00:00:00Z"), Date.parse("0001-01-01T00:00:05Z"), Date.parse("0001-01-01T00:00:45Z")) }
  ),
  zoneMin: fc.constantFrom(0, 0, 0, 120, -330, 59, 23 * 60 + 59),
  fraction: fc.integer({ min: 0, max: 9 }),
  noise: fc.integer({ min: 0, max: 999_999 }),
  plusZero: fc.boolean()
}).map(({ ms, zoneMin, fraction, noise, plusZero }) => {
  const local = new Date(ms + zoneMin * 60_000)
  if (local.getUTCFullYear() < 0 || local.getUTCFullYear() > 9999) return new Date(ms).toISOString()
  const date = `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1, 2)}-${pad(local.getUTCDate(), 2)}`
  const time = `${pad(local.getUTCHours(), 2)}:${pad(local.getUTCMinutes(), 2)}:${pad(local.getUTCSeconds(), 2)}`
  const digits = `${pad(local.getUTCMilliseconds(), 3)}${pad(noise, 6)}`.slice(0, fraction)
  const zone = zoneMin === 0 && !plusZero
    ? "Z"
    : `${zoneMin < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(zoneMin) / 60), 2)}:${pad(Math.abs(zoneMin) % 60, 2)}`
  return `${date}T${time}${fraction > 0 ? `.${digits}` : ""}${zone}`
})

/** Short strings without newlines: mostly a few fixed values (so windows aggregate), sometimes any Unicode. */
const textArb = (pool: ReadonlyArray<string>) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...pool) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 6 }).map((s) => s.replaceAll("\n", "")) }
  )

const recordArb = fc.record({
  timestamp: timestampArb,
  ip: textArb(["10.0.0.1", "10.0.0.2", "10.0.0.3", "::1"]),
  method: textArb(["GET", "POST"]),
  url: textArb(["/resource/1", "/resource/2", "/a,b", "/q\"x\""]),
  status: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(200, 404, 500, 503, 399, 400, 599) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 1000 }) })
})

const jsonLine = (r: Rec, variant: number): string => {
  const canonical = JSON.stringify({ timestamp: r.timestamp, ip: r.ip, method: r.method, url: r.url, status: r.status })
  switch (variant) {
    case 1:
      return ` ${canonical.replaceAll(",\"", ", \"").replaceAll("\":", "\" : ")}\t`
    case 2:
      return JSON.stringify({ status: r.status, extra: [1, { a: null }], url: r.url, method: r.method, ip: r.ip, timestamp: r.timestamp })
    case 3:
      return canonical.replace(/"status":(\d+)\}$/, "\"status\":$1.0}")
    case 4:
      return canonical.replace(/"status":(\d+)\}$/, "\"status\":\"$1\"}")
    default:
      return canonical
  }
}

const csvLine = (r: Rec, variant: number): string => {
  const quote = (s: string) => `"${s.replaceAll("\"", "\"\"")}"`
  const fields = [r.timestamp, r.ip, r.method, r.url]
  const plain = (s: string) => (/[",]/.test(s) ? quote(s) : s)
  switch (variant) {
    case 1:
      return `${fields.map(quote).join(",")},${r.status}`
    case 2:
      return `${fields.map(plain).join(",")},"${r.status}"`
    case 3:
      return `${fields.map(plain).join(",")},0${r.status}`
    default:
      return `${fields.map(plain).join(",")},${r.status}`
  }
}

const bytesOf = (s: string) => encoder.encode(s)

/** One piece of input (not yet followed by its separator). */
const segmentArb = (format: Format): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    // Record lines, in the analyzed format and in the other one.
    {
      weight: 10,
      arbitrary: fc.tuple(recordArb, fc.integer({ min: 0, max: 4 })).map(([r, v]) =>
        bytesOf(format === "json" ? jsonLine(r, v) : csvLine(r, v))
      )
    },
    {
      weight: 1,
      arbitrary: fc.tuple(recordArb, fc.integer({ min: 0, max: 4 })).map(([r, v]) =>
        bytesOf(format === "json" ? csvLine(r, v) : jsonLine(r, v))
      )
    },
    // A record behind a UTF-8 BOM (U+FEFF): not a record, however the bytes are chunked.
    {
      weight: 1,
      arbitrary: recordArb.map((r) => bytesOf(`\uFEFF${format === "json" ? jsonLine(r, 0) : csvLine(r, 0)}`))
    },
    // Truncated records.
    {
      weight: 2,
      arbitrary: fc.tuple(recordArb, fc.nat()).map(([r, cut]) => {
        const whole = bytesOf(format === "json" ? jsonLine(r, 0) : csvLine(r, 0))
        return whole.slice(0, cut % whole.length)
      })
    },
    // Any bytes at all.
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 48 }) },
    // Invalid UTF-8, NUL, CR, BOM, Unicode and ASCII whitespace, the CSV header.
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        [0xff], [0xc3], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xc0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82],
        [0x00], [0x00, 0x00, 0x00], [0x0d], [0x0d, 0x0d], [0xef, 0xbb, 0xbf], [0xc2, 0xa0], [0x20, 0xc2, 0xa0],
        [0xe2, 0x80, 0xa8], [0x0b], [0x09, 0x20], [0x0c]
      ).map((b) => new Uint8Array(b))
    },
    { weight: 1, arbitrary: fc.constant(bytesOf(HEADER)) },
    // Long lines, around and over --max-line-bytes.
    {
      weight: 2,
      arbitrary: fc.tuple(
        fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 60, max: 600 }) }, { weight: 1, arbitrary: fc.integer({ min: 600, max: 5000 }) }),
        fc.constantFrom("x", "x", "{", " ", "é", "\u{1F600}")
      ).map(([n, c]) => bytesOf(c.repeat(n)))
    }
  )

const SEPARATORS = ["\n", "\n", "\n", "\r\n", "", "\n\n"].map(bytesOf)

const inputArb = (format: Format) =>
  fc.record({
    segments: fc.array(fc.tuple(segmentArb(format), fc.integer({ min: 0, max: SEPARATORS.length - 1 })), { maxLength: 40 }),
    cuts: fc.array(fc.nat(), { maxLength: 12 }),
    bytewise: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    chunksPerPull: fc.integer({ min: 1, max: 4 }),
    maxLineBytes: fc.constantFrom(128, 256, 4096, 1 << 20)
  }).map(({ segments, ...rest }) => {
    const parts = segments.flatMap(([bytes, sep]) => [bytes, SEPARATORS[sep]!])
    const input = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    let offset = 0
    for (const p of parts) {
      input.set(p, offset)
      offset += p.length
    }
    return { input, ...rest }
  })

const chunk = (input: Uint8Array, cuts: ReadonlyArray<number>, bytewise: boolean): Array<Uint8Array> => {
  // Byte by byte only for small inputs: a chunk per byte of 100 KB of long lines costs seconds.
  if (bytewise && input.length <= 4096) return Array.from(input, (b) => new Uint8Array([b]))
  const points = [...new Set(cuts.map((c) => c % (input.length + 1))), input.length].sort((a, b) => a - b)
  const out: Array<Uint8Array> = []
  let start = 0
  for (const p of points) {
    if (p > start) out.push(input.slice(start, p))
    start = Math.max(start, p)
  }
  return out
}

// -- the run ----------------------------------------------------------------------------------

const configFor = (format: Format): AnalyzerConfig => ({
  analysis: { format, windowMs: WINDOW_MS, watermarkMs: WATERMARK_MS, threshold: THRESHOLD, idleTimeoutMs: WINDOW_MS, maxFutureMs: MAX_FUTURE_MS },
  triggerMs: 30 * SECOND,
  commitIntervalMs: SECOND,
  checkpointSettings: { format, window: `${WINDOW_MS}ms`, watermark: `${WATERMARK_MS}ms`, threshold: THRESHOLD }
})

const flat = (parts: Map<number, ReadonlyArray<string>>) =>
  [...parts.entries()].sort((a, b) => a[0] - b[0]).flatMap(([, lines]) => lines)

const analyse = (format: Format, chunks: ReadonlyArray<Uint8Array>, chunksPerPull: number, maxLineBytes: number) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(NOW)
    const errors = new Map<number, ReadonlyArray<string>>()
    const windows = new Map<number, ReadonlyArray<string>>()
    const rejected = new Map<number, ReadonlyArray<string>>()
    const alerts: Array<Alert> = []
    const checkpoint: { current: Checkpoint | undefined } = { current: undefined }
    const source = Layer.succeed(LineSource, {
      description: "test bytes",
      identity: "test:bytes",
      live: false,
      batches: () =>
        framedLines(Stream.fromIterable(chunks, { chunkSize: chunksPerPull }), maxLineBytes, (consumed) => ({ bytes: consumed })),
      commit: () => Effect.void
    })
    yield* runAnalyzer(configFor(format)).pipe(
      Effect.provide(Layer.mergeAll(
        source,
        ErrorStore.layerMemory(errors),
        WindowStore.layerMemory(windows),
        RejectedStore.layerMemory(rejected),
        AlertPublisher.layerMemory(alerts),
        CheckpointStore.layerMemory(checkpoint)
      ))
    )
    return {
      errors: flat(errors),
      rows: flat(windows).map((l) => JSON.parse(l)),
      rejected: flat(rejected).map((l) => JSON.parse(l) as { line: string; reason: string }),
      alerts,
      checkpoint: checkpoint.current
    }
  })

type Outcome = Effect.Success<ReturnType<typeof analyse>>

const checkAgainstOracle = (input: Uint8Array, format: Format, maxLineBytes: number, got: Outcome): void => {
  const expected = oracle(input, format, maxLineBytes)
  const checkpoint = got.checkpoint
  assert.isDefined(checkpoint, "no final checkpoint: the run did not finish")
  assert.isTrue(checkpoint!.finished)
  // Every byte is consumed (an empty input emits no batch, so its position stays the empty one).
  assert.deepStrictEqual(checkpoint!.position, input.length === 0 ? {} : { bytes: input.length }, "position")
  const counters = checkpoint!.analysis.counters
  // Every non-blank line is accounted for exactly once.
  assert.strictEqual(counters.lines, expected.lines, "lines read")
  assert.strictEqual(counters.valid + counters.rejected + expected.headers, counters.lines, "lines = valid + rejected (+ CSV headers)")
  assert.strictEqual(counters.valid, expected.valid, "valid")
  assert.strictEqual(counters.rejected, expected.rejected.length, "rejected")
  assert.strictEqual(counters.errors, expected.errors.length, "errors")
  assert.strictEqual(counters.late, expected.late, "late")

  // Valid lines: their errors, windows and alerts are exactly those of the lines on their own.
  assert.deepStrictEqual(got.errors, expected.errors, "errors/")
  const rows = got.rows
    .map((r) => ({ window_start: r.window_start, status: r.status, error_count: r.error_count, unique_ips: r.unique_ips, urls: [...r.urls].sort() }))
    .sort((a, b) => a.window_start.localeCompare(b.window_start) || a.status - b.status)
  const expectedRows = [...expected.rows].sort((a, b) => a.window_start.localeCompare(b.window_start) || a.status - b.status)
  assert.deepStrictEqual(rows, expectedRows, "windows/")
  for (const r of got.rows) {
    assert.strictEqual(Date.parse(r.window_end) - Date.parse(r.window_start), WINDOW_MS)
  }
  assert.deepStrictEqual(
    got.alerts.map((a) => `${a.window_start}|${a.status}|${a.error_count}`).sort(),
    [...expected.alerts].sort(),
    "alerts"
  )

  // Invalid lines: each in rejected/ once, with a reason that fits why it was refused.
  // (Rejections found by the splitter come before the decoder's within a batch, so compare as multisets.)
  assert.strictEqual(got.rejected.length, expected.rejected.length, "rejected/ entries")
  for (const r of got.rejected) {
    assert.isTrue(typeof r.reason === "string" && r.reason.trim().length > 0, `empty reason for ${JSON.stringify(r.line)}`)
  }
  const isTooLong = (r: { reason: string }) => /longer than --max-line-bytes/.test(r.reason)
  const byLine = (a: { line: string }, b: { line: string }) => (a.line < b.line ? -1 : a.line > b.line ? 1 : 0)

  // Too long: the reason gives the limit and the line's size. The preview is a prefix of the line;
  // how much of it depends on how much had arrived when the line crossed the limit (see below).
  const gotLong = got.rejected.filter(isTooLong)
  const expectedLong = expected.rejected.filter((e) => e.kind === "too-long")
  assert.strictEqual(gotLong.length, expectedLong.length, "lines rejected as too long")
  for (const e of expectedLong) {
    const at = gotLong.findIndex((r) => {
      if (!r.reason.includes(`(${maxLineBytes} bytes); it was ${e.bytes} bytes`)) return false
      const shown = r.line.replace(/\uFFFD+$/, "") // a multi-byte character cut at the preview's end
      return e.line.startsWith(shown) && shown.length >= Math.min(PREVIEW, Math.floor(maxLineBytes / 4) - 1)
    })
    assert.isTrue(at >= 0, `no too-long rejection of ${e.bytes} bytes for ${JSON.stringify(e.line.slice(0, 80))}`)
    gotLong.splice(at, 1)
  }

  const gotRest = got.rejected.filter((r) => !isTooLong(r)).sort(byLine)
  const expectedRest = expected.rejected.filter((e) => e.kind !== "too-long").sort(byLine)
  assert.deepStrictEqual(gotRest.map((r) => r.line), expectedRest.map((r) => r.line), "rejected lines")
  gotRest.forEach((r, i) => {
    const e = expectedRest[i]!
    const utf8 = /not valid UTF-8/.test(r.reason)
    const future = /too far in the future/.test(r.reason)
    if (e.kind === "utf8") assert.isTrue(utf8, `reason for invalid UTF-8: ${r.reason}`)
    else if (e.kind === "future") assert.isTrue(future, `reason for a future timestamp: ${r.reason}`)
    else assert.isFalse(utf8 || future, `reason for ${JSON.stringify(r.line)}: ${r.reason}`)
  })
}

/** Runs `check` over many generated inputs, each run under the test's services (TestClock), with a wall-clock bound. */
const property = <A>(arb: fc.Arbitrary<A>, check: (value: A) => Effect.Effect<void, unknown, never>, numRuns: number) =>
  Effect.gen(function*() {
    const services = yield* Effect.context<never>()
    yield* Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(arb, async (value) => {
          const abort = new AbortController()
          const timer = setTimeout(() => abort.abort(), RUN_TIMEOUT_MS)
          try {
            await Effect.runPromiseWith(services)(check(value), { signal: abort.signal })
          } catch (e) {
            if (abort.signal.aborted) throw new Error(`the analyzer did not finish within ${RUN_TIMEOUT_MS} ms`)
            throw e
          } finally {
            clearTimeout(timer)
          }
        }),
        { numRuns }
      )
    )
  })

describe("runAnalyzer on any bytes (real framing, in-memory stores)", () => {
  for (const format of ["json", "csv"] as const) {
    it.effect(`${format}: completes, accounts for every line once, processes valid lines as on their own, rejects the rest with a reason`, () =>
      property(
        inputArb(format),
        ({ input, cuts, bytewise, chunksPerPull, maxLineBytes }) =>
          Effect.map(
            analyse(format, chunk(input, cuts, bytewise), chunksPerPull, maxLineBytes),
            (got) => checkAgainstOracle(input, format, maxLineBytes, got)
          ),
        RUNS
      ), 60_000)
  }

  it.effect("pure noise (uniform random bytes, any chunking): completes, and nothing of it is a record", () =>
    property(
      fc.record({ input: fc.uint8Array({ maxLength: 4000 }), cuts: fc.array(fc.nat(), { maxLength: 20 }), format: fc.constantFrom<Format>("json", "csv") }),
      ({ input, cuts, format }) =>
        Effect.map(analyse(format, chunk(input, cuts, false), 1, 256), (got) => {
          checkAgainstOracle(input, format, 256, got)
        }),
      Math.ceil(RUNS / 2)
    ), 60_000)

  it.effect("a too-long line's preview holds nothing of the lines after it (one chunk, and byte by byte)", () =>
    Effect.gen(function*() {
      const valid = JSON.stringify({ timestamp: "2025-05-30T18:52:01.000Z", ip: "1.1.1.1", method: "GET", url: "/r", status: 404 })
      // An ASCII run (decoded line by line) and a UTF-8 run (decoded at once) take different paths.
      for (const [filler, size] of [["x", 129], ["é", 70]] as const) {
        const input = bytesOf(`${filler.repeat(size)}\n${valid}\n${filler.repeat(size)}\n${valid}\n`)
        const bytes = Buffer.byteLength(filler.repeat(size))
        for (const chunks of [[input], chunk(input, [], true)]) {
          const got = yield* analyse("json", chunks, 1, 128)
          assert.deepStrictEqual(got.rejected.map((r) => r.reason), [
            `line is longer than --max-line-bytes (128 bytes); it was ${bytes} bytes`,
            `line is longer than --max-line-bytes (128 bytes); it was ${bytes} bytes`
          ])
          for (const r of got.rejected) assert.strictEqual(r.line.replaceAll(filler, "").replace(/\uFFFD$/, ""), "", r.line)
          assert.deepStrictEqual(got.errors, [valid, valid])
        }
      }
    }))

  it.effect("the oracle's own hand-checked facts (so that the model is checked too)", () =>
    Effect.gen(function*() {
      const at = (ts: string, status: number, ip = "1.1.1.1") => JSON.stringify({ timestamp: ts, ip, method: "GET", url: "/r", status })
      const text = [
        at("2025-05-30T18:52:01.000Z", 404), // window 18:52:00, counted
        "\u00a0", // Unicode whitespace only: blank, skipped
        "\u0000", // NUL: rejected
        at("2999-01-01T00:00:00Z", 500), // far future: rejected, does not move the watermark
        at("2025-05-30T18:52:02.000Z", 404, "2.2.2.2"), // same window, still open
        at("0001-01-01T00:00:05Z", 500), // far past: valid, its window closed long ago, so late
        at("2025-05-30T20:00:00.000+01:00", 404), // 19:00:00Z = NOW: fine
        at("2025-05-30T20:00:00.001Z", 404), // NOW + 1h + 1 ms: too far in the future
        at("2025-05-30T20:00:00.000Z", 404), // exactly NOW + 1h: accepted
        "\r"
      ].join("\n")
      const input = new Uint8Array([...bytesOf(text), 0x0a, 0xff, 0x0a])
      const expected = oracle(input, "json", 1 << 20)
      assert.strictEqual(expected.lines, 9)
      assert.deepStrictEqual(expected.rejected.map((r) => r.kind), ["record", "future", "future", "utf8"])
      assert.strictEqual(expected.valid, 5)
      assert.strictEqual(expected.late, 1)
      assert.deepStrictEqual(expected.rows.map((r) => `${r.window_start} ${r.status} ${r.error_count} ${r.unique_ips}`), [
        "2025-05-30T18:52:00.000Z 404 2 2",
        "2025-05-30T19:00:00.000Z 404 1 1",
        "2025-05-30T20:00:00.000Z 404 1 1"
      ])
      assert.strictEqual(eventTime("0001-01-01T00:00:05Z"), -62135596795000)
      const got = yield* analyse("json", chunk(input, [7, 100, 101], false), 2, 1 << 20)
      checkAgainstOracle(input, "json", 1 << 20, got)
    }))
})
