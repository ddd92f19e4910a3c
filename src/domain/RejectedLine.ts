/**
 * A line that is not a valid record, with the reason in plain words: what
 * `rejected/` holds, one JSON object per line. Sources reject lines before
 * decoding (too long, not UTF-8); the analysis rejects the rest.
 */
export interface RejectedLine {
  readonly line: string
  readonly reason: string
}

/** How much of a rejected line is kept in `rejected/`. */
export const REJECTED_LINE_PREVIEW = 1024
