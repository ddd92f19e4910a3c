/**
 * Parsing of the option values people type: durations such as `10s`, `1m`
 * or `10 seconds`, and the status split `90 5 5`. Each parser returns a
 * value or a message that says what was expected.
 */

const UNIT_MS: Record<string, number> = {
  ms: 1, millis: 1, millisecond: 1, milliseconds: 1,
  s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hour: 3_600_000, hours: 3_600_000
}

export type Parsed<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly message: string }

/** `10s`, `1m`, `10 seconds`, `1.5h`, `250ms`. A bare number is not accepted: the unit is never guessed. */
export const parseDuration = (flag: string, text: string): Parsed<number> => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$/.exec(text)
  const unit = match === null ? undefined : UNIT_MS[match[2]!.toLowerCase()]
  if (match === null || unit === undefined) {
    return { ok: false, message: `${flag} expects a duration such as 10s, 30s, 1m or "10 seconds", got "${text}"` }
  }
  return { ok: true, value: Math.round(Number(match[1]) * unit) }
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

/** `host:port[,host:port]`, ports 1 to 65535. */
export const parseBrokers = (text: string): Parsed<ReadonlyArray<string>> => {
  const brokers = text.split(",").map((b) => b.trim()).filter((b) => b.length > 0)
  const bad = brokers.find((b) => {
    const match = /^([^\s]+):(\d{1,5})$/.exec(b)
    return match === null || Number(match[2]) < 1 || Number(match[2]) > 65535
  })
  if (brokers.length === 0 || bad !== undefined) {
    return { ok: false, message: `--kafka-broker expects host:port[,host:port], got "${text}"` }
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
