/**
 * The registry of input formats: one entry per format module. Adding a format
 * is one new module beside these, implementing `LineDecoder` (see
 * `LineDecoder.ts`) and exporting its `Format`, plus one line here.
 */
import { autoFormat } from "./Auto.ts"
import { combined } from "./Combined.ts"
import { csv } from "./Csv.ts"
import type { DecoderOptions, Format, RecordEncoding } from "./Format.ts"
import { json } from "./Json.ts"
import type { LineDecoder } from "./LineDecoder.ts"
import { NO_MAPPING } from "./FieldMapping.ts"

// The formats `--format auto` chooses among, in the order it tries them.
const DETECTABLE = [json, csv, combined] as const

export const FORMATS = [...DETECTABLE, autoFormat(DETECTABLE)] as const

export type FormatName = (typeof FORMATS)[number]["name"]

export const FORMAT_NAMES = FORMATS.map((format) => format.name) as ReadonlyArray<FormatName> as readonly [FormatName, ...Array<FormatName>]

/** The formats `generate --format` can write. */
export const ENCODABLE_FORMAT_NAMES = FORMATS.filter((format) => format.encoding !== undefined).map((format) =>
  format.name
) as ReadonlyArray<FormatName> as readonly [FormatName, ...Array<FormatName>]

export const formatNamed = (name: FormatName): Format => FORMATS.find((format) => format.name === name)!

/** A fresh decoder for `name`. */
export const makeDecoder = (name: FormatName, options: DecoderOptions = { fields: NO_MAPPING }): LineDecoder =>
  formatNamed(name).decoder(options)

/** How the generator writes `name`; undefined when it cannot. */
export const encodingOf = (name: FormatName): RecordEncoding | undefined => formatNamed(name).encoding

/** `--format`'s help: every format, one clause each. */
export const describeFormats = (names: ReadonlyArray<FormatName> = FORMAT_NAMES): string =>
  names.map((name) => `${name}: ${formatNamed(name).description}`).join("; ")
