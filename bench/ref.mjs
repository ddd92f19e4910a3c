// Plain-Node references for `npm run bench`: the same job as loglens, by hand,
// with no Effect, no validation beyond JSON.parse and no output files.
// Each prints one JSON line on stderr, prefixed "ref:", with its own timing
// (first byte to last, so process start-up is excluded).
//
//   node bench/ref.mjs gen-stdout N              JSON lines to stdout
//   node bench/ref.mjs gen-tcp N|0 [rate]        serve JSON lines on a TCP port (printed on stderr); 0 = forever
//   node bench/ref.mjs analyze-json FILE         read, split lines, JSON.parse every line, count errors
//   node bench/ref.mjs analyze-csv FILE          read, split lines, split fields, count errors
//   node bench/ref.mjs analyze-combined FILE     read, split lines, one regular expression per line (ip, time, request, status), count errors
//   node bench/ref.mjs tcp-json PORT SECONDS     connect, split lines, JSON.parse every line for SECONDS
//   node bench/ref.mjs distinct FILE             exact distinct IPs and URLs of a JSON file, and the RSS it takes
//   node bench/ref.mjs kafka-consume TOPIC N     raw kafkajs consumer (eachBatch), counts N messages
//                                                (REF_KAFKAJS=loglens: with loglens's kafkajs module replacements)
//   node bench/ref.mjs kafka-group TOPIC GROUP   one member of consumer group GROUP: JSON.parse every message, count
//                                                errors, commit after every batch (kafkajs's default); reports on SIGTERM
//   node bench/ref.mjs append-file FILE RATE S   a log writer: appends JSON lines to FILE at RATE lines/s for S seconds ("written N" on stdout)
//   node bench/ref.mjs follow-count FILE         plain tail -f: fs.watch + read loop counting lines, "lines read N" every 200 ms
import * as fs from "node:fs"
import * as net from "node:net"

const [mode, ...args] = process.argv.slice(2)
const report = (fields) => process.stderr.write(`ref: ${JSON.stringify(fields)}\n`)
const now = () => performance.now()
const METHODS = ["GET", "POST", "PUT", "DELETE"]
const BATCH = 4096

// The same sfc32 and line shape as src/domain/RecordGenerator.ts.
const makeLines = (seed = 1) => {
  let a = seed, b = 0x9e3779b9, c = 0x243f6a88, d = 0xb7e15162
  const next = () => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  for (let i = 0; i < 12; i++) next()
  return (count) => {
    const ts = new Date().toISOString()
    let out = ""
    for (let i = 0; i < count; i++) {
      const ip = `${(next() % 254) + 1}.${next() % 256}.${next() % 256}.${(next() % 254) + 1}`
      const method = METHODS[next() & 3]
      const url = `/resource/${(next() % 10) + 1}`
      const roll = next() % 100
      const status = roll < 90 ? 200 : roll < 95 ? 404 : 500
      out += `{"timestamp":"${ts}","ip":"${ip}","method":"${method}","url":"${url}","status":${status}}\n`
    }
    return out
  }
}

/** Writes batches to `stream` with backpressure until `total` lines (Infinity: forever). */
const pump = (stream, total, rate, done) => {
  const batch = makeLines()
  const start = now()
  let sent = 0
  const step = () => {
    for (;;) {
      if (sent >= total) return done(sent, start)
      let n = Math.min(BATCH, total - sent)
      if (rate > 0) {
        const due = Math.floor(((now() - start) * rate) / 1000) + 1 - sent
        if (due <= 0) return setTimeout(step, 1)
        n = Math.min(n, due)
      }
      sent += n
      if (!stream.write(batch(n))) return stream.once("drain", step)
    }
  }
  step()
}

const lineSplitter = (onLine) => {
  let rest = ""
  return {
    push(chunk) {
      const text = rest + chunk.toString("utf8")
      let start = 0
      for (;;) {
        const nl = text.indexOf("\n", start)
        if (nl < 0) break
        onLine(text.slice(start, nl))
        start = nl + 1
      }
      rest = text.slice(start)
    },
    end() {
      if (rest.length > 0) onLine(rest)
      rest = ""
    }
  }
}

const readLines = (file, onLine, onEnd) => {
  const splitter = lineSplitter(onLine)
  let start
  fs.createReadStream(file, { highWaterMark: 1 << 20 })
    .on("data", (chunk) => {
      start ??= now()
      splitter.push(chunk)
    })
    .on("end", () => {
      splitter.end()
      onEnd((now() - start) / 1000)
    })
}

switch (mode) {
  case "gen-stdout": {
    pump(process.stdout, Number(args[0]), 0, (sent, start) => report({ lines: sent, seconds: (now() - start) / 1000 }))
    break
  }
  case "gen-tcp": {
    const total = Number(args[0]) || Infinity
    const rate = Number(args[1] ?? 0)
    const server = net.createServer({ noDelay: true }, (socket) => {
      server.close()
      socket.on("error", () => socket.destroy())
      pump(socket, total, rate, (sent, start) => {
        socket.end()
        report({ lines: sent, seconds: (now() - start) / 1000 })
      })
    })
    server.listen(0, "127.0.0.1", () => process.stderr.write(`ref: listening on ${server.address().port}\n`))
    break
  }
  case "analyze-json": {
    let lines = 0, errors = 0
    readLines(args[0], (line) => {
      if (line.length === 0) return
      lines++
      if (JSON.parse(line).status >= 400) errors++
    }, (seconds) => report({ lines, errors, seconds }))
    break
  }
  case "analyze-csv": {
    let lines = 0, errors = 0
    readLines(args[0], (line) => {
      if (line.length === 0 || line.startsWith("timestamp,")) return
      lines++
      if (Number(line.split(",")[4]) >= 400) errors++
    }, (seconds) => report({ lines, errors, seconds }))
    break
  }
  case "analyze-combined": {
    let lines = 0, errors = 0
    const COMBINED = /^(\S+) \S+ \S+ \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)/
    readLines(args[0], (line) => {
      if (line.length === 0) return
      lines++
      const m = COMBINED.exec(line)
      if (m !== null && Number(m[4]) >= 400) errors++
    }, (seconds) => report({ lines, errors, seconds }))
    break
  }
  case "tcp-json": {
    let lines = 0, start
    const splitter = lineSplitter((line) => {
      lines++
      JSON.parse(line)
    })
    const socket = net.connect({ port: Number(args[0]), host: "127.0.0.1" })
    socket.on("data", (chunk) => {
      start ??= now()
      splitter.push(chunk)
    })
    setTimeout(() => {
      report({ lines, seconds: (now() - start) / 1000 })
      process.exit(0)
    }, Number(args[1]) * 1000)
    break
  }
  case "distinct": {
    const ips = new Set(), urls = new Set()
    let lines = 0
    readLines(args[0], (line) => {
      if (line.length === 0) return
      lines++
      const r = JSON.parse(line)
      ips.add(r.ip)
      urls.add(r.url)
    }, (seconds) =>
      report({ lines, ips: ips.size, urls: urls.size, seconds, rssMb: Math.round(process.resourceUsage().maxRSS / 1024) }))
    break
  }
  case "kafka-consume": {
    // REF_KAFKAJS=loglens: with loglens's replacements of kafkajs modules (built in dist/), loaded first.
    if (process.env.REF_KAFKAJS === "loglens") await import("../dist/transport/kafka/Kafkajs.js")
    const { Kafka, logLevel } = await import("kafkajs")
    const [topic, n] = [args[0], Number(args[1])]
    const kafka = new Kafka({ clientId: "bench-ref", brokers: (process.env.KAFKA_BROKERS ?? "localhost:9092").split(","), logLevel: logLevel.NOTHING })
    const groupId = `bench-ref-${process.pid}-${Date.now()}`
    const consumer = kafka.consumer({ groupId })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    let count = 0, start
    await consumer.run({
      eachBatch: async ({ batch }) => {
        start ??= now()
        for (const m of batch.messages) {
          if (m.value !== null) count++
        }
        if (count >= n) {
          report({ lines: count, seconds: (now() - start) / 1000 })
          // Leave and delete the group, so the broker keeps nothing of the reference run.
          setImmediate(async () => {
            await consumer.disconnect().catch(() => undefined)
            const admin = kafka.admin()
            await admin.connect().then(() => admin.deleteGroups([groupId])).catch(() => undefined)
            await admin.disconnect().catch(() => undefined)
            process.exit(0)
          })
        }
      }
    })
    break
  }
  case "kafka-group": {
    // The plain-Node counterpart of one analyzer process sharing a topic: the same group settings
    // as loglens's (session 6 s, heartbeat 1 s, 500 ms fetch wait), none of its work beyond JSON.parse.
    const { Kafka, logLevel } = await import("kafkajs")
    const [topic, groupId] = args
    const kafka = new Kafka({ clientId: "bench-ref-group", brokers: (process.env.KAFKA_BROKERS ?? "localhost:9092").split(","), logLevel: logLevel.NOTHING })
    const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 1000, maxWaitTimeInMs: 500 })
    let lines = 0, errors = 0
    process.on("SIGTERM", async () => {
      await consumer.disconnect().catch(() => undefined)
      report({ lines, errors })
      process.exit(0)
    })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          if (m.value === null) continue
          lines++
          if (JSON.parse(m.value.toString()).status >= 400) errors++
        }
      }
    })
    process.stderr.write("ref: consuming\n")
    break
  }
  case "append-file": {
    // Whole lines, written every 2 ms or so: what is due at the rate since the start, at most
    // BATCH × 4 lines a write (after a stall it catches up over several writes). "written N" on
    // stdout every 100 ms says how far it really is.
    const [file, rate, seconds] = [args[0], Number(args[1]), Number(args[2])]
    const total = Math.round(rate * seconds)
    const batch = makeLines()
    const fd = fs.openSync(file, "a")
    process.stderr.write("ref: writing\n")
    const start = now()
    let sent = 0
    const progress = setInterval(() => process.stdout.write(`written ${sent}\n`), 100)
    const step = () => {
      const due = Math.min(Math.floor(((now() - start) * rate) / 1000), total, sent + BATCH * 4) - sent
      if (due > 0) {
        fs.writeSync(fd, batch(due))
        sent += due
      }
      if (sent < total) return due === BATCH * 4 ? setImmediate(step) : setTimeout(step, 2)
      fs.closeSync(fd)
      clearInterval(progress)
      process.stdout.write(`written ${sent}\n`)
      report({ lines: sent, seconds: (now() - start) / 1000 })
    }
    step()
    break
  }
  case "follow-count": {
    const fd = fs.openSync(args[0], "r")
    const buffer = Buffer.allocUnsafe(1 << 20)
    let position = 0, lines = 0
    const drain = () => {
      for (;;) {
        const n = fs.readSync(fd, buffer, 0, buffer.length, position)
        if (n === 0) return
        position += n
        for (let i = 0; i < n; i++) if (buffer[i] === 10) lines++
      }
    }
    fs.watch(args[0], drain)
    setInterval(drain, 250) // the same fallback poll as loglens
    setInterval(() => process.stdout.write(`lines read ${lines.toLocaleString("en-US")}\n`), 200)
    process.stderr.write("ref: following\n")
    process.on("SIGTERM", () => process.exit(0))
    drain()
    break
  }
  default:
    process.stderr.write(`unknown mode ${mode}\n`)
    process.exit(2)
}
