/**
 * Parsing of the option values people type: durations such as `10s`, `1m`
 * or `10 seconds`, a rate, whole numbers within bounds, broker lists and the
 * status split `90 5 5`. Each parser returns a value or a message that names
 * the flag and says what was expected.
 */

const UNIT_MS: Record<string, number> = {
  ms: 1, millis: 1, millisecond: 1, milliseconds: 1,
  s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hour: 3_600_000, hours: 3_600_000
}

export type Parsed<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly message: string }

/** Unless a flag says otherwise, the longest duration it takes: far beyond any sensible window or timer. */
export const MAX_DURATION = { ms: 365 * 24 * 3_600_000, words: "365 days" } as const

export interface DurationBounds {
  readonly minMs?: number
  /** Kept well inside a date's range, so that no instant computed from a duration is out of it. */
  readonly max?: { readonly ms: number; readonly words: string }
}

/**
 * `10s`, `1m`, `10 seconds`, `1.5h`, `250ms`, from `minMs` (default 0) to `max` (default 365
 * days). A bare number is not accepted: the unit is never guessed.
 */
export const parseDuration = (flag: string, text: string, bounds: DurationBounds = {}): Parsed<number> => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$/.exec(text)
  const unit = match === null ? undefined : UNIT_MS[match[2]!.toLowerCase()]
  if (match === null || unit === undefined) {
    return { ok: false, message: `${flag} expects a duration such as 10s, 30s, 1m or "10 seconds", got "${text}"` }
  }
  const ms = Math.round(Number(match[1]) * unit)
  const max = bounds.max ?? MAX_DURATION
  // `!(ms <= max)` also refuses a number too long to be finite.
  if (!(ms <= max.ms)) return { ok: false, message: `${flag} must be at most ${max.words}, got "${text}"` }
  const minMs = bounds.minMs ?? 0
  if (ms < minMs) return { ok: false, message: `${flag} must be at least ${minMs}ms, got "${text}"` }
  return { ok: true, value: ms }
}

/** Lines per second, a number ≥ 0; 0 means as fast as possible. */
export const parseRate = (text: string): Parsed<number> => {
  const rate = Number(text)
  return text.trim() !== "" && Number.isFinite(rate) && rate >= 0
    ? { ok: true, value: rate }
    : { ok: false, message: `--rate expects lines per second, a number ≥ 0 (0 = as fast as possible), got "${text}"` }
}

export interface WholeNumberBounds {
  readonly min: number
  /** Inclusive; the largest safe integer when left out. */
  readonly max?: number
  /** What the number counts, for the message: "lines", "errors". */
  readonly unit?: string
}

/** A whole number within `bounds`: `--urls expects a whole number ≥ 1, got "0"` otherwise. */
export const parseWholeNumber = (flag: string, text: string, bounds: WholeNumberBounds): Parsed<number> => {
  const value = /^\s*-?\d+\s*$/.test(text) ? Number(text) : Number.NaN
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER
  if (Number.isSafeInteger(value) && value >= bounds.min && value <= max) return { ok: true, value }
  const what = bounds.unit === undefined ? "a whole number" : `a whole number of ${bounds.unit}`
  const range = bounds.max === undefined ? `≥ ${bounds.min}` : `from ${bounds.min} to ${bounds.max}`
  return { ok: false, message: `${flag} expects ${what} ${range}, got "${text}"` }
}

/** Three percentages for 200, 404 and 500 that add up to 100: `90 5 5` or `90,5,5`. */
export const parseStatusDistribution = (text: string): Parsed<readonly [number, number, number]> => {
  const parts = text.trim().split(/[\s,]+/).filter((p) => p.length > 0)
  const values = parts.map(Number)
  if (parts.length !== 3 || values.some((v) => !Number.isInteger(v) || v < 0)) {
    return {
      ok: false,
      message: `--status-dist expects three whole percentages for 200, 404 and 500, such as "90 5 5", got "${text}"`
    }
  }
  const sum = values[0]! + values[1]! + values[2]!
  if (sum !== 100) return { ok: false, message: `--status-dist percentages must add up to 100, but ${parts.join(" + ")} = ${sum}` }
  return { ok: true, value: [values[0]!, values[1]!, values[2]!] }
}

/** The environment variable that holds the brokers when `--kafka-broker` is left out, and their default. */
export const BROKERS_VARIABLE = "KAFKA_BROKERS"
export const DEFAULT_BROKERS = "localhost:9092"

/** `host:port[,host:port]`, ports 1 to 65535; `source` is where the text came from, for the message. */
export const parseBrokers = (text: string, source = "--kafka-broker"): Parsed<ReadonlyArray<string>> => {
  const brokers = text.split(",").map((b) => b.trim()).filter((b) => b.length > 0)
  const bad = brokers.find((b) => {
    const match = /^([^\s]+):(\d{1,5})$/.exec(b)
    return match === null || Number(match[2]) < 1 || Number(match[2]) > 65535
  })
  if (brokers.length === 0 || bad !== undefined) {
    return { ok: false, message: `${source} expects host:port[,host:port], got "${text}"` }
  }
  return { ok: true, value: brokers }
}

/**
 * The seed's `--status-dist 0 0 100` passes three separate words; the CLI
 * library takes one value per flag, so the words are joined beforehand.
 */
export const joinStatusDistributionWords = (argv: ReadonlyArray<string>): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!
    out.push(word)
    if (word === "--status-dist") {
      const values: Array<string> = []
      while (i + 1 < argv.length && /^\d+(,\d+)*$/.test(argv[i + 1]!)) values.push(argv[++i]!)
      if (values.length > 0) out.push(values.join(" "))
    }
  }
  return out
}

export interface HostPort {
  readonly host: string
  readonly port: number
}

/** `HOST:PORT`, `[::1]:PORT`, or a bare `PORT` (on 127.0.0.1); port 0 means any free port. */
export const parseHttpAddress = (text: string): Parsed<HostPort> => {
  const match = /^\s*(?:(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):)?(\d{1,5})\s*$/.exec(text)
  const port = match === null ? NaN : Number(match[3])
  if (match === null || port > 65535) {
    return { ok: false, message: `--http expects HOST:PORT such as 127.0.0.1:8686 (port 0 = any free port), got "${text}"` }
  }
  return { ok: true, value: { host: match[1] ?? match[2] ?? "127.0.0.1", port } }
}

/** An http:// or https:// URL; `flag` names the flag in the message. Credentials stay out of the message. */
export const parseHttpUrl = (flag: string, text: string): Parsed<string> => {
  let url: URL | undefined
  try {
    url = new URL(text)
  } catch {
    url = undefined
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") {
    const shown = url === undefined ? "a value that is not a URL" : `"${url.protocol}//${url.host}…"`
    return { ok: false, message: `${flag} expects an http:// or https:// URL such as http://127.0.0.1:9093, got ${shown}` }
  }
  return { ok: true, value: text }
}
