import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { ALERT_MESSAGE, type Alert } from "../../src/domain/Alert.ts"
import { AlertLifecycle } from "../../src/domain/AlertLifecycle.ts"

const W = 30_000
const T0 = Date.UTC(2025, 4, 30, 18, 52, 30)

const alertFor = (status: number, window: number): Alert => ({
  window_start: new Date(T0 + window * W).toISOString(),
  window_end: new Date(T0 + (window + 1) * W).toISOString(),
  status,
  error_count: 101,
  unique_ips: 7,
  alert: ALERT_MESSAGE,
  alert_timestamp: new Date(T0).toISOString()
})

/** A step: alerts (status, window index) in firing order, then windows with index < `closedBelow` are closed. */
interface Step {
  readonly alerts: ReadonlyArray<readonly [number, number]>
  readonly closedBelow: number
}

/**
 * The reference: a status fires while it has alerted and no window after its latest alerted window
 * has closed; it is told each time that answer changes, checked after each alert and after the closing.
 */
const reference = (steps: ReadonlyArray<Step>): Array<string> => {
  const told: Array<string> = []
  const alerted = new Map<number, Array<number>>()
  const firing = new Map<number, boolean>()
  let closedBelow = -1_000
  const check = (status: number) => {
    const windows = alerted.get(status) ?? []
    const latest = Math.max(...windows)
    let calmWindowClosed = false
    for (let w = latest + 1; w < closedBelow; w++) calmWindowClosed = true
    const now = windows.length > 0 && !calmWindowClosed
    if (now !== (firing.get(status) ?? false)) told.push(`${status} ${now ? "firing" : "resolved"} w${latest}`)
    firing.set(status, now)
  }
  steps.forEach((step) => {
    for (const [status, window] of step.alerts) {
      alerted.set(status, [...(alerted.get(status) ?? []), window])
      check(status)
    }
    closedBelow = Math.max(closedBelow, step.closedBelow)
    for (const status of [...alerted.keys()]) check(status)
  })
  return told
}

const run = (steps: ReadonlyArray<Step>): Array<string> => {
  const lifecycle = new AlertLifecycle(W)
  return steps.flatMap((step, i) =>
    lifecycle.step(step.alerts.map(([s, w]) => alertFor(s, w)), T0 + step.closedBelow * W, i).map((t) =>
      `${t.status} ${t.state} w${(t.latestWindowStartMs - T0) / W}`
    )
  )
}

/** Valid histories only: windows close in order, and a window alerts only while it is open, at most once per status. */
const histories = fc.array(
  fc.record({
    alerts: fc.array(fc.tuple(fc.constantFrom(404, 500, 503), fc.integer({ min: 0, max: 4 })), { maxLength: 4 }),
    advance: fc.integer({ min: 0, max: 3 })
  }),
  { maxLength: 25 }
).map((raw) => {
  let closedBelow = 0
  const seen = new Set<string>()
  return raw.map(({ advance, alerts }) => {
    const open = alerts
      .map(([status, offset]) => [status, closedBelow + offset] as const)
      .filter(([status, window]) => !seen.has(`${status}/${window}`) && seen.add(`${status}/${window}`))
    closedBelow += advance
    return { alerts: open, closedBelow }
  })
})

describe("AlertLifecycle", () => {
  it("fires with the first window over the threshold and resolves when the next window closes", () => {
    assert.deepStrictEqual(
      run([
        { alerts: [[404, 0]], closedBelow: 0 },
        { alerts: [[404, 1]], closedBelow: 1 }, // window 0 closes, but window 1 is over too
        { alerts: [], closedBelow: 2 }, // window 1 closes: still the latest over the threshold
        { alerts: [], closedBelow: 3 }, // window 2 closes with few (or no) errors of 404
        { alerts: [[404, 5]], closedBelow: 3 }
      ]),
      ["404 firing w0", "404 resolved w1", "404 firing w5"]
    )
  })

  it("keeps one state per status", () => {
    assert.deepStrictEqual(
      run([
        { alerts: [[404, 0], [500, 1]], closedBelow: 0 },
        { alerts: [], closedBelow: 2 },
        { alerts: [], closedBelow: 3 }
      ]),
      ["404 firing w0", "500 firing w1", "404 resolved w0", "500 resolved w1"]
    )
  })

  it("agrees with the reference on random histories", () => {
    fc.assert(fc.property(histories, (steps) => {
      assert.deepStrictEqual(run(steps), reference(steps))
    }), { numRuns: 500 })
  })

  it("remembers since when a status fires", () => {
    const lifecycle = new AlertLifecycle(W)
    lifecycle.step([alertFor(404, 0)], -Infinity, 1_000)
    lifecycle.step([alertFor(404, 1)], T0 + W, 2_000)
    const [state] = lifecycle.firing()
    assert.strictEqual(state!.sinceMs, 1_000)
    assert.strictEqual(state!.latest.window_start, alertFor(404, 1).window_start)
  })
})
