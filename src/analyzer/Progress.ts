/**
 * The progress bar of a long replay (`--input FILE` on a terminal): bytes
 * read of the file's size, lines per second and the time left, redrawn in
 * place on stderr a few times a second and erased at the end. Off when
 * stderr is not a terminal, so logs and CI output stay clean.
 */
import * as Effect from "effect/Effect"

/** Redrawn at most this often. */
const REDRAW_MS = 200
const BAR_WIDTH = 24

export interface ProgressInput {
  readonly bytes: number
  readonly totalBytes: number
  /** Bytes and lines read by this run (a resumed run started further in). */
  readonly bytesThisRun: number
  readonly linesThisRun: number
  readonly elapsedMs: number
}

const size = (bytes: number): string =>
  bytes >= 1 << 30 ? `${(bytes / (1 << 30)).toFixed(1)} GiB` : bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${Math.round(bytes / 1024)} KiB`

const clock = (seconds: number): string => {
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h > 0 ? 2 : 1, "0")
  const ss = String(s % 60).padStart(2, "0")
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`
}

/** `[██████░░░░] 42%  110.0 MiB of 262.1 MiB  1,234,567 lines/s  0:07 left` */
export const formatProgress = (p: ProgressInput): string => {
  const fraction = p.totalBytes > 0 ? Math.min(1, p.bytes / p.totalBytes) : 1
  const filled = Math.round(fraction * BAR_WIDTH)
  const seconds = p.elapsedMs / 1000
  const rate = seconds > 0 ? Math.round(p.linesThisRun / seconds) : 0
  const bytesPerSecond = seconds > 0 ? p.bytesThisRun / seconds : 0
  const left = bytesPerSecond > 0 ? clock((p.totalBytes - p.bytes) / bytesPerSecond) : "–"
  return `[${"█".repeat(filled)}${"░".repeat(BAR_WIDTH - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ` +
    `${size(p.bytes)} of ${size(p.totalBytes)}  ${rate.toLocaleString("en-US")} lines/s  ${left} left`
}

export interface ProgressBar {
  readonly update: (bytes: number, lines: number, nowMs: number) => Effect.Effect<void>
  readonly clear: Effect.Effect<void>
}

/** A bar over `totalBytes`, drawn on `stream` (a terminal); the run starts at `bytesBefore` and `linesBefore`. */
export const makeProgressBar = (
  totalBytes: number,
  start: { readonly atMs: number; readonly bytesBefore: number; readonly linesBefore: number },
  stream: NodeJS.WriteStream = process.stderr
): ProgressBar => {
  let drawnAt = -Infinity
  let drawn = false
  return {
    update: (bytes, lines, nowMs) =>
      Effect.sync(() => {
        if (nowMs - drawnAt < REDRAW_MS) return
        drawnAt = nowMs
        drawn = true
        const text = formatProgress({
          bytes,
          totalBytes,
          bytesThisRun: bytes - start.bytesBefore,
          linesThisRun: lines - start.linesBefore,
          elapsedMs: nowMs - start.atMs
        })
        stream.write(`\r${text.slice(0, Math.max(20, (stream.columns || 100) - 1))}\x1b[K`)
      }),
    // Before any other line is printed; the next update draws again at once.
    clear: Effect.sync(() => {
      if (drawn) stream.write("\r\x1b[K")
      drawn = false
      drawnAt = -Infinity
    })
  }
}
