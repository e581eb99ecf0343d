// Placeholder while the provider lands; the registration API below is final.
import type { Client, Stores, User } from './contract.js';
import type { CurrentUser, RegisterOptions, StoreRegistry } from './registry.js';

export class OAuth2Provider<U extends User = User, C extends Client = Client> implements StoreRegistry<U, C> {
  useStores(_stores: Stores<U, C>, _options?: RegisterOptions): this {
    return this;
  }
  setCurrentUser(_fn: CurrentUser<U>, _options?: RegisterOptions): this {
    return this;
  }
}
