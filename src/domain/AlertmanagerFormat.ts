/**
 * What alert destinations receive, in Prometheus Alertmanager's own shapes:
 * the alert of its `/api/v2/alerts` API, and the JSON its webhook receiver
 * posts (version "4"), so tools made for Alertmanager take loglens's alerts
 * unchanged. The fingerprint is Alertmanager's own (FNV-1a 64 over the
 * sorted labels), stable across restarts, so receivers can de-duplicate.
 */
import type { StatusState } from "./AlertLifecycle.ts"
import { formatInstant } from "./Timestamp.ts"

/** The one alert name loglens uses; `status` tells the alerts apart. */
export const ALERT_NAME = "LoglensHighErrorRate"

export type Labels = Readonly<Record<string, string>>

export interface PostableAlert {
  readonly labels: Labels
  readonly annotations: Labels
  readonly startsAt: string
  readonly endsAt: string
}

export interface WebhookAlert extends PostableAlert {
  readonly status: "firing" | "resolved"
  readonly generatorURL: string
  readonly fingerprint: string
}

export interface WebhookMessage {
  readonly version: "4"
  readonly groupKey: string
  readonly truncatedAlerts: number
  readonly status: "firing" | "resolved"
  readonly receiver: string
  readonly groupLabels: Labels
  readonly commonLabels: Labels
  readonly commonAnnotations: Labels
  readonly externalURL: string
  readonly alerts: ReadonlyArray<WebhookAlert>
}

export const labelsOf = (state: StatusState): Labels => ({ alertname: ALERT_NAME, status: String(state.status) })

/** How many URLs an annotation lists before saying how many more there are. */
const ANNOTATION_URLS = 10

export const annotationsOf = (state: StatusState, urls: ReadonlyArray<string>): Labels => {
  const a = state.latest
  const shown = urls.slice(0, ANNOTATION_URLS).join(", ")
  return {
    summary: `${a.error_count} errors with status ${a.status} in window ${a.window_start} → ${a.window_end}`,
    window: `${a.window_start}/${a.window_end}`,
    error_count: String(a.error_count),
    unique_ips: String(a.unique_ips),
    urls: urls.length > ANNOTATION_URLS ? `${shown}, … (+${urls.length - ANNOTATION_URLS} more)` : shown
  }
}

/**
 * The API alert. A firing one ends at `nowMs + validForMs` unless re-sent before (Alertmanager
 * resolves it on its own if loglens goes away); a resolved one ends when it resolved.
 */
export const postableAlert = (state: StatusState, urls: ReadonlyArray<string>, nowMs: number, validForMs: number): PostableAlert => ({
  labels: labelsOf(state),
  annotations: annotationsOf(state, urls),
  startsAt: formatInstant(state.firingSinceMs),
  endsAt: formatInstant(state.state === "firing" ? nowMs + validForMs : state.sinceMs)
})

export const webhookMessage = (state: StatusState, urls: ReadonlyArray<string>, externalUrl: string): WebhookMessage => {
  const labels = labelsOf(state)
  const annotations = annotationsOf(state, urls)
  return {
    version: "4",
    groupKey: `{}:{alertname="${ALERT_NAME}", status="${state.status}"}`,
    truncatedAlerts: 0,
    status: state.state,
    receiver: "loglens",
    groupLabels: labels,
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL: externalUrl,
    alerts: [{
      status: state.state,
      labels,
      annotations,
      startsAt: formatInstant(state.firingSinceMs),
      // Alertmanager's zero time for an alert still firing.
      endsAt: state.state === "firing" ? "0001-01-01T00:00:00Z" : formatInstant(state.sinceMs),
      generatorURL: externalUrl,
      fingerprint: fingerprintOf(labels)
    }]
  }
}

const FNV_OFFSET = 0xcbf29ce484222325n
const FNV_PRIME = 0x100000001b3n
const MASK = 0xffffffffffffffffn
const encoder = new TextEncoder()

/** Alertmanager's `LabelSet.Fingerprint`: FNV-1a 64 over name, 0xff, value, 0xff for the sorted labels; 16 hex digits. */
export const fingerprintOf = (labels: Labels): string => {
  let hash = FNV_OFFSET
  const mix = (bytes: Uint8Array) => {
    for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * FNV_PRIME) & MASK
  }
  const separator = new Uint8Array([0xff])
  for (const name of Object.keys(labels).sort()) {
    mix(encoder.encode(name))
    mix(separator)
    mix(encoder.encode(labels[name]!))
    mix(separator)
  }
  return hash.toString(16).padStart(16, "0")
}
