/**
 * Where alert state changes go beyond the alert records: Prometheus
 * Alertmanager (`--alertmanager URL`, its `/api/v2/alerts` API) and webhooks
 * (`--webhook URL`, Alertmanager's webhook JSON).
 *
 * Delivery never holds up the analysis: `notify` only hands the change to a
 * bounded queue, and one fiber per destination posts it, retrying with
 * capped exponential backoff until it gets through (at-least-once; the
 * fingerprint lets receivers drop repeats). Alertmanager is sent the current
 * state of every status, so only the latest change per status waits there,
 * and firing statuses are re-sent every `resendMs` as Alertmanager expects.
 * A webhook gets every change in order; when a dead one's queue is full the
 * oldest change is dropped and counted. The first failure in a row is told
 * once on stderr; every failure is counted in `/metrics`. Credentials in a
 * URL (`https://user:token@host/`) go into an Authorization header and are
 * never printed: a destination is named by its kind, number and origin.
 */
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { StatusState } from "../domain/AlertLifecycle.ts"
import { postableAlert, webhookMessage, type WebhookMessage } from "../domain/AlertmanagerFormat.ts"
import { Telemetry } from "../telemetry/Telemetry.ts"

/** A state change, with the URLs of its latest window for the annotations. */
export interface StateChange {
  readonly state: StatusState
  readonly urls: ReadonlyArray<string>
}

export interface DestinationUrl {
  readonly kind: "alertmanager" | "webhook"
  readonly url: string
}

export interface DestinationSettings {
  readonly destinations: ReadonlyArray<DestinationUrl>
  /** How often Alertmanager is told again about statuses still firing. */
  readonly resendMs: number
}

/** Retry delays: 500 ms, doubling, at most 30 s; forever. */
export const deliverySchedule = Schedule.exponential("500 millis").pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(30))))
)
/** A webhook that is down keeps at most this many changes. */
export const WEBHOOK_QUEUE = 1000
const REQUEST_TIMEOUT_MS = 10_000
/** At shutdown, pending deliveries get this long to get through. */
const FLUSH_TIMEOUT = Duration.seconds(5)

/** One failed POST, in plain words (the HTTP status, `ECONNREFUSED (nothing listens there)`, a timeout). */
export class DeliveryError extends Schema.TaggedError<DeliveryError>()("DeliveryError", {
  message: Schema.String
}) {}

/** A destination that answered, but not with 2xx. */
class RefusedByDestination extends Error {}

export class AlertDestinations extends Context.Service<AlertDestinations, {
  /** Never waits for a destination. */
  readonly notify: (changes: ReadonlyArray<StateChange>) => Effect.Effect<void>
  /** Names for people and for the `destination` label, without credentials. */
  readonly names: ReadonlyArray<string>
}>()("loglens/destinations/AlertDestinations") {
  static readonly layer = (settings: DestinationSettings) =>
    Layer.effect(
      AlertDestinations,
      Effect.gen(function*() {
        const telemetry = yield* Effect.serviceOption(Telemetry)
        const count = (name: string, ok: boolean) => {
          if (Option.isSome(telemetry)) telemetry.value.delivered(name, ok)
        }
        // Webhook messages link to the dashboard, when there is one.
        const externalUrl = () => Option.isSome(telemetry) ? telemetry.value.dashboardUrl.current ?? "" : ""
        const numbers = { alertmanager: 0, webhook: 0 }
        const destinations = yield* Effect.forEach(settings.destinations, (destination) => {
          const target = parseDestination(destination, ++numbers[destination.kind])
          return destination.kind === "alertmanager"
            ? alertmanager(target, settings, count)
            : webhook(target, externalUrl, count)
        })
        yield* flushOnClose(destinations)
        const names = destinations.map((d) => d.name)
        if (names.length > 0) yield* Console.error(`loglens: alert states go to ${names.join(", ")}`)
        return AlertDestinations.of({
          names,
          notify: (changes) =>
            changes.length === 0 ? Effect.void : Effect.forEach(destinations, (d) => d.offer(changes), { discard: true })
        })
      })
    )

  /** Tests: every change, in order. */
  static readonly layerMemory = (into: Array<StateChange>) =>
    Layer.succeed(AlertDestinations, {
      names: ["memory"],
      notify: (changes) => Effect.sync(() => void into.push(...changes))
    })
}

interface Target {
  readonly name: string
  /** The URL without its credentials. */
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
}

/** Moves `user:password@` into a Basic Authorization header; names the destination by kind, its number among that kind, and origin. */
export const parseDestination = (destination: DestinationUrl, number: number): Target => {
  const url = new URL(destination.url)
  const headers: Record<string, string> = { "content-type": "application/json" }
  if (url.username !== "" || url.password !== "") {
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
    headers["authorization"] = `Basic ${Buffer.from(credentials).toString("base64")}`
    url.username = ""
    url.password = ""
  }
  if (destination.kind === "alertmanager" && !url.pathname.endsWith("/api/v2/alerts")) {
    url.pathname = `${url.pathname.replace(/\/+$/, "")}/api/v2/alerts`
  }
  // The origin only: a webhook's path or query often is its secret (Slack, Teams).
  return { name: `${destination.kind} ${number} (${url.origin})`, url: url.href, headers }
}

/** One POST; fails with a plain-words reason. */
const post = (target: Target, body: unknown) =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(target.url, {
        method: "POST",
        headers: target.headers,
        body: JSON.stringify(body),
        signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)])
      })
      await response.body?.cancel()
      if (!response.ok) throw new RefusedByDestination(`it answered HTTP ${response.status} ${response.statusText}`.trimEnd())
    },
    catch: (cause) => new DeliveryError({ message: reasonOf(cause) })
  })

const reasonOf = (cause: unknown): string => {
  if (cause instanceof RefusedByDestination) return cause.message
  const inner = (cause as { cause?: { code?: string; message?: string } }).cause
  if (inner?.code !== undefined) return `${inner.code}${inner.code === "ECONNREFUSED" ? " (nothing listens there)" : ""}`
  if ((cause as { name?: string }).name === "TimeoutError") return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
  return String((cause as { message?: string }).message ?? cause)
}

/** Posts until it gets through, counting every attempt, telling the first failure of a run once. */
const deliverer = (target: Target, count: (name: string, ok: boolean) => void) => {
  let failing = false
  return (body: unknown) =>
    post(target, body).pipe(
      Effect.tapError((error) =>
        Effect.suspend(() => {
          count(target.name, false)
          if (failing) return Effect.void
          failing = true
          return Console.error(
            `loglens: cannot deliver alerts to ${target.name}: ${error.message}. Retrying with backoff in the ` +
              `background; the analysis goes on (failed attempts are counted in /metrics).`
          )
        })
      ),
      Effect.retry(deliverySchedule),
      Effect.tap(() =>
        Effect.suspend(() => {
          count(target.name, true)
          if (!failing) return Effect.void
          failing = false
          return Console.error(`loglens: alerts reach ${target.name} again.`)
        })
      ),
      Effect.orDie
    )
}

/** At shutdown, waits for every destination's pending changes to get out, all together at most `FLUSH_TIMEOUT`. */
const flushOnClose = (destinations: ReadonlyArray<{ readonly name: string; readonly pending: () => number }>) => {
  const pending = () => destinations.reduce((sum, d) => sum + d.pending(), 0)
  return Effect.addFinalizer(() =>
    Effect.suspend(function loop(): Effect.Effect<void> {
      return pending() === 0 ? Effect.void : Effect.sleep("50 millis").pipe(Effect.andThen(Effect.suspend(loop)))
    }).pipe(
      Effect.timeoutOption(FLUSH_TIMEOUT),
      Effect.andThen(Effect.forEach(destinations, (d) =>
        d.pending() === 0
          ? Effect.void
          : Console.error(`loglens: ${d.pending()} alert change(s) for ${d.name} could not be delivered before exit.`), { discard: true }))
    )
  )
}

const alertmanager = Effect.fnUntraced(function*(
  target: Target,
  settings: DestinationSettings,
  count: (name: string, ok: boolean) => void
) {
  // The latest change per status, and which of them Alertmanager has not been told yet.
  const current = new Map<number, StateChange>()
  const unsent = new Set<number>()
  const wake = yield* Queue.sliding<void>(1)
  const deliver = deliverer(target, count)
  let sending = false
  const send = Effect.gen(function*() {
    if (current.size === 0) return
    const nowMs = yield* Clock.currentTimeMillis
    const batch = Array.from(current.values())
    sending = true
    unsent.clear()
    yield* deliver(batch.map((c) => postableAlert(c.state, c.urls, nowMs, 4 * settings.resendMs))).pipe(
      Effect.ensuring(Effect.sync(() => void (sending = false)))
    )
    // A resolved status has been told; forget it unless it changed meanwhile.
    for (const change of batch) {
      if (change.state.state === "resolved" && current.get(change.state.status) === change) current.delete(change.state.status)
    }
  })
  yield* Queue.take(wake).pipe(
    Effect.timeoutOption(Duration.millis(settings.resendMs)),
    Effect.andThen(send),
    Effect.forever,
    Effect.forkScoped
  )
  return {
    name: target.name,
    pending: () => unsent.size + (sending ? 1 : 0),
    offer: (changes: ReadonlyArray<StateChange>) =>
      Effect.suspend(() => {
        for (const change of changes) {
          current.set(change.state.status, change)
          unsent.add(change.state.status)
        }
        return Queue.offer(wake, undefined)
      }).pipe(Effect.asVoid)
  }
})

const webhook = Effect.fnUntraced(function*(
  target: Target,
  externalUrl: () => string,
  count: (name: string, ok: boolean) => void
) {
  const queue = yield* Queue.sliding<WebhookMessage>(WEBHOOK_QUEUE)
  const deliver = deliverer(target, count)
  let inFlight = 0
  let dropped = 0
  yield* Queue.take(queue).pipe(
    Effect.flatMap((message) => {
      inFlight++
      return deliver(message).pipe(Effect.ensuring(Effect.sync(() => inFlight--)))
    }),
    Effect.forever,
    Effect.forkScoped
  )
  return {
    name: target.name,
    pending: () => Queue.sizeUnsafe(queue) + inFlight,
    offer: (changes: ReadonlyArray<StateChange>) =>
      Effect.gen(function*() {
        for (const change of changes) {
          if (Queue.isFullUnsafe(queue)) {
            if (dropped++ === 0) {
              yield* Console.error(
                `loglens: ${target.name} is too far behind; its oldest undelivered alert changes are being dropped ` +
                  `(it keeps the latest ${WEBHOOK_QUEUE}).`
              )
            }
          }
          yield* Queue.offer(queue, webhookMessage(change.state, change.urls, externalUrl()))
        }
      })
  }
})
