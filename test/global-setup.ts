import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

/**
 * Compiles dist/ once per test run: several suites start the real `xcp-backup` CLI as a process,
 * and the Pulumi tests load the compiled package. Incremental, so an unchanged tree costs little.
 */
export default function setup(): void {
  const root = join(__dirname, '..')
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  })
}
