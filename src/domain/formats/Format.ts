/**
 * A format's entry in the registry (see `Formats.ts`): its name for
 * `--format`, its `--help` text, how to make its decoder, and how the
 * generator writes it, if it can.
 */
import type { FieldMapping } from "./FieldMapping.ts"
import type { LineDecoder } from "./LineDecoder.ts"

export interface DecoderOptions {
  /** `--field NAME=PATH` mappings; empty unless the format `acceptsFieldMapping`. */
  readonly fields: FieldMapping
}

export interface RecordEncoding {
  /** A first line the format writes before its records, if any. */
  readonly header: string | undefined
  /** The timestamp text of an instant (the generator computes it once per batch). */
  readonly timestamp: (epochMs: number) => string
  /**
   * One record's line, without its `\n`. `draw` is a random 32-bit number of the line's own, for
   * the fields a format writes besides the five (the combined format's bytes, referer, user agent).
   */
  readonly line: (timestamp: string, ip: string, method: string, url: string, status: number, draw: number) => string
}

export interface Format {
  readonly name: string
  /** One line for `--help`: what the lines look like. */
  readonly description: string
  /** Whether `--field NAME=PATH` applies to it. */
  readonly acceptsFieldMapping: boolean
  /** A fresh decoder: decoders keep state, so each analysis has its own. */
  readonly decoder: (options: DecoderOptions) => LineDecoder
  /** How `generate --format NAME` writes records; undefined when the generator cannot. */
  readonly encoding: RecordEncoding | undefined
}
