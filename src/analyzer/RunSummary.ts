/**
 * The analyzer's closing line on stderr: lines read, throughput, CPU time and
 * peak memory, for users and for `npm run bench` (which parses it).
 */
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type { Counters } from "../domain/Analysis.ts"

/** Starts the clock now; the returned effect prints the line for everything read since. */
export const startRunSummary = Effect.fnUntraced(function*(counters: Counters) {
  const startedAt = yield* Clock.currentTimeMillis
  const linesBefore = counters.lines
  return Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const lines = counters.lines - linesBefore
    const seconds = Math.max(now - startedAt, 1) / 1000
    const usage = process.resourceUsage()
    const cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6
    return Console.error(
      `loglens: read ${lines.toLocaleString("en-US")} lines in ${seconds.toFixed(3)} s ` +
        `(${Math.round(lines / seconds).toLocaleString("en-US")} lines/s), ` +
        `CPU ${cpuSeconds.toFixed(3)} s, peak RSS ${Math.round(usage.maxRSS / 1024)} MB`
    )
  })
})
