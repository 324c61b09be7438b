import { inspect } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RemoteError } from '../../provider/remote/errors'
import { SmbBackend } from '../../provider/remote/smb/smb-backend'
import { spawnTs } from '../helpers/remote-child'
import { type SambaServer, startSamba } from '../helpers/samba'

const OTHER_USER = { username: 'xcpbackup-other', password: 'Other-Pw-8vQ2' }

describe('SMB connection errors say what is wrong, without the password', () => {
  let samba: SambaServer

  beforeAll(async () => {
    samba = await startSamba({ password: 'Correct-Horse-7Zq', otherUsers: [OTHER_USER] })
  })
  afterAll(() => samba?.stop())

  const connectError = (location = samba.location(), password = samba.password) =>
    SmbBackend.connect(location, password).then(
      async (backend) => {
        await backend.close()
        throw new Error('connected, but an error was expected')
      },
      (error: unknown) => error as RemoteError,
    )

  const expectNoSecret = (error: unknown, ...secrets: string[]) => {
    const texts = [String(error), (error as Error).stack ?? '', inspect(error, { depth: 10 }), JSON.stringify(error)]
    for (const secret of secrets) for (const text of texts) expect(text).not.toContain(secret)
  }

  it('a wrong password is a logon failure naming the user and the host', async () => {
    const error = await connectError(samba.location(), 'Wrong-Battery-3Xy')
    expect(error).toBeInstanceOf(RemoteError)
    expect(error.code).toBe('ELOGON')
    expect(error.message).toBe(
      `SMB logon failure for user "${samba.username}" on host 127.0.0.1:${samba.port}: check the remote's credentials (user name, password, domain)`,
    )
    expectNoSecret(error, 'Wrong-Battery-3Xy', samba.password)
  })

  it('an unknown user is a logon failure too', async () => {
    const error = await connectError({ ...samba.location(), username: 'nobody-here' })
    expect(error.code).toBe('ELOGON')
    expect(error.message).toContain('user "nobody-here" on host 127.0.0.1')
    expectNoSecret(error, samba.password)
  })

  it('the domain is part of the user named', async () => {
    const error = await connectError({ ...samba.location(), domain: 'CORP' }, 'Wrong-Battery-3Xy')
    expect(error.message).toContain('user "CORP\\xcpbackup-test"')
  })

  it('a user who logs on but may not use the share is told so, not sent to check the password', async () => {
    const error = await connectError({ ...samba.location(), username: OTHER_USER.username }, OTHER_USER.password)
    expect(error.code).toBe('EACCES')
    expect(error.message).toBe(
      `SMB user "${OTHER_USER.username}" logged on to host 127.0.0.1:${samba.port} but may not access share "backups": grant this user access to the share (the share's valid users and its directory's permissions)`,
    )
    expectNoSecret(error, OTHER_USER.password)
  })

  it('an unknown share is named', async () => {
    const error = await connectError({ ...samba.location(), share: 'nope' })
    expect(error.code).toBe('ENOSHARE')
    expect(error.message).toBe(
      `SMB share "nope" was not found on host 127.0.0.1:${samba.port}: check the share name in the remote's URL`,
    )
  })

  it('a missing directory inside the share is named', async () => {
    const error = await connectError(samba.location('/not/there'))
    expect(error.code).toBe('ENOENT')
    expect(error.message).toContain('directory "not/there" does not exist on share "backups"; create it first')
  })

  it('a closed port is a refused connection, with the port it tried', async () => {
    const error = await connectError({ ...samba.location(), port: 1 })
    expect(error.code).toBe('ECONNREFUSED')
    expect(error.message).toBe(
      'cannot connect to the SMB server 127.0.0.1:1: connection refused; check that the server is running and the port is right (1, from the URL)',
    )
  })

  it("no password in anything a whole session prints: logs, errors, libsmbclient's own output, smbd's log", async () => {
    const wrong = 'Wrong-Staple-5Kp'
    const child = spawnTs(`${__dirname}/fixtures/smb-session.ts`, [JSON.stringify(samba.location())], {
      XCP_TEST_SMB_PASSWORD: samba.password,
      XCP_TEST_SMB_WRONG_PASSWORD: wrong,
    })
    const code = await child.exited
    const output = child.output()
    expect(code, output).toBe(0)
    // The session really ran: logged operations, a missing file, a failed logon.
    expect(output).toContain('"operation":"save","path":"session/file.bin"')
    expect(output).toContain('error code: ENOENT')
    expect(output).toContain('error code: ELOGON')
    expect(output).toContain('session done')
    for (const secret of [samba.password, wrong]) {
      expect(output).not.toContain(secret)
      expect(samba.log()).not.toContain(secret)
    }
  })
})
