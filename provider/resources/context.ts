import type { PoolSessions } from './pools'

/**
 * What a resource provider works with: the configured pools, and a way to tell the user something.
 *
 * Messages go to the provider process's stderr, which the Pulumi CLI shows (since 3.146) under
 * "Diagnostics" in `pulumi preview` and `pulumi up`: the only channel a dynamic provider has during
 * preview (it gets no engine connection, so `pulumi.log.warn` also ends up on stderr). Each line names the
 * resource. The same message is printed once per process.
 */
export interface ProviderContext {
  sessions: PoolSessions
  warn(resource: string, message: string): void
  info(resource: string, message: string): void
}

export type Printer = (line: string) => void

export function messageSink(print: Printer): Pick<ProviderContext, 'warn' | 'info'> {
  const printed = new Set<string>()
  const emit = (level: string, resource: string, message: string) => {
    const line = `${level}: ${resource}: ${message}`
    if (printed.has(line)) return
    printed.add(line)
    print(line)
  }
  return {
    warn: (resource, message) => emit('warning', resource, message),
    info: (resource, message) => emit('info', resource, message),
  }
}

/** How resources are named in messages: `BackupJob "nightly"`. */
export function label(kind: string, name: string | undefined): string {
  return name === undefined ? kind : `${kind} ${JSON.stringify(name)}`
}
