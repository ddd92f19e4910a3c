/**
 * Synthetic access-log records, as the seed's Python generator made them:
 * a random IPv4 address, a method drawn evenly from GET/POST/PUT/DELETE, a
 * URL `/resource/1..N` and a status of 200, 404 or 500 by a percentage split.
 * Randomness comes from a seeded generator (sfc32), so one seed always gives
 * the same records; only the timestamps, taken from the caller's clock, differ.
 * A format that writes more than the five fields (combined: bytes, referer,
 * user agent) draws them from a second generator, so a seed gives the same
 * records in every format.
 */
import { encodingOf, type FormatName } from "./formats/Formats.ts"
import type { RecordEncoding } from "./formats/Format.ts"

export interface GeneratorSettings {
  readonly format: FormatName
  readonly urls: number
  /** Percentages of 200, 404 and 500; they add up to 100. */
  readonly statusDistribution: readonly [number, number, number]
  readonly seed: string
}

const METHODS = ["GET", "POST", "PUT", "DELETE"] as const

export class RecordGenerator {
  private readonly random: Sfc32
  private readonly extras: Sfc32
  private cachedMs = Number.NaN
  private cachedTimestamp = ""
  private readonly encoding: RecordEncoding

  constructor(readonly settings: GeneratorSettings) {
    const encoding = encodingOf(settings.format)
    if (encoding === undefined) throw new Error(`the generator cannot write --format ${settings.format}`)
    this.encoding = encoding
    this.random = new Sfc32(settings.seed)
    this.extras = new Sfc32(`${settings.seed} extras`)
  }

  /** The format's header line, when it has one. */
  header(): string | undefined {
    return this.encoding.header
  }

  /** Appends `count` lines stamped `epochMs` to `into`. */
  lines(count: number, epochMs: number, into: Array<string>): void {
    if (epochMs !== this.cachedMs) {
      this.cachedMs = epochMs
      this.cachedTimestamp = this.encoding.timestamp(epochMs)
    }
    const timestamp = this.cachedTimestamp
    const line = this.encoding.line
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
      into.push(line(timestamp, ip, method, url, status, extras.next()))
    }
  }
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
