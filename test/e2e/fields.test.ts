/**
 * `--field` end to end, with the README's two examples: nginx's `escape=json`
 * log and Caddy's JSON access log, replayed by the real CLI with the README's
 * flags. The expected `errors/` lines and windows are written out by hand.
 */
import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { readPartLines, readParts, run, tempDir } from "./cli.ts"

const README = fs.readFileSync(path.resolve("README.md"), "utf8")

const NGINX_SAMPLE =
  `{"time_iso8601":"2025-05-30T20:52:47+02:00","remote_addr":"203.0.113.7","request_method":"GET","request_uri":"/api/items?id=7","status":"404","body_bytes_sent":"153","http_user_agent":"curl/8.5.0"}`
const NGINX_FLAGS = ["--field", "timestamp=time_iso8601", "--field", "ip=remote_addr", "--field", "method=request_method", "--field", "url=request_uri"]

const CADDY_SAMPLE =
  `{"level":"info","ts":1748631167.5231447,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"198.51.100.23","remote_port":"51234","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/missing?x=1","headers":{"User-Agent":["curl/8.5.0"]}},"duration":0.000412,"size":9,"status":404}`
const CADDY_FLAGS = ["--field", "timestamp=ts", "--field", "ip=request.remote_ip", "--field", "method=request.method", "--field", "url=request.uri"]

const replay = async (lines: ReadonlyArray<string>, flags: ReadonlyArray<string>) => {
  const dir = tempDir("fields")
  const input = path.join(dir, "access.log")
  fs.writeFileSync(input, lines.map((l) => `${l}\n`).join(""))
  const result = await run(["analyze", "--input", input, ...flags, "--output", path.join(dir, "out"), "--checkpoint", path.join(dir, "cp")])
  expect(result.code, result.stderr).toBe(0)
  return {
    errors: readPartLines(path.join(dir, "out/errors")),
    windows: readParts(path.join(dir, "out/windows")).map((r) => `${r.window_start} ${r.status} ${r.error_count} ${r.unique_ips}`),
    rejected: readParts(path.join(dir, "out/rejected")).map((r) => r.line)
  }
}

describe("analyze --field (JSON logs of other programs)", () => {
  it("the README shows both samples and both commands", () => {
    expect(README).toContain(NGINX_SAMPLE)
    expect(README).toContain(CADDY_SAMPLE)
    expect(README).toContain(NGINX_FLAGS.join(" "))
    expect(README).toContain(CADDY_FLAGS.join(" "))
  })

  it("reads nginx's escape=json log: string statuses, zoned timestamps", async () => {
    const line = (time: string, ip: string, uri: string, status: string) =>
      `{"time_iso8601":"${time}","remote_addr":"${ip}","request_method":"GET","request_uri":"${uri}","status":"${status}","body_bytes_sent":"0","http_user_agent":"-"}`
    const got = await replay([
      NGINX_SAMPLE,
      line("2025-05-30T20:52:48+02:00", "203.0.113.8", "/login", "200"),
      line("2025-05-30T20:52:49+02:00", "203.0.113.9", "/api/items?id=7", "500"),
      line("2025-05-30T20:52:50+02:00", "203.0.113.9", "/x", "abc"),
      `{"time_iso8601":"2025-05-30T20:52:51+02:00","request_method":"GET","request_uri":"/x","status":"404"}`
    ], NGINX_FLAGS)
    expect(got.errors).toEqual([
      `{"timestamp":"2025-05-30T20:52:47+02:00","ip":"203.0.113.7","method":"GET","url":"/api/items?id=7","status":404}`,
      `{"timestamp":"2025-05-30T20:52:49+02:00","ip":"203.0.113.9","method":"GET","url":"/api/items?id=7","status":500}`
    ])
    expect(got.windows).toEqual(["2025-05-30T18:52:30.000Z 404 1 1", "2025-05-30T18:52:30.000Z 500 1 1"])
    expect(got.rejected).toHaveLength(2)
  })

  it("reads Caddy's log: epoch seconds (and milliseconds) and nested request fields", async () => {
    const line = (ts: string, ip: string, uri: string, status: number) =>
      `{"level":"info","ts":${ts},"request":{"remote_ip":"${ip}","method":"POST","uri":"${uri}"},"status":${status}}`
    const got = await replay([
      CADDY_SAMPLE,
      line("1748631168.0009", "198.51.100.24", "/a", 503),
      line("1748631169250", "198.51.100.24", "/a", 503),
      line("1748631170", "198.51.100.25", "/b", 200),
      `{"level":"info","ts":1748631171,"request":"GET /c","status":404}`
    ], CADDY_FLAGS)
    expect(got.errors).toEqual([
      `{"timestamp":"2025-05-30T18:52:47.523Z","ip":"198.51.100.23","method":"GET","url":"/missing?x=1","status":404}`,
      `{"timestamp":"2025-05-30T18:52:48.000Z","ip":"198.51.100.24","method":"POST","url":"/a","status":503}`,
      `{"timestamp":"2025-05-30T18:52:49.250Z","ip":"198.51.100.24","method":"POST","url":"/a","status":503}`
    ])
    expect(got.windows).toEqual(["2025-05-30T18:52:30.000Z 404 1 1", "2025-05-30T18:52:30.000Z 503 2 1"])
    expect(got.rejected).toEqual([`{"level":"info","ts":1748631171,"request":"GET /c","status":404}`])
  })

  it("refuses --field with a format of fixed fields, and a bad mapping, before reading anything", async () => {
    const dir = tempDir("fields-bad")
    const csv = await run(["analyze", "--input", "-", "--format", "csv", "--field", "ip=x", "--output", path.join(dir, "out")])
    expect(csv.code).toBe(2)
    expect(csv.stderr).toMatch(/--field maps the fields of JSON logs; --format csv has fixed fields/)
    const bad = await run(["analyze", "--input", "-", "--field", "bytes=body_bytes_sent", "--output", path.join(dir, "out")])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/--field expects NAME=PATH with NAME one of timestamp, ip, method, url, status/)
  })
})
