import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import fc from "fast-check"
import type { RejectedLine } from "../../src/domain/RejectedLine.ts"
import { SourceError } from "../../src/transport/LineSource.ts"
import { framedLines, LineSplitter } from "../../src/transport/LineSplitter.ts"
import { textLines } from "../support/lines.ts"

const encoder = new TextEncoder()

/** Feeds `chunks` then ends; returns what came out. */
const split = (chunks: ReadonlyArray<Uint8Array>, maxLineBytes = 1 << 20, end = true) => {
  const splitter = new LineSplitter(maxLineBytes)
  const lines: Array<string | Uint8Array> = []
  const rejected: Array<RejectedLine> = []
  for (const chunk of chunks) splitter.push(chunk, lines, rejected)
  if (end) splitter.end(lines, rejected)
  return { lines: textLines(lines), rejected, consumedBytes: splitter.consumedBytes, splitter }
}

/** Cuts `bytes` at the given offsets (any order, duplicates allowed). */
const cutAt = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Array<Uint8Array> = []
  let start = 0
  for (const p of [...points, bytes.length]) {
    if (p > start) out.push(bytes.slice(start, p))
    start = Math.max(start, p)
  }
  return out
}

const concat = (...parts: ReadonlyArray<Uint8Array | string>): Uint8Array => {
  const arrays = parts.map((p) => (typeof p === "string" ? encoder.encode(p) : p))
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0))
  let o = 0
  for (const a of arrays) {
    out.set(a, o)
    o += a.length
  }
  return out
}

/** Any Unicode text without a newline (fast-check's "binary" unit: every code point, no lone surrogates). */
const lineArb = fc.string({ unit: "binary", maxLength: 40 }).map((s) => s.replaceAll("\n", ""))

describe("LineSplitter", () => {
  it("property: any chunking gives the lines of text.split(\"\\n\") (minus the trailing empty piece)", () => {
    fc.assert(
      fc.property(
        fc.array(lineArb, { maxLength: 30 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 40 }),
        (lineList, trailingNewline, cuts) => {
          const text = lineList.join("\n") + (trailingNewline && lineList.length > 0 ? "\n" : "")
          const bytes = encoder.encode(text)
          const expected = text.split("\n")
          if (expected[expected.length - 1] === "") expected.pop()
          const out = split(cutAt(bytes, cuts))
          assert.deepStrictEqual(out.lines, expected)
          assert.deepStrictEqual(out.rejected, [])
          assert.strictEqual(out.consumedBytes, bytes.length)
        }
      ),
      { numRuns: 500 }
    )
  })

  it("property: with a small maxLineBytes, exactly the lines over it are rejected, with their size", () => {
    fc.assert(
      fc.property(fc.array(lineArb, { minLength: 1, maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), fc.integer({ min: 4, max: 30 }), (lineList, cuts, max) => {
        const bytes = encoder.encode(lineList.join("\n") + "\n")
        const out = split(cutAt(bytes, cuts), max)
        const sizes = lineList.map((l) => encoder.encode(l).length)
        assert.deepStrictEqual(out.lines, lineList.filter((_, i) => sizes[i]! <= max))
        const tooLong = sizes.filter((n) => n > max)
        assert.strictEqual(out.rejected.length, tooLong.length)
        out.rejected.forEach((r, i) => {
          assert.include(r.reason, `it was ${tooLong[i]} bytes`)
          assert.include(r.reason, `${max} bytes`)
        })
        assert.strictEqual(out.consumedBytes, bytes.length)
      }),
      { numRuns: 500 }
    )
  })

  it("keeps the \\r of CRLF lines (the analysis drops it)", () => {
    assert.deepStrictEqual(split([encoder.encode("a\r\nb\r\n\r\nc")]).lines, ["a\r", "b\r", "\r", "c"])
  })

  it("rejects an invalid UTF-8 line alone; its neighbours are intact (one chunk and byte by byte)", () => {
    const bytes = concat("before é\n", new Uint8Array([0x61, 0xff, 0xfe, 0x62]), "\nafter ✓\n")
    for (const chunks of [[bytes], cutAt(bytes, Array.from({ length: bytes.length }, (_, i) => i))]) {
      const out = split(chunks)
      assert.deepStrictEqual(out.lines, ["before é", "after ✓"])
      assert.strictEqual(out.rejected.length, 1)
      assert.include(out.rejected[0]!.reason, "UTF-8")
      assert.strictEqual(out.rejected[0]!.line, "a\ufffd\ufffdb")
      assert.strictEqual(out.consumedBytes, bytes.length)
    }
  })

  it("decodes a multi-byte character split across chunks", () => {
    const bytes = encoder.encode("x€y😀z\n") // € is 3 bytes, 😀 is 4
    for (let a = 1; a < bytes.length; a++) {
      for (let b = a; b < bytes.length; b++) {
        const out = split(cutAt(bytes, [a, b]))
        assert.deepStrictEqual(out.lines, ["x€y😀z"])
        assert.deepStrictEqual(out.rejected, [])
      }
    }
  })

  it("a last line without a newline is emitted at end(), not before", () => {
    const splitter = new LineSplitter(1024)
    const lines: Array<string | Uint8Array> = []
    const rejected: Array<RejectedLine> = []
    splitter.push(encoder.encode("one\ntw"), lines, rejected)
    splitter.push(encoder.encode("o"), lines, rejected)
    assert.deepStrictEqual(textLines(lines), ["one"])
    splitter.end(lines, rejected)
    assert.deepStrictEqual(textLines(lines), ["one", "two"])
    assert.strictEqual(splitter.consumedBytes, 7)
  })

  it("consumedBytes is the offset just after the last emitted line", () => {
    const splitter = new LineSplitter(1024)
    const lines: Array<string | Uint8Array> = []
    const rejected: Array<RejectedLine> = []
    splitter.push(encoder.encode("aé\nbb\ncc"), lines, rejected)
    assert.strictEqual(splitter.consumedBytes, encoder.encode("aé\nbb\n").length)
    splitter.push(encoder.encode("c"), lines, rejected)
    assert.strictEqual(splitter.consumedBytes, 7)
    splitter.push(encoder.encode("\n"), lines, rejected)
    assert.strictEqual(splitter.consumedBytes, 11)
    assert.deepStrictEqual(textLines(lines), ["aé", "bb", "ccc"])
  })

  it("a 50 MB line fed in 64 KB chunks is rejected with its size and not kept in memory", () => {
    const max = 1024 * 1024
    const chunk = new Uint8Array(64 * 1024).fill(0x78) // "x", no newline
    const chunks = 800 // 50 MiB
    const total = chunk.length * chunks
    const splitter = new LineSplitter(max)
    const lines: Array<string | Uint8Array> = []
    const rejected: Array<RejectedLine> = []
    // What is measured: growth of ArrayBuffer memory (where Uint8Array bytes live) while the line
    // streams in. The same 64 KB chunk is reused, so the test allocates nothing itself, and the
    // splitter copies what it holds (`slice`), so holding the line would show up as ~50 MB here.
    globalThis.gc?.()
    const before = process.memoryUsage().arrayBuffers
    let peak = before
    for (let i = 0; i < chunks; i++) {
      splitter.push(chunk, lines, rejected)
      if (i % 50 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers)
    }
    peak = Math.max(peak, process.memoryUsage().arrayBuffers)
    assert.isBelow(peak - before, 8 * 1024 * 1024, `ArrayBuffer memory grew by ${peak - before} bytes`)
    // And directly: nothing of the line is pending once it is known to be too long.
    assert.strictEqual((splitter as unknown as { pendingBytes: number }).pendingBytes, 0)
    assert.strictEqual((splitter as unknown as { pending: Array<Uint8Array> }).pending.length, 0)
    assert.deepStrictEqual(textLines(lines), [])
    assert.deepStrictEqual(rejected, [])

    const valid = "{\"timestamp\":\"2025-05-30T18:52:47.123Z\",\"ip\":\"1.2.3.4\",\"method\":\"GET\",\"url\":\"/resource/1\",\"status\":404}"
    splitter.push(encoder.encode(`\n${valid}\n`), lines, rejected)
    assert.deepStrictEqual(textLines(lines), [valid])
    assert.strictEqual(rejected.length, 1)
    assert.include(rejected[0]!.reason, `it was ${total} bytes`)
    assert.isAtMost(rejected[0]!.line.length, 1025)
    assert.isTrue(rejected[0]!.line.startsWith("xxxx"))
    assert.strictEqual(splitter.consumedBytes, total + 1 + valid.length + 1)
  })

  it("a too-long line at the end of input (no newline) is rejected at end()", () => {
    const out = split([encoder.encode("ok\n"), new Uint8Array(100).fill(0x41), new Uint8Array(100).fill(0x41)], 64)
    assert.deepStrictEqual(out.lines, ["ok"])
    assert.strictEqual(out.rejected.length, 1)
    assert.include(out.rejected[0]!.reason, "it was 200 bytes")
    assert.strictEqual(out.consumedBytes, 203)
  })
})

describe("framedLines", () => {
  const chunksOf = (text: string, size: number) => cutAt(encoder.encode(text), Array.from({ length: text.length }, (_, i) => i * size))

  it.effect("flushes the last unterminated line when the byte stream ends cleanly; positions are byte offsets", () =>
    Effect.gen(function*() {
      const batches = yield* Stream.runCollect(
        framedLines(Stream.fromIterable(chunksOf("a\nbb\nccc", 3), { chunkSize: 1 }), 1024, (n) => ({ bytes: 100 + n }))
      )
      assert.deepStrictEqual(batches.flatMap((b) => textLines(b.lines)), ["a", "bb", "ccc"])
      assert.deepStrictEqual(batches.map((b) => b.position["bytes"]), [102, 105, 108])
    }))

  const cutOffReason = "connection closed in the middle of a line"
  const framedConnection = (text: string, ending: "clean" | "failure", maxLineBytes = 1024) =>
    framedLines(
      Stream.concat(
        Stream.fromIterable(chunksOf(text, 4), { chunkSize: 1 }),
        ending === "clean" ? Stream.empty : Stream.fail(new SourceError({ message: "reset" }))
      ),
      maxLineBytes,
      () => ({}),
      { lastLine: "reject" }
    ).pipe(
      Stream.runFold(() => ({ lines: [] as Array<string>, rejected: [] as Array<RejectedLine> }), (acc, b) => {
        acc.lines.push(...textLines(b.lines))
        acc.rejected.push(...b.rejected)
        return acc
      })
    )

  it.effect("lastLine reject: a connection's cut-off line is rejected after a clean end and after a failure alike", () =>
    Effect.gen(function*() {
      const clean = yield* framedConnection("a\nbb\ncc", "clean")
      assert.deepStrictEqual(clean, { lines: ["a", "bb"], rejected: [{ line: "cc", reason: cutOffReason }] })
      const failed = yield* framedConnection("a\nbb\ncc", "failure").pipe(Effect.flip)
      assert.strictEqual(failed.message, "reset")
      const seen: Array<RejectedLine> = []
      yield* framedLines(
        Stream.concat(Stream.fromIterable(chunksOf("a\nbb\ncc", 4)), Stream.fail(new SourceError({ message: "reset" }))),
        1024,
        () => ({}),
        { lastLine: "reject" }
      ).pipe(Stream.runForEach((b) => Effect.sync(() => void seen.push(...b.rejected))), Effect.ignore)
      assert.deepStrictEqual(seen, [{ line: "cc", reason: cutOffReason }])
    }))

  it.effect("lastLine reject: nothing is rejected when the connection ends after a newline; an over-long cut-off line is over-long", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* framedConnection("a\nbb\n", "clean"), { lines: ["a", "bb"], rejected: [] })
      const long = yield* framedConnection(`a\n${"x".repeat(100)}`, "clean", 64)
      assert.deepStrictEqual(long.lines, ["a"])
      assert.strictEqual(long.rejected.length, 1)
      assert.match(long.rejected[0]!.reason, /longer than --max-line-bytes \(64 bytes\); it was 100 bytes/)
    }))

  it.effect("does not emit a line cut short by a failure, nor count it in the position", () =>
    Effect.gen(function*() {
      const seen: Array<{ lines: ReadonlyArray<string | Uint8Array>; bytes: number | undefined }> = []
      const error = yield* framedLines(
        Stream.concat(
          Stream.fromIterable(chunksOf("a\nbb\ncc", 4), { chunkSize: 1 }),
          Stream.fail(new SourceError({ message: "reset" }))
        ),
        1024,
        (n) => ({ bytes: n })
      ).pipe(
        Stream.runForEach((b) => Effect.sync(() => void seen.push({ lines: b.lines, bytes: b.position["bytes"] }))),
        Effect.flip
      )
      assert.strictEqual(error.message, "reset")
      assert.deepStrictEqual(seen.flatMap((b) => textLines(b.lines)), ["a", "bb"])
      assert.strictEqual(seen[seen.length - 1]!.bytes, 5)
    }))
})
