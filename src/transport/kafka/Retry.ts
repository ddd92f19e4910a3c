/**
 * How the Kafka layers retry: `Effect.retry` over the shared backoff
 * (`transport/Backoff.ts`: 250 ms doubling to 5 s, forever), stopping at once
 * on a fatal error (`Errors.ts`). A blip (a leader election right after topic
 * creation, a coordinator moving) stays silent; an outage gets one plain line,
 * repeated at most once a minute, and one more when it is over. Time comes
 * from the `Clock`, so `TestClock` drives all of it.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { MAX_BACKOFF, reconnectSchedule } from "../Backoff.ts"
import { isFatal, KafkaError, kafkaError } from "./Errors.ts"
import type { KafkaNotices } from "./Notices.ts"

export interface RetryOptions {
  /** What is being done, for messages: `connecting the producer for http-logs`. */
  readonly what: string
  /** Subject for rate-limiting notices. */
  readonly key: string
  readonly notices: KafkaNotices
  /** Runs after each failed attempt that will be retried (e.g. drop a client that lost its state). */
  readonly onFailure?: ((error: KafkaError) => Effect.Effect<void>) | undefined
}

/** Failed attempts (about 0.75 s of backoff) before a notice is printed. */
export const QUIET_ATTEMPTS = 3

const seconds = (d: Duration.Duration): string => {
  const ms = Duration.toMillis(d)
  return `${(ms / 1000).toFixed(ms < 1000 ? 1 : 0)}s`
}

/**
 * Runs `attempt` until it succeeds or fails fatally. Every failure becomes a
 * classified `KafkaError` (`what … failed: …`); a fatal one is returned at once.
 */
export const retryKafka = <A>(attempt: () => Promise<A>, options: RetryOptions): Effect.Effect<A, KafkaError> =>
  retryKafkaEffect(Effect.tryPromise({ try: attempt, catch: (e) => kafkaError(options.what, e) }), options)

/** `retryKafka` for an attempt that is already an Effect; only its non-fatal `KafkaError`s are retried. */
export const retryKafkaEffect = <A, E, R>(
  attempt: Effect.Effect<A, E, R>,
  options: RetryOptions
): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    let outageSince: number | undefined
    let noticed = false
    const policy = reconnectSchedule.pipe(
      Schedule.setInputType<E>(),
      Schedule.while(({ input }) => input instanceof KafkaError && !isFatal(input)),
      Schedule.tap(({ attempt: failures, duration, input: failure }) =>
        Effect.gen(function*() {
          const input = failure as KafkaError // only those get here
          outageSince ??= yield* Clock.currentTimeMillis
          if (failures >= QUIET_ATTEMPTS) {
            noticed = true
            options.notices.notice(
              `retry:${options.key}`,
              `${input.message}; retrying in ${seconds(duration)} (backoff up to ${seconds(MAX_BACKOFF)})`
            )
          }
          if (options.onFailure) yield* options.onFailure(input)
        })
      )
    )
    return attempt.pipe(
      Effect.retry(policy),
      Effect.tap(() =>
        noticed && outageSince !== undefined
          ? Effect.map(Clock.currentTimeMillis, (now) => {
            options.notices.reset(`retry:${options.key}`)
            options.notices.notice(
              `recovered:${options.key}`,
              `Kafka: ${options.what} succeeded after ${Math.round((now - outageSince!) / 1000)}s of retries`,
              true
            )
          })
          : Effect.void
      )
    )
  })

/** Runs a promise-returning cleanup, ignoring failures and giving up after `ms`. */
export const quietly = (f: () => Promise<unknown>, ms = 10_000): Effect.Effect<void> =>
  Effect.tryPromise({ try: f, catch: (e) => e }).pipe(
    Effect.timeout(Duration.millis(ms)),
    Effect.ignore
  )
