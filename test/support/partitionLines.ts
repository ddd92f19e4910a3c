/** fast-check input for the per-partition rule: one partition's lines, as its offsets hold them. */
import fc from "fast-check"
import { T0 } from "./analysisSettings.ts"

const iso = (ms: number): string => new Date(ms).toISOString()

/** One partition's lines: mostly in order, some out of order, a few far late, a few malformed. */
export const partitionLines = fc.array(
  fc.record({
    step: fc.integer({ min: 0, max: 4_000 }),
    back: fc.oneof({ weight: 20, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: 0, max: 25_000 }) }, {
      weight: 1,
      arbitrary: fc.integer({ min: 40_000, max: 200_000 })
    }),
    status: fc.constantFrom(200, 200, 404, 404, 500),
    ip: fc.integer({ min: 1, max: 6 }),
    bad: fc.integer({ min: 0, max: 40 })
  }),
  { maxLength: 60 }
).map((records) => {
  let t = T0
  return records.map((r) => {
    t += r.step
    if (r.bad === 0) return "{\"timestamp\": 42}"
    return JSON.stringify({ timestamp: iso(t - r.back), ip: `10.0.0.${r.ip}`, method: "GET", url: `/resource/${r.ip % 3}`, status: r.status })
  })
})
