import { isAbsolute } from 'node:path'
import { z } from 'zod'
import { strictObject } from '../../policy/fields'
import { DURATION_HELP, durationMs } from '../../policy/units'

/**
 * The runner's configuration file (`xcp-backup runner --config FILE`, YAML). Backup policy is not here:
 * it lives in the pool and the runner follows it live. This file says how to reach the pools, where the
 * runner keeps its state, and how it behaves as a process. docs/runner.md describes every field.
 */

/** A duration written as in the policy ("5m", "1h30m"), read as milliseconds. */
const duration = (description: string, fallback: string) =>
  z
    .string()
    .transform((text, ctx) => {
      const ms = durationMs(text)
      if (ms !== undefined) return ms
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} is not ${DURATION_HELP} (greater than 0)` })
      return z.NEVER
    })
    .prefault(fallback)
    .meta({ description })

const pathSchema = (description: string) => z.string().min(1).meta({ description })

const poolUrl = z
  .string()
  .min(1)
  .superRefine((text, ctx) => {
    const problem = poolUrlProblem(text)
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
  })
  .meta({ description: 'Address of the pool master: https://host or https://host:port (http:// for tests).' })

/** Never quotes the URL back: it may carry a password. */
function poolUrlProblem(text: string): string | undefined {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return 'is not a URL: expected https://<pool master address>'
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return `uses ${JSON.stringify(url.protocol)}: expected https:// (or http://)`
  }
  if (url.password !== '' || url.username !== '') {
    return 'contains credentials: remove them from the URL and set user and passwordFile'
  }
  return undefined
}

export const poolConfigSchema = strictObject({
  name: z.string().min(1).meta({ description: 'The name policy objects use to pick this pool (`pool` field).' }),
  url: poolUrl,
  user: z.string().min(1).meta({ description: 'XAPI user, e.g. root.' }),
  password: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'The password, written in this file. Prefer passwordFile.' }),
  passwordFile: pathSchema(
    'File holding the password (one line; a trailing newline is ignored), readable only by the runner. ' +
      'Relative to the configuration file.',
  ).optional(),
  allowUnauthorized: z
    .boolean()
    .default(false)
    .meta({ description: 'Accept a self-signed TLS certificate (the XCP-ng default certificate is one).' }),
}).superRefine((pool, ctx) => {
  if ((pool.password === undefined) === (pool.passwordFile === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['passwordFile'],
      message:
        pool.password === undefined
          ? 'is required: set passwordFile (or password)'
          : 'password and passwordFile are both set: keep passwordFile and remove password',
    })
  }
})

export const remoteOverrideSchema = strictObject({
  mountPoint: pathSchema(
    'Where this host already mounts the remote (an NFS export or SMB share mounted by fstab or autofs): the ' +
      'runner uses the directory instead of mounting the remote itself.',
  ).refine(isAbsolute, { error: 'must be an absolute path' }),
})

export const runLogConfigSchema = strictObject({
  keepRuns: z
    .number()
    .int()
    .min(1)
    .default(100)
    .meta({ description: 'Finished runs kept per job in the run log; older ones are deleted.' }),
})

export const runnerConfigSchema = strictObject({
  pools: z
    .array(poolConfigSchema)
    .min(1)
    .superRefine((pools, ctx) => {
      const seen = new Set<string>()
      for (const [index, pool] of pools.entries()) {
        if (seen.has(pool.name)) {
          ctx.addIssue({
            code: 'custom',
            path: [index, 'name'],
            message: `pool name ${JSON.stringify(pool.name)} is used twice: give each pool its own name`,
          })
        }
        seen.add(pool.name)
      }
    })
    .meta({ description: 'The pools whose backup policy this runner executes.' }),
  stateDir: pathSchema(
    'Directory for the run log and the runner’s own state; relative to the configuration file. Keep it on local disk.',
  ),
  remotes: z
    .record(z.string().min(1), remoteOverrideSchema)
    .default({})
    .meta({ description: 'Per-remote settings of this host, by the Remote resource’s name.' }),
  httpInactivityTimeout: duration(
    'A transfer from a host that sends nothing for this long fails with HTTP_TIMEOUT.',
    '5m',
  ),
  shutdownGrace: duration(
    'On SIGTERM, how long running jobs may go on before they are aborted and their unfinished work is marked interrupted.',
    '10m',
  ),
  runLog: runLogConfigSchema.prefault({}),
})

export type RunnerConfigInput = z.input<typeof runnerConfigSchema>
/** The file as validated: durations in ms, paths as written. */
export type RunnerConfigFile = z.output<typeof runnerConfigSchema>
export type PoolConfigFile = z.output<typeof poolConfigSchema>
