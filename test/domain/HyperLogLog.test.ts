import { assert, describe, it } from "@effect/vitest"
import { HyperLogLog } from "../../src/domain/HyperLogLog.ts"
import { prng } from "../support/random.ts"


const ipOf = (n: number): string => `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`

/** `count` distinct random IPv4 addresses. */
const randomIps = (count: number, seed: number): Array<string> => {
  const random = prng(seed)
  const ips = new Set<string>()
  while (ips.size < count) ips.add(ipOf(Math.floor(random() * 4294967296)))
  return Array.from(ips)
}

/** The i-th of a run of distinct IPs: multiplying by an odd constant is a bijection on 32-bit integers. */
const spreadIp = (i: number, seed: number): string => ipOf((Math.imul(i, 2654435761) + seed) >>> 0)

const hllOf = (values: Iterable<string>): HyperLogLog => {
  const hll = new HyperLogLog()
  for (const v of values) hll.add(v)
  return hll
}

const relativeError = (estimate: number, actual: number): number => Math.abs(estimate - actual) / actual

const roundTrip = (hll: HyperLogLog): HyperLogLog => HyperLogLog.fromJSON(JSON.parse(JSON.stringify(hll.toJSON())))

describe("HyperLogLog", () => {
  it("is empty at first", () => {
    assert.strictEqual(new HyperLogLog().estimate(), 0)
  })

  it("counts small sets exactly", () => {
    for (const n of [1, 2, 3, 10, 100, 1000, 4096]) {
      assert.strictEqual(hllOf(randomIps(n, n)).estimate(), n, `n = ${n}`)
    }
  })

  it("does not count duplicates", () => {
    const small = randomIps(250, 7)
    const hll = new HyperLogLog()
    for (let round = 0; round < 5; round++) for (const ip of small) hll.add(ip)
    assert.strictEqual(hll.estimate(), 250)

    const large = randomIps(20_000, 8)
    const once = hllOf(large)
    const thrice = hllOf([...large, ...large.slice().reverse(), ...large])
    assert.strictEqual(thrice.estimate(), once.estimate())
    assert.isAtMost(relativeError(thrice.estimate(), 20_000), 0.02)
  })

  it("tells apart strings that differ in one character", () => {
    assert.strictEqual(hllOf(["10.0.0.1", "10.0.0.10", "10.0.0.100", "10.0.0.1 ", "10.0.0.1", "01.0.0.1"]).estimate(), 5)
  })

  it("stays within 2 % at 50 000 distinct IPs, for several seeds", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const estimate = hllOf(randomIps(50_000, seed)).estimate()
      assert.isAtMost(relativeError(estimate, 50_000), 0.02, `seed ${seed}: ${estimate}`)
    }
  })

  it("stays within 2 % at 50 000 distinct sequential IPs", () => {
    // A subnet scan: addresses that differ only in their last bytes.
    const ips = Array.from({ length: 50_000 }, (_, i) => ipOf(0x0a000000 + i))
    const estimate = hllOf(ips).estimate()
    assert.isAtMost(relativeError(estimate, 50_000), 0.02, `${estimate}`)
  })

  it("stays within 2 % at 1 000 000 distinct IPs", () => {
    const hll = new HyperLogLog()
    for (let i = 0; i < 1_000_000; i++) hll.add(spreadIp(i, 12345))
    const estimate = hll.estimate()
    assert.isAtMost(relativeError(estimate, 1_000_000), 0.02, `${estimate}`)
  })

  it("stays within 2 % across the sparse-to-dense switch", () => {
    for (const n of [4_000, 4_097, 5_000, 10_000, 150_000, 200_000]) {
      const hll = new HyperLogLog()
      for (let i = 0; i < n; i++) hll.add(spreadIp(i, n))
      assert.isAtMost(relativeError(hll.estimate(), n), 0.02, `n = ${n}: ${hll.estimate()}`)
    }
  })

  describe("merge", () => {
    it("of two small overlapping sets counts the union exactly", () => {
      const ips = randomIps(300, 11)
      const a = hllOf(ips.slice(0, 200))
      const b = hllOf(ips.slice(100, 300))
      a.merge(b)
      assert.strictEqual(a.estimate(), 300)
      // The argument is left alone.
      assert.strictEqual(b.estimate(), 200)
    })

    it("gives the estimate of the union, whatever the forms of the two sides", () => {
      const ips = randomIps(70_000, 12)
      const cases: Array<[string, Array<string>, Array<string>]> = [
        ["sparse + sparse, union sparse", ips.slice(0, 2_000), ips.slice(1_000, 3_500)],
        ["sparse + sparse, union dense", ips.slice(0, 3_000), ips.slice(1_000, 5_000)],
        ["sparse + dense", ips.slice(0, 1_000), ips.slice(500, 40_000)],
        ["dense + sparse", ips.slice(0, 40_000), ips.slice(39_000, 42_000)],
        ["dense + dense", ips.slice(0, 40_000), ips.slice(30_000, 70_000)]
      ]
      for (const [name, left, right] of cases) {
        const union = new Set([...left, ...right])
        const merged = hllOf(left)
        merged.merge(hllOf(right))
        const direct = hllOf(union)
        // Registers depend only on the set of hashes, so the merge is exactly the union's sketch.
        assert.strictEqual(merged.estimate(), direct.estimate(), name)
        assert.isAtMost(relativeError(merged.estimate(), union.size), 0.02, name)
      }
    })

    it("is commutative", () => {
      const ips = randomIps(30_000, 13)
      const a1 = hllOf(ips.slice(0, 20_000))
      const b1 = hllOf(ips.slice(10_000))
      a1.merge(b1)
      const a2 = hllOf(ips.slice(10_000))
      a2.merge(hllOf(ips.slice(0, 20_000)))
      assert.strictEqual(a1.estimate(), a2.estimate())
    })
  })

  describe("toJSON / fromJSON", () => {
    it("round-trips the sparse form exactly, and the copy keeps counting like the original", () => {
      const ips = randomIps(3_000, 21)
      const original = hllOf(ips.slice(0, 1_000))
      const json = original.toJSON()
      assert.isTrue("sparse" in json)
      const copy = roundTrip(original)
      assert.strictEqual(copy.estimate(), 1_000)
      for (const ip of ips.slice(500)) {
        original.add(ip)
        copy.add(ip)
      }
      assert.strictEqual(copy.estimate(), 3_000)
      assert.strictEqual(copy.estimate(), original.estimate())
    })

    it("round-trips the dense form exactly, and the copy keeps counting like the original", () => {
      const ips = randomIps(60_000, 22)
      const original = hllOf(ips.slice(0, 30_000))
      const json = original.toJSON()
      assert.isTrue("dense" in json)
      const copy = roundTrip(original)
      assert.strictEqual(copy.estimate(), original.estimate())
      for (const ip of ips.slice(20_000)) {
        original.add(ip)
        copy.add(ip)
      }
      assert.strictEqual(copy.estimate(), original.estimate())
      assert.isAtMost(relativeError(copy.estimate(), 60_000), 0.02)
    })

    it("round-trips a sparse sketch that later turns dense like one that never left memory", () => {
      const ips = randomIps(10_000, 23)
      const original = hllOf(ips.slice(0, 4_000))
      const copy = roundTrip(original)
      for (const ip of ips.slice(4_000)) {
        original.add(ip)
        copy.add(ip)
      }
      assert.isTrue("dense" in copy.toJSON())
      assert.strictEqual(copy.estimate(), original.estimate())
      assert.deepStrictEqual(copy.toJSON(), original.toJSON())
    })

    it("refuses dense registers of the wrong size", () => {
      assert.throws(() => HyperLogLog.fromJSON({ dense: Buffer.alloc(100).toString("base64") }))
    })

    it("leaves the original untouched when the copy changes", () => {
      const original = hllOf(randomIps(20_000, 24))
      const before = original.estimate()
      const copy = roundTrip(original)
      for (const ip of randomIps(20_000, 25)) copy.add(ip)
      assert.strictEqual(original.estimate(), before)
      assert.isAbove(copy.estimate(), before)
    })
  })
})
