/**
 * `--format csv`: the columns `timestamp,ip,method,url,status` (RFC 4180
 * quoting), a header line, if present, skipped. The fast path takes five
 * plain fields (no quotes) and a three-digit status; every other line is split
 * by the RFC 4180 rules and judged by the `LogRecord` Schema.
 */
import * as Schema from "effect/Schema"
import { LogRecord, truncate } from "../LogRecord.ts"
import { formatInstant, InstantReader } from "../Timestamp.ts"
import { FieldDecoder } from "./FieldDecoder.ts"
import type { Format } from "./Format.ts"
import type { Verdict } from "./LineDecoder.ts"

export const CSV_HEADER = "timestamp,ip,method,url,status"

const decodeRecord = Schema.decodeUnknownResult(LogRecord)

export class CsvDecoder extends FieldDecoder {
  private readonly instants = new InstantReader()

  decodeAt(bytes: Uint8Array, start: number): number {
    this.beginBytes(bytes, start)
    return this.plainCsvAt(bytes, start)
  }

  decode(line: string): Verdict {
    if (line === CSV_HEADER) return "skip"
    const length = this.beginString(line)
    // A `\r` is the splitter's to drop: here it belongs to the status, which it spoils.
    if (length >= 0 && this.plainCsvAt(this.bytes, 0) === length && this.lineEnd === length) return "valid"
    this.needsEscaping = true
    return this.slowCsv(line)
  }

  private plainCsvAt(bytes: Uint8Array, start: number): number {
    this.timestampStart = start
    let position = this.instants.read(bytes, this.view, start, bytes.length)
    if (position < 0 || bytes[position] !== 44) return -1
    this.timestampEnd = position
    this.ipStart = position + 1
    this.ipEnd = position = this.plainFieldEnd(bytes, this.ipStart)
    if (position < 0) return -1
    this.methodStart = position + 1
    this.methodEnd = position = this.plainFieldEnd(bytes, this.methodStart)
    if (position < 0) return -1
    this.urlStart = position + 1
    this.urlEnd = position = this.plainFieldEnd(bytes, this.urlStart)
    if (position < 0 || position + 4 > bytes.length) return -1
    const at = position + 1
    const hundreds = bytes[at]! - 48
    const tens = bytes[at + 1]! - 48
    const ones = bytes[at + 2]! - 48
    if (hundreds < 1 || hundreds > 5 || tens < 0 || tens > 9 || ones < 0 || ones > 9) return -1
    this.status = hundreds * 100 + tens * 10 + ones
    this.eventTimeMs = this.instants.epochMs
    return this.endsAt(bytes, at + 3)
  }

  /** Index of the comma ending a CSV field with no quote, or -1 (the line ends first). */
  private plainFieldEnd(bytes: Uint8Array, start: number): number {
    const length = bytes.length
    for (let i = start; i < length; i++) {
      const c = bytes[i]!
      if (c === 44) return i
      if (c === 34 || c === 10) return -1
      if (c >= 128) this.nonAscii = true
      else if (c === 92 || c < 32) this.needsEscaping = true
    }
    return -1
  }

  private slowCsv(line: string): "valid" | "rejected" {
    const fields = splitCsvLine(line)
    if (fields === undefined) return this.reject("unbalanced quotes in CSV line")
    if (fields.length !== 5) {
      return this.reject(`expected 5 CSV fields (${CSV_HEADER}), got ${fields.length}`)
    }
    const statusText = fields[4]!
    if (!/^[0-9]+$/.test(statusText)) return this.reject(`status must be an integer, got "${truncate(statusText, 40)}"`)
    return this.accept(decodeRecord({ timestamp: fields[0], ip: fields[1], method: fields[2], url: fields[3], status: Number(statusText) }))
  }
}

/** RFC 4180 fields of one line, or `undefined` for an unterminated quote. */
const splitCsvLine = (line: string): Array<string> | undefined => {
  const fields: Array<string> = []
  let position = 0
  for (;;) {
    if (line.charCodeAt(position) === 34) {
      let value = ""
      let i = position + 1
      for (;;) {
        const quote = line.indexOf("\"", i)
        if (quote < 0) return undefined
        value += line.slice(i, quote)
        if (line.charCodeAt(quote + 1) === 34) {
          value += "\""
          i = quote + 2
          continue
        }
        position = quote + 1
        break
      }
      fields.push(value)
      if (position === line.length) return fields
      if (line.charCodeAt(position) !== 44) return undefined
      position++
    } else {
      const comma = line.indexOf(",", position)
      if (comma < 0) {
        fields.push(line.slice(position))
        return fields
      }
      fields.push(line.slice(position, comma))
      position = comma + 1
    }
  }
}

export const csv = {
  name: "csv",
  description: "CSV with the columns timestamp,ip,method,url,status (a header line is skipped)",
  acceptsFieldMapping: false,
  decoder: () => new CsvDecoder(),
  encoding: {
    header: CSV_HEADER,
    timestamp: formatInstant,
    // The generator's fields never need RFC 4180 quoting.
    line: (timestamp, ip, method, url, status) => `${timestamp},${ip},${method},${url},${status}`
  }
} as const satisfies Format
