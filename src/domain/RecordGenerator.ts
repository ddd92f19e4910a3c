/**
 * Synthetic access-log records, as the seed's Python generator made them:
 * a random IPv4 address, a method drawn evenly from GET/POST/PUT/DELETE, a
 * URL `/resource/1..N` and a status of 200, 404 or 500 by a percentage split.
 * Randomness comes from a seeded generator (sfc32), so one seed always gives
 * the same records; only the timestamps, taken from the caller's clock, differ.
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
  private a: number
  private b: number
  private c: number
  private d: number
  private cachedMs = Number.NaN
  private cachedTimestamp = ""
  private readonly encoding: RecordEncoding

  constructor(readonly settings: GeneratorSettings) {
    const encoding = encodingOf(settings.format)
    if (encoding === undefined) throw new Error(`the generator cannot write --format ${settings.format}`)
    this.encoding = encoding
    ;[this.a, this.b, this.c, this.d] = seedState(settings.seed)
    for (let i = 0; i < 12; i++) this.next()
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
    for (let i = 0; i < count; i++) {
      const ip = `${(this.next() % 254) + 1}.${this.next() % 256}.${this.next() % 256}.${(this.next() % 254) + 1}`
      const method = METHODS[this.next() & 3]!
      const url = `/resource/${(this.next() % urls) + 1}`
      const roll = this.next() % 100
      const status = roll < ok ? 200 : roll < ok + notFound ? 404 : 500
      into.push(line(timestamp, ip, method, url, status))
    }
  }

  /** sfc32: small, fast, and good enough for synthetic traffic. Returns an unsigned 32-bit integer. */
  private next(): number {
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
