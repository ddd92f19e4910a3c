/**
 * The one interface every input format implements. Framing (splitting bytes
 * into lines) is shared and lives in the transport; a format only decodes one
 * line at a time, validates it and writes its `errors/` line.
 *
 * A decoder keeps the last line's outcome in its own mutable fields, so that
 * the hot loop allocates nothing for the lines that are not errors:
 * - after a line is accepted (`decodeAt` returns its end, or `decode` returns
 *   `"valid"`), read `eventTimeMs` and `status`, and call `ip()`, `url()`,
 *   `errorLine()` or `record()` only for the lines you keep;
 * - after `"rejected"`, read `reason`.
 *
 * The format's Schema is the judge of validity: a fast path may only accept a
 * line the Schema accepts, with the same fields, and hands every doubtful line
 * on (`decodeAt` returns -1) to `decode`, whose last word is the Schema's.
 */
import type { LogRecord } from "../LogRecord.ts"

export type Verdict = "valid" | "rejected" | "skip"

export interface LineDecoder {
  /** The accepted line's event time, milliseconds since the epoch (truncated). */
  eventTimeMs: number
  /** The accepted line's status. */
  status: number
  /** Why the last line was rejected. */
  reason: string

  /**
   * The byte fast path, over a run of valid UTF-8 lines separated by `\n`: decodes the line that
   * starts at `start` when it can prove it valid. Returns the index of the `\n` that ends it (or
   * the run's length), or -1 when the line needs `decode`, which then decides. A `\r` before the
   * end is not part of the line. A blank line always gets -1.
   */
  decodeAt(bytes: Uint8Array, start: number): number

  /** One line as a string (no `\n`, final `\r` dropped, not blank). `"skip"`: a header line. */
  decode(line: string): Verdict

  /** The last line decoded, as a string (without a final `\r`). */
  lineText(): string

  /** The canonical record of the last valid line. */
  record(): LogRecord

  /** The last valid line's `ip`, without building its whole record. */
  ip(): string

  /** The last valid line's `url`, without building its whole record. */
  url(): string

  /** The `errors/` line of the last valid line: one JSON object, as the README describes per format. */
  errorLine(): string
}
