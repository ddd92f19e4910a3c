/**
 * The HTTP port's plain endpoints through the built CLI: /livez, /readyz
 * before and after the source reads, the JSON snapshot, the headers that
 * keep the page to itself, the reminder printed for a non-loopback address,
 * and a port already taken.
 */
import { afterAll, describe, expect, it } from "vitest"
import * as net from "node:net"
import * as path from "node:path"
import { parseHttpAddress, parseHttpUrl } from "../../src/domain/Options.ts"
import { start, tempDir } from "../e2e/cli.ts"
import { BASE, eventually, line, startAnalyzer, type Analyzer } from "./support.ts"

const running: Array<Analyzer> = []
afterAll(async () => {
  for (const analyzer of running) await analyzer.stop()
})

describe("--http endpoints", () => {
  it("answers /livez at once, /readyz 503 with a reason until the source reads, then 200", async () => {
    // A TCP source with nothing listening: the analyzer runs, but is not ready.
    const dir = tempDir("readyz")
    const closed = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as net.AddressInfo
        server.close(() => resolve(port))
      })
    })
    const tcp = start([
      "analyze", "--host", "127.0.0.1", "--port", String(closed), "--http", "127.0.0.1:0",
      "--output", path.join(dir, "out")
    ])
    try {
      const [, url] = await tcp.waitFor(/dashboard at (http:\/\/\S+\/) /)
      expect((await fetch(`${url}livez`)).status).toBe(200)
      const notReady = await eventually(async () => {
        const response = await fetch(`${url}readyz`)
        const text = await response.text()
        return response.status === 503 && text.includes("waiting for") ? text : undefined
      }, "/readyz to say what it waits for")
      expect(notReady.trim()).toBe(`waiting for tcp://127.0.0.1:${closed}`)
    } finally {
      tcp.child.kill("SIGTERM")
      await tcp.done
    }

    const analyzer = await startAnalyzer()
    running.push(analyzer)
    await analyzer.write([line(BASE, 404)])
    await eventually(async () => ((await fetch(`${analyzer.url}readyz`)).status === 200 ? true : undefined), "/readyz 200")
    expect(await (await fetch(`${analyzer.url}readyz`)).text()).toBe("reading stdin\n")
  })

  it("serves the snapshot as JSON and every response under a policy that allows nothing from elsewhere", async () => {
    const analyzer = await startAnalyzer()
    running.push(analyzer)
    await analyzer.write([line(BASE, 500), line(BASE, 200)])
    const snapshot = await eventually(async () => {
      const json = await (await fetch(`${analyzer.url}api/snapshot`)).json() as any
      return json.counters?.lines === 2 ? json : undefined
    }, "the snapshot to count both lines")
    expect(snapshot.errorsByStatus).toEqual({ 500: 1 })
    expect(snapshot.openWindows).toEqual([
      { startMs: BASE, endMs: BASE + 30_000, statuses: [{ status: 500, count: 1, uniqueIps: 1 }] }
    ])
    for (const route of ["", "assets/dashboard.js", "api/snapshot", "metrics"]) {
      const response = await fetch(`${analyzer.url}${route}`)
      expect(response.status, route).toBe(200)
      expect(response.headers.get("content-security-policy"), route).toMatch(/default-src 'none'; script-src 'self'/)
      expect(response.headers.get("x-content-type-options"), route).toBe("nosniff")
    }
    expect((await fetch(`${analyzer.url}nothing-here`)).status).toBe(404)
    expect((await fetch(`${analyzer.url}metrics`, { method: "POST" })).status).toBe(405)
  })

  it("reminds that a non-loopback address has no authentication, and names a port already taken", async () => {
    const analyzer = await startAnalyzer([], "0.0.0.0:0")
    running.push(analyzer)
    await analyzer.running.waitFor(/listens on 0\.0\.0\.0, beyond this machine: the dashboard and \/metrics have no authentication/)

    const port = new URL(analyzer.url).port
    const dir = tempDir("taken")
    const taken = await start(["analyze", "--input", "-", "--http", `0.0.0.0:${port}`, "--output", path.join(dir, "out")]).done
    expect(taken.code).toBe(1)
    expect(taken.stderr).toContain(`--http 0.0.0.0:${port}: the port is already in use; choose another port (or 0 for any free one)`)
  })
})

describe("parseHttpAddress and parseHttpUrl", () => {
  it("reads HOST:PORT, [IPv6]:PORT and a bare port (on loopback)", () => {
    expect(parseHttpAddress("127.0.0.1:8686")).toEqual({ ok: true, value: { host: "127.0.0.1", port: 8686 } })
    expect(parseHttpAddress("[::1]:80")).toEqual({ ok: true, value: { host: "::1", port: 80 } })
    expect(parseHttpAddress("8686")).toEqual({ ok: true, value: { host: "127.0.0.1", port: 8686 } })
    expect(parseHttpAddress("localhost:0")).toEqual({ ok: true, value: { host: "localhost", port: 0 } })
    for (const bad of ["", "host:", "host:70000", "a b:1", "http://x:1"]) {
      const parsed = parseHttpAddress(bad)
      expect(parsed.ok, bad).toBe(false)
      if (!parsed.ok) expect(parsed.message).toMatch(/^--http expects HOST:PORT/)
    }
  })

  it("takes http(s) URLs only, and never repeats the credentials of a bad one", () => {
    expect(parseHttpUrl("--webhook", "https://u:p@hooks.example/x")).toEqual({ ok: true, value: "https://u:p@hooks.example/x" })
    const bad = parseHttpUrl("--webhook", "ftp://user:secret@host/")
    expect(bad.ok).toBe(false)
    if (!bad.ok) {
      expect(bad.message).toContain("--webhook expects an http:// or https:// URL")
      expect(bad.message).not.toContain("secret")
    }
    expect(parseHttpUrl("--alertmanager", "not a url").ok).toBe(false)
  })
})
