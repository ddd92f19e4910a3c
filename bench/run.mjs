// `npm run bench`: loglens's performance figures (issues 5 and 13), each next to a
// plain-Node reference measured in the same run. See bench/README.md.
//
// Env: BENCH_RUNS (3), BENCH_LINES (1000000), BENCH_E2E_SECONDS (30), BENCH_E2E_RATE (800000),
//      BENCH_ONLY (comma list of figure numbers), KAFKA_BROKERS (localhost:9092), BENCH_KAFKA_LINES (2000000),
//      BENCH_LATENCY_SAMPLES (50), BENCH_FOLLOW_RATE (200000), BENCH_FOLLOW_SECONDS (20),
//      BENCH_GROUP_LINES (1000000), BENCH_GROUP_SIZES (1,2,3), BENCH_PARTIALS_RATES (100,1000), BENCH_PARTIALS_SECONDS (20).
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const MAIN = path.join(ROOT, "dist/main.js")
const REF = path.join(ROOT, "bench/ref.mjs")
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const LINES = Number(process.env.BENCH_LINES ?? 1_000_000)
const E2E_SECONDS = Number(process.env.BENCH_E2E_SECONDS ?? 30)
const E2E_RATE = Number(process.env.BENCH_E2E_RATE ?? 800_000)
const KAFKA_LINES = Number(process.env.BENCH_KAFKA_LINES ?? 2_000_000)
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 50)
const FOLLOW_RATE = Number(process.env.BENCH_FOLLOW_RATE ?? 200_000)
const FOLLOW_SECONDS = Number(process.env.BENCH_FOLLOW_SECONDS ?? 20)
const GROUP_LINES = Number(process.env.BENCH_GROUP_LINES ?? 1_000_000)
const GROUP_SIZES = (process.env.BENCH_GROUP_SIZES ?? "1,2,3").split(",").map(Number)
const PARTIALS_RATES = (process.env.BENCH_PARTIALS_RATES ?? "100,1000").split(",").filter(Boolean).map(Number)
const PARTIALS_SECONDS = Number(process.env.BENCH_PARTIALS_SECONDS ?? 20)
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",").map(Number)) : undefined
const BROKERS = process.env.KAFKA_BROKERS ?? "localhost:9092"
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), "loglens-bench-"))
const children = new Set()

const now = () => performance.now()
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
// A time limit to race against: it does not keep the bench alive once the race is won.
const deadlineOf = (ms) => new Promise((r) => setTimeout(r, ms).unref())
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}
const fmt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "—")
const log = (...a) => console.error("bench:", ...a)

/** Spawns `node ...args`; collects stderr; `exited` resolves with the exit code. */
const run = (args, options = {}) => {
  // As the CLI's shebang: kafkajs's harmless negative timers would print a Node warning each.
  const child = spawn(process.execPath, ["--disable-warning=TimeoutNegativeWarning", ...args], { cwd: WORK, stdio: ["ignore", "pipe", "pipe"], ...options })
  children.add(child)
  let stderr = ""
  child.stderr.setEncoding("utf8")
  child.stderr.on("data", (d) => {
    stderr += d
    child.emit("stderr-text", stderr)
  })
  child.exited = new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      children.delete(child)
      resolve(code ?? signal)
    }))
  child.stderrText = () => stderr
  return child
}
const waitFor = (child, pattern, timeoutMs = 60_000) =>
  new Promise((resolve, reject) => {
    const check = (text) => {
      const m = pattern.exec(text)
      if (m) {
        child.off("stderr-text", check)
        clearTimeout(timer)
        resolve(m)
      }
    }
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern} in: ${child.stderrText()}`)), timeoutMs)
    child.on("stderr-text", check)
    check(child.stderrText())
  })
const refResult = async (child) => {
  await child.exited
  const m = /ref: (\{.*\})/.exec(child.stderrText())
  if (!m) throw new Error(`reference failed: ${child.stderrText()}`)
  return JSON.parse(m[1])
}
const analyzerSummary = (text) => {
  const m = /read ([\d,]+) lines in ([\d.]+) s \(([\d,]+) lines\/s\), CPU ([\d.]+) s, peak RSS (\d+) MB/.exec(text)
  if (!m) throw new Error(`no analyzer summary in: ${text.slice(-2000)}`)
  const n = (s) => Number(s.replaceAll(",", ""))
  return { lines: n(m[1]), seconds: Number(m[2]), rate: n(m[3]), cpuSeconds: Number(m[4]), rssMb: Number(m[5]) }
}

/** Counts newlines of a readable from its first byte to its end. */
const countLines = (readable) =>
  new Promise((resolve, reject) => {
    let lines = 0, first
    readable.on("data", (chunk) => {
      first ??= now()
      let i = -1
      while ((i = chunk.indexOf(10, i + 1)) !== -1) lines++
    })
    readable.on("end", () => resolve({ lines, seconds: (now() - first) / 1000 }))
    readable.on("error", reject)
  })

/** `[ms, N]` for every `lines read N` a child prints on stdout (loglens's console report, a reference's progress). */
const linesReadSamples = (child) => {
  const points = []
  let buffer = ""
  child.stdout.setEncoding("utf8")
  child.stdout.on("data", (d) => {
    buffer += d
    let nl
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      const m = /lines read ([\d,]+)/.exec(line)
      if (m) points.push([now(), Number(m[1].replaceAll(",", ""))])
    }
  })
  return points
}

/**
 * Keeping up with a source that produces `rate` lines/s, from samples `[ms, lines read]`: the mean rate,
 * the slowest 1 s, and the lag (lines produced by then, `producedAt(ms)`, minus lines read; by default
 * the lines due at the rate since the first sample) over the first and last thirds; "growing" = the
 * last third's median lag exceeds the first's by more than 1 s of lines.
 */
const keepingUp = (measured, rate, producedAt = (t) => measured[0][1] + (rate * (t - measured[0][0])) / 1000) => {
  const [tStart, lStart] = measured[0], [tEnd, lEnd] = measured.at(-1)
  const lagAt = ([t, l]) => producedAt(t) - l
  const third = Math.floor(measured.length / 3)
  const lagFirst = median(measured.slice(0, third).map(lagAt))
  const lagLast = median(measured.slice(-third).map(lagAt))
  const perSecond = []
  for (let i = 0; i < measured.length; i++) {
    const j = measured.findIndex(([t]) => t >= measured[i][0] + 1000)
    if (j > 0) perSecond.push(((measured[j][1] - measured[i][1]) / (measured[j][0] - measured[i][0])) * 1000)
  }
  return {
    mean: ((lEnd - lStart) / (tEnd - tStart)) * 1000,
    slowest: Math.min(...perSecond),
    lagFirst,
    lagLast,
    growing: lagLast - lagFirst > rate
  }
}

// ---------------------------------------------------------------------------------------------

const rows = []
const notes = []
const row = (r) => {
  rows.push(r)
  log(`${r.figure}: loglens ${r.value}, reference ${r.reference}, ratio ${r.ratio}, ${r.pass}${r.runs ? ` (runs: ${r.runs})` : ""}`)
}
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : "—")
const verdict = (ok) => (ok ? "PASS" : "FAIL")

/** `RUNS` alternating product/reference runs; returns both medians and samples. */
const alternate = async (product, reference) => {
  const p = [], r = []
  for (let i = 0; i < RUNS; i++) {
    p.push(await product(i))
    r.push(await reference(i))
  }
  return { p: median(p), r: median(r), ps: p, rs: r }
}
const samples = (xs) => xs.map(fmt).join(" / ")

const figures = {
  async 1() {
    const m = await alternate(
      async (i) => {
        const c = run([MAIN, "generate", "--rate", "0", "--count", String(LINES), "--seed", `g${i}`])
        const { lines, seconds } = await countLines(c.stdout)
        if ((await c.exited) !== 0 || lines !== LINES) throw new Error(`generator: ${lines} lines, ${c.stderrText()}`)
        return lines / seconds
      },
      async () => {
        const c = run([REF, "gen-stdout", String(LINES)])
        const { lines, seconds } = await countLines(c.stdout)
        await c.exited
        return lines / seconds
      }
    )
    row({
      figure: "1. generator --rate 0, JSON to stdout",
      value: `${fmt(m.p)} lines/s`, reference: `${fmt(m.r)} lines/s`, ratio: ratio(m.p, m.r),
      target: "≥ 1,000,000 lines/s", pass: verdict(m.p >= 1e6), runs: `${samples(m.ps)} | ref ${samples(m.rs)}`
    })
  },

  async 2() {
    const client = async (port) => {
      const socket = net.connect({ port, host: "127.0.0.1" })
      return countLines(socket)
    }
    const m = await alternate(
      async (i) => {
        const c = run([MAIN, "generate", "--rate", "0", "--count", String(LINES), "--seed", `t${i}`, "--listen", "0"])
        const [, port] = await waitFor(c, /tcp:\/\/127\.0\.0\.1:(\d+)/)
        const { lines, seconds } = await client(Number(port))
        await c.exited
        if (lines !== LINES) throw new Error(`TCP client got ${lines} lines`)
        return lines / seconds
      },
      async () => {
        const c = run([REF, "gen-tcp", String(LINES)])
        const [, port] = await waitFor(c, /listening on (\d+)/)
        const { lines, seconds } = await client(Number(port))
        await c.exited
        return lines / seconds
      }
    )
    row({
      figure: "2. generator --listen → one TCP client",
      value: `${fmt(m.p)} lines/s`, reference: `${fmt(m.r)} lines/s`, ratio: ratio(m.p, m.r),
      target: "≥ 800,000 lines/s", pass: verdict(m.p >= 8e5), runs: `${samples(m.ps)} | ref ${samples(m.rs)}`
    })
  },

  async 3() {
    await replayFigure("json", "3. analyzer --input replay, JSON, 10 % errors", "analyze-json", true)
  },

  async 4() {
    await replayFigure("csv", "4. analyzer --input replay, CSV", "analyze-csv", false)
  },

  async 11() {
    await replayFigure("combined", "11. analyzer --input replay, combined (nginx/Apache access log)", "analyze-combined", false, 1.2e6)
  },

  async 5() {
    // loglens: generator --listen at the target rate → analyzer over TCP, lines read sampled every 200 ms.
    const gen = run([MAIN, "generate", "--rate", String(E2E_RATE), "--seed", "e2e", "--listen", "0"])
    const [, port] = await waitFor(gen, /tcp:\/\/127\.0\.0\.1:(\d+)/)
    const out = path.join(WORK, "e2e")
    const an = run([
      MAIN, "analyze", "--port", port, "--host", "127.0.0.1", "--trigger", "200ms",
      "--output", path.join(out, "output"), "--checkpoint", path.join(out, "checkpoint"), "--clean"
    ])
    const points = linesReadSamples(an)
    const deadline = now() + 60_000
    while (!(points.length > 0 && points.at(-1)[1] > 0) && now() < deadline) await sleep(50)
    const t0 = points.at(-1)?.[0] ?? now()
    await sleep(E2E_SECONDS * 1000)
    an.kill("SIGTERM")
    gen.kill("SIGTERM")
    await Promise.all([an.exited, gen.exited])
    const measured = points.filter(([t]) => t >= t0 && t <= t0 + E2E_SECONDS * 1000 + 100)
    const { mean, slowest, lagFirst, lagLast, growing } = keepingUp(measured, E2E_RATE)
    // Reference: plain TCP server at rate 0 → plain client JSON.parse-ing every line, 10 s.
    const refSeconds = Math.min(10, E2E_SECONDS)
    const rs = run([REF, "gen-tcp", "0"])
    const [, refPort] = await waitFor(rs, /listening on (\d+)/)
    const rc = run([REF, "tcp-json", refPort, String(refSeconds)])
    const ref = await refResult(rc)
    rs.kill("SIGTERM")
    await rs.exited
    const refRate = ref.lines / ref.seconds
    row({
      figure: `5. generator → TCP → analyzer, ${E2E_SECONDS} s at --rate ${fmt(E2E_RATE)}`,
      value: `${fmt(mean)} lines/s (slowest 1 s: ${fmt(slowest)}); lag ${fmt(lagFirst)} → ${fmt(lagLast)} lines`,
      reference: `${fmt(refRate)} lines/s (rate 0, ${refSeconds} s)`, ratio: ratio(mean, refRate),
      target: "≥ 800,000 lines/s for 30 s, no growing lag", pass: verdict(mean >= 8e5 && !growing),
      runs: `1 run of ${E2E_SECONDS} s (${measured.length} samples)`
    })
  },

  async 6() {
    const reason = await kafkaUnavailable()
    if (reason !== undefined) {
      const skip = `not measured: ${reason}`
      row({ figure: "6. generator → Kafka → analyzer", value: skip, reference: "—", ratio: "—", target: "≥ 150,000 events/s and ≥ 0.85× the kafkajs ceiling", pass: "NOT MEASURED", runs: "" })
      row({ figure: "8b. alert latency, production (Kafka)", value: skip, reference: "—", ratio: "—", target: "≤ 250 ms p99", pass: "NOT MEASURED", runs: "" })
      return
    }
    const env = { ...process.env, KAFKA_BROKERS: BROKERS }
    // The same backlog over 3 (the default) and 6 partitions: the analyzer next to the raw kafkajs ceiling.
    for (const partitions of [3, 6]) await kafkaThroughput(env, partitions)
    // One partition, and the default three: there each partition holds about a third of the 101 errors.
    for (const partitions of [1, 3]) await kafkaLatency(env, partitions)
  },

  async 7() {
    // One window (1 h wide) holding 1,000,000 errors from ~1,000,000 distinct IPs and 10,000 URLs.
    const file = path.join(WORK, "memory.jsonl")
    const gen = run([MAIN, "generate", "--rate", "0", "--count", "1000000", "--seed", "memory", "--urls", "10000", "--status-dist", "0", "100", "0"], {
      stdio: ["ignore", fs.openSync(file, "w"), "pipe"]
    })
    await gen.exited
    const rss = [], errs = []
    let truth
    for (let i = 0; i < RUNS; i++) {
      const out = path.join(WORK, `memory-${i}`)
      const an = run([MAIN, "analyze", "--input", file, "--window", "1h", "--trigger", "1h", "--output", path.join(out, "output"), "--checkpoint", path.join(out, "checkpoint"), "--clean"])
      an.stdout.resume()
      if ((await an.exited) !== 0) throw new Error(`memory analyzer failed: ${an.stderrText()}`)
      rss.push(analyzerSummary(an.stderrText()).rssMb)
      const windowRows = fs.readdirSync(path.join(out, "output/windows"))
        .flatMap((f) => fs.readFileSync(path.join(out, "output/windows", f), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)))
      if (windowRows.length !== 1) notes.push(`memory run ${i}: the errors fell in ${windowRows.length} windows (a 1 h boundary was crossed)`)
      truth ??= await refResult(run([REF, "distinct", file]))
      const estimate = windowRows.reduce((s, r) => s + r.unique_ips, 0)
      const urls = new Set(windowRows.flatMap((r) => r.urls)).size
      if (urls !== truth.urls) notes.push(`memory run ${i}: ${urls} URLs in the window rows, ${truth.urls} in the file`)
      errs.push(Math.abs(estimate - truth.ips) / truth.ips)
    }
    const refRss = truth.rssMb
    row({
      figure: `7. memory: ${fmt(truth.ips)} distinct IPs, ${fmt(truth.urls)} URLs, one window`,
      value: `RSS ${median(rss)} MB; unique_ips error ${(median(errs) * 100).toFixed(2)} %`,
      reference: `RSS ${refRss} MB (exact Sets of IPs and URLs)`, ratio: ratio(median(rss), refRss),
      target: "RSS ≤ 250 MB; error ≤ 2 %", pass: verdict(median(rss) <= 250 && Math.max(...errs) <= 0.02),
      runs: `RSS ${rss.join(" / ")} MB; error ${errs.map((e) => (e * 100).toFixed(2) + " %").join(" / ")}`
    })
  },

  async 9() {
    // Each run replays figure 3's file and then this one back to back, so the ratio to figure 3 is the
    // median of paired runs: one noisy stretch of the machine then moves both sides of a pair. The same
    // runs replay the steps between the two files (VARIED_STEPS), to show what each feature costs.
    const files = VARIED_STEPS.map((step, level) => {
      const file = path.join(WORK, `varied-${level}.jsonl`)
      writeVariedJson(file, LINES, level)
      return file
    })
    const file = files[files.length - 1]
    const shapedFile = await generatedFile("json")
    const shaped = [], ratios = [], stepRatios = VARIED_STEPS.map(() => [])
    const m = await alternate(async (i) => {
      shaped.push(await analyzerReplayRate(shapedFile, "json", LINES, `shaped-${i}`))
      let varied = 0
      for (let level = 0; level < files.length; level++) {
        varied = await analyzerReplayRate(files[level], "json", LINES, `varied-${level}-${i}`)
        stepRatios[level].push(varied / shaped[i])
      }
      ratios.push(varied / shaped[i])
      return varied
    }, () => referenceRate("analyze-json", file))
    const pairRatio = median(ratios)
    // The same pairs in bytes per second: the varied lines are longer, and the decoder reads every byte.
    const bytesPerLine = (f) => fs.statSync(f).size / LINES
    const byteRatio = pairRatio * bytesPerLine(file) / bytesPerLine(shapedFile)
    const steps = VARIED_STEPS.map((step, level) =>
      `${step} (${bytesPerLine(files[level]).toFixed(0)} B per line) ${ratio(median(stepRatios[level]), 1)}`
    )
    row({
      figure: "9. analyzer --input replay, varied JSON (4 layouts and zones, 0-9 fraction digits, extra fields, 12 % errors, 50,000 IPs)",
      value: `${fmt(m.p)} lines/s (${ratio(pairRatio, 1)} figure 3's file in paired runs; in bytes/s ${ratio(byteRatio, 1)}, at ${bytesPerLine(file).toFixed(0)} against ${bytesPerLine(shapedFile).toFixed(0)} B per line)`,
      reference: `${fmt(m.r)} lines/s (JSON.parse every line)`, ratio: ratio(m.p, m.r),
      target: "≥ 1,500,000 lines/s and ≥ 0.9× figure 3's file", pass: verdict(m.p >= 1.5e6 && pairRatio >= 0.9),
      runs: `${samples(m.ps)} | figure 3's file ${samples(shaped)} | ref ${samples(m.rs)} | step by step, against figure 3's file in the same runs: ${steps.join("; ")}`
    })
  },

  async 16() {
    for (const shape of MAPPED_SHAPES) {
      const file = path.join(WORK, `mapped-${shape.name.split(" ")[0].toLowerCase()}.jsonl`)
      writeMappedJson(file, LINES, shape)
      const m = await replay(file, "json", "analyze-json", LINES, shape.fields)
      row({
        figure: `16. analyzer --input replay, JSON of another program with --field: ${shape.name}, 12 % errors, 50,000 IPs (${fmt(fs.statSync(file).size / LINES)} B per line)`,
        value: `${fmt(m.p)} lines/s`, reference: `${fmt(m.r)} lines/s (JSON.parse every line)`, ratio: ratio(m.p, m.r),
        target: "≥ 1.0× reference", pass: verdict(m.p >= m.r), runs: `${samples(m.ps)} | ref ${samples(m.rs)}`
      })
    }
  },

  async 8() {
    // A bench TCP server feeds the analyzer; per sample, 100 errors of a fresh status, a pause,
    // then the 101st; latency = write of the 101st line → the alert's part file appearing in alerts/.
    const out = path.join(WORK, "latency")
    const alertsDir = path.join(out, "output/alerts")
    let socket
    const connected = new Promise((resolve) => {
      const server = net.createServer({ noDelay: true }, (s) => {
        server.close()
        socket = s
        resolve()
      }).listen(0, "127.0.0.1", () => startAnalyzer(server.address().port))
    })
    let an
    const startAnalyzer = (port) => {
      an = run([MAIN, "analyze", "--port", String(port), "--host", "127.0.0.1", "--trigger", "1h", "--output", path.join(out, "output"), "--checkpoint", path.join(out, "checkpoint"), "--clean"])
      an.stdout.resume()
    }
    await connected
    await sleep(500)
    fs.mkdirSync(alertsDir, { recursive: true })
    const timestamp = new Date().toISOString()
    const line = (status, i) =>
      `{"timestamp":"${timestamp}","ip":"10.0.${i >> 8}.${i & 255}","method":"GET","url":"/resource/${i % 7}","status":${status}}\n`
    const latencies = []
    for (let k = 0; k < Math.min(LATENCY_SAMPLES, 190); k++) {
      const status = 400 + k
      socket.write(Array.from({ length: 100 }, (_, i) => line(status, i)).join(""))
      await sleep(150)
      const seen = new Promise((resolve) => {
        const watcher = fs.watch(alertsDir, (_event, name) => {
          if (name && name.startsWith("part-") && name.endsWith(".jsonl")) {
            const at = now()
            watcher.close()
            resolve(at)
          }
        })
      })
      const t0 = now()
      socket.write(line(status, 100))
      const at = await Promise.race([seen, sleep(5000).then(() => NaN)])
      latencies.push(at - t0)
    }
    socket.end()
    an.kill("SIGTERM")
    await an.exited
    const alerts = fs.readdirSync(alertsDir).flatMap((f) => fs.readFileSync(path.join(alertsDir, f), "utf8").split("\n").filter(Boolean))
    if (alerts.length !== latencies.length) notes.push(`alert latency: ${alerts.length} alerts for ${latencies.length} samples`)
    const p99 = percentile(latencies, 99)
    row({
      figure: `8. alert latency, local (${latencies.length} alerts)`,
      value: `p50 ${median(latencies).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
      reference: "—", ratio: "—", target: "≤ 50 ms p99", pass: verdict(p99 <= 50),
      runs: `max ${Math.max(...latencies).toFixed(1)} ms`
    })
  },
  async 13() {
    for (const cells of [1_000, 10_000, 30_000]) await checkpointFigure(cells)
  },

  async 12() {
    // A log writer appends to a file at FOLLOW_RATE; the follower's "lines read" is sampled every 200 ms.
    const follow = async (name, args) => {
      const file = path.join(WORK, `follow-${name}.log`)
      fs.writeFileSync(file, "")
      const reader = run(args(file))
      await waitFor(reader, /analysing|ref: following/)
      await sleep(500) // the file is open and watched
      const points = linesReadSamples(reader)
      const writer = run([REF, "append-file", file, String(FOLLOW_RATE), String(FOLLOW_SECONDS)])
      const progress = [] // [ms, lines written]
      writer.stdout.setEncoding("utf8")
      writer.stdout.on("data", (d) => {
        for (const m of d.matchAll(/written (\d+)/g)) progress.push([now(), Number(m[1])])
      })
      await waitFor(writer, /ref: writing/)
      const writerStart = now()
      progress.push([writerStart, 0])
      const written = await refResult(writer)
      const writerEnd = now()
      while ((points.at(-1)?.[1] ?? 0) < written.lines && now() < writerEnd + 15_000) await sleep(50)
      const caughtUp = points.find(([, l]) => l >= written.lines)
      reader.kill("SIGTERM")
      await reader.exited
      // The samples while the writer wrote; lag = lines it had written by then (between its two
      // reports around the sample, pro rata) minus lines read.
      const measured = points.filter(([t]) => t >= writerStart && t <= writerEnd)
      const writtenAt = (t) => {
        const i = progress.findLastIndex(([at]) => at <= t)
        const [[t0, n0], [t1, n1]] = [progress[i], progress[i + 1] ?? progress[i]]
        return t1 > t0 ? n0 + ((n1 - n0) * (t - t0)) / (t1 - t0) : n0
      }
      return {
        ...keepingUp([[writerStart, 0], ...measured], FOLLOW_RATE, writtenAt),
        writtenRate: written.lines / written.seconds,
        behindAtEndMs: caughtUp === undefined ? Infinity : Math.max(0, caughtUp[0] - writerEnd),
        stderr: reader.stderrText(),
        samples: measured.length
      }
    }
    const out = path.join(WORK, "follow")
    const loglens = await follow("loglens", (file) => [
      MAIN, "analyze", "--input", file, "--follow", "--trigger", "200ms",
      "--output", path.join(out, "output"), "--checkpoint", path.join(out, "checkpoint"), "--clean"
    ])
    const reference = await follow("ref", (file) => [REF, "follow-count", file])
    const cpu = analyzerSummary(loglens.stderr)
    const describe = (r) =>
      `${fmt(r.mean)} lines/s (slowest 1 s: ${fmt(r.slowest)}); lag ${fmt(r.lagFirst)} → ${fmt(r.lagLast)} lines; ` +
      `all read ${Number.isFinite(r.behindAtEndMs) ? `${fmt(r.behindAtEndMs)} ms` : "not within 15 s"} after the last write`
    row({
      figure: `12. following a file appended to at ${fmt(FOLLOW_RATE)} lines/s for ${FOLLOW_SECONDS} s (--follow)`,
      value: `${describe(loglens)}; CPU ${((cpu.cpuSeconds / cpu.seconds) * 100).toFixed(0)} % of a core`,
      reference: `${describe(reference)} (fs.watch + read loop counting lines)`,
      ratio: ratio(loglens.mean, reference.mean),
      target: "keeps up: mean ≥ 0.98 × the writer's rate, lag not growing, all read within 1 s of the last write",
      pass: verdict(loglens.mean >= 0.98 * loglens.writtenRate && !loglens.growing && loglens.behindAtEndMs <= 1000),
      runs: `1 run each (${loglens.samples} / ${reference.samples} samples); the writer held ${fmt(loglens.writtenRate)} / ${fmt(reference.writtenRate)} lines/s`
    })
  },

  async 10() {
    const file = await generatedFile("json")
    const frames = [], cpu = [], cpuWithout = []
    const m = await alternate(
      async (i) => {
        const r = await replayRun(file, path.join(WORK, `replay-http-${i}`), true)
        frames.push(r.frames)
        cpu.push(r.cpu)
        return r.rate
      },
      async (i) => {
        const r = await replayRun(file, path.join(WORK, `replay-nohttp-${i}`), false)
        cpuWithout.push(r.cpu)
        return r.rate
      }
    )
    row({
      figure: "10. analyzer --input replay, JSON, with --http and a dashboard's event stream open",
      value: `${fmt(m.p)} lines/s`, reference: `${fmt(m.r)} lines/s (the same replay without --http)`,
      ratio: ratio(m.p, m.r), target: "≥ 0.95× the replay without --http", pass: verdict(m.p >= 0.95 * m.r),
      runs: `${samples(m.ps)} | without ${samples(m.rs)} | process CPU s ${cpu.join(" / ")} | without ${cpuWithout.join(" / ")} | ` +
        `SSE frames received ${frames.join(" / ")}`
    })
  }
}

// Figures 14 and 15 share one bench: measured once per bench run, by whichever runs first.
let groupBenchResult

Object.assign(figures, {
  async 14() {
    const reason = await kafkaUnavailable()
    if (reason !== undefined) {
      row({ figure: "14. N analyzers in one consumer group", value: `not measured: ${reason}`, reference: "—", ratio: "—", target: "", pass: "NOT MEASURED", runs: "" })
      return
    }
    groupBenchResult ??= await groupBench(GROUP_SIZES, true)
    const { truth, results } = groupBenchResult
    for (const n of GROUP_SIZES) {
      const { loglens, reference } = results.get(n)
      const rate = median(loglens.map((r) => r.rate)), refRate = median(reference.map((r) => r.rate))
      const cpu = median(loglens.map((r) => r.cpuPerMillion)), refCpu = median(reference.map((r) => r.cpuPerMillion))
      const wrong = loglens.flatMap((r, i) => r.problems.map((p) => `run ${i + 1}: ${p}`))
      for (const w of wrong) notes.push(`figure 14, N = ${n}: ${w}`)
      const perRun = (rs) => rs.map((r) =>
        `${fmt(r.rate)} ev/s ${r.cpuPerMillion.toFixed(2)} CPU s/M (joined ${r.joinSeconds.toFixed(1)} s after start with ${fmt(r.committedAtJoin)} committed; ` +
        `from start ${fmt(r.fromStartRate)} ev/s ${r.fromStartCpuPerMillion.toFixed(2)} CPU s/M; lines read ${fmt(r.linesRead)})`).join(" / ")
      row({
        figure: `14. ${n} analyzer process${n === 1 ? "" : "es"} in one group, ${GROUP_PARTITIONS}-partition backlog of ${fmt(truth.lines)} lines (10 % errors), joined → all committed`,
        value: `${fmt(rate)} events/s, ${cpu.toFixed(2)} CPU s per M events`,
        reference: `${fmt(refRate)} events/s, ${refCpu.toFixed(2)} CPU s per M events (${n} plain kafkajs consumer${n === 1 ? "" : "s"} in one group, JSON.parse per line)`,
        ratio: `${ratio(rate, refRate)} (CPU ${ratio(cpu, refCpu)})`,
        target: "every line once: errors/, windows/ and alerts equal the topic's own counts",
        pass: verdict(wrong.length === 0),
        runs: `${perRun(loglens)} | ref ${perRun(reference)}`
      })
    }
  },

  async 15() {
    const reason = await kafkaUnavailable()
    if (reason !== undefined) {
      row({ figure: "15. internal topic bytes per input byte", value: `not measured: ${reason}`, reference: "—", ratio: "—", target: "≤ 2 % at 10 % errors", pass: "NOT MEASURED", runs: "" })
      return
    }
    // Alone (BENCH_ONLY=15), one analyzer's runs and no reference.
    groupBenchResult ??= await groupBench([1], false)
    const { truth, results } = groupBenchResult
    const one = results.get(1)?.loglens ?? []
    if (one.length === 0) throw new Error("figure 15 needs the N = 1 runs of figure 14 (BENCH_GROUP_SIZES without 1)")
    const share = median(one.map((r) => r.partials.valueBytes / truth.valueBytes))
    const others = [...results].filter(([n]) => n !== 1)
      .map(([n, { loglens }]) => `N = ${n}: ${loglens.map((r) => pct(r.partials.valueBytes / truth.valueBytes)).join(" / ")}`)
    row({
      figure: `15. internal topic bytes per input byte, 1 analyzer, ${fmt(truth.lines)} lines with ${pct(truth.errors / truth.lines)} errors`,
      value: `${pct(share)} (${fmt(median(one.map((r) => r.partials.valueBytes)))} B of partials and reports)`,
      reference: `${fmt(truth.valueBytes)} B of input values`, ratio: "—",
      target: "≤ 2 % at 10 % errors", pass: verdict(one.every((r) => r.partials.valueBytes / truth.valueBytes <= 0.02)),
      runs: one.map((r) => `${pct(r.partials.valueBytes / truth.valueBytes)}: ${fmt(r.partials.messages)} messages (${fmt(r.partials.cells)} cells, ` +
        `${fmt(r.partials.reports)} reports), keys ${fmt(r.partials.keyBytes)} B`).join(" / ") + (others.length ? `; ${others.join("; ")}` : "")
    })
    // The same ratio for a live topic: per epoch, a report per partition and a cell per (window, status) touched;
    // at the lowest rate also with epochs five times as long.
    const live = PARTIALS_RATES.map((rate) => ({ rate, commitInterval: undefined }))
    if (live.length > 0) live.push({ rate: Math.min(...PARTIALS_RATES), commitInterval: "5s" })
    for (const { rate, commitInterval } of live) {
      const r = await livePartials(rate, commitInterval)
      row({
        figure: `15b. internal topic bytes per input byte, live: 1 analyzer${commitInterval === undefined ? "" : ` with --commit-interval ${commitInterval}`}, ` +
          `generator at --rate ${fmt(rate)} for ${PARTIALS_SECONDS} s (${GROUP_PARTITIONS} partitions, 10 % errors)`,
        value: `${pct(r.partials.valueBytes / r.inputBytes)} (${fmt(r.partials.valueBytes)} B of partials and reports)`,
        reference: `${fmt(r.inputBytes)} B of input values (${fmt(r.lines)} lines)`, ratio: "—",
        target: "≤ 2 % at 10 % errors", pass: verdict(r.partials.valueBytes / r.inputBytes <= 0.02),
        runs: `1 run: ${fmt(r.partials.messages)} messages (${fmt(r.partials.cells)} cells, ${fmt(r.partials.reports)} reports); ` +
          `analyzer CPU ${(r.cpuShare * 100).toFixed(1)} % of a core while the generator ran`
      })
    }
  }
})

/**
 * Figure 15b: one analyzer joins a fresh 6-partition topic, then the generator writes to it at `rate`
 * for PARTIALS_SECONDS; once the group has committed every line, the internal topic is read.
 */
const livePartials = async (rate, commitInterval) => {
  const { Kafka, logLevel } = await import("kafkajs")
  const env = { ...process.env, KAFKA_BROKERS: BROKERS }
  const kafka = new Kafka({ clientId: "bench-live", brokers: BROKERS.split(","), logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const stamp = Date.now()
  const [topic, group, alerts] = [`bench-live-${rate}-${stamp}`, `bench-live-an-${rate}-${stamp}`, `bench-live-alerts-${stamp}`]
  const made = { topics: [topic, alerts, `${group}-partials`], groups: [group, `${group}-windows`] }
  let an
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: GROUP_PARTITIONS }], waitForLeaders: true })
    an = run([
      MAIN, "analyze", "--mode", "production", "--topic", topic, "--group-id", group, "--alerts-topic", alerts,
      "--trigger", "1h", "--output", path.join(WORK, `live-${rate}-${commitInterval ?? "default"}`, "output"),
      ...(commitInterval === undefined ? [] : ["--commit-interval", commitInterval])
    ], { env })
    an.stdout.resume()
    await waitFor(an, /analysing/, 60_000)
    for (let joined = false; !joined; await sleep(100)) {
      const { groups: [g] } = await admin.describeGroups([group])
      joined = g?.state === "Stable" && g.members.length === 1
    }
    const count = Math.round(rate * PARTIALS_SECONDS)
    const gen = run([
      MAIN, "generate", "--mode", "production", "--topic", topic, "--rate", String(rate), "--count", String(count),
      "--seed", "live", "--status-dist", "90", "5", "5"
    ], { env })
    gen.stdout.resume()
    const cpu0 = cpuSecondsOf(an.pid), t0 = now()
    if ((await gen.exited) !== 0) throw new Error(`Kafka generator failed: ${gen.stderrText()}`)
    const cpuShare = (cpuSecondsOf(an.pid) - cpu0) / ((now() - t0) / 1000)
    const deadline = now() + 60_000
    for (let committed = 0; committed < count; await sleep(200)) {
      if (now() > deadline) throw new Error(`the analyzer committed ${committed} of ${count} lines`)
      const [fetched] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
      committed = fetched.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)
    }
    let inputBytes = 0, lines = 0
    await readTopic(kafka, admin, topic, (m) => {
      lines++
      inputBytes += m.value.length
    })
    const partials = { messages: 0, cells: 0, reports: 0, valueBytes: 0 }
    await readTopic(kafka, admin, `${group}-partials`, (m) => {
      partials.messages++
      partials.valueBytes += m.value?.length ?? 0
      if (m.value?.[2] === 0x72) partials.reports++
      else partials.cells++
    })
    return { inputBytes, lines, partials, cpuShare }
  } finally {
    if (an !== undefined) {
      an.kill("SIGTERM")
      await an.exited
    }
    await admin.disconnect()
    await deleteKafkaLeftovers(made)
  }
}

const pct = (x) => `${(x * 100).toFixed(2)} %`

const GROUP_PARTITIONS = 6
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
})()
/** User + system CPU seconds a live process has used so far (Linux /proc; NaN elsewhere). */
const cpuSecondsOf = (pid) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return NaN
  }
}

/**
 * Every message of `topic` up to its end offsets as they are now, read_committed (aborted
 * transactions and their markers left out); `onMessage` for each. Its own group, deleted after.
 */
const readTopic = async (kafka, admin, topic, onMessage) => {
  const offsets = await admin.fetchTopicOffsets(topic)
  const ends = new Map(offsets.map((o) => [o.partition, Number(o.high)]))
  const pending = new Set(offsets.filter((o) => Number(o.high) > Number(o.low)).map((o) => o.partition))
  if (pending.size === 0) return
  const groupId = `bench-read-${process.pid}-${Date.now()}`
  const consumer = kafka.consumer({ groupId, maxBytesPerPartition: 4 << 20 })
  let finished
  const done = new Promise((resolve) => (finished = resolve))
  // After every batch, the ones made only of transaction markers too: a partition is read when its end is.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (Number(payload.lastOffset) + 1 >= ends.get(payload.partition)) pending.delete(payload.partition)
    if (pending.size === 0) finished()
  })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({ eachBatch: async ({ batch }) => batch.messages.forEach(onMessage) })
    if (await Promise.race([done.then(() => false), deadlineOf(180_000).then(() => true)])) throw new Error(`reading ${topic} did not reach its end`)
  } finally {
    await consumer.disconnect()
    await admin.deleteGroups([groupId]).catch(() => undefined)
  }
}

const windowMs = 30_000 // the analyzer's default --window

/**
 * Figure 14 (and 15's input): the generator fills a fresh 6-partition topic with GROUP_LINES lines
 * (90 5 5: 10 % errors), the bench reads it back once for the truth (lines, value bytes, errors per
 * (window, status)), then for each N: RUNS times N analyzers (fresh group, one shared --output) and,
 * when `withReference`, N plain kafkajs consumers (fresh group), in turn.
 */
const groupBench = async (sizes, withReference) => {
  const { Kafka, logLevel } = await import("kafkajs")
  const env = { ...process.env, KAFKA_BROKERS: BROKERS }
  const kafka = new Kafka({ clientId: "bench-group", brokers: BROKERS.split(","), logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const topic = `bench-group-${Date.now()}`
  const made = { topics: [topic], groups: [] }
  try {
    let t = now()
    const gen = run([
      MAIN, "generate", "--mode", "production", "--topic", topic, "--partitions", String(GROUP_PARTITIONS), "--rate", "0",
      "--count", String(GROUP_LINES), "--seed", "group", "--status-dist", "90", "5", "5"
    ], { env })
    gen.stdout.resume()
    if ((await gen.exited) !== 0) throw new Error(`Kafka generator failed: ${gen.stderrText()}`)
    const produceSeconds = (now() - t) / 1000
    const truth = { lines: 0, valueBytes: 0, errors: 0, cells: new Map() }
    t = now()
    await readTopic(kafka, admin, topic, (m) => {
      truth.lines++
      truth.valueBytes += m.value.length
      const r = JSON.parse(m.value.toString())
      if (r.status >= 400) {
        truth.errors++
        const key = `${Math.floor(Date.parse(r.timestamp) / windowMs) * windowMs}|${r.status}`
        truth.cells.set(key, (truth.cells.get(key) ?? 0) + 1)
      }
    })
    if (truth.lines !== GROUP_LINES) throw new Error(`the topic holds ${truth.lines} lines, not ${GROUP_LINES}`)
    notes.push(
      `Figure 14: the generator produced ${fmt(GROUP_LINES)} lines (${fmt(truth.valueBytes)} B, ${fmt(truth.errors)} errors in ` +
      `${truth.cells.size} (window, status) cells) to \`${topic}\` (${GROUP_PARTITIONS} partitions) in ${produceSeconds.toFixed(1)} s; ` +
      `the bench read them back for the truth in ${((now() - t) / 1000).toFixed(1)} s.`
    )
    const total = (await admin.fetchTopicOffsets(topic)).reduce((sum, o) => sum + Number(o.high), 0)
    const results = new Map()
    for (const n of sizes) {
      const entry = { loglens: [], reference: [] }
      results.set(n, entry)
      for (let i = 0; i < RUNS; i++) {
        entry.loglens.push(await groupRun({ kafka, admin, env, made, topic, total, truth, n, i, kind: "loglens" }))
        if (withReference) entry.reference.push(await groupRun({ kafka, admin, env, made, topic, total, truth, n, i, kind: "reference" }))
      }
    }
    return { truth, results }
  } finally {
    await admin.disconnect()
    await deleteKafkaLeftovers(made)
  }
}

/**
 * One run of figure 14: N processes started together on `topic` with a fresh group; the bench polls the
 * group every 50 ms (its state and members, and its committed offsets). Measured from the first poll
 * that sees the group Stable with N members to the first that sees every partition committed at its
 * end offset; events = lines committed in that interval, CPU = the N processes' user + system CPU in
 * it (/proc). The same from the start (spawn) too. Then, for loglens, the outputs are checked
 * against `truth` once every window has closed (--idle-timeout 2s), and the internal topic is read.
 */
const groupRun = async ({ kafka, admin, env, made, topic, total, truth, n, i, kind }) => {
  const stamp = `${Date.now()}-${i}`
  const group = `bench-group-${kind === "loglens" ? "an" : "ref"}-${n}-${stamp}`
  const alerts = `bench-group-alerts-${stamp}`
  const out = path.join(WORK, `group-${kind}-${n}-${i}`, "output")
  made.groups.push(group)
  if (kind === "loglens") {
    made.groups.push(`${group}-windows`)
    made.topics.push(alerts, `${group}-partials`)
  }
  const args = kind === "loglens"
    ? [
      MAIN, "analyze", "--mode", "production", "--topic", topic, "--group-id", group, "--alerts-topic", alerts,
      "--trigger", "1h", "--idle-timeout", "2s", "--output", out
    ]
    : [REF, "kafka-group", topic, group]
  const t0 = now()
  const procs = Array.from({ length: n }, () => run(args, { env }))
  for (const p of procs) p.stdout.resume()
  let joined, done
  try {
    while (done === undefined) {
      const exited = procs.find((p) => p.exitCode !== null || p.signalCode !== null)
      if (exited) throw new Error(`a ${kind} process ended early: ${exited.stderrText().slice(-1500)}`)
      if (now() - t0 > 300_000) throw new Error(`${kind} × ${n}: not all committed after 300 s`)
      const [{ groups: [described] }, [fetched]] = await Promise.all([
        admin.describeGroups([group]),
        admin.fetchOffsets({ groupId: group, topics: [topic] })
      ])
      const at = now()
      const cpu = procs.reduce((sum, p) => sum + cpuSecondsOf(p.pid), 0)
      const committed = (fetched?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)
      if (joined === undefined && described?.state === "Stable" && described.members.length === n) joined = { at, cpu, committed }
      if (committed >= total) done = { at, cpu }
      else await sleep(50)
    }
    // The group became Stable with N members only after everything was committed: count from the start.
    joined ??= { at: done.at, cpu: done.cpu, committed: total, never: true }
    const problems = []
    if (joined.never) problems.push(`the group was never seen Stable with ${n} members before all was committed`)
    let partials, linesRead = NaN
    if (kind === "loglens") {
      problems.push(...await checkGroupOutput(out, truth, kafka, admin, alerts))
      partials = { messages: 0, cells: 0, reports: 0, valueBytes: 0, keyBytes: 0 }
      await readTopic(kafka, admin, `${group}-partials`, (m) => {
        partials.messages++
        partials.valueBytes += m.value?.length ?? 0
        partials.keyBytes += m.key?.length ?? 0
        if (m.value?.[2] === 0x72 /* {"r": a report */) partials.reports++
        else partials.cells++
      })
    }
    for (const p of procs) p.kill("SIGTERM")
    const codes = await Promise.all(procs.map((p) => Promise.race([p.exited, sleep(60_000).then(() => "hung")])))
    codes.forEach((code, k) => {
      if (code !== 0) problems.push(`process ${k + 1} of ${n} exited with ${code} after SIGTERM: ${procs[k].stderrText().slice(-500)}`)
    })
    if (kind === "loglens") {
      linesRead = procs.reduce((sum, p) => {
        try {
          return sum + analyzerSummary(p.stderrText()).lines
        } catch {
          return NaN
        }
      }, 0)
    } else {
      linesRead = procs.reduce((sum, p) => sum + (/ref: (\{.*\})/.exec(p.stderrText()) ? JSON.parse(/ref: (\{.*\})/.exec(p.stderrText())[1]).lines : NaN), 0)
    }
    const events = total - joined.committed
    const seconds = (done.at - joined.at) / 1000
    return {
      rate: seconds > 0 ? events / seconds : NaN,
      cpuPerMillion: ((done.cpu - joined.cpu) / events) * 1e6,
      fromStartRate: total / ((done.at - t0) / 1000),
      fromStartCpuPerMillion: (done.cpu / total) * 1e6,
      joinSeconds: (joined.at - t0) / 1000,
      committedAtJoin: joined.committed,
      linesRead,
      partials,
      problems
    }
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL")
  }
}

/** Reads a folder's published part files (`part-*.jsonl`) as lines. */
const partLines = (folder) =>
  (fs.existsSync(folder) ? fs.readdirSync(folder) : [])
    .filter((f) => f.startsWith("part-") && f.endsWith(".jsonl"))
    .flatMap((f) => fs.readFileSync(path.join(folder, f), "utf8").split("\n").filter(Boolean))

/**
 * What N analyzers wrote to their shared --output, and to the alerts topic, against the topic's own
 * counts: every error line once in errors/, nothing rejected, one row per (window, status) with its
 * count once every window closed (waited for up to 60 s), one alert per row above the threshold (100).
 */
const checkGroupOutput = async (out, truth, kafka, admin, alertsTopic) => {
  const problems = []
  const rowsNow = () => partLines(path.join(out, "windows")).map((l) => JSON.parse(l))
  const deadline = now() + 60_000
  let rows = rowsNow()
  while (rows.reduce((s, r) => s + r.error_count, 0) < truth.errors && now() < deadline) {
    await sleep(200)
    rows = rowsNow()
  }
  const errorLines = partLines(path.join(out, "errors")).length
  if (errorLines !== truth.errors) problems.push(`errors/ holds ${errorLines} lines, the topic ${truth.errors} errors`)
  const rejected = partLines(path.join(out, "rejected")).length
  if (rejected !== 0) problems.push(`rejected/ holds ${rejected} lines`)
  const seen = new Map()
  for (const r of rows) {
    const key = `${Date.parse(r.window_start)}|${r.status}`
    if (seen.has(key)) problems.push(`window row ${key} written twice`)
    seen.set(key, r.error_count)
  }
  for (const [key, count] of truth.cells) {
    if (seen.get(key) !== count) problems.push(`window ${key}: ${seen.get(key) ?? "no row"} errors in windows/, ${count} in the topic`)
  }
  for (const key of seen.keys()) if (!truth.cells.has(key)) problems.push(`window ${key} in windows/ has no errors in the topic`)
  const expectedAlerts = [...truth.cells.values()].filter((c) => c > 100).length
  let alerts = 0
  await readTopic(kafka, admin, alertsTopic, () => alerts++)
  if (alerts !== expectedAlerts) problems.push(`${alerts} alerts on the alerts topic, ${expectedAlerts} (window, status) cells above 100 errors`)
  return problems
}

/** Replays `file` (JSON); `withHttp`: serves --http on a free port and keeps an SSE client (a dashboard's stream) reading. */
const replayRun = async (file, out, withHttp) => {
  const an = run([MAIN, "analyze", "--input", file, "--trigger", "1h", "--output", path.join(out, "output"), "--checkpoint", path.join(out, "checkpoint"), "--clean", ...(withHttp ? ["--http", "127.0.0.1:0"] : [])])
  an.stdout.resume()
  let frames = 0
  if (withHttp) {
    const [, url] = await waitFor(an, /dashboard at (http:\/\/\S+\/) /)
    await new Promise((resolve, reject) => {
      const request = http.get(`${url}events`, (res) => {
        res.setEncoding("utf8")
        let text = ""
        res.on("data", (d) => {
          text += d
          const parts = text.split("\n\n")
          text = parts.pop()
          frames += parts.filter((p) => p.startsWith("data: ")).length
        })
        res.on("error", () => {})
        resolve()
      })
      request.on("error", reject)
    })
  }
  if ((await an.exited) !== 0) throw new Error(`analyzer failed: ${an.stderrText()}`)
  const summary = analyzerSummary(an.stderrText())
  if (summary.lines !== LINES) throw new Error(`analyzer read ${summary.lines} lines`)
  return { rate: summary.lines / summary.seconds, cpu: summary.cpuSeconds, frames }
}

/** The generator's file of `LINES` lines in `format` (made once per bench run). */
const generatedFile = async (format) => {
  const file = path.join(WORK, `replay.${format}`)
  if (!fs.existsSync(file)) {
    const gen = run([MAIN, "generate", "--rate", "0", "--count", String(LINES), "--seed", `replay-${format}`, "--format", format, "--urls", "100"], {
      stdio: ["ignore", fs.openSync(file, "w"), "pipe"]
    })
    await gen.exited
  }
  return file
}

/** One replay of `file` by the analyzer, in lines per second of its own summary. */
const analyzerReplayRate = async (file, format, expectedLines, tag, flags = []) => {
  const out = path.join(WORK, `replay-${path.basename(file)}-${tag}`)
  const an = run([MAIN, "analyze", "--input", file, "--format", format, ...flags, "--trigger", "1h", "--output", path.join(out, "output"), "--checkpoint", path.join(out, "checkpoint"), "--clean"])
  an.stdout.resume()
  if ((await an.exited) !== 0) throw new Error(`analyzer failed: ${an.stderrText()}`)
  const s = analyzerSummary(an.stderrText())
  if (s.lines !== expectedLines) throw new Error(`analyzer read ${s.lines} lines, expected ${expectedLines}`)
  return s.lines / s.seconds
}

const referenceRate = async (refMode, file) => {
  const r = await refResult(run([REF, refMode, file]))
  return r.lines / r.seconds
}

/** `RUNS` replays of `file` by the analyzer, alternating with the reference `refMode` on the same file. */
const replay = (file, format, refMode, expectedLines, flags = []) =>
  alternate((i) => analyzerReplayRate(file, format, expectedLines, String(i), flags), () => referenceRate(refMode, file))

const REFERENCE_LABEL = { json: "JSON.parse every line", csv: "split every line", combined: "a regular expression per line" }

const replayFigure = async (format, figure, refMode, compareTarget, minRate = 1.5e6) => {
  const file = await generatedFile(format)
  const m = await replay(file, format, refMode, LINES + (format === "csv" ? 1 : 0))
  const ok = m.p >= minRate && (!compareTarget || m.p >= m.r)
  row({
    figure,
    value: `${fmt(m.p)} lines/s`, reference: `${fmt(m.r)} lines/s (${REFERENCE_LABEL[format]})`,
    ratio: ratio(m.p, m.r), target: `≥ ${fmt(minRate)} lines/s${compareTarget ? " and ≥ 1.0× reference" : ""}`,
    pass: verdict(ok), runs: `${samples(m.ps)} | ref ${samples(m.rs)}`
  })
}

/**
 * Checkpoint commit cost against open cells (figure 13): the real CheckpointStore (dist/), `cells`
 * open cells of which 100 change per commit, for enough commits to include its compactions; each
 * commit's writes are recorded and replayed with plain fs (same bytes, same fsyncs and renames), and
 * a whole-state rewrite per commit (what every commit cost before) is timed for comparison.
 */
const checkpointFigure = async (cells) => {
  const Effect = await import("effect/Effect")
  const Layer = await import("effect/Layer")
  const { CheckpointStore } = await import(path.join(ROOT, "dist/sinks/CheckpointStore.js"))
  const CHANGED = 100
  const commits = Math.min(1500, Math.ceil((3 * cells) / CHANGED) + 10)
  const cell = (i, version) => ({
    start: Math.floor(i / 4) * 30_000, end: Math.floor(i / 4) * 30_000 + 30_000, status: 400 + (i % 4), count: 100 + version,
    alerted: false, ips: { sparse: Array.from({ length: 40 }, (_, k) => (i * 7919 + k * 104729 + version) >>> 0) },
    urls: Array.from({ length: 10 }, (_, k) => `/resource/${(i + k) % 1000}`)
  })
  const state = Array.from({ length: cells }, (_, i) => cell(i, 0))
  const counters = { lines: 0, valid: 0, errors: 0, rejected: 0, late: 0, lateBehindMs: 0, lateWatermarkMs: 0, lateAfterClose: 0 }
  const settings = { source: "bench", format: "json", window: "30000ms", watermark: "10000ms", threshold: 100 }
  const folder = path.join(WORK, `checkpoint-${cells}`)
  const store = await Effect.runPromise(Effect.provide(
    Effect.gen(function*() {
      return yield* CheckpointStore
    }),
    CheckpointStore.layerFile(folder, path.join(WORK, "out"))
  ))
  const sizes = () => new Map(fs.readdirSync(folder).map((name) => [name, fs.statSync(path.join(folder, name)).size]))
  const writes = []
  let loglensMs = 0
  for (let c = 1; c <= commits; c++) {
    const changed = []
    for (let k = 0; k < CHANGED; k++) {
      const i = (c * CHANGED + k) % cells
      state[i] = cell(i, c)
      changed.push(state[i])
    }
    counters.lines += 1000
    const progress = { partitions: [{ partition: 0, maxEventTimeMs: c * 1000 }], closedThroughMs: null, counters: { ...counters } }
    const before = sizes()
    const t0 = now()
    await Effect.runPromise(store.save({
      settings, epoch: c, position: { bytes: c * 100_000 }, alerts: [], finished: false,
      changes: { ...progress, cells: changed, closedWindows: [] },
      snapshot: () => ({ ...progress, cells: state })
    }))
    loglensMs += now() - t0
    for (const [name, size] of sizes()) {
      const was = before.get(name)
      if (name.startsWith("checkpoint") || was === undefined) writes.push({ kind: "replace", bytes: size })
      else if (size > was) writes.push({ kind: "append", bytes: size - was })
    }
  }
  // Plain fs, the same writes: appends fsynced, replacements as temp + fsync + rename + folder fsync.
  const ref = path.join(WORK, `checkpoint-ref-${cells}`)
  fs.mkdirSync(ref, { recursive: true })
  const replace = (file, data) => {
    const fd = fs.openSync(`${file}.tmp`, "w")
    fs.writeSync(fd, data)
    fs.fsyncSync(fd)
    fs.closeSync(fd)
    fs.renameSync(`${file}.tmp`, file)
    const dir = fs.openSync(ref, "r")
    fs.fsyncSync(dir)
    fs.closeSync(dir)
  }
  const appendFd = fs.openSync(path.join(ref, "cells"), "a")
  let t0 = now()
  for (const w of writes) {
    if (w.kind === "append") {
      fs.writeSync(appendFd, Buffer.alloc(w.bytes, 97))
      fs.fdatasyncSync(appendFd)
    } else replace(path.join(ref, w.bytes > 4096 ? "cells-base" : "header"), Buffer.alloc(w.bytes, 97))
  }
  const fsMs = now() - t0
  fs.closeSync(appendFd)
  // The whole state rewritten at each commit (as before deltas): 10 commits.
  t0 = now()
  let wholeBytes = 0
  for (let c = 0; c < 10; c++) {
    const text = JSON.stringify({ epoch: c, cells: state })
    wholeBytes = Buffer.byteLength(text)
    replace(path.join(ref, "whole.json"), text)
  }
  const wholeMs = (now() - t0) / 10
  const bytesPerCommit = writes.reduce((sum, w) => sum + w.bytes, 0) / commits
  const perCommit = loglensMs / commits
  fs.rmSync(folder, { recursive: true, force: true })
  fs.rmSync(ref, { recursive: true, force: true })
  row({
    figure: `13. checkpoint commit, ${fmt(cells)} open cells (${CHANGED} change per commit, ${commits} commits)`,
    value: `${perCommit.toFixed(2)} ms, ${fmt(bytesPerCommit / 1024)} KB per commit (amortised, compactions included)`,
    reference: `same writes with fs: ${(fsMs / commits).toFixed(2)} ms; whole state rewritten: ${wholeMs.toFixed(1)} ms, ${fmt(wholeBytes / 1024)} KB`,
    ratio: ratio(perCommit, fsMs / commits),
    target: "≤ 3× the same writes with fs; KB per commit ≤ 4× what changed",
    pass: verdict(perCommit <= 3 * (fsMs / commits) && bytesPerCommit <= 4 * (Buffer.byteLength(JSON.stringify(state.slice(0, CHANGED))) + 1024)),
    runs: `whole-state rewrite would be ${ratio(wholeMs, perCommit)} the delta commit`
  })
}

/** mulberry32: seeded 32-bit random numbers for the bench's files. */
const seededRandom = (seed) => {
  let state = seed
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0)
  }
}

/** Writes `count` lines, `lineOf(i)` each, to `file` in 1 MiB writes. */
const writeLines = (file, count, lineOf) => {
  const fd = fs.openSync(file, "w")
  let out = ""
  for (let i = 0; i < count; i++) {
    out += lineOf(i) + "\n"
    if (out.length > 1 << 20) {
      fs.writeSync(fd, out)
      out = ""
    }
  }
  fs.writeSync(fd, out)
  fs.closeSync(fd)
}

/**
 * The draws figure 9's and figure 16's files share, from one seeded `next`: a pool of 50,000 IPs
 * (drawn at once), and per line a status (12 % errors) and a URL. Each line's instant spreads the
 * file over 29 s of one 30 s window.
 */
const recordDraws = (next) => {
  const pick = (xs) => xs[next() % xs.length]
  const ips = Array.from({ length: 50_000 }, () => `${(next() % 223) + 1}.${next() % 256}.${next() % 256}.${(next() % 254) + 1}`)
  return {
    pick,
    ip: () => ips[next() % ips.length],
    status: () => next() % 100 < 12 ? pick([404, 404, 500, 503, 403, 400]) : pick([200, 200, 200, 201, 204, 301, 304]),
    url: () => next() % 4 === 0 ? `/api/v1/items?id=${next() % 100}&page=1` : `/resource/${next() % 100}`
  }
}
const WINDOW_START_MS = Date.parse("2025-05-30T18:52:30.000Z")
const instantOf = (i, count) => WINDOW_START_MS + Math.floor((i * 29_000) / count)

const USER_AGENTS = ["curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0", "Go-http-client/1.1", "kube-probe/1.30"]

/**
 * Figure 9's file: the same kind of records as real JSON access logs write them, from four
 * sources merged in runs of 1 to 1,000 lines. Each source has its own key layout (compact,
 * spaced, reordered, extra fields first), extra fields of simple kinds and time zone (+02:00,
 * -05:00, Z, +05:30); fraction digits vary from 0 to 9 per line (as Go's RFC 3339 "nano" format
 * trims zeros). 12 % errors, 50,000 IPs, all in one 30 s window. Seeded.
 *
 * `level` (an index of VARIED_STEPS) writes the same records with only some of these features:
 * every level draws the same random numbers, so the records differ only in what the level adds.
 */
const VARIED_STEPS = [
  "the same records in the generator's shape",
  "+ 0-9 fraction digits and the four zones",
  "+ the four key layouts",
  "+ the extra fields (figure 9's file)"
]
const writeVariedJson = (file, count, level = VARIED_STEPS.length - 1) => {
  const next = seededRandom(0x9e3779b9)
  const draw = recordDraws(next)
  const pick = draw.pick
  const methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE", "HEAD"]
  const pad = (n, w) => String(n).padStart(w, "0")
  const zoneText = (zone) =>
    zone === undefined ? "Z" : `${zone < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(zone) / 60), 2)}:${pad(Math.abs(zone) % 60, 2)}`
  const generatorShaped = (t, ip, m, u, s) => `{"timestamp":"${t}","ip":"${ip}","method":"${m}","url":"${u}","status":${s}}`
  // Each source's layout without its extra fields (level 2).
  const layouts = [
    generatorShaped,
    (t, ip, m, u, s) => `{"timestamp": "${t}", "ip": "${ip}", "method": "${m}", "url": "${u}", "status": ${s}}`,
    (t, ip, m, u, s) => `{"ip":"${ip}","status":${s},"timestamp":"${t}","url":"${u}","method":"${m}"}`,
    generatorShaped
  ]
  const full = [
    { zone: 120, line: (t, ip, m, u, s, n) => `{"timestamp":"${t}","ip":"${ip}","method":"${m}","url":"${u}","status":${s},"bytes":${n},"user_agent":"${pick(USER_AGENTS)}","request_time":${(n % 5000) / 1000}}` },
    { zone: -300, line: (t, ip, m, u, s, n) => `{"timestamp": "${t}", "ip": "${ip}", "method": "${m}", "url": "${u}", "status": ${s}, "bytes": ${n}, "referer": "-"}` },
    { zone: undefined, line: (t, ip, m, u, s, n) => `{"ip":"${ip}","status":${s},"timestamp":"${t}","url":"${u}","method":"${m}","upstream":null,"cached":${n % 2 === 0}}` },
    { zone: 330, line: (t, ip, m, u, s, n) => `{"level":"info","host":"web-${n % 8}","timestamp":"${t}","request_time":${(n % 5000) / 1000},"ip":"${ip}","method":"${m}","url":"${u}","status":${s}}` }
  ]
  let source = 0
  let run = 0
  writeLines(file, count, (i) => {
    if (run-- <= 0) {
      source = next() % full.length
      run = next() % 1000
    }
    // The generator writes UTC with milliseconds.
    const zone = level === 0 ? undefined : full[source].zone
    const local = new Date(instantOf(i, count) + (zone ?? 0) * 60_000)
    const drawn = next() % 10
    const digits = level === 0 ? 3 : drawn
    const micros = drawn === 0 ? 0 : next() % 1_000_000
    const fraction = digits === 0 ? "" : `.${(pad(local.getUTCMilliseconds(), 3) + pad(micros, 6)).slice(0, digits)}`
    const timestamp = `${local.toISOString().slice(0, 19)}${fraction}${zoneText(zone)}`
    const status = draw.status()
    const url = draw.url()
    const fields = [timestamp, draw.ip(), pick(methods), url, status, next() % 50_000]
    // The full line is always made, so that every level draws the same numbers (a user agent too).
    const line = full[source].line(...fields)
    return level === 3 ? line : level === 2 ? layouts[source](...fields) : generatorShaped(...fields)
  })
}

/**
 * Figure 16's files: JSON access logs of other programs, with the `--field` flags that read them
 * (the README's two examples). 12 % errors, 50,000 IPs, in one 30 s window. Seeded.
 */
const MAPPED_SHAPES = [
  {
    name: "nginx escape=json",
    fields: ["--field", "timestamp=time_iso8601", "--field", "ip=remote_addr", "--field", "method=request_method", "--field", "url=request_uri"],
    line: (r) =>
      `{"time_iso8601":"${r.local.toISOString().slice(0, 19)}+02:00","remote_addr":"${r.ip}","request_method":"${r.method}","request_uri":"${r.url}","status":"${r.status}","body_bytes_sent":"${r.n}","http_user_agent":"${r.agent}"}`
  },
  {
    name: "Caddy (nested request)",
    fields: ["--field", "timestamp=ts", "--field", "ip=request.remote_ip", "--field", "method=request.method", "--field", "url=request.uri"],
    line: (r) =>
      `{"level":"info","ts":${(r.instant / 1000).toFixed(3)}${String(r.n % 10_000).padStart(4, "0")},"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"${r.ip}","remote_port":"${10_000 + r.n}","proto":"HTTP/2.0","method":"${r.method}","host":"example.com","uri":"${r.url}","headers":{"User-Agent":["${r.agent}"],"Accept":["*/*"]}},"duration":0.000${r.n % 1000},"size":${r.n},"status":${r.status}}`
  }
]

const writeMappedJson = (file, count, shape) => {
  const next = seededRandom(0x2545f491)
  const draw = recordDraws(next)
  writeLines(file, count, (i) => {
    const instant = instantOf(i, count)
    return shape.line({
      instant,
      local: new Date(instant + 2 * 3_600_000),
      ip: draw.ip(),
      method: draw.pick(["GET", "GET", "GET", "POST", "HEAD"]),
      url: draw.url(),
      status: draw.status(),
      agent: draw.pick(USER_AGENTS),
      n: next() % 50_000
    })
  })
}

const kafkaUnavailable = async () => {
  if (!fs.existsSync(path.join(ROOT, "dist/transport/kafka/Stages.js"))) return "dist/transport/kafka/Stages.js is missing (src/transport/kafka/ not built)"
  const [host, port] = BROKERS.split(",")[0].split(":")
  const reachable = await new Promise((resolve) => {
    const s = net.connect({ host, port: Number(port) }, () => {
      s.destroy()
      resolve(true)
    })
    s.on("error", () => resolve(false))
    s.setTimeout(2000, () => {
      s.destroy()
      resolve(false)
    })
  })
  return reachable ? undefined : `no Kafka broker at ${BROKERS} (start one with \`bash scripts/kafka.sh up\` and set KAFKA_BROKERS)`
}

/**
 * Figure 6 for one partition count: the generator fills a fresh topic, then the analyzer (a fresh group each run)
 * and the raw kafkajs consumer take turns reading all of it. Both topics are deleted afterwards.
 */
const kafkaThroughput = async (env, partitions) => {
  const topic = `bench-logs-${partitions}p-${Date.now()}`
  const made = { topics: [topic], groups: [] }
  try {
    const t = now()
    const gen = run([MAIN, "generate", "--mode", "production", "--topic", topic, "--partitions", String(partitions), "--rate", "0", "--count", String(KAFKA_LINES), "--seed", "kafka"], { env })
    gen.stdout.resume()
    if ((await gen.exited) !== 0) throw new Error(`Kafka generator failed: ${gen.stderrText()}`)
    const produceRate = KAFKA_LINES / ((now() - t) / 1000)
    notes.push(`Kafka, ${partitions} partitions: the generator produced ${fmt(KAFKA_LINES)} lines to \`${topic}\` at ${fmt(produceRate)} lines/s (wall clock, start-up and topic creation included).`)
    const m = await alternate(
      async (i) => {
        const out = path.join(WORK, `kafka-${partitions}p-${i}`)
        const group = `bench-${Date.now()}-${i}`
        const alerts = `bench-alerts-${Date.now()}`
        // Production mode's stage 2 has its own group and internal topic (`<group>-windows`, `<group>-partials`).
        made.groups.push(group, `${group}-windows`)
        made.topics.push(alerts, `${group}-partials`)
        const an = run([
          MAIN, "analyze", "--mode", "production", "--topic", topic, "--partitions", String(partitions), "--group-id", group,
          // Reports every 100 ms: the rate is taken between two of them, so the last one is at most 100 ms late.
          "--alerts-topic", alerts, "--trigger", "100ms",
          // No --checkpoint: production mode keeps its state in Kafka and refuses the flag.
          "--output", path.join(out, "output"), "--clean"
        ], { env })
        const points = []
        let buffer = ""
        an.stdout.setEncoding("utf8")
        const done = new Promise((resolve) =>
          an.stdout.on("data", (d) => {
            buffer += d
            for (const m of buffer.matchAll(/lines read ([\d,]+)/g)) {
              const n = Number(m[1].replaceAll(",", ""))
              if (n > 0 && (points.length === 0 || points.at(-1)[1] !== n)) points.push([now(), n])
              if (n >= KAFKA_LINES) resolve()
            }
            buffer = buffer.slice(buffer.lastIndexOf("\n") + 1)
          }))
        await Promise.race([done, an.exited, deadlineOf(180_000)])
        an.kill("SIGTERM")
        await an.exited
        if (points.length < 2 || points.at(-1)[1] < KAFKA_LINES) throw new Error(`Kafka analyzer read ${points.at(-1)?.[1]} lines: ${an.stderrText()}`)
        // From the first report with lines to the first report with all of them.
        const [[t1, l1], [t2, l2]] = [points[0], points.find(([, n]) => n >= KAFKA_LINES)]
        return ((l2 - l1) / (t2 - t1)) * 1000
      },
      async () => {
        const c = run([REF, "kafka-consume", topic, String(KAFKA_LINES)], { env })
        const r = await refResult(c)
        return r.lines / r.seconds
      }
    )
    // The same reference with loglens's replacements of kafkajs modules (src/transport/kafka/Kafkajs.ts):
    // how much of the analyzer's rate is the faster decoding those give any kafkajs consumer.
    const patched = []
    for (let i = 0; i < RUNS; i++) {
      const r = await refResult(run([REF, "kafka-consume", topic, String(KAFKA_LINES)], { env: { ...env, REF_KAFKAJS: "loglens" } }))
      patched.push(r.lines / r.seconds)
    }
    notes.push(
      `Kafka, ${partitions} partitions: the reference with loglens's replacements of kafkajs modules consumed ` +
        `${samples(patched)} events/s (median ${fmt(median(patched))}); the analyzer's median is ${ratio(m.p, median(patched))} of that.`
    )
    row({
      figure: `6${partitions === 3 ? "" : "b"}. generator → Kafka → analyzer (consume of a filled topic, ${partitions} partitions)`,
      value: `${fmt(m.p)} events/s`, reference: `${fmt(m.r)} events/s (raw kafkajs consume ceiling)`, ratio: ratio(m.p, m.r),
      target: "≥ 150,000 events/s per analyzer, ≥ 0.85× the ceiling", pass: verdict(m.p >= 150_000 && m.p >= 0.85 * m.r),
      runs: `${samples(m.ps)} | ref ${samples(m.rs)}`
    })
  } finally {
    await deleteKafkaLeftovers(made)
  }
}

/** Deletes the bench's own groups and topics from the broker, ignoring any that are gone. */
const deleteKafkaLeftovers = async ({ topics, groups }) => {
  const { Kafka, logLevel } = await import("kafkajs")
  const admin = new Kafka({ clientId: "bench-cleanup", brokers: BROKERS.split(","), logLevel: logLevel.NOTHING }).admin()
  await admin.connect()
  try {
    for (const group of groups) await admin.deleteGroups([group]).catch(() => undefined)
    for (const topic of topics) await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
  } finally {
    await admin.disconnect()
  }
}

/** Production alert latency: kafkajs producer → http-logs → analyzer → alerts topic → kafkajs consumer. */
const kafkaLatency = async (env, partitions) => {
  const { Kafka, logLevel } = await import("kafkajs")
  const stamp = Date.now()
  const [topic, alertsTopic] = [`bench-lat-${stamp}`, `bench-lat-alerts-${stamp}`]
  const kafka = new Kafka({ clientId: "bench", brokers: BROKERS.split(","), logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }, { topic: alertsTopic, numPartitions: 1 }] })
  await admin.disconnect()
  const producer = kafka.producer()
  await producer.connect()
  const consumer = kafka.consumer({ groupId: `bench-lat-${stamp}`, maxWaitTimeInMs: 10 })
  await consumer.connect()
  await consumer.subscribe({ topics: [alertsTopic], fromBeginning: true })
  let onAlert = () => undefined
  await consumer.run({ eachMessage: async ({ message }) => onAlert(JSON.parse(message.value.toString())) })
  const out = path.join(WORK, "kafka-latency")
  const an = run([
    MAIN, "analyze", "--mode", "production", "--topic", topic, "--alerts-topic", alertsTopic, "--partitions", String(partitions),
    "--group-id", `bench-lat-an-${stamp}`, "--trigger", "1h",
    "--output", path.join(out, "output"), "--clean"
  ], { env })
  an.stdout.resume()
  const timestamp = new Date().toISOString()
  const line = (status, i) => `{"timestamp":"${timestamp}","ip":"10.1.${i >> 8}.${i & 255}","method":"GET","url":"/r","status":${status}}`
  // Warm up: wait until the analyzer has joined and consumes.
  await producer.send({ topic, messages: [{ value: line(599, 0) }] })
  await waitFor(an, /analysing/, 60_000)
  await sleep(8000)
  const latencies = []
  const samplesWanted = Math.min(20, LATENCY_SAMPLES)
  for (let k = 0; k < samplesWanted; k++) {
    const status = 500 + k
    await producer.send({ topic, messages: Array.from({ length: 100 }, (_, i) => ({ value: line(status, i) })) })
    await sleep(300)
    const got = new Promise((resolve) => {
      onAlert = (alert) => {
        if (alert.status === status) resolve(now())
      }
    })
    const t0 = now()
    await producer.send({ topic, messages: [{ value: line(status, 100) }] })
    latencies.push((await Promise.race([got, sleep(10_000).then(() => NaN)])) - t0)
  }
  an.kill("SIGTERM")
  await an.exited
  await consumer.disconnect()
  await producer.disconnect()
  await deleteKafkaLeftovers({
    topics: [topic, alertsTopic, `bench-lat-an-${stamp}-partials`],
    groups: [`bench-lat-${stamp}`, `bench-lat-an-${stamp}`, `bench-lat-an-${stamp}-windows`]
  })
  const valid = latencies.filter(Number.isFinite)
  const p99 = valid.length === latencies.length ? percentile(valid, 99) : Infinity
  row({
    figure: `8b. alert latency, production (Kafka, ${partitions} partition${partitions === 1 ? "" : "s"}, ${latencies.length} alerts)`,
    value: `p50 ${median(valid).toFixed(1)} ms, p99 ${Number.isFinite(p99) ? p99.toFixed(1) + " ms" : "(alerts missing)"}`,
    reference: "—", ratio: "—", target: "≤ 250 ms p99", pass: verdict(p99 <= 250),
    runs: `${latencies.length - valid.length} missing; max ${Math.max(...valid).toFixed(1)} ms`
  })
}

// ---------------------------------------------------------------------------------------------

const cleanup = () => {
  for (const c of children) c.kill("SIGKILL")
}
process.on("exit", cleanup)
process.on("SIGINT", () => process.exit(130))
process.on("SIGTERM", () => process.exit(143))

if (!fs.existsSync(MAIN)) {
  console.error(`bench: ${MAIN} is missing; run npm run build`)
  process.exit(1)
}
const cpu = os.cpus()[0]?.model ?? "unknown"
const loadBefore = os.loadavg()
const started = now()
log(`node ${process.version}, ${os.cpus().length} × ${cpu}, load ${loadBefore.map((l) => l.toFixed(2)).join(" ")}; work dir ${WORK}`)
for (const key of Object.keys(figures)) {
  if (ONLY && !ONLY.has(Number(key))) continue
  log(`figure ${key}…`)
  try {
    await figures[key]()
  } catch (error) {
    row({ figure: `${key}. (failed)`, value: `not measured: ${String(error.message ?? error).split("\n")[0].slice(0, 300)}`, reference: "—", ratio: "—", target: "", pass: "ERROR", runs: "" })
  }
}
const loadAfter = os.loadavg()
const minutes = ((now() - started) / 60_000).toFixed(1)

const header = ["figure", "loglens (median)", "plain-Node reference (median)", "ratio", "target", "result"]
const table = [header, header.map(() => "---"), ...rows.map((r) => [r.figure, r.value, r.reference, r.ratio, r.target, r.pass])]
const markdown = table.map((cells) => `| ${cells.join(" | ")} |`).join("\n")
console.log(markdown)
const md = `# loglens benchmark results

- Date: ${new Date().toISOString()}
- Node.js: ${process.version}
- CPU: ${os.cpus().length} × ${cpu} (${os.arch()}, ${os.platform()} ${os.release()})
- Load average (1, 5, 15 min) before: ${loadBefore.map((l) => l.toFixed(2)).join(", ")}; after: ${loadAfter.map((l) => l.toFixed(2)).join(", ")}
- Runs per figure: ${RUNS} (median shown); lines per throughput run: ${fmt(LINES)}; duration ${minutes} min
- Command: \`npm run bench\`

${markdown}

## Individual runs

${rows.map((r) => `- ${r.figure}: ${r.runs || "—"}`).join("\n")}
${notes.length ? `\n## Notes\n\n${notes.map((n) => `- ${n}`).join("\n")}\n` : ""}
See bench/README.md for what each figure and reference measures.
`
// A partial run (BENCH_ONLY) prints its table but leaves bench/RESULTS.md alone (its notes go to stderr).
if (!ONLY) fs.writeFileSync(path.join(ROOT, "bench/RESULTS.md"), md)
else for (const n of notes) log(`note: ${n}`)
log(`done in ${minutes} min${ONLY ? " (partial run: bench/RESULTS.md not written)" : "; bench/RESULTS.md written"}`)
fs.rmSync(WORK, { recursive: true, force: true })
