/**
 * `/metrics` in Prometheus text format, through prom-client. Every loglens
 * figure is read from the latest `AnalyzerView` when Prometheus scrapes, so
 * the counters are the console report's own numbers and nothing is counted
 * twice. Labels are the status, the partition and the destination only:
 * never a URL or an IP, whose values are unbounded.
 */
import * as client from "prom-client"
import type { Telemetry } from "../telemetry/Telemetry.ts"

export const makeMetrics = (telemetry: Telemetry["Service"]): client.Registry => {
  const registry = new client.Registry()
  client.collectDefaultMetrics({ register: registry })
  const view = () => telemetry.latest()

  const total = (name: string, help: string, read: (v: NonNullable<ReturnType<typeof view>>) => number) =>
    new client.Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const v = view()
        this.reset()
        if (v !== undefined) this.inc(read(v))
      }
    })
  const byStatus = (name: string, help: string, read: (v: NonNullable<ReturnType<typeof view>>) => Readonly<Record<string, number>>) =>
    new client.Counter({
      name,
      help,
      labelNames: ["status"],
      registers: [registry],
      collect() {
        const v = view()
        this.reset()
        if (v !== undefined) for (const [status, n] of Object.entries(read(v))) this.labels({ status }).inc(n)
      }
    })

  total("loglens_lines_read_total", "Lines read that are not blank (valid and rejected).", (v) => v.counters.lines)
  total("loglens_lines_rejected_total", "Lines rejected (written to rejected/ with a reason).", (v) => v.counters.rejected)
  total("loglens_late_errors_total", "Errors that arrived after their window had closed.", (v) => v.counters.late)
  byStatus("loglens_errors_total", "Errors (status >= 400) read, late ones included, by status.", (v) => v.errorsByStatus)
  byStatus("loglens_alerts_total", "Alerts fired by this process, by status.", (v) => v.alertsByStatus)
  // Late data in real logs (README): how far the late errors trailed, and the --watermark that would have counted them.
  const seconds = (name: string, help: string, read: (v: NonNullable<ReturnType<typeof view>>) => number) =>
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const v = view()
        this.set(v === undefined ? 0 : read(v) / 1000)
      }
    })
  seconds(
    "loglens_late_behind_seconds",
    "The most a late error trailed the newest event time of its partition, in seconds (0 before any).",
    (v) => v.counters.lateBehindMs
  )
  seconds(
    "loglens_late_watermark_needed_seconds",
    "The smallest --watermark that would have counted every error the watermark made late, in seconds (0 if none).",
    (v) => v.counters.lateWatermarkMs
  )
  new client.Gauge({
    name: "loglens_windows_open",
    help: "Event-time windows still open.",
    registers: [registry],
    collect() {
      this.set(view()?.openWindows.length ?? 0)
    }
  })
  new client.Gauge({
    name: "loglens_watermark_seconds",
    help: "The watermark, in Unix seconds (absent before the first valid record).",
    registers: [registry],
    collect() {
      this.reset()
      const watermarkMs = view()?.watermarkMs
      if (watermarkMs !== null && watermarkMs !== undefined) this.set(watermarkMs / 1000)
    }
  })
  new client.Gauge({
    name: "loglens_kafka_lag",
    help: "Production mode: messages not yet read, by partition.",
    labelNames: ["partition"],
    registers: [registry],
    collect() {
      this.reset()
      for (const [partition, lag] of Object.entries(view()?.lag ?? {})) this.labels({ partition }).set(lag)
    }
  })
  const deliveries = (name: string, help: string, read: (c: { sent: number; failed: number }) => number) =>
    new client.Counter({
      name,
      help,
      labelNames: ["destination"],
      registers: [registry],
      collect() {
        this.reset()
        for (const [destination, counts] of telemetry.deliveries()) this.labels({ destination }).inc(read(counts))
      }
    })
  deliveries("loglens_alert_deliveries_total", "Alert notifications delivered, by destination.", (c) => c.sent)
  deliveries("loglens_alert_delivery_failures_total", "Failed alert delivery attempts (each is retried), by destination.", (c) => c.failed)
  return registry
}
