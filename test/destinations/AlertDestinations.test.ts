/**
 * Alert destinations for real, through the built CLI: a real Prometheus
 * Alertmanager (Debian's `prometheus-alertmanager`) on a free loopback port,
 * checked through its own API and its own webhook notifications; and webhook
 * receivers written here on real sockets, one that fails at first, one that
 * never answers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fingerprintOf } from "../../src/domain/AlertmanagerFormat.ts"
import { eventually, fetchMetrics, line, metric, SECOND, startAnalyzer, BASE, type Analyzer } from "../http/support.ts"

const ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
if (!fs.existsSync(ALERTMANAGER)) {
  throw new Error(`${ALERTMANAGER} is missing: install Debian's prometheus-alertmanager (apt-get install prometheus-alertmanager), as .ci/run does`)
}
const W = 30 * SECOND
const SECRET = "s3cret-token"

/** 150 errors of status 404 in window 0: over the threshold of 100. */
const overThreshold = Array.from({ length: 150 }, (_, i) => line(BASE + SECOND, 404, `/resource/${i % 3}`, `10.0.0.${i % 40}`))
/** Window 1 gets a few 404s, then records of window 2 move the watermark past window 1's end: 404 resolves. */
const calmAfter = [
  ...Array.from({ length: 5 }, () => line(BASE + W + 5 * SECOND, 404)),
  line(BASE + 2 * W + 15 * SECOND, 200)
]

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

interface Received {
  readonly body: any
  readonly authorization: string | undefined
}

/** A webhook receiver on a real socket; `answer(n)` gives the status for the n-th request (0-based). */
const receiver = async (answer: (n: number) => number | "never") => {
  const received: Array<Received> = []
  let requests = 0
  const server = http.createServer((req, res) => {
    let text = ""
    req.on("data", (d) => (text += d))
    req.on("end", () => {
      const status = answer(requests++)
      if (status === "never") return
      if (status < 300) received.push({ body: JSON.parse(text), authorization: req.headers.authorization })
      res.writeHead(status).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    received,
    requests: () => requests,
    port,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  }
}

const cleanups: Array<() => Promise<void> | void> = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

const expectNoSecret = async (analyzer: Analyzer) => {
  expect(analyzer.running.stderr()).not.toContain(SECRET)
  expect(analyzer.running.stdout()).not.toContain(SECRET)
  expect(await (await fetch(`${analyzer.url}metrics`)).text()).not.toContain(SECRET)
  expect(await (await fetch(`${analyzer.url}api/snapshot`)).text()).not.toContain(SECRET)
}

describe("--alertmanager", () => {
  let alertmanager: ChildProcess
  let amUrl: string
  /** Notifications the real Alertmanager sends on to its own webhook receiver. */
  let notified: Awaited<ReturnType<typeof receiver>>

  beforeAll(async () => {
    notified = await receiver(() => 200)
    cleanups.push(notified.close)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "loglens-alertmanager-"))
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
    fs.writeFileSync(path.join(dir, "alertmanager.yml"), [
      "route:",
      "  receiver: test",
      "  group_by: [alertname, status]",
      "  group_wait: 0s",
      "  group_interval: 1s",
      "  repeat_interval: 1h",
      "receivers:",
      "  - name: test",
      "    webhook_configs:",
      `      - url: http://127.0.0.1:${notified.port}/`,
      "        send_resolved: true",
      ""
    ].join("\n"))
    const port = await freePort()
    amUrl = `http://127.0.0.1:${port}`
    alertmanager = spawn(ALERTMANAGER, [
      `--config.file=${path.join(dir, "alertmanager.yml")}`,
      `--storage.path=${dir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--cluster.listen-address="
    ], { stdio: ["ignore", "ignore", "pipe"] })
    let log = ""
    alertmanager.stderr!.on("data", (d) => (log += d))
    // Alertmanager writes its state files as it exits: wait for that before the folder goes.
    cleanups.push(() => new Promise<void>((resolve) => {
      if (alertmanager.exitCode !== null || alertmanager.signalCode !== null) return resolve()
      alertmanager.once("exit", () => resolve())
      alertmanager.kill("SIGTERM")
    }))
    await eventually(async () => {
      try {
        return (await fetch(`${amUrl}/-/ready`)).ok ? true : undefined
      } catch {
        return undefined
      }
    }, `Alertmanager to be ready (its log: ${log})`)
  })

  it("gets a firing alert, then its resolution, told by Alertmanager's own API and notifications", async () => {
    const withCredentials = amUrl.replace("http://", `http://loglens:${SECRET}@`)
    const analyzer = await startAnalyzer(["--alertmanager", withCredentials, "--alert-resend", "1s"])
    cleanups.push(analyzer.stop)
    await analyzer.write(overThreshold)

    const active = await eventually(async () => {
      const alerts = await (await fetch(`${amUrl}/api/v2/alerts`)).json() as Array<any>
      return alerts.find((a) => a.labels.status === "404")
    }, "the alert in Alertmanager")
    expect(active.labels).toEqual({ alertname: "LoglensHighErrorRate", status: "404" })
    expect(active.status.state).toBe("active")
    // Webhook receivers get Alertmanager's own fingerprint for the same labels.
    expect(fingerprintOf(active.labels)).toBe(active.fingerprint)
    expect(active.annotations.window).toBe(`${new Date(BASE).toISOString()}/${new Date(BASE + W).toISOString()}`)
    expect(active.annotations.error_count).toBe("101")
    expect(Number(active.annotations.unique_ips)).toBeGreaterThan(30)
    expect(active.annotations.urls).toBe("/resource/0, /resource/1, /resource/2")
    expect(Date.parse(active.endsAt)).toBeGreaterThan(Date.now())

    const firing = await eventually(async () => notified.received.find((r) => r.body.status === "firing"), "a firing notification")
    expect(firing.body.alerts[0].labels).toEqual(active.labels)

    // While it fires, it is re-sent every --alert-resend (1 s here), each time further ahead.
    const destination = `alertmanager 1 (${amUrl})`
    const sent = async () => metric(await fetchMetrics(analyzer.url), "loglens_alert_deliveries_total", { destination }) ?? 0
    const before = await sent()
    await eventually(async () => ((await sent()) >= before + 2 ? true : undefined), "two re-sends", 10_000)
    const again = (await (await fetch(`${amUrl}/api/v2/alerts`)).json() as Array<any>).find((a) => a.labels.status === "404")
    expect(Date.parse(again.endsAt)).toBeGreaterThan(Date.parse(active.endsAt))
    expect(again.startsAt).toBe(active.startsAt)

    await analyzer.write(calmAfter)
    // Alertmanager drops a resolved alert from its list, and tells its receivers it resolved.
    await eventually(async () => {
      const alerts = await (await fetch(`${amUrl}/api/v2/alerts`)).json() as Array<any>
      return alerts.some((a) => a.labels.status === "404") ? undefined : true
    }, "the alert to leave Alertmanager's active list")
    const resolved = await eventually(async () => notified.received.find((r) => r.body.status === "resolved"), "a resolved notification")
    expect(resolved.body.alerts[0].labels).toEqual(active.labels)
    expect(resolved.body.alerts[0].fingerprint).toBe(active.fingerprint)
    expect(Date.parse(resolved.body.alerts[0].endsAt)).toBeLessThanOrEqual(Date.now())

    expect(await sent()).toBeGreaterThanOrEqual(before + 3)
    expect(analyzer.running.stdout()).toMatch(/Resolved: status 404/)
    await expectNoSecret(analyzer)
  })
})

describe("--webhook", () => {
  it("retries a receiver that fails at first, tells it once, and delivers firing then resolved in Alertmanager's format", async () => {
    const hook = await receiver((n) => (n < 2 ? 503 : 200))
    cleanups.push(hook.close)
    const analyzer = await startAnalyzer(["--webhook", `http://hook:${SECRET}@127.0.0.1:${hook.port}/notify?x=1`])
    cleanups.push(analyzer.stop)
    await analyzer.write(overThreshold)
    await eventually(async () => (hook.received.length >= 1 ? true : undefined), "the firing notification")
    await analyzer.write(calmAfter)
    await eventually(async () => (hook.received.length >= 2 ? true : undefined), "the resolved notification")

    const [firing, resolved] = hook.received
    expect(firing!.authorization).toBe(`Basic ${Buffer.from(`hook:${SECRET}`).toString("base64")}`)
    for (const [message, status] of [[firing!.body, "firing"], [resolved!.body, "resolved"]] as const) {
      expect(message.version).toBe("4")
      expect(message.status).toBe(status)
      expect(message.groupLabels).toEqual({ alertname: "LoglensHighErrorRate", status: "404" })
      expect(message.alerts).toHaveLength(1)
      expect(message.alerts[0].status).toBe(status)
      expect(message.alerts[0].labels).toEqual({ alertname: "LoglensHighErrorRate", status: "404" })
      expect(message.alerts[0].annotations.error_count).toBe("101")
    }
    expect(firing!.body.alerts[0].fingerprint).toMatch(/^[0-9a-f]{16}$/)
    expect(resolved!.body.alerts[0].fingerprint).toBe(firing!.body.alerts[0].fingerprint)
    expect(firing!.body.alerts[0].endsAt).toBe("0001-01-01T00:00:00Z")
    // They link to the dashboard.
    expect(firing!.body.externalURL).toBe(analyzer.url)
    expect(firing!.body.alerts[0].generatorURL).toBe(analyzer.url)
    expect(resolved!.body.alerts[0].startsAt).toBe(firing!.body.alerts[0].startsAt)

    const destination = `webhook 1 (http://127.0.0.1:${hook.port})`
    const stderr = analyzer.running.stderr()
    expect(stderr.split(`cannot deliver alerts to ${destination}`).length - 1).toBe(1)
    expect(stderr).toMatch(/HTTP 503/)
    expect(stderr).toContain(`alerts reach ${destination} again`)
    const samples = await fetchMetrics(analyzer.url)
    expect(metric(samples, "loglens_alert_delivery_failures_total", { destination })).toBe(2)
    expect(metric(samples, "loglens_alert_deliveries_total", { destination })).toBe(2)
    await expectNoSecret(analyzer)
  })

  it("never holds up the analysis: a receiver that never answers and one where nothing listens", async () => {
    const silent = await receiver(() => "never")
    cleanups.push(silent.close)
    const nobody = await freePort()
    const analyzer = await startAnalyzer([
      "--webhook", `http://127.0.0.1:${silent.port}/`,
      "--webhook", `http://127.0.0.1:${nobody}/`
    ])
    const many = Array.from({ length: 20_000 }, (_, i) => line(BASE + 2 * W + (i % 20) * SECOND, i % 2 ? 500 : 404))
    await analyzer.write([...overThreshold, ...calmAfter, ...many])
    const shown = await eventually(async () => {
      const snapshot = await (await fetch(`${analyzer.url}api/snapshot`)).json() as any
      return snapshot.counters.lines === overThreshold.length + calmAfter.length + many.length ? snapshot : undefined
    }, "every line to be read", 10_000)
    expect(shown.alertStates.map((s: any) => [s.status, s.state])).toEqual([[404, "firing"], [500, "firing"]])
    const started = Date.now()
    await analyzer.stop()
    // The flush at exit waits at most 5 s for what is still undelivered.
    expect(Date.now() - started).toBeLessThan(9_000)
    const stderr = analyzer.running.stderr()
    expect(stderr).toContain(`cannot deliver alerts to webhook 2 (http://127.0.0.1:${nobody}): ECONNREFUSED`)
    expect(stderr).toMatch(/could not be delivered before exit/)
  })
})
