/**
 * The state of each status, on top of the per-window alerts. A status starts
 * *firing* with its first window over the threshold. It is *resolved* once a
 * window later than its latest window over the threshold has closed (that
 * window had at most `--threshold` errors of the status, none counts too: had
 * it more, it would have alerted before closing). Pure: the analyzer feeds it
 * each step's alerts and how far windows are closed, with the wall clock.
 *
 * Within one step the alerts are taken first, then the closing, so a status
 * that would resolve and fire again inside one batch of input stays firing.
 */
import type { Alert } from "./Alert.ts"

export type AlertState = "firing" | "resolved"

/** One status's state, and the latest window that put it over the threshold. */
export interface StatusState {
  readonly status: number
  readonly state: AlertState
  /** Wall-clock ms: when this firing began, or when it resolved. */
  readonly sinceMs: number
  /** When the current (or last) firing began. */
  readonly firingSinceMs: number
  /** The alert of the latest window over the threshold. */
  readonly latest: Alert
  /** Start (ms) of that window. */
  readonly latestWindowStartMs: number
}

/** A change of state: what destinations are told. */
export interface AlertTransition extends StatusState {}

export class AlertLifecycle {
  private readonly states = new Map<number, StatusState>()

  constructor(private readonly windowMs: number) {}

  /**
   * One step: `alerts` fired (in order), then windows closed through `closedThroughMs`.
   * Returns the transitions, in order.
   */
  step(alerts: ReadonlyArray<Alert>, closedThroughMs: number, nowMs: number): Array<AlertTransition> {
    const transitions: Array<AlertTransition> = []
    for (const alert of alerts) {
      const startMs = Date.parse(alert.window_start)
      const current = this.states.get(alert.status)
      if (current !== undefined && current.state === "firing") {
        if (startMs > current.latestWindowStartMs) {
          this.states.set(alert.status, { ...current, latest: alert, latestWindowStartMs: startMs })
        }
        continue
      }
      const firing: StatusState = {
        status: alert.status,
        state: "firing",
        sinceMs: nowMs,
        firingSinceMs: nowMs,
        latest: alert,
        latestWindowStartMs: startMs
      }
      this.states.set(alert.status, firing)
      transitions.push(firing)
    }
    for (const current of this.states.values()) {
      // The window right after the latest one over the threshold has closed.
      if (current.state === "firing" && closedThroughMs >= current.latestWindowStartMs + 2 * this.windowMs) {
        const resolved: StatusState = { ...current, state: "resolved", sinceMs: nowMs }
        this.states.set(current.status, resolved)
        transitions.push(resolved)
      }
    }
    return transitions
  }

  /** Every status that has fired, by status. */
  all(): Array<StatusState> {
    return Array.from(this.states.values()).sort((a, b) => a.status - b.status)
  }

  firing(): Array<StatusState> {
    return this.all().filter((s) => s.state === "firing")
  }

  /**
   * After a restart: the open windows that already alerted are firing again (since `nowMs`).
   * A status whose latest alerted window has already closed is not in the checkpoint and starts resolved.
   */
  resume(alerted: ReadonlyArray<Alert>, nowMs: number): Array<AlertTransition> {
    return this.step(alerted, -Infinity, nowMs)
  }
}
