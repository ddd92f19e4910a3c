/**
 * The flag builders of the `loglens` command line. Every flag is parsed and
 * checked by the CLI module itself, so a bad value is refused before anything
 * runs, with one plain message that names the flag and what was expected.
 * Each default is written once: `--help` shows that same text, and it goes
 * through the same parser as a typed value.
 *
 * To add a flag: pick the builder for its kind of value (or `parsed` with a
 * parser from `domain/Options.ts`) and give it a description and a default.
 */
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import { Flag } from "effect/cli"
import {
  type DurationBounds,
  parseDuration,
  parseWholeNumber,
  type Parsed,
  type WholeNumberBounds
} from "../domain/Options.ts"

/** Refuses a value `parse` refuses, with its message. */
const checkedBy = <A, B>(parse: (value: A) => Parsed<B>) =>
  Flag.filterMap(
    (value: A) => {
      const parsed = parse(value)
      return parsed.ok ? Option.some(parsed.value) : Option.none()
    },
    (value: A) => {
      const parsed = parse(value)
      return parsed.ok ? "" : parsed.message
    }
  )

const withDefaultText = (description: string, shown: string) => <A>(flag: Flag.Flag<A>): Flag.Flag<A> =>
  Flag.withDescription(flag, `${description} (default: ${shown})`)

/** A value typed as text and read by `parse`; the default text goes through `parse` too. */
export const parsed = <A>(
  name: string,
  description: string,
  defaultText: string,
  parse: (text: string) => Parsed<A>
): Flag.Flag<A> =>
  Flag.String(name).pipe(withDefaultText(description, defaultText), Flag.withDefault(defaultText), checkedBy(parse))

/** Like `parsed`, without a default: `description` says what happens when the flag is left out. */
export const optionalParsed = <A>(
  name: string,
  description: string,
  parse: (text: string) => Parsed<A>
): Flag.Flag<Option.Option<A>> =>
  Flag.String(name).pipe(
    Flag.withDescription(description),
    checkedBy(parse),
    Flag.optional
  )

/** A flag that may be given any number of times (none by default), its values read together by `parse`. */
export const repeated = <A>(
  name: string,
  description: string,
  parse: (values: ReadonlyArray<string>) => Parsed<A>
): Flag.Flag<A> =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.atLeast(0), checkedBy(parse))

/** Free text. */
export const text = (name: string, description: string, defaultValue: string): Flag.Flag<string> =>
  Flag.String(name).pipe(withDefaultText(description, defaultValue), Flag.withDefault(defaultValue))

/** Free text that may be left out. */
export const optionalText = (name: string, description: string): Flag.Flag<Option.Option<string>> =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)

/** One of a few words. */
export const choice = <const Choices extends ReadonlyArray<string>>(
  name: string,
  choices: Choices,
  description: string,
  defaultValue: Choices[number]
): Flag.Flag<Choices[number]> =>
  Flag.Literals(name, choices).pipe(withDefaultText(description, defaultValue), Flag.withDefault(defaultValue))

/** `--name` present or not. */
export const toggle = (name: string, description: string): Flag.Flag<boolean> =>
  Flag.Boolean(name).pipe(withDefaultText(description, "off"), Flag.withDefault(false))

/** A whole number within `bounds`. */
export const wholeNumber = (
  name: string,
  description: string,
  defaultValue: number,
  bounds: WholeNumberBounds
): Flag.Flag<number> =>
  parsed(name, description, String(defaultValue), (text) => parseWholeNumber(`--${name}`, text, bounds)).pipe(
    Flag.withMetavar("integer")
  )

/** A whole number within `bounds` that may be left out. */
export const optionalWholeNumber = (
  name: string,
  description: string,
  bounds: WholeNumberBounds
): Flag.Flag<Option.Option<number>> =>
  optionalParsed(name, description, (text) => parseWholeNumber(`--${name}`, text, bounds)).pipe(
    Flag.withMetavar("integer")
  )

/** A duration such as `30s` or `10 seconds`, in milliseconds, within `bounds`. */
export const duration = (
  name: string,
  description: string,
  defaultText: string,
  bounds: DurationBounds = {}
): Flag.Flag<number> => parsed(name, description, defaultText, (text) => parseDuration(`--${name}`, text, bounds))

/** A duration that may be left out. */
export const optionalDuration = (
  name: string,
  description: string,
  bounds: DurationBounds = {}
): Flag.Flag<Option.Option<number>> =>
  optionalParsed(name, description, (text) => parseDuration(`--${name}`, text, bounds))

/**
 * Text read by `parse` that falls back to the environment variable `variable`, then to
 * `defaultText`; each goes through `parse`, told where the text came from for its message.
 */
export const parsedWithEnv = <A>(
  name: string,
  description: string,
  variable: string,
  defaultText: string,
  parse: (text: string, source: string) => Parsed<A>
): Flag.Flag<A> =>
  Flag.String(name).pipe(
    withDefaultText(description, `$${variable}, else ${defaultText}`),
    Flag.map((text) => ({ text, source: `--${name}` })),
    Flag.withFallbackConfig(Config.String(variable).pipe(Config.map((text) => ({ text, source: `$${variable}` })))),
    Flag.withDefault({ text: defaultText, source: `--${name}` }),
    checkedBy(({ source, text }: { readonly text: string; readonly source: string }) => parse(text, source))
  )

/** A flag that may be given any number of times, each value read by `parse`. */
export const repeatedParsed = <A>(
  name: string,
  description: string,
  parse: (text: string) => Parsed<A>
): Flag.Flag<ReadonlyArray<A>> =>
  Flag.String(name).pipe(
    Flag.withDescription(`${description} (repeatable; default: none)`),
    Flag.atLeast(0),
    checkedBy((texts: ReadonlyArray<string>) => {
      const values: Array<A> = []
      for (const text of texts) {
        const one = parse(text)
        if (!one.ok) return one
        values.push(one.value)
      }
      return { ok: true, value: values }
    })
  )
