/**
 * Lines joined into one newline-terminated payload, as every line-oriented
 * writer (part files, stdout, TCP clients) sends them; appending beats `join`
 * on concatenated lines.
 */
export const linesPayload = (lines: ReadonlyArray<string>): string => {
  let payload = ""
  for (let i = 0; i < lines.length; i++) payload += lines[i] + "\n"
  return payload
}
