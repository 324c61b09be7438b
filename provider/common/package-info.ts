import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** Root of this package, found from here whether running from sources (tests) or from dist/. */
export const packageRoot: string = findPackageRoot(__dirname)

export const packageVersion: string = (
  JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as {
    version: string
  }
).version

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }
      if (manifest.name === 'pulumi-xcp-backup') return dir
    } catch {
      // no package.json here: keep walking up
    }
    if (dirname(dir) === dir) throw new Error(`cannot find the pulumi-xcp-backup package root above ${start}`)
  }
}
