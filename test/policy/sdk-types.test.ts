import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { packageRoot } from '../../provider/common/package-info'
import { POLICY_KINDS, policyKinds } from '../../provider/policy'
import { generateSdkArgs, renderSdkArgs, SDK_ARGS_PATH } from '../../scripts/gen-sdk-types'

describe('generated SDK argument types', () => {
  it('are up to date with the schemas (run scripts/gen-sdk-types.sh after changing a schema)', () => {
    const checkedIn = readFileSync(join(packageRoot, SDK_ARGS_PATH), 'utf8')
    expect(generateSdkArgs()).toBe(checkedIn)
  })

  it('document every property, defaults included', () => {
    const source = renderSdkArgs()
    for (const name of ['RemoteArgs', 'BackupJobArgs', 'ReplicationTargetArgs', 'VmBackupTagsArgs']) {
      expect(source).toContain(`export interface ${name} {`)
    }
    const properties = source.split('\n').filter((line) => /^ {2}\w+\??: /.test(line))
    expect(properties.length).toBeGreaterThan(40)
    const lines = source.split('\n')
    for (const property of properties) {
      expect(lines[lines.indexOf(property) - 1], `${property} has no doc comment`).toBe('   */')
    }
    expect(source).toMatch(/@defaultValue `"UTC"`\n\s+\*\/\n\s+timezone\?: pulumi\.Input<string>/)
    expect(source).toMatch(/@defaultValue `2`\n\s+\*\/\n\s+concurrency\?: pulumi\.Input<number>/)
    expect(source).toContain('schedules: pulumi.Input<pulumi.Input<BackupScheduleArgs>[]>')
    expect(source).toContain('vms: pulumi.Input<ExplicitVmSelectionArgs | SmartVmSelectionArgs>')
    expect(source).toMatch(
      /Secret: pass it as a Pulumi secret[^\n]*\n(\s+\*[^\n]*\n)*\s+password\?: pulumi\.Input<string>/,
    )
  })

  it('are all described in docs/policy.md', () => {
    const docs = readFileSync(join(packageRoot, 'docs', 'policy.md'), 'utf8')
    const keys = new Set<string>()
    const collect = (schema: unknown): void => {
      if (Array.isArray(schema)) schema.forEach(collect)
      else if (schema !== null && typeof schema === 'object') {
        const { properties, ...rest } = schema as { properties?: Record<string, unknown> }
        for (const [key, property] of Object.entries(properties ?? {})) {
          keys.add(key)
          collect(property)
        }
        Object.values(rest).forEach(collect)
      }
    }
    for (const kind of POLICY_KINDS) collect(z.toJSONSchema(policyKinds[kind].schema, { io: 'input' }))
    expect(keys.size).toBeGreaterThan(40)
    expect([...keys].filter((key) => !docs.includes(`\`${key}\``))).toEqual([])
  })

  it('match the schemas in both directions once inputs are unwrapped (compiled on its own)', () => {
    const fixture = join(packageRoot, 'test', 'policy', 'sdk-args-assignability.ts')
    const config = ts.getParsedCommandLineOfConfigFile(
      join(packageRoot, 'tsconfig.json'),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
          throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'))
        },
      },
    )
    const program = ts.createProgram([fixture], { ...config!.options, noEmit: true })
    const problems = ts
      .getPreEmitDiagnostics(program)
      .map((diagnostic) =>
        ts.formatDiagnostic(diagnostic, { ...ts.sys, getCanonicalFileName: (f) => f, getNewLine: () => '\n' }),
      )
    expect(problems).toEqual([])
    // The fixture itself is not vacuous: its own @ts-expect-error lines are used (else TS2578 above).
    expect(readFileSync(fixture, 'utf8')).toContain('@ts-expect-error')
  })
})
