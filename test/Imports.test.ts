/**
 * Imports point one way: no folder of src/ imports from a folder that imports
 * back (directly or round a longer loop), no module takes part in an import
 * circle, and src/domain/ imports nothing outside itself but effect. Read from
 * the source files themselves.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"

const SRC = path.resolve("src")

const modules = (fs.readdirSync(SRC, { recursive: true }) as Array<string>)
  .filter((file) => file.endsWith(".ts"))
  .map((file) => path.join(SRC, file))

/** The src/ modules a module imports (type-only imports too: they tie the folders just the same). */
const importsOf = (file: string): Array<string> => {
  const text = fs.readFileSync(file, "utf8")
  const found: Array<string> = []
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)[^"'`;]*?from\s+["'](\.{1,2}\/[^"']+)["']/g)) {
    found.push(path.resolve(path.dirname(file), match[1]!))
  }
  return found
}

/** The folder directly under src/ that holds a module ("." for src/main.ts). */
const folderOf = (file: string): string => {
  const relative = path.relative(SRC, file)
  return relative.includes(path.sep) ? relative.split(path.sep)[0]! : "."
}

/** Every circle of a directed graph, as its members in order (Tarjan's strongly connected components). */
const circles = (graph: Map<string, Set<string>>): Array<Array<string>> => {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: Array<string> = []
  const onStack = new Set<string>()
  const found: Array<Array<string>> = []
  let next = 0
  const visit = (node: string): void => {
    index.set(node, next)
    low.set(node, next++)
    stack.push(node)
    onStack.add(node)
    for (const to of graph.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to)
        low.set(node, Math.min(low.get(node)!, low.get(to)!))
      } else if (onStack.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!))
    }
    if (low.get(node) === index.get(node)) {
      const component: Array<string> = []
      let member: string
      do {
        member = stack.pop()!
        onStack.delete(member)
        component.push(member)
      } while (member !== node)
      if (component.length > 1) found.push(component.reverse())
    }
  }
  for (const node of graph.keys()) if (!index.has(node)) visit(node)
  return found
}

describe("imports point one way", () => {
  it("finds the modules and their imports (the check below is not vacuous)", () => {
    expect(modules.length).toBeGreaterThan(20)
    expect(importsOf(path.join(SRC, "main.ts")).length).toBeGreaterThan(5)
  })

  it("no folder of src/ imports from a folder that imports back", () => {
    const graph = new Map<string, Set<string>>()
    for (const file of modules) {
      const from = folderOf(file)
      for (const target of importsOf(file)) {
        const to = folderOf(target)
        if (to !== from) graph.set(from, (graph.get(from) ?? new Set()).add(to))
      }
    }
    expect(circles(graph)).toEqual([])
  })

  it("no module takes part in an import circle", () => {
    const graph = new Map(modules.map((file) => [path.relative(SRC, file), new Set(importsOf(file).map((t) => path.relative(SRC, t)))]))
    expect(circles(graph)).toEqual([])
  })

  it("src/domain/ is pure: it imports only itself and effect", () => {
    const outside = modules
      .filter((file) => folderOf(file) === "domain")
      .flatMap((file) => importsOf(file).filter((target) => folderOf(target) !== "domain").map((t) => `${file} → ${t}`))
    expect(outside).toEqual([])
    for (const file of modules.filter((f) => folderOf(f) === "domain")) {
      const packages = [...fs.readFileSync(file, "utf8").matchAll(/from\s+["']([^."'][^"']*)["']/g)].map((m) => m[1]!)
      expect(packages.filter((p) => !p.startsWith("effect/")), file).toEqual([])
    }
  })
})
