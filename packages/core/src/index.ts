export * from './contract.js';
export * from './errors.js';
export * from './http.js';
export * from './registry.js';
export {
  digestToken,
  generateClientSecret,
  hashPassword,
  hashSecret,
  randomToken,
  verifySecret,
} from './crypto.js';
export * from './provider.js';
