import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { packageRoot } from '../../../provider/common/package-info'
import { type RunningSimulator, startSimulator } from '../../../simulator'
import { createPulumiWorkspace, type PulumiWorkspace } from '../../helpers/pulumi'

/** The CI drift gate script of examples/ci-drift-gate, with the real CLI: its three outcomes. */

const CLI_TIMEOUT = 240_000
let sim: RunningSimulator
let ws: PulumiWorkspace

beforeAll(async () => {
  sim = await startSimulator({ log: () => undefined })
  ws = await createPulumiWorkspace(join(packageRoot, 'examples/ci-drift-gate'))
  await ws.expect([
    'config',
    'set-all',
    '--path',
    '--plaintext',
    `xcp-backup:pools.main.url=${sim.url}`,
    '--secret',
    `xcp-backup:pools.main.password=${sim.password}`,
  ])
  await ws.expect(['up', '--yes'])
}, CLI_TIMEOUT)

afterAll(async () => {
  await sim?.close()
  await ws?.dispose()
})

function gate(): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('./drift-gate.sh', ['test'], { cwd: ws.dir, env: ws.env }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code), output: stdout + stderr })
    })
  })
}

describe('the CI drift gate', () => {
  it(
    'passes when the pool holds the policy, exits 7 naming the drift, and fails differently when it cannot check',
    async () => {
      const clean = await gate()
      expect(clean).toMatchObject({ code: 0, output: expect.stringContaining('no drift') })

      const [db] = sim.core.db.filter('VM', (vm) => vm.name_label === 'db-01' && vm.is_a_snapshot !== true)
      sim.core.db.update('VM', db!, { tags: ['prod'] })
      const drift = await gate()
      expect(drift.code).toBe(7)
      expect(drift.output).toMatch(/~ tags\s*: \[\s*- \[0\]: "xo-memory-backup"/)
      expect(drift.output).toContain(
        'error: backup policy drift in stack test (see the diff above). Repair with: pulumi up --refresh',
      )

      await ws.expect(['config', 'set', '--secret', '--path', 'xcp-backup:pools.main.password', 'not-the-password'])
      const broken = await gate()
      expect(broken.code).not.toBe(0)
      expect(broken.code).not.toBe(7)
      expect(broken.output).toMatch(/refused user "root": check the pool password/)
      expect(broken.output).toContain('error: the drift check could not run')
    },
    CLI_TIMEOUT,
  )
})
