/**
 * `--field NAME=PATH`: where a JSON log keeps a record field. NAME is one of
 * the record's fields; PATH is the key in the log's objects, dotted for nested
 * objects (`request.remote_ip` is the key `remote_ip` of the object under
 * `request`). A field that is not mapped keeps its own name.
 */
import type { Parsed } from "../Options.ts"

export const RECORD_FIELDS = ["timestamp", "ip", "method", "url", "status"] as const
export type RecordField = (typeof RECORD_FIELDS)[number]

/** The key path of each renamed field. Empty: the log uses the record's own names. */
export type FieldMapping = Readonly<Partial<Record<RecordField, ReadonlyArray<string>>>>

export const NO_MAPPING: FieldMapping = {}

const isRecordField = (name: string): name is RecordField => (RECORD_FIELDS as ReadonlyArray<string>).includes(name)

/** The values of every `--field` flag, in order; a field given twice is an error. */
export const parseFieldMapping = (values: ReadonlyArray<string>): Parsed<FieldMapping> => {
  const mapping: Partial<Record<RecordField, ReadonlyArray<string>>> = {}
  for (const value of values) {
    const equals = value.indexOf("=")
    const name = equals < 0 ? value : value.slice(0, equals)
    const path = value.slice(equals + 1).split(".")
    if (equals < 0 || !isRecordField(name)) {
      return { ok: false, message: `--field expects NAME=PATH with NAME one of ${RECORD_FIELDS.join(", ")}, got "${value}"` }
    }
    if (path.length === 0 || path.some((key) => key.length === 0)) {
      return { ok: false, message: `--field ${name}= expects a key or a dotted path of keys, such as request.remote_ip, got "${value}"` }
    }
    if (mapping[name] !== undefined) return { ok: false, message: `--field ${name} is given twice` }
    mapping[name] = path
  }
  return { ok: true, value: mapping }
}

/** `timestamp=ts ip=request.remote_ip`, or "" for no mapping: for messages and the checkpoint. */
export const describeFieldMapping = (mapping: FieldMapping): string =>
  RECORD_FIELDS.flatMap((name) => {
    const path = mapping[name]
    return path === undefined ? [] : [`${name}=${path.join(".")}`]
  }).join(" ")

export const isMapped = (mapping: FieldMapping): boolean => RECORD_FIELDS.some((name) => mapping[name] !== undefined)
