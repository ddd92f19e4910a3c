/**
 * The one backoff policy for reconnecting and retrying, shared by the TCP and
 * Kafka transports: 250 ms, doubling, at most 5 s between attempts, forever.
 * It is a `Schedule`, so `TestClock` drives it in tests.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"

/** Longest wait between two attempts. */
export const MAX_BACKOFF = Duration.seconds(5)

/** Redial and retry delays: 250 ms, doubling, at most 5 s. */
export const reconnectSchedule = Schedule.exponential("250 millis").pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, MAX_BACKOFF)))
)
