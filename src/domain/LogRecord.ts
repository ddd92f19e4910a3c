/**
 * The access-log record: one HTTP request. `LogRecord` (a Schema) is the
 * definition of a valid record, whatever format carried it; the formats
 * (`formats/`) read lines into it and defer to it in every doubtful case.
 */
import * as Schema from "effect/Schema"
import { parseEventTimeMs } from "./Timestamp.ts"

export const Timestamp = Schema.String.check(
  Schema.makeFilter((text: string) => parseEventTimeMs(text) !== undefined, {
    expected: "an ISO-8601 timestamp with a zone, such as 2025-05-30T18:52:47.123Z"
  })
)

export const Status = Schema.Int.check(Schema.isBetween({ minimum: 100, maximum: 599 }))

export const LogRecord = Schema.Struct({
  timestamp: Timestamp,
  ip: Schema.String,
  method: Schema.String,
  url: Schema.String,
  status: Status
})
export type LogRecord = typeof LogRecord.Type

/** An error is a valid record with `status >= 400`. */
export const isErrorStatus = (status: number): boolean => status >= 400

// A U+FEFF is data wherever it stands in a line (`ignoreBOM`), as the line splitter keeps it.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true })

/** Valid UTF-8 bytes as text. */
export const decodeUtf8 = (bytes: Uint8Array): string => utf8.decode(bytes)

export const truncate = (text: string, maxLength: number): string =>
  text.length <= maxLength ? text : `${text.slice(0, maxLength)}…`
