import type { SimulatorCore } from '../core'
import { NULL_REF } from '../model/values'
import { cancellableDelay } from '../rpc/call-context'
import { handleInvalid, XapiError } from '../rpc/errors'
import { defineMethod, type MethodSpec } from '../rpc/method'
import type { Session } from '../session/session-store'

/** The only account the simulator knows, as on a fresh XCP-ng host. */
export const ROOT_USER = 'root'

/** PAM's message for a wrong password, which XAPI passes on. */
const AUTHENTICATION_FAILURE = 'Authentication failure'

export const sessionMethods: readonly MethodSpec[] = [
  defineMethod({
    name: 'session.login_with_password',
    session: false,
    params: [
      ['uname', 'string'],
      ['pwd', 'string'],
      ['version', 'string', '1.1'],
      ['originator', 'string', ''],
    ],
    result: 'session ref',
    handler: async (ctx, [uname, pwd, , originator]) => {
      const { core } = ctx
      const slave = core.modes.hostIsSlave
      if (slave !== undefined && ctx.requestHost !== undefined && ctx.requestHost !== slave.masterAddress) {
        throw new XapiError('HOST_IS_SLAVE', [slave.masterAddress])
      }
      if (uname !== ROOT_USER || pwd !== core.password) {
        if (core.authFailureDelayMs > 0) await cancellableDelay(core.authFailureDelayMs, ctx.signal)
        throw new XapiError('SESSION_AUTHENTICATION_FAILED', [uname, AUTHENTICATION_FAILURE])
      }
      return core.sessions.create(uname, core.masterRef(), originator).ref
    },
  }),
  defineMethod({
    name: 'session.logout',
    params: [],
    result: 'void',
    handler: (ctx) => {
      if (ctx.session !== undefined) ctx.core.sessions.invalidate(ctx.session.ref)
    },
  }),
  sessionGetter('uuid', 'string', (session) => session.uuid),
  sessionGetter('this_host', 'host ref', (session) => session.thisHost),
  sessionGetter('this_user', 'user ref', () => NULL_REF),
  sessionGetter('last_active', 'datetime', (session) => session.lastActive),
  sessionGetter('validation_time', 'datetime', (session) => session.createdAt),
  sessionGetter('pool', 'bool', () => false),
  sessionGetter('is_local_superuser', 'bool', () => true),
  sessionGetter('auth_user_name', 'string', (session) => session.user),
  sessionGetter('originator', 'string', (session) => session.originator),
]

function sessionGetter(field: string, type: string, read: (session: Session) => unknown): MethodSpec {
  return defineMethod({
    name: `session.get_${field}`,
    params: [['self', 'session ref']],
    result: type,
    handler: (ctx, [self]) => read(requireSession(ctx.core, self)),
  })
}

function requireSession(core: SimulatorCore, ref: string): Session {
  const session = core.sessions.find(ref)
  if (session === undefined) throw handleInvalid('session', ref)
  return session
}
