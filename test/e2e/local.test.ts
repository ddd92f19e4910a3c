/**
 * The real CLI, end to end, in local mode: replaying the fixtures, the
 * generator serving TCP to the analyzer over loopback, bad options, SIGINT,
 * checkpoint settings and a kill -9 in the middle of a replay.
 */
import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { readPartLines, readParts, run, start, tempDir } from "./cli.ts"

const fixture = (name: string) => path.resolve("test/fixtures", name)

// The hand-checked results documented in test/fixtures/README.md.
const FIXTURE_WINDOWS = [
  "2025-05-30T18:52:00.000Z 404 101 31 10",
  "2025-05-30T18:52:30.000Z 500 100 30 10",
  "2025-05-30T18:53:00.000Z 400 1 1 1",
  "2025-05-30T18:53:00.000Z 401 1 1 1",
  "2025-05-30T18:53:00.000Z 404 3 2 2",
  "2025-05-30T18:53:00.000Z 500 2 1 2",
  "2025-05-30T18:53:00.000Z 599 1 1 1",
  "2025-05-30T18:53:30.000Z 404 1 1 1"
]

const windowSummary = (rows: Array<any>) =>
  rows.map((r) => `${r.window_start} ${r.status} ${r.error_count} ${r.unique_ips} ${r.urls.length}`)

describe("analyze --input (replay)", () => {
  for (const [file, format, rejected] of [["mixed.jsonl", "json", 15], ["mixed.csv", "csv", 11]] as const) {
    it(`replays ${file} to the documented windows, errors, rejections and alert, then exits 0`, async () => {
      const dir = tempDir("replay")
      const result = await run([
        "analyze", "--input", fixture(file), "--format", format,
        "--output", path.join(dir, "out"), "--checkpoint", path.join(dir, "cp")
      ])
      expect(result.code, result.stderr).toBe(0)
      expect(windowSummary(readParts(path.join(dir, "out/windows")))).toEqual(FIXTURE_WINDOWS)
      expect(readParts(path.join(dir, "out/errors"))).toHaveLength(213)
      const rejections = readParts(path.join(dir, "out/rejected"))
      expect(rejections).toHaveLength(rejected)
      for (const r of rejections) expect(typeof r.reason === "string" && r.reason.length > 0).toBe(true)
      const alerts = readParts(path.join(dir, "out/alerts"))
      expect(alerts.map((a) => [a.window_start, a.window_end, a.status, a.error_count, a.unique_ips, a.alert])).toEqual([
        ["2025-05-30T18:52:00.000Z", "2025-05-30T18:52:30.000Z", 404, 101, 31, "ALERTE : Nombre d'erreurs élevé"]
      ])
      expect(result.stdout).toMatch(/Final report/)
      expect(result.stdout).toMatch(/late errors 3/)
    })
  }

  it("skips the byte-order mark that opens a file saved by Windows tools", async () => {
    const dir = tempDir("bom")
    const input = path.join(dir, "bom.csv")
    fs.writeFileSync(input, "\ufefftimestamp,ip,method,url,status\r\n2025-05-30T18:52:40Z,10.0.0.1,GET,/resource/1,404\r\n")
    const result = await run([
      "analyze", "--input", input, "--format", "csv", "--output", path.join(dir, "out"), "--checkpoint", path.join(dir, "cp")
    ])
    expect(result.code, result.stderr).toBe(0)
    expect(readParts(path.join(dir, "out/rejected"))).toEqual([])
    expect(readParts(path.join(dir, "out/errors"))).toEqual([
      { timestamp: "2025-05-30T18:52:40Z", ip: "10.0.0.1", method: "GET", url: "/resource/1", status: 404 }
    ])
  })

  it("reads stdin with --input -", async () => {
    const dir = tempDir("stdin")
    const child = start(
      ["analyze", "--input", "-", "--output", path.join(dir, "out"), "--checkpoint", path.join(dir, "cp")],
      { stdin: true }
    )
    fs.createReadStream(fixture("mixed.jsonl")).pipe(child.child.stdin!)
    const result = await child.done
    expect(result.code, result.stderr).toBe(0)
    expect(windowSummary(readParts(path.join(dir, "out/windows")))).toEqual(FIXTURE_WINDOWS)
  })

  it("refuses a checkpoint made with other settings, naming the difference and the fix", async () => {
    const dir = tempDir("mismatch")
    const common = ["analyze", "--input", fixture("mixed.jsonl"), "--output", path.join(dir, "out"), "--checkpoint", path.join(dir, "cp")]
    expect((await run(common)).code).toBe(0)
    const second = await run([...common, "--window", "1m"])
    expect(second.code).toBe(1)
    expect(second.stderr).toMatch(/--window was "30000ms", now "60000ms"/)
    expect(second.stderr).toMatch(/--clean/)
    const third = await run([...common, "--window", "1m", "--clean"])
    expect(third.code, third.stderr).toBe(0)
  })

  it("resumes after kill -9 with exactly the outputs of an uninterrupted run", async () => {
    const dir = tempDir("kill9")
    const input = path.join(dir, "input.jsonl")
    const generated = await run(["generate", "--rate", "0", "--count", "400000", "--seed", "kill9", "--status-dist", "80", "10", "10"])
    fs.writeFileSync(input, generated.stdout)
    const args = (name: string) => [
      "analyze", "--input", input, "--output", path.join(dir, name), "--checkpoint", path.join(dir, `${name}-cp`),
      "--commit-interval", "50ms"
    ]
    expect((await run(args("whole"))).code).toBe(0)

    let kills = 0
    for (let attempt = 0; attempt < 20 && kills < 3; attempt++) {
      const child = start(args("crashed"))
      // A kill can land after the run's last commit: the next start then has nothing left to do.
      const [seen] = await child.waitFor(/analysing|already analysed/)
      if (seen.startsWith("already")) {
        await child.done
        break
      }
      await new Promise((r) => setTimeout(r, 150 + attempt * 100))
      if (child.child.exitCode !== null) break
      child.child.kill("SIGKILL")
      await child.done
      kills++
      // Between crashes the folders hold whole lines only.
      readPartLines(path.join(dir, "crashed/errors"))
    }
    expect(kills).toBeGreaterThan(0)
    const last = await run(args("crashed"))
    expect(last.code, last.stderr).toBe(0)
    for (const folder of ["errors", "windows", "rejected"]) {
      expect(readPartLines(path.join(dir, "crashed", folder)), folder).toEqual(readPartLines(path.join(dir, "whole", folder)))
    }
    const strip = (alerts: Array<any>) => alerts.map(({ alert_timestamp: _, ...rest }) => rest)
    expect(strip(readParts(path.join(dir, "crashed/alerts")))).toEqual(strip(readParts(path.join(dir, "whole/alerts"))))
  })
})

describe("bad options", () => {
  for (
    const [args, message] of [
      [["generate", "--rate", "-5"], /--rate expects lines per second/],
      [["generate", "--status-dist", "50", "50"], /--status-dist expects three whole percentages/],
      [["generate", "--status-dist", "50", "30", "30"], /must add up to 100/],
      [["analyze", "--window", "10"], /--window expects a duration/],
      [["analyze", "--mode", "staging"], /staging/],
      [["analyze", "--kafka-broker", "nonsense", "--mode", "production"], /--kafka-broker expects host:port/]
    ] as const
  ) {
    it(`${args.join(" ")} exits non-zero with a clear message`, async () => {
      const result = await run(args)
      expect(result.code).not.toBe(0)
      expect(result.stderr + result.stdout).toMatch(message)
    })
  }

  for (
    const [args, line] of [
      [["analyze", "--bogus"], 'loglens: unknown flag --bogus; run "loglens analyze --help" to see every flag'],
      [["analyze", "--windo", "5s"], 'loglens: unknown flag --windo (did you mean --window?); run "loglens analyze --help" to see every flag'],
      [["--bogus"], 'loglens: unknown flag --bogus; run "loglens --help" to see every flag'],
      [["analyse"], 'loglens: unknown command "analyse" (did you mean analyze?); run "loglens --help" to see every flag'],
      [["analyze", "--window", "99999999999999h"], 'loglens: --window must be at most 365 days, got "99999999999999h"; run "loglens analyze --help" to see every flag'],
      [["analyze", "--input", "x.log", "--mode", "production"], 'loglens: --input replays a file in local mode; leave out --mode production to use it; run "loglens analyze --help" to see every flag']
    ] as const
  ) {
    it(`${args.join(" ")} prints one line naming the problem and pointing at --help, and exits 2`, async () => {
      const result = await run(args)
      expect(result.code).toBe(2)
      expect(result.stdout).toBe("")
      expect(result.stderr).toBe(`${line}\n`)
    })
  }

  it("a bare loglens prints a short usage on stderr and exits 2", async () => {
    const result = await run([])
    expect(result.code).toBe(2)
    expect(result.stdout).toBe("")
    expect(result.stderr).toMatch(/^usage: loglens generate \[flags\]/)
    expect(result.stderr).toContain("loglens analyze [flags]")
    expect(result.stderr).toContain('"loglens --help"')
    expect(result.stderr.split("\n").length).toBeLessThan(6)
  })

  it("the README's sample message for --status-dist 50 50 is what the program says", async () => {
    const readme = fs.readFileSync(path.resolve("README.md"), "utf8")
    const sample = readme.split("\n").find((l) => l.startsWith("loglens: ") && l.includes('got "50 50"'))
    expect(sample, "the README shows the message").toBeDefined()
    const result = await run(["generate", "--status-dist", "50", "50"])
    expect(result.code).toBe(2)
    expect(result.stderr).toBe(`${sample}\n`)
  })

  it("--help explains every analyze option with its default", async () => {
    const result = await run(["analyze", "--help"])
    expect(result.code).toBe(0)
    for (const flag of ["--window", "--watermark", "--threshold", "--trigger", "--input", "--clean", "--max-line-bytes"]) {
      expect(result.stdout).toContain(flag)
    }
    expect(result.stdout).toMatch(/--window\s+string\s+.*\(default: 30s\)/)
  })
})

describe("generate", () => {
  it("--status-dist 0 0 100, written as the seed wrote it, gives only 500s", async () => {
    const result = await run(["generate", "--rate", "0", "--count", "500", "--status-dist", "0", "0", "100"])
    expect(result.code, result.stderr).toBe(0)
    const statuses = new Set(result.stdout.trim().split("\n").map((l) => JSON.parse(l).status))
    expect([...statuses]).toEqual([500])
  })

  it("paces --rate 500: 1000 lines take about 2 s, with no burst at start", async () => {
    const child = start(["generate", "--rate", "500", "--count", "1000"])
    const seen: Array<number> = []
    child.child.stdout!.on("data", (d: Buffer | string) => {
      const now = performance.now()
      for (const c of String(d)) if (c === "\n") seen.push(now)
    })
    const result = await child.done
    expect(result.code).toBe(0)
    expect(seen).toHaveLength(1000)
    const spanMs = seen[999]! - seen[0]!
    expect(spanMs).toBeGreaterThan(1700)
    expect(spanMs).toBeLessThan(3500)
    // No burst: the first 200 ms hold about 100 lines, not hundreds.
    expect(seen.filter((t) => t - seen[0]! < 200).length).toBeLessThan(160)
  })
})

describe("generator --listen → analyzer over loopback TCP", () => {
  it("analyses exactly what the generator sent, alerts, and shuts down cleanly on SIGINT", async () => {
    const dir = tempDir("tcp")
    const generator = start([
      "generate", "--listen", "0", "--rate", "4000", "--count", "12000", "--seed", "tcp-e2e", "--status-dist", "60", "30", "10",
      "--urls", "20"
    ])
    const port = Number((await generator.waitFor(/tcp:\/\/127\.0\.0\.1:(\d+)/))[1])

    // A relay between the two keeps an independent copy of every byte the analyzer gets.
    const received: Array<Buffer> = []
    const relay = net.createServer((analyzerSide) => {
      const generatorSide = net.connect({ host: "127.0.0.1", port })
      // Once the generator is done, the analyzer's reconnects find nobody: end them.
      generatorSide.on("error", () => analyzerSide.destroy())
      generatorSide.on("data", (chunk) => received.push(chunk))
      generatorSide.pipe(analyzerSide)
      analyzerSide.on("error", () => generatorSide.destroy())
    })
    await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r))
    const relayPort = (relay.address() as net.AddressInfo).port

    const analyzer = start([
      "analyze", "--host", "127.0.0.1", "--port", String(relayPort), "--window", "1s", "--watermark", "500ms",
      "--threshold", "400", "--trigger", "1s", "--output", path.join(dir, "out"), "--checkpoint", path.join(dir, "cp")
    ])
    const generated = await generator.done
    expect(generated.code, generated.stderr).toBe(0)
    await analyzer.waitFor(/lines read 12,000/, 30_000)
    analyzer.child.kill("SIGINT")
    const analyzed = await analyzer.done
    relay.close()
    expect(analyzed.code, analyzed.stderr).toBe(0)
    expect(analyzed.stdout).toMatch(/Final report/)

    // Expectations computed here, from the bytes on the wire.
    const lines = Buffer.concat(received).toString("utf8").split("\n").filter((l) => l.length > 0)
    expect(lines).toHaveLength(12000)
    const cells = new Map<string, { count: number; ips: Set<string>; urls: Set<string> }>()
    let errorCount = 0
    for (const line of lines) {
      const r = JSON.parse(line)
      if (r.status < 400) continue
      errorCount++
      const ms = Date.parse(r.timestamp)
      const key = `${new Date(ms - (ms % 1000)).toISOString()} ${r.status}`
      const cell = cells.get(key) ?? { count: 0, ips: new Set(), urls: new Set() }
      cell.count++
      cell.ips.add(r.ip)
      cell.urls.add(r.url)
      cells.set(key, cell)
    }
    expect(readParts(path.join(dir, "out/errors"))).toHaveLength(errorCount)
    const rows = readParts(path.join(dir, "out/windows"))
    expect(rows.map((r) => `${r.window_start} ${r.status}`).sort()).toEqual([...cells.keys()].sort())
    for (const row of rows) {
      const cell = cells.get(`${row.window_start} ${row.status}`)!
      expect(row.error_count).toBe(cell.count)
      expect(Math.abs(row.unique_ips - cell.ips.size)).toBeLessThanOrEqual(Math.ceil(cell.ips.size * 0.02))
      expect([...row.urls].sort()).toEqual([...cell.urls].sort())
    }
    const expectedAlerts = [...cells.entries()].filter(([, c]) => c.count > 400).map(([k]) => k).sort()
    const alerts = readParts(path.join(dir, "out/alerts"))
    expect(alerts.map((a) => `${a.window_start} ${a.status}`).sort()).toEqual(expectedAlerts)
    for (const a of alerts) expect(a.error_count).toBe(401)
  })

  it("keeps retrying while the server is not up yet, and says so", async () => {
    const dir = tempDir("retry")
    const probe = net.createServer()
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r))
    const port = (probe.address() as net.AddressInfo).port
    await new Promise<void>((r) => probe.close(() => r()))
    const analyzer = start([
      "analyze", "--host", "127.0.0.1", "--port", String(port), "--output", path.join(dir, "out"), "--checkpoint", path.join(dir, "cp")
    ])
    await analyzer.waitFor(/connection refused\); reconnecting/)
    const generator = start(["generate", "--listen", String(port), "--rate", "0", "--count", "100"])
    await analyzer.waitFor(/lines read 100\b|lines read 100,/, 5_000).catch(() => undefined)
    await generator.done
    await new Promise((r) => setTimeout(r, 1500))
    analyzer.child.kill("SIGINT")
    const result = await analyzer.done
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/lines read 100,/)
  })
})

describe("analyzer over TCP", () => {
  for (const close of ["FIN", "RST"] as const) {
    it(`rejects and counts a line cut off by a ${close}, with its reason`, async () => {
      const dir = tempDir(`cut-${close}`)
      let served = 0
      const server = net.createServer((socket) => {
        if (served++ > 0) return void socket.end()
        socket.write('{"timestamp":"2025-05-30T18:52:01Z","ip":"10.0.0.1","method":"GET","url":"/a","status":500}\n{"timest', () =>
          setTimeout(() => (close === "FIN" ? socket.end() : socket.resetAndDestroy()), 100))
      })
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
      const port = (server.address() as net.AddressInfo).port
      const analyzer = start([
        "analyze", "--host", "127.0.0.1", "--port", String(port), "--output", path.join(dir, "out"), "--checkpoint", path.join(dir, "cp")
      ])
      await analyzer.waitFor(/closed the connection|reset by the other side/)
      await new Promise((r) => setTimeout(r, 1500))
      analyzer.child.kill("SIGINT")
      const result = await analyzer.done
      server.close()
      expect(result.code, result.stderr).toBe(0)
      // Lines read counts the rejected one too.
      expect(result.stdout).toMatch(/Final report [^\n]* lines read 2, rejected 1, errors 1,/)
      expect(readParts(path.join(dir, "out/rejected"))).toEqual([
        { line: '{"timest', reason: "connection closed in the middle of a line" }
      ])
    })
  }
})
