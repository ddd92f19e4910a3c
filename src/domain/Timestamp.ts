/**
 * ISO-8601 instants as they appear in access logs: `YYYY-MM-DDTHH:MM:SS`, any
 * number of fractional digits, and a mandatory zone (`Z` or `±hh:mm`).
 *
 * `parseEventTimeMs` is the one place that turns such a string into an event
 * time. It is strict (no February 30th, no hour 24) and truncates to
 * milliseconds, so that every later comparison is plain integer arithmetic.
 */

/**
 * Milliseconds since the epoch, or `undefined` when the text is not a valid
 * instant. `start`/`end` select a part of `text`, so callers need not slice.
 */
export const parseEventTimeMs = (text: string, start = 0, end = text.length): number | undefined => {
  const length = end
  // Shortest form: 2025-05-30T18:52:47Z (20 characters).
  if (length - start < 20) return undefined
  const year = digits4(text, start)
  const month = digits2(text, start + 5)
  const day = digits2(text, start + 8)
  const hour = digits2(text, start + 11)
  const minute = digits2(text, start + 14)
  const second = digits2(text, start + 17)
  if (
    year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
    second < 0 || second > 59 ||
    text.charCodeAt(start + 4) !== 45 || text.charCodeAt(start + 7) !== 45 || text.charCodeAt(start + 10) !== 84 ||
    text.charCodeAt(start + 13) !== 58 || text.charCodeAt(start + 16) !== 58
  ) return undefined
  // A log's lines mostly share their date: remember the last valid one and its day number.
  const dateKey = (year * 16 + month) * 32 + day
  let days: number
  if (dateKey === lastDateKey) {
    days = lastDays
  } else {
    if (day > daysInMonth(year, month)) return undefined
    days = daysFromCivil(year, month, day)
    lastDateKey = dateKey
    lastDays = days
  }
  let position = start + 19
  let millis = 0
  if (text.charCodeAt(position) === 46) {
    position++
    const fractionStart = position
    while (position < length) {
      const digit = text.charCodeAt(position) - 48
      if (digit < 0 || digit > 9) break
      // Truncate, never round: the first three digits are the milliseconds.
      if (position - fractionStart < 3) millis = millis * 10 + digit
      position++
    }
    const fractionDigits = position - fractionStart
    if (fractionDigits === 0) return undefined
    for (let i = fractionDigits; i < 3; i++) millis *= 10
  }
  let offsetMinutes = 0
  const zone = text.charCodeAt(position)
  if (zone === 90) {
    if (position + 1 !== length) return undefined
  } else if (zone === 43 || zone === 45) {
    if (position + 6 !== length || text.charCodeAt(position + 3) !== 58) return undefined
    const offsetHours = digits2(text, position + 1)
    const offsetMins = digits2(text, position + 4)
    if (offsetHours < 0 || offsetHours > 23 || offsetMins < 0 || offsetMins > 59) return undefined
    offsetMinutes = (offsetHours * 60 + offsetMins) * (zone === 43 ? 1 : -1)
  } else {
    return undefined
  }
  return ((days * 24 + hour) * 60 + minute - offsetMinutes) * 60_000 + second * 1000 + millis
}

let lastDateKey = -1
let lastDays = 0

/** `2025-05-30T18:52:30.000Z`: the one output format for instants. */
export const formatInstant = (epochMs: number): string => new Date(epochMs).toISOString()

const digit = (text: string, at: number): number => {
  const d = text.charCodeAt(at) - 48
  return d >= 0 && d <= 9 ? d : -1e6
}
const digits2 = (text: string, at: number): number => digit(text, at) * 10 + digit(text, at + 1)
const digits4 = (text: string, at: number): number => digits2(text, at) * 100 + digits2(text, at + 2)

const isLeapYear = (year: number): boolean => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
const daysInMonth = (year: number, month: number): number =>
  month === 2 ? (isLeapYear(year) ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31

// Howard Hinnant's days_from_civil: days since 1970-01-01 in the proleptic Gregorian calendar.
const daysFromCivil = (year: number, month: number, day: number): number => {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yearOfEra = y - era * 400
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear
  return era * 146097 + dayOfEra - 719468
}
