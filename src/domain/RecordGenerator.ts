/**
 * Synthetic access-log records, as the seed's Python generator made them:
 * a random IPv4 address, a method drawn evenly from GET/POST/PUT/DELETE, a
 * URL `/resource/1..N` and a status of 200, 404 or 500 by a percentage split.
 * Randomness comes from a seeded generator (sfc32), so one seed always gives
 * the same records; only the timestamps, taken from the caller's clock, differ.
 *
 * The combined format adds what a web server writes besides: a byte count
 * (sometimes `-`), a referer (often `-`), a user agent and the protocol. They
 * come from a second generator, so a seed gives the same records in every
 * format.
 */
import { MONTHS } from "./formats/Combined.ts"
import { CSV_HEADER, type LineFormat } from "./LogRecord.ts"
import { formatInstant } from "./Timestamp.ts"

/** What the generator writes: the analyzer's formats. */
export type GeneratorFormat = LineFormat | "combined"

export interface GeneratorSettings {
  readonly format: GeneratorFormat
  readonly urls: number
  /** Percentages of 200, 404 and 500; they add up to 100. */
  readonly statusDistribution: readonly [number, number, number]
  readonly seed: string
}

const METHODS = ["GET", "POST", "PUT", "DELETE"] as const

// The combined format's extras, in the proportions of a small public site.
const USER_AGENTS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
  "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
  "curl/8.5.0",
  "python-requests/2.31.0"
] as const
const REFERERS = ["-", "-", "-", "https://www.google.com/", "https://example.com/", "https://example.com/resource/1"] as const
const PROTOCOLS = ["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/2.0"] as const

export class RecordGenerator {
  private readonly random: Sfc32
  private readonly extras: Sfc32
  private cachedMs = Number.NaN
  private cachedTime = ""

  constructor(readonly settings: GeneratorSettings) {
    this.random = new Sfc32(settings.seed)
    this.extras = new Sfc32(`${settings.seed} combined extras`)
  }

  /** The CSV header, when the format has one. */
  header(): string | undefined {
    return this.settings.format === "csv" ? CSV_HEADER : undefined
  }

  /** Appends `count` lines stamped `epochMs` to `into`. */
  lines(count: number, epochMs: number, into: Array<string>): void {
    const format = this.settings.format
    if (epochMs !== this.cachedMs) {
      this.cachedMs = epochMs
      this.cachedTime = format === "combined" ? combinedTime(epochMs) : formatInstant(epochMs)
    }
    const timestamp = this.cachedTime
    const [ok, notFound] = this.settings.statusDistribution
    const urls = this.settings.urls
    const random = this.random
    const extras = this.extras
    for (let i = 0; i < count; i++) {
      const ip = `${(random.next() % 254) + 1}.${random.next() % 256}.${random.next() % 256}.${(random.next() % 254) + 1}`
      const method = METHODS[random.next() & 3]!
      const url = `/resource/${(random.next() % urls) + 1}`
      const roll = random.next() % 100
      const status = roll < ok ? 200 : roll < ok + notFound ? 404 : 500
      if (format === "combined") {
        const draw = extras.next()
        // About 3 % of responses without a body count; error pages are small.
        const bytes = (draw & 31) === 0 ? "-" : String(status === 200 ? 512 + (draw >>> 16) % 40_000 : 150 + (draw >>> 16) % 400)
        const referer = REFERERS[(draw >>> 5) % REFERERS.length]!
        const agent = USER_AGENTS[(draw >>> 8) & 7]!
        const protocol = PROTOCOLS[(draw >>> 11) & 3]!
        into.push(`${ip} - - [${timestamp}] "${method} ${url} ${protocol}" ${status} ${bytes} "${referer}" "${agent}"`)
      } else if (format === "csv") {
        into.push(`${timestamp},${ip},${method},${url},${status}`)
      } else {
        into.push(`{"timestamp":"${timestamp}","ip":"${ip}","method":"${method}","url":"${url}","status":${status}}`)
      }
    }
  }
}

/** `30/May/2025:18:52:47 +0000`: the combined format's time, in UTC. */
const combinedTime = (epochMs: number): string => {
  const d = new Date(epochMs)
  const pad = (n: number) => String(n).padStart(2, "0")
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`
}

/** sfc32: small, fast, and good enough for synthetic traffic. */
class Sfc32 {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: string) {
    ;[this.a, this.b, this.c, this.d] = seedState(seed)
    for (let i = 0; i < 12; i++) this.next()
  }

  /** An unsigned 32-bit integer. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }
}

const seedState = (seed: string): [number, number, number, number] => {
  // Four rounds of FNV-1a with different offsets spread any seed text over 128 bits.
  const round = (offset: number) => {
    let h = offset >>> 0
    for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619)
    return h >>> 0
  }
  return [round(0x811c9dc5), round(0x01000193), round(0xdeadbeef), round(0x9e3779b9)]
}
