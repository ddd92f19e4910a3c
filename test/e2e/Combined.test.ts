/**
 * The combined format and `--format auto` through the real CLI: the
 * `access.combined` fixture (test/fixtures/README.md) to its hand-checked
 * errors/ and windows/, auto-detection of all three formats, and the
 * generator's combined output read back by the analyzer.
 */
import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { readPartLines, readParts, run, start, tempDir } from "./cli.ts"

const fixture = (name: string) => path.resolve("test/fixtures", name)

const AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"

// The errors/ lines of access.combined, in file order, as the README's rules give them.
const EXPECTED_ERRORS = [
  { timestamp: "2025-05-30T18:52:02+00:00", ip: "2001:db8::1", method: "GET", url: "/missing", status: 404, bytes: 153, referer: "https://example.com/", user_agent: "curl/8.5.0" },
  { timestamp: "2025-05-30T20:52:03+02:00", ip: "proxy.example.com", method: "GET", url: "/search?q=a&page=2", status: 404 },
  { timestamp: "2025-05-30T18:52:04+00:00", ip: "198.51.100.4", method: "GET", url: "/q?s=\"x\"", status: 404, bytes: 12, user_agent: "bot \"quoted\" \\ 1.0" },
  { timestamp: "2025-05-30T18:52:05+00:00", ip: "198.51.100.5", method: "-", url: "\\x16\\x03\\x01\\x00\\xFC\\x01\\x00\\x00\\xF8\\x03\\x03", status: 400, bytes: 157 },
  { timestamp: "2025-05-30T18:52:06+00:00", ip: "198.51.100.6", method: "-", url: "", status: 400, bytes: 0 },
  { timestamp: "2025-05-30T18:52:07+00:00", ip: "127.0.0.1", method: "POST", url: "/login", status: 401, bytes: 2326 },
  { timestamp: "2025-05-30T18:52:08+00:00", ip: "10.0.0.8", method: "GET", url: "/missing", status: 404, bytes: 153, user_agent: "curl/8.5.0" },
  { timestamp: "2025-05-30T11:52:09-07:00", ip: "10.0.0.9", method: "PUT", url: "/api/items/7", status: 500, bytes: 64, user_agent: AGENT },
  { timestamp: "2025-05-30T18:52:10+00:00", ip: "10.0.0.10", method: "GET", url: "/caf\\xC3\\xA9", status: 404, bytes: 153, user_agent: AGENT },
  { timestamp: "2025-05-31T00:22:11+05:30", ip: "10.0.0.11", method: "GET", url: "/slow", status: 503, bytes: 0, user_agent: AGENT },
  { timestamp: "2025-05-30T18:52:20+00:00", ip: "10.0.0.13", method: "GET", url: "/late", status: 404, bytes: 153, user_agent: AGENT },
  { timestamp: "2025-05-30T18:52:45-00:00", ip: "10.0.0.14", method: "DELETE", url: "/api/items/7", status: 404, bytes: 0 },
  { timestamp: "2025-05-30T18:52:50+00:00", ip: "10.0.0.15", method: "GET", url: "/edge", status: 599, bytes: 1 }
]

// `window_start status error_count unique_ips urls`.
const EXPECTED_WINDOWS = [
  "2025-05-30T18:52:00.000Z 400 2 2 |\\x16\\x03\\x01\\x00\\xFC\\x01\\x00\\x00\\xF8\\x03\\x03",
  "2025-05-30T18:52:00.000Z 401 1 1 /login",
  "2025-05-30T18:52:00.000Z 404 5 5 /caf\\xC3\\xA9|/missing|/q?s=\"x\"|/search?q=a&page=2",
  "2025-05-30T18:52:00.000Z 500 1 1 /api/items/7",
  "2025-05-30T18:52:00.000Z 503 1 1 /slow",
  "2025-05-30T18:52:30.000Z 404 1 1 /api/items/7",
  "2025-05-30T18:52:30.000Z 599 1 1 /edge"
]

const windowRows = (folder: string) =>
  readParts(folder).map((r) => `${r.window_start} ${r.status} ${r.error_count} ${r.unique_ips} ${[...r.urls].sort().join("|")}`)

// The rejected lines, by the ip each one starts with (the JSON and CSV lines hold theirs elsewhere).
const EXPECTED_REJECTED = ["10.0.0.20", "10.0.0.21", "10.0.0.22", "10.0.0.23", "10.0.0.24", "10.0.0.25", "10.0.0.26", "10.0.0.27", "10.0.0.28", "10.0.0.29"]

const replay = async (file: string, format: string, extra: ReadonlyArray<string> = []) => {
  const dir = tempDir("combined")
  const result = await run([
    "analyze", "--input", file, "--format", format, ...extra,
    "--output", path.join(dir, "out"), "--checkpoint", path.join(dir, "cp")
  ])
  return { result, out: path.join(dir, "out") }
}

describe("analyze --format combined", () => {
  for (const format of ["combined", "auto"]) {
    it(`replays access.combined with --format ${format} to the documented errors, windows, rejections and alert`, async () => {
      const { result, out } = await replay(fixture("access.combined"), format, ["--threshold", "3"])
      expect(result.code, result.stderr).toBe(0)
      expect(readPartLines(path.join(out, "errors"))).toEqual(EXPECTED_ERRORS.map((e) => JSON.stringify(e)))
      expect(windowRows(path.join(out, "windows"))).toEqual(EXPECTED_WINDOWS)
      // By ip; the splitter's rejections (invalid UTF-8) come ahead of the lines read with them.
      const rejected = new Map(readParts(path.join(out, "rejected")).map((r) => [/10\.0\.0\.\d+/.exec(r.line)?.[0], r.reason]))
      expect([...rejected.keys()].sort()).toEqual(EXPECTED_REJECTED)
      expect(rejected.get("10.0.0.20")).toMatch(/time/)
      expect(rejected.get("10.0.0.21")).toMatch(/time/)
      expect(rejected.get("10.0.0.22")).toMatch(/\[/)
      expect(rejected.get("10.0.0.23")).toMatch(/status/)
      expect(rejected.get("10.0.0.24")).toMatch(/status/)
      expect(rejected.get("10.0.0.25")).toMatch(/unterminated/)
      expect(rejected.get("10.0.0.26")).toMatch(/byte count/)
      expect(rejected.get("10.0.0.27")).toMatch(/JSON/)
      expect(rejected.get("10.0.0.28")).toMatch(/ip, ident and user/)
      expect(rejected.get("10.0.0.29")).toMatch(/UTF-8/)
      const alerts = readParts(path.join(out, "alerts"))
      expect(alerts.map((a) => [a.window_start, a.status, a.error_count, a.unique_ips])).toEqual([
        ["2025-05-30T18:52:00.000Z", 404, 4, 4]
      ])
      expect(result.stdout).toMatch(/late errors 1/)
      if (format === "auto") expect(result.stderr).toMatch(/--format auto reads .*access\.combined as combined/)
    })
  }

  it("reads back what generate --format combined writes: every line valid, every 404 and 500 an error", async () => {
    const generated = await run(["generate", "--format", "combined", "--rate", "0", "--count", "5000", "--seed", "round-trip"])
    expect(generated.code, generated.stderr).toBe(0)
    const lines = generated.stdout.split("\n").filter((l) => l.length > 0)
    expect(lines).toHaveLength(5000)
    // Counted from the text, without the decoder: the status follows the quoted request.
    const errorCount = lines.filter((l) => /" (404|500) /.test(l)).length
    expect(errorCount).toBeGreaterThan(300)
    const dir = tempDir("round-trip")
    const analyzer = start(
      ["analyze", "--input", "-", "--format", "combined", "--output", path.join(dir, "out"), "--checkpoint", path.join(dir, "cp")],
      { stdin: true }
    )
    analyzer.child.stdin!.end(generated.stdout)
    const result = await analyzer.done
    expect(result.code, result.stderr).toBe(0)
    expect(readParts(path.join(dir, "out/rejected"))).toEqual([])
    const errors = readParts(path.join(dir, "out/errors"))
    expect(errors).toHaveLength(errorCount)
    // A sample, line by line: the same ip, method, url and status as the text of its line.
    const errorLines = lines.filter((l) => /" (404|500) /.test(l))
    for (const [i, error] of errors.entries()) {
      const m = /^(\S+) - - \[[^\]]+\] "(\S+) (\S+) HTTP\/[\d.]+" (\d+) /.exec(errorLines[i]!)!
      expect([error.ip, error.method, error.url, error.status]).toEqual([m[1], m[2], m[3], Number(m[4])])
    }
  })
})

describe("analyze --format auto", () => {
  it("reads mixed.jsonl as json and mixed.csv as csv, with the same results as naming the format", async () => {
    for (const [file, chosen] of [["mixed.jsonl", "json"], ["mixed.csv", "csv"]] as const) {
      const named = await replay(fixture(file), chosen)
      const auto = await replay(fixture(file), "auto")
      expect(auto.result.code, auto.result.stderr).toBe(0)
      expect(auto.result.stderr).toMatch(new RegExp(`--format auto reads .*${file.replace(".", "\\.")} as ${chosen}\\b`))
      for (const folder of ["errors", "windows", "rejected"]) {
        expect(readPartLines(path.join(auto.out, folder)), folder).toEqual(readPartLines(path.join(named.out, folder)))
      }
      expect(readParts(path.join(auto.out, "windows")).length).toBe(8)
    }
  })

  it("rejects the lines before the first one a format accepts, then keeps to that format", async () => {
    const dir = tempDir("auto-undecided")
    const input = path.join(dir, "in.txt")
    fs.writeFileSync(input, [
      "not a log line",
      `10.0.0.1 - - [30/May/2025:18:52:01 +0000] "GET /a HTTP/1.1" 404 1 "-" "-"`,
      `{"timestamp":"2025-05-30T18:52:02Z","ip":"10.0.0.2","method":"GET","url":"/b","status":404}`,
      `10.0.0.3 - - [30/May/2025:18:52:03 +0000] "GET /c HTTP/1.1" 500 1 "-" "-"`
    ].join("\n") + "\n")
    const { result, out } = await replay(input, "auto")
    expect(result.code, result.stderr).toBe(0)
    expect(readParts(path.join(out, "errors")).map((e) => e.url)).toEqual(["/a", "/c"])
    const rejected = readParts(path.join(out, "rejected"))
    expect(rejected.map((r) => r.line)).toEqual(["not a log line", `{"timestamp":"2025-05-30T18:52:02Z","ip":"10.0.0.2","method":"GET","url":"/b","status":404}`])
    expect(rejected[0].reason).toMatch(/no format accepts this line.*json: .*csv: .*combined: /)
    expect(rejected[1].reason).toMatch(/JSON line/)
  })

  it("keeps its choice across a restart: a rerun goes on with the format the checkpoint recorded", async () => {
    // A TCP server the analyzer reads from: the first connection gets a combined line, the second a
    // JSON line (which alone would make auto choose json) and then a combined line.
    const sessions = [
      [`10.0.0.1 - - [30/May/2025:18:52:01 +0000] "GET /a HTTP/1.1" 404 1 "-" "-"`],
      [`{"timestamp":"2025-05-30T18:52:02Z","ip":"10.0.0.2","method":"GET","url":"/b","status":404}`, `10.0.0.3 - - [30/May/2025:18:52:03 +0000] "GET /c HTTP/1.1" 500 1 "-" "-"`]
    ]
    let connection = 0
    const server = net.createServer((socket) => socket.write(sessions[connection++]!.map((l) => `${l}\n`).join("")))
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const port = String((server.address() as net.AddressInfo).port)
      const dir = tempDir("auto-restart")
      const args = [
        "analyze", "--host", "127.0.0.1", "--port", port, "--format", "auto", "--commit-interval", "100ms",
        "--output", path.join(dir, "out"), "--checkpoint", path.join(dir, "cp")
      ]
      const errorUrls = () => readParts(path.join(dir, "out/errors")).map((e) => e.url)
      const untilErrors = async (count: number) => {
        for (let i = 0; i < 200 && errorUrls().length < count; i++) await new Promise((r) => setTimeout(r, 50))
      }
      for (const [run, errorsAfter] of [[0, 1], [1, 2]] as const) {
        const analyzer = start(args)
        await analyzer.waitFor(/--format auto reads .* as combined/)
        await untilErrors(errorsAfter)
        analyzer.child.kill("SIGTERM")
        const result = await analyzer.done
        expect(result.code, `run ${run}: ${result.stderr}`).toBe(0)
      }
      expect(errorUrls()).toEqual(["/a", "/c"])
      expect(readParts(path.join(dir, "out/rejected")).map((r) => r.reason)).toEqual([expect.stringMatching(/JSON line/)])
    } finally {
      server.close()
    }
  })
})
