export * from './load'
export * from './schema'
export * from './secret'
