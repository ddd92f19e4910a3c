import { assert, describe, it } from "@effect/vitest"
import { describeFieldMapping, parseFieldMapping } from "../../../src/domain/formats/FieldMapping.ts"

describe("parseFieldMapping (--field NAME=PATH)", () => {
  it("reads each field's key path, dots separating nested keys", () => {
    const parsed = parseFieldMapping(["timestamp=ts", "ip=request.remote_ip"])
    assert.deepStrictEqual(parsed, { ok: true, value: { timestamp: ["ts"], ip: ["request", "remote_ip"] } })
    if (parsed.ok) assert.strictEqual(describeFieldMapping(parsed.value), "timestamp=ts ip=request.remote_ip")
  })

  it("reads no flag as no mapping", () => {
    assert.deepStrictEqual(parseFieldMapping([]), { ok: true, value: {} })
  })

  it.each([
    ["an unknown field", "bytes=body_bytes_sent", "NAME one of timestamp, ip, method, url, status"],
    ["no =", "timestamp", "NAME one of"],
    ["an empty path", "ip=", "a key or a dotted path"],
    ["an empty key in the path", "ip=request..remote_ip", "a key or a dotted path"]
  ])("refuses %s with a message", (_name, flag, message) => {
    const parsed = parseFieldMapping([flag])
    assert.isFalse(parsed.ok)
    if (!parsed.ok) assert.include(parsed.message, message)
  })

  it("refuses a field given twice", () => {
    const parsed = parseFieldMapping(["ip=a", "ip=b"])
    assert.deepStrictEqual(parsed, { ok: false, message: "--field ip is given twice" })
  })
})
