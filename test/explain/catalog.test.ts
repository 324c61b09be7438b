import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { packageRoot } from '../../provider/common/package-info'
import { explainCode, explainError, explanationCodes } from '../../provider/explain/catalog'

const run = promisify(execFile)
const cli = join(packageRoot, 'dist/provider/cli/main.js')

describe('error explanations', () => {
  it('covers every error the reference troubleshooting documents describe', () => {
    for (const code of [
      'SR_BACKEND_FAILURE_44',
      'SR_BACKEND_FAILURE_109',
      'UNHEALTHY_VDI_CHAIN',
      'VDI_IO_ERROR',
      'LICENSE_RESTRICTION',
      'SR_OPERATION_NOT_SUPPORTED',
      'ELOCKED',
      'JOB_ALREADY_RUNNING',
      'NO_VMS_MATCH',
      'ENOSPC',
      'HTTP_TIMEOUT',
      'VHD_INCOMPLETE',
    ]) {
      const explanation = explainCode(code)
      expect(explanation, code).toBeDefined()
      expect(explanation!.actions.length, code).toBeGreaterThan(0)
    }
  })

  it('finds the explanation of an XAPI error by its code and of foreign errors by their message', () => {
    const xapiError = Object.assign(new Error('SR_BACKEND_FAILURE_44(, There is insufficient space, )'), {
      code: 'SR_BACKEND_FAILURE_44',
    })
    expect(explainError(xapiError)?.title).toMatch(/space/)
    expect(explainError(new Error('Lock file is already being held'))?.code).toBe('ELOCKED')
    expect(explainError(new Error('Expected values to be strictly equal:\n\n1 !== 2'))?.code).toBe('VHD_INCOMPLETE')
    expect(explainError(new Error('something nobody knows'))).toBeUndefined()
  })

  it('marks chain protection and empty selections as skipped, not failed', () => {
    expect(explainCode('UNHEALTHY_VDI_CHAIN')?.outcome).toBe('skipped')
    expect(explainCode('NO_VMS_MATCH')?.outcome).toBe('skipped')
    expect(explainCode('sr_backend_failure_109')?.outcome).toBe('failure')
  })

  it('is printed by `xcp-backup explain`', async () => {
    const { stdout } = await run(process.execPath, [cli, 'explain', 'SR_BACKEND_FAILURE_44'])
    expect(stdout).toMatch(/^SR_BACKEND_FAILURE_44: Not enough space/)
    expect(stdout).toMatch(/What to do:/)
    const list = await run(process.execPath, [cli, 'explain'])
    expect(list.stdout.trim().split('\n')).toEqual(explanationCodes())
    await expect(run(process.execPath, [cli, 'explain', 'NOPE'])).rejects.toMatchObject({ code: 2 })
  })
})
