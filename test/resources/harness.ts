import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as pulumi from '@pulumi/pulumi'
import * as providerRpc from '@pulumi/pulumi/proto/provider_grpc_pb'
import * as providerProto from '@pulumi/pulumi/proto/provider_pb'
import { Struct } from 'google-protobuf/google/protobuf/struct_pb'
import { packageRoot } from '../../provider/common/package-info'
import { KINDS, type ResourceKind } from '../../provider/resources/entry'

/**
 * The real dynamic-provider process of @pulumi/pulumi (`cmd/dynamic-provider`), driven over gRPC as the
 * engine drives it (pulumi-dynamic.md §4.3): the shim from dist/ serialized with Pulumi's own closure
 * serializer, deserialized by the provider process, which `require`s this package from its working
 * directory. Faster than the CLI; exercises everything but the engine's step logic.
 */

const requireFromHere = createRequire(__filename)

export type Props = Record<string, unknown>

export interface Failure {
  property: string
  reason: string
}

export interface DynamicProviderProcess {
  /** The serialized provider text of each resource type, as Pulumi stores it in `__provider`. */
  serialized: Record<ResourceKind, string>
  /** Everything the provider process wrote to stderr (warnings, errors). */
  stderr(): string
  configure(config: Record<string, string>): Promise<void>
  check(kind: ResourceKind, news: Props, olds?: Props): Promise<{ inputs: Props; failures: Failure[] }>
  diff(
    kind: ResourceKind,
    id: string,
    olds: Props,
    news: Props,
  ): Promise<{ changes: 'unknown' | 'none' | 'some'; replaces: string[]; deleteBeforeReplace: boolean }>
  create(kind: ResourceKind, inputs: Props): Promise<{ id: string; outs: Props }>
  read(kind: ResourceKind, id: string, state: Props): Promise<{ id: string; props: Props }>
  update(kind: ResourceKind, id: string, olds: Props, news: Props): Promise<Props>
  delete(kind: ResourceKind, id: string, state: Props): Promise<void>
  close(): Promise<void>
}

export async function serializeShims(): Promise<Record<ResourceKind, string>> {
  const { providerShim } = requireFromHere(
    join(packageRoot, 'dist/sdk/provider-shim.js'),
  ) as typeof import('../../sdk/provider-shim')
  const serialized = {} as Record<ResourceKind, string>
  for (const kind of KINDS) {
    const shim = providerShim(kind)
    serialized[kind] = (await pulumi.runtime.serializeFunction(() => shim, { allowSecrets: true })).text
  }
  return serialized
}

export async function startDynamicProvider(): Promise<DynamicProviderProcess> {
  const serialized = await serializeShims()
  // The provider process resolves the shim's require from its working directory, like a Pulumi program's.
  const dir = await mkdtemp(join(tmpdir(), 'xcpb-dynprov-'))
  await mkdir(join(dir, 'node_modules/@pulumi'), { recursive: true })
  await symlink(packageRoot, join(dir, 'node_modules/pulumi-xcp-backup'))
  await symlink(join(packageRoot, 'node_modules/@pulumi/pulumi'), join(dir, 'node_modules/@pulumi/pulumi'))
  const child: ChildProcess = spawn(
    process.execPath,
    [requireFromHere.resolve('@pulumi/pulumi/cmd/dynamic-provider'), '127.0.0.1:1'],
    { cwd: dir, env: { ...process.env, PULUMI_NODEJS_PROJECT: 'test' }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const port = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`dynamic provider exited (${code}): ${stderr}`)))
    child.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()))
  })
  const client = new providerRpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
  const call = <Req, Res>(method: string, request: Req): Promise<Res> =>
    new Promise((resolve, reject) => {
      const fn = (client as unknown as Record<string, (r: Req, cb: (e: Error | null, x: Res) => void) => void>)[method]!
      fn.call(client, request, (error, response) => (error ? reject(error) : resolve(response)))
    })
  const withProvider = (kind: ResourceKind, props: Props): Props => ({ ...props, __provider: serialized[kind] })
  const urn = (kind: ResourceKind) => `urn:pulumi:test::test::pulumi-nodejs:dynamic/xcp-backup:${kind}::r`
  const struct = (props: Props) => Struct.fromJavaScript(props as Record<string, never>)

  return {
    serialized,
    stderr: () => stderr,
    async configure(config) {
      const request = new providerProto.ConfigureRequest()
      request.setArgs(struct(config))
      await call('configure', request)
    },
    async check(kind, news, olds = {}) {
      const request = new providerProto.CheckRequest()
      request.setUrn(urn(kind))
      request.setOlds(struct(olds))
      request.setNews(struct(withProvider(kind, news)))
      const response = await call<providerProto.CheckRequest, providerProto.CheckResponse>('check', request)
      const { __provider: _, ...inputs } = response.getInputs()?.toJavaScript() ?? {}
      return {
        inputs: inputs as Props,
        failures: response.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
      }
    },
    async diff(kind, id, olds, news) {
      const request = new providerProto.DiffRequest()
      request.setUrn(urn(kind))
      request.setId(id)
      request.setOlds(struct(withProvider(kind, olds)))
      request.setNews(struct(withProvider(kind, news)))
      const response = await call<providerProto.DiffRequest, providerProto.DiffResponse>('diff', request)
      const changes = (['unknown', 'none', 'some'] as const)[response.getChanges()]!
      return { changes, replaces: response.getReplacesList(), deleteBeforeReplace: response.getDeletebeforereplace() }
    },
    async create(kind, inputs) {
      const request = new providerProto.CreateRequest()
      request.setUrn(urn(kind))
      request.setProperties(struct(withProvider(kind, inputs)))
      const response = await call<providerProto.CreateRequest, providerProto.CreateResponse>('create', request)
      return { id: response.getId(), outs: withoutProvider(response.getProperties()?.toJavaScript()) }
    },
    async read(kind, id, state) {
      const request = new providerProto.ReadRequest()
      request.setUrn(urn(kind))
      request.setId(id)
      request.setProperties(struct(withProvider(kind, state)))
      const response = await call<providerProto.ReadRequest, providerProto.ReadResponse>('read', request)
      return { id: response.getId(), props: withoutProvider(response.getProperties()?.toJavaScript()) }
    },
    async update(kind, id, olds, news) {
      const request = new providerProto.UpdateRequest()
      request.setUrn(urn(kind))
      request.setId(id)
      request.setOlds(struct(withProvider(kind, olds)))
      request.setNews(struct(withProvider(kind, news)))
      const response = await call<providerProto.UpdateRequest, providerProto.UpdateResponse>('update', request)
      return withoutProvider(response.getProperties()?.toJavaScript())
    },
    async delete(kind, id, state) {
      const request = new providerProto.DeleteRequest()
      request.setUrn(urn(kind))
      request.setId(id)
      request.setProperties(struct(withProvider(kind, state)))
      await call('delete', request)
    },
    async close() {
      client.close()
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill()
      await exited
      await rm(dir, { recursive: true, force: true })
    },
  }
}

function withoutProvider(props: Props | undefined): Props {
  const { __provider: _, ...rest } = props ?? {}
  return rest
}

/** The provider configuration for pools, as `configure` receives it (structured values as JSON). */
export function poolsConfig(pools: Record<string, { url: string; password: string; default?: boolean }>) {
  const value = Object.fromEntries(Object.entries(pools).map(([name, pool]) => [name, { user: 'root', ...pool }]))
  return { 'xcp-backup:pools': JSON.stringify(value) }
}
