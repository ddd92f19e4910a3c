/**
 * The HTTP port (`--http HOST:PORT`): the live dashboard at `/`, its updates
 * as Server-Sent Events at `/events`, `/api/snapshot` (the same view as
 * JSON), `/metrics`, `/livez` and `/readyz`. It only reads `Telemetry`.
 *
 * Every view is encoded once and written to every open page; a page that
 * reads slower than views arrive skips views (each one is complete) rather
 * than making the analyzer wait. The page and its assets come from loglens
 * itself (uPlot from node_modules), under a Content-Security-Policy that
 * allows nothing from elsewhere and no inline script.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as http from "node:http"
import { createRequire } from "node:module"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import { type AnalyzerView, Telemetry } from "../telemetry/Telemetry.ts"
import { makeMetrics } from "./Metrics.ts"

export class HttpPortError extends Schema.TaggedError<HttpPortError>()("HttpPortError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

export interface HttpPortOptions {
  readonly host: string
  readonly port: number
}

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store"
}
/** A comment line keeps idle connections (and proxies) from timing out. */
const HEARTBEAT_MS = 15_000

interface Asset {
  readonly type: string
  readonly body: Buffer
}

const loadAssets = (): Map<string, Asset> => {
  const dashboard = (name: string) => fileURLToPath(new URL(`../../dashboard/${name}`, import.meta.url))
  const require = createRequire(import.meta.url)
  const files: Array<[string, string, string]> = [
    ["/", dashboard("index.html"), "text/html; charset=utf-8"],
    ["/assets/dashboard.js", dashboard("dashboard.js"), "text/javascript; charset=utf-8"],
    ["/assets/dashboard.css", dashboard("dashboard.css"), "text/css; charset=utf-8"],
    ["/assets/uPlot.min.js", require.resolve("uplot/dist/uPlot.iife.min.js"), "text/javascript; charset=utf-8"],
    ["/assets/uPlot.min.css", require.resolve("uplot/dist/uPlot.min.css"), "text/css; charset=utf-8"]
  ]
  return new Map(files.map(([route, file, type]) => [route, { type, body: fs.readFileSync(file) }]))
}

/** True for 127.0.0.0/8, ::1 and `localhost`. */
export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || (net.isIPv4(host) && host.startsWith("127."))

/** The URL a person types: IPv6 hosts in brackets. */
export const httpUrl = (host: string, port: number): string => `http://${net.isIPv6(host) ? `[${host}]` : host}:${port}/`

export const HttpPort = {
  /** Serves for as long as the layer's scope lives; the bound URL is printed on stderr. */
  layer: (options: HttpPortOptions) =>
    Layer.effectDiscard(Effect.gen(function*() {
      const telemetry = yield* Telemetry
      const assets = yield* Effect.try({
        try: loadAssets,
        catch: (cause) => new HttpPortError({ message: `the dashboard's files are missing (${String(cause)}); reinstall loglens`, cause })
      })
      const registry = makeMetrics(telemetry)
      const pages = new Set<http.ServerResponse>()
      const slow = new Set<http.ServerResponse>()
      let lastFrame: string | undefined

      const send = (res: http.ServerResponse, status: number, type: string, body: string | Buffer) => {
        res.writeHead(status, { "content-type": type, ...SECURITY_HEADERS })
        res.end(body)
      }
      const writeFrame = (res: http.ServerResponse, frame: string) => {
        if (slow.has(res)) return
        if (!res.write(frame)) {
          slow.add(res)
          res.once("drain", () => slow.delete(res))
        }
      }
      const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
        const pathname = (req.url ?? "/").split("?")[0]!
        if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "GET only\n")
        if (pathname === "/livez") return send(res, 200, "text/plain", "ok\n")
        if (pathname === "/readyz") {
          const readiness = telemetry.latest()?.readiness ?? { ready: false, reason: "starting" }
          return send(res, readiness.ready ? 200 : 503, "text/plain; charset=utf-8", `${readiness.reason}\n`)
        }
        if (pathname === "/api/snapshot") {
          const view = telemetry.latest()
          if (view === undefined) return send(res, 503, "application/json", `{"error":"starting"}\n`)
          return send(res, 200, "application/json", JSON.stringify(view))
        }
        if (pathname === "/metrics") {
          registry.metrics().then(
            (text) => send(res, 200, registry.contentType, text),
            (error) => send(res, 500, "text/plain", `metrics failed: ${String(error)}\n`)
          )
          return
        }
        if (pathname === "/events") {
          res.writeHead(200, {
            "content-type": "text/event-stream; charset=utf-8",
            connection: "keep-alive",
            ...SECURITY_HEADERS
          })
          res.write("retry: 1000\n\n")
          const view = telemetry.latest()
          if (view !== undefined) res.write(lastFrame ?? frameOf(view))
          pages.add(res)
          res.on("close", () => {
            pages.delete(res)
            slow.delete(res)
          })
          return
        }
        const asset = assets.get(pathname)
        if (asset !== undefined) return send(res, 200, asset.type, asset.body)
        send(res, 404, "text/plain", "not found\n")
      }

      const server = http.createServer(handle)
      yield* Effect.acquireRelease(
        Effect.callback<void, HttpPortError>((resume) => {
          const onError = (cause: NodeJS.ErrnoException) =>
            resume(Effect.fail(new HttpPortError({ message: listenProblem(options, cause), cause })))
          server.once("error", onError)
          server.listen(options.port, options.host, () => {
            server.off("error", onError)
            resume(Effect.void)
          })
        }),
        () =>
          Effect.callback<void>((resume) => {
            for (const page of pages) page.end()
            server.close(() => resume(Effect.void))
            server.closeAllConnections()
          })
      )
      const address = server.address() as net.AddressInfo
      const url = httpUrl(options.host, address.port)
      telemetry.dashboardUrl.current = url
      yield* Console.error(`loglens: dashboard at ${url} (metrics at ${url}metrics)`)
      if (!isLoopback(options.host)) {
        yield* Console.error(
          `loglens: the HTTP port listens on ${options.host}, beyond this machine: the dashboard and /metrics have no ` +
            `authentication, so anyone who can reach ${url} sees them. Use --http 127.0.0.1:${address.port} to keep it local.`
        )
      }

      yield* telemetry.views.pipe(
        Stream.runForEach((view) =>
          Effect.sync(() => {
            lastFrame = frameOf(view)
            for (const page of pages) writeFrame(page, lastFrame)
          })
        ),
        Effect.forkScoped
      )
      yield* Effect.sync(() => setInterval(() => {
        for (const page of pages) writeFrame(page, ": heartbeat\n\n")
      }, HEARTBEAT_MS).unref()).pipe(
        Effect.flatMap((timer) => Effect.addFinalizer(() => Effect.sync(() => clearInterval(timer))))
      )
    }))
}

const frameOf = (view: AnalyzerView): string => `data: ${JSON.stringify(view)}\n\n`

const listenProblem = (options: HttpPortOptions, cause: NodeJS.ErrnoException): string => {
  const where = `${options.host}:${options.port}`
  if (cause.code === "EADDRINUSE") return `--http ${where}: the port is already in use; choose another port (or 0 for any free one)`
  if (cause.code === "EADDRNOTAVAIL") return `--http ${where}: this machine has no such address; use 127.0.0.1 or one of its own addresses`
  if (cause.code === "EACCES") return `--http ${where}: not allowed to listen there (ports below 1024 need privileges); choose a port above 1024`
  return `--http ${where}: cannot listen: ${cause.message}`
}
