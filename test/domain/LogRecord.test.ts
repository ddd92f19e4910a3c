import { assert, describe, it } from "@effect/vitest"
import { isErrorStatus } from "../../src/domain/LogRecord.ts"

describe("isErrorStatus", () => {
  it("is true from 400 up", () => {
    assert.isFalse(isErrorStatus(200))
    assert.isFalse(isErrorStatus(399))
    assert.isTrue(isErrorStatus(400))
    assert.isTrue(isErrorStatus(404))
    assert.isTrue(isErrorStatus(599))
  })
})
