/**
 * `--format auto`: the first line that one of the formats accepts decides the
 * format of the whole input (json, then csv, then combined are tried; they
 * never accept the same line in practice). Lines before it are rejected, with
 * each format's reason. After it, every line goes to the chosen format alone,
 * so a line of another format is rejected like with that `--format`.
 *
 * The choice is part of the analysis state: the checkpoint keeps it, and a
 * restart goes on with it (`restoreChoice`) instead of choosing again from
 * whatever line it reads first.
 */
import { truncate } from "../LogRecord.ts"
import type { DecoderOptions, Format } from "./Format.ts"
import type { LineDecoder, Verdict } from "./LineDecoder.ts"

export class AutoDecoder implements LineDecoder {
  /** The chosen format's name, once a line decided it. */
  chosen: string | undefined = undefined
  // The chosen format's decoder; before the choice, the last one that looked at a line.
  private current: LineDecoder
  private undecidedReason = ""

  constructor(private readonly candidates: ReadonlyArray<readonly [name: string, decoder: LineDecoder]>) {
    this.current = candidates[0]![1]
  }

  get eventTimeMs(): number {
    return this.current.eventTimeMs
  }

  get status(): number {
    return this.current.status
  }

  get reason(): string {
    return this.chosen === undefined ? this.undecidedReason : this.current.reason
  }

  set reason(reason: string) {
    if (this.chosen === undefined) this.undecidedReason = reason
    else this.current.reason = reason
  }

  /** Goes on with the format a checkpoint recorded. */
  restoreChoice(name: string): void {
    const candidate = this.candidates.find(([candidateName]) => candidateName === name)
    if (candidate === undefined) throw new Error(`--format auto cannot restore the unknown format ${name}`)
    this.chosen = name
    this.current = candidate[1]
  }

  decodeAt(bytes: Uint8Array, start: number): number {
    // Before the choice, lines go through `decode`.
    return this.chosen === undefined ? -1 : this.current.decodeAt(bytes, start)
  }

  decode(line: string): Verdict {
    if (this.chosen !== undefined) return this.current.decode(line)
    const reasons: Array<string> = []
    for (const [name, decoder] of this.candidates) {
      const verdict = decoder.decode(line)
      if (verdict !== "rejected") {
        this.chosen = name
        this.current = decoder
        return verdict
      }
      reasons.push(`${name}: ${truncate(decoder.reason, 120)}`)
    }
    this.undecidedReason = `no format accepts this line, and --format auto chooses on the first line one accepts (${reasons.join("; ")})`
    return "rejected"
  }

  lineText(): string {
    return this.current.lineText()
  }

  record() {
    return this.current.record()
  }

  ip(): string {
    return this.current.ip()
  }

  url(): string {
    return this.current.url()
  }

  errorLine(): string {
    return this.current.errorLine()
  }
}

/** The `auto` registry entry, choosing among `formats` in their order. */
export const autoFormat = (formats: ReadonlyArray<Format>) => ({
  name: "auto" as const,
  description: `one of ${formats.map((format) => format.name).join(", ")}: the first line one of them accepts decides (said on stderr)`,
  acceptsFieldMapping: false,
  decoder: (options: DecoderOptions) =>
    new AutoDecoder(formats.map((format) => [format.name, format.decoder(options)] as const)),
  encoding: undefined
}) satisfies Format
