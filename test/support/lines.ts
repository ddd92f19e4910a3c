/** The lines of `LineBatch.lines` as strings, byte runs split at their newlines. */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

export const textLines = (lines: ReadonlyArray<string | Uint8Array>): Array<string> =>
  lines.flatMap((entry) => (typeof entry === "string" ? [entry] : strictUtf8.decode(entry).split("\n")))
