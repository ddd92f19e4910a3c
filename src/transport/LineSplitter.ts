/**
 * Turns a byte stream into whole UTF-8 lines, with bounded memory: a line
 * longer than `maxLineBytes` is rejected while it streams in, keeping only a
 * short preview, and a line that is not valid UTF-8 is rejected on its own
 * without affecting its neighbours. Runs of whole lines within a chunk go on
 * undecoded, as views of the chunk (see `LineBatch`); only a line split across
 * chunks is decoded here. `consumedBytes` counts the bytes of every line
 * emitted so far, which is a file source's resume position.
 */
import * as Stream from "effect/Stream"
import { isUtf8 } from "node:buffer"
import { REJECTED_LINE_PREVIEW, type RejectedLine } from "../domain/RejectedLine.ts"
import type { SourcePosition } from "../domain/SourcePosition.ts"
import type { LineBatch } from "./LineSource.ts"
import type { PrefixFingerprint } from "./PrefixFingerprint.ts"

const NEWLINE = 10
const NEWLINE_BYTES = new Uint8Array([NEWLINE])
// `ignoreBOM`: a U+FEFF is data, kept wherever it is. By default a decoder drops one at the start of
// what it decodes, which is the start of a line or of a run of lines depending on chunk boundaries.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const lenientUtf8 = new TextDecoder("utf-8", { ignoreBOM: true })

export class LineSplitter {
  /** Bytes of all complete lines emitted so far, newlines included. */
  consumedBytes = 0
  private pending: Array<Uint8Array> = []
  private pendingBytes = 0
  // Set while skipping the rest of an over-long line: its preview and size so far.
  private overflowPreview: string | undefined = undefined
  private overflowBytes = 0

  /**
   * `skipLeadingBom`: the bytes are a whole file from its first byte, which may open with a byte-order mark.
   * `fingerprint`: is fed every consumed byte, in order.
   */
  constructor(
    readonly maxLineBytes: number,
    private skipLeadingBom = false,
    readonly fingerprint: PrefixFingerprint | undefined = undefined
  ) {}

  /**
   * Splits one chunk; lines and rejections are appended to the given arrays. Runs of whole lines
   * are passed on as views of `chunk`, so the caller must not write into it afterwards.
   */
  push(chunk: Uint8Array, lines: Array<string | Uint8Array>, rejected: Array<RejectedLine>): void {
    let start = 0
    // A byte-order mark opening the input (files saved by Windows tools) is not part of the first line.
    if (this.skipLeadingBom) {
      this.skipLeadingBom = false
      if (startsWithBom(chunk)) {
        start = 3
        this.consumedBytes = 3
        this.fingerprint?.add(chunk.subarray(0, 3))
      }
    }
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, start)
      if (newline < 0) break
      if (this.overflowPreview !== undefined) {
        this.fingerprint?.addToLongLine(chunk.subarray(start, newline + 1))
        this.finishOverflow(newline - start, 1, rejected)
      } else if (this.pendingBytes === 0) {
        // The common case: a run of whole lines inside this chunk, passed on at once.
        const lastNewline = chunk.lastIndexOf(NEWLINE)
        splitRun(chunk.subarray(start, lastNewline), this.maxLineBytes, lines, rejected)
        this.fingerprint?.add(chunk.subarray(start, lastNewline + 1))
        this.consumedBytes += lastNewline - start + 1
        start = lastNewline + 1
        continue
      } else {
        this.pending.push(chunk.subarray(start, newline))
        const line = concat(this.pending, this.pendingBytes + newline - start)
        this.pending = []
        this.pendingBytes = 0
        decodeLine(line, this.maxLineBytes, lines, rejected)
        this.fingerprint?.add(line)
        this.fingerprint?.add(NEWLINE_BYTES)
        this.consumedBytes += line.length + 1
      }
      start = newline + 1
    }
    if (start < chunk.length) this.holdPartial(chunk.subarray(start))
  }

  /** End of input: a last line without a newline still counts. */
  end(lines: Array<string | Uint8Array>, rejected: Array<RejectedLine>): void {
    if (this.overflowPreview !== undefined) {
      this.finishOverflow(0, 0, rejected)
    } else if (this.pendingBytes > 0) {
      const line = concat(this.pending, this.pendingBytes)
      this.pending = []
      this.pendingBytes = 0
      decodeLine(line, this.maxLineBytes, lines, rejected)
      this.fingerprint?.add(line)
      this.consumedBytes += line.length
    }
  }

  /**
   * The input was cut off, as a connection's end is: a line still waiting for its newline is
   * rejected (an over-long one as over-long), never taken as whole.
   */
  cutOff(rejected: Array<RejectedLine>): void {
    if (this.overflowPreview !== undefined) {
      this.finishOverflow(0, 0, rejected)
    } else if (this.pendingBytes > 0) {
      const head = concat(this.pending, Math.min(this.pendingBytes, REJECTED_LINE_PREVIEW * 4))
      rejected.push({ line: lenientUtf8.decode(head).slice(0, REJECTED_LINE_PREVIEW), reason: CUT_OFF_REASON })
      this.consumedBytes += this.pendingBytes
      this.pending = []
      this.pendingBytes = 0
    }
  }

  private holdPartial(bytes: Uint8Array): void {
    if (this.overflowPreview !== undefined) {
      this.overflowBytes += bytes.length
      this.fingerprint?.addToLongLine(bytes)
      return
    }
    if (this.pendingBytes + bytes.length > this.maxLineBytes) {
      this.pending.push(bytes)
      if (this.fingerprint !== undefined) for (const part of this.pending) this.fingerprint.addToLongLine(part)
      const head = concat(this.pending, Math.min(this.pendingBytes + bytes.length, REJECTED_LINE_PREVIEW * 4))
      this.overflowPreview = lenientUtf8.decode(head).slice(0, REJECTED_LINE_PREVIEW)
      this.overflowBytes = this.pendingBytes + bytes.length
      this.pending = []
      this.pendingBytes = 0
      return
    }
    // Copy: a view would keep the whole chunk alive while the line waits for its end.
    this.pending.push(bytes.slice())
    this.pendingBytes += bytes.length
  }

  /** `tailBytes` of the line's end in this chunk, then `newlineBytes` (1, or 0 at end of input). */
  private finishOverflow(tailBytes: number, newlineBytes: number, rejected: Array<RejectedLine>): void {
    // The reported size is the line's, without its newline, as for lines rejected whole.
    const total = this.overflowBytes + tailBytes
    rejected.push(tooLong(this.overflowPreview!, total, this.maxLineBytes))
    this.fingerprint?.endLongLine()
    this.consumedBytes += total + newlineBytes
    this.overflowPreview = undefined
    this.overflowBytes = 0
  }
}

/**
 * A complete run of `\n`-separated lines (no partial line at either end), such as a chunk's whole
 * lines or one Kafka message: passed on as bytes when valid UTF-8, in one piece when the run is too
 * short to hold an over-long line, else in the stretches between such lines; otherwise line by line.
 */
export const splitRun = (
  bytes: Uint8Array,
  maxLineBytes: number,
  lines: Array<string | Uint8Array>,
  rejected: Array<RejectedLine>
): void => {
  if (!isUtf8(bytes)) {
    // Somewhere in the run a line is not UTF-8: find it, line by line.
    let start = 0
    for (;;) {
      const newline = bytes.indexOf(NEWLINE, start)
      decodeLine(bytes.subarray(start, newline < 0 ? bytes.length : newline), maxLineBytes, lines, rejected)
      if (newline < 0) return
      start = newline + 1
    }
  }
  if (bytes.length <= maxLineBytes) {
    lines.push(bytes)
    return
  }
  let stretchStart = 0
  let start = 0
  for (;;) {
    const newline = bytes.indexOf(NEWLINE, start)
    const end = newline < 0 ? bytes.length : newline
    if (end - start > maxLineBytes) {
      if (start > stretchStart) lines.push(bytes.subarray(stretchStart, start - 1))
      rejected.push(tooLong(lenientUtf8.decode(bytes.subarray(start, Math.min(end, start + REJECTED_LINE_PREVIEW * 4))), end - start, maxLineBytes))
      stretchStart = end + 1
    }
    if (newline < 0) break
    start = newline + 1
  }
  if (stretchStart <= bytes.length) lines.push(bytes.subarray(stretchStart))
}

/** One line: decoded, or rejected as too long or not UTF-8. */
const decodeLine = (
  bytes: Uint8Array,
  maxLineBytes: number,
  lines: Array<string | Uint8Array>,
  rejected: Array<RejectedLine>
): void => {
  if (bytes.length > maxLineBytes) {
    rejected.push(tooLong(lenientUtf8.decode(bytes.subarray(0, REJECTED_LINE_PREVIEW * 4)), bytes.length, maxLineBytes))
    return
  }
  try {
    lines.push(strictUtf8.decode(bytes))
  } catch {
    rejected.push({
      line: lenientUtf8.decode(bytes).slice(0, REJECTED_LINE_PREVIEW),
      reason: "line is not valid UTF-8"
    })
  }
}

export const startsWithBom = (chunk: Uint8Array): boolean =>
  chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf

const CUT_OFF_REASON = "connection closed in the middle of a line"

const tooLong = (preview: string, bytes: number, max: number): RejectedLine => ({
  line: preview.slice(0, REJECTED_LINE_PREVIEW),
  reason: `line is longer than --max-line-bytes (${max} bytes); it was ${bytes} bytes`
})

const concat = (parts: ReadonlyArray<Uint8Array>, length: number): Uint8Array => {
  if (parts.length === 1 && parts[0]!.length === length) return parts[0]!
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    if (offset >= length) break
    const take = Math.min(part.length, length - offset)
    out.set(take === part.length ? part : part.subarray(0, take), offset)
    offset += take
  }
  return out
}

/**
 * Frames a byte stream into `LineBatch`es, one per array of chunks.
 * `positionOf(consumedBytes, splitter)` gives each batch's resume position;
 * `fingerprint` makes a fresh one for each run of the stream, to be read there.
 * At the end, `lastLine` says what becomes of a last line without its newline:
 * - `"keep"` (a file): it counts when the byte stream ends cleanly; when it fails the line
 *   is not emitted, nor counted in the position a resume would start from.
 * - `"reject"` (a connection): the line was cut off, by a clean close (FIN) or a reset (RST)
 *   alike, so it is rejected with the reason "connection closed in the middle of a line".
 */
export const framedLines = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  maxLineBytes: number,
  positionOf: (consumedBytes: number, splitter: LineSplitter) => SourcePosition,
  options: {
    readonly skipLeadingBom?: boolean
    readonly fingerprint?: () => PrefixFingerprint
    readonly lastLine?: "keep" | "reject"
  } = {}
): Stream.Stream<LineBatch, E, R> => {
  const cut = (splitter: LineSplitter, chunks: ReadonlyArray<Uint8Array>): ReadonlyArray<LineBatch> => {
    const lines: Array<string | Uint8Array> = []
    const rejected: Array<RejectedLine> = []
    for (const chunk of chunks) {
      if (chunk === END_OF_INPUT) splitter.end(lines, rejected)
      else if (chunk === CUT_OFF) splitter.cutOff(rejected)
      else splitter.push(chunk, lines, rejected)
    }
    if (lines.length === 0 && rejected.length === 0) return []
    return [{ lines, rejected, position: positionOf(splitter.consumedBytes, splitter) }]
  }
  // Not `onHalt`: it also runs when the byte stream fails, and a file's line cut short by a
  // failure must not be emitted.
  const marked = options.lastLine === "reject"
    ? Stream.concat(bytes, Stream.succeed(CUT_OFF)).pipe(
      Stream.catchCause((cause) => Stream.concat(Stream.succeed(CUT_OFF), Stream.failCause(cause)))
    )
    : Stream.concat(bytes, Stream.succeed(END_OF_INPUT))
  return Stream.mapAccumArray(
    marked,
    () => new LineSplitter(maxLineBytes, options.skipLeadingBom, options.fingerprint?.()),
    (splitter, chunks) => [splitter, cut(splitter, chunks)] as const
  )
}

/** Appended after the last chunk of a byte stream that ended cleanly. */
const END_OF_INPUT = new Uint8Array(0)
/** Appended after the last chunk of a connection, however it ended. */
const CUT_OFF = new Uint8Array(0)
