/**
 * `--format json` (the default): one JSON object per line, carrying the
 * record's five fields under their own names, or under the names that
 * `--field NAME=PATH` gives (see `FieldMapping.ts`). Extra fields are ignored.
 *
 * Without `--field` the record is exactly the `LogRecord` Schema: an ISO-8601
 * `timestamp` string and an integer `status`. With `--field` the log was
 * written by another program, so the forms web servers write are accepted
 * too: a `status` that is a string of digits (nginx's `escape=json`), and a
 * `timestamp` that is an epoch number (Caddy's `ts`) or a string of one. An
 * epoch value below 10^11 is seconds (up to the year 5138), rounded to the
 * microsecond; any other is milliseconds (from 1973-03-03 on). Both are then
 * truncated to milliseconds, as ISO timestamps are.
 *
 * The fast path reads bytes: an object in any key order, with any JSON
 * whitespace, extra members of any kind, record fields that are plain strings
 * (no escapes) or plain numbers, and dotted paths followed into nested
 * objects. It learns the layouts of the lines it reads (see `fastAt`), flat
 * or nested, and reads later lines of a known layout along it. Anything else
 * (escapes in a key or a record field, repeated keys on a path, a failed
 * check) goes to `JSON.parse` and the Schema, which decide.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { LogRecord, Status, Timestamp, type LogRecord as Record_ } from "../LogRecord.ts"
import { formatInstant, InstantReader, parseEventTimeMs } from "../Timestamp.ts"
import { FieldDecoder } from "./FieldDecoder.ts"
import { describeFieldMapping, isMapped, RECORD_FIELDS, type FieldMapping, type RecordField } from "./FieldMapping.ts"
import type { Format } from "./Format.ts"
import {
  isHexDigit,
  literalEnd,
  Literal,
  MAX_DEPTH,
  numberEnd,
  numberValue,
  plainRunEnd,
  sameBytes,
  skipWhitespace
} from "./JsonBytes.ts"
import type { Verdict } from "./LineDecoder.ts"

/** Milliseconds since the epoch of an epoch number (seconds below 10^11, else milliseconds), or undefined. */
export const epochMsOf = (value: number): number | undefined => {
  if (!(value >= 0)) return undefined
  // Seconds go through microseconds first, so that 1748631167.123 (a double just below) stays .123.
  const ms = value < 1e11 ? Math.floor(Math.round(value * 1e6) / 1000) : Math.floor(value)
  return ms <= MAX_EPOCH_MS ? ms + 0 : undefined
}

// 9999-12-31T23:59:59.999Z: the last instant with a four-digit year.
const MAX_EPOCH_MS = 253402300799999

const epochCheck = { expected: "an epoch time in seconds (below 10^11) or milliseconds, up to the year 9999" }
const EpochNumber = Schema.Number.check(Schema.makeFilter((value: number) => epochMsOf(value) !== undefined, epochCheck))
const EpochText = Schema.String.check(
  Schema.makeFilter((text: string) => /^[0-9]+(\.[0-9]+)?$/.test(text) && epochMsOf(Number(text)) !== undefined, epochCheck)
)
const StatusText = Schema.String.check(
  Schema.makeFilter((text: string) => /^[0-9]+$/.test(text) && Number(text) >= 100 && Number(text) <= 599, {
    expected: "a string of digits from 100 to 599"
  })
)

/** The record as other programs write it: what `--field` accepts. */
export const MappedRecord = Schema.Struct({
  timestamp: Schema.Union([Timestamp, EpochNumber, EpochText]),
  ip: Schema.String,
  method: Schema.String,
  url: Schema.String,
  status: Schema.Union([Status, StatusText])
})

const decodeRecord = Schema.decodeUnknownResult(LogRecord)
const decodeMapped = Schema.decodeUnknownResult(MappedRecord)

const toRecord = (mapped: typeof MappedRecord.Type): Record_ => ({
  timestamp: typeof mapped.timestamp === "string" && parseEventTimeMs(mapped.timestamp) !== undefined
    ? mapped.timestamp
    : formatInstant(epochMsOf(Number(mapped.timestamp))!),
  ip: mapped.ip,
  method: mapped.method,
  url: mapped.url,
  status: Number(mapped.status)
})

const TIMESTAMP = 1
const IP = 2
const METHOD = 4
const URL = 8
const STATUS = 16
const ALL_FIELDS = 31
const BITS: Readonly<Record<RecordField, number>> = { timestamp: TIMESTAMP, ip: IP, method: METHOD, url: URL, status: STATUS }
// The generator's order and separators: a line with these and nothing else is its own errors/ line.
const CANONICAL_ORDER = [TIMESTAMP, IP, METHOD, URL, STATUS]
const CANONICAL_SEPARATORS = ["{\"timestamp\":", ",\"ip\":", ",\"method\":", ",\"url\":", ",\"status\":"].map((text) =>
  Uint8Array.from(text, (ch) => ch.charCodeAt(0))
)
// Layouts learned per decoder, at most: real logs have one or a few.
const MAX_STEPS = 64
const UNKNOWN_LAYOUT = -2

/**
 * A member of a known layout: the bytes before its value, the field it is, and the members seen
 * after it. With dotted paths the bytes before a value also open and close the objects on the
 * paths (`,"request":{"remote_ip":`); `depth` is how many of them hold the value.
 */
class Step {
  readonly next: Array<Step> = []
  readonly separator: Literal
  readonly bit: number
  readonly depth: number
  // The fields of the layout up to here.
  readonly seen: number
  // The layout up to here is the generator's, member for member.
  readonly canonical: boolean
  // A key up to here holds a non-ASCII character (string offsets are then not byte offsets).
  readonly nonAscii: boolean

  constructor(separator: Literal, bit: number, depth: number, seen: number, canonical: boolean, nonAscii: boolean) {
    this.separator = separator
    this.bit = bit
    this.depth = depth
    this.seen = seen
    this.canonical = canonical
    this.nonAscii = nonAscii
  }
}

const utf8 = new TextEncoder()

/** The key among `keys` that `bytes[start, end)` spells, or undefined. */
const findKey = <K extends Key>(keys: ReadonlyArray<K>, bytes: Uint8Array, start: number, end: number): K | undefined => {
  const length = end - start
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k]!.bytes
    if (key.length !== length) continue
    let i = 0
    while (i < length && bytes[start + i] === key[i]) i++
    if (i === length) return keys[k]
  }
  return undefined
}

interface Key {
  readonly bytes: Uint8Array
  readonly bit: number
}

/** A key of a dotted path: a field's own key (`bit`), or an object key holding more of the paths (`keys`). */
interface PathKey extends Key {
  // For an object key: its own bit among the object keys (a repeated one goes to JSON.parse), and what it holds.
  readonly objectBit: number
  readonly keys: Array<PathKey>
}

/** The paths as a tree of keys, or undefined when a key would be both a field and an object (left to JSON.parse). */
const pathTree = (paths: Readonly<Record<RecordField, ReadonlyArray<string>>>): ReadonlyArray<PathKey> | undefined => {
  const root: Array<PathKey> = []
  let objects = 0
  for (const name of RECORD_FIELDS) {
    let level = root
    const path = paths[name]
    for (let i = 0; i < path.length; i++) {
      const bytes = utf8.encode(path[i]!)
      const last = i === path.length - 1
      let key = level.find((k) => sameBytes(k.bytes, bytes))
      if (key !== undefined && (last || key.bit !== 0)) return undefined
      if (key === undefined) {
        key = { bytes, bit: last ? BITS[name] : 0, objectBit: last ? 0 : 1 << objects++, keys: [] }
        level.push(key)
      }
      level = key.keys
    }
  }
  return root
}

export class JsonDecoder extends FieldDecoder {
  private readonly instants = new InstantReader()
  // Whether `--field` renamed anything: the lenient forms are then accepted.
  private readonly mapped: boolean
  // The top-level key of each field, when every path is one key; else the tree of the dotted paths.
  private readonly keys: ReadonlyArray<Key> | undefined
  private readonly pathKeys: ReadonlyArray<PathKey> | undefined
  // The fields and the object keys of the paths read so far in the current line.
  private seenFields = 0
  private seenObjects = 0
  private readonly paths: Readonly<Record<RecordField, ReadonlyArray<string>>>
  private readonly mappingNote: string
  // The layouts of lines read so far, as a tree of separators (see `fastAt`), and its size.
  private readonly layouts: Step
  private stepCount = 0
  // The members of the line read key by key: where each separator starts and ends (its value's start), its
  // field, its depth in the objects of the dotted paths; and where the last value read ended.
  private readonly separators: Array<number> = []
  private readonly memberBits: Array<number> = []
  private readonly memberDepths: Array<number> = []
  private valueEnd = 0

  constructor(mapping: FieldMapping) {
    super()
    this.mapped = isMapped(mapping)
    // The root stands before the first member: its own separator is never compared.
    this.layouts = new Step(new Literal(new Uint8Array(4)), 0, 0, 0, !this.mapped, false)
    const paths = {} as Record<RecordField, ReadonlyArray<string>>
    for (const name of RECORD_FIELDS) paths[name] = mapping[name] ?? [name]
    this.paths = paths
    this.keys = RECORD_FIELDS.every((name) => paths[name].length === 1)
      ? RECORD_FIELDS.map((name) => ({ bytes: utf8.encode(paths[name][0]!), bit: BITS[name] }))
      : undefined
    this.pathKeys = this.keys === undefined ? pathTree(paths) : undefined
    this.mappingNote = this.mapped ? ` (fields mapped with --field ${describeFieldMapping(mapping)})` : ""
  }

  decodeAt(bytes: Uint8Array, start: number): number {
    this.beginBytes(bytes, start)
    return this.fastAt(bytes, start)
  }

  decode(line: string): Verdict {
    const length = this.beginString(line)
    if (length >= 0 && this.fastAt(this.bytes, 0) === length) return "valid"
    return this.slowJson(line)
  }

  // -- the fast path: return -1 to defer to the Schema ------------------------

  /**
   * An object whose record fields are plain, from `start` to the end of its line. The bytes
   * between one value and the next (`,"ip":`, `, "ip": ` or `},"request":{"uri":`) are compared
   * a word at a time against those of the layouts of lines seen before; a line of a new layout
   * is read key by key, and its layout learned.
   */
  private fastAt(bytes: Uint8Array, start: number): number {
    // Paths that JSON.parse must settle (see `pathTree`).
    if (this.keys === undefined && this.pathKeys === undefined) return -1
    const end = this.knownLayoutAt(bytes, start)
    if (end !== UNKNOWN_LAYOUT) return end
    return this.keys !== undefined ? this.anyLayoutAt(bytes, start) : this.nestedAt(bytes, start)
  }

  /** The line read along the known layouts, or `UNKNOWN_LAYOUT` when it leaves them. */
  private knownLayoutAt(bytes: Uint8Array, start: number): number {
    const view = this.view
    let node = this.layouts
    let p = start
    for (;;) {
      const next = node.next
      let step: Step | undefined = undefined
      for (let i = 0; i < next.length; i++) {
        const candidate = next[i]!
        if (candidate.separator.at(view, p)) {
          // Whitespace after it would mean the line only starts like this layout.
          const c = bytes[p + candidate.separator.length]
          if (c !== 32 && c !== 9 && c !== 13) {
            step = candidate
            break
          }
        }
      }
      if (step === undefined) break
      p += step.separator.length
      // A value the fast path cannot take fails the same way read key by key: no need to try.
      p = step.bit === 0 ? this.skipValue(bytes, p, step.depth) : this.fieldValue(bytes, p, step.bit)
      if (p < 0) return -1
      node = step
    }
    if (node.seen !== ALL_FIELDS) return UNKNOWN_LAYOUT
    if (node.nonAscii) this.nonAscii = true
    // The objects of the dotted paths that hold the last value close first.
    for (let open = node.depth; open > 0; open--) {
      p = skipWhitespace(bytes, p)
      if (bytes[p] !== 125) return UNKNOWN_LAYOUT
      p++
    }
    let c = bytes[p]
    const spaced = c === 32 || c === 9 || c === 13
    while (c === 32 || c === 9 || c === 13) c = bytes[++p]
    if (c !== 125) return UNKNOWN_LAYOUT
    return this.endAt(bytes, p + 1, node.canonical && !spaced)
  }

  /** After the closing brace at `close - 1`: whitespace to the end of the line. */
  private endAt(bytes: Uint8Array, close: number, canonical: boolean): number {
    let p = close
    let c = bytes[p]
    while (c === 32 || c === 9 || c === 13) c = bytes[++p]
    if (p !== bytes.length && c !== 10) return -1
    // In a run, a `\r` just before the end is the line end's, not the line's. A line given as a
    // string (`decode`) has had its line end taken off: it is its own text whole.
    this.lineEnd = this.line === undefined && p > close && bytes[p - 1] === 13 ? p - 1 : p
    this.isCanonical = canonical && this.lineEnd === close
    return p
  }

  /** The line read key by key; a valid line's layout is learned. */
  private anyLayoutAt(bytes: Uint8Array, start: number): number {
    this.beginMembers(start)
    let canonical = !this.mapped
    let p = start
    let c: number | undefined
    let seen = 0
    for (let k = 0; ; k++) {
      c = bytes[p]
      let spaced = false
      while (c === 32 || c === 9 || c === 13) {
        c = bytes[++p]
        spaced = true
      }
      if (k === 0) {
        if (c !== 123) return -1
      } else if (c === 125) {
        if (spaced) canonical = false
        break
      } else if (c !== 44) {
        return -1
      }
      c = bytes[++p]
      while (c === 32 || c === 9 || c === 13) {
        c = bytes[++p]
        spaced = true
      }
      if (c !== 34) return -1
      const keyStart = ++p
      p = this.keyEnd(bytes, keyStart)
      if (p < 0) return -1
      const bit = findKey(this.keys!, bytes, keyStart, p)?.bit ?? 0
      c = bytes[++p]
      while (c === 32 || c === 9 || c === 13) {
        c = bytes[++p]
        spaced = true
      }
      if (c !== 58) return -1
      c = bytes[++p]
      while (c === 32 || c === 9 || c === 13) {
        c = bytes[++p]
        spaced = true
      }
      if (spaced || CANONICAL_ORDER[k] !== bit) canonical = false
      this.member(p, bit, 0)
      if (bit === 0) {
        p = this.skipValue(bytes, p, 0)
      } else {
        // A duplicate key: JSON.parse keeps the last, the Schema then judges it.
        if ((seen & bit) !== 0) return -1
        seen |= bit
        p = this.fieldValue(bytes, p, bit)
      }
      if (p < 0) return -1
      this.valueEnd = p
    }
    if (seen !== ALL_FIELDS) return -1
    const end = this.endAt(bytes, p + 1, canonical && this.memberBits.length === 5)
    if (end >= 0) this.learn(bytes)
    return end
  }

  /** Adds the layout of the valid line just read key by key to the known layouts, if there is room. */
  private learn(bytes: Uint8Array): void {
    const separators = this.separators
    const bits = this.memberBits
    let parent = this.layouts
    for (let j = 0; j < bits.length; j++) {
      const separator = bytes.subarray(separators[2 * j]!, separators[2 * j + 1]!)
      const bit = bits[j]!
      const depth = this.memberDepths[j]!
      // The same bytes after the same parent open and close the same objects: the depth follows.
      let step = parent.next.find((s) => s.bit === bit && sameBytes(s.separator.bytes, separator))
      if (step === undefined) {
        if (this.stepCount >= MAX_STEPS) return
        const canonical = parent.canonical && bit === CANONICAL_ORDER[j] && sameBytes(separator, CANONICAL_SEPARATORS[j])
        step = new Step(new Literal(separator), bit, depth, parent.seen | bit, canonical, parent.nonAscii || separator.some((b) => b >= 128))
        parent.next.push(step)
        this.stepCount++
      }
      parent = step
    }
  }

  /** Index of the quote closing a key with no escape or control character, which starts at `start`; or -1. */
  private keyEnd(bytes: Uint8Array, start: number): number {
    const length = bytes.length
    for (let p = start; p < length; p++) {
      const c = bytes[p]!
      if (c === 34) return p
      if (c === 92 || c < 32) return -1
      if (c >= 128) this.nonAscii = true
    }
    return -1
  }

  /** A line whose mapped fields lie along dotted paths, read key by key from `start`; a valid line's layout is learned. */
  private nestedAt(bytes: Uint8Array, start: number): number {
    this.beginMembers(start)
    const p = skipWhitespace(bytes, start)
    if (bytes[p] !== 123) return -1
    this.seenFields = 0
    this.seenObjects = 0
    const close = this.nestedObject(bytes, p, this.pathKeys!, 0)
    if (close < 0 || this.seenFields !== ALL_FIELDS) return -1
    const end = this.endAt(bytes, close, false)
    if (end >= 0) this.learn(bytes)
    return end
  }

  /** A line read key by key starts at `start`: no members yet. */
  private beginMembers(start: number): void {
    this.separators.length = 0
    this.memberBits.length = 0
    this.memberDepths.length = 0
    this.valueEnd = start
  }

  /** A member's value starts at `p`: the bytes since the last value are its separator. */
  private member(p: number, bit: number, depth: number): void {
    this.separators.push(this.valueEnd, p)
    this.memberBits.push(bit)
    this.memberDepths.push(depth)
  }

  /** The object at `p` (its `{`), whose keys `keys` lead to fields; returns the index after its `}`, or -1. */
  private nestedObject(bytes: Uint8Array, p: number, keys: ReadonlyArray<PathKey>, depth: number): number {
    p = skipWhitespace(bytes, p + 1)
    if (bytes[p] === 125) return p + 1
    for (;;) {
      if (bytes[p] !== 34) return -1
      const keyStart = p + 1
      const keyEnd = this.keyEnd(bytes, keyStart)
      if (keyEnd < 0) return -1
      const key = findKey(keys, bytes, keyStart, keyEnd)
      p = skipWhitespace(bytes, keyEnd + 1)
      if (bytes[p] !== 58) return -1
      p = skipWhitespace(bytes, p + 1)
      if (key === undefined) {
        this.member(p, 0, depth)
        p = this.valueEnd = this.skipValue(bytes, p, depth)
      } else if (key.bit !== 0) {
        // A repeated key: JSON.parse keeps the last, the Schema then judges it.
        if ((this.seenFields & key.bit) !== 0) return -1
        this.seenFields |= key.bit
        this.member(p, key.bit, depth)
        p = this.valueEnd = this.fieldValue(bytes, p, key.bit)
      } else {
        // Repeated (JSON.parse keeps the last), not an object, or too deep: JSON.parse and the Schema decide.
        if ((this.seenObjects & key.objectBit) !== 0 || bytes[p] !== 123 || depth >= MAX_DEPTH) return -1
        this.seenObjects |= key.objectBit
        p = this.nestedObject(bytes, p, key.keys, depth + 1)
      }
      if (p < 0) return -1
      p = skipWhitespace(bytes, p)
      const c = bytes[p]
      if (c === 125) return p + 1
      if (c !== 44) return -1
      p = skipWhitespace(bytes, p + 1)
    }
  }

  /** A record field's value at `p`, if plain and valid; returns the index after it, or -1. */
  private fieldValue(bytes: Uint8Array, p: number, bit: number): number {
    const c = bytes[p]!
    if (c === 34) {
      const valueStart = p + 1
      if (bit === TIMESTAMP) {
        const end = this.instants.read(bytes, this.view, valueStart, bytes.length)
        if (end >= 0 && bytes[end] === 34) {
          this.timestampStart = valueStart
          this.timestampEnd = end
          this.eventTimeMs = this.instants.epochMs
          return end + 1
        }
        if (!this.mapped) return -1
      }
      const end = this.plainStringEnd(bytes, valueStart)
      if (end < 0) return -1
      if (bit === STATUS || bit === TIMESTAMP) {
        if (!this.mapped) return -1
        return this.numberField(bytes, valueStart, end, bit, true) ? end + 1 : -1
      }
      if (bit === IP) {
        this.ipStart = valueStart
        this.ipEnd = end
      } else if (bit === METHOD) {
        this.methodStart = valueStart
        this.methodEnd = end
      } else {
        this.urlStart = valueStart
        this.urlEnd = end
      }
      return end + 1
    }
    if (bit === STATUS) {
      // A plain positive integer; fractions, exponents and leading zeros go to the Schema.
      let value = c - 48
      if (value < 1 || value > 9) return -1
      let i = p + 1
      for (;;) {
        const d = bytes[i]! - 48
        if (!(d >= 0 && d <= 9)) break
        value = value * 10 + d
        i++
      }
      const next = bytes[i]
      if (next === 46 || next === 101 || next === 69 || value < 100 || value > 599) return -1
      this.status = value
      return i
    }
    if (bit === TIMESTAMP && this.mapped) {
      const end = numberEnd(bytes, p)
      return end >= 0 && this.numberField(bytes, p, end, TIMESTAMP, false) ? end : -1
    }
    return -1
  }

  /**
   * The lenient forms: a status or an epoch timestamp as the text `bytes[start, end)`, a JSON
   * number or (`quoted`) the content of a string. Read as `JSON.parse` and the Schema would.
   */
  private numberField(bytes: Uint8Array, start: number, end: number, bit: number, quoted: boolean): boolean {
    if (quoted) {
      // Digits, and for a timestamp an optional fraction.
      let i = start
      while (i < end && bytes[i]! >= 48 && bytes[i]! <= 57) i++
      if (i === start) return false
      if (bit === TIMESTAMP && i < end && bytes[i] === 46) {
        const fraction = ++i
        while (i < end && bytes[i]! >= 48 && bytes[i]! <= 57) i++
        if (i === fraction) return false
      }
      if (i !== end) return false
    }
    const value = numberValue(bytes, start, end)
    if (bit === STATUS) {
      if (!(value >= 100 && value <= 599)) return false
      this.status = value
      return true
    }
    const epochMs = epochMsOf(value)
    if (epochMs === undefined) return false
    this.eventTimeMs = epochMs
    this.timestampIsEpoch = true
    return true
  }

  /** Index of the quote closing a JSON string with no escape or control character, or -1. */
  private plainStringEnd(bytes: Uint8Array, start: number): number {
    const length = bytes.length
    const view = this.view
    for (let i = start; ; i++) {
      i = plainRunEnd(view, i, length)
      if (i >= length) return -1
      const c = bytes[i]!
      if (c === 34) return i
      if (c === 92 || c < 32) return -1
      if (c >= 128) this.nonAscii = true
    }
  }

  // -- a validating skip over any JSON value, for the members the record ignores --

  /** The index just after the JSON value at `p`, or -1 if it is not one (or too deep). */
  private skipValue(bytes: Uint8Array, p: number, depth: number): number {
    const c = bytes[p]
    if (c === 34) return this.skipString(bytes, p + 1)
    if (c === 45 || (c !== undefined && c >= 48 && c <= 57)) return numberEnd(bytes, p)
    if (c === 110 || c === 116 || c === 102) return literalEnd(this.view, p, c)
    if ((c === 123 || c === 91) && depth < MAX_DEPTH) return this.skipContainer(bytes, p, depth + 1)
    return -1
  }

  /** An object or array at `p`. */
  private skipContainer(bytes: Uint8Array, p: number, depth: number): number {
    const isObject = bytes[p] === 123
    const close = isObject ? 125 : 93
    p = skipWhitespace(bytes, p + 1)
    if (bytes[p] === close) return p + 1
    for (;;) {
      if (isObject) {
        if (bytes[p] !== 34) return -1
        p = this.skipString(bytes, p + 1)
        if (p < 0) return -1
        p = skipWhitespace(bytes, p)
        if (bytes[p] !== 58) return -1
        p = skipWhitespace(bytes, p + 1)
      }
      p = this.skipValue(bytes, p, depth)
      if (p < 0) return -1
      p = skipWhitespace(bytes, p)
      const c = bytes[p]
      if (c === close) return p + 1
      if (c !== 44) return -1
      p = skipWhitespace(bytes, p + 1)
    }
  }

  /** The index after the quote closing the string whose content starts at `p`, escapes checked, or -1. */
  private skipString(bytes: Uint8Array, p: number): number {
    const length = bytes.length
    const view = this.view
    for (;;) {
      p = plainRunEnd(view, p, length)
      if (p >= length) return -1
      const c = bytes[p]!
      if (c === 34) return p + 1
      if (c < 32) return -1
      if (c >= 128) this.nonAscii = true
      if (c === 92) {
        const e = bytes[p + 1]
        if (e === 117) {
          for (let i = 2; i < 6; i++) if (!isHexDigit(bytes[p + i])) return -1
          p += 6
          continue
        }
        if (e !== 34 && e !== 92 && e !== 47 && e !== 98 && e !== 102 && e !== 110 && e !== 114 && e !== 116) return -1
        p += 2
        continue
      }
      p++
    }
  }

  // -- the slow path: JSON.parse and the Schema decide -----------------------

  private slowJson(line: string): "valid" | "rejected" {
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (error) {
      // JSON.parse says where it stopped ("Unexpected end of JSON input"), which helps find the culprit.
      return this.reject(`not valid JSON: ${(error as Error).message}`)
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      return this.reject(`expected a JSON object, got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}`)
    }
    if (!this.mapped) return this.accept(decodeRecord(value))
    const paths = this.paths
    const fields = {
      timestamp: at(value, paths.timestamp),
      ip: at(value, paths.ip),
      method: at(value, paths.method),
      url: at(value, paths.url),
      status: at(value, paths.status)
    }
    const verdict = this.accept(Result.map(decodeMapped(fields), toRecord))
    if (verdict === "rejected") this.reason += this.mappingNote
    return verdict
  }
}

/** The value at a path of keys through nested objects, or undefined. */
const at = (value: unknown, path: ReadonlyArray<string>): unknown => {
  let current = value
  for (const key of path) {
    if (current === null || typeof current !== "object" || Array.isArray(current) || !Object.hasOwn(current, key)) return undefined
    current = (current as Record<string, unknown>)[key]
  }
  return current
}

export const json = {
  name: "json",
  description: "one JSON object per line with timestamp, ip, method, url and status (extra fields ignored; see --field)",
  acceptsFieldMapping: true,
  decoder: (options) => new JsonDecoder(options.fields),
  encoding: {
    header: undefined,
    timestamp: formatInstant,
    line: (timestamp, ip, method, url, status) =>
      `{"timestamp":"${timestamp}","ip":"${ip}","method":"${method}","url":"${url}","status":${status}}`
  }
} as const satisfies Format
