/// <reference lib="dom" />
/**
 * The dashboard in a real headless Chromium (Debian's `chromium`, driven by
 * puppeteer-core), against the built CLI with `--http` on a loopback port:
 * no request leaves loopback, the chart renders, the numbers are the ones
 * of `/metrics` and of an independent count of the input, strings from the
 * logs are shown as text and never run, two pages update at once, and a
 * page reconnects by itself to an analyzer started again on the same port.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import puppeteer, { type Browser, type Page } from "puppeteer-core"
import { BASE, eventually, fetchMetrics, line, metric, SECOND, startAnalyzer, type Analyzer } from "./support.ts"

const CHROMIUM = "/usr/bin/chromium"
if (!fs.existsSync(CHROMIUM)) {
  throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does`)
}

const W = 30 * SECOND
const HOSTILE = [
  `/<img src=x onerror="window.__xss=1">`,
  `"><script>window.__xss=2</script>`,
  `/</td><b id="injected">bold</b>`
]

/** The input, and what it must count to, worked out here line by line. */
const input = (() => {
  const lines: Array<string> = []
  const at = (window: number, second: number) => BASE + window * W + second * SECOND
  const plan: Array<[number, number, number]> = [[0, 40, 5], [1, 130, 20], [2, 60, 110], [3, 20, 10]] // window, 404s, 500s
  for (const [window, n404, n500] of plan) {
    for (let i = 0; i < 50; i++) lines.push(line(at(window, i % 20), 200))
    for (let i = 0; i < n404; i++) lines.push(line(at(window, i % 20), 404, `/resource/${i % 4}`, `10.0.${window}.${i % 50}`))
    for (let i = 0; i < n500; i++) lines.push(line(at(window, i % 20), 500, `/api/${i % 3}`, `10.1.${window}.${i % 9}`))
  }
  for (const url of HOSTILE) for (let i = 0; i < 30; i++) lines.push(line(at(3, 5), 403, url, "10.9.9.9"))
  lines.push("not json at all", "{\"timestamp\": 1}", "")
  // Window 3's records put the watermark at its start + 9 s: windows 0 to 2 are closed, so these are late.
  lines.push(line(at(0, 1), 404), line(at(1, 1), 500))
  const nonBlank = lines.filter((l) => l.trim() !== "")
  const statusOf = (l: string) => {
    try {
      return JSON.parse(l).status as number | undefined
    } catch {
      return undefined
    }
  }
  const errors: Record<string, number> = {}
  for (const l of nonBlank) {
    const s = statusOf(l)
    if (typeof s === "number" && s >= 400) errors[s] = (errors[s] ?? 0) + 1
  }
  return {
    lines,
    linesRead: nonBlank.length,
    rejected: 2,
    late: 2,
    errors,
    errorsTotal: Object.values(errors).reduce((a, b) => a + b, 0)
  }
})()

let browser: Browser
let analyzer: Analyzer | undefined
const outputs = fs.mkdtempSync(path.join(os.tmpdir(), "loglens-dashboard-"))
/** Every URL any page asked for. */
const requested: Array<string> = []

// Pages in the background get no animation frames: every wait below polls on a timer instead.
const openPage = async (url: string): Promise<Page> => {
  const page = await browser.newPage()
  await page.setViewport({ width: 1280, height: 1100 })
  page.on("request", (request) => void requested.push(request.url()))
  await page.goto(url, { waitUntil: "load" })
  return page
}
const textOf = (page: Page, selector: string) => page.$eval(selector, (el) => el.textContent ?? "")
const valueOf = async (page: Page, id: string) => Number(await page.$eval(`#${id}`, (el) => (el as HTMLElement).dataset["value"]))

beforeAll(async () => {
  console.log(`dashboard test outputs (screenshots): ${outputs}`)
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
  })
})

afterAll(async () => {
  await browser?.close()
  await analyzer?.stop()
})

describe("the dashboard", () => {
  it("shows the input's numbers, the same as /metrics, a chart, and log strings as text", async () => {
    analyzer = await startAnalyzer()
    await analyzer.write(input.lines)
    const page = await openPage(analyzer.url)
    await page.waitForFunction(
      (n) => document.getElementById("lines-read")?.dataset["value"] === String(n),
      { timeout: 15_000, polling: 100 },
      input.linesRead
    )
    // The top lists are ranked again at most every 2 s: wait for the one that saw the hostile URLs.
    await page.waitForFunction(
      (hostile) => hostile.every((url) => document.getElementById("top-urls")?.textContent?.includes(url)),
      { timeout: 15_000, polling: 100 },
      HOSTILE
    )

    // The totals, from the page, from /metrics, and from the count above.
    const samples = await fetchMetrics(analyzer.url)
    const shown = {
      lines: await valueOf(page, "lines-read"),
      errors: await valueOf(page, "errors"),
      late: await valueOf(page, "late"),
      rejected: await valueOf(page, "rejected")
    }
    expect(shown).toEqual({ lines: input.linesRead, errors: input.errorsTotal, late: input.late, rejected: input.rejected })
    expect(metric(samples, "loglens_lines_read_total")).toBe(shown.lines)
    expect(metric(samples, "loglens_lines_rejected_total")).toBe(shown.rejected)
    expect(metric(samples, "loglens_late_errors_total")).toBe(shown.late)
    for (const [status, n] of Object.entries(input.errors)) {
      expect(metric(samples, "loglens_errors_total", { status }), `status ${status}`).toBe(n)
    }
    expect(samples.filter((s) => s.name === "loglens_errors_total").reduce((a, s) => a + s.value, 0)).toBe(shown.errors)
    // Windows 1 (404) and 2 (500) crossed the threshold of 100.
    expect(metric(samples, "loglens_alerts_total", { status: "404" })).toBe(1)
    expect(metric(samples, "loglens_alerts_total", { status: "500" })).toBe(1)
    expect(metric(samples, "loglens_windows_open")).toBe(1)
    expect(metric(samples, "loglens_watermark_seconds")).toBe((BASE + 3 * W + 9 * SECOND) / 1000)
    // The late errors (windows 0 and 1, their second 1) trailed the newest event time (window 3, its second 19)
    // by 3W + 18 s at most; counting window 0's would have needed a watermark of newest − its end + 1 ms.
    expect(metric(samples, "loglens_late_behind_seconds")).toBe((3 * W + 18 * SECOND) / 1000)
    expect(metric(samples, "loglens_late_watermark_needed_seconds")).toBe((2 * W + 19 * SECOND + 1) / 1000)
    expect(metric(samples, "process_cpu_seconds_total")).toBeGreaterThan(0)
    // Labels are statuses (and partitions, destinations), never a URL or an IP.
    for (const s of samples) {
      for (const value of Object.values(s.labels)) expect(value).not.toMatch(/resource|api|<|10\.\d/)
    }
    expect((await textOf(page, "#windows-open")).trim()).toBe("1")

    // The chart: uPlot drew its canvas over the four windows, with a series per status.
    await page.waitForSelector("#chart canvas")
    expect(await page.$eval("#chart", (el) => (el as HTMLElement).dataset["points"])).toBe("4")
    expect(await page.$eval("#chart", (el) => (el as HTMLElement).dataset["statuses"])).toBe("403,404,500")
    const legend = await page.$$eval("#chart .u-legend .u-label", (els) => els.map((e) => e.textContent))
    expect(legend).toEqual(expect.arrayContaining(["403", "404", "500", "threshold"]))

    // Alert states: 404 resolved (window 2 closed with 60 of them), 500 firing (window 3 is still open).
    const states = await page.$$eval("#alert-states tbody tr", (rows) =>
      rows.map((r) => [r.children[0]!.textContent, r.children[1]!.textContent]))
    expect(states).toEqual([["404", "resolved"], ["500", "firing"]])

    // Hostile URLs are in the top list as text; nothing of them became markup or ran.
    const urls = await page.$$eval("#top-urls tbody tr td:first-child", (tds) => tds.map((td) => td.textContent))
    for (const url of HOSTILE) expect(urls).toContain(url)
    expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined()
    expect(await page.$$("img")).toHaveLength(0)
    expect(await page.$("#injected")).toBeNull()
    expect(await page.$$eval("script", (s) => s.map((e) => e.getAttribute("src")))).toEqual([
      "/assets/uPlot.min.js",
      "/assets/dashboard.js"
    ])

    // Nothing was asked of any host but the analyzer's own loopback port.
    const origin = new URL(analyzer.url).origin
    expect(requested.length).toBeGreaterThan(0)
    for (const url of requested) expect(new URL(url).origin).toBe(origin)

    const screenshot = path.join(outputs, "dashboard.png")
    await page.screenshot({ path: screenshot, fullPage: true })
    console.log(`dashboard screenshot: ${screenshot}`)
    expect(fs.statSync(screenshot).size).toBeGreaterThan(10_000)

    // The JSON snapshot for scripts says the same.
    const snapshot = await (await fetch(`${analyzer.url}api/snapshot`)).json() as any
    expect(snapshot.counters.lines).toBe(input.linesRead)
    expect(snapshot.topUrls.map((u: { value: string }) => u.value)).toEqual(expect.arrayContaining(HOSTILE))
    await page.close()
    await analyzer.stop()
    analyzer = undefined
  })

  it("updates two pages at once, and a page reconnects to an analyzer started again on the same port", async () => {
    const first = await startAnalyzer()
    analyzer = first
    const port = new URL(first.url).port
    await first.write([line(BASE, 200)])
    const pages = [await openPage(first.url), await openPage(first.url)]
    const before = 1
    await first.write([line(BASE + 15 * SECOND, 200), line(BASE + 15 * SECOND, 404)])
    for (const page of pages) {
      await page.waitForFunction((n) => document.getElementById("lines-read")?.dataset["value"] === String(n), {
        timeout: 15_000, polling: 100
      }, before + 2)
    }

    // The analyzer goes away: the pages say so, and come back by themselves once one listens again.
    await first.stop()
    analyzer = undefined
    for (const page of pages) {
      await page.waitForFunction(() => document.getElementById("connection")?.dataset["state"] === "reconnecting", {
        timeout: 15_000, polling: 100
      })
    }
    analyzer = await eventually(async () => {
      try {
        return await startAnalyzer([], `127.0.0.1:${port}`)
      } catch {
        return undefined // the port may take a moment to be free again
      }
    }, `an analyzer on port ${port}`)
    await analyzer.write([line(BASE, 200), line(BASE, 200), line(BASE, 200)])
    for (const page of pages) {
      await page.waitForFunction(
        () =>
          document.getElementById("connection")?.dataset["state"] === "live" &&
          document.getElementById("lines-read")?.dataset["value"] === "3",
        { timeout: 15_000, polling: 100 }
      )
    }
    await pages[0]!.screenshot({ path: path.join(outputs, "dashboard-reconnected.png") })
    for (const page of pages) await page.close()
  })
})
